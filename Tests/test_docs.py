"""Doc/api.rst documents every public name of the aioev package, and only
those: a name added to aioev.__all__ (or left public in the module) without
an entry there fails here. Skips where the tests run without the checkout's
Doc/ (vendored into CPython)."""

import os
import re
import unittest

from .support import ROOT_DIR, import_aioev

API_RST = os.path.join(ROOT_DIR, 'Doc', 'api.rst')
# ".. function:: run(main, ...)", ".. class:: Loop(...)", ".. data:: x"
DIRECTIVE = re.compile(r'^\.\. (?:function|class|data|attribute|exception)::\s*([A-Za-z_]\w*)',
                       re.MULTILINE)


def documented_names(text):
    return set(DIRECTIVE.findall(text))


@unittest.skipUnless(os.path.isfile(API_RST), 'no Doc/api.rst beside the tests')
class ApiReferenceTests(unittest.TestCase):

    def setUp(self):
        self.aioev = import_aioev()
        with open(API_RST, encoding='utf-8') as f:
            self.documented = documented_names(f.read())

    def public_names(self):
        # Submodules (aioev._loop, ...) are private; the names a user sees
        # are __all__ and whatever else the package leaves without a "_".
        names = set(self.aioev.__all__)
        names |= {n for n, v in vars(self.aioev).items()
                  if not n.startswith('_') and type(v).__name__ != 'module'}
        return names | {'__version__'}

    def test_every_public_name_is_documented(self):
        missing = self.public_names() - self.documented
        self.assertFalse(missing, f'not in Doc/api.rst: {sorted(missing)}')

    def test_nothing_documented_that_is_not_public(self):
        # eager_task_factory exists from 3.12 on; the page says so.
        extra = self.documented - self.public_names() - {'eager_task_factory'}
        self.assertFalse(extra, f'in Doc/api.rst but not public: {sorted(extra)}')

    def test_the_parser_sees_directives(self):
        self.assertEqual(documented_names('.. function:: run(main)\n'
                                          '   .. class:: Nested\n'
                                          '.. data:: x\n'), {'run', 'x'})


if __name__ == '__main__':
    unittest.main()
