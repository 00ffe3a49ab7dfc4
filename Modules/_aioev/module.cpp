// The _aioev module: its state, its types and the Python helpers it caches.
#include "future.h"

namespace aioev {

namespace {

int module_traverse(PyObject* module, visitproc visit, void* arg) {
  ModuleState* st = module_state(module);
  Py_VISIT(st->loop_type);
  Py_VISIT(st->handle_type);
  Py_VISIT(st->timer_handle_type);
  Py_VISIT(st->stream_type);
  Py_VISIT(st->datagram_type);
  Py_VISIT(st->read_pipe_type);
  Py_VISIT(st->sock_waiter_type);
  Py_VISIT(st->write_pipe_type);
  Py_VISIT(st->warn_pipe_write_after_lost);
  Py_VISIT(st->log_info);
  Py_VISIT(st->buffered_protocol_type);
  Py_VISIT(st->set_result_unless_cancelled);
  Py_VISIT(st->server_detach);
  Py_VISIT(st->log_debug);
  Py_VISIT(st->log_fatal_oserror);
  Py_VISIT(st->warn_write_after_lost);
  Py_VISIT(st->future_type);
  Py_VISIT(st->task_type);
  Py_VISIT(st->base_create_task);
  Py_VISIT(st->task_kwnames);
  Py_VISIT(st->eager_factory_code);
#define AIOEV_VISIT_SERVER(name) Py_VISIT(st->server.name);
  AIOEV_SERVER_STATE(AIOEV_VISIT_SERVER)
#undef AIOEV_VISIT_SERVER
  Py_VISIT(st->eager_kwnames);
  Py_VISIT(st->format_callback_source);
  Py_VISIT(st->extract_stack);
  Py_VISIT(st->warn_slow_callback);
  Py_VISIT(st->iscoroutine);
  Py_VISIT(st->iscoroutinefunction);
  Py_VISIT(st->native_future_type);
  Py_VISIT(st->native_task_type);
  Py_VISIT(st->future_iter_type);
  Py_VISIT(st->task_method_type);
  Py_VISIT(st->cancelled_error);
  Py_VISIT(st->invalid_state_error);
  Py_VISIT(st->future_repr);
  Py_VISIT(st->task_repr);
  Py_VISIT(st->task_get_stack);
  Py_VISIT(st->task_print_stack);
  Py_VISIT(st->get_event_loop);
  Py_VISIT(st->current_tasks);
  Py_VISIT(st->enter_task);
  Py_VISIT(st->leave_task);
  Py_VISIT(st->swap_current_task);
  Py_VISIT(st->register_task);
  Py_VISIT(st->eager_tasks);
  Py_VISIT(st->all_tasks_data);
  Py_VISIT(st->all_tasks_remove);
  Py_VISIT(st->all_tasks_pending);
  return 0;
}

int module_clear(PyObject* module) {
  ModuleState* st = module_state(module);
  Py_CLEAR(st->loop_type);
  Py_CLEAR(st->handle_type);
  Py_CLEAR(st->timer_handle_type);
  Py_CLEAR(st->stream_type);
  Py_CLEAR(st->datagram_type);
  Py_CLEAR(st->read_pipe_type);
  Py_CLEAR(st->sock_waiter_type);
  Py_CLEAR(st->write_pipe_type);
  Py_CLEAR(st->warn_pipe_write_after_lost);
  Py_CLEAR(st->log_info);
  Py_CLEAR(st->buffered_protocol_type);
  Py_CLEAR(st->set_result_unless_cancelled);
  Py_CLEAR(st->server_detach);
  Py_CLEAR(st->log_debug);
  Py_CLEAR(st->log_fatal_oserror);
  Py_CLEAR(st->warn_write_after_lost);
  Py_CLEAR(st->future_type);
  Py_CLEAR(st->task_type);
  Py_CLEAR(st->base_create_task);
  Py_CLEAR(st->task_kwnames);
  Py_CLEAR(st->eager_factory_code);
#define AIOEV_CLEAR_SERVER(name) Py_CLEAR(st->server.name);
  AIOEV_SERVER_STATE(AIOEV_CLEAR_SERVER)
#undef AIOEV_CLEAR_SERVER
  Py_CLEAR(st->eager_kwnames);
  Py_CLEAR(st->str_set_name);
  Py_CLEAR(st->str_eager_start);
  Py_CLEAR(st->format_callback_source);
  Py_CLEAR(st->extract_stack);
  Py_CLEAR(st->warn_slow_callback);
  Py_CLEAR(st->iscoroutine);
  Py_CLEAR(st->iscoroutinefunction);
  Py_CLEAR(st->str_call_exception_handler);
  Py_CLEAR(st->str_message);
  Py_CLEAR(st->str_exception);
  Py_CLEAR(st->str_handle);
  Py_CLEAR(st->str_source_traceback);
  Py_CLEAR(st->str_context);
  Py_CLEAR(st->str_loop);
  Py_CLEAR(st->str_current_handle);
  Py_CLEAR(st->str_slow_callback_duration);
  Py_CLEAR(st->str_task_factory);
  Py_CLEAR(st->str_name);
  Py_CLEAR(st->str_transport);
  Py_CLEAR(st->str_protocol);
  Py_CLEAR(st->str_data_received);
  Py_CLEAR(st->str_eof_received);
  Py_CLEAR(st->str_get_buffer);
  Py_CLEAR(st->str_buffer_updated);
  Py_CLEAR(st->str_connection_made);
  Py_CLEAR(st->str_connection_lost);
  Py_CLEAR(st->str_pause_writing);
  Py_CLEAR(st->str_resume_writing);
  Py_CLEAR(st->str_close);
  Py_CLEAR(st->str_set_result);
  Py_CLEAR(st->str_set_exception);
  Py_CLEAR(st->str_call_connection_lost);
  Py_CLEAR(st->str_start_reading);
  Py_CLEAR(st->str_error_received);
  Py_CLEAR(st->str_datagram_received);
  Py_CLEAR(st->str_peername);
  Py_CLEAR(st->str_send);
  Py_CLEAR(st->str_sendto);
  Py_CLEAR(st->str_recvfrom);
  Py_CLEAR(st->max_datagram);
  Py_CLEAR(st->str_done);
  Py_CLEAR(st->str_add_done_callback);
  Py_CLEAR(st->loop_kwnames);
  Py_CLEAR(st->str_transports);
  Py_CLEAR(st->str_data);
  Py_CLEAR(st->str_fileno);
  Py_CLEAR(st->native_future_type);
  Py_CLEAR(st->native_task_type);
  Py_CLEAR(st->future_iter_type);
  Py_CLEAR(st->task_method_type);
  Py_CLEAR(st->cancelled_error);
  Py_CLEAR(st->invalid_state_error);
  Py_CLEAR(st->future_repr);
  Py_CLEAR(st->task_repr);
  Py_CLEAR(st->task_get_stack);
  Py_CLEAR(st->task_print_stack);
  Py_CLEAR(st->get_event_loop);
  Py_CLEAR(st->current_tasks);
  Py_CLEAR(st->enter_task);
  Py_CLEAR(st->leave_task);
  Py_CLEAR(st->swap_current_task);
  Py_CLEAR(st->register_task);
  Py_CLEAR(st->eager_tasks);
  Py_CLEAR(st->all_tasks_data);
  Py_CLEAR(st->all_tasks_remove);
  Py_CLEAR(st->all_tasks_pending);
  Py_CLEAR(st->str_PENDING);
  Py_CLEAR(st->str_CANCELLED);
  Py_CLEAR(st->str_FINISHED);
  Py_CLEAR(st->str_future);
  Py_CLEAR(st->str_task);
  Py_CLEAR(st->str_call_soon);
  Py_CLEAR(st->str_get_debug);
  Py_CLEAR(st->str_cancel);
  Py_CLEAR(st->str_result);
  Py_CLEAR(st->str_get_loop);
  Py_CLEAR(st->str_loop_attr);
  Py_CLEAR(st->str_asyncio_future_blocking);
  Py_CLEAR(st->str_throw);
  Py_CLEAR(st->str_is_running);
  Py_CLEAR(st->context_kwnames);
  Py_CLEAR(st->msg_kwnames);
  return 0;
}

void module_free(void* module) {
  module_clear(static_cast<PyObject*>(module));
}

// `from module_name import attr`: a missing name is an ImportError that names
// it, as the import statement says it.
PyObject* import_attr(const char* module_name, const char* attr) {
  Ref module = Ref::steal(PyImport_ImportModule(module_name));
  if (!module) return nullptr;
  PyObject* value = PyObject_GetAttrString(module.get(), attr);
  if (value == nullptr && PyErr_ExceptionMatches(PyExc_AttributeError)) {
    PyErr_Clear();
    PyErr_Format(PyExc_ImportError, "cannot import name '%s' from '%s' (needed by aioev._aioev)",
                 attr, module_name);
  }
  return value;
}

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
    *imp.slot = import_attr(imp.module_name, imp.attr);
    if (*imp.slot == nullptr) return -1;
  }
  return 0;
}

