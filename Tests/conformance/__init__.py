"""CPython's test.test_asyncio run against aioev; see run.py."""
