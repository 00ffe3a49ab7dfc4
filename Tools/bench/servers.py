"""The processes that a server cell measures: a server on one loop (this
file run with ``serve``) or, for the database cells, a client on one loop
(``client``).  bench.py starts them through cells.py; nothing here runs in
the bench process itself.

    servers.py serve KIND --loop LOOP --fd FD [--cpu N] [--lifetime S]
        serves on the inherited listening socket FD; prints "ready" once it
        serves; stops when its standard input closes; exits with status 1 if
        anything reached the loop's exception handler (or an error log).
    servers.py client KIND --loop LOOP --address HOST:PORT --connections C
            --warmup W --duration D [--cpu N]
        drives a PostgreSQL or Redis server with C concurrent workers and
        prints one JSON line: the operations, seconds, CPU seconds and minor
        page faults of its measured window (getrusage deltas) and the
        latency percentiles.

The application libraries (uvicorn, FastAPI, aiohttp, websockets, asyncpg,
redis) are imported only by the cells that use them.
"""

import argparse
import asyncio
import json
import logging
import os
import resource
import socket
import sys
import threading
import time

from loops import describe, loop_factory

KIB = 1024
SERVER_READ_SIZE = 64 * KIB  # sock_recv and StreamReader.read ask for this much
SERVER_BUFFER_SIZE = 256 * KIB  # what the BufferedProtocol's get_buffer gives
TRANSPORT_READ_SIZE = 256 * KIB  # what the transports read at most, all three loops'
SERVER_STOP_TIMEOUT = 10  # seconds a server may take to stop once told to

HELLO = b"Hello, world!"
HTTP_RESPONSE = (
    b"HTTP/1.1 200 OK\r\n"
    b"Content-Type: text/plain\r\n"
    b"Content-Length: 13\r\n"
    b"\r\n"
    + HELLO
)

# What the uvicorn cells pass as uvicorn's loop setting: the loop factory as
# "module:callable", as `uvicorn --loop aioev:new_event_loop` takes it.
UVICORN_LOOPS = {
    "aioev": "aioev:new_event_loop",
    "asyncio": "asyncio",  # uvicorn's own name: asyncio.SelectorEventLoop
    "uvloop": "uvloop",
    "rloop": "rloop:new_event_loop",
    "zloop": "zloop:new_event_loop",
}

# The database cells: bytes of each Redis value, commands per pipeline.
REDIS_VALUE = b"v" * 100
REDIS_PIPELINE = 100


# --- The servers --------------------------------------------------------
# Each takes the loop and a listening socket, starts serving, and returns a
# coroutine function that stops the server.  Errors go to the loop's
# exception handler, which the server process reports.


def report_error(loop, message, exc):
    loop.call_exception_handler({"message": message, "exception": exc})


async def sock_server(loop, listener):
    """Echo with loop.sock_accept, sock_recv and sock_sendall, one task per
    connection."""
    handlers = set()

    async def echo(conn):
        with conn:
            try:
                while True:
                    data = await loop.sock_recv(conn, SERVER_READ_SIZE)
                    if not data:
                        break
                    await loop.sock_sendall(conn, data)
            except ConnectionError:
                pass
            except Exception as exc:
                report_error(loop, "echo over sock_* failed", exc)

    async def accept():
        while True:
            conn, _ = await loop.sock_accept(listener)
            conn.setblocking(False)
            # As asyncio's transports do; it matters for the large messages.
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            handler = loop.create_task(echo(conn))
            handlers.add(handler)
            handler.add_done_callback(handlers.discard)

    acceptor = loop.create_task(accept())

    async def stop():
        tasks = [acceptor, *handlers]
        for task in tasks:
            task.cancel()
        for result in await asyncio.gather(*tasks, return_exceptions=True):
            if isinstance(result, Exception):
                report_error(loop, "sock_* server task failed", result)
        listener.close()

    return stop


async def streams_server(loop, listener):
    """Echo with asyncio.start_server, StreamReader.read and
    StreamWriter.write + drain."""

    async def echo(reader, writer):
        try:
            while True:
                data = await reader.read(SERVER_READ_SIZE)
                if not data:
                    break
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        except Exception as exc:
            report_error(loop, "echo over streams failed", exc)
        finally:
            writer.close()

    server = await asyncio.start_server(echo, sock=listener)
    return server_stopper(server)


