"""Caffe network definitions (``deploy.prototxt``) → layer graph.

Caffe's NetParameter (src/caffe/proto/caffe.proto) is read with cnnstat's own text-format reader
(no protobuf, no Caffe, no torch), in both the current ``layer { type: "Convolution" }`` syntax and
the legacy V1 ``layers { type: CONVOLUTION }`` syntax. Blobs are tracked by name, so in-place
layers (``top`` == ``bottom``, Caffe's usual ReLU) and Split layers need no special care: a blob
name always refers to its latest producer.

The input comes from an Input layer (``input_param { shape { dim: 1 dim: 3 ... } }``) or from the
net-level ``input:`` with ``input_shape { dim: ... }`` or four ``input_dim``s.

Layer by layer (Caffe's semantics, which differ from PyTorch's in places):
- Convolution / Deconvolution (N-D, as Caffe's: 1, 2 or 3 spatial axes, those of the input blob):
  ``kernel_size``/``stride``/``pad``/``dilation`` (repeated: one value for every axis or one per
  axis), ``kernel_h``/``kernel_w``... (2-D), ``group``, ``bias_term`` → conv1d/2d/3d /
  conv_transpose1d/2d/3d; output sizes round down, as in PyTorch. Caffe's Pooling is 2-D only.
- Pooling: MAX / AVE with ``rounding='caffe'`` (Caffe rounds pooled sizes *up*, see
  cnnstat.ops.pool.caffe_pool_out); its stride defaults to 1, not to the kernel; AVE divides by
  the window clipped to the padded input (count_include_pad); ``global_pooling`` → global pools.
- InnerProduct flattens its input from ``axis`` (1): an implicit flatten node ``<name>.flatten``
  is added before the linear layer when the input is a feature map.
- BatchNorm is the normalization only (mean, variance and a moving-average factor: 2C + 1 stored
  values, counted as buffers) and Scale holds the learned γ (and β with ``bias_term``): together
  exactly PyTorch's BatchNorm2d (2C parameters, 2C + 1 buffers).
- Eltwise SUM / PROD / MAX → add / multiply / maximum; Split makes aliases (no layer); Slice
  makes one ``slice`` node per top.
- Layers without a rule whose output has the input's shape (Power, Exp, AbsVal...) become
  ``not_counted`` layers; training-only layers (losses, Accuracy, Silence, TRAIN-phase layers)
  are skipped with a warning; data layers are an error (a train_val file, not a deploy file).
"""

from __future__ import annotations

import math
import os
from typing import Any, Callable

from ..errors import DefinitionError
from ..graph import Graph
from ..ops.base import numel
from ..ops.pool import caffe_pool_out
from ..render.escape import has_control, show
from .common import Assembler, Rules, clean_name, input_override, model_file
from .prototext import Message, parse

# V1LayerParameter.LayerType (legacy ``layers { type: CONVOLUTION }``) -> current type names
V1_TYPES = {
    "ABSVAL": "AbsVal", "ACCURACY": "Accuracy", "ARGMAX": "ArgMax", "BNLL": "BNLL",
    "CONCAT": "Concat", "CONTRASTIVE_LOSS": "ContrastiveLoss", "CONVOLUTION": "Convolution",
    "DATA": "Data", "DECONVOLUTION": "Deconvolution", "DROPOUT": "Dropout",
    "DUMMY_DATA": "DummyData", "EUCLIDEAN_LOSS": "EuclideanLoss", "ELTWISE": "Eltwise",
    "EXP": "Exp", "FLATTEN": "Flatten", "HDF5_DATA": "HDF5Data", "HDF5_OUTPUT": "HDF5Output",
    "HINGE_LOSS": "HingeLoss", "IM2COL": "Im2col", "IMAGE_DATA": "ImageData",
    "INFOGAIN_LOSS": "InfogainLoss", "INNER_PRODUCT": "InnerProduct", "LRN": "LRN",
    "MEMORY_DATA": "MemoryData", "MULTINOMIAL_LOGISTIC_LOSS": "MultinomialLogisticLoss",
    "MVN": "MVN", "POOLING": "Pooling", "POWER": "Power", "RELU": "ReLU", "SIGMOID": "Sigmoid",
    "SIGMOID_CROSS_ENTROPY_LOSS": "SigmoidCrossEntropyLoss", "SILENCE": "Silence",
    "SOFTMAX": "Softmax", "SOFTMAX_LOSS": "SoftmaxWithLoss", "SPLIT": "Split", "SLICE": "Slice",
    "TANH": "TanH", "WINDOW_DATA": "WindowData", "THRESHOLD": "Threshold",
}
DATA_LAYERS = {"Data", "ImageData", "HDF5Data", "MemoryData", "WindowData", "DummyData",
               "Python", "AnnotatedData", "VideoData"}
