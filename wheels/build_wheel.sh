#!/usr/bin/env bash
# make wheel: build the wheel for this machine, bundle libuv into it with auditwheel, check it,
# then install it into a fresh virtualenv outside the source tree and run the smoke test there.
# shellcheck source=wheels/common.sh
source "$(dirname "$0")/common.sh"

ARCH=$(uname -m)
WORK=build/wheel

step "pip wheel --no-deps (a clean copy of the project in $WORK/src)"
snapshot "$WORK/src"
rm -rf "$WORK/out"
"$PY" -m pip wheel -q --no-deps -w "$WORK/out" "$WORK/src"
WHEEL=$(ls "$WORK"/out/iotnet-*.whl)
mkdir -p dist wheelhouse
rm -f dist/iotnet-*-linux_"$ARCH".whl wheelhouse/iotnet-*_"$ARCH".whl
mv "$WHEEL" dist/
WHEEL=dist/$(basename "$WHEEL")

step "auditwheel show $WHEEL (before repair: libuv.so.1 comes from the system)"
auditwheel -v show "$WHEEL" 2>/dev/null | sed '/^In order to achieve/,$d'

step "auditwheel repair --plat auto"
# auto: the most compatible manylinux tag this glibc build allows (at most the machine's glibc).
auditwheel repair --plat auto -w wheelhouse "$WHEEL"
REPAIRED=$(ls wheelhouse/iotnet-*manylinux*_"$ARCH".whl)

show_repaired_and_check "$REPAIRED"

step "smoke test: the wheel in a fresh virtualenv, run from outside the source tree"
TMP=$(mktemp -d /tmp/iotnet-wheel.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
"$PY" -m venv "$TMP/venv"
"$TMP/venv/bin/python" -m pip install -q --no-index --no-deps "$ROOT/$REPAIRED"
(cd "$TMP" && "$TMP/venv/bin/python" "$ROOT/wheels/smoke_test.py")

step "done in ${SECONDS}s: $REPAIRED"
