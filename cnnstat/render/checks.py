"""``cnnstat check`` as output: the per-layer comparison with the running model (and its totals),
or the definition against torchvision's network. No torch here: the reports come computed."""

from __future__ import annotations

import re
from typing import Any

from .blocks import Note
from .grid import FIXED, NAME, WRAP, Col, Grid
from .output import Output

OK, DIFFER = "✓", "✗"


def _n(value: Any) -> str:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, (tuple, list)) and value and isinstance(value[0], (tuple, list)):
        return ", ".join(_shape(s) for s in value)
    if isinstance(value, tuple):
        return _shape(value)
    if hasattr(value, "numerator") and not isinstance(value, int):
        return f"{float(value):,.1f}"
    return str(value)


def _shape(shape) -> str:
    return "×".join(str(d) for d in shape[1:]) if len(shape) > 1 else str(list(shape))


def _mark(c) -> str:
    """✓ when the comparison agrees, else ✗ and the measured figure."""
    if c is None:
        return "-"
    return OK if c.ok else f"{DIFFER} {_n(c.measured)}"


def _raw(cell: str) -> str:
    """CSV values: grouped integers without their commas."""
    return cell.replace(",", "") if re.fullmatch(r"[\d,]+", cell) else cell


def _notes(notes: list[str]) -> list[Any]:
    return [Note("\n".join(f"note: {n}" for n in notes), "dim")] if notes else []


# ------------------------------------------------------------------------------------------------
# cnnstat check MODEL
# ------------------------------------------------------------------------------------------------
CHECK_COLUMNS = [
    Col("layer", "layer", fit=NAME), Col("operator", "operator"),
    Col("output_shape", "output shape", fit=WRAP), Col("params", "params", True, WRAP),
    Col("macs", "conv+linear MACs", True), Col("fvcore", "fvcore", fit=WRAP),
    Col("flop_counter", "FlopCounterMode", fit=WRAP),
    Col("other_kinds", "other kinds (fvcore)", fit=WRAP), Col("agree", "agree"),
    Col("notes", "notes", fit=WRAP)]


def _check_row(layer) -> list[str]:
    from ..ops.base import WEIGHT
    from ..torch_bridge.check import (BUFFERS, FLOP_COUNTER, FVCORE, KIND_QUANTITY, OUTPUT_SHAPE,
                                      PARAMETERS, TORCH, TRAINABLE)
    if layer.error:
        return [layer.name, layer.op, layer.error, "", "", "", "", "", DIFFER,
                "; ".join(layer.notes)]
    shape = layer.get(OUTPUT_SHAPE, TORCH)
    shape_text = "-" if shape is None else _shape(shape.static) + (
        "" if shape.ok else f" {DIFFER} torch {_shape(shape.measured)}")
    params = layer.get(PARAMETERS, TORCH)
    params_text = "-" if params is None else _n(params.static) + (
        "" if params.ok else f" {DIFFER} torch {_n(params.measured)}")
    for word, q in (("trainable", TRAINABLE), ("buffers", BUFFERS)):
        c = layer.get(q, TORCH)
        if c is not None and not c.ok:
            params_text += f"; {word} {_n(c.static)} {DIFFER} torch {_n(c.measured)}"
    fv = layer.get(KIND_QUANTITY[WEIGHT], FVCORE)
    fcm = layer.get(KIND_QUANTITY[WEIGHT], FLOP_COUNTER)
    macs = fv or fcm
    other = [f"{c.quantity.split()[0]} {_n(c.static)} {_mark(c)}"
             + (f" ({c.raw})" if c.raw else "")
             for c in layer.comparisons
             if c.source == FVCORE and c.quantity != KIND_QUANTITY[WEIGHT]]
    return [layer.name, layer.op, shape_text, params_text,
            _n(macs.static) if macs else "-", _mark(fv), _mark(fcm), ", ".join(other),
            (OK if layer.comparisons else "-") if layer.ok else DIFFER, "; ".join(layer.notes)]


def check_title(report) -> str:
    c_h_w = "×".join(str(d) for d in report.input_shape)
    return (f"cnnstat check {report.model}: input {c_h_w}, batch {report.batch}, "
            f"device {report.device}, {report.mode} mode, random weights (seed {report.seed})")


def check_verdict(report) -> str:
    n = len(report.layers)
    if report.ok:
        covered = "; ".join(f"{', '.join(qs)} ({src})" for src, qs in report.compared().items())
        return (f"verdict: agree — {n} layers: {covered} match cnnstat's static analysis "
                "(MACs converted to cnnstat's convention: 1 multiply-add = 1 MAC, bias excluded)")
    parts = []
    if report.error:
        parts.append(report.error)
    bad = report.differing_layers
    if bad:
        names = ", ".join(layer.name for layer in bad[:5]) + (", …" if len(bad) > 5 else "")
        parts.append(f"{len(bad)} of {n} layers differ ({names})")
    if report.differing_totals:
        parts.append("totals differ: " + ", ".join(f"{c.quantity} ({c.source})"
                                                   for c in report.differing_totals))
    return "verdict: DIFFER — " + "; ".join(parts)


