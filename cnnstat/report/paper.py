"""A model report's "Compared with the paper" section: the published tables (cnnstat.papers, the
``cnnstat paper`` command) whose computed figures come from this very model; where a paper's
tables use another layout of the same definition file (googlenet-paper for googlenet), a pointer."""

from __future__ import annotations

from functools import lru_cache

from .document import Block, Heading, Para, Table


@lru_cache(maxsize=1)
def _all_tables() -> tuple:
    """(paper name, table) for every paper table (computed once per process)."""
    from .. import papers
    return tuple((name, t) for name in papers.names() for t in papers.tables(name))


def _zoo_file(name: str):
    from .. import zoo
    entry = zoo.lookup(name)
    return entry.path if entry else None


def paper_blocks(model: str, default_convention: bool = True) -> list[Block]:
    """The section, or nothing. The paper figures are always computed under the default
    convention; say so when the report itself uses another."""
    from ..papers import render
    own, related = [], []
    mine = _zoo_file(model)
    for name, t in _all_tables():
        if model in t.models:
            own.append(t)
        elif mine is not None and any(_zoo_file(m) == mine for m in t.models):
            related.append((name, t))
    if not own and not related:
        return []
    blocks: list[Block] = [Heading("Compared with the paper")]
    for t in own:
        headers, rows, numeric = render.grid(t)
        cells = [[f"**{c}**" if row.emphasis and c else c for c in cells]
                 for row, cells in zip(t.rows, rows)]
        blocks += [Heading(t.title, 3), Para(f"Source: {t.source}.")]
        if t.caption:
            blocks.append(Para(" ".join(t.caption.split())))
        blocks.append(Para(f"cnnstat models: {', '.join(dict.fromkeys(t.models))}."
                           + ("" if default_convention else f" {render.convention_text()}.")))
        blocks.append(Table(headers, cells, numeric))
        if render._has_numbers(t):
            blocks.append(Para(render.LEGEND))
        blocks += [Para(f"[{i}] {' '.join(n.split())}") for i, n in enumerate(t.notes, 1)]
    if related and not own:
        shown = dict.fromkeys((name, t.title, ", ".join(dict.fromkeys(t.models)))
                              for name, t in related)
        blocks.append(Para("The paper's tables are reproduced for its own layout of this "
                           "architecture: " + "; ".join(
                               f"{title} (`cnnstat paper {name}`, models {models})"
                               for name, title, models in shown) + "."))
    return blocks
