// aioev.Future: asyncio.Future's API and behaviour in C++, and the iterator
// that `await future` drives. aioev.Task (task.cpp) derives from it.
#include "future.h"

#include "args.h"
#include "asyncio_private.h"

namespace aioev {

namespace {

#ifdef AIOEV_NO_RECYCLING
constexpr bool kRecycle = false;  // sanitizer builds: every object its own allocation
#else
constexpr bool kRecycle = true;
#endif

PyObject* invalid_state(ModuleState* st, const char* message) {
  PyErr_SetString(st->invalid_state_error, message);
  return nullptr;
}

}  // namespace

namespace {
const char* const kCancelNames[] = {"msg"};
}  // namespace

const ArgSpec kCancelArgs = {"cancel", ArgStyle::kClinic, 1, 1, 0, 0, false, kCancelNames, nullptr};

// ---- the future's core, shared with task.cpp ----

int future_ensure_alive(FutureObject* f) {
  if (AIOEV_UNLIKELY(f->loop == nullptr)) {
    PyErr_SetString(PyExc_RuntimeError, "Future object is not initialized.");
    return -1;
  }
  return 0;
}

void future_reset(FutureObject* f) {
  Py_CLEAR(f->loop);
  Py_CLEAR(f->callback0);
  Py_CLEAR(f->context0);
  Py_CLEAR(f->callbacks);
  Py_CLEAR(f->result);
  Py_CLEAR(f->exception);
  Py_CLEAR(f->exception_tb);
  Py_CLEAR(f->cancel_message);
  Py_CLEAR(f->cancelled_exc);
  Py_CLEAR(f->source_traceback);
  f->fut_state = kPending;
  f->log_traceback = false;
  f->blocking = false;
}

int future_traverse(FutureObject* f, visitproc visit, void* arg) {
  Py_VISIT(f->loop);
  Py_VISIT(f->callback0);
  Py_VISIT(f->context0);
  Py_VISIT(f->callbacks);
  Py_VISIT(f->result);
  Py_VISIT(f->exception);
  Py_VISIT(f->exception_tb);
  Py_VISIT(f->cancel_message);
  Py_VISIT(f->cancelled_exc);
  Py_VISIT(f->source_traceback);
  return future_visit_dict(as_object(f), visit, arg);
}

int future_visit_dict(PyObject* self, visitproc visit, void* arg) {
#if AIOEV_PY313
  return PyObject_VisitManagedDict(self, visit, arg);
#else
  Py_VISIT(as_future(self)->dict);
  return 0;
#endif
}

void future_clear_dict_and_weakrefs(PyObject* self, bool weakrefs) {
#if AIOEV_PY313
  if (weakrefs) PyObject_ClearWeakRefs(self);
  PyObject_ClearManagedDict(self);
#else
  if (weakrefs && as_future(self)->weakreflist != nullptr) PyObject_ClearWeakRefs(self);
  Py_CLEAR(as_future(self)->dict);
#endif
}

int future_init(FutureObject* f, PyObject* loop) {
  ModuleState* st = future_state(f);
  future_reset(f);
  Ref owned;
  if (loop == nullptr || loop == Py_None) {
    owned = Ref::steal(PyObject_CallNoArgs(st->get_event_loop));
    if (!owned) return -1;
    loop = owned.get();
  }
  f->loop = Py_NewRef(loop);
  bool debug;
  if (LoopObject* fast = as_aioev_loop(loop)) {
    debug = fast->debug;
  } else {
    Ref res = Ref::steal(PyObject_CallMethodNoArgs(loop, st->str_get_debug));
    if (!res) return -1;
    int truth = PyObject_IsTrue(res.get());
    if (truth < 0) return -1;
    debug = truth;
  }
  if (AIOEV_UNLIKELY(debug)) {
    f->source_traceback = PyObject_CallNoArgs(st->extract_stack);
    if (f->source_traceback == nullptr) return -1;
  }
  return 0;
}

Ref future_new(ModuleState* st, PyObject* loop) {
  PyTypeObject* type = st->native_future_type;
  Ref self = Ref::steal(type->tp_alloc(type, 0));
  if (!self) return self;
  if (future_init(as_future(self.get()), loop) < 0) return Ref();
  return self;
}

namespace {

// Hands every done callback to the loop, first in, first scheduled.
int schedule_callbacks(FutureObject* f) {
  ModuleState* st = future_state(f);
  PyObject* self = as_object(f);
  if (f->callback0 != nullptr) {
    Ref cb = Ref::steal(f->callback0);
    Ref ctx = Ref::steal(f->context0);
    f->callback0 = f->context0 = nullptr;
    if (loop_call_soon_arg(st, f->loop, cb.get(), self, ctx.get()) < 0) return -1;
  }
  if (f->callbacks == nullptr) return 0;
  Ref list = Ref::steal(f->callbacks);
  f->callbacks = nullptr;
  for (Py_ssize_t i = 0; i < PyList_GET_SIZE(list.get()); ++i) {
    PyObject* pair = PyList_GET_ITEM(list.get(), i);
    if (loop_call_soon_arg(st, f->loop, PyTuple_GET_ITEM(pair, 0), self,
                           PyTuple_GET_ITEM(pair, 1)) < 0) {
      return -1;
    }
  }
  return 0;
}

}  // namespace

int future_set_result(FutureObject* f, PyObject* result) {
  if (future_ensure_alive(f) < 0) return -1;
  if (f->fut_state != kPending) {
    invalid_state(future_state(f), "invalid state");
    return -1;
  }
  f->result = Py_NewRef(result);
  f->fut_state = kFinished;
  return schedule_callbacks(f);
}

int future_set_exception(FutureObject* f, PyObject* exc) {
  if (future_ensure_alive(f) < 0) return -1;
  if (f->fut_state != kPending) {
    invalid_state(future_state(f), "invalid state");
    return -1;
  }
  Ref value;
  if (PyExceptionClass_Check(exc)) {
    value = Ref::steal(PyObject_CallNoArgs(exc));
    if (!value) return -1;
    if (f->fut_state != kPending) {  // the constructor ran Python code
      invalid_state(future_state(f), "invalid state");
      return -1;
    }
  } else {
    value = Ref::borrow(exc);
  }
  if (!PyExceptionInstance_Check(value.get())) {
    PyErr_SetString(PyExc_TypeError, "invalid exception object");
    return -1;
  }
  if (PyErr_GivenExceptionMatches(value.get(), PyExc_StopIteration)) {
#if AIOEV_PY313
    // 3.13 raises a RuntimeError from it into the awaiter instead.
    Ref wrapped = Ref::steal(PyObject_CallFunction(
        PyExc_RuntimeError, "s",
        "StopIteration interacts badly with generators and cannot be raised into a Future"));
    if (!wrapped) return -1;
    PyException_SetCause(wrapped.get(), Py_NewRef(value.get()));
    PyException_SetContext(wrapped.get(), Py_NewRef(value.get()));
    value = std::move(wrapped);
#else
    if (Py_IS_TYPE(value.get(), reinterpret_cast<PyTypeObject*>(PyExc_StopIteration))) {
      PyErr_SetString(PyExc_TypeError,
                      "StopIteration interacts badly with generators and cannot be raised "
                      "into a Future");
      return -1;
    }
#endif
  }
  f->exception_tb = PyException_GetTraceback(value.get());
  f->exception = value.release();
  f->fut_state = kFinished;
  if (schedule_callbacks(f) < 0) return -1;
  f->log_traceback = true;
  return 0;
}

int future_cancel(FutureObject* f, PyObject* msg) {
  if (future_ensure_alive(f) < 0) return -1;
  f->log_traceback = false;
  if (f->fut_state != kPending) return 0;
  f->fut_state = kCancelled;
  Py_XSETREF(f->cancel_message, Py_XNewRef(msg));
  return schedule_callbacks(f) < 0 ? -1 : 1;
}

int future_add_callback(FutureObject* f, PyObject* callback, PyObject* context) {
  if (future_ensure_alive(f) < 0) return -1;
  if (f->fut_state != kPending) {
    return loop_call_soon_arg(future_state(f), f->loop, callback, as_object(f), context);
  }
  Ref ctx;
  if (context == nullptr || context == Py_None) {
    ctx = Ref::steal(PyContext_CopyCurrent());
    if (!ctx) return -1;
  } else {
    ctx = Ref::borrow(context);
  }
  if (f->callback0 == nullptr && (f->callbacks == nullptr || PyList_GET_SIZE(f->callbacks) == 0)) {
    f->callback0 = Py_NewRef(callback);
    f->context0 = ctx.release();
    return 0;
  }
  Ref pair = Ref::steal(PyTuple_Pack(2, callback, ctx.get()));
  if (!pair) return -1;
  if (f->callbacks == nullptr) {
    f->callbacks = PyList_New(0);
    if (f->callbacks == nullptr) return -1;
  }
  return PyList_Append(f->callbacks, pair.get());
}

Ref future_make_cancelled_error(FutureObject* f) {
  if (f->cancelled_exc != nullptr) {
    Ref exc = Ref::steal(f->cancelled_exc);
    f->cancelled_exc = nullptr;
    return exc;
  }
  PyObject* msg = f->cancel_message;
  if (msg == nullptr || msg == Py_None) {
    return Ref::steal(PyObject_CallNoArgs(future_state(f)->cancelled_error));
  }
  return Ref::steal(PyObject_CallOneArg(future_state(f)->cancelled_error, msg));
}

static void raise_exception(PyObject* exc) {
  PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(exc)), exc);
}

