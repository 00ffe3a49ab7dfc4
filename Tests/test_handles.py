"""call_soon, Handle and TimerHandle objects, context and callback errors."""

import asyncio
import contextvars
import functools
import gc
import logging
import sys
import sysconfig
import threading
import unittest
import warnings
import weakref

from . import support
from .support import LoopTestCase


cvar = contextvars.ContextVar('cvar', default='default')


def callback(*args):
    pass


def other_callback(*args):
    pass


def failing_callback(*args):
    raise ZeroDivisionError('in callback')


def needs_get_context(test):
    # asyncio's Handle grew get_context() in 3.12; aioev has it everywhere.
    return unittest.skipIf(
        not support.USING_AIOEV and sys.version_info < (3, 12),
        'asyncio.Handle.get_context() is new in 3.12')(test)


class CallSoonTests(LoopTestCase):

    def test_call_soon_runs_callback_with_args(self):
        calls = []
        self.loop.call_soon(lambda *a: calls.append(a), 1, 'two', None)
        self.run_briefly()
        self.assertEqual(calls, [(1, 'two', None)])

    def test_call_soon_is_fifo(self):
        calls = []
        for i in range(1000):
            self.loop.call_soon(calls.append, i)
        self.run_briefly()
        self.assertEqual(calls, list(range(1000)))

    def test_callbacks_added_while_running_run_in_next_iteration(self):
        calls = []

        def first():
            calls.append('first')
            self.loop.call_soon(calls.append, 'added')
        self.loop.call_soon(first)
        self.loop.call_soon(calls.append, 'second')
        self.run_briefly()
        self.assertEqual(calls, ['first', 'second'])
        self.run_briefly()
        self.assertEqual(calls, ['first', 'second', 'added'])

    def test_call_soon_returns_a_handle_not_cancelled(self):
        h = self.loop.call_soon(callback)
        self.assertFalse(h.cancelled())
        self.run_briefly()
        self.assertFalse(h.cancelled())

    def test_call_soon_rejects_keyword_arguments_for_the_callback(self):
        with self.assertRaises(TypeError):
            self.loop.call_soon(callback, foo=1)

    def test_call_soon_without_callback_raises_type_error(self):
        with self.assertRaises(TypeError):
            self.loop.call_soon()

    def test_call_soon_is_fifo_for_100k_callbacks(self):
        calls = []
        append = calls.append
        for i in range(100_000):
            self.loop.call_soon(append, i)
        self.run_briefly()
        self.assertEqual(calls, list(range(100_000)))

    def test_cancelled_handles_interleaved_with_live_ones(self):
        calls = []
        for round_ in range(3):
            handles = [self.loop.call_soon(calls.append, i)
                       for i in range(10_000)]
            for h in handles[::2]:
                h.cancel()
            self.run_briefly()
        self.assertEqual(calls, list(range(1, 10_000, 2)) * 3)

    def test_many_positional_arguments(self):
        got = []
        self.loop.call_soon(lambda *a: got.append(a), *range(300))
        self.loop.call_later(0, lambda *a: got.append(a), *range(300))
        self.run_until(lambda: len(got) == 2)
        self.assertEqual(got, [tuple(range(300))] * 2)

    def test_each_callback_runs_once(self):
        calls = []
        self.loop.call_soon(calls.append, 1)
        self.run_briefly(3)
        self.assertEqual(calls, [1])

    def test_call_soon_with_bound_method_and_builtin(self):
        out = []
        self.loop.call_soon(out.append, 'builtin')
        self.loop.call_soon(out.extend, ['x', 'y'])
        self.run_briefly()
        self.assertEqual(out, ['builtin', 'x', 'y'])


