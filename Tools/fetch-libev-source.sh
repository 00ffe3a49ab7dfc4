#!/usr/bin/env bash
# Fetch libev's Debian source package into DEST (default: build/libev) and print
# the unpacked source directory (the one holding ev.c). Wheel builds compile
# libev from it and link it statically; the source is never committed.
# apt runs with a private configuration (Tools/apt-source.sh): nothing under
# /etc is written. A second run finds the unpacked tree and downloads nothing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. /etc/os-release
exec bash "$here/apt-source.sh" libev "${VERSION_CODENAME:-bookworm}" "${1:-build/libev}" ev.c
