"""Tensors of any rank: attention, einsum, layout changes, element-wise functions and reductions.

These rules serve imported models (cnnstat.importers.torch_capture), whose tensors are not always
N x C x H x W feature maps: token sequences N x L x D, attention heads N x heads x L x d, heads
folded into the batch. Shapes are per sample (a batch of 1 first), of any rank.

Conventions (one MAC = one fused multiply-add):
- ``attention`` — ``F.scaled_dot_product_attention(q, k, v)`` with q (..., L, E), k (..., S, E),
  v (..., S, Ev): Q·Kᵀ is L·S·E and A·V is L·S·Ev multiply-adds per leading index (kind
  "attention"), as FlopCounterMode's sdpa formula (its FLOPs are 2x these). The softmax and the
  1/sqrt(E) scale are L·S operations each, of kind "activation".
- ``multihead_attention`` — ``nn.MultiheadAttention`` (``F.multi_head_attention_forward``):
  input projections (L·E·E for q, S·kdim·E and S·vdim·E for k, v) and the output projection
  (L·E·E) are "weight" MACs, Q·Kᵀ and A·V are L·S·E each ("attention").
- ``einsum`` — a contraction of activations: one multiply-add per point of the iteration space
  (the product of the sizes of every index in the equation), kind "attention" (as FlopCounterMode
  counts it through bmm). A single-operand einsum (a transpose or a trace) is a layout change.
- ``layout`` — reshape, permute, transpose, indexing, unbind, expand, roll, stack...: moves data,
  zero operations of every kind (stated, not guessed). Its output shape is the one the model's
  forward produced. Past it, positions are no longer a feature map's: its receptive field is
  "not spatial" (cnnstat.receptive), never a guessed window — unless its input already sees
  the whole input.
- ``pointwise`` — an element-wise function of one activation (and constants): one operation per
  output element, kind "activation" for a function of one tensor, "elementwise" for a binary
  operation with a constant operand (``x * scale``, ``x + pos_embed``). A learned constant operand
  is a parameter of the layer. A normalization without a module rule (``F.group_norm``,
  ``F.normalize``, ``F.rms_norm``) is one operation per element of kind "norm", as batch norm.
- ``reduction`` — a reduction (sum, mean, norm, var...): one operation per input element, kind "pool".
"""

from __future__ import annotations

import math
import re
from typing import Any, Sequence

from ..errors import ShapeError
from .base import (ACTIVATION, ATTENTION, ELEMENTWISE, GLOBAL, NORM, POOL, REARRANGED, REGISTRY,
                   WEIGHT, ArgumentError, Eval,
                   Op, Param, Shape, boolean, choice, fmt_shape, nonneg_int, numel, positive_int,
                   register)
from .merge import broadcast
from .unknown import _text


def _sizes(value: Any) -> tuple[int, ...]:
    if not isinstance(value, (list, tuple)):
        raise ArgumentError(f"must be a list of sizes, got {value!r}")
    return tuple(nonneg_int(v) for v in value)


def _lead(shapes: Sequence[Shape]) -> int:
    """The product of the broadcast leading (batch, heads...) dimensions."""
    return numel(broadcast("attention", [s[:-2] for s in shapes]))


@register
class Attention(Op):
    name = "attention"
    arity = None
    min_inputs = 3
    summary = "scaled-dot-product attention softmax(Q·Kᵀ/√E)·V (any number of leading dims)"
    params = (Param("causal", boolean, False),
              Param("masked", boolean, False, "a 4th input is an additive or boolean mask"),
              Param("params", nonneg_int, 0, "parameters of a constant mask (a learned "
                                             "relative position bias)"),
              Param("buffers", nonneg_int, 0, "buffers of a constant mask"))

    def evaluate(self, a, inputs: Sequence[Shape]) -> Eval:
        if len(inputs) != 3 + int(a["masked"]):
            raise ShapeError(f"attention takes q, k, v{' and a mask' if a['masked'] else ''}, "
                             f"got {len(inputs)} inputs")
        q, k, v = inputs[:3]
        if min(len(q), len(k), len(v)) < 2 or q[-1] != k[-1] or k[-2] != v[-2]:
            raise ShapeError(f"attention: q {fmt_shape(q)}, k {fmt_shape(k)}, v {fmt_shape(v)} "
                             "do not fit (q ..xLxE, k ..xSxE, v ..xSxEv)")
        lead = _lead((q, k, v))
        big_l, s, e, ev = q[-2], k[-2], q[-1], v[-1]
        out = broadcast("attention", [q[:-2], k[:-2], v[:-2]]) + (big_l, ev)
        return Eval(shape=tuple(out), params=a["params"], buffers=a["buffers"],
                    macs={ATTENTION: lead * big_l * s * (e + ev), ACTIVATION: 2 * lead * big_l * s},
                    rf=tuple(GLOBAL for _ in inputs))

    def describe(self, a, inputs) -> str:
        return f"ScaledDotProductAttention(causal={a['causal']}, masked={a['masked']})"


