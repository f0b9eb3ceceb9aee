"""The zoo's history (``cnnstat history``): every architecture by date, the family tree of which
built on which, and each zoo model's numbers.

The dates, papers and steps are data (``cnnstat/data/history.yaml``, docs/history.md): each step
of the tree names the idea it introduced and the paper that made it. The numbers are not: every
zoo model is analysed by cnnstat at its default input (parameters, multiply-adds under the stated
convention), and published ImageNet top-1 accuracies come from ``cnnstat/data/accuracy.yaml``
with their sources. Figures are drawn by cnnstat.plots (``history_figure``, ``tree_figure``);
the tree as an interactive page by cnnstat.view.history.

Layout, decided here so that the figure and the page agree:

- time runs left to right, by month; stretches of more than MAX_GAP years with no architecture
  (LeNet-5 in 1998, then AlexNet in 2012) are cut out of the axis and marked as a break;
- the tree is drawn one architecture per row, in depth-first order of the first ``built_on``
  step (children by date): every subtree is a run of consecutive rows below its root, so the
  elbow of each step runs down from its parent, left of everything in the subtree, and never
  crosses another; further steps are drawn dashed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from ..errors import CnnstatError
from ..presenting import Displayable
from ..render import numbers as fmt
from .document import Block, Facts, Figure, Heading, Para, Table

DATA = "cnnstat/data/history.yaml"
MAX_GAP = 4          # years without an architecture beyond which the time axis is cut
BREAK = 0.8          # width of a cut, in years of the axis
#: one colour per zoo family, in order of the family's first architecture (19 families now; more
#: would repeat the list)
PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#b8860b", "#8e5bbf",
           "#ff9da7", "#9c755f", "#1f3f8f", "#d62f97", "#17becf", "#bcbd22", "#555555",
           "#8b0000", "#006d5b", "#c5b0d5", "#98df8a", "#ffd700"]


@dataclass(frozen=True)
class Source:
    key: str
    short: str
    cite: str
    url: str = ""

    @property
    def linked(self) -> str:
        """The citation, with its link in the report's inline form."""
        return f"{self.cite} ([link]({self.url}))" if self.url else self.cite


@dataclass(frozen=True)
class Step:
    """``child`` built on ``parent``, introducing ``idea`` (``primary``: the tree's own edge)."""
    parent: str
    child: str
    idea: str
    detail: str
    source: Source
    origin: Source | None
    primary: bool


@dataclass(frozen=True)
class Architecture:
    name: str
    year: int
    month: int
    source: Source
    models: tuple[str, ...]          # zoo names; the first is the one the charts label
    family: str                      # the zoo family (definition files' ``family:``)

    @property
    def when(self) -> float:
        """The date as a fractional year: the middle of its month."""
        return self.year + (self.month - 0.5) / 12

    @property
    def date(self) -> str:
        return f"{self.year}-{self.month:02d}"

    @property
    def headline(self) -> str:
        return self.models[0]


def _load_error(message: str) -> CnnstatError:
    return CnnstatError(f"{DATA}: {message}")


@lru_cache(maxsize=1)
def load() -> tuple[tuple[Architecture, ...], tuple[Step, ...]]:
    """The architectures (in date order) and the steps between them, checked against the zoo:
    every model a zoo name, every reference a known architecture or source."""
    from .. import zoo
    from ..data import load as load_data
    data = load_data("history")
    sources = {k: Source(k, str(v["short"]), " ".join(str(v["cite"]).split()), str(v.get("url", "")))
               for k, v in data["sources"].items()}

    def source(key: Any, where: str) -> Source:
        if key not in sources:
            raise _load_error(f"{where}: unknown source '{key}'")
        return sources[key]

    archs: list[Architecture] = []
    steps: list[Step] = []
    for name, entry in data["architectures"].items():
        year, _, month = str(entry["date"]).partition("-")
        models = tuple(str(m) for m in entry["models"])
        families = set()
        for m in models:
            found = zoo.lookup(m)
            if found is None:
                raise _load_error(f"{name}: '{m}' is not a zoo model")
            families.add(str(zoo.definition(found.path).doc.get("family", "")))
        if len(families) != 1:
            raise _load_error(f"{name}: models from several zoo families {sorted(families)}")
        archs.append(Architecture(str(name), int(year), int(month or 6),
                                  source(entry["source"], str(name)), models, families.pop()))
        for i, s in enumerate(entry.get("built_on") or ()):
            steps.append(Step(str(s["from"]), str(name), str(s["idea"]),
                              " ".join(str(s.get("detail", "")).split()),
                              source(s.get("source"), f"{name} ← {s['from']}"),
                              source(s["origin"], f"{name} ← {s['from']}") if s.get("origin")
                              else None, i == 0))
    known = {a.name for a in archs}
    for s in steps:
        if s.parent not in known:
            raise _load_error(f"{s.child}: built on unknown architecture '{s.parent}'")
    order = sorted(range(len(archs)), key=lambda i: (archs[i].when, i))
    return tuple(archs[i] for i in order), tuple(steps)


