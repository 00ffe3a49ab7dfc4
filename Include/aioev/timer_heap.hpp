// The loop's timers: a binary min-heap ordered by deadline only, moved exactly
// as heapq moves asyncio's TimerHandles (whose `<` compares `when` alone), so
// equal deadlines and NaN ones (every comparison false) surface in asyncio's
// order, after pops and heapify alike.
//
// Cancelled timers stay in the heap and are dropped lazily, as asyncio does:
// from the top when they surface, and all at once by remove_if() when they
// outnumber the live ones, so a program that cancels millions of timers does
// not grow. An Array (array.hpp) holds the entries: push() reports
// allocation failure, and a pop leaves room for one push that cannot fail.
// Plain C++, unit-tested in Tests/cpp/test_timer_heap.cpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>

#include "aioev/array.hpp"

namespace aioev {

template <class T, class Alloc = MallocAllocator>
class TimerHeap {
 public:
  struct Entry {
    double when;
    T item;
  };
  using Entries = Array<Entry, Alloc>;

  bool empty() const { return entries_.empty(); }
  std::size_t size() const { return entries_.size(); }
  const Entry& top() const { return entries_.front(); }
  T& at(std::size_t i) { return entries_[i].item; }

  // False (the heap unchanged) only when memory runs out.
  bool push(double when, T item) {
    if (!entries_.push_back(Entry{when, std::move(item)})) return false;
    sift_up(entries_.size() - 1);
    return true;
  }

  // Precondition: !empty().
  T pop() {
    T item = std::move(entries_.front().item);
    entries_.front() = std::move(entries_.back());
    entries_.pop_back();
    if (!entries_.empty()) sift_down(0);
    return item;
  }

  // Removes every item for which drop(item) is true, then restores the heap.
  template <class Pred>
  void remove_if(Pred drop) {
    std::size_t kept = 0;
    for (std::size_t i = 0; i < entries_.size(); ++i) {
      if (!drop(entries_[i].item)) entries_[kept++] = std::move(entries_[i]);
    }
    entries_.truncate(kept);
    for (std::size_t i = kept / 2; i-- > 0;) sift_down(i);  // heapq.heapify
  }

  // Empties the heap into the caller's hands: its entries, in no order.
  Entries take_all() { return std::move(entries_); }

 private:
  static bool before(const Entry& a, const Entry& b) { return a.when < b.when; }

  // heapq's _siftdown: the entry at i goes up while it is before its parent.
  void sift_up(std::size_t i, std::size_t start = 0) {
    while (i > start) {
      std::size_t parent = (i - 1) / 2;
      if (!before(entries_[i], entries_[parent])) break;
      std::swap(entries_[i], entries_[parent]);
      i = parent;
    }
  }

  // heapq's _siftup: the entry at i goes down to a leaf along the path of
  // the smaller children (the right one unless the left is before it),
  // then back up as far as it belongs.
  void sift_down(std::size_t i) {
    const std::size_t n = entries_.size();
    const std::size_t start = i;
    Entry moving = std::move(entries_[i]);
    for (std::size_t child = 2 * i + 1; child < n; child = 2 * i + 1) {
      if (child + 1 < n && !before(entries_[child], entries_[child + 1])) ++child;
      entries_[i] = std::move(entries_[child]);
      i = child;
    }
    entries_[i] = std::move(moving);
    sift_up(i, start);
  }

  Entries entries_;
};

}  // namespace aioev
