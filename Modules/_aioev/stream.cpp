// SocketTransport: asyncio's socket transport (TCP and Unix streams) in C++.
//
// Readiness comes from the loop's fd table: the transport tells the loop
// which events it waits for, libev's callback queues the transport itself on
// the ready queue, and the run loop calls stream_run_queued() in the
// callback phase, where asyncio would run the transport's reader and writer
// handles. Reads go into the loop's shared buffer (or straight into a
// BufferedProtocol's buffer); writes go out at once when the socket takes
// them and only the rest is copied into the write buffer.
#include "aioev.h"

#include <errno.h>
#include <limits.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <vector>

namespace aioev {

namespace {

constexpr size_t kMaxRead = 256 * 1024;  // asyncio's max_size
constexpr Py_ssize_t kDefaultHighWater = 64 * 1024;
constexpr int kLogThresholdForConnLostWrites = 5;  // asyncio's constant

StreamObject* as_stream(PyObject* self) { return reinterpret_cast<StreamObject*>(self); }
PyObject* as_object(StreamObject* t) { return reinterpret_cast<PyObject*>(t); }
ModuleState* state_of(StreamObject* t) { return t->loop->state; }

bool would_block(int err) { return err == EAGAIN || err == EWOULDBLOCK || err == EINTR; }

// Tells the loop which events the transport waits for now.
void apply_interest(StreamObject* t) {
  LoopObject* loop = t->loop;
  if (loop == nullptr || loop->closed || t->fd < 0) return;
  io_set_transport_interest(loop, t->fd, as_object(t), t->interest);
}

void set_interest(StreamObject* t, int events) {
  if (t->interest == events) return;
  t->interest = events;
  apply_interest(t);
}

// protocol.<name>(*args): a new reference, or nullptr with an exception set.
Ref call_protocol(StreamObject* t, PyObject* name, PyObject* arg) {
  PyObject* args[2] = {t->protocol, arg};
  size_t nargs = (arg ? 2 : 1) | PY_VECTORCALL_ARGUMENTS_OFFSET;
  return Ref::steal(PyObject_VectorcallMethod(name, args, nargs, nullptr));
}

bool must_propagate() {
  return PyErr_ExceptionMatches(PyExc_SystemExit) ||
         PyErr_ExceptionMatches(PyExc_KeyboardInterrupt);
}

Ref fetch_exception() {
  PyObject *type, *value, *tb;
  PyErr_Fetch(&type, &value, &tb);
  PyErr_NormalizeException(&type, &value, &tb);
  if (tb != nullptr && value != nullptr) PyException_SetTraceback(value, tb);
  Py_XDECREF(type);
  Py_XDECREF(tb);
  return Ref::steal(value);
}

// loop.call_exception_handler({'message', 'exception', 'transport', 'protocol'}).
int report(StreamObject* t, const char* message, PyObject* exc) {
  ModuleState* st = state_of(t);
  Ref context = Ref::steal(PyDict_New());
  Ref text = Ref::steal(PyUnicode_FromString(message));
  if (!context || !text) return -1;
  if (PyDict_SetItem(context.get(), st->str_message, text.get()) < 0 ||
      PyDict_SetItem(context.get(), st->str_exception, exc) < 0 ||
      PyDict_SetItem(context.get(), st->str_transport, as_object(t)) < 0 ||
      PyDict_SetItem(context.get(), st->str_protocol, t->protocol ? t->protocol : Py_None) < 0) {
    return -1;
  }
  Ref result = Ref::steal(PyObject_CallMethodOneArg(reinterpret_cast<PyObject*>(t->loop),
                                                    st->str_call_exception_handler,
                                                    context.get()));
  return result ? 0 : -1;
}

// Schedules self._call_connection_lost(exc) with call_soon.
int schedule_connection_lost(StreamObject* t, PyObject* exc) {
  ModuleState* st = state_of(t);
  Ref method = Ref::steal(PyObject_GetAttr(as_object(t), st->str_call_connection_lost));
  if (!method) return -1;
  PyObject* args[] = {exc ? exc : Py_None};
  HandleObject* h = handle_new(t->loop, false, method.get(), args, 1, nullptr);
  if (h == nullptr) return -1;
  int rc = loop_push_ready(t->loop, reinterpret_cast<PyObject*>(h));
  Py_DECREF(h);
  return rc;
}

int force_close(StreamObject* t, PyObject* exc) {
  if (t->conn_lost) return 0;
  int interest = t->interest;
  if (!t->buffer.empty()) {
    t->buffer.clear();
    interest &= ~EV_WRITE;
  }
  if (!t->closing) {
    t->closing = true;
    interest &= ~EV_READ;
  }
  set_interest(t, interest);
  t->conn_lost++;
  return schedule_connection_lost(t, exc);
}

// asyncio's _fatal_error: OSError is only logged in debug mode, anything
// else goes to the exception handler; either way the transport closes.
int fatal_error(StreamObject* t, PyObject* exc, const char* message) {
  if (PyObject_TypeCheck(exc, reinterpret_cast<PyTypeObject*>(PyExc_OSError))) {
    if (t->loop->debug) {
      Ref text = Ref::steal(PyUnicode_FromString(message));
      if (!text) return -1;
      Ref logged = Ref::steal(PyObject_CallFunctionObjArgs(
          state_of(t)->log_fatal_oserror, as_object(t), text.get(), exc, nullptr));
      if (!logged) return -1;
    }
  } else if (report(t, message, exc) < 0) {
    return -1;
  }
  return force_close(t, exc);
}

// After a failed protocol call: propagate SystemExit and KeyboardInterrupt,
// close the transport on anything else.
int protocol_failed(StreamObject* t, const char* message) {
  if (must_propagate()) return -1;
  Ref exc = fetch_exception();
  return fatal_error(t, exc.get(), message);
}

int os_error_failed(StreamObject* t, int err, const char* message) {
  errno = err;
  PyErr_SetFromErrno(PyExc_OSError);
  Ref exc = fetch_exception();
  return fatal_error(t, exc.get(), message);
}

int log_debug(StreamObject* t, const char* format) {
  Ref text = Ref::steal(PyUnicode_FromString(format));
  if (!text) return -1;
  Ref logged = Ref::steal(
      PyObject_CallFunctionObjArgs(state_of(t)->log_debug, text.get(), as_object(t), nullptr));
  return logged ? 0 : -1;
}

int close_transport(StreamObject* t) {
  if (t->closing) return 0;
  t->closing = true;
  int interest = t->interest & ~EV_READ;
  if (t->buffer.empty()) {
    t->conn_lost++;
    set_interest(t, interest & ~EV_WRITE);
    return schedule_connection_lost(t, nullptr);
  }
  set_interest(t, interest);
  return 0;
}

int maybe_pause_protocol(StreamObject* t) {
  if (static_cast<Py_ssize_t>(t->buffer.size()) <= t->high_water || t->protocol_paused) {
    return 0;
  }
  t->protocol_paused = true;
  Ref result = call_protocol(t, state_of(t)->str_pause_writing, nullptr);
  if (result) return 0;
  if (must_propagate()) return -1;
  Ref exc = fetch_exception();
  return report(t, "protocol.pause_writing() failed", exc.get());
}

int maybe_resume_protocol(StreamObject* t) {
  if (!t->protocol_paused || static_cast<Py_ssize_t>(t->buffer.size()) > t->low_water) {
    return 0;
  }
  t->protocol_paused = false;
  Ref result = call_protocol(t, state_of(t)->str_resume_writing, nullptr);
  if (result) return 0;
  if (must_propagate()) return -1;
  Ref exc = fetch_exception();
  return report(t, "protocol.resume_writing() failed", exc.get());
}

int shutdown_write(StreamObject* t) {
  if (shutdown(t->fd, SHUT_WR) < 0) {
    PyErr_SetFromErrno(PyExc_OSError);
    return -1;
  }
  return 0;
}

int settle_waiter(StreamObject* t, PyObject* method, PyObject* value) {
  if (t->empty_waiter == nullptr) return 0;
  Ref result = Ref::steal(PyObject_CallMethodOneArg(t->empty_waiter, method, value));
  return result ? 0 : -1;
}

// ---- readiness ----

int on_eof(StreamObject* t) {
  if (t->loop->debug && log_debug(t, "%r received EOF") < 0) return -1;
  Ref keep = call_protocol(t, state_of(t)->str_eof_received, nullptr);
  if (!keep) return protocol_failed(t, "Fatal error: protocol.eof_received() call failed.");
  int keep_open = PyObject_IsTrue(keep.get());
  if (keep_open < 0) return protocol_failed(t, "Fatal error: protocol.eof_received() call failed.");
  if (keep_open) {
    // The protocol may still write; there is nothing more to read.
    set_interest(t, t->interest & ~EV_READ);
    return 0;
  }
  return close_transport(t);
}

int read_into_protocol_buffer(StreamObject* t) {
  ModuleState* st = state_of(t);
  Ref minus_one = Ref::steal(PyLong_FromLong(-1));
  if (!minus_one) return -1;
  Ref buffer = call_protocol(t, st->str_get_buffer, minus_one.get());
  const char* get_buffer_failed = "Fatal error: protocol.get_buffer() call failed.";
  if (!buffer) return protocol_failed(t, get_buffer_failed);
  Py_buffer view;
  if (PyObject_GetBuffer(buffer.get(), &view, PyBUF_WRITABLE) < 0) {
    return protocol_failed(t, "Fatal read error on socket transport");
  }
  if (view.len == 0) {
    PyBuffer_Release(&view);
    PyErr_SetString(PyExc_RuntimeError, "get_buffer() returned an empty buffer");
    return protocol_failed(t, get_buffer_failed);
  }
  ssize_t n = recv(t->fd, view.buf, view.len, 0);
  int err = errno;
  PyBuffer_Release(&view);
  if (n < 0) {
    if (would_block(err)) return 0;
    return os_error_failed(t, err, "Fatal read error on socket transport");
  }
  if (n == 0) return on_eof(t);
  Ref nbytes = Ref::steal(PyLong_FromSsize_t(n));
  if (!nbytes) return -1;
  Ref result = call_protocol(t, st->str_buffer_updated, nbytes.get());
  if (!result) return protocol_failed(t, "Fatal error: protocol.buffer_updated() call failed.");
  return 0;
}

int read_ready(StreamObject* t) {
  if (t->conn_lost) return 0;
  if (t->buffered) return read_into_protocol_buffer(t);
  LoopObject* loop = t->loop;
  if (loop->read_buffer == nullptr) {
    loop->read_buffer = static_cast<char*>(PyMem_RawMalloc(kMaxRead));
    if (loop->read_buffer == nullptr) {
      PyErr_NoMemory();
      return -1;
    }
  }
  ssize_t n = recv(t->fd, loop->read_buffer, kMaxRead, 0);
  if (n < 0) {
    if (would_block(errno)) return 0;
    return os_error_failed(t, errno, "Fatal read error on socket transport");
  }
  if (n == 0) return on_eof(t);
  Ref data = Ref::steal(PyBytes_FromStringAndSize(loop->read_buffer, n));
  if (!data) return -1;
  Ref result = call_protocol(t, state_of(t)->str_data_received, data.get());
  if (!result) return protocol_failed(t, "Fatal error: protocol.data_received() call failed.");
  return 0;
}

int call_connection_lost(StreamObject* t, PyObject* exc);

int write_ready(StreamObject* t) {
  if (t->conn_lost || t->buffer.empty()) return 0;
  ModuleState* st = state_of(t);
  ssize_t n = send(t->fd, t->buffer.data(), t->buffer.size(), MSG_NOSIGNAL);
  if (n < 0) {
    int err = errno;
    if (would_block(err)) return 0;
    set_interest(t, t->interest & ~EV_WRITE);
    t->buffer.clear();
    errno = err;
    PyErr_SetFromErrno(PyExc_OSError);
    Ref exc = fetch_exception();
    if (fatal_error(t, exc.get(), "Fatal write error on socket transport") < 0) return -1;
    return settle_waiter(t, st->str_set_exception, exc.get());
  }
  t->buffer.consume(static_cast<size_t>(n));
  if (maybe_resume_protocol(t) < 0) return -1;  // may write more
  if (!t->buffer.empty()) return 0;
  set_interest(t, t->interest & ~EV_WRITE);
  if (settle_waiter(t, st->str_set_result, Py_None) < 0) return -1;
  if (t->closing) return call_connection_lost(t, Py_None);
  if (t->eof) return shutdown_write(t);
  return 0;
}

// An error from the transport's own work (not the protocol's): reported as
// asyncio reports an exception escaping a callback.
int report_callback_error(StreamObject* t) {
  if (must_propagate()) return -1;
  Ref exc = fetch_exception();
  Ref message = Ref::steal(PyUnicode_FromFormat("Exception in callback %R", as_object(t)));
  if (!message) return -1;
  return report(t, PyUnicode_AsUTF8(message.get()), exc.get());
}

// ---- the transport's lifetime ----

int call_connection_lost(StreamObject* t, PyObject* exc) {
  if (t->sock == nullptr) return 0;
  ModuleState* st = state_of(t);
  Ref result = Ref::borrow(Py_None);
  if (t->protocol_connected && t->protocol != nullptr) {
    result = call_protocol(t, st->str_connection_lost, exc ? exc : Py_None);
  }
  // Whatever connection_lost did: stop watching, then close the socket.
  PyObject *type, *value, *tb;
  PyErr_Fetch(&type, &value, &tb);
  set_interest(t, 0);
  Ref sock = Ref::steal(t->sock);
  t->sock = nullptr;
  t->fd = -1;
  Ref closed = Ref::steal(PyObject_CallMethodNoArgs(sock.get(), st->str_close));
  if (!closed) PyErr_WriteUnraisable(sock.get());
  Py_CLEAR(t->protocol);
  if (t->server != nullptr) {
    Ref server = Ref::steal(t->server);
    t->server = nullptr;
    Ref detached = Ref::steal(
        PyObject_CallFunctionObjArgs(st->server_detach, server.get(), as_object(t), nullptr));
    if (!detached) PyErr_WriteUnraisable(server.get());
  }
  PyErr_Restore(type, value, tb);
  if (!result) return -1;
  if (t->empty_waiter != nullptr) {
    Ref error = Ref::steal(PyObject_CallFunction(PyExc_ConnectionError, "s",
                                                 "Connection is closed by peer"));
    if (!error) return -1;
    return settle_waiter(t, st->str_set_exception, error.get());
  }
  return 0;
}

// ---- Python methods ----

PyObject* done(int rc) {
  if (rc < 0) return nullptr;
  Py_RETURN_NONE;
}

// write() and writelines() after the connection was lost: dropped, and
// logged once it has happened a few times, as asyncio does.
int drop_write(StreamObject* t) {
  if (t->conn_lost >= kLogThresholdForConnLostWrites) {
    Ref warned = Ref::steal(PyObject_CallNoArgs(state_of(t)->warn_write_after_lost));
    if (!warned) return -1;
  }
  t->conn_lost++;
  return 0;
}

int check_writable(StreamObject* t, const char* method) {
  if (t->eof) {
    PyErr_Format(PyExc_RuntimeError, "Cannot call %s() after write_eof()", method);
    return -1;
  }
  if (t->empty_waiter != nullptr) {
    PyErr_Format(PyExc_RuntimeError, "unable to %s; sendfile is in progress", method);
    return -1;
  }
  return 0;
}

// Queues what the socket did not take; the writer is registered by the caller.
int buffer_rest(StreamObject* t, const char* bytes, size_t n) {
  if (!t->buffer.append(bytes, n)) {
    PyErr_NoMemory();
    return -1;
  }
  return 0;
}

PyObject* Stream_write(PyObject* self, PyObject* data) {
  StreamObject* t = as_stream(self);
  if (!PyBytes_Check(data) && !PyByteArray_Check(data) && !PyMemoryView_Check(data)) {
    PyErr_Format(PyExc_TypeError, "data argument must be a bytes-like object, not '%s'",
                 _PyType_Name(Py_TYPE(data)));
    return nullptr;
  }
  if (check_writable(t, "write") < 0) return nullptr;
  Py_buffer view;
  if (PyObject_GetBuffer(data, &view, PyBUF_SIMPLE) < 0) return nullptr;
  int rc = 0;
  const char* bytes = static_cast<const char*>(view.buf);
  size_t len = static_cast<size_t>(view.len);
  if (len == 0) {
    rc = 0;
  } else if (t->conn_lost) {
    rc = drop_write(t);
  } else {
    if (t->buffer.empty()) {
      ssize_t n = send(t->fd, bytes, len, MSG_NOSIGNAL);
      if (n < 0) {
        if (!would_block(errno)) {
          int err = errno;
          PyBuffer_Release(&view);
          return done(os_error_failed(t, err, "Fatal write error on socket transport"));
        }
        n = 0;
      }
      bytes += n;
      len -= static_cast<size_t>(n);
      if (len > 0) set_interest(t, t->interest | EV_WRITE);
    }
    if (len > 0) {
      rc = buffer_rest(t, bytes, len);
      if (rc == 0) rc = maybe_pause_protocol(t);
    }
  }
  PyBuffer_Release(&view);
  return done(rc);
}

PyObject* Stream_writelines(PyObject* self, PyObject* list_of_data) {
  StreamObject* t = as_stream(self);
  if (check_writable(t, "writelines") < 0) return nullptr;
  Ref items = Ref::steal(PySequence_Fast(list_of_data, "writelines() argument must be iterable"));
  if (!items) return nullptr;
  Py_ssize_t count = PySequence_Fast_GET_SIZE(items.get());
  if (count == 0) Py_RETURN_NONE;
  std::vector<Py_buffer> views;
  views.reserve(count);
  int rc = 0;
  for (Py_ssize_t i = 0; i < count && rc == 0; ++i) {
    Py_buffer view;
    if (PyObject_GetBuffer(PySequence_Fast_GET_ITEM(items.get(), i), &view, PyBUF_SIMPLE) < 0) {
      rc = -1;
    } else {
      views.push_back(view);
    }
  }
  if (rc == 0 && t->conn_lost) {
    rc = drop_write(t);
  } else if (rc == 0) {
    size_t skip = 0;  // bytes the socket took at once
    if (t->buffer.empty()) {
      std::vector<struct iovec> iov;
      for (Py_buffer& v : views) {
        if (v.len > 0 && iov.size() < IOV_MAX) iov.push_back({v.buf, static_cast<size_t>(v.len)});
      }
      if (!iov.empty()) {
        struct msghdr msg = {};
        msg.msg_iov = iov.data();
        msg.msg_iovlen = iov.size();
        ssize_t n = sendmsg(t->fd, &msg, MSG_NOSIGNAL);
        if (n < 0 && !would_block(errno)) {
          int err = errno;
          for (Py_buffer& v : views) PyBuffer_Release(&v);
          return done(os_error_failed(t, err, "Fatal write error on socket transport"));
        }
        skip = n > 0 ? static_cast<size_t>(n) : 0;
      }
    }
    for (Py_buffer& v : views) {
      size_t len = static_cast<size_t>(v.len);
      size_t taken = skip < len ? skip : len;
      skip -= taken;
      if (rc == 0 && len > taken) {
        rc = buffer_rest(t, static_cast<const char*>(v.buf) + taken, len - taken);
      }
    }
    if (rc == 0 && !t->buffer.empty()) {
      set_interest(t, t->interest | EV_WRITE);
      rc = maybe_pause_protocol(t);
    }
  }
  for (Py_buffer& v : views) PyBuffer_Release(&v);
  return done(rc);
}

PyObject* Stream_write_eof(PyObject* self, PyObject*) {
  StreamObject* t = as_stream(self);
  if (t->closing || t->eof) Py_RETURN_NONE;
  t->eof = true;
  if (t->buffer.empty() && t->sock != nullptr) return done(shutdown_write(t));
  Py_RETURN_NONE;
}

PyObject* Stream_can_write_eof(PyObject*, PyObject*) { Py_RETURN_TRUE; }

PyObject* Stream_close(PyObject* self, PyObject*) { return done(close_transport(as_stream(self))); }

PyObject* Stream_abort(PyObject* self, PyObject*) {
  return done(force_close(as_stream(self), nullptr));
}

PyObject* Stream_force_close(PyObject* self, PyObject* exc) {
  return done(force_close(as_stream(self), exc == Py_None ? nullptr : exc));
}

PyObject* Stream_fatal_error(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
  if (nargs < 1 || nargs > 2) {
    PyErr_SetString(PyExc_TypeError, "_fatal_error(exc, message='Fatal error on transport')");
    return nullptr;
  }
  const char* message = "Fatal error on transport";
  if (nargs == 2) {
    message = PyUnicode_AsUTF8(args[1]);
    if (message == nullptr) return nullptr;
  }
  return done(fatal_error(as_stream(self), args[0], message));
}

PyObject* Stream_call_connection_lost(PyObject* self, PyObject* exc) {
  return done(call_connection_lost(as_stream(self), exc));
}

PyObject* Stream_is_closing(PyObject* self, PyObject*) {
  return PyBool_FromLong(as_stream(self)->closing);
}

bool is_reading(StreamObject* t) { return !t->closing && !t->paused; }

PyObject* Stream_is_reading(PyObject* self, PyObject*) {
  return PyBool_FromLong(is_reading(as_stream(self)));
}

PyObject* Stream_pause_reading(PyObject* self, PyObject*) {
  StreamObject* t = as_stream(self);
  if (!is_reading(t)) Py_RETURN_NONE;
  t->paused = true;
  set_interest(t, t->interest & ~EV_READ);
  if (t->loop->debug && log_debug(t, "%r pauses reading") < 0) return nullptr;
  Py_RETURN_NONE;
}

PyObject* Stream_start_reading(PyObject* self, PyObject*) {
  StreamObject* t = as_stream(self);
  if (is_reading(t) && t->sock != nullptr) set_interest(t, t->interest | EV_READ);
  Py_RETURN_NONE;
}

PyObject* Stream_resume_reading(PyObject* self, PyObject*) {
  StreamObject* t = as_stream(self);
  if (t->closing || !t->paused) Py_RETURN_NONE;
  t->paused = false;
  Stream_start_reading(self, nullptr);
  if (t->loop->debug && log_debug(t, "%r resumes reading") < 0) return nullptr;
  Py_RETURN_NONE;
}

PyObject* Stream_get_write_buffer_size(PyObject* self, PyObject*) {
  return PyLong_FromSize_t(as_stream(self)->buffer.size());
}

PyObject* Stream_get_write_buffer_limits(PyObject* self, PyObject*) {
  StreamObject* t = as_stream(self);
  return Py_BuildValue("(nn)", t->low_water, t->high_water);
}

PyObject* Stream_set_write_buffer_limits(PyObject* self, PyObject* args, PyObject* kwargs) {
  static const char* keywords[] = {"high", "low", nullptr};
  PyObject* high_obj = Py_None;
  PyObject* low_obj = Py_None;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|OO:set_write_buffer_limits",
                                   const_cast<char**>(keywords), &high_obj, &low_obj)) {
    return nullptr;
  }
  // asyncio's rules, in Python's integers so any int behaves as there.
  Ref high = Ref::borrow(high_obj);
  Ref low = Ref::borrow(low_obj);
  if (high.get() == Py_None) {
    if (low.get() == Py_None) {
      high = Ref::steal(PyLong_FromSsize_t(kDefaultHighWater));
    } else {
      Ref four = Ref::steal(PyLong_FromLong(4));
      high = four ? Ref::steal(PyNumber_Multiply(four.get(), low.get())) : Ref();
    }
    if (!high) return nullptr;
  }
  if (low.get() == Py_None) {
    Ref four = Ref::steal(PyLong_FromLong(4));
    low = four ? Ref::steal(PyNumber_FloorDivide(high.get(), four.get())) : Ref();
    if (!low) return nullptr;
  }
  Ref zero = Ref::steal(PyLong_FromLong(0));
  if (!zero) return nullptr;
  int high_ge_low = PyObject_RichCompareBool(high.get(), low.get(), Py_GE);
  int low_ge_zero = high_ge_low == 1 ? PyObject_RichCompareBool(low.get(), zero.get(), Py_GE) : 0;
  if (high_ge_low < 0 || low_ge_zero < 0) return nullptr;
  if (!high_ge_low || !low_ge_zero) {
    PyErr_Format(PyExc_ValueError, "high (%R) must be >= low (%R) must be >= 0", high.get(),
                 low.get());
    return nullptr;
  }
  Py_ssize_t high_value = PyNumber_AsSsize_t(high.get(), PyExc_OverflowError);
  Py_ssize_t low_value = PyNumber_AsSsize_t(low.get(), PyExc_OverflowError);
  if (PyErr_Occurred()) return nullptr;
  StreamObject* t = as_stream(self);
  t->high_water = high_value;
  t->low_water = low_value;
  return done(maybe_pause_protocol(t));
}

