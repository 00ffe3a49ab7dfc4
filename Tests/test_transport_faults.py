"""Faults and scale for the socket transports: peer resets, writes after
close, half-close both ways, a 100 MB payload, 1,000 concurrent
connections, a reader that stops reading, EMFILE on accept, a protocol
that raises in every callback."""

import asyncio
import gc
import hashlib
import logging
import os
import random
import select
import socket
import time
import unittest
import weakref

from . import support
from .net_support import (
    HOST, KiB, MiB, DEFAULT_HIGH_WATER, Boom, BufferedRecorder, Echo,
    NetTestCase, Recorder, nofile_limit, payload, raise_nofile_limit)

try:
    import resource
except ImportError:  # pragma: no cover
    resource = None


def setUpModule():
    raise_nofile_limit()


class PeerResetTests(NetTestCase):

    def test_peer_reset_while_writing(self):
        proto = self.new_recorder()
        tr, peer = self.connect_raw_small(proto)
        tr.set_write_buffer_limits(high=64 * MiB)
        tr.write(payload(8 * MiB))
        self.assertGreater(tr.get_write_buffer_size(), 0)
        self.peer_read(peer, 64 * KiB)
        self.set_linger_zero(peer)
        peer.close()
        exc = self.run_coro(proto.lost)
        # Which error the kernel reports depends on whether the reset
        # meets a send or a recv first; OSErrors never reach the handler
        # (LoopTestCase would fail the test).
        self.assertIsInstance(exc, (ConnectionResetError, BrokenPipeError))
        self.assertEqual(proto.lost_count, 1)
        self.assertTrue(tr.is_closing())
        self.assertEqual(tr.get_write_buffer_size(), 0)
        self.assert_no_misuse(proto)

    def test_peer_reset_while_streaming_with_flow_control(self):
        loop = self.loop
        chunk = payload(32 * KiB)

        class Writer(Recorder):
            def pump(self):
                if self.paused or 'lost' in self.events:
                    return
                self.transport.write(chunk)
                loop.call_soon(self.pump)

            def connection_made(self, transport):
                super().connection_made(transport)
                loop.call_soon(self.pump)

            def resume_writing(self):
                super().resume_writing()
                loop.call_soon(self.pump)

        proto = Writer(loop)
        tr, peer = self.connect_raw(proto)
        self.peer_read(peer, 1 * MiB)
        self.set_linger_zero(peer)
        peer.close()
        exc = self.run_coro(proto.lost)
        self.assertIsInstance(exc, (ConnectionResetError, BrokenPipeError))
        self.run_briefly(5)
        self.assertEqual(proto.lost_count, 1)
        self.assert_no_misuse(proto)

    def test_writes_after_reset_are_dropped_then_logged(self):
        proto = self.new_recorder()
        tr, peer = self.connect_raw(proto)
        self.set_linger_zero(peer)
        peer.close()
        self.run_coro(proto.lost)
        with self.assertLogs('asyncio', logging.WARNING) as cm:
            for _ in range(10):
                tr.write(b'into the void')  # never raises
        self.assertTrue(any('socket.send() raised exception' in m
                            for m in cm.output), cm.output)
        self.assertEqual(tr.get_write_buffer_size(), 0)

    def test_write_after_close_while_flushing_does_not_raise(self):
        # (asyncio still queues such a write while the buffer drains, so
        # whether it goes out is not checked.)
        proto = self.new_recorder()
        tr, peer = self.connect_raw_small(proto)
        data = payload(1 * MiB)
        tr.write(data)
        tr.close()
        tr.write(b'late')
        self.assertTrue(self.peer_read_to_eof(peer).startswith(data))
        self.assertIsNone(self.run_coro(proto.lost))
        self.assertEqual(proto.lost_count, 1)

    def test_reset_while_reading_buffered_protocol(self):
        proto = BufferedRecorder(self.loop)
        tr, peer = self.connect_raw(proto)
        peer.sendall(b'partial')
        self.run_until(lambda: bytes(proto.data) == b'partial')
        self.set_linger_zero(peer)
        peer.close()
        self.assertIsInstance(self.run_coro(proto.lost),
                              ConnectionResetError)
        self.assert_no_misuse(proto)