TRAINING_ONLY = {"Accuracy", "Silence", "HDF5Output"}
# layers without a rule whose output has their input's shape: kept as not_counted
SAME_SHAPE = {"AbsVal", "BNLL", "Exp", "Log", "Power", "Threshold", "MVN", "Clip", "Swish",
              "Dropout2d", "Normalize"}


def load(path: str, *, input_shape=None, overrides=None, variant=None, args=None,
         **options: Any) -> Graph:
    """A deploy.prototxt file → graph (``--input`` overrides its input's H and W, or C, H, W)."""
    from ..fileio import read_input
    model_file("a Caffe prototxt", path, overrides, variant, args, options)
    data = read_input(path, "the Caffe prototxt")          # a regular file within file_mb
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DefinitionError("the file is not UTF-8 text", file=path,
                              line=data[: exc.start].count(b"\n") + 1) from None
    return from_text(text, file=path, input_shape=input_shape)


def from_text(text: str, *, file: str | None = None, input_shape=None) -> Graph:
    net = parse(text, file)
    return _Net(net, file, input_shape).build()


# -- field values, checked as protobuf's parser would: an integer field takes an integer in its
# range (2.9, NaN, 1e999 or "big" are errors, never truncated), a float field a finite number, a
# bool true/false, an enum one of its names or numbers --------------------------------------------
INT32_MAX = 2 ** 31 - 1


def _int(value: Any, field: str, *, signed: bool = False) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise DefinitionError(f"'{field}' must be an integer, got {show(value, 60)}")
    low = -INT32_MAX - 1 if signed else 0
    if not low <= value <= INT32_MAX:
        raise DefinitionError(f"'{field}: {value}' is out of range ({low:,} to {INT32_MAX:,})")
    return value


