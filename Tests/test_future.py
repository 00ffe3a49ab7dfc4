"""aioev.Future (Modules/_aioev/future.cpp): the Future a loop makes, the
Future as asyncio's own class sees it, and misuse that must not crash it.

Every test runs on the Future class under test: aioev.Future on an aioev
loop (the default) and asyncio.Future on asyncio's own loop with
AIOEV_TEST_LOOP=asyncio, so each assertion is checked against asyncio's
behaviour first.  A Task's Future behaviour (its result, cancellation and
done callbacks) is tested on Tasks in test_task; CPython's own
test_asyncio.test_futures runs on aioev.Future in test_conformance.
"""

import asyncio
import contextvars
import gc
import unittest

from .support import LoopTestCase, aioev_only
# The classes under test, as test_task picks them; the loop's own Future
# type, as test_create_task finds it.
from .test_task import FUTURE, aioev
from .test_create_task import FUTURE_TYPE


cvar = contextvars.ContextVar('cvar', default='default')


class FutureTestCase(LoopTestCase):

    def new_future(self):
        return FUTURE(loop=self.loop)


# ---------------------------------------------------------------------------
# loop.create_future and Futures completed through the loop


class CreateFutureTests(LoopTestCase):

    def test_create_future_returns_the_loops_future(self):
        fut = self.loop.create_future()
        self.assertIs(type(fut), FUTURE_TYPE)
        self.assertTrue(asyncio.isfuture(fut))
        self.assertIs(fut.get_loop(), self.loop)
        self.assertFalse(fut.done())
        fut.cancel()

    @aioev_only
    def test_create_future_without_native_task_is_asyncio_future(self):
        loop = aioev.new_event_loop(native_task=False)
        try:
            fut = loop.create_future()
            self.assertIs(type(fut), asyncio.Future)
            fut.cancel()
        finally:
            loop.close()

    def test_future_result_through_the_loop(self):
        fut = self.loop.create_future()
        self.loop.call_later(0.01, fut.set_result, 'value')
        self.assertEqual(self.loop.run_until_complete(fut), 'value')

    def test_future_done_callbacks_run_from_the_loop(self):
        fut = self.loop.create_future()
        calls = []
        fut.add_done_callback(lambda f: calls.append(f.result()))
        fut.set_result(1)
        self.assertEqual(calls, [])
        self.run_briefly()
        self.assertEqual(calls, [1])

    def test_future_done_callback_context(self):
        fut = self.loop.create_future()
        ctx = contextvars.Context()
        ctx.run(cvar.set, 'cb ctx')
        seen = []
        fut.add_done_callback(lambda f: seen.append(cvar.get()), context=ctx)
        fut.set_result(None)
        self.run_briefly()
        self.assertEqual(seen, ['cb ctx'])

    def test_futures_of_the_loop_constructed_directly(self):
        fut = asyncio.Future(loop=self.loop)
        self.assertIs(fut.get_loop(), self.loop)
        self.loop.call_soon(fut.set_result, 3)
        self.assertEqual(self.loop.run_until_complete(fut), 3)

    def test_unretrieved_future_exception_is_reported(self):
        errors = self.collect_errors()
        fut = self.loop.create_future()
        fut.set_exception(ZeroDivisionError())
        del fut
        gc.collect()
        self.assertEqual(len(errors), 1)
        self.assertEqual(errors[0]['message'],
                         'Future exception was never retrieved')
        self.assertIsInstance(errors[0]['exception'], ZeroDivisionError)

    def test_create_future_on_closed_loop_still_works(self):
        # asyncio does not check: the future just can never complete
        # through the loop.
        self.loop.close()
        fut = self.loop.create_future()
        self.assertIs(fut.get_loop(), self.loop)


# ---------------------------------------------------------------------------
# The Future as asyncio's own class sees it


