"""``python -m transferlib``: the command line (see ``transferlib.cli``)."""

import sys

from .cli import main

sys.exit(main())
