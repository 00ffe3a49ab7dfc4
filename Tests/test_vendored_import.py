"""aioev imports the extension as the top-level _aioev when aioev._aioev is
not there, as it is when vendored into CPython (Doc/vendoring.rst), and says
which module is missing when neither is. Each case runs in a child
interpreter over a copy of the package, so this process's aioev is untouched.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import unittest

from .support import import_aioev


def run_python(path, code):
    env = dict(os.environ, PYTHONPATH=path)
    return subprocess.run([sys.executable, '-c', textwrap.dedent(code)],
                          capture_output=True, text=True, timeout=60,
                          env=env, cwd=path)


class VendoredImportTests(unittest.TestCase):

    def setUp(self):
        aioev = import_aioev()
        self.extension = aioev._aioev.__file__
        if os.path.basename(os.path.dirname(self.extension)) != 'aioev':
            self.skipTest('aioev is vendored here already')
        self.tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.tmp)
        package = os.path.dirname(aioev.__file__)
        os.mkdir(os.path.join(self.tmp, 'aioev'))
        for name in os.listdir(package):
            if name.endswith('.py'):
                shutil.copy(os.path.join(package, name),
                            os.path.join(self.tmp, 'aioev', name))

    def assert_prints_42_vendored(self, code):
        """code, run with the extension as the top-level _aioev, prints 42."""
        shutil.copy(self.extension,
                    os.path.join(self.tmp, os.path.basename(self.extension)))
        proc = run_python(self.tmp, code)
        self.assertEqual((proc.returncode, proc.stdout.strip()), (0, '42'),
                         proc.stderr)

    def test_top_level_extension_is_the_package_module(self):
        self.assert_prints_42_vendored('''
            import asyncio, sys
            import aioev, _aioev
            assert aioev._aioev is _aioev is sys.modules['aioev._aioev']
            assert issubclass(aioev.Loop, _aioev.Loop)
            async def main():
                await asyncio.sleep(0)
                return 42
            print(aioev.run(main()))
            ''')

    def test_top_level_extension_imported_first(self):
        # CPython's build imports each shared module alone (checksharedmods):
        # _aioev's exec then runs aioev/__init__, which must find the types
        # in the partly made _aioev (a circular import, SystemError before).
        self.assert_prints_42_vendored('''
            import asyncio, sys
            import _aioev
            import aioev
            assert aioev._aioev is _aioev is sys.modules['aioev._aioev']
            assert issubclass(aioev.Task, asyncio.Task)
            fut = aioev.Future(loop=aioev.new_event_loop())
            fut.get_loop().close()
            print(aioev.run(asyncio.sleep(0, 42)))
            ''')

    def test_neither_names_the_package_module(self):
        proc = run_python(self.tmp, '''
            try:
                import aioev
            except ModuleNotFoundError as e:
                print(e.name)
            ''')
        self.assertEqual((proc.returncode, proc.stdout.strip()),
                         (0, 'aioev._aioev'), proc.stderr)


if __name__ == '__main__':
    unittest.main()
