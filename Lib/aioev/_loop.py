"""The aioev event loop: asyncio.BaseEventLoop over the C++ core.

The C++ base class comes first in the MRO, so its methods (call_soon,
call_later, add_reader, the run loop, ...) win; this class fills the hooks
that need Python: run_forever's setup and cleanup, close(), and the Unix
signal handlers.
"""

import asyncio
import errno
import os
import socket
import signal
import sys
import threading
import warnings
from asyncio import coroutines
from asyncio.log import logger

from . import _aioev, _compat
from ._process import ProcessMethods
from ._server import ServerMethods
from ._sock import SocketMethods


def _socket_extra(sock, extra):
    """The extra info asyncio's socket transports start with."""
    if extra is None:
        extra = {}
    extra['socket'] = asyncio.trsock.TransportSocket(sock)
    try:
        extra['sockname'] = sock.getsockname()
    except OSError:
        extra['sockname'] = None
    if 'peername' not in extra:
        try:
            extra['peername'] = sock.getpeername()
        except socket.error:
            extra['peername'] = None
    return extra


def _sighandler_noop(signum, frame):
    """CPython runs this; the loop learns of the signal from the wake-up fd."""


class Loop(_aioev.Loop, SocketMethods, ServerMethods, ProcessMethods,
           asyncio.BaseEventLoop):
    """An asyncio event loop whose core is C++ over libev."""

    def __init__(self, *, native_task=None):
        asyncio.BaseEventLoop.__init__(self)
        if native_task is None:
            native_task = os.environ.get('AIOEV_NATIVE_TASK', '1').strip() not in ('0', 'no', 'false', 'False')
        # create_task() without a task factory: aioev.Task, or asyncio's Task.
        self._native_task = bool(native_task)
        self._old_agen_hooks = None
        self._owns_wakeup_fd = False

    # -- running ----------------------------------------------------------

    def run_forever(self):
        """Run until stop() is called."""
        self._run_forever_setup()
        try:
            self._run()
        finally:
            self._run_forever_cleanup()

    def _run_forever_setup(self):
        self._check_closed()
        self._check_running()
        self._set_coroutine_origin_tracking(self._debug)
        self._old_agen_hooks = sys.get_asyncgen_hooks()
        self._thread_id = threading.get_ident()
        sys.set_asyncgen_hooks(firstiter=self._asyncgen_firstiter_hook,
                               finalizer=self._asyncgen_finalizer_hook)
        _compat.set_running_loop(self)
        self._claim_wakeup_fd()

    def _run_forever_cleanup(self):
        self._stopping = False
        self._thread_id = None
        _compat.set_running_loop(None)
        self._set_coroutine_origin_tracking(False)
        if self._old_agen_hooks is not None:
            sys.set_asyncgen_hooks(*self._old_agen_hooks)
            self._old_agen_hooks = None
        self._release_wakeup_fd()

    def _claim_wakeup_fd(self):
        # Ctrl-C must end a poll at once: CPython's signal handler writes to
        # the wake-up fd, which the loop watches. Someone else's fd is kept.
        if threading.current_thread() is not threading.main_thread():
            return
        fd = self._signal_wakeup_fd()
        try:
            old = signal.set_wakeup_fd(fd, warn_on_full_buffer=False)
        except (ValueError, OSError):
            return
        if old not in (-1, fd):
            signal.set_wakeup_fd(old)
        elif old == -1:
            self._owns_wakeup_fd = True

    def _release_wakeup_fd(self):
        if self._owns_wakeup_fd and not self._signal_handlers:
            self._owns_wakeup_fd = False
            try:
                signal.set_wakeup_fd(-1)
            except (ValueError, OSError):
                pass

    def close(self):
        """Close the loop: it must not be running; pending callbacks are dropped."""
        asyncio.BaseEventLoop.close(self)
        if not sys.is_finalizing():
            for sig in list(self._signal_handlers):
                self.remove_signal_handler(sig)
        elif self._signal_handlers:
            warnings.warn(f"Closing the loop {self!r} on interpreter shutdown "
                          f"stage, skipping signal handlers removal",
                          ResourceWarning, source=self)
            self._signal_handlers.clear()
        self._close_core()

    # -- signals (the Unix loop's API) -----------------------------------

    def add_signal_handler(self, sig, callback, *args):
        """Run callback(*args) in the loop when signal sig arrives."""
        if coroutines.iscoroutine(callback) or coroutines.iscoroutinefunction(callback):
            raise TypeError("coroutines cannot be used with add_signal_handler()")
        self._check_signal(sig)
        self._check_closed()
        try:
            # Raises ValueError outside the main thread: fail before anything changes.
            signal.set_wakeup_fd(self._signal_wakeup_fd())
        except (ValueError, OSError) as exc:
            raise RuntimeError(str(exc))
        self._signal_handlers[sig] = self._new_handle(callback, *args)
        try:
            signal.signal(sig, _sighandler_noop)
            signal.siginterrupt(sig, False)
        except OSError as exc:
            del self._signal_handlers[sig]
            if not self._signal_handlers:
                self._drop_wakeup_fd()
            if exc.errno == errno.EINVAL:
                raise RuntimeError(f'sig {sig:d} cannot be caught')
            raise

    def remove_signal_handler(self, sig):
        """Remove the handler for signal sig; return True if there was one."""
        self._check_signal(sig)
        try:
            del self._signal_handlers[sig]
        except KeyError:
            return False
        default = signal.default_int_handler if sig == signal.SIGINT else signal.SIG_DFL
        try:
            signal.signal(sig, default)
        except OSError as exc:
            if exc.errno == errno.EINVAL:
                raise RuntimeError(f'sig {sig:d} cannot be caught')
            raise
        if not self._signal_handlers:
            self._drop_wakeup_fd()
        return True

    def _drop_wakeup_fd(self):
        if self.is_running() and self._owns_wakeup_fd:
            return  # run_forever's cleanup releases it
        try:
            signal.set_wakeup_fd(-1)
        except (ValueError, OSError) as exc:
            logger.info('set_wakeup_fd(-1) failed: %s', exc)

    def _check_signal(self, sig):
        if not isinstance(sig, int):
            raise TypeError(f'sig must be an int, not {sig!r}')
        if sig not in signal.valid_signals():
            raise ValueError(f'invalid signal number {sig}')

    # -- transports ---------------------------------------------------------

    def _make_socket_transport(self, sock, protocol, waiter=None, *,
                               extra=None, server=None):
        """A C++ socket transport for a connected TCP or Unix stream socket."""
        self._ensure_fd_no_transport(sock)
        extra = _socket_extra(sock, extra)
        transport = _aioev.SocketTransport(self, sock, protocol, extra, server)
        if server is not None:
            _compat.server_attach(server, transport)
        _compat.set_nodelay(sock)
        transport._start(waiter)
        return transport

    def _make_datagram_transport(self, sock, protocol, address=None,
                                 waiter=None, extra=None):
        """A C++ datagram transport for a UDP or Unix datagram socket."""
        extra = _socket_extra(sock, extra)
        transport = _aioev.DatagramTransport(self, sock, protocol, address, extra)
        transport._start(waiter)
        return transport

    def _ensure_fd_no_transport(self, fd):
        fileno = fd
        if not isinstance(fileno, int):
            try:
                fileno = int(fileno.fileno())
            except (AttributeError, TypeError, ValueError):
                raise ValueError(f"Invalid file object: {fd!r}") from None
        transport = self._transport_for_fd(fileno)
        if transport is not None and not transport.is_closing():
            raise RuntimeError(f'File descriptor {fd!r} is used by transport '
                               f'{transport!r}')


# What asyncio's selector transport declares, for start_tls() and sendfile().
_aioev.SocketTransport._start_tls_compatible = True
_aioev.SocketTransport._sendfile_compatible = _compat.SENDFILE_TRY_NATIVE
