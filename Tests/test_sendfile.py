"""loop.sendfile() on the loop's transports and loop.sock_sendfile(): the
native path (os.sendfile) and asyncio's fallback rules."""

import asyncio
import hashlib
import io
import os
import socket
import tempfile
import unittest

from .net_support import (
    KiB, MiB, NetTestCase, client_tls_context, payload, server_tls_context,
    unix_path)


class SendfileTestCase(NetTestCase):

    def data_file(self, data):
        f = tempfile.TemporaryFile()
        self.addCleanup(f.close)
        f.write(data)
        f.seek(0)
        return f

    def receiver_pair(self):
        """(client_transport, client_protocol, server_protocol): sendfile
        goes from the client transport to the recording server."""
        return self.connect_pair()


class TransportSendfileTests(SendfileTestCase):

    def test_sendfile_whole_file(self):
        data = payload(3 * MiB, seed=1)
        f = self.data_file(data)
        tr, client, server = self.receiver_pair()
        sent = self.run_coro(self.loop.sendfile(tr, f))
        self.assertEqual(sent, len(data))
        self.assertEqual(f.tell(), len(data))
        self.run_until(lambda: len(server.data) >= len(data))
        self.assertEqual(hashlib.sha256(server.data).digest(),
                         hashlib.sha256(data).digest())

    def test_sendfile_native_without_fallback(self):
        data = payload(1 * MiB, seed=2)
        f = self.data_file(data)
        tr, client, server = self.receiver_pair()
        sent = self.run_coro(self.loop.sendfile(tr, f, fallback=False))
        self.assertEqual(sent, len(data))
        self.run_until(lambda: len(server.data) >= len(data))
        self.assertEqual(bytes(server.data), data)

    def test_sendfile_offset_and_count(self):
        data = payload(100 * KiB, seed=3)
        f = self.data_file(data)
        tr, client, server = self.receiver_pair()
        sent = self.run_coro(self.loop.sendfile(tr, f, 1000, 5000))
        self.assertEqual(sent, 5000)
        self.assertEqual(f.tell(), 6000)
        self.run_until(lambda: len(server.data) >= 5000)
        self.assertEqual(bytes(server.data), data[1000:6000])

    def test_sendfile_offset_to_end(self):
        data = payload(10 * KiB, seed=4)
        f = self.data_file(data)
        tr, client, server = self.receiver_pair()
        sent = self.run_coro(self.loop.sendfile(tr, f, 4000))
        self.assertEqual(sent, len(data) - 4000)
        self.assertEqual(f.tell(), len(data))
        self.run_until(lambda: len(server.data) >= len(data) - 4000)
        self.assertEqual(bytes(server.data), data[4000:])

    def test_sendfile_count_beyond_end(self):
        data = payload(10 * KiB, seed=5)
        f = self.data_file(data)
        tr, client, server = self.receiver_pair()
        sent = self.run_coro(self.loop.sendfile(tr, f, 0, 1 * MiB))
        self.assertEqual(sent, len(data))
        self.run_until(lambda: len(server.data) >= len(data))
        self.assertEqual(bytes(server.data), data)

    def test_sendfile_empty_file(self):
        f = self.data_file(b'')
        tr, client, server = self.receiver_pair()
        self.assertEqual(self.run_coro(self.loop.sendfile(tr, f)), 0)
        self.assertEqual(f.tell(), 0)

    def test_sendfile_keeps_order_with_writes(self):
        data = payload(2 * MiB, seed=6)
        f = self.data_file(data)
        tr, client, server = self.receiver_pair()
        tr.write(b'HEAD')

        async def main():
            n = await self.loop.sendfile(tr, f)
            tr.write(b'TAIL')
            return n

        self.assertEqual(self.run_coro(main()), len(data))
        total = len(data) + 8
        self.run_until(lambda: len(server.data) >= total)
        self.assertEqual(bytes(server.data), b'HEAD' + data + b'TAIL')

    def test_sendfile_after_queued_writes(self):
        # Data already queued in the transport goes out before the file.
        data = payload(1 * MiB, seed=7)
        f = self.data_file(data)
        proto = self.new_recorder()
        tr, peer = self.connect_raw_small(proto)
        head = payload(1 * MiB, seed=8)
        tr.write(head)
        self.assertGreater(tr.get_write_buffer_size(), 0)
        task = self.loop.create_task(self.loop.sendfile(tr, f))
        got = self.peer_read(peer, len(head) + len(data), timeout=30)
        self.assertEqual(got, head + data)
        self.assertEqual(self.run_coro(task), len(data))

    def test_write_during_sendfile_raises(self):
        data = payload(4 * MiB, seed=9)
        f = self.data_file(data)
        proto = self.new_recorder()
        tr, peer = self.connect_raw(proto, sndbuf=64 * KiB, rcvbuf=64 * KiB)
        task = self.loop.create_task(self.loop.sendfile(tr, f))
        self.run_stopping_after(0.05)
        self.assertFalse(task.done())
        with self.assertRaises(RuntimeError):
            tr.write(b'x')
        got = self.peer_read(peer, len(data), timeout=30)
        self.assertEqual(hashlib.sha256(got).digest(),
                         hashlib.sha256(data).digest())
        self.assertEqual(self.run_coro(task), len(data))
        tr.write(b'after')
        self.assertEqual(self.peer_read(peer, 5), b'after')

    def test_cancelled_sendfile_leaves_transport_usable(self):
        data = payload(8 * MiB, seed=22)
        f = self.data_file(data)
        proto = self.new_recorder()
        tr, peer = self.connect_raw(proto, sndbuf=64 * KiB, rcvbuf=64 * KiB)
        task = self.loop.create_task(self.loop.sendfile(tr, f))
        self.run_stopping_after(0.05)
        self.assertFalse(task.done())
        task.cancel()
        with self.assertRaises(asyncio.CancelledError):
            self.run_coro(task)
        self.assertFalse(tr.is_closing())
        self.assertTrue(tr.is_reading())
        tr.write(b'TAIL')
        tr.write_eof()
        got = self.peer_read_to_eof(peer, timeout=30)
        self.assertTrue(got.endswith(b'TAIL'))
        sent = len(got) - 4
        self.assertGreater(sent, 0)
        self.assertLess(sent, len(data))
        self.assertEqual(got[:sent], data[:sent])
        peer.sendall(b'reply')
        self.run_until(lambda: bytes(proto.data) == b'reply')

    def test_reading_resumes_after_sendfile(self):
        data = payload(512 * KiB, seed=10)
        f = self.data_file(data)
        proto = self.new_recorder()
        tr, peer = self.connect_raw(proto)
        task = self.loop.create_task(self.loop.sendfile(tr, f))
        peer.sendall(b'meanwhile')
        self.peer_read(peer, len(data))
        self.run_coro(task)
        self.assertTrue(tr.is_reading())
        self.run_until(lambda: bytes(proto.data) == b'meanwhile')
        peer.sendall(b' and after')
        self.run_until(lambda: bytes(proto.data) == b'meanwhile and after')

    def test_paused_reading_stays_paused_after_sendfile(self):
        data = payload(64 * KiB, seed=11)
        f = self.data_file(data)
        proto = self.new_recorder()
        tr, peer = self.connect_raw(proto)
        tr.pause_reading()
        task = self.loop.create_task(self.loop.sendfile(tr, f))
        self.peer_read(peer, len(data))
        self.run_coro(task)
        self.assertFalse(tr.is_reading())

    def test_sendfile_on_closing_transport_raises(self):
        f = self.data_file(b'data')
        proto = self.new_recorder()
        tr, peer = self.connect_raw(proto)
        tr.close()
        with self.assertRaises(RuntimeError):
            self.run_coro(self.loop.sendfile(tr, f))

    def test_sendfile_text_file_raises(self):
        path = os.path.join(tempfile.mkdtemp(), 'text')
        self.addCleanup(__import__('shutil').rmtree, os.path.dirname(path))
        with open(path, 'w') as w:
            w.write('text')
        with open(path) as f:
            tr, client, server = self.receiver_pair()
            with self.assertRaises(ValueError):
                self.run_coro(self.loop.sendfile(tr, f))

    def test_sendfile_bad_offset_and_count(self):
        f = self.data_file(b'data')
        tr, client, server = self.receiver_pair()
        with self.assertRaises(ValueError):
            self.run_coro(self.loop.sendfile(tr, f, -1))
        with self.assertRaises(ValueError):
            self.run_coro(self.loop.sendfile(tr, f, 0, 0))
        with self.assertRaises(TypeError):
            self.run_coro(self.loop.sendfile(tr, f, 0, '1'))

    def test_sendfile_non_regular_file_falls_back(self):
        data = payload(300 * KiB, seed=12)
        f = io.BytesIO(data)
        tr, client, server = self.receiver_pair()
        sent = self.run_coro(self.loop.sendfile(tr, f))
        self.assertEqual(sent, len(data))
        self.assertEqual(f.tell(), len(data))
        self.run_until(lambda: len(server.data) >= len(data))
        self.assertEqual(bytes(server.data), data)

    def test_sendfile_non_regular_file_without_fallback_raises(self):
        f = io.BytesIO(b'data')
        tr, client, server = self.receiver_pair()
        with self.assertRaises(asyncio.SendfileNotAvailableError):
            self.run_coro(self.loop.sendfile(tr, f, fallback=False))
        # The transport is still usable.
        tr.write(b'ok')
        self.run_until(lambda: bytes(server.data) == b'ok')

    def test_sendfile_unsupported_transport_raises(self):
        class Fake(asyncio.Transport):
            def is_closing(self):
                return False
        f = self.data_file(b'data')
        with self.assertRaises(RuntimeError):
            self.run_coro(self.loop.sendfile(Fake(), f))

    def test_sendfile_over_unix_transport(self):
        data = payload(1 * MiB, seed=13)
        f = self.data_file(data)
        server = self.new_recorder()
        path = unix_path(self)
        srv = self.run_coro(self.loop.create_unix_server(lambda: server,
                                                         path))
        self.addCleanup(self._close_server, srv)
        tr, _ = self.run_coro(self.loop.create_unix_connection(
            self.new_recorder, path))
        self.addCleanup(self.close_transport, tr)
        self.addCleanup(self._close_protocol_transport, server)
        sent = self.run_coro(self.loop.sendfile(tr, f, fallback=False))
        self.assertEqual(sent, len(data))
        self.run_until(lambda: len(server.data) >= len(data))
        self.assertEqual(bytes(server.data), data)

    def test_sendfile_peer_closes_midway(self):
        self.collect_errors()
        data = payload(16 * MiB, seed=14)
        f = self.data_file(data)
        proto = self.new_recorder()
        tr, peer = self.connect_raw_small(proto)
        task = self.loop.create_task(self.loop.sendfile(tr, f))
        self.peer_read(peer, 64 * KiB)
        self.set_linger_zero(peer)
        peer.close()
        with self.assertRaises(ConnectionError):
            self.run_coro(task)
        # The position tells how much went out (at most the whole file).
        self.assertLessEqual(f.tell(), len(data))
        self.run_coro(proto.lost)


