"""ONNX import rules: one handler per ONNX operator type (cnnstat layers for a node, or NoRule, which
makes it a not_counted layer), the values handlers pass on, and the numpy folding of constant
computations. Attribute semantics follow the ONNX operator specification (onnx/docs/Operators.md)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

from ..errors import DefinitionError
from ..ops.base import numel
from .common import Rules, clean_name

@dataclass
class A:
    """An activation: the cnnstat node holding it; ``nhwc`` inside a channels-last region;
    ``folded`` where the batch is no longer the first axis (attention heads folded into it, the
    q/k/v axis moved before it): the node's shape is then (1,) + the whole ONNX shape at batch 1,
    so every count is right at batch 1 and scales with the batch (as the capture's folded
    tensors, cnnstat.importers.torch_capture)."""
    node: str
    nhwc: bool = False
    folded: bool = False


#: ONNX operators that only move data (any rank); without a more specific rule (channel shuffle,
#: flatten, channels-last) they import as cnnstat's ``layout`` operator (cnnstat.ops.tensor):
#: zero operations, the output shape of ONNX shape inference
LAYOUT_OPS = {"Transpose", "Reshape", "Squeeze", "Unsqueeze", "Split", "Gather", "Expand",
              "Flatten", "Slice"}
#: the rules that take a folded activation (they read only its last axes, or any rank);
#: any other rule sees NoRule (a layout operator, or not counted)
FOLDED_OK = {"MatMul", "Gemm", "Softmax", "LogSoftmax", "LayerNormalization", "Add", "Sub", "Mul", "Div",
             "Dropout", "Relu", "Sigmoid", "Tanh", "Gelu", "Erf", "Shape"}


def per_sample(shape: tuple[int, ...]) -> tuple[tuple[int, ...], bool]:
    """An ONNX shape at batch 1 → (the per-sample shape, folded): the batch is the leading 1; a
    shape that does not lead with 1 has the batch inside it (folded, all of it per sample)."""
    if shape and shape[0] == 1:
        return tuple(shape[1:]), False
    return tuple(shape), True


def onnx_axis(imp, x: A, axis: int) -> int:
    """An ONNX axis of ``x`` → the axis of its cnnstat shape."""
    rank = len(imp.asm.shape(x.node))
    if x.folded:
        return int(axis) % (rank - 1) + 1
    return int(axis) % rank


@dataclass
class Shuffle:
    """Inside Reshape (N, g, C/g, H, W) → Transpose (0, 2, 1, 3, 4) → Reshape (N, C, H, W)."""
    src: A
    groups: int
    transposed: bool = False


class NoRule(Exception):
    """No rule for this node with these attributes: import it as not_counted."""


def f32(value: Any) -> float:
    """An ONNX float attribute (stored as float32) as the decimal it was written as:
    9.999999747e-06 -> 1e-05."""
    return float(f"{float(value):.7g}")


SAME_SHAPE_UNKNOWN = {"Selu", "Softplus", "Softsign", "Exp", "Log", "Abs", "Neg", "Sqrt", "Erf",
                       "Reciprocal", "Floor", "Ceil", "Round", "Sin", "Cos", "Celu", "ThresholdedRelu",
                       "Shrink", "Sign", "Not", "Cast", "InstanceNormalization",
                       "MeanVarianceNormalization", "LpNormalization"}


def const_attr(node, imp) -> Any:
    from onnx import numpy_helper
    import numpy as np
    for a in node.attribute:
        if a.name == "value":
            return numpy_helper.to_array(a.t)
        if a.name == "value_float":
            return np.array(a.f, dtype=np.float32)
        if a.name == "value_int":
            return np.array(a.i, dtype=np.int64)
        if a.name == "value_floats":
            return np.array(list(a.floats), dtype=np.float32)
        if a.name == "value_ints":
            return np.array(list(a.ints), dtype=np.int64)
    return None


def is_torch_hardsigmoid(node, onnx) -> bool:
    alpha, beta = 0.2, 0.5
    for a in node.attribute:
        if a.name == "alpha":
            alpha = a.f
        if a.name == "beta":
            beta = a.f
    return abs(alpha - 1 / 6) < 1e-6 and abs(beta - 0.5) < 1e-6


def scope_of(name: str) -> str:
    if "/" not in name:
        return ""
    parts = [p for p in name.split("/") if p][:-1]
    path: list[str] = []
    for p in parts:
        if path and p.startswith(path[-1] + "."):
            path[-1] = p
        else:
            path.append(p)
    return clean_name(".".join(path)) if path else ""


# -- handlers ------------------------------------------------------------------------------------------
Handler = Callable[[Any, Any], None]
HANDLERS = Rules("ONNX op")
handles = HANDLERS.on


def _pads(imp, node, x: A, kernel, stride, dilation) -> tuple[tuple[int, int], ...]:
    """(begin, end) per spatial axis from pads [x1_begin, x2_begin, ..., x1_end, x2_end, ...] or
    auto_pad (computed from the input size, as ONNX defines SAME_UPPER / SAME_LOWER)."""
    rank = len(kernel)
    auto = imp.attr("auto_pad", "NOTSET")
    if auto in ("NOTSET", ""):
        pads = list(imp.attr("pads", [0] * (2 * rank)))
        if len(pads) != 2 * rank:
            raise NoRule()
        return tuple((pads[i], pads[i + rank]) for i in range(rank))
    if auto == "VALID":
        return ((0, 0),) * rank
    out = []
    for size, k, s, d in zip(imp.asm.shape(x.node)[2:], kernel, stride, dilation):
        total = max((-(-size // s) - 1) * s + (k - 1) * d + 1 - size, 0)
        small = total // 2
        out.append((small, total - small) if auto == "SAME_UPPER" else (total - small, small))
    return tuple(out)


def _map(imp, x: A) -> int:
    """The spatial rank (1, 2 or 3) of a feature map in cnnstat's layout, or NoRule."""
    rank = len(imp.asm.shape(x.node)) - 2
    if x.nhwc or rank not in (1, 2, 3):
        raise NoRule()
    return rank


