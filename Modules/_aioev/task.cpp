// aioev.Task: a coroutine driven step by step, asyncio.Task's API and
// behaviour in C++. On an aioev loop a step or a wake-up is the task object
// itself on the ready queue (no Handle, no bound method); on any other loop
// it goes through loop.call_soon() as asyncio's Task does.
//
// Lifetime support, as "asyncio - Extending" asks of a third-party task:
// registered in asyncio's task WeakSet at creation (so all_tasks() sees it),
// current in asyncio's current-task map during every step (current_task()),
// unregistered when done: asyncio_private.h does each of these as
// _register_task, _enter_task and _leave_task do.
#include "future.h"

#include "args.h"
#include "asyncio_private.h"

namespace aioev {

namespace {

// A task's __step or __wakeup as a callable, for loop.call_soon() and for
// the done callbacks of futures that are not aioev's.
struct TaskMethodObject {
  PyObject_HEAD
  PyObject* task;
  PyObject* exc;  // __step: thrown into the coroutine, or nullptr
  vectorcallfunc vectorcall;
  bool wakeup;  // __wakeup(future), else __step()
};

ModuleState* state_of(TaskObject* t) { return t->state; }

PyObject* TaskMethod_call(PyObject* self, PyObject* const* args, size_t nargsf, PyObject* kwnames);

// A new TaskMethod, or empty with an exception set.
Ref task_method_new(TaskObject* t, bool wakeup, PyObject* exc) {
  TaskMethodObject* m = PyObject_GC_New(TaskMethodObject, t->state->task_method_type);
  if (m == nullptr) return Ref();
  m->task = Py_NewRef(reinterpret_cast<PyObject*>(t));
  m->exc = Py_XNewRef(exc);
  m->vectorcall = TaskMethod_call;
  m->wakeup = wakeup;
  PyObject_GC_Track(m);
  return Ref::steal(reinterpret_cast<PyObject*>(m));
}

int task_step(TaskObject* t, PyObject* exc);
int task_wakeup(TaskObject* t, PyObject* fut);

// ---- lifetime support (asyncio_private.h) ----

int register_task(TaskObject* t) {
  Ref registration;
  if (asyncio_register_task(state_of(t), as_object(t), &registration) < 0) return -1;
  if (registration) Py_XSETREF(t->registration, registration.release());
  return 0;
}

void unregister_task(TaskObject* t) {
  asyncio_unregister_task(state_of(t), Ref::steal(std::exchange(t->registration, nullptr)));
}

// ---- scheduling ----

// call_soon(self.__step, exc, context=self._context).
int schedule_step(TaskObject* t, PyObject* exc) {
  ModuleState* st = state_of(t);
  LoopObject* fast = fast_loop(&t->fut);
  if (fast != nullptr && !fast->debug && loop_plain_call_soon(fast)) {
    if (loop_check_closed(fast) < 0) return -1;
    return loop_push_ready(fast, PyReadyEntry::task_step(as_object(t), exc));
  }
  Ref owned = task_method_new(t, false, exc);
  if (!owned) return -1;
  PyObject* kwargs[4] = {nullptr, t->fut.loop, owned.get(), t->fut.context};
  Ref res = Ref::steal(PyObject_VectorcallMethod(st->str_call_soon, kwargs + 1,
                                                 2 | PY_VECTORCALL_ARGUMENTS_OFFSET,
                                                 st->context_kwnames));
  return res ? 0 : -1;
}

// Schedules a step that throws RuntimeError(message) in, the message
// made as PyUnicode_FromFormat makes it.
int schedule_step_error(TaskObject* t, const char* format, ...) {
  va_list vargs;
  va_start(vargs, format);
  Ref message = Ref::steal(PyUnicode_FromFormatV(format, vargs));
  va_end(vargs);
  if (!message) return -1;
  Ref exc = Ref::steal(PyObject_CallOneArg(PyExc_RuntimeError, message.get()));
  if (!exc) return -1;
  return schedule_step(t, exc.get());
}

// The task's __wakeup, made on first use; nullptr with an error set.
Borrowed<> get_wakeup(TaskObject* t) {
  if (t->wakeup == nullptr) t->wakeup = task_method_new(t, true, nullptr).release();
  return t->wakeup;
}

// ---- the step ----

// The Future.cancel(msg=...) of whatever the task waits for: 1, 0 or -1.
int cancel_waiter(ModuleState* st, PyObject* waiter, PyObject* msg) {
  if (Py_IS_TYPE(waiter, st->native_task_type)) {
    // Tasks awaiting each other, in a cycle or a long chain, recurse here:
    // RecursionError, as asyncio's call of waiter.cancel() raises.
    if (Py_EnterRecursiveCall(" while calling a Python object")) return -1;
    ObjectLock lock(waiter);
    int r = task_cancel(as_task(waiter), msg);
    Py_LeaveRecursiveCall();
    return r;
  }
  if (Py_IS_TYPE(waiter, st->native_future_type)) {
    ObjectLock lock(waiter);
    return future_cancel(as_future(waiter), msg);
  }
  PyObject* args[] = {waiter, msg};
  Ref res = Ref::steal(PyObject_VectorcallMethod(st->str_cancel, args,
                                                 1 | PY_VECTORCALL_ARGUMENTS_OFFSET,
                                                 st->msg_kwnames));
  if (!res) return -1;
  return PyObject_IsTrue(res.get());
}

// futures._get_loop(fut): get_loop() if it has one, else its _loop.
Ref get_future_loop(ModuleState* st, PyObject* fut) {
  Ref getter = Ref::steal(PyObject_GetAttr(fut, st->str_get_loop));
  if (getter) return Ref::steal(PyObject_CallNoArgs(getter.get()));
  if (!PyErr_ExceptionMatches(PyExc_AttributeError)) return Ref();
  PyErr_Clear();
  return Ref::steal(PyObject_GetAttr(fut, st->str_loop_attr));
}

// The task is done: it leaves asyncio's registry and drops what only a
// pending task needs.
void task_finished(TaskObject* t) {
  unregister_task(t);
  Py_CLEAR(t->wakeup);
}

// The coroutine yielded something with `_asyncio_future_blocking`: wait for
// it, or throw the mistake back in at the next step. An exact aioev Future
// or Task (`exact`) is read and called directly; anything else (asyncio's
// futures, subclasses that may override methods) through its attributes.
int wait_for_future(TaskObject* t, PyObject* result, bool exact, PyObject* blocking) {
  ModuleState* st = state_of(t);
  PyObject* self = as_object(t);
  FutureObject* f = exact ? as_future(result) : nullptr;
  Ref loop_ref;
  if (!exact) {
    loop_ref = get_future_loop(st, result);
    if (!loop_ref) return -1;
  }
  if ((exact ? f->loop : loop_ref.get()) != t->fut.loop) {
    return schedule_step_error(t, "Task %R got Future %R attached to a different loop", self,
                               result);
  }
  {
    // An exact future's flag is read and cleared, and the wake-up added,
    // in one critical section: no other thread's change comes in between.
    ObjectLock lock(exact ? result : nullptr);
    int truth = exact ? f->blocking : PyObject_IsTrue(blocking);
    if (truth < 0) return -1;
    if (!truth) {
      return schedule_step_error(t, "yield was used instead of yield from in task %R with %R",
                                 self, result);
    }
    if (result == self) {
      return schedule_step_error(t, "Task cannot await on itself: %R", self);
    }
    Borrowed<> wakeup = get_wakeup(t);
    if (wakeup == nullptr) return -1;
    if (exact) {
      f->blocking = false;
      if (future_add_callback(f, wakeup, t->fut.context) < 0) return -1;
    } else {
      if (PyObject_SetAttr(result, st->str_asyncio_future_blocking, Py_False) < 0) return -1;
      PyObject* args[] = {result, wakeup, t->fut.context};
      Ref res = Ref::steal(PyObject_VectorcallMethod(st->str_add_done_callback, args,
                                                     2 | PY_VECTORCALL_ARGUMENTS_OFFSET,
                                                     st->context_kwnames));
      if (!res) return -1;
    }
  }
  Py_XSETREF(t->fut.fut_waiter, Py_NewRef(result));
  if (t->fut.must_cancel) {
    int r = cancel_waiter(st, result, t->fut.cancel_message ? t->fut.cancel_message : Py_None);
    if (r < 0) return -1;
    if (r) t->fut.must_cancel = false;
  }
  return 0;
}

// Handles what the coroutine yielded: a future to wait for, None (one
// iteration's pause) or a mistake, which is thrown back in at the next step.
int handle_yield(TaskObject* t, PyObject* result) {
  ModuleState* st = state_of(t);
  if (future_or_task_exact(st, result)) return wait_for_future(t, result, true, nullptr);
  if (result == Py_None) return schedule_step(t, nullptr);  // a bare yield

  Ref blocking = Ref::steal(PyObject_GetAttr(result, st->str_asyncio_future_blocking));
  if (!blocking) {
    if (!PyErr_ExceptionMatches(PyExc_AttributeError)) return -1;
    PyErr_Clear();
  }
  if (blocking && blocking.get() != Py_None) {
    return wait_for_future(t, result, false, blocking.get());
  }
  if (PyGen_Check(result)) {
    return schedule_step_error(
        t, "yield was used instead of yield from for generator in task %R with %R", as_object(t),
        result);
  }
  return schedule_step_error(t, "Task got bad yield: %R", result);
}

// Sends None (or throws exc) into the coroutine and acts on the outcome:
// asyncio's Task.__step_run_and_handle_result.
int step_run(TaskObject* t, PyObject* exc) {
  ModuleState* st = state_of(t);
  Ref coro = Ref::borrow(t->fut.coro);
  Ref self_ref = Ref::borrow(as_object(t));  // the coroutine may drop the last reference
  PyObject* result = nullptr;
  PySendResult rc;
  if (exc == nullptr) {
    rc = PyIter_Send(coro.get(), Py_None, &result);
  } else {
    result = call_method(coro.get(), st->str_throw, exc).release();
    if (result != nullptr) {
      rc = PYGEN_NEXT;
    } else if (PyErr_ExceptionMatches(PyExc_StopIteration)) {
      // The return value, read as the interpreter does (not via a property).
      Ref stop = fetch_exception();
      if (!stop) return -1;
      PyObject* value = reinterpret_cast<PyStopIterationObject*>(stop.get())->value;
      result = Py_NewRef(value ? value : Py_None);
      rc = PYGEN_RETURN;
    } else {
      rc = PYGEN_ERROR;
    }
  }
  Ref value = Ref::steal(result);

  if (rc == PYGEN_RETURN) {
    int r;
    if (t->fut.must_cancel) {
      // Cancelled right before the coroutine returned.
      t->fut.must_cancel = false;
      r = future_cancel(&t->fut, t->fut.cancel_message);
    } else {
      r = future_set_result(&t->fut, value.get());
    }
    task_finished(t);
    return r < 0 ? -1 : 0;
  }
  if (rc == PYGEN_ERROR) {
    if (PyErr_ExceptionMatches(st->cancelled_error)) {
      // Kept so that the CancelledError re-raised later is this one.
      Py_XSETREF(t->fut.cancelled_exc, fetch_exception().release());
      int r = future_cancel(&t->fut, nullptr);
      task_finished(t);
      return r < 0 ? -1 : 0;
    }
    bool propagate = must_propagate();
    Ref error = fetch_exception();
    if (!error) return -1;
    int r = future_set_exception(&t->fut, error.get());
    task_finished(t);
    if (r < 0) return -1;
    if (propagate) {
      // KeyboardInterrupt and SystemExit also leave the loop.
      PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(error.get())), error.get());
      return -1;
    }
    return 0;
  }
  return handle_yield(t, value.get());
}

