"""Several models side by side: one row of totals per model, a table, a chart, and the
multiply-adds vs parameters chart with published accuracy as colour."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from ..analyze import Analysis
from ..plots.series import global_context
from ..presenting import Displayable
from ..receptive import local_view
from ..render import numbers as fmt
from ..render.facts import model_title
from .accuracy import lookup
from .document import Block, Figure, Heading, Para, SideBySide, Table


@dataclass(frozen=True)
class CompareRow:
    label: str                      # the model as named on the command line
    title: str
    input: tuple[int, ...]          # (C, L), (C, H, W) or (C, D, H, W)
    outputs: tuple[tuple[int, ...], ...]
    params: int
    macs: int
    flops: int
    activation_bytes: int           # all layer outputs
    peak_activation_bytes: int
    rf_local: str                   # the largest local receptive field, as displayed
    rf_local_px: int | float | None  # its size along the largest axis, in input units (None: no
                                     # local field)
    global_context: bool            # some feature map (larger than 1x1) sees the whole input
    layers: int
    top1: float | None              # published ImageNet-1K top-1 (%), None if not known
    top1_source: str | None


def compare_row(a: Analysis, label: str | None = None, *, published: bool = True) -> CompareRow:
    """One model's totals. ``published``: attach the published accuracy of ``label`` (only true
    when the model is analysed as published: no --set, its default input)."""
    label = label or a.name
    t = a.totals
    local = [v for v in (local_view(r.rf) for r in a.records) if v is not None]
    widest = max(local, key=lambda v: v.volume) if local else None
    acc = lookup(label) if published else None
    return CompareRow(
        label=label, title=model_title(a), input=tuple(a.input_shape),
        outputs=tuple(tuple(s) for s in a.output_shapes), params=t.params, macs=t.macs,
        flops=t.flops, activation_bytes=t.activation_bytes,
        peak_activation_bytes=t.peak_activation_bytes,
        rf_local=(fmt.rf_size(widest) + _unit(a)) if widest else "-",
        global_context=global_context(a),
        rf_local_px=fmt.rf_value(widest.largest.size) if widest else None,
        layers=t.layers, top1=acc.top1 if acc else None, top1_source=acc.source if acc else None)


def _unit(a: Analysis) -> str:
    """'' for an image (the column is in px), ' samples' or ' voxels' for 1-D and 3-D inputs."""
    from ..ops.base import UNIT_WORDS
    return "" if a.rank == 2 else " " + UNIT_WORDS.get(a.rank, "units")


GLOBAL_NOTE = ("† the model mixes global context into its feature maps (e.g. squeeze-and-excitation "
               "gates): every unit after the first gate sees the whole input through it; the "
               "largest local field counts the spatial paths only.")


def _shape(s: tuple[int, ...]) -> str:
    return "×".join(str(d) for d in s)


def grid(rows: list[CompareRow]):
    """The comparison as one table: the columns people read (the report's table) and the raw
    figures behind them (the CSV); ``--columns`` chooses among all of them."""
    from ..render.grid import NAME, WRAP, Col, Grid
    cols = [Col("model", "model", fit=NAME), Col("input", "input"), Col("outputs", "output"),
            Col("params", "params", True), Col("macs", "MACs", True), Col("flops", "FLOPs", True),
            Col("activation_bytes", "activation memory", True),
            Col("peak_activation_bytes", "peak activation memory", True),
            Col("rf_local_px", "largest local RF (px)" if all(len(r.input) == 3 for r in rows)
                else "largest local RF (px, or as stated)", True),  # 1-D, 3-D: samples, voxels
            Col("global_context", "global context"), Col("layers", "layers", True),
            Col("top1_percent", "ImageNet top-1 (%)", True),
            Col("top1_source", "top-1 source", fit=WRAP)]
    shown, raw = [], []
    for r in rows:
        shown.append([r.label, _shape(r.input), ", ".join(_shape(s) for s in r.outputs),
                      fmt.human(r.params), fmt.human(r.macs), fmt.human(r.flops),
                      fmt.human_bytes(r.activation_bytes), fmt.human_bytes(r.peak_activation_bytes),
                      r.rf_local + (" †" if r.global_context else ""),
                      "yes" if r.global_context else "no", str(r.layers),
                      f"{r.top1:.2f}" if r.top1 is not None else "-", r.top1_source or "-"])
        raw.append([r.label, "x".join(map(str, r.input)),
                    " ".join("x".join(map(str, s)) for s in r.outputs), r.params, r.macs,
                    r.flops, r.activation_bytes, r.peak_activation_bytes,
                    "" if r.rf_local_px is None else r.rf_local_px,
                    str(r.global_context).lower(), r.layers,
                    "" if r.top1 is None else r.top1, r.top1_source or ""])
    return Grid(cols, shown, raw=raw,
                default=["model", "input", "outputs", "params", "macs", "flops",
                         "peak_activation_bytes", "rf_local_px", "top1_percent"],
                csv_default=[c.key for c in cols], keep=("model", "params", "macs"),
                drop_first=("input", "outputs", "top1_percent", "rf_local_px"))


def table(rows: list[CompareRow]) -> Table:
    return grid(rows).chosen(None).to_document()


def csv_text(rows: list[CompareRow]) -> str:
    """Raw integers; column names carry the unit."""
    return grid(rows).chosen(None, for_csv=True).csv_text()


def to_json(rows: list[CompareRow], convention) -> str:
    data = {"schema": 1, "convention": {"unit": "MAC", "counted": list(convention.kinds),
                                        "description": convention.describe()},
            "models": [{**asdict(r), "input": list(r.input),
                        "outputs": [list(s) for s in r.outputs]} for r in rows]}
    return json.dumps(data, indent=2) + "\n"


def sources_text(rows: list[CompareRow], full: bool = True) -> str:
    """The sources of the accuracies shown, once each (``full``: the whole citation)."""
    from .accuracy import table as accuracies
    known = accuracies()
    used: dict[str, list[str]] = {}
    for r in rows:
        if r.top1 is not None:
            acc = known[r.label]
            used.setdefault(acc.citation if full else acc.short, []).append(r.label)
    if not used:
        return "No model here has a published ImageNet-1K top-1 in `cnnstat/data/accuracy.yaml`."
    parts = [f"{cite} ({', '.join(names)})" for cite, names in used.items()]
    return ("Top-1: published ImageNet-1K accuracy, not computed by cnnstat (protocols differ "
            "between sources): " + "; ".join(parts) + ".")


def compare_blocks(rows: list[CompareRow], convention, stem: str, title: str,
                   tradeoff: bool = True) -> list[Block]:
    """Heading, the table and the chart side by side, the trade-off chart, sources."""
    blocks: list[Block] = [
        Heading(title, 1),
        Para(f"{len(rows)} models, each at its default input unless stated, batch 1. "
             f"{convention.describe()}. Memory: fp32 activations; the peak is the most memory "
             "alive at once when each tensor is freed after its last reader."),
        SideBySide([table(rows), Figure(f"{stem}-totals", "parameters, multiply-adds and peak "
                                        "activation memory per model")]),
    ]
    if any(r.global_context for r in rows):
        blocks.append(Para(GLOBAL_NOTE))
    if tradeoff:
        blocks += [Heading("Cost and accuracy"),
                   Para("Multiply-adds against parameters, both log scales, coloured by published "
                        "ImageNet-1K top-1 accuracy: a chart in the style of Canziani, Paszke & "
                        "Culurciello 2017, \"An Analysis of Deep Neural Network Models for "
                        "Practical Applications\" (which plots accuracy against operations, sized "
                        "by parameters)."),
                   Figure(f"{stem}-tradeoff", "multiply-adds against parameters, coloured by "
                          "published top-1 accuracy"),
                   Para(sources_text(rows))]
    return blocks


def figures(rows: list[CompareRow], title: str, tradeoff: bool = True) -> dict[str, object]:
    """Functions drawing the figures, by stem suffix ('totals', 'tradeoff')."""
    from .. import plots
    out = {"totals": lambda: plots.compare_figure(rows, title)}
    if tradeoff:
        out["tradeoff"] = lambda: plots.tradeoff_figure(
            rows, f"{title}: multiply-adds vs parameters, colour = published top-1")
    return out


class CompareResult(Displayable):
    """Several models side by side (``cnnstat.compare([...])``): the rows of totals, shown as the
    comparison table in a notebook, with the charts as figures."""

    def __init__(self, rows: list[CompareRow], convention, title: str):
        self.rows = rows
        self.convention = convention
        self.title = title

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self):
        return iter(self.rows)

    def __getitem__(self, label: str) -> CompareRow:
        for r in self.rows:
            if r.label == label:
                return r
        raise KeyError(label)

    def _display_blocks(self) -> list[Block]:
        blocks: list[Block] = [Heading(self.title, 3), table(self.rows)]
        if any(r.global_context for r in self.rows):
            blocks.append(Para(GLOBAL_NOTE))
        return blocks + [Para(self.convention.describe() + "."), Para(sources_text(self.rows))]

    def plot(self):
        """Parameters, multiply-adds and peak activation memory per model (a Figure)."""
        from .. import plots
        return plots.for_display(plots.compare_figure, self.rows, self.title)

    def plot_tradeoff(self):
        """Multiply-adds against parameters, coloured by published top-1 (a Figure)."""
        from .. import plots
        return plots.for_display(plots.tradeoff_figure, self.rows,
                                 f"{self.title}: multiply-adds vs parameters")

    def to_frame(self):
        """One row per model (pandas DataFrame, indexed by the model's label)."""
        import pandas as pd
        return pd.DataFrame([asdict(r) for r in self.rows]).set_index("label")

    def to_csv(self) -> str:
        return csv_text(self.rows)

    def to_json(self) -> str:
        return to_json(self.rows, self.convention)

    def __repr__(self) -> str:
        names = ", ".join(r.label for r in self.rows[:6]) + (", …" if len(self.rows) > 6 else "")
        return f"<cnnstat CompareResult: {len(self.rows)} models ({names})>"


def compare_models(models, *, input=None, batch: int = 1, set=None, args=None, count=None,
                   dtype: str = "fp32", title: str | None = None) -> CompareResult:
    """Analyse each model with the same options and put them side by side. The published top-1
    is attached only to models analysed as published (no input, set or args given)."""
    from ..analyze import analyze_model as analyze
    names = list(dict.fromkeys(models))
    if not names:
        from ..errors import UsageError
        raise UsageError("compare: name at least one model")
    published = input is None and not set and not args
    analyses = [analyze(n, input, batch=batch, set=set, args=args, count=count, dtype=dtype)
                for n in names]
    rows = [compare_row(a, n if isinstance(n, str) else a.name, published=published)
            for n, a in zip(names, analyses)]
    return CompareResult(rows, analyses[0].convention,
                         title or f"Comparison of {len(rows)} models")
