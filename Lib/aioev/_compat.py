"""The one place where aioev's Python code branches on the interpreter
version or uses asyncio's private names.

The C module caches the callables defined here; everything that differs
between CPython 3.11, 3.12 and 3.13 in asyncio's private helpers is bridged
in this file. (The C++ code's uses of asyncio's internals are gathered in
Modules/_aioev/asyncio_private.h.) Private methods and attributes that
aioev.Loop inherits from asyncio.BaseEventLoop, and asyncio.Server's, are
used where they are needed, as any BaseEventLoop subclass uses them.
"""

import contextlib
import contextvars
import sys
from asyncio import base_events, constants, events, format_helpers, log, unix_events

PY312 = sys.version_info >= (3, 12)
PY313 = sys.version_info >= (3, 13)

# asyncio's private module-level names, the same in 3.11 to 3.13. The
# functions are looked up at each call, as asyncio's own code does, so that
# what replaces them (test_asyncio runs its pure-Python versions) is used.

def set_running_loop(loop):
    """The running loop, as every event loop implementation sets it."""
    events._set_running_loop(loop)


def get_running_loop_or_none():
    return events._get_running_loop()


def set_nodelay(sock):
    """TCP_NODELAY on a new connection, as asyncio's socket transports set it."""
    base_events._set_nodelay(sock)


def subprocess_transport(*args, **kwargs):
    """asyncio's subprocess transport, which runs over aioev's pipes."""
    return unix_events._UnixSubprocessTransport(*args, **kwargs)


# What asyncio's sendfile() asks of a transport that can send a file itself.
SENDFILE_TRY_NATIVE = constants._SendfileMode.TRY_NATIVE

if PY313:
    def format_callback_source(callback, args, debug):
        return format_helpers._format_callback_source(callback, args, debug=debug)
else:
    def format_callback_source(callback, args, debug):
        return format_helpers._format_callback_source(callback, args)


if PY312:
    from asyncio.events import get_event_loop
else:
    from asyncio.events import _get_event_loop as get_event_loop


def extract_stack():
    """The stack of whoever called into the loop, as asyncio records it."""
    # Frame 0 is this function; frame 1 is the Python code that called the
    # C method (C functions have no frame of their own).
    return format_helpers.extract_stack(sys._getframe(1))


def format_handle(handle):
    """base_events._format_handle(), which also names aioev's tasks by
    their repr (it knows only asyncio's Task)."""
    from . import _aioev
    owner = getattr(handle._callback, '__self__', None)
    if isinstance(owner, _aioev.Task):
        return repr(owner)
    return base_events._format_handle(handle)


def warn_slow_callback(handle, seconds):
    log.logger.warning('Executing %s took %.3f seconds',
                       format_handle(handle), seconds)


# asyncio.Server's transport bookkeeping takes the transport from 3.13 on.
if PY313:
    def server_attach(server, transport):
        server._attach(transport)

    def server_detach(server, transport):
        server._detach(transport)
else:
    def server_attach(server, transport):
        server._attach()

    def server_detach(server, transport):
        server._detach()


def log_debug(message, *args):
    log.logger.debug(message, *args)


def log_fatal_oserror(transport, message, exc):
    log.logger.debug("%r: %s", transport, message, exc_info=exc)


def warn_write_after_lost():
    log.logger.warning('socket.send() raised exception.')


def log_info(message, *args):
    log.logger.info(message, *args)


def warn_pipe_write_after_lost():
    log.logger.warning('pipe closed by peer or os.write(pipe, data) raised exception.')


def installed_child_watcher():
    """The child watcher set through the event loop policy, if any (the
    policy's watchers exist up to 3.13); None means aioev watches itself."""
    if sys.version_info >= (3, 14):
        return None
    import asyncio
    return getattr(asyncio.get_event_loop_policy(), '_watcher', None)


# asyncio's default child watcher hands an exit to the loop from a thread
# on 3.11 (ThreadedChildWatcher: the exit's callbacks run in that thread's
# empty context), from a pidfd reader on 3.12 and 3.13 (in the context that
# started the process, as aioev's own reader does).
if PY312:
    def child_exit_context():
        return None
else:
    def child_exit_context():
        return contextvars.Context()


# 3.11's Unix loop uses what the watcher's __enter__ returns; 3.12 and 3.13
# use the watcher itself.
if PY312:
    @contextlib.contextmanager
    def child_watcher_scope(watcher):
        with watcher:
            yield watcher
else:
    def child_watcher_scope(watcher):
        return watcher
