"""aioev.Task and the Future under it misused: every test is a way to crash
or corrupt them from Python (objects whose __init__ never ran or ran again,
re-entrant __del__ and callbacks, odd awaitables and coroutines, loops
closed or patched under a task, bad arguments, threads).

The rule for each: no crash, and what asyncio's own C Task/Future do in the
same situation (AIOEV_TEST_LOOP=asyncio runs these tests on asyncio's classes
and loop).  Cases where asyncio itself crashes are @aioev_only.  Cases that
crashed aioev run in a child interpreter, so that a segfault fails one test
instead of killing the runner.  A Future misused on its own (no Task
involved) is tested in test_future.
"""

import asyncio
import collections.abc
import contextvars
import gc
import inspect
import io
import logging
import sys
import textwrap
import threading
import unittest
import weakref

from . import support
from .support import LoopTestCase, PY_VERSION, aioev_only
# The classes under test, as test_task picks them.
from .test_task import EAGER_TASK_FACTORY, FUTURE, TASK

requires_312 = unittest.skipIf(PY_VERSION < (3, 12), 'new in Python 3.12')

# Run in a child: TASK, FUTURE and a loop of the kind under test.
CHILD_HEADER = f"""
import asyncio, gc
from {support.PACKAGE}.test_task_faults import TASK, FUTURE
loop = new_event_loop()
errors = []
loop.set_exception_handler(lambda loop, context: errors.append(context))
"""


async def steps(n, result):
    for _ in range(n):
        await asyncio.sleep(0)
    return result


class BadStr:
    def __str__(self):
        raise ZeroDivisionError('__str__')

    def __repr__(self):
        return '<BadStr>'


class FaultTestCase(LoopTestCase):

    def new_task(self, coro, **kwargs):
        return TASK(coro, loop=self.loop, **kwargs)

    def new_future(self):
        return FUTURE(loop=self.loop)

    def run_child_case(self, code):
        proc = support.run_child(CHILD_HEADER + textwrap.dedent(code))
        self.assertEqual(proc.returncode, 0, support.describe_child(proc))
        return proc.stdout.split()

    def cancel_all(self):
        for task in asyncio.all_tasks(self.loop):
            task.cancel()
        self.run_briefly(3)


# ---------------------------------------------------------------------------
# Objects whose __init__ never ran


class UninitializedTests(FaultTestCase):

    def test_result_before_init_says_not_initialized(self):
        for cls in (FUTURE, TASK):
            obj = cls.__new__(cls)
            with self.subTest(cls=cls):
                with self.assertRaisesRegex(asyncio.InvalidStateError,
                                            'not initialized'):
                    obj.result()
                with self.assertRaisesRegex(asyncio.InvalidStateError,
                                            'not initialized'):
                    obj.exception()

    def test_task_before_init_refuses_what_needs_a_loop(self):
        task = TASK.__new__(TASK)
        self.assertFalse(task.done())
        self.assertFalse(task.cancelled())
        for call in (task.get_loop, task.__await__,
                     lambda: task.add_done_callback(print)):
            with self.subTest(call=call):
                with self.assertRaises(RuntimeError):
                    call()
        with self.assertRaises(RuntimeError):
            task.set_result(1)
        del task
        gc.collect()

    @aioev_only  # asyncio's C Task crashes on get_coro()/get_context()
    def test_task_before_init_introspection_does_not_crash(self):
        task = TASK.__new__(TASK)
        self.assertIsNone(task.get_coro())
        self.assertIsNone(task.get_context())
        self.assertEqual(task.cancelling(), 0)
        self.assertEqual(task.uncancel(), 0)
        task.set_name('renamed')
        self.assertEqual(task.get_name(), 'renamed')
        # Either works or says "not initialized" (asyncio's answer); never
        # an AssertionError from asyncio's Python helpers.
        calls = {'get_stack': task.get_stack,
                 'repr': lambda: repr(task),
                 'print_stack': lambda: task.print_stack(file=io.StringIO())}
        for name, call in calls.items():
            with self.subTest(call=name):
                try:
                    call()
                except RuntimeError as exc:
                    self.assertIn('not initialized', str(exc))
        del task
        gc.collect()

    def test_awaiting_an_uninitialized_future_fails_the_task(self):
        fut = FUTURE.__new__(FUTURE)

        async def waits():
            await fut

        task = self.new_task(waits())
        with self.assertRaisesRegex(RuntimeError, 'initialized'):
            self.loop.run_until_complete(task)


# ---------------------------------------------------------------------------
# __init__ run again


