// Signals: CPython's own handlers write the signal number to the wake-up fd
// (signal.set_wakeup_fd); an ev_io on the other end of the socketpair wakes
// the poll and queues the handlers that add_signal_handler registered.
// libev's ev_signal is never used: it would replace CPython's handlers.
#include "aioev.h"

#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

namespace aioev {

namespace {

void signal_cb(struct ev_loop*, ev_io* w, int) {
  LoopObject* loop = reinterpret_cast<LoopObject*>(reinterpret_cast<char*>(w) -
                                                   offsetof(LoopObject, signal_io));
  unsigned char buf[256];
  for (;;) {
    ssize_t n = read(w->fd, buf, sizeof buf);
    if (n <= 0) break;  // EAGAIN: drained (EINTR: the next poll comes back)
    for (ssize_t i = 0; i < n; ++i) {
      PyObject* key = PyLong_FromLong(buf[i]);
      if (key == nullptr) {
        loop->loop_error = true;
        return;
      }
      PyObject* handle = PyDict_GetItemWithError(loop->signal_handlers, key);
      Py_DECREF(key);
      if (handle == nullptr) {
        if (PyErr_Occurred()) loop->loop_error = true;
        continue;
      }
      if (handle_check(loop->state, handle) &&
          !load_relaxed(reinterpret_cast<HandleObject*>(handle)->cancelled) &&
          loop_push_ready(loop, PyReadyEntry::handle(handle)) < 0) {
        loop->loop_error = true;
      }
    }
  }
}

}  // namespace

int signals_init(LoopObject* loop) {
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, loop->signal_fds) < 0) {
    PyErr_SetFromErrno(PyExc_OSError);
    return -1;
  }
  ev_io_init(&loop->signal_io, signal_cb, loop->signal_fds[0], EV_READ);
  ev_io_start(loop->ev, &loop->signal_io);
  return 0;
}

void signals_close(LoopObject* loop) {
  if (loop->signal_fds[0] < 0) return;
  ev_io_stop(loop->ev, &loop->signal_io);
  close(loop->signal_fds[0]);
  close(loop->signal_fds[1]);
  loop->signal_fds[0] = loop->signal_fds[1] = -1;
}

PyObject* loop_signal_wakeup_fd(PyObject* self, PyObject*) {
  return PyLong_FromLong(reinterpret_cast<LoopObject*>(self)->signal_fds[1]);
}

}  // namespace aioev
