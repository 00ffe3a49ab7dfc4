"""Runs one program on one loop and returns its trace (a list of strings).

Reprs are normalised (addresses, task numbers) so that only behaviour is
compared; "never retrieved"/"destroyed" reports depend on when objects die,
so they are collected after the program and compared as a sorted list.
"""

import asyncio
import contextvars
import gc
import re
import sys
import threading

VAR = contextvars.ContextVar('fuzz_var', default='unset')
_ADDR = re.compile(r'0x[0-9a-fA-F]+')
_TASKN = re.compile(r'Task-\d+')
_LATE = ('never retrieved', 'destroyed but it is pending')


def norm(text):
    return _TASKN.sub('Task-N', _ADDR.sub('0xADDR', str(text)))


def exc_text(e):
    if isinstance(e, BaseExceptionGroup):
        inner = ','.join(sorted(exc_text(x) for x in e.exceptions))
        return f'{type(e).__name__}({norm(e.message)!r};{inner})'
    return f'{type(e).__name__}{norm(repr(e.args))}'


def make_loop(mode):
    if mode == 'asyncio':
        return asyncio.SelectorEventLoop()
    if mode == 'broken':
        return _BrokenLoop()
    import aioev
    return aioev.new_event_loop(native_task=(mode == 'aioev-native'))


class _BrokenLoop(asyncio.SelectorEventLoop):
    """Deliberately wrong: every third call_soon runs before the one before it."""
    _n = 0

    def call_soon(self, *args, **kwargs):
        h = super().call_soon(*args, **kwargs)
        self._n += 1
        if self._n % 3 == 0 and len(self._ready) >= 2:
            last = self._ready.pop()
            prev = self._ready.pop()
            self._ready.append(last)
            self._ready.append(prev)
        return h


class Env:
    def __init__(self, loop, prog):
        self.loop = loop
        self.prog = prog
        self.trace = []
        self.late = []
        self.objs = {}
        self.base = loop.time()

    def log(self, *items):
        self.trace.append(' '.join(norm(i) for i in items))

    def handler(self, loop, ctx):
        msg = ctx.get('message', '')
        if any(s in msg for s in _LATE):
            self.late.append(norm(msg))
            return
        exc = ctx.get('exception')
        self.log('handler', msg, exc_text(exc) if exc is not None else '-',
                 ','.join(sorted(ctx)))

    # -- sync operations ----------------------------------------------------
    def run_sync(self, ops):
        for op in ops:
            if op[0] == 'raise':
                self.log('raise', op[1])
                raise _builtin(op[1])(op[2])
            try:
                self.sync_op(op)
            except Exception as e:
                self.log('error', op[0], exc_text(e))

    def callback(self, hid, body):
        def cb():
            self.log('cb', hid, VAR.get())
            self.run_sync(body)
        cb.__qualname__ = f'cb{hid}'
        return cb

    def sync_op(self, op):
        kind, loop = op[0], self.loop
        if kind == 'log':
            self.log('log', op[1])
        elif kind == 'soon':
            self.objs[op[1]] = loop.call_soon(self.callback(op[1], op[3]))
        elif kind == 'soon_ts':
            out = []
            t = threading.Thread(target=lambda: out.append(
                loop.call_soon_threadsafe(self.callback(op[1], op[3]))))
            t.start()
            t.join()
            self.objs[op[1]] = out[0]
        elif kind == 'at':
            self.objs[op[1]] = loop.call_at(self.base + op[2], self.callback(op[1], op[3]))
        elif kind == 'later':
            self.objs[op[1]] = loop.call_later(op[2], self.callback(op[1], op[3]))
        elif kind == 'hcancel':
            h = self.objs.get(op[1])
            if h is not None:
                h.cancel()
                self.log('hcancel', op[1], h.cancelled())
        elif kind == 'fut':
            fut = self.objs[op[1]] = loop.create_future()
            how, arg, off = op[2]
            loop.call_at(self.base + off, self.ensure, op[1], op[2])
            self.log('fut', op[1], type(fut).__name__ in ('Future',))
        elif kind == 'resolve':
            self.resolve(op[1], op[2])
        elif kind in ('addcb', 'rmcb'):
            f = self.objs.get(op[1])
            if f is not None:
                cb = self.done_cb(op[2])
                if kind == 'addcb':
                    f.add_done_callback(cb)
                else:
                    self.log('rmcb', op[1], f.remove_done_callback(cb))
        elif kind == 'task':
            kw = {'name': f'named{op[1]}'} if op[2] else {}
            t = loop.create_task(self.run_async(op[3], op[1]), **kw)
            self.objs[op[1]] = t
            self.log('task', op[1], t.get_name() if op[2] else '', t.done())
        elif kind == 'tcancel':
            t = self.objs.get(op[1])
            if t is not None:
                self.log('tcancel', op[1], t.cancel(op[2]) if op[2] is not None else t.cancel())
        elif kind == 'uncancel':
            t = self.objs.get(op[1])
            if t is not None and hasattr(t, 'uncancel'):
                self.log('uncancel', op[1], t.uncancel(), t.cancelling())
        elif kind == 'ctxset':
            VAR.set(op[1])
        elif kind == 'ctxget':
            self.log('ctx', VAR.get())
        elif kind == 'state':
            self.log('state', op[1], self.state(self.objs.get(op[1])))
        elif kind == 'stop':
            loop.stop()
            self.log('stop')

    def done_cb(self, n):
        # Equal callbacks compare equal, so remove_done_callback finds them.
        return _DoneCb(self, n)

    def state(self, f):
        if f is None:
            return 'missing'
        if not f.done():
            return 'pending'
        if f.cancelled():
            return 'cancelled'
        e = f.exception()
        return exc_text(e) if e is not None else f'result={f.result()!r}'

    def ensure(self, fid, res):
        f = self.objs[fid]
        if not f.done():
            self.resolve(fid, res)

    def resolve(self, fid, res):
        f = self.objs.get(fid)
        if f is None or isinstance(f, asyncio.Task):
            return
        how, arg, _ = res
        try:
            if how == 'result':
                f.set_result(arg)
            elif how == 'exception':
                f.set_exception(_builtin(arg)('set'))
            else:
                self.log('fcancel', fid, f.cancel(arg) if arg is not None else f.cancel())
        except Exception as e:
            self.log('error', 'resolve', exc_text(e))

    # -- async operations ---------------------------------------------------
    async def run_async(self, ops, tid):
        self.log('start', tid)
        for op in ops:
            try:
                await self.async_op(op)
            except (Exception, asyncio.CancelledError) as e:
                self.log('exc', tid, op[0], exc_text(e))
                if op[0] == 'raise' or isinstance(e, asyncio.CancelledError):
                    self.log('end', tid)
                    raise
        self.log('end', tid)
        return tid

    async def async_op(self, op):
        kind = op[0]
        get = self.objs.get
        if kind == 'raise':
            raise _builtin(op[1])(op[2])
        if kind == 'await':
            if get(op[1]) is not None:
                self.log('await', op[1], await get(op[1]))
        elif kind == 'shield':
            if get(op[1]) is not None:
                self.log('shield', op[1], await asyncio.shield(get(op[1])))
        elif kind == 'sleep':
            await asyncio.sleep(op[1])
            self.log('slept', op[1])
        elif kind == 'gather':
            fs = [get(i) for i in op[1] if get(i) is not None]
            res = await asyncio.gather(*fs, return_exceptions=op[2])
            self.log('gather', [exc_text(x) if isinstance(x, BaseException) else x
                                for x in res])
        elif kind == 'wait_for':
            if get(op[1]) is not None:
                self.log('wait_for', op[1], await asyncio.wait_for(get(op[1]), op[2]))
        elif kind == 'timeout':
            async with asyncio.timeout(op[1]) as cm:
                await self.run_async(op[2], 'timeout')
            self.log('timeout', cm.expired())
        elif kind == 'taskgroup':
            async with asyncio.TaskGroup() as tg:
                for i, b in enumerate(op[1]):
                    tg.create_task(self.run_async(b, f'tg{i}'))
            self.log('taskgroup done')
        elif kind == 'catch':
            try:
                await self.run_async(op[1], 'catch')
            except BaseException as e:  # noqa: B036 the point is to swallow
                self.log('caught', exc_text(e))
        else:
            self.run_sync([op])


