"""Large reads of the socket transport: the bytes objects that
data_received() gets are right whatever the loop does to avoid allocating
them (aioev recycles the ones a protocol drops), and the ones a protocol
keeps never change."""

import asyncio
import os
import socket
import unittest

from . import support
from .net_support import HOST, KiB, NetTestCase, payload


class Chunks(asyncio.Protocol):
    """Records where each chunk starts, its length and its hash (computed
    at once, so that the object caches it); keeps every other chunk and
    drops the rest, so that a loop that recycles dropped ones gets some."""

    def __init__(self, loop):
        self.records = []
        self.kept = []
        self.received = 0
        self.lost = loop.create_future()

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.records.append((self.received, len(data), hash(data)))
        if len(self.records) % 2:
            self.kept.append((self.received, data))
        self.received += len(data)

    def connection_lost(self, exc):
        if not self.lost.done():
            self.lost.set_result(exc)


class LargeReadTests(NetTestCase):

    def check_chunks(self, proto, sent):
        self.assertEqual(proto.received, len(sent))
        for offset, size, digest in proto.records:
            self.assertEqual(digest, hash(sent[offset:offset + size]),
                             f'hash of the chunk at {offset} ({size} bytes)')
        for offset, data in proto.kept:
            self.assertEqual(data, sent[offset:offset + len(data)],
                             f'kept chunk at {offset} changed')

    def send_in_bursts(self, sizes):
        """Sends one burst of each size (each a different payload), waiting
        for the transport to read it before the next; returns the protocol
        and all that was sent."""
        proto = Chunks(self.loop)
        tr, peer = self.connect_raw(proto)
        peer.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1024 * KiB)
        sent = bytearray()
        for seed, size in enumerate(sizes):
            data = payload(size, seed)
            self.peer_send_all(peer, data)
            sent += data
            self.run_until(lambda: proto.received == len(sent))
        peer.close()
        self.run_coro(proto.lost)
        return proto, bytes(sent)

    def run_until(self, predicate, timeout=10.0):
        async def wait():
            while not predicate():
                await asyncio.sleep(0.001)
        self.run_coro(asyncio.wait_for(wait(), timeout))

    def test_large_bursts_of_one_size(self):
        # Reads of the same size: a recycled object serves each.
        proto, sent = self.send_in_bursts([100 * KiB] * 12)
        self.check_chunks(proto, sent)

    def test_large_bursts_of_changing_sizes(self):
        # Growing and shrinking reads: a recycled object is used for reads
        # that fill at least half of it, which it is shrunk to in place.
        sizes = [40 * KiB, 200 * KiB, 120 * KiB, 70 * KiB, 300 * KiB,
                 33 * KiB, 250 * KiB, 130 * KiB, 64 * KiB, 100 * KiB]
        proto, sent = self.send_in_bursts(sizes)
        self.check_chunks(proto, sent)

    def test_large_read_then_small_reads(self):
        proto, sent = self.send_in_bursts([100 * KiB, 100 * KiB, 10, 5 * KiB,
                                           100 * KiB, 1])
        self.check_chunks(proto, sent)


    def test_large_pipe_reads(self):
        # Each write fits in the empty pipe (64 KiB) and is read at once:
        # reads of 32 KiB and more copy out of the loop's buffer into
        # recycled objects.
        rfd, wfd = os.pipe()
        self.addCleanup(os.close, wfd)
        proto = Chunks(self.loop)
        pipe = os.fdopen(rfd, 'rb', 0)
        self.run_coro(self.loop.connect_read_pipe(lambda: proto, pipe))
        sent = bytearray()
        for seed, size in enumerate([64 * KiB, 48 * KiB, 64 * KiB, 40 * KiB, 64 * KiB,
                                     64 * KiB, 100, 64 * KiB]):
            data = payload(size, seed)
            self.assertEqual(os.write(wfd, data), size)  # the pipe is empty
            sent += data
            self.run_until(lambda: proto.received == len(sent))
        self.check_chunks(proto, bytes(sent))
        proto.transport.close()
        self.run_coro(proto.lost)


if __name__ == '__main__':
    unittest.main()
