// Unit tests of aioev::TimerHeap (Include/aioev/timer_heap.hpp): timers come
// out by deadline, equal deadlines in scheduling order (as asyncio's heapq of
// TimerHandles does), and lazy deletion of cancelled timers keeps the heap
// bounded when the loop applies asyncio's clean-up rule.
#include "aioev/timer_heap.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <random>
#include <tuple>
#include <utility>
#include <vector>

#include "failing_allocator.hpp"

namespace {

using aioev::TimerHeap;

// Pops everything, returning the items in the order they came out.
template <class T>
std::vector<T> pop_all(TimerHeap<T>& heap) {
  std::vector<T> out;
  while (!heap.empty()) out.push_back(heap.pop());
  return out;
}

TEST(TimerHeapTest, NewHeapIsEmpty) {
  TimerHeap<int> heap;
  EXPECT_TRUE(heap.empty());
  EXPECT_EQ(heap.size(), 0u);
}

TEST(TimerHeapTest, PopsByDeadline) {
  TimerHeap<int> heap;
  const double deadlines[] = {5.0, 1.5, 9.25, 0.0, 3.0, -2.0, 7.0, 1.0, 4.5, 2.0};
  for (int i = 0; i < 10; ++i) heap.push(deadlines[i], i);
  EXPECT_EQ(heap.size(), 10u);

  std::vector<double> popped;
  while (!heap.empty()) {
    double when = heap.top().when;
    int item = heap.pop();
    EXPECT_EQ(deadlines[item], when);
    popped.push_back(when);
  }
  std::vector<double> sorted(std::begin(deadlines), std::end(deadlines));
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(popped, sorted);
}

TEST(TimerHeapTest, TopIsTheEarliestTimer) {
  TimerHeap<int> heap;
  heap.push(10.0, 1);
  EXPECT_EQ(heap.top().when, 10.0);
  EXPECT_EQ(heap.top().item, 1);
  heap.push(20.0, 2);
  EXPECT_EQ(heap.top().item, 1);
  heap.push(5.0, 3);
  EXPECT_EQ(heap.top().when, 5.0);
  EXPECT_EQ(heap.top().item, 3);
  EXPECT_EQ(heap.pop(), 3);
  EXPECT_EQ(heap.top().item, 1);
}

// asyncio's TimerHandle compares `when` alone, so heapq leaves equal
// deadlines in the order its moves make (the order below is heapq's
// heappush/heappop on the same deadlines), not in scheduling order.
TEST(TimerHeapTest, EqualDeadlinesPopAsInHeapq) {
  TimerHeap<int> heap;
  for (int i = 0; i < 12; ++i) heap.push(static_cast<double>(i % 3), i);
  EXPECT_EQ(pop_all(heap), (std::vector<int>{0, 6, 3, 9, 4, 10, 1, 7, 2, 5, 8, 11}));
}

// A NaN deadline compares false with everything: the heap then moves it as
// asyncio's heapq does (the orders below are heapq.heappush/heappop's on
// the same deadlines), so NaN timers surface, and hold others back, alike.
TEST(TimerHeapTest, NanDeadlinesMoveAsInHeapq) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const std::vector<std::pair<std::vector<double>, std::vector<int>>> cases = {
      {{1.0, nan, 0.3, 0.1}, {2, 3, 1, 0}},
      {{0.2, 0.1, nan}, {1, 0, 2}},
      {{nan, 3.0, 1.0, 2.0, nan, 0.5}, {0, 5, 2, 4, 3, 1}},
  };
  for (const auto& c : cases) {
    TimerHeap<int> heap;
    for (std::size_t i = 0; i < c.first.size(); ++i) heap.push(c.first[i], static_cast<int>(i));
    EXPECT_EQ(pop_all(heap), c.second);
  }
}

TEST(TimerHeapTest, AtVisitsEveryItem) {
  TimerHeap<int> heap;
  for (int i = 0; i < 50; ++i) heap.push(static_cast<double>((i * 37) % 50), i);
  std::vector<int> seen;
  for (std::size_t i = 0; i < heap.size(); ++i) seen.push_back(heap.at(i));
  std::sort(seen.begin(), seen.end());
  for (int i = 0; i < 50; ++i) ASSERT_EQ(seen[i], i);
}

