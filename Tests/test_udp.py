"""Datagram transports: create_datagram_endpoint and its options and errors,
UDP over IPv4 and IPv6, Unix datagram sockets, sendto sent at once or
queued with flow control, datagram_received, error_received (ICMP errors),
connection_lost, close, abort and get_extra_info.

Every test asserts asyncio's own behaviour: they all pass with
AIOEV_TEST_LOOP=asyncio; where asyncio differs between versions the
assertion is per version.
"""

import asyncio
import errno
import os
import pathlib
import socket
import sys
import unittest

from asyncio import trsock

from . import support
from .support import PY_VERSION, LoopTestCase
from .net_support import (
    HOST, KiB, DEFAULT_HIGH_WATER, DEFAULT_LOW_WATER, abstract_name,
    payload, unix_path)

# Bytes asyncio adds to get_write_buffer_size() per queued datagram.
QUEUED_HEADER = 8 if PY_VERSION >= (3, 13) else 0
# Size asyncio's datagram transport passes to recvfrom().
RECEIVE_SIZE = 256 * KiB
# The largest UDP payload over IPv4.
MAX_UDP4_PAYLOAD = 65507


def has_ipv6_loopback():
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(('::1', 0))
    except OSError:
        return False
    return True


requires_ipv6 = unittest.skipUnless(has_ipv6_loopback(), 'no IPv6 ::1')


class DatagramRecorder(asyncio.DatagramProtocol):
    """Records every callback of a datagram protocol."""

    def __init__(self, loop):
        self.events = []
        self.misuse = []
        self.datagrams = []
        self.errors = []
        self.handled = []  # sys.exc_info()[1] in each error_received
        self.transport = None
        self.paused = False
        self.pause_sizes = []
        self.resume_sizes = []
        self.made = loop.create_future()
        self.lost = loop.create_future()

    def _check_live(self, name):
        if self.transport is None:
            self.misuse.append(f'{name} before connection_made')
        if self.lost.done():
            self.misuse.append(f'{name} after connection_lost')

    def connection_made(self, transport):
        if self.events:
            self.misuse.append(f'connection_made after {self.events}')
        self.transport = transport
        self.events.append('made')
        self.made.set_result(transport)

    def datagram_received(self, data, addr):
        self._check_live('datagram_received')
        if not isinstance(data, bytes):
            self.misuse.append(f'datagram_received got {type(data)}')
        self.datagrams.append((data, addr))

    def error_received(self, exc):
        self._check_live('error_received')
        self.events.append('error')
        self.errors.append(exc)
        self.handled.append(sys.exc_info()[1])

    def pause_writing(self):
        self._check_live('pause_writing')
        if self.paused:
            self.misuse.append('pause_writing twice')
        self.paused = True
        self.events.append('pause')
        self.pause_sizes.append(self.transport.get_write_buffer_size())

    def resume_writing(self):
        self._check_live('resume_writing')
        if not self.paused:
            self.misuse.append('resume_writing while not paused')
        self.paused = False
        self.events.append('resume')
        self.resume_sizes.append(self.transport.get_write_buffer_size())

    def connection_lost(self, exc):
        if self.lost.done():
            self.misuse.append('connection_lost twice')
            return
        self.events.append('lost')
        self.lost.set_result(exc)

    @property
    def payloads(self):
        return [data for data, _ in self.datagrams]


class DatagramTestCase(LoopTestCase):

    def endpoint(self, *args, **kw):
        proto = DatagramRecorder(self.loop)
        tr, pr = self.run_coro(self.loop.create_datagram_endpoint(
            lambda: proto, *args, **kw))
        self.assertIs(pr, proto)
        self.addCleanup(self.close_transport, tr)
        return tr, proto

    def close_transport(self, tr):
        if not self.loop.is_closed() and not tr.is_closing():
            tr.abort()
            self.run_briefly(2)

    def create_fails(self, *args, **kw):
        """Run create_datagram_endpoint expecting an exception; return it.
        The protocol factory must not be called."""
        made = []

        def factory():
            made.append(1)
            return DatagramRecorder(self.loop)

        with self.assertRaises(Exception) as cm:
            self.run_coro(self.loop.create_datagram_endpoint(
                factory, *args, **kw))
        self.assertEqual(made, [])
        return cm.exception

    def peer(self, family=socket.AF_INET, addr=(HOST, 0)):
        s = socket.socket(family, socket.SOCK_DGRAM)
        self.addCleanup(s.close)
        s.bind(addr)
        s.setblocking(False)
        return s

    def peer_recv(self, peer, count=1, timeout=10.0, size=1 << 20):
        """Receive count datagrams on the non-blocking peer while the loop
        runs; return [(data, addr)]."""
        got = []

        def more():
            while len(got) < count:
                try:
                    got.append(peer.recvfrom(size))
                except BlockingIOError:
                    return False
            return True

        self.run_until(more, timeout)
        return got

    def assert_nothing_arrives(self, peer, delay=0.1):
        self.run_stopping_after(delay)
        with self.assertRaises(BlockingIOError):
            peer.recvfrom(1 << 16)


# -- create_datagram_endpoint --------------------------------------------------

