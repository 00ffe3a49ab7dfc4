// Unit tests of aioev::WriteBuffer (Include/aioev/write_buffer.hpp), the
// bytes a socket transport has not sent yet: what goes in comes out in
// order, whatever mix of appends and partial consumes happens.
#include "aioev/write_buffer.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>

#include "failing_allocator.hpp"

namespace {

using aioev::WriteBuffer;

std::string contents(const WriteBuffer& buffer) {
  return std::string(buffer.data(), buffer.size());
}

TEST(WriteBuffer, StartsEmpty) {
  WriteBuffer buffer;
  EXPECT_TRUE(buffer.empty());
  EXPECT_EQ(buffer.size(), 0u);
}

TEST(WriteBuffer, AppendThenConsumeKeepsOrder) {
  WriteBuffer buffer;
  ASSERT_TRUE(buffer.append("hello ", 6));
  ASSERT_TRUE(buffer.append("world", 5));
  EXPECT_EQ(contents(buffer), "hello world");
  buffer.consume(6);
  EXPECT_EQ(contents(buffer), "world");
  buffer.consume(5);
  EXPECT_TRUE(buffer.empty());
}

TEST(WriteBuffer, AppendingNothingChangesNothing) {
  WriteBuffer buffer;
  ASSERT_TRUE(buffer.append("", 0));
  EXPECT_TRUE(buffer.empty());
}

TEST(WriteBuffer, GrowsPastItsFirstBlock) {
  WriteBuffer buffer;
  std::string big(100000, 'x');
  big[99999] = 'y';
  ASSERT_TRUE(buffer.append(big.data(), big.size()));
  EXPECT_EQ(contents(buffer), big);
}

TEST(WriteBuffer, ReusesConsumedSpace) {
  WriteBuffer buffer;
  std::string block(4000, 'a');
  ASSERT_TRUE(buffer.append(block.data(), block.size()));
  buffer.consume(3500);
  const char* start = buffer.data() - 3500;
  std::string tail(200, 'b');
  ASSERT_TRUE(buffer.append(tail.data(), tail.size()));
  // The first block (4 KiB) had no room at its end: the live bytes moved to
  // its front instead of the buffer growing.
  EXPECT_EQ(buffer.data(), start);
  EXPECT_EQ(contents(buffer), std::string(500, 'a') + tail);
}

TEST(WriteBuffer, ClearEmptiesAndStaysUsable) {
  WriteBuffer buffer;
  ASSERT_TRUE(buffer.append("abc", 3));
  buffer.clear();
  EXPECT_TRUE(buffer.empty());
  ASSERT_TRUE(buffer.append("de", 2));
  EXPECT_EQ(contents(buffer), "de");
}

TEST(WriteBuffer, RandomAppendsAndConsumesMatchAString) {
  std::mt19937 rng(7);
  WriteBuffer buffer;
  std::string model;
  for (int step = 0; step < 20000; ++step) {
    if (rng() % 2 == 0) {
      std::string chunk(rng() % 5000, static_cast<char>('a' + rng() % 26));
      ASSERT_TRUE(buffer.append(chunk.data(), chunk.size()));
      model += chunk;
    } else if (!model.empty()) {
      size_t n = rng() % (model.size() + 1);
      buffer.consume(n);
      model.erase(0, n);
    }
    ASSERT_EQ(buffer.size(), model.size());
  }
  EXPECT_EQ(contents(buffer), model);
}


// ---- allocation failure (the transports' buffers allocate from Python) ----

using aioev_test::AllocationBudget;
using FailingBuffer = aioev::BasicWriteBuffer<aioev_test::FailingAllocator>;

TEST(WriteBufferFailure, FailedAppendChangesNothing) {
  FailingBuffer buffer;
  std::string first(3000, 'a');
  ASSERT_TRUE(buffer.append(first.data(), first.size()));
  std::string big(100000, 'b');
  {
    AllocationBudget budget(0);
    EXPECT_FALSE(buffer.append(big.data(), big.size()));
    EXPECT_TRUE(buffer.append("cc", 2)) << "what fits needs no memory";
  }
  EXPECT_EQ(std::string(buffer.data(), buffer.size()), first + "cc");
  EXPECT_TRUE(buffer.append(big.data(), big.size()));
  EXPECT_EQ(buffer.size(), first.size() + 2 + big.size());
}

// A write that could not wait for writability takes its bytes back.
TEST(WriteBuffer, TruncateUndoesAnAppend) {
  WriteBuffer buffer;
  ASSERT_TRUE(buffer.append("hello ", 6));
  buffer.consume(2);
  ASSERT_TRUE(buffer.append("world", 5));
  buffer.truncate(4);
  EXPECT_EQ(contents(buffer), "llo ");
  buffer.truncate(0);
  EXPECT_TRUE(buffer.empty());
  ASSERT_TRUE(buffer.append("again", 5));
  EXPECT_EQ(contents(buffer), "again");
}

}  // namespace
