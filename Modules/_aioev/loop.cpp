// The Loop type: the run loop, the ready queue, timers and the thread-safe
// wake-up. Lib/aioev/_loop.py derives `Loop(_aioev.Loop, asyncio.BaseEventLoop)`
// from it; the C methods here come first in the MRO and carry the hot paths.
#include "args.h"
#include "asyncio_private.h"
#include "future.h"

#include <fcntl.h>
#include <sched.h>
#include <string.h>
#include <time.h>

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <unistd.h>

#include <new>

namespace aioev {

namespace {

// asyncio's rule for rebuilding the timer heap without cancelled timers.
constexpr size_t kMinScheduledTimers = 100;
constexpr double kMaxCancelledFraction = 0.5;
// asyncio's MAXIMUM_SELECT_TIMEOUT: one day.
constexpr double kMaxPollTimeout = 24 * 3600;
// epoll sleeps whole milliseconds: a timer due sooner than this is waited
// for by polling without blocking instead of oversleeping by up to 1 ms.
constexpr double kSpinThreshold = 100e-6;


void release_gil(struct ev_loop* ev) noexcept {
  LoopObject* loop = static_cast<LoopObject*>(ev_userdata(ev));
  loop->released_tstate = PyEval_SaveThread();
}

void acquire_gil(struct ev_loop* ev) noexcept {
  LoopObject* loop = static_cast<LoopObject*>(ev_userdata(ev));
  PyEval_RestoreThread(loop->released_tstate);
  loop->released_tstate = nullptr;
}

// Both watchers exist only to end a poll; the run loop does the work.
void wakeup_cb(struct ev_loop*, ev_async*, int) {}
void poll_timer_cb(struct ev_loop*, ev_timer*, int) {}

// Whether the calling thread runs loop (another thread may be setting the id).
bool in_loop_thread(LoopObject* loop) {
  return load_relaxed(loop->has_thread_id) &&
         load_relaxed(loop->thread_id) == PyThread_get_thread_ident();
}

}  // namespace

void loop_set_owner(LoopObject* loop) {
#ifdef Py_GIL_DISABLED
  unsigned long me = PyThread_get_thread_ident();
  if (__atomic_load_n(&loop->owner_thread, __ATOMIC_SEQ_CST) == me) return;
  __atomic_store_n(&loop->owner_thread, me, __ATOMIC_SEQ_CST);
  // A thread that read the old owner's id before that store is still inside
  // its LoopAccess (it raised owner_busy first); any later one sees this
  // thread's id and keeps out. Those accesses are a few instructions (no
  // Python code, no lock held across them but the threadsafe queue's), so
  // the wait is short.
  while (__atomic_load_n(&loop->owner_busy, __ATOMIC_SEQ_CST) != 0) sched_yield();
#else
  (void)loop;
#endif
}

int loop_check_thread(LoopObject* loop) {
  if (load_relaxed(loop->has_thread_id) && !in_loop_thread(loop)) {
    PyErr_SetString(PyExc_RuntimeError,
                    "Non-thread-safe operation invoked on an event loop other than "
                    "the current one");
    return -1;
  }
  return 0;
}

int loop_call_soon_arg(ModuleState* st, PyObject* loop, PyObject* callback, PyObject* arg,
                       PyObject* context) {
  if (LoopObject* fast = as_aioev_loop(loop)) {
    if (!fast->debug && loop_plain_call_soon(fast)) {
      if (loop_check_closed(fast) < 0) return -1;
      int queued = task_try_queue_wakeup(st, fast, callback, arg);
      if (queued != 0) return queued < 0 ? -1 : 0;
      Owned<HandleObject> h = handle_new(fast, false, callback, &arg, 1, context);
      if (!h) return -1;
      return loop_push_handle(fast, h.get());
    }
  }
  PyObject* args[4] = {nullptr, loop, callback, arg};
  Ref res;
  if (context == nullptr || context == Py_None) {
    res = Ref::steal(PyObject_VectorcallMethod(st->str_call_soon, args + 1,
                                               3 | PY_VECTORCALL_ARGUMENTS_OFFSET, nullptr));
  } else {
    PyObject* kwargs[5] = {nullptr, loop, callback, arg, context};
    res = Ref::steal(PyObject_VectorcallMethod(st->str_call_soon, kwargs + 1,
                                               3 | PY_VECTORCALL_ARGUMENTS_OFFSET,
                                               st->context_kwnames));
  }
  return res ? 0 : -1;
}

namespace {

// asyncio's _check_callback, done in debug mode only, as asyncio does.
int check_callback(LoopObject* loop, PyObject* callback, const char* method) {
  ModuleState* st = loop->state;
  for (PyObject* check : {st->iscoroutine, st->iscoroutinefunction}) {
    Ref is_coro = Ref::steal(PyObject_CallOneArg(check, callback));
    if (!is_coro) return -1;
    int truth = PyObject_IsTrue(is_coro.get());
    if (truth < 0) return -1;
    if (truth) {
      PyErr_Format(PyExc_TypeError, "coroutines cannot be used with %s()", method);
      return -1;
    }
  }
  if (!PyCallable_Check(callback)) {
    PyErr_Format(PyExc_TypeError, "a callable object was expected by %s(), got %R", method,
                 callback);
    return -1;
  }
  return 0;
}

// call_soon(callback, *args, context=None) and call_soon_threadsafe; the
// messages name asyncio's methods, as asyncio's own TypeErrors do.
const char* const kSoonNames[] = {"callback", "context"};
PyObject* ModuleState::* const kSoonInterned[] = {nullptr, &ModuleState::str_context};
const ArgSpec kCallSoonArgs = {"BaseEventLoop.call_soon", ArgStyle::kPython, 2, 1, 1, 1, true,
                               kSoonNames, kSoonInterned};
const ArgSpec kCallSoonThreadsafeArgs = {"BaseEventLoop.call_soon_threadsafe",
                                         ArgStyle::kPython, 2, 1, 1, 1, true, kSoonNames,
                                         kSoonInterned};
// call_at(when, callback, *args, context=None), call_later(delay, ...).
const char* const kAtNames[] = {"when", "callback", "context"};
const char* const kLaterNames[] = {"delay", "callback", "context"};
PyObject* ModuleState::* const kAtInterned[] = {nullptr, nullptr, &ModuleState::str_context};
const ArgSpec kCallAtArgs = {"BaseEventLoop.call_at", ArgStyle::kPython, 3, 2, 2, 2, true,
                             kAtNames, kAtInterned};
const ArgSpec kCallLaterArgs = {"BaseEventLoop.call_later", ArgStyle::kPython, 3, 2, 2, 2, true,
                                kLaterNames, kAtInterned};

// The arguments of a call_soon-like call: values[0] the callback, values[1]
// the context (nullptr: none given); the callback's own arguments follow
// the positional parameters.
struct SoonCall {
  PyObject* values[2] = {nullptr, nullptr};
  PyObject* const* cb_args = nullptr;
  Py_ssize_t ncb = 0;

