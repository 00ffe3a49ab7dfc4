"""add_signal_handler, remove_signal_handler and Ctrl-C."""

import asyncio
import os
import select
import signal
import sys
import threading
import time
import unittest

from . import support
from .support import LoopTestCase


async def coroutine_function():
    pass


class SignalHandlerTests(LoopTestCase):

    def setUp(self):
        super().setUp()
        if threading.current_thread() is not threading.main_thread():
            self.skipTest('signal handlers need the main thread')
        for sig in (signal.SIGUSR1, signal.SIGUSR2, signal.SIGINT):
            self.addCleanup(signal.signal, sig, signal.getsignal(sig))
        self.addCleanup(self.restore_wakeup_fd, signal.set_wakeup_fd(-1))

    @staticmethod
    def restore_wakeup_fd(fd):
        signal.set_wakeup_fd(fd)

    def test_handler_runs_with_args_on_signal(self):
        calls = []

        def handler(*args):
            calls.append((args, asyncio.get_running_loop()))
            self.loop.stop()
        self.loop.add_signal_handler(signal.SIGUSR1, handler, 'a', 2)
        self.loop.call_soon(os.kill, os.getpid(), signal.SIGUSR1)
        self.loop.call_later(30, self.loop.stop)
        self.loop.run_forever()
        self.assertEqual(calls, [(('a', 2), self.loop)])

    def test_signal_wakes_an_idle_loop(self):
        woke = []

        def handler():
            woke.append(time.monotonic())
            self.loop.stop()

        def send():
            time.sleep(0.1)
            os.kill(os.getpid(), signal.SIGUSR1)
        self.loop.add_signal_handler(signal.SIGUSR1, handler)
        self.loop.call_later(60, self.loop.stop)
        self.start_thread(send)
        t0 = time.monotonic()
        self.loop.run_forever()
        self.assertEqual(len(woke), 1)
        self.assertLess(time.monotonic() - t0, 5)

    def test_handler_runs_as_a_loop_callback_not_in_the_signal_handler(self):
        order = []

        def handler():
            order.append('handler')
            self.loop.stop()

        def send():
            os.kill(os.getpid(), signal.SIGUSR1)
            order.append('after kill')
        self.loop.add_signal_handler(signal.SIGUSR1, handler)
        self.loop.call_soon(send)
        self.loop.call_later(30, self.loop.stop)
        self.loop.run_forever()
        self.assertEqual(order, ['after kill', 'handler'])

    def test_handler_exception_goes_to_exception_handler(self):
        errors = self.collect_errors()

        def handler():
            self.loop.stop()
            raise ZeroDivisionError
        self.loop.add_signal_handler(signal.SIGUSR1, handler)
        self.loop.call_soon(os.kill, os.getpid(), signal.SIGUSR1)
        self.loop.call_later(30, self.loop.stop)
        self.loop.run_forever()
        self.assertEqual(len(errors), 1)
        self.assertIsInstance(errors[0]['exception'], ZeroDivisionError)

    def test_two_signals_two_handlers(self):
        calls = []

        def handler(name):
            calls.append(name)
            if len(calls) == 2:
                self.loop.stop()
        self.loop.add_signal_handler(signal.SIGUSR1, handler, 'usr1')
        self.loop.add_signal_handler(signal.SIGUSR2, handler, 'usr2')
        self.loop.call_soon(os.kill, os.getpid(), signal.SIGUSR1)
        self.loop.call_soon(os.kill, os.getpid(), signal.SIGUSR2)
        self.loop.call_later(30, self.loop.stop)
        self.loop.run_forever()
        self.assertEqual(sorted(calls), ['usr1', 'usr2'])

    def test_signal_received_while_loop_not_running_is_handled_later(self):
        calls = []
        self.loop.add_signal_handler(signal.SIGUSR1, calls.append, 'late')
        os.kill(os.getpid(), signal.SIGUSR1)
        self.assertEqual(calls, [])
        self.run_until(lambda: calls)
        self.assertEqual(calls, ['late'])

    def test_child_processes_are_not_reaped_by_the_loop(self):
        # The loop must leave SIGCHLD alone (libev's default loop takes it).
        pid = os.posix_spawn(
            sys.executable, [sys.executable, '-c', 'import sys; sys.exit(7)'],
            os.environ)
        self.run_stopping_after(0.3)
        _, status = os.waitpid(pid, 0)
        self.assertEqual(os.waitstatus_to_exitcode(status), 7)

    def test_python_signal_handler_exception_ends_an_idle_loop(self):
        # A plain signal.signal() handler that raises: the exception leaves
        # run_forever promptly, as Ctrl-C's KeyboardInterrupt does.
        class Interrupted(Exception):
            pass

        def handler(signum, frame):
            raise Interrupted(signum)
        signal.signal(signal.SIGUSR1, handler)
        main = threading.get_ident()

        def send():
            time.sleep(0.1)
            signal.pthread_kill(main, signal.SIGUSR1)
        self.loop.call_later(60, self.loop.stop)
        self.start_thread(send)
        t0 = time.monotonic()
        with self.assertRaises(Interrupted):
            self.loop.run_forever()
        self.assertLess(time.monotonic() - t0, 5)
        self.assertFalse(self.loop.is_running())
        self.run_briefly()

    def test_adding_again_replaces_the_handler(self):
        calls = []
        self.loop.add_signal_handler(signal.SIGUSR1, calls.append, 'old')
        self.loop.add_signal_handler(signal.SIGUSR1, calls.append, 'new')
        self.loop.call_soon(os.kill, os.getpid(), signal.SIGUSR1)
        self.run_until(lambda: calls)
        self.run_briefly(2)
        self.assertEqual(calls, ['new'])

    def test_remove_returns_true_then_false(self):
        self.loop.add_signal_handler(signal.SIGUSR1, print)
        self.assertTrue(self.loop.remove_signal_handler(signal.SIGUSR1))
        self.assertFalse(self.loop.remove_signal_handler(signal.SIGUSR1))

    def test_remove_unknown_returns_false(self):
        self.assertFalse(self.loop.remove_signal_handler(signal.SIGUSR2))

    def test_remove_restores_default_disposition(self):
        self.loop.add_signal_handler(signal.SIGUSR1, print)
        self.assertNotEqual(signal.getsignal(signal.SIGUSR1), signal.SIG_DFL)
        self.loop.remove_signal_handler(signal.SIGUSR1)
        self.assertEqual(signal.getsignal(signal.SIGUSR1), signal.SIG_DFL)

    def test_remove_sigint_restores_keyboard_interrupt(self):
        self.loop.add_signal_handler(signal.SIGINT, print)
        self.loop.remove_signal_handler(signal.SIGINT)
        self.assertIs(signal.getsignal(signal.SIGINT),
                      signal.default_int_handler)

    def test_removed_handler_is_not_called(self):
        calls = []
        self.loop.add_signal_handler(signal.SIGUSR1, calls.append, 1)
        self.loop.remove_signal_handler(signal.SIGUSR1)
        signal.signal(signal.SIGUSR1, lambda *a: calls.append('python'))
        self.loop.call_soon(os.kill, os.getpid(), signal.SIGUSR1)
        self.run_briefly(3)
        self.assertEqual(calls, ['python'])

    def test_close_removes_signal_handlers(self):
        self.loop.add_signal_handler(signal.SIGUSR1, print)
        self.loop.close()
        self.assertEqual(signal.getsignal(signal.SIGUSR1), signal.SIG_DFL)

    def test_non_int_signal_raises_type_error(self):
        with self.assertRaisesRegex(TypeError, "^sig must be an int, not 'x'$"):
            self.loop.add_signal_handler('x', print)
        with self.assertRaisesRegex(TypeError, '^sig must be an int, not None$'):
            self.loop.remove_signal_handler(None)

    def test_invalid_signal_number_raises_value_error(self):
        for sig in (0, -1, 1000):
            with self.subTest(sig=sig):
                with self.assertRaisesRegex(
                        ValueError, f'^invalid signal number {sig}$'):
                    self.loop.add_signal_handler(sig, print)
                with self.assertRaisesRegex(
                        ValueError, f'^invalid signal number {sig}$'):
                    self.loop.remove_signal_handler(sig)

    def test_sigkill_cannot_be_caught(self):
        with self.assertRaisesRegex(
                RuntimeError, f'^sig {int(signal.SIGKILL)} cannot be caught$'):
            self.loop.add_signal_handler(signal.SIGKILL, print)
        self.assertFalse(self.loop.remove_signal_handler(signal.SIGKILL))

    def test_sigstop_cannot_be_caught(self):
        with self.assertRaisesRegex(
                RuntimeError, f'^sig {int(signal.SIGSTOP)} cannot be caught$'):
            self.loop.add_signal_handler(signal.SIGSTOP, print)

    def test_coroutine_function_raises_type_error(self):
        with self.assertRaisesRegex(
                TypeError,
                r'^coroutines cannot be used with add_signal_handler\(\)$'):
            self.loop.add_signal_handler(signal.SIGUSR1, coroutine_function)
        self.assertFalse(self.loop.remove_signal_handler(signal.SIGUSR1))

    def test_coroutine_object_raises_type_error(self):
        coro = coroutine_function()
        try:
            with self.assertRaisesRegex(
                    TypeError,
                    r'^coroutines cannot be used with add_signal_handler\(\)$'):
                self.loop.add_signal_handler(signal.SIGUSR1, coro)
        finally:
            coro.close()

    def test_closed_loop_raises(self):
        self.loop.close()
        with self.assertRaisesRegex(RuntimeError, '^Event loop is closed$'):
            self.loop.add_signal_handler(signal.SIGUSR1, print)

    def test_from_a_non_main_thread_raises_runtime_error(self):
        outcome = []

        def in_thread():
            try:
                self.loop.add_signal_handler(signal.SIGUSR1, print)
            except BaseException as exc:
                outcome.append(exc)
        self.start_thread(in_thread).join(10)
        self.assertIsInstance(outcome[0], RuntimeError)
        self.assertEqual(signal.getsignal(signal.SIGUSR1), signal.SIG_DFL)


