"""Compare the speed of aioev with asyncio's own event loop, uvloop, rloop
and zloop, on loop micro-benchmarks and on servers and clients under load.

Run ``python Tools/bench/bench.py`` from a source tree where aioev is built
(``--quick`` for a short run, ``--help`` for the options; ``make bench`` runs
it in a venv with every loop and application it measures).
Doc/benchmarks.rst says what each benchmark measures and how to read the
tables; plot.py turns the ``--json`` report into SVG plots.

The loop benchmarks are in micro.py, the server cells in cells.py (the
processes they measure in servers.py, the databases in services.py).
"""

import argparse
import json
import os
import platform
import signal
import sys

import cells
import micro
from loops import AIOEV_OTHER_TASK, OPTIONAL_LOOPS, LoopKind, find_loops

QUICK_ROUNDS = 5
FULL_ROUNDS = 21
QUICK_TARGET = 0.1  # seconds one measurement should take
FULL_TARGET = 0.2
LOOP_NAMES = ("aioev",) + AIOEV_OTHER_TASK + ("asyncio",) + OPTIONAL_LOOPS


def print_header(loops, missing, benchmarks, rounds, target):
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
    for name, why in missing.items():
        print(f"{name}: {why}")
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


# --- CPU time the hypervisor took ---------------------------------------
# On a virtual machine the host may run other guests on "our" CPUs: the
# time it takes (steal) slows every loop alike, but unevenly between
# rounds, and a run with more than a few percent of it says little about
# ratios below 1.2x or about tail latency.


def parse_cpu_line(line):
    """(busy, stolen) jiffies of /proc/stat's first ("cpu ...") line:
    user, nice, system, irq and softirq; steal. None if it is not one."""
    fields = line.split()
    if len(fields) < 9 or fields[0] != "cpu":
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, fields[1:9])
    return user + nice + system + irq + softirq, steal


def cpu_times(path="/proc/stat"):
    try:
        with open(path) as file:
            return parse_cpu_line(file.readline())
    except OSError:
        return None


def stolen_share(before, after):
    """The share of the CPUs' time (busy or stolen) that the host took
    between two cpu_times(); None without them."""
    if before is None or after is None:
        return None
    busy = after[0] - before[0]
    stolen = after[1] - before[1]
    return stolen / (busy + stolen) if busy + stolen > 0 else 0.0


def print_steal(share):
    if share is None:
        return
    print(f"\nCPU steal during the run: {share:.0%} of the CPUs' busy time went to other"
          " guests of the host" + (" (ratios within 1.2x and tail latency are unreliable)"
                                   if share > 0.05 else ""))


def report(listed, missing, benchmarks, loop_cells, rounds, target, servers, steal=None):
    """The JSON report.  listed: the loop kinds in the run, the skipped ones
    included; servers: the server part (cells.server_report()), if any."""
    loops = [kind for kind in listed if not kind.skipped]
    result = {
        "python": sys.version,
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "loops": {kind.name: kind.version for kind in loops},
        "loop_errors": {kind.name: kind.error for kind in loops if kind.error},
        "missing_loops": missing,
        "create_task_makes": {kind.name: kind.task_type for kind in loops},
        "skipped_loops": {kind.name: kind.skipped for kind in listed if kind.skipped},
        "rounds": rounds,
        "target_seconds": target,
        "benchmarks": micro.report(benchmarks, loops, loop_cells),
    }
    if servers is not None:
        result["servers"] = servers
    result["cpu_steal"] = steal
    return result


def save_json(path, report):
    with open(path, "w") as file:
        json.dump(report, file, indent=2)
        file.write("\n")


