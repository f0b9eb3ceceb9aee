"""The torch module of every cnnstat operator: ``MODULES[op](attrs, input_shapes) -> nn.Module``.

An operator that is a torch.nn module taking its arguments as keywords declares it beside its rule
(``Op.torch``, a cnnstat.ops.base.TorchModule): its factory is derived here (``declared``), none
is written. The others have a factory below. Each factory builds the standard PyTorch module where one exists, so the running model is what a
PyTorch user would write and third-party counters (fvcore, FlopCounterMode) see the usual aten ops.
cnnstat-specific operators (LeNet-5's partial connections, subsampling and RBF units, U-Net's
crop-and-concatenate, merges) are small modules defined here. Every registered operator must have
an entry (a test checks).
"""

from __future__ import annotations

import functools
import operator
from typing import Any, Callable, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

Factory = Callable[[Mapping[str, Any], Sequence[tuple[int, ...]]], nn.Module]
MODULES: dict[str, Factory] = {}


def module_for(*names: str):
    def register(fn: Factory) -> Factory:
        for name in names:
            if name in MODULES:
                raise RuntimeError(f"torch module for '{name}' is registered twice")
            MODULES[name] = fn
        return fn
    return register


#: the torch module class of each spatial rank
CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
CONV_TRANSPOSE = {1: nn.ConvTranspose1d, 2: nn.ConvTranspose2d, 3: nn.ConvTranspose3d}
MAX_POOL = {1: nn.MaxPool1d, 2: nn.MaxPool2d, 3: nn.MaxPool3d}
AVG_POOL = {1: nn.AvgPool1d, 2: nn.AvgPool2d, 3: nn.AvgPool3d}
ADAPTIVE_AVG = {1: nn.AdaptiveAvgPool1d, 2: nn.AdaptiveAvgPool2d, 3: nn.AdaptiveAvgPool3d}
ADAPTIVE_MAX = {1: nn.AdaptiveMaxPool1d, 2: nn.AdaptiveMaxPool2d, 3: nn.AdaptiveMaxPool3d}
BATCH_NORM = {1: nn.BatchNorm1d, 2: nn.BatchNorm2d, 3: nn.BatchNorm3d}
ZERO_PAD = {1: nn.ZeroPad1d, 2: nn.ZeroPad2d, 3: nn.ZeroPad3d}


def _torch_pad(pad) -> tuple[int, ...]:
    """Per-axis (before, after) pairs in F.pad's order: the last axis first."""
    return tuple(v for lo_hi in reversed(pad) for v in lo_hi)


# -- convolutions ---------------------------------------------------------------------------------
def _conv_padding(a) -> tuple[Any, tuple[int, ...] | None]:
    """(padding for nn.ConvNd, extra ZeroPadNd padding (F.pad order) for asymmetric padding or
    None)."""
    pad = a["padding"]
    if pad == "same":
        return "same", None
    if all(lo == hi for lo, hi in pad):
        return tuple(lo for lo, _ in pad), None
    return 0, _torch_pad(pad)


def _conv(a, shapes):
    rank = len(a["kernel"])
    padding, extra = _conv_padding(a)
    if extra is not None and a["padding_mode"] != "zeros":
        raise ValueError("asymmetric padding is only supported with padding_mode='zeros'")
    conv = CONV[rank](shapes[0][1], a["out"], a["kernel"], stride=a["stride"], padding=padding,
                      dilation=a["dilation"], groups=a["groups"], bias=a["bias"],
                      padding_mode=a["padding_mode"])
    return conv if extra is None else nn.Sequential(ZERO_PAD[rank](extra), conv)


def _conv_transpose(a, shapes):
    return CONV_TRANSPOSE[len(a["kernel"])](
        shapes[0][1], a["out"], a["kernel"], stride=a["stride"], padding=a["padding"],
        output_padding=a["output_padding"], groups=a["groups"], bias=a["bias"],
        dilation=a["dilation"])


for _rank in (1, 2, 3):
    module_for(f"conv{_rank}d")(_conv)
    module_for(f"conv_transpose{_rank}d")(_conv_transpose)


