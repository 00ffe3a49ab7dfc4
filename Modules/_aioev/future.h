// aioev.Future and aioev.Task: the layouts both files use (future.cpp, task.cpp).
#pragma once

#include "aioev.h"

namespace aioev {

enum FutureState : int { kPending = 0, kCancelled = 1, kFinished = 2 };  // asyncio's fut_state

// aioev.Future and aioev.Task are subclasses of asyncio's C Future and Task
// (_asyncio.Future, _asyncio.Task), so isinstance(x, asyncio.Future) holds.
// They keep their whole state in asyncio's own fields, laid out as
// Modules/_asynciomodule.c of this CPython version lays them out, so that
// every method of asyncio's classes works on them too
// (asyncio.Task.get_stack(task)). module.cpp checks the layout against the
// running interpreter at import (layout_check in future.cpp).
//
// One struct describes both: asyncio's Task fields come last, and an
// aioev.Future is allocated without them (kAsyncioFutureSize bytes, exactly
// asyncio.Future's size, so that aioev.Task can derive from both aioev.Future
// and asyncio.Task). Code that may see a Future never touches the Task part.
struct FutureObject {
  PyObject_HEAD
  // asyncio's Future (FutureObj_HEAD)
  PyObject* loop;  // nullptr until __init__ ran
  PyObject* callback0;  // the first done callback, inline; the rest are
  PyObject* context0;   // (callback, context) tuples in `callbacks`
  PyObject* callbacks;
  PyObject* exception;
  PyObject* exception_tb;
  PyObject* result;
  PyObject* source_traceback;
  PyObject* cancel_message;
#if AIOEV_PY313
  PyObject* cancelled_exc;
  FutureState fut_state;
  unsigned log_traceback : 1;
  unsigned blocking : 1;  // _asyncio_future_blocking
  // asyncio's Task (TaskObj), continuing the same bit-field unit
  unsigned must_cancel : 1;
  unsigned log_destroy_pending : 1;
  int num_cancels_requested;
  PyObject* fut_waiter;
  PyObject* coro;  // never nullptr once allocated: asyncio's get_coro() reads it unchecked
  PyObject* name;  // str, or an int n for the default "Task-<n>", made when asked for
  PyObject* context;  // never nullptr once allocated, as coro
#else
  FutureState fut_state;
  int log_traceback;
  int blocking;
  PyObject* dict;
  PyObject* weakreflist;
  PyObject* cancelled_exc;
  // asyncio's Task (TaskObj)
  PyObject* fut_waiter;
  PyObject* coro;
  PyObject* name;  // 3.12: as on 3.13; 3.11: always a str
  PyObject* context;
  int must_cancel;
  int log_destroy_pending;
  int num_cancels_requested;
#endif
};

// The sizes of asyncio's C Future and Task as laid out above.
#if AIOEV_PY313
constexpr Py_ssize_t kAsyncioFutureSize = offsetof(FutureObject, num_cancels_requested);
#else
constexpr Py_ssize_t kAsyncioFutureSize = offsetof(FutureObject, fut_waiter);
#endif
constexpr Py_ssize_t kAsyncioTaskSize = sizeof(FutureObject);

// The aioev loop the future is bound to, or nullptr for any other loop. Read
// from `loop` each time: asyncio.Future.__init__ may rebind the future.
inline Borrowed<LoopObject> fast_loop(FutureObject* f) {
  return f->loop != nullptr ? as_aioev_loop(f->loop) : nullptr;
}

struct TaskObject {
  FutureObject fut;  // asyncio's Task fields included
  ModuleState* state;
  PyObject* wakeup;  // its __wakeup callable, made on first use
  PyObject* registration;  // the weak reference in asyncio's task WeakSet
};

// The per-object lock of a future or task on free-threaded builds (a
// critical section, as 3.14's _asyncio takes on its Future and Task; none
// with a GIL): every method and attribute of aioev.Future and aioev.Task,
// a task's step and every C++ path that changes a future from outside holds
// it, so that a future done, cancelled or read from another thread never
// sees another thread's half-made change. The code that holds it may run
// Python code: a critical section is suspended while its thread blocks, so
// locks taken in any order cannot deadlock.
class ObjectLock {
 public:
  // op may be nullptr: no lock.
  explicit ObjectLock(PyObject* op) {
#ifdef Py_GIL_DISABLED
    locked_ = op != nullptr;
    if (locked_) PyCriticalSection_Begin(&section_, op);
#else
    (void)op;
#endif
  }
  explicit ObjectLock(FutureObject* f) : ObjectLock(reinterpret_cast<PyObject*>(f)) {}
  ~ObjectLock() {
#ifdef Py_GIL_DISABLED
    if (locked_) PyCriticalSection_End(&section_);
#endif
  }
  ObjectLock(const ObjectLock&) = delete;
  ObjectLock& operator=(const ObjectLock&) = delete;

