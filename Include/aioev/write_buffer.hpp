// A transport's write buffer: the bytes the socket has not taken yet, kept
// contiguous so one send() can take as much as the kernel accepts.
//
// Appends copy (the caller's object may change after write() returns);
// consume() drops bytes from the front in O(1), and the space they leave is
// reused when the buffer empties or the next append needs it. Memory comes
// from Alloc (array.hpp); growth reports failure. Plain C++, unit-tested in
// Tests/cpp/test_write_buffer.cpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "aioev/array.hpp"

namespace aioev {

template <class Alloc>
class BasicWriteBuffer {
 public:
  BasicWriteBuffer() = default;
  BasicWriteBuffer(const BasicWriteBuffer&) = delete;
  BasicWriteBuffer& operator=(const BasicWriteBuffer&) = delete;
  ~BasicWriteBuffer() { Alloc::release(data_); }

  bool empty() const { return begin_ == end_; }
  std::size_t size() const { return end_ - begin_; }
  const char* data() const { return data_ + begin_; }

  // Returns false only when memory runs out; the buffer is unchanged then.
  bool append(const void* bytes, std::size_t n) {
    if (n == 0) return true;
    if (capacity_ - end_ < n) {
      if (begin_ > 0 && capacity_ - size() >= n && begin_ >= size()) {
        // Enough room once the live bytes move to the front, and the move
        // is cheap next to the bytes already consumed.
        std::memmove(data_, data_ + begin_, size());
        end_ -= begin_;
        begin_ = 0;
      } else if (!grow(n)) {
        return false;
      }
    }
    std::memcpy(data_ + end_, bytes, n);
    end_ += n;
    return true;
  }

  // Drops the last bytes down to size n (n <= size()): an append undone.
  void truncate(std::size_t n) {
    end_ = begin_ + n;
    if (begin_ == end_) begin_ = end_ = 0;
  }

  // Drops the first n bytes (n <= size()).
  void consume(std::size_t n) {
    begin_ += n;
    if (begin_ == end_) begin_ = end_ = 0;
  }

  // Empties the buffer and gives its memory back.
  void clear() {
    Alloc::release(data_);
    data_ = nullptr;
    capacity_ = begin_ = end_ = 0;
  }

 private:
  bool grow(std::size_t n) {
    std::size_t live = size();
    std::size_t capacity = capacity_ ? capacity_ : 4096;
    while (capacity - live < n) {
      if (capacity > SIZE_MAX / 2) return false;
      capacity *= 2;
    }
    char* fresh = static_cast<char*>(Alloc::allocate(capacity));
    if (fresh == nullptr) return false;
    if (live) std::memcpy(fresh, data_ + begin_, live);
    Alloc::release(data_);
    data_ = fresh;
    capacity_ = capacity;
    begin_ = 0;
    end_ = live;
    return true;
  }

  char* data_ = nullptr;
  std::size_t capacity_ = 0;
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
};

using WriteBuffer = BasicWriteBuffer<MallocAllocator>;

}  // namespace aioev
