"""The loop's sock_* methods on socketpairs and loopback TCP/UDP/Unix."""

import asyncio
import gc
import hashlib
import os
import socket
import ssl
import struct
import tempfile
import unittest

from . import support
from .support import LoopTestCase


class SockRecvTests(LoopTestCase):

    def test_sock_recv_data_already_there(self):
        a, b = self.socketpair()
        b.send(b'ready')
        self.assertEqual(self.run_coro(self.loop.sock_recv(a, 100)), b'ready')

    def test_sock_recv_waits_for_data(self):
        a, b = self.socketpair()
        self.loop.call_later(0.02, b.send, b'later')
        self.assertEqual(self.run_coro(self.loop.sock_recv(a, 100)), b'later')

    def test_sock_recv_at_most_n_bytes(self):
        a, b = self.socketpair()
        b.send(b'0123456789')
        self.assertEqual(self.run_coro(self.loop.sock_recv(a, 4)), b'0123')
        self.assertEqual(self.run_coro(self.loop.sock_recv(a, 100)),
                         b'456789')

    def test_sock_recv_returns_empty_bytes_at_eof(self):
        a, b = self.socketpair()
        self.loop.call_later(0.02, b.close)
        self.assertEqual(self.run_coro(self.loop.sock_recv(a, 100)), b'')

    def test_sock_recv_error_is_raised(self):
        # Reset the connection: SO_LINGER 0 on a TCP socket makes close()
        # send RST.
        srv = self.tcp_listener()
        c = socket.create_connection(srv.getsockname())
        self.addCleanup(c.close)
        srv.setblocking(True)
        conn, _ = srv.accept()
        self.addCleanup(conn.close)
        conn.setblocking(False)
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                     struct.pack('ii', 1, 0))
        self.loop.call_later(0.02, c.close)
        with self.assertRaises(ConnectionResetError):
            self.run_coro(self.loop.sock_recv(conn, 100))

    def test_sock_recv_on_closed_socket_raises_os_error(self):
        s = socket.socket()
        s.setblocking(False)
        s.close()
        with self.assertRaises(OSError) as cm:
            self.run_coro(self.loop.sock_recv(s, 1))
        self.assertEqual(cm.exception.errno, 9)

    def test_sock_recv_into(self):
        a, b = self.socketpair()
        buf = bytearray(10)
        self.loop.call_later(0.02, b.send, b'abc')
        n = self.run_coro(self.loop.sock_recv_into(a, buf))
        self.assertEqual(n, 3)
        self.assertEqual(bytes(buf[:3]), b'abc')

    def test_sock_recv_into_memoryview(self):
        a, b = self.socketpair()
        buf = bytearray(b'..........')
        b.send(b'xyz')
        n = self.run_coro(self.loop.sock_recv_into(a, memoryview(buf)[2:6]))
        self.assertEqual(n, 3)
        self.assertEqual(buf, bytearray(b'..xyz.....'))

    def test_sock_recv_into_returns_zero_at_eof(self):
        a, b = self.socketpair()
        b.close()
        self.assertEqual(
            self.run_coro(self.loop.sock_recv_into(a, bytearray(4))), 0)

    def test_cancelled_sock_recv_leaves_data_for_next_reader(self):
        # n=100 goes through the loop's buffer, n=65536 straight into bytes.
        for size in (100, 65536):
            with self.subTest(size=size):
                a, b = self.socketpair()

                async def main():
                    task = self.loop.create_task(self.loop.sock_recv(a, size))
                    await asyncio.sleep(0.01)
                    task.cancel()
                    with self.assertRaises(asyncio.CancelledError):
                        await task
                    b.send(b'after cancel')
                    small = await self.loop.sock_recv(a, 100)
                    b.send(b'large' * 10_000)
                    return small, await self.loop.sock_recv(a, 65536)
                self.assertEqual(self.run_coro(main()),
                                 (b'after cancel', b'large' * 10_000))

    def test_cancelled_sock_recv_into_leaves_data(self):
        a, b = self.socketpair()

        async def main():
            buf = bytearray(20)
            task = self.loop.create_task(self.loop.sock_recv_into(a, buf))
            await asyncio.sleep(0.01)
            task.cancel()
            with self.assertRaises(asyncio.CancelledError):
                await task
            b.send(b'kept')
            n = await self.loop.sock_recv_into(a, buf)
            return bytes(buf[:n])
        self.assertEqual(self.run_coro(main()), b'kept')

    def test_cancel_and_data_in_the_same_iteration(self):
        # Cancellation and readability arrive together: the data must not
        # be consumed by the cancelled call.
        a, b = self.socketpair()

        async def main():
            task = self.loop.create_task(self.loop.sock_recv(a, 100))
            await asyncio.sleep(0.01)
            b.send(b'race')
            task.cancel()
            try:
                first = await task
            except asyncio.CancelledError:
                first = None
            if first is not None:
                return first
            return await self.loop.sock_recv(a, 100)
        self.assertEqual(self.run_coro(main()), b'race')

    def test_wait_for_timeout_on_sock_recv(self):
        a, b = self.socketpair()

        async def main():
            with self.assertRaises(asyncio.TimeoutError):
                await asyncio.wait_for(self.loop.sock_recv(a, 10), 0.02)
            b.send(b'next')
            return await self.loop.sock_recv(a, 10)
        self.assertEqual(self.run_coro(main()), b'next')

    def test_sock_recv_many_in_sequence(self):
        a, b = self.socketpair()

        async def main():
            got = []
            for i in range(200):
                b.send(b'%d;' % i)
                got.append(await self.loop.sock_recv(a, 100))
            return b''.join(got)
        expected = b''.join(b'%d;' % i for i in range(200))
        self.assertEqual(self.run_coro(main()), expected)


    def test_large_sock_recv_that_waits(self):
        # 32 KiB and more are received straight into the bytes object
        # returned; a call that must wait keeps it for the next attempt.
        a, b = self.socketpair()
        b.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)

        async def main():
            got = []
            for index, size in enumerate([65536, 65536, 40000, 131072, 65536]):
                data = bytes([index + 1]) * (size // 2 + index)
                self.loop.call_later(0.005, b.send, data)
                got.append((await self.loop.sock_recv(a, size), data))
            return got
        results = self.run_coro(main())
        for received, sent in results:
            self.assertEqual(received, sent)
            self.assertEqual(hash(received), hash(bytes(sent)))
        self.assertEqual(len({id(received) for received, _ in results}), len(results))

    def test_large_sock_recv_fills_the_whole_size(self):
        a, b = self.socketpair()
        b.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
        data = os.urandom(200_000)

        async def main():
            self.loop.call_later(0.005, b.sendall, data)
            first = await self.loop.sock_recv(a, 65536)  # waits
            rest = bytearray(first)
            while len(rest) < len(data):
                rest += await self.loop.sock_recv(a, 65536)
            return first, bytes(rest)
        first, whole = self.run_coro(main())
        self.assertLessEqual(len(first), 65536)
        self.assertEqual(whole, data)


class SockRecvArgumentTests(LoopTestCase):

    def test_sock_recv_zero_bytes_returns_at_once(self):
        a, b = self.socketpair()
        self.assertEqual(self.run_coro(self.loop.sock_recv(a, 0)), b'')

    def test_sock_recv_into_empty_buffer_returns_at_once(self):
        a, b = self.socketpair()
        for buf in (bytearray(), memoryview(bytearray(4))[:0]):
            with self.subTest(buf=buf):
                self.assertEqual(self.run_coro(self.loop.sock_recv_into(a, buf)), 0)

    def test_sock_recv_into_needs_a_writable_contiguous_buffer(self):
        a, b = self.socketpair()
        for name, buf in (('bytes', b'..'), ('str', 'text'),
                          ('memoryview', memoryview(bytearray(10))[::2]),
                          ('memoryview', memoryview(b'read only'))):
            with self.subTest(buf=buf):
                with self.assertRaisesRegex(
                        TypeError,
                        '^recv_into\\(\\) argument 1 must be read-write '
                        f'bytes-like object, not {name}$'):
                    self.run_coro(self.loop.sock_recv_into(a, buf))


class SockSendallTests(LoopTestCase):

    def test_sock_sendall_small(self):
        a, b = self.socketpair()
        self.assertIsNone(self.run_coro(self.loop.sock_sendall(a, b'hello')))
        self.assertEqual(b.recv(100), b'hello')

    def test_sock_sendall_empty(self):
        a, b = self.socketpair()
        self.assertIsNone(self.run_coro(self.loop.sock_sendall(a, b'')))

    def test_sock_sendall_accepts_buffers(self):
        a, b = self.socketpair()
        self.run_coro(self.loop.sock_sendall(a, bytearray(b'ba')))
        self.run_coro(self.loop.sock_sendall(a, memoryview(b'mv')))
        self.assertEqual(b.recv(100), b'bamv')

    def test_sock_sendall_large_end_to_end(self):
        a, b = self.socketpair()
        data = os.urandom(1 << 20) * 6  # 6 MiB, far past the socket buffer

        async def reader():
            h = hashlib.sha256()
            total = 0
            while total < len(data):
                chunk = await self.loop.sock_recv(b, 1 << 16)
                if not chunk:
                    break
                h.update(chunk)
                total += len(chunk)
            return total, h.hexdigest()

        async def main():
            rtask = self.loop.create_task(reader())
            await self.loop.sock_sendall(a, data)
            return await rtask
        total, digest = self.run_coro(main(), timeout=60)
        self.assertEqual(total, len(data))
        self.assertEqual(digest, hashlib.sha256(data).hexdigest())

    def test_sock_sendall_to_closed_peer_raises(self):
        a, b = self.socketpair()
        b.close()
        with self.assertRaises((BrokenPipeError, ConnectionResetError)):
            self.run_coro(self.loop.sock_sendall(a, b'x' * (1 << 22)))

    def test_sock_sendall_waits_for_a_slow_reader(self):
        a, b = self.socketpair()
        data = b'z' * (1 << 21)
        received = bytearray()

        def drain():
            try:
                while True:
                    chunk = b.recv(1 << 16)
                    if not chunk:
                        break
                    received.extend(chunk)
            except BlockingIOError:
                pass
            if len(received) < len(data):
                self.loop.call_later(0.001, drain)
        self.loop.call_later(0.01, drain)
        self.run_coro(self.loop.sock_sendall(a, data), timeout=60)
        self.run_until(lambda: len(received) == len(data))
        self.assertEqual(bytes(received), data)


class SockConnectAcceptTests(LoopTestCase):

    def test_tcp_connect_accept_and_echo(self):
        srv = self.tcp_listener()
        addr = srv.getsockname()
        client = socket.socket()
        self.addCleanup(client.close)
        client.setblocking(False)

        async def main():
            accept = self.loop.create_task(self.loop.sock_accept(srv))
            await self.loop.sock_connect(client, addr)
            conn, peer = await accept
            self.addCleanup(conn.close)
            self.assertEqual(peer, client.getsockname())
            self.assertEqual(conn.gettimeout(), 0)
            await self.loop.sock_sendall(client, b'ping')
            got = await self.loop.sock_recv(conn, 100)
            await self.loop.sock_sendall(conn, got.upper())
            return await self.loop.sock_recv(client, 100)
        self.assertEqual(self.run_coro(main()), b'PING')

    def test_sock_accept_waits_for_a_client(self):
        srv = self.tcp_listener()
        addr = srv.getsockname()

        def connect():
            c = socket.create_connection(addr)
            self.addCleanup(c.close)
        self.loop.call_later(0.02, connect)
        conn, peer = self.run_coro(self.loop.sock_accept(srv))
        conn.close()
        self.assertEqual(peer[0], '127.0.0.1')

    def test_cancelled_sock_accept_leaves_the_connection(self):
        srv = self.tcp_listener()
        addr = srv.getsockname()

        async def main():
            task = self.loop.create_task(self.loop.sock_accept(srv))
            await asyncio.sleep(0.01)
            task.cancel()
            with self.assertRaises(asyncio.CancelledError):
                await task
            c = socket.create_connection(addr)
            self.addCleanup(c.close)
            conn, peer = await self.loop.sock_accept(srv)
            conn.close()
            return peer == c.getsockname()
        self.assertTrue(self.run_coro(main()))

    def test_sock_accept_on_non_listening_socket_raises(self):
        s = socket.socket()
        self.addCleanup(s.close)
        s.setblocking(False)
        with self.assertRaises(OSError):
            self.run_coro(self.loop.sock_accept(s))

    def test_sock_connect_refused(self):
        srv = self.tcp_listener()
        addr = srv.getsockname()
        srv.close()
        client = socket.socket()
        self.addCleanup(client.close)
        client.setblocking(False)
        with self.assertRaises(ConnectionRefusedError):
            self.run_coro(self.loop.sock_connect(client, addr))

    def test_refused_sock_connect_leaves_no_reference_cycle(self):
        # CPython gh-124858: nothing but the caller may hold the exception
        # (asyncio breaks exception -> traceback -> frame -> future).
        srv = self.tcp_listener()
        addr = srv.getsockname()
        srv.close()

        async def connect():
            with socket.socket() as client:
                client.setblocking(False)
                try:
                    await self.loop.sock_connect(client, addr)
                except ConnectionRefusedError as exc:
                    return exc

        gc.disable()
        self.addCleanup(gc.enable)
        task = self.loop.create_task(connect())
        self.loop.run_until_complete(task)
        exc = task.result()
        self.assertIsInstance(exc, ConnectionRefusedError)
        self.assertEqual([r for r in gc.get_referrers(exc) if r is not task], [])

    def test_sock_connect_resolves_host_names(self):
        srv = self.tcp_listener()
        port = srv.getsockname()[1]
        client = socket.socket(socket.AF_INET)
        self.addCleanup(client.close)
        client.setblocking(False)
        self.run_coro(self.loop.sock_connect(client, ('localhost', port)))
        self.assertEqual(client.getpeername(), ('127.0.0.1', port))

    def test_unix_socket_connect_and_accept(self):
        tmp = tempfile.mkdtemp()
        path = os.path.join(tmp, 'sock')
        self.addCleanup(os.rmdir, tmp)
        self.addCleanup(lambda: os.path.exists(path) and os.unlink(path))
        srv = socket.socket(socket.AF_UNIX)
        self.addCleanup(srv.close)
        srv.bind(path)
        srv.listen()
        srv.setblocking(False)
        client = socket.socket(socket.AF_UNIX)
        self.addCleanup(client.close)
        client.setblocking(False)

        async def main():
            accept = self.loop.create_task(self.loop.sock_accept(srv))
            await self.loop.sock_connect(client, path)
            conn, _ = await accept
            self.addCleanup(conn.close)
            await self.loop.sock_sendall(conn, b'unix')
            return await self.loop.sock_recv(client, 10)
        self.assertEqual(self.run_coro(main()), b'unix')

    def test_many_clients(self):
        srv = self.tcp_listener()
        addr = srv.getsockname()

        async def client(i):
            s = socket.socket()
            s.setblocking(False)
            try:
                await self.loop.sock_connect(s, addr)
                await self.loop.sock_sendall(s, b'%d' % i)
                return await self.loop.sock_recv(s, 10)
            finally:
                s.close()

        async def server(n):
            for _ in range(n):
                conn, _ = await self.loop.sock_accept(srv)
                data = await self.loop.sock_recv(conn, 10)
                await self.loop.sock_sendall(conn, data + b'!')
                conn.close()

        async def main():
            stask = self.loop.create_task(server(20))
            results = await asyncio.gather(*(client(i) for i in range(20)))
            await stask
            return results
        self.assertEqual(sorted(self.run_coro(main())),
                         sorted(b'%d!' % i for i in range(20)))


class SockDatagramTests(LoopTestCase):

    def test_sock_sendto_and_sock_recvfrom(self):
        rx = self.udp_socket()
        tx = self.udp_socket()

        async def main():
            n = await self.loop.sock_sendto(tx, b'datagram', rx.getsockname())
            data, addr = await self.loop.sock_recvfrom(rx, 100)
            return n, data, addr
        n, data, addr = self.run_coro(main())
        self.assertEqual(n, 8)
        self.assertEqual(data, b'datagram')
        self.assertEqual(addr, tx.getsockname())

    def test_sock_recvfrom_waits(self):
        rx = self.udp_socket()
        tx = self.udp_socket()
        self.loop.call_later(0.02, tx.sendto, b'late', rx.getsockname())
        data, addr = self.run_coro(self.loop.sock_recvfrom(rx, 100))
        self.assertEqual((data, addr), (b'late', tx.getsockname()))

    def test_sock_recvfrom_truncates_to_bufsize(self):
        rx = self.udp_socket()
        tx = self.udp_socket()
        tx.sendto(b'0123456789', rx.getsockname())
        data, _ = self.run_coro(self.loop.sock_recvfrom(rx, 4))
        self.assertEqual(data, b'0123')

    def test_sock_recvfrom_into(self):
        rx = self.udp_socket()
        tx = self.udp_socket()
        buf = bytearray(16)
        self.loop.call_later(0.02, tx.sendto, b'into', rx.getsockname())
        n, addr = self.run_coro(self.loop.sock_recvfrom_into(rx, buf))
        self.assertEqual(n, 4)
        self.assertEqual(bytes(buf[:4]), b'into')
        self.assertEqual(addr, tx.getsockname())

    def test_sock_recvfrom_into_with_nbytes(self):
        rx = self.udp_socket()
        tx = self.udp_socket()
        buf = bytearray(16)
        tx.sendto(b'abcdefgh', rx.getsockname())
        n, _ = self.run_coro(self.loop.sock_recvfrom_into(rx, buf, 3))
        self.assertEqual(n, 3)
        self.assertEqual(bytes(buf[:3]), b'abc')

    def test_cancelled_sock_recvfrom_leaves_the_datagram(self):
        rx = self.udp_socket()
        tx = self.udp_socket()

        async def main():
            task = self.loop.create_task(self.loop.sock_recvfrom(rx, 100))
            await asyncio.sleep(0.01)
            task.cancel()
            with self.assertRaises(asyncio.CancelledError):
                await task
            tx.sendto(b'kept', rx.getsockname())
            return await self.loop.sock_recvfrom(rx, 100)
        self.assertEqual(self.run_coro(main())[0], b'kept')

    def test_many_datagrams(self):
        rx = self.udp_socket()
        tx = self.udp_socket()

        async def main():
            got = []
            for i in range(100):
                await self.loop.sock_sendto(tx, b'%d' % i, rx.getsockname())
                got.append((await self.loop.sock_recvfrom(rx, 100))[0])
            return got
        self.assertEqual(self.run_coro(main()), [b'%d' % i for i in range(100)])


SOCK_FAULT = '''
loop = new_event_loop()
def pair():
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)
    return a, b

async def close_under(start, sock):
    task = loop.create_task(start)
    await asyncio.sleep(0.02)
    sock.close()
    await asyncio.sleep(0.02)
    task.cancel()
    try:
        await task
    except (asyncio.CancelledError, OSError, ValueError) as exc:
        print('outcome', type(exc).__name__)
    else:
        print('outcome result')

{body}
loop.run_until_complete(asyncio.sleep(0.01))
loop.close()
print('ok')
'''


class ClosedSocketFaultTests(unittest.TestCase):
    """The user closes a socket while a sock_* call waits on it.

    Run in a child: a crash must not take the test runner down.  The
    pending call may end in CancelledError or OSError; the process must
    not crash or hang.
    """

    def run_fault(self, body):
        proc = support.run_child(SOCK_FAULT.replace('{body}', body),
                                 timeout=60)
        self.assertEqual(proc.returncode, 0, support.describe_child(proc))
        self.assertIn('ok', proc.stdout.split(), support.describe_child(proc))

    def test_close_socket_under_pending_sock_recv(self):
        self.run_fault('''
a, b = pair()
loop.run_until_complete(close_under(loop.sock_recv(a, 10), a))
b.close()
''')

    def test_close_socket_under_pending_sock_recv_into(self):
        self.run_fault('''
a, b = pair()
loop.run_until_complete(close_under(loop.sock_recv_into(a, bytearray(8)), a))
b.close()
''')

    def test_close_socket_under_pending_sock_sendall(self):
        self.run_fault('''
a, b = pair()
loop.run_until_complete(close_under(loop.sock_sendall(a, b'x' * (1 << 24)), a))
b.close()
''')

    def test_close_listener_under_pending_sock_accept(self):
        self.run_fault('''
srv = socket.socket()
srv.bind(('127.0.0.1', 0))
srv.listen()
srv.setblocking(False)
loop.run_until_complete(close_under(loop.sock_accept(srv), srv))
''')

    def test_close_udp_socket_under_pending_sock_recvfrom(self):
        self.run_fault('''
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.bind(('127.0.0.1', 0))
u.setblocking(False)
loop.run_until_complete(close_under(loop.sock_recvfrom(u, 10), u))
''')

    def test_close_and_reuse_fd_under_pending_sock_recv(self):
        self.run_fault('''
a, b = pair()
async def main():
    task = loop.create_task(loop.sock_recv(a, 10))
    await asyncio.sleep(0.02)
    fd = a.fileno()
    a.close()
    b.close()
    c, d = pair()
    new, peer = (c, d) if c.fileno() == fd else (d, c)
    peer.send(b'new data')
    await asyncio.sleep(0.02)
    task.cancel()
    try:
        print('old call', await task)
    except (asyncio.CancelledError, OSError) as exc:
        print('old call', type(exc).__name__)
    data = await asyncio.wait_for(loop.sock_recv(new, 10), 5)
    print('new call', data)
    c.close()
    d.close()
loop.run_until_complete(main())
''')


class SockArgumentTests(LoopTestCase):

    def blocking_calls(self, sock, udp):
        loop = self.loop
        return [
            ('sock_recv', lambda: loop.sock_recv(sock, 1)),
            ('sock_recv_into', lambda: loop.sock_recv_into(sock, bytearray(1))),
            ('sock_recvfrom', lambda: loop.sock_recvfrom(udp, 1)),
            ('sock_recvfrom_into',
             lambda: loop.sock_recvfrom_into(udp, bytearray(1))),
            ('sock_sendall', lambda: loop.sock_sendall(sock, b'x')),
            ('sock_sendto',
             lambda: loop.sock_sendto(udp, b'x', ('127.0.0.1', 9))),
            ('sock_connect',
             lambda: loop.sock_connect(sock, ('127.0.0.1', 9))),
            ('sock_accept', lambda: loop.sock_accept(sock)),
        ]

    def test_blocking_socket_raises_value_error_in_debug_mode(self):
        self.loop.set_debug(True)
        sock = socket.socket()
        self.addCleanup(sock.close)
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(udp.close)
        self.assertIsNone(sock.gettimeout())
        for name, call in self.blocking_calls(sock, udp):
            with self.subTest(method=name):
                with self.assertRaisesRegex(
                        ValueError, '^the socket must be non-blocking$'):
                    self.run_coro(call())

    def test_socket_with_timeout_raises_value_error_in_debug_mode(self):
        self.loop.set_debug(True)
        a, b = socket.socketpair()
        self.addCleanup(a.close)
        self.addCleanup(b.close)
        a.settimeout(5)
        with self.assertRaisesRegex(ValueError,
                                    '^the socket must be non-blocking$'):
            self.run_coro(self.loop.sock_recv(a, 1))

    def test_ssl_socket_raises_type_error(self):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        sock = ctx.wrap_socket(socket.socket(), server_hostname='localhost',
                               do_handshake_on_connect=False)
        self.addCleanup(sock.close)
        sock.setblocking(False)
        udp = self.udp_socket()
        for name, call in self.blocking_calls(sock, udp):
            if 'from' in name or 'sendto' in name:
                continue
            with self.subTest(method=name):
                with self.assertRaisesRegex(
                        TypeError, '^Socket cannot be of type SSLSocket$'):
                    self.run_coro(call())

    def test_loop_usable_after_argument_errors(self):
        self.loop.set_debug(True)
        sock = socket.socket()
        self.addCleanup(sock.close)
        with self.assertRaises(ValueError):
            self.run_coro(self.loop.sock_recv(sock, 1))
        a, b = self.socketpair()
        b.send(b'fine')
        self.assertEqual(self.run_coro(self.loop.sock_recv(a, 10)), b'fine')


if __name__ == '__main__':
    unittest.main()


class ClosedLoopSockTests(unittest.TestCase):
    """sock_* on a closed loop: a ready socket still answers at once; one
    that would have to wait raises, as asyncio's selector loop does."""

    def setUp(self):
        self.loop = support.new_event_loop()
        self.a, self.b = socket.socketpair()
        self.a.setblocking(False)
        self.loop.close()
        self.addCleanup(self.a.close)
        self.addCleanup(self.b.close)

    def step(self, coro):
        """Run coro's first step; its result, or the exception it raised."""
        try:
            coro.send(None)
        except StopIteration as stop:
            return stop.value
        finally:
            coro.close()
        self.fail('the coroutine waited on a closed loop')

    def test_recv_that_must_wait_raises(self):
        with self.assertRaisesRegex(RuntimeError, 'Event loop is closed'):
            self.step(self.loop.sock_recv(self.a, 10))

    def test_recv_of_ready_data_returns_it(self):
        self.b.send(b'ready')
        self.assertEqual(self.step(self.loop.sock_recv(self.a, 10)), b'ready')

    def test_recv_into_that_must_wait_raises(self):
        with self.assertRaisesRegex(RuntimeError, 'Event loop is closed'):
            self.step(self.loop.sock_recv_into(self.a, bytearray(10)))
