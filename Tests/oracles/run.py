"""Tornado's and anyio's own test suites as oracles for aioev.

Each suite runs on one interpreter (the oracle venv's 3.12, which has the
pinned Tornado, anyio and anyio's test requirements:
Tests/oracles/requirements.txt) in child processes, in groups of modules
run side by side:

- on asyncio's default loop (the baseline),
- on aioev with asyncio's Task and Future (mode asyncio-task,
  AIOEV_NATIVE_TASK=0),
- on aioev with its own Task and Future (mode native-task,
  AIOEV_NATIVE_TASK=1),

and the runs are compared test by test (suitegate.compare_pairs): every
test that passes on the baseline passes in each mode, or is listed:

- exclusions.toml ([[tornado.exclude]], [[anyio.exclude]]): tests not
  expected to pass on any aioev, with one of the reasons REASON_RE allows;
- known_failures.toml ([[tornado.known]], [[anyio.known]]): tests that fail
  because of an aioev bug tracked in an issue, with its cause.  A known
  failure that passes fails the gate: remove it from the list.

Tornado runs through Tests/oracles/tornado_child.py (its IOLoop gets the
loop under test from the default policy); anyio through pytest on the
tests/ of its sdist with the plugin Tests/oracles/aioev_anyio_oracle.py
(the backend asyncio+aioev, loop_factory=...).

    python -m Tests.oracles                    # both suites, both modes
    python -m Tests.oracles tornado --mode native-task
    python -m Tests.oracles anyio -k 'tests/streams/*'
    python -m Tests.oracles --markdown report.md

The interpreter is this one; anyio's tests come from --anyio-src (default:
$AIOEV_ANYIO_SRC, else build/oracles/anyio-VERSION, as `make oracles`
unpacks it).  Logs go to --workdir (default: a new directory in /tmp).
Exit status 0 when nothing regressed and no known failure passes.
"""

import argparse
import collections
import concurrent.futures
import glob
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
sys.path.insert(0, TESTS)
import suitegate  # noqa: E402
del sys.path[0]

REPO = suitegate.REPO
EXCLUSIONS = os.path.join(HERE, 'exclusions.toml')
KNOWN_FAILURES = os.path.join(HERE, 'known_failures.toml')

# The aioev configurations under test: mode -> AIOEV_NATIVE_TASK.
MODES = {'asyncio-task': '0', 'native-task': '1'}
# The runner's own checks use other loop kinds as the "mode".
CHECK_KINDS = ('standin', 'broken')

REASONS = (
    "tests asyncio's internals",
    'patches loop.time()',
    'this machine lacks <what>',
)
REASON_RE = re.compile(r"^(tests asyncio's internals|patches loop\.time\(\)"
                       r"|this machine lacks .+)$")
REASONS_HINT = 'use one of ' + ', '.join(repr(r) for r in REASONS)


def load_exclusions(suite, path=EXCLUSIONS):
    return suitegate.load_exclusions(path, REASON_RE, REASONS_HINT,
                                     modes=MODES, section=suite)


def load_known_failures(suite, path=KNOWN_FAILURES):
    return suitegate.load_known_failures(path, modes=MODES, section=suite)


def balance(items, weight, bins):
    """items split into at most bins groups of about equal total weight."""
    groups = [[] for _ in range(max(1, min(bins, len(items))))]
    totals = [0] * len(groups)
    for item in sorted(items, key=weight, reverse=True):
        i = totals.index(min(totals))
        groups[i].append(item)
        totals[i] += weight(item)
    return [sorted(g) for g in groups if g]


# ------------------------------------------------------------------ suites

class Suite:
    """How to run one project's test suite in children."""

    name = ''
    test_timeout = 60.0         # the watchdog of one test
    group_timeout = 900.0       # one group's children, all restarts
    groups = 4                  # groups of modules, run side by side

    def __init__(self, python):
        self.python = python

    def modules(self):
        """{group name: [module, ...]}."""
        raise NotImplementedError

    def command(self, kind, modules, out, skip, only, match, deselect):
        raise NotImplementedError

    def env(self, mode):
        env = dict(os.environ)
        env.pop('PYTHONASYNCIODEBUG', None)
        env.pop('AIOEV_NATIVE_TASK', None)
        if mode in MODES:
            env['AIOEV_NATIVE_TASK'] = MODES[mode]
        return env

    def key(self, test_id):
        """A loop run's test id -> the baseline run's id of that test."""
        return test_id

    cwd = None