@register
class MultiheadAttention(Op):
    name = "multihead_attention"
    arity = None
    min_inputs = 3
    summary = "torch.nn.MultiheadAttention: projections, attention per head, output projection"
    params = (Param("embed", positive_int, doc="embedding size E"),
              Param("heads", positive_int),
              Param("bias", boolean, True))

    def evaluate(self, a, inputs: Sequence[Shape]) -> Eval:
        if len(inputs) != 3:
            raise ShapeError(f"multihead_attention takes query, key and value, got {len(inputs)}")
        q, k, v = inputs
        e, heads = a["embed"], a["heads"]
        if e % heads or q[-1] != e or len(q) != 3 or len(k) != 3 or len(v) != 3 \
                or k[:-1] != v[:-1]:
            raise ShapeError(f"multihead_attention({e}, {heads}): query {fmt_shape(q)}, key "
                             f"{fmt_shape(k)}, value {fmt_shape(v)} do not fit")
        # per-sample shapes 1 x L x E whether torch's tensor was batch-first or not
        big_l, s = q[1], k[1]
        kdim, vdim = k[-1], v[-1]
        bias = 1 if a["bias"] else 0
        params = e * (e + kdim + vdim) + e * e + bias * 4 * e
        n = q[0]
        return Eval(shape=q,
                    params=params,
                    macs={WEIGHT: n * (big_l * e * e * 2 + s * e * (kdim + vdim)),
                          ATTENTION: n * 2 * big_l * s * e, ACTIVATION: n * 2 * heads * big_l * s},
                    rf=(GLOBAL, GLOBAL, GLOBAL))

    def describe(self, a, inputs) -> str:
        return f"MultiheadAttention({a['embed']}, {a['heads']}, bias={a['bias']})"


_EQUATION = re.compile(r"^[a-zA-Z,]*->[a-zA-Z]*$")


def _equation(value: Any) -> str:
    text = str(value).replace(" ", "")
    if not _EQUATION.match(text):
        raise ArgumentError(f"must be an explicit einsum equation 'ab,bc->ac', got {value!r}")
    return text


def _shapes(value: Any) -> tuple[tuple[int, ...], ...]:
    if not isinstance(value, (list, tuple)):
        raise ArgumentError(f"must be a list of shapes, got {value!r}")
    return tuple(_sizes(v) for v in value)


@register
class Einsum(Op):
    """The equation's operands are the inputs (per-sample shapes, batch first), then the
    ``constants`` (their full shapes): a relative-position table, a derived weight. Kind
    "attention" when every operand is an activation, "weight" when a constant is one."""

    name = "einsum"
    arity = None
    min_inputs = 1
    summary = "torch.einsum of activations (explicit equation; per-sample shapes)"
    params = (Param("equation", _equation, doc="'...->...' over the per-sample shapes"),
              Param("constants", _shapes, (), "shapes of constant operands, after the inputs"),
              Param("params", nonneg_int, 0, "parameters the constant operands hold"),
              Param("buffers", nonneg_int, 0, "buffers the constant operands hold"))

    def evaluate(self, a, inputs: Sequence[Shape]) -> Eval:
        terms, result = a["equation"].split("->")
        terms = terms.split(",")
        operands = list(inputs) + list(a["constants"])
        if len(terms) != len(operands):
            raise ShapeError(f"einsum '{a['equation']}' names {len(terms)} operands, got "
                             f"{len(operands)}")
        sizes: dict[str, int] = {}
        for term, shape in zip(terms, operands):
            if len(term) != len(shape):
                raise ShapeError(f"einsum '{a['equation']}': operand {term} has rank "
                                 f"{len(term)}, the input {fmt_shape(shape)}")
            for letter, size in zip(term, shape):
                known = sizes.setdefault(letter, size)
                if known != size:
                    if 1 not in (known, size):
                        raise ShapeError(f"einsum '{a['equation']}': index {letter} is "
                                         f"{known} and {size}")
                    sizes[letter] = max(known, size)
        out = tuple(sizes[letter] for letter in result)
        kind = WEIGHT if a["constants"] else ATTENTION
        macs = {kind: math.prod(sizes.values())} if len(operands) > 1 else {}
        return Eval(shape=out, params=a["params"], buffers=a["buffers"], macs=macs,
                    rf=tuple(GLOBAL for _ in inputs))

    def describe(self, a, inputs) -> str:
        return f"einsum('{a['equation']}')"


@register
class Layout(Op):
    name = "layout"
    arity = None
    min_inputs = 1
    summary = "a layout change of an imported model (reshape, permute, index...): no arithmetic"
    params = (Param("what", _text, doc="the call, as the model's code made it"),
              Param("shape", _sizes, doc="output shape without the batch"),
              Param("params", nonneg_int, 0, "parameters of a constant operand (a class token)"),
              Param("buffers", nonneg_int, 0, "buffers of a constant operand"))

    def evaluate(self, a, inputs: Sequence[Shape]) -> Eval:
        return Eval(shape=(inputs[0][0],) + a["shape"], params=a["params"], buffers=a["buffers"],
                    rf=tuple(REARRANGED for _ in inputs))

    def describe(self, a, inputs) -> str:
        return a["what"]


