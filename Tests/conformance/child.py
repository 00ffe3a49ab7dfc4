"""Run one module of CPython's test.test_asyncio in this process.

Started by run.py, once per module and per loop kind, as
``python child.py --loop KIND --module NAME --out FILE`` where KIND is one
of stdlib, aioev, standin, broken.

Every event loop made through the default policy (``asyncio.new_event_loop()``,
``asyncio.run()``, ``asyncio.Runner``, ``IsolatedAsyncioTestCase``) comes from
the chosen factory: the default policy class itself is patched, because many
stdlib tests reset the policy with ``asyncio.set_event_loop_policy(None)``,
which makes a fresh ``asyncio.DefaultEventLoopPolicy``.  The loop-parametrised
mixins (see MIXIN_MODULES) get one extra class whose ``create_event_loop``
(or ``new_loop``) uses the same factory; it replaces the module's
per-selector classes.

With --tasks (task mode) only the Task and Future test classes of
TASK_CLASSES run: the module's own ones for asyncio's C types with the stdlib
loop, classes rebuilt with the types under test (aioev.Task, aioev.Future)
with the other kinds.

Results go to --out as JSON lines, flushed one by one, so that the parent
still knows what ran when a test crashes the process or hangs and is killed
by faulthandler's watchdog.
"""

import argparse
import asyncio
import faulthandler
import importlib
import os
import signal
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))
import suitegate  # noqa: E402  (Tests/suitegate.py)
from suitegate import (  # noqa: E402
    LOOP_KINDS, JsonResult, iter_tests, make_factory, patch_default_policy,
    policy_factory_ok, select_tests)
del sys.path[0]


# module -> (the module's per-selector class to copy, the method that makes
# its loop, mixins to drop).  The copy keeps the class's bases (the mixin,
# test_utils.TestCase, ...) and gets a loop method that uses the factory
# under test.
MIXIN_MODULES = {
    'test_events': ('EPollEventLoopTests', 'create_event_loop', ()),
    'test_sock_lowlevel': ('EPollEventLoopTests', 'create_event_loop', ()),
    'test_sendfile': ('EPollEventLoopTests', 'create_event_loop', ()),
    'test_server': ('SelectorStartServerTests', 'new_loop', ()),
    'test_buffered_proto': ('BufferedProtocolSelectorTests', 'new_loop', ()),
    'test_sslproto': ('SelectorStartTLSTests', 'new_loop', ()),
}

# Name of the class made from the mixin; the same in every run so that test
# ids match between the stdlib and the aioev runs.
MIXIN_CLASS = 'ConformanceLoopTests'

def adapt_test_runners(module, factory):
    """Give test_runners' asyncio.run()/Runner tests the loop under test.

    Upstream, BaseTest.new_loop builds a BaseEventLoop with a mocked
    selector, so those tests would never touch the loop under test.  Here it
    makes a real loop of the chosen kind (the stdlib run gets the same
    change), keeping the check that shutdown_asyncgens() was called.
    """
    def new_loop(self):
        loop = factory()
        loop.shutdown_ag_run = False
        real_shutdown_asyncgens = loop.shutdown_asyncgens

        async def shutdown_asyncgens():
            loop.shutdown_ag_run = True
            await real_shutdown_asyncgens()
        loop.shutdown_asyncgens = shutdown_asyncgens
        return loop
    module.BaseTest.new_loop = new_loop


MODULE_ADAPTERS = {
    'test_runners': adapt_test_runners,
}


def add_mixin_class(module, factory):
    short = module.__name__.rpartition('.')[2]
    template_name, method, dropped = MIXIN_MODULES[short]
    template = getattr(module, template_name)
    bases = tuple(b for b in template.__bases__ if b.__name__ not in dropped)

    def make_loop(self):
        return factory()

    cls = type(MIXIN_CLASS, bases, {
        method: make_loop,
        '__module__': module.__name__,
        '__qualname__': MIXIN_CLASS,
    })
    setattr(module, MIXIN_CLASS, cls)
    # The per-selector classes do not involve the loop under test: drop them.
    mixin_roots = [b for b in bases
                   if not issubclass(b, unittest.TestCase)]
    for name, obj in list(vars(module).items()):
        if (isinstance(obj, type) and obj is not cls
                and issubclass(obj, unittest.TestCase)
                and any(issubclass(obj, m) for m in mixin_roots)
                and method in vars(obj)):
            delattr(module, name)


