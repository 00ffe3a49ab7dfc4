"""Subprocesses: loop.subprocess_exec / subprocess_shell with a
SubprocessProtocol, asyncio.create_subprocess_exec / _shell, stdio
redirections, the keywords passed on to subprocess.Popen, exit statuses
and signals, many children at once, children of a worker thread's loop,
large data through communicate(), and children the loop did not start.

Every test asserts asyncio's own behaviour (they all pass with
AIOEV_TEST_LOOP=asyncio).
"""

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import threading
import unittest

from asyncio.subprocess import DEVNULL, PIPE, STDOUT

from . import support
from .support import LoopTestCase
from .net_support import KiB, MiB, payload
from .proc_support import (
    CAT, SLEEP, SubprocessRecorder, is_reaped, py, sh)

try:
    import pwd
    import grp
except ImportError:  # pragma: no cover - not on Linux
    pwd = grp = None

requires_root = unittest.skipUnless(os.geteuid() == 0 and pwd is not None,
                                    'needs root to change user/group')


class SubprocessTestCase(LoopTestCase):

    def exec_proto(self, *args, **kw):
        """loop.subprocess_exec with a SubprocessRecorder."""
        proto = SubprocessRecorder(self.loop)
        tr, pr = self.run_coro(self.loop.subprocess_exec(
            lambda: proto, *args, **kw))
        self.assertIs(pr, proto)
        self.addCleanup(self.close_transport, tr)
        return tr, proto

    def close_transport(self, tr):
        if not self.loop.is_closed():
            tr.close()
            self.run_briefly(3)
            # The killed child's exit, before the loop closes: a child left
            # running warns "subprocess N is still running" when its Popen
            # goes, a new warning (and registry entry) for every pid, which
            # the refleak run takes for a leak.
            self.run_until(lambda: tr.get_returncode() is not None)

    def start(self, *args, **kw):
        """asyncio.create_subprocess_exec on self.loop."""
        proc = self.run_coro(asyncio.create_subprocess_exec(*args, **kw))
        self.addCleanup(self.kill_quietly, proc)
        return proc

    def start_shell(self, cmd, **kw):
        proc = self.run_coro(asyncio.create_subprocess_shell(cmd, **kw))
        self.addCleanup(self.kill_quietly, proc)
        return proc

    def kill_quietly(self, proc):
        if proc.returncode is None and not self.loop.is_closed():
            try:
                proc.kill()
            except ProcessLookupError:
                pass
            self.run_coro(proc.wait(), timeout=10)

    def communicate(self, proc, input=None, timeout=30.0):
        return self.run_coro(proc.communicate(input), timeout)


# -- loop.subprocess_exec / subprocess_shell ----------------------------------------

