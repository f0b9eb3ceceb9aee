"""TEMPORARY STAND-IN: the saved-tensor rule of every cnnstat operator, in one table.

    >>> THIS MODULE IS A STAND-IN. Issue 17's second step (branch i17b) moves each entry below
    >>> into its operator's rule under cnnstat/ops/ (a ``memory()`` method beside ``evaluate``,
    >>> returning the same :class:`~cnnstat.memory.saved.OpMemory`), then deletes this file.
    >>> It lives here only because the operator files were being rewritten for 1-D/3-D tensors
    >>> (issue 14) when the memory model was written.

Each entry is what PyTorch 2.14's autograd keeps for the module cnnstat's torch bridge builds
for that operator (cnnstat/torch_bridge/modules.py), as measured by the saved-tensor oracle
(tests/oracles/saved_tensors.py; the measured table is docs/memory-measured.md) and checked
against it on random hyperparameters (tests/test_memory_standin.py). The formulas are written
for any spatial rank (the element counts use the whole shape), so they hold for the 1-D and 3-D
forms of the operators too.

An operator without an entry raises :class:`~cnnstat.memory.saved.NoRule`: the memory model
lists the layer as not counted, never guesses.
"""

from __future__ import annotations

from math import prod
from typing import Any, Callable, Mapping, Sequence

from ..errors import ShapeError
from .saved import (ACT, FP32, KEEP, LOWER, NEW, STAT, VIEW, Context, NoRule, OpMemory, Saved)

Shape = tuple[int, ...]
Rule = Callable[[Mapping[str, Any], Sequence[Shape], Shape, Context], OpMemory]
STANDIN: dict[str, Rule] = {}


def _entry(*names: str):
    def register(fn: Rule) -> Rule:
        for name in names:
            if name in STANDIN:
                raise RuntimeError(f"stand-in memory rule for '{name}' is registered twice")
            STANDIN[name] = fn
        return fn
    return register


def memory_rule(op: str, attrs: Mapping[str, Any], inputs: Sequence[Shape], output: Shape,
                ctx: Context) -> OpMemory:
    """The operator's :class:`OpMemory`, or :class:`NoRule`."""
    rule = STANDIN.get(op)
    if rule is None:
        raise NoRule(op)
    return rule(attrs, inputs, output, ctx)


def _n(shape: Shape) -> int:
    return prod(shape)


