# Sphinx configuration of aioev's documentation:
#   sphinx-build -W -b html Doc build/doc      (`make doc`, part of `make test`)
# The API reference (api.rst) is written by hand, so building the pages needs
# no compiled module; Tests/test_docs.py checks it names every public name.

project = 'aioev'
author = 'the aioev authors'
copyright = '2026, the aioev authors'
release = version = '0.1.0'

extensions = []
root_doc = 'index'
exclude_patterns = ['bench/report.json', 'requirements.txt']
default_role = 'literal'
# Cross-references to the standard library's documentation would need the
# network at build time; names of asyncio stay plain literals instead.
html_theme = 'alabaster'
html_title = 'aioev'