class TornadoSuite(Suite):
    name = 'tornado'
    test_timeout = 30.0
    CHILD = os.path.join(HERE, 'tornado_child.py')

    def modules(self):
        # runtests.TEST_MODULES of the installed Tornado: a new pin brings
        # its new modules.
        names = subprocess.run(
            [self.python, '-c', 'import tornado.test.runtests as r; '
             'print("\\n".join(r.TEST_MODULES))'],
            check=True, capture_output=True, text=True).stdout.split()
        sizes = {}
        for name in names:
            sizes[name] = self._size(name)
        groups = balance(names, sizes.get, self.groups)
        return {f'tornado{i}': g for i, g in enumerate(groups)}

    def _size(self, module):
        # The weight of a module: its source size (doctests: small).
        path = module.replace('.', os.sep) + '.py'
        for base in self._site():
            if os.path.exists(os.path.join(base, path)):
                return os.path.getsize(os.path.join(base, path))
        return 1000

    def _site(self):
        if not hasattr(self, '_paths'):
            self._paths = json.loads(subprocess.run(
                [self.python, '-c', 'import sys, json; '
                 'print(json.dumps(sys.path))'],
                check=True, capture_output=True, text=True).stdout)
        return [p for p in self._paths if p]

    def command(self, kind, modules, out, skip, only, match, deselect):
        cmd = [self.python, self.CHILD, '--loop', kind, '--out', out,
               '--skip', skip, '--timeout', str(self.test_timeout)]
        for module in modules:
            cmd += ['--module', module]
        if only:
            cmd += ['--only', only]
        for pattern in match:
            cmd += ['--match', pattern]
        for pattern in deselect:
            cmd += ['--deselect', pattern]
        return cmd


def default_anyio_src():
    """$AIOEV_ANYIO_SRC, else the sdist `make oracles` unpacked."""
    if os.environ.get('AIOEV_ANYIO_SRC'):
        return os.environ['AIOEV_ANYIO_SRC']
    found = sorted(glob.glob(os.path.join(REPO, 'build', 'oracles',
                                          'anyio-*', 'tests')))
    return os.path.dirname(found[-1]) if found else None


class AnyioSuite(Suite):
    name = 'anyio'
    test_timeout = 60.0

    def __init__(self, python, src=None):
        super().__init__(python)
        self.src = os.path.normpath(src or default_anyio_src() or '.')
        self.cwd = self.src

    def modules(self):
        tests = os.path.join(self.src, 'tests')
        if not os.path.isdir(tests):
            raise FileNotFoundError(
                f"no anyio tests in {self.src}: `make oracles` unpacks "
                f"anyio's sdist, or give --anyio-src")
        files = sorted(os.path.relpath(p, self.src) for p in glob.glob(
            os.path.join(tests, '**', 'test_*.py'), recursive=True))
        groups = balance(files, lambda f: os.path.getsize(
            os.path.join(self.src, f)), self.groups)
        return {f'anyio{i}': g for i, g in enumerate(groups)}

    def command(self, kind, modules, out, skip, only, match, deselect):
        cmd = [self.python, '-m', 'pytest', '-p', 'aioev_anyio_oracle',
               '-p', 'no:cacheprovider', '-q', '--rootdir', self.src,
               '-c', os.path.join(self.src, 'pyproject.toml'),
               '--oracle-loop', kind, '--oracle-out', out,
               '--oracle-skip', skip,
               '--oracle-timeout', str(self.test_timeout)]
        if only:
            cmd += ['--oracle-only', only]
        for pattern in match:
            cmd += ['--oracle-match', pattern]
        for pattern in deselect:
            cmd += ['--oracle-deselect', pattern]
        return cmd + list(modules)

    def env(self, mode):
        env = super().env(mode)
        env['PYTHONPATH'] = os.pathsep.join(
            [HERE] + [p for p in env.get('PYTHONPATH', '').split(os.pathsep)
                      if p])
        return env

    def key(self, test_id):
        # The plugin's oracle_key, without importing pytest here.
        head, sep, params = test_id.partition('[')
        if not sep:
            return test_id
        parts = ['asyncio' if p == 'asyncio+aioev' else p
                 for p in params[:-1].split('-')]
        return f'{head}[{"-".join(parts)}]'


SUITES = {'tornado': TornadoSuite, 'anyio': AnyioSuite}