class ReinitTests(FaultTestCase):

    def test_reinit_while_queued_runs_the_new_coroutine(self):
        errors = self.collect_errors()
        old = steps(1, 'old')
        task = self.new_task(old)
        task.__init__(steps(1, 'new'), loop=self.loop)
        old.close()
        self.run_briefly(5)
        self.assertEqual(task.result(), 'new')
        # Both scheduled first steps run: the second finds the task done.
        self.assertEqual(len(errors), 1)
        self.assertIsInstance(errors[0]['exception'], asyncio.InvalidStateError)

    def test_reinit_while_waiting_runs_the_new_coroutine(self):
        errors = self.collect_errors()
        fut = self.loop.create_future()

        async def waits():
            return await fut

        task = self.new_task(waits())
        self.run_briefly()
        task.__init__(steps(1, 'new'), loop=self.loop)
        fut.set_result('old')
        self.run_briefly(5)
        self.assertEqual(task.result(), 'new')
        self.assertEqual(len(errors), 1)
        self.assertIsInstance(errors[0]['exception'], asyncio.InvalidStateError)

    def test_reinit_of_a_done_task_runs_again(self):
        task = self.new_task(steps(1, 'first'))
        self.assertEqual(self.loop.run_until_complete(task), 'first')
        task.__init__(steps(1, 'second'), loop=self.loop)
        self.assertFalse(task.done())
        self.assertEqual(self.loop.run_until_complete(task), 'second')

    def test_reinit_with_a_failing_name_keeps_running(self):
        task = self.new_task(steps(1, 'old'))
        with self.assertRaises(ZeroDivisionError):
            task.__init__(steps(1, 'new'), loop=self.loop, name=BadStr())
        self.run_briefly(5)
        self.assertEqual(task.result(), 'new')

    def test_failed_reinit_while_queued_keeps_the_old_coroutine(self):
        out = self.run_child_case("""
            async def work():
                await asyncio.sleep(0)
                return 'old'
            task = TASK(work(), loop=loop)
            try:
                task.__init__(42, loop=loop)
            except TypeError:
                print('refused')
            for _ in range(5):
                loop.run_until_complete(asyncio.sleep(0))
            print(task.result(), len(errors))
            loop.close()
            """)
        self.assertEqual(out, ['refused', 'old', '0'])

    def test_failed_reinit_while_waiting_keeps_the_old_coroutine(self):
        out = self.run_child_case("""
            fut = loop.create_future()
            async def waits():
                return await fut
            task = TASK(waits(), loop=loop)
            loop.run_until_complete(asyncio.sleep(0))
            try:
                task.__init__(42, loop=loop)
            except TypeError:
                print('refused')
            fut.set_result('old')
            for _ in range(5):
                loop.run_until_complete(asyncio.sleep(0))
            print(task.result(), len(errors))
            loop.close()
            """)
        self.assertEqual(out, ['refused', 'old', '0'])

    def test_failed_reinit_from_inside_the_step(self):
        out = self.run_child_case("""
            async def work():
                try:
                    asyncio.current_task().__init__(42, loop=loop)
                except TypeError:
                    print('refused')
                await asyncio.sleep(0)
                return 'old'
            task = TASK(work(), loop=loop)
            for _ in range(5):
                loop.run_until_complete(asyncio.sleep(0))
            print(task.result(), len(errors))
            loop.close()
            """)
        self.assertEqual(out, ['refused', 'old', '0'])

    @aioev_only  # asyncio's C Task crashes here
    def test_reinit_from_inside_its_own_step(self):
        out = self.run_child_case("""
            async def other():
                await asyncio.sleep(0)
                return 'other'
            async def work():
                asyncio.current_task().__init__(other(), loop=loop)
                await asyncio.sleep(0)
                return 'work'
            task = TASK(work(), loop=loop)
            for _ in range(5):
                loop.run_until_complete(asyncio.sleep(0))
            print(task.result())
            loop.close()
            """)
        self.assertEqual(out, ['other'])

    def test_step_error_is_reported_to_the_loop_running_it(self):
        # A failed __init__ rebinds the task to an object that is no loop;
        # the step already queued on self.loop fails when it reschedules.
        errors = self.collect_errors()

        class NotALoop:
            pass

        task = self.new_task(steps(1, 'old'))
        with self.assertRaises(AttributeError):
            task.__init__(steps(1, 'new'), loop=NotALoop())
        self.run_briefly(3)  # must not raise out of the loop
        self.assertFalse(task.done())
        self.assertEqual(len(errors), 1, errors)
        self.assertIsInstance(errors[0]['exception'], AttributeError)
        task._log_destroy_pending = False


# ---------------------------------------------------------------------------
# Re-entrancy: __del__, done callbacks, collections


class TaskReentrancyTests(FaultTestCase):

    def test_gc_collect_in_done_callbacks(self):
        seen = []

        def collect(task):
            gc.collect()
            seen.append(task.result())

        for i in range(20):
            task = self.new_task(steps(i % 3, i))
            task.add_done_callback(collect)
        del task
        self.run_until(lambda: len(seen) == 20)
        self.assertEqual(sorted(seen), list(range(20)))

    def test_gc_collect_from_a_weakref_callback_of_the_task(self):
        fired = []

        def on_death(ref):
            fired.append(ref)
            gc.collect()

        refs = []
        for i in range(5):
            task = self.new_task(steps(1, i))
            refs.append(weakref.ref(task, on_death))
        del task
        self.run_briefly(5)
        gc.collect()
        self.assertEqual(len(fired), 5)
        self.assertTrue(all(ref() is None for ref in refs))

    def test_coroutine_frame_holds_the_last_reference(self):
        box = {}

        async def owner():
            me = box.pop('task')
            await asyncio.sleep(0)
            del me
            gc.collect()
            return 'done'

        box['task'] = self.new_task(owner())
        ref = weakref.ref(box['task'])
        self.run_briefly(5)
        gc.collect()
        self.assertIsNone(ref())

    def test_coroutine_frame_holds_the_last_reference_and_raises(self):
        errors = self.collect_errors()
        box = {}

        async def owner():
            me = box.pop('task')
            await asyncio.sleep(0)
            del me
            raise ValueError('lost')

        box['task'] = self.new_task(owner())
        self.run_briefly(5)
        gc.collect()
        self.assertEqual(len(errors), 1)
        self.assertIsInstance(errors[0]['exception'], ValueError)

    def test_del_during_a_step_cancels_the_task(self):
        box = {}

        class CancelsOnDel:
            def __del__(self):
                box['cancelled'] = box['task'].cancel('from __del__')

        async def work():
            CancelsOnDel()
            await asyncio.sleep(0)
            return 'not cancelled'

        box['task'] = self.new_task(work())
        with self.assertRaises(asyncio.CancelledError) as cm:
            self.loop.run_until_complete(box['task'])
        self.assertTrue(box['cancelled'])
        self.assertEqual(cm.exception.args, ('from __del__',))

    def test_del_when_the_frame_ends_cancels_the_finished_task(self):
        box = {}

        class CancelsOnDel:
            def __del__(self):
                box['cancelled'] = box['task'].cancel('late')

        async def work():
            keep = CancelsOnDel()  # dies as the coroutine returns
            await asyncio.sleep(0)
            return 'result'

        box['task'] = self.new_task(work())
        with self.assertRaises(asyncio.CancelledError):
            self.loop.run_until_complete(box['task'])
        self.assertTrue(box['cancelled'])

    def test_del_that_drives_another_coroutine(self):
        sent = []

        class Drives:
            def __del__(self):
                coro = asyncio.sleep(0)
                coro.send(None)
                sent.append(True)
                coro.close()

        async def work():
            Drives()
            await asyncio.sleep(0)
            Drives()
            return 3

        self.assertEqual(self.loop.run_until_complete(self.new_task(work())), 3)
        self.assertEqual(sent, [True, True])


