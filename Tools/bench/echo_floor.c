/*
 * The floor of `Tools/bench/bench.py --floor`: an echo server in C over
 * libev, with no Python at all.
 *
 * It serves the echo benchmarks as the Python servers do (the same
 * inherited listening socket, the same "ready" line, the same exit when
 * standard input closes), so the bench measures it like a loop.  Its CPU
 * time per request is what the kernel and libev alone cost for the
 * benchmark's traffic: the least any event loop can spend.
 *
 * Each wake-up on a connection reads at most READ_SIZE bytes into one
 * buffer shared by all connections and sends them straight back, with one
 * send per WRITE_SIZE bytes at most; what the socket does not take is kept,
 * and reading stops until it is sent.  The two sizes let it make the system
 * calls the Python server makes.
 *
 * Usage: echo_floor FD READ_SIZE WRITE_SIZE [CPU]
 *   FD          the listening socket, inherited
 *   READ_SIZE   bytes asked for by each read
 *   WRITE_SIZE  bytes given to each send at most
 *   CPU         pin the process to this CPU
 * Exit status: 0 when standard input closed, 1 on a failure (said on
 * stderr), 2 on bad usage.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct connection {
    ev_io readable;         /* first member: the watcher's address is the connection's */
    ev_io writable;
    char *pending;          /* what the socket did not take yet */
    size_t pending_size;
    size_t pending_sent;
};

static char *read_buffer;
static size_t read_size;
static size_t write_size;
static int failed;

static void fail(const char *what)
{
    fprintf(stderr, "echo_floor: %s: %s\n", what, strerror(errno));
    failed = 1;
}

static struct connection *of_writable(ev_io *watcher)
{
    return (struct connection *)((char *)watcher - offsetof(struct connection, writable));
}

static void drop(struct ev_loop *loop, struct connection *conn)
{
    ev_io_stop(loop, &conn->readable);
    ev_io_stop(loop, &conn->writable);
    close(conn->readable.fd);
    free(conn->pending);
    free(conn);
}

/* A peer that resets or goes away ends its connection; anything else is a
 * failure of the server. */
static int peer_gone(int err)
{
    return err == ECONNRESET || err == EPIPE || err == ENOTCONN;
}

/* After a recv or send that returned result: 0 to go on, 1 when the
 * socket is not ready, -1 when the connection is gone (and dropped). */
static int settle(struct ev_loop *loop, struct connection *conn, ssize_t result,
                  const char *call)
{
    if (result > 0)
        return 0;
    if (result < 0 && (errno == EAGAIN || errno == EINTR))
        return 1;
    if (result < 0 && !peer_gone(errno))
        fail(call);
    drop(loop, conn);
    return -1;
}

static void on_writable(struct ev_loop *loop, ev_io *watcher, int events)
{
    struct connection *conn = of_writable(watcher);
    ssize_t sent = send(watcher->fd, conn->pending + conn->pending_sent,
                        conn->pending_size - conn->pending_sent, MSG_NOSIGNAL);
    (void)events;
    if (settle(loop, conn, sent, "send"))
        return;
    conn->pending_sent += (size_t)sent;
    if (conn->pending_sent < conn->pending_size)
        return;
    ev_io_stop(loop, &conn->writable);
    ev_io_start(loop, &conn->readable);
}

static void keep_unsent(struct ev_loop *loop, struct connection *conn,
                        const char *data, size_t size)
{
    char *copy = realloc(conn->pending, size);
    if (copy == NULL) {
        fail("realloc");
        drop(loop, conn);
        return;
    }
    memcpy(copy, data, size);
    conn->pending = copy;
    conn->pending_size = size;
    conn->pending_sent = 0;
    ev_io_stop(loop, &conn->readable);
    ev_io_start(loop, &conn->writable);
}

static void on_readable(struct ev_loop *loop, ev_io *watcher, int events)
{
    struct connection *conn = (struct connection *)watcher;
    ssize_t got = recv(watcher->fd, read_buffer, read_size, 0);
    size_t done = 0;
    (void)events;
    if (settle(loop, conn, got, "recv"))
        return;
    while (done < (size_t)got) {
        size_t left = (size_t)got - done;
        size_t chunk = left < write_size ? left : write_size;
        ssize_t sent = send(watcher->fd, read_buffer + done, chunk, MSG_NOSIGNAL);
        int state = settle(loop, conn, sent, "send");
        if (state < 0)
            return;
        if (state > 0)
            break;
        done += (size_t)sent;
        if ((size_t)sent < chunk)
            break;  /* the socket is full */
    }
    if (done < (size_t)got)
        keep_unsent(loop, conn, read_buffer + done, (size_t)got - done);
}

static void on_listener(struct ev_loop *loop, ev_io *watcher, int events)
{
    int one = 1;
    (void)events;
    for (;;) {
        struct connection *conn;
        int fd = accept4(watcher->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
                fail("accept4");
            return;
        }
        /* As asyncio's transports do; a Unix socket refuses it, harmlessly. */
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        conn = calloc(1, sizeof *conn);
        if (conn == NULL) {
            fail("calloc");
            close(fd);
            return;
        }
        ev_io_init(&conn->readable, on_readable, fd, EV_READ);
        ev_io_init(&conn->writable, on_writable, fd, EV_WRITE);
        ev_io_start(loop, &conn->readable);
    }
}

static void on_stdin(struct ev_loop *loop, ev_io *watcher, int events)
{
    char scratch[256];
    (void)events;
    if (read(watcher->fd, scratch, sizeof scratch) <= 0)
        ev_break(loop, EVBREAK_ALL);
}

int main(int argc, char **argv)
{
    struct ev_loop *loop;
    ev_io listener, input;
    int fd = -1;

    if (argc >= 4) {
        fd = atoi(argv[1]);
        read_size = strtoul(argv[2], NULL, 10);
        write_size = strtoul(argv[3], NULL, 10);
    }
    if (argc < 4 || argc > 5 || fd < 0 || read_size == 0 || write_size == 0) {
        fprintf(stderr, "usage: %s FD READ_SIZE WRITE_SIZE [CPU]\n", argv[0]);
        return 2;
    }
    if (argc == 5) {
        cpu_set_t cpus;
        CPU_ZERO(&cpus);
        CPU_SET(atoi(argv[4]), &cpus);
        if (sched_setaffinity(0, sizeof cpus, &cpus) < 0) {
            fail("sched_setaffinity");
            return 1;
        }
    }
    read_buffer = malloc(read_size);
    if (read_buffer == NULL) {
        fail("malloc");
        return 1;
    }
    if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0) {
        fail("fcntl");
        return 1;
    }
    loop = ev_default_loop(EVFLAG_AUTO);
    if (loop == NULL) {
        fprintf(stderr, "echo_floor: libev has no usable backend\n");
        return 1;
    }
    ev_io_init(&listener, on_listener, fd, EV_READ);
    ev_io_start(loop, &listener);
    ev_io_init(&input, on_stdin, 0, EV_READ);
    ev_io_start(loop, &input);
    printf("ready\n");
    fflush(stdout);
    ev_run(loop, 0);
    return failed;
}
