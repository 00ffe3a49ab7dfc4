"""A test suite run on asyncio's loop and on aioev, compared test by test.

The machinery shared by the gates that take another project's test suite
as the oracle: CPython's test.test_asyncio (Tests/conformance), Tornado's
and anyio's suites (Tests/oracles).  A gate runs each part of a suite
("module": a test module, a group of them, a pytest file) in child
processes, once on the baseline (asyncio's own loop) and once per aioev
configuration.  A test that passes on the baseline but not on aioev is a
regression unless a list names it:

- an exclusion file lists the tests that are not expected to pass on any
  aioev, each group with a reason the gate allows (tests of asyncio's
  internals, ...); an excluded test that passes is reported as stale;
- a known-failure file lists the tests that fail because of an aioev bug
  that is tracked in an issue; a known failure that passes fails the gate,
  so that the list only shrinks as the bugs are fixed.

Children talk to the parent through a file of JSON lines, one record per
event, flushed one by one: ``loaded`` (the ids the child will run),
``start`` and ``end`` of each test (``end`` has ``outcome``: pass, skip,
xfail, xpass, fail, error, logged, crash or timeout, and ``detail``), and
``done`` when the child finished.  A child that crashes or hangs (a
faulthandler watchdog ends it) is restarted without the tests that have an
outcome; the test it was running gets ``crash`` or ``timeout``.

Children import this module too, for the loop factories (make_factory,
patch_default_policy) and the unittest result that writes the records
(JsonResult).  It depends on the standard library only.
"""

import asyncio
import collections
import faulthandler
import fnmatch
import glob
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import time
import traceback
import unittest

try:
    import tomllib
except ImportError:  # pragma: no cover - Python < 3.11 is not supported
    tomllib = None

TESTS = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(TESTS)
VERSIONS = ('3.11', '3.12', '3.13')
PASSED = ('pass',)


# ------------------------------------------------------ exclusions, known

class Exclusion:
    """A test id pattern (an exact id, else fnmatch-style) with a reason.

    prefix is stripped from a test id before it is matched, so patterns can
    be written relative to it.  versions and modes (None: all) say where
    the entry applies; a mode names one configuration of aioev under test
    (e.g. "asyncio-task" or "native-task").
    """

    prefix = ''

    def __init__(self, pattern, versions, reason, modes=None):
        self.pattern = pattern
        self.versions = versions
        self.reason = reason
        self.modes = modes
        self.used = False
        # Not run at all (deselect = true in the file): for tests whose
        # failure harms the tests after them (a leaked socket's warning).
        self.deselect = False

    def applies(self, version, mode=None):
        return ((self.versions is None or version in self.versions)
                and (self.modes is None or mode is None
                     or mode in self.modes))

    def matches(self, test_id):
        short = test_id[len(self.prefix):] \
            if self.prefix and test_id.startswith(self.prefix) else test_id
        return id_matches(short, self.pattern)


class KnownFailure(Exclusion):
    """A test that fails on aioev because of a bug tracked in an issue."""

    def __init__(self, pattern, versions, reason, modes=None, issue=None):
        super().__init__(pattern, versions, reason, modes)
        self.issue = issue


def _load_toml(path):
    if not os.path.exists(path):
        return {}
    with open(path, 'rb') as f:
        return tomllib.load(f)


def _group_scope(path, i, group, allowed_modes):
    versions = group.get('versions')
    if versions is not None:
        versions = frozenset(str(v) for v in versions)
        bad = versions - set(VERSIONS)
        if bad:
            raise ValueError(f'{path}: group {i}: unknown versions {bad}')
    modes = group.get('modes')
    if modes is not None:
        modes = frozenset(modes)
        bad = modes - set(allowed_modes or ())
        if bad:
            raise ValueError(f'{path}: group {i}: unknown modes {bad}; use '
                             f'{sorted(allowed_modes or ())}')
    tests = group.get('tests', ())
    if not tests:
        raise ValueError(f'{path}: group {i}: no tests')
    return versions, modes, tests


def _section(path, section):
    data = _load_toml(path)
    for name in section.split('.') if section else ():
        data = data.get(name, {})
    return data


