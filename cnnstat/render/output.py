"""The one place a command's output becomes a format and goes somewhere.

A command builds an :class:`Output` — the blocks a person reads (terminal and Markdown), and the
JSON, CSV and HTML it offers — and :func:`show` renders the format asked for, to standard output or
atomically to ``--out``. ``--columns`` chooses the columns of the output's main table (its first
selectable Grid) in the terminal, Markdown and CSV; JSON keeps its contract.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any, Callable

from ..errors import UsageError
from .grid import Col, Grid, parse_columns

FORMATS = ("table", "md", "csv", "json")


@dataclass(frozen=True)
class OutputOptions:
    """--format, --out, --columns, --width, --explain."""
    format: str = "table"
    out: str | None = None
    columns: str | None = None
    width: int | None = None
    explain: bool = False


@dataclass
class Output:
    """What a command shows: blocks to read, and the JSON, CSV and HTML it offers."""
    blocks: list[Any]
    json: Callable[[], str] | None = None
    csv: Callable[[], str] | None = None           # None: the main table's CSV
    html: Callable[[], str] | None = None
    markdown: Callable[[], str] | None = None       # None: the blocks as Markdown
    after: list[str] = field(default_factory=list)  # hints on stderr after a terminal table
    csv_note: str | None = None     # on stderr after CSV on standard output (a Brief: short
                                    # unless --explain)

    def main_grid(self) -> Grid | None:
        return next((b for b in self.blocks if isinstance(b, Grid) and b.selectable), None)


def emit(text: str, out: str | None = None) -> None:
    """Print text, or write it atomically to a file (saying so on stderr)."""
    if out:
        from ..fileio import atomic_write
        atomic_write(out, text)
        print(f"wrote {out}", file=sys.stderr)
    else:
        sys.stdout.write(text)


def show(output: Output, opts: OutputOptions) -> None:
    fmt = opts.format
    grid = output.main_grid()
    if opts.columns and grid is None and not (fmt == "csv" and output.csv):
        raise UsageError("--columns: this output has no table to choose columns from")
    if fmt == "json":
        if opts.columns and grid is not None:
            grid.chosen(opts.columns)           # a misspelt column is an error in every format
        _need(output.json, fmt)
        emit(output.json(), opts.out)
    elif fmt == "csv":
        if output.csv is not None:
            text = output.csv()
            emit(select_csv(text, opts.columns) if opts.columns else text, opts.out)
        else:
            _need(grid, fmt)
            emit(grid.chosen(opts.columns, for_csv=True).csv_text(), opts.out)
        if output.csv_note and not opts.out:
            from .terminal import brief
            print(brief(output.csv_note, opts.explain), file=sys.stderr)
    elif fmt == "html":
        _need(output.html, fmt)
        emit(output.html(), opts.out)
    elif fmt == "md" or opts.out:
        text = output.markdown() if output.markdown is not None else \
            markdown(_with_chosen(output.blocks, grid, opts.columns))
        emit(text, opts.out)
    else:
        from .terminal import Screen, render_blocks
        screen = Screen.detect(opts.width)
        blocks = _with_chosen(output.blocks, grid, opts.columns)
        sys.stdout.write(render_blocks(blocks, screen, explain=opts.explain,
                                       chosen=bool(opts.columns)))
        sys.stdout.flush()
        for line in output.after:
            print(line, file=sys.stderr)


def markdown(blocks: list[Any]) -> str:
    """Blocks as Markdown (the report's renderer; tables from their Grid, in their default
    columns unless already chosen)."""
    from ..report.document import Para, to_markdown
    from .blocks import Tree
    return to_markdown([(b if b.rows is not None else b.chosen(None)).to_document()
                        if isinstance(b, Grid) else
                        Para(b.markdown()) if isinstance(b, Tree) else b for b in blocks])


def _with_chosen(blocks: list[Any], grid: Grid | None, columns: str | None) -> list[Any]:
    if grid is None:
        return blocks
    chosen = grid.chosen(columns)
    return [chosen if b is grid else b for b in blocks]


def _need(what: Any, fmt: str) -> None:
    if what is None:
        raise UsageError(f"--format {fmt} is not available for this output")


def select_csv(text: str, spec: str) -> str:
    """The columns ``--columns`` names (by their CSV header) of a CSV text, in that order."""
    import csv
    import io
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        return text
    header = rows[0]
    keys = parse_columns(spec, [Col(h, h) for h in header])
    picks = [header.index(k) for k in keys]
    from .escape import csv_writer
    buffer = io.StringIO()
    writer = csv_writer(buffer)
    writer.writerows([[row[i] if i < len(row) else "" for i in picks] for row in rows])
    return buffer.getvalue()


__all__ = ["Output", "OutputOptions", "show", "emit", "markdown", "select_csv", "FORMATS"]
