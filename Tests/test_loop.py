"""run_forever, run_until_complete, stop, close, is_running and friends."""

import asyncio
import gc
import sys
import threading
import time
import unittest
import warnings
import weakref

from . import support
from .support import LoopTestCase, aioev_only


class RunForeverTests(LoopTestCase):

    def test_run_forever_returns_after_stop_from_a_callback(self):
        self.loop.call_soon(self.loop.stop)
        self.loop.run_forever()
        self.assertFalse(self.loop.is_running())

    def test_is_running_is_true_only_inside_run_forever(self):
        seen = []
        self.assertFalse(self.loop.is_running())
        self.loop.call_soon(lambda: seen.append(self.loop.is_running()))
        self.loop.call_soon(self.loop.stop)
        self.loop.run_forever()
        self.assertEqual(seen, [True])
        self.assertFalse(self.loop.is_running())

    def test_get_running_loop_inside_callback_is_the_loop(self):
        seen = []
        self.loop.call_soon(lambda: seen.append(asyncio.get_running_loop()))
        self.loop.call_soon(self.loop.stop)
        self.loop.run_forever()
        self.assertIs(seen[0], self.loop)

    def test_get_running_loop_inside_coroutine_is_the_loop(self):
        async def main():
            return asyncio.get_running_loop(), asyncio.get_event_loop()
        running, current = self.loop.run_until_complete(main())
        self.assertIs(running, self.loop)
        self.assertIs(current, self.loop)

    def test_no_running_loop_after_run_forever_returns(self):
        self.run_briefly()
        with self.assertRaisesRegex(RuntimeError, 'no running event loop'):
            asyncio.get_running_loop()

    def test_run_forever_twice_in_a_row(self):
        calls = []
        for i in range(3):
            self.loop.call_soon(calls.append, i)
            self.loop.call_soon(self.loop.stop)
            self.loop.run_forever()
        self.assertEqual(calls, [0, 1, 2])

    def test_run_forever_inside_callback_raises_already_running(self):
        errors = []

        def nested():
            try:
                self.loop.run_forever()
            except RuntimeError as exc:
                errors.append(str(exc))
        self.loop.call_soon(nested)
        self.loop.call_soon(self.loop.stop)
        self.loop.run_forever()
        self.assertEqual(errors, ['This event loop is already running'])

    def test_run_until_complete_inside_coroutine_raises_already_running(self):
        async def main():
            fut = self.loop.create_future()
            with self.assertRaisesRegex(
                    RuntimeError, '^This event loop is already running$'):
                self.loop.run_until_complete(fut)
            fut.cancel()
            return 'ok'
        self.assertEqual(self.loop.run_until_complete(main()), 'ok')

    def assert_other_loop_refuses_to_run(self, run_other):
        # run_other is called from a callback of self.loop.  (3.13.0's
        # run_forever clears the running loop when its set-up fails, so each
        # refusal is checked in its own test.)
        other = support.new_event_loop()
        self.addCleanup(other.close)
        errors = []

        def nested():
            try:
                run_other(other)
            except RuntimeError as exc:
                errors.append(str(exc))
        self.loop.call_soon(nested)
        self.loop.call_soon(self.loop.stop)
        self.loop.run_forever()
        self.assertEqual(
            errors, ['Cannot run the event loop while another loop is running'])
        self.assertFalse(other.is_running())

    def test_run_forever_while_another_loop_runs_in_the_thread(self):
        self.assert_other_loop_refuses_to_run(lambda other: other.run_forever())

    def test_run_until_complete_while_another_loop_runs_in_the_thread(self):
        self.assert_other_loop_refuses_to_run(
            lambda other: other.run_until_complete(other.create_future()))

    def test_two_loops_run_in_two_threads(self):
        other = support.new_event_loop()
        results = []

        def worker():
            try:
                results.append(other.run_until_complete(
                    asyncio.sleep(0.01, 'other')))
            finally:
                other.close()
        t = self.start_thread(worker)
        results.append(self.loop.run_until_complete(
            asyncio.sleep(0.01, 'main')))
        t.join(10)
        self.assertEqual(sorted(results), ['main', 'other'])

    def test_run_forever_restores_running_loop_after_exception(self):
        def boom():
            raise KeyboardInterrupt
        hooks = sys.get_asyncgen_hooks()
        self.loop.call_soon(boom)
        with self.assertRaises(KeyboardInterrupt):
            self.loop.run_forever()
        self.assertFalse(self.loop.is_running())
        self.assertIsNone(asyncio._get_running_loop())
        self.assertEqual(sys.get_asyncgen_hooks(), hooks)