def _shape_text(dims) -> str:
    return "x".join(str(d) for d in dims) if dims else "a scalar"


def _check_init(imp, node, index: int, what: str, allowed: list[tuple[int, ...]]) -> None:
    """An initializer (weight, bias, statistics) must have a shape the operator can use on its
    input: a file whose Conv holds an 8x5x3x3 weight for a 3-channel input is refused, not
    counted as 8x3x3x3 (ONNX Runtime refuses it too)."""
    if len(node.input) <= index or not node.input[index]:
        return
    dims = imp.const_dims(node.input[index])
    if dims is None:
        return
    if tuple(dims) not in [tuple(a) for a in allowed]:
        want = " or ".join(_shape_text(a) for a in allowed)
        raise DefinitionError(f"{node.op_type}: its {what} '{node.input[index]}' is "
                              f"{_shape_text(dims)}; this input needs {want}")


@handles("Conv")
def _conv(imp, node) -> None:
    x = imp.act(node.input[0])
    rank = _map(imp, x)
    w = imp.const_dims(node.input[1])
    if w is None or len(w) != rank + 2:
        raise NoRule()
    groups = int(imp.attr("group", 1))
    c = imp.asm.shape(x.node)[1]
    if groups < 1 or w[0] % groups or w[1] * groups != c:
        raise DefinitionError(f"Conv: the weight '{node.input[1]}' is {_shape_text(w)} with "
                              f"group={groups}; a {c}-channel input needs {w[0]}x{c // max(groups, 1)}"
                              f"x{'x'.join(map(str, w[2:]))} (out channels divisible by group)")
    kernel = list(imp.attr("kernel_shape", w[2:]))
    if list(kernel) != list(w[2:]):
        raise DefinitionError(f"Conv: kernel_shape {list(kernel)} does not match the weight "
                              f"'{node.input[1]}' ({_shape_text(w)})")
    _check_init(imp, node, 2, "bias", [(w[0],)])
    stride = list(imp.attr("strides", [1] * rank))
    dilation = list(imp.attr("dilations", [1] * rank))
    pads = _pads(imp, node, x, kernel, stride, dilation)
    bias = len(node.input) > 2 and bool(node.input[2])
    imp.set(node.output[0], imp.add(f"conv{rank}d", [x], out=int(w[0]), kernel=kernel,
                                    stride=stride, padding=[list(p) for p in pads],
                                    dilation=dilation, groups=groups, bias=bias))


@handles("ConvTranspose")
def _deconv(imp, node) -> None:
    x = imp.act(node.input[0])
    rank = _map(imp, x)
    w = imp.const_dims(node.input[1])
    if w is None or len(w) != rank + 2 or imp.attr("output_shape") is not None \
            or imp.attr("auto_pad", "NOTSET") not in ("NOTSET", ""):
        raise NoRule()
    pads = list(imp.attr("pads", [0] * (2 * rank)))
    if len(pads) != 2 * rank or pads[:rank] != pads[rank:]:
        raise NoRule()
    groups = int(imp.attr("group", 1))
    c = imp.asm.shape(x.node)[1]
    if groups < 1 or w[0] != c or w[0] % groups:
        raise DefinitionError(f"ConvTranspose: the weight '{node.input[1]}' is {_shape_text(w)} "
                              f"with group={groups}; a {c}-channel input needs {c}x...")
    kernel = list(imp.attr("kernel_shape", w[2:]))
    if list(kernel) != list(w[2:]):
        raise DefinitionError(f"ConvTranspose: kernel_shape {list(kernel)} does not match the "
                              f"weight '{node.input[1]}' ({_shape_text(w)})")
    _check_init(imp, node, 2, "bias", [(w[1] * groups,)])
    imp.set(node.output[0], imp.add(
        f"conv_transpose{rank}d", [x], out=int(w[1]) * groups,
        kernel=list(imp.attr("kernel_shape", w[2:])), stride=list(imp.attr("strides", [1] * rank)),
        padding=pads[:rank], output_padding=list(imp.attr("output_padding", [0] * rank)),
        groups=groups, bias=len(node.input) > 2 and bool(node.input[2]),
        dilation=list(imp.attr("dilations", [1] * rank))))


