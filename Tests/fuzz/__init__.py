"""The differential fuzzer: seeded random asyncio programs run on asyncio's
loop and on aioev (both task modes), their traces compared (issue 10).

    python -m Tests.fuzz --seconds N [--seed S] [--modes aioev,aioev-native]
    python -m Tests.fuzz --replay build/fuzz-failures/seed-S.json

gen.py makes a program (a tree of operations) from a seed, interp.py runs
one in a child process and records its trace, runner.py compares, shrinks
and saves reproducers.
"""