TEST(TimerHeapTest, RemoveIfDropsExactlyTheMatchingItemsAndKeepsOrder) {
  TimerHeap<int> heap;
  // Deadlines descend so the heap is not trivially in insertion order.
  for (int i = 0; i < 200; ++i) heap.push(static_cast<double>((200 - i) / 4), i);
  int calls = 0;
  heap.remove_if([&](int item) {
    ++calls;
    return item % 3 == 0;
  });
  EXPECT_EQ(calls, 200);  // each item judged once
  EXPECT_EQ(heap.size(), 200u - 67u);

  std::vector<int> out = pop_all(heap);
  std::vector<int> expected;
  for (int i = 0; i < 200; ++i) {
    if (i % 3 != 0) expected.push_back(i);
  }
  // By deadline (equal deadlines in heapq's order, whatever it is).
  auto deadline = [](int a) { return (200 - a) / 4; };
  for (std::size_t k = 1; k < out.size(); ++k) ASSERT_LE(deadline(out[k - 1]), deadline(out[k]));
  std::sort(out.begin(), out.end());
  EXPECT_EQ(out, expected);
}

TEST(TimerHeapTest, RemoveIfCanEmptyTheHeapOrKeepEverything) {
  TimerHeap<int> heap;
  for (int i = 0; i < 20; ++i) heap.push(static_cast<double>(i % 4), i);
  heap.remove_if([](int) { return false; });
  EXPECT_EQ(heap.size(), 20u);
  heap.remove_if([](int) { return true; });
  EXPECT_TRUE(heap.empty());
  heap.push(1.0, 99);  // still usable
  EXPECT_EQ(heap.pop(), 99);
}

// The model: a sorted list of (when, scheduling order, id). Timers are pushed
// with a few coarse deadlines (many ties), popped, and removed in bulk by
// random predicates; the heap must agree with the model after every step
// (among equal deadlines any one may come first: heapq's order is tested above).
TEST(TimerHeapTest, MatchesSortedReferenceOnRandomOperations) {
  using Key = std::tuple<double, std::uint64_t, int>;  // when, order, id
  std::mt19937 rng(12345u);
  TimerHeap<int> heap;
  std::vector<Key> ref;  // kept sorted
  std::uint64_t order = 0;
  int next_id = 0;
  int pops = 0;
  int removes = 0;

  for (int op = 0; op < 10000; ++op) {
    unsigned roll = rng() % 100;
    if (roll < 60 || ref.empty()) {
      double when = static_cast<double>(rng() % 64) / 4.0;
      int id = next_id++;
      heap.push(when, id);
      Key key{when, order++, id};
      ref.insert(std::upper_bound(ref.begin(), ref.end(), key), key);
    } else if (roll < 95) {
      ASSERT_EQ(heap.top().when, std::get<0>(ref.front()));
      double when = heap.top().when;
      int id = heap.pop();
      auto it = std::find_if(ref.begin(), ref.end(), [&](const Key& k) {
        return std::get<0>(k) == when && std::get<2>(k) == id;
      });
      ASSERT_NE(it, ref.end()) << "popped " << id;
      ref.erase(it);
      ++pops;
    } else {
      // Drop the ids with a given residue, as a cancelled-flag check would.
      int mod = 2 + static_cast<int>(rng() % 5);
      int residue = static_cast<int>(rng() % mod);
      std::size_t judged = 0;
      heap.remove_if([&](int id) {
        ++judged;
        return id % mod == residue;
      });
      ASSERT_EQ(judged, ref.size());
      ref.erase(std::remove_if(ref.begin(), ref.end(),
                               [&](const Key& k) { return std::get<2>(k) % mod == residue; }),
                ref.end());
      ++removes;
    }
    ASSERT_EQ(heap.size(), ref.size()) << "after op " << op;
    ASSERT_EQ(heap.empty(), ref.empty());
    if (!ref.empty()) {
      ASSERT_EQ(heap.top().when, std::get<0>(ref.front())) << "after op " << op;
    }
  }
  EXPECT_GT(pops, 1000);
  EXPECT_GT(removes, 100);

  std::vector<int> rest = pop_all(heap);
  ASSERT_EQ(rest.size(), ref.size());
  std::vector<int> ids;
  for (const Key& k : ref) ids.push_back(std::get<2>(k));
  std::sort(rest.begin(), rest.end());
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(rest, ids);
}