class TLSSendfileTests(SendfileTestCase):

    def tls_pair(self):
        server = self.new_recorder()
        srv = self.tcp_server(lambda: server, ssl=server_tls_context())
        tr, client = self.run_coro(self.loop.create_connection(
            self.new_recorder, *self.server_addr(srv),
            ssl=client_tls_context(), server_hostname='localhost'))
        self.addCleanup(self.close_transport, tr)
        self.run_coro(server.made)
        self.addCleanup(self._close_protocol_transport, server)
        return tr, client, server

    def test_sendfile_over_tls_uses_fallback(self):
        data = payload(1 * MiB, seed=15)
        f = self.data_file(data)
        tr, client, server = self.tls_pair()
        sent = self.run_coro(self.loop.sendfile(tr, f))
        self.assertEqual(sent, len(data))
        self.run_until(lambda: len(server.data) >= len(data))
        self.assertEqual(bytes(server.data), data)

    def test_sendfile_over_tls_without_fallback_raises(self):
        f = self.data_file(b'data')
        tr, client, server = self.tls_pair()
        with self.assertRaises(RuntimeError):
            self.run_coro(self.loop.sendfile(tr, f, fallback=False))


class SockSendfileTests(SendfileTestCase):

    def sock_pair(self):
        """A connected (sender, receiver) pair of non-blocking TCP sockets."""
        srv = self.tcp_listener()
        a = socket.socket()
        self.addCleanup(a.close)
        a.connect(srv.getsockname())
        srv.setblocking(True)
        b, _ = srv.accept()
        self.addCleanup(b.close)
        a.setblocking(False)
        b.setblocking(False)
        return a, b

    def receive(self, sock, nbytes):
        async def main():
            got = bytearray()
            while len(got) < nbytes:
                chunk = await self.loop.sock_recv(sock, 1 << 20)
                if not chunk:
                    break
                got += chunk
            return bytes(got)
        return self.loop.create_task(main())

    def test_sock_sendfile_native(self):
        data = payload(4 * MiB, seed=16)
        f = self.data_file(data)
        a, b = self.sock_pair()
        reader = self.receive(b, len(data))
        sent = self.run_coro(self.loop.sock_sendfile(a, f, fallback=False))
        self.assertEqual(sent, len(data))
        self.assertEqual(f.tell(), len(data))
        self.assertEqual(self.run_coro(reader), data)

    def test_sock_sendfile_offset_and_count(self):
        data = payload(64 * KiB, seed=17)
        f = self.data_file(data)
        a, b = self.sock_pair()
        reader = self.receive(b, 1000)
        sent = self.run_coro(self.loop.sock_sendfile(a, f, 500, 1000))
        self.assertEqual(sent, 1000)
        self.assertEqual(f.tell(), 1500)
        self.assertEqual(self.run_coro(reader), data[500:1500])

    def test_sock_sendfile_empty_file(self):
        f = self.data_file(b'')
        a, b = self.sock_pair()
        self.assertEqual(self.run_coro(self.loop.sock_sendfile(a, f)), 0)

    def test_sock_sendfile_fallback_for_non_regular_file(self):
        data = payload(200 * KiB, seed=18)
        a, b = self.sock_pair()
        reader = self.receive(b, len(data))
        sent = self.run_coro(self.loop.sock_sendfile(a, io.BytesIO(data)))
        self.assertEqual(sent, len(data))
        self.assertEqual(self.run_coro(reader), data)

    def test_sock_sendfile_no_fallback_for_non_regular_file(self):
        a, b = self.sock_pair()
        with self.assertRaises(asyncio.SendfileNotAvailableError):
            self.run_coro(self.loop.sock_sendfile(
                a, io.BytesIO(b'data'), fallback=False))

    def test_sock_sendfile_over_unix_socket(self):
        data = payload(1 * MiB, seed=19)
        f = self.data_file(data)
        a, b = self.socketpair()
        reader = self.receive(b, len(data))
        sent = self.run_coro(self.loop.sock_sendfile(a, f, fallback=False))
        self.assertEqual(sent, len(data))
        self.assertEqual(self.run_coro(reader), data)

    def test_sock_sendfile_parameter_errors(self):
        f = self.data_file(b'data')
        a, b = self.sock_pair()
        with self.assertRaises(ValueError):
            self.run_coro(self.loop.sock_sendfile(a, f, -1))
        with self.assertRaises(ValueError):
            self.run_coro(self.loop.sock_sendfile(a, f, 0, 0))
        with self.assertRaises(TypeError):
            self.run_coro(self.loop.sock_sendfile(a, f, 0, 1.5))
        with self.assertRaises(TypeError):
            self.run_coro(self.loop.sock_sendfile(a, f, '0'))
        udp = self.udp_socket()
        with self.assertRaises(ValueError):
            self.run_coro(self.loop.sock_sendfile(udp, f))

    def test_sock_sendfile_text_file_raises(self):
        a, b = self.sock_pair()
        d = tempfile.mkdtemp()
        self.addCleanup(__import__('shutil').rmtree, d)
        path = os.path.join(d, 'text')
        with open(path, 'w') as w:
            w.write('text')
        with open(path) as f:
            with self.assertRaises(ValueError):
                self.run_coro(self.loop.sock_sendfile(a, f))

    def test_sock_sendfile_ssl_socket_raises(self):
        ctx = client_tls_context()
        sock = ctx.wrap_socket(socket.socket(), server_hostname='localhost',
                               do_handshake_on_connect=False)
        self.addCleanup(sock.close)
        sock.setblocking(False)  # debug mode checks this first
        f = self.data_file(b'data')
        with self.assertRaises(TypeError):
            self.run_coro(self.loop.sock_sendfile(sock, f))

    def test_sock_sendfile_waits_for_slow_reader(self):
        data = payload(8 * MiB, seed=20)
        f = self.data_file(data)
        a, b = self.sock_pair()
        task = self.loop.create_task(self.loop.sock_sendfile(a, f))
        self.run_stopping_after(0.05)
        self.assertFalse(task.done())
        got = self.run_coro(self.receive(b, len(data)))
        self.assertEqual(hashlib.sha256(got).digest(),
                         hashlib.sha256(data).digest())
        self.assertEqual(self.run_coro(task), len(data))

    def test_sock_sendfile_cancel_stops_sending(self):
        data = payload(8 * MiB, seed=21)
        f = self.data_file(data)
        a, b = self.sock_pair()
        task = self.loop.create_task(self.loop.sock_sendfile(a, f))
        self.run_stopping_after(0.05)
        self.assertFalse(task.done())
        task.cancel()
        with self.assertRaises(asyncio.CancelledError):
            self.run_coro(task)
        self.run_briefly(3)
        # What arrived is a prefix of the file, and sending stopped.
        b.setblocking(True)
        b.settimeout(5)
        a.shutdown(socket.SHUT_WR)
        got = bytearray()
        while True:
            chunk = b.recv(1 << 20)
            if not chunk:
                break
            got += chunk
        self.assertGreater(len(got), 0)
        self.assertLess(len(got), len(data))
        self.assertEqual(bytes(got), data[:len(got)])


if __name__ == '__main__':
    unittest.main()
