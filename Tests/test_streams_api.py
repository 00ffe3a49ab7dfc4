"""The streams API (open_connection, start_server, open_unix_connection,
start_unix_server, StreamWriter.start_tls) on top of the loop's
transports."""

import asyncio
import hashlib
import socket
import ssl
import unittest

from .support import PY_VERSION
from .net_support import (
    HOST, KiB, MiB, NetTestCase, client_tls_context, payload,
    server_tls_context, unix_path, stream_round_trip)


async def echo_handler(reader, writer):
    try:
        while True:
            data = await reader.read(64 * KiB)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    finally:
        writer.close()


class StreamsTestCase(NetTestCase):

    def start_server(self, handler=echo_handler, **kw):
        server = self.run_coro(asyncio.start_server(handler, HOST, 0, **kw))
        self.addCleanup(self._close_server, server)
        return server

    def run_streams(self, coro, timeout=30):
        """Run coro, whose streams must be made inside the loop."""
        return self.run_coro(coro, timeout=timeout)


class OpenConnectionTests(StreamsTestCase):

    def test_echo_readexactly(self):
        server = self.start_server()

        async def main():
            reader, writer = await asyncio.open_connection(
                *self.server_addr(server))
            return await stream_round_trip(reader, writer, b'hello streams')

        self.assertEqual(self.run_streams(main()), b'hello streams')

    def test_readline_and_readuntil(self):
        async def handler(reader, writer):
            writer.write(b'line one\nline two\r\nrest')
            writer.close()

        server = self.start_server(handler)

        async def main():
            reader, writer = await asyncio.open_connection(
                *self.server_addr(server))
            one = await reader.readline()
            two = await reader.readuntil(b'\r\n')
            rest = await reader.read()
            eof = reader.at_eof()
            writer.close()
            await writer.wait_closed()
            return one, two, rest, eof

        self.assertEqual(self.run_streams(main()),
                         (b'line one\n', b'line two\r\n', b'rest', True))

    def test_readexactly_past_eof(self):
        async def handler(reader, writer):
            writer.write(b'short')
            writer.close()

        server = self.start_server(handler)

        async def main():
            reader, writer = await asyncio.open_connection(
                *self.server_addr(server))
            try:
                with self.assertRaises(asyncio.IncompleteReadError) as cm:
                    await reader.readexactly(100)
                return cm.exception.partial
            finally:
                writer.close()
                await writer.wait_closed()

        self.assertEqual(self.run_streams(main()), b'short')

    def test_readline_limit(self):
        async def handler(reader, writer):
            writer.write(b'x' * 200 + b'\n')
            writer.close()

        server = self.start_server(handler)

        async def main():
            reader, writer = await asyncio.open_connection(
                *self.server_addr(server), limit=50)
            try:
                with self.assertRaises(asyncio.LimitOverrunError):
                    await reader.readuntil(b'\n')
                with self.assertRaises(ValueError):
                    await reader.readline()
            finally:
                writer.close()
                await writer.wait_closed()

        self.run_streams(main())

    def test_extra_info_and_transport(self):
        server = self.start_server()

        async def main():
            reader, writer = await asyncio.open_connection(
                *self.server_addr(server))
            try:
                self.assertIsInstance(writer.transport, asyncio.Transport)
                self.assertEqual(writer.get_extra_info('peername'),
                                 self.server_addr(server))
                self.assertIsInstance(writer.get_extra_info('socket'),
                                      asyncio.trsock.TransportSocket)
                self.assertTrue(writer.can_write_eof())
                self.assertFalse(writer.is_closing())
            finally:
                writer.close()
                self.assertTrue(writer.is_closing())
                await writer.wait_closed()

        self.run_streams(main())

    def test_write_eof_half_close(self):
        async def handler(reader, writer):
            data = await reader.read()  # to EOF
            writer.write(b'got %d bytes' % len(data))
            await writer.drain()
            writer.close()

        server = self.start_server(handler)

        async def main():
            reader, writer = await asyncio.open_connection(
                *self.server_addr(server))
            writer.write(b'x' * 1000)
            writer.write_eof()
            reply = await reader.read()
            writer.close()
            await writer.wait_closed()
            return reply

        self.assertEqual(self.run_streams(main()), b'got 1000 bytes')

    def test_large_payload_round_trip(self):
        server = self.start_server()
        data = payload(8 * MiB, seed=1)

        async def main():
            reader, writer = await asyncio.open_connection(
                *self.server_addr(server))

            async def send():
                for i in range(0, len(data), 256 * KiB):
                    writer.write(data[i:i + 256 * KiB])
                    await writer.drain()
                writer.write_eof()

            sender = asyncio.ensure_future(send())
            h = hashlib.sha256()
            n = 0
            while True:
                chunk = await reader.read(1 * MiB)
                if not chunk:
                    break
                h.update(chunk)
                n += len(chunk)
            await sender
            writer.close()
            await writer.wait_closed()
            return n, h.hexdigest()

        self.assertEqual(self.run_streams(main()),
                         (len(data), hashlib.sha256(data).hexdigest()))

    def test_drain_waits_for_a_slow_reader(self):
        release = None

        async def handler(reader, writer):
            await release.wait()
            data = await reader.readexactly(8 * MiB)
            writer.write(b'%d' % len(data))
            await writer.drain()
            writer.close()

        server = self.start_server(handler)

        async def main():
            nonlocal release
            release = asyncio.Event()
            reader, writer = await asyncio.open_connection(
                *self.server_addr(server))
            writer.write(payload(8 * MiB))
            drain = asyncio.ensure_future(writer.drain())
            await asyncio.sleep(0.05)
            blocked = not drain.done()
            release.set()
            await drain
            reply = await reader.read()
            writer.close()
            await writer.wait_closed()
            return blocked, reply

        self.assertEqual(self.run_streams(main()), (True, b'%d' % (8 * MiB)))

    def test_peer_reset_fails_read(self):
        async def handler(reader, writer):
            sock = writer.get_extra_info('socket')
            self.set_linger_zero(sock)
            writer.transport.abort()

        server = self.start_server(handler)

        async def main():
            reader, writer = await asyncio.open_connection(
                *self.server_addr(server))
            try:
                with self.assertRaises(ConnectionResetError):
                    await reader.read(100)
            finally:
                writer.close()

        self.run_streams(main())

    def test_peer_reset_fails_drain(self):
        async def handler(reader, writer):
            self.set_linger_zero(writer.get_extra_info('socket'))
            writer.transport.abort()

        server = self.start_server(handler)

        async def main():
            reader, writer = await asyncio.open_connection(
                *self.server_addr(server))
            with self.assertRaises((ConnectionResetError, BrokenPipeError)):
                for _ in range(10000):
                    writer.write(b'x' * 65536)
                    await writer.drain()
            writer.close()

        self.run_streams(main())

    def test_open_connection_refused(self):
        s = socket.socket()
        s.bind((HOST, 0))
        addr = s.getsockname()
        s.close()
        with self.assertRaises(ConnectionRefusedError):
            self.run_streams(asyncio.open_connection(*addr))

    def test_open_connection_with_sock(self):
        server = self.start_server()
        sock = socket.create_connection(self.server_addr(server))

        async def main():
            reader, writer = await asyncio.open_connection(sock=sock)
            return await stream_round_trip(reader, writer, b'via sock')

        self.assertEqual(self.run_streams(main()), b'via sock')


