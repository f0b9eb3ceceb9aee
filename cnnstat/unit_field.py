"""The exact field of one unit: the input rows and columns its value depends on (per spatial axis:
positions along a 1-D input; depth slices, rows and columns of a 3-D one).

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
from .ops.base import WHOLE, NoExactRule, Span, Transfer, merge_spans, spatial_axes

ALL = "all"                 # every unit of a tensor (a vector, or a map read by a vector layer)
#: how the units read along each axis are called in sentences
AXIS_NOUNS = {"length": "positions", "depth": "slices", "height": "rows", "width": "columns"}


@dataclass(frozen=True)
class UnitField:
    layer: str
    unit: tuple[int, ...]                   # the unit's index along each spatial axis (row, column)
    input_size: tuple[int, ...]             # the input's spatial sizes
    spans: tuple[tuple[Span, ...], ...]     # per axis, the input units it depends on (empty: none)
    local: "UnitField | None" = None        # spatial paths only, when global context reaches it
    precision: str = "float32"
    exact: bool = True                      # False only past MAX_BOXES: then an envelope

    @property
    def axes(self) -> tuple[str, ...]:
        """The names of the spatial axes: ('height', 'width') for an image."""
        return spatial_axes(len(self.input_size))

    @property
    def ends(self) -> tuple[Span | None, ...]:
        """First and last input unit read along each axis (None: none is read)."""
        return tuple((s[0][0], s[-1][1]) if s else None for s in self.spans)

    def _axis(self, name: str) -> int:
        try:
            return self.axes.index(name)
        except ValueError:
            raise AttributeError(f"a field on a {len(self.input_size)}-D input has no {name} axis "
                                 f"(axes: {', '.join(self.axes)})") from None

    @property
    def row_spans(self) -> tuple[Span, ...]:
        """The input rows read (2-D and 3-D inputs)."""
        return self.spans[self._axis("height")]

    @property
    def col_spans(self) -> tuple[Span, ...]:
        """The input columns read (2-D and 3-D inputs)."""
        return self.spans[self._axis("width")]

    @property
    def rows(self) -> Span | None:
        """First and last input row read (None: no input pixel)."""
        return self.ends[self._axis("height")]

    @property
    def cols(self) -> Span | None:
        return self.ends[self._axis("width")]

    @property
    def input_hw(self) -> tuple[int, ...]:
        """The input's spatial sizes (kept for 2-D callers: (H, W))."""
        return self.input_size

    @property
    def size(self) -> tuple[int, ...]:
        """Extent in input units along each axis, first to last (gaps included)."""
        if any(e is None for e in self.ends):
            return (0,) * len(self.spans)
        return tuple(b - a + 1 for a, b in self.ends)

    @property
    def read(self) -> tuple[int, ...]:
        """How many units are read along each axis (fewer than the extent where there are gaps)."""
        return tuple(sum(b - a + 1 for a, b in spans) for spans in self.spans)

    @property
    def whole(self) -> bool:
        return all(spans == ((0, n - 1),) for spans, n in zip(self.spans, self.input_size))

    def to_dict(self) -> dict:
        out = {"layer": self.layer, "unit": list(self.unit), "input": list(self.input_size)}
        if "height" in self.axes:      # the keys of the 2-D contract (height and width)
            out.update({"rows": list(self.rows) if self.rows else None,
                        "cols": list(self.cols) if self.cols else None})
        out.update({"size": list(self.size), "read": list(self.read)})
        if "height" in self.axes:
            out.update({"row_spans": [list(s) for s in self.row_spans],
                        "col_spans": [list(s) for s in self.col_spans]})
        out.update({"whole_input": self.whole, "precision": self.precision, "exact": self.exact,
                    "axes": list(self.axes),
                    "ends": [list(e) if e else None for e in self.ends],
                    "spans": [[list(s) for s in spans] for spans in self.spans]})
        if self.local is not None:
            out["local"] = {k: v for k, v in self.local.to_dict().items()
                            if k in ("rows", "cols", "size", "read", "row_spans", "col_spans",
                                     "ends", "spans")}
        return out


