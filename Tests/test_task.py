"""The native Task (aioev.Task): its API, cancellation, lifetime and memory.

Every test runs on the Task class under test: aioev.Task on an aioev loop
(the default) and asyncio.Task on asyncio's own loop with
AIOEV_TEST_LOOP=asyncio, so each assertion is checked against asyncio's
behaviour first.  Tasks made by asyncio's helpers (gather, wait_for,
TaskGroup, ...) are of the class under test too: the test loops get a task
factory that makes them.
"""

import asyncio
import collections.abc
import contextlib
import contextvars
import gc
import io
import re
import sys
import threading
import time
import types
import unittest
import weakref

from . import support
from .support import LoopTestCase, PY_VERSION, USING_AIOEV, aioev_only


# The classes under test: the one place that picks aioev's or asyncio's.
if USING_AIOEV:
    aioev = support.import_aioev()
    TASK = aioev.Task
    FUTURE = aioev.Future
    EAGER_TASK_FACTORY = getattr(aioev, 'eager_task_factory', None)
else:
    aioev = None
    TASK = asyncio.Task
    FUTURE = asyncio.Future
    EAGER_TASK_FACTORY = getattr(asyncio, 'eager_task_factory', None)

HERE = re.escape(__file__)
# A task's coroutine in its repr, then its done callbacks if any.
CORO_AND_CB = r'coro=<.+>(?: cb=\[.+\])?'
cvar = contextvars.ContextVar('cvar', default='default')

requires_312 = unittest.skipIf(PY_VERSION < (3, 12), 'new in Python 3.12')


class CountedArg:
    """A fresh object whose reference count only the test touches."""


async def answer():
    return 42


async def sleeper(delay=3600, result=None):
    await asyncio.sleep(delay)
    return result


async def fail_with(exc):
    raise exc


class Yield:
    """An awaitable whose __await__ is a plain generator yielding value."""

    def __init__(self, value):
        self.value = value

    def __await__(self):
        return (yield self.value)


class DuckFuture:
    """Not an asyncio.Future, but awaitable by a task: it has
    _asyncio_future_blocking, get_loop, add_done_callback, result, cancel."""

    def __init__(self, loop):
        self._fut = loop.create_future()
        self._asyncio_future_blocking = False
        self.callbacks_added = 0

    def get_loop(self):
        return self._fut.get_loop()

    def add_done_callback(self, fn, *, context=None):
        self.callbacks_added += 1
        self._fut.add_done_callback(lambda _: fn(self), context=context)

    def remove_done_callback(self, fn):
        return 0

    def done(self):
        return self._fut.done()

    def cancelled(self):
        return self._fut.cancelled()

    def result(self):
        return self._fut.result()

    def exception(self):
        return self._fut.exception()

    def cancel(self, msg=None):
        return self._fut.cancel(msg)

    def set_result(self, value):
        self._fut.set_result(value)

    def __await__(self):
        if not self.done():
            self._asyncio_future_blocking = True
            yield self
        return self.result()


class ManualCoroutine(collections.abc.Coroutine):
    """A coroutine written in Python: bare yields, then its result."""

    def __init__(self, yields, result):
        self.yields = yields
        self.result = result
        self.sent = []
        self.thrown = []

    def send(self, value):
        self.sent.append(value)
        if self.yields:
            self.yields -= 1
            return None
        raise StopIteration(self.result)

    def throw(self, typ, val=None, tb=None):
        exc = typ if val is None else val
        self.thrown.append(exc)
        raise exc

    def close(self):
        pass

    def __await__(self):
        return self


def task_factory(loop, coro, **kwargs):
    return TASK(coro, loop=loop, **kwargs)


class TaskTestCase(LoopTestCase):
    """A loop whose create_task (and so every asyncio helper) makes TASKs."""

    def setUp(self):
        super().setUp()
        self.loop.set_task_factory(task_factory)

    def new_task(self, coro, **kwargs):
        return TASK(coro, loop=self.loop, **kwargs)

    def run_task(self, coro, **kwargs):
        return self.loop.run_until_complete(self.new_task(coro, **kwargs))

    def assert_raises_cancelled(self, task, args=()):
        with self.assertRaises(asyncio.CancelledError) as cm:
            self.loop.run_until_complete(task)
        self.assertEqual(cm.exception.args, args)
        self.assertTrue(task.cancelled())


# ---------------------------------------------------------------------------
# Construction


class TaskConstructionTests(TaskTestCase):

    def test_task_is_a_future_of_its_loop(self):
        task = self.new_task(answer())
        self.assertTrue(asyncio.isfuture(task))
        self.assertIsInstance(task, asyncio.Future)
        self.assertIsInstance(task, asyncio.Task)
        self.assertTrue(issubclass(TASK, asyncio.Task))
        self.assertIs(task.get_loop(), self.loop)
        self.assertIs(task._loop, self.loop)
        self.assertIs(asyncio.ensure_future(task), task)
        self.loop.run_until_complete(task)

    def test_task_runs_its_coroutine_to_the_result(self):
        self.assertEqual(self.run_task(answer()), 42)

    def test_task_is_not_run_at_construction(self):
        ran = []

        async def body():
            ran.append(True)
        task = self.new_task(body())
        self.assertEqual(ran, [])
        self.assertFalse(task.done())
        self.loop.run_until_complete(task)
        self.assertEqual(ran, [True])

    def test_constructor_rejects_non_coroutines(self):
        for bad in (1, None, answer):
            with self.subTest(bad=bad):
                expected = re.escape(f'a coroutine was expected, got {bad!r}')
                with self.assertRaisesRegex(TypeError, f'^{expected}$'):
                    self.new_task(bad)

    def test_loop_defaults_to_the_running_loop(self):
        async def main():
            task = TASK(answer())
            return task.get_loop(), await task
        loop, result = self.run_task(main())
        self.assertIs(loop, self.loop)
        self.assertEqual(result, 42)

    def test_name_given(self):
        task = self.new_task(answer(), name='the answer')
        self.assertEqual(task.get_name(), 'the answer')
        self.loop.run_until_complete(task)

    def test_default_name_is_task_and_a_growing_number(self):
        first = self.new_task(answer())
        second = self.new_task(answer())
        m1 = re.fullmatch(r'Task-(\d+)', first.get_name())
        m2 = re.fullmatch(r'Task-(\d+)', second.get_name())
        self.assertIsNotNone(m1, first.get_name())
        self.assertIsNotNone(m2, second.get_name())
        self.assertGreater(int(m2.group(1)), int(m1.group(1)))
        self.loop.run_until_complete(asyncio.gather(first, second))

    def test_name_is_converted_with_str(self):
        task = self.new_task(answer(), name=123)
        self.assertEqual(task.get_name(), '123')
        self.loop.run_until_complete(task)

    def test_set_name_converts_with_str(self):
        class Named:
            def __str__(self):
                return 'from __str__'
        task = self.new_task(answer())
        task.set_name(Named())
        self.assertEqual(task.get_name(), 'from __str__')
        task.set_name(7)
        self.assertEqual(task.get_name(), '7')
        self.loop.run_until_complete(task)

    def test_context_argument_runs_the_coroutine_in_it(self):
        ctx = contextvars.Context()
        ctx.run(cvar.set, 'task ctx')

        async def body():
            seen = cvar.get()
            cvar.set('changed')
            await asyncio.sleep(0)
            return seen, cvar.get()
        self.assertEqual(self.run_task(body(), context=ctx),
                         ('task ctx', 'changed'))
        self.assertEqual(ctx[cvar], 'changed')
        self.assertEqual(cvar.get(), 'default')

    def test_current_context_is_copied_by_default(self):
        async def body():
            seen = cvar.get()
            cvar.set('inside')
            return seen
        token = cvar.set('outside')
        try:
            task = self.new_task(body())
        finally:
            cvar.reset(token)
        self.assertEqual(self.loop.run_until_complete(task), 'outside')
        self.assertEqual(cvar.get(), 'default')

    def test_subclass_from_python(self):
        class MyTask(TASK):
            extra = 'attribute'

            def cancel(self, msg=None):
                self.cancel_calls = getattr(self, 'cancel_calls', 0) + 1
                return super().cancel(msg)
        task = MyTask(sleeper(), loop=self.loop, name='sub')
        self.assertIsInstance(task, TASK)
        self.assertEqual(task.extra, 'attribute')
        self.assertRegex(repr(task), r"^<MyTask pending name='sub' coro=<")
        self.run_briefly()
        self.assertTrue(task.cancel())
        self.assertEqual(task.cancel_calls, 1)
        self.assert_raises_cancelled(task)

    def test_subclass_instances_take_new_attributes(self):
        class MyTask(TASK):
            pass
        task = MyTask(answer(), loop=self.loop)
        task.anything = 1
        self.assertEqual(task.anything, 1)
        self.loop.run_until_complete(task)

    def test_class_subscription_gives_a_generic_alias(self):
        alias = TASK[int]
        self.assertIsInstance(alias, types.GenericAlias)
        self.assertIs(alias.__origin__, TASK)
        self.assertEqual(alias.__args__, (int,))

    def test_keyword_only_arguments(self):
        coro = answer()
        with self.assertRaises(TypeError):
            TASK(coro, self.loop)
        task = self.new_task(coro)
        with self.assertRaises(TypeError):
            task.add_done_callback(print, contextvars.copy_context())
        with self.assertRaises(TypeError):
            task.get_stack(1)
        with self.assertRaises(TypeError):
            task.print_stack(1)
        self.assertTrue(task.cancel(msg='by keyword'))
        self.assert_raises_cancelled(task, ('by keyword',))

    def test_task_supports_weak_references(self):
        task = self.new_task(answer())
        ref = weakref.ref(task)
        self.assertIs(ref(), task)
        self.loop.run_until_complete(task)

    def test_creation_on_a_closed_loop_raises_and_reports_the_task(self):
        # The first step cannot be scheduled; the half-made task is then
        # collected as a pending task.
        other = support.new_event_loop()
        errors = []
        other.set_exception_handler(lambda loop, ctx: errors.append(ctx))
        other.close()
        coro = answer()
        with self.assertRaisesRegex(RuntimeError, '^Event loop is closed$'):
            TASK(coro, loop=other)
        gc.collect()
        self.assertEqual([c['message'] for c in errors],
                         ['Task was destroyed but it is pending!'])
        self.assertIs(errors[0]['task'].get_coro(), coro)
        coro.close()


# ---------------------------------------------------------------------------
# Results and the Future behaviour underneath


