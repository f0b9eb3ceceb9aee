"""Merges of several tensors: add, multiply (with PyTorch broadcasting) and concat.

Conventions: add, multiply and maximum cost (inputs - 1) operations per output element (kind
"elementwise", not counted by default); their inputs have one rank (broadcasting within it, as
PyTorch does: an N x C x 1 x 1 gate times an N x C x H x W map); concat moves data and costs zero operations of every kind.
Squeeze-and-excitation's rescaling is ``multiply`` of an N x C x H x W map by an N x C x 1 x 1
gate (broadcast). ``concat(..., crop='center')`` is U-Net's crop-and-concatenate (Ronneberger et
al. 2015; Çiçek et al. 2016 in 3-D): every input is center-cropped to the smallest size along each
spatial axis before concatenation.
"""

from __future__ import annotations

from typing import Sequence

from ..errors import DefinitionError, ShapeError
from ..memory.saved import ACT, NEW, VIEW, Context, OpMemory, Saved
from .base import Eval, Op, register
from .kinds import ELEMENTWISE
from .schema import Param, any_int, choice, optional
from .shapes import Shape, fmt_shape, numel
from .transfer import IDENTITY, POINTWISE, Transfer, Window


def broadcast(op: str, shapes: Sequence[Shape]) -> Shape:
    """PyTorch's broadcasting: align trailing dims; each pair must be equal or 1."""
    rank = max(len(s) for s in shapes)
    out = []
    for i in range(rank):
        sizes = {s[len(s) - rank + i] for s in shapes if len(s) - rank + i >= 0}
        sizes.discard(1)
        if len(sizes) > 1:
            raise ShapeError(f"{op}: shapes {' and '.join(fmt_shape(s) for s in shapes)} do not "
                             "match (nor broadcast)")
        out.append(sizes.pop() if sizes else 1)
    return tuple(out)


def _kind(shape: Shape) -> str:
    """'a 2-D feature map 16x32x32', 'a vector of 10 features'."""
    if len(shape) == 2:
        return f"a vector of {shape[1]} features"
    return f"a {len(shape) - 2}-D feature map {fmt_shape(shape)}"


def _pairwise_saved(op: str, inputs: Sequence[Shape], ctx: Context,
                    both: bool) -> tuple[Saved, ...]:
    """What a left-to-right chain of binary products (``both``: maxima) saves: step j keeps its
    left operand (input 0, or the result of inputs 0..j-1) when the right one needs a gradient,
    and the right one when the left needs one; a maximum keeps both."""
    saved = []
    for j in range(1, len(inputs)):
        left_needs = any(ctx.needs_grad(i) for i in range(j))
        if both or ctx.needs_grad(j):
            saved.append(Saved.input(0) if j == 1 else
                         Saved.new(numel(broadcast(op, inputs[:j])), ACT,
                                   f"result of inputs 0-{j - 1}"))
        if both or left_needs:
            saved.append(Saved.input(j))
    return tuple(saved)


def _broadcast_transfer(shape: Shape, out: Shape) -> Transfer:
    """How an input of a broadcasting merge maps output units to its own: one to one, except
    along a spatial axis of size 1 expanded to more, where every output unit reads unit 0 (a
    window of stride 0; a gate of N x C x 1 x 1 after global pooling already sees everything)."""
    if shape == out or len(shape) != len(out) or len(out) < 3:
        return POINTWISE
    return Transfer(tuple(Window(1, 0, 0) if size == 1 < n else IDENTITY
                          for size, n in zip(shape[2:], out[2:])))


class _Elementwise(Op):
    arity = None
    min_inputs = 2
    torch_name = ""

    def evaluate(self, a, inputs: Sequence[Shape]) -> Eval:
        if len({len(s) for s in inputs}) > 1:
            # PyTorch aligns trailing dimensions, so it would broadcast one input's batch against
            # a feature axis of the other: never what a network means
            raise ShapeError(f"{self.name}: inputs of different ranks ("
                             + ", ".join(_kind(s) for s in inputs)
                             + "): the batch of one would broadcast against a feature axis of "
                             "another")
        shape = broadcast(self.name, inputs)
        return Eval(shape=shape, macs={ELEMENTWISE: (len(inputs) - 1) * numel(shape)},
                    rf=tuple(_broadcast_transfer(s, shape) for s in inputs))

    def describe(self, a, inputs) -> str:
        return f"{self.torch_name}({len(inputs)} inputs)"