class SubprocessProtocolTests(SubprocessTestCase):

    def test_protocol_callbacks(self):
        tr, proto = self.exec_proto(
            *py('import sys; sys.stdout.write("out"); '
                'sys.stderr.write("err"); sys.exit(3)'),
            stdin=None, stdout=PIPE, stderr=PIPE)
        self.assertIsNone(self.run_coro(proto.lost))
        self.assertEqual(proto.events[0], ('made',))
        self.assertEqual(proto.events[-1], ('lost', None))
        self.assertIn(('exited',), proto.events)
        self.assertIn(('pipe_lost', 1, None), proto.events)
        self.assertIn(('pipe_lost', 2, None), proto.events)
        self.assertEqual(bytes(proto.output[1]), b'out')
        self.assertEqual(bytes(proto.output[2]), b'err')
        self.assertEqual(tr.get_returncode(), 3)
        self.assertEqual(proto.misuse, [])

    def test_transport_is_an_asyncio_subprocess_transport(self):
        tr, proto = self.exec_proto(SLEEP, '30', stdin=PIPE, stdout=PIPE,
                                    stderr=DEVNULL)
        self.assertIsInstance(tr, asyncio.SubprocessTransport)
        self.assertIsInstance(tr.get_pipe_transport(0),
                              asyncio.WriteTransport)
        self.assertIsInstance(tr.get_pipe_transport(1),
                              asyncio.ReadTransport)
        self.assertIsNone(tr.get_pipe_transport(2))
        self.assertIsInstance(tr.get_pid(), int)
        self.assertGreater(tr.get_pid(), 0)
        self.assertIsNone(tr.get_returncode())
        self.assertEqual(tr.get_extra_info('subprocess').pid, tr.get_pid())

    @support.aioev_only
    def test_stdio_pipes_use_aioev_pipe_transports(self):
        from asyncio import unix_events
        tr, proto = self.exec_proto(SLEEP, '30', stdin=PIPE, stdout=PIPE,
                                    stderr=PIPE)
        for fd in (0, 1, 2):
            pipe_tr = tr.get_pipe_transport(fd)
            self.assertNotIsInstance(pipe_tr, (
                unix_events._UnixReadPipeTransport,
                unix_events._UnixWritePipeTransport))
            self.assertTrue(type(pipe_tr).__module__.startswith('aioev'),
                            type(pipe_tr).__module__)

    def test_write_to_stdin_pipe_and_eof(self):
        tr, proto = self.exec_proto(CAT, stdin=PIPE, stdout=PIPE,
                                    stderr=None)
        stdin = tr.get_pipe_transport(0)
        stdin.write(b'echo ')
        stdin.write(b'me')
        stdin.write_eof()
        self.run_coro(proto.lost)
        self.assertEqual(bytes(proto.output[1]), b'echo me')
        self.assertEqual(tr.get_returncode(), 0)

    def test_subprocess_shell(self):
        tr, proto = self.run_coro(self.loop.subprocess_shell(
            lambda: SubprocessRecorder(self.loop),
            'echo $((6 * 7)); echo oops >&2; exit 5',
            stdin=None, stdout=PIPE, stderr=PIPE))
        self.addCleanup(self.close_transport, tr)
        self.run_coro(proto.lost)
        self.assertEqual(bytes(proto.output[1]), b'42\n')
        self.assertEqual(bytes(proto.output[2]), b'oops\n')
        self.assertEqual(tr.get_returncode(), 5)

    def test_subprocess_shell_accepts_bytes(self):
        tr, proto = self.run_coro(self.loop.subprocess_shell(
            lambda: SubprocessRecorder(self.loop), b'printf bytes',
            stdin=None, stdout=PIPE, stderr=None))
        self.addCleanup(self.close_transport, tr)
        self.run_coro(proto.lost)
        self.assertEqual(bytes(proto.output[1]), b'bytes')

    def test_subprocess_shell_cmd_must_be_a_string(self):
        with self.assertRaises(ValueError) as cm:
            self.run_coro(self.loop.subprocess_shell(
                asyncio.SubprocessProtocol, ['echo', 'x']))
        self.assertEqual(str(cm.exception), 'cmd must be a string')

    def test_refused_keywords(self):
        cases = [
            (dict(universal_newlines=True),
             'universal_newlines must be False'),
            (dict(shell=True), 'shell must be False'),
            (dict(bufsize=1), 'bufsize must be 0'),
            (dict(text=True), 'text must be False'),
            (dict(encoding='utf-8'), 'encoding must be None'),
            (dict(errors='strict'), 'errors must be None'),
        ]
        for kw, message in cases:
            with self.subTest(kw=kw):
                with self.assertRaises(ValueError) as cm:
                    self.run_coro(self.loop.subprocess_exec(
                        asyncio.SubprocessProtocol, SLEEP, '0', **kw))
                self.assertEqual(str(cm.exception), message)

    def test_shell_refused_keywords(self):
        with self.assertRaises(ValueError) as cm:
            self.run_coro(self.loop.subprocess_shell(
                asyncio.SubprocessProtocol, 'true', shell=False))
        self.assertEqual(str(cm.exception), 'shell must be True')

    def test_missing_program_raises_file_not_found(self):
        made = []
        with self.assertRaises(FileNotFoundError):
            self.run_coro(self.loop.subprocess_exec(
                lambda: made.append(1) or SubprocessRecorder(self.loop),
                '/nonexistent/aioev-no-such-program'))

    def test_close_kills_a_running_child(self):
        tr, proto = self.exec_proto(SLEEP, '30', stdin=None, stdout=None,
                                    stderr=None)
        pid = tr.get_pid()
        tr.close()
        self.assertTrue(tr.is_closing())
        self.run_coro(proto.exited)
        self.assertEqual(tr.get_returncode(), -signal.SIGKILL)
        self.run_until(lambda: is_reaped(pid))

    def test_transport_signals(self):
        for method, sig in (('terminate', signal.SIGTERM),
                            ('kill', signal.SIGKILL)):
            with self.subTest(method=method):
                tr, proto = self.exec_proto(SLEEP, '30', stdin=None,
                                            stdout=None, stderr=None)
                getattr(tr, method)()
                self.run_coro(proto.lost)
                self.assertEqual(tr.get_returncode(), -sig)

    def test_transport_send_signal(self):
        tr, proto = self.exec_proto(SLEEP, '30', stdin=None, stdout=None,
                                    stderr=None)
        tr.send_signal(signal.SIGINT)
        self.run_coro(proto.lost)
        self.assertEqual(tr.get_returncode(), -signal.SIGINT)

    def test_signal_after_the_transport_is_finished_raises(self):
        tr, proto = self.exec_proto(*sh('exit 0'), stdin=None, stdout=None,
                                    stderr=None)
        self.run_coro(proto.lost)
        for call in (lambda: tr.send_signal(signal.SIGTERM), tr.terminate,
                     tr.kill):
            with self.assertRaises(ProcessLookupError):
                call()

    def test_child_closing_stdout_early(self):
        tr, proto = self.exec_proto(
            *py('''
                import os, sys, time
                os.write(1, b'early')
                os.close(1)
                time.sleep(1.0)
                os.write(2, b'still running')
                os._exit(4)
            '''), stdin=None, stdout=PIPE, stderr=PIPE)
        self.run_coro(proto.lost)
        self.assertEqual(bytes(proto.output[1]), b'early')
        self.assertEqual(bytes(proto.output[2]), b'still running')
        self.assertLess(proto.index('pipe_lost', 1, None),
                        proto.index('exited'))
        self.assertEqual(tr.get_returncode(), 4)


