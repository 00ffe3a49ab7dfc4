// ReadPipeTransport and WritePipeTransport: asyncio's Unix pipe transports
// (pipes, FIFOs, character devices and sockets), for connect_read_pipe,
// connect_write_pipe and subprocess stdio. Their closing rules are the Unix
// pipe transports' own, which differ from the socket transports'.
#include "transport.h"

#include <errno.h>
#include <unistd.h>

#include <new>

namespace aioev {

namespace {

// The pipe transports' _close(exc): stop watching, then connection_lost soon.
int pipe_close(TransportObject* t, PyObject* exc) {
  t->closing = true;
  t->kind->clear_buffer(t);
  transport_set_interest(t, 0);
  return transport_call_soon(t, as_object(t), t->loop->state->str_call_connection_lost,
                             exc ? exc : Py_None);
}

// The pipe transports' _fatal_error: quiet (a debug log) for `quiet`
// errors, the exception handler for the rest; then _close(exc).
int pipe_fatal_error(TransportObject* t, PyObject* exc, const char* message, bool quiet) {
  if (quiet) {
    if (transport_log_quietly(t, exc, message) < 0) return -1;
  } else if (transport_report(t, message, exc) < 0) {
    return -1;
  }
  return pipe_close(t, exc);
}

int log_closed_by_peer(TransportObject* t) {
  if (!t->loop->debug) return 0;
  Ref logged = Ref::steal(PyObject_CallFunction(t->loop->state->log_info, "sO",
                                                "%r was closed by peer", as_object(t)));
  return logged ? 0 : -1;
}

// ---- the read pipe ----

int read_pipe_ready(TransportObject* t, int) {
  LoopObject* loop = t->loop;
  char* buffer = loop_read_buffer(loop);
  if (buffer == nullptr) return -1;
  ssize_t n = retry_eintr([&] { return read(t->fd, buffer, kReadBufferSize); });
  if (n < 0) {
    int err = errno;
    if (n == kSignalRaised) return -1;
    if (would_block(err)) return 0;
    Ref exc = os_error(err);
    if (!exc) return -1;
    return pipe_fatal_error(t, exc.get(), "Fatal read error on pipe transport", err == EIO);
  }
  ModuleState* st = loop->state;
  if (n > 0) {
    Py_ssize_t capacity;
    Ref data = loop_copy_read_bytes(loop, buffer, n, &capacity);
    if (!data) return -1;
    // As in asyncio, an exception from data_received escapes the callback.
    Ref result = transport_call_protocol(t, st->str_data_received, data.get());
    if (capacity > 0) loop_recycle_read_bytes(loop, std::move(data), capacity);
    return result ? 0 : -1;
  }
  if (log_closed_by_peer(t) < 0) return -1;
  t->closing = true;
  transport_set_interest(t, 0);
  if (transport_call_soon(t, t->protocol, st->str_eof_received, nullptr) < 0) return -1;
  return transport_call_soon(t, as_object(t), st->str_call_connection_lost, Py_None);
}

size_t no_buffer(TransportObject*) { return 0; }
void no_clear(TransportObject*) {}

const TransportKind kReadPipeKind = {no_buffer, no_clear, read_pipe_ready, nullptr};

PyObject* ReadPipe_close(PyObject* self, PyObject*) {
  TransportObject* t = as_transport(self);
  if (transport_check_thread(t) < 0) return nullptr;
  if (t->closing) Py_RETURN_NONE;
  return done(pipe_close(t, nullptr));
}

constexpr const char* kPipeFatalError = "Fatal error on pipe transport";

PyObject* ReadPipe_fatal_error(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
  PyObject* exc;
  const char* message;
  if (transport_fatal_error_args(args, nargs, kPipeFatalError, &exc, &message) < 0) return nullptr;
  bool quiet = false;
  if (is_os_error(exc)) {
    Ref err = Ref::steal(PyObject_GetAttrString(exc, "errno"));
    if (!err) return nullptr;
    quiet = PyLong_Check(err.get()) && PyLong_AsLong(err.get()) == EIO;
  }
  return done(pipe_fatal_error(as_transport(self), exc, message, quiet));
}

// ---- the write pipe: transport.cpp's write path, with the pipe's rules ----

int write_failed(TransportObject* t, int err) {
  t->conn_lost++;
  Ref exc = os_error(err);
  if (!exc) return -1;
  return pipe_fatal_error(t, exc.get(), "Fatal write error on pipe transport", true);
}

// Drained after write_eof() or close(): the pipe is closed now.
int drained(TransportObject* t) {
  if (!t->closing) return 0;
  transport_set_interest(t, t->interest & ~EV_READ);
  return transport_call_connection_lost(t, Py_None);
}

const WriteKind kPipeWrites = {
    false,  // socket: write(), which any fd takes
    true,   // drop_while_closing: closing is the pipe's write_eof()
    false,  // resume_after_each_send: only once drained
    true,   // release_when_drained
    &ModuleState::warn_pipe_write_after_lost,
    write_failed,
    drained,
};

int write_pipe_ready(TransportObject* t, int events) {
  if (events & EV_READ) {
    // A write pipe is readable only once its reader has gone.
    if (log_closed_by_peer(t) < 0) return -1;
    if (as_writer(t)->buffer.empty()) return pipe_close(t, nullptr);
    Ref broken = Ref::steal(PyObject_CallNoArgs(PyExc_BrokenPipeError));
    return broken ? pipe_close(t, broken.get()) : -1;
  }
  return transport_write_ready(as_writer(t), kPipeWrites);
}

const TransportKind kWritePipeKind = {writer_buffer_size, writer_clear_buffer, write_pipe_ready,
                                      nullptr};

PyObject* WritePipe_write(PyObject* self, PyObject* data) {
  TransportObject* t = as_transport(self);
  if (transport_check_thread(t) < 0) return nullptr;
  if (!PyBytes_Check(data) && !PyByteArray_Check(data) && !PyMemoryView_Check(data)) {
    // asyncio asserts the type here.
    Ref text = Ref::steal(PyObject_Repr(data));
    if (text) PyErr_SetObject(PyExc_AssertionError, text.get());
    return nullptr;
  }
  return done(transport_write(as_writer(t), kPipeWrites, data));
}

int write_pipe_eof(TransportObject* t) {
  if (t->closing) return 0;
  t->closing = true;
  if (!as_writer(t)->buffer.empty()) return 0;
  transport_set_interest(t, t->interest & ~EV_READ);
  return transport_call_soon(t, as_object(t), t->loop->state->str_call_connection_lost, Py_None);
}

PyObject* WritePipe_write_eof(PyObject* self, PyObject*) {
  TransportObject* t = as_transport(self);
  if (transport_check_thread(t) < 0) return nullptr;
  return done(write_pipe_eof(t));
}

PyObject* WritePipe_can_write_eof(PyObject*, PyObject*) { Py_RETURN_TRUE; }

PyObject* WritePipe_close(PyObject* self, PyObject*) {
  TransportObject* t = as_transport(self);
  if (transport_check_thread(t) < 0) return nullptr;
  if (t->file == nullptr || t->closing) Py_RETURN_NONE;
  return done(write_pipe_eof(t));  // write_eof is all a write pipe needs to close
}

PyObject* WritePipe_abort(PyObject* self, PyObject*) {
  TransportObject* t = as_transport(self);
  if (transport_check_thread(t) < 0) return nullptr;
  return done(pipe_close(t, nullptr));
}

PyObject* WritePipe_fatal_error(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
  PyObject* exc;
  const char* message;
  if (transport_fatal_error_args(args, nargs, kPipeFatalError, &exc, &message) < 0) return nullptr;
  return done(pipe_fatal_error(as_transport(self), exc, message, is_os_error(exc)));
}

PyObject* Pipe_close_now(PyObject* self, PyObject* exc) {
  return done(pipe_close(as_transport(self), exc == Py_None ? nullptr : exc));
}

// _start(waiter, watch): connection_made, then (if watch) the watcher that
// reads (a read pipe) or notices the reader leave (a write pipe), then the
// waiter, each in its own call_soon.
PyObject* Pipe_start(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
  if (nargs != 2) {
    PyErr_SetString(PyExc_TypeError, "_start(waiter, watch)");
    return nullptr;
  }
  int watch = PyObject_IsTrue(args[1]);
  if (watch < 0) return nullptr;
  return done(transport_start(as_transport(self), watch, args[0]));
}

PyObject* WritePipe_start_watching(PyObject* self, PyObject*) {
  TransportObject* t = as_transport(self);
  if (t->file != nullptr) return done(transport_watch(t, EV_READ));
  Py_RETURN_NONE;
}

// asyncio's pipe transport repr: the state, the fd, then whether the loop
// polls it (a write pipe adds its buffer size) or, once the loop is closed,
// just "open".
PyObject* pipe_repr(PyObject* self) {
  TransportObject* t = as_transport(self);
  const char* name = _PyType_Name(Py_TYPE(self));
  const char* state = t->file == nullptr ? " closed" : (t->closing ? " closing" : "");
  if (t->file == nullptr) return PyUnicode_FromFormat("<%s%s fd=%d closed>", name, state, t->fd);
  if (t->loop->closed) return PyUnicode_FromFormat("<%s%s fd=%d open>", name, state, t->fd);
  if (t->kind == &kReadPipeKind) {
    return PyUnicode_FromFormat("<%s%s fd=%d %s>", name, state, t->fd,
                                (t->interest & EV_READ) ? "polling" : "idle");
  }
  return PyUnicode_FromFormat("<%s%s fd=%d %s bufsize=%zu>", name, state, t->fd,
                              (t->interest & EV_WRITE) ? "polling" : "idle",
                              t->kind->buffer_size(t));
}

// ---- the types ----

PyObject* pipe_new(PyTypeObject* type, PyObject* args, PyObject* kwargs,
                   const TransportKind* kind) {
  PyObject *loop, *pipe, *protocol, *extra;
  static const char* keywords[] = {"loop", "pipe", "protocol", "extra", nullptr};
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOOO!:PipeTransport",
                                   const_cast<char**>(keywords), &loop, &pipe, &protocol,
                                   &PyDict_Type, &extra)) {
    return nullptr;
  }
  if (transport_loop_arg(type, loop) == nullptr) return nullptr;
  int fd = PyObject_AsFileDescriptor(pipe);
  if (fd < 0) return nullptr;
  TransportObject* t = reinterpret_cast<TransportObject*>(type->tp_alloc(type, 0));
  if (t == nullptr) return nullptr;
  if (kind == &kWritePipeKind) new (&as_writer(t)->buffer) PyWriteBuffer();
  if (transport_init(t, kind, reinterpret_cast<LoopObject*>(loop), pipe, fd, protocol, extra,
                     Py_None) < 0) {
    Py_DECREF(t);
    return nullptr;
  }
  return as_object(t);
}

