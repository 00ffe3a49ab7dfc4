#!/usr/bin/env bash
# Fetch Debian source package PKG of SUITE into DEST through a private apt
# configuration (own sources list, state and cache under the cache folder):
# the machine's /etc/apt is never written. Prints the unpacked source tree.
#   Tools/apt-source.sh PKG SUITE DEST [MARKER]
# MARKER: a file whose presence in an unpacked tree marks it (default: none,
# the first PKG-* directory). A second run finds the tree and downloads nothing.
set -euo pipefail

pkg=$1 suite=$2 dest=$3 marker=${4:-}
cache=${AIOEV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/aioev}
mkdir -p "$dest"
dest=$(cd "$dest" && pwd)

find_tree() {
    local d
    for d in "$dest"/"$pkg"-*/; do
        [ -d "$d" ] || continue
        if [ -z "$marker" ] || [ -e "$d/$marker" ]; then
            echo "${d%/}"
            return 0
        fi
    done
    return 1
}

if tree=$(find_tree); then
    echo "$tree"
    exit 0
fi

# One fetch at a time into DEST (`make test` builds CPython in the
# background while vendor-test may ask for the same source): the second
# waits, then finds the tree.
exec 8>"$dest/.lock"
flock 8
if tree=$(find_tree); then
    echo "$tree"
    exit 0
fi

cfg=$cache/apt/$suite
mkdir -p "$cfg/sources.list.d" "$cfg/state/lists/partial" "$cfg/cache/archives/partial"
cat > "$cfg/sources.list" <<SRC
deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $suite main
SRC
apt_opts=(
    -o "Dir::Etc::SourceList=$cfg/sources.list"
    -o "Dir::Etc::SourceParts=$cfg/sources.list.d"
    -o "Dir::State=$cfg/state"
    -o "Dir::Cache=$cfg/cache"
    -o "APT::Sandbox::User=$(id -un)"
    -q
)
if ! apt-cache "${apt_opts[@]}" showsrc "$pkg" 2>/dev/null | grep -q "^Package: $pkg\$"; then
    apt-get "${apt_opts[@]}" update >&2
fi
# dpkg-source (dpkg-dev) unpacks the package and applies Debian's patches.
if ! command -v dpkg-source >/dev/null; then
    sudo=; [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=600 dpkg-dev >&2
fi
(cd "$dest" && apt-get "${apt_opts[@]}" source "$pkg" >&2)
find_tree || { echo "$pkg source not found under $dest" >&2; exit 1; }