class StartServerTests(StreamsTestCase):

    def test_many_clients(self):
        server = self.start_server()

        async def one(i):
            reader, writer = await asyncio.open_connection(
                *self.server_addr(server))
            data = payload(4 * KiB + i, seed=i)
            got = await stream_round_trip(reader, writer, data)
            return got == data

        async def main():
            return await asyncio.gather(*(one(i) for i in range(100)))

        self.assertTrue(all(self.run_streams(main())))

    def test_handler_exception_does_not_stop_server(self):
        self.collect_errors()
        calls = []

        async def handler(reader, writer):
            calls.append(1)
            if len(calls) == 1:
                writer.close()
                raise ZeroDivisionError
            await echo_handler(reader, writer)

        server = self.start_server(handler)

        async def main():
            r, w = await asyncio.open_connection(*self.server_addr(server))
            self.assertEqual(await r.read(), b'')
            w.close()
            await w.wait_closed()
            r, w = await asyncio.open_connection(*self.server_addr(server))
            w.write(b'second')
            data = await r.readexactly(6)
            w.close()
            await w.wait_closed()
            return data

        self.assertEqual(self.run_streams(main()), b'second')

    def test_serve_forever_and_close(self):
        server = self.run_coro(asyncio.start_server(
            echo_handler, HOST, 0, start_serving=False))
        self.addCleanup(self._close_server, server)

        async def main():
            task = asyncio.ensure_future(server.serve_forever())
            await asyncio.sleep(0)
            r, w = await asyncio.open_connection(*self.server_addr(server))
            w.write(b'forever')
            data = await r.readexactly(7)
            w.close()
            await w.wait_closed()
            task.cancel()
            with self.assertRaises(asyncio.CancelledError):
                await task
            return data, server.is_serving()

        self.assertEqual(self.run_streams(main()), (b'forever', False))

    @unittest.skipIf(PY_VERSION < (3, 12),
                     '3.11 wait_closed() returns once the server is closed')
    def test_wait_closed_waits_for_handlers_writers(self):
        async def main():
            done = asyncio.Event()

            async def handler(reader, writer):
                await done.wait()
                writer.close()

            server = await asyncio.start_server(handler, HOST, 0)
            r, w = await asyncio.open_connection(*self.server_addr(server))
            await asyncio.sleep(0.01)
            server.close()
            waiter = asyncio.ensure_future(server.wait_closed())
            await asyncio.sleep(0.05)
            blocked = not waiter.done()
            done.set()
            await waiter
            w.close()
            await w.wait_closed()
            return blocked

        self.assertTrue(self.run_streams(main()))


