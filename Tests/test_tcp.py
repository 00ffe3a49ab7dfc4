"""TCP socket transports: Protocol and BufferedProtocol callbacks, the
transport API, flow control, create_connection and
connect_accepted_socket."""

import asyncio
import gc
import logging
import socket
import sys
import unittest
import warnings
import weakref

from . import support
from .support import PY_VERSION
from .net_support import (
    HOST, KiB, MiB, DEFAULT_HIGH_WATER, DEFAULT_LOW_WATER,
    Boom, BufferedRecorder, Echo, NetTestCase, Recorder, payload)


class TransportTypeTests(NetTestCase):

    def test_transport_is_an_asyncio_transport(self):
        tr, _, _ = self.connect_pair()
        self.assertIsInstance(tr, asyncio.Transport)
        self.assertIsInstance(tr, asyncio.ReadTransport)
        self.assertIsInstance(tr, asyncio.WriteTransport)
        self.assertIsInstance(tr, asyncio.BaseTransport)

    def test_server_side_transport_is_an_asyncio_transport(self):
        _, _, server = self.connect_pair()
        self.assertIsInstance(server.transport, asyncio.Transport)

    def test_transport_supports_start_tls_and_sendfile(self):
        # BaseEventLoop.start_tls and sendfile look these attributes up.
        tr, _, _ = self.connect_pair()
        self.assertTrue(getattr(tr, '_start_tls_compatible', False))
        self.assertIs(getattr(tr, '_sendfile_compatible', None),
                      asyncio.constants._SendfileMode.TRY_NATIVE)

    @support.aioev_only
    def test_transport_is_aioev_native(self):
        from asyncio import selector_events
        tr, _, server = self.connect_pair()
        for t in (tr, server.transport):
            self.assertNotIsInstance(t, selector_events._SelectorTransport)
            self.assertTrue(type(t).__module__.startswith('aioev'),
                            type(t).__module__)

    def test_get_protocol_and_set_protocol(self):
        tr, client, _ = self.connect_pair()
        self.assertIs(tr.get_protocol(), client)
        other = self.new_recorder()
        tr.set_protocol(other)
        self.assertIs(tr.get_protocol(), other)


class ProtocolCallbackTests(NetTestCase):

    def test_connection_made_before_create_connection_returns(self):
        tr, client, _ = self.connect_pair()
        self.assertEqual(client.events, ['made'])
        self.assertIs(client.transport, tr)

    def test_data_received_gets_bytes_in_order(self):
        proto = self.new_recorder()
        tr, peer = self.connect_raw(proto)
        data = payload(300 * KiB, seed=1)
        self.peer_send_all(peer, data)
        self.run_until(lambda: len(proto.data) >= len(data))
        self.assertEqual(bytes(proto.data), data)
        self.assert_no_misuse(proto)

    def test_eof_received_then_connection_lost_none(self):
        proto = self.new_recorder()
        tr, peer = self.connect_raw(proto)
        peer.sendall(b'bye')
        peer.shutdown(socket.SHUT_WR)
        self.assertIsNone(self.run_coro(proto.lost))
        self.assertEqual(proto.events, ['made', 'eof', 'lost'])
        self.assertEqual(bytes(proto.data), b'bye')
        self.assertTrue(tr.is_closing())
        self.assert_no_misuse(proto)

    def test_eof_received_true_keeps_transport_open_for_writing(self):
        proto = self.new_recorder(eof_result=True)
        tr, peer = self.connect_raw(proto)
        peer.shutdown(socket.SHUT_WR)
        self.run_coro(proto.eof)
        self.run_briefly(5)
        self.assertFalse(tr.is_closing())
        self.assertEqual(proto.events, ['made', 'eof'])
        tr.write(b'reply after eof')
        self.assertEqual(self.peer_read(peer, 15), b'reply after eof')
        tr.close()
        self.assertIsNone(self.run_coro(proto.lost))
        self.assertEqual(self.peer_read_to_eof(peer), b'')
        self.assertEqual(proto.events, ['made', 'eof', 'lost'])

    def test_eof_received_false_closes_transport(self):
        proto = self.new_recorder(eof_result=False)
        tr, peer = self.connect_raw(proto)
        peer.shutdown(socket.SHUT_WR)
        self.assertIsNone(self.run_coro(proto.lost))
        self.assertTrue(tr.is_closing())
        self.assertEqual(self.peer_read_to_eof(peer), b'')

    def test_connection_lost_called_once_on_close(self):
        proto = self.new_recorder()
        tr, peer = self.connect_raw(proto)
        tr.close()
        tr.close()
        self.assertIsNone(self.run_coro(proto.lost))
        tr.close()
        tr.abort()
        self.run_briefly(5)
        self.assertEqual(proto.lost_count, 1)
        self.assert_no_misuse(proto)

    def test_connection_lost_not_called_synchronously_by_close(self):
        proto = self.new_recorder()
        tr, _ = self.connect_raw(proto)
        tr.close()
        self.assertEqual(proto.events, ['made'])
        self.run_coro(proto.lost)

    def test_connection_lost_called_once_on_abort(self):
        proto = self.new_recorder()
        tr, peer = self.connect_raw(proto)
        tr.abort()
        tr.abort()
        tr.close()
        self.assertIsNone(self.run_coro(proto.lost))
        self.run_briefly(5)
        self.assertEqual(proto.lost_count, 1)

    def test_connection_lost_gets_reset_error(self):
        proto = self.new_recorder()
        tr, peer = self.connect_raw(proto)
        self.set_linger_zero(peer)
        peer.close()
        exc = self.run_coro(proto.lost)
        self.assertIsInstance(exc, ConnectionResetError)
        self.assertEqual(proto.lost_count, 1)
        self.assertNotIn('eof', proto.events)

    def test_peer_sees_eof_after_close(self):
        proto = self.new_recorder()
        tr, peer = self.connect_raw(proto)
        tr.write(b'last words')
        tr.close()
        self.assertEqual(self.peer_read_to_eof(peer), b'last words')


