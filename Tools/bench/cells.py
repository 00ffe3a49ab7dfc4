"""The server cells: one server (or database client) on one loop, in a
process of its own, under load from a program that is not Python.

Three kinds of cell:

* ``loadgen``: the echo, HTTP and WebSocket servers of servers.py, driven by
  loadgen.c (compiled here on first use), which keeps the connections busy
  with request -> whole response -> next request, first for a warm-up, then
  for a measured window, and reads the server process's CPU clock and minor
  page faults (/proc/PID/stat) at both ends of the window.
* ``wrk``: uvicorn (a raw ASGI app, a FastAPI endpoint) and aiohttp's web
  server, driven by wrk (Debian's package): a warm-up run, then a measured
  run with the server's /proc/PID/stat read before and after it.
* ``client``: asyncpg and redis-py, in a client process on the loop, against
  a PostgreSQL or a redis-server that the bench starts on loopback
  (services.py); the client measures its own window with getrusage.

Every cell reports requests per second, the CPU time and minor page faults
of the process on the loop per request, and the median and 99th percentile
latency.  Where there are two CPUs or more, the process on the loop runs on
one and the load (load generator, PostgreSQL, Redis) on another.  Every
measurement starts a new process on the loop.
"""

import dataclasses
import hashlib
import importlib.util
import json
import os
import re
import select
import shlex
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import services
from loops import (HERE, ROOT, ServerFailed, cell_ratio, describe, format_times,
                   print_rows, progress, ratio_columns)
from servers import KIB, SERVER_BUFFER_SIZE, SERVER_READ_SIZE, TRANSPORT_READ_SIZE

CONNECTIONS = 10
CHURN_MESSAGE = 64  # bytes echoed on each connection of connect_churn
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
SERVER_STOP_TIMEOUT = 15  # seconds it may take to stop once told to
LOADGEN_GRACE = 30  # seconds the load generator may run beyond its phases
LOADGEN_SOURCE = HERE / "loadgen.c"
FLOOR_SOURCE = HERE / "echo_floor.c"
SERVERS_SCRIPT = HERE / "servers.py"
# The --floor server kind: echo_floor.c, an echo server in C over libev.
FLOOR = "C libev"

# Where a missing program comes from.
TOOLS = {"wrk": "Debian's package wrk"}


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
    server: str  # what servers.py serves (or, for a client cell, runs)
    size: int = 0  # bytes per echo or WebSocket message; 0 for HTTP
    unix: bool = False  # a Unix socket instead of TCP over 127.0.0.1
    quick: bool = False  # one of the quick run's
    driver: str = "loadgen"  # loadgen, wrk or client
    path: str = "/"  # what wrk asks for
    service: str | None = None  # what a client cell talks to: a key of services.SERVICES
    modules: tuple = ()  # the Python modules the server or client needs
    churn: bool = False  # a connection per request (loadgen -r)


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
    benchmarks += [
        # Accepting, not echoing: each request is a connection of its own.
        ServerBenchmark("connect_churn", "protocol", CHURN_MESSAGE, quick=True, churn=True),
        ServerBenchmark("http", "http", quick=True, modules=("httptools",)),
        ServerBenchmark("websockets_1k", "websockets", KIB, modules=("websockets",)),
        ServerBenchmark("uvicorn_asgi", "uvicorn_asgi", driver="wrk",
                        modules=("uvicorn", "httptools")),
        ServerBenchmark("uvicorn_fastapi", "uvicorn_fastapi", driver="wrk", path="/json",
                        modules=("uvicorn", "httptools", "fastapi")),
        ServerBenchmark("aiohttp", "aiohttp", driver="wrk", modules=("aiohttp",)),
        ServerBenchmark("asyncpg", "asyncpg", driver="client", service="postgres",
                        modules=("asyncpg",)),
        ServerBenchmark("redis", "redis", driver="client", service="redis",
                        modules=("redis",)),
        ServerBenchmark("redis_pipeline", "redis_pipeline", driver="client",
                        service="redis", modules=("redis",)),
    ]
    return benchmarks


SERVER_BENCHMARKS = make_server_benchmarks()


# --- One measurement ----------------------------------------------------