def check_view(report, differences: bool = False) -> Output:
    import json
    layers = report.differing_layers if differences else report.layers
    rows = [_check_row(layer) for layer in layers]
    grid = Grid(CHECK_COLUMNS, rows, raw=[[_raw(c) for c in r] for r in rows],
                keep=("layer", "agree"),
                drop_first=("other_kinds", "flop_counter", "fvcore", "operator", "notes",
                            "output_shape"),
                styles=[None if r[-2] != DIFFER else "bad" for r in rows])
    totals = Grid(
        [Col("quantity", "quantity", fit=WRAP, comfort=12), Col("cnnstat", "cnnstat", True),
         Col("measured", "measured", True), Col("by", "by", fit=WRAP, comfort=12),
         Col("agree", "agree")],
        [[c.quantity, _n(c.static), _n(c.measured), c.source + (f" ({c.raw})" if c.raw else ""),
          OK if c.ok else DIFFER] for c in report.totals],
        title="totals", keep=("quantity", "cnnstat", "measured", "by", "agree"), selectable=False,
        styles=[None if c.ok else "bad" for c in report.totals])
    blocks = [Note(f"**{check_title(report)}**", "bold")] + ([grid] if rows else [])
    blocks += [totals] + _notes(report.notes)
    blocks.append(Note(check_verdict(report), "good" if report.ok else "bad"))
    return Output(blocks, json=lambda: json.dumps(report.to_dict(), indent=2) + "\n")


# ------------------------------------------------------------------------------------------------
# cnnstat check MODEL --against torchvision
# ------------------------------------------------------------------------------------------------
AGAINST_COLUMNS = [
    Col("same", ""), Col("cnnstat_layer", "cnnstat layer", fit=NAME),
    Col("cnnstat", "cnnstat", fit=WRAP), Col("torchvision_layer", "torchvision layer", fit=NAME),
    Col("torchvision", "torchvision", fit=WRAP), Col("differences", "differences", fit=WRAP)]


def _against_rows(report, differences: bool) -> list[list[str]]:
    from ..torch_bridge.structure import LABELS, show
    steps = report.diff.differing if differences else report.diff.steps
    rows = []
    for s in steps:
        changes = "; ".join(f"{LABELS[a]} {show(a, x)} → {show(a, y)}" for a, x, y in s.changes)
        if s.status == "removed":
            changes = f"only in {report.model}"
        elif s.status == "inserted":
            changes = f"only in {report.reference}"
        rows.append([OK if s.status == "same" else DIFFER,
                     s.left.name if s.left else "", s.left.describe() if s.left else "",
                     s.right.name if s.right else "", s.right.describe() if s.right else "",
                     changes])
    return rows


def against_title(report) -> str:
    c_h_w = "×".join(str(d) for d in report.input_shape)
    args = "".join(f" --against-arg {k}={v!r}" for k, v in report.reference_args.items())
    return (f"cnnstat check {report.model} --against {report.reference}{args}: input {c_h_w}, "
            f"batch {report.batch}, device {report.device}, {report.mode} mode")


def against_verdict(report) -> str:
    n = len(report.diff.steps)
    if report.ok:
        return (f"verdict: agree — totals match and the {n} aligned layers (convolutions, "
                "linear, pooling, upsampling, with their normalization) are the same")
    parts = [f"{c.quantity} {_n(c.static)} vs {_n(c.measured)}" for c in report.totals
             if not c.ok]
    k = len(report.diff.differing)
    if k:
        parts.append(f"{k} of {n} aligned layers differ")
    return "verdict: DIFFER — " + "; ".join(parts)


def against_view(report, differences: bool = False) -> Output:
    import json
    totals = Grid(
        [Col("quantity", "quantity", fit=WRAP), Col("cnnstat", "cnnstat", True),
         Col("reference", report.reference, True), Col("agree", "agree")],
        [[c.quantity, _n(c.static), _n(c.measured), OK if c.ok else DIFFER]
         for c in report.totals],
        title="totals", selectable=False, keep=("quantity", "cnnstat", "reference", "agree"),
        styles=[None if c.ok else "bad" for c in report.totals])
    blocks: list[Any] = [Note(f"**{against_title(report)}**", "bold"), totals]
    summary = report.diff.summary()
    if summary:
        blocks.append(Grid(
            [Col("difference", "difference", fit=WRAP), Col("layers", "layers", True),
             Col("where", "where", fit=WRAP)],
            [[what, str(count), ", ".join(names[:4]) + (", …" if len(names) > 4 else "")]
             for what, count, names in summary],
            title="structural differences, grouped", selectable=False,
            keep=("difference", "layers", "where")))
    only_differing = differences or not report.diff.same
    rows = _against_rows(report, only_differing)
    if rows:
        blocks.append(Grid(
            AGAINST_COLUMNS, rows,
            title="aligned layers" + (" that differ" if only_differing else ""),
            keep=("same", "cnnstat_layer", "differences"),
            drop_first=("torchvision_layer", "torchvision", "cnnstat"),
            styles=[None if r[0] == OK else "bad" for r in rows]))
    blocks += _notes(report.notes)
    blocks.append(Note(against_verdict(report), "good" if report.ok else "bad"))
    return Output(blocks, json=lambda: json.dumps(report.to_dict(), indent=2) + "\n")
