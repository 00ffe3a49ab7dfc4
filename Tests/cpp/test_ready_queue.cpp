// Unit tests of aioev::ReadyQueue (Include/aioev/ready_queue.hpp), the ring
// buffer behind call_soon: FIFO order must survive growth while the ring is
// wrapped, and items must be moved, never copied, and destroyed exactly once.
// Also of aioev::ReadyEntry, the tagged entry the loop queues: each kind's
// fields, and entries of every kind kept whole and in order by the queue.
#include "aioev/ready_queue.hpp"

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <random>
#include <type_traits>
#include <utility>
#include <vector>

#include "failing_allocator.hpp"

namespace {

using aioev::ReadyEntry;
using aioev::ReadyKind;
using aioev::ReadyQueue;

// Counts live instances, so a leak or a double destruction shows as a
// non-zero balance, and counts copies, which the queue must never make.
struct Tracked {
  static int live;
  static int copies;
  int value;

  explicit Tracked(int v) : value(v) { ++live; }
  Tracked(const Tracked& other) : value(other.value) {
    ++live;
    ++copies;
  }
  Tracked(Tracked&& other) noexcept : value(other.value) {
    other.value = -1;
    ++live;
  }
  Tracked& operator=(const Tracked& other) {
    value = other.value;
    ++copies;
    return *this;
  }
  Tracked& operator=(Tracked&& other) noexcept {
    value = other.value;
    other.value = -1;
    return *this;
  }
  ~Tracked() { --live; }
};
int Tracked::live = 0;
int Tracked::copies = 0;

class ReadyQueueTrackedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Tracked::live = 0;
    Tracked::copies = 0;
  }
};

// Checks that q holds exactly ref, front first, through at().
template <class T, class Alloc>
void expect_same_contents(ReadyQueue<T, Alloc>& q, const std::deque<T>& ref) {
  ASSERT_EQ(q.size(), ref.size());
  for (std::size_t i = 0; i < ref.size(); ++i) ASSERT_EQ(q.at(i), ref[i]) << "at(" << i << ")";
}

TEST(ReadyQueueTest, NewQueueIsEmpty) {
  ReadyQueue<int> q;
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.size(), 0u);
}

TEST(ReadyQueueTest, SizeAndEmptyFollowPushAndPop) {
  ReadyQueue<int> q;
  ASSERT_TRUE(q.push_back(7));
  EXPECT_FALSE(q.empty());
  EXPECT_EQ(q.size(), 1u);
  ASSERT_TRUE(q.push_back(8));
  EXPECT_EQ(q.size(), 2u);
  EXPECT_EQ(q.pop_front(), 7);
  EXPECT_EQ(q.size(), 1u);
  EXPECT_EQ(q.pop_front(), 8);
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.size(), 0u);
}

TEST(ReadyQueueTest, PopsInPushOrder) {
  ReadyQueue<int> q;
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(q.push_back(i));
  for (int i = 0; i < 10; ++i) EXPECT_EQ(q.pop_front(), i);
  EXPECT_TRUE(q.empty());
}

// The ring wraps many times at a constant size, without growing.
TEST(ReadyQueueTest, KeepsFifoOrderWhenWrappingWithoutGrowth) {
  ReadyQueue<int> q;
  std::deque<int> ref;
  int next = 0;
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(q.push_back(next));
    ref.push_back(next++);
  }
  for (int round = 0; round < 1000; ++round) {
    ASSERT_TRUE(q.push_back(next));
    ref.push_back(next++);
    ASSERT_EQ(q.pop_front(), ref.front());
    ref.pop_front();
  }
  expect_same_contents(q, ref);
}