@dataclasses.dataclass
class Sample:
    """One measurement's window."""

    requests: int
    seconds: float
    cpu: float  # CPU seconds of the process on the loop
    minflt: int  # its minor page faults
    p50_us: float | None
    p99_us: float | None

    def figures(self):
        """metric name -> this sample's figure (see METRICS)."""
        return {"requests_per_s": self.requests / self.seconds,
                "cpu_us_per_request": self.cpu / self.requests * 1e6,
                "p50_us": self.p50_us,
                "p99_us": self.p99_us,
                "minflt_per_request": self.minflt / self.requests}


# (metric, the table's title, higher is better, format of a figure)
METRICS = [
    ("requests_per_s", "requests/s (higher is better)", True, "{:,.0f}"),
    ("cpu_us_per_request", "CPU us/request of the process on the loop (lower is better)",
     False, "{:,.1f}"),
    ("p50_us", "median latency, us (lower is better)", False, "{:,.0f}"),
    ("p99_us", "99th percentile latency, us (lower is better)", False, "{:,.0f}"),
    ("minflt_per_request", "minor page faults/request (lower is better)", False, "{:,.3f}"),
]


@dataclasses.dataclass
class ServerCell:
    """The results of one server benchmark on one loop: each metric's
    figure in each round."""

    rounds: dict = dataclasses.field(
        default_factory=lambda: {metric: [] for metric, *_ in METRICS})
    error: str | None = None

    def add(self, sample):
        for metric, value in sample.figures().items():
            self.rounds[metric].append(value)

    def median(self, metric):
        values = [value for value in self.rounds[metric] if value is not None]
        return statistics.median(values) if values else None


def proc_usage(pid):
    """(CPU seconds, minor page faults) of process pid so far, from
    /proc/PID/stat: utime + stime and minflt, each summed over the
    process's threads."""
    with open(f"/proc/{pid}/stat", "rb") as file:
        text = file.read().decode()
    # The command name may hold spaces and parentheses: fields follow its last ')'.
    fields = text[text.rindex(")") + 2:].split()
    # fields[0] is field 3 (state): minflt is field 10, utime 14, stime 15.
    minflt, utime, stime = int(fields[7]), int(fields[11]), int(fields[12])
    return (utime + stime) / os.sysconf("SC_CLK_TCK"), minflt


def parse_loadgen(output):
    fields = dict(item.split("=", 1) for item in output.split())
    requests = int(fields["requests"])
    if not requests:
        raise ServerFailed("no request was answered in the measured window")
    return Sample(requests, float(fields["seconds"]), float(fields["server_cpu"]),
                  int(fields["server_minflt"]), float(fields["p50_us"]),
                  float(fields["p99_us"]))


def run_loadgen(benchmark, settings, context, address, server_pid):
    command = [str(context.loadgen), *address, "-c", str(settings.connections),
               "-w", str(settings.warmup), "-d", str(settings.duration),
               "-p", str(server_pid)]
    if benchmark.server == "websockets":
        command += ["-W", str(benchmark.size)]
    elif benchmark.size:
        command += ["-s", str(benchmark.size)]
    else:
        command += ["-H"]
    if benchmark.churn:
        command += ["-r"]
    if context.client_cpu is not None:
        # On a CPU of its own, it polls without sleeping: a response then
        # never has to wake it, and the cost of a wake-up (large in a
        # virtual machine) is not charged to the server's send.
        command += ["-a", str(context.client_cpu), "-b"]
    timeout = settings.warmup + settings.duration + LOADGEN_GRACE
    return parse_loadgen(run_tool(command, timeout, "the load generator"))


def run_tool(command, timeout, what, cpu=None):
    """The standard output of command, which must succeed within timeout
    seconds; cpu: the CPU to run it on."""
    if cpu is not None:
        command = ["taskset", "-c", str(cpu), *command]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise ServerFailed(f"{what} did not finish within {timeout:.0f} s")
    if result.returncode:
        raise ServerFailed(result.stderr.strip() or
                           f"{what} exited with status {result.returncode}")
    return result.stdout


WRK_UNITS = {"us": 1.0, "ms": 1e3, "s": 1e6, "m": 60e6, "h": 3600e6}


