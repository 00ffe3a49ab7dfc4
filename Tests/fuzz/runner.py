"""Children per loop, the comparison, shrinking and saved reproducers."""

import json
import os
import select
import subprocess
import sys
import time

from . import gen
from .. import support

FAILURES = os.path.join(support.ROOT_DIR, 'build', 'fuzz-failures')
HANG_SECONDS = 20


class Child:
    """One interpreter running programs on one loop kind; restarted after a crash."""

    def __init__(self, mode):
        self.mode = mode
        self.proc = None

    def start(self):
        # The package by its own name (Tests, or test.test_aioev vendored)
        # and the same aioev as this process (support.child_env's path).
        self.proc = subprocess.Popen(
            [sys.executable, '-c', f'import sys; from {__package__}.interp import child_main;'
             ' child_main(sys.argv[1])', self.mode],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            text=True, env=support.child_env(), cwd=support.PACKAGE_PARENT)

    def run(self, prog):
        if self.proc is None or self.proc.poll() is not None:
            self.start()
        self.proc.stdin.write(json.dumps(prog) + '\n')
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [], HANG_SECONDS)
        line = self.proc.stdout.readline() if ready else None
        if not line:
            hung = not ready
            self.stop()
            return ['HANG' if hung else f'CRASH rc={self.proc.returncode}']
        return json.loads(line)

    def stop(self):
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()
            for f in (self.proc.stdin, self.proc.stdout):
                f.close()


def first_difference(a, b):
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return None if len(a) == len(b) else min(len(a), len(b))


class Fuzzer:
    def __init__(self, modes=('aioev', 'aioev-native'), reference='asyncio', log=print):
        self.ref = Child(reference)
        self.children = {m: Child(m) for m in modes}
        self.log = log
        self.programs = 0

    def close(self):
        for c in [self.ref, *self.children.values()]:
            c.stop()

    def mismatches(self, prog):
        """{mode: (reference trace, trace)} of the modes whose trace differs."""
        self.programs += 1
        want = self.ref.run(prog)
        out = {}
        for mode, child in self.children.items():
            got = child.run(prog)
            if got != want:
                out[mode] = (want, got)
        return out

    def confirmed(self, prog, mode):
        # A program whose trace depends on timing is the generator's bug, not a finding.
        want = self.ref.run(prog)
        return want == self.ref.run(prog) and self.children[mode].run(prog) != want

    def shrink(self, prog, mode):
        """Fewer operations while `mode` still differs from the reference."""
        def still(p):
            want = self.ref.run(p)
            return want[-1:] != ['HANG'] and self.children[mode].run(p) != want

        def lists(ops, path=()):
            yield path, ops
            for i, op in enumerate(ops):
                for j, a in enumerate(op):
                    if isinstance(a, list) and a and all(isinstance(x, list) for x in a):
                        if all(isinstance(x, list) and x and isinstance(x[0], str) for x in a):
                            yield from lists(a, path + (i, j))
                        else:
                            for k, b in enumerate(a):
                                if isinstance(b, list):
                                    yield from lists(b, path + (i, j, k))

        changed = True
        while changed:
            changed = False
            for path, ops in list(lists(prog['ops'])):
                i = len(ops) - 1
                while i >= 0:
                    if i < len(ops):
                        saved = ops.pop(i)
                        if still(prog):
                            changed = True
                        else:
                            ops.insert(i, saved)
                    i -= 1
        return prog

    def save(self, prog, mode, want, got):
        os.makedirs(FAILURES, exist_ok=True)
        path = os.path.join(FAILURES, f'seed-{prog["seed"]}-{mode}.json')
        with open(path, 'w') as f:
            json.dump({'mode': mode, 'program': prog, 'asyncio': want, mode: got}, f, indent=1)
        return path

    def check_seed(self, seed, shrink=True):
        """Returns [(mode, saved path or None, first differing lines)]."""
        prog = gen.generate(seed)
        found = []
        for mode in self.mismatches(prog):
            if not self.confirmed(prog, mode):
                self.log(f'seed {seed}: {mode} differs only sometimes (timing); ignored')
                continue
            small = self.shrink(json.loads(json.dumps(prog)), mode) if shrink else prog
            want, got = self.ref.run(small), self.children[mode].run(small)
            path = self.save(small, mode, want, got) if shrink else None
            i = first_difference(want, got)
            found.append((mode, path, want[i:i + 3], got[i:i + 3]))
            self.log(f'seed {seed}: MISMATCH on {mode} ({path}):\n'
                     f'  asyncio: {want[i:i + 3]}\n  {mode}: {got[i:i + 3]}')
        return found


def main(argv=None):
    import argparse
    p = argparse.ArgumentParser(prog='python -m Tests.fuzz')
    p.add_argument('--seconds', type=float, default=60)
    p.add_argument('--seed', type=int, default=None, help='first seed (default: from the clock)')
    p.add_argument('--modes', default='aioev,aioev-native')
    p.add_argument('--replay', help='a saved reproducer: print both traces')
    a = p.parse_args(argv)
    modes = a.modes.split(',')
    fz = Fuzzer(modes)
    try:
        if a.replay:
            with open(a.replay) as f:
                prog = json.load(f)['program']
            for m, (want, got) in fz.mismatches(prog).items():
                print(m, 'differs at', first_difference(want, got))
                print(json.dumps({'asyncio': want, m: got}, indent=1))
            return 0
        seed = a.seed if a.seed is not None else int(time.time())
        end = time.monotonic() + a.seconds
        findings = 0
        first = seed
        while time.monotonic() < end:
            findings += len(fz.check_seed(seed))
            seed += 1
        print(f'seeds {first}..{seed - 1}: {fz.programs} program runs, {findings} findings')
        return 1 if findings else 0
    finally:
        fz.close()