class EchoProtocol(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.transport.write(data)


class EchoBufferedProtocol(asyncio.BufferedProtocol):
    def connection_made(self, transport):
        self.transport = transport
        self.buffer = memoryview(bytearray(SERVER_BUFFER_SIZE))

    def get_buffer(self, sizehint):
        return self.buffer

    def buffer_updated(self, nbytes):
        self.transport.write(self.buffer[:nbytes])
        if self.transport.get_write_buffer_size():
            # The transport may keep the view of what it could not send yet
            # (asyncio's does): read the next data into a new buffer.
            self.buffer = memoryview(bytearray(SERVER_BUFFER_SIZE))


async def protocol_server(loop, listener):
    """Echo with an asyncio.Protocol: data_received writes the data back."""
    if listener.family == socket.AF_UNIX:
        server = await loop.create_unix_server(EchoProtocol, sock=listener)
    else:
        server = await loop.create_server(EchoProtocol, sock=listener)
    return server_stopper(server)


async def buffered_server(loop, listener):
    """Echo with an asyncio.BufferedProtocol: buffer_updated writes the
    bytes just read back."""
    server = await loop.create_server(EchoBufferedProtocol, sock=listener)
    return server_stopper(server)


async def http_server(loop, listener):
    """HTTP/1.1 with keep-alive: httptools parses each request, and every
    request gets the same small response."""
    import httptools

    class HttpProtocol(asyncio.Protocol):
        def connection_made(self, transport):
            self.transport = transport
            self.parser = httptools.HttpRequestParser(self)

        def data_received(self, data):
            try:
                self.parser.feed_data(data)
            except httptools.HttpParserError as exc:
                report_error(loop, "bad HTTP request", exc)
                self.transport.close()

        def on_message_complete(self):
            self.transport.write(HTTP_RESPONSE)
            if not self.parser.should_keep_alive():
                self.transport.close()

    server = await loop.create_server(HttpProtocol, sock=listener)
    return server_stopper(server)


def server_stopper(server):
    async def stop():
        server.close()
        await asyncio.wait_for(server.wait_closed(), SERVER_STOP_TIMEOUT)

    return stop


async def aiohttp_server(loop, listener):
    """aiohttp's web server: one route that answers a short text."""
    from aiohttp import web

    async def hello(request):
        return web.Response(body=HELLO, content_type="text/plain")

    app = web.Application()
    app.router.add_get("/", hello)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    await web.SockSite(runner, listener).start()

    async def stop():
        await asyncio.wait_for(runner.cleanup(), SERVER_STOP_TIMEOUT)

    return stop


async def websockets_server(loop, listener):
    """websockets' server: every message is sent back as it came."""
    from websockets.asyncio.server import serve as ws_serve
    from websockets.exceptions import ConnectionClosed

    async def echo(connection):
        try:
            async for message in connection:
                await connection.send(message)
        except ConnectionClosed:
            pass  # the load generator closes without a closing handshake

    server = await ws_serve(echo, sock=listener, ping_interval=None,
                            compression=None, max_size=None)
    return server_stopper(server)


SERVERS = {
    "sock": sock_server,
    "streams": streams_server,
    "protocol": protocol_server,
    "buffered": buffered_server,
    "http": http_server,
    "aiohttp": aiohttp_server,
    "websockets": websockets_server,
}


# --- uvicorn ------------------------------------------------------------
# uvicorn makes its loop itself, from its loop setting: these servers run
# uvicorn.Server.run() as `uvicorn --fd FD --loop ...` would.


async def asgi_app(scope, receive, send):
    """A raw ASGI application: every request gets the same short text."""
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain"),
                            (b"content-length", str(len(HELLO)).encode())]})
    await send({"type": "http.response.body", "body": HELLO})


def fastapi_app():
    """A FastAPI application with one JSON endpoint, GET /json."""
    from fastapi import FastAPI

    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @app.get("/json")
    async def hello():
        return {"message": HELLO.decode()}

    return app


UVICORN_APPS = {
    "uvicorn_asgi": lambda: asgi_app,
    "uvicorn_fastapi": fastapi_app,
}


class ErrorLog(logging.Handler):
    """Keeps what uvicorn and the application log at ERROR or above."""

    def __init__(self, errors):
        super().__init__(logging.ERROR)
        self.errors = errors

    def emit(self, record):
        self.errors.append(record.getMessage())
        print(f"server: {self.format(record)}", file=sys.stderr, flush=True)