  bool parse(LoopObject* loop, const ArgSpec& spec, PyObject* const* args, Py_ssize_t nargs,
             PyObject* kwnames) {
    if (!parse_args(loop->state, spec, args, nargs, kwnames, values)) return false;
    cb_args = args + 1;
    ncb = nargs > 1 ? nargs - 1 : 0;
    return true;
  }
};

PyObject* schedule_soon(LoopObject* loop, const ArgSpec& spec, const char* method,
                        PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames,
                        bool threadsafe) {
  SoonCall call;
  if (!call.parse(loop, spec, args, nargs, kwnames) || loop_check_closed(loop) < 0) {
    return nullptr;
  }
  PyObject* callback = call.values[0];
  if (AIOEV_UNLIKELY(loop->debug)) {
    if (!threadsafe && loop_check_thread(loop) < 0) return nullptr;
    if (check_callback(loop, callback, method) < 0) return nullptr;
  }
  Owned<HandleObject> h =
      handle_new(loop, false, callback, call.cb_args, call.ncb, call.values[1]);
  if (!h || loop_push_handle(loop, h.get()) < 0) return nullptr;
  return reinterpret_cast<PyObject*>(h.release());
}

PyObject* Loop_call_soon(PyObject* self, PyObject* const* args, Py_ssize_t nargs,
                         PyObject* kwnames) {
  return schedule_soon(as_loop(self), kCallSoonArgs, "call_soon", args, nargs, kwnames, false);
}

// From the loop's own thread call_soon_threadsafe is call_soon (that thread
// is awake by definition). Any other thread queues the handle on the
// loop's threadsafe queue, which the loop's thread empties into the ready
// queue before it next reads or extends it, and wakes the loop, which may
// be polling.
PyObject* Loop_call_soon_threadsafe(PyObject* self, PyObject* const* args, Py_ssize_t nargs,
                                    PyObject* kwnames) {
  LoopObject* loop = as_loop(self);
  if (in_loop_thread(loop)) {
    return schedule_soon(loop, kCallSoonThreadsafeArgs, "call_soon_threadsafe", args, nargs,
                         kwnames, true);
  }
  SoonCall call;
  if (!call.parse(loop, kCallSoonThreadsafeArgs, args, nargs, kwnames)) return nullptr;
  if (loop_check_closed(loop) < 0) return nullptr;
  PyObject* callback = call.values[0];
  if (AIOEV_UNLIKELY(load_relaxed(loop->debug)) &&
      check_callback(loop, callback, "call_soon_threadsafe") < 0) {
    return nullptr;
  }
  Owned<HandleObject> h =
      handle_new(loop, false, callback, call.cb_args, call.ncb, call.values[1]);
  if (!h || loop_push_threadsafe(loop, PyReadyEntry::handle(h.object())) < 0) return nullptr;
  return reinterpret_cast<PyObject*>(h.release());
}

// values: when (or delay), callback, context, as parsed by kCallAtArgs.
PyObject* schedule_at(LoopObject* loop, double when, PyObject* const* values,
                      PyObject* const* args, Py_ssize_t nargs) {
  if (loop_check_closed(loop) < 0) return nullptr;
  PyObject* callback = values[1];
  if (AIOEV_UNLIKELY(loop->debug)) {
    if (loop_check_thread(loop) < 0 || check_callback(loop, callback, "call_at") < 0) {
      return nullptr;
    }
  }
  Owned<HandleObject> h = handle_new(loop, true, callback, args + 2, nargs - 2, values[2]);
  if (!h) return nullptr;
  h->when = when;
  LoopAccess access(loop);
  if (AIOEV_UNLIKELY(!access.granted())) {
    store_relaxed(h->scheduled, true);  // in the heap from now on, as cancel() sees it
    if (loop_push_threadsafe(loop, PyReadyEntry::handle(h.object())) < 0) {
      store_relaxed(h->scheduled, false);
      return nullptr;
    }
    return reinterpret_cast<PyObject*>(h.release());
  }
  if (AIOEV_UNLIKELY(!loop->timers.push(when, h.get()))) return PyErr_NoMemory();
  store_relaxed(h->scheduled, true);
  Py_INCREF(h.get());  // the heap's reference
  return reinterpret_cast<PyObject*>(h.release());
}

int as_seconds(PyObject* value, double* out) {
  *out = PyFloat_AsDouble(value);
  return (*out == -1.0 && PyErr_Occurred()) ? -1 : 0;
}

PyObject* Loop_call_at(PyObject* self, PyObject* const* args, Py_ssize_t nargs,
                       PyObject* kwnames) {
  LoopObject* loop = as_loop(self);
  PyObject* values[3] = {nullptr, nullptr, nullptr};
  if (!parse_args(loop->state, kCallAtArgs, args, nargs, kwnames, values)) return nullptr;
  if (values[0] == Py_None) {
    PyErr_SetString(PyExc_TypeError, "when cannot be None");
    return nullptr;
  }
  double when = 0;
  bool overflow = false;
  if (as_seconds(values[0], &when) < 0) {
    // asyncio keeps the int and fails only when its poll timeout is computed
    // from it (`when - time()`); until then it sorts as +-inf would.
    if (!PyLong_Check(values[0]) || !PyErr_ExceptionMatches(PyExc_OverflowError)) return nullptr;
    PyErr_Clear();
    int sign = PyObject_RichCompareBool(values[0], Py_False, Py_GT);
    if (sign < 0) return nullptr;
    when = sign ? HUGE_VAL : -HUGE_VAL;
    overflow = true;
  }
  PyObject* h = schedule_at(loop, when, values, args, nargs);
  if (h != nullptr) reinterpret_cast<HandleObject*>(h)->when_overflow = overflow;
  return h;
}

PyObject* Loop_call_later(PyObject* self, PyObject* const* args, Py_ssize_t nargs,
                          PyObject* kwnames) {
  LoopObject* loop = as_loop(self);
  PyObject* values[3] = {nullptr, nullptr, nullptr};
  if (!parse_args(loop->state, kCallLaterArgs, args, nargs, kwnames, values)) return nullptr;
  PyObject* delay = values[0];
  if (delay == Py_None) {
    PyErr_SetString(PyExc_TypeError, "delay must not be None");
    return nullptr;
  }
  double when = monotonic_now();
  if (AIOEV_LIKELY(PyFloat_CheckExact(delay))) {
    when += PyFloat_AS_DOUBLE(delay);
  } else {
    // Whatever `loop.time() + delay` does in asyncio, errors included.
    Ref now = Ref::steal(PyFloat_FromDouble(when));
    if (!now) return nullptr;
    Ref sum = Ref::steal(PyNumber_Add(now.get(), delay));
    if (!sum || as_seconds(sum.get(), &when) < 0) return nullptr;
  }
  return schedule_at(loop, when, values, args, nargs);
}

PyObject* Loop_time(PyObject*, PyObject*) { return PyFloat_FromDouble(monotonic_now()); }

PyObject* Loop_stop(PyObject* self, PyObject*) {
  as_loop(self)->stopping = true;
  Py_RETURN_NONE;
}

// These three may be asked from any thread.
PyObject* Loop_is_running(PyObject* self, PyObject*) {
  return PyBool_FromLong(__atomic_load_n(&as_loop(self)->has_thread_id, __ATOMIC_ACQUIRE));
}

PyObject* Loop_is_closed(PyObject* self, PyObject*) {
  return PyBool_FromLong(load_relaxed(as_loop(self)->closed));
}

PyObject* Loop_get_debug(PyObject* self, PyObject*) {
  return PyBool_FromLong(load_relaxed(as_loop(self)->debug));
}

PyObject* Loop_create_future(PyObject* self, PyObject*) {
  return loop_create_future(as_loop(self)).release();
}

// BaseEventLoop.create_task(self, *args, **kwargs): the calls the fast path
// below does not take (a task factory, debug mode, unusual arguments).
Ref call_base_create_task(ModuleState* st, PyObject* self, PyObject* const* args,
                          Py_ssize_t nargs, PyObject* kwnames) {
  Py_ssize_t total = nargs + (kwnames ? PyTuple_GET_SIZE(kwnames) : 0);
  PyObject* small[4];
  PyObject** stack = small;
  if (AIOEV_UNLIKELY(total + 1 > 4)) {
    stack = PyMem_New(PyObject*, total + 1);
    if (stack == nullptr) {
      PyErr_NoMemory();
      return Ref();
    }
  }
  stack[0] = self;
  for (Py_ssize_t i = 0; i < total; ++i) stack[i + 1] = args[i];
  Ref result = Ref::steal(PyObject_Vectorcall(st->base_create_task, stack, nargs + 1, kwnames));
  if (stack != small) PyMem_Free(stack);
  return result;
}

// cls(*args, **kwargs) for a class of the plain metatype without a vectorcall
// of its own (asyncio's Task): through type's tp_call, as PyObject_Vectorcall
// would go, but without its recursion count. A caller of loop.create_task
// has already paid one for this C method, where asyncio's create_task is a
// Python frame that costs none, so an eager chain of asyncio Tasks counts
// as many levels here as on asyncio's loop. Anything else is vectorcalled.
Ref call_class(PyObject* cls, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  if (!Py_IS_TYPE(cls, &PyType_Type) ||
      reinterpret_cast<PyTypeObject*>(cls)->tp_vectorcall != nullptr) {
    return Ref::steal(PyObject_Vectorcall(cls, args, nargs, kwnames));
  }
  Ref tuple = Ref::steal(PyTuple_New(nargs));
  Ref kwargs = Ref::steal(PyDict_New());
  if (!tuple || !kwargs) return Ref();
  for (Py_ssize_t i = 0; i < nargs; ++i) PyTuple_SET_ITEM(tuple.get(), i, Py_NewRef(args[i]));
  for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(kwnames); ++i) {
    if (PyDict_SetItem(kwargs.get(), PyTuple_GET_ITEM(kwnames, i), args[nargs + i]) < 0) {
      return Ref();
    }
  }
  return Ref::steal(PyType_Type.tp_call(cls, tuple.get(), kwargs.get()));
}

// BaseEventLoop.create_task's factory branch: factory(loop, coro), with
// context= when one is given, then the name set as the version sets it. An
// eager factory from asyncio.create_eager_task_factory is not entered: its
// constructor is called as the factory would call it, so an eager task that
// creates an eager task costs no Python frame in between (a chain of them
// goes as deep as on asyncio's loop, where create_task is Python).
Ref create_task_by_factory(ModuleState* st, PyObject* self, PyObject* factory, PyObject* coro,
                           PyObject* name, PyObject* context) {
  Ref task;
  if (PyObject* constructor = asyncio_eager_factory_constructor(st, factory)) {
    Ref hold = Ref::borrow(constructor);
    if (constructor == reinterpret_cast<PyObject*>(st->native_task_type)) {
      task = task_new(st, coro, self, Py_None, context, true);
    } else {
      PyObject* cargs[] = {coro, self, Py_None, context, Py_True};
      task = call_class(constructor, cargs, 1, st->eager_kwnames);
    }
  } else {
    PyObject* fargs[] = {self, coro, context};
    task = Ref::steal(PyObject_Vectorcall(factory, fargs, 2,
                                          context == Py_None ? nullptr : st->context_kwnames));
  }
  if (!task) return task;
#if AIOEV_PY313
  // 3.13: task.set_name(name), None included.
  if (!Ref::steal(PyObject_CallMethodOneArg(task.get(), st->str_set_name, name))) return Ref();
#else
  // tasks._set_task_name(task, name).
  if (name != Py_None) {
    Ref set_name = Ref::steal(PyObject_GetAttr(task.get(), st->str_set_name));
    if (!set_name) {
      if (!PyErr_ExceptionMatches(PyExc_AttributeError)) return Ref();
      PyErr_Clear();
      if (PyErr_WarnEx(PyExc_DeprecationWarning,
                       "Task.set_name() was added in Python 3.8, the method support will be "
                       "mandatory for third-party task implementations since 3.13.",
                       1) < 0) {
        return Ref();
      }
    } else if (!Ref::steal(PyObject_CallOneArg(set_name.get(), name))) {
      return Ref();
    }
  }
#endif
  return task;
}

// create_task(coro, /, *, name=None, context=None): only its keywords are
// looked up here; any other call is BaseEventLoop's, messages included.
const char* const kCreateTaskNames[] = {"coro", "name", "context"};
PyObject* ModuleState::* const kCreateTaskInterned[] = {nullptr, &ModuleState::str_name,
                                                       &ModuleState::str_context};
const ArgSpec kCreateTaskArgs = {"BaseEventLoop.create_task", ArgStyle::kPython, 3, 1, 1, 1,
                                 false, kCreateTaskNames, kCreateTaskInterned};

// BaseEventLoop.create_task in C for coro, name= and context=: asyncio's
// Task (or aioev's) through its constructor, or the task factory. Other
// arguments take BaseEventLoop's own path (asyncio's own errors, or on
// 3.13.3+ the extra keyword arguments it hands on to the factory or the
// Task), and so does debug mode.
PyObject* Loop_create_task(PyObject* self, PyObject* const* args, Py_ssize_t nargs,
                           PyObject* kwnames) {
  LoopObject* loop = as_loop(self);
  ModuleState* st = loop->state;
  PyObject* name = Py_None;
  PyObject* context = Py_None;
  Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
  bool usual = nargs == 1 && nkw <= 2;
  for (Py_ssize_t i = 0; usual && i < nkw; ++i) {
    int param = find_keyword(st, kCreateTaskArgs, PyTuple_GET_ITEM(kwnames, i));
    if (param == 1) {
      name = args[nargs + i];
    } else if (param == 2) {
      context = args[nargs + i];
    } else {
      usual = false;
    }
  }
  if (!usual) return call_base_create_task(st, self, args, nargs, kwnames).release();
  if (loop_check_closed(loop) < 0) return nullptr;
  Ref factory = Ref::steal(PyObject_GetAttr(self, st->str_task_factory));
  if (!factory) return nullptr;
  if (factory.get() == Py_None && loop->native_task) {
    return task_new(st, args[0], self, name, context).release();
  }
  if (AIOEV_UNLIKELY(loop->debug)) {
    // asyncio's own path: in debug mode the task's source traceback holds
    // BaseEventLoop.create_task's frames (and trims one).
    return call_base_create_task(st, self, args, nargs, kwnames).release();
  }
  if (factory.get() != Py_None) {
    return create_task_by_factory(st, self, factory.get(), args[0], name, context).release();
  }
  PyObject* task_args[] = {args[0], self, name, context};
  return PyObject_Vectorcall(st->task_type, task_args, 1, st->task_kwnames);
}

PyObject* Loop_write_to_self(PyObject* self, PyObject*) {
  LoopObject* loop = as_loop(self);
  if (loop->ev != nullptr) ev_async_send(loop->ev, &loop->wakeup);
  Py_RETURN_NONE;
}


// A Handle for callback(*args) that is not scheduled: add_signal_handler's.
PyObject* Loop_new_handle(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
  if (nargs < 1) {
    PyErr_SetString(PyExc_TypeError, "_new_handle() missing required argument: 'callback'");
    return nullptr;
  }
  return reinterpret_cast<PyObject*>(
      handle_new(as_loop(self), false, args[0], args + 1, nargs - 1, nullptr).release());
}

// ---- the run loop ----

void drop_cancelled_timers(LoopObject* loop) {
  auto& timers = loop->timers;
  double cancelled = static_cast<double>(load_relaxed(loop->timers_cancelled));
  if (timers.size() > kMinScheduledTimers &&
      cancelled > kMaxCancelledFraction * static_cast<double>(timers.size())) {
    // The rebuild only saves memory: without room to hold what it drops
    // (their release may run Python code, which must not find the heap half
    // rebuilt), cancelled timers go the lazy way below.
    PyArray<HandleObject*> dropped;
    if (dropped.reserve(timers.size())) {
      timers.remove_if([&](HandleObject* h) {
        if (!load_relaxed(h->cancelled)) return false;
        store_relaxed(h->scheduled, false);
        dropped.push_back(h);  // cannot fail: room for every timer
        return true;
      });
      add_shared(loop->timers_cancelled, -static_cast<Py_ssize_t>(dropped.size()));
      for (HandleObject* h : dropped) Py_DECREF(h);
      return;
    }
  }
  while (!timers.empty() && load_relaxed(timers.top().item->cancelled)) {
    HandleObject* h = timers.pop();
    store_relaxed(h->scheduled, false);
    add_shared(loop->timers_cancelled, Py_ssize_t{-1});
    Py_DECREF(h);
  }
}

// Polls libev; timeout < 0 means "until something happens". -1 with
// MemoryError when there is no room for what the poll may report (nothing
// is lost: the next poll reports the same readiness).
int poll_io(LoopObject* loop, double timeout) {
  struct ev_loop* ev = loop->ev;
  if (loop->fds.has_changes()) io_check_changed(loop);
  // The reserve may have gone to libev since the last poll.
  if (AIOEV_UNLIKELY(ev_memory_ready(loop->ev_fds) < 0)) return -1;
  // Each started watcher reports at most once per poll, and queues at most
  // its reader, its writer and its transport.
  size_t watchers = static_cast<size_t>(loop->io_active);
  if (AIOEV_UNLIKELY(!loop->io_fired.reserve(watchers) ||
                     !loop->ready.reserve(loop->ready.size() + 3 * watchers))) {
    PyErr_NoMemory();
    return -1;
  }
  if (timeout == 0) {
    ev_set_loop_release_cb(ev, nullptr, nullptr);  // not worth dropping the GIL
    ev_run(ev, EVRUN_NOWAIT);
    io_queue_fired(loop);
    return 0;
  }
  ev_set_loop_release_cb(ev, release_gil, acquire_gil);
  if (timeout > 0) {
    ev_now_update(ev);  // the timer counts from libev's idea of now
    ev_timer_set(&loop->poll_timer, timeout, 0.);
    ev_timer_start(ev, &loop->poll_timer);
  }
  ev_run(ev, EVRUN_ONCE);
  if (ev_is_active(&loop->poll_timer)) ev_timer_stop(ev, &loop->poll_timer);
  io_queue_fired(loop);
  return 0;
}

// Drops the references a ready entry owns (see PyReadyEntry).
void release_entry(const PyReadyEntry& entry) {
  Py_XDECREF(entry.arg);
  Py_DECREF(entry.object);
}

int run_debug(LoopObject* loop, HandleObject* h) {
  PyObject* self = reinterpret_cast<PyObject*>(loop);
  ModuleState* st = loop->state;
  if (PyObject_SetAttr(self, st->str_current_handle, reinterpret_cast<PyObject*>(h)) < 0) {
    return -1;
  }
  double t0 = monotonic_now();
  int rc = handle_run(h);
  double dt = monotonic_now() - t0;
  if (rc == 0) {
    Ref limit = Ref::steal(PyObject_GetAttr(self, st->str_slow_callback_duration));
    double seconds = limit ? PyFloat_AsDouble(limit.get()) : -1;
    if (PyErr_Occurred()) {
      rc = -1;
    } else if (dt >= seconds) {
      Ref dt_obj = Ref::steal(PyFloat_FromDouble(dt));
      Ref logged = dt_obj ? Ref::steal(PyObject_CallFunctionObjArgs(
                                st->warn_slow_callback, h, dt_obj.get(), nullptr))
                          : Ref();
      if (!logged) rc = -1;
    }
  }
  // Restore _current_handle even when an exception is on its way out.
  ErrorGuard raised;
  if (PyObject_SetAttr(self, st->str_current_handle, Py_None) < 0) {
    raised.discard();
    return -1;
  }
  return rc;
}

// One iteration, in asyncio's order: poll, expired timers, then exactly the
// callbacks that were ready at that moment.
int run_once(LoopObject* loop) {
  drop_cancelled_timers(loop);
  if (loop_take_threadsafe(loop) < 0) return -1;

  double timeout = -1;
  if (!loop->ready.empty() || loop->stopping) {
    timeout = 0;
  } else if (!loop->timers.empty()) {
    if (AIOEV_UNLIKELY(loop->timers.top().item->when_overflow)) {
      PyErr_SetString(PyExc_OverflowError, "int too large to convert to float");
      return -1;
    }
    timeout = loop->timers.top().when - monotonic_now();
    if (timeout < kSpinThreshold) timeout = 0;
    if (timeout > kMaxPollTimeout) timeout = kMaxPollTimeout;
    if (AIOEV_UNLIKELY(timeout != timeout)) {
      if (kNanTimeoutRaises) {
        PyErr_SetString(PyExc_ValueError, "cannot convert float NaN to integer");
        return -1;
      }
      timeout = 0;
    }
  }
  // A busy loop with no fd to watch has nothing to learn from the kernel:
  // threadsafe callbacks are already queued and signals are checked below.
  bool idle_io = loop->io_active == 0 && PyDict_GET_SIZE(loop->signal_handlers) == 0;
  if (!(timeout == 0 && idle_io) && poll_io(loop, timeout) < 0) return -1;
  if (AIOEV_UNLIKELY(loop->loop_error)) {
    loop->loop_error = false;
    return -1;
  }
  if (PyErr_CheckSignals() < 0) return -1;
  if (loop_take_threadsafe(loop) < 0) return -1;  // what came during the poll

  if (!loop->timers.empty()) {
    double end_time = monotonic_now() + loop->clock_resolution;
    // asyncio stops at the first timer due at end_time or later, so a NaN
    // deadline at the top runs now.
    while (!loop->timers.empty() && !(loop->timers.top().when >= end_time)) {
      HandleObject* h = loop->timers.pop();
      store_relaxed(h->scheduled, false);
      if (load_relaxed(h->cancelled)) {
        // asyncio hands it to _ready without counting it off, so its count
        // of cancelled timers (which decides the heap's rebuild) drifts up.
        Py_DECREF(h);
        continue;
      }
      // The heap's reference becomes the ready queue's.
      PyReadyEntry entry = PyReadyEntry::handle(reinterpret_cast<PyObject*>(h));
      if (AIOEV_UNLIKELY(!loop->ready.push_back(entry))) {
        // Back where it was (the pop left room), to run once memory allows.
        store_relaxed(h->scheduled, true);
        loop->timers.push(h->when, h);
        PyErr_NoMemory();
        return -1;
      }
    }
  }

  for (size_t todo = loop->ready.size(); todo > 0 && !loop->ready.empty(); --todo) {
    PyReadyEntry entry = loop->ready.pop_front();
    ready_retrack(entry);
    int rc = 0;
    switch (entry.kind) {
      case ReadyKind::kHandle: {
        HandleObject* h = reinterpret_cast<HandleObject*>(entry.object);
        // A handle cancelled meanwhile, by any thread, is skipped.
        if (!load_relaxed(h->cancelled)) {
          rc = AIOEV_UNLIKELY(loop->debug) ? run_debug(loop, h) : handle_run(h);
        }
        break;
      }
      case ReadyKind::kTaskStep:
        rc = task_run_ready(loop, entry.object, false, entry.arg);
        break;
      case ReadyKind::kTaskWakeup:
        rc = task_run_ready(loop, entry.object, true, entry.arg);
        break;
      case ReadyKind::kTransport:
        rc = transport_run_ready(entry.object, entry.events);
        break;
    }
    release_entry(entry);
    if (rc < 0) return -1;
  }
  size_t large_reads = load_relaxed(loop->large_read_bytes);
  if (large_reads != 0) {
    store_relaxed(loop->large_read_bytes, size_t{0});
    heap_keep_for_reads(large_reads);
  }
  return 0;
}

// Runs iterations until stop(); run_forever's setup and cleanup are Python's.
PyObject* Loop_run(PyObject* self, PyObject*) {
  LoopObject* loop = as_loop(self);
  if (loop_check_closed(loop) < 0) return nullptr;
  do {
    if (run_once(loop) < 0) return nullptr;
  } while (!loop->stopping);
  Py_RETURN_NONE;
}

// What the loop held until take_all: released by the destructor, after the
// loop's own state is consistent, since releasing may run Python code.
struct Taken {
  PyReadyQueue ready;
  PyReadyQueue threadsafe;
  TimerHeap<HandleObject*, PyRawAllocator>::Entries timers;
  ~Taken() {
    drain(&ready);
    drain(&threadsafe);
    for (auto& entry : timers) Py_DECREF(entry.item);
  }
  static void drain(PyReadyQueue* queue) {
    while (!queue->empty()) {
      PyReadyEntry entry = queue->pop_front();
      ready_retrack(entry);
      release_entry(entry);
    }
  }
};

// Empties the ready queue and the timer heap into *taken without
// allocating (tp_clear must not fail); BaseEventLoop.close() has run first.
void take_all(LoopObject* loop, Taken* taken) {
  taken->ready.swap(loop->ready);
  nogil_lock(&loop->threadsafe_lock);
  taken->threadsafe.swap(loop->threadsafe);
  loop->threadsafe_timers = 0;
  __atomic_store_n(&loop->threadsafe_pending, false, __ATOMIC_RELAXED);
  nogil_unlock(&loop->threadsafe_lock);
  taken->timers = loop->timers.take_all();
  // TimerHandles another thread scheduled leave the heap they were bound for.
  for (size_t i = 0; i < taken->threadsafe.size(); ++i) {
    PyObject* item = taken->threadsafe.at(i).object;
    if (Py_IS_TYPE(item, loop->state->timer_handle_type)) {
      store_relaxed(reinterpret_cast<HandleObject*>(item)->scheduled, false);
    }
  }
  for (auto& entry : taken->timers) store_relaxed(entry.item->scheduled, false);
  store_relaxed(loop->timers_cancelled, Py_ssize_t{0});
}

PyObject* Loop_close_core(PyObject* self, PyObject*) {
  LoopObject* loop = as_loop(self);
  Taken taken;
  take_all(loop, &taken);
  io_release_all(loop);
  signals_close(loop);
  Py_RETURN_NONE;
}

// ---- attributes BaseEventLoop reads and writes: the C fields are the truth ----

PyObject* get_flag(PyObject* self, void* which) {
  LoopObject* loop = as_loop(self);
  return PyBool_FromLong(*reinterpret_cast<bool*>(reinterpret_cast<char*>(loop) +
                                                  reinterpret_cast<intptr_t>(which)));
}

int set_flag(PyObject* self, PyObject* value, void* which) {
  if (value == nullptr) {
    PyErr_SetString(PyExc_AttributeError, "cannot delete this attribute");
    return -1;
  }
  int truth = PyObject_IsTrue(value);
  if (truth < 0) return -1;
  store_relaxed(
      *reinterpret_cast<bool*>(reinterpret_cast<char*>(self) + reinterpret_cast<intptr_t>(which)),
      static_cast<bool>(truth));
  return 0;
}

PyObject* get_thread_id(PyObject* self, void*) {
  LoopObject* loop = as_loop(self);
  if (!loop->has_thread_id) Py_RETURN_NONE;
  return PyLong_FromUnsignedLong(loop->thread_id);
}

int set_thread_id(PyObject* self, PyObject* value, void*) {
  LoopObject* loop = as_loop(self);
  // Release: a thread that finds no id (is_running) sees what the loop's
  // last thread did before.
  if (value == nullptr || value == Py_None) {
    __atomic_store_n(&loop->has_thread_id, false, __ATOMIC_RELEASE);
    return 0;
  }
  unsigned long id = PyLong_AsUnsignedLong(value);
  if (id == static_cast<unsigned long>(-1) && PyErr_Occurred()) return -1;
  // run_forever sets it in the thread that runs the loop.
  if (id == PyThread_get_thread_ident()) loop_set_owner(loop);
  store_relaxed(loop->thread_id, id);
  __atomic_store_n(&loop->has_thread_id, true, __ATOMIC_RELEASE);
  return 0;
}

PyObject* get_signal_handlers(PyObject* self, void*) {
  return Py_NewRef(as_loop(self)->signal_handlers);
}

#define FLAG(name) reinterpret_cast<void*>(offsetof(LoopObject, name))

PyGetSetDef loop_getset[] = {
    {"_closed", get_flag, set_flag, nullptr, FLAG(closed)},
    {"_stopping", get_flag, set_flag, nullptr, FLAG(stopping)},
    {"_debug", get_flag, set_flag, nullptr, FLAG(debug)},
    {"_native_task", get_flag, set_flag, nullptr, FLAG(native_task)},
    {"_thread_id", get_thread_id, set_thread_id, nullptr, nullptr},
    {"_signal_handlers", get_signal_handlers, nullptr, nullptr, nullptr},
    {nullptr, nullptr, nullptr, nullptr, nullptr},
};

#undef FLAG


// create_task's text signature without and with asyncio 3.13.3's **kwargs
// (loop_set_create_task_kwargs chooses).
#define AIOEV_CREATE_TASK_DOC_TAIL "\n--\n\nSchedule a coroutine object: return a Task."
const char kCreateTaskDoc[] =
    "create_task($self, coro, /, *, name=None, context=None)" AIOEV_CREATE_TASK_DOC_TAIL;
const char kCreateTaskKwargsDoc[] =
    "create_task($self, coro, /, *, name=None, context=None, **kwargs)" AIOEV_CREATE_TASK_DOC_TAIL;
#undef AIOEV_CREATE_TASK_DOC_TAIL

PyMethodDef loop_methods[] = {
    {"call_soon", as_pycfunction(Loop_call_soon), METH_FASTCALL | METH_KEYWORDS,
     "call_soon($self, callback, /, *args, context=None)\n--\n\nArrange for callback(*args) to be called soon."},
    {"call_soon_threadsafe", as_pycfunction(Loop_call_soon_threadsafe),
     METH_FASTCALL | METH_KEYWORDS, "call_soon_threadsafe($self, callback, /, *args, context=None)\n--\n\nLike call_soon(), but callable from any thread."},
    {"call_later", as_pycfunction(Loop_call_later), METH_FASTCALL | METH_KEYWORDS,
     "call_later($self, delay, callback, /, *args, context=None)\n--\n\nArrange for callback(*args) to be called after delay seconds."},
    {"call_at", as_pycfunction(Loop_call_at), METH_FASTCALL | METH_KEYWORDS,
     "call_at($self, when, callback, /, *args, context=None)\n--\n\nArrange for callback(*args) to be called at loop time when."},
    {"time", Loop_time, METH_NOARGS, "time($self, /)\n--\n\nThe loop's clock: time.monotonic()."},
    {"stop", Loop_stop, METH_NOARGS, "stop($self, /)\n--\n\nStop after the current iteration."},
    {"is_running", Loop_is_running, METH_NOARGS, "is_running($self, /)\n--\n\nReturn True if the loop is running."},
    {"is_closed", Loop_is_closed, METH_NOARGS, "is_closed($self, /)\n--\n\nReturn True if the loop was closed."},
    {"get_debug", Loop_get_debug, METH_NOARGS, "get_debug($self, /)\n--\n\nReturn the debug mode setting."},
    {"create_future", Loop_create_future, METH_NOARGS,
     "create_future($self, /)\n--\n\nA Future bound to this loop: aioev.Future (asyncio.Future with native_task off)."},
    {"create_task", as_pycfunction(Loop_create_task), METH_FASTCALL | METH_KEYWORDS,
     kCreateTaskDoc},
    {"_write_to_self", Loop_write_to_self, METH_NOARGS, "Wake the loop from any thread."},
    {"_new_handle", as_pycfunction(Loop_new_handle), METH_FASTCALL, "An unscheduled Handle."},
    {"_run", Loop_run, METH_NOARGS, "Run iterations until stop()."},
    {"_close_core", Loop_close_core, METH_NOARGS, "Release callbacks, timers and watchers."},
    {"add_reader", as_pycfunction(loop_add_reader_checked), METH_FASTCALL,
     "add_reader($self, fd, callback, /, *args)\n--\n\nCall callback(*args) whenever fd is readable."},
    {"add_writer", as_pycfunction(loop_add_writer_checked), METH_FASTCALL,
     "add_writer($self, fd, callback, /, *args)\n--\n\nCall callback(*args) whenever fd is writable."},
    {"remove_reader", loop_remove_reader_checked, METH_O,
     "remove_reader($self, fd, /)\n--\n\nStop watching fd for reading; return True if it was watched."},
    {"remove_writer", loop_remove_writer_checked, METH_O,
     "remove_writer($self, fd, /)\n--\n\nStop watching fd for writing; return True if it was watched."},
    {"_register_transport", loop_register_transport, METH_O,
     "Record the socket or datagram transport as its fd's (asyncio's _transports)."},
    {"_unregister_transport", loop_unregister_transport, METH_O,
     "Forget the transport as its fd's, if it still is."},
    {"_transport_for_fd", loop_transport_for_fd, METH_O,
     "The transport recorded for fd, or None."},
    {"_add_reader", as_pycfunction(loop_add_reader), METH_FASTCALL, "Watch fd for reading."},
    {"_add_writer", as_pycfunction(loop_add_writer), METH_FASTCALL, "Watch fd for writing."},
    {"_remove_reader", loop_remove_reader, METH_O, "Stop watching fd for reading."},
    {"_remove_writer", loop_remove_writer, METH_O, "Stop watching fd for writing."},
    {"_accept_connection", as_pycfunction(loop_accept_connection), METH_FASTCALL,
     "_accept_connection($self, protocol_factory, sock, sslcontext=None, server=None,\n"
     "                   backlog=100, ssl_handshake_timeout=None, ssl_shutdown_timeout=None, /)\n--\n\n"
     "Accept what is pending on the listening socket sock (up to backlog)."},
    {"_accepted_connection", as_pycfunction(loop_accepted_connection), METH_FASTCALL,
     "_accepted_connection($self, protocol_factory, conn, extra, server, /)\n--\n\n"
     "The protocol and socket transport of an accepted connection."},
    {"_sock_recv", as_pycfunction(loop_sock_recv), METH_FASTCALL,
     "sock.recv(n) now, or a Future of it (exact socket.socket only)."},
    {"_sock_recv_into", as_pycfunction(loop_sock_recv_into), METH_FASTCALL,
     "sock.recv_into(buf) now, or a Future of it (exact socket.socket only)."},
    {"_sock_sendall", as_pycfunction(loop_sock_sendall), METH_FASTCALL,
     "Send all of data: None when sent at once, else a Future."},
    {"_signal_wakeup_fd", loop_signal_wakeup_fd, METH_NOARGS,
     "The fd to pass to signal.set_wakeup_fd()."},
    {nullptr, nullptr, 0, nullptr},
};


// ---- lifetime ----

// Drops a loop that Loop_new could not finish, marked closed, so that
// BaseEventLoop.__del__, which runs when it goes, neither warns about an
// unclosed loop nor closes what was never made.
PyObject* loop_new_failed(LoopObject* loop) {
  store_relaxed(loop->closed, true);
  Py_DECREF(loop);
  return nullptr;
}

// The fds a new loop opens (the epoll fd, libev's wake-up eventfd, the
// signal socketpair), and room for others opened meanwhile.
constexpr int kLoopOwnFds = 8;

PyObject* Loop_new(PyTypeObject* type, PyObject*, PyObject*) {
  PyObject* mod = PyType_GetModuleByDef(type, &module_def);
  if (mod == nullptr) return nullptr;
  // object.__new__ rather than tp_alloc alone: it also sets up the inline
  // attribute values of a subclass's managed __dict__ (Lib/aioev/_loop.py's
  // Loop), without which CPython never specializes `loop.method` loads.
  Ref no_args = Ref::steal(PyTuple_New(0));
  if (!no_args) return nullptr;
  LoopObject* loop =
      reinterpret_cast<LoopObject*>(PyBaseObject_Type.tp_new(type, no_args.get(), nullptr));
  if (loop == nullptr) return nullptr;
  loop->state = module_state(mod);
  new (&loop->ready) PyReadyQueue();
  new (&loop->threadsafe) PyReadyQueue();
  new (&loop->handle_pool) PyArray<PyObject*>();
  new (&loop->future_iter_pool) PyArray<PyObject*>();
  new (&loop->timers) TimerHeap<HandleObject*, PyRawAllocator>();
  new (&loop->fds) FdTable<FdSlot, PyRawAllocator>();
  new (&loop->io_fired) PyArray<LoopObject::Fired>();
  loop->signal_fds[0] = loop->signal_fds[1] = -1;
  loop->native_task = true;  // aioev.Task and aioev.Future unless asked
#ifdef Py_GIL_DISABLED
  loop->owner_thread = PyThread_get_thread_ident();
#endif
  loop->signal_handlers = PyDict_New();
  if (loop->signal_handlers == nullptr) return loop_new_failed(loop);
  struct timespec res;
  clock_getres(CLOCK_MONOTONIC, &res);
  loop->clock_resolution = static_cast<double>(res.tv_sec) + res.tv_nsec * 1e-9;

  // libev watches its own wake-up fd, and the loop its signal socketpair,
  // both opened below: about the lowest fd free now (the kernel hands out
  // the lowest), which may be high when many files are open; libev's fd
  // array grows to them.
  int lowest = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (lowest >= 0) close(lowest);
  loop->ev_fds = (lowest > 0 ? lowest : 0) + kLoopOwnFds;
  if (ev_memory_ready(loop->ev_fds) < 0) return loop_new_failed(loop);
  // Never the default loop (it takes SIGCHLD), and libev must leave the
  // signal mask alone: CPython owns signals.
  loop->ev = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK);
  if (loop->ev == nullptr) {
    PyErr_SetString(PyExc_OSError, "libev could not create an event loop");
    return loop_new_failed(loop);
  }
  ev_set_userdata(loop->ev, loop);
  ev_async_init(&loop->wakeup, wakeup_cb);
  ev_async_start(loop->ev, &loop->wakeup);
  ev_timer_init(&loop->poll_timer, poll_timer_cb, 0., 0.);
  if (signals_init(loop) < 0) return loop_new_failed(loop);
  return reinterpret_cast<PyObject*>(loop);
}