@handles("Gemm")
def _gemm(imp, node) -> None:
    x = imp.act(node.input[0])
    w = imp.const_dims(node.input[1])
    if w is None or len(w) != 2 or imp.attr("transA", 0) or \
            len(imp.asm.shape(x.node)) - x.folded != 2:
        raise NoRule()
    out, features = (w[0], w[1]) if imp.attr("transB", 0) else (w[1], w[0])
    got = imp.asm.shape(x.node)[-1]
    if features != got:
        raise DefinitionError(f"Gemm: the weight '{node.input[1]}' is {_shape_text(w)} "
                              f"(transB={imp.attr('transB', 0)}): it takes {features} features, "
                              f"the input has {got}")
    _check_init(imp, node, 2, "bias", [(out,), (1, out)])
    bias = len(node.input) > 2 and bool(node.input[2])
    imp.set(node.output[0], imp.add("linear", [x], folded=x.folded, out=int(out), bias=bias))


@handles("MatMul")
def _matmul(imp, node) -> None:
    a, b = node.input[0], node.input[1]
    if a in imp.values and b in imp.values:
        # Q·Kᵀ and A·V of attention, batched over heads (any rank, broadcasting): kind
        # "attention", as the capture counts torch.matmul (cnnstat.ops.linear.MatMul)
        x, y = imp.act(a), imp.act(b)
        if x.nhwc or y.nhwc:
            raise NoRule()
        # a folded operand's shape is (1,) + its ONNX shape, a batch-first one's is its ONNX
        # shape: the extra leading 1 broadcasts away, so the product is ONNX's, folded if
        # either operand is
        return imp.set(node.output[0], imp.add("matmul", [x, y], folded=x.folded or y.folded))
    x = imp.act(a)
    w = imp.const_dims(b)
    if w is None or len(w) != 2:
        raise NoRule()
    features = imp.asm.shape(x.node)[1 if x.nhwc else -1]
    if w[0] != features:
        raise DefinitionError(f"MatMul: the weight '{b}' is {_shape_text(w)}: it takes {w[0]} "
                              f"features, the input has {features}")
    out = node.output[0]
    # a following Add of a constant bias of `out` elements is the Linear's bias
    users = imp.consumers.get(out, [])
    bias_node = None
    if len(users) == 1 and users[0][1].op_type == "Add":
        other = [n for n in users[0][1].input if n != out]
        if len(other) == 1 and imp.is_const(other[0]) and \
                numel(imp.const_dims(other[0]) or (0,)) == w[1]:
            bias_node = users[0]
    op = "channel_linear" if x.nhwc else "linear"
    scope = scope_of(node.name)
    if bias_node is not None and scope and scope == scope_of(bias_node[1].name) and \
            imp.names.scopes.count(scope) == 2:
        # '/mlp/MatMul' + '/mlp/Add': together they are the Linear module 'mlp'
        result = A(imp.asm.add(op, [x.node], {"out": int(w[1]), "bias": True}, name=scope), x.nhwc,
                   x.folded)
    else:
        result = imp.add(op, [x], x.nhwc, folded=x.folded, out=int(w[1]),
                         bias=bias_node is not None)
    if bias_node is not None:
        imp.skip.add(bias_node[0])
        imp.values[out] = result
        imp.set(bias_node[1].output[0], result)
    else:
        imp.set(out, result)


def _pool_common(imp, node, x: A, kind: str, **extra) -> None:
    rank = _map(imp, x)
    kernel = list(imp.attr("kernel_shape"))
    stride = list(imp.attr("strides", [1] * rank))
    dilation = list(imp.attr("dilations", [1] * rank))
    if len(kernel) != rank:
        raise NoRule()
    pads = _pads(imp, node, x, kernel, stride, dilation)
    if any(lo != hi for lo, hi in pads):  # asymmetric: pad first (max pooling pads with -inf,
        x = A(imp.asm.add(f"zero_pad{rank}d", [x.node],     # the same counts)
                          {"padding": [list(p) for p in pads]},
                          name=imp.names.of(imp.names.index(node)) + ".pad"))
        pads = ((0, 0),) * rank
        imp.asm.warnings.append(f"{x.node}: asymmetric pooling padding imported as "
                                f"zero_pad{rank}d before the pool")
    kwargs = dict(kernel=kernel, stride=stride, padding=[lo for lo, _ in pads],
                  ceil_mode=bool(imp.attr("ceil_mode", 0)), **extra)
    if kind == "max":
        kwargs["dilation"] = dilation
    imp.set(node.output[0], imp.add(f"{kind}pool{rank}d", [x], **kwargs))


@handles("MaxPool")
def _maxpool(imp, node) -> None:
    _pool_common(imp, node, imp.act(node.input[0]), "max")