class StopTests(LoopTestCase):

    def test_stop_lets_ready_callbacks_of_the_iteration_run(self):
        calls = []

        def first():
            calls.append('first')
            self.loop.stop()
        self.loop.call_soon(first)
        self.loop.call_soon(calls.append, 'second')
        self.loop.call_soon(calls.append, 'third')
        self.loop.run_forever()
        self.assertEqual(calls, ['first', 'second', 'third'])

    def test_callbacks_scheduled_in_the_stopping_iteration_run_next_time(self):
        calls = []

        def first():
            calls.append('first')
            self.loop.stop()
            self.loop.call_soon(calls.append, 'later')
        self.loop.call_soon(first)
        self.loop.run_forever()
        self.assertEqual(calls, ['first'])
        self.loop.call_soon(self.loop.stop)
        self.loop.run_forever()
        self.assertEqual(calls, ['first', 'later'])

    def test_stop_before_run_forever_runs_one_iteration(self):
        calls = []

        def first():
            calls.append('first')
            self.loop.call_soon(calls.append, 'next iteration')
        self.loop.call_soon(first)
        self.loop.stop()
        self.loop.run_forever()
        self.assertEqual(calls, ['first'])
        # The stop request was consumed: the next run is a normal one.
        self.loop.call_soon(self.loop.stop)
        self.loop.run_forever()
        self.assertEqual(calls, ['first', 'next iteration'])

    def test_stop_before_run_forever_does_not_wait_for_timers(self):
        fired = []
        self.loop.call_later(30, fired.append, 1)
        self.loop.stop()
        t0 = time.monotonic()
        self.loop.run_forever()
        self.assertLess(time.monotonic() - t0, 5)
        self.assertEqual(fired, [])

    def test_stop_called_twice_stops_once(self):
        calls = []

        def first():
            self.loop.stop()
            self.loop.stop()
            self.loop.call_soon(calls.append, 'next run')
        self.loop.call_soon(first)
        self.loop.run_forever()
        self.assertEqual(calls, [])
        self.loop.call_soon(self.loop.stop)
        self.loop.run_forever()
        self.assertEqual(calls, ['next run'])

    def test_stop_from_a_timer(self):
        t0 = time.monotonic()
        self.loop.call_later(0.05, self.loop.stop)
        self.loop.run_forever()
        self.assertGreaterEqual(time.monotonic() - t0, 0.04)


class RunUntilCompleteTests(LoopTestCase):

    def test_returns_the_coroutine_result(self):
        async def main():
            await asyncio.sleep(0)
            return 42
        self.assertEqual(self.loop.run_until_complete(main()), 42)

    def test_returns_the_future_result(self):
        fut = self.loop.create_future()
        self.loop.call_soon(fut.set_result, 'done')
        self.assertEqual(self.loop.run_until_complete(fut), 'done')

    def test_already_done_future_returns_at_once(self):
        fut = self.loop.create_future()
        fut.set_result('early')
        self.assertEqual(self.loop.run_until_complete(fut), 'early')

    def test_raises_the_coroutine_exception(self):
        async def main():
            raise ValueError('bad')
        with self.assertRaisesRegex(ValueError, 'bad'):
            self.loop.run_until_complete(main())

    def test_base_exception_from_coroutine_propagates(self):
        async def main():
            raise KeyboardInterrupt
        with self.assertRaises(KeyboardInterrupt):
            self.loop.run_until_complete(main())
        self.assertFalse(self.loop.is_running())
        self.assertEqual(self.loop.run_until_complete(asyncio.sleep(0, 1)), 1)

    def test_stop_before_future_completes_raises(self):
        fut = self.loop.create_future()
        self.loop.call_soon(self.loop.stop)
        with self.assertRaisesRegex(
                RuntimeError, '^Event loop stopped before Future completed.$'):
            self.loop.run_until_complete(fut)

    def test_stop_before_run_until_complete_runs_one_iteration(self):
        self.loop.stop()
        with self.assertRaisesRegex(
                RuntimeError, '^Event loop stopped before Future completed.$'):
            self.loop.run_until_complete(asyncio.sleep(30))
        tasks = asyncio.all_tasks(self.loop)
        self.assertEqual(len(tasks), 1)
        task = tasks.pop()
        task.cancel()
        with self.assertRaises(asyncio.CancelledError):
            self.loop.run_until_complete(task)

    def test_future_of_another_loop_raises_value_error(self):
        other = support.new_event_loop()
        self.addCleanup(other.close)
        fut = other.create_future()
        with self.assertRaisesRegex(ValueError, 'different loop'):
            self.loop.run_until_complete(fut)

    def test_non_awaitable_raises_type_error(self):
        with self.assertRaises(TypeError):
            self.loop.run_until_complete(42)


