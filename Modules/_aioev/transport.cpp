// The machinery aioev's transports share: readiness from the loop's fd
// table, asyncio's closing sequence (close, abort, _force_close,
// _fatal_error, _call_connection_lost), flow control, the write path of
// the socket transport and the write pipe, and the parts of the Python type
// every transport has. Readiness queues the transport itself on the loop's
// ready queue, with the events polled; the run loop hands it to
// transport_run_ready() in the callback phase, where asyncio would run the
// reader and writer handles.
#include "transport.h"

#include "asyncio_private.h"

#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

namespace aioev {

namespace {

ModuleState* state_of(TransportObject* t) { return t->loop->state; }

int schedule(TransportObject* t, PyObject* callback, PyObject* const* args, Py_ssize_t nargs) {
  Owned<HandleObject> h = handle_new(t->loop, false, callback, args, nargs, nullptr);
  if (!h) return -1;
  return loop_push_handle(t->loop, h.get());
}

// Schedules self._call_connection_lost(exc) with call_soon, as asyncio does.
int schedule_connection_lost(TransportObject* t, PyObject* exc) {
  return transport_call_soon(t, as_object(t), state_of(t)->str_call_connection_lost,
                             exc ? exc : Py_None);
}

int detach_server(TransportObject* t) {
  if (t->server == nullptr) return 0;
  Ref server = Ref::steal(t->server);
  t->server = nullptr;
  Ref detached = Ref::steal(PyObject_CallFunctionObjArgs(state_of(t)->server_detach,
                                                         server.get(), as_object(t), nullptr));
  return detached ? 0 : -1;
}

// Stops watching, then closes the file: libev must never see a closed fd.
void close_file(TransportObject* t) {
  transport_set_interest(t, 0);
  Ref file = Ref::steal(t->file);
  t->file = nullptr;
  Ref closed = Ref::steal(PyObject_CallMethodNoArgs(file.get(), state_of(t)->str_close));
  if (!closed) PyErr_WriteUnraisable(file.get());
}

}  // namespace

int transport_call_soon(TransportObject* t, PyObject* owner, PyObject* name, PyObject* arg) {
  Ref method = Ref::steal(PyObject_GetAttr(owner, name));
  if (!method) return -1;
  PyObject* args[] = {arg};
  return schedule(t, method.get(), args, arg ? 1 : 0);
}

int transport_log_quietly(TransportObject* t, PyObject* exc, const char* message) {
  if (!t->loop->debug) return 0;
  Ref text = Ref::steal(PyUnicode_FromString(message));
  if (!text) return -1;
  Ref logged = Ref::steal(PyObject_CallFunctionObjArgs(state_of(t)->log_fatal_oserror,
                                                       as_object(t), text.get(), exc, nullptr));
  return logged ? 0 : -1;
}

int transport_fatal_error_args(PyObject* const* args, Py_ssize_t nargs, const char* fallback,
                               PyObject** exc, const char** message) {
  if (nargs < 1 || nargs > 2) {
    PyErr_Format(PyExc_TypeError, "_fatal_error(exc, message='%s')", fallback);
    return -1;
  }
  *exc = args[0];
  *message = nargs == 2 ? PyUnicode_AsUTF8(args[1]) : fallback;
  return *message ? 0 : -1;
}

int transport_init(TransportObject* t, const TransportKind* kind, LoopObject* loop,
                   PyObject* file, int fd, PyObject* protocol, PyObject* extra,
                   PyObject* server) {
  t->kind = kind;
  t->extra = Py_NewRef(extra);
  t->loop = reinterpret_cast<LoopObject*>(Py_NewRef(reinterpret_cast<PyObject*>(loop)));
  t->file = Py_NewRef(file);
  t->server = server == Py_None ? nullptr : Py_NewRef(server);
  t->fd = fd;
  t->high_water = kDefaultHighWater;
  t->low_water = kDefaultHighWater / 4;
  Ref set = Ref::steal(Transport_set_protocol(as_object(t), protocol));
  return set ? 0 : -1;
}

int transport_set_interest(TransportObject* t, int events) {
  int old = t->interest;
  if (old == events) return 0;
  t->interest = events;
  LoopObject* loop = t->loop;
  if (loop == nullptr || loop->closed || t->file == nullptr) return 0;
  if (io_set_transport_interest(loop, t->fd, as_object(t), events, (events & ~old) != 0) < 0) {
    t->interest = old;
    return -1;
  }
  return 0;
}

int transport_watch(TransportObject* t, int events, bool renew) {
  int fresh = renew ? events : events & ~t->interest;
  for (int event : {EV_READ, EV_WRITE}) {
    if (!(fresh & event)) continue;
    PyObject* context = PyContext_CopyCurrent();
    if (context == nullptr) return -1;
    Py_XSETREF(event == EV_READ ? t->read_context : t->write_context, context);
  }
  return transport_set_interest(t, t->interest | events);
}

Ref transport_call_protocol(TransportObject* t, PyObject* name, PyObject* arg1,
                            PyObject* arg2) {
  return call_method(t->protocol, name, arg1, arg2);
}

int transport_report(TransportObject* t, const char* message, PyObject* exc) {
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
  return loop_call_exception_handler(st, reinterpret_cast<PyObject*>(t->loop), context.get(), exc);
}

int transport_force_close(TransportObject* t, PyObject* exc) {
  if (t->conn_lost) return 0;
  int interest = t->interest;
  if (t->kind->buffer_size(t) != 0) {
    t->kind->clear_buffer(t);
    interest &= ~EV_WRITE;
  }
  if (!t->closing) {
    t->closing = true;
    interest &= ~EV_READ;
  }
  transport_set_interest(t, interest);
  t->conn_lost++;
  return schedule_connection_lost(t, exc);
}

// asyncio's _fatal_error: an OSError is only logged in debug mode, anything
// else goes to the exception handler; either way the transport closes.
int transport_fatal_error(TransportObject* t, PyObject* exc, const char* message) {
  if (is_os_error(exc)) {
    if (transport_log_quietly(t, exc, message) < 0) return -1;
  } else if (transport_report(t, message, exc) < 0) {
    return -1;
  }
  return transport_force_close(t, exc);
}

int transport_write_failed(TransportObject* t, bool partial) {
  if (!partial || must_propagate()) return -1;
  Ref exc = fetch_exception();
  if (transport_force_close(t, exc.get()) < 0) return -1;
  PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(exc.get())), exc.get());
  return -1;
}

