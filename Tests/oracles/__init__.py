"""Tornado's and anyio's test suites as oracles for aioev; see run.py."""
