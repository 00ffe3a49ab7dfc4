"""The benchmark's harness (Tools/bench/): the C echo server of --floor and
its column; the load generator's and the bench's accounting of CPU time,
minor page faults and latency; the real-application cells, which start and
stop their servers; loops that are not installed or do not work; the plots.

The application cells need the bench venv and Debian's wrk, postgresql and
redis-server (`make bench-test` has them); elsewhere they are skipped, with
the reason.  The whole module takes about a minute.
"""

import contextlib
import io
import json
import os
import pathlib
import socket
import struct
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import types
import unittest
from unittest import mock
from xml.etree import ElementTree

from .net_support import KiB, MiB, payload
from .support import ROOT_DIR, UNDER_SANITIZER, child_env, import_aioev

BENCH_DIR = os.path.join(ROOT_DIR, "Tools", "bench")
if not os.path.isdir(BENCH_DIR):
    # Vendored into CPython the tests come without the checkout's Tools/.
    raise unittest.SkipTest(f"no benchmark sources in {BENCH_DIR}")
import_aioev()
sys.path.insert(0, BENCH_DIR)
import bench  # noqa: E402
import cells  # noqa: E402
import loops  # noqa: E402
import services  # noqa: E402

START_TIMEOUT = 30
BENCH_SCRIPT = os.path.join(ROOT_DIR, "Tools", "bench", "bench.py")


