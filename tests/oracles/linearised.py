"""A linearised torch copy of a cnnstat layer graph, for the receptive-field oracle.

Built here from torch's own layers and functionals, node by node, independently of cnnstat's
torch bridge (cnnstat/torch_bridge: its module table and its shapes from cnnstat's analysis): a
field measured on a network built by the code under test could share its mistakes. Each node's
layer is made on its first call, from the tensors it receives (channels, rank), so nothing here
reads cnnstat's shapes either; only the graph (operators, attributes, wiring) is shared, as it
must be.

Linearised: every layer becomes a linear map with non-negative weights (convolution and linear
weights uniform in [0.5, 1.5], no biases), so on a positive input nothing cancels and the
gradient of an output unit is non-zero exactly where the unit reads
(tests/test_receptive_oracle.py):
- activations, normalizations, dropout, softmax over the channels: the identity;
- max pooling (fixed windows): the sum over the same windows (WindowSum); adaptive and global max
  pooling: the average over the same windows;
- a product of tensors: their (broadcast) sum; zeros would cancel the other factor;
- ResNet's option-A shortcut: its added channels filled with the sum of the real ones (fields are
  per position, over all channels: every channel must carry its position's dependence);
- everything else is linear already and is built as torch builds it: average pooling, resizing
  (nn.Upsample), padding, slices, chunks, concatenation (U-Net's centre crop), channel shuffle.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

CONV_OPS = {f"conv{r}d" for r in (1, 2, 3)}
IDENTITY_OPS = {"relu", "relu6", "sigmoid", "tanh", "hardswish", "hardsigmoid", "silu", "mish",
                "gelu", "elu", "hardtanh", "leaky_relu", "prelu", "batchnorm1d", "batchnorm2d",
                "batchnorm3d", "lrn", "dropout", "identity", "layernorm2d", "stochastic_depth"}


def torch_layer(kind: str, rank: int):
    """torch's layer class of a spatial rank: ("Conv", 2) -> nn.Conv2d."""
    return getattr(nn, f"{kind}{rank}d")


def _ntuple(v, n: int) -> tuple:
    return tuple(v) if isinstance(v, (tuple, list)) else (v,) * n


def _pad_order(pairs) -> tuple[int, ...]:
    """Per-axis (before, after) pairs → F.pad's order (the last axis first)."""
    return tuple(v for lo_hi in reversed(list(pairs)) for v in lo_hi)


def _positive(module: nn.Module, generator: torch.Generator) -> nn.Module:
    """Weights uniform in [0.5, 1.5], biases removed (zero)."""
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.endswith("bias"):
                p.zero_()
            else:
                p.copy_(torch.rand(p.shape, generator=generator, dtype=p.dtype) + 0.5)
    return module


class Fn(nn.Module):
    """A parameter-free layer given as a function of the inputs."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, *xs):
        return self.fn(*xs)


class WindowSum(nn.Module):
    """Max pooling linearised: a depthwise convolution with ones over the same windows (stride,
    padding, dilation), with extra zero padding at the end of each axis where ceil_mode adds a
    last window. The output size is torch's max pooling's, measured on the fly. Any rank."""

    def __init__(self, pool: nn.Module):
        super().__init__()
        self.pool = pool

    def forward(self, x):
        p = self.pool
        rank = x.dim() - 2
        k, s, pad, d = (_ntuple(v, rank) for v in (p.kernel_size, p.stride, p.padding, p.dilation))
        with torch.no_grad():
            out = p(x.detach()).shape[2:]
        extra = [max(0, (o - 1) * st + dd * (kk - 1) + 1 - (n + 2 * pp))
                 for o, st, dd, kk, n, pp in zip(out, s, d, k, x.shape[2:], pad)]
        x = F.pad(x, _pad_order((pp, pp + e) for pp, e in zip(pad, extra)))
        weight = torch.ones(x.shape[1], 1, *k, dtype=x.dtype)
        conv = getattr(F, f"conv{rank}d")
        return conv(x, weight, stride=s, dilation=d, groups=x.shape[1])


def _summed(*xs):
    return sum(torch.broadcast_tensors(*xs))


def _filled_shortcut(x, out: int, stride: int):
    """ResNet option A (He et al. 2016, §4.2): x[:, :, ::stride, ...] with channels added up to
    ``out``, (out - C) // 2 in front and the rest behind, filled with the sum of the real ones."""
    real = x[(slice(None), slice(None)) + (slice(None, None, stride),) * (x.dim() - 2)]
    before = (out - real.shape[1]) // 2
    after = out - real.shape[1] - before
    total = real.sum(1, keepdim=True)
    return torch.cat([total] * before + [real] + [total] * after, dim=1)