@register
class Pointwise(Op):
    name = "pointwise"
    arity = None
    min_inputs = 1
    summary = "an element-wise function of one activation and constants (x * s, x.exp(), ...)"
    params = (Param("what", _text),
              Param("kind", choice(ACTIVATION, ELEMENTWISE, NORM), ACTIVATION),
              Param("other", _sizes, (), "shape of a constant operand (broadcast), per sample"),
              Param("params", nonneg_int, 0, "parameters the constant operand holds"),
              Param("buffers", nonneg_int, 0, "buffers the constant operand holds"))

    def evaluate(self, a, inputs: Sequence[Shape]) -> Eval:
        shapes = list(inputs) + ([(1,) + a["other"]] if a["other"] else [])
        shape = broadcast(a["what"], shapes)
        return Eval(shape=shape, params=a["params"], buffers=a["buffers"],
                    macs={a["kind"]: numel(shape)})

    def describe(self, a, inputs) -> str:
        return a["what"]


@register
class Reduce(Op):
    name = "reduction"
    summary = "a reduction of an imported model (sum, mean, var, norm...) to the given shape"
    params = (Param("what", _text), Param("shape", _sizes, doc="output shape without the batch"))

    def evaluate(self, a, inputs: Sequence[Shape]) -> Eval:
        return Eval(shape=(inputs[0][0],) + a["shape"], macs={POOL: numel(inputs[0])}, rf=GLOBAL)

    def describe(self, a, inputs) -> str:
        return a["what"]


@register
class ParameterWork(Op):
    """Work done on parameters and constants only — a relative-position MLP (Swin V2, MaxViT's
    rmlp), a positional encoding computed from a grid (EdgeNeXt) — once per forward, whatever
    the input. Its multiply-adds are those of its own contraction (conv/linear: output elements x
    weight elements per output channel; matmul: output elements x inner size) on the constant
    shapes, given by the importer; they are not multiplied by the batch. Its input edge (the
    model's input) only places it in the graph; its parameters are counted where its result is
    used."""

    name = "parameter_work"
    summary = "a contraction on parameters only (computed once per forward, not per sample)"
    params = (Param("what", _text),
              Param("shape", _sizes, doc="its output shape (no batch: it has none)"),
              Param("macs", nonneg_int, 0, "multiply-adds of its contraction"),
              Param("kind", choice(WEIGHT, ATTENTION), WEIGHT))

    def evaluate(self, a, inputs: Sequence[Shape]) -> Eval:
        return Eval(shape=(inputs[0][0],) + a["shape"], macs={a["kind"]: a["macs"]}, rf=GLOBAL,
                    notes=("once per forward: parameters only",))

    def describe(self, a, inputs) -> str:
        return f"{a['what']} on parameters"


@register
class Conv2dImages(Op):
    """``F.conv2d`` on images a model folded into the batch — windows (EfficientViT's cascaded
    group attention), patches (TNT's pixel embedding), pooled heads (MViT v2): per sample, an
    input (*images, C, H, W), each image convolved alone. Every count is conv2d's, for
    images x one image (cnnstat.ops.conv); the receptive field across images is not spatial."""

    name = "conv2d_images"
    summary = "a 2-D convolution of each of the images folded into a sample (*images x C x H x W)"
    params = REGISTRY["conv2d"].params

    def validate(self, a: dict) -> None:
        REGISTRY["conv2d"].validate(a)

    def evaluate(self, a, inputs: Sequence[Shape]) -> Eval:
        shape = inputs[0]
        if len(shape) < 5:
            raise ShapeError(f"conv2d_images needs N x images x C x H x W, got {fmt_shape(shape)}")
        images = numel(shape[1:-3])
        one = REGISTRY["conv2d"].evaluate(a, [(shape[0] * images,) + tuple(shape[-3:])])
        return Eval(shape=tuple(shape[:-3]) + tuple(one.shape[1:]), params=one.params,
                    buffers=one.buffers, connections=one.connections * images, macs=one.macs,
                    rf=GLOBAL)

    def describe(self, a, inputs) -> str:
        return f"{REGISTRY['conv2d'].describe(a, [inputs[0][-4:]])} per image"

    def memory(self, a, inputs, output, ctx):
        """conv2d's rule on the images folded into the batch: the fold is a view of the input,
        so what the convolution saves is the input's storage (ConvolutionBackward0)."""
        shape = inputs[0]
        folded = (shape[0] * numel(shape[1:-3]),) + tuple(shape[-3:])
        return REGISTRY["conv2d"].memory(a, [folded], output, ctx)
