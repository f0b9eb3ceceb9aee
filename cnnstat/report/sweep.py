"""A grid of totals over variable values and input sizes:
``cnnstat sweep mobilenet_v1 --set alpha=0.25,0.5,0.75,1.0 --input 128,160,192,224``.

Every combination of the ``--set`` value lists and the ``--input`` list is analysed (at most the
``sweep`` limit of combinations, cnnstat.limits, checked before any analysis). A combination
the model cannot take (an input too small for a layer) is a row that says why, not a zero; if no
combination works at all, the first error is raised as it is (a typo in a variable name, say).
The plot puts the input size on the x axis when several are given, else the first variable that
takes several values; the other settings make one line each.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field

from .. import limits
from ..errors import CnnstatError, UsageError
from ..presenting import Displayable
from ..render import numbers as fmt
from .document import Table


def split_top(text: str) -> list[str]:
    """Split on commas outside brackets, parentheses and quotes: 'a,[1,2],f(3,4)' → 3 items."""
    items, depth, quote, current = [], 0, None, []
    for ch in text:
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            items.append("".join(current).strip())
            current = []
            continue
        current.append(ch)
    items.append("".join(current).strip())
    return items


def parse_axes(sets: list[str] | None) -> list[tuple[str, list[str]]]:
    """``--set alpha=0.5,1.0`` (repeatable) → [("alpha", ["0.5", "1.0"])]."""
    axes: list[tuple[str, list[str]]] = []
    for item in sets or []:
        name, sep, values = item.partition("=")
        name = name.strip()
        if not sep or not name or not values.strip():
            raise UsageError(f"--set '{item}' must be NAME=V1,V2,..., e.g. --set alpha=0.5,1.0")
        parts = split_top(values)
        if any(not p for p in parts):
            raise UsageError(f"--set '{item}': an empty value in the list")
        if any(name == n for n, _ in axes):
            raise UsageError(f"--set {name} is given twice; list its values once: "
                             f"--set {name}=V1,V2,...")
        axes.append((name, parts))
    return axes


def parse_inputs(text: str | None) -> list[str | None]:
    """``--input 128,160,192`` → ['128', '160', '192'] (each item as --input takes it: 224,
    160x224, 3x224x224; 16000, 1x16000; 16x112x112..., read against the model's input rank)."""
    if text is None:
        return [None]
    from ..model_options import parse_input
    items = [t.strip() for t in str(text).split(",")]
    if any(not t for t in items):
        raise UsageError(f"--input '{text}': an empty size in the list")
    for t in items:
        parse_input(t)                # a bad size is an error before any analysis
    return items


@dataclass
class Cell:
    settings: dict[str, str]
    input: str | None                      # as given; None: the model's default
    x: float | str = 0                     # position on the plot's x axis
    ok: bool = False
    input_shape: tuple[int, ...] | None = None
    outputs: tuple[tuple[int, ...], ...] = ()
    params: int | None = None
    macs: int | None = None
    flops: int | None = None
    activation_bytes: int | None = None
    peak_activation_bytes: int | None = None
    error: str = ""


@dataclass
class Line:
    label: str
    cells: list[Cell] = field(default_factory=list)


@dataclass(repr=False)
class Sweep(Displayable):
    """The grid (``cnnstat.sweep(...)``); in a notebook, its table; ``plot()`` draws it."""
    model: str
    axes: list[tuple[str, list[str]]]
    inputs: list[str | None]
    cells: list[Cell]
    x_name: str                            # "input" or a variable name
    dtype: str
    batch: int
    convention: object

    @property
    def x_numeric(self) -> bool:
        return all(isinstance(c.x, (int, float)) for c in self.cells)

    @property
    def x_label(self) -> str:
        if self.x_name == "input":
            return "input size (px, height = width)" if self.x_numeric else "input size (H×W)"
        return self.x_name

    @property
    def others(self) -> list[str]:
        return [n for n, _ in self.axes if n != self.x_name]

    @property
    def legend_title(self) -> str:
        return ", ".join(self.others)

    @property
    def title(self) -> str:
        what = "input size" if self.x_name == "input" else self.x_name
        by = f", one line per {self.legend_title}" if self.others else ""
        return f"{self.model}: totals against {what}{by}"

    def _display_blocks(self) -> list:
        from .document import Heading, Para
        failed = sum(1 for c in self.cells if not c.ok)
        blocks = [Heading(self.title, 3), table(self), Para(self.convention.describe() + ".")]
        if failed:
            blocks.append(Para(f"{failed} of {len(self.cells)} combinations cannot be analysed "
                               "(see the table)."))
        return blocks

    def plot(self):
        """Multiply-adds and peak activation memory against the swept axis (a Figure)."""
        from .. import plots
        return plots.for_display(plots.sweep_figure, self)

    def __repr__(self) -> str:
        ok = sum(1 for c in self.cells if c.ok)
        return (f"<cnnstat Sweep {self.model!r} over {self.x_name}: {len(self.cells)} "
                f"combinations, {ok} analysed>")

    def lines(self) -> list[Line]:
        out: dict[tuple, Line] = {}
        for c in self.cells:
            key = tuple((n, c.settings[n]) for n in self.others)
            if self.x_name != "input":
                key += (("input", c.input),)
            if key not in out:
                label = ", ".join(f"{k}={v}" for k, v in key if v is not None)
                out[key] = Line(label or self.model)
            out[key].cells.append(c)
        for line in out.values():
            params = {c.params for c in line.cells if c.ok}
            if len(params) == 1 and self.x_name == "input":
                line.label += f" ({fmt.human(params.pop())} params)"
        return list(out.values())


def _x_value(text: str | None, is_input: bool):
    if text is None:
        return 0
    if is_input:
        from ..model_options import parse_input
        values = parse_input(text).values
        return values[0] if len(values) == 1 else "×".join(map(str, values))
    try:
        return float(text)
    except ValueError:
        return text


def run(model: str, sets: list[str] | None, inputs: str | None, *, batch: int = 1,
        count: str | None = None, dtype: str = "fp32", variant: str | None = None) -> Sweep:
    from ..analyze import analyze_model as analyze
    axes = parse_axes(sets)
    sizes = parse_inputs(inputs)
    varying = [n for n, values in axes if len(values) > 1]
    if len(sizes) > 1:
        x_name = "input"
    elif varying:
        x_name = varying[0]
    else:
        raise UsageError("nothing to sweep: give a list of values, --set NAME=V1,V2,..., or of "
                         "sizes, --input S1,S2,...")
    combinations = len(sizes)
    for _, values in axes:
        combinations *= len(values)
    most = limits.int_value("sweep")
    if combinations > most:
        raise limits.exceeded("sweep", f"the sweep has {combinations:,} combinations, more than "
                              f"{most:,}")
    cells: list[Cell] = []
    first_error: CnnstatError | None = None
    for values in itertools.product(*(v for _, v in axes)):
        settings = {n: v for (n, _), v in zip(axes, values)}
        for size in sizes:
            cell = Cell(settings, size)
            cell.x = _x_value(size if x_name == "input" else settings[x_name], x_name == "input")
            try:
                a = analyze(model, size, batch=batch, set=settings, variant=variant, count=count,
                            dtype=dtype)
            except CnnstatError as exc:
                first_error = first_error or exc
                cell.error = str(exc)
            else:
                t = a.totals
                cell.ok = True
                cell.input_shape = tuple(a.input_shape)
                cell.outputs = tuple(tuple(s) for s in a.output_shapes)
                cell.params, cell.macs, cell.flops = t.params, t.macs, t.flops
                cell.activation_bytes = t.activation_bytes
                cell.peak_activation_bytes = t.peak_activation_bytes
            cells.append(cell)
    if first_error is not None and not any(c.ok for c in cells):
        raise first_error
    if x_name == "input" and not all(isinstance(c.x, (int, float)) for c in cells):
        for c in cells:                       # mixed shapes: every size as the model read it
            if c.input_shape:
                c.x = "×".join(map(str, c.input_shape[1:]))
            else:
                c.x = str(c.x)
    from ..convention import Convention
    convention = Convention.parse(count) if not isinstance(count, Convention) else count
    return Sweep(model, axes, sizes, cells, x_name, dtype, batch, convention)


def _shape(s) -> str:
    return "×".join(str(d) for d in s)


def grid(s: Sweep):
    """The sweep as one table: one row per combination, the figures people read (the report's
    table) and the raw ones (the CSV); ``--columns`` chooses among all of them."""
    from ..render.grid import WRAP, Col, Grid
    names = [n for n, _ in s.axes]
    cols = [Col(n, n) for n in names] + [
        Col("input", "input"), Col("outputs", "output", fit=WRAP), Col("params", "params", True),
        Col("macs", "MACs", True), Col("flops", "FLOPs", True),
        Col("activation_bytes", "activation memory", True),
        Col("peak_activation_bytes", "peak activation memory", True),
        Col("error", "error", fit=WRAP)]
    shown, raw = [], []
    for c in s.cells:
        head = [c.settings[n] for n in names]
        if c.ok:
            shown.append(head + [_shape(c.input_shape), ", ".join(_shape(o) for o in c.outputs),
                                 fmt.human(c.params), fmt.human(c.macs), fmt.human(c.flops),
                                 fmt.human_bytes(c.activation_bytes),
                                 fmt.human_bytes(c.peak_activation_bytes), ""])
        else:
            shown.append(head + [c.input or "default", f"cannot: {c.error}", "-", "-", "-", "-",
                                 "-", c.error])
        shape = "x".join(map(str, c.input_shape)) if c.input_shape else (c.input or "")
        raw.append(head + [shape, " ".join("x".join(map(str, o)) for o in c.outputs),
                           *("" if v is None else v for v in (c.params, c.macs, c.flops,
                                                               c.activation_bytes,
                                                               c.peak_activation_bytes)),
                           c.error])
    return Grid(cols, shown, raw=raw,
                default=names + ["input", "outputs", "params", "macs", "flops",
                                 "peak_activation_bytes"],
                csv_default=[c.key for c in cols], keep=(*names[:1], "input", "macs"),
                drop_first=("outputs", "flops"), styles=[None if c.ok else "bad" for c in s.cells])


def table(s: Sweep) -> Table:
    return grid(s).chosen(None).to_document()


def csv_text(s: Sweep) -> str:
    return grid(s).chosen(None, for_csv=True).csv_text()


def to_json(s: Sweep) -> str:
    data = {"schema": 1, "model": s.model, "batch": s.batch, "dtype": s.dtype,
            "convention": {"unit": "MAC", "counted": list(s.convention.kinds),
                           "description": s.convention.describe()},
            "axes": {n: v for n, v in s.axes}, "inputs": s.inputs,
            "cells": [{"settings": c.settings, "input": c.input,
                       "input_shape": list(c.input_shape) if c.input_shape else None,
                       "outputs": [list(o) for o in c.outputs], "params": c.params,
                       "macs": c.macs, "flops": c.flops, "activation_bytes": c.activation_bytes,
                       "peak_activation_bytes": c.peak_activation_bytes,
                       "error": c.error or None} for c in s.cells]}
    return json.dumps(data, indent=2) + "\n"
