"""Shape helpers shared by rules: sizes, feature-map checks, sliding-window output sizes."""

from __future__ import annotations

from math import prod
from typing import Sequence

from ..errors import ShapeError
from .axes import AXES, RANKS, layout, spatial_axes
from .registry import REGISTRY

Shape = tuple[int, ...]


def numel(shape: Shape) -> int:
    return prod(shape)


def fmt_shape(shape: Shape) -> str:
    """A shape without its batch dimension, as 64x56x56."""
    return "x".join(str(d) for d in shape[1:]) or "scalar"


def need_feature_map(op: str, shape: Shape, rank: int = 2) -> Shape:
    """``shape`` itself when it is a feature map of spatial rank ``rank`` (N, C, *spatial), else
    a ShapeError that says what the layer takes and what it got."""
    if len(shape) != rank + 2:
        got = (f"a vector of {shape[1]} features" if len(shape) == 2 else
               f"a {len(shape) - 2}-D feature map {fmt_shape(shape)}" if len(shape) in (3, 4, 5)
               else f"shape {fmt_shape(shape)}")
        raise ShapeError(f"{op} needs a {layout(rank)} feature map, got {got}"
                         + _rank_hint(op, rank, len(shape) - 2))
    return shape


def need_spatial(op: str, shape: Shape) -> int:
    """The spatial rank of a feature map of any rank (1, 2 or 3), or a ShapeError."""
    rank = len(shape) - 2
    if rank not in AXES:
        got = f"a vector of {shape[1]} features" if len(shape) == 2 else f"shape {fmt_shape(shape)}"
        raise ShapeError(f"{op} needs a feature map ({', '.join(layout(r) for r in RANKS)}), "
                         f"got {got}")
    return rank


def _rank_hint(op: str, rank: int, got: int) -> str:
    """' (a 2-D feature map takes conv2d)' when the operator has a form for the rank it got."""
    suffix = f"{rank}d"
    if got in AXES and op.endswith(suffix):
        other = op[: -len(suffix)] + f"{got}d"
        if other in REGISTRY:
            return f" (a {got}-D feature map takes {other})"
    return ""


def window_out(size: int, kernel: int, stride: int, pad_lo: int, pad_hi: int, dilation: int = 1,
               ceil_mode: bool = False) -> int:
    """Output length of a sliding window (PyTorch's ``pooling_output_shape``).

    span = size + pad_lo + pad_hi - dilation*(kernel-1) - 1
    out  = floor(span / stride) + 1, or with ceil_mode floor((span + stride - 1) / stride) + 1,
    where the last window must start inside the input or the left padding:
    if (out - 1) * stride >= size + pad_lo, drop it. A result <= 0 means nothing fits.
    """
    span = size + pad_lo + pad_hi - dilation * (kernel - 1) - 1
    if not ceil_mode:
        return span // stride + 1
    out = (span + stride - 1) // stride + 1
    if (out - 1) * stride >= size + pad_lo:
        out -= 1
    return out


def check_positive_size(op: str, out: Sequence[int], in_shape: Shape, why: str = "") -> None:
    if min(out) <= 0:
        raise ShapeError(f"{op} would produce an empty output ({'x'.join(map(str, out))}) from "
                         f"input {fmt_shape(in_shape)}{why}: the input is too small for this layer")


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def sliding_output(op: str, shape: Shape, kernel: Sequence[int], stride: Sequence[int],
                   padding: Sequence[tuple[int, int]], dilation: Sequence[int] | None = None,
                   ceil_mode: bool = False, must_fit: bool = False) -> tuple[int, ...]:
    """The spatial output size of a sliding window over a feature map (one size per axis), or a
    ShapeError that says why. ``must_fit``: the dilated kernel must fit in the padded input
    (PyTorch's convolutions require it; pooling with ceil_mode accepts a single overhanging
    window)."""
    sizes = shape[2:]
    if dilation is None:
        dilation = (1,) * len(sizes)
    out = []
    for i, (size, k, s, (lo, hi), d) in enumerate(zip(sizes, kernel, stride, padding, dilation)):
        n = window_out(size, k, s, lo, hi, d, ceil_mode)
        if n <= 0 or (must_fit and size + lo + hi < d * (k - 1) + 1):
            axis = spatial_axes(len(sizes))[i]
            eff = d * (k - 1) + 1
            raise ShapeError(f"{op}: the {'dilated ' if d > 1 else ''}window of {eff} is larger than "
                             f"the padded input {axis} {size + lo + hi} (input {fmt_shape(shape)}): "
                             "the input is too small for this layer")
        out.append(n)
    return tuple(out)