PyObject* Stream_get_protocol(PyObject* self, PyObject*) {
  StreamObject* t = as_stream(self);
  return Py_NewRef(t->protocol ? t->protocol : Py_None);
}

int set_protocol(StreamObject* t, PyObject* protocol) {
  int buffered = PyObject_IsInstance(protocol, t->loop->state->buffered_protocol_type);
  if (buffered < 0) return -1;
  t->buffered = buffered;
  Py_XSETREF(t->protocol, Py_NewRef(protocol));
  t->protocol_connected = true;
  return 0;
}

PyObject* Stream_set_protocol(PyObject* self, PyObject* protocol) {
  return done(set_protocol(as_stream(self), protocol));
}

PyObject* Stream_make_empty_waiter(PyObject* self, PyObject*) {
  StreamObject* t = as_stream(self);
  if (t->empty_waiter != nullptr) {
    PyErr_SetString(PyExc_RuntimeError, "Empty waiter is already set");
    return nullptr;
  }
  Ref future = Ref::steal(PyObject_CallMethod(reinterpret_cast<PyObject*>(t->loop),
                                              "create_future", nullptr));
  if (!future) return nullptr;
  t->empty_waiter = Py_NewRef(future.get());
  if (t->buffer.empty() && settle_waiter(t, state_of(t)->str_set_result, Py_None) < 0) {
    return nullptr;
  }
  return future.release();
}