# --- Command line -------------------------------------------------------


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="python Tools/bench/bench.py",
        description="Compare the speed of aioev, asyncio, uvloop, rloop and zloop.")
    parser.add_argument(
        "--quick", action="store_true",
        help=f"{QUICK_ROUNDS} short rounds instead of {FULL_ROUNDS}, and"
             f" {cells.QUICK_SERVER_ROUNDS} rounds of the 1 KiB echo servers (sock_*, streams,"
             " Protocol) and HTTP only (about a minute in all)")
    parser.add_argument(
        "--rounds", type=positive_int, metavar="N",
        help="how many times to measure each benchmark on each loop")
    part = parser.add_mutually_exclusive_group()
    all_names = [b.name for b in micro.BENCHMARKS] + [b.name for b in cells.SERVER_BENCHMARKS]
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
        "--loops", type=loop_list, metavar="NAME[,NAME]",
        help="measure only these loops: " + ", ".join(LOOP_NAMES))
    parser.add_argument(
        "--connections", type=positive_int, metavar="N", default=cells.CONNECTIONS,
        help="concurrent connections of the server benchmarks"
             f" (default {cells.CONNECTIONS})")
    parser.add_argument(
        "--duration", type=positive_float, metavar="SECONDS",
        help="measured window of one server measurement (default"
             f" {cells.FULL_SERVER_DURATION}, {cells.QUICK_SERVER_DURATION} with --quick;"
             " wrk rounds it to whole seconds)")
    parser.add_argument(
        "--floor", action="store_true",
        help=f"also run the echo benchmarks on {cells.FLOOR!r}: an echo server in C over"
             " libev, with no Python (Tools/bench/echo_floor.c), whose CPU per request is"
             " the least any loop can reach")
    parser.add_argument("--json", metavar="FILE", help="also save the results here")
    return parser.parse_args(argv)


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


def names_in(text, known, what):
    names = list(dict.fromkeys(text.split(",")))  # without repeats
    unknown = [name for name in names if name not in known]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown {what} {', '.join(unknown)}; choose from {', '.join(known)}")
    return names


def benchmark_list(text):
    by_name = {benchmark.name: benchmark
               for benchmark in micro.BENCHMARKS + cells.SERVER_BENCHMARKS}
    return [by_name[name] for name in names_in(text, by_name, "benchmark")]


def loop_list(text):
    return names_in(text, LOOP_NAMES, "loop")


def choose(args):
    """The loop benchmarks and the server benchmarks to run."""
    if args.only:
        return ([b for b in args.only if isinstance(b, micro.Benchmark)],
                [b for b in args.only if isinstance(b, cells.ServerBenchmark)])
    benchmarks = [] if args.servers_only else micro.BENCHMARKS
    if not args.servers:
        return benchmarks, []
    return benchmarks, [b for b in cells.SERVER_BENCHMARKS if b.quick or not args.quick]


def main(argv=None):
    args = parse_args(argv)
    benchmarks, server_benchmarks = choose(args)
    rounds = args.rounds or (QUICK_ROUNDS if args.quick else FULL_ROUNDS)
    target = QUICK_TARGET if args.quick else FULL_TARGET
    settings = cells.ServerSettings(
        rounds=args.rounds or (cells.QUICK_SERVER_ROUNDS if args.quick
                               else cells.FULL_SERVER_ROUNDS),
        warmup=cells.QUICK_SERVER_WARMUP if args.quick else cells.FULL_SERVER_WARMUP,
        duration=args.duration or (cells.QUICK_SERVER_DURATION if args.quick
                                   else cells.FULL_SERVER_DURATION),
        connections=args.connections)
    found, missing = find_loops()
    if args.loops:
        found = [kind for kind in found if kind.name in args.loops]
        missing = {name: why for name, why in missing.items() if name in args.loops}
    # The tasks-only kinds take part when a task benchmark does.
    with_tasks = any(benchmark.tasks for benchmark in benchmarks)
    listed = [kind for kind in found if with_tasks or not kind.tasks_only]
    loops = [kind for kind in listed if not kind.skipped]
    print_header(listed, missing, benchmarks, rounds if benchmarks else None, target)
    start_times = cpu_times()
    loop_cells = {}
    if benchmarks:
        signal.signal(signal.SIGALRM, micro.on_alarm)
        loop_cells = micro.run(benchmarks, loops, rounds, target)
        micro.print_table(benchmarks, loops, loop_cells)
    servers = None
    if server_benchmarks:
        if benchmarks:
            print()
        server_loops = [kind for kind in loops if not kind.tasks_only]
        if args.floor:
            server_loops.append(LoopKind(cells.FLOOR, None, "Tools/bench/echo_floor.c"))
        server_cells, context = cells.run_servers(server_benchmarks, server_loops, settings)
        cells.print_server_tables(server_benchmarks, server_loops, server_cells, settings,
                                  context)
        servers = cells.server_report(server_benchmarks, server_loops, server_cells, settings)
    steal = stolen_share(start_times, cpu_times())
    print_steal(steal)
    if args.json:
        save_json(args.json, report(listed, missing, benchmarks, loop_cells, rounds, target,
                                    servers, steal))
    return 0


if __name__ == "__main__":
    sys.exit(main())
