"""``cnnstat history``: the zoo on a timeline and its family tree. matplotlib is imported only
to draw (--out FILE.png/.svg, --tree)."""

from __future__ import annotations

import sys
from pathlib import Path

from .app import COUNT, OUT, OUTPUT, Opt, but, command, output_options

FIGURE_SUFFIXES = (".png", ".svg")


def _suffix(path: str, option: str, allowed: tuple[str, ...]) -> str:
    from ..errors import UsageError
    suffix = Path(path).suffix.lower()
    if suffix not in allowed:
        raise UsageError(f"{option} '{path}': the file name must end in {', '.join(allowed)}")
    return suffix


@command("history",
         but(OUTPUT, OUT.but(help="Write the timeline: .png or .svg; or .html, the family tree as "
                                  "one self-contained interactive page (atomically).")),
         Opt("tree", ("--tree",), metavar="FILE",
             help="Also draw the family tree as a figure: .png or .svg."),
         COUNT)
def history(args) -> None:
    """The zoo's history: every architecture by date with its paper, the family tree of which
    built on which (each step with the idea it introduced and its citation), and every zoo
    model's parameters and multiply-adds from cnnstat's own analysis, with the published top-1.

    Without --out: the tree as text (--format table), or the architectures and steps as Markdown,
    every zoo model as CSV, everything as JSON. The dates, papers and steps are data:
    cnnstat/data/history.yaml (docs/history.md)."""
    from .. import history as build
    from ..render.output import Output, show
    out, tree = args.out, args.tree
    out_kind = _suffix(out, "--out", FIGURE_SUFFIXES + (".html",)) if out else None
    tree_kind = _suffix(tree, "--tree", FIGURE_SUFFIXES) if tree else None
    from ..fileio import atomic_write, check_output
    for path, option in ((out, "--out"), (tree, "--tree")):
        if path:
            check_output(path, option)       # a FIFO, device or folder: refused before any work
    h = build(count=args.count)
    if out or tree:
        from .. import plots
        for path, kind, draw, option in ((out, out_kind, plots.history_figure, "--out"),
                                         (tree, tree_kind, plots.tree_figure, "--tree")):
            if path is None:
                continue
            if kind == ".html":
                atomic_write(path, h.page(), what=option)
            else:
                atomic_write(path, plots.render_all(draw(h))[kind.lstrip(".")], what=option)
            print(f"wrote {path}", file=sys.stderr)
        if args.format == "table":
            return
    first, last = h.architectures[0], h.architectures[-1]
    show(Output([family_tree(h)], json=h.to_json, csv=h.to_csv,
                markdown=lambda: _markdown(h),
                after=[f"{len(h.architectures)} architectures ({first.year}–{last.year}), "
                       f"{len(h.points)} zoo models. The timeline: --out history.png; the tree: "
                       "--tree tree.png, or --out tree.html (interactive); the numbers: "
                       "--format csv."]),
         output_options(args, out=None))


def _markdown(h) -> str:
    from ..report.document import to_markdown
    return to_markdown(h.blocks(None, level=2))


def family_tree(h):
    """The family tree: each architecture with its date, family and the idea of the step to it
    (what it also built on, after it), and its headline model's numbers."""
    from ..render import numbers as fmt
    from ..render.blocks import Brief, Tree, TreeNode
    convention = h.convention
    tree = Tree(Brief(f"The zoo's family tree ({convention.describe()})",
                      f"The zoo's family tree ({convention.short()})"))
    nodes: dict[str, TreeNode] = {}
    for name in h.rows():
        a = h.architecture(name)
        into = h.steps_into(name)
        primary = [s for s in into if s.primary]
        p = h.points.get(a.headline)
        label = f"{a.name} {a.date} ({a.family}; {a.source.short})"
        if primary:
            label += f" — {primary[0].idea}"
        also = [s for s in into if not s.primary]
        if also:
            label += " · also " + "; ".join(f"{s.parent}: {s.idea}" for s in also)
        numbers = (f"{a.headline}: {fmt.human(p.params)} params, {fmt.human(p.macs, 'MACs')}"
                   + (f", top-1 {p.top1:.1f}%" if p.top1 is not None else "")) if p else ""
        node = TreeNode(label, numbers)
        (nodes[primary[0].parent].children if primary else tree.nodes).append(node)
        nodes[name] = node
    return tree
