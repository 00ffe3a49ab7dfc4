// Internal declarations shared by the files of the _aioev extension module.
// Ownership is in the signatures (aioev/ref.hpp): Owned<T> / Ref results
// are new references, Borrowed<T> results and bare pointer parameters
// borrowed ones. The PyObject* methods declared here (loop_add_reader and
// friends) keep CPython's PyMethodDef signatures: a new reference, or
// nullptr with an exception set.
#pragma once

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <ev.h>
#include <structmember.h>

#include <sys/types.h>

#include <cstdint>
#include <utility>

#ifdef AIOEV_TSAN
#include <sanitizer/tsan_interface.h>
#endif

#include "aioev/array.hpp"
#include "aioev/fd_table.hpp"
#include "aioev/ready_queue.hpp"
#include "aioev/ref.hpp"
#include "aioev/timer_heap.hpp"
#include "aioev/write_buffer.hpp"
#include "errors.h"
#include "module_state.h"

#if defined(__GNUC__)
#define AIOEV_LIKELY(x) __builtin_expect(!!(x), 1)
#define AIOEV_UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define AIOEV_LIKELY(x) (x)
#define AIOEV_UNLIKELY(x) (x)
#endif

namespace aioev {

// Where the containers of Include/aioev get their memory in the module:
// Python's raw allocator, safe without the GIL, counted by tracemalloc and
// made to fail by _testcapi.set_nomemory. Every growth is checked: running
// out of memory raises MemoryError, never aborts (-fno-exceptions).
struct PyRawAllocator {
  static void* allocate(size_t n) { return PyMem_RawMalloc(n); }
  static void* reallocate(void* p, size_t n) { return PyMem_RawRealloc(p, n); }
  static void release(void* p) { PyMem_RawFree(p); }
};
template <class T>
using PyArray = Array<T, PyRawAllocator>;
using PyWriteBuffer = BasicWriteBuffer<PyRawAllocator>;
// The loop's ready queue holds entries that own a reference to their object
// and one to their arg when it is not null (loop_push_ready takes them).
using PyReadyEntry = ReadyEntry<PyObject>;
using PyReadyQueue = ReadyQueue<PyReadyEntry, PyRawAllocator>;

struct HandleObject;

// A lock that only a free-threaded build needs: with a GIL it is nothing.
// The ThreadSanitizer build (AIOEV_TSAN, `make tsan`) runs on a CPython that
// is instrumented too, where TSan sees PyMutex itself; the lock is declared
// to it as well, so that a module built with -fsanitize=thread against a
// CPython that is not instrumented does not report races under it.
#ifdef Py_GIL_DISABLED
using NoGilMutex = PyMutex;
inline void nogil_lock(NoGilMutex* m) {
  PyMutex_Lock(m);
#ifdef AIOEV_TSAN
  __tsan_acquire(m);
#endif
}
inline void nogil_unlock(NoGilMutex* m) {
#ifdef AIOEV_TSAN
  __tsan_release(m);
#endif
  PyMutex_Unlock(m);
}
#else
struct NoGilMutex {};
inline void nogil_lock(NoGilMutex*) {}
inline void nogil_unlock(NoGilMutex*) {}
#endif

struct LoopObject;

// Handle and TimerHandle share one layout: a variable-size object whose items
// are the callback's positional arguments, so a callback costs one allocation.
struct HandleObject {
  PyObject_VAR_HEAD
  PyObject* callback;  // nullptr once cancelled
  // nullptr for a new empty context, made when it is first needed
  // (kLazyContext in handle.cpp)
  PyObject* context;
  LoopObject* loop;
  PyObject* repr;  // kept on cancel in debug mode, as asyncio does
  PyObject* source_traceback;
  PyObject* weakreflist;
  double when;  // TimerHandle only
  bool cancelled;
  bool scheduled;  // TimerHandle only: still in the loop's timer heap
  bool poolable;  // allocated with room for exactly one argument
  bool when_overflow;  // call_at(an int no float holds): `when` is +-inf
  bool untracked;  // out of the collector's lists while in the ready queue
  bool context_untracked;  // its context too (the handle held it alone)
  // cancel() from another thread (a call_soon_threadsafe handle's owner)
  // against the loop's run: held around cancelled, callback and args,
  // never while Python code runs.
  NoGilMutex lock;
  PyObject* args[1];
};

struct FdSlot {
  ev_io io;
  LoopObject* loop;
  PyObject* reader;  // owned Handle or nullptr
  PyObject* writer;
  PyObject* transport;  // owned while transport_events is not zero
  int transport_events;  // EV_READ | EV_WRITE the transport waits for
  // The socket or datagram transport made for the fd (asyncio's
  // loop._transports): borrowed, forgotten when it loses its connection or
  // goes, or when a newer one is made for the same number.
  PyObject* registered;
  bool changed;  // on the FdTable's changed list
  // While there is a reader or writer: the object add_reader/add_writer
  // first got (asyncio's selector key keeps it, and finds a closed socket
  // by it), or nullptr; and the file they watch. Once that file is closed
  // or the fd number reused, the registration is stale: asyncio's kernel
  // registration went with the file, so its callbacks never run again.
  PyObject* fileobj;
  dev_t dev;
  ino_t ino;
  bool stale;

