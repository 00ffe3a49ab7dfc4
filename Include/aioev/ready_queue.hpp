// The loop's ready queue: a FIFO ring buffer that grows by doubling, and
// the entry it holds (ReadyEntry). A datagram transport's send queue is a
// ring too.
//
// Growth reports allocation failure (returns false, the queue unchanged)
// and takes memory from Alloc, as Array does (array.hpp). Plain C++ with no
// Python in it, so it is unit-tested without an interpreter
// (Tests/cpp/test_ready_queue.cpp). The loop stores ReadyEntry<PyObject>.
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>
#include <utility>

#include "aioev/array.hpp"

namespace aioev {

// What the run loop does with a ready entry: one `switch` on this in
// run_once (loop.cpp) is the whole dispatch.
enum class ReadyKind : std::uint8_t {
  kHandle,       // a Handle or TimerHandle: its callback, unless cancelled
  kTaskStep,     // an aioev.Task's __step(arg): arg the exception to throw in, or none
  kTaskWakeup,   // an aioev.Task's __wakeup(arg): arg the future it waited for
  kTransport,    // a transport's readiness: events (EV_READ | EV_WRITE) as polled
};

// One entry of the loop's ready queue: {object, kind, argument}. The
// argument is arg for a task and events for a transport; the two are kept
// apart rather than in a union (the entry is 24 bytes either way), so that
// what an entry owns does not depend on its kind: in the loop, a reference
// to object, and one to arg when it is not null.
template <class Object>
struct ReadyEntry {
  Object* object;
  Object* arg;
  int events;
  ReadyKind kind;

  static ReadyEntry handle(Object* h) { return {h, nullptr, 0, ReadyKind::kHandle}; }
  static ReadyEntry task_step(Object* t, Object* exc) { return {t, exc, 0, ReadyKind::kTaskStep}; }
  static ReadyEntry task_wakeup(Object* t, Object* future) {
    return {t, future, 0, ReadyKind::kTaskWakeup};
  }
  static ReadyEntry transport(Object* t, int events) {
    return {t, nullptr, events, ReadyKind::kTransport};
  }
};

template <class T, class Alloc = MallocAllocator>
class ReadyQueue {
 public:
  ReadyQueue() = default;
  ReadyQueue(const ReadyQueue&) = delete;
  ReadyQueue& operator=(const ReadyQueue&) = delete;
  ~ReadyQueue() {
    for (std::size_t i = 0; i < size_; ++i) at(i).~T();
    Alloc::release(items_);
  }

  bool empty() const { return size_ == 0; }
  std::size_t size() const { return size_; }

  // Returns false only when memory runs out; the queue is unchanged then.
  bool push_back(T item) {
    if (size_ == capacity_ && !grow()) return false;
    // The slot is raw memory: construct in it, never assign to it.
    new (&items_[(head_ + size_) & (capacity_ - 1)]) T(std::move(item));
    ++size_;
    return true;
  }

  // Puts item first (a pop undone); cannot fail right after a pop_front.
  bool push_front(T item) {
    if (size_ == capacity_ && !grow(capacity_ + 1)) return false;
    head_ = (head_ - 1) & (capacity_ - 1);
    new (&items_[head_]) T(std::move(item));
    ++size_;
    return true;
  }

  // Room for n items in all, so that that many pushes cannot fail.
  bool reserve(std::size_t n) { return n <= capacity_ || grow(n); }

  // Precondition: !empty().
  T pop_front() {
    T item = std::move(items_[head_]);
    items_[head_].~T();
    head_ = (head_ + 1) & (capacity_ - 1);
    --size_;
    return item;
  }

  void swap(ReadyQueue& other) noexcept {
    std::swap(items_, other.items_);
    std::swap(capacity_, other.capacity_);
    std::swap(head_, other.head_);
    std::swap(size_, other.size_);
  }

  // The i-th item from the front.
  T& at(std::size_t i) { return items_[(head_ + i) & (capacity_ - 1)]; }

  // Calls f(item) for each item, front first, and returns the first
  // non-zero result of f, else 0: a garbage collector's traversal, which
  // must leave the queue alone.
  template <class F>
  int visit(F&& f) const {
    std::size_t to_end = capacity_ - head_;
    std::size_t first = size_ < to_end ? size_ : to_end;  // up to the wrap
    for (const T *p = items_ + head_, *end = p + first; p != end; ++p) {
      if (int rc = f(*p)) return rc;
    }
    for (const T *p = items_, *end = items_ + (size_ - first); p != end; ++p) {
      if (int rc = f(*p)) return rc;
    }
    return 0;
  }

 private:
  // To the first power of two >= needed, at least double the capacity.
  bool grow(std::size_t needed = 0) {
    std::size_t new_capacity = capacity_ ? capacity_ * 2 : 64;
    while (new_capacity < needed) {
      if (new_capacity > SIZE_MAX / 2 / sizeof(T)) return false;
      new_capacity *= 2;
    }
    if (new_capacity > SIZE_MAX / sizeof(T)) return false;
    T* fresh = static_cast<T*>(Alloc::allocate(new_capacity * sizeof(T)));
    if (fresh == nullptr) return false;
    for (std::size_t i = 0; i < size_; ++i) {
      new (&fresh[i]) T(std::move(at(i)));
      at(i).~T();
    }
    Alloc::release(items_);
    items_ = fresh;
    capacity_ = new_capacity;
    head_ = 0;
    return true;
  }

  T* items_ = nullptr;
  std::size_t capacity_ = 0;  // always zero or a power of two
  std::size_t head_ = 0;
  std::size_t size_ = 0;
};

}  // namespace aioev
