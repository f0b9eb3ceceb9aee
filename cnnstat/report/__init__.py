"""Reports: per-model Markdown / HTML / CSV / JSON with plots (``cnnstat report``), models side by
side (``cnnstat compare``), and grids of totals (``cnnstat sweep``). See docs/reports.md.

    >>> from cnnstat.report import Options, build, write
    >>> write(build(["vgg16", "resnet50"], Options()), "reports")

Nothing here imports torch; matplotlib is imported by cnnstat.plots only when a plot is drawn.
"""

from __future__ import annotations

from .build import Built, Options, build, parse_formats, write
from .compare import CompareRow, compare_row
from .model import model_blocks, slug
from .sweep import Sweep
from .sweep import run as run_sweep

__all__ = ["Built", "Options", "build", "write", "parse_formats", "CompareRow", "compare_row",
           "model_blocks", "slug", "Sweep", "run_sweep"]
