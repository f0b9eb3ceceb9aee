"""Fully connected layers and shape plumbing: linear, LeNet-5's RBF output, flatten, reshape,
dropout, identity.

Conventions:
- linear: applied to the last dimension, as torch.nn.Linear; weight MACs = elements of the output
  x in_features; connections (per sample) = out_units * (in_features + 1 with bias). Without
  ``in_features`` the layer takes the size of its input; with it (the size its weights fix, as
  ``nn.Linear(in_features, out)`` does) another input size is an error (FixedSizeError), never a
  silently different layer.
- rbf (LeCun et al. 1998, eq. 7): y_i = sum_j (x_j - w_ij)^2 with fixed, hand-chosen prototypes w:
  out*in parameters that are not trainable; one multiply-add per (i, j) pair.
- flatten, reshape, dropout and stochastic depth (at inference) and identity move no data through
  weights: zero MACs of every kind, stated, not guessed.
- matmul (two activations): output elements x inner size, kind "attention".
"""

from __future__ import annotations

from typing import Any, Sequence

from ..errors import FixedSizeError, ShapeError
from ..memory.saved import ACT, LOWER, VIEW, Context, OpMemory, Saved
from .base import Eval, Op, TorchModule, register
from .kinds import ATTENTION, BIAS, WEIGHT
from .schema import (HELD, ArgumentError, Param, any_int, boolean, choice, held, number, optional,
                     positive_int)
from .shapes import Shape, fmt_shape, need_feature_map, numel
from .transfer import GLOBAL, WHOLE, on_axis
from .merge import broadcast


@register
class Linear(Op):
    name = "linear"
    summary = "fully connected layer on the last dimension"
    params = (Param("out", positive_int, doc="output features"), Param("bias", boolean, True),
              Param("in_features", optional(positive_int), None,
                    doc="the input size its weights fix (default: the input's)"),
              HELD)

    def evaluate(self, a, inputs: Sequence[Shape]) -> Eval:
        shape = inputs[0]
        if len(shape) < 2:
            raise ShapeError("linear needs at least N x F input")
        n_in, out = shape[-1], a["out"]
        if a["in_features"] is not None and n_in != a["in_features"]:
            raise FixedSizeError(f"linear takes {a['in_features']:,} input features "
                                 f"(in_features={a['in_features']}), gets {n_in:,}",
                                 need=a["in_features"], got=n_in)
        out_shape = shape[:-1] + (out,)
        bias = 1 if a["bias"] else 0
        units = numel(out_shape)
        # A linear layer mixes the whole last axis: on N x F vectors that is everything, on a
        # feature map its last spatial axis (the width of (N, C, H, W)).
        rank = len(shape) - 2
        rf = on_axis(rank, rank - 1, WHOLE) if rank >= 1 else GLOBAL
        params, buffers = held(a, out * n_in + bias * out)
        return Eval(
            shape=out_shape,
            params=params,
            buffers=buffers,
            connections=numel(out_shape[1:]) * (n_in + bias),
            macs={WEIGHT: units * n_in, BIAS: units * bias},
            rf=rf,
        )

    def describe(self, a, inputs) -> str:
        return f"Linear(in_features={inputs[0][-1]}, out_features={a['out']}, bias={a['bias']})"

    def memory(self, a, inputs, output, ctx: Context) -> OpMemory:
        """Saves its input (a view of it, flattened to 2-D) and the weight (AddmmBackward0 /
        MmBackward0)."""
        features = inputs[0][-1]
        return OpMemory((Saved.input(0),), autocast=LOWER, cast_params=a["out"] * features,
                        cached_params=a["out"] if a["bias"] else 0)


@register
class RBF(Op):
    name = "rbf"
    summary = "Euclidean radial basis function units with fixed prototypes (LeNet-5 output)"
    params = (Param("out", positive_int),)

    def evaluate(self, a, inputs: Sequence[Shape]) -> Eval:
        shape = inputs[0]
        if len(shape) != 2:
            raise ShapeError(f"rbf needs a vector (N x F), got {fmt_shape(shape)}")
        n, n_in = shape
        out = a["out"]
        return Eval(shape=(n, out), params=out * n_in, trainable=0, connections=out * n_in,
                    macs={WEIGHT: n * out * n_in}, rf=GLOBAL)

    def describe(self, a, inputs) -> str:
        return f"RBF(in_features={inputs[0][-1]}, out_features={a['out']})"

    def memory(self, a, inputs, output, ctx: Context) -> OpMemory:
        """sum((x - w)^2) expanded as |x|^2 - 2 x.w + |w|^2 with fixed prototypes: saves its
        input; the prototypes (not trained) are held by the product, under autocast as a
        low-precision copy; the float32 |w|^2 term promotes the output."""
        return OpMemory((Saved.input(0),), mixes_params=True,
                        cast_params=a["out"] * inputs[0][-1])