@handles("AveragePool")
def _avgpool(imp, node) -> None:
    _pool_common(imp, node, imp.act(node.input[0]), "avg",
                 count_include_pad=bool(imp.attr("count_include_pad", 0)))


@handles("GlobalAveragePool", "GlobalMaxPool")
def _global(imp, node) -> None:
    x = imp.act(node.input[0])
    _map(imp, x)
    op = "global_avgpool" if node.op_type == "GlobalAveragePool" else "global_maxpool"
    imp.set(node.output[0], imp.add(op, [x], keepdim=True))


@handles("ReduceMean", "ReduceMax")
def _reduce(imp, node) -> None:
    x = imp.act(node.input[0])
    axes = imp.attr("axes")
    if axes is None and len(node.input) > 1:
        axes = imp.const(node.input[1])
    if axes is None:
        raise NoRule()
    rank = len(imp.asm.shape(x.node))
    spatial = {1, 2} if x.nhwc else set(range(2, rank))
    keep = bool(imp.attr("keepdims", 1))
    reduced = {int(a) % rank for a in list(axes)}
    if not x.nhwc and 0 not in reduced and reduced != spatial:
        # a mean over tokens, over any axes of any rank: a reduction (one operation per input
        # element, kind "pool"), as the capture's rule for torch's reductions
        shape = imp.asm.shape(x.node)
        out = [1 if i in reduced else d for i, d in enumerate(shape) if keep or i not in reduced]
        return imp.set(node.output[0], imp.add("reduction", [x], what=f"ONNX {node.op_type}",
                                               shape=out[1:]))
    if rank < 3 or (x.nhwc and rank != 4) or reduced != spatial:
        raise NoRule()
    if x.nhwc and keep:
        raise NoRule()
    op = "global_avgpool" if node.op_type == "ReduceMean" else "global_maxpool"
    imp.set(node.output[0], imp.add(op, [x], keepdim=keep))


@handles("BatchNormalization")
def _bn(imp, node) -> None:
    x = imp.act(node.input[0])
    rank = len(imp.asm.shape(x.node))
    if x.nhwc or rank not in (2, 3, 4, 5):
        raise NoRule()
    c = imp.asm.shape(x.node)[1]
    for k, what in ((1, "scale"), (2, "bias"), (3, "running mean"), (4, "running variance")):
        _check_init(imp, node, k, what, [(c,)])
    imp.set(node.output[0], imp.add("batchnorm1d" if rank <= 3 else f"batchnorm{rank - 2}d", [x],
                                    eps=f32(imp.attr("epsilon", 1e-5)),
                                    momentum=f32(1 - f32(imp.attr("momentum", 0.9)))))


@handles("LayerNormalization")
def _layernorm(imp, node) -> None:
    x = imp.act(node.input[0])
    rank = len(imp.asm.shape(x.node))
    axis = onnx_axis(imp, x, imp.attr("axis", -1))
    bias = len(node.input) > 2 and bool(node.input[2])
    eps = f32(imp.attr("epsilon", 1e-5))
    shape = imp.asm.shape(x.node)
    normalized = (shape[1],) if x.nhwc else tuple(shape[axis:])
    _check_init(imp, node, 1, "scale", [normalized])
    _check_init(imp, node, 2, "bias", [normalized])
    if x.nhwc:
        if axis != 3:
            raise NoRule()
        return imp.set(node.output[0], imp.add("layernorm2d", [x], True, eps=eps, bias=bias))
    imp.set(node.output[0], imp.add("layernorm", [x], folded=x.folded, dims=rank - axis, eps=eps,
                                    bias=bias))


def _simple(op: str) -> Handler:
    def handler(imp, node) -> None:
        x = imp.act(node.input[0])
        imp.set(node.output[0], imp.add(op, [x], x.nhwc, folded=x.folded))
    return handler


for _onnx, _op in {"Relu": "relu", "Sigmoid": "sigmoid", "Tanh": "tanh", "HardSwish": "hardswish",
                   "Mish": "mish"}.items():
    handles(_onnx)(_simple(_op))


@handles("HardSigmoid")
def _hardsigmoid(imp, node) -> None:
    if not is_torch_hardsigmoid(node, imp.onnx):
        raise NoRule()
    x = imp.act(node.input[0])
    imp.set(node.output[0], imp.add("hardsigmoid", [x], x.nhwc))


@handles("LeakyRelu")
def _leaky(imp, node) -> None:
    x = imp.act(node.input[0])
    imp.set(node.output[0], imp.add("leaky_relu", [x], x.nhwc,
                                    negative_slope=f32(imp.attr("alpha", 0.01))))


@handles("Elu")
def _elu(imp, node) -> None:
    x = imp.act(node.input[0])
    imp.set(node.output[0], imp.add("elu", [x], x.nhwc, alpha=f32(imp.attr("alpha", 1.0))))


@handles("Gelu")
def _gelu(imp, node) -> None:
    x = imp.act(node.input[0])
    imp.set(node.output[0], imp.add("gelu", [x], x.nhwc,
                                    approximate=imp.attr("approximate", "none")))


