"""``python -m dagcore`` is the ``dagcore`` command."""

import sys

from dagcore.cli import main

sys.exit(main())
