"""add_reader, add_writer, remove_reader, remove_writer, and closed fds."""

import asyncio
import errno
import gc
import os
import socket
import types
import unittest
import warnings

from . import support
from .net_support import NetTestCase
from .support import LoopTestCase


class FilenoObject:
    def __init__(self, fd):
        self.fd = fd

    def fileno(self):
        return self.fd


class BadFileno:
    def fileno(self):
        raise ValueError('no fileno')

    def __repr__(self):
        return '<BadFileno>'


class ReaderTests(LoopTestCase):

    def test_reader_called_with_args_when_readable(self):
        a, b = self.socketpair()
        calls = []

        def reader(*args):
            calls.append((args, a.recv(100)))
        self.loop.add_reader(a.fileno(), reader, 'x', 1)
        self.run_briefly(2)
        self.assertEqual(calls, [])
        b.send(b'data')
        self.run_until(lambda: calls)
        self.assertEqual(calls, [(('x', 1), b'data')])

    def test_iteration_order_ready_then_io_then_timers(self):
        # One iteration runs what was ready before the poll, then the I/O
        # callbacks, then the timers that expired, in that order.
        a, b = self.socketpair()
        order = []

        def reader():
            a.recv(10)
            order.append('io')
            self.loop.remove_reader(a.fileno())

        def setup():
            self.loop.call_soon(order.append, 'ready')
            self.loop.call_at(self.loop.time() - 1, order.append, 'timer')
            b.send(b'x')
        self.loop.add_reader(a.fileno(), reader)
        self.loop.call_soon(setup)
        self.run_briefly()
        self.assertEqual(order, [])
        self.run_briefly()
        self.assertEqual(order, ['ready', 'io', 'timer'])

    def test_stop_in_reader_ends_after_the_iteration(self):
        a, b = self.socketpair()
        order = []

        def reader():
            a.recv(10)
            order.append('io')
            self.loop.stop()
            self.loop.call_soon(order.append, 'next run')
        self.loop.add_reader(a.fileno(), reader)
        self.loop.call_at(self.loop.time() - 1, order.append, 'timer')
        b.send(b'x')
        self.loop.call_later(30, self.loop.stop)
        self.loop.run_forever()
        self.assertEqual(order, ['io', 'timer'])
        self.assertTrue(self.loop.remove_reader(a.fileno()))

    def test_add_reader_returns_none(self):
        a, _ = self.socketpair()
        self.assertIsNone(self.loop.add_reader(a.fileno(), print))
        self.assertIsNone(self.loop.add_writer(a.fileno(), print))
        self.loop.remove_reader(a.fileno())
        self.loop.remove_writer(a.fileno())

    def test_reader_with_object_having_fileno(self):
        a, b = self.socketpair()
        calls = []
        self.loop.add_reader(a, lambda: calls.append(a.recv(10)))
        b.send(b'sock')
        self.run_until(lambda: calls)
        self.assertTrue(self.loop.remove_reader(a))
        obj = FilenoObject(a.fileno())
        self.loop.add_reader(obj, lambda: calls.append(a.recv(10)))
        b.send(b'obj')
        self.run_until(lambda: len(calls) == 2)
        self.assertEqual(calls, [b'sock', b'obj'])
        # The fd number and the object name the same registration.
        self.assertTrue(self.loop.remove_reader(a.fileno()))

    def test_reader_is_level_triggered(self):
        a, b = self.socketpair()
        calls = []

        def reader():
            calls.append(1)
            if len(calls) == 3:
                a.recv(100)
        self.loop.add_reader(a.fileno(), reader)
        b.send(b'x')
        self.run_until(lambda: len(calls) >= 3)
        self.run_briefly(3)
        self.assertEqual(len(calls), 3)

    def test_remove_reader_returns_true_then_false(self):
        a, _ = self.socketpair()
        self.loop.add_reader(a.fileno(), print)
        self.assertTrue(self.loop.remove_reader(a.fileno()))
        self.assertFalse(self.loop.remove_reader(a.fileno()))

    def test_remove_reader_for_unregistered_fd_returns_false(self):
        a, _ = self.socketpair()
        self.assertFalse(self.loop.remove_reader(a.fileno()))
        self.assertFalse(self.loop.remove_writer(a.fileno()))

    def test_removed_reader_is_not_called(self):
        a, b = self.socketpair()
        calls = []
        self.loop.add_reader(a.fileno(), calls.append, 1)
        self.loop.remove_reader(a.fileno())
        b.send(b'x')
        self.run_briefly(3)
        self.assertEqual(calls, [])

    def test_reader_removed_by_earlier_callback_of_same_iteration(self):
        a, b = self.socketpair()
        c, d = self.socketpair()
        calls = []

        def first():
            calls.append('first')
            self.loop.remove_reader(a.fileno())
            self.loop.remove_reader(c.fileno())
        self.loop.add_reader(a.fileno(), first)
        self.loop.add_reader(c.fileno(), first)
        b.send(b'x')
        d.send(b'x')
        self.run_until(lambda: calls)
        self.run_briefly(2)
        self.assertEqual(calls, ['first'])

    def test_add_reader_again_replaces_the_callback(self):
        a, b = self.socketpair()
        calls = []
        self.loop.add_reader(a.fileno(), calls.append, 'old')
        self.loop.add_reader(a.fileno(), lambda: calls.append(a.recv(9)))
        b.send(b'new')
        self.run_until(lambda: calls)
        self.run_briefly(2)
        self.assertEqual(calls, [b'new'])
        self.assertTrue(self.loop.remove_reader(a.fileno()))
        self.assertFalse(self.loop.remove_reader(a.fileno()))

    def test_writer_called_when_writable(self):
        a, _ = self.socketpair()
        calls = []

        def writer(arg):
            calls.append(arg)
            self.loop.remove_writer(a.fileno())
        self.loop.add_writer(a.fileno(), writer, 'w')
        self.run_until(lambda: calls)
        self.run_briefly(2)
        self.assertEqual(calls, ['w'])

    def test_add_writer_again_replaces_the_callback(self):
        a, _ = self.socketpair()
        calls = []
        self.loop.add_writer(a.fileno(), calls.append, 'old')
        self.loop.add_writer(a.fileno(), calls.append, 'new')
        self.run_until(lambda: calls)
        self.assertTrue(self.loop.remove_writer(a.fileno()))
        self.assertEqual(set(calls), {'new'})

    def test_remove_writer_returns_true_then_false(self):
        a, _ = self.socketpair()
        self.loop.add_writer(a, print)
        self.assertTrue(self.loop.remove_writer(a))
        self.assertFalse(self.loop.remove_writer(a))

    def test_reader_and_writer_on_one_fd_are_independent(self):
        a, b = self.socketpair()
        reads, writes = [], []
        self.loop.add_reader(a.fileno(), lambda: reads.append(a.recv(10)))
        self.loop.add_writer(a.fileno(), writes.append, 'w')
        self.run_until(lambda: writes)
        self.assertTrue(self.loop.remove_writer(a.fileno()))
        b.send(b'r')
        self.run_until(lambda: reads)
        self.assertEqual(reads, [b'r'])
        n_writes = len(writes)
        self.run_briefly(2)
        self.assertEqual(len(writes), n_writes)
        self.assertTrue(self.loop.remove_reader(a.fileno()))
        self.assertFalse(self.loop.remove_writer(a.fileno()))

    def test_remove_reader_keeps_the_writer(self):
        a, _ = self.socketpair()
        writes = []
        self.loop.add_reader(a.fileno(), print)
        self.loop.add_writer(a.fileno(), writes.append, 1)
        self.assertTrue(self.loop.remove_reader(a.fileno()))
        self.run_until(lambda: writes)
        self.assertTrue(self.loop.remove_writer(a.fileno()))

    def test_reader_exception_goes_to_exception_handler(self):
        a, b = self.socketpair()
        errors = self.collect_errors()

        def reader():
            a.recv(10)
            raise ZeroDivisionError
        self.loop.add_reader(a.fileno(), reader)
        b.send(b'x')
        self.run_until(lambda: errors)
        self.assertIsInstance(errors[0]['exception'], ZeroDivisionError)
        self.assertTrue(errors[0]['message'].startswith(
            'Exception in callback'))
        # Still registered after the error.
        self.assertTrue(self.loop.remove_reader(a.fileno()))

    def test_keyboard_interrupt_from_reader_propagates(self):
        a, b = self.socketpair()

        def reader():
            a.recv(10)
            raise KeyboardInterrupt
        self.loop.add_reader(a.fileno(), reader)
        b.send(b'x')
        with self.assertRaises(KeyboardInterrupt):
            self.loop.run_forever()
        self.assertFalse(self.loop.is_running())
        self.assertTrue(self.loop.remove_reader(a.fileno()))
        self.run_briefly()

    def test_reader_adds_a_reader_for_another_fd(self):
        a, b = self.socketpair()
        c, d = self.socketpair()
        got = []

        def second():
            got.append(c.recv(10))
            self.loop.remove_reader(c.fileno())

        def first():
            got.append(a.recv(10))
            self.loop.remove_reader(a.fileno())
            self.loop.add_reader(c.fileno(), second)
            d.send(b'two')
        self.loop.add_reader(a.fileno(), first)
        b.send(b'one')
        self.run_until(lambda: len(got) == 2)
        self.assertEqual(got, [b'one', b'two'])

    def test_pipe_reader_sees_eof(self):
        r, w = os.pipe()
        self.addCleanup(os.close, r)
        os.set_blocking(r, False)
        chunks = []

        def reader():
            data = os.read(r, 100)
            chunks.append(data)
            if not data:
                self.loop.remove_reader(r)
        self.loop.add_reader(r, reader)
        os.write(w, b'abc')
        os.close(w)
        self.run_until(lambda: chunks and chunks[-1] == b'')
        self.assertEqual(b''.join(chunks), b'abc')

    def test_readers_ready_together_run_in_the_order_they_became_ready(self):
        # asyncio hands on the selector's events in the kernel's order
        # (epoll: the order the fds became ready).
        pairs = [self.socketpair() for _ in range(5)]
        order = []
        for i, (a, _) in enumerate(pairs):
            self.loop.add_reader(a.fileno(), order.append, i)
        self.run_briefly()
        for i in (2, 0, 4, 1, 3):
            pairs[i][1].send(b'x')
        self.run_briefly()
        self.assertEqual(order, [2, 0, 4, 1, 3])

    def test_reader_runs_before_writer_of_the_same_fd(self):
        a, b = self.socketpair()
        order = []
        self.loop.add_writer(a.fileno(), order.append, 'writer')
        self.loop.add_reader(a.fileno(), order.append, 'reader')
        b.send(b'x')
        self.run_briefly()
        self.assertEqual(order, ['reader', 'writer'])

    def test_many_fds(self):
        pairs = [self.socketpair() for _ in range(100)]
        got = set()
        for i, (a, _) in enumerate(pairs):
            self.loop.add_reader(a.fileno(), lambda i=i, a=a: (
                got.add(i), a.recv(10), self.loop.remove_reader(a.fileno())))
        for _, b in pairs:
            b.send(b'x')
        self.run_until(lambda: len(got) == 100)