PyObject* ReadPipe_new(PyTypeObject* type, PyObject* args, PyObject* kwargs) {
  return pipe_new(type, args, kwargs, &kReadPipeKind);
}

PyObject* WritePipe_new(PyTypeObject* type, PyObject* args, PyObject* kwargs) {
  return pipe_new(type, args, kwargs, &kWritePipeKind);
}

void pipe_dealloc(PyObject* self) {
  PyTypeObject* type = Py_TYPE(self);
  // Finalize while still tracked: a resurrecting finalizer needs a live, tracked object.
  if (PyObject_CallFinalizerFromDealloc(self) < 0) return;  // resurrected
  PyObject_GC_UnTrack(self);
  TransportObject* t = as_transport(self);
  bool write_pipe = t->kind == &kWritePipeKind;
  transport_dealloc_common(self);
  if (write_pipe) as_writer(t)->buffer.~PyWriteBuffer();
  type->tp_free(self);
  Py_DECREF(type);
}

#define PIPE_COMMON_METHODS                                                             \
  {"is_closing", Transport_is_closing, METH_NOARGS, "is_closing($self, /)\n--\n\nTrue once closing."}, \
  {"get_protocol", Transport_get_protocol, METH_NOARGS, "get_protocol($self, /)\n--\n\nThe current protocol."}, \
  {"set_protocol", Transport_set_protocol, METH_O, "set_protocol($self, protocol, /)\n--\n\nReplace the protocol."}, \
  {"_close", Pipe_close_now, METH_O, "Close now; connection_lost(exc) soon."},          \
  {"_call_connection_lost", Transport_call_connection_lost, METH_O,                     \
   "Tell the protocol, close the pipe."},                                              \
  {"_start", AIOEV_CFUNC(Pipe_start), METH_FASTCALL, "Schedule connection_made etc."}

