"""The outputs of the static commands: a model's layer views (summary, params, shapes, flops,
rf), one unit's exact field (rf --at), every zoo model at one input (shapes --input N) and the zoo
(list) — each as a cnnstat.render.output.Output."""

from __future__ import annotations

from ..analyze import Analysis
from . import columns as col
from .blocks import Brief
from .grid import FIXED, NAME, WRAP, Col, Grid
from .output import Output

#: the columns a view never leaves out to fit a width (its row label and its main figures), and
#: those it leaves out first
KEEP = {
    "summary": ("layer", "params", "macs", "rf_size"),
    "params": ("layer", "params"),
    "shapes": ("layer", "output_shape"),
    "flops": ("layer", "macs"),
    "rf": ("layer", "rf_size"),
}
DROP_FIRST = {
    "summary": ("index", "operation", "output_shape"),
    "params": ("index", "output_shape", "operation"),
    "shapes": ("index", "op", "activations"),
    "flops": ("index", "operation", "flops", "output_shape"),
    "rf": ("index", "rf_note", "op", "output_shape"),
}
FITS = {"layer": NAME, "operation": WRAP, "rf_note": WRAP}
#: every column a layer table can show (--columns all), in this order
CATALOG = [c for c in col.VIEWS["full"]]
CATALOG.insert(CATALOG.index(col.FLOPS) + 1, col.MACS_SHARE)


def layer_grid(a: Analysis, view: str, depth: int | None = None, layout: str = "nchw") -> Grid:
    """The per-layer table of a view; any column of CATALOG can be chosen."""
    from .rows import rows
    from .text import _totals_cells, context
    ctx = context(a, layout)
    row_list = rows(a, depth)
    by_key = {c.key: c for c in CATALOG}
    total = _totals_cells(CATALOG, row_list, ctx) if row_list else None
    cols = [Col(c.key, c.title(ctx), c.numeric, FITS.get(c.key, FIXED),
                summed=c.key in col.SUMMED)
            for c in CATALOG]
    default = [c.key for c in col.VIEWS[view]]
    csv_default = None
    # a model with training-only layers (auxiliary heads) has a train_only column: in CSV by
    # default (the table marks those layers "[train]" after their names)
    marked = any(r.train_only for r in row_list)
    if marked:
        cols.append(Col("train_only", "train only"))
        total = total + [""] if total else total
        csv_default = default + ["train_only"]

    def cells(key: str) -> list[str]:
        if key == "train_only":
            return ["yes" if r.train_only else "" for r in row_list]
        return [by_key[key].show(r, ctx) for r in row_list]

    def values(key: str) -> list:
        if key == "train_only":
            return ["true" if r.train_only else "false" for r in row_list]
        return [by_key[key].raw(r, ctx) for r in row_list]
    return Grid(
        cols=cols, rows=None, cells=cells, values=values, default=default,
        csv_default=csv_default, aliases=col.ALIASES,
        keep=KEEP.get(view, ("layer",)), drop_first=DROP_FIRST.get(view, ("index",)),
        total=total)


def csv_text(a: Analysis, view: str, depth: int | None = None, layout: str = "nchw") -> str:
    """Raw integers, one row per layer, no total row; column names carry the unit."""
    return layer_grid(a, view, depth, layout).chosen(None, for_csv=True).csv_text()


def convention_text(a: Analysis) -> Brief:
    return Brief(a.convention.describe(), a.convention.short())


def layer_view(a: Analysis, view: str, depth: int | None = None, layout: str = "nchw") -> Output:
    from ..report.document import Facts, Heading
    from .facts import facts
    from .jsonout import to_json
    return Output(
        blocks=[Heading(f"{a.name}: {view}"), Facts(facts(a, layout)),
                layer_grid(a, view, depth, layout)],
        json=lambda: to_json(a, depth),
        csv_note=Brief(f"# {a.convention.describe()}", f"# {a.convention.short()}"))


def unit_view(a: Analysis, field) -> Output:
    """``cnnstat rf MODEL --at LAYER[:ROW,COL]``: one unit's exact field."""
    from ..report.document import Heading, Para
    from . import unit
    head, *rest = unit.unit_lines(a, field)
    return Output(blocks=[Heading(head), Para("\n".join(f"- {line}" for line in rest))],
                  json=lambda: unit.unit_json(a, field), csv=lambda: unit.unit_csv(a, field))


# -- cnnstat shapes --input N (every zoo model) -----------------------------------------------------
#: how each group of the survey is titled, and what a stage's sizes are
_RANK_TITLES = {1: ("1-D models (C×L)", "L"), 2: ("image models (C×H×W)", "H or H×W"),
                3: ("3-D models (C×D×H×W)", "D×H×W")}
