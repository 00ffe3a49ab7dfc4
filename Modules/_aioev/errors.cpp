// Errors: see errors.h.
#include "errors.h"

namespace aioev {

bool must_propagate() {
  return PyErr_ExceptionMatches(PyExc_SystemExit) ||
         PyErr_ExceptionMatches(PyExc_KeyboardInterrupt);
}

Ref fetch_exception() {
#if AIOEV_PY312
  return Ref::steal(PyErr_GetRaisedException());  // normalized, traceback attached
#else
  PyObject *type, *value, *tb;
  PyErr_Fetch(&type, &value, &tb);
  PyErr_NormalizeException(&type, &value, &tb);
  if (tb != nullptr && value != nullptr) PyException_SetTraceback(value, tb);
  Py_XDECREF(type);
  Py_XDECREF(tb);
  return Ref::steal(value);
#endif
}

void restore_exception(Ref exc) {
  if (!exc) return;
#if AIOEV_PY312
  PyErr_SetRaisedException(exc.release());
#else
  PyObject* value = exc.release();
  PyErr_Restore(Py_NewRef(reinterpret_cast<PyObject*>(Py_TYPE(value))), value,
                PyException_GetTraceback(value));
#endif
}

Ref os_error(int err) {
  errno = err;
  PyErr_SetFromErrno(PyExc_OSError);
  return fetch_exception();
}

}  // namespace aioev