PyMethodDef read_pipe_methods[] = {
    PIPE_COMMON_METHODS,
    AIOEV_READ_METHODS,
    {"close", ReadPipe_close, METH_NOARGS, "close($self, /)\n--\n\nClose the transport."},
    {"_fatal_error", AIOEV_CFUNC(ReadPipe_fatal_error), METH_FASTCALL, "Report exc and close."},
    {nullptr, nullptr, 0, nullptr},
};

PyMethodDef write_pipe_methods[] = {
    PIPE_COMMON_METHODS,
    {"write", WritePipe_write, METH_O, "write($self, data, /)\n--\n\nWrite bytes, buffering what the pipe does not take."},
    {"write_eof", WritePipe_write_eof, METH_NOARGS, "write_eof($self, /)\n--\n\nClose once the buffer is written."},
    {"can_write_eof", WritePipe_can_write_eof, METH_NOARGS, "can_write_eof($self, /)\n--\n\nTrue."},
    {"close", WritePipe_close, METH_NOARGS, "close($self, /)\n--\n\nClose once the buffer is written."},
    {"abort", WritePipe_abort, METH_NOARGS, "abort($self, /)\n--\n\nClose at once, dropping buffered data."},
    {"get_write_buffer_size", Transport_get_write_buffer_size, METH_NOARGS, "get_write_buffer_size($self, /)\n--\n\nBuffered bytes."},
    {"get_write_buffer_limits", Transport_get_write_buffer_limits, METH_NOARGS, "get_write_buffer_limits($self, /)\n--\n\n(low, high)."},
    {"set_write_buffer_limits", AIOEV_CFUNC(Transport_set_write_buffer_limits),
     METH_VARARGS | METH_KEYWORDS, "set_write_buffer_limits($self, /, high=None, low=None)\n--\n\nSet the flow control marks."},
    {"_fatal_error", AIOEV_CFUNC(WritePipe_fatal_error), METH_FASTCALL, "Report exc and close."},
    {"_start_reading", WritePipe_start_watching, METH_NOARGS, "Watch for the reader leaving."},
    {nullptr, nullptr, 0, nullptr},
};