class BufferedProtocolTests(NetTestCase):

    def test_buffered_protocol_gets_data_in_its_buffer(self):
        proto = BufferedRecorder(self.loop)
        tr, peer = self.connect_raw(proto)
        data = payload(500 * KiB, seed=2)
        self.peer_send_all(peer, data)
        self.run_until(lambda: len(proto.data) >= len(data))
        self.assertEqual(bytes(proto.data), data)
        self.assertEqual(sum(proto.updates), len(data))
        self.assertTrue(all(isinstance(h, int) for h in proto.sizehints))
        self.assert_no_misuse(proto)

    def test_buffered_protocol_small_buffer_splits_data(self):
        proto = BufferedRecorder(self.loop, buffer_size=7)
        tr, peer = self.connect_raw(proto)
        data = payload(10 * KiB, seed=3)
        self.peer_send_all(peer, data)
        self.run_until(lambda: len(proto.data) >= len(data))
        self.assertEqual(bytes(proto.data), data)
        self.assertLessEqual(max(proto.updates), 7)
        self.assert_no_misuse(proto)

    def test_buffered_protocol_memoryview_buffer(self):
        proto = BufferedRecorder(self.loop, buffer_type=memoryview,
                                 buffer_size=1000)
        tr, peer = self.connect_raw(proto)
        peer.sendall(b'through a memoryview')
        self.run_until(lambda: len(proto.data) >= 20)
        self.assertEqual(bytes(proto.data), b'through a memoryview')

    def test_buffered_protocol_eof_and_connection_lost(self):
        proto = BufferedRecorder(self.loop)
        tr, peer = self.connect_raw(proto)
        peer.sendall(b'abc')
        peer.shutdown(socket.SHUT_WR)
        self.assertIsNone(self.run_coro(proto.lost))
        self.assertEqual(proto.events, ['made', 'eof', 'lost'])
        self.assertEqual(bytes(proto.data), b'abc')

    def test_buffered_protocol_eof_received_true_keeps_writing(self):
        proto = BufferedRecorder(self.loop, eof_result=True)
        tr, peer = self.connect_raw(proto)
        peer.shutdown(socket.SHUT_WR)
        self.run_coro(proto.eof)
        self.run_briefly(3)
        self.assertFalse(tr.is_closing())
        tr.write(b'still here')
        self.assertEqual(self.peer_read(peer, 10), b'still here')

    def test_buffered_protocol_on_both_ends(self):
        client = BufferedRecorder(self.loop)
        server = BufferedRecorder(self.loop)
        tr, _, _ = self.connect_pair(client, server)
        tr.write(b'ping')
        self.run_until(lambda: bytes(server.data) == b'ping')
        server.transport.write(b'pong')
        self.run_until(lambda: bytes(client.data) == b'pong')

    def test_set_protocol_switches_to_buffered_protocol(self):
        first = self.new_recorder()
        tr, peer = self.connect_raw(first)
        peer.sendall(b'one')
        self.run_until(lambda: bytes(first.data) == b'one')
        second = BufferedRecorder(self.loop)
        tr.set_protocol(second)
        peer.sendall(b'two')
        self.run_until(lambda: bytes(second.data) == b'two')
        self.assertEqual(bytes(first.data), b'one')

    def test_set_protocol_switches_from_buffered_protocol(self):
        first = BufferedRecorder(self.loop)
        tr, peer = self.connect_raw(first)
        peer.sendall(b'one')
        self.run_until(lambda: bytes(first.data) == b'one')
        second = self.new_recorder()
        tr.set_protocol(second)
        peer.sendall(b'two')
        self.run_until(lambda: bytes(second.data) == b'two')
        self.assertEqual(bytes(first.data), b'one')


