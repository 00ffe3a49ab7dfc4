"""Shared helpers for aioev's own tests.

The loop under test comes from new_event_loop() here.  By default that is an
aioev loop; with AIOEV_TEST_LOOP=asyncio it is asyncio's own loop, so every
loop-agnostic test can be checked against the behaviour it copies.  Tests that
only make sense for aioev are marked with @aioev_only and skip on asyncio.

Run (from the repository root):
    PYTHONPATH=Lib python -m pytest Tests/test_loop.py Tests/test_handles.py ...
    PYTHONPATH=Lib python -m unittest Tests.test_loop Tests.test_handles ...
    AIOEV_TEST_LOOP=asyncio python -m pytest Tests/test_loop.py ...  # stdlib loop
AIOEV_TEST_RECORD=FILE appends measurements (e.g. Ctrl-C latency) to FILE.
"""

import asyncio
import contextlib
import gc
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
import tracemalloc
import unittest


TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
ROOT_DIR = os.path.dirname(TESTS_DIR)
# This package's name: Tests in the checkout, test.test_aioev vendored into
# CPython; child interpreters import it from the folder above its top package.
PACKAGE = __name__.rpartition('.')[0]
PACKAGE_PARENT = TESTS_DIR
for _ in PACKAGE.split('.'):
    PACKAGE_PARENT = os.path.dirname(PACKAGE_PARENT)
# The checkout's tests that need files outside this package (Tools/bench,
# Tests/cpp) skip where it is vendored without them.
IN_CHECKOUT = os.path.isfile(os.path.join(ROOT_DIR, 'pyproject.toml'))
LIB_DIR = os.path.join(ROOT_DIR, 'Lib')

LOOP_KIND = os.environ.get('AIOEV_TEST_LOOP', 'aioev').strip().lower() or 'aioev'
if LOOP_KIND not in ('aioev', 'asyncio'):
    raise RuntimeError(f'AIOEV_TEST_LOOP must be "aioev" or "asyncio", '
                       f'not {LOOP_KIND!r}')
USING_AIOEV = LOOP_KIND == 'aioev'
PY_VERSION = sys.version_info[:2]

# AddressSanitizer keeps freed memory in quarantine: RSS checks mean nothing.
UNDER_SANITIZER = 'libasan' in os.environ.get('LD_PRELOAD', '')

aioev_only = unittest.skipUnless(
    USING_AIOEV, 'aioev-only test (AIOEV_TEST_LOOP=asyncio)')


def import_aioev():
    """Import aioev, from the source tree's Lib/ when it is not installed."""
    try:
        import aioev
    except ImportError:
        if LIB_DIR in sys.path or not os.path.isdir(
                os.path.join(LIB_DIR, 'aioev')):
            raise
        sys.path.insert(0, LIB_DIR)
        import aioev
    return aioev


def new_event_loop():
    """A new, not current, event loop of the kind under test."""
    if USING_AIOEV:
        return import_aioev().new_event_loop()
    return asyncio.new_event_loop()


def child_env(**extra):
    """Environment for a child interpreter that can import this package and aioev."""
    env = dict(os.environ)
    # The child imports the same aioev as this process: an explicit
    # PYTHONPATH (e.g. a sanitizer build) comes before the source tree's Lib.
    paths = [PACKAGE_PARENT]
    if env.get('PYTHONPATH'):
        paths.append(env['PYTHONPATH'])
    paths.append(LIB_DIR)
    env['PYTHONPATH'] = os.pathsep.join(paths)
    env['AIOEV_TEST_LOOP'] = LOOP_KIND
    env.pop('PYTHONASYNCIODEBUG', None)
    env.update(extra)
    return env


CHILD_PRELUDE = f"""\
import asyncio, os, signal, socket, sys, time
from {PACKAGE}.support import new_event_loop, USING_AIOEV
"""


def child_source(code):
    return CHILD_PRELUDE + textwrap.dedent(code)


def run_child(code, *, timeout=30, args=(), env=None, **extra_env):
    """Run code in a fresh interpreter with new_event_loop() available.

    A crash of the child (abort, segfault) cannot take the test runner down.
    Returns the CompletedProcess (text mode).
    """
    return subprocess.run(
        [sys.executable, *args, '-c', child_source(code)],
        capture_output=True, text=True, timeout=timeout,
        env=env if env is not None else child_env(**extra_env),
        cwd=ROOT_DIR)


def start_child(code, *, args=(), **extra_env):
    """Start code in a fresh interpreter; the caller talks over pipes."""
    return subprocess.Popen(
        [sys.executable, *args, '-c', child_source(code)],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, env=child_env(**extra_env),
        cwd=ROOT_DIR)