class CreateEndpointTests(DatagramTestCase):

    def test_local_addr_binds(self):
        tr, proto = self.endpoint(local_addr=(HOST, 0))
        sockname = tr.get_extra_info('sockname')
        self.assertEqual(sockname[0], HOST)
        self.assertNotEqual(sockname[1], 0)
        self.assertIsNone(tr.get_extra_info('peername'))
        self.assertEqual(proto.events, ['made'])

    def test_connection_made_before_the_call_returns(self):
        tr, proto = self.endpoint(local_addr=(HOST, 0))
        self.assertIs(proto.transport, tr)
        self.assertTrue(proto.made.done())

    def test_remote_addr_connects(self):
        peer = self.peer()
        tr, _ = self.endpoint(remote_addr=peer.getsockname())
        self.assertEqual(tr.get_extra_info('peername'), peer.getsockname())
        sock = tr.get_extra_info('socket')
        self.assertEqual(sock.getpeername(), peer.getsockname())

    def test_local_and_remote_addr(self):
        peer = self.peer()
        tr, proto = self.endpoint(local_addr=(HOST, 0),
                                  remote_addr=peer.getsockname())
        tr.sendto(b'both')
        [(data, addr)] = self.peer_recv(peer)
        self.assertEqual(data, b'both')
        self.assertEqual(addr, tr.get_extra_info('sockname'))

    def test_family_without_addresses_makes_an_unbound_socket(self):
        tr, proto = self.endpoint(family=socket.AF_INET)
        sock = tr.get_extra_info('socket')
        self.assertEqual(sock.family, socket.AF_INET)
        self.assertEqual(sock.type, socket.SOCK_DGRAM)
        self.assertEqual(tr.get_extra_info('sockname'), ('0.0.0.0', 0))
        peer = self.peer()
        tr.sendto(b'unbound', peer.getsockname())
        [(data, _)] = self.peer_recv(peer)
        self.assertEqual(data, b'unbound')

    def test_family_and_proto_are_used(self):
        tr, _ = self.endpoint(local_addr=(HOST, 0), family=socket.AF_INET,
                              proto=socket.IPPROTO_UDP)
        sock = tr.get_extra_info('socket')
        self.assertEqual(sock.family, socket.AF_INET)
        self.assertEqual(sock.proto, socket.IPPROTO_UDP)

    def test_family_not_matching_the_address_fails_to_resolve(self):
        exc = self.create_fails(local_addr=(HOST, 0), family=socket.AF_INET6)
        self.assertIsInstance(exc, socket.gaierror)

    def test_flags_are_passed_to_getaddrinfo(self):
        # AI_NUMERICHOST forbids the name lookup 'localhost' needs.
        exc = self.create_fails(local_addr=('localhost', 0),
                                family=socket.AF_INET,
                                flags=socket.AI_NUMERICHOST)
        self.assertIsInstance(exc, socket.gaierror)
        tr, _ = self.endpoint(local_addr=('localhost', 0),
                              family=socket.AF_INET)
        self.assertEqual(tr.get_extra_info('sockname')[0], HOST)

    def test_numeric_host_with_numeric_flag(self):
        tr, _ = self.endpoint(local_addr=(HOST, 0),
                              flags=socket.AI_NUMERICHOST)
        self.assertEqual(tr.get_extra_info('sockname')[0], HOST)

    def test_reuse_port_lets_two_endpoints_share_a_port(self):
        tr1, _ = self.endpoint(local_addr=(HOST, 0), reuse_port=True)
        port = tr1.get_extra_info('sockname')[1]
        tr2, _ = self.endpoint(local_addr=(HOST, port), reuse_port=True)
        self.assertEqual(tr2.get_extra_info('sockname'), (HOST, port))
        for tr in (tr1, tr2):
            sock = tr.get_extra_info('socket')
            self.assertTrue(sock.getsockopt(socket.SOL_SOCKET,
                                            socket.SO_REUSEPORT))

    def test_port_in_use_without_reuse_port_raises_eaddrinuse(self):
        tr1, _ = self.endpoint(local_addr=(HOST, 0))
        port = tr1.get_extra_info('sockname')[1]
        exc = self.create_fails(local_addr=(HOST, port))
        self.assertIsInstance(exc, OSError)
        self.assertEqual(exc.errno, errno.EADDRINUSE)

    def test_reuse_address_is_not_accepted(self):
        with self.assertRaises(TypeError):
            self.run_coro(self.loop.create_datagram_endpoint(
                asyncio.DatagramProtocol, local_addr=(HOST, 0),
                reuse_address=True))

    def test_allow_broadcast_sets_so_broadcast(self):
        tr, _ = self.endpoint(local_addr=(HOST, 0), allow_broadcast=True)
        sock = tr.get_extra_info('socket')
        self.assertTrue(sock.getsockopt(socket.SOL_SOCKET,
                                        socket.SO_BROADCAST))

    def test_without_allow_broadcast_so_broadcast_is_off(self):
        tr, _ = self.endpoint(local_addr=(HOST, 0))
        sock = tr.get_extra_info('socket')
        self.assertFalse(sock.getsockopt(socket.SOL_SOCKET,
                                         socket.SO_BROADCAST))

    def test_allow_broadcast_with_remote_addr_does_not_connect(self):
        peer = self.peer()
        tr, _ = self.endpoint(remote_addr=peer.getsockname(),
                              allow_broadcast=True)
        self.assertIsNone(tr.get_extra_info('peername'))
        with self.assertRaises(OSError):
            tr.get_extra_info('socket').getpeername()
        # sendto without an address still goes to remote_addr.
        tr.sendto(b'to remote')
        [(data, _)] = self.peer_recv(peer)
        self.assertEqual(data, b'to remote')

    def test_sock_is_used_as_is(self):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((HOST, 0))
        tr, proto = self.endpoint(sock=sock)
        self.assertEqual(tr.get_extra_info('socket').fileno(), sock.fileno())
        self.assertEqual(tr.get_extra_info('sockname'), sock.getsockname())
        self.assertFalse(sock.getblocking())
        peer = self.peer()
        peer.sendto(b'to sock', sock.getsockname())
        self.run_until(lambda: proto.datagrams)
        self.assertEqual(proto.datagrams,
                         [(b'to sock', peer.getsockname())])

    def test_connected_sock_has_its_peername(self):
        peer = self.peer()
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.connect(peer.getsockname())
        tr, _ = self.endpoint(sock=sock)
        self.assertEqual(tr.get_extra_info('peername'), peer.getsockname())
        tr.sendto(b'connected sock')
        [(data, _)] = self.peer_recv(peer)
        self.assertEqual(data, b'connected sock')

    def test_stream_sock_is_refused(self):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(sock.close)
        exc = self.create_fails(sock=sock)
        self.assertIsInstance(exc, ValueError)
        if PY_VERSION >= (3, 13):
            self.assertIn('A datagram socket was expected', str(exc))
        else:
            self.assertIn('A UDP Socket was expected', str(exc))

    def test_seqpacket_sock_by_version(self):
        # Before 3.13 asyncio wants SOCK_DGRAM exactly; from 3.13 on it only
        # refuses SOCK_STREAM.
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.addCleanup(b.close)
        if PY_VERSION >= (3, 13):
            tr, _ = self.endpoint(sock=a)
            self.assertEqual(tr.get_extra_info('socket').type,
                             socket.SOCK_SEQPACKET)
        else:
            self.addCleanup(a.close)
            exc = self.create_fails(sock=a)
            self.assertIsInstance(exc, ValueError)

    def test_sock_with_other_options_is_refused(self):
        for kw in (dict(local_addr=(HOST, 0)), dict(remote_addr=(HOST, 9)),
                   dict(family=socket.AF_INET), dict(proto=17),
                   dict(flags=socket.AI_PASSIVE), dict(reuse_port=True),
                   dict(allow_broadcast=True)):
            with self.subTest(kw=kw):
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                self.addCleanup(sock.close)
                exc = self.create_fails(sock=sock, **kw)
                self.assertIsInstance(exc, ValueError)
                msg = str(exc)
                self.assertIn('socket modifier keyword arguments can not be '
                              'used when sock is specified', msg)
                name = next(iter(kw))
                self.assertIn(f'{name}=', msg)

    def test_no_address_and_no_family_is_refused(self):
        exc = self.create_fails()
        self.assertIsInstance(exc, ValueError)
        self.assertEqual(str(exc), 'unexpected address family')

    def test_inet_address_must_be_a_2_tuple(self):
        for kw in (dict(local_addr='127.0.0.1'),
                   dict(local_addr=(HOST, 0, 0)),
                   dict(remote_addr=[HOST, 9])):
            with self.subTest(kw=kw):
                exc = self.create_fails(**kw)
                self.assertIsInstance(exc, TypeError)
                self.assertEqual(str(exc), '2-tuple is expected')

    @requires_ipv6
    def test_local_and_remote_of_different_families_are_refused(self):
        exc = self.create_fails(local_addr=(HOST, 0), remote_addr=('::1', 9))
        self.assertIsInstance(exc, ValueError)
        self.assertEqual(str(exc), 'can not get address information')

    def test_unix_address_must_be_a_string(self):
        for addr in (b'/tmp/x', pathlib.Path('/tmp/x'), ('a', 1)):
            with self.subTest(addr=addr):
                exc = self.create_fails(local_addr=addr,
                                        family=socket.AF_UNIX)
                self.assertIsInstance(exc, TypeError)
                self.assertEqual(str(exc), 'string is expected')

    def test_protocol_factory_result_is_returned(self):
        protos = []

        def factory():
            protos.append(DatagramRecorder(self.loop))
            return protos[-1]

        tr, pr = self.run_coro(self.loop.create_datagram_endpoint(
            factory, local_addr=(HOST, 0)))
        self.addCleanup(self.close_transport, tr)
        self.assertEqual(len(protos), 1)
        self.assertIs(pr, protos[0])
        self.assertIs(tr.get_protocol(), pr)


