"""Pooling: max/avg pooling and adaptive pooling of spatial rank 1, 2 and 3, global pooling of
any rank, and LeNet-5's trainable subsampling.

Conventions: pooling has no weights; its work (kind "pool", not counted by default) is one
operation per window element per output element: N * C * prod(out) * prod(k)
(2-D: N * C * H_out * W_out * k_h * k_w).
Output sizes follow PyTorch, including ceil_mode's rule that the last window must start inside the
input or the left padding (cnnstat.ops.base.window_out). ``rounding='caffe'`` follows Caffe's
Pooling layer instead (caffe_pool_out), which always rounds up.
"""

from __future__ import annotations

from fractions import Fraction
from functools import lru_cache
from math import prod
from typing import ClassVar, Sequence

from ..errors import DefinitionError, ShapeError
from ..memory.saved import LOWER, Context, OpMemory, Saved
from .axes import spatial_axes
from .base import Eval, Op, RankOp, register, register_ranks
from .kinds import POOL, WEIGHT
from .schema import (ArgumentError, Param, boolean, choice, nonneg_int, optional, per_axis,
                     positive_int, positive_pair)
from .shapes import (Shape, ceil_div, fmt_shape, need_feature_map, need_spatial, numel,
                     sliding_output)
from .transfer import GLOBAL, WHOLE, Transfer, Window, sliding_transfer


def _int_or_tuple(p) -> str:
    """How PyTorch's pooling modules print a size: one int when every axis has it."""
    return str(p[0]) if len(set(p)) == 1 else str(tuple(p))


_int_or_pair = _int_or_tuple


@lru_cache(maxsize=1024)
def _pairs(padding: tuple[int, ...]) -> tuple[tuple[int, int], ...]:
    return tuple((p, p) for p in padding)


def _pool_pads(a) -> tuple[tuple[int, int], ...]:
    return _pairs(a["padding"])


def _stride(a) -> tuple[int, ...]:
    return a["stride"] if a["stride"] is not None else a["kernel"]