PyObject* Stream_reset_empty_waiter(PyObject* self, PyObject*) {
  Py_CLEAR(as_stream(self)->empty_waiter);
  Py_RETURN_NONE;
}

// Called once by Loop._make_socket_transport: connection_made, then reading,
// then the waiter, each in its own call_soon, as asyncio orders them.
PyObject* Stream_start(PyObject* self, PyObject* waiter) {
  StreamObject* t = as_stream(self);
  ModuleState* st = state_of(t);
  Ref made = Ref::steal(PyObject_GetAttr(t->protocol, st->str_connection_made));
  Ref start = made ? Ref::steal(PyObject_GetAttr(self, st->str_start_reading)) : Ref();
  if (!start) return nullptr;
  PyObject* self_arg[] = {self};
  PyObject* waiter_args[] = {waiter, Py_None};
  struct {
    PyObject* callback;
    PyObject** args;
    Py_ssize_t nargs;
  } steps[] = {
      {made.get(), self_arg, 1},
      {start.get(), nullptr, 0},
      {st->set_result_unless_cancelled, waiter_args, 2},
  };
  for (auto& step : steps) {
    if (step.args == waiter_args && waiter == Py_None) break;
    HandleObject* h = handle_new(t->loop, false, step.callback, step.args, step.nargs, nullptr);
    if (h == nullptr) return nullptr;
    int rc = loop_push_ready(t->loop, reinterpret_cast<PyObject*>(h));
    Py_DECREF(h);
    if (rc < 0) return nullptr;
  }
  Py_RETURN_NONE;
}