# -- the transport ----------------------------------------------------------------

class TransportTests(DatagramTestCase):

    def test_transport_is_an_asyncio_datagram_transport(self):
        tr, _ = self.endpoint(local_addr=(HOST, 0))
        self.assertIsInstance(tr, asyncio.BaseTransport)
        # asyncio's own transport derives from DatagramTransport from 3.12.
        if PY_VERSION >= (3, 12) or support.USING_AIOEV:
            self.assertIsInstance(tr, asyncio.DatagramTransport)

    @support.aioev_only
    def test_transport_is_aioev_native(self):
        from asyncio import selector_events
        tr, _ = self.endpoint(local_addr=(HOST, 0))
        self.assertNotIsInstance(tr, selector_events._SelectorTransport)
        self.assertTrue(type(tr).__module__.startswith('aioev'),
                        type(tr).__module__)

    def test_get_extra_info(self):
        peer = self.peer()
        tr, _ = self.endpoint(local_addr=(HOST, 0),
                              remote_addr=peer.getsockname())
        sock = tr.get_extra_info('socket')
        self.assertIsInstance(sock, trsock.TransportSocket)
        self.assertEqual(sock.family, socket.AF_INET)
        self.assertEqual(tr.get_extra_info('sockname'), sock.getsockname())
        self.assertEqual(tr.get_extra_info('peername'), peer.getsockname())
        self.assertIsNone(tr.get_extra_info('no such key'))
        self.assertEqual(tr.get_extra_info('no such key', 'dflt'), 'dflt')

    def test_transport_socket_refuses_blocking_operations(self):
        tr, _ = self.endpoint(local_addr=(HOST, 0))
        sock = tr.get_extra_info('socket')
        with self.assertRaises((RuntimeError, AttributeError)):
            sock.recvfrom(10)

    def test_get_and_set_protocol(self):
        tr, proto = self.endpoint(local_addr=(HOST, 0))
        self.assertIs(tr.get_protocol(), proto)
        other = DatagramRecorder(self.loop)
        tr.set_protocol(other)
        self.assertIs(tr.get_protocol(), other)
        peer = self.peer()
        peer.sendto(b'to other', tr.get_extra_info('sockname'))
        self.run_until(lambda: other.datagrams)
        self.assertEqual(other.payloads, [b'to other'])
        self.assertEqual(proto.datagrams, [])

    def test_write_buffer_limits(self):
        tr, _ = self.endpoint(local_addr=(HOST, 0))
        self.assertEqual(tr.get_write_buffer_limits(),
                         (DEFAULT_LOW_WATER, DEFAULT_HIGH_WATER))
        tr.set_write_buffer_limits(high=1000)
        self.assertEqual(tr.get_write_buffer_limits(), (250, 1000))
        tr.set_write_buffer_limits(low=100)
        self.assertEqual(tr.get_write_buffer_limits(), (100, 400))
        with self.assertRaises(ValueError):
            tr.set_write_buffer_limits(high=1, low=2)
        self.assertEqual(tr.get_write_buffer_size(), 0)