int transport_protocol_failed(TransportObject* t, const char* message) {
  if (must_propagate()) return -1;
  Ref exc = fetch_exception();
  return transport_fatal_error(t, exc.get(), message);
}

int transport_log_debug(TransportObject* t, const char* format) {
  Ref text = Ref::steal(PyUnicode_FromString(format));
  if (!text) return -1;
  Ref logged = Ref::steal(
      PyObject_CallFunctionObjArgs(state_of(t)->log_debug, text.get(), as_object(t), nullptr));
  return logged ? 0 : -1;
}

int transport_close(TransportObject* t) {
  if (t->closing) return 0;
  t->closing = true;
  int interest = t->interest & ~EV_READ;
  if (t->kind->buffer_size(t) == 0) {
    t->conn_lost++;
    transport_set_interest(t, interest & ~EV_WRITE);
    return schedule_connection_lost(t, nullptr);
  }
  transport_set_interest(t, interest);
  return 0;
}

int transport_call_connection_lost(TransportObject* t, PyObject* exc) {
  if (t->file == nullptr) return 0;
  Ref result = Ref::borrow(Py_None);
  if (t->protocol_connected && t->protocol != nullptr) {
    result = transport_call_protocol(t, state_of(t)->str_connection_lost, exc ? exc : Py_None);
  }
  {
    ErrorGuard raised;  // whatever connection_lost did, as asyncio's `finally:` does
    // A closing transport no longer owns its fd (asyncio's
    // _ensure_fd_no_transport lets it be), which may now be reused.
    io_forget_transport(t->loop, t->fd, as_object(t));
    close_file(t);
    Py_CLEAR(t->protocol);
    if (detach_server(t) < 0) PyErr_WriteUnraisable(as_object(t));
  }
  if (!result) return -1;
  return t->kind->after_lost ? t->kind->after_lost(t) : 0;
}

static int call_flow_control(TransportObject* t, PyObject* name, const char* failure) {
  Ref result = transport_call_protocol(t, name, nullptr);
  if (result) return 0;
  if (must_propagate()) return -1;
  Ref exc = fetch_exception();
  return transport_report(t, failure, exc.get());
}

int transport_maybe_pause_protocol(TransportObject* t) {
  if (static_cast<Py_ssize_t>(t->kind->buffer_size(t)) <= t->high_water || t->protocol_paused) {
    return 0;
  }
  t->protocol_paused = true;
  return call_flow_control(t, state_of(t)->str_pause_writing, "protocol.pause_writing() failed");
}