@register
class Flatten(Op):
    name = "flatten"
    torch = TorchModule("Flatten", start_dim="start", end_dim="end")
    summary = "flatten dimensions start..end into one (default: all but the batch)"
    params = (Param("start", any_int, 1), Param("end", any_int, -1))

    def evaluate(self, a, inputs: Sequence[Shape]) -> Eval:
        shape = inputs[0]
        rank = len(shape)
        start = a["start"] + rank if a["start"] < 0 else a["start"]
        end = a["end"] + rank if a["end"] < 0 else a["end"]
        if not (0 <= start < rank and 0 <= end < rank) or start > end:
            raise ShapeError(f"flatten: dims {a['start']}..{a['end']} do not fit shape "
                             f"{fmt_shape(shape)}")
        if start == 0:
            raise ShapeError("flatten: start 0 would merge the batch dimension")
        out = shape[:start] + (numel(shape[start:end + 1]),) + shape[end + 1:]
        return Eval(shape=out)

    def memory(self, a, inputs, output, ctx: Context) -> OpMemory:
        """A view of its (contiguous) input: nothing new, nothing saved."""
        return OpMemory(view_of=0, input_grads=(VIEW,))


def _target_shape(value: Any) -> tuple[int, ...]:
    if not isinstance(value, (list, tuple)) or not value:
        raise ArgumentError(f"must be a list of sizes (without the batch), got {value!r}")
    dims = tuple(any_int(v) for v in value)
    if sum(1 for d in dims if d == -1) > 1 or any(d == 0 or d < -1 for d in dims):
        raise ArgumentError(f"must hold positive sizes and at most one -1, got {list(dims)}")
    return dims


@register
class Reshape(Op):
    name = "reshape"
    summary = "reshape to the given sizes (batch kept; one size may be -1)"
    params = (Param("shape", _target_shape, doc="sizes after the batch, e.g. [30, 7, 7]"),)

    def evaluate(self, a, inputs: Sequence[Shape]) -> Eval:
        shape = inputs[0]
        total = numel(shape[1:])
        dims = list(a["shape"])
        known = numel([d for d in dims if d != -1])
        if -1 in dims:
            if total % known:
                raise ShapeError(f"reshape: {total} elements cannot be arranged as {a['shape']}")
            dims[dims.index(-1)] = total // known
        elif known != total:
            raise ShapeError(f"reshape: {fmt_shape(shape)} has {total} elements, "
                             f"{list(a['shape'])} needs {known}")
        return Eval(shape=(shape[0],) + tuple(dims))

    def describe(self, a, inputs) -> str:
        return f"Reshape({', '.join(str(d) for d in a['shape'])})"

    def memory(self, a, inputs, output, ctx: Context) -> OpMemory:
        """A view of its (contiguous) input: nothing new, nothing saved."""
        return OpMemory(view_of=0, input_grads=(VIEW,))


def probability(value: Any) -> float:
    p = number(value)
    if not 0.0 <= p <= 1.0:
        raise ArgumentError(f"must be a probability between 0 and 1, got {p}")
    return p


@register
class Dropout(Op):
    name = "dropout"
    summary = "dropout (identity at inference)"
    params = (Param("p", probability, 0.5),)
    torch = TorchModule("Dropout", p="p")      # (imported from every dropout module: fx_modules)

    def evaluate(self, a, inputs: Sequence[Shape]) -> Eval:
        return Eval(shape=inputs[0])

    def describe(self, a, inputs) -> str:
        return f"Dropout(p={a['p']}, inplace=False)"

    def memory(self, a, inputs, output, ctx: Context) -> OpMemory:
        """Training with 0 < p < 1: on CUDA the fused kernel saves a bool mask (1 byte per
        element); on CPU PyTorch multiplies by a scaled Bernoulli noise tensor of the input's
        dtype and that product saves the noise. p = 0 and inference return the input itself;
        p = 1 multiplies by a zero scalar (saved)."""
        p = a["p"]
        if not ctx.train or p == 0:
            return OpMemory(view_of=0, input_grads=(VIEW,))
        if p == 1:
            return OpMemory((Saved.new(1, ACT, "zero"),))
        if ctx.device == "cuda":
            return OpMemory((Saved.new(numel(inputs[0]), "bool", "mask"),))
        return OpMemory((Saved.new(numel(inputs[0]), ACT, "mask (scaled noise)"),))


@register
class Identity(Op):
    name = "identity"
    summary = "passes its input through"
    torch = TorchModule("Identity", elementwise=True)

    def evaluate(self, a, inputs: Sequence[Shape]) -> Eval:
        return Eval(shape=inputs[0])

    def memory(self, a, inputs, output, ctx: Context) -> OpMemory:
        """The input itself."""
        return OpMemory(view_of=0, input_grads=(VIEW,))


