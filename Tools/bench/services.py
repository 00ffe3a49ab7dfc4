"""The servers that the database cells talk to, started by the bench on
loopback for one run and stopped at its end: a PostgreSQL (initdb into a
temporary directory; Debian's package postgresql) and a redis-server
(Debian's package redis-server).  Neither writes anything to disk that
outlives the run.
"""

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time

from loops import ServerFailed

START_TIMEOUT = 60  # seconds a service may take to accept connections
STOP_TIMEOUT = 30

# PostgreSQL refuses to run as root: as root, the bench runs it as this user
# (the one Debian's package makes).
POSTGRES_USER = "postgres"


class Service:
    """A started server process; address is its HOST:PORT."""

    def __init__(self, name, process, address, directory=None):
        self.name = name
        self.process = process
        self.address = address
        self.directory = directory

    def stop(self):
        if self.process.poll() is None:
            # SIGINT: PostgreSQL's fast shutdown; redis-server exits on it too.
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.directory:
            shutil.rmtree(self.directory, ignore_errors=True)


def postgres_bin(program):
    """The path of a PostgreSQL server program, or None."""
    found = shutil.which(program)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{program}"))
    return candidates[-1] if candidates else None


def missing(name):
    """Why service name cannot start here, or None."""
    if name == "postgres":
        if not (postgres_bin("initdb") and postgres_bin("postgres")):
            return ("PostgreSQL is not installed (Debian's package postgresql;"
                    " `make bench` installs it)")
        if os.geteuid() == 0:
            try:
                pwd.getpwnam(POSTGRES_USER)
            except KeyError:
                return f"PostgreSQL cannot run as root, and there is no user {POSTGRES_USER}"
        return None
    if name == "redis":
        if not shutil.which("redis-server"):
            return ("redis-server is not installed (Debian's package redis-server;"
                    " `make bench` installs it)")
        return None
    raise ValueError(f"unknown service {name}")


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def pinned(cpu):
    """A preexec_fn that puts the child on cpu (None: anywhere)."""
    if cpu is None:
        return None
    return lambda: os.sched_setaffinity(0, {cpu})


def start(name, directory, cpu):
    """Start service name with its files under directory, on cpu."""
    return {"postgres": start_postgres, "redis": start_redis}[name](directory, cpu)


def start_postgres(directory, cpu):
    data = os.path.join(directory, "postgres")
    os.mkdir(data, 0o700)
    user = {}
    if os.geteuid() == 0:
        account = pwd.getpwnam(POSTGRES_USER)
        os.chown(data, account.pw_uid, account.pw_gid)
        os.chmod(directory, 0o755)  # the server's user must reach data
        user = {"user": account.pw_uid, "group": account.pw_gid}
    result = subprocess.run(
        [postgres_bin("initdb"), "-D", data, "-U", "bench", "--auth=trust",
         "-E", "UTF8", "--no-sync", "--no-instructions"],
        capture_output=True, text=True, timeout=START_TIMEOUT, **user)
    if result.returncode:
        raise ServerFailed("initdb failed: " + " | ".join(
            (result.stderr or result.stdout).strip().splitlines()[-3:]))
    port = free_port()
    log = os.path.join(directory, "postgres.log")
    with open(log, "wb") as log_file:
        process = subprocess.Popen(
            [postgres_bin("postgres"), "-D", data, "-p", str(port), "-k", data,
             "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
             "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
             "-c", "max_connections=200", "-c", "logging_collector=off"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log_file,
            preexec_fn=pinned(cpu), **user)
    service = Service("postgres", process, f"127.0.0.1:{port}", data)
    ready = postgres_bin("pg_isready")
    wait_until(service, lambda: subprocess.run(
        [ready, "-q", "-h", "127.0.0.1", "-p", str(port), "-U", "bench"],
        timeout=10).returncode == 0, log)
    return service


def start_redis(directory, cpu):
    port = free_port()
    data = os.path.join(directory, "redis")
    os.mkdir(data)
    log = os.path.join(directory, "redis.log")
    with open(log, "wb") as log_file:
        process = subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--protected-mode", "no",
             "--daemonize", "no", "--dir", data, "--logfile", ""],
            stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT,
            preexec_fn=pinned(cpu))
    service = Service("redis", process, f"127.0.0.1:{port}", data)
    wait_until(service, lambda: redis_ping(port), log)
    return service


def redis_ping(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def wait_until(service, ready, log):
    """Wait for ready() to say the service accepts connections."""
    deadline = time.monotonic() + START_TIMEOUT
    while not ready():
        if service.process.poll() is not None or time.monotonic() > deadline:
            service.stop()
            try:
                with open(log, errors="replace") as file:
                    said = " | ".join(file.read().strip().splitlines()[-3:])
            except OSError:
                said = ""
            how = ("exited" if service.process.returncode is not None
                   else f"did not start within {START_TIMEOUT} s")
            raise ServerFailed(f"{service.name} {how}: {said}")
        time.sleep(0.1)