def parse_wrk(output):
    """(requests, seconds, p50 us, p99 us) of wrk --latency's report."""
    done = re.search(r"^\s*(\d+) requests in ([\d.]+)(us|ms|s|m|h)", output, re.M)
    if not done:
        raise ServerFailed(f"no request count in wrk's report: {output.strip()[-200:]}")
    for problem in (r"Socket errors:[^\n]*", r"Non-2xx or 3xx responses: \d+"):
        found = re.search(problem, output)
        if found:
            raise ServerFailed(f"wrk: {found.group(0).strip()}")
    percentiles = {}
    for percent, value, unit in re.findall(r"^\s*(50|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s|m|h)\b",
                                           output, re.M):
        percentiles[percent] = float(value) * WRK_UNITS[unit]
    requests = int(done.group(1))
    seconds = float(done.group(2)) * WRK_UNITS[done.group(3)] / 1e6
    if not requests:
        raise ServerFailed("no request was answered in the measured window")
    return requests, seconds, percentiles.get("50"), percentiles.get("99")


def wrk_seconds(seconds):
    """wrk takes whole seconds."""
    return f"{max(1, round(seconds))}s"


def run_wrk(benchmark, settings, context, address, server_pid):
    url = f"http://{address}{benchmark.path}"
    base = [shutil.which("wrk"), "-t1", "-c", str(settings.connections)]
    timeout = max(1, settings.duration) + LOADGEN_GRACE
    run_tool(base + ["-d", wrk_seconds(settings.warmup), url], timeout, "wrk",
             context.client_cpu)
    cpu_start, faults_start = proc_usage(server_pid)
    output = run_tool(base + ["-d", wrk_seconds(settings.duration), "--latency", url],
                      timeout, "wrk", context.client_cpu)
    cpu_end, faults_end = proc_usage(server_pid)
    requests, seconds, p50, p99 = parse_wrk(output)
    return Sample(requests, seconds, cpu_end - cpu_start, faults_end - faults_start, p50, p99)


@dataclasses.dataclass
class ServerContext:
    loadgen: object  # the load generator's path; None when no cell needs it
    floor: object  # the C echo server, when FLOOR runs
    server_cpu: int | None
    client_cpu: int | None
    env: dict
    directory: str  # where Unix sockets go
    services: dict  # name -> a started services.Service, or the ServerFailed of its start


def server_command(benchmark, loop_kind, settings, context, fd):
    """The command that serves benchmark on loop_kind from listening socket fd."""
    if loop_kind.name == FLOOR:
        read_size, write_size = FLOOR_SIZES[benchmark.server]
        command = [str(context.floor), str(fd), str(read_size), str(write_size)]
        if context.server_cpu is not None:
            command.append(str(context.server_cpu))
        return command
    lifetime = settings.warmup + settings.duration + LOADGEN_GRACE + 60
    command = [sys.executable, str(SERVERS_SCRIPT), "serve", benchmark.server,
               "--loop", loop_kind.name, "--fd", str(fd), "--lifetime", str(lifetime)]
    if context.server_cpu is not None:
        command += ["--cpu", str(context.server_cpu)]
    return command


def measure_server(benchmark, loop_kind, settings, context):
    """The Sample of one measurement of benchmark on loop_kind."""
    if benchmark.driver == "client":
        return measure_client(benchmark, loop_kind, settings, context)
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
            if benchmark.driver == "wrk":
                sample = run_wrk(benchmark, settings, context, address[1], process.pid)
            else:
                sample = run_loadgen(benchmark, settings, context, address, process.pid)
        except ServerFailed as exc:
            failure = exc
        finally:
            stopped = stop_server(process)
            failure = failure or stopped  # the first failure is the cause
        if failure:
            # What the server said is usually the cause.
            server_said = last_lines(errors)
            if server_said:
                raise ServerFailed(f"{failure}; server stderr: {server_said}")
            raise failure
    return sample


