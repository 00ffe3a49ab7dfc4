// The one argument parser of the METH_FASTCALL | METH_KEYWORDS methods:
// binds a vectorcall's arguments to named parameters and, for a call that
// does not fit, raises the TypeError asyncio raises for it, word for word.
// The text signatures stay in the method docstrings.
#pragma once

#include "aioev.h"

namespace aioev {

// Whose messages a method gives: those of the asyncio method it stands for.
enum class ArgStyle : unsigned char {
  kPython,  // a Python function (BaseEventLoop.call_soon): the interpreter's
  kClinic,  // a C method of asyncio's Future or Task: Argument Clinic's
};

// A method's parameters: `count` of them, named by `names`; the first
// `positional` may be given by position, of which the first
// `positional_only` only so; the first `required` must be given. With
// `varargs`, more positional arguments may follow (*args: the caller's).
// `interned` (or nullptr) gives each parameter's interned name in the
// module state (or nullptr): keyword names are compared to it by pointer
// first, since the names a call site passes are interned.
struct ArgSpec {
  const char* fname;  // as messages name it: "cancel", "BaseEventLoop.call_soon"
  ArgStyle style;
  int count;
  int positional;
  int positional_only;
  int required;
  bool varargs;
  const char* const* names;
  PyObject* ModuleState::* const* interned;
};

// The parameter (not positional-only) that keyword `key` names, or -1.
int find_keyword(ModuleState* st, const ArgSpec& spec, PyObject* key);

bool parse_args_slow(ModuleState* st, const ArgSpec& spec, PyObject* const* args,
                     Py_ssize_t nargs, PyObject* kwnames, PyObject** out);

// Binds args (nargs positional ones, then one per name in kwnames): out[i]
// gets parameter i's argument (borrowed), or keeps what the caller put
// there (its default). With varargs, the extra positional arguments are
// args[spec.positional] to args[nargs - 1]. False with the TypeError raised.
// st may be nullptr when spec.interned is.
inline bool parse_args(ModuleState* st, const ArgSpec& spec, PyObject* const* args,
                       Py_ssize_t nargs, PyObject* kwnames, PyObject** out) {
  if (AIOEV_LIKELY(nargs >= spec.required && spec.required <= spec.positional &&
                   (spec.varargs || nargs <= spec.positional))) {
    int param = -1;
    if (kwnames != nullptr) {
      // The usual keyword call (call_soon(cb, context=ctx)): one keyword,
      // the interned name of a parameter not given by position.
      if (spec.interned == nullptr || PyTuple_GET_SIZE(kwnames) != 1) {
        return parse_args_slow(st, spec, args, nargs, kwnames, out);
      }
      PyObject* key = PyTuple_GET_ITEM(kwnames, 0);
      for (int i = spec.positional_only; i < spec.count && param < 0; ++i) {
        if (spec.interned[i] != nullptr && st->*spec.interned[i] == key) param = i;
      }
      if (param < 0 || (param < spec.positional && param < nargs)) {
        return parse_args_slow(st, spec, args, nargs, kwnames, out);
      }
    }
    Py_ssize_t n = nargs < spec.positional ? nargs : spec.positional;
    for (Py_ssize_t i = 0; i < n; ++i) out[i] = args[i];
    if (param >= 0) out[param] = args[nargs];
    return true;
  }
  return parse_args_slow(st, spec, args, nargs, kwnames, out);
}

}  // namespace aioev