def load_exclusions(path, reason_re, hint, *, cls=Exclusion, modes=None,
                    section=None):
    """Read and check the [[exclude]] groups of a file (a missing file has
    none), or of one of its tables ([[SECTION.exclude]]); raise ValueError
    if one is wrong."""
    data = _section(path, section)
    exclusions = []
    for i, group in enumerate(data.get('exclude', ())):
        reason = group.get('reason', '')
        if not reason_re.match(reason):
            raise ValueError(
                f'{path}: group {i}: reason {reason!r} is not allowed; '
                f'{hint}')
        versions, group_modes, tests = _group_scope(path, i, group, modes)
        for pattern in tests:
            exc = cls(pattern, versions, reason, group_modes)
            exc.deselect = bool(group.get('deselect', False))
            exclusions.append(exc)
    return exclusions


def load_known_failures(path, *, cls=KnownFailure, modes=None,
                        section=None):
    """Read and check the [[known]] groups of a file (or [[SECTION.known]]):
    each has the issue that tracks the bug (issue = N), its cause (cause =
    "...": what is wrong, in which aioev function) and tests, optionally
    versions and modes."""
    data = _section(path, section)
    known = []
    for i, group in enumerate(data.get('known', ())):
        issue = group.get('issue')
        if not isinstance(issue, int) or isinstance(issue, bool):
            raise ValueError(f'{path}: group {i}: a known failure needs '
                             f'the issue that tracks it (issue = N)')
        cause = group.get('cause', '').strip()
        if not cause:
            raise ValueError(f'{path}: group {i}: a known failure needs its '
                             f'cause (cause = "...")')
        versions, group_modes, tests = _group_scope(path, i, group, modes)
        for pattern in tests:
            known.append(cls(pattern, versions, cause, group_modes, issue))
    return known


def find_exclusion(exclusions, version, test_id, mode=None):
    for exc in exclusions:
        if exc.applies(version, mode) and exc.matches(test_id):
            return exc
    return None


def unmatched(entries, version, ids, mode=None):
    """The entries that apply here but match none of ids."""
    ids = list(ids)
    return [e for e in entries if e.applies(version, mode)
            and not any(e.matches(t) for t in ids)]


# ------------------------------------------------------------ interpreters

def describe_python(python):
    """(major.minor, full version) of an interpreter."""
    out = subprocess.run(
        [python, '-c', 'import sys, platform; '
         'print("%d.%d" % sys.version_info[:2], platform.python_version())'],
        check=True, capture_output=True, text=True).stdout.split()
    return out[0], out[1]


def find_python(version):
    """The interpreter for 'X.Y': the project's venv, else pyenv, else PATH."""
    candidates = [os.path.join(REPO, '.venv', version, 'bin', 'python')]
    pyenv = os.path.expanduser('~/.pyenv/versions')
    if os.path.isdir(pyenv):
        for name in sorted(os.listdir(pyenv), reverse=True):
            if name == version or name.startswith(version + '.'):
                candidates.append(os.path.join(pyenv, name, 'bin', 'python'))
    candidates.append(shutil.which('python' + version) or '')
    for c in candidates:
        if c and os.access(c, os.X_OK):
            return c
    raise FileNotFoundError(f'no Python {version} found')


# ----------------------------------------------------------------- running

class ModuleRun:
    """The outcome of one module with one loop kind."""

    def __init__(self, module, loop):
        self.module = module
        self.loop = loop
        self.results = {}       # test id -> (outcome, detail)
        self.used_loop = set()  # ids of tests that made a loop under test
        self.loops = 0
        self.problems = []      # crashes and timeouts, as text
        self.seconds = 0.0
        self.completed = False
        self.loaded = []        # ids the first child loaded
        self.pairs = {}         # conformance task mode: class -> baseline


def parse_records(path):
    records = []
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                try:
                    records.append(json.loads(line))
                except ValueError:
                    pass        # a line cut short by a crash
    return records


def tail(path, limit=4000):
    """The end of a child's stderr log, from its last attempt."""
    try:
        with open(path, errors='replace') as f:
            text = f.read()
    except OSError:
        return ''
    marker = text.rfind('--- attempt')
    if marker >= 0:
        text = text[text.find('\n', marker) + 1:]
    return text[-limit:]