class HalfCloseTests(NetTestCase):

    def test_client_closes_its_side_first(self):
        client = self.new_recorder(eof_result=True)
        server = self.new_recorder(eof_result=True)
        tr, _, _ = self.connect_pair(client, server)
        tr.write(b'request')
        tr.write_eof()
        self.run_coro(server.eof)
        self.assertEqual(bytes(server.data), b'request')
        # The server still writes after the client's EOF.
        server.transport.write(b'response')
        server.transport.write_eof()
        self.run_coro(client.eof)
        self.assertEqual(bytes(client.data), b'response')
        self.assertNotIn('lost', client.events + server.events)
        tr.close()
        server.transport.close()
        self.assertIsNone(self.run_coro(client.lost))
        self.assertIsNone(self.run_coro(server.lost))
        self.assertEqual(client.events, ['made', 'eof', 'lost'])
        self.assertEqual(server.events, ['made', 'eof', 'lost'])

    def test_server_closes_its_side_first(self):
        client = self.new_recorder(eof_result=True)
        server = self.new_recorder(eof_result=True)
        tr, _, _ = self.connect_pair(client, server)
        server.transport.write(b'banner')
        server.transport.write_eof()
        self.run_coro(client.eof)
        self.assertEqual(bytes(client.data), b'banner')
        tr.write(b'late request')
        self.run_until(lambda: bytes(server.data) == b'late request')
        tr.write_eof()
        self.run_coro(server.eof)
        tr.close()
        server.transport.close()
        self.assertIsNone(self.run_coro(client.lost))
        self.assertIsNone(self.run_coro(server.lost))

    def test_both_sides_write_eof_at_once(self):
        client = self.new_recorder(eof_result=True)
        server = self.new_recorder(eof_result=True)
        tr, _, _ = self.connect_pair(client, server)
        tr.write(b'c' * 100000)
        server.transport.write(b's' * 100000)
        tr.write_eof()
        server.transport.write_eof()
        self.run_coro(client.eof)
        self.run_coro(server.eof)
        self.assertEqual(bytes(client.data), b's' * 100000)
        self.assertEqual(bytes(server.data), b'c' * 100000)
        tr.close()
        server.transport.close()
        self.run_coro(client.lost)
        self.run_coro(server.lost)
        self.assertEqual(client.lost_count, 1)
        self.assertEqual(server.lost_count, 1)

    def test_eof_with_default_protocol_closes_after_write_eof(self):
        # eof_received returning None closes the transport even after our
        # own write_eof.
        client = self.new_recorder()
        tr, peer = self.connect_raw(client)
        tr.write_eof()
        self.assertEqual(self.peer_read_to_eof(peer), b'')
        peer.shutdown(socket.SHUT_WR)
        self.assertIsNone(self.run_coro(client.lost))
        self.assertEqual(client.events, ['made', 'eof', 'lost'])


class LargePayloadTests(NetTestCase):

    SIZE = 100 * MiB
    CHUNK = 256 * KiB

    def stream(self, receiver):
        """Send SIZE bytes through one TCP connection from a writer that
        honours flow control to receiver; return (sent_digest,
        received_digest, received_bytes)."""
        loop = self.loop
        pool = os.urandom(4 * MiB)
        size, chunk = self.SIZE, self.CHUNK
        sent_hash = hashlib.sha256()

        class Writer(Recorder):
            sent = 0
            closing = False

            def pump(self):
                view = memoryview(pool)
                while not self.paused and self.sent < size:
                    n = min(chunk, size - self.sent)
                    start = (self.sent * 7) % (len(pool) - n)
                    piece = view[start:start + n]
                    sent_hash.update(piece)
                    self.transport.write(piece)
                    self.sent += n
                if self.sent >= size and not self.closing:
                    # Not from inside resume_writing: asyncio 3.12 then
                    # calls connection_lost twice.
                    self.closing = True
                    loop.call_soon(self.transport.close)

            def connection_made(self, transport):
                super().connection_made(transport)
                loop.call_soon(self.pump)

            def resume_writing(self):
                super().resume_writing()
                self.pump()

        writer = Writer(loop)
        tr, _, _ = self.connect_pair(writer, receiver)
        self.run_coro(receiver.lost, timeout=120)
        self.assertIsNone(receiver.lost_exc)
        self.assertIsNone(self.run_coro(writer.lost))
        self.assertGreater(writer.events.count('pause'), 0)
        return sent_hash.hexdigest(), receiver.digest(), receiver.nbytes

    def test_100_mb_through_one_connection(self):
        class Receiver(Recorder):
            nbytes = 0
            h = None

            def data_received(self, data):
                if self.h is None:
                    self.h = hashlib.sha256()
                self.h.update(data)
                self.nbytes += len(data)

            def digest(self):
                return self.h.hexdigest()

        t0 = time.monotonic()
        sent, got, n = self.stream(Receiver(self.loop))
        self.assertEqual(n, self.SIZE)
        self.assertEqual(got, sent)
        support.record(f'100 MB through one TCP connection (Protocol): '
                       f'{time.monotonic() - t0:.2f} s')

    def test_100_mb_into_a_buffered_protocol(self):
        class Receiver(BufferedRecorder):
            nbytes = 0

            def __init__(self, loop):
                super().__init__(loop, buffer_size=256 * KiB,
                                 buffer_type=memoryview)
                self.h = hashlib.sha256()

            def buffer_updated(self, nbytes):
                self.h.update(memoryview(self.buffer)[:nbytes])
                self.nbytes += nbytes

            def digest(self):
                return self.h.hexdigest()

            lost_count = property(lambda self: self.events.count('lost'))

        t0 = time.monotonic()
        sent, got, n = self.stream(Receiver(self.loop))
        self.assertEqual(n, self.SIZE)
        self.assertEqual(got, sent)
        support.record(f'100 MB through one TCP connection '
                       f'(BufferedProtocol): {time.monotonic() - t0:.2f} s')