// Each round leaves the head part-way round the ring and then pushes past the
// capacity, so every doubling happens while the contents are wrapped.
TEST(ReadyQueueTest, KeepsFifoOrderAcrossGrowthWhileWrapped) {
  ReadyQueue<int> q;
  std::deque<int> ref;
  int next = 0;
  for (std::size_t target = 64; target <= 16384; target *= 2) {
    // Pop some, so the head moves off slot zero ...
    std::size_t pops = ref.size() / 3 + 1;
    for (std::size_t i = 0; i < pops && !ref.empty(); ++i) {
      ASSERT_EQ(q.pop_front(), ref.front());
      ref.pop_front();
    }
    // ... then fill past the old capacity.
    while (ref.size() < target + 5) {
      ASSERT_TRUE(q.push_back(next));
      ref.push_back(next++);
    }
    expect_same_contents(q, ref);
  }
  while (!ref.empty()) {
    ASSERT_EQ(q.pop_front(), ref.front());
    ref.pop_front();
  }
  EXPECT_TRUE(q.empty());
}

// Random interleavings (fixed seed) checked against std::deque; pushes win
// slightly, so the queue grows through several doublings on the way.
TEST(ReadyQueueTest, MatchesDequeOnRandomInterleavings) {
  std::mt19937 rng(20240601u);
  ReadyQueue<std::uint64_t> q;
  std::deque<std::uint64_t> ref;
  std::uint64_t next = 0;
  for (int op = 0; op < 100000; ++op) {
    if (ref.empty() || rng() % 100 < 55) {
      ASSERT_TRUE(q.push_back(next));
      ref.push_back(next++);
    } else {
      ASSERT_EQ(q.pop_front(), ref.front());
      ref.pop_front();
    }
    ASSERT_EQ(q.size(), ref.size());
    ASSERT_EQ(q.empty(), ref.empty());
    if (op % 4999 == 0) expect_same_contents(q, ref);
  }
  EXPECT_GT(ref.size(), 1024u);  // several doublings past the initial 64
  expect_same_contents(q, ref);
}

TEST(ReadyQueueTest, AtIndexesFromTheFrontAndIsWritable) {
  ReadyQueue<int> q;
  for (int i = 0; i < 60; ++i) ASSERT_TRUE(q.push_back(i));
  for (int i = 0; i < 50; ++i) ASSERT_EQ(q.pop_front(), i);
  for (int i = 60; i < 100; ++i) ASSERT_TRUE(q.push_back(i));  // wraps the ring of 64
  ASSERT_EQ(q.size(), 50u);
  for (std::size_t i = 0; i < q.size(); ++i) EXPECT_EQ(q.at(i), static_cast<int>(50 + i));

  q.at(0) = -50;
  q.at(49) = -99;
  EXPECT_EQ(q.pop_front(), -50);
  for (int i = 51; i < 99; ++i) EXPECT_EQ(q.pop_front(), i);
  EXPECT_EQ(q.pop_front(), -99);
  EXPECT_TRUE(q.empty());
}

// visit() walks front to back across the wrap, and stops at the first
// non-zero result, which it returns (a tp_traverse's Py_VISIT).
TEST(ReadyQueueTest, VisitWalksFrontToBackAndStopsEarly) {
  ReadyQueue<int> q;
  EXPECT_EQ(q.visit([](int) { return 1; }), 0);  // never allocated
  for (int i = 0; i < 60; ++i) ASSERT_TRUE(q.push_back(i));
  for (int i = 0; i < 50; ++i) ASSERT_EQ(q.pop_front(), i);
  for (int i = 60; i < 100; ++i) ASSERT_TRUE(q.push_back(i));  // wraps the ring of 64
  std::vector<int> seen;
  EXPECT_EQ(q.visit([&](int v) {
    seen.push_back(v);
    return 0;
  }), 0);
  ASSERT_EQ(seen.size(), 50u);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(seen[i], 50 + i);
  // Stops past the wrap and before it.
  for (int stop : {55, 70, 99}) {
    seen.clear();
    EXPECT_EQ(q.visit([&](int v) {
      seen.push_back(v);
      return v == stop ? -stop : 0;
    }), -stop);
    EXPECT_EQ(seen.back(), stop);
    EXPECT_EQ(seen.size(), static_cast<std::size_t>(stop - 49));
  }
  while (!q.empty()) q.pop_front();
  EXPECT_EQ(q.visit([](int) { return 1; }), 0);  // emptied
}

