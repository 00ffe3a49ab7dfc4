// The loop's ready queue: a FIFO ring buffer that grows by doubling. A
// datagram transport's send queue is one too.
//
// Growth reports allocation failure (returns false, the queue unchanged)
// and takes memory from Alloc, as Array does (array.hpp). Plain C++ with no
// Python in it, so it is unit-tested without an interpreter
// (Tests/cpp/test_ready_queue.cpp). The loop stores owned PyObject pointers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>
#include <utility>

#include "aioev/array.hpp"

namespace aioev {

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

  // The i-th item from the front, for traversal by the garbage collector.
  T& at(std::size_t i) { return items_[(head_ + i) & (capacity_ - 1)]; }

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
