"""asyncio.Server over the loop's accept loop: create_server,
start_serving, serve_forever, close, wait_closed, close_clients /
abort_clients (3.13), keep_alive (3.13)."""

import asyncio
import contextvars
import errno
import gc
import os
import resource
import socket
import unittest
import warnings
from asyncio import constants
from unittest import mock

from .support import PY_VERSION
from .net_support import (
    HOST, MiB, Echo, NetTestCase, Recorder, payload, stream_round_trip)

requires_313 = unittest.skipUnless(PY_VERSION >= (3, 13), 'Python 3.13+')


class ServerTestCase(NetTestCase):

    def blocking_client(self, server, timeout=5.0):
        s = socket.create_connection(self.server_addr(server),
                                     timeout=timeout)
        self.addCleanup(s.close)
        return s

    def echo_works(self, server, data=b'ping'):
        async def check():
            reader, writer = await asyncio.open_connection(
                *self.server_addr(server))
            try:
                writer.write(data)
                return await reader.readexactly(len(data))
            finally:
                writer.close()
                await writer.wait_closed()
        return self.run_coro(check(), timeout=10) == data

    def server_protocols(self):
        """A factory of Recorders and the list they are collected in."""
        made = []

        def factory():
            p = Recorder(self.loop)
            made.append(p)
            return p
        return factory, made


class CreateServerTests(ServerTestCase):

    def test_create_server_is_serving(self):
        server = self.tcp_server(Echo)
        self.assertIsInstance(server, asyncio.AbstractServer)
        self.assertTrue(server.is_serving())
        self.assertIs(server.get_loop(), self.loop)
        self.assertTrue(self.echo_works(server))

    def test_server_sockets(self):
        server = self.tcp_server(Echo)
        socks = server.sockets
        self.assertIsInstance(socks, tuple)
        self.assertEqual(len(socks), 1)
        self.assertIsInstance(socks[0], asyncio.trsock.TransportSocket)
        self.assertEqual(socks[0].getsockname()[0], HOST)
        self.assertNotEqual(socks[0].getsockname()[1], 0)
        self.assertEqual(socks[0].type, socket.SOCK_STREAM)

    def test_create_server_with_sock(self):
        sock = socket.socket()
        sock.bind((HOST, 0))
        server = self.run_coro(self.loop.create_server(Echo, sock=sock))
        self.addCleanup(self._close_server, server)
        self.assertEqual(server.sockets[0].fileno(), sock.fileno())
        self.assertTrue(self.echo_works(server))

    def test_create_server_reuse_port(self):
        if not hasattr(socket, 'SO_REUSEPORT'):
            self.skipTest('no SO_REUSEPORT')
        server = self.tcp_server(Echo, reuse_port=True)
        self.assertTrue(server.sockets[0].getsockopt(
            socket.SOL_SOCKET, socket.SO_REUSEPORT))

    def test_create_server_rejects_bool_ssl(self):
        with self.assertRaises(TypeError):
            self.run_coro(self.loop.create_server(Echo, HOST, 0, ssl=True))

    def test_create_server_address_in_use(self):
        server = self.tcp_server(Echo)
        with self.assertRaises(OSError):
            self.run_coro(self.loop.create_server(
                Echo, *self.server_addr(server), reuse_address=False))

    def test_accepted_transport_extra_info(self):
        factory, made = self.server_protocols()
        server = self.tcp_server(factory)
        client = self.blocking_client(server)
        self.run_until(lambda: made)
        tr = made[0].transport
        self.assertEqual(tr.get_extra_info('peername'), client.getsockname())
        self.assertEqual(tr.get_extra_info('sockname'), client.getpeername())
        self.assertIsInstance(tr.get_extra_info('socket'),
                              asyncio.trsock.TransportSocket)

    def test_many_pending_connections_all_accepted(self):
        factory, made = self.server_protocols()
        server = self.tcp_server(factory, backlog=200)
        clients = [self.blocking_client(server) for _ in range(150)]
        self.run_until(lambda: len(made) == len(clients))
        for p in made:
            self.assertEqual(p.events, ['made'])

    def test_server_keeps_serving_after_protocol_factory_raises(self):
        # asyncio reports the error only in debug mode; keep no reference
        # to it (its traceback would keep the accepted socket open).
        seen = []
        self.loop.set_exception_handler(
            lambda loop, ctx: seen.append(type(ctx.get('exception'))))
        calls = []

        def factory():
            calls.append(None)
            if len(calls) == 1:
                raise support_error()
            return Echo()

        class support_error(Exception):
            pass

        server = self.tcp_server(factory)
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', ResourceWarning)
            first = self.blocking_client(server)
            first.setblocking(False)
            self.run_until(lambda: calls)
            self.run_briefly(3)
            gc.collect()  # debug mode: the error context forms a cycle
            self.peer_sees_eof_or_reset(first)
            self.assertTrue(self.echo_works(server))


    def test_protocol_factory_error_reported_in_debug_mode(self):
        errors = self.collect_errors()
        self.loop.set_debug(True)

        class FactoryError(Exception):
            pass

        def factory():
            raise FactoryError

        server = self.tcp_server(factory)
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', ResourceWarning)
            client = self.blocking_client(server)
            client.setblocking(False)
            self.run_until(lambda: any(
                isinstance(e.get('exception'), FactoryError)
                for e in errors))
        self.assertTrue(server.is_serving())
        # (The client socket is not checked: the recorded context keeps
        # the accepted socket alive through the traceback.)
        errors.clear()


