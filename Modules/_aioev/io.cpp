// add_reader / add_writer / remove_reader / remove_writer: one ev_io per fd,
// shared by its reader and its writer, and the guard that keeps a closed fd
// away from libev.
#include "aioev.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>

namespace aioev {

namespace {

LoopObject* as_loop(PyObject* self) { return reinterpret_cast<LoopObject*>(self); }

// selectors' _fileobj_to_fd, in two steps so that fileno() is called once
// and the errors come in asyncio's order (an invalid object before a closed
// loop, a negative fd after): the number of fileobj (an int, or what its
// fileno() returns), or empty with ValueError('Invalid file object: ...').
Ref fileobj_number(PyObject* fileobj) {
  if (PyLong_Check(fileobj)) return Ref::borrow(fileobj);
  Ref fileno = Ref::steal(PyObject_CallMethod(fileobj, "fileno", nullptr));
  Ref number = fileno ? Ref::steal(PyNumber_Long(fileno.get())) : Ref();
  if (number) return number;
  if (PyErr_ExceptionMatches(PyExc_AttributeError) || PyErr_ExceptionMatches(PyExc_TypeError) ||
      PyErr_ExceptionMatches(PyExc_ValueError)) {
    PyErr_Clear();
    PyErr_Format(PyExc_ValueError, "Invalid file object: %R", fileobj);
  }
  return Ref();
}

// The fd that number names; -1 with ValueError('Invalid file descriptor').
int checked_fd(PyObject* number) {
  long fd = PyLong_AsLong(number);
  if (fd == -1 && PyErr_Occurred()) return -1;
  if (fd < 0 || fd > INT32_MAX) {
    PyErr_Format(PyExc_ValueError, "Invalid file descriptor: %ld", fd);
    return -1;
  }
  return static_cast<int>(fd);
}

void io_cb(struct ev_loop*, ev_io* w, int revents);

// Starts, changes or stops the slot's watcher to match its reader and writer.
void slot_update(LoopObject* loop, int fd, FdSlot* slot) {
  int want = (slot->reader ? EV_READ : 0) | (slot->writer ? EV_WRITE : 0) |
             (slot->transport ? slot->transport_events : 0);
  bool active = ev_is_active(&slot->io);
  if (active && (slot->io.events & (EV_READ | EV_WRITE)) == want) return;
  if (active) {
    ev_io_stop(loop->ev, &slot->io);
    loop->io_active--;
  }
  if (want != 0) {
    ev_io_set(&slot->io, fd, want);
    ev_io_start(loop->ev, &slot->io);
    loop->io_active++;
    loop->fds.mark_changed(fd, slot);
  }
}

// Hands a handle that was a reader or writer to the ready queue, where a
// cancelled one is simply dropped: no Python code runs inside libev.
void retire(LoopObject* loop, PyObject* handle) {
  if (!loop->ready.push_back(handle)) {
    // Out of memory: leaking one handle beats running Python code here.
    loop->loop_error = true;
    PyErr_NoMemory();
  }
}

void queue_or_drop(LoopObject* loop, int fd, FdSlot* slot, PyObject** which) {
  HandleObject* h = reinterpret_cast<HandleObject*>(*which);
  if (h->cancelled) {
    // asyncio removes a cancelled reader or writer when its fd fires.
    *which = nullptr;
    slot_update(loop, fd, slot);
    retire(loop, reinterpret_cast<PyObject*>(h));
    return;
  }
  Py_INCREF(h);
  retire(loop, reinterpret_cast<PyObject*>(h));
}

void io_cb(struct ev_loop*, ev_io* w, int revents) {
  FdSlot* slot = reinterpret_cast<FdSlot*>(w);
  LoopObject* loop = slot->loop;
  if (revents & EV_ERROR) {
    // libev stopped the watcher (the fd went bad): wake both sides, whose
    // next system call reports the error, and watch no more.
    loop->io_active--;
    revents |= EV_READ | EV_WRITE;
  }
  loop->io_fired.emplace_back(slot, revents);
}

bool slot_unused(const FdSlot* slot) {
  return slot->reader == nullptr && slot->writer == nullptr && slot->transport == nullptr;
}

PyObject* add_callback(PyObject* self, PyObject* const* args, Py_ssize_t nargs, bool reader) {
  LoopObject* loop = as_loop(self);
  const char* method = reader ? "add_reader" : "add_writer";
  if (nargs < 2) {
    PyErr_Format(PyExc_TypeError, "%s() missing required arguments: 'fd' and 'callback'",
                 method);
    return nullptr;
  }
  Ref number = fileobj_number(args[0]);
  if (!number || loop_check_closed(loop) < 0) return nullptr;
  int fd = checked_fd(number.get());
  if (fd < 0) return nullptr;
  // Refuse what epoll refuses, with its errors (asyncio's selector raises
  // them): a closed fd is EBADF, a regular file or directory EPERM.
  struct stat st;
  if (fstat(fd, &st) < 0) return PyErr_SetFromErrno(PyExc_OSError);
  if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)) {
    errno = EPERM;
    return PyErr_SetFromErrno(PyExc_OSError);
  }
  HandleObject* h = handle_new(loop, false, args[1], args + 2, nargs - 2, nullptr);
  if (h == nullptr) return nullptr;
  io_register(loop, fd, reader, h);
  return reinterpret_cast<PyObject*>(h);
}

