"""Large reads of the socket transport: the bytes objects that
data_received() gets are right whatever the loop does to avoid allocating
them (aioev recycles the ones a protocol drops), and the ones a protocol
keeps never change."""

import asyncio
import os
import platform
import socket
import sys
import sysconfig
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


# A streams echo server exchanges 100 KiB messages with ten connections,
# each a thread that allocates nothing after its first message; the child
# prints the server process's minor page faults per message over the
# rounds after the first few. A streams protocol copies each read into its
# reader's buffer and frees it when the reader takes it, so an iteration
# frees about as much as it read: glibc's heap gives that back when its
# free top passes the trim threshold, and takes it back page by page on the
# next iteration (some 20 faults per message). aioev raises the threshold
# for reads of that size.
HEAP_CHILD = """
import resource, threading
CONNECTIONS, SIZE, WARMUP, ROUNDS = 10, 100 * 1024, 5, 50
message = bytes(range(256)) * (SIZE // 256)
done = [0] * (WARMUP + ROUNDS)  # connections past each round
lock = threading.Lock()

def client(port):
    buffer = memoryview(bytearray(SIZE))
    with socket.create_connection(('127.0.0.1', port)) as sock:
        for i in range(WARMUP + ROUNDS):
            sock.sendall(message)
            got = 0
            while got < SIZE:
                n = sock.recv_into(buffer[got:])
                assert n > 0, 'closed'
                got += n
            assert buffer == message
            with lock:
                done[i] += 1

async def echo(reader, writer):
    while data := await reader.read(64 * 1024):
        writer.write(data)
        await writer.drain()
    writer.close()

async def main():
    server = await asyncio.start_server(echo, '127.0.0.1', 0)
    port = server.sockets[0].getsockname()[1]
    threads = [threading.Thread(target=client, args=(port,))
               for _ in range(CONNECTIONS)]
    for t in threads:
        t.start()
    faults = []
    while done[-1] < CONNECTIONS:
        if done[WARMUP - 1] == CONNECTIONS and not faults:
            faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt)
        await asyncio.sleep(0.0005)
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt)
    for t in threads:
        t.join()
    server.close()
    await server.wait_closed()
    print((faults[1] - faults[0]) / (CONNECTIONS * (ROUNDS - 1)))

loop = new_event_loop()
loop.run_until_complete(main())
loop.close()
"""


@support.aioev_only
@unittest.skipUnless(platform.libc_ver()[0] == 'glibc', "glibc's heap trimming")
@unittest.skipIf(support.UNDER_SANITIZER, "the sanitizer's allocator replaces glibc's")
@unittest.skipIf(sysconfig.get_config_var('Py_GIL_DISABLED'),
                 'free-threaded CPython allocates objects with mimalloc')
@unittest.skipIf(os.environ.get('PYTHONMALLOC', 'pymalloc').partition('_')[0]
                 not in ('pymalloc', 'malloc'), 'objects from another allocator')
class HeapTests(unittest.TestCase):

    def test_large_messages_reuse_the_heap(self):
        proc = support.run_child(HEAP_CHILD, timeout=60)
        self.assertEqual(proc.returncode, 0, support.describe_child(proc))
        faults = float(proc.stdout.split()[-1])
        support.record(f'heap: {faults:.2f} minor faults per 100 KiB message')
        self.assertLess(faults, 2.0)


if __name__ == '__main__':
    unittest.main()
