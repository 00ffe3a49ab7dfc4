"""Run CPython's own test.test_asyncio against aioev and compare.

Each selected module runs twice, in subprocesses of the interpreter under
test: once with asyncio's selector loop (the baseline), once with aioev
loops (see child.py for how the loops are put in place).  A test that passes
on the baseline but not on aioev is a regression, unless exclusions.toml
lists it with one of the allowed reasons.

    python -m Tests.conformance                 # the current interpreter
    python Tests/conformance/run.py --all       # 3.11, 3.12 and 3.13
    python -m Tests.conformance --debug         # asyncio debug + -X dev
    python -m Tests.conformance -m test_events -k '*test_run_*'
    python -m Tests.conformance --later         # transport/server/TLS modules
    AIOEV_CONFORMANCE_LOOP=standin python -m Tests.conformance

The summary gives, per interpreter, the tests passed on the stdlib loop and
on aioev ("on-loop": in tests that made at least one aioev loop; many stdlib
tests use a mock or fake-time loop only), the excluded ones, regressions,
flaky ones (failed, then passed when rerun alone) and stale exclusions.
Logs and report.json go to --workdir (default: a new directory in /tmp).

Task mode (run after the module comparison; --tasks runs only it,
--no-tasks skips it) rebuilds the Task and Future test classes of
test_tasks, test_futures and test_eager_task_factory with aioev.Task and
aioev.Future (child.TASK_CLASSES) and compares each test with the same test
of the module's class for asyncio's C Task and C Future on the stdlib loop.
task_exclusions.toml lists the allowed differences.  Task mode is skipped,
with a message, while aioev has no Task.

    python -m Tests.conformance --tasks --all
    python -m Tests.conformance --tasks -m test_tasks -k '*.test_cancel*'

Exit status 0 when no interpreter has a regression (in either mode), 1
otherwise.
"""

import argparse
import collections
import concurrent.futures
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import suitegate  # noqa: E402  (Tests/suitegate.py: the shared machinery)
from suitegate import (  # noqa: E402,F401  (run.X is this module's API)
    PASSED, REPO, ModuleRun, describe_python, error_line, essential,
    find_exclusion, find_python)
del sys.path[0]

CHILD = os.path.join(HERE, 'child.py')
EXCLUSIONS = os.path.join(HERE, 'exclusions.toml')
PREFIX = 'test.test_asyncio.'

# The modules run against aioev.  Modules that no longer exist on an
# interpreter are skipped there.  The slow ones come first so that two
# workers finish together.
MODULES = (
    'test_tasks',
    'test_events',
    'test_ssl',
    'test_subprocess',
    'test_streams',
    'test_sslproto',
    'test_server',
    'test_sendfile',
    'test_buffered_proto',
    'test_sock_lowlevel',
    'test_runners',
    'test_locks',
    'test_queues',
    'test_base_events',
    'test_unix_events',
    'test_eager_task_factory',
    'test_taskgroups',
    'test_timeouts',
    'test_waitfor',
    'test_futures',
    'test_futures2',
    'test_threads',
    'test_pep492',
    'test_context',
    'test_staggered',
    'test_protocols',
    'test_transports',
)

# Modules of later issues, run with --later (none at the moment: transports,
# servers, TLS, UDP, pipes and subprocesses have all landed).
LATER_MODULES = ()

FEATURES = ('transports', 'servers', 'TLS', 'UDP', 'pipes', 'subprocesses')
REASON_RE = re.compile(
    r'^(tests selector internals|needs (%s) from a later issue)$'
    % '|'.join(FEATURES))

# Task mode: the modules whose Task and Future test classes are rebuilt
# with aioev.Task and aioev.Future (child.TASK_CLASSES), and the reasons
# task_exclusions.toml may give.
TASK_MODULES = ('test_tasks', 'test_futures', 'test_eager_task_factory')
TASK_EXCLUSIONS = os.path.join(HERE, 'task_exclusions.toml')
TASK_REASONS = (
    "tests asyncio's Python-only internals",
    "tests the _asyncio C module's internals",
)
TASK_REASON_RE = re.compile(
    '^(%s)$' % '|'.join(re.escape(r) for r in TASK_REASONS))
