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
repair_wheel "$(ls "$WORK"/out/iotnet-*.whl)"

step "smoke test: the wheel in a fresh virtualenv, run from outside the source tree"
TMP=$(mktemp -d /tmp/iotnet-wheel.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
"$PY" -m venv "$TMP/venv"
"$TMP/venv/bin/python" -m pip install -q --no-index --no-deps "$ROOT/$REPAIRED"
(cd "$TMP" && "$TMP/venv/bin/python" "$ROOT/wheels/smoke_test.py")

step "done in ${SECONDS}s: $REPAIRED"