class TaskResultTests(TaskTestCase):

    def test_result_before_done_raises_invalid_state(self):
        task = self.new_task(answer())
        with self.assertRaisesRegex(asyncio.InvalidStateError,
                                    r'^Result is not set\.$'):
            task.result()
        self.loop.run_until_complete(task)

    def test_exception_before_done_raises_invalid_state(self):
        task = self.new_task(answer())
        with self.assertRaisesRegex(asyncio.InvalidStateError,
                                    r'^Exception is not set\.$'):
            task.exception()
        self.loop.run_until_complete(task)

    def test_result_and_exception_after_success(self):
        task = self.new_task(answer())
        self.loop.run_until_complete(task)
        self.assertTrue(task.done())
        self.assertFalse(task.cancelled())
        self.assertEqual(task.result(), 42)
        self.assertIsNone(task.exception())

    def test_result_and_exception_after_failure(self):
        exc = ValueError('boom')
        task = self.new_task(fail_with(exc))
        with self.assertRaises(ValueError) as cm:
            self.loop.run_until_complete(task)
        self.assertIs(cm.exception, exc)
        self.assertIs(task.exception(), exc)
        with self.assertRaises(ValueError) as cm:
            task.result()
        self.assertIs(cm.exception, exc)
        self.assertFalse(task.cancelled())

    def test_set_result_is_refused(self):
        task = self.new_task(answer())
        with self.assertRaisesRegex(
                RuntimeError, '^Task does not support set_result operation$'):
            task.set_result(1)
        self.assertEqual(self.loop.run_until_complete(task), 42)

    def test_set_exception_is_refused(self):
        task = self.new_task(answer())
        with self.assertRaisesRegex(
                RuntimeError,
                '^Task does not support set_exception operation$'):
            task.set_exception(ValueError())
        self.assertEqual(self.loop.run_until_complete(task), 42)

    def test_future_set_result_called_on_a_task_completes_it(self):
        task = self.new_task(sleeper())
        self.run_briefly()
        asyncio.Future.set_result(task, 'forced')
        self.assertTrue(task.done())
        self.assertEqual(task.result(), 'forced')
        task.get_coro().close()

    def test_stop_iteration_from_the_coroutine_becomes_runtime_error(self):
        async def body():
            raise StopIteration('stop')
        task = self.new_task(body())
        with self.assertRaisesRegex(RuntimeError,
                                    '^coroutine raised StopIteration$'):
            self.loop.run_until_complete(task)
        self.assertIsInstance(task.exception().__cause__, StopIteration)

    def test_exception_chain_set_inside_the_coroutine_is_kept(self):
        async def body():
            try:
                raise KeyError('first')
            except KeyError:
                raise ValueError('second')
        task = self.new_task(body())
        with self.assertRaises(ValueError):
            self.loop.run_until_complete(task)
        self.assertIsInstance(task.exception().__context__, KeyError)

    def test_log_traceback_only_settable_to_false(self):
        task = self.new_task(fail_with(ValueError()))
        self.run_briefly()
        self.assertTrue(task._log_traceback)
        with self.assertRaisesRegex(
                ValueError, '^_log_traceback can only be set to False$'):
            task._log_traceback = True
        task._log_traceback = False
        self.assertFalse(task._log_traceback)

    def test_exception_retrieval_clears_log_traceback(self):
        task = self.new_task(fail_with(ValueError()))
        self.run_briefly()
        self.assertTrue(task._log_traceback)
        task.exception()
        self.assertFalse(task._log_traceback)

    def test_private_state_attributes(self):
        fut = self.loop.create_future()

        async def body():
            return await fut
        task = self.new_task(body())
        self.assertEqual(task._state, 'PENDING')
        self.assertIs(task._coro, task.get_coro())
        self.assertIsNone(task._fut_waiter)
        self.assertFalse(task._must_cancel)
        self.assertTrue(task._log_destroy_pending)
        self.assertIsNone(task._source_traceback)
        self.run_briefly()
        self.assertIs(task._fut_waiter, fut)
        fut.set_result('r')
        self.loop.run_until_complete(task)
        self.assertEqual(task._state, 'FINISHED')
        self.assertEqual(task._result, 'r')
        self.assertIsNone(task._exception)
        self.assertIsNone(task._fut_waiter)

    def test_private_state_after_failure_and_cancel(self):
        exc = ValueError('x')
        failed = self.new_task(fail_with(exc))
        cancelled = self.new_task(sleeper())
        self.run_briefly()
        cancelled.cancel()
        self.run_briefly()
        self.assertEqual(failed._state, 'FINISHED')
        self.assertIs(failed._exception, exc)
        self.assertIsNone(failed._result)
        self.assertEqual(cancelled._state, 'CANCELLED')
        failed.exception()

    def test_source_traceback_in_debug_mode(self):
        self.loop.set_debug(True)
        task = self.new_task(answer())
        tb = task._source_traceback
        self.assertTrue(tb)
        self.assertEqual(tb[-1].name, 'new_task')
        self.assertEqual(tb[-2].name,
                         'test_source_traceback_in_debug_mode')
        self.loop.run_until_complete(task)


# ---------------------------------------------------------------------------
# Cancellation: the API


class TaskCancelTests(TaskTestCase):

    def test_cancel_returns_true_while_pending_and_false_when_done(self):
        task = self.new_task(sleeper())
        self.run_briefly()
        self.assertTrue(task.cancel())
        self.assertFalse(task.cancelled())  # not until the next step
        self.assert_raises_cancelled(task)
        self.assertFalse(task.cancel())
        done = self.new_task(answer())
        self.loop.run_until_complete(done)
        self.assertFalse(done.cancel())
        self.assertEqual(done.cancelling(), 0)
        self.assertEqual(done.result(), 42)

    def test_cancel_before_the_first_step_never_runs_the_coroutine(self):
        ran = []

        async def body():
            ran.append(True)
        coro = body()
        task = self.new_task(coro)
        self.assertTrue(task.cancel())
        self.assertTrue(task._must_cancel)
        self.assert_raises_cancelled(task)
        self.assertEqual(ran, [])
        self.assertIsNone(coro.cr_frame)  # closed

    def test_cancel_message_reaches_the_coroutine(self):
        seen = []

        async def body():
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError as exc:
                seen.append(exc.args)
                raise
        task = self.new_task(body())
        self.run_briefly()
        task.cancel('the message')
        self.assert_raises_cancelled(task, ('the message',))
        self.assertEqual(seen, [('the message',)])

    def test_cancel_message_before_the_first_step(self):
        task = self.new_task(answer())
        task.cancel('early')
        self.assert_raises_cancelled(task, ('early',))

    def test_cancel_without_message_has_no_args(self):
        task = self.new_task(sleeper())
        self.run_briefly()
        task.cancel()
        self.assert_raises_cancelled(task, ())

    def test_make_cancelled_error_carries_the_message(self):
        task = self.new_task(sleeper())
        self.run_briefly()
        task.cancel('msg')
        self.run_briefly(2)
        self.assertTrue(task.cancelled())
        exc = task._make_cancelled_error()
        self.assertIsInstance(exc, asyncio.CancelledError)
        self.assertEqual(exc.args, ('msg',))

    def test_cancel_message_reaches_a_task_awaiting_the_cancelled_task(self):
        inner = self.new_task(sleeper())

        async def outer():
            try:
                await inner
            except asyncio.CancelledError as exc:
                return exc.args, exc.__context__
        task = self.new_task(outer())
        self.run_briefly()
        self.loop.call_soon(inner.cancel, 'msg')
        args, context = self.loop.run_until_complete(task)
        self.assertEqual(args, ('msg',))
        self.assertIsNone(context)

    def test_cancelling_counts_cancel_requests(self):
        task = self.new_task(sleeper())
        self.assertEqual(task.cancelling(), 0)
        self.run_briefly()
        self.assertTrue(task.cancel())
        self.assertEqual(task.cancelling(), 1)
        self.assertTrue(task.cancel())
        self.assertEqual(task.cancelling(), 2)
        self.assert_raises_cancelled(task)
        self.assertEqual(task.cancelling(), 2)

    def test_uncancel_decrements_and_stops_at_zero(self):
        task = self.new_task(sleeper())
        self.run_briefly()
        task.cancel()
        task.cancel()
        self.assertEqual(task.uncancel(), 1)
        self.assertEqual(task.uncancel(), 0)
        self.assertEqual(task.uncancel(), 0)
        self.assertEqual(task.cancelling(), 0)
        # The waiter was cancelled already: the task is cancelled anyway.
        self.assert_raises_cancelled(task)

    def test_uncancel_to_zero_before_the_first_step(self):
        # 3.13 forgets the pending cancel when the count reaches 0;
        # 3.11 and 3.12 still deliver it.
        task = self.new_task(answer())
        task.cancel()
        self.assertEqual(task.uncancel(), 0)
        if PY_VERSION >= (3, 13):
            self.assertFalse(task._must_cancel)
            self.assertEqual(self.loop.run_until_complete(task), 42)
        else:
            self.assertTrue(task._must_cancel)
            self.assert_raises_cancelled(task)

    def test_uncancel_to_zero_while_queued_after_sleep_zero(self):
        steps = []

        async def body():
            steps.append(1)
            await asyncio.sleep(0)
            steps.append(2)
            return 'finished'
        task = self.new_task(body())
        self.run_briefly()
        self.assertEqual(steps, [1])
        task.cancel()
        task.uncancel()
        if PY_VERSION >= (3, 13):
            self.assertEqual(self.loop.run_until_complete(task), 'finished')
            self.assertEqual(steps, [1, 2])
        else:
            self.assert_raises_cancelled(task)
            self.assertEqual(steps, [1])

    def test_uncancel_to_one_keeps_the_pending_cancel(self):
        task = self.new_task(answer())
        task.cancel()
        task.cancel()
        self.assertEqual(task.uncancel(), 1)
        self.assertTrue(task._must_cancel)
        self.assert_raises_cancelled(task)

    def test_self_cancel_takes_effect_at_the_next_await(self):
        steps = []

        async def body():
            asyncio.current_task().cancel('self')
            steps.append('after cancel')
            await asyncio.sleep(0)
            steps.append('not reached')
        task = self.new_task(body())
        self.assert_raises_cancelled(task, ('self',))
        self.assertEqual(steps, ['after cancel'])

    def test_coroutine_catching_cancel_and_returning(self):
        async def body():
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                return 'caught'
        task = self.new_task(body())
        self.run_briefly()
        task.cancel()
        self.assertEqual(self.loop.run_until_complete(task), 'caught')
        self.assertFalse(task.cancelled())
        self.assertEqual(task.cancelling(), 1)

    def test_coroutine_catching_cancel_and_continuing(self):
        fut = self.loop.create_future()

        async def body():
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                pass
            await asyncio.sleep(0)
            return await fut
        task = self.new_task(body())
        self.run_briefly()
        task.cancel()
        self.run_briefly(3)
        self.assertFalse(task.done())
        self.assertIs(task._fut_waiter, fut)
        fut.set_result('continued')
        self.assertEqual(self.loop.run_until_complete(task), 'continued')

    def test_coroutine_catching_cancel_then_cancelled_again(self):
        async def body():
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                pass
            await asyncio.sleep(3600)
        task = self.new_task(body())
        self.run_briefly()
        task.cancel('first')
        self.run_briefly(2)
        self.assertFalse(task.done())
        task.cancel('second')
        self.assert_raises_cancelled(task, ('second',))
        self.assertEqual(task.cancelling(), 2)

    def test_coroutine_raising_cancelled_error_itself_cancels_the_task(self):
        task = self.new_task(fail_with(asyncio.CancelledError('own')))
        self.assert_raises_cancelled(task, ('own',))
        self.assertEqual(task.cancelling(), 0)

    def test_cancel_absorbed_by_an_awaited_task_that_returns(self):
        # The cancel goes to the awaited task; if that one returns a value,
        # the awaiting task gets the value and carries on, as in asyncio.
        async def stubborn():
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                return 'inner value'
        inner = self.new_task(stubborn())

        async def outer():
            return await inner
        task = self.new_task(outer())
        self.run_briefly()
        self.assertTrue(task.cancel())
        self.assertEqual(self.loop.run_until_complete(task), 'inner value')
        self.assertFalse(task.cancelled())
        self.assertEqual(task.cancelling(), 1)
        self.assertEqual(inner.cancelling(), 1)

    def test_cancel_of_the_waited_future_with_the_message(self):
        fut = self.loop.create_future()

        async def body():
            await fut
        task = self.new_task(body())
        self.run_briefly()
        task.cancel('why')
        self.assertTrue(fut.cancelled())
        with self.assertRaises(asyncio.CancelledError) as cm:
            fut.result()
        self.assertEqual(cm.exception.args, ('why',))
        self.assert_raises_cancelled(task, ('why',))

    def test_cancelled_error_raised_by_result_of_cancelled_task(self):
        task = self.new_task(sleeper())
        self.run_briefly()
        task.cancel()
        self.run_briefly(2)
        with self.assertRaises(asyncio.CancelledError):
            task.result()
        with self.assertRaises(asyncio.CancelledError):
            task.exception()


