"""Normalization: batch norm (1-D, 2-D and 3-D), local response normalization, layer norms, scale.

Conventions:
- BatchNorm: 2*C trainable parameters (gamma, beta) when affine; buffers running_mean and
  running_var (C each) and num_batches_tracked (1), as torch's ``buffers()`` holds them.
  At inference it folds into one multiply-add per element (kind "norm"). Connections: one weighted
  and one bias link per output unit when affine.
- LRN (Krizhevsky et al. 2012, §3.3): no parameters; ``size`` multiply-adds per element for the
  sum of squares over neighbouring channels (kind "norm").
- LayerNorm, LayerNorm2d and Scale: one multiply-add per element (kind "norm"); parameters as
  stated in each rule.
"""

from __future__ import annotations

from typing import Sequence

from ..errors import ShapeError
from ..memory.saved import ACT, FP32, KEEP, STAT, Context, OpMemory, Saved
from .base import Eval, Op, RankOp, register, register_ranks
from .kinds import NORM
from .schema import Param, boolean, number, positive_int
from .shapes import Shape, fmt_shape, need_feature_map, need_spatial, numel
from .transfer import GLOBAL, IDENTITY, WHOLE, Transfer


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

    def memory(self, a, inputs, output, ctx: Context) -> OpMemory:
        """Its input's channels are the statistics' (batch_norm_memory)."""
        return batch_norm_memory(inputs[0], inputs[0][1], ctx)


def batch_norm_memory(shape: Shape, channels: int, ctx: Context) -> OpMemory:
    """Batch norm over ``channels`` (a BatchNorm module's, or ``F.batch_norm`` on a folded batch:
    cnnstat.ops.tensor's pointwise). Training: its input and the batch's mean and inverse standard
    deviation per channel (save_mean, save_invstd); the weight and running statistics it also
    holds are parameters and buffers. At inference nothing is saved (the memory model saves only
    in training)."""
    if ctx.train and numel(shape) == channels:
        raise ShapeError(f"batch norm in training needs more than one value per channel "
                         f"(input {list(shape)}: batch {shape[0]}); PyTorch refuses it too")
    return OpMemory((Saved.input(0), Saved.new(channels, STAT, "batch mean"),
                     Saved.new(channels, STAT, "batch inverse std")))


@register
class BatchNorm1d(_BatchNorm):
    name = "batchnorm1d"
    torch_name = "BatchNorm1d"
    summary = "batch normalization over the features of a vector (N x F) or the channels of a 1-D map"

    def channels(self, shape: Shape) -> int:
        if len(shape) not in (2, 3):
            raise ShapeError(f"batchnorm1d needs N x F or N x C x L, got {fmt_shape(shape)}"
                             + (" (a 2-D feature map takes batchnorm2d)" if len(shape) == 4 else
                                " (a 3-D feature map takes batchnorm3d)" if len(shape) == 5 else ""))
        return shape[1]


class _BatchNormMap(_BatchNorm, RankOp):
    """Batch norm over the channels of a feature map of one spatial rank (BatchNorm2d/3d)."""

    @classmethod
    def schema(cls, rank: int) -> tuple[Param, ...]:
        return _BatchNorm.params

    def channels(self, shape: Shape) -> int:
        return need_feature_map(self.name, shape, self.rank)[1]


BatchNorm2d, BatchNorm3d = register_ranks(_BatchNormMap, "batchnorm{r}d", "BatchNorm{r}d", {
    2: "batch normalization over the channels of a 2-D feature map",
    3: "batch normalization over the channels of a 3-D feature map (video, volumes)"})


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
        shape = inputs[0]
        need_spatial(self.name, shape)              # across the channels of a map of any rank
        return Eval(shape=shape, macs={NORM: numel(shape) * a["size"]})

    def describe(self, a, inputs) -> str:
        return (f"LocalResponseNorm({a['size']}, alpha={_g(a['alpha'])}, beta={_g(a['beta'])}, "
                f"k={_g(a['k'])})")

    def memory(self, a, inputs, output, ctx: Context) -> OpMemory:
        """torch.nn.functional.local_response_norm (x / (k + alpha * avg(x^2))^beta): saves the
        input, the squares padded by size - 1 channels (for the average pooling), the base of
        the power and the denominator. Under autocast the pooling runs in float32 on CPU and the
        power in float32 on CUDA; from there on everything is float32."""
        n, c, *spatial = inputs[0]
        plane = numel(spatial)
        padded = "fp32" if ctx.amp and ctx.device == "cpu" else ACT
        rest = "fp32" if ctx.amp else ACT
        return OpMemory((Saved.input(0), Saved.new(n * (c + a["size"] - 1) * plane, padded,
                                                   "padded squares"),
                         Saved.new(n * c * plane, rest, "power base"),
                         Saved.new(n * c * plane, rest, "denominator")),
                        output_dtype="fp32" if ctx.amp else None)