TEST_F(ReadyQueueTrackedTest, MoveOnlyItemsSurviveGrowthAndAreFreed) {
  {
    ReadyQueue<std::unique_ptr<Tracked>> q;
    int next = 0;
    int expected = 0;
    // Wrap, then grow 64 -> 128 -> 256 -> 512 while wrapped.
    for (int i = 0; i < 40; ++i) ASSERT_TRUE(q.push_back(std::make_unique<Tracked>(next++)));
    for (int i = 0; i < 30; ++i) {
      std::unique_ptr<Tracked> p = q.pop_front();
      ASSERT_NE(p, nullptr);
      ASSERT_EQ(p->value, expected++);
    }
    for (int i = 0; i < 400; ++i) ASSERT_TRUE(q.push_back(std::make_unique<Tracked>(next++)));
    EXPECT_EQ(Tracked::live, 410);
    for (std::size_t i = 0; i < q.size(); ++i) {
      ASSERT_NE(q.at(i), nullptr);
      ASSERT_EQ(q.at(i)->value, static_cast<int>(30 + i));
    }
    for (int i = 0; i < 200; ++i) {
      std::unique_ptr<Tracked> p = q.pop_front();
      ASSERT_NE(p, nullptr);
      ASSERT_EQ(p->value, expected++);
    }
    EXPECT_EQ(Tracked::live, 210);
    // The remaining 210 are still in the queue when it is destroyed.
  }
  EXPECT_EQ(Tracked::live, 0);
  EXPECT_EQ(Tracked::copies, 0);
}

// A value type that counts constructions and destructions: every object the
// queue constructs (by move) must be destroyed exactly once.
TEST_F(ReadyQueueTrackedTest, ValueItemsAreMovedNotCopiedAndDestroyedOnce) {
  {
    ReadyQueue<Tracked> q;
    int expected = 0;
    int next = 0;
    for (int round = 0; round < 6; ++round) {
      for (int i = 0; i < 100 * (round + 1); ++i) {
        Tracked t(next++);
        ASSERT_TRUE(q.push_back(std::move(t)));
      }
      for (int i = 0; i < 50 * (round + 1); ++i) {
        Tracked t = q.pop_front();
        ASSERT_EQ(t.value, expected++);
      }
      // Only the queue's items are alive between statements.
      ASSERT_EQ(Tracked::live, static_cast<int>(q.size()));
    }
  }
  EXPECT_EQ(Tracked::live, 0);
  EXPECT_EQ(Tracked::copies, 0);
}

TEST(ReadyQueueTest, UsableAgainAfterBeingEmptied) {
  ReadyQueue<int> q;
  for (int i = 0; i < 300; ++i) ASSERT_TRUE(q.push_back(i));
  for (int i = 0; i < 300; ++i) ASSERT_EQ(q.pop_front(), i);
  ASSERT_TRUE(q.empty());
  for (int i = 1000; i < 1010; ++i) ASSERT_TRUE(q.push_back(i));
  EXPECT_EQ(q.size(), 10u);
  for (int i = 1000; i < 1010; ++i) EXPECT_EQ(q.pop_front(), i);
  EXPECT_TRUE(q.empty());
}

// ---- the loop's tagged entry ----

// Stands in for PyObject: the entry only stores pointers to it.
struct FakeObject {
  int id;
};
using Entry = ReadyEntry<FakeObject>;

bool same_entry(const Entry& a, const Entry& b) {
  return a.object == b.object && a.arg == b.arg && a.events == b.events && a.kind == b.kind;
}

// An entry is plain data (the loop owns what it points to), and
// ready_queue.hpp says it is three words: keep both true.
static_assert(std::is_trivially_copyable<Entry>::value, "a ready entry is plain data");
static_assert(sizeof(Entry) <= 3 * sizeof(void*), "a ready entry is three words at most");