int transport_maybe_resume_protocol(TransportObject* t) {
  if (!t->protocol_paused || static_cast<Py_ssize_t>(t->kind->buffer_size(t)) > t->low_water) {
    return 0;
  }
  t->protocol_paused = false;
  return call_flow_control(t, state_of(t)->str_resume_writing,
                           "protocol.resume_writing() failed");
}

// A write after the loss: dropped, with asyncio's warning from the sixth on.
static int drop_write(TransportObject* t, PyObject* warn) {
  if (t->conn_lost >= kLogThresholdForConnLostWrites) {
    Ref warned = Ref::steal(PyObject_CallNoArgs(warn));
    if (!warned) return -1;
  }
  t->conn_lost++;
  return 0;
}

int transport_drop_write(TransportObject* t) {
  return drop_write(t, state_of(t)->warn_write_after_lost);
}

// ---- the write path of the socket transport and the write pipe ----

size_t writer_buffer_size(TransportObject* t) { return as_writer(t)->buffer.size(); }
void writer_clear_buffer(TransportObject* t) { as_writer(t)->buffer.clear(); }

// send(2) or write(2) as the kind says, under the EINTR policy
// (retry_eintr): what the fd took, -1 with errno, or kSignalRaised.
static ssize_t send_some(TransportObject* t, const WriteKind& kind, const void* data, size_t n) {
  return retry_eintr([&] {
    return kind.socket ? send(t->fd, data, n, MSG_NOSIGNAL) : write(t->fd, data, n);
  });
}

// The buffer could not keep a write's data: back to size `before`, and
// transport_write_failed() raises the error.
static int buffer_failed(WriterObject* w, size_t before, bool partial) {
  w->buffer.truncate(before);
  return transport_write_failed(&w->base, partial);
}

int transport_buffer_rest(WriterObject* w, const struct iovec* parts, size_t count, size_t sent,
                          bool renew) {
  bool partial = sent > 0;
  size_t before = w->buffer.size();
  for (size_t i = 0; i < count; ++i) {
    size_t len = parts[i].iov_len;
    size_t taken = sent < len ? sent : len;
    sent -= taken;
    if (len > taken &&
        !w->buffer.append(static_cast<const char*>(parts[i].iov_base) + taken, len - taken)) {
      PyErr_NoMemory();
      return buffer_failed(w, before, partial);
    }
  }
  if (w->buffer.size() == before) return 0;  // the fd took it all
  if (transport_watch(&w->base, EV_WRITE, renew) < 0) return buffer_failed(w, before, partial);
  return transport_maybe_pause_protocol(&w->base);
}

int transport_write(WriterObject* w, const WriteKind& kind, PyObject* data) {
  TransportObject* t = &w->base;
  Py_buffer view;
  if (PyObject_GetBuffer(data, &view, PyBUF_SIMPLE) < 0) return -1;
  int rc = 0;
  if (view.len == 0) {
    rc = 0;
  } else if (t->conn_lost || (kind.drop_while_closing && t->closing)) {
    rc = drop_write(t, state_of(t)->*kind.warn_after_lost);
  } else {
    size_t len = static_cast<size_t>(view.len);
    size_t sent = 0;
    if (w->buffer.empty()) {
      // The fd usually takes it all: no copy, no buffer.
      ssize_t n = send_some(t, kind, view.buf, len);
      if (n < 0 && !would_block(errno)) {
        int err = errno;
        PyBuffer_Release(&view);
        if (n == kSignalRaised) return -1;
        return kind.failed(t, err);
      }
      sent = n > 0 ? static_cast<size_t>(n) : 0;
    }
    if (sent < len) {
      struct iovec part = {view.buf, len};
      rc = transport_buffer_rest(w, &part, 1, sent, false);
    }
  }
  PyBuffer_Release(&view);
  return rc;
}

int transport_write_ready(WriterObject* w, const WriteKind& kind) {
  TransportObject* t = &w->base;
  if (w->buffer.empty()) return 0;
  ssize_t n = send_some(t, kind, w->buffer.data(), w->buffer.size());
  if (n < 0) {
    int err = errno;
    if (n == kSignalRaised) return -1;
    if (would_block(err)) return 0;
    transport_set_interest(t, t->interest & ~EV_WRITE);
    w->buffer.clear();
    return kind.failed(t, err);
  }
  w->buffer.consume(static_cast<size_t>(n));
  // resume_writing() may write more.
  if (kind.resume_after_each_send && transport_maybe_resume_protocol(t) < 0) return -1;
  if (!w->buffer.empty()) return 0;
  if (kind.release_when_drained) w->buffer.clear();
  transport_set_interest(t, t->interest & ~EV_WRITE);
  if (!kind.resume_after_each_send && transport_maybe_resume_protocol(t) < 0) return -1;
  return kind.drained(t);
}

