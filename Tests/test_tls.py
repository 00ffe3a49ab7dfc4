"""TLS over the loop's socket transports: ssl= on both ends, start_tls,
ssl_handshake_timeout and ssl_shutdown_timeout, TLS over Unix sockets.

The certificate is generated at test time (Tests.net_support.tls_files).
"""

import asyncio
import hashlib
import socket
import ssl
import threading
import time
import unittest

from .net_support import (
    HOST, KiB, MiB, BufferedRecorder, Echo, NetTestCase, Recorder,
    client_tls_context, payload, server_tls_context, tls_files, unix_path,
    stream_round_trip)


def setUpModule():
    tls_files()  # generate once, or skip the module


class TLSTestCase(NetTestCase):

    def setUp(self):
        super().setUp()
        self.server_ctx = server_tls_context()
        self.client_ctx = client_tls_context()

    def tls_pair(self, client=None, server=None, **server_kw):
        if client is None:
            client = self.new_recorder()
        if server is None:
            server = self.new_recorder()
        srv = self.tcp_server(lambda: server, ssl=self.server_ctx, **server_kw)
        tr, pr = self.run_coro(self.loop.create_connection(
            lambda: client, *self.server_addr(srv), ssl=self.client_ctx,
            server_hostname='localhost'))
        self.addCleanup(self.close_transport, tr)
        self.run_coro(server.made)
        self.addCleanup(self._close_protocol_transport, server)
        return tr, client, server

    def blocking_tls_peer(self, listener, ready, release, *, read=False):
        """Thread body: accept one connection, complete the TLS handshake,
        then hold the connection (without reading unless read) until
        release is set."""
        listener.settimeout(10)
        conn, _ = listener.accept()
        conn.settimeout(10)
        tls = self.server_ctx.wrap_socket(conn, server_side=True)
        ready.set()
        release.wait(20)
        tls.close()


