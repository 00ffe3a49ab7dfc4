"""Loops in threads: how the throughput of N loops, one per thread, grows
with N (issue 12: on a free-threaded CPython, 2 threads should give at least
1.7 times the throughput of 1 on a 2-core machine; with a GIL they cannot
give more than 1).

    python Tools/bench/scaling.py                    # aioev, 1 and 2 threads
    PYTHON_GIL=0 .venv-ft/3.13.5-ft/bin/python Tools/bench/scaling.py
    python Tools/bench/scaling.py --loop asyncio --threads 1,2,4 --rounds 7

Each benchmark is calibrated on one thread to take about --seconds; a round
then runs it in each thread count in turn (interleaved), every thread with
a loop of its own started together at a barrier, and takes the wall time
until the last thread is done. Reported: the median of the rounds in ops/s
(all threads together), and each count's ratio to one thread.
"""

import argparse
import asyncio
import os
import socket
import statistics
import sys
import threading
import time

import micro
from loops import find_loops


class _Echo(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.transport.write(data)


class _Client(asyncio.Protocol):
    """Sends a byte, and the next when the echo comes back."""

    def __init__(self, ops, done):
        self.remaining = ops
        self.done = done

    def connection_made(self, transport):
        self.transport = transport
        transport.write(b"x")

    def data_received(self, data):
        self.remaining -= 1
        if self.remaining:
            self.transport.write(data)
        elif not self.done.done():
            self.done.set_result(None)


def echo_ping_pong(loop, ops):
    """One op: a one-byte round trip between two protocols over a
    socketpair (transport.write, data_received)."""
    near, far = socket.socketpair()
    done = loop.create_future()

    async def main():
        server, _ = await loop.create_connection(_Echo, sock=far)
        client, _ = await loop.create_connection(lambda: _Client(ops, done), sock=near)
        try:
            await done
        finally:
            client.close()
            server.close()

    return micro.timed(loop.run_until_complete, main())


BENCHMARKS = {
    "call_soon_chain": micro.call_soon_chain,
    "echo_ping_pong": echo_ping_pong,
}


def run_threads(function, factory, ops, threads):
    """Wall time for `threads` loops running function(loop, ops) at once."""
    barrier = threading.Barrier(threads + 1)
    errors = []
    ends = []

    def worker():
        loop = factory()
        try:
            barrier.wait(60)
            function(loop, ops)
            ends.append(time.perf_counter())
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            loop.close()

    workers = [threading.Thread(target=worker) for _ in range(threads)]
    for w in workers:
        w.start()
    barrier.wait(60)
    start = time.perf_counter()
    for w in workers:
        w.join()
    if errors:
        raise errors[0]
    return max(ends) - start


def calibrate(function, factory, seconds):
    ops = 1000
    while True:
        took = run_threads(function, factory, ops, 1)
        if took >= seconds / 4:
            return max(1, int(ops * seconds / took))
        ops *= 4


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--loop", default="aioev", help="aioev, asyncio, uvloop, ...")
    parser.add_argument("--threads", default="1,2", help="thread counts, e.g. 1,2,4")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=0.5,
                        help="about how long one thread's run takes")
    parser.add_argument("benchmarks", nargs="*", default=list(BENCHMARKS))
    args = parser.parse_args(argv)
    counts = [int(n) for n in args.threads.split(",")]
    loops, _ = find_loops()
    kinds = {kind.name: kind for kind in loops if kind.factory is not None}
    if args.loop not in kinds:
        parser.error(f"no loop {args.loop!r}; have {', '.join(kinds)}")
    factory = kinds[args.loop].factory
    gil = getattr(sys, "_is_gil_enabled", lambda: True)()
    print(f"Python {sys.version.split()[0]}, GIL {'on' if gil else 'off'}, "
          f"{os.cpu_count()} CPUs, loop {args.loop}, {args.rounds} rounds "
          f"of about {args.seconds} s a thread; medians, ops/s of all threads")
    for name in args.benchmarks:
        function = BENCHMARKS[name]
        ops = calibrate(function, factory, args.seconds)
        rates = {n: [] for n in counts}
        for _ in range(args.rounds):
            for n in counts:
                rates[n].append(n * ops / run_threads(function, factory, ops, n))
        base = statistics.median(rates[counts[0]])
        cells = []
        for n in counts:
            rate = statistics.median(rates[n])
            cells.append(f"{n} thread{'s' if n > 1 else ''}: {rate:,.0f} ({rate / base:.2f}x)")
        print(f"{name:16} " + "   ".join(cells))


if __name__ == "__main__":
    main()
