"""A model report's "Compared with the paper" section: the published tables (cnnstat.papers, the
``cnnstat paper`` command) whose computed figures come from this very model; where a paper's
tables use another layout of the same definition file (googlenet-paper for googlenet), a pointer."""

from __future__ import annotations

from functools import lru_cache

from ..presenting import Displayable
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
        blocks += table_blocks(t, default_convention)
    if related and not own:
        shown = dict.fromkeys((name, t.title, ", ".join(dict.fromkeys(t.models)))
                              for name, t in related)
        blocks.append(Para("The paper's tables are reproduced for its own layout of this "
                           "architecture: " + "; ".join(
                               f"{title} (`cnnstat paper {name}`, models {models})"
                               for name, title, models in shown) + "."))
    return blocks


def table_blocks(t, default_convention: bool = True, level: int = 3) -> list[Block]:
    """One paper table (cnnstat.papers.PaperTable): title, source, caption, the table (published
    figure, cnnstat's, Δ), the legend and the notes that explain every difference."""
    from ..papers import render
    headers, rows, numeric = render.grid(t)
    cells = [[f"**{c}**" if row.emphasis and c else c for c in cells]
             for row, cells in zip(t.rows, rows)]
    blocks: list[Block] = [Heading(t.title, level), Para(f"Source: {t.source}.")]
    if t.caption:
        blocks.append(Para(" ".join(t.caption.split())))
    blocks.append(Para(f"cnnstat models: {', '.join(dict.fromkeys(t.models))}."
                       + ("" if default_convention else f" {render.convention_text()}.")))
    blocks.append(Table(headers, cells, numeric))
    if render._has_numbers(t):
        blocks.append(Para(render.LEGEND))
    blocks += [Para(f"[{i}] {' '.join(n.split())}") for i, n in enumerate(t.notes, 1)]
    return blocks


class PaperResult(Displayable):
    """A paper's tables beside cnnstat's figures (``cnnstat.paper("googlenet")``, as
    ``cnnstat paper``): iterable over its tables (cnnstat.papers.PaperTable), shown in full in a
    notebook."""

    def __init__(self, name: str):
        from .. import papers
        self.name = papers.get(name).name
        self.citation = papers.citation(self.name)
        self.tables = papers.tables(self.name)

    def __iter__(self):
        return iter(self.tables)

    def __len__(self) -> int:
        return len(self.tables)

    def __getitem__(self, key):
        """A table by position or by key (``"googlenet-table1"``)."""
        if isinstance(key, int):
            return self.tables[key]
        for t in self.tables:
            if t.key == key:
                return t
        raise KeyError(f"{key!r}: tables are {', '.join(t.key for t in self.tables)}")

    def _display_blocks(self) -> list[Block]:
        blocks: list[Block] = [Heading(self.citation, 3)]
        for t in self.tables:
            blocks += table_blocks(t, level=4)
        from ..papers import render
        return blocks + [Para(render.convention_text() + ".")]

    def __repr__(self) -> str:
        keys = ", ".join(t.key for t in self.tables)
        return f"<cnnstat PaperResult {self.name!r}: {len(self.tables)} tables ({keys})>"
