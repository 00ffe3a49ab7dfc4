// Per-fd bookkeeping for I/O watchers: a table indexed by fd, plus the list of
// fds whose watcher changed since the last poll.
//
// libev applies watcher changes lazily, inside the next poll, and Debian's
// libev aborts when such a change reaches a closed fd. The loop therefore
// re-checks every fd on the changed list just before it polls. Plain C++,
// unit-tested in Tests/cpp/test_fd_table.cpp.
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

namespace aioev {

template <class Slot>
class FdTable {
 public:
  // The slot for fd, or nullptr when there is none.
  Slot* find(int fd) const {
    if (fd < 0 || static_cast<std::size_t>(fd) >= slots_.size()) return nullptr;
    return slots_[fd].get();
  }

  // The slot for fd, created (value-initialised) when missing; nullptr if fd < 0.
  Slot* get_or_create(int fd) {
    if (fd < 0) return nullptr;
    if (static_cast<std::size_t>(fd) >= slots_.size()) slots_.resize(fd + 1);
    if (!slots_[fd]) slots_[fd].reset(new Slot());
    return slots_[fd].get();
  }

  // Destroys the slot for fd (its owner must have released what it holds).
  void erase(int fd) {
    if (find(fd) != nullptr) slots_[fd].reset();
  }

  // Records that fd's watcher changed; each fd is listed once.
  void mark_changed(int fd, Slot* slot) {
    if (slot->changed) return;
    slot->changed = true;
    changed_.push_back(fd);
  }

  // Hands each changed fd that still has a slot to check(fd, slot), then
  // clears the list. An fd erased and marked again is listed twice; the
  // changed flag lets only its first entry through.
  template <class Fn>
  void take_changed(Fn check) {
    for (int fd : changed_) {
      Slot* slot = find(fd);
      if (slot != nullptr && slot->changed) {
        slot->changed = false;
        check(fd, *slot);
      }
    }
    changed_.clear();
  }

  bool has_changes() const { return !changed_.empty(); }

  // Calls fn(fd, slot) for every slot.
  template <class Fn>
  void for_each(Fn fn) {
    for (std::size_t fd = 0; fd < slots_.size(); ++fd) {
      if (slots_[fd]) fn(static_cast<int>(fd), *slots_[fd]);
    }
  }

 private:
  std::vector<std::unique_ptr<Slot>> slots_;
  std::vector<int> changed_;
};

}  // namespace aioev