TASK_REASONS_HINT = 'use one of ' + ', '.join(
    repr(r) for r in TASK_REASONS)

DEFAULT_PYTHONS = suitegate.VERSIONS


# --------------------------------------------------------------- exclusions

class Exclusion(suitegate.Exclusion):
    """An exclusion whose patterns are relative to test.test_asyncio."""
    prefix = PREFIX


LOOP_REASONS_HINT = ('use "tests selector internals" or "needs <feature> '
                     'from a later issue" with a feature among '
                     + ', '.join(FEATURES))


def load_exclusions(path=EXCLUSIONS, reason_re=REASON_RE,
                    hint=LOOP_REASONS_HINT):
    """Read and check an exclusion file; raise ValueError if it is wrong."""
    return suitegate.load_exclusions(path, reason_re, hint, cls=Exclusion)


# ------------------------------------------------------------ interpreters

def module_exists(python, module):
    code = ('import importlib.util, sys; sys.exit(0 if importlib.util.'
            f'find_spec("test.test_asyncio.{module}") else 1)')
    return subprocess.run([python, '-c', code]).returncode == 0


# ----------------------------------------------------------------- running

def run_module(python, module, loop, workdir, *, test_timeout,
               module_timeout, only=None, match=(), tag='',
               debug=False, tasks=False, max_restarts=25):
    """Run one module in subprocesses until every test has an outcome
    (suitegate.run_child: a crash or a hang ends one test, not the run)."""
    env = dict(os.environ)
    env.pop('PYTHONASYNCIODEBUG', None)
    if debug:
        env['PYTHONASYNCIODEBUG'] = '1'
        env['PYTHONDEVMODE'] = '1'

    def make_cmd(out, skip, only_path):
        cmd = [python, CHILD, '--loop', loop, '--module', module,
               '--out', out, '--skip', skip,
               '--timeout', str(test_timeout)]
        if only_path:
            cmd += ['--only', only_path]
        if tasks:
            cmd.append('--tasks')
        for pattern in match:
            cmd += ['--match', pattern]
        return cmd

    return suitegate.run_child(
        make_cmd, module, loop, os.path.join(workdir, f'{module}.{loop}{tag}'),
        module_timeout=module_timeout, only=only, env=env,
        cwd=os.path.join(workdir, 'cwd'), max_restarts=max_restarts,
        crash_id=f'{PREFIX}{module}.<module>')


# -------------------------------------------------------------- comparison

class Report(suitegate.GateReport):
    """Conformance of one interpreter."""

    def __init__(self, python, version, full_version, loop):
        super().__init__(version)
        self.python = python
        self.full_version = full_version
        self.loop = loop
        self.modules = []           # (module, baseline run, loop run)
        self.baseline_passed = 0
        self.loop_passed = 0
        self.loop_passed_on_loop = 0  # ... in tests that made such a loop
        self.loops_created = 0
        self.seconds = 0.0

    @property
    def ok(self):
        return super().ok and self.loops_created > 0

    def to_json(self):
        return {
            'python': self.python, 'version': self.full_version,
            'loop': self.loop, 'ok': self.ok,
            'baseline_passed': self.baseline_passed,
            'loop_passed': self.loop_passed,
            'loop_passed_on_loop': self.loop_passed_on_loop,
            'excluded': self.excluded,
            'regressions': self.regressions,
            'flaky': self.flaky, 'stale_exclusions': self.stale,
            'loops_created': self.loops_created,
            'problems': self.problems,
            'modules': [
                {'module': m, 'baseline_passed': _count(b), 'loop_passed':
                 _count(a), 'loops': a.loops, 'seconds': round(
                     b.seconds + a.seconds, 1)}
                for m, b, a in self.modules],
        }


_count = suitegate.count_passed


