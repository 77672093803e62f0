"""``python -m service``: the ``confirmhub`` command line."""

import sys

from service.cli import main

sys.exit(main())