def serve_uvicorn(args, listener, errors):
    import uvicorn

    class Server(uvicorn.Server):
        async def startup(self, sockets=None):
            asyncio.get_running_loop().set_exception_handler(
                lambda loop, context: on_loop_error(args.loop, errors, context))
            await super().startup(sockets=sockets)
            if not self.should_exit:
                print("ready", flush=True)

    config = uvicorn.Config(
        UVICORN_APPS[args.kind](), loop=UVICORN_LOOPS[args.loop], http="httptools",
        ws="none", lifespan="off", interface="asgi3", access_log=False,
        log_level="warning", timeout_graceful_shutdown=SERVER_STOP_TIMEOUT)
    server = Server(config)
    logging.getLogger("uvicorn.error").addHandler(ErrorLog(errors))

    def stop():
        server.should_exit = True

    watch_stdin(stop, args.lifetime)
    server.run(sockets=[listener])
    if not server.started:
        errors.append("uvicorn did not start")


# --- The server process -------------------------------------------------


def on_loop_error(loop_name, errors, context):
    exception = context.get("exception")
    text = context["message"]
    if exception is not None:
        text += f": {describe(exception)}"
    errors.append(text)
    print(f"server on {loop_name}: {text}", file=sys.stderr, flush=True)


def watch_stdin(stop, lifetime):
    """Call stop() (from another thread) once standard input closes, or
    after lifetime seconds.  A thread, not the loop's add_reader, so that
    it works the same on every loop."""

    def wait():
        deadline = time.monotonic() + lifetime
        while time.monotonic() < deadline:
            try:
                if not os.read(0, 4096):
                    break
            except InterruptedError:
                continue
            except OSError:
                break
        stop()

    threading.Thread(target=wait, daemon=True).start()


def serve(args):
    """The server process: serve on the inherited listening socket until
    standard input closes (or the lifetime runs out).  It prints "ready"
    once it serves, and exits with status 1 if anything went wrong."""
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    listener = socket.socket(fileno=args.fd)
    listener.setblocking(False)
    errors = []
    if args.kind in UVICORN_APPS:
        serve_uvicorn(args, listener, errors)
        return 1 if errors else 0
    loop = loop_factory(args.loop)()
    asyncio.set_event_loop(loop)
    loop.set_exception_handler(lambda loop, context: on_loop_error(args.loop, errors, context))
    logging.getLogger().addHandler(ErrorLog(errors))
    stop = loop.run_until_complete(SERVERS[args.kind](loop, listener))
    done = loop.create_future()

    def finish():
        if not done.done():
            done.set_result(None)

    watch_stdin(lambda: loop.call_soon_threadsafe(finish), args.lifetime)
    print("ready", flush=True)
    loop.run_until_complete(done)
    loop.run_until_complete(stop())
    loop.close()
    return 1 if errors else 0


# --- The database clients -----------------------------------------------
# Each takes (host, port, connections) and returns (operation, close): the
# coroutine function operation(worker, count) does the worker's count-th
# operation and returns the number of requests (commands, queries) it made.


async def asyncpg_client(host, port, connections):
    """asyncpg: one connection per worker, each operation one simple query
    with a parameter (SELECT $1::int), its answer checked."""
    import asyncpg

    conns = [await asyncpg.connect(host=host, port=port, user="bench", database="postgres")
             for _ in range(connections)]

    async def operation(worker, count):
        value = await conns[worker].fetchval("SELECT $1::int", count)
        if value != count:
            raise AssertionError(f"SELECT {count} gave {value!r}")
        return 1

    async def close():
        for conn in conns:
            await conn.close()

    return operation, close


def redis_connection(host, port, connections):
    import redis.asyncio

    return redis.asyncio.Redis(host=host, port=port, max_connections=connections)


async def redis_client(host, port, connections):
    """redis-py: one client shared by the workers (its pool holds one
    connection per worker); each operation one command, a SET of a
    worker's key, then a GET of it, in turn."""
    client = redis_connection(host, port, connections)

    async def operation(worker, count):
        key = f"bench:{worker}"
        if count % 2 == 0:
            await client.set(key, REDIS_VALUE)
        else:
            value = await client.get(key)
            if value != REDIS_VALUE:
                raise AssertionError(f"GET {key} gave {value!r}")
        return 1

    return operation, client.aclose