# ---------------------------------------------------------------------------
# Awaitables with _asyncio_future_blocking that misbehave


class OddFuture:
    """Duck-typed future; each hook can be made to fail."""

    def __init__(self, loop, blocking=True, get_loop=None, add=None,
                 cancel=None, result=None):
        self._fut = loop.create_future()
        self._loop = loop
        self._blocking = blocking
        self.get_loop_hook = get_loop
        self.add_hook = add
        self.cancel_hook = cancel
        self.result_hook = result
        self.cancel_calls = []

    @property
    def _asyncio_future_blocking(self):
        if isinstance(self._blocking, BaseException):
            raise self._blocking
        return self._blocking

    @_asyncio_future_blocking.setter
    def _asyncio_future_blocking(self, value):
        if self._blocking == 'refuse-reset' and value is False:
            raise KeyError('setter')
        self._blocking = value

    def get_loop(self):
        if self.get_loop_hook is not None:
            return self.get_loop_hook()
        return self._loop

    def add_done_callback(self, fn, *, context=None):
        if self.add_hook is not None:
            return self.add_hook(fn, context)
        self._fut.add_done_callback(lambda _: fn(self), context=context)

    def cancel(self, msg=None):
        self.cancel_calls.append(msg)
        if self.cancel_hook is not None:
            return self.cancel_hook()
        return self._fut.cancel(msg)

    def result(self):
        if self.result_hook is not None:
            self.result_hook()
        return self._fut.result()

    def done(self):
        return self._fut.done()

    def __await__(self):
        yield self
        return self.result()


def raiser(exc):
    def hook(*args):
        raise exc
    return hook


class NotBool:
    def __bool__(self):
        raise ValueError('__bool__')


class DuckFutureFaultTests(FaultTestCase):

    def run_awaiting(self, odd, *, cancel=False):
        """Run a task awaiting odd; returns (task, loop errors)."""
        errors = self.collect_errors()

        async def waits():
            return await odd

        task = self.new_task(waits())
        self.run_briefly(2)
        if cancel:
            task.cancel('stop')
            self.run_briefly(2)
        if not odd.done():
            odd._fut.set_result('R')
        self.run_briefly(3)
        return task, errors

    def assert_step_error(self, task, errors, exc_type):
        self.assertFalse(task.done())
        self.assertEqual(len(errors), 1, errors)
        self.assertIsInstance(errors[0]['exception'], exc_type)
        task._log_destroy_pending = False

    def test_blocking_values_taken_for_true(self):
        for value in (True, 1, 'yes'):
            with self.subTest(value=value):
                task, errors = self.run_awaiting(
                    OddFuture(self.loop, blocking=value))
                self.assertEqual(task.result(), 'R')
                self.assertEqual(errors, [])

    def test_blocking_values_taken_for_false(self):
        for value in (False, 0, ''):
            with self.subTest(value=value):
                task, _ = self.run_awaiting(OddFuture(self.loop, blocking=value))
                with self.assertRaisesRegex(RuntimeError,
                                            'yield was used instead of yield'):
                    task.result()

    def test_blocking_none_is_a_bad_yield(self):
        task, _ = self.run_awaiting(OddFuture(self.loop, blocking=None))
        with self.assertRaisesRegex(RuntimeError, 'Task got bad yield'):
            task.result()

    def test_blocking_getter_raising_attribute_error_is_a_bad_yield(self):
        task, _ = self.run_awaiting(
            OddFuture(self.loop, blocking=AttributeError('no')))
        with self.assertRaisesRegex(RuntimeError, 'Task got bad yield'):
            task.result()

    def test_blocking_getter_raising(self):
        task, errors = self.run_awaiting(
            OddFuture(self.loop, blocking=ZeroDivisionError('getter')))
        self.assert_step_error(task, errors, ZeroDivisionError)

    def test_blocking_value_whose_truth_raises(self):
        task, errors = self.run_awaiting(
            OddFuture(self.loop, blocking=NotBool()))
        self.assert_step_error(task, errors, ValueError)

    def test_blocking_setter_raising(self):
        task, errors = self.run_awaiting(
            OddFuture(self.loop, blocking='refuse-reset'))
        self.assert_step_error(task, errors, KeyError)

    def test_get_loop_raising(self):
        for exc in (ZeroDivisionError('get_loop'), AttributeError('get_loop')):
            with self.subTest(exc=exc):
                task, errors = self.run_awaiting(
                    OddFuture(self.loop, get_loop=raiser(exc)))
                self.assert_step_error(task, errors, type(exc))

    def test_get_loop_returning_garbage_is_another_loop(self):
        task, _ = self.run_awaiting(OddFuture(self.loop, get_loop=lambda: 42))
        with self.assertRaisesRegex(RuntimeError, 'attached to a different loop'):
            task.result()

    def test_add_done_callback_raising(self):
        task, errors = self.run_awaiting(
            OddFuture(self.loop, add=raiser(ZeroDivisionError('add'))))
        self.assert_step_error(task, errors, ZeroDivisionError)

    def test_step_error_is_being_handled_in_the_exception_handler(self):
        # asyncio calls the handler from inside `except`: the handler sees
        # the step's exception in sys.exc_info().
        seen = []

        def handler(loop, context):
            seen.append((context['exception'], sys.exc_info()[1]))
        self.loop.set_exception_handler(handler)

        async def waits():
            return await odd
        odd = OddFuture(self.loop, add=raiser(ZeroDivisionError('add')))
        task = self.new_task(waits())
        self.run_briefly(2)
        self.assertEqual(len(seen), 1)
        exc, handled = seen[0]
        self.assertIsInstance(exc, ZeroDivisionError)
        self.assertIs(handled, exc)
        task._log_destroy_pending = False

    def test_add_done_callback_that_calls_back_twice(self):
        odd = OddFuture(self.loop)

        def add_twice(fn, context):
            for _ in range(2):
                odd._fut.add_done_callback(lambda _: fn(odd), context=context)

        odd.add_hook = add_twice
        task, errors = self.run_awaiting(odd)
        self.assertEqual(task.result(), 'R')
        self.assertEqual(len(errors), 1)
        self.assertIsInstance(errors[0]['exception'], asyncio.InvalidStateError)

    def test_add_done_callback_that_calls_back_at_once(self):
        odd = OddFuture(self.loop)
        odd.add_hook = lambda fn, context: fn(odd)
        task, errors = self.run_awaiting(odd)
        # The wake-up runs inside the task's own step: refused.
        self.assert_step_error(task, errors, RuntimeError)
        self.assertIn('Cannot enter into task', str(errors[0]['exception']))

    def test_add_done_callback_that_never_calls_back(self):
        odd = OddFuture(self.loop, add=lambda fn, context: 'ignored')
        task, errors = self.run_awaiting(odd, cancel=True)
        self.assertEqual(odd.cancel_calls, ['stop'])
        self.assertFalse(task.done())
        self.assertEqual(errors, [])
        task._log_destroy_pending = False

    def test_cancel_of_the_awaited_failing(self):
        # The awaited future's cancel() raises, or returns an object whose
        # truth raises: task.cancel() raises, and the task goes on waiting.
        cases = [(raiser(ZeroDivisionError('cancel')), ZeroDivisionError),
                 (NotBool, ValueError)]
        for cancel, expected in cases:
            with self.subTest(expected=expected.__name__):
                odd = OddFuture(self.loop, cancel=cancel)

                async def waits():
                    return await odd

                task = self.new_task(waits())
                self.run_briefly(2)
                with self.assertRaises(expected):
                    task.cancel('stop')
                odd._fut.set_result('R')
                self.run_briefly(3)
                self.assertEqual(task.result(), 'R')

    def test_result_raising(self):
        cases = [(KeyError('result'), KeyError),
                 (asyncio.CancelledError('r'), asyncio.CancelledError)]
        for exc, expected in cases:
            with self.subTest(exc=exc):
                task, _ = self.run_awaiting(
                    OddFuture(self.loop, result=raiser(exc)))
                with self.assertRaises(expected):
                    task.result()