# ---------------------------------------------------------------------------
# Cancellation at every await point


class CancellationAtAwaitPointTests(TaskTestCase):

    def cancel_at(self, make_awaitable, *, settle=1, message='stop'):
        """Run a task until it waits in make_awaitable(), cancel it there.

        Checks that the CancelledError with the message is raised at that
        await, seen by the coroutine, and that the task ends cancelled.
        """
        reached = []
        caught = []
        after = []

        async def body():
            awaitable = make_awaitable()
            reached.append(True)
            try:
                await awaitable
            except asyncio.CancelledError as exc:
                caught.append(exc.args)
                raise
            after.append('not cancelled')
        task = self.new_task(body())
        self.run_briefly(settle)
        self.assertEqual(reached, [True])
        self.assertFalse(task.done())
        self.assertTrue(task.cancel(message))
        self.assert_raises_cancelled(task, (message,))
        self.assertEqual(caught, [(message,)])
        self.assertEqual(after, [])
        return task

    def test_awaiting_an_asyncio_future(self):
        fut = self.loop.create_future()
        self.cancel_at(lambda: fut)
        self.assertTrue(fut.cancelled())

    def test_awaiting_a_future_of_the_class_under_test(self):
        fut = FUTURE(loop=self.loop)
        self.cancel_at(lambda: fut)
        self.assertTrue(fut.cancelled())

    def test_awaiting_a_python_future_subclass(self):
        class MyFuture(asyncio.Future):
            pass
        fut = MyFuture(loop=self.loop)
        self.cancel_at(lambda: fut)
        self.assertTrue(fut.cancelled())

    def test_awaiting_a_duck_typed_future(self):
        duck = DuckFuture(self.loop)
        self.cancel_at(lambda: duck)
        self.assertTrue(duck.cancelled())
        self.assertEqual(duck.callbacks_added, 1)

    def test_awaiting_another_task(self):
        inner = self.new_task(sleeper())
        self.cancel_at(lambda: inner)
        self.assertTrue(inner.cancelled())

    def test_awaiting_a_coroutine(self):
        self.cancel_at(lambda: sleeper())

    def test_awaiting_sleep_zero(self):
        # After sleep(0) the task is queued, not waiting on a future: the
        # cancel is delivered by the next step.
        task = self.cancel_at(lambda: asyncio.sleep(0))
        self.assertIsNone(task._fut_waiter)

    def test_awaiting_a_bare_yield(self):
        self.cancel_at(lambda: Yield(None))

    def test_awaiting_sleep(self):
        started = time.monotonic()
        self.cancel_at(lambda: asyncio.sleep(3600))
        self.assertLess(time.monotonic() - started, 10)

    def test_awaiting_a_lock(self):
        lock = asyncio.Lock()
        self.loop.run_until_complete(lock.acquire())
        self.cancel_at(lambda: lock.acquire())
        self.assertTrue(lock.locked())
        lock.release()
        # The cancelled waiter is gone: the next acquire gets the lock.
        self.assertTrue(self.run_coro(lock.acquire(), timeout=5))
        lock.release()

    def test_awaiting_a_queue(self):
        queue = asyncio.Queue()
        self.cancel_at(lambda: queue.get())
        queue.put_nowait('item')
        self.assertEqual(queue.get_nowait(), 'item')

    def test_awaiting_an_event(self):
        event = asyncio.Event()
        self.cancel_at(lambda: event.wait())
        event.set()
        self.assertTrue(self.run_coro(event.wait(), timeout=5))

    def test_awaiting_a_semaphore(self):
        sem = asyncio.Semaphore(0)
        self.cancel_at(lambda: sem.acquire())
        sem.release()
        self.assertTrue(self.run_coro(sem.acquire(), timeout=5))

    def test_awaiting_a_condition(self):
        cond = asyncio.Condition()

        async def wait_on_condition():
            async with cond:
                await cond.wait()
        self.cancel_at(wait_on_condition)
        self.assertFalse(cond.locked())

    def test_awaiting_gather(self):
        children = []

        def make():
            children.extend([self.new_task(sleeper()),
                             self.new_task(sleeper())])
            return asyncio.gather(*children)
        self.cancel_at(make, settle=2)
        self.run_briefly()
        self.assertTrue(all(child.cancelled() for child in children))

    def test_awaiting_wait_for(self):
        inner = self.new_task(sleeper())
        self.cancel_at(lambda: asyncio.wait_for(inner, 3600), settle=2)
        self.run_briefly()
        self.assertTrue(inner.cancelled())

    def test_awaiting_a_shielded_task(self):
        inner = self.new_task(sleeper(0.01, 'inner result'))
        self.cancel_at(lambda: asyncio.shield(inner))
        self.assertFalse(inner.cancelled())
        self.assertEqual(self.loop.run_until_complete(inner), 'inner result')

    def test_awaiting_inside_a_timeout_block(self):
        async def in_timeout():
            async with asyncio.timeout(3600):
                await asyncio.sleep(3600)
        self.cancel_at(in_timeout)

    def test_awaiting_inside_a_task_group(self):
        children = []

        async def in_group():
            async with asyncio.TaskGroup() as tg:
                children.append(tg.create_task(sleeper()))
        self.cancel_at(in_group, settle=2)
        self.assertTrue(children[0].cancelled())

    def test_cancel_before_the_first_step(self):
        ran = []

        async def body():
            ran.append(True)
        task = self.new_task(body())
        task.cancel('before')
        self.assert_raises_cancelled(task, ('before',))
        self.assertEqual(ran, [])

    def test_cancel_at_each_step_of_a_longer_coroutine(self):
        # The same coroutine cancelled after 1, 2, ... loop iterations: while
        # queued after sleep(0) or a bare yield, while waiting on a future,
        # and after that future is done but before the task has woken up.
        async def body(log):
            log.append('start')
            await asyncio.sleep(0)
            log.append('after sleep(0)')
            await Yield(None)
            log.append('after bare yield')
            fut = self.loop.create_future()
            self.loop.call_soon(lambda: fut.done() or fut.set_result(None))
            await fut
            log.append('after future')
            await asyncio.sleep(0)
            log.append('end')

        complete = []
        self.loop.run_until_complete(self.new_task(body(complete)))
        for iterations in range(1, 6):
            with self.subTest(iterations=iterations):
                log = []
                task = self.new_task(body(log))
                self.run_briefly(iterations)
                self.assertFalse(task.done())
                reached = list(log)
                task.cancel()
                self.assert_raises_cancelled(task)
                self.assertEqual(log, reached)
                self.assertLess(len(log), len(complete))


# ---------------------------------------------------------------------------
# BaseException from a task


class KeyboardInterruptLike(BaseException):
    pass


class BaseExceptionTests(TaskTestCase):

    def assert_propagates(self, exc, *, await_first):
        async def body():
            if await_first:
                await asyncio.sleep(0)
            raise exc
        task = self.new_task(body())
        with self.assertRaises(type(exc)) as cm:
            self.loop.run_until_complete(task)
        self.assertIs(cm.exception, exc)
        self.assertTrue(task.done())
        self.assertFalse(task.cancelled())
        self.assertIs(task.exception(), exc)
        # The loop still works.
        self.assertEqual(self.run_task(answer()), 42)

    def test_keyboard_interrupt_propagates_from_the_first_step(self):
        self.assert_propagates(KeyboardInterrupt('ki'), await_first=False)

    def test_keyboard_interrupt_propagates_from_a_later_step(self):
        self.assert_propagates(KeyboardInterrupt('ki'), await_first=True)

    def test_system_exit_propagates(self):
        self.assert_propagates(SystemExit(3), await_first=True)

    def test_keyboard_interrupt_stops_a_loop_running_other_work(self):
        exc = KeyboardInterrupt()
        task = self.new_task(fail_with(exc))
        with self.assertRaises(KeyboardInterrupt):
            self.loop.run_until_complete(sleeper(0.5))
        self.assertIs(task.exception(), exc)

    def test_custom_base_exception_is_stored_not_propagated(self):
        exc = KeyboardInterruptLike('custom')
        task = self.new_task(fail_with(exc))
        # The loop runs on: the exception is only in the task.
        self.assertEqual(self.run_task(sleeper(0.01, 'other')), 'other')
        self.assertTrue(task.done())
        self.assertIs(task.exception(), exc)
        with self.assertRaises(KeyboardInterruptLike):
            task.result()

    def test_custom_base_exception_reaches_an_awaiting_task(self):
        exc = KeyboardInterruptLike()
        inner = self.new_task(fail_with(exc))

        async def outer():
            try:
                await inner
            except KeyboardInterruptLike as caught:
                return caught
        self.assertIs(self.run_task(outer()), exc)

    def test_run_until_complete_raises_custom_base_exception(self):
        exc = KeyboardInterruptLike()
        task = self.new_task(fail_with(exc))
        with self.assertRaises(KeyboardInterruptLike) as cm:
            self.loop.run_until_complete(task)
        self.assertIs(cm.exception, exc)


# ---------------------------------------------------------------------------
# What a task may await, and the errors for what it may not


