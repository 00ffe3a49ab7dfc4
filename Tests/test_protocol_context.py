"""The contextvars context protocol callbacks run in.

asyncio's transports (3.11 to 3.13) capture no context of their own: a
callback runs in the context of the handle that calls it. So the reading
side (data_received, eof_received, get_buffer, buffer_updated,
datagram_received, error_received) runs in a copy of the context current
when the transport started reading (its creation, or the last
resume_reading()); resume_writing in a copy of the context of the write()
that first had to buffer; connection_lost in the context of whoever closed
the transport (the reading side itself after EOF). A callback's changes stay
in that copy. Every test passes with AIOEV_TEST_LOOP=asyncio.
"""

import asyncio
import contextvars
import os
import socket
import sys
import unittest

from .support import PY_VERSION, LoopTestCase
from .net_support import (
    HOST, client_tls_context, server_tls_context, unix_path)

cvar = contextvars.ContextVar('cvar', default='unset')


class ContextNotes:
    """Records (callback, cvar value) for every callback."""

    def __init__(self, loop):
        self.seen = []
        self.transport = None
        self.received = asyncio.Queue()
        self.lost = loop.create_future()

    def note(self, name):
        self.seen.append((name, cvar.get()))

    def values(self, name):
        return [value for callback, value in self.seen if callback == name]

    def connection_made(self, transport):
        self.transport = transport
        self.note('connection_made')

    def connection_lost(self, exc):
        self.note('connection_lost')
        self.lost.set_result(exc)


class ContextRecorder(ContextNotes, asyncio.Protocol):
    """data_received sets cvar, to show where that change is visible."""

    def data_received(self, data):
        self.note('data_received')
        cvar.set('set by data_received')
        self.received.put_nowait(data)

    def eof_received(self):
        self.note('eof_received')

    def pause_writing(self):
        self.note('pause_writing')

    def resume_writing(self):
        self.note('resume_writing')


class BufferedContextRecorder(ContextRecorder, asyncio.BufferedProtocol):

    def get_buffer(self, sizehint):
        self.note('get_buffer')
        return bytearray(64 * 1024)

    def buffer_updated(self, nbytes):
        self.note('buffer_updated')
        cvar.set('set by buffer_updated')
        self.received.put_nowait(nbytes)


def in_new_context(loop, func):
    """Schedule func in a fresh context, away from the test's own."""
    contextvars.Context().run(loop.call_soon, func)


