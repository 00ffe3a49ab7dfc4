// Small RAII reference types, so ownership shows in every signature.
//
//   Ref       an owned (strong) reference, released on destruction.
//   Ref::steal(p)   takes over a new reference (the result of a C-API call).
//   Ref::borrow(p)  makes an owned reference from a borrowed one (increfs).
//
// Functions that return `Ref` return a new reference; functions that return
// `PyObject*` return a borrowed one unless their comment says otherwise.
#pragma once

#include <Python.h>

namespace aioev {

class Ref {
 public:
  Ref() = default;
  Ref(const Ref&) = delete;
  Ref& operator=(const Ref&) = delete;
  Ref(Ref&& other) noexcept : ptr_(other.ptr_) { other.ptr_ = nullptr; }
  Ref& operator=(Ref&& other) noexcept {
    if (this != &other) {
      PyObject* old = ptr_;
      ptr_ = other.ptr_;
      other.ptr_ = nullptr;
      Py_XDECREF(old);
    }
    return *this;
  }
  ~Ref() { Py_XDECREF(ptr_); }

  static Ref steal(PyObject* ptr) {
    Ref ref;
    ref.ptr_ = ptr;
    return ref;
  }
  static Ref borrow(PyObject* ptr) {
    Py_XINCREF(ptr);
    return steal(ptr);
  }

  PyObject* get() const { return ptr_; }
  explicit operator bool() const { return ptr_ != nullptr; }

  // Gives up ownership: the caller now owns the reference.
  PyObject* release() {
    PyObject* ptr = ptr_;
    ptr_ = nullptr;
    return ptr;
  }

 private:
  PyObject* ptr_ = nullptr;
};

}  // namespace aioev
