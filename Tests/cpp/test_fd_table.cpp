// Unit tests of aioev::FdTable (Include/aioev/fd_table.hpp): the per-fd slots
// behind add_reader/add_writer and the list of fds whose watcher changed
// since the last poll, which the loop re-checks for closed fds before libev
// applies the changes.
#include "aioev/fd_table.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <climits>
#include <utility>
#include <vector>

#include "failing_allocator.hpp"

namespace {

using aioev::FdTable;

struct Slot {
  int value = 0;
  bool changed = false;
};

// No initialisers: get_or_create must still hand out a zeroed slot.
struct PlainSlot {
  int value;
  void* pointer;
  bool changed;
};

using Calls = std::vector<std::pair<int, Slot*>>;

// The (fd, slot) pairs take_changed hands out, in order.
Calls take(FdTable<Slot>& table) {
  Calls calls;
  table.take_changed([&](int fd, Slot& slot) { calls.emplace_back(fd, &slot); });
  return calls;
}

TEST(FdTableTest, FindOnAnEmptyTableFindsNothing) {
  FdTable<Slot> table;
  EXPECT_EQ(table.find(0), nullptr);
  EXPECT_EQ(table.find(1), nullptr);
  EXPECT_EQ(table.find(100000), nullptr);
  EXPECT_FALSE(table.has_changes());
}

TEST(FdTableTest, GetOrCreateCreatesOnceThenReturnsTheSameSlot) {
  FdTable<Slot> table;
  Slot* slot = table.get_or_create(5);
  ASSERT_NE(slot, nullptr);
  EXPECT_EQ(slot->value, 0);
  EXPECT_FALSE(slot->changed);
  slot->value = 42;
  EXPECT_EQ(table.get_or_create(5), slot);
  EXPECT_EQ(table.find(5), slot);
  EXPECT_EQ(slot->value, 42);
  // Lower fds inside the grown table have no slot until asked for.
  for (int fd = 0; fd < 5; ++fd) EXPECT_EQ(table.find(fd), nullptr) << "fd " << fd;
  EXPECT_EQ(table.find(6), nullptr);
}

TEST(FdTableTest, NewSlotsAreValueInitialised) {
  FdTable<PlainSlot> table;
  PlainSlot* slot = table.get_or_create(3);
  ASSERT_NE(slot, nullptr);
  EXPECT_EQ(slot->value, 0);
  EXPECT_EQ(slot->pointer, nullptr);
  EXPECT_FALSE(slot->changed);
}

TEST(FdTableTest, NegativeFdsHaveNoSlot) {
  FdTable<Slot> table;
  ASSERT_NE(table.get_or_create(0), nullptr);
  for (int fd : {-1, -2, -100, INT_MIN}) {
    EXPECT_EQ(table.find(fd), nullptr) << "fd " << fd;
    EXPECT_EQ(table.get_or_create(fd), nullptr) << "fd " << fd;
    table.erase(fd);  // a no-op, not a crash
  }
  EXPECT_NE(table.find(0), nullptr);
}

// Slots are owned separately, so growing the table leaves their addresses
// (which libev holds through the ev_io inside) and contents alone.
TEST(FdTableTest, GrowthKeepsExistingSlots) {
  FdTable<Slot> table;
  std::vector<Slot*> slots;
  for (int fd = 0; fd < 8; ++fd) {
    slots.push_back(table.get_or_create(fd));
    slots.back()->value = fd * 10;
  }
  Slot* far = table.get_or_create(5000);
  ASSERT_NE(far, nullptr);
  far->value = -1;
  Slot* farther = table.get_or_create(70000);
  ASSERT_NE(farther, nullptr);
  for (int fd = 0; fd < 8; ++fd) {
    ASSERT_EQ(table.find(fd), slots[fd]);
    EXPECT_EQ(slots[fd]->value, fd * 10);
  }
  EXPECT_EQ(table.find(5000), far);
  EXPECT_EQ(far->value, -1);
  EXPECT_EQ(table.find(4999), nullptr);
  EXPECT_EQ(table.find(70001), nullptr);
}

TEST(FdTableTest, EraseRemovesOnlyThatSlot) {
  FdTable<Slot> table;
  table.get_or_create(3)->value = 3;
  table.get_or_create(4)->value = 4;
  table.erase(3);
  EXPECT_EQ(table.find(3), nullptr);
  ASSERT_NE(table.find(4), nullptr);
  EXPECT_EQ(table.find(4)->value, 4);

  table.erase(3);      // already gone
  table.erase(2);      // never created, inside the table
  table.erase(12345);  // beyond the table
  EXPECT_NE(table.find(4), nullptr);

  Slot* again = table.get_or_create(3);
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(again->value, 0);  // a fresh slot, not the old one's contents
}

TEST(FdTableTest, MarkChangedListsEachFdOnce) {
  FdTable<Slot> table;
  Slot* a = table.get_or_create(7);
  Slot* b = table.get_or_create(2);
  table.mark_changed(7, a);
  EXPECT_TRUE(table.has_changes());
  EXPECT_TRUE(a->changed);
  table.mark_changed(2, b);
  table.mark_changed(7, a);
  table.mark_changed(2, b);
  table.mark_changed(7, a);

  Calls calls = take(table);
  // Once each, in the order they first changed.
  EXPECT_EQ(calls, (Calls{{7, a}, {2, b}}));
  EXPECT_FALSE(a->changed);
  EXPECT_FALSE(b->changed);
}

TEST(FdTableTest, TakeChangedClearsTheList) {
  FdTable<Slot> table;
  Slot* a = table.get_or_create(1);
  table.mark_changed(1, a);
  EXPECT_EQ(take(table), (Calls{{1, a}}));
  EXPECT_FALSE(table.has_changes());
  EXPECT_TRUE(take(table).empty());

  // Once taken, the fd can be listed again.
  table.mark_changed(1, a);
  EXPECT_TRUE(table.has_changes());
  EXPECT_EQ(take(table), (Calls{{1, a}}));
}

TEST(FdTableTest, TakeChangedSkipsErasedSlots) {
  FdTable<Slot> table;
  Slot* s1 = table.get_or_create(1);
  Slot* s2 = table.get_or_create(2);
  Slot* s3 = table.get_or_create(3);
  table.mark_changed(1, s1);
  table.mark_changed(2, s2);
  table.mark_changed(3, s3);
  table.erase(2);  // remove_reader dropped fd 2's last callback

  EXPECT_EQ(take(table), (Calls{{1, s1}, {3, s3}}));
  EXPECT_FALSE(table.has_changes());
}

// fd numbers are reused: a slot erased and created again within one
// iteration is still one fd to check, handed out once.
TEST(FdTableTest, RecreatedSlotIsHandedOutOnce) {
  FdTable<Slot> table;
  table.mark_changed(4, table.get_or_create(4));
  table.erase(4);
  Slot* fresh = table.get_or_create(4);
  table.mark_changed(4, fresh);

  EXPECT_EQ(take(table), (Calls{{4, fresh}}));
  EXPECT_FALSE(fresh->changed);
}

// A slot made again after an erase, but not marked, did not change.
TEST(FdTableTest, RecreatedButUnmarkedSlotIsNotHandedOut) {
  FdTable<Slot> table;
  table.mark_changed(4, table.get_or_create(4));
  table.erase(4);
  Slot* fresh = table.get_or_create(4);

  EXPECT_TRUE(take(table).empty());
  EXPECT_FALSE(fresh->changed);
  EXPECT_FALSE(table.has_changes());
}

TEST(FdTableTest, ForEachVisitsEverySlotOnceInFdOrder) {
  FdTable<Slot> table;
  for (int fd : {9, 0, 4, 300, 17}) table.get_or_create(fd)->value = fd;
  table.erase(17);

  std::vector<int> visited;
  table.for_each([&](int fd, Slot& slot) {
    EXPECT_EQ(slot.value, fd);
    EXPECT_EQ(&slot, table.find(fd));
    visited.push_back(fd);
    slot.value += 1000;  // the callback gets the slot itself
  });
  EXPECT_EQ(visited, (std::vector<int>{0, 4, 9, 300}));
  for (int fd : {0, 4, 9, 300}) EXPECT_EQ(table.find(fd)->value, fd + 1000);

  FdTable<Slot> empty;
  empty.for_each([](int, Slot&) { ADD_FAILURE() << "visited a slot of an empty table"; });
}


// ---- allocation failure (the loop's table allocates from Python) ----

using aioev_test::AllocationBudget;
using aioev_test::FailingAllocator;
using FailingTable = FdTable<Slot, FailingAllocator>;

// Each of get_or_create's allocations (the table's growth, the changed
// list's room, the slot) may fail; each failure leaves the table as it was.
TEST(FdTableFailureTest, FailedCreationChangesNothing) {
  for (long budget = 0; budget < 3; ++budget) {
    FailingTable table;
    Slot* kept = table.get_or_create(3);
    ASSERT_NE(kept, nullptr);
    kept->value = 9;
    {
      AllocationBudget limit(budget);
      EXPECT_EQ(table.get_or_create(100), nullptr) << "budget " << budget;
    }
    EXPECT_EQ(table.find(100), nullptr);
    EXPECT_EQ(table.find(3), kept);
    EXPECT_EQ(kept->value, 9);
    int slots = 0;
    table.for_each([&](int, Slot&) { ++slots; });
    EXPECT_EQ(slots, 1);
    Slot* made = table.get_or_create(100);
    ASSERT_NE(made, nullptr) << "memory is back";
    // The changed list has room for fd 100 even when the table grew on the
    // failed try and the changed list did not.
    AllocationBudget none(0);
    table.mark_changed(100, made);
    table.mark_changed(3, kept);
    EXPECT_EQ(FailingAllocator::calls, 0) << "budget " << budget;
    std::vector<int> handed;
    table.take_changed([&](int fd, Slot&) { handed.push_back(fd); });
    EXPECT_EQ(handed, (std::vector<int>{100, 3})) << "budget " << budget;
  }
}

// A slot erased and made again, over and over, is listed once: the changed
// list never grows past the table, so mark_changed never allocates.
TEST(FdTableFailureTest, MarkChangedNeverAllocates) {
  FailingTable table;
  for (int fd = 0; fd < 50; ++fd) ASSERT_NE(table.get_or_create(fd), nullptr);
  AllocationBudget budget(-1);
  FailingAllocator::calls = 0;
  for (int round = 0; round < 100; ++round) {
    for (int fd = 0; fd < 50; ++fd) {
      Slot* slot = table.find(fd);
      if (slot == nullptr) {
        FailingAllocator::budget = -1;
        slot = table.get_or_create(fd);  // the slot itself: one allocation
        ASSERT_NE(slot, nullptr);
      }
      FailingAllocator::budget = 0;
      table.mark_changed(fd, slot);
      if ((fd + round) % 3 == 0) table.erase(fd);
    }
  }
  FailingAllocator::budget = 0;
  std::vector<int> handed;
  table.take_changed([&](int fd, Slot&) { handed.push_back(fd); });
  for (int fd = 0; fd < 50; ++fd) {
    bool present = table.find(fd) != nullptr;
    EXPECT_EQ(std::count(handed.begin(), handed.end(), fd), present ? 1 : 0) << "fd " << fd;
  }
}

TEST(FdTableFailureTest, SwapTradesContents) {
  FailingTable a, b;
  Slot* slot = a.get_or_create(4);
  ASSERT_NE(slot, nullptr);
  a.mark_changed(4, slot);
  a.swap(b);
  EXPECT_EQ(a.find(4), nullptr);
  EXPECT_FALSE(a.has_changes());
  EXPECT_EQ(b.find(4), slot);
  EXPECT_TRUE(b.has_changes());
}

}  // namespace