Ref future_get_result(FutureObject* f) {
  if (f->fut_state == kCancelled) {
    Ref exc = future_make_cancelled_error(f);
    if (exc) raise_exception(exc.get());
    return Ref();
  }
  if (f->fut_state != kFinished) {
    invalid_state(future_state(f), "Result is not set.");
    return Ref();
  }
  f->log_traceback = false;
  if (f->exception != nullptr) {
    PyException_SetTraceback(f->exception, f->exception_tb ? f->exception_tb : Py_None);
    raise_exception(f->exception);
    return Ref();
  }
  return Ref::borrow(f->result);
}

int future_finalize_log(FutureObject* f) {
  if (!f->log_traceback || f->exception == nullptr || f->loop == nullptr) return 0;
  f->log_traceback = false;
  ModuleState* st = future_state(f);
  Ref type_name = Ref::steal(PyType_GetName(Py_TYPE(f)));
  if (!type_name) return -1;
  Ref message =
      Ref::steal(PyUnicode_FromFormat("%U exception was never retrieved", type_name.get()));
  Ref context = Ref::steal(PyDict_New());
  if (!message || !context) return -1;
  if (PyDict_SetItem(context.get(), st->str_message, message.get()) < 0 ||
      PyDict_SetItem(context.get(), st->str_exception, f->exception) < 0 ||
      PyDict_SetItem(context.get(), st->str_future, as_object(f)) < 0) {
    return -1;
  }
  if (f->source_traceback != nullptr &&
      PyDict_SetItem(context.get(), st->str_source_traceback, f->source_traceback) < 0) {
    return -1;
  }
  return call_method(f->loop, st->str_call_exception_handler, context.get()) ? 0 : -1;
}

