#!/usr/bin/env bash
# make wheel-aarch64: cross-compile the wheel for 64-bit ARM on this x86_64 Debian 12 machine
# (Cython -> C -> aarch64-linux-gnu-gcc against Debian's arm64 libuv and Python headers),
# bundle the arm64 libuv with auditwheel, then install it into a venv of Debian's arm64
# Python and run the smoke test under qemu-aarch64-static.
# shellcheck source=wheels/common.sh
source "$(dirname "$0")/common.sh"

PYVER=3.11                    # Debian 12's Python: its arm64 headers and interpreter are used
TRIPLET=aarch64-linux-gnu
WORK=build/aarch64
SYSROOT=$WORK/sysroot
# Debian's arm64 Python, unpacked rather than installed: python3.11:arm64 cannot be installed
# beside the amd64 one (same /usr/bin/python3.11).  pip's wheel is there to install our wheel.
SYSROOT_DEBS=("python$PYVER-minimal:arm64" "libpython$PYVER-minimal:arm64" "libpython$PYVER-stdlib:arm64"
              libc6:arm64 libgcc-s1:arm64 zlib1g:arm64 libexpat1:arm64 libffi8:arm64 libssl3:arm64
              libbz2-1.0:arm64 liblzma5:arm64 libuuid1:arm64 python3-pip-whl)

# Debian packages: the cross compiler, QEMU, and the arm64 headers and libraries (multiarch).
# libpython3.11-dev:arm64 must match the amd64 libpython3.11 version: apt upgrades that too.
ensure_sysdeps() {
    bash "$ROOT/scripts/apt-install.sh" "gcc-$TRIPLET" qemu-user-static libuv1-dev:arm64 "libpython$PYVER-dev:arm64"
}

ensure_sysroot() {
    [ -f "$SYSROOT/.complete" ] && return
    step "arm64 Python $PYVER sysroot in $SYSROOT (apt-get download + dpkg-deb -x)"
    rm -rf "$WORK/debs" "$SYSROOT"
    mkdir -p "$WORK/debs" "$SYSROOT"
    local as_root=()   # as root, apt's _apt sandbox user cannot write into this tree
    [ "$(id -u)" = 0 ] && as_root=(-o APT::Sandbox::User=root)
    (cd "$WORK/debs" && apt-get download -qq "${as_root[@]}" "${SYSROOT_DEBS[@]}")
    for deb in "$WORK"/debs/*.deb; do dpkg-deb -x "$deb" "$SYSROOT"; done
    touch "$SYSROOT/.complete"
}

ensure_sysdeps
ensure_sysroot

# The wheel's tag (cp311) comes from the Python that runs the build; its headers and EXT_SUFFIX
# come from Debian's arm64 sysconfig data, so the two must be the same minor version.
BUILD_PYVER=$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
if [ "$BUILD_PYVER" != "$PYVER" ]; then
    echo "wheel-aarch64: $PY is Python $BUILD_PYVER; the arm64 target is Debian's Python $PYVER" >&2
    exit 1
fi

step "cross build: Cython, then $TRIPLET-gcc against Debian's arm64 python$PYVER and libuv"
snapshot "$WORK/src"
mkdir -p "$WORK/sysconfig"
cp "/usr/lib/python$PYVER/_sysconfigdata__linux_$TRIPLET.py" "$WORK/sysconfig/"
rm -rf "$WORK/out"
# _PYTHON_SYSCONFIGDATA_NAME makes setuptools read Debian's arm64 build settings (CC, LDSHARED,
# /usr/include/python3.11, EXT_SUFFIX); _PYTHON_HOST_PLATFORM names the wheel linux_aarch64;
# PKG_CONFIG_LIBDIR makes setup.py's pkg-config find the arm64 libuv.
env _PYTHON_HOST_PLATFORM=linux-aarch64 \
    _PYTHON_SYSCONFIGDATA_NAME=_sysconfigdata__linux_$TRIPLET \
    PYTHONPATH="$ROOT/$WORK/sysconfig" \
    PKG_CONFIG_LIBDIR=/usr/lib/$TRIPLET/pkgconfig:/usr/share/pkgconfig \
    "$PY" -m pip wheel -v --no-deps --no-build-isolation -w "$WORK/out" "$WORK/src" \
    > "$WORK/build.log" 2>&1 || { tail -40 "$WORK/build.log"; exit 1; }
grep -E "^ *($TRIPLET-gcc|Created wheel)" "$WORK/build.log"
WHEEL=$(ls "$WORK"/out/iotnet-*-cp${PYVER/./}-cp${PYVER/./}-linux_aarch64.whl)
mkdir -p dist wheelhouse
rm -f dist/iotnet-*-linux_aarch64.whl wheelhouse/iotnet-*_aarch64.whl
mv "$WHEEL" dist/
WHEEL=dist/$(basename "$WHEEL")
$TRIPLET-readelf -h "$WORK"/src/build/lib.*aarch64*/iotnet/_core*.so | grep -E 'Class|Machine'

step "auditwheel show $WHEEL (before repair: libuv.so.1 comes from the system)"
auditwheel -v show "$WHEEL" 2>/dev/null | sed '/^In order to achieve/,$d'

step "auditwheel repair --plat auto (bundles /usr/lib/$TRIPLET/libuv.so.1)"
# auto works across architectures: it reads the ELF machine of the wheel and picks the most
# compatible manylinux_*_aarch64 tag; the arm64 libuv is found through multiarch's ld.so.conf.d.
auditwheel repair --plat auto -w wheelhouse "$WHEEL"
REPAIRED=$(ls wheelhouse/iotnet-*manylinux*_aarch64.whl)

show_repaired_and_check "$REPAIRED"

step "smoke test under qemu-aarch64-static with Debian's arm64 Python $PYVER, in a fresh venv"
QEMU=(qemu-aarch64-static -L "$ROOT/$SYSROOT")
ARM_PY=$ROOT/$SYSROOT/usr/bin/python$PYVER
PIP_WHL=$(ls "$ROOT/$SYSROOT"/usr/share/python-wheels/pip-*.whl)
TMP=$(mktemp -d /tmp/iotnet-aarch64.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
"${QEMU[@]}" "$ARM_PY" -c 'import platform, sys; print("python", sys.version.split()[0], platform.machine())'
# ensurepip would start pip as a child process, and an emulated child process needs binfmt_misc,
# which this machine does not have: create the venv without pip and run Debian's pip wheel in it.
"${QEMU[@]}" "$ARM_PY" -m venv --without-pip "$TMP/venv"
PIP_CONFIG_FILE=/dev/null PIP_DISABLE_PIP_VERSION_CHECK=1 \
    "${QEMU[@]}" "$TMP/venv/bin/python" "$PIP_WHL/pip" install -q --no-index --no-deps "$ROOT/$REPAIRED"
(cd "$TMP" && "${QEMU[@]}" "$TMP/venv/bin/python" "$ROOT/wheels/smoke_test.py")

step "done in ${SECONDS}s: $REPAIRED"
