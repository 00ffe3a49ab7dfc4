"""Pipe transports: connect_read_pipe and connect_write_pipe over os.pipe(),
FIFOs, socketpairs and a pty; EOF, pause/resume_reading, flow control on
the write side, and a reader that goes away.

Every test asserts asyncio's own behaviour (they all pass with
AIOEV_TEST_LOOP=asyncio).
"""

import asyncio
import errno
import fcntl
import logging
import os
import shutil
import socket
import tempfile
import threading
import tracemalloc
import tty
import unittest

from . import support
from .support import LoopTestCase
from .net_support import (
    KiB, MiB, DEFAULT_HIGH_WATER, DEFAULT_LOW_WATER, Recorder, payload)

# The smallest pipe buffer Linux grants (one page).
SMALL_PIPE = 4096


class PipeTestCase(LoopTestCase):

    # Resources ------------------------------------------------------------

    def setUp(self):
        super().setUp()
        # fds the test still owns; closed at cleanup.  An fd handed to a
        # file object (which a transport closes) or closed by the test
        # leaves the set, so a reused fd number is never closed twice.
        self._owned_fds = set()
        self.addCleanup(self._close_owned_fds)

    def _close_owned_fds(self):
        while self._owned_fds:
            try:
                os.close(self._owned_fds.pop())
            except OSError:
                pass

    def own(self, *fds):
        self._owned_fds.update(fds)
        return fds

    def close_now(self, fd):
        self._owned_fds.discard(fd)
        os.close(fd)

    def pipe(self):
        """(read_fd, write_fd) of a new os.pipe()."""
        return self.own(*os.pipe())

    def small_pipe(self):
        r, w = self.pipe()
        fcntl.fcntl(w, fcntl.F_SETPIPE_SZ, SMALL_PIPE)
        return r, w

    def fileobj(self, fd, mode):
        """A raw file object that takes fd over (the transport closes it)."""
        self._owned_fds.discard(fd)
        f = open(fd, mode, buffering=0)
        self.addCleanup(f.close)
        return f

    def fifo(self):
        """(read_fd, write_fd) of a FIFO in a fresh temporary directory."""
        d = tempfile.mkdtemp(prefix='aioev-fifo-')
        self.addCleanup(shutil.rmtree, d, True)
        path = os.path.join(d, 'fifo')
        os.mkfifo(path)
        r, = self.own(os.open(path, os.O_RDONLY | os.O_NONBLOCK))
        w, = self.own(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
        return r, w

    def pty(self):
        """(master_fd, slave_fd) of a new pty with the slave in raw mode."""
        master, slave = self.own(*os.openpty())
        tty.setraw(slave)
        return master, slave

    def regular_file(self):
        f = tempfile.TemporaryFile()
        self.addCleanup(f.close)
        return f

    # Transports -----------------------------------------------------------

    def read_pipe(self, pipe, proto=None):
        if proto is None:
            proto = Recorder(self.loop)
        tr, pr = self.run_coro(self.loop.connect_read_pipe(
            lambda: proto, pipe))
        self.assertIs(pr, proto)
        self.addCleanup(self.close_transport, tr)
        return tr, proto

    def write_pipe(self, pipe, proto=None):
        if proto is None:
            proto = Recorder(self.loop)
        tr, pr = self.run_coro(self.loop.connect_write_pipe(
            lambda: proto, pipe))
        self.assertIs(pr, proto)
        self.addCleanup(self.close_transport, tr)
        return tr, proto

    def close_transport(self, tr):
        if self.loop.is_closed() or tr.is_closing():
            return
        abort = getattr(tr, 'abort', None)
        (abort or tr.close)()
        self.run_briefly(3)

    # Driving the other end ------------------------------------------------

    def read_fd(self, fd, nbytes, timeout=10.0):
        """Read exactly nbytes from the non-blocking fd, running the loop
        between attempts."""
        os.set_blocking(fd, False)
        got = bytearray()

        def more():
            while len(got) < nbytes:
                try:
                    chunk = os.read(fd, min(nbytes - len(got), 1 << 20))
                except BlockingIOError:
                    return False
                if not chunk:
                    self.fail(f'EOF after {len(got)} of {nbytes} bytes')
                got.extend(chunk)
            return True

        self.run_until(more, timeout)
        return bytes(got)

    def read_fd_to_eof(self, fd, timeout=10.0):
        os.set_blocking(fd, False)
        got = bytearray()

        def more():
            while True:
                try:
                    chunk = os.read(fd, 1 << 20)
                except BlockingIOError:
                    return False
                if not chunk:
                    return True
                got.extend(chunk)

        self.run_until(more, timeout)
        return bytes(got)

    def fill_write_pipe(self, tr, proto, chunk=KiB, limit=10000):
        """write() chunks until the protocol is paused; return the data."""
        written = bytearray()
        for i in range(limit):
            data = payload(chunk, seed=i)
            tr.write(data)
            written += data
            if proto.paused:
                return bytes(written)
        self.fail(f'not paused after {len(written)} bytes')


# -- connect_read_pipe ----------------------------------------------------------------

class ReadPipeTests(PipeTestCase):

    def test_transport_is_an_asyncio_read_transport(self):
        r, w = self.pipe()
        tr, proto = self.read_pipe(self.fileobj(r, 'rb'))
        self.assertIsInstance(tr, asyncio.ReadTransport)
        self.assertIs(tr.get_protocol(), proto)
        self.assertEqual(proto.events, ['made'])

    @support.aioev_only
    def test_transport_is_aioev_native(self):
        from asyncio import unix_events
        r, w = self.pipe()
        tr, _ = self.read_pipe(self.fileobj(r, 'rb'))
        self.assertNotIsInstance(tr, unix_events._UnixReadPipeTransport)
        self.assertTrue(type(tr).__module__.startswith('aioev'),
                        type(tr).__module__)

    def test_data_received(self):
        r, w = self.pipe()
        tr, proto = self.read_pipe(self.fileobj(r, 'rb'))
        os.write(w, b'through the pipe')
        self.run_until(lambda: bytes(proto.data) == b'through the pipe')
        self.assertFalse(tr.is_closing())

    def test_eof_received_then_connection_lost(self):
        r, w = self.pipe()
        pipe = self.fileobj(r, 'rb')
        tr, proto = self.read_pipe(pipe)
        os.write(w, b'last words')
        self.close_now(w)
        self.assertIsNone(self.run_coro(proto.lost))
        self.assertEqual(proto.events, ['made', 'eof', 'lost'])
        self.assertEqual(bytes(proto.data), b'last words')
        self.assertTrue(tr.is_closing())
        # The transport closes the pipe it was given.
        self.assertTrue(pipe.closed)
        self.assertEqual(proto.misuse, [])

    def test_eof_received_returning_true_still_closes(self):
        r, w = self.pipe()
        proto = Recorder(self.loop, eof_result=True)
        tr, _ = self.read_pipe(self.fileobj(r, 'rb'), proto)
        self.close_now(w)
        self.assertIsNone(self.run_coro(proto.lost))
        self.assertEqual(proto.events, ['made', 'eof', 'lost'])

    def test_large_data_arrives_intact(self):
        r, w = self.pipe()
        tr, proto = self.read_pipe(self.fileobj(r, 'rb'))
        data = payload(4 * MiB)

        def writer():
            with open(w, 'wb', closefd=False) as f:
                f.write(data)
            self.close_now(w)

        self.start_thread(writer)
        self.run_coro(proto.lost)
        self.assertEqual(len(proto.data), len(data))
        self.assertEqual(bytes(proto.data), data)

    def test_pipe_is_made_non_blocking(self):
        r, w = self.pipe()
        self.assertTrue(os.get_blocking(r))
        self.read_pipe(self.fileobj(r, 'rb'))
        self.assertFalse(os.get_blocking(r))

    def test_get_extra_info_pipe(self):
        r, w = self.pipe()
        pipe = self.fileobj(r, 'rb')
        tr, _ = self.read_pipe(pipe)
        self.assertIs(tr.get_extra_info('pipe'), pipe)
        self.assertIsNone(tr.get_extra_info('no such key'))
        self.assertEqual(tr.get_extra_info('no such key', 7), 7)

    def test_pause_reading_stops_data_until_resume(self):
        r, w = self.pipe()
        tr, proto = self.read_pipe(self.fileobj(r, 'rb'))
        self.assertTrue(tr.is_reading())
        tr.pause_reading()
        self.assertFalse(tr.is_reading())
        os.write(w, b'held back')
        self.run_stopping_after(0.05)
        self.assertEqual(proto.data_calls, 0)
        tr.resume_reading()
        self.assertTrue(tr.is_reading())
        self.run_until(lambda: bytes(proto.data) == b'held back')

    def test_pause_and_resume_are_idempotent(self):
        r, w = self.pipe()
        tr, proto = self.read_pipe(self.fileobj(r, 'rb'))
        tr.resume_reading()  # not paused: nothing happens
        tr.pause_reading()
        tr.pause_reading()
        self.assertFalse(tr.is_reading())
        tr.resume_reading()
        tr.resume_reading()
        os.write(w, b'once')
        self.run_until(lambda: bytes(proto.data) == b'once')

    def test_eof_is_held_back_while_paused(self):
        r, w = self.pipe()
        tr, proto = self.read_pipe(self.fileobj(r, 'rb'))
        tr.pause_reading()
        self.close_now(w)
        self.run_stopping_after(0.05)
        self.assertEqual(proto.events, ['made'])
        tr.resume_reading()
        self.run_coro(proto.lost)
        self.assertEqual(proto.events, ['made', 'eof', 'lost'])

    def test_close_calls_connection_lost_none(self):
        r, w = self.pipe()
        pipe = self.fileobj(r, 'rb')
        tr, proto = self.read_pipe(pipe)
        tr.close()
        self.assertTrue(tr.is_closing())
        self.assertFalse(tr.is_reading())
        self.assertFalse(proto.lost.done())
        self.assertIsNone(self.run_coro(proto.lost))
        self.assertEqual(proto.events, ['made', 'lost'])
        self.assertTrue(pipe.closed)

    def test_close_twice_and_pause_after_close(self):
        r, w = self.pipe()
        tr, proto = self.read_pipe(self.fileobj(r, 'rb'))
        tr.close()
        tr.close()
        tr.pause_reading()
        tr.resume_reading()
        self.run_coro(proto.lost)
        self.run_briefly(2)
        self.assertEqual(proto.events, ['made', 'lost'])
        self.assertEqual(proto.misuse, [])

    def test_no_data_after_close(self):
        r, w = self.pipe()
        tr, proto = self.read_pipe(self.fileobj(r, 'rb'))
        os.write(w, b'unread')
        tr.close()
        self.run_coro(proto.lost)
        self.assertEqual(proto.data_calls, 0)

    def test_set_protocol(self):
        r, w = self.pipe()
        tr, proto = self.read_pipe(self.fileobj(r, 'rb'))
        other = Recorder(self.loop)
        other.transport = tr
        tr.set_protocol(other)
        self.assertIs(tr.get_protocol(), other)
        os.write(w, b'to the other')
        self.run_until(lambda: bytes(other.data) == b'to the other')
        self.assertEqual(proto.data_calls, 0)

    def test_fifo(self):
        r, w = self.fifo()
        tr, proto = self.read_pipe(self.fileobj(r, 'rb'))
        os.write(w, b'fifo data')
        self.run_until(lambda: bytes(proto.data) == b'fifo data')
        self.close_now(w)
        self.assertIsNone(self.run_coro(proto.lost))
        self.assertEqual(proto.events, ['made', 'eof', 'lost'])

    def test_socketpair(self):
        a, b = socket.socketpair()
        self.addCleanup(b.close)
        tr, proto = self.read_pipe(a)
        b.sendall(b'socket as a pipe')
        self.run_until(lambda: bytes(proto.data) == b'socket as a pipe')
        b.shutdown(socket.SHUT_WR)
        self.assertIsNone(self.run_coro(proto.lost))
        self.assertEqual(proto.events, ['made', 'eof', 'lost'])
        self.assertEqual(a.fileno(), -1)

    def test_pty(self):
        master, slave = self.pty()
        tr, proto = self.read_pipe(self.fileobj(master, 'rb'))
        os.write(slave, b'from the terminal')
        self.run_until(lambda: bytes(proto.data) == b'from the terminal')

    def test_pty_whose_other_side_closes_loses_the_connection_with_eio(self):
        # Reading a pty master after its slave is gone fails with EIO;
        # asyncio treats that as the end (no eof_received, no error
        # reported to the exception handler).
        master, slave = self.pty()
        tr, proto = self.read_pipe(self.fileobj(master, 'rb'))
        os.write(slave, b'bye')
        self.run_until(lambda: bytes(proto.data) == b'bye')
        self.close_now(slave)
        exc = self.run_coro(proto.lost)
        self.assertIsInstance(exc, OSError)
        self.assertEqual(exc.errno, errno.EIO)
        self.assertEqual(proto.events, ['made', 'lost'])

    def test_regular_file_is_refused(self):
        f = self.regular_file()
        made = []
        with self.assertRaises(ValueError) as cm:
            self.run_coro(self.loop.connect_read_pipe(
                lambda: made.append(1) or Recorder(self.loop), f))
        self.assertEqual(str(cm.exception),
                         'Pipe transport is for pipes/sockets only.')
        self.assertFalse(f.closed)

    def test_directory_is_refused(self):
        fd, = self.own(os.open(tempfile.gettempdir(), os.O_RDONLY))

        class DirectoryPipe:
            def fileno(self):
                return fd

            def close(self):
                pass

        f = DirectoryPipe()
        with self.assertRaises(ValueError):
            self.run_coro(self.loop.connect_read_pipe(
                lambda: Recorder(self.loop), f))

    def test_write_end_of_a_pipe_reads_nothing_until_closed(self):
        r, w = self.pipe()
        tr, proto = self.read_pipe(self.fileobj(r, 'rb'))
        self.run_stopping_after(0.05)
        self.assertEqual(proto.events, ['made'])


# -- connect_write_pipe -------------------------------------------------------------

class WritePipeTests(PipeTestCase):

    def test_transport_is_an_asyncio_write_transport(self):
        r, w = self.pipe()
        tr, proto = self.write_pipe(self.fileobj(w, 'wb'))
        self.assertIsInstance(tr, asyncio.WriteTransport)
        self.assertTrue(tr.can_write_eof())
        self.assertEqual(proto.events, ['made'])

    @support.aioev_only
    def test_transport_is_aioev_native(self):
        from asyncio import unix_events
        r, w = self.pipe()
        tr, _ = self.write_pipe(self.fileobj(w, 'wb'))
        self.assertNotIsInstance(tr, unix_events._UnixWritePipeTransport)
        self.assertTrue(type(tr).__module__.startswith('aioev'),
                        type(tr).__module__)

    def test_write_reaches_the_reader(self):
        r, w = self.pipe()
        tr, _ = self.write_pipe(self.fileobj(w, 'wb'))
        tr.write(b'hello ')
        tr.writelines([b'pipe', bytearray(b' and'), memoryview(b' more')])
        self.assertEqual(self.read_fd(r, 19), b'hello pipe and more')
        self.assertEqual(tr.get_write_buffer_size(), 0)

    def test_write_is_immediate_when_the_pipe_has_room(self):
        r, w = self.pipe()
        tr, _ = self.write_pipe(self.fileobj(w, 'wb'))
        tr.write(b'now')
        self.assertEqual(os.read(r, 10), b'now')

    def test_write_of_nothing_does_nothing(self):
        r, w = self.pipe()
        tr, _ = self.write_pipe(self.fileobj(w, 'wb'))
        tr.write(b'')
        self.assertEqual(tr.get_write_buffer_size(), 0)
        tr.write(b'x')
        self.assertEqual(self.read_fd(r, 1), b'x')

    def test_get_extra_info_pipe(self):
        r, w = self.pipe()
        pipe = self.fileobj(w, 'wb')
        tr, _ = self.write_pipe(pipe)
        self.assertIs(tr.get_extra_info('pipe'), pipe)
        self.assertFalse(os.get_blocking(w))

    def test_large_write_is_buffered_and_flushed(self):
        r, w = self.pipe()
        tr, proto = self.write_pipe(self.fileobj(w, 'wb'))
        data = payload(3 * MiB)
        tr.write(data)
        self.assertGreater(tr.get_write_buffer_size(), 0)
        self.assertLessEqual(tr.get_write_buffer_size(), len(data))
        self.assertEqual(self.read_fd(r, len(data)), data)
        self.run_until(lambda: tr.get_write_buffer_size() == 0)

    def test_buffered_bytearray_is_copied(self):
        r, w = self.small_pipe()
        tr, _ = self.write_pipe(self.fileobj(w, 'wb'))
        tr.write(b'x' * SMALL_PIPE)
        data = bytearray(b'original')
        tr.write(data)
        self.assertEqual(tr.get_write_buffer_size(), len(data))
        data[:] = b'modified'
        got = self.read_fd(r, SMALL_PIPE + 8)
        self.assertEqual(got[-8:], b'original')

    def test_pause_and_resume_writing(self):
        r, w = self.small_pipe()
        tr, proto = self.write_pipe(self.fileobj(w, 'wb'))
        self.assertEqual(tr.get_write_buffer_limits(),
                         (DEFAULT_LOW_WATER, DEFAULT_HIGH_WATER))
        written = self.fill_write_pipe(tr, proto)
        self.assertEqual(proto.events, ['made', 'pause'])
        size = proto.pause_sizes[0]
        self.assertGreater(size, DEFAULT_HIGH_WATER)
        self.assertLessEqual(size - KiB, DEFAULT_HIGH_WATER)
        self.assertEqual(tr.get_write_buffer_size(), size)
        self.assertEqual(self.read_fd(r, len(written)), written)
        self.run_until(lambda: 'resume' in proto.events)
        self.assertEqual(proto.events, ['made', 'pause', 'resume'])
        self.assertLessEqual(proto.resume_sizes[0], DEFAULT_LOW_WATER)
        self.assertEqual(proto.misuse, [])

    def test_resume_writing_waits_for_the_buffer_to_drain(self):
        # Unlike the socket transport, which resumes its protocol as soon
        # as a send leaves no more than the low-water mark, the write pipe
        # resumes it only once its buffer is empty.
        r, w = self.small_pipe()
        tr, proto = self.write_pipe(self.fileobj(w, 'wb'))
        written = self.fill_write_pipe(tr, proto)
        self.assertGreater(len(written) - SMALL_PIPE, DEFAULT_LOW_WATER + SMALL_PIPE)
        self.assertEqual(self.read_fd(r, len(written)), written)
        self.run_until(lambda: 'resume' in proto.events)
        self.assertEqual(proto.resume_sizes, [0])

    def test_resume_writing_may_write_more(self):
        tail = payload(100 * KiB, seed=99)

        class Writer(Recorder):
            def resume_writing(self):
                super().resume_writing()
                if self.events.count('resume') == 1:
                    self.transport.write(tail)

        r, w = self.small_pipe()
        proto = Writer(self.loop)
        tr, _ = self.write_pipe(self.fileobj(w, 'wb'), proto)
        written = self.fill_write_pipe(tr, proto)
        self.assertEqual(self.read_fd(r, len(written) + len(tail)), written + tail)
        self.run_until(lambda: tr.get_write_buffer_size() == 0)
        tr.close()
        self.assertIsNone(self.run_coro(proto.lost))
        self.assertEqual(self.read_fd_to_eof(r), b'')
        self.assertEqual(proto.misuse, [])

    def test_drained_buffer_gives_its_memory_back(self):
        r, w = self.small_pipe()
        tr, proto = self.write_pipe(self.fileobj(w, 'wb'))
        tr.set_write_buffer_limits(high=64 * MiB)
        data = payload(4 * MiB)
        tracemalloc.start()
        self.addCleanup(tracemalloc.stop)
        before = tracemalloc.get_traced_memory()[0]
        tr.write(data)
        self.assertGreater(tracemalloc.get_traced_memory()[0] - before, 2 * MiB)
        os.set_blocking(r, False)
        left = [len(data)]

        def drained():
            try:
                while left[0]:
                    left[0] -= len(os.read(r, 1 << 16))
            except BlockingIOError:
                pass
            return left[0] == 0 and tr.get_write_buffer_size() == 0

        self.run_until(drained)
        self.assertLess(tracemalloc.get_traced_memory()[0] - before, MiB)

    def test_set_write_buffer_limits(self):
        r, w = self.small_pipe()
        tr, proto = self.write_pipe(self.fileobj(w, 'wb'))
        tr.set_write_buffer_limits(high=8 * KiB, low=2 * KiB)
        self.assertEqual(tr.get_write_buffer_limits(), (2 * KiB, 8 * KiB))
        written = self.fill_write_pipe(tr, proto)
        self.assertGreater(proto.pause_sizes[0], 8 * KiB)
        self.assertLessEqual(proto.pause_sizes[0], 9 * KiB)
        self.read_fd(r, len(written))
        self.run_until(lambda: 'resume' in proto.events)
        self.assertLessEqual(proto.resume_sizes[0], 2 * KiB)
        with self.assertRaises(ValueError):
            tr.set_write_buffer_limits(high=1, low=2)

    def test_write_eof_closes_once_flushed(self):
        r, w = self.small_pipe()
        pipe = self.fileobj(w, 'wb')
        tr, proto = self.write_pipe(pipe)
        data = payload(64 * KiB)
        tr.write(data)
        tr.write_eof()
        self.assertTrue(tr.is_closing())
        self.run_briefly(3)
        self.assertFalse(proto.lost.done())
        self.assertEqual(self.read_fd_to_eof(r), data)
        self.assertIsNone(self.run_coro(proto.lost))
        self.assertTrue(pipe.closed)

    def test_write_eof_with_nothing_buffered(self):
        r, w = self.pipe()
        tr, proto = self.write_pipe(self.fileobj(w, 'wb'))
        tr.write(b'short')
        tr.write_eof()
        self.assertIsNone(self.run_coro(proto.lost))
        self.assertEqual(self.read_fd_to_eof(r), b'short')
        self.assertEqual(proto.events, ['made', 'lost'])

    def test_close_flushes_then_loses_the_connection(self):
        r, w = self.small_pipe()
        tr, proto = self.write_pipe(self.fileobj(w, 'wb'))
        data = payload(200 * KiB)
        tr.write(data)
        tr.close()
        self.assertTrue(tr.is_closing())
        # Closing is the write pipe's write_eof: a write now is dropped
        # (the socket transport would still send it).
        size = tr.get_write_buffer_size()
        tr.write(b'late')
        self.assertEqual(tr.get_write_buffer_size(), size)
        self.assertEqual(self.read_fd_to_eof(r), data)
        self.assertIsNone(self.run_coro(proto.lost))
        self.assertEqual(proto.events.count('lost'), 1)

    def test_abort_drops_what_is_buffered(self):
        r, w = self.small_pipe()
        tr, proto = self.write_pipe(self.fileobj(w, 'wb'))
        tr.write(payload(200 * KiB))
        tr.abort()
        self.assertTrue(tr.is_closing())
        self.assertIsNone(self.run_coro(proto.lost))
        got = self.read_fd_to_eof(r)
        self.assertEqual(len(got), SMALL_PIPE)

    def test_write_after_close_is_ignored(self):
        r, w = self.pipe()
        tr, proto = self.write_pipe(self.fileobj(w, 'wb'))
        tr.close()
        tr.write(b'too late')
        self.run_coro(proto.lost)
        tr.write(b'much too late')
        self.assertEqual(self.read_fd_to_eof(r), b'')

    def test_write_of_text_fails_asyncios_assertion(self):
        r, w = self.pipe()
        tr, _ = self.write_pipe(self.fileobj(w, 'wb'))
        with self.assertRaises(AssertionError):
            tr.write('text')
        self.assertEqual(tr.get_write_buffer_size(), 0)

    def test_close_twice(self):
        r, w = self.pipe()
        tr, proto = self.write_pipe(self.fileobj(w, 'wb'))
        tr.close()
        tr.close()
        tr.write_eof()
        self.run_coro(proto.lost)
        self.run_briefly(2)
        self.assertEqual(proto.events, ['made', 'lost'])

    # The reader goes away -----------------------------------------------------

    def test_reader_gone_while_idle_loses_the_connection_with_none(self):
        r, w = self.pipe()
        tr, proto = self.write_pipe(self.fileobj(w, 'wb'))
        tr.write(b'read me')
        self.assertEqual(os.read(r, 100), b'read me')
        self.close_now(r)
        self.assertIsNone(self.run_coro(proto.lost))
        self.assertTrue(tr.is_closing())
        self.assertEqual(proto.events, ['made', 'lost'])

    def test_reader_gone_with_data_buffered_gives_broken_pipe(self):
        r, w = self.small_pipe()
        tr, proto = self.write_pipe(self.fileobj(w, 'wb'))
        tr.write(payload(100 * KiB))
        self.assertGreater(tr.get_write_buffer_size(), 0)
        self.close_now(r)
        exc = self.run_coro(proto.lost)
        self.assertIsInstance(exc, BrokenPipeError)
        self.assertEqual(proto.misuse, [])

    def test_write_to_a_pipe_whose_reader_has_gone(self):
        # The write happens before the loop notices the reader went away.
        errors = self.collect_errors()
        r, w = self.pipe()
        tr, proto = self.write_pipe(self.fileobj(w, 'wb'))
        self.close_now(r)
        tr.write(b'into the void')
        exc = self.run_coro(proto.lost)
        self.assertIsInstance(exc, BrokenPipeError)
        self.assertTrue(tr.is_closing())
        # An OSError is not reported to the exception handler.
        self.assertEqual(errors, [])
        # Later writes are dropped, not raised; from the sixth on, asyncio's
        # pipe transport logs its own warning.
        with self.assertLogs('asyncio', logging.WARNING) as cm:
            for _ in range(10):
                tr.write(b'more')
        self.assertTrue(any('pipe closed by peer or os.write(pipe, data) raised exception.'
                            in m for m in cm.output), cm.output)
        self.run_briefly(2)
        self.assertEqual(proto.events.count('lost'), 1)

    def test_fifo_reader_gone(self):
        r, w = self.fifo()
        tr, proto = self.write_pipe(self.fileobj(w, 'wb'))
        tr.write(b'fifo')
        self.assertEqual(self.read_fd(r, 4), b'fifo')
        self.close_now(r)
        self.assertIsNone(self.run_coro(proto.lost))

    def test_socketpair(self):
        a, b = socket.socketpair()
        self.addCleanup(b.close)
        tr, proto = self.write_pipe(a)
        tr.write(b'over a socket')
        b.settimeout(10)
        self.assertEqual(b.recv(100), b'over a socket')
        b.close()
        self.assertIsNone(self.run_coro(proto.lost))
        self.assertEqual(a.fileno(), -1)

    def test_pty(self):
        master, slave = self.pty()
        tr, proto = self.write_pipe(self.fileobj(slave, 'wb'))
        tr.write(b'to the terminal')
        self.assertEqual(self.read_fd(master, 15), b'to the terminal')
        tr.close()
        self.assertIsNone(self.run_coro(proto.lost))

    def test_character_device(self):
        f = open(os.devnull, 'wb', buffering=0)
        self.addCleanup(f.close)
        tr, proto = self.write_pipe(f)
        tr.write(payload(MiB))
        self.assertEqual(tr.get_write_buffer_size(), 0)
        tr.close()
        self.assertIsNone(self.run_coro(proto.lost))
        self.assertTrue(f.closed)

    def test_regular_file_is_refused(self):
        f = self.regular_file()
        with self.assertRaises(ValueError) as cm:
            self.run_coro(self.loop.connect_write_pipe(
                lambda: Recorder(self.loop), f))
        self.assertEqual(
            str(cm.exception),
            'Pipe transport is only for pipes, sockets and character devices')
        self.assertFalse(f.closed)


class PipePairTests(PipeTestCase):
    """A write pipe transport feeding a read pipe transport on one loop."""

    def test_write_transport_to_read_transport(self):
        r, w = self.small_pipe()
        rtr, reader = self.read_pipe(self.fileobj(r, 'rb'))
        wtr, writer = self.write_pipe(self.fileobj(w, 'wb'))
        data = payload(2 * MiB)
        wtr.write(data)
        wtr.write_eof()
        self.assertIsNone(self.run_coro(reader.lost))
        self.assertEqual(bytes(reader.data), data)
        self.assertEqual(reader.events, ['made', 'eof', 'lost'])
        self.assertIsNone(self.run_coro(writer.lost))

    def test_paused_reader_pauses_the_writer(self):
        r, w = self.small_pipe()
        rtr, reader = self.read_pipe(self.fileobj(r, 'rb'))
        wtr, writer = self.write_pipe(self.fileobj(w, 'wb'))
        rtr.pause_reading()
        written = self.fill_write_pipe(wtr, writer)
        self.assertTrue(writer.paused)
        rtr.resume_reading()
        self.run_until(lambda: 'resume' in writer.events)
        wtr.close()
        self.run_coro(reader.lost)
        self.assertEqual(bytes(reader.data), written)

    def test_closing_the_reader_transport_ends_the_writer(self):
        r, w = self.pipe()
        rtr, reader = self.read_pipe(self.fileobj(r, 'rb'))
        wtr, writer = self.write_pipe(self.fileobj(w, 'wb'))
        rtr.close()
        self.run_coro(reader.lost)
        self.assertIsNone(self.run_coro(writer.lost))


class ThreadedWriterTests(PipeTestCase):

    def test_reader_on_a_worker_thread_loop(self):
        r, w = self.pipe()
        result = {}

        def worker():
            loop = support.new_event_loop()
            try:
                async def main():
                    proto = Recorder(loop)
                    await loop.connect_read_pipe(
                        lambda: proto, open(r, 'rb', buffering=0))
                    return await proto.lost, bytes(proto.data)
                result['value'] = loop.run_until_complete(
                    asyncio.wait_for(main(), 10))
            except BaseException as exc:  # reported below
                result['error'] = exc
            finally:
                loop.close()

        t = threading.Thread(target=worker)
        t.start()
        os.write(w, b'to the thread')
        self.close_now(w)
        t.join(15)
        self.assertFalse(t.is_alive())
        self.assertNotIn('error', result)
        self.assertEqual(result['value'], (None, b'to the thread'))


if __name__ == '__main__':
    unittest.main()