@register
class ChannelLinear(Op):
    """torch.nn.Linear applied to the channels at every position of a feature map: the
    channels-last MLP of ConvNeXt (Liu et al. 2022) and Swin, written permute -> Linear ->
    permute in PyTorch. Same numbers as a 1x1 conv2d: params out*C (+ out), weight MACs
    N*H*W*out*C, connections H*W*out*(C + 1 with bias); pointwise in space."""

    name = "channel_linear"
    summary = "Linear over the channels at each position (channels-last MLP, ConvNeXt)"
    params = (Param("out", positive_int, doc="output channels"), Param("bias", boolean, True))

    def evaluate(self, a, inputs: Sequence[Shape]) -> Eval:
        n, c, h, w = need_feature_map(self.name, inputs[0], 2)
        out, bias = a["out"], 1 if a["bias"] else 0
        units = n * out * h * w
        return Eval(shape=(n, out, h, w), params=out * c + bias * out,
                    connections=out * h * w * (c + bias),
                    macs={WEIGHT: units * c, BIAS: units * bias})

    def describe(self, a, inputs) -> str:
        return (f"Linear(in_features={inputs[0][1]}, out_features={a['out']}, bias={a['bias']}) "
                "on channels")

    def memory(self, a, inputs, output, ctx: Context) -> OpMemory:
        """permute -> Linear -> permute: flattening the permuted N x H x W x C view for the
        matrix product copies it (unless N, C or H x W is 1: then it is a view), and the copy is
        saved."""
        n, c, *spatial = inputs[0]
        copied = n > 1 and c > 1 and numel(spatial) > 1
        saved = Saved.new(numel(inputs[0]), ACT, "contiguous copy of the input") if copied \
            else Saved.input(0)
        return OpMemory((saved,), autocast=LOWER, cast_params=a["out"] * c,
                        cached_params=a["out"] if a["bias"] else 0)


@register
class StochasticDepth(Op):
    """Stochastic depth (Huang et al. 2016), torchvision.ops.StochasticDepth: drops the whole
    residual branch ('row': per sample, 'batch': for the batch) with probability p in training;
    the identity at inference, so zero work of every kind."""

    name = "stochastic_depth"
    summary = "stochastic depth on a residual branch (identity at inference)"
    params = (Param("p", probability, 0.0), Param("mode", choice("row", "batch"), "row"))

    def evaluate(self, a, inputs: Sequence[Shape]) -> Eval:
        return Eval(shape=inputs[0])

    def describe(self, a, inputs) -> str:
        return f"StochasticDepth(p={a['p']}, mode={a['mode']})"

    def memory(self, a, inputs, output, ctx: Context) -> OpMemory:
        """torchvision.ops.stochastic_depth: training with p > 0 multiplies by a noise tensor of
        one element per sample ('row') or one ('batch'), which the product saves; else the
        identity."""
        if not ctx.train or a["p"] == 0:
            return OpMemory(view_of=0, input_grads=(VIEW,))
        count = inputs[0][0] if a["mode"] == "row" else 1
        return OpMemory((Saved.new(count, ACT, "noise"),))


@register
class MatMul(Op):
    """torch.matmul of two activations (e.g. attention's Q K^T), batched and broadcast like torch:
    (..., M, K) @ (..., K, N) -> (..., M, N). Attention MACs: elements of the output x K (the
    convention of fvcore and FlopCounterMode for mm/bmm). No parameters: a product with a weight
    matrix is a linear layer. Every output mixes whole rows and columns of its inputs, so the
    receptive field is the whole input. Kind "attention": a contraction of two activations.
    """

    name = "matmul"
    arity = None            # its inputs are layers, written like a merge's: matmul(q, k)
    min_inputs = 2
    summary = "matrix product of two activations (batched, broadcasting)"

    def evaluate(self, a, inputs: Sequence[Shape]) -> Eval:
        if len(inputs) != 2:
            raise ShapeError(f"matmul takes two inputs, got {len(inputs)}")
        x, y = inputs
        if len(x) < 2 or len(y) < 2:
            raise ShapeError("matmul needs two tensors of rank 2 or more")
        if x[-1] != y[-2]:
            raise ShapeError(f"matmul: {fmt_shape(x)} @ {fmt_shape(y)}: inner sizes {x[-1]} and "
                             f"{y[-2]} differ")
        batch = broadcast("matmul", [x[:-2], y[:-2]]) if len(x) > 2 or len(y) > 2 else ()
        out = tuple(batch) + (x[-2], y[-1])
        return Eval(shape=out, macs={ATTENTION: numel(out) * x[-1]}, rf=(GLOBAL, GLOBAL))

    def describe(self, a, inputs) -> str:
        return "MatMul()"

    def memory(self, a, inputs, output, ctx: Context) -> OpMemory:
        """Each factor is saved for the other's gradient (views when the batch dims agree)."""
        saved = []
        if ctx.needs_grad(1):
            saved.append(Saved.input(0))
        if ctx.needs_grad(0):
            saved.append(Saved.input(1))
        return OpMemory(tuple(saved), autocast=LOWER)