def run_child(make_cmd, module, loop, base, *, module_timeout, only=None,
              env=None, cwd=None, max_restarts=25, crash_id=None):
    """Run one module in children until every test has an outcome.

    make_cmd(out, skip, only) gives the child's command line: it writes
    its records to the file out, leaves out the ids listed in the file
    skip, and runs only those in the file only (None: all).  base is the
    path prefix of the run's files (base.jsonl, base.stderr, ...).
    A test that crashes the child or hangs gets the outcome 'crash' or
    'timeout'; the child is then restarted without the tests that already
    have an outcome.  crash_id names a crash outside any test.
    """
    run = ModuleRun(module, loop)
    out_path = base + '.jsonl'
    err_path = base + '.stderr'
    skip_path = base + '.skip'
    only_path = None
    for p in (out_path, err_path):
        if os.path.exists(p):
            os.remove(p)
    if only is not None:
        only_path = base + '.only'
        with open(only_path, 'w') as f:
            f.write('\n'.join(sorted(only)) + '\n')
    if cwd is None:
        cwd = os.path.join(os.path.dirname(base), 'cwd')
    os.makedirs(cwd, exist_ok=True)
    start = time.monotonic()
    deadline = start + module_timeout
    for attempt in range(max_restarts + 1):
        with open(skip_path, 'w') as f:
            f.write('\n'.join(sorted(run.results)) + '\n')
        seen = len(parse_records(out_path))
        cmd = make_cmd(out_path, skip_path, only_path)
        killed = False
        with open(err_path, 'a') as err:
            err.write(f'--- attempt {attempt}: {" ".join(cmd)}\n')
            err.flush()
            proc = subprocess.Popen(cmd, stdout=err, stderr=err, cwd=cwd,
                                    env=env, stdin=subprocess.DEVNULL,
                                    start_new_session=True)
            try:
                rc = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                rc = proc.wait()
                killed = True
        records = parse_records(out_path)[seen:]
        running = None
        done = False
        for r in records:
            if r['event'] == 'loaded' and attempt == 0:
                run.loaded = r['ids']
                run.pairs = r.get('pairs') or {}
            elif r['event'] == 'start':
                running = r['id']
            elif r['event'] == 'end':
                run.results[r['id']] = (r['outcome'], r.get('detail'))
                if r.get('loops'):
                    run.used_loop.add(r['id'])
                if r['id'] == running:
                    running = None
            elif r['event'] == 'done':
                run.loops += r['loops']
                done = True
                if not r.get('policy_factory_ok', True):
                    run.problems.append('a test replaced the patched '
                                        'default policy factory')
        if done:
            run.completed = True
            break
        # The child died: count the loops its finished tests made.
        run.loops += sum(r.get('loops', 0) for r in records
                         if r['event'] == 'end')
        text = tail(err_path)
        if killed:
            what = 'timeout'
            run.problems.append(f'module run killed after {module_timeout}s'
                                f' (running {running})')
        elif 'Timeout (' in text:
            what = 'timeout'
        else:
            what = 'crash'
        if running is None:
            # Died outside a test: at import, or in a module fixture.
            run.problems.append(f'child exited with {rc} outside a test:\n'
                                f'{text}')
            run.results.setdefault(crash_id or f'{module}.<module>',
                                   ('crash', text))
            break
        run.results[running] = (what, f'child exited with {rc}:\n{text}')
        run.problems.append(f'{what}: {running} (exit status {rc})')
        if killed:
            break
    run.seconds = time.monotonic() - start
    return run


def count_passed(run, among=None):
    return sum(1 for t, (o, _) in run.results.items()
               if o in PASSED and (among is None or t in among))


# -------------------------------------------------------------- comparison

class GateReport:
    """One comparison of a loop under test with the baseline."""

    def __init__(self, version, mode=None):
        self.version = version
        self.mode = mode
        self.excluded = []          # (test id, reason)
        self.regressions = []       # (test id, outcome, detail)
        self.flaky = []             # test ids that passed on a rerun
        self.stale = []             # excluded, yet passed on the loop
        self.known = []             # (test id, outcome, detail, entry)
        self.fixed = []             # (test id, entry): known, yet passed
        self.problems = []

    @property
    def ok(self):
        return not self.regressions and not self.fixed