TEST(TimerHeapTest, TakeAllHandsEveryItemOnceAndEmptiesTheHeap) {
  TimerHeap<int> heap;
  for (int i = 0; i < 1000; ++i) heap.push(static_cast<double>((i * 7919) % 101), i);
  for (int i = 0; i < 100; ++i) heap.pop();  // empty a heap that has been used

  std::vector<int> handed;
  for (auto& entry : heap.take_all()) handed.push_back(entry.item);
  EXPECT_TRUE(heap.empty());
  EXPECT_EQ(heap.size(), 0u);
  ASSERT_EQ(handed.size(), 900u);
  std::sort(handed.begin(), handed.end());
  EXPECT_EQ(std::adjacent_find(handed.begin(), handed.end()), handed.end()) << "handed twice";

  EXPECT_TRUE(heap.take_all().empty()) << "an empty heap handed an item";
  heap.push(2.0, 1);
  heap.push(1.0, 2);
  EXPECT_EQ(heap.pop(), 2);
  EXPECT_EQ(heap.pop(), 1);
}

struct Counted {
  static int live;
  int id;
  explicit Counted(int i) : id(i) { ++live; }
  Counted(const Counted&) = delete;
  Counted& operator=(const Counted&) = delete;
  ~Counted() { --live; }
};
int Counted::live = 0;

// Owned items (the loop stores owned TimerHandles) are neither leaked nor
// freed twice by push, pop, remove_if, take_all or the destructor.
TEST(TimerHeapTest, MoveOnlyItemsAreNeitherLeakedNorFreedTwice) {
  Counted::live = 0;
  {
    TimerHeap<std::unique_ptr<Counted>> heap;
    for (int i = 0; i < 500; ++i) heap.push(static_cast<double>(i % 17), std::make_unique<Counted>(i));
    EXPECT_EQ(Counted::live, 500);

    std::unique_ptr<Counted> first = heap.pop();
    ASSERT_NE(first, nullptr);
    EXPECT_EQ(first->id, 0);  // deadline 0, scheduled first
    first.reset();
    EXPECT_EQ(Counted::live, 499);

    heap.remove_if([](const std::unique_ptr<Counted>& p) { return p->id % 2 == 0; });
    EXPECT_EQ(Counted::live, 250);  // the odd ids 1..499
    EXPECT_EQ(heap.size(), 250u);
    for (std::size_t i = 0; i < heap.size(); ++i) ASSERT_NE(heap.at(i), nullptr);

    std::vector<std::unique_ptr<Counted>> taken;
    for (int i = 0; i < 50; ++i) taken.push_back(heap.pop());
    for (const auto& p : taken) {
      ASSERT_NE(p, nullptr);
      EXPECT_EQ(p->id % 2, 1);
    }
    taken.clear();
    EXPECT_EQ(Counted::live, 200);

    int drained = 0;
    {
      auto entries = heap.take_all();
      for (auto& entry : entries) {
        ASSERT_NE(entry.item, nullptr);
        if (drained++ % 2 == 0) taken.push_back(std::move(entry.item));  // take half
      }
      EXPECT_TRUE(heap.empty());
    }  // the other half goes with the entries
    EXPECT_EQ(drained, 200);
    EXPECT_EQ(Counted::live, 100);  // only the taken ones remain

    for (int i = 0; i < 30; ++i) heap.push(1.0, std::make_unique<Counted>(1000 + i));
    // The heap is destroyed with these 30 still in it.
  }
  EXPECT_EQ(Counted::live, 0);
}

// The loop's side of lazy deletion, as asyncio's BaseEventLoop._run_once does
// it: when more than 100 timers are scheduled and over half are cancelled,
// rebuild without the cancelled ones; otherwise pop cancelled ones off the top.
struct FakeLoop {
  static constexpr std::size_t kMinScheduled = 100;
  static constexpr double kMaxCancelledFraction = 0.5;

  TimerHeap<std::uint32_t> timers;
  std::vector<char> cancelled;  // indexed by timer id
  std::size_t cancelled_in_heap = 0;
  std::size_t rebuilds = 0;

  std::uint32_t call_at(double when) {
    std::uint32_t id = static_cast<std::uint32_t>(cancelled.size());
    cancelled.push_back(0);
    timers.push(when, id);
    return id;
  }

  void cancel(std::uint32_t id) {
    if (cancelled[id]) return;
    cancelled[id] = 1;
    ++cancelled_in_heap;
  }

