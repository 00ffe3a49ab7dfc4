"""Run modules of Tornado's own test suite (tornado.test) in this process.

Started by Tests/oracles/run.py as
``python tornado_child.py --loop KIND --module tornado.test.gen_test ...
--out FILE`` (KIND: stdlib, aioev, standin, broken; aioev's Task and Future
come from AIOEV_NATIVE_TASK).  Tornado's IOLoop makes its asyncio loop with
asyncio.new_event_loop(), so the loop under test is installed through the
default event loop policy (suitegate.patch_default_policy); Tornado's files
are not touched.

The run is set up as tornado.test.runtests.main() sets up its own: the same
warning filters, Tornado's log formatter on the root logger, and its rule
that a test run must log nothing at INFO or above and write nothing to
stderr; here the rule holds per test: a test that passes but logs, or
writes to stderr, gets the outcome 'logged'.
"""

import argparse
import faulthandler
import io
import logging
import os
import signal
import sys
import unittest
import warnings

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))
import suitegate  # noqa: E402  (Tests/suitegate.py)
del sys.path[0]


class LogCollector(logging.Filter):
    """Keeps the records at INFO and above that reach the root handler."""

    def __init__(self):
        super().__init__()
        self.records = []

    def filter(self, record):
        if record.levelno >= logging.INFO:
            text = f'{record.levelname} {record.name}: {record.getMessage()}'
            if record.exc_info and record.exc_info[0] is not None:
                text += (f' [{record.exc_info[0].__name__}: '
                         f'{record.exc_info[1]}]')
            self.records.append(text[:500])
        return True


class CountingStderr(io.IOBase):
    """sys.stderr that keeps what it is given (runtests counts it)."""

    def __init__(self, real):
        self.real = real
        self.written = []

    def write(self, data):
        self.written.append(data)
        return self.real.write(data)

    def flush(self):
        return self.real.flush()

    def fileno(self):
        return self.real.fileno()


def configure_like_runtests():
    """runtests.main()'s warning and logging set-up; the log collector and
    the stderr counter it checks at the end."""
    warnings.filterwarnings('error')
    warnings.filterwarnings('ignore', category=ImportWarning)
    warnings.filterwarnings('ignore', category=DeprecationWarning)
    warnings.filterwarnings('error', category=DeprecationWarning,
                            module=r'tornado\..*')
    warnings.filterwarnings('ignore', category=PendingDeprecationWarning)
    warnings.filterwarnings('error', category=PendingDeprecationWarning,
                            module=r'tornado\..*')
    logging.getLogger('tornado.access').setLevel(logging.CRITICAL)
    stderr = CountingStderr(sys.stderr)
    sys.stderr = stderr
    import tornado.options
    # As tornado.testing.main(): the default options configure logging
    # (Tornado's formatter on a root handler, level INFO).
    tornado.options.parse_command_line(['tornado_child'])
    collector = LogCollector()
    logging.getLogger().handlers[0].addFilter(collector)
    return collector, stderr


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--loop', choices=suitegate.LOOP_KINDS,
                        required=True)
    parser.add_argument('--module', action='append', required=True,
                        help='a module of the suite, e.g. '
                             'tornado.test.gen_test (repeatable)')
    parser.add_argument('--out', required=True)
    parser.add_argument('--skip', help='file of test ids not to run')
    parser.add_argument('--only', help='file of test ids to run')
    parser.add_argument('--match', action='append', default=[],
                        help='run only test ids matching this fnmatch '
                             'pattern (repeatable)')
    parser.add_argument('--deselect', action='append', default=[],
                        help='do not run the tests of this id or fnmatch '
                             'pattern (repeatable)')
    parser.add_argument('--timeout', type=float, default=60.0,
                        help='seconds one test may take')
    args = parser.parse_args()

    out = open(args.out, 'a')
    faulthandler.enable()
    # A shell starts background jobs with SIGINT ignored; Python then keeps
    # it ignored and tests that interrupt the main thread would hang.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    factory = suitegate.make_factory(args.loop)
    suitegate.patch_default_policy(factory)
    collector, stderr = configure_like_runtests()

    def check(test):
        records, collector.records[:] = list(collector.records), []
        written, stderr.written[:] = ''.join(stderr.written), []
        if records or written:
            return 'logged', ('the test logged (Tornado\'s runtests fails a '
                              'run that logs at INFO or above or writes '
                              'to stderr):\n' + '\n'.join(records[:10])
                              + ('\nstderr: ' + written[-3000:]
                                 if written else ''))
        return None

    result = suitegate.JsonResult(out, args.timeout, check=check)
    tests = list(suitegate.iter_tests(
        unittest.defaultTestLoader.loadTestsFromNames(args.module)))
    tests = suitegate.select_tests(tests, args.skip, args.only, args.match,
                                   deselect=args.deselect)
    result.emit(event='loaded', ids=[t.id() for t in tests])
    # Records of the imports and the loading are nobody's.
    check(None)
    unittest.TestSuite(tests).run(result)
    result.emit(event='done', loops=suitegate.created_loops,
                policy_factory_ok=suitegate.policy_factory_ok(factory))
    suitegate.finish_child(out)


if __name__ == '__main__':
    main()
