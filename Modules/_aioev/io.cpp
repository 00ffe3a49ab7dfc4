// add_reader / add_writer / remove_reader / remove_writer: one ev_io per fd,
// shared by its reader and its writer, and the guard that keeps a closed fd
// away from libev.
#include "aioev.h"
#include "transport.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <atomic>

namespace aioev {

// ---- libev's memory ----
//
// libev aborts the process when an allocation of its own fails (ev_realloc).
// Its arrays grow in ev_io_start (one entry per fd up to the highest fd, and
// the fds changed before the next poll) and in the poll (the pending events
// and the kernel's event list, up to one per fd): none is larger than 64
// bytes per fd up to the highest fd libev has seen, counted twice for its
// doubling, plus a few pages. aioev keeps a reserve block that large,
// untouched, and libev's allocator (realloc) unmaps it and tries again when
// memory runs out; so an allocation of libev's fails only if the reserve
// does not cover it. Where MemoryError can be raised (a registration on an
// fd libev has not seen, a new loop, each poll), a missing or too small
// reserve is made first, or MemoryError raised with nothing changed.
// The reserve is mapped apart from malloc's heap (unmapping a block of
// malloc's would raise its thresholds, and the heap would keep the memory)
// and is the process's, as libev's allocator is: shared by every loop and
// interpreter. Its block and size change together under a spin lock, held
// for a few instructions and never across a system call, so that no thread
// reads the size of a mapping another has just unmapped; the size is also
// readable without the lock, for each poll's check.
namespace {

std::atomic_flag ev_reserve_lock = ATOMIC_FLAG_INIT;
void* ev_reserve_block = nullptr;           // under ev_reserve_lock
std::atomic<size_t> ev_reserve_size{0};  // written under ev_reserve_lock

void ev_reserve_acquire() {
  while (ev_reserve_lock.test_and_set(std::memory_order_acquire)) {
  }
}
void ev_reserve_release() { ev_reserve_lock.clear(std::memory_order_release); }

// Puts block (size bytes, or nullptr and 0) in the reserve's place and
// returns the block it held, whose size goes to *old_size.
void* ev_reserve_swap(void* block, size_t size, size_t* old_size) {
  ev_reserve_acquire();
  void* old = ev_reserve_block;
  *old_size = ev_reserve_size.load(std::memory_order_relaxed);
  ev_reserve_block = block;
  ev_reserve_size.store(size, std::memory_order_relaxed);
  ev_reserve_release();
  return old;
}

extern "C" void* ev_allocate(void* ptr, long size) noexcept {
  if (size == 0) {
    free(ptr);
    return nullptr;
  }
  void* fresh = realloc(ptr, static_cast<size_t>(size));
  if (AIOEV_UNLIKELY(fresh == nullptr)) {
    size_t reserve_size;
    void* reserve = ev_reserve_swap(nullptr, 0, &reserve_size);
    if (reserve != nullptr) {
      munmap(reserve, reserve_size);
      fresh = realloc(ptr, static_cast<size_t>(size));
    }
  }
  return fresh;  // nullptr: libev aborts, as it would have without aioev
}

size_t ev_reserve_needed(int fds) {
  constexpr size_t kPerFd = 64, kInternal = 128, kPages = 4 * 4096, kLeast = 64 * 1024;
  // Whole pages, as mmap maps them.
  size_t need = 2 * (static_cast<size_t>(fds) + kInternal) * kPerFd + kPages;
  need = (need + 4095) & ~static_cast<size_t>(4095);
  return need > kLeast ? need : kLeast;
}

}  // namespace

void ev_memory_init() {
  static std::atomic<bool> done{false};
  if (!done.exchange(true)) ev_set_allocator(ev_allocate);
}

int ev_memory_ready(int fds) {
  size_t need = ev_reserve_needed(fds);
  if (AIOEV_LIKELY(ev_reserve_size.load(std::memory_order_relaxed) >= need)) return 0;
  void* fresh = mmap(nullptr, need, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (fresh == MAP_FAILED) {
    PyErr_NoMemory();
    return -1;
  }
  ev_reserve_acquire();
  bool enough = ev_reserve_size.load(std::memory_order_relaxed) >= need;  // another thread's
  void* old = enough ? fresh : ev_reserve_block;
  size_t old_size = enough ? need : ev_reserve_size.load(std::memory_order_relaxed);
  if (!enough) {
    ev_reserve_block = fresh;
    ev_reserve_size.store(need, std::memory_order_relaxed);
  }
  ev_reserve_release();
  if (old != nullptr) munmap(old, old_size);
  return 0;
}

namespace {


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

// An fd beyond a C int: no registration has it (epoll's register refuses
// it with OverflowError).
constexpr int kUnregistrable = -2;

bool has_callbacks(const FdSlot* slot) { return slot->reader != nullptr || slot->writer != nullptr; }

// The fd of a registration made with fileobj itself, as selectors find a
// closed file object (its fileno() is -1) by identity; -1 if none.
int registered_fd(LoopObject* loop, PyObject* fileobj) {
  int found = -1;
  loop->fds.for_each([&](int fd, FdSlot& slot) {
    if (found < 0 && has_callbacks(&slot) && slot.fileobj == fileobj) found = fd;
  });
  return found;
}

// The fd that fileobj's number names: -1 with asyncio's error (ValueError
// for a negative one that no registration was made with; OverflowError, when
// adding, for one beyond a C int), or kUnregistrable when removing one.
int checked_fd(LoopObject* loop, PyObject* fileobj, PyObject* number, bool adding) {
  int overflow;
  long fd = PyLong_AsLongAndOverflow(number, &overflow);
  if (fd == -1 && PyErr_Occurred()) return -1;
  if (overflow > 0 || (overflow == 0 && fd > INT_MAX)) {
    if (!adding) return kUnregistrable;
    PyErr_SetString(PyExc_OverflowError, "Python int too large to convert to C int");
    return -1;
  }
  if (overflow < 0 || fd < 0) {
    int found = PyLong_Check(fileobj) ? -1 : registered_fd(loop, fileobj);
    if (found >= 0) return found;
    PyErr_Format(PyExc_ValueError, "Invalid file descriptor: %S", number);
    return -1;
  }
  return static_cast<int>(fd);
}

void io_cb(struct ev_loop*, ev_io* w, int revents);

// Before a watcher may start on fd: room in the reserve for libev's arrays
// to reach it (slot_update records how far they reach), or -1 with
// MemoryError.
int ev_room_for_fd(LoopObject* loop, int fd) {
  return AIOEV_LIKELY(fd < loop->ev_fds) ? 0 : ev_memory_ready(fd + 1);
}

// Starts, changes or stops the slot's watcher to match its reader and writer.
void slot_update(LoopObject* loop, int fd, FdSlot* slot) {
  int want = slot->stale ? 0 : (slot->reader ? EV_READ : 0) | (slot->writer ? EV_WRITE : 0);
  want |= slot->transport ? slot->transport_events : 0;
  bool active = ev_is_active(&slot->io);
  if (active && (slot->io.events & (EV_READ | EV_WRITE)) == want) return;
  if (active) {
    ev_io_stop(loop->ev, &slot->io);
    loop->io_active--;
  }
  if (want != 0) {
    ev_io_set(&slot->io, fd, want);
    ev_io_start(loop->ev, &slot->io);
    if (fd >= loop->ev_fds) loop->ev_fds = fd + 1;
    loop->io_active++;
    loop->fds.mark_changed(fd, slot);
  }
}

// Queues what a poll reported (a reader's or writer's handle, a
// transport's readiness) on the ready queue, which takes over the
// references entry holds, in the room poll_io made before the poll. No
// Python code may run while io_queue_fired walks the fired slots.
void queue_fired(LoopObject* loop, PyReadyEntry entry) {
  if (!loop->ready.push_back(entry)) {
    // Unreachable (the poll made room first); should it happen, leaking
    // one entry beats running Python code here.
    loop->loop_error = true;
    PyErr_NoMemory();
  }
}

void queue_or_drop(LoopObject* loop, int fd, FdSlot* slot, PyObject** which) {
  PyObject* h = *which;
  if (load_relaxed(reinterpret_cast<HandleObject*>(h)->cancelled)) {
    // asyncio removes a cancelled reader or writer when its fd fires. The
    // slot's reference goes to the ready queue, which drops the handle
    // unrun: releasing it here could run Python code.
    *which = nullptr;
    slot_update(loop, fd, slot);
    queue_fired(loop, PyReadyEntry::handle(h));
    return;
  }
  queue_fired(loop, PyReadyEntry::handle(Py_NewRef(h)));
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
  // Cannot fail: the poll made room for every started watcher.
  loop->io_fired.push_back(LoopObject::Fired{slot, revents});
}

// fd's slot, made (its watcher set up, not started) when missing; nullptr
// with MemoryError if it cannot be.
FdSlot* slot_for(LoopObject* loop, int fd) {
  FdSlot* slot = loop->fds.get_or_create(fd);
  if (AIOEV_UNLIKELY(slot == nullptr)) {
    PyErr_NoMemory();
    return nullptr;
  }
  if (slot->loop == nullptr) {
    ev_io_init(&slot->io, io_cb, fd, EV_READ);
    slot->loop = loop;
  }
  return slot;
}

bool slot_unused(const FdSlot* slot) {
  return slot->reader == nullptr && slot->writer == nullptr && slot->transport == nullptr &&
         slot->registered == nullptr;
}

// Whether the slot's reader and writer watch a file that is gone: st is
// fd's file now (nullptr: fd is closed). Marks the slot stale if so.
bool check_stale(FdSlot* slot, const struct stat* st) {
  if (!slot->stale && (st == nullptr || st->st_dev != slot->dev || st->st_ino != slot->ino)) {
    slot->stale = true;
  }
  return slot->stale;
}

// Takes the slot's reader and writer away (cancelled) and forgets the slot
// if nothing else uses it.
void drop_callbacks(LoopObject* loop, int fd, FdSlot* slot) {
  PyObject* reader = slot->reader;
  PyObject* writer = slot->writer;
  slot->reader = slot->writer = nullptr;
  slot->stale = false;
  Ref fileobj = Ref::steal(slot->fileobj);
  slot->fileobj = nullptr;
  slot_update(loop, fd, slot);
  if (slot_unused(slot)) loop->fds.erase(fd);
  for (PyObject* old : {reader, writer}) {
    if (old == nullptr) continue;
    handle_cancel(reinterpret_cast<HandleObject*>(old));
    Py_DECREF(old);
  }
}

// Raises asyncio's error for a change of a stale registration: epoll_ctl
// finds the fd closed, or open but not the file it watched.
PyObject* stale_error(int fd) {
  errno = fcntl(fd, F_GETFD) == -1 && errno == EBADF ? EBADF : ENOENT;
  return PyErr_SetFromErrno(PyExc_OSError);
}

// Makes h fd's reader or writer; st is fd's file, when it starts a
// registration made with fileobj (nullptr: fd is closed, so it is stale).
// -1 with MemoryError (nothing registered) if fd's slot cannot be made.
int io_register(LoopObject* loop, int fd, bool reader, HandleObject* h, PyObject* fileobj,
                const struct stat* st) {
  if (ev_room_for_fd(loop, fd) < 0) return -1;
  FdSlot* slot = slot_for(loop, fd);
  if (slot == nullptr) return -1;
  if (!has_callbacks(slot)) {
    Py_XSETREF(slot->fileobj, Py_XNewRef(fileobj));
    slot->stale = st == nullptr;
    if (st != nullptr) {
      slot->dev = st->st_dev;
      slot->ino = st->st_ino;
    }
  }
  PyObject** which = reader ? &slot->reader : &slot->writer;
  PyObject* old = *which;
  *which = Py_NewRef(reinterpret_cast<PyObject*>(h));
  slot_update(loop, fd, slot);
  if (old != nullptr) {
    handle_cancel(reinterpret_cast<HandleObject*>(old));
    Py_DECREF(old);
  }
  return 0;
}

// checked: the public add_reader/add_writer, which first refuse an fd that a
// transport owns, as asyncio's do.
PyObject* add_callback(PyObject* self, PyObject* const* args, Py_ssize_t nargs, bool reader,
                       bool checked) {
  LoopObject* loop = as_loop(self);
  const char* method = reader ? "add_reader" : "add_writer";
  if (nargs < 2) {
    PyErr_Format(PyExc_TypeError, "%s() missing required arguments: 'fd' and 'callback'",
                 method);
    return nullptr;
  }
  Ref number = fileobj_number(args[0]);
  if (!number || (checked && check_no_transport(self, number.get(), args[0]) < 0) ||
      loop_check_closed(loop) < 0) {
    return nullptr;
  }
  int fd = checked_fd(loop, args[0], number.get(), true);
  if (fd < 0) return nullptr;
  struct stat st;
  bool closed = fstat(fd, &st) < 0;
  FdSlot* slot = loop->fds.find(fd);
  if (slot != nullptr && has_callbacks(slot) && check_stale(slot, closed ? nullptr : &st)) {
    // asyncio changes its key for the stale registration: a new event
    // fails in epoll_ctl and drops the key; the same events only swap the
    // callback, which then never runs.
    if ((reader ? slot->reader : slot->writer) == nullptr) {
      drop_callbacks(loop, fd, slot);
      return stale_error(fd);
    }
  } else if (closed) {
    return PyErr_SetFromErrno(PyExc_OSError);
  } else if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)) {
    // What epoll refuses, with its error (asyncio's selector raises it).
    errno = EPERM;
    return PyErr_SetFromErrno(PyExc_OSError);
  }
  Owned<HandleObject> h = handle_new(loop, false, args[1], args + 2, nargs - 2, nullptr);
  if (!h || io_register(loop, fd, reader, h.get(), args[0], closed ? nullptr : &st) < 0) {
    return nullptr;
  }
  return reinterpret_cast<PyObject*>(h.release());
}

PyObject* remove_callback(PyObject* self, PyObject* fileobj, bool reader, bool checked) {
  LoopObject* loop = as_loop(self);
  Ref number = fileobj_number(fileobj);
  if (!number || (checked && check_no_transport(self, number.get(), fileobj) < 0)) {
    return nullptr;
  }
  if (loop->closed) Py_RETURN_FALSE;
  int fd = checked_fd(loop, fileobj, number.get(), false);
  if (fd == kUnregistrable) Py_RETURN_FALSE;
  if (fd < 0) return nullptr;
  FdSlot* slot = loop->fds.find(fd);
  if (slot != nullptr && slot->reader != nullptr && slot->writer != nullptr) {
    // Taking one of two away changes asyncio's epoll registration, which
    // fails for a file that is gone and drops both.
    struct stat st;
    bool closed = fstat(fd, &st) < 0;
    if (check_stale(slot, closed ? nullptr : &st)) {
      drop_callbacks(loop, fd, slot);
      return stale_error(fd);
    }
  }
  return PyBool_FromLong(io_unregister(loop, fd, reader));
}

}  // namespace