class ManyConnectionsTests(NetTestCase):

    CONNECTIONS = 1000

    def test_1000_concurrent_echo_connections(self):
        limit = nofile_limit()
        needed = 2 * self.CONNECTIONS + 100
        if limit is not None and limit < needed:
            self.skipTest(f'RLIMIT_NOFILE {limit} < {needed}')
        loop = self.loop
        live = []
        server = self.tcp_server(lambda: Echo(live), backlog=self.CONNECTIONS)
        addr = self.server_addr(server)
        rng = random.Random(1234)
        payloads = [os.urandom(rng.randint(1, 32 * KiB))
                    for _ in range(self.CONNECTIONS)]

        class Client(asyncio.Protocol):
            def __init__(self, expected):
                self.expected = expected
                self.got = bytearray()
                self.done = loop.create_future()
                self.lost = loop.create_future()

            def connection_made(self, transport):
                self.transport = transport
                transport.write(self.expected)

            def data_received(self, data):
                self.got += data
                if len(self.got) >= len(self.expected) and \
                        not self.done.done():
                    self.done.set_result(None)

            def connection_lost(self, exc):
                self.lost.set_result(exc)
                if not self.done.done():
                    self.done.set_exception(
                        exc or ConnectionError('closed early'))

        async def one(data):
            tr, proto = await loop.create_connection(lambda: Client(data),
                                                     *addr)
            await proto.done
            tr.close()
            await proto.lost
            return bytes(proto.got) == data

        async def main():
            results = await asyncio.gather(*(one(p) for p in payloads))
            return results

        t0 = time.monotonic()
        results = self.run_coro(main(), timeout=120)
        self.assertEqual(len(results), self.CONNECTIONS)
        self.assertTrue(all(results),
                        f'{results.count(False)} connections corrupted')
        self.run_until(lambda: not live, timeout=30)
        support.record(f'{self.CONNECTIONS} concurrent echo connections: '
                       f'{time.monotonic() - t0:.2f} s')

    def test_no_transport_outlives_its_connection(self):
        # After 200 echo connections are closed and collected, no transport
        # object (client or server side) is left.
        loop = self.loop
        transports = weakref.WeakSet()
        live = []

        class TrackedEcho(Echo):
            def connection_made(self, transport):
                transports.add(transport)
                super().connection_made(transport)

        server = self.tcp_server(lambda: TrackedEcho(live), backlog=256)
        addr = self.server_addr(server)

        async def one(i):
            reader, writer = await asyncio.open_connection(*addr)
            transports.add(writer.transport)
            data = payload(1000 + i, seed=i)
            writer.write(data)
            ok = await reader.readexactly(len(data)) == data
            writer.close()
            await writer.wait_closed()
            return ok

        async def main():
            return await asyncio.gather(*(one(i) for i in range(200)))

        self.assertTrue(all(self.run_coro(main(), timeout=60)))
        self.run_until(lambda: not live)
        self.run_briefly(5)
        gc.collect()
        gc.collect()
        self.assertEqual(len(transports), 0,
                         f'{len(transports)} transports still alive')

    def test_many_connections_accepted_in_bursts(self):
        # 300 connections wait in the backlog before the loop runs: all are
        # accepted and each gets its own transport and protocol.
        limit = nofile_limit()
        if limit is not None and limit < 700:
            self.skipTest(f'RLIMIT_NOFILE {limit} too low')
        made = []

        def factory():
            p = Recorder(self.loop)
            made.append(p)
            return p

        server = self.tcp_server(factory, backlog=512)
        clients = []
        for i in range(300):
            c = socket.create_connection(self.server_addr(server), timeout=5)
            self.addCleanup(c.close)
            c.sendall(b'%d' % i)
            clients.append(c)
        self.run_until(lambda: len(made) == 300 and
                       all(p.data for p in made), timeout=30)
        self.assertEqual(sorted(bytes(p.data) for p in made),
                         sorted(b'%d' % i for i in range(300)))
        peers = {p.transport.get_extra_info('peername') for p in made}
        self.assertEqual(peers, {c.getsockname() for c in clients})
        for p in made:
            p.transport.close()
        self.run_until(lambda: all(p.lost.done() for p in made))


