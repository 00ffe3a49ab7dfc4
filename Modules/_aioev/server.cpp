// The accept loop behind a server's listening socket: Loop._accept_connection,
// the reader that _start_serving (Lib/aioev/_server.py) registers. Each
// readiness accepts up to `backlog` connections, as asyncio's selector loop
// does. A plain connection gets its protocol and socket transport in the
// next iteration (_accepted_connection, a Handle where asyncio makes a task),
// a TLS one a task of asyncio's path (_accept_connection2, over SSLProtocol).
#include "aioev.h"

#include <errno.h>
#include <limits.h>
#include <unistd.h>

namespace aioev {

namespace {

ModuleState* server_state(PyObject* loop) { return reinterpret_cast<LoopObject*>(loop)->state; }

// Whether the accept error just raised means the listening socket is out
// of something for now (asyncio retries after ACCEPT_RETRY_DELAY).
bool out_of_resource(PyObject* exc) {
  if (!PyObject_TypeCheck(exc, reinterpret_cast<PyTypeObject*>(PyExc_OSError))) return false;
  PyObject* number = reinterpret_cast<PyOSErrorObject*>(exc)->myerrno;
  if (number == nullptr || !PyLong_Check(number)) return false;
  long err = PyLong_AsLong(number);
  return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM;
}

// The listening socket's arguments, in _start_serving's order.
struct Listener {
  PyObject* protocol_factory;
  PyObject* sock;
  PyObject* sslcontext;
  PyObject* server;
  PyObject* backlog;
  PyObject* handshake_timeout;
  PyObject* shutdown_timeout;
};

// asyncio's answer to running out of fds: tell the exception handler, stop
// watching the socket (it stays readable) and serve again after a pause.
// asyncio does this for each of the backlog attempts left; once is enough.
int pause_accepting(PyObject* self, const Listener& l, PyObject* exc) {
  ModuleState* st = reinterpret_cast<LoopObject*>(self)->state;
  ModuleState* ss = st;
  Ref context = Ref::steal(PyDict_New());
  Ref message = Ref::steal(PyUnicode_FromString("socket.accept() out of system resource"));
  Ref wrapped = Ref::steal(PyObject_CallOneArg(ss->transport_socket_type, l.sock));
  if (!context || !message || !wrapped ||
      PyDict_SetItem(context.get(), st->str_message, message.get()) < 0 ||
      PyDict_SetItem(context.get(), st->str_exception, exc) < 0 ||
      PyDict_SetItem(context.get(), ss->str_socket, wrapped.get()) < 0 ||
      loop_call_exception_handler(st, self, context.get(), exc) < 0) {
    return -1;
  }
  Ref fileno = call_method(l.sock, st->str_fileno);
  if (!fileno) return -1;
  Ref removed = Ref::steal(loop_remove_reader(self, fileno.get()));
  if (!removed) return -1;
  // Read now, as asyncio reads it: a program (or a test) may change it.
  Ref constants = Ref::steal(PyImport_ImportModule("asyncio.constants"));
  Ref delay = constants ? Ref::steal(PyObject_GetAttrString(constants.get(), "ACCEPT_RETRY_DELAY"))
                        : Ref();
  Ref start = delay ? Ref::steal(PyObject_GetAttr(self, ss->str_start_serving)) : Ref();
  if (!start) return -1;
  PyObject* args[] = {self, delay.get(), start.get(), l.protocol_factory, l.sock, l.sslcontext,
                      l.server, l.backlog, l.handshake_timeout, l.shutdown_timeout};
  Ref timer = Ref::steal(PyObject_VectorcallMethod(
      ss->str_call_later, args, 10 | PY_VECTORCALL_ARGUMENTS_OFFSET, nullptr));
  return timer ? 0 : -1;
}

// sock.accept(): conn and addr, or false with an exception set. A
// socket.socket takes the C path (_socket's _accept, then the new socket
// made as socket.accept() makes it, of the listener's family, type and
// proto: kind); for a subclass (kind is nullptr) its own accept() is called.
bool accept_one(ModuleState* ss, PyObject* sock, PyObject* const* kind, Ref* conn, Ref* addr) {
  bool plain = kind != nullptr;
  Ref pair = call_method(sock, plain ? ss->str_accept_raw : ss->str_accept);
  if (!pair) return false;
  if (!PyTuple_Check(pair.get()) || PyTuple_GET_SIZE(pair.get()) != 2) {
    PyErr_SetString(PyExc_TypeError, "accept() did not return a pair");
    return false;
  }
  *addr = Ref::borrow(PyTuple_GET_ITEM(pair.get(), 1));
  if (!plain) {
    *conn = Ref::borrow(PyTuple_GET_ITEM(pair.get(), 0));
    return true;
  }
  PyObject* fd = PyTuple_GET_ITEM(pair.get(), 0);
  PyObject* args[] = {kind[0], kind[1], kind[2], fd};
  *conn = Ref::steal(PyObject_Vectorcall(ss->socket_type, args, 4, nullptr));
  if (*conn) return true;
  // Not left open, whatever went wrong (socket.accept() would leak it).
  ErrorGuard raised;
  long number = PyLong_Check(fd) ? PyLong_AsLong(fd) : -1;
  if (number >= 0 && number <= INT_MAX) close(static_cast<int>(number));
  return false;
}

}  // namespace

PyObject* loop_accept_connection(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
  if (nargs < 2 || nargs > 7) {
    PyErr_Format(PyExc_TypeError, "_accept_connection() takes from 2 to 7 arguments (%zd given)",
                 nargs);
    return nullptr;
  }
  LoopObject* loop = reinterpret_cast<LoopObject*>(self);
  ModuleState* st = loop->state;
  ModuleState* ss = server_state(self);
  Listener l = {args[0], args[1], Py_None, Py_None, ss->default_backlog, Py_None, Py_None};
  PyObject** optional[] = {&l.sslcontext, &l.server, &l.backlog, &l.handshake_timeout,
                           &l.shutdown_timeout};
  for (Py_ssize_t i = 2; i < nargs; i++) *optional[i - 2] = args[i];
  Py_ssize_t backlog = PyNumber_AsSsize_t(l.backlog, nullptr);  // clamped, as range() would not mind
  if (backlog == -1 && PyErr_Occurred()) return nullptr;
  int ssl = PyObject_IsTrue(l.sslcontext);
  if (ssl < 0) return nullptr;

  // A socket.socket's family, type and proto, as ints from _socket's own
  // descriptors (socket.socket's properties make enums in Python code).
  bool plain = Py_IS_TYPE(l.sock, reinterpret_cast<PyTypeObject*>(ss->socket_type));
  PyObject* kind[3] = {nullptr, nullptr, nullptr};
  PyObject* result = Py_None;
  PyObject* members[] = {ss->member_family, ss->member_type, ss->member_proto};
  for (int i = 0; plain && result != nullptr && i < 3; i++) {
    PyObject* member = members[i];
    kind[i] = Py_TYPE(member)->tp_descr_get(member, l.sock, ss->socket_type);
    if (kind[i] == nullptr) result = nullptr;
  }
  Ref accepted_cb;  // self._accepted_connection
  for (Py_ssize_t i = 0; result != nullptr && i < backlog; i++) {
    Ref conn, addr;
    bool accepted = accept_one(ss, l.sock, plain ? kind : nullptr, &conn, &addr);
    if (accepted && load_relaxed(loop->debug)) {
      Ref text = Ref::steal(PyUnicode_FromString("%r got a new connection from %r: %r"));
      PyObject* log_args[] = {text.get(), l.server, addr.get(), conn.get()};
      Ref logged = text ? Ref::steal(PyObject_Vectorcall(st->log_debug, log_args, 4, nullptr))
                        : Ref();
      accepted = static_cast<bool>(logged);
    }
    if (accepted) {
      accepted = static_cast<bool>(call_method(conn.get(), ss->str_setblocking, Py_False));
    }
    if (!accepted) {
      if (PyErr_ExceptionMatches(PyExc_BlockingIOError) ||
          PyErr_ExceptionMatches(PyExc_InterruptedError) ||
          PyErr_ExceptionMatches(PyExc_ConnectionAbortedError)) {
        PyErr_Clear();  // none pending, or the peer gave up already
      } else if (PyErr_ExceptionMatches(PyExc_OSError)) {
        Ref exc = fetch_exception();
        if (out_of_resource(exc.get())) {
          if (pause_accepting(self, l, exc.get()) < 0) result = nullptr;
        } else {
          restore_exception(std::move(exc));  // to the loop's exception handler
          result = nullptr;
        }
      } else {
        result = nullptr;
      }
      break;
    }
    Ref extra = Ref::steal(PyDict_New());
    if (!extra || PyDict_SetItem(extra.get(), st->str_peername, addr.get()) < 0) {
      result = nullptr;
      break;
    }
    if (!ssl) {
      // Next iteration, in a copy of the context, where asyncio's task for
      // the connection would take its first step.
      if (!accepted_cb) {
        accepted_cb = Ref::steal(PyObject_GetAttr(self, ss->str_accepted_connection));
        if (!accepted_cb) {
          result = nullptr;
          break;
        }
      }
      PyObject* cb_args[] = {l.protocol_factory, conn.get(), extra.get(), l.server};
      Owned<HandleObject> h = handle_new(loop, false, accepted_cb.get(), cb_args, 4, nullptr);
      if (!h || loop_push_handle(loop, h.get()) < 0) {
        result = nullptr;
        break;
      }
      continue;
    }
    PyObject* coro_args[] = {self, l.protocol_factory, conn.get(), extra.get(), l.sslcontext,
                             l.server, l.handshake_timeout, l.shutdown_timeout};
    Ref coro = Ref::steal(PyObject_VectorcallMethod(ss->str_accept_connection2, coro_args,
                                                    8 | PY_VECTORCALL_ARGUMENTS_OFFSET, nullptr));
    Ref task = coro ? call_method(self, ss->str_create_task, coro.get()) : Ref();
    if (!task) {
      result = nullptr;
      break;
    }
  }
  for (PyObject* k : kind) Py_XDECREF(k);
  return Py_XNewRef(result);
}

// protocol_factory() and a socket transport for conn. A failure goes to
// the exception handler in debug mode only, as in asyncio: the server has
// nobody else to tell. Transport creation cannot fail later (the waiter
// asyncio awaits here is only ever set to None): no waiter is made.
PyObject* loop_accepted_connection(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
  if (nargs != 4) {
    PyErr_Format(PyExc_TypeError, "_accepted_connection() takes 4 arguments (%zd given)", nargs);
    return nullptr;
  }
  LoopObject* loop = reinterpret_cast<LoopObject*>(self);
  ModuleState* st = loop->state;
  PyObject *protocol_factory = args[0], *conn = args[1], *extra = args[2], *server = args[3];
  Ref protocol = Ref::steal(PyObject_CallNoArgs(protocol_factory));
  Ref transport;
  if (protocol) {
    PyObject* call[] = {self, conn, protocol.get(), extra, server};
    transport = Ref::steal(PyObject_VectorcallMethod(st->str_make_socket_transport, call,
                                                     3 | PY_VECTORCALL_ARGUMENTS_OFFSET,
                                                     st->transport_kwnames));
  }
  if (transport) Py_RETURN_NONE;
  if (must_propagate()) return nullptr;
  Ref exc = fetch_exception();
  if (!load_relaxed(loop->debug)) Py_RETURN_NONE;
  Ref report = Ref::steal(PyDict_New());
  Ref message =
      Ref::steal(PyUnicode_FromString("Error on transport creation for incoming connection"));
  if (!report || !message || PyDict_SetItem(report.get(), st->str_message, message.get()) < 0 ||
      PyDict_SetItem(report.get(), st->str_exception, exc.get()) < 0 ||
      (protocol && PyDict_SetItem(report.get(), st->str_protocol, protocol.get()) < 0) ||
      loop_call_exception_handler(st, self, report.get(), exc.get()) < 0) {
    return nullptr;
  }
  Py_RETURN_NONE;
}

int server_state_init(ModuleState* st) {
  // The names, imports and kwnames come with the module's (module_state.h);
  // what is left is made here.
  ModuleState* ss = st;
  ss->default_backlog = PyLong_FromLong(100);
  if (ss->default_backlog == nullptr) return -1;
  // _socket.socket's member descriptors, which socket.socket's properties wrap.
  PyObject* base = reinterpret_cast<PyObject*>(
      reinterpret_cast<PyTypeObject*>(ss->socket_type)->tp_base);
  struct {
    PyObject** slot;
    const char* name;
  } members[] = {{&ss->member_family, "family"}, {&ss->member_type, "type"},
                 {&ss->member_proto, "proto"}};
  for (auto& member : members) {
    *member.slot = base != nullptr ? PyObject_GetAttrString(base, member.name) : nullptr;
    if (*member.slot == nullptr) return -1;
    if (Py_TYPE(*member.slot)->tp_descr_get == nullptr) {
      PyErr_Format(PyExc_ImportError, "_socket.socket.%s is not a descriptor", member.name);
      return -1;
    }
  }
  return 0;
}

}  // namespace aioev