@register
class LayerNorm(Op):
    """torch.nn.LayerNorm over the last ``dims`` dimensions (Ba, Kiros & Hinton 2016): per sample,
    normalize over those dimensions, then (``affine``) multiply by a learned weight and add a
    learned bias of that shape: params = prod(normalized shape) * (1 + bias) when affine. Work:
    one multiply-add per element (kind "norm"). Receptive field: on a feature map (N, C, *spatial)
    normalizing the last ``dims`` dimensions mixes those spatial axes wholly (on (N, C, H, W):
    one dim mixes a row, W; two mix H too); on vectors every output sees everything (as for
    linear)."""

    name = "layernorm"
    summary = "layer normalization over the last dims (torch.nn.LayerNorm)"
    params = (
        Param("dims", positive_int, 1, "how many trailing dimensions are normalized"),
        Param("eps", number, 1e-5),
        Param("affine", boolean, True, "learned weight (elementwise_affine)"),
        Param("bias", boolean, True, "learned bias (with affine)"),
    )

    def evaluate(self, a, inputs: Sequence[Shape]) -> Eval:
        shape = inputs[0]
        if a["dims"] >= len(shape):
            besides = len(shape) - 1
            raise ShapeError(f"layernorm: dims={a['dims']}, but the input ({fmt_shape(shape)}) has "
                             f"only {besides} dimension{'s' if besides != 1 else ''} besides "
                             f"the batch, and the batch is not normalized")
        normalized = numel(shape[len(shape) - a["dims"]:])
        per = (1 + (1 if a["bias"] else 0)) if a["affine"] else 0
        rank = len(shape) - 2
        if rank >= 1:
            rf = Transfer(tuple(WHOLE if rank - i <= a["dims"] else IDENTITY for i in range(rank)))
        else:
            rf = GLOBAL
        return Eval(shape=shape, params=normalized * per, connections=numel(shape[1:]) * per,
                    macs={NORM: numel(shape)}, rf=rf)

    def describe(self, a, inputs) -> str:
        dims = tuple(inputs[0][len(inputs[0]) - a["dims"]:])
        bias = "" if a["bias"] or not a["affine"] else ", bias=False"
        return f"LayerNorm({dims}, eps={_g(a['eps'])}, elementwise_affine={a['affine']}{bias})"

    def memory(self, a, inputs, output, ctx: Context) -> OpMemory:
        """Its input and a mean and inverse standard deviation per normalized row (float32
        under CUDA autocast, which runs layer norm in float32)."""
        shape = inputs[0]
        rows = numel(shape[:len(shape) - a["dims"]])
        return OpMemory((Saved.input(0), Saved.new(rows, STAT, "row mean"),
                         Saved.new(rows, STAT, "row inverse std")),
                        autocast=FP32 if ctx.device == "cuda" else KEEP)


@register
class LayerNorm2d(Op):
    """Layer normalization over the channels of a feature map, at every position: torchvision's
    LayerNorm2d (ConvNeXt, Liu et al. 2022), i.e. LayerNorm over C of the N x H x W x C tensor.
    params = 2C when affine (C without bias); one multiply-add per element (kind "norm");
    pointwise in space, so receptive fields pass unchanged."""

    name = "layernorm2d"
    summary = "layer normalization over the channels at each position (ConvNeXt's LayerNorm2d)"
    params = (
        Param("eps", number, 1e-5),
        Param("affine", boolean, True),
        Param("bias", boolean, True),
    )

    def evaluate(self, a, inputs: Sequence[Shape]) -> Eval:
        n, c, h, w = need_feature_map(self.name, inputs[0], 2)
        per = (1 + (1 if a["bias"] else 0)) if a["affine"] else 0
        return Eval(shape=inputs[0], params=c * per, connections=c * h * w * per,
                    macs={NORM: numel(inputs[0])})

    def describe(self, a, inputs) -> str:
        bias = "" if a["bias"] or not a["affine"] else ", bias=False"
        return (f"LayerNorm2d(({inputs[0][1]},), eps={_g(a['eps'])}, "
                f"elementwise_affine={a['affine']}{bias})")

    def memory(self, a, inputs, output, ctx: Context) -> OpMemory:
        """LayerNorm over C of the permuted N x H x W x C view: saves that view (the input's
        storage) and a mean and inverse std per position."""
        n, c, *spatial = inputs[0]
        rows = n * numel(spatial)
        return OpMemory((Saved.input(0), Saved.new(rows, STAT, "row mean"),
                         Saved.new(rows, STAT, "row inverse std")),
                        autocast=FP32 if ctx.device == "cuda" else KEEP)


@register
class Scale(Op):
    """A learned per-channel multiplier, plus a learned per-channel bias with ``bias``: Caffe's
    Scale layer (axis 1, num_axes 1), the affine half of Caffe's BatchNorm + Scale pair, and
    ConvNeXt's layer scale (Liu et al. 2022). params = C * (1 + bias); one multiply-add per
    element (kind "norm", like the batch norm it completes); pointwise."""

    name = "scale"
    summary = "learned per-channel scale (and bias): Caffe Scale, ConvNeXt layer scale"
    params = (Param("bias", boolean, False),)

    def evaluate(self, a, inputs: Sequence[Shape]) -> Eval:
        shape = inputs[0]
        if len(shape) < 2:
            raise ShapeError("scale needs channels (N x C ...)")
        per = 1 + (1 if a["bias"] else 0)
        return Eval(shape=shape, params=shape[1] * per, connections=numel(shape[1:]) * per,
                    macs={NORM: numel(shape)})

    def describe(self, a, inputs) -> str:
        return f"Scale({inputs[0][1]}, bias={a['bias']})"

    def memory(self, a, inputs, output, ctx: Context) -> OpMemory:
        """x * weight (+ bias): saves its input and the weight; under autocast the float32
        weight promotes the product to float32."""
        return OpMemory((Saved.input(0),), mixes_params=True)
