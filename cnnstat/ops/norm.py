"""Normalization: batch norm (2-D and 1-D) and local response normalization.

Conventions:
- BatchNorm: 2*C trainable parameters (gamma, beta) when affine; buffers running_mean and
  running_var (C each) and num_batches_tracked (1), as torch's ``buffers()`` holds them.
  At inference it folds into one multiply-add per element (kind "norm"). Connections: one weighted
  and one bias link per output unit when affine.
- LRN (Krizhevsky et al. 2012, §3.3): no parameters; ``size`` multiply-adds per element for the
  sum of squares over neighbouring channels (kind "norm").
"""

from __future__ import annotations

from typing import Sequence

from ..errors import ShapeError
from .base import (NORM, Eval, Op, Param, Shape, boolean, fmt_shape, need_feature_map, number,
                   numel, positive_int, register)


def _g(x: float) -> str:
    """Floats as PyTorch prints them in module reprs (1e-05, 0.1)."""
    return repr(float(x))


class _BatchNorm(Op):
    torch_name = ""
    params = (
        Param("eps", number, 1e-5),
        Param("momentum", number, 0.1),
        Param("affine", boolean, True),
        Param("track_running_stats", boolean, True),
    )

    def channels(self, shape: Shape) -> int:
        raise NotImplementedError

    def evaluate(self, a, inputs: Sequence[Shape]) -> Eval:
        shape = inputs[0]
        c = self.channels(shape)
        if not a["track_running_stats"] and numel(shape) == c:
            # Without running statistics PyTorch normalizes with the batch's own statistics, even
            # at inference, and needs more than one value per channel.
            raise ShapeError(f"{self.name} without running statistics needs more than one value "
                             f"per channel (input {fmt_shape(shape)}, batch {shape[0]})")
        affine = 1 if a["affine"] else 0
        per_sample = numel(shape[1:])
        return Eval(
            shape=shape,
            params=2 * c * affine,
            buffers=(2 * c + 1) if a["track_running_stats"] else 0,
            connections=2 * per_sample * affine,
            macs={NORM: numel(shape)},
        )

    def describe(self, a, inputs) -> str:
        return (f"{self.torch_name}({self.channels(inputs[0])}, eps={_g(a['eps'])}, "
                f"momentum={_g(a['momentum'])}, affine={a['affine']}, "
                f"track_running_stats={a['track_running_stats']})")


@register
class BatchNorm2d(_BatchNorm):
    name = "batchnorm2d"
    torch_name = "BatchNorm2d"
    summary = "batch normalization over the channels of a feature map"

    def channels(self, shape: Shape) -> int:
        return need_feature_map(self.name, shape)[1]


@register
class BatchNorm1d(_BatchNorm):
    name = "batchnorm1d"
    torch_name = "BatchNorm1d"
    summary = "batch normalization over the features of a vector (N x F)"

    def channels(self, shape: Shape) -> int:
        if len(shape) not in (2, 3):
            raise ShapeError(f"batchnorm1d needs N x F or N x C x L, got {fmt_shape(shape)}")
        return shape[1]


@register
class LocalResponseNorm(Op):
    name = "lrn"
    summary = "local response normalization across channels (AlexNet, GoogLeNet)"
    params = (
        Param("size", positive_int, doc="number of neighbouring channels"),
        Param("alpha", number, 1e-4),
        Param("beta", number, 0.75),
        Param("k", number, 1.0),
    )

    def evaluate(self, a, inputs: Sequence[Shape]) -> Eval:
        shape = need_feature_map(self.name, inputs[0])
        return Eval(shape=shape, macs={NORM: numel(shape) * a["size"]})

    def describe(self, a, inputs) -> str:
        return (f"LocalResponseNorm({a['size']}, alpha={_g(a['alpha'])}, beta={_g(a['beta'])}, "
                f"k={_g(a['k'])})")
