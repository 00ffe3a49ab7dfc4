"""Running out of memory: MemoryError, never an abort, and the loop goes on.

aioev is compiled without C++ exceptions, so a container that cannot grow
must say so: each growing container of the loop (the ready queue, the timer
heap, the fd table, the per-poll lists, a datagram transport's queue, a
stream's write buffer) takes its memory from Python's raw allocator, where
_testcapi.set_nomemory() makes allocations fail. The tests make exactly the
container's growth fail and check that the caller gets MemoryError, that
nothing was half done, and that every callback and byte accepted before
still arrives once memory is back.

Where an operation allocates nothing but the container's growth (a callback
with one argument and an explicit context takes a recycled handle), all
allocations fail (set_nomemory(0)): the calls that fit succeed, which shows
they needed no memory, and the one that must grow fails. Elsewhere only the
next allocation fails (set_nomemory(0, 1)), armed where the container's
growth is the next thing that allocates.
"""

import asyncio
import contextvars
import functools
import os
import socket
import sys
import tempfile
import textwrap
import unittest

from . import support
from .net_support import NetTestCase
from .support import LoopTestCase
from .test_pipes import PipeTestCase

try:
    import _testcapi
except ImportError:
    _testcapi = None

HAS_NOMEMORY = _testcapi is not None and hasattr(_testcapi, 'set_nomemory')
needs_nomemory = unittest.skipUnless(
    HAS_NOMEMORY and support.USING_AIOEV,
    'needs _testcapi.set_nomemory (a CPython build with its test modules, '
    'such as .venv/3.13.5-debug) and the aioev loop')
# Scheduling a callback while nothing may be allocated needs a recycled
# handle: the handle pool, which the sanitizer build turns off.
needs_handle_pool = unittest.skipIf(
    support.UNDER_SANITIZER, 'the sanitizer build has no handle pool')

# More calls than any container's first growth step, fewer than the handle
# pool holds (256), so a MemoryError while all allocation fails comes from
# the container, not from a handle.
CALLS = 200
# Handles released before a test, so the pool has CALLS of them.
POOL = 256


def noop(*args):
    pass


class MemoryFailureTestCase(LoopTestCase):

    def setUp(self):
        super().setUp()
        self.addCleanup(_testcapi.remove_mem_hooks)
        self.ctx = contextvars.copy_context()
        self.fill_handle_pool()

    def fill_handle_pool(self):
        handles = [self.loop._new_handle(noop, None) for _ in range(POOL)]
        del handles

    def call_until_memory_error(self, call):
        """call(i) for i in range(CALLS) while no memory can be allocated
        (call must not build argument tuples or dicts itself); returns
        (results of the calls that succeeded, the MemoryError or None)."""
        results = [None] * CALLS
        count = 0
        error = None
        stop = _testcapi.remove_mem_hooks
        numbers = iter(range(CALLS))  # small ints: no allocation in the loop
        _testcapi.set_nomemory(0)
        try:
            for i in numbers:
                results[i] = call(i)
                count = i + 1
        except MemoryError as exc:
            error = exc
        finally:
            stop()
        return results[:count], error

    def assert_fails_after_some(self, done, error, what):
        self.assertIsInstance(error, MemoryError,
                              f'{what}: {len(done)} calls, none ran out of memory')
        self.assertGreater(len(done), 0,
                           f'{what} allocated while its container had room')


@needs_nomemory
@needs_handle_pool
class ReadyQueueTests(MemoryFailureTestCase):

    def check_queue_growth(self, method):
        ran = []
        call = getattr(self.loop, method)
        for i in range(10):
            call(ran.append, -1 - i)
        ctx, append = self.ctx, ran.append  # (a bound method is an allocation)
        done, error = self.call_until_memory_error(
            lambda i: call(append, i, context=ctx))
        self.assert_fails_after_some(done, error, method)
        # What was queued runs once, in order; the refused call never does.
        self.run_briefly()
        self.assertEqual(ran, [-1 - i for i in range(10)] + list(range(len(done))))
        ran.clear()
        call(ran.append, 'after')
        self.run_briefly()
        self.assertEqual(ran, ['after'])

    def test_call_soon_raises_memory_error_when_the_queue_cannot_grow(self):
        self.check_queue_growth('call_soon')

    def test_call_soon_threadsafe_raises_memory_error_when_the_queue_cannot_grow(self):
        self.check_queue_growth('call_soon_threadsafe')


