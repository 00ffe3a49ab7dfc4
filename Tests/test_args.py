"""The TypeErrors of a call that does not fit a method's parameters are
asyncio's, word for word (Modules/_aioev/args.cpp): each call is made on
asyncio's own loop, Future, Task or datagram transport and on aioev's, and
the messages compared. The loop methods and sendto() are Python functions in
asyncio (the interpreter's messages, named by qualified name), the Future and
Task methods C methods (Argument Clinic's, which change with the version).
"""

import asyncio
import socket
import unittest

from . import support

support.import_aioev()
import aioev  # noqa: E402


async def coro():
    pass


def message(call):
    try:
        call()
    except TypeError as exc:
        return str(exc)
    return None


class ArgumentErrorTestCase(unittest.TestCase):

    def setUp(self):
        self.loops = {}
        for kind, factory in (('asyncio', asyncio.new_event_loop),
                              ('aioev', aioev.new_event_loop)):
            loop = factory()
            self.addCleanup(loop.close)
            self.loops[kind] = loop

    def assertSameMessages(self, make, calls):
        """make(loop) gives the object; each call(obj) fails as asyncio's."""
        objects = {kind: make(loop) for kind, loop in self.loops.items()}
        for name, call in calls.items():
            with self.subTest(name):
                expected = message(lambda: call(objects['asyncio']))
                self.assertIsNotNone(expected)
                self.assertEqual(message(lambda: call(objects['aioev'])), expected)


class LoopArgumentsTest(ArgumentErrorTestCase):

    def test_call_soon(self):
        self.assertSameMessages(lambda loop: loop, {
            'no callback': lambda loop: loop.call_soon(),
            'no callback, a context': lambda loop: loop.call_soon(context=None),
            'unknown keyword': lambda loop: loop.call_soon(print, x=1),
            'unknown keyword after context': lambda loop: loop.call_soon(
                print, 1, context=None, y=2),
        })

    def test_call_soon_threadsafe(self):
        self.assertSameMessages(lambda loop: loop, {
            'no callback': lambda loop: loop.call_soon_threadsafe(),
            'unknown keyword': lambda loop: loop.call_soon_threadsafe(print, x=1),
        })

    def test_call_later(self):
        self.assertSameMessages(lambda loop: loop, {
            'nothing': lambda loop: loop.call_later(),
            'no callback': lambda loop: loop.call_later(1),
            # Binding comes before asyncio's own check of delay.
            'no callback, delay None': lambda loop: loop.call_later(None),
            'delay None': lambda loop: loop.call_later(None, print),
            'unknown keyword': lambda loop: loop.call_later(1, print, x=1),
        })

    def test_call_at(self):
        self.assertSameMessages(lambda loop: loop, {
            'nothing': lambda loop: loop.call_at(),
            'no callback': lambda loop: loop.call_at(1),
            'no callback, when None': lambda loop: loop.call_at(None),
            'when None': lambda loop: loop.call_at(None, print),
            'unknown keyword': lambda loop: loop.call_at(1, print, x=1),
        })

    def test_create_task(self):
        self.assertSameMessages(lambda loop: loop, {
            'no coroutine': lambda loop: loop.create_task(),
            'two coroutines': lambda loop: loop.create_task(None, None),
        })


class FutureArgumentsTest(ArgumentErrorTestCase):

    def test_add_done_callback(self):
        self.assertSameMessages(lambda loop: loop.create_future(), {
            'no fn': lambda f: f.add_done_callback(),
            'fn by keyword': lambda f: f.add_done_callback(fn=print),
            'two positional': lambda f: f.add_done_callback(print, None),
            'unknown keyword': lambda f: f.add_done_callback(print, x=1),
            'too many': lambda f: f.add_done_callback(print, context=None, x=1),
        })

    def test_cancel(self):
        self.assertSameMessages(lambda loop: loop.create_future(), {
            'two positional': lambda f: f.cancel(1, 2),
            'msg twice': lambda f: f.cancel(1, msg=2),
            'unknown keyword': lambda f: f.cancel(x=1),
            'two keywords': lambda f: f.cancel(msg=1, x=2),
        })


class TaskArgumentsTest(ArgumentErrorTestCase):

    def make_task(self, loop):
        task = loop.create_task(coro())
        self.addCleanup(loop.run_until_complete, task)
        return task

    def test_cancel(self):
        self.assertSameMessages(self.make_task, {
            'two positional': lambda t: t.cancel(1, 2),
            'msg twice': lambda t: t.cancel(1, msg=2),
            'unknown keyword': lambda t: t.cancel(x=1),
        })

    def test_get_stack_and_print_stack(self):
        self.assertSameMessages(self.make_task, {
            'get_stack positional': lambda t: t.get_stack(1),
            'get_stack unknown keyword': lambda t: t.get_stack(x=1),
            'print_stack positional': lambda t: t.print_stack(1),
            'print_stack three': lambda t: t.print_stack(1, 2, 3),
            'print_stack unknown keyword': lambda t: t.print_stack(limit=1, x=1),
        })


class DatagramArgumentsTest(ArgumentErrorTestCase):

    def make_transport(self, loop):
        async def endpoint():
            return await loop.create_datagram_endpoint(asyncio.DatagramProtocol,
                                                       sock=mine)
        mine, peer = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(peer.close)
        transport, _ = loop.run_until_complete(endpoint())

        def close():
            transport.close()
            loop.run_until_complete(asyncio.sleep(0))
        self.addCleanup(close)
        return transport

    def test_sendto(self):
        self.assertSameMessages(self.make_transport, {
            'no data': lambda t: t.sendto(),
            'only addr': lambda t: t.sendto(addr=None),
            'three positional': lambda t: t.sendto(b'x', None, 3),
            'unknown keyword': lambda t: t.sendto(b'x', x=3),
            'data twice': lambda t: t.sendto(b'x', data=b'y'),
            'addr twice': lambda t: t.sendto(b'x', None, addr=None),
        })

    def test_sendto_by_keyword_sends(self):
        transport = self.make_transport(self.loops['aioev'])
        transport.sendto(data=b'x', addr=None)


if __name__ == '__main__':
    unittest.main()