PyObject* Stream_repr(PyObject* self) {
  StreamObject* t = as_stream(self);
  const char* state = t->sock == nullptr ? " closed" : (t->closing ? " closing" : "");
  if (t->sock == nullptr || t->loop->closed) {
    return PyUnicode_FromFormat("<%s%s fd=%d>", _PyType_Name(Py_TYPE(self)), state, t->fd);
  }
  return PyUnicode_FromFormat("<%s%s fd=%d read=%s write=<%s, bufsize=%zu>>",
                              _PyType_Name(Py_TYPE(self)), state, t->fd,
                              (t->interest & EV_READ) ? "polling" : "idle",
                              (t->interest & EV_WRITE) ? "polling" : "idle", t->buffer.size());
}

// An unclosed transport: asyncio's ResourceWarning, and the socket closed.
void Stream_finalize(PyObject* self) {
  StreamObject* t = as_stream(self);
  if (t->sock == nullptr) return;
  PyObject *type, *value, *tb;
  PyErr_Fetch(&type, &value, &tb);
  if (PyErr_ResourceWarning(self, 1, "unclosed transport %R", self) < 0) {
    PyErr_WriteUnraisable(self);
  }
  set_interest(t, 0);
  Ref sock = Ref::steal(t->sock);
  t->sock = nullptr;
  Ref closed = Ref::steal(PyObject_CallMethodNoArgs(sock.get(), state_of(t)->str_close));
  if (!closed) PyErr_WriteUnraisable(self);
  if (t->server != nullptr) {
    Ref server = Ref::steal(t->server);
    t->server = nullptr;
    Ref detached = Ref::steal(PyObject_CallFunctionObjArgs(state_of(t)->server_detach,
                                                           server.get(), self, nullptr));
    if (!detached) PyErr_WriteUnraisable(self);
  }
  PyErr_Restore(type, value, tb);
}

