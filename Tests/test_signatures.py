"""Introspection of the C module: every public method and function of the
loop, the handles, the transports and aioev.Future/Task has a text signature
(inspect.signature works on it), its parameters are asyncio's where asyncio
has the method, and the type stub Lib/aioev/_aioev.pyi names the same types,
methods and parameters as the module does.
"""

import ast
import asyncio
import inspect
import os
import pathlib
import unittest
from asyncio import base_events, events, futures, selector_events, tasks, unix_events

from . import support

support.import_aioev()
import aioev  # noqa: E402
from aioev import _aioev  # noqa: E402

STUB = pathlib.Path(_aioev.__file__).with_name("_aioev.pyi")
if not STUB.exists():
    # The in-place module lives beside Lib/aioev's sources, a wheel's beside
    # its copy of the stub; a staged package (make asan) may have neither.
    STUB = pathlib.Path(support.ROOT_DIR, "Lib", "aioev", "_aioev.pyi")

# Each C type and the asyncio class whose methods it implements. asyncio's
# pure-Python Future and Task carry the signatures (the C ones in _asyncio
# have text signatures too, but the Python ones are the documented API).
ASYNCIO_COUNTERPART = {
    "Loop": base_events.BaseEventLoop,
    "Handle": events.Handle,
    "TimerHandle": events.TimerHandle,
    "Future": futures._PyFuture,
    "Task": tasks._PyTask,
    "SocketTransport": selector_events._SelectorSocketTransport,
    "DatagramTransport": selector_events._SelectorDatagramTransport,
    "ReadPipeTransport": unix_events._UnixReadPipeTransport,
    "WritePipeTransport": unix_events._UnixWritePipeTransport,
}


def c_types():
    return {name: obj for name, obj in vars(_aioev).items()
            if isinstance(obj, type) and not name.startswith("_")}


def public_c_methods(cls):
    """The public methods the C type defines itself (not inherited ones)."""
    return {name: obj for name, obj in vars(cls).items()
            if not name.startswith("_") and callable(obj)}


def parameters(sig, *, skip_self=True):
    """(name, kind, has default) of each parameter."""
    params = list(sig.parameters.values())
    if skip_self and params and params[0].name == "self":
        params = params[1:]
    return [(p.name, p.kind, p.default is not inspect.Parameter.empty) for p in params]


class TextSignatureTest(unittest.TestCase):

    def test_the_module_has_the_expected_types(self):
        self.assertEqual(set(c_types()), set(ASYNCIO_COUNTERPART))

    def test_every_public_c_method_has_a_signature(self):
        for tname, cls in c_types().items():
            for mname, meth in public_c_methods(cls).items():
                with self.subTest(f"{tname}.{mname}"):
                    self.assertIsNotNone(meth.__text_signature__)
                    sig = inspect.signature(meth)
                    self.assertEqual(next(iter(sig.parameters)), "self")
                    # Bound to an instance's class as users call it.
                    inspect.signature(getattr(cls, mname))

    def test_parameter_names_are_asyncios(self):
        checked = 0
        for tname, cls in c_types().items():
            counterpart = ASYNCIO_COUNTERPART[tname]
            for mname, meth in public_c_methods(cls).items():
                theirs = getattr(counterpart, mname, None)
                if theirs is None:
                    continue
                with self.subTest(f"{tname}.{mname}"):
                    ours = [p[0] for p in parameters(inspect.signature(meth))]
                    expected = [p[0] for p in parameters(inspect.signature(theirs))]
                    self.assertEqual(ours, expected)
                    checked += 1
        # Most of them are asyncio's: the comparison did not find nothing.
        self.assertGreater(checked, 60)

    def test_constructors_of_future_and_task(self):
        self.assertEqual(list(inspect.signature(aioev.Future).parameters), ["loop"])
        self.assertEqual(list(inspect.signature(aioev.Task).parameters),
                         ["coro", "loop", "name", "context", "eager_start"])

    def test_the_loop_class_signatures_work_on_an_instance(self):
        loop = aioev.new_event_loop()
        self.addCleanup(loop.close)
        for name in ("call_soon", "call_later", "call_at", "call_soon_threadsafe",
                     "create_task", "create_future", "time"):
            with self.subTest(name):
                ours = inspect.signature(getattr(loop, name))
                theirs = inspect.signature(getattr(asyncio.BaseEventLoop, name))
                self.assertEqual([p[0] for p in parameters(ours)],
                                 [p[0] for p in parameters(theirs)])


