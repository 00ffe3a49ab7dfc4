"""Helpers for the network transport tests (TCP, Unix, TLS, sendfile,
servers, streams): recording protocols, connected transport/peer pairs,
test certificates and the open-file limit.

Everything here works on whichever loop Tests.support.new_event_loop()
gives, so the tests can be checked against asyncio's own loop with
AIOEV_TEST_LOOP=asyncio.
"""

import asyncio
import atexit
import hashlib
import os
import shutil
import socket
import ssl
import subprocess
import sysconfig
import tempfile
import unittest

try:
    import resource
except ImportError:  # pragma: no cover - not on Linux
    resource = None

from .support import LoopTestCase

HOST = '127.0.0.1'
KiB = 1024
MiB = 1024 * 1024

# asyncio's default write-buffer limits (transports._FlowControlMixin).
DEFAULT_HIGH_WATER = 64 * KiB
DEFAULT_LOW_WATER = 16 * KiB

# The smallest kernel buffers a test can ask for: they make a transport's own
# write buffer fill after a few KiB instead of after megabytes.
SMALL_SOCKET_BUFFER = 4096


# -- process limits ---------------------------------------------------------

def raise_nofile_limit():
    """Raise the soft RLIMIT_NOFILE to the hard limit; return the new soft
    limit (or None where the resource module is missing)."""
    if resource is None:
        return None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = max(soft, 65536)
    if soft != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            pass
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def nofile_limit():
    if resource is None:
        return None
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# -- data -------------------------------------------------------------------

def payload(size, seed=0):
    """size bytes that are not all alike and differ with seed (cheap to make
    in bulk: a random block repeated with a varying prefix)."""
    block = hashlib.sha256(b'%d' % seed).digest() * 128  # 4 KiB
    out = bytearray()
    i = 0
    while len(out) < size:
        out += i.to_bytes(4, 'little') + block
        i += 1
    return bytes(out[:size])


# -- certificates -------------------------------------------------------------

_tls_dir = None


def _stdlib_test_cert():
    # CPython's own test certificate (self-signed, CN and SAN 'localhost'),
    # where the interpreter ships its test package.
    stdlib = sysconfig.get_paths()['stdlib']
    for rel in ('test/certdata/keycert.pem', 'test/keycert.pem'):
        path = os.path.join(stdlib, rel)
        if os.path.exists(path):
            return path, path
    return None


def tls_files():
    """(certfile, keyfile) of a self-signed certificate for 'localhost' and
    127.0.0.1, generated once per process into a temporary directory that
    is removed at exit (no private key ever lands in the repository)."""
    global _tls_dir
    if _tls_dir is not None:
        return (os.path.join(_tls_dir, 'cert.pem'),
                os.path.join(_tls_dir, 'key.pem'))
    openssl = shutil.which('openssl')
    if openssl is not None:
        tmp = tempfile.mkdtemp(prefix='aioev-tls-')
        atexit.register(shutil.rmtree, tmp, True)
        cert = os.path.join(tmp, 'cert.pem')
        key = os.path.join(tmp, 'key.pem')
        proc = subprocess.run(
            [openssl, 'req', '-x509', '-newkey', 'rsa:2048', '-nodes',
             '-keyout', key, '-out', cert, '-days', '2',
             '-subj', '/CN=localhost',
             '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'],
            capture_output=True, text=True, timeout=60)
        if proc.returncode == 0:
            _tls_dir = tmp
            return cert, key
    found = _stdlib_test_cert()
    if found is None:
        raise unittest.SkipTest('no openssl and no CPython test certificate')
    return found


def server_tls_context():
    cert, key = tls_files()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    return ctx


def client_tls_context():
    """A client context that trusts only the test certificate."""
    cert, _ = tls_files()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cert)
    return ctx


# -- protocols ----------------------------------------------------------------