# ---------------------------------------------------------------------------
# Coroutines written in Python that misbehave


class MyStop(StopIteration):
    pass


class ValuePropertyStop(StopIteration):
    """A StopIteration whose `value` attribute raises: the C field counts."""

    @property
    def value(self):
        raise ZeroDivisionError('value')


class MyBaseException(BaseException):
    pass


class ScriptedCoroutine(collections.abc.Coroutine):
    """send() and throw() follow a script of ('yield'|'return'|'raise', x)."""

    def __init__(self, sends, on_throw=None):
        self.sends = list(sends)
        self.on_throw = on_throw
        self.thrown = []

    @staticmethod
    def act(kind, value):
        if kind == 'yield':
            return value
        if kind == 'return':
            raise StopIteration(value)
        raise value

    def send(self, value):
        if not self.sends:
            raise StopIteration('end')
        return self.act(*self.sends.pop(0))

    def throw(self, typ, val=None, tb=None):
        exc = typ if val is None else val
        self.thrown.append(exc)
        if self.on_throw is None:
            raise exc
        return self.act(*self.on_throw)

    def close(self):
        pass

    def __await__(self):
        return self


class CoroutineLikeTests(FaultTestCase):

    def run_script(self, sends, on_throw=None):
        coro = ScriptedCoroutine(sends, on_throw)
        task = self.new_task(coro)
        for _ in range(3):
            try:
                self.run_briefly()
            except (KeyboardInterrupt, SystemExit):
                pass
        return task, coro

    def test_stop_iteration_subclass_from_send_is_the_result(self):
        task, _ = self.run_script([('raise', MyStop(7))])
        self.assertEqual(task.result(), 7)

    def test_bare_stop_iteration_class_from_send(self):
        task, _ = self.run_script([('raise', StopIteration)])
        self.assertIsNone(task.result())

    def test_stop_iteration_with_a_raising_value_property_from_send(self):
        task, _ = self.run_script([('raise', ValuePropertyStop(3))])
        self.assertEqual(task.result(), 3)

    def test_stop_iteration_with_a_raising_value_property_from_throw(self):
        task, coro = self.run_script([('yield', 42)],
                                     ('raise', ValuePropertyStop(8)))
        self.assertEqual(len(coro.thrown), 1)
        self.assertEqual(task.result(), 8)

    def test_stop_iteration_subclass_from_throw_is_the_result(self):
        task, _ = self.run_script([('yield', 42)], ('raise', MyStop(8)))
        self.assertEqual(task.result(), 8)

    def test_base_exception_subclasses_are_stored(self):
        for exc in (MyBaseException('b'), GeneratorExit(),
                    StopAsyncIteration()):
            with self.subTest(exc=exc):
                task, _ = self.run_script([('raise', exc)])
                self.assertIs(task.exception(), exc)

    def test_keyboard_interrupt_and_system_exit_propagate_and_are_stored(self):
        for exc in (KeyboardInterrupt('k'), SystemExit(3)):
            with self.subTest(exc=exc):
                coro = ScriptedCoroutine([('raise', exc)])
                task = self.new_task(coro)
                with self.assertRaises(type(exc)):
                    self.run_briefly()
                self.assertIs(task.exception(), exc)

    def test_keyboard_interrupt_from_throw(self):
        coro = ScriptedCoroutine([('yield', 42)], ('raise', KeyboardInterrupt()))
        task = self.new_task(coro)
        with self.assertRaises(KeyboardInterrupt):
            self.run_briefly(3)
        self.assertIsInstance(task.exception(), KeyboardInterrupt)

    def test_cancelled_error_from_send_or_throw_cancels(self):
        for sends, on_throw in (
                ([('raise', asyncio.CancelledError('c'))], None),
                ([('yield', 42)], ('raise', asyncio.CancelledError('x')))):
            with self.subTest(sends=sends):
                task, _ = self.run_script(sends, on_throw)
                self.assertTrue(task.cancelled())

    def test_odd_yields_are_thrown_back_in(self):
        for value in (42, 'str', (1, 2), iter([]), self.loop):
            with self.subTest(value=value):
                task, coro = self.run_script([('yield', value)])
                self.assertEqual(len(coro.thrown), 1)
                with self.assertRaisesRegex(RuntimeError, 'Task got bad yield'):
                    task.result()

    def test_yield_of_a_generator(self):
        task, _ = self.run_script([('yield', (x for x in ()))])
        with self.assertRaisesRegex(RuntimeError, 'for generator'):
            task.result()

    def test_yield_of_a_future_that_is_not_blocking(self):
        task, _ = self.run_script([('yield', self.new_future())])
        with self.assertRaisesRegex(RuntimeError, 'instead of yield from'):
            task.result()

    def test_throw_that_yields_none_continues(self):
        task, _ = self.run_script([('yield', 42)], ('yield', None))
        self.assertEqual(task.result(), 'end')

    def test_throw_that_yields_garbage_again_keeps_the_task_going(self):
        coro = ScriptedCoroutine([('yield', 42)], ('yield', 13))
        task = self.new_task(coro)
        self.run_briefly(5)
        self.assertFalse(task.done())
        self.assertGreaterEqual(len(coro.thrown), 4)
        task._log_destroy_pending = False
        coro.on_throw = ('return', 'stopped')
        self.run_briefly(2)
        self.assertEqual(task.result(), 'stopped')


