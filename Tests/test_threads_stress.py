"""Loops in many threads at once, and calls into them from many others.

Built for the free-threaded CPython (issue 12), where nothing serializes the
threads, and run on every build: each loop thread makes, runs and closes its
own loop while producer threads call call_soon_threadsafe and
run_coroutine_threadsafe into all of them; every callback must arrive once,
in each producer's order, and every coroutine must return what its future
(resolved from the producer's thread) says. It runs in a child interpreter,
so a crash is a failure and not the end of the test run.
"""

import sysconfig
import unittest

from . import support

FREE_THREADED = bool(sysconfig.get_config_var('Py_GIL_DISABLED'))

STRESS = '''
    import queue, threading

    N_LOOPS, N_PRODUCERS, CALLS, COROS, ROUNDS = {params}
    LIMIT = 60  # seconds: a loop that waits longer stops, and the counts fail

    def run_round():
        loops = [None] * N_LOOPS
        made = threading.Barrier(N_LOOPS + N_PRODUCERS, timeout=LIMIT)  # none hangs on a failed one
        # counts[i][p]: producer p's callbacks that ran in loop i, touched
        # only by loop i's thread.
        counts = [[0] * N_PRODUCERS for _ in range(N_LOOPS)]
        finished = [0] * N_LOOPS
        problems = []

        def on_call(i, p, seq):
            if counts[i][p] != seq:
                problems.append(f'loop {{i}}: producer {{p}} call {{seq}} '
                                f'after {{counts[i][p]}}')
            counts[i][p] += 1

        def on_producer_done(i):
            finished[i] += 1
            if finished[i] == N_PRODUCERS:
                loops[i].stop()

        def on_error(loop, context):
            problems.append(repr(context))

        async def resolved_elsewhere(value, handoff):
            fut = asyncio.get_running_loop().create_future()
            handoff.put(fut)
            return await fut * 2

        def run_loop(i):
            loop = new_event_loop()  # made and closed while others run
            loop.set_exception_handler(on_error)
            loops[i] = loop
            made.wait()  # producers may call before it runs
            loop.call_later(LIMIT, loop.stop)
            try:
                loop.run_forever()
            finally:
                loop.close()

        def produce(p):
            made.wait()
            try:
                for seq in range(CALLS):
                    for i, loop in enumerate(loops):
                        loop.call_soon_threadsafe(on_call, i, p, seq)
                handoff = queue.Queue()
                for k in range(COROS):
                    for loop in loops:
                        cf = asyncio.run_coroutine_threadsafe(
                            resolved_elsewhere(k, handoff), loop)
                        fut = handoff.get(timeout=LIMIT)
                        loop.call_soon_threadsafe(fut.set_result, p)
                        got = cf.result(timeout=LIMIT)
                        if got != 2 * p:
                            problems.append(f'coroutine gave {{got}}, not {{2 * p}}')
            except BaseException as exc:
                problems.append(f'producer {{p}}: {{exc!r}}')
            finally:
                for i, loop in enumerate(loops):
                    loop.call_soon_threadsafe(on_producer_done, i)

        threads = [threading.Thread(target=run_loop, args=(i,)) for i in range(N_LOOPS)]
        threads += [threading.Thread(target=produce, args=(p,))
                    for p in range(N_PRODUCERS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(2 * LIMIT)
        assert not any(t.is_alive() for t in threads), 'a thread hangs'
        assert not problems, problems[:10]
        assert counts == [[CALLS] * N_PRODUCERS] * N_LOOPS, counts
        assert finished == [N_PRODUCERS] * N_LOOPS, finished
        assert all(loop.is_closed() for loop in loops)

    for _ in range(ROUNDS):
        run_round()
    print('ok', sys._is_gil_enabled() if hasattr(sys, '_is_gil_enabled') else True)
'''