class QueuedHandleCollectionTests(LoopTestCase):
    """The garbage collector and callbacks waiting in a long ready queue
    (aioev takes a queued handle out of the collector's lists and has the
    loop's traverse visit what it holds): nothing a queued callback keeps
    alive is collected, a loop in a cycle with its queued callbacks is, and
    a handle that leaves the queue is the collector's again."""

    QUEUED = 200  # well past the length after which aioev untracks

    def fill_queue(self, loop):
        for _ in range(self.QUEUED):
            loop.call_soon(callback)

    def assert_collected_once_dropped(self, fill):
        # An unclosed loop that fill(loop) put in a cycle with its queued
        # callbacks: nothing else holds it once fill returns.
        loop = support.new_event_loop()
        fill(loop)
        ref = weakref.ref(loop)
        del loop
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', ResourceWarning)  # never closed
            gc.collect()
        self.assertIsNone(ref())

    def test_a_garbage_cycle_that_a_queued_callback_holds_survives(self):
        ran = []

        class Node:
            def fire(self):
                ran.append(self.name)

        self.fill_queue(self.loop)
        for name in ('dropped', 'kept'):
            node = Node()
            node.name = name
            node.me = node  # a cycle the collector would free if nothing held it
            handle = self.loop.call_soon(node.fire)
            if name == 'dropped':
                del handle  # the queue holds the only reference
        del node
        gc.collect()
        self.run_briefly()
        self.assertEqual(ran, ['dropped', 'kept'])

    def test_an_unclosed_loop_in_a_cycle_with_its_queued_callbacks_is_collected(self):
        def fill(loop):
            self.fill_queue(loop)
            for _ in range(self.QUEUED):
                loop.call_soon(loop.stop)  # callback -> loop -> queue -> handle

        self.assert_collected_once_dropped(fill)

    def test_a_loop_in_a_cycle_with_other_threads_queued_callbacks_is_collected(self):
        def fill(loop):
            def queue():
                for _ in range(self.QUEUED):
                    loop.call_soon_threadsafe(loop.stop)

            thread = threading.Thread(target=queue)
            thread.start()
            thread.join()

        self.assert_collected_once_dropped(fill)

    def test_other_threads_queued_callbacks_keep_what_they_hold(self):
        ran = []

        class Node:
            def fire(self):
                ran.append(self)

        def queue():
            for _ in range(self.QUEUED):
                node = Node()
                node.me = node
                self.loop.call_soon_threadsafe(node.fire)

        thread = threading.Thread(target=queue)
        thread.start()
        thread.join()
        gc.collect()
        self.run_briefly()
        self.assertEqual(len(ran), self.QUEUED)
        self.assertTrue(all(node.me is node for node in ran))

    def test_a_handle_out_of_the_queue_is_tracked_again(self):
        errors = self.collect_errors()
        self.fill_queue(self.loop)
        seen = []
        self.loop.call_soon(lambda: seen.append(gc.is_tracked(seen_handle[0])))
        seen_handle = [self.loop.call_soon(failing_callback)]
        self.run_briefly()
        self.assertEqual(len(errors), 1)
        self.assertIs(errors[0]['handle'], seen_handle[0])
        self.assertTrue(gc.is_tracked(errors[0]['handle']))

    # The context a queued callback runs in (a copy, the handle's alone) is
    # treated as the handle is.

    def test_a_loop_in_a_cycle_through_queued_callbacks_contexts_is_collected(self):
        def fill(loop):
            self.fill_queue(loop)
            for _ in range(self.QUEUED):
                # context -> loop -> queue -> handle -> context
                contextvars.Context().run(self.call_soon_with, cvar, loop, loop)

        self.assert_collected_once_dropped(fill)

    @staticmethod
    def call_soon_with(var, value, loop):
        var.set(value)
        loop.call_soon(callback)

    def test_a_queued_callbacks_context_is_tracked_again(self):
        self.fill_queue(self.loop)
        handles = []
        seen = []

        def schedule():
            cvar.set('set')
            handles.append(self.loop.call_soon(
                lambda: seen.append(gc.is_tracked(handles[0]._context))))
        contextvars.Context().run(schedule)
        self.run_briefly()
        self.assertEqual(seen, [True])

    def test_a_queued_callbacks_context_keeps_its_values(self):
        class Node:
            pass

        self.fill_queue(self.loop)
        seen = []
        for i in range(3):
            node = Node()
            node.me = node  # only the context holds it
            node.i = i
            contextvars.Context().run(self.call_soon_reading, node, seen)
        del node
        gc.collect()
        self.run_briefly()
        self.assertEqual([(n.i, n.me is n) for n in seen],
                         [(0, True), (1, True), (2, True)])

    def call_soon_reading(self, node, seen):
        cvar.set(node)
        self.loop.call_soon(lambda: seen.append(cvar.get()))