  ~FdSlot() { Py_XDECREF(fileobj); }  // the table erases slots with the GIL held
};

struct LoopObject {
  PyObject_HEAD
  ModuleState* state;
  struct ev_loop* ev;
  PyThreadState* released_tstate;  // set while the poll runs without the GIL

  PyReadyQueue ready;
  // What call_soon_threadsafe queued from other threads, in their order,
  // until the loop's thread moves it to the ready queue (loop_take_threadsafe):
  // only threadsafe, threadsafe_pending and, without a GIL, threadsafe_lock
  // are touched by other threads. threadsafe_pending is read atomically.
  // Handle entries only, of the ready queue's type, so that an empty ready
  // queue takes them all by a swap.
  PyReadyQueue threadsafe;
  bool threadsafe_pending;
  // How many of them are TimerHandles for the timer heap: on free-threaded
  // builds, what call_at and call_later scheduled from another thread while
  // the loop ran (see LoopAccess).
  size_t threadsafe_timers;
  NoGilMutex threadsafe_lock;
  TimerHeap<HandleObject*, PyRawAllocator> timers;  // owned TimerHandles
  Py_ssize_t timers_cancelled;

  FdTable<FdSlot, PyRawAllocator> fds;
  int io_active;  // started user watchers: while zero a busy loop need not poll
  int ev_fds;     // 1 + the highest fd a watcher of this loop was started on
  // What the poll reported, as (slot, events), in the order libev ran its
  // callbacks: the reverse of the kernel's, so io_queue_fired() walks it
  // backwards to queue the callbacks in asyncio's (the kernel's) order.
  // Room for one entry per started watcher is made before each poll, so
  // libev's callbacks never allocate.
  struct Fired {
    FdSlot* slot;
    int events;
  };
  PyArray<Fired> io_fired;

  ev_async wakeup;
  ev_timer poll_timer;
  ev_io signal_io;
  int signal_fds[2];  // the socketpair behind signal.set_wakeup_fd
  PyObject* signal_handlers;  // dict: signal number -> Handle