class LoopCloseTests(LoopTestCase):

    def test_is_closed(self):
        self.assertFalse(self.loop.is_closed())
        self.loop.close()
        self.assertTrue(self.loop.is_closed())

    def test_close_twice_is_allowed(self):
        self.loop.close()
        self.loop.close()
        self.assertTrue(self.loop.is_closed())

    def test_close_while_running_raises(self):
        errors = []

        def try_close():
            try:
                self.loop.close()
            except RuntimeError as exc:
                errors.append(str(exc))
        self.loop.call_soon(try_close)
        self.loop.call_soon(self.loop.stop)
        self.loop.run_forever()
        self.assertEqual(errors, ['Cannot close a running event loop'])
        self.assertFalse(self.loop.is_closed())

    def test_close_from_another_thread_while_running_raises(self):
        outcome = []

        def in_thread():
            outcome.append(self.loop.is_running())
            try:
                self.loop.close()
            except RuntimeError as exc:
                outcome.append(str(exc))
            self.loop.call_soon_threadsafe(self.loop.stop)
        self.loop.call_soon(self.start_thread, in_thread)
        self.loop.call_later(30, self.loop.stop)
        self.loop.run_forever()
        self.assertEqual(outcome, [True, 'Cannot close a running event loop'])
        self.assertFalse(self.loop.is_closed())

    def test_close_drops_pending_callbacks(self):
        class Arg:
            pass
        arg = Arg()
        ref = weakref.ref(arg)
        self.loop.call_soon(print, arg)
        self.loop.call_later(10, print, arg)
        del arg
        self.loop.close()
        gc.collect()
        self.assertIsNone(ref())

    def assert_closed_error(self, func, *args, **kwargs):
        with self.assertRaisesRegex(RuntimeError, '^Event loop is closed$'):
            func(*args, **kwargs)

    def test_call_soon_on_closed_loop_raises(self):
        self.loop.close()
        self.assert_closed_error(self.loop.call_soon, print)

    def test_call_later_on_closed_loop_raises(self):
        self.loop.close()
        self.assert_closed_error(self.loop.call_later, 1, print)

    def test_call_at_on_closed_loop_raises(self):
        self.loop.close()
        self.assert_closed_error(self.loop.call_at, self.loop.time(), print)

    def test_call_soon_threadsafe_on_closed_loop_raises(self):
        self.loop.close()
        self.assert_closed_error(self.loop.call_soon_threadsafe, print)

    def test_run_forever_on_closed_loop_raises(self):
        self.loop.close()
        self.assert_closed_error(self.loop.run_forever)

    def test_run_until_complete_on_closed_loop_raises(self):
        self.loop.close()
        coro = asyncio.sleep(0)
        try:
            self.assert_closed_error(self.loop.run_until_complete, coro)
        finally:
            coro.close()

    def test_create_task_on_closed_loop_raises(self):
        self.loop.close()
        coro = asyncio.sleep(0)
        try:
            self.assert_closed_error(self.loop.create_task, coro)
        finally:
            coro.close()

    def test_time_works_on_closed_loop(self):
        self.loop.close()
        self.assertIsInstance(self.loop.time(), float)

    def test_debug_flag_survives_close(self):
        self.loop.set_debug(True)
        self.loop.close()
        self.assertTrue(self.loop.get_debug())


