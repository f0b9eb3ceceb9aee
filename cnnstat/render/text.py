"""The cells of a view's total row, and its CSV (cnnstat.render.views makes its tables)."""

from __future__ import annotations

from ..analyze import Analysis
from .columns import HELD, SUMMED, Column
from .rows import Row


def context(a: Analysis, layout: str = "nchw") -> dict:
    from ..ops.base import UNIT_WORDS
    return {"layout": layout, "dtype_bytes": a.dtype_bytes, "total_macs": a.totals.macs,
            "unit": UNIT_WORDS.get(a.rank, "units")}


def _totals_cells(columns: list[Column], row_list: list[Row], ctx: dict) -> list[str]:
    from . import numbers as fmt
    cells = []
    for i, col in enumerate(columns):
        if col.key in SUMMED:
            value = sum(col.raw(r, ctx) for r in row_list if r.runs or col.key in HELD)
            if col.key == "macs_share":
                cells.append("100.00%" if ctx["total_macs"] else "-")
            elif col.key == "activation_bytes":
                cells.append(fmt.human_bytes(value))
            else:
                cells.append(fmt.grouped(value))
        else:
            cells.append("**total**" if col.key == "layer" else "")
    return cells


def csv_text(a: Analysis, view: str, depth: int | None = None, layout: str = "nchw") -> str:
    """Raw integers, one row per layer, no total row; column names carry the unit."""
    from .views import layer_grid
    return layer_grid(a, view, depth, layout).chosen(None, for_csv=True).csv_text()