class UnixStreamsTests(StreamsTestCase):

    def test_unix_echo(self):
        path = unix_path(self)

        async def main():
            server = await asyncio.start_unix_server(echo_handler, path)
            async with server:
                reader, writer = await asyncio.open_unix_connection(path)
                writer.write(b'unix streams')
                data = await reader.readexactly(12)
                self.assertEqual(writer.get_extra_info('peername'), path)
                writer.close()
                await writer.wait_closed()
            return data

        self.assertEqual(self.run_streams(main()), b'unix streams')

    def test_unix_large_payload(self):
        path = unix_path(self)
        data = payload(4 * MiB, seed=3)

        async def main():
            server = await asyncio.start_unix_server(echo_handler, path)
            async with server:
                reader, writer = await asyncio.open_unix_connection(path)

                async def send():
                    writer.write(data)
                    await writer.drain()
                    writer.write_eof()

                sender = asyncio.ensure_future(send())
                got = await reader.read(-1)
                await sender
                writer.close()
                await writer.wait_closed()
            return got

        self.assertEqual(self.run_streams(main()), data)

    def test_unix_sock_argument(self):
        path = unix_path(self)

        async def main():
            server = await asyncio.start_unix_server(echo_handler, path)
            async with server:
                s = socket.socket(socket.AF_UNIX)
                s.connect(path)
                reader, writer = await asyncio.open_unix_connection(sock=s)
                data = await stream_round_trip(reader, writer, b'sock')
            return data

        self.assertEqual(self.run_streams(main()), b'sock')


class TLSStreamsTests(StreamsTestCase):

    def test_tls_streams(self):
        server = self.start_server(ssl=server_tls_context())

        async def main():
            reader, writer = await asyncio.open_connection(
                *self.server_addr(server), ssl=client_tls_context(),
                server_hostname='localhost')
            self.assertIsInstance(writer.get_extra_info('ssl_object'),
                                  ssl.SSLObject)
            return await stream_round_trip(reader, writer, b'tls streams')

        self.assertEqual(self.run_streams(main()), b'tls streams')

    def test_writer_start_tls(self):
        server_ctx = server_tls_context()

        async def handler(reader, writer):
            line = await reader.readline()
            assert line == b'STARTTLS\n', line
            writer.write(b'GO\n')
            await writer.drain()
            await writer.start_tls(server_ctx)
            await echo_handler(reader, writer)

        server = self.start_server(handler)

        async def main():
            reader, writer = await asyncio.open_connection(
                *self.server_addr(server))
            writer.write(b'STARTTLS\n')
            self.assertEqual(await reader.readline(), b'GO\n')
            await writer.start_tls(client_tls_context(),
                                   server_hostname='localhost')
            self.assertIsInstance(writer.get_extra_info('ssl_object'),
                                  ssl.SSLObject)
            data = payload(300 * KiB)
            got = await stream_round_trip(reader, writer, data)
            return got == data

        self.assertTrue(self.run_streams(main()))

    def test_tls_unix_streams(self):
        path = unix_path(self)

        async def main():
            server = await asyncio.start_unix_server(
                echo_handler, path, ssl=server_tls_context())
            async with server:
                reader, writer = await asyncio.open_unix_connection(
                    path, ssl=client_tls_context(),
                    server_hostname='localhost')
                data = await stream_round_trip(reader, writer, b'unix tls streams')
            return data

        self.assertEqual(self.run_streams(main()), b'unix tls streams')


if __name__ == '__main__':
    unittest.main()