int io_wait(LoopObject* loop, int fd, bool reader, HandleObject* h) {
  struct stat st;
  bool closed = fstat(fd, &st) < 0;
  FdSlot* slot = loop->fds.find(fd);
  if (slot != nullptr && has_callbacks(slot) && check_stale(slot, closed ? nullptr : &st)) {
    drop_callbacks(loop, fd, slot);
  }
  return io_register(loop, fd, reader, h, nullptr, closed ? nullptr : &st);
}

bool io_unregister(LoopObject* loop, int fd, bool reader) {
  FdSlot* slot = loop->fds.find(fd);
  if (slot == nullptr) return false;
  PyObject** which = reader ? &slot->reader : &slot->writer;
  PyObject* old = *which;
  *which = nullptr;
  Ref fileobj;
  if (!has_callbacks(slot)) {
    fileobj = Ref::steal(slot->fileobj);
    slot->fileobj = nullptr;
    slot->stale = false;
  }
  slot_update(loop, fd, slot);
  if (slot_unused(slot)) loop->fds.erase(fd);
  if (old == nullptr) return false;
  handle_cancel(reinterpret_cast<HandleObject*>(old));
  Py_DECREF(old);
  return true;
}

PyObject* loop_add_reader(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
  return add_callback(self, args, nargs, true, false);
}
PyObject* loop_add_writer(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
  return add_callback(self, args, nargs, false, false);
}
PyObject* loop_remove_reader(PyObject* self, PyObject* fileobj) {
  return remove_callback(self, fileobj, true, false);
}
PyObject* loop_remove_writer(PyObject* self, PyObject* fileobj) {
  return remove_callback(self, fileobj, false, false);
}
// asyncio's add_reader and add_writer return None, not the handle.
PyObject* loop_add_reader_checked(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
  Ref handle = Ref::steal(add_callback(self, args, nargs, true, true));
  return handle ? Py_NewRef(Py_None) : nullptr;
}
PyObject* loop_add_writer_checked(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
  Ref handle = Ref::steal(add_callback(self, args, nargs, false, true));
  return handle ? Py_NewRef(Py_None) : nullptr;
}
PyObject* loop_remove_reader_checked(PyObject* self, PyObject* fileobj) {
  return remove_callback(self, fileobj, true, true);
}
PyObject* loop_remove_writer_checked(PyObject* self, PyObject* fileobj) {
  return remove_callback(self, fileobj, false, true);
}

