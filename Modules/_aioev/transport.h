// What aioev's transports share (transport.cpp): the object head, the
// readiness plumbing, asyncio's closing protocol, flow control, and the
// write path of the byte-stream writers (socket and write pipe). Each
// kind of transport (socket_transport.cpp, udp.cpp, pipe.cpp) embeds TransportObject
// first and describes itself with a TransportKind.
#pragma once

#include <sys/uio.h>

#include "aioev.h"

namespace aioev {

struct TransportObject;

struct TransportKind {
  size_t (*buffer_size)(TransportObject*);  // what get_write_buffer_size() reports
  void (*clear_buffer)(TransportObject*);
  int (*on_ready)(TransportObject*, int events);  // readiness from the loop
  int (*after_lost)(TransportObject*);  // after connection_lost, or nullptr
};

// After the header come the slots of the asyncio classes a type derives
// from: asyncio.BaseTransport's `_extra`, then the four of
// asyncio.transports._FlowControlMixin (which asyncio's socket, datagram and
// write pipe transports are instances of, and stdlib code checks for). The
// C fields shadow what those slots would hold, so they stay empty; the
// layout is checked when each type is made.
struct TransportObject {
  PyObject_HEAD
  PyObject* extra;
  PyObject* flow_control_slots[4];
  LoopObject* loop;
  PyObject* file;  // the socket or pipe; nullptr once connection_lost has run
  PyObject* protocol;
  PyObject* server;
  PyObject* dict;
  PyObject* weakreflist;
  // The contexts the reading and the writing side run in: copies of the
  // current one when the transport began waiting for each (asyncio's reader
  // and writer handles copy it in add_reader / add_writer).
  PyObject* read_context;
  PyObject* write_context;
  const TransportKind* kind;
  Py_ssize_t high_water;
  Py_ssize_t low_water;
  int fd;
  int conn_lost;
  int interest;  // EV_READ | EV_WRITE asked of the loop
  bool closing;
  bool paused;
  bool protocol_paused;
  bool protocol_connected;
  bool buffered;  // the protocol is an asyncio.BufferedProtocol
};

// ---- writing a byte stream: the socket transport and the write pipe ----
//
// Both write as asyncio does: a write goes out at once when nothing waits
// before it, only what the fd does not take is copied into the write
// buffer, and the buffer is sent when the fd is writable, with flow control
// and the out-of-memory policy (transport_write_failed). One path in
// transport.cpp; where asyncio's socket transport (selector_events) and
// its write pipe (unix_events) differ, a WriteKind says.

// A transport that writes a byte stream embeds WriterObject first.
struct WriterObject {
  TransportObject base;
  PyWriteBuffer buffer;  // what the fd has not taken yet
};

inline WriterObject* as_writer(TransportObject* t) { return reinterpret_cast<WriterObject*>(t); }

// Each writer passes its own (a constant) to the write path. The flags are
// read on the hot path, a predictable branch each, so the system call is a
// direct call; the hooks are called only after an error or once the buffer
// has drained.
struct WriteKind {
  bool socket;  // send(MSG_NOSIGNAL); else write(): a write pipe may be any fd
  bool drop_while_closing;  // the pipe drops writes once closing; the socket once lost
  // The socket may resume the protocol after any send; the pipe only once
  // the buffer is empty.
  bool resume_after_each_send;
  // The pipe gives the buffer's memory back once it drains (a pipe is
  // often written once, a child's stdin); the socket keeps it for the next.
  bool release_when_drained;
  PyObject* ModuleState::*warn_after_lost;  // the warning for writes after the loss
  // A write failed with errno err (the buffer is already empty and not
  // watched): asyncio's _fatal_error for the kind.
  int (*failed)(TransportObject* t, int err);
  // The buffer has drained (and the protocol may have resumed): close or
  // shut down the write side if asked to.
  int (*drained)(TransportObject* t);
};

// write(data) once the kind's own checks of data and state have passed.
int transport_write(WriterObject* w, const WriteKind& kind, PyObject* data);
// Buffers what an immediate write did not take: the parts after their
// first `sent` bytes; watches for writability (renewing the writer's
// context with renew) and applies flow control.
int transport_buffer_rest(WriterObject* w, const struct iovec* parts, size_t count, size_t sent,
                          bool renew);
// One send from the buffer, the fd being writable.
int transport_write_ready(WriterObject* w, const WriteKind& kind);
// TransportKind's buffer_size and clear_buffer for a WriterObject.
size_t writer_buffer_size(TransportObject* t);
void writer_clear_buffer(TransportObject* t);

constexpr Py_ssize_t kDefaultHighWater = 64 * 1024;
constexpr int kLogThresholdForConnLostWrites = 5;  // asyncio's constant

inline TransportObject* as_transport(PyObject* self) {
  return reinterpret_cast<TransportObject*>(self);
}
inline PyObject* as_object(TransportObject* t) { return reinterpret_cast<PyObject*>(t); }
inline bool transport_is_reading(TransportObject* t) { return !t->closing && !t->paused; }
// A method's result for a 0 / -1 status: None (a new reference, as CPython's
// C API has methods return it) or nullptr.
inline PyObject* done(int rc) {
  if (rc < 0) return nullptr;
  Py_RETURN_NONE;
}

// Fills the common fields; -1 with an exception set.
int transport_init(TransportObject* t, const TransportKind* kind, LoopObject* loop,
                   PyObject* file, int fd, PyObject* protocol, PyObject* extra,
                   PyObject* server);
// Sets what t waits for. Only adding events can fail (-1 with MemoryError,
// nothing changed): taking them away needs no memory.
int transport_set_interest(TransportObject* t, int events);
// Adds events to what t waits for; the callbacks of each newly added one
// (or, with renew, of each one) will run in a copy of the current context.
int transport_watch(TransportObject* t, int events, bool renew = false);
Ref transport_call_protocol(TransportObject* t, PyObject* name, PyObject* arg1,
                            PyObject* arg2 = nullptr);
int transport_report(TransportObject* t, const char* message, PyObject* exc);
int transport_force_close(TransportObject* t, PyObject* exc);
int transport_fatal_error(TransportObject* t, PyObject* exc, const char* message);
// After a failed protocol call: propagate SystemExit and KeyboardInterrupt,
// report anything else and close the transport.
int transport_protocol_failed(TransportObject* t, const char* message);
// A write that could not keep its data (no memory to buffer it or to wait
// for writability), the transport's buffer as it was before the write:
// returns -1 with the error raised. If part of that data went out already
// (partial), what follows would miss a piece, so the connection is given up
// too, as after a failed send: connection_lost() gets the error.
int transport_write_failed(TransportObject* t, bool partial);
int transport_close(TransportObject* t);
int transport_call_connection_lost(TransportObject* t, PyObject* exc);
int transport_maybe_pause_protocol(TransportObject* t);
int transport_maybe_resume_protocol(TransportObject* t);
int transport_drop_write(TransportObject* t);  // a socket's write() after connection_lost
int transport_log_debug(TransportObject* t, const char* format);
// The loop argument of a transport type's constructor: an aioev loop, or
// nullptr with TypeError set.
Borrowed<LoopObject> transport_loop_arg(PyTypeObject* type, PyObject* loop);
// call_soon(owner.<name>, arg) on the transport's loop (arg may be nullptr).
int transport_call_soon(TransportObject* t, PyObject* owner, PyObject* name, PyObject* arg);
// The debug-mode log of an error asyncio does not report ("%r: %s").
int transport_log_quietly(TransportObject* t, PyObject* exc, const char* message);
// The arguments of the _fatal_error(exc, message=<fallback>) methods.
int transport_fatal_error_args(PyObject* const* args, Py_ssize_t nargs, const char* fallback,
                               PyObject** exc, const char** message);
// Schedules connection_made, reading (if read) and the waiter, as asyncio does.
int transport_start(TransportObject* t, bool read, PyObject* waiter);
// Makes the type `spec` derived from the asyncio.transports classes named
// in `bases` (e.g. "_FlowControlMixin, DatagramTransport").
Owned<PyTypeObject> transport_type_new(PyObject* module, PyType_Spec* spec, const char* bases);

// Slots and methods every transport type lists.
PyObject* transport_repr(PyObject* self);
void transport_finalize(PyObject* self);
int transport_traverse(PyObject* self, visitproc visit, void* arg);
int transport_clear(PyObject* self);
void transport_dealloc_common(PyObject* self);  // everything but the kind's own fields
int transport_init_noop(PyObject*, PyObject*, PyObject*);
extern PyMemberDef transport_members[];

// In debug mode a transport's methods that change it raise asyncio's
// RuntimeError for a call from a thread other than its running loop's, as
// the loop's own methods do (transports are not thread-safe); -1 then.
inline int transport_check_thread(TransportObject* t) {
  return load_relaxed(t->loop->debug) ? loop_check_thread(t->loop) : 0;
}

PyObject* Transport_close(PyObject* self, PyObject*);
PyObject* Transport_abort(PyObject* self, PyObject*);
PyObject* Transport_is_closing(PyObject* self, PyObject*);
PyObject* Transport_is_reading(PyObject* self, PyObject*);
PyObject* Transport_pause_reading(PyObject* self, PyObject*);
PyObject* Transport_resume_reading(PyObject* self, PyObject*);
PyObject* Transport_get_write_buffer_size(PyObject* self, PyObject*);
PyObject* Transport_get_write_buffer_limits(PyObject* self, PyObject*);
PyObject* Transport_set_write_buffer_limits(PyObject* self, PyObject* args, PyObject* kwargs);
PyObject* Transport_get_protocol(PyObject* self, PyObject*);
PyObject* Transport_set_protocol(PyObject* self, PyObject* protocol);
PyObject* Transport_force_close(PyObject* self, PyObject* exc);
PyObject* Transport_fatal_error(PyObject* self, PyObject* const* args, Py_ssize_t nargs);
PyObject* Transport_call_connection_lost(PyObject* self, PyObject* exc);
PyObject* Transport_start_reading(PyObject* self, PyObject*);

PyObject* transport_get_file(PyObject* self, void*);
int transport_set_file(PyObject* self, PyObject* value, void*);
PyObject* transport_get_fd(PyObject* self, void*);
PyObject* transport_get_loop(PyObject* self, void*);
PyObject* transport_get_protocol(PyObject* self, void*);
PyObject* transport_get_closing(PyObject* self, void*);
PyObject* transport_get_conn_lost(PyObject* self, void*);
PyObject* transport_get_server(PyObject* self, void*);
PyObject* transport_get_protocol_paused(PyObject* self, void*);

// asyncio's private attributes, read-only, for code that inspects them.
#define AIOEV_TRANSPORT_GETSET                                                   \
  {"_sock", transport_get_file, transport_set_file, nullptr, nullptr},           \
  {"_sock_fd", transport_get_fd, nullptr, nullptr, nullptr},                     \
  {"_pipe", transport_get_file, transport_set_file, nullptr, nullptr},           \
  {"_fileno", transport_get_fd, nullptr, nullptr, nullptr},                      \
  {"_loop", transport_get_loop, nullptr, nullptr, nullptr},                      \
  {"_protocol", transport_get_protocol, nullptr, nullptr, nullptr},              \
  {"_closing", transport_get_closing, nullptr, nullptr, nullptr},                \
  {"_conn_lost", transport_get_conn_lost, nullptr, nullptr, nullptr},            \
  {"_server", transport_get_server, nullptr, nullptr, nullptr},                  \
  {"_protocol_paused", transport_get_protocol_paused, nullptr, nullptr, nullptr}

// The type slots every transport type has; `methods` and `getset` are its own.
#define AIOEV_TRANSPORT_SLOTS(new_fn, dealloc, traverse, clear, repr, methods, getset, doc) \
  {Py_tp_new, reinterpret_cast<void*>(new_fn)},                                         \
  {Py_tp_init, reinterpret_cast<void*>(transport_init_noop)},                           \
  {Py_tp_dealloc, reinterpret_cast<void*>(dealloc)},                                    \
  {Py_tp_finalize, reinterpret_cast<void*>(transport_finalize)},                        \
  {Py_tp_traverse, reinterpret_cast<void*>(traverse)},                                  \
  {Py_tp_clear, reinterpret_cast<void*>(clear)},                                        \
  {Py_tp_repr, reinterpret_cast<void*>(repr)},                                          \
  {Py_tp_methods, methods},                                                             \
  {Py_tp_getset, getset},                                                               \
  {Py_tp_members, transport_members},                                                   \
  {Py_tp_doc, const_cast<char*>(doc)},                                                  \
  {0, nullptr}

#define AIOEV_CFUNC(fn) reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(fn))

// The methods of every transport, for the start of each type's method table.
#define AIOEV_TRANSPORT_METHODS                                                              \
  {"close", Transport_close, METH_NOARGS, "close($self, /)\n--\n\nClose the transport."}, \
  {"abort", Transport_abort, METH_NOARGS, "abort($self, /)\n--\n\nClose at once, dropping buffered data."}, \
  {"is_closing", Transport_is_closing, METH_NOARGS, "is_closing($self, /)\n--\n\nTrue once closing."}, \
  {"get_protocol", Transport_get_protocol, METH_NOARGS, "get_protocol($self, /)\n--\n\nThe current protocol."}, \
  {"set_protocol", Transport_set_protocol, METH_O, "set_protocol($self, protocol, /)\n--\n\nReplace the protocol."}, \
  {"get_write_buffer_size", Transport_get_write_buffer_size, METH_NOARGS, "get_write_buffer_size($self, /)\n--\n\nBuffered bytes."}, \
  {"get_write_buffer_limits", Transport_get_write_buffer_limits, METH_NOARGS, "get_write_buffer_limits($self, /)\n--\n\n(low, high)."}, \
  {"set_write_buffer_limits", AIOEV_CFUNC(Transport_set_write_buffer_limits),                \
   METH_VARARGS | METH_KEYWORDS, "set_write_buffer_limits($self, /, high=None, low=None)\n--\n\nSet the flow control marks."}, \
  {"_force_close", Transport_force_close, METH_O, "Close at once with exc."},                \
  {"_fatal_error", AIOEV_CFUNC(Transport_fatal_error), METH_FASTCALL, "Report exc, close."}, \
  {"_call_connection_lost", Transport_call_connection_lost, METH_O,                         \
   "Tell the protocol, close the file."}

// ... and the reading side, for transports that read.
#define AIOEV_READ_METHODS                                                                  \
  {"is_reading", Transport_is_reading, METH_NOARGS, "is_reading($self, /)\n--\n\nTrue while the transport reads."}, \
  {"pause_reading", Transport_pause_reading, METH_NOARGS, "pause_reading($self, /)\n--\n\nStop reading."}, \
  {"resume_reading", Transport_resume_reading, METH_NOARGS, "resume_reading($self, /)\n--\n\nResume reading."}, \
  {"_start_reading", Transport_start_reading, METH_NOARGS, "Start reading unless paused."}

}  // namespace aioev
