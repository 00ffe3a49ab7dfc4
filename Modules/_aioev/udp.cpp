// DatagramTransport: asyncio's datagram transport for UDP (IPv4, IPv6) and
// Unix datagram sockets.
//
// Datagrams go through the socket object's own recvfrom/sendto/send, which
// know every address family Python does; what is queued is the datagram
// and its address, as asyncio queues them. An exact socket.socket of
// AF_INET or AF_INET6 (most UDP) is read and written here instead, with
// the address converted as socket's recvfrom converts it: see read_inet.
// The rest of a transport's life is transport.cpp's.
#include "transport.h"

#include "args.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include <new>

namespace aioev {

namespace {

constexpr size_t kHeaderBytes = kPy313Datagrams ? 8 : 0;

struct Datagram {
  PyObject* data;  // bytes
  PyObject* addr;  // the address or None
};

using DatagramQueue = ReadyQueue<Datagram, PyRawAllocator>;

struct DatagramObject {
  TransportObject base;
  DatagramQueue queue;
  size_t buffer_size;
  PyObject* address;  // the connected address, or nullptr
  // An exact socket.socket of AF_INET or AF_INET6: no subclass method to
  // honour, no address family but the two read_inet converts.
  bool inet;
  // The last sender's address as recvfrom() gave it, and as Python shows
  // it (nullptr before the first): the next datagram from the same sender
  // gets the same tuple, and a reply sent to that tuple needs no parsing.
  socklen_t from_len;
  sockaddr_storage from;
  PyObject* from_addr;
};

DatagramObject* as_datagram(PyObject* self) { return reinterpret_cast<DatagramObject*>(self); }
DatagramObject* as_datagram(TransportObject* t) { return reinterpret_cast<DatagramObject*>(t); }

// asyncio sends with send() when extra['peername'] is set, else sendto().
bool connected(TransportObject* t) {
  PyObject* peer = PyDict_GetItemWithError(t->extra, t->loop->state->str_peername);
  return peer != nullptr && PyObject_IsTrue(peer) == 1;
}

// On an inet socket: send(), or (to_sender) sendto() the last sender, the
// one from_addr shows, with socket.socket's own audit event and errors. A
// result, or nullptr with the OSError set.
Ref send_inet(DatagramObject* d, PyObject* data, bool to_sender) {
  TransportObject* t = &d->base;
  if (to_sender && PySys_Audit("socket.sendto", "OO", t->file, d->from_addr) < 0) return Ref();
  Py_buffer view;
  if (PyObject_GetBuffer(data, &view, PyBUF_SIMPLE) < 0) return Ref();
  ssize_t n = retry_eintr([&] {
    return to_sender ? sendto(t->fd, view.buf, view.len, 0,
                              reinterpret_cast<const sockaddr*>(&d->from), d->from_len)
                     : send(t->fd, view.buf, view.len, 0);
  });
  int err = errno;
  PyBuffer_Release(&view);
  if (n == kSignalRaised) return Ref();
  if (n < 0) {
    errno = err;
    return Ref::steal(PyErr_SetFromErrno(PyExc_OSError));
  }
  return Ref::steal(PyLong_FromSsize_t(n));
}

// sock.send(data) or sock.sendto(data, addr), as asyncio chooses.
Ref send_one(TransportObject* t, PyObject* data, PyObject* addr) {
  ModuleState* st = t->loop->state;
  DatagramObject* d = as_datagram(t);
  if (connected(t)) {
    return d->inet ? send_inet(d, data, false) : call_method(t->file, st->str_send, data);
  }
  if (PyErr_Occurred()) return Ref();
  if (d->inet && addr == d->from_addr && addr != nullptr) {
    return send_inet(d, data, true);
  }
  return call_method(t->file, st->str_sendto, data, addr);
}

// An OSError from reading or sending goes to protocol.error_received();
// anything else is fatal.
// Errors from error_received() itself propagate, as in asyncio.
int io_failed(TransportObject* t, const char* message) {
  if (PyErr_ExceptionMatches(PyExc_OSError)) {
    Ref exc = fetch_exception();
    // asyncio calls it from its `except OSError` clause.
    Ref result = call_method_handling(exc.get(), t->protocol, t->loop->state->str_error_received,
                                      exc.get());
    return result ? 0 : -1;
  }
  return transport_protocol_failed(t, message);
}

void drop(Datagram& d) {
  Py_XDECREF(d.data);
  Py_XDECREF(d.addr);
}

// socket.socket's form of an AF_INET or AF_INET6 address: (host, port) or
// (host, port, flowinfo, scope_id), the host as inet_ntop writes it.
Ref inet_address(const sockaddr_storage& from, socklen_t len) {
  char host[INET6_ADDRSTRLEN];
  if (len == 0) return Ref::borrow(Py_None);
  if (from.ss_family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&from);
    if (inet_ntop(AF_INET, &a->sin_addr, host, sizeof host) == nullptr) {
      return Ref::steal(PyErr_SetFromErrno(PyExc_OSError));
    }
    return Ref::steal(Py_BuildValue("(si)", host, ntohs(a->sin_port)));
  }
  if (from.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&from);
    if (inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host) == nullptr) {
      return Ref::steal(PyErr_SetFromErrno(PyExc_OSError));
    }
    return Ref::steal(Py_BuildValue("(siII)", host, ntohs(a->sin6_port),
                                    ntohl(a->sin6_flowinfo), a->sin6_scope_id));
  }
  PyErr_Format(PyExc_OSError, "unexpected address family %d", from.ss_family);
  return Ref();
}

