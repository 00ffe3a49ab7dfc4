"""Tornado's and anyio's own test suites as oracles (Tests/oracles).

The long tests run each suite on asyncio's loop and on aioev in both Task
modes (asyncio's Task and Future, aioev's own), compare them test by test
and fail on a regression (a test that passes on asyncio's loop but not on
aioev, listed neither in Tests/oracles/exclusions.toml nor in
Tests/oracles/known_failures.toml) and on a known failure that passes (so
that the list of known failures only shrinks).  They need the oracle venv
(Tornado, anyio and anyio's test requirements, pinned in
Tests/oracles/requirements.txt) and anyio's sdist: `make oracles` makes
both and runs this file with AIOEV_ORACLES=1; elsewhere they skip.

The runner's own tests check that a wrong loop is reported and that a
stand-in loop (asyncio's own under another name) matches its baseline in
both suites (with the oracle venv), and the comparison's rules on made-up
runs (everywhere).
"""

import os
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import suitegate  # noqa: E402
from oracles import run  # noqa: E402
del sys.path[0]

ORACLES = os.environ.get('AIOEV_ORACLES')
needs_oracles = unittest.skipUnless(
    ORACLES, 'run by `make oracles` (AIOEV_ORACLES=1 in the oracle venv)')


def _quiet(*args):
    pass


def _anyio_suite():
    return run.AnyioSuite(sys.executable)


class OracleGateMixin:

    suite = None            # a function that makes the run.Suite
    min_baseline = 0        # tests that pass on asyncio's loop, at least

    def test_suite_passes_on_aioev(self):
        reports = run.check_suite(self.suite(), log=print)
        for report in reports:
            print(run.format_summary(report))
        for report in reports:
            with self.subTest(mode=report.mode):
                self.assertGreater(report.loops_created, 0,
                                   'no aioev loop was made: the loop is '
                                   'not installed')
                self.assertGreater(report.baseline_passed, self.min_baseline)
                suitegate.check_report(
                    self, report,
                    stale_warning='excluded from the oracle but passes on '
                                  'aioev: {test_id}; remove it from '
                                  'Tests/oracles/exclusions.toml',
                    regressions_header=f'{report.suite} tests pass on '
                                       f'asyncio\'s loop but not on aioev '
                                       f'({report.mode})',
                    known_file='Tests/oracles/known_failures.toml')


@needs_oracles
class TornadoOracleTests(OracleGateMixin, unittest.TestCase):
    suite = staticmethod(lambda: run.TornadoSuite(sys.executable))
    min_baseline = 1000


@needs_oracles
class AnyioOracleTests(OracleGateMixin, unittest.TestCase):
    suite = staticmethod(_anyio_suite)
    min_baseline = 1000