# ---------------------------------------------------------------------------
# The loop closed, stopped, interrupted or patched under a task


class LoopFaultTests(FaultTestCase):

    def test_loop_closed_while_tasks_are_queued(self):
        tasks = [self.new_task(steps(1, i)) for i in range(3)]
        self.loop.close()
        self.assertFalse(any(task.done() for task in tasks))
        for task in tasks:
            task._log_destroy_pending = False
            task.get_coro().close()
        refs = [weakref.ref(task) for task in tasks]
        del tasks, task
        gc.collect()
        self.assertTrue(all(ref() is None for ref in refs))

    def test_loop_closed_while_a_task_waits(self):
        for kind in ('create_future', 'FUTURE'):
            with self.subTest(future=kind):
                loop = support.new_event_loop()
                self.addCleanup(loop.close)
                if kind == 'FUTURE':
                    fut = FUTURE(loop=loop)
                else:
                    fut = loop.create_future()

                async def waits():
                    await fut

                task = TASK(waits(), loop=loop)
                loop.run_until_complete(asyncio.sleep(0))
                loop.close()
                with self.assertRaisesRegex(RuntimeError, 'closed'):
                    fut.set_result(1)
                self.assertTrue(fut.done())
                self.assertTrue(task.cancel())
                self.assertFalse(task.done())
                task._log_destroy_pending = False
                task.get_coro().close()

    def test_loop_closed_with_a_wake_up_queued(self):
        fut = self.new_future()
        woke = []

        async def waits():
            woke.append(await fut)

        task = self.new_task(waits())
        self.run_briefly()
        fut.set_result(1)
        self.loop.close()
        self.assertEqual(woke, [])
        self.assertFalse(task.done())
        task._log_destroy_pending = False
        task.get_coro().close()

    def test_close_from_inside_a_step_is_refused(self):
        refused = []

        async def closes():
            try:
                self.loop.close()
            except RuntimeError as exc:
                refused.append(str(exc))
            await asyncio.sleep(0)
            return 'after'

        task = self.new_task(closes())
        self.assertEqual(self.loop.run_until_complete(task), 'after')
        self.assertEqual(refused, ['Cannot close a running event loop'])

    def test_keyboard_interrupt_in_a_step_then_the_loop_runs_again(self):
        other = self.new_task(steps(2, 'other'))
        calls = []

        async def interrupts():
            calls.append(1)
            raise KeyboardInterrupt

        task = self.new_task(interrupts())
        with self.assertRaises(KeyboardInterrupt):
            self.loop.run_forever()
        self.assertIsInstance(task.exception(), KeyboardInterrupt)
        self.assertFalse(other.done())
        self.assertEqual(self.loop.run_until_complete(other), 'other')

        async def interrupts_later():
            await asyncio.sleep(0)
            raise KeyboardInterrupt

        late = self.new_task(interrupts_later())
        with self.assertRaises(KeyboardInterrupt):
            self.loop.run_forever()
        self.assertIsInstance(late.exception(), KeyboardInterrupt)
        self.assertEqual(calls, [1])
        self.assertEqual(
            self.loop.run_until_complete(self.new_task(steps(1, 'again'))),
            'again')

    def record_call_soon(self, loop):
        calls = []
        original = loop.call_soon

        def call_soon(callback, *args, context=None):
            calls.append(callback)
            return original(callback, *args, context=context)

        return call_soon, calls

    async def awaits_a_future(self, loop):
        await asyncio.sleep(0)
        fut = FUTURE(loop=loop)
        loop.call_later(0.001, fut.set_result, 'R')
        return await fut

    def test_loop_subclass_overriding_call_soon_sees_every_step(self):
        calls = []

        class Loop(type(self.loop)):
            def call_soon(self, callback, *args, context=None):
                calls.append(callback)
                return super().call_soon(callback, *args, context=context)

        loop = Loop()
        self.addCleanup(loop.close)
        task = TASK(self.awaits_a_future(loop), loop=loop)
        self.assertEqual(loop.run_until_complete(task), 'R')
        # first step, step after sleep(0), the future's wake-up of the task,
        # and run_until_complete's own done callback at least.
        self.assertGreaterEqual(len(calls), 4)

    def test_call_soon_replaced_on_the_loop_instance_sees_every_step(self):
        loop = support.new_event_loop()
        self.addCleanup(loop.close)
        loop.call_soon, calls = self.record_call_soon(loop)
        task = TASK(self.awaits_a_future(loop), loop=loop)
        self.assertEqual(loop.run_until_complete(task), 'R')
        self.assertGreaterEqual(len(calls), 4)

    def test_call_soon_replaced_on_the_subclass_after_creation(self):
        class Loop(type(self.loop)):
            pass

        loop = Loop()
        self.addCleanup(loop.close)
        calls = []
        base_call_soon = type(self.loop).call_soon

        def call_soon(self, callback, *args, context=None):
            calls.append(callback)
            return base_call_soon(self, callback, *args, context=context)

        Loop.call_soon = call_soon
        task = TASK(self.awaits_a_future(loop), loop=loop)
        self.assertEqual(loop.run_until_complete(task), 'R')
        self.assertGreaterEqual(len(calls), 4)

    def test_call_soon_override_raising_on_a_step(self):
        errors = []

        class Loop(type(self.loop)):
            fail = False

            def call_soon(self, callback, *args, context=None):
                if self.fail:
                    raise ZeroDivisionError('call_soon')
                return super().call_soon(callback, *args, context=context)

        loop = Loop()
        self.addCleanup(loop.close)
        loop.set_exception_handler(lambda loop, context: errors.append(context))

        async def work():
            loop.fail = True
            await asyncio.sleep(0)  # the next step cannot be scheduled

        task = TASK(work(), loop=loop)
        loop.call_soon(loop.stop)
        loop.run_forever()
        loop.fail = False
        loop.run_until_complete(asyncio.sleep(0))
        self.assertFalse(task.done())
        self.assertEqual(len(errors), 1)
        self.assertIsInstance(errors[0]['exception'], ZeroDivisionError)
        task._log_destroy_pending = False