# Producers cancel the handles call_soon_threadsafe gave them while the loop
# runs them: each callback (a fresh bound method with a fresh argument, which
# only its handle holds) runs at most once and nothing is freed under it.
CANCEL = '''
    import threading

    N_PRODUCERS, CALLS = {params}
    loop = new_event_loop()
    ran = []
    problems = []
    loop.set_exception_handler(lambda loop, context: problems.append(repr(context)))

    class Target:
        def hit(self, box):
            ran.append(box[0])

    done = []

    def on_producer_done():
        done.append(1)
        if len(done) == N_PRODUCERS:
            loop.stop()

    def produce(p):
        for seq in range(CALLS):
            h = loop.call_soon_threadsafe(Target().hit, [(p, seq)])
            if seq % 2:
                h.cancel()
        loop.call_soon_threadsafe(on_producer_done)

    threads = [threading.Thread(target=produce, args=(p,)) for p in range(N_PRODUCERS)]
    for t in threads:
        t.start()
    loop.call_later(60, loop.stop)
    loop.run_forever()
    for t in threads:
        t.join(60)
    loop.close()
    assert not problems, problems[:10]
    assert len(done) == N_PRODUCERS, done
    assert len(ran) == len(set(ran)), 'a callback ran twice'
    # every call not cancelled ran
    kept = {{(p, seq) for p in range(N_PRODUCERS) for seq in range(0, CALLS, 2)}}
    assert kept <= set(ran), sorted(kept - set(ran))[:10]
    print('ok')
'''

# One thread reads handles (repr, ==, _callback, _args) while another cancels
# them: a reader sees the callback and its arguments whole or not at all.
# The callback (a fresh bound method) and the argument (a fresh list) are
# held by the handle only, so a read that races cancel() uses freed objects
# (repr once called format_callback_source() with no arguments, or crashed).
# Stops at the first problem.
READ_CANCEL = '''
    import os, threading

    BATCHES, BATCH = {params}
    loop = new_event_loop()
    problems = []
    handles = []
    at = [0]  # the handle the reader is at
    start = threading.Barrier(3)
    end = threading.Barrier(3)

    class Target:
        def hit(self, box):
            pass

    # The reader reads each handle until it has seen it cancelled; the
    # canceller cancels it once the reader is at it. Both give way
    # (sched_yield) as they wait: with more threads than cores a waiting
    # thread that spun would hold its core for a whole time slice a handle.
    def reader():
        for _ in range(BATCHES):
            start.wait()
            for k, h in enumerate(handles):
                at[0] = k
                done = False
                while not done:
                    done = h.cancelled()
                    try:
                        repr(h)
                        h == h
                        h._callback
                        h._args
                    except Exception as exc:
                        problems.append(repr(exc))
                    os.sched_yield()
            end.wait()

    def canceller():
        for _ in range(BATCHES):
            start.wait()
            for k, h in enumerate(handles):
                while at[0] < k:
                    os.sched_yield()
                h.cancel()
            end.wait()

    threads = [threading.Thread(target=reader), threading.Thread(target=canceller)]
    for t in threads:
        t.start()
    for _ in range(BATCHES):
        handles[:] = [loop.call_soon(Target().hit, [k]) for k in range(BATCH)]
        at[0] = -1
        start.wait()
        end.wait()
        assert all(h.cancelled() and h._args is None for h in handles)
        loop.call_soon(loop.stop)
        loop.run_forever()  # drops the cancelled handles
        if problems:
            start.abort()
            break
    for t in threads:
        t.join(60)
    loop.close()
    assert not problems, problems[:10]
    print('ok')
'''