class PackageAnnotationTest(unittest.TestCase):

    def test_the_package_functions_are_annotated(self):
        # With py.typed, type checkers read aioev/__init__.py itself.
        # (eager_task_factory is asyncio's, made from aioev.Task.)
        funcs = {n: getattr(aioev, n) for n in aioev.__all__
                 if inspect.isfunction(getattr(aioev, n))
                 and getattr(aioev, n).__module__ == "aioev"}
        funcs["EventLoopPolicy.new_event_loop"] = aioev.EventLoopPolicy.new_event_loop
        self.assertIn("run", funcs)
        for name, func in funcs.items():
            with self.subTest(name):
                sig = inspect.signature(func)
                self.assertIsNot(sig.return_annotation, inspect.Signature.empty)
                for p in sig.parameters.values():
                    if p.name != "self":
                        self.assertIsNot(p.annotation, inspect.Parameter.empty, p.name)


def stub_classes():
    """{class name: {method name: ast.FunctionDef}} of the stub."""
    tree = ast.parse(STUB.read_text(), str(STUB))
    return {node.name: {f.name: f for f in node.body if isinstance(f, ast.FunctionDef)}
            for node in tree.body if isinstance(node, ast.ClassDef)}


def stub_parameters(func):
    a = func.args
    out = []
    positional = a.posonlyargs + a.args
    defaults = [None] * (len(positional) - len(a.defaults)) + list(a.defaults)
    for arg, default in zip(positional, defaults):
        kind = (inspect.Parameter.POSITIONAL_ONLY if arg in a.posonlyargs
                else inspect.Parameter.POSITIONAL_OR_KEYWORD)
        out.append((arg.arg, kind, default is not None))
    if a.vararg:
        out.append((a.vararg.arg, inspect.Parameter.VAR_POSITIONAL, False))
    for arg, default in zip(a.kwonlyargs, a.kw_defaults):
        out.append((arg.arg, inspect.Parameter.KEYWORD_ONLY, default is not None))
    if a.kwarg:
        out.append((a.kwarg.arg, inspect.Parameter.VAR_KEYWORD, False))
    return out[1:]  # self


@unittest.skipUnless(STUB.exists(), f"no stub at {STUB}")
class StubTest(unittest.TestCase):

    def test_py_typed_beside_the_stub(self):
        self.assertTrue(STUB.with_name("py.typed").exists())

    def test_the_stub_names_every_public_type(self):
        self.assertEqual(set(stub_classes()), set(c_types()))

    def test_the_stub_names_every_public_method(self):
        stub = stub_classes()
        for tname, cls in c_types().items():
            with self.subTest(tname):
                names = {n for n in stub[tname] if not n.startswith("_")}
                self.assertEqual(names, set(public_c_methods(cls)))

    def test_the_stub_parameters_are_the_modules(self):
        stub = stub_classes()
        for tname, cls in c_types().items():
            for mname, meth in public_c_methods(cls).items():
                with self.subTest(f"{tname}.{mname}"):
                    ours = parameters(inspect.signature(meth))
                    theirs = stub_parameters(stub[tname][mname])
                    if (tname, mname) == ("Loop", "create_task") and ours[-1][0] != "kwargs":
                        # **kwargs from asyncio 3.13.3 on (handed to the
                        # factory); a stub cannot name a patch release.
                        self.assertEqual(theirs[-1][0], "kwargs")
                        theirs = theirs[:-1]
                    self.assertEqual(theirs, ours)

    def test_the_stub_constructors_are_the_modules(self):
        stub = stub_classes()
        for tname in ("Future", "Task"):
            with self.subTest(tname):
                self.assertEqual(stub_parameters(stub[tname]["__init__"]),
                                 parameters(inspect.signature(c_types()[tname]),
                                            skip_self=False))


if __name__ == "__main__":
    unittest.main()