# -- asyncio.create_subprocess_exec / _shell -------------------------------------------

class StdioTests(SubprocessTestCase):

    def test_stdout_pipe(self):
        proc = self.start(*py('print("hello")'), stdout=PIPE)
        self.assertIsNone(proc.stdin)
        self.assertIsNone(proc.stderr)
        out = self.run_coro(proc.stdout.read())
        self.assertEqual(out, b'hello\n')
        self.assertEqual(self.run_coro(proc.wait()), 0)
        self.assertEqual(proc.returncode, 0)

    def test_stdin_stdout_stderr_pipes(self):
        proc = self.start(
            *py('import sys; d = sys.stdin.read(); '
                'sys.stdout.write(d.upper()); sys.stderr.write(d[::-1])'),
            stdin=PIPE, stdout=PIPE, stderr=PIPE)
        out, err = self.communicate(proc, b'abc')
        self.assertEqual((out, err), (b'ABC', b'cba'))
        self.assertEqual(proc.returncode, 0)

    def test_stdin_stream_writer(self):
        proc = self.start(CAT, stdin=PIPE, stdout=PIPE)

        async def talk():
            proc.stdin.write(b'line one\n')
            await proc.stdin.drain()
            first = await proc.stdout.readline()
            proc.stdin.write(b'line two\n')
            proc.stdin.close()
            rest = await proc.stdout.read()
            return first, rest, await proc.wait()

        self.assertEqual(self.run_coro(talk()),
                         (b'line one\n', b'line two\n', 0))

    def test_stderr_to_stdout(self):
        proc = self.start(
            *py('import os; os.write(1, b"out,"); os.write(2, b"err")'),
            stdout=PIPE, stderr=STDOUT)
        self.assertIsNone(proc.stderr)
        out, err = self.communicate(proc)
        self.assertEqual(out, b'out,err')
        self.assertIsNone(err)

    def test_devnull_everywhere(self):
        proc = self.start(
            *py('import sys; d = sys.stdin.read(); print("x" * 10); '
                'sys.exit(len(d))'),
            stdin=DEVNULL, stdout=DEVNULL, stderr=DEVNULL)
        self.assertIsNone(proc.stdin)
        self.assertIsNone(proc.stdout)
        out, err = self.communicate(proc)
        self.assertEqual((out, err), (None, None))
        self.assertEqual(proc.returncode, 0)

    def test_stdout_to_a_file_descriptor(self):
        with tempfile.TemporaryFile() as f:
            proc = self.start(*sh('printf to-file'), stdout=f.fileno())
            self.assertEqual(self.run_coro(proc.wait()), 0)
            f.seek(0)
            self.assertEqual(f.read(), b'to-file')

    def test_create_subprocess_shell(self):
        proc = self.start_shell('read x; echo "got $x"; exit 9',
                                stdin=PIPE, stdout=PIPE)
        out, _ = self.communicate(proc, b'input\n')
        self.assertEqual(out, b'got input\n')
        self.assertEqual(proc.returncode, 9)

    def test_communicate_large_data_both_ways(self):
        data = payload(6 * MiB)
        err_size = 2 * MiB
        proc = self.start(
            *py(f'''
                import sys
                sys.stderr.buffer.write(b'e' * {err_size})
                sys.stderr.flush()
                while True:
                    chunk = sys.stdin.buffer.read1(1 << 16)
                    if not chunk:
                        break
                    sys.stdout.buffer.write(chunk)
            '''), stdin=PIPE, stdout=PIPE, stderr=PIPE)
        out, err = self.communicate(proc, data)
        self.assertEqual(len(out), len(data))
        self.assertEqual(out, data)
        self.assertEqual(err, b'e' * err_size)
        self.assertEqual(proc.returncode, 0)

    def test_communicate_with_cat(self):
        data = payload(4 * MiB, seed=1)
        proc = self.start(CAT, stdin=PIPE, stdout=PIPE)
        out, _ = self.communicate(proc, data)
        self.assertEqual(out, data)

    def test_communicate_to_a_child_that_does_not_read(self):
        # The child exits without reading: the write to its stdin fails
        # with a broken pipe, which communicate() swallows.
        proc = self.start(*sh('exit 6'), stdin=PIPE, stdout=PIPE)
        out, err = self.communicate(proc, payload(2 * MiB))
        self.assertEqual(out, b'')
        self.assertIsNone(err)
        self.assertEqual(proc.returncode, 6)

    def test_child_closing_stdout_early(self):
        proc = self.start(
            *py('''
                import os, time
                os.write(1, b'early')
                os.close(1)
                time.sleep(1.0)
                os._exit(4)
            '''), stdout=PIPE)
        out = self.run_coro(proc.stdout.read())
        self.assertEqual(out, b'early')
        self.assertIsNone(proc.returncode)
        self.assertEqual(self.run_coro(proc.wait()), 4)


