// The module state: everything the _aioev module owns, declared once.
//
// The lists below name the fields of ModuleState. The struct, the module's
// traverse and clear, the interned names, the kwnames tuples and the imports
// are all made from them (module.cpp), so a new field is one line here. Every
// field is a strong reference, or nullptr before the exec slot fills it (or
// where an optional object is missing). Lines are X(field, ...) entries; a
// comment in a list is /* */, since // would swallow the line's backslash.
#pragma once

#define PY_SSIZE_T_CLEAN
#include <Python.h>

// The module's heap types (PyTypeObject*), made by the exec slot (module.cpp)
// or by task_module_init (task.cpp). The pipe transports' types are not
// here: no C code reads them, and the module's dict keeps them alive.
#define AIOEV_STATE_TYPES(X)                                                  \
  X(loop_type)                                                                \
  X(handle_type)                                                              \
  X(timer_handle_type)                                                        \
  X(sock_waiter_type)   /* sock.cpp's waiter */                               \
  X(socket_transport_type) /* SocketTransport (the fd registry, io.cpp) */    \
  X(datagram_type)      /* DatagramTransport (likewise) */                    \
  X(native_future_type) /* aioev.Future (future.cpp) */                       \
  X(native_task_type)   /* aioev.Task (task.cpp) */                           \
  X(future_iter_type)                                                         \
  X(task_method_type)   /* a task's __step / __wakeup as a callable */

// X(field, module, attribute): `from module import attribute`, by the exec
// slot in this order before task_module_init, which needs asyncio.Future.
#define AIOEV_STATE_IMPORTS(X)                                                \
  X(future_type, "asyncio", "Future")                                         \
  X(task_type, "asyncio", "Task")                                             \
  X(iscoroutine, "asyncio", "iscoroutine")                                    \
  X(iscoroutinefunction, "asyncio", "iscoroutinefunction")                    \
  X(buffered_protocol_type, "asyncio", "BufferedProtocol")                    \
  X(socket_type, "socket", "socket")                                          \
  X(transport_socket_type, "asyncio.trsock", "TransportSocket")

// X(field): aioev._compat.<field>, imported last (see module_exec).
#define AIOEV_STATE_COMPAT(X)                                                 \
  X(format_callback_source)     /* (callback, args, debug) */                 \
  X(extract_stack)              /* (): the caller's stack */                  \
  X(warn_slow_callback)         /* (handle, seconds) */                       \
  X(server_detach)              /* (server, transport) */                     \
  X(log_debug)                  /* (format, *args) */                         \
  X(log_fatal_oserror)          /* (transport, message, exc) */               \
  X(warn_write_after_lost)      /* () */                                      \
  X(warn_pipe_write_after_lost) /* () */                                      \
  X(log_info)                   /* (format, *args) */                         \
  X(get_event_loop)

// X(field): objects filled by hand, where the list's shapes do not fit.
#define AIOEV_STATE_OBJECTS(X)                                                \
  /* module.cpp's exec slot */                                                \
  X(base_create_task)   /* asyncio.BaseEventLoop.create_task */               \
  X(max_datagram)       /* 256 KiB, asyncio's max_size, as an int */          \
  /* task_module_init (task.cpp): what aioev.Future and aioev.Task take */    \
  /* from asyncio */                                                          \
  X(cancelled_error)                                                          \
  X(invalid_state_error)                                                      \
  /* asyncio_private_init (asyncio_private.cpp): asyncio's private */         \
  /* internals, read only there */                                            \
  X(set_result_unless_cancelled) /* futures._set_result_unless_cancelled */   \
  X(eager_factory_code) /* create_eager_task_factory's factory, or nullptr */ \
  X(future_repr)       /* base_futures._future_repr */                        \
  X(task_repr)         /* base_tasks._task_repr */                            \
  X(task_get_stack)    /* base_tasks._task_get_stack */                       \
  X(task_print_stack)  /* base_tasks._task_print_stack */                     \
  X(current_tasks)     /* asyncio's loop -> current task dict, or nullptr */  \
  X(enter_task)        /* asyncio.tasks._enter_task and friends: used */      \
  X(leave_task)        /* where the objects behind them are missing */        \
  X(swap_current_task)                                                        \
  X(register_task)                                                            \
  X(eager_tasks)       /* asyncio's set of running eager tasks (3.12+) */     \
  X(all_tasks_data)    /* the set inside asyncio's task WeakSet, its */       \
  X(all_tasks_remove)  /* weakref callback and its pending removals */        \
  X(all_tasks_pending)                                                        \
  /* server_state_init (server.cpp): the accept loop's */                     \
  X(default_backlog)   /* 100 */                                              \
  X(member_family)     /* _socket.socket's family, type and proto */          \
  X(member_type)                                                              \
  X(member_proto)

