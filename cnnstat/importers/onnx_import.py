"""ONNX models → layer graph, with the ``onnx`` package (imported when a model is loaded).

The model's graph is walked in order. Initializers and Constant nodes are constants; small
computations on constants and on tensor shapes (Shape → Gather → Concat → Reshape, as exporters
write ``x.view(x.size(0), -1)``) are folded with numpy. Every other node becomes cnnstat operators:

===========================================  ==================================================
ONNX                                         cnnstat
===========================================  ==================================================
Conv (group, pads, strides, dilations,       conv2d (SAME_UPPER/SAME_LOWER resolved from the
auto_pad)                                    input size)
ConvTranspose                                conv_transpose2d
Gemm; MatMul with a constant weight          linear (a following Add of a constant bias is
(+ Add of a bias)                            folded in); MatMul of two activations: matmul
MaxPool, AveragePool (pads, ceil_mode,       maxpool2d, avgpool2d (asymmetric pads: zero_pad2d
count_include_pad, dilations)                first)
GlobalAveragePool, GlobalMaxPool,            global_avgpool, global_maxpool
ReduceMean over H, W
BatchNormalization                           batchnorm2d / batchnorm1d
LayerNormalization                           layernorm (layernorm2d inside a channels-last region)
Relu, Clip, Sigmoid, Tanh, HardSwish,        relu, relu6 / hardtanh, sigmoid, tanh, hardswish,
HardSigmoid, LeakyRelu, Elu, PRelu, Gelu,    hardsigmoid, leaky_relu, elu, prelu, gelu, mish;
Mish; x*Sigmoid(x); x*HardSigmoid(x);        silu; hardswish;
the erf form of GELU                         gelu
Add/Sum, Mul, Max (activations)              add, multiply, maximum
Mul by a per-channel constant                scale
Concat, Split, Slice                         concat, slice
Flatten, Reshape, Squeeze, Unsqueeze         flatten, reshape
Reshape → Transpose → Reshape (ShuffleNet)   channel_shuffle
Transpose to and from channels-last          (no layer: the tensor stays N x C x H x W)
Dropout, Identity                            dropout, (alias)
Softmax, LogSoftmax                          softmax, log_softmax
Resize, Upsample                             upsample
Pad (constant 0 on H, W)                     zero_pad2d
LRN                                          lrn
===========================================  ==================================================

Anything else becomes a ``not_counted`` layer with the output shape of ONNX shape inference.
Shapes are checked against ONNX shape inference where it knows them. Parameters are the
initializers each layer uses; exporters merge initializers with equal values (all-ones norm
weights, zero biases), so an ONNX file cannot tell tied weights from equal ones: every use counts.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any, Callable

from ..errors import CnnstatError, DefinitionError, ShapeError, UsageError
from ..graph import Graph
from ..ops.base import numel
from .common import Assembler, clean_name, input_override, no_builder_args, no_definition_options


def load(path: str, *, input_shape=None, overrides=None, variant=None, args=None,
         **options: Any) -> Graph:
    no_definition_options("an ONNX model", overrides, variant)
    no_builder_args("an ONNX model", args)
    if options:
        raise UsageError(f"unknown option(s) for an ONNX model: {', '.join(options)}")
    if not os.path.isfile(path):
        raise UsageError(f"ONNX model '{path}' does not exist")
    try:
        import onnx
    except ImportError:  # pragma: no cover - a dependency
        raise UsageError("reading ONNX models needs the 'onnx' package (pip install onnx)") from None
    try:
        model = onnx.load(path, load_external_data=False)
    except Exception as exc:
        raise UsageError(f"'{path}' is not a readable ONNX model: {_first_line(exc)}") from None
    return from_model(model, file=path, input_shape=input_shape)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__


def from_model(model, *, file: str | None = None, input_shape=None) -> Graph:
    return _Importer(model, file, input_shape).run()


@dataclass
class A:
    """An activation: the cnnstat node holding it; ``nhwc`` inside a channels-last region."""
    node: str
    nhwc: bool = False


@dataclass
class Shuffle:
    """Inside Reshape (N, g, C/g, H, W) → Transpose (0, 2, 1, 3, 4) → Reshape (N, C, H, W)."""
    src: A
    groups: int
    transposed: bool = False


class NoRule(Exception):
    """No rule for this node with these attributes: import it as not_counted."""


def _f32(value: Any) -> float:
    """An ONNX float attribute (stored as float32) as the decimal it was written as:
    9.999999747e-06 -> 1e-05."""
    return float(f"{float(value):.7g}")


_SAME_SHAPE_UNKNOWN = {"Selu", "Softplus", "Softsign", "Exp", "Log", "Abs", "Neg", "Sqrt", "Erf",
                       "Reciprocal", "Floor", "Ceil", "Round", "Sin", "Cos", "Celu", "ThresholdedRelu",
                       "Shrink", "Sign", "Not", "Cast", "InstanceNormalization",
                       "MeanVarianceNormalization", "LpNormalization"}


class _Importer:
    def __init__(self, model, file: str | None, input_shape):
        import numpy as np
        import onnx
        from onnx import numpy_helper
        self.np = np
        self.onnx = onnx
        self.numpy_helper = numpy_helper
        self.model = model
        self.file = file
        self.override = input_shape
        self.graph_proto = model.graph
        self.opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 13)
        name = model.graph.name or (os.path.splitext(os.path.basename(file))[0] if file else "onnx")
        self.asm = Assembler(os.path.splitext(os.path.basename(file))[0] if file else name, file=file)
        self.inits = {t.name: t for t in model.graph.initializer}
        self.consts: dict[str, Any] = {}          # name -> numpy value (folded)
        self.values: dict[str, Any] = {}          # name -> A | Shuffle
        self.weights_of: dict[str, int] = {}      # initializer name -> elements
        self.inferred: dict[str, tuple[int, ...] | None] = {}
        self.consumers: dict[str, list] = {}
        self.skip: set[int] = set()               # node indices absorbed by a pattern
        self.replace: dict[int, tuple[str, str]] = {}   # node index -> (op, input name)
        self.node: Any = None

    # -- constants ---------------------------------------------------------------------------------
    def const(self, name: str) -> Any:
        if not name:
            return None
        if name in self.consts:
            return self.consts[name]
        init = self.inits.get(name)
        if init is None:
            return None
        value = self.numpy_helper.to_array(init)
        self.consts[name] = value
        return value

    def is_const(self, name: str) -> bool:
        return bool(name) and (name in self.consts or name in self.inits)

    def const_dims(self, name: str) -> tuple[int, ...] | None:
        if name in self.inits:
            return tuple(self.inits[name].dims)
        v = self.consts.get(name)
        return tuple(v.shape) if v is not None else None

    def attr(self, key: str, default: Any = None) -> Any:
        for a in self.node.attribute:
            if a.name == key:
                value = self.onnx.helper.get_attribute_value(a)
                if isinstance(value, bytes):
                    return value.decode()
                if isinstance(value, self.onnx.TensorProto):
                    return self.numpy_helper.to_array(value)
                return value
        return default

    # -- the walk -------------------------------------------------------------------------------------
    def run(self) -> Graph:
        g = self.graph_proto
        inputs = [i for i in g.input if i.name not in self.inits]
        if len(inputs) != 1:
            raise DefinitionError(f"the model has {len(inputs)} inputs "
                                  f"({', '.join(i.name for i in inputs)}); cnnstat analyzes models "
                                  "with one image input", file=self.file)
        x = inputs[0]
        dims = [d.dim_value if d.HasField("dim_value") else None
                for d in x.type.tensor_type.shape.dim]
        if len(dims) != 4:
            raise DefinitionError(f"input '{x.name}' has {len(dims)} dimensions; cnnstat needs an "
                                  "image batch N x C x H x W", file=self.file)
        chw = [dims[1], dims[2], dims[3]]
        if self.override is not None:
            chw = list(input_override([d or 0 for d in chw], self.override))
        if any(not d for d in chw):
            raise UsageError(f"input '{x.name}' of {self.file or 'the model'} has a dynamic "
                             f"size ({'x'.join(str(d) if d else '?' for d in dims[1:])}): give "
                             "--input (e.g. --input 3x224x224)")
        self.values[x.name] = A(self.asm.input(tuple(chw), clean_name(x.name)))
        self._infer_shapes(x.name, chw)
        nodes = list(g.node)
        for i, node in enumerate(nodes):
            for name in node.input:
                self.consumers.setdefault(name, []).append((i, node))
        self._patterns(nodes)
        self.names = _Names(nodes)
        for i, node in enumerate(nodes):
            if i in self.skip:
                continue
            self.node = node
            try:
                self._node(i, node)
            except CnnstatError as exc:
                raise exc.located(file=self.file, layer=self.names.of(i)) from None
        outputs = []
        for out in g.output:
            v = self.values.get(out.name)
            if isinstance(v, A):
                outputs.append(v.node)
        if not outputs:
            raise DefinitionError("no output of the model is an activation cnnstat follows",
                                  file=self.file)
        source = os.path.basename(self.file) if self.file else "model"
        meta = {"title": f"imported from the ONNX model {source} (opset {self.opset})",
                "source": "onnx", "file": self.file}
        return self.asm.graph(outputs, meta)

    def _infer_shapes(self, input_name: str, chw) -> None:
        """ONNX shape inference at the analyzed input size (batch 1), for checks and for the
        output shapes of nodes without a rule."""
        onnx = self.onnx
        try:
            model = onnx.ModelProto()
            model.CopyFrom(self.model)
            for i in model.graph.input:
                if i.name == input_name:
                    dims = i.type.tensor_type.shape.dim
                    for d, v in zip(dims, [1] + list(chw)):
                        d.ClearField("dim_param")
                        d.dim_value = int(v)
            inferred = onnx.shape_inference.infer_shapes(model)
        except Exception:       # inference is a cross-check, not a requirement
            return
        for vi in list(inferred.graph.value_info) + list(inferred.graph.output):
            dims = vi.type.tensor_type.shape.dim
            shape = tuple(d.dim_value if d.HasField("dim_value") else -1 for d in dims)
            self.inferred[vi.name] = shape if shape and all(d > 0 for d in shape) else None

    def _patterns(self, nodes) -> None:
        """Recognize x * Sigmoid(x) (SiLU), x * HardSigmoid(x) (HardSwish) and the erf form of GELU
        so they import as one activation."""
        producer = {out: (i, n) for i, n in enumerate(nodes) for out in n.output}

        def only_use(name: str, i: int) -> bool:
            return [j for j, _ in self.consumers.get(name, [])] == [i]

        for i, n in enumerate(nodes):
            if n.op_type != "Mul" or len(n.input) != 2:
                continue
            for a, b in (n.input, n.input[::-1]):
                p = producer.get(b)
                if p and p[1].op_type in ("Sigmoid", "HardSigmoid") and p[1].input[0] == a \
                        and only_use(b, i):
                    hard = p[1].op_type == "HardSigmoid"
                    if hard and not _is_torch_hardsigmoid(p[1], self.onnx):
                        continue
                    self.skip.add(p[0])
                    self.replace[i] = ("hardswish" if hard else "silu", a)
                    break
            else:
                self._gelu(i, n, producer, only_use)

    def _gelu(self, i, n, producer, only_use) -> None:
        # torch's export: Mul(Mul(x, Add(Erf(Div(x, 1.4142)), 1)), 0.5) (or Mul(0.5) first)
        def c(name):
            v = self.const(name) if name in self.inits else None
            if v is None and name in producer and producer[name][1].op_type == "Constant":
                v = _const_attr(producer[name][1], self)
            return None if v is None or v.size != 1 else float(v.reshape(-1)[0])

        ins = list(n.input)
        half = [k for k, name in enumerate(ins) if c(name) is not None and abs(c(name) - 0.5) < 1e-6]
        if not half:
            return
        inner = producer.get(ins[1 - half[0]])
        if not inner or inner[1].op_type != "Mul":
            return
        for a, b in (inner[1].input, inner[1].input[::-1]):
            add = producer.get(b)
            if not add or add[1].op_type != "Add":
                continue
            one = [k for k, nm in enumerate(add[1].input) if c(nm) is not None and abs(c(nm) - 1) < 1e-6]
            if not one:
                continue
            erf = producer.get(add[1].input[1 - one[0]])
            if not erf or erf[1].op_type != "Erf":
                continue
            div = producer.get(erf[1].input[0])
            if not div or div[1].op_type != "Div" or div[1].input[0] != a:
                continue
            root2 = c(div[1].input[1])
            if root2 is None or abs(root2 - math.sqrt(2)) > 1e-5:
                continue
            steps = [div, erf, add, inner]
            nexts = [erf[0], add[0], inner[0], i]
            if all(only_use(st[1].output[0], nxt) for st, nxt in zip(steps, nexts)):
                self.skip.update(st[0] for st in steps)
                self.replace[i] = ("gelu", a)
            return

    # -- one node ---------------------------------------------------------------------------------------
    def _node(self, i: int, node) -> None:
        op = node.op_type
        if node.domain not in ("", "ai.onnx"):
            return self._unsupported(node, f"{node.domain}.{op}")
        if i in self.replace:
            kind, src = self.replace[i]
            x = self.act(src)
            return self.set(node.output[0], self.add(kind, [x], x.nhwc))
        if op == "Constant":
            self.consts[node.output[0]] = _const_attr(node, self)
            return
        if op == "Identity":
            src = node.input[0]
            if self.is_const(src):
                self.consts[node.output[0]] = self.const(src)
                if src in self.inits:
                    self.inits[node.output[0]] = self.inits[src]
            elif src in self.values:
                self.values[node.output[0]] = self.values[src]
            return
        activations = [n for n in node.input if n in self.values]
        if not activations:
            return self._fold(node)
        handler = _HANDLERS.get(op)
        try:
            if handler is None:
                raise NoRule()
            handler(self, node)
        except NoRule:
            self._unsupported(node, f"ONNX {op}")

    def act(self, name: str) -> A:
        v = self.values.get(name)
        if isinstance(v, Shuffle):
            raise NoRule()
        if not isinstance(v, A):
            raise NoRule()
        return v

    def set(self, name: str, value: A) -> None:
        self.values[name] = value
        self._check(name, value)

    def _check(self, name: str, value: A) -> None:
        expected = self.inferred.get(name)
        if not expected or not isinstance(value, A):
            return
        got = self.asm.shape(value.node)
        if value.nhwc and len(expected) == 4:
            expected = (expected[0], expected[3], expected[1], expected[2])
        if tuple(got[1:]) != tuple(expected[1:]):
            raise ShapeError(f"ONNX shape inference gives {name} the shape "
                             f"{'x'.join(map(str, expected[1:]))}, cnnstat's rule gives "
                             f"{'x'.join(map(str, got[1:]))}: cannot import it faithfully",
                             layer=value.node)

    def add(self, op: str, inputs: list[A], nhwc: bool = False, **kwargs: Any) -> A:
        name = self.names.of(self.names.index(self.node))
        return A(self.asm.add(op, [x.node for x in inputs], kwargs, name=name), nhwc)

    def _unsupported(self, node, what: str) -> None:
        inputs = [self.values[n] for n in node.input if isinstance(self.values.get(n), A)]
        inputs += [self.values[n].src for n in node.input if isinstance(self.values.get(n), Shuffle)]
        if not inputs:
            raise DefinitionError(f"{what} has no activation input cnnstat follows")
        held = sum(numel(self.const_dims(n)) for n in node.input
                   if n in self.inits and numel(self.const_dims(n) or ()) > 1)
        nhwc = all(x.nhwc for x in inputs)
        name = self.names.of(self.names.index(node))
        ran = None
        for k, out in enumerate(o for o in node.output if o):
            shape = self.inferred.get(out)
            if shape is None and node.op_type in _SAME_SHAPE_UNKNOWN and not nhwc:
                shape = self.asm.shape(inputs[0].node)
                keep = False
            else:
                if shape is None:
                    ran = ran if ran is not None else self._run_node(node)
                    shape = ran.get(out)
                keep = nhwc and shape is not None and len(shape) == 4
            if shape is None:
                raise DefinitionError(f"{what} has no cnnstat rule and ONNX shape inference does "
                                      "not know its output shape")
            per = tuple(shape[1:])
            if keep:
                per = (per[2], per[0], per[1])
            layer = self.asm.not_counted(what, [x.node for x in inputs], per,
                                         name=name if k == 0 else f"{name}.{k}",
                                         params=held if k == 0 else 0)
            self.values[out] = A(layer, keep)

    def _run_node(self, node) -> dict[str, tuple[int, ...]]:
        """Output shapes of one node that shape inference could not give, by running it alone
        with onnx's reference evaluator on zeros of its inputs' shapes (batch 1)."""
        np, onnx, helper = self.np, self.onnx, self.onnx.helper
        feeds, inputs = {}, []
        for name in node.input:
            if not name:
                continue
            v = self.values.get(name)
            if isinstance(v, A):
                shape = list(self.asm.shape(v.node))
                if v.nhwc:
                    shape = [shape[0], shape[2], shape[3], shape[1]]
                value = np.zeros(shape, dtype=np.float32)
            else:
                value = self.const(name)
                if value is None:
                    return {}
            feeds[name] = value
            inputs.append(helper.make_tensor_value_info(
                name, helper.np_dtype_to_tensor_dtype(value.dtype), list(value.shape)))
        outputs = [helper.make_empty_tensor_value_info(o) for o in node.output if o]
        try:
            from onnx.reference import ReferenceEvaluator
            graph = helper.make_graph([node], "one", inputs, outputs)
            model = helper.make_model(graph, opset_imports=list(self.model.opset_import))
            values = ReferenceEvaluator(model).run(None, feeds)
        except Exception:
            return {}
        return {o: tuple(np.asarray(v).shape) for o, v in zip([o for o in node.output if o], values)}

    # -- constant folding ----------------------------------------------------------------------------
    def _fold(self, node) -> None:
        """A node whose inputs are all constants (or shapes): computed with numpy."""
        np = self.np
        op = node.op_type
        ins = [self.const(n) if n else None for n in node.input]
        if op == "Shape":
            raise DefinitionError("Shape of a constant")          # pragma: no cover
        fn = _FOLD.get(op)
        if fn is None or any(v is None for v, n in zip(ins, node.input) if n):
            # not a constant we can compute: leave it unknown (used only if a layer needs it)
            return
        try:
            out = fn(self, np, ins)
        except Exception:
            return
        outs = out if isinstance(out, list) else [out]
        for name, value in zip(node.output, outs):
            self.consts[name] = np.asarray(value)

    def shape_of(self, name: str) -> tuple[int, ...]:
        return self.asm.shape(self.act(name).node)


def _const_attr(node, imp) -> Any:
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


def _is_torch_hardsigmoid(node, onnx) -> bool:
    alpha, beta = 0.2, 0.5
    for a in node.attribute:
        if a.name == "alpha":
            alpha = a.f
        if a.name == "beta":
            beta = a.f
    return abs(alpha - 1 / 6) < 1e-6 and abs(beta - 0.5) < 1e-6


class _Names:
    """Layer names from ONNX node names. Exporters write scopes: torch's TorchScript exporter names
    a node '/layer1/layer1.0/conv1/Conv'; the module path 'layer1.0.conv1' is kept, and a call
    made directly in a block's forward ('/layer1/layer1.0/Add') is named 'layer1.0.add'."""

    def __init__(self, nodes):
        self.nodes = nodes
        self.ids = {id(n): i for i, n in enumerate(nodes)}
        self.scopes = [_scope(n.name) for n in nodes]
        parents = {".".join(s.split(".")[:k]) for s in self.scopes if s
                   for k in range(1, len(s.split(".")))}
        counts: dict[str, int] = {}
        for s in self.scopes:
            counts[s] = counts.get(s, 0) + 1
        self.names = []
        for n, s in zip(nodes, self.scopes):
            if not s:   # '/Relu_1' (a top-level call in torch's export) -> 'relu_1'
                top = n.name[1:].lower() if n.name.startswith("/") else n.name
                self.names.append(clean_name(top or n.op_type.lower()))
            elif counts[s] == 1 and s not in parents:
                self.names.append(s)
            else:
                self.names.append(f"{s}.{n.op_type.lower()}")

    def index(self, node) -> int:
        return self.ids[id(node)]

    def of(self, i: int) -> str:
        return self.names[i]


