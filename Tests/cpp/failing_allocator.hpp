// An allocator for the Include/aioev containers whose allocations can be
// made to fail, as _testcapi.set_nomemory makes Python's fail: the tests of
// each container check that a failed growth reports false and changes
// nothing, and that what must not allocate does not.
#pragma once

#include <cstddef>
#include <cstdlib>

namespace aioev_test {

struct FailingAllocator {
  // Allocations left before they fail; negative: never fail.
  static inline long budget = -1;
  static inline long calls = 0;

  static bool refuse() {
    ++calls;
    if (budget == 0) return true;
    if (budget > 0) --budget;
    return false;
  }
  static void* allocate(std::size_t n) { return refuse() ? nullptr : std::malloc(n); }
  static void* reallocate(void* p, std::size_t n) {
    return refuse() ? nullptr : std::realloc(p, n);
  }
  static void release(void* p) { std::free(p); }
};

// Sets the budget for one scope and restores "never fail" after it.
class AllocationBudget {
 public:
  explicit AllocationBudget(long budget) {
    FailingAllocator::budget = budget;
    FailingAllocator::calls = 0;
  }
  ~AllocationBudget() { FailingAllocator::budget = -1; }
  AllocationBudget(const AllocationBudget&) = delete;
  AllocationBudget& operator=(const AllocationBudget&) = delete;
};

}  // namespace aioev_test