// tp_new(loop, sock, protocol, extra, server): the transport, not yet started.
PyObject* Stream_new(PyTypeObject* type, PyObject* args, PyObject* kwargs) {
  PyObject *loop_obj, *sock, *protocol, *extra, *server;
  static const char* keywords[] = {"loop", "sock", "protocol", "extra", "server", nullptr};
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOOOO:SocketTransport",
                                   const_cast<char**>(keywords), &loop_obj, &sock, &protocol,
                                   &extra, &server)) {
    return nullptr;
  }
  PyObject* module = PyType_GetModuleByDef(type, &module_def);
  if (module == nullptr) return nullptr;
  ModuleState* st = module_state(module);
  if (!PyObject_TypeCheck(loop_obj, st->loop_type)) {
    PyErr_SetString(PyExc_TypeError, "SocketTransport needs an aioev loop");
    return nullptr;
  }
  if (!PyDict_Check(extra)) {
    PyErr_SetString(PyExc_TypeError, "extra must be a dict");
    return nullptr;
  }
  Ref fileno = Ref::steal(PyObject_CallMethod(sock, "fileno", nullptr));
  if (!fileno) return nullptr;
  int fd = PyLong_AsLong(fileno.get());
  if (fd == -1 && PyErr_Occurred()) return nullptr;
  if (fd < 0) {
    PyErr_SetString(PyExc_ValueError, "the socket is closed");
    return nullptr;
  }
  StreamObject* t = reinterpret_cast<StreamObject*>(type->tp_alloc(type, 0));
  if (t == nullptr) return nullptr;
  new (&t->buffer) WriteBuffer();
  t->extra = Py_NewRef(extra);
  t->loop = reinterpret_cast<LoopObject*>(Py_NewRef(loop_obj));
  t->sock = Py_NewRef(sock);
  t->server = server == Py_None ? nullptr : Py_NewRef(server);
  t->fd = fd;
  t->high_water = kDefaultHighWater;
  t->low_water = kDefaultHighWater / 4;
  if (set_protocol(t, protocol) < 0) {
    Py_DECREF(t);
    return nullptr;
  }
  return as_object(t);
}