class WriteTests(NetTestCase):

    def test_write_goes_out_at_once(self):
        # The socket takes a small write at once: nothing is queued and the
        # peer can read it without the loop running again.
        proto = self.new_recorder()
        tr, peer = self.connect_raw(proto)
        tr.write(b'immediate')
        self.assertEqual(tr.get_write_buffer_size(), 0)
        peer.settimeout(5)
        self.assertEqual(peer.recv(100), b'immediate')

    def test_write_accepts_bytes_like_objects(self):
        proto = self.new_recorder()
        tr, peer = self.connect_raw(proto)
        tr.write(b'a')
        tr.write(bytearray(b'b'))
        tr.write(memoryview(b'xcx')[1:2])
        self.assertEqual(self.peer_read(peer, 3), b'abc')

    def test_write_rejects_str(self):
        proto = self.new_recorder()
        tr, peer = self.connect_raw(proto)
        with self.assertRaises(TypeError):
            tr.write('text')
        with self.assertRaises(TypeError):
            tr.write(12)

    def test_write_empty_is_a_no_op(self):
        proto = self.new_recorder()
        tr, peer = self.connect_raw(proto)
        tr.write(b'')
        self.assertEqual(tr.get_write_buffer_size(), 0)
        tr.write(b'x')
        self.assertEqual(self.peer_read(peer, 1), b'x')

    def test_writelines(self):
        proto = self.new_recorder()
        tr, peer = self.connect_raw(proto)
        tr.writelines([b'one ', bytearray(b'two '), memoryview(b'three')])
        self.assertEqual(self.peer_read(peer, 13), b'one two three')

    def test_writelines_accepts_a_generator(self):
        proto = self.new_recorder()
        tr, peer = self.connect_raw(proto)
        tr.writelines(b'%d,' % i for i in range(5))
        self.assertEqual(self.peer_read(peer, 10), b'0,1,2,3,4,')

    def test_writelines_more_buffers_than_iov_max(self):
        proto = self.new_recorder()
        tr, peer = self.connect_raw_small(proto)
        parts = [b'%05d|' % i for i in range(5000)]
        tr.writelines(parts)
        tr.writelines(parts[:10])
        expected = b''.join(parts) + b''.join(parts[:10])
        self.assertEqual(self.peer_read(peer, len(expected)), expected)

    def test_many_small_writes_queued(self):
        proto = self.new_recorder()
        tr, peer = self.connect_raw_small(proto)
        tr.set_write_buffer_limits(high=64 * MiB)
        tr.write(payload(256 * KiB))  # fills the socket
        parts = [b'%06d;' % i for i in range(4000)]
        for part in parts:
            tr.write(part)
        expected = payload(256 * KiB) + b''.join(parts)
        self.assertEqual(self.peer_read(peer, len(expected)), expected)

    def test_writelines_item_errors(self):
        # 3.11's writelines() is b''.join() and write(); 3.12 and later
        # make a memoryview of each item.
        proto = self.new_recorder()
        tr, peer = self.connect_raw(proto)
        if PY_VERSION < (3, 12):
            item = '^sequence item 1: expected a bytes-like object, str found$'
            iterable = '^can only join an iterable$'
        else:
            item = "^memoryview: a bytes-like object is required, not 'str'$"
            iterable = "^'int' object is not iterable$"
        with self.assertRaisesRegex(TypeError, item):
            tr.writelines([b'a', 'b'])
        with self.assertRaisesRegex(TypeError, iterable):
            tr.writelines(5)
        self.assertEqual(tr.get_write_buffer_size(), 0)

    def test_writelines_after_write_eof_message(self):
        proto = self.new_recorder()
        tr, peer = self.connect_raw(proto)
        tr.write_eof()
        method = 'write' if PY_VERSION < (3, 12) else 'writelines'
        with self.assertRaisesRegex(
                RuntimeError, rf'^Cannot call {method}\(\) after write_eof\(\)$'):
            tr.writelines([])

    def test_writelines_empty_list(self):
        proto = self.new_recorder()
        tr, peer = self.connect_raw(proto)
        tr.writelines([])
        self.assertEqual(tr.get_write_buffer_size(), 0)

    def test_writes_queued_behind_a_full_socket_keep_order(self):
        proto = self.new_recorder()
        tr, peer = self.connect_raw_small(proto)
        chunks = [payload(50 * KiB, seed=i) for i in range(20)]
        for i, chunk in enumerate(chunks):
            if i % 3 == 0:
                tr.writelines([chunk[:100], chunk[100:]])
            else:
                tr.write(chunk)
        self.assertGreater(tr.get_write_buffer_size(), 0)
        expected = b''.join(chunks)
        self.assertEqual(self.peer_read(peer, len(expected)), expected)
        self.run_until(lambda: tr.get_write_buffer_size() == 0)

    def test_write_buffer_size_counts_queued_bytes(self):
        proto = self.new_recorder()
        tr, peer = self.connect_raw_small(proto)
        tr.set_write_buffer_limits(high=64 * MiB)
        data = payload(2 * MiB)
        tr.write(data)
        queued = tr.get_write_buffer_size()
        self.assertGreater(queued, 0)
        self.assertLessEqual(queued, len(data))
        tr.write(b'1234')
        self.assertEqual(tr.get_write_buffer_size(), queued + 4)
        self.assertEqual(self.peer_read(peer, len(data) + 4), data + b'1234')
        self.run_until(lambda: tr.get_write_buffer_size() == 0)

    def test_close_flushes_queued_data_then_connection_lost(self):
        proto = self.new_recorder()
        tr, peer = self.connect_raw_small(proto)
        data = payload(1 * MiB, seed=5)
        tr.write(data)
        self.assertGreater(tr.get_write_buffer_size(), 0)
        tr.close()
        self.assertTrue(tr.is_closing())
        self.run_briefly(3)
        self.assertNotIn('lost', proto.events)
        self.assertEqual(self.peer_read_to_eof(peer), data)
        self.assertIsNone(self.run_coro(proto.lost))

    def test_abort_discards_queued_data(self):
        proto = self.new_recorder()
        tr, peer = self.connect_raw_small(proto)
        data = payload(4 * MiB, seed=6)
        tr.write(data)
        self.assertGreater(tr.get_write_buffer_size(), 0)
        tr.abort()
        self.assertTrue(tr.is_closing())
        self.assertIsNone(self.run_coro(proto.lost))
        self.assertEqual(tr.get_write_buffer_size(), 0)
        got = self.peer_sees_eof_or_reset(peer)
        self.assertLess(len(got), len(data))
        self.assertEqual(got, data[:len(got)])

    def test_write_after_close_while_flushing_still_goes_out(self):
        # The socket transport drops writes only once the connection is
        # lost: while close() waits for the buffer to drain, a write still
        # queues behind it (the write pipe drops it).
        proto = self.new_recorder()
        tr, peer = self.connect_raw_small(proto)
        data = payload(1 * MiB, seed=7)
        tr.write(data)
        tr.close()
        tr.write(b'late')
        self.assertEqual(self.peer_read_to_eof(peer), data + b'late')
        self.assertIsNone(self.run_coro(proto.lost))

    def test_write_after_close_is_dropped_silently(self):
        proto = self.new_recorder()
        tr, peer = self.connect_raw(proto)
        tr.close()
        # (writelines() after close() is not checked: asyncio 3.12 raises
        # TypeError from it, a bug.)
        tr.write(b'dropped')  # no exception
        tr.write(bytearray(b'dropped too'))
        self.run_coro(proto.lost)
        self.assertEqual(self.peer_read_to_eof(peer), b'')

    def test_repeated_writes_after_close_log_a_warning(self):
        # asyncio logs 'socket.send() raised exception.' once writes to a
        # lost connection pass constants.LOG_THRESHOLD_FOR_CONNLOST_WRITES.
        proto = self.new_recorder()
        tr, peer = self.connect_raw(proto)
        tr.close()
        self.run_coro(proto.lost)
        threshold = asyncio.constants.LOG_THRESHOLD_FOR_CONNLOST_WRITES
        with self.assertNoLogs('asyncio', logging.WARNING):
            for _ in range(threshold - 1):
                tr.write(b'x')
        with self.assertLogs('asyncio', logging.WARNING) as cm:
            for _ in range(3):
                tr.write(b'x')
        self.assertTrue(any('socket.send() raised exception' in m
                            for m in cm.output), cm.output)

    def test_write_after_write_eof_raises(self):
        proto = self.new_recorder()
        tr, peer = self.connect_raw(proto)
        tr.write_eof()
        with self.assertRaises(RuntimeError):
            tr.write(b'late')
        with self.assertRaises(RuntimeError):
            tr.writelines([b'late'])


class WriteEofTests(NetTestCase):

    def test_can_write_eof(self):
        tr, _, _ = self.connect_pair()
        self.assertTrue(tr.can_write_eof())

    def test_write_eof_sends_eof_and_keeps_reading(self):
        proto = self.new_recorder()
        tr, peer = self.connect_raw(proto)
        tr.write(b'request')
        tr.write_eof()
        self.assertEqual(self.peer_read_to_eof(peer), b'request')
        self.assertFalse(tr.is_closing())
        peer.sendall(b'response')
        self.run_until(lambda: bytes(proto.data) == b'response')
        peer.close()
        self.assertIsNone(self.run_coro(proto.lost))
        self.assertEqual(proto.events, ['made', 'eof', 'lost'])

    def test_write_eof_waits_for_queued_data(self):
        proto = self.new_recorder()
        tr, peer = self.connect_raw_small(proto)
        data = payload(1 * MiB, seed=7)
        tr.write(data)
        self.assertGreater(tr.get_write_buffer_size(), 0)
        tr.write_eof()
        self.assertEqual(self.peer_read_to_eof(peer), data)

    def test_write_eof_twice_is_harmless(self):
        proto = self.new_recorder()
        tr, peer = self.connect_raw(proto)
        tr.write_eof()
        tr.write_eof()
        self.assertEqual(self.peer_read_to_eof(peer), b'')

    def test_half_close_between_two_transports(self):
        client = self.new_recorder()
        server = self.new_recorder(eof_result=True)
        tr, _, _ = self.connect_pair(client, server)
        tr.write(b'question')
        tr.write_eof()
        self.run_coro(server.eof)
        self.assertEqual(bytes(server.data), b'question')
        server.transport.write(b'answer')
        server.transport.close()
        self.assertIsNone(self.run_coro(client.lost))
        self.assertEqual(bytes(client.data), b'answer')
        self.assertIsNone(self.run_coro(server.lost))
        self.assertEqual(client.events, ['made', 'eof', 'lost'])
        self.assertEqual(server.events, ['made', 'eof', 'lost'])


