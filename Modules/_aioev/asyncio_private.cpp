// asyncio's private internals, as asyncio_private.h lists them.
#include "asyncio_private.h"

#include "transport.h"

namespace aioev {

namespace {

// obj.<name>, or nullptr without an error when it has none.
Ref optional_attr(PyObject* obj, const char* name) {
  Ref value = Ref::steal(PyObject_GetAttrString(obj, name));
  if (!value && PyErr_ExceptionMatches(PyExc_AttributeError)) PyErr_Clear();
  return value;
}

// fn(loop, task): asyncio's own function, where its objects are missing.
Ref call_lifetime(PyObject* fn, PyObject* loop, PyObject* task) {
  PyObject* args[] = {loop, task};
  return Ref::steal(PyObject_Vectorcall(fn, args, 2, nullptr));
}

// The code of the factory that asyncio.create_eager_task_factory(constructor)
// returns, when it is `factory(loop, coro, *, name=None, context=None)`
// calling constructor(coro, loop=, name=, context=, eager_start=True), the
// one shape Loop_create_task calls around (3.12 and 3.13; a later shape is
// simply not recognized, and such factories are called).
int eager_factory_init(ModuleState* st) {
#if !AIOEV_PY312
  (void)st;  // 3.11: no eager tasks
  return 0;
#else
  Ref factory = import_attr("asyncio.tasks", "eager_task_factory");
  if (!factory) return -1;
  if (!PyFunction_Check(factory.get())) return 0;
  PyObject* code = PyFunction_GET_CODE(factory.get());
  Ref varnames = Ref::steal(PyObject_GetAttrString(code, "co_varnames"));
  if (!varnames) return -1;
  const auto* c = reinterpret_cast<PyCodeObject*>(code);
  bool shape = c->co_argcount == 2 && c->co_kwonlyargcount == 2 &&
               (c->co_flags & (CO_VARARGS | CO_VARKEYWORDS)) == 0 && PyTuple_Check(varnames.get()) &&
               PyTuple_GET_SIZE(varnames.get()) == 4 &&
               PyUnicode_CompareWithASCIIString(PyTuple_GET_ITEM(varnames.get(), 2), "name") == 0 &&
               PyUnicode_CompareWithASCIIString(PyTuple_GET_ITEM(varnames.get(), 3), "context") == 0;
  if (shape) st->eager_factory_code = Py_NewRef(code);
  return 0;
#endif
}

// What the task lifetime operations read in asyncio.tasks.
int tasks_init(ModuleState* st, PyObject* tasks) {
  st->enter_task = PyObject_GetAttrString(tasks, "_enter_task");
  st->leave_task = PyObject_GetAttrString(tasks, "_leave_task");
  st->register_task = PyObject_GetAttrString(tasks, "_register_task");
  if (!st->enter_task || !st->leave_task || !st->register_task) return -1;
  // Where an object is missing or not of the type expected (an asyncio
  // without its C accelerator may differ), the functions above are called.
#if AIOEV_PY312
  st->swap_current_task = optional_attr(tasks, "_swap_current_task").release();
  st->eager_tasks = optional_attr(tasks, "_eager_tasks").release();
  if (st->eager_tasks != nullptr && !PySet_Check(st->eager_tasks)) Py_CLEAR(st->eager_tasks);
#endif
  st->current_tasks = optional_attr(tasks, "_current_tasks").release();
  if (st->current_tasks != nullptr && !PyDict_CheckExact(st->current_tasks)) {
    Py_CLEAR(st->current_tasks);
  }
  if (st->current_tasks == nullptr && st->swap_current_task == nullptr) {
    if (PyErr_Occurred()) return -1;
    PyErr_SetString(PyExc_ImportError, "asyncio has neither _current_tasks nor _swap_current_task");
    return -1;
  }
#if AIOEV_PY312
  Ref weakset = optional_attr(tasks, "_scheduled_tasks");
#else
  Ref weakset = optional_attr(tasks, "_all_tasks");
#endif
  if (weakset) {
    st->all_tasks_data = optional_attr(weakset.get(), "data").release();
    st->all_tasks_remove = optional_attr(weakset.get(), "_remove").release();
    st->all_tasks_pending = optional_attr(weakset.get(), "_pending_removals").release();
  }
  if (!st->all_tasks_data || !PySet_CheckExact(st->all_tasks_data) || !st->all_tasks_remove ||
      !st->all_tasks_pending || !PyList_CheckExact(st->all_tasks_pending)) {
    Py_CLEAR(st->all_tasks_data);
    Py_CLEAR(st->all_tasks_remove);
    Py_CLEAR(st->all_tasks_pending);
  }
  return PyErr_Occurred() ? -1 : 0;
}

}  // namespace

int asyncio_private_init(ModuleState* st) {
  Ref tasks = Ref::steal(PyImport_ImportModule("asyncio.tasks"));
  Ref base_tasks = Ref::steal(PyImport_ImportModule("asyncio.base_tasks"));
  Ref base_futures = Ref::steal(PyImport_ImportModule("asyncio.base_futures"));
  if (!tasks || !base_tasks || !base_futures) return -1;
  st->task_repr = PyObject_GetAttrString(base_tasks.get(), "_task_repr");
  st->task_get_stack = PyObject_GetAttrString(base_tasks.get(), "_task_get_stack");
  st->task_print_stack = PyObject_GetAttrString(base_tasks.get(), "_task_print_stack");
  st->future_repr = PyObject_GetAttrString(base_futures.get(), "_future_repr");
  st->set_result_unless_cancelled =
      import_attr("asyncio.futures", "_set_result_unless_cancelled").release();
  if (!st->task_repr || !st->task_get_stack || !st->task_print_stack || !st->future_repr ||
      !st->set_result_unless_cancelled) {
    return -1;
  }
  if (tasks_init(st, tasks.get()) < 0) return -1;
  return eager_factory_init(st);
}

// ---- the current task ----

int asyncio_enter_task_slow(ModuleState* st, PyObject* loop, PyObject* task) {
  return call_lifetime(st->enter_task, loop, task) ? 0 : -1;
}

int asyncio_leave_task_slow(ModuleState* st, PyObject* loop, PyObject* task) {
  return call_lifetime(st->leave_task, loop, task) ? 0 : -1;
}

Ref asyncio_swap_current_task(ModuleState* st, PyObject* loop, PyObject* task) {
  if (st->current_tasks == nullptr) return call_lifetime(st->swap_current_task, loop, task);
  Ref previous = Ref::borrow(PyDict_GetItemWithError(st->current_tasks, loop));
  if (!previous) {
    if (PyErr_Occurred()) return Ref();
    previous = Ref::borrow(Py_None);
  }
  int rc;
  if (task == Py_None) {
    rc = previous.get() == Py_None ? 0 : PyDict_DelItem(st->current_tasks, loop);
  } else {
    rc = PyDict_SetItem(st->current_tasks, loop, task);
  }
  return rc < 0 ? Ref() : std::move(previous);
}

// ---- all tasks ----

// WeakSet.add(task) without its Python frame: the set's `data` gets a weak
// reference whose callback is the set's own `_remove`. While the WeakSet is
// being iterated (pending removals), its add() method runs instead.
int asyncio_register_task(ModuleState* st, PyObject* task, Ref* registration) {
  if (st->all_tasks_data != nullptr && PyList_GET_SIZE(st->all_tasks_pending) == 0) {
    Ref ref = Ref::steal(PyWeakref_NewRef(task, st->all_tasks_remove));
    if (!ref || PySet_Add(st->all_tasks_data, ref.get()) < 0) return -1;
    *registration = std::move(ref);
    return 0;
  }
  return Ref::steal(PyObject_CallOneArg(st->register_task, task)) ? 0 : -1;
}

void asyncio_unregister_task(ModuleState* st, Ref registration) {
  if (registration && PySet_Discard(st->all_tasks_data, registration.get()) < 0) PyErr_Clear();
}

// ---- eager tasks ----

int asyncio_eager_task_add(ModuleState* st, PyObject* task) {
  return st->eager_tasks != nullptr ? PySet_Add(st->eager_tasks, task) : 0;
}

void asyncio_eager_task_discard(ModuleState* st, PyObject* task) {
  if (st->eager_tasks != nullptr) {
    ErrorGuard raised;
    if (PySet_Discard(st->eager_tasks, task) < 0) PyErr_Clear();
  }
}

Borrowed<> asyncio_eager_factory_constructor(ModuleState* st, PyObject* factory) {
  if (st->eager_factory_code == nullptr || !PyFunction_Check(factory) ||
      PyFunction_GET_CODE(factory) != st->eager_factory_code) {
    return nullptr;
  }
  PyObject* closure = PyFunction_GET_CLOSURE(factory);
  PyObject* defaults = PyFunction_GET_KW_DEFAULTS(factory);
  if (closure == nullptr || !PyTuple_Check(closure) || PyTuple_GET_SIZE(closure) != 1 ||
      defaults == nullptr || !PyDict_CheckExact(defaults) || PyDict_GET_SIZE(defaults) != 2) {
    return nullptr;
  }
  // Two interned keys: a lookup cannot raise.
  if (PyDict_GetItem(defaults, st->str_name) != Py_None ||
      PyDict_GetItem(defaults, st->str_context) != Py_None) {
    return nullptr;
  }
  return PyCell_GET(PyTuple_GET_ITEM(closure, 0));
}

// ---- reprs and stacks ----

Ref asyncio_future_repr(ModuleState* st, PyObject* future) {
  return Ref::steal(PyObject_CallOneArg(st->future_repr, future));
}

Ref asyncio_task_repr(ModuleState* st, PyObject* task) {
  return Ref::steal(PyObject_CallOneArg(st->task_repr, task));
}

Ref asyncio_task_get_stack(ModuleState* st, PyObject* task, PyObject* limit) {
  PyObject* args[] = {task, limit};
  return Ref::steal(PyObject_Vectorcall(st->task_get_stack, args, 2, nullptr));
}

Ref asyncio_task_print_stack(ModuleState* st, PyObject* task, PyObject* limit, PyObject* file) {
  PyObject* args[] = {task, limit, file};
  return Ref::steal(PyObject_Vectorcall(st->task_print_stack, args, 3, nullptr));
}

// ---- transports ----

Ref asyncio_transport_bases(const char* bases) {
  Ref transports = Ref::steal(PyImport_ImportModule("asyncio.transports"));
  if (!transports) return Ref();
  Ref names = Ref::steal(PyUnicode_Split(Ref::steal(PyUnicode_FromString(bases)).get(),
                                         Ref::steal(PyUnicode_FromString(", ")).get(), -1));
  if (!names) return Ref();
  Py_ssize_t count = PyList_GET_SIZE(names.get());
  Ref tuple = Ref::steal(PyTuple_New(count));
  if (!tuple) return Ref();
  for (Py_ssize_t i = 0; i < count; ++i) {
    PyObject* base = PyObject_GetAttr(transports.get(), PyList_GET_ITEM(names.get(), i));
    if (base == nullptr) return Ref();
    PyTuple_SET_ITEM(tuple.get(), i, base);
    // Each base must hold no more than the slots TransportObject mirrors:
    // BaseTransport's one, or that and _FlowControlMixin's four.
    PyTypeObject* type = reinterpret_cast<PyTypeObject*>(base);
    Py_ssize_t size = PyType_Check(base) ? type->tp_basicsize : -1;
    if ((size != static_cast<Py_ssize_t>(offsetof(TransportObject, flow_control_slots)) &&
         size != static_cast<Py_ssize_t>(offsetof(TransportObject, loop))) ||
        type->tp_dictoffset != 0 || type->tp_weaklistoffset != 0) {
      PyErr_Format(PyExc_ImportError, "asyncio.transports.%U has a layout aioev does not know",
                   PyList_GET_ITEM(names.get(), i));
      return Ref();
    }
  }
  return tuple;
}

}  // namespace aioev
