"""Compare the speed of aioev, asyncio's own event loop and uvloop.

Run ``python -m aioev.bench`` (``--quick`` for a short run, ``--help`` for
the options).  Doc/benchmarks.rst says what each benchmark measures and how
to read the table.

Every benchmark runs on every loop in each round, the loops taking turns at
going first; the table shows the median of the rounds.  Each measurement gets
a fresh loop, created and closed outside the timed part, after a garbage
collection.
"""

import argparse
import asyncio
import dataclasses
import gc
import importlib.metadata
import json
import os
import platform
import random
import signal
import socket
import statistics
import sys
import threading
import time

QUICK_ROUNDS = 5
FULL_ROUNDS = 21
QUICK_TARGET = 0.1  # seconds one measurement should take
FULL_TARGET = 0.2
TIMEOUT = 20  # seconds after which a measurement counts as hung
BATCH = 1000  # callbacks or timers that one callback schedules at a time
TASK_BATCH = 100  # tasks created before they are awaited

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


BENCHMARKS = [
    Benchmark("call_soon_chain", call_soon_chain, 1),
    Benchmark("call_soon_fan_out", call_soon_fan_out, BATCH),
    Benchmark("timers_fire", timers_fire, BATCH),
    Benchmark("timers_cancel", timers_cancel, BATCH),
    Benchmark("threadsafe_chain", threadsafe_chain, 1),
    Benchmark("threadsafe_thread", threadsafe_thread, 1),
    Benchmark("create_task", create_task, TASK_BATCH),
    Benchmark("future_ping_pong", future_ping_pong, 1),
    Benchmark("sleep0", sleep0, 1),
    Benchmark("sock_ping_pong", sock_ping_pong, 1),
]


# --- The loops ----------------------------------------------------------


@dataclasses.dataclass
class LoopKind:
    name: str
    factory: object  # makes a new loop; None if the module did not import
    version: str
    error: str | None = None  # why the module did not import


def find_loops():
    """aioev, asyncio's selector loop, and uvloop when it is installed."""
    loops = [aioev_loop(), LoopKind("asyncio", asyncio.SelectorEventLoop, "stdlib")]
    try:
        import uvloop
    except ImportError:
        return loops
    return loops + [LoopKind("uvloop", uvloop.new_event_loop, version_of(uvloop))]


def aioev_loop():
    try:
        import aioev
    except ImportError as exc:
        return LoopKind("aioev", None, "-", f"aioev did not import: {describe(exc)}")
    return LoopKind("aioev", aioev.new_event_loop, version_of(aioev))


def version_of(module):
    try:
        return module.__version__
    except AttributeError:
        pass
    try:
        return importlib.metadata.version(module.__name__)
    except importlib.metadata.PackageNotFoundError:
        return "(version unknown)"


def describe(exc):
    return f"{type(exc).__name__}: {exc}"


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
        for loop_kind in loops:
            cell = cells[benchmark.name, loop_kind.name] = Cell()
            cell.error = loop_kind.error
            cell.ops = attempt(cell, calibrate, benchmark, loop_kind, target)
    return cells


def run_round(round_index, benchmarks, loops, cells):
    for bench_index, benchmark in enumerate(benchmarks):
        turn = (round_index + bench_index) % len(loops)
        for loop_kind in loops[turn:] + loops[:turn]:
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


def progress(message):
    print(f"  ... {message}", file=sys.stderr, flush=True)


# --- Reporting ----------------------------------------------------------


def ratio(cells, benchmark, numerator, denominator):
    """numerator's median ops/s over denominator's, or None."""
    top = cells.get((benchmark.name, numerator))
    bottom = cells.get((benchmark.name, denominator))
    if top is None or bottom is None or top.error or bottom.error:
        return None
    return top.median() / bottom.median()


def ratio_columns(loops):
    names = [loop_kind.name for loop_kind in loops]
    return [("aioev", other) for other in ("asyncio", "uvloop") if other in names]