// asyncio's Task.__step: enter, run, leave.
int task_step(TaskObject* t, PyObject* exc_in) {
  ModuleState* st = state_of(t);
  PyObject* self = as_object(t);
  if (t->fut.fut_state != kPending) {
    PyErr_Format(st->invalid_state_error, "_step(): already done: %R %R", self,
                 exc_in ? exc_in : Py_None);
    return -1;
  }
  Ref exc = Ref::borrow(exc_in);
  if (t->fut.must_cancel) {
    if (!exc || !PyObject_TypeCheck(exc.get(), reinterpret_cast<PyTypeObject*>(
                                                   st->cancelled_error))) {
      exc = future_make_cancelled_error(&t->fut);
      if (!exc) return -1;
    }
    t->fut.must_cancel = false;
  }
  Py_CLEAR(t->fut.fut_waiter);

  Ref loop = Ref::borrow(t->fut.loop);
  Ref self_ref = Ref::borrow(self);
  if (asyncio_enter_task(st, loop.get(), self) < 0) return -1;
  int rc = step_run(t, exc.get());
  if (rc < 0) {
    ErrorGuard raised;
    if (asyncio_leave_task(st, loop.get(), self) < 0) PyErr_Clear();
    return -1;
  }
  return asyncio_leave_task(st, loop.get(), self);
}