class StoppedReaderTests(NetTestCase):

    def test_write_buffer_stops_growing_at_the_limit(self):
        # A producer that writes a chunk per loop iteration while not
        # paused: with the peer not reading, its buffer stays at about the
        # high-water mark instead of growing.
        loop = self.loop
        chunk = payload(16 * KiB, seed=3)
        total = 4 * MiB

        class Producer(Recorder):
            sent = 0
            h = hashlib.sha256()

            def pump(self):
                if self.transport.is_closing():
                    return
                if not self.paused and self.sent < total:
                    self.transport.write(chunk)
                    self.h.update(chunk)
                    self.sent += len(chunk)
                loop.call_soon(self.pump)

            def connection_made(self, transport):
                super().connection_made(transport)
                loop.call_soon(self.pump)

        producer = Producer(loop)
        reader = self.new_recorder()
        tr, _, _ = self.connect_pair(producer, reader)
        reader.transport.pause_reading()
        self.run_until(lambda: producer.paused, timeout=30)
        self.run_stopping_after(0.1)
        size = tr.get_write_buffer_size()
        sent = producer.sent
        self.run_stopping_after(0.2)
        self.assertTrue(producer.paused)
        self.assertEqual(tr.get_write_buffer_size(), size)
        self.assertEqual(producer.sent, sent)
        self.assertGreater(size, DEFAULT_HIGH_WATER)
        self.assertLessEqual(size, DEFAULT_HIGH_WATER + len(chunk))
        self.assertLess(sent, total)
        # The reader comes back: everything arrives, in order.
        reader.transport.resume_reading()
        self.run_until(lambda: len(reader.data) >= total, timeout=30)
        self.assertEqual(hashlib.sha256(reader.data).hexdigest(),
                         producer.h.hexdigest())
        self.assertEqual(producer.events.count('pause'),
                         producer.events.count('resume'))
        self.assert_no_misuse(producer, reader)

    def test_ignoring_pause_writing_grows_the_buffer(self):
        # The limit is advisory: a protocol that ignores pause_writing can
        # queue past it, and nothing is lost.
        proto = self.new_recorder()
        tr, peer = self.connect_raw_small(proto)
        data = payload(4 * MiB, seed=4)
        for i in range(0, len(data), 64 * KiB):
            tr.write(data[i:i + 64 * KiB])
        self.assertTrue(proto.paused)
        self.assertGreater(tr.get_write_buffer_size(), 2 * MiB)
        self.assertEqual(self.peer_read(peer, len(data), timeout=30), data)


EMFILE_CHILD = r'''
import resource

async def main():
    loop = asyncio.get_running_loop()

    def handler(loop, context):
        exc = context.get('exception')
        print('HANDLER', type(exc).__name__, getattr(exc, 'errno', None),
              flush=True)

    loop.set_exception_handler(handler)

    class Echo(asyncio.Protocol):
        def connection_made(self, transport):
            self.transport = transport

        def data_received(self, data):
            self.transport.write(data)

    server = await loop.create_server(Echo, '127.0.0.1', 0, backlog=64)
    port = server.sockets[0].getsockname()[1]
    nfds = len(os.listdir('/proc/self/fd'))
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (nfds + 2, hard))
    print('PORT', port, flush=True)
    await asyncio.sleep(60)

loop = new_event_loop()
loop.run_until_complete(main())
'''