def caffe_pool_out(size: int, kernel: int, stride: int, pad: int, padded: bool) -> int:
    """Output length of Caffe's Pooling layer (BVLC caffe, src/caffe/layers/pooling_layer.cpp,
    PoolingLayer::Reshape), which rounds up where PyTorch rounds down by default:

        out = ceil((size + 2*pad - kernel) / stride) + 1
        if the layer is padded (pad_h or pad_w non-zero) and (out - 1) * stride >= size + pad,
        out -= 1          ("ensure that the last pooling starts strictly inside the image")

    This is PyTorch's ceil_mode=True except that Caffe drops an overhanging last window only when
    the layer has padding: unpadded, with a kernel smaller than the stride, Caffe keeps one more
    output than PyTorch (e.g. size 5, kernel 1, stride 2: Caffe ceil(4/2)+1 = 3, PyTorch 3 too;
    size 6, kernel 1, stride 4: Caffe ceil(5/4)+1 = 3, PyTorch drops the window at 8 >= 6: 2).
    """
    out = -(-(size + 2 * pad - kernel) // stride) + 1
    if padded and (out - 1) * stride >= size + pad:
        out -= 1
    return out


class _WindowPool(RankOp):
    """Max or average pooling over windows of a feature map of spatial rank ``rank``."""

    #: PyTorch's 3-D average pooling requires every input side to hold the kernel, padding
    #: aside (aten's pool3d_shape_check with check_input_size)
    unpadded_fit: ClassVar[bool] = False

    def validate(self, a: dict) -> None:
        if a.get("rounding") == "caffe":
            # Caffe: CHECK_LT(pad_h_, kernel_h_); no dilation; it always rounds up by itself
            if a["ceil_mode"]:
                raise DefinitionError(f"{self.name}: rounding='caffe' already rounds up; "
                                      "leave ceil_mode false")
            if a.get("dilation", (1,) * self.rank) != (1,) * self.rank:
                raise DefinitionError(f"{self.name}: Caffe's pooling has no dilation")
            for k, p in zip(a["kernel"], a["padding"]):
                if p >= k:
                    raise DefinitionError(f"{self.name}: padding {p} must be smaller than the "
                                          f"kernel {k} (Caffe's rule)")
            return
        # PyTorch: "pad should be smaller than or equal to half of kernel size" (kW / 2, integer
        # division, on the kernel itself, not the dilated one)
        for k, p in zip(a["kernel"], a["padding"]):
            if p > k // 2:
                raise DefinitionError(f"{self.name}: padding {p} is more than half the kernel "
                                      f"size {k} (PyTorch rejects it)")

    def evaluate(self, a, inputs: Sequence[Shape]) -> Eval:
        shape = need_feature_map(self.name, inputs[0], self.rank)
        n, c = shape[0], shape[1]
        kernel = a["kernel"]
        dil = a.get("dilation") or (1,) * self.rank
        stride = _stride(a)
        if self.unpadded_fit and any(n < k for n, k in zip(shape[2:], kernel)):
            raise ShapeError(f"{self.name}: the input {fmt_shape(shape)} is smaller than the "
                             f"kernel {'x'.join(map(str, kernel))} (PyTorch's {self.torch_name} "
                             "needs every side to hold the kernel, whatever the padding)")
        pads = _pairs(a["padding"])
        if a.get("rounding") == "caffe":
            out = caffe_output(self.name, shape, kernel, stride, a["padding"])
        else:
            out = sliding_output(self.name, shape, kernel, stride, pads, dil, a["ceil_mode"])
        return Eval(
            shape=(n, c) + tuple(out),
            macs={POOL: n * c * prod(out) * prod(kernel)},
            rf=sliding_transfer(kernel, stride, pads, dil),
        )


def caffe_output(op: str, shape: Shape, kernel, stride, padding) -> tuple[int, ...]:
    padded = any(padding)
    out = tuple(caffe_pool_out(size, k, s, p, padded)
                for size, k, s, p in zip(shape[2:], kernel, stride, padding))
    if min(out) <= 0:
        raise ShapeError(f"{op}: the window {'x'.join(map(str, kernel))} is larger than the "
                         f"padded input {fmt_shape(shape)}: the input is too small for this layer")
    return out


_ROUNDING = Param("rounding", choice("torch", "caffe"), "torch",
                  "'caffe': Caffe's Pooling output size (always rounds up)")


def _rounding_note(a) -> str:
    return " [Caffe rounding]" if a.get("rounding") == "caffe" else ""


def _window_params(rank: int, *middle: Param) -> tuple[Param, ...]:
    """kernel, stride (default: the kernel), padding, the pool's own ``middle`` arguments, then
    Caffe's rounding for 2-D pools (Caffe pools 2-D maps only)."""
    return ((Param("kernel", per_axis(positive_int, rank)),
             Param("stride", optional(per_axis(positive_int, rank)), None,
                   "defaults to the kernel"),
             Param("padding", per_axis(nonneg_int, rank), 0)) + middle
            + ((_ROUNDING,) if rank == 2 else ()))


class _MaxPool(_WindowPool):
    @classmethod
    def schema(cls, rank: int) -> tuple[Param, ...]:
        return _window_params(rank, Param("dilation", per_axis(positive_int, rank), 1),
                              Param("ceil_mode", boolean, False))

    def describe(self, a, inputs) -> str:
        ceil = a["ceil_mode"] or a.get("rounding") == "caffe"
        return (f"{self.torch_name}(kernel_size={_int_or_tuple(a['kernel'])}, "
                f"stride={_int_or_tuple(_stride(a))}, padding={_int_or_tuple(a['padding'])}, "
                f"dilation={_int_or_tuple(a['dilation'])}, ceil_mode={ceil})" + _rounding_note(a))

    def memory(self, a, inputs, output, ctx: Context) -> OpMemory:
        """Saves its input and the argmax indices, int64, one per output element."""
        return OpMemory((Saved.input(0), Saved.new(numel(output), "int64", "indices")))


MaxPool1d, MaxPool2d, MaxPool3d = register_ranks(_MaxPool, "maxpool{r}d", "MaxPool{r}d", {
    r: f"{r}-D max pooling (stride defaults to the kernel; ceil_mode as in PyTorch)"
    for r in (1, 2, 3)})


class _AvgPool(_WindowPool):
    @classmethod
    def schema(cls, rank: int) -> tuple[Param, ...]:
        return _window_params(rank, Param("ceil_mode", boolean, False),
                              Param("count_include_pad", boolean, True))

    def describe(self, a, inputs) -> str:
        s = (f"{self.torch_name}(kernel_size={_int_or_tuple(a['kernel'])}, "
             f"stride={_int_or_tuple(_stride(a))}, padding={_int_or_tuple(a['padding'])}")
        if a["ceil_mode"] or a.get("rounding") == "caffe":
            s += ", ceil_mode=True"
        if not a["count_include_pad"]:
            s += ", count_include_pad=False"
        return s + ")" + _rounding_note(a)

    def memory(self, a, inputs, output, ctx: Context) -> OpMemory:
        """Saves its input (AvgPool2DBackward0 reads only its shape, but holds it)."""
        return OpMemory((Saved.input(0),))


AvgPool1d, AvgPool2d, AvgPool3d = register_ranks(
    _AvgPool, "avgpool{r}d", "AvgPool{r}d", {r: f"{r}-D average pooling" for r in (1, 2, 3)},
    unpadded_fit={3: True})


def adaptive_windows(size: int, out: int) -> tuple[int, int]:
    """(sum of window lengths, longest window) of PyTorch's adaptive pooling along one axis:
    window i spans [floor(i*size/out), ceil((i+1)*size/out))."""
    total = longest = 0
    for i in range(out):
        length = ceil_div((i + 1) * size, out) - (i * size) // out
        total += length
        longest = max(longest, length)
    return total, longest


def _adaptive_size(rank: int):
    names = spatial_axes(rank)

    def convert(value):
        if isinstance(value, (list, tuple)):
            if len(value) != rank:
                raise ArgumentError(f"must be one size or [{', '.join(names)}], got {list(value)!r}")
            out = tuple(None if v is None else positive_int(v) for v in value)
        else:
            out = (None if value is None else positive_int(value),) * rank
        if rank == 1 and out == (None,):    # PyTorch's 1-D adaptive pools take an int only
            raise ArgumentError("must be a length (none, keeping the input's, is for 2-D and 3-D "
                                "adaptive pooling)")
        return out
    return convert


class _AdaptivePool(RankOp):
    """Adaptive max or average pooling of a feature map of spatial rank ``rank``."""

    @classmethod
    def schema(cls, rank: int) -> tuple[Param, ...]:
        size = "s or [" + ", ".join(a[0] for a in spatial_axes(rank)) + "]"
        return (Param("output", _adaptive_size(rank), doc=f"output size: {size}"),)

    def evaluate(self, a, inputs: Sequence[Shape]) -> Eval:
        shape = need_feature_map(self.name, inputs[0], self.rank)
        n, c, sizes = shape[0], shape[1], shape[2:]
        outs = tuple(o or size for o, size in zip(a["output"], sizes))
        axes = []
        work = n * c
        for size, o in zip(sizes, outs):
            total, longest = adaptive_windows(size, o)
            work *= total
            if o == 1:
                axes.append(WHOLE)
            elif size % o == 0:
                axes.append(Window(size // o, size // o, 0))
            else:  # windows of unequal length [floor(i*r), ceil((i+1)*r)), r = size/o = p/q:
                # they start at or after i*r - (q-1)/q and end at or before i*r + r - 1/q, an
                # envelope of every window (inexact)
                r = Fraction(size, o)
                edge = 1 - Fraction(1, r.denominator)
                axes.append(Window(r + 2 * edge, r, edge, exact=False))
        return Eval(shape=(n, c) + outs, macs={POOL: work}, rf=Transfer(tuple(axes)))

    def unit_spans(self, a, inputs, index, axis, span, window, out, precision="float32"):
        """PyTorch's window of output o: [floor(o*size/out), ceil((o + 1)*size/out) - 1]; the
        windows of consecutive outputs touch or overlap, so a span reads one run."""
        size, o = inputs[0][2 + axis], out[2 + axis]
        return (((span[0] * size) // o, ceil_div((span[1] + 1) * size, o) - 1),)

    def describe(self, a, inputs) -> str:
        o = a["output"]
        shown = o[0] if len(set(o)) == 1 else str(tuple(o))
        return f"{self.torch_name}(output_size={shown})"

    def memory(self, a, inputs, output, ctx: Context) -> OpMemory:
        """Adaptive max pooling saves its input and the argmax indices (int64, one per output
        element); adaptive average pooling its input, or nothing to an output of one unit per
        axis (PyTorch then computes a mean)."""
        if self.name.startswith("adaptive_max"):
            return OpMemory((Saved.input(0), Saved.new(numel(output), "int64", "indices")))
        if all(s == 1 for s in output[2:]):
            return OpMemory()
        return OpMemory((Saved.input(0),))


AdaptiveAvgPool1d, AdaptiveAvgPool2d, AdaptiveAvgPool3d = register_ranks(
    _AdaptivePool, "adaptive_avgpool{r}d", "AdaptiveAvgPool{r}d",
    {r: f"adaptive average pooling of a {r}-D map to a fixed output size" for r in (1, 2, 3)})
AdaptiveMaxPool1d, AdaptiveMaxPool2d, AdaptiveMaxPool3d = register_ranks(
    _AdaptivePool, "adaptive_maxpool{r}d", "AdaptiveMaxPool{r}d",
    {r: f"adaptive max pooling of a {r}-D map to a fixed output size" for r in (1, 2, 3)})


class _GlobalPool(Op):
    """Global pooling over every spatial axis of a feature map of any rank: (N, C, L),
    (N, C, H, W) or (N, C, D, H, W) → N x C x 1 [x 1 [x 1]] (keepdim) or N x C."""

    kind: ClassVar[str] = ""
    params = (Param("keepdim", boolean, True),)

    def evaluate(self, a, inputs: Sequence[Shape]) -> Eval:
        shape = inputs[0]
        rank = need_spatial(self.name, shape)
        n, c = shape[0], shape[1]
        out = (n, c) + (1,) * rank if a["keepdim"] else (n, c)
        return Eval(shape=out, macs={POOL: numel(shape)}, rf=GLOBAL)

    def describe(self, a, inputs) -> str:
        rank = len(inputs[0]) - 2
        if a["keepdim"]:
            return f"Adaptive{self.kind.capitalize()}Pool{rank}d(output_size=1)"
        dims = tuple(range(2, 2 + rank))
        return f"{'Mean' if self.kind == 'avg' else 'Amax'}(dim={dims})"


@register
class GlobalAvgPool(_GlobalPool):
    name, kind = "global_avgpool", "avg"
    summary = "mean over every spatial axis (keepdim: N x C x 1 [x 1 x 1], else N x C)"

    def memory(self, a, inputs, output, ctx: Context) -> OpMemory:
        """A mean over the spatial axes: saves nothing (its backward needs only the shape)."""
        return OpMemory()


@register
class GlobalMaxPool(_GlobalPool):
    name, kind = "global_maxpool", "max"
    summary = "max over every spatial axis (keepdim: N x C x 1 [x 1 x 1], else N x C)"

    def memory(self, a, inputs, output, ctx: Context) -> OpMemory:
        """keepdim: AdaptiveMaxPool2d(1), input and int64 indices; else amax, input and
        output."""
        if a["keepdim"]:
            return OpMemory((Saved.input(0), Saved.new(numel(output), "int64", "indices")))
        return OpMemory((Saved.input(0), Saved.output()))


@register
class Subsample(Op):
    """LeNet-5's subsampling layers S2 and S4 (LeCun et al. 1998, §II-B): the k x k inputs of each
    window are added, multiplied by one trainable coefficient per map and a trainable bias per map
    is added. Counted as the depthwise convolution with a tied k x k kernel that computes it:
    N * C * H_out * W_out * k_h * k_w weight MACs; connections C*H_out*W_out*(k_h*k_w + 1)
    (S2: 6*14*14*5 = 5,880)."""

    name = "subsample"
    summary = "LeNet-5 trainable subsampling: window sum x coefficient + bias, per map"
    params = (
        Param("kernel", positive_pair),
        Param("stride", optional(positive_pair), None, "defaults to the kernel"),
        Param("bias", boolean, True),
    )

    def evaluate(self, a, inputs: Sequence[Shape]) -> Eval:
        n, c, h, w = need_feature_map(self.name, inputs[0], 2)
        kh, kw = a["kernel"]
        stride = _stride(a)
        ho, wo = sliding_output(self.name, inputs[0], a["kernel"], stride, ((0, 0), (0, 0)))
        bias = 1 if a["bias"] else 0
        return Eval(
            shape=(n, c, ho, wo),
            params=c * (1 + bias),
            connections=c * ho * wo * (kh * kw + bias),
            macs={WEIGHT: n * c * ho * wo * kh * kw},
            rf=Transfer.window(a["kernel"], stride, (0, 0)),
        )

    def describe(self, a, inputs) -> str:
        return (f"Subsample({inputs[0][1]}, kernel_size={_int_or_pair(a['kernel'])}, "
                f"stride={_int_or_pair(_stride(a))})")

    def memory(self, a, inputs, output, ctx: Context) -> OpMemory:
        """A depthwise convolution with one tied coefficient per map: saves its input (and the
        expanded weight, C x k x k: under autocast a low-precision copy)."""
        c = inputs[0][1]
        return OpMemory((Saved.input(0),), autocast=LOWER, cast_params=c * prod(a["kernel"]),
                        cached_params=c if a["bias"] else 0)