# Threads cancel TimerHandles made by the loop's thread while it runs them:
# the count of cancelled timers in the heap (which decides when the heap is
# rebuilt without them) is changed from every thread at once. Every timer
# not cancelled fires once; the heap keeps no cancelled timer at the end.
TIMER_CANCEL = '''
    import threading

    N_CANCELLERS, TIMERS = {params}
    loop = new_event_loop()
    fired = []
    handles = [loop.call_later(0.5 + (k % 50) / 1000, fired.append, k) for k in range(TIMERS)]
    start = threading.Barrier(N_CANCELLERS + 1)

    def cancel(c):
        start.wait()
        for k in range(c, TIMERS, N_CANCELLERS):
            if k % 3:
                handles[k].cancel()

    threads = [threading.Thread(target=cancel, args=(c,)) for c in range(N_CANCELLERS)]
    for t in threads:
        t.start()
    loop.call_soon(start.wait)  # the cancellers start while the loop runs
    loop.call_later(2.0, loop.stop)
    loop.run_forever()
    for t in threads:
        t.join(60)
    assert len(fired) == len(set(fired)), 'a timer fired twice'
    kept = set(range(0, TIMERS, 3))
    assert kept <= set(fired), sorted(kept - set(fired))[:10]
    assert all(h.cancelled() for k, h in enumerate(handles) if k % 3)
    loop.close()
    print('ok')
'''

# Threads cancel and read futures (and cancel tasks) directly, not through
# call_soon_threadsafe, while the loop's thread resolves them and steps the
# tasks awaiting them: asyncio documents its futures as not thread-safe, but
# no such program may crash. Each future ends cancelled or with its result,
# every done callback runs once, in the loop's thread, and every task ends as
# its future says.
FUTURES_FROM_THREADS = '''
    import threading

    N_THREADS, FUTURES, ROUNDS = {params}
    loop = new_event_loop()
    problems = []
    loop.set_exception_handler(lambda loop, context: problems.append(repr(context)))
    loop_thread = threading.get_ident()

    async def waiter(fut):
        try:
            return ('result', await fut)
        except asyncio.CancelledError:
            return ('cancelled', None)

    for _ in range(ROUNDS):
        futs = [loop.create_future() for _ in range(FUTURES)]
        called = [0] * FUTURES

        def on_done(fut, k):
            if threading.get_ident() != loop_thread:
                problems.append(f'future {{k}}: done callback in another thread')
            called[k] += 1

        for k, fut in enumerate(futs):
            fut.add_done_callback(lambda fut, k=k: on_done(fut, k))
        tasks = [loop.create_task(waiter(fut)) for fut in futs]
        start = threading.Barrier(N_THREADS + 1)

        def poke(c):
            start.wait()
            for k in range(FUTURES):
                fut = futs[k]
                fut.done()
                fut.cancelled()
                fut._state
                if k % N_THREADS == c and k % 3 == 1:
                    fut.cancel()
                if k % N_THREADS == c and k % 5 == 2:
                    tasks[k].cancel()
                if k % 97 == c:
                    repr(fut)
                    repr(tasks[k])

        async def resolve():
            start.wait()  # the threads start while the loop runs
            for k, fut in enumerate(futs):
                if k % 3 == 0:
                    try:
                        fut.set_result(k)
                    except asyncio.InvalidStateError:
                        pass  # a thread cancelled it first
                if k % 50 == 0:
                    await asyncio.sleep(0)
            # The loop runs until the threads are done: what they schedule
            # goes through its threadsafe queue only while it runs.
            while any(t.is_alive() for t in threads):
                await asyncio.sleep(0.001)

        threads = [threading.Thread(target=poke, args=(c,)) for c in range(N_THREADS)]
        for t in threads:
            t.start()
        loop.run_until_complete(resolve())
        for t in threads:
            t.join(60)
        for k, fut in enumerate(futs):
            if not fut.done():
                fut.set_result(k)
        results = loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        loop.run_until_complete(asyncio.sleep(0))  # the last done callbacks
        for k, (fut, task, got) in enumerate(zip(futs, tasks, results)):
            if fut.cancelled():
                ok = got == ('cancelled', None)
            else:
                ok = got == ('result', k) or got == ('cancelled', None) and task.cancelling()
            if not ok:
                problems.append(f'future {{k}} {{fut!r}}: task gave {{got!r}}')
        bad = [k for k, n in enumerate(called) if n != 1]
        if bad:
            problems.append(f'done callbacks not run once: {{bad[:10]}}')
        if problems:
            break
    loop.close()
    assert not problems, problems[:10]
    print('ok')
'''


