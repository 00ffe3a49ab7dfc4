// The _aioev module: its state, its types and the Python helpers it caches.
#include "future.h"

#include "asyncio_private.h"

#include <initializer_list>

namespace aioev {

namespace {

// Traverse and clear go over every field of module_state.h's lists.
#define AIOEV_VISIT(field) Py_VISIT(st->field);
#define AIOEV_VISIT_MANY(field, ...) Py_VISIT(st->field);
int module_traverse(PyObject* module, visitproc visit, void* arg) {
  ModuleState* st = module_state(module);
  AIOEV_STATE_TYPES(AIOEV_VISIT)
  AIOEV_STATE_OBJECT_FIELDS(AIOEV_VISIT, AIOEV_VISIT_MANY)
  return 0;
}
#undef AIOEV_VISIT
#undef AIOEV_VISIT_MANY

#define AIOEV_CLEAR(field) Py_CLEAR(st->field);
#define AIOEV_CLEAR_MANY(field, ...) Py_CLEAR(st->field);
int module_clear(PyObject* module) {
  ModuleState* st = module_state(module);
  AIOEV_STATE_TYPES(AIOEV_CLEAR)
  AIOEV_STATE_OBJECT_FIELDS(AIOEV_CLEAR, AIOEV_CLEAR_MANY)
  return 0;
}
#undef AIOEV_CLEAR
#undef AIOEV_CLEAR_MANY

void module_free(void* module) {
  module_clear(static_cast<PyObject*>(module));
}

}  // namespace

Ref import_attr(const char* module_name, const char* attr) {
  Ref module = Ref::steal(PyImport_ImportModule(module_name));
  if (!module) return module;
  Ref value = Ref::steal(PyObject_GetAttrString(module.get(), attr));
  if (!value && PyErr_ExceptionMatches(PyExc_AttributeError)) {
    PyErr_Clear();
    PyErr_Format(PyExc_ImportError, "cannot import name '%s' from '%s' (needed by aioev._aioev)",
                 attr, module_name);
  }
  return value;
}

namespace {

struct ImportSlot {
  PyObject** slot;
  const char* module_name;
  const char* attr;
};

// Each import stops at its first failure: running the next one with an
// exception set would turn an ImportError into a SystemError.
template <size_t N>
int import_attrs(ImportSlot (&imports)[N]) {
  for (auto& imp : imports) {
    *imp.slot = import_attr(imp.module_name, imp.attr).release();
    if (*imp.slot == nullptr) return -1;
  }
  return 0;
}

// A vectorcall's kwnames: a tuple of the texts, interned.
Ref kwnames_new(std::initializer_list<const char*> texts) {
  Ref tuple = Ref::steal(PyTuple_New(static_cast<Py_ssize_t>(texts.size())));
  if (!tuple) return tuple;
  Py_ssize_t i = 0;
  for (const char* text : texts) {
    PyObject* name = PyUnicode_InternFromString(text);
    if (name == nullptr) return Ref();
    PyTuple_SET_ITEM(tuple.get(), i++, name);
  }
  return tuple;
}

Owned<PyTypeObject> add_type(PyObject* module, PyType_Spec* spec, PyObject* base) {
  Owned<PyTypeObject> type = Owned<PyTypeObject>::steal(
      reinterpret_cast<PyTypeObject*>(PyType_FromModuleAndSpec(module, spec, base)));
  if (!type || PyModule_AddType(module, type.get()) < 0) return nullptr;
  return type;
}

int module_exec(PyObject* module) {
  ModuleState* st = module_state(module);
  ev_memory_init();
  st->handle_type = add_type(module, &handle_spec, nullptr).release();
  if (st->handle_type == nullptr) return -1;
  st->timer_handle_type =
      add_type(module, &timer_handle_spec, reinterpret_cast<PyObject*>(st->handle_type))
          .release();
  if (st->timer_handle_type == nullptr) return -1;
  st->loop_type = add_type(module, &loop_spec, nullptr).release();
  if (st->loop_type == nullptr) return -1;
  st->sock_waiter_type = sock_waiter_type_new(module).release();
  if (st->sock_waiter_type == nullptr) return -1;
  // The transports' types (SocketTransport, DatagramTransport,
  // ReadPipeTransport and WritePipeTransport, derived from asyncio's). The
  // registry of io.cpp reads the first two back; the module's dict holds
  // the pipes'.
  struct {
    Owned<PyTypeObject> (*make)(PyObject*);
    PyTypeObject** field;
  } transport_types[] = {{socket_transport_type_new, &st->socket_transport_type},
                         {datagram_type_new, &st->datagram_type},
                         {read_pipe_type_new, nullptr},
                         {write_pipe_type_new, nullptr}};
  for (auto& kind : transport_types) {
    Owned<PyTypeObject> type = kind.make(module);
    if (!type || PyModule_AddType(module, type.get()) < 0) return -1;
    if (kind.field != nullptr) *kind.field = type.release();
  }

#define AIOEV_IMPORT(field, module_name, attr) {&st->field, module_name, attr},
  ImportSlot imports[] = {AIOEV_STATE_IMPORTS(AIOEV_IMPORT)};
#undef AIOEV_IMPORT
  if (import_attrs(imports) < 0) return -1;
  Ref base_loop = import_attr("asyncio", "BaseEventLoop");
  if (!base_loop) return -1;
  st->base_create_task = PyObject_GetAttrString(base_loop.get(), "create_task");
  if (st->base_create_task == nullptr) return -1;
  {
    Ref code = Ref::steal(PyObject_GetAttrString(st->base_create_task, "__code__"));
    Ref flags = code ? Ref::steal(PyObject_GetAttrString(code.get(), "co_flags")) : Ref();
    long value = flags ? PyLong_AsLong(flags.get()) : -1;
    if (value == -1 && PyErr_Occurred()) return -1;
    loop_set_create_task_kwargs((value & CO_VARKEYWORDS) != 0);
  }

  struct {
    PyObject** slot;
    const char* text;
  } names[] = {
#define AIOEV_NAME(field, text) {&st->field, text},
      AIOEV_STATE_STRINGS(AIOEV_NAME)
#undef AIOEV_NAME
  };
  for (auto& name : names) {
    *name.slot = PyUnicode_InternFromString(name.text);
    if (*name.slot == nullptr) return -1;
  }
#define AIOEV_KWNAMES(field, ...)                   \
  st->field = kwnames_new({__VA_ARGS__}).release(); \
  if (st->field == nullptr) return -1;
  AIOEV_STATE_KWNAMES(AIOEV_KWNAMES)
#undef AIOEV_KWNAMES
  st->max_datagram = PyLong_FromSize_t(kReadBufferSize);
  if (st->max_datagram == nullptr || asyncio_private_init(st) < 0) return -1;
  if (task_module_init(module, st) < 0 || server_state_init(st) < 0) return -1;

  // aioev._compat last, once every type is in the module: vendored, the
  // module is the top-level _aioev, and a program that imports it first
  // runs aioev/__init__ from here, which takes this partly made module as
  // aioev._aioev and imports its types (Tests/test_vendored_import.py).
#define AIOEV_COMPAT(field) {&st->field, "aioev._compat", #field},
  ImportSlot compat[] = {AIOEV_STATE_COMPAT(AIOEV_COMPAT)};
#undef AIOEV_COMPAT
  return import_attrs(compat);
}

PyModuleDef_Slot module_slots[] = {
    {Py_mod_exec, reinterpret_cast<void*>(module_exec)},
#if AIOEV_PY312
    {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},
#endif
#ifdef Py_GIL_DISABLED
    // Loops in many threads at once, call_soon_threadsafe from any: the
    // cross-thread queue is locked, the pools are the running thread's, the
    // rest of a loop stays in its thread (Doc/design.rst, "Threads").
    {Py_mod_gil, Py_MOD_GIL_NOT_USED},
#endif
    {0, nullptr},
};

}  // namespace

PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    "_aioev",
    "The C++ core of aioev: the event loop and its handles, over libev.",
    sizeof(ModuleState),
    nullptr,
    module_slots,
    module_traverse,
    module_clear,
    module_free,
};

ModuleState* module_state(PyObject* module) {
  return static_cast<ModuleState*>(PyModule_GetState(module));
}

}  // namespace aioev

PyMODINIT_FUNC PyInit__aioev(void) { return PyModuleDef_Init(&aioev::module_def); }
