"""python -m Tests.oracles: see run.py."""
import sys

from .run import main

sys.exit(main())
