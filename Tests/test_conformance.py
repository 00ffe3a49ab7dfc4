"""CPython's own test.test_asyncio, run against aioev (Tests/conformance).

The long test runs the conformance comparison for the interpreter running
this file and fails on any regression (a stdlib test that passes on the
selector loop but not on aioev and is not in exclusions.toml).  The short
ones check the runner itself: that it does report a broken loop, survives a
crashing or hanging test, and refuses an exclusion with a reason that is
not allowed.

Set AIOEV_CONFORMANCE_LOOP=standin to run the long test against a trivial
SelectorEventLoop subclass instead of aioev; AIOEV_SKIP_CONFORMANCE=1 skips
it (the runner's own tests still run).

The task tests run task mode: the Task and Future test classes of
test_tasks, test_futures and test_eager_task_factory rebuilt with aioev.Task
and aioev.Future, each test compared with the same test of the module's
class for asyncio's C Task and C Future (task_exclusions.toml lists the
allowed differences).  They skip while aioev has no Task.
"""

import importlib.util
import os
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))


def _load_runner():
    path = os.path.join(HERE, 'conformance', 'run.py')
    spec = importlib.util.spec_from_file_location('_aioev_conformance_run',
                                                  path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


run = _load_runner()


def _quiet(*args):
    pass


def _check_report(test, report, stale_warning, regressions_header):
    """Warn about stale exclusions and fail on regressions, listing them."""
    run.suitegate.check_report(test, report, stale_warning=stale_warning,
                               regressions_header=regressions_header)


@unittest.skipIf(os.environ.get('AIOEV_SKIP_CONFORMANCE'),
                 'AIOEV_SKIP_CONFORMANCE is set')
class StdlibConformanceTests(unittest.TestCase):

    def check(self, debug):
        loop = os.environ.get('AIOEV_CONFORMANCE_LOOP', 'aioev')
        report = run.check_interpreter(sys.executable, loop=loop,
                                       debug=debug, log=print)
        print(run.format_summary(report))
        self.assertGreater(report.loops_created, 0,
                           f'no {loop} loop was made: the policy patch of '
                           f'Tests/conformance/child.py does not work')
        self.assertGreater(report.baseline_passed, 1000)
        _check_report(
            self, report,
            f'excluded from the conformance run but passes on {loop}: '
            f'{{test_id}}; remove it from Tests/conformance/exclusions.toml',
            f'stdlib tests pass on the selector loop but not on {loop}')

    def test_stdlib_asyncio_tests_pass_on_aioev(self):
        self.check(debug=False)

    def test_stdlib_asyncio_tests_pass_on_aioev_in_debug_mode(self):
        # PYTHONASYNCIODEBUG=1 and -X dev for both the stdlib and the aioev
        # runs: slow-callback and thread checks, source tracebacks.
        self.check(debug=True)


@unittest.skipIf(os.environ.get('AIOEV_SKIP_CONFORMANCE'),
                 'AIOEV_SKIP_CONFORMANCE is set')
class TaskConformanceTests(unittest.TestCase):
    """Task mode: test_tasks, test_futures and test_eager_task_factory's
    Task and Future classes rebuilt with aioev.Task and aioev.Future."""

    def check(self, debug):
        loop = os.environ.get('AIOEV_CONFORMANCE_LOOP', 'aioev')
        report = run.check_tasks(sys.executable, loop=loop, debug=debug,
                                 log=print)
        print(run.format_task_summary(report))
        if report.skipped:
            self.skipTest(report.skipped)
        # test_tasks alone has over 300 on every supported version.
        self.assertGreater(report.compared, 300)
        _check_report(
            self, report,
            'excluded from the task conformance run but passes: {test_id}; '
            'remove it from Tests/conformance/task_exclusions.toml',
            f'stdlib task tests pass with asyncio\'s C Task but not with '
            f'{report.types}')

    def test_stdlib_task_tests_pass_with_aioev_task(self):
        self.check(debug=False)

    def test_stdlib_task_tests_pass_with_aioev_task_in_debug_mode(self):
        self.check(debug=True)


class ConformanceRunnerTests(unittest.TestCase):

    # 'broken' drops call_soon's context=, so a task's steps do not run in
    # the task's context: test_tasks' contextvars tests fail on it.
    CONTEXT_TESTS = ['test.test_asyncio.test_tasks.PyTask_PyFuture_Tests.'
                     'test_context_[0-9]',
                     'test.test_asyncio.test_tasks.CTask_CFuture_Tests.'
                     'test_context_[0-9]']

    def test_broken_loop_is_reported(self):
        with tempfile.TemporaryDirectory() as workdir:
            report = run.check_interpreter(
                sys.executable, loop='broken', modules=['test_tasks'],
                match=self.CONTEXT_TESTS, workdir=workdir, exclusions=[],
                log=_quiet)
        self.assertGreater(report.loops_created, 0)
        self.assertGreater(report.baseline_passed, 4)
        regressed = [t for t, _, _ in report.regressions]
        self.assertIn('test.test_asyncio.test_tasks.CTask_CFuture_Tests.'
                      'test_context_4', regressed)
        self.assertIn('test.test_asyncio.test_tasks.PyTask_PyFuture_Tests.'
                      'test_context_4', regressed)
        self.assertFalse(report.ok)

    def test_exclusion_hides_a_regression(self):
        exclusion = run.Exclusion('test_tasks.*Task_*Future_Tests.test_'
                                  'context_*', None,
                                  'tests selector internals')
        with tempfile.TemporaryDirectory() as workdir:
            report = run.check_interpreter(
                sys.executable, loop='broken', modules=['test_tasks'],
                match=self.CONTEXT_TESTS, workdir=workdir,
                exclusions=[exclusion], log=_quiet)
        self.assertEqual(report.regressions, [])
        self.assertEqual(len(report.excluded), report.baseline_passed)
        self.assertTrue(report.ok)

    def _run_with_fault(self, fault, test_timeout):
        name = ('test.test_asyncio.test_waitfor.AsyncioWaitForTest.'
                'test_wait_for_blocking')
        old = os.environ.get('AIOEV_CONFORMANCE_FAULT')
        os.environ['AIOEV_CONFORMANCE_FAULT'] = f'{fault}:{name}'
        try:
            with tempfile.TemporaryDirectory() as workdir:
                result = run.run_module(
                    sys.executable, 'test_waitfor', 'standin', workdir,
                    test_timeout=test_timeout, module_timeout=300)
        finally:
            if old is None:
                del os.environ['AIOEV_CONFORMANCE_FAULT']
            else:
                os.environ['AIOEV_CONFORMANCE_FAULT'] = old
        return name, result

    def test_crashing_test_is_reported_and_the_rest_runs(self):
        name, result = self._run_with_fault('crash', 30)
        self.assertEqual(result.results[name][0], 'crash')
        others = {t: o for t, (o, _) in result.results.items() if t != name}
        self.assertGreater(len(others), 5)
        self.assertEqual(set(others.values()), {'pass'})
        self.assertTrue(result.completed)

    def test_hanging_test_times_out_and_the_rest_runs(self):
        name, result = self._run_with_fault('hang', 3)
        self.assertEqual(result.results[name][0], 'timeout')
        others = {t: o for t, (o, _) in result.results.items() if t != name}
        self.assertGreater(len(others), 5)
        self.assertEqual(set(others.values()), {'pass'})

    def test_exclusion_reasons_are_checked(self):
        self.assertIsInstance(run.load_exclusions(), list)
        for reason in ('flaky', 'needs sockets from a later issue',
                       'needs TLS from a later issue, probably'):
            with tempfile.NamedTemporaryFile('w', suffix='.toml',
                                             delete=False) as f:
                f.write(f'[[exclude]]\nreason = "{reason}"\n'
                        f'tests = ["test_events.*"]\n')
            try:
                with self.assertRaisesRegex(ValueError, 'not allowed'):
                    run.load_exclusions(f.name)
            finally:
                os.unlink(f.name)

    # Task mode: 'broken' is asyncio's C Task with context= dropped.
    TASK_CONTEXT_TESTS = ['*.AioevTask_AioevFuture_Tests.test_context_[14]',
                          '*.AioevTask_AioevFuture_Tests.test_cancel']

    def test_broken_task_is_reported(self):
        with tempfile.TemporaryDirectory() as workdir:
            report = run.check_tasks(
                sys.executable, loop='broken', modules=['test_tasks'],
                match=self.TASK_CONTEXT_TESTS, workdir=workdir,
                exclusions=[], log=_quiet)
        self.assertIsNone(report.skipped)
        self.assertEqual(report.compared, 3)
        prefix = 'test.test_asyncio.test_tasks.AioevTask_AioevFuture_Tests.'
        self.assertEqual(sorted(t for t, _, _ in report.regressions),
                         [prefix + 'test_context_1',
                          prefix + 'test_context_4'])
        self.assertEqual(report.passed, 1)
        self.assertFalse(report.ok)

    def test_task_exclusion_hides_a_regression(self):
        exclusion = run.Exclusion(
            'test_tasks.AioevTask_*.test_context_*', None,
            "tests asyncio's Python-only internals")
        with tempfile.TemporaryDirectory() as workdir:
            report = run.check_tasks(
                sys.executable, loop='broken', modules=['test_tasks'],
                match=self.TASK_CONTEXT_TESTS, workdir=workdir,
                exclusions=[exclusion], log=_quiet)
        self.assertEqual(report.regressions, [])
        self.assertEqual(len(report.excluded), 2)
        self.assertTrue(report.ok)

    def test_standin_task_matches_its_baseline(self):
        # 'standin' rebuilds the classes with asyncio's own C Task and C
        # Future: every class finds its baseline and nothing regresses.
        with tempfile.TemporaryDirectory() as workdir:
            report = run.check_tasks(
                sys.executable, loop='standin', modules=['test_futures'],
                workdir=workdir, log=_quiet)
        self.assertEqual(report.regressions, [])
        self.assertEqual(report.problems, [])
        self.assertEqual(len(report.classes), 5)
        for module, cls, baseline, compared, passed in report.classes:
            self.assertGreater(compared, 0, cls)
            self.assertEqual(passed, compared, cls)
        self.assertGreater(report.compared, 90)
        self.assertTrue(report.ok)

    def test_task_mode_skips_without_a_task(self):
        # The stdlib kind has no Task under test, as aioev has none before
        # aioev.Task is built.
        report = run.check_tasks(sys.executable, loop='stdlib',
                                 log=_quiet)
        self.assertIn('task mode skipped', report.skipped)
        self.assertEqual(report.compared, 0)
        self.assertTrue(report.ok)

    def test_task_exclusion_reasons_are_checked(self):
        self.assertIsInstance(run.load_task_exclusions(), list)
        for reason in ('flaky', 'tests selector internals',
                       "tests asyncio's Python-only internals, mostly"):
            with tempfile.NamedTemporaryFile('w', suffix='.toml',
                                             delete=False) as f:
                f.write(f'[[exclude]]\nreason = "{reason}"\n'
                        f'tests = ["test_tasks.*"]\n')
            try:
                with self.assertRaisesRegex(ValueError, 'not allowed'):
                    run.load_task_exclusions(f.name)
            finally:
                os.unlink(f.name)

    def test_exclusion_patterns(self):
        exc = run.Exclusion('test_events.ConformanceLoopTests.test_create_*',
                            frozenset({'3.12'}), 'needs servers from a '
                            'later issue')
        self.assertTrue(exc.matches('test.test_asyncio.test_events.'
                                    'ConformanceLoopTests.test_create_server'))
        self.assertFalse(exc.matches('test.test_asyncio.test_events.'
                                     'ConformanceLoopTests.test_run_forever'))
        self.assertTrue(exc.applies('3.12'))
        self.assertFalse(exc.applies('3.13'))


if __name__ == '__main__':
    unittest.main()
