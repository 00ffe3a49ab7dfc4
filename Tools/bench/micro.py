"""The loop benchmarks: each one times one operation that asyncio programs
do often (call_soon, timers, tasks, futures, sockets, subprocesses) on a
fresh loop, in interleaved rounds.  bench.py runs them and prints the table
that print_table() makes.

Every benchmark runs on every loop in each round, the loops taking turns at
going first; the table shows the median of the rounds.  Each measurement gets
a fresh loop, created and closed outside the timed part, after a garbage
collection.
"""

import asyncio
import dataclasses
import gc
import random
import signal
import socket
import statistics
import threading
import time

from loops import cell_ratio, describe, format_times, print_rows, progress, ratio_columns

QUICK_ROUNDS = 5
FULL_ROUNDS = 21
QUICK_TARGET = 0.1  # seconds one measurement should take
FULL_TARGET = 0.2
TIMEOUT = 20  # seconds after which a measurement counts as hung
BATCH = 1000  # callbacks or timers that one callback schedules at a time
TASK_BATCH = 100  # tasks created before they are awaited
GATHER_SIZE = 10_000  # tasks in one asyncio.gather()
FIB_N = 15  # async_fib computes fib(FIB_N) as a tree of tasks

# Timers fire after random delays under TIMER_SPREAD seconds: short enough
# that a batch has expired by the time the loop polls, so the benchmark
# measures the loop and not the clock.
TIMER_SPREAD = 10e-6


# --- The benchmarks -----------------------------------------------------
# Each one takes a fresh loop and an op count, runs that many ops on the
# loop and returns the seconds they took.


def call_soon_chain(loop, ops):
    """One op: a callback that schedules the next with call_soon."""
    return chain(loop, ops, loop.call_soon)


def call_soon_fan_out(loop, ops):
    """One op: a callback scheduled in a batch of BATCH, then run."""
    batches = ops // BATCH

    def next_batch():
        nonlocal batches
        if not batches:
            loop.stop()
            return
        batches -= 1
        for _ in range(BATCH):
            loop.call_soon(noop)
        loop.call_soon(next_batch)

    loop.call_soon(next_batch)
    return timed(loop.run_forever)


def timers_fire(loop, ops):
    """One op: a call_later with a random delay, scheduled in a batch of
    BATCH, that then fires."""
    return timer_batches(loop, ops, fire=True)


def timers_cancel(loop, ops):
    """One op: a call_later with a random far-off delay, scheduled in a
    batch of BATCH, then cancelled."""
    return timer_batches(loop, ops, fire=False)


def threadsafe_chain(loop, ops):
    """One op: a callback that schedules the next with
    call_soon_threadsafe, all in the loop's thread."""
    return chain(loop, ops, loop.call_soon_threadsafe)


def threadsafe_thread(loop, ops):
    """One op: a call_soon_threadsafe from a second thread, counted once
    the loop has run the callback."""
    remaining = ops
    done = loop.create_future()

    def callback():
        nonlocal remaining
        remaining -= 1
        if not remaining:
            done.set_result(None)

    def producer():
        for _ in range(ops):
            loop.call_soon_threadsafe(callback)

    thread = threading.Thread(target=producer)
    start = time.perf_counter()
    thread.start()
    try:
        loop.run_until_complete(done)
        return time.perf_counter() - start
    finally:
        thread.join()