_SMALLEST = {1: "smallest length", 2: "smallest square input",
             3: "smallest square H×W at this depth"}


def _stage(s) -> str:
    return str(s[0]) if len(s) == 2 and s[0] == s[1] else "×".join(map(str, s))


def survey_view(rows, size: str) -> Output:
    """Every zoo model at one --input, one table per input rank (a size a model of another rank
    cannot read is 'not tried', with what to write instead)."""
    import csv
    import io
    import json
    from ..report.document import Heading

    def cells(r) -> list[str]:
        stages = " → ".join(_stage(s) for s in r.stages)
        if not r.tried:
            return [r.model, "-", f"not tried: {r.error}"]
        if r.sizes:                 # fixed-size layers: the error names the sizes it takes
            return [r.model, "-", r.error]
        if r.error:
            kind = _SMALLEST.get(r.rank, "smallest input")
            need = f"{kind}: {r.smallest}" if r.smallest else f"no {kind.split(' ', 1)[1]} works"
            return [r.model, "-", f"cannot take this input: {r.error} ({need})"]
        return [r.model, "[" + ", ".join(str(d) for d in r.output) + "]", stages]

    def raw(r) -> list:
        return [r.model, "x".join(map(str, r.output)) if r.output else "",
                " ".join("x".join(map(str, s)) for s in r.stages), r.error, r.smallest or "",
                "x".join(f"{a}-{b}" for a, b in r.sizes) if r.sizes else "", r.rank,
                "x".join(map(str, r.input or ())), r.tried]

    keys = ["model", "output_shape", "stages", "error", "smallest_input", "sizes", "rank", "input",
            "tried"]
    blocks: list = [_heading(f"Every zoo model at input {size}")]
    for rank in sorted({r.rank for r in rows}):
        group = [r for r in rows if r.rank == rank]
        title, stage = _RANK_TITLES.get(rank, (f"{rank}-D models", "sizes"))
        blocks += [Heading(title, 3), Grid(
            cols=[Col("model", "model", fit=NAME), Col("output_shape", "output shape"),
                  Col("stages", f"feature-map size after each stage ({stage})", fit=WRAP),
                  Col("error", "error", fit=WRAP), Col("smallest_input", "smallest input", True),
                  Col("sizes", "sizes it takes")],
            rows=[cells(r) + [r.error, str(r.smallest or ""),
                              "×".join(f"{a}–{b}" for a, b in r.sizes) if r.sizes else ""]
                  for r in group],
            raw=[raw(r)[:6] for r in group],
            default=["model", "output_shape", "stages"],
            csv_default=keys[:6],
            keep=("model", "stages"),
            styles=["bad" if r.error and r.tried else None for r in group])]

    def csv_text() -> str:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(keys)
        writer.writerows(raw(r) for r in rows)
        return buf.getvalue()

    data = [{"model": r.model, "rank": r.rank, "input": list(r.input) if r.input else None,
             "output_shape": list(r.output) if r.output else None,
             "stages": [list(s) for s in r.stages], "error": r.error or None,
             "smallest_input": r.smallest, "tried": r.tried,
             "sizes": [list(a) for a in r.sizes] if r.sizes else None} for r in rows]
    return Output(blocks=blocks, json=lambda: json.dumps(data, indent=2) + "\n", csv=csv_text)


# -- cnnstat list -------------------------------------------------------------------------------------
def zoo_view(families) -> Output:
    import json
    headers = ["family", "year", "paper", "names (variants)", "input", "reference numbers"]
    keys = ["family", "year", "paper", "names", "input", "references"]
    fits = [WRAP, FIXED, WRAP, WRAP, FIXED, WRAP]
    cells = [[f.title, f.year, f.paper, ", ".join(f.variants), f.input_text, f.reference_text]
             for f in families]
    grid = Grid(cols=[Col(k, h, k == "year", fit) for k, h, fit in zip(keys, headers, fits)],
                rows=cells, keep=("family", "names"), drop_first=("references", "paper", "year"))
    data = [{"family": f.title, "file": f.file, "year": f.year, "paper": f.paper,
             "variants": list(f.variants), "inputs": [list(i) for i in f.inputs],
             "references": list(f.references)} for f in families]
    return Output(blocks=[_heading("cnnstat zoo"), grid],
                  json=lambda: json.dumps(data, indent=2) + "\n")


def _heading(text: str):
    from ..report.document import Heading
    return Heading(text)