int Loop_traverse(PyObject* self, visitproc visit, void* arg) {
  LoopObject* loop = as_loop(self);
  Py_VISIT(Py_TYPE(self));
  auto visit_entry = [&](const PyReadyEntry& entry) {
    Py_VISIT(entry.object);
    Py_VISIT(entry.arg);
    return 0;
  };
  // An untracked handle that only the queue holds is visited through (see
  // kUntrackQueued): its references count as the loop's.
  auto visit_ready = [&](const PyReadyEntry& entry) {
    if (kUntrackQueued && entry.kind == ReadyKind::kHandle &&
        reinterpret_cast<HandleObject*>(entry.object)->untracked &&
        Py_REFCNT(entry.object) == 1) {
      HandleObject* h = reinterpret_cast<HandleObject*>(entry.object);
      if (int rc = handle_traverse(entry.object, visit, arg)) return rc;
      PyObject* context = h->context;
      if (h->context_untracked && Py_REFCNT(context) == 1) {
        return Py_TYPE(context)->tp_traverse(context, visit, arg);
      }
      return 0;
    }
    return visit_entry(entry);
  };
  if (int rc = loop->ready.visit(visit_ready)) return rc;
  // No lock: the collector runs with the GIL held, or the world stopped.
  if (int rc = loop->threadsafe.visit(visit_ready)) return rc;
  for (size_t i = 0; i < loop->timers.size(); ++i) {
    Py_VISIT(reinterpret_cast<PyObject*>(loop->timers.at(i)));
  }
  Py_VISIT(loop->signal_handlers);
  Py_VISIT(loop->empty_context);
  return io_traverse(loop, visit, arg);
}

