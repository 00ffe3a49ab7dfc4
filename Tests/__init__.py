"""aioev's own tests (unittest modules that pytest also runs)."""
