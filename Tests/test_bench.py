"""The bench's --floor: the C echo server over libev (Tools/bench/echo_floor.c)
that gives the least CPU per request of each echo benchmark, and its column
in the bench's report."""

import json
import os
import pathlib
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

from Tests.net_support import KiB, MiB, payload
from Tests.support import ROOT_DIR, child_env, import_aioev

import_aioev()
sys.path.insert(0, os.path.join(ROOT_DIR, "Tools", "bench"))
import cells  # noqa: E402
import loops  # noqa: E402

START_TIMEOUT = 30


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
                [sys.executable, os.path.join(ROOT_DIR, "Tools", "bench", "bench.py"), "--floor", "--only",
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


if __name__ == "__main__":
    unittest.main()
