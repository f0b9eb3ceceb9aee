"""``cnnstat history``: the zoo on a timeline and its family tree. matplotlib is imported only
to draw (--out FILE.png/.svg, --tree)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import UsageError
from .app import CountOpt, Format, FormatOpt, app, console, emit

FIGURE_SUFFIXES = (".png", ".svg")


def _suffix(path: str, option: str, allowed: tuple[str, ...]) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in allowed:
        raise UsageError(f"{option} '{path}': the file name must end in {', '.join(allowed)}")
    return suffix


@app.command("history")
def history(
    out: Annotated[Optional[str], typer.Option(
        "--out", "-o", help="Write the timeline: .png or .svg; or .html, the family tree as one "
                            "self-contained interactive page (atomically).")] = None,
    tree: Annotated[Optional[str], typer.Option(
        "--tree", help="Also draw the family tree as a figure: .png or .svg.")] = None,
    format: FormatOpt = Format.table,
    count: CountOpt = None,
) -> None:
    """The zoo's history: every architecture by date with its paper, the family tree of which
    built on which (each step with the idea it introduced and its citation), and every zoo
    model's parameters and multiply-adds from cnnstat's own analysis, with the published top-1.

    Without --out: the tree as text (--format table), or the architectures and steps as Markdown,
    every zoo model as CSV, everything as JSON. The dates, papers and steps are data:
    cnnstat/data/history.yaml (docs/history.md)."""
    out_kind = _suffix(out, "--out", FIGURE_SUFFIXES + (".html",)) if out else None
    tree_kind = _suffix(tree, "--tree", FIGURE_SUFFIXES) if tree else None
    from .. import history as build
    h = build(count=count)
    if out or tree:
        from .. import plots
        from ..fileio import atomic_write
        for path, kind, draw in ((out, out_kind, plots.history_figure),
                                 (tree, tree_kind, plots.tree_figure)):
            if path is None:
                continue
            if kind == ".html":
                atomic_write(path, h.page())
            else:
                atomic_write(path, plots.render_all(draw(h))[kind.lstrip(".")])
            print(f"wrote {path}", file=sys.stderr)
        if format is Format.table:
            return
    if format is Format.json:
        emit(h.to_json())
    elif format is Format.csv:
        emit(h.to_csv())
    elif format is Format.md:
        from ..report.document import to_markdown
        emit(to_markdown(h.blocks(None, level=2)))
    else:
        console().print(_tree(h))
        first, last = h.architectures[0], h.architectures[-1]
        print(f"\n{len(h.architectures)} architectures ({first.year}–{last.year}), "
              f"{len(h.points)} zoo models. The timeline: --out history.png; the tree: --tree "
              "tree.png, or --out tree.html (interactive); the numbers: --format csv.",
              file=sys.stderr)


def _tree(h):
    """The family tree as a rich Tree: each architecture with its date, family and the idea of
    the step to it; what it also built on, after it."""
    from rich.markup import escape
    from rich.tree import Tree
    from ..render import numbers as fmt
    root = Tree(f"[bold]The zoo's family tree[/bold] ({h.convention.describe().split(';')[0]})")
    nodes = {}
    for name in h.rows():
        a = h.architecture(name)
        into = h.steps_into(name)
        primary = [s for s in into if s.primary]
        p = h.points.get(a.headline)
        numbers = f"{a.headline}: {fmt.human(p.params)} params, {fmt.human(p.macs, 'MACs')}" + \
            (f", top-1 {p.top1:.1f}%" if p.top1 is not None else "") if p else ""
        label = (f"[bold {h.color(a.family)}]{escape(a.name)}[/] {a.date} "
                 f"[dim]({escape(a.family)}; {escape(a.source.short)})[/dim]")
        if primary:
            label += f" — {escape(primary[0].idea)}"
        also = [s for s in into if not s.primary]
        if also:
            label += " [dim]· also " + "; ".join(escape(f"{s.parent}: {s.idea}")
                                                  for s in also) + "[/dim]"
        label += f"\n[dim]{escape(numbers)}[/dim]"
        parent = nodes[primary[0].parent] if primary else root
        nodes[name] = parent.add(label)
    return root
