"""Compare the speed of aioev, asyncio's own event loop and uvloop.

Run ``python Tools/bench/bench.py`` (``--quick`` for a short run, ``--help`` for
the options).  Doc/benchmarks.rst says what each benchmark measures and how
to read the table.

Every benchmark runs on every loop in each round, the loops taking turns at
going first; the table shows the median of the rounds.  Each measurement gets
a fresh loop, created and closed outside the timed part, after a garbage
collection.

The server benchmarks run an echo or HTTP server on each loop in a process of
its own (this module with ``--serve``), drive it with a load generator written
in C (loadgen.c, compiled on first use) and report requests per second and
the server's CPU time per request.
"""

import argparse
import asyncio
import dataclasses
import functools
import gc
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import pathlib
import platform
import random
import select
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

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


# --- The loops ----------------------------------------------------------


# The loop kind that runs the task benchmarks on aioev with asyncio's Task.
AIOEV_ASYNCIO_TASK = "aioev (asyncio Task)"


@dataclasses.dataclass
class LoopKind:
    name: str
    factory: object  # makes a new loop; None if the module did not import
    version: str
    error: str | None = None  # why the module did not import
    tasks_only: bool = False  # runs the task benchmarks only
    skipped: str | None = None  # why it is left out of the run
    task_type: str | None = None  # what its loops' create_task makes


def find_loops():
    """aioev (with its default Task and with asyncio's), asyncio's selector
    loop, and uvloop when it is installed."""
    loops = aioev_loops() + [LoopKind("asyncio", asyncio.SelectorEventLoop, "stdlib")]
    try:
        import uvloop
    except ImportError:
        pass
    else:
        loops.append(LoopKind("uvloop", uvloop.new_event_loop, version_of(uvloop)))
    for loop_kind in loops:
        probe_tasks(loop_kind)
    return loops


def import_aioev():
    """aioev as installed, else from the source tree's Lib/ (a built tree)."""
    try:
        import aioev
    except ImportError:
        lib = str(ROOT / "Lib")
        if lib in sys.path or not (ROOT / "Lib" / "aioev").is_dir():
            raise
        sys.path.insert(0, lib)
        import aioev
    return aioev


def aioev_loops():
    try:
        aioev = import_aioev()
    except ImportError as exc:
        error = f"aioev did not import: {describe(exc)}"
        return [LoopKind("aioev", None, "-", error),
                LoopKind(AIOEV_ASYNCIO_TASK, None, "-", error, tasks_only=True)]
    version = version_of(aioev)
    return [LoopKind("aioev", aioev.new_event_loop, version),
            LoopKind(AIOEV_ASYNCIO_TASK,
                     functools.partial(aioev.new_event_loop, native_task=False),
                     version, tasks_only=True)]


def probe_tasks(loop_kind):
    """Fill in which class loop_kind's create_task makes.  A kind whose
    factory does not take native_task= yet is skipped."""
    if loop_kind.error:
        return

    async def nothing():
        pass

    try:
        loop = loop_kind.factory()
    except Exception as exc:
        if isinstance(exc, TypeError) and "native_task" in str(exc):
            loop_kind.skipped = ("aioev.new_event_loop() takes no native_task keyword"
                                 " in this build")
        else:
            loop_kind.error = f"{loop_kind.name} did not make a loop: {describe(exc)}"
        return
    try:
        task = loop.create_task(nothing())
        loop.run_until_complete(task)
        loop_kind.task_type = type_name(type(task))
    except Exception as exc:
        loop_kind.task_type = f"unknown ({describe(exc)})"
    finally:
        loop.close()


def type_name(cls):
    if cls is asyncio.Task:
        return "asyncio.Task"
    module = cls.__module__
    if module.startswith("aioev."):
        module = "aioev"  # where the public name is
    return f"{module}.{cls.__qualname__}"


def loops_of(benchmark, loops):
    """The loop kinds that run benchmark."""
    return [kind for kind in loops if benchmark.tasks or not kind.tasks_only]


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
    if isinstance(exc, ServerFailed):
        return str(exc)
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
    pairs = [("aioev", other) for other in ("asyncio", "uvloop") if other in names]
    if AIOEV_ASYNCIO_TASK in names and "uvloop" in names:
        pairs.append((AIOEV_ASYNCIO_TASK, "uvloop"))
    return pairs