def _float(value: Any, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise DefinitionError(f"'{field}' must be a finite number, got {show(value, 60)}")
    return float(value)


def _bool(value: Any, default: bool, field: str = "a boolean field") -> bool:
    if value is None:
        return default
    if isinstance(value, str) and value.lower() in ("true", "t", "false", "f"):
        return value.lower() in ("true", "t")
    if isinstance(value, int) and not isinstance(value, bool) and value in (0, 1):
        return bool(value)
    raise DefinitionError(f"'{field}' must be true or false, got {show(value, 60)}")


def _enum(value: Any, names: list[str], default: str, field: str = "an enum field") -> str:
    """An enum value written by name (MAX) or number (0); anything else is an error (an unknown
    pooling method is not silently average pooling)."""
    if value is None:
        return default
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(names):
        return names[value]
    if isinstance(value, str) and value.upper() in names:
        return value.upper()
    choices = ", ".join(f"{n} ({i})" for i, n in enumerate(names))
    shown = value if isinstance(value, str) else show(value, 40)
    raise DefinitionError(f"'{field}: {shown}' is not one of {choices}")


def _pair(p: Message, name: str, h: str, w: str, default: int | None,
          rank: int = 2) -> tuple[int, ...]:
    """A per-axis hyperparameter: ``name_h``/``name_w`` (2-D only), or the repeated ``name`` (one
    value for every spatial axis, or one per axis: Caffe's N-D convolution), or the default."""
    if p.has(h) or p.has(w):
        if rank != 2:
            raise DefinitionError(f"'{h}'/'{w}' are for 2-D layers; this one has {rank} spatial "
                                  f"axes: repeat '{name}' instead")
        return (_int(p.get(h, default or 0), h), _int(p.get(w, default or 0), w))
    values = [_int(v, name) for v in p.all(name)]
    if not values:
        if default is None:
            raise DefinitionError(f"'{name}' (or '{h}' and '{w}') is required")
        return (default,) * rank
    if len(values) == 1:
        return (values[0],) * rank
    if len(values) == rank:
        return tuple(values)
    raise DefinitionError(f"'{name}' has {len(values)} values; a {rank}-D layer takes 1 or {rank}")


def _text(value: Any, what: str, file: str | None = None, line: int | None = None) -> str:
    """A name or type: text (a number is taken as text), without control characters or
    newlines (names are printed in terminals, reports and file names)."""
    if isinstance(value, Message):
        raise DefinitionError(f"{what} must be text, not a message {{ ... }}", file=file, line=line)
    text = str(value)
    if has_control(text):
        raise DefinitionError(f"{what} holds a newline or control characters: {show(text, 80)}",
                              file=file, line=line)
    return text


class _Net:
    def __init__(self, net: Message, file: str | None, input_shape):
        self.msg = net
        self.file = file
        self.override = input_shape
        name = _text(net.get("name", os.path.splitext(os.path.basename(file or "net"))[0]),
                     "the net's name", file, net.line_of("name"))
        self.asm = Assembler(name, file=file)
        self.blobs: dict[str, str] = {}          # blob name -> node producing it now
        self.layer: Message | None = None

    def err(self, message: str, line: int | None = None) -> DefinitionError:
        layer = self.layer
        name = clean_name(str(layer.get("name", ""))) if layer is not None else None
        return DefinitionError(message, file=self.file,
                               line=line or (layer.line if layer is not None else None),
                               layer=name or None)

    # -- the net ----------------------------------------------------------------------------------
    def build(self) -> Graph:
        net = self.msg
        if net.has("layer") and net.has("layers"):
            raise self.err("the file mixes 'layer' and legacy 'layers' entries", net.line_of("layers"))
        legacy = net.has("layers")
        layers = net.all("layers") if legacy else net.all("layer")
        if legacy and any(isinstance(l, Message) and l.has("layer") for l in layers):
            raise self.err("this is Caffe's oldest (V0) format: upgrade it with Caffe's "
                           "upgrade_net_proto_text first", net.line_of("layers"))
        try:
            self._net_inputs()
        except DefinitionError as exc:
            raise exc.located(file=self.file, line=net.line_of("input")) from None
        for layer in layers:
            if not isinstance(layer, Message):
                raise self.err("'layer' must be a message { ... }", net.line_of("layers"))
            self.layer = layer
            kind = layer.get("type")
            if kind is None:
                raise self.err("the layer has no type")
            kind = _text(kind, "the layer type", self.file, layer.line_of("type"))
            kind = V1_TYPES.get(kind, kind) if legacy else kind
            try:
                if not self._in_test_phase(layer):
                    continue
                self._layer(layer, kind)
            except DefinitionError as exc:
                name = clean_name(str(layer.get("name", "")))
                raise exc.located(file=self.file, line=layer.line, layer=name or None) from None
        self.layer = None
        if not any(n.op != "input" for n in self.asm.nodes):
            raise self.err("the net has no layers cnnstat can analyze")
        source = os.path.basename(self.file) if self.file else "text"
        return self.asm.graph(meta={"title": f"imported from the Caffe prototxt {source}",
                                    "file": self.file, "source": "caffe"})

    def _in_test_phase(self, layer: Message) -> bool:
        """Deploy / TEST phase: skip layers included only in TRAIN or excluded from TEST."""
        for rule in layer.all("include"):
            if isinstance(rule, Message) and \
                    _enum(rule.get("phase"), ["TRAIN", "TEST"], "", "phase") == "TRAIN":
                return False
        for rule in layer.all("exclude"):
            if isinstance(rule, Message) and \
                    _enum(rule.get("phase"), ["TRAIN", "TEST"], "", "phase") == "TEST":
                return False
        return True

    def _net_inputs(self) -> None:
        net = self.msg
        names = [_text(n, "an input name", self.file, net.line_of("input")) for n in net.all("input")]
        if not names:
            return
        shapes = [[_int(d, "dim") for d in s.all("dim")] for s in net.all("input_shape")]
        dims = [_int(d, "input_dim") for d in net.all("input_dim")]
        if not shapes and dims:
            if len(dims) != 4 * len(names):
                raise self.err(f"{len(names)} input(s) need {4 * len(names)} input_dim values, "
                               f"got {len(dims)}", net.line_of("input_dim"))
            shapes = [dims[4 * i:4 * i + 4] for i in range(len(names))]
        if len(shapes) != len(names):
            raise self.err(f"input '{names[0]}' has no shape: add input_shape {{ dim: ... }} or "
                           "four input_dim values", net.line_of("input"))
        for name, shape in zip(names, shapes):
            self._add_input(name, shape, net.line_of("input"))

    def _add_input(self, blob: str, shape: list[int], line: int) -> None:
        if self.blobs:
            raise self.err(f"a second input '{blob}': cnnstat analyzes models with one image input",
                           line)
        if not 3 <= len(shape) <= 5:
            raise self.err(f"input '{blob}' has shape {shape}: cnnstat needs N x C x H x W (or "
                           "N x C x L, N x C x D x H x W)", line)
        chw = input_override(shape[1:], self.override, self.file)
        self.blobs[blob] = self.asm.input(chw, clean_name(blob), line)

    # -- one layer ------------------------------------------------------------------------------------
    def _layer(self, layer: Message, kind: str) -> None:
        name = _text(layer.get("name", kind), "the layer name", self.file, layer.line_of("name"))
        bottoms = [_text(b, "a bottom", self.file, layer.line_of("bottom"))
                   for b in layer.all("bottom")]
        tops = [_text(t, "a top", self.file, layer.line_of("top")) for t in layer.all("top")]
        if kind == "Input":
            param = layer.get("input_param")
            shapes = [[_int(d, "dim") for d in s.all("dim")] for s in param.all("shape")] \
                if param else []
            if not shapes:
                raise self.err("the Input layer has no input_param { shape { dim: ... } }")
            for i, top in enumerate(tops):
                self._add_input(top, shapes[min(i, len(shapes) - 1)], layer.line)
            return
        if kind in DATA_LAYERS:
            raise self.err(f"a {kind} layer reads a dataset: this looks like a training "
                           "(train_val) prototxt; give the deploy prototxt, or declare the input "
                           "with an Input layer")
        if kind in TRAINING_ONLY or kind.endswith("Loss"):
            self.asm.warnings.append(f"skipped the training-only layer '{name}' ({kind})")
            return
        if not self.blobs:
            raise self.err("the net declares no input before its first layer (add an Input "
                           "layer, or input: with input_shape)")
        for b in bottoms:
            if b not in self.blobs:
                raise self.err(f"bottom '{b}' is not produced by any earlier layer")
        inputs = [self.blobs[b] for b in bottoms]
        if kind == "Split":
            for top in tops:
                self.blobs[top] = inputs[0]
            return
        handler = _HANDLERS.get(kind)
        if handler is None:
            if kind in SAME_SHAPE and len(inputs) == 1:
                node = self.asm.not_counted(f"Caffe {kind}", inputs, self.asm.shape(inputs[0])[1:],
                                            name=name, line=layer.line)
                outs = [node]
            else:
                raise self.err(f"Caffe layer type '{kind}' has no cnnstat rule, and its output "
                               "shape cannot be known without one")
        else:
            if not inputs:
                raise self.err(f"a {kind} layer needs a bottom")
            try:
                outs = handler(self, layer, name, inputs, len(tops))
            except DefinitionError as exc:
                raise exc.located(file=self.file, line=layer.line, layer=clean_name(name)) from None
        if len(outs) != len(tops):
            raise self.err(f"a {kind} layer here gives {len(outs)} output(s), the layer names "
                           f"{len(tops)} top(s)")
        for top, node in zip(tops, outs):
            self.blobs[top] = node

    def add(self, op: str, inputs: list[str], name: str, **kwargs: Any) -> str:
        return self.asm.add(op, inputs, kwargs, name=name, line=self.layer.line)

    def param(self, layer: Message, key: str) -> Message:
        p = layer.get(key)
        return p if isinstance(p, Message) else Message(layer.line)


# -- layer handlers: (net, layer, name, input node names, number of tops) -> output node names ------
Handler = Callable[[_Net, Message, str, list[str], int], list[str]]
_HANDLERS = Rules("Caffe layer type")
handles = _HANDLERS.on


def _conv_args(p: Message, rank: int) -> dict:
    if p.get("num_output") is None:
        raise DefinitionError("convolution_param has no num_output")
    if _int(p.get("axis", 1), "axis", signed=True) != 1:
        raise DefinitionError("only channel-axis (axis: 1) convolutions are supported")
    return dict(out=_int(p.get("num_output"), "num_output"),
                kernel=list(_pair(p, "kernel_size", "kernel_h", "kernel_w", None, rank)),
                stride=list(_pair(p, "stride", "stride_h", "stride_w", 1, rank)),
                bias=_bool(p.get("bias_term"), True, "bias_term"),
                groups=_int(p.get("group", 1), "group"),
                dilation=list(_pair(p, "dilation", "dilation_h", "dilation_w", 1, rank)))


def _spatial_rank(net, blob: str) -> int:
    """Caffe's convolutions are N-D: their spatial axes are the input blob's after N and C."""
    rank = len(net.asm.shape(blob)) - 2
    if rank not in (1, 2, 3):
        raise DefinitionError(f"a convolution needs a blob of feature maps (N x C x ...), got "
                              f"{'x'.join(map(str, net.asm.shape(blob)))}")
    return rank


@handles("Convolution")
def _convolution(net, layer, name, inputs, n_tops):
    p = net.param(layer, "convolution_param")
    rank = _spatial_rank(net, inputs[0])
    args = _conv_args(p, rank)
    pad = _pair(p, "pad", "pad_h", "pad_w", 0, rank)
    return [net.add(f"conv{rank}d", inputs[:1], name, padding=[[v, v] for v in pad], **args)]


@handles("Deconvolution")
def _deconvolution(net, layer, name, inputs, n_tops):
    # Caffe: H_out = stride*(H - 1) + dilation*(k - 1) + 1 - 2*pad, PyTorch's formula without
    # output_padding
    p = net.param(layer, "convolution_param")
    rank = _spatial_rank(net, inputs[0])
    return [net.add(f"conv_transpose{rank}d", inputs[:1], name,
                    padding=list(_pair(p, "pad", "pad_h", "pad_w", 0, rank)),
                    **_conv_args(p, rank))]


@handles("Pooling")
def _pooling(net, layer, name, inputs, n_tops):
    p = net.param(layer, "pooling_param")
    method = _enum(p.get("pool"), ["MAX", "AVE", "STOCHASTIC"], "MAX", "pool")
    if _bool(p.get("global_pooling"), False, "global_pooling"):
        if method == "STOCHASTIC":
            raise DefinitionError("global stochastic pooling has no rule")
        return [net.add("global_avgpool" if method == "AVE" else "global_maxpool", inputs, name)]
    kernel = _pair(p, "kernel_size", "kernel_h", "kernel_w", None)
    stride = _pair(p, "stride", "stride_h", "stride_w", 1)        # Caffe's default stride is 1
    pad = _pair(p, "pad", "pad_h", "pad_w", 0)
    # newer Caffe has round_mode { CEIL = 0; FLOOR = 1 }; FLOOR is PyTorch's rule
    caffe = _enum(p.get("round_mode"), ["CEIL", "FLOOR"], "CEIL", "round_mode") == "CEIL"
    rounding = {"rounding": "caffe"} if caffe else {}
    if method == "STOCHASTIC":   # at test time a probability-weighted average: no rule
        _, c, h, w = net.asm.shape(inputs[0])
        padded = pad != (0, 0)
        out = (c, caffe_pool_out(h, kernel[0], stride[0], pad[0], padded),
               caffe_pool_out(w, kernel[1], stride[1], pad[1], padded))
        return [net.asm.not_counted("Caffe Pooling STOCHASTIC", inputs, out, name=name,
                                    line=layer.line)]
    op = "maxpool2d" if method == "MAX" else "avgpool2d"
    return [net.add(op, inputs, name, kernel=list(kernel), stride=list(stride), padding=list(pad),
                    **rounding)]


@handles("InnerProduct")
def _inner_product(net, layer, name, inputs, n_tops):
    p = net.param(layer, "inner_product_param")
    if p.get("num_output") is None:
        raise DefinitionError("inner_product_param has no num_output")
    axis = _int(p.get("axis", 1), "axis", signed=True)
    x = inputs[0]
    rank = len(net.asm.shape(x))
    axis = axis + rank if axis < 0 else axis
    if axis != rank - 1:       # Caffe flattens the input from axis onwards
        if axis < 1:
            raise DefinitionError("an InnerProduct over the batch axis is not supported")
        x = net.add("flatten", [x], f"{name}.flatten", start=axis)
        net.asm.groups[clean_name(name)] = "InnerProduct (flatten + linear)"
    return [net.add("linear", [x], name, out=_int(p.get("num_output"), "num_output"),
                    bias=_bool(p.get("bias_term"), True, "bias_term"))]


@handles("ReLU")
def _relu(net, layer, name, inputs, n_tops):
    slope = _float(net.param(layer, "relu_param").get("negative_slope", 0.0), "negative_slope")
    if slope:
        return [net.add("leaky_relu", inputs, name, negative_slope=slope)]
    return [net.add("relu", inputs, name)]


@handles("PReLU")
def _prelu(net, layer, name, inputs, n_tops):
    shared = _bool(net.param(layer, "prelu_param").get("channel_shared"), False, "channel_shared")
    c = net.asm.shape(inputs[0])[1]
    return [net.add("prelu", inputs, name, num_parameters=1 if shared else c)]


@handles("Sigmoid", "TanH", "ELU")
def _activation(net, layer, name, inputs, n_tops):
    kind = str(layer.get("type")).upper()
    if kind in ("ELU",):
        return [net.add("elu", inputs, name,
                        alpha=_float(net.param(layer, "elu_param").get("alpha", 1.0), "alpha"))]
    return [net.add("sigmoid" if kind in ("SIGMOID",) else "tanh", inputs, name)]


@handles("LRN")
def _lrn(net, layer, name, inputs, n_tops):
    p = net.param(layer, "lrn_param")
    region = _enum(p.get("norm_region"), ["ACROSS_CHANNELS", "WITHIN_CHANNEL"], "ACROSS_CHANNELS",
                   "norm_region")
    if region != "ACROSS_CHANNELS":
        return [net.asm.not_counted("Caffe LRN WITHIN_CHANNEL", inputs,
                                    net.asm.shape(inputs[0])[1:], name=name, line=layer.line)]
    # Caffe's ACROSS_CHANNELS: x / (k + alpha/n * sum of squares)^beta, as torch's LocalResponseNorm
    return [net.add("lrn", inputs, name, size=_int(p.get("local_size", 5), "local_size"),
                    alpha=_float(p.get("alpha", 1.0), "alpha"),
                    beta=_float(p.get("beta", 0.75), "beta"), k=_float(p.get("k", 1.0), "k"))]


@handles("Concat")
def _concat(net, layer, name, inputs, n_tops):
    p = net.param(layer, "concat_param")
    axis = _int(p.get("axis", p.get("concat_dim", 1)), "axis", signed=True)
    return [net.add("concat", inputs, name, dim=axis)]


@handles("Eltwise")
def _eltwise(net, layer, name, inputs, n_tops):
    p = net.param(layer, "eltwise_param")
    op = _enum(p.get("operation"), ["PROD", "SUM", "MAX"], "SUM", "operation")
    coeffs = [_float(c, "coeff") for c in p.all("coeff")]
    if op == "SUM" and any(c != 1.0 for c in coeffs):
        net.asm.warnings.append(f"Eltwise '{name}' sums with coefficients {coeffs}: counted as a "
                                "plain sum (the multiplications are not counted)")
    if len(inputs) < 2:
        raise DefinitionError("an Eltwise layer needs two or more bottoms")
    return [net.add({"SUM": "add", "PROD": "multiply", "MAX": "maximum"}[op], inputs, name)]


@handles("BatchNorm")
def _batchnorm(net, layer, name, inputs, n_tops):
    # Caffe's BatchNorm holds mean, variance and the moving-average factor (2C + 1 values, not
    # learned: buffers); the learned scale and shift are a following Scale layer.
    p = net.param(layer, "batch_norm_param")
    op = "batchnorm2d" if len(net.asm.shape(inputs[0])) == 4 else "batchnorm1d"
    fraction = _float(p.get("moving_average_fraction", 0.999), "moving_average_fraction")
    return [net.add(op, inputs, name, affine=False, eps=_float(p.get("eps", 1e-5), "eps"),
                    momentum=round(1.0 - fraction, 12))]


@handles("Scale", "Bias")
def _scale(net, layer, name, inputs, n_tops):
    kind = str(layer.get("type"))
    is_scale = kind.lower() == "scale"
    p = net.param(layer, "scale_param" if is_scale else "bias_param")
    if len(inputs) == 2:                      # the factor is the second bottom
        if is_scale and _bool(p.get("bias_term"), False, "bias_term"):
            net.asm.warnings.append(f"Scale '{name}' with two bottoms and a bias: the bias is "
                                    "not counted")
        return [net.add("multiply" if is_scale else "add", inputs, name)]
    shape = net.asm.shape(inputs[0])
    axis = _int(p.get("axis", 1), "axis", signed=True)
    axis = axis + len(shape) if axis < 0 else axis
    if not 1 <= axis < len(shape):
        raise DefinitionError(f"'axis: {axis}' is outside the input's {len(shape)} axes "
                              "(or is the batch axis)")
    num_axes = _int(p.get("num_axes", 1), "num_axes", signed=True)
    if num_axes < -1 or axis + num_axes > len(shape):
        raise DefinitionError(f"'num_axes: {num_axes}' does not fit the input's axes")
    bias = is_scale and _bool(p.get("bias_term"), False, "bias_term")
    if is_scale and axis == 1 and num_axes == 1:
        return [net.add("scale", inputs, name, bias=bias)]
    end = len(shape) if num_axes == -1 else axis + num_axes
    held = numel(shape[axis:end]) * (1 + (1 if bias else 0))
    return [net.asm.not_counted(f"Caffe {kind} (axis {axis}, num_axes {num_axes})", inputs,
                                shape[1:], params=held, name=name, line=layer.line)]


@handles("Dropout")
def _dropout(net, layer, name, inputs, n_tops):
    p = net.param(layer, "dropout_param")
    return [net.add("dropout", inputs, name, p=_float(p.get("dropout_ratio", 0.5), "dropout_ratio"))]


@handles("Softmax")
def _softmax(net, layer, name, inputs, n_tops):
    axis = _int(net.param(layer, "softmax_param").get("axis", 1), "axis", signed=True)
    return [net.add("softmax", inputs, name, dim=axis)]


@handles("Flatten")
def _flatten(net, layer, name, inputs, n_tops):
    p = net.param(layer, "flatten_param")
    return [net.add("flatten", inputs, name, start=_int(p.get("axis", 1), "axis", signed=True),
                    end=_int(p.get("end_axis", -1), "end_axis", signed=True))]


@handles("Reshape")
def _reshape(net, layer, name, inputs, n_tops):
    p = net.param(layer, "reshape_param")
    shape_msg = p.get("shape")
    dims = [_int(d, "dim", signed=True) for d in shape_msg.all("dim")] \
        if isinstance(shape_msg, Message) else []
    if _int(p.get("axis", 0), "axis", signed=True) != 0 or \
            _int(p.get("num_axes", -1), "num_axes", signed=True) != -1:
        raise DefinitionError("Reshape with axis/num_axes is not supported")
    src = net.asm.shape(inputs[0])
    # 0 copies the input's size at that position; -1 is inferred
    dims = [src[i] if d == 0 and i < len(src) else d for i, d in enumerate(dims)]
    if not dims or dims[0] not in (src[0], -1):
        raise DefinitionError(f"Reshape to {dims} changes the batch dimension")
    rest = dims[1:]
    if dims[0] == -1 and -1 in rest:
        raise DefinitionError(f"Reshape to {dims} infers two sizes")
    return [net.add("reshape", inputs, name, shape=rest)]


@handles("Slice")
def _slice(net, layer, name, inputs, n_tops):
    p = net.param(layer, "slice_param")
    axis = _int(p.get("axis", p.get("slice_dim", 1)), "axis", signed=True)
    shape = net.asm.shape(inputs[0])
    if not -len(shape) < axis < len(shape) or axis % len(shape) == 0:
        raise DefinitionError(f"'axis: {axis}' is outside the input's axes (or is the batch axis)")
    size = shape[axis]
    points = [_int(v, "slice_point") for v in p.all("slice_point")]
    if points:
        if len(points) != n_tops - 1:
            raise DefinitionError(f"{len(points)} slice_point(s) make {len(points) + 1} parts, "
                                  f"the layer has {n_tops} tops")
        bounds = [0] + points + [size]
    else:                                    # equal parts
        if size % n_tops:
            raise DefinitionError(f"{size} cannot be sliced into {n_tops} equal parts")
        step = size // n_tops
        bounds = [i * step for i in range(n_tops + 1)]
    tops = [_text(t, "a top") for t in layer.all("top")]
    return [net.add("slice", inputs, f"{name}.{clean_name(top)}", start=lo, end=hi, dim=axis)
            for top, lo, hi in zip(tops, bounds, bounds[1:])]


@handles("Crop")
def _crop(net, layer, name, inputs, n_tops):
    # crop bottom[0] to bottom[1]'s size on the axes from ``axis`` (2), starting at ``offset``
    p = net.param(layer, "crop_param")
    if len(inputs) != 2:
        raise DefinitionError("a Crop layer takes two bottoms (the blob and the reference)")
    src, ref = net.asm.shape(inputs[0]), net.asm.shape(inputs[1])
    axis = _int(p.get("axis", 2), "axis", signed=True)
    offsets = [_int(v, "offset") for v in p.all("offset")] or [0]
    x = inputs[0]
    cuts = [(d, offsets[0] if len(offsets) == 1 else offsets[d - axis])
            for d in range(axis, len(src)) if src[d] != ref[d] or offsets != [0]]
    cuts = [(d, o) for d, o in cuts if not (o == 0 and src[d] == ref[d])]
    if not cuts:
        return [net.add("identity", [x], name)]
    for i, (d, o) in enumerate(cuts):
        last = i == len(cuts) - 1
        x = net.add("slice", [x], name if last else f"{name}.axis{d}", start=o, end=o + ref[d],
                    dim=d)
    return [x]