int transport_start(TransportObject* t, bool read, PyObject* waiter) {
  ModuleState* st = state_of(t);
  Ref made = Ref::steal(PyObject_GetAttr(t->protocol, st->str_connection_made));
  if (!made) return -1;
  PyObject* self_arg[] = {as_object(t)};
  if (schedule(t, made.get(), self_arg, 1) < 0) return -1;
  if (read) {
    Ref start = Ref::steal(PyObject_GetAttr(as_object(t), st->str_start_reading));
    if (!start || schedule(t, start.get(), nullptr, 0) < 0) return -1;
  }
  if (waiter != Py_None) {
    PyObject* args[] = {waiter, Py_None};
    if (schedule(t, asyncio_set_result_unless_cancelled(st), args, 2) < 0) return -1;
  }
  return 0;
}

Borrowed<LoopObject> transport_loop_arg(PyTypeObject* type, PyObject* loop) {
  PyObject* module = PyType_GetModuleByDef(type, &module_def);
  if (module == nullptr) return nullptr;
  if (!PyObject_TypeCheck(loop, module_state(module)->loop_type)) {
    PyErr_Format(PyExc_TypeError, "%s needs an aioev loop, not %.100s", _PyType_Name(type),
                 Py_TYPE(loop)->tp_name);
    return nullptr;
  }
  return reinterpret_cast<LoopObject*>(loop);
}

Owned<PyTypeObject> transport_type_new(PyObject* module, PyType_Spec* spec, const char* bases) {
  Ref tuple = asyncio_transport_bases(bases);
  if (!tuple) return nullptr;
  return Owned<PyTypeObject>::steal(
      reinterpret_cast<PyTypeObject*>(PyType_FromModuleAndSpec(module, spec, tuple.get())));
}

// One side's readiness, inside that side's context (as asyncio runs its
// reader or writer handle).
static int run_ready(TransportObject* t, int event) {
  Ref context = Ref::borrow(event == EV_READ ? t->read_context : t->write_context);
  if (!context) return t->kind->on_ready(t, event);
  if (PyContext_Enter(context.get()) < 0) return -1;
  int rc = t->kind->on_ready(t, event);
  PyContext_Exit(context.get());  // cannot fail: this thread entered it
  return rc;
}

int transport_run_ready(PyObject* transport, int events) {
  TransportObject* t = as_transport(transport);
  events &= t->interest;  // what it still waits for
  int rc = 0;
  if (events & EV_READ) rc = run_ready(t, EV_READ);
  // The reading side may have stopped the writing one.
  if (rc == 0 && (events & EV_WRITE) && (t->interest & EV_WRITE)) rc = run_ready(t, EV_WRITE);
  if (rc == 0) return 0;
  // An error of the transport's own (not its protocol's): reported as
  // asyncio reports an exception that escapes a callback.
  if (must_propagate()) return -1;
  Ref exc = fetch_exception();
  Ref message = Ref::steal(PyUnicode_FromFormat("Exception in callback %R", transport));
  if (!message) return -1;
  return transport_report(t, PyUnicode_AsUTF8(message.get()), exc.get());
}

// ---- Python methods every transport has ----

PyObject* Transport_close(PyObject* self, PyObject*) {
  TransportObject* t = as_transport(self);
  if (transport_check_thread(t) < 0) return nullptr;
  return done(transport_close(t));
}

PyObject* Transport_abort(PyObject* self, PyObject*) {
  TransportObject* t = as_transport(self);
  if (transport_check_thread(t) < 0) return nullptr;
  return done(transport_force_close(t, nullptr));
}

PyObject* Transport_is_closing(PyObject* self, PyObject*) {
  return PyBool_FromLong(as_transport(self)->closing);
}

PyObject* Transport_is_reading(PyObject* self, PyObject*) {
  return PyBool_FromLong(transport_is_reading(as_transport(self)));
}

PyObject* Transport_pause_reading(PyObject* self, PyObject*) {
  TransportObject* t = as_transport(self);
  if (transport_check_thread(t) < 0) return nullptr;
  if (!transport_is_reading(t)) Py_RETURN_NONE;
  t->paused = true;
  transport_set_interest(t, t->interest & ~EV_READ);
  if (t->loop->debug && transport_log_debug(t, "%r pauses reading") < 0) return nullptr;
  Py_RETURN_NONE;
}