TEST(ReadyEntryTest, EachKindSetsItsOwnFieldsOnly) {
  FakeObject obj{1}, arg{2};

  Entry h = Entry::handle(&obj);
  EXPECT_EQ(h.kind, ReadyKind::kHandle);
  EXPECT_EQ(h.object, &obj);
  EXPECT_EQ(h.arg, nullptr);
  EXPECT_EQ(h.events, 0);

  Entry step = Entry::task_step(&obj, &arg);
  EXPECT_EQ(step.kind, ReadyKind::kTaskStep);
  EXPECT_EQ(step.object, &obj);
  EXPECT_EQ(step.arg, &arg);
  EXPECT_EQ(step.events, 0);

  // A step with no exception to throw in holds no argument.
  Entry bare_step = Entry::task_step(&obj, nullptr);
  EXPECT_EQ(bare_step.kind, ReadyKind::kTaskStep);
  EXPECT_EQ(bare_step.arg, nullptr);

  Entry wakeup = Entry::task_wakeup(&obj, &arg);
  EXPECT_EQ(wakeup.kind, ReadyKind::kTaskWakeup);
  EXPECT_EQ(wakeup.object, &obj);
  EXPECT_EQ(wakeup.arg, &arg);
  EXPECT_EQ(wakeup.events, 0);

  Entry transport = Entry::transport(&obj, 3);
  EXPECT_EQ(transport.kind, ReadyKind::kTransport);
  EXPECT_EQ(transport.object, &obj);
  EXPECT_EQ(transport.arg, nullptr);
  EXPECT_EQ(transport.events, 3);
}

// A mix of every kind, the same object queued several times (a task's step
// and its wake-up, a transport twice): entries never merge, and each comes
// out whole, in order, across wrapping and growth.
TEST(ReadyEntryTest, QueueKeepsEntriesWholeAndInOrder) {
  std::vector<FakeObject> objects(16);
  for (int i = 0; i < 16; ++i) objects[i].id = i;
  auto make = [&](int i) {
    FakeObject* obj = &objects[i % 16];
    FakeObject* arg = &objects[(i * 7) % 16];
    switch (i % 5) {
      case 0:
        return Entry::handle(obj);
      case 1:
        return Entry::task_step(obj, i % 2 ? arg : nullptr);
      case 2:
        return Entry::task_wakeup(obj, arg);
      case 3:
        return Entry::transport(obj, 1 + i % 3);
      default:
        return Entry::task_step(obj, arg);
    }
  };
  ReadyQueue<Entry> q;
  std::deque<Entry> ref;
  int next = 0;
  for (int round = 0; round < 8; ++round) {
    for (int i = 0; i < 50 * (round + 1); ++i) {
      Entry e = make(next++);
      ASSERT_TRUE(q.push_back(e));
      ref.push_back(e);
    }
    for (int i = 0; i < 30 * (round + 1); ++i) {
      ASSERT_TRUE(same_entry(q.pop_front(), ref.front())) << "round " << round << " pop " << i;
      ref.pop_front();
    }
    ASSERT_EQ(q.size(), ref.size());
    for (std::size_t i = 0; i < ref.size(); ++i) ASSERT_TRUE(same_entry(q.at(i), ref[i]));
    std::size_t i = 0;
    ASSERT_EQ(q.visit([&](const Entry& e) { return same_entry(e, ref[i++]) ? 0 : 1; }), 0);
    ASSERT_EQ(i, ref.size());
  }
}

// What the loop does with its threadsafe queue when the ready queue is
// empty: a swap hands over every entry, in order.
TEST(ReadyEntryTest, SwapHandsOverEntriesInOrder) {
  FakeObject objs[3] = {{0}, {1}, {2}};
  ReadyQueue<Entry> ready, threadsafe;
  for (FakeObject& o : objs) ASSERT_TRUE(threadsafe.push_back(Entry::handle(&o)));
  ready.swap(threadsafe);
  EXPECT_TRUE(threadsafe.empty());
  ASSERT_EQ(ready.size(), 3u);
  for (FakeObject& o : objs) {
    Entry e = ready.pop_front();
    EXPECT_EQ(e.kind, ReadyKind::kHandle);
    EXPECT_EQ(e.object, &o);
  }
}

// ---- allocation failure (the module's queues allocate from Python) ----

using aioev_test::AllocationBudget;
using aioev_test::FailingAllocator;
using FailingQueue = ReadyQueue<int, FailingAllocator>;