@needs_nomemory
class TimerHeapTests(MemoryFailureTestCase):

    @needs_handle_pool
    def test_call_later_raises_memory_error_when_the_heap_cannot_grow(self):
        ran = []
        for i in range(10):
            self.loop.call_later(0.0, ran.append, -1 - i)
        call_later, append, ctx = self.loop.call_later, ran.append, self.ctx
        done, error = self.call_until_memory_error(
            lambda i: call_later(0.0, append, i, context=ctx))
        self.assert_fails_after_some(done, error, 'call_later')
        self.assertTrue(all(h.when() <= self.loop.time() for h in done))
        self.run_until(lambda: len(ran) == 10 + len(done))
        self.run_briefly(2)
        self.assertEqual(sorted(ran), sorted([-1 - i for i in range(10)] + list(range(len(done)))))
        ran.clear()
        self.loop.call_later(0.0, ran.append, 'after')
        self.run_until(lambda: ran)
        self.assertEqual(ran, ['after'])

    @needs_handle_pool
    def test_call_at_raises_memory_error_when_the_heap_cannot_grow(self):
        ran = []
        when = self.loop.time()
        call_at, append, ctx = self.loop.call_at, ran.append, self.ctx
        done, error = self.call_until_memory_error(
            lambda i: call_at(when, append, i, context=ctx))
        # A fresh loop's heap has no room at all: the first call_at grows it.
        self.assertIsInstance(error, MemoryError)
        self.assertEqual(done, [])
        self.loop.call_at(when, ran.append, 'after')
        self.run_until(lambda: ran)
        self.assertEqual(ran, ['after'])

    def test_expired_timers_stay_scheduled_when_the_ready_queue_cannot_grow(self):
        ran = []
        due = self.loop.time() + 0.05
        count = 150  # more than the ready queue's first 64 slots

        def arm():
            # The next allocation is the ready queue's growth, when the
            # timers expire in the next iteration.
            _testcapi.set_nomemory(0, 1)
        self.loop.call_soon(arm)
        for i in range(count):  # distinct deadlines: a defined order
            self.loop.call_at(due + i * 1e-7, ran.append, i)
        self.loop.call_at(due + 1, self.loop.stop)
        with self.assertRaises(MemoryError):
            self.loop.run_forever()
        _testcapi.remove_mem_hooks()
        self.assertEqual(ran, [])
        self.run_until(lambda: len(ran) == count)
        self.run_briefly(2)
        self.assertEqual(ran, list(range(count)), 'each timer runs once, in order')