def compare_pairs(report, pairs, exclusions, rerun, *, known=(), key=None):
    """Compare (module, baseline run, loop run) triples test by test.

    Every test that passed on the baseline must pass on the loop: else it
    is excluded, a known failure, flaky (it passed when rerun alone:
    rerun(module, ids) gives the new results) or a regression.  key maps
    a test id of the loop run to the id of the same test in the baseline
    run (default: the same id).
    """
    candidates = collections.defaultdict(list)
    version, mode = report.version, report.mode
    for module, base, other in pairs:
        on_loop = {}
        for test_id in other.results:
            on_loop[key(test_id) if key else test_id] = test_id
        for base_id, (outcome, _) in sorted(base.results.items()):
            if outcome not in PASSED:
                continue
            test_id = on_loop.get(base_id, base_id)
            got, detail = other.results.get(
                test_id, ('missing', 'the test did not run on the loop'))
            exc = find_exclusion(exclusions, version, test_id, mode)
            if exc is not None:
                exc.used = True
                report.excluded.append((test_id, exc.reason))
                if got in PASSED:
                    report.stale.append(test_id)
                continue
            entry = find_exclusion(known, version, test_id, mode)
            if entry is not None:
                entry.used = True
                if got in PASSED:
                    report.fixed.append((test_id, entry))
                else:
                    report.known.append((test_id, got, detail, entry))
            elif got not in PASSED:
                candidates[module].append((test_id, got, detail))
    # A failure seen under load may be a timing flake: rerun it alone once
    # (not a timeout: that would cost the whole timeout again).
    for module, items in candidates.items():
        again = rerun(module, {t for t, got, _ in items if got != 'timeout'})
        for test_id, got, detail in items:
            if again.get(test_id, ('missing',))[0] in PASSED:
                report.flaky.append(test_id)
            else:
                report.regressions.append((test_id, got, detail))


def error_line(detail):
    """The exception line of a traceback ('ValueError: bad thing')."""
    if not detail:
        return ''
    lines = detail.rstrip().splitlines()
    if lines[0].startswith('child exited'):
        # A crash or a timeout: the fatal error line, then where the main
        # thread was (faulthandler prints it last, innermost frame first).
        fatal = [l for l in lines if l.startswith(('Fatal Python error',
                                                   'Timeout ('))]
        where = ''
        for i, line in enumerate(lines):
            if line.startswith(('Thread 0x', 'Current thread 0x')):
                where = lines[i + 1].strip() if i + 1 < len(lines) else ''
        return ' '.join([lines[0].rstrip(':')] + fatal[:1] + [where])[:300]
    # pytest's report: its first "E   " line says what failed.
    for line in lines:
        if line.startswith('E   '):
            return line[1:].strip()[:200]
    start = 0
    for i, line in enumerate(lines):
        if line.startswith('Traceback (most recent call last)'):
            start = i + 1
    for line in lines[start:]:
        if line and not line[0].isspace():
            return line[:200]
    return lines[-1].strip()[:200]


def essential(detail, lines=8):
    """The last lines of a traceback: where it failed and why."""
    if not detail:
        return ''
    text = [l for l in detail.rstrip().splitlines() if l.strip()]
    return '\n'.join(text[-lines:])


def format_gate_lines(report, w, strip=''):
    """The regression, flaky, stale and known-failure lines of a report."""
    def short(test_id):
        return test_id[len(strip):] if strip and test_id.startswith(strip) \
            else test_id
    for test_id, got, detail in report.regressions:
        w(f'   REGRESSION {short(test_id)}: {got}: {error_line(detail)}')
    for test_id, entry in report.fixed:
        w(f'   FIXED (a known failure of issue {entry.issue} passes: remove '
          f'it from the list) {short(test_id)}')
    for test_id in report.flaky:
        w(f'   flaky (failed, then passed alone): {short(test_id)}')
    for test_id in report.stale:
        w(f'   warning: excluded but passes: {short(test_id)}')
    for problem in report.problems:
        w(f'   note: {problem.splitlines()[0]}')