class ExtraInfoTests(NetTestCase):

    def test_sockname_and_peername(self):
        tr, _, server = self.connect_pair()
        sname = tr.get_extra_info('sockname')
        pname = tr.get_extra_info('peername')
        self.assertEqual(sname[0], HOST)
        self.assertEqual(pname[0], HOST)
        self.assertEqual(server.transport.get_extra_info('peername'), sname)
        self.assertEqual(server.transport.get_extra_info('sockname'), pname)

    def test_socket_is_a_transport_socket(self):
        tr, _, _ = self.connect_pair()
        sock = tr.get_extra_info('socket')
        self.assertIsInstance(sock, asyncio.trsock.TransportSocket)
        self.assertEqual(sock.family, socket.AF_INET)
        self.assertEqual(sock.type, socket.SOCK_STREAM)
        self.assertEqual(sock.getsockname(), tr.get_extra_info('sockname'))
        self.assertEqual(sock.getpeername(), tr.get_extra_info('peername'))
        self.assertGreaterEqual(sock.fileno(), 0)

    def test_socket_of_given_sock_is_that_socket(self):
        proto = self.new_recorder()
        srv = self.tcp_listener()
        sock = socket.create_connection(srv.getsockname())
        fd = sock.fileno()
        tr, _ = self.run_coro(self.loop.create_connection(
            lambda: proto, sock=sock))
        self.addCleanup(self.close_transport, tr)
        self.assertEqual(tr.get_extra_info('socket').fileno(), fd)

    def test_unknown_key_gives_default(self):
        tr, _, _ = self.connect_pair()
        self.assertIsNone(tr.get_extra_info('no such key'))
        self.assertEqual(tr.get_extra_info('no such key', 42), 42)

    def test_tcp_nodelay_is_set_on_client_transport(self):
        tr, _, _ = self.connect_pair()
        sock = tr.get_extra_info('socket')
        self.assertTrue(sock.getsockopt(socket.IPPROTO_TCP,
                                        socket.TCP_NODELAY))

    def test_tcp_nodelay_is_set_on_server_transport(self):
        _, _, server = self.connect_pair()
        sock = server.transport.get_extra_info('socket')
        self.assertTrue(sock.getsockopt(socket.IPPROTO_TCP,
                                        socket.TCP_NODELAY))

    def test_tcp_nodelay_is_set_on_given_tcp_socket(self):
        # asyncio sets it on (AF_INET/AF_INET6, SOCK_STREAM, IPPROTO_TCP)
        # sockets, so a given socket must name its protocol.
        srv = self.tcp_listener()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM,
                             socket.IPPROTO_TCP)
        sock.connect(srv.getsockname())
        tr, _ = self.run_coro(self.loop.create_connection(
            self.new_recorder, sock=sock))
        self.addCleanup(self.close_transport, tr)
        sock = tr.get_extra_info('socket')
        self.assertTrue(sock.getsockopt(socket.IPPROTO_TCP,
                                        socket.TCP_NODELAY))

    def test_extra_info_stays_after_close(self):
        proto = self.new_recorder()
        tr, _ = self.connect_raw(proto)
        peername = tr.get_extra_info('peername')
        tr.close()
        self.run_coro(proto.lost)
        self.assertEqual(tr.get_extra_info('peername'), peername)


class ReadingControlTests(NetTestCase):

    def test_is_reading_after_connection_made(self):
        tr, _, _ = self.connect_pair()
        self.assertTrue(tr.is_reading())

    def test_pause_reading_holds_data_until_resume(self):
        proto = self.new_recorder()
        tr, peer = self.connect_raw(proto)
        tr.pause_reading()
        self.assertFalse(tr.is_reading())
        peer.sendall(b'held back')
        self.run_stopping_after(0.05)
        self.assertEqual(bytes(proto.data), b'')
        tr.resume_reading()
        self.assertTrue(tr.is_reading())
        self.run_until(lambda: bytes(proto.data) == b'held back')

    def test_pause_reading_holds_eof_until_resume(self):
        proto = self.new_recorder()
        tr, peer = self.connect_raw(proto)
        tr.pause_reading()
        peer.shutdown(socket.SHUT_WR)
        self.run_stopping_after(0.05)
        self.assertEqual(proto.events, ['made'])
        tr.resume_reading()
        self.run_coro(proto.lost)
        self.assertEqual(proto.events, ['made', 'eof', 'lost'])

    def test_pause_and_resume_reading_are_idempotent(self):
        proto = self.new_recorder()
        tr, peer = self.connect_raw(proto)
        tr.pause_reading()
        tr.pause_reading()
        self.assertFalse(tr.is_reading())
        tr.resume_reading()
        tr.resume_reading()
        self.assertTrue(tr.is_reading())
        peer.sendall(b'once')
        self.run_until(lambda: bytes(proto.data) == b'once')
        self.run_briefly(3)
        self.assertEqual(bytes(proto.data), b'once')

    def test_is_reading_false_after_close(self):
        proto = self.new_recorder()
        tr, peer = self.connect_raw(proto)
        tr.close()
        self.assertFalse(tr.is_reading())
        tr.resume_reading()  # no effect on a closing transport
        self.assertFalse(tr.is_reading())
        tr.pause_reading()
        self.run_coro(proto.lost)

    def test_writing_works_while_reading_is_paused(self):
        proto = self.new_recorder()
        tr, peer = self.connect_raw(proto)
        tr.pause_reading()
        tr.write(b'out')
        self.assertEqual(self.peer_read(peer, 3), b'out')


class ClosingStateTests(NetTestCase):

    def test_is_closing(self):
        proto = self.new_recorder()
        tr, _ = self.connect_raw(proto)
        self.assertFalse(tr.is_closing())
        tr.close()
        self.assertTrue(tr.is_closing())
        self.run_coro(proto.lost)
        self.assertTrue(tr.is_closing())

    def test_is_closing_after_abort(self):
        proto = self.new_recorder()
        tr, _ = self.connect_raw(proto)
        tr.abort()
        self.assertTrue(tr.is_closing())
        self.run_coro(proto.lost)

    def test_socket_closed_after_connection_lost(self):
        proto = self.new_recorder()
        tr, peer = self.connect_raw(proto)
        sock = tr.get_extra_info('socket')
        tr.close()
        self.run_coro(proto.lost)
        self.assertEqual(self.peer_read_to_eof(peer), b'')
        self.assertEqual(sock.fileno(), -1)