class KeywordTests(SubprocessTestCase):
    """Keywords that asyncio passes on to subprocess.Popen."""

    def output_of(self, *args, **kw):
        proc = self.start(*args, stdout=PIPE, **kw)
        out, _ = self.communicate(proc)
        self.assertEqual(proc.returncode, 0, out)
        return out.decode().strip()

    def test_cwd(self):
        d = tempfile.mkdtemp()
        self.addCleanup(os.rmdir, d)
        out = self.output_of(*py('import os; print(os.getcwd())'), cwd=d)
        self.assertEqual(out, os.path.realpath(d))

    def test_env(self):
        out = self.output_of(
            *py('import os; print(os.environ.get("AIOEV_VAR"), '
                '"HOME" in os.environ)'),
            env={'AIOEV_VAR': 'set by the test'})
        self.assertEqual(out, 'set by the test False')

    def test_pass_fds(self):
        r, w = os.pipe()
        self.addCleanup(os.close, r)
        try:
            out = self.output_of(
                *py('import os, sys; os.write(int(sys.argv[1]), b"by fd")',
                    w), pass_fds=(w,))
        finally:
            os.close(w)
        self.assertEqual(out, '')
        self.assertEqual(os.read(r, 100), b'by fd')

    def test_fds_are_closed_without_pass_fds(self):
        r, w = os.pipe()
        self.addCleanup(os.close, r)
        self.addCleanup(os.close, w)
        os.set_inheritable(w, True)
        out = self.output_of(
            *py('''
                import os, sys
                try:
                    os.fstat(int(sys.argv[1]))
                except OSError as exc:
                    print('closed', exc.errno)
                else:
                    print('open')
            ''', w))
        self.assertEqual(out, f'closed {__import__("errno").EBADF}')

    def test_start_new_session(self):
        out = self.output_of(
            *py('import os; print(os.getsid(0) == os.getpid())'),
            start_new_session=True)
        self.assertEqual(out, 'True')
        out = self.output_of(*py('import os; print(os.getsid(0))'))
        self.assertEqual(out, str(os.getsid(0)))

    def test_process_group(self):
        out = self.output_of(
            *py('import os; print(os.getpgid(0) == os.getpid(), '
                'os.getsid(0) == os.getpid())'),
            process_group=0)
        self.assertEqual(out, 'True False')

    def test_preexec_fn(self):
        out = self.output_of(
            *py('import os; print(oct(os.umask(0)))'),
            preexec_fn=lambda: os.umask(0o027))
        self.assertEqual(out, '0o27')

    def test_failing_preexec_fn_raises(self):
        def fail():
            raise ValueError('in the child')

        with self.assertRaises(subprocess.SubprocessError):
            self.run_coro(asyncio.create_subprocess_exec(
                SLEEP, '0', preexec_fn=fail))

    @requires_root
    def test_user_and_group(self):
        try:
            nobody = pwd.getpwnam('nobody')
        except KeyError:
            self.skipTest('no user nobody')
        group = grp.getgrgid(nobody.pw_gid).gr_name
        out = self.output_of(*sh('id -u; id -g'), user='nobody',
                             group=group, cwd='/')
        self.assertEqual(out.split(), [str(nobody.pw_uid),
                                       str(nobody.pw_gid)])