def print_header(loops, benchmarks, rounds, target):
    """rounds: None when no loop benchmark runs."""
    print(f"Python {platform.python_version()} ({platform.python_implementation()})"
          f" on {platform.system()} {platform.machine()}, {os.cpu_count()} CPUs")
    for kind in loops:
        if kind.error:
            named = kind.error.startswith(kind.name + " ")
            print(kind.error if named else f"{kind.name}: {kind.error}")
        elif kind.skipped:
            print(f"{kind.name}: skipped, {kind.skipped}")
        elif kind.task_type and rounds is not None:
            print(f"{kind.name}: {kind.version}; create_task makes {kind.task_type}")
        else:
            print(f"{kind.name}: {kind.version}")
    if "uvloop" not in [kind.name for kind in loops]:
        print("uvloop: not installed")
    if rounds is not None:
        shorter = {}  # seconds -> the benchmarks measured for that long
        for benchmark in benchmarks:
            if benchmark.share != 1:
                shorter.setdefault(target * benchmark.share, []).append(benchmark.name)
        exceptions = "; ".join(f"{seconds:g} s for {', '.join(names)}"
                               for seconds, names in shorter.items())
        print(f"{rounds} rounds of about {target} s per measurement"
              + (f" ({exceptions})" if exceptions else "")
              + "; medians in ops/s, higher is better")
    print()


def print_table(benchmarks, loops, cells):
    errors = {}  # error text -> its note number

    def rate(cell):
        if cell is None:  # not run on this loop
            return ""
        if cell.error:
            number = errors.setdefault(cell.error, len(errors) + 1)
            return f"error [{number}]"
        return f"{cell.median():,.0f}"

    ratios = ratio_columns(loops)
    header = ["benchmark"] + [kind.name for kind in loops]
    header += [f"{top}/{bottom}" for top, bottom in ratios]
    rows = [header]
    for benchmark in benchmarks:
        row = [benchmark.name]
        row += [rate(cells.get((benchmark.name, kind.name))) for kind in loops]
        row += [format_times(ratio(cells, benchmark, *pair)) for pair in ratios]
        rows.append(row)
    print_rows(rows)
    for error, number in errors.items():
        print(f"[{number}] {error}")


def format_times(value):
    return "-" if value is None else f"{value:.2f}x"


def print_rows(rows):
    """The first column left-aligned, the others right-aligned."""
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    for row in rows:
        cells_text = [row[0].ljust(widths[0])]
        cells_text += [text.rjust(width) for text, width in zip(row[1:], widths[1:])]
        print("  ".join(cells_text))


def save_json(path, benchmarks, listed, cells, rounds, target, servers=None):
    """listed: the loop kinds in the run, the skipped ones included;
    servers: the server part of the report (server_report()), if any."""
    loops = [kind for kind in listed if not kind.skipped]
    report = {
        "python": sys.version,
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "loops": {kind.name: kind.version for kind in loops},
        "create_task_makes": {kind.name: kind.task_type for kind in loops},
        "skipped_loops": {kind.name: kind.skipped for kind in listed if kind.skipped},
        "rounds": rounds,
        "target_seconds": target,
        "benchmarks": {},
    }
    if servers is not None:
        report["servers"] = servers
    for benchmark in benchmarks:
        entry = report["benchmarks"][benchmark.name] = {}
        for kind in loops_of(benchmark, loops):
            cell = cells[benchmark.name, kind.name]
            entry[kind.name] = {
                "ops": cell.ops,
                "ops_per_s": None if cell.error else cell.median(),
                "rounds_ops_per_s": cell.rates,
                "error": cell.error,
            }
        for top, bottom in ratio_columns(loops_of(benchmark, loops)):
            entry[f"{top}/{bottom}"] = ratio(cells, benchmark, top, bottom)
    with open(path, "w") as file:
        json.dump(report, file, indent=2)
        file.write("\n")


# --- Server benchmarks --------------------------------------------------
# A server benchmark runs one server (an echo server in one of asyncio's
# styles, or a small HTTP server) on one loop, in a process of its own: this
# module run with --serve.  The load generator, a small C program
# (loadgen.c, compiled here on first use), keeps CONNECTIONS connections
# busy with request -> whole response -> next request, first for a warm-up,
# then for a measured window, and reads the server process's CPU clock at
# both ends of the window.  Where there are two CPUs or more, the server and
# the load generator are pinned to different ones.  Every measurement starts
# a new server process.

