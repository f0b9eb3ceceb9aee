"""Paper tables as markdown, CSV, JSON and rich tables.

A text column is one column: cnnstat's text where it agrees with the paper, "paper ≠ cnnstat"
where it does not. A number column becomes three: the figure as printed, cnnstat's figure in the
paper's unit, and the relative difference Δ = (cnnstat − paper) / paper. "[n]" points to note n.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Iterable

from ..convention import Convention
from .model import DIFFERS, Cell, Column, PaperTable, Published

LEGEND = ("Δ = (cnnstat − published) / published; \"a → b (Δ)\" gives the published figure a and "
          "cnnstat's b. A printed figure matches when cnnstat's exact value rounds to it; [n] "
          "refers to note n, which explains a difference.")


def convention_text() -> str:
    return "cnnstat figures: " + Convention().describe()


def _marker(cell: Cell | None) -> str:
    return f" [{cell.note}]" if cell is not None and cell.note else ""


def _published_text(cell: Cell) -> str:
    p = cell.published
    if p is None:
        return ""
    return p.text if isinstance(p, Published) else str(p)


def text_value(cell: Cell | None) -> str:
    if cell is None:
        return ""
    if isinstance(cell.published, Published) and cell.computed is not None:
        # a number in a text column (ResNet's FLOPs row): "printed → cnnstat (Δ)"
        return f"{cell.published.text} → {cell.shown} ({cell.relative:+.1%})" + _marker(cell)
    if cell.status == DIFFERS:
        text = f"{_published_text(cell)} ≠ cnnstat: {cell.shown if cell.shown is not None else cell.computed}"
    elif cell.computed is None:
        text = _published_text(cell)
    else:
        text = str(cell.shown if cell.shown is not None else cell.computed)
    return text + _marker(cell)


def delta(cell: Cell | None) -> str:
    if cell is None or cell.relative is None:
        return ""
    return f"{cell.relative:+.1%}" + _marker(cell)


def _has(table: PaperTable, col: Column, what: str) -> bool:
    for row in table.rows:
        cell = row.cells.get(col.key)
        if cell is None:
            continue
        if what == "published" and cell.published is not None:
            return True
        if what == "computed" and cell.computed is not None:
            return True
    return False


def layout(table: PaperTable) -> list[tuple[str, str, str, bool]]:
    """The displayed columns: (header, column key, part, numeric), part in text/paper/cnnstat/delta."""
    out = []
    for col in table.columns:
        if col.kind != "number":
            out.append((col.header, col.key, "text", False))
            continue
        published, computed = _has(table, col, "published"), _has(table, col, "computed")
        if published and computed:
            out += [(f"{col.header} (published)", col.key, "paper", True),
                    (f"{col.header} (cnnstat)", col.key, "cnnstat", True),
                    (f"{col.header} Δ", col.key, "delta", True)]
        elif published:
            out.append((f"{col.header} (published)", col.key, "paper", True))
        else:
            out.append((col.header, col.key, "cnnstat", True))
    return out


def cell_text(cell: Cell | None, part: str) -> str:
    if part == "text":
        return text_value(cell)
    if cell is None:
        return ""
    if part == "paper":
        text = _published_text(cell)
        return text + (_marker(cell) if cell.computed is None else "")
    if part == "cnnstat":
        if cell.computed is None:
            return ""
        text = str(cell.shown if cell.shown is not None else cell.computed)
        return text + (_marker(cell) if cell.relative is None else "")
    return delta(cell)


def grid(table: PaperTable) -> tuple[list[str], list[list[str]], list[bool]]:
    cols = layout(table)
    headers = [c[0] for c in cols]
    rows = [[cell_text(row.cells.get(key), part) for _, key, part, _ in cols]
            for row in table.rows]
    return headers, rows, [c[3] for c in cols]


def has_numbers(t: PaperTable) -> bool:
    """Whether the table compares any published number (then the legend applies)."""
    return any(isinstance(c.published, Published) for r in t.rows for c in r.cells.values())


_has_numbers = has_numbers    # the name cnnstat.report.paper uses


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def markdown(tables: Iterable[PaperTable], heading: str = "") -> str:
    lines: list[str] = []
    if heading:
        lines += [f"# {heading}", ""]
    for t in tables:
        lines += [f"## {t.title}", "", f"*{t.source}*", ""]
        if t.caption:
            lines += [t.caption, ""]
        if t.models:
            lines += [f"cnnstat models: {', '.join(dict.fromkeys(t.models))}. {convention_text()}.", ""]
        headers, rows, numeric = grid(t)
        lines.append("| " + " | ".join(_md(h) for h in headers) + " |")
        lines.append("|" + "|".join("---:" if n else "---" for n in numeric) + "|")
        for row, cells in zip(t.rows, rows):
            shown = [f"**{c}**" if row.emphasis and c else c for c in cells]
            lines.append("| " + " | ".join(_md(c) for c in shown) + " |")
        lines.append("")
        if has_numbers(t):
            lines += [LEGEND, ""]
        if t.notes:
            lines += ["Notes:", ""]
            lines += [f"{i}. {_md(n)}" for i, n in enumerate(t.notes, 1)]
            lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


def csv_text(tables: Iterable[PaperTable]) -> str:
    """One line per cell: raw figures, for spreadsheets."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["table", "source", "row", "column", "published", "published_value", "cnnstat",
                "relative_difference", "status", "note"])
    for t in tables:
        for i, row in enumerate(t.rows):
            for col in t.columns:
                cell = row.cells.get(col.key)
                if cell is None or cell.status == "empty":
                    continue
                p = cell.published
                w.writerow([t.key, t.source, row.label or i, col.header or col.key,
                            _published_text(cell),
                            repr(p.value) if isinstance(p, Published) else "",
                            "" if cell.computed is None else cell.computed,
                            "" if cell.relative is None else f"{cell.relative:.6f}",
                            cell.status, t.notes[cell.note - 1] if cell.note else ""])
    return buf.getvalue()


