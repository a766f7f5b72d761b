# shellcheck shell=bash
# One ARM target of the cross build on this x86_64 Debian 12 machine, sourced (after common.sh)
# by wheels/build_cross.sh and wheels/test_cross.sh with ARCH set:
#   aarch64  64-bit ARM: aarch64-linux-gnu-gcc, Debian's arm64 packages, qemu-aarch64-static
#   armv7l   32-bit ARM (ARMv7, hard float): arm-linux-gnueabihf-gcc, Debian's armhf packages,
#            qemu-arm-static
# Debian's Python 3.11 of the target gives the headers and build settings, and runs the wheel
# and the tests under QEMU; its packages are unpacked into a sysroot, since the target's
# python3.11 cannot be installed beside the machine's own (the same /usr/bin/python3.11).
case "${ARCH:-}" in
    aarch64) TRIPLET=aarch64-linux-gnu;   DEB_ARCH=arm64; QEMU_BIN=qemu-aarch64-static ;;
    armv7l)  TRIPLET=arm-linux-gnueabihf; DEB_ARCH=armhf; QEMU_BIN=qemu-arm-static ;;
    *) echo "usage: $0 aarch64|armv7l" >&2; exit 2 ;;
esac

PYVER=3.11                    # Debian 12's Python: its target headers and interpreter are used
WORK=build/$ARCH
SYSROOT=$WORK/sysroot
# The interpreter and what it loads; pip's wheel to install ours; for the test suite, Debian's
# cryptography (certificates made at test time: PyPI has no armv7l wheel of it) and its cffi.
SYSROOT_DEBS=("python$PYVER-minimal:$DEB_ARCH" "libpython$PYVER-minimal:$DEB_ARCH"
              "libpython$PYVER-stdlib:$DEB_ARCH" "libc6:$DEB_ARCH" "libgcc-s1:$DEB_ARCH"
              "zlib1g:$DEB_ARCH" "libexpat1:$DEB_ARCH" "libffi8:$DEB_ARCH" "libssl3:$DEB_ARCH"
              "libbz2-1.0:$DEB_ARCH" "liblzma5:$DEB_ARCH" "libuuid1:$DEB_ARCH" "libuv1:$DEB_ARCH"
              "python3-cryptography:$DEB_ARCH" "python3-cffi-backend:$DEB_ARCH" python3-pip-whl)
QEMU=("$QEMU_BIN" -L "$ROOT/$SYSROOT")
TARGET_PY=$ROOT/$SYSROOT/usr/bin/python$PYVER

# Debian packages: the cross compiler, QEMU, and the target's headers and libraries (multiarch).
# libpython3.11-dev:ARCH must match the amd64 libpython3.11 version: apt upgrades that too.
ensure_sysdeps() {
    bash "$ROOT/scripts/apt-install.sh" "gcc-$TRIPLET" qemu-user-static "libuv1-dev:$DEB_ARCH" \
        "libpython$PYVER-dev:$DEB_ARCH"
}

ensure_sysroot() {
    # The stamp holds the package list, so a sysroot made from another list is made again.
    [ "$(cat "$SYSROOT/.complete" 2>/dev/null)" = "${SYSROOT_DEBS[*]}" ] && return
    step "$DEB_ARCH Python $PYVER sysroot in $SYSROOT (apt-get download + dpkg-deb -x)"
    rm -rf "$WORK/debs" "$SYSROOT"
    mkdir -p "$WORK/debs" "$SYSROOT"
    local as_root=()   # as root, apt's _apt sandbox user cannot write into this tree
    [ "$(id -u)" = 0 ] && as_root=(-o APT::Sandbox::User=root)
    (cd "$WORK/debs" && apt-get download -qq "${as_root[@]}" "${SYSROOT_DEBS[@]}")
    for deb in "$WORK"/debs/*.deb; do dpkg-deb -x "$deb" "$SYSROOT"; done
    echo "${SYSROOT_DEBS[*]}" > "$SYSROOT/.complete"
}

# The wheel's tag (cp311) comes from the Python that runs the build; its headers and EXT_SUFFIX
# come from Debian's target sysconfig data, so the two must be the same minor version.
check_build_python() {
    local build_pyver
    build_pyver=$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    if [ "$build_pyver" != "$PYVER" ]; then
        echo "$ARCH: $PY is Python $build_pyver; the $ARCH target is Debian's Python $PYVER" >&2
        exit 1
    fi
}

# Runs a setuptools command for the target: _PYTHON_SYSCONFIGDATA_NAME makes it read Debian's
# build settings of the target (CC, LDSHARED, /usr/include/python3.11, EXT_SUFFIX);
# _PYTHON_HOST_PLATFORM names the platform (linux_armv7l, linux_aarch64); PKG_CONFIG_LIBDIR makes
# setup.py's pkg-config find the target's libuv.
cross() {
    mkdir -p "$WORK/sysconfig"
    cp "/usr/lib/python$PYVER/_sysconfigdata__linux_$TRIPLET.py" "$WORK/sysconfig/"
    env _PYTHON_HOST_PLATFORM="linux-$ARCH" \
        _PYTHON_SYSCONFIGDATA_NAME="_sysconfigdata__linux_$TRIPLET" \
        PYTHONPATH="$ROOT/$WORK/sysconfig" \
        PKG_CONFIG_LIBDIR="/usr/lib/$TRIPLET/pkgconfig:/usr/share/pkgconfig" \
        "$@"
}

# A virtualenv of the target's Python in $1 (extra `venv` options after it). Under QEMU,
# ensurepip cannot start pip as a child process (no binfmt_misc here), so the venv is made
# without pip and Debian's pip wheel runs in-process (target_pip).
target_venv() {
    local dir=$1
    shift
    "${QEMU[@]}" "$TARGET_PY" -m venv --without-pip "$@" "$dir"
}

target_pip() {
    local venv=$1
    shift
    local pip_whl
    pip_whl=$(ls "$ROOT/$SYSROOT"/usr/share/python-wheels/pip-*.whl)
    PIP_CONFIG_FILE=/dev/null PIP_DISABLE_PIP_VERSION_CHECK=1 \
        "${QEMU[@]}" "$venv/bin/python" "$pip_whl/pip" "$@"
}