def unit_field(analysis, layer: str, unit: tuple[int, ...] | None = None,
               precision: str = "float32") -> UnitField:
    """The exact field of ``unit`` (its index along each spatial axis: (row, column) of an image;
    default the centre unit) of ``layer``'s output. ``precision``: the floating-point type PyTorch
    computes upsampling indices in ("float32" for a float32 model, "float64" for a double one;
    they can differ by one input unit)."""
    if precision not in ("float32", "float64"):
        raise UsageError(f"precision must be float32 or float64, got {precision!r}")
    try:
        record = analysis.record(layer)
    except KeyError:
        from .suggest import did_you_mean
        hint = did_you_mean(layer, analysis.by_name, 3) or " ('cnnstat rf MODEL' lists them)"
        raise UsageError(f"{analysis.name} has no layer '{layer}'{hint}") from None
    shape = record.output_shape
    sizes = tuple(analysis.input_rf_size)
    rank = len(sizes)
    if len(shape) != rank + 2:
        raise UsageError(f"layer '{layer}' has no spatial units (output {list(shape)}): it depends "
                         "on the whole input")
    out = shape[2:]
    names = spatial_axes(rank)
    if unit is None:
        unit = tuple(n // 2 for n in out)
    unit = tuple(unit)
    if len(unit) != rank:
        raise UsageError(f"unit {_index(unit)} has {len(unit)} index(es), but layer '{layer}' is a "
                         f"{rank}-D map ({'x'.join(map(str, out))}): give one per axis "
                         f"({', '.join(names)}), e.g. {layer}:{','.join('0' * rank)}")
    if not all(0 <= u < n for u, n in zip(unit, out)):
        ranges = ", ".join(f"{AXIS_NOUNS.get(a, a)} 0..{n - 1}" for a, n in zip(names, out))
        raise UsageError(f"unit {_index(unit)} is outside layer '{layer}' "
                         f"({'x'.join(map(str, out))}: {ranges})")
    start = [tuple(((u, u),) for u in unit)]
    trace = _Trace(analysis, precision, through_global=True)
    result = UnitField(layer, unit, sizes, trace.run(record, start, sizes),
                       precision=precision, exact=trace.exact)
    if result.whole:
        local_trace = _Trace(analysis, precision, through_global=False)
        local = local_trace.run(record, start, sizes)
        if local != result.spans:
            result = UnitField(layer, unit, sizes, result.spans,
                               UnitField(layer, unit, sizes, local, precision=precision,
                                         exact=local_trace.exact),
                               precision, trace.exact)
    return result


def _index(unit) -> str:
    return "(" + ", ".join(map(str, unit)) + ")"


MAX_BOXES = 256     # per tensor; beyond it the boxes are merged and the answer is an envelope


class _Trace:
    """One backward propagation. What a tensor's units are read is kept as a list of *boxes*
    (spans per axis: rows x columns of an image): a unit read through one path is read at the
    product of that path's spans, and the union over paths is not in general a product of its
    projections (a path whose columns all fall into zero padding adds none of its rows).
    Boxes inside another box are dropped, and boxes equal but along one axis are merged."""

    def __init__(self, analysis, precision: str, through_global: bool):
        self.analysis, self.precision, self.through_global = analysis, precision, through_global
        self.exact = True
        self.rank = len(analysis.input_rf_size)

    def run(self, record, start, sizes):
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
            return ((),) * len(sizes)
        if got == ALL:
            return tuple(((0, n - 1),) for n in sizes)
        return tuple(merge_spans(s for box in got for s in box[axis]) for axis in range(len(sizes)))

    def read(self, r, index, t, in_shape, boxes):
        """What the units ``boxes`` of layer r read of its input ``index``: boxes, or ALL."""
        rank = self.rank
        if len(in_shape) != rank + 2:
            return ALL
        if boxes == ALL or len(r.output_shape) != rank + 2:
            return [tuple(((0, n - 1),) for n in in_shape[2:])]
        windows = t.for_rank(rank)
        if len(windows) != rank:       # a layer of another rank than the input's: all of it
            return [tuple(((0, n - 1),) for n in in_shape[2:])]
        if not self.through_global and any(w == WHOLE for w in windows):
            return []
        rule = REGISTRY[r.op]
        out = []
        for box in boxes:
            read = []
            for axis, window in enumerate(windows):
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
            boxes = [tuple(merge_spans(s for box in boxes for s in box[axis])
                           for axis in range(len(boxes[0])))]
        return boxes


def _prune(boxes: list) -> list:
    """The same union of boxes, with fewer boxes: boxes equal along every axis but one merged
    along that one, nested boxes dropped."""
    rank = len(boxes[0])
    changed = True
    while changed:
        changed = False
        for axis in reversed(range(rank)):        # 2-D: columns merged first, then rows
            by_rest: dict = {}
            for box in boxes:
                by_rest.setdefault(box[:axis] + box[axis + 1:], []).append(box[axis])
            if len(by_rest) < len(boxes):
                changed = True
                boxes = [rest[:axis] + (merge_spans(s for spans in merged for s in spans),)
                         + rest[axis:] for rest, merged in by_rest.items()]
    boxes.sort(key=lambda box: -_count(box))
    kept: list = []
    for box in boxes:
        if not any(_inside(box, other) for other in kept):
            kept.append(box)
    return kept


def _count(box) -> int:
    n = 1
    for spans in box:
        n *= sum(b - a + 1 for a, b in spans)
    return n


def _inside(box, other) -> bool:
    return all(_subset(spans, of) for spans, of in zip(box, other))


def _subset(spans, of) -> bool:
    return all(any(a <= lo and hi <= b for a, b in of) for lo, hi in spans)