# ---------------------------------------------------------------------------
# Arguments that misbehave


class ArgumentFaultTests(FaultTestCase):

    def test_cancel_messages_of_any_type(self):
        class EqRaises:
            def __eq__(self, other):
                raise ValueError

            __hash__ = None

        for msg in (42, b'bytes', ('a', 'b'), ['list'], BadStr(), EqRaises()):
            with self.subTest(msg=type(msg).__name__):
                task = self.new_task(steps(5, None))
                self.run_briefly()
                self.assertTrue(task.cancel(msg))
                with self.assertRaises(asyncio.CancelledError) as cm:
                    self.loop.run_until_complete(task)
                self.assertIs(cm.exception.args[0], msg)
                self.assertTrue(task.cancelled())
                with self.assertRaises(asyncio.CancelledError):
                    task.result()
                repr(task)

    def test_cancel_message_of_a_task_not_started(self):
        msg = BadStr()
        task = self.new_task(steps(1, None))
        task.cancel(msg)
        with self.assertRaises(asyncio.CancelledError) as cm:
            self.loop.run_until_complete(task)
        self.assertIs(cm.exception.args[0], msg)

    def test_set_name_with_a_raising_str(self):
        task = self.new_task(steps(0, None), name='kept')
        with self.assertRaises(ZeroDivisionError):
            task.set_name(BadStr())
        self.assertEqual(task.get_name(), 'kept')
        self.loop.run_until_complete(task)

    def test_name_argument_with_a_raising_str(self):
        errors = self.collect_errors()
        coro = steps(0, None)
        with self.assertRaises(ZeroDivisionError):
            self.new_task(coro, name=BadStr())
        coro.close()
        gc.collect()
        # asyncio reports the half-made task as destroyed while pending.
        self.assertEqual([e['message'] for e in errors],
                         ['Task was destroyed but it is pending!'])

    def test_str_subclass_names(self):
        class Name(str):
            def __str__(self):
                return 'converted'

        # Anything but an exact str goes through str().
        task = self.new_task(steps(0, None), name=Name('given'))
        self.assertEqual(task.get_name(), 'converted')
        self.assertIs(type(task.get_name()), str)
        task.set_name(Name('other'))
        self.assertEqual(task.get_name(), 'converted')
        task.set_name(12)
        self.assertEqual(task.get_name(), '12')
        self.loop.run_until_complete(task)

    def test_print_stack_to_a_file_that_raises(self):
        class Broken:
            def write(self, text):
                raise OSError('disk full')

        task = self.new_task(steps(1, None))
        self.run_briefly()
        with self.assertRaisesRegex(OSError, 'disk full'):
            task.print_stack(file=Broken())
        with self.assertRaises(AttributeError):
            task.print_stack(file=42)
        self.loop.run_until_complete(task)

    def test_stack_limits_of_the_wrong_type(self):
        task = self.new_task(steps(1, None))
        self.run_briefly()
        with self.assertRaises(TypeError):
            task.get_stack(limit=BadStr())
        with self.assertRaises(TypeError):
            task.get_stack(1)
        with self.assertRaises(TypeError):
            task.print_stack(None, None)
        self.loop.run_until_complete(task)

    def test_cancel_refuses_extra_arguments(self):
        task = self.new_task(steps(0, None))
        fut = self.new_future()
        for obj in (task, fut):
            with self.subTest(obj=type(obj).__name__):
                with self.assertRaises(TypeError):
                    obj.cancel(1, 2)
                with self.assertRaises(TypeError):
                    obj.cancel(msg=1, other=2)
                with self.assertRaises(TypeError):
                    obj.cancel(1, msg=2)
                self.assertFalse(obj.done())
        self.loop.run_until_complete(task)


