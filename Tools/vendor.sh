#!/usr/bin/env bash
# Vendor aioev into a CPython 3.13 source tree (Doc/vendoring.rst says why each
# step is there):
#   Tools/vendor.sh CPYTHON-SRC [builtin|shared] [LIBEV-SRC]
# copies
#   Modules/_aioev/*.cpp *.h     -> CPYTHON-SRC/Modules/_aioev/
#   Include/aioev/*.hpp          -> CPYTHON-SRC/Modules/_aioev/include/aioev/
#   libev's ev.c and friends     -> CPYTHON-SRC/Modules/_aioev/libev/ (+ config.h)
#   Lib/aioev/*.py               -> CPYTHON-SRC/Lib/aioev/
#   Tests/ (the Python tests)    -> CPYTHON-SRC/Lib/test/test_aioev/
# adds aioev and test/test_aioev to Makefile.pre.in's LIBSUBDIRS/TESTSUBDIRS
# (3.13 installs only the package folders listed there), and writes the module's
# rule to CPYTHON-SRC/Modules/Setup.local (builtin: linked into the
# interpreter; shared: Modules/_aioev*.so in lib-dynload). For an out-of-tree
# build, `Tools/vendor.sh --setup-local builtin|shared` prints the rule alone,
# for BUILD-DIR/Modules/Setup.local.
# LIBEV-SRC defaults to Debian's libev source (Tools/fetch-libev-source.sh).
# Running it again refreshes the copies and changes nothing else.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")

# The module is the top-level _aioev (makesetup takes no dotted names); the
# package imports it when aioev._aioev is not there. libev is compiled with
# the module (C, hidden symbols); the C++ sources need a C++17 compiler (the
# default of GCC >= 11 and Clang >= 16: CPython passes -std=c11, which g++
# ignores, and an -std=c++17 here would be refused for ev.c).
setup_local() {
    local kind=$1
    [ "$kind" = builtin ] && kind=static
    cat <<EOF
# aioev (written by aioev's Tools/vendor.sh). A line with "=" is a make
# variable for makesetup, so the flags are variables the rule names.
AIOEV_CFLAGS=-I\$(srcdir)/Modules/_aioev -I\$(srcdir)/Modules/_aioev/include -isystem \$(srcdir)/Modules/_aioev/libev -fno-exceptions -fvisibility=hidden
AIOEV_LIBS=-lstdc++ -lm
*$kind*
_aioev _aioev/module.cpp _aioev/loop.cpp _aioev/handle.cpp _aioev/future.cpp \\
    _aioev/task.cpp _aioev/io.cpp _aioev/sock.cpp _aioev/socket_transport.cpp \\
    _aioev/transport.cpp _aioev/pipe.cpp _aioev/udp.cpp _aioev/signals.cpp \\
    _aioev/errors.cpp _aioev/args.cpp _aioev/server.cpp _aioev/asyncio_private.cpp \\
    _aioev/libev/ev.c \$(AIOEV_CFLAGS) \$(AIOEV_LIBS)
EOF
}

if [ "${1:-}" = --setup-local ]; then
    setup_local "${2:?builtin or shared}"
    exit 0
fi

src=${1:?usage: vendor.sh CPYTHON-SRC [builtin|shared] [LIBEV-SRC]}
kind=${2:-builtin}
case $kind in builtin|shared) ;; *) echo "builtin or shared, not $kind" >&2; exit 2 ;; esac
[ -f "$src/Modules/makesetup" ] || { echo "$src is no CPython source tree" >&2; exit 1; }
libev=${3:-$(bash "$here/fetch-libev-source.sh" "$root/build/libev")}

# The sources makesetup compiles must match the tree: a new .cpp fails here.
listed=$(setup_local shared | grep -o '_aioev/[a-z_]*\.cpp' | sort)
have=$(cd "$root/Modules" && ls _aioev/*.cpp | sort)
[ "$listed" = "$have" ] || { echo "vendor.sh lists other sources than Modules/_aioev/*.cpp" >&2; exit 1; }

mod=$src/Modules/_aioev
rm -rf "$mod" "$src/Lib/aioev" "$src/Lib/test/test_aioev"
mkdir -p "$mod/include" "$mod/libev" "$src/Lib/aioev" "$src/Lib/test/test_aioev"
cp "$root"/Modules/_aioev/*.cpp "$root"/Modules/_aioev/*.h "$mod/"
cp -r "$root/Include/aioev" "$mod/include/"
cp "$libev"/ev*.c "$libev"/ev*.h "$libev/LICENSE" "$mod/libev/"
# ev.c's feature checks are CPython's own configure results (pyconfig.h).
# ev.c includes "config.h" from its own folder (no EV_CONFIG_H: makesetup
# takes no quoted -D).
cat > "$mod/libev/config.h" <<'EOF'
/* libev's configuration from CPython's configure (written by Tools/vendor.sh). */
#include "pyconfig.h"
#ifdef HAVE_EPOLL
#  define HAVE_EPOLL_CTL 1
#endif
#define HAVE_FLOOR 1
EOF
cp "$root"/Lib/aioev/*.py "$src/Lib/aioev/"
# The Python tests; the C++ unit tests and the oracles' pins stay behind.
(cd "$root/Tests" && tar --exclude=__pycache__ --exclude=cpp -cf - .) | tar -C "$src/Lib/test/test_aioev" -xf -

# make install: the package and its tests among the installed folders.
mk=$src/Makefile.pre.in
grep -q '^LIBSUBDIRS=[[:space:]]*aioev \\' "$mk" || sed -i 's/^LIBSUBDIRS=\t/LIBSUBDIRS=\taioev \\\n\t\t/' "$mk"
for d in test/test_aioev test/test_aioev/conformance test/test_aioev/oracles; do
    grep -qE "[[:space:]]$d \\\\\$" "$mk" || sed -i "s|^TESTSUBDIRS=\t|TESTSUBDIRS=\t$d \\\\\n\t\t|" "$mk"
done
grep -q '^LIBSUBDIRS=	aioev \\' "$mk" || { echo "Makefile.pre.in: LIBSUBDIRS not found" >&2; exit 1; }

setup_local "$kind" > "$src/Modules/Setup.local"
echo "vendored aioev ($kind) into $src" >&2
