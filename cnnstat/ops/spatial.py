"""Spatial and channel plumbing: upsampling, zero padding, channel shuffle, slicing (slice, chunk),
for feature maps of spatial rank 1, 2 and 3.

Conventions:
- upsample: output = floor(size * scale) per axis (PyTorch), or the given size. Work (kind
  "resize", not counted by default) is the number of input taps each output element reads, as
  fvcore weighs nearest (1) and bilinear (4): linear 2, bilinear 4, trilinear 8, bicubic 16 (its
  4x4 taps). Receptive fields through upsampling have fractional strides (1/scale) and are marked
  inexact (~): envelopes, the unit reads nothing outside them (_upsample_window).
- zero_pad1d/2d/3d, channel_shuffle, slice and chunk move data only: zero operations of every kind.
"""

from __future__ import annotations

import math
import struct
from fractions import Fraction
from typing import Any, Sequence

from ..errors import DefinitionError, ShapeError
from ..memory.saved import VIEW, Context, OpMemory
from .axes import layout
from .base import Eval, Op, RankOp, register, register_ranks
from .kinds import RESIZE
from .schema import (ArgumentError, Param, any_int, choice, nonneg_int, number, optional,
                     padding_nd, positive_int)
from .shapes import Shape, fmt_shape, need_feature_map, need_spatial, numel
from .taps import Span, merge_spans
from .transfer import Transfer, Window, on_axis

#: input taps per output element, and the spatial rank a mode interpolates (None: any rank)
_RESIZE_COST = {"nearest": 1, "nearest-exact": 1, "linear": 2, "bilinear": 4, "bicubic": 16,
                "trilinear": 8}
_MODE_RANK = {"linear": 1, "bilinear": 2, "bicubic": 2, "trilinear": 3}
#: what each mode does along one axis (linear, bilinear and trilinear interpolate each axis alike)
_AXIS_MODE = {"linear": "bilinear", "trilinear": "bilinear"}


def _scale(value: Any) -> tuple[float, ...]:
    """One factor for every axis (a 1-tuple, spread to the input's rank), or one per axis."""
    if isinstance(value, (list, tuple)):
        if not 1 <= len(value) <= 3:
            raise ArgumentError(f"must be one factor or one per spatial axis, got {list(value)!r}")
        out = tuple(number(v) for v in value)
    else:
        out = (number(value),)
    if min(out) <= 0:
        raise ArgumentError(f"must be positive, got {value!r}")
    return out


def _size(value: Any) -> tuple[int, ...]:
    """One size for every axis (a 1-tuple, spread to the input's rank), or one per axis."""
    if isinstance(value, (list, tuple)):
        if not 1 <= len(value) <= 3:
            raise ArgumentError(f"must be one size or one per spatial axis, got {list(value)!r}")
        return tuple(positive_int(v) for v in value)
    return (positive_int(value),)


def _per_axis(op: str, what: str, values: tuple, rank: int) -> tuple:
    """A value given once spread to every axis; one per axis checked against the input's rank."""
    if len(values) == 1:
        return values * rank
    if len(values) != rank:
        raise ShapeError(f"{op}: {len(values)} {what}s {list(values)} for a {layout(rank)} feature "
                         f"map: give one, or one per spatial axis")
    return values


def _source_ratio(mode: str, size_in: int, size_out: int, align_corners: bool | None,
                  scale: float | None) -> Fraction:
    """Input units per output unit as PyTorch maps them (aten/src/ATen/native/UpSample.h):
    (in - 1)/(out - 1) with align_corners; nearest copies when out = in and halves the index when
    out = 2*in; otherwise 1/scale when a scale is given, else in/out."""
    if align_corners:
        return Fraction(size_in - 1, size_out - 1) if size_out > 1 else Fraction(0)
    if mode == "nearest" and size_out in (size_in, 2 * size_in):
        return Fraction(size_in, size_out)
    if scale is not None:
        return 1 / Fraction(scale).limit_denominator(1 << 16)
    return Fraction(size_in, size_out)