# ------------------------------------------------------------------ task mode
#
# With --tasks the child runs, instead of the whole module, the test classes
# of TASK_CLASSES: in the stdlib run the module's own classes for asyncio's C
# Task and C Future (the baseline), in the other runs classes built from the
# same bases with the Task and Future under test.  A built class's test
# test_x is compared with test_x of its baseline class.
#
# Not rebuilt: test_tasks' introspection tests (they take asyncio's
# _register_task/_enter_task functions, which aioev.Task calls rather than
# replaces), and the tests written for one of the module's classes only
# that check _asyncio itself (test_issue105987 calls
# _asyncio._swap_current_task, test_future_iter_get_referents_segfault
# walks _asyncio's referents).


class TaskTypesMissing(Exception):
    """The loop kind has no Task type to test (aioev.Task not built yet)."""


class TaskTypes:
    """The Task, Future and eager task factory under test."""

    def __init__(self, name, Task, Future, eager_task_factory):
        self.name = name
        self.Task = Task
        self.Future = Future
        self.eager_task_factory = eager_task_factory


def task_types(kind):
    from asyncio import futures, tasks
    if kind == 'aioev':
        aioev = suitegate.import_aioev()
        Task = getattr(aioev, 'Task', None)
        Future = getattr(aioev, 'Future', None)
        if Task is None or Future is None:
            missing = 'aioev.Task' if Task is None else 'aioev.Future'
            raise TaskTypesMissing(f'{missing} does not exist in the aioev '
                                   f'build at {aioev.__file__}')
        # None when missing: the eager-factory tests then fail, they are not
        # skipped (the factory belongs to the Task's API on 3.12+).
        factory = getattr(aioev, 'eager_task_factory', None)
        return TaskTypes('aioev', Task, Future, factory)
    if kind == 'standin':
        # asyncio's own C types: every test gives the baseline's outcome.
        return TaskTypes('standin', tasks._CTask, futures._CFuture,
                         getattr(asyncio, 'eager_task_factory', None))
    if kind == 'broken':
        # A Task that drops context=: proves that the comparison reports a
        # Task that is wrong.
        class BrokenTask(tasks._CTask):
            def __init__(self, coro, *, context=None, **kwargs):
                super().__init__(coro, **kwargs)
        factory = None
        if hasattr(asyncio, 'create_eager_task_factory'):
            factory = asyncio.create_eager_task_factory(BrokenTask)
        return TaskTypes('broken', BrokenTask, futures._CFuture, factory)
    raise TaskTypesMissing(f'no Task type for the loop kind {kind!r}')


def _derive(module, baseline, name, attrs, carry=(), bases=None):
    """A class with the baseline's bases (or the given ones) and attrs.

    carry names tests written in the baseline class's own body that check
    behaviour any Task or Future must have; they are copied over.
    """
    template = getattr(module, baseline)
    namespace = {'__module__': module.__name__, '__qualname__': name}
    for test in carry:
        if test in vars(template):
            namespace[test] = vars(template)[test]
    namespace.update(attrs)
    return type(name, bases or template.__bases__, namespace)