class HandleCancelTests(LoopTestCase):

    def test_cancelled_handle_does_not_run(self):
        calls = []
        h = self.loop.call_soon(calls.append, 1)
        self.loop.call_soon(calls.append, 2)
        h.cancel()
        self.assertTrue(h.cancelled())
        self.run_briefly()
        self.assertEqual(calls, [2])

    def test_cancel_is_idempotent(self):
        h = self.loop.call_soon(callback)
        h.cancel()
        h.cancel()
        self.assertTrue(h.cancelled())

    def test_cancel_from_an_earlier_callback_of_the_same_iteration(self):
        calls = []
        later = []
        self.loop.call_soon(lambda: later[0].cancel())
        later.append(self.loop.call_soon(calls.append, 'cancelled'))
        self.run_briefly()
        self.assertEqual(calls, [])

    def test_cancel_after_running_marks_cancelled(self):
        h = self.loop.call_soon(callback)
        self.run_briefly()
        h.cancel()
        self.assertTrue(h.cancelled())

    def test_cancel_releases_callback_and_args(self):

        class Arg:
            pass
        arg = Arg()
        ref = weakref.ref(arg)
        h = self.loop.call_soon(callback, arg)
        del arg
        h.cancel()
        gc.collect()
        self.assertIsNone(ref())
        self.run_briefly()