class FutureAsAsyncioFutureTests(LoopTestCase):
    """aioev.Future is a subclass of asyncio's C Future whose state lives in
    asyncio's own fields: isinstance() holds, asyncio.Future.<method>(fut)
    works on it, and asyncio's __init__ run again rebinds it."""

    def test_future_is_an_asyncio_future_not_a_task(self):
        fut = FUTURE(loop=self.loop)
        self.assertIsInstance(fut, asyncio.Future)
        self.assertNotIsInstance(fut, asyncio.Task)
        self.assertTrue(issubclass(FUTURE, asyncio.Future))

    def test_future_methods(self):
        fut = FUTURE(loop=self.loop)
        calls = []
        asyncio.Future.add_done_callback(fut, lambda f: calls.append(f.result()))
        self.assertIs(asyncio.Future.get_loop(fut), self.loop)
        self.assertFalse(asyncio.Future.done(fut))
        asyncio.Future.set_result(fut, 5)
        self.assertTrue(fut.done())
        self.assertEqual(asyncio.Future.result(fut), 5)
        self.assertIsNone(asyncio.Future.exception(fut))
        self.assertEqual(fut._state, 'FINISHED')
        self.run_briefly()
        self.assertEqual(calls, [5])
        self.assertEqual(asyncio.Future.__repr__(fut), repr(fut))

    def test_future_set_exception_and_cancel_through_the_class(self):
        fut = FUTURE(loop=self.loop)
        asyncio.Future.set_exception(fut, KeyError('k'))
        with self.assertRaises(KeyError):
            fut.result()
        other = FUTURE(loop=self.loop)
        self.assertTrue(asyncio.Future.cancel(other, 'why'))
        self.assertTrue(other.cancelled())
        with self.assertRaisesRegex(asyncio.CancelledError, '^why$'):
            other.result()

    def test_callbacks_added_either_way_share_one_list(self):
        fut = FUTURE(loop=self.loop)
        order = []
        fut.add_done_callback(lambda f: order.append('own'))
        asyncio.Future.add_done_callback(fut, lambda f: order.append('asyncio'))
        fut.add_done_callback(lambda f: order.append('own again'))
        self.assertEqual(len(fut._callbacks), 3)
        fut.set_result(None)
        self.run_briefly()
        self.assertEqual(order, ['own', 'asyncio', 'own again'])

    def test_future_init_rebinds_to_another_loop(self):
        other = asyncio.new_event_loop()
        self.addCleanup(other.close)
        fut = FUTURE(loop=self.loop)
        asyncio.Future.__init__(fut, loop=other)
        self.assertIs(fut.get_loop(), other)
        fut.set_result(1)  # schedules through the other loop, not self.loop
        calls = []
        fut.add_done_callback(calls.append)
        other.run_until_complete(asyncio.sleep(0))
        self.assertEqual(calls, [fut])


# ---------------------------------------------------------------------------
# Misuse: an object whose __init__ never ran, odd arguments, the iterator


class FutureMisuseTests(FutureTestCase):

    def test_future_before_init_refuses_what_needs_a_loop(self):
        fut = FUTURE.__new__(FUTURE)
        self.assertFalse(fut.done())
        self.assertFalse(fut.cancelled())
        with self.assertRaises(asyncio.InvalidStateError):
            fut.result()
        with self.assertRaises(asyncio.InvalidStateError):
            fut.exception()
        for call in (fut.get_loop, fut.cancel, fut.__await__, fut.__iter__,
                     lambda: fut.set_result(1),
                     lambda: fut.set_exception(ValueError),
                     lambda: fut.add_done_callback(print),
                     lambda: fut.remove_done_callback(print)):
            with self.subTest(call=call):
                with self.assertRaisesRegex(RuntimeError, 'initialized'):
                    call()
        del fut
        gc.collect()

    def test_add_done_callback_fn_is_positional_only(self):
        fut = self.new_future()
        with self.assertRaises(TypeError):
            fut.add_done_callback(fn=print)
        self.assertIsNone(fut._callbacks)

    def test_exception_class_whose_constructor_completes_the_future(self):
        fut = self.new_future()

        class Completes(Exception):
            def __init__(self):
                fut.set_result('from __init__')

        with self.assertRaises(asyncio.InvalidStateError):
            fut.set_exception(Completes)
        self.assertEqual(fut.result(), 'from __init__')

    def test_exception_class_whose_constructor_returns_garbage(self):
        class Garbage(Exception):
            def __new__(cls, *args):
                return 42

        fut = self.new_future()
        with self.assertRaises(TypeError):
            fut.set_exception(Garbage)
        self.assertFalse(fut.done())

    def test_await_iterator_after_it_is_exhausted_or_thrown_into(self):
        fut = self.new_future()
        it = fut.__await__()
        self.assertIs(next(it), fut)
        with self.assertRaisesRegex(RuntimeError, "await wasn't used"):
            next(it)
        fut.set_result((1, 2))
        with self.assertRaises(StopIteration) as cm:
            next(it)
        self.assertEqual(cm.exception.value, (1, 2))
        with self.assertRaises(StopIteration):
            next(it)
        thrown = fut.__await__()
        with self.assertRaises(ValueError):
            thrown.throw(ValueError)
        with self.assertRaises(StopIteration):
            next(thrown)
        with self.assertRaises(TypeError):
            fut.__await__().throw(42)
        closed = fut.__await__()
        closed.close()
        with self.assertRaises(StopIteration):
            next(closed)