PyObject* Transport_start_reading(PyObject* self, PyObject*) {
  TransportObject* t = as_transport(self);
  if (transport_is_reading(t) && t->file != nullptr) return done(transport_watch(t, EV_READ));
  Py_RETURN_NONE;
}

PyObject* Transport_resume_reading(PyObject* self, PyObject*) {
  TransportObject* t = as_transport(self);
  if (transport_check_thread(t) < 0) return nullptr;
  if (t->closing || !t->paused) Py_RETURN_NONE;
  t->paused = false;
  Ref started = Ref::steal(Transport_start_reading(self, nullptr));
  if (!started) return nullptr;
  if (t->loop->debug && transport_log_debug(t, "%r resumes reading") < 0) return nullptr;
  Py_RETURN_NONE;
}

PyObject* Transport_get_write_buffer_size(PyObject* self, PyObject*) {
  TransportObject* t = as_transport(self);
  return PyLong_FromSize_t(t->kind->buffer_size(t));
}

PyObject* Transport_get_write_buffer_limits(PyObject* self, PyObject*) {
  TransportObject* t = as_transport(self);
  return Py_BuildValue("(nn)", t->low_water, t->high_water);
}

PyObject* Transport_set_write_buffer_limits(PyObject* self, PyObject* args, PyObject* kwargs) {
  if (transport_check_thread(as_transport(self)) < 0) return nullptr;
  static const char* keywords[] = {"high", "low", nullptr};
  PyObject* high_obj = Py_None;
  PyObject* low_obj = Py_None;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|OO:set_write_buffer_limits",
                                   const_cast<char**>(keywords), &high_obj, &low_obj)) {
    return nullptr;
  }
  // asyncio's rules, on Python integers so any value behaves as there.
  Ref high = Ref::borrow(high_obj);
  Ref low = Ref::borrow(low_obj);
  Ref four = Ref::steal(PyLong_FromLong(4));
  Ref zero = Ref::steal(PyLong_FromLong(0));
  if (!four || !zero) return nullptr;
  if (high.get() == Py_None) {
    high = low.get() == Py_None ? Ref::steal(PyLong_FromSsize_t(kDefaultHighWater))
                                : Ref::steal(PyNumber_Multiply(four.get(), low.get()));
    if (!high) return nullptr;
  }
  if (low.get() == Py_None) {
    low = Ref::steal(PyNumber_FloorDivide(high.get(), four.get()));
    if (!low) return nullptr;
  }
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
  TransportObject* t = as_transport(self);
  t->high_water = high_value;
  t->low_water = low_value;
  return done(transport_maybe_pause_protocol(t));
}

PyObject* Transport_get_protocol(PyObject* self, PyObject*) {
  TransportObject* t = as_transport(self);
  return Py_NewRef(t->protocol ? t->protocol : Py_None);
}

PyObject* Transport_set_protocol(PyObject* self, PyObject* protocol) {
  TransportObject* t = as_transport(self);
  int buffered = PyObject_IsInstance(protocol, t->loop->state->buffered_protocol_type);
  if (buffered < 0) return nullptr;
  t->buffered = buffered;
  Py_XSETREF(t->protocol, Py_NewRef(protocol));
  t->protocol_connected = true;
  Py_RETURN_NONE;
}

PyObject* Transport_force_close(PyObject* self, PyObject* exc) {
  return done(transport_force_close(as_transport(self), exc == Py_None ? nullptr : exc));
}

PyObject* Transport_fatal_error(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
  PyObject* exc;
  const char* message;
  if (transport_fatal_error_args(args, nargs, "Fatal error on transport", &exc, &message) < 0) {
    return nullptr;
  }
  return done(transport_fatal_error(as_transport(self), exc, message));
}

PyObject* Transport_call_connection_lost(PyObject* self, PyObject* exc) {
  return done(transport_call_connection_lost(as_transport(self), exc));
}

// ---- slots ----

PyObject* transport_repr(PyObject* self) {
  TransportObject* t = as_transport(self);
  const char* state = t->file == nullptr ? " closed" : (t->closing ? " closing" : "");
  const char* name = _PyType_Name(Py_TYPE(self));
  if (t->file == nullptr || t->loop->closed) {
    return PyUnicode_FromFormat("<%s%s fd=%d>", name, state, t->fd);
  }
  return PyUnicode_FromFormat("<%s%s fd=%d read=%s write=<%s, bufsize=%zu>>", name, state, t->fd,
                              (t->interest & EV_READ) ? "polling" : "idle",
                              (t->interest & EV_WRITE) ? "polling" : "idle",
                              t->kind->buffer_size(t));
}

