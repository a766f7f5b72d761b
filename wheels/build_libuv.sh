#!/usr/bin/env bash
# CI only (cibuildwheel before-all): build libuv from its release tarball and install it where
# setup.py's pkg-config finds it, so every wheel bundles the same libuv.
#   - manylinux_2_28 (AlmaLinux 8) packages libuv 1.41, and manylinux_2_31 (Ubuntu 20.04, the
#     armv7l image) 1.34; the core needs >= 1.43 (uv_ip_name).
#   - Homebrew's libuv targets the runner's own macOS version, newer than the wheels' minimum.
# The tarball is downloaded and checked here, in CI; libuv's source is never committed.
set -euo pipefail

LIBUV_VERSION=1.51.0
LIBUV_SHA256=27e55cf7083913bfb6826ca78cde9de7647cded648d35f24163f2d31bb9f51cd
PREFIX=${LIBUV_PREFIX:-/usr/local}

# setup.py finds libuv with pkg-config: make sure the image or runner has it.
if ! command -v pkg-config >/dev/null; then
    if command -v dnf >/dev/null; then dnf install -y -q pkgconf-pkg-config     # manylinux
    elif command -v apk >/dev/null; then apk add --no-cache pkgconf             # musllinux
    elif command -v apt-get >/dev/null; then                                     # manylinux_2_31 (armv7l)
        apt-get update -qq && apt-get install -y -qq pkg-config
    elif command -v brew >/dev/null; then brew install pkgconf                  # macOS
    fi
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
curl -fsSL -o libuv.tar.gz "https://github.com/libuv/libuv/archive/refs/tags/v$LIBUV_VERSION.tar.gz"
if command -v sha256sum >/dev/null; then sum=$(sha256sum libuv.tar.gz); else sum=$(shasum -a 256 libuv.tar.gz); fi
if [ "${sum%% *}" != "$LIBUV_SHA256" ]; then
    echo "build_libuv: checksum mismatch for libuv $LIBUV_VERSION: ${sum%% *}" >&2
    exit 1
fi
tar -xzf libuv.tar.gz

# An absolute install name on macOS lets delocate find the dylib without an rpath;
# MACOSX_DEPLOYMENT_TARGET (set by pyproject.toml) gives it the wheels' minimum macOS.
cmake -S "libuv-$LIBUV_VERSION" -B build \
    -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_INSTALL_PREFIX="$PREFIX" \
    -DCMAKE_INSTALL_LIBDIR=lib \
    -DCMAKE_INSTALL_NAME_DIR="$PREFIX/lib" \
    -DBUILD_TESTING=OFF -DLIBUV_BUILD_TESTS=OFF -DLIBUV_BUILD_BENCH=OFF
cmake --build build --parallel 4
cmake --install build
echo "build_libuv: libuv $LIBUV_VERSION installed in $PREFIX"
