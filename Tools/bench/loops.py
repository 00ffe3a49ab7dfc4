"""The event loops the benchmark compares, and what the other modules of
Tools/bench share: where the source tree is, how an error reads.

aioev and asyncio's own loop always take part; uvloop, rloop and zloop when
they are installed (Tools/bench/requirements.txt pins them).  A loop that is
not installed is named in the report, not measured.
"""

import asyncio
import dataclasses
import functools
import importlib
import importlib.metadata
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent  # the source tree

# The loop kind that runs the task benchmarks on aioev with the Task class
# that aioev.new_event_loop() does not choose by default: asyncio's, or aioev's.
AIOEV_ASYNCIO_TASK = "aioev (asyncio Task)"
AIOEV_NATIVE_TASK = "aioev (aioev Task)"
AIOEV_OTHER_TASK = (AIOEV_ASYNCIO_TASK, AIOEV_NATIVE_TASK)

# The other native loops: name -> the module whose new_event_loop() makes one.
OPTIONAL_LOOPS = ("uvloop", "rloop", "zloop")

# The loops aioev is compared with, in the order of the ratio columns.
OTHERS = ("asyncio",) + OPTIONAL_LOOPS
BEST = "best other"  # the ratio column over the best of OTHERS in a cell


class ServerFailed(Exception):
    """A server cell failed; the message says why."""


def describe(exc):
    if isinstance(exc, ServerFailed):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def import_aioev():
    """aioev as installed, else from the source tree's Lib/ (a built tree)."""
    try:
        import aioev
    except ImportError:
        lib = str(ROOT / "Lib")
        if lib in sys.path or not (ROOT / "Lib" / "aioev").is_dir():
            raise
        sys.path.insert(0, lib)
        import aioev
    return aioev


def loop_factory(name):
    """What makes a new loop of the kind name (in a server process)."""
    if name == "aioev":
        return import_aioev().new_event_loop
    if name == "asyncio":
        return asyncio.SelectorEventLoop
    if name in OPTIONAL_LOOPS:
        return importlib.import_module(name).new_event_loop
    raise ValueError(f"unknown loop {name}")


@dataclasses.dataclass
class LoopKind:
    name: str
    factory: object  # makes a new loop; None if the module did not import
    version: str
    error: str | None = None  # why the module did not import
    tasks_only: bool = False  # runs the task benchmarks only
    skipped: str | None = None  # why it is left out of the run
    task_type: str | None = None  # what its loops' create_task makes


def find_loops():
    """(the loop kinds to run, the optional loops that are not installed).
    The kinds: aioev (with its default Task and with asyncio's), asyncio's
    selector loop, and each optional loop that imports."""
    loops = aioev_loops() + [LoopKind("asyncio", asyncio.SelectorEventLoop, "stdlib")]
    missing = {}
    for name in OPTIONAL_LOOPS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            missing[name] = "not installed"
            continue
        except Exception as exc:  # installed, but broken
            loops.append(LoopKind(name, None, "-", f"{name} did not import: {describe(exc)}"))
            continue
        factory = getattr(module, "new_event_loop", None)
        if factory is None:
            loops.append(LoopKind(name, None, version_of(module),
                                  f"{name} has no new_event_loop()"))
        else:
            loops.append(LoopKind(name, factory, version_of(module)))
    for loop_kind in loops:
        if loop_kind.task_type is None:  # aioev's is known already
            probe_tasks(loop_kind)
    return loops, missing


def aioev_loops():
    """aioev.new_event_loop() as it comes, and, for the task benchmarks, the
    same loop with the other Task class (native_task=True or False)."""
    try:
        aioev = import_aioev()
    except ImportError as exc:
        error = f"aioev did not import: {describe(exc)}"
        return [LoopKind("aioev", None, "-", error),
                LoopKind(AIOEV_ASYNCIO_TASK, None, "-", error, tasks_only=True)]
    version = version_of(aioev)
    default = LoopKind("aioev", aioev.new_event_loop, version)
    probe_tasks(default)
    if default.task_type == "asyncio.Task":
        name, native = AIOEV_NATIVE_TASK, True
    else:
        name, native = AIOEV_ASYNCIO_TASK, False
    return [default, LoopKind(name, functools.partial(aioev.new_event_loop, native_task=native),
                              version, tasks_only=True)]


def probe_tasks(loop_kind):
    """Fill in which class loop_kind's create_task makes.  A kind whose
    factory does not take native_task= yet is skipped."""
    if loop_kind.error:
        return

    async def nothing():
        pass

    try:
        loop = loop_kind.factory()
    except Exception as exc:
        if isinstance(exc, TypeError) and "native_task" in str(exc):
            loop_kind.skipped = ("aioev.new_event_loop() takes no native_task keyword"
                                 " in this build")
        else:
            loop_kind.error = f"{loop_kind.name} did not make a loop: {describe(exc)}"
        return
    try:
        task = loop.create_task(nothing())
        loop.run_until_complete(task)
        loop_kind.task_type = type_name(type(task))
    except Exception as exc:
        loop_kind.task_type = f"unknown ({describe(exc)})"
    finally:
        loop.close()


def type_name(cls):
    if cls is asyncio.Task:
        return "asyncio.Task"
    module = cls.__module__
    if module.startswith("aioev."):
        module = "aioev"  # where the public name is
    return f"{module}.{cls.__qualname__}"


def version_of(module):
    try:
        return module.__version__
    except AttributeError:
        pass
    try:
        return importlib.metadata.version(module.__name__)
    except importlib.metadata.PackageNotFoundError:
        return "(version unknown)"


def ratio_columns(names):
    """The ratio columns of a table whose loop columns are names: aioev over
    each other loop, over the best of them, and aioev with asyncio's Task
    over uvloop."""
    others = [other for other in OTHERS if other in names]
    pairs = [("aioev", other) for other in others]
    if len(others) > 1:
        pairs.append(("aioev", BEST))
    for name in AIOEV_OTHER_TASK:
        if name in names and "uvloop" in names:
            pairs.append((name, "uvloop"))
    return pairs


def cell_ratio(values, top, bottom, higher_is_better=True):
    """values[top] / values[bottom], bottom BEST standing for the best of
    OTHERS among values; None when a value is missing or zero.  values maps
    loop names to figures (None for an error)."""
    if bottom == BEST:
        present = [values[name] for name in OTHERS if values.get(name) is not None]
        if not present:
            return None
        bottom_value = max(present) if higher_is_better else min(present)
    else:
        bottom_value = values.get(bottom)
    top_value = values.get(top)
    if top_value is None or not bottom_value:
        return None
    return top_value / bottom_value


def progress(message):
    print(f"  ... {message}", file=sys.stderr, flush=True)


def format_times(value):
    return "-" if value is None else f"{value:.2f}x"


def print_rows(rows):
    """The first column left-aligned, the others right-aligned."""
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    for row in rows:
        cells_text = [row[0].ljust(widths[0])]
        cells_text += [text.rjust(width) for text, width in zip(row[1:], widths[1:])]
        print("  ".join(cells_text))
