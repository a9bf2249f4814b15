"""``python -m transferlib``: the command line (see ``transferlib.cli``)."""

import sys

from transferlib.cli import main

sys.exit(main())
