// The loop's ready queue: a FIFO ring buffer that grows by doubling.
//
// Plain C++ with no Python in it, so it is unit-tested without an interpreter
// (Tests/cpp/test_ready_queue.cpp). The loop stores owned PyObject pointers.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <new>
#include <utility>

namespace aioev {

template <class T>
class ReadyQueue {
 public:
  ReadyQueue() = default;
  ReadyQueue(const ReadyQueue&) = delete;
  ReadyQueue& operator=(const ReadyQueue&) = delete;
  ~ReadyQueue() {
    for (std::size_t i = 0; i < size_; ++i) at(i).~T();
    std::free(items_);
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

  // Precondition: !empty().
  T pop_front() {
    T item = std::move(items_[head_]);
    items_[head_].~T();
    head_ = (head_ + 1) & (capacity_ - 1);
    --size_;
    return item;
  }

  // The i-th item from the front, for traversal by the garbage collector.
  T& at(std::size_t i) { return items_[(head_ + i) & (capacity_ - 1)]; }

 private:
  bool grow() {
    std::size_t new_capacity = capacity_ ? capacity_ * 2 : 64;
    T* fresh = static_cast<T*>(std::malloc(new_capacity * sizeof(T)));
    if (fresh == nullptr) return false;
    for (std::size_t i = 0; i < size_; ++i) {
      new (&fresh[i]) T(std::move(at(i)));
      at(i).~T();
    }
    std::free(items_);
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