# -- layout --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TimeAxis:
    """Years on a horizontal axis with empty stretches cut out: ``segments`` are the covered
    [first year, last year + 1) spans, laid side by side with BREAK between them."""
    segments: tuple[tuple[int, int], ...]
    gap: float = BREAK          # width of each cut (the figure hatches it)

    @staticmethod
    def of(whens: list[float], max_gap: int = MAX_GAP) -> "TimeAxis":
        years = sorted({int(w) for w in whens})
        segments: list[list[int]] = []
        for y in years:
            if segments and y - segments[-1][1] < max_gap:
                segments[-1][1] = y + 1
            else:
                segments.append([y, y + 1])
        return TimeAxis(tuple((a, b) for a, b in segments))

    def _offsets(self) -> list[float]:
        out, x = [], 0.0
        for a, b in self.segments:
            out.append(x)
            x += (b - a) + BREAK
        return out

    def x(self, when: float) -> float:
        """Position of a date on the axis (dates in a cut are clamped to its segment's end)."""
        offsets = self._offsets()
        for (a, b), off in zip(self.segments, offsets):
            if when < b or (a, b) == self.segments[-1]:
                return off + max(0.0, when - a)
        raise AssertionError("unreachable")

    @property
    def width(self) -> float:
        a, b = self.segments[-1]
        return self._offsets()[-1] + (b - a)

    def ticks(self) -> list[tuple[float, int]]:
        """(position of the middle of the year, year) for every year on the axis."""
        return [(off + (y - a) + 0.5, y) for (a, b), off in zip(self.segments, self._offsets())
                for y in range(a, b)]

    def year_starts(self) -> list[float]:
        return [off + (y - a) for (a, b), off in zip(self.segments, self._offsets())
                for y in range(a, b + 1)]

    def breaks(self) -> list[float]:
        """The middle of each cut."""
        offs = self._offsets()
        return [offs[i + 1] - BREAK / 2 for i in range(len(self.segments) - 1)]


def tree_rows(archs: tuple[Architecture, ...], steps: tuple[Step, ...]) -> list[str]:
    """Architectures in row order: depth-first along each one's first step, children by date."""
    children: dict[str, list[str]] = {a.name: [] for a in archs}
    has_parent = set()
    for s in steps:
        if s.primary:
            children[s.parent].append(s.child)
            has_parent.add(s.child)
    rank = {a.name: i for i, a in enumerate(archs)}          # archs are in date order
    out: list[str] = []

    def visit(name: str) -> None:
        out.append(name)
        for child in sorted(children[name], key=rank.__getitem__):
            visit(child)
    for a in archs:
        if a.name not in has_parent:
            visit(a.name)
    return out