@handles("Clip")
def _clip(imp, node) -> None:
    x = imp.act(node.input[0])
    lo, hi = imp.attr("min"), imp.attr("max")
    if len(node.input) > 1 and node.input[1]:
        v = imp.const(node.input[1])
        if v is None:
            raise NoRule()
        lo = float(v)
    if len(node.input) > 2 and node.input[2]:
        v = imp.const(node.input[2])
        if v is None:
            raise NoRule()
        hi = float(v)
    if lo == 0 and hi == 6:
        return imp.set(node.output[0], imp.add("relu6", [x], x.nhwc))
    if lo == 0 and hi is None:
        return imp.set(node.output[0], imp.add("relu", [x], x.nhwc))
    imp.set(node.output[0], imp.add("hardtanh", [x], x.nhwc,
                                    min=-math.inf if lo is None else f32(lo),
                                    max=math.inf if hi is None else f32(hi)))


@handles("PRelu")
def _prelu(imp, node) -> None:
    x = imp.act(node.input[0])
    slope = imp.const_dims(node.input[1])
    if x.nhwc or slope is None:
        raise NoRule()
    c = imp.asm.shape(x.node)[1]
    if numel(slope) not in (1, c):
        raise DefinitionError(f"PRelu: the slope '{node.input[1]}' is {_shape_text(slope)}: "
                              f"one value, or one per channel ({c}), is what this input takes")
    imp.set(node.output[0], imp.add("prelu", [x], num_parameters=max(1, numel(slope))))


@handles("Softmax", "LogSoftmax")
def _softmax(imp, node) -> None:
    x = imp.act(node.input[0])
    rank = len(imp.asm.shape(x.node)) - x.folded
    axis = onnx_axis(imp, x, imp.attr("axis", 1 if imp.opset < 13 else -1))
    rank += x.folded
    # before opset 13, Softmax flattened the input to 2-D at axis: the same only for the last axis
    if x.nhwc or (imp.opset < 13 and axis != rank - 1):
        raise NoRule()
    op = "softmax" if node.op_type == "Softmax" else "log_softmax"
    imp.set(node.output[0], imp.add(op, [x], folded=x.folded, dim=axis))


@handles("Dropout")
def _dropout(imp, node) -> None:
    x = imp.act(node.input[0])
    p = imp.attr("ratio", 0.5)
    if len(node.input) > 1 and node.input[1]:
        v = imp.const(node.input[1])
        p = float(v) if v is not None else 0.5
    imp.set(node.output[0], imp.add("dropout", [x], x.nhwc, p=f32(p)))


@handles("Add", "Sum", "Mul", "Max", "Sub", "Div")
def _elementwise(imp, node) -> None:
    names = [n for n in node.input if n]
    acts = [n for n in names if n in imp.values]
    consts = [n for n in names if n not in imp.values]
    if len(acts) == 1 and len(consts) == 1 and numel(imp.const_dims(consts[0]) or ()) == 1 \
            and node.op_type in ("Add", "Sub", "Mul", "Div"):
        # x * scale, x / sqrt(d) (attention's scale), x + 1: one operation per element, kind
        # "elementwise", as the capture's pointwise rule for a constant operand
        x = imp.act(acts[0])
        return imp.set(node.output[0], imp.add("pointwise", [x], x.nhwc, folded=x.folded,
                                               what=f"ONNX {node.op_type} (a constant)",
                                               kind="elementwise"))
    if node.op_type not in ("Add", "Sum", "Mul", "Max"):
        raise NoRule()
    op = {"Add": "add", "Sum": "add", "Mul": "multiply", "Max": "maximum"}[node.op_type]
    if not consts:
        xs = [imp.act(n) for n in acts]
        if len({(x.nhwc, x.folded) for x in xs}) != 1:
            raise NoRule()
        return imp.set(node.output[0], imp.add(op, xs, xs[0].nhwc, folded=xs[0].folded))
    # a learned per-channel multiplier (a layer scale, a folded affine) -> scale
    if node.op_type == "Mul" and len(acts) == 1 and len(consts) == 1:
        x = imp.act(acts[0])
        dims = imp.const_dims(consts[0]) or ()
        shape = imp.asm.shape(x.node)
        c = shape[1]
        per_channel = [(c,)] if x.nhwc else [(c, 1, 1), (1, c, 1, 1)]
        if len(shape) == 4 and tuple(dims) in per_channel and c > 1:
            return imp.set(node.output[0], imp.add("scale", [x], x.nhwc, bias=False))
    raise NoRule()


@handles("Concat")
def _concat(imp, node) -> None:
    if any(n not in imp.values for n in node.input if n):
        raise NoRule()
    xs = [imp.act(n) for n in node.input if n]
    nhwc = xs[0].nhwc
    if any(x.nhwc != nhwc for x in xs):
        raise NoRule()
    rank = len(imp.asm.shape(xs[0].node))
    axis = int(imp.attr("axis")) % rank
    if nhwc:
        axis = {3: 1, 1: 2, 2: 3}.get(axis, 0)
    if axis == 0:
        raise NoRule()
    imp.set(node.output[0], imp.add("concat", xs, nhwc, dim=axis))