@needs_nomemory
class FdTableTests(MemoryFailureTestCase):

    # add_reader() and add_writer() are Python (their *args is a tuple):
    # the C methods under them are what must not allocate.

    @needs_handle_pool
    def test_add_reader_raises_memory_error_and_registers_nothing(self):
        pairs = [self.socketpair() for _ in range(20)]
        calls = []
        add_reader, append = self.loop._add_reader, calls.append
        for a, b in pairs:
            fd = a.fileno()
            done, error = self.call_until_memory_error(lambda i: add_reader(fd, append, i))
            # Each fd's first registration makes its slot ...
            self.assertIsInstance(error, MemoryError)
            self.assertEqual(done, [])
            self.assertFalse(self.loop.remove_reader(fd),
                             'a reader that raised MemoryError is registered')
            # ... which is all it needs memory for: replacing one needs none.
            self.loop._add_reader(fd, noop)
            done, error = self.call_until_memory_error(lambda i: add_reader(fd, append, i))
            self.assertIsNone(error)
            self.assertEqual(len(done), CALLS)
        for i, (a, b) in enumerate(pairs):
            self.loop.add_reader(a.fileno(), lambda i=i, a=a: calls.append((i, a.recv(10))))
            b.send(b'x')
        self.run_until(lambda: len(calls) == len(pairs))
        self.assertEqual(sorted(calls), [(i, b'x') for i in range(len(pairs))])
        for a, b in pairs:
            self.assertTrue(self.loop.remove_reader(a.fileno()))

    @needs_handle_pool
    def test_add_writer_raises_memory_error_and_registers_nothing(self):
        a, b = self.socketpair()
        fd = a.fileno()
        add_writer = self.loop._add_writer
        done, error = self.call_until_memory_error(lambda i: add_writer(fd, noop, i))
        self.assertIsInstance(error, MemoryError)
        self.assertEqual(done, [])
        self.assertFalse(self.loop.remove_writer(fd))
        wrote = []
        self.loop.add_writer(fd, lambda: (wrote.append(1), self.loop.remove_writer(fd)))
        self.run_until(lambda: wrote)

    def test_readers_stay_ready_when_the_poll_cannot_make_room(self):
        pairs = [self.socketpair() for _ in range(100)]
        calls = []

        def add_reader(i, a):
            self.loop.add_reader(a.fileno(), lambda: calls.append((i, a.recv(10))))
        for i, (a, b) in enumerate(pairs[:10]):
            add_reader(i, a)
        self.run_briefly()  # the poll makes room for ten

        def arm():
            for i, (a, b) in enumerate(pairs[10:], 10):
                add_reader(i, a)
            for a, b in pairs:
                b.send(b'x')
            # The next allocation is the room the next poll needs for 100.
            _testcapi.set_nomemory(0, 1)
        self.loop.call_soon(arm)
        self.loop.call_later(10, self.loop.stop)  # (before the fix: no error)
        with self.assertRaises(MemoryError):
            self.loop.run_forever()
        _testcapi.remove_mem_hooks()
        self.assertEqual(calls, [])
        self.run_until(lambda: len(calls) == len(pairs))
        self.run_briefly(2)
        self.assertEqual(sorted(calls), [(i, b'x') for i in range(len(pairs))])


class _Recorder(asyncio.Protocol):

    def __init__(self):
        self.lost = []
        self.data = bytearray()

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.data += data

    def connection_lost(self, exc):
        self.lost.append(exc)


class _DatagramRecorder(asyncio.DatagramProtocol):

    def connection_made(self, transport):
        self.transport = transport

    def error_received(self, exc):
        raise exc


@needs_nomemory
class DatagramQueueTests(MemoryFailureTestCase):

    def test_sendto_raises_memory_error_when_the_queue_cannot_grow(self):
        tmp = tempfile.TemporaryDirectory(prefix='aioev-oom-')
        self.addCleanup(tmp.cleanup)
        path = os.path.join(tmp.name, 'peer')
        peer = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(peer.close)
        peer.bind(path)
        peer.setblocking(False)
        tr, proto = self.run_coro(self.loop.create_datagram_endpoint(
            _DatagramRecorder, remote_addr=path, family=socket.AF_UNIX))
        self.addCleanup(tr.abort)
        tr.set_write_buffer_limits(high=1 << 30)
        sent = []
        while tr.get_write_buffer_size() == 0:  # until the peer's queue is full
            data = b'fill %d' % len(sent)
            tr.sendto(data)
            sent.append(data)
        datagrams = [b'%d' % i for i in range(CALLS)]
        sendto = tr.sendto
        done, error = self.call_until_memory_error(
            lambda i: sendto(datagrams[i]))
        self.assert_fails_after_some(done, error, 'sendto')
        expected = sent + datagrams[:len(done)]
        got = []

        def drain():
            while True:
                try:
                    got.append(peer.recv(100))
                except BlockingIOError:
                    return len(got) >= len(expected)
        self.run_until(drain)
        self.assertEqual(got, expected, 'what was queued is sent once, in order')
        tr.sendto(b'after')
        expected.append(b'after')
        self.run_until(drain)
        self.assertEqual(got, expected)