class TransportFdTests(NetTestCase):
    """The public methods refuse an fd that a transport owns (asyncio's
    _ensure_fd_no_transport), by number or by socket object."""

    def test_fd_of_a_transport_is_refused(self):
        tr, _, _ = self.connect_pair()
        sock = tr.get_extra_info('socket')
        for fd in (sock.fileno(), sock):
            for method, args in (('add_reader', (print,)), ('add_writer', (print,)),
                                 ('remove_reader', ()), ('remove_writer', ())):
                with self.subTest(method=method, fd=fd):
                    with self.assertRaises(RuntimeError) as cm:
                        getattr(self.loop, method)(fd, *args)
                    self.assertEqual(str(cm.exception),
                                     f'File descriptor {fd!r} is used by transport {tr!r}')

    def test_fd_of_a_closing_transport_is_accepted(self):
        tr, _, _ = self.connect_pair()
        fd = tr.get_extra_info('socket').fileno()
        tr.close()
        self.assertFalse(self.loop.remove_reader(fd))
        self.assertFalse(self.loop.remove_writer(fd))

    def socket_at(self, number):
        # A connected socket whose fd is `number` (a number just freed).
        c, d = self.socketpair()
        for sock in (c, d):
            if sock.fileno() == number:
                return sock
        os.dup2(c.fileno(), number)
        c.close()
        sock = socket.socket(fileno=number)
        sock.setblocking(False)
        self.addCleanup(sock.close)
        return sock

    def test_fd_of_a_dropped_transport_is_free(self):
        # asyncio keeps its transports by weak reference: one dropped
        # without close() (its socket closed by its finalizer) owns no number.
        a, b = self.socketpair()
        tr = self.loop._make_socket_transport(a, asyncio.Protocol())
        self.run_briefly()
        number = a.fileno()
        tr.pause_reading()  # the loop holds a reading transport, as asyncio's selector does
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', ResourceWarning)
            del tr
            gc.collect()
            a.close()
        c = self.socket_at(number)
        self.loop.add_reader(c.fileno(), print)
        self.assertTrue(self.loop.remove_reader(c.fileno()))

    def test_fd_of_a_datagram_transport_is_refused(self):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(('127.0.0.1', 0))
        sock.setblocking(False)
        tr = self.loop._make_datagram_transport(sock, asyncio.DatagramProtocol())
        self.addCleanup(tr.close)
        self.run_briefly()
        with self.assertRaises(RuntimeError) as cm:
            self.loop.add_writer(sock.fileno(), print)
        self.assertEqual(str(cm.exception),
                         f'File descriptor {sock.fileno()!r} is used by transport {tr!r}')

    def test_the_newest_transport_of_a_number_owns_it(self):
        # A closing transport lets a new one take its number; its own
        # connection_lost, coming later, must leave the new one the owner.
        a, b = self.socketpair()
        old = self.loop._make_socket_transport(a, asyncio.Protocol())
        self.run_briefly()
        number = a.fileno()
        old.close()
        os.close(a.detach())
        c = self.socket_at(number)
        new = self.loop._make_socket_transport(c, asyncio.Protocol())
        self.addCleanup(new.close)
        self.run_briefly()  # old's connection_lost
        with self.assertRaises(RuntimeError) as cm:
            self.loop.add_reader(number, print)
        self.assertEqual(str(cm.exception),
                         f'File descriptor {number!r} is used by transport {new!r}')

    def test_add_reader_and_add_writer_return_none(self):
        a, b = self.socketpair()
        self.assertIsNone(self.loop.add_reader(a.fileno(), print))
        self.assertIsNone(self.loop.add_writer(a.fileno(), print))
        self.assertTrue(self.loop.remove_reader(a.fileno()))
        self.assertTrue(self.loop.remove_writer(a.fileno()))

    @unittest.skipUnless(support.USING_AIOEV, 'aioev only')
    def test_the_public_methods_are_the_c_ones(self):
        # No Python frame between the caller and the C++ registration.
        for name in ('add_reader', 'add_writer', 'remove_reader', 'remove_writer'):
            with self.subTest(name):
                self.assertIsInstance(getattr(type(self.loop), name),
                                      types.MethodDescriptorType)