def _upsample_window(mode: str, size_in: int, size_out: int, align_corners: bool | None,
                     scale: float | None = None) -> Window:
    """The input units output unit v reads, as a window: an envelope, exact only for a copy.

    With r = _source_ratio and the source coordinate x = v*r + c, nearest reads floor(x) (c = 0;
    nearest-exact: c = r/2), bilinear the taps floor(x), floor(x) + 1 and bicubic floor(x) - 1 ..
    floor(x) + 2 (c = r/2 - 1/2; 0 with align_corners). floor(x) lies in (x - 1, x], so the window
    [x - 1, x] (nearest), [x - 1, x + 1] (bilinear) or [x - 2, x + 2] (bicubic) holds every tap
    of every output unit (PyTorch computes x in floating point: a rounding below an integer moves
    floor(x) down by one, still inside). Its size overstates a unit's field by up to one input
    unit per side: the result is marked inexact."""
    r = _source_ratio(mode, size_in, size_out, align_corners, scale)
    if r == 1 or (mode == "nearest" and size_in == size_out):
        return Window()                              # a copy (interpolation weights 1 and 0)
    if mode in ("nearest", "nearest-exact"):
        c = 0 if mode == "nearest" else r / 2
        return Window(2, r, 1 - c, exact=False)
    c = 0 if align_corners else r / 2 - Fraction(1, 2)
    reach = 1 if mode == "bilinear" else 2           # taps on each side of floor(x)
    return Window(2 * reach + 1, r, reach - c, exact=False)


def _f32(x: float) -> float:
    """x rounded to IEEE single precision. A product or quotient of two float32 values computed
    in double and rounded once is the float32 result (53 >= 2*24 + 2 bits), so float32
    arithmetic is emulated exactly by rounding after each operation."""
    return struct.unpack("f", struct.pack("f", x))[0]


def _next_f32(x: float, up: bool) -> float:
    """The float32 value next to float32 x, towards +infinity (up) or -infinity."""
    if x == 0:
        tiny = struct.unpack("<f", struct.pack("<I", 1))[0]
        return tiny if up else -tiny
    bits = struct.unpack("<I", struct.pack("<f", x))[0]
    bits += 1 if (x > 0) == up else -1
    return struct.unpack("<f", struct.pack("<I", bits))[0]


def _round_once(q: Fraction, precision: str) -> float:
    """The exact rational q rounded once to the precision (half to even), as a fused
    multiply-add rounds its exact result."""
    d = float(q)                                      # correctly rounded to double
    if precision != "float32":
        return d
    c = _f32(d)                                       # may round twice: check the neighbours
    if Fraction(c) == q:
        return c
    lo, hi = (_next_f32(c, False), c) if Fraction(c) > q else (c, _next_f32(c, True))
    below, above = q - Fraction(lo), Fraction(hi) - q
    if below != above:
        return lo if below < above else hi
    return lo if struct.unpack("<I", struct.pack("<f", lo))[0] % 2 == 0 else hi


