"""The ``cnnstat`` command line: thin commands over the library.

Each command module registers its commands (cnnstat.cli.app.command) when imported; command
modules import nothing heavy at import time (torch, matplotlib and pandas are imported inside the
commands that need them), so ``cnnstat params vgg16`` stays fast.
"""

from __future__ import annotations

import sys

from .app import COMMANDS, run

# Command modules, in the order their commands appear in --help.
from . import static  # noqa: F401,E402
from . import check  # noqa: F401,E402
from . import report  # noqa: F401,E402
from . import view  # noqa: F401,E402
from . import paper  # noqa: F401,E402
from . import history  # noqa: F401,E402
from . import bench  # noqa: F401,E402
from . import memory  # noqa: F401,E402


def main(argv: list[str] | None = None) -> int:
    """Entry point: run a command; user errors print one line and exit with status 2."""
    return run(argv if argv is not None else sys.argv[1:])


__all__ = ["COMMANDS", "main"]