PyObject* remove_callback(PyObject* self, PyObject* fileobj, bool reader) {
  LoopObject* loop = as_loop(self);
  Ref number = fileobj_number(fileobj);
  if (!number) return nullptr;
  if (loop->closed) Py_RETURN_FALSE;
  int fd = checked_fd(number.get());
  if (fd < 0) return nullptr;
  return PyBool_FromLong(io_unregister(loop, fd, reader));
}

}  // namespace

void io_register(LoopObject* loop, int fd, bool reader, HandleObject* h) {
  FdSlot* slot = loop->fds.get_or_create(fd);
  if (slot->loop == nullptr) {
    ev_io_init(&slot->io, io_cb, fd, EV_READ);
    slot->loop = loop;
  }
  PyObject** which = reader ? &slot->reader : &slot->writer;
  PyObject* old = *which;
  *which = Py_NewRef(reinterpret_cast<PyObject*>(h));
  slot_update(loop, fd, slot);
  if (old != nullptr) {
    handle_cancel(reinterpret_cast<HandleObject*>(old));
    Py_DECREF(old);
  }
}

bool io_unregister(LoopObject* loop, int fd, bool reader) {
  FdSlot* slot = loop->fds.find(fd);
  if (slot == nullptr) return false;
  PyObject** which = reader ? &slot->reader : &slot->writer;
  PyObject* old = *which;
  *which = nullptr;
  slot_update(loop, fd, slot);
  if (slot_unused(slot)) loop->fds.erase(fd);
  if (old == nullptr) return false;
  handle_cancel(reinterpret_cast<HandleObject*>(old));
  Py_DECREF(old);
  return true;
}

PyObject* loop_add_reader(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
  return add_callback(self, args, nargs, true);
}
PyObject* loop_add_writer(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
  return add_callback(self, args, nargs, false);
}
PyObject* loop_remove_reader(PyObject* self, PyObject* fileobj) {
  return remove_callback(self, fileobj, true);
}
PyObject* loop_remove_writer(PyObject* self, PyObject* fileobj) {
  return remove_callback(self, fileobj, false);
}

void io_queue_fired(LoopObject* loop) {
  // libev runs the callbacks of one poll last-reported first; asyncio's
  // selector hands the callbacks on in the order the kernel reported them.
  auto& fired = loop->io_fired;
  for (size_t i = fired.size(); i-- > 0;) {
    FdSlot* slot = fired[i].first;
    int revents = fired[i].second;
    int fd = slot->io.fd;
    if ((revents & EV_READ) && slot->reader) queue_or_drop(loop, fd, slot, &slot->reader);
    if ((revents & EV_WRITE) && slot->writer) queue_or_drop(loop, fd, slot, &slot->writer);
    if (slot->transport != nullptr && (revents & slot->transport_events)) {
      transport_queue(loop, slot->transport, revents & slot->transport_events);
    }
  }
  fired.clear();
}

void io_check_changed(LoopObject* loop) {
  loop->fds.take_changed([&](int fd, FdSlot& slot) {
    if (!ev_is_active(&slot.io)) return;
    if (fcntl(fd, F_GETFD) == -1 && errno == EBADF) {
      // Closed since it was registered: epoll_ctl would fail and Debian's
      // libev would abort. The callbacks stay registered but never fire,
      // as with asyncio's selector, until the fd is registered again.
      ev_io_stop(loop->ev, &slot.io);
      loop->io_active--;
    }
  });
}

void io_release_all(LoopObject* loop) {
  std::vector<PyObject*> handles;
  loop->fds.for_each([&](int fd, FdSlot& slot) {
    if (ev_is_active(&slot.io)) {
      ev_io_stop(loop->ev, &slot.io);
      loop->io_active--;
    }
    if (slot.reader) handles.push_back(slot.reader);
    if (slot.writer) handles.push_back(slot.writer);
    if (slot.transport) handles.push_back(slot.transport);
    slot.reader = slot.writer = slot.transport = nullptr;
    slot.transport_events = 0;
    (void)fd;
  });
  loop->fds.take_changed([](int, FdSlot&) {});
  for (PyObject* h : handles) Py_DECREF(h);
}

int io_traverse(LoopObject* loop, visitproc visit, void* arg) {
  int rc = 0;
  loop->fds.for_each([&](int, FdSlot& slot) {
    if (rc == 0 && slot.reader) rc = visit(slot.reader, arg);
    if (rc == 0 && slot.writer) rc = visit(slot.writer, arg);
    if (rc == 0 && slot.transport) rc = visit(slot.transport, arg);
  });
  return rc;
}

void io_set_transport_interest(LoopObject* loop, int fd, PyObject* transport, int events) {
  FdSlot* slot = events ? loop->fds.get_or_create(fd) : loop->fds.find(fd);
  if (slot == nullptr) return;
  if (slot->loop == nullptr) {
    ev_io_init(&slot->io, io_cb, fd, EV_READ);
    slot->loop = loop;
  }
  PyObject* released = nullptr;
  if (events == 0) {
    if (slot->transport != transport) return;  // not this transport's slot
    released = slot->transport;
    slot->transport = nullptr;
  } else if (slot->transport != transport) {
    released = slot->transport;
    slot->transport = Py_NewRef(transport);
  }
  slot->transport_events = events;
  slot_update(loop, fd, slot);
  if (slot_unused(slot)) loop->fds.erase(fd);
  Py_XDECREF(released);
}

}  // namespace aioev
