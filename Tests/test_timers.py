"""call_later and call_at: ordering, cancellation and memory."""

import asyncio
import heapq
import random
import sys
import threading
import time
import unittest

from . import support
from .support import PY_VERSION, LoopTestCase, aioev_only

NAN = float('nan')


def noop(*args):
    pass


class CallLaterTests(LoopTestCase):

    def test_call_later_runs_after_the_delay(self):
        fired = []
        t0 = time.monotonic()
        self.loop.call_later(0.05, lambda: fired.append(time.monotonic()))
        self.run_until(lambda: fired)
        self.assertGreaterEqual(fired[0] - t0, 0.04)

    def test_call_later_does_not_run_before_its_deadline(self):
        fired = []
        h = self.loop.call_later(0.2, fired.append, 1)
        self.run_briefly(3)
        self.assertEqual(fired, [])
        self.assertGreater(h.when(), self.loop.time())

    def test_timers_run_by_deadline(self):
        order = []
        self.loop.call_later(0.03, order.append, 'c')
        self.loop.call_later(0.01, order.append, 'a')
        self.loop.call_later(0.02, order.append, 'b')
        self.loop.call_later(0.0, order.append, 'now')
        self.run_until(lambda: len(order) == 4)
        self.assertEqual(order, ['now', 'a', 'b', 'c'])

    def test_many_timers_run_in_deadline_order(self):
        rnd = random.Random(1234)
        base = self.loop.time() + 0.01
        whens = [base + rnd.random() * 0.05 for _ in range(500)]
        fired = []
        for w in whens:
            self.loop.call_at(w, fired.append, w)
        self.run_until(lambda: len(fired) == len(whens))
        self.assertEqual(fired, sorted(whens))

    def test_random_schedule_and_cancel_mix(self):
        rnd = random.Random(4321)
        now = self.loop.time()
        fired = []
        expected = []
        handles = []
        for i in range(5000):
            when = now - 1 - rnd.random() * 100
            handles.append((self.loop.call_at(when, fired.append, when), when))
        for h, when in handles:
            if rnd.random() < 0.3:
                h.cancel()
            else:
                expected.append(when)
        self.run_briefly()
        self.assertEqual(fired, sorted(expected))

    def test_equal_deadlines_all_run(self):
        fired = []
        when = self.loop.time() + 0.01
        for i in range(50):
            self.loop.call_at(when, fired.append, i)
        self.run_until(lambda: len(fired) == 50)
        self.assertEqual(sorted(fired), list(range(50)))

    def expected_heapq_order(self, n, cancelled, rebuild=None):
        # asyncio's TimerHandle compares `when` alone: equal deadlines leave
        # heapq in the order of its moves. This replays asyncio's _run_once:
        # more than half of over 100 timers cancelled rebuilds the heap
        # (heapify), else cancelled ones are popped when they reach the top.
        class Entry:
            def __init__(self, i):
                self.i = i

            def __lt__(self, other):
                return False  # equal deadlines

        heap = []
        for i in range(n):
            heapq.heappush(heap, Entry(i))
        if rebuild is None:
            rebuild = n > 100 and len(cancelled) / n > 0.5
        if rebuild:
            heap = [e for e in heap if e.i not in cancelled]
            heapq.heapify(heap)
        order = []
        while heap:
            e = heapq.heappop(heap)
            if e.i not in cancelled:
                order.append(e.i)
        return order

    def check_equal_deadline_order(self, n, cancelled):
        fired = []
        when = self.loop.time() - 1  # already due: one iteration runs them all
        handles = [self.loop.call_at(when, fired.append, i) for i in range(n)]
        for i in cancelled:
            handles[i].cancel()
        self.run_until(lambda: len(fired) == n - len(cancelled))
        self.assertEqual(fired, self.expected_heapq_order(n, cancelled))

    def test_equal_deadlines_run_in_asyncios_heap_order(self):
        self.check_equal_deadline_order(12, set())
        self.check_equal_deadline_order(200, set())

    def test_equal_deadlines_order_after_cancels_at_the_top(self):
        self.check_equal_deadline_order(50, {0, 1, 5, 7, 20})

    def test_equal_deadlines_order_after_the_heap_is_rebuilt(self):
        self.check_equal_deadline_order(150, set(range(0, 150, 3)) | set(range(1, 150, 3)))

    def test_cancelled_timer_popped_when_due_still_counts_for_the_rebuild(self):
        # asyncio does not count off a cancelled timer that leaves the heap
        # among the due ones: its count drifts up and rebuilds sooner.
        when = self.loop.time() - 1
        hs = [self.loop.call_at(when, lambda: None) for _ in range(60)]
        for h in hs[1::2]:
            h.cancel()  # 30 cancelled; none at the top: all leave as due
        self.loop.run_until_complete(asyncio.sleep(0))
        fired = []
        hs = [self.loop.call_at(when, fired.append, i) for i in range(110)]
        for i in range(0, 110, 4):
            hs[i].cancel()  # 28 more: 58 counted, over half of 110
        self.run_until(lambda: len(fired) == 82)
        cancelled = set(range(0, 110, 4))
        # With the drifted count (58 > 55) asyncio rebuilds the heap first.
        self.assertEqual(fired, self.expected_heapq_order(110, cancelled, rebuild=True))

    def test_call_at_an_int_too_big_for_a_float_fails_in_the_poll(self):
        # asyncio keeps the int; only the poll timeout (when - time())
        # overflows, and only while nothing else is ready.
        h = self.loop.call_at(10**400, lambda: None)
        self.loop.run_until_complete(asyncio.sleep(0))
        with self.assertRaisesRegex(OverflowError, 'int too large to convert to float'):
            self.loop.run_until_complete(self.loop.create_future())
        h.cancel()
        fired = []
        self.loop.call_at(-10**400, fired.append, 1)
        self.loop.call_soon(fired.append, 0)  # ready: no timeout is computed
        self.loop.run_until_complete(asyncio.sleep(0))
        self.assertEqual(fired, [0, 1])

    def test_timers_never_fire_before_their_deadline(self):
        rnd = random.Random(99)
        early = []
        fired = []

        def check(h_box):
            now = self.loop.time()
            fired.append(1)
            if now < h_box[0].when() - 1e-6:
                early.append(h_box[0].when() - now)
        for _ in range(200):
            box = []
            box.append(self.loop.call_later(rnd.random() * 0.005, check, box))
        self.run_until(lambda: len(fired) == 200)
        self.assertEqual(early, [], f'{len(early)} timers fired early, by up '
                                    f'to {max(early, default=0) * 1e6:.0f} us')

    def test_asyncio_sleep_never_returns_early(self):
        async def main():
            worst = 0.0
            for i in range(50):
                t0 = self.loop.time()
                delay = 0.0002 * (i % 10)
                await asyncio.sleep(delay)
                worst = max(worst, t0 + delay - self.loop.time())
            return worst
        self.assertLessEqual(self.run_coro(main()), 1e-6)

    def test_timer_in_the_past_runs_on_next_iteration(self):
        fired = []
        self.loop.call_at(self.loop.time() - 100, fired.append, 'past')
        self.loop.call_later(-5, fired.append, 'negative')
        self.run_briefly()
        self.assertEqual(sorted(fired), ['negative', 'past'])

    def test_ready_callbacks_run_before_expired_timers_of_same_iteration(self):
        order = []
        self.loop.call_at(self.loop.time() - 1, order.append, 'timer')
        self.loop.call_soon(order.append, 'soon')
        self.run_briefly()
        self.assertEqual(order, ['soon', 'timer'])

    def test_call_at_with_int_when(self):
        fired = []
        when = int(self.loop.time())
        h = self.loop.call_at(when, fired.append, 1)
        self.assertEqual(h.when(), when)
        self.run_briefly()
        self.assertEqual(fired, [1])

    def test_call_later_with_int_delay(self):
        fired = []
        self.loop.call_later(0, fired.append, 1)
        self.run_briefly()
        self.assertEqual(fired, [1])

    def test_infinite_delay_never_fires_and_does_not_block(self):
        fired = []
        h = self.loop.call_later(float('inf'), fired.append, 'inf')
        self.assertEqual(h.when(), float('inf'))
        self.run_stopping_after(0.02)
        self.assertEqual(fired, [])
        h.cancel()

    def test_huge_delay_does_not_block_earlier_timers(self):
        fired = []
        self.loop.call_later(1e300, fired.append, 'huge')
        self.loop.call_later(1e9, fired.append, 'far')
        self.loop.call_later(0.01, fired.append, 'soon')
        self.run_until(lambda: fired)
        self.assertEqual(fired, ['soon'])

    def test_infinite_deadline_first_does_not_block_io(self):
        a, b = self.socketpair()
        fired = []
        self.loop.call_later(float('inf'), fired.append, 'inf')
        self.loop.add_reader(a, lambda: fired.append(a.recv(10)))
        self.loop.call_soon(b.send, b'x')
        self.run_until(lambda: fired)
        self.assertEqual(fired, [b'x'])
        self.loop.remove_reader(a)

    def test_largest_finite_deadline_does_not_block(self):
        fired = []
        self.loop.call_at(sys.float_info.max, fired.append, 'max')
        self.loop.call_later(-sys.float_info.max, fired.append, 'min')
        self.loop.call_later(0.01, fired.append, 'soon')
        self.run_until(lambda: len(fired) == 2)
        self.assertEqual(fired, ['min', 'soon'])

    def test_call_later_none_delay_raises(self):
        with self.assertRaisesRegex(TypeError, '^delay must not be None$'):
            self.loop.call_later(None, noop)

    def test_call_at_none_when_raises(self):
        with self.assertRaisesRegex(TypeError, '^when cannot be None$'):
            self.loop.call_at(None, noop)

    def test_call_later_non_number_delay_raises(self):
        with self.assertRaises(TypeError):
            self.loop.call_later('1', noop)

    def test_call_later_missing_callback_raises(self):
        with self.assertRaises(TypeError):
            self.loop.call_later(1)

    def test_sleeping_loop_wakes_for_the_earliest_timer(self):
        fired = []
        t0 = time.monotonic()
        self.loop.call_later(30, fired.append, 'late')
        self.loop.call_later(0.05, self.loop.stop)
        self.loop.run_forever()
        self.assertLess(time.monotonic() - t0, 5)
        self.assertEqual(fired, [])

    def test_timer_added_by_callback_is_honoured(self):
        fired = []
        self.loop.call_later(
            0.01, lambda: self.loop.call_later(0.01, fired.append, 'inner'))
        self.run_until(lambda: fired)
        self.assertEqual(fired, ['inner'])

    def test_asyncio_sleep_uses_timers(self):
        async def main():
            t0 = self.loop.time()
            await asyncio.sleep(0.05)
            return self.loop.time() - t0
        self.assertGreaterEqual(self.loop.run_until_complete(main()), 0.04)