class FlowControlTests(NetTestCase):

    def test_default_write_buffer_limits(self):
        tr, _, _ = self.connect_pair()
        self.assertEqual(tr.get_write_buffer_limits(),
                         (DEFAULT_LOW_WATER, DEFAULT_HIGH_WATER))
        self.assertEqual(tr.get_write_buffer_limits(), (16384, 65536))

    def test_set_write_buffer_limits_high_only(self):
        tr, _, _ = self.connect_pair()
        tr.set_write_buffer_limits(high=1000)
        self.assertEqual(tr.get_write_buffer_limits(), (250, 1000))

    def test_set_write_buffer_limits_low_only(self):
        tr, _, _ = self.connect_pair()
        tr.set_write_buffer_limits(low=100)
        self.assertEqual(tr.get_write_buffer_limits(), (100, 400))

    def test_set_write_buffer_limits_both(self):
        tr, _, _ = self.connect_pair()
        tr.set_write_buffer_limits(high=5000, low=10)
        self.assertEqual(tr.get_write_buffer_limits(), (10, 5000))
        tr.set_write_buffer_limits(0, 0)
        self.assertEqual(tr.get_write_buffer_limits(), (0, 0))

    def test_set_write_buffer_limits_defaults_again(self):
        tr, _, _ = self.connect_pair()
        tr.set_write_buffer_limits(high=5000, low=10)
        tr.set_write_buffer_limits()
        self.assertEqual(tr.get_write_buffer_limits(), (16384, 65536))

    def test_set_write_buffer_limits_rejects_low_above_high(self):
        tr, _, _ = self.connect_pair()
        with self.assertRaises(ValueError):
            tr.set_write_buffer_limits(high=10, low=20)
        with self.assertRaises(ValueError):
            tr.set_write_buffer_limits(high=-1)
        self.assertEqual(tr.get_write_buffer_limits(), (16384, 65536))

    def test_pause_writing_when_buffer_passes_high_mark(self):
        proto = self.new_recorder()
        tr, peer = self.connect_raw_small(proto)
        tr.write(payload(1 * MiB))
        # Called from inside write(), before it returns.
        self.assertEqual(proto.events, ['made', 'pause'])
        self.assertGreater(proto.pause_sizes[0], DEFAULT_HIGH_WATER)

    def test_no_pause_writing_at_or_below_high_mark(self):
        proto = self.new_recorder()
        tr, peer = self.connect_raw_small(proto)
        tr.set_write_buffer_limits(high=10 * MiB)
        tr.write(payload(1 * MiB))
        self.assertGreater(tr.get_write_buffer_size(), 0)
        self.assertNotIn('pause', proto.events)

    def test_resume_writing_at_low_mark(self):
        proto = self.new_recorder()
        tr, peer = self.connect_raw_small(proto)
        data = payload(1 * MiB)
        tr.write(data)
        self.assertTrue(proto.paused)
        self.assertEqual(self.peer_read(peer, len(data)), data)
        self.run_until(lambda: 'resume' in proto.events)
        self.assertEqual(proto.events, ['made', 'pause', 'resume'])
        self.assertLessEqual(proto.resume_sizes[0], DEFAULT_LOW_WATER)

    def test_custom_limits_drive_pause_and_resume(self):
        proto = self.new_recorder()
        tr, peer = self.connect_raw_small(proto)
        tr.set_write_buffer_limits(high=300 * KiB, low=100 * KiB)
        tr.write(payload(200 * KiB))
        self.assertNotIn('pause', proto.events)
        tr.write(payload(400 * KiB))
        self.assertIn('pause', proto.events)
        self.assertGreater(proto.pause_sizes[0], 300 * KiB)
        self.peer_read(peer, 600 * KiB)
        self.run_until(lambda: 'resume' in proto.events)
        self.assertLessEqual(proto.resume_sizes[0], 100 * KiB)

    def test_resume_writing_before_the_buffer_drains(self):
        # The socket transport resumes its protocol after any send that
        # leaves no more than the low-water mark (the write pipe waits for
        # its buffer to drain).
        proto = self.new_recorder()
        tr, peer = self.connect_raw_small(proto)
        tr.set_write_buffer_limits(high=300 * KiB, low=100 * KiB)
        data = payload(600 * KiB)
        tr.write(data)
        self.assertIn('pause', proto.events)
        self.assertEqual(self.peer_read(peer, len(data)), data)
        self.run_until(lambda: 'resume' in proto.events)
        self.assertGreater(proto.resume_sizes[0], 0)

    def test_lowering_high_mark_below_buffer_pauses_at_once(self):
        proto = self.new_recorder()
        tr, peer = self.connect_raw_small(proto)
        tr.set_write_buffer_limits(high=10 * MiB)
        tr.write(payload(1 * MiB))
        self.assertNotIn('pause', proto.events)
        tr.set_write_buffer_limits(high=64 * KiB)
        self.assertEqual(proto.events, ['made', 'pause'])

    def test_pause_resume_cycles_while_streaming(self):
        # A writer that honours pause_writing: every pause is followed by a
        # resume, they alternate, and all data arrives intact.
        loop = self.loop
        total = 8 * MiB
        chunk = payload(64 * KiB, seed=9)

        class Writer(Recorder):
            sent = 0

            def pump(self):
                while not self.paused and self.sent < total:
                    self.transport.write(chunk)
                    self.sent += len(chunk)

            def connection_made(self, transport):
                super().connection_made(transport)
                loop.call_soon(self.pump)

            def resume_writing(self):
                super().resume_writing()
                self.pump()

        writer = Writer(loop)
        reader = self.new_recorder()
        tr, _, _ = self.connect_pair(writer, reader)
        self.run_until(lambda: len(reader.data) >= total, timeout=30)
        self.assertEqual(len(reader.data), total)
        self.assertEqual(bytes(reader.data[:len(chunk)]), chunk)
        self.assertEqual(bytes(reader.data[-len(chunk):]), chunk)
        pauses = writer.events.count('pause')
        resumes = writer.events.count('resume')
        self.assertEqual(pauses, resumes)
        self.assert_no_misuse(writer, reader)