# -- the history, with the zoo's numbers ---------------------------------------------------------
@dataclass
class History(Displayable):
    """The history of the zoo: ``cnnstat.history()``. ``points`` are the zoo models' numbers
    (cnnstat.report.compare.CompareRow: params, macs, top1 ...), by zoo name."""
    architectures: tuple[Architecture, ...]
    steps: tuple[Step, ...]
    points: dict[str, Any]
    convention: Any
    families: list[str] = field(default_factory=list)

    def __post_init__(self):
        if not self.families:
            self.families = list(dict.fromkeys(a.family for a in self.architectures))

    def __repr__(self) -> str:
        first, last = self.architectures[0].year, self.architectures[-1].year
        return (f"<cnnstat History: {len(self.architectures)} architectures {first}–{last}, "
                f"{len(self.families)} families, {len(self.steps)} steps, "
                f"{len(self.points)} zoo models>")

    def architecture(self, name: str) -> Architecture:
        for a in self.architectures:
            if a.name == name:
                return a
        raise KeyError(name)

    def color(self, family: str) -> str:
        return PALETTE[self.families.index(family) % len(PALETTE)]

    @property
    def axis(self) -> TimeAxis:
        return TimeAxis.of([a.when for a in self.architectures])

    def rows(self) -> list[str]:
        return tree_rows(self.architectures, self.steps)

    def steps_into(self, name: str) -> list[Step]:
        return [s for s in self.steps if s.child == name]

    def steps_from(self, name: str) -> list[Step]:
        return [s for s in self.steps if s.parent == name]

    def sources(self) -> list[Source]:
        """Every source cited, in order of first citation."""
        out: dict[str, Source] = {}
        for a in self.architectures:
            out.setdefault(a.source.key, a.source)
            for s in self.steps_into(a.name):
                out.setdefault(s.source.key, s.source)
                if s.origin is not None:
                    out.setdefault(s.origin.key, s.origin)
        return list(out.values())

    # -- figures and the page --------------------------------------------------------------------
    def plot(self):
        """The timeline: parameters, multiply-adds and published top-1 against the date of each
        architecture, every zoo model a point, families coloured (a Figure)."""
        from .. import plots
        return plots.for_display(plots.history_figure, self)

    def plot_tree(self):
        """The family tree against time, each step labelled with its idea (a Figure)."""
        from .. import plots
        return plots.for_display(plots.tree_figure, self)

    def page(self) -> str:
        """The family tree as one self-contained interactive HTML page (the view's style)."""
        from ..view.history import render_history
        return render_history(self)

    def view(self, height: int = 720):
        """The interactive family tree, shown inside the notebook (``.save(path)`` writes it)."""
        from ..display import Page
        return Page(self.page(), "the zoo's family tree", height)

    # -- tables ----------------------------------------------------------------------------------
    def architecture_table(self) -> Table:
        body = []
        for a in self.architectures:
            p = self.points.get(a.headline)
            into = self.steps_into(a.name)
            built = "; ".join(f"{s.parent}: {s.idea}" for s in into) or "-"
            body.append([a.date, a.name, a.family, a.source.short, built, f"`{a.headline}`",
                         fmt.human(p.params) if p else "-", fmt.human(p.macs, "MAC") if p else "-",
                         f"{p.top1:.2f}" if p is not None and p.top1 is not None else "-",
                         str(len(a.models))])
        return Table(["date", "architecture", "family", "paper", "built on: the idea",
                      "model shown", "params", "MACs", "top-1 (%)", "zoo models"], body,
                     [False, False, False, False, False, False, True, True, True, True])

    def step_table(self) -> Table:
        body = [[s.parent, s.child, s.idea + ("" if s.primary else " (also)"), s.source.short,
                 s.origin.short if s.origin else ""] for s in self.steps]
        return Table(["from", "to", "the idea it introduced", "source", "idea first in"], body,
                     [False] * 5)

    def blocks(self, stem: str | None = None, level: int = 2, links: str = "") -> list[Block]:
        """The history section (of the zoo comparison report; in a notebook without figures):
        ``stem`` names the figures ``<stem>-timeline`` and ``<stem>-tree``; ``links``: a
        sentence pointing to the page."""
        first, last = self.architectures[0], self.architectures[-1]
        blocks: list[Block] = [
            Heading("History: a timeline and a family tree", level),
            Para(f"{len(self.architectures)} architectures from {first.name} ({first.year}) to "
                 f"{last.name} ({last.year}), in {len(self.families)} zoo families; "
                 f"{len(self.points)} zoo models, each analysed by cnnstat at its default input "
                 f"({self.convention.describe()}). Published ImageNet-1K top-1 accuracies are "
                 "cited from `cnnstat/data/accuracy.yaml`, not computed; dates, papers and the "
                 "steps of the tree are data with citations (`cnnstat/data/history.yaml`, "
                 "docs/history.md)." + (f" {links}" if links else ""))]
        if stem:
            blocks.append(Figure(f"{stem}-timeline", "parameters, multiply-adds and published "
                                 "top-1 of every zoo model against the date of its architecture",
                                 "Each dot is a zoo model, at the date of its architecture; the "
                                 "labelled dot is the model named in the table below, the line "
                                 "spans the architecture's other variants."))
            blocks.append(Figure(f"{stem}-tree", "the family tree of the zoo's architectures",
                                 "Each architecture in the row of its date, under the one it "
                                 "built on, with the idea that step introduced; dashed: what it "
                                 "also built on."))
        blocks += [Heading("Architectures", level + 1), self.architecture_table(),
                   Heading("Steps of the tree", level + 1), self.step_table(),
                   Heading("Sources", level + 1),
                   Facts([(s.short, s.linked) for s in self.sources()])]
        return blocks

    def _display_blocks(self) -> list[Block]:
        return self.blocks(None, level=3)

    def figures(self) -> dict[str, Any]:
        """Functions drawing the figures, by stem suffix ('timeline', 'tree')."""
        from .. import plots
        return {"timeline": lambda: plots.history_figure(self),
                "tree": lambda: plots.tree_figure(self)}

    # -- data ------------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        def src(s: Source | None):
            return None if s is None else {"key": s.key, "short": s.short, "cite": s.cite,
                                           "url": s.url or None}
        models = []
        for a in self.architectures:
            for m in a.models:
                p = self.points.get(m)
                models.append({"model": m, "architecture": a.name,
                               "params": p.params if p else None,
                               "macs": p.macs if p else None,
                               "input": list(p.input) if p else None,
                               "top1_percent": p.top1 if p else None,
                               "top1_source": p.top1_source if p else None})
        return {
            "schema": 1,
            "convention": {"unit": "MAC", "counted": list(self.convention.kinds),
                           "description": self.convention.describe()},
            "architectures": [{"name": a.name, "date": a.date, "family": a.family,
                               "source": src(a.source), "models": list(a.models)}
                              for a in self.architectures],
            "steps": [{"from": s.parent, "to": s.child, "idea": s.idea, "detail": s.detail,
                       "primary": s.primary, "source": src(s.source), "origin": src(s.origin)}
                      for s in self.steps],
            "models": models,
        }

    def to_json(self) -> str:
        import json
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n"

    def to_csv(self) -> str:
        """One line per zoo model: its architecture, date, family and numbers (raw integers)."""
        import io
        from ..render.escape import csv_writer
        buffer = io.StringIO()
        writer = csv_writer(buffer)
        writer.writerow(["model", "architecture", "date", "family", "params", "macs", "input",
                         "top1_percent", "top1_source", "paper"])
        for a in self.architectures:
            for m in a.models:
                p = self.points.get(m)
                writer.writerow([m, a.name, a.date, a.family, p.params if p else "",
                                 p.macs if p else "", "x".join(map(str, p.input)) if p else "",
                                 "" if p is None or p.top1 is None else p.top1,
                                 (p.top1_source or "") if p else "", a.source.cite])
        return buffer.getvalue()


def build_history(rows: list | None = None, count: Any = None) -> History:
    """The history with every zoo model's numbers: from ``rows`` (compare rows of the zoo, as the
    zoo comparison made them) or from a fresh analysis of each model at its default input."""
    from ..convention import Convention
    archs, steps = load()
    convention = count if isinstance(count, Convention) else Convention.parse(count)
    if rows is None:
        from ..analyze import analyze_model as analyze
        from .compare import compare_row
        rows = [compare_row(analyze(m, count=convention), m) for a in archs for m in a.models]
    points = {r.label: r for r in rows}
    return History(archs, steps, points, convention)