def check_report(test, report, *, stale_warning, regressions_header,
                 known_file=None):
    """Warn about stale exclusions; fail a unittest test on regressions
    and on known failures that pass, listing them."""
    import warnings
    for test_id in report.stale:
        warnings.warn(stale_warning.format(test_id=test_id))
    lines = []
    if report.regressions:
        lines.append(f'{len(report.regressions)} {regressions_header}:')
        for test_id, got, detail in report.regressions:
            lines.append(f'{test_id}: {got}: {error_line(detail)}')
    if report.fixed:
        lines.append(f'{len(report.fixed)} known failures now pass: remove '
                     f'them from {known_file}:')
        for test_id, entry in report.fixed:
            lines.append(f'{test_id} (issue {entry.issue})')
    if lines:
        test.fail('\n'.join(lines))


# ------------------------------------------------------ children: the loops

LOOP_KINDS = ('stdlib', 'aioev', 'standin', 'broken')

# Loops made by make_factory's factories in this process.
created_loops = 0


def import_aioev():
    """Import aioev, preferring an in-place build for this interpreter."""
    lib = os.path.join(REPO, 'Lib')
    suffix = sysconfig.get_config_var('EXT_SUFFIX')
    if glob.glob(os.path.join(lib, 'aioev', '_aioev' + suffix)) \
            and lib not in sys.path:
        sys.path.insert(0, lib)
    import aioev
    return aioev


def make_factory(kind):
    """Return a zero-argument callable that makes a loop of the given kind.

    aioev's loops take their Task and Future from AIOEV_NATIVE_TASK (the
    gate sets it per mode).
    """
    if kind == 'stdlib':
        base = asyncio.SelectorEventLoop
    elif kind == 'aioev':
        base = import_aioev().new_event_loop
    elif kind == 'standin':
        # Stand-in for aioev: a trivial subclass, so every test should give
        # the same outcome as with the stdlib loop.
        class StandinLoop(asyncio.SelectorEventLoop):
            pass
        base = StandinLoop
    elif kind == 'broken':
        # A deliberately wrong loop that runs callbacks in the caller's
        # context instead of the one given: proves that the runner reports
        # regressions.
        class BrokenLoop(asyncio.SelectorEventLoop):
            def call_soon(self, callback, *args, context=None):
                return super().call_soon(callback, *args)
        base = BrokenLoop
    else:
        raise ValueError(kind)

    def factory():
        global created_loops
        loop = base()
        created_loops += 1
        return loop
    return factory


def patch_default_policy(factory):
    # asyncio.events._init_event_loop_policy() does
    # `from . import DefaultEventLoopPolicy` on 3.11-3.13, and
    # BaseDefaultEventLoopPolicy.new_event_loop() returns
    # self._loop_factory(); patching the class attribute therefore reaches
    # every policy instance, including those made after
    # set_event_loop_policy(None) and those of subclasses.
    policy_class = asyncio.DefaultEventLoopPolicy
    policy_class._loop_factory = staticmethod(factory)
    asyncio.set_event_loop_policy(None)


def policy_factory_ok(factory):
    return asyncio.DefaultEventLoopPolicy._loop_factory is factory


# --------------------------------------------- children: unittest results

def write_record(out, **record):
    out.write(json.dumps(record) + '\n')
    out.flush()


def arm_watchdog(timeout):
    faulthandler.dump_traceback_later(timeout, exit=True)