class _WriteBufferTests:
    """write()'s out-of-memory policy, which the socket transport and the
    write pipe share. connect() returns (transport, protocol, read(n),
    read_to_eof()), the last two reading what the other end receives."""

    def test_write_raises_memory_error_when_the_buffer_cannot_grow(self):
        tr, proto, read, _ = self.connect()
        written = bytearray()
        chunk = b'a' * 65536
        while tr.get_write_buffer_size() == 0:  # until the fd is full
            tr.write(chunk)
            written += chunk
        size = tr.get_write_buffer_size()
        big = b'b' * (1 << 22)  # more than the buffer holds
        _testcapi.set_nomemory(0)
        try:
            tr.write(big)
        except MemoryError:
            error = True
        else:
            error = False
        finally:
            _testcapi.remove_mem_hooks()
        self.assertTrue(error, 'write() buffered 4 MiB without memory')
        self.assertEqual(tr.get_write_buffer_size(), size, 'the refused write left bytes behind')
        self.assertFalse(tr.is_closing())
        tr.write(b'after')
        written += b'after'
        self.assertEqual(read(len(written)), bytes(written))
        self.assertEqual(proto.lost, [])

    def test_partly_sent_write_gives_the_connection_up(self):
        tr, proto, _, read_to_eof = self.connect()
        big = b'c' * (1 << 22)  # the fd takes a part, the rest must wait
        with self.assertRaises(MemoryError):
            _testcapi.set_nomemory(0, 1)  # the write buffer's first allocation
            tr.write(big)
        _testcapi.remove_mem_hooks()
        # A stream with a hole in it must not go on: the protocol hears why.
        self.assertTrue(tr.is_closing())
        self.run_until(lambda: proto.lost)
        self.assertEqual(len(proto.lost), 1)
        self.assertIsInstance(proto.lost[0], MemoryError)
        got = read_to_eof()
        self.assertLess(len(got), len(big))
        self.assertEqual(got, big[:len(got)])


@needs_nomemory
class StreamBufferTests(_WriteBufferTests, MemoryFailureTestCase, NetTestCase):

    def connect(self):
        proto = _Recorder()
        tr, peer = self.connect_raw_small(proto)
        tr.set_write_buffer_limits(high=1 << 30)
        return (tr, proto, functools.partial(self.peer_read, peer),
                functools.partial(self.peer_read_to_eof, peer))


@needs_nomemory
class WritePipeBufferTests(_WriteBufferTests, MemoryFailureTestCase, PipeTestCase):

    def connect(self):
        r, w = self.small_pipe()
        proto = _Recorder()
        tr, _ = self.write_pipe(self.fileobj(w, 'wb'), proto)
        tr.set_write_buffer_limits(high=1 << 30)
        return (tr, proto, functools.partial(self.read_fd, r),
                functools.partial(self.read_fd_to_eof, r))


