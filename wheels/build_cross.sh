#!/usr/bin/env bash
# make wheel-aarch64, make wheel-armv7l: cross-compile the wheel for 64-bit or 32-bit ARM on
# this x86_64 Debian 12 machine (Cython -> C -> the target's gcc against Debian's libuv and
# Python headers of the target), bundle the target's libuv with auditwheel, then install it
# into a venv of Debian's Python for the target and run the smoke test under QEMU.
# usage: wheels/build_cross.sh aarch64|armv7l
ARCH=${1:-}
# shellcheck source=wheels/common.sh
source "$(dirname "$0")/common.sh"
# shellcheck source=wheels/cross.sh
source "$ROOT/wheels/cross.sh"

ensure_sysdeps
ensure_sysroot
check_build_python

step "cross build: Cython, then $TRIPLET-gcc against Debian's $DEB_ARCH python$PYVER and libuv"
snapshot "$WORK/src"
rm -rf "$WORK/out"
cross "$PY" -m pip wheel -v --no-deps --no-build-isolation -w "$WORK/out" "$WORK/src" \
    > "$WORK/build.log" 2>&1 || { tail -40 "$WORK/build.log"; exit 1; }
grep -E "^ *($TRIPLET-gcc|Created wheel)" "$WORK/build.log"
"$TRIPLET-readelf" -h "$WORK"/src/build/lib.*"$ARCH"*/iotnet/_core*.so | grep -E 'Class|Machine|Flags'
repair_wheel "$(ls "$WORK"/out/iotnet-*-cp${PYVER/./}-cp${PYVER/./}-linux_"$ARCH".whl)"

step "smoke test under $QEMU_BIN with Debian's $DEB_ARCH Python $PYVER, in a fresh venv"
TMP=$(mktemp -d "/tmp/iotnet-$ARCH.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
"${QEMU[@]}" "$TARGET_PY" -c 'import platform, sys; print("python", sys.version.split()[0], platform.machine())'
target_venv "$TMP/venv"
target_pip "$TMP/venv" install -q --no-index --no-deps "$ROOT/$REPAIRED"
(cd "$TMP" && "${QEMU[@]}" "$TMP/venv/bin/python" "$ROOT/wheels/smoke_test.py")

step "done in ${SECONDS}s: $REPAIRED"