IDLE_CHILD = """
loop = new_event_loop()
loop.call_soon(lambda: print('ready', flush=True))
try:
    loop.run_until_complete(asyncio.sleep(3600))
except KeyboardInterrupt:
    print('interrupted', time.monotonic(), flush=True)
loop.run_until_complete(asyncio.sleep(0))
loop.close()
print('usable', flush=True)
"""

BUSY_CHILD = """
loop = new_event_loop()
state = {'n': 0}
def spin():
    state['n'] += 1
    if state['n'] == 1000:
        print('ready', flush=True)
    loop.call_soon(spin)
loop.call_soon(spin)
try:
    loop.run_forever()
except KeyboardInterrupt:
    print('interrupted', time.monotonic(), flush=True)
loop.call_soon(loop.stop)
loop.run_forever()
loop.close()
print('usable', flush=True)
"""

RUNNER_CHILD = """
async def main():
    print('ready', flush=True)
    await asyncio.sleep(3600)
try:
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        runner.run(main())
except KeyboardInterrupt:
    print('interrupted', time.monotonic(), flush=True)
print('usable', flush=True)
"""

UNCAUGHT_CHILD = """
loop = new_event_loop()
loop.call_soon(lambda: print('ready', flush=True))
loop.run_until_complete(asyncio.sleep(3600))
"""