class StreamContextTests(LoopTestCase):
    """TCP and Unix socket transports, made by create_connection,
    create_unix_connection and connect_accepted_socket."""

    def connect(self, kind, protocol_class=ContextRecorder):
        """A connected transport whose protocol is made with cvar set to
        'creator', and the peer's blocking socket."""
        async def make():
            cvar.set('creator')
            if kind == 'accepted':
                ours, peer = socket.socketpair()
                _, protocol = await self.loop.connect_accepted_socket(
                    lambda: protocol_class(self.loop), ours)
                return protocol, peer
            if kind == 'unix':
                path = unix_path(self)
                listener = socket.socket(socket.AF_UNIX)
                listener.bind(path)
                connect = self.loop.create_unix_connection(
                    lambda: protocol_class(self.loop), path)
            else:
                listener = socket.socket()
                listener.bind((HOST, 0))
                connect = self.loop.create_connection(
                    lambda: protocol_class(self.loop),
                    *listener.getsockname())
            with listener:
                listener.listen()
                _, protocol = await connect
                peer, _ = listener.accept()
            return protocol, peer

        protocol, peer = self.run_coro(make())
        self.addCleanup(peer.close)
        self.addCleanup(protocol.transport.close)
        return protocol, peer

    def receive(self, protocol, peer, data=b'x'):
        peer.sendall(data)
        self.run_coro(protocol.received.get())

    def test_data_received_runs_in_the_creators_context(self):
        for kind in ('tcp', 'unix', 'accepted'):
            with self.subTest(kind=kind):
                protocol, peer = self.connect(kind)
                self.receive(protocol, peer)
                self.assertEqual(protocol.values('connection_made'), ['creator'])
                self.assertEqual(protocol.values('data_received'), ['creator'])

    def test_reading_side_keeps_its_own_changes(self):
        protocol, peer = self.connect('tcp')
        self.receive(protocol, peer)
        self.receive(protocol, peer)
        self.assertEqual(protocol.values('data_received'),
                         ['creator', 'set by data_received'])
        # Not in the loop's context, nor in connection_made's copy.
        self.assertEqual(cvar.get(), 'unset')

    def test_buffered_protocol_runs_in_the_creators_context(self):
        for kind in ('tcp', 'unix', 'accepted'):
            with self.subTest(kind=kind):
                protocol, peer = self.connect(kind, BufferedContextRecorder)
                self.receive(protocol, peer)
                self.receive(protocol, peer)
                self.assertEqual(protocol.values('get_buffer'),
                                 ['creator', 'set by buffer_updated'])
                self.assertEqual(protocol.values('buffer_updated'),
                                 ['creator', 'set by buffer_updated'])

    def test_resume_reading_moves_reading_to_the_resumers_context(self):
        protocol, peer = self.connect('tcp')
        transport = protocol.transport
        transport.pause_reading()

        def resume():
            cvar.set('resumer')
            transport.resume_reading()
        in_new_context(self.loop, resume)
        self.receive(protocol, peer)
        self.assertEqual(protocol.values('data_received'), ['resumer'])

    def test_eof_and_connection_lost_run_in_the_reading_context(self):
        protocol, peer = self.connect('unix')
        self.receive(protocol, peer)
        peer.shutdown(socket.SHUT_WR)
        self.run_coro(protocol.lost)
        self.assertEqual(protocol.values('eof_received'), ['set by data_received'])
        self.assertEqual(protocol.values('connection_lost'), ['set by data_received'])

    def test_connection_lost_runs_in_the_context_of_close(self):
        for method in ('close', 'abort'):
            with self.subTest(method=method):
                protocol, peer = self.connect('accepted')

                def close():
                    cvar.set('closer')
                    getattr(protocol.transport, method)()
                in_new_context(self.loop, close)
                self.run_coro(protocol.lost)
                self.assertEqual(protocol.values('connection_lost'), ['closer'])

    def test_flow_control_runs_in_the_writers_context(self):
        protocol, peer = self.connect('tcp')
        transport = protocol.transport
        size = 4 * 1024 * 1024

        async def write():
            cvar.set('writer')
            transport.set_write_buffer_limits(high=1024, low=512)
            transport.write(b'w' * size)
        self.run_coro(write())
        self.assertEqual(protocol.values('pause_writing'), ['writer'])

        async def drain():
            got = 0
            while got < size:
                got += len(await self.loop.run_in_executor(None, peer.recv, size))
            while not protocol.values('resume_writing'):
                await asyncio.sleep(0.001)
        self.run_coro(drain())
        self.assertEqual(protocol.values('resume_writing'), ['writer'])

    def test_tls_protocols_run_in_the_creators_context(self):
        async def main():
            cvar.set('creator')
            served = self.loop.create_future()

            def serve():
                protocol = ContextRecorder(self.loop)
                served.set_result(protocol)
                return protocol
            server = await self.loop.create_server(
                serve, HOST, 0, ssl=server_tls_context())
            port = server.sockets[0].getsockname()[1]
            transport, client = await self.loop.create_connection(
                lambda: ContextRecorder(self.loop), HOST, port,
                ssl=client_tls_context(), server_hostname='localhost')
            cvar.set('after')
            service = await served
            transport.write(b'ping')
            await service.received.get()
            service.transport.write(b'pong')
            await client.received.get()
            transport.close()
            await client.lost
            await service.lost
            server.close()
            await server.wait_closed()
            return client, service

        client, service = self.run_coro(main())
        for protocol in (client, service):
            self.assertEqual(protocol.values('connection_made'), ['creator'])
            self.assertEqual(protocol.values('data_received'), ['creator'])


class DatagramContextRecorder(ContextNotes, asyncio.DatagramProtocol):

    def datagram_received(self, data, addr):
        self.note('datagram_received')
        cvar.set('set by datagram_received')
        self.received.put_nowait(data)

    def error_received(self, exc):
        self.note('error_received')
        self.received.put_nowait(exc)