def upsample_taps(mode: str, size_in: int, size_out: int, v: int, align_corners: bool | None,
                  scale: float | None, precision: str = "float32") -> tuple[int, ...]:
    """The input units output unit v reads with a nonzero weight, computed as PyTorch's CPU
    kernels compute them (aten/src/ATen/native/UpSample.h): ``nearest_idx`` /
    ``nearest_exact_idx`` in float32 whatever the tensor's type; bilinear's
    ``compute_source_index_and_lambda`` and bicubic's taps floor(x) - 1 .. floor(x) + 2 (clamped
    to the input) in the tensor's precision ("float32", or "float64" where the opmath type is
    double), the source index ratio*(v + 0.5) - 0.5 rounded once (the compiled kernels fuse the
    multiply-add: measured against PyTorch's gradients on 53,108 units per precision, no
    difference, against 104 in float32 with two roundings). A tap whose weight is exactly zero
    is not read."""
    rnd = _f32 if precision == "float32" else float
    if mode in ("nearest", "nearest-exact"):
        if mode == "nearest" and size_out == size_in:
            return (v,)
        if mode == "nearest" and size_out == 2 * size_in:
            return (v >> 1,)
        ratio = _f32(1.0 / scale) if scale else _f32(_f32(size_in) / size_out)
        x = _f32(v * ratio) if mode == "nearest" else _f32((v + 0.5) * ratio)
        return (min(math.floor(x), size_in - 1),)
    # area_pixel_compute_scale and area_pixel_compute_source_index
    if align_corners:
        ratio = rnd(rnd(size_in - 1) / (size_out - 1)) if size_out > 1 else 0.0
        x = rnd(ratio * v)
    else:       # ratio * (v + 0.5) - 0.5, one fused multiply-add in PyTorch's CPU build
        ratio = rnd(1.0 / scale) if scale else rnd(rnd(size_in) / size_out)
        x = _round_once(Fraction(ratio) * (v + Fraction(1, 2)) - Fraction(1, 2), precision)
        if mode == "bilinear" and x < 0:
            x = 0.0
    first = min(math.floor(_f32(x)), size_in - 1)     # floorf: a float argument
    t = min(max(rnd(x - first), 0.0), 1.0)            # guard_index_and_lambda
    if mode == "bilinear":
        second = first + 1 if first < size_in - 1 else first
        return tuple(dict.fromkeys(i for i, weight in ((first, 1.0 - t), (second, t))
                                   if weight != 0))
    if t == 0:                                        # cubic weights (0, 1, 0, 0)
        return (max(0, min(first, size_in - 1)),)
    return tuple(dict.fromkeys(max(0, min(first + j, size_in - 1)) for j in (-1, 0, 1, 2)))


def upsample_spans(mode: str, size_in: int, size_out: int, span: Span,
                   align_corners: bool | None, scale: float | None,
                   precision: str = "float32") -> tuple[Span, ...]:
    """The input units the output units of ``span`` read (``upsample_taps`` of each unit of the
    span: a span is at most an axis long), as spans."""
    return merge_spans((i, i) for v in range(span[0], span[1] + 1)
                       for i in upsample_taps(mode, size_in, size_out, v, align_corners, scale,
                                              precision))


