"""Helpers for the subprocess tests: child commands and a SubprocessProtocol
that records its callbacks."""

import asyncio
import os
import shutil
import sys
import textwrap

# A quick child interpreter: isolated (-I) and without site (-S), so it
# starts fast and ignores the test runner's environment variables.
PYTHON = [sys.executable, '-I', '-S']
SH = shutil.which('sh') or '/bin/sh'
SLEEP = shutil.which('sleep') or '/bin/sleep'
CAT = shutil.which('cat') or '/bin/cat'


def py(code, *args):
    """argv that runs code (dedented) in a quick child interpreter."""
    return [*PYTHON, '-c', textwrap.dedent(code), *map(str, args)]


def sh(script, *args):
    """argv that runs a sh script; args are $0, $1, ..."""
    return [SH, '-c', script, *map(str, args)]


def is_reaped(pid):
    """True when pid is no child of ours any more (it was waited for)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return False


class SubprocessRecorder(asyncio.SubprocessProtocol):
    """Records every callback of a subprocess protocol.

    events: ('made',), ('data', fd), ('pipe_lost', fd, exc), ('exited',),
    ('lost', exc), in call order; data per fd in self.output[fd].
    """

    def __init__(self, loop):
        self.events = []
        self.misuse = []
        self.output = {1: bytearray(), 2: bytearray()}
        self.transport = None
        self.made = loop.create_future()
        self.exited = loop.create_future()
        self.lost = loop.create_future()

    def connection_made(self, transport):
        if self.events:
            self.misuse.append('connection_made not first')
        self.transport = transport
        self.events.append(('made',))
        self.made.set_result(transport)

    def pipe_data_received(self, fd, data):
        if self.lost.done():
            self.misuse.append('pipe_data_received after connection_lost')
        if not isinstance(data, bytes):
            self.misuse.append(f'pipe_data_received got {type(data)}')
        self.output[fd] += data
        self.events.append(('data', fd))

    def pipe_connection_lost(self, fd, exc):
        self.events.append(('pipe_lost', fd, exc))

    def process_exited(self):
        if self.exited.done():
            self.misuse.append('process_exited twice')
            return
        self.events.append(('exited',))
        self.exited.set_result(None)

    def connection_lost(self, exc):
        if self.lost.done():
            self.misuse.append('connection_lost twice')
            return
        self.events.append(('lost', exc))
        self.lost.set_result(exc)

    def index(self, *event):
        return self.events.index(event)