class EmfileTests(NetTestCase):

    def test_server_keeps_serving_after_emfile(self):
        if resource is None or not os.path.isdir('/proc/self/fd'):
            self.skipTest('needs resource and /proc')
        proc = support.start_child(EMFILE_CHILD)
        self.addCleanup(self._stop_child, proc)
        lines = []

        def read_line(timeout):
            r, _, _ = select.select([proc.stdout], [], [], timeout)
            if not r:
                return None
            line = proc.stdout.readline()
            if line:
                lines.append(line.strip())
            return line

        line = read_line(20)
        if not line or not line.startswith('PORT'):
            self.fail(f'child did not start: {line!r}\n'
                      f'{proc.stderr.read() if proc.poll() is not None else ""}')
        port = int(line.split()[1])
        clients = []
        for i in range(8):
            c = socket.create_connection((HOST, port), timeout=5)
            self.addCleanup(c.close)
            c.sendall(b'ping %d' % i)
            clients.append(c)
        pending = {c: b'ping %d' % i for i, c in enumerate(clients)}
        served_in_rounds = []
        deadline = time.monotonic() + 30
        while pending and time.monotonic() < deadline:
            r, _, _ = select.select(list(pending), [], [], 0.5)
            served = []
            for c in r:
                data = c.recv(100)
                self.assertEqual(data, pending[c])
                served.append(c)
            for c in served:
                del pending[c]
                c.close()  # frees the child's descriptor for the next one
            if served:
                served_in_rounds.append(len(served))
            while read_line(0) is not None:
                pass
        while read_line(0.1) is not None:
            pass
        self.assertIsNone(proc.poll(), f'child died: {lines}')
        self.assertEqual(pending, {},
                         f'{len(pending)} connections never served; '
                         f'child said {lines}')
        self.assertTrue(any(l.startswith('HANDLER') and ' 24' in l
                            for l in lines),
                        f'no EMFILE reported to the handler: {lines}')
        self.assertGreater(len(served_in_rounds), 1)

    @staticmethod
    def _stop_child(proc):
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)


class RaisingProtocolTests(NetTestCase):
    """A protocol that raises in every callback: each exception reaches the
    exception handler, the connections close, and the loop carries on."""

    class Raiser(asyncio.Protocol):
        def __init__(self, calls):
            self.calls = calls

        def _boom(self, name):
            self.calls.append(name)
            raise Boom(name)

        def connection_made(self, transport):
            self.transport = transport
            self._boom('connection_made')

        def data_received(self, data):
            self._boom('data_received')

        def eof_received(self):
            self._boom('eof_received')

        def pause_writing(self):
            self._boom('pause_writing')

        def resume_writing(self):
            self._boom('resume_writing')

        def connection_lost(self, exc):
            self._boom('connection_lost')

    class BufferedRaiser(asyncio.BufferedProtocol, Raiser):
        def __init__(self, calls, fail_in):
            super().__init__(calls)
            self.fail_in = fail_in
            self.buf = bytearray(100)

        def get_buffer(self, sizehint):
            if self.fail_in == 'get_buffer':
                self._boom('get_buffer')
            return self.buf

        def buffer_updated(self, nbytes):
            self._boom('buffer_updated')

    def handler_names(self, errors):
        names = []
        for ctx in errors:
            exc = ctx.get('exception')
            self.assertIsInstance(exc, Boom, ctx)
            names.append(exc.args[0])
        return names

    def test_protocol_raising_everywhere(self):
        errors = self.collect_errors()
        calls = []
        # 1: data arrives -> data_received raises -> closed.
        p1 = self.Raiser(calls)
        tr1, peer1 = self.connect_raw(p1)
        peer1.sendall(b'data')
        self.peer_sees_eof_or_reset(peer1)
        # 2: EOF arrives -> eof_received raises -> closed.
        p2 = self.Raiser(calls)
        tr2, peer2 = self.connect_raw(p2)
        peer2.shutdown(socket.SHUT_WR)
        self.peer_sees_eof_or_reset(peer2)
        # 3: the write buffer fills and drains -> pause/resume raise.
        p3 = self.Raiser(calls)
        tr3, peer3 = self.connect_raw_small(p3)
        tr3.write(payload(1 * MiB))
        self.peer_read(peer3, 1 * MiB)
        self.run_until(lambda: 'resume_writing' in calls)
        tr3.close()
        self.peer_sees_eof_or_reset(peer3)
        # 4, 5: BufferedProtocol's get_buffer and buffer_updated raise.
        p4 = self.BufferedRaiser(calls, 'get_buffer')
        tr4, peer4 = self.connect_raw(p4)
        peer4.sendall(b'data')
        self.peer_sees_eof_or_reset(peer4)
        p5 = self.BufferedRaiser(calls, 'buffer_updated')
        tr5, peer5 = self.connect_raw(p5)
        peer5.sendall(b'data')
        self.peer_sees_eof_or_reset(peer5)
        self.run_until(lambda: calls.count('connection_lost') == 5)
        self.run_briefly(5)

        for tr in (tr1, tr2, tr3, tr4, tr5):
            self.assertTrue(tr.is_closing())
        self.assertEqual(calls.count('connection_made'), 5)
        self.assertEqual(calls.count('connection_lost'), 5)
        for name in ('data_received', 'eof_received', 'pause_writing',
                     'resume_writing', 'get_buffer', 'buffer_updated'):
            self.assertEqual(calls.count(name), 1, (name, calls))
        # Every exception went to the handler, once.
        self.assertEqual(sorted(self.handler_names(errors)), sorted(calls))

        # The loop still serves a well-behaved connection.
        tr, client, server = self.connect_pair()
        tr.write(b'still alive')
        self.run_until(lambda: bytes(server.data) == b'still alive')

    def test_raising_server_protocols(self):
        errors = self.collect_errors()
        calls = []
        server = self.tcp_server(lambda: self.Raiser(calls))
        for i in range(5):
            c = socket.create_connection(self.server_addr(server))
            self.addCleanup(c.close)
            c.setblocking(False)
            c.send(b'x')
            self.peer_sees_eof_or_reset(c)
        self.run_until(lambda: calls.count('connection_lost') == 5)
        self.assertEqual(calls.count('connection_made'), 5)
        self.assertEqual(calls.count('data_received'), 5)
        self.assertEqual(sorted(self.handler_names(errors)), sorted(calls))
        self.assertTrue(server.is_serving())