@register
class Upsample(Op):
    """torch.nn.Upsample on a feature map of any spatial rank: 'nearest' and 'nearest-exact' on
    any, 'linear' on (N, C, L), 'bilinear' and 'bicubic' on (N, C, H, W), 'trilinear' on
    (N, C, D, H, W) (PyTorch's rule). A scale or size given once applies to every axis."""

    name = "upsample"
    summary = "upsampling by a scale factor or to a size (nearest, linear, bilinear, bicubic, trilinear)"
    params = (
        Param("scale", optional(_scale), None, "factor, or one per axis ([h, w]; [d, h, w])"),
        Param("size", optional(_size), None, "output size, or one per axis"),
        Param("mode", choice("nearest", "nearest-exact", "linear", "bilinear", "bicubic",
                             "trilinear"), "nearest"),
        Param("align_corners", optional(lambda v: bool(v)), None),
    )

    def validate(self, a: dict) -> None:
        if (a["scale"] is None) == (a["size"] is None):
            raise DefinitionError("upsample needs exactly one of 'scale' and 'size'")
        if a["align_corners"] is not None and a["mode"] not in _MODE_RANK:
            raise DefinitionError("upsample: align_corners only applies to linear, bilinear, "
                                  "bicubic and trilinear")

    def _axes(self, a, shape: Shape) -> tuple[tuple[int, ...], tuple]:
        """(output sizes, scales or Nones) per spatial axis."""
        rank = need_spatial(self.name, shape)
        wanted = _MODE_RANK.get(a["mode"])
        if wanted is not None and wanted != rank:
            fits = [m for m, r in _MODE_RANK.items() if r == rank]
            raise ShapeError(f"upsample: mode '{a['mode']}' interpolates {layout(wanted)} feature "
                             f"maps, got {fmt_shape(shape)}"
                             + (f" (a {rank}-D map takes {' or '.join(repr(m) for m in fits)})"
                                if fits else ""))
        sizes = shape[2:]
        if a["size"] is not None:
            return _per_axis(self.name, "size", a["size"], rank), (None,) * rank
        scale = _per_axis(self.name, "scale", a["scale"], rank)
        return tuple(math.floor(n * f) for n, f in zip(sizes, scale)), scale

    def evaluate(self, a, inputs: Sequence[Shape]) -> Eval:
        shape = inputs[0]
        outs, scale = self._axes(a, shape)
        if min(outs) <= 0:
            raise ShapeError(f"upsample would produce an empty output ({'x'.join(map(str, outs))})")
        mode = a["mode"]
        axis_mode = _AXIS_MODE.get(mode, mode)
        n, c = shape[0], shape[1]
        return Eval(
            shape=(n, c) + outs,
            macs={RESIZE: n * c * numel(outs) * _RESIZE_COST[mode]},
            rf=Transfer(tuple(_upsample_window(axis_mode, size, o, a["align_corners"], f)
                              for size, o, f in zip(shape[2:], outs, scale))),
        )

    def unit_spans(self, a, inputs, index, axis, span, window, out, precision="float32"):
        """The taps PyTorch's kernels read for each output unit of the span, with nonzero weight
        (``upsample_taps``), at the given precision (float32 for a float32 model)."""
        _, scale = self._axes(a, inputs[0])
        mode = _AXIS_MODE.get(a["mode"], a["mode"])
        return upsample_spans(mode, inputs[0][2 + axis], out[2 + axis], span,
                              a["align_corners"], scale[axis], precision)

    def describe(self, a, inputs) -> str:
        values, what = (a["size"], "size") if a["size"] is not None else (a["scale"], "scale_factor")
        shown = values[0] if len(set(values)) == 1 else tuple(values)
        s = f"Upsample({what}={shown}, mode='{a['mode']}'"
        if a["align_corners"] is not None:
            s += f", align_corners={a['align_corners']}"
        return s + ")"

    def memory(self, a, inputs, output, ctx: Context) -> OpMemory:
        """Saves nothing: its backward needs only the shapes."""
        return OpMemory()


class _ZeroPad(RankOp):
    """Zero padding of a feature map of spatial rank ``rank`` (torch.nn.ZeroPad1d/2d/3d): an int,
    one per axis, or [before, after] per axis."""

    @classmethod
    def schema(cls, rank: int) -> tuple[Param, ...]:
        return (Param("padding", padding_nd(rank)),)

    def validate(self, a: dict) -> None:
        if a["padding"] == "same":
            raise DefinitionError(f"{self.name}: 'same' is not a padding amount")

    def evaluate(self, a, inputs: Sequence[Shape]) -> Eval:
        shape = need_feature_map(self.name, inputs[0], self.rank)
        pad = a["padding"]
        return Eval(shape=shape[:2] + tuple(n + lo + hi for n, (lo, hi) in zip(shape[2:], pad)),
                    rf=Transfer(tuple(Window(1, 1, lo) for lo, _ in pad)))

    def describe(self, a, inputs) -> str:
        # PyTorch's order: the last axis first, (before, after) each: (left, right, top, bottom)
        flat = tuple(v for lo_hi in reversed(a["padding"]) for v in lo_hi)
        return f"{self.torch_name}({flat})"

    def memory(self, a, inputs, output, ctx: Context) -> OpMemory:
        """Saves nothing: its backward needs only the shapes."""
        return OpMemory()


ZeroPad1d, ZeroPad2d, ZeroPad3d = register_ranks(_ZeroPad, "zero_pad{r}d", "ZeroPad{r}d", {
    1: "pad a 1-D map with zeros: int or [[before, after]]",
    2: "pad with zeros: int, [h, w] or [[top, bottom], [left, right]]",
    3: "pad a 3-D map with zeros: int, [d, h, w] or [[before, after]] per axis"})