class TLSConnectionTests(TLSTestCase):

    def test_echo_over_tls(self):
        srv = self.tcp_server(Echo, ssl=self.server_ctx)
        proto = self.new_recorder()
        tr, _ = self.run_coro(self.loop.create_connection(
            lambda: proto, *self.server_addr(srv), ssl=self.client_ctx,
            server_hostname='localhost'))
        self.addCleanup(self.close_transport, tr)
        tr.write(b'secret')
        self.run_until(lambda: bytes(proto.data) == b'secret')

    def test_tls_transport_is_an_asyncio_transport(self):
        tr, _, server = self.tls_pair()
        self.assertIsInstance(tr, asyncio.Transport)
        self.assertIsInstance(server.transport, asyncio.Transport)

    def test_tls_extra_info(self):
        tr, _, server = self.tls_pair()
        obj = tr.get_extra_info('ssl_object')
        self.assertIsInstance(obj, ssl.SSLObject)
        self.assertEqual(obj.server_hostname, 'localhost')
        cert = tr.get_extra_info('peercert')
        self.assertIn((('commonName', 'localhost'),), cert['subject'])
        self.assertIsNotNone(tr.get_extra_info('cipher'))
        self.assertIs(tr.get_extra_info('sslcontext'), self.client_ctx)
        self.assertEqual(tr.get_extra_info('peername'),
                         server.transport.get_extra_info('sockname'))
        self.assertIsNotNone(tr.get_extra_info('socket'))
        self.assertIsInstance(server.transport.get_extra_info('ssl_object'),
                              ssl.SSLObject)

    def test_tls_cannot_write_eof(self):
        tr, _, _ = self.tls_pair()
        self.assertFalse(tr.can_write_eof())

    def test_tls_both_directions_large(self):
        tr, client, server = self.tls_pair()
        up = payload(2 * MiB, seed=11)
        down = payload(2 * MiB, seed=12)
        tr.write(up)
        server.transport.write(down)
        self.run_until(lambda: len(server.data) >= len(up) and
                       len(client.data) >= len(down), timeout=30)
        self.assertEqual(hashlib.sha256(server.data).hexdigest(),
                         hashlib.sha256(up).hexdigest())
        self.assertEqual(hashlib.sha256(client.data).hexdigest(),
                         hashlib.sha256(down).hexdigest())

    def test_tls_buffered_protocol(self):
        # Memoryview buffers: asyncio's SSLProtocol loses data when a small
        # get_buffer() result is a bytearray (it reads into buf[offset:], a
        # copy), on every version tested.
        client = BufferedRecorder(self.loop, buffer_size=1000,
                                  buffer_type=memoryview)
        server = BufferedRecorder(self.loop, buffer_type=memoryview)
        tr, _, _ = self.tls_pair(client, server)
        data = payload(200 * KiB)
        server.transport.write(data)
        tr.write(b'hello server')
        self.run_until(lambda: len(client.data) >= len(data) and
                       bytes(server.data) == b'hello server')
        self.assertEqual(bytes(client.data), data)
        self.assert_no_misuse(client, server)

    def test_tls_close_reaches_both_protocols_once(self):
        tr, client, server = self.tls_pair()
        tr.write(b'bye')
        tr.close()
        self.assertIsNone(self.run_coro(client.lost))
        self.run_coro(server.lost)
        self.assertEqual(bytes(server.data), b'bye')
        self.run_briefly(5)
        self.assertEqual(client.lost_count, 1)
        self.assertEqual(server.lost_count, 1)

    def test_tls_abort(self):
        tr, client, server = self.tls_pair()
        tr.abort()
        self.assertIsNone(self.run_coro(client.lost))
        self.run_coro(server.lost)
        self.assertEqual(client.lost_count, 1)

    def test_tls_flow_control(self):
        tr, client, server = self.tls_pair()
        server.transport.pause_reading()
        sent = 0
        while 'pause' not in client.events:
            tr.write(payload(256 * KiB))
            sent += 256 * KiB
            self.run_briefly()
            self.assertLess(sent, 256 * MiB)
        server.transport.resume_reading()
        self.run_until(lambda: 'resume' in client.events, timeout=30)
        self.run_until(lambda: len(server.data) == sent, timeout=30)

    def test_tls_over_unix_socket(self):
        path = unix_path(self)
        server = self.run_coro(self.loop.create_unix_server(
            Echo, path, ssl=self.server_ctx))
        self.addCleanup(self._close_server, server)
        proto = self.new_recorder()
        tr, _ = self.run_coro(self.loop.create_unix_connection(
            lambda: proto, path, ssl=self.client_ctx,
            server_hostname='localhost'))
        self.addCleanup(self.close_transport, tr)
        self.assertIsInstance(tr.get_extra_info('ssl_object'), ssl.SSLObject)
        tr.write(b'unix tls')
        self.run_until(lambda: bytes(proto.data) == b'unix tls')

    def test_unix_tls_needs_server_hostname(self):
        path = unix_path(self)
        with self.assertRaises(ValueError):
            self.run_coro(self.loop.create_unix_connection(
                self.new_recorder, path, ssl=self.client_ctx))

    def test_connect_accepted_socket_with_tls(self):
        listener = self.tcp_listener()
        listener.setblocking(True)
        proto = self.new_recorder()

        async def main():
            client = self.loop.create_task(self.loop.create_connection(
                lambda: proto, *listener.getsockname(),
                ssl=self.client_ctx, server_hostname='localhost'))
            conn, _ = await self.loop.run_in_executor(None, listener.accept)
            server = self.new_recorder()
            str_, _ = await self.loop.connect_accepted_socket(
                lambda: server, conn, ssl=self.server_ctx)
            ctr, _ = await client
            ctr.write(b'accepted tls')
            while bytes(server.data) != b'accepted tls':
                await asyncio.sleep(0.001)
            ctr.close()
            str_.close()
            await proto.lost
            await server.lost

        self.run_coro(main())


    def test_many_concurrent_tls_clients(self):
        srv = self.tcp_server(Echo, ssl=self.server_ctx, backlog=128)
        addr = self.server_addr(srv)

        async def one(i):
            reader, writer = await asyncio.open_connection(
                *addr, ssl=self.client_ctx, server_hostname='localhost')
            data = payload(20 * KiB + i, seed=i)
            got = await stream_round_trip(reader, writer, data)
            return got == data

        async def main():
            return await asyncio.gather(*(one(i) for i in range(50)))

        self.assertTrue(all(self.run_coro(main(), timeout=60)))