// The sender's address: the last one's tuple when it is the same sender.
Ref sender_address(DatagramObject* d, const sockaddr_storage& from, socklen_t len) {
  if (d->from_addr != nullptr && len == d->from_len && memcmp(&from, &d->from, len) == 0) {
    return Ref::borrow(d->from_addr);
  }
  Ref addr = inet_address(from, len);
  if (addr && len <= sizeof d->from) {
    memcpy(&d->from, &from, len);
    d->from_len = len;
    Py_XSETREF(d->from_addr, Py_NewRef(addr.get()));
  }
  return addr;
}

constexpr const char* kReadFailed = "Fatal read error on datagram transport";

// What socket.recvfrom(max_datagram) would do, into the loop's buffer.
int read_inet(DatagramObject* d) {
  TransportObject* t = &d->base;
  LoopObject* loop = t->loop;
  char* buffer = loop_read_buffer(loop);
  if (buffer == nullptr) return -1;
  sockaddr_storage from;
  socklen_t len = sizeof from;
  ssize_t n = retry_eintr([&] {
    len = sizeof from;
    return recvfrom(t->fd, buffer, kReadBufferSize, 0, reinterpret_cast<sockaddr*>(&from), &len);
  });
  if (n < 0) {
    if (n == kSignalRaised) return -1;
    int err = errno;
    if (would_block(err)) return 0;
    errno = err;
    PyErr_SetFromErrno(PyExc_OSError);
    return io_failed(t, kReadFailed);
  }
  Py_ssize_t capacity = 0;
  Ref data = loop_copy_read_bytes(loop, buffer, n, &capacity);
  if (!data) return -1;
  Ref addr = sender_address(d, from, len);
  if (!addr) return -1;
  Ref received =
      transport_call_protocol(t, loop->state->str_datagram_received, data.get(), addr.get());
  if (capacity > 0) loop_recycle_read_bytes(loop, std::move(data), capacity);
  return received ? 0 : -1;
}

int read_ready(TransportObject* t) {
  if (t->conn_lost) return 0;
  if (as_datagram(t)->inet) return read_inet(as_datagram(t));
  ModuleState* st = t->loop->state;
  Ref result = call_method(t->file, st->str_recvfrom, st->max_datagram);
  if (!result) {
    if (would_block_error()) {
      PyErr_Clear();
      return 0;
    }
    return io_failed(t, kReadFailed);
  }
  if (!PyTuple_Check(result.get()) || PyTuple_GET_SIZE(result.get()) != 2) {
    PyErr_SetString(PyExc_TypeError, "recvfrom() must return (data, address)");
    return -1;
  }
  Ref received = transport_call_protocol(t, st->str_datagram_received,
                                         PyTuple_GET_ITEM(result.get(), 0),
                                         PyTuple_GET_ITEM(result.get(), 1));
  return received ? 0 : -1;
}

int write_ready(TransportObject* t) {
  DatagramObject* d = as_datagram(t);
  while (!d->queue.empty()) {
    Datagram next = d->queue.pop_front();
    d->buffer_size -= PyBytes_GET_SIZE(next.data) + kHeaderBytes;
    Ref sent = send_one(t, next.data, next.addr);
    if (!sent) {
      if (would_block_error()) {
        PyErr_Clear();
        // Try again later. Only a sendto() that ran inside send_one (a
        // socket subclass) can have filled the room the pop left.
        if (AIOEV_UNLIKELY(!d->queue.push_front(next))) {
          drop(next);
          PyErr_NoMemory();
          return transport_protocol_failed(t, "Fatal write error on datagram transport");
        }
        d->buffer_size += PyBytes_GET_SIZE(next.data) + kHeaderBytes;
        break;
      }
      drop(next);
      return io_failed(t, "Fatal write error on datagram transport");
    }
    drop(next);
  }
  if (transport_maybe_resume_protocol(t) < 0) return -1;  // may queue more
  if (!d->queue.empty()) return 0;
  transport_set_interest(t, t->interest & ~EV_WRITE);
  if (t->closing) return transport_call_connection_lost(t, Py_None);
  return 0;
}