 private:
#ifdef Py_GIL_DISABLED
  PyCriticalSection section_;
  bool locked_;
#endif
};

// Locked<f>::call: f (a method, getter or setter whose first argument is
// self) run under self's ObjectLock, for the types' method tables.
template <auto F>
struct Locked;
template <class R, class... A, R (*F)(PyObject*, A...)>
struct Locked<F> {
  static R call(PyObject* self, A... args) {
    ObjectLock lock(self);
    return F(self, args...);
  }
};

// The module state of an aioev.Future or aioev.Task (or a subclass).
inline ModuleState* future_state(FutureObject* f) {
  if (LoopObject* l = fast_loop(f)) return l->state;
  return type_module_state(Py_TYPE(f));
}

inline FutureObject* as_future(PyObject* obj) { return reinterpret_cast<FutureObject*>(obj); }
inline TaskObject* as_task(PyObject* obj) { return reinterpret_cast<TaskObject*>(obj); }
inline PyObject* as_object(FutureObject* f) { return reinterpret_cast<PyObject*>(f); }
inline PyObject* as_object(TaskObject* t) { return reinterpret_cast<PyObject*>(t); }

// The exact types: only for them may the C++ code skip method lookups, since
// a Python subclass may override any method.
inline bool future_or_task_exact(ModuleState* st, PyObject* obj) {
  return Py_IS_TYPE(obj, st->native_future_type) || Py_IS_TYPE(obj, st->native_task_type);
}

// A new reference to value, or to None for nullptr: the getters' answer
// (a getset function's PyObject*, as CPython's C API has it).
inline PyObject* get_or_none(PyObject* value) { return Py_NewRef(value ? value : Py_None); }

// future.cpp
struct ArgSpec;
extern const ArgSpec kCancelArgs;  // cancel(msg=None), Future's and Task's
extern PyType_Spec native_future_spec;
extern PyType_Spec future_iter_spec;
// Future.__init__'s work: binds to loop (None: the current event loop),
// resetting whatever an earlier __init__ left. 0 or -1.
int future_init(FutureObject* f, PyObject* loop);
// loop.create_future() on an aioev loop: an aioev.Future.
Ref future_new(ModuleState* st, PyObject* loop);
void future_reset(FutureObject* f);
int future_traverse(FutureObject* f, visitproc visit, void* arg);
// The instance dict (and weak references) of a future or task, wherever
// this CPython keeps them (3.13: managed, before the object).
int future_visit_dict(PyObject* self, visitproc visit, void* arg);
void future_clear_dict_and_weakrefs(PyObject* self, bool weakrefs);
// `await future`: the iterator (tp_iter and am_await of both types).
PyObject* Future_await(PyObject* self);
// Checks at import that asyncio's C Future and Task are laid out as
// FutureObject says; ImportError if not.
int future_layout_check(ModuleState* st);
// Completes the future and schedules its callbacks; -1 with an exception set.
int future_set_result(FutureObject* f, PyObject* result);
int future_set_exception(FutureObject* f, PyObject* exc);
int future_cancel(FutureObject* f, PyObject* msg);  // 1 if cancelled, 0 if already done
int future_add_callback(FutureObject* f, PyObject* callback, PyObject* context);
// The CancelledError to raise for a cancelled future.
Ref future_make_cancelled_error(FutureObject* f);
// result(): the value, or empty with its exception raised.
Ref future_get_result(FutureObject* f);
int future_ensure_alive(FutureObject* f);
int future_finalize_log(FutureObject* f);  // "exception was never retrieved"

// task.cpp
extern PyType_Spec native_task_spec;
extern PyType_Spec task_method_spec;
// The wake-up a done future gives a task awaiting it: straight onto the
// ready queue when both live on the same aioev loop. 1 if queued, 0 if the
// caller must schedule `callback` itself.
int task_try_queue_wakeup(ModuleState* st, LoopObject* loop, PyObject* callback, PyObject* fut);
// Runs a task's step or wake-up entry from the ready queue (arg: the
// exception to throw in, or the future it waited for), inside the task's
// context; -1 only for exceptions that must propagate out of the loop.
int task_run_ready(LoopObject* loop, PyObject* task, bool wakeup, PyObject* arg);
// asyncio's Task.cancel(msg): 1, 0 (already done) or -1.
int task_cancel(TaskObject* t, PyObject* msg);
// aioev.Task(coro, loop=loop, name=name, context=context, eager_start=eager)
// for loop.create_task(): without a task factory, or for aioev's eager one.
Ref task_new(ModuleState* st, PyObject* coro, PyObject* loop, PyObject* name,
             PyObject* context, bool eager = false);
int task_module_init(PyObject* module, ModuleState* st);

}  // namespace aioev
