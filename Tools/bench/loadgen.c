/*
 * The load generator of Tools/bench/bench.py (its server benchmarks).
 *
 * The bench compiles this file with the system C compiler into a cache
 * directory and runs it against a server process.  It opens -c connections
 * to the server and keeps each one busy with a ping-pong: send a request,
 * read the whole response, check it, send the next request.  One thread and
 * epoll drive all the connections.
 *
 * The run has three phases: a warm-up, the measured window, and a drain in
 * which no new requests start and the ones in flight are answered before the
 * connections are closed (so the server sees a clean end of file).  At both
 * ends of the window it reads the server's CPU clock (clock_getcpuclockid,
 * nanoseconds; /proc/PID/stat as a fallback) and the server's minor page
 * faults (/proc/PID/stat), so that they and the request count cover the
 * same interval.  Each request of the window has its latency (from its
 * first byte sent to its last byte received) counted in a histogram of
 * 1/64 relative resolution, from which the median and the 99th percentile
 * come.
 *
 * Modes:
 *   -s SIZE  echo: a request is SIZE bytes of a fixed pattern, the response
 *            must be the same SIZE bytes.
 *   -H       HTTP/1.1 keep-alive: a small GET; the response must be a
 *            "HTTP/1.1 200" with a Content-Length, read to its last byte.
 *   -W SIZE  WebSocket: each connection starts with the opening handshake
 *            (the answer must be "HTTP/1.1 101"); a request is one masked
 *            binary frame of SIZE bytes, the response must be the same
 *            bytes in one unmasked binary frame.
 *
 * With -r (connect churn) every request comes on a connection of its own: a
 * request is connect, send, read the whole response, close; its latency runs
 * from before the connect.  The close resets the connection (SO_LINGER 0), so
 * that no TIME_WAIT piles up on the ports of loopback.
 *
 * With -b it polls without ever sleeping (for a CPU of its own): then no
 * response has to wake it, and the server's sends are not charged with the
 * cost of waking it.
 *
 * On success it prints one line to stdout:
 *   requests=N seconds=S server_cpu=C server_minflt=F p50_us=M p99_us=L
 *   cpu_clock=clock|procstat total=T
 * (N requests completed in the window of S seconds, in which the server used
 * C seconds of CPU and took F minor page faults; M and L the median and 99th
 * percentile latency in microseconds; T requests in the whole run).  On any failure it prints
 * the reason to stderr and exits with status 1 (2 for bad usage).
 */

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNECTIONS 10000
#define RECV_CHUNK (256 * 1024)
#define HTTP_RESPONSE_MAX 16384
#define DRAIN_SECONDS 5.0
#define STALL_SECONDS 10.0

static const char websocket_handshake[] =
    "GET / HTTP/1.1\r\n"
    "Host: 127.0.0.1\r\n"
    "Upgrade: websocket\r\n"
    "Connection: Upgrade\r\n"
    "Sec-WebSocket-Key: YWlvZXYtbG9hZGdlbi0xMg==\r\n"
    "Sec-WebSocket-Version: 13\r\n"
    "\r\n";

static const char http_request[] =
    "GET / HTTP/1.1\r\n"
    "Host: 127.0.0.1\r\n"
    "User-Agent: aioev-loadgen\r\n"
    "\r\n";

struct conn {
    int fd;
    int busy;          /* a request is in flight */
    int want_out;      /* EPOLLOUT is registered */
    size_t sent;       /* bytes of the request written so far */
    size_t received;   /* bytes of the response read so far */
    size_t expected;   /* response length (HTTP: 0 until the headers are in) */
    char *response;    /* HTTP: the response read so far */
    double started;    /* when the request's first byte went out */
};

