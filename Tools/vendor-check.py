"""Check an interpreter with aioev vendored into it (Tools/vendor.sh):
    python Tools/vendor-check.py builtin|shared [--installed]
builtin: _aioev is among sys.builtin_module_names; shared: it is a shared
module (in lib-dynload once installed). Either way the package is the
interpreter's own (its Lib/, not this checkout's), aioev._aioev is that
module, libev is linked in (no libev.so mapped), and a program runs on it.
Exits non-zero with the reason otherwise."""

import os
import sys


def fail(why):
    sys.exit(f'vendor-check ({" ".join(sys.argv[1:])}): {why}')


def main():
    kind = sys.argv[1]
    installed = '--installed' in sys.argv[2:]
    # This script's folder (Tools/) is sys.path[0]; the checkout's Lib is not
    # on the path, so "import aioev" finds the stdlib's copy or nothing.
    import asyncio
    import aioev
    import _aioev
    # The stdlib's folder: where asyncio is (sysconfig names the install
    # prefix even for an interpreter run from its build folder).
    stdlib = os.path.dirname(os.path.dirname(os.path.abspath(asyncio.__file__)))
    if os.path.dirname(os.path.dirname(os.path.abspath(aioev.__file__))) != stdlib:
        fail(f'aioev from {aioev.__file__}, not from the stdlib {stdlib}')
    if aioev._aioev is not _aioev or sys.modules['aioev._aioev'] is not _aioev:
        fail('aioev._aioev is not the top-level _aioev')
    builtin = '_aioev' in sys.builtin_module_names
    if builtin != (kind == 'builtin'):
        fail(f'_aioev built in: {builtin}')
    if kind == 'shared':
        where = os.path.dirname(_aioev.__file__)
        if installed and os.path.basename(where) != 'lib-dynload':
            fail(f'_aioev installed in {where}, not lib-dynload')
    with open('/proc/self/maps') as f:
        mapped = [line.split()[-1] for line in f if 'libev' in line]
    if mapped:
        fail(f'libev not static: {sorted(set(mapped))} mapped')

    async def main():
        await asyncio.sleep(0.01)
        return 'ok'

    if aioev.run(main()) != 'ok' or not isinstance(aioev.new_event_loop(), aioev.Loop):
        fail('aioev.run() did not run')
    print(f'vendor-check: {kind}{" (installed)" if installed else ""}: '
          f'_aioev {"built in" if builtin else _aioev.__file__}, aioev in {os.path.dirname(aioev.__file__)}')


if __name__ == '__main__':
    main()