class LoopLifetimeTests(unittest.TestCase):

    def test_unclosed_loop_warns_and_is_collected(self):
        loop = support.new_event_loop()
        ref = weakref.ref(loop)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter('always')
            del loop
            gc.collect()
        self.assertTrue(any(issubclass(w.category, ResourceWarning) and
                            'unclosed event loop' in str(w.message)
                            for w in caught), caught)
        # The recorded warning holds the loop as its source.
        del caught
        gc.collect()
        self.assertIsNone(ref())

    def test_loop_in_a_cycle_with_its_callbacks_is_collected(self):
        loop = support.new_event_loop()
        ref = weakref.ref(loop)
        # Pending handles whose callbacks refer back to the loop.
        loop.call_soon(loop.stop)
        loop.call_later(3600, loop.stop)
        loop.call_soon_threadsafe(loop.call_soon, print)
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', ResourceWarning)
            del loop
            gc.collect()
        self.assertIsNone(ref())

    def test_closed_loop_is_freed_without_gc(self):
        loop = support.new_event_loop()
        loop.run_until_complete(asyncio.sleep(0))
        loop.close()
        ref = weakref.ref(loop)
        gc.disable()
        try:
            del loop
            self.assertIsNone(ref())
        finally:
            gc.enable()

    def test_callback_objects_are_released_after_running(self):

        class Callback:
            def __call__(self):
                pass
        loop = support.new_event_loop()
        self.addCleanup(loop.close)
        cb = Callback()
        ref = weakref.ref(cb)
        loop.call_soon(cb)
        loop.call_later(0, cb)
        loop.call_soon_threadsafe(cb)
        del cb
        loop.call_later(0.01, loop.stop)
        loop.run_forever()
        self.assertIsNone(ref())


class SubclassTests(unittest.TestCase):
    """A subclass of the loop class keeps working and its overrides win."""

    def make_subclass_loop(self, namespace):
        base = type(self._probe())
        sub = type('SubLoop', (base,), namespace)
        loop = sub()
        self.addCleanup(loop.close)
        return loop

    def _probe(self):
        loop = support.new_event_loop()
        loop.close()
        return loop

    def test_overridden_call_exception_handler_sees_callback_errors(self):
        seen = []
        loop = self.make_subclass_loop({
            'call_exception_handler':
                lambda self, context: seen.append(context)})

        def fail():
            raise ZeroDivisionError
        loop.call_soon(fail)
        loop.call_soon(loop.stop)
        loop.run_forever()
        self.assertEqual(len(seen), 1)
        self.assertIsInstance(seen[0]['exception'], ZeroDivisionError)

    def test_overridden_call_soon_is_used_by_futures(self):
        calls = []
        base = type(self._probe())

        def call_soon(self, callback, *args, context=None):
            calls.append(callback)
            return base.call_soon(self, callback, *args, context=context)
        loop = self.make_subclass_loop({'call_soon': call_soon})
        fut = loop.create_future()
        fut.add_done_callback(lambda f: None)
        loop.call_soon(fut.set_result, 1)
        n = len(calls)
        self.assertEqual(loop.run_until_complete(fut), 1)
        self.assertGreater(len(calls), n)

    def test_subclass_runs_coroutines(self):
        loop = self.make_subclass_loop({'extra': 1})

        async def main():
            await asyncio.sleep(0.001)
            return asyncio.get_running_loop()
        self.assertIs(loop.run_until_complete(main()), loop)