async def redis_pipeline_client(host, port, connections):
    """redis-py with pipelining: each operation one pipeline of
    REDIS_PIPELINE commands (SET and GET of the same keys, in turn),
    without a transaction."""
    client = redis_connection(host, port, connections)
    pairs = REDIS_PIPELINE // 2

    async def operation(worker, count):
        async with client.pipeline(transaction=False) as pipe:
            for index in range(pairs):
                key = f"bench:{worker}:{index}"
                pipe.set(key, REDIS_VALUE)
                pipe.get(key)
            results = await pipe.execute()
        if results[1::2] != [REDIS_VALUE] * pairs:
            raise AssertionError("a pipelined GET did not give what was SET")
        return 2 * pairs

    return operation, client.aclose


CLIENTS = {
    "asyncpg": asyncpg_client,
    "redis": redis_client,
    "redis_pipeline": redis_pipeline_client,
}


def usage():
    """(CPU seconds, minor page faults) of this process so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime, usage.ru_minflt


def percentile(sorted_seconds, fraction):
    """The value under which fraction of sorted_seconds lie, in microseconds."""
    if not sorted_seconds:
        return None
    index = min(len(sorted_seconds) - 1, round(fraction * (len(sorted_seconds) - 1)))
    return sorted_seconds[index] * 1e6


async def drive(operation, connections, warmup, duration):
    """Run connections workers for warmup + duration seconds: the window's
    requests, seconds, CPU seconds, minor faults and operation latencies."""
    window = {"open": False, "requests": 0}
    latencies = []
    stopping = False

    async def worker(index):
        count = 0
        while not stopping:
            start = time.perf_counter()
            requests = await operation(index, count)
            end = time.perf_counter()
            count += 1
            if window["open"]:
                window["requests"] += requests
                latencies.append(end - start)

    workers = [asyncio.ensure_future(worker(index)) for index in range(connections)]
    try:
        await asyncio.sleep(warmup)
        cpu_start, faults_start = usage()
        start = time.perf_counter()
        window["open"] = True
        await asyncio.sleep(duration)
        window["open"] = False
        seconds = time.perf_counter() - start
        cpu_end, faults_end = usage()
        requests = window["requests"]
    finally:
        stopping = True
        results = await asyncio.gather(*workers, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    latencies.sort()
    return {"requests": requests, "seconds": seconds, "cpu": cpu_end - cpu_start,
            "minflt": faults_end - faults_start,
            "p50_us": percentile(latencies, 0.50), "p99_us": percentile(latencies, 0.99),
            "operations": len(latencies)}


def client(args):
    """The client process: one JSON line on stdout, or status 1 and the
    reason on stderr."""
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    host, port = args.address.rsplit(":", 1)
    loop = loop_factory(args.loop)()
    errors = []
    loop.set_exception_handler(lambda loop, context: on_loop_error(args.loop, errors, context))

    async def main():
        operation, close = await CLIENTS[args.kind](host, int(port), args.connections)
        try:
            return await drive(operation, args.connections, args.warmup, args.duration)
        finally:
            await close()

    try:
        result = loop.run_until_complete(main())
    except Exception as exc:
        print(f"client on {args.loop}: {describe(exc)}", file=sys.stderr, flush=True)
        return 1
    finally:
        loop.close()
    if errors:
        return 1
    print(json.dumps(result), flush=True)
    return 0


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="servers.py")
    commands = parser.add_subparsers(dest="command", required=True)
    serve_parser = commands.add_parser("serve")
    serve_parser.add_argument("kind", choices=sorted(SERVERS) + sorted(UVICORN_APPS))
    serve_parser.add_argument("--fd", type=int, required=True)
    serve_parser.add_argument("--lifetime", type=float, default=600)
    client_parser = commands.add_parser("client")
    client_parser.add_argument("kind", choices=sorted(CLIENTS))
    client_parser.add_argument("--address", required=True)
    client_parser.add_argument("--connections", type=int, default=10)
    client_parser.add_argument("--warmup", type=float, default=0.3)
    client_parser.add_argument("--duration", type=float, default=1.0)
    for each in (serve_parser, client_parser):
        each.add_argument("--loop", required=True)
        each.add_argument("--cpu", type=int)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    return serve(args) if args.command == "serve" else client(args)


if __name__ == "__main__":
    sys.exit(main())