class SendReceiveTests(DatagramTestCase):

    def test_sendto_and_datagram_received_ipv4(self):
        a, pa = self.endpoint(local_addr=(HOST, 0))
        b, pb = self.endpoint(local_addr=(HOST, 0))
        a.sendto(b'ping', b.get_extra_info('sockname'))
        self.run_until(lambda: pb.datagrams)
        self.assertEqual(pb.datagrams,
                         [(b'ping', a.get_extra_info('sockname'))])
        b.sendto(b'pong', pb.datagrams[0][1])
        self.run_until(lambda: pa.datagrams)
        self.assertEqual(pa.datagrams,
                         [(b'pong', b.get_extra_info('sockname'))])
        self.assertEqual(a.get_write_buffer_size(), 0)

    @requires_ipv6
    def test_sendto_and_datagram_received_ipv6(self):
        a, pa = self.endpoint(local_addr=('::1', 0))
        b, pb = self.endpoint(local_addr=('::1', 0))
        self.assertEqual(a.get_extra_info('socket').family, socket.AF_INET6)
        bname = b.get_extra_info('sockname')
        self.assertEqual(len(bname), 4)
        self.assertEqual(bname[0], '::1')
        a.sendto(b'ping6', bname[:2])
        self.run_until(lambda: pb.datagrams)
        data, addr = pb.datagrams[0]
        self.assertEqual(data, b'ping6')
        self.assertEqual(addr, a.get_extra_info('sockname'))
        b.sendto(b'pong6', addr)
        self.run_until(lambda: pa.datagrams)
        self.assertEqual(pa.payloads, [b'pong6'])

    @requires_ipv6
    def test_ipv6_connected_endpoint(self):
        peer = self.peer(socket.AF_INET6, ('::1', 0))
        tr, proto = self.endpoint(remote_addr=peer.getsockname()[:2])
        self.assertEqual(tr.get_extra_info('peername')[:2],
                         peer.getsockname()[:2])
        tr.sendto(b'six')
        [(data, addr)] = self.peer_recv(peer)
        self.assertEqual(data, b'six')
        peer.sendto(b'back', addr)
        self.run_until(lambda: proto.datagrams)
        self.assertEqual(proto.payloads, [b'back'])

    def test_many_datagrams_keep_their_boundaries(self):
        tr, proto = self.endpoint(local_addr=(HOST, 0))
        peer = self.peer()
        sent = [payload(n, seed=n) for n in (1, 10, 100, 1000, 8000)]
        for data in sent:
            peer.sendto(data, tr.get_extra_info('sockname'))
        self.run_until(lambda: len(proto.datagrams) == len(sent))
        self.assertEqual(proto.payloads, sent)

    def test_sendto_accepts_bytearray_and_memoryview(self):
        tr, _ = self.endpoint(local_addr=(HOST, 0))
        peer = self.peer()
        tr.sendto(bytearray(b'array'), peer.getsockname())
        tr.sendto(memoryview(b'xxview')[2:], peer.getsockname())
        got = self.peer_recv(peer, 2)
        self.assertEqual([d for d, _ in got], [b'array', b'view'])

    def test_sendto_refuses_str(self):
        tr, _ = self.endpoint(local_addr=(HOST, 0))
        with self.assertRaises(TypeError) as cm:
            tr.sendto('text', (HOST, 9))
        self.assertEqual(str(cm.exception),
                         "data argument must be a bytes-like object, "
                         "not 'str'")

    def test_empty_datagram_by_version(self):
        # 3.13 sends empty datagrams; before it sendto(b'') did nothing.
        tr, _ = self.endpoint(local_addr=(HOST, 0))
        peer = self.peer()
        tr.sendto(b'', peer.getsockname())
        tr.sendto(b'after', peer.getsockname())
        if PY_VERSION >= (3, 13):
            got = self.peer_recv(peer, 2)
            self.assertEqual([d for d, _ in got], [b'', b'after'])
        else:
            got = self.peer_recv(peer, 1)
            self.assertEqual([d for d, _ in got], [b'after'])
            self.assert_nothing_arrives(peer)

    def test_empty_datagram_is_received(self):
        tr, proto = self.endpoint(local_addr=(HOST, 0))
        peer = self.peer()
        peer.sendto(b'', tr.get_extra_info('sockname'))
        self.run_until(lambda: proto.datagrams)
        self.assertEqual(proto.datagrams, [(b'', peer.getsockname())])

    def test_connected_endpoint_refuses_another_address(self):
        peer = self.peer()
        tr, _ = self.endpoint(remote_addr=peer.getsockname())
        other = self.peer()
        with self.assertRaises(ValueError) as cm:
            tr.sendto(b'x', other.getsockname())
        self.assertEqual(
            str(cm.exception),
            f'Invalid address: must be None or {peer.getsockname()}')
        # Its own remote address is accepted.
        tr.sendto(b'same', peer.getsockname())
        [(data, _)] = self.peer_recv(peer)
        self.assertEqual(data, b'same')

    def test_largest_udp_datagram_arrives_whole(self):
        tr, proto = self.endpoint(local_addr=(HOST, 0))
        sender, _ = self.endpoint(local_addr=(HOST, 0))
        data = payload(MAX_UDP4_PAYLOAD)
        sender.sendto(data, tr.get_extra_info('sockname'))
        self.run_until(lambda: proto.datagrams)
        self.assertEqual(len(proto.payloads[0]), MAX_UDP4_PAYLOAD)
        self.assertEqual(proto.payloads[0], data)

    def test_datagram_too_large_for_udp_goes_to_error_received(self):
        tr, proto = self.endpoint(local_addr=(HOST, 0))
        tr.sendto(b'x' * (MAX_UDP4_PAYLOAD + 1), (HOST, 9))
        self.assertEqual(len(proto.errors), 1)
        self.assertIsInstance(proto.errors[0], OSError)
        self.assertEqual(proto.errors[0].errno, errno.EMSGSIZE)
        self.assertFalse(tr.is_closing())
        # The transport carries on.
        peer = self.peer()
        tr.sendto(b'still fine', peer.getsockname())
        [(data, _)] = self.peer_recv(peer)
        self.assertEqual(data, b'still fine')

    def test_datagram_larger_than_receive_size_is_truncated(self):
        # A Unix datagram can exceed what the transport asks recvfrom for:
        # the rest of that datagram is dropped, the next one is whole.
        path = unix_path(self)
        tr, proto = self.endpoint(local_addr=path, family=socket.AF_UNIX)
        sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(sender.close)
        big = payload(RECEIVE_SIZE + 64 * KiB)
        sender.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 2 * len(big))
        tr.get_extra_info('socket').setsockopt(
            socket.SOL_SOCKET, socket.SO_RCVBUF, 2 * len(big))
        sender.sendto(big, path)
        sender.sendto(b'next', path)
        self.run_until(lambda: len(proto.datagrams) == 2)
        self.assertEqual(len(proto.payloads[0]), RECEIVE_SIZE)
        self.assertEqual(proto.payloads[0], big[:RECEIVE_SIZE])
        self.assertEqual(proto.payloads[1], b'next')

    def test_malformed_address_closes_the_transport(self):
        tr, proto = self.endpoint(local_addr=(HOST, 0))
        errors = self.collect_errors()
        tr.sendto(b'x', 'not an address')
        exc = self.run_coro(proto.lost)
        self.assertIsInstance(exc, TypeError)
        self.assertTrue(tr.is_closing())
        self.assertEqual(len(errors), 1)
        self.assertIs(errors[0]['exception'], exc)


