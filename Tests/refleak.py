"""Reference and memory-block leak runs in the manner of CPython's -R 3:3.

Each test module runs WARMUP + RUNS times in one child process; after every
run, gc.collect() and the internal caches are cleared and
sys.gettotalrefcount() (debug builds) and sys.getallocatedblocks() are read.
A module leaks when every one of the last RUNS deltas of either is positive
(regrtest's rule: a real leak grows each run, noise does not).

    python -m Tests.refleak                 # the default modules
    python -m Tests.refleak Tests.test_timers conformance:test_locks
    python -m Tests.refleak --warmup 3 --runs 3
    AIOEV_TEST_LOOP=asyncio python -m Tests.refleak ...   # on asyncio's loop

Entries are project modules (Tests.test_*) or conformance:NAME, which is
CPython's test.test_asyncio.NAME run on aioev loops the way the conformance
gate runs it (Tests/conformance/child.py). refleak_exclusions.txt lists the
modules left out, one `entry: reason` a line. Exit status 1 on any leak.
"""

import argparse
import concurrent.futures
import gc
import importlib
import importlib.util
import io
import json
import os
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
EXCLUSIONS = os.path.join(HERE, 'refleak_exclusions.txt')


def can_measure():
    """Whether this interpreter counts anything a leak would grow.

    A release build has no sys.gettotalrefcount(), and with
    PYTHONMALLOC=malloc (as under the sanitizers) sys.getallocatedblocks()
    is always 0: a run there would report "no leaks" whatever leaks.
    """
    return hasattr(sys, 'gettotalrefcount') or sys.getallocatedblocks() > 0

# Quick stdlib modules the conformance gate passes on aioev.
CONFORMANCE = ['test_futures', 'test_locks', 'test_queues', 'test_timeouts',
               'test_taskgroups', 'test_waitfor', 'test_context']


def read_exclusions(path=EXCLUSIONS):
    """{entry: reason}; a line without a reason is an error."""
    out = {}
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.split('#', 1)[0].strip()
            if not line:
                continue
            # An entry may hold a colon itself (conformance:NAME).
            entry, sep, reason = line.partition(': ')
            if not sep or not reason.strip():
                raise SystemExit(f'{path}:{n}: an exclusion needs a reason')
            out[entry.strip()] = reason.strip()
    return out


def all_entries():
    names = sorted(f[:-3] for f in os.listdir(HERE)
                   if f.startswith('test_') and f.endswith('.py'))
    return ['Tests.' + n for n in names] + ['conformance:' + c
                                              for c in CONFORMANCE]


# A quick slice, run when no entry is given: the hot paths (handles,
# timers, futures/tasks, locks); `make refleak` (part of `make test`) runs
# it. --all takes about 9 minutes on the debug build here, two at a time.
DEFAULT = ['Tests.test_handles', 'Tests.test_timers', 'Tests.test_future',
           'Tests.test_create_task', 'conformance:test_locks']


def clear_caches():
    clear = getattr(sys, '_clear_internal_caches', None) or \
        getattr(sys, '_clear_type_cache')
    clear()
    import re
    re.purge()
    import linecache
    linecache.clearcache()
    gc.collect()
    gc.collect()


def load_suite(entry):
    """A function making entry's tests afresh (a TestCase keeps state, such
    as IsolatedAsyncioTestCase's runner, from one run to the next)."""
    loader = unittest.defaultTestLoader
    if not entry.startswith('conformance:'):
        return lambda: loader.loadTestsFromName(entry)
    name = entry.split(':', 1)[1]
    path = os.path.join(HERE, 'conformance', 'child.py')
    spec = importlib.util.spec_from_file_location('_refleak_child', path)
    child = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(child)
    factory = child.make_factory(
        'stdlib' if os.environ.get('AIOEV_TEST_LOOP') == 'asyncio' else 'aioev')
    child.patch_default_policy(factory)
    module = importlib.import_module('test.test_asyncio.' + name)
    if name in child.MIXIN_MODULES:
        child.add_mixin_class(module, factory)
    if name in child.MODULE_ADAPTERS:
        child.MODULE_ADAPTERS[name](module, factory)
    return lambda: loader.loadTestsFromModule(module)


def run_child(entry, warmup, runs):
    """Run entry's tests warmup+runs times; print one JSON line of deltas."""
    make = load_suite(entry)
    refs, blocks, failures = [], [], 0
    total = getattr(sys, 'gettotalrefcount', None)
    clear_caches()
    before_r = total() if total else 0
    before_b = sys.getallocatedblocks()
    for i in range(warmup + runs):
        result = unittest.TestResult()
        suite = make()
        suite.run(result)
        del suite
        failures += len(result.failures) + len(result.errors)
        del result
        clear_caches()
        after_r = total() if total else 0
        after_b = sys.getallocatedblocks()
        if i >= warmup:
            refs.append(after_r - before_r)
            blocks.append(after_b - before_b)
        before_r, before_b = after_r, after_b
    print(json.dumps({'entry': entry, 'refs': refs, 'blocks': blocks,
                      'failures': failures}), flush=True)