class _DoneCb:
    def __init__(self, env, n):
        self.env, self.n = env, n

    def __call__(self, f):
        self.env.log('done_cb', self.n, self.env.state(f))

    def __eq__(self, other):
        return isinstance(other, _DoneCb) and other.n == self.n

    def __hash__(self):
        return self.n


def _builtin(name):
    import builtins
    return getattr(builtins, name)


def run_program(prog, mode):
    loop = make_loop(mode)
    asyncio.set_event_loop(loop)
    env = Env(loop, prog)
    loop.set_exception_handler(env.handler)
    if prog.get('eager') and hasattr(asyncio, 'eager_task_factory'):
        loop.set_task_factory(asyncio.eager_task_factory)
    watchdog = loop.call_later(1.0, lambda: (env.log('watchdog'), loop.stop()))
    main = loop.create_task(env.run_async(prog['ops'], 'main'), name='main')
    for _ in range(6):
        try:
            env.log('result', loop.run_until_complete(main))
            break
        except BaseException as e:
            env.log('run', exc_text(e))
            if main.done() or env.trace[-2:-1] == ['watchdog']:
                break
    watchdog.cancel()
    for key in sorted(env.objs):
        if isinstance(env.objs[key], asyncio.Future):
            env.log('final', key, env.state(env.objs[key]))
    try:
        loop.run_until_complete(loop.shutdown_asyncgens())
    except BaseException as e:
        env.log('shutdown', exc_text(e))
    loop.close()
    asyncio.set_event_loop(None)
    env.objs.clear()
    del main
    gc.collect()
    return env.trace + ['late:'] + sorted(env.late)


def child_main(mode):
    """Reads one JSON program a line on stdin, writes one JSON trace a line."""
    import json
    for line in sys.stdin:
        prog = json.loads(line)
        try:
            trace = run_program(prog, mode)
        except BaseException as e:
            trace = ['interp-error', exc_text(e)]
        sys.stdout.write(json.dumps(trace) + '\n')
        sys.stdout.flush()