  unsigned long thread_id;
  bool has_thread_id;  // is_running()
#ifdef Py_GIL_DISABLED
  // The thread that may change the ready queue and the timer heap directly
  // (LoopAccess): the loop's creator, then each thread that runs it, which
  // stays the owner after run_forever returns. owner_busy counts the
  // threads between raising it to read owner_thread and leaving those
  // containers (or finding they are not the owner).
  unsigned long owner_thread;
  int owner_busy;
#endif
  bool stopping;
  bool closed;
  bool debug;
  bool loop_error;  // an error was set inside a libev callback
  bool call_soon_on_instance;  // an instance attribute replaces call_soon
  // Whether call_soon is the C method, so that futures and tasks may queue
  // straight onto the ready queue (loop_plain_call_soon()), cached: the
  // type's version tag it was last looked up for, shifted left by one, with
  // the answer in the low bit; 0 for none. One word, read and written
  // whole, since any thread may refresh it.
  uint64_t call_soon_cache;
  bool native_task;  // create_task makes aioev.Task (else asyncio.Task)
  double clock_resolution;
  char* read_buffer;  // shared by the loop's transports, allocated on first use
  // A bytes object that a large sock_recv allocated and did not fill (the
  // socket had nothing yet), kept for the next one: see sock.cpp.
  PyObject* recv_spare;
  // Lazy contexts (handle.cpp, kLazyContext): an empty context kept for
  // the next handle that runs in a new empty one, and the handle running
  // in one now with its context (borrowed; nullptr when none).
  PyObject* empty_context;
  HandleObject* lazy_running;
  PyObject* lazy_context;
  // Bytes that large reads (loop_note_large_read) brought in during this
  // iteration; run_once hands the total to heap_keep_for_reads at its end.
  size_t large_read_bytes;

  // Freed objects of the loop, reused (loop_pool_take/put): handles with
  // room for one argument (most callbacks, a task step or a future's
  // callback, take at most one) and the iterators of `await future`. A
  // reused object is no new GC allocation, so it does not bring the next
  // collection nearer: a batch of a thousand timers or callbacks with a
  // pool of 256 cost twice the collections (each walking every young
  // handle). At most ~0.5 MB stays pooled, and only after a program had
  // that many at once. Without a GIL a thread takes pools_busy to touch
  // them, and allocates or frees as usual when another thread has it: in
  // practice only the loop's thread uses them, so it never waits.
  static constexpr size_t kHandlePoolSize = 4096;
  static constexpr size_t kFutureIterPoolSize = 64;
  PyArray<PyObject*> handle_pool;
  PyArray<PyObject*> future_iter_pool;
#ifdef Py_GIL_DISABLED
  int pools_busy;
#endif
};

// Fields another thread may read while the loop's thread writes them (the
// thread id, closed, debug): relaxed atomic accesses, which cost a GIL
// build nothing and keep ThreadSanitizer quiet on a free-threaded one.
template <class T>
inline T load_relaxed(const T& field) {
  return __atomic_load_n(&field, __ATOMIC_RELAXED);
}
template <class T>
inline void store_relaxed(T& field, T value) {
  __atomic_store_n(&field, value, __ATOMIC_RELAXED);
}
// A count other threads change too (timers_cancelled, by a TimerHandle's
// cancel() from another thread): an atomic add without a GIL, a plain one
// with it.
template <class T>
inline void add_shared(T& field, T delta) {
#ifdef Py_GIL_DISABLED
  __atomic_fetch_add(&field, delta, __ATOMIC_RELAXED);
#else
  field += delta;
#endif
}

// A dead object from pool, or nullptr; its type is revived by
// loop_pool_revive. (Dead objects are memory, not references: bare
// pointers, which Owned must never release.) loop_pool_put keeps dead (a GC object, untracked, whose
// fields are released) if the pool has room and no other thread holds it, and then
// keeps its reference to its type too, so that the pool outlives the
// module state that owns the types; false: the caller frees it.
PyObject* loop_pool_take(LoopObject* loop, PyArray<PyObject*>* pool);
bool loop_pool_put(LoopObject* loop, PyArray<PyObject*>* pool, size_t limit, PyObject* dead);
// Makes a pooled object an object of type again (size: its ob_size for a
// variable-size type, else -1), dropping the type reference it kept.
void loop_pool_revive(PyObject* dead, PyTypeObject* type, Py_ssize_t size);


// obj.<name>(arg1, arg2), either argument optional: a new reference, or
// empty with an exception set. `name` should be interned.
inline Ref call_method(PyObject* obj, PyObject* name, PyObject* arg1 = nullptr,
                       PyObject* arg2 = nullptr) {
  PyObject* args[3] = {obj, arg1, arg2};
  size_t nargs = (arg2 ? 3 : arg1 ? 2 : 1) | PY_VECTORCALL_ARGUMENTS_OFFSET;
  return Ref::steal(PyObject_VectorcallMethod(name, args, nargs, nullptr));
}

// A METH_FASTCALL (| METH_KEYWORDS) function as the PyCFunction a
// PyMethodDef holds.
template <class F>
inline PyCFunction as_pycfunction(F fn) {
  return reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(fn));
}