class HandleContextTests(LoopTestCase):

    def test_callback_runs_in_a_copy_of_the_current_context(self):
        seen = []
        token = cvar.set('at call_soon')
        try:
            self.loop.call_soon(lambda: seen.append(cvar.get()))
        finally:
            cvar.reset(token)
        cvar_value_now = cvar.get()
        self.run_briefly()
        self.assertEqual(seen, ['at call_soon'])
        self.assertEqual(cvar_value_now, 'default')

    def test_callback_changes_do_not_leak_into_caller_context(self):
        self.loop.call_soon(cvar.set, 'inside')
        self.run_briefly()
        self.assertEqual(cvar.get(), 'default')

    def test_context_argument_runs_callback_in_that_context(self):
        ctx = contextvars.copy_context()
        ctx.run(cvar.set, 'ctx value')
        seen = []

        def cb():
            seen.append(cvar.get())
            cvar.set('changed by callback')
        self.loop.call_soon(cb, context=ctx)
        self.run_briefly()
        self.assertEqual(seen, ['ctx value'])
        self.assertEqual(ctx[cvar], 'changed by callback')
        self.assertEqual(cvar.get(), 'default')

    def test_context_argument_for_call_later_and_call_at(self):
        ctx = contextvars.Context()
        ctx.run(cvar.set, 'timer ctx')
        seen = []
        self.loop.call_later(0, lambda: seen.append(cvar.get()), context=ctx)
        self.loop.call_at(self.loop.time(), lambda: seen.append(cvar.get()),
                          context=ctx)
        self.run_until(lambda: len(seen) == 2)
        self.assertEqual(seen, ['timer ctx', 'timer ctx'])

    def test_context_argument_for_call_soon_threadsafe(self):
        ctx = contextvars.Context()
        ctx.run(cvar.set, 'threadsafe ctx')
        seen = []
        self.loop.call_soon_threadsafe(lambda: seen.append(cvar.get()),
                                       context=ctx)
        self.run_briefly()
        self.assertEqual(seen, ['threadsafe ctx'])

    def test_context_none_means_current_context(self):
        token = cvar.set('current')
        try:
            seen = []
            self.loop.call_soon(lambda: seen.append(cvar.get()), context=None)
        finally:
            cvar.reset(token)
        self.run_briefly()
        self.assertEqual(seen, ['current'])

    def test_context_shared_by_two_callbacks(self):
        ctx = contextvars.Context()
        seen = []
        self.loop.call_soon(cvar.set, 'from first', context=ctx)
        self.loop.call_soon(lambda: seen.append(cvar.get()), context=ctx)
        self.run_briefly()
        self.assertEqual(seen, ['from first'])

    def test_context_is_exited_after_a_failing_callback(self):
        errors = self.collect_errors()
        ctx = contextvars.Context()
        seen = []
        self.loop.call_soon(failing_callback, context=ctx)
        # Entering ctx again only works if the failed callback left it.
        self.loop.call_soon(lambda: seen.append(ctx.run(cvar.get)))
        self.loop.call_soon(lambda: seen.append(cvar.get()))
        self.run_briefly()
        self.assertEqual(seen, ['default', 'default'])
        self.assertEqual(len(errors), 1)

    def test_callback_entering_its_own_context_fails_cleanly(self):
        errors = self.collect_errors()
        ctx = contextvars.Context()
        calls = []
        self.loop.call_soon(lambda: ctx.run(calls.append, 'inner'),
                            context=ctx)
        self.loop.call_soon(calls.append, 'next')
        self.run_briefly()
        self.assertEqual(calls, ['next'])
        self.assertIsInstance(errors[0]['exception'], RuntimeError)

    @needs_get_context
    def test_get_context_returns_given_context(self):
        ctx = contextvars.Context()
        self.assertIs(self.loop.call_soon(callback, context=ctx).get_context(),
                      ctx)
        self.assertIs(
            self.loop.call_later(1, callback, context=ctx).get_context(), ctx)

    @needs_get_context
    def test_get_context_without_context_is_a_copy(self):
        token = cvar.set('copied')
        try:
            h = self.loop.call_soon(callback)
        finally:
            cvar.reset(token)
        ctx = h.get_context()
        self.assertIsInstance(ctx, contextvars.Context)
        self.assertEqual(ctx[cvar], 'copied')

    # A callback scheduled from a context with no variable set runs in a
    # new empty context of its own (aioev makes it only when needed and
    # reuses one that came back unchanged): each callback's changes stay
    # its own, and what it hands out stays the context it ran in. (The
    # test runner's context is not empty: the decimal module sets a
    # variable. So these schedule from a new one.)

    def test_callbacks_from_an_empty_context_do_not_share_changes(self):
        seen = []

        def first():
            seen.append(cvar.get())
            cvar.set('first')
            self.loop.call_soon(lambda: seen.append(('nested', cvar.get())))

        def schedule():
            self.loop.call_soon(first)
            self.loop.call_soon(lambda: seen.append(cvar.get()))
            self.loop.call_later(0, lambda: seen.append(('timer', cvar.get())))
        contextvars.Context().run(schedule)
        self.run_until(lambda: len(seen) == 4)
        self.assertEqual(seen, ['default', 'default', ('timer', 'default'),
                                ('nested', 'first')])

    def test_callbacks_from_another_threads_empty_context(self):
        seen = []

        def set_and_record():
            seen.append(cvar.get())
            cvar.set('changed')

        def produce():
            for _ in range(3):
                self.loop.call_soon_threadsafe(set_and_record)
        thread = threading.Thread(target=produce)
        thread.start()
        thread.join()
        self.run_briefly()
        self.assertEqual(seen, ['default'] * 3)

    def test_reader_callback_keeps_its_context_between_runs(self):
        a, b = self.socketpair()
        seen = []

        def on_readable():
            a.recv(1)
            seen.append(cvar.get())
            cvar.set(f'run {len(seen)}')

        contextvars.Context().run(self.loop.add_reader, a, on_readable)
        self.addCleanup(self.loop.remove_reader, a)
        for _ in range(3):
            count = len(seen)
            b.send(b'x')
            self.run_until(lambda: len(seen) > count)
        self.assertEqual(seen, ['default', 'run 1', 'run 2'])

    def test_context_handed_out_while_running_is_the_running_one(self):
        handles = []
        seen = []

        def cb():
            cvar.set('set by cb')
            ctx = handles[0]._context
            seen.append((ctx[cvar], ctx is handles[0]._context))
            # Another queued handle's context is not this one.
            seen.append(handles[1]._context.get(cvar))

        empty = contextvars.Context()
        handles.append(empty.run(self.loop.call_soon, cb))
        handles.append(empty.run(self.loop.call_soon, callback))
        self.run_briefly()
        self.assertEqual(seen, [('set by cb', True), None])
        self.assertEqual(handles[0]._context[cvar], 'set by cb')

    def test_context_handed_out_before_the_run_is_the_one_it_runs_in(self):
        h = contextvars.Context().run(self.loop.call_soon, cvar.set,
                                      'set by the callback')
        ctx = h._context
        self.assertIsInstance(ctx, contextvars.Context)
        self.assertEqual(len(ctx), 0)
        self.run_briefly()
        self.assertIs(h._context, ctx)
        self.assertEqual(ctx[cvar], 'set by the callback')

    def test_a_context_kept_by_a_callback_is_not_run_in_again(self):
        handles = []
        kept = []
        tokens = []

        def keep_context():  # leaves it empty, but holds it
            kept.append(handles[0]._context)

        def keep_token():  # sets and resets: empty again, held by the token
            token = cvar.set('temporary')
            cvar.reset(token)
            tokens.append(token)

        def record():
            kept.append(handles[2]._context)
            kept.append(cvar.get())

        empty = contextvars.Context()
        for cb in (keep_context, keep_token, record):
            handles.append(empty.run(self.loop.call_soon, cb))
        self.run_briefly()
        self.assertIsNot(kept[0], kept[1])
        self.assertIsNot(tokens[0].var, None)
        self.assertEqual(kept[2], 'default')
        self.assertIs(handles[0]._context, kept[0])
        self.assertEqual(len(kept[0]), 0)

    def test_failing_callbacks_handle_hands_out_its_context(self):
        errors = self.collect_errors()

        def fail():
            cvar.set('before the error')
            raise ZeroDivisionError('in callback')

        empty = contextvars.Context()
        empty.run(self.loop.call_soon, fail)
        empty.run(self.loop.call_soon, lambda: None)
        self.run_briefly()
        self.assertEqual(len(errors), 1)
        self.assertEqual(errors[0]['handle']._context[cvar], 'before the error')

    @support.aioev_only
    @unittest.skipIf(sysconfig.get_config_var('Py_GIL_DISABLED'),
                     'without the GIL every handle copies its context')
    def test_callbacks_from_an_empty_context_allocate_no_context(self):
        # One block per handle (it holds its arguments): a copied context
        # would be a second.
        count = 20000

        def schedule():
            for _ in range(count):
                self.loop.call_soon(callback, None)
        for _ in range(3):  # pools and the ready queue at their size
            contextvars.Context().run(schedule)
            self.run_briefly()
        before = sys.getallocatedblocks()
        contextvars.Context().run(schedule)
        grown = sys.getallocatedblocks() - before
        self.run_briefly()
        self.assertLess(grown, count * 1.25)


