// The sock_* fast path: sock_recv, sock_recv_into and sock_sendall on plain
// socket.socket objects, in C.
//
// Lib/aioev/_sock.py's coroutines call _sock_recv(sock, n) and friends only
// for exact socket.socket instances, whose methods cannot be replaced, so a
// system call on the fd is what sock.recv() would do; MSG_DONTWAIT keeps the
// loop from blocking whatever the socket's timeout. The call returns the
// result at once when the socket is ready, or else a Future that a
// SockWaiter completes: the waiter is the fd's reader or writer, retries the
// call on readiness, and is removed when the future is done, cancelled
// included, as asyncio's sock_* methods do.
#include "future.h"

#include <errno.h>
#include <sys/socket.h>

namespace aioev {

namespace {

enum class SockOp { kRecv, kRecvInto, kSendAll };

struct SockWaiterObject {
  PyObject_HEAD
  LoopObject* loop;
  PyObject* future;
  PyObject* sock;  // kept alive while waiting
  PyObject* handle;  // the reader or writer Handle
  Py_buffer view;  // kRecvInto, kSendAll
  Py_ssize_t size;  // kRecv: the most to receive
  Py_ssize_t sent;  // kSendAll
  int fd;
  SockOp op;
  bool has_view;
};

bool reads(SockOp op) { return op != SockOp::kSendAll; }

// sock_recv(sock, n) with n at least kDirectReadMin receives straight into
// a bytes object of n bytes and shrinks it, as socket.recv() does: a large
// message is then copied once, by the kernel. Smaller ones go through the
// loop's buffer, which costs less than a large allocation.

// The bytes object of a large recv: the one an attempt that found nothing
// to read kept, when it has this size. Keeping it spares a waiting
// sock_recv a large allocation and its release per attempt, and the C
// library's heap the shrinking and regrowing (and the page faults) that
// this churn causes.
Ref take_recv_spare(LoopObject* loop, Py_ssize_t size) {
  PyObject* spare = loop->recv_spare;
  if (spare != nullptr && PyBytes_GET_SIZE(spare) == size) {
    loop->recv_spare = nullptr;
    return Ref::steal(spare);
  }
  return Ref::steal(PyBytes_FromStringAndSize(nullptr, size));
}

// Takes bytes, never shown to Python, as the next spare; one larger than
// the loop's read buffer is released instead, so that a sock_recv(sock, n)
// with a very large n holds no memory while it waits.
void keep_recv_spare(LoopObject* loop, Ref bytes) {
  if (PyBytes_GET_SIZE(bytes.get()) > static_cast<Py_ssize_t>(kReadBufferSize)) return;
  Py_XSETREF(loop->recv_spare, bytes.release());
}

// One attempt: 1 done (*result set), 0 not ready, -1 error set.
int attempt(LoopObject* loop, SockOp op, int fd, Py_ssize_t size, Py_buffer* view,
            Py_ssize_t* sent, Ref* result) {
  // socket.recv(0) and recv_into() of an empty buffer return at once.
  if (op == SockOp::kRecv && size == 0) {
    *result = Ref::steal(PyBytes_FromStringAndSize(nullptr, 0));
    return *result ? 1 : -1;
  }
  if (op == SockOp::kRecvInto && view->len == 0) {
    *result = Ref::steal(PyLong_FromLong(0));
    return *result ? 1 : -1;
  }
  ssize_t n;
  Ref bytes;
  char* shared = nullptr;  // small reads go through the loop's buffer
  if (op == SockOp::kRecv && size < kDirectReadMin) {
    shared = loop_read_buffer(loop);
    if (shared == nullptr) return -1;
    n = retry_eintr([&] { return recv(fd, shared, size, MSG_DONTWAIT); });
  } else if (op == SockOp::kRecv) {
    bytes = take_recv_spare(loop, size);
    if (!bytes) return -1;
    n = retry_eintr([&] { return recv(fd, PyBytes_AS_STRING(bytes.get()), size, MSG_DONTWAIT); });
  } else if (op == SockOp::kRecvInto) {
    n = retry_eintr([&] { return recv(fd, view->buf, view->len, MSG_DONTWAIT); });
  } else {
    n = retry_eintr([&] {
      return send(fd, static_cast<char*>(view->buf) + *sent, view->len - *sent,
                  MSG_DONTWAIT | MSG_NOSIGNAL);
    });
  }
  if (n < 0) {
    int err = errno;
    if (bytes) keep_recv_spare(loop, std::move(bytes));
    if (n == kSignalRaised) return -1;
    if (would_block(err)) return 0;
    errno = err;
    PyErr_SetFromErrno(PyExc_OSError);
    return -1;
  }
  if (op == SockOp::kRecv) {
    if (shared != nullptr) {
      *result = Ref::steal(PyBytes_FromStringAndSize(shared, n));
      return *result ? 1 : -1;
    }
    loop_note_large_read(loop, static_cast<size_t>(n));
    if (n != size) {
      PyObject* resized = bytes.release();
      if (_PyBytes_Resize(&resized, n) < 0) return -1;  // released it
      bytes = Ref::steal(resized);
    }
    *result = std::move(bytes);
    return 1;
  }
  if (op == SockOp::kRecvInto) {
    *result = Ref::steal(PyLong_FromSsize_t(n));
    return *result ? 1 : -1;
  }
  *sent += n;
  if (*sent < view->len) return 0;
  *result = Ref::borrow(Py_None);
  return 1;
}

PyObject* SockWaiter_done(PyObject* self, PyObject*);

// Sets the waiter's future's result (ok) or exception: the loop's own
// futures (native) in C++, asyncio's through their methods.
PyObject* settle(SockWaiterObject* w, bool native, bool ok, PyObject* value) {
  if (native) {
    FutureObject* f = as_future(w->future);
    if ((ok ? future_set_result(f, value) : future_set_exception(f, value)) < 0) return nullptr;
    Py_RETURN_NONE;
  }
  ModuleState* st = w->loop->state;
  return call_method(w->future, ok ? st->str_set_result : st->str_set_exception, value).release();
}

// Called with no argument on readiness: try again, and settle the future
// when done or failed. Called with the future, it is the future's done
// callback (one object serves both, so a wait allocates no bound method).
PyObject* SockWaiter_call(PyObject* self, PyObject* args, PyObject* kwargs) {
  SockWaiterObject* w = reinterpret_cast<SockWaiterObject*>(self);
  if (kwargs != nullptr || PyTuple_GET_SIZE(args) > 1) {
    PyErr_SetString(PyExc_TypeError, "SockWaiter takes no argument or the future");
    return nullptr;
  }
  if (PyTuple_GET_SIZE(args) == 1) return SockWaiter_done(self, PyTuple_GET_ITEM(args, 0));
  ModuleState* st = w->loop->state;
  // The loop's own futures are settled in C++; asyncio's through their methods.
  bool native = Py_IS_TYPE(w->future, st->native_future_type);
  // Checked and settled under the future's lock: a cancel() from another
  // thread comes before the check or after the result.
  Ref future = Ref::borrow(w->future);  // outlives the lock
  ObjectLock lock(native ? future.get() : nullptr);
  if (native) {
    if (as_future(w->future)->fut_state != kPending) Py_RETURN_NONE;
  } else {
    Ref is_done = call_method(w->future, st->str_done);
    if (!is_done) return nullptr;
    if (is_done.get() == Py_True) Py_RETURN_NONE;
  }
  Ref result;
  int rc = attempt(w->loop, w->op, w->fd, w->size, &w->view, &w->sent, &result);
  if (rc == 0) Py_RETURN_NONE;
  if (rc > 0) return settle(w, native, true, result.get());
  if (must_propagate()) return nullptr;
  Ref exc = fetch_exception();
  return settle(w, native, false, exc.get());
}

void release_view(SockWaiterObject* w) {
  if (w->has_view) {
    PyBuffer_Release(&w->view);
    w->has_view = false;
  }
}

// The future is done (or cancelled): stop watching, unless a newer wait on
// the same fd replaced this one.
PyObject* SockWaiter_done(PyObject* self, PyObject*) {
  SockWaiterObject* w = reinterpret_cast<SockWaiterObject*>(self);
  HandleObject* h = reinterpret_cast<HandleObject*>(w->handle);
  if (h != nullptr && !load_relaxed(h->cancelled) && !w->loop->closed) {
    io_unregister(w->loop, w->fd, reads(w->op));
  }
  release_view(w);
  Py_CLEAR(w->sock);
  Py_RETURN_NONE;
}

int SockWaiter_traverse(PyObject* self, visitproc visit, void* arg) {
  SockWaiterObject* w = reinterpret_cast<SockWaiterObject*>(self);
  Py_VISIT(Py_TYPE(self));
  Py_VISIT(reinterpret_cast<PyObject*>(w->loop));
  Py_VISIT(w->future);
  Py_VISIT(w->sock);
  Py_VISIT(w->handle);
  if (w->has_view) Py_VISIT(w->view.obj);
  return 0;
}

int SockWaiter_clear(PyObject* self) {
  SockWaiterObject* w = reinterpret_cast<SockWaiterObject*>(self);
  Py_CLEAR(w->future);
  Py_CLEAR(w->sock);
  Py_CLEAR(w->handle);
  release_view(w);
  return 0;
}

void SockWaiter_dealloc(PyObject* self) {
  PyTypeObject* type = Py_TYPE(self);
  PyObject_GC_UnTrack(self);
  SockWaiter_clear(self);
  Py_CLEAR(reinterpret_cast<SockWaiterObject*>(self)->loop);
  type->tp_free(self);
  Py_DECREF(type);
}

PyMethodDef sock_waiter_methods[] = {
    {"_done", SockWaiter_done, METH_O, "The future's done callback: stop watching."},
    {nullptr, nullptr, 0, nullptr},
};

PyType_Slot sock_waiter_slots[] = {
    {Py_tp_call, reinterpret_cast<void*>(SockWaiter_call)},
    {Py_tp_dealloc, reinterpret_cast<void*>(SockWaiter_dealloc)},
    {Py_tp_traverse, reinterpret_cast<void*>(SockWaiter_traverse)},
    {Py_tp_clear, reinterpret_cast<void*>(SockWaiter_clear)},
    {Py_tp_methods, sock_waiter_methods},
    {Py_tp_doc, const_cast<char*>("Retries a sock_* call when its socket is ready.")},
    {0, nullptr},
};

PyType_Spec sock_waiter_spec = {
    "aioev._aioev.SockWaiter",
    static_cast<int>(sizeof(SockWaiterObject)),
    0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    sock_waiter_slots,
};

}  // namespace

// The registry of io.cpp answers whether a transport was made for fd; only
// then is the Python method asked (its error names the transport).
int check_no_transport(PyObject* self, PyObject* fd, PyObject* fileobj) {
  // A number no fd can have is the caller's own check to refuse.
  if (io_registered_transport_of(reinterpret_cast<LoopObject*>(self), fd) == nullptr) {
    return PyErr_Occurred() ? -1 : 0;
  }
  Ref checked = Ref::steal(
      PyObject_CallMethod(self, "_ensure_fd_no_transport", "O", fileobj ? fileobj : fd));
  return checked ? 0 : -1;
}

namespace {

// The common part: try now; else a future that a waiter completes.
PyObject* sock_call(PyObject* self, PyObject* sock, SockOp op, Py_ssize_t size, PyObject* buffer) {
  LoopObject* loop = reinterpret_cast<LoopObject*>(self);
  Ref fileno = Ref::steal(PyObject_CallMethodNoArgs(sock, loop->state->str_fileno));
  if (!fileno) return nullptr;
  int fd = PyLong_AsLong(fileno.get());
  if (fd == -1 && PyErr_Occurred()) return nullptr;
  if (fd < 0) {
    // A closed socket: its methods fail with EBADF.
    errno = EBADF;
    return PyErr_SetFromErrno(PyExc_OSError);
  }
  Py_buffer view;
  bool has_view = false;
  if (buffer != nullptr) {
    int got = op == SockOp::kRecvInto ? recv_into_buffer(buffer, &view)
                                      : PyObject_GetBuffer(buffer, &view, PyBUF_SIMPLE);
    if (got < 0) return nullptr;
    has_view = true;
  }
  Py_ssize_t sent = 0;
  Ref result;
  int rc = attempt(loop, op, fd, size, has_view ? &view : nullptr, &sent, &result);
  if (rc != 0) {
    if (has_view) PyBuffer_Release(&view);
    return result.release();  // empty unless rc > 0
  }
  // Not ready: asyncio refuses a socket that a transport owns, then waits.
  ModuleState* st = loop->state;
  Ref fd_obj = Ref::steal(PyLong_FromLong(fd));
  if (!fd_obj || check_no_transport(self, fd_obj.get()) < 0 || loop_check_closed(loop) < 0) {
    if (has_view) PyBuffer_Release(&view);
    return nullptr;
  }
  Ref future = loop_create_future(loop);
  SockWaiterObject* w =
      future ? PyObject_GC_New(SockWaiterObject, st->sock_waiter_type) : nullptr;
  if (w == nullptr) {
    if (has_view) PyBuffer_Release(&view);
    return nullptr;
  }
  w->loop = reinterpret_cast<LoopObject*>(Py_NewRef(self));
  w->future = Py_NewRef(future.get());
  w->sock = Py_NewRef(sock);
  w->handle = nullptr;
  w->view = view;
  w->has_view = has_view;
  w->size = size;
  w->sent = sent;
  w->fd = fd;
  w->op = op;
  PyObject_GC_Track(w);
  Ref waiter = Ref::steal(reinterpret_cast<PyObject*>(w));
  Owned<HandleObject> h = handle_new(loop, false, waiter.get(), nullptr, 0, nullptr);
  if (!h) return nullptr;
  HandleObject* handle = h.get();
  w->handle = reinterpret_cast<PyObject*>(h.release());
  if (io_wait(loop, fd, reads(op), handle) < 0) {
    Py_CLEAR(w->handle);  // h and the waiter would keep each other alive
    return nullptr;
  }
  if (Py_IS_TYPE(future.get(), st->native_future_type)) {
    ObjectLock lock(future.get());
    if (future_add_callback(as_future(future.get()), waiter.get(), nullptr) < 0) return nullptr;
  } else {
    Ref added = call_method(future.get(), st->str_add_done_callback, waiter.get());
    if (!added) return nullptr;
  }
  return future.release();
}

}  // namespace

int recv_into_buffer(PyObject* obj, Py_buffer* view) {
  if (PyObject_GetBuffer(obj, view, PyBUF_WRITABLE) == 0) {
    if (PyBuffer_IsContiguous(view, 'C')) return 0;
    PyBuffer_Release(view);
  }
  PyErr_Format(PyExc_TypeError,
               "recv_into() argument 1 must be read-write bytes-like object, not %.50s",
               obj == Py_None ? "None" : Py_TYPE(obj)->tp_name);
  return -1;
}

Owned<PyTypeObject> sock_waiter_type_new(PyObject* module) {
  return Owned<PyTypeObject>::steal(reinterpret_cast<PyTypeObject*>(
      PyType_FromModuleAndSpec(module, &sock_waiter_spec, nullptr)));
}

// _sock_recv(sock, n): bytes, or a Future of them.
PyObject* loop_sock_recv(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
  if (nargs != 2) {
    PyErr_SetString(PyExc_TypeError, "_sock_recv(sock, n)");
    return nullptr;
  }
  Py_ssize_t size = PyNumber_AsSsize_t(args[1], PyExc_OverflowError);
  if (size == -1 && PyErr_Occurred()) return nullptr;
  if (size < 0) {
    PyErr_SetString(PyExc_ValueError, "negative buffersize in recv");
    return nullptr;
  }
  return sock_call(self, args[0], SockOp::kRecv, size, nullptr);
}

// _sock_recv_into(sock, buf): the count received, or a Future of it.
PyObject* loop_sock_recv_into(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
  if (nargs != 2) {
    PyErr_SetString(PyExc_TypeError, "_sock_recv_into(sock, buf)");
    return nullptr;
  }
  return sock_call(self, args[0], SockOp::kRecvInto, 0, args[1]);
}

// _sock_sendall(sock, data): None when all was sent, else a Future.
PyObject* loop_sock_sendall(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
  if (nargs != 2) {
    PyErr_SetString(PyExc_TypeError, "_sock_sendall(sock, data)");
    return nullptr;
  }
  return sock_call(self, args[0], SockOp::kSendAll, 0, args[1]);
}

}  // namespace aioev