def to_dict(t: PaperTable) -> dict:
    def cell_dict(cell: Cell) -> dict:
        p = cell.published
        out: dict = {"status": cell.status}
        if isinstance(p, Published):
            out["published"] = {"text": p.text, "value": p.value, "half_unit": p.half_unit}
        elif p is not None:
            out["published"] = {"text": str(p)}
        if cell.computed is not None:
            out["cnnstat"] = cell.computed
            if cell.shown is not None and cell.shown != cell.computed:
                out["cnnstat_shown"] = cell.shown
        if cell.relative is not None:
            out["relative_difference"] = cell.relative
        if cell.note:
            out["note"] = cell.note
        return out

    return {
        "key": t.key, "title": t.title, "source": t.source, "caption": t.caption,
        "models": list(dict.fromkeys(t.models)), "convention": Convention().describe(),
        "columns": [{"key": c.key, "header": c.header, "kind": c.kind} for c in t.columns],
        "rows": [{"label": r.label, "summary": r.emphasis,
                  "cells": {k: cell_dict(c) for k, c in r.cells.items() if c.status != "empty"}}
                 for r in t.rows],
        "notes": list(t.notes),
    }


def json_text(name: str, paper: str, tables: Iterable[PaperTable]) -> str:
    return json.dumps({"paper": name, "citation": paper, "tables": [to_dict(t) for t in tables]},
                      indent=2, ensure_ascii=False) + "\n"


def rich(tables: Iterable[PaperTable], heading: str = ""):
    """A rich renderable: each table with its source, caption and notes."""
    from rich import box
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    parts: list = []
    if heading:
        parts += [Text(heading, style="bold"), Text("")]
    for t in tables:
        headers, rows, numeric = grid(t)
        table = Table(box=box.SIMPLE_HEAD, title=f"{t.title}\n[dim]{t.source}[/dim]",
                      title_justify="left", pad_edge=False)
        for h, n in zip(headers, numeric):
            table.add_column(h, justify="right" if n else "left", overflow="fold")
        for row, cells in zip(t.rows, rows):
            if row.emphasis and len(table.rows):
                table.add_section()
            styled = []
            for cell_text, (_, key, part, _) in zip(cells, layout(t)):
                cell = row.cells.get(key)
                style = "bold" if row.emphasis else ""
                if cell is not None and cell.status == DIFFERS and part in ("text", "delta"):
                    style = "yellow"
                styled.append(Text(cell_text, style=style))
            table.add_row(*styled)
        parts.append(table)
        if t.caption:
            parts.append(Text(t.caption, style="dim"))
        if t.models:
            parts.append(Text(f"cnnstat models: {', '.join(dict.fromkeys(t.models))}. "
                              f"{convention_text()}.", style="dim"))
        if has_numbers(t):
            parts.append(Text(LEGEND, style="dim"))
        for i, note in enumerate(t.notes, 1):
            parts.append(Text(f"[{i}] {note}"))
        parts.append(Text(""))
    return Group(*parts)