class HandleReprTests(LoopTestCase):

    def test_handle_repr(self):
        h = self.loop.call_soon(callback, 1, 'a')
        self.assertEqual(
            repr(h),
            f"<Handle {support.callback_repr(callback, (1, 'a'))}>")

    def test_cancelled_handle_repr(self):
        h = self.loop.call_soon(callback, 1)
        h.cancel()
        self.assertEqual(repr(h), '<Handle cancelled>')

    def test_timer_handle_repr(self):
        when = self.loop.time() + 100
        h = self.loop.call_at(when, callback, 'x')
        self.assertEqual(
            repr(h),
            f"<TimerHandle when={when!r} "
            f"{support.callback_repr(callback, ('x',))}>")
        h.cancel()
        self.assertEqual(repr(h), f'<TimerHandle cancelled when={when!r}>')

    def test_handle_repr_for_partial_callback(self):
        h = self.loop.call_soon(functools.partial(callback, 1), 2)
        code = callback.__code__
        if support.PY_VERSION < (3, 13):
            shown = 'callback(1)(2)'
        else:
            shown = 'callback()()'
        self.assertEqual(
            repr(h),
            f'<Handle {shown} at {code.co_filename}:{code.co_firstlineno}>')

    def test_handle_repr_for_builtin_callback(self):
        h = self.loop.call_soon(print)
        self.assertEqual(repr(h), '<Handle print()>')

    def test_handle_repr_for_bound_method(self):
        h = self.loop.call_soon(self.loop.stop)
        self.assertRegex(repr(h), r'^<Handle \w+\.stop\(\).*>$')

    def test_debug_repr_has_creation_site(self):
        self.loop.set_debug(True)
        h = self.loop.call_soon(callback, 5); line = sys._getframe().f_lineno  # noqa: E702
        self.assertEqual(
            repr(h),
            f'<Handle {support.callback_repr(callback, (5,), debug=True)} '
            f'created at {__file__}:{line}>')

    def test_debug_timer_repr_has_creation_site(self):
        self.loop.set_debug(True)
        h = self.loop.call_later(100, callback); line = sys._getframe().f_lineno  # noqa: E702
        self.assertRegex(repr(h), r'^<TimerHandle when=[0-9.e+]+ callback\(\)')
        self.assertTrue(repr(h).endswith(f' created at {__file__}:{line}>'),
                        repr(h))
        h2 = self.loop.call_at(self.loop.time() + 100, callback); line = sys._getframe().f_lineno  # noqa: E702,E501
        self.assertTrue(repr(h2).endswith(f' created at {__file__}:{line}>'),
                        repr(h2))

    def test_debug_cancelled_repr_keeps_callback(self):
        self.loop.set_debug(True)
        h = self.loop.call_soon(callback); line = sys._getframe().f_lineno  # noqa: E702
        h.cancel()
        self.assertEqual(
            repr(h),
            f'<Handle cancelled '
            f'{support.callback_repr(callback, (), debug=True)} '
            f'created at {__file__}:{line}>')

    def test_non_debug_repr_has_no_creation_site(self):
        h = self.loop.call_soon(callback)
        self.assertNotIn('created at', repr(h))