// asyncio's Task.__wakeup: the awaited future is done; its outcome is
// thrown in if it failed (the coroutine reads a result itself).
int task_wakeup(TaskObject* t, PyObject* fut) {
  ModuleState* st = state_of(t);
  bool exact = future_or_task_exact(st, fut);
  if (exact) {
    FutureObject* f = as_future(fut);
    bool failed = false;
    {
      ObjectLock lock(f);  // the caller's reference to fut keeps it alive
      if (f->fut_state == kPending) {
        exact = false;  // asked again through result(), as asyncio does
      } else if (f->fut_state == kFinished && f->exception == nullptr) {
        f->log_traceback = false;
      } else {
        failed = !future_get_result(f);  // raises: cancelled or failed
      }
    }
    if (exact && !failed) return task_step(t, nullptr);
  }
  if (!exact) {
    Ref result = call_method(fut, st->str_result);
    if (result) return task_step(t, nullptr);
  }
  Ref exc = fetch_exception();
  if (!exc) return -1;
  return task_step(t, exc.get());
}

// An exception out of a step run from `loop`'s ready queue: what a Handle
// does, with that loop's exception handler.
int report_step_error(LoopObject* loop, TaskObject* t) {
  if (must_propagate()) return -1;
  ModuleState* st = state_of(t);
  Ref exc = fetch_exception();
  Ref type_name = Ref::steal(PyType_GetQualName(Py_TYPE(t)));
  if (!type_name) return -1;
  Ref message = Ref::steal(
      PyUnicode_FromFormat("Exception in callback %U.__step()", type_name.get()));
  Ref context = Ref::steal(PyDict_New());
  if (!message || !context) return -1;
  if (PyDict_SetItem(context.get(), st->str_message, message.get()) < 0 ||
      PyDict_SetItem(context.get(), st->str_exception, exc.get()) < 0) {
    return -1;
  }
  return loop_call_exception_handler(st, reinterpret_cast<PyObject*>(loop), context.get(),
                                    exc.get());
}

// ---- eager start (3.12+) ----