class DatagramContextTests(LoopTestCase):

    def endpoint(self, **kwargs):
        async def make():
            cvar.set('creator')
            _, protocol = await self.loop.create_datagram_endpoint(
                lambda: DatagramContextRecorder(self.loop), **kwargs)
            return protocol
        protocol = self.run_coro(make())
        self.addCleanup(protocol.transport.close)
        return protocol

    def test_datagram_received_runs_in_the_creators_context(self):
        protocol = self.endpoint(local_addr=(HOST, 0))
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            for _ in range(2):
                sender.sendto(b'd', protocol.transport.get_extra_info('sockname'))
                self.run_coro(protocol.received.get())
        self.assertEqual(protocol.values('datagram_received'),
                         ['creator', 'set by datagram_received'])

    def test_error_received_runs_in_the_reading_context(self):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as gone:
            gone.bind((HOST, 0))
            address = gone.getsockname()
        protocol = self.endpoint(remote_addr=address)

        async def send():
            cvar.set('sender')
            protocol.transport.sendto(b'x')
        self.run_coro(send())
        self.assertIsInstance(self.run_coro(protocol.received.get()),
                              ConnectionRefusedError)
        self.assertEqual(protocol.values('error_received'), ['creator'])

    def test_connection_lost_runs_in_the_context_of_close(self):
        protocol = self.endpoint(local_addr=(HOST, 0))

        def close():
            cvar.set('closer')
            protocol.transport.close()
        in_new_context(self.loop, close)
        self.run_coro(protocol.lost)
        self.assertEqual(protocol.values('connection_lost'), ['closer'])


class PipeContextTests(LoopTestCase):

    def pipes(self):
        rfd, wfd = os.pipe()

        async def make():
            cvar.set('creator')
            _, reader = await self.loop.connect_read_pipe(
                lambda: ContextRecorder(self.loop), os.fdopen(rfd, 'rb', 0))
            _, writer = await self.loop.connect_write_pipe(
                lambda: ContextRecorder(self.loop), os.fdopen(wfd, 'wb', 0))
            return reader, writer
        reader, writer = self.run_coro(make())
        self.addCleanup(reader.transport.close)
        self.addCleanup(writer.transport.close)
        return reader, writer

    def test_read_pipe_runs_in_the_creators_context(self):
        reader, writer = self.pipes()
        for _ in range(2):
            writer.transport.write(b'p')
            self.run_coro(reader.received.get())
        self.assertEqual(reader.values('data_received'),
                         ['creator', 'set by data_received'])
        writer.transport.close()
        self.run_coro(reader.lost)
        self.assertEqual(reader.values('eof_received'), ['set by data_received'])
        self.assertEqual(reader.values('connection_lost'), ['set by data_received'])

    def test_write_pipe_resumes_in_the_writers_context(self):
        reader, writer = self.pipes()
        size = 1024 * 1024

        async def write():
            cvar.set('writer')
            writer.transport.set_write_buffer_limits(high=1024, low=512)
            writer.transport.write(b'p' * size)
        self.run_coro(write())

        async def drain():
            got = 0
            while got < size:
                got += len(await reader.received.get())
            while not writer.values('resume_writing'):
                await asyncio.sleep(0.001)
        self.run_coro(drain())
        self.assertEqual(writer.values('pause_writing'), ['writer'])
        self.assertEqual(writer.values('resume_writing'), ['writer'])


class SubprocessContextRecorder(ContextNotes, asyncio.SubprocessProtocol):

    def pipe_data_received(self, fd, data):
        self.note('pipe_data_received')
        cvar.set('set by pipe_data_received')

    def pipe_connection_lost(self, fd, exc):
        self.note(f'pipe_connection_lost {fd}')

    def process_exited(self):
        self.note('process_exited')


class SubprocessContextTests(LoopTestCase):

    def test_subprocess_callbacks_contexts(self):
        async def main():
            cvar.set('creator')
            transport, protocol = await self.loop.subprocess_exec(
                lambda: SubprocessContextRecorder(self.loop),
                sys.executable, '-c', 'import sys; sys.stdout.write("out")',
                stdin=None)
            cvar.set('after')
            await protocol.lost
            transport.close()
            return protocol

        protocol = self.run_coro(main())
        self.assertEqual(protocol.values('connection_made'), ['creator'])
        self.assertEqual(protocol.values('pipe_data_received'), ['creator'])
        self.assertEqual(protocol.values('pipe_connection_lost 1'), ['creator'])
        self.assertEqual(protocol.values('pipe_connection_lost 2'), ['creator'])
        # 3.11's child watcher reports the exit from a thread of its own,
        # whose context is empty; 3.12's and 3.13's pidfd reader runs in
        # the context that started the process.
        exited = 'unset' if PY_VERSION < (3, 12) else 'creator'
        self.assertEqual(protocol.values('process_exited'), [exited])


if __name__ == '__main__':
    unittest.main()
