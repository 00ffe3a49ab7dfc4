"""Unix stream sockets: create_unix_server / create_unix_connection,
abstract names, the socket file's life, and the transport over AF_UNIX."""

import asyncio
import errno
import hashlib
import os
import pathlib
import socket
import unittest

from .support import PY_VERSION
from .net_support import (
    KiB, MiB, BufferedRecorder, Echo, NetTestCase, abstract_name, payload,
    unix_path, stream_round_trip)

requires_313 = unittest.skipUnless(PY_VERSION >= (3, 13), 'Python 3.13+')


class UnixTestCase(NetTestCase):

    def unix_server(self, factory, path, **kw):
        server = self.run_coro(self.loop.create_unix_server(factory, path,
                                                            **kw))
        self.addCleanup(self._close_server, server)
        return server

    def unix_connect(self, path, proto=None, **kw):
        if proto is None:
            proto = self.new_recorder()
        tr, pr = self.run_coro(self.loop.create_unix_connection(
            lambda: proto, path, **kw))
        self.addCleanup(self.close_transport, tr)
        self.assertIs(pr, proto)
        return tr, proto

    def unix_pair(self, client=None, server=None):
        """(client_transport, client_protocol, server_protocol) over a Unix
        socket in a temporary directory."""
        if server is None:
            server = self.new_recorder()
        path = unix_path(self)
        self.unix_server(lambda: server, path)
        tr, client = self.unix_connect(path, client)
        self.run_coro(server.made)
        self.addCleanup(self._close_protocol_transport, server)
        return tr, client, server