namespace {

// ---- Python methods ----


int Future_init(PyObject* self, PyObject* args, PyObject* kwargs) {
  static const char* kwlist[] = {"loop", nullptr};
  PyObject* loop = Py_None;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|$O:Future", const_cast<char**>(kwlist),
                                   &loop)) {
    return -1;
  }
  return future_init(as_future(self), loop);
}

// result() and exception() of a future whose __init__ never ran raise
// InvalidStateError; done() and cancelled() answer False: asyncio's C Future.
int ensure_alive_for_result(FutureObject* f) {
  if (AIOEV_UNLIKELY(f->loop == nullptr)) {
    PyErr_SetString(future_state(f)->invalid_state_error, "Future object is not initialized.");
    return -1;
  }
  return 0;
}

PyObject* Future_result(PyObject* self, PyObject*) {
  if (ensure_alive_for_result(as_future(self)) < 0) return nullptr;
  return future_get_result(as_future(self)).release();
}

PyObject* Future_exception(PyObject* self, PyObject*) {
  FutureObject* f = as_future(self);
  if (ensure_alive_for_result(f) < 0) return nullptr;
  if (f->fut_state == kCancelled) {
    Ref exc = future_make_cancelled_error(f);
    if (exc) raise_exception(exc.get());
    return nullptr;
  }
  if (f->fut_state != kFinished) return invalid_state(future_state(f), "Exception is not set.");
  f->log_traceback = false;
  return Py_NewRef(f->exception ? f->exception : Py_None);
}

PyObject* Future_set_result(PyObject* self, PyObject* result) {
  if (future_set_result(as_future(self), result) < 0) return nullptr;
  Py_RETURN_NONE;
}

PyObject* Future_set_exception(PyObject* self, PyObject* exc) {
  if (future_set_exception(as_future(self), exc) < 0) return nullptr;
  Py_RETURN_NONE;
}

PyObject* Future_add_done_callback(PyObject* self, PyObject* const* args, Py_ssize_t nargs,
                                   PyObject* kwnames) {
  static const char* const names[] = {"fn", "context"};
  static PyObject* ModuleState::* const interned[] = {nullptr, &ModuleState::str_context};
  static const ArgSpec spec = {"add_done_callback", ArgStyle::kClinic, 2, 1, 1, 1, false, names,
                               interned};
  PyObject* values[2] = {nullptr, Py_None};
  if (!parse_args(future_state(as_future(self)), spec, args, nargs, kwnames, values)) return nullptr;
  if (future_add_callback(as_future(self), values[0], values[1]) < 0) return nullptr;
  Py_RETURN_NONE;
}

// Comparisons run Python code (__eq__) that may change the callbacks: the
// list is read afresh after each one, as asyncio's C Future does, and what a
// comparison removed or scheduled counts as removed.
PyObject* Future_remove_done_callback(PyObject* self, PyObject* fn) {
  FutureObject* f = as_future(self);
  if (future_ensure_alive(f) < 0) return nullptr;
  Py_ssize_t removed = 0;
  if (f->callback0 != nullptr) {
    Ref cb = Ref::borrow(f->callback0);
    int eq = PyObject_RichCompareBool(cb.get(), fn, Py_EQ);
    if (eq < 0) return nullptr;
    if (eq == 1 && f->callback0 == cb.get()) {
      Py_CLEAR(f->callback0);
      Py_CLEAR(f->context0);
      removed++;
    }
  }
  if (f->callbacks == nullptr) return PyLong_FromSsize_t(removed);
  Py_ssize_t before = PyList_GET_SIZE(f->callbacks);
  Ref kept = Ref::steal(PyList_New(0));
  if (!kept) return nullptr;
  for (Py_ssize_t i = 0; f->callbacks != nullptr && i < PyList_GET_SIZE(f->callbacks); ++i) {
    Ref pair = Ref::borrow(PyList_GET_ITEM(f->callbacks, i));
    int eq = PyObject_RichCompareBool(PyTuple_GET_ITEM(pair.get(), 0), fn, Py_EQ);
    if (eq < 0) return nullptr;
    if (eq == 0 && PyList_Append(kept.get(), pair.get()) < 0) return nullptr;
  }
  Py_ssize_t left = PyList_GET_SIZE(kept.get());
  if (f->callbacks == nullptr || left == 0) {
    // All of them went, or the future was completed (or reset) meanwhile.
    Py_CLEAR(f->callbacks);
    return PyLong_FromSsize_t(removed + before);
  }
  Py_ssize_t now = PyList_GET_SIZE(f->callbacks);
  if (left != now && PyList_SetSlice(f->callbacks, 0, now, kept.get()) < 0) return nullptr;
  return PyLong_FromSsize_t(removed + now - left);
}