class InterruptedIterationTests(NetTestCase):
    """A callback's KeyboardInterrupt ends an iteration with a transport's
    readiness still queued behind it. The socket is still ready when the
    loop runs again, so the next poll queues the transport a second time
    (asyncio queues its reader or writer handle again): nothing may be lost,
    delivered twice or reordered."""

    def interrupt_with_readiness_queued(self, ready_fd, readable):
        # The socket is ready before the poll that the interrupting
        # callback (queued first) forces to run without waiting.
        rlist, wlist = ([ready_fd], []) if readable else ([], [ready_fd])
        self.assertTrue(any(select.select(rlist, wlist, [], 10)))

        def interrupt():
            raise KeyboardInterrupt
        self.loop.call_soon(interrupt)
        with self.assertRaises(KeyboardInterrupt):
            self.loop.run_forever()

    def test_reading_resumes_after_an_interrupted_iteration(self):
        for buffered in (False, True):
            with self.subTest(buffered=buffered):
                proto = (BufferedRecorder(self.loop) if buffered
                         else self.new_recorder())
                tr, peer = self.connect_raw(proto)
                fd = tr.get_extra_info('socket').fileno()
                peer.send(b'first')
                self.interrupt_with_readiness_queued(fd, readable=True)
                self.run_briefly()
                self.assertEqual(bytes(proto.data), b'first')
                if buffered:
                    # Both entries ran: the second asked for a buffer and
                    # found nothing to read, as asyncio's second reader
                    # handle does.
                    self.assertEqual(len(proto.sizehints), 2)
                    self.assertEqual(proto.updates, [5])
                else:
                    self.assertEqual(proto.data_calls, 1)
                peer.send(b' second')
                self.run_until(lambda: bytes(proto.data) == b'first second')
                self.run_briefly(3)
                self.assertEqual(bytes(proto.data), b'first second')
                self.assert_no_misuse(proto)

    def test_writing_resumes_after_an_interrupted_iteration(self):
        proto = self.new_recorder()
        tr, peer = self.connect_raw_small(proto)
        data = payload(4 * MiB)
        tr.write(data)
        self.assertGreater(tr.get_write_buffer_size(), 0)
        got = bytearray()
        # Room in the socket again: its write readiness is what is queued.
        while True:
            try:
                chunk = peer.recv(1 * MiB)
            except BlockingIOError:
                break
            got += chunk
        fd = tr.get_extra_info('socket').fileno()
        self.interrupt_with_readiness_queued(fd, readable=False)
        got += self.peer_read(peer, len(data) - len(got))
        self.assertEqual(hashlib.sha256(got).digest(),
                         hashlib.sha256(data).digest())
        self.run_until(lambda: tr.get_write_buffer_size() == 0)
        self.assert_no_misuse(proto)


if __name__ == '__main__':
    unittest.main()