KIB = 1024
CONNECTIONS = 10
SERVER_READ_SIZE = 64 * KIB  # sock_recv and StreamReader.read ask for this much
SERVER_BUFFER_SIZE = 256 * KIB  # what the BufferedProtocol's get_buffer gives
TRANSPORT_READ_SIZE = 256 * KIB  # what the transports read at most, all three loops'
# The system calls of each echo server style, for the C echo server of
# --floor to make the same ones: (bytes per read, bytes per send at most).
# sock_* reads and writes back SERVER_READ_SIZE at a time; streams reads
# what the transport read out of the StreamReader SERVER_READ_SIZE at a
# time; the protocols write back whatever the transport read.
FLOOR_SIZES = {"sock": (SERVER_READ_SIZE, SERVER_READ_SIZE),
               "streams": (TRANSPORT_READ_SIZE, SERVER_READ_SIZE),
               "protocol": (TRANSPORT_READ_SIZE, TRANSPORT_READ_SIZE),
               "buffered": (SERVER_BUFFER_SIZE, SERVER_BUFFER_SIZE)}
NOT_APPLICABLE = "not applicable"  # a cell that cannot be: HTTP on FLOOR
SERVER_START_TIMEOUT = 30  # seconds a server process may take to listen
SERVER_STOP_TIMEOUT = 10  # seconds it may take to stop once told to
LOADGEN_GRACE = 30  # seconds the load generator may run beyond its phases
HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent  # the source tree
LOADGEN_SOURCE = HERE / "loadgen.c"
FLOOR_SOURCE = HERE / "echo_floor.c"
# The --floor server kind: echo_floor.c, an echo server in C over libev.
FLOOR = "C libev"

HTTP_RESPONSE = (
    b"HTTP/1.1 200 OK\r\n"
    b"Content-Type: text/plain\r\n"
    b"Content-Length: 13\r\n"
    b"\r\n"
    b"Hello, world!"
)


@dataclasses.dataclass
class ServerSettings:
    rounds: int
    warmup: float  # seconds of load before the window
    duration: float  # seconds of the measured window
    connections: int


QUICK_SERVER_ROUNDS = 3
FULL_SERVER_ROUNDS = 5
QUICK_SERVER_WARMUP, QUICK_SERVER_DURATION = 0.1, 0.3
FULL_SERVER_WARMUP, FULL_SERVER_DURATION = 0.3, 1.0


@dataclasses.dataclass
class ServerBenchmark:
    name: str
    server: str  # the server the process runs: a key of SERVERS
    size: int  # bytes per echo request and response; 0 for HTTP
    unix: bool = False  # a Unix socket instead of TCP over 127.0.0.1
    quick: bool = False  # one of the quick run's


def make_server_benchmarks():
    benchmarks = []
    styles = [("sock", "sock", False), ("streams", "streams", False),
              ("protocol", "protocol", False), ("buffered", "buffered", False),
              ("unix", "protocol", True)]
    for label, server, unix in styles:
        for kib in (1, 10, 100):
            quick = kib == 1 and label in ("sock", "streams", "protocol")
            benchmarks.append(ServerBenchmark(
                f"echo_{label}_{kib}k", server, kib * KIB, unix, quick))
    benchmarks.append(ServerBenchmark("http", "http", 0, quick=True))
    return benchmarks


SERVER_BENCHMARKS = make_server_benchmarks()


# --- The servers (run in the server process) ----------------------------
# Each takes the loop and a listening socket, starts serving, and returns a
# coroutine function that stops the server.  Errors go to the loop's
# exception handler, which the server process reports.


def report_error(loop, message, exc):
    loop.call_exception_handler({"message": message, "exception": exc})


async def sock_server(loop, listener):
    """Echo with loop.sock_accept, sock_recv and sock_sendall, one task per
    connection."""
    handlers = set()

    async def echo(conn):
        with conn:
            try:
                while True:
                    data = await loop.sock_recv(conn, SERVER_READ_SIZE)
                    if not data:
                        break
                    await loop.sock_sendall(conn, data)
            except ConnectionError:
                pass
            except Exception as exc:
                report_error(loop, "echo over sock_* failed", exc)

    async def accept():
        while True:
            conn, _ = await loop.sock_accept(listener)
            conn.setblocking(False)
            # As asyncio's transports do; it matters for the large messages.
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            handler = loop.create_task(echo(conn))
            handlers.add(handler)
            handler.add_done_callback(handlers.discard)

    acceptor = loop.create_task(accept())

    async def stop():
        tasks = [acceptor, *handlers]
        for task in tasks:
            task.cancel()
        for result in await asyncio.gather(*tasks, return_exceptions=True):
            if isinstance(result, Exception):
                report_error(loop, "sock_* server task failed", result)
        listener.close()

    return stop


