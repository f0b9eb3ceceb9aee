"""Convolutions: conv2d, conv_transpose2d and LeNet-5's partially connected convolution.

Conventions (cnnstat counts multiply-accumulates, MACs; FLOPs = 2 x MACs are derived elsewhere):
- conv2d weight MACs  = N * C_out * H_out * W_out * (C_in / groups) * k_h * k_w
- conv_transpose2d    = N * C_in * H_in * W_in * (C_out / groups) * k_h * k_w   (fvcore's rule:
  every input unit is multiplied by every tap, including products later cropped by padding)
- bias: one add per output element (kind "bias", not counted by default)
- connections (LeCun et al. 1998): weighted links between input units and output units, plus one
  bias link per output unit. Links that would read zero padding are not links to input units and
  are not counted; without padding this is C_out*H_out*W_out*((C_in/g)*k_h*k_w + 1).
"""

from __future__ import annotations

from math import prod
from typing import Any, Mapping, Sequence

from ..errors import DefinitionError, ShapeError
from ..memory.saved import ACT, LOWER, Context, OpMemory, Saved
from .base import (BIAS, HELD, WEIGHT, ArgumentError, Eval, Op, Param, Shape, Transfer, boolean,
                   ceil_div, held,
                   choice, fmt_shape, frac, need_feature_map, nonneg_pair, padding2d, positive_int,
                   positive_pair, register, sliding_output, taps_inside, taps_inside_transposed,
                   merge_spans, window_spans)


