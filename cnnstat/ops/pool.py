"""Pooling: max/avg pooling, adaptive and global pooling, and LeNet-5's trainable subsampling.

Conventions: pooling has no weights; its work (kind "pool", not counted by default) is one
operation per window element per output element: N * C * H_out * W_out * k_h * k_w.
Output sizes follow PyTorch, including ceil_mode's rule that the last window must start inside the
input or the left padding (cnnstat.ops.base.window_out). ``rounding='caffe'`` follows Caffe's
Pooling layer instead (caffe_pool_out), which always rounds up.
"""

from __future__ import annotations

from fractions import Fraction
from math import prod
from typing import Sequence

from ..errors import DefinitionError, ShapeError
from ..memory.saved import LOWER, Context, OpMemory, Saved
from .base import (POOL, ArgumentError, WEIGHT, WHOLE, Eval, Op, Param, Shape, Transfer, Window, boolean,
                   ceil_div, choice, fmt_shape, need_feature_map, nonneg_pair, optional,
                   numel, positive_int, positive_pair, register, sliding_output)


def _int_or_pair(p) -> str:
    return str(p[0]) if p[0] == p[1] else f"({p[0]}, {p[1]})"


def _pool_pads(a) -> tuple[tuple[int, int], tuple[int, int]]:
    ph, pw = a["padding"]
    return ((ph, ph), (pw, pw))


def _stride(a) -> tuple[int, int]:
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


class _WindowPool(Op):
    kind = ""

    def validate(self, a: dict) -> None:
        if a.get("rounding") == "caffe":
            # Caffe: CHECK_LT(pad_h_, kernel_h_); no dilation; it always rounds up by itself
            if a["ceil_mode"]:
                raise DefinitionError(f"{self.name}: rounding='caffe' already rounds up; "
                                      "leave ceil_mode false")
            if a.get("dilation", (1, 1)) != (1, 1):
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
        n, c, h, w = need_feature_map(self.name, inputs[0])
        kh, kw = a["kernel"]
        dil = a.get("dilation", (1, 1))
        stride = _stride(a)
        if a.get("rounding") == "caffe":
            ho, wo = caffe_output(self.name, inputs[0], a["kernel"], stride, a["padding"])
        else:
            ho, wo = sliding_output(self.name, inputs[0], a["kernel"], stride, _pool_pads(a), dil,
                                    a["ceil_mode"])
        return Eval(
            shape=(n, c, ho, wo),
            macs={POOL: n * c * ho * wo * kh * kw},
            rf=Transfer.window((dil[0] * (kh - 1) + 1, dil[1] * (kw - 1) + 1), stride, a["padding"],
                               dilation=dil),
        )


def caffe_output(op: str, shape: Shape, kernel, stride, padding) -> tuple[int, int]:
    _, _, h, w = shape
    padded = padding != (0, 0)
    out = tuple(caffe_pool_out(size, k, s, p, padded)
                for size, k, s, p in zip((h, w), kernel, stride, padding))
    if min(out) <= 0:
        raise ShapeError(f"{op}: the window {kernel[0]}x{kernel[1]} is larger than the padded "
                         f"input {fmt_shape(shape)}: the input is too small for this layer")
    return out


_ROUNDING = Param("rounding", choice("torch", "caffe"), "torch",
                  "'caffe': Caffe's Pooling output size (always rounds up)")


def _rounding_note(a) -> str:
    return " [Caffe rounding]" if a.get("rounding") == "caffe" else ""


@register
class MaxPool2d(_WindowPool):
    name = "maxpool2d"
    summary = "2-D max pooling (stride defaults to the kernel; ceil_mode as in PyTorch)"
    params = (
        Param("kernel", positive_pair),
        Param("stride", optional(positive_pair), None, "defaults to the kernel"),
        Param("padding", nonneg_pair, 0),
        Param("dilation", positive_pair, 1),
        Param("ceil_mode", boolean, False),
        _ROUNDING,
    )

    def describe(self, a, inputs) -> str:
        ceil = a["ceil_mode"] or a["rounding"] == "caffe"
        return (f"MaxPool2d(kernel_size={_int_or_pair(a['kernel'])}, "
                f"stride={_int_or_pair(_stride(a))}, padding={_int_or_pair(a['padding'])}, "
                f"dilation={_int_or_pair(a['dilation'])}, ceil_mode={ceil})" + _rounding_note(a))

    def memory(self, a, inputs, output, ctx: Context) -> OpMemory:
        """Saves its input and the argmax indices, int64, one per output element."""
        return OpMemory((Saved.input(0), Saved.new(numel(output), "int64", "indices")))


