// A growable array that reports allocation failure instead of throwing.
//
// aioev is built with -fno-exceptions, where a std::vector that cannot grow
// aborts the process. Array's growth (push_back, reserve, grow_to) returns
// false on failure and leaves the array as it was, so the caller can raise
// MemoryError with its own state intact. Memory comes from Alloc (static
// allocate/reallocate/release): plain malloc here and in the unit tests,
// Python's raw allocator in the module (Modules/_aioev/aioev.h), where
// _testcapi.set_nomemory can make it fail. Trivially copyable elements move
// with realloc, others by move construction. Plain C++, unit-tested in
// Tests/cpp/test_array.cpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <type_traits>
#include <utility>

namespace aioev {

struct MallocAllocator {
  static void* allocate(std::size_t n) { return std::malloc(n); }
  static void* reallocate(void* p, std::size_t n) { return std::realloc(p, n); }
  static void release(void* p) { std::free(p); }
};

template <class T, class Alloc = MallocAllocator>
class Array {
  static constexpr bool kTrivial = std::is_trivially_copyable<T>::value;

 public:
  Array() = default;
  Array(const Array&) = delete;
  Array& operator=(const Array&) = delete;
  Array(Array&& other) noexcept { swap(other); }
  Array& operator=(Array&& other) noexcept {
    swap(other);
    return *this;
  }
  ~Array() {
    clear();
    Alloc::release(items_);
  }

  bool empty() const { return size_ == 0; }
  std::size_t size() const { return size_; }
  std::size_t capacity() const { return capacity_; }
  T* data() { return items_; }
  T& operator[](std::size_t i) { return items_[i]; }
  const T& operator[](std::size_t i) const { return items_[i]; }
  T& front() { return items_[0]; }
  const T& front() const { return items_[0]; }
  T& back() { return items_[size_ - 1]; }
  T* begin() { return items_; }
  T* end() { return items_ + size_; }

  // Room for n items in all, so that that many push_backs cannot fail.
  bool reserve(std::size_t n) {
    if (n <= capacity_) return true;
    if (n > SIZE_MAX / sizeof(T)) return false;
    T* fresh;
    if constexpr (kTrivial) {
      fresh = static_cast<T*>(Alloc::reallocate(items_, n * sizeof(T)));
      if (fresh == nullptr) return false;
    } else {
      fresh = static_cast<T*>(Alloc::allocate(n * sizeof(T)));
      if (fresh == nullptr) return false;
      for (std::size_t i = 0; i < size_; ++i) {
        new (&fresh[i]) T(std::move(items_[i]));
        items_[i].~T();
      }
      Alloc::release(items_);
    }
    items_ = fresh;
    capacity_ = n;
    return true;
  }

  // The slot past the end is raw memory: construct in it, never assign.
  bool push_back(T item) {
    if (size_ == capacity_ && !reserve(next_capacity(size_ + 1))) return false;
    new (&items_[size_]) T(std::move(item));
    ++size_;
    return true;
  }

  // Grows to n items (n >= size()), the new ones value-initialised.
  bool grow_to(std::size_t n) {
    if (n > capacity_ && !reserve(next_capacity(n))) return false;
    for (; size_ < n; ++size_) new (&items_[size_]) T();
    return true;
  }

  // Shrinking keeps the memory: growing back to the old size cannot fail.
  void pop_back() { items_[--size_].~T(); }
  void truncate(std::size_t n) {
    if constexpr (kTrivial) {
      if (n < size_) size_ = n;
    } else {
      while (size_ > n) pop_back();
    }
  }
  void clear() { truncate(0); }

  void swap(Array& other) noexcept {
    std::swap(items_, other.items_);
    std::swap(capacity_, other.capacity_);
    std::swap(size_, other.size_);
  }

 private:
  // Doubling, as std::vector does, so n pushes cost O(n).
  std::size_t next_capacity(std::size_t needed) const {
    std::size_t doubled = capacity_ > SIZE_MAX / 2 ? SIZE_MAX : capacity_ * 2;
    std::size_t fresh = doubled > 8 ? doubled : 8;
    return fresh > needed ? fresh : needed;
  }

  T* items_ = nullptr;
  std::size_t capacity_ = 0;
  std::size_t size_ = 0;
};

}  // namespace aioev
