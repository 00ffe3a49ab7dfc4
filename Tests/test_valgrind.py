"""Tests.valgrind's judgement of memcheck's log: what fails the gate."""

import textwrap
import unittest

from . import valgrind

LOG = textwrap.dedent('''\
    ==41== Invalid read of size 8
    ==41==    at 0x4A1B2C: PyObject_GC_Del (gcmodule.c:2300)
    ==41==    by 0x4A1B2D: some_cpython_function (object.c:10)
    ==41==  Address 0x5a0 is 16 bytes inside a block of size 64 free'd
    ==41==
    ==41== 48 bytes in 1 blocks are definitely lost in loss record 10 of 20
    ==41==    at 0x483B7F3: malloc (vg_replace_malloc.c:381)
    ==41==    by 0x6B0C0DE: aioev::handle_new(...) (handle.cpp:64)
    ==41==    by 0x6B0C0DF: ??? (in /x/Lib/aioev/_aioev.cpython-312-x86_64-linux-gnu.so)
    ==41==
    ==41== 1,041 bytes in 20 blocks are definitely lost in loss record 2 of 20
    ==41==    at 0x483B7F3: malloc (vg_replace_malloc.c:381)
    ==41==    by 0x4F00000: PyUnicode_New (unicodeobject.c:1200)
    ==41==    by 0x4F00001: PyUnicode_InternFromString (unicodeobject.c:14845)
    ==41==    by 0x6B0C0E0: aioev::module_exec(_object*) (module.cpp:290)
    ==41==
    ==41== 24 bytes in 1 blocks are definitely lost in loss record 3 of 20
    ==41==    at 0x483B7F3: malloc (vg_replace_malloc.c:381)
    ==41==    by 0x4B4363D: raw_malloc (tracemalloc.c:202)
    ==41==    by 0x4B4363D: traceback_new (tracemalloc.c:387)
    ==41==    by 0x4B43EEC: tracemalloc_raw_realloc (tracemalloc.c:761)
    ==41==    by 0x9FC5089: reallocate (aioev.h:37)
    ==41==
    ==41== 96 bytes in 1 blocks are definitely lost in loss record 4 of 20
    ==41==    at 0x483B7F3: malloc (vg_replace_malloc.c:381)
    ==41==    by 0x4B57351: gc_alloc (gcmodule.c:2304)
    ==41==    by 0x4B57351: _PyObject_GC_NewVar (gcmodule.c:2340)
    ==41==    by 0x6B0C0D0: aioev::handle_new(...) (handle.cpp:66)
    ==41==
    ==41== Conditional jump or move depends on uninitialised value(s)
    ==41==    at 0x6B0C100: aioev::loop_run_once(...) (loop.cpp:400)
    ==41==
    ==41== Conditional jump or move depends on uninitialised value(s)
    ==41==    at 0x4F00100: _PyObject_Malloc (obmalloc.c:1)
    ==41==
''')


class JudgeTests(unittest.TestCase):

    def test_failing_records(self):
        failures, lost_elsewhere = valgrind.judge(LOG)
        heads = [failure.splitlines()[0] for failure in failures]
        self.assertEqual(heads, [
            'Invalid read of size 8',
            '48 bytes in 1 blocks are definitely lost in loss record 10 of 20',
            '96 bytes in 1 blocks are definitely lost in loss record 4 of 20',
            'Conditional jump or move depends on uninitialised value(s)',
        ])
        self.assertIn('aioev::loop_run_once', failures[3])
        # CPython's own blocks held at exit (an interned string that aioev
        # asked for, tracemalloc's record of aioev's allocation) are
        # counted, not failed.
        self.assertEqual(lost_elsewhere, 2)

    def test_a_clean_log_passes(self):
        self.assertEqual(valgrind.judge(''), ([], 0))
        cpython_only = LOG[LOG.index('==41== 1,041'):LOG.index('==41== 96 bytes')]
        self.assertEqual(valgrind.judge(cpython_only), ([], 2))

if __name__ == '__main__':
    unittest.main()