class ProtocolExceptionTests(NetTestCase):
    """An exception in a protocol method goes to the loop's exception
    handler; from the read path it also closes the transport, with
    connection_lost getting that exception."""

    def check_fatal(self, errors, proto, method, exc_type=Boom):
        self.assertEqual(len(errors), 1, errors)
        ctx = errors[0]
        self.assertIsInstance(ctx['exception'], exc_type)
        self.assertIn(method, ctx['message'])
        self.assertIs(ctx['protocol'], proto)
        self.assertIs(ctx['transport'], proto.transport)
        self.assertIs(proto.lost_exc, ctx['exception'])
        self.assertEqual(proto.lost_count, 1)
        self.assertTrue(proto.transport.is_closing())

    def fail_on_data(self, proto, method, exc_type=Boom):
        """Send proto's connection a byte, which makes proto's method fail:
        check what the failure did, and return the peer socket."""
        errors = self.collect_errors()
        tr, peer = self.connect_raw(proto)
        peer.sendall(b'x')
        self.run_coro(proto.lost)
        self.check_fatal(errors, proto, method, exc_type)
        return peer

    def test_data_received_exception(self):
        class P(Recorder):
            def data_received(self, data):
                raise Boom('data_received')

        peer = self.fail_on_data(P(self.loop), 'data_received')
        self.assertEqual(self.peer_read_to_eof(peer), b'')

    def test_eof_received_exception(self):
        errors = self.collect_errors()

        class P(Recorder):
            def eof_received(self):
                raise Boom('eof_received')

        proto = P(self.loop)
        tr, peer = self.connect_raw(proto)
        peer.shutdown(socket.SHUT_WR)
        self.run_coro(proto.lost)
        self.check_fatal(errors, proto, 'eof_received')

    def test_get_buffer_exception(self):
        class P(BufferedRecorder):
            def get_buffer(self, sizehint):
                raise Boom('get_buffer')

        self.fail_on_data(P(self.loop), 'get_buffer')

    def test_get_buffer_returning_empty_buffer(self):
        class P(BufferedRecorder):
            def get_buffer(self, sizehint):
                return bytearray()

        self.fail_on_data(P(self.loop), 'get_buffer', RuntimeError)

    def test_exception_handler_runs_while_the_protocol_error_is_handled(self):
        # asyncio calls _fatal_error() from an `except` clause.
        handled = []

        class P(Recorder):
            def data_received(self, data):
                raise Boom('data_received')

        proto = P(self.loop)
        errors = self.collect_errors()
        self.loop.set_exception_handler(
            lambda loop, context: (handled.append(sys.exc_info()[1]),
                                   errors.append(context)))
        tr, peer = self.connect_raw(proto)
        peer.sendall(b'x')
        self.run_coro(proto.lost)
        self.assertEqual(len(handled), 1)
        self.assertIs(handled[0], errors[0]['exception'])

    def test_get_buffer_returning_read_only_or_non_contiguous_buffers(self):
        for name, make in (('bytes', lambda: b'read only'),
                           ('memoryview', lambda: memoryview(bytearray(10))[::2])):
            with self.subTest(buffer=name):
                class P(BufferedRecorder):
                    def get_buffer(self, sizehint):
                        return make()

                proto = P(self.loop)
                self.fail_on_data(proto, 'Fatal read error on socket transport',
                                  TypeError)
                self.assertEqual(
                    str(proto.lost_exc),
                    'recv_into() argument 1 must be read-write bytes-like '
                    f'object, not {name}')

    def test_get_buffer_returning_an_int(self):
        class P(BufferedRecorder):
            def get_buffer(self, sizehint):
                return 5

        proto = P(self.loop)
        self.fail_on_data(proto, 'protocol.get_buffer() call failed', TypeError)
        self.assertEqual(str(proto.lost_exc), "object of type 'int' has no len()")

    def test_buffer_updated_exception(self):
        class P(BufferedRecorder):
            def buffer_updated(self, nbytes):
                raise Boom('buffer_updated')

        self.fail_on_data(P(self.loop), 'buffer_updated')

    def test_connection_made_exception_goes_to_handler(self):
        errors = self.collect_errors()

        class P(Recorder):
            def connection_made(self, transport):
                super().connection_made(transport)
                raise Boom('connection_made')

        proto = P(self.loop)
        tr, peer = self.connect_raw(proto)
        self.run_until(lambda: errors)
        self.assertEqual(len(errors), 1)
        self.assertIsInstance(errors[0]['exception'], Boom)

    def test_connection_lost_exception_goes_to_handler(self):
        errors = self.collect_errors()

        class P(Recorder):
            def connection_lost(self, exc):
                super().connection_lost(exc)
                raise Boom('connection_lost')

        proto = P(self.loop)
        tr, peer = self.connect_raw(proto)
        tr.close()
        self.run_until(lambda: errors)
        self.assertEqual(len(errors), 1)
        self.assertIsInstance(errors[0]['exception'], Boom)
        self.assertEqual(proto.lost_count, 1)
        # The socket is closed all the same.
        self.assertEqual(self.peer_read_to_eof(peer), b'')

    def check_flow_control_exception(self, method):
        """The protocol's method (pause_writing or resume_writing) raises:
        the exception goes to the handler, not out of write(), and all the
        data still reaches the peer."""
        errors = self.collect_errors()

        class P(Recorder):
            def pause_writing(self):
                super().pause_writing()
                if method == 'pause_writing':
                    raise Boom(method)

            def resume_writing(self):
                super().resume_writing()
                if method == 'resume_writing':
                    raise Boom(method)

        proto = P(self.loop)
        tr, peer = self.connect_raw_small(proto)
        data = payload(1 * MiB)
        tr.write(data)
        self.assertEqual(self.peer_read(peer, len(data)), data)
        self.run_until(lambda: errors)
        self.assertEqual(len(errors), 1, errors)
        self.assertIsInstance(errors[0]['exception'], Boom)
        self.assertIn(method, errors[0]['message'])
        self.assertIs(errors[0]['protocol'], proto)
        self.assertIs(errors[0]['transport'], tr)

    def test_pause_writing_exception_goes_to_handler(self):
        self.check_flow_control_exception('pause_writing')

    def test_resume_writing_exception_goes_to_handler(self):
        self.check_flow_control_exception('resume_writing')

    def test_loop_keeps_running_after_protocol_exceptions(self):
        self.collect_errors()

        class P(Recorder):
            def data_received(self, data):
                raise Boom()

        for _ in range(3):
            proto = P(self.loop)
            tr, peer = self.connect_raw(proto)
            peer.sendall(b'x')
            self.run_coro(proto.lost)
        tr, client, server = self.connect_pair()
        tr.write(b'fine')
        self.run_until(lambda: bytes(server.data) == b'fine')


