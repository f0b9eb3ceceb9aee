"""Rich renderings for the terminal."""

from __future__ import annotations

from rich import box
from rich.console import Group
from rich.table import Table
from rich.text import Text

from ..analyze import Analysis
from .columns import SUMMED, VIEWS
from .facts import facts
from .rows import rows
from .text import _totals_cells, context


def facts_text(a: Analysis, layout: str = "nchw") -> Text:
    """Label/value lines (plain text, not a grid, so lines carry no trailing padding)."""
    items = facts(a, layout)
    width = max(len(label) for label, _ in items) + 2
    text = Text()
    for i, (label, value) in enumerate(items):
        if i:
            text.append("\n")
        text.append(label.ljust(width), style="bold cyan")
        text.append(value)
    return text


def layer_table(a: Analysis, view, depth: int | None = None, layout: str = "nchw") -> Table:
    """``view``: a view name (columns.VIEWS) or a list of columns."""
    columns = VIEWS[view] if isinstance(view, str) else list(view)
    ctx = context(a, layout)
    row_list = rows(a, depth)
    table = Table(box=box.SIMPLE_HEAD, show_footer=False, pad_edge=False)
    for col in columns:
        table.add_column(col.header, justify="right" if col.numeric else "left",
                         no_wrap=col.key in ("layer", "operation", "output_shape"),
                         overflow="fold")
    for r in row_list:
        table.add_row(*(Text(col.show(r, ctx)) for col in columns))
    if any(c.key in SUMMED for c in columns):
        table.add_section()
        cells = [c.replace("**", "") for c in _totals_cells(columns, row_list, ctx)]
        table.add_row(*(Text(c, style="bold") for c in cells))
    return table


def render(a: Analysis, view, depth: int | None = None, layout: str = "nchw") -> Group:
    return Group(facts_text(a, layout), Text(""), layer_table(a, view, depth, layout))