PyObject* Future_cancel(PyObject* self, PyObject* const* args, Py_ssize_t nargs,
                        PyObject* kwnames) {
  PyObject* msg = Py_None;
  if (!parse_args(nullptr, kCancelArgs, args, nargs, kwnames, &msg)) return nullptr;
  int rc = future_cancel(as_future(self), msg);
  if (rc < 0) return nullptr;
  return PyBool_FromLong(rc);
}

PyObject* Future_cancelled(PyObject* self, PyObject*) {
  return PyBool_FromLong(as_future(self)->fut_state == kCancelled);
}

PyObject* Future_done(PyObject* self, PyObject*) {
  return PyBool_FromLong(as_future(self)->fut_state != kPending);
}

PyObject* Future_get_loop(PyObject* self, PyObject*) {
  if (future_ensure_alive(as_future(self)) < 0) return nullptr;
  return Py_NewRef(as_future(self)->loop);
}

PyObject* Future_make_cancelled_error(PyObject* self, PyObject*) {
  return future_make_cancelled_error(as_future(self)).release();
}

PyObject* Future_repr(PyObject* self) {
  if (future_ensure_alive(as_future(self)) < 0) return nullptr;
  return asyncio_future_repr(future_state(as_future(self)), self).release();
}

// ---- attributes asyncio's Future has ----

PyObject* get_state(PyObject* self, void*) {
  FutureObject* f = as_future(self);
  ModuleState* st = future_state(f);
  PyObject* names[] = {st->str_PENDING, st->str_CANCELLED, st->str_FINISHED};
  return Py_NewRef(names[f->fut_state]);
}

PyObject* get_result(PyObject* self, void*) { return get_or_none(as_future(self)->result); }
PyObject* get_exception(PyObject* self, void*) { return get_or_none(as_future(self)->exception); }
PyObject* get_exception_tb(PyObject* self, void*) {
  return get_or_none(as_future(self)->exception_tb);
}
PyObject* get_loop_attr(PyObject* self, void*) { return get_or_none(as_future(self)->loop); }
PyObject* get_source_traceback(PyObject* self, void*) {
  return get_or_none(as_future(self)->source_traceback);
}
PyObject* get_cancelled_exc(PyObject* self, void*) {
  return get_or_none(as_future(self)->cancelled_exc);
}

PyObject* get_callbacks(PyObject* self, void*) {
  FutureObject* f = as_future(self);
  Py_ssize_t rest = f->callbacks ? PyList_GET_SIZE(f->callbacks) : 0;
  if (f->callback0 == nullptr && rest == 0) Py_RETURN_NONE;
  Ref list = Ref::steal(PyList_New(0));
  if (!list) return nullptr;
  if (f->callback0 != nullptr) {
    Ref pair = Ref::steal(PyTuple_Pack(2, f->callback0, f->context0));
    if (!pair || PyList_Append(list.get(), pair.get()) < 0) return nullptr;
  }
  for (Py_ssize_t i = 0; f->callbacks && i < PyList_GET_SIZE(f->callbacks); ++i) {
    if (PyList_Append(list.get(), PyList_GET_ITEM(f->callbacks, i)) < 0) return nullptr;
  }
  return list.release();
}

PyObject* get_cancel_message(PyObject* self, void*) {
  return get_or_none(as_future(self)->cancel_message);
}

int set_cancel_message(PyObject* self, PyObject* value, void*) {
  if (value == nullptr) {
    PyErr_SetString(PyExc_AttributeError, "cannot delete attribute");
    return -1;
  }
  Py_XSETREF(as_future(self)->cancel_message, Py_NewRef(value));
  return 0;
}

PyObject* get_blocking(PyObject* self, void*) {
  if (future_ensure_alive(as_future(self)) < 0) return nullptr;
  return PyBool_FromLong(as_future(self)->blocking);
}

int set_blocking(PyObject* self, PyObject* value, void*) {
  if (future_ensure_alive(as_future(self)) < 0) return -1;
  if (value == nullptr) {
    PyErr_SetString(PyExc_AttributeError, "cannot delete attribute");
    return -1;
  }
  int truth = PyObject_IsTrue(value);
  if (truth < 0) return -1;
  as_future(self)->blocking = truth;
  return 0;
}

PyObject* get_log_traceback(PyObject* self, void*) {
  if (future_ensure_alive(as_future(self)) < 0) return nullptr;
  return PyBool_FromLong(as_future(self)->log_traceback);
}

int set_log_traceback(PyObject* self, PyObject* value, void*) {
  if (value == nullptr) {
    PyErr_SetString(PyExc_AttributeError, "cannot delete attribute");
    return -1;
  }
  int truth = PyObject_IsTrue(value);
  if (truth < 0) return -1;
  if (truth) {
    PyErr_SetString(PyExc_ValueError, "_log_traceback can only be set to False");
    return -1;
  }
  as_future(self)->log_traceback = false;
  return 0;
}