@register
class Add(_Elementwise):
    name = "add"
    torch_name = "Add"
    summary = "element-wise sum of two or more tensors (residual connections)"

    def memory(self, a, inputs, output, ctx: Context) -> OpMemory:
        """Saves nothing; each input's gradient is the output's (reduced for broadcast
        inputs)."""
        return OpMemory(input_grads=tuple(VIEW if tuple(s) == tuple(output) else NEW
                                          for s in inputs))


@register
class Multiply(_Elementwise):
    name = "multiply"
    torch_name = "Mul"
    summary = "element-wise product with broadcasting (squeeze-and-excitation)"

    def memory(self, a, inputs, output, ctx: Context) -> OpMemory:
        """Evaluated left to right, (x0 * x1) * x2 ...: each product saves its left operand when
        the right one needs a gradient and the right one when the left needs one, so k inputs
        keep the k inputs and the k - 2 intermediate products."""
        return OpMemory(_pairwise_saved(self.name, inputs, ctx, both=False))


@register
class Maximum(_Elementwise):
    """Element-wise maximum (Caffe's Eltwise MAX, ONNX Max, torch.maximum): (inputs - 1)
    comparisons per output element, kind "elementwise" like add."""

    name = "maximum"
    torch_name = "Maximum"
    summary = "element-wise maximum of two or more tensors (Caffe Eltwise MAX, ONNX Max)"

    def memory(self, a, inputs, output, ctx: Context) -> OpMemory:
        """Evaluated left to right like a product; each binary maximum saves both operands."""
        return OpMemory(_pairwise_saved(self.name, inputs, ctx, both=True))


@register
class Concat(Op):
    name = "concat"
    arity = None
    summary = "concatenation along a dimension (default: channels); crop='center' for U-Net"
    params = (
        Param("dim", any_int, 1),
        Param("crop", optional(choice("center")), None,
              "center-crop inputs to the smallest size along each spatial axis"),
    )

    def validate(self, a: dict) -> None:
        if a["crop"] and a["dim"] not in (1, -3):
            raise DefinitionError("concat: crop='center' is for channel concatenation (dim 1)")

    def evaluate(self, a, inputs: Sequence[Shape]) -> Eval:
        rank = len(inputs[0])
        if any(len(s) != rank for s in inputs):
            raise ShapeError("concat: inputs " + ", ".join(fmt_shape(s) for s in inputs)
                             + " have different ranks")
        dim = a["dim"] + rank if a["dim"] < 0 else a["dim"]
        if not 1 <= dim < rank:
            raise ShapeError(f"concat: dim {a['dim']} is out of range for rank {rank}")
        shapes = list(inputs)
        transfers = [Transfer() for _ in inputs]
        if a["crop"]:
            if rank < 3:
                raise ShapeError("concat: crop='center' needs feature maps")
            smallest = tuple(min(s[i] for s in shapes) for i in range(2, rank))
            # A crop by (top, left) is a window with negative padding: unit u reads u + top.
            transfers = [Transfer(tuple(Window(1, 1, -((n - m) // 2))
                                        for n, m in zip(s[2:], smallest))) for s in shapes]
            shapes = [s[:2] + smallest for s in shapes]
        for i in range(rank):
            if i != dim and len({s[i] for s in shapes}) > 1:
                raise ShapeError("concat: inputs " + ", ".join(fmt_shape(s) for s in inputs)
                                 + f" differ outside dimension {dim}"
                                 + ("" if a["crop"] or rank < 3 else
                                    " (U-Net-style skips need crop='center')"))
        out = list(shapes[0])
        out[dim] = sum(s[dim] for s in shapes)
        return Eval(shape=tuple(out), macs={ELEMENTWISE: 0}, rf=tuple(transfers))

    def describe(self, a, inputs) -> str:
        return f"Concat(dim={a['dim']}" + (", crop='center')" if a["crop"] else ")")

    def memory(self, a, inputs, output, ctx: Context) -> OpMemory:
        """Saves nothing; the inputs' gradients are slices of the output's (a centre-cropped
        input's gradient is a new zero tensor of its shape)."""
        return OpMemory(input_grads=tuple(NEW if a.get("crop") and any(
            s[d] != output[d] for d in range(2, len(s))) else VIEW for s in inputs))
