"""loop.create_task: the Task class it makes (native_task,
AIOEV_NATIVE_TASK), its arguments and the task factory.  loop.create_future
is tested with the Future, in test_future.
"""

import asyncio
import contextvars
import os
import re
import sys
import unittest
import warnings

from . import support
from .support import USING_AIOEV, LoopTestCase, aioev_only, import_aioev

# The types a loop of the kind under test makes by default: asyncio's, or
# aioev's own where the loop says so (native_task, AIOEV_NATIVE_TASK=1).
FUTURE_TYPE, TASK_TYPE = asyncio.Future, asyncio.Task
aioev = None
if USING_AIOEV:
    aioev = import_aioev()
    _probe = aioev.new_event_loop()
    if _probe._native_task:
        FUTURE_TYPE, TASK_TYPE = aioev.Future, aioev.Task
    _probe.close()
    del _probe


cvar = contextvars.ContextVar('cvar', default='default')


async def answer():
    return 42


class CreateTaskTests(LoopTestCase):

    def test_create_task_returns_the_loops_task(self):
        task = self.loop.create_task(answer())
        self.assertIs(type(task), TASK_TYPE)
        self.assertIs(task.get_loop(), self.loop)
        self.assertEqual(self.loop.run_until_complete(task), 42)

    @aioev_only
    def test_create_task_without_native_task_is_asyncio_task(self):
        loop = aioev.new_event_loop(native_task=False)
        try:
            task = loop.create_task(answer())
            self.assertIs(type(task), asyncio.Task)
            self.assertEqual(loop.run_until_complete(task), 42)
        finally:
            loop.close()

    def test_create_task_name(self):
        task = self.loop.create_task(answer(), name='the answer')
        self.assertEqual(task.get_name(), 'the answer')
        self.loop.run_until_complete(task)

    def test_create_task_default_name(self):
        task = self.loop.create_task(answer())
        self.assertRegex(task.get_name(), r'^Task-\d+$')
        self.loop.run_until_complete(task)

    def test_create_task_context(self):
        ctx = contextvars.Context()
        ctx.run(cvar.set, 'task ctx')

        async def main():
            value = cvar.get()
            cvar.set('set in task')
            return value
        task = self.loop.create_task(main(), context=ctx)
        self.assertEqual(self.loop.run_until_complete(task), 'task ctx')
        self.assertEqual(ctx[cvar], 'set in task')
        self.assertEqual(cvar.get(), 'default')

    def test_create_task_copies_current_context(self):
        async def main():
            return cvar.get()
        token = cvar.set('copied')
        try:
            task = self.loop.create_task(main())
        finally:
            cvar.reset(token)
        self.assertEqual(self.loop.run_until_complete(task), 'copied')

    def test_create_task_rejects_non_coroutines(self):
        for bad in (1, None, answer):
            with self.subTest(bad=bad):
                with self.assertRaisesRegex(
                        TypeError, f'^a coroutine was expected, got {bad!r}$'):
                    self.loop.create_task(bad)

    def outcome(self, loop, call):
        """What call(loop, coro) gives: its exception, or the factory's kwargs."""
        coro = answer()
        try:
            task = call(loop, coro)
        except Exception as exc:
            coro.close()
            return type(exc), str(exc)
        task.cancel()
        return 'task', getattr(task, 'seen', None)

    def test_unusual_arguments_as_on_asyncio(self):
        # Other arguments than a coroutine, name and context take asyncio's
        # own path: its errors, word for word, and (3.13.3+) extra keyword
        # arguments handed on to the factory or the Task.
        def factory(loop, coro, **kwargs):
            task = asyncio.Task(coro, loop=loop)
            task.seen = sorted(kwargs)
            return task
        calls = {
            'no coroutine': lambda loop, coro: loop.create_task(),
            'two positional': lambda loop, coro: loop.create_task(coro, 'x'),
            'unknown keyword': lambda loop, coro: loop.create_task(coro, nam='x'),
            'eager_start': lambda loop, coro: loop.create_task(coro, eager_start=True),
            'factory, extra keyword': lambda loop, coro: (
                loop.set_task_factory(factory),
                loop.create_task(coro, name='n', extra=1, context=None))[1],
        }
        reference = asyncio.new_event_loop()
        self.addCleanup(reference.close)
        for what, call in calls.items():
            with self.subTest(what):
                expected = self.outcome(reference, call)
                self.assertEqual(self.outcome(self.loop, call), expected)
                reference.set_task_factory(None)
                self.loop.set_task_factory(None)
        self.run_briefly()
        reference.run_until_complete(asyncio.sleep(0))
        self.assertEqual(asyncio.all_tasks(self.loop), set())

    def test_task_sees_itself_as_current_and_in_all_tasks(self):
        async def main():
            me = asyncio.current_task()
            return me, asyncio.all_tasks()
        task = self.loop.create_task(main())
        me, tasks = self.loop.run_until_complete(task)
        self.assertIs(me, task)
        self.assertIn(task, tasks)
        self.assertNotIn(task, asyncio.all_tasks(self.loop))

    def test_task_cancel(self):
        async def sleeper():
            await asyncio.sleep(3600)
        task = self.loop.create_task(sleeper())
        self.run_briefly()
        task.cancel()
        with self.assertRaises(asyncio.CancelledError):
            self.loop.run_until_complete(task)
        self.assertTrue(task.cancelled())

    def test_gather_many_tasks(self):
        async def square(i):
            await asyncio.sleep(0)
            return i * i

        async def main():
            return await asyncio.gather(*(square(i) for i in range(100)))
        self.assertEqual(self.loop.run_until_complete(main()),
                         [i * i for i in range(100)])

    def test_ensure_future_with_loop(self):
        task = asyncio.ensure_future(answer(), loop=self.loop)
        self.assertIs(task.get_loop(), self.loop)
        self.assertEqual(self.loop.run_until_complete(task), 42)

    def test_task_exception_propagates(self):
        async def fail():
            raise ValueError('task failed')
        task = self.loop.create_task(fail())
        with self.assertRaisesRegex(ValueError, 'task failed'):
            self.loop.run_until_complete(task)

    @unittest.skipIf(sys.version_info < (3, 12),
                     'eager_task_factory is new in 3.12')
    def test_eager_task_factory(self):
        self.loop.set_task_factory(asyncio.eager_task_factory)
        order = []

        async def child():
            order.append('child ran')
            return 'eager'

        async def main():
            task = self.loop.create_task(child())
            order.append('after create_task')
            return await task
        self.assertEqual(self.loop.run_until_complete(main()), 'eager')
        self.assertEqual(order, ['child ran', 'after create_task'])