int Loop_clear(PyObject* self) {
  LoopObject* loop = as_loop(self);
  {
    Taken taken;
    take_all(loop, &taken);
    if (loop->ev != nullptr) io_release_all(loop);
  }
  if (loop->signal_handlers != nullptr) PyDict_Clear(loop->signal_handlers);
  Py_CLEAR(loop->recv_spare);
  Py_CLEAR(loop->empty_context);
  return 0;
}

}  // namespace

namespace {

void pool_drain(PyArray<PyObject*>* pool) {
  for (PyObject* dead : *pool) {
    PyTypeObject* type = Py_TYPE(dead);
    PyObject_GC_Del(dead);
    Py_DECREF(type);
  }
  pool->clear();
}

}  // namespace

void loop_dealloc(PyObject* self) {
  LoopObject* loop = as_loop(self);
  PyTypeObject* type = Py_TYPE(self);
  PyObject_GC_UnTrack(self);
  Loop_clear(self);
  if (loop->ev != nullptr) {
    signals_close(loop);
    ev_async_stop(loop->ev, &loop->wakeup);
    ev_loop_destroy(loop->ev);
    loop->ev = nullptr;
  }
  Py_CLEAR(loop->signal_handlers);
  PyMem_RawFree(loop->read_buffer);
  pool_drain(&loop->handle_pool);
  pool_drain(&loop->future_iter_pool);
  loop->handle_pool.~Array();
  loop->future_iter_pool.~Array();
  loop->ready.~ReadyQueue();
  loop->threadsafe.~ReadyQueue();
  loop->timers.~TimerHeap();
  loop->fds.~FdTable();
  loop->io_fired.~Array();
  type->tp_free(self);
  Py_DECREF(type);
}