int eager_start(TaskObject* t) {
  ModuleState* st = state_of(t);
  PyObject* self = as_object(t);
  Ref loop = Ref::borrow(t->fut.loop);
  Ref previous = asyncio_swap_current_task(st, loop.get(), self);
  if (!previous) return -1;
  int rc = asyncio_eager_task_add(st, self);
  if (rc == 0) {
    Ref context = Ref::borrow(t->fut.context);
    if (PyContext_Enter(context.get()) < 0) {
      rc = -1;
    } else {
      rc = step_run(t, nullptr);
      PyContext_Exit(context.get());
    }
    asyncio_eager_task_discard(st, self);
  }
  {
    ErrorGuard raised;
    Ref current = asyncio_swap_current_task(st, loop.get(), previous.get());
    if (!current) {
      raised.discard();
      return -1;
    }
  }
  if (t->fut.fut_state != kPending) {
    Py_SETREF(t->fut.coro, Py_NewRef(Py_None));
  } else if (register_task(t) < 0) {
    return -1;
  }
  return rc;
}

}  // namespace

// ---- called from the loop and from future.cpp ----

int task_try_queue_wakeup(ModuleState* st, LoopObject* loop, PyObject* callback, PyObject* fut) {
  if (!Py_IS_TYPE(callback, st->task_method_type)) return 0;
  TaskMethodObject* method = reinterpret_cast<TaskMethodObject*>(callback);
  if (!method->wakeup) return 0;
  TaskObject* t = as_task(method->task);
  if (fast_loop(&t->fut) != loop) return 0;
  if (loop_push_ready(loop, PyReadyEntry::task_wakeup(as_object(t), fut)) < 0) return -1;
  return 1;
}

int task_run_ready(LoopObject* loop, PyObject* task, bool wakeup, PyObject* arg) {
  TaskObject* t = as_task(task);
  ObjectLock lock(task);  // the ready queue's reference keeps the task alive
  Ref context = Ref::borrow(t->fut.context);
  if (PyContext_Enter(context.get()) < 0) return report_step_error(loop, t);
  int rc = wakeup ? task_wakeup(t, arg) : task_step(t, arg);
  PyContext_Exit(context.get());
  return rc < 0 ? report_step_error(loop, t) : 0;
}

int task_cancel(TaskObject* t, PyObject* msg) {
  if (future_ensure_alive(&t->fut) < 0) return -1;
  t->fut.log_traceback = false;
  if (t->fut.fut_state != kPending) return 0;
  t->fut.num_cancels_requested++;
  if (t->fut.fut_waiter != nullptr) {
    Ref waiter = Ref::borrow(t->fut.fut_waiter);
    int r = cancel_waiter(state_of(t), waiter.get(), msg);
    if (r < 0) return -1;
    // The waiter stays: it may be a task that ignores the cancellation.
    if (r) return 1;
  }
  t->fut.must_cancel = true;
  Py_XSETREF(t->fut.cancel_message, Py_NewRef(msg));
  return 1;
}

namespace {

// ---- Task: construction ----

bool is_coroutine(ModuleState* st, PyObject* coro) {
  if (PyCoro_CheckExact(coro)) return true;
  Ref res = Ref::steal(PyObject_CallOneArg(st->iscoroutine, coro));
  return res && PyObject_IsTrue(res.get()) == 1;
}

// coro and context go back to None, never nullptr: asyncio's get_coro()
// and get_context() read them unchecked (the XSETREF keeps that true even
// for code run by the old values' finalizers).
void task_reset(TaskObject* t) {
  Py_XSETREF(t->fut.coro, Py_NewRef(Py_None));
  Py_XSETREF(t->fut.context, Py_NewRef(Py_None));
  Py_CLEAR(t->fut.fut_waiter);
  Py_CLEAR(t->fut.name);
  Py_CLEAR(t->wakeup);
  Py_CLEAR(t->registration);
  t->fut.num_cancels_requested = 0;
  t->fut.must_cancel = false;
}

// The number of a task named by default: tasks are made in every thread.
unsigned long long next_task_number(ModuleState* st) {
  return __atomic_add_fetch(&st->task_name_counter, 1, __ATOMIC_RELAXED);
}

int task_init(TaskObject* t, PyObject* coro, PyObject* loop, PyObject* name, PyObject* context,
              bool eager) {
  ModuleState* st = state_of(t);
  // A task whose loop was refused never logs "destroyed but it is pending".
  t->fut.log_destroy_pending = false;
  if (future_init(&t->fut, loop) < 0) return -1;
  // The coroutine is checked before the task changes: a second __init__
  // with a wrong one (even on a running task) leaves the task as it was.
  // Past that point the order is asyncio's, for what a failing str(name)
  // leaves behind.
  if (!is_coroutine(st, coro)) {
    if (PyErr_Occurred()) return -1;
    PyErr_Format(PyExc_TypeError, "a coroutine was expected, got %R", coro);
    return -1;
  }
  Ref new_context = (context == nullptr || context == Py_None)
                        ? Ref::steal(PyContext_CopyCurrent())
                        : Ref::borrow(context);
  if (!new_context) return -1;
  task_reset(t);
  t->fut.log_destroy_pending = true;
  Py_SETREF(t->fut.coro, Py_NewRef(coro));
  Py_SETREF(t->fut.context, new_context.release());
  if (name == nullptr || name == Py_None) {
#if AIOEV_PY312
    // The number; "Task-<n>" is made when asked for, as asyncio does.
    t->fut.name = PyLong_FromUnsignedLongLong(next_task_number(st));
#else
    t->fut.name = PyUnicode_FromFormat("Task-%llu", next_task_number(st));
#endif
    if (t->fut.name == nullptr) return -1;
  } else {
    t->fut.name = PyUnicode_CheckExact(name) ? Py_NewRef(name) : PyObject_Str(name);
    if (t->fut.name == nullptr) return -1;
  }
  if (eager) {
    bool running;
    LoopObject* fast = fast_loop(&t->fut);
    if (fast != nullptr) {
      running = fast->has_thread_id;
    } else {
      Ref res = Ref::steal(PyObject_CallMethodNoArgs(t->fut.loop, st->str_is_running));
      if (!res) return -1;
      int truth = PyObject_IsTrue(res.get());
      if (truth < 0) return -1;
      running = truth;
    }
    if (running) return eager_start(t);
  }
  if (schedule_step(t, nullptr) < 0) return -1;
  return register_task(t);
}

int Task_init(PyObject* self, PyObject* args, PyObject* kwargs) {
  static const char* kwlist[] = {"coro", "loop", "name", "context", "eager_start", nullptr};
  PyObject *coro, *loop = Py_None, *name = Py_None, *context = Py_None;
  int eager = 0;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|$OOOp:Task", const_cast<char**>(kwlist),
                                   &coro, &loop, &name, &context, &eager)) {
    return -1;
  }
  return task_init(as_task(self), coro, loop, name, context, eager);
}

