#!/usr/bin/env bash
# Build Debian 13's CPython 3.13 (the python3.13 source package) in one of
# four flavours and print the installed interpreter's path:
#   Tools/build-cpython.sh release|debug|ft|ft-tsan
#     release  a plain build, as Debian's own CPython is configured at heart
#     debug    --with-pydebug (assertions, sys.gettotalrefcount, debug allocators)
#     ft       --disable-gil (the free-threaded build, python3.13t)
#     ft-tsan  --disable-gil --with-thread-sanitizer: the free-threaded build
#              instrumented by ThreadSanitizer itself, so that TSan sees its
#              PyMutex and atomics (`make tsan`, python3.13t)
# The source comes through a private apt configuration (Tools/apt-source.sh)
# and everything lands under the cache folder ($AIOEV_CACHE, by default
# ~/.cache/aioev), outside the clone. A finished build is stamped with its
# source version and configure arguments: a second run prints the path at once.
# Compilers go through ccache when it is there, so a rebuild of the same source
# (a vendored tree, for one) costs little.
set -euo pipefail

flavour=${1:?usage: build-cpython.sh release|debug|ft|ft-tsan}
here=$(cd "$(dirname "$0")" && pwd)
cache=${AIOEV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/aioev}
case $flavour in
    release) conf=() ;;
    debug)   conf=(--with-pydebug) ;;
    ft)      conf=(--disable-gil) ;;
    # configure adds -fsanitize=thread to LDFLAGS, which Debian's
    # makefile-bootstrap.diff leaves out of the links (its Makefile links with
    # LDFLAGS_NODIST): the flag goes there too.
    ft-tsan) conf=(--disable-gil --with-thread-sanitizer LDFLAGS_NODIST=-fsanitize=thread) ;;
    *) echo "unknown flavour: $flavour" >&2; exit 2 ;;
esac

src=$(bash "$here/apt-source.sh" python3.13 trixie "$cache/src" Modules/_asynciomodule.c)
version=$(sed -n 's/^#define PY_VERSION[[:space:]]*"\(.*\)"/\1/p' "$src/Include/patchlevel.h")
prefix=$cache/cpython/$version-$flavour
stamp=$prefix/.aioev-build
want="$version ${conf[*]}"
exe=$prefix/bin/python3.13$(case $flavour in ft*) echo t ;; esac)

# A finished build: print its interpreter and stop.
done_if_built() {
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$exe" ]; then
        echo "$exe"
        exit 0
    fi
}
done_if_built
# One build of a flavour at a time: `make test` starts the builds in the
# background, and a target that needs one before it is done waits here.
mkdir -p "$cache/cpython"
exec 9>"$cache/cpython/.lock-$flavour"
flock 9
done_if_built

# The tree is laid out as `make vendor-test` lays out its own (the source as
# ../cpython of the build folder, paths relative to CCACHE_BASEDIR), so that
# ccache serves the vendored build every object it shares with this one.
work=$cache/cpython/build-$version-$flavour
build=$work/build
rm -rf "$work" "$prefix"
mkdir -p "$build"
ln -s "$src" "$work/cpython"
log=$work/build.log
echo "building CPython $version ($flavour) in $build (log: $log)" >&2
cc=gcc cxx=g++
command -v ccache >/dev/null && cc="ccache gcc" cxx="ccache g++"
(
    cd "$build"
    export CCACHE_BASEDIR=$work CCACHE_NOHASHDIR=1
    CC="$cc" CXX="$cxx" ../cpython/configure --without-ensurepip --prefix="$prefix" "${conf[@]}"
    make -j"$(nproc)"
    make install
) > "$log" 2>&1 || { tail -40 "$log" >&2; exit 1; }
rm -rf "$work"
echo "$want" > "$stamp"
echo "$exe"
