// Reference types, so that ownership shows in every signature.
//
//   Owned<T>     an owned (strong) reference to a T (PyObject by default, or
//                one of the module's object structs: HandleObject,
//                PyTypeObject, ...), released on destruction. Move-only.
//   Ref          Owned<PyObject>, the common case.
//   Borrowed<T>  a borrowed pointer: nothing is released, nothing is kept
//                alive. Trivially copyable, one pointer, passed and
//                returned in a register; converts to and from T*.
//
//   Owned<T>::steal(p)   takes over a new reference (a C-API call's result).
//   Owned<T>::borrow(p)  makes an owned reference from a borrowed one (increfs).
//   o.get()              the pointer, still owned by o.
//   o.release()          gives the reference up to the caller.
//
// The rules: a function that returns a new reference returns Owned<T> (Ref);
// one that returns a borrowed reference returns Borrowed<T>. A parameter
// that takes over (steals) a reference is Owned<T>, by value; a bare T*
// parameter is borrowed. Bare T* results are left where CPython's C API
// fixes the signature (tp_* slots, PyMethodDef and getset functions), which
// return new references as CPython says.
//
// Both are as cheap as the bare pointer: the member functions are inline,
// and the compiler drops a moved-from or released reference's
// Py_XDECREF(nullptr). One cost remains with GCC (no trivial_abi): an Owned
// result of a call the compiler does not inline comes back through memory,
// a store and a load.
#pragma once

#include <Python.h>

#include <cstddef>
#include <type_traits>

namespace aioev {

template <class T = PyObject>
class Owned;

template <class T = PyObject>
class Borrowed {
 public:
  constexpr Borrowed() = default;
  constexpr Borrowed(std::nullptr_t) {}
  constexpr Borrowed(T* ptr) : ptr_(ptr) {}
  // An owned reference lent out: it must outlive the Borrowed (so not a
  // temporary's).
  Borrowed(const Owned<T>& owner) : ptr_(owner.get()) {}
  Borrowed(const Owned<T>&&) = delete;

  constexpr T* get() const { return ptr_; }
  constexpr operator T*() const { return ptr_; }
  constexpr T* operator->() const { return ptr_; }
  // A new (owned) reference to the object.
  Owned<T> new_ref() const { return Owned<T>::borrow(ptr_); }

 private:
  T* ptr_ = nullptr;
};

template <class T>
class Owned {
 public:
  Owned() = default;
  Owned(std::nullptr_t) {}
  Owned(const Owned&) = delete;
  Owned& operator=(const Owned&) = delete;
  Owned(Owned&& other) noexcept : ptr_(other.ptr_) { other.ptr_ = nullptr; }
  // An owned reference to one of the module's object structs is an owned
  // PyObject reference too (every such struct starts with PyObject_HEAD).
  template <class U, class V = T,
            std::enable_if_t<std::is_same_v<V, PyObject> && !std::is_same_v<U, PyObject>, int> = 0>
  Owned(Owned<U>&& other) noexcept : ptr_(reinterpret_cast<PyObject*>(other.release())) {}
  Owned& operator=(Owned&& other) noexcept {
    if (this != &other) {
      T* old = ptr_;
      ptr_ = other.ptr_;
      other.ptr_ = nullptr;
      Py_XDECREF(old);
    }
    return *this;
  }
  ~Owned() { Py_XDECREF(ptr_); }

  static Owned steal(T* ptr) {
    Owned ref;
    ref.ptr_ = ptr;
    return ref;
  }
  static Owned borrow(T* ptr) {
    Py_XINCREF(ptr);
    return steal(ptr);
  }

  T* get() const { return ptr_; }
  T* operator->() const { return ptr_; }
  // The object as a PyObject*, still owned.
  PyObject* object() const { return reinterpret_cast<PyObject*>(ptr_); }
  explicit operator bool() const { return ptr_ != nullptr; }

  // Gives up ownership: the caller now owns the reference.
  T* release() {
    T* ptr = ptr_;
    ptr_ = nullptr;
    return ptr;
  }

 private:
  T* ptr_ = nullptr;
};

using Ref = Owned<PyObject>;

static_assert(std::is_trivially_copyable_v<Borrowed<PyObject>>);
static_assert(sizeof(Borrowed<PyObject>) == sizeof(PyObject*));
static_assert(sizeof(Ref) == sizeof(PyObject*));

}  // namespace aioev