class TimerHandleTests(LoopTestCase):

    def test_when_returns_the_deadline(self):
        when = self.loop.time() + 10
        self.assertEqual(self.loop.call_at(when, callback).when(), when)

    def test_call_later_when_is_time_plus_delay(self):
        before = self.loop.time()
        h = self.loop.call_later(10, callback)
        after = self.loop.time()
        self.assertGreaterEqual(h.when(), before + 10)
        self.assertLessEqual(h.when(), after + 10)

    def test_timer_handles_order_by_when(self):
        t = self.loop.time()
        early = self.loop.call_at(t + 1, callback)
        late = self.loop.call_at(t + 2, callback)
        self.assertLess(early, late)
        self.assertLessEqual(early, late)
        self.assertGreater(late, early)
        self.assertGreaterEqual(late, early)
        self.assertNotEqual(early, late)
        self.assertEqual(sorted([late, early]), [early, late])

    def test_equal_timer_handles(self):
        when = self.loop.time() + 5
        h1 = self.loop.call_at(when, callback, 1)
        h2 = self.loop.call_at(when, callback, 1)
        self.assertEqual(h1, h2)
        self.assertLessEqual(h1, h2)
        self.assertGreaterEqual(h1, h2)
        self.assertFalse(h1 < h2)
        self.assertEqual(hash(h1), hash(h2))
        self.assertEqual(hash(h1), hash(when))

    def test_timer_handles_differing_in_callback_or_args_are_not_equal(self):
        when = self.loop.time() + 5
        h1 = self.loop.call_at(when, callback, 1)
        self.assertNotEqual(h1, self.loop.call_at(when, callback, 2))
        self.assertNotEqual(h1, self.loop.call_at(when, other_callback, 1))

    def test_cancelled_and_live_timer_handles_are_not_equal(self):
        when = self.loop.time() + 5
        h1 = self.loop.call_at(when, callback)
        h2 = self.loop.call_at(when, callback)
        h2.cancel()
        self.assertNotEqual(h1, h2)

    def test_comparison_with_other_types(self):
        h = self.loop.call_later(5, callback)
        self.assertFalse(h == 1)
        self.assertTrue(h != 1)
        for op in ('__lt__', '__le__', '__gt__', '__ge__'):
            self.assertIs(getattr(h, op)(1), NotImplemented)
        with self.assertRaises(TypeError):
            h < 1  # noqa: B015

    def test_handle_equality_is_identity(self):
        h1 = self.loop.call_soon(callback)
        h2 = self.loop.call_soon(callback)
        self.assertEqual(h1, h1)
        self.assertNotEqual(h1, h2)

    def test_timer_handle_cancel(self):
        h = self.loop.call_later(0, callback)
        self.assertFalse(h.cancelled())
        h.cancel()
        self.assertTrue(h.cancelled())


