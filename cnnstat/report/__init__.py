"""Reports: per-model Markdown / HTML / CSV / JSON with plots (``cnnstat report``), models side by
side (``cnnstat compare``), and grids of totals (``cnnstat sweep``). See docs/reports.md.

    >>> from cnnstat.report import Options, build, write
    >>> write(build(["vgg16", "resnet50"], Options()), "reports")

Nothing here imports torch; matplotlib is imported by cnnstat.plots only when a plot is drawn.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

# Imported on first use (PEP 562), so that cnnstat.report.document — the block model the command
# line renders too — is cheap to import.
_EXPORTS = {"Built": "build", "Options": "build", "build": "build", "parse_formats": "build",
            "write": "build", "CompareRow": "compare", "compare_row": "compare",
            "model_blocks": "model", "slug": "model", "Sweep": "sweep", "run_sweep": "sweep"}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'cnnstat.report' has no attribute '{name}'")
    loaded = import_module(f".{module}", __name__)
    # bind every name this module exports: importing cnnstat.report.build has just set the
    # package's attribute 'build' to the module, and the function of that name must win
    for export, source in _EXPORTS.items():
        if source == module:
            globals()[export] = getattr(loaded, "run" if export == "run_sweep" else export)
    return globals()[name]


__all__ = list(_EXPORTS)