class Recorder(asyncio.Protocol):
    """Records every callback.

    events: callback names in call order ('made', 'eof', 'lost', 'pause',
    'resume'; data arrivals are not listed, they go to self.data).
    misuse: protocol-contract violations seen (a callback before
    connection_made or after connection_lost).
    """

    def __init__(self, loop, *, eof_result=None):
        self.loop = loop
        self.events = []
        self.misuse = []
        self.data = bytearray()
        self.data_calls = 0
        self.transport = None
        self.eof_result = eof_result
        self.lost_exc = None
        self.paused = False
        self.made = loop.create_future()
        self.lost = loop.create_future()
        self.eof = loop.create_future()
        # get_write_buffer_size() when pause/resume_writing was called.
        self.pause_sizes = []
        self.resume_sizes = []

    def _check_live(self, name):
        if self.transport is None:
            self.misuse.append(f'{name} before connection_made')
        if 'lost' in self.events:
            self.misuse.append(f'{name} after connection_lost')

    def connection_made(self, transport):
        if self.events:
            self.misuse.append(f'connection_made after {self.events}')
        self.transport = transport
        self.events.append('made')
        self.made.set_result(transport)

    def data_received(self, data):
        self._check_live('data_received')
        if 'eof' in self.events:
            self.misuse.append('data_received after eof_received')
        if not isinstance(data, bytes):
            self.misuse.append(f'data_received got {type(data).__name__}')
        self.data += data
        self.data_calls += 1

    def eof_received(self):
        self._check_live('eof_received')
        self.events.append('eof')
        if not self.eof.done():
            self.eof.set_result(None)
        return self.eof_result

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
        if self.transport is None:
            self.misuse.append('connection_lost before connection_made')
        self.events.append('lost')
        self.lost_exc = exc
        if self.lost.done():
            self.misuse.append('connection_lost twice')
        else:
            self.lost.set_result(exc)

    @property
    def lost_count(self):
        return self.events.count('lost')


class BufferedRecorder(asyncio.BufferedProtocol):
    """Recorder's counterpart for BufferedProtocol: hands out a buffer of
    buffer_size bytes and records what buffer_updated reports."""

    def __init__(self, loop, *, buffer_size=64 * KiB, eof_result=None,
                 buffer_type=bytearray):
        self.loop = loop
        self.events = []
        self.misuse = []
        self.data = bytearray()
        self.sizehints = []
        self.updates = []
        self.transport = None
        self.eof_result = eof_result
        self.lost_exc = None
        self.buffer = bytearray(buffer_size)
        self.buffer_type = buffer_type
        self.made = loop.create_future()
        self.lost = loop.create_future()
        self.eof = loop.create_future()

    def connection_made(self, transport):
        self.transport = transport
        self.events.append('made')
        self.made.set_result(transport)

    def get_buffer(self, sizehint):
        if self.transport is None or 'lost' in self.events:
            self.misuse.append('get_buffer outside the connection')
        self.sizehints.append(sizehint)
        if self.buffer_type is memoryview:
            return memoryview(self.buffer)
        return self.buffer

    def buffer_updated(self, nbytes):
        if not 0 < nbytes <= len(self.buffer):
            self.misuse.append(f'buffer_updated({nbytes})')
        self.updates.append(nbytes)
        self.data += self.buffer[:nbytes]

    def data_received(self, data):  # must never be used for this protocol
        self.misuse.append('data_received called on a BufferedProtocol')

    def eof_received(self):
        self.events.append('eof')
        if not self.eof.done():
            self.eof.set_result(None)
        return self.eof_result

    def connection_lost(self, exc):
        self.events.append('lost')
        self.lost_exc = exc
        if self.lost.done():
            self.misuse.append('connection_lost twice')
        else:
            self.lost.set_result(exc)

    lost_count = Recorder.lost_count


async def stream_round_trip(reader, writer, data):
    """Write data on a stream, read as many bytes back, and close the
    writer: what was read."""
    writer.write(data)
    got = await reader.readexactly(len(data))
    writer.close()
    await writer.wait_closed()
    return got


class Echo(asyncio.Protocol):
    """Echoes what it receives; closes on EOF. Counts live connections in
    the shared `registry` list when given one."""

    def __init__(self, registry=None):
        self.registry = registry
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport
        if self.registry is not None:
            self.registry.append(self)

    def data_received(self, data):
        self.transport.write(data)

    def connection_lost(self, exc):
        if self.registry is not None:
            self.registry.remove(self)


class Boom(Exception):
    """The exception test protocols raise (not an OSError: asyncio only
    logs OSErrors from transports in debug mode)."""


# -- test case ----------------------------------------------------------------