# Threads schedule on a loop that runs in none of them (call_soon,
# call_later, cancelling futures whose done callbacks the loop then runs),
# all at once; then a new thread starts running the loop while the thread
# that made it goes on scheduling on it. On a free-threaded build only the
# loop's owner thread touches its ready queue and timer heap, and the
# others' entries go through the locked threadsafe queue (LoopAccess): each
# thread's callbacks run once and in its order, every timer fires once,
# every done callback runs once, and all in the loop's thread.
IDLE_LOOP_FROM_THREADS = '''
    import threading

    N_THREADS, CALLS, ROUNDS = {params}
    loop = new_event_loop()
    problems = []
    loop.set_exception_handler(lambda loop, context: problems.append(repr(context)))
    runner = [threading.get_ident()]

    def record(seen, t, k):
        if threading.get_ident() != runner[0]:
            problems.append(f'thread {{t}} call {{k}} ran in another thread')
        if seen[t] != k:
            problems.append(f'thread {{t}}: call {{k}} after {{seen[t]}}')
        seen[t] += 1

    def fired(timers, t):
        timers[t] += 1

    def schedule(t, seen, timers, futs, done, start):
        start.wait()
        for k in range(CALLS):
            loop.call_soon(record, seen, t, k)
            if k % 10 == 0:
                loop.call_later(0.001 * (k % 7), fired, timers, t)
            if k % 4 == 0:
                futs[t][k // 4].cancel()

    def round_(main_schedules_while_another_runs):
        seen = [0] * (N_THREADS + 1)
        timers = [0] * (N_THREADS + 1)
        done = [0]
        futs = [[loop.create_future() for _ in range(0, CALLS, 4)]
                for _ in range(N_THREADS + 1)]
        for row in futs:
            for fut in row:
                fut.add_done_callback(lambda fut: done.__setitem__(0, done[0] + 1))
        start = threading.Barrier(N_THREADS + 1)
        threads = [threading.Thread(target=schedule,
                                    args=(t, seen, timers, futs, done, start))
                   for t in range(N_THREADS)]
        for thread in threads:
            thread.start()
        n_timers = len(range(0, CALLS, 10))
        total = (N_THREADS + 1) * CALLS

        def until_all(stop_loop):
            deadline = loop.time() + 60
            def check():
                if (sum(seen) == total and sum(timers) == (N_THREADS + 1) * n_timers
                        and done[0] == (N_THREADS + 1) * len(futs[0])) or loop.time() > deadline:
                    stop_loop()
                else:
                    loop.call_later(0.001, check)
            return check

        if not main_schedules_while_another_runs:
            # Nobody runs the loop while everyone (this thread too) schedules.
            schedule(N_THREADS, seen, timers, futs, done, start)
            for thread in threads:
                thread.join(60)
            runner[0] = threading.get_ident()
            loop.call_soon(until_all(loop.stop))
            loop.run_forever()
        else:
            # Another thread starts running the loop while this one, which
            # ran it last, and the others go on scheduling on it.
            def run():
                runner[0] = threading.get_ident()
                loop.run_forever()
            loop.call_soon(until_all(loop.stop))
            runner_thread = threading.Thread(target=run)
            runner_thread.start()
            schedule(N_THREADS, seen, timers, futs, done, start)
            for thread in threads:
                thread.join(60)
            runner_thread.join(90)
            # This thread runs it again: the owner comes back.
            runner[0] = threading.get_ident()
            loop.run_until_complete(asyncio.sleep(0))
        if seen != [CALLS] * (N_THREADS + 1):
            problems.append(f'callbacks run: {{seen}}')
        if timers != [n_timers] * (N_THREADS + 1):
            problems.append(f'timers fired: {{timers}}')
        if done[0] != (N_THREADS + 1) * len(futs[0]):
            problems.append(f'done callbacks: {{done[0]}}')

    for r in range(ROUNDS):
        round_(r % 2 == 1)
        if problems:
            break
    loop.close()
    assert not problems, problems[:10]
    print('ok')
'''


