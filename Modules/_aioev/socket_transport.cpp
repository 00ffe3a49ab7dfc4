// SocketTransport: asyncio's socket transport for TCP and Unix streams.
//
// Reads go into the loop's shared buffer (or straight into a
// BufferedProtocol's buffer); writes take the write path the write pipe
// shares (transport.cpp), here with send() and the socket's rules;
// writelines() is one sendmsg(). The rest of a transport's life is
// transport.cpp's.
#include "transport.h"

#include <errno.h>
#include <limits.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <new>

namespace aioev {

namespace {


struct SocketTransportObject {
  WriterObject writer;
  PyObject* empty_waiter;  // loop.sendfile() waits on it for the buffer to drain
  bool eof;  // write_eof() was called
  bool large_reads;  // the last read was large: read straight into the bytes object
};

SocketTransportObject* as_socket_transport(PyObject* self) { return reinterpret_cast<SocketTransportObject*>(self); }
SocketTransportObject* as_socket_transport(TransportObject* t) { return reinterpret_cast<SocketTransportObject*>(t); }
TransportObject* transport_of(SocketTransportObject* s) { return &s->writer.base; }
ModuleState* state_of(SocketTransportObject* s) { return transport_of(s)->loop->state; }

int settle_waiter(SocketTransportObject* s, PyObject* method, PyObject* value) {
  if (s->empty_waiter == nullptr) return 0;
  return call_method(s->empty_waiter, method, value) ? 0 : -1;
}

int shutdown_write(SocketTransportObject* s) {
  if (shutdown(transport_of(s)->fd, SHUT_WR) < 0) {
    PyErr_SetFromErrno(PyExc_OSError);
    return -1;
  }
  return 0;
}

int os_error_failed(TransportObject* t, int err, const char* message) {
  Ref exc = os_error(err);
  return exc ? transport_fatal_error(t, exc.get(), message) : -1;
}

// ---- reading ----

int on_eof(TransportObject* t) {
  if (t->loop->debug && transport_log_debug(t, "%r received EOF") < 0) return -1;
  const char* failed = "Fatal error: protocol.eof_received() call failed.";
  Ref keep = transport_call_protocol(t, t->loop->state->str_eof_received, nullptr);
  if (!keep) return transport_protocol_failed(t, failed);
  int keep_open = PyObject_IsTrue(keep.get());
  if (keep_open < 0) return transport_protocol_failed(t, failed);
  if (keep_open) {
    // The protocol may still write; there is nothing more to read.
    transport_set_interest(t, t->interest & ~EV_READ);
    return 0;
  }
  return transport_close(t);
}

int read_into_protocol_buffer(TransportObject* t) {
  ModuleState* st = t->loop->state;
  const char* get_buffer_failed = "Fatal error: protocol.get_buffer() call failed.";
  Ref minus_one = Ref::steal(PyLong_FromLong(-1));
  if (!minus_one) return -1;
  Ref buffer = transport_call_protocol(t, st->str_get_buffer, minus_one.get());
  if (!buffer) return transport_protocol_failed(t, get_buffer_failed);
  // asyncio checks len(buffer), then hands it to sock.recv_into().
  Py_ssize_t size = PyObject_Size(buffer.get());
  if (size < 0) return transport_protocol_failed(t, get_buffer_failed);
  if (size == 0) {
    PyErr_SetString(PyExc_RuntimeError, "get_buffer() returned an empty buffer");
    return transport_protocol_failed(t, get_buffer_failed);
  }
  Py_buffer view;
  if (recv_into_buffer(buffer.get(), &view) < 0) {
    return transport_protocol_failed(t, "Fatal read error on socket transport");
  }
  ssize_t n = retry_eintr([&] { return recv(t->fd, view.buf, view.len, 0); });
  int err = errno;
  PyBuffer_Release(&view);
  if (n < 0) {
    if (n == kSignalRaised) return -1;
    return would_block(err) ? 0 : os_error_failed(t, err, "Fatal read error on socket transport");
  }
  if (n == 0) return on_eof(t);
  Ref nbytes = Ref::steal(PyLong_FromSsize_t(n));
  if (!nbytes) return -1;
  Ref result = transport_call_protocol(t, st->str_buffer_updated, nbytes.get());
  if (!result) {
    return transport_protocol_failed(t, "Fatal error: protocol.buffer_updated() call failed.");
  }
  return 0;
}

// A bytes object with what the socket has (a large amount, said FIONREAD),
// handed to data_received() without a copy out of the loop's buffer: empty
// with n set to 0 when the caller should read the usual way instead.
// Knowing the size takes an ioctl, so it is tried only after a large read.
// *capacity: the object's, for loop_recycle_read_bytes.
Ref read_direct(TransportObject* t, ssize_t* n, Py_ssize_t* capacity) {
  *n = 0;
  *capacity = 0;
  int avail = 0;
  if (ioctl(t->fd, FIONREAD, &avail) < 0 || avail < kDirectReadMin) return Ref();
  Py_ssize_t size = avail < static_cast<int>(kReadBufferSize) ? avail : kReadBufferSize;
  Ref data = loop_take_read_bytes(t->loop, size, capacity);
  if (!data) {
    *n = -1;
    return Ref();
  }
  *n = retry_eintr([&] { return recv(t->fd, PyBytes_AS_STRING(data.get()), size, 0); });
  if (*n <= 0) {
    loop_recycle_read_bytes(t->loop, std::move(data), *capacity);
    *capacity = 0;
    return Ref();
  }
  if (loop_shrink_read_bytes(&data, capacity, *n) < 0) {
    *n = -1;
    return Ref();
  }
  return data;
}

int read_ready(TransportObject* t) {
  if (t->conn_lost) return 0;
  if (t->buffered) return read_into_protocol_buffer(t);
  LoopObject* loop = t->loop;
  SocketTransportObject* s = as_socket_transport(t);
  Ref data;
  ssize_t n = 0;
  Py_ssize_t capacity = 0;  // of a direct read's bytes object
  if (s->large_reads) {
    data = read_direct(t, &n, &capacity);
    if (n < 0 && PyErr_Occurred()) return -1;
  }
  if (!data) {
    char* buffer = loop_read_buffer(loop);
    if (buffer == nullptr) return -1;
    n = retry_eintr([&] { return recv(t->fd, buffer, kReadBufferSize, 0); });
    if (n < 0) {
      if (n == kSignalRaised) return -1;
      return would_block(errno) ? 0
                                : os_error_failed(t, errno, "Fatal read error on socket transport");
    }
    if (n == 0) return on_eof(t);
    data = loop_copy_read_bytes(loop, buffer, n, &capacity);
    if (!data) return -1;
  }
  s->large_reads = n >= kDirectReadMin;
  Ref result = transport_call_protocol(t, loop->state->str_data_received, data.get());
  if (capacity > 0) loop_recycle_read_bytes(loop, std::move(data), capacity);
  if (!result) {
    return transport_protocol_failed(t, "Fatal error: protocol.data_received() call failed.");
  }
  return 0;
}

// ---- writing (transport.cpp's write path, with the socket's rules) ----

int write_failed(TransportObject* t, int err) {
  Ref exc = os_error(err);
  if (!exc) return -1;
  if (transport_fatal_error(t, exc.get(), "Fatal write error on socket transport") < 0) {
    return -1;
  }
  return settle_waiter(as_socket_transport(t), t->loop->state->str_set_exception, exc.get());
}

int drained(TransportObject* t) {
  SocketTransportObject* s = as_socket_transport(t);
  if (settle_waiter(s, state_of(s)->str_set_result, Py_None) < 0) return -1;
  if (t->closing) return transport_call_connection_lost(t, Py_None);
  if (s->eof) return shutdown_write(s);
  return 0;
}

const WriteKind kSocketWrites = {
    true,   // socket: send()
    false,  // drop_while_closing: a closing socket still buffers until its buffer drains
    true,   // resume_after_each_send
    false,  // release_when_drained
    &ModuleState::warn_write_after_lost,
    write_failed,
    drained,
};

int on_ready(TransportObject* t, int events) {
  if ((events & EV_READ) && read_ready(t) < 0) return -1;
  if ((events & EV_WRITE) && (t->interest & EV_WRITE) &&
      transport_write_ready(&as_socket_transport(t)->writer, kSocketWrites) < 0) {
    return -1;
  }
  return 0;
}

int check_writable(SocketTransportObject* s, const char* method) {
  if (s->eof) {
    PyErr_Format(PyExc_RuntimeError, "Cannot call %s() after write_eof()", method);
    return -1;
  }
  if (s->empty_waiter != nullptr) {
    PyErr_Format(PyExc_RuntimeError, "unable to %s; sendfile is in progress", method);
    return -1;
  }
  return 0;
}

PyObject* SocketTransport_write(PyObject* self, PyObject* data) {
  SocketTransportObject* s = as_socket_transport(self);
  if (transport_check_thread(transport_of(s)) < 0) return nullptr;
  if (!PyBytes_Check(data) && !PyByteArray_Check(data) && !PyMemoryView_Check(data)) {
    PyErr_Format(PyExc_TypeError, "data argument must be a bytes-like object, not '%s'",
                 _PyType_Name(Py_TYPE(data)));
    return nullptr;
  }
  if (check_writable(s, "write") < 0) return nullptr;
  return done(transport_write(&s->writer, kSocketWrites, data));
}

// A buffer of writelines()'s item i, or -1 with the error asyncio's
// writelines() raises for it: b''.join()'s on 3.11, memoryview()'s later.
int writelines_item(PyObject* item, Py_ssize_t i, Py_buffer* view) {
  if (PyObject_GetBuffer(item, view, PyBUF_SIMPLE) == 0) return 0;
  if (!kPy312Writelines) {
    PyErr_Format(PyExc_TypeError, "sequence item %zd: expected a bytes-like object, %.80s found",
                 i, Py_TYPE(item)->tp_name);
  } else if (!PyObject_CheckBuffer(item)) {
    PyErr_Format(PyExc_TypeError, "memoryview: a bytes-like object is required, not '%.200s'",
                 Py_TYPE(item)->tp_name);
  }
  return -1;
}

PyObject* SocketTransport_writelines(PyObject* self, PyObject* list_of_data) {
  SocketTransportObject* s = as_socket_transport(self);
  TransportObject* t = transport_of(s);
  if (transport_check_thread(t) < 0) return nullptr;
  Ref items;
  if (kPy312Writelines) {
    // The socket transport's own: its checks, then `if not list_of_data`.
    if (check_writable(s, "writelines") < 0) return nullptr;
    int truth = PyObject_IsTrue(list_of_data);
    if (truth <= 0) return truth < 0 ? nullptr : Py_NewRef(Py_None);
    items = Ref::steal(PySequence_List(list_of_data));
  } else {
    // WriteTransport's: write(b''.join(list_of_data)).
    items = Ref::steal(PySequence_Fast(list_of_data, "can only join an iterable"));
  }
  if (!items) return nullptr;
  Py_ssize_t count = PySequence_Fast_GET_SIZE(items.get());
  // All the memory but the write buffer's first, before anything is sent.
  PyArray<Py_buffer> views;
  PyArray<struct iovec> parts;
  if (!views.reserve(static_cast<size_t>(count)) || !parts.reserve(static_cast<size_t>(count))) {
    return PyErr_NoMemory();
  }
  int rc = 0;
  for (Py_ssize_t i = 0; i < count && rc == 0; ++i) {
    Py_buffer view;
    if (writelines_item(PySequence_Fast_GET_ITEM(items.get(), i), i, &view) < 0) {
      rc = -1;
    } else {
      views.push_back(view);  // cannot fail: reserved
      if (view.len > 0) parts.push_back({view.buf, static_cast<size_t>(view.len)});
    }
  }
  if (rc == 0 && !kPy312Writelines && check_writable(s, "write") < 0) rc = -1;
  if (rc == 0 && !parts.empty() && t->conn_lost) {
    rc = transport_drop_write(t);
  } else if (rc == 0 && !parts.empty()) {
    ssize_t n = 0;
    if (s->writer.buffer.empty()) {
      struct msghdr msg = {};
      msg.msg_iov = parts.data();
      msg.msg_iovlen = parts.size() < IOV_MAX ? parts.size() : IOV_MAX;
      n = retry_eintr([&] { return sendmsg(t->fd, &msg, MSG_NOSIGNAL); });
      if (n < 0 && !would_block(errno)) {
        int err = errno;
        for (Py_buffer& v : views) PyBuffer_Release(&v);
        if (n == kSignalRaised) return nullptr;
        return done(kSocketWrites.failed(t, err));
      }
    }
    // From 3.12 on, asyncio's writelines() registers its writer anew.
    rc = transport_buffer_rest(&s->writer, parts.data(), parts.size(),
                               n > 0 ? static_cast<size_t>(n) : 0, kPy312Writelines);
  }
  for (Py_buffer& v : views) PyBuffer_Release(&v);
  return done(rc);
}

PyObject* SocketTransport_write_eof(PyObject* self, PyObject*) {
  SocketTransportObject* s = as_socket_transport(self);
  if (transport_check_thread(transport_of(s)) < 0) return nullptr;
  if (transport_of(s)->closing || s->eof) Py_RETURN_NONE;
  s->eof = true;
  if (s->writer.buffer.empty() && transport_of(s)->file != nullptr) return done(shutdown_write(s));
  Py_RETURN_NONE;
}

PyObject* SocketTransport_can_write_eof(PyObject*, PyObject*) { Py_RETURN_TRUE; }

PyObject* SocketTransport_make_empty_waiter(PyObject* self, PyObject*) {
  SocketTransportObject* s = as_socket_transport(self);
  if (s->empty_waiter != nullptr) {
    PyErr_SetString(PyExc_RuntimeError, "Empty waiter is already set");
    return nullptr;
  }
  Ref future = Ref::steal(PyObject_CallMethod(reinterpret_cast<PyObject*>(transport_of(s)->loop),
                                              "create_future", nullptr));
  if (!future) return nullptr;
  s->empty_waiter = Py_NewRef(future.get());
  if (s->writer.buffer.empty() && settle_waiter(s, state_of(s)->str_set_result, Py_None) < 0) {
    return nullptr;
  }
  return future.release();
}

PyObject* SocketTransport_reset_empty_waiter(PyObject* self, PyObject*) {
  Py_CLEAR(as_socket_transport(self)->empty_waiter);
  Py_RETURN_NONE;
}

PyObject* SocketTransport_start(PyObject* self, PyObject* waiter) {
  return done(transport_start(as_transport(self), true, waiter));
}

PyObject* get_empty_waiter(PyObject* self, void*) {
  SocketTransportObject* s = as_socket_transport(self);
  return Py_NewRef(s->empty_waiter ? s->empty_waiter : Py_None);
}

// ---- the kind ----

int after_lost(TransportObject* t) {
  SocketTransportObject* s = as_socket_transport(t);
  if (s->empty_waiter == nullptr) return 0;
  Ref error = Ref::steal(
      PyObject_CallFunction(PyExc_ConnectionError, "s", "Connection is closed by peer"));
  if (!error) return -1;
  return settle_waiter(s, state_of(s)->str_set_exception, error.get());
}

const TransportKind kSocketTransportKind = {writer_buffer_size, writer_clear_buffer, on_ready, after_lost};

// SocketTransport(loop, sock, protocol, extra, server): not yet started;
// Loop._make_socket_transport fills extra and calls _start(waiter).
PyObject* SocketTransport_new(PyTypeObject* type, PyObject* args, PyObject* kwargs) {
  PyObject *loop, *sock, *protocol, *extra, *server;
  static const char* keywords[] = {"loop", "sock", "protocol", "extra", "server", nullptr};
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOOO!O:SocketTransport",
                                   const_cast<char**>(keywords), &loop, &sock, &protocol,
                                   &PyDict_Type, &extra, &server)) {
    return nullptr;
  }
  if (transport_loop_arg(type, loop) == nullptr) return nullptr;
  int fd = PyObject_AsFileDescriptor(sock);
  if (fd < 0) return nullptr;
  SocketTransportObject* s = reinterpret_cast<SocketTransportObject*>(type->tp_alloc(type, 0));
  if (s == nullptr) return nullptr;
  new (&s->writer.buffer) PyWriteBuffer();
  if (transport_init(transport_of(s), &kSocketTransportKind, reinterpret_cast<LoopObject*>(loop), sock, fd,
                     protocol, extra, server) < 0 ||
      io_register_transport(reinterpret_cast<LoopObject*>(loop), fd,
                            reinterpret_cast<PyObject*>(s)) < 0) {
    Py_DECREF(s);
    return nullptr;
  }
  return reinterpret_cast<PyObject*>(s);
}

