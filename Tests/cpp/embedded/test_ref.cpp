// Unit tests of aioev::Owned, aioev::Ref and aioev::Borrowed
// (Include/aioev/ref.hpp), in an embedded interpreter: steal and borrow take
// the counts they say, moves and release() hand the reference over exactly
// once, destruction releases it, Borrowed neither increfs nor decrefs, and
// both types are the size of a pointer.
#include "aioev/ref.hpp"

#include <gtest/gtest.h>

#include <type_traits>
#include <utility>

namespace {

using aioev::Borrowed;
using aioev::Owned;
using aioev::Ref;

// The interpreter, started once for the whole executable.
class PythonEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    Py_InitializeEx(0);
    ASSERT_TRUE(Py_IsInitialized());
  }
  void TearDown() override { ASSERT_EQ(Py_FinalizeEx(), 0); }
};

// A fresh object that only the test holds (refcount 1).
Ref new_object() {
  Ref obj = Ref::steal(PyList_New(0));
  EXPECT_TRUE(obj);
  EXPECT_EQ(Py_REFCNT(obj.get()), 1);
  return obj;
}

TEST(RefTest, EmptyByDefault) {
  Ref r;
  EXPECT_FALSE(r);
  EXPECT_EQ(r.get(), nullptr);
  EXPECT_EQ(r.release(), nullptr);
  Ref n = nullptr;
  EXPECT_FALSE(n);
}

TEST(RefTest, StealTakesTheReferenceAndDestructionReleasesIt) {
  Ref keep = new_object();
  PyObject* p = keep.get();
  Py_INCREF(p);  // the reference the stealing Ref takes over
  {
    Ref r = Ref::steal(p);
    EXPECT_EQ(r.get(), p);
    EXPECT_EQ(Py_REFCNT(p), 2);
  }
  EXPECT_EQ(Py_REFCNT(p), 1);
}

TEST(RefTest, BorrowIncrefs) {
  Ref keep = new_object();
  PyObject* p = keep.get();
  {
    Ref r = Ref::borrow(p);
    EXPECT_EQ(Py_REFCNT(p), 2);
  }
  EXPECT_EQ(Py_REFCNT(p), 1);
  Ref none = Ref::borrow(nullptr);
  EXPECT_FALSE(none);
}

TEST(RefTest, MoveHandsTheReferenceOver) {
  Ref keep = new_object();
  PyObject* p = keep.get();
  Ref a = Ref::borrow(p);
  Ref b = std::move(a);
  EXPECT_FALSE(a);
  EXPECT_EQ(b.get(), p);
  EXPECT_EQ(Py_REFCNT(p), 2);
  Ref c;
  c = std::move(b);
  EXPECT_FALSE(b);
  EXPECT_EQ(Py_REFCNT(p), 2);
  c = std::move(c);  // self-move keeps it
  EXPECT_EQ(c.get(), p);
  EXPECT_EQ(Py_REFCNT(p), 2);
}

TEST(RefTest, MoveAssignmentReleasesWhatItReplaces) {
  Ref first = new_object();
  Ref second = new_object();
  PyObject* p1 = first.get();
  PyObject* p2 = second.get();
  Ref r = Ref::borrow(p1);
  EXPECT_EQ(Py_REFCNT(p1), 2);
  r = Ref::borrow(p2);
  EXPECT_EQ(Py_REFCNT(p1), 1);
  EXPECT_EQ(Py_REFCNT(p2), 2);
  r = nullptr;
  EXPECT_EQ(Py_REFCNT(p2), 1);
}

TEST(RefTest, ReleaseGivesTheReferenceAway) {
  Ref keep = new_object();
  PyObject* p = keep.get();
  PyObject* released;
  {
    Ref r = Ref::borrow(p);
    released = r.release();
    EXPECT_FALSE(r);
  }
  EXPECT_EQ(released, p);
  EXPECT_EQ(Py_REFCNT(p), 2);  // the released reference is the caller's
  Py_DECREF(released);
  EXPECT_EQ(Py_REFCNT(p), 1);
}

TEST(OwnedTest, TypedReferenceConvertsToRef) {
  Ref keep = Ref::steal(reinterpret_cast<PyObject*>(PyList_New(0)));
  PyListObject* list = reinterpret_cast<PyListObject*>(keep.get());
  Owned<PyListObject> typed = Owned<PyListObject>::borrow(list);
  EXPECT_EQ(Py_REFCNT(list), 2);
  EXPECT_EQ(typed.object(), keep.get());
  EXPECT_EQ(typed->ob_item, list->ob_item);
  Ref plain = std::move(typed);
  EXPECT_FALSE(typed);
  EXPECT_EQ(plain.get(), keep.get());
  EXPECT_EQ(Py_REFCNT(list), 2);
  plain = Ref();
  EXPECT_EQ(Py_REFCNT(list), 1);
}

TEST(BorrowedTest, NeitherIncrefsNorDecrefs) {
  Ref keep = new_object();
  PyObject* p = keep.get();
  {
    Borrowed<> b = p;
    Borrowed<> copy = b;
    Borrowed<> from_owner = keep;
    EXPECT_EQ(b.get(), p);
    EXPECT_EQ(copy.get(), p);
    EXPECT_EQ(from_owner.get(), p);
    PyObject* back = b;  // converts back to the bare pointer
    EXPECT_EQ(back, p);
    EXPECT_EQ(Py_REFCNT(p), 1);
  }
  EXPECT_EQ(Py_REFCNT(p), 1);
  Borrowed<> empty;
  EXPECT_EQ(empty.get(), nullptr);
  EXPECT_TRUE(empty == nullptr);
}

TEST(BorrowedTest, NewRefIncrefs) {
  Ref keep = new_object();
  Borrowed<> b = keep;
  {
    Ref r = b.new_ref();
    EXPECT_EQ(r.get(), keep.get());
    EXPECT_EQ(Py_REFCNT(keep.get()), 2);
  }
  EXPECT_EQ(Py_REFCNT(keep.get()), 1);
}

// What makes them as cheap as the bare pointer.
static_assert(sizeof(Ref) == sizeof(PyObject*));
static_assert(sizeof(Owned<PyTypeObject>) == sizeof(PyTypeObject*));
static_assert(sizeof(Borrowed<>) == sizeof(PyObject*));
static_assert(std::is_trivially_copyable_v<Borrowed<PyTypeObject>>);
static_assert(std::is_trivially_destructible_v<Borrowed<>>);
static_assert(!std::is_copy_constructible_v<Ref>);
static_assert(std::is_nothrow_move_constructible_v<Ref>);
// A Borrowed may not be taken from a temporary Owned (it would dangle).
static_assert(!std::is_constructible_v<Borrowed<>, Ref&&>);
// An Owned of another struct is a Ref only by a move.
static_assert(std::is_constructible_v<Ref, Owned<PyTypeObject>&&>);
static_assert(!std::is_constructible_v<Ref, const Owned<PyTypeObject>&>);
static_assert(!std::is_constructible_v<Owned<PyTypeObject>, Ref&&>);

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  ::testing::AddGlobalTestEnvironment(new PythonEnvironment);
  return RUN_ALL_TESTS();
}