def resolve_padding(padding, kernel, dilation):
    """'same' → per-axis (lo, hi) with the odd pixel after (PyTorch's rule); else unchanged."""
    if padding != "same":
        return padding
    out = []
    for k, d in zip(kernel, dilation):
        total = d * (k - 1)
        out.append((total // 2, total - total // 2))
    return tuple(out)


def _pad_repr(padding) -> str:
    if padding == "same":
        return "same"
    (t, b), (l, r) = padding
    if t == b and l == r:
        return f"({t}, {l})"
    return f"(({t}, {b}), ({l}, {r}))"


def conv_repr(cls: str, c_in: int, a: Mapping[str, Any], transposed: bool = False) -> str:
    """PyTorch's Conv2d/ConvTranspose2d extra_repr: defaults omitted as torch omits them."""
    kh, kw = a["kernel"]
    sh, sw = a["stride"]
    s = f"{cls}({c_in}, {a['out']}, kernel_size=({kh}, {kw}), stride=({sh}, {sw})"
    pad = a["padding"]
    if pad == "same" or pad != ((0, 0), (0, 0)):
        s += f", padding={_pad_repr(pad)}"
    if a["dilation"] != (1, 1):
        s += f", dilation={a['dilation']}"
    if transposed and a["output_padding"] != (0, 0):
        s += f", output_padding={a['output_padding']}"
    if a["groups"] != 1:
        s += f", groups={a['groups']}"
    if not a["bias"]:
        s += ", bias=False"
    return s + ")"


def _check_padding_mode(mode: str, pad, h: int, w: int) -> None:
    """PyTorch pads by reflection only by less than the input size, circularly by at most it."""
    if mode == "zeros":
        return
    for (lo, hi), size, axis in zip(pad, (h, w), ("height", "width")):
        if mode == "reflect" and max(lo, hi) >= size:
            raise ShapeError(f"conv2d: reflect padding {max(lo, hi)} must be smaller than the "
                             f"input {axis} {size}")
        if mode == "circular" and max(lo, hi) > size:
            raise ShapeError(f"conv2d: circular padding {max(lo, hi)} must not exceed the input "
                             f"{axis} {size}")


def _check_groups(op: str, c_in: int, c_out: int, groups: int) -> None:
    if c_in % groups:
        raise ShapeError(f"{op}: {c_in} input channels are not divisible by groups={groups}")
    if c_out % groups:
        raise ShapeError(f"{op}: {c_out} output channels are not divisible by groups={groups}")


@register
class Conv2d(Op):
    name = "conv2d"
    summary = "2-D convolution (groups, depthwise, dilation, 'same'/'valid'/asymmetric padding)"
    params = (
        Param("out", positive_int, doc="output channels"),
        Param("kernel", positive_pair, doc="k or [k_h, k_w]"),
        Param("stride", positive_pair, 1),
        Param("padding", padding2d, 0, "int, [h, w], [[top, bottom], [left, right]], 'same', 'valid'"),
        Param("dilation", positive_pair, 1),
        Param("groups", positive_int, 1, "groups; groups = C_in = out is depthwise"),
        Param("bias", boolean, True),
        Param("padding_mode", choice("zeros", "reflect", "replicate", "circular"), "zeros"),
        HELD,
    )

    def validate(self, a: dict) -> None:
        if a["padding"] == "same" and a["stride"] != (1, 1):
            raise DefinitionError("conv2d: padding='same' needs stride 1 (as in PyTorch)")

    def evaluate(self, a, inputs: Sequence[Shape]) -> Eval:
        n, c, h, w = need_feature_map(self.name, inputs[0])
        out, g = a["out"], a["groups"]
        _check_groups(self.name, c, out, g)
        kh, kw = a["kernel"]
        dh, dw = a["dilation"]
        pad = resolve_padding(a["padding"], a["kernel"], a["dilation"])
        _check_padding_mode(a["padding_mode"], pad, h, w)
        ho, wo = sliding_output(self.name, inputs[0], a["kernel"], a["stride"], pad, a["dilation"],
                                must_fit=True)
        per_output = (c // g) * kh * kw               # multiply-adds per output element
        bias = 1 if a["bias"] else 0
        links = (out * (c // g) * taps_inside(ho, h, kh, a["stride"][0], pad[0][0], dh)
                 * taps_inside(wo, w, kw, a["stride"][1], pad[1][0], dw))
        out_units = out * ho * wo
        params, buffers = held(a, out * per_output + bias * out)
        return Eval(
            shape=(n, out, ho, wo),
            params=params,
            buffers=buffers,
            connections=links + bias * out_units,
            macs={WEIGHT: n * out_units * per_output, BIAS: n * out_units * bias},
            rf=Transfer.window((dh * (kh - 1) + 1, dw * (kw - 1) + 1), a["stride"],
                               (pad[0][0], pad[1][0]), dilation=(dh, dw)),
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
        return conv_repr("Conv2d", inputs[0][1], a)

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
            padded = n * c * prod(s + lo + hi for s, (lo, hi) in zip(shape[2:], pads))
            saved = (Saved.new(padded, ACT, "padded input"),)
            if mode in ("reflect", "replicate"):
                # the padding runs before the convolution, on the input as it came
                saved = (Saved.input(0, "input (of the padding)", cast=False),) + saved
        return OpMemory(saved, autocast=LOWER, cast_params=weight, cached_params=bias)


def _padded_source(mode: str, i: int, size: int) -> int:
    """The input unit that padded position i (outside [0, size)) copies."""
    if mode == "reflect":                   # ... 2 1 | 0 1 2 ... n-1 | n-2 n-3 ...
        return -i if i < 0 else 2 * (size - 1) - i
    if mode == "replicate":
        return 0 if i < 0 else size - 1
    return i % size                         # circular


@register
class ConvTranspose2d(Op):
    name = "conv_transpose2d"
    summary = "2-D transposed convolution (output_padding, groups, dilation)"
    params = (
        Param("out", positive_int),
        Param("kernel", positive_pair),
        Param("stride", positive_pair, 1),
        Param("padding", nonneg_pair, 0, "int or [h, w] (symmetric, as in PyTorch)"),
        Param("output_padding", nonneg_pair, 0),
        Param("groups", positive_int, 1),
        Param("bias", boolean, True),
        Param("dilation", positive_pair, 1),
    )

    def validate(self, a: dict) -> None:
        for op_, s, d in zip(a["output_padding"], a["stride"], a["dilation"]):
            if op_ >= s and op_ >= d:
                raise DefinitionError("conv_transpose2d: output_padding must be smaller than "
                                      "either stride or dilation (as in PyTorch)")

    def evaluate(self, a, inputs: Sequence[Shape]) -> Eval:
        n, c, h, w = need_feature_map(self.name, inputs[0])
        out, g = a["out"], a["groups"]
        _check_groups(self.name, c, out, g)
        kh, kw = a["kernel"]
        (sh, sw), (ph, pw), (dh, dw) = a["stride"], a["padding"], a["dilation"]
        oph, opw = a["output_padding"]
        # H_out = (H_in - 1)*stride - 2*padding + dilation*(k - 1) + output_padding + 1
        ho = (h - 1) * sh - 2 * ph + dh * (kh - 1) + oph + 1
        wo = (w - 1) * sw - 2 * pw + dw * (kw - 1) + opw + 1
        if ho <= 0 or wo <= 0:
            raise ShapeError(f"conv_transpose2d would produce an empty output ({ho}x{wo}) from "
                             f"input {fmt_shape(inputs[0])}: padding is too large")
        per_input = (out // g) * kh * kw
        bias = 1 if a["bias"] else 0
        links = (c * (out // g) * taps_inside_transposed(h, ho, kh, sh, ph, dh)
                 * taps_inside_transposed(w, wo, kw, sw, pw, dw))
        # Receptive field: output v reads inputs i with i*s - p + j*d = v, i.e. the window
        # [(v + p - d(k-1))/s, (v + p)/s]: stride 1/s, kernel d(k-1)/s + 1, padding (d(k-1) - p)/s.
        rf = Transfer.window((frac(dh * (kh - 1), sh) + 1, frac(dw * (kw - 1), sw) + 1),
                             (frac(1, sh), frac(1, sw)),
                             (frac(dh * (kh - 1) - ph, sh), frac(dw * (kw - 1) - pw, sw)),
                             exact=(sh == 1 and sw == 1))
        return Eval(
            shape=(n, out, ho, wo),
            params=c * per_input + bias * out,
            connections=links + bias * out * ho * wo,
            macs={WEIGHT: n * c * h * w * per_input, BIAS: n * out * ho * wo * bias},
            rf=rf,
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
        pad = a["padding"]
        b["padding"] = ((pad[0], pad[0]), (pad[1], pad[1]))
        return conv_repr("ConvTranspose2d", inputs[0][1], b, transposed=True)

    def memory(self, a, inputs, output, ctx: Context) -> OpMemory:
        """Saves its input and weight (ConvolutionBackward0)."""
        c = inputs[0][1]
        weight = c * (a["out"] // a["groups"]) * prod(a["kernel"])
        return OpMemory((Saved.input(0),), autocast=LOWER, cast_params=weight,
                        cached_params=a["out"] if a["bias"] else 0)


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
        n, c, h, w = need_feature_map(self.name, inputs[0])
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