@register
class ChannelShuffle(Op):
    """ShuffleNet's channel shuffle (Zhang et al. 2018): reshape C into (groups, C/groups),
    transpose, flatten back."""

    name = "channel_shuffle"
    summary = "ShuffleNet channel shuffle"
    params = (Param("groups", positive_int),)

    def evaluate(self, a, inputs: Sequence[Shape]) -> Eval:
        shape = inputs[0]
        need_spatial(self.name, shape)
        if shape[1] % a["groups"]:
            raise ShapeError(f"channel_shuffle: {shape[1]} channels are not divisible by "
                             f"groups={a['groups']}")
        return Eval(shape=shape)

    def describe(self, a, inputs) -> str:
        return f"ChannelShuffle(groups={a['groups']})"

    def memory(self, a, inputs, output, ctx: Context) -> OpMemory:
        """view -> transpose -> reshape: the reshape copies (a view when groups or C / groups is
        1: the transpose then moves nothing); nothing saved."""
        c, g = inputs[0][1], a["groups"]
        if g == 1 or c // g == 1:
            return OpMemory(view_of=0, input_grads=(VIEW,))
        return OpMemory()


# -- slicing: one part of a tensor along one dimension ----------------------------------------------
def _slice_dim(op: str, dim: int, shape: Shape) -> int:
    """The dimension to slice, counted with the batch (1 = channels, then the spatial axes:
    2 = height, 3 = width of a 2-D map)."""
    rank = len(shape)
    d = dim + rank if dim < 0 else dim
    if not 1 <= d < rank:
        raise ShapeError(f"{op}: dim {dim} is out of range for input {fmt_shape(shape)} "
                         f"(1 .. {rank - 1}; the batch cannot be sliced)")
    return d


def _sliced(shape: Shape, dim: int, start: int, size: int, step: int = 1) -> Eval:
    """The Eval of taking ``size`` elements start, start+step, ... along ``dim``. Along a spatial
    axis of a feature map, output unit u reads input unit u*step + start: a window of 1 with
    stride ``step`` and padding ``-start`` (the receptive-field rule of a crop)."""
    out = list(shape)
    out[dim] = size
    rf = Transfer()
    if len(shape) >= 3 and dim >= 2:
        rf = on_axis(len(shape) - 2, dim - 2, Window(1, step, -start))
    return Eval(shape=tuple(out), rf=rf)


@register
class Slice(Op):
    """``x[:, start:end:step]`` along ``dim`` (default 1, the channels), with Python's slice
    semantics: negative ``start``/``end`` count from the end, both are clamped to [0, size], and
    ``end=none`` means the end. The output has len(range(start, end, step)) elements along ``dim``
    (an empty result is an error). Covers ONNX Slice and, one node per output, ONNX Split and
    Caffe Slice. Moves data only: zero operations of every kind."""

    name = "slice"
    summary = "x[:, start:end:step] along a dimension (default: channels)"
    params = (
        Param("start", any_int, doc="first index (negative: from the end)"),
        Param("end", optional(any_int), None, "index after the last (negative: from the end)"),
        Param("dim", any_int, 1, "1 = channels, 2.. = the spatial axes (2-D: 2 = height, 3 = width)"),
        Param("step", positive_int, 1),
    )

    def evaluate(self, a, inputs: Sequence[Shape]) -> Eval:
        shape = inputs[0]
        dim = _slice_dim(self.name, a["dim"], shape)
        start, stop, step = slice(a["start"], a["end"], a["step"]).indices(shape[dim])
        size = len(range(start, stop, step))
        if size == 0:
            raise ShapeError(f"slice: [{a['start']}:{'' if a['end'] is None else a['end']}] of "
                             f"dimension {dim} (size {shape[dim]}) of input {fmt_shape(shape)} "
                             "is empty")
        return _sliced(shape, dim, start, size, step)

    def describe(self, a, inputs) -> str:
        end = "None" if a["end"] is None else a["end"]
        step = f", step={a['step']}" if a["step"] != 1 else ""
        return f"Slice(dim={a['dim']}, start={a['start']}, end={end}{step})"

    def memory(self, a, inputs, output, ctx: Context) -> OpMemory:
        """A view; its backward makes a zero tensor of the input's shape (the gradient is
        new)."""
        return OpMemory(view_of=0)


