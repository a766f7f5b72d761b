#!/usr/bin/env bash
# make test-aarch64, make test-armv7l: the whole tests/ suite under QEMU on Debian's Python of
# the target, in the release build (the repaired wheel of build_cross.sh, unpacked) and then in
# the debug build (IOTNET_DEBUG=1, cross-compiled here, live handle counters checked after every
# test). pytest and hypothesis come from PyPI (pure Python, the versions .venv has), cryptography
# from Debian. Emulation is slow: the tests' hang guards are stretched (IOTNET_TEST_TIME_SCALE).
# usage: wheels/test_cross.sh aarch64|armv7l [pytest arguments]
ARCH=${1:-}
shift || true
# shellcheck source=wheels/common.sh
source "$(dirname "$0")/common.sh"
# shellcheck source=wheels/cross.sh
source "$ROOT/wheels/cross.sh"
TIME_SCALE=${IOTNET_TEST_TIME_SCALE:-6}

bash "$ROOT/wheels/build_cross.sh" "$ARCH"      # the sysroot, the snapshot, the repaired wheel
REPAIRED=$(ls wheelhouse/iotnet-*manylinux*_"$ARCH".whl)
rm -rf "$WORK/release"
mkdir -p "$WORK/release"
unzip -q "$REPAIRED" -d "$WORK/release"

step "debug build (IOTNET_DEBUG=1) for $ARCH in $WORK/debug"
rm -rf "$WORK/debug" "$WORK/debug-tmp"
(cd "$WORK/src" && cross env IOTNET_DEBUG=1 "$PY" setup.py -q build --build-base "$ROOT/$WORK/debug-tmp" \
    --build-lib "$ROOT/$WORK/debug" --force) > "$WORK/debug-build.log" 2>&1 \
    || { tail -40 "$WORK/debug-build.log"; exit 1; }
"$TRIPLET-readelf" -h "$WORK"/debug/iotnet/_core*.so | grep -E 'Class|Machine'

step "test venv: Debian's $DEB_ARCH Python $PYVER, pytest and hypothesis, Debian's cryptography"
VENV=$ROOT/$WORK/test-venv
rm -rf "$VENV" "$WORK/test-wheels"
target_venv "$VENV" --system-site-packages        # Debian's cryptography is in the sysroot's dist-packages
# Pure-Python wheels of what requirements-dev.txt asks for (newer hypothesis releases are
# compiled, for the platforms PyPI builds them on: none for armv7l), with their dependencies.
mapfile -t SPECS < <(grep -oE '^(pytest|hypothesis)[^ #]*' requirements-dev.txt)
"$PY" -m pip download -q --only-binary=:all: --platform any --implementation py --python-version "$PYVER" \
    -d "$WORK/test-wheels" "${SPECS[@]}" 2>&1 | tail -5
target_pip "$VENV" install -q --no-index --find-links "$ROOT/$WORK/test-wheels" "${SPECS[@]}"
# Tests start child Pythons (python -m iotnet, its workers) with sys.executable. The kernel
# cannot run a target executable here (no binfmt_misc), so the venv's `python` becomes a script
# that starts QEMU, and QEMU passes that script's path as the target's argv[0] (-0), which is
# what Python makes sys.executable: a child started with it goes through QEMU as well.
rm "$VENV/bin/python"
cat > "$VENV/bin/python" <<SCRIPT
#!/bin/sh
exec $QEMU_BIN -L "$ROOT/$SYSROOT" -0 "\$0" "$VENV/bin/python$PYVER" "\$@"
SCRIPT
chmod +x "$VENV/bin/python"
"$VENV/bin/python" -c 'import platform, sys, cryptography, pytest, hypothesis
print("python", sys.version.split()[0], platform.machine(), sys.executable)'

status=0
for build in release debug; do
    step "tests/ under $QEMU_BIN, $build build ($WORK/$build)"
    IOTNET_PATH=$ROOT/$WORK/$build IOTNET_TEST_TIME_SCALE=$TIME_SCALE \
        "$VENV/bin/python" -m pytest -q -p no:cacheprovider "$@" tests || status=1
done
step "done in ${SECONDS}s"
exit $status