class UnixConnectionTests(UnixTestCase):

    def test_echo(self):
        path = unix_path(self)
        self.unix_server(Echo, path)
        tr, proto = self.unix_connect(path)
        tr.write(b'over unix')
        self.run_until(lambda: bytes(proto.data) == b'over unix')

    def test_transport_is_an_asyncio_transport(self):
        tr, _, server = self.unix_pair()
        self.assertIsInstance(tr, asyncio.Transport)
        self.assertIsInstance(server.transport, asyncio.Transport)
        self.assertTrue(tr.can_write_eof())

    def test_path_like_path(self):
        path = pathlib.Path(unix_path(self))
        self.unix_server(Echo, path)
        self.assertTrue(path.exists())
        tr, proto = self.unix_connect(path)
        tr.write(b'pathlib')
        self.run_until(lambda: bytes(proto.data) == b'pathlib')

    def test_extra_info(self):
        path = unix_path(self)
        server = self.new_recorder()
        self.unix_server(lambda: server, path)
        tr, _ = self.unix_connect(path)
        self.run_coro(server.made)
        self.addCleanup(self._close_protocol_transport, server)
        self.assertEqual(tr.get_extra_info('peername'), path)
        self.assertEqual(tr.get_extra_info('sockname'), '')
        self.assertEqual(server.transport.get_extra_info('sockname'), path)
        sock = tr.get_extra_info('socket')
        self.assertIsInstance(sock, asyncio.trsock.TransportSocket)
        self.assertEqual(sock.family, socket.AF_UNIX)

    def test_half_close(self):
        client = self.new_recorder()
        server = self.new_recorder(eof_result=True)
        tr, _, _ = self.unix_pair(client, server)
        tr.write(b'request')
        tr.write_eof()
        self.run_coro(server.eof)
        self.assertEqual(bytes(server.data), b'request')
        server.transport.write(b'response')
        server.transport.close()
        self.assertIsNone(self.run_coro(client.lost))
        self.assertEqual(bytes(client.data), b'response')
        self.assertEqual(client.events, ['made', 'eof', 'lost'])
        self.assertIsNone(self.run_coro(server.lost))

    def test_buffered_protocol(self):
        client = BufferedRecorder(self.loop, buffer_size=1000)
        tr, _, server = self.unix_pair(client)
        data = payload(100 * KiB)
        server.transport.write(data)
        self.run_until(lambda: len(client.data) >= len(data))
        self.assertEqual(bytes(client.data), data)
        self.assertLessEqual(max(client.updates), 1000)
        self.assert_no_misuse(client)

    def test_pause_reading(self):
        tr, client, server = self.unix_pair()
        tr.pause_reading()
        server.transport.write(b'wait')
        self.run_stopping_after(0.05)
        self.assertEqual(bytes(client.data), b'')
        tr.resume_reading()
        self.run_until(lambda: bytes(client.data) == b'wait')

    def test_flow_control(self):
        tr, client, server = self.unix_pair()
        server.transport.pause_reading()
        sent = 0
        while 'pause' not in client.events:
            tr.write(payload(256 * KiB))
            sent += 256 * KiB
            self.assertLess(sent, 64 * MiB)
        self.assertEqual(tr.get_write_buffer_limits(), (16384, 65536))
        server.transport.resume_reading()
        self.run_until(lambda: 'resume' in client.events)
        self.run_until(lambda: len(server.data) == sent)

    def test_one_megabyte_each_way(self):
        tr, client, server = self.unix_pair()
        up = payload(MiB, seed=1)
        down = payload(MiB, seed=2)
        tr.write(up)
        server.transport.write(down)
        self.run_until(lambda: len(server.data) >= len(up) and
                       len(client.data) >= len(down))
        self.assertEqual(hashlib.sha256(server.data).digest(),
                         hashlib.sha256(up).digest())
        self.assertEqual(hashlib.sha256(client.data).digest(),
                         hashlib.sha256(down).digest())

    def test_peer_close_gives_eof_and_connection_lost(self):
        tr, client, server = self.unix_pair()
        server.transport.close()
        self.assertIsNone(self.run_coro(client.lost))
        self.assertEqual(client.events, ['made', 'eof', 'lost'])

    def test_connect_with_sock(self):
        path = unix_path(self)
        self.unix_server(Echo, path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(path)
        proto = self.new_recorder()
        tr, _ = self.run_coro(self.loop.create_unix_connection(
            lambda: proto, sock=sock))
        self.addCleanup(self.close_transport, tr)
        tr.write(b'sock')
        self.run_until(lambda: bytes(proto.data) == b'sock')

    def test_connect_missing_path(self):
        path = unix_path(self)
        with self.assertRaises(FileNotFoundError):
            self.run_coro(self.loop.create_unix_connection(
                self.new_recorder, path))

    def test_connect_without_listener(self):
        path = unix_path(self)
        s = socket.socket(socket.AF_UNIX)
        s.bind(path)
        s.close()  # the file stays, nobody listens
        with self.assertRaises(ConnectionRefusedError):
            self.run_coro(self.loop.create_unix_connection(
                self.new_recorder, path))

    def test_connection_argument_errors(self):
        path = unix_path(self)
        with self.assertRaises(ValueError):
            self.run_coro(self.loop.create_unix_connection(
                self.new_recorder))
        sock = socket.socket(socket.AF_UNIX)
        self.addCleanup(sock.close)
        with self.assertRaises(ValueError):
            self.run_coro(self.loop.create_unix_connection(
                self.new_recorder, path, sock=sock))
        tcp = socket.socket()
        self.addCleanup(tcp.close)
        with self.assertRaises(ValueError):
            self.run_coro(self.loop.create_unix_connection(
                self.new_recorder, sock=tcp))
        with self.assertRaises(ValueError):
            self.run_coro(self.loop.create_unix_connection(
                self.new_recorder, path, server_hostname='x'))
        with self.assertRaises(ValueError):
            self.run_coro(self.loop.create_unix_connection(
                self.new_recorder, path, ssl_handshake_timeout=1))


class UnixServerTests(UnixTestCase):

    def test_server_socket(self):
        path = unix_path(self)
        server = self.unix_server(Echo, path)
        self.assertTrue(server.is_serving())
        self.assertEqual(len(server.sockets), 1)
        self.assertEqual(server.sockets[0].family, socket.AF_UNIX)
        self.assertEqual(server.sockets[0].getsockname(), path)

    def test_abstract_namespace(self):
        name = abstract_name(self)
        server = self.unix_server(Echo, name)
        self.assertIn(server.sockets[0].getsockname(),
                      (name, name.encode()))
        tr, proto = self.unix_connect(name)
        tr.write(b'abstract')
        self.run_until(lambda: bytes(proto.data) == b'abstract')
        tr.close()
        server.close()
        self.run_coro(server.wait_closed())

    def test_abstract_namespace_bytes(self):
        name = abstract_name(self).encode()
        self.unix_server(Echo, name)
        tr, proto = self.unix_connect(name)
        tr.write(b'bytes name')
        self.run_until(lambda: bytes(proto.data) == b'bytes name')

    def test_stale_socket_file_is_replaced(self):
        path = unix_path(self)
        stale = socket.socket(socket.AF_UNIX)
        stale.bind(path)
        stale.close()
        self.assertTrue(os.path.exists(path))
        self.unix_server(Echo, path)
        tr, proto = self.unix_connect(path)
        tr.write(b'fresh')
        self.run_until(lambda: bytes(proto.data) == b'fresh')

    def test_regular_file_in_the_way(self):
        path = unix_path(self)
        with open(path, 'w') as f:
            f.write('not a socket')
        with self.assertRaises(OSError) as cm:
            self.run_coro(self.loop.create_unix_server(Echo, path))
        self.assertEqual(cm.exception.errno, errno.EADDRINUSE)
        self.assertIn(path, str(cm.exception))
        with open(path) as f:
            self.assertEqual(f.read(), 'not a socket')

    def test_server_with_sock(self):
        path = unix_path(self)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(path)
        server = self.run_coro(self.loop.create_unix_server(Echo, sock=sock))
        self.addCleanup(self._close_server, server)
        tr, proto = self.unix_connect(path)
        tr.write(b'given')
        self.run_until(lambda: bytes(proto.data) == b'given')

    def test_server_argument_errors(self):
        with self.assertRaises(ValueError):
            self.run_coro(self.loop.create_unix_server(Echo))
        tcp = socket.socket()
        self.addCleanup(tcp.close)
        with self.assertRaises(ValueError):
            self.run_coro(self.loop.create_unix_server(Echo, sock=tcp))
        with self.assertRaises(TypeError):
            self.run_coro(self.loop.create_unix_server(
                Echo, unix_path(self), ssl=True))

    def test_start_serving_false(self):
        path = unix_path(self)
        server = self.unix_server(Echo, path, start_serving=False)
        self.assertFalse(server.is_serving())
        self.run_coro(server.start_serving())
        tr, proto = self.unix_connect(path)
        tr.write(b'late start')
        self.run_until(lambda: bytes(proto.data) == b'late start')

    def test_close_stops_accepting(self):
        path = unix_path(self)
        server = self.unix_server(Echo, path, cleanup_socket=False) \
            if PY_VERSION >= (3, 13) else self.unix_server(Echo, path)
        server.close()
        self.run_coro(server.wait_closed())
        with self.assertRaises(ConnectionRefusedError):
            self.run_coro(self.loop.create_unix_connection(
                self.new_recorder, path))

    @unittest.skipIf(PY_VERSION >= (3, 13), '3.13 removes the file')
    def test_socket_file_stays_after_close_before_313(self):
        path = unix_path(self)
        server = self.unix_server(Echo, path)
        server.close()
        self.run_coro(server.wait_closed())
        self.assertTrue(os.path.exists(path))

    @requires_313
    def test_socket_file_removed_on_close(self):
        path = unix_path(self)
        server = self.unix_server(Echo, path)
        self.assertTrue(os.path.exists(path))
        server.close()
        self.assertFalse(os.path.exists(path))
        self.run_coro(server.wait_closed())

    @requires_313
    def test_cleanup_socket_false_keeps_file(self):
        path = unix_path(self)
        server = self.unix_server(Echo, path, cleanup_socket=False)
        server.close()
        self.run_coro(server.wait_closed())
        self.assertTrue(os.path.exists(path))

    @requires_313
    def test_replaced_socket_file_is_not_removed(self):
        path = unix_path(self)
        server = self.unix_server(Echo, path)
        os.unlink(path)
        other = socket.socket(socket.AF_UNIX)
        self.addCleanup(other.close)
        other.bind(path)
        server.close()
        self.run_coro(server.wait_closed())
        self.assertTrue(os.path.exists(path))

    @requires_313
    def test_socket_file_of_given_sock_removed_on_close(self):
        path = unix_path(self)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(path)
        server = self.run_coro(self.loop.create_unix_server(Echo, sock=sock))
        self.addCleanup(self._close_server, server)
        server.close()
        self.assertFalse(os.path.exists(path))

    @requires_313
    def test_abstract_server_close_removes_nothing(self):
        name = abstract_name(self)
        server = self.unix_server(Echo, name)
        server.close()
        self.run_coro(server.wait_closed())

    def test_many_clients(self):
        path = unix_path(self)
        self.unix_server(Echo, path)

        async def one(i):
            reader, writer = await asyncio.open_unix_connection(path)
            data = payload(10 * KiB, seed=i)
            got = await stream_round_trip(reader, writer, data)
            return got == data

        async def main():
            return await asyncio.gather(*(one(i) for i in range(50)))

        self.assertTrue(all(self.run_coro(main())))


if __name__ == '__main__':
    unittest.main()
