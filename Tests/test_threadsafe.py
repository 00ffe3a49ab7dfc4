"""call_soon_threadsafe and loops driven from other threads."""

import asyncio
import concurrent.futures
import threading
import time
import unittest

from . import support
from .support import LoopTestCase


class CallSoonThreadsafeTests(LoopTestCase):

    def test_wakes_a_loop_sleeping_in_a_long_timer(self):
        woke = []

        def from_thread():
            time.sleep(0.1)
            self.loop.call_soon_threadsafe(
                lambda: (woke.append(time.monotonic()), self.loop.stop()))
        self.loop.call_later(60, self.loop.stop)
        self.start_thread(from_thread)
        t0 = time.monotonic()
        self.loop.run_forever()
        elapsed = time.monotonic() - t0
        self.assertEqual(len(woke), 1)
        self.assertLess(elapsed, 5, f'woke up after {elapsed:.3f} s')

    def test_wakes_a_loop_with_nothing_scheduled(self):
        def from_thread():
            time.sleep(0.05)
            self.loop.call_soon_threadsafe(self.loop.stop)
        self.start_thread(from_thread)
        t0 = time.monotonic()
        self.loop.run_forever()
        self.assertLess(time.monotonic() - t0, 5)

    def test_runs_callback_with_args_in_the_loop_thread(self):
        seen = []
        done = threading.Event()

        def cb(a, b):
            seen.append((a, b, threading.get_ident(),
                         asyncio.get_running_loop()))
            self.loop.stop()

        def from_thread():
            self.loop.call_soon_threadsafe(cb, 1, 2)
            done.set()
        self.loop.call_later(30, self.loop.stop)
        t = self.start_thread(from_thread)
        self.loop.run_forever()
        t.join(10)
        self.assertTrue(done.is_set())
        self.assertEqual(seen, [(1, 2, threading.get_ident(), self.loop)])

    def test_many_threads_many_calls_all_arrive_in_per_thread_order(self):
        n_threads, n_calls = 4, 2000
        received = {i: [] for i in range(n_threads)}
        total = []

        def record(thread_no, seq):
            received[thread_no].append(seq)
            total.append(1)
            if len(total) == n_threads * n_calls:
                self.loop.stop()

        def worker(thread_no):
            for seq in range(n_calls):
                self.loop.call_soon_threadsafe(record, thread_no, seq)
        self.loop.call_later(60, self.loop.stop)
        threads = [self.start_thread(worker, i) for i in range(n_threads)]
        self.loop.run_forever()
        for t in threads:
            t.join(10)
        for i in range(n_threads):
            self.assertEqual(received[i], list(range(n_calls)))

    def test_called_from_the_loop_thread_works_like_call_soon(self):
        calls = []
        self.loop.call_soon_threadsafe(calls.append, 1)
        self.loop.call_soon(calls.append, 2)
        self.loop.call_soon_threadsafe(calls.append, 3)
        self.run_briefly()
        self.assertEqual(calls, [1, 2, 3])

    def test_returned_handle_can_be_cancelled(self):
        calls = []
        h = self.loop.call_soon_threadsafe(calls.append, 1)
        h.cancel()
        self.assertTrue(h.cancelled())
        self.run_briefly()
        self.assertEqual(calls, [])

    def test_before_the_loop_runs_from_another_thread(self):
        calls = []
        t = self.start_thread(self.loop.call_soon_threadsafe, calls.append, 1)
        t.join(10)
        self.run_briefly()
        self.assertEqual(calls, [1])

    def test_run_coroutine_threadsafe(self):
        async def add(a, b):
            await asyncio.sleep(0)
            return a + b
        result = []

        def from_thread():
            fut = asyncio.run_coroutine_threadsafe(add(2, 3), self.loop)
            result.append(fut.result(10))
            self.loop.call_soon_threadsafe(self.loop.stop)
        self.loop.call_later(30, self.loop.stop)
        self.start_thread(from_thread)
        self.loop.run_forever()
        self.assertEqual(result, [5])

    def test_run_in_executor(self):
        async def main():
            return await self.loop.run_in_executor(None, sum, [1, 2, 3])
        self.assertEqual(self.run_coro(main()), 6)
        self.run_coro(self.loop.shutdown_default_executor())

    def test_wrap_concurrent_future_wakes_the_loop(self):
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            async def main():
                return await asyncio.wrap_future(
                    pool.submit(time.sleep, 0.05), loop=self.loop)
            t0 = time.monotonic()
            self.assertIsNone(self.run_coro(main()))
            self.assertLess(time.monotonic() - t0, 5)

    def test_gil_is_released_while_the_loop_waits(self):
        # A Python thread keeps running while the loop sleeps in its poll.
        progress = []
        stop = threading.Event()

        def spin():
            n = 0
            while not stop.is_set():
                n += 1
                if n % 1000 == 0:
                    progress.append(n)
        t = self.start_thread(spin)
        try:
            time.sleep(0.02)
            before = len(progress)
            self.run_stopping_after(0.2)
            during = len(progress) - before
        finally:
            stop.set()
            t.join(10)
        self.assertGreater(during, 10)

    def test_threads_calling_while_the_loop_closes(self):
        # Threads keep calling call_soon_threadsafe while the loop is closed
        # under them: each call either works or raises 'Event loop is
        # closed'; nothing crashes (run in a child: a crash would kill us).
        proc = support.run_child('''
            import threading
            loop = new_event_loop()
            stop = threading.Event()
            outcomes = set()
            def spam():
                while not stop.is_set():
                    try:
                        loop.call_soon_threadsafe(lambda: None)
                        outcomes.add('ok')
                    except RuntimeError as exc:
                        outcomes.add(str(exc))
            threads = [threading.Thread(target=spam) for _ in range(4)]
            for t in threads:
                t.start()
            loop.call_later(0.05, loop.stop)
            loop.run_forever()
            loop.close()
            time.sleep(0.05)
            stop.set()
            for t in threads:
                t.join()
            assert outcomes <= {'ok', 'Event loop is closed'}, outcomes
            assert 'Event loop is closed' in outcomes, outcomes
            print('done')
        ''')
        self.assertEqual(proc.returncode, 0, support.describe_child(proc))
        self.assertIn('done', proc.stdout)

    def test_call_soon_threadsafe_missing_callback_raises(self):
        with self.assertRaises(TypeError):
            self.loop.call_soon_threadsafe()


if __name__ == '__main__':
    unittest.main()