class CallbackReentrancyTests(NetTestCase):
    """Transport calls made from inside protocol callbacks."""

    def test_write_in_connection_made(self):
        class Banner(Recorder):
            def connection_made(self, transport):
                super().connection_made(transport)
                transport.write(b'220 hello')

        proto = Banner(self.loop)
        tr, peer = self.connect_raw(proto)
        self.assertEqual(self.peer_read(peer, 9), b'220 hello')

    def test_close_in_data_received_stops_delivery(self):
        class Closer(Recorder):
            def data_received(self, data):
                super().data_received(data)
                self.transport.close()

        proto = Closer(self.loop)
        tr, peer = self.connect_raw(proto)
        peer.sendall(b'first')
        self.assertIsNone(self.run_coro(proto.lost))
        self.assertEqual(proto.data_calls, 1)
        self.assertEqual(bytes(proto.data), b'first')
        self.assertEqual(proto.events, ['made', 'lost'])
        self.assert_no_misuse(proto)

    def test_abort_in_data_received(self):
        class Aborter(Recorder):
            def data_received(self, data):
                super().data_received(data)
                self.transport.write(b'never sent' * 100000)
                self.transport.abort()

        proto = Aborter(self.loop)
        tr, peer = self.connect_raw_small(proto)
        peer.sendall(b'x')
        self.assertIsNone(self.run_coro(proto.lost))
        self.assertEqual(proto.lost_count, 1)
        self.assertLess(len(self.peer_sees_eof_or_reset(peer)), 1000000)

    def test_pause_reading_in_data_received(self):
        class Pauser(Recorder):
            def data_received(self, data):
                super().data_received(data)
                self.transport.pause_reading()

        proto = Pauser(self.loop)
        tr, peer = self.connect_raw(proto)
        peer.sendall(b'one')
        self.run_until(lambda: proto.data_calls == 1)
        peer.sendall(b'two')
        self.run_stopping_after(0.05)
        self.assertEqual(proto.data_calls, 1)
        self.assertFalse(tr.is_reading())
        tr.resume_reading()
        self.run_until(lambda: bytes(proto.data) == b'onetwo')

    def test_write_eof_in_eof_received(self):
        class Mirror(Recorder):
            def eof_received(self):
                super().eof_received()
                self.transport.write(b'bye')
                self.transport.write_eof()
                return True

        proto = Mirror(self.loop)
        tr, peer = self.connect_raw(proto)
        peer.shutdown(socket.SHUT_WR)
        self.assertEqual(self.peer_read_to_eof(peer), b'bye')
        tr.close()
        self.assertIsNone(self.run_coro(proto.lost))

    def test_set_protocol_in_data_received(self):
        second = None

        class First(Recorder):
            def data_received(self, data):
                super().data_received(data)
                self.transport.set_protocol(second)

        first = First(self.loop)
        second = self.new_recorder()
        tr, peer = self.connect_raw(first)
        peer.sendall(b'a')
        self.run_until(lambda: first.data_calls == 1)
        peer.sendall(b'b')
        self.run_until(lambda: bytes(second.data) == b'b')
        self.assertEqual(bytes(first.data), b'a')
        peer.close()
        self.run_coro(second.lost)
        self.assertNotIn('lost', first.events)

    def check_propagates(self, proto, exc_type, trigger):
        """trigger(peer) makes a method of proto raise exc_type, which
        leaves the loop; the loop is still usable and the transport can be
        closed."""
        tr, peer = self.connect_raw(proto)
        trigger(peer)
        with self.assertRaises(exc_type):
            self.run_until(lambda: False, timeout=10)
        tr.close()
        self.run_coro(proto.lost)

    def test_keyboard_interrupt_in_data_received_propagates(self):
        class Interrupter(Recorder):
            def data_received(self, data):
                super().data_received(data)
                raise KeyboardInterrupt

        self.check_propagates(Interrupter(self.loop), KeyboardInterrupt,
                              lambda peer: peer.sendall(b'x'))

    def test_system_exit_in_eof_received_propagates(self):
        class Exiter(Recorder):
            def eof_received(self):
                super().eof_received()
                raise SystemExit(3)

        self.check_propagates(Exiter(self.loop), SystemExit,
                              lambda peer: peer.shutdown(socket.SHUT_WR))

    def test_keyboard_interrupt_in_buffer_updated_propagates(self):
        class Interrupter(BufferedRecorder):
            def buffer_updated(self, nbytes):
                super().buffer_updated(nbytes)
                raise KeyboardInterrupt

        self.check_propagates(Interrupter(self.loop), KeyboardInterrupt,
                              lambda peer: peer.sendall(b'x'))


class LifetimeTests(NetTestCase):

    def test_transport_supports_weakrefs(self):
        tr, _, _ = self.connect_pair()
        ref = weakref.ref(tr)
        self.assertIs(ref(), tr)

    def test_protocol_released_after_connection_lost(self):
        proto = self.new_recorder()
        tr, peer = self.connect_raw(proto)
        ref = weakref.ref(proto)
        tr.close()
        self.run_coro(proto.lost)
        self.run_briefly(3)
        proto.transport = None
        del proto
        gc.collect()
        self.assertIsNone(ref(), 'the closed transport keeps its protocol')

    def test_closed_transport_is_freed(self):
        proto = self.new_recorder()
        tr, peer = self.connect_raw(proto)
        ref = weakref.ref(tr)
        tr.close()
        self.run_coro(proto.lost)
        self.run_briefly(3)
        proto.transport = proto.made = None  # our own references
        self._cleanups[:] = [c for c in self._cleanups
                             if getattr(c[0], '__name__', '') !=
                             'close_transport']
        del tr
        gc.collect()
        self.assertIsNone(ref(), 'the loop keeps a closed transport alive')

    def test_loop_close_with_open_transport_warns_and_closes_socket(self):
        proto = self.new_recorder()
        tr, peer = self.connect_raw(proto)
        self._cleanups[:] = [c for c in self._cleanups
                             if getattr(c[0], '__name__', '') !=
                             'close_transport']
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter('always', ResourceWarning)
            self.loop.close()
            proto.transport = None
            del tr, proto
            gc.collect()
            gc.collect()
        msgs = [str(w.message) for w in caught
                if issubclass(w.category, ResourceWarning)]
        self.assertTrue(any('unclosed transport' in m for m in msgs), msgs)
        peer.setblocking(True)
        peer.settimeout(5)
        self.assertEqual(peer.recv(10), b'')

    def test_repr(self):
        proto = self.new_recorder()
        tr, peer = self.connect_raw(proto)
        fd = tr.get_extra_info('socket').fileno()
        self.assertIn(f'fd={fd}', repr(tr))
        tr.close()
        self.run_coro(proto.lost)
        self.assertIn('closed', repr(tr))


