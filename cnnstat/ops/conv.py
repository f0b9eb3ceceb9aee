"""Convolutions of spatial rank 1, 2 and 3 (conv1d/2d/3d, conv_transpose1d/2d/3d) and LeNet-5's
partially connected convolution.

One rule per family, rank-generic (``_Conv``, ``_ConvTranspose``), registered once per rank.
Kernel, stride, padding and dilation are per axis: one int for every axis, or a list of one per
axis ([l]; [h, w]; [d, h, w]).

Conventions (cnnstat counts multiply-accumulates, MACs; FLOPs = 2 x MACs are derived elsewhere),
with prod(out) the product of the output's spatial sizes and prod(k) of the kernel's:
- conv weight MACs  = N * C_out * prod(out) * (C_in / groups) * prod(k)
  (2-D: N * C_out * H_out * W_out * (C_in / groups) * k_h * k_w)
- conv_transpose    = N * C_in * prod(in) * (C_out / groups) * prod(k)   (fvcore's rule: every
  input unit is multiplied by every tap, including products later cropped by padding)
- bias: one add per output element (kind "bias", not counted by default)
- connections (LeCun et al. 1998): weighted links between input units and output units, plus one
  bias link per output unit. Links that would read zero padding are not links to input units and
  are not counted; without padding this is C_out*prod(out)*((C_in/g)*prod(k) + 1).
"""

from __future__ import annotations

from functools import lru_cache
from math import prod
from typing import Any, Mapping, Sequence

from ..errors import DefinitionError, ShapeError
from ..memory.saved import ACT, LOWER, Context, OpMemory, Saved
from .axes import spatial_axes
from .base import Eval, Op, RankOp, register, register_ranks
from .kinds import BIAS, WEIGHT
from .schema import (HELD, ArgumentError, Param, boolean, choice, held, nonneg_int, nonneg_pair,
                     padding_nd, per_axis, positive_int, positive_pair, resolve_padding)
from .shapes import Shape, ceil_div, fmt_shape, need_feature_map, numel, sliding_output
from .taps import merge_spans, taps_inside, window_spans
from .transfer import Transfer, frac, sliding_transfer


def _pad_repr(padding) -> str:
    if padding == "same":
        return "same"
    if all(lo == hi for lo, hi in padding):
        return str(tuple(lo for lo, _ in padding))
    return str(tuple(padding))


def conv_repr(cls: str, c_in: int, a: Mapping[str, Any], transposed: bool = False) -> str:
    """PyTorch's Conv{1,2,3}d/ConvTranspose{1,2,3}d extra_repr: defaults omitted as torch omits
    them."""
    rank = len(a["kernel"])
    s = f"{cls}({c_in}, {a['out']}, kernel_size={a['kernel']}, stride={a['stride']}"
    pad = a["padding"]
    if pad == "same" or pad != ((0, 0),) * rank:
        s += f", padding={_pad_repr(pad)}"
    if a["dilation"] != (1,) * rank:
        s += f", dilation={a['dilation']}"
    if transposed and a["output_padding"] != (0,) * rank:
        s += f", output_padding={a['output_padding']}"
    if a["groups"] != 1:
        s += f", groups={a['groups']}"
    if not a["bias"]:
        s += ", bias=False"
    return s + ")"


def _check_padding_mode(op: str, mode: str, pad, sizes: Sequence[int]) -> None:
    """PyTorch pads by reflection only by less than the input size, circularly by at most it."""
    if mode == "zeros":
        return
    for (lo, hi), size, axis in zip(pad, sizes, spatial_axes(len(sizes))):
        if mode == "reflect" and max(lo, hi) >= size:
            raise ShapeError(f"{op}: reflect padding {max(lo, hi)} must be smaller than the "
                             f"input {axis} {size}")
        if mode == "circular" and max(lo, hi) > size:
            raise ShapeError(f"{op}: circular padding {max(lo, hi)} must not exceed the input "
                             f"{axis} {size}")


