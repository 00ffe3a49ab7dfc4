// Handle and TimerHandle: asyncio's callback handles, as C types.
#include "aioev.h"

namespace aioev {

namespace {

#ifdef AIOEV_NO_RECYCLING
constexpr bool kRecycle = false;
#else
constexpr bool kRecycle = true;
#endif

// A handle whose callback would run in a copy of an empty context (call_soon
// from code that set no context variable: most of them) holds no context
// until one is needed: handle_run enters the loop's spare empty context,
// and keeps it for the next such handle when the callback left it empty
// and held by nothing else (it is then as good as new); otherwise the
// handle keeps it, as its own, for its next run (a reader's handle runs
// many times). get_context() makes one, or, while the handle runs, hands
// out the one it runs in. So a batch of callbacks allocates no context
// each: a third of what a call_soon allocates, and objects for the
// collector to walk while they wait. With the GIL only: without it, another
// thread's get_context() could race the run.
#ifdef Py_GIL_DISABLED
constexpr bool kLazyContext = false;
#else
constexpr bool kLazyContext = true;
#endif

// How many variables a context sets: its type's len(), which cannot fail,
// called directly since handle_run asks while a callback's error is set.
Py_ssize_t context_length(PyObject* context) {
  return Py_TYPE(context)->tp_as_mapping->mp_length(context);
}

// Whether the current thread's context is empty, without copying it.
bool current_context_empty() {
  PyObject* current = PyThreadState_Get()->context;
  return current == nullptr || context_length(current) == 0;
}

// The context a lazy handle runs in: the loop's spare (settle_lazy_context
// keeps one only where objects are recycled), else a new one.
PyObject* take_empty_context(LoopObject* loop) {
  PyObject* context = loop->empty_context;
  if (context != nullptr) {
    loop->empty_context = nullptr;
    return context;
  }
  return PyContext_New();
}

// After a lazy handle's run in context (a reference, taken here): the
// loop's spare again when nothing else holds it and it is still empty, else
// the handle's own unless get_context() made that already.
void settle_lazy_context(HandleObject* h, PyObject* context) {
  LoopObject* loop = h->loop;
  if (h->context == nullptr && Py_REFCNT(context) == 1 && context_length(context) == 0) {
    if (kRecycle && loop->empty_context == nullptr) {
      loop->empty_context = context;
    } else {
      Py_DECREF(context);
    }
  } else if (h->context == nullptr) {
    h->context = context;
  } else {
    Py_DECREF(context);
  }
}

// The callback and its arguments as a tuple, as they are now: None and None
// once cancel() has dropped them. Taken under the handle's lock, since
// another thread's cancel() may drop them at any moment (repr, ==, _args
// and _callback read them from any thread). False with an exception set.
bool handle_callback_args(HandleObject* h, Ref* callback, Ref* args) {
  nogil_lock(&h->lock);
  if (h->callback == nullptr) {
    nogil_unlock(&h->lock);
    *callback = Ref::borrow(Py_None);
    *args = Ref::borrow(Py_None);
    return true;
  }
  // Allocating under the lock runs no Python code (a collection only
  // happens at the next eval breaker).
  PyObject* tuple = PyTuple_New(Py_SIZE(h));
  if (tuple != nullptr) {
    for (Py_ssize_t i = 0; i < Py_SIZE(h); ++i) PyTuple_SET_ITEM(tuple, i, Py_NewRef(h->args[i]));
    *callback = Ref::borrow(h->callback);
  }
  nogil_unlock(&h->lock);
  *args = Ref::steal(tuple);
  return tuple != nullptr;
}

Borrowed<> handle_repr_cache(HandleObject* h) {
  return __atomic_load_n(&h->repr, __ATOMIC_ACQUIRE);
}

bool is_timer(HandleObject* h) { return Py_IS_TYPE(h, h->loop->state->timer_handle_type); }

// "Exception in callback ..." to the loop's exception handler, as Handle._run.
int report_exception(HandleObject* h, PyObject* callback, PyObject* args) {
  if (must_propagate()) return -1;
  ModuleState* st = h->loop->state;
  Ref exc = fetch_exception();

  Ref source = Ref::steal(PyObject_CallFunctionObjArgs(
      st->format_callback_source, callback, args, h->loop->debug ? Py_True : Py_False,
      nullptr));
  if (!source) return -1;
  Ref message = Ref::steal(PyUnicode_FromFormat("Exception in callback %U", source.get()));
  Ref context = Ref::steal(PyDict_New());
  if (!message || !context) return -1;
  if (PyDict_SetItem(context.get(), st->str_message, message.get()) < 0 ||
      PyDict_SetItem(context.get(), st->str_exception, exc.get()) < 0 ||
      PyDict_SetItem(context.get(), st->str_handle, reinterpret_cast<PyObject*>(h)) < 0) {
    return -1;
  }
  if (h->source_traceback != nullptr && PyObject_IsTrue(h->source_traceback) == 1 &&
      PyDict_SetItem(context.get(), st->str_source_traceback, h->source_traceback) < 0) {
    return -1;
  }
  return loop_call_exception_handler(st, reinterpret_cast<PyObject*>(h->loop), context.get(),
                                     exc.get());
}

}  // namespace

int handle_traverse(PyObject* self, visitproc visit, void* arg) {
  HandleObject* h = reinterpret_cast<HandleObject*>(self);
  Py_VISIT(Py_TYPE(self));
  Py_VISIT(h->callback);
  Py_VISIT(h->context);
  Py_VISIT(reinterpret_cast<PyObject*>(h->loop));
  Py_VISIT(h->repr);
  Py_VISIT(h->source_traceback);
  for (Py_ssize_t i = 0; i < Py_SIZE(h); ++i) Py_VISIT(h->args[i]);
  return 0;
}

Owned<HandleObject> handle_new(LoopObject* loop, bool timer, PyObject* callback,
                               PyObject* const* args, Py_ssize_t nargs, PyObject* context) {
  ModuleState* st = loop->state;
  PyTypeObject* type = timer ? st->timer_handle_type : st->handle_type;
  HandleObject* h = nullptr;
  if (kRecycle && nargs <= 1) {
    h = reinterpret_cast<HandleObject*>(loop_pool_take(loop, &loop->handle_pool));
  }
  if (h != nullptr) {
    loop_pool_revive(reinterpret_cast<PyObject*>(h), type, nargs);
  } else {
    h = PyObject_GC_NewVar(HandleObject, type, nargs <= 1 ? 1 : nargs);
    if (h == nullptr) return nullptr;
    Py_SET_SIZE(h, nargs);
  }
  h->poolable = nargs <= 1;
  h->callback = Py_NewRef(callback);
  for (Py_ssize_t i = 0; i < nargs; ++i) h->args[i] = Py_NewRef(args[i]);
  h->loop = reinterpret_cast<LoopObject*>(Py_NewRef(reinterpret_cast<PyObject*>(loop)));
  h->repr = nullptr;
  h->source_traceback = nullptr;
  h->weakreflist = nullptr;
  h->when = 0.0;
  h->cancelled = false;
  store_relaxed(h->scheduled, false);
  h->lock = NoGilMutex{};
  h->when_overflow = false;
  h->untracked = false;
  h->context_untracked = false;
  bool copy = false;
  if (context != nullptr && context != Py_None) {
    h->context = Py_NewRef(context);
  } else if (kLazyContext && current_context_empty()) {
    h->context = nullptr;
  } else {
    h->context = PyContext_CopyCurrent();
    copy = true;
  }
  PyObject_GC_Track(h);
  Owned<HandleObject> handle = Owned<HandleObject>::steal(h);
  if (copy && h->context == nullptr) return nullptr;
  if (AIOEV_UNLIKELY(load_relaxed(loop->debug))) {  // any thread (call_soon_threadsafe)
    h->source_traceback = PyObject_CallNoArgs(st->extract_stack);
    if (h->source_traceback == nullptr) return nullptr;
  }
  return handle;
}

int handle_run(HandleObject* h) {
  // The callback may cancel its own handle, which drops these references;
  // another thread may cancel it at any moment, so they are taken under
  // the handle's lock, and a handle found cancelled does not run.
  PyObject* small[4];
  PyObject** args = small;
  Ref callback, context;
  Py_ssize_t nargs = 0;
  bool nomem = false;
  nogil_lock(&h->lock);
  if (!h->cancelled) {
    nargs = Py_SIZE(h);
    if (AIOEV_UNLIKELY(nargs > 4)) {
      args = static_cast<PyObject**>(PyMem_Malloc(nargs * sizeof(PyObject*)));
      nomem = args == nullptr;
    }
    if (!nomem) {
      for (Py_ssize_t i = 0; i < nargs; ++i) args[i] = Py_NewRef(h->args[i]);
      callback = Ref::borrow(h->callback);
      context = Ref::borrow(h->context);
    }
  }
  nogil_unlock(&h->lock);
  if (AIOEV_UNLIKELY(nomem)) {
    PyErr_NoMemory();
    return -1;
  }
  if (!callback) return 0;  // cancelled

  int rc = 0;
  LoopObject* loop = h->loop;
  HandleObject* outer_running = nullptr;
  PyObject* outer_context = nullptr;
  bool lazy = kLazyContext && !context;
  if (lazy) {
    context = Ref::steal(take_empty_context(loop));
    if (!context) rc = -1;
    outer_running = loop->lazy_running;
    outer_context = loop->lazy_context;
    loop->lazy_running = h;
    loop->lazy_context = context.get();
  }
  if (rc == 0 && PyContext_Enter(context.get()) == 0) {
    PyObject* result = PyObject_Vectorcall(callback.get(), args, nargs, nullptr);
    PyContext_Exit(context.get());  // cannot fail: this thread entered it
    if (result != nullptr) {
      Py_DECREF(result);
    } else {
      rc = -1;
    }
  } else {
    rc = -1;
  }
  if (lazy) {
    loop->lazy_running = outer_running;
    loop->lazy_context = outer_context;
    if (context) settle_lazy_context(h, context.release());
  }
  if (rc < 0 && load_relaxed(h->cancelled)) {
    // Cancelled by the callback itself: asyncio reports what the handle
    // holds by then, None().
    rc = report_exception(h, Py_None, Py_None);
  } else if (rc < 0) {
    Ref tuple = Ref::steal(PyTuple_New(nargs));
    if (!tuple) {
      rc = -1;
    } else {
      for (Py_ssize_t i = 0; i < nargs; ++i) PyTuple_SET_ITEM(tuple.get(), i, Py_NewRef(args[i]));
      rc = report_exception(h, callback.get(), tuple.get());
    }
  }
  for (Py_ssize_t i = 0; i < nargs; ++i) Py_DECREF(args[i]);
  if (args != small) PyMem_Free(args);
  return rc;
}

// Detaches the callback and the arguments under the handle's lock (readers
// see both or neither) and releases them after, outside it: their release
// may run Python code, which may read the handle.
static void handle_drop_callback(HandleObject* h) {
  nogil_lock(&h->lock);
  PyObject* callback = h->callback;
  h->callback = nullptr;
  Py_ssize_t nargs = Py_SIZE(h);
  Py_SET_SIZE(h, 0);
  nogil_unlock(&h->lock);
  Py_XDECREF(callback);
  for (Py_ssize_t i = 0; i < nargs; ++i) Py_CLEAR(h->args[i]);
}

// Marked cancelled under the handle's lock, so that handle_run, once it
// sees the mark, no longer reads the callback and arguments; they are
// dropped after, once the debug representation (which shows them) is made.
void handle_cancel(HandleObject* h) {
  nogil_lock(&h->lock);
  bool first = !h->cancelled;
  store_relaxed(h->cancelled, true);
  nogil_unlock(&h->lock);
  if (!first) return;
  if (is_timer(h) && load_relaxed(h->scheduled)) {
    add_shared(h->loop->timers_cancelled, Py_ssize_t{1});  // cancel() may come from any thread
  }
  if (load_relaxed(h->loop->debug) && handle_repr_cache(h) == nullptr) {
    // Keep the representation for "Executing <Handle ...> took ..." logs;
    // published whole to readers in other threads.
    PyObject* repr = PyObject_Repr(reinterpret_cast<PyObject*>(h));
    if (repr == nullptr) PyErr_WriteUnraisable(reinterpret_cast<PyObject*>(h));
    __atomic_store_n(&h->repr, repr, __ATOMIC_RELEASE);
  }
  handle_drop_callback(h);
}

namespace {

PyObject* Handle_cancel(PyObject* self, PyObject*) {
  handle_cancel(reinterpret_cast<HandleObject*>(self));
  Py_RETURN_NONE;
}

PyObject* Handle_cancelled(PyObject* self, PyObject*) {
  return PyBool_FromLong(load_relaxed(reinterpret_cast<HandleObject*>(self)->cancelled));
}

PyObject* Handle_get_context(PyObject* self, PyObject*) {
  HandleObject* h = reinterpret_cast<HandleObject*>(self);
  if (h->context == nullptr) {  // lazy (kLazyContext): made now
    LoopObject* loop = h->loop;
    h->context = loop->lazy_running == h ? Py_NewRef(loop->lazy_context) : PyContext_New();
    if (h->context == nullptr) return nullptr;
  }
  return Py_NewRef(h->context);
}

PyObject* Handle_run(PyObject* self, PyObject*) {
  HandleObject* h = reinterpret_cast<HandleObject*>(self);
  if (load_relaxed(h->cancelled)) {
    // asyncio's Handle._run on a cancelled handle calls None(): report that.
    PyErr_SetString(PyExc_TypeError, "'NoneType' object is not callable");
    if (report_exception(h, Py_None, Py_None) < 0) return nullptr;
    Py_RETURN_NONE;
  }
  if (handle_run(h) < 0) return nullptr;
  Py_RETURN_NONE;
}

PyObject* TimerHandle_when(PyObject* self, PyObject*) {
  return PyFloat_FromDouble(reinterpret_cast<HandleObject*>(self)->when);
}

PyObject* Handle_repr(PyObject* self) {
  HandleObject* h = reinterpret_cast<HandleObject*>(self);
  if (PyObject* repr = handle_repr_cache(h)) return Py_NewRef(repr);
  Ref info = Ref::steal(PyList_New(0));
  if (!info) return nullptr;
  auto append = [&](Ref item) {
    return item && PyList_Append(info.get(), item.get()) == 0;
  };
  if (!append(Ref::steal(PyUnicode_FromString(_PyType_Name(Py_TYPE(self)))))) return nullptr;
  if (load_relaxed(h->cancelled) && !append(Ref::steal(PyUnicode_FromString("cancelled")))) {
    return nullptr;
  }
  if (is_timer(h)) {
    Ref when = Ref::steal(PyFloat_FromDouble(h->when));
    if (!when || !append(Ref::steal(PyUnicode_FromFormat("when=%R", when.get())))) {
      return nullptr;
    }
  }
  Ref callback, args;
  if (!handle_callback_args(h, &callback, &args)) return nullptr;
  if (callback.get() != Py_None) {
    if (!append(Ref::steal(PyObject_CallFunctionObjArgs(
            h->loop->state->format_callback_source, callback.get(), args.get(),
            load_relaxed(h->loop->debug) ? Py_True : Py_False, nullptr)))) {
      return nullptr;
    }
  }
  if (h->source_traceback != nullptr && PyObject_IsTrue(h->source_traceback) == 1) {
    Ref frame = Ref::steal(PySequence_GetItem(h->source_traceback, -1));
    if (!frame) return nullptr;
    Ref file = Ref::steal(PySequence_GetItem(frame.get(), 0));
    Ref line = Ref::steal(PySequence_GetItem(frame.get(), 1));
    if (!file || !line) return nullptr;
    if (!append(Ref::steal(PyUnicode_FromFormat("created at %S:%S", file.get(), line.get())))) {
      return nullptr;
    }
  }
  Ref sep = Ref::steal(PyUnicode_FromString(" "));
  if (!sep) return nullptr;
  Ref body = Ref::steal(PyUnicode_Join(sep.get(), info.get()));
  if (!body) return nullptr;
  return PyUnicode_FromFormat("<%U>", body.get());
}

PyObject* TimerHandle_richcompare(PyObject* self, PyObject* other, int op) {
  HandleObject* a = reinterpret_cast<HandleObject*>(self);
  if (!PyObject_TypeCheck(other, Py_TYPE(self))) Py_RETURN_NOTIMPLEMENTED;
  HandleObject* b = reinterpret_cast<HandleObject*>(other);
  auto equal = [&]() -> int {
    if (a->when != b->when || load_relaxed(a->cancelled) != load_relaxed(b->cancelled)) return 0;
    Ref ca, ta, cb, tb;
    if (!handle_callback_args(a, &ca, &ta) || !handle_callback_args(b, &cb, &tb)) return -1;
    int eq = PyObject_RichCompareBool(ca.get(), cb.get(), Py_EQ);
    if (eq != 1) return eq;
    return PyObject_RichCompareBool(ta.get(), tb.get(), Py_EQ);
  };
  int result;
  switch (op) {
    case Py_LT: result = a->when < b->when; break;
    case Py_GT: result = a->when > b->when; break;
    case Py_LE: result = a->when < b->when ? 1 : equal(); break;
    case Py_GE: result = a->when > b->when ? 1 : equal(); break;
    case Py_EQ: result = equal(); break;
    case Py_NE: result = equal(); if (result >= 0) result = !result; break;
    default: Py_RETURN_NOTIMPLEMENTED;
  }
  if (result < 0) return nullptr;
  return PyBool_FromLong(result);
}

Py_hash_t TimerHandle_hash(PyObject* self) {
  Ref when = Ref::steal(PyFloat_FromDouble(reinterpret_cast<HandleObject*>(self)->when));
  return when ? PyObject_Hash(when.get()) : -1;
}


int Handle_clear(PyObject* self) {
  HandleObject* h = reinterpret_cast<HandleObject*>(self);
  handle_drop_callback(h);
  Py_CLEAR(h->context);
  Py_CLEAR(h->repr);
  Py_CLEAR(h->source_traceback);
  // The loop stays: methods still reach loop->state after a gc clear.
  return 0;
}

void Handle_dealloc(PyObject* self) {
  HandleObject* h = reinterpret_cast<HandleObject*>(self);
  PyTypeObject* type = Py_TYPE(self);
  PyObject_GC_UnTrack(self);
  if (h->weakreflist != nullptr) PyObject_ClearWeakRefs(self);
  Handle_clear(self);
  // Into the pool while the handle's reference keeps the loop alive.
  LoopObject* loop = h->loop;
  h->loop = nullptr;
  if (!(kRecycle && h->poolable && loop != nullptr &&
        loop_pool_put(loop, &loop->handle_pool, LoopObject::kHandlePoolSize, self))) {
    type->tp_free(self);
    Py_DECREF(type);
  }
  Py_XDECREF(reinterpret_cast<PyObject*>(loop));
}


// asyncio's private attributes, read-only here, for code that inspects them.
PyObject* get_callback(PyObject* self, void*) {
  Ref callback, args;
  HandleObject* h = reinterpret_cast<HandleObject*>(self);
  return handle_callback_args(h, &callback, &args) ? callback.release() : nullptr;
}
PyObject* get_args(PyObject* self, void*) {
  Ref callback, args;
  HandleObject* h = reinterpret_cast<HandleObject*>(self);
  return handle_callback_args(h, &callback, &args) ? args.release() : nullptr;
}
PyObject* get_cancelled(PyObject* self, void*) { return Handle_cancelled(self, nullptr); }
PyObject* get_loop(PyObject* self, void*) {
  return Py_NewRef(reinterpret_cast<PyObject*>(reinterpret_cast<HandleObject*>(self)->loop));
}
PyObject* get_context(PyObject* self, void*) { return Handle_get_context(self, nullptr); }
PyObject* get_source_traceback(PyObject* self, void*) {
  HandleObject* h = reinterpret_cast<HandleObject*>(self);
  return Py_NewRef(h->source_traceback ? h->source_traceback : Py_None);
}
PyObject* get_repr(PyObject* self, void*) {
  PyObject* repr = handle_repr_cache(reinterpret_cast<HandleObject*>(self));
  return Py_NewRef(repr ? repr : Py_None);
}
PyObject* get_when(PyObject* self, void*) { return TimerHandle_when(self, nullptr); }
PyObject* get_scheduled(PyObject* self, void*) {
  return PyBool_FromLong(reinterpret_cast<HandleObject*>(self)->scheduled);
}

PyMethodDef handle_methods[] = {
    {"cancel", Handle_cancel, METH_NOARGS, "cancel($self, /)\n--\n\nCancel the callback."},
    {"cancelled", Handle_cancelled, METH_NOARGS, "cancelled($self, /)\n--\n\nReturn True if the callback was cancelled."},
    {"get_context", Handle_get_context, METH_NOARGS, "get_context($self, /)\n--\n\nThe contextvars.Context the callback runs in."},
    {"_run", Handle_run, METH_NOARGS, "Run the callback now."},
    {nullptr, nullptr, 0, nullptr},
};

PyMethodDef timer_handle_methods[] = {
    {"when", TimerHandle_when, METH_NOARGS, "when($self, /)\n--\n\nThe scheduled time, in loop.time() terms."},
    {nullptr, nullptr, 0, nullptr},
};

PyGetSetDef handle_getset[] = {
    {"_callback", get_callback, nullptr, nullptr, nullptr},
    {"_args", get_args, nullptr, nullptr, nullptr},
    {"_cancelled", get_cancelled, nullptr, nullptr, nullptr},
    {"_loop", get_loop, nullptr, nullptr, nullptr},
    {"_context", get_context, nullptr, nullptr, nullptr},
    {"_source_traceback", get_source_traceback, nullptr, nullptr, nullptr},
    {"_repr", get_repr, nullptr, nullptr, nullptr},
    {nullptr, nullptr, nullptr, nullptr, nullptr},
};

PyGetSetDef timer_handle_getset[] = {
    {"_when", get_when, nullptr, nullptr, nullptr},
    {"_scheduled", get_scheduled, nullptr, nullptr, nullptr},
    {nullptr, nullptr, nullptr, nullptr, nullptr},
};

PyMemberDef handle_members[] = {
    {"__weaklistoffset__", T_PYSSIZET, offsetof(HandleObject, weakreflist), READONLY, nullptr},
    {nullptr, 0, 0, 0, nullptr},
};

PyType_Slot handle_slots[] = {
    {Py_tp_dealloc, reinterpret_cast<void*>(Handle_dealloc)},
    {Py_tp_traverse, reinterpret_cast<void*>(handle_traverse)},
    {Py_tp_clear, reinterpret_cast<void*>(Handle_clear)},
    {Py_tp_repr, reinterpret_cast<void*>(Handle_repr)},
    {Py_tp_methods, handle_methods},
    {Py_tp_getset, handle_getset},
    {Py_tp_members, handle_members},
    {Py_tp_doc, const_cast<char*>("Object returned by callback registration methods.")},
    {0, nullptr},
};

PyType_Slot timer_handle_slots[] = {
    {Py_tp_dealloc, reinterpret_cast<void*>(Handle_dealloc)},
    {Py_tp_traverse, reinterpret_cast<void*>(handle_traverse)},
    {Py_tp_clear, reinterpret_cast<void*>(Handle_clear)},
    {Py_tp_richcompare, reinterpret_cast<void*>(TimerHandle_richcompare)},
    {Py_tp_hash, reinterpret_cast<void*>(TimerHandle_hash)},
    {Py_tp_methods, timer_handle_methods},
    {Py_tp_getset, timer_handle_getset},
    {Py_tp_doc, const_cast<char*>("Object returned by timed callback registration methods.")},
    {0, nullptr},
};

}  // namespace

PyType_Spec handle_spec = {
    "aioev._aioev.Handle",
    static_cast<int>(offsetof(HandleObject, args)),
    static_cast<int>(sizeof(PyObject*)),
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_BASETYPE |
        Py_TPFLAGS_DISALLOW_INSTANTIATION,
    handle_slots,
};

PyType_Spec timer_handle_spec = {
    "aioev._aioev.TimerHandle",
    static_cast<int>(offsetof(HandleObject, args)),
    static_cast<int>(sizeof(PyObject*)),
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    timer_handle_slots,
};

}  // namespace aioev
