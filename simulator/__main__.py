"""``python -m simulator``: the same as the ``secsim`` command."""

import sys

from simulator.cli import main

sys.exit(main())