// Fills q to its capacity, with the ring wrapped, so the next push must grow.
void fill_wrapped(FailingQueue& q, std::deque<int>& ref) {
  for (int i = 0; i < 64; ++i) {
    ASSERT_TRUE(q.push_back(i));
    ref.push_back(i);
  }
  for (int i = 0; i < 10; ++i) {
    ASSERT_EQ(q.pop_front(), ref.front());
    ref.pop_front();
    ASSERT_TRUE(q.push_back(100 + i));
    ref.push_back(100 + i);
  }
}

TEST(ReadyQueueFailureTest, FailedPushChangesNothing) {
  FailingQueue q;
  std::deque<int> ref;
  fill_wrapped(q, ref);
  {
    AllocationBudget budget(0);
    EXPECT_FALSE(q.push_back(-1));
    EXPECT_FALSE(q.push_front(-1));
    EXPECT_FALSE(q.reserve(1000));
  }
  expect_same_contents(q, ref);
  ASSERT_TRUE(q.push_back(-1));  // memory is back
  ref.push_back(-1);
  expect_same_contents(q, ref);
}

// A datagram transport puts back what the socket refused: after a pop that
// cannot fail, whether the ring is wrapped or not.
// An entry that cannot be queued leaves the queue as it was (the loop then
// raises MemoryError with nothing taken).
TEST(ReadyQueueFailureTest, FailedEntryPushChangesNothing) {
  FakeObject task{1}, future{2};
  ReadyQueue<Entry, FailingAllocator> q;
  std::deque<Entry> ref;
  for (int i = 0; i < 64; ++i) {
    Entry e = i % 2 ? Entry::task_wakeup(&task, &future) : Entry::transport(&task, i);
    ASSERT_TRUE(q.push_back(e));
    ref.push_back(e);
  }
  {
    AllocationBudget budget(0);
    EXPECT_FALSE(q.push_back(Entry::task_step(&task, nullptr)));
  }
  ASSERT_EQ(q.size(), ref.size());
  for (std::size_t i = 0; i < ref.size(); ++i) ASSERT_TRUE(same_entry(q.at(i), ref[i]));
}

TEST(ReadyQueueFailureTest, PushFrontAfterPopFrontNeedsNoMemory) {
  FailingQueue q;
  std::deque<int> ref;
  fill_wrapped(q, ref);
  AllocationBudget budget(0);
  for (int round = 0; round < 200; ++round) {
    int front = q.pop_front();
    ASSERT_EQ(front, ref.front());
    ASSERT_TRUE(q.push_front(front));
    ASSERT_EQ(q.pop_front(), front);
    ASSERT_TRUE(q.push_back(front));  // rotate, so the head goes round the ring
    ref.pop_front();
    ref.push_back(front);
  }
  EXPECT_EQ(FailingAllocator::calls, 0);
  expect_same_contents(q, ref);
}

TEST(ReadyQueueFailureTest, PushFrontOnAFullOrEmptyQueueGrows) {
  FailingQueue q;
  ASSERT_TRUE(q.push_front(2));
  ASSERT_TRUE(q.push_front(1));
  for (int i = 3; i < 200; ++i) ASSERT_TRUE(q.push_back(i));
  ASSERT_TRUE(q.push_front(0));
  for (int i = 0; i < 200; ++i) ASSERT_EQ(q.pop_front(), i);
}

// The loop makes room before each poll, so libev's callbacks never allocate.
TEST(ReadyQueueFailureTest, ReserveMakesRoomForThatManyPushes) {
  FailingQueue q;
  ASSERT_TRUE(q.push_back(0));
  ASSERT_TRUE(q.reserve(1000));
  AllocationBudget budget(0);
  for (int i = 1; i < 1000; ++i) ASSERT_TRUE(q.push_back(i));
  EXPECT_EQ(FailingAllocator::calls, 0);
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(q.pop_front(), i);
}

TEST(ReadyQueueFailureTest, SwapTradesContents) {
  FailingQueue a, b;
  std::deque<int> ref;
  fill_wrapped(a, ref);
  a.swap(b);
  EXPECT_TRUE(a.empty());
  expect_same_contents(b, ref);
  ASSERT_TRUE(a.push_back(5));
  EXPECT_EQ(a.pop_front(), 5);
}

}  // namespace