void io_queue_fired(LoopObject* loop) {
  // libev runs the callbacks of one poll last-reported first; asyncio's
  // selector hands the callbacks on in the order the kernel reported them.
  auto& fired = loop->io_fired;
  for (size_t i = fired.size(); i-- > 0;) {
    FdSlot* slot = fired[i].slot;
    int revents = fired[i].events;
    int fd = slot->io.fd;
    if ((revents & EV_READ) && slot->reader) queue_or_drop(loop, fd, slot, &slot->reader);
    if ((revents & EV_WRITE) && slot->writer) queue_or_drop(loop, fd, slot, &slot->writer);
    if (slot->transport != nullptr && (revents & slot->transport_events)) {
      // A transport whose entry is still queued (an iteration cut short by
      // an exception left it there) gets a second one, as asyncio queues
      // its reader and writer handles again: readiness that was already
      // handled reads EAGAIN, and nothing lives in the transport to tell.
      int events = revents & slot->transport_events;
      queue_fired(loop, PyReadyEntry::transport(Py_NewRef(slot->transport), events));
    }
  }
  fired.clear();
}

void io_check_changed(LoopObject* loop) {
  loop->fds.take_changed([&](int fd, FdSlot& slot) {
    if (!ev_is_active(&slot.io)) return;
    struct stat st;
    bool closed = fstat(fd, &st) < 0 && errno == EBADF;
    // A reader or writer whose file was closed since, even if a new one
    // took the fd number: asyncio's selector registered that file with
    // epoll at once, and closing it ended the registration. (A closed fd
    // would also make epoll_ctl fail, which Debian's libev aborts on.)
    // The callbacks stay registered but never fire, as with asyncio.
    if (has_callbacks(&slot) ? check_stale(&slot, closed ? nullptr : &st) : closed) {
      ev_io_stop(loop->ev, &slot.io);
      loop->io_active--;
    }
  });
}