// The module state of one of the module's types, or of a Python subclass.
inline ModuleState* type_module_state(PyTypeObject* type) {
  PyObject* module = nullptr;
  if (type->tp_flags & Py_TPFLAGS_HEAPTYPE) {
    module = reinterpret_cast<PyHeapTypeObject*>(type)->ht_module;
  }
  if (module == nullptr || PyModule_GetDef(module) != &module_def) {
    module = PyType_GetModuleByDef(type, &module_def);
  }
  return module_state(module);
}

// module.cpp: `from module_name import attr` for the module's imports: a
// missing name is an ImportError that names it, as the statement says it.
Ref import_attr(const char* module_name, const char* attr);

// loop.cpp
extern PyType_Spec loop_spec;
inline LoopObject* as_loop(PyObject* self) { return reinterpret_cast<LoopObject*>(self); }
void loop_set_create_task_kwargs(bool kwargs);
void loop_dealloc(PyObject* self);
// obj as an aioev loop (an instance of _aioev.Loop or of a subclass), or
// nullptr. Known by the deallocator of its C base: no module state needed.
inline LoopObject* as_aioev_loop(PyObject* obj) {
  for (PyTypeObject* t = Py_TYPE(obj); t != nullptr; t = t->tp_base) {
    if (t->tp_dealloc == loop_dealloc) return reinterpret_cast<LoopObject*>(obj);
  }
  return nullptr;
}
// loop.call_exception_handler(context) with exc as the exception being
// handled (sys.exception()), as asyncio calls it from inside `except`: the
// handler sees it in sys.exc_info(), and what it raises has it as its
// __context__ (the "Unhandled error in exception handler" log chains it).
// loop may be any event loop; 0, or -1 with an exception set.
int loop_call_exception_handler(ModuleState* st, PyObject* loop, PyObject* context,
                                PyObject* exc);