def _tasks_classes(module, types):
    from asyncio import futures, tasks
    Task, Future = types.Task, types.Future
    carry = ('test_del__log_destroy_pending_segfault',
             'test_refleaks_in_task___init__')
    yield _derive(module, 'CTask_CFuture_Tests',
                  'AioevTask_AioevFuture_Tests',
                  {'Task': Task, 'Future': Future}, carry)
    # No SetMethodsTest: _asyncio.Future.set_result() accepts only its own
    # instances, so it cannot be called on a foreign Task.
    yield _derive(module, 'CTask_CFuture_Tests', 'AioevTask_CFuture_Tests',
                  {'Task': Task, 'Future': futures._CFuture},
                  bases=(module.BaseTaskTests, module.test_utils.TestCase))
    cls = _derive(module, 'CTask_CFuture_SubclassTests',
                  'AioevTask_AioevFuture_SubclassTests',
                  {'Task': Task, 'Future': Future})
    yield module.add_subclass_tests(cls)

    def new_task(self, coro):
        return Task(coro, loop=self.loop)
    yield _derive(module, 'CCurrentLoopTests', 'AioevCurrentLoopTests',
                  {'current_task': staticmethod(tasks.current_task),
                   'new_task': new_task})


def _eager_classes(module, types):
    Task = types.Task
    carry = ('test_issue122332',)
    yield _derive(module, 'CEagerTaskFactoryLoopTests',
                  'AioevEagerTaskFactoryLoopTests', {'Task': Task}, carry)

    def setUp(self):
        # The base class installs asyncio.create_eager_task_factory(Task);
        # this one tests the factory aioev ships instead.
        super(cls, self).setUp()
        if types.eager_task_factory is None:
            raise AttributeError(f'{types.name} has no eager_task_factory')
        self.eager_task_factory = types.eager_task_factory
        self.loop.set_task_factory(self.eager_task_factory)
    cls = _derive(module, 'CEagerTaskFactoryLoopTests',
                  'AioevEagerTaskFactoryFunctionTests',
                  {'Task': Task, 'setUp': setUp}, carry)
    yield cls
    yield _derive(module, 'NonEagerCTaskTests', 'NonEagerAioevTaskTests',
                  {'Task': Task})
    yield _derive(module, 'EagerCTaskTests', 'EagerAioevTaskTests',
                  {'Task': Task})


def _futures_classes(module, types):
    Future = types.Future
    sub_future = type('AioevSubFuture', (Future,), {})
    yield _derive(module, 'CFutureTests', 'AioevFutureTests',
                  {'cls': Future}, ('test_future_del_segfault',))
    yield _derive(module, 'CSubFutureTests', 'AioevSubFutureTests',
                  {'cls': sub_future})
    yield _derive(module, 'CFutureDoneCallbackTests',
                  'AioevFutureDoneCallbackTests',
                  {'_new_future': lambda self: Future(loop=self.loop)})
    yield _derive(module, 'CSubFutureDoneCallbackTests',
                  'AioevSubFutureDoneCallbackTests',
                  {'_new_future': lambda self: sub_future(loop=self.loop)})
    yield _derive(module, 'CFutureInheritanceTests',
                  'AioevFutureInheritanceTests',
                  {'_get_future_cls': lambda self: Future})


# module -> (builder, {built class: its baseline class}).  A pair whose
# baseline class the interpreter's module lacks is left out.
TASK_CLASSES = {
    'test_tasks': (_tasks_classes, {
        'AioevTask_AioevFuture_Tests': 'CTask_CFuture_Tests',
        'AioevTask_CFuture_Tests': 'CTask_CFuture_Tests',
        'AioevTask_AioevFuture_SubclassTests': 'CTask_CFuture_SubclassTests',
        'AioevCurrentLoopTests': 'CCurrentLoopTests',
    }),
    'test_eager_task_factory': (_eager_classes, {
        'AioevEagerTaskFactoryLoopTests': 'CEagerTaskFactoryLoopTests',
        'AioevEagerTaskFactoryFunctionTests': 'CEagerTaskFactoryLoopTests',
        'NonEagerAioevTaskTests': 'NonEagerCTaskTests',
        'EagerAioevTaskTests': 'EagerCTaskTests',
    }),
    'test_futures': (_futures_classes, {
        'AioevFutureTests': 'CFutureTests',
        'AioevSubFutureTests': 'CSubFutureTests',
        'AioevFutureDoneCallbackTests': 'CFutureDoneCallbackTests',
        'AioevSubFutureDoneCallbackTests': 'CSubFutureDoneCallbackTests',
        'AioevFutureInheritanceTests': 'CFutureInheritanceTests',
    }),
}


