"""The cells of a view's total row (cnnstat.render.views makes its tables and their CSV)."""

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