class AwaitTests(TaskTestCase):

    def test_awaiting_a_future_of_another_loop(self):
        other = support.new_event_loop()
        self.addCleanup(other.close)
        fut = other.create_future()

        async def body():
            await fut
        task = self.new_task(body(), name='wrong loop')
        with self.assertRaises(RuntimeError) as cm:
            self.loop.run_until_complete(task)
        self.assertRegex(
            str(cm.exception),
            rf"^Task <Task pending name='wrong loop' {CORO_AND_CB}> "
            r"got Future <Future pending> attached to a different loop$")
        self.assertFalse(fut.done())

    def test_error_for_another_loop_can_be_caught_by_the_coroutine(self):
        other = support.new_event_loop()
        self.addCleanup(other.close)
        fut = other.create_future()

        async def body():
            try:
                await fut
            except RuntimeError as exc:
                return str(exc)
        self.assertRegex(self.run_task(body()),
                         'attached to a different loop$')

    def test_awaiting_itself(self):
        async def body():
            await asyncio.current_task()
        task = self.new_task(body(), name='narcissus')
        with self.assertRaises(RuntimeError) as cm:
            self.loop.run_until_complete(task)
        self.assertRegex(
            str(cm.exception),
            r"^Task cannot await on itself: "
            rf"<Task pending name='narcissus' {CORO_AND_CB}>$")

    def test_bare_yield_lets_other_tasks_run(self):
        order = []

        async def a():
            order.append('a1')
            await Yield(None)
            order.append('a2')

        async def b():
            order.append('b')
        ta, tb = self.new_task(a()), self.new_task(b())
        self.loop.run_until_complete(asyncio.gather(ta, tb))
        self.assertEqual(order, ['a1', 'b', 'a2'])

    def test_bad_yield_of_a_non_future(self):
        async def body():
            await Yield(1)
        task = self.new_task(body())
        with self.assertRaisesRegex(RuntimeError,
                                    '^Task got bad yield: 1$'):
            self.loop.run_until_complete(task)

    def test_bad_yield_error_is_thrown_into_the_coroutine(self):
        async def body():
            try:
                await Yield('odd')
            except RuntimeError as exc:
                return str(exc)
        self.assertEqual(self.run_task(body()),
                         "Task got bad yield: 'odd'")

    def test_yield_of_a_future_without_yield_from(self):
        fut = self.loop.create_future()

        async def body():
            await Yield(fut)
        task = self.new_task(body(), name='y')
        with self.assertRaises(RuntimeError) as cm:
            self.loop.run_until_complete(task)
        self.assertRegex(
            str(cm.exception),
            r"^yield was used instead of yield from in task "
            rf"<Task pending name='y' {CORO_AND_CB}> with <Future pending>$")

    def test_yield_of_a_generator(self):
        def gen():
            yield
        g = gen()

        async def body():
            await Yield(g)
        task = self.new_task(body(), name='g')
        with self.assertRaises(RuntimeError) as cm:
            self.loop.run_until_complete(task)
        self.assertRegex(
            str(cm.exception),
            r"^yield was used instead of yield from for generator in task "
            rf"<Task pending name='g' {CORO_AND_CB}> with "
            r"<generator object .*>$")

    def test_awaiting_a_duck_typed_future(self):
        duck = DuckFuture(self.loop)

        async def body():
            return await duck
        task = self.new_task(body())
        self.run_briefly()
        self.assertIs(task._fut_waiter, duck)
        self.assertFalse(duck._asyncio_future_blocking)
        duck.set_result('quack')
        self.assertEqual(self.loop.run_until_complete(task), 'quack')
        self.assertEqual(duck.callbacks_added, 1)

    def test_awaiting_a_python_future_subclass(self):
        class MyFuture(asyncio.Future):
            pass
        fut = MyFuture(loop=self.loop)
        self.loop.call_soon(fut.set_result, 'sub')

        async def body():
            return await fut
        self.assertEqual(self.run_task(body()), 'sub')

    def test_awaiting_a_future_of_the_class_under_test(self):
        fut = FUTURE(loop=self.loop)
        self.loop.call_soon(fut.set_result, 'native')

        async def body():
            return await fut
        self.assertEqual(self.run_task(body()), 'native')

    def test_awaiting_a_failed_future_raises_its_exception(self):
        fut = self.loop.create_future()
        exc = ValueError('from future')
        self.loop.call_soon(fut.set_exception, exc)

        async def body():
            try:
                await fut
            except ValueError as caught:
                return caught
        self.assertIs(self.run_task(body()), exc)

    def test_awaiting_another_task(self):
        inner = self.new_task(sleeper(0, 'inner'))

        async def outer():
            return await inner
        self.assertEqual(self.run_task(outer()), 'inner')

    def test_yield_from_a_task_in_a_generator_based_coroutine(self):
        inner = self.new_task(sleeper(0, 'via yield from'))

        @types.coroutine
        def through():
            return (yield from inner)

        async def outer():
            return await through()
        self.assertEqual(self.run_task(outer()), 'via yield from')

    def test_awaiting_a_future_subclass_calls_its_add_done_callback(self):
        calls = []

        class MyFuture(asyncio.Future):
            def add_done_callback(self, fn, *, context=None):
                calls.append(context)
                super().add_done_callback(fn, context=context)
        fut = MyFuture(loop=self.loop)

        async def body():
            return await fut
        task = self.new_task(body())
        self.run_briefly()
        fut.set_result('overridden')
        self.assertEqual(self.loop.run_until_complete(task), 'overridden')
        self.assertEqual(len(calls), 1)
        self.assertIsInstance(calls[0], contextvars.Context)

    def test_awaiting_a_task_subclass_calls_its_add_done_callback(self):
        calls = []

        class MyTask(TASK):
            def add_done_callback(self, fn, *, context=None):
                calls.append(fn)
                super().add_done_callback(fn, context=context)
        inner = MyTask(sleeper(0, 'sub task'), loop=self.loop)

        async def outer():
            return await inner
        self.assertEqual(self.run_task(outer()), 'sub task')
        self.assertEqual(len(calls), 1)

    def test_long_chain_of_tasks_awaiting_each_other(self):
        # Each wake-up is scheduled, not nested: no recursion limit.
        first = self.loop.create_future()

        async def link(previous):
            return await previous + 1
        task = first
        for _ in range(5000):
            task = self.new_task(link(task))
        self.run_briefly()
        self.loop.call_soon(first.set_result, 0)
        self.assertEqual(self.loop.run_until_complete(task), 5000)

    def test_a_coroutine_written_in_python(self):
        coro = ManualCoroutine(2, 'manual')
        task = self.new_task(coro)
        self.assertEqual(self.loop.run_until_complete(task), 'manual')
        self.assertEqual(coro.sent, [None, None, None])
        self.assertEqual(coro.thrown, [])

    def test_cancel_of_a_coroutine_written_in_python(self):
        coro = ManualCoroutine(100, None)
        task = self.new_task(coro)
        self.run_briefly()
        task.cancel('thrown in')
        self.assert_raises_cancelled(task, ('thrown in',))
        self.assertEqual(len(coro.thrown), 1)
        self.assertIsInstance(coro.thrown[0], asyncio.CancelledError)
        self.assertEqual(coro.thrown[0].args, ('thrown in',))

    def test_a_coroutine_already_awaited_cannot_be_reused(self):
        coro = answer()
        self.assertEqual(self.run_task(coro), 42)
        task = self.new_task(coro)
        with self.assertRaisesRegex(
                RuntimeError, '^cannot reuse already awaited coroutine$'):
            self.loop.run_until_complete(task)

    def test_dunder_await_and_iter_of_a_pending_task(self):
        task = self.new_task(sleeper())
        self.assertFalse(task._asyncio_future_blocking)
        for make in (task.__await__, task.__iter__, lambda: iter(task)):
            with self.subTest(make=make):
                it = make()
                self.assertIsNot(it, task)
                self.assertIs(iter(it), it)
                self.assertIs(next(it), task)
                self.assertTrue(task._asyncio_future_blocking)
                task._asyncio_future_blocking = False
        task.cancel()
        self.assert_raises_cancelled(task)

    def test_iterating_a_done_task_gives_its_result(self):
        task = self.new_task(answer())
        self.loop.run_until_complete(task)
        with self.assertRaises(StopIteration) as cm:
            next(task.__await__())
        self.assertEqual(cm.exception.value, 42)

    def test_iterating_a_failed_task_raises(self):
        exc = ValueError()
        task = self.new_task(fail_with(exc))
        self.run_briefly()
        with self.assertRaises(ValueError) as cm:
            next(iter(task))
        self.assertIs(cm.exception, exc)

    def test_asyncio_future_blocking_can_be_set(self):
        task = self.new_task(answer())
        task._asyncio_future_blocking = True
        self.assertIs(task._asyncio_future_blocking, True)
        task._asyncio_future_blocking = False
        self.assertIs(task._asyncio_future_blocking, False)
        self.loop.run_until_complete(task)


# ---------------------------------------------------------------------------
# Done callbacks


class DoneCallbackTests(TaskTestCase):

    def test_callbacks_are_scheduled_when_the_task_is_done(self):
        calls = []
        task = self.new_task(answer())
        task.add_done_callback(lambda t: calls.append(('first', t)))
        task.add_done_callback(lambda t: calls.append(('second', t)))
        self.run_briefly()
        self.assertTrue(task.done())
        self.assertEqual(calls, [])  # scheduled, not called synchronously
        self.run_briefly()
        self.assertEqual(calls, [('first', task), ('second', task)])

    def test_callback_added_after_done_is_scheduled(self):
        task = self.new_task(answer())
        self.loop.run_until_complete(task)
        calls = []
        task.add_done_callback(calls.append)
        self.assertEqual(calls, [])
        self.run_briefly()
        self.assertEqual(calls, [task])

    def test_callback_runs_in_the_given_context(self):
        ctx = contextvars.Context()
        ctx.run(cvar.set, 'cb ctx')
        seen = []
        task = self.new_task(answer())
        task.add_done_callback(lambda t: seen.append(cvar.get()), context=ctx)
        self.loop.run_until_complete(task)
        self.run_briefly()
        self.assertEqual(seen, ['cb ctx'])

    def test_callback_context_defaults_to_a_copy_at_add_time(self):
        seen = []
        task = self.new_task(answer())
        token = cvar.set('at add time')
        try:
            task.add_done_callback(lambda t: seen.append(cvar.get()))
        finally:
            cvar.reset(token)
        self.loop.run_until_complete(task)
        self.run_briefly()
        self.assertEqual(seen, ['at add time'])

    def test_callbacks_list_holds_the_function_and_context(self):
        ctx = contextvars.Context()

        def cb(t):
            pass
        task = self.new_task(answer())
        task.add_done_callback(cb, context=ctx)
        self.assertEqual(task._callbacks, [(cb, ctx)])
        self.loop.run_until_complete(task)

    def test_remove_done_callback_returns_how_many_were_removed(self):
        calls = []

        def cb(t):
            calls.append('cb')

        def other(t):
            calls.append('other')
        task = self.new_task(answer())
        task.add_done_callback(cb)
        task.add_done_callback(other)
        task.add_done_callback(cb)
        self.assertEqual(task.remove_done_callback(cb), 2)
        self.assertEqual(task.remove_done_callback(cb), 0)
        self.loop.run_until_complete(task)
        self.run_briefly()
        self.assertEqual(calls, ['other'])

    def test_callbacks_of_a_cancelled_task(self):
        calls = []
        task = self.new_task(sleeper())
        task.add_done_callback(lambda t: calls.append(t.cancelled()))
        self.run_briefly()
        task.cancel()
        self.assert_raises_cancelled(task)
        self.run_briefly()
        self.assertEqual(calls, [True])

    def test_failing_callback_is_reported_and_the_others_run(self):
        errors = self.collect_errors()
        calls = []

        def failing(t):
            raise ZeroDivisionError('in callback')
        task = self.new_task(answer())
        task.add_done_callback(failing)
        task.add_done_callback(calls.append)
        self.loop.run_until_complete(task)
        self.run_briefly()
        self.assertEqual(calls, [task])
        self.assertEqual(len(errors), 1, errors)
        self.assertRegex(errors[0]['message'],
                         r'^Exception in callback .*failing')
        self.assertIsInstance(errors[0]['exception'], ZeroDivisionError)

    def test_current_task_is_none_in_a_done_callback(self):
        seen = []
        task = self.new_task(answer())
        task.add_done_callback(
            lambda t: seen.append(asyncio.current_task(self.loop)))
        self.loop.run_until_complete(task)
        self.run_briefly()
        self.assertEqual(seen, [None])