int on_ready(TransportObject* t, int events) {
  if ((events & EV_READ) && read_ready(t) < 0) return -1;
  if ((events & EV_WRITE) && (t->interest & EV_WRITE) && write_ready(t) < 0) return -1;
  return 0;
}

// sendto(data, addr=None), with the messages of asyncio's selector
// datagram transport, whose method it is there.
const char* const kSendtoNames[] = {"data", "addr"};
const ArgSpec kSendtoArgs = {"_SelectorDatagramTransport.sendto", ArgStyle::kPython, 2, 2, 0, 1,
                             false, kSendtoNames, nullptr};

PyObject* Datagram_sendto(PyObject* self, PyObject* const* args, Py_ssize_t nargs,
                          PyObject* kwnames) {
  PyObject* values[2] = {nullptr, Py_None};
  if (!parse_args(nullptr, kSendtoArgs, args, nargs, kwnames, values)) return nullptr;
  PyObject* data = values[0];
  PyObject* addr = values[1];
  DatagramObject* d = as_datagram(self);
  TransportObject* t = &d->base;
  if (transport_check_thread(t) < 0) return nullptr;
  if (!PyBytes_Check(data) && !PyByteArray_Check(data) && !PyMemoryView_Check(data)) {
    PyErr_Format(PyExc_TypeError, "data argument must be a bytes-like object, not '%s'",
                 _PyType_Name(Py_TYPE(data)));
    return nullptr;
  }
  if (!kPy313Datagrams) {
    Py_ssize_t len = PyObject_Length(data);
    if (len < 0) return nullptr;
    if (len == 0) Py_RETURN_NONE;
  }
  Ref target = Ref::borrow(addr);
  if (d->address != nullptr && PyObject_IsTrue(d->address) == 1) {
    int same = addr == Py_None ? 1 : PyObject_RichCompareBool(addr, d->address, Py_EQ);
    if (same < 0) return nullptr;
    if (!same) {
      PyErr_Format(PyExc_ValueError, "Invalid address: must be None or %S", d->address);
      return nullptr;
    }
    target = Ref::borrow(d->address);
  }
  if (t->conn_lost && d->address != nullptr) return done(transport_drop_write(t));
  if (t->file == nullptr) Py_RETURN_NONE;  // connection_lost has run
  bool first = d->queue.empty();
  if (first) {
    Ref sent = send_one(t, data, target.get());
    if (sent) Py_RETURN_NONE;
    if (!would_block_error()) return done(io_failed(t, "Fatal write error on datagram transport"));
    PyErr_Clear();
  }
  // What is queued must not change: keep a bytes copy. A datagram that
  // cannot be queued is not sent at all (MemoryError), nor waited for.
  PyObject* copy = PyBytes_FromObject(data);
  if (copy == nullptr) return nullptr;
  Datagram item{copy, Py_NewRef(target.get())};
  if (!d->queue.push_back(item)) {
    drop(item);
    return PyErr_NoMemory();
  }
  if (first && transport_watch(t, EV_WRITE) < 0) {
    Datagram undone = d->queue.pop_front();  // the only one
    drop(undone);
    return nullptr;
  }
  d->buffer_size += PyBytes_GET_SIZE(copy) + kHeaderBytes;
  return done(transport_maybe_pause_protocol(t));
}

PyObject* Datagram_start(PyObject* self, PyObject* waiter) {
  return done(transport_start(as_transport(self), true, waiter));
}

PyObject* get_address(PyObject* self, void*) {
  DatagramObject* d = as_datagram(self);
  return Py_NewRef(d->address ? d->address : Py_None);
}

size_t buffer_size(TransportObject* t) { return as_datagram(t)->buffer_size; }

void clear_buffer(TransportObject* t) {
  DatagramObject* d = as_datagram(t);
  DatagramQueue queue;
  queue.swap(d->queue);
  d->buffer_size = 0;
  while (!queue.empty()) {
    Datagram item = queue.pop_front();
    drop(item);
  }
}

