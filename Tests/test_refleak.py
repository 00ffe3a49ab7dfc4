"""Tests.refleak itself: that it reports a module that leaks, passes one that
does not, and refuses an exclusion without a reason."""

import os
import subprocess
import sys
import sysconfig
import tempfile
import textwrap
import unittest

from . import refleak

LEAKY = textwrap.dedent('''
    import ctypes
    import unittest

    KEEP = []

    class Leaky(unittest.TestCase):
        def test_leak(self):
            # A fresh object and one extra reference to it, every run:
            # both the reference total and the allocated blocks grow.
            obj = [object() for _ in range(10)]
            ctypes.pythonapi.Py_IncRef(ctypes.py_object(obj))
''')

# Grows in each of the first six runs (the three warm-up runs and the three
# measured), then no more: a cache filling up, which a longer measurement
# tells from a leak.
FILLS_UP = textwrap.dedent('''
    import unittest

    CACHE = []

    class FillsUp(unittest.TestCase):
        def test_fill(self):
            if len(CACHE) < 6:
                CACHE.append([object() for _ in range(10)])
''')

CLEAN = textwrap.dedent('''
    import unittest

    class Clean(unittest.TestCase):
        def test_nothing(self):
            [object() for _ in range(10)]
''')


class RefleakRunnerTests(unittest.TestCase):

    def run_runner(self, source, **env_changes):
        with tempfile.TemporaryDirectory() as tmp:
            with open(os.path.join(tmp, 'refleak_probe.py'), 'w') as f:
                f.write(source)
            empty = os.path.join(tmp, 'exclusions.txt')
            open(empty, 'w').close()
            env = dict(os.environ)
            env['PYTHONPATH'] = os.pathsep.join(
                [tmp, refleak.ROOT, env.get('PYTHONPATH', '')])
            env.update(env_changes)
            return subprocess.run(
                [sys.executable, '-m', 'Tests.refleak', '--exclusions', empty,
                 'refleak_probe'], cwd=refleak.ROOT, env=env, text=True,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)

    def test_reports_a_leak(self):
        if not refleak.can_measure():
            self.skipTest('nothing to measure here (PYTHONMALLOC=malloc on '
                          'a release build); see test_refuses_to_guess')
        proc = self.run_runner(LEAKY)
        self.assertEqual(proc.returncode, 1, proc.stdout)
        self.assertIn('refleak_probe: leaked', proc.stdout)
        if sys.getallocatedblocks() > 0:
            self.assertIn('leaked memory blocks', proc.stdout)
        if hasattr(sys, 'gettotalrefcount'):
            self.assertIn('leaked references', proc.stdout)

    @unittest.skipIf(hasattr(sys, 'gettotalrefcount'),
                     'a debug build always counts references')
    @unittest.skipIf(sysconfig.get_config_var('Py_GIL_DISABLED'),
                     'the free-threaded build refuses PYTHONMALLOC=malloc')
    def test_refuses_to_guess(self):
        # Blocks are not counted with the malloc allocator: the runner must
        # say so, not report "no leaks" for a module that leaks.
        proc = self.run_runner(LEAKY, PYTHONMALLOC='malloc')
        self.assertEqual(proc.returncode, 2, proc.stdout)
        self.assertIn('nothing can be measured', proc.stdout)
        self.assertNotIn('no leaks', proc.stdout)

    def test_passes_a_clean_module(self):
        if not refleak.can_measure():
            self.skipTest('nothing to measure here')
        proc = self.run_runner(CLEAN)
        self.assertEqual(proc.returncode, 0, proc.stdout)
        self.assertIn('refleak_probe: ok', proc.stdout)

    def test_a_cache_that_fills_up_is_no_leak(self):
        if not refleak.can_measure():
            self.skipTest('nothing to measure here')
        proc = self.run_runner(FILLS_UP)
        self.assertEqual(proc.returncode, 0, proc.stdout)
        self.assertIn('refleak_probe: ok', proc.stdout)
        # The first measurement did see it grow, and the report says so.
        self.assertIn('first 3 runs:', proc.stdout)

    def test_exclusion_needs_a_reason(self):
        with tempfile.NamedTemporaryFile('w', suffix='.txt') as f:
            f.write('Tests.test_loop:\n')
            f.flush()
            with self.assertRaises(SystemExit):
                refleak.read_exclusions(f.name)

    def test_exclusions_file_is_valid(self):
        # Every entry is one that --all runs: a misread one would exclude
        # nothing.
        entries = refleak.all_entries()
        for entry, reason in refleak.read_exclusions().items():
            self.assertTrue(reason, entry)
            self.assertIn(entry, entries)

    def test_conformance_entry_with_its_colon(self):
        with tempfile.NamedTemporaryFile('w', suffix='.txt') as f:
            f.write('conformance:test_locks: a reason\n')
            f.flush()
            self.assertEqual(refleak.read_exclusions(f.name),
                             {'conformance:test_locks': 'a reason'})


if __name__ == '__main__':
    unittest.main()