namespace {

// Notes an instance attribute that replaces call_soon (a test's mock, a
// wrapper): futures and tasks then call it as asyncio's do.
int Loop_setattro(PyObject* self, PyObject* name, PyObject* value) {
  LoopObject* loop = as_loop(self);
  if (PyUnicode_Check(name) &&
      (name == loop->state->str_call_soon || PyUnicode_Compare(name, loop->state->str_call_soon) == 0)) {
    loop->call_soon_on_instance = value != nullptr;
  }
  return PyObject_GenericSetAttr(self, name, value);
}

PyType_Slot loop_slots[] = {
    {Py_tp_setattro, reinterpret_cast<void*>(Loop_setattro)},
    {Py_tp_new, reinterpret_cast<void*>(Loop_new)},
    {Py_tp_dealloc, reinterpret_cast<void*>(loop_dealloc)},
    {Py_tp_traverse, reinterpret_cast<void*>(Loop_traverse)},
    {Py_tp_clear, reinterpret_cast<void*>(Loop_clear)},
    {Py_tp_methods, loop_methods},
    {Py_tp_getset, loop_getset},
    {Py_tp_doc, const_cast<char*>("The C++ core of aioev's event loop.")},
    {0, nullptr},
};

}  // namespace

// asyncio 3.13.3 and later: BaseEventLoop.create_task(coro, *, name=None,
// context=None, **kwargs) hands extra keywords on, as Loop_create_task does
// then; its text signature says so only where asyncio's does.
void loop_set_create_task_kwargs(bool kwargs) {
  for (PyMethodDef* m = loop_methods; m->ml_name != nullptr; ++m) {
    if (strcmp(m->ml_name, "create_task") == 0) {
      m->ml_doc = kwargs ? kCreateTaskKwargsDoc : kCreateTaskDoc;
    }
  }
}