class FloorServer:
    """echo_floor serving on a listening socket of this process."""

    def __init__(self, test, read_size, write_size, family=socket.AF_INET):
        self.listener = socket.socket(family, socket.SOCK_STREAM)
        test.addCleanup(self.listener.close)
        if family == socket.AF_UNIX:
            directory = tempfile.mkdtemp()
            test.addCleanup(os.rmdir, directory)
            self.address = os.path.join(directory, "s")
            test.addCleanup(os.unlink, self.address)
        else:
            self.address = ("127.0.0.1", 0)
        self.listener.bind(self.address)
        self.address = self.listener.getsockname()
        self.listener.listen(128)
        fd = self.listener.fileno()
        self.process = subprocess.Popen(
            [str(cells.build_floor()), str(fd), str(read_size), str(write_size)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            pass_fds=[fd])
        test.addCleanup(self.kill)
        line = self.process.stdout.readline()
        if line != b"ready\n":
            self.process.kill()
            test.fail(f"no ready line: {line!r}; stderr: {self.process.stderr.read()!r}")

    def connect(self, test, receive_buffer=None):
        conn = socket.socket(self.listener.family, socket.SOCK_STREAM)
        test.addCleanup(conn.close)
        if receive_buffer is not None:
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        conn.settimeout(START_TIMEOUT)
        conn.connect(self.address)
        return conn

    def stop(self):
        """Close its standard input: (exit status, what it wrote to stderr)."""
        self.process.stdin.close()
        status = self.process.wait(START_TIMEOUT)
        return status, self.process.stderr.read()

    def kill(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        for pipe in (self.process.stdin, self.process.stdout, self.process.stderr):
            pipe.close()


def echo(conn, data):
    """Send data and read back as many bytes.  A thread sends, so that
    neither side waits for the other with full buffers."""
    sender = threading.Thread(target=conn.sendall, args=(data,))
    sender.start()
    received = bytearray()
    try:
        while len(received) < len(data):
            chunk = conn.recv(len(data) - len(received))
            if not chunk:
                break
            received += chunk
    finally:
        sender.join(START_TIMEOUT)
    return bytes(received)


class FloorServerTests(unittest.TestCase):

    def test_echoes_every_byte(self):
        server = FloorServer(self, 64 * KiB, 64 * KiB)
        conn = server.connect(self)
        for size in (1, KiB, 100 * KiB, 700 * KiB):
            data = payload(size, seed=size)
            self.assertEqual(echo(conn, data), data, f"{size} bytes")
        self.assertEqual(server.stop(), (0, b""))

    def test_small_reads_and_sends(self):
        # Read 1000 bytes at a time and send them back 300 at a time.
        server = FloorServer(self, 1000, 300)
        conn = server.connect(self)
        data = payload(50 * KiB, seed=3)
        self.assertEqual(echo(conn, data), data)
        self.assertEqual(server.stop(), (0, b""))

    def test_unix_socket_and_many_connections(self):
        server = FloorServer(self, 256 * KiB, 256 * KiB, socket.AF_UNIX)
        conns = [server.connect(self) for _ in range(20)]
        for index, conn in enumerate(conns):
            data = payload(10 * KiB + index, seed=index)
            self.assertEqual(echo(conn, data), data)
        self.assertEqual(server.stop(), (0, b""))

    def test_unsent_data_waits_for_a_reader(self):
        # The client reads nothing back for a while, through a small receive
        # buffer, while it sends 16 MiB: the server's sends fill the socket,
        # and it keeps what was not sent, and stops reading, until it drains.
        server = FloorServer(self, 256 * KiB, 256 * KiB)
        conn = server.connect(self, receive_buffer=64 * KiB)
        data = payload(16 * MiB, seed=8)
        received = bytearray()

        def read_back():
            time.sleep(0.2)
            while len(received) < len(data):
                chunk = conn.recv(MiB)
                if not chunk:
                    return
                received.extend(chunk)

        reader = threading.Thread(target=read_back)
        reader.start()
        conn.sendall(data)
        reader.join(START_TIMEOUT)
        self.assertEqual(bytes(received), data)
        self.assertEqual(server.stop(), (0, b""))

    def test_peer_reset_is_not_a_failure(self):
        server = FloorServer(self, 64 * KiB, 64 * KiB)
        conn = server.connect(self)
        self.assertEqual(echo(conn, b"x"), b"x")
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()  # a reset
        other = server.connect(self)
        self.assertEqual(echo(other, b"still serving"), b"still serving")
        self.assertEqual(server.stop(), (0, b""))

    def test_bad_usage(self):
        for args in ([], ["3"], ["3", "0", "10"], ["3", "10"], ["3", "1", "1", "0", "9"]):
            result = subprocess.run([str(cells.build_floor()), *args],
                                    capture_output=True, timeout=START_TIMEOUT)
            self.assertEqual(result.returncode, 2, args)
            self.assertIn(b"usage:", result.stderr)

    def test_build_failure_is_reported(self):
        with tempfile.TemporaryDirectory() as directory:
            source = os.path.join(directory, "broken.c")
            with open(source, "w") as f:
                f.write("this is not C\n")
            with self.assertRaisesRegex(loops.ServerFailed, "broken.c.* failed"):
                cells.build_program(pathlib.Path(source), "broken-test", "a test program")
            with self.assertRaisesRegex(loops.ServerFailed, "source is missing"):
                cells.build_program(pathlib.Path(source + ".gone"), "gone", "a test program")


class FloorColumnTests(unittest.TestCase):

    def test_report_has_the_floor(self):
        with tempfile.TemporaryDirectory() as directory:
            report_path = os.path.join(directory, "report.json")
            result = subprocess.run(
                [sys.executable, BENCH_SCRIPT, "--floor", "--only",
                 "echo_protocol_1k,echo_sock_10k,http", "--rounds", "1",
                 "--duration", "0.05", "--json", report_path],
                capture_output=True, text=True, timeout=300, env=child_env())
            self.assertEqual(result.returncode, 0, result.stderr)
            with open(report_path) as f:
                servers = json.load(f)["servers"]["benchmarks"]
        self.assertIn(f"{cells.FLOOR}: an echo server in C", result.stdout)
        for name in ("echo_protocol_1k", "echo_sock_10k"):
            floor = servers[name][cells.FLOOR]
            self.assertIsNone(floor["error"], name)
            self.assertGreater(floor["requests_per_s"], 0, name)
            self.assertGreater(floor["cpu_us_per_request"], 0, name)
        self.assertEqual(servers["http"][cells.FLOOR]["error"], cells.NOT_APPLICABLE)
        if "uvloop" in servers["http"]:
            ratio = servers["echo_protocol_1k"][f"{cells.FLOOR}/uvloop"]
            self.assertGreater(ratio["cpu_us_per_request"], 0)
            self.assertIsNone(servers["http"][f"{cells.FLOOR}/uvloop"]["cpu_us_per_request"])

    def test_without_floor_no_column(self):
        kinds = [loops.LoopKind("aioev", None, "x"), loops.LoopKind("uvloop", None, "y")]
        self.assertNotIn((cells.FLOOR, "uvloop"), cells.server_ratio_columns(kinds))
        kinds.append(loops.LoopKind(cells.FLOOR, None, "z"))
        self.assertIn((cells.FLOOR, "uvloop"), cells.server_ratio_columns(kinds))



# --- The accounting -----------------------------------------------------

# A threaded echo server in plain Python: before each answer it maps and
# touches PAGES fresh pages (PAGES minor faults) and sleeps DELAY seconds.
# It prints its port, and exits when its standard input closes.
ECHO_SERVER = textwrap.dedent("""
    import mmap, os, socket, sys, threading, time
    pages, delay = int(sys.argv[1]), float(sys.argv[2])
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    print(listener.getsockname()[1], flush=True)

    def serve(conn):
        with conn:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            while data := conn.recv(65536):
                if pages:
                    area = mmap.mmap(-1, pages * mmap.PAGESIZE)
                    for page in range(pages):
                        area[page * mmap.PAGESIZE] = 1
                    area.close()
                if delay:
                    time.sleep(delay)
                conn.sendall(data)

    def watch_stdin():
        sys.stdin.read()
        os._exit(0)

    threading.Thread(target=watch_stdin, daemon=True).start()
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()
""")


class PlainServer:
    """ECHO_SERVER in a process of its own."""

    def __init__(self, test, pages=0, delay=0.0):
        self.process = subprocess.Popen(
            [sys.executable, "-c", ECHO_SERVER, str(pages), str(delay)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        test.addCleanup(self.stop)
        self.port = int(self.process.stdout.readline())

    def stop(self):
        if self.process.poll() is None:
            self.process.stdin.close()
            try:
                self.process.wait(START_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process.stdout.close()


def loadgen(server, *mode, connections=4, warmup=0.2, duration=0.5):
    """The load generator's run against server: (the Sample, stderr, status)."""
    command = [str(cells.build_loadgen()), "-t", f"127.0.0.1:{server.port}",
               "-c", str(connections), "-w", str(warmup), "-d", str(duration),
               "-p", str(server.process.pid), *mode]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    sample = cells.parse_loadgen(result.stdout) if result.returncode == 0 else None
    return sample, result.stderr, result.returncode


# The children inherit the sanitizer's preload; its allocator keeps freed
# memory in quarantine, so that every allocation takes fresh pages.
fault_counts_of_python = unittest.skipIf(
    UNDER_SANITIZER, "under ASan every allocation faults in fresh pages")


class LoadgenAccountingTests(unittest.TestCase):

    @fault_counts_of_python
    def test_faults_per_request_are_the_servers_in_the_window(self):
        server = PlainServer(self, pages=8)
        sample, errors, status = loadgen(server, "-s", "100")
        self.assertEqual(status, 0, errors)
        per_request = sample.minflt / sample.requests
        # 8 fresh pages per answer, and a little of the interpreter's own;
        # the requests in flight at the window's ends make it inexact.
        self.assertGreater(per_request, 7.5)
        self.assertLess(per_request, 12)

    @fault_counts_of_python
    def test_faults_before_the_window_are_not_counted(self):
        server = PlainServer(self)
        sample, errors, status = loadgen(server, "-s", "100")
        self.assertEqual(status, 0, errors)
        _, total_faults = cells.proc_usage(server.process.pid)
        # Starting the interpreter took thousands; the window's requests none.
        self.assertGreater(total_faults, 1000)
        self.assertLess(sample.minflt / sample.requests, 0.5)

    def test_cpu_is_the_servers_in_the_window(self):
        server = PlainServer(self)
        sample, errors, status = loadgen(server, "-s", "100", duration=0.6)
        self.assertEqual(status, 0, errors)
        self.assertGreater(sample.cpu, 0)
        # One interpreter's threads under one GIL: about a CPU at most,
        # whatever the server had used before the window.
        self.assertLess(sample.cpu, 2 * sample.seconds)

    def test_latency_percentiles(self):
        server = PlainServer(self, delay=0.005)
        sample, errors, status = loadgen(server, "-s", "100", connections=2)
        self.assertEqual(status, 0, errors)
        self.assertGreaterEqual(sample.p50_us, 5000)
        self.assertLess(sample.p50_us, 50_000)
        self.assertGreaterEqual(sample.p99_us, sample.p50_us)

    def test_churn_mode_opens_a_connection_per_request(self):
        listener = socket.socket()
        self.addCleanup(listener.close)
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        accepted = 0

        def echo_once(conn):
            with conn:
                try:
                    conn.sendall(conn.recv(100))
                    conn.recv(1)  # the load generator's reset, or its end
                except OSError:
                    pass

        def serve():
            nonlocal accepted
            while True:
                try:
                    conn, _ = listener.accept()
                except OSError:
                    return  # the listener is closed
                accepted += 1
                threading.Thread(target=echo_once, args=(conn,), daemon=True).start()

        threading.Thread(target=serve, daemon=True).start()
        server = types.SimpleNamespace(port=listener.getsockname()[1],
                                       process=types.SimpleNamespace(pid=os.getpid()))
        sample, errors, status = loadgen(server, "-s", "100", "-r", connections=2,
                                         warmup=0.1, duration=0.3)
        self.assertEqual(status, 0, errors)
        self.assertGreater(sample.requests, 0)
        # Every request of the run, warm-up and drain included, had its own.
        self.assertGreaterEqual(accepted, sample.requests + 2)

    def test_websocket_mode_wants_the_handshake_answer(self):
        server = PlainServer(self)  # it echoes the handshake request back
        sample, errors, status = loadgen(server, "-W", "100")
        self.assertEqual(status, 1)
        self.assertIn("WebSocket handshake refused: GET / HTTP/1.1", errors)


# A child that, once told to on its standard input, maps and touches
# PAGES pages and spins for SPIN seconds of CPU, then says "done".
FAULT_AND_SPIN = textwrap.dedent("""
    import mmap, sys, time
    pages, spin = int(sys.argv[1]), float(sys.argv[2])
    sys.stdin.readline()
    area = mmap.mmap(-1, pages * mmap.PAGESIZE)
    for page in range(pages):
        area[page * mmap.PAGESIZE] = 1
    end = time.process_time() + spin
    while time.process_time() < end:
        pass
    print("done", flush=True)
    sys.stdin.read()
""")


class ProcUsageTests(unittest.TestCase):

    def test_deltas_of_a_process_that_faults_and_spins(self):
        child = subprocess.Popen([sys.executable, "-c", FAULT_AND_SPIN, "2000", "0.3"],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.addCleanup(child.wait)
        self.addCleanup(child.stdout.close)
        self.addCleanup(child.stdin.close)
        time.sleep(0.2)  # past the interpreter's start
        cpu_before, faults_before = cells.proc_usage(child.pid)
        child.stdin.write("go\n")
        child.stdin.flush()
        self.assertEqual(child.stdout.readline(), "done\n")
        cpu_after, faults_after = cells.proc_usage(child.pid)
        self.assertGreaterEqual(faults_after - faults_before, 2000)
        self.assertLess(faults_after - faults_before, 2500)
        self.assertGreaterEqual(cpu_after - cpu_before, 0.25)
        self.assertLess(cpu_after - cpu_before, 2)


WRK_REPORT = """\
Running 1s test @ http://127.0.0.1:8931/
  1 threads and 2 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.72ms    1.04ms   6.90ms   70.36%
    Req/Sec   718.50    176.22     0.92k    50.00%
  Latency Distribution
     50%    2.43ms
     75%    3.38ms
     90%    4.17ms
     99%  815.00us
  715 requests in 1.00s, 2.34MB read
Requests/sec:    714.15
Transfer/sec:      2.34MB
"""


class WrkReportTests(unittest.TestCase):

    def test_requests_seconds_and_percentiles(self):
        self.assertEqual(cells.parse_wrk(WRK_REPORT), (715, 1.0, 2430.0, 815.0))

    def test_errors_fail_the_cell(self):
        for line in ("  Non-2xx or 3xx responses: 12",
                     "  Socket errors: connect 0, read 3, write 0, timeout 0"):
            report = WRK_REPORT.replace("Requests/sec:", line + "\nRequests/sec:")
            with self.assertRaisesRegex(loops.ServerFailed, "wrk: " + line.strip()[:10]):
                cells.parse_wrk(report)


# --- Loops that are missing or fail -------------------------------------


def run_bench(*args):
    """bench.main(args) in this process: (status, stdout, the JSON report)."""
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "report.json")
        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
            status = bench.main([*args, "--json", path])
        with open(path) as file:
            return status, out.getvalue(), json.load(file)


def broken_loop_module(name):
    module = types.ModuleType(name)

    def new_event_loop():
        raise RuntimeError(f"{name} is broken")

    module.new_event_loop = new_event_loop
    return module


class MissingLoopTests(unittest.TestCase):

    def test_not_installed_loop_is_named_not_measured(self):
        with mock.patch.dict(sys.modules, {"zloop": None}):
            kinds, missing = loops.find_loops()
        self.assertEqual(missing.get("zloop"), "not installed")
        self.assertNotIn("zloop", [kind.name for kind in kinds])

    def test_report_says_which_loop_is_not_installed(self):
        with mock.patch.dict(sys.modules, {"zloop": None}):
            status, out, report = run_bench("--only", "call_soon_chain", "--quick",
                                            "--rounds", "1", "--loops", "aioev,asyncio,zloop")
        self.assertEqual(status, 0)
        self.assertIn("zloop: not installed", out)
        self.assertEqual(report["missing_loops"], {"zloop": "not installed"})
        row = report["benchmarks"]["call_soon_chain"]
        self.assertEqual(sorted(name for name in row if "/" not in name), ["aioev", "asyncio"])
        self.assertGreater(row["aioev/asyncio"], 0)

    def test_loop_that_fails_is_an_error_cell(self):
        with mock.patch.dict(sys.modules, {"rloop": broken_loop_module("rloop")}):
            status, out, report = run_bench("--only", "call_soon_chain", "--quick",
                                            "--rounds", "1", "--loops", "aioev,rloop")
        self.assertEqual(status, 0)
        error = "rloop did not make a loop: RuntimeError: rloop is broken"
        self.assertIn(error, out)
        self.assertEqual(report["loop_errors"], {"rloop": error})
        row = report["benchmarks"]["call_soon_chain"]
        self.assertEqual(row["rloop"]["error"], error)
        self.assertIsNone(row["aioev/rloop"])
        self.assertGreater(row["aioev"]["ops_per_s"], 0)

    def test_server_that_fails_on_its_loop_is_an_error_cell(self):
        # servers.py knows no such loop: the server exits before it serves.
        benchmark = next(b for b in cells.SERVER_BENCHMARKS if b.name == "echo_protocol_1k")
        settings = cells.ServerSettings(rounds=2, warmup=0.05, duration=0.1, connections=2)
        kind = loops.LoopKind("nosuchloop", None, "-")
        with contextlib.redirect_stderr(io.StringIO()):
            results, _ = cells.run_servers([benchmark], [kind], settings)
        error = results[benchmark.name, "nosuchloop"].error
        self.assertIn("the server exited before it served", error)
        self.assertIn("ValueError: unknown loop nosuchloop", error)


class AioevKindsTests(unittest.TestCase):

    def test_the_second_kind_has_the_other_task_class(self):
        default, other = loops.aioev_loops()
        loops.probe_tasks(other)
        self.assertEqual(default.name, "aioev")
        self.assertTrue(other.tasks_only)
        self.assertEqual({default.task_type, other.task_type}, {"asyncio.Task", "aioev.Task"})
        expected = (loops.AIOEV_NATIVE_TASK if default.task_type == "asyncio.Task"
                    else loops.AIOEV_ASYNCIO_TASK)
        self.assertEqual(other.name, expected)


# --- The real-application cells -----------------------------------------


class ApplicationCellTests(unittest.TestCase):
    """Each cell once on aioev, with a short window: it answers, its figures
    come from the window, and its servers (the one on the loop, and
    PostgreSQL or Redis) stop cleanly."""

    def measure(self, name):
        benchmark = next(b for b in cells.SERVER_BENCHMARKS if b.name == name)
        kind = next(k for k in loops.find_loops()[0] if k.name == "aioev")
        why = cells.unavailable(benchmark, kind)
        if why:
            self.skipTest(why)
        settings = cells.ServerSettings(rounds=1, warmup=0.1, duration=0.3, connections=4)
        with contextlib.redirect_stderr(io.StringIO()):
            results, context = cells.run_servers([benchmark], [kind], settings)
        cell = results[name, "aioev"]
        self.assertIsNone(cell.error)
        figures = {metric: cell.median(metric) for metric, *_ in cells.METRICS}
        self.assertGreater(figures["requests_per_s"], 0)
        self.assertGreater(figures["cpu_us_per_request"], 0)
        self.assertGreater(figures["p50_us"], 0)
        self.assertGreaterEqual(figures["p99_us"], figures["p50_us"])
        self.assertGreaterEqual(figures["minflt_per_request"], 0)
        # The process on the loop used at most its CPU in the window.
        self.assertLess(figures["cpu_us_per_request"] * figures["requests_per_s"], 1.5e6)
        for service in context.services.values():
            self.assertIsNotNone(service.process.poll(), service.name)
            self.assertFalse(os.path.exists(service.directory), service.name)
        self.assertFalse(os.path.exists(context.directory))

    def test_connect_churn(self):
        self.measure("connect_churn")

    def test_uvicorn_asgi(self):
        self.measure("uvicorn_asgi")

    def test_uvicorn_fastapi(self):
        self.measure("uvicorn_fastapi")

    def test_aiohttp(self):
        self.measure("aiohttp")

    def test_websockets(self):
        self.measure("websockets_1k")

    def test_asyncpg(self):
        self.measure("asyncpg")

    def test_redis(self):
        self.measure("redis")

    def test_redis_pipeline(self):
        self.measure("redis_pipeline")

    def test_a_service_that_cannot_start_fails_its_cells(self):
        benchmark = next(b for b in cells.SERVER_BENCHMARKS if b.name == "redis")
        kind = next(k for k in loops.find_loops()[0] if k.name == "aioev")
        why = cells.unavailable(benchmark, kind)
        if why:
            self.skipTest(why)
        settings = cells.ServerSettings(rounds=1, warmup=0.1, duration=0.2, connections=2)
        failing = mock.patch.object(services, "start_redis",
                                    side_effect=loops.ServerFailed("redis exited: no"))
        with failing, contextlib.redirect_stderr(io.StringIO()):
            results, _ = cells.run_servers([benchmark], [kind], settings)
        self.assertEqual(results["redis", "aioev"].error,
                         "redis did not start: redis exited: no")


# --- Plots --------------------------------------------------------------


def small_report():
    loop_row = {"aioev": {"ops_per_s": 300.0}, "asyncio": {"ops_per_s": 100.0},
                "uvloop": {"ops_per_s": 150.0}, "aioev/uvloop": 2.0}
    server_row = {name: {"requests_per_s": rate, "cpu_us_per_request": 1e6 / rate,
                         "p50_us": 50.0, "p99_us": 90.0, "minflt_per_request": 0.5}
                  for name, rate in (("aioev", 3000.0), ("asyncio", 1000.0),
                                     ("uvloop", 2000.0))}
    server_row["zloop"] = {"requests_per_s": None, "error": "did not start"}
    return {"benchmarks": {"sleep0": loop_row},
            "servers": {"benchmarks": {"echo_protocol_1k": server_row}}}


class PlotTests(unittest.TestCase):

    def setUp(self):
        try:
            import plot
        except ImportError as exc:
            self.skipTest(f"no matplotlib: {exc}")
        self.plot = plot
        directory = tempfile.TemporaryDirectory()
        self.addCleanup(directory.cleanup)
        self.directory = directory.name

    def test_one_svg_per_figure_with_the_loops(self):
        written = self.plot.plot(small_report(), self.directory)
        self.assertEqual([os.path.basename(path) for path in written],
                         ["loop_benchmarks.svg", "servers_requests.svg", "servers_cpu.svg",
                          "servers_latency.svg", "servers_faults.svg"])
        for path in written:
            root = ElementTree.parse(path).getroot()
            self.assertEqual(root.tag, "{http://www.w3.org/2000/svg}svg")
            with open(path) as file:
                text = file.read()
            for name in ("aioev", "asyncio", "uvloop"):
                self.assertIn(name, text, path)

    def test_same_report_same_files(self):
        first = [pathlib.Path(p).read_bytes()
                 for p in self.plot.plot(small_report(), self.directory)]
        second = [pathlib.Path(p).read_bytes()
                  for p in self.plot.plot(small_report(), self.directory)]
        self.assertEqual(first, second)

    def test_no_data_no_file(self):
        self.plot.plot(small_report(), self.directory)
        report = small_report()
        del report["servers"]
        self.plot.plot(report, self.directory)
        # The server plots of the earlier report do not stay.
        self.assertEqual(sorted(os.listdir(self.directory)), ["loop_benchmarks.svg"])
        report = {"benchmarks": {}, "servers": {"benchmarks": {}}}
        self.assertEqual(self.plot.plot(report, self.directory), [])
        self.assertEqual(os.listdir(self.directory), [])



class ScalingTests(unittest.TestCase):
    """Tools/bench/scaling.py: loops in threads, each count's throughput."""

    def test_counts_every_threads_ops_and_the_ratio(self):
        import scaling
        factory = import_aioev().new_event_loop
        ran = []

        def bench(loop, ops):
            ran.append((threading.get_ident(), loop, ops))
            return 0.0
        took = scaling.run_threads(bench, factory, 7, 3)
        self.assertGreaterEqual(took, 0)
        self.assertEqual(len({t for t, _, _ in ran}), 3)  # three threads
        self.assertEqual(len({id(l) for _, l, _ in ran}), 3)  # a loop each
        self.assertTrue(all(ops == 7 and l.is_closed() for _, l, ops in ran))

    def test_a_failing_thread_fails_the_run(self):
        import scaling

        def bench(loop, ops):
            raise ZeroDivisionError
        with self.assertRaises(ZeroDivisionError):
            scaling.run_threads(bench, import_aioev().new_event_loop, 1, 2)

    def test_report(self):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            import scaling
            scaling.main(["--rounds", "1", "--seconds", "0.01", "--threads", "1,2"])
        lines = out.getvalue().splitlines()
        self.assertIn("loop aioev", lines[0])
        self.assertEqual([l.split()[0] for l in lines[1:]], list(scaling.BENCHMARKS))
        for line in lines[1:]:
            self.assertIn("1 thread: ", line)
            self.assertIn("(1.00x)", line)
            self.assertIn("2 threads: ", line)


class StealTests(unittest.TestCase):
    """The run reports how much of the CPUs' time the hypervisor gave to
    other guests, from /proc/stat's first line."""

    def test_parse_cpu_line(self):
        line = "cpu  3158849 219494 443613 1330573 5829 7 58110 70712 0 0\n"
        self.assertEqual(bench.parse_cpu_line(line),
                         (3158849 + 219494 + 443613 + 7 + 58110, 70712))
        self.assertIsNone(bench.parse_cpu_line("cpu0 1 2 3 4 5 6 7 8 9 10"))
        self.assertIsNone(bench.parse_cpu_line("cpu 1 2 3"))

    def test_share_of_busy_and_stolen_time(self):
        self.assertEqual(bench.stolen_share((1000, 100), (1300, 200)), 0.25)
        self.assertEqual(bench.stolen_share((5, 5), (5, 5)), 0.0)
        self.assertIsNone(bench.stolen_share(None, (1, 1)))

    def test_run_prints_and_saves_it(self):
        times = iter([(1000, 100), (1900, 200)])
        out = io.StringIO()
        with tempfile.TemporaryDirectory() as tmp, \
                mock.patch.object(bench, "cpu_times", lambda: next(times)), \
                contextlib.redirect_stdout(out):
            path = os.path.join(tmp, "report.json")
            bench.main(["--only", "call_soon_chain", "--rounds", "1", "--loops", "aioev",
                        "--json", path])
            with open(path) as file:
                saved = json.load(file)
        self.assertIn("CPU steal during the run: 10% of the CPUs' busy time", out.getvalue())
        self.assertIn("unreliable", out.getvalue())
        self.assertEqual(saved["cpu_steal"], 0.1)


if __name__ == "__main__":
    unittest.main()