class MethodLoadTests(LoopTestCase):

    @unittest.skipIf(support.USING_AIOEV and sys.version_info >= (3, 13),
                     '3.13 keeps no inline attribute values for a subclass of a C '
                     'type with fields of its own: once BaseEventLoop.__init__ has '
                     'made the __dict__, `loop.method` loads stay generic')
    def test_method_loads_on_the_loop_are_specialized(self):
        # CPython specializes `loop.call_soon` to a load that skips the
        # instance __dict__ only when the loop keeps its attributes as inline
        # values, which the C type's tp_new must set up (object.__new__ does).
        import dis

        def schedule(loop):
            for _ in range(20):
                loop.call_soon(callback)

        for _ in range(10):  # past the specializing warm-up
            schedule(self.loop)
        loads = [ins.opname for ins in dis.get_instructions(schedule, adaptive=True)
                 if ins.argval == 'call_soon']
        self.assertEqual(len(loads), 1)
        self.assertTrue(loads[0].endswith('METHOD_WITH_VALUES'), loads)
        self.run_briefly()


def callback():
    pass


class AsyncGenHookTests(LoopTestCase):

    def test_hooks_installed_while_running_and_restored_after(self):
        def firstiter(agen):
            pass

        def finalizer(agen):
            pass
        old = sys.get_asyncgen_hooks()
        sys.set_asyncgen_hooks(firstiter, finalizer)
        self.addCleanup(sys.set_asyncgen_hooks, *old)
        inside = []
        self.loop.call_soon(lambda: inside.append(sys.get_asyncgen_hooks()))
        self.loop.call_soon(self.loop.stop)
        self.loop.run_forever()
        self.assertIsNotNone(inside[0].firstiter)
        self.assertIsNotNone(inside[0].finalizer)
        self.assertIsNot(inside[0].firstiter, firstiter)
        self.assertIsNot(inside[0].finalizer, finalizer)
        self.assertEqual(sys.get_asyncgen_hooks(), (firstiter, finalizer))

    def test_shutdown_asyncgens_finalizes_a_suspended_generator(self):
        events = []

        async def agen():
            try:
                yield 1
                yield 2
            finally:
                events.append('finally')
        gen = agen()

        async def main():
            return await gen.__anext__()
        self.assertEqual(self.loop.run_until_complete(main()), 1)
        self.assertEqual(events, [])
        self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        self.assertEqual(events, ['finally'])

    def test_collected_generator_is_closed_by_the_loop(self):
        events = []

        async def agen():
            try:
                yield 1
                yield 2
            finally:
                await asyncio.sleep(0)
                events.append('finally')

        async def main():
            gen = agen()
            await gen.__anext__()
            del gen
            gc.collect()
            for _ in range(10):
                await asyncio.sleep(0)
        self.loop.run_until_complete(main())
        self.assertEqual(events, ['finally'])


class TimeTests(LoopTestCase):

    def test_time_is_monotonic_clock(self):
        before = time.monotonic()
        now = self.loop.time()
        after = time.monotonic()
        self.assertLessEqual(before, now)
        self.assertLessEqual(now, after)

    def test_time_advances_while_running(self):
        t0 = self.loop.time()
        self.run_stopping_after(0.02)
        self.assertGreaterEqual(self.loop.time() - t0, 0.015)


class CoroutineOriginTrackingTests(LoopTestCase):

    def test_debug_loop_tracks_coroutine_origin_while_running(self):
        self.loop.set_debug(True)
        depth = []
        self.loop.call_soon(
            lambda: depth.append(sys.get_coroutine_origin_tracking_depth()))
        self.loop.call_soon(self.loop.stop)
        self.loop.run_forever()
        self.assertGreater(depth[0], 0)
        self.assertEqual(sys.get_coroutine_origin_tracking_depth(), 0)