PyType_Spec loop_spec = {
    "aioev._aioev.Loop",
    sizeof(LoopObject),
    0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_BASETYPE,
    loop_slots,
};

double monotonic_now() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + ts.tv_nsec * 1e-9;
}

Ref call_method_handling(PyObject* exc, PyObject* obj, PyObject* name, PyObject* arg) {
  // The value of the innermost exception state, which an `except` sets and
  // PyErr_SetHandledException() replaces (PyErr_GetHandledException() looks
  // further out when it is empty, so restoring what it returns could leave
  // an outer exception in a coroutine's state).
  _PyErr_StackItem* item = PyThreadState_Get()->exc_info;
  Ref saved = Ref::borrow(item->exc_value == Py_None ? nullptr : item->exc_value);
  PyErr_SetHandledException(exc);
  Ref result = call_method(obj, name, arg);
  PyErr_SetHandledException(saved.get());
  return result;
}

int loop_call_exception_handler(ModuleState* st, PyObject* loop, PyObject* context,
                                PyObject* exc) {
  return call_method_handling(exc, loop, st->str_call_exception_handler, context) ? 0 : -1;
}

int loop_check_closed(LoopObject* loop) {
  if (AIOEV_UNLIKELY(load_relaxed(loop->closed))) {  // any thread may ask
    PyErr_SetString(PyExc_RuntimeError, "Event loop is closed");
    return -1;
  }
  return 0;
}

