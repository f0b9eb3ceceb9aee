"""Renderings of one unit's exact field (``cnnstat rf MODEL --at LAYER[:ROW,COL]``)."""

from __future__ import annotations

import json

from ..analyze import Analysis
from ..ops.base import UNIT_NOUNS, UNIT_WORDS
from ..receptive import fmt_number
from ..unit_field import AXIS_NOUNS, UnitField
from . import escape


def describe(field: UnitField) -> str:
    """One line: 'out[0, 0] reads input rows 0-187 and columns 0-187 (188x188 px)'."""
    return f"{field.layer}[{', '.join(map(str, field.unit))}] reads {reads(field)}"


def reads(field: UnitField) -> str:
    """What the unit reads: 'input rows 0-187 and columns 0-187 (188x188 px)'."""
    if any(e is None for e in field.ends):
        noun = UNIT_NOUNS.get(len(field.input_size), "units")[:-1]
        return f"no input {noun} (only zero padding or constants)"
    text = f"input {_extent(field)}" + (", the whole input" if field.whole else "")
    local = field.local
    if local is not None and all(e is not None for e in local.ends):
        text += " (through global context: gates); through its spatial paths alone " + _extent(local)
    return text


def _extent(field: UnitField) -> str:
    nouns = [AXIS_NOUNS.get(a, a) for a in field.axes]
    gaps = [f"{n} of the {m} {what}" for n, m, what in zip(field.read, field.size, nouns) if n < m]
    parts = [f"{noun} {a}-{b}" for noun, (a, b) in zip(nouns, field.ends)]
    listed = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    unit = UNIT_WORDS.get(len(field.input_size), "units")
    return (f"{listed} ({'x'.join(map(str, field.size))} {unit}"
            + (f"; with gaps: {', '.join(gaps)}" if gaps else "") + ")")


def _envelope(a: Analysis, f: UnitField) -> str:
    """The layer's receptive field (all units, Distill's r, S, P) at this unit, for comparison."""
    rf = a.record(f.layer).rf
    parts = []
    for name, axis, u in zip(f.axes, rf.axes, f.unit):
        noun = AXIS_NOUNS.get(name, name)
        if axis.whole:
            parts.append(f"{noun}: the whole input")
            continue
        start = u * axis.stride - axis.padding
        parts.append(f"{noun} {fmt_number(start)} … {fmt_number(start + axis.size - 1)} "
                     f"(size {'' if axis.exact else '~'}{fmt_number(axis.size)}, stride "
                     f"{fmt_number(axis.stride)}, padding {fmt_number(axis.padding)})")
    kind = "exact" if rf.exact else "an envelope of every unit (fractional strides)"
    return f"the layer's receptive field at this unit, {kind}: " + "; ".join(parts)


def unit_lines(a: Analysis, f: UnitField) -> list[str]:
    unit = ", ".join(map(str, f.unit))
    lines = [f"{a.name}: the exact field of {f.layer}[{unit}] "
             f"(input {'×'.join(map(str, a.input_shape))}; upsampling indices at {f.precision})",
             describe(f), _envelope(a, f)]
    if any(len(spans) > 1 for spans in f.spans):
        lines.append("; ".join(f"{AXIS_NOUNS.get(name, name)} read: {_spans(spans)}"
                               for name, spans in zip(f.axes, f.spans)))
    if not f.exact:
        nouns = " and ".join(AXIS_NOUNS.get(name, name) for name in f.axes)
        lines.append(f"note: too many distinct paths; the {nouns} are an envelope")
    return lines


def _spans(spans) -> str:
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in spans)


def unit_json(a: Analysis, f: UnitField) -> str:
    rf = a.record(f.layer).rf
    data = {"model": a.name, **f.to_dict(),
            "rf": {key: [getattr(axis, key) for axis in rf.axes]
                   for key in ("size", "stride", "padding")} | {"exact": rf.exact}}
    return json.dumps(data, indent=2, default=lambda x: float(x)) + "\n"


#: CSV column stems per axis: an index column, first_/last_ columns, and "<plural>_read"
_CSV_NAMES = {"length": ("pos", "positions"), "depth": ("slice", "slices"),
              "height": ("row", "rows"), "width": ("col", "cols")}


def unit_csv(a: Analysis, f: UnitField) -> str:
    """One row; for an image: model, layer, row, col, first_row, last_row, first_col, last_col,
    height_px, width_px, rows_read, cols_read (other ranks: the same per axis)."""
    from ..ops.base import UNIT_WORDS
    unit = UNIT_WORDS.get(len(f.axes), "units")
    names = [_CSV_NAMES.get(n, (n, n + "s")) for n in f.axes]
    header = ["model", "layer", *(one for one, _ in names),
              *(f"{edge}_{one}" for one, _ in names for edge in ("first", "last")),
              *(f"{axis}_{unit}" for axis in f.axes), *(f"{many}_read" for _, many in names)]
    ends = [v for e in f.ends for v in (e or ("", ""))]
    return escape.csv_text([header, [a.name, f.layer, *f.unit, *ends, *f.size, *f.read]])