static struct {
    const char *tcp;   /* HOST:PORT */
    const char *unix_path;
    int connections;
    size_t size;       /* echo or WebSocket message size; 0 in HTTP mode */
    int http;
    int websocket;
    double warmup;
    double duration;
    long server_pid;
    int cpu;
    int spin;          /* poll without sleeping */
    int churn;         /* a new connection for each request */
} opt = {NULL, NULL, 10, 0, 0, 0, 0.2, 1.0, 0, -1, 0, 0};

static const char *request;
static size_t request_len;
static const char *expected_response;  /* echo and WebSocket modes */
static size_t expected_len;
static unsigned char *recv_buffer;
static int epfd = -1;

static void fail(const char *format, ...)
{
    va_list args;
    fputs("loadgen: ", stderr);
    va_start(args, format);
    vfprintf(stderr, format, args);
    va_end(args);
    fputc('\n', stderr);
    exit(1);
}

static void usage(void)
{
    fputs("usage: loadgen (-t HOST:PORT | -u PATH) (-s SIZE | -H | -W SIZE) [-c CONNECTIONS]\n"
          "               [-w WARMUP_S] [-d DURATION_S] [-p SERVER_PID] [-a CPU] [-b] [-r]\n",
          stderr);
    exit(2);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* --- The server's CPU time and page faults ---------------------------- */

static clockid_t server_clock;
static int have_server_clock;

/* The server's CPU seconds (utime + stime) and minor faults, from
   /proc/PID/stat: both count every thread of the process. */
static void procstat(long pid, double *cpu, unsigned long *minflt)
{
    char path[64], text[4096];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *file = fopen(path, "r");
    if (!file)
        fail("cannot open %s: %s", path, strerror(errno));
    size_t n = fread(text, 1, sizeof text - 1, file);
    fclose(file);
    text[n] = '\0';
    /* The command name may hold spaces: the fields start after its ')'. */
    char *p = strrchr(text, ')');
    if (!p)
        fail("cannot parse %s", path);
    unsigned long faults = 0, utime = 0, stime = 0;
    /* After ')': state(3) ppid(4) pgrp session tty_nr tpgid flags(9)
       minflt(10) cminflt majflt cmajflt utime(14) stime(15). */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %lu %*u %*u %*u %lu %lu",
               &faults, &utime, &stime) != 3)
        fail("cannot parse %s", path);
    *cpu = (double)(utime + stime) / sysconf(_SC_CLK_TCK);
    *minflt = faults;
}

/* The server's CPU seconds (its CPU clock when it has one: nanoseconds,
   not clock ticks) and minor faults so far. */
static void server_usage(double *cpu, unsigned long *minflt)
{
    *cpu = 0.0;
    *minflt = 0;
    if (!opt.server_pid)
        return;
    procstat(opt.server_pid, cpu, minflt);
    if (have_server_clock) {
        struct timespec ts;
        if (clock_gettime(server_clock, &ts) != 0)
            fail("cannot read the CPU clock of process %ld: %s", opt.server_pid,
                 strerror(errno));
        *cpu = ts.tv_sec + ts.tv_nsec * 1e-9;
    }
}

/* --- Latency ---------------------------------------------------------- */
/* A histogram of nanoseconds: values under 128 have a bucket each; above,
   each power of two has 64 buckets (a relative resolution of 1/64). */

#define SUB_BUCKETS 64
#define LATENCY_BUCKETS (SUB_BUCKETS * 40)

static unsigned long long latency_counts[LATENCY_BUCKETS];
static unsigned long long latency_total;

static int latency_bucket(unsigned long long ns)
{
    if (ns < 2 * SUB_BUCKETS)
        return (int)ns;
    int shift = 63 - __builtin_clzll(ns) - 6;  /* ns >> shift is in [64, 128) */
    int index = SUB_BUCKETS * (shift + 1) + (int)((ns >> shift) - SUB_BUCKETS);
    return index < LATENCY_BUCKETS ? index : LATENCY_BUCKETS - 1;
}

