"""Reference and memory leaks in the loop's hot paths.

Reference counts of callbacks and their arguments must come back to where
they were; tracemalloc's traced memory (Python objects, including the loop's
handles) and the process RSS (the C++ side) must stay flat.
"""

import asyncio
import contextvars
import gc
import socket
import sys
import threading
import unittest

from . import support
from .support import LoopTestCase


N = 10_000


class Arg:
    """A fresh object whose reference count only the test touches."""


def make_callback():
    def callback(*args):
        pass
    return callback


async def cancelled_sock_recv(loop, sock, n):
    """A sock_recv(sock, n) that waits, cancelled."""
    task = loop.create_task(loop.sock_recv(sock, n))
    await asyncio.sleep(0)
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass


class RefcountTests(LoopTestCase):

    def assert_refcounts_unchanged(self, scenario):
        cb, arg1, arg2 = make_callback(), Arg(), Arg()
        scenario(cb, arg1, arg2, 100)  # warm-up (free lists, caches)
        gc.collect()
        before = [sys.getrefcount(o) for o in (cb, arg1, arg2)]
        scenario(cb, arg1, arg2, N)
        gc.collect()
        after = [sys.getrefcount(o) for o in (cb, arg1, arg2)]
        self.assertEqual(after, before)

    def test_call_soon(self):
        def scenario(cb, a1, a2, n):
            for _ in range(n):
                self.loop.call_soon(cb, a1, a2)
            self.run_briefly()
        self.assert_refcounts_unchanged(scenario)

    def test_call_soon_with_context(self):
        ctx = contextvars.copy_context()

        def scenario(cb, a1, a2, n):
            for _ in range(n):
                self.loop.call_soon(cb, a1, a2, context=ctx)
            self.run_briefly()
        before = sys.getrefcount(ctx)
        self.assert_refcounts_unchanged(scenario)
        gc.collect()
        self.assertEqual(sys.getrefcount(ctx), before)

    def test_call_later(self):
        def scenario(cb, a1, a2, n):
            for _ in range(n):
                self.loop.call_later(0, cb, a1, a2)
            self.run_until(lambda: True)
            self.run_stopping_after(0.005)
        self.assert_refcounts_unchanged(scenario)

    def test_call_at_cancelled(self):
        def scenario(cb, a1, a2, n):
            when = self.loop.time() + 3600
            for _ in range(n):
                self.loop.call_at(when, cb, a1, a2).cancel()
            self.run_briefly(2)
        self.assert_refcounts_unchanged(scenario)

    def test_call_soon_cancelled(self):
        def scenario(cb, a1, a2, n):
            for _ in range(n):
                self.loop.call_soon(cb, a1, a2).cancel()
            self.run_briefly()
        self.assert_refcounts_unchanged(scenario)

    def test_call_soon_threadsafe_from_a_thread(self):
        def scenario(cb, a1, a2, n):
            def worker():
                for _ in range(n):
                    self.loop.call_soon_threadsafe(cb, a1, a2)
            t = threading.Thread(target=worker)
            t.start()
            t.join()
            self.run_briefly()
        self.assert_refcounts_unchanged(scenario)

    def test_failing_callbacks(self):
        errors = self.collect_errors()

        def scenario(cb, a1, a2, n):
            def failing(*args):
                raise ValueError(args)
            for _ in range(n // 10):
                self.loop.call_soon(failing, a1, a2)
            self.run_briefly()
            errors.clear()
        self.assert_refcounts_unchanged(scenario)

    def test_add_remove_reader_cycles(self):
        a, _ = self.socketpair()

        def scenario(cb, a1, a2, n):
            for _ in range(n):
                self.loop.add_reader(a.fileno(), cb, a1, a2)
                self.loop.remove_reader(a.fileno())
            self.run_briefly()
        self.assert_refcounts_unchanged(scenario)

    def test_add_reader_replaced_many_times(self):
        a, _ = self.socketpair()

        def scenario(cb, a1, a2, n):
            for _ in range(n):
                self.loop.add_reader(a.fileno(), cb, a1, a2)
                self.loop.add_writer(a.fileno(), cb, a1, a2)
            self.run_briefly()
            self.loop.remove_reader(a.fileno())
            self.loop.remove_writer(a.fileno())
        self.assert_refcounts_unchanged(scenario)

    def test_reader_fired_many_times(self):
        a, b = self.socketpair()

        def scenario(cb, a1, a2, n):
            count = [0]

            def reader(*args):
                cb(*args)
                a.recv(1)
                count[0] += 1
            n = n // 10
            self.loop.add_reader(a.fileno(), reader, a1, a2)
            for _ in range(n):
                b.send(b'x')
                self.run_until(lambda: count[0] > 0)
                count[0] = 0
            self.loop.remove_reader(a.fileno())
        self.assert_refcounts_unchanged(scenario)

    def test_sock_calls_leave_socket_refcounts(self):
        a, b = self.socketpair()

        async def pingpong(n):
            for _ in range(n):
                await self.loop.sock_sendall(a, b'ping')
                await self.loop.sock_recv(b, 10)
                buf = bytearray(4)
                await self.loop.sock_sendall(b, b'pong')
                await self.loop.sock_recv_into(a, buf)
        self.run_coro(pingpong(100))
        gc.collect()
        before = sys.getrefcount(a), sys.getrefcount(b)
        self.run_coro(pingpong(2000))
        gc.collect()
        self.assertEqual((sys.getrefcount(a), sys.getrefcount(b)), before)


class MemoryTests(LoopTestCase):

    LIMIT = 500_000  # bytes of growth tolerated after warm-up

    def assert_flat(self, step, rounds=4):
        step()  # warm-up
        with support.tracing_memory():
            step()
            baseline = support.traced_memory()
            for _ in range(rounds):
                step()
            grown = support.traced_memory() - baseline
        self.assertLess(grown, self.LIMIT,
                        f'traced memory grew by {grown} B over {rounds} rounds')

    def test_100k_handles_run(self):
        def cb(x):
            pass

        def step():
            for i in range(25_000):
                self.loop.call_soon(cb, i)
            self.run_briefly()
        self.assert_flat(step)

    def test_100k_timers_run(self):
        def cb():
            pass

        def step():
            for i in range(25_000):
                self.loop.call_later(0, cb)
            self.run_until(lambda: True)
            self.run_stopping_after(0.005)
        self.assert_flat(step)

    def test_add_remove_reader_cycles(self):
        a, _ = self.socketpair()

        def step():
            for _ in range(5_000):
                self.loop.add_reader(a.fileno(), print)
                self.loop.add_writer(a.fileno(), print)
                self.loop.remove_writer(a.fileno())
                self.loop.remove_reader(a.fileno())
            self.run_briefly()
        self.assert_flat(step)

    def test_sock_pingpong(self):
        a, b = self.socketpair()

        async def pingpong():
            for _ in range(500):
                await self.loop.sock_sendall(a, b'ping')
                await self.loop.sock_recv(b, 10)

        def step():
            self.run_coro(pingpong())
        self.assert_flat(step)

    def test_large_sock_recv_that_waits(self):
        a, b = self.socketpair()

        async def pingpong():
            for _ in range(200):
                self.loop.call_soon(b.send, b'x' * 40_000)
                await self.loop.sock_recv(a, 65536)

        def step():
            self.run_coro(pingpong())
        self.assert_flat(step)

    def traced_growth(self, run):
        """Bytes of traced memory that run() leaves allocated."""
        with support.tracing_memory():
            gc.collect()
            baseline = support.traced_memory()
            run()
            gc.collect()
            return support.traced_memory() - baseline

    def test_closed_loop_releases_large_recv_buffer(self):
        # A large sock_recv that found nothing keeps its buffer on the loop:
        # closing and dropping the loop frees it.
        def one_loop():
            loop = support.new_event_loop()
            a, b = socket.socketpair()
            a.setblocking(False)
            try:
                loop.run_until_complete(cancelled_sock_recv(loop, a, 256 * 1024))
            finally:
                loop.close()
                a.close()
                b.close()

        one_loop()
        grown = self.traced_growth(lambda: [one_loop() for _ in range(20)])
        self.assertLess(grown, 1 << 20, f'traced memory grew by {grown} B')

    def test_waiting_huge_sock_recv_holds_no_buffer(self):
        # A sock_recv(sock, n) with n beyond the loop's read buffer keeps no
        # n-byte buffer on the loop after it was cancelled.
        a, b = self.socketpair()
        self.run_coro(cancelled_sock_recv(self.loop, a, 100))  # warm-up
        grown = self.traced_growth(
            lambda: self.run_coro(cancelled_sock_recv(self.loop, a, 16 << 20)))
        self.assertLess(grown, 1 << 20, f'traced memory grew by {grown} B')

    def test_cancelled_sock_recv(self):
        a, b = self.socketpair()

        async def cancel_many():
            for _ in range(200):
                t = self.loop.create_task(self.loop.sock_recv(a, 10))
                await asyncio.sleep(0)
                t.cancel()
                try:
                    await t
                except asyncio.CancelledError:
                    pass

        def step():
            self.run_coro(cancel_many())
        self.assert_flat(step)

    def test_tasks_and_futures(self):
        async def child(fut):
            await fut

        async def many():
            for _ in range(500):
                fut = self.loop.create_future()
                t = self.loop.create_task(child(fut))
                self.loop.call_soon(fut.set_result, None)
                await t

        def step():
            self.run_coro(many())
        self.assert_flat(step)

    @unittest.skipIf(support.UNDER_SANITIZER, 'RSS is meaningless under ASan')
    def test_rss_flat_across_handle_churn(self):
        # The C++ side is invisible to tracemalloc; watch the process.
        def cb(*args):
            pass

        def step():
            for i in range(50_000):
                self.loop.call_soon(cb, i)
            for i in range(25_000):
                self.loop.call_later(3600 + i, cb).cancel()
            self.run_briefly(2)

        step()
        step()
        gc.collect()
        baseline = support.rss_bytes()
        for _ in range(4):
            step()
        gc.collect()
        grown = support.rss_bytes() - baseline
        self.assertLess(grown, 8 << 20, f'RSS grew by {grown} B')


if __name__ == '__main__':
    unittest.main()
