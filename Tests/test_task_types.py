"""aioev.Task and aioev.Future as asyncio's own classes see them.

They are subclasses of asyncio's C Task and Future whose state lives in
asyncio's own fields: isinstance() holds, asyncio's methods called through
the class work on them, and nothing a caller does with those methods
crashes the process.  With AIOEV_TEST_LOOP=asyncio the same tests run on
asyncio's classes, which they copy.  The Future's own tests of this kind
(asyncio.Future.<method>(fut), its __init__ run again) are in test_future.
"""

import asyncio
import sys
import textwrap
import unittest
import weakref

from . import support
from .support import LoopTestCase, PY_VERSION
from .test_task import FUTURE, TASK


async def answer():
    return 42


class IsinstanceTests(LoopTestCase):

    def test_task_is_an_asyncio_task_and_future(self):
        task = TASK(answer(), loop=self.loop)
        self.assertIsInstance(task, asyncio.Task)
        self.assertIsInstance(task, asyncio.Future)
        self.assertIsInstance(task, FUTURE)
        self.assertTrue(issubclass(TASK, asyncio.Task))
        self.assertTrue(issubclass(TASK, FUTURE))
        self.loop.run_until_complete(task)

    def test_waiter_of_a_waiting_task_is_an_asyncio_future(self):
        # anyio decides how to deliver a cancellation by this check.
        fut = FUTURE(loop=self.loop)

        async def waiter():
            return await fut
        task = TASK(waiter(), loop=self.loop)
        self.run_briefly()
        self.assertIs(task._fut_waiter, fut)
        self.assertIsInstance(task._fut_waiter, asyncio.Future)
        fut.set_result('v')
        self.assertEqual(self.loop.run_until_complete(task), 'v')

    def test_weakref_and_attributes(self):
        task = TASK(answer(), loop=self.loop)
        fut = FUTURE(loop=self.loop)
        task.attr = 1
        fut.attr = 2
        self.assertEqual((task.attr, fut.attr), (1, 2))
        self.assertIs(weakref.ref(task)(), task)
        self.assertIs(weakref.ref(fut)(), fut)
        self.loop.run_until_complete(task)


class AsyncioMethodsThroughTheClassTests(LoopTestCase):
    """asyncio.Task.<method>(task) and asyncio.Future.<method>(task)."""

    def test_task_methods(self):
        async def body():
            await asyncio.sleep(0)
            return 'done'
        task = TASK(body(), loop=self.loop, name='named')
        coro = task.get_coro()
        self.assertIs(asyncio.Task.get_coro(task), coro)
        self.assertEqual(asyncio.Task.get_name(task), 'named')
        asyncio.Task.set_name(task, 'renamed')
        self.assertEqual(task.get_name(), 'renamed')
        if PY_VERSION >= (3, 12):
            self.assertIs(asyncio.Task.get_context(task), task.get_context())
        self.assertIsInstance(asyncio.Task.get_stack(task), list)
        self.assertEqual(asyncio.Task.cancelling(task), 0)
        self.assertEqual(self.loop.run_until_complete(task), 'done')
        self.assertEqual(asyncio.Future.result(task), 'done')
        self.assertEqual(asyncio.Task.__repr__(task), repr(task))

    def test_default_name_through_either_class(self):
        task = TASK(answer(), loop=self.loop)
        name = asyncio.Task.get_name(task)
        self.assertRegex(name, r'^Task-\d+$')
        self.assertEqual(task.get_name(), name)
        self.loop.run_until_complete(task)

    def test_task_cancel_through_the_class(self):
        fut = FUTURE(loop=self.loop)

        async def body():
            await fut
        task = TASK(body(), loop=self.loop)
        self.run_briefly()
        self.assertTrue(asyncio.Task.cancel(task, 'stop'))
        self.assertTrue(fut.cancelled())
        self.assertEqual(task.cancelling(), 1)
        with self.assertRaisesRegex(asyncio.CancelledError, '^stop$'):
            self.loop.run_until_complete(task)
        self.assertEqual(asyncio.Task.uncancel(task), 0)


class RebindingTests(LoopTestCase):
    """asyncio's __init__ called again on an object that is in use."""

    def test_task_init_again_does_not_crash(self):
        # Two steps are then scheduled: the second one finds the task done
        # and reports it, on asyncio's Task as on aioev's.
        errors = self.collect_errors()
        first = answer()
        self.addCleanup(first.close)
        task = TASK(first, loop=self.loop)
        coro = answer()
        asyncio.Task.__init__(task, coro, loop=self.loop)
        self.assertIs(task.get_coro(), coro)
        self.assertEqual(self.loop.run_until_complete(task), 42)
        self.run_briefly()
        self.assertLessEqual(len(errors), 1)


class NeverCrashTests(unittest.TestCase):
    """What crashes (or not) is checked in a child process."""

    def run_code(self, code):
        # The child imports the classes under test by this package's name.
        header = f'from {support.PACKAGE}.test_task import TASK, FUTURE\n'
        proc = support.run_child(header + textwrap.dedent(code), timeout=120)
        self.assertEqual(proc.returncode, 0, support.describe_child(proc))
        return proc.stdout

    @support.aioev_only  # asyncio's own get_coro() crashes on such a task
    def test_every_asyncio_method_on_objects_never_initialised(self):
        out = self.run_code(f"""
            import asyncio
            calls = 0
            for cls, bases in ((TASK, (asyncio.Task, asyncio.Future, TASK)),
                               (FUTURE, (asyncio.Future, FUTURE))):
                for base in bases:
                    for name in dir(base):
                        if name in ('__init__', '__new__', '__init_subclass__',
                                    '__class__', '__subclasshook__'):
                            continue
                        obj = cls.__new__(cls)
                        attr = getattr(base, name)
                        if not callable(attr):
                            continue
                        for args in ((), (None,), (print,)):
                            try:
                                attr(obj, *args)
                            except Exception:
                                pass
                            calls += 1
                        del obj
            print(calls)
        """)
        self.assertGreater(int(out), 100)

    def test_cancel_in_a_cycle_of_tasks_raises_recursion_error(self):
        out = self.run_code("""
            loop = new_event_loop()
            async def a():
                await tb
            async def b():
                await ta
            ta = TASK(a(), loop=loop)
            tb = TASK(b(), loop=loop)
            for _ in range(2):
                loop.run_until_complete(asyncio.sleep(0))
            try:
                ta.cancel()
            except RecursionError:
                print('RecursionError')
        """)
        self.assertEqual(out.strip(), 'RecursionError')

    def test_cancel_head_of_a_long_chain_raises_recursion_error(self):
        out = self.run_code("""
            import sys
            loop = new_event_loop()
            async def link(prev):
                if prev is None:
                    await asyncio.sleep(3600)
                else:
                    await prev
            prev = None
            for _ in range(200_000):
                prev = TASK(link(prev), loop=loop)
            for _ in range(2):
                loop.run_until_complete(asyncio.sleep(0))
            try:
                prev.cancel()
            except RecursionError:
                print('RecursionError')
            sys.stdout.flush()
            import os
            os._exit(0)  # tearing 200,000 tasks down is not the test
        """)
        self.assertEqual(out.strip(), 'RecursionError')


if __name__ == '__main__':
    unittest.main()