def describe_child(proc):
    return (f'exit code {proc.returncode}\n--- stdout\n{proc.stdout}'
            f'\n--- stderr\n{proc.stderr}')


def record(line):
    """Report a measurement: on stderr, and appended to $AIOEV_TEST_RECORD."""
    line = f'{line} [{LOOP_KIND}, Python {sys.version.split()[0]}]'
    sys.stderr.write(f'\n{line}\n')
    path = os.environ.get('AIOEV_TEST_RECORD')
    if path:
        with open(path, 'a') as f:
            f.write(line + '\n')


def callback_repr(func, args=(), *, debug=False):
    """The text asyncio uses for a callback in Handle reprs and messages.

    Arguments are shown before 3.13 always, from 3.13 on only in debug mode;
    the source is the function's file and first line.
    """
    text = getattr(func, '__qualname__', None) or getattr(
        func, '__name__', None) or repr(func)
    if PY_VERSION < (3, 13) or debug:
        text += '({})'.format(', '.join(repr(a) for a in args))
    else:
        text += '()'
    code = getattr(func, '__code__', None)
    if code is not None:
        text += f' at {code.co_filename}:{code.co_firstlineno}'
    return text


def traced_memory():
    """tracemalloc's current traced size after a full collection."""
    gc.collect()
    gc.collect()
    return tracemalloc.get_traced_memory()[0]


def rss_bytes():
    with open('/proc/self/statm') as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf('SC_PAGE_SIZE')


@contextlib.contextmanager
def tracing_memory():
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    try:
        yield
    finally:
        if started:
            tracemalloc.stop()


class LoopTestCase(unittest.TestCase):
    """A test case with a fresh loop of the kind under test in self.loop.

    The loop is not made the current loop, as in CPython's own asyncio tests.
    Exceptions that reach the loop's exception handler fail the test unless
    the test installs its own handler or calls self.collect_errors().
    """

    def setUp(self):
        super().setUp()
        self.loop = new_event_loop()
        self.addCleanup(self._close_loop, self.loop)
        self.loop_errors = None
        self.loop.set_exception_handler(self._unexpected_loop_error)

    def _unexpected_loop_error(self, loop, context):
        if self.loop_errors is not None:
            self.loop_errors.append(context)
            return
        # Fail loudly but keep the loop going: the assertion is re-raised
        # at tearDown through _pending_failure.
        self._pending_failure = context
        loop.default_exception_handler(context)

    def collect_errors(self):
        """Make the exception handler record contexts in self.loop_errors."""
        self.loop_errors = []
        return self.loop_errors

    def _close_loop(self, loop):
        if loop.is_running():
            loop.stop()
        if not loop.is_closed():
            # Let pending callbacks (e.g. asyncgen finalizers) settle first.
            loop.call_soon(loop.stop)
            loop.run_forever()
            loop.close()
        gc.collect()
        failure = getattr(self, '_pending_failure', None)
        if failure is not None:
            self._pending_failure = None
            self.fail(f'unexpected exception in the loop: {failure!r}')

    # Running helpers ---------------------------------------------------

    def run_briefly(self, iterations=1):
        """Run the loop for the given number of iterations."""
        for _ in range(iterations):
            self.loop.stop()
            self.loop.run_forever()

    def run_until(self, predicate, timeout=10.0):
        """Run the loop until predicate() is true; fail after timeout s."""
        deadline = time.monotonic() + timeout
        while True:
            self.run_briefly()
            if predicate():
                return
            if time.monotonic() > deadline:
                self.fail(f'timed out after {timeout} s waiting for '
                          f'{predicate!r}')
            self.loop.call_later(0.001, self.loop.stop)
            self.loop.run_forever()
            if predicate():
                return

    def run_stopping_after(self, delay):
        """Run the loop for about delay seconds."""
        self.loop.call_later(delay, self.loop.stop)
        self.loop.run_forever()

    def run_coro(self, coro, timeout=30.0):
        return self.loop.run_until_complete(
            asyncio.wait_for(coro, timeout))

    # Resources ---------------------------------------------------------

    def socketpair(self):
        a, b = socket.socketpair()
        a.setblocking(False)
        b.setblocking(False)
        self.addCleanup(a.close)
        self.addCleanup(b.close)
        return a, b

    def tcp_listener(self):
        srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(srv.close)
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind(('127.0.0.1', 0))
        srv.listen(16)
        srv.setblocking(False)
        return srv

    def udp_socket(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(s.close)
        s.bind(('127.0.0.1', 0))
        s.setblocking(False)
        return s

    def start_thread(self, target, *args):
        t = threading.Thread(target=target, args=args, daemon=True)
        t.start()
        self.addCleanup(t.join, 10)
        return t