char* loop_read_buffer(LoopObject* loop) {
  if (loop->read_buffer == nullptr) {
    loop->read_buffer = static_cast<char*>(PyMem_RawMalloc(kReadBufferSize));
    if (loop->read_buffer == nullptr) PyErr_NoMemory();
  }
  return loop->read_buffer;
}

namespace {

// Sanitizer builds and free-threaded CPython (where a reference count of 1
// does not prove that no other thread holds the object) allocate every read.
#if defined(AIOEV_NO_RECYCLING) || defined(Py_GIL_DISABLED)
constexpr bool kRecycleReads = false;
#else
constexpr bool kRecycleReads = true;
#endif

// A recycled bytes object must look new: its cached hash is forgotten.
void forget_hash(PyObject* bytes) {
  _Py_COMP_DIAG_PUSH
  _Py_COMP_DIAG_IGNORE_DEPR_DECLS
  reinterpret_cast<PyBytesObject*>(bytes)->ob_shash = -1;
  _Py_COMP_DIAG_POP
}

}  // namespace

void heap_keep_for_reads(size_t n) {
#ifdef __GLIBC__
  // glibc raises its trim threshold to twice the size of a block it had
  // mapped on its own (one above its mmap threshold) when that block is
  // freed, for blocks up to 32 MiB: asyncio's 256 KiB receive buffers do
  // it by accident. Here a block of at least twice n, once per doubling,
  // keeps the heap's free top up to four times an iteration's reads. The
  // block is never touched, so it costs an mmap and a munmap and no page.
  constexpr size_t kMaxBlock = 16 * 1024 * 1024;
  static std::atomic<size_t> kept{0};  // the largest block so far, any loop
  size_t block = kept.load(std::memory_order_relaxed);
  if (block >= kMaxBlock || n <= block / 2) return;
  size_t want = 256 * 1024;
  while (want < 2 * n && want < kMaxBlock) want *= 2;
  if (!kept.compare_exchange_strong(block, want, std::memory_order_relaxed)) return;
  void* p = malloc(want);
  // The compiler may not drop the pair: glibc's free must see the block.
  __asm__ __volatile__("" : : "r"(p) : "memory");
  free(p);
#else
  (void)n;
#endif
}

Ref loop_take_read_bytes(LoopObject* loop, Py_ssize_t size, Py_ssize_t* capacity) {
  loop_note_large_read(loop, static_cast<size_t>(size));
  PyObject* spare = loop->recv_spare;
  // The spare's size is its capacity; a read that fills less than half of
  // it gets its own object, so that a kept object wastes at most half.
  if (spare != nullptr && PyBytes_GET_SIZE(spare) >= size &&
      PyBytes_GET_SIZE(spare) / 2 <= size) {
    loop->recv_spare = nullptr;
    *capacity = PyBytes_GET_SIZE(spare);
    return Ref::steal(spare);
  }
  *capacity = size;
  return Ref::steal(PyBytes_FromStringAndSize(nullptr, size));
}

int loop_shrink_read_bytes(Ref* bytes, Py_ssize_t* capacity, Py_ssize_t n) {
  PyObject* b = bytes->get();
  if (n == PyBytes_GET_SIZE(b)) return 0;
  if (kRecycleReads && n >= *capacity / 2) {
    Py_SET_SIZE(b, n);
    PyBytes_AS_STRING(b)[n] = '\0';
    return 0;
  }
  *capacity = n;
  b = bytes->release();
  int rc = _PyBytes_Resize(&b, n);  // on failure: released, b null
  *bytes = Ref::steal(b);
  return rc;
}

