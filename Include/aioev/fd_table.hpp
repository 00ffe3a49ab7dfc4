// Per-fd bookkeeping for I/O watchers: a table indexed by fd, plus the list of
// fds whose watcher changed since the last poll.
//
// libev applies watcher changes lazily, inside the next poll, and Debian's
// libev aborts when such a change reaches a closed fd. The loop therefore
// re-checks every fd on the changed list just before it polls.
//
// Only get_or_create allocates, and it reports failure (nullptr, the table
// unchanged but for room): the changed list always has room for every fd
// the table covers and lists each fd once, so mark_changed, called where
// no error can be raised, never allocates. Memory comes from Alloc
// (array.hpp). Plain C++, unit-tested in Tests/cpp/test_fd_table.cpp.
#pragma once

#include <cstddef>
#include <new>

#include "aioev/array.hpp"

namespace aioev {

template <class Slot, class Alloc = MallocAllocator>
class FdTable {
 public:
  FdTable() = default;
  FdTable(const FdTable&) = delete;
  FdTable& operator=(const FdTable&) = delete;
  ~FdTable() {
    for (Entry& e : entries_) destroy(e.slot);
  }

  // The slot for fd, or nullptr when there is none.
  Slot* find(int fd) const {
    if (fd < 0 || static_cast<std::size_t>(fd) >= entries_.size()) return nullptr;
    return entries_[fd].slot;
  }

  // The slot for fd, created (value-initialised) when missing; nullptr if
  // fd < 0 or memory runs out.
  Slot* get_or_create(int fd) {
    if (fd < 0) return nullptr;
    std::size_t index = static_cast<std::size_t>(fd);
    if (index >= entries_.size() && !entries_.grow_to(index + 1)) return nullptr;
    // Checked apart: the table may have grown the last time, and this not.
    if (changed_.capacity() < entries_.size() && !changed_.reserve(entries_.capacity())) {
      return nullptr;
    }
    Entry& e = entries_[index];
    if (e.slot == nullptr) {
      void* memory = Alloc::allocate(sizeof(Slot));
      if (memory == nullptr) return nullptr;
      e.slot = new (memory) Slot();
    }
    return e.slot;
  }

  // Destroys the slot for fd (its owner must have released what it holds).
  void erase(int fd) {
    Slot* slot = find(fd);
    if (slot == nullptr) return;
    entries_[fd].slot = nullptr;
    destroy(slot);
  }

  // Records that fd's watcher changed; each fd is listed once, even if its
  // slot was erased and made again since it was listed.
  void mark_changed(int fd, Slot* slot) {
    if (slot->changed) return;
    slot->changed = true;
    Entry& e = entries_[fd];
    if (e.listed) return;
    e.listed = changed_.push_back(fd);  // cannot fail: there is room for every fd
  }

  // Hands each changed fd that still has a changed slot to check(fd, slot),
  // then clears the list.
  template <class Fn>
  void take_changed(Fn check) {
    for (int fd : changed_) {
      Entry& e = entries_[fd];
      e.listed = false;
      if (e.slot != nullptr && e.slot->changed) {
        e.slot->changed = false;
        check(fd, *e.slot);
      }
    }
    changed_.clear();
  }

  bool has_changes() const { return !changed_.empty(); }

  // Calls fn(fd, slot) for every slot.
  template <class Fn>
  void for_each(Fn fn) {
    for (std::size_t fd = 0; fd < entries_.size(); ++fd) {
      if (entries_[fd].slot != nullptr) fn(static_cast<int>(fd), *entries_[fd].slot);
    }
  }

  // Trades contents with other: lets the loop empty its table without
  // allocating, then release the slots it took.
  void swap(FdTable& other) noexcept {
    entries_.swap(other.entries_);
    changed_.swap(other.changed_);
  }

 private:
  struct Entry {
    Slot* slot;
    bool listed;  // fd is on the changed list
  };

  static void destroy(Slot* slot) {
    if (slot == nullptr) return;
    slot->~Slot();
    Alloc::release(slot);
  }

  Array<Entry, Alloc> entries_;
  Array<int, Alloc> changed_;
};

}  // namespace aioev