@needs_nomemory
class SweepTests(MemoryFailureTestCase, NetTestCase):
    """Each allocation of a mix of calls fails in turn, as CPython's own
    tests sweep set_nomemory: every call succeeds or raises MemoryError
    (never another error, never a crash), and what succeeded runs."""

    def test_each_allocation_failing_in_turn(self):
        ran = []
        a, b = self.socketpair()
        tr, peer = self.connect_raw_small(_Recorder())
        tr.set_write_buffer_limits(high=1 << 30)
        payload = b'p' * (1 << 16)
        written = 0
        while tr.get_write_buffer_size() == 0:  # later writes only buffer
            tr.write(payload)
            written += len(payload)
        expected = []
        for k in range(120):
            calls = [
                lambda: self.loop.call_soon(ran.append, ('soon', k)),
                lambda: self.loop.call_later(0.0, ran.append, ('later', k)),
                lambda: self.loop.call_soon_threadsafe(ran.append, ('threadsafe', k)),
                lambda: self.loop._add_reader(a.fileno(), ran.append, ('reader', k)),
                lambda: tr.write(payload),
            ]
            for index, call in enumerate(calls):
                _testcapi.set_nomemory(k, k + 1)
                try:
                    call()
                except MemoryError:
                    outcome = None
                else:
                    outcome = True
                finally:
                    _testcapi.remove_mem_hooks()
                if outcome and index < 3:
                    expected.append((('soon', 'later', 'threadsafe')[index], k))
                elif outcome and index == 4:
                    written += len(payload)
            self.loop._remove_reader(a.fileno())
        self.assertFalse(tr.is_closing())
        self.run_briefly(3)
        self.assertEqual(sorted(r for r in ran if r[0] != 'reader'), sorted(expected))
        self.assertEqual(len(self.peer_read(peer, written)), written)
        self.assertEqual(tr.get_write_buffer_size(), 0)


# For the children of AddressSpaceLimitTests: limited(fn) runs fn with the
# address space limited to what the process maps now and 16 KiB more, and
# returns its result or 'MemoryError'; reader_runs(loop, fd, b) shows that
# fd's reader runs afterwards, when b sends it a byte.
LIMIT_HELPERS = '''
import resource
def vm_bytes():
    with open('/proc/self/statm') as f:
        return int(f.read().split()[0]) * os.sysconf('SC_PAGE_SIZE')
def limited(fn):
    limit = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (vm_bytes() + 16384, limit[1]))
    try:
        return fn()
    except MemoryError:
        return 'MemoryError'
    finally:
        resource.setrlimit(resource.RLIMIT_AS, limit)
def reader_runs(loop, fd, b):
    loop.add_reader(fd, lambda: (print('reader ran'), loop.stop()))
    b.send(b'x')
    loop.run_forever()
    loop.close()
'''


