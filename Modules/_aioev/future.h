// aioev.Future and aioev.Task: the layouts both files use (future.cpp, task.cpp).
#pragma once

#include "aioev.h"

namespace aioev {

enum FutureState : uint8_t { kPending = 0, kCancelled = 1, kFinished = 2 };

struct FutureObject {
  PyObject_HEAD
  ModuleState* state;
  PyObject* loop;  // nullptr until __init__ ran
  LoopObject* fast_loop;  // loop, when it is an aioev loop (borrowed through `loop`)
  // The first done callback lives inline (most futures have one); the rest
  // are (callback, context) tuples in a list.
  PyObject* callback0;
  PyObject* context0;
  PyObject* callbacks;
  PyObject* result;
  PyObject* exception;
  PyObject* exception_tb;
  PyObject* cancel_message;
  PyObject* cancelled_exc;
  PyObject* source_traceback;
  PyObject* dict;
  PyObject* weakreflist;
  FutureState fut_state;
  bool log_traceback;
  bool blocking;  // _asyncio_future_blocking
};

// What a task queued on the ready queue does when the loop gets to it.
enum TaskQueued : uint8_t { kNotQueued = 0, kQueuedStep, kQueuedWakeup };

struct TaskObject {
  FutureObject fut;
  PyObject* coro;
  PyObject* context;
  PyObject* fut_waiter;
  PyObject* name;  // nullptr: "Task-<name_number>", made when asked for
  PyObject* wakeup;  // its __wakeup callable, made on first use
  PyObject* queued_arg;  // the step's exception, or the future that woke the task
  PyObject* registration;  // the weak reference in asyncio's task WeakSet
  unsigned long long name_number;
  int num_cancels_requested;
  bool must_cancel;
  bool log_destroy_pending;
  TaskQueued queued;
};

inline FutureObject* as_future(PyObject* obj) { return reinterpret_cast<FutureObject*>(obj); }
inline TaskObject* as_task(PyObject* obj) { return reinterpret_cast<TaskObject*>(obj); }
inline PyObject* as_object(FutureObject* f) { return reinterpret_cast<PyObject*>(f); }
inline PyObject* as_object(TaskObject* t) { return reinterpret_cast<PyObject*>(t); }

inline bool task_check(ModuleState* st, PyObject* obj) {
  return PyObject_TypeCheck(obj, st->native_task_type);
}
// The exact types: only for them may the C++ code skip method lookups, since
// a Python subclass may override any method.
inline bool future_or_task_exact(ModuleState* st, PyObject* obj) {
  return Py_IS_TYPE(obj, st->native_future_type) || Py_IS_TYPE(obj, st->native_task_type);
}

// A new reference to value, or to None for nullptr: the getters' answer.
inline PyObject* get_or_none(PyObject* value) { return Py_NewRef(value ? value : Py_None); }

// future.cpp
// Takes (positional-or-keyword..., keyword-only...) arguments by name from a
// vectorcall, with Argument Clinic's messages. `names` lists every parameter;
// the first `max_positional` may be given by position, the first `required`
// must be given, the first `positional_only` only by position. Unset ones
// keep what `out` held.
bool parse_args(const char* fname, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames,
                const char* const* names, int count, int max_positional, int required,
                PyObject** out, int positional_only = 0);
extern PyType_Spec native_future_spec;
extern PyType_Spec future_iter_spec;
// Future.__init__'s work: binds to loop (None: the current event loop),
// resetting whatever an earlier __init__ left. 0 or -1.
int future_init(FutureObject* f, PyObject* loop);
// loop.create_future() on an aioev loop: an aioev.Future (new reference).
PyObject* future_new(ModuleState* st, PyObject* loop);
void future_reset(FutureObject* f);
void future_iter_pool_clear(ModuleState* st);
int future_traverse(FutureObject* f, visitproc visit, void* arg);
// Completes the future and schedules its callbacks; -1 with an exception set.
int future_set_result(FutureObject* f, PyObject* result);
int future_set_exception(FutureObject* f, PyObject* exc);
int future_cancel(FutureObject* f, PyObject* msg);  // 1 if cancelled, 0 if already done
int future_add_callback(FutureObject* f, PyObject* callback, PyObject* context);
// The CancelledError to raise for a cancelled future (new reference).
Ref future_make_cancelled_error(FutureObject* f);
// result(): the value (new reference), or nullptr with its exception raised.
Ref future_get_result(FutureObject* f);
int future_ensure_alive(FutureObject* f);
int future_finalize_log(FutureObject* f);  // "exception was never retrieved"
// call_soon(callback, arg, context=context) on the future's loop.
int loop_call_soon_arg(ModuleState* st, PyObject* loop, PyObject* callback, PyObject* arg,
                       PyObject* context);

// task.cpp
extern PyType_Spec native_task_spec;
extern PyType_Spec task_method_spec;
// The wake-up a done future gives a task awaiting it: straight onto the
// ready queue when both live on the same aioev loop. 1 if queued, 0 if the
// caller must schedule `callback` itself.
int task_try_queue_wakeup(ModuleState* st, LoopObject* loop, PyObject* callback, PyObject* fut);
// Runs a task taken from the ready queue; -1 only for exceptions that must
// propagate out of the loop.
int task_run_queued(LoopObject* loop, PyObject* task);
// The loop dropped a queued task without running it (close, collection).
void task_drop_queued(PyObject* task);
// asyncio's Task.cancel(msg): 1, 0 (already done) or -1.
int task_cancel(TaskObject* t, PyObject* msg);
// loop.create_task() without a task factory: an aioev.Task.
PyObject* task_new(ModuleState* st, PyObject* coro, PyObject* loop, PyObject* name,
                   PyObject* context);
int task_module_init(PyObject* module, ModuleState* st);

}  // namespace aioev
