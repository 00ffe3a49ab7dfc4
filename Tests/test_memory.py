"""The module's lifetime in a child interpreter: its import failing cleanly,
its object pools freed at exit, transports dropped without close.

Each case runs in a child process, so a crash or a fatal error of the
interpreter (a debug build checks more) is a test failure, not a dead runner.
"""

import shutil
import subprocess
import sys
import unittest

from . import support


# A loop that fills the handle pool (call_soon, call_later) and the future
# iterator pool (await), then the interpreter exits with both pools full.
POOLS_FILLED = """\
import aioev
async def main():
    loop = asyncio.get_running_loop()
    for _ in range(300):
        fut = loop.create_future()
        loop.call_soon(fut.set_result, None)
        await fut
        loop.call_later(0, lambda: None)
    await asyncio.sleep(0)
aioev.run(main())
print('done')
"""


class ExitTest(unittest.TestCase):

    def test_exit_with_full_pools(self):
        proc = support.run_child(POOLS_FILLED)
        self.assertEqual(proc.returncode, 0, support.describe_child(proc))
        self.assertEqual(proc.stdout, 'done\n')
        self.assertNotIn('Fatal Python error', proc.stderr)

    # About 8 CPU seconds: opt-in (the make-test valgrind gate runs its own set).
    @unittest.skipUnless(shutil.which('valgrind') and support.os.environ.get('AIOEV_TEST_VALGRIND'),
                         'valgrind is not installed or AIOEV_TEST_VALGRIND is not set')
    def test_exit_with_full_pools_valgrind(self):
        # The raw allocator, so valgrind sees every block of the pools.
        proc = subprocess.run(
            ['valgrind', '-q', '--error-exitcode=9', sys.executable, '-c',
             support.child_source(POOLS_FILLED)],
            capture_output=True, text=True, timeout=120,
            env=support.child_env(PYTHONMALLOC='malloc'), cwd=support.ROOT_DIR)
        self.assertEqual(proc.returncode, 0, support.describe_child(proc))
        self.assertNotIn('Invalid read', proc.stderr)


class ImportFailureTest(unittest.TestCase):

    def test_missing_attribute_is_import_error(self):
        # A name the C module imports is missing: the import fails at once
        # with an ImportError that names it (no SystemError from running the
        # next import with the exception set).
        proc = support.run_child("""\
            import asyncio.futures
            del asyncio.futures._set_result_unless_cancelled
            try:
                import aioev._aioev
            except Exception as exc:
                print(type(exc).__name__, exc)
            else:
                print('imported')
            """)
        self.assertEqual(proc.returncode, 0, support.describe_child(proc))
        self.assertTrue(proc.stdout.startswith('ImportError '), proc.stdout)
        self.assertIn("'_set_result_unless_cancelled'", proc.stdout)
        self.assertIn("'asyncio.futures'", proc.stdout)
        self.assertNotIn('SystemError', proc.stdout + proc.stderr)


class DroppedTransportTest(unittest.TestCase):

    def test_unclosed_transports_warn(self):
        # Each kind of transport dropped while open: asyncio's ResourceWarning
        # from its finalizer, and the dealloc that runs it passes the debug
        # build's checks.
        proc = support.run_child("""\
            import gc, warnings
            warnings.simplefilter('always', ResourceWarning)
            import aioev
            loop = aioev.new_event_loop()
            class Proto(asyncio.Protocol):
                pass
            class DProto(asyncio.DatagramProtocol):
                pass
            async def main():
                a, b = socket.socketpair()
                tr, _ = await loop.create_connection(Proto, sock=a)
                dtr, _ = await loop.create_datagram_endpoint(
                    DProto, local_addr=('127.0.0.1', 0))
                r, w = os.pipe()
                rtr, _ = await loop.connect_read_pipe(Proto, os.fdopen(r, 'rb'))
                wtr, _ = await loop.connect_write_pipe(Proto, os.fdopen(w, 'wb'))
                kinds = [type(t).__name__ for t in (tr, dtr, rtr, wtr)]
                del tr, dtr, rtr, wtr
                gc.collect()
                b.close()
                return kinds
            with warnings.catch_warnings(record=True) as caught:
                kinds = loop.run_until_complete(main())
                loop.close()  # the loop's own references go here
                gc.collect()
            print(len([w for w in caught
                       if issubclass(w.category, ResourceWarning)
                       and 'unclosed transport' in str(w.message)]))
            """)
        self.assertEqual(proc.returncode, 0, support.describe_child(proc))
        self.assertEqual(proc.stdout.strip(), '4', support.describe_child(proc))
        self.assertNotIn('Assertion', proc.stderr)


if __name__ == '__main__':
    unittest.main()