int Stream_init(PyObject*, PyObject*, PyObject*) { return 0; }

int Stream_traverse(PyObject* self, visitproc visit, void* arg) {
  StreamObject* t = as_stream(self);
  Py_VISIT(Py_TYPE(self));
  Py_VISIT(t->extra);
  Py_VISIT(reinterpret_cast<PyObject*>(t->loop));
  Py_VISIT(t->sock);
  Py_VISIT(t->protocol);
  Py_VISIT(t->server);
  Py_VISIT(t->empty_waiter);
  Py_VISIT(t->dict);
  return 0;
}

int Stream_clear(PyObject* self) {
  StreamObject* t = as_stream(self);
  Py_CLEAR(t->extra);
  Py_CLEAR(t->protocol);
  Py_CLEAR(t->server);
  Py_CLEAR(t->empty_waiter);
  Py_CLEAR(t->dict);
  // sock and loop stay until deallocation: the finalizer needs them.
  return 0;
}

void Stream_dealloc(PyObject* self) {
  StreamObject* t = as_stream(self);
  PyTypeObject* type = Py_TYPE(self);
  PyObject_GC_UnTrack(self);
  if (PyObject_CallFinalizerFromDealloc(self) < 0) return;  // resurrected
  if (t->weakreflist != nullptr) PyObject_ClearWeakRefs(self);
  Stream_clear(self);
  Py_CLEAR(t->sock);
  Py_CLEAR(t->loop);
  t->buffer.~WriteBuffer();
  type->tp_free(self);
  Py_DECREF(type);
}