void loop_recycle_read_bytes(LoopObject* loop, Ref bytes, Py_ssize_t capacity) {
  PyObject* spare = loop->recv_spare;
  if (!kRecycleReads || Py_REFCNT(bytes.get()) != 1 ||
      capacity > static_cast<Py_ssize_t>(kReadBufferSize) ||
      (spare != nullptr && PyBytes_GET_SIZE(spare) >= capacity)) {
    return;
  }
  // Its bytes past the read's are the object's own (the terminating NUL at
  // capacity included), never shown: the next read overwrites them.
  Py_SET_SIZE(bytes.get(), capacity);
  forget_hash(bytes.get());
  Py_XSETREF(loop->recv_spare, bytes.release());
}

Ref loop_copy_read_bytes(LoopObject* loop, const char* data, Py_ssize_t n,
                         Py_ssize_t* capacity) {
  *capacity = 0;
  if (n < kDirectReadMin) return Ref::steal(PyBytes_FromStringAndSize(data, n));
  Ref bytes = loop_take_read_bytes(loop, n, capacity);
  if (!bytes) return bytes;
  memcpy(PyBytes_AS_STRING(bytes.get()), data, n);
  if (loop_shrink_read_bytes(&bytes, capacity, n) < 0) return Ref();
  return bytes;
}

Ref loop_create_future(LoopObject* loop) {
  PyObject* self = reinterpret_cast<PyObject*>(loop);
  if (loop->native_task) return future_new(loop->state, self);
  PyObject* args[] = {self};
  return Ref::steal(
      PyObject_Vectorcall(loop->state->future_type, args, 0, loop->state->loop_kwnames));
}

bool loop_plain_call_soon(LoopObject* loop) {
  if (AIOEV_UNLIKELY(loop->call_soon_on_instance)) return false;
  // The answer holds until the class or a base changes, which changes (or
  // clears) the type's version tag.
  PyTypeObject* type = Py_TYPE(loop);
  uint64_t cache = load_relaxed(loop->call_soon_cache);
  unsigned int tag = type->tp_version_tag;
  if (AIOEV_LIKELY(tag != 0 && (cache >> 1) == tag)) return (cache & 1) != 0;
  PyObject* name = loop->state->str_call_soon;
  Ref mine = Ref::steal(PyObject_GetAttr(reinterpret_cast<PyObject*>(type), name));
  Ref base = Ref::steal(PyObject_GetAttr(reinterpret_cast<PyObject*>(loop->state->loop_type), name));
  if (!mine || !base) {
    PyErr_Clear();
    return false;
  }
  bool plain = mine.get() == base.get();
  // The lookups gave the type a tag (0 if it cannot have one: never cached).
  store_relaxed(loop->call_soon_cache, (uint64_t{type->tp_version_tag} << 1) | plain);
  return plain;
}

}  // namespace aioev

namespace aioev {

int loop_push_threadsafe(LoopObject* loop, PyReadyEntry entry) {
  bool timer = entry.kind == ReadyKind::kHandle &&
               Py_IS_TYPE(entry.object, loop->state->timer_handle_type);
  nogil_lock(&loop->threadsafe_lock);
  bool queued = loop->threadsafe.push_back(entry);
  bool woken = false;  // by the call that queued the first entry of those waiting
  if (queued) {
    Py_INCREF(entry.object);  // the queue's references
    Py_XINCREF(entry.arg);
    ready_untrack(loop->threadsafe, entry);
    if (timer) ++loop->threadsafe_timers;
    woken = __atomic_load_n(&loop->threadsafe_pending, __ATOMIC_RELAXED);
    __atomic_store_n(&loop->threadsafe_pending, true, __ATOMIC_RELEASE);
  }
  nogil_unlock(&loop->threadsafe_lock);
  if (AIOEV_UNLIKELY(!queued)) {
    PyErr_NoMemory();
    return -1;
  }
  // Until the loop takes the queue (which clears threadsafe_pending under
  // the same lock), the call that found it empty wakes the loop, or is
  // about to: one wakeup covers every entry queued before the take. This
  // spares the others ev_async_send's three memory fences.
  if (!woken) ev_async_send(loop->ev, &loop->wakeup);
  return 0;
}

int loop_take_threadsafe_slow(LoopObject* loop) {
  int rc = 0;
  nogil_lock(&loop->threadsafe_lock);
  if (loop->threadsafe_timers == 0 && loop->ready.empty()) {
    loop->ready.swap(loop->threadsafe);
  } else if (loop->ready.reserve(loop->ready.size() + loop->threadsafe.size())) {
    // A TimerHandle another thread scheduled goes to the heap (with the
    // queue's reference); one that finds no room there waits at the front
    // for the next take.
    while (rc == 0 && !loop->threadsafe.empty()) {
      PyReadyEntry entry = loop->threadsafe.pop_front();
      if (loop->threadsafe_timers == 0 || entry.kind != ReadyKind::kHandle ||
          !Py_IS_TYPE(entry.object, loop->state->timer_handle_type)) {
        loop->ready.push_back(entry);
        continue;
      }
      HandleObject* h = reinterpret_cast<HandleObject*>(entry.object);
      ready_retrack(entry);  // the heap's handles are the collector's
      if (loop->timers.push(h->when, h)) {
        --loop->threadsafe_timers;
      } else {
        loop->threadsafe.push_front(entry);
        rc = -1;
      }
    }
  } else {
    rc = -1;
  }
  if (rc == 0) __atomic_store_n(&loop->threadsafe_pending, false, __ATOMIC_RELAXED);
  nogil_unlock(&loop->threadsafe_lock);
  if (rc < 0) PyErr_NoMemory();
  return rc;
}

namespace {

// A try-lock: a thread that finds the pools taken does without them.
bool pools_enter(LoopObject* loop) {
#ifdef Py_GIL_DISABLED
  int expected = 0;
  return __atomic_compare_exchange_n(&loop->pools_busy, &expected, 1, false, __ATOMIC_ACQUIRE,
                                     __ATOMIC_RELAXED);
#else
  (void)loop;  // the GIL
  return true;
#endif
}

void pools_exit(LoopObject* loop) {
#ifdef Py_GIL_DISABLED
  __atomic_store_n(&loop->pools_busy, 0, __ATOMIC_RELEASE);
#else
  (void)loop;
#endif
}

}  // namespace

PyObject* loop_pool_take(LoopObject* loop, PyArray<PyObject*>* pool) {
  if (!pools_enter(loop)) return nullptr;
  PyObject* dead = nullptr;
  if (!pool->empty()) {
    dead = pool->back();
    pool->pop_back();
  }
  pools_exit(loop);
  return dead;
}

bool loop_pool_put(LoopObject* loop, PyArray<PyObject*>* pool, size_t limit, PyObject* dead) {
  if (!pools_enter(loop)) return false;
  bool kept = pool->size() < limit && pool->push_back(dead);
  pools_exit(loop);
  return kept;
}

void loop_pool_revive(PyObject* dead, PyTypeObject* type, Py_ssize_t size) {
  PyTypeObject* old = Py_TYPE(dead);
  if (old == type) {
    // The reference dead keeps to its type is the one it needs: only the
    // header is made new. (PyObject_Init would take another, given back
    // at once: two atomic operations on the type's count on a
    // free-threaded build, where loops in several threads share the type,
    // and its cache line went from core to core with every handle.)
    if (size >= 0) Py_SET_SIZE(reinterpret_cast<PyVarObject*>(dead), size);
    _Py_NewReference(dead);
    return;
  }
  if (size >= 0) {
    PyObject_InitVar(reinterpret_cast<PyVarObject*>(dead), type, size);
  } else {
    PyObject_Init(dead, type);
  }
  Py_DECREF(old);
}

}  // namespace aioev