class NanDeadlineTests(LoopTestCase):
    """call_later(nan) and call_at(nan): every comparison with NaN is
    false, so asyncio's heapq never moves such a timer up, and _run_once
    runs it as soon as it is first in the heap (it stops at the first timer
    'when >= end_time'). With nothing else to do, 3.11 and 3.12 poll with
    max(0, nan) = 0 and run it at once; 3.13 hands NaN to the selector,
    which raises ValueError out of the loop."""

    def setUp(self):
        super().setUp()
        # Whatever a NaN deadline does, it must not hang the test run.
        watchdog = threading.Timer(
            5, lambda: self.loop.call_soon_threadsafe(self.loop.stop))
        watchdog.start()
        self.addCleanup(watchdog.cancel)

    def run_timers(self, *delays, stop_after=0.5):
        """Schedule delays (NaN included) in order, run until stop_after;
        the (index, seconds after start) of each timer that ran."""
        fired = []
        t0 = self.loop.time()
        self.loop.call_later(stop_after, self.loop.stop)
        for i, delay in enumerate(delays):
            self.loop.call_later(
                delay, lambda i=i: fired.append((i, self.loop.time() - t0)))
        self.loop.run_forever()
        return fired

    def test_nan_delay_alone(self):
        for schedule in (self.loop.call_later, self.loop.call_at):
            with self.subTest(schedule=schedule.__name__):
                fired = []
                handle = schedule(NAN, fired.append, 'nan')
                if PY_VERSION >= (3, 13):
                    with self.assertRaisesRegex(
                            ValueError, '^cannot convert float NaN to integer$'):
                        self.loop.run_forever()
                    handle.cancel()
                    continue
                self.loop.call_soon(self.loop.stop)
                self.loop.run_forever()
                self.assertEqual(fired, ['nan'])

    def test_nan_deadline_runs_once_it_surfaces(self):
        # heapq: [0.2 (stop), 0.1, nan] -> nan sits under 0.2 after 0.1 ran.
        fired = self.run_timers(0.1, NAN, stop_after=0.2)
        self.assertEqual([i for i, _ in fired], [0, 1])
        self.assertGreaterEqual(fired[1][1], 0.19)

    def test_nan_deadline_can_hold_back_an_earlier_timer(self):
        # heapq: [0.3, nan, 0.5 (stop), 0.1]: 0.1 sits under nan until 0.3
        # is popped.
        fired = self.run_timers(NAN, 0.3, 0.1, stop_after=0.5)
        self.assertEqual([i for i, _ in fired], [1, 2, 0])
        self.assertGreaterEqual(fired[1][1], 0.29)

    def test_sleep_nan(self):
        async def main():
            await asyncio.sleep(NAN)
        if PY_VERSION >= (3, 13):
            # asyncio.sleep() itself refuses NaN from 3.13 on.
            with self.assertRaisesRegex(
                    ValueError, r'^Invalid delay: NaN \(not a number\)$'):
                self.loop.run_until_complete(main())
        else:
            self.loop.run_until_complete(main())