PyObject* get_sock(PyObject* self, void*) {
  StreamObject* t = as_stream(self);
  return Py_NewRef(t->sock ? t->sock : Py_None);
}
PyObject* get_sock_fd(PyObject* self, void*) { return PyLong_FromLong(as_stream(self)->fd); }
PyObject* get_loop(PyObject* self, void*) {
  StreamObject* t = as_stream(self);
  if (t->sock == nullptr) Py_RETURN_NONE;
  return Py_NewRef(reinterpret_cast<PyObject*>(t->loop));
}
PyObject* get_protocol_attr(PyObject* self, void*) { return Stream_get_protocol(self, nullptr); }
PyObject* get_closing(PyObject* self, void*) { return Stream_is_closing(self, nullptr); }
PyObject* get_conn_lost(PyObject* self, void*) { return PyLong_FromLong(as_stream(self)->conn_lost); }
PyObject* get_empty_waiter(PyObject* self, void*) {
  StreamObject* t = as_stream(self);
  return Py_NewRef(t->empty_waiter ? t->empty_waiter : Py_None);
}
PyObject* get_server(PyObject* self, void*) {
  StreamObject* t = as_stream(self);
  return Py_NewRef(t->server ? t->server : Py_None);
}
PyObject* get_protocol_paused(PyObject* self, void*) {
  return PyBool_FromLong(as_stream(self)->protocol_paused);
}

#define NOARGS(fn) reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(fn))

PyMethodDef stream_methods[] = {
    {"write", Stream_write, METH_O, "Write bytes to the socket, buffering what it does not take."},
    {"writelines", Stream_writelines, METH_O, "Write a list of bytes-like objects (one sendmsg)."},
    {"write_eof", Stream_write_eof, METH_NOARGS, "Shut the write side once the buffer is sent."},
    {"can_write_eof", Stream_can_write_eof, METH_NOARGS, "True: sockets can half-close."},
    {"close", Stream_close, METH_NOARGS, "Close after the buffered data is sent."},
    {"abort", Stream_abort, METH_NOARGS, "Close at once, dropping buffered data."},
    {"is_closing", Stream_is_closing, METH_NOARGS, "True once close() or abort() was called."},
    {"is_reading", Stream_is_reading, METH_NOARGS, "True while the transport reads."},
    {"pause_reading", Stream_pause_reading, METH_NOARGS, "Stop calling the protocol with data."},
    {"resume_reading", Stream_resume_reading, METH_NOARGS, "Resume reading."},
    {"get_write_buffer_size", Stream_get_write_buffer_size, METH_NOARGS, "Buffered bytes."},
    {"get_write_buffer_limits", Stream_get_write_buffer_limits, METH_NOARGS, "(low, high)."},
    {"set_write_buffer_limits", NOARGS(Stream_set_write_buffer_limits),
     METH_VARARGS | METH_KEYWORDS, "Set the flow control marks."},
    {"get_protocol", Stream_get_protocol, METH_NOARGS, "The current protocol."},
    {"set_protocol", Stream_set_protocol, METH_O, "Replace the protocol."},
    {"_force_close", Stream_force_close, METH_O, "Close at once with exc."},
    {"_fatal_error", NOARGS(Stream_fatal_error), METH_FASTCALL, "Report exc and close."},
    {"_call_connection_lost", Stream_call_connection_lost, METH_O,
     "Tell the protocol, close the socket."},
    {"_make_empty_waiter", Stream_make_empty_waiter, METH_NOARGS,
     "A future done when the write buffer is empty (sendfile)."},
    {"_reset_empty_waiter", Stream_reset_empty_waiter, METH_NOARGS, "Forget the empty waiter."},
    {"_start", Stream_start, METH_O, "Schedule connection_made, reading and the waiter."},
    {"_start_reading", Stream_start_reading, METH_NOARGS, "Start reading unless paused."},
    {nullptr, nullptr, 0, nullptr},
};