def compare(report, exclusions, rerun):
    for module, base, other in report.modules:
        report.loops_created += other.loops
        report.baseline_passed += _count(base)
        report.loop_passed += _count(other)
        report.loop_passed_on_loop += _count(other, other.used_loop)
        for problem in base.problems:
            report.problems.append(f'{module} (baseline): {problem}')
        for problem in other.problems:
            report.problems.append(f'{module} ({other.loop}): {problem}')
    suitegate.compare_pairs(report, report.modules, exclusions, rerun)


# ------------------------------------------------------------------ driver

def check_interpreter(python, *, loop, modules=None, match=(), jobs=2,
                      test_timeout=45, module_timeout=900, workdir=None,
                      exclusions=None, debug=False, log=print):
    """Run the conformance comparison on one interpreter; return a Report."""
    version, full = describe_python(python)
    if exclusions is None:
        exclusions = load_exclusions()
    report = Report(python, version, full, loop)
    if workdir is None:
        workdir = tempfile.mkdtemp(prefix=f'aioev-conformance-{version}-')
    os.makedirs(workdir, exist_ok=True)
    selected = [m for m in (modules or MODULES) if module_exists(python, m)]
    start = time.monotonic()
    loop_type = probe(python, loop)
    log(f'[{version}] {python}: {len(selected)} modules, loop {loop!r} '
        f'({loop_type}), logs in {workdir}')

    runs = {}
    lock = threading.Lock()

    def job(module, kind):
        r = run_module(python, module, kind, workdir, match=match,
                       debug=debug, test_timeout=test_timeout,
                       module_timeout=module_timeout)
        with lock:
            runs[module, kind] = r
            log(f'[{version}] {module:<24} {kind:<8} {_count(r):4d} passed '
                f'of {len(r.results):4d} in {r.seconds:6.1f}s'
                + (f'  loops={r.loops}' if kind != 'stdlib' else '')
                + (f'  ({len(r.problems)} crash/timeout)'
                   if r.problems else ''))
        return r

    with concurrent.futures.ThreadPoolExecutor(max(1, jobs)) as pool:
        futures = [pool.submit(job, m, kind)
                   for m in selected for kind in ('stdlib', loop)]
        for f in futures:
            f.result()

    report.modules = [(m, runs[m, 'stdlib'], runs[m, loop]) for m in selected]

    def rerun(module, ids):
        r = run_module(python, module, loop, workdir, tag='.rerun',
                       debug=debug, test_timeout=test_timeout,
                       module_timeout=module_timeout, only=ids)
        return r.results

    compare(report, [e for e in exclusions], rerun)
    full_run = modules is None and not match
    for exc in exclusions:
        if full_run and exc.applies(version) and not any(
                exc.matches(t) for _, b, _ in report.modules
                for t in b.results):
            report.problems.append(
                f'exclusion {exc.pattern!r} matches no test on {version}')
    report.seconds = time.monotonic() - start
    with open(os.path.join(workdir, 'report.json'), 'w') as f:
        json.dump(report.to_json(), f, indent=1)
    return report