@handles("Flatten")
def _flatten(imp, node) -> None:
    x = imp.act(node.input[0])
    if x.nhwc or int(imp.attr("axis", 1)) != 1:
        raise NoRule()
    imp.set(node.output[0], imp.add("flatten", [x]))


def _reshape_to(imp, node, x: A, target: list[int]) -> None:
    """Reshape to ONNX target sizes (0 copies, -1 is inferred); the first size is the batch."""
    src = imp.asm.shape(x.node)
    if target.count(-1) > 1 or any(d < -1 for d in target):
        raise DefinitionError(f"Reshape to {list(target)}: ONNX allows one -1 (an inferred "
                              "size) at most, and no other negative size")
    if not imp.attr("allowzero", 0):
        target = [src[i] if d == 0 and i < len(src) else d for i, d in enumerate(target)]
    if not target or target[0] not in (src[0], -1, 1):
        raise NoRule()
    rest = target[1:]
    total = numel(src[1:])
    if -1 in rest:
        known = numel([d for d in rest if d != -1])
        if known == 0 or total % known:
            raise NoRule()
        rest = [total // known if d == -1 else d for d in rest]
    if numel(rest) != total:
        raise NoRule()          # the batch dimension would change
    if len(src) == 4 and len(rest) == 4 and rest[0] * rest[1] == src[1] and rest[2:] == list(src[2:]):
        imp.values[node.output[0]] = Shuffle(x, rest[0])
        return
    if len(rest) == 1 and len(src) > 2:
        return imp.set(node.output[0], imp.add("flatten", [x]))
    imp.set(node.output[0], imp.add("reshape", [x], shape=rest))


@handles("Reshape")
def _reshape(imp, node) -> None:
    v = imp.values.get(node.input[0])
    target = imp.const(node.input[1])
    if target is None:
        inferred = imp.inferred.get(node.output[0])
        if inferred is None:
            raise NoRule()
        target = [-1] + list(inferred[1:])
    target = [int(t) for t in list(target)]
    if isinstance(v, Shuffle):
        src = imp.asm.shape(v.src.node)
        if v.transposed and len(target) == 4 and list(target[1:]) in ([src[1], src[2], src[3]],) \
                or v.transposed and target[1:] == [-1] + list(src[2:]):
            scope = scope_of(node.name)
            layer = imp.asm.add("channel_shuffle", [v.src.node], {"groups": v.groups},
                                name=f"{scope}.channel_shuffle" if scope else "channel_shuffle")
            return imp.set(node.output[0], A(layer))
        raise NoRule()
    x = imp.act(node.input[0])
    if x.nhwc:
        raise NoRule()
    _reshape_to(imp, node, x, target)


@handles("Squeeze", "Unsqueeze")
def _squeeze(imp, node) -> None:
    x = imp.act(node.input[0])
    if x.nhwc:
        raise NoRule()
    axes = imp.attr("axes")
    if axes is None and len(node.input) > 1 and node.input[1]:
        axes = imp.const(node.input[1])
    src = list(imp.asm.shape(x.node))
    if axes is None:
        if node.op_type == "Unsqueeze":
            raise NoRule()
        out = [d for i, d in enumerate(src) if d != 1 or i == 0]
    else:
        axes = [int(a) for a in list(axes)]
        if node.op_type == "Squeeze":
            drop = {a % len(src) for a in axes}
            if 0 in drop:
                raise NoRule()
            out = [d for i, d in enumerate(src) if i not in drop]
        else:
            rank = len(src) + len(axes)
            add = sorted(a % rank for a in axes)
            if 0 in add:
                raise NoRule()
            out = list(src)
            for a in add:
                out.insert(a, 1)
    if len(out) == 2 and len(src) > 2:
        return imp.set(node.output[0], imp.add("flatten", [x]))
    imp.set(node.output[0], imp.add("reshape", [x], shape=out[1:]))


@handles("Transpose")
def _transpose(imp, node) -> None:
    v = imp.values.get(node.input[0])
    perm = tuple(int(p) for p in imp.attr("perm", []))
    if isinstance(v, Shuffle):
        if not v.transposed and perm == (0, 2, 1, 3, 4):
            imp.values[node.output[0]] = Shuffle(v.src, v.groups, True)
            return
        raise NoRule()
    x = imp.act(node.input[0])
    if not x.nhwc and perm == (0, 2, 3, 1) and len(imp.asm.shape(x.node)) == 4:
        imp.values[node.output[0]] = A(x.node, True)      # channels-last: no layer
        return
    if x.nhwc and perm == (0, 3, 1, 2):
        imp.values[node.output[0]] = A(x.node, False)
        return
    raise NoRule()


@handles("Resize", "Upsample")
def _resize(imp, node) -> None:
    x = imp.act(node.input[0])
    rank = _map(imp, x)
    mode = imp.attr("mode", "nearest")
    coord = imp.attr("coordinate_transformation_mode", "half_pixel" if node.op_type == "Resize"
                     else "asymmetric")
    kwargs: dict[str, Any] = {}
    if mode == "nearest":
        kwargs["mode"] = "nearest"
        if coord not in ("asymmetric",) or imp.attr("nearest_mode", "floor") not in ("floor",):
            kwargs["mode"] = "nearest-exact" if coord in ("half_pixel", "pytorch_half_pixel") \
                and imp.attr("nearest_mode", "round_prefer_floor") == "floor" else None
            if kwargs["mode"] is None:
                raise NoRule()
    elif mode in ("linear", "cubic"):
        if mode == "cubic" and rank != 2:
            raise NoRule()
        kwargs["mode"] = ("bicubic" if mode == "cubic" else
                          {1: "linear", 2: "bilinear", 3: "trilinear"}[rank])
        if coord == "align_corners":
            kwargs["align_corners"] = True
        elif coord in ("half_pixel", "pytorch_half_pixel"):
            kwargs["align_corners"] = False
        else:
            raise NoRule()
    else:
        raise NoRule()
    scales = sizes = None
    if node.op_type == "Upsample":
        scales = imp.attr("scales")
        if scales is None and len(node.input) > 1:
            scales = imp.const(node.input[1])
    else:
        if len(node.input) > 2 and node.input[2]:
            scales = imp.const(node.input[2])
            scales = None if scales is not None and scales.size == 0 else scales
        if len(node.input) > 3 and node.input[3]:
            sizes = imp.const(node.input[3])
    if sizes is not None and len(sizes) == rank + 2:
        kwargs["size"] = [int(v) for v in sizes[2:]]
    elif scales is not None and len(scales) == rank + 2 and float(scales[0]) == 1 \
            and float(scales[1]) == 1:
        kwargs["scale"] = [float(v) for v in scales[2:]]
    else:
        inferred = imp.inferred.get(node.output[0])
        if inferred is None:
            raise NoRule()
        kwargs["size"] = list(inferred[2:])
    imp.set(node.output[0], imp.add("upsample", [x], **kwargs))


@handles("Pad")
def _pad(imp, node) -> None:
    x = imp.act(node.input[0])
    rank = _map(imp, x)
    mode = imp.attr("mode", "constant")
    pads = imp.attr("pads")
    if pads is None and len(node.input) > 1:
        pads = imp.const(node.input[1])
    value = imp.attr("value", 0.0)
    if len(node.input) > 2 and node.input[2]:
        v = imp.const(node.input[2])
        value = float(v) if v is not None and v.size == 1 else None
    n = rank + 2
    if pads is None or len(pads) != 2 * n or mode != "constant" or value != 0 or \
            len(node.input) > 3 and node.input[3]:
        raise NoRule()
    pads = [int(p) for p in pads]          # [x1_begin, ..., xn_begin, x1_end, ..., xn_end]
    if pads[0] or pads[1] or pads[n] or pads[n + 1] or min(pads) < 0:
        raise NoRule()
    imp.set(node.output[0], imp.add(f"zero_pad{rank}d", [x],
                                    padding=[[pads[i], pads[i + n]] for i in range(2, n)]))


@handles("LRN")
def _lrn(imp, node) -> None:
    x = imp.act(node.input[0])
    _map(imp, x)
    # ONNX: x / (bias + alpha/size * sum of squares)^beta, as torch's LocalResponseNorm
    imp.set(node.output[0], imp.add("lrn", [x], size=int(imp.attr("size")),
                                    alpha=f32(imp.attr("alpha", 1e-4)),
                                    beta=f32(imp.attr("beta", 0.75)), k=f32(imp.attr("bias", 1.0))))


@handles("Split")
def _split(imp, node) -> None:
    x = imp.act(node.input[0])
    if x.nhwc:
        raise NoRule()
    shape = imp.asm.shape(x.node)
    axis = int(imp.attr("axis", 0)) % len(shape)
    if axis == 0:
        raise NoRule()
    split = imp.attr("split")
    if split is None and len(node.input) > 1 and node.input[1]:
        split = imp.const(node.input[1])
    outs = [o for o in node.output]
    if split is None:
        n = len(outs)
        part = -(-shape[axis] // n)
        split = [min(part, shape[axis] - i * part) for i in range(n)]
    split = [int(s) for s in list(split)]
    base = imp.names.of(imp.names.index(node))
    start = 0
    for k, (out, size) in enumerate(zip(outs, split)):
        if out:
            layer = imp.asm.add("slice", [x.node], {"start": start, "end": start + size,
                                                    "dim": axis}, name=f"{base}.{k}")
            imp.set(out, A(layer))
        start += size


@handles("Slice")
def _slice(imp, node) -> None:
    x = imp.act(node.input[0])
    if x.nhwc:
        raise NoRule()
    if imp.opset < 10:
        starts, ends = imp.attr("starts"), imp.attr("ends")
        axes, steps = imp.attr("axes"), None
    else:
        get = lambda k: imp.const(node.input[k]) if len(node.input) > k and node.input[k] else None
        starts, ends, axes, steps = get(1), get(2), get(3), get(4)
        if starts is None or ends is None or (len(node.input) > 3 and node.input[3] and axes is None):
            raise NoRule()
    starts, ends = [int(s) for s in list(starts)], [int(e) for e in list(ends)]
    rank = len(imp.asm.shape(x.node))
    axes = [int(a) % rank for a in list(axes)] if axes is not None else list(range(len(starts)))
    steps = [int(s) for s in list(steps)] if steps is not None else [1] * len(starts)
    cuts = []
    for a, s, e, st in zip(axes, starts, ends, steps):
        size = imp.asm.shape(x.node)[a]
        if st < 1:
            raise NoRule()
        lo, hi, _ = slice(s, min(e, size) if e > 0 else e, st).indices(size)
        if (lo, hi, st) == (0, size, 1):
            continue
        if a == 0:
            raise NoRule()
        cuts.append((a, lo, hi, st))
    if not cuts:
        return imp.set(node.output[0], imp.add("identity", [x]))
    base = imp.names.of(imp.names.index(node))
    for k, (a, lo, hi, st) in enumerate(cuts):
        name = base if k == len(cuts) - 1 else f"{base}.axis{a}"
        x = A(imp.asm.add("slice", [x.node], {"start": lo, "end": hi, "dim": a, "step": st},
                          name=name))
    imp.set(node.output[0], x)


# -- constant folding (numpy) ------------------------------------------------------------------------
FOLD: dict[str, Callable] = {
    "Cast": lambda imp, np, i: i[0].astype(_np_dtype(imp.attr("to", 1), np)),
    "Unsqueeze": lambda imp, np, i: np.expand_dims(i[0], tuple(int(a) for a in (
        imp.attr("axes") if imp.attr("axes") is not None else i[1]))),
    "Squeeze": lambda imp, np, i: np.squeeze(i[0], tuple(int(a) for a in (
        imp.attr("axes") if imp.attr("axes") is not None else i[1]))),
    "Concat": lambda imp, np, i: np.concatenate([v.reshape(-1) if v.ndim == 0 else v for v in i],
                                                axis=int(imp.attr("axis", 0))),
    "Gather": lambda imp, np, i: np.take(i[0], i[1], axis=int(imp.attr("axis", 0))),
    "Mul": lambda imp, np, i: i[0] * i[1],
    "Add": lambda imp, np, i: i[0] + i[1],
    "Sub": lambda imp, np, i: i[0] - i[1],
    "Mod": lambda imp, np, i: np.fmod(i[0], i[1]) if imp.attr("fmod", 0) else np.mod(i[0], i[1]),
    "Div": lambda imp, np, i: (i[0] // i[1]) if i[0].dtype.kind in "iu" else i[0] / i[1],
    "Sqrt": lambda imp, np, i: np.sqrt(i[0]),
    "Floor": lambda imp, np, i: np.floor(i[0]),
    "Ceil": lambda imp, np, i: np.ceil(i[0]),
    "Reshape": lambda imp, np, i: i[0].reshape([int(d) for d in i[1]]),
    "ConstantOfShape": lambda imp, np, i: np.full([int(d) for d in i[0]], 0 if imp.attr("value") is None
                                                  else imp.attr("value").reshape(-1)[0]),
    "Identity": lambda imp, np, i: i[0],
    "Transpose": lambda imp, np, i: np.transpose(i[0], imp.attr("perm")),
    "Slice": lambda imp, np, i: _np_slice(np, i),
}


def _np_slice(np, i):
    data, starts, ends = i[0], i[1], i[2]
    axes = i[3] if len(i) > 3 and i[3] is not None else range(len(starts))
    steps = i[4] if len(i) > 4 and i[4] is not None else [1] * len(starts)
    index = [slice(None)] * data.ndim
    for a, s, e, st in zip(axes, starts, ends, steps):
        index[int(a)] = slice(int(s), int(e), int(st))
    return data[tuple(index)]


def _np_dtype(code: int, np):
    return {1: np.float32, 6: np.int32, 7: np.int64, 9: np.bool_, 10: np.float16,
            11: np.float64}.get(int(code), np.float32)


@handles("Shape")
def _shape(imp, node) -> None:
    """The shape of an activation (batch 1, cnnstat's analysis batch), as a constant."""
    x = imp.act(node.input[0])
    shape = list(imp.asm.shape(x.node))
    if x.nhwc:
        shape = [shape[0], shape[2], shape[3], shape[1]]
    if x.folded:
        shape = shape[1:]
    start, end = imp.attr("start", 0), imp.attr("end")
    imp.consts[node.output[0]] = imp.np.array(shape[start:end], dtype=imp.np.int64)


@handles("Size")
def _size(imp, node) -> None:
    x = imp.act(node.input[0])
    imp.consts[node.output[0]] = imp.np.array(numel(imp.asm.shape(x.node)), dtype=imp.np.int64)
