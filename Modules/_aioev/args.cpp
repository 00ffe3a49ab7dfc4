// The argument parser: see args.h. The messages follow CPython's: the
// interpreter's for Python functions (Python/ceval.c) and Argument Clinic's
// (Python/getargs.c) for C methods, each in the order CPython checks.
#include "args.h"

#include <stdio.h>

namespace aioev {

namespace {

constexpr int kMaxParams = 8;

// ---- a Python function's messages ----

// "'a'", "'a' and 'b'", "'a', 'b', and 'c'": the missing parameters
// [from, to) that `missing` marks.
void raise_missing(const ArgSpec& spec, const bool* missing, int from, int to, const char* kind) {
  char list[256] = "";
  int count = 0;
  for (int i = from; i < to; ++i) count += missing[i];
  int seen = 0;
  size_t used = 0;
  for (int i = from; i < to && used < sizeof list; ++i) {
    if (!missing[i]) continue;
    ++seen;
    const char* sep = seen == 1 ? "" : count == 2 ? " and " : seen == count ? ", and " : ", ";
    used += snprintf(list + used, sizeof list - used, "%s'%s'", sep, spec.names[i]);
  }
  PyErr_Format(PyExc_TypeError, "%s() missing %d required %s argument%s: %s", spec.fname, count,
               kind, count == 1 ? "" : "s", list);
}

// Counts include self, as the interpreter's do for a method.
void raise_too_many_positional(const ArgSpec& spec, Py_ssize_t nargs, int kwonly_given) {
  int most = spec.positional + 1;
  int least = (spec.required < spec.positional ? spec.required : spec.positional) + 1;
  char takes[64];
  if (least < most) {
    snprintf(takes, sizeof takes, "from %d to %d positional arguments", least, most);
  } else {
    snprintf(takes, sizeof takes, "%d positional argument%s", most, most == 1 ? "" : "s");
  }
  Py_ssize_t given = nargs + 1;
  char kwonly[96] = "";
  if (kwonly_given > 0) {
    snprintf(kwonly, sizeof kwonly, " positional argument%s (and %d keyword-only argument%s)",
             given != 1 ? "s" : "", kwonly_given, kwonly_given != 1 ? "s" : "");
  }
  PyErr_Format(PyExc_TypeError, "%s() takes %s but %zd%s %s given", spec.fname, takes, given,
               kwonly, given == 1 && kwonly_given == 0 ? "was" : "were");
}

bool parse_python_style(ModuleState* st, const ArgSpec& spec, PyObject* const* args,
                        Py_ssize_t nargs, PyObject* kwnames, PyObject** out) {
  bool bound[kMaxParams] = {};
  Py_ssize_t npos = nargs < spec.positional ? nargs : spec.positional;
  for (Py_ssize_t i = 0; i < npos; ++i) {
    out[i] = args[i];
    bound[i] = true;
  }
  Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
  int kwonly_given = 0;
  for (Py_ssize_t k = 0; k < nkw; ++k) {
    PyObject* key = PyTuple_GET_ITEM(kwnames, k);
    int i = find_keyword(st, spec, key);
    if (i < 0) {
      PyErr_Format(PyExc_TypeError, "%s() got an unexpected keyword argument '%U'", spec.fname,
                   key);
      return false;
    }
    if (bound[i]) {
      PyErr_Format(PyExc_TypeError, "%s() got multiple values for argument '%s'", spec.fname,
                   spec.names[i]);
      return false;
    }
    out[i] = args[nargs + k];
    bound[i] = true;
    kwonly_given += i >= spec.positional;
  }
  if (!spec.varargs && nargs > spec.positional) {
    raise_too_many_positional(spec, nargs, kwonly_given);
    return false;
  }
  bool missing[kMaxParams] = {};
  bool any_positional = false, any_kwonly = false;
  for (int i = 0; i < spec.required; ++i) {
    missing[i] = !bound[i];
    (i < spec.positional ? any_positional : any_kwonly) |= missing[i];
  }
  if (any_positional) {
    raise_missing(spec, missing, 0, spec.positional, "positional");
    return false;
  }
  if (any_kwonly) {
    raise_missing(spec, missing, spec.positional, spec.required, "keyword-only");
    return false;
  }
  return true;
}

// ---- Argument Clinic's messages ----

void raise_unexpected_keyword(ModuleState* st, const ArgSpec& spec, PyObject* kwnames) {
  for (Py_ssize_t k = 0; k < PyTuple_GET_SIZE(kwnames); ++k) {
    PyObject* key = PyTuple_GET_ITEM(kwnames, k);
    if (find_keyword(st, spec, key) >= 0) continue;
#if AIOEV_PY313
    PyErr_Format(PyExc_TypeError, "%s() got an unexpected keyword argument '%U'", spec.fname, key);
#else
    PyErr_Format(PyExc_TypeError, "'%U' is an invalid keyword argument for %s()", key, spec.fname);
#endif
    return;
  }
  PyErr_Format(PyExc_TypeError, "invalid keyword argument for %s()", spec.fname);
}

bool parse_clinic_style(ModuleState* st, const ArgSpec& spec, PyObject* const* args,
                        Py_ssize_t nargs, PyObject* kwnames, PyObject** out) {
  Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
  int max_positional = spec.positional;
  int min_positional = spec.required < max_positional ? spec.required : max_positional;
  int min_positional_only =
      spec.positional_only < min_positional ? spec.positional_only : min_positional;
  if (nargs + nkw > spec.count) {
    PyErr_Format(PyExc_TypeError, "%s() takes at most %d %sargument%s (%zd given)", spec.fname,
                 spec.count, nargs == 0 ? "keyword " : "", spec.count == 1 ? "" : "s",
                 nargs + nkw);
    return false;
  }
  if (nargs > max_positional) {
    if (max_positional == 0) {
      PyErr_Format(PyExc_TypeError, "%s() takes no positional arguments", spec.fname);
    } else {
      PyErr_Format(PyExc_TypeError, "%s() takes %s %d positional argument%s (%zd given)",
                   spec.fname, min_positional < max_positional ? "at most" : "exactly",
                   max_positional, max_positional == 1 ? "" : "s", nargs);
    }
    return false;
  }
  if (nargs < min_positional_only) {
    PyErr_Format(PyExc_TypeError, "%s() takes %s %d positional argument%s (%zd given)",
                 spec.fname,
                 spec.varargs || spec.positional_only < max_positional ? "at least" : "exactly",
                 min_positional_only, min_positional_only == 1 ? "" : "s", nargs);
    return false;
  }
  for (Py_ssize_t i = 0; i < nargs; ++i) out[i] = args[i];
  // Each parameter after the positional arguments, looked up by name.
  Py_ssize_t left = nkw;
  int first = nargs > spec.positional_only ? static_cast<int>(nargs) : spec.positional_only;
  for (int i = first; i < spec.count; ++i) {
    Py_ssize_t k = left > 0 ? 0 : nkw;
    while (k < nkw && find_keyword(st, spec, PyTuple_GET_ITEM(kwnames, k)) != i) ++k;
    if (k < nkw) {
      out[i] = args[nargs + k];
      --left;
      continue;
    }
    if (i < spec.required) {
      PyErr_Format(PyExc_TypeError, "%s() missing required argument '%s' (pos %d)", spec.fname,
                   spec.names[i], i + 1);
      return false;
    }
    if (left == 0 && !spec.varargs) return true;
  }
  if (left == 0) return true;
  for (Py_ssize_t i = spec.positional_only; i < nargs; ++i) {
    for (Py_ssize_t k = 0; k < nkw; ++k) {
      if (find_keyword(st, spec, PyTuple_GET_ITEM(kwnames, k)) == i) {
        PyErr_Format(PyExc_TypeError, "argument for %s() given by name ('%s') and position (%zd)",
                     spec.fname, spec.names[i], i + 1);
        return false;
      }
    }
  }
  raise_unexpected_keyword(st, spec, kwnames);
  return false;
}

}  // namespace

int find_keyword(ModuleState* st, const ArgSpec& spec, PyObject* key) {
  if (spec.interned != nullptr) {
    for (int i = spec.positional_only; i < spec.count; ++i) {
      PyObject* ModuleState::*name = spec.interned[i];
      if (name != nullptr && st->*name == key) return i;
    }
  }
  for (int i = spec.positional_only; i < spec.count; ++i) {
    if (PyUnicode_CompareWithASCIIString(key, spec.names[i]) == 0) return i;
  }
  return -1;
}

bool parse_args_slow(ModuleState* st, const ArgSpec& spec, PyObject* const* args,
                     Py_ssize_t nargs, PyObject* kwnames, PyObject** out) {
  if (spec.style == ArgStyle::kPython) {
    return parse_python_style(st, spec, args, nargs, kwnames, out);
  }
  return parse_clinic_style(st, spec, args, nargs, kwnames, out);
}

}  // namespace aioev