def create_task(loop, ops):
    """One op: a task of a coroutine that returns at once, created in a
    batch of TASK_BATCH that is then awaited."""

    async def trivial():
        pass

    async def main():
        for _ in range(ops // TASK_BATCH):
            tasks = [loop.create_task(trivial()) for _ in range(TASK_BATCH)]
            for task in tasks:
                await task

    return timed(loop.run_until_complete, main())


def future_ping_pong(loop, ops):
    """One op: a round trip between two tasks, each way a future that one
    resolves and the other awaits."""
    ping = Mailbox(loop)
    pong = Mailbox(loop)

    async def server():
        for _ in range(ops):
            pong.put(await ping.get() + 1)

    async def client():
        value = 0
        for _ in range(ops):
            ping.put(value)
            value = await pong.get()

    async def main():
        await asyncio.gather(server(), client())

    return timed(loop.run_until_complete, main())


def sleep0(loop, ops):
    """One op: an ``await asyncio.sleep(0)`` in a single task."""

    async def main():
        for _ in range(ops):
            await asyncio.sleep(0)

    return timed(loop.run_until_complete, main())


def gather_10k(loop, ops):
    """One op: a task of a coroutine that returns at once, one of
    GATHER_SIZE created together and awaited with asyncio.gather()."""

    async def trivial():
        pass

    async def main():
        for _ in range(ops // GATHER_SIZE):
            await asyncio.gather(*[loop.create_task(trivial()) for _ in range(GATHER_SIZE)])

    return timed(loop.run_until_complete, main())


def async_fib(loop, ops):
    """One op: a task in a recursive fib(FIB_N) where each call above
    fib(1) creates a task for each of its two halves and awaits them."""

    async def fib(n):
        if n < 2:
            return n
        left = asyncio.create_task(fib(n - 1))
        right = asyncio.create_task(fib(n - 2))
        return await left + await right

    async def main():
        for _ in range(ops // FIB_TASKS):
            result = await fib(FIB_N)
            if result != FIB_VALUE:
                raise AssertionError(f"fib({FIB_N}) gave {result}, not {FIB_VALUE}")

    return timed(loop.run_until_complete, main())


def sock_ping_pong(loop, ops):
    """One op: a one-byte round trip over a socketpair with sock_sendall
    and sock_recv."""
    near, far = socket.socketpair()
    near.setblocking(False)
    far.setblocking(False)

    async def echo():
        for _ in range(ops):
            await loop.sock_sendall(far, await loop.sock_recv(far, 1))

    async def client():
        for _ in range(ops):
            await loop.sock_sendall(near, b"x")
            await loop.sock_recv(near, 1)

    async def main():
        await asyncio.gather(echo(), client())

    try:
        return timed(loop.run_until_complete, main())
    finally:
        near.close()
        far.close()


class _UdpEcho(asyncio.DatagramProtocol):
    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        self.transport.sendto(data, addr)


class _UdpClient(asyncio.DatagramProtocol):
    """Sends a datagram, and the next one when the echo comes back."""

    def __init__(self, ops, done):
        self.remaining = ops
        self.done = done

    def connection_made(self, transport):
        self.transport = transport
        transport.sendto(b"x" * 64)

    def datagram_received(self, data, addr):
        self.remaining -= 1
        if self.remaining:
            self.transport.sendto(data)
        elif not self.done.done():
            self.done.set_result(None)


def udp_ping_pong(loop, ops):
    """One op: a 64-byte UDP datagram to an echo endpoint on loopback and
    back, with DatagramProtocol on both ends."""

    async def main():
        server, _ = await loop.create_datagram_endpoint(
            _UdpEcho, local_addr=("127.0.0.1", 0))
        done = loop.create_future()
        start = time.perf_counter()
        client, _ = await loop.create_datagram_endpoint(
            lambda: _UdpClient(ops, done), remote_addr=server.get_extra_info("sockname"))
        await done
        elapsed = time.perf_counter() - start
        client.close()
        server.close()
        return elapsed

    return loop.run_until_complete(main())


def subprocess_spawn(loop, ops):
    """One op: asyncio.create_subprocess_exec of /bin/true, then wait()."""

    async def main():
        for _ in range(ops):
            process = await asyncio.create_subprocess_exec("/bin/true")
            await process.wait()

    return timed(loop.run_until_complete, main())


# --- Helpers of the benchmarks ------------------------------------------


def noop():
    pass


def timed(function, *args):
    start = time.perf_counter()
    function(*args)
    return time.perf_counter() - start


def chain(loop, ops, schedule):
    remaining = ops

    def step():
        nonlocal remaining
        remaining -= 1
        if remaining:
            schedule(step)
        else:
            loop.stop()

    schedule(step)
    return timed(loop.run_forever)


def timer_batches(loop, ops, fire):
    """Schedule ops timers in batches; either let each batch fire before
    the next, or cancel each batch right after scheduling it."""
    rng = random.Random(ops)
    if fire:
        delays = [rng.uniform(0, TIMER_SPREAD) for _ in range(BATCH)]
    else:
        delays = [rng.uniform(1000, 2000) for _ in range(BATCH)]
    batches = ops // BATCH
    pending = 0

    def fired():
        nonlocal pending
        pending -= 1
        if not pending:
            next_batch()

    def next_batch():
        nonlocal batches, pending
        if not batches:
            loop.stop()
            return
        batches -= 1
        if fire:
            pending = len(delays)
            for delay in delays:
                loop.call_later(delay, fired)
        else:
            handles = [loop.call_later(delay, noop) for delay in delays]
            for handle in handles:
                handle.cancel()
            loop.call_soon(next_batch)

    loop.call_soon(next_batch)
    return timed(loop.run_forever)


def fib_tasks(n):
    """(the tasks that async_fib's fib(n) creates, fib(n))."""
    tasks = {0: 0, 1: 0}  # fib(n) makes two tasks, then fib(n-1)'s and fib(n-2)'s
    values = {0: 0, 1: 1}
    for k in range(2, n + 1):
        tasks[k] = 2 + tasks[k - 1] + tasks[k - 2]
        values[k] = values[k - 1] + values[k - 2]
    return tasks[n], values[n]


FIB_TASKS, FIB_VALUE = fib_tasks(FIB_N)


class Mailbox:
    """Holds one value at a time; get() waits until put() delivers it."""

    def __init__(self, loop):
        self._loop = loop
        self._future = loop.create_future()

    def put(self, value):
        self._future.set_result(value)

    async def get(self):
        value = await self._future
        self._future = self._loop.create_future()
        return value


@dataclasses.dataclass
class Benchmark:
    name: str
    function: object
    batch: int  # the op count is a multiple of this
    tasks: bool = False  # a task benchmark: it runs on the tasks-only loop kinds too
    # The part of the target time that one measurement takes: less than 1
    # for some task benchmarks, which run on four loops, to keep the run short.
    share: float = 1.0


BENCHMARKS = [
    Benchmark("call_soon_chain", call_soon_chain, 1),
    Benchmark("call_soon_fan_out", call_soon_fan_out, BATCH),
    Benchmark("timers_fire", timers_fire, BATCH),
    Benchmark("timers_cancel", timers_cancel, BATCH),
    Benchmark("threadsafe_chain", threadsafe_chain, 1),
    Benchmark("threadsafe_thread", threadsafe_thread, 1),
    Benchmark("create_task", create_task, TASK_BATCH, tasks=True),
    Benchmark("future_ping_pong", future_ping_pong, 1, tasks=True),
    Benchmark("sleep0", sleep0, 1, tasks=True),
    Benchmark("gather_10k", gather_10k, GATHER_SIZE, tasks=True, share=0.5),
    Benchmark("async_fib", async_fib, FIB_TASKS, tasks=True, share=0.5),
    Benchmark("sock_ping_pong", sock_ping_pong, 1),
    Benchmark("udp_ping_pong", udp_ping_pong, 1),
    Benchmark("subprocess_spawn", subprocess_spawn, 1),
]


def loops_of(benchmark, loops):
    """The loop kinds that run benchmark."""
    return [kind for kind in loops if benchmark.tasks or not kind.tasks_only]


# --- Running ------------------------------------------------------------


@dataclasses.dataclass
class Cell:
    """The results of one benchmark on one loop."""

    ops: int = 0
    rates: list = dataclasses.field(default_factory=list)  # ops/s per round
    error: str | None = None

    def median(self):
        return statistics.median(self.rates)


class Hung(Exception):
    pass


def on_alarm(signum, frame):
    raise Hung(f"no result after {TIMEOUT} s")


class FirstError:
    """An exception handler for the loop under test: an exception in a
    callback stops the loop, and check() raises it in the measurement."""

    def __init__(self):
        self.context = None

    def handle(self, loop, context):
        if self.context is None:
            self.context = context
        loop.stop()

    def check(self):
        if self.context is None:
            return
        exception = self.context.get("exception")
        if exception is None:
            raise RuntimeError(self.context["message"])
        raise exception


def measure(benchmark, loop_kind, ops):
    """Seconds that ops of benchmark take on a new loop of loop_kind."""
    loop = loop_kind.factory()
    try:
        first_error = FirstError()
        loop.set_exception_handler(first_error.handle)
        gc.collect()
        signal.alarm(TIMEOUT)
        try:
            elapsed = benchmark.function(loop, ops)
        except Exception:
            first_error.check()  # the cause, if a callback failed first
            raise
        finally:
            signal.alarm(0)
        first_error.check()
        return elapsed
    finally:
        loop.close()


def calibrate(benchmark, loop_kind, target):
    """The op count that makes one measurement take about target seconds.
    The measurements taken on the way warm the loop up."""
    ops = benchmark.batch
    elapsed = measure(benchmark, loop_kind, ops)
    while elapsed < target / 5:
        ops *= 4
        elapsed = measure(benchmark, loop_kind, ops)
    ops = scale(ops, target / elapsed, benchmark.batch)
    # A short run says little about a long one: look again at full length.
    elapsed = measure(benchmark, loop_kind, ops)
    return scale(ops, target / elapsed, benchmark.batch)


def scale(ops, factor, batch):
    """ops times factor, rounded to a whole number of batches."""
    return max(1, round(ops * factor / batch)) * batch


def attempt(cell, function, *args):
    """function(*args), or None once it has raised in this cell (the error
    is kept in the cell and the cell is not tried again)."""
    if cell.error:
        return None
    try:
        return function(*args)
    except Exception as exc:
        cell.error = describe(exc)
        return None


def calibrate_all(benchmarks, loops, target):
    cells = {}
    for benchmark in benchmarks:
        for loop_kind in loops_of(benchmark, loops):
            cell = cells[benchmark.name, loop_kind.name] = Cell()
            cell.error = loop_kind.error
            cell.ops = attempt(cell, calibrate, benchmark, loop_kind,
                               target * benchmark.share)
    return cells


def run_round(round_index, benchmarks, loops, cells):
    for bench_index, benchmark in enumerate(benchmarks):
        kinds = loops_of(benchmark, loops)
        turn = (round_index + bench_index) % len(kinds)
        for loop_kind in kinds[turn:] + kinds[:turn]:
            cell = cells[benchmark.name, loop_kind.name]
            elapsed = attempt(cell, measure, benchmark, loop_kind, cell.ops)
            if elapsed is not None:
                cell.rates.append(cell.ops / elapsed)


def run(benchmarks, loops, rounds, target):
    started = time.perf_counter()
    progress("calibrating")
    cells = calibrate_all(benchmarks, loops, target)
    for round_index in range(rounds):
        progress(f"round {round_index + 1}/{rounds}")
        run_round(round_index, benchmarks, loops, cells)
    progress(f"done in {time.perf_counter() - started:.0f} s")
    return cells


# --- Reporting ----------------------------------------------------------


def median_values(cells, benchmark, loops):
    """loop name -> the median ops/s of benchmark (None on an error)."""
    values = {}
    for kind in loops_of(benchmark, loops):
        cell = cells.get((benchmark.name, kind.name))
        if cell is not None and not cell.error and cell.rates:
            values[kind.name] = cell.median()
    return values


def print_table(benchmarks, loops, cells):
    errors = {}  # error text -> its note number

    def rate(cell):
        if cell is None:  # not run on this loop
            return ""
        if cell.error:
            number = errors.setdefault(cell.error, len(errors) + 1)
            return f"error [{number}]"
        return f"{cell.median():,.0f}"

    ratios = ratio_columns([kind.name for kind in loops])
    header = ["benchmark"] + [kind.name for kind in loops]
    header += [f"{top}/{bottom}" for top, bottom in ratios]
    rows = [header]
    for benchmark in benchmarks:
        values = median_values(cells, benchmark, loops)
        row = [benchmark.name]
        row += [rate(cells.get((benchmark.name, kind.name))) for kind in loops]
        row += [format_times(cell_ratio(values, *pair)) for pair in ratios]
        rows.append(row)
    print_rows(rows)
    for error, number in errors.items():
        print(f"[{number}] {error}")


def report(benchmarks, loops, cells):
    """The loop benchmarks' part of the JSON report."""
    section = {}
    for benchmark in benchmarks:
        entry = section[benchmark.name] = {}
        kinds = loops_of(benchmark, loops)
        for kind in kinds:
            cell = cells[benchmark.name, kind.name]
            entry[kind.name] = {
                "ops": cell.ops,
                "ops_per_s": None if cell.error else cell.median(),
                "rounds_ops_per_s": cell.rates,
                "error": cell.error,
            }
        values = median_values(cells, benchmark, loops)
        for top, bottom in ratio_columns([kind.name for kind in kinds]):
            entry[f"{top}/{bottom}"] = cell_ratio(values, top, bottom)
    return section