def probe(python, loop):
    """Check that the loop under test can be made; raise RuntimeError."""
    proc = subprocess.run([python, CHILD, '--loop', loop, '--probe'],
                          capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise RuntimeError(f'{python}: cannot make a {loop!r} loop:\n'
                           f'{proc.stdout}{proc.stderr}')
    return proc.stdout.strip()


# ---------------------------------------------------------------- task mode

class TaskReport(suitegate.GateReport):
    """Task mode on one interpreter: aioev's Task and Future against
    asyncio's C Task and C Future, test by test."""

    def __init__(self, python, version, full_version, loop):
        super().__init__(version)
        self.python = python
        self.full_version = full_version
        self.loop = loop
        self.skipped = None         # why task mode did not run, or None
        self.types = ''             # the Task and Future tested
        self.modules = []           # (module, baseline run, task run)
        self.classes = []           # (module, class, baseline class,
                                    #  compared, passed)
        self.compared = 0           # tests whose baseline test passed
        self.passed = 0             # ... and that passed with the types
        self.seconds = 0.0

    @property
    def ok(self):
        return self.skipped is not None or (
            super().ok and self.compared > 0)

    def to_json(self):
        return {
            'python': self.python, 'version': self.full_version,
            'loop': self.loop, 'ok': self.ok, 'skipped': self.skipped,
            'types': self.types, 'compared': self.compared,
            'passed': self.passed, 'excluded': self.excluded,
            'regressions': self.regressions, 'flaky': self.flaky,
            'stale_exclusions': self.stale, 'problems': self.problems,
            'classes': [
                {'module': m, 'class': c, 'baseline': b, 'compared': n,
                 'passed': p} for m, c, b, n, p in self.classes],
        }


def load_task_exclusions(path=TASK_EXCLUSIONS):
    return load_exclusions(path, TASK_REASON_RE, TASK_REASONS_HINT)


def probe_tasks(python, loop):
    """(True, 'Task, Future') or (False, why there is no Task to test)."""
    proc = subprocess.run([python, CHILD, '--loop', loop, '--probe',
                           '--tasks'], capture_output=True, text=True,
                          timeout=120)
    if proc.returncode == 3:
        return False, proc.stdout.strip()
    if proc.returncode != 0:
        raise RuntimeError(f'{python}: cannot load the {loop!r} Task:\n'
                           f'{proc.stdout}{proc.stderr}')
    return True, ', '.join(proc.stdout.split())


def baseline_id(test_id, pairs):
    """The id of the baseline test of a built class's test, or None."""
    head, cls, method = test_id.rsplit('.', 2)
    if cls not in pairs:
        return None
    return f'{head}.{pairs[cls]}.{method}'


def compare_tasks(report, exclusions, rerun, filtered=False):
    compared = collections.Counter()    # (module, class) -> tests
    passed = collections.Counter()
    candidates = collections.defaultdict(list)
    for module, base, other in report.modules:
        for problem in base.problems:
            report.problems.append(f'{module} (baseline): {problem}')
        for problem in other.problems:
            report.problems.append(f'{module} ({other.loop} Task): '
                                   f'{problem}')
        ids = list(other.loaded) + sorted(set(other.results)
                                          - set(other.loaded))
        for test_id in ids:
            base_id = baseline_id(test_id, other.pairs)
            if base_id is None:
                continue        # a crash outside a test: in problems
            if base.results.get(base_id, ('missing',))[0] not in PASSED:
                continue
            key = (module, test_id.rsplit('.', 2)[-2])
            compared[key] += 1
            got, detail = other.results.get(
                test_id, ('missing', 'the test did not run'))
            exc = find_exclusion(exclusions, report.version, test_id)
            if exc is not None:
                exc.used = True
                report.excluded.append((test_id, exc.reason))
                if got in PASSED:
                    report.stale.append(test_id)
            elif got in PASSED:
                passed[key] += 1
            else:
                candidates[module].append((test_id, got, detail))
    for module, items in candidates.items():
        again = rerun(module, {t for t, got, _ in items if got != 'timeout'})
        for test_id, got, detail in items:
            if again.get(test_id, ('missing',))[0] in PASSED:
                report.flaky.append(test_id)
                passed[module, test_id.rsplit('.', 2)[-2]] += 1
            else:
                report.regressions.append((test_id, got, detail))
    for module, base, other in report.modules:
        for cls, old in other.pairs.items():
            n = compared[module, cls]
            report.classes.append((module, cls, old, n, passed[module, cls]))
            if other.completed and not n and not filtered:
                report.problems.append(f'{module}.{cls}: no test to compare '
                                       f'with {old}')
    report.compared = sum(compared.values())
    report.passed = sum(passed.values())


def check_tasks(python, *, loop, modules=None, match=(), jobs=2,
                test_timeout=45, module_timeout=900, workdir=None,
                exclusions=None, debug=False, log=print):
    """Task mode on one interpreter; return a TaskReport.

    The module's C Task/C Future classes run on the stdlib loop (the
    baseline), classes rebuilt from the same bases with the loop kind's
    Task and Future (aioev.Task, aioev.Future) run with that kind's loops.
    Skipped (report.skipped says why) when the kind has no Task yet.
    """
    version, full = describe_python(python)
    if exclusions is None:
        exclusions = load_task_exclusions()
    report = TaskReport(python, version, full, loop)
    start = time.monotonic()
    found, what = probe_tasks(python, loop)
    if not found:
        report.skipped = f'task mode skipped: {what}'
        log(f'[{version}] {report.skipped}')
        return report
    report.types = what
    if workdir is None:
        workdir = tempfile.mkdtemp(prefix=f'aioev-tasks-{version}-')
    os.makedirs(workdir, exist_ok=True)
    selected = [m for m in TASK_MODULES
                if (modules is None or m in modules)
                and module_exists(python, m)]
    log(f'[{version}] task mode: {what} on {loop!r} loops against '
        f'asyncio\'s C Task and Future, logs in {workdir}')

    runs = {}
    lock = threading.Lock()

    def job(module, kind):
        r = run_module(python, module, kind, workdir, match=match,
                       debug=debug, tasks=True, tag='.tasks',
                       test_timeout=test_timeout,
                       module_timeout=module_timeout)
        with lock:
            runs[module, kind] = r
            label = 'C Task' if kind == 'stdlib' else f'{kind} Task'
            log(f'[{version}] {module:<24} {label:<12} {_count(r):4d} '
                f'passed of {len(r.results):4d} in {r.seconds:6.1f}s'
                + (f'  ({len(r.problems)} crash/timeout)'
                   if r.problems else ''))
        return r

    with concurrent.futures.ThreadPoolExecutor(max(1, jobs)) as pool:
        futures = [pool.submit(job, m, kind)
                   for m in selected for kind in ('stdlib', loop)]
        for f in futures:
            f.result()
    report.modules = [(m, runs[m, 'stdlib'], runs[m, loop])
                      for m in selected]

    def rerun(module, ids):
        return run_module(python, module, loop, workdir, tag='.tasks.rerun',
                          debug=debug, tasks=True, only=ids,
                          test_timeout=test_timeout,
                          module_timeout=module_timeout).results

    compare_tasks(report, exclusions, rerun, filtered=bool(match))
    if modules is None and not match:
        for exc in exclusions:
            if exc.applies(version) and not any(
                    exc.matches(t) for _, _, a in report.modules
                    for t in a.loaded):
                report.problems.append(f'task exclusion {exc.pattern!r} '
                                       f'matches no test on {version}')
    report.seconds = time.monotonic() - start
    with open(os.path.join(workdir, 'report-tasks.json'), 'w') as f:
        json.dump(report.to_json(), f, indent=1)
    return report


def format_task_summary(report):
    out = []
    w = out.append
    if report.skipped:
        w(f'== CPython {report.full_version} ({report.python}), '
          f'{report.skipped}')
        return '\n'.join(out)
    w(f'== CPython {report.full_version} ({report.python}), task mode: '
      f'{report.types} on {report.loop!r} loops, {report.seconds:.0f}s')
    for module, cls, old, n, passed in report.classes:
        w(f'   {passed:4d} of {n:4d}  {module}.{cls} (baseline {old})')
    w('   ("of": tests of the baseline class that pass with the C Task/C '
      'Future on the stdlib loop)')
    w(f'   compared: {report.compared}   passed: {report.passed}   '
      f'excluded: {len(report.excluded)}   regressions: '
      f'{len(report.regressions)}   flaky: {len(report.flaky)}')
    for test_id, got, detail in report.regressions:
        w(f'   REGRESSION {test_id}: {got}: {error_line(detail)}')
    for test_id in report.flaky:
        w(f'   flaky (failed, then passed alone): {test_id}')
    for test_id in report.stale:
        w(f'   warning: excluded but passes: {test_id}')
    for problem in report.problems:
        w(f'   note: {problem.splitlines()[0]}')
    return '\n'.join(out)


def format_summary(report):
    out = []
    w = out.append
    w(f'== CPython {report.full_version} ({report.python}), '
      f'loop {report.loop!r}, {report.seconds:.0f}s')
    w(f'   {"module":<24} {"stdlib":>7} {report.loop:>7} {"on-loop":>7} '
      f'{"loops":>6}')
    for m, b, a in report.modules:
        w(f'   {m:<24} {_count(b):7d} {_count(a):7d} '
          f'{_count(a, a.used_loop):7d} {a.loops:6d}')
    w(f'   ("on-loop": passed in tests that made at least one '
      f'{report.loop} loop)')
    w(f'   passed on stdlib: {report.baseline_passed}   passed on '
      f'{report.loop}: {report.loop_passed} ({report.loop_passed_on_loop} '
      f'on-loop)   excluded: '
      f'{len(report.excluded)}   regressions: {len(report.regressions)}'
      f'   flaky: {len(report.flaky)}   {report.loop} loops created: '
      f'{report.loops_created}')
    if report.loops_created == 0:
        w(f'   ERROR: no {report.loop} loop was created: the policy patch '
          'does not work')
    for m, b, a in report.modules:
        if a.loops == 0 and a.completed:
            w(f'   note: {m} made no {report.loop} loop')
    for test_id, got, detail in report.regressions:
        w(f'   REGRESSION {test_id}: {got}: {error_line(detail)}')
    for test_id in report.flaky:
        w(f'   flaky (failed, then passed alone): {test_id}')
    for test_id in report.stale:
        w(f'   warning: excluded but passes: {test_id}')
    for problem in report.problems:
        w(f'   note: {problem.splitlines()[0]}')
    return '\n'.join(out)


def _markdown_regressions(out, regressions):
    groups = collections.defaultdict(list)
    for test_id, got, detail in regressions:
        last = error_line(detail) or got
        groups[last].append((test_id, got, detail))
    for last, items in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        out.append(f'### {last}  ({len(items)} tests)')
        for test_id, got, _ in items:
            out.append(f'- `{test_id[len(PREFIX):]}` ({got})')
        out.append('')
        out.append('```')
        out.append(essential(items[0][2], 12))
        out.append('```')
        out.append('')


def format_markdown(reports):
    """Regressions grouped by their final exception line."""
    out = ['# aioev stdlib conformance: regressions', '']
    for report in reports:
        if isinstance(report, TaskReport):
            if report.skipped:
                out += [f'## CPython {report.full_version}: '
                        f'{report.skipped}', '']
                continue
            out.append(f'## CPython {report.full_version}, task mode '
                       f'({report.types}): {report.passed} of '
                       f'{report.compared} passed, '
                       f'{len(report.excluded)} excluded, '
                       f'{len(report.regressions)} regressions, '
                       f'{len(report.flaky)} flaky')
        else:
            out.append(f'## CPython {report.full_version}: '
                       f'{report.loop_passed} passed on {report.loop}, '
                       f'{report.baseline_passed} on stdlib, '
                       f'{len(report.excluded)} excluded, '
                       f'{len(report.regressions)} regressions, '
                       f'{len(report.flaky)} flaky')
        out.append('')
        _markdown_regressions(out, report.regressions)
        if report.flaky:
            out.append('Flaky (failed once, passed alone): '
                       + ', '.join(f'`{t[len(PREFIX):]}`'
                                   for t in report.flaky))
            out.append('')
    return '\n'.join(out) + '\n'


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog='python -m Tests.conformance',
        description='Run test.test_asyncio on the stdlib loop and on aioev '
                    'and report tests that pass only on the stdlib loop.')
    parser.add_argument('--python', action='append', default=[],
                        help='interpreter to test (repeatable; a path or '
                             'X.Y); default: this one')
    parser.add_argument('--all', action='store_true',
                        help='test ' + ', '.join(DEFAULT_PYTHONS))
    parser.add_argument('--loop', default=os.environ.get(
        'AIOEV_CONFORMANCE_LOOP', 'aioev'),
        choices=('aioev', 'standin', 'broken'),
        help='loop under test (default: $AIOEV_CONFORMANCE_LOOP or aioev); '
             '"standin" is a trivial SelectorEventLoop subclass (and, in '
             'task mode, asyncio\'s C Task), "broken" a loop that drops '
             'call_soon\'s context (and a Task that drops context=)')
    parser.add_argument('-m', '--module', action='append', default=[],
                        help='module of test.test_asyncio (repeatable)')
    parser.add_argument('--later', action='store_true',
                        help='run the modules of later issues instead: '
                             + ', '.join(LATER_MODULES))
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument('--tasks', action='store_true',
                      help='task mode only: the Task and Future test '
                           'classes of ' + ', '.join(TASK_MODULES)
                           + ' rebuilt with aioev.Task and aioev.Future, '
                           'against asyncio\'s C Task and C Future')
    mode.add_argument('--no-tasks', action='store_true',
                      help='skip task mode')
    parser.add_argument('-k', '--match', action='append', default=[],
                        help='only test ids matching this fnmatch pattern, '
                             'e.g. "*.test_events.*.test_run_*" '
                             '(repeatable)')
    parser.add_argument('--debug', action='store_true',
                        help='run both passes in asyncio debug mode and '
                             'Python development mode')
    parser.add_argument('-j', '--jobs', type=int, default=2)
    parser.add_argument('--test-timeout', type=float, default=45)
    parser.add_argument('--module-timeout', type=float, default=900)
    parser.add_argument('--workdir', help='where logs go (default: a new '
                        'directory in /tmp)')
    parser.add_argument('--markdown', help='write the regressions, grouped '
                        'by error, to this file')
    args = parser.parse_args(argv)

    pythons = list(args.python)
    if args.all:
        pythons += DEFAULT_PYTHONS
    if not pythons:
        pythons = [sys.executable]
    pythons = [p if os.sep in p else find_python(p) for p in pythons]
    exclusions = load_exclusions()
    task_exclusions = load_task_exclusions()
    modules = args.module or (LATER_MODULES if args.later else None)
    task_modules = None
    if modules is not None:
        task_modules = [m for m in modules if m in TASK_MODULES]
        if args.tasks and not task_modules:
            parser.error('--tasks: no module of task mode among -m ('
                         + ', '.join(TASK_MODULES) + ')')

    reports = []
    for python in pythons:
        workdir = None
        if args.workdir:
            workdir = os.path.join(args.workdir, describe_python(python)[0])
        if not args.tasks:
            report = check_interpreter(
                python, loop=args.loop, modules=modules,
                match=args.match, debug=args.debug,
                jobs=args.jobs, test_timeout=args.test_timeout,
                module_timeout=args.module_timeout, workdir=workdir,
                exclusions=[Exclusion(e.pattern, e.versions, e.reason)
                            for e in exclusions])
            reports.append(report)
            print(format_summary(report), flush=True)
        if not args.no_tasks and task_modules != []:
            report = check_tasks(
                python, loop=args.loop, modules=task_modules,
                match=args.match, debug=args.debug,
                jobs=args.jobs, test_timeout=args.test_timeout,
                module_timeout=args.module_timeout,
                workdir=workdir and os.path.join(workdir, 'tasks'),
                exclusions=[Exclusion(e.pattern, e.versions, e.reason)
                            for e in task_exclusions])
            reports.append(report)
            print(format_task_summary(report), flush=True)
        if args.markdown:
            with open(args.markdown, 'w') as f:
                f.write(format_markdown(reports))
    print()
    for r in reports:
        if isinstance(r, TaskReport):
            if r.skipped:
                print(f'CPython {r.full_version}: {r.skipped}')
                continue
            print(f'CPython {r.full_version}, task mode ({r.types}): '
                  f'{r.passed} of {r.compared} passed, {len(r.excluded)} '
                  f'excluded, {len(r.regressions)} regressions -> '
                  f'{"OK" if r.ok else "FAIL"}')
            continue
        print(f'CPython {r.full_version}: {r.loop_passed} passed on '
              f'{r.loop} ({r.loop_passed_on_loop} in tests that made a '
              f'{r.loop} loop), {r.baseline_passed} on stdlib, '
              f'{len(r.excluded)} excluded, {len(r.regressions)} '
              f'regressions -> {"OK" if r.ok else "FAIL"}')
    return 0 if all(r.ok for r in reports) else 1


if __name__ == '__main__':
    sys.exit(main())