  void drop_cancelled() {
    if (timers.size() > kMinScheduled &&
        static_cast<double>(cancelled_in_heap) >
            kMaxCancelledFraction * static_cast<double>(timers.size())) {
      timers.remove_if([&](std::uint32_t id) { return cancelled[id] != 0; });
      cancelled_in_heap = 0;
      ++rebuilds;
      return;
    }
    while (!timers.empty() && cancelled[timers.top().item]) {
      timers.pop();
      --cancelled_in_heap;
    }
  }
};

TEST(TimerHeapTest, CancellingAMillionTimersKeepsTheHeapBounded) {
  FakeLoop loop;
  std::size_t live = 0;
  std::size_t max_size = 0;
  for (std::uint32_t i = 0; i < 1000000; ++i) {
    // Later and later deadlines, as call_later(delay) from a running loop gives.
    std::uint32_t id = loop.call_at(1000.0 + i * 1e-3);
    if (i % 10000 == 0) {
      ++live;  // one in ten thousand survives
    } else {
      loop.cancel(id);
    }
    loop.drop_cancelled();  // once per loop iteration
    max_size = std::max(max_size, loop.timers.size());
    ASSERT_LE(loop.timers.size(), 2 * live + FakeLoop::kMinScheduled + 1) << "after timer " << i;
  }
  EXPECT_EQ(live, 100u);
  EXPECT_LE(max_size, 2 * live + FakeLoop::kMinScheduled + 1);
  EXPECT_GT(loop.rebuilds, 1000u);

  // Exactly the live timers are left, in deadline order, once the
  // stragglers are cleaned off.
  loop.timers.remove_if([&](std::uint32_t id) { return loop.cancelled[id] != 0; });
  ASSERT_EQ(loop.timers.size(), live);
  std::uint32_t expected = 0;
  while (!loop.timers.empty()) {
    EXPECT_EQ(loop.timers.pop(), expected);
    expected += 10000;
  }
}

// Cancelled timers at the front are dropped one by one when they are too few
// for a rebuild, so they never reach the ready queue.
TEST(TimerHeapTest, CancelledTimersAtTheTopArePoppedWithoutRebuild) {
  FakeLoop loop;
  for (int i = 0; i < 50; ++i) loop.call_at(static_cast<double>(i));
  for (std::uint32_t id = 0; id < 10; ++id) loop.cancel(id);  // the ten earliest
  loop.cancel(30);                                           // and one in the middle
  loop.drop_cancelled();
  EXPECT_EQ(loop.rebuilds, 0u);
  EXPECT_EQ(loop.timers.size(), 40u);
  EXPECT_EQ(loop.timers.top().item, 10u);
  EXPECT_EQ(loop.cancelled_in_heap, 1u);  // timer 30 waits until it surfaces
}


// ---- allocation failure (the loop's heap allocates from Python) ----

using aioev_test::AllocationBudget;
using aioev_test::FailingAllocator;

TEST(TimerHeapFailureTest, FailedPushChangesNothing) {
  TimerHeap<int, FailingAllocator> heap;
  int id = 0;
  for (; heap.size() < 8; ++id) ASSERT_TRUE(heap.push(static_cast<double>((id * 37) % 11), id));
  // Push until the next push has to grow the entries.
  {
    AllocationBudget budget(0);
    while (heap.push(static_cast<double>((id * 37) % 11), id)) ++id;
  }
  std::size_t size = heap.size();
  {
    AllocationBudget budget(0);
    EXPECT_FALSE(heap.push(-1.0, -1)) << "an earliest timer that did not fit";
  }
  EXPECT_EQ(heap.size(), size);
  EXPECT_NE(heap.top().item, -1);
  double last = -1;
  while (!heap.empty()) {
    double when = heap.top().when;
    ASSERT_NE(heap.pop(), -1);
    ASSERT_GE(when, last) << "the heap order survived the failed push";
    last = when;
  }
}

// The loop puts back a timer it popped but could not make ready.
TEST(TimerHeapFailureTest, PushAfterPopNeedsNoMemory) {
  TimerHeap<int, FailingAllocator> heap;
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(heap.push(static_cast<double>(i), i));
  AllocationBudget budget(0);
  for (int i = 0; i < 100; ++i) {
    int item = heap.pop();
    ASSERT_EQ(item, 0);
    ASSERT_TRUE(heap.push(0.0, item));
  }
  EXPECT_EQ(FailingAllocator::calls, 0);
  EXPECT_EQ(heap.size(), 100u);
}

}  // namespace
