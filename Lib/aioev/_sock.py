"""The loop's sock_* methods, over add_reader/add_writer.

Each method tries the system call at once and, when the socket is not
ready, waits for readiness with a reader or writer that retries it. The
waiting future's done-callback removes the watcher, so cancelling a pending
call leaves the socket and the loop as they were: data not yet read stays
in the socket for the next reader.
"""

import functools
import socket

try:
    import ssl
except ImportError:  # pragma: no cover
    ssl = None

_RETRY = (BlockingIOError, InterruptedError)
# Exact socket.socket instances (their methods cannot be replaced) take the
# C++ path: Loop._sock_recv and friends.
_PLAIN_SOCKET = socket.socket


def _check_socket(loop, sock):
    if ssl is not None and isinstance(sock, ssl.SSLSocket):
        raise TypeError("Socket cannot be of type SSLSocket")
    if loop._debug and sock.gettimeout() != 0:
        raise ValueError("the socket must be non-blocking")


class SocketMethods:
    """Mixin for aioev.Loop: asyncio's low-level socket API."""

    # -- waiting ------------------------------------------------------------

    def _wait_io(self, sock, reading, attempt, *args):
        """A future that attempt(fut, *args) completes when sock is ready."""
        fut = self.create_future()
        fd = sock.fileno()
        self._ensure_fd_no_transport(fd)
        add = self._add_reader if reading else self._add_writer
        handle = add(fd, attempt, fut, *args)
        fut.add_done_callback(
            functools.partial(self._io_done, fd, reading, handle))
        return fut

    def _io_done(self, fd, reading, handle, fut):
        # A cancelled handle was replaced by a newer wait on the same fd.
        if not handle.cancelled():
            (self._remove_reader if reading else self._remove_writer)(fd)

    async def _call_or_wait(self, sock, reading, method, *args):
        """sock.method(*args) now, or once sock is ready for it."""
        try:
            return getattr(sock, method)(*args)
        except _RETRY:
            pass
        return await self._wait_io(sock, reading, self._complete, sock, method, *args)

    @staticmethod
    def _complete(fut, sock, method, *args):
        """Try sock.method(*args) for fut: its result or exception, unless not ready."""
        # The method is looked up on each attempt, as asyncio does: code
        # (and tests) may swap a socket's methods while a call waits.
        if fut.done():
            return
        try:
            result = getattr(sock, method)(*args)
        except _RETRY:
            return
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            fut.set_exception(exc)
        else:
            fut.set_result(result)

    # -- receiving ----------------------------------------------------------

    async def sock_recv(self, sock, n):
        """Receive up to n bytes from sock."""
        if sock.__class__ is _PLAIN_SOCKET and not self._debug:
            result = self._sock_recv(sock, n)
            return result if result.__class__ is bytes else await result
        _check_socket(self, sock)
        return await self._call_or_wait(sock, True, 'recv', n)

    async def sock_recv_into(self, sock, buf):
        """Receive into buf; return the number of bytes received."""
        if sock.__class__ is _PLAIN_SOCKET and not self._debug:
            result = self._sock_recv_into(sock, buf)
            return result if result.__class__ is int else await result
        _check_socket(self, sock)
        return await self._call_or_wait(sock, True, 'recv_into', buf)

    async def sock_recvfrom(self, sock, bufsize):
        """Receive a datagram of up to bufsize bytes: (data, address)."""
        _check_socket(self, sock)
        return await self._call_or_wait(sock, True, 'recvfrom', bufsize)

    async def sock_recvfrom_into(self, sock, buf, nbytes=0):
        """Receive a datagram into buf: (nbytes, address)."""
        _check_socket(self, sock)
        if not nbytes:
            nbytes = len(buf)
        return await self._call_or_wait(sock, True, 'recvfrom_into', buf, nbytes)

    # -- sending ------------------------------------------------------------

    async def sock_sendall(self, sock, data):
        """Send all of data, waiting for the socket as needed."""
        if sock.__class__ is _PLAIN_SOCKET and not self._debug:
            waiter = self._sock_sendall(sock, data)
            return None if waiter is None else await waiter
        _check_socket(self, sock)
        try:
            sent = sock.send(data)
        except _RETRY:
            sent = 0
        if sent == len(data):
            return
        view = memoryview(data).cast('B')
        return await self._wait_io(sock, False, self._send_rest, sock, view, [sent])

    @staticmethod
    def _send_rest(fut, sock, view, progress):
        if fut.done():
            return
        try:
            progress[0] += sock.send(view[progress[0]:])
        except _RETRY:
            return
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            fut.set_exception(exc)
            return
        if progress[0] == len(view):
            fut.set_result(None)

    async def sock_sendto(self, sock, data, address):
        """Send a datagram to address; return the number of bytes sent."""
        _check_socket(self, sock)
        try:
            return sock.sendto(data, address)  # as asyncio calls it first
        except _RETRY:
            pass
        return await self._wait_io(sock, False, self._complete,
                                   sock, 'sendto', data, 0, address)

    # -- connecting ---------------------------------------------------------

    async def sock_connect(self, sock, address):
        """Connect sock to address, resolving it first for IP sockets."""
        _check_socket(self, sock)
        if sock.family in (socket.AF_INET, getattr(socket, 'AF_INET6', None)):
            resolved = await self._ensure_resolved(
                address, family=sock.family, type=sock.type, proto=sock.proto, loop=self)
            address = resolved[0][4]
        try:
            sock.connect(address)
        except _RETRY:
            pass
        else:
            return None
        fut = self._wait_io(sock, False, self._connect_done, sock, address)
        try:
            return await fut
        finally:
            fut = None  # break the cycle through the exception's traceback

    @staticmethod
    def _connect_done(fut, sock, address):
        if fut.done():
            return
        try:
            err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err != 0:
                raise OSError(err, f'Connect call failed {address}')
        except _RETRY:
            return
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            fut.set_exception(exc)
        else:
            fut.set_result(None)
        finally:
            # The exception's traceback holds this frame: as asyncio does,
            # break the cycle exception -> traceback -> frame -> fut.
            fut = None

    async def sock_accept(self, sock):
        """Accept a connection: (conn, address), conn non-blocking."""
        _check_socket(self, sock)
        try:
            return self._accept_now(sock)
        except _RETRY:
            pass
        return await self._wait_io(sock, True, self._complete, self, '_accept_now', sock)

    @staticmethod
    def _accept_now(sock):
        conn, address = sock.accept()
        conn.setblocking(False)
        return conn, address