int SocketTransport_traverse(PyObject* self, visitproc visit, void* arg) {
  Py_VISIT(as_socket_transport(self)->empty_waiter);
  return transport_traverse(self, visit, arg);
}

int SocketTransport_clear(PyObject* self) {
  Py_CLEAR(as_socket_transport(self)->empty_waiter);
  return transport_clear(self);
}

void SocketTransport_dealloc(PyObject* self) {
  PyTypeObject* type = Py_TYPE(self);
  // Finalize while still tracked: a resurrecting finalizer needs a live, tracked object.
  if (PyObject_CallFinalizerFromDealloc(self) < 0) return;  // resurrected
  PyObject_GC_UnTrack(self);
  Py_CLEAR(as_socket_transport(self)->empty_waiter);
  transport_dealloc_common(self);
  as_socket_transport(self)->writer.buffer.~PyWriteBuffer();
  type->tp_free(self);
  Py_DECREF(type);
}

PyMethodDef socket_transport_methods[] = {
    AIOEV_TRANSPORT_METHODS,
    AIOEV_READ_METHODS,
    {"write", SocketTransport_write, METH_O, "write($self, data, /)\n--\n\nWrite bytes, buffering what the socket does not take."},
    {"writelines", SocketTransport_writelines, METH_O, "writelines($self, list_of_data, /)\n--\n\nWrite a list of bytes-like objects (one sendmsg)."},
    {"write_eof", SocketTransport_write_eof, METH_NOARGS, "write_eof($self, /)\n--\n\nShut the write side once the buffer is sent."},
    {"can_write_eof", SocketTransport_can_write_eof, METH_NOARGS, "can_write_eof($self, /)\n--\n\nTrue: sockets can half-close."},
    {"_make_empty_waiter", SocketTransport_make_empty_waiter, METH_NOARGS,
     "A future done when the write buffer is empty (sendfile)."},
    {"_reset_empty_waiter", SocketTransport_reset_empty_waiter, METH_NOARGS, "Forget the empty waiter."},
    {"_start", SocketTransport_start, METH_O, "Schedule connection_made, reading and the waiter."},
    {nullptr, nullptr, 0, nullptr},
};

PyGetSetDef socket_transport_getset[] = {
    AIOEV_TRANSPORT_GETSET,
    {"_empty_waiter", get_empty_waiter, nullptr, nullptr, nullptr},
    {nullptr, nullptr, nullptr, nullptr, nullptr},
};

PyType_Slot socket_transport_slots[] = {
    AIOEV_TRANSPORT_SLOTS(SocketTransport_new, SocketTransport_dealloc, SocketTransport_traverse, SocketTransport_clear,
                          transport_repr, socket_transport_methods, socket_transport_getset,
                          "asyncio's socket transport for TCP and Unix streams."),
};

PyType_Spec socket_transport_spec = {
    "aioev._aioev.SocketTransport",
    static_cast<int>(sizeof(SocketTransportObject)),
    0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    socket_transport_slots,
};

}  // namespace

Owned<PyTypeObject> socket_transport_type_new(PyObject* module) {
  return transport_type_new(module, &socket_transport_spec, "_FlowControlMixin");
}

}  // namespace aioev