// ---- Task: methods ----


PyObject* Task_get_coro(PyObject* self, PyObject*) {
  return get_or_none(as_task(self)->fut.coro);
}

PyObject* Task_get_context(PyObject* self, PyObject*) {
  return get_or_none(as_task(self)->fut.context);
}

// The task's name, the default one made on first use; nullptr with an
// error set.
Borrowed<> task_name(TaskObject* t) {
  if (t->fut.name == nullptr) return Py_None;  // before __init__
  if (PyLong_CheckExact(t->fut.name)) {
    PyObject* name = PyUnicode_FromFormat("Task-%S", t->fut.name);
    if (name == nullptr) return nullptr;
    Py_SETREF(t->fut.name, name);
  }
  return t->fut.name;
}

PyObject* Task_get_name(PyObject* self, PyObject*) {
  Borrowed<> name = task_name(as_task(self));
  return name ? name.new_ref().release() : nullptr;
}

PyObject* Task_set_name(PyObject* self, PyObject* value) {
  PyObject* name = PyUnicode_CheckExact(value) ? Py_NewRef(value) : PyObject_Str(value);
  if (name == nullptr) return nullptr;
  Py_XSETREF(as_task(self)->fut.name, name);
  Py_RETURN_NONE;
}

PyObject* Task_cancel(PyObject* self, PyObject* const* args, Py_ssize_t nargs,
                      PyObject* kwnames) {
  PyObject* msg = Py_None;
  if (!parse_args(nullptr, kCancelArgs, args, nargs, kwnames, &msg)) return nullptr;
  int rc = task_cancel(as_task(self), msg);
  if (rc < 0) return nullptr;
  return PyBool_FromLong(rc);
}

PyObject* Task_cancelling(PyObject* self, PyObject*) {
  return PyLong_FromLong(as_task(self)->fut.num_cancels_requested);
}

PyObject* Task_uncancel(PyObject* self, PyObject*) {
  TaskObject* t = as_task(self);
  if (t->fut.num_cancels_requested > 0) {
    t->fut.num_cancels_requested--;
#if AIOEV_PY313
    // 3.13: the last uncancel() also withdraws a cancellation not yet delivered.
    if (t->fut.num_cancels_requested == 0) t->fut.must_cancel = false;
#endif
  }
  return PyLong_FromLong(t->fut.num_cancels_requested);
}

PyObject* Task_set_result(PyObject*, PyObject*) {
  PyErr_SetString(PyExc_RuntimeError, "Task does not support set_result operation");
  return nullptr;
}

PyObject* Task_set_exception(PyObject*, PyObject*) {
  PyErr_SetString(PyExc_RuntimeError, "Task does not support set_exception operation");
  return nullptr;
}

const char* const kStackNames[] = {"limit", "file"};  // keyword-only
const ArgSpec kGetStackArgs = {"get_stack", ArgStyle::kClinic, 1, 0, 0, 0, false, kStackNames,
                               nullptr};
const ArgSpec kPrintStackArgs = {"print_stack", ArgStyle::kClinic, 2, 0, 0, 0, false,
                                 kStackNames, nullptr};