void io_release_all(LoopObject* loop) {
  loop->fds.for_each([&](int, FdSlot& slot) {
    if (ev_is_active(&slot.io)) {
      ev_io_stop(loop->ev, &slot.io);
      loop->io_active--;
    }
  });
  // The loop's table is empty before any reference goes (releasing one may
  // run Python code), and emptying it allocates nothing.
  FdTable<FdSlot, PyRawAllocator> taken;
  taken.swap(loop->fds);
  taken.for_each([&](int, FdSlot& slot) {
    PyObject* refs[] = {slot.reader, slot.writer, slot.transport};
    slot.reader = slot.writer = slot.transport = nullptr;
    slot.transport_events = 0;
    for (PyObject* ref : refs) Py_XDECREF(ref);
  });
  // ~FdSlot releases each fileobj.
}

int io_traverse(LoopObject* loop, visitproc visit, void* arg) {
  int rc = 0;
  loop->fds.for_each([&](int, FdSlot& slot) {
    if (rc == 0 && slot.reader) rc = visit(slot.reader, arg);
    if (rc == 0 && slot.writer) rc = visit(slot.writer, arg);
    if (rc == 0 && slot.transport) rc = visit(slot.transport, arg);
    if (rc == 0 && slot.fileobj) rc = visit(slot.fileobj, arg);
  });
  return rc;
}