# -- exit statuses and signals ------------------------------------------------------

class ExitStatusTests(SubprocessTestCase):

    def test_returncode(self):
        for code in (0, 1, 42, 255):
            with self.subTest(code=code):
                proc = self.start(*sh('exit "$0"', code))
                self.assertEqual(self.run_coro(proc.wait()), code)
                self.assertEqual(proc.returncode, code)

    def test_returncode_is_none_while_running(self):
        proc = self.start(SLEEP, '30')
        self.run_stopping_after(0.05)
        self.assertIsNone(proc.returncode)
        proc.kill()
        self.assertEqual(self.run_coro(proc.wait()), -signal.SIGKILL)

    def test_child_killed_by_a_signal(self):
        # The child must die of the signal itself: a sanitizer runtime
        # preloaded for this process would turn SIGSEGV into an abort.
        env = {k: v for k, v in os.environ.items() if k != 'LD_PRELOAD'}
        for sig in (signal.SIGKILL, signal.SIGTERM, signal.SIGSEGV):
            with self.subTest(sig=sig):
                proc = self.start(*py(
                    'import os, sys; os.kill(os.getpid(), int(sys.argv[1]))',
                    int(sig)), stderr=DEVNULL, env=env)
                self.assertEqual(self.run_coro(proc.wait()), -sig)

    def test_wait_twice(self):
        proc = self.start(*sh('exit 3'))
        self.assertEqual(self.run_coro(proc.wait()), 3)
        self.assertEqual(self.run_coro(proc.wait()), 3)

    def test_concurrent_waits(self):
        proc = self.start(*sh('sleep 0.1; exit 2'))

        async def both():
            return await asyncio.gather(proc.wait(), proc.wait())

        self.assertEqual(self.run_coro(both()), [2, 2])

    def test_terminate(self):
        proc = self.start(SLEEP, '30')
        proc.terminate()
        self.assertEqual(self.run_coro(proc.wait()), -signal.SIGTERM)

    def test_kill(self):
        proc = self.start(SLEEP, '30')
        proc.kill()
        self.assertEqual(self.run_coro(proc.wait()), -signal.SIGKILL)

    def test_send_signal_to_a_handler(self):
        proc = self.start(*py('''
            import os, signal, sys
            signal.signal(signal.SIGUSR1, lambda *a: os._exit(7))
            print('ready', flush=True)
            while True:
                signal.pause()
        '''), stdout=PIPE)
        line = self.run_coro(proc.stdout.readline())
        self.assertEqual(line, b'ready\n')
        proc.send_signal(signal.SIGUSR1)
        self.assertEqual(self.run_coro(proc.wait()), 7)

    def test_signals_after_wait_raise_process_lookup_error(self):
        proc = self.start(*sh('exit 0'))
        self.run_coro(proc.wait())
        for call in (proc.kill, proc.terminate,
                     lambda: proc.send_signal(signal.SIGTERM)):
            with self.assertRaises(ProcessLookupError):
                call()

    def test_many_children_at_once(self):
        count = 200

        async def spawn_all():
            procs = await asyncio.gather(*(
                asyncio.create_subprocess_exec(*sh('exit "$0"', i % 256))
                for i in range(count)))
            codes = await asyncio.gather(*(p.wait() for p in procs))
            return procs, codes

        procs, codes = self.run_coro(spawn_all(), timeout=60)
        self.assertEqual(codes, [i % 256 for i in range(count)])
        self.assertEqual([p.returncode for p in procs], codes)
        self.assertEqual(len({p.pid for p in procs}), count)
        self.assertEqual([p.pid for p in procs if not is_reaped(p.pid)], [])

    def test_many_children_with_pipes(self):
        count = 50

        async def run_one(i):
            proc = await asyncio.create_subprocess_exec(
                *sh('cat; exit "$0"', i), stdin=PIPE, stdout=PIPE)
            out, _ = await proc.communicate(b'child %d' % i)
            return out, proc.returncode

        async def run_all():
            return await asyncio.gather(*(run_one(i) for i in range(count)))

        results = self.run_coro(run_all(), timeout=60)
        self.assertEqual(results,
                         [(b'child %d' % i, i) for i in range(count)])