// obj.<name>(arg) likewise with exc being handled (a new reference, or
// empty with an exception set): protocol.error_received(exc), for one.
Ref call_method_handling(PyObject* exc, PyObject* obj, PyObject* name, PyObject* arg);
double monotonic_now();
int loop_check_closed(LoopObject* loop);
// Moves the handles that other threads' call_soon_threadsafe queued to the
// end of the ready queue (in the loop's thread, before it reads or extends
// the ready queue, so that each keeps its place in asyncio's order); -1 with
// MemoryError, nothing moved, if the ready queue cannot make room.
int loop_take_threadsafe_slow(LoopObject* loop);
inline int loop_take_threadsafe(LoopObject* loop) {
  if (AIOEV_LIKELY(!__atomic_load_n(&loop->threadsafe_pending, __ATOMIC_ACQUIRE))) return 0;
  return loop_take_threadsafe_slow(loop);
}
// Whether the calling thread may change the loop's ready queue and timer
// heap itself, held for as long as it does. With a GIL, always (the GIL
// serializes the threads). On a free-threaded build, only the loop's owner
// thread: the thread that runs it, or, while it runs in none, the last that
// did (its creator before that). What other threads schedule on the loop
// (call_soon, call_at, a task's step, or the done callbacks of a future
// they complete or cancel: not thread-safe in asyncio, whose deque and heap
// the GIL or their own locks keep whole) goes through the loop's locked
// threadsafe queue, as call_soon_threadsafe's handles do, in the order the
// threads queued it, and reaches the ready queue (or the heap) before
// whatever the owner queues next. When another thread starts running the
// loop it becomes the owner (loop_set_owner), and waits for an access the
// old owner has begun: the two sides make a Dekker pair (each writes its
// own word, then reads the other's, with sequentially consistent atomics).
class LoopAccess {
 public:
  explicit LoopAccess(LoopObject* loop) noexcept {
#ifdef Py_GIL_DISABLED
    __atomic_fetch_add(&loop->owner_busy, 1, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&loop->owner_thread, __ATOMIC_SEQ_CST) == PyThread_get_thread_ident()) {
      loop_ = loop;
    } else {
      __atomic_fetch_sub(&loop->owner_busy, 1, __ATOMIC_RELEASE);
    }
#else
    (void)loop;
#endif
  }
  ~LoopAccess() {
#ifdef Py_GIL_DISABLED
    if (loop_ != nullptr) __atomic_fetch_sub(&loop_->owner_busy, 1, __ATOMIC_RELEASE);
#endif
  }
  LoopAccess(const LoopAccess&) = delete;
  LoopAccess& operator=(const LoopAccess&) = delete;
  bool granted() const noexcept {
#ifdef Py_GIL_DISABLED
    return loop_ != nullptr;
#else
    return true;
#endif
  }

 private:
#ifdef Py_GIL_DISABLED
  LoopObject* loop_ = nullptr;  // set while granted
#endif
};
// The calling thread becomes the loop's owner (it is about to run it),
// once no other thread is inside a LoopAccess. Nothing with a GIL.
void loop_set_owner(LoopObject* loop);
// Queues entry on the threadsafe queue (new references to its object and
// arg) and wakes the loop: -1 with MemoryError if the queue cannot grow. A
// handle entry of a TimerHandle goes to the timer heap when the loop's
// thread takes it.
int loop_push_threadsafe(LoopObject* loop, PyReadyEntry entry);
// A Handle in the ready queue is out of the garbage collector's lists
// (GIL builds): a batch of a thousand callbacks is then no thousand more
// objects for every young collection to walk while it waits (the contexts
// that call_soon copies are new objects, so such collections come often).
// So is its context when the handle holds it alone (the copy call_soon
// made: another object per callback). The loop's traverse visits what such
// a handle (and such a context) refers to in its place when the queue
// holds the only reference (its references are then exactly the loop's,
// so a loop in a cycle with its queued callbacks is still collected), and
// the handle itself otherwise, which the collector skips: whatever it
// keeps alive stays alive. It is tracked again when it leaves
// the queue, before it runs (debug mode and the exception handler hand it
// out). Only what loop_push_ready and call_soon_threadsafe queue behind
// kUntrackAfter others is untracked (the batch a callback or another
// thread queues while its own code allocates): for a short queue, or
// expired timers that run in the iteration that moves them, the
// collector's walk costs less than untracking and tracking again. The
// threadsafe queue's handles stay untracked when they move to the ready
// queue.
constexpr size_t kUntrackAfter = 32;
constexpr bool kUntrackQueued =
#ifdef Py_GIL_DISABLED
    false;
#else
    true;