#undef NOARGS

PyGetSetDef stream_getset[] = {
    {"_sock", get_sock, nullptr, nullptr, nullptr},
    {"_sock_fd", get_sock_fd, nullptr, nullptr, nullptr},
    {"_loop", get_loop, nullptr, nullptr, nullptr},
    {"_protocol", get_protocol_attr, nullptr, nullptr, nullptr},
    {"_closing", get_closing, nullptr, nullptr, nullptr},
    {"_conn_lost", get_conn_lost, nullptr, nullptr, nullptr},
    {"_empty_waiter", get_empty_waiter, nullptr, nullptr, nullptr},
    {"_server", get_server, nullptr, nullptr, nullptr},
    {"_protocol_paused", get_protocol_paused, nullptr, nullptr, nullptr},
    {nullptr, nullptr, nullptr, nullptr, nullptr},
};

PyMemberDef stream_members[] = {
    {"__dictoffset__", T_PYSSIZET, offsetof(StreamObject, dict), READONLY, nullptr},
    {"__weaklistoffset__", T_PYSSIZET, offsetof(StreamObject, weakreflist), READONLY, nullptr},
    {nullptr, 0, 0, 0, nullptr},
};

PyType_Slot stream_slots[] = {
    {Py_tp_new, reinterpret_cast<void*>(Stream_new)},
    {Py_tp_init, reinterpret_cast<void*>(Stream_init)},
    {Py_tp_dealloc, reinterpret_cast<void*>(Stream_dealloc)},
    {Py_tp_finalize, reinterpret_cast<void*>(Stream_finalize)},
    {Py_tp_traverse, reinterpret_cast<void*>(Stream_traverse)},
    {Py_tp_clear, reinterpret_cast<void*>(Stream_clear)},
    {Py_tp_repr, reinterpret_cast<void*>(Stream_repr)},
    {Py_tp_methods, stream_methods},
    {Py_tp_getset, stream_getset},
    {Py_tp_members, stream_members},
    {Py_tp_doc, const_cast<char*>("asyncio's socket transport for TCP and Unix streams.")},
    {0, nullptr},
};

PyType_Spec stream_spec = {
    "aioev._aioev.SocketTransport",
    static_cast<int>(sizeof(StreamObject)),
    0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    stream_slots,
};

}  // namespace

PyTypeObject* stream_type_new(PyObject* module) {
  Ref asyncio = Ref::steal(PyImport_ImportModule("asyncio"));
  Ref base = asyncio ? Ref::steal(PyObject_GetAttrString(asyncio.get(), "Transport")) : Ref();
  if (!base) return nullptr;
  PyTypeObject* base_type = reinterpret_cast<PyTypeObject*>(base.get());
  // aioev's fields follow asyncio.Transport's: its instances must be the
  // object header plus BaseTransport's one slot, with no dict or weakref.
  if (!PyType_Check(base.get()) ||
      base_type->tp_basicsize != static_cast<Py_ssize_t>(offsetof(StreamObject, loop)) ||
      base_type->tp_dictoffset != 0 || base_type->tp_weaklistoffset != 0) {
    PyErr_SetString(PyExc_ImportError, "asyncio.Transport has a layout aioev does not know");
    return nullptr;
  }
  return reinterpret_cast<PyTypeObject*>(
      PyType_FromModuleAndSpec(module, &stream_spec, base.get()));
}

void stream_queue(LoopObject* loop, PyObject* transport, int events) {
  StreamObject* t = as_stream(transport);
  t->queued |= events;
  if (t->in_ready) return;
  if (!loop->ready.push_back(transport)) {
    loop->loop_error = true;
    PyErr_NoMemory();
    return;
  }
  Py_INCREF(transport);
  t->in_ready = true;
}

int stream_run_queued(PyObject* transport) {
  StreamObject* t = as_stream(transport);
  int events = t->queued;
  t->queued = 0;
  t->in_ready = false;
  if ((events & EV_READ) && (t->interest & EV_READ) && read_ready(t) < 0) {
    if (must_propagate() || report_callback_error(t) < 0) return -1;
  }
  if ((events & EV_WRITE) && (t->interest & EV_WRITE) && write_ready(t) < 0) {
    if (must_propagate() || report_callback_error(t) < 0) return -1;
  }
  return 0;
}

}  // namespace aioev
