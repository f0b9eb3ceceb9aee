"""Renderings of one unit's exact field (``cnnstat rf MODEL --at LAYER[:ROW,COL]``)."""

from __future__ import annotations

import json

from ..analyze import Analysis
from ..receptive import fmt_number
from ..unit_field import UnitField, describe
from . import escape


def _envelope(a: Analysis, f: UnitField) -> str:
    """The layer's receptive field (all units, Distill's r, S, P) at this unit, for comparison."""
    rf = a.record(f.layer).rf
    parts = []
    for name, axis, u in (("rows", rf.h, f.unit[0]), ("columns", rf.w, f.unit[1])):
        if axis.whole:
            parts.append(f"{name}: the whole input")
            continue
        start = u * axis.stride - axis.padding
        parts.append(f"{name} {fmt_number(start)} … {fmt_number(start + axis.size - 1)} "
                     f"(size {'' if axis.exact else '~'}{fmt_number(axis.size)}, stride "
                     f"{fmt_number(axis.stride)}, padding {fmt_number(axis.padding)})")
    kind = "exact" if rf.exact else "an envelope of every unit (fractional strides)"
    return f"the layer's receptive field at this unit, {kind}: " + "; ".join(parts)


def unit_lines(a: Analysis, f: UnitField) -> list[str]:
    c, h, w = a.input_shape
    lines = [f"{a.name}: the exact field of {f.layer}[{f.unit[0]}, {f.unit[1]}] "
             f"(input {c}×{h}×{w}; upsampling indices at {f.precision})",
             describe(f), _envelope(a, f)]
    if len(f.row_spans) > 1 or len(f.col_spans) > 1:
        lines.append("rows read: " + _spans(f.row_spans) + "; columns read: " + _spans(f.col_spans))
    if not f.exact:
        lines.append("note: too many distinct paths; the rows and columns are an envelope")
    return lines


def _spans(spans) -> str:
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in spans)


def unit_json(a: Analysis, f: UnitField) -> str:
    rf = a.record(f.layer).rf
    data = {"model": a.name, **f.to_dict(),
            "rf": {"size": [rf.h.size, rf.w.size], "stride": [rf.h.stride, rf.w.stride],
                   "padding": [rf.h.padding, rf.w.padding], "exact": rf.exact}}
    return json.dumps(data, indent=2, default=lambda x: float(x)) + "\n"


def unit_csv(a: Analysis, f: UnitField) -> str:
    rows, cols = f.rows or ("", ""), f.cols or ("", "")
    return escape.csv_text([["model", "layer", "row", "col", "first_row", "last_row", "first_col",
                             "last_col", "height_px", "width_px", "rows_read", "cols_read"],
                            [a.name, f.layer, *f.unit, *rows, *cols, *f.size, *f.read]])