class BadFdTests(LoopTestCase):

    def test_negative_fd_raises_value_error(self):
        for method in ('add_reader', 'add_writer'):
            with self.subTest(method=method):
                with self.assertRaisesRegex(
                        ValueError, '^Invalid file descriptor: -1$'):
                    getattr(self.loop, method)(-1, print)

    def test_negative_fd_remove_raises_value_error(self):
        for method in ('remove_reader', 'remove_writer'):
            with self.subTest(method=method):
                with self.assertRaisesRegex(
                        ValueError, '^Invalid file descriptor: -5$'):
                    getattr(self.loop, method)(-5)

    def test_object_without_fileno_raises_value_error(self):
        for method, args in (('add_reader', (print,)),
                             ('add_writer', (print,)),
                             ('remove_reader', ()), ('remove_writer', ())):
            with self.subTest(method=method):
                with self.assertRaisesRegex(
                        ValueError, "^Invalid file object: 'abc'$"):
                    getattr(self.loop, method)('abc', *args)
                with self.assertRaisesRegex(
                        ValueError, '^Invalid file object: None$'):
                    getattr(self.loop, method)(None, *args)

    def test_fileno_raising_value_error(self):
        with self.assertRaisesRegex(
                ValueError, '^Invalid file object: <BadFileno>$'):
            self.loop.add_reader(BadFileno(), print)

    def test_fileno_returning_negative_raises_value_error(self):
        with self.assertRaisesRegex(
                ValueError, '^Invalid file descriptor: -1$'):
            self.loop.add_reader(FilenoObject(-1), print)

    def test_closed_socket_object_raises_value_error(self):
        s = socket.socket()
        s.close()
        with self.assertRaisesRegex(
                ValueError, '^Invalid file descriptor: -1$'):
            self.loop.add_reader(s, print)

    def test_fd_beyond_a_c_int_raises_overflow_error(self):
        for fd in (2**31, 2**40, 2**64):
            for method in ('add_reader', 'add_writer'):
                with self.subTest(fd=fd, method=method):
                    with self.assertRaisesRegex(
                            OverflowError,
                            '^Python int too large to convert to C int$'):
                        getattr(self.loop, method)(fd, print)

    def test_remove_fd_beyond_a_c_int_returns_false(self):
        for fd in (2**31, 2**40, 2**64):
            with self.subTest(fd=fd):
                self.assertFalse(self.loop.remove_reader(fd))
                self.assertFalse(self.loop.remove_writer(fd))

    def test_huge_negative_fd_raises_value_error(self):
        with self.assertRaisesRegex(
                ValueError, f'^Invalid file descriptor: {-2**70}$'):
            self.loop.add_reader(-2**70, print)

    def test_add_reader_on_closed_loop_raises(self):
        a, _ = self.socketpair()
        self.loop.close()
        with self.assertRaisesRegex(RuntimeError, '^Event loop is closed$'):
            self.loop.add_reader(a.fileno(), print)
        with self.assertRaisesRegex(RuntimeError, '^Event loop is closed$'):
            self.loop.add_writer(a.fileno(), print)

    def test_remove_on_closed_loop_returns_false(self):
        a, _ = self.socketpair()
        self.loop.add_reader(a.fileno(), print)
        self.loop.close()
        self.assertFalse(self.loop.remove_reader(a.fileno()))
        self.assertFalse(self.loop.remove_writer(a.fileno()))

    def test_close_loop_with_registered_readers(self):
        a, b = self.socketpair()
        self.loop.add_reader(a.fileno(), print)
        self.loop.add_writer(b.fileno(), print)
        self.loop.close()
        self.assertTrue(self.loop.is_closed())