PyObject* Task_get_stack(PyObject* self, PyObject* const* args, Py_ssize_t nargs,
                         PyObject* kwnames) {
  PyObject* limit = Py_None;
  if (future_ensure_alive(&as_task(self)->fut) < 0) return nullptr;
  if (!parse_args(nullptr, kGetStackArgs, args, nargs, kwnames, &limit)) return nullptr;
  return asyncio_task_get_stack(as_task(self)->state, self, limit).release();
}

PyObject* Task_print_stack(PyObject* self, PyObject* const* args, Py_ssize_t nargs,
                           PyObject* kwnames) {
  PyObject* values[2] = {Py_None, Py_None};  // limit, file
  if (future_ensure_alive(&as_task(self)->fut) < 0) return nullptr;
  if (!parse_args(nullptr, kPrintStackArgs, args, nargs, kwnames, values)) return nullptr;
  return asyncio_task_print_stack(as_task(self)->state, self, values[0], values[1]).release();
}

PyObject* Task_repr(PyObject* self) {
  if (future_ensure_alive(&as_task(self)->fut) < 0) return nullptr;
  return asyncio_task_repr(as_task(self)->state, self).release();
}

PyObject* get_log_destroy_pending(PyObject* self, void*) {
  return PyBool_FromLong(as_task(self)->fut.log_destroy_pending);
}

int set_log_destroy_pending(PyObject* self, PyObject* value, void*) {
  if (value == nullptr) {
    PyErr_SetString(PyExc_AttributeError, "can't delete attribute");
    return -1;
  }
  int truth = PyObject_IsTrue(value);
  if (truth < 0) return -1;
  as_task(self)->fut.log_destroy_pending = truth;
  return 0;
}

PyObject* get_must_cancel(PyObject* self, void*) {
  return PyBool_FromLong(as_task(self)->fut.must_cancel);
}
PyObject* get_coro(PyObject* self, void*) { return get_or_none(as_task(self)->fut.coro); }
PyObject* get_fut_waiter(PyObject* self, void*) { return get_or_none(as_task(self)->fut.fut_waiter); }
PyObject* get_num_cancels(PyObject* self, void*) {
  return PyLong_FromLong(as_task(self)->fut.num_cancels_requested);
}

// ---- Task: lifetime ----

PyObject* Task_new(PyTypeObject* type, PyObject*, PyObject*) {
  PyObject* mod = PyType_GetModuleByDef(type, &module_def);
  if (mod == nullptr) return nullptr;
  PyObject* self = type->tp_alloc(type, 0);
  if (self == nullptr) return nullptr;
  TaskObject* t = as_task(self);
  t->state = module_state(mod);
  t->fut.coro = Py_NewRef(Py_None);
  t->fut.context = Py_NewRef(Py_None);
  return self;
}

int Task_traverse(PyObject* self, visitproc visit, void* arg) {
  TaskObject* t = as_task(self);
  Py_VISIT(Py_TYPE(self));
  Py_VISIT(t->fut.coro);
  Py_VISIT(t->fut.context);
  Py_VISIT(t->fut.fut_waiter);
  Py_VISIT(t->fut.name);
  Py_VISIT(t->wakeup);
  return future_traverse(&t->fut, visit, arg);
}

int Task_clear(PyObject* self) {
  TaskObject* t = as_task(self);
  task_reset(t);
  future_reset(&t->fut);
  future_clear_dict_and_weakrefs(self, false);
  return 0;
}

int task_finalize_log(TaskObject* t) {
  if (t->fut.fut_state != kPending || !t->fut.log_destroy_pending || t->fut.loop == nullptr) return 0;
  ModuleState* st = state_of(t);
  Ref message = Ref::steal(PyUnicode_FromString("Task was destroyed but it is pending!"));
  Ref context = Ref::steal(PyDict_New());
  if (!message || !context) return -1;
  if (PyDict_SetItem(context.get(), st->str_task, as_object(t)) < 0 ||
      PyDict_SetItem(context.get(), st->str_message, message.get()) < 0) {
    return -1;
  }
  if (t->fut.source_traceback != nullptr &&
      PyDict_SetItem(context.get(), st->str_source_traceback, t->fut.source_traceback) < 0) {
    return -1;
  }
  return call_method(t->fut.loop, st->str_call_exception_handler, context.get()) ? 0 : -1;
}

void Task_finalize(PyObject* self) {
  ErrorGuard raised;
  if (task_finalize_log(as_task(self)) < 0) PyErr_WriteUnraisable(self);
  if (future_finalize_log(&as_task(self)->fut) < 0) PyErr_WriteUnraisable(self);
}

void Task_dealloc(PyObject* self) {
  PyTypeObject* type = Py_TYPE(self);
  if (PyObject_CallFinalizerFromDealloc(self) < 0) return;  // resurrected
  PyObject_GC_UnTrack(self);
  future_clear_dict_and_weakrefs(self, true);
  Task_clear(self);
  Py_CLEAR(as_task(self)->fut.coro);
  Py_CLEAR(as_task(self)->fut.context);
  type->tp_free(self);
  Py_DECREF(type);
}

// ---- the __step and __wakeup callables (for loops other than aioev's) ----

TaskMethodObject* as_method(PyObject* self) { return reinterpret_cast<TaskMethodObject*>(self); }