# ------------------------------------------------------------------ report

class OracleReport(suitegate.GateReport):
    """One suite, one mode, compared with the baseline."""

    def __init__(self, suite, mode, python, version, full_version):
        super().__init__(version, mode)
        self.suite = suite
        self.python = python
        self.full_version = full_version
        self.modules = []           # (group, baseline run, mode's run)
        self.baseline_passed = 0
        self.loop_passed = 0
        self.loops_created = 0
        self.seconds = 0.0

    @property
    def ok(self):
        return super().ok and self.loops_created > 0

    def to_json(self):
        return {
            'suite': self.suite, 'mode': self.mode, 'python': self.python,
            'version': self.full_version, 'ok': self.ok,
            'baseline_passed': self.baseline_passed,
            'loop_passed': self.loop_passed,
            'loops_created': self.loops_created,
            'excluded': self.excluded, 'regressions': self.regressions,
            'known': [(t, got, detail, e.issue, e.reason)
                      for t, got, detail, e in self.known],
            'fixed': [(t, e.issue, e.reason) for t, e in self.fixed],
            'flaky': self.flaky, 'stale_exclusions': self.stale,
            'problems': self.problems,
        }


def check_suite(suite, *, modes=tuple(MODES), match=(), jobs=2,
                workdir=None, exclusions=None, known=None, log=print):
    """Run a suite on the baseline and in each mode; one OracleReport per
    mode.  exclusions and known (lists of entries) default to the files'."""
    version, full = suitegate.describe_python(suite.python)
    if workdir is None:
        workdir = tempfile.mkdtemp(prefix=f'aioev-oracle-{suite.name}-')
    os.makedirs(workdir, exist_ok=True)
    start = time.monotonic()
    groups = suite.modules()
    excl_all = load_exclusions(suite.name) if exclusions is None \
        else exclusions
    deselect = [e.pattern for e in excl_all
                if e.deselect and e.applies(version)]
    log(f'[{suite.name}] CPython {full}: {len(groups)} groups, baseline and '
        f'{", ".join(modes)}; logs in {workdir}')

    runs = {}
    lock = threading.Lock()

    def run(group, mode, only=None, tag=''):
        kind = 'stdlib' if mode is None else \
            ('aioev' if mode in MODES else mode)
        label = mode or 'baseline'

        def make_cmd(out, skip, only_path):
            return suite.command(kind, groups[group], out, skip, only_path,
                                 match, deselect)
        r = suitegate.run_child(
            make_cmd, group, label,
            os.path.join(workdir, f'{group}.{label}{tag}'),
            module_timeout=suite.group_timeout, only=only,
            env=suite.env(mode), cwd=suite.cwd or os.path.join(workdir,
                                                               'cwd'),
            crash_id=f'{group}.<child>')
        return r

    def job(group, mode):
        r = run(group, mode)
        with lock:
            runs[group, mode] = r
            log(f'[{suite.name}] {group:<9} {mode or "baseline":<13} '
                f'{suitegate.count_passed(r):5d} passed of '
                f'{len(r.results):5d} in {r.seconds:6.1f}s'
                + (f'  ({len(r.problems)} crash/timeout)'
                   if r.problems else ''))

    with concurrent.futures.ThreadPoolExecutor(max(1, jobs)) as pool:
        futures = [pool.submit(job, g, m) for m in (None,) + tuple(modes)
                   for g in groups]
        for f in futures:
            f.result()

    reports = []
    for mode in modes:
        report = OracleReport(suite.name, mode, suite.python, version, full)
        report.modules = [(g, runs[g, None], runs[g, mode]) for g in groups]
        for group, base, other in report.modules:
            report.loops_created += other.loops
            report.baseline_passed += suitegate.count_passed(base)
            report.loop_passed += suitegate.count_passed(other)
            for problem in base.problems:
                report.problems.append(f'{group} (baseline): {problem}')
            for problem in other.problems:
                report.problems.append(f'{group} ({mode}): {problem}')
        excl = load_exclusions(suite.name) if exclusions is None \
            else [_copy(e) for e in exclusions]
        kn = load_known_failures(suite.name) if known is None \
            else [_copy(e) for e in known]

        def rerun(group, ids, mode=mode):
            if not ids:
                return {}
            return run(group, mode, only=ids, tag='.rerun').results
        suitegate.compare_pairs(report, report.modules, excl, rerun,
                                known=kn, key=suite.key)
        if not match:
            ids = [t for _, _, o in report.modules for t in o.results]
            for e in suitegate.unmatched(excl, version, ids, mode):
                if not e.deselect:
                    report.problems.append(
                        f'exclusion {e.pattern!r} matches no test')
            for e in suitegate.unmatched(kn, version, ids, mode):
                report.problems.append(
                    f'known failure {e.pattern!r} matches no test')
        report.seconds = time.monotonic() - start
        with open(os.path.join(workdir, f'report-{mode}.json'), 'w') as f:
            json.dump(report.to_json(), f, indent=1)
        reports.append(report)
    return reports