# ---------------------------------------------------------------------------
# Introspection: coroutine, context, stack, repr


class IntrospectionTests(TaskTestCase):

    def test_get_coro(self):
        coro = answer()
        task = self.new_task(coro)
        self.assertIs(task.get_coro(), coro)
        self.loop.run_until_complete(task)
        self.assertIs(task.get_coro(), coro)

    @requires_312
    def test_get_context(self):
        ctx = contextvars.Context()
        task = self.new_task(answer(), context=ctx)
        self.assertIs(task.get_context(), ctx)
        self.loop.run_until_complete(task)
        default = self.new_task(answer())
        self.assertIsInstance(default.get_context(), contextvars.Context)
        self.assertIsNot(default.get_context(), ctx)
        self.loop.run_until_complete(default)

    def test_get_stack_of_a_pending_task(self):
        async def waiting_here():
            await asyncio.sleep(3600)
        task = self.new_task(waiting_here())
        self.run_briefly()
        stack = task.get_stack()
        self.assertEqual([f.f_code.co_name for f in stack], ['waiting_here'])
        self.assertEqual(task.get_stack(limit=0), [])
        task.cancel()
        self.assert_raises_cancelled(task)

    def test_get_stack_of_a_finished_task_is_empty(self):
        task = self.new_task(answer())
        self.loop.run_until_complete(task)
        self.assertEqual(task.get_stack(), [])

    def test_get_stack_of_a_failed_task_is_its_traceback(self):
        def helper():
            raise ValueError('deep')

        async def failing():
            helper()
        task = self.new_task(failing())
        self.run_briefly()
        names = [f.f_code.co_name for f in task.get_stack()]
        self.assertEqual(names, ['failing', 'helper'])
        self.assertEqual(
            [f.f_code.co_name for f in task.get_stack(limit=1)], ['failing'])
        task.exception()

    def test_print_stack_of_a_pending_task(self):
        async def waiting_here():
            await asyncio.sleep(3600)
        task = self.new_task(waiting_here(), name='ps')
        self.run_briefly()
        out = io.StringIO()
        task.print_stack(file=out)
        self.assertRegex(
            out.getvalue(),
            r"^Stack for <Task pending name='ps' coro=<.*>> "
            r"\(most recent call last\):\n"
            rf'  File "{HERE}", line \d+, in waiting_here\n')
        task.cancel()
        self.assert_raises_cancelled(task)

    def test_print_stack_of_a_failed_task(self):
        async def failing():
            raise ValueError('printed')
        task = self.new_task(failing(), name='pf')
        self.run_briefly()
        out = io.StringIO()
        task.print_stack(file=out)
        text = out.getvalue()
        self.assertRegex(
            text,
            r"^Traceback for <Task finished name='pf' coro=<.*> "
            r"exception=ValueError\('printed'\)> \(most recent call last\):\n"
            rf'  File "{HERE}", line \d+, in failing\n')
        self.assertTrue(text.endswith('ValueError: printed\n'), text)
        task.exception()

    def test_print_stack_of_a_finished_task(self):
        task = self.new_task(answer(), name='pd')
        self.loop.run_until_complete(task)
        out = io.StringIO()
        task.print_stack(file=out)
        self.assertRegex(out.getvalue(),
                         r"^No stack for <Task finished name='pd' .*>\n$")

    def test_print_stack_without_file_prints_the_same_text(self):
        # asyncio prints the header with print(file=None), i.e. to stdout,
        # and the frames to stderr: compare the two together.
        async def waiting_here():
            await asyncio.sleep(3600)
        task = self.new_task(waiting_here(), name='pe')
        self.run_briefly()
        expected = io.StringIO()
        task.print_stack(file=expected)
        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            task.print_stack()
        self.assertEqual(out.getvalue(), expected.getvalue())
        self.assertIn('in waiting_here', out.getvalue())
        task.cancel()
        self.assert_raises_cancelled(task)

    def test_repr_before_the_first_step(self):
        task = self.new_task(answer(), name='r')
        self.assertRegex(
            repr(task),
            rf"^<Task pending name='r' coro=<answer\(\) running at "
            rf"{HERE}:\d+>>$")
        self.loop.run_until_complete(task)

    def test_repr_while_waiting_on_a_future(self):
        fut = self.loop.create_future()

        async def waits():
            await fut
        task = self.new_task(waits(), name='w')
        self.run_briefly()
        self.assertRegex(
            repr(task),
            rf"^<Task pending name='w' coro=<.*waits\(\) running at "
            rf"{HERE}:\d+> wait_for=<Future pending cb=\[.+\]>>$")
        fut.set_result(None)
        self.loop.run_until_complete(task)

    def test_repr_finished(self):
        task = self.new_task(answer(), name='f')
        self.loop.run_until_complete(task)
        self.assertRegex(
            repr(task),
            rf"^<Task finished name='f' coro=<answer\(\) done, defined at "
            rf"{HERE}:\d+> result=42>$")

    def test_repr_failed(self):
        task = self.new_task(fail_with(ValueError('bad')), name='e')
        self.run_briefly()
        self.assertRegex(
            repr(task),
            r"^<Task finished name='e' coro=<fail_with\(\) done, defined at "
            rf"{HERE}:\d+> exception=ValueError\('bad'\)>$")
        task.exception()

    def test_repr_cancelling_and_cancelled(self):
        fut = self.loop.create_future()

        async def waits():
            await fut
        task = self.new_task(waits(), name='c')
        self.run_briefly()
        task.cancel()
        self.assertRegex(
            repr(task),
            r"^<Task cancelling name='c' coro=<.*waits\(\) running at .*> "
            r"wait_for=<Future cancelled>>$")
        self.assert_raises_cancelled(task)
        self.assertRegex(
            repr(task),
            r"^<Task cancelled name='c' coro=<.*waits\(\) done, defined at "
            rf"{HERE}:\d+>>$")

    def test_repr_cancelling_before_the_first_step(self):
        task = self.new_task(answer(), name='cb')
        task.cancel()
        self.assertRegex(
            repr(task),
            r"^<Task cancelling name='cb' coro=<answer\(\) running at .*>>$")
        self.assert_raises_cancelled(task)

    def test_repr_with_done_callbacks(self):
        def on_done(t):
            pass
        task = self.new_task(answer(), name='cbs')
        task.add_done_callback(on_done)
        self.assertRegex(
            repr(task),
            r"^<Task pending name='cbs' coro=<.*> "
            r"cb=\[.*on_done\(\) at .*\]>$")
        self.loop.run_until_complete(task)

    def test_repr_of_a_recursive_result(self):
        async def returns_itself():
            return asyncio.current_task()
        task = self.new_task(returns_itself(), name='rec')
        self.loop.run_until_complete(task)
        self.assertRegex(repr(task), r"^<Task finished name='rec' coro=<.*> "
                                     r"result=\.\.\.>$")


# ---------------------------------------------------------------------------
# current_task and all_tasks


class CurrentTaskTests(TaskTestCase):

    def test_current_task_inside_and_none_outside(self):
        seen = []

        async def body():
            seen.append(asyncio.current_task())
            await asyncio.sleep(0)
            seen.append(asyncio.current_task(self.loop))
        task = self.new_task(body())
        self.assertIsNone(asyncio.current_task(self.loop))
        self.loop.run_until_complete(task)
        self.assertEqual(seen, [task, task])
        self.assertIsNone(asyncio.current_task(self.loop))

    def test_current_task_of_two_interleaved_tasks(self):
        seen = []

        async def body(tag):
            for _ in range(3):
                seen.append((tag, asyncio.current_task().get_name()))
                await asyncio.sleep(0)
        a = self.new_task(body('a'), name='a')
        b = self.new_task(body('b'), name='b')
        self.loop.run_until_complete(asyncio.gather(a, b))
        self.assertEqual(seen, [('a', 'a'), ('b', 'b')] * 3)

    def test_current_task_restored_after_a_failing_step(self):
        async def body():
            raise ValueError()
        task = self.new_task(body())
        with self.assertRaises(ValueError):
            self.loop.run_until_complete(task)
        self.assertIsNone(asyncio.current_task(self.loop))

    def test_all_tasks_lists_pending_tasks_only(self):
        async def body():
            return asyncio.all_tasks()
        waiting = self.new_task(sleeper())
        finished = self.new_task(answer())
        self.loop.run_until_complete(finished)
        self.assertIn(waiting, asyncio.all_tasks(self.loop))
        self.assertNotIn(finished, asyncio.all_tasks(self.loop))
        checker = self.new_task(body())
        self.assertIn(checker, asyncio.all_tasks(self.loop))
        seen = self.loop.run_until_complete(checker)
        self.assertIn(waiting, seen)
        self.assertIn(checker, seen)
        self.assertNotIn(finished, seen)
        waiting.cancel()
        self.assert_raises_cancelled(waiting)
        self.assertNotIn(waiting, asyncio.all_tasks(self.loop))

    def test_all_tasks_are_those_of_the_loop(self):
        other = support.new_event_loop()
        self.addCleanup(other.close)
        mine = self.new_task(answer())
        theirs = TASK(answer(), loop=other)
        self.assertIn(mine, asyncio.all_tasks(self.loop))
        self.assertNotIn(theirs, asyncio.all_tasks(self.loop))
        self.assertIn(theirs, asyncio.all_tasks(other))
        self.loop.run_until_complete(mine)
        other.run_until_complete(theirs)


# ---------------------------------------------------------------------------
# asyncio's helpers over tasks of the class under test


