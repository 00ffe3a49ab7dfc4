// Errors: the helpers every file uses to take, keep and raise Python
// exceptions, and the one EINTR policy of aioev's own system calls.
#pragma once

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <sys/types.h>

#include "aioev/ref.hpp"
#include "version.h"

namespace aioev {

// SystemExit and KeyboardInterrupt always propagate out of the loop: true
// if the raised exception is one of them.
bool must_propagate();
// Takes the raised exception, normalized, with its traceback attached.
Ref fetch_exception();
// Raises exc (from fetch_exception; nothing if empty) again, as it was.
void restore_exception(Ref exc);
// An OSError instance for errno err (nothing stays raised).
Ref os_error(int err);
inline bool is_os_error(PyObject* exc) {
  return PyObject_TypeCheck(exc, reinterpret_cast<PyTypeObject*>(PyExc_OSError));
}

// Keeps the raised exception (if any) aside while cleanup that may raise and
// clear runs, and raises it again when the guard goes out of scope,
// replacing whatever the cleanup left raised (as `finally:` does). One
// place for the 3.12 API (one exception object) and 3.11's triple.
class ErrorGuard {
 public:
  ErrorGuard() {
#if AIOEV_PY312
    exc_ = PyErr_GetRaisedException();
#else
    PyErr_Fetch(&type_, &exc_, &tb_);
#endif
  }
  ~ErrorGuard() {
#if AIOEV_PY312
    PyErr_SetRaisedException(exc_);
#else
    PyErr_Restore(type_, exc_, tb_);
#endif
  }
  // The cleanup failed and its error is the one to report: the kept
  // exception is dropped and what is raised now stays.
  void discard() {
#if AIOEV_PY312
    PyObject* raised = PyErr_GetRaisedException();
    Py_CLEAR(exc_);
    exc_ = raised;
#else
    Py_CLEAR(type_);
    Py_CLEAR(exc_);
    Py_CLEAR(tb_);
    PyErr_Fetch(&type_, &exc_, &tb_);
#endif
  }
  ErrorGuard(const ErrorGuard&) = delete;
  ErrorGuard& operator=(const ErrorGuard&) = delete;

 private:
  PyObject* exc_ = nullptr;
#if !AIOEV_PY312
  PyObject* type_ = nullptr;
  PyObject* tb_ = nullptr;
#endif
};

// ---- the EINTR policy ----
// aioev's own non-blocking reads and writes (the transports', the sock_*
// methods') behave as CPython's socket and os functions do, which is what
// asyncio calls (PEP 475): a call a signal interrupted (EINTR) is made again
// once Python's signal handlers have run; a handler that raises ends it with
// that exception. The datagram transport calls the socket's Python methods,
// which do this themselves, and treats what escapes as asyncio does
// (would_block_error).

// retry_eintr's answer when a signal handler raised (the exception is set).
constexpr ssize_t kSignalRaised = -2;

// call(): a system call that answers -1 with errno set on failure. Returns
// its result: >= 0, -1 with errno (never EINTR), or kSignalRaised (errno
// EINTR).
template <typename Call>
inline ssize_t retry_eintr(Call call) {
  for (;;) {
    ssize_t n = call();
    if (n >= 0 || errno != EINTR) return n;
    if (PyErr_CheckSignals() < 0) {
      errno = EINTR;  // whatever the handlers did: a caller's would_block() says no
      return kSignalRaised;
    }
  }
}

// The errno of a call that found nothing to read or no room to write: wait
// for readiness and try again.
inline bool would_block(int err) { return err == EAGAIN || err == EWOULDBLOCK; }

// The same for the exception a socket's Python method raised: asyncio's
// `except (BlockingIOError, InterruptedError)`.
inline bool would_block_error() {
  return PyErr_ExceptionMatches(PyExc_BlockingIOError) ||
         PyErr_ExceptionMatches(PyExc_InterruptedError);
}

}  // namespace aioev