/* The middle of a bucket's range, in nanoseconds. */
static double latency_value(int index)
{
    if (index < 2 * SUB_BUCKETS)
        return index;
    int shift = index / SUB_BUCKETS - 1;
    double low = (double)((unsigned long long)(index % SUB_BUCKETS + SUB_BUCKETS) << shift);
    return low + (double)(1ULL << shift) / 2;
}

static void record_latency(double seconds)
{
    latency_counts[latency_bucket((unsigned long long)(seconds * 1e9))]++;
    latency_total++;
}

/* The latency under which a fraction q of the window's requests finished,
   in microseconds. */
static double latency_quantile(double q)
{
    if (!latency_total)
        return 0.0;
    unsigned long long rank = (unsigned long long)(q * (double)(latency_total - 1)) + 1;
    unsigned long long seen = 0;
    for (int i = 0; i < LATENCY_BUCKETS; i++) {
        seen += latency_counts[i];
        if (seen >= rank)
            return latency_value(i) / 1000.0;
    }
    return latency_value(LATENCY_BUCKETS - 1) / 1000.0;
}

/* --- Connections ------------------------------------------------------ */

/* The WebSocket opening handshake, on the still blocking socket. */
static void websocket_open(int fd)
{
    struct timeval timeout = {STALL_SECONDS, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    size_t sent = 0, length = sizeof websocket_handshake - 1;
    while (sent < length) {
        ssize_t n = send(fd, websocket_handshake + sent, length - sent, MSG_NOSIGNAL);
        if (n < 0 && errno != EINTR)
            fail("send: %s", strerror(errno));
        if (n > 0)
            sent += (size_t)n;
    }
    /* Byte by byte, so as not to read past the answer's end. */
    char answer[4096];
    size_t got = 0;
    while (got < 4 || memcmp(answer + got - 4, "\r\n\r\n", 4) != 0) {
        if (got == sizeof answer)
            fail("WebSocket handshake answer longer than %zu bytes", sizeof answer);
        ssize_t n = recv(fd, answer + got, 1, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            fail("no WebSocket handshake answer: %s", n ? strerror(errno) : "closed");
        got++;
    }
    if (got < 12 || memcmp(answer, "HTTP/1.1 101", 12) != 0)
        fail("WebSocket handshake refused: %.*s", (int)(got < 80 ? got : 80), answer);
    timeout.tv_sec = 0;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
}

/* A binary frame's header (FIN, opcode 2, the length), masked or not;
   returns its length. */
static size_t websocket_header(unsigned char *header, size_t size, int masked)
{
    size_t n = 0;
    unsigned char mask_bit = masked ? 0x80 : 0;
    header[n++] = 0x82;
    if (size < 126) {
        header[n++] = mask_bit | (unsigned char)size;
    } else if (size < 65536) {
        header[n++] = mask_bit | 126;
        header[n++] = (unsigned char)(size >> 8);
        header[n++] = (unsigned char)size;
    } else {
        header[n++] = mask_bit | 127;
        for (int shift = 56; shift >= 0; shift -= 8)
            header[n++] = (unsigned char)(size >> shift);
    }
    return n;
}

static int open_connection(void)
{
    int fd;
    if (opt.unix_path) {
        struct sockaddr_un addr;
        memset(&addr, 0, sizeof addr);
        addr.sun_family = AF_UNIX;
        if (strlen(opt.unix_path) >= sizeof addr.sun_path)
            fail("socket path too long: %s", opt.unix_path);
        strcpy(addr.sun_path, opt.unix_path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            fail("socket: %s", strerror(errno));
        if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0)
            fail("connect %s: %s", opt.unix_path, strerror(errno));
    } else {
        char host[256];
        const char *colon = strrchr(opt.tcp, ':');
        if (!colon || (size_t)(colon - opt.tcp) >= sizeof host)
            fail("bad address %s (HOST:PORT)", opt.tcp);
        memcpy(host, opt.tcp, colon - opt.tcp);
        host[colon - opt.tcp] = '\0';
        struct sockaddr_in addr;
        memset(&addr, 0, sizeof addr);
        addr.sin_family = AF_INET;
        addr.sin_port = htons((unsigned short)atoi(colon + 1));
        if (inet_pton(AF_INET, host, &addr.sin_addr) != 1)
            fail("bad IPv4 address %s", host);
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            fail("socket: %s", strerror(errno));
        if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0)
            fail("connect %s: %s", opt.tcp, strerror(errno));
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    if (opt.websocket)
        websocket_open(fd);
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
        fail("fcntl: %s", strerror(errno));
    return fd;
}

static void watch(struct conn *c, int op, int want_out)
{
    struct epoll_event ev;
    ev.events = EPOLLIN | (want_out ? EPOLLOUT : 0);
    ev.data.ptr = c;
    if (epoll_ctl(epfd, op, c->fd, &ev) < 0)
        fail("epoll_ctl: %s", strerror(errno));
    c->want_out = want_out;
}

/* Write what the socket takes of the current request; ask for EPOLLOUT
   while some of it is left. */
static void send_some(struct conn *c)
{
    while (c->sent < request_len) {
        ssize_t n = send(c->fd, request + c->sent, request_len - c->sent, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            fail("send: %s", strerror(errno));
        }
        c->sent += (size_t)n;
    }
    int want_out = c->sent < request_len;
    if (want_out != c->want_out)
        watch(c, EPOLL_CTL_MOD, want_out);
}

/* Closes c's connection with a reset (see -r). */
static void drop_connection(struct conn *c)
{
    struct linger reset = {1, 0};
    setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
    close(c->fd);  /* which takes it out of the epoll set too */
    c->fd = -1;
}

static void start_request(struct conn *c)
{
    c->busy = 1;
    c->sent = 0;
    c->received = 0;
    c->expected = opt.http ? 0 : expected_len;
    c->started = now();
    if (opt.churn) {
        if (c->fd >= 0)
            drop_connection(c);
        c->fd = open_connection();
        watch(c, EPOLL_CTL_ADD, 0);
    }
    send_some(c);
}

/* Once the headers of an HTTP response are in, the response's length. */
static void parse_http_head(struct conn *c)
{
    char *head = c->response;
    char *end = memmem(head, c->received, "\r\n\r\n", 4);
    if (!end)
        return;
    size_t head_len = (size_t)(end - head) + 4;
    if (c->received < 13 || memcmp(head, "HTTP/1.1 200 ", 13) != 0)
        fail("unexpected response: %.*s", (int)(c->received < 80 ? c->received : 80), head);
    long length = -1;
    for (char *line = memmem(head, head_len, "\r\n", 2); line && line < end;
         line = memmem(line + 2, (size_t)(end - line), "\r\n", 2)) {
        if (strncasecmp(line + 2, "content-length:", 15) == 0) {
            length = strtol(line + 17, NULL, 10);
            break;
        }
    }
    if (length < 0)
        fail("response without Content-Length");
    c->expected = head_len + (size_t)length;
}

/* Read what has arrived; returns 1 when the response is complete. */
static int receive_some(struct conn *c)
{
    if (!c->busy) {
        char byte;
        ssize_t n = recv(c->fd, &byte, 1, 0);
        if (n > 0)
            fail("the server sent bytes that nobody asked for");
        if (n == 0)
            fail("the server closed an idle connection");
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            fail("recv: %s", strerror(errno));
        return 0;
    }
    for (;;) {
        unsigned char *into;
        size_t room;
        if (opt.http) {
            into = (unsigned char *)c->response + c->received;
            room = HTTP_RESPONSE_MAX - c->received;
            if (c->expected)
                room = c->expected - c->received;
            if (!room)
                fail("HTTP response longer than %d bytes", HTTP_RESPONSE_MAX);
        } else {
            into = recv_buffer;
            room = c->expected - c->received;
            if (room > RECV_CHUNK)
                room = RECV_CHUNK;
        }
        ssize_t n = recv(c->fd, into, room, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 0;
            fail("recv: %s", strerror(errno));
        }
        if (n == 0)
            fail("the server closed a connection (%zu of the response's bytes read)",
                 c->received);
        if (!opt.http && memcmp(into, expected_response + c->received, (size_t)n) != 0)
            fail("the response differs from the expected one at byte %zu", c->received);
        c->received += (size_t)n;
        if (opt.http && !c->expected)
            parse_http_head(c);
        if (c->expected && c->received == c->expected)
            return 1;
    }
}

/* --- Main ------------------------------------------------------------- */

static double parse_seconds(const char *text)
{
    char *end;
    double value = strtod(text, &end);
    if (*end || value < 0)
        usage();
    return value;
}

int main(int argc, char **argv)
{
    int ch;
    while ((ch = getopt(argc, argv, "t:u:c:s:HW:w:d:p:a:br")) != -1) {
        switch (ch) {
        case 't': opt.tcp = optarg; break;
        case 'u': opt.unix_path = optarg; break;
        case 'c': opt.connections = atoi(optarg); break;
        case 's': opt.size = (size_t)strtoul(optarg, NULL, 10); break;
        case 'H': opt.http = 1; break;
        case 'W': opt.websocket = 1; opt.size = (size_t)strtoul(optarg, NULL, 10); break;
        case 'w': opt.warmup = parse_seconds(optarg); break;
        case 'd': opt.duration = parse_seconds(optarg); break;
        case 'p': opt.server_pid = atol(optarg); break;
        case 'a': opt.cpu = atoi(optarg); break;
        case 'b': opt.spin = 1; break;
        case 'r': opt.churn = 1; break;
        default: usage();
        }
    }
    if (optind != argc || !opt.tcp == !opt.unix_path || opt.http == (opt.size > 0)
        || opt.connections < 1 || opt.connections > MAX_CONNECTIONS || opt.duration <= 0)
        usage();

    if (opt.cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(opt.cpu, &set);
        if (sched_setaffinity(0, sizeof set, &set) < 0)
            fail("cannot run on CPU %d: %s", opt.cpu, strerror(errno));
    }
    if (opt.server_pid) {
        have_server_clock = clock_getcpuclockid((pid_t)opt.server_pid, &server_clock) == 0;
        double cpu;
        unsigned long faults;
        server_usage(&cpu, &faults); /* fails early if the process is not there */
    }

    char *payload = NULL, *frame = NULL, *answer = NULL;
    if (opt.http) {
        request = http_request;
        request_len = sizeof http_request - 1;
    } else {
        payload = malloc(opt.size);
        if (!payload)
            fail("out of memory");
        for (size_t i = 0; i < opt.size; i++)
            payload[i] = (char)('a' + (i * 7 + i / 251) % 26);
        request = expected_response = payload;
        request_len = expected_len = opt.size;
    }
    if (opt.websocket) {
        static const unsigned char mask[4] = {0x37, 0xfa, 0x21, 0x3d};
        unsigned char header[14];
        frame = malloc(opt.size + 14);
        answer = malloc(opt.size + 10);
        if (!frame || !answer)
            fail("out of memory");
        size_t n = websocket_header(header, opt.size, 1);
        memcpy(frame, header, n);
        memcpy(frame + n, mask, 4);
        for (size_t i = 0; i < opt.size; i++)
            frame[n + 4 + i] = (char)(payload[i] ^ mask[i % 4]);
        request = frame;
        request_len = n + 4 + opt.size;
        n = websocket_header(header, opt.size, 0);
        memcpy(answer, header, n);
        memcpy(answer + n, payload, opt.size);
        expected_response = answer;
        expected_len = n + opt.size;
    }
    recv_buffer = malloc(RECV_CHUNK);
    struct conn *conns = calloc((size_t)opt.connections, sizeof *conns);
    if (!recv_buffer || !conns)
        fail("out of memory");

    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0)
        fail("epoll_create1: %s", strerror(errno));
    for (int i = 0; i < opt.connections; i++) {
        struct conn *c = &conns[i];
        c->fd = -1;  /* -r: start_request opens each */
        if (opt.http && !(c->response = malloc(HTTP_RESPONSE_MAX)))
            fail("out of memory");
        if (!opt.churn) {
            c->fd = open_connection();
            watch(c, EPOLL_CTL_ADD, 0);
        }
    }

    enum { WARMUP, MEASURE, DRAIN } phase = WARMUP;
    unsigned long long completed = 0, completed_at_start = 0, completed_at_end = 0;
    double start = now(), boundary = start + opt.warmup;
    double window_start = 0, window_seconds = 0, cpu_at_start = 0, cpu_used = 0, cpu_now;
    unsigned long faults_at_start = 0, faults_used = 0, faults_now;
    double last_progress = start;
    int in_flight = opt.connections;
    for (int i = 0; i < opt.connections; i++)
        start_request(&conns[i]);

    struct epoll_event events[256];
    for (;;) {
        double t = now();
        if (phase == WARMUP && t >= boundary) {
            server_usage(&cpu_at_start, &faults_at_start);
            window_start = now();
            completed_at_start = completed;
            phase = MEASURE;
            boundary = window_start + opt.duration;
        } else if (phase == MEASURE && t >= boundary) {
            double window_end = now();
            server_usage(&cpu_now, &faults_now);
            cpu_used = cpu_now - cpu_at_start;
            faults_used = faults_now - faults_at_start;
            window_seconds = window_end - window_start;
            completed_at_end = completed;
            phase = DRAIN;
            boundary = window_end + DRAIN_SECONDS;
        } else if (phase == DRAIN && t >= boundary) {
            fail("%d requests still unanswered %.0f s after the end", in_flight, DRAIN_SECONDS);
        }
        if (phase == DRAIN && in_flight == 0)
            break;
        if (t - last_progress > STALL_SECONDS)
            fail("no response for %.0f s (%d connections waiting)", STALL_SECONDS, in_flight);

        int timeout_ms = (int)((boundary - t) * 1000) + 1;
        if (timeout_ms > 100)
            timeout_ms = 100;
        if (opt.spin)
            timeout_ms = 0;
        int n = epoll_wait(epfd, events, 256, timeout_ms);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            fail("epoll_wait: %s", strerror(errno));
        }
        for (int i = 0; i < n; i++) {
            struct conn *c = events[i].data.ptr;
            if (events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
                if (receive_some(c)) {
                    if (c->sent != request_len)
                        fail("the response came before the whole request was sent");
                    completed++;
                    last_progress = now();
                    if (phase == MEASURE)
                        record_latency(last_progress - c->started);
                    c->busy = 0;
                    if (phase == DRAIN) {
                        in_flight--;
                        if (c->want_out)
                            watch(c, EPOLL_CTL_MOD, 0);
                    } else {
                        start_request(c);
                    }
                    continue;
                }
            }
            if ((events[i].events & EPOLLOUT) && c->busy)
                send_some(c);
        }
    }

    for (int i = 0; i < opt.connections; i++) {
        if (opt.churn)
            drop_connection(&conns[i]);
        else
            close(conns[i].fd);
        free(conns[i].response);
    }
    close(epfd);
    free(conns);
    free(recv_buffer);
    free(payload);
    free(frame);
    free(answer);
    printf("requests=%llu seconds=%.6f server_cpu=%.6f server_minflt=%lu"
           " p50_us=%.2f p99_us=%.2f cpu_clock=%s total=%llu\n",
           completed_at_end - completed_at_start, window_seconds, cpu_used, faults_used,
           latency_quantile(0.50), latency_quantile(0.99),
           have_server_clock ? "clock" : "procstat", completed);
    return 0;
}