class PartialConv2d(nn.Module):
    """LeNet-5 C3: output map j is a convolution over the input maps table[j] only. One small
    Conv2d per output map, so parameters are exactly sum_j |table[j]| * k_h * k_w (+ 1 bias)."""

    def __init__(self, table, kernel, stride, padding, bias):
        super().__init__()
        self.table = [list(row) for row in table]
        self.convs = nn.ModuleList(nn.Conv2d(len(row), 1, kernel, stride=stride, padding=padding,
                                             bias=bias) for row in table)

    def forward(self, x):
        return torch.cat([conv(x[:, row]) for conv, row in zip(self.convs, self.table)], dim=1)


@module_for("partial_conv2d")
def _partial_conv2d(a, shapes):
    return PartialConv2d(a["table"], a["kernel"], a["stride"], a["padding"], a["bias"])


# -- pooling --------------------------------------------------------------------------------------
def _stride(a):
    return a["stride"] if a["stride"] is not None else a["kernel"]


@module_for("maxpool1d", "maxpool2d", "maxpool3d")
def _maxpool(a, shapes):
    return MAX_POOL[len(a["kernel"])](a["kernel"], stride=_stride(a), padding=a["padding"],
                                      dilation=a["dilation"], ceil_mode=_ceil_mode(a, shapes))


def _ceil_mode(a, shapes) -> bool:
    """Caffe's rounding is PyTorch's ceil_mode, except where Caffe keeps a last window that starts
    outside an unpadded input (kernel smaller than stride) or pads more than half the kernel."""
    if a.get("rounding") != "caffe":
        return a["ceil_mode"]
    from ..ops.shapes import window_out
    from ..ops.pool import caffe_pool_out
    padded = any(a["padding"])
    for size, k, s, p in zip(shapes[0][2:], a["kernel"], _stride(a), a["padding"]):
        if p > k // 2 or caffe_pool_out(size, k, s, p, padded) != window_out(size, k, s, p, p, 1, True):
            raise ValueError("this Caffe pooling (kernel, stride, padding) has no PyTorch "
                             "equivalent: Caffe keeps an output PyTorch's ceil_mode drops")
    return True


@module_for("avgpool1d", "avgpool2d", "avgpool3d")
def _avgpool(a, shapes):
    # Caffe's AVE divides by the window clipped to the padded input, as count_include_pad=True
    return AVG_POOL[len(a["kernel"])](a["kernel"], stride=_stride(a), padding=a["padding"],
                                      ceil_mode=_ceil_mode(a, shapes),
                                      count_include_pad=a["count_include_pad"])


@module_for("adaptive_avgpool1d", "adaptive_avgpool2d", "adaptive_avgpool3d")
def _adaptive_avg(a, shapes):
    output = a["output"]
    return ADAPTIVE_AVG[len(output)](output[0] if len(output) == 1 else output)


@module_for("adaptive_maxpool1d", "adaptive_maxpool2d", "adaptive_maxpool3d")
def _adaptive_max(a, shapes):
    output = a["output"]
    return ADAPTIVE_MAX[len(output)](output[0] if len(output) == 1 else output)


class GlobalPool(nn.Module):
    """Mean or max over every spatial axis (dims 2, 3, ...), without keeping them."""

    def __init__(self, kind: str, keepdim: bool):
        super().__init__()
        self.kind, self.keepdim = kind, keepdim

    def forward(self, x):
        dims = tuple(range(2, x.dim()))
        if self.kind == "avg":
            return x.mean(dim=dims, keepdim=self.keepdim)
        return x.amax(dim=dims, keepdim=self.keepdim)


@module_for("global_avgpool")
def _global_avg(a, shapes):
    return ADAPTIVE_AVG[len(shapes[0]) - 2](1) if a["keepdim"] else GlobalPool("avg", False)


@module_for("global_maxpool")
def _global_max(a, shapes):
    return ADAPTIVE_MAX[len(shapes[0]) - 2](1) if a["keepdim"] else GlobalPool("max", False)


class Subsample(nn.Module):
    """LeNet-5 S2/S4: (sum of a k×k window) × coefficient + bias, per map. Computed as a depthwise
    convolution whose k×k kernel is the map's single coefficient repeated (tied weights)."""

    def __init__(self, channels, kernel, stride, bias):
        super().__init__()
        self.kernel, self.stride = tuple(kernel), tuple(stride)
        self.coefficient = nn.Parameter(torch.rand(channels) + 0.5)
        self.bias = nn.Parameter(torch.zeros(channels)) if bias else None

    def forward(self, x):
        c = x.shape[1]
        weight = self.coefficient.view(c, 1, 1, 1).expand(c, 1, *self.kernel)
        return F.conv2d(x, weight, self.bias, stride=self.stride, groups=c)