class ThreadStressTests(unittest.TestCase):

    def run_stress(self, n_loops, n_producers, calls, coros, rounds):
        params = (n_loops, n_producers, calls, coros, rounds)
        proc = support.run_child(STRESS.format(params=params), timeout=600)
        self.assertEqual(proc.returncode, 0, support.describe_child(proc))
        self.assertIn('ok', proc.stdout)
        return proc

    def test_loops_in_threads_called_from_other_threads(self):
        # 4 loops, 4 producers: 80,000 callbacks and 3,200 cross-thread
        # coroutines a round, three rounds of loops made and closed at once.
        self.run_stress(4, 4, 5000, 200, 3)

    def test_one_loop_many_producers(self):
        # Everything into one queue: the most contention on its lock.
        self.run_stress(1, 8, 20000, 100, 2)

    def test_handles_cancelled_from_other_threads(self):
        proc = support.run_child(CANCEL.format(params=(4, 50000)), timeout=600)
        self.assertEqual(proc.returncode, 0, support.describe_child(proc))
        self.assertIn('ok', proc.stdout)

    def test_timers_cancelled_from_other_threads(self):
        # 4 threads cancel two thirds of 20,000 timers while the loop runs.
        proc = support.run_child(TIMER_CANCEL.format(params=(4, 20000)), timeout=600)
        self.assertEqual(proc.returncode, 0, support.describe_child(proc))
        self.assertIn('ok', proc.stdout)

    def test_futures_cancelled_and_read_from_other_threads(self):
        # 4 threads, 3,000 futures and their tasks, 5 rounds.
        proc = support.run_child(FUTURES_FROM_THREADS.format(params=(4, 3000, 5)), timeout=600)
        self.assertEqual(proc.returncode, 0, support.describe_child(proc))
        self.assertIn('ok', proc.stdout)

    def test_threads_scheduling_on_a_loop_no_thread_runs(self):
        # 4 threads and the loop's own, 5,000 calls each, 6 rounds (3 with
        # the loop idle, 3 with it starting to run in another thread).
        proc = support.run_child(IDLE_LOOP_FROM_THREADS.format(params=(4, 5000, 6)),
                                 timeout=600)
        self.assertEqual(proc.returncode, 0, support.describe_child(proc))
        self.assertIn('ok', proc.stdout)

    @unittest.skipUnless(FREE_THREADED, 'the GIL serializes the reads and cancel(); '
                         'the pacing spins, one switch interval a handle')
    def test_handles_read_while_cancelled_from_another_thread(self):
        # 1,000 batches of 64: on the free-threaded 3.13.5 with PYTHON_GIL=0
        # the unlocked reads failed in every one of 8 runs, within 0.7 s.
        proc = support.run_child(READ_CANCEL.format(params=(1000, 64)), timeout=600)
        self.assertEqual(proc.returncode, 0, support.describe_child(proc))
        self.assertIn('ok', proc.stdout)

    @unittest.skipUnless(FREE_THREADED, 'needs a free-threaded CPython')
    def test_the_gil_stays_off(self):
        # The module declares Py_MOD_GIL_NOT_USED: importing it and running
        # the stress leaves the GIL off (an undeclared module turns it on,
        # with a RuntimeWarning, which -W error makes fatal).
        env = support.child_env()
        env.pop('PYTHON_GIL', None)
        proc = support.run_child(STRESS.format(params=(2, 2, 1000, 10, 1)),
                                 args=('-W', 'error'), env=env, timeout=600)
        self.assertEqual(proc.returncode, 0, support.describe_child(proc))
        self.assertEqual(proc.stdout.split(), ['ok', 'False'])


if __name__ == '__main__':
    unittest.main()