class TaskFactoryTests(LoopTestCase):

    def install_recording_factory(self):
        calls = []

        def factory(loop, coro, **kwargs):
            calls.append((loop, coro, kwargs))
            return asyncio.Task(coro, loop=loop, **kwargs)
        self.loop.set_task_factory(factory)
        return factory, calls

    def test_get_task_factory_default_none(self):
        self.assertIsNone(self.loop.get_task_factory())

    def test_set_and_get_task_factory(self):
        factory, _ = self.install_recording_factory()
        self.assertIs(self.loop.get_task_factory(), factory)
        self.loop.set_task_factory(None)
        self.assertIsNone(self.loop.get_task_factory())

    def test_factory_called_with_loop_and_coro_only(self):
        _, calls = self.install_recording_factory()
        coro = answer()
        task = self.loop.create_task(coro)
        self.assertEqual(len(calls), 1)
        loop, got_coro, kwargs = calls[0]
        self.assertIs(loop, self.loop)
        self.assertIs(got_coro, coro)
        self.assertEqual(kwargs, {})
        self.assertEqual(self.loop.run_until_complete(task), 42)

    def test_factory_gets_context_keyword_only_when_given(self):
        _, calls = self.install_recording_factory()
        ctx = contextvars.Context()
        task = self.loop.create_task(answer(), context=ctx)
        self.assertEqual(calls[0][2], {'context': ctx})
        self.loop.run_until_complete(task)

    def test_factory_does_not_get_name_but_the_task_is_named(self):
        _, calls = self.install_recording_factory()
        task = self.loop.create_task(answer(), name='named')
        self.assertEqual(calls[0][2], {})
        self.assertEqual(task.get_name(), 'named')
        self.loop.run_until_complete(task)

    def test_factory_result_is_returned(self):
        sentinel_task = []

        def factory(loop, coro, **kwargs):
            task = asyncio.Task(coro, loop=loop, **kwargs)
            sentinel_task.append(task)
            return task
        self.loop.set_task_factory(factory)
        task = self.loop.create_task(answer())
        self.assertIs(task, sentinel_task[0])
        self.loop.run_until_complete(task)

    def test_factory_used_by_run_until_complete_and_ensure_future(self):
        _, calls = self.install_recording_factory()
        self.assertEqual(self.loop.run_until_complete(answer()), 42)
        task = asyncio.ensure_future(answer(), loop=self.loop)
        self.loop.run_until_complete(task)
        self.assertEqual(len(calls), 2)

    def test_factory_used_for_tasks_created_inside_tasks(self):
        _, calls = self.install_recording_factory()

        async def main():
            return await asyncio.create_task(answer())
        self.assertEqual(self.loop.run_until_complete(main()), 42)
        self.assertEqual(len(calls), 2)

    def test_set_task_factory_rejects_non_callables(self):
        with self.assertRaisesRegex(
                TypeError, '^task factory must be a callable or None$'):
            self.loop.set_task_factory(1)

    def same_on_asyncio(self, scenario):
        """scenario(loop) on this loop and on asyncio's, with Task-N numbers out."""
        def run(loop):
            try:
                return re.sub(r'Task-\d+', 'Task-N', repr(scenario(loop)))
            finally:
                loop.set_task_factory(None)
                loop.run_until_complete(asyncio.sleep(0))
        reference = asyncio.new_event_loop()
        self.addCleanup(reference.close)
        expected = run(reference)
        self.assertEqual(run(self.loop), expected)
        return expected

    @unittest.skipIf(sys.version_info < (3, 12), 'eager tasks are new in 3.12')
    def test_task_named_after_the_factory_returns(self):
        # BaseEventLoop.create_task names the factory's task once it has it:
        # an eager step still sees the default name. 3.13 also names it when
        # no name is given (set_name(None)).
        seen = []

        async def child():
            seen.append(asyncio.current_task().get_name())
            await asyncio.sleep(0)

        def scenario(loop):
            seen.clear()
            loop.set_task_factory(asyncio.eager_task_factory)
            named = loop.create_task(child(), name='named')
            unnamed = loop.create_task(child())
            result = seen + [named.get_name(), unnamed.get_name()]
            loop.run_until_complete(asyncio.gather(named, unnamed))
            return result

        got = self.same_on_asyncio(scenario)
        self.assertIn("'named'", got)

    def test_factory_task_without_set_name(self):
        class Nameless:
            def __init__(self, task):
                self.task = task

        def factory(loop, coro, **kwargs):
            return Nameless(asyncio.Task(coro, loop=loop, **kwargs))

        def scenario(loop):
            loop.set_task_factory(factory)
            outcome = []
            for name in (None, 'named'):
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter('always')
                    try:
                        wrapper = loop.create_task(answer(), name=name)
                    except AttributeError as exc:
                        outcome.append(('AttributeError', str(exc)))
                    else:
                        outcome.append(type(wrapper).__name__)
                        loop.run_until_complete(wrapper.task)
                outcome.extend((w.category.__name__, str(w.message),
                                w.filename == __file__) for w in caught)
            return outcome

        self.same_on_asyncio(scenario)

    @unittest.skipIf(sys.version_info < (3, 12), 'eager tasks are new in 3.12')
    def test_eager_factory_of_a_constructor_as_on_asyncio(self):
        # A factory from create_eager_task_factory: its constructor gets what
        # the factory gives it; one whose defaults were changed is still
        # honoured.
        calls = []

        class Recording(asyncio.Task):
            def __init__(self, coro, **kwargs):
                calls.append(sorted(
                    (k, k if k in ('loop', 'context') else v)
                    for k, v in kwargs.items()))
                super().__init__(coro, **kwargs)

        changed = asyncio.create_eager_task_factory(Recording)
        changed.__kwdefaults__ = {'name': 'from-defaults', 'context': None}

        async def main(loop):
            ctx = contextvars.Context()
            out = []
            for factory in (asyncio.create_eager_task_factory(Recording), changed):
                loop.set_task_factory(factory)
                task = loop.create_task(answer(), context=ctx)
                out.append((type(task).__name__, task.done(), task.result(),
                            task.get_name()))
            return out

        def scenario(loop):
            calls.clear()
            return loop.run_until_complete(main(loop)), calls

        got = self.same_on_asyncio(scenario)
        self.assertIn("'from-defaults'", got)

    def test_factory_exception_propagates(self):
        def factory(loop, coro, **kwargs):
            coro.close()
            raise LookupError('factory failed')
        self.loop.set_task_factory(factory)
        with self.assertRaisesRegex(LookupError, 'factory failed'):
            self.loop.create_task(answer())