class TimeoutTests(TaskTestCase):

    def test_timeout_expires(self):
        async def body():
            with self.assertRaises(TimeoutError):
                async with asyncio.timeout(0.01):
                    await asyncio.sleep(3600)
            me = asyncio.current_task()
            return type(me), me.cancelling()
        kind, cancelling = self.run_task(body())
        self.assertIs(kind, TASK)
        self.assertEqual(cancelling, 0)

    def test_timeout_not_reached(self):
        async def body():
            async with asyncio.timeout(10):
                return await sleeper(0, 'in time')
        self.assertEqual(self.run_task(body()), 'in time')

    def test_task_continues_after_an_expired_timeout(self):
        async def body():
            try:
                async with asyncio.timeout(0.01):
                    await asyncio.sleep(3600)
            except TimeoutError:
                pass
            await asyncio.sleep(0.001)
            return 'went on'
        self.assertEqual(self.run_task(body()), 'went on')

    def test_nested_timeouts_inner_expires(self):
        async def body():
            async with asyncio.timeout(10) as outer:
                with self.assertRaises(TimeoutError):
                    async with asyncio.timeout(0.01) as inner:
                        await asyncio.sleep(3600)
                return outer.expired(), inner.expired()
        self.assertEqual(self.run_task(body()), (False, True))

    def test_outer_cancel_inside_timeout_is_not_a_timeout(self):
        async def body():
            async with asyncio.timeout(10):
                await asyncio.sleep(3600)
        task = self.new_task(body())
        self.run_briefly()
        task.cancel()
        self.assert_raises_cancelled(task)

    def test_wait_for_returns_the_result(self):
        async def body():
            return await asyncio.wait_for(sleeper(0, 'value'), 10)
        self.assertEqual(self.run_task(body()), 'value')

    def test_wait_for_times_out_and_cancels_the_inner_task(self):
        inner = self.new_task(sleeper())

        async def body():
            with self.assertRaises(TimeoutError):
                await asyncio.wait_for(inner, 0.01)
            return asyncio.current_task().cancelling()
        self.assertEqual(self.run_task(body()), 0)
        self.assertTrue(inner.cancelled())

    def test_wait_for_of_a_coroutine_wraps_it_in_the_task_class(self):
        kinds = []

        async def inner():
            kinds.append(type(asyncio.current_task()))
            return 'x'

        async def body():
            return await asyncio.wait_for(inner(), 10)
        self.assertEqual(self.run_task(body()), 'x')
        self.assertEqual(kinds, [TASK])


class TaskGroupTests(TaskTestCase):

    def test_children_are_tasks_of_the_class_under_test(self):
        async def body():
            async with asyncio.TaskGroup() as tg:
                a = tg.create_task(sleeper(0, 'a'))
                b = tg.create_task(sleeper(0.001, 'b'))
            return a, b
        a, b = self.run_task(body())
        self.assertIs(type(a), TASK)
        self.assertEqual((a.result(), b.result()), ('a', 'b'))

    def test_a_failing_child_cancels_its_siblings(self):
        siblings = []

        async def body():
            async with asyncio.TaskGroup() as tg:
                siblings.append(tg.create_task(sleeper()))
                tg.create_task(fail_with(ValueError('child')))
        task = self.new_task(body())
        with self.assertRaises(BaseExceptionGroup) as cm:
            self.loop.run_until_complete(task)
        self.assertEqual(len(cm.exception.exceptions), 1)
        self.assertIsInstance(cm.exception.exceptions[0], ValueError)
        self.assertTrue(siblings[0].cancelled())

    def test_cancelling_the_parent_cancels_the_children(self):
        children = []

        async def body():
            async with asyncio.TaskGroup() as tg:
                children.append(tg.create_task(sleeper()))
                children.append(tg.create_task(sleeper()))
        task = self.new_task(body())
        self.run_briefly(2)
        task.cancel()
        self.assert_raises_cancelled(task)
        self.assertTrue(all(c.cancelled() for c in children))

    def test_task_group_in_a_timeout(self):
        async def body():
            with self.assertRaises(TimeoutError):
                async with asyncio.timeout(0.01):
                    async with asyncio.TaskGroup() as tg:
                        tg.create_task(sleeper())
                        tg.create_task(sleeper())
            return asyncio.current_task().cancelling()
        self.assertEqual(self.run_task(body()), 0)


class ShieldTests(TaskTestCase):

    def test_shielded_task_survives_the_cancel_of_its_awaiter(self):
        inner = self.new_task(sleeper(0.01, 'shielded'))

        async def outer():
            return await asyncio.shield(inner)
        task = self.new_task(outer())
        self.run_briefly()
        task.cancel()
        self.assert_raises_cancelled(task)
        self.assertFalse(inner.done())
        self.assertEqual(self.loop.run_until_complete(inner), 'shielded')

    def test_shield_passes_the_result_through(self):
        async def outer():
            return await asyncio.shield(sleeper(0, 'through'))
        self.assertEqual(self.run_task(outer()), 'through')

    def test_shield_of_a_cancelled_task_is_cancelled(self):
        inner = self.new_task(sleeper())

        async def outer():
            try:
                await asyncio.shield(inner)
            except asyncio.CancelledError:
                return 'inner cancelled'
        task = self.new_task(outer())
        self.run_briefly()
        inner.cancel()
        self.assertEqual(self.loop.run_until_complete(task),
                         'inner cancelled')


class GatherTests(TaskTestCase):

    def test_results_in_order(self):
        async def body():
            return await asyncio.gather(sleeper(0.002, 1), sleeper(0, 2),
                                        sleeper(0.001, 3))
        self.assertEqual(self.run_task(body()), [1, 2, 3])

    def test_return_exceptions(self):
        exc = ValueError('in gather')

        async def body():
            return await asyncio.gather(answer(), fail_with(exc),
                                        return_exceptions=True)
        self.assertEqual(self.run_task(body()), [42, exc])

    def test_exception_propagates_and_others_keep_running(self):
        other = self.new_task(sleeper(0.01, 'kept'))

        async def body():
            await asyncio.gather(other, fail_with(ValueError()))
        with self.assertRaises(ValueError):
            self.run_task(body())
        self.assertFalse(other.cancelled())
        self.assertEqual(self.loop.run_until_complete(other), 'kept')

    def test_cancelling_gather_cancels_the_children(self):
        children = [self.new_task(sleeper()) for _ in range(3)]
        gathered = asyncio.gather(*children)
        self.run_briefly()
        self.assertTrue(gathered.cancel())
        with self.assertRaises(asyncio.CancelledError):
            self.loop.run_until_complete(gathered)
        self.assertTrue(all(c.cancelled() for c in children))

    def test_cancelled_child_with_return_exceptions(self):
        child = self.new_task(sleeper())
        ok = self.new_task(sleeper(0, 'ok'))

        async def body():
            return await asyncio.gather(child, ok, return_exceptions=True)
        task = self.new_task(body())
        self.run_briefly()
        child.cancel('child msg')
        results = self.loop.run_until_complete(task)
        # gather builds the error from the task's _cancel_message, which is
        # None once the task has finished cancelling.
        self.assertIsNone(child._cancel_message)
        self.assertIsInstance(results[0], asyncio.CancelledError)
        self.assertEqual(results[0].args, ('',))
        self.assertEqual(results[1], 'ok')

    def test_cancelled_child_without_return_exceptions(self):
        child = self.new_task(sleeper())

        async def body():
            await asyncio.gather(child, sleeper(0))
        task = self.new_task(body())
        self.run_briefly()
        child.cancel()
        self.assert_raises_cancelled(task)

    def test_cancelling_the_awaiting_task_cancels_the_children(self):
        children = [self.new_task(sleeper()) for _ in range(2)]

        async def body():
            await asyncio.gather(*children)
        task = self.new_task(body())
        self.run_briefly()
        task.cancel()
        self.assert_raises_cancelled(task)
        self.assertTrue(all(c.cancelled() for c in children))

    def test_gather_of_coroutines_makes_tasks_of_the_class_under_test(self):
        kinds = []

        async def child():
            kinds.append(type(asyncio.current_task()))

        async def body():
            await asyncio.gather(child(), child())
        self.run_task(body())
        self.assertEqual(kinds, [TASK, TASK])


class WaitTests(TaskTestCase):

    def test_first_completed(self):
        fast = self.new_task(sleeper(0, 'fast'))
        slow = self.new_task(sleeper())

        async def body():
            return await asyncio.wait(
                {fast, slow}, return_when=asyncio.FIRST_COMPLETED)
        done, pending = self.run_task(body())
        self.assertEqual(done, {fast})
        self.assertEqual(pending, {slow})
        slow.cancel()
        self.assert_raises_cancelled(slow)

    def test_all_completed(self):
        tasks = [self.new_task(sleeper(i / 1000, i)) for i in range(3)]

        async def body():
            return await asyncio.wait(tasks)
        done, pending = self.run_task(body())
        self.assertEqual(done, set(tasks))
        self.assertEqual(pending, set())
        self.assertEqual([t.result() for t in tasks], [0, 1, 2])

    def test_first_exception(self):
        slow = self.new_task(sleeper())
        bad = self.new_task(fail_with(ValueError()))

        async def body():
            return await asyncio.wait(
                [slow, bad], return_when=asyncio.FIRST_EXCEPTION)
        done, pending = self.run_task(body())
        self.assertEqual(done, {bad})
        self.assertEqual(pending, {slow})
        bad.exception()
        slow.cancel()
        self.assert_raises_cancelled(slow)

    def test_timeout_leaves_tasks_pending(self):
        slow = self.new_task(sleeper())

        async def body():
            return await asyncio.wait([slow], timeout=0.01)
        done, pending = self.run_task(body())
        self.assertEqual((done, pending), (set(), {slow}))
        self.assertFalse(slow.done())
        slow.cancel()
        self.assert_raises_cancelled(slow)

    def test_as_completed_yields_in_completion_order(self):
        tasks = [self.new_task(sleeper(d, d)) for d in (0.03, 0.0, 0.015)]

        async def body():
            return [await f for f in asyncio.as_completed(tasks)]
        self.assertEqual(self.run_task(body()), [0.0, 0.015, 0.03])


class ThreadsafeTests(TaskTestCase):

    def test_run_coroutine_threadsafe_from_a_thread(self):
        kinds = []

        async def in_loop(x):
            kinds.append(type(asyncio.current_task()))
            await asyncio.sleep(0)
            return x * 2
        finished = self.loop.create_future()
        results = []

        def worker():
            try:
                cf = asyncio.run_coroutine_threadsafe(in_loop(21), self.loop)
                results.append(cf.result(timeout=10))
            finally:
                self.loop.call_soon_threadsafe(finished.set_result, None)
        self.start_thread(worker)
        self.run_coro(finished)
        self.assertEqual(results, [42])
        self.assertEqual(kinds, [TASK])

    def test_run_coroutine_threadsafe_cancelled_from_the_thread(self):
        started = threading.Event()
        finished = self.loop.create_future()
        outcome = []

        async def in_loop():
            started.set()
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                outcome.append('cancelled in loop')
                raise

        def worker():
            try:
                cf = asyncio.run_coroutine_threadsafe(in_loop(), self.loop)
                started.wait(10)
                cf.cancel()
                try:
                    cf.result(timeout=10)
                except BaseException as exc:
                    outcome.append(type(exc).__name__)
            finally:
                self.loop.call_soon_threadsafe(finished.set_result, None)
        self.start_thread(worker)
        self.run_coro(finished)
        self.run_briefly(3)
        self.assertIn('cancelled in loop', outcome)
        self.assertIn('CancelledError', outcome)