PyObject* TaskMethod_call(PyObject* self, PyObject* const* args, size_t nargsf, PyObject* kwnames) {
  TaskMethodObject* m = as_method(self);
  Py_ssize_t expected = m->wakeup ? 1 : 0;
  if (PyVectorcall_NARGS(nargsf) != expected || kwnames != nullptr) {
    PyErr_Format(PyExc_TypeError, "%s() takes exactly %zd argument%s",
                 m->wakeup ? "__wakeup" : "__step", expected, expected == 1 ? "" : "s");
    return nullptr;
  }
  Ref task = Ref::borrow(m->task);
  Ref exc = Ref::borrow(m->exc);
  ObjectLock lock(task.get());
  int rc = m->wakeup ? task_wakeup(as_task(task.get()), args[0])
                     : task_step(as_task(task.get()), exc.get());
  if (rc < 0) return nullptr;
  Py_RETURN_NONE;
}

PyObject* TaskMethod_repr(PyObject* self) {
  return PyUnicode_FromFormat("<bound method %s of %R>",
                              as_method(self)->wakeup ? "__wakeup" : "__step", as_method(self)->task);
}

// `__self__` and `__qualname__` as a bound method of the task would have
// them: asyncio's handle formatting and debug logs look for both.
PyObject* TaskMethod_get_qualname(PyObject* self, void*) {
  Ref type_name = Ref::steal(PyType_GetQualName(Py_TYPE(as_method(self)->task)));
  if (!type_name) return nullptr;
  return PyUnicode_FromFormat("%U.%s", type_name.get(),
                              as_method(self)->wakeup ? "__wakeup" : "__step");
}

int TaskMethod_traverse(PyObject* self, visitproc visit, void* arg) {
  Py_VISIT(Py_TYPE(self));
  Py_VISIT(as_method(self)->task);
  Py_VISIT(as_method(self)->exc);
  return 0;
}

int TaskMethod_clear(PyObject* self) {
  Py_CLEAR(as_method(self)->task);
  Py_CLEAR(as_method(self)->exc);
  return 0;
}

void TaskMethod_dealloc(PyObject* self) {
  PyTypeObject* type = Py_TYPE(self);
  PyObject_GC_UnTrack(self);
  TaskMethod_clear(self);
  PyObject_GC_Del(self);
  Py_DECREF(type);
}

PyGetSetDef task_method_getset[] = {
    {"__qualname__", TaskMethod_get_qualname, nullptr, nullptr, nullptr},
    {nullptr, nullptr, nullptr, nullptr, nullptr},
};

PyMemberDef task_method_members[] = {
    {"__vectorcalloffset__", T_PYSSIZET, offsetof(TaskMethodObject, vectorcall), READONLY,
     nullptr},
    {"__self__", T_OBJECT, offsetof(TaskMethodObject, task), READONLY, nullptr},
    {nullptr, 0, 0, 0, nullptr},
};

PyType_Slot task_method_slots[] = {
    {Py_tp_call, reinterpret_cast<void*>(PyVectorcall_Call)},
    {Py_tp_members, task_method_members},
    {Py_tp_getset, task_method_getset},
    {Py_tp_repr, reinterpret_cast<void*>(TaskMethod_repr)},
    {Py_tp_traverse, reinterpret_cast<void*>(TaskMethod_traverse)},
    {Py_tp_clear, reinterpret_cast<void*>(TaskMethod_clear)},
    {Py_tp_dealloc, reinterpret_cast<void*>(TaskMethod_dealloc)},
    {0, nullptr},
};


PyMethodDef task_methods[] = {
    {"get_coro", Locked<Task_get_coro>::call, METH_NOARGS, "get_coro($self, /)\n--\n\nThe task's coroutine."},
    {"get_context", Locked<Task_get_context>::call, METH_NOARGS, "get_context($self, /)\n--\n\nThe contextvars.Context the task runs in."},
    {"get_name", Locked<Task_get_name>::call, METH_NOARGS, "get_name($self, /)\n--\n\nThe task's name."},
    {"set_name", Locked<Task_set_name>::call, METH_O, "set_name($self, value, /)\n--\n\nRename the task (to str(value))."},
    {"cancel", as_pycfunction(Locked<Task_cancel>::call), METH_FASTCALL | METH_KEYWORDS,
     "cancel($self, /, msg=None)\n--\n\nRequest that the task be cancelled at its next step."},
    {"cancelling", Locked<Task_cancelling>::call, METH_NOARGS, "cancelling($self, /)\n--\n\nThe number of pending cancellation requests."},
    {"uncancel", Locked<Task_uncancel>::call, METH_NOARGS, "uncancel($self, /)\n--\n\nWithdraw one cancellation request."},
    {"set_result", Task_set_result, METH_O, "set_result($self, result, /)\n--\n\nNot supported by tasks."},
    {"set_exception", Task_set_exception, METH_O, "set_exception($self, exception, /)\n--\n\nNot supported by tasks."},
    {"get_stack", as_pycfunction(Locked<Task_get_stack>::call), METH_FASTCALL | METH_KEYWORDS,
     "get_stack($self, /, *, limit=None)\n--\n\nThe frames of the task's coroutine."},
    {"print_stack", as_pycfunction(Locked<Task_print_stack>::call), METH_FASTCALL | METH_KEYWORDS,
     "print_stack($self, /, *, limit=None, file=None)\n--\n\nPrint the stack or traceback of the task's coroutine."},
    {nullptr, nullptr, 0, nullptr},
};