class TimerCancelTests(LoopTestCase):

    def test_cancelled_timer_does_not_run(self):
        fired = []
        h = self.loop.call_later(0.01, fired.append, 'cancelled')
        self.loop.call_later(0.02, fired.append, 'kept')
        h.cancel()
        self.run_until(lambda: fired)
        self.run_stopping_after(0.02)
        self.assertEqual(fired, ['kept'])

    def test_cancel_a_timer_from_an_earlier_timer_of_the_same_iteration(self):
        fired = []
        past = self.loop.time() - 10
        handles = []
        self.loop.call_at(past, lambda: handles[0].cancel())
        handles.append(self.loop.call_at(past + 1, fired.append, 'x'))
        self.loop.call_at(past + 2, fired.append, 'y')
        self.run_until(lambda: fired)
        self.assertEqual(fired, ['y'])

    def test_cancel_every_timer_leaves_loop_idle(self):
        fired = []
        handles = [self.loop.call_later(0.001 * i, fired.append, i)
                   for i in range(100)]
        for h in handles:
            h.cancel()
        self.run_stopping_after(0.15)
        self.assertEqual(fired, [])

    def test_cancel_earliest_timer_does_not_delay_others(self):
        fired = []
        early = self.loop.call_later(0.01, fired.append, 'early')
        self.loop.call_later(0.03, fired.append, 'later')
        early.cancel()
        t0 = time.monotonic()
        self.run_until(lambda: fired)
        self.assertEqual(fired, ['later'])
        self.assertLess(time.monotonic() - t0, 5)

    def test_many_cancelled_timers_are_purged(self):
        # asyncio drops cancelled timers lazily; a mass cancel must not
        # leave them all queued.
        self.loop.call_later(1800, noop)
        handles = [self.loop.call_later(3600 + i, noop) for i in range(1000)]
        for h in handles:
            h.cancel()
        del handles
        self.run_briefly(2)
        if not support.USING_AIOEV:
            self.assertLess(len(self.loop._scheduled), 100)

    def test_cancelling_200k_timers_keeps_memory_flat(self):
        # Schedule and cancel 200k far-future timers, in rounds; without
        # purging, the cancelled TimerHandles would stay queued (each one a
        # traced allocation).
        def one_round(n):
            for i in range(n):
                self.loop.call_later(3600.0 + i, noop).cancel()
            self.run_briefly(2)

        # A live timer ahead of the cancelled ones: popping cancelled timers
        # off the head of the heap alone would never reach them.
        self.loop.call_later(1800, noop)
        # Warm-up: free lists, and the heap's capacity for a round's timers
        # (traced: the loop's containers allocate from Python's allocator).
        one_round(50_000)
        with support.tracing_memory():
            baseline = support.traced_memory()
            for _ in range(4):
                one_round(50_000)
            grown = support.traced_memory() - baseline
        # 200k leaked TimerHandles would be well over 10 MB.
        self.assertLess(grown, 1_000_000, f'traced memory grew by {grown} B')
        if not support.USING_AIOEV:
            self.assertLess(len(self.loop._scheduled), 100)

    def test_cancel_while_running_keeps_memory_flat(self):
        # A running program that keeps scheduling and cancelling timers.
        rounds = {'n': 0}

        def churn():
            for i in range(1000):
                self.loop.call_later(3600.0 + i, noop).cancel()
            rounds['n'] += 1
            if rounds['n'] == 150:
                self.loop.stop()
            else:
                self.loop.call_soon(churn)

        self.loop.call_later(1800, noop)
        self.loop.call_soon(churn)
        with support.tracing_memory():
            baseline = support.traced_memory()
            self.loop.run_forever()
            grown = support.traced_memory() - baseline
        self.assertLess(grown, 1_000_000, f'traced memory grew by {grown} B')


if __name__ == '__main__':
    unittest.main()