# ---------------------------------------------------------------------------
# Eager execution (3.12+)


@unittest.skipIf(PY_VERSION < (3, 12), 'eager tasks are new in 3.12')
class EagerTaskTests(TaskTestCase):

    def setUp(self):
        super().setUp()
        self.loop.set_task_factory(EAGER_TASK_FACTORY)

    def test_eager_task_factory_exists(self):
        self.assertTrue(callable(EAGER_TASK_FACTORY))

    def test_coroutine_without_await_is_done_at_creation(self):
        async def body():
            task = self.loop.create_task(answer())
            return type(task), task.done(), task.result()
        self.assertEqual(self.loop.run_until_complete(body()),
                         (TASK, True, 42))

    def test_coroutine_that_awaits_continues_later(self):
        order = []

        async def child():
            order.append('eager part')
            await asyncio.sleep(0)
            order.append('later part')
            return 'child'

        async def body():
            task = self.loop.create_task(child())
            order.append('after create_task')
            self.assertFalse(task.done())
            self.assertIs(type(task), TASK)
            return await task
        self.assertEqual(self.loop.run_until_complete(body()), 'child')
        self.assertEqual(order,
                         ['eager part', 'after create_task', 'later part'])

    def test_current_task_in_the_eager_part(self):
        seen = []

        async def child():
            seen.append(asyncio.current_task())
            await asyncio.sleep(0)
            seen.append(asyncio.current_task())

        async def body():
            parent = asyncio.current_task()
            task = self.loop.create_task(child())
            self.assertIs(asyncio.current_task(), parent)
            await task
            return task
        task = self.loop.run_until_complete(body())
        self.assertEqual(seen, [task, task])

    def test_failing_eager_task_is_done_at_creation(self):
        exc = ValueError('eager failure')

        async def body():
            task = self.loop.create_task(fail_with(exc))
            return task.done(), task.exception()
        self.assertEqual(self.loop.run_until_complete(body()), (True, exc))

    def test_pending_eager_task_is_in_all_tasks(self):
        async def body():
            done_task = self.loop.create_task(answer())
            pending = self.loop.create_task(sleeper())
            tasks = asyncio.all_tasks()
            pending.cancel()
            return done_task in tasks, pending in tasks
        self.assertEqual(self.loop.run_until_complete(body()),
                         (False, True))

    def test_eager_task_runs_in_the_given_context(self):
        ctx = contextvars.Context()
        ctx.run(cvar.set, 'eager ctx')

        async def child():
            return cvar.get()

        async def body():
            task = self.loop.create_task(child(), context=ctx)
            return task.done(), task.result()
        self.assertEqual(self.loop.run_until_complete(body()),
                         (True, 'eager ctx'))

    def test_eager_task_is_named_by_create_task(self):
        async def body():
            task = self.loop.create_task(answer(), name='eager name')
            return task.get_name()
        self.assertEqual(self.loop.run_until_complete(body()), 'eager name')

    def test_constructor_eager_start_in_a_running_loop(self):
        async def body():
            task = TASK(answer(), loop=self.loop, eager_start=True,
                        name='e')
            return task, task.done()
        task, done = self.loop.run_until_complete(body())
        self.assertTrue(done)
        self.assertEqual(task.result(), 42)
        # The coroutine is dropped by an eager completion.
        self.assertRegex(repr(task), r"^<Task finished name='e' result=42>$")

    def test_constructor_eager_start_outside_a_running_loop(self):
        task = TASK(answer(), loop=self.loop, eager_start=True)
        self.assertFalse(task.done())
        self.assertEqual(self.loop.run_until_complete(task), 42)

    def test_eager_task_cancelled_before_it_awaits_again(self):
        async def child():
            await asyncio.sleep(3600)

        async def body():
            task = self.loop.create_task(child())
            task.cancel('eager cancel')
            try:
                await task
            except asyncio.CancelledError as exc:
                return exc.args, task.cancelled()
        self.assertEqual(self.loop.run_until_complete(body()),
                         (('eager cancel',), True))


# ---------------------------------------------------------------------------
# Tasks of both classes together (aioev only)


@aioev_only
class MixedTaskTests(LoopTestCase):
    """aioev.Task and asyncio.Task awaiting each other on an aioev loop."""

    def test_asyncio_task_awaits_aioev_task(self):
        inner = aioev.Task(sleeper(0, 'native'), loop=self.loop)

        async def outer():
            return await inner
        task = asyncio.Task(outer(), loop=self.loop)
        self.assertEqual(self.loop.run_until_complete(task), 'native')

    def test_aioev_task_awaits_asyncio_task(self):
        inner = asyncio.Task(sleeper(0, 'stdlib'), loop=self.loop)

        async def outer():
            return await inner
        task = aioev.Task(outer(), loop=self.loop)
        self.assertEqual(self.loop.run_until_complete(task), 'stdlib')

    def test_cancel_goes_through_both_classes(self):
        innermost = aioev.Task(sleeper(), loop=self.loop)

        async def middle():
            return await innermost

        async def outer():
            return await asyncio.Task(middle(), loop=self.loop)
        task = aioev.Task(outer(), loop=self.loop)
        self.run_briefly(3)
        task.cancel('down')
        with self.assertRaises(asyncio.CancelledError) as cm:
            self.loop.run_until_complete(task)
        self.assertEqual(cm.exception.args, ('down',))
        self.assertTrue(innermost.cancelled())

    def test_current_task_switches_between_classes(self):
        seen = []

        async def stdlib_child():
            seen.append(type(asyncio.current_task()))
            await asyncio.sleep(0)
            seen.append(type(asyncio.current_task()))

        async def native_parent():
            seen.append(type(asyncio.current_task()))
            await asyncio.Task(stdlib_child(), loop=self.loop)
            seen.append(type(asyncio.current_task()))
        self.loop.run_until_complete(
            aioev.Task(native_parent(), loop=self.loop))
        self.assertEqual(seen, [aioev.Task, asyncio.Task, asyncio.Task,
                                aioev.Task])

    def test_all_tasks_lists_both_classes(self):
        native = aioev.Task(sleeper(), loop=self.loop)
        stdlib = asyncio.Task(sleeper(), loop=self.loop)
        self.assertLessEqual({native, stdlib}, asyncio.all_tasks(self.loop))
        native.cancel()
        stdlib.cancel()
        self.loop.run_until_complete(
            asyncio.gather(native, stdlib, return_exceptions=True))
        self.assertEqual(asyncio.all_tasks(self.loop), set())

    def test_gather_and_wait_of_both_classes(self):
        async def main():
            tasks = [aioev.Task(sleeper(0, 1), loop=self.loop),
                     asyncio.Task(sleeper(0, 2), loop=self.loop)]
            done, _ = await asyncio.wait(tasks)
            return await asyncio.gather(*tasks), done == set(tasks)
        self.assertEqual(
            self.loop.run_until_complete(aioev.Task(main(), loop=self.loop)),
            ([1, 2], True))


# The same behaviour where aioev.Task cannot use an aioev loop's ready queue:
# on asyncio's own loop, and on a loop in debug mode.


class OnAsyncioLoop:
    """aioev.Task on asyncio's loop: every step goes through call_soon."""

    def setUp(self):
        super().setUp()
        factory = self.loop.get_task_factory()
        self.loop = asyncio.new_event_loop()
        self.addCleanup(self._close_loop, self.loop)
        self.loop.set_exception_handler(self._unexpected_loop_error)
        self.loop.set_task_factory(factory)


@aioev_only
class TaskResultOnAsyncioLoopTests(OnAsyncioLoop, TaskResultTests):
    pass


@aioev_only
class TaskCancelOnAsyncioLoopTests(OnAsyncioLoop, TaskCancelTests):
    pass


@aioev_only
class CancellationAtAwaitPointOnAsyncioLoopTests(
        OnAsyncioLoop, CancellationAtAwaitPointTests):
    pass


@aioev_only
class BaseExceptionOnAsyncioLoopTests(OnAsyncioLoop, BaseExceptionTests):
    pass


@aioev_only
class AwaitOnAsyncioLoopTests(OnAsyncioLoop, AwaitTests):
    pass


@aioev_only
class DoneCallbackOnAsyncioLoopTests(OnAsyncioLoop, DoneCallbackTests):
    pass


@aioev_only
class CurrentTaskOnAsyncioLoopTests(OnAsyncioLoop, CurrentTaskTests):
    pass


@aioev_only
class TimeoutOnAsyncioLoopTests(OnAsyncioLoop, TimeoutTests):
    pass


@aioev_only
class EagerTaskOnAsyncioLoopTests(OnAsyncioLoop, EagerTaskTests):
    pass


class InDebugMode:
    """The loop under test in debug mode (asyncio's call_soon checks on)."""

    def setUp(self):
        super().setUp()
        self.loop.set_debug(True)
        self.loop.slow_callback_duration = 60


class TaskCancelInDebugModeTests(InDebugMode, TaskCancelTests):
    pass


class CancellationAtAwaitPointInDebugModeTests(
        InDebugMode, CancellationAtAwaitPointTests):
    pass


class BaseExceptionInDebugModeTests(InDebugMode, BaseExceptionTests):
    pass


class CurrentTaskInDebugModeTests(InDebugMode, CurrentTaskTests):
    pass


# ---------------------------------------------------------------------------
# Finalisation and garbage collection


