"""Debug mode: slow callbacks, thread checks and callback checks."""

import asyncio
import logging
import os
import re
import socket
import sys
import time
import unittest

from . import support
from .support import LoopTestCase


def slow_callback():
    time.sleep(0.06)


def fast_callback():
    pass


async def coroutine_function():
    pass


class DebugFlagTests(LoopTestCase):

    def test_debug_is_off_by_default(self):
        self.assertFalse(self.loop.get_debug())

    def test_set_debug(self):
        self.loop.set_debug(True)
        self.assertTrue(self.loop.get_debug())
        self.loop.set_debug(False)
        self.assertFalse(self.loop.get_debug())

    def test_set_debug_while_running(self):
        seen = []

        def toggle():
            self.loop.set_debug(True)
            seen.append(self.loop.get_debug())
        self.loop.call_soon(toggle)
        self.run_briefly()
        self.assertEqual(seen, [True])

    def test_slow_callback_duration_default(self):
        self.assertEqual(self.loop.slow_callback_duration, 0.1)

    def check_child_debug(self, args=(), **env):
        proc = support.run_child(
            'loop = new_event_loop()\n'
            'print(loop.get_debug())\n'
            'loop.close()\n', args=args, **env)
        self.assertEqual(proc.returncode, 0, support.describe_child(proc))
        return proc.stdout.strip()

    def test_pythonasynciodebug_env_enables_debug(self):
        self.assertEqual(self.check_child_debug(PYTHONASYNCIODEBUG='1'),
                         'True')

    def test_dev_mode_enables_debug(self):
        self.assertEqual(self.check_child_debug(args=('-X', 'dev')), 'True')

    def test_no_debug_without_env_or_dev_mode(self):
        self.assertEqual(self.check_child_debug(), 'False')


class SlowCallbackTests(LoopTestCase):

    def setUp(self):
        super().setUp()
        self.loop.set_debug(True)
        self.loop.slow_callback_duration = 0.03

    def test_slow_callback_is_logged(self):
        self.loop.call_soon(slow_callback); line = sys._getframe().f_lineno  # noqa: E702,E501
        with self.assertLogs('asyncio', logging.WARNING) as cm:
            self.run_briefly()
        self.assertEqual(len(cm.records), 1)
        record = cm.records[0]
        self.assertEqual(record.levelno, logging.WARNING)
        expected = re.escape(
            f'Executing <Handle '
            f'{support.callback_repr(slow_callback, (), debug=True)} '
            f'created at {__file__}:{line}> took ') + r'0\.\d{3} seconds$'
        self.assertRegex(record.getMessage(), '^' + expected)
        took = float(record.getMessage().rsplit(' took ', 1)[1].split()[0])
        self.assertGreaterEqual(took, 0.03)

    def test_slow_callback_with_args_shows_args(self):
        def slow(a, b):
            time.sleep(0.06)
        self.loop.call_soon(slow, 1, 'x')
        with self.assertLogs('asyncio', logging.WARNING) as cm:
            self.run_briefly()
        self.assertIn(f"<Handle {support.callback_repr(slow, (1, 'x'), debug=True)} ",
                      cm.records[0].getMessage())

    def test_slow_timer_callback_is_logged(self):
        self.loop.call_later(0, slow_callback)
        with self.assertLogs('asyncio', logging.WARNING) as cm:
            self.run_stopping_after(0.01)
        self.assertRegex(cm.records[0].getMessage(),
                         r'^Executing <TimerHandle when=\S+ slow_callback\(\) '
                         r'.* took 0\.\d{3} seconds$')

    def test_debug_switched_on_while_running_takes_effect(self):
        self.loop.set_debug(False)

        def switch_on():
            self.loop.set_debug(True)
            self.loop.slow_callback_duration = 0.03
            self.loop.call_soon(slow_callback)
        self.loop.call_soon(switch_on)
        with self.assertLogs('asyncio', logging.WARNING) as cm:
            self.run_briefly(2)
        self.assertIn('slow_callback()', cm.records[0].getMessage())

    def test_fast_callback_is_not_logged(self):
        self.loop.slow_callback_duration = 1.0  # room for a loaded machine
        self.loop.call_soon(fast_callback)
        with self.assertNoLogs('asyncio', logging.WARNING):
            self.run_briefly()

    def test_threshold_is_slow_callback_duration(self):
        self.loop.slow_callback_duration = 10
        self.loop.call_soon(slow_callback)
        with self.assertNoLogs('asyncio', logging.WARNING):
            self.run_briefly()

    def test_slow_callback_not_logged_outside_debug_mode(self):
        self.loop.set_debug(False)
        self.loop.call_soon(slow_callback)
        with self.assertNoLogs('asyncio', logging.WARNING):
            self.run_briefly()

    def test_slow_task_step_is_logged(self):
        async def slow_task():
            time.sleep(0.06)
        with self.assertLogs('asyncio', logging.WARNING) as cm:
            self.loop.run_until_complete(slow_task())
        self.assertTrue(any(
            re.match(r'^Executing <Task .*slow_task.* took 0\.\d{3} seconds$',
                     r.getMessage(), re.S)
            for r in cm.records), [r.getMessage() for r in cm.records])