# -- threads and children the loop did not start ---------------------------------------

class ThreadTests(SubprocessTestCase):

    def run_in_thread(self, coro_fn):
        result = {}

        def worker():
            loop = support.new_event_loop()
            try:
                result['value'] = loop.run_until_complete(
                    asyncio.wait_for(coro_fn(), 30))
            except BaseException as exc:  # reported by the test
                result['error'] = exc
            finally:
                loop.close()

        t = threading.Thread(target=worker)
        t.start()
        t.join(40)
        self.assertFalse(t.is_alive())
        if 'error' in result:
            raise result['error']
        return result['value']

    def test_child_of_a_worker_thread_loop(self):
        async def main():
            proc = await asyncio.create_subprocess_exec(
                *py('import sys; print(sys.stdin.read()[::-1]); '
                    'sys.exit(12)'),
                stdin=PIPE, stdout=PIPE)
            out, _ = await proc.communicate(b'olleh')
            return out, proc.returncode

        self.assertEqual(self.run_in_thread(main), (b'hello\n', 12))

    def test_child_killed_on_a_worker_thread_loop(self):
        async def main():
            proc = await asyncio.create_subprocess_exec(SLEEP, '30')
            proc.kill()
            return await proc.wait()

        self.assertEqual(self.run_in_thread(main), -signal.SIGKILL)

    def test_main_and_worker_loops_at_once(self):
        async def worker_main():
            proc = await asyncio.create_subprocess_exec(
                *sh('sleep 0.2; exit 21'))
            return await proc.wait()

        box = {}
        t = threading.Thread(
            target=lambda: box.setdefault('v', self.run_in_thread_value(
                worker_main)))
        t.start()
        proc = self.start(*sh('sleep 0.2; exit 11'))
        self.assertEqual(self.run_coro(proc.wait()), 11)
        t.join(40)
        self.assertEqual(box.get('v'), 21)

    def run_in_thread_value(self, coro_fn):
        loop = support.new_event_loop()
        try:
            return loop.run_until_complete(asyncio.wait_for(coro_fn(), 30))
        finally:
            loop.close()


