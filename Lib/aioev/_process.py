"""Pipes and subprocesses: BaseEventLoop's hooks over aioev's C++ pipe
transports, with child exit watched through a pidfd.

The subprocess transport is asyncio's own (its Popen handling and stdio
plumbing), connected to the C++ pipe transports through connect_read_pipe
and connect_write_pipe. A child's exit is learnt from a pidfd watched like
any reader, so aioev needs no SIGCHLD handler and reaps only the children
it started, from any thread.
"""

import os
import stat
import sys
import threading

from asyncio.log import logger

from . import _aioev, _compat


def _pipe_mode(pipe):
    return os.fstat(pipe.fileno()).st_mode


class ProcessMethods:
    """Mixin for aioev.Loop."""

    # -- pipes ----------------------------------------------------------------

    def _make_read_pipe_transport(self, pipe, protocol, waiter=None, extra=None):
        mode = _pipe_mode(pipe)
        if not (stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or stat.S_ISCHR(mode)):
            raise ValueError("Pipe transport is for pipes/sockets only.")
        os.set_blocking(pipe.fileno(), False)
        extra = {} if extra is None else extra
        extra['pipe'] = pipe
        transport = _aioev.ReadPipeTransport(self, pipe, protocol, extra)
        transport._start(waiter, True)
        return transport

    def _make_write_pipe_transport(self, pipe, protocol, waiter=None, extra=None):
        mode = _pipe_mode(pipe)
        is_fifo, is_socket = stat.S_ISFIFO(mode), stat.S_ISSOCK(mode)
        if not (stat.S_ISCHR(mode) or is_fifo or is_socket):
            raise ValueError("Pipe transport is only for pipes, sockets and character devices")
        os.set_blocking(pipe.fileno(), False)
        extra = {} if extra is None else extra
        extra['pipe'] = pipe
        transport = _aioev.WritePipeTransport(self, pipe, protocol, extra)
        # A pipe or socket becomes readable when its reader goes away.
        watch = is_socket or (is_fifo and not sys.platform.startswith('aix'))
        transport._start(waiter, watch)
        return transport

    # -- subprocesses ---------------------------------------------------------

    async def _make_subprocess_transport(self, protocol, args, shell,
                                         stdin, stdout, stderr, bufsize,
                                         extra=None, **kwargs):
        watcher = _compat.installed_child_watcher()
        if watcher is not None:
            # A child watcher set through the policy (3.13 and older) is
            # honoured as asyncio's Unix loop honours it.
            with _compat.child_watcher_scope(watcher) as watcher:
                if not watcher.is_active():
                    raise RuntimeError("asyncio.get_child_watcher() is not activated, "
                                       "subprocess support is not installed.")
                return await self._spawn(protocol, args, shell, stdin, stdout, stderr,
                                         bufsize, extra, kwargs, watcher)
        return await self._spawn(protocol, args, shell, stdin, stdout, stderr,
                                 bufsize, extra, kwargs, None)

    async def _spawn(self, protocol, args, shell, stdin, stdout, stderr, bufsize,
                     extra, kwargs, watcher):
        waiter = self.create_future()
        transport = _compat.subprocess_transport(
            self, protocol, args, shell, stdin, stdout, stderr, bufsize,
            waiter=waiter, extra=extra, **kwargs)
        if watcher is None:
            self._watch_child(transport.get_pid(), transport)
        else:
            watcher.add_child_handler(transport.get_pid(), self._child_watcher_callback,
                                      transport)
        try:
            await waiter
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException:
            transport.close()
            await transport._wait()
            raise
        return transport

    def _child_watcher_callback(self, pid, returncode, transport):
        self.call_soon_threadsafe(transport._process_exited, returncode)

    def _watch_child(self, pid, transport):
        try:
            pidfd = os.pidfd_open(pid)
        except (AttributeError, OSError):
            # No pidfd (an old kernel): a thread waits for this child only.
            threading.Thread(target=self._wait_child_thread, args=(pid, transport),
                             name=f'aioev-waitpid-{pid}', daemon=True).start()
            return
        self._add_reader(pidfd, self._child_exited, pidfd, pid, transport)

    def _child_exited(self, pidfd, pid, transport):
        self._remove_reader(pidfd)
        os.close(pidfd)
        # As asyncio's child watchers do, one callback later.
        self.call_soon(transport._process_exited, _reap(pid),
                       context=_compat.child_exit_context())

    def _wait_child_thread(self, pid, transport):
        returncode = _reap(pid)
        if not self.is_closed():
            self.call_soon_threadsafe(transport._process_exited, returncode)


def _reap(pid):
    """Wait for the child pid (it has exited or soon will); its return code."""
    try:
        _, status = os.waitpid(pid, 0)
    except ChildProcessError:
        logger.warning("child process pid %d exit status already read: "
                       " will report returncode 255", pid)
        return 255
    return os.waitstatus_to_exitcode(status)