def print_header(loops, rounds, target):
    print(f"Python {platform.python_version()} ({platform.python_implementation()})"
          f" on {platform.system()} {platform.machine()}, {os.cpu_count()} CPUs")
    for kind in loops:
        print(kind.error or f"{kind.name}: {kind.version}")
    if "uvloop" not in [kind.name for kind in loops]:
        print("uvloop: not installed")
    print(f"{rounds} rounds of about {target} s per measurement;"
          " medians in ops/s, higher is better")
    print()


def print_table(benchmarks, loops, cells):
    errors = {}  # error text -> its note number

    def rate(cell):
        if cell.error:
            number = errors.setdefault(cell.error, len(errors) + 1)
            return f"error [{number}]"
        return f"{cell.median():,.0f}"

    def times(value):
        return "-" if value is None else f"{value:.2f}x"

    ratios = ratio_columns(loops)
    header = ["benchmark"] + [kind.name for kind in loops]
    header += [f"{top}/{bottom}" for top, bottom in ratios]
    rows = [header]
    for benchmark in benchmarks:
        row = [benchmark.name]
        row += [rate(cells[benchmark.name, kind.name]) for kind in loops]
        row += [times(ratio(cells, benchmark, *pair)) for pair in ratios]
        rows.append(row)
    widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
    for row in rows:
        cells_text = [row[0].ljust(widths[0])]
        cells_text += [text.rjust(width) for text, width in zip(row[1:], widths[1:])]
        print("  ".join(cells_text))
    for error, number in errors.items():
        print(f"[{number}] {error}")


def save_json(path, benchmarks, loops, cells, rounds, target):
    report = {
        "python": sys.version,
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "loops": {kind.name: kind.version for kind in loops},
        "rounds": rounds,
        "target_seconds": target,
        "benchmarks": {},
    }
    for benchmark in benchmarks:
        entry = report["benchmarks"][benchmark.name] = {}
        for kind in loops:
            cell = cells[benchmark.name, kind.name]
            entry[kind.name] = {
                "ops": cell.ops,
                "ops_per_s": None if cell.error else cell.median(),
                "rounds_ops_per_s": cell.rates,
                "error": cell.error,
            }
        for top, bottom in ratio_columns(loops):
            entry[f"{top}/{bottom}"] = ratio(cells, benchmark, top, bottom)
    with open(path, "w") as file:
        json.dump(report, file, indent=2)
        file.write("\n")


# --- Command line -------------------------------------------------------


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="python -m aioev.bench",
        description="Compare the speed of aioev, asyncio and uvloop.")
    parser.add_argument(
        "--quick", action="store_true",
        help=f"{QUICK_ROUNDS} short rounds (about half a minute) instead of {FULL_ROUNDS}")
    parser.add_argument(
        "--rounds", type=positive_int, metavar="N",
        help="how many times to measure each benchmark on each loop")
    parser.add_argument(
        "--only", type=benchmark_list, metavar="NAME[,NAME]",
        help="run only these benchmarks: " + ", ".join(b.name for b in BENCHMARKS))
    parser.add_argument("--json", metavar="FILE", help="also save the results here")
    return parser.parse_args(argv)


def positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def benchmark_list(text):
    by_name = {benchmark.name: benchmark for benchmark in BENCHMARKS}
    names = list(dict.fromkeys(text.split(",")))  # without repeats
    unknown = [name for name in names if name not in by_name]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(by_name)}")
    return [by_name[name] for name in names]


def main(argv=None):
    args = parse_args(argv)
    benchmarks = args.only or BENCHMARKS
    rounds = args.rounds or (QUICK_ROUNDS if args.quick else FULL_ROUNDS)
    target = QUICK_TARGET if args.quick else FULL_TARGET
    loops = find_loops()
    print_header(loops, rounds, target)
    signal.signal(signal.SIGALRM, on_alarm)
    cells = run(benchmarks, loops, rounds, target)
    print_table(benchmarks, loops, cells)
    if args.json:
        save_json(args.json, benchmarks, loops, cells, rounds, target)


if __name__ == "__main__":
    main()
