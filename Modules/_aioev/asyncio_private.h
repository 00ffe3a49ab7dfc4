// Every use of asyncio's private internals by the C++ code (Python's are in
// Lib/aioev/_compat.py): one function per operation, so that a CPython
// version that changes one of them is met here and nowhere else. Version
// branches read version.h's AIOEV_PY312 / AIOEV_PY313.
//
// What is used, in which versions, and why:
//
// - asyncio.tasks._current_tasks (3.11-3.13: a dict, loop -> task), or
//   _enter_task / _leave_task / _swap_current_task (3.12+) where it is not a
//   dict: a task is current while its step runs (current_task() sees it).
//   The dict is updated directly, as those functions do, to spare a call
//   per step; asyncio_enter_task and asyncio_leave_task are inline for the
//   step.
// - asyncio.tasks._scheduled_tasks (3.12+) or _all_tasks (3.11): the
//   WeakSet all_tasks() reads. A task is added at creation as
//   _register_task adds it, through the set's `data` (a set of weak
//   references), `_remove` (their callback) and `_pending_removals` (while
//   the set is iterated, its add() method runs instead, through
//   _register_task); a done task's weak reference is discarded.
// - asyncio.tasks._eager_tasks (3.12+, a set): an eager task is in it while
//   its first step runs, as asyncio's Task.__eager_start puts it.
// - asyncio.base_futures._future_repr, asyncio.base_tasks._task_repr,
//   _task_get_stack, _task_print_stack (3.11-3.13): repr(), get_stack() and
//   print_stack() of aioev.Future and aioev.Task, word for word asyncio's.
// - asyncio.futures._set_result_unless_cancelled (3.11-3.13): the callback
//   a transport's start schedules for its waiter, as asyncio's do.
// - asyncio.tasks.eager_task_factory's code object and the closure and
//   keyword defaults of the factory create_eager_task_factory() makes
//   (3.12+): create_task calls the constructor inside such a factory
//   directly (loop.cpp), without the factory's Python frame.
// - asyncio.transports._FlowControlMixin's and BaseTransport's __slots__
//   (3.11-3.13): the transport types derive from them and mirror their
//   slots (transport.h); their layout is checked here.
//
// Also private, and kept where the layout it mirrors is declared: the C
// layout of _asyncio.Future and _asyncio.Task (future.h, checked at import
// by future_layout_check in future.cpp). Not internals in this sense, and
// used where needed through module_state.h's interned names: the
// attributes of asyncio's protocols (a foreign future's
// `_asyncio_future_blocking` and `_loop`, as futures._get_loop reads it)
// and those aioev.Loop inherits from BaseEventLoop (`_task_factory`,
// `_current_handle`).
#pragma once

#include "aioev.h"

namespace aioev {

// Fills the module state's fields for the operations below (exec slot,
// after the imports). 0, or -1 with ImportError when asyncio lacks what
// aioev cannot do without.
int asyncio_private_init(ModuleState* st);

// ---- the current task ----

int asyncio_enter_task_slow(ModuleState* st, PyObject* loop, PyObject* task);
int asyncio_leave_task_slow(ModuleState* st, PyObject* loop, PyObject* task);

// asyncio's _enter_task(loop, task): RuntimeError if another task is current.
inline int asyncio_enter_task(ModuleState* st, PyObject* loop, PyObject* task) {
  if (AIOEV_UNLIKELY(st->current_tasks == nullptr)) return asyncio_enter_task_slow(st, loop, task);
  PyObject* current = PyDict_GetItemWithError(st->current_tasks, loop);
  if (current != nullptr) {
    PyErr_Format(PyExc_RuntimeError,
                 "Cannot enter into task %R while another task %R is being executed.", task,
                 current);
    return -1;
  }
  if (PyErr_Occurred()) return -1;
  return PyDict_SetItem(st->current_tasks, loop, task);
}

// asyncio's _leave_task(loop, task): RuntimeError if task is not current.
inline int asyncio_leave_task(ModuleState* st, PyObject* loop, PyObject* task) {
  if (AIOEV_UNLIKELY(st->current_tasks == nullptr)) return asyncio_leave_task_slow(st, loop, task);
  PyObject* current = PyDict_GetItemWithError(st->current_tasks, loop);
  if (current != task) {
    if (PyErr_Occurred()) return -1;
    PyErr_Format(PyExc_RuntimeError, "Leaving task %R does not match the current task %R.",
                 task, current ? current : Py_None);
    return -1;
  }
  return PyDict_DelItem(st->current_tasks, loop);
}

// asyncio's _swap_current_task(loop, task) (3.12+): makes task (None: no
// task) current and returns the one it replaces (None: none).
Ref asyncio_swap_current_task(ModuleState* st, PyObject* loop, PyObject* task);

// ---- all tasks ----

// asyncio's _register_task(task): all_tasks() sees it from now on.
// *registration gets the weak reference asyncio's WeakSet holds, or stays
// as it is when asyncio's own function registered the task. 0 or -1.
int asyncio_register_task(ModuleState* st, PyObject* task, Ref* registration);
// Takes a done task's weak reference (from asyncio_register_task; empty:
// nothing to do) out of the WeakSet. Cannot fail.
void asyncio_unregister_task(ModuleState* st, Ref registration);

// ---- eager tasks (3.12+) ----

// Adds an eager task to asyncio's running eager tasks while its first step
// runs, and takes it out again (cannot fail: errors are cleared, the raised
// exception kept). Nothing on 3.11.
int asyncio_eager_task_add(ModuleState* st, PyObject* task);
void asyncio_eager_task_discard(ModuleState* st, PyObject* task);

// The constructor inside a factory that asyncio.create_eager_task_factory
// made, when the factory is as that function returned it; else nullptr.
Borrowed<> asyncio_eager_factory_constructor(ModuleState* st, PyObject* factory);

// ---- asyncio's reprs and stacks of a Future and a Task ----

Ref asyncio_future_repr(ModuleState* st, PyObject* future);
Ref asyncio_task_repr(ModuleState* st, PyObject* task);
Ref asyncio_task_get_stack(ModuleState* st, PyObject* task, PyObject* limit);
Ref asyncio_task_print_stack(ModuleState* st, PyObject* task, PyObject* limit, PyObject* file);

// ---- transports ----

// futures._set_result_unless_cancelled, to schedule as a callback.
inline Borrowed<> asyncio_set_result_unless_cancelled(ModuleState* st) {
  return st->set_result_unless_cancelled;
}
// The tuple of the asyncio.transports classes named in `bases` (e.g.
// "_FlowControlMixin, DatagramTransport"), each checked to hold no more
// than the slots TransportObject mirrors; ImportError if one does.
Ref asyncio_transport_bases(const char* bases);

}  // namespace aioev