class AioevAPITests(unittest.TestCase):
    """The public API of the aioev package itself."""

    def setUp(self):
        self.aioev = support.import_aioev() if support.USING_AIOEV else None

    @aioev_only
    def test_loop_class_mro(self):
        aioev = self.aioev
        self.assertTrue(issubclass(aioev.Loop, asyncio.BaseEventLoop))
        self.assertTrue(issubclass(aioev.Loop, asyncio.AbstractEventLoop))
        self.assertIs(aioev.Loop.__mro__[1], aioev._aioev.Loop)
        self.assertLess(aioev.Loop.__mro__.index(aioev._aioev.Loop),
                        aioev.Loop.__mro__.index(asyncio.BaseEventLoop))

    @aioev_only
    def test_new_event_loop_returns_a_fresh_aioev_loop(self):
        loop1 = self.aioev.new_event_loop()
        loop2 = self.aioev.new_event_loop()
        try:
            self.assertIsInstance(loop1, self.aioev.Loop)
            self.assertIsNot(loop1, loop2)
            self.assertFalse(loop1.is_running())
            self.assertFalse(loop1.is_closed())
        finally:
            loop1.close()
            loop2.close()

    @aioev_only
    def test_loop_is_hashable(self):
        loop = self.aioev.new_event_loop()
        try:
            self.assertEqual(hash(loop), hash(loop))
            self.assertIn(loop, {loop})
        finally:
            loop.close()

    @aioev_only
    def test_run_runs_main_on_an_aioev_loop(self):
        async def main():
            await asyncio.sleep(0)
            return asyncio.get_running_loop()
        loop = self.aioev.run(main())
        self.assertIsInstance(loop, self.aioev.Loop)
        self.assertTrue(loop.is_closed())

    @aioev_only
    def test_run_debug_argument(self):
        async def main():
            return asyncio.get_running_loop().get_debug()
        self.assertTrue(self.aioev.run(main(), debug=True))
        self.assertFalse(self.aioev.run(main(), debug=False))

    @aioev_only
    def test_run_propagates_exceptions(self):
        async def main():
            raise ZeroDivisionError
        with self.assertRaises(ZeroDivisionError):
            self.aioev.run(main())

    @aioev_only
    def test_run_from_a_running_loop_raises(self):
        # As asyncio.run: refuse at once, without making a loop (no stray
        # "coroutine ... was never awaited" from a half-built runner).

        async def inner():
            pass

        async def main():
            coro = inner()
            try:
                with self.assertRaisesRegex(
                        RuntimeError,
                        r'run\(\) cannot be called from a running event loop'):
                    self.aioev.run(coro)
            finally:
                coro.close()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter('always')
            self.aioev.run(main())
            gc.collect()
        self.assertEqual([str(w.message) for w in caught
                          if issubclass(w.category, RuntimeWarning)], [])

    @aioev_only
    def test_run_rejects_non_coroutines(self):
        with self.assertRaisesRegex(ValueError,
                                    '^a coroutine was expected, got 1$'):
            self.aioev.run(1)

    @aioev_only
    def test_runner_with_loop_factory(self):
        async def main():
            return type(asyncio.get_running_loop())
        with asyncio.Runner(loop_factory=self.aioev.new_event_loop) as r:
            self.assertIs(r.run(main()), self.aioev.Loop)

    @aioev_only
    @unittest.skipIf(sys.version_info < (3, 12),
                     'asyncio.run(loop_factory=) is new in 3.12')
    def test_asyncio_run_with_loop_factory(self):
        async def main():
            return type(asyncio.get_running_loop())
        self.assertIs(asyncio.run(main(),
                                  loop_factory=self.aioev.new_event_loop),
                      self.aioev.Loop)

    @aioev_only
    def test_event_loop_policy(self):
        aioev = self.aioev
        self.assertTrue(issubclass(aioev.EventLoopPolicy,
                                   asyncio.DefaultEventLoopPolicy))
        policy = aioev.EventLoopPolicy()
        loop = policy.new_event_loop()
        try:
            self.assertIsInstance(loop, aioev.Loop)
        finally:
            loop.close()

    @aioev_only
    def test_asyncio_run_under_the_policy_uses_aioev(self):
        async def main():
            return type(asyncio.get_running_loop())
        old = asyncio.get_event_loop_policy()
        asyncio.set_event_loop_policy(self.aioev.EventLoopPolicy())
        try:
            self.assertIs(asyncio.run(main()), self.aioev.Loop)
        finally:
            asyncio.set_event_loop_policy(old)

    @aioev_only
    def test_loop_works_from_a_thread(self):
        result = []

        def worker():
            result.append(self.aioev.run(asyncio.sleep(0, 'thread')))
        t = threading.Thread(target=worker)
        t.start()
        t.join(10)
        self.assertEqual(result, ['thread'])


if __name__ == '__main__':
    unittest.main()