@register
class Chunk(Op):
    """Part ``index`` of ``torch.chunk(x, chunks, dim)`` (ShuffleNet V2's channel split, Ma et al.
    2018, Fig. 3c). Like torch: every part has ceil(size / chunks) elements except a smaller last
    one, so there may be fewer than ``chunks`` parts (torch.chunk(x, 4) of 6 channels gives 2, 2,
    2); asking for a part that does not exist is an error. Moves data only: zero operations."""

    name = "chunk"
    summary = "one part of torch.chunk along a dimension (ShuffleNet V2 channel split)"
    params = (
        Param("chunks", positive_int, doc="number of parts"),
        Param("index", nonneg_int, doc="which part, from 0"),
        Param("dim", any_int, 1, "1 = channels, 2.. = the spatial axes (2-D: 2 = height, 3 = width)"),
    )

    def evaluate(self, a, inputs: Sequence[Shape]) -> Eval:
        shape = inputs[0]
        dim = _slice_dim(self.name, a["dim"], shape)
        total = shape[dim]
        part = -(-total // a["chunks"])                 # ceil(size / chunks), torch's rule
        parts = -(-total // part)                       # parts that exist
        if a["index"] >= parts:
            raise ShapeError(f"chunk: part {a['index']} does not exist: {total} elements in "
                             f"chunks of {part} make {parts} part(s) (dimension {dim} of "
                             f"input {fmt_shape(shape)})")
        start = a["index"] * part
        return _sliced(shape, dim, start, min(part, total - start))

    def describe(self, a, inputs) -> str:
        return f"Chunk(chunks={a['chunks']}, index={a['index']}, dim={a['dim']})"

    def memory(self, a, inputs, output, ctx: Context) -> OpMemory:
        """One part of torch.chunk: a view. Its backward fills the other parts with zeros and
        concatenates: the input's gradient is new, and the zero parts exist meanwhile."""
        return OpMemory(view_of=0, backward_temp=numel(inputs[0]) - numel(output))


@register
class PadShortcut(Op):
    """ResNet's option-A shortcut (He et al. 2016, §3.3 and §4.2): "the shortcut still performs
    identity mapping, with extra zero entries padded for increasing dimensions", and it subsamples
    by the stride of the block it bypasses. Output unit (c, y, x) is input unit
    (c - before, y*stride, x*stride) for the input's channels and zero for the added ones:

        H_out = ceil(H / stride),  W_out = ceil(W / stride)   (x[:, :, ::stride, ::stride])
        before = (out - C) // 2 zero channels in front, out - C - before behind

    (every spatial axis alike on 1-D and 3-D maps: x[:, :, ::stride] and x[:, :, ::s, ::s, ::s])

    (the zero channels split evenly around the input's, as in the widely used CIFAR reference
    implementation F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, planes // 4, planes // 4))). Where the
    zeros go changes no count. Data movement only: no parameters, no connections and zero
    operations of every kind."""

    name = "pad_shortcut"
    summary = "ResNet option-A shortcut: identity subsampled by stride, zero channels up to out"
    params = (
        Param("out", positive_int, doc="output channels (at least the input's)"),
        Param("stride", positive_int, 1, "spatial subsampling: keeps every stride-th row/column"),
    )

    def evaluate(self, a, inputs: Sequence[Shape]) -> Eval:
        shape = inputs[0]
        rank = need_spatial(self.name, shape)
        n, c = shape[0], shape[1]
        if a["out"] < c:
            raise ShapeError(f"pad_shortcut: out={a['out']} is fewer than the {c} input channels "
                             "(option A only adds zero channels)")
        s = a["stride"]
        return Eval(shape=(n, a["out"]) + tuple(-(-size // s) for size in shape[2:]),
                    rf=Transfer((Window(1, s, 0),) * rank))

    def describe(self, a, inputs) -> str:
        return f"PadShortcut({inputs[0][1]}, {a['out']}, stride={a['stride']})"

    def memory(self, a, inputs, output, ctx: Context) -> OpMemory:
        """Saves nothing: its backward needs only the shapes."""
        return OpMemory()