// ---- lifetime ----

PyObject* Future_new(PyTypeObject* type, PyObject*, PyObject*) {
  return type->tp_alloc(type, 0);
}

int Future_traverse(PyObject* self, visitproc visit, void* arg) {
  Py_VISIT(Py_TYPE(self));
  return future_traverse(as_future(self), visit, arg);
}

int Future_clear(PyObject* self) {
  future_reset(as_future(self));
  future_clear_dict_and_weakrefs(self, false);
  return 0;
}

void Future_finalize(PyObject* self) {
  ErrorGuard raised;
  if (future_finalize_log(as_future(self)) < 0) PyErr_WriteUnraisable(self);
}

void Future_dealloc(PyObject* self) {
  PyTypeObject* type = Py_TYPE(self);
  if (PyObject_CallFinalizerFromDealloc(self) < 0) return;  // resurrected
  PyObject_GC_UnTrack(self);
  future_clear_dict_and_weakrefs(self, true);
  future_reset(as_future(self));
  type->tp_free(self);
  Py_DECREF(type);
}

// ---- the iterator behind `await future` ----

struct FutureIterObject {
  PyObject_HEAD
  PyObject* future;  // nullptr once exhausted
  ModuleState* state;
  LoopObject* pool_loop;  // owned: the future's aioev loop, whose pool takes it back
};

FutureIterObject* as_iter(PyObject* self) { return reinterpret_cast<FutureIterObject*>(self); }

}  // namespace

PyObject* Future_await(PyObject* self) {
  if (future_ensure_alive(as_future(self)) < 0) return nullptr;
  ModuleState* st = future_state(as_future(self));
  LoopObject* loop = fast_loop(as_future(self));
  FutureIterObject* it = nullptr;
  if (kRecycle && loop != nullptr) {
    // One iterator per `await`: freed ones are reused.
    it = reinterpret_cast<FutureIterObject*>(loop_pool_take(loop, &loop->future_iter_pool));
  }
  if (it != nullptr) {
    loop_pool_revive(reinterpret_cast<PyObject*>(it), st->future_iter_type, -1);
  } else {
    it = PyObject_GC_New(FutureIterObject, st->future_iter_type);
    if (it == nullptr) return nullptr;
  }
  it->state = st;
  it->pool_loop = loop;
  Py_XINCREF(reinterpret_cast<PyObject*>(loop));
  it->future = Py_NewRef(self);
  PyObject_GC_Track(it);
  return reinterpret_cast<PyObject*>(it);
}

