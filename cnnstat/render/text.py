"""Markdown and CSV renderings of a view."""

from __future__ import annotations

import csv
import io

from ..analyze import Analysis
from .columns import HELD, SUMMED, VIEWS, Column
from .facts import facts
from .rows import Row, rows


def context(a: Analysis, layout: str = "nchw") -> dict:
    return {"layout": layout, "dtype_bytes": a.dtype_bytes, "total_macs": a.totals.macs}


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


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|")


def markdown_table(a: Analysis, view: str, depth: int | None = None, layout: str = "nchw",
                   with_total: bool = True) -> str:
    columns = VIEWS[view]
    ctx = context(a, layout)
    row_list = rows(a, depth)
    lines = ["| " + " | ".join(c.header for c in columns) + " |",
             "|" + "|".join("---:" if c.numeric else "---" for c in columns) + "|"]
    for r in row_list:
        lines.append("| " + " | ".join(_md_escape(c.show(r, ctx)) for c in columns) + " |")
    if with_total and any(c.key in SUMMED for c in columns):
        lines.append("| " + " | ".join(_totals_cells(columns, row_list, ctx)) + " |")
    return "\n".join(lines) + "\n"


def markdown(a: Analysis, view: str, depth: int | None = None, layout: str = "nchw") -> str:
    head = [f"## {a.name}: {view}", ""]
    for label, value in facts(a, layout):
        head.append(f"- **{label}**: {_md_escape(value)}")
    return "\n".join(head) + "\n\n" + markdown_table(a, view, depth, layout)


def csv_text(a: Analysis, view: str, depth: int | None = None, layout: str = "nchw") -> str:
    """Raw integers, one row per layer, no total row; column names carry the unit."""
    columns = VIEWS[view]
    ctx = context(a, layout)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    row_list = rows(a, depth)
    marked = any(r.train_only for r in row_list)     # a column only for models that have them
    writer.writerow([c.key for c in columns] + (["train_only"] if marked else []))
    for r in row_list:
        writer.writerow([c.raw(r, ctx) for c in columns]
                        + (["true" if r.train_only else "false"] if marked else []))
    return buffer.getvalue()