def _centre_cropped_cat(dim: int, crop):
    def cat(*xs):
        if crop:                       # every input cropped to the smallest size, centred
            sizes = [min(x.shape[i] for x in xs) for i in range(2, xs[0].dim())]
            xs = tuple(x[(slice(None), slice(None)) + tuple(
                slice((x.shape[i + 2] - n) // 2, (x.shape[i + 2] - n) // 2 + n)
                for i, n in enumerate(sizes))] for x in xs)
        return torch.cat(xs, dim=dim)
    return cat


def _sliced(start, end, dim, step):
    def cut(x):
        index = [slice(None)] * x.dim()
        index[dim] = slice(start, end, step)
        return x[tuple(index)]
    return cut


def _shuffled(groups: int):
    def shuffle(x):
        n, c, *spatial = x.shape
        return x.view(n, groups, c // groups, *spatial).transpose(1, 2).reshape(n, c, *spatial)
    return shuffle


def _conv(a, x, generator):
    rank = x.dim() - 2
    pad = a["padding"]
    mode = a.get("padding_mode", "zeros")
    if pad != "same" and any(lo != hi for lo, hi in pad):   # asymmetric: padded first
        conv = torch_layer("Conv", rank)(x.shape[1], a["out"], a["kernel"], stride=a["stride"],
                                         dilation=a["dilation"], groups=a["groups"], bias=False)
        fill = "constant" if mode == "zeros" else mode
        return nn.Sequential(Fn(lambda t: F.pad(t, _pad_order(pad), mode=fill)),
                             _positive(conv, generator))
    padding = pad if pad == "same" else tuple(lo for lo, _ in pad)
    conv = torch_layer("Conv", rank)(x.shape[1], a["out"], a["kernel"], stride=a["stride"],
                                     padding=padding, dilation=a["dilation"], groups=a["groups"],
                                     bias=False, padding_mode=mode)
    return _positive(conv, generator)


def _partial_conv2d(a, x, generator):
    """LeNet-5 C3: output map j convolves the input maps table[j] only."""
    table = [list(row) for row in a["table"]]
    convs = nn.ModuleList(_positive(nn.Conv2d(len(row), 1, a["kernel"], stride=a["stride"],
                                              padding=a["padding"], bias=False), generator)
                          for row in table)
    layer = Fn(lambda t: torch.cat([conv(t[:, row]) for conv, row in zip(convs, table)], dim=1))
    layer.convs = convs
    return layer


def _subsample(a, x, generator):
    """LeNet-5 S2/S4: a positive coefficient per map times the sum of a k×k window."""
    c = x.shape[1]
    kernel = tuple(a["kernel"])
    stride = tuple(a["stride"] or kernel)
    weight = (torch.rand(c, generator=generator, dtype=x.dtype) + 0.5).view(c, 1, 1, 1) \
        .expand(c, 1, *kernel)
    return Fn(lambda t: F.conv2d(t, weight, stride=stride, groups=c))


def _upsample(a, x, generator):
    """nn.Upsample with a size or scale per spatial axis (one value given: every axis)."""
    rank = x.dim() - 2

    def per_axis(values):
        return None if values is None else tuple(values) * (rank if len(values) == 1 else 1)
    return nn.Upsample(size=per_axis(a["size"]), scale_factor=per_axis(a["scale"]),
                       mode=a["mode"], align_corners=a["align_corners"])


def _layer(op: str, a, xs, generator) -> nn.Module:
    x = xs[0]
    rank = x.dim() - 2
    if op in IDENTITY_OPS or (op in ("softmax", "log_softmax") and a["dim"] in (1, -x.dim() + 1)):
        return nn.Identity()
    if op in ("add", "multiply"):
        return Fn(_summed)
    if op == "concat":
        return Fn(_centre_cropped_cat(a["dim"], a.get("crop")))
    if op in CONV_OPS:
        return _conv(a, x, generator)
    if op.startswith("conv_transpose"):
        return _positive(torch_layer("ConvTranspose", rank)(
            x.shape[1], a["out"], a["kernel"], stride=a["stride"], padding=a["padding"],
            output_padding=a["output_padding"], groups=a["groups"], bias=False,
            dilation=a["dilation"]), generator)
    if op == "partial_conv2d":
        return _partial_conv2d(a, x, generator)
    if op == "subsample":
        return _subsample(a, x, generator)
    if op.startswith(("maxpool", "avgpool")):
        stride = a["stride"] if a["stride"] is not None else a["kernel"]
        ceil = a["ceil_mode"] or a.get("rounding") == "caffe"
        if op.startswith("maxpool"):
            return WindowSum(torch_layer("MaxPool", rank)(
                a["kernel"], stride=stride, padding=a["padding"], dilation=a["dilation"],
                ceil_mode=ceil))
        return torch_layer("AvgPool", rank)(a["kernel"], stride=stride, padding=a["padding"],
                                            ceil_mode=ceil,
                                            count_include_pad=a["count_include_pad"])
    if op.startswith(("adaptive_avgpool", "adaptive_maxpool")):
        output = a["output"]
        return torch_layer("AdaptiveAvgPool", len(output))(output[0] if len(output) == 1
                                                           else output)
    if op in ("global_avgpool", "global_maxpool"):
        dims = tuple(range(2, x.dim()))
        return Fn(lambda t: t.mean(dim=dims, keepdim=a["keepdim"]))
    if op.startswith("zero_pad"):
        return Fn(lambda t: F.pad(t, _pad_order(a["padding"])))
    if op == "upsample":
        return _upsample(a, x, generator)
    if op == "slice":
        return Fn(_sliced(a["start"], a["end"], a["dim"], a["step"]))
    if op == "chunk":
        return Fn(lambda t: t.chunk(a["chunks"], dim=a["dim"])[a["index"]])
    if op == "pad_shortcut":
        return Fn(lambda t: _filled_shortcut(t, a["out"], a["stride"]))
    if op == "channel_shuffle":
        return Fn(_shuffled(a["groups"]))
    if op == "flatten":
        return nn.Flatten(a["start"], a["end"])
    if op == "linear":
        return _positive(nn.Linear(x.shape[-1], a["out"], bias=False), generator)
    raise NotImplementedError(f"the linearised oracle has no layer for '{op}'")





class Lazy(nn.Module):
    """One node: its layer made on the first call, from the tensors it receives."""

    def __init__(self, op: str, attrs, generator: torch.Generator):
        super().__init__()
        self.op, self.attrs, self.generator = op, attrs, generator
        self.layer: nn.Module | None = None

    def forward(self, *xs):
        if self.layer is None:
            self.layer = _layer(self.op, self.attrs, xs, self.generator).to(xs[0].dtype)
        return self.layer(*xs)


class LinearisedNet(nn.Module):
    """Runs the graph's nodes in order (eval mode: auxiliary heads skipped).
    ``node_modules[name]`` is each node's layer (forward hooks go there)."""

    def __init__(self, graph, seed: int = 0):
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.graph = graph
        self.order = [n for n in graph if n.op != "input" and not n.train_only]
        self.node_modules = {n.name: Lazy(n.op, n.attrs, generator) for n in self.order}
        self.layers = nn.ModuleList(self.node_modules.values())

    def forward(self, *inputs):
        env = dict(zip(self.graph.inputs, inputs))
        for node in self.order:
            env[node.name] = self.node_modules[node.name](*(env[s] for s in node.inputs))
        return [env[o] for o in self.graph.outputs if o in env]


def linearised(graph, seed: int = 0) -> LinearisedNet:
    return LinearisedNet(graph, seed).double()
