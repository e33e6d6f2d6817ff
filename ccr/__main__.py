"""Entry point of ``python -m ccr``."""

import sys

from ccr.cli import main

sys.exit(main())