class NetTestCase(LoopTestCase):
    """LoopTestCase with helpers that make connected transports."""

    def new_recorder(self, **kw):
        return Recorder(self.loop, **kw)

    # Servers and connections --------------------------------------------

    def tcp_server(self, factory, host=HOST, **kw):
        server = self.run_coro(self.loop.create_server(factory, host, 0,
                                                       **kw))
        self.addCleanup(self._close_server, server)
        return server

    def _close_server(self, server):
        if not self.loop.is_closed():
            server.close()
            self.run_briefly(3)

    @staticmethod
    def server_addr(server):
        return server.sockets[0].getsockname()[:2]

    def close_transport(self, transport):
        if self.loop.is_closed() or transport.is_closing():
            return
        transport.close()
        self.run_briefly(3)

    def connect_pair(self, client=None, server=None, *, buffered=False):
        """A loop transport connected to another loop transport over TCP.

        Returns (client_transport, client_protocol, server_protocol); the
        protocols default to Recorders and the server's connection_made has
        run when this returns.
        """
        if client is None:
            client = (BufferedRecorder(self.loop) if buffered
                      else self.new_recorder())
        if server is None:
            server = self.new_recorder()
        srv = self.tcp_server(lambda: server)
        tr, pr = self.run_coro(self.loop.create_connection(
            lambda: client, *self.server_addr(srv)))
        self.addCleanup(self.close_transport, tr)
        self.run_coro(server.made)
        self.addCleanup(self._close_protocol_transport, server)
        self.assertIs(pr, client)
        return tr, client, server

    def _close_protocol_transport(self, proto):
        if proto.transport is not None:
            self.close_transport(proto.transport)

    def connect_raw(self, protocol, *, sndbuf=None, rcvbuf=None):
        """A loop transport whose peer is a plain non-blocking socket the
        test drives itself.

        sndbuf sets SO_SNDBUF of the transport's socket, rcvbuf SO_RCVBUF of
        the peer's (both before connecting, so TCP window scaling honours
        them). Returns (transport, peer_socket).
        """
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(listener.close)
        if rcvbuf is not None:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        listener.bind((HOST, 0))
        listener.listen(1)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if sndbuf is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
        sock.connect(listener.getsockname())
        peer, _ = listener.accept()
        listener.close()
        self.addCleanup(peer.close)
        peer.setblocking(False)
        tr, pr = self.run_coro(self.loop.create_connection(
            lambda: protocol, sock=sock))
        self.addCleanup(self.close_transport, tr)
        return tr, peer

    def connect_raw_small(self, protocol):
        """connect_raw with small kernel buffers on both sides."""
        return self.connect_raw(protocol, sndbuf=SMALL_SOCKET_BUFFER,
                                rcvbuf=SMALL_SOCKET_BUFFER)

    # Driving a raw peer while the loop runs ------------------------------

    def peer_read(self, peer, nbytes, timeout=10.0):
        """Read exactly nbytes from the non-blocking peer, running the loop
        between attempts; fail on EOF or timeout."""
        got = bytearray()

        def more():
            while len(got) < nbytes:
                try:
                    chunk = peer.recv(min(nbytes - len(got), 1 << 20))
                except BlockingIOError:
                    return False
                if not chunk:
                    self.fail(f'EOF after {len(got)} of {nbytes} bytes')
                got.extend(chunk)
            return True

        self.run_until(more, timeout)
        return bytes(got)

    def peer_read_to_eof(self, peer, timeout=10.0, limit=None):
        """Read from the peer until EOF, running the loop; return the data."""
        got = bytearray()
        eof = []

        def more():
            while True:
                try:
                    chunk = peer.recv(1 << 20)
                except BlockingIOError:
                    return False
                if not chunk:
                    eof.append(True)
                    return True
                got.extend(chunk)
                if limit is not None and len(got) > limit:
                    self.fail(f'more than {limit} bytes before EOF')

        self.run_until(more, timeout)
        return bytes(got)

    def peer_sees_eof_or_reset(self, peer, timeout=10.0):
        """Run the loop until the peer's recv returns b'' or raises a
        connection error; return the data read before that."""
        got = bytearray()

        def more():
            while True:
                try:
                    chunk = peer.recv(1 << 20)
                except BlockingIOError:
                    return False
                except (ConnectionResetError, BrokenPipeError):
                    return True
                if not chunk:
                    return True
                got.extend(chunk)

        self.run_until(more, timeout)
        return bytes(got)

    def peer_send_all(self, peer, data, timeout=10.0):
        """Send all of data from the non-blocking peer, running the loop so
        the transport can read."""
        view = memoryview(data)
        sent = [0]

        def more():
            while sent[0] < len(view):
                try:
                    sent[0] += peer.send(view[sent[0]:sent[0] + (1 << 20)])
                except BlockingIOError:
                    return False
            return True

        self.run_until(more, timeout)

    def assert_no_misuse(self, *protocols):
        for proto in protocols:
            self.assertEqual(proto.misuse, [], proto)

    def set_linger_zero(self, sock):
        """Make close() of sock send RST instead of FIN."""
        import struct
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                        struct.pack('ii', 1, 0))


def unix_path(testcase, name='sock'):
    """A path for a Unix socket in a fresh temporary directory (short, to
    stay under sun_path's 108 bytes)."""
    d = tempfile.mkdtemp(prefix='aioev-', dir='/tmp')
    testcase.addCleanup(shutil.rmtree, d, True)
    return os.path.join(d, name)


def abstract_name(testcase):
    return f'\0aioev-test-{os.getpid()}-{id(testcase)}-{os.urandom(4).hex()}'