int io_set_transport_interest(LoopObject* loop, int fd, PyObject* transport, int events,
                              bool adding) {
  if (events != 0 && ev_room_for_fd(loop, fd) < 0) return -1;
  FdSlot* slot = loop->fds.find(fd);
  if (slot == nullptr) {
    if (events == 0 || !adding) return 0;  // nothing to take away from
    slot = slot_for(loop, fd);
    if (slot == nullptr) return -1;
  }
  PyObject* released = nullptr;
  if (events == 0) {
    if (slot->transport != transport) return 0;  // not this transport's slot
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
  return 0;
}

// ---- the fd -> transport registry ----

int io_register_transport(LoopObject* loop, int fd, PyObject* transport) {
  FdSlot* slot = slot_for(loop, fd);
  if (slot == nullptr) return -1;
  slot->registered = transport;
  return 0;
}

void io_forget_transport(LoopObject* loop, int fd, PyObject* transport) {
  FdSlot* slot = loop->fds.find(fd);
  if (slot == nullptr || slot->registered != transport) return;
  slot->registered = nullptr;
  if (slot_unused(slot)) loop->fds.erase(fd);
}

Borrowed<> io_registered_transport(LoopObject* loop, int fd) {
  FdSlot* slot = loop->fds.find(fd);
  return slot != nullptr ? slot->registered : nullptr;
}

Borrowed<> io_registered_transport_of(LoopObject* loop, PyObject* fd) {
  int overflow = 0;  // no transport has such a number
  long number = PyLong_AsLongAndOverflow(fd, &overflow);
  if (number < 0 || number > INT_MAX) return nullptr;  // -1 may carry an error
  return io_registered_transport(loop, static_cast<int>(number));
}

namespace {

// A transport of this loop's (one of the module's transport types), or
// nullptr with TypeError.
Borrowed<TransportObject> own_transport(PyObject* self, PyObject* transport) {
  ModuleState* st = as_loop(self)->state;
  for (PyTypeObject* type : {st->socket_transport_type, st->datagram_type}) {
    if (PyObject_TypeCheck(transport, type)) {
      TransportObject* t = reinterpret_cast<TransportObject*>(transport);
      if (t->loop == as_loop(self)) return t;
    }
  }
  PyErr_Format(PyExc_TypeError, "not a socket or datagram transport of this loop: %R", transport);
  return nullptr;
}

}  // namespace

PyObject* loop_register_transport(PyObject* self, PyObject* transport) {
  Borrowed<TransportObject> t = own_transport(self, transport);
  if (t == nullptr || io_register_transport(as_loop(self), t->fd, transport) < 0) return nullptr;
  Py_RETURN_NONE;
}

PyObject* loop_unregister_transport(PyObject* self, PyObject* transport) {
  Borrowed<TransportObject> t = own_transport(self, transport);
  if (t == nullptr) return nullptr;
  io_forget_transport(as_loop(self), t->fd, transport);
  Py_RETURN_NONE;
}

PyObject* loop_transport_for_fd(PyObject* self, PyObject* fd) {
  Borrowed<> transport = io_registered_transport_of(as_loop(self), fd);
  if (transport == nullptr && PyErr_Occurred()) return nullptr;
  return Py_NewRef(transport != nullptr ? transport.get() : Py_None);
}

}  // namespace aioev
