#!/usr/bin/env bash
# usage: scripts/apt-install.sh PACKAGE...
# Installs with apt-get those of the Debian packages named that are not installed yet (dpkg's
# view), and nothing else: one line says which; apt-get update runs once, only then. Uses sudo
# unless run as root. PACKAGE:ARCH (e.g. libuv1-dev:arm64) adds the architecture to dpkg first.
# A caller that accepts the tool from elsewhere probes first, e.g.
#   pkg-config --exists libuv || scripts/apt-install.sh libuv1-dev pkg-config
set -euo pipefail

missing=()
for p in "$@"; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    [[ $status == *" ok installed" ]] || missing+=("$p")
done
[ ${#missing[@]} = 0 ] && exit 0

echo "apt-install: installing ${missing[*]} with apt-get"
if ! command -v apt-get >/dev/null; then
    echo "apt-install: apt-get not found; install ${missing[*]} (or their equivalents) yourself" >&2
    exit 1
fi
sudo=()
if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || { echo "apt-install: not root and no sudo; install ${missing[*]} as root" >&2; exit 1; }
    sudo=(sudo)
fi

archs=" $(dpkg --print-architecture) $(dpkg --print-foreign-architectures | tr '\n' ' ')"
for p in "${missing[@]}"; do
    arch=${p##*:}
    if [ "$arch" != "$p" ] && [[ $archs != *" $arch "* ]]; then
        archs+="$arch "
        "${sudo[@]}" dpkg --add-architecture "$arch"
    fi
done

"${sudo[@]}" apt-get update -qq
# env after sudo: sudo's env_reset would drop a DEBIAN_FRONTEND set before it.
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
