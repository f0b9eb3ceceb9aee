"""Paper tables as document blocks (terminal and Markdown), CSV and JSON.

A text column is one column: cnnstat's text where it agrees with the paper, "paper ≠ cnnstat"
where it does not. A number column becomes three: the figure as printed, cnnstat's figure in the
paper's unit, and the relative difference Δ = (cnnstat − paper) / paper. "[n]" points to note n.
"""

from __future__ import annotations

import io
import json
from typing import Iterable

from ..convention import Convention
from ..render.escape import csv_writer
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



def paper_grid(t: PaperTable):
    """A paper table as a Grid: a text column keeps the paper's key; a number column's three
    parts are KEY:published, KEY:cnnstat and KEY:delta. Summary rows are bold, with a rule."""
    from ..render.grid import FIXED, WRAP, Col, Grid
    cols = layout(t)
    keys = [key if part == "text" else f"{key}:{part}" for _, key, part, _ in cols]
    headers, rows, numeric = grid(t)
    emphasis = [row.emphasis for row in t.rows]
    return Grid([Col(k, h, n, FIXED if n else WRAP, comfort=16)
                 for k, h, n in zip(keys, headers, numeric)], rows,
                keep=tuple(keys[:1]), styles=["strong" if e else None for e in emphasis],
                sections=frozenset(i for i, e in enumerate(emphasis) if e and i),
                selectable=False)


def paper_keys(t: PaperTable) -> list[str]:
    return [c.key for c in t.columns]


def choose(tables: list[PaperTable], spec: str | None) -> list[list[str] | None]:
    """``--columns`` for paper tables: the paper's own columns (``D``, ``50``, ``params``), each
    with its published, cnnstat and Δ parts; a table's first column always stays. Per table, the
    chosen Grid keys (None: all). A name no table has is an error."""
    if not spec or spec.strip().casefold() == "all":
        return [None] * len(tables)
    from ..errors import UsageError
    from ..suggest import did_you_mean
    names = [n.strip() for n in spec.split(",") if n.strip()]
    out, found = [], set()
    for t in tables:
        grid_keys = paper_grid(t).keys
        chosen = grid_keys[:1]
        for name in names:
            for k in grid_keys:
                base = k.split(":")[0]
                if name.casefold() in (k.casefold(), base.casefold()) and k not in chosen:
                    chosen.append(k)
                    found.add(name)
            if any(name.casefold() == c.header.casefold() for c in t.columns):
                found.add(name)
                for c in t.columns:
                    if c.header.casefold() == name.casefold():
                        chosen += [k for k in grid_keys if k.split(":")[0] == c.key
                                   and k not in chosen]
        out.append(chosen)
    missing = [n for n in names if n not in found]
    if missing:
        every = list(dict.fromkeys(k for t in tables for k in paper_keys(t)))
        raise UsageError(f"--columns: no table here has a column '{missing[0]}'"
                         f"{did_you_mean(missing[0], every)}; the columns are "
                         f"{', '.join(every)} (or all)")
    return out


def blocks(tables: Iterable[PaperTable], heading: str = "", columns: str | None = None) -> list:
    """The paper's tables as document blocks, each with its source, caption, the models and the
    convention of cnnstat's figures, the legend and the notes."""
    from ..render.blocks import Brief
    from ..report.document import Heading, Para
    tables = list(tables)
    out: list = [Heading(heading, 1)] if heading else []
    for t, keys in zip(tables, choose(tables, columns)):
        out += [Heading(t.title, 2), Para(f"*{t.source}*")]
        if t.caption:
            out.append(Para(t.caption))
        if t.models:
            models = f"cnnstat models: {', '.join(dict.fromkeys(t.models))}. "
            out.append(Para(Brief(f"{models}{convention_text()}.",
                                  f"{models}cnnstat figures: {Convention().short()}")))
        g = paper_grid(t)
        if keys:                         # the chosen columns; rows left empty by them go
            g = g.with_keys(keys)
            shown = [i for i, row in enumerate(g.rows) if any(row)]
            g.rows = [g.rows[i] for i in shown]
            g.styles = [g.styles[i] for i in shown] if g.styles else None
            g.sections = frozenset(shown.index(i) for i in g.sections if i in shown)
        out.append(g)
        if has_numbers(t):
            out.append(Para(LEGEND))
        if t.notes:
            out.append(Para("Notes:\n\n" + "\n".join(f"{i}. {n}"
                                                     for i, n in enumerate(t.notes, 1))))
    return out


def markdown(tables: Iterable[PaperTable], heading: str = "") -> str:
    from ..render.output import markdown as to_markdown
    return to_markdown(blocks(tables, heading))


def csv_text(tables: Iterable[PaperTable], columns: str | None = None) -> str:
    """One line per cell: raw figures, for spreadsheets (``columns``: the paper columns chosen,
    as for the tables)."""
    tables = list(tables)
    chosen = [None if keys is None else {k.split(":")[0] for k in keys}
              for keys in choose(tables, columns)]
    buf = io.StringIO()
    w = csv_writer(buf)
    w.writerow(["table", "source", "row", "column", "published", "published_value", "cnnstat",
                "relative_difference", "status", "note"])
    for t, keys in zip(tables, chosen):
        for i, row in enumerate(t.rows):
            for col in t.columns:
                cell = row.cells.get(col.key)
                if cell is None or cell.status == "empty" or (keys and col.key not in keys):
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
