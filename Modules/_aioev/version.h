// The CPython versions aioev is built for, and what differs between them:
// every version branch of the module reads a name defined here, so this is
// the one place to look when a version is added (Lib/aioev/_compat.py is its
// Python counterpart).
#pragma once

#define PY_SSIZE_T_CLEAN
#include <Python.h>

// aioev.Future and aioev.Task mirror the C layout of asyncio's Future and
// Task (future.h), which 3.14 changes: see Doc/design.rst, "CPython 3.14".
#if PY_VERSION_HEX < 0x030B0000 || PY_VERSION_HEX >= 0x030E0000
#error "aioev supports CPython 3.11, 3.12 and 3.13"
#endif

// For #if: APIs and layouts that exist from a version on. 3.12: the raised
// exception as one object (PyErr_GetRaisedException), per-interpreter GIL
// slots, eager tasks, lazy "Task-<n>" names. 3.13: managed dicts in asyncio's
// Future and Task, their packed bit-fields, Argument Clinic's new wording.
#define AIOEV_PY312 (PY_VERSION_HEX >= 0x030C0000)
#define AIOEV_PY313 (PY_VERSION_HEX >= 0x030D0000)

namespace aioev {

// Behaviour asyncio changed, for `if constexpr` and plain conditions:

// With a NaN deadline first in the heap (call_later(nan)), 3.11's and 3.12's
// _run_once poll without waiting (max(0, nan) is 0); 3.13's hands NaN to
// the selector, whose math.ceil() raises ValueError out of the loop.
constexpr bool kNanTimeoutRaises = AIOEV_PY313;
// 3.11's writelines() is WriteTransport's: b''.join() and write(); from
// 3.12 on the socket transport has its own.
constexpr bool kPy312Writelines = AIOEV_PY312;
// 3.13 sends empty datagrams and counts 8 header bytes per queued one.
constexpr bool kPy313Datagrams = AIOEV_PY313;

}  // namespace aioev
