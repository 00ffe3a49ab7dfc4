#!/usr/bin/env bash
# Fetch libev's Debian source package into DEST (default: build/libev) and print
# the unpacked source directory (the one holding ev.c). Wheel builds compile
# libev from it and link it statically; the source is never committed.
# A second run finds the unpacked tree and downloads nothing.
set -euo pipefail

dest=${1:-build/libev}
mkdir -p "$dest"
dest=$(cd "$dest" && pwd)

find_tree() {
    local ev
    for ev in "$dest"/libev-*/ev.c; do
        [ -f "$ev" ] && { dirname "$ev"; return 0; }
    done
    return 1
}

if tree=$(find_tree); then
    echo "$tree"
    exit 0
fi

sudo=
[ "$(id -u)" = 0 ] || sudo=sudo
export DEBIAN_FRONTEND=noninteractive

# apt-get source needs a deb-src entry; Debian images often ship only deb.
need_update=
if ! grep -rqsE '^[[:space:]]*(deb-src[[:space:]]|Types:.*deb-src)' \
        /etc/apt/sources.list /etc/apt/sources.list.d/; then
    . /etc/os-release
    echo "adding a deb-src entry for ${VERSION_CODENAME}" >&2
    $sudo tee /etc/apt/sources.list.d/aioev-deb-src.sources >/dev/null <<SRC
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: ${VERSION_CODENAME} ${VERSION_CODENAME}-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    need_update=1
fi
if [ -z "$need_update" ] && ! apt-cache showsrc libev 2>/dev/null | grep -q '^Package: libev'; then
    need_update=1
fi
[ -z "$need_update" ] || $sudo apt-get update -q >&2
# dpkg-source (dpkg-dev) unpacks the package and applies Debian's patches.
if ! command -v dpkg-source >/dev/null; then
    $sudo apt-get install -y -q --no-install-recommends dpkg-dev >&2
fi

(cd "$dest" && apt-get source -q libev >&2)
find_tree || { echo "libev source not found under $dest" >&2; exit 1; }