# ---------------------------------------------------------------------------
# Contexts


class ContextFaultTests(FaultTestCase):

    def test_context_that_is_not_a_context(self):
        for bad in (42, {}):
            with self.subTest(context=bad):
                errors = self.collect_errors()
                coro = steps(0, None)
                task = self.new_task(coro, context=bad)
                self.run_briefly(2)
                self.assertFalse(task.done())
                self.assertEqual(len(errors), 1)
                self.assertIsInstance(errors[0]['exception'],
                                      (TypeError, AttributeError))
                task._log_destroy_pending = False
                coro.close()

    def test_context_already_entered_when_the_step_runs(self):
        # The step cannot enter its context: the coroutine never starts and
        # the task stays pending.  (asyncio 3.12+ runs the exception handler
        # in that same context, so its report goes to the fallback log.)
        self.collect_errors()
        ctx = contextvars.Context()
        coro = steps(0, None)
        task = self.new_task(coro, context=ctx)
        logger = logging.getLogger('asyncio')
        logger.disabled = True
        try:
            ctx.run(self.run_briefly)
        finally:
            logger.disabled = False
        self.assertFalse(task.done())
        self.assertEqual(inspect.getcoroutinestate(coro), 'CORO_CREATED')
        task._log_destroy_pending = False
        coro.close()

    def test_two_tasks_sharing_one_context(self):
        var = contextvars.ContextVar('var', default='unset')
        ctx = contextvars.Context()
        seen = []

        async def writer():
            var.set('written')
            await asyncio.sleep(0)
            seen.append(('writer', var.get()))

        async def reader():
            seen.append(('reader', var.get()))
            await asyncio.sleep(0)
            seen.append(('reader', var.get()))

        tasks = [self.new_task(writer(), context=ctx),
                 self.new_task(reader(), context=ctx)]
        self.loop.run_until_complete(asyncio.gather(*tasks))
        self.assertEqual(seen, [('reader', 'written'), ('writer', 'written'),
                                ('reader', 'written')])

    @requires_312
    @aioev_only  # asyncio's C Task leaves the current task wrong and hangs
    def test_eager_start_in_an_entered_context(self):
        errors = self.collect_errors()
        outcome = []

        async def child():
            return 'child'

        async def main():
            me = asyncio.current_task()
            coro = child()
            try:
                TASK(coro, loop=self.loop, context=me.get_context(),
                     eager_start=True)
            except RuntimeError as exc:
                outcome.append(str(exc))
            coro.close()
            outcome.append(asyncio.current_task() is me)
            await asyncio.sleep(0)
            return 'main'

        self.assertEqual(self.loop.run_until_complete(self.new_task(main())),
                         'main')
        gc.collect()
        self.assertEqual(len(outcome), 2)
        self.assertIn('already entered', outcome[0])
        self.assertTrue(outcome[1])
        # The task the constructor refused never ran: nothing to report.
        self.assertEqual(errors, [])


# ---------------------------------------------------------------------------
# Eager tasks (3.12+)