def stop_server(process):
    """Close the server's standard input and wait for it to exit: None, or
    the ServerFailed that says how it did not stop cleanly."""
    process.stdin.close()
    try:
        process.wait(SERVER_STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return ServerFailed(f"the server did not stop within {SERVER_STOP_TIMEOUT} s")
    finally:
        process.stdout.close()
    if process.returncode:
        return ServerFailed(f"the server exited with status {process.returncode}")
    return None


def measure_client(benchmark, loop_kind, settings, context):
    service = context.services.get(benchmark.service)
    if isinstance(service, Exception):
        raise service
    command = [sys.executable, str(SERVERS_SCRIPT), "client", benchmark.server,
               "--loop", loop_kind.name, "--address", service.address,
               "--connections", str(settings.connections),
               "--warmup", str(settings.warmup), "--duration", str(settings.duration)]
    if context.server_cpu is not None:
        command += ["--cpu", str(context.server_cpu)]
    timeout = SERVER_START_TIMEOUT + settings.warmup + settings.duration + LOADGEN_GRACE
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                                env=context.env)
    except subprocess.TimeoutExpired:
        raise ServerFailed(f"the client did not finish within {timeout:.0f} s")
    if result.returncode:
        said = " | ".join(result.stderr.strip().splitlines()[-3:])
        raise ServerFailed(said or f"the client exited with status {result.returncode}")
    figures = json.loads(result.stdout)
    if not figures["requests"]:
        raise ServerFailed("no request was answered in the measured window")
    return Sample(figures["requests"], figures["seconds"], figures["cpu"],
                  figures["minflt"], figures["p50_us"], figures["p99_us"])


# --- Programs and places ------------------------------------------------


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
        paths.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(aioev.__file__))))
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


# --- The run ------------------------------------------------------------


def unavailable(benchmark, loop_kind):
    """Why benchmark cannot run on loop_kind, or None."""
    if loop_kind.error:
        return loop_kind.error
    if loop_kind.name == FLOOR:
        return NOT_APPLICABLE if benchmark.server not in FLOOR_SIZES else None
    for module in benchmark.modules:
        if importlib.util.find_spec(module) is None:
            return (f"{module} is not installed (Tools/bench/requirements.txt;"
                    " `make bench` makes a venv with it)")
    if benchmark.driver in TOOLS and not shutil.which(benchmark.driver):
        return (f"{benchmark.driver} is not installed ({TOOLS[benchmark.driver]};"
                " `make bench` installs it)")
    if benchmark.service:
        return services.missing(benchmark.service)
    return None


def run_servers(benchmarks, loops, settings):
    started = time.perf_counter()
    cells = {}
    for benchmark in benchmarks:
        for loop_kind in loops:
            cells[benchmark.name, loop_kind.name] = ServerCell(
                error=unavailable(benchmark, loop_kind))

    def fail_cells(error, which):
        for (name, kind_name), cell in cells.items():
            if which(name, kind_name):
                cell.error = cell.error or describe(error)

    by_name = {benchmark.name: benchmark for benchmark in benchmarks}
    loadgen = floor = None
    if any(b.driver == "loadgen" for b in benchmarks):
        try:
            loadgen = build_loadgen()
        except (ServerFailed, OSError, subprocess.SubprocessError) as exc:
            fail_cells(exc, lambda name, _: by_name[name].driver == "loadgen")
    if any(loop_kind.name == FLOOR for loop_kind in loops):
        try:
            floor = build_floor()
        except (ServerFailed, OSError, subprocess.SubprocessError) as exc:
            fail_cells(exc, lambda _, kind_name: kind_name == FLOOR)
    server_cpu, client_cpu = pick_cpus()
    with tempfile.TemporaryDirectory(prefix="aioev-bench-") as directory:
        context = ServerContext(loadgen, floor, server_cpu, client_cpu,
                                child_environment(), directory, {})
        try:
            for name in sorted({b.service for b in benchmarks if b.service}):
                if all(cells[b.name, kind.name].error for b in benchmarks
                       if b.service == name for kind in loops):
                    continue  # no cell of it can run
                progress(f"servers: starting {name}")
                try:
                    context.services[name] = services.start(name, directory, client_cpu)
                except (ServerFailed, OSError, subprocess.SubprocessError) as exc:
                    context.services[name] = ServerFailed(
                        f"{name} did not start: {describe(exc)}")
            for round_index in range(settings.rounds):
                progress(f"servers: round {round_index + 1}/{settings.rounds}")
                run_server_round(round_index, benchmarks, loops, cells, settings, context)
        finally:
            for service in context.services.values():
                if not isinstance(service, Exception):
                    service.stop()
    progress(f"servers: done in {time.perf_counter() - started:.0f} s")
    return cells, context


