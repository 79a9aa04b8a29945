"""``python -m cervi`` is the ``cervi`` command."""

import sys

from cervi.cli import main

sys.exit(main())