class ForeignChildTests(SubprocessTestCase):
    """The loop reaps only the children it started."""

    def foreign_child(self, script):
        p = subprocess.Popen(sh(script))
        self.addCleanup(self._reap_foreign, p)
        return p

    @staticmethod
    def _reap_foreign(p):
        if p.returncode is None:
            p.kill()
            p.wait()

    def test_exited_foreign_child_is_left_for_its_owner(self):
        p = self.foreign_child('exit 7')
        # Wait for it to exit without reaping it.
        os.waitid(os.P_PID, p.pid, os.WEXITED | os.WNOWAIT)
        proc = self.start(*sh('exit 3'))
        self.assertEqual(self.run_coro(proc.wait()), 3)
        self.run_stopping_after(0.05)
        self.assertEqual(p.wait(timeout=10), 7)

    def test_foreign_child_exiting_meanwhile_is_left_for_its_owner(self):
        p = self.foreign_child('sleep 0.1; exit 8')
        proc = self.start(*sh('sleep 0.4; exit 4'))
        self.assertEqual(self.run_coro(proc.wait()), 4)
        self.run_stopping_after(0.05)
        self.assertEqual(p.wait(timeout=10), 8)

    def test_no_sigchld_handler_is_installed(self):
        before = signal.getsignal(signal.SIGCHLD)
        proc = self.start(*sh('exit 1'))
        self.assertEqual(self.run_coro(proc.wait()), 1)
        self.assertIs(signal.getsignal(signal.SIGCHLD), before)

    def test_foreign_children_and_many_loop_children(self):
        foreign = [self.foreign_child(f'sleep 0.0{i}; exit {20 + i}')
                   for i in range(5)]

        async def spawn_all():
            procs = await asyncio.gather(*(
                asyncio.create_subprocess_exec(*sh('exit "$0"', i))
                for i in range(20)))
            return await asyncio.gather(*(p.wait() for p in procs))

        self.assertEqual(self.run_coro(spawn_all()), list(range(20)))
        self.assertEqual([p.wait(timeout=10) for p in foreign],
                         [20 + i for i in range(5)])


if __name__ == '__main__':
    unittest.main()


class ChildWatchTests(SubprocessTestCase):
    """How aioev learns of a child's exit (aioev's own mechanism)."""

    @support.aioev_only
    def test_exit_is_seen_without_pidfd(self):
        # Where pidfd_open is missing (old kernels), a thread waits for the
        # child instead: the return codes are the same.
        from unittest import mock
        with mock.patch('os.pidfd_open', side_effect=OSError(38, 'not implemented')):
            ok = self.start(*sh('exit 7'))
            killed = self.start(SLEEP, '30')
            killed.kill()
            self.assertEqual(self.run_coro(ok.wait()), 7)
            self.assertEqual(self.run_coro(killed.wait()), -signal.SIGKILL)

    @support.aioev_only
    def test_pidfd_is_closed_after_exit(self):
        proc = self.start(*sh('exit 0'))
        self.assertEqual(self.run_coro(proc.wait()), 0)
        self.run_briefly(3)
        fds = set(os.listdir('/proc/self/fd'))
        proc2 = self.start(*sh('exit 0'))
        self.run_coro(proc2.wait())
        self.run_briefly(3)
        # No descriptor is left behind by the second child's watch.
        self.assertLessEqual(set(os.listdir('/proc/self/fd')) - fds, set())