def _scope(name: str) -> str:
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
Handler = Callable[[_Importer, Any], None]
_HANDLERS: dict[str, Handler] = {}


def handles(*ops: str):
    def register(fn: Handler) -> Handler:
        for op in ops:
            _HANDLERS[op] = fn
        return fn
    return register


def _pads2d(imp: _Importer, node, x: A, kernel, stride, dilation) -> tuple[tuple[int, int], tuple[int, int]]:
    """((top, bottom), (left, right)) from pads [t, l, b, r] or auto_pad (computed from the
    input size, as ONNX defines SAME_UPPER / SAME_LOWER)."""
    auto = imp.attr("auto_pad", "NOTSET")
    if auto in ("NOTSET", ""):
        pads = list(imp.attr("pads", [0, 0, 0, 0]))
        if len(pads) != 4:
            raise NoRule()
        return ((pads[0], pads[2]), (pads[1], pads[3]))
    if auto == "VALID":
        return ((0, 0), (0, 0))
    _, _, h, w = imp.asm.shape(x.node)
    out = []
    for size, k, s, d in zip((h, w), kernel, stride, dilation):
        total = max((-(-size // s) - 1) * s + (k - 1) * d + 1 - size, 0)
        small = total // 2
        out.append((small, total - small) if auto == "SAME_UPPER" else (total - small, small))
    return (out[0], out[1])


def _four(imp, x: A) -> None:
    if x.nhwc or len(imp.asm.shape(x.node)) != 4:
        raise NoRule()


@handles("Conv")
def _conv(imp: _Importer, node) -> None:
    x = imp.act(node.input[0])
    _four(imp, x)
    w = imp.const_dims(node.input[1])
    if w is None or len(w) != 4:
        raise NoRule()
    kernel = list(imp.attr("kernel_shape", w[2:]))
    stride = list(imp.attr("strides", [1, 1]))
    dilation = list(imp.attr("dilations", [1, 1]))
    pads = _pads2d(imp, node, x, kernel, stride, dilation)
    bias = len(node.input) > 2 and bool(node.input[2])
    imp.set(node.output[0], imp.add("conv2d", [x], out=int(w[0]), kernel=kernel, stride=stride,
                                    padding=[list(pads[0]), list(pads[1])], dilation=dilation,
                                    groups=int(imp.attr("group", 1)), bias=bias))


@handles("ConvTranspose")
def _deconv(imp: _Importer, node) -> None:
    x = imp.act(node.input[0])
    _four(imp, x)
    w = imp.const_dims(node.input[1])
    if w is None or len(w) != 4 or imp.attr("output_shape") is not None \
            or imp.attr("auto_pad", "NOTSET") not in ("NOTSET", ""):
        raise NoRule()
    t, l, b, r = list(imp.attr("pads", [0, 0, 0, 0]))
    if t != b or l != r:
        raise NoRule()
    groups = int(imp.attr("group", 1))
    imp.set(node.output[0], imp.add(
        "conv_transpose2d", [x], out=int(w[1]) * groups, kernel=list(imp.attr("kernel_shape", w[2:])),
        stride=list(imp.attr("strides", [1, 1])), padding=[t, l],
        output_padding=list(imp.attr("output_padding", [0, 0])), groups=groups,
        bias=len(node.input) > 2 and bool(node.input[2]), dilation=list(imp.attr("dilations", [1, 1]))))


@handles("Gemm")
def _gemm(imp: _Importer, node) -> None:
    x = imp.act(node.input[0])
    w = imp.const_dims(node.input[1])
    if w is None or len(w) != 2 or imp.attr("transA", 0) or len(imp.asm.shape(x.node)) != 2:
        raise NoRule()
    out = w[0] if imp.attr("transB", 0) else w[1]
    bias = len(node.input) > 2 and bool(node.input[2])
    imp.set(node.output[0], imp.add("linear", [x], out=int(out), bias=bias))


@handles("MatMul")
def _matmul(imp: _Importer, node) -> None:
    a, b = node.input[0], node.input[1]
    if a in imp.values and b in imp.values:
        x, y = imp.act(a), imp.act(b)
        if x.nhwc or y.nhwc:
            raise NoRule()
        return imp.set(node.output[0], imp.add("matmul", [x, y]))
    x = imp.act(a)
    w = imp.const_dims(b)
    if w is None or len(w) != 2:
        raise NoRule()
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
    scope = _scope(node.name)
    if bias_node is not None and scope and scope == _scope(bias_node[1].name) and \
            imp.names.scopes.count(scope) == 2:
        # '/mlp/MatMul' + '/mlp/Add': together they are the Linear module 'mlp'
        result = A(imp.asm.add(op, [x.node], {"out": int(w[1]), "bias": True}, name=scope), x.nhwc)
    else:
        result = imp.add(op, [x], x.nhwc, out=int(w[1]), bias=bias_node is not None)
    if bias_node is not None:
        imp.skip.add(bias_node[0])
        imp.values[out] = result
        imp.set(bias_node[1].output[0], result)
    else:
        imp.set(out, result)


def _pool_common(imp: _Importer, node, x: A, op: str, **extra) -> None:
    kernel = list(imp.attr("kernel_shape"))
    stride = list(imp.attr("strides", [1, 1]))
    dilation = list(imp.attr("dilations", [1, 1]))
    if len(kernel) != 2:
        raise NoRule()
    (t, b), (l, r) = _pads2d(imp, node, x, kernel, stride, dilation)
    if t != b or l != r:         # asymmetric: pad first (max pooling pads with -inf, the same counts)
        x = A(imp.asm.add("zero_pad2d", [x.node], {"padding": [[t, b], [l, r]]},
                          name=imp.names.of(imp.names.index(node)) + ".pad"))
        t = l = 0
        imp.asm.warnings.append(f"{x.node}: asymmetric pooling padding imported as zero_pad2d "
                                "before the pool")
    kwargs = dict(kernel=kernel, stride=stride, padding=[t, l],
                  ceil_mode=bool(imp.attr("ceil_mode", 0)), **extra)
    if op == "maxpool2d":
        kwargs["dilation"] = dilation
    imp.set(node.output[0], imp.add(op, [x], **kwargs))


@handles("MaxPool")
def _maxpool(imp: _Importer, node) -> None:
    x = imp.act(node.input[0])
    _four(imp, x)
    _pool_common(imp, node, x, "maxpool2d")


@handles("AveragePool")
def _avgpool(imp: _Importer, node) -> None:
    x = imp.act(node.input[0])
    _four(imp, x)
    _pool_common(imp, node, x, "avgpool2d",
                 count_include_pad=bool(imp.attr("count_include_pad", 0)))


@handles("GlobalAveragePool", "GlobalMaxPool")
def _global(imp: _Importer, node) -> None:
    x = imp.act(node.input[0])
    _four(imp, x)
    op = "global_avgpool" if node.op_type == "GlobalAveragePool" else "global_maxpool"
    imp.set(node.output[0], imp.add(op, [x], keepdim=True))


@handles("ReduceMean", "ReduceMax")
def _reduce(imp: _Importer, node) -> None:
    x = imp.act(node.input[0])
    axes = imp.attr("axes")
    if axes is None and len(node.input) > 1:
        axes = imp.const(node.input[1])
    if axes is None:
        raise NoRule()
    rank = len(imp.asm.shape(x.node))
    spatial = {1, 2} if x.nhwc else {2, 3}
    if rank != 4 or {int(a) % 4 for a in list(axes)} != spatial:
        raise NoRule()
    keep = bool(imp.attr("keepdims", 1))
    if x.nhwc and keep:
        raise NoRule()
    op = "global_avgpool" if node.op_type == "ReduceMean" else "global_maxpool"
    imp.set(node.output[0], imp.add(op, [x], keepdim=keep))


@handles("BatchNormalization")
def _bn(imp: _Importer, node) -> None:
    x = imp.act(node.input[0])
    rank = len(imp.asm.shape(x.node))
    if x.nhwc or rank not in (2, 3, 4):
        raise NoRule()
    imp.set(node.output[0], imp.add("batchnorm2d" if rank == 4 else "batchnorm1d", [x],
                                    eps=_f32(imp.attr("epsilon", 1e-5)),
                                    momentum=_f32(1 - _f32(imp.attr("momentum", 0.9)))))


@handles("LayerNormalization")
def _layernorm(imp: _Importer, node) -> None:
    x = imp.act(node.input[0])
    rank = len(imp.asm.shape(x.node))
    axis = int(imp.attr("axis", -1)) % rank
    bias = len(node.input) > 2 and bool(node.input[2])
    eps = _f32(imp.attr("epsilon", 1e-5))
    if x.nhwc:
        if axis != 3:
            raise NoRule()
        return imp.set(node.output[0], imp.add("layernorm2d", [x], True, eps=eps, bias=bias))
    imp.set(node.output[0], imp.add("layernorm", [x], dims=rank - axis, eps=eps, bias=bias))


def _simple(op: str) -> Handler:
    def handler(imp: _Importer, node) -> None:
        x = imp.act(node.input[0])
        imp.set(node.output[0], imp.add(op, [x], x.nhwc))
    return handler


for _onnx, _op in {"Relu": "relu", "Sigmoid": "sigmoid", "Tanh": "tanh", "HardSwish": "hardswish",
                   "Mish": "mish"}.items():
    handles(_onnx)(_simple(_op))


@handles("HardSigmoid")
def _hardsigmoid(imp: _Importer, node) -> None:
    if not _is_torch_hardsigmoid(node, imp.onnx):
        raise NoRule()
    x = imp.act(node.input[0])
    imp.set(node.output[0], imp.add("hardsigmoid", [x], x.nhwc))


@handles("LeakyRelu")
def _leaky(imp: _Importer, node) -> None:
    x = imp.act(node.input[0])
    imp.set(node.output[0], imp.add("leaky_relu", [x], x.nhwc,
                                    negative_slope=_f32(imp.attr("alpha", 0.01))))


@handles("Elu")
def _elu(imp: _Importer, node) -> None:
    x = imp.act(node.input[0])
    imp.set(node.output[0], imp.add("elu", [x], x.nhwc, alpha=_f32(imp.attr("alpha", 1.0))))


@handles("Gelu")
def _gelu(imp: _Importer, node) -> None:
    x = imp.act(node.input[0])
    imp.set(node.output[0], imp.add("gelu", [x], x.nhwc,
                                    approximate=imp.attr("approximate", "none")))


@handles("Clip")
def _clip(imp: _Importer, node) -> None:
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
                                    min=-math.inf if lo is None else _f32(lo),
                                    max=math.inf if hi is None else _f32(hi)))


@handles("PRelu")
def _prelu(imp: _Importer, node) -> None:
    x = imp.act(node.input[0])
    slope = imp.const_dims(node.input[1])
    if x.nhwc or slope is None:
        raise NoRule()
    imp.set(node.output[0], imp.add("prelu", [x], num_parameters=max(1, numel(slope))))


@handles("Softmax", "LogSoftmax")
def _softmax(imp: _Importer, node) -> None:
    x = imp.act(node.input[0])
    rank = len(imp.asm.shape(x.node))
    axis = int(imp.attr("axis", 1 if imp.opset < 13 else -1)) % rank
    # before opset 13, Softmax flattened the input to 2-D at axis: the same only for the last axis
    if x.nhwc or (imp.opset < 13 and axis != rank - 1):
        raise NoRule()
    op = "softmax" if node.op_type == "Softmax" else "log_softmax"
    imp.set(node.output[0], imp.add(op, [x], dim=axis))


@handles("Dropout")
def _dropout(imp: _Importer, node) -> None:
    x = imp.act(node.input[0])
    p = imp.attr("ratio", 0.5)
    if len(node.input) > 1 and node.input[1]:
        v = imp.const(node.input[1])
        p = float(v) if v is not None else 0.5
    imp.set(node.output[0], imp.add("dropout", [x], x.nhwc, p=_f32(p)))


@handles("Add", "Sum", "Mul", "Max")
def _elementwise(imp: _Importer, node) -> None:
    names = [n for n in node.input if n]
    acts = [n for n in names if n in imp.values]
    consts = [n for n in names if n not in imp.values]
    op = {"Add": "add", "Sum": "add", "Mul": "multiply", "Max": "maximum"}[node.op_type]
    if not consts:
        xs = [imp.act(n) for n in acts]
        if len({x.nhwc for x in xs}) != 1:
            raise NoRule()
        return imp.set(node.output[0], imp.add(op, xs, xs[0].nhwc))
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
def _concat(imp: _Importer, node) -> None:
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
def _flatten(imp: _Importer, node) -> None:
    x = imp.act(node.input[0])
    if x.nhwc or int(imp.attr("axis", 1)) != 1:
        raise NoRule()
    imp.set(node.output[0], imp.add("flatten", [x]))


def _reshape_to(imp: _Importer, node, x: A, target: list[int]) -> None:
    """Reshape to ONNX target sizes (0 copies, -1 is inferred); the first size is the batch."""
    src = imp.asm.shape(x.node)
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
def _reshape(imp: _Importer, node) -> None:
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
            scope = _scope(node.name)
            layer = imp.asm.add("channel_shuffle", [v.src.node], {"groups": v.groups},
                                name=f"{scope}.channel_shuffle" if scope else "channel_shuffle")
            return imp.set(node.output[0], A(layer))
        raise NoRule()
    x = imp.act(node.input[0])
    if x.nhwc:
        raise NoRule()
    _reshape_to(imp, node, x, target)


@handles("Squeeze", "Unsqueeze")
def _squeeze(imp: _Importer, node) -> None:
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
def _transpose(imp: _Importer, node) -> None:
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
def _resize(imp: _Importer, node) -> None:
    x = imp.act(node.input[0])
    _four(imp, x)
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
        kwargs["mode"] = "bilinear" if mode == "linear" else "bicubic"
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
    if sizes is not None and len(sizes) == 4:
        kwargs["size"] = [int(sizes[2]), int(sizes[3])]
    elif scales is not None and len(scales) == 4 and float(scales[0]) == 1 and float(scales[1]) == 1:
        kwargs["scale"] = [float(scales[2]), float(scales[3])]
    else:
        inferred = imp.inferred.get(node.output[0])
        if inferred is None:
            raise NoRule()
        kwargs["size"] = list(inferred[2:])
    imp.set(node.output[0], imp.add("upsample", [x], **kwargs))


@handles("Pad")
def _pad(imp: _Importer, node) -> None:
    x = imp.act(node.input[0])
    _four(imp, x)
    mode = imp.attr("mode", "constant")
    pads = imp.attr("pads")
    if pads is None and len(node.input) > 1:
        pads = imp.const(node.input[1])
    value = imp.attr("value", 0.0)
    if len(node.input) > 2 and node.input[2]:
        v = imp.const(node.input[2])
        value = float(v) if v is not None and v.size == 1 else None
    if pads is None or len(pads) != 8 or mode != "constant" or value != 0 or \
            len(node.input) > 3 and node.input[3]:
        raise NoRule()
    pads = [int(p) for p in pads]
    if pads[0] or pads[1] or pads[4] or pads[5] or min(pads) < 0:
        raise NoRule()
    imp.set(node.output[0], imp.add("zero_pad2d", [x], padding=[[pads[2], pads[6]],
                                                                  [pads[3], pads[7]]]))


@handles("LRN")
def _lrn(imp: _Importer, node) -> None:
    x = imp.act(node.input[0])
    _four(imp, x)
    # ONNX: x / (bias + alpha/size * sum of squares)^beta, as torch's LocalResponseNorm
    imp.set(node.output[0], imp.add("lrn", [x], size=int(imp.attr("size")),
                                    alpha=_f32(imp.attr("alpha", 1e-4)),
                                    beta=_f32(imp.attr("beta", 0.75)), k=_f32(imp.attr("bias", 1.0))))


@handles("Split")
def _split(imp: _Importer, node) -> None:
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
def _slice(imp: _Importer, node) -> None:
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
def _np_shape(imp, np, ins):  # pragma: no cover - Shape of an activation is handled below
    raise ValueError


_FOLD: dict[str, Callable] = {
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
def _shape(imp: _Importer, node) -> None:
    """The shape of an activation (batch 1, cnnstat's analysis batch), as a constant."""
    x = imp.act(node.input[0])
    shape = list(imp.asm.shape(x.node))
    if x.nhwc:
        shape = [shape[0], shape[2], shape[3], shape[1]]
    start, end = imp.attr("start", 0), imp.attr("end")
    imp.consts[node.output[0]] = imp.np.array(shape[start:end], dtype=imp.np.int64)


@handles("Size")
def _size(imp: _Importer, node) -> None:
    x = imp.act(node.input[0])
    imp.consts[node.output[0]] = imp.np.array(numel(imp.asm.shape(x.node)), dtype=imp.np.int64)
