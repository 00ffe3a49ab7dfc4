"""aioev: a fast asyncio event loop in C++ over libev.

Run a program on it with ``aioev.run(main())``, or
``asyncio.run(main(), loop_factory=aioev.new_event_loop)`` (3.12+), or set
``aioev.EventLoopPolicy()`` as the event loop policy.
"""

import asyncio as _asyncio
import importlib as _importlib
import sys as _sys

try:
    # import_module, not "from . import": only it says which module is missing.
    _importlib.import_module('._aioev', __name__)
except ModuleNotFoundError as _error:
    # Vendored into CPython (Doc/vendoring.rst) the extension is the top-level
    # _aioev (makesetup takes no dotted names); registered under the package's
    # name, it is what every "from . import _aioev" below finds.
    if _error.name != __name__ + '._aioev':
        raise
    try:
        import _aioev
    except ModuleNotFoundError:
        # Neither: the error names the wheel's module, the one to build.
        raise _error from None
    _sys.modules[__name__ + '._aioev'] = _aioev
import typing as _typing
from collections.abc import Coroutine as _Coroutine

from . import _compat
from ._aioev import Future, Task
from ._loop import Loop

__all__ = ('Loop', 'new_event_loop', 'run', 'EventLoopPolicy', 'Task', 'Future')
__version__ = '0.1.0'


_T = _typing.TypeVar('_T')


def new_event_loop(*, native_task: 'bool | None' = None) -> Loop:
    """Return a new aioev event loop.

    Its create_task() and create_future() make aioev.Task and aioev.Future
    (subclasses of asyncio's); with native_task=False (or the environment
    variable AIOEV_NATIVE_TASK=0) asyncio's own Task and Future instead.
    """
    return Loop(native_task=native_task)


if hasattr(_asyncio, 'create_eager_task_factory'):
    # asyncio.eager_task_factory's equivalent with aioev.Task (3.12+).
    eager_task_factory = _asyncio.create_eager_task_factory(Task)
    __all__ += ('eager_task_factory',)


def run(main: '_Coroutine[_typing.Any, _typing.Any, _T]', *, debug: 'bool | None' = None) -> _T:
    """Run the coroutine *main* on a new aioev loop, as asyncio.run() does."""
    if _compat.get_running_loop_or_none() is not None:
        # As asyncio.run(): refuse before a loop is made.
        raise RuntimeError("aioev.run() cannot be called from a running event loop")
    with _asyncio.Runner(debug=debug, loop_factory=new_event_loop) as runner:
        return runner.run(main)


class EventLoopPolicy(_asyncio.DefaultEventLoopPolicy):
    """An event loop policy whose loops are aioev loops."""

    def _loop_factory(self) -> Loop:
        return new_event_loop()

    def new_event_loop(self) -> Loop:
        return new_event_loop()