class JsonResult(unittest.TestResult):
    """Writes one JSON line per test event and keeps a watchdog armed.

    check(test) is called after each test and may return (outcome, detail)
    to replace a pass (e.g. ('logged', ...) for a test that logged errors).
    """

    RANK = {'pass': 0, 'skip': 0, 'xfail': 0, 'xpass': 2,
            'logged': 2, 'fail': 3, 'error': 4}

    def __init__(self, out, timeout, check=None):
        super().__init__()
        self.out = out
        self.timeout = timeout
        self.check = check
        self.current = {}
        self.started = {}
        self.loops_at_start = 0
        self.fault = os.environ.get('AIOEV_CONFORMANCE_FAULT', '')
        self.arm()

    def arm(self):
        arm_watchdog(self.timeout)

    def emit(self, **record):
        write_record(self.out, **record)

    def _set(self, test, outcome, err=None, reason=None, detail=None):
        tid = test.id()
        if detail is None:
            detail = reason
        if err is not None:
            detail = ''.join(traceback.format_exception(*err))[-6000:]
        old = self.current.get(tid)
        if old is None or self.RANK[outcome] > self.RANK[old[0]]:
            self.current[tid] = (outcome, detail)
        if tid not in self.started:
            # Errors from setUpModule/tearDownClass and friends come
            # without startTest.
            self.emit(event='end', id=tid, outcome=outcome, detail=detail,
                      time=0.0)
            self.current.pop(tid, None)

    def startTest(self, test):
        super().startTest(test)
        self.arm()
        self.started[test.id()] = time.monotonic()
        self.loops_at_start = created_loops
        self.emit(event='start', id=test.id())
        self.inject_fault(test.id())

    def inject_fault(self, tid):
        # Lets the runner's own tests prove that a crashing or hanging test
        # is reported and does not stop the rest of the module.
        kind, _, pattern = self.fault.partition(':')
        if pattern and fnmatch.fnmatchcase(tid, pattern):
            if kind == 'crash':
                os.abort()
            elif kind == 'hang':
                while True:
                    time.sleep(1)

    def stopTest(self, test):
        super().stopTest(test)
        tid = test.id()
        if tid not in self.started:
            # A test skipped by a decorator: 3.12's TestCase.run() calls
            # addSkip() and stopTest() without startTest() (_set wrote it).
            return
        if self.check is not None:
            verdict = self.check(test)
            if verdict is not None:
                self._set(test, verdict[0], detail=verdict[1])
        outcome, detail = self.current.pop(tid, ('pass', None))
        elapsed = time.monotonic() - self.started.pop(tid)
        self.emit(event='end', id=tid, outcome=outcome, detail=detail,
                  time=round(elapsed, 3),
                  loops=created_loops - self.loops_at_start)
        self.arm()

    def addSuccess(self, test):
        super().addSuccess(test)
        self._set(test, 'pass')

    def addError(self, test, err):
        super().addError(test, err)
        self._set(test, 'error', err)

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._set(test, 'fail', err)

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self._set(test, 'skip', reason=reason)

    def addExpectedFailure(self, test, err):
        super().addExpectedFailure(test, err)
        self._set(test, 'xfail')

    def addUnexpectedSuccess(self, test):
        super().addUnexpectedSuccess(test)
        self._set(test, 'xpass')

    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)
        if err is not None:
            kind = ('fail' if issubclass(err[0], test.failureException)
                    else 'error')
            self._set(test, kind, err)


def iter_tests(suite):
    for item in suite:
        if isinstance(item, unittest.TestSuite):
            yield from iter_tests(item)
        else:
            yield item


def read_ids(path):
    if not path:
        return None
    with open(path) as f:
        return {line.strip() for line in f if line.strip()}


def id_matches(test_id, pattern):
    """An exact id, else an fnmatch-style pattern (exact first: pytest ids
    hold brackets, which fnmatch reads as a character class)."""
    return test_id == pattern or fnmatch.fnmatchcase(test_id, pattern)


def wanted(test_id, skip, only, match=(), deselect=(), names=None):
    """Whether a child runs a test: not in skip, in only (when not None),
    matching one of match (when given, by any of names(test_id)) and none
    of deselect."""
    names = names or (lambda test_id: (test_id,))
    return (test_id not in skip and (only is None or test_id in only)
            and (not match or any(id_matches(n, p) for p in match
                                  for n in names(test_id)))
            and not any(id_matches(test_id, p) for p in deselect))


def select_tests(tests, skip_path, only_path, match=(), names=None,
                 deselect=()):
    """The tests that wanted() keeps, skip and only read from files."""
    skip = read_ids(skip_path) or set()
    only = read_ids(only_path)
    return [t for t in tests
            if wanted(t.id(), skip, only, match, deselect, names)]


def finish_child(out):
    """Close the records and leave at once: leftover threads or loops of a
    failed test must not hang the process after the results are written."""
    faulthandler.cancel_dump_traceback_later()
    out.close()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