class TLSVerificationTests(TLSTestCase):

    def test_untrusted_certificate_fails(self):
        self.collect_errors()
        srv = self.tcp_server(Echo, ssl=self.server_ctx)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # trusts nothing
        with self.assertRaises(ssl.SSLCertVerificationError):
            self.run_coro(self.loop.create_connection(
                self.new_recorder, *self.server_addr(srv), ssl=ctx,
                server_hostname='localhost'))
        self.run_stopping_after(0.05)

    def test_hostname_mismatch_fails(self):
        self.collect_errors()
        srv = self.tcp_server(Echo, ssl=self.server_ctx)
        with self.assertRaises(ssl.SSLCertVerificationError):
            self.run_coro(self.loop.create_connection(
                self.new_recorder, *self.server_addr(srv),
                ssl=self.client_ctx, server_hostname='not-localhost'))
        self.run_stopping_after(0.05)

    def test_server_hostname_defaults_to_host(self):
        srv = self.tcp_server(Echo, ssl=self.server_ctx)
        port = self.server_addr(srv)[1]
        tr, proto = self.run_coro(self.loop.create_connection(
            self.new_recorder, 'localhost', port, ssl=self.client_ctx,
            family=socket.AF_INET))
        self.addCleanup(self.close_transport, tr)
        self.assertEqual(tr.get_extra_info('ssl_object').server_hostname,
                         'localhost')

    def test_server_keeps_serving_after_failed_handshake(self):
        self.collect_errors()
        srv = self.tcp_server(Echo, ssl=self.server_ctx)
        bad = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        with self.assertRaises(ssl.SSLError):
            self.run_coro(self.loop.create_connection(
                self.new_recorder, *self.server_addr(srv), ssl=bad,
                server_hostname='localhost'))
        tr, proto = self.run_coro(self.loop.create_connection(
            self.new_recorder, *self.server_addr(srv), ssl=self.client_ctx,
            server_hostname='localhost'))
        self.addCleanup(self.close_transport, tr)
        tr.write(b'after failure')
        self.run_until(lambda: bytes(proto.data) == b'after failure')

    def test_plain_client_against_tls_server(self):
        self.collect_errors()
        srv = self.tcp_server(Echo, ssl=self.server_ctx)
        raw = socket.create_connection(self.server_addr(srv))
        self.addCleanup(raw.close)
        raw.setblocking(False)
        raw.send(b'GET / HTTP/1.0\r\n\r\n')
        # The server gives up on the garbage handshake and closes.
        self.peer_sees_eof_or_reset(raw)


class TLSTimeoutTests(TLSTestCase):

    def test_handshake_timeout_client(self):
        # A server that accepts TCP but never answers the ClientHello.
        listener = self.tcp_listener()
        t0 = time.monotonic()
        with self.assertRaises(ConnectionAbortedError):
            self.run_coro(self.loop.create_connection(
                self.new_recorder, *listener.getsockname(),
                ssl=self.client_ctx, server_hostname='localhost',
                ssl_handshake_timeout=0.3))
        elapsed = time.monotonic() - t0
        self.assertGreaterEqual(elapsed, 0.25)
        self.assertLess(elapsed, 10)

    def test_handshake_timeout_server(self):
        self.collect_errors()
        made = []
        srv = self.tcp_server(lambda: made.append(1) or Recorder(self.loop),
                              ssl=self.server_ctx, ssl_handshake_timeout=0.3)
        raw = socket.create_connection(self.server_addr(srv))
        self.addCleanup(raw.close)
        raw.setblocking(False)
        t0 = time.monotonic()
        self.peer_sees_eof_or_reset(raw)  # the server aborted
        elapsed = time.monotonic() - t0
        self.assertGreaterEqual(elapsed, 0.2)
        self.assertLess(elapsed, 10)

    def test_handshake_timeout_needs_ssl(self):
        with self.assertRaises(ValueError):
            self.run_coro(self.loop.create_server(
                Echo, HOST, 0, ssl_handshake_timeout=1))
        with self.assertRaises(ValueError):
            self.run_coro(self.loop.create_connection(
                Echo, HOST, 1, ssl_handshake_timeout=1))

    def test_shutdown_timeout_needs_ssl(self):
        with self.assertRaises(ValueError):
            self.run_coro(self.loop.create_server(
                Echo, HOST, 0, ssl_shutdown_timeout=1))
        with self.assertRaises(ValueError):
            self.run_coro(self.loop.create_connection(
                Echo, HOST, 1, ssl_shutdown_timeout=1))

    def test_shutdown_timeout(self):
        # The peer completes the handshake, then never answers close_notify:
        # the client gives up after ssl_shutdown_timeout.
        self.collect_errors()
        listener = self.tcp_listener()
        listener.setblocking(True)
        ready, release = threading.Event(), threading.Event()
        self.start_thread(self.blocking_tls_peer, listener, ready, release)
        self.addCleanup(release.set)  # runs before the thread is joined
        proto = self.new_recorder()
        tr, _ = self.run_coro(self.loop.create_connection(
            lambda: proto, *listener.getsockname(), ssl=self.client_ctx,
            server_hostname='localhost', ssl_shutdown_timeout=0.5))
        self.assertTrue(ready.wait(10))
        t0 = time.monotonic()
        tr.close()
        self.run_stopping_after(0.2)
        self.assertNotIn('lost', proto.events)
        self.run_coro(proto.lost)
        elapsed = time.monotonic() - t0
        self.assertGreaterEqual(elapsed, 0.4)
        self.assertLess(elapsed, 10)
        self.assertEqual(proto.lost_count, 1)


