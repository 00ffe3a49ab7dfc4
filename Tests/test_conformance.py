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
"""

import importlib.util
import os
import sys
import tempfile
import unittest
import warnings

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


@unittest.skipIf(os.environ.get('AIOEV_SKIP_CONFORMANCE'),
                 'AIOEV_SKIP_CONFORMANCE is set')
class StdlibConformanceTests(unittest.TestCase):

    def check(self, debug):
        loop = os.environ.get('AIOEV_CONFORMANCE_LOOP', 'aioev')
        report = run.check_interpreter(sys.executable, loop=loop,
                                       debug=debug, log=print)
        print(run.format_summary(report))
        for test_id in report.stale:
            warnings.warn(f'excluded from the conformance run but passes on '
                          f'{loop}: {test_id}; remove it from '
                          f'Tests/conformance/exclusions.toml')
        self.assertGreater(report.loops_created, 0,
                           f'no {loop} loop was made: the policy patch of '
                           f'Tests/conformance/child.py does not work')
        self.assertGreater(report.baseline_passed, 1000)
        if report.regressions:
            lines = [f'{len(report.regressions)} stdlib tests pass on the '
                     f'selector loop but not on {loop}:']
            for test_id, got, detail in report.regressions:
                lines.append(f'{test_id}: {got}: {run.error_line(detail)}')
            self.fail('\n'.join(lines))

    def test_stdlib_asyncio_tests_pass_on_aioev(self):
        self.check(debug=False)

    def test_stdlib_asyncio_tests_pass_on_aioev_in_debug_mode(self):
        # PYTHONASYNCIODEBUG=1 and -X dev for both the stdlib and the aioev
        # runs: slow-callback and thread checks, source tracebacks.
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