# -- convolutions: keep the input (for the weight's gradient) and the weight -----------------------
def _padding(a: Mapping[str, Any], spatial: int) -> tuple[tuple[int, int], ...]:
    """Per spatial axis (before, after), 'same' resolved as PyTorch does (odd pixel after)."""
    pad = a.get("padding", 0)
    if pad == "same":
        return tuple((d * (k - 1) // 2, d * (k - 1) - d * (k - 1) // 2)
                     for k, d in zip(a["kernel"], a["dilation"]))
    if pad == "valid" or pad is None:
        return ((0, 0),) * spatial
    if isinstance(pad, int):
        return ((pad, pad),) * spatial
    return tuple((p, p) if isinstance(p, int) else (p[0], p[1]) for p in pad)


@_entry("conv2d")
def _conv(a, inputs, output, ctx):
    """Saves its input and weight (ConvolutionBackward0). When the input is padded before the
    convolution — asymmetric or 'same' padding PyTorch cannot pass to the kernel, or a
    reflect/replicate/circular ``padding_mode`` — the padded copy is what it saves; a reflect or
    replicate pad also saves its own input."""
    shape = inputs[0]
    n, c = shape[0], shape[1]
    pads = _padding(a, len(shape) - 2)
    weight = a["out"] * (c // a["groups"]) * prod(a["kernel"])
    bias = a["out"] if a["bias"] else 0
    mode = a.get("padding_mode", "zeros")
    symmetric = all(lo == hi for lo, hi in pads)
    if mode == "zeros" and symmetric:
        saved = (Saved.input(0),)
    else:
        padded = n * c * prod(s + lo + hi for s, (lo, hi) in zip(shape[2:], pads))
        saved = (Saved.new(padded, ACT, "padded input"),)
        if mode in ("reflect", "replicate"):
            # the padding runs before the convolution, on the input as it came
            saved = (Saved.input(0, "input (of the padding)", cast=False),) + saved
    return OpMemory(saved, autocast=LOWER, cast_params=weight, cached_params=bias)


@_entry("conv_transpose2d")
def _conv_transpose(a, inputs, output, ctx):
    """Saves its input and weight (ConvolutionBackward0)."""
    c = inputs[0][1]
    weight = c * (a["out"] // a["groups"]) * prod(a["kernel"])
    return OpMemory((Saved.input(0),), autocast=LOWER, cast_params=weight,
                    cached_params=a["out"] if a["bias"] else 0)


@_entry("partial_conv2d")
def _partial_conv(a, inputs, output, ctx):
    """LeNet-5 C3, one small convolution per output map over ``x[:, row]``: the indexing copies
    the selected maps (saved by that map's convolution) and saves its index list (int64)."""
    n, _, *spatial = inputs[0]
    saved, weight = [], 0
    for row in a["table"]:
        saved.append(Saved.new(len(row), "int64", "index list"))
        saved.append(Saved.new(n * len(row) * prod(spatial), ACT, "selected input maps"))
        weight += len(row) * prod(a["kernel"])
    bias = len(a["table"]) if a["bias"] else 0
    return OpMemory(tuple(saved), autocast=LOWER, cast_params=weight, cached_params=bias)


@_entry("subsample")
def _subsample(a, inputs, output, ctx):
    """LeNet-5 S2/S4, a depthwise convolution with one tied coefficient per map: saves its input
    (and the expanded weight, C x k x k: under autocast a low-precision copy)."""
    c = inputs[0][1]
    return OpMemory((Saved.input(0),), autocast=LOWER, cast_params=c * prod(a["kernel"]),
                    cached_params=c if a["bias"] else 0)


# -- pooling -------------------------------------------------------------------------------------
@_entry("maxpool2d")
def _maxpool(a, inputs, output, ctx):
    """Saves its input and the argmax indices, int64, one per output element."""
    return OpMemory((Saved.input(0), Saved.new(_n(output), "int64", "indices")))


@_entry("avgpool2d")
def _avgpool(a, inputs, output, ctx):
    """Saves its input (AvgPool2DBackward0 reads only its shape, but holds it)."""
    return OpMemory((Saved.input(0),))


@_entry("adaptive_avgpool2d")
def _adaptive_avg(a, inputs, output, ctx):
    """Saves its input; to a 1 x 1 output PyTorch computes a mean, which saves nothing."""
    if all(s == 1 for s in output[2:]):
        return OpMemory()
    return OpMemory((Saved.input(0),))


@_entry("adaptive_maxpool2d")
def _adaptive_max(a, inputs, output, ctx):
    return OpMemory((Saved.input(0), Saved.new(_n(output), "int64", "indices")))


@_entry("global_avgpool")
def _global_avg(a, inputs, output, ctx):
    """A mean over the spatial axes: saves nothing (its backward needs only the shape)."""
    return OpMemory()


@_entry("global_maxpool")
def _global_max(a, inputs, output, ctx):
    """keepdim: AdaptiveMaxPool2d(1), input and int64 indices; else amax, input and output."""
    if a["keepdim"]:
        return OpMemory((Saved.input(0), Saved.new(_n(output), "int64", "indices")))
    return OpMemory((Saved.input(0), Saved.output()))


# -- normalization -------------------------------------------------------------------------------
@_entry("batchnorm2d", "batchnorm1d")
def _batchnorm(a, inputs, output, ctx):
    """Training: its input and the batch's mean and inverse standard deviation per channel
    (save_mean, save_invstd); the weight and running statistics it also holds are parameters
    and buffers. At inference nothing is saved."""
    c = inputs[0][1]
    if ctx.train and _n(inputs[0]) == c:
        raise ShapeError(f"batch norm in training needs more than one value per channel (input "
                         f"{list(inputs[0])}: batch {inputs[0][0]}); PyTorch refuses it too")
    return OpMemory((Saved.input(0), Saved.new(c, STAT, "batch mean"),
                     Saved.new(c, STAT, "batch inverse std")))


@_entry("layernorm")
def _layernorm(a, inputs, output, ctx):
    """Its input and a mean and inverse standard deviation per normalized row (float32 under
    CUDA autocast, which runs layer norm in float32)."""
    shape = inputs[0]
    rows = _n(shape[:len(shape) - a["dims"]])
    return OpMemory((Saved.input(0), Saved.new(rows, STAT, "row mean"),
                     Saved.new(rows, STAT, "row inverse std")),
                    autocast=FP32 if ctx.device == "cuda" else KEEP)


@_entry("layernorm2d")
def _layernorm2d(a, inputs, output, ctx):
    """LayerNorm over C of the permuted N x H x W x C view: saves that view (the input's storage)
    and a mean and inverse std per position."""
    n, c, *spatial = inputs[0]
    rows = n * prod(spatial)
    return OpMemory((Saved.input(0), Saved.new(rows, STAT, "row mean"),
                     Saved.new(rows, STAT, "row inverse std")),
                    autocast=FP32 if ctx.device == "cuda" else KEEP)


@_entry("lrn")
def _lrn(a, inputs, output, ctx):
    """torch.nn.functional.local_response_norm (x / (k + alpha * avg(x^2))^beta): saves the
    input, the squares padded by size - 1 channels (for the average pooling), the base of the
    power and the denominator. Under autocast the pooling runs in float32 on CPU and the power
    in float32 on CUDA; from there on everything is float32."""
    n, c, *spatial = inputs[0]
    plane = prod(spatial)
    padded = "fp32" if ctx.amp and ctx.device == "cpu" else ACT
    rest = "fp32" if ctx.amp else ACT
    return OpMemory((Saved.input(0), Saved.new(n * (c + a["size"] - 1) * plane, padded,
                                               "padded squares"),
                     Saved.new(n * c * plane, rest, "power base"),
                     Saved.new(n * c * plane, rest, "denominator")),
                    output_dtype="fp32" if ctx.amp else None)


@_entry("scale")
def _scale(a, inputs, output, ctx):
    """x * weight (+ bias): saves its input and the weight; under autocast the float32 weight
    promotes the product to float32."""
    return OpMemory((Saved.input(0),), mixes_params=True)


# -- activations ---------------------------------------------------------------------------------
@_entry("relu", "sigmoid", "tanh")
def _keeps_output(a, inputs, output, ctx):
    """The gradient is a function of the output: ReluBackward0, SigmoidBackward0, TanhBackward0
    save their result."""
    return OpMemory((Saved.output(),))


@_entry("relu6", "hardtanh", "leaky_relu", "elu", "gelu", "silu", "mish", "hardswish",
        "hardsigmoid")
def _keeps_input(a, inputs, output, ctx):
    """The gradient is a function of the input (ReLU6 is Hardtanh(0, 6)): they save their input."""
    return OpMemory((Saved.input(0),))


@_entry("prelu")
def _prelu(a, inputs, output, ctx):
    """Saves its input and its slopes (on autocast's low-precision list)."""
    return OpMemory((Saved.input(0),), autocast=LOWER, cast_params=a["num_parameters"])


@_entry("softmax", "log_softmax")
def _softmax(a, inputs, output, ctx):
    """Saves its output; CUDA autocast runs both in float32."""
    return OpMemory((Saved.output(),), autocast=FP32 if ctx.device == "cuda" else KEEP)


@_entry("identity")
def _identity(a, inputs, output, ctx):
    return OpMemory(view_of=0, input_grads=(VIEW,))


# -- linear and shape plumbing -------------------------------------------------------------------
@_entry("linear")
def _linear(a, inputs, output, ctx):
    """Saves its input (a view of it, flattened to 2-D) and the weight (AddmmBackward0 /
    MmBackward0)."""
    features = inputs[0][-1]
    return OpMemory((Saved.input(0),), autocast=LOWER, cast_params=a["out"] * features,
                    cached_params=a["out"] if a["bias"] else 0)


@_entry("channel_linear")
def _channel_linear(a, inputs, output, ctx):
    """permute -> Linear -> permute: flattening the permuted N x H x W x C view for the matrix
    product copies it (unless N, C or H x W is 1: then it is a view), and the copy is saved."""
    n, c, *spatial = inputs[0]
    copied = n > 1 and c > 1 and prod(spatial) > 1
    saved = Saved.new(_n(inputs[0]), ACT, "contiguous copy of the input") if copied \
        else Saved.input(0)
    return OpMemory((saved,), autocast=LOWER, cast_params=a["out"] * c,
                    cached_params=a["out"] if a["bias"] else 0)


@_entry("rbf")
def _rbf(a, inputs, output, ctx):
    """LeNet-5's RBF units, sum((x - w)^2) expanded as |x|^2 - 2 x.w + |w|^2 with fixed
    prototypes: saves its input; the prototypes (not trained) are held by the product, under
    autocast as a low-precision copy; the float32 |w|^2 term promotes the output."""
    return OpMemory((Saved.input(0),), mixes_params=True,
                    cast_params=a["out"] * inputs[0][-1])


@_entry("flatten", "reshape")
def _view(a, inputs, output, ctx):
    """A view of its (contiguous) input: nothing new, nothing saved."""
    return OpMemory(view_of=0, input_grads=(VIEW,))


@_entry("slice")
def _slice(a, inputs, output, ctx):
    """A view; its backward makes a zero tensor of the input's shape (so the gradient is new)."""
    return OpMemory(view_of=0)


@_entry("chunk")
def _chunk(a, inputs, output, ctx):
    """One part of torch.chunk: a view. Its backward fills the other parts with zeros and
    concatenates: the input's gradient is new, and the zero parts exist meanwhile."""
    return OpMemory(view_of=0, backward_temp=_n(inputs[0]) - _n(output))


@_entry("dropout")
def _dropout(a, inputs, output, ctx):
    """Training with 0 < p < 1: on CUDA the fused kernel saves a bool mask (1 byte per
    element); on CPU PyTorch multiplies by a scaled Bernoulli noise tensor of the input's dtype
    and that product saves the noise. p = 0 and inference return the input itself; p = 1
    multiplies by a zero scalar (saved)."""
    p = a["p"]
    if not ctx.train or p == 0:
        return OpMemory(view_of=0, input_grads=(VIEW,))
    if p == 1:
        return OpMemory((Saved.new(1, ACT, "zero"),))
    if ctx.device == "cuda":
        return OpMemory((Saved.new(_n(inputs[0]), "bool", "mask"),))
    return OpMemory((Saved.new(_n(inputs[0]), ACT, "mask (scaled noise)"),))


@_entry("stochastic_depth")
def _stochastic_depth(a, inputs, output, ctx):
    """torchvision.ops.stochastic_depth: training with p > 0 multiplies by a noise tensor of one
    element per sample ('row') or one ('batch'), which the product saves; else the identity."""
    if not ctx.train or a["p"] == 0:
        return OpMemory(view_of=0, input_grads=(VIEW,))
    count = inputs[0][0] if a["mode"] == "row" else 1
    return OpMemory((Saved.new(count, ACT, "noise"),))


@_entry("matmul")
def _matmul(a, inputs, output, ctx):
    """Each factor is saved for the other's gradient (views when the batch dims agree)."""
    saved = []
    if ctx.needs_grad(1):
        saved.append(Saved.input(0))
    if ctx.needs_grad(0):
        saved.append(Saved.input(1))
    return OpMemory(tuple(saved), autocast=LOWER)


# -- merges --------------------------------------------------------------------------------------
def _broadcast(shapes: Sequence[Shape]) -> Shape:
    rank = max(len(s) for s in shapes)
    padded = [(1,) * (rank - len(s)) + tuple(s) for s in shapes]
    return tuple(max(d) for d in zip(*padded))


@_entry("add")
def _add(a, inputs, output, ctx):
    """Saves nothing; each input's gradient is the output's (reduced for broadcast inputs)."""
    return OpMemory(input_grads=tuple(VIEW if tuple(s) == tuple(output) else NEW for s in inputs))


@_entry("multiply")
def _multiply(a, inputs, output, ctx):
    """Evaluated left to right, (x0 * x1) * x2 ...: each product saves its left operand when the
    right one needs a gradient and the right one when the left needs one, so k inputs keep the
    k inputs and the k - 2 intermediate products."""
    return OpMemory(_pairwise(inputs, ctx, both=False))


@_entry("maximum")
def _maximum(a, inputs, output, ctx):
    """Evaluated left to right like a product; each binary maximum saves both operands."""
    return OpMemory(_pairwise(inputs, ctx, both=True))


def _pairwise(inputs: Sequence[Shape], ctx: Context, both: bool) -> tuple[Saved, ...]:
    saved = []
    for j in range(1, len(inputs)):
        left_needs = any(ctx.needs_grad(i) for i in range(j))
        if both or ctx.needs_grad(j):
            saved.append(Saved.input(0) if j == 1 else
                         Saved.new(_n(_broadcast(inputs[:j])), ACT, f"result of inputs 0-{j - 1}"))
        if both or left_needs:
            saved.append(Saved.input(j))
    return tuple(saved)


@_entry("concat")
def _concat(a, inputs, output, ctx):
    """Saves nothing; the inputs' gradients are slices of the output's (a centre-cropped input's
    gradient is a new zero tensor of its shape)."""
    return OpMemory(input_grads=tuple(NEW if a.get("crop") and any(
        s[d] != output[d] for d in range(2, len(s))) else VIEW for s in inputs))


@_entry("channel_shuffle")
def _shuffle(a, inputs, output, ctx):
    """view -> transpose -> reshape: the reshape copies (a view when groups or C / groups is
    1: the transpose then moves nothing); nothing saved."""
    c, g = inputs[0][1], a["groups"]
    if g == 1 or c // g == 1:
        return OpMemory(view_of=0, input_grads=(VIEW,))
    return OpMemory()


@_entry("upsample", "zero_pad2d", "pad_shortcut")
def _resample(a, inputs, output, ctx):
    """Nearest/bilinear/bicubic upsampling, zero padding and ResNet's option-A shortcut save
    nothing: their backward needs only the shapes."""
    return OpMemory()