PyTypeObject* add_type(PyObject* module, PyType_Spec* spec, PyObject* base) {
  PyObject* type = PyType_FromModuleAndSpec(module, spec, base);
  if (type == nullptr) return nullptr;
  if (PyModule_AddType(module, reinterpret_cast<PyTypeObject*>(type)) < 0) {
    Py_DECREF(type);
    return nullptr;
  }
  return reinterpret_cast<PyTypeObject*>(type);
}

// The code of the factory that asyncio.create_eager_task_factory(constructor)
// returns, when it is `factory(loop, coro, *, name=None, context=None)`
// calling constructor(coro, loop=, name=, context=, eager_start=True), the
// one shape Loop_create_task calls around (3.12 and 3.13; a later shape is
// simply not recognized, and such factories are called).
int eager_factory_init(ModuleState* st) {
#if PY_VERSION_HEX < 0x030C0000
  (void)st;  // 3.11: no eager tasks
  return 0;
#else
  Ref factory = Ref::steal(import_attr("asyncio.tasks", "eager_task_factory"));
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

int module_exec(PyObject* module) {
  ModuleState* st = module_state(module);
  ev_memory_init();
  st->handle_type = add_type(module, &handle_spec, nullptr);
  if (st->handle_type == nullptr) return -1;
  st->timer_handle_type =
      add_type(module, &timer_handle_spec, reinterpret_cast<PyObject*>(st->handle_type));
  if (st->timer_handle_type == nullptr) return -1;
  st->loop_type = add_type(module, &loop_spec, nullptr);
  if (st->loop_type == nullptr) return -1;
  st->stream_type = stream_type_new(module);
  if (st->stream_type == nullptr || PyModule_AddType(module, st->stream_type) < 0) return -1;
  st->datagram_type = datagram_type_new(module);
  if (st->datagram_type == nullptr || PyModule_AddType(module, st->datagram_type) < 0) return -1;
  st->sock_waiter_type = sock_waiter_type_new(module);
  if (st->sock_waiter_type == nullptr) return -1;
  st->read_pipe_type = read_pipe_type_new(module);
  if (st->read_pipe_type == nullptr || PyModule_AddType(module, st->read_pipe_type) < 0) return -1;
  st->write_pipe_type = write_pipe_type_new(module);
  if (st->write_pipe_type == nullptr || PyModule_AddType(module, st->write_pipe_type) < 0) {
    return -1;
  }

  ImportSlot imports[] = {
      {&st->future_type, "asyncio", "Future"},
      {&st->task_type, "asyncio", "Task"},
      {&st->iscoroutine, "asyncio", "iscoroutine"},
      {&st->iscoroutinefunction, "asyncio", "iscoroutinefunction"},
      {&st->buffered_protocol_type, "asyncio", "BufferedProtocol"},
      {&st->set_result_unless_cancelled, "asyncio.futures", "_set_result_unless_cancelled"},
      {&st->server.socket_type, "socket", "socket"},
      {&st->server.transport_socket_type, "asyncio.trsock", "TransportSocket"},
  };
  if (import_attrs(imports) < 0) return -1;
  Ref base_loop = Ref::steal(import_attr("asyncio", "BaseEventLoop"));
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
      {&st->str_call_exception_handler, "call_exception_handler"},
      {&st->str_message, "message"},
      {&st->str_exception, "exception"},
      {&st->str_handle, "handle"},
      {&st->str_source_traceback, "source_traceback"},
      {&st->str_context, "context"},
      {&st->str_loop, "loop"},
      {&st->str_current_handle, "_current_handle"},
      {&st->str_slow_callback_duration, "slow_callback_duration"},
      {&st->str_task_factory, "_task_factory"},
      {&st->str_name, "name"},
      {&st->str_transport, "transport"},
      {&st->str_protocol, "protocol"},
      {&st->str_data_received, "data_received"},
      {&st->str_eof_received, "eof_received"},
      {&st->str_get_buffer, "get_buffer"},
      {&st->str_buffer_updated, "buffer_updated"},
      {&st->str_connection_made, "connection_made"},
      {&st->str_connection_lost, "connection_lost"},
      {&st->str_pause_writing, "pause_writing"},
      {&st->str_resume_writing, "resume_writing"},
      {&st->str_close, "close"},
      {&st->str_set_result, "set_result"},
      {&st->str_set_exception, "set_exception"},
      {&st->str_call_connection_lost, "_call_connection_lost"},
      {&st->str_start_reading, "_start_reading"},
      {&st->str_error_received, "error_received"},
      {&st->str_datagram_received, "datagram_received"},
      {&st->str_peername, "peername"},
      {&st->str_send, "send"},
      {&st->str_sendto, "sendto"},
      {&st->str_recvfrom, "recvfrom"},
      {&st->str_done, "done"},
      {&st->str_add_done_callback, "add_done_callback"},
      {&st->str_transports, "_transports"},
      {&st->str_data, "data"},
      {&st->str_fileno, "fileno"},
      {&st->str_PENDING, "PENDING"},
      {&st->str_CANCELLED, "CANCELLED"},
      {&st->str_FINISHED, "FINISHED"},
      {&st->str_future, "future"},
      {&st->str_task, "task"},
      {&st->str_call_soon, "call_soon"},
      {&st->str_get_debug, "get_debug"},
      {&st->str_cancel, "cancel"},
      {&st->str_result, "result"},
      {&st->str_get_loop, "get_loop"},
      {&st->str_loop_attr, "_loop"},
      {&st->str_asyncio_future_blocking, "_asyncio_future_blocking"},
      {&st->str_throw, "throw"},
      {&st->str_is_running, "is_running"},
      {&st->str_set_name, "set_name"},
      {&st->str_eager_start, "eager_start"},
      {&st->server.str_accept, "accept"},
      {&st->server.str_accept_raw, "_accept"},
      {&st->server.str_setblocking, "setblocking"},
      {&st->server.str_socket, "socket"},
      {&st->server.str_make_socket_transport, "_make_socket_transport"},
      {&st->server.str_accept_connection2, "_accept_connection2"},
      {&st->server.str_start_serving, "_start_serving"},
      {&st->server.str_accepted_connection, "_accepted_connection"},
      {&st->server.str_call_later, "call_later"},
      {&st->server.str_create_task, "create_task"},
  };
  for (auto& name : names) {
    *name.slot = PyUnicode_InternFromString(name.text);
    if (*name.slot == nullptr) return -1;
  }
  st->loop_kwnames = PyTuple_Pack(1, st->str_loop);
  if (st->loop_kwnames == nullptr) return -1;
  st->max_datagram = PyLong_FromLong(256 * 1024);
  if (st->max_datagram == nullptr) return -1;
  st->task_kwnames = PyTuple_Pack(3, st->str_loop, st->str_name, st->str_context);
  if (st->task_kwnames == nullptr) return -1;
  st->eager_kwnames =
      PyTuple_Pack(4, st->str_loop, st->str_name, st->str_context, st->str_eager_start);
  if (st->eager_kwnames == nullptr || eager_factory_init(st) < 0) return -1;
  st->context_kwnames = PyTuple_Pack(1, st->str_context);
  Ref msg = Ref::steal(PyUnicode_InternFromString("msg"));
  st->msg_kwnames = msg ? PyTuple_Pack(1, msg.get()) : nullptr;
  if (st->context_kwnames == nullptr || st->msg_kwnames == nullptr) return -1;
  if (task_module_init(module, st) < 0 || server_state_init(st) < 0) return -1;

  // aioev._compat last, once every type is in the module: vendored, the
  // module is the top-level _aioev, and a program that imports it first
  // runs aioev/__init__ from here, which takes this partly made module as
  // aioev._aioev and imports its types (Tests/test_vendored_import.py).
  ImportSlot compat[] = {
      {&st->format_callback_source, "aioev._compat", "format_callback_source"},
      {&st->extract_stack, "aioev._compat", "extract_stack"},
      {&st->warn_slow_callback, "aioev._compat", "warn_slow_callback"},
      {&st->server_detach, "aioev._compat", "server_detach"},
      {&st->log_debug, "aioev._compat", "log_debug"},
      {&st->log_fatal_oserror, "aioev._compat", "log_fatal_oserror"},
      {&st->warn_write_after_lost, "aioev._compat", "warn_write_after_lost"},
      {&st->warn_pipe_write_after_lost, "aioev._compat", "warn_pipe_write_after_lost"},
      {&st->log_info, "aioev._compat", "log_info"},
      {&st->get_event_loop, "aioev._compat", "get_event_loop"},
  };
  return import_attrs(compat);
}

PyModuleDef_Slot module_slots[] = {
    {Py_mod_exec, reinterpret_cast<void*>(module_exec)},
#if PY_VERSION_HEX >= 0x030C0000
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