def _copy(entry):
    new = type(entry).__new__(type(entry))
    new.__dict__.update(entry.__dict__)
    new.used = False
    return new


def format_summary(report):
    out = []
    w = out.append
    w(f'== {report.suite} on CPython {report.full_version}, mode '
      f'{report.mode}: {report.loop_passed} passed on aioev, '
      f'{report.baseline_passed} on asyncio; excluded '
      f'{len(report.excluded)}, known failures {len(report.known)}, '
      f'regressions {len(report.regressions)}, fixed {len(report.fixed)}, '
      f'flaky {len(report.flaky)}; aioev loops made: '
      f'{report.loops_created}; {report.seconds:.0f}s')
    if report.loops_created == 0:
        w('   ERROR: no aioev loop was made: the loop is not installed')
    suitegate.format_gate_lines(report, w)
    return '\n'.join(out)


def format_markdown(reports):
    """Failures on aioev (regressions and known), grouped by error line."""
    out = ['# aioev oracles: tests that pass on asyncio but not on aioev',
           '']
    for report in reports:
        out.append(f'## {report.suite}, {report.mode}: '
                   f'{len(report.regressions)} regressions, '
                   f'{len(report.known)} known failures')
        out.append('')
        groups = collections.defaultdict(list)
        for test_id, got, detail in report.regressions:
            groups['REGRESSION ' + (suitegate.error_line(detail) or got)
                   ].append((test_id, got, detail))
        for test_id, got, detail, entry in report.known:
            groups[f'known (issue {entry.issue}): {entry.reason}'].append(
                (test_id, got, detail))
        for title, items in sorted(groups.items(),
                                   key=lambda kv: -len(kv[1])):
            out.append(f'### {title[:300]}  ({len(items)} tests)')
            for test_id, got, detail in items:
                out.append(f'- `{test_id}` ({got}): '
                           f'{suitegate.error_line(detail)[:150]}')
            out.append('')
            out.append('```')
            out.append(suitegate.essential(items[0][2], 12))
            out.append('```')
            out.append('')
    return '\n'.join(out) + '\n'


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog='python -m Tests.oracles',
        description="Run Tornado's and anyio's test suites on asyncio's "
                    "loop and on aioev and compare them test by test.")
    parser.add_argument('suites', nargs='*', metavar='SUITE',
                        help=', '.join(SUITES) + ' (default: all)')
    parser.add_argument('--mode', action='append', choices=list(MODES)
                        + list(CHECK_KINDS),
                        help='default: ' + ', '.join(MODES))
    parser.add_argument('-k', '--match', action='append', default=[],
                        help='only test ids matching this pattern')
    parser.add_argument('-j', '--jobs', type=int, default=2)
    parser.add_argument('--anyio-src', help="anyio's unpacked sdist")
    parser.add_argument('--workdir')
    parser.add_argument('--markdown', help='write the failures, grouped by '
                                           'error, to this file')
    args = parser.parse_args(argv)
    for name in args.suites:
        if name not in SUITES:
            parser.error(f'unknown suite {name!r}: use {", ".join(SUITES)}')
    reports = []
    for name in args.suites or list(SUITES):
        suite = (AnyioSuite(sys.executable, args.anyio_src)
                 if name == 'anyio' else SUITES[name](sys.executable))
        workdir = args.workdir and os.path.join(args.workdir, name)
        for report in check_suite(suite, modes=tuple(args.mode or MODES),
                                  match=args.match, jobs=args.jobs,
                                  workdir=workdir):
            print(format_summary(report), flush=True)
            reports.append(report)
    if args.markdown:
        with open(args.markdown, 'w') as f:
            f.write(format_markdown(reports))
    return 0 if all(r.ok for r in reports) else 1


if __name__ == '__main__':
    sys.exit(main())