namespace {

// The step of `await future`: the future itself while it is pending (once),
// then its result. PYGEN_RETURN / PYGEN_NEXT / PYGEN_ERROR as am_send.
PySendResult iter_step(FutureIterObject* it, PyObject** out) {
  *out = nullptr;
  if (it->future == nullptr) {
    *out = Py_NewRef(Py_None);
    return PYGEN_RETURN;
  }
  Ref fut = Ref::borrow(it->future);  // outlives the lock
  FutureObject* f = as_future(fut.get());
  ObjectLock lock(f);
  if (f->fut_state == kPending) {
    if (!f->blocking) {
      f->blocking = true;
      *out = fut.release();
      return PYGEN_NEXT;
    }
    PyErr_SetString(PyExc_RuntimeError, "await wasn't used with future");
    return PYGEN_ERROR;
  }
  Py_CLEAR(it->future);
  Ref result = future_get_result(f);
  if (!result) return PYGEN_ERROR;
  *out = result.release();
  return PYGEN_RETURN;
}

PySendResult FutureIter_am_send(PyObject* self, PyObject*, PyObject** out) {
  return iter_step(as_iter(self), out);
}

PyObject* finish_as_iterator(PySendResult rc, PyObject* value) {
  if (rc == PYGEN_NEXT) return value;
  if (rc == PYGEN_RETURN) {
    if (value == Py_None) {
      Py_DECREF(value);
      PyErr_SetNone(PyExc_StopIteration);
    } else {
      // StopIteration(value) keeps a tuple result from being unpacked.
      Ref exc = Ref::steal(PyObject_CallOneArg(PyExc_StopIteration, value));
      Py_DECREF(value);
      if (exc) PyErr_SetObject(PyExc_StopIteration, exc.get());
    }
  }
  return nullptr;
}

PyObject* FutureIter_next(PyObject* self) {
  PyObject* value;
  PySendResult rc = iter_step(as_iter(self), &value);
  if (rc == PYGEN_RETURN && as_iter(self)->future == nullptr && value == Py_None) {
    Py_DECREF(value);
    return nullptr;  // exhausted: StopIteration without an object
  }
  return finish_as_iterator(rc, value);
}

PyObject* FutureIter_send(PyObject* self, PyObject*) {
  // Like asyncio's: the value sent in is ignored, the result is the future's.
  PyObject* value;
  PySendResult rc = iter_step(as_iter(self), &value);
  return finish_as_iterator(rc, value);
}

PyObject* FutureIter_throw(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
  if (nargs < 1 || nargs > 3) {
    PyErr_Format(PyExc_TypeError, "throw expected at %s %d argument%s, got %zd",
                 nargs < 1 ? "least" : "most", nargs < 1 ? 1 : 3, nargs < 1 ? "" : "s", nargs);
    return nullptr;
  }
#if AIOEV_PY312
  if (nargs > 1 &&
      PyErr_WarnEx(PyExc_DeprecationWarning,
                   "the (type, exc, tb) signature of throw() is deprecated, "
                   "use the single-arg signature instead.",
                   1) < 0) {
    return nullptr;
  }
#endif
  PyObject* type = args[0];
  PyObject* value = nargs > 1 ? args[1] : Py_None;
  PyObject* tb = nargs > 2 ? args[2] : Py_None;
  if (tb != Py_None && !PyTraceBack_Check(tb)) {
    PyErr_SetString(PyExc_TypeError, "throw() third argument must be a traceback");
    return nullptr;
  }
  Ref exc;
  if (PyExceptionClass_Check(type)) {
    if (value == Py_None) {
      exc = Ref::steal(PyObject_CallNoArgs(type));
    } else if (PyExceptionInstance_Check(value) &&
               PyObject_IsInstance(value, type) == 1) {
      exc = Ref::borrow(value);
    } else {
      exc = Ref::steal(PyTuple_Check(value) ? PyObject_Call(type, value, nullptr)
                                            : PyObject_CallOneArg(type, value));
    }
    if (!exc) return nullptr;
    if (!PyExceptionInstance_Check(exc.get())) {
      PyErr_Format(PyExc_TypeError,
                   "calling %R should have returned an instance of BaseException, not %s", type,
                   Py_TYPE(exc.get())->tp_name);
      return nullptr;
    }
  } else if (PyExceptionInstance_Check(type)) {
    if (value != Py_None) {
      PyErr_SetString(PyExc_TypeError, "instance exception may not have a separate value");
      return nullptr;
    }
    exc = Ref::borrow(type);
  } else {
    PyErr_Format(PyExc_TypeError,
                 "exceptions must be classes deriving BaseException, not %s",
                 Py_TYPE(type)->tp_name);
    return nullptr;
  }
  if (tb != Py_None) PyException_SetTraceback(exc.get(), tb);
  Py_CLEAR(as_iter(self)->future);
  raise_exception(exc.get());
  return nullptr;
}

PyObject* FutureIter_close(PyObject* self, PyObject*) {
  Py_CLEAR(as_iter(self)->future);
  Py_RETURN_NONE;
}

int FutureIter_traverse(PyObject* self, visitproc visit, void* arg) {
  Py_VISIT(Py_TYPE(self));
  Py_VISIT(as_iter(self)->future);
  Py_VISIT(reinterpret_cast<PyObject*>(as_iter(self)->pool_loop));
  return 0;
}

int FutureIter_clear(PyObject* self) {
  Py_CLEAR(as_iter(self)->future);
  return 0;
}

void FutureIter_dealloc(PyObject* self) {
  PyTypeObject* type = Py_TYPE(self);
  PyObject_GC_UnTrack(self);
  FutureIter_clear(self);
  LoopObject* loop = as_iter(self)->pool_loop;
  as_iter(self)->pool_loop = nullptr;
  if (!(kRecycle && loop != nullptr &&
        loop_pool_put(loop, &loop->future_iter_pool, LoopObject::kFutureIterPoolSize, self))) {
    PyObject_GC_Del(self);
    Py_DECREF(type);
  }
  Py_XDECREF(reinterpret_cast<PyObject*>(loop));
}

PyMethodDef future_iter_methods[] = {
    {"send", FutureIter_send, METH_O, nullptr},
    {"throw", as_pycfunction(FutureIter_throw),
     METH_FASTCALL, nullptr},
    {"close", FutureIter_close, METH_NOARGS, nullptr},
    {nullptr, nullptr, 0, nullptr},
};

PyType_Slot future_iter_slots[] = {
    {Py_tp_iter, reinterpret_cast<void*>(PyObject_SelfIter)},
    {Py_tp_iternext, reinterpret_cast<void*>(FutureIter_next)},
    {Py_am_send, reinterpret_cast<void*>(FutureIter_am_send)},
    {Py_tp_methods, future_iter_methods},
    {Py_tp_traverse, reinterpret_cast<void*>(FutureIter_traverse)},
    {Py_tp_clear, reinterpret_cast<void*>(FutureIter_clear)},
    {Py_tp_dealloc, reinterpret_cast<void*>(FutureIter_dealloc)},
    {0, nullptr},
};


PyMethodDef future_methods[] = {
    {"result", Locked<Future_result>::call, METH_NOARGS, "result($self, /)\n--\n\nThe future's result; raises if it has none."},
    {"exception", Locked<Future_exception>::call, METH_NOARGS, "exception($self, /)\n--\n\nThe future's exception, or None."},
    {"set_result", Locked<Future_set_result>::call, METH_O, "set_result($self, result, /)\n--\n\nMark the future done with a result."},
    {"set_exception", Locked<Future_set_exception>::call, METH_O, "set_exception($self, exception, /)\n--\n\nMark the future done with an exception."},
    {"add_done_callback", as_pycfunction(Locked<Future_add_done_callback>::call), METH_FASTCALL | METH_KEYWORDS,
     "add_done_callback($self, fn, /, *, context=None)\n--\n\nCall fn(future) from the loop once the future is done."},
    {"remove_done_callback", Locked<Future_remove_done_callback>::call, METH_O,
     "remove_done_callback($self, fn, /)\n--\n\nRemove every instance of fn from the done callbacks; return how many."},
    {"cancel", as_pycfunction(Locked<Future_cancel>::call), METH_FASTCALL | METH_KEYWORDS,
     "cancel($self, /, msg=None)\n--\n\nCancel the future; False if it is already done."},
    {"cancelled", Locked<Future_cancelled>::call, METH_NOARGS, "cancelled($self, /)\n--\n\nTrue if the future was cancelled."},
    {"done", Locked<Future_done>::call, METH_NOARGS, "done($self, /)\n--\n\nTrue once the future has a result or is cancelled."},
    {"get_loop", Locked<Future_get_loop>::call, METH_NOARGS, "get_loop($self, /)\n--\n\nThe event loop the future is bound to."},
    {"_make_cancelled_error", Locked<Future_make_cancelled_error>::call, METH_NOARGS,
     "The CancelledError to raise for this cancelled future."},
    {"__class_getitem__", Py_GenericAlias, METH_O | METH_CLASS, "See PEP 585"},
    {nullptr, nullptr, 0, nullptr},
};


PyGetSetDef future_getset[] = {
    {"_state", Locked<get_state>::call, nullptr, nullptr, nullptr},
    {"_result", Locked<get_result>::call, nullptr, nullptr, nullptr},
    {"_exception", Locked<get_exception>::call, nullptr, nullptr, nullptr},
    {"_exception_tb", Locked<get_exception_tb>::call, nullptr, nullptr, nullptr},
    {"_loop", Locked<get_loop_attr>::call, nullptr, nullptr, nullptr},
    {"_callbacks", Locked<get_callbacks>::call, nullptr, nullptr, nullptr},
    {"_source_traceback", Locked<get_source_traceback>::call, nullptr, nullptr, nullptr},
    {"_cancelled_exc", Locked<get_cancelled_exc>::call, nullptr, nullptr, nullptr},
    {"_cancel_message", Locked<get_cancel_message>::call, Locked<set_cancel_message>::call, nullptr, nullptr},
    {"_asyncio_future_blocking", Locked<get_blocking>::call, Locked<set_blocking>::call, nullptr, nullptr},
    {"_log_traceback", Locked<get_log_traceback>::call, Locked<set_log_traceback>::call, nullptr, nullptr},
    {"__dict__", PyObject_GenericGetDict, PyObject_GenericSetDict, nullptr, nullptr},
    {nullptr, nullptr, nullptr, nullptr, nullptr},
};

PyType_Slot future_slots[] = {
    {Py_tp_new, reinterpret_cast<void*>(Future_new)},
    {Py_tp_init, reinterpret_cast<void*>(Locked<Future_init>::call)},
    {Py_tp_repr, reinterpret_cast<void*>(Future_repr)},
    {Py_tp_iter, reinterpret_cast<void*>(Future_await)},
    {Py_am_await, reinterpret_cast<void*>(Future_await)},
    {Py_tp_methods, future_methods},
    {Py_tp_getset, future_getset},
    {Py_tp_traverse, reinterpret_cast<void*>(Future_traverse)},
    {Py_tp_clear, reinterpret_cast<void*>(Future_clear)},
    {Py_tp_finalize, reinterpret_cast<void*>(Future_finalize)},
    {Py_tp_dealloc, reinterpret_cast<void*>(Future_dealloc)},
    {Py_tp_doc, const_cast<char*>("Future(*, loop=None)\n--\n\nasyncio.Future's API and behaviour, in C++.")},
    {0, nullptr},
};

}  // namespace