def run_server_round(round_index, benchmarks, loops, cells, settings, context):
    for bench_index, benchmark in enumerate(benchmarks):
        turn = (round_index + bench_index) % len(loops)
        for loop_kind in loops[turn:] + loops[:turn]:
            cell = cells[benchmark.name, loop_kind.name]
            if cell.error:
                continue
            try:
                cell.add(measure_server(benchmark, loop_kind, settings, context))
            except (ServerFailed, OSError, ValueError, KeyError,
                    subprocess.SubprocessError) as exc:
                cell.error = describe(exc)


# --- Reporting ----------------------------------------------------------


def median_values(cells, benchmark, loops, metric):
    """loop name -> the median of metric in benchmark's cells (None on an error)."""
    values = {}
    for kind in loops:
        cell = cells[benchmark.name, kind.name]
        values[kind.name] = None if cell.error else cell.median(metric)
    return values


def server_ratio_columns(loops):
    """The loop ratios, and with --floor the C echo server over uvloop: the
    lowest aioev/uvloop that any loop could reach."""
    names = [loop_kind.name for loop_kind in loops]
    pairs = ratio_columns(names)
    if FLOOR in names and "uvloop" in names:
        pairs.append((FLOOR, "uvloop"))
    return pairs


def print_server_header(settings, context, loops):
    if context is None:
        placement = ""
    elif context.server_cpu is None:
        placement = "; one CPU: the process on the loop and the load share it"
    else:
        placement = (f"; the process on the loop on CPU {context.server_cpu},"
                     f" the load (load generator, wrk, PostgreSQL, Redis) on CPU"
                     f" {context.client_cpu}")
    print(f"Servers: {settings.connections} connections, each request -> whole response"
          f"{placement}")
    print(f"{settings.rounds} rounds of a {settings.duration} s window after"
          f" {settings.warmup} s of warm-up (wrk: whole seconds); medians")
    if any(loop_kind.name == FLOOR for loop_kind in loops):
        print(f"{FLOOR}: an echo server in C over libev, no Python, making the"
              " system calls each echo style makes: the floor")


def print_server_tables(benchmarks, loops, cells, settings, context):
    print_server_header(settings, context, loops)
    errors = {}
    ratios = server_ratio_columns(loops)
    for metric, title, higher, text in METRICS:
        def value(cell):
            if cell.error == NOT_APPLICABLE:
                return "-"
            if cell.error:
                return f"error [{errors.setdefault(cell.error, len(errors) + 1)}]"
            figure = cell.median(metric)
            return "-" if figure is None else text.format(figure)

        header = [title] + [kind.name for kind in loops]
        header += [f"{top}/{bottom}" for top, bottom in ratios]
        rows = [header]
        for benchmark in benchmarks:
            values = median_values(cells, benchmark, loops, metric)
            row = [benchmark.name]
            row += [value(cells[benchmark.name, kind.name]) for kind in loops]
            row += [format_times(cell_ratio(values, *pair, higher_is_better=higher))
                    for pair in ratios]
            rows.append(row)
        print()
        print_rows(rows)
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
    for benchmark in benchmarks:
        entry = report["benchmarks"][benchmark.name] = {
            "message_bytes": benchmark.size or None, "driver": benchmark.driver}
        for kind in loops:
            cell = cells[benchmark.name, kind.name]
            entry[kind.name] = {metric: None if cell.error else cell.median(metric)
                                for metric, *_ in METRICS}
            entry[kind.name]["rounds"] = cell.rounds
            entry[kind.name]["error"] = cell.error
        for top, bottom in server_ratio_columns(loops):
            entry[f"{top}/{bottom}"] = {
                metric: cell_ratio(median_values(cells, benchmark, loops, metric),
                                   top, bottom, higher_is_better=higher)
                for metric, _, higher, _ in METRICS}
    return report