@unittest.skipUnless(sys.platform.startswith('linux'), 'Linux /proc and RLIMIT_AS')
@unittest.skipIf(support.UNDER_SANITIZER, 'ASan needs its address space')
class AddressSpaceLimitTests(LoopTestCase):
    """Real shortages, with no test hooks: the address space limited so that
    the fd table or libev's arrays cannot grow. Before the fixes these
    aborted."""

    def run_limited(self, code):
        proc = support.run_child(LIMIT_HELPERS + textwrap.dedent(code))
        self.assertEqual(proc.returncode, 0, support.describe_child(proc))
        if proc.stdout.startswith('skip:'):
            self.skipTest(proc.stdout.strip())
        return proc

    def check_high_fd(self, setup):
        """setup picks top (the fd limit, under hard) and the fds warm to
        register first; fd top - 1 gets a reader with the address space
        limited, then one without."""
        proc = self.run_limited(textwrap.dedent('''
            loop = new_event_loop()
            a, b = socket.socketpair()
            soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        ''') + textwrap.dedent(setup) + textwrap.dedent('''
            resource.setrlimit(resource.RLIMIT_NOFILE, (top, hard))
            for fd in warm:
                os.dup2(a.fileno(), fd)
                loop.add_reader(fd, print, 'not run')
                loop.remove_reader(fd)
                os.close(fd)
            fd = os.dup2(a.fileno(), top - 1)
            print(limited(lambda: loop.add_reader(fd, print, 'not run') and 'registered'),
                  loop.remove_reader(fd))
            reader_runs(loop, fd, b)
        '''))
        self.assertEqual(proc.stdout.split('\n')[:2], ['MemoryError False', 'reader ran'],
                         support.describe_child(proc))

    @support.aioev_only
    def test_add_reader_on_a_high_fd_without_memory_raises_memory_error(self):
        self.check_high_fd('''
            top = 1 << 20 if hard == resource.RLIM_INFINITY else min(hard, 1 << 20)
            warm = ()
        ''')

    @support.aioev_only
    def test_libev_growing_to_a_high_fd_without_memory_raises_memory_error(self):
        # Readers on fds 10000 and 16000 first: aioev's fd table then has
        # room for fd 19999 (it grew to twice 10001 entries) where libev's
        # has not (a power of two a page rounded, for 10001 fds about 16600):
        # only libev must grow, and aborted when it could not (CI, on
        # 264d9eb: '(libev) cannot allocate 593888 bytes').
        self.check_high_fd('''
            top = 20000
            if hard != resource.RLIM_INFINITY and hard < top:
                print('skip: RLIMIT_NOFILE', hard)
                raise SystemExit
            warm = (10000, 16000)
        ''')

    @support.aioev_only
    def test_libev_growing_in_the_poll_without_memory_takes_the_reserve(self):
        # 12,000 ready fds: libev's pending events and kernel event list grow,
        # poll after poll, inside the poll, where aioev cannot check first.
        # They take aioev's reserve (libev aborted when such an allocation
        # failed); the next poll, unable to make a new reserve, raises
        # MemoryError out of run_forever. No readiness is lost: with memory
        # back every fd's reader runs.
        proc = self.run_limited('''
            soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            if hard != resource.RLIM_INFINITY and hard < 12100:
                print('skip: RLIMIT_NOFILE', hard)
                raise SystemExit
            resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 12100), hard))
            loop = new_event_loop()
            a, b = socket.socketpair()
            b.send(b'x')
            fds = [os.dup(a.fileno()) for _ in range(12000)]
            for fd in fds:
                loop.add_reader(fd, int)
            def run_once():
                loop.call_soon(loop.stop)
                loop.run_forever()
            run_once()
            print('MemoryError' in [limited(run_once) for _ in range(12)])
            ran = set()
            for fd in fds:
                loop.add_reader(fd, ran.add, fd)
            for _ in range(20):
                run_once()
            print(ran == set(fds))
            loop.close()
        ''')
        self.assertEqual(proc.stdout.split('\n')[:2], ['True', 'True'],
                         support.describe_child(proc))

    @support.aioev_only
    def test_new_loop_with_many_files_open_without_memory_raises_memory_error(self):
        # With fds 0 to 15,000 open, libev's wake-up fd and the loop's
        # signal socketpair come above them, and libev's fd array must grow
        # to them while the loop is made (it aborted when it could not). The
        # loop that could not be made goes quietly: no "unclosed event
        # loop" warning, no error from BaseEventLoop.__del__.
        proc = self.run_limited('''
            import warnings
            warnings.simplefilter('error', ResourceWarning)
            soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            if hard != resource.RLIM_INFINITY and hard < 15100:
                print('skip: RLIMIT_NOFILE', hard)
                raise SystemExit
            resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 15100), hard))
            # Loops made first, while few fds are open, leave Python's
            # allocator the room a new one needs: under the limit only
            # libev's array has to grow.
            for _ in range(3):
                new_event_loop().close()
            a, b = socket.socketpair()
            held = [os.dup(a.fileno())]
            while held[-1] < 15000:
                held.append(os.dup(a.fileno()))
            print(limited(lambda: new_event_loop() and 'made'))
            loop = new_event_loop()
            print(loop.run_until_complete(asyncio.sleep(0, 'ran')))
            loop.close()
            for fd in held:
                os.close(fd)
            a.close()
            b.close()
        ''')
        self.assertEqual(proc.stdout.split('\n')[:2], ['MemoryError', 'ran'],
                         support.describe_child(proc))
        self.assertEqual(proc.stderr, '', support.describe_child(proc))

if __name__ == '__main__':
    unittest.main()
