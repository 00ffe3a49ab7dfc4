"""aioev's own tests (unittest modules that pytest also runs).

In the checkout the package is Tests (``python -m unittest discover -s Tests
-t .``, or pytest); vendored into CPython it is test.test_aioev
(``./python -m test test_aioev``, see Doc/vendoring.rst).
"""

import os


def load_tests(loader, standard_tests, pattern):
    # What regrtest and unittest discovery load for the package: its test_*
    # modules, found from the folder that holds the top-level package.
    here = os.path.dirname(os.path.abspath(__file__))
    top = here
    for _ in __name__.split('.'):
        top = os.path.dirname(top)
    standard_tests.addTests(loader.discover(
        start_dir=here, pattern=pattern or 'test*.py', top_level_dir=top))
    return standard_tests