#endif
inline void ready_untrack(const PyReadyQueue& queue, const PyReadyEntry& entry) {
  if (kUntrackQueued && entry.kind == ReadyKind::kHandle && queue.size() > kUntrackAfter) {
    HandleObject* h = reinterpret_cast<HandleObject*>(entry.object);
    if (!h->untracked) {
      PyObject_GC_UnTrack(entry.object);
      h->untracked = true;
      // The context call_soon copied is as new, and the handle's alone.
      PyObject* context = h->context;
      if (context != nullptr && Py_REFCNT(context) == 1 && PyObject_GC_IsTracked(context)) {
        PyObject_GC_UnTrack(context);
        h->context_untracked = true;
      }
    }
  }
}
inline void ready_retrack(const PyReadyEntry& entry) {
  if (kUntrackQueued && entry.kind == ReadyKind::kHandle) {
    HandleObject* h = reinterpret_cast<HandleObject*>(entry.object);
    if (h->untracked) {
      h->untracked = false;
      if (h->context_untracked) {
        h->context_untracked = false;
        PyObject_GC_Track(h->context);
      }
      PyObject_GC_Track(entry.object);
    }
  }
}
// Queues entry at the end of the ready queue, after what other threads'
// call_soon_threadsafe queued, with new references to its object and arg;
// -1 with MemoryError, nothing queued, when memory runs out (through the
// threadsafe queue from a thread that is not the owner: see LoopAccess).
// Inline: the hottest call of all, whose entry the compiler then builds in
// place.
inline int loop_push_ready(LoopObject* loop, PyReadyEntry entry) {
  LoopAccess access(loop);
  if (AIOEV_UNLIKELY(!access.granted())) return loop_push_threadsafe(loop, entry);
  if (loop_take_threadsafe(loop) < 0) return -1;
  if (AIOEV_UNLIKELY(!loop->ready.push_back(entry))) {
    PyErr_NoMemory();
    return -1;
  }
  Py_INCREF(entry.object);
  Py_XINCREF(entry.arg);
  ready_untrack(loop->ready, entry);
  return 0;
}
inline int loop_push_handle(LoopObject* loop, HandleObject* h) {
  return loop_push_ready(loop, PyReadyEntry::handle(reinterpret_cast<PyObject*>(h)));
}
// loop.create_future(): aioev.Future, or asyncio's with native_task off.
Ref loop_create_future(LoopObject* loop);
// True while neither the loop's class nor the instance replaces call_soon.
bool loop_plain_call_soon(LoopObject* loop);
// loop.call_soon(callback, arg, context=context) on any loop: an aioev
// loop's ready queue directly when its call_soon is the C one. 0 or -1.
int loop_call_soon_arg(ModuleState* st, PyObject* loop, PyObject* callback, PyObject* arg,
                       PyObject* context);
// The loop's read buffer (kReadBufferSize bytes), shared by everything that
// reads in the loop's thread; nullptr with MemoryError if it cannot be made.
constexpr size_t kReadBufferSize = 256 * 1024;  // asyncio's max_size
// Reads of at least this much go straight into the bytes object they return
// instead of through the read buffer (socket_transport.cpp, sock.cpp): one copy, by
// the kernel, where a copy out of the buffer would cost more than the
// allocation.
constexpr Py_ssize_t kDirectReadMin = 32 * 1024;
char* loop_read_buffer(LoopObject* loop);
// Large reads into bytes objects that the loop recycles (loop.cpp): a read
// of up to size bytes takes a bytes object of capacity *capacity (the
// loop's spare when it fits, else a new one); once the protocol is done
// with it, loop_recycle_read_bytes keeps it as the spare if nothing else
// holds it. Keeping one spare spares every large read an allocation and a
// free, and the C library's heap the trimming and regrowth (and the page
// faults) that a large free at its top causes.
Ref loop_take_read_bytes(LoopObject* loop, Py_ssize_t size, Py_ssize_t* capacity);
// Counts a large read (at least kDirectReadMin bytes) towards this
// iteration's total (loop_take_read_bytes counts its own).
inline void loop_note_large_read(LoopObject* loop, size_t n) {
  store_relaxed(loop->large_read_bytes, load_relaxed(loop->large_read_bytes) + n);
}
// What one iteration read in large reads (n bytes) will, once the
// protocols have buffered and consumed it, free again at the top of the C
// library's heap. With glibc, whose heap gives back (trims) a free top
// larger than its trim threshold, that threshold is raised, once per
// doubling, to well above n: the next iteration then reuses the same
// pages instead of growing the heap and faulting every page in again
// (loop.cpp). Elsewhere it does nothing.
void heap_keep_for_reads(size_t n);
// Sets *bytes (from loop_take_read_bytes, capacity bytes) to the n bytes a
// read put in it: in place when that wastes at most half, else by
// reallocation (*capacity becomes n). -1 with an error set on failure.
int loop_shrink_read_bytes(Ref* bytes, Py_ssize_t* capacity, Py_ssize_t n);
// Takes bytes (of capacity bytes, from loop_take_read_bytes).
void loop_recycle_read_bytes(LoopObject* loop, Ref bytes, Py_ssize_t capacity);
// A bytes object of the n bytes at data (a read into the loop's buffer):
// from loop_take_read_bytes when n is large (*capacity set for
// loop_recycle_read_bytes), else a new one (*capacity 0).
Ref loop_copy_read_bytes(LoopObject* loop, const char* data, Py_ssize_t n,
                         Py_ssize_t* capacity);