class DebugExceptionContextTests(LoopTestCase):

    def test_default_handler_shows_where_the_current_handle_was_created(self):
        self.loop.set_debug(True)
        self.loop.set_exception_handler(None)

        def report():
            self.loop.call_exception_handler({'message': 'custom report'})
        self.loop.call_soon(report); line = sys._getframe().f_lineno  # noqa: E702,E501
        with self.assertLogs('asyncio', logging.ERROR) as cm:
            self.run_briefly()
        text = cm.records[0].getMessage()
        self.assertTrue(text.startswith('custom report'), text)
        self.assertIn('Handle created at (most recent call last):', text)
        self.assertIn(f'File "{__file__}", line {line}', text)


class ThreadCallsMixin:
    """Calls from another thread while the loop runs in debug mode."""

    def setUp(self):
        super().setUp()
        self.loop.set_debug(True)

    def call_from_thread_while_running(self, func):
        outcome = []

        def in_thread():
            try:
                outcome.append(func())
            except BaseException as exc:
                outcome.append(exc)
            finally:
                self.loop.call_soon_threadsafe(self.loop.stop)
        self.loop.call_later(30, self.loop.stop)
        self.loop.call_soon(self.start_thread, in_thread)
        self.loop.run_forever()
        return outcome[0]

    def assert_thread_error(self, outcome):
        self.assertIsInstance(outcome, RuntimeError)
        self.assertEqual(str(outcome),
                         'Non-thread-safe operation invoked on an event loop '
                         'other than the current one')


class ThreadCheckTests(ThreadCallsMixin, LoopTestCase):

    def test_call_soon_from_another_thread_raises(self):
        self.assert_thread_error(self.call_from_thread_while_running(
            lambda: self.loop.call_soon(fast_callback)))

    def test_call_later_from_another_thread_raises(self):
        self.assert_thread_error(self.call_from_thread_while_running(
            lambda: self.loop.call_later(1, fast_callback)))

    def test_call_at_from_another_thread_raises(self):
        self.assert_thread_error(self.call_from_thread_while_running(
            lambda: self.loop.call_at(self.loop.time() + 1, fast_callback)))

    def test_call_soon_threadsafe_from_another_thread_is_fine(self):
        outcome = self.call_from_thread_while_running(
            lambda: self.loop.call_soon_threadsafe(fast_callback))
        self.assertNotIsInstance(outcome, BaseException)

    def test_other_thread_is_fine_when_loop_is_not_running(self):
        outcome = []

        def in_thread():
            outcome.append(self.loop.call_soon(fast_callback))
        self.start_thread(in_thread).join(10)
        self.assertNotIsInstance(outcome[0], BaseException)
        self.run_briefly()

    def test_no_thread_check_outside_debug_mode(self):
        self.loop.set_debug(False)
        calls = []
        outcome = self.call_from_thread_while_running(
            lambda: self.loop.call_soon_threadsafe(calls.append, 1))
        self.assertNotIsInstance(outcome, BaseException)
        self.run_briefly()
        self.assertEqual(calls, [1])