@module_for("subsample")
def _subsample(a, shapes):
    return Subsample(shapes[0][1], a["kernel"], _stride(a), a["bias"])


# -- normalization ----------------------------------------------------------------------------------
@module_for("batchnorm1d", "batchnorm2d", "batchnorm3d")
def _batchnorm(a, shapes):
    rank = max(1, len(shapes[0]) - 2)              # batchnorm1d: N x F or N x C x L
    return BATCH_NORM[rank](shapes[0][1], eps=a["eps"], momentum=a["momentum"], affine=a["affine"],
                            track_running_stats=a["track_running_stats"])


@module_for("lrn")
def _lrn(a, shapes):
    return nn.LocalResponseNorm(a["size"], alpha=a["alpha"], beta=a["beta"], k=a["k"])


# -- activations (the others are declared beside their rules: Op.torch) ----------------------------
# -- linear and shape plumbing --------------------------------------------------------------------
@module_for("linear")
def _linear(a, shapes):
    return nn.Linear(shapes[0][-1], a["out"], bias=a["bias"])


class RBF(nn.Module):
    """LeNet-5's output: y_i = sum_j (x_j - w_ij)^2 with fixed prototypes w (not trained).
    Expanded as |x|^2 - 2 x.w_i + |w_i|^2 so the out*in multiply-adds run as one matmul."""

    def __init__(self, n_in, n_out):
        super().__init__()
        self.prototypes = nn.Parameter(torch.sign(torch.randn(n_out, n_in)), requires_grad=False)

    def forward(self, x):
        w = self.prototypes
        return (x * x).sum(1, keepdim=True) - 2 * x @ w.t() + (w * w).sum(1)


@module_for("rbf")
def _rbf(a, shapes):
    return RBF(shapes[0][-1], a["out"])


class Reshape(nn.Module):
    def __init__(self, shape):
        super().__init__()
        self.shape = tuple(shape)

    def forward(self, x):
        return x.reshape(x.shape[0], *self.shape)

    def extra_repr(self) -> str:
        return str(self.shape)


@module_for("reshape")
def _reshape(a, shapes):
    return Reshape(a["shape"])


@module_for("upsample")
def _upsample(a, shapes):
    """nn.Upsample with one scale (size) for every axis, or one per axis (spread if given once)."""
    def spread(values):
        if values is None:
            return None
        return values[0] if len(set(values)) == 1 else tuple(values)
    return nn.Upsample(size=spread(a["size"]), scale_factor=spread(a["scale"]), mode=a["mode"],
                       align_corners=a["align_corners"])


@module_for("zero_pad1d", "zero_pad2d", "zero_pad3d")
def _zero_pad(a, shapes):
    return ZERO_PAD[len(a["padding"])](_torch_pad(a["padding"]))


class PadShortcut(nn.Module):
    """ResNet option A (He et al. 2016, §4.2): x[:, :, ::stride, ::stride] with zero channels
    added up to ``out``, (out - C) // 2 in front and the rest behind."""

    def __init__(self, c_in: int, out: int, stride: int):
        super().__init__()
        self.c_in, self.out, self.stride = c_in, out, stride

    def forward(self, x):
        before = (self.out - self.c_in) // 2
        after = self.out - self.c_in - before
        spatial = x.dim() - 2
        x = x[(slice(None), slice(None)) + (slice(None, None, self.stride),) * spatial]
        return F.pad(x, (0, 0) * spatial + (before, after))

    def extra_repr(self) -> str:
        return f"{self.c_in}, {self.out}, stride={self.stride}"


@module_for("pad_shortcut")
def _pad_shortcut(a, shapes):
    if a["out"] < shapes[0][1]:      # F.pad would crop channels instead: not option A
        raise ValueError(f"pad_shortcut: out={a['out']} is fewer than {shapes[0][1]} channels")
    return PadShortcut(shapes[0][1], a["out"], a["stride"])