# ---------------------------------------------------------------------------
# remove_done_callback re-entered through a callback's __eq__


class Evil:
    """A done callback whose __eq__ runs `action` and then says "no"."""

    def __init__(self, action=None):
        self.action = action
        self.calls = 0

    def __call__(self, fut):
        self.calls += 1

    def __eq__(self, other):
        if self.action is not None:
            self.action()
        return False

    __hash__ = object.__hash__


def noop(fut):
    pass


class RemoveDoneCallbackReentrancyTests(FutureTestCase):

    def test_remove_done_callback_when_eq_raises(self):
        fut = self.new_future()

        class Raises(Evil):
            def __eq__(self, other):
                raise ZeroDivisionError

        evil = Raises()
        fut.add_done_callback(noop)
        fut.add_done_callback(evil)
        fut.add_done_callback(noop)
        with self.assertRaises(ZeroDivisionError):
            fut.remove_done_callback(noop)
        self.assertEqual([cb for cb, _ in fut._callbacks], [evil, noop])

    def test_remove_done_callback_when_eq_adds_callbacks(self):
        fut = self.new_future()

        def add_three():
            for _ in range(3):
                fut.add_done_callback(noop)

        evil = Evil(add_three)
        fut.add_done_callback(noop)
        fut.add_done_callback(evil)
        fut.add_done_callback(noop)
        self.assertEqual(fut.remove_done_callback(noop), 5)
        self.assertEqual([cb for cb, _ in fut._callbacks], [evil])

    def test_remove_done_callback_when_eq_reinitialises_the_future(self):
        fut = self.new_future()
        evil = Evil(lambda: fut.__init__(loop=self.loop))
        for cb in (evil, evil, noop, evil):
            fut.add_done_callback(cb)
        self.assertEqual(fut.remove_done_callback(noop), 0)
        self.assertIsNone(fut._callbacks)

    def test_remove_done_callback_when_eq_schedules_the_callbacks(self):
        fut = self.new_future()
        evil = Evil(fut.cancel)
        for cb in (noop, evil, evil):
            fut.add_done_callback(cb)
        # asyncio counts every callback of the list it lost to cancel().
        self.assertEqual(fut.remove_done_callback(noop), 3)
        self.assertTrue(fut.cancelled())
        self.assertIsNone(fut._callbacks)
        self.run_briefly()
        self.assertEqual(evil.calls, 2)

    def test_remove_done_callback_when_eq_replaces_the_callbacks(self):
        # The first comparison removes every `evil` and adds a noop: the
        # removal stops there, as the list it walked is gone.
        fut = self.new_future()
        evil = Evil()
        evil.action = lambda: (fut.remove_done_callback(evil),
                               fut.add_done_callback(noop))
        for cb in (noop, evil, evil):
            fut.add_done_callback(cb)
        self.assertEqual(fut.remove_done_callback(noop), 3)
        self.assertEqual([cb for cb, _ in fut._callbacks], [noop])


if __name__ == '__main__':
    unittest.main()