// X(field, text): interned strings.
#define AIOEV_STATE_STRINGS(X)                                                \
  X(str_call_exception_handler, "call_exception_handler")                     \
  X(str_message, "message")                                                   \
  X(str_exception, "exception")                                               \
  X(str_handle, "handle")                                                     \
  X(str_source_traceback, "source_traceback")                                 \
  X(str_context, "context")                                                   \
  X(str_loop, "loop")                                                         \
  X(str_current_handle, "_current_handle")                                    \
  X(str_slow_callback_duration, "slow_callback_duration")                     \
  X(str_task_factory, "_task_factory")                                        \
  X(str_name, "name")                                                         \
  X(str_transport, "transport")                                               \
  X(str_protocol, "protocol")                                                 \
  X(str_data_received, "data_received")                                       \
  X(str_eof_received, "eof_received")                                         \
  X(str_get_buffer, "get_buffer")                                             \
  X(str_buffer_updated, "buffer_updated")                                     \
  X(str_connection_made, "connection_made")                                   \
  X(str_connection_lost, "connection_lost")                                   \
  X(str_pause_writing, "pause_writing")                                       \
  X(str_resume_writing, "resume_writing")                                     \
  X(str_close, "close")                                                       \
  X(str_set_result, "set_result")                                             \
  X(str_set_exception, "set_exception")                                       \
  X(str_call_connection_lost, "_call_connection_lost")                        \
  X(str_start_reading, "_start_reading")                                      \
  X(str_error_received, "error_received")                                     \
  X(str_datagram_received, "datagram_received")                               \
  X(str_peername, "peername")                                                 \
  X(str_send, "send")                                                         \
  X(str_sendto, "sendto")                                                     \
  X(str_recvfrom, "recvfrom")                                                 \
  X(str_done, "done")                                                         \
  X(str_add_done_callback, "add_done_callback")                               \
  X(str_fileno, "fileno")                                                     \
  X(str_PENDING, "PENDING")                                                   \
  X(str_CANCELLED, "CANCELLED")                                               \
  X(str_FINISHED, "FINISHED")                                                 \
  X(str_future, "future")                                                     \
  X(str_task, "task")                                                         \
  X(str_call_soon, "call_soon")                                               \
  X(str_get_debug, "get_debug")                                               \
  X(str_cancel, "cancel")                                                     \
  X(str_result, "result")                                                     \
  X(str_get_loop, "get_loop")                                                 \
  X(str_loop_attr, "_loop")                                                   \
  X(str_asyncio_future_blocking, "_asyncio_future_blocking")                  \
  X(str_throw, "throw")                                                       \
  X(str_is_running, "is_running")                                             \
  X(str_set_name, "set_name")                                                 \
  X(str_accept, "accept")                                                     \
  X(str_accept_raw, "_accept")                                                \
  X(str_setblocking, "setblocking")                                           \
  X(str_socket, "socket")                                                     \
  X(str_make_socket_transport, "_make_socket_transport")                      \
  X(str_accept_connection2, "_accept_connection2")                            \
  X(str_start_serving, "_start_serving")                                      \
  X(str_accepted_connection, "_accepted_connection")                          \
  X(str_call_later, "call_later")                                             \
  X(str_create_task, "create_task")

// X(field, text, ...): vectorcall kwnames, tuples of interned strings.
#define AIOEV_STATE_KWNAMES(X)                                                \
  X(loop_kwnames, "loop")                                                     \
  X(context_kwnames, "context")                                               \
  X(msg_kwnames, "msg")                                                       \
  X(task_kwnames, "loop", "name", "context")                                  \
  X(eager_kwnames, "loop", "name", "context", "eager_start")                  \
  X(transport_kwnames, "extra", "server")

// Every PyObject* field of the lists above (the types apart), as
// ONE(field) for the one-name lists and MANY(field, ...) for the others.
#define AIOEV_STATE_OBJECT_FIELDS(ONE, MANY)                                  \
  AIOEV_STATE_IMPORTS(MANY)                                                   \
  AIOEV_STATE_COMPAT(ONE)                                                     \
  AIOEV_STATE_OBJECTS(ONE)                                                    \
  AIOEV_STATE_STRINGS(MANY)                                                   \
  AIOEV_STATE_KWNAMES(MANY)

namespace aioev {

// Everything the module owns, filled once by the exec slot (module.cpp).
struct ModuleState {
#define AIOEV_TYPE_FIELD(field) PyTypeObject* field;
#define AIOEV_OBJECT_FIELD(field) PyObject* field;
#define AIOEV_OBJECT_FIELD_MANY(field, ...) PyObject* field;
  AIOEV_STATE_TYPES(AIOEV_TYPE_FIELD)
  AIOEV_STATE_OBJECT_FIELDS(AIOEV_OBJECT_FIELD, AIOEV_OBJECT_FIELD_MANY)
#undef AIOEV_TYPE_FIELD
#undef AIOEV_OBJECT_FIELD
#undef AIOEV_OBJECT_FIELD_MANY

  unsigned long long task_name_counter;  // atomic: tasks are named in every thread
};

extern PyModuleDef module_def;
ModuleState* module_state(PyObject* module);

}  // namespace aioev
