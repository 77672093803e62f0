"""``python -m bench``: every measurement, the table, and ``docs/benchmarks/``."""

import sys

from bench.cli import main

sys.exit(main())