PyGetSetDef task_getset[] = {
    {"_log_destroy_pending", Locked<get_log_destroy_pending>::call, Locked<set_log_destroy_pending>::call, nullptr, nullptr},
    {"_must_cancel", Locked<get_must_cancel>::call, nullptr, nullptr, nullptr},
    {"_coro", Locked<get_coro>::call, nullptr, nullptr, nullptr},
    {"_fut_waiter", Locked<get_fut_waiter>::call, nullptr, nullptr, nullptr},
    {"_num_cancels_requested", Locked<get_num_cancels>::call, nullptr, nullptr, nullptr},
    {nullptr, nullptr, nullptr, nullptr, nullptr},
};

PyType_Slot task_slots[] = {
    {Py_tp_new, reinterpret_cast<void*>(Task_new)},
    {Py_tp_init, reinterpret_cast<void*>(Locked<Task_init>::call)},
    {Py_tp_repr, reinterpret_cast<void*>(Locked<Task_repr>::call)},
    {Py_tp_iter, reinterpret_cast<void*>(Future_await)},
    {Py_am_await, reinterpret_cast<void*>(Future_await)},
    {Py_tp_methods, task_methods},
    {Py_tp_getset, task_getset},
    {Py_tp_traverse, reinterpret_cast<void*>(Task_traverse)},
    {Py_tp_clear, reinterpret_cast<void*>(Task_clear)},
    {Py_tp_finalize, reinterpret_cast<void*>(Task_finalize)},
    {Py_tp_dealloc, reinterpret_cast<void*>(Task_dealloc)},
    {Py_tp_doc, const_cast<char*>("Task(coro, *, loop=None, name=None, context=None, eager_start=False)\n--\n\n"
                                  "asyncio.Task's API and behaviour, in C++.")},
    {0, nullptr},
};

}  // namespace

Ref task_new(ModuleState* st, PyObject* coro, PyObject* loop, PyObject* name,
             PyObject* context, bool eager) {
  PyTypeObject* type = st->native_task_type;
  Ref self = Ref::steal(type->tp_alloc(type, 0));
  if (!self) return self;
  TaskObject* t = as_task(self.get());
  t->state = st;
  {
    ObjectLock lock(self.get());  // an eager start runs the first step
    if (task_init(t, coro, loop, name, context, eager) < 0) return Ref();
  }
  return self;
}

namespace {

Owned<PyTypeObject> new_type(PyObject* module, PyType_Spec* spec, PyObject* base,
                             const char* export_as) {
  Ref type = Ref::steal(PyType_FromModuleAndSpec(module, spec, base));
  if (!type || (export_as != nullptr && PyModule_AddObjectRef(module, export_as, type.get()) < 0)) {
    return nullptr;
  }
  return Owned<PyTypeObject>::steal(reinterpret_cast<PyTypeObject*>(type.release()));
}

}  // namespace

int task_module_init(PyObject* module, ModuleState* st) {
  // Subclasses of asyncio's C Future and Task, whose layout FutureObject
  // repeats: checked before anything is made on it.
  if (future_layout_check(st) < 0) return -1;
  st->native_future_type =
      new_type(module, &native_future_spec, st->future_type, "Future").release();
  if (st->native_future_type == nullptr) return -1;
  // aioev.Task derives from both: aioev.Future adds no fields to asyncio's
  // Future, so asyncio.Task's layout is the one they share.
  Ref task_bases = Ref::steal(PyTuple_Pack(2, reinterpret_cast<PyObject*>(st->native_future_type), st->task_type));
  if (!task_bases) return -1;
  st->native_task_type = new_type(module, &native_task_spec, task_bases.get(), "Task").release();
  st->future_iter_type = new_type(module, &future_iter_spec, nullptr, nullptr).release();
  st->task_method_type = new_type(module, &task_method_spec, nullptr, nullptr).release();
  if (!st->native_task_type || !st->future_iter_type || !st->task_method_type) {
    return -1;
  }

  Ref exceptions = Ref::steal(PyImport_ImportModule("asyncio.exceptions"));
  if (!exceptions) return -1;
  st->cancelled_error = PyObject_GetAttrString(exceptions.get(), "CancelledError");
  st->invalid_state_error = PyObject_GetAttrString(exceptions.get(), "InvalidStateError");
  return st->cancelled_error && st->invalid_state_error ? 0 : -1;
}

PyType_Spec native_task_spec = {
    "aioev.Task",
    sizeof(TaskObject),
    0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    task_slots,
};

PyType_Spec task_method_spec = {
    "aioev._TaskMethod",
    sizeof(TaskMethodObject),
    0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    task_method_slots,
};

}  // namespace aioev
