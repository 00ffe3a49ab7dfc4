// Unit tests of aioev::Array (Include/aioev/array.hpp), the growable array
// under the timer heap, the fd table and the loop's per-poll lists: growth
// keeps order and reports allocation failure without changing anything,
// shrinking keeps the memory, and elements are destroyed exactly once.
#include "aioev/array.hpp"

#include <gtest/gtest.h>

#include <cstddef>
#include <memory>
#include <utility>
#include <vector>

#include "failing_allocator.hpp"

namespace {

using aioev::Array;
using aioev_test::AllocationBudget;
using aioev_test::FailingAllocator;

TEST(ArrayTest, NewArrayIsEmptyAndOwnsNothing) {
  Array<int> a;
  EXPECT_TRUE(a.empty());
  EXPECT_EQ(a.size(), 0u);
  EXPECT_EQ(a.capacity(), 0u);
  EXPECT_EQ(a.begin(), a.end());
}

TEST(ArrayTest, PushBackKeepsOrderAcrossGrowth) {
  Array<int> a;
  for (int i = 0; i < 10000; ++i) ASSERT_TRUE(a.push_back(i));
  ASSERT_EQ(a.size(), 10000u);
  EXPECT_GE(a.capacity(), a.size());
  for (int i = 0; i < 10000; ++i) ASSERT_EQ(a[i], i);
  EXPECT_EQ(a.front(), 0);
  EXPECT_EQ(a.back(), 9999);
  int expected = 0;
  for (int v : a) ASSERT_EQ(v, expected++);
}

// Doubling: n pushes reallocate O(log n) times, not n.
TEST(ArrayTest, GrowthIsGeometric) {
  Array<int, FailingAllocator> a;
  AllocationBudget budget(-1);
  for (int i = 0; i < 100000; ++i) ASSERT_TRUE(a.push_back(i));
  EXPECT_LE(FailingAllocator::calls, 20);
}

TEST(ArrayTest, ReserveMakesRoomForThatManyPushesWithoutAllocating) {
  Array<int, FailingAllocator> a;
  ASSERT_TRUE(a.reserve(100));
  EXPECT_EQ(a.capacity(), 100u);
  AllocationBudget budget(0);  // any allocation now fails
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(a.push_back(i));
  EXPECT_EQ(FailingAllocator::calls, 0);
  EXPECT_FALSE(a.push_back(100));  // the 101st needs memory
  EXPECT_EQ(a.size(), 100u);
  EXPECT_TRUE(a.reserve(50)) << "a smaller reserve needs nothing";
}

TEST(ArrayTest, FailedGrowthChangesNothing) {
  Array<int, FailingAllocator> a;
  for (int i = 0; i < 8; ++i) ASSERT_TRUE(a.push_back(i));
  ASSERT_EQ(a.size(), a.capacity()) << "the next push must grow";
  const int* before = a.data();
  {
    AllocationBudget budget(0);
    EXPECT_FALSE(a.push_back(8));
    EXPECT_FALSE(a.reserve(1000));
    EXPECT_FALSE(a.grow_to(20));
  }
  EXPECT_EQ(a.size(), 8u);
  EXPECT_EQ(a.capacity(), 8u);
  EXPECT_EQ(a.data(), before);
  for (int i = 0; i < 8; ++i) EXPECT_EQ(a[i], i);
  ASSERT_TRUE(a.push_back(8));  // memory is back
  EXPECT_EQ(a.back(), 8);
}

TEST(ArrayTest, AbsurdSizesFailInsteadOfOverflowing) {
  Array<std::size_t> a;
  EXPECT_FALSE(a.reserve(SIZE_MAX / 2));
  EXPECT_TRUE(a.empty());
}

TEST(ArrayTest, ShrinkingKeepsTheMemory) {
  Array<int, FailingAllocator> a;
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(a.push_back(i));
  std::size_t capacity = a.capacity();
  a.pop_back();
  a.truncate(10);
  EXPECT_EQ(a.size(), 10u);
  a.truncate(20);  // never grows
  EXPECT_EQ(a.size(), 10u);
  a.clear();
  EXPECT_TRUE(a.empty());
  EXPECT_EQ(a.capacity(), capacity);
  AllocationBudget budget(0);
  for (std::size_t i = 0; i < capacity; ++i) ASSERT_TRUE(a.push_back(1));
}

TEST(ArrayTest, GrowToValueInitialises) {
  struct Plain {
    int value;
    void* pointer;
  };
  Array<Plain> a;
  ASSERT_TRUE(a.push_back(Plain{7, &a}));
  ASSERT_TRUE(a.grow_to(1000));
  ASSERT_EQ(a.size(), 1000u);
  EXPECT_EQ(a[0].value, 7);
  for (std::size_t i = 1; i < a.size(); ++i) {
    ASSERT_EQ(a[i].value, 0);
    ASSERT_EQ(a[i].pointer, nullptr);
  }
}

TEST(ArrayTest, SwapAndMoveTradeContents) {
  Array<int> a, b;
  ASSERT_TRUE(a.push_back(1));
  ASSERT_TRUE(a.push_back(2));
  ASSERT_TRUE(b.push_back(3));
  a.swap(b);
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0], 3);
  ASSERT_EQ(b.size(), 2u);
  EXPECT_EQ(b[1], 2);
  Array<int> c(std::move(b));
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(b.capacity(), 0u);
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[0], 1);
}

struct Counted {
  static int live;
  int id;
  explicit Counted(int i) : id(i) { ++live; }
  ~Counted() { --live; }
};
int Counted::live = 0;

// Elements that are not trivially copyable are moved on growth, never
// leaked, and destroyed once by pop_back, truncate, clear or the destructor.
TEST(ArrayTest, OwnedElementsAreNeitherLeakedNorFreedTwice) {
  Counted::live = 0;
  {
    Array<std::unique_ptr<Counted>> a;
    for (int i = 0; i < 1000; ++i) ASSERT_TRUE(a.push_back(std::make_unique<Counted>(i)));
    EXPECT_EQ(Counted::live, 1000);
    for (int i = 0; i < 1000; ++i) ASSERT_EQ(a[i]->id, i);
    a.pop_back();
    EXPECT_EQ(Counted::live, 999);
    a.truncate(500);
    EXPECT_EQ(Counted::live, 500);
    Array<std::unique_ptr<Counted>> b(std::move(a));
    EXPECT_EQ(Counted::live, 500);
    b.clear();
    EXPECT_EQ(Counted::live, 0);
    for (int i = 0; i < 30; ++i) ASSERT_TRUE(b.push_back(std::make_unique<Counted>(i)));
  }
  EXPECT_EQ(Counted::live, 0);
}

TEST(ArrayTest, FailedGrowthKeepsOwnedElements) {
  Counted::live = 0;
  {
    Array<std::unique_ptr<Counted>, FailingAllocator> a;
    for (int i = 0; i < 8; ++i) ASSERT_TRUE(a.push_back(std::make_unique<Counted>(i)));
    ASSERT_EQ(a.size(), a.capacity());
    {
      AllocationBudget budget(0);
      EXPECT_FALSE(a.push_back(std::make_unique<Counted>(8)));
    }
    EXPECT_EQ(Counted::live, 8) << "the refused element is destroyed, the others kept";
    for (int i = 0; i < 8; ++i) ASSERT_EQ(a[i]->id, i);
  }
  EXPECT_EQ(Counted::live, 0);
}

}  // namespace