// handle.cpp
extern PyType_Spec handle_spec;
extern PyType_Spec timer_handle_spec;
// Makes a Handle (or TimerHandle if timer) for callback(*args); context may be
// nullptr or None for a copy of the current one.
Owned<HandleObject> handle_new(LoopObject* loop, bool timer, PyObject* callback,
                               PyObject* const* args, Py_ssize_t nargs, PyObject* context);
// The Handle's tp_traverse (the loop's visits a queued one through it).
int handle_traverse(PyObject* handle, visitproc visit, void* arg);
// Runs the callback; 0 when done (exceptions went to the exception handler),
// -1 with an exception set when it must propagate (SystemExit,
// KeyboardInterrupt or a failing exception handler).
int handle_run(HandleObject* handle);
void handle_cancel(HandleObject* handle);
inline bool handle_check(ModuleState* st, PyObject* obj) {
  return Py_IS_TYPE(obj, st->handle_type) || Py_IS_TYPE(obj, st->timer_handle_type);
}

// loop.cpp: asyncio's _check_thread (RuntimeError when the loop runs in
// another thread).
int loop_check_thread(LoopObject* loop);

// io.cpp: libev's memory (the reserve that keeps libev from aborting when
// memory runs out): ev_memory_init installs libev's allocator, once per
// process; ev_memory_ready makes the reserve large enough for a loop whose
// watchers reach fds - 1, or is -1 with MemoryError.
void ev_memory_init();
int ev_memory_ready(int fds);

// io.cpp: add_reader and friends, and the closed-fd guard. The _checked
// ones are the public methods, which refuse an fd that a transport owns;
// the others are the loop's own _add_reader and friends.
PyObject* loop_add_reader(PyObject* self, PyObject* const* args, Py_ssize_t nargs);
PyObject* loop_add_writer(PyObject* self, PyObject* const* args, Py_ssize_t nargs);
PyObject* loop_remove_reader(PyObject* self, PyObject* fileobj);
PyObject* loop_remove_writer(PyObject* self, PyObject* fileobj);
PyObject* loop_add_reader_checked(PyObject* self, PyObject* const* args, Py_ssize_t nargs);
PyObject* loop_add_writer_checked(PyObject* self, PyObject* const* args, Py_ssize_t nargs);
PyObject* loop_remove_reader_checked(PyObject* self, PyObject* fileobj);
PyObject* loop_remove_writer_checked(PyObject* self, PyObject* fileobj);
// Makes h fd's reader (or writer), cancelling the one it replaces and
// whatever a file closed since left registered on fd; and removes it again
// (true if there was one). The fd must be valid. io_wait: -1 with
// MemoryError, and h not registered, when fd's slot cannot be made.
int io_wait(LoopObject* loop, int fd, bool reader, HandleObject* h);
bool io_unregister(LoopObject* loop, int fd, bool reader);
void io_check_changed(LoopObject* loop);
void io_queue_fired(LoopObject* loop);  // after each poll
void io_release_all(LoopObject* loop);
int io_traverse(LoopObject* loop, visitproc visit, void* arg);
// Sets the events a transport waits for on fd (0: none, releasing it); -1
// with MemoryError, nothing changed, if fd's slot cannot be made, which
// only adding events (adding) may need.
int io_set_transport_interest(LoopObject* loop, int fd, PyObject* transport, int events,
                              bool adding);