class FlakyAcceptSocket(socket.socket):
    """A listening socket whose accept() first raises the OSErrors given."""

    def __init__(self, *errors):
        super().__init__(socket.AF_INET, socket.SOCK_STREAM)
        self.errors = list(errors)

    def accept(self):
        if self.errors:
            raise self.errors.pop(0)
        return super().accept()


class AcceptTests(ServerTestCase):
    """The accept loop: what asyncio's selector loop does when accept()
    fails, the context each connection's protocol is made in, debug logs."""

    def flaky_server(self, *errors):
        sock = FlakyAcceptSocket(*errors)
        sock.bind((HOST, 0))
        return self.run_coro(self.loop.create_server(Echo, sock=sock)), sock

    def test_out_of_fds_pauses_accepting_then_resumes(self):
        errors = self.collect_errors()
        server = self.tcp_server(Echo)
        self.addCleanup(server.close)
        client = self.blocking_client(server)
        client.sendall(b'ping')
        limits = resource.getrlimit(resource.RLIMIT_NOFILE)
        probe = os.dup(0)
        os.close(probe)
        # accept() gets the lowest free fd: no free fd under the limit.
        with mock.patch.object(constants, 'ACCEPT_RETRY_DELAY', 0.05):
            resource.setrlimit(resource.RLIMIT_NOFILE, (probe, limits[1]))
            try:
                self.run_until(lambda: errors)
            finally:
                resource.setrlimit(resource.RLIMIT_NOFILE, limits)
            self.assertEqual(errors[0]['message'],
                             'socket.accept() out of system resource')
            self.assertEqual(errors[0]['exception'].errno, errno.EMFILE)
            self.assertIsInstance(errors[0]['socket'], asyncio.trsock.TransportSocket)
            self.assertEqual(errors[0]['socket'].fileno(), server.sockets[0].fileno())
            client.setblocking(False)
            echo = self.run_coro(self.loop.sock_recv(client, 4), timeout=10)
            self.assertEqual(echo, b'ping')  # served after the pause
        self.assertTrue(server.is_serving())

    def test_accept_method_of_a_socket_subclass_is_used(self):
        errors = self.collect_errors()
        with mock.patch.object(constants, 'ACCEPT_RETRY_DELAY', 0.05):
            server, sock = self.flaky_server(OSError(errno.ENFILE, 'no file'))
            self.addCleanup(server.close)
            self.assertTrue(self.echo_works(server))
        self.assertEqual([e['message'] for e in errors],
                         ['socket.accept() out of system resource'])
        self.assertEqual(errors[0]['exception'].errno, errno.ENFILE)

    def test_other_accept_errors_go_to_the_exception_handler(self):
        errors = self.collect_errors()
        failure = OSError(errno.EPROTO, 'protocol error')
        server, sock = self.flaky_server(failure)
        self.addCleanup(server.close)
        self.assertTrue(self.echo_works(server))
        self.assertEqual(len(errors), 1)
        self.assertIs(errors[0]['exception'], failure)
        self.assertTrue(errors[0]['message'].startswith('Exception in callback'))

    def test_would_block_and_aborted_accepts_are_skipped(self):
        self.collect_errors()
        server, sock = self.flaky_server(BlockingIOError(), InterruptedError(),
                                         ConnectionAbortedError())
        self.addCleanup(server.close)
        self.assertTrue(self.echo_works(server))
        self.assertEqual(self.loop_errors, [])

    def test_each_protocol_is_made_in_a_context_of_its_own(self):
        var = contextvars.ContextVar('var', default=0)
        seen = []

        def factory():
            seen.append(var.get())
            var.set(var.get() + 1)
            return Echo()

        server = self.tcp_server(factory)
        for _ in range(3):
            self.assertTrue(self.echo_works(server))
        self.assertEqual(seen, [0, 0, 0])

    def test_debug_mode_logs_each_connection(self):
        self.loop.set_debug(True)
        self.loop.slow_callback_duration = 60
        server = self.tcp_server(Echo)
        with self.assertLogs('asyncio', level='DEBUG') as logs:
            self.assertTrue(self.echo_works(server))
        self.assertTrue(any('got a new connection from' in line for line in logs.output),
                        logs.output)