#undef PIPE_COMMON_METHODS

PyGetSetDef pipe_getset[] = {
    AIOEV_TRANSPORT_GETSET,
    {nullptr, nullptr, nullptr, nullptr, nullptr},
};

PyType_Slot read_pipe_slots[] = {
    AIOEV_TRANSPORT_SLOTS(ReadPipe_new, pipe_dealloc, transport_traverse, transport_clear,
                          pipe_repr, read_pipe_methods, pipe_getset,
                          "asyncio's read pipe transport."),
};

PyType_Slot write_pipe_slots[] = {
    AIOEV_TRANSPORT_SLOTS(WritePipe_new, pipe_dealloc, transport_traverse, transport_clear,
                          pipe_repr, write_pipe_methods, pipe_getset,
                          "asyncio's write pipe transport."),
};

PyType_Spec read_pipe_spec = {
    "aioev._aioev.ReadPipeTransport", static_cast<int>(sizeof(TransportObject)), 0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC, read_pipe_slots,
};

PyType_Spec write_pipe_spec = {
    "aioev._aioev.WritePipeTransport", static_cast<int>(sizeof(WriterObject)), 0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC, write_pipe_slots,
};

}  // namespace

Owned<PyTypeObject> read_pipe_type_new(PyObject* module) {
  return transport_type_new(module, &read_pipe_spec, "ReadTransport");
}

Owned<PyTypeObject> write_pipe_type_new(PyObject* module) {
  return transport_type_new(module, &write_pipe_spec, "_FlowControlMixin, WriteTransport");
}

}  // namespace aioev
