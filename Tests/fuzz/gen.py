"""Random programs: a tree of operations, JSON-serialisable, from a seed.

Every deadline is either already past or never reached (offsets of 1000 s
and more from the program's start, NaN, +-inf), so each loop must produce
one trace whatever the machine's speed; equal deadlines are frequent.
Every future the program may await has a resolver callback no operation can
cancel, and a task awaits only earlier tasks, so a program always ends.
"""

import random

AT_OFFSETS = [0.0, 0.0, -1000.0, -1000.0, -2000.0, float('-inf'), float('nan'),
              1e9, float('inf')]
LATER_DELAYS = [0, 0.0, -0.0, -1e6, -1e6, float('-inf'), float('nan'), 1e9, float('inf')]
EXC_KINDS = ['ValueError', 'KeyError', 'RuntimeError', 'ZeroDivisionError']
MESSAGES = [None, 'msg', '']


class Gen:
    def __init__(self, seed, size):
        self.r = random.Random(seed)
        self.size = size
        self.next_id = 0
        self.handles = []   # cancellable handle ids
        self.futs = []      # future ids
        self.tasks = []     # task ids
        self.budget = size

    def new_id(self):
        self.next_id += 1
        return self.next_id

    def body(self, depth, is_async, n=None):
        ops = []
        n = self.r.randint(0, 3 if depth else self.size) if n is None else n
        for _ in range(n):
            if self.budget <= 0:
                break
            self.budget -= 1
            ops.append(self.op(depth, is_async))
        return ops

    def op(self, depth, is_async):
        for _ in range(4):  # an operation with nothing to act on yet: draw again
            op = self.draw(depth, is_async)
            if op is not None:
                return op
        return ['log', self.new_id()]

    def draw(self, depth, is_async):
        r = self.r
        kinds = ['log', 'soon', 'at', 'later', 'hcancel', 'fut', 'resolve', 'addcb',
                 'rmcb', 'task', 'tcancel', 'uncancel', 'raise', 'ctxset', 'ctxget', 'state',
                 'stop', 'soon_ts']
        if is_async:
            kinds += ['await', 'await', 'sleep', 'shield', 'gather', 'wait_for', 'timeout',
                      'taskgroup', 'catch']
        kind = r.choice(kinds)
        sub = depth < 3
        if kind in ('soon', 'soon_ts', 'at', 'later') and sub:
            hid = self.new_id()
            self.handles.append(hid)
            arg = (r.choice(AT_OFFSETS) if kind == 'at' else r.choice(LATER_DELAYS)
                   if kind == 'later' else None)
            return [kind, hid, arg, self.body(depth + 1, False)]
        if kind == 'hcancel' and self.handles:
            return [kind, r.choice(self.handles)]
        if kind == 'fut':
            fid = self.new_id()
            self.futs.append(fid)
            return [kind, fid, self.resolution()]
        if kind in ('resolve',) and self.futs:
            return [kind, r.choice(self.futs), self.resolution()]
        if kind in ('addcb', 'rmcb') and self.futs + self.tasks:
            return [kind, r.choice(self.futs + self.tasks), r.randint(1, 3)]
        if kind == 'task' and sub:
            tid = self.new_id()
            b = self.body(depth + 1, True)
            self.tasks.append(tid)
            return [kind, tid, r.choice([None, 'named']), b]
        if kind in ('tcancel', 'uncancel') and self.tasks:
            return [kind, r.choice(self.tasks), r.choice(MESSAGES)]
        if kind == 'raise':
            return [kind, r.choice(EXC_KINDS), r.choice(['boom', 'x'])]
        if kind in ('ctxset', 'ctxget'):
            return [kind, r.randint(0, 9)]
        if kind == 'state' and self.futs + self.tasks:
            return [kind, r.choice(self.futs + self.tasks)]
        if kind == 'stop' and r.random() < 0.3:
            return [kind]
        awaitables = self.futs + self.tasks
        if kind in ('await', 'shield') and awaitables:
            return [kind, r.choice(awaitables)]
        if kind == 'sleep':
            return [kind, r.choice([0, 0, -1, float('nan')])]
        if kind == 'gather' and awaitables:
            return [kind, r.sample(awaitables, min(len(awaitables), r.randint(1, 3))),
                    r.random() < 0.5]
        if kind == 'wait_for' and awaitables:
            return [kind, r.choice(awaitables), r.choice([None, 0, -1, 1e9])]
        if kind == 'timeout' and sub:
            return [kind, r.choice([None, 0, -1, 1e9]), self.body(depth + 1, True)]
        if kind == 'taskgroup' and sub:
            return [kind, [self.body(depth + 1, True) for _ in range(r.randint(1, 3))]]
        if kind == 'catch' and sub:
            return [kind, self.body(depth + 1, True)]
        if kind == 'log':
            return ['log', self.new_id()]
        return None

    def resolution(self):
        r = self.r
        how = r.choice(['result', 'result', 'exception', 'cancel'])
        arg = (r.randint(0, 99) if how == 'result' else r.choice(EXC_KINDS)
               if how == 'exception' else r.choice(MESSAGES))
        return [how, arg, r.choice(AT_OFFSETS[:6])]


def generate(seed, size=None):
    r = random.Random(seed)
    size = size or r.randint(10, 80)
    g = Gen(seed, size)
    ops = g.body(0, True)
    return {'seed': seed, 'eager': r.random() < 0.25, 'ops': ops}