class ChannelShuffle(nn.Module):
    """ShuffleNet (Zhang et al. 2018): view C as (groups, C/groups), transpose, flatten."""

    def __init__(self, groups):
        super().__init__()
        self.groups = groups

    def forward(self, x):
        n, c, *spatial = x.shape
        return (x.view(n, self.groups, c // self.groups, *spatial).transpose(1, 2)
                .reshape(n, c, *spatial))


@module_for("channel_shuffle")
def _shuffle(a, shapes):
    return ChannelShuffle(a["groups"])


class Slice(nn.Module):
    """x[:, start:end:step] along ``dim`` (ONNX Slice; one output of ONNX Split / Caffe Slice)."""

    def __init__(self, start: int, end: int | None, dim: int, step: int):
        super().__init__()
        self.start, self.end, self.dim, self.step = start, end, dim, step

    def forward(self, x):
        index = [slice(None)] * x.dim()
        index[self.dim] = slice(self.start, self.end, self.step)
        return x[tuple(index)]

    def extra_repr(self) -> str:
        return f"dim={self.dim}, start={self.start}, end={self.end}, step={self.step}"


@module_for("slice")
def _slice(a, shapes):
    return Slice(a["start"], a["end"], a["dim"], a["step"])


class Chunk(nn.Module):
    """Part ``index`` of torch.chunk(x, chunks, dim) (ShuffleNet V2's channel split)."""

    def __init__(self, chunks: int, index: int, dim: int):
        super().__init__()
        self.chunks, self.index, self.dim = chunks, index, dim

    def forward(self, x):
        return x.chunk(self.chunks, dim=self.dim)[self.index]

    def extra_repr(self) -> str:
        return f"chunks={self.chunks}, index={self.index}, dim={self.dim}"


@module_for("chunk")
def _chunk(a, shapes):
    return Chunk(a["chunks"], a["index"], a["dim"])


# -- merges ---------------------------------------------------------------------------------------
class _Fold(nn.Module):
    """Its inputs combined left to right, ((x0 ∘ x1) ∘ x2) ..., by ``combine``."""
    combine = staticmethod(operator.add)

    def forward(self, *xs):
        out = xs[0]
        for x in xs[1:]:
            out = self.combine(out, x)
        return out


class Add(_Fold):
    combine = staticmethod(operator.add)


class Multiply(_Fold):
    combine = staticmethod(operator.mul)


class Concat(nn.Module):
    """torch.cat along ``dim``; with ``crop='center'`` every input is first center-cropped to the
    smallest size along each spatial axis (U-Net's crop-and-concatenate, in 2-D and 3-D)."""

    def __init__(self, dim: int, crop: str | None):
        super().__init__()
        self.dim, self.crop = dim, crop

    def forward(self, *xs):
        if self.crop:
            sizes = [min(x.shape[i] for x in xs) for i in range(2, xs[0].dim())]
            xs = tuple(x[(slice(None), slice(None)) + tuple(
                slice((x.shape[i + 2] - n) // 2, (x.shape[i + 2] - n) // 2 + n)
                for i, n in enumerate(sizes))] for x in xs)
        return torch.cat(xs, dim=self.dim)


@module_for("add")
def _add(a, shapes):
    return Add()


@module_for("multiply")
def _mul(a, shapes):
    return Multiply()


@module_for("concat")
def _concat(a, shapes):
    return Concat(a["dim"], a["crop"])


class Maximum(_Fold):
    combine = staticmethod(torch.maximum)


@module_for("maximum")
def _maximum(a, shapes):
    return Maximum()


# -- imported models: layer norms, scale, stochastic depth, matmul, calls without a rule -------------
@module_for("layernorm")
def _layernorm(a, shapes):
    return nn.LayerNorm(shapes[0][len(shapes[0]) - a["dims"]:], eps=a["eps"],
                        elementwise_affine=a["affine"], bias=a["bias"])


class LayerNorm2d(nn.LayerNorm):
    """torchvision's ConvNeXt LayerNorm2d: LayerNorm over the channels at every position."""

    def forward(self, x):
        x = x.permute(0, 2, 3, 1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


@module_for("layernorm2d")
def _layernorm2d(a, shapes):
    return LayerNorm2d(shapes[0][1], eps=a["eps"], elementwise_affine=a["affine"], bias=a["bias"])


class Scale(nn.Module):
    """Caffe's Scale layer (axis 1): a learned multiplier per channel, and a learned bias."""

    def __init__(self, channels: int, bias: bool):
        super().__init__()
        self.weight = nn.Parameter(torch.rand(channels) + 0.5)
        self.bias = nn.Parameter(torch.zeros(channels)) if bias else None

    def forward(self, x):
        view = (1, -1) + (1,) * (x.dim() - 2)
        out = x * self.weight.view(view)
        return out if self.bias is None else out + self.bias.view(view)


@module_for("scale")
def _scale(a, shapes):
    return Scale(shapes[0][1], a["bias"])


class ChannelLinear(nn.Linear):
    """nn.Linear over the channels of an N x C x H x W map (permute, Linear, permute back)."""

    def forward(self, x):
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


@module_for("channel_linear")
def _channel_linear(a, shapes):
    return ChannelLinear(shapes[0][1], a["out"], bias=a["bias"])


@module_for("stochastic_depth")
def _stochastic_depth(a, shapes):
    from torchvision.ops import StochasticDepth
    return StochasticDepth(a["p"], a["mode"])


class MatMul(nn.Module):
    def forward(self, x, y):
        return torch.matmul(x, y)


@module_for("matmul")
def _matmul(a, shapes):
    return MatMul()


class NotCounted(nn.Module):
    """Stand-in for an imported call cnnstat has no rule for: it holds as many parameters and
    buffers as the source model does for that call and returns zeros of its output shape, so a
    graph that contains one still runs; what the real call computes is not reproduced."""

    def __init__(self, what: str, shape, params: int, buffers: int):
        super().__init__()
        self.what, self.shape = what, tuple(shape)
        self.weight = nn.Parameter(torch.zeros(params)) if params else None
        if buffers:
            self.register_buffer("state", torch.zeros(buffers))

    def forward(self, *xs):
        return xs[0].new_zeros((xs[0].shape[0],) + self.shape)

    def extra_repr(self) -> str:
        return f"{self.what!r}, output={self.shape}"


@module_for("not_counted")
def _not_counted(a, shapes):
    return NotCounted(a["what"], a["shape"], a["params"], a["buffers"])


# -- rank-generic rules of imported models (cnnstat/ops/tensor.py) --------------------------------
class _Holds(nn.Module):
    """Holds ``params`` parameters and ``buffers`` buffer values, as the layer it stands for."""

    def __init__(self, params: int = 0, buffers: int = 0):
        super().__init__()
        self.held = nn.Parameter(torch.zeros(params)) if params else None
        if buffers:
            self.register_buffer("state", torch.zeros(buffers))


class Attention(_Holds):
    """``F.scaled_dot_product_attention`` itself, the call the ``attention`` operator stands for
    (its kernel decides what autograd saves: cnnstat.ops.tensor.Attention.memory); the
    FlopCounterMode oracle counts the CPU flash kernel with its own formula (tests/oracle.py)."""

    def forward(self, q, k, v, mask=None):
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)


@module_for("attention")
def _attention(a, shapes):
    return Attention(a["params"], a["buffers"])


class MultiheadAttention(nn.Module):
    """nn.MultiheadAttention's arithmetic with separate projections, the attention written out."""

    def __init__(self, embed: int, heads: int, kdim: int, vdim: int, bias: bool):
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(embed, embed, bias=bias)
        self.k = nn.Linear(kdim, embed, bias=bias)
        self.v = nn.Linear(vdim, embed, bias=bias)
        self.out = nn.Linear(embed, embed, bias=bias)

    def forward(self, q, k, v):
        def split(x):
            n, length, e = x.shape
            return x.reshape(n, length, self.heads, e // self.heads).transpose(1, 2)
        q, k, v = split(self.q(q)), split(self.k(k)), split(self.v(v))
        out = Attention()(q, k, v).transpose(1, 2)
        return self.out(out.reshape(out.shape[0], out.shape[1], -1))


@module_for("multihead_attention")
def _multihead_attention(a, shapes):
    return MultiheadAttention(a["embed"], a["heads"], shapes[1][-1], shapes[2][-1], a["bias"])


class Einsum(nn.Module):
    def __init__(self, equation: str):
        super().__init__()
        self.equation = equation

    def forward(self, *xs):
        return torch.einsum(self.equation, *xs)


@module_for("einsum")
def _einsum(a, shapes):
    return Einsum(a["equation"])


class Shaped(_Holds):
    """Stand-in for work on parameters, or a layout change or reduction whose call it cannot
    make: its output shape (zeros), and ``macs`` multiply-adds of a matrix product on zeros
    (work done once per forward)."""

    def __init__(self, shape, params: int = 0, buffers: int = 0, macs: int = 0):
        super().__init__(params, buffers)
        self.shape, self.macs = tuple(shape), macs

    def forward(self, *xs):
        if self.macs:
            torch.matmul(xs[0].new_zeros(1, self.macs), xs[0].new_zeros(self.macs, 1))
        return xs[0].new_zeros((xs[0].shape[0],) + self.shape)


def _permutation(shape, target) -> tuple[int, ...] | None:
    """The first permutation of the axes after the batch that turns ``shape`` into
    ``target`` (batch included in both), or None."""
    import itertools
    for order in itertools.permutations(range(1, len(shape))):
        if tuple(shape[i] for i in order) == tuple(target[1:]):
            return (0,) + order
    return None


class Layout(Shaped):
    """The call a ``layout`` layer stands for (``fn``), with arguments that give its output
    shape: a permutation, a reshape, a concatenation along the axis that grew, a roll, a flip,
    a repeat, a constant pad. A call it cannot make is stood in by zeros of the shape."""

    def __init__(self, fn: str, shape, params: int = 0, buffers: int = 0):
        super().__init__(shape, params, buffers)
        self.fn = fn

    def forward(self, *xs):
        out = self.call(xs)
        return Shaped.forward(self, *xs) if out is None else out

    def call(self, xs):
        x, fn = xs[0], self.fn
        target = (x.shape[0],) + self.shape
        grown = [i for i, (a, b) in enumerate(zip(x.shape, target)) if a != b]
        if fn in ("permute", "transpose", "movedim", "swapaxes") and len(target) == x.dim():
            order = _permutation(x.shape, target)
            return None if order is None else x.permute(order)
        if fn in ("view", "flatten", "unflatten", "squeeze", "unsqueeze", "reshape"):
            if x.numel() == torch.Size(target).numel():       # (a dropped .contiguous() ...)
                return x.view(target) if fn == "view" and x.is_contiguous() else \
                    x.reshape(target)
        if len(target) != x.dim() or len(grown) > 1:
            return None
        if fn in ("roll", "flip") and not grown:
            return torch.roll(x, 1, -1) if fn == "roll" else x.flip(-1)
        if fn in ("cat", "repeat", "pad") and grown:
            d = grown[0]
            if fn == "cat" and sum(t.shape[d] for t in xs) == target[d]:
                return torch.cat(xs, d)
            if fn == "repeat" and target[d] % x.shape[d] == 0:
                return x.repeat([target[d] // x.shape[d] if i == d else 1
                                 for i in range(x.dim())])
            if fn == "pad" and target[d] > x.shape[d]:
                return F.pad(x, (0, 0) * (x.dim() - 1 - d) + (0, target[d] - x.shape[d]))
        return None


@module_for("layout")
def _layout(a, shapes):
    return Layout(a["fn"], a["shape"], a["params"], a["buffers"])


class Reduction(Shaped):
    """The reduction ``fn`` over the axes that disappear (or all but the batch)."""

    def __init__(self, fn: str, shape):
        super().__init__(shape)
        self.fn = fn

    def forward(self, x):
        target = (x.shape[0],) + self.shape
        keep = x.dim() == 2                       # N x F -> N x 1
        if (x.shape[:1] + x.shape[2:] if not keep else (x.shape[0], 1)) != target:
            return Shaped.forward(self, x)
        if self.fn in ("max_dim", "min_dim"):
            return getattr(x, self.fn[:3])(1, keepdim=keep).values
        if self.fn in ("sum", "mean", "amax", "amin", "var", "std", "logsumexp"):
            return getattr(torch, self.fn)(x, dim=1, keepdim=keep)
        if self.fn == "norm":
            return torch.linalg.vector_norm(x, dim=1, keepdim=keep)
        return Shaped.forward(self, x)


@module_for("reduction")
def _reduction(a, shapes):
    return Reduction(a["fn"], a["shape"])


@module_for("parameter_work")
def _parameter_work(a, shapes):
    return Shaped(a["shape"], macs=a["macs"])


class Pointwise(_Holds):
    """The element-wise call ``fn``: of one activation, of two (a product, a quotient, a sum),
    of an activation and a constant operand of shape ``other`` — a parameter, a buffer, or
    computed from a parameter (``operand``) —, or ``F.batch_norm`` with its module's tensors.
    A call it cannot make (an ONNX import records none; ``where``, ``masked_fill``...): the sum
    of the inputs, times ``other``, exponentiated."""

    def __init__(self, other, params: int, buffers: int, fn: str = "", operand: str = "",
                 channels: int = 0):
        super().__init__(params, buffers)
        self.other, self.operand, self.channels = tuple(other), operand, channels
        name = fn.strip("_")
        self.fn = name[1:] if fn.startswith("__") and name[:1] in "ir" and \
            name[1:] in _BINARY else name
        size = torch.Size((1,) + self.other).numel()
        if self.fn in _BINARY and operand in ("parameter", "computed") and params == size:
            self.held = nn.Parameter(torch.rand((1,) + self.other) + 0.5)
        elif self.fn in _BINARY and operand == "buffer" and buffers == size and not params:
            self.register_buffer("state", torch.rand((1,) + self.other) + 0.5)
        elif not ((self.fn in _UNARY or self.fn in _BINARY) and not operand
                  or self.fn == "batch_norm" and channels and params == 2 * channels
                  and buffers == 2 * channels + 1):
            self.fn = ""

    def forward(self, *xs):
        x, c, fn = xs[0], self.channels, self.fn
        if fn == "batch_norm" and len(xs) == 1 and x.dim() >= 2 and x.shape[1] == c:
            # weight, bias; running mean, variance (and the step counter after them)
            return F.batch_norm(x, self.state[:c], self.state[c:2 * c], self.held[:c],
                                self.held[c:], training=self.training)
        if fn in _BINARY and len(xs) <= 2:
            y = xs[1] if len(xs) == 2 else {
                "parameter": self.held, "buffer": getattr(self, "state", None),
                "computed": None if self.held is None else self.held * 2.0}.get(self.operand, 2.0)
            return _BINARY[fn](x, y)
        if fn in _UNARY and len(xs) == 1:
            return _UNARY[fn](x)
        out = functools.reduce(operator.add, xs)        # the inputs summed, as Add
        if self.other:
            out = out * torch.ones((1,) + self.other, dtype=out.dtype)
        return out.exp()


_BINARY = {"mul": torch.mul, "truediv": torch.div, "div": torch.div, "add": torch.add,
           "sub": torch.sub}
_UNARY = {"gelu": F.gelu, "silu": F.silu, "relu": torch.relu, "sigmoid": torch.sigmoid,
          "tanh": torch.tanh, "exp": torch.exp, "sqrt": torch.sqrt, "rsqrt": torch.rsqrt,
          "log": torch.log, "hardswish": F.hardswish, "hardsigmoid": F.hardsigmoid,
          "mish": F.mish, "abs": torch.abs, "neg": torch.neg, "erf": torch.erf,
          "softplus": F.softplus, "reciprocal": torch.reciprocal, "sin": torch.sin,
          "cos": torch.cos, "square": torch.square, "pow": lambda x: torch.pow(x, 2.0),
          "clamp": lambda x: torch.clamp(x, 0.2, 0.8),
          "dropout": lambda x: F.dropout(x, 0.0, True)}         # p = 0 (p > 0 has no rule)


@module_for("pointwise")
def _pointwise(a, shapes):
    return Pointwise(a["other"], a["params"], a["buffers"], a["fn"], a["operand"], a["channels"])


class PerImage(nn.Module):
    """A module applied to each image of N x images x C x H x W (folded into the batch)."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        lead = x.shape[:-3]
        out = self.inner(x.reshape(-1, *x.shape[-3:]))
        return out.reshape(*lead, *out.shape[1:])


@module_for("conv2d_images")
def _conv2d_images(a, shapes):
    n, *images, c, h, w = shapes[0]
    images_total = 1
    for k in images:
        images_total *= k
    return PerImage(MODULES["conv2d"](a, [(n * images_total, c, h, w)]))


# -- declared beside the rules ---------------------------------------------------------------------
def declared(spec) -> Factory:
    """The factory of an operator that declares its torch module (cnnstat.ops.base.TorchModule):
    ``torch.nn.<name>(**keywords from the layer's arguments)``."""
    cls = getattr(nn, spec.name)

    def factory(a, shapes):
        return cls(**spec.kwargs(a))
    factory.__name__ = f"declared_{spec.name}"
    return factory


def _register_declared() -> None:
    from ..ops import REGISTRY
    for name, rule in REGISTRY.items():
        if rule.torch is not None:
            module_for(name)(declared(rule.torch))      # a factory as well is an error


_register_declared()