class FinalizationTests(TaskTestCase):

    def make_pending_task(self, **kwargs):
        async def waits_forever():
            await self.loop.create_future()
        task = self.new_task(waits_forever(), **kwargs)
        self.run_briefly()
        self.assertFalse(task.done())
        return task

    def test_destroyed_pending_task_is_reported(self):
        errors = self.collect_errors()
        task = self.make_pending_task(name='lost')
        ref = weakref.ref(task)
        del task
        gc.collect()
        self.assertEqual(len(errors), 1, errors)
        context = errors[0]
        self.assertEqual(context['message'],
                         'Task was destroyed but it is pending!')
        self.assertIs(type(context['task']), TASK)
        self.assertEqual(context['task'].get_name(), 'lost')
        errors.clear()
        del context
        gc.collect()
        self.assertIsNone(ref())

    def test_destroyed_pending_task_is_reported_before_its_finally_runs(self):
        # Closing the loop drops the task's next step, the last reference
        # to it (no cycle): the report comes first, then closing the
        # coroutine runs its finally (issue 10, item 8).
        events = []
        self.loop.set_exception_handler(
            lambda loop, context: events.append(context['message']))

        async def spins():
            try:
                while True:
                    await asyncio.sleep(0)
            finally:
                events.append('finally')

        gc_was_enabled = gc.isenabled()
        gc.disable()
        self.addCleanup(lambda: gc_was_enabled and gc.enable())
        task = self.new_task(spins())
        self.run_briefly()
        ref = weakref.ref(task)
        del task
        self.loop.close()
        self.assertIsNone(ref())
        self.assertEqual(events, ['Task was destroyed but it is pending!',
                                  'finally'])

    def test_destroyed_pending_task_not_reported_without_log_flag(self):
        errors = self.collect_errors()
        task = self.make_pending_task()
        task._log_destroy_pending = False
        self.assertFalse(task._log_destroy_pending)
        ref = weakref.ref(task)
        del task
        gc.collect()
        self.assertEqual(errors, [])
        self.assertIsNone(ref())

    def test_destroyed_pending_task_in_debug_mode_has_source_traceback(self):
        self.loop.set_debug(True)
        errors = self.collect_errors()
        task = self.make_pending_task()
        del task
        gc.collect()
        self.assertEqual(len(errors), 1, errors)
        self.assertTrue(errors[0]['source_traceback'])
        errors.clear()

    def test_unretrieved_exception_is_reported(self):
        errors = self.collect_errors()
        exc = ValueError('never retrieved')
        task = self.new_task(fail_with(exc))
        self.run_briefly()
        self.assertTrue(task.done())
        ref = weakref.ref(task)
        del task
        gc.collect()
        self.assertEqual(len(errors), 1, errors)
        self.assertEqual(errors[0]['message'],
                         'Task exception was never retrieved')
        self.assertIs(errors[0]['exception'], exc)
        self.assertIs(errors[0]['future'], ref())
        errors.clear()

    def test_retrieved_exception_is_not_reported(self):
        errors = self.collect_errors()
        for retrieve in (TASK.exception, TASK.result, TASK.cancel):
            with self.subTest(retrieve=retrieve.__name__):
                task = self.new_task(fail_with(ValueError()))
                self.run_briefly()
                try:
                    retrieve(task)
                except ValueError:
                    pass
                del task
                gc.collect()
                self.assertEqual(errors, [])

    def test_cancelled_and_finished_tasks_are_not_reported(self):
        errors = self.collect_errors()
        finished = self.new_task(answer())
        cancelled = self.new_task(sleeper())
        self.run_briefly()
        cancelled.cancel()
        self.run_briefly(2)
        self.assertTrue(finished.done() and cancelled.cancelled())
        del finished, cancelled
        gc.collect()
        self.assertEqual(errors, [])

    def test_cycle_through_the_coroutine_frame_is_collected(self):
        async def keeps_itself():
            me = asyncio.current_task()
            await asyncio.sleep(0)
            raise ValueError(me)   # task -> exception -> task, and frames
        task = self.new_task(keeps_itself())
        with self.assertRaises(ValueError):
            self.loop.run_until_complete(task)
        ref = weakref.ref(task)
        del task
        gc.collect()
        self.assertIsNone(ref())

    def test_task_returning_itself_is_collected(self):
        async def returns_itself():
            return asyncio.current_task()
        task = self.new_task(returns_itself())
        self.loop.run_until_complete(task)
        ref = weakref.ref(task)
        coro_ref = weakref.ref(task.get_coro())
        del task
        gc.collect()
        self.assertIsNone(ref())
        self.assertIsNone(coro_ref())

    def test_cycle_through_a_done_callback_is_collected(self):
        task = self.new_task(answer())
        task.add_done_callback(lambda t, keep=task: None)
        ref = weakref.ref(task)
        del task
        gc.collect()
        self.assertIsNotNone(ref())  # pending: the loop holds its step
        self.run_briefly(2)
        gc.collect()
        self.assertIsNone(ref())

    def test_task_awaiting_a_task_in_a_cycle_is_collected(self):
        errors = self.collect_errors()
        holder = {}

        async def a():
            await holder['b']

        async def b():
            await self.loop.create_future()
        holder['b'] = self.new_task(b())
        holder['a'] = self.new_task(a())
        self.run_briefly()
        for t in holder.values():
            t._log_destroy_pending = False
        del t
        refs = [weakref.ref(t) for t in holder.values()]
        holder.clear()
        gc.collect()
        self.assertEqual([r() for r in refs], [None, None])
        self.assertEqual(errors, [])

    def test_collected_task_releases_its_loop(self):
        loop = support.new_event_loop()
        task = TASK(answer(), loop=loop)
        loop.run_until_complete(task)
        loop.close()
        loop_ref = weakref.ref(loop)
        del loop
        gc.collect()
        self.assertIsNotNone(loop_ref())  # the task holds it
        del task
        gc.collect()
        self.assertIsNone(loop_ref())


# ---------------------------------------------------------------------------
# Reference counts and memory


N = 10_000


class TaskRefcountTests(TaskTestCase):

    def assert_refcounts_unchanged(self, scenario, *objects):
        objects = objects or (CountedArg(), CountedArg())
        scenario(*objects, 100)  # warm-up (free lists, caches)
        gc.collect()
        before = [sys.getrefcount(o) for o in objects]
        scenario(*objects, N)
        gc.collect()
        after = [sys.getrefcount(o) for o in objects]
        self.assertEqual(after, before)

    def test_create_and_run(self):
        async def echo(a, b):
            return a, b

        def scenario(a1, a2, n):
            async def main():
                for _ in range(n):
                    await self.new_task(echo(a1, a2))
            self.run_task(main())
        self.assert_refcounts_unchanged(scenario)

    def test_create_and_run_with_a_result_kept(self):
        async def echo(a):
            await asyncio.sleep(0)
            return a

        def scenario(a1, a2, n):
            tasks = [self.new_task(echo(a1)) for _ in range(n // 10)]
            self.loop.run_until_complete(asyncio.gather(*tasks))
            self.assertIs(tasks[0].result(), a1)
            del tasks
        self.assert_refcounts_unchanged(scenario)

    def test_cancel_with_message(self):
        def scenario(msg, a2, n):
            async def main():
                for _ in range(n // 10):
                    task = self.new_task(sleeper(3600, a2))
                    await asyncio.sleep(0)
                    task.cancel(msg)
                    try:
                        await task
                    except asyncio.CancelledError:
                        pass
            self.run_task(main())
        self.assert_refcounts_unchanged(scenario)

    def test_cancel_before_the_first_step(self):
        def scenario(msg, a2, n):
            for _ in range(n // 10):
                task = self.new_task(sleeper(0, a2))
                task.cancel(msg)
            self.run_briefly(2)
        self.assert_refcounts_unchanged(scenario)

    def test_failing_tasks(self):
        def scenario(a1, a2, n):
            async def main():
                for _ in range(n // 10):
                    task = self.new_task(fail_with(ValueError(a1, a2)))
                    try:
                        await task
                    except ValueError:
                        pass
            self.run_task(main())
        self.assert_refcounts_unchanged(scenario)

    def test_done_callbacks_and_contexts(self):
        ctx = contextvars.copy_context()

        def callback(task):
            pass

        def scenario(cb, context, n):
            tasks = []
            for _ in range(n // 10):
                task = self.new_task(answer(), context=context)
                task.add_done_callback(cb, context=context)
                task.add_done_callback(cb)
                task.remove_done_callback(cb)
                task.add_done_callback(cb, context=context)
                tasks.append(task)
            self.loop.run_until_complete(asyncio.gather(*tasks))
            self.run_briefly()
        self.assert_refcounts_unchanged(scenario, callback, ctx)

    def test_awaiting_futures(self):
        def scenario(a1, a2, n):
            async def waiter(fut):
                return await fut

            async def main():
                for _ in range(n // 10):
                    fut = self.loop.create_future()
                    task = self.new_task(waiter(fut))
                    self.loop.call_soon(fut.set_result, a1)
                    await task
            self.run_task(main())
        self.assert_refcounts_unchanged(scenario)

    def test_names(self):
        def scenario(name, a2, n):
            for _ in range(n // 10):
                task = self.new_task(answer(), name=name)
                task.set_name(name)
                task.get_name()
                task.cancel()
            self.run_briefly(2)
        self.assert_refcounts_unchanged(scenario, 'a name not interned ' * 3,
                                        CountedArg())

    def test_coroutine_released_with_the_task(self):
        async def body():
            return 1
        coro = body()
        task = self.new_task(coro)
        self.loop.run_until_complete(task)
        gc.collect()
        with_task = sys.getrefcount(coro)
        del task
        gc.collect()
        self.assertEqual(sys.getrefcount(coro), with_task - 1)


class TaskMemoryTests(TaskTestCase):

    LIMIT = 500_000  # bytes of traced growth tolerated after warm-up

    def assert_flat(self, step, rounds=4):
        step()  # warm-up
        with support.tracing_memory():
            step()
            baseline = support.traced_memory()
            for _ in range(rounds):
                step()
            grown = support.traced_memory() - baseline
        self.assertLess(
            grown, self.LIMIT,
            f'traced memory grew by {grown} B over {rounds} rounds')

    def test_create_run_cancel_cycles(self):
        async def cycles():
            for i in range(300):
                done = self.new_task(answer())
                waiting = self.new_task(sleeper())
                failing = self.new_task(fail_with(ValueError(i)))
                await asyncio.sleep(0)
                waiting.cancel('m')
                await asyncio.gather(done, waiting, failing,
                                     return_exceptions=True)

        self.assert_flat(lambda: self.run_task(cycles()))

    def test_gather_of_many_tasks(self):
        async def child(i):
            await asyncio.sleep(0)
            return i

        async def gathered():
            await asyncio.gather(*(child(i) for i in range(2000)))

        self.assert_flat(lambda: self.run_task(gathered()))

    def test_one_million_short_tasks_in_flat_memory(self):
        # 10 rounds of 100,000 tasks, created in batches of 1,000; half of
        # them take a second step.  The first two rounds are the warm-up.
        async def short(i):
            if i & 1:
                await asyncio.sleep(0)
            return i

        async def one_round():
            total = 0
            for _ in range(100):
                tasks = [TASK(short(i), loop=self.loop) for i in range(1000)]
                for task in tasks:
                    total += await task
            return total

        expected = 100 * sum(range(1000))
        sizes = []
        started = time.monotonic()
        for _ in range(10):
            self.assertEqual(self.loop.run_until_complete(one_round()),
                             expected)
            gc.collect()
            sizes.append(support.rss_bytes())
        elapsed = time.monotonic() - started
        support.record(f'1,000,000 tasks in {elapsed:.2f} s, RSS per round '
                       f'(MiB): {[s >> 20 for s in sizes]}')
        self.assertEqual(asyncio.all_tasks(self.loop), set())
        if support.UNDER_SANITIZER:
            return  # ASan's quarantine makes RSS meaningless
        grown = sizes[-1] - sizes[1]
        self.assertLess(grown, 8 << 20,
                        f'RSS grew by {grown} B over 8 rounds of 100,000 '
                        f'tasks: {sizes}')


if __name__ == '__main__':
    unittest.main()