@requires_312
class EagerFaultTests(FaultTestCase):

    def setUp(self):
        super().setUp()
        self.loop.set_task_factory(EAGER_TASK_FACTORY)

    def run_main(self, main):
        return self.loop.run_until_complete(main())

    def test_eager_task_that_raises(self):
        async def fails():
            raise ValueError('eager')

        async def main():
            task = self.loop.create_task(fails())
            return task.done(), task.exception()

        done, exc = self.run_main(main)
        self.assertTrue(done)
        self.assertIsInstance(exc, ValueError)

    def test_eager_task_cancelling_itself_then_awaiting(self):
        async def cancels_itself():
            asyncio.current_task().cancel('self')
            await asyncio.sleep(0)
            return 'not reached'

        async def main():
            task = self.loop.create_task(cancels_itself())
            state = (task.done(), task.cancelling())
            try:
                await task
            except asyncio.CancelledError as exc:
                return state, exc.args

        self.assertEqual(self.run_main(main), ((False, 1), ('self',)))

    def test_eager_task_cancelling_itself_and_returning(self):
        async def cancels_itself():
            asyncio.current_task().cancel('self')
            return 'returned'

        async def main():
            task = self.loop.create_task(cancels_itself())
            self.assertTrue(task.cancelled())
            with self.assertRaises(asyncio.CancelledError) as cm:
                task.result()
            return cm.exception.args

        self.assertEqual(self.run_main(main), ('self',))

    def test_eager_task_raising_cancelled_error(self):
        async def raises():
            raise asyncio.CancelledError('ce')

        async def main():
            task = self.loop.create_task(raises())
            return task.done(), task.cancelled()

        self.assertEqual(self.run_main(main), (True, True))

    def test_eager_tasks_creating_eager_tasks(self):
        order = []

        async def nested(n):
            order.append(n)
            if n == 0:
                return 0
            child = self.loop.create_task(nested(n - 1))
            order.append(('child done', child.done()))
            return await child + 1

        async def deep(n):
            if n == 0:
                return 'bottom'
            return await self.loop.create_task(deep(n - 1))

        async def main():
            task = self.loop.create_task(nested(3))
            deep_task = self.loop.create_task(deep(100))
            return await task, deep_task.done(), await deep_task

        self.assertEqual(self.run_main(main), (3, True, 'bottom'))
        self.assertEqual(order, [3, 2, 1, 0] + [('child done', True)] * 3)

    def test_eager_chain_as_deep_as_on_asyncio(self):
        # Each level is a create_task inside an eager step. asyncio's
        # create_task and eager factory are Python frames run in the step's
        # own evaluation; aioev's create_task is C, so a factory it called
        # back into would cost a nested evaluation per level and reach only
        # about three quarters of asyncio's depth (a half on a debug build).
        def depth(loop, factory):
            loop.set_task_factory(factory)
            reached = 0

            async def deep(n):
                nonlocal reached
                reached = max(reached, n)
                coro = deep(n + 1)
                try:
                    task = loop.create_task(coro)
                except RecursionError:
                    coro.close()
                    return n
                try:
                    return await task
                except RecursionError:
                    return n

            try:
                loop.run_until_complete(deep(0))
            finally:
                loop.set_task_factory(None)
            return reached

        reference = asyncio.new_event_loop()
        self.addCleanup(reference.close)
        expected = depth(reference, asyncio.eager_task_factory)
        self.assertGreater(expected, 50)
        self.assertGreaterEqual(depth(self.loop, EAGER_TASK_FACTORY), expected)
        self.assertGreaterEqual(depth(self.loop, asyncio.eager_task_factory), expected)

    def test_eager_task_awaiting_itself(self):
        errors = self.collect_errors()

        async def awaits_itself():
            await asyncio.current_task()

        async def main():
            task = self.loop.create_task(awaits_itself())
            self.assertFalse(task.done())
            with self.assertRaisesRegex(RuntimeError, "await wasn't used"):
                await task
            return asyncio.current_task()

        me = self.run_main(main)
        self.assertIsNotNone(me)
        del me
        gc.collect()
        self.assertTrue(all('never retrieved' in e['message'] for e in errors))

    def test_current_task_restored_after_an_eager_step(self):
        async def current():
            return asyncio.current_task()

        async def main():
            task = self.loop.create_task(current())
            return task.result() is task, asyncio.current_task()

        is_itself, after = self.loop.run_until_complete(
            self.loop.create_task(main()))
        self.assertTrue(is_itself)
        self.assertIsNotNone(after)

    def test_keyboard_interrupt_in_an_eager_step(self):
        self.collect_errors()

        async def interrupts():
            raise KeyboardInterrupt

        async def main():
            with self.assertRaises(KeyboardInterrupt):
                self.loop.create_task(interrupts())
            return 'main'

        self.assertEqual(self.run_main(main), 'main')


# ---------------------------------------------------------------------------
# Threads and collections at awkward moments


class ThreadAndGCTests(FaultTestCase):

    def test_threads_calling_cancel_and_done_while_the_loop_runs(self):
        self.collect_errors()
        tasks = [self.new_task(steps(30, i)) for i in range(100)]
        stop = threading.Event()

        def poke():
            k = 0
            while not stop.is_set():
                task = tasks[k % len(tasks)]
                k += 1
                task.done()
                task.cancelled()
                task.cancelling()
                if k % 7 == 0:
                    task.cancel()
                if k % 13 == 0:
                    task.get_name()
                    repr(task)
                if k % 17 == 0:
                    task.uncancel()

        threads = [threading.Thread(target=poke) for _ in range(3)]
        for thread in threads:
            thread.start()
        try:
            for _ in range(50):
                self.run_briefly()
        finally:
            stop.set()
            for thread in threads:
                thread.join()
        for task in tasks:
            task.cancel()
        self.loop.run_until_complete(
            asyncio.gather(*tasks, return_exceptions=True))
        self.assertTrue(all(task.done() for task in tasks))

    def test_loop_dropped_with_tasks_queued(self):
        loop = support.new_event_loop()
        tasks = [TASK(steps(3, i), loop=loop) for i in range(5)]
        ref = weakref.ref(loop)
        for task in tasks:
            task._log_destroy_pending = False
        loop.close()
        del loop
        gc.collect()
        for task in tasks:
            task.get_coro().close()
        del tasks, task
        gc.collect()
        self.assertIsNone(ref())

    def test_loop_in_a_cycle_with_its_queued_and_waking_tasks(self):
        loop = support.new_event_loop()
        fut = FUTURE(loop=loop)

        async def waits():
            await fut

        waiting = [TASK(waits(), loop=loop) for _ in range(3)]
        loop.run_until_complete(asyncio.sleep(0))
        fut.set_result(1)  # wake-ups queued
        queued = [TASK(steps(2, i), loop=loop) for i in range(3)]
        for task in waiting + queued:
            task._log_destroy_pending = False
        loop._keep = (waiting, queued, fut)
        ref = weakref.ref(loop)
        del loop, waiting, queued, fut, task
        gc.collect()
        self.assertIsNone(ref())

    def test_gc_collect_between_steps_of_many_tasks(self):
        class Node:
            pass

        async def churn():
            for _ in range(20):
                node = Node()
                node.self = node
                node.task = asyncio.current_task()
                await asyncio.sleep(0)
                gc.collect()
            return 1

        tasks = [self.new_task(churn()) for _ in range(5)]
        self.assertEqual(
            self.loop.run_until_complete(asyncio.gather(*tasks)), [1] * 5)


if __name__ == '__main__':
    unittest.main()