// An unclosed transport: asyncio's ResourceWarning, and the file closed.
void transport_finalize(PyObject* self) {
  TransportObject* t = as_transport(self);
  if (t->file == nullptr) return;
  ErrorGuard raised;
  if (PyErr_ResourceWarning(self, 1, "unclosed transport %R", self) < 0) {
    PyErr_WriteUnraisable(self);
  }
  close_file(t);
  if (detach_server(t) < 0) PyErr_WriteUnraisable(self);
}

int transport_traverse(PyObject* self, visitproc visit, void* arg) {
  TransportObject* t = as_transport(self);
  Py_VISIT(Py_TYPE(self));
  Py_VISIT(t->extra);
  for (PyObject* slot : t->flow_control_slots) Py_VISIT(slot);
  Py_VISIT(reinterpret_cast<PyObject*>(t->loop));
  Py_VISIT(t->file);
  Py_VISIT(t->protocol);
  Py_VISIT(t->server);
  Py_VISIT(t->dict);
  Py_VISIT(t->read_context);
  Py_VISIT(t->write_context);
  return 0;
}

int transport_clear(PyObject* self) {
  TransportObject* t = as_transport(self);
  Py_CLEAR(t->extra);
  for (PyObject*& slot : t->flow_control_slots) Py_CLEAR(slot);
  Py_CLEAR(t->protocol);
  Py_CLEAR(t->server);
  Py_CLEAR(t->dict);
  Py_CLEAR(t->read_context);
  Py_CLEAR(t->write_context);
  // The file and the loop stay until deallocation: the finalizer needs them.
  return 0;
}

void transport_dealloc_common(PyObject* self) {
  TransportObject* t = as_transport(self);
  if (t->weakreflist != nullptr) PyObject_ClearWeakRefs(self);
  transport_clear(self);
  Py_CLEAR(t->file);
  if (t->loop != nullptr) io_forget_transport(t->loop, t->fd, self);
  Py_CLEAR(t->loop);
}

int transport_init_noop(PyObject*, PyObject*, PyObject*) { return 0; }

PyObject* transport_get_file(PyObject* self, void*) {
  TransportObject* t = as_transport(self);
  return Py_NewRef(t->file ? t->file : Py_None);
}
// Code outside (asyncio's own tests, to silence a ResourceWarning) may set
// `_pipe` or `_sock` to None: the transport forgets the file, unclosed.
int transport_set_file(PyObject* self, PyObject* value, void*) {
  if (value != Py_None) {
    PyErr_SetString(PyExc_TypeError, "only None can be assigned to a transport's file");
    return -1;
  }
  TransportObject* t = as_transport(self);
  transport_set_interest(t, 0);
  Py_CLEAR(t->file);
  return 0;
}

PyObject* transport_get_fd(PyObject* self, void*) { return PyLong_FromLong(as_transport(self)->fd); }
PyObject* transport_get_loop(PyObject* self, void*) {
  TransportObject* t = as_transport(self);
  if (t->file == nullptr) Py_RETURN_NONE;
  return Py_NewRef(reinterpret_cast<PyObject*>(t->loop));
}
PyObject* transport_get_protocol(PyObject* self, void*) { return Transport_get_protocol(self, nullptr); }
PyObject* transport_get_closing(PyObject* self, void*) { return Transport_is_closing(self, nullptr); }
PyObject* transport_get_conn_lost(PyObject* self, void*) {
  return PyLong_FromLong(as_transport(self)->conn_lost);
}
PyObject* transport_get_server(PyObject* self, void*) {
  TransportObject* t = as_transport(self);
  return Py_NewRef(t->server ? t->server : Py_None);
}
PyObject* transport_get_protocol_paused(PyObject* self, void*) {
  return PyBool_FromLong(as_transport(self)->protocol_paused);
}

PyMemberDef transport_members[] = {
    {"__dictoffset__", T_PYSSIZET, offsetof(TransportObject, dict), READONLY, nullptr},
    {"__weaklistoffset__", T_PYSSIZET, offsetof(TransportObject, weakreflist), READONLY, nullptr},
    {nullptr, 0, 0, 0, nullptr},
};

}  // namespace aioev