class ClosedSocketTests(LoopTestCase):
    """A socket closed while registered: asyncio's selector finds it by the
    object it was registered with, and its epoll registration ended with
    the file, whatever later takes the fd number."""

    def stale(self, *, writer=False, poll=True):
        """Register a reader (and a writer) on a socket, close it, and
        return calls and a (socket, peer) pair that took its fd number."""
        a, b = self.socketpair()
        fd = a.fileno()
        calls = []
        self.loop.add_reader(a, calls.append, 'stale reader')
        if writer:
            self.loop.add_writer(a, calls.append, 'stale writer')
        if poll:
            self.run_briefly()
            calls.clear()
        a.close()
        b.close()
        c, d = self.socketpair()
        if fd not in (c.fileno(), d.fileno()):
            self.skipTest('the fd number was not reused')
        return calls, ((c, d) if c.fileno() == fd else (d, c))

    def test_remove_reader_of_closed_socket_returns_true(self):
        for method in ('reader', 'writer'):
            with self.subTest(method=method):
                a, b = self.socketpair()
                calls = []
                getattr(self.loop, 'add_' + method)(a, calls.append, 1)
                self.run_briefly()
                calls.clear()
                a.close()
                self.assertTrue(getattr(self.loop, 'remove_' + method)(a))
                with self.assertRaisesRegex(
                        ValueError, '^Invalid file descriptor: -1$'):
                    getattr(self.loop, 'remove_' + method)(a)

    def test_remove_one_of_two_on_closed_socket_raises_and_drops_both(self):
        a, b = self.socketpair()
        self.loop.add_reader(a, print, 'stale reader')
        self.loop.add_writer(a, print, 'stale writer')
        a.close()
        with self.assertRaises(OSError) as cm:
            self.loop.remove_reader(a)
        self.assertEqual(cm.exception.errno, errno.EBADF)
        with self.assertRaisesRegex(
                ValueError, '^Invalid file descriptor: -1$'):
            self.loop.remove_writer(a)

    def test_no_stale_callback_fires_for_a_socket_reusing_the_fd(self):
        calls, (new, peer) = self.stale(writer=True, poll=False)
        peer.send(b'x')
        self.run_briefly(3)
        self.assertEqual(calls, [])

    def test_no_stale_callback_fires_after_the_registration_was_polled(self):
        calls, (new, peer) = self.stale()
        peer.send(b'x')
        self.run_briefly(3)
        self.assertEqual(calls, [])
        self.assertTrue(self.loop.remove_reader(new))
        self.assertFalse(self.loop.remove_reader(new))

    def test_new_event_on_a_reused_fd_raises_and_drops_the_stale_ones(self):
        calls, (new, peer) = self.stale()
        with self.assertRaises(FileNotFoundError):
            self.loop.add_writer(new, calls.append, 'writer')
        # The stale registration is gone: a new one works.
        self.loop.add_reader(new, calls.append, 'reader')
        peer.send(b'x')
        self.run_until(lambda: calls)
        self.assertEqual(calls[0], 'reader')
        self.assertTrue(self.loop.remove_reader(new))

    def test_changing_a_stale_registration_raises_file_not_found(self):
        calls, (new, peer) = self.stale(writer=True)
        # The same events: asyncio swaps the callback of its stale key.
        self.assertIsNone(self.loop.add_writer(new, calls.append, 'writer'))
        peer.send(b'x')
        self.run_briefly(3)
        self.assertEqual(calls, [])
        with self.assertRaises(FileNotFoundError):
            self.loop.remove_writer(new)
        self.assertFalse(self.loop.remove_reader(new))


