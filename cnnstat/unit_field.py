"""The exact field of one unit: the input rows and columns its value depends on.

The receptive field of ``receptive.py`` is the Distill model's (Araujo, Norris & Sim 2019): per
axis three numbers (size r, stride S, padding P) that describe every unit of a layer at once, unit
u seeing [u*S - P, u*S - P + r - 1]. That is exact while every layer maps units to input units by
integer strides; after upsampling, strided transposed convolutions or adaptive pooling with
unequal windows the strides are fractional and the three numbers are an envelope of all units
(marked "~"). U-Net's output, for instance, is reported as ~215 px, while each of its units
depends on 188 or 204 input rows (and columns), depending on its position against the
bottleneck's stride of 16.

Here the question is asked of one unit. The units it reads are propagated backwards, from the
unit to the input, through each layer's exact index rule (``Op.unit_spans``: the taps of a
sliding window, the index arithmetic of a transposed convolution, PyTorch's upsampling and
adaptive-pooling indices), as sets of rows and of columns (sorted disjoint spans): every operator
acts on rows and columns separately. A tensor read along several paths keeps one *box* (rows x
columns) per path, merged where that loses nothing (``_Trace``): a path whose columns all fall
into zero padding contributes none of its rows. Zero padding is never counted (its zeros depend
on nothing); dilation, or strides larger than kernels, leave gaps (``read`` < ``size``). A layer
whose output is not a feature map (a vector after flatten or a linear layer) depends on every
unit of its input. Like every receptive field in cnnstat, the field is per position over all
channels: a layer is taken to read every channel of its input at the positions it reads.

With global context merged back into a feature map (squeeze-and-excitation gates), every unit
depends on the whole input; ``local`` then gives the field through the spatial paths alone.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import UsageError
from .ops import REGISTRY
from .ops.base import WHOLE, NoExactRule, Span, Transfer, merge_spans

ALL = "all"                 # every unit of a tensor (a vector, or a map read by a vector layer)


@dataclass(frozen=True)
class UnitField:
    layer: str
    unit: tuple[int, int]                   # (row, column) of the unit in the layer's output
    input_hw: tuple[int, int]
    row_spans: tuple[Span, ...]             # the input rows the unit depends on (empty: none)
    col_spans: tuple[Span, ...]
    local: "UnitField | None" = None        # spatial paths only, when global context reaches it
    precision: str = "float32"
    exact: bool = True                      # False only past MAX_BOXES: then an envelope

    @property
    def rows(self) -> Span | None:
        """First and last input row read (None: no input pixel)."""
        return (self.row_spans[0][0], self.row_spans[-1][1]) if self.row_spans else None

    @property
    def cols(self) -> Span | None:
        return (self.col_spans[0][0], self.col_spans[-1][1]) if self.col_spans else None

    @property
    def size(self) -> tuple[int, int]:
        """Extent in input pixels, first to last (gaps included)."""
        if self.rows is None or self.cols is None:
            return (0, 0)
        return (self.rows[1] - self.rows[0] + 1, self.cols[1] - self.cols[0] + 1)

    @property
    def read(self) -> tuple[int, int]:
        """How many rows and columns are read (fewer than the extent where there are gaps)."""
        return tuple(sum(b - a + 1 for a, b in spans) for spans in (self.row_spans, self.col_spans))

    @property
    def whole(self) -> bool:
        h, w = self.input_hw
        return self.row_spans == ((0, h - 1),) and self.col_spans == ((0, w - 1),)

    def to_dict(self) -> dict:
        out = {"layer": self.layer, "unit": list(self.unit), "input": list(self.input_hw),
               "rows": list(self.rows) if self.rows else None,
               "cols": list(self.cols) if self.cols else None,
               "size": list(self.size), "read": list(self.read),
               "row_spans": [list(s) for s in self.row_spans],
               "col_spans": [list(s) for s in self.col_spans],
               "whole_input": self.whole, "precision": self.precision, "exact": self.exact}
        if self.local is not None:
            out["local"] = {k: v for k, v in self.local.to_dict().items()
                            if k in ("rows", "cols", "size", "read", "row_spans", "col_spans")}
        return out


def unit_field(analysis, layer: str, unit: tuple[int, int] | None = None,
               precision: str = "float32") -> UnitField:
    """The exact field of ``unit`` (row, column; default the centre unit) of ``layer``'s output.
    ``precision``: the floating-point type PyTorch computes upsampling indices in ("float32" for
    a float32 model, "float64" for a double one; they can differ by one input unit)."""
    if precision not in ("float32", "float64"):
        raise UsageError(f"precision must be float32 or float64, got {precision!r}")
    try:
        record = analysis.record(layer)
    except KeyError:
        from .suggest import did_you_mean
        hint = did_you_mean(layer, analysis.by_name, 3) or " ('cnnstat rf MODEL' lists them)"
        raise UsageError(f"{analysis.name} has no layer '{layer}'{hint}") from None
    shape = record.output_shape
    if len(shape) != 4:
        raise UsageError(f"layer '{layer}' has no spatial units (output {list(shape)}): it depends "
                         "on the whole input")
    h, w = shape[2], shape[3]
    row, col = unit if unit is not None else (h // 2, w // 2)
    if not (0 <= row < h and 0 <= col < w):
        raise UsageError(f"unit ({row}, {col}) is outside layer '{layer}' ({h}x{w}: rows 0..{h - 1}, "
                         f"columns 0..{w - 1})")
    ih, iw = analysis.input_shape[1:] if len(analysis.input_shape) == 3 else (1, 1)
    start = [(((row, row),), ((col, col),))]
    trace = _Trace(analysis, precision, through_global=True)
    result = UnitField(layer, (row, col), (ih, iw), *trace.run(record, start, (ih, iw)),
                       precision=precision, exact=trace.exact)
    if result.whole:
        local_trace = _Trace(analysis, precision, through_global=False)
        local = local_trace.run(record, start, (ih, iw))
        if local != (result.row_spans, result.col_spans):
            result = UnitField(layer, (row, col), (ih, iw), result.row_spans, result.col_spans,
                               UnitField(layer, (row, col), (ih, iw), *local,
                                         precision=precision, exact=local_trace.exact),
                               precision, trace.exact)
    return result


MAX_BOXES = 256     # per tensor; beyond it the boxes are merged and the answer is an envelope


class _Trace:
    """One backward propagation. What a tensor's units are read is kept as a list of *boxes*
    (row spans, column spans): a unit read through one path is read at rows x columns of that
    path, and the union over paths is not in general a product of its row and column
    projections (a path whose columns all fall into zero padding adds none of its rows).
    Boxes inside another box are dropped, and boxes with equal rows (or columns) are merged."""

    def __init__(self, analysis, precision: str, through_global: bool):
        self.analysis, self.precision, self.through_global = analysis, precision, through_global
        self.exact = True

    def run(self, record, start, hw):
        state: dict = {record.name: start}
        for r in reversed(self.analysis.records[: record.index + 1]):
            boxes = state.pop(r.name, None)
            if boxes is None:
                continue
            transfer = r.transfer
            transfers = [transfer] * len(r.inputs) if isinstance(transfer, Transfer) else transfer
            for index, (src, t, in_shape) in enumerate(zip(r.inputs, transfers, r.input_shapes)):
                got = self.read(r, index, t, in_shape, boxes)
                if got:
                    state[src] = self.union(state.get(src), got)
        got = state.get(self.analysis.graph.inputs[0])
        if not got:
            return (), ()
        if got == ALL:
            return ((0, hw[0] - 1),), ((0, hw[1] - 1),)
        return (merge_spans(s for box in got for s in box[0]),
                merge_spans(s for box in got for s in box[1]))

    def read(self, r, index, t, in_shape, boxes):
        """What the units ``boxes`` of layer r read of its input ``index``: boxes, or ALL."""
        if len(in_shape) != 4:
            return ALL
        if boxes == ALL or len(r.output_shape) != 4:
            return [(((0, in_shape[2] - 1),), ((0, in_shape[3] - 1),))]
        if not self.through_global and (t.h == WHOLE or t.w == WHOLE):
            return []
        rule = REGISTRY[r.op]
        out = []
        for box in boxes:
            read = []
            for axis, window in ((0, t.h), (1, t.w)):
                pieces = []
                for span in box[axis]:
                    try:
                        pieces += rule.unit_spans(r.attrs, r.input_shapes, index, axis, span,
                                                  window, r.output_shape, self.precision)
                    except NoExactRule as exc:
                        raise UsageError(f"layer {r.name}: {exc}; no exact field can be traced "
                                         "through it (its receptive field is an envelope)") from None
                if not pieces:
                    break                             # this box reads only padding
                read.append(merge_spans(pieces))
            else:
                out.append(tuple(read))
        return out

    def union(self, a, b):
        if a is None:
            return b
        if a == ALL or b == ALL:
            return ALL
        boxes = _prune(a + b)
        if len(boxes) > MAX_BOXES:
            self.exact = False
            boxes = [(merge_spans(s for box in boxes for s in box[0]),
                      merge_spans(s for box in boxes for s in box[1]))]
        return boxes


def _prune(boxes: list) -> list:
    """The same union of boxes, with fewer boxes: equal rows (columns) merged, nested dropped."""
    changed = True
    while changed:
        changed = False
        for axis in (0, 1):
            by_axis: dict = {}
            for box in boxes:
                by_axis.setdefault(box[axis], []).append(box[1 - axis])
            if len(by_axis) < len(boxes):
                changed = True
                boxes = [(key, merge_spans(s for other in rest for s in other)) if axis == 0 else
                         (merge_spans(s for other in rest for s in other), key)
                         for key, rest in by_axis.items()]
    boxes.sort(key=lambda box: -_count(box))
    kept: list = []
    for box in boxes:
        if not any(_inside(box, other) for other in kept):
            kept.append(box)
    return kept


def _count(box) -> int:
    return sum(b - a + 1 for a, b in box[0]) * sum(b - a + 1 for a, b in box[1])


def _inside(box, other) -> bool:
    return all(_subset(box[axis], other[axis]) for axis in (0, 1))


def _subset(spans, of) -> bool:
    return all(any(a <= lo and hi <= b for a, b in of) for lo, hi in spans)


def describe(field: UnitField) -> str:
    """One line: 'out[0, 0] reads input rows 0-187 and columns 0-187 (188x188 px)'."""
    return f"{field.layer}[{field.unit[0]}, {field.unit[1]}] reads {reads(field)}"


def reads(field: UnitField) -> str:
    """What the unit reads: 'input rows 0-187 and columns 0-187 (188x188 px)'."""
    if field.rows is None:
        return "no input pixel (only zero padding or constants)"
    text = f"input {_extent(field)}" + (", the whole input" if field.whole else "")
    if field.local is not None and field.local.rows is not None:
        text += (" (through global context: gates); through its spatial paths alone "
                 + _extent(field.local))
    return text


def _extent(field: UnitField) -> str:
    (h, w), (rh, rw) = field.size, field.read
    gaps = [f"{n} of the {m} {what}" for n, m, what in ((rh, h, "rows"), (rw, w, "columns"))
            if n < m]
    return (f"rows {field.rows[0]}-{field.rows[1]} and columns {field.cols[0]}-{field.cols[1]} "
            f"({h}x{w} px" + (f"; with gaps: {', '.join(gaps)}" if gaps else "") + ")")


def parse_at(text: str) -> tuple[str, tuple[int, int] | None]:
    """``LAYER`` or ``LAYER:ROW,COL`` (the --at option) → (layer, unit or None)."""
    layer, sep, where = text.rpartition(":") if ":" in text else (text, "", "")
    if not sep:
        return text.strip(), None
    try:
        row, col = (int(v) for v in where.split(","))
    except ValueError:
        raise UsageError(f"--at '{text}': write LAYER or LAYER:ROW,COL, e.g. --at out:0,0") from None
    return layer.strip(), (row, col)
