"""``python -m aftershock``: the same entry as the ``aftershock`` command (aftershock/entry.py)."""

import sys

from aftershock.entry import main

sys.exit(main())
