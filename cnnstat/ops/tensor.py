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

Saved tensors (the ``memory`` rules, docs/memory.md): what a call keeps for backward depends on
which torch call it is, so ``layout``, ``pointwise`` and ``reduction`` carry ``fn``, the call's
short name as the capture importer recorded it (``permute``, ``mul``, ``mean``), and the facts
the capture saw (``view``: the output shares the input's storage; ``operand``: what a constant
operand is). A call not in the tables below, or an operator without ``fn`` (made by the ONNX
importer), has no rule: listed as not counted, never guessed.
"""

from __future__ import annotations

import math
import re
from typing import Any, Sequence

from ..errors import ShapeError
from ..memory.saved import (ACT, FP32, KEEP, LOWER, VIEW, Context, NoRule, OpMemory,
                            Saved)
from .base import (ACTIVATION, ATTENTION, ELEMENTWISE, GLOBAL, NORM, POOL, REARRANGED, REGISTRY,
                   WEIGHT, ArgumentError, Eval,
                   Op, Param, Shape, boolean, choice, fmt_shape, nonneg_int, numel, positive_int,
                   register)
from .merge import _pairwise_saved, broadcast
from .norm import batch_norm_memory
from .unknown import _text


def _call(value: Any) -> str:
    """The torch call's short name (``permute``, ``mul``, ``mean``); '' when not known."""
    if not isinstance(value, str):
        raise ArgumentError(f"must be a call's name, got {value!r}")
    return value.strip()


FN = Param("fn", _call, "", "the torch call it stands for (its short name), for the memory rule")

# -- what the rank-generic calls save (the ``memory`` rules of layout, pointwise, reduction) ------
#: layout calls that save nothing (their backward needs only shapes, dims and sizes); a view when
#: the capture saw the output share its input's storage (``view``)
LAYOUT_SAVES_NOTHING = frozenset({
    "view", "reshape", "permute", "transpose", "flatten", "unflatten", "squeeze", "unsqueeze",
    "expand", "expand_as", "__getitem__", "unbind", "split", "chunk", "split_with_sizes",
    "tensor_split", "narrow", "select", "movedim", "swapaxes", "view_as", "reshape_as", "t",
    "mT", "T", "broadcast_to", "unfold", "cat", "concat", "concatenate", "stack", "hstack",
    "vstack", "roll", "repeat", "tile", "flip", "pad", "pixel_shuffle", "pixel_unshuffle",
    "channel_shuffle", "native_channel_shuffle", "new_zeros", "zeros_like", "ones_like",
    "contiguous", "clone", "to", "type_as", "float", "half", "double",
    "channels_last"})      # cnnstat's own: the model's channels-last tensor, no torch call
#: ... whose input gradient is the output's or slices of it (not a new tensor)
LAYOUT_GRAD_SLICES = frozenset({"cat", "concat", "concatenate", "stack", "hstack", "vstack"})
#: element-wise functions of one activation (and Python numbers) saving their input / output
SAVES_INPUT = frozenset({
    "gelu", "silu", "mish", "hardswish", "hardsigmoid", "leaky_relu", "hardtanh", "relu6", "elu",
    "softplus", "log", "sin", "cos", "erf", "abs", "clamp", "clamp_min", "clamp_max", "clip",
    "pow", "__pow__", "square", "selu", "celu", "logsigmoid", "softsign"})
SAVES_OUTPUT = frozenset({"relu", "sigmoid", "tanh", "exp", "sqrt", "rsqrt", "reciprocal"})
#: ... saving nothing whatever their operands (sums, negation, scaling by a number)
SAVES_NOTHING = frozenset({"add", "__add__", "__radd__", "__iadd__", "add_", "sub", "__sub__",
                           "__rsub__", "__isub__", "sub_", "neg", "__neg__"})
#: products and quotients: what they save depends on their operands (Pointwise.memory)
PRODUCTS = frozenset({"mul", "__mul__", "__rmul__", "__imul__", "mul_"})
QUOTIENTS = frozenset({"div", "__truediv__", "__itruediv__", "div_"})
#: in-place forms allowed (the result is the input's storage; those saving their input would
#: make PyTorch clone it first or refuse: not ruled)
INPLACE = frozenset({"__iadd__", "add_", "__isub__", "sub_", "__imul__", "mul_", "__itruediv__",
                     "div_", "relu_", "sigmoid_", "tanh_", "exp_"})
#: CUDA autocast's float32 list (aten/src/ATen/autocast_mode.cpp, PyTorch 2.14) among them;
#: CPU autocast's float32 list has none of these calls (prod aside, which has no rule here)
CUDA_FP32 = frozenset({"exp", "log", "pow", "__pow__", "rsqrt", "reciprocal", "softplus",
                       "sum", "norm", "logsumexp"})
