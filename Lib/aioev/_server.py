"""Servers, Unix sockets, TLS and sendfile: the hooks BaseEventLoop calls
for them, over the loop's socket transport (``_make_socket_transport``).

Behaviour follows asyncio's selector and Unix loops on each supported
version, so that code moving to aioev sees the same errors, log messages
and exception-handler contexts.
"""

import errno
import io
import os
import socket
import stat
import sys
from asyncio import base_events, constants, exceptions, sslproto, tasks
from asyncio.log import logger

from ._compat import PY313


# The largest count handed to one os.sendfile() call (1 GiB on 32-bit
# builds, where a bigger one overflows).
_MAX_SENDFILE_BLOCK = sys.maxsize // 2 + 1


def _is_abstract(path):
    # Linux abstract-namespace names start with a NUL, as str or bytes.
    return path[0] in (0, '\x00')


def _check_unix_stream(sock):
    if sock.family != socket.AF_UNIX or sock.type != socket.SOCK_STREAM:
        raise ValueError(
            f'A UNIX Domain Stream Socket was expected, got {sock!r}')


class ServerMethods:
    """Mixin for aioev.Loop."""

    # Listening Unix sockets whose file _stop_serving removes (3.13's
    # cleanup_socket): socket -> inode of the file when it was bound.
    # Made on first use; the loop's __init__ belongs to _loop.py.
    _unix_server_sockets = None

    # -- accepting ----------------------------------------------------------

    def _start_serving(self, protocol_factory, sock,
                       sslcontext=None, server=None, backlog=100,
                       ssl_handshake_timeout=constants.SSL_HANDSHAKE_TIMEOUT,
                       ssl_shutdown_timeout=constants.SSL_SHUTDOWN_TIMEOUT):
        """Accept connections on the listening socket sock for server."""
        if sock.fileno() == -1:
            # Closed while an EMFILE back-off was pending (asyncio would log
            # a ValueError from add_reader here): nothing left to serve.
            return
        # _accept_connection is C++ (Modules/_aioev/server.cpp): it accepts
        # up to backlog connections per readiness and makes their transports;
        # a TLS connection goes to _accept_connection2 below, as in asyncio.
        self._add_reader(sock.fileno(), self._accept_connection,
                         protocol_factory, sock, sslcontext, server, backlog,
                         ssl_handshake_timeout, ssl_shutdown_timeout)

    async def _accept_connection2(  # TLS connections
            self, protocol_factory, conn, extra,
            sslcontext=None, server=None,
            ssl_handshake_timeout=constants.SSL_HANDSHAKE_TIMEOUT,
            ssl_shutdown_timeout=constants.SSL_SHUTDOWN_TIMEOUT):
        protocol = None
        transport = None
        try:
            protocol = protocol_factory()
            waiter = self.create_future()
            if sslcontext:
                transport = self._make_ssl_transport(
                    conn, protocol, sslcontext, waiter=waiter,
                    server_side=True, extra=extra, server=server,
                    ssl_handshake_timeout=ssl_handshake_timeout,
                    ssl_shutdown_timeout=ssl_shutdown_timeout)
            else:
                transport = self._make_socket_transport(
                    conn, protocol, waiter=waiter, extra=extra,
                    server=server)
            try:
                await waiter
            except BaseException:
                transport.close()
                # The exception in waiter can reference the SSL protocol:
                # drop it so that no cycle keeps the connection alive.
                waiter = None
                raise
            # From here on the protocol owns the connection.
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            # As in asyncio, a failed incoming connection is only reported
            # in debug mode: the server has nobody else to tell.
            if self._debug:
                context = {
                    'message':
                        'Error on transport creation for incoming connection',
                    'exception': exc,
                }
                if protocol is not None:
                    context['protocol'] = protocol
                if transport is not None:
                    context['transport'] = transport
                self.call_exception_handler(context)

    def _stop_serving(self, sock):
        """Stop accepting on sock and close it (and its file, see cleanup_socket)."""
        path = None
        owned = self._unix_server_sockets
        if owned and sock in owned:
            path = sock.getsockname()
        self._remove_reader(sock.fileno())
        sock.close()
        if path is None:
            return
        inode = owned.pop(sock)
        try:
            # Someone may have bound a new socket at the same path since.
            if os.stat(path).st_ino == inode:
                os.unlink(path)
        except FileNotFoundError:
            pass
        except OSError as err:
            logger.error('Unable to clean up listening UNIX socket %r: %r',
                         path, err)

    # -- TLS ----------------------------------------------------------------

    def _make_ssl_transport(
            self, rawsock, protocol, sslcontext, waiter=None,
            *, server_side=False, server_hostname=None,
            extra=None, server=None,
            ssl_handshake_timeout=constants.SSL_HANDSHAKE_TIMEOUT,
            ssl_shutdown_timeout=constants.SSL_SHUTDOWN_TIMEOUT,
            call_connection_made=True):
        """TLS over rawsock: asyncio's SSLProtocol over a socket transport."""
        self._ensure_fd_no_transport(rawsock)
        ssl_protocol = sslproto.SSLProtocol(
            self, protocol, sslcontext, waiter, server_side, server_hostname,
            call_connection_made=call_connection_made,
            ssl_handshake_timeout=ssl_handshake_timeout,
            ssl_shutdown_timeout=ssl_shutdown_timeout)
        self._make_socket_transport(rawsock, ssl_protocol,
                                    extra=extra, server=server)
        return ssl_protocol._app_transport

    # -- Unix sockets -------------------------------------------------------

    async def create_unix_connection(
            self, protocol_factory, path=None, *,
            ssl=None, sock=None,
            server_hostname=None,
            ssl_handshake_timeout=None,
            ssl_shutdown_timeout=None):
        """Connect to the Unix stream socket at path (or use sock)."""
        assert server_hostname is None or isinstance(server_hostname, str)
        if ssl:
            if server_hostname is None:
                raise ValueError(
                    'you have to pass server_hostname when using ssl')
        else:
            if server_hostname is not None:
                raise ValueError('server_hostname is only meaningful with ssl')
            if ssl_handshake_timeout is not None:
                raise ValueError(
                    'ssl_handshake_timeout is only meaningful with ssl')
            if ssl_shutdown_timeout is not None:
                raise ValueError(
                    'ssl_shutdown_timeout is only meaningful with ssl')

        if path is not None:
            if sock is not None:
                raise ValueError(
                    'path and sock can not be specified at the same time')
            path = os.fspath(path)
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM, 0)
            try:
                sock.setblocking(False)
                await self.sock_connect(sock, path)
            except:  # noqa: E722 -- cancellation too must not leak the socket
                sock.close()
                raise
        else:
            if sock is None:
                raise ValueError('no path and sock were specified')
            _check_unix_stream(sock)
            sock.setblocking(False)

        return await self._create_connection_transport(
            sock, protocol_factory, ssl, server_hostname,
            ssl_handshake_timeout=ssl_handshake_timeout,
            ssl_shutdown_timeout=ssl_shutdown_timeout)

    async def _create_unix_server(self, protocol_factory, path, sock, backlog,
                                  ssl, ssl_handshake_timeout,
                                  ssl_shutdown_timeout, start_serving,
                                  cleanup_socket):
        if isinstance(ssl, bool):
            raise TypeError('ssl argument must be an SSLContext or None')
        if ssl_handshake_timeout is not None and not ssl:
            raise ValueError(
                'ssl_handshake_timeout is only meaningful with ssl')
        if ssl_shutdown_timeout is not None and not ssl:
            raise ValueError(
                'ssl_shutdown_timeout is only meaningful with ssl')

        if path is not None:
            if sock is not None:
                raise ValueError(
                    'path and sock can not be specified at the same time')
            path = os.fspath(path)
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            if not _is_abstract(path):
                _remove_stale_socket(path)
            try:
                sock.bind(path)
            except OSError as exc:
                sock.close()
                if exc.errno == errno.EADDRINUSE:
                    raise OSError(errno.EADDRINUSE,
                                  f'Address {path!r} is already in use') from None
                raise
            except:  # noqa: E722 -- close on any error, as asyncio does
                sock.close()
                raise
        else:
            if sock is None:
                raise ValueError(
                    'path was not specified, and no sock specified')
            _check_unix_stream(sock)

        if cleanup_socket:
            name = sock.getsockname()
            if not _is_abstract(name):
                try:
                    inode = os.stat(name).st_ino
                except FileNotFoundError:
                    pass
                else:
                    if self._unix_server_sockets is None:
                        self._unix_server_sockets = {}
                    self._unix_server_sockets[sock] = inode

        sock.setblocking(False)
        server = base_events.Server(self, [sock], protocol_factory,
                                    ssl, backlog, ssl_handshake_timeout,
                                    ssl_shutdown_timeout)
        if start_serving:
            server._start_serving()
            # Let the loop run once, as asyncio does, so the listening
            # socket is watched before the caller goes on.
            await tasks.sleep(0)
        return server

    if PY313:
        async def create_unix_server(
                self, protocol_factory, path=None, *,
                sock=None, backlog=100, ssl=None,
                ssl_handshake_timeout=None,
                ssl_shutdown_timeout=None,
                start_serving=True, cleanup_socket=True):
            """A server on a Unix stream socket; its file goes when it closes."""
            return await self._create_unix_server(
                protocol_factory, path, sock, backlog, ssl,
                ssl_handshake_timeout, ssl_shutdown_timeout, start_serving,
                cleanup_socket)
    else:
        async def create_unix_server(
                self, protocol_factory, path=None, *,
                sock=None, backlog=100, ssl=None,
                ssl_handshake_timeout=None,
                ssl_shutdown_timeout=None,
                start_serving=True):
            """A server on a Unix stream socket (its file stays, as before 3.13)."""
            return await self._create_unix_server(
                protocol_factory, path, sock, backlog, ssl,
                ssl_handshake_timeout, ssl_shutdown_timeout, start_serving,
                False)

    # -- sendfile -----------------------------------------------------------

    async def _sock_sendfile_native(self, sock, file, offset, count):
        """Send file over sock with os.sendfile; SendfileNotAvailableError
        asks BaseEventLoop.sock_sendfile to fall back to plain sends."""
        if not hasattr(os, 'sendfile'):
            raise exceptions.SendfileNotAvailableError(
                "os.sendfile() is not available")
        try:
            fileno = file.fileno()
        except (AttributeError, io.UnsupportedOperation):
            raise exceptions.SendfileNotAvailableError("not a regular file")
        try:
            fsize = os.fstat(fileno).st_size
        except OSError:
            raise exceptions.SendfileNotAvailableError("not a regular file")
        blocksize = count if count else fsize
        if not blocksize:
            return 0  # an empty file
        fut = self.create_future()
        self._sock_sendfile_native_impl(fut, None, sock, fileno,
                                        offset, count, blocksize, 0)
        return await fut

    def _sock_sendfile_native_impl(self, fut, registered_fd, sock, fileno,
                                   offset, count, blocksize, total_sent):
        # One os.sendfile() step; re-armed as a writer on sock until done.
        # registered_fd is None on the first call, else the fd watched.
        fd = sock.fileno()
        if registered_fd is not None:
            # Re-armed below when more remains; spurious wake-ups are rare.
            self.remove_writer(registered_fd)
        if fut.cancelled():
            _set_file_position(fileno, offset, total_sent)
            return
        if count:
            blocksize = count - total_sent
            if blocksize <= 0:
                _set_file_position(fileno, offset, total_sent)
                fut.set_result(total_sent)
                return
        blocksize = min(blocksize, _MAX_SENDFILE_BLOCK)

        try:
            sent = os.sendfile(fd, fileno, offset, blocksize)
        except (BlockingIOError, InterruptedError):
            pass  # wait for the socket below
        except OSError as exc:
            if (registered_fd is not None and exc.errno == errno.ENOTCONN
                    and type(exc) is not ConnectionError):
                # The peer went away mid-transfer: report it as the same
                # ConnectionError on every POSIX system.
                new_exc = ConnectionError("socket is not connected",
                                          errno.ENOTCONN)
                new_exc.__cause__ = exc
                exc = new_exc
            _set_file_position(fileno, offset, total_sent)
            if total_sent == 0:
                # Nothing sent yet (e.g. not a mmap-able file): plain sends
                # can still do the job.
                fut.set_exception(exceptions.SendfileNotAvailableError(
                    "os.sendfile call failed"))
            else:
                fut.set_exception(exc)
            return
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            _set_file_position(fileno, offset, total_sent)
            fut.set_exception(exc)
            return
        else:
            if sent == 0:  # end of file
                _set_file_position(fileno, offset, total_sent)
                fut.set_result(total_sent)
                return
            offset += sent
            total_sent += sent

        if registered_fd is None:
            self._sock_add_cancellation_callback(fut, sock)
        self.add_writer(fd, self._sock_sendfile_native_impl, fut,
                        fd, sock, fileno, offset, count, blocksize, total_sent)

    def _sock_add_cancellation_callback(self, fut, sock):
        def cb(fut):
            if fut.cancelled():
                fd = sock.fileno()
                if fd != -1:
                    self.remove_writer(fd)
        fut.add_done_callback(cb)

    async def _sendfile_native(self, transp, file, offset, count):
        """loop.sendfile on a socket transport: sendfile on its socket once
        its write buffer is empty, with reading paused meanwhile."""
        self._unregister_transport(transp)
        resume_reading = transp.is_reading()
        transp.pause_reading()
        await transp._make_empty_waiter()
        try:
            return await self.sock_sendfile(transp._sock, file, offset, count,
                                            fallback=False)
        finally:
            transp._reset_empty_waiter()
            if resume_reading:
                transp.resume_reading()
            self._register_transport(transp)


def _remove_stale_socket(path):
    # A socket file left by a server that died would make bind() fail.
    try:
        if stat.S_ISSOCK(os.stat(path).st_mode):
            os.remove(path)
    except FileNotFoundError:
        pass
    except OSError as err:
        # The directory may allow creating the socket but not this check.
        logger.error('Unable to check or remove stale UNIX socket %r: %r',
                     path, err)


def _set_file_position(fileno, offset, total_sent):
    # Leave the file where a plain read-and-send would have left it.
    if total_sent > 0:
        os.lseek(fileno, offset, os.SEEK_SET)