def task_pairs(module):
    """{built class: baseline class} for the baseline classes module has."""
    short = module.__name__.rpartition('.')[2]
    _, pairs = TASK_CLASSES[short]
    return {new: old for new, old in pairs.items() if hasattr(module, old)}


def add_task_classes(module, types):
    short = module.__name__.rpartition('.')[2]
    builder, _ = TASK_CLASSES[short]
    wanted = task_pairs(module)
    for cls in builder(module, types):
        if cls.__name__ in wanted:
            setattr(module, cls.__name__, cls)


def _class_of(test_id):
    return test_id.rsplit('.', 2)[-2]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--loop', choices=LOOP_KINDS, required=True)
    parser.add_argument('--module')
    parser.add_argument('--out')
    parser.add_argument('--probe', action='store_true',
                        help='only check that a loop can be made and run')
    parser.add_argument('--skip', help='file of test ids not to run')
    parser.add_argument('--only', help='file of test ids to run')
    parser.add_argument('--match', action='append', default=[],
                        help='run only test ids matching this fnmatch '
                             'pattern (repeatable)')
    parser.add_argument('--timeout', type=float, default=60.0,
                        help='seconds one test (or fixture) may take')
    parser.add_argument('--tasks', action='store_true',
                        help='task mode: run the Task/Future classes of '
                             'TASK_CLASSES only')
    args = parser.parse_args()
    if args.probe and args.tasks:
        # Exit status 3 (and the reason on stdout) when there is no Task
        # type to test: the runner then skips task mode.
        try:
            types = task_types(args.loop)
        except TaskTypesMissing as exc:
            print(exc)
            sys.exit(3)
        for t in (types.Task, types.Future):
            print(t.__module__ + '.' + t.__qualname__)
        return
    if args.probe:
        loop = make_factory(args.loop)()
        loop.run_until_complete(asyncio.sleep(0.001))
        loop.close()
        print(type(loop).__module__ + '.' + type(loop).__qualname__)
        return
    if not args.module or not args.out:
        parser.error('--module and --out are required')

    out = open(args.out, 'a')
    faulthandler.enable()
    # A shell starts background jobs with SIGINT ignored; Python then keeps
    # it ignored and the tests that interrupt the main thread would hang.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    result = JsonResult(out, args.timeout)

    factory = make_factory(args.loop)
    patch_default_policy(factory)

    name = 'test.test_asyncio.' + args.module
    module = importlib.import_module(name)
    if args.module in MIXIN_MODULES:
        add_mixin_class(module, factory)
    if args.module in MODULE_ADAPTERS:
        MODULE_ADAPTERS[args.module](module, factory)
    pairs = {}
    if args.tasks:
        pairs = task_pairs(module)
        if args.loop != 'stdlib':
            add_task_classes(module, task_types(args.loop))

    loader = unittest.TestLoader()
    tests = list(iter_tests(loader.loadTestsFromModule(module)))
    if args.tasks:
        run_classes = set(pairs.values() if args.loop == 'stdlib' else pairs)
        tests = [t for t in tests if _class_of(t.id()) in run_classes]

    def names(test_id):
        # A baseline test also matches -k by the ids of its built classes.
        yield test_id
        if args.tasks and args.loop == 'stdlib':
            head, cls, method = test_id.rsplit('.', 2)
            for new, old in pairs.items():
                if old == cls:
                    yield f'{head}.{new}.{method}'

    tests = select_tests(tests, args.skip, args.only, args.match, names)
    result.emit(event='loaded', ids=[t.id() for t in tests], pairs=pairs)

    suite = unittest.TestSuite(tests)
    suite.run(result)
    result.emit(event='done', loops=suitegate.created_loops,
                policy_factory_ok=policy_factory_ok(factory))
    suitegate.finish_child(out)


if __name__ == '__main__':
    main()