PyType_Spec native_future_spec = {
    "aioev.Future",
    static_cast<int>(kAsyncioFutureSize),  // asyncio.Future's size: no fields of its own
    0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    future_slots,
};

PyType_Spec future_iter_spec = {
    "aioev._FutureIter",
    sizeof(FutureIterObject),
    0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    future_iter_slots,
};

}  // namespace aioev

namespace aioev {

namespace {

// obj.<name>(), or obj.<name> when `call` is false: a new reference.
Ref probe_get(PyObject* obj, const char* name, bool call) {
  Ref attr = Ref::steal(PyObject_GetAttrString(obj, name));
  if (!attr || !call) return attr;
  return Ref::steal(PyObject_CallNoArgs(attr.get()));
}

// Fills one of asyncio's own futures (or tasks) with marker objects through
// FutureObject's fields and reads them back through asyncio's own methods:
// every field must be where FutureObject says. `fill` stores the markers;
// the checks name the first field that differs.
struct LayoutProbe {
  explicit LayoutProbe(PyTypeObject* t) : type(t) {}
  PyTypeObject* type;
  Ref obj;
  Ref markers[8];
  const char* failed = nullptr;

  bool make() {
    obj = Ref::steal(type->tp_alloc(type, 0));  // no __init__: nothing scheduled
    if (!obj) return false;
    for (Ref& m : markers) {
      m = Ref::steal(PyList_New(0));  // distinct objects
      if (!m) return false;
    }
    return true;
  }
  PyObject* marker(int i) { return markers[i].get(); }
  FutureObject* f() { return as_future(obj.get()); }
  // The attribute (or call) gives exactly `expected`.
  bool same(const char* field, const char* attr, bool call, PyObject* expected) {
    if (failed) return false;
    Ref got = probe_get(obj.get(), attr, call);
    if (!got) {
      PyErr_Clear();
      failed = field;
      return false;
    }
    if (got.get() != expected) failed = field;
    return failed == nullptr;
  }
  // The attribute is the str `expected`.
  bool same_str(const char* field, const char* attr, const char* expected) {
    if (failed) return false;
    Ref got = probe_get(obj.get(), attr, false);
    if (!got || !PyUnicode_Check(got.get()) ||
        PyUnicode_CompareWithASCIIString(got.get(), expected) != 0) {
      PyErr_Clear();
      failed = field;
    }
    return failed == nullptr;
  }
  void check(const char* field, bool ok) {
    if (!failed && !ok) failed = field;
  }
};

}  // namespace

int future_layout_check(ModuleState* st) {
  if (!PyType_Check(st->future_type) || !PyType_Check(st->task_type)) {
    PyErr_SetString(PyExc_ImportError,
                    "aioev.Future and aioev.Task need asyncio's C Future and Task (_asyncio)");
    return -1;
  }
  PyTypeObject* future_type = reinterpret_cast<PyTypeObject*>(st->future_type);
  PyTypeObject* task_type = reinterpret_cast<PyTypeObject*>(st->task_type);
  const char* failed = nullptr;
  if (future_type->tp_basicsize != kAsyncioFutureSize) {
    failed = "Future's size";
  } else if (task_type->tp_basicsize != kAsyncioTaskSize) {
    failed = "Task's size";
  }

  if (failed == nullptr) {
    LayoutProbe p(future_type);
    if (!p.make()) return -1;
    FutureObject* f = p.f();
    f->loop = Py_NewRef(p.marker(0));
    f->result = Py_NewRef(p.marker(1));
    f->cancel_message = Py_NewRef(p.marker(2));
    f->source_traceback = Py_NewRef(p.marker(3));
    f->cancelled_exc = Py_NewRef(p.marker(4));
    f->exception = Py_NewRef(p.marker(5));
    f->fut_state = kFinished;
    f->blocking = 1;
    p.same("loop", "get_loop", true, p.marker(0)) &&
        p.same("result", "_result", false, p.marker(1)) &&
        p.same("cancel_message", "_cancel_message", false, p.marker(2)) &&
        p.same("source_traceback", "_source_traceback", false, p.marker(3)) &&
        p.same("exception", "_exception", false, p.marker(5)) &&
        p.same("blocking", "_asyncio_future_blocking", false, Py_True) &&
        p.same_str("state", "_state", "FINISHED");
    f->log_traceback = 1;
    p.same("log_traceback", "_log_traceback", false, Py_True);
    f->log_traceback = 0;  // dealloc must not log
    p.same("cancelled_exc", "_make_cancelled_error", true, p.marker(4));
    p.check("cancelled_exc", f->cancelled_exc == nullptr);  // handed over
    failed = p.failed;
  }

  if (failed == nullptr) {
    LayoutProbe p(task_type);
    if (!p.make()) return -1;
    FutureObject* t = p.f();
    t->loop = Py_NewRef(p.marker(0));
    Py_XSETREF(t->coro, Py_NewRef(p.marker(1)));
    Py_XSETREF(t->context, Py_NewRef(p.marker(2)));
    t->fut_waiter = Py_NewRef(p.marker(3));
    t->name = PyUnicode_FromString("aioev layout probe");
    if (t->name == nullptr) return -1;
    t->num_cancels_requested = 7;
    t->must_cancel = 1;
    t->log_destroy_pending = 0;  // dealloc must not log
    p.same("coro", "get_coro", true, p.marker(1)) &&
        p.same("fut_waiter", "_fut_waiter", false, p.marker(3)) &&
        p.same("name", "get_name", true, t->name) &&
        p.same("must_cancel", "_must_cancel", false, Py_True) &&
        p.same("log_destroy_pending", "_log_destroy_pending", false, Py_False);
#if AIOEV_PY312
    p.same("context", "get_context", true, p.marker(2));
#endif
    Ref n = probe_get(p.obj.get(), "cancelling", true);
    p.check("num_cancels_requested", n && PyLong_Check(n.get()) && PyLong_AsLong(n.get()) == 7);
    PyErr_Clear();
    t->must_cancel = 0;
    failed = p.failed;
  }

  if (failed != nullptr) {
    PyErr_Format(PyExc_ImportError,
                 "aioev.Future and aioev.Task were built for the C layout of asyncio's Future "
                 "and Task in CPython %d.%d, and this interpreter's differs (%s)",
                 PY_MAJOR_VERSION, PY_MINOR_VERSION, failed);
    return -1;
  }
  return 0;
}

}  // namespace aioev
