"""ONNX models → layer graph, with the ``onnx`` package (imported when a model is loaded).

The model's graph is walked in order. Initializers and Constant nodes are constants; small
computations on constants and on tensor shapes (Shape → Gather → Concat → Reshape, as exporters
write ``x.view(x.size(0), -1)``) are folded with numpy. Every other node becomes cnnstat operators:

===========================================  ==================================================
ONNX                                         cnnstat
===========================================  ==================================================
Conv (group, pads, strides, dilations,       conv1d / conv2d / conv3d by the kernel's rank
auto_pad)                                    (SAME_UPPER/SAME_LOWER resolved from the input)
ConvTranspose                                conv_transpose1d / 2d / 3d
Gemm; MatMul with a constant weight          linear (a following Add of a constant bias is
(+ Add of a bias)                            folded in); MatMul of two activations: matmul
MaxPool, AveragePool (pads, ceil_mode,       maxpool1d/2d/3d, avgpool1d/2d/3d (asymmetric
count_include_pad, dilations)                pads: zero_pad1d/2d/3d first)
GlobalAveragePool, GlobalMaxPool,            global_avgpool, global_maxpool
ReduceMean over the spatial axes
BatchNormalization                           batchnorm1d / batchnorm2d / batchnorm3d
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
Resize, Upsample                             upsample (linear: linear/bilinear/trilinear)
Pad (constant 0 on the spatial axes)         zero_pad1d / zero_pad2d / zero_pad3d
LRN                                          lrn
===========================================  ==================================================

Anything else becomes a ``not_counted`` layer with the output shape of ONNX shape inference.
Shapes are checked against ONNX shape inference where it knows them. Parameters are the
initializers each layer uses; exporters merge initializers with equal values (all-ones norm
weights, zero biases), so an ONNX file cannot tell tied weights from equal ones: every use counts.
"""

from __future__ import annotations

import functools
import math
import os
from typing import Any

from ..errors import CnnstatError, DefinitionError, InternalError, UsageError
from ..graph import Graph
from ..ops.base import numel
from ..render.escape import has_control, show
from .common import Assembler, check_shape, clean_name, input_override, model_file
from .onnx_rules import (FOLD, FOLDED_OK, HANDLERS, LAYOUT_OPS, SAME_SHAPE_UNKNOWN, A, NoRule,
                         Shuffle, const_attr, is_torch_hardsigmoid, per_sample, scope_of)


#: attributes that are integers (or lists of integers) in the ONNX operator specification
INT_ATTRIBUTES = {"group", "axis", "axes", "kernel_shape", "strides", "pads", "dilations",
                  "output_padding", "output_shape", "ceil_mode", "count_include_pad", "keepdims",
                  "transA", "transB", "allowzero", "perm", "split", "start", "end", "to", "size",
                  "storage_order", "select_last_index", "noop_with_empty_axes", "blocksize"}


def load(path: str, *, input_shape=None, overrides=None, variant=None, args=None,
         **options: Any) -> Graph:
    model_file("an ONNX model", path, overrides, variant, args, options)
    try:
        import onnx
    except ImportError:  # pragma: no cover - a dependency
        raise UsageError("reading ONNX models needs the 'onnx' package (pip install onnx)") from None
    try:
        model = onnx.load(path, load_external_data=False)
    except Exception as exc:
        raise UsageError(f"'{path}' is not a readable ONNX model: {_first_line(exc)}") from None
    return from_model(model, file=path, input_shape=input_shape)


@functools.cache
def _bad_constants() -> tuple[type[BaseException], ...]:
    """What numpy raises on constants that do not compute (mismatched shapes, an axis out of
    range, a division by zero, a dtype without the operation: UFuncTypeError, a TypeError
    subclass). A KeyError, AttributeError or plain TypeError in a folding rule is a bug in
    cnnstat and surfaces as one."""
    import numpy as np
    ufunc_type = getattr(getattr(np, "_core", getattr(np, "core", None)), "_exceptions", None)
    ufunc_type = getattr(ufunc_type, "UFuncTypeError", None) if ufunc_type else None
    return (ValueError, IndexError, ArithmeticError, MemoryError) + \
        ((ufunc_type,) if ufunc_type else ())



