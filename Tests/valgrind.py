"""valgrind memcheck over a smoke program and a bounded slice of the suite.

    python -m Tests.valgrind                       # the default slice
    python -m Tests.valgrind Tests/test_timers.py  # these pytest arguments

The interpreter runs under valgrind with PYTHONMALLOC=malloc (every block
is valgrind's to see) and aioev's pools and freelists on, as in a release
build. The gate fails on any invalid read, write or free, on any other
memcheck error with aioev in its stack, and on any block definitely lost
that aioev's code allocated (the first frame past the allocators is
aioev's). CPython's own blocks still held at exit (interned strings, static
types, tracemalloc's records: a release build does not free them), made
while aioev called into CPython or not, are counted, not failed. Exit status 1 on failure, 2 when valgrind is
missing.
"""

import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

from . import support

# The part of the suite that drives the pools and freelists: handles and
# timers, futures and tasks, transports' buffers, exit with full pools.
DEFAULT = ['Tests/test_handles.py', 'Tests/test_timers.py', 'Tests/test_future.py',
           'Tests/test_create_task.py', 'Tests/test_memory.py', 'Tests/test_large_reads.py',
           'Tests/test_tcp.py']

SMOKE = '''
import asyncio, socket, sys
import aioev

async def echo_client(port):
    reader, writer = await asyncio.open_connection('127.0.0.1', port)
    for size in (1, 1000, 100_000):
        writer.write(b'x' * size)
        await reader.readexactly(size)
    writer.close()
    await writer.wait_closed()

async def main():
    async def handle(reader, writer):
        while data := await reader.read(65536):
            writer.write(data)
        writer.close()
    server = await asyncio.start_server(handle, '127.0.0.1', 0)
    port = server.sockets[0].getsockname()[1]
    await asyncio.gather(*(echo_client(port) for _ in range(4)))
    server.close()
    await server.wait_closed()
    loop = asyncio.get_running_loop()
    handles = [loop.call_later(1000 + i, print) for i in range(5000)]
    for h in handles[::2]:
        h.cancel()
    await asyncio.gather(*(asyncio.sleep(0) for _ in range(5000)))
    fut = loop.create_future()
    loop.call_soon(fut.set_result, 'done')
    print(await fut)

aioev.run(main())
'''

VALGRIND_ARGS = ['--leak-check=full', '--show-leak-kinds=definite',
                 '--errors-for-leak-kinds=definite', '--num-callers=40']

# A record: the lines of one error or loss record, up to a blank line.
RECORD_END = re.compile(r'^==\d+==\s*$', re.M)
ALWAYS_FATAL = ('Invalid read', 'Invalid write', 'Invalid free', 'Mismatched free',
                'Source and destination overlap')
OURS = ('_aioev', 'aioev::', 'aioev.h', '/aioev/')
# Frames of the allocators, skipped to find who asked for a block: malloc's
# family, CPython's allocators and the GC's and types' allocation functions.
ALLOCATORS = re.compile(
    r'\b(malloc|calloc|realloc|operator new\S*|'
    r'PyMem_\w+|PyObject_(Malloc|Calloc|Realloc)|_PyMem_\w+|_PyObject_\w*(Malloc|Calloc|Realloc)|'
    r'pymalloc_\w+|gc_alloc|_PyObject_GC_\w+|PyType_GenericAlloc|_PyType_AllocNoTrack)\b'
    r'|\((obmalloc|gcmodule)\.c:')


def records(text):
    for chunk in RECORD_END.split(text):
        lines = [line.split('== ', 1)[-1] for line in chunk.strip().splitlines()]
        if lines:
            yield lines


def allocated_by_us(lines):
    """Whether the first frame past the allocators is aioev's: a block that
    aioev's code asked for, not one CPython made while aioev called it (an
    interned string, an import's objects, tracemalloc's own records)."""
    for line in lines[1:]:
        frame = line.strip()
        if not frame.startswith(('at ', 'by ')):
            continue
        if ALLOCATORS.search(frame):
            continue
        return any(mark in frame for mark in OURS)
    return False


def judge(text):
    """(failures, lost_elsewhere): the records that fail the gate, and how
    many definitely-lost records did not involve aioev."""
    failures, lost_elsewhere = [], 0
    for lines in records(text):
        head = lines[0]
        ours = any(mark in line for line in lines for mark in OURS)
        if any(head.startswith(kind) for kind in ALWAYS_FATAL):
            failures.append('\n'.join(lines))
        elif 'definitely lost' in head:
            if allocated_by_us(lines):
                failures.append('\n'.join(lines))
            else:
                lost_elsewhere += 1
        elif ours and (head.startswith('Conditional jump') or head.startswith('Use of uninit')
                       or head.startswith('Syscall param')):
            failures.append('\n'.join(lines))
    return failures, lost_elsewhere


def run(name, argv, logdir):
    log = os.path.join(logdir, name + '.%p.log')
    env = support.child_env(PYTHONMALLOC='malloc')
    env.pop('AIOEV_TEST_LOOP', None)
    cmd = ['valgrind', '-q', f'--log-file={log}', *VALGRIND_ARGS, sys.executable, *argv]
    proc = subprocess.run(cmd, env=env, cwd=support.ROOT_DIR)
    text = ''.join(open(p, errors='replace').read()
                   for p in glob.glob(os.path.join(logdir, name + '.*.log')))
    failures, lost_elsewhere = judge(text)
    print(f'valgrind {name}: exit {proc.returncode}, {len(failures)} failing records, '
          f'{lost_elsewhere} definitely-lost records of CPython (held at exit)',
          flush=True)
    for failure in failures:
        print(failure, '\n', flush=True)
    return proc.returncode == 0 and not failures


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if shutil.which('valgrind') is None:
        print('valgrind: not installed', flush=True)
        return 2
    with tempfile.TemporaryDirectory() as logdir:
        ok = run('smoke', ['-c', SMOKE], logdir)
        ok = run('suite', ['-m', 'pytest', '-q', '-p', 'no:cacheprovider',
                           *(argv or DEFAULT)], logdir) and ok
    print('valgrind: ' + ('clean' if ok else 'FAILED'), flush=True)
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