def _check_groups(op: str, c_in: int, c_out: int, groups: int) -> None:
    if c_in % groups:
        raise ShapeError(f"{op}: {c_in} input channels are not divisible by groups={groups}")
    if c_out % groups:
        raise ShapeError(f"{op}: {c_out} output channels are not divisible by groups={groups}")


def _each(rank: int) -> str:
    return "[" + ", ".join(a[0] for a in spatial_axes(rank)) + "]"


class _Conv(RankOp):
    """An N-d convolution (torch.nn.Conv1d/2d/3d): groups, depthwise, dilation, 'same'/'valid'/
    asymmetric padding, reflect/replicate/circular padding modes."""

    @classmethod
    def schema(cls, rank: int) -> tuple[Param, ...]:
        each = _each(rank)
        return (
            Param("out", positive_int, doc="output channels"),
            Param("kernel", per_axis(positive_int, rank), doc=f"k or {each}"),
            Param("stride", per_axis(positive_int, rank), 1),
            Param("padding", padding_nd(rank), 0,
                  f"int, {each}, [before, after] per axis, 'same', 'valid'"),
            Param("dilation", per_axis(positive_int, rank), 1),
            Param("groups", positive_int, 1, "groups; groups = C_in = out is depthwise"),
            Param("bias", boolean, True),
            Param("padding_mode", choice("zeros", "reflect", "replicate", "circular"), "zeros"),
            HELD,
        )

    def validate(self, a: dict) -> None:
        if a["padding"] == "same" and a["stride"] != (1,) * self.rank:
            raise DefinitionError(f"{self.name}: padding='same' needs stride 1 (as in PyTorch)")

    def evaluate(self, a, inputs: Sequence[Shape]) -> Eval:
        shape = need_feature_map(self.name, inputs[0], self.rank)
        n, c, sizes = shape[0], shape[1], shape[2:]
        out, g = a["out"], a["groups"]
        _check_groups(self.name, c, out, g)
        kernel, stride, dilation = a["kernel"], a["stride"], a["dilation"]
        pad = resolve_padding(a["padding"], kernel, dilation)
        _check_padding_mode(self.name, a["padding_mode"], pad, sizes)
        out_sizes = sliding_output(self.name, shape, kernel, stride, pad, dilation, must_fit=True)
        per_output = (c // g) * prod(kernel)           # multiply-adds per output element
        bias = 1 if a["bias"] else 0
        links = out * (c // g)
        for o, size, k, s, (lo, _), d in zip(out_sizes, sizes, kernel, stride, pad, dilation):
            links *= taps_inside(o, size, k, s, lo, d)
        out_units = out * prod(out_sizes)
        params, buffers = held(a, out * per_output + bias * out)
        return Eval(
            shape=(n, out) + out_sizes,
            params=params,
            buffers=buffers,
            connections=links + bias * out_units,
            macs={WEIGHT: n * out_units * per_output, BIAS: n * out_units * bias},
            rf=sliding_transfer(kernel, stride, pad, dilation),
        )

    def unit_spans(self, a, inputs, index, axis, span, window, out, precision="float32"):
        """With reflect, replicate or circular padding the padding holds copies of real input
        units: taps there read input units (PyTorch's F.pad modes), mapped back here."""
        size = inputs[0][2 + axis]
        inside = window_spans(window, size, span, self.name)
        if a["padding_mode"] == "zeros":
            return inside
        k, s, d = a["kernel"][axis], a["stride"][axis], a["dilation"][axis]
        p = window.padding
        copies = []
        for i in list(range(span[0] * s - p, 0)) + list(range(size, span[1] * s - p + d * (k - 1) + 1)):
            # is padded position i a tap of some unit of the span? i = u*s - p + j*d
            if any((i + p - j * d) % s == 0 and span[0] <= (i + p - j * d) // s <= span[1]
                   for j in range(k)):
                source = _padded_source(a["padding_mode"], i, size)
                copies.append((source, source))
        return merge_spans(inside + tuple(copies))

    def describe(self, a, inputs) -> str:
        return conv_repr(self.torch_name, inputs[0][1], a)

    def memory(self, a, inputs, output, ctx: Context) -> OpMemory:
        """Saves its input and weight (ConvolutionBackward0). When the input is padded before the
        convolution — asymmetric or 'same' padding PyTorch cannot pass to the kernel, or a
        reflect/replicate/circular ``padding_mode`` — the padded copy is what it saves; a reflect
        or replicate pad also saves its own input."""
        shape = inputs[0]
        n, c = shape[0], shape[1]
        pads = resolve_padding(a["padding"], a["kernel"], a["dilation"])
        weight = a["out"] * (c // a["groups"]) * prod(a["kernel"])
        bias = a["out"] if a["bias"] else 0
        mode = a.get("padding_mode", "zeros")
        if mode == "zeros" and all(lo == hi for lo, hi in pads):
            saved = (Saved.input(0),)
        else:
            if mode == "zeros" and a["padding"] == "same":
                # PyTorch passes the symmetric part of 'same' padding to the kernel and pads only
                # the remainder (hi - lo, one unit on the high side of an odd total) into a copy
                # (aten's _convolution_mode: constant_pad_nd, then the convolution).
                padded = n * c * prod(s + hi - lo for s, (lo, hi) in zip(shape[2:], pads))
            else:
                padded = n * c * prod(s + lo + hi for s, (lo, hi) in zip(shape[2:], pads))
            saved = (Saved.new(padded, ACT, "padded input"),)
            if mode in ("reflect", "replicate"):
                # the padding runs before the convolution, on the input as it came
                saved = (Saved.input(0, "input (of the padding)", cast=False),) + saved
        return OpMemory(saved, autocast=LOWER, cast_params=weight, cached_params=bias)


Conv1d, Conv2d, Conv3d = register_ranks(_Conv, "conv{r}d", "Conv{r}d", {
    1: "1-D convolution over (C, L): audio, sequences, temporal convolutional networks",
    2: "2-D convolution (groups, depthwise, dilation, 'same'/'valid'/asymmetric padding)",
    3: "3-D convolution over (C, D, H, W): video clips, volumes"})


def _padded_source(mode: str, i: int, size: int) -> int:
    """The input unit that padded position i (outside [0, size)) copies."""
    if mode == "reflect":                   # ... 2 1 | 0 1 2 ... n-1 | n-2 n-3 ...
        return -i if i < 0 else 2 * (size - 1) - i
    if mode == "replicate":
        return 0 if i < 0 else size - 1
    return i % size                         # circular


class _ConvTranspose(RankOp):
    """An N-d transposed convolution (torch.nn.ConvTranspose1d/2d/3d)."""

    @classmethod
    def schema(cls, rank: int) -> tuple[Param, ...]:
        each = _each(rank)
        return (
            Param("out", positive_int),
            Param("kernel", per_axis(positive_int, rank)),
            Param("stride", per_axis(positive_int, rank), 1),
            Param("padding", per_axis(nonneg_int, rank), 0,
                  f"int or {each} (symmetric, as in PyTorch)"),
            Param("output_padding", per_axis(nonneg_int, rank), 0),
            Param("groups", positive_int, 1),
            Param("bias", boolean, True),
            Param("dilation", per_axis(positive_int, rank), 1),
        )

    def validate(self, a: dict) -> None:
        for op_, s, d in zip(a["output_padding"], a["stride"], a["dilation"]):
            if op_ >= s and op_ >= d:
                raise DefinitionError(f"{self.name}: output_padding must be smaller than "
                                      "either stride or dilation (as in PyTorch)")

    def evaluate(self, a, inputs: Sequence[Shape]) -> Eval:
        shape = need_feature_map(self.name, inputs[0], self.rank)
        n, c, sizes = shape[0], shape[1], shape[2:]
        out, g = a["out"], a["groups"]
        _check_groups(self.name, c, out, g)
        kernel, stride, pad, dil = a["kernel"], a["stride"], a["padding"], a["dilation"]
        # out = (in - 1)*stride - 2*padding + dilation*(k - 1) + output_padding + 1
        out_sizes = tuple((i - 1) * s - 2 * p + d * (k - 1) + o + 1 for i, s, p, d, k, o in
                          zip(sizes, stride, pad, dil, kernel, a["output_padding"]))
        if min(out_sizes) <= 0:
            raise ShapeError(f"{self.name} would produce an empty output "
                             f"({'x'.join(map(str, out_sizes))}) from input {fmt_shape(shape)}: "
                             "padding is too large")
        per_input = (out // g) * prod(kernel)
        bias = 1 if a["bias"] else 0
        links = c * (out // g)
        for i, o, k, s, p, d in zip(sizes, out_sizes, kernel, stride, pad, dil):
            links *= taps_inside(i, o, k, s, p, d)     # input i scatters to output o
        out_units = out * prod(out_sizes)
        return Eval(
            shape=(n, out) + out_sizes,
            params=c * per_input + bias * out,
            connections=links + bias * out_units,
            macs={WEIGHT: n * c * prod(sizes) * per_input, BIAS: n * out_units * bias},
            rf=_transposed_transfer(kernel, stride, pad, dil),
        )

    def unit_spans(self, a, inputs, index, axis, span, window, out, precision="float32"):
        """Output v reads input i where i*s - p + j*d = v for a tap j: per tap, the inputs whose
        v falls in the span form one run [ceil((lo - off)/s), floor((hi - off)/s)], off = j*d - p."""
        lo, hi = span
        size = inputs[0][2 + axis]
        k, s = a["kernel"][axis], a["stride"][axis]
        p, d = a["padding"][axis], a["dilation"][axis]
        runs = []
        for j in range(k):
            offset = j * d - p
            first, last = max(0, ceil_div(lo - offset, s)), min(size - 1, (hi - offset) // s)
            if first <= last:
                runs.append((first, last))
        return merge_spans(runs)

    def describe(self, a, inputs) -> str:
        b = dict(a)
        b["padding"] = tuple((p, p) for p in a["padding"])
        return conv_repr(self.torch_name, inputs[0][1], b, transposed=True)

    def memory(self, a, inputs, output, ctx: Context) -> OpMemory:
        """Saves its input and weight (ConvolutionBackward0)."""
        c = inputs[0][1]
        weight = c * (a["out"] // a["groups"]) * prod(a["kernel"])
        return OpMemory((Saved.input(0),), autocast=LOWER, cast_params=weight,
                        cached_params=a["out"] if a["bias"] else 0)


@lru_cache(maxsize=1024)
def _transposed_transfer(kernel, stride, padding, dilation) -> Transfer:
    """Output v of a transposed convolution reads inputs i with i*s - p + j*d = v, i.e. the
    window [(v + p - d(k-1))/s, (v + p)/s]: stride 1/s, kernel d(k-1)/s + 1, padding
    (d(k-1) - p)/s; exact only with stride 1 (fractional strides otherwise)."""
    return Transfer.window(tuple(frac(d * (k - 1), s) + 1 for k, s, d in
                                 zip(kernel, stride, dilation)),
                           tuple(frac(1, s) for s in stride),
                           tuple(frac(d * (k - 1) - p, s)
                                 for k, s, p, d in zip(kernel, stride, padding, dilation)),
                           exact=all(s == 1 for s in stride))


ConvTranspose1d, ConvTranspose2d, ConvTranspose3d = register_ranks(
    _ConvTranspose, "conv_transpose{r}d", "ConvTranspose{r}d", {
        1: "1-D transposed convolution (output_padding, groups, dilation)",
        2: "2-D transposed convolution (output_padding, groups, dilation)",
        3: "3-D transposed convolution (up-convolution of 3-D U-Net and V-Net)"})


def connection_table(value: Any) -> tuple[tuple[int, ...], ...]:
    if not isinstance(value, (list, tuple)) or not value:
        raise ArgumentError("must be a list with, for each output map, the list of input maps "
                            "it reads")
    table = []
    for j, row in enumerate(value):
        if not isinstance(row, (list, tuple)) or not row:
            raise ArgumentError(f"row {j} must be a non-empty list of input map indices")
        idx = []
        for v in row:
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise ArgumentError(f"row {j} holds {v!r}, not an input map index")
            idx.append(v)
        if len(set(idx)) != len(idx):
            raise ArgumentError(f"row {j} lists an input map twice")
        table.append(tuple(idx))
    return tuple(table)


@register
class PartialConv2d(Op):
    """A convolution in which output map j reads only the input maps listed in table[j]
    (LeNet-5's C3, LeCun et al. 1998, Table I). Each (output map, input map) pair has its own
    k_h x k_w kernel; each output map has one bias."""

    name = "partial_conv2d"
    summary = "convolution with a connection table between input and output maps (LeNet-5 C3)"
    params = (
        Param("table", connection_table, doc="for each output map, the input maps it reads"),
        Param("kernel", positive_pair),
        Param("stride", positive_pair, 1),
        Param("padding", nonneg_pair, 0),
        Param("bias", boolean, True),
    )

    def evaluate(self, a, inputs: Sequence[Shape]) -> Eval:
        n, c, h, w = need_feature_map(self.name, inputs[0], 2)
        table = a["table"]
        bad = [i for row in table for i in row if i >= c]
        if bad:
            raise ShapeError(f"partial_conv2d: the table reads input map {max(bad)}, but the input "
                             f"has only {c} maps (0..{c - 1})")
        kh, kw = a["kernel"]
        (sh, sw), (ph, pw) = a["stride"], a["padding"]
        ho, wo = sliding_output(self.name, inputs[0], a["kernel"], a["stride"], ((ph, ph), (pw, pw)),
                                must_fit=True)
        pairs = sum(len(row) for row in table)        # LeNet-5 C3: 60 map pairs
        out = len(table)
        bias = 1 if a["bias"] else 0
        links = (pairs * taps_inside(ho, h, kh, sh, ph, 1) * taps_inside(wo, w, kw, sw, pw, 1))
        return Eval(
            shape=(n, out, ho, wo),
            params=pairs * kh * kw + bias * out,
            connections=links + bias * out * ho * wo,
            macs={WEIGHT: n * ho * wo * pairs * kh * kw, BIAS: n * out * ho * wo * bias},
            rf=Transfer.window(a["kernel"], a["stride"], (ph, pw)),
        )

    def describe(self, a, inputs) -> str:
        pairs = sum(len(row) for row in a["table"])
        return (f"PartialConv2d({inputs[0][1]}, {len(a['table'])}, kernel_size={a['kernel']}, "
                f"stride={a['stride']}, pairs={pairs})")

    def memory(self, a, inputs, output, ctx: Context) -> OpMemory:
        """One small convolution per output map over ``x[:, row]``: the indexing copies the
        selected maps (saved by that map's convolution) and saves its index list (int64)."""
        n, _, *spatial = inputs[0]
        saved, weight = [], 0
        for row in a["table"]:
            saved.append(Saved.new(len(row), "int64", "index list"))
            saved.append(Saved.new(n * len(row) * prod(spatial), ACT, "selected input maps"))
            weight += len(row) * prod(a["kernel"])
        bias = len(a["table"]) if a["bias"] else 0
        return OpMemory(tuple(saved), autocast=LOWER, cast_params=weight, cached_params=bias)