@support.aioev_only
class TransportThreadCheckTests(ThreadCallsMixin, LoopTestCase):
    """aioev's transports check the thread in debug mode as the loop's own
    methods do (asyncio's do not; on a free-threaded build a transport
    changed from two threads at once could not be kept whole). The
    RuntimeError leaves the transport as it was."""

    def make_transports(self):
        a, b = socket.socketpair()
        self.addCleanup(b.close)
        stream, _ = self.loop.run_until_complete(
            self.loop.create_connection(asyncio.Protocol, sock=a))
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.bind(('127.0.0.1', 0))
        datagram, _ = self.loop.run_until_complete(
            self.loop.create_datagram_endpoint(asyncio.DatagramProtocol, sock=u))
        r, w = os.pipe()
        read_pipe, _ = self.loop.run_until_complete(
            self.loop.connect_read_pipe(asyncio.Protocol, os.fdopen(r, 'rb', 0)))
        write_pipe, _ = self.loop.run_until_complete(
            self.loop.connect_write_pipe(asyncio.Protocol, os.fdopen(w, 'wb', 0)))
        transports = [stream, datagram, read_pipe, write_pipe]
        for t in transports:
            self.addCleanup(t.close)
        return stream, datagram, read_pipe, write_pipe, b

    def test_transport_methods_from_another_thread_raise(self):
        stream, datagram, read_pipe, write_pipe, peer = self.make_transports()
        calls = {
            'stream': (stream, [('write', b'x'), ('writelines', [b'x']), ('write_eof',),
                                ('pause_reading',), ('resume_reading',),
                                ('set_write_buffer_limits', 10), ('close',), ('abort',)]),
            'datagram': (datagram, [('sendto', b'x', datagram.get_extra_info('sockname')),
                                    ('pause_reading',), ('close',), ('abort',)]),
            'read pipe': (read_pipe, [('pause_reading',), ('close',)]),
            'write pipe': (write_pipe, [('write', b'x'), ('write_eof',),
                                        ('set_write_buffer_limits', 10), ('close',),
                                        ('abort',)]),
        }
        for kind, (transport, methods) in calls.items():
            for name, *args in methods:
                with self.subTest(kind=kind, method=name):
                    method = getattr(transport, name)
                    self.assert_thread_error(
                        self.call_from_thread_while_running(lambda: method(*args)))
                    self.assertFalse(transport.is_closing())
        self.assertEqual(stream.get_write_buffer_size(), 0)
        self.assertTrue(stream.is_reading())
        # Nothing was written: the peer has nothing to read.
        peer.setblocking(False)
        self.assertRaises(BlockingIOError, peer.recv, 1)

    def test_transport_methods_from_another_thread_outside_debug_mode(self):
        self.loop.set_debug(False)
        stream, *_, peer = self.make_transports()
        outcome = self.call_from_thread_while_running(lambda: stream.write(b'x'))
        self.assertIsNone(outcome)
        self.assertEqual(peer.recv(1), b'x')


class CallbackCheckTests(LoopTestCase):

    def setUp(self):
        super().setUp()
        self.loop.set_debug(True)

    def schedulers(self):
        loop = self.loop
        return [
            ('call_soon', lambda cb: loop.call_soon(cb)),
            # call_later delegates to call_at, whose name is in the message.
            ('call_at', lambda cb: loop.call_later(1, cb)),
            ('call_at', lambda cb: loop.call_at(loop.time() + 1, cb)),
            ('call_soon_threadsafe', lambda cb: loop.call_soon_threadsafe(cb)),
        ]

    def test_coroutine_function_raises_type_error(self):
        for method, schedule in self.schedulers():
            with self.subTest(method=method):
                with self.assertRaisesRegex(
                        TypeError,
                        f'^coroutines cannot be used with {method}\\(\\)$'):
                    schedule(coroutine_function)

    def test_coroutine_object_raises_type_error(self):
        for method, schedule in self.schedulers():
            with self.subTest(method=method):
                coro = coroutine_function()
                try:
                    with self.assertRaisesRegex(
                            TypeError,
                            f'^coroutines cannot be used with {method}\\(\\)$'):
                        schedule(coro)
                finally:
                    coro.close()

    def test_non_callable_raises_type_error(self):
        for method, schedule in self.schedulers():
            with self.subTest(method=method):
                with self.assertRaisesRegex(
                        TypeError,
                        f'^a callable object was expected by {method}\\(\\), '
                        f'got 42$'):
                    schedule(42)

    def test_nothing_was_scheduled_after_a_rejected_callback(self):
        with self.assertRaises(TypeError):
            self.loop.call_soon(None)
        self.loop.set_debug(False)
        self.run_briefly()

    def test_run_in_executor_rejects_coroutine_function(self):
        with self.assertRaisesRegex(
                TypeError,
                r'^coroutines cannot be used with run_in_executor\(\)$'):
            self.loop.run_in_executor(None, coroutine_function)

    def test_callable_objects_are_accepted(self):
        class Callable:
            def __init__(self):
                self.calls = 0

            def __call__(self):
                self.calls += 1
        obj = Callable()
        self.loop.call_soon(obj)
        self.loop.call_later(0, obj)
        self.run_until(lambda: obj.calls == 2)


if __name__ == '__main__':
    unittest.main()