# Each fault runs in a child process: a watcher change that reaches a closed
# fd may abort the process (libev built with assertions), which would take
# the test runner down.  The child must exit 0 and print "ok".  Where
# asyncio's own loop raises OSError for a call on a closed fd, that is
# allowed; crashing or hanging is not.
FAULT_PRELUDE = """
import os, socket
loop = new_event_loop()
errors = []
loop.set_exception_handler(lambda loop, ctx: errors.append(ctx))

def tolerate(func, *args):
    try:
        return func(*args)
    except (OSError, ValueError) as exc:
        print('raised', type(exc).__name__, exc)

def run_for(seconds):
    loop.call_later(seconds, loop.stop)
    loop.run_forever()

def pair():
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)
    return a, b
"""

FAULT_EPILOGUE = """
run_for(0.02)
loop.close()
print('ok')
"""


class ClosedFdFaultTests(unittest.TestCase):

    def run_fault(self, body):
        proc = support.run_child(FAULT_PRELUDE + body + FAULT_EPILOGUE,
                                 timeout=60)
        self.assertEqual(proc.returncode, 0, support.describe_child(proc))
        self.assertIn('ok', proc.stdout.split(), support.describe_child(proc))
        return proc.stdout

    def test_close_registered_reader_fd_then_run(self):
        self.run_fault("""
a, b = pair()
fd = a.fileno()
loop.add_reader(fd, print, 'reader called')
a.close()
b.close()
run_for(0.05)
tolerate(loop.remove_reader, fd)
""")

    def test_close_registered_writer_fd_then_run(self):
        self.run_fault("""
a, b = pair()
fd = a.fileno()
loop.add_writer(fd, lambda: None)
run_for(0.01)
a.close()
run_for(0.05)
tolerate(loop.remove_writer, fd)
b.close()
""")

    def test_close_then_add_writer_on_same_fd(self):
        self.run_fault("""
a, b = pair()
fd = a.fileno()
loop.add_reader(fd, print, 'reader called')
run_for(0.01)
a.close()
tolerate(loop.add_writer, fd, print, 'writer called')
run_for(0.05)
tolerate(loop.remove_writer, fd)
tolerate(loop.remove_reader, fd)
b.close()
""")

    def test_close_then_remove_reader(self):
        self.run_fault("""
a, b = pair()
fd = a.fileno()
loop.add_reader(fd, print, 'reader called')
run_for(0.01)
a.close()
print('removed', tolerate(loop.remove_reader, fd))
run_for(0.05)
b.close()
""")

    def test_close_then_remove_before_any_iteration(self):
        self.run_fault("""
a, b = pair()
fd = a.fileno()
loop.add_reader(fd, print, 'reader called')
loop.add_writer(fd, print, 'writer called')
a.close()
tolerate(loop.remove_reader, fd)
tolerate(loop.remove_writer, fd)
run_for(0.05)
b.close()
""")

    def test_close_and_reopen_same_fd_then_add_reader(self):
        out = self.run_fault("""
a, b = pair()
fd = a.fileno()
loop.add_reader(fd, print, 'stale reader called')
run_for(0.01)
a.close()
b.close()
c, d = pair()
new, peer = (c, d) if c.fileno() == fd else (d, c)
print('reused', new.fileno() == fd)
got = []
tolerate(loop.add_reader, new.fileno(), lambda: got.append(new.recv(10)))
peer.send(b'fresh')
run_for(0.1)
print('got', got)
tolerate(loop.remove_reader, new.fileno())
c.close()
d.close()
""")
        self.assertIn('reused True', out)

    def test_reader_closes_its_own_fd(self):
        self.run_fault("""
a, b = pair()
fd = a.fileno()
calls = []
def reader():
    calls.append(a.recv(10))
    a.close()
loop.add_reader(fd, reader)
b.send(b'x')
run_for(0.1)
tolerate(loop.remove_reader, fd)
print('calls', calls)
assert calls == [b'x'], calls
b.close()
""")

    def test_callback_closes_fd_whose_reader_is_due_in_the_same_iteration(self):
        self.run_fault("""
a, b = pair()
c, d = pair()
def close_other():
    c.close()
    a.recv(10)
loop.add_reader(a.fileno(), close_other)
loop.add_reader(c.fileno(), print, 'second reader called')
b.send(b'x')
d.send(b'x')
run_for(0.1)
tolerate(loop.remove_reader, a.fileno())
b.close()
d.close()
a.close()
""")

    def test_close_registered_fd_then_close_loop(self):
        self.run_fault("""
a, b = pair()
loop.add_reader(a.fileno(), print)
loop.add_writer(a.fileno(), print)
a.close()
b.close()
""")

    def test_unclosed_loop_with_registrations_is_collected(self):
        self.run_fault("""
import gc, warnings, signal
warnings.simplefilter('ignore', ResourceWarning)
a, b = pair()
other = new_event_loop()
other.add_reader(a.fileno(), print, 'reader')
other.add_writer(b.fileno(), print, 'writer')
other.call_later(3600, print)
other.call_soon(print, 'soon')
other.add_signal_handler(signal.SIGUSR1, print)
del other
gc.collect()
a.close()
b.close()
""")

    def test_close_registered_fd_while_a_dup_keeps_it_open(self):
        # epoll keeps reporting a closed fd while a dup() holds the file
        # open; then a new socket takes the fd number.
        self.run_fault("""
a, b = pair()
fd = a.fileno()
keep = os.dup(fd)
calls = []
def stale():
    calls.append('stale')
    loop.remove_reader(fd) if len(calls) > 50 else None
loop.add_reader(fd, stale)
run_for(0.01)
a.close()
b.send(b'pending')
run_for(0.05)
c, d = pair()
new, peer = (c, d) if c.fileno() == fd else (d, c)
got = []
def fresh():
    try:
        got.append(new.recv(10))
    except BlockingIOError:
        got.append(None)
    if len(got) > 50:
        loop.remove_reader(new.fileno())
tolerate(loop.add_reader, new.fileno(), fresh)
peer.send(b'fresh')
run_for(0.1)
print('got', got[:3])
tolerate(loop.remove_reader, new.fileno())
os.close(keep)
for s in (b, c, d):
    s.close()
""")

    def test_close_pipe_read_end_while_registered(self):
        self.run_fault("""
r, w = os.pipe()
loop.add_reader(r, print, 'pipe readable')
os.close(r)
run_for(0.05)
tolerate(loop.remove_reader, r)
os.close(w)
""")


if __name__ == '__main__':
    unittest.main()