class StartServingTests(ServerTestCase):

    def test_start_serving_false(self):
        server = self.tcp_server(Echo, start_serving=False)
        self.assertFalse(server.is_serving())
        self.run_coro(server.start_serving())
        self.assertTrue(server.is_serving())
        self.assertTrue(self.echo_works(server))

    def test_start_serving_twice(self):
        server = self.tcp_server(Echo, start_serving=False)
        self.run_coro(server.start_serving())
        self.run_coro(server.start_serving())
        self.assertTrue(server.is_serving())
        self.assertTrue(self.echo_works(server))

    def test_async_with_closes_server(self):
        async def main():
            server = await self.loop.create_server(Echo, HOST, 0)
            async with server:
                self.assertTrue(server.is_serving())
            return server
        server = self.run_coro(main())
        self.assertFalse(server.is_serving())
        self.assertEqual(server.sockets, ())


class ServeForeverTests(ServerTestCase):

    def test_serve_forever_serves_until_cancelled(self):
        server = self.tcp_server(Echo, start_serving=False)
        task = self.loop.create_task(server.serve_forever())
        self.run_briefly(2)
        self.assertTrue(server.is_serving())
        self.assertTrue(self.echo_works(server))
        self.assertFalse(task.done())
        task.cancel()
        with self.assertRaises(asyncio.CancelledError):
            self.run_coro(task)
        self.assertFalse(server.is_serving())
        self.assertEqual(server.sockets, ())

    def test_serve_forever_twice_raises(self):
        server = self.tcp_server(Echo)
        task = self.loop.create_task(server.serve_forever())
        self.run_briefly(2)
        with self.assertRaises(RuntimeError):
            self.run_coro(server.serve_forever())
        task.cancel()
        with self.assertRaises(asyncio.CancelledError):
            self.run_coro(task)

    def test_serve_forever_on_closed_server_raises(self):
        server = self.tcp_server(Echo)
        server.close()
        with self.assertRaises(RuntimeError):
            self.run_coro(server.serve_forever())

    def test_close_ends_serve_forever(self):
        server = self.tcp_server(Echo)
        task = self.loop.create_task(server.serve_forever())
        self.run_briefly(2)
        server.close()
        with self.assertRaises(asyncio.CancelledError):
            self.run_coro(task)