#: reductions saving nothing / their input and output / their input only
REDUCE_SAVES_NOTHING = frozenset({"sum", "mean", "argmax", "argmin", "all", "any"})
REDUCE_SAVES_BOTH = frozenset({"amax", "amin", "max", "min", "norm", "logsumexp", "std"})
REDUCE_SAVES_INPUT = frozenset({"var"})


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
              Param("buffers", nonneg_int, 0, "buffers of a constant mask"),
              Param("constant_mask", boolean, False, "a mask that is not an activation (a "
                                                     "constant, a parameter, a buffer)"))

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

    def memory(self, a, inputs, output, ctx: Context) -> OpMemory:
        """``F.scaled_dot_product_attention`` in PyTorch 2.14 on CPU, as measured
        (tests/test_memory_rules.py):

        - the flash kernel for CPU, chosen when q and v have one head size (E = Ev) and no mask
          needs a gradient (3-D inputs are unsqueezed to 4-D views): saves q, k, v, the output,
          the float32 log-sum-exp of each query row (output elements / Ev) and the mask as
          given. It also wants each input's last dimension contiguous: the capture's q, k, v
          (slices of a projection, permuted) are; an operator does not record strides.
        - otherwise the math path: q and k each scaled by E^-1/4 (new), v, and the softmax of
          the scores plus the mask (lead x L x S, new; saved by the softmax and, as a view, by
          the product with v), all in float32 (a low-precision v is copied to float32).

        Autocast (CPU) lowers it like a matrix product. No rule for a constant mask (a
        relative-position bias, a buffer): it is not a layer input, and its size and whether it
        needs a gradient (which choose the kernel) are not known here. No rule on CUDA: the
        kernel (flash, memory-efficient with a log-sum-exp padded to 32 rows, cuDNN, math)
        depends on the GPU, the dtype and the head size, untested here (docs/memory.md)."""
        if ctx.device != "cpu":
            raise NoRule(self.name, f"the attention kernel torch picks on {ctx.device} (flash, "
                                    "memory-efficient, cuDNN or math) is not known here; "
                                    "--device cpu counts it")
        if a["constant_mask"] or a["params"] or a["buffers"]:
            raise NoRule(self.name, "a constant mask or bias (not a layer input) chooses the "
                                    "kernel")
        q, k, v = inputs[:3]
        if a["masked"] and ctx.needs_grad(3) or q[-1] != v[-1]:
            # the math path computes in float32 on CPU (a low-precision v is copied)
            scores = numel(output) // output[-1] * k[-2]
            low = ctx.amp or ctx.dtype != "fp32"
            v_saved = Saved.new(numel(v), "fp32", "v in float32") if low else Saved.input(2, "v")
            return OpMemory((Saved.new(numel(q), "fp32", "scaled q"),
                             Saved.new(numel(k), "fp32", "scaled k"), v_saved,
                             Saved.new(scores, "fp32", "softmax of the scores + mask")),
                            autocast=LOWER)
        saved = [Saved.input(0, "q"), Saved.input(1, "k"), Saved.input(2, "v"), Saved.output(),
                 Saved.new(numel(output) // output[-1], "fp32", "log-sum-exp")]
        if a["masked"]:
            saved.append(Saved.input(3, "mask"))
        return OpMemory(tuple(saved), autocast=LOWER)


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
              Param("buffers", nonneg_int, 0, "buffers of a constant operand"),
              FN, Param("view", boolean, False, "the output shares input 0's storage"))

    def evaluate(self, a, inputs: Sequence[Shape]) -> Eval:
        return Eval(shape=(inputs[0][0],) + a["shape"], params=a["params"], buffers=a["buffers"],
                    rf=tuple(REARRANGED for _ in inputs))

    def describe(self, a, inputs) -> str:
        return a["what"]

    def memory(self, a, inputs, output, ctx: Context) -> OpMemory:
        """Views, copies, concatenations, padding with a constant: nothing saved (their
        backward needs sizes only); the output is input 0's storage when the capture saw a view.
        Index-based calls (gather, index_select, advanced indexing, reflect padding) save their
        indices or input: no rule. A constant operand (a class token) takes part in dtype
        promotion (concatenation promotes under autocast)."""
        fn = a["fn"]
        if fn not in LAYOUT_SAVES_NOTHING:
            raise NoRule(self.name)
        slices = a["view"] or fn in LAYOUT_GRAD_SLICES
        return OpMemory(view_of=0 if a["view"] else None,
                        input_grads=tuple(VIEW if slices else "new" for _ in inputs),
                        mixes_params=bool(a["params"] or a["buffers"]))


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
              Param("buffers", nonneg_int, 0, "buffers the constant operand holds"),
              FN, Param("view", boolean, False, "in place: the output is input 0's storage"),
              Param("operand", choice("", "parameter", "buffer", "computed", "constant",
                                      "several"), "",
                    "the constant tensor operand: a parameter, a buffer, computed from "
                    "parameters (it needs a gradient), another constant; '': numbers only"),
              Param("channels", nonneg_int, 0, "F.batch_norm: the channels of its statistics"))

    def evaluate(self, a, inputs: Sequence[Shape]) -> Eval:
        shapes = list(inputs) + ([(1,) + a["other"]] if a["other"] else [])
        shape = broadcast(a["what"], shapes)
        return Eval(shape=shape, params=a["params"], buffers=a["buffers"],
                    macs={a["kind"]: numel(shape)})

    def describe(self, a, inputs) -> str:
        return a["what"]

    def memory(self, a, inputs, output, ctx: Context) -> OpMemory:
        """By the call (derivatives.yaml): sums and negation save nothing; gelu, silu, log,
        pow(x, number)... their input; relu, sigmoid, exp, sqrt... their output; a product of
        activations each operand the other's gradient needs (as ``multiply``); a product with a
        parameter the activation (for the parameter's gradient), with a computed constant both,
        with a buffer or a number nothing new; a quotient x / c saves c, and x when c needs a
        gradient. A parameter or buffer operand is saved but counted as a parameter or buffer.
        ``F.batch_norm`` (a BatchNorm module on a folded batch: LeViT) saves what batch norm
        saves (cnnstat.ops.norm), taken to train with the step as its module does. Everything
        else (dropout with p > 0, whose training mask the eval-mode capture did not see —
        dropout with p = 0 is the input itself —, comparisons, the other normalizations) has no
        rule."""
        fn, operand, n = a["fn"], a["operand"], len(inputs)
        if fn == "batch_norm" and a["channels"] and n == 1:
            return batch_norm_memory(inputs[0], a["channels"], ctx)
        if fn in ("dropout", "dropout1d", "dropout2d", "dropout3d") and n == 1:
            # p = 0 (the capture names p > 0 otherwise): the input itself, as Dropout's rule
            return OpMemory(view_of=0, input_grads=(VIEW,))
        if a["view"] and fn not in INPLACE or fn not in SAVES_NOTHING and (
                operand in ("constant", "several") or operand == "computed" and not a["other"]):
            raise NoRule(self.name)
        base = fn[:-1] if fn in INPLACE and fn.endswith("_") else fn
        computed = (Saved.new(numel(a["other"]) or 1, ACT, "computed operand"),) \
            if operand == "computed" else ()
        if base in SAVES_NOTHING:
            saved: tuple = ()
        elif base in SAVES_INPUT and n == 1 and not operand and not a["view"]:
            saved = (Saved.input(0),)
        elif base in SAVES_OUTPUT and n == 1 and not operand:
            saved = (Saved.output(),)
        elif base in PRODUCTS:
            if n > 1 and operand:
                raise NoRule(self.name)
            saved = _pairwise_saved("mul", inputs, ctx, both=False) if n > 1 else \
                ((Saved.input(0),) if operand in ("parameter", "computed") else ()) + computed
        elif base in QUOTIENTS and n <= 2 and not (n == 2 and operand):
            if n == 2:      # x / y: y for both gradients, x for y's
                saved = ((Saved.input(1),) if ctx.needs_grad(0) or ctx.needs_grad(1) else ()) \
                    + ((Saved.input(0),) if ctx.needs_grad(1) else ())
            else:
                saved = computed + ((Saved.input(0),) if operand in ("parameter", "computed")
                                    else ())
        else:
            raise NoRule(self.name)
        passes = base in ("add", "__add__", "__radd__", "__iadd__")     # the gradient itself
        grads = tuple(VIEW if passes and tuple(s) == tuple(output) else "new" for s in inputs)
        return OpMemory(saved, view_of=0 if a["view"] else None, input_grads=grads,
                        autocast=FP32 if ctx.device == "cuda" and base in CUDA_FP32 else KEEP,
                        mixes_params=operand in ("parameter", "buffer", "computed"))