const TransportKind kDatagramKind = {buffer_size, clear_buffer, on_ready, nullptr};

// DatagramTransport(loop, sock, protocol, address, extra): not yet started.
PyObject* Datagram_new(PyTypeObject* type, PyObject* args, PyObject* kwargs) {
  PyObject *loop, *sock, *protocol, *address, *extra;
  static const char* keywords[] = {"loop", "sock", "protocol", "address", "extra", nullptr};
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOOOO!:DatagramTransport",
                                   const_cast<char**>(keywords), &loop, &sock, &protocol,
                                   &address, &PyDict_Type, &extra)) {
    return nullptr;
  }
  if (transport_loop_arg(type, loop) == nullptr) return nullptr;
  int fd = PyObject_AsFileDescriptor(sock);
  if (fd < 0) return nullptr;
  DatagramObject* d = reinterpret_cast<DatagramObject*>(type->tp_alloc(type, 0));
  if (d == nullptr) return nullptr;
  new (&d->queue) DatagramQueue();
  d->address = address == Py_None ? nullptr : Py_NewRef(address);
  sockaddr_storage own;
  socklen_t own_len = sizeof own;
  d->inet = Py_IS_TYPE(sock, reinterpret_cast<PyTypeObject*>(reinterpret_cast<LoopObject*>(loop)->state->socket_type)) &&
            getsockname(fd, reinterpret_cast<sockaddr*>(&own), &own_len) == 0 &&
            (own.ss_family == AF_INET || own.ss_family == AF_INET6);
  if (transport_init(&d->base, &kDatagramKind, reinterpret_cast<LoopObject*>(loop), sock, fd,
                     protocol, extra, Py_None) < 0 ||
      io_register_transport(reinterpret_cast<LoopObject*>(loop), fd,
                            reinterpret_cast<PyObject*>(d)) < 0) {
    Py_DECREF(d);
    return nullptr;
  }
  return reinterpret_cast<PyObject*>(d);
}

int Datagram_traverse(PyObject* self, visitproc visit, void* arg) {
  DatagramObject* d = as_datagram(self);
  Py_VISIT(d->address);
  Py_VISIT(d->from_addr);
  for (size_t i = 0; i < d->queue.size(); ++i) Py_VISIT(d->queue.at(i).addr);
  return transport_traverse(self, visit, arg);
}

int Datagram_clear(PyObject* self) {
  Py_CLEAR(as_datagram(self)->address);
  Py_CLEAR(as_datagram(self)->from_addr);
  clear_buffer(as_transport(self));
  return transport_clear(self);
}

void Datagram_dealloc(PyObject* self) {
  PyTypeObject* type = Py_TYPE(self);
  // Finalize while still tracked: a resurrecting finalizer needs a live, tracked object.
  if (PyObject_CallFinalizerFromDealloc(self) < 0) return;  // resurrected
  PyObject_GC_UnTrack(self);
  Datagram_clear(self);
  transport_dealloc_common(self);
  as_datagram(self)->queue.~DatagramQueue();
  type->tp_free(self);
  Py_DECREF(type);
}

PyMethodDef datagram_methods[] = {
    AIOEV_TRANSPORT_METHODS,
    AIOEV_READ_METHODS,
    {"sendto", AIOEV_CFUNC(Datagram_sendto), METH_FASTCALL | METH_KEYWORDS,
     "sendto($self, /, data, addr=None)\n--\n\nSend data to addr (or the connected address), queueing it if the socket is full."},
    {"_start", Datagram_start, METH_O, "Schedule connection_made, reading and the waiter."},
    {nullptr, nullptr, 0, nullptr},
};

PyGetSetDef datagram_getset[] = {
    AIOEV_TRANSPORT_GETSET,
    {"_address", get_address, nullptr, nullptr, nullptr},
    {nullptr, nullptr, nullptr, nullptr, nullptr},
};

PyType_Slot datagram_slots[] = {
    AIOEV_TRANSPORT_SLOTS(Datagram_new, Datagram_dealloc, Datagram_traverse, Datagram_clear,
                          transport_repr, datagram_methods, datagram_getset,
                          "asyncio's datagram transport for UDP and Unix datagrams."),
};

PyType_Spec datagram_spec = {
    "aioev._aioev.DatagramTransport",
    static_cast<int>(sizeof(DatagramObject)),
    0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    datagram_slots,
};

}  // namespace

Owned<PyTypeObject> datagram_type_new(PyObject* module) {
  return transport_type_new(module, &datagram_spec, "_FlowControlMixin, DatagramTransport");
}

}  // namespace aioev