class ResourceWarningTests(NetTestCase):

    def test_unclosed_transport_warns_when_collected(self):
        proto = self.new_recorder()
        tr, peer = self.connect_raw(proto)
        # Reading stopped: the loop holds no reference to the transport.
        tr.pause_reading()
        self.run_briefly(2)
        self._cleanups[:] = [c for c in self._cleanups
                             if getattr(c[0], '__name__', '') !=
                             'close_transport']
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter('always', ResourceWarning)
            proto.transport = None
            del tr, proto
            gc.collect()
            gc.collect()
        msgs = [str(w.message) for w in caught
                if issubclass(w.category, ResourceWarning)]
        self.assertTrue(any('unclosed transport' in m for m in msgs), msgs)
        # The socket was closed by the finalizer.
        self.assertEqual(self.peer_sees_eof_or_reset(peer), b'')

    def test_closed_transport_does_not_warn(self):
        proto = self.new_recorder()
        tr, peer = self.connect_raw(proto)
        tr.close()
        self.run_coro(proto.lost)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter('always', ResourceWarning)
            proto.transport = None
            del tr, proto
            gc.collect()
        self.assertEqual([w for w in caught
                          if issubclass(w.category, ResourceWarning)], [])


class CreateConnectionTests(NetTestCase):

    def test_create_connection_echo(self):
        srv = self.tcp_server(Echo)
        proto = self.new_recorder()
        tr, pr = self.run_coro(self.loop.create_connection(
            lambda: proto, *self.server_addr(srv)))
        self.addCleanup(self.close_transport, tr)
        self.assertIs(pr, proto)
        tr.write(b'echo me')
        self.run_until(lambda: bytes(proto.data) == b'echo me')

    def test_create_connection_by_host_name(self):
        srv = self.tcp_server(Echo)
        port = self.server_addr(srv)[1]
        tr, proto = self.run_coro(self.loop.create_connection(
            self.new_recorder, 'localhost', port, family=socket.AF_INET))
        self.addCleanup(self.close_transport, tr)
        self.assertEqual(tr.get_extra_info('peername'), (HOST, port))

    def test_create_connection_refused(self):
        srv = socket.socket()
        srv.bind((HOST, 0))
        addr = srv.getsockname()
        srv.close()
        with self.assertRaises(ConnectionRefusedError):
            self.run_coro(self.loop.create_connection(
                self.new_recorder, *addr))

    def test_create_connection_with_sock(self):
        srv = self.tcp_server(Echo)
        sock = socket.socket()
        sock.connect(self.server_addr(srv))
        tr, proto = self.run_coro(self.loop.create_connection(
            self.new_recorder, sock=sock))
        self.addCleanup(self.close_transport, tr)
        self.assertEqual(sock.gettimeout(), 0.0)  # made non-blocking
        tr.write(b'via sock')
        self.run_until(lambda: bytes(proto.data) == b'via sock')

    def test_create_connection_with_local_addr(self):
        srv = self.tcp_server(Echo)
        tr, proto = self.run_coro(self.loop.create_connection(
            self.new_recorder, *self.server_addr(srv),
            local_addr=(HOST, 0)))
        self.addCleanup(self.close_transport, tr)
        self.assertEqual(tr.get_extra_info('sockname')[0], HOST)
        self.assertNotEqual(tr.get_extra_info('sockname')[1], 0)

    def test_create_connection_rejects_datagram_sock(self):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(sock.close)
        with self.assertRaises(ValueError):
            self.run_coro(self.loop.create_connection(
                self.new_recorder, sock=sock))

    def test_create_connection_argument_errors(self):
        with self.assertRaises(ValueError):
            self.run_coro(self.loop.create_connection(self.new_recorder))
        with self.assertRaises(ValueError):
            self.run_coro(self.loop.create_connection(
                self.new_recorder, HOST, 1, ssl_handshake_timeout=1))
        with self.assertRaises(ValueError):
            self.run_coro(self.loop.create_connection(
                self.new_recorder, HOST, 1, server_hostname='x'))

    def test_create_connection_ipv6(self):
        if not socket.has_ipv6:
            self.skipTest('no IPv6')
        try:
            s = socket.socket(socket.AF_INET6)
            s.bind(('::1', 0))
            s.close()
        except OSError:
            self.skipTest('no IPv6 loopback')
        srv = self.run_coro(self.loop.create_server(Echo, '::1', 0))
        self.addCleanup(self._close_server, srv)
        port = srv.sockets[0].getsockname()[1]
        proto = self.new_recorder()
        tr, _ = self.run_coro(self.loop.create_connection(
            lambda: proto, '::1', port))
        self.addCleanup(self.close_transport, tr)
        self.assertEqual(tr.get_extra_info('socket').family, socket.AF_INET6)
        self.assertTrue(tr.get_extra_info('socket').getsockopt(
            socket.IPPROTO_TCP, socket.TCP_NODELAY))
        tr.write(b'six')
        self.run_until(lambda: bytes(proto.data) == b'six')

    def test_cancelled_create_connection_leaves_loop_usable(self):
        srv = self.tcp_server(Echo)

        async def main():
            task = self.loop.create_task(self.loop.create_connection(
                self.new_recorder, *self.server_addr(srv)))
            await asyncio.sleep(0)
            task.cancel()
            with self.assertRaises(asyncio.CancelledError):
                await task
            tr, proto = await self.loop.create_connection(
                self.new_recorder, *self.server_addr(srv))
            tr.write(b'ok')
            while bytes(proto.data) != b'ok':
                await asyncio.sleep(0.001)
            tr.close()
            await proto.lost

        self.run_coro(main())


class ConnectAcceptedSocketTests(NetTestCase):

    def test_connect_accepted_socket(self):
        listener = self.tcp_listener()
        listener.setblocking(True)
        client = socket.create_connection(listener.getsockname())
        self.addCleanup(client.close)
        conn, _ = listener.accept()
        proto = self.new_recorder()
        tr, pr = self.run_coro(self.loop.connect_accepted_socket(
            lambda: proto, conn))
        self.addCleanup(self.close_transport, tr)
        self.assertIs(pr, proto)
        self.assertIsInstance(tr, asyncio.Transport)
        self.assertEqual(tr.get_extra_info('peername'), client.getsockname())
        client.sendall(b'hello')
        self.run_until(lambda: bytes(proto.data) == b'hello')
        tr.write(b'world')
        client.settimeout(5)
        self.assertEqual(client.recv(100), b'world')
        client.close()
        self.assertIsNone(self.run_coro(proto.lost))

    def test_connect_accepted_socket_rejects_datagram_socket(self):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(sock.close)
        with self.assertRaises(ValueError):
            self.run_coro(self.loop.connect_accepted_socket(
                self.new_recorder, sock))


if __name__ == '__main__':
    unittest.main()