@register
class Reduce(Op):
    name = "reduction"
    summary = "a reduction of an imported model (sum, mean, var, norm...) to the given shape"
    params = (Param("what", _text), Param("shape", _sizes, doc="output shape without the batch"),
              FN)

    def evaluate(self, a, inputs: Sequence[Shape]) -> Eval:
        return Eval(shape=(inputs[0][0],) + a["shape"], macs={POOL: numel(inputs[0])}, rf=GLOBAL)

    def describe(self, a, inputs) -> str:
        return a["what"]

    def memory(self, a, inputs, output, ctx: Context) -> OpMemory:
        """sum, mean (and argmax, all...: no gradient) save nothing; amax, amin, norm,
        logsumexp and std their input and their result; var its input; max/min along a dim
        (``max_dim``, the values of a (values, indices) pair) the int64 indices, output-sized.
        CUDA autocast runs sum, norm and logsumexp in float32."""
        fn = a["fn"]
        if fn in REDUCE_SAVES_NOTHING:
            saved: tuple = ()
        elif fn in REDUCE_SAVES_BOTH:
            saved = (Saved.input(0), Saved.output())
        elif fn in REDUCE_SAVES_INPUT:
            saved = (Saved.input(0),)
        elif fn in ("max_dim", "min_dim"):
            saved = (Saved.new(numel(output), "int64", "indices"),)
        else:
            raise NoRule(self.name)
        # sum's input gradient is the output's expanded (a view); the others' are new tensors
        return OpMemory(saved, input_grads=(VIEW,) if fn == "sum" else (),
                        autocast=FP32 if ctx.device == "cuda" and fn in CUDA_FP32 else KEEP)


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