class SenderAddressTests(DatagramTestCase):
    """The address datagram_received() gets is what the socket's recvfrom()
    gives, whichever sender came before, and a reply to it reaches that
    sender (aioev reads AF_INET and AF_INET6 sockets itself and reuses the
    last sender's address)."""

    def test_alternating_senders_get_their_own_replies(self):
        tr, proto = self.endpoint(local_addr=(HOST, 0))
        peers = [self.peer(), self.peer(), self.peer()]
        order = [0, 0, 1, 2, 1, 0, 2, 2]
        for turn, index in enumerate(order):
            peers[index].sendto(b'%d' % turn, tr.get_extra_info('sockname'))
            self.run_until(lambda: len(proto.datagrams) == turn + 1)
            data, addr = proto.datagrams[-1]
            self.assertEqual(addr, peers[index].getsockname())
            tr.sendto(b'reply ' + data, addr)
            [(reply, _)] = self.peer_recv(peers[index])
            self.assertEqual(reply, b'reply %d' % turn)
        for peer in peers:
            self.assert_nothing_arrives(peer, 0.01)

    @requires_ipv6
    def test_ipv6_sender_address_is_recvfroms(self):
        tr, proto = self.endpoint(local_addr=('::1', 0))
        peer = self.peer(socket.AF_INET6, ('::1', 0))
        for _ in range(2):
            peer.sendto(b'six', tr.get_extra_info('sockname')[:2])
        self.run_until(lambda: len(proto.datagrams) == 2)
        self.assertEqual([addr for _, addr in proto.datagrams],
                         [peer.getsockname()] * 2)
        tr.sendto(b'back', proto.datagrams[1][1])
        [(reply, addr)] = self.peer_recv(peer)
        self.assertEqual((reply, addr[:2]), (b'back', tr.get_extra_info('sockname')[:2]))

    def test_socket_subclass_methods_are_used(self):
        calls = []

        class Recording(socket.socket):
            def recvfrom(self, *args):
                calls.append('recvfrom')
                return super().recvfrom(*args)

            def sendto(self, *args):
                calls.append('sendto')
                return super().sendto(*args)

        sock = Recording(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((HOST, 0))
        sock.setblocking(False)
        tr, proto = self.endpoint(sock=sock)
        peer = self.peer()
        peer.sendto(b'in', sock.getsockname())
        self.run_until(lambda: proto.datagrams)
        tr.sendto(b'out', proto.datagrams[0][1])
        self.assertEqual(self.peer_recv(peer)[0][0], b'out')
        self.assertEqual(calls[:2], ['recvfrom', 'sendto'])

    def test_replies_raise_the_sendto_audit_event(self):
        proc = support.run_child("""
            import sys
            events = []
            sys.addaudithook(lambda name, args: name == 'socket.sendto'
                             and events.append(args[1]))
            class Echo(asyncio.DatagramProtocol):
                def connection_made(self, transport):
                    self.transport = transport
                def datagram_received(self, data, addr):
                    self.transport.sendto(data, addr)
            async def main():
                loop = asyncio.get_running_loop()
                tr, _ = await loop.create_datagram_endpoint(
                    Echo, local_addr=('127.0.0.1', 0))
                peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                peer.bind(('127.0.0.1', 0))
                peer.settimeout(10)
                for _ in range(3):
                    peer.sendto(b'x', tr.get_extra_info('sockname'))
                    await loop.run_in_executor(None, peer.recvfrom, 100)
                print(events.count(peer.getsockname()))
                tr.close()
                peer.close()
            loop = new_event_loop()
            loop.run_until_complete(main())
            loop.close()
        """)
        self.assertEqual(proc.returncode, 0, support.describe_child(proc))
        self.assertEqual(proc.stdout.split()[-1], '3')


class UnixDatagramTests(DatagramTestCase):

    def test_unix_endpoints_exchange_datagrams(self):
        spath = unix_path(self, 'server')
        cpath = unix_path(self, 'client')
        srv, psrv = self.endpoint(local_addr=spath, family=socket.AF_UNIX)
        cli, pcli = self.endpoint(local_addr=cpath, remote_addr=spath,
                                  family=socket.AF_UNIX)
        self.assertEqual(srv.get_extra_info('sockname'), spath)
        self.assertEqual(cli.get_extra_info('peername'), spath)
        self.assertEqual(cli.get_extra_info('socket').family, socket.AF_UNIX)
        cli.sendto(b'hello unix')
        self.run_until(lambda: psrv.datagrams)
        self.assertEqual(psrv.datagrams, [(b'hello unix', cpath)])
        srv.sendto(b'reply', cpath)
        self.run_until(lambda: pcli.datagrams)
        self.assertEqual(pcli.datagrams, [(b'reply', spath)])

    def test_datagram_from_unbound_unix_sender(self):
        path = unix_path(self)
        tr, proto = self.endpoint(local_addr=path, family=socket.AF_UNIX)
        sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(sender.close)
        sender.sendto(b'anonymous', path)
        self.run_until(lambda: proto.datagrams)
        self.assertEqual(proto.datagrams, [(b'anonymous', None)])

    def test_abstract_unix_address(self):
        name = abstract_name(self)
        tr, proto = self.endpoint(local_addr=name, family=socket.AF_UNIX)
        self.assertEqual(tr.get_extra_info('sockname'), name.encode())
        sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(sender.close)
        sender.sendto(b'abstract', name)
        self.run_until(lambda: proto.datagrams)
        self.assertEqual(proto.payloads, [b'abstract'])

    def test_stale_socket_file_is_replaced(self):
        path = unix_path(self)
        old = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        old.bind(path)
        old.close()
        self.assertTrue(os.path.exists(path))
        tr, proto = self.endpoint(local_addr=path, family=socket.AF_UNIX)
        self.assertEqual(tr.get_extra_info('sockname'), path)

    def test_regular_file_at_local_addr_is_not_removed(self):
        path = unix_path(self)
        with open(path, 'w') as f:
            f.write('keep me')
        exc = self.create_fails(local_addr=path, family=socket.AF_UNIX)
        self.assertIsInstance(exc, OSError)
        self.assertEqual(exc.errno, errno.EADDRINUSE)
        with open(path) as f:
            self.assertEqual(f.read(), 'keep me')

    def test_remote_path_that_does_not_exist(self):
        exc = self.create_fails(remote_addr=unix_path(self),
                                family=socket.AF_UNIX)
        self.assertIsInstance(exc, FileNotFoundError)

    def test_unix_datagram_socketpair_as_sock(self):
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(b.close)
        tr, proto = self.endpoint(sock=a)
        b.send(b'from pair')
        self.run_until(lambda: proto.datagrams)
        self.assertEqual(proto.payloads, [b'from pair'])


# -- queueing and flow control -------------------------------------------------------

class QueueingTests(DatagramTestCase):
    """A Unix datagram peer that does not read makes sendto block: the
    receiver's queue holds only a few datagrams."""

    DATAGRAM = 4 * KiB

    def stalled_pair(self):
        """(transport, protocol, peer): the transport is connected to a Unix
        datagram socket that reads only when the test says so."""
        path = unix_path(self)
        peer = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(peer.close)
        peer.bind(path)
        peer.setblocking(False)
        tr, proto = self.endpoint(remote_addr=path, family=socket.AF_UNIX)
        return tr, proto, peer

    def fill(self, tr, proto, *, until_paused=True, limit=5000):
        """sendto numbered datagrams until one is queued (or the protocol
        is paused); return [(datagram, buffer size growth)]."""
        sent = []
        for i in range(limit):
            data = i.to_bytes(4, 'big') + payload(self.DATAGRAM - 4, seed=i)
            before = tr.get_write_buffer_size()
            tr.sendto(data)
            sent.append((data, tr.get_write_buffer_size() - before))
            if proto.paused if until_paused else sent[-1][1]:
                return sent
        self.fail(f'{limit} datagrams sent without queueing')

    def drain(self, peer, count, timeout=10.0):
        return [d for d, _ in self.peer_recv(peer, count, timeout,
                                             size=2 * self.DATAGRAM)]

    def test_sendto_is_sent_at_once_while_the_socket_has_room(self):
        tr, proto, peer = self.stalled_pair()
        tr.sendto(b'first')
        self.assertEqual(tr.get_write_buffer_size(), 0)
        # Received without the loop running: it was sent synchronously.
        self.assertEqual(peer.recv(100), b'first')

    def test_sendto_queues_when_the_socket_is_full(self):
        tr, proto, peer = self.stalled_pair()
        sent = self.fill(tr, proto, until_paused=False)
        growth = [g for _, g in sent]
        self.assertTrue(all(g == 0 for g in growth[:-1]), growth)
        self.assertEqual(growth[-1], self.DATAGRAM + QUEUED_HEADER)
        self.assertEqual(tr.get_write_buffer_size(),
                         self.DATAGRAM + QUEUED_HEADER)
        # Once something is queued, everything after it is queued too.
        tr.sendto(b'tail')
        self.assertEqual(tr.get_write_buffer_size(),
                         self.DATAGRAM + 4 + 2 * QUEUED_HEADER)
        got = self.drain(peer, len(sent) + 1)
        self.assertEqual(got, [d for d, _ in sent] + [b'tail'])
        if PY_VERSION < (3, 13) or support.USING_AIOEV:
            # (asyncio 3.13 never takes the header bytes back off.)
            self.run_until(lambda: tr.get_write_buffer_size() == 0)

    def test_queued_bytearray_is_copied(self):
        tr, proto, peer = self.stalled_pair()
        sent = self.fill(tr, proto, until_paused=False)
        data = bytearray(b'original')
        tr.sendto(data)
        data[:] = b'modified'
        got = self.drain(peer, len(sent) + 1)
        self.assertEqual(got[-1], b'original')

    def test_pause_and_resume_writing(self):
        tr, proto, peer = self.stalled_pair()
        sent = self.fill(tr, proto)
        self.assertEqual(proto.events, ['made', 'pause'])
        high = DEFAULT_HIGH_WATER
        size = proto.pause_sizes[0]
        self.assertGreater(size, high)
        self.assertLessEqual(size - self.DATAGRAM - QUEUED_HEADER, high)
        self.assertEqual(size, tr.get_write_buffer_size())
        self.assertTrue(sent[-1][1])
        got = self.drain(peer, len(sent))
        self.assertEqual(got, [d for d, _ in sent])
        self.run_until(lambda: 'resume' in proto.events)
        self.assertEqual(proto.events, ['made', 'pause', 'resume'])
        self.assertLessEqual(proto.resume_sizes[0], DEFAULT_LOW_WATER)
        self.assertEqual(proto.misuse, [])

    def test_pause_writing_honours_set_write_buffer_limits(self):
        tr, proto, peer = self.stalled_pair()
        high = 3 * self.DATAGRAM
        tr.set_write_buffer_limits(high=high, low=self.DATAGRAM)
        sent = self.fill(tr, proto)
        queued = [d for d, g in sent if g]
        # Paused by the first datagram that takes the size over high.
        self.assertEqual(len(queued),
                         high // (self.DATAGRAM + QUEUED_HEADER) + 1)
        self.drain(peer, len(sent))
        self.run_until(lambda: 'resume' in proto.events)
        self.assertLessEqual(proto.resume_sizes[0], self.DATAGRAM)

    def test_lowering_the_limit_pauses_at_once(self):
        tr, proto, peer = self.stalled_pair()
        self.fill(tr, proto, until_paused=False)
        self.assertFalse(proto.paused)
        tr.set_write_buffer_limits(high=0)
        self.assertTrue(proto.paused)

    def test_close_flushes_the_queue_then_loses_the_connection(self):
        tr, proto, peer = self.stalled_pair()
        sent = self.fill(tr, proto, until_paused=False)
        tr.close()
        self.assertTrue(tr.is_closing())
        self.run_briefly(3)
        self.assertFalse(proto.lost.done())
        got = self.drain(peer, len(sent))
        self.assertEqual(got, [d for d, _ in sent])
        self.assertIsNone(self.run_coro(proto.lost))
        self.assertEqual(proto.events[-1], 'lost')

    def test_abort_drops_the_queue(self):
        tr, proto, peer = self.stalled_pair()
        sent = self.fill(tr, proto, until_paused=False)
        tr.abort()
        self.assertTrue(tr.is_closing())
        self.assertIsNone(self.run_coro(proto.lost))
        got = self.drain(peer, len(sent) - 1)
        self.assertEqual(got, [d for d, _ in sent[:-1]])
        self.assert_nothing_arrives(peer)


# -- errors and the end of the transport ----------------------------------------------

class ErrorReceivedTests(DatagramTestCase):

    def unix_endpoint_to_vanished_peer(self):
        path = unix_path(self)
        peer = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        peer.bind(path)
        tr, proto = self.endpoint(remote_addr=path, family=socket.AF_UNIX)
        peer.close()
        return tr, proto

    def test_peer_that_vanished_gives_connection_refused(self):
        peer = self.peer()
        tr, proto = self.endpoint(remote_addr=peer.getsockname())
        tr.sendto(b'are you there')
        self.assertEqual(self.peer_recv(peer)[0][0], b'are you there')
        peer.close()
        tr.sendto(b'gone?')
        self.run_until(lambda: proto.errors)
        self.assertIsInstance(proto.errors[0], ConnectionRefusedError)
        # error_received does not end the transport.
        self.assertFalse(tr.is_closing())
        self.assertFalse(proto.lost.done())
        self.assertEqual(proto.misuse, [])

    def test_error_received_runs_while_the_error_is_handled(self):
        # asyncio calls it from its `except OSError` clauses, reading (an
        # ICMP error) and sending (a Unix peer that went away) alike.
        peer = self.peer()
        tr, proto = self.endpoint(remote_addr=peer.getsockname())
        peer.close()
        tr.sendto(b'gone?')
        self.run_until(lambda: proto.errors)
        unix_tr, unix_proto = self.unix_endpoint_to_vanished_peer()
        unix_tr.sendto(b'gone?')
        for p in (proto, unix_proto):
            self.assertEqual(len(p.handled), 1)
            self.assertIs(p.handled[0], p.errors[0])

    def test_transport_works_after_error_received(self):
        peer = self.peer()
        addr = peer.getsockname()
        tr, proto = self.endpoint(remote_addr=addr)
        peer.close()
        tr.sendto(b'nobody')
        self.run_until(lambda: proto.errors)
        # A new socket on the same port receives what is sent next.
        again = self.peer(addr=addr)
        tr.sendto(b'somebody')
        [(data, _)] = self.peer_recv(again)
        self.assertEqual(data, b'somebody')

    @requires_ipv6
    def test_ipv6_peer_that_vanished_gives_connection_refused(self):
        peer = self.peer(socket.AF_INET6, ('::1', 0))
        tr, proto = self.endpoint(remote_addr=peer.getsockname()[:2])
        peer.close()
        tr.sendto(b'gone?')
        self.run_until(lambda: proto.errors)
        self.assertIsInstance(proto.errors[0], ConnectionRefusedError)

    def test_unconnected_endpoint_gets_no_icmp_errors(self):
        peer = self.peer()
        addr = peer.getsockname()
        peer.close()
        tr, proto = self.endpoint(local_addr=(HOST, 0))
        tr.sendto(b'nobody', addr)
        self.run_stopping_after(0.2)
        self.assertEqual(proto.errors, [])
        self.assertFalse(tr.is_closing())

    def test_unix_peer_that_vanished(self):
        tr, proto = self.unix_endpoint_to_vanished_peer()
        tr.sendto(b'gone?')
        self.assertEqual(len(proto.errors), 1)
        self.assertIsInstance(proto.errors[0], ConnectionRefusedError)
        self.assertFalse(tr.is_closing())


class DatagramCloseTests(DatagramTestCase):

    def test_close_calls_connection_lost_none(self):
        tr, proto = self.endpoint(local_addr=(HOST, 0))
        tr.close()
        self.assertTrue(tr.is_closing())
        self.assertFalse(proto.lost.done())  # called soon, not now
        self.assertIsNone(self.run_coro(proto.lost))
        self.assertEqual(proto.events, ['made', 'lost'])

    def test_close_twice_loses_the_connection_once(self):
        tr, proto = self.endpoint(local_addr=(HOST, 0))
        tr.close()
        tr.close()
        self.run_coro(proto.lost)
        tr.close()
        self.run_briefly(3)
        self.assertEqual(proto.events, ['made', 'lost'])
        self.assertEqual(proto.misuse, [])

    def test_close_closes_the_socket(self):
        tr, proto = self.endpoint(local_addr=(HOST, 0))
        sock = tr.get_extra_info('socket')
        tr.close()
        self.run_coro(proto.lost)
        self.assertEqual(sock.fileno(), -1)

    def test_abort_calls_connection_lost_none(self):
        tr, proto = self.endpoint(local_addr=(HOST, 0))
        tr.abort()
        self.assertTrue(tr.is_closing())
        self.assertIsNone(self.run_coro(proto.lost))
        self.assertEqual(proto.events, ['made', 'lost'])

    def test_abort_after_close(self):
        tr, proto = self.endpoint(local_addr=(HOST, 0))
        tr.close()
        tr.abort()
        self.run_coro(proto.lost)
        self.run_briefly(3)
        self.assertEqual(proto.events, ['made', 'lost'])

    def test_no_datagrams_after_close(self):
        tr, proto = self.endpoint(local_addr=(HOST, 0))
        peer = self.peer()
        tr.close()
        peer.sendto(b'late', tr.get_extra_info('sockname'))
        self.run_coro(proto.lost)
        self.run_briefly(3)
        self.assertEqual(proto.datagrams, [])

    def test_sendto_after_close_on_connected_endpoint_is_dropped(self):
        peer = self.peer()
        tr, proto = self.endpoint(remote_addr=peer.getsockname())
        tr.close()
        tr.sendto(b'dropped')
        self.run_coro(proto.lost)
        tr.sendto(b'dropped too')
        self.assertEqual(proto.errors, [])
        self.assert_nothing_arrives(peer)

    def test_exception_in_datagram_received_goes_to_the_handler(self):
        errors = self.collect_errors()

        class FailsOnce(DatagramRecorder):
            def datagram_received(self, data, addr):
                super().datagram_received(data, addr)
                if len(self.datagrams) == 1:
                    raise ZeroDivisionError

        proto = FailsOnce(self.loop)
        tr, _ = self.run_coro(self.loop.create_datagram_endpoint(
            lambda: proto, local_addr=(HOST, 0)))
        self.addCleanup(self.close_transport, tr)
        peer = self.peer()
        peer.sendto(b'boom', tr.get_extra_info('sockname'))
        self.run_until(lambda: errors)
        self.assertIsInstance(errors[0]['exception'], ZeroDivisionError)
        # The transport is not closed: the next datagram arrives.
        self.assertFalse(tr.is_closing())
        peer.sendto(b'again', tr.get_extra_info('sockname'))
        self.run_until(lambda: len(proto.datagrams) == 2)
        self.assertEqual(proto.payloads, [b'boom', b'again'])
        self.assertEqual(len(errors), 1)


if __name__ == '__main__':
    unittest.main()