class ServerCloseTests(ServerTestCase):

    def test_close_stops_listening(self):
        server = self.tcp_server(Echo)
        addr = self.server_addr(server)
        server.close()
        self.assertFalse(server.is_serving())
        self.assertEqual(server.sockets, ())
        self.run_briefly(2)
        with self.assertRaises(ConnectionRefusedError):
            socket.create_connection(addr, timeout=5).close()

    def test_close_twice(self):
        server = self.tcp_server(Echo)
        server.close()
        server.close()
        self.run_coro(server.wait_closed())

    def test_close_leaves_connections_open(self):
        server = self.tcp_server(Echo)

        async def main():
            reader, writer = await asyncio.open_connection(
                *self.server_addr(server))
            server.close()
            await asyncio.sleep(0.01)
            return await stream_round_trip(reader, writer, b'still echoing')

        self.assertEqual(self.run_coro(main()), b'still echoing')

    def test_wait_closed_waits_for_close(self):
        server = self.tcp_server(Echo)
        waiter = self.loop.create_task(server.wait_closed())
        self.run_briefly(3)
        self.assertFalse(waiter.done())
        server.close()
        self.run_coro(waiter)

    def test_wait_closed_without_connections_returns(self):
        server = self.tcp_server(Echo)
        server.close()
        self.run_coro(server.wait_closed(), timeout=5)

    @unittest.skipIf(PY_VERSION < (3, 12),
                     '3.11 wait_closed() returns once the server is closed')
    def test_wait_closed_waits_for_connections(self):
        factory, made = self.server_protocols()
        server = self.tcp_server(factory)
        client = self.blocking_client(server)
        self.run_until(lambda: made)
        server.close()
        waiter = self.loop.create_task(server.wait_closed())
        self.run_stopping_after(0.05)
        self.assertFalse(waiter.done())
        made[0].transport.close()
        self.run_coro(waiter)

    @unittest.skipIf(PY_VERSION < (3, 12),
                     '3.11 wait_closed() returns once the server is closed')
    def test_wait_closed_waits_for_client_disconnect(self):
        factory, made = self.server_protocols()
        server = self.tcp_server(factory)
        client = self.blocking_client(server)
        self.run_until(lambda: made)
        server.close()
        waiter = self.loop.create_task(server.wait_closed())
        self.run_stopping_after(0.05)
        self.assertFalse(waiter.done())
        client.close()  # the server protocol's eof_received closes
        self.run_coro(waiter)
        self.assertEqual(made[0].events, ['made', 'eof', 'lost'])

    @unittest.skipIf(PY_VERSION < (3, 12),
                     '3.11 wait_closed() returns once the server is closed')
    def test_wait_closed_waits_for_aborted_connections(self):
        factory, made = self.server_protocols()
        server = self.tcp_server(factory)
        clients = [self.blocking_client(server) for _ in range(3)]
        self.run_until(lambda: len(made) == 3)
        server.close()
        waiter = self.loop.create_task(server.wait_closed())
        for p in made[:2]:
            p.transport.abort()
        self.run_stopping_after(0.05)
        self.assertFalse(waiter.done())
        made[2].transport.abort()
        self.run_coro(waiter)


class CloseClientsTests(ServerTestCase):

    @requires_313
    def test_close_clients(self):
        factory, made = self.server_protocols()
        server = self.tcp_server(factory)
        clients = [self.blocking_client(server) for _ in range(3)]
        self.run_until(lambda: len(made) == 3)
        server.close()
        server.close_clients()
        self.run_coro(server.wait_closed())
        for p in made:
            self.assertIsNone(self.run_coro(p.lost))
            self.assertEqual(p.lost_count, 1)
        for c in clients:
            c.settimeout(5)
            self.assertEqual(c.recv(10), b'')

    @requires_313
    def test_close_clients_flushes_data(self):
        factory, made = self.server_protocols()
        server = self.tcp_server(factory)
        client = self.blocking_client(server)
        client.setblocking(False)
        self.run_until(lambda: made)
        data = payload(2 * MiB)
        made[0].transport.write(data)
        server.close_clients()
        self.assertEqual(self.peer_read_to_eof(client), data)
        self.assertIsNone(self.run_coro(made[0].lost))

    @requires_313
    def test_abort_clients(self):
        factory, made = self.server_protocols()
        server = self.tcp_server(factory)
        client = socket.socket()
        self.addCleanup(client.close)
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        client.connect(self.server_addr(server))
        client.setblocking(False)
        self.run_until(lambda: made)
        data = payload(4 * MiB)
        made[0].transport.write(data)
        self.assertGreater(made[0].transport.get_write_buffer_size(), 0)
        server.close()
        server.abort_clients()
        self.assertIsNone(self.run_coro(made[0].lost))
        got = self.peer_sees_eof_or_reset(client)
        self.assertLess(len(got), len(data))
        self.run_coro(server.wait_closed())

    @requires_313
    def test_close_clients_skips_closed_connections(self):
        factory, made = self.server_protocols()
        server = self.tcp_server(factory)
        clients = [self.blocking_client(server) for _ in range(2)]
        self.run_until(lambda: len(made) == 2)
        made[0].transport.close()
        self.run_coro(made[0].lost)
        server.close_clients()
        self.run_coro(made[1].lost)
        self.assertEqual(made[0].lost_count, 1)
        self.assertEqual(made[1].lost_count, 1)

    @requires_313
    def test_keep_alive(self):
        server = self.tcp_server(Echo, keep_alive=True)
        self.assertTrue(server.sockets[0].getsockopt(
            socket.SOL_SOCKET, socket.SO_KEEPALIVE))

    @requires_313
    def test_no_keep_alive_by_default(self):
        server = self.tcp_server(Echo)
        self.assertFalse(server.sockets[0].getsockopt(
            socket.SOL_SOCKET, socket.SO_KEEPALIVE))


if __name__ == '__main__':
    unittest.main()