@needs_oracles
class OracleRunnerTests(unittest.TestCase):
    """The runner on small parts of the suites, with loops other than
    aioev's: 'standin' is asyncio's selector loop under another name,
    'broken' drops call_soon's context=."""

    TORNADO_TESTS = ['tornado.test.gen_test.ContextVarsTest.*',
                     'tornado.test.escape_test.*']
    ANYIO_TESTS = ['tests/streams/test_memory.py::*']

    def check(self, suite, mode, match, **kwargs):
        with tempfile.TemporaryDirectory() as workdir:
            reports = run.check_suite(suite, modes=(mode,), match=match,
                                      workdir=workdir, log=_quiet, **kwargs)
        self.assertEqual(len(reports), 1)
        return reports[0]

    def test_broken_loop_is_reported_in_tornado(self):
        report = self.check(run.TornadoSuite(sys.executable), 'broken',
                            self.TORNADO_TESTS, exclusions=[], known=[])
        self.assertGreater(report.loops_created, 0)
        self.assertGreater(report.baseline_passed, 10)
        regressed = [t for t, _, _ in report.regressions]
        self.assertIn('tornado.test.gen_test.ContextVarsTest.test_propagate',
                      regressed)
        self.assertFalse(report.ok)

    def test_broken_loop_is_reported_in_anyio(self):
        # Of anyio's tests, this one fails when call_soon drops context=
        # (found by a run of the whole suite on the broken loop).
        test_id = 'tests/test_pytest_plugin.py::test_plugin'
        report = self.check(_anyio_suite(), 'broken', [test_id],
                            exclusions=[], known=[])
        self.assertEqual([t for t, _, _ in report.regressions], [test_id])
        self.assertFalse(report.ok)

    def test_known_failure_is_counted_and_a_passing_one_reported(self):
        failing = 'tornado.test.gen_test.ContextVarsTest.test_propagate'
        passing = 'tornado.test.escape_test.EscapeTestCase.test_url_escape_*'
        known = [suitegate.KnownFailure(failing, None, 'drops context', None,
                                        10),
                 suitegate.KnownFailure(passing, None, 'not a bug', None, 10)]
        report = self.check(run.TornadoSuite(sys.executable), 'broken',
                            self.TORNADO_TESTS, exclusions=[], known=known)
        self.assertEqual([t for t, _, _, _ in report.known], [failing])
        self.assertTrue(report.fixed)
        self.assertTrue(all(suitegate.id_matches(t, passing)
                            for t, _ in report.fixed))
        self.assertNotIn(failing, [t for t, _, _ in report.regressions])
        self.assertFalse(report.ok)

    def test_standin_loop_matches_the_baseline_in_tornado(self):
        report = self.check(run.TornadoSuite(sys.executable), 'standin',
                            self.TORNADO_TESTS)
        self.assertGreater(report.loops_created, 0)
        self.assertEqual(report.regressions, [])
        self.assertEqual(report.loop_passed, report.baseline_passed)
        self.assertTrue(report.ok)

    def test_standin_backend_matches_the_baseline_in_anyio(self):
        # The asyncio+aioev backend runs each test of anyio's asyncio
        # backend, on the standin loop here: the ids map onto the
        # baseline's and every test that passes there passes here.
        report = self.check(_anyio_suite(), 'standin', self.ANYIO_TESTS)
        self.assertGreater(report.loops_created, 20)
        self.assertGreater(report.baseline_passed, 20)
        self.assertEqual(report.regressions, [])
        self.assertEqual(report.loop_passed, report.baseline_passed)
        ids = [t for _, _, other in report.modules for t in other.results]
        self.assertIn('tests/streams/test_memory.py::test_receive_then_send'
                      '[asyncio+aioev]', ids)
        self.assertTrue(report.ok)

    def test_anyio_sdist_is_the_installed_version(self):
        import anyio
        from importlib.metadata import version
        src = _anyio_suite().src
        with open(os.path.join(src, 'PKG-INFO')) as f:
            meta = dict(line.split(': ', 1) for line in f.read().split(
                '\n\n')[0].splitlines() if ': ' in line)
        self.assertEqual(meta['Version'], version('anyio'), anyio.__file__)


def _run_of(results, loop='x'):
    r = suitegate.ModuleRun('m', loop)
    r.results = {t: (o, f'{o} detail') for t, o in results.items()}
    return r