class CtrlCTests(unittest.TestCase):
    """SIGINT reaches a loop in a child process, idle or busy."""

    BOUND = 1.0  # the test's bound; the goal (100 ms) is reported, not tested

    def interrupt_child(self, code):
        proc = support.start_child(code)
        self.addCleanup(self._reap, proc)
        line = self._readline(proc, 30)
        self.assertEqual(line, 'ready', self._describe(proc))
        time.sleep(0.05)
        sent = time.monotonic()
        os.kill(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=30)
        lines = out.split()
        self.assertEqual(proc.returncode, 0, f'{out}\n{err}')
        self.assertIn('interrupted', lines, err)
        caught = float(lines[lines.index('interrupted') + 1])
        delay = caught - sent
        support.record(f'{self.id()}: SIGINT to KeyboardInterrupt '
                       f'{delay * 1000:.1f} ms')
        self.assertIn('usable', lines, err)
        self.assertLess(delay, self.BOUND)
        return delay

    @staticmethod
    def _readline(proc, timeout):
        ready, _, _ = select.select([proc.stdout], [], [], timeout)
        if not ready:
            return None
        return proc.stdout.readline().strip()

    @staticmethod
    def _describe(proc):
        try:
            proc.wait(1)
        except Exception:
            return 'child still running'
        return f'child exited {proc.returncode}: {proc.stderr.read()}'

    @staticmethod
    def _reap(proc):
        if proc.poll() is None:
            proc.kill()
        proc.communicate()

    def test_ctrl_c_interrupts_a_loop_idle_in_a_long_sleep(self):
        self.interrupt_child(IDLE_CHILD)

    def test_ctrl_c_interrupts_a_loop_busy_in_a_call_soon_chain(self):
        self.interrupt_child(BUSY_CHILD)

    def test_ctrl_c_interrupts_asyncio_runner_on_the_loop(self):
        self.interrupt_child(RUNNER_CHILD)

    def test_uncaught_ctrl_c_exits_with_keyboard_interrupt(self):
        proc = support.start_child(UNCAUGHT_CHILD)
        self.addCleanup(self._reap, proc)
        self.assertEqual(self._readline(proc, 30), 'ready',
                         self._describe(proc))
        os.kill(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=30)
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn('KeyboardInterrupt', err)


if __name__ == '__main__':
    unittest.main()