def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__


def from_model(model, *, file: str | None = None, input_shape=None) -> Graph:
    return _Importer(model, file, input_shape).run()


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
        """A node attribute, checked: an integer attribute (group, axis, kernel_shape ...) must
        be stored as INT or INTS (a FLOAT group of 2.9 is an error, never truncated to 2), a
        float attribute must be a number (NaN is an error), text must be UTF-8."""
        for a in self.node.attribute:
            if a.name == key:
                value = self.onnx.helper.get_attribute_value(a)
                kinds = self.onnx.AttributeProto
                if key in INT_ATTRIBUTES and a.type not in (kinds.INT, kinds.INTS):
                    raise DefinitionError(f"{self.node.op_type}: attribute '{key}' must be an "
                                          f"integer, got {show(value, 60)}")
                numbers = value if isinstance(value, list) else [value]
                if any(isinstance(v, float) and (math.isnan(v) or (math.isinf(v) and key not in
                                                                   ("min", "max")))
                       for v in numbers):
                    raise DefinitionError(f"{self.node.op_type}: attribute '{key}' is "
                                          f"{show(value, 60)}, not a finite number")
                if isinstance(value, bytes):
                    try:
                        return value.decode()
                    except UnicodeDecodeError:
                        raise DefinitionError(f"{self.node.op_type}: attribute '{key}' is not "
                                              "UTF-8 text") from None
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
        if not 3 <= len(dims) <= 5:
            raise DefinitionError(f"input '{x.name}' has {len(dims)} dimensions; cnnstat needs a "
                                  "batch of feature maps N x C x L, N x C x H x W or "
                                  "N x C x D x H x W", file=self.file)
        chw = list(dims[1:])
        if self.override is not None:
            chw = list(input_override([d or 0 for d in chw], self.override, self.file))
        if any(not d for d in chw):
            example = {3: "1x16000", 4: "3x224x224", 5: "3x16x112x112"}[len(dims)]
            raise UsageError(f"input '{x.name}' of {self.file or 'the model'} has a dynamic "
                             f"size ({'x'.join(str(d) if d else '?' for d in dims[1:])}): give "
                             f"--input (e.g. --input {example})")
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
                    if hard and not is_torch_hardsigmoid(p[1], self.onnx):
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
                v = const_attr(producer[name][1], self)
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
        if has_control(op) or has_control(node.domain):
            raise DefinitionError(f"the operator type {show(node.domain + '.' + op, 80)} holds "
                                  "control characters")
        if node.domain not in ("", "ai.onnx"):
            return self._unsupported(node, f"{node.domain}.{op}")
        if i in self.replace:
            kind, src = self.replace[i]
            x = self.act(src)
            return self.set(node.output[0], self.add(kind, [x], x.nhwc))
        if op == "Constant":
            self.consts[node.output[0]] = const_attr(node, self)
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
        handler = HANDLERS.get(op)
        try:
            if handler is None:
                raise NoRule()
            handler(self, node)
        except NoRule:
            if op in LAYOUT_OPS and self._layout(node):
                return
            self._unsupported(node, f"ONNX {op}")
        except (CnnstatError, RecursionError, MemoryError):
            raise
        except Exception as exc:     # a bug in the import rule, not the file's fault
            raise InternalError.in_rule(f"ONNX {op}", self.names.of(i), exc,
                                        file=self.file) from exc

    def act(self, name: str) -> A:
        v = self.values.get(name)
        if isinstance(v, Shuffle):
            raise NoRule()
        if not isinstance(v, A):
            raise NoRule()
        if v.folded and self.node.op_type not in FOLDED_OK:
            raise NoRule()
        return v

    def _layout(self, node) -> bool:
        """A layout operator (Transpose, Reshape, Split, Gather... of any rank) as cnnstat's
        ``layout``: no arithmetic, each output the shape ONNX shape inference gives it (batch 1);
        where the batch is no longer the leading axis, the output is ``folded`` (A). False when
        an input is channels-last or a channel shuffle, or a shape is unknown."""
        values = [self.values.get(n) for n in node.input if n in self.values]
        if not values or not all(isinstance(v, A) and not v.nhwc for v in values):
            return False
        shapes = {}
        for out in (o for o in node.output if o):
            shape = self.inferred.get(out)
            if shape is None:
                try:
                    shape = self._run_node(node).get(out)
                except CnnstatError:
                    shape = None
            if not shape:
                return False
            shapes[out] = shape
        name = self.names.of(self.names.index(node))
        held = sum(numel(self.const_dims(n)) for n in node.input
                   if n in self.inits and numel(self.const_dims(n) or ()) > 1)
        for k, (out, shape) in enumerate(shapes.items()):
            per, folded = per_sample(shape)
            layer = self.asm.add("layout", [values[0].node],
                                 {"what": f"ONNX {node.op_type}", "shape": list(per),
                                  "params": held if k == 0 else 0},
                                 name=name if k == 0 else f"{name}.{k}")
            self.set(out, A(layer, False, folded))
        return True

    def set(self, name: str, value: A) -> None:
        self.values[name] = value
        self._check(name, value)

    def _check(self, name: str, value: A) -> None:
        expected = self.inferred.get(name)
        if not expected or not isinstance(value, A):
            return
        if value.nhwc and len(expected) == 4:
            expected = (expected[0], expected[3], expected[1], expected[2])
        if value.folded:
            expected = (1,) + tuple(expected)
        check_shape(self.asm, value.node, expected, "ONNX shape inference", of=name)

    def add(self, op: str, inputs: list[A], nhwc: bool = False, *, folded: bool = False,
            **kwargs: Any) -> A:
        name = self.names.of(self.names.index(self.node))
        return A(self.asm.add(op, [x.node for x in inputs], kwargs, name=name), nhwc, folded)

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
            if shape is None and node.op_type in SAME_SHAPE_UNKNOWN and not nhwc:
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
            per, folded = per_sample(tuple(shape))
            if keep:
                per, folded = (per[2], per[0], per[1]), False
            layer = self.asm.not_counted(what, [x.node for x in inputs], per,
                                         name=name if k == 0 else f"{name}.{k}",
                                         params=held if k == 0 else 0)
            self.values[out] = A(layer, keep, folded)

    def _run_node(self, node) -> dict[str, tuple[int, ...]]:
        """Output shapes of one node that shape inference could not give, by running it alone
        with onnx's reference evaluator on zeros of its inputs' shapes (batch 1)."""
        np, helper = self.np, self.onnx.helper
        feeds, inputs = {}, []
        for name in node.input:
            if not name:
                continue
            v = self.values.get(name)
            if isinstance(v, A):
                shape = list(self.asm.shape(v.node))
                if v.nhwc:
                    shape = [shape[0], shape[2], shape[3], shape[1]]
                if v.folded:
                    shape = shape[1:]
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
        fn = FOLD.get(op)
        if fn is None or any(v is None for v, n in zip(ins, node.input) if n):
            # not a constant we can compute: leave it unknown (used only if a layer needs it)
            return
        try:
            out = fn(self, np, ins)
        except _bad_constants():   # the file's constants do not compute: left unknown
            return
        except Exception as exc:     # a bug in the folding rule
            raise InternalError.in_rule(f"ONNX {op} (constant folding)", node.name or None, exc,
                                        file=self.file) from exc
        outs = out if isinstance(out, list) else [out]
        for name, value in zip(node.output, outs):
            self.consts[name] = np.asarray(value)

    def shape_of(self, name: str) -> tuple[int, ...]:
        return self.asm.shape(self.act(name).node)


class _Names:
    """Layer names from ONNX node names. Exporters write scopes: torch's TorchScript exporter names
    a node '/layer1/layer1.0/conv1/Conv'; the module path 'layer1.0.conv1' is kept, and a call
    made directly in a block's forward ('/layer1/layer1.0/Add') is named 'layer1.0.add'."""

    def __init__(self, nodes):
        self.nodes = nodes
        self.ids = {id(n): i for i, n in enumerate(nodes)}
        self.scopes = [scope_of(n.name) for n in nodes]
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