async def streams_server(loop, listener):
    """Echo with asyncio.start_server, StreamReader.read and
    StreamWriter.write + drain."""

    async def echo(reader, writer):
        try:
            while True:
                data = await reader.read(SERVER_READ_SIZE)
                if not data:
                    break
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        except Exception as exc:
            report_error(loop, "echo over streams failed", exc)
        finally:
            writer.close()

    server = await asyncio.start_server(echo, sock=listener)
    return server_stopper(server)


class EchoProtocol(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.transport.write(data)


class EchoBufferedProtocol(asyncio.BufferedProtocol):
    def connection_made(self, transport):
        self.transport = transport
        self.buffer = memoryview(bytearray(SERVER_BUFFER_SIZE))

    def get_buffer(self, sizehint):
        return self.buffer

    def buffer_updated(self, nbytes):
        self.transport.write(self.buffer[:nbytes])
        if self.transport.get_write_buffer_size():
            # The transport may keep the view of what it could not send yet
            # (asyncio's does): read the next data into a new buffer.
            self.buffer = memoryview(bytearray(SERVER_BUFFER_SIZE))


async def protocol_server(loop, listener):
    """Echo with an asyncio.Protocol: data_received writes the data back."""
    if listener.family == socket.AF_UNIX:
        server = await loop.create_unix_server(EchoProtocol, sock=listener)
    else:
        server = await loop.create_server(EchoProtocol, sock=listener)
    return server_stopper(server)


async def buffered_server(loop, listener):
    """Echo with an asyncio.BufferedProtocol: buffer_updated writes the
    bytes just read back."""
    server = await loop.create_server(EchoBufferedProtocol, sock=listener)
    return server_stopper(server)


async def http_server(loop, listener):
    """HTTP/1.1 with keep-alive: httptools parses each request, and every
    request gets the same small response."""
    import httptools

    class HttpProtocol(asyncio.Protocol):
        def connection_made(self, transport):
            self.transport = transport
            self.parser = httptools.HttpRequestParser(self)

        def data_received(self, data):
            try:
                self.parser.feed_data(data)
            except httptools.HttpParserError as exc:
                report_error(loop, "bad HTTP request", exc)
                self.transport.close()

        def on_message_complete(self):
            self.transport.write(HTTP_RESPONSE)
            if not self.parser.should_keep_alive():
                self.transport.close()

    server = await loop.create_server(HttpProtocol, sock=listener)
    return server_stopper(server)


def server_stopper(server):
    async def stop():
        server.close()
        await asyncio.wait_for(server.wait_closed(), SERVER_STOP_TIMEOUT)

    return stop


SERVERS = {
    "sock": sock_server,
    "streams": streams_server,
    "protocol": protocol_server,
    "buffered": buffered_server,
    "http": http_server,
}


def loop_factory(name):
    if name == "aioev":
        return import_aioev().new_event_loop
    if name == "asyncio":
        return asyncio.SelectorEventLoop
    if name == "uvloop":
        import uvloop
        return uvloop.new_event_loop
    raise ValueError(f"unknown loop {name}")


def serve(args):
    """The server process: serve on the inherited listening socket until
    standard input closes (or the lifetime runs out).  It prints "ready"
    once it serves, and exits with status 1 if anything went wrong."""
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    listener = socket.socket(fileno=args.fd)
    listener.setblocking(False)
    loop = loop_factory(args.loop)()
    asyncio.set_event_loop(loop)
    errors = []

    def on_error(loop, context):
        exception = context.get("exception")
        text = context["message"]
        if exception is not None:
            text += f": {describe(exception)}"
        errors.append(text)
        print(f"server on {args.loop}: {text}", file=sys.stderr, flush=True)

    def finish():
        if not done.done():
            done.set_result(None)

    def on_stdin():
        if not os.read(0, 4096):
            finish()

    loop.set_exception_handler(on_error)
    stop = loop.run_until_complete(SERVERS[args.serve](loop, listener))
    done = loop.create_future()
    loop.add_reader(0, on_stdin)
    lifetime = loop.call_later(args.lifetime, finish)
    print("ready", flush=True)
    loop.run_until_complete(done)
    lifetime.cancel()
    loop.remove_reader(0)
    loop.run_until_complete(stop())
    loop.close()
    return 1 if errors else 0


# --- Running the server benchmarks (in the bench process) ---------------


class ServerFailed(Exception):
    pass


@dataclasses.dataclass
class ServerCell:
    """The results of one server benchmark on one loop."""

    rates: list = dataclasses.field(default_factory=list)  # requests/s per round
    cpu: list = dataclasses.field(default_factory=list)  # server CPU s/request per round
    error: str | None = None

    def median_rate(self):
        return statistics.median(self.rates)

    def median_cpu(self):
        return statistics.median(self.cpu)


def program_cache_dir():
    """Where the compiled C programs go: build/bench of the source tree."""
    return ROOT / "build" / "bench"


def build_program(source_path, stem, what, libraries=()):
    """The path of the compiled C program source_path, compiling it if the
    cache has no build of this source yet; what names it in errors."""
    if not source_path.is_file():
        raise ServerFailed(f"{what}'s source is missing: {source_path}")
    compiler = shlex.split(os.environ.get("CC", "cc"))
    if not compiler or not shutil.which(compiler[0]):
        raise ServerFailed(f"no C compiler ({' '.join(compiler) or 'CC is empty'})"
                           f" to build {what}")
    source = source_path.read_bytes()
    digest = hashlib.sha256(source + " ".join(compiler).encode()).hexdigest()[:16]
    directory = program_cache_dir()
    target = directory / f"{stem}-{digest}"
    if os.access(target, os.X_OK):
        return target
    directory.mkdir(parents=True, exist_ok=True)
    partial = directory / f".{stem}-{digest}.{os.getpid()}"
    command = compiler + ["-O2", "-Wall", "-o", str(partial), str(source_path),
                          *libraries]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    if result.returncode:
        partial.unlink(missing_ok=True)
        lines = (result.stderr or result.stdout).strip().splitlines()
        raise ServerFailed(f"{shlex.join(command)} failed: " + " | ".join(lines[-5:]))
    os.replace(partial, target)
    for old in directory.glob(f"{stem}-*"):  # builds of older sources
        if old != target:
            old.unlink(missing_ok=True)
    return target


def build_loadgen():
    """The compiled load generator."""
    return build_program(LOADGEN_SOURCE, "loadgen", "the load generator")


def build_floor():
    """The compiled C echo server of --floor (it links libev)."""
    return build_program(FLOOR_SOURCE, "echo-floor", "the C echo server", ["-lev"])


def pick_cpus():
    """(server CPU, load generator CPU), or (None, None) with one CPU."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None, None
    return cpus[-1], cpus[0]


def child_environment():
    """The environment of a server process: it imports the aioev that this
    process imported."""
    env = dict(os.environ)
    paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    aioev = sys.modules.get("aioev")
    if aioev is not None and getattr(aioev, "__file__", None):
        paths.insert(0, str(pathlib.Path(aioev.__file__).resolve().parent.parent))
    env["PYTHONPATH"] = os.pathsep.join(paths)
    return env


def listen(benchmark, directory):
    """A listening socket for the server and the load generator's address
    arguments."""
    if benchmark.unix:
        path = os.path.join(directory, "server.sock")
        if os.path.exists(path):
            os.unlink(path)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(path)
        address = ["-u", path]
    else:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        address = ["-t", f"127.0.0.1:{listener.getsockname()[1]}"]
    listener.listen(1024)
    return listener, address


def wait_ready(process):
    """Wait for the server process's "ready" line."""
    readable, _, _ = select.select([process.stdout], [], [], SERVER_START_TIMEOUT)
    line = process.stdout.readline() if readable else b""
    if line.strip() == b"ready":
        return
    if not readable:
        raise ServerFailed(f"the server did not start within {SERVER_START_TIMEOUT} s")
    raise ServerFailed("the server exited before it served")


def last_lines(file, count=3):
    """The last count lines the server wrote to stderr, on one line."""
    file.seek(0)
    lines = file.read().decode(errors="replace").strip().splitlines()
    return " | ".join(lines[-count:])


def server_command(benchmark, loop_kind, settings, context, fd):
    """The command that serves benchmark on loop_kind from listening socket fd."""
    if loop_kind.name == FLOOR:
        read_size, write_size = FLOOR_SIZES[benchmark.server]
        command = [str(context.floor), str(fd), str(read_size), str(write_size)]
        if context.server_cpu is not None:
            command.append(str(context.server_cpu))
        return command
    lifetime = settings.warmup + settings.duration + LOADGEN_GRACE + 60
    command = [sys.executable, str(HERE / "bench.py"), "--serve", benchmark.server,
               "--loop", loop_kind.name, "--fd", str(fd), "--lifetime", str(lifetime)]
    if context.server_cpu is not None:
        command += ["--cpu", str(context.server_cpu)]
    return command


def measure_server(benchmark, loop_kind, settings, context):
    """(requests/s, server CPU seconds per request) of one measurement."""
    listener, address = listen(benchmark, context.directory)
    command = server_command(benchmark, loop_kind, settings, context, listener.fileno())
    with tempfile.TemporaryFile() as errors:
        with listener:
            process = subprocess.Popen(
                command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors,
                pass_fds=[listener.fileno()], env=context.env)
        failure = None
        try:
            wait_ready(process)
            result = run_loadgen(benchmark, settings, context, address, process.pid)
        except ServerFailed as exc:
            failure = exc
        finally:
            process.stdin.close()
            try:
                process.wait(SERVER_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                failure = failure or ServerFailed(
                    f"the server did not stop within {SERVER_STOP_TIMEOUT} s")
            finally:
                process.stdout.close()
        if process.returncode and not failure:
            failure = ServerFailed(f"the server exited with status {process.returncode}")
        if failure:
            # What the server said is usually the cause.
            server_said = last_lines(errors)
            if server_said:
                raise ServerFailed(f"{failure}; server stderr: {server_said}")
            raise failure
    requests, seconds, cpu = result
    return requests / seconds, cpu / requests


def run_loadgen(benchmark, settings, context, address, server_pid):
    """(requests, seconds, server CPU seconds) of the measured window."""
    command = [str(context.loadgen), *address, "-c", str(settings.connections),
               "-w", str(settings.warmup), "-d", str(settings.duration),
               "-p", str(server_pid)]
    command += ["-s", str(benchmark.size)] if benchmark.size else ["-H"]
    if context.client_cpu is not None:
        # On a CPU of its own, it polls without sleeping: a response then
        # never has to wake it, and the cost of a wake-up (large in a
        # virtual machine) is not charged to the server's send.
        command += ["-a", str(context.client_cpu), "-b"]
    timeout = settings.warmup + settings.duration + LOADGEN_GRACE
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise ServerFailed(f"the load generator did not finish within {timeout:.0f} s")
    if result.returncode:
        raise ServerFailed(result.stderr.strip() or
                           f"the load generator exited with status {result.returncode}")
    fields = dict(item.split("=", 1) for item in result.stdout.split())
    requests = int(fields["requests"])
    if not requests:
        raise ServerFailed("no request was answered in the measured window")
    return requests, float(fields["seconds"]), float(fields["server_cpu"])


@dataclasses.dataclass
class ServerContext:
    loadgen: pathlib.Path
    floor: pathlib.Path | None  # the C echo server, when FLOOR runs
    server_cpu: int | None
    client_cpu: int | None
    env: dict
    directory: str  # where Unix sockets go


def unavailable(benchmark, loop_kind):
    """Why benchmark cannot run on loop_kind, or None."""
    if loop_kind.error:
        return loop_kind.error
    if loop_kind.name == FLOOR and benchmark.server not in FLOOR_SIZES:
        return NOT_APPLICABLE
    if benchmark.server == "http" and importlib.util.find_spec("httptools") is None:
        return "httptools is not installed"
    return None


def run_servers(benchmarks, loops, settings):
    started = time.perf_counter()
    cells = {}
    for benchmark in benchmarks:
        for loop_kind in loops:
            cells[benchmark.name, loop_kind.name] = ServerCell(
                error=unavailable(benchmark, loop_kind))
    try:
        loadgen = build_loadgen()
    except (ServerFailed, OSError, subprocess.SubprocessError) as exc:
        for cell in cells.values():
            cell.error = cell.error or describe(exc)
        return cells, None
    floor = None
    if runs_floor(loops):
        try:
            floor = build_floor()
        except (ServerFailed, OSError, subprocess.SubprocessError) as exc:
            for (_, kind_name), cell in cells.items():
                if kind_name == FLOOR:
                    cell.error = cell.error or describe(exc)
    server_cpu, client_cpu = pick_cpus()
    with tempfile.TemporaryDirectory(prefix="aioev-bench-") as directory:
        context = ServerContext(loadgen, floor, server_cpu, client_cpu,
                                child_environment(), directory)
        for round_index in range(settings.rounds):
            progress(f"servers: round {round_index + 1}/{settings.rounds}")
            for bench_index, benchmark in enumerate(benchmarks):
                turn = (round_index + bench_index) % len(loops)
                for loop_kind in loops[turn:] + loops[:turn]:
                    cell = cells[benchmark.name, loop_kind.name]
                    result = attempt(cell, measure_server, benchmark, loop_kind,
                                     settings, context)
                    if result is not None:
                        cell.rates.append(result[0])
                        cell.cpu.append(result[1])
    progress(f"servers: done in {time.perf_counter() - started:.0f} s")
    return cells, context


def server_ratio(cells, benchmark, numerator, denominator, median):
    top = cells.get((benchmark.name, numerator))
    bottom = cells.get((benchmark.name, denominator))
    if top is None or bottom is None or top.error or bottom.error:
        return None
    return median(top) / median(bottom)


def runs_floor(loops):
    return any(loop_kind.name == FLOOR for loop_kind in loops)


def server_ratio_columns(loops):
    """The loop ratios, and with --floor the C echo server over uvloop: the
    lowest aioev/uvloop that any loop could reach."""
    pairs = ratio_columns(loops)
    if runs_floor(loops) and "uvloop" in [loop_kind.name for loop_kind in loops]:
        pairs.append((FLOOR, "uvloop"))
    return pairs


def print_server_header(settings, context, loops):
    if context is None:
        placement = ""
    elif context.server_cpu is None:
        placement = "; one CPU: server and load generator share it"
    else:
        placement = (f"; server on CPU {context.server_cpu},"
                     f" load generator on CPU {context.client_cpu}")
    print(f"Servers: {settings.connections} connections, each request -> whole response"
          f"{placement}")
    print(f"{settings.rounds} rounds of a {settings.duration} s window after"
          f" {settings.warmup} s of warm-up; medians")
    if runs_floor(loops):
        print(f"{FLOOR}: an echo server in C over libev, no Python, making the"
              " system calls each echo style makes: the floor")


def print_server_tables(benchmarks, loops, cells, settings, context):
    print_server_header(settings, context, loops)
    errors = {}
    ratios = server_ratio_columns(loops)

    def table(title, median, text):
        def value(cell):
            if cell.error == NOT_APPLICABLE:
                return "-"
            if cell.error:
                return f"error [{errors.setdefault(cell.error, len(errors) + 1)}]"
            return text(median(cell))

        header = [title] + [kind.name for kind in loops]
        header += [f"{top}/{bottom}" for top, bottom in ratios]
        rows = [header]
        for benchmark in benchmarks:
            row = [benchmark.name]
            row += [value(cells[benchmark.name, kind.name]) for kind in loops]
            row += [format_times(server_ratio(cells, benchmark, *pair, median))
                    for pair in ratios]
            rows.append(row)
        print()
        print_rows(rows)

    table("requests/s (higher is better)", ServerCell.median_rate,
          lambda rate: f"{rate:,.0f}")
    table("server CPU us/request (lower is better)", ServerCell.median_cpu,
          lambda seconds: f"{seconds * 1e6:,.1f}")
    for error, number in errors.items():
        print(f"[{number}] {error}")


def server_report(benchmarks, loops, cells, settings):
    report = {
        "connections": settings.connections,
        "rounds": settings.rounds,
        "warmup_seconds": settings.warmup,
        "window_seconds": settings.duration,
        "benchmarks": {},
    }
    medians = {"requests_per_s": ServerCell.median_rate,
               "cpu_us_per_request": lambda cell: ServerCell.median_cpu(cell) * 1e6}
    for benchmark in benchmarks:
        entry = report["benchmarks"][benchmark.name] = {
            "message_bytes": benchmark.size or None}
        for kind in loops:
            cell = cells[benchmark.name, kind.name]
            entry[kind.name] = {
                "requests_per_s": None if cell.error else cell.median_rate(),
                "cpu_us_per_request": None if cell.error else cell.median_cpu() * 1e6,
                "rounds_requests_per_s": cell.rates,
                "rounds_cpu_us_per_request": [seconds * 1e6 for seconds in cell.cpu],
                "error": cell.error,
            }
        for top, bottom in server_ratio_columns(loops):
            entry[f"{top}/{bottom}"] = {
                key: server_ratio(cells, benchmark, top, bottom, median)
                for key, median in medians.items()}
    return report


# --- Command line -------------------------------------------------------


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="python Tools/bench/bench.py",
        description="Compare the speed of aioev, asyncio and uvloop.")
    parser.add_argument(
        "--quick", action="store_true",
        help=f"{QUICK_ROUNDS} short rounds instead of {FULL_ROUNDS}, and"
             f" {QUICK_SERVER_ROUNDS} rounds of the 1 KiB echo servers (sock_*, streams,"
             " Protocol) and HTTP only (about a minute in all)")
    parser.add_argument(
        "--rounds", type=positive_int, metavar="N",
        help="how many times to measure each benchmark on each loop")
    part = parser.add_mutually_exclusive_group()
    all_names = [b.name for b in BENCHMARKS] + [b.name for b in SERVER_BENCHMARKS]
    part.add_argument(
        "--only", type=benchmark_list, metavar="NAME[,NAME]",
        help="run only these benchmarks: " + ", ".join(all_names))
    part.add_argument(
        "--no-servers", dest="servers", action="store_false",
        help="leave the server benchmarks out")
    part.add_argument(
        "--servers-only", action="store_true",
        help="run the server benchmarks only")
    parser.add_argument(
        "--connections", type=positive_int, metavar="N", default=CONNECTIONS,
        help=f"concurrent connections of the server benchmarks (default {CONNECTIONS})")
    parser.add_argument(
        "--duration", type=positive_float, metavar="SECONDS",
        help="measured window of one server measurement (default"
             f" {FULL_SERVER_DURATION}, {QUICK_SERVER_DURATION} with --quick)")
    parser.add_argument(
        "--floor", action="store_true",
        help=f"also run the echo benchmarks on {FLOOR!r}: an echo server in C over"
             " libev, with no Python (Tools/bench/echo_floor.c), whose CPU per request is"
             " the least any loop can reach")
    parser.add_argument("--json", metavar="FILE", help="also save the results here")
    # The server process of a server benchmark (started by the bench).
    parser.add_argument("--serve", choices=sorted(SERVERS), help=argparse.SUPPRESS)
    parser.add_argument("--loop", choices=["aioev", "asyncio", "uvloop"],
                        help=argparse.SUPPRESS)
    parser.add_argument("--fd", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--cpu", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--lifetime", type=float, default=600, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve and (args.loop is None or args.fd is None):
        parser.error("--serve needs --loop and --fd")
    return args


def positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def positive_float(text):
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError("must be more than 0")
    return value


def benchmark_list(text):
    by_name = {benchmark.name: benchmark for benchmark in BENCHMARKS + SERVER_BENCHMARKS}
    names = list(dict.fromkeys(text.split(",")))  # without repeats
    unknown = [name for name in names if name not in by_name]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(by_name)}")
    return [by_name[name] for name in names]


def choose(args):
    """The loop benchmarks and the server benchmarks to run."""
    if args.only:
        return ([b for b in args.only if isinstance(b, Benchmark)],
                [b for b in args.only if isinstance(b, ServerBenchmark)])
    benchmarks = [] if args.servers_only else BENCHMARKS
    if not args.servers:
        return benchmarks, []
    return benchmarks, [b for b in SERVER_BENCHMARKS if b.quick or not args.quick]


def main(argv=None):
    args = parse_args(argv)
    if args.serve:
        return serve(args)
    benchmarks, server_benchmarks = choose(args)
    rounds = args.rounds or (QUICK_ROUNDS if args.quick else FULL_ROUNDS)
    target = QUICK_TARGET if args.quick else FULL_TARGET
    settings = ServerSettings(
        rounds=args.rounds or (QUICK_SERVER_ROUNDS if args.quick else FULL_SERVER_ROUNDS),
        warmup=QUICK_SERVER_WARMUP if args.quick else FULL_SERVER_WARMUP,
        duration=args.duration or (QUICK_SERVER_DURATION if args.quick
                                   else FULL_SERVER_DURATION),
        connections=args.connections)
    # The tasks-only kinds take part when a task benchmark does.
    with_tasks = any(benchmark.tasks for benchmark in benchmarks)
    listed = [kind for kind in find_loops() if with_tasks or not kind.tasks_only]
    loops = [kind for kind in listed if not kind.skipped]
    print_header(listed, benchmarks, rounds if benchmarks else None, target)
    cells = {}
    if benchmarks:
        signal.signal(signal.SIGALRM, on_alarm)
        cells = run(benchmarks, loops, rounds, target)
        print_table(benchmarks, loops, cells)
    servers = None
    if server_benchmarks:
        if benchmarks:
            print()
        server_loops = [kind for kind in loops if not kind.tasks_only]
        if args.floor:
            server_loops.append(LoopKind(FLOOR, None, "Tools/bench/echo_floor.c"))
        server_cells, context = run_servers(server_benchmarks, server_loops, settings)
        print_server_tables(server_benchmarks, server_loops, server_cells, settings, context)
        servers = server_report(server_benchmarks, server_loops, server_cells, settings)
    if args.json:
        save_json(args.json, benchmarks, listed, cells, rounds, target, servers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
