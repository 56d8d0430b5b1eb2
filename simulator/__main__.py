"""``python -m simulator``: the same as the ``secsim`` command."""

import sys

from simulator.console import main

sys.exit(main())