# The entries that take longest (on the 3.13.5 debug build, 6 runs:
# test_task 339 s, test_task_faults 145 s, test_task_types 108 s,
# conformance:test_taskgroups 75 s; the other 37 entries 700 s together).
LONGEST = {'Tests.test_task', 'Tests.test_task_faults', 'Tests.test_task_types',
           'conformance:test_taskgroups'}

CONFIRM = 3  # a suspected leak is measured again over 3x the runs


def leaks(deltas):
    return bool(deltas) and all(d >= 1 for d in deltas)


def measure(entry, args, runs):
    """(the child's deltas as a dict, or None and the report of a failure)."""
    cmd = [sys.executable, '-X', 'faulthandler', '-m', 'Tests.refleak',
           '--child', entry, '--warmup', str(args.warmup), '--runs', str(runs)]
    try:
        proc = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True,
                              errors='replace', timeout=args.timeout)
    except subprocess.TimeoutExpired:
        return None, f'{entry}: did not finish in {args.timeout:.0f} s'
    lines = [l for l in proc.stdout.splitlines() if l.startswith('{')]
    if proc.returncode != 0 or not lines:
        return None, (f'{entry}: child failed (exit {proc.returncode})\n'
                      + proc.stderr[-3000:])
    return json.loads(lines[-1]), None


def verdict(r):
    found = []
    if leaks(r['refs']):
        found.append(f"leaked references {r['refs']}")
    if leaks(r['blocks']):
        found.append(f"leaked memory blocks {r['blocks']}")
    return found


def judge(entry, args):
    """(the report line, whether it leaked or failed).

    A count that grew in each of the runs is measured again over CONFIRM
    times as many runs in a fresh child, whose verdict stands: a leak grows
    every run, where a cache or a free list filling up grows for a few runs
    and then stops (the debug build's block counts do so under load, as
    regrtest's rerun of a failed test lets it show).
    """
    start = time.monotonic()
    r, failure = measure(entry, args, args.runs)
    if failure:
        return failure, True
    found = verdict(r)
    first = ''
    if found:
        first = f"; first {args.runs} runs: refs {r['refs']}, blocks {r['blocks']}"
        r, failure = measure(entry, args, args.runs * CONFIRM)
        if failure:
            return failure, True
        found = verdict(r)
    took = time.monotonic() - start
    report = (f"{entry}: {'; '.join(found) or 'ok'} "
              f"(refs {r['refs']}, blocks {r['blocks']}{first}, "
              f"{r['failures']} failed test runs, {took:.1f} s)")
    return report, bool(found)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('entries', nargs='*')
    p.add_argument('--warmup', type=int, default=3)
    p.add_argument('--runs', type=int, default=3)
    p.add_argument('--exclusions', default=EXCLUSIONS)
    p.add_argument('--timeout', type=float, default=600)
    p.add_argument('--jobs', type=int, default=1,
                   help='modules measured at once, each in its own child')
    p.add_argument('--all', action='store_true',
                   help='every project module and CONFORMANCE module')
    p.add_argument('--child', help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        run_child(args.child, args.warmup, args.runs)
        return 0
    if not can_measure():
        print('refleak: this interpreter counts neither references '
              '(no sys.gettotalrefcount) nor memory blocks '
              '(sys.getallocatedblocks() is 0, PYTHONMALLOC=malloc?); '
              'nothing can be measured', flush=True)
        return 2
    excluded = read_exclusions(args.exclusions)
    entries = args.entries or (all_entries() if args.all else DEFAULT)
    for entry in entries:
        if entry in excluded:
            print(f'{entry}: excluded ({excluded[entry]})', flush=True)
    todo = [e for e in entries if e not in excluded]
    # Each module runs in a child of its own, which measures only itself:
    # with --jobs 2 two of them share the machine, and the verdicts come out
    # in the order of the entries.
    # The longest start first, so that they do not end the run alone.
    bad = []
    with concurrent.futures.ThreadPoolExecutor(max(1, args.jobs)) as pool:
        started = {e: pool.submit(judge, e, args)
                   for e in sorted(todo, key=lambda e: e not in LONGEST)}
        for entry in todo:
            report, failed = started[entry].result()
            print(report, flush=True)
            if failed:
                bad.append(entry)
    if bad:
        print('LEAKS or failures in: ' + ', '.join(bad))
        return 1
    print('refleak: no leaks')
    return 0


if __name__ == '__main__':
    sys.exit(main())