// The fd -> transport registry (asyncio's loop._transports, kept in the fd
// table): registers transport for fd (-1 with MemoryError if fd's slot
// cannot be made), forgets it if it is still fd's, and reads it (or
// nullptr).
int io_register_transport(LoopObject* loop, int fd, PyObject* transport);
void io_forget_transport(LoopObject* loop, int fd, PyObject* transport);
Borrowed<> io_registered_transport(LoopObject* loop, int fd);
// The same for fd as a Python int: nullptr for a number no fd can have, or
// with an error set (TypeError) for what is no int.
Borrowed<> io_registered_transport_of(LoopObject* loop, PyObject* fd);
// Loop._register_transport(t) and _unregister_transport(t) (sendfile takes
// its transport out while it runs), _transport_for_fd(fd).
PyObject* loop_register_transport(PyObject* self, PyObject* transport);
PyObject* loop_unregister_transport(PyObject* self, PyObject* transport);
PyObject* loop_transport_for_fd(PyObject* self, PyObject* fd);

// transport.cpp: runs a transport's readiness entry (the events a poll
// reported: io.cpp queues it) from the ready queue; -1 only for exceptions
// that must propagate.
int transport_run_ready(PyObject* transport, int events);

// sock.cpp: the sock_* fast path
Owned<PyTypeObject> sock_waiter_type_new(PyObject* module);
// Loop._ensure_fd_no_transport(fileobj) (RuntimeError if a transport that
// is not closing owns it), skipped when no transport was ever made for fd
// (fileobj's number); fileobj nullptr: fd itself. 0, or -1 with the error.
int check_no_transport(PyObject* self, PyObject* fd, PyObject* fileobj = nullptr);
// A writable contiguous buffer of obj, as socket.recv_into() takes one: -1
// with its TypeError ('recv_into() argument 1 must be read-write
// bytes-like object, not bytes') for anything else.
int recv_into_buffer(PyObject* obj, Py_buffer* view);
PyObject* loop_sock_recv(PyObject* self, PyObject* const* args, Py_ssize_t nargs);
PyObject* loop_sock_recv_into(PyObject* self, PyObject* const* args, Py_ssize_t nargs);
PyObject* loop_sock_sendall(PyObject* self, PyObject* const* args, Py_ssize_t nargs);

// socket_transport.cpp, udp.cpp, pipe.cpp
Owned<PyTypeObject> socket_transport_type_new(PyObject* module);
Owned<PyTypeObject> datagram_type_new(PyObject* module);
Owned<PyTypeObject> read_pipe_type_new(PyObject* module);  // pipe.cpp
Owned<PyTypeObject> write_pipe_type_new(PyObject* module);

// server.cpp: the accept loop of a listening socket (Loop._accept_connection)
PyObject* loop_accept_connection(PyObject* self, PyObject* const* args, Py_ssize_t nargs);
PyObject* loop_accepted_connection(PyObject* self, PyObject* const* args, Py_ssize_t nargs);
int server_state_init(ModuleState* st);

// signals.cpp: the wake-up socketpair behind signal.set_wakeup_fd().
PyObject* loop_signal_wakeup_fd(PyObject* self, PyObject*);
int signals_init(LoopObject* loop);
void signals_close(LoopObject* loop);

}  // namespace aioev
