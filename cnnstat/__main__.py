"""``python -m cnnstat``."""

import sys

from .cli import main

sys.exit(main())