class CreateTaskClassTests(LoopTestCase):

    CHILD = """
        import aioev
        async def f():
            return 1
        loop = aioev.new_event_loop({args})
        task = loop.create_task(f())
        loop.run_until_complete(task)
        loop.close()
        print('aioev' if type(task) is aioev.Task else
              'asyncio' if type(task) is asyncio.Task else type(task))
    """

    def child_kind(self, args='', **env):
        environment = support.child_env(**env)
        if 'AIOEV_NATIVE_TASK' not in env:
            environment.pop('AIOEV_NATIVE_TASK', None)
        proc = support.run_child(self.CHILD.format(args=args),
                                 env=environment)
        self.assertEqual(proc.returncode, 0, support.describe_child(proc))
        return proc.stdout.strip()

    @aioev_only
    @unittest.skipIf('AIOEV_NATIVE_TASK' in os.environ,
                     'AIOEV_NATIVE_TASK is set for this run')
    def test_create_task_makes_an_aioev_task_by_default(self):
        task = self.loop.create_task(answer())
        self.assertIs(type(task), aioev.Task)
        self.assertEqual(self.loop.run_until_complete(task), 42)

    @aioev_only
    def test_native_task_false_makes_asyncio_tasks(self):
        loop = aioev.new_event_loop(native_task=False)
        self.addCleanup(loop.close)
        task = loop.create_task(answer())
        self.assertIs(type(task), asyncio.Task)
        self.assertEqual(loop.run_until_complete(task), 42)

    @aioev_only
    def test_native_task_true_makes_aioev_tasks(self):
        loop = aioev.new_event_loop(native_task=True)
        self.addCleanup(loop.close)
        task = loop.create_task(answer(), name='n')
        self.assertIs(type(task), aioev.Task)
        self.assertEqual(task.get_name(), 'n')
        self.assertEqual(loop.run_until_complete(task), 42)

    @aioev_only
    def test_loop_class_takes_native_task(self):
        loop = aioev.Loop(native_task=False)
        self.addCleanup(loop.close)
        task = loop.create_task(answer())
        self.assertIs(type(task), asyncio.Task)
        loop.run_until_complete(task)

    @aioev_only
    def test_native_create_task_passes_name_and_context(self):
        loop = aioev.new_event_loop(native_task=True)
        self.addCleanup(loop.close)
        ctx = contextvars.Context()
        ctx.run(cvar.set, 'native ctx')

        async def body():
            return cvar.get()
        task = loop.create_task(body(), name='named', context=ctx)
        self.assertEqual(task.get_name(), 'named')
        self.assertEqual(loop.run_until_complete(task), 'native ctx')

    @aioev_only
    def test_task_factory_overrides_native_task(self):
        loop = aioev.new_event_loop(native_task=True)
        self.addCleanup(loop.close)
        loop.set_task_factory(
            lambda loop, coro, **kw: asyncio.Task(coro, loop=loop, **kw))
        task = loop.create_task(answer())
        self.assertIs(type(task), asyncio.Task)
        loop.run_until_complete(task)

    @aioev_only
    def test_environment_variable_unset_selects_aioev_task(self):
        self.assertEqual(self.child_kind(), 'aioev')

    @aioev_only
    def test_environment_variable_zero_selects_asyncio_task(self):
        self.assertEqual(self.child_kind(AIOEV_NATIVE_TASK='0'), 'asyncio')

    @aioev_only
    def test_environment_variable_one_selects_aioev_task(self):
        self.assertEqual(self.child_kind(AIOEV_NATIVE_TASK='1'), 'aioev')

    @aioev_only
    def test_native_task_argument_wins_over_the_environment(self):
        self.assertEqual(
            self.child_kind('native_task=True', AIOEV_NATIVE_TASK='0'),
            'aioev')


if __name__ == '__main__':
    unittest.main()