class CallbackErrorTests(LoopTestCase):

    def test_exception_goes_to_exception_handler(self):
        errors = self.collect_errors()
        h = self.loop.call_soon(failing_callback, 7)
        self.run_briefly()
        self.assertEqual(len(errors), 1)
        ctx = errors[0]
        self.assertEqual(
            ctx['message'],
            f'Exception in callback '
            f'{support.callback_repr(failing_callback, (7,))}')
        self.assertIsInstance(ctx['exception'], ZeroDivisionError)
        self.assertEqual(str(ctx['exception']), 'in callback')
        self.assertIs(ctx['handle'], h)
        self.assertNotIn('source_traceback', ctx)

    def test_debug_exception_context_has_source_traceback(self):
        self.loop.set_debug(True)
        errors = self.collect_errors()
        self.loop.call_soon(failing_callback); line = sys._getframe().f_lineno  # noqa: E702,E501
        self.run_briefly()
        self.assertEqual(len(errors), 1)
        self.assertEqual(
            errors[0]['message'],
            f'Exception in callback '
            f'{support.callback_repr(failing_callback, (), debug=True)}')
        frame = errors[0]['source_traceback'][-1]
        self.assertEqual((frame.filename, frame.lineno), (__file__, line))

    def test_timer_exception_goes_to_exception_handler(self):
        errors = self.collect_errors()
        h = self.loop.call_later(0, failing_callback)
        self.run_until(lambda: errors)
        self.assertIs(errors[0]['handle'], h)
        self.assertTrue(errors[0]['message'].startswith(
            'Exception in callback failing_callback()'))

    def test_loop_goes_on_after_a_callback_exception(self):
        errors = self.collect_errors()
        calls = []
        self.loop.call_soon(failing_callback)
        self.loop.call_soon(calls.append, 'after')
        self.run_briefly()
        self.assertEqual(calls, ['after'])
        self.assertEqual(len(errors), 1)

    def test_default_exception_handler_logs_error(self):
        self.loop.set_exception_handler(None)
        self.loop.call_soon(failing_callback)
        with self.assertLogs('asyncio', logging.ERROR) as cm:
            self.run_briefly()
        self.assertEqual(len(cm.records), 1)
        record = cm.records[0]
        self.assertTrue(record.getMessage().startswith(
            'Exception in callback failing_callback()'))
        self.assertIn('handle: <Handle failing_callback()',
                      record.getMessage())
        self.assertIs(record.exc_info[0], ZeroDivisionError)

    def test_exception_handler_that_raises_is_logged(self):
        def bad_handler(loop, context):
            raise RuntimeError('handler failed')
        self.loop.set_exception_handler(bad_handler)
        calls = []
        self.loop.call_soon(failing_callback)
        self.loop.call_soon(calls.append, 1)
        with self.assertLogs('asyncio', logging.ERROR) as cm:
            self.run_briefly()
        self.assertEqual(calls, [1])
        self.assertIn('Unhandled error in exception handler',
                      cm.records[0].getMessage())

    def test_exception_handler_runs_while_the_exception_is_handled(self):
        # asyncio calls the handler from the `except` clause of Handle._run.
        seen = []

        def handler(loop, context):
            seen.append(sys.exc_info()[1])
            try:
                raise KeyError('in handler')
            except KeyError as exc:
                seen.append(exc.__context__)
        self.loop.set_exception_handler(handler)
        self.loop.call_soon(failing_callback)
        self.run_briefly()
        self.assertEqual(len(seen), 2)
        self.assertIsInstance(seen[0], ZeroDivisionError)
        self.assertIs(seen[1], seen[0])
        self.assertIsNone(sys.exc_info()[1])

    def test_failing_exception_handler_log_chains_the_callback_error(self):
        def bad_handler(loop, context):
            raise RuntimeError('handler failed')
        self.loop.set_exception_handler(bad_handler)
        self.loop.call_soon(failing_callback)
        with self.assertLogs('asyncio', logging.ERROR) as cm:
            self.run_briefly()
        exc = cm.records[0].exc_info[1]
        self.assertIsInstance(exc, RuntimeError)
        self.assertIsInstance(exc.__context__, ZeroDivisionError)
        self.assertIn('During handling of the above exception',
                      cm.output[0])

    def test_callback_cancelling_its_own_handle_then_raising(self):
        errors = self.collect_errors()

        def cancel_then_raise():
            handle.cancel()
            raise ValueError('after cancel')
        handle = self.loop.call_soon(cancel_then_raise)
        self.run_briefly()
        self.assertEqual(len(errors), 1)
        # asyncio formats what the handle holds by then: no callback.
        self.assertEqual(errors[0]['message'], 'Exception in callback None()')
        self.assertIs(errors[0]['handle'], handle)
        self.assertIsInstance(errors[0]['exception'], ValueError)

    def test_keyboard_interrupt_from_exception_handler_propagates(self):
        def handler(loop, context):
            raise KeyboardInterrupt
        self.loop.set_exception_handler(handler)
        self.loop.call_soon(failing_callback)
        with self.assertRaises(KeyboardInterrupt):
            self.loop.run_forever()
        self.assertFalse(self.loop.is_running())
        self.loop.set_exception_handler(self._unexpected_loop_error)

    def test_set_exception_handler_rejects_non_callables(self):
        with self.assertRaisesRegex(
                TypeError, '^A callable object or None is expected, got 1$'):
            self.loop.set_exception_handler(1)

    def test_non_callable_is_accepted_outside_debug_mode_and_fails_later(self):
        errors = self.collect_errors()
        self.loop.call_soon(42)
        self.run_briefly()
        self.assertEqual(len(errors), 1)
        self.assertIsInstance(errors[0]['exception'], TypeError)

    def test_keyboard_interrupt_propagates_and_loop_stays_usable(self):
        calls = []

        def interrupt():
            raise KeyboardInterrupt
        self.loop.call_soon(interrupt)
        self.loop.call_soon(calls.append, 'queued behind')
        with self.assertRaises(KeyboardInterrupt):
            self.loop.run_forever()
        self.assertFalse(self.loop.is_running())
        self.assertEqual(calls, [])
        # The rest of the interrupted iteration runs on the next run.
        self.loop.call_soon(self.loop.stop)
        self.loop.run_forever()
        self.assertEqual(calls, ['queued behind'])

    def test_system_exit_propagates_and_loop_stays_usable(self):
        def leave():
            raise SystemExit(3)
        self.loop.call_soon(leave)
        with self.assertRaises(SystemExit) as cm:
            self.loop.run_forever()
        self.assertEqual(cm.exception.code, 3)
        self.assertEqual(self.loop.run_until_complete(asyncio.sleep(0, 'ok')),
                         'ok')

    def test_keyboard_interrupt_from_timer_propagates(self):
        def interrupt():
            raise KeyboardInterrupt
        self.loop.call_later(0.001, interrupt)
        with self.assertRaises(KeyboardInterrupt):
            self.loop.run_forever()
        self.assertFalse(self.loop.is_running())
        self.loop.call_soon(self.loop.stop)
        self.loop.run_forever()

    def test_base_exception_subclass_goes_to_handler(self):
        class Custom(BaseException):
            pass

        def raise_custom():
            raise Custom
        errors = self.collect_errors()
        self.loop.call_soon(raise_custom)
        self.run_briefly()
        self.assertIsInstance(errors[0]['exception'], Custom)


if __name__ == '__main__':
    unittest.main()