class ComparisonTests(unittest.TestCase):
    """suitegate.compare_pairs on made-up runs."""

    def compare(self, base, other, exclusions=(), known=(), key=None,
                rerun_passes=()):
        report = suitegate.GateReport('3.12', 'native-task')
        reruns = []

        def rerun(module, ids):
            reruns.append(set(ids))
            return {t: ('pass' if t in rerun_passes else 'fail', None)
                    for t in ids}
        suitegate.compare_pairs(report, [('m', _run_of(base),
                                          _run_of(other))],
                                list(exclusions), rerun, known=list(known),
                                key=key)
        return report, reruns

    def test_failure_of_a_baseline_pass_is_a_regression(self):
        report, reruns = self.compare({'a': 'pass', 'b': 'pass'},
                                      {'a': 'pass', 'b': 'fail'})
        self.assertEqual([t for t, _, _ in report.regressions], ['b'])
        self.assertEqual(reruns, [{'b'}])
        self.assertFalse(report.ok)

    def test_failure_on_the_baseline_is_not_compared(self):
        report, _ = self.compare({'a': 'fail', 'b': 'skip'},
                                 {'a': 'error', 'b': 'fail'})
        self.assertEqual(report.regressions, [])
        self.assertTrue(report.ok)

    def test_failure_that_passes_alone_is_flaky(self):
        report, _ = self.compare({'a': 'pass'}, {'a': 'fail'},
                                 rerun_passes={'a'})
        self.assertEqual(report.flaky, ['a'])
        self.assertTrue(report.ok)

    def test_known_failure_is_not_a_regression_and_not_rerun(self):
        known = suitegate.KnownFailure('a', None, 'cause', None, 10)
        report, reruns = self.compare({'a': 'pass'}, {'a': 'fail'},
                                      known=[known])
        self.assertEqual([t for t, _, _, _ in report.known], ['a'])
        self.assertEqual(reruns, [])
        self.assertTrue(report.ok)

    def test_known_failure_that_passes_fails_the_gate(self):
        known = suitegate.KnownFailure('a', None, 'cause', None, 10)
        report, _ = self.compare({'a': 'pass'}, {'a': 'pass'}, known=[known])
        self.assertEqual([t for t, _ in report.fixed], ['a'])
        self.assertFalse(report.ok)

    def test_known_failure_of_another_mode_does_not_apply(self):
        known = suitegate.KnownFailure('a', None, 'cause',
                                       frozenset({'asyncio-task'}), 10)
        report, _ = self.compare({'a': 'pass'}, {'a': 'fail'}, known=[known])
        self.assertEqual([t for t, _, _ in report.regressions], ['a'])

    def test_exclusion_hides_a_failure_and_reports_a_pass(self):
        exc = suitegate.Exclusion('t[*', None, 'reason')
        report, _ = self.compare({'t[1]': 'pass', 't[2]': 'pass'},
                                 {'t[1]': 'fail', 't[2]': 'pass'},
                                 exclusions=[exc])
        self.assertEqual(report.regressions, [])
        self.assertEqual(report.stale, ['t[2]'])
        self.assertTrue(report.ok)

    def test_key_maps_loop_ids_to_baseline_ids(self):
        suite = run.AnyioSuite(sys.executable, src='.')
        report, _ = self.compare(
            {'f.py::t[asyncio-x]': 'pass', 'f.py::u': 'pass'},
            {'f.py::t[asyncio+aioev-x]': 'fail', 'f.py::u': 'pass'},
            key=suite.key)
        self.assertEqual([t for t, _, _ in report.regressions],
                         ['f.py::t[asyncio+aioev-x]'])

    def test_exact_ids_with_brackets_match(self):
        exc = suitegate.Exclusion('f.py::t[asyncio+aioev-x]', None, 'r')
        self.assertTrue(exc.matches('f.py::t[asyncio+aioev-x]'))
        self.assertFalse(exc.matches('f.py::t[asyncio+aioev-y]'))


class ListFileTests(unittest.TestCase):

    def write(self, text):
        f = tempfile.NamedTemporaryFile('w', suffix='.toml', delete=False)
        self.addCleanup(os.unlink, f.name)
        with f:
            f.write(text)
        return f.name

    def test_the_lists_load(self):
        for suite in run.SUITES:
            self.assertIsInstance(run.load_exclusions(suite), list)
            self.assertIsInstance(run.load_known_failures(suite), list)

    def test_known_failures_name_their_issue_and_cause(self):
        for i, cause in (('10', ''), ('"ten"', 'c'), ('', 'c')):
            issue = f'issue = {i}\n' if i else ''
            path = self.write(f'[[tornado.known]]\n{issue}cause = "{cause}"\n'
                              f'tests = ["x"]\n')
            with self.assertRaisesRegex(ValueError, 'needs'):
                run.load_known_failures('tornado', path)
        path = self.write('[[tornado.known]]\nissue = 10\ncause = "c"\n'
                          'modes = ["native-task"]\ntests = ["x"]\n')
        [entry] = run.load_known_failures('tornado', path)
        self.assertEqual((entry.issue, entry.reason, entry.modes),
                         (10, 'c', frozenset({'native-task'})))

    def test_exclusion_reasons_are_checked(self):
        for reason in ('flaky', 'aioev bug', 'tests selector internals'):
            path = self.write(f'[[anyio.exclude]]\nreason = "{reason}"\n'
                              f'tests = ["x"]\n')
            with self.assertRaisesRegex(ValueError, 'not allowed'):
                run.load_exclusions('anyio', path)
        path = self.write('[[anyio.exclude]]\nreason = "this machine lacks '
                          'IPv6"\ndeselect = true\nmodes = ["bogus"]\n'
                          'tests = ["x"]\n')
        with self.assertRaisesRegex(ValueError, 'unknown modes'):
            run.load_exclusions('anyio', path)


if __name__ == '__main__':
    unittest.main()