@register
class AvgPool2d(_WindowPool):
    name = "avgpool2d"
    summary = "2-D average pooling"
    params = (
        Param("kernel", positive_pair),
        Param("stride", optional(positive_pair), None, "defaults to the kernel"),
        Param("padding", nonneg_pair, 0),
        Param("ceil_mode", boolean, False),
        Param("count_include_pad", boolean, True),
        _ROUNDING,
    )

    def describe(self, a, inputs) -> str:
        s = (f"AvgPool2d(kernel_size={_int_or_pair(a['kernel'])}, "
             f"stride={_int_or_pair(_stride(a))}, padding={_int_or_pair(a['padding'])}")
        if a["ceil_mode"] or a["rounding"] == "caffe":
            s += ", ceil_mode=True"
        if not a["count_include_pad"]:
            s += ", count_include_pad=False"
        return s + ")" + _rounding_note(a)

    def memory(self, a, inputs, output, ctx: Context) -> OpMemory:
        """Saves its input (AvgPool2DBackward0 reads only its shape, but holds it)."""
        return OpMemory((Saved.input(0),))


def adaptive_windows(size: int, out: int) -> tuple[int, int]:
    """(sum of window lengths, longest window) of PyTorch's adaptive pooling along one axis:
    window i spans [floor(i*size/out), ceil((i+1)*size/out))."""
    total = longest = 0
    for i in range(out):
        length = ceil_div((i + 1) * size, out) - (i * size) // out
        total += length
        longest = max(longest, length)
    return total, longest


def _adaptive_size(value):
    if value is None:
        return (None, None)
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise ArgumentError(f"must be one size or [height, width], got {list(value)!r}")
        return tuple(None if v is None else positive_int(v) for v in value)
    v = positive_int(value)
    return (v, v)


class _AdaptivePool(Op):
    torch_name = ""

    def evaluate(self, a, inputs: Sequence[Shape]) -> Eval:
        n, c, h, w = need_feature_map(self.name, inputs[0])
        oh = a["output"][0] or h
        ow = a["output"][1] or w
        axes = []
        work = n * c
        for size, o in ((h, oh), (w, ow)):
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
        return Eval(shape=(n, c, oh, ow), macs={POOL: work}, rf=Transfer(axes[0], axes[1]))

    def unit_spans(self, a, inputs, index, axis, span, window, out, precision="float32"):
        """PyTorch's window of output o: [floor(o*size/out), ceil((o + 1)*size/out) - 1]; the
        windows of consecutive outputs touch or overlap, so a span reads one run."""
        size, o = inputs[0][2 + axis], out[2 + axis]
        return (((span[0] * size) // o, ceil_div((span[1] + 1) * size, o) - 1),)

    def describe(self, a, inputs) -> str:
        o = a["output"]
        shown = o[0] if o[0] == o[1] else f"({o[0]}, {o[1]})"
        return f"{self.torch_name}(output_size={shown})"


@register
class AdaptiveAvgPool2d(_AdaptivePool):
    name = "adaptive_avgpool2d"
    torch_name = "AdaptiveAvgPool2d"
    summary = "adaptive average pooling to a fixed output size"
    params = (Param("output", _adaptive_size, doc="output size: s or [h, w]"),)

    def memory(self, a, inputs, output, ctx: Context) -> OpMemory:
        """Saves its input; to a 1 x 1 output PyTorch computes a mean, which saves nothing."""
        if all(s == 1 for s in output[2:]):
            return OpMemory()
        return OpMemory((Saved.input(0),))


@register
class AdaptiveMaxPool2d(_AdaptivePool):
    name = "adaptive_maxpool2d"
    torch_name = "AdaptiveMaxPool2d"
    summary = "adaptive max pooling to a fixed output size"
    params = (Param("output", _adaptive_size),)

    def memory(self, a, inputs, output, ctx: Context) -> OpMemory:
        """Saves its input and the argmax indices, int64, one per output element."""
        return OpMemory((Saved.input(0), Saved.new(numel(output), "int64", "indices")))


class _GlobalPool(Op):
    torch_name = ""

    def evaluate(self, a, inputs: Sequence[Shape]) -> Eval:
        n, c, h, w = need_feature_map(self.name, inputs[0])
        shape = (n, c, 1, 1) if a["keepdim"] else (n, c)
        return Eval(shape=shape, macs={POOL: n * c * h * w}, rf=Transfer(WHOLE, WHOLE))

    def describe(self, a, inputs) -> str:
        if a["keepdim"]:
            return f"{self.torch_name}(output_size=1)"
        return f"{'Mean' if 'Avg' in self.torch_name else 'Amax'}(dim=(2, 3))"


@register
class GlobalAvgPool(_GlobalPool):
    name = "global_avgpool"
    torch_name = "AdaptiveAvgPool2d"
    summary = "mean over H and W (keepdim: N x C x 1 x 1, else N x C)"
    params = (Param("keepdim", boolean, True),)

    def memory(self, a, inputs, output, ctx: Context) -> OpMemory:
        """A mean over the spatial axes: saves nothing (its backward needs only the shape)."""
        return OpMemory()


@register
class GlobalMaxPool(_GlobalPool):
    name = "global_maxpool"
    torch_name = "AdaptiveMaxPool2d"
    summary = "max over H and W (keepdim: N x C x 1 x 1, else N x C)"
    params = (Param("keepdim", boolean, True),)

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
        n, c, h, w = need_feature_map(self.name, inputs[0])
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