class StartTLSTests(TLSTestCase):

    def upgrade_pair(self, client_proto=None):
        """A plain TCP connection that both ends upgrade to TLS with
        start_tls; returns (client_tls_transport, client_protocol,
        server_tls_transport, server_protocol)."""
        loop = self.loop
        server_proto = self.new_recorder()
        srv = self.tcp_server(lambda: server_proto)
        if client_proto is None:
            client_proto = self.new_recorder()

        async def main():
            tr, _ = await loop.create_connection(
                lambda: client_proto, *self.server_addr(srv))
            await server_proto.made
            tr.write(b'STARTTLS')
            while bytes(server_proto.data) != b'STARTTLS':
                await asyncio.sleep(0.001)
            server_side = loop.create_task(loop.start_tls(
                server_proto.transport, server_proto, self.server_ctx,
                server_side=True))
            ctr = await loop.start_tls(tr, client_proto, self.client_ctx,
                                       server_hostname='localhost')
            return ctr, await server_side

        ctr, s_tr = self.run_coro(main())
        self.addCleanup(self.close_transport, ctr)
        self.addCleanup(self.close_transport, s_tr)
        return ctr, client_proto, s_tr, server_proto

    def test_start_tls_upgrades_both_ends(self):
        ctr, client, s_tr, server = self.upgrade_pair()
        self.assertIsInstance(ctr.get_extra_info('ssl_object'),
                              ssl.SSLObject)
        self.assertIsInstance(s_tr.get_extra_info('ssl_object'),
                              ssl.SSLObject)
        self.assertIsInstance(ctr, asyncio.Transport)
        ctr.write(b'now encrypted')
        self.run_until(lambda: bytes(server.data) == b'STARTTLSnow encrypted')
        s_tr.write(b'reply')
        self.run_until(lambda: bytes(client.data) == b'reply')

    def test_start_tls_large_payload(self):
        ctr, client, s_tr, server = self.upgrade_pair()
        data = payload(1 * MiB, seed=3)
        s_tr.write(data)
        self.run_until(lambda: len(client.data) >= len(data), timeout=30)
        self.assertEqual(bytes(client.data), data)

    def test_start_tls_buffered_protocol(self):
        client = BufferedRecorder(self.loop, buffer_size=512,
                                  buffer_type=memoryview)
        ctr, _, s_tr, server = self.upgrade_pair(client)
        data = payload(100 * KiB, seed=4)
        s_tr.write(data)
        self.run_until(lambda: len(client.data) >= len(data))
        self.assertEqual(bytes(client.data), data)

    def test_start_tls_close(self):
        ctr, client, s_tr, server = self.upgrade_pair()
        ctr.close()
        self.assertIsNone(self.run_coro(client.lost))
        self.run_coro(server.lost)
        self.assertEqual(client.lost_count, 1)
        self.assertEqual(server.lost_count, 1)

    def test_start_tls_rejects_foreign_transport(self):
        class Fake(asyncio.Transport):
            pass
        with self.assertRaises(TypeError):
            self.run_coro(self.loop.start_tls(
                Fake(), self.new_recorder(), self.client_ctx))

    def test_start_tls_rejects_non_context(self):
        tr, client, _ = self.connect_pair()
        with self.assertRaises(TypeError):
            self.run_coro(self.loop.start_tls(tr, client, object()))

    def test_start_tls_handshake_timeout(self):
        self.collect_errors()
        proto = self.new_recorder()
        tr, peer = self.connect_raw(proto)
        t0 = time.monotonic()
        with self.assertRaises(ConnectionAbortedError):
            self.run_coro(self.loop.start_tls(
                tr, proto, self.client_ctx, server_hostname='localhost',
                ssl_handshake_timeout=0.3))
        self.assertGreaterEqual(time.monotonic() - t0, 0.25)
        self.assertTrue(tr.is_closing())


if __name__ == '__main__':
    unittest.main()
