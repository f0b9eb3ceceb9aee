"""PyTorch models → layer graph, by running the forward (cnnstat.importers.capture).

The importer of every ``torch.nn.Module``: ``torchvision:NAME``, ``timm:NAME``, ``file.py:Net``,
``package.module:factory`` and ``cnnstat.analyze(module)``. It replaces torch.fx symbolic
tracing: a forward that branches on shapes, loops, or calls any Python code imports, as long as it
runs in eager PyTorch.

1. **Capture.** The forward runs on meta tensors (no memory, no arithmetic; real tensors where
   it needs values), once with a batch of two and once with a batch of one. Comparing the two
   tells, for every tensor, where its batch axis is: first (a feature map, a token sequence),
   moved (attention's ``permute(2, 0, 3, 1, 4)``), folded into another axis (heads folded into
   the batch: ``(B*heads, L, d)``) or absent (computed from parameters only).
2. **Layers.** The calls are walked in order. A standard ``torch.nn`` module with a rule
   (Conv2d, BatchNorm2d, Linear...) is one layer named by its path, as the torch.fx importer
   made it (the rules are shared: fx_modules.py, fx_functions.py); any other module is followed
   into the calls its forward makes. Calls on batch-first tensors use the same rule tables; the
   others — and those the tables refuse — use the rank-generic rules of cnnstat.ops.tensor
   (attention, einsum, layout changes, element-wise functions, reductions) on per-sample
   shapes: a tensor's per-sample shape is its shape at batch 1 with a batch axis of size 1
   removed (a folded batch is part of the per-sample shape).
3. **Checks.** Every layer's shape from cnnstat's rule is checked against the shape the forward
   produced; the parameter total against the parameters the forward used (each tensor once,
   however the weight was computed from it; buffers stay buffers).

A call with no rule becomes a ``not_counted`` layer (its shape and parameters known, its work not
claimed). docs/importers.md has the table of calls and rules, docs/capture.md the mechanism.
"""

from __future__ import annotations

import importlib
import operator
import warnings
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch import nn

from ..errors import CnnstatError, DefinitionError, ShapeError, UsageError
from ..graph import Graph
from ..model_options import InputList
from .capture import Opaque, Ref, Trace, capture
from .common import check_shape, input_override, no_definition_options
from .fx_functions import FUNCTIONS, METHODS, register_torchvision_functions
from .fx_modules import MODULES, register_torchvision_modules
from .fx_values import BATCH, NoRule, P, Parts, Shuffle, T, flat_args
from .torch_layers import LayerImporter, torchvision_leaves

#: dunder methods → the operator torch.fx records for them (the rule tables are keyed by these)
_OPERATORS = {"__add__": operator.add, "__radd__": operator.add, "__iadd__": operator.iadd,
              "__mul__": operator.mul, "__rmul__": operator.mul, "__imul__": operator.imul,
              "__matmul__": operator.matmul, "__getitem__": operator.getitem,
              "__sub__": operator.sub, "__truediv__": operator.truediv}
#: the label a call's layer gets (fx's node names): ``layer1.0.add``, ``blocks.0.attn.matmul``
_LABELS = {"__add__": "add", "__radd__": "add", "__iadd__": "add", "__mul__": "mul",
           "__rmul__": "mul", "__imul__": "mul", "__matmul__": "matmul", "__rmatmul__": "matmul",
           "__getitem__": "getitem", "__sub__": "sub", "__rsub__": "sub", "__truediv__": "truediv",
           "__rtruediv__": "truediv", "__pow__": "pow", "__rpow__": "pow", "__neg__": "neg",
           "__setitem__": "setitem", "__itruediv__": "truediv", "__isub__": "sub"}

# Calls the rank-generic rules take, by short name ---------------------------------------------
#: no arithmetic: the data moved, copied or indexed
LAYOUT = {"view", "reshape", "permute", "transpose", "flatten", "unflatten", "squeeze",
          "unsqueeze", "expand", "expand_as", "__getitem__", "unbind", "split", "chunk",
          "split_with_sizes", "tensor_split", "cat", "concat", "concatenate", "stack", "roll",
          "repeat", "repeat_interleave", "tile", "narrow", "select", "flip", "movedim", "swapaxes",
          "view_as", "reshape_as", "t", "mT", "T", "pad", "pixel_shuffle", "pixel_unshuffle",
          "unfold", "index_select", "gather", "hstack", "vstack", "broadcast_to", "new_zeros",
          "zeros_like", "ones_like", "masked_select", "channel_shuffle", "native_channel_shuffle"}
#: the same values under another name or dtype: no layer
ALIAS = {"contiguous", "clone", "detach", "to", "type_as", "float", "half", "double", "long",
         "int", "bool", "requires_grad_", "cpu", "cuda"}
#: one operation per output element
POINTWISE = {"relu", "relu_", "relu6", "gelu", "silu", "silu_", "sigmoid", "sigmoid_", "tanh",
             "tanh_", "hardswish", "hardsigmoid", "mish", "elu", "leaky_relu", "hardtanh",
             "softplus", "exp", "log", "sqrt", "rsqrt", "pow", "__pow__", "__rpow__", "neg",
             "__neg__", "abs", "clamp", "clamp_", "clamp_min", "clamp_max", "clip", "sin", "cos",
             "erf", "reciprocal", "square", "sign", "floor", "round", "add", "add_", "__add__",
             "__radd__", "__iadd__", "sub", "sub_", "__sub__", "__rsub__", "__isub__", "mul",
             "mul_", "__mul__", "__rmul__", "__imul__", "div", "div_", "__truediv__",
             "__rtruediv__", "__itruediv__", "masked_fill", "masked_fill_", "where", "addcmul",
             "lerp", "maximum", "minimum", "dropout", "dropout1d", "dropout2d", "dropout3d",
             "softmax", "log_softmax", "cumsum", "fill_", "zero_", "copy_", "__setitem__",
             "threshold", "glu", "logsigmoid", "softsign", "tanhshrink", "selu", "celu",
             "hardshrink", "softshrink", "__invert__", "__and__", "__or__", "eq", "ne", "gt",
             "lt", "ge", "le", "__eq__", "__gt__", "__lt__", "__ge__", "__le__", "__ne__",
             "sigmoid_", "exp_", "mul_", "floor_divide", "remainder", "fmod", "__mod__",
             "__floordiv__", "trunc", "stochastic_depth", "drop_path"}
#: normalizations without a module rule: one operation per element, kind "norm"
NORMS = {"group_norm", "instance_norm", "normalize", "rms_norm", "local_response_norm",
         "batch_norm", "layer_norm"}
REDUCE = {"sum", "mean", "amax", "amin", "max", "min", "std", "var", "norm", "logsumexp",
          "prod", "argmax", "argmin", "var_mean", "std_mean", "adaptive_avg_pool1d",
          "adaptive_max_pool1d", "avg_pool1d", "max_pool1d", "all", "any"}
CONTRACTIONS = {"matmul", "__matmul__", "__rmatmul__", "bmm", "mm", "baddbmm", "einsum"}


def load(reference: str, *, input_shape=None, overrides=None, variant=None, args=None,
         **options: Any) -> Graph:
    no_definition_options("an imported PyTorch model", overrides, variant)
    if options:
        raise UsageError(f"unknown option(s) for a PyTorch model: {', '.join(options)}")
    from .torch_models import resolve
    resolved = resolve(reference, dict(args or {}))
    if isinstance(input_shape, InputList):      # several --input: the forward's inputs as given
        return from_module(resolved.module, input_shape, name=resolved.label,
                           title=resolved.title, notes=resolved.notes, reference=reference)
    shape = input_override(resolved.input_shape, input_shape, resolved.label)
    if not all(shape):
        raise UsageError(needs_input(reference, resolved.module, shape))
    return from_module(resolved.module, shape, name=resolved.label, title=resolved.title,
                       notes=resolved.notes, reference=reference)


def needs_input(reference: str, module: nn.Module, shape: tuple[int, ...]) -> str:
    """The message for a 1-D or 3-D model imported without --input (it has no default size)."""
    from .torch_models import first_layer
    rank, channels, layer = first_layer(module)
    c = channels or shape[0]
    example = f"{c}x16000" if rank == 1 else f"{c}x16x112x112"
    letters = "C×L" if rank == 1 else "C×D×H×W"
    return (f"{reference} is a {rank}-D model (its first layer {layer} takes {letters} input): "
            f"give its input size, e.g. --input {example}")


# -- inputs ---------------------------------------------------------------------------------------
@dataclass
class _Input:
    """One input of the forward: a per-sample shape and dtype, or the user's tensor."""
    keyword: str | None
    shape: tuple[int, ...]
    dtype: Any = None
    tensor: Any = None

    def batch(self, n: int):
        if self.tensor is not None:
            one = self.tensor[:1]
            return one.expand(n, *one.shape[1:]) if n > 1 else one
        return torch.zeros((n,) + self.shape, dtype=self.dtype or torch.float32)


def _is_shape(obj: Any) -> bool:
    return isinstance(obj, (tuple, list)) and len(obj) > 0 and all(
        isinstance(d, int) and not isinstance(d, bool) for d in obj)


def inputs_of(inputs: Any) -> list[_Input]:
    """The forward's inputs from: a per-sample shape ``(C, H, W)`` (no batch), a tensor (its
    first axis the batch), a tuple or list of tensors or per-sample shapes (several positional
    inputs), or a dict of keyword tensors or shapes — torchinfo's ``input_data`` forms."""
    def one(value: Any, keyword: str | None) -> _Input:
        if isinstance(value, torch.Tensor):
            if value.dim() == 0:
                raise UsageError("an input tensor needs a batch axis (it is a scalar)")
            return _Input(keyword, tuple(value.shape[1:]), value.dtype, value)
        if _is_shape(value):
            if any(d <= 0 for d in value):
                raise UsageError(f"an input shape needs positive sizes, got {tuple(value)}")
            return _Input(keyword, tuple(int(d) for d in value))
        raise UsageError(f"an input must be a tensor or a shape, not {type(value).__name__}")

    if isinstance(inputs, InputList):           # several --input: [NAME=]SIZE[:DTYPE] each
        return [_Input(keyword, shape, getattr(torch, dtype) if dtype else None)
                for keyword, shape, dtype in inputs.items]
    if isinstance(inputs, dict):
        if not inputs:
            raise UsageError("no inputs given")
        return [one(v, str(k)) for k, v in inputs.items()]
    if isinstance(inputs, torch.Tensor) or _is_shape(inputs):
        return [one(inputs, None)]
    if isinstance(inputs, (tuple, list)) and inputs:
        return [one(v, None) for v in inputs]
    raise UsageError(f"inputs must be a shape, a tensor, a tuple of tensors or a dict of "
                     f"keyword tensors, not {type(inputs).__name__}")


def _batched(specs: list[_Input], n: int) -> Any:
    if all(s.keyword is not None for s in specs):
        return {s.keyword: s.batch(n) for s in specs}
    return tuple(s.batch(n) for s in specs)


# -- the trace, twice ----------------------------------------------------------------------------
@dataclass
class _Layout:
    """Where a value's batch axis is: 'lead' (axis 0), 'moved' (axis ``axis``, size 1 at batch
    1), 'folded' (multiplied into axis ``axis``), 'none' (no batch: computed from constants) or
    'unknown'. ``per``: the per-sample shape (without the batch)."""
    kind: str
    axis: int | None
    per: tuple[int, ...]

    def dim(self, d: int, rank: int) -> int:
        """torch's axis ``d`` of this value → the axis of its graph shape (batch of 1 first)."""
        d = d % rank if rank else 0
        if self.kind == "lead":
            return d
        if self.kind == "moved":
            if d == self.axis:
                raise NoRule()
            return d + 1 if d < self.axis else d
        return d + 1


def _layout(s1: tuple[int, ...], s2: tuple[int, ...]) -> _Layout:
    if len(s1) != len(s2):
        return _Layout("unknown", None, s1)
    diff = [i for i, (a, b) in enumerate(zip(s1, s2)) if a != b]
    if not diff:
        return _Layout("none", None, s1)
    if len(diff) == 1 and s2[diff[0]] == 2 * s1[diff[0]]:
        i = diff[0]
        if s1[i] == 1:
            return _Layout("lead" if i == 0 else "moved", i, s1[:i] + s1[i + 1:])
        return _Layout("folded", i, s1)
    return _Layout("unknown", None, s1)


def _layouts(two: Trace, one: Trace) -> dict[int, _Layout] | None:
    """Each value of the batch-2 trace → its layout, from the batch-1 trace of the same forward
    (None when the two forwards made different calls)."""
    if len(two.ops) != len(one.ops) or any(a.op != b.op or len(a.outputs) != len(b.outputs)
                                           for a, b in zip(two.ops, one.ops)):
        return None
    out: dict[int, _Layout] = {}
    for a, b in zip(two.ops, one.ops):
        for va, vb in zip(a.outputs, b.outputs):
            out[va] = _layout(one.values[vb].shape, two.values[va].shape)
    for a, b in zip(two.inputs, one.inputs):
        if a.value is not None and b.value is not None:
            out[a.value] = _layout(one.values[b.value].shape, two.values[a.value].shape)
    return out


# -- the fake fx node the shared rules read -------------------------------------------------------
@dataclass
class _Call:
    """What the fx rule tables read of a call: ``op`` (call_module / call_function /
    call_method), ``target`` (module path / function / method name), ``name`` (the label)."""
    op: str
    target: Any
    name: str
    scope: str
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    out: Any = None
    record: Any = None
    meta: dict = field(default_factory=dict)
    fixed: str | None = None        # the layer's name: the module path of a one-call module


def _resolve(public: str) -> tuple[str, Any]:
    """A recorded call's public name → (fx op kind, target): a Tensor method by name (dunder
    operators as fx's ``operator`` functions), a function as the object."""
    if public.startswith("torch.Tensor."):
        method = public.rsplit(".", 1)[1]
        if method in _OPERATORS:
            return "call_function", _OPERATORS[method]
        return "call_method", method
    module, _, attr = public.rpartition(".")
    try:
        return "call_function", getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError, ValueError):
        return "call_function", None


def _short(public: str) -> str:
    return public.rsplit(".", 1)[-1]


def _label(public: str) -> str:
    short = _short(public)
    if short in _LABELS:
        return _LABELS[short]
    return short[:-1] if short.endswith("_") and not short.startswith("_") else short


# -- the importer ----------------------------------------------------------------------------------
class _CaptureImporter(LayerImporter):
    """Layers from a capture: the shared rule tables for standard modules and batch-first calls,
    the rank-generic rules for the rest (``add`` and ``check_parameters`` from LayerImporter)."""

    def __init__(self, module: nn.Module, two: Trace, layouts: dict[int, _Layout] | None,
                 one: Trace, label: str, reference: str):
        from .common import Assembler
        self.module = module
        self.trace = two
        self.one = one
        self.layouts = layouts or {}
        self.reference = reference
        self.asm = Assembler(label)
        self.env: dict[int, Any] = {}
        self.modules = dict(module.named_modules(remove_duplicate=False))
        self.owner: dict[int, str] = {}
        self.module_layer: dict[str, str] = {}
        self.outputs: list[str] = []
        self.current = None
        self.param_only: list[str] = []
        self.meta_cache: dict[int, Any] = {}
        register_torchvision_functions()           # where the model imported torchvision
        register_torchvision_modules()
        self.leaves = torchvision_leaves()
        self.asm.groups.update({path: type(m).__name__ for path, m in module.named_modules()
                                if path and any(True for _ in m.children())})
        self.not_spatial = 0

    # values --------------------------------------------------------------------------------------
    def meta(self, vid: int):
        tensor = self.meta_cache.get(vid)
        if tensor is None:
            v = self.trace.values[vid]
            tensor = torch.empty(v.shape, dtype=getattr(torch, v.dtype, torch.float32),
                                 device="meta")
            self.meta_cache[vid] = tensor
        return tensor

    def layout(self, vid: int) -> _Layout:
        found = self.layouts.get(vid)
        if found is not None:
            return found
        shape = self.trace.values[vid].shape
        if shape and shape[0] == BATCH:                 # the two traces differ: assume batch-first
            return _Layout("lead", 0, shape[1:])
        return _Layout("unknown", None, shape)

    def value(self, vid: int) -> Any:
        """The importer value of a traced tensor: an activation (T), or a constant (P)."""
        if vid in self.env:
            return self.env[vid]
        v = self.trace.values[vid]
        if v.source in ("parameter", "buffer"):
            tensor = self.state[v.name]
            p = P((v.name,), (tensor,), self.meta(vid))
        else:
            p = P((), (), self.meta(vid))
        self.env[vid] = p
        return p

    def arg(self, a: Any) -> Any:
        if isinstance(a, Ref):
            return self.value(a.value)
        if isinstance(a, Opaque):
            return a
        if isinstance(a, list):
            return [self.arg(x) for x in a]
        if isinstance(a, tuple):
            return tuple(self.arg(x) for x in a)
        if isinstance(a, dict):
            return {k: self.arg(v) for k, v in a.items()}
        if isinstance(a, slice):
            return slice(self.arg(a.start), self.arg(a.stop), self.arg(a.step))
        return a

    def structure(self, s: Any) -> Any:
        """A recorded output structure with meta tensors of the batch-2 shapes."""
        if isinstance(s, Ref):
            return self.meta(s.value)
        if isinstance(s, list):
            return [self.structure(x) for x in s]
        if isinstance(s, tuple):
            return tuple(self.structure(x) for x in s)
        if isinstance(s, dict):
            return {k: self.structure(v) for k, v in s.items()}
        return s

    def concrete(self, node: _Call) -> Any:
        return node.out

    def _scope(self, node: _Call) -> str:
        return node.scope

    def name_for(self, node: _Call, label: str | None = None) -> str:
        if node.op == "call_module":
            return str(node.target)
        if node.fixed and label is None:
            return node.fixed
        base = label or node.name
        return f"{node.scope}.{base}" if node.scope else base

    # driver --------------------------------------------------------------------------------------
    def run(self) -> None:
        tr = self.trace
        self.state = {**dict(self.module.named_parameters(remove_duplicate=False)),
                      **dict(self.module.named_buffers(remove_duplicate=False))}
        self.arguments: dict[str, str] = {}
        for i, record in enumerate(tr.inputs):
            if record.value is None:
                continue
            lay = self.layout(record.value)
            shape = lay.per
            if i == 0:
                name = "input"
            else:
                name = f"input.{record.name}"
            node = self.asm_input(shape, name)
            self.arguments[node] = record.name        # the forward's parameter name
            self.env[record.value] = T(node)
        self.children: dict[int, list] = {}
        for call in tr.calls:
            if call.parent is not None:
                self.children.setdefault(call.parent, []).append(call)
        if tr.calls:
            self.visit(tr.calls[0])
        self._outputs(tr.output)
        if not self.outputs:
            raise DefinitionError(f"{self.reference} returns no tensor")
        if self.param_only:
            shown = ", ".join(self.param_only[:3])
            more = f" and {len(self.param_only) - 3} more" if len(self.param_only) > 3 else ""
            self.asm.warnings.append(
                f"{len(self.param_only)} module call(s) run on parameters only, not on the input "
                f"({shown}{more}): their work is not counted (their parameters are, at the layer "
                "that uses the result)")

    def asm_input(self, shape: tuple[int, ...], name: str) -> str:
        """A graph input of any rank (the assembler's own ``input`` wants an image)."""
        from ..graph import Node
        if not shape or any(d <= 0 for d in shape):
            raise DefinitionError(f"an input of shape {shape} (per sample) cannot be analyzed")
        if 2 <= len(shape) <= 4:                       # a feature map of 1, 2 or 3 axes
            return self.asm.input(shape, name)
        name = self.asm.unique(name)
        self.asm.nodes.append(Node(name, "input", (), {"shape": tuple(shape)}))
        self.asm.shapes[name] = (1,) + tuple(shape)
        return name

    def _outputs(self, structure: Any) -> None:
        found: list[str] = []

        def walk(x: Any) -> None:
            if isinstance(x, Ref):
                v = self.env.get(x.value)
                if isinstance(v, T):
                    found.append(v.node)
            elif isinstance(x, (list, tuple)):
                for y in x:
                    walk(y)
            elif isinstance(x, dict):
                for y in x.values():
                    walk(y)
        walk(structure)
        self.outputs = found

    def visit(self, call) -> None:
        """The calls made while ``call`` ran, in order: its own records, and its sub-modules
        (each one layer when a module rule takes it, else followed inside)."""
        ops = self.trace.ops
        kids = sorted(self.children.get(call.index, []), key=lambda c: (c.first_op, c.index))
        k = 0
        i = call.first_op
        while i < call.end_op or k < len(kids):
            if k < len(kids) and (kids[k].first_op <= i or i >= call.end_op):
                child = kids[k]
                k += 1
                if not self.leaf(child):
                    self.visit(child)
                i = max(i, child.end_op)
                continue
            record = ops[i]
            i += 1
            if record.call == call.index:
                self.current = record
                try:
                    self.record(record)
                except CnnstatError as exc:
                    raise exc.located(layer=record.module or None) from None

    # module calls --------------------------------------------------------------------------------
    def leaf(self, call) -> bool:
        """Import a module call as one layer by its module rule; False to follow it inside."""
        module = self.modules.get(call.path)
        if module is None or not call.inputs:
            return False
        cls = type(module)
        if not (cls.__module__.startswith("torch.nn.") or isinstance(module, self.leaves)):
            return False
        handler = next((h for c, h in MODULES.items() if isinstance(module, c)), None)
        if handler is None:
            return False
        args = [self.value(v) for v in call.inputs]
        if not all(isinstance(a, T) for a in args) or any(
                self.layout(v).kind != "lead" for v in call.inputs + call.outputs) \
                or len(call.outputs) != 1:
            return False
        node = _Call("call_module", call.path, call.path, call.path.rpartition(".")[0],
                     tuple(args), out=self.meta(call.outputs[0]))
        mark = self.mark()
        try:
            result = handler(self, node, module, args, {}, node.out)
        except (NoRule, CnnstatError):
            self.rollback(mark)
            return False
        if not isinstance(result, T):
            self.rollback(mark)
            return False
        self.env[call.outputs[0]] = result
        return True

    def mark(self) -> tuple[int, int]:
        """Where the graph stands, to undo a rule that gave up half-way."""
        return len(self.asm.nodes), len(self.owner)

    def rollback(self, mark: tuple[int, int]) -> None:
        count, owned = mark
        for node in self.asm.nodes[count:]:
            self.asm.shapes.pop(node.name, None)
            self.asm.evals.pop(node.name, None)
            self.asm._taken.discard(node.name)
        del self.asm.nodes[count:]
        for key in list(self.owner)[owned:]:          # added since: insertion order
            del self.owner[key]

    # function calls ------------------------------------------------------------------------------
    def record(self, record) -> None:
        args = self.arg(record.args)
        kwargs = self.arg(record.kwargs)
        flat = flat_args(args, kwargs)
        tensors = [v for v in flat if isinstance(v, (T, Shuffle, Parts))]
        outs = list(record.outputs)
        if not outs:
            return
        if not tensors:
            # computed from parameters and constants only: not an activation
            params = [v for v in flat if isinstance(v, P)]
            names = tuple(dict.fromkeys(n for p in params for n in p.names))
            held = tuple({id(t): t for p in params for t in p.tensors}.values())
            for vid in outs:
                self.env[vid] = P(names, held, self.meta(vid))
            if names:
                self.parameter_work(record)
            return
        op, target = _resolve(record.op)
        short = _short(record.op)
        node = _Call(op, target, _label(record.op), record.module, tuple(args), kwargs,
                     self.structure(record.output), record)
        call = self.trace.calls[record.call] if record.call >= 0 else None
        if call is not None and call.path and call.end_op - call.first_op == 1 and \
                not self.children.get(call.index) and call.path in self.modules:
            node.fixed = call.path         # a module whose forward is this one call: its name
        lead = all(self.layout(v).kind == "lead" for v in record.inputs
                   if isinstance(self.env.get(v), T)) and \
            all(self.layout(v).kind == "lead" for v in outs)
        handler = None
        if target is not None and op == "call_function":
            handler = FUNCTIONS.get(target)
        elif op == "call_method":
            handler = METHODS.get(target)
        if lead and handler is not None:
            mark = self.mark()
            try:
                result = handler(self, node, list(args), dict(kwargs), node.out)
                self.bind(record, result)
                return
            except NoRule:
                self.rollback(mark)
            except CnnstatError:
                self.rollback(mark)
        for vid in record.inputs:
            if isinstance(self.env.get(vid), Shuffle):
                self.pending(vid)
        self.generic(record, node, short, args, kwargs)

    def pending(self, vid: int) -> None:
        """A value the shared rules held back as the start of a pattern (a view of a feature map
        into groups, for a channel shuffle) read by a call that does not complete it: a layout
        layer from the pattern's source to the shape the forward made."""
        source = self.env[vid].src
        layer = self.asm.add("layout", [source.node], {"what": "torch.Tensor.view",
                                                        "shape": list(self.layout(vid).per),
                                                        "fn": "view", "view": True},
                             name=f"{source.node}.view")
        self.env[vid] = T(layer)

    def parameter_work(self, record) -> None:
        """A contraction on parameters only (Swin V2's relative-position MLP): its work, done
        once per forward, as a layer of its own."""
        short = _short(record.op)
        # at batch 1: a constant built with the batch's size (EdgeNeXt's positional encoding
        # makes a B x H x W grid) is per-sample work
        trace = self.one if self.layouts else self.trace
        same = trace.ops[record.index]
        shapes = [trace.values[v].shape for v in same.inputs]
        if len(record.outputs) != 1 or not shapes:
            return
        out = trace.values[same.outputs[0]].shape
        elements = 1
        for d in out:
            elements *= d
        if short in ("linear", "conv1d", "conv2d", "conv3d") and len(shapes) >= 2 and shapes[1]:
            weight = shapes[1]
            per = 1
            for d in weight[1:]:
                per *= d
            macs, kind = elements * per, "weight"
        elif short in ("matmul", "__matmul__", "bmm", "mm") and len(shapes) == 2 \
                and shapes[0]:
            macs, kind = elements * shapes[0][-1], "attention"
        else:
            return
        node = _Call("call_function", None, _label(record.op), record.module)
        inputs = [n.name for n in self.asm.nodes if n.op == "input"][:1]
        self.asm.add("parameter_work", inputs, {"what": _what(record), "shape": list(out),
                                                "macs": macs, "kind": kind},
                     name=self.name_for(node))

    def bind(self, record, result: Any) -> None:
        """Bind a rule's result to the record's output values."""
        outs = record.outputs
        if isinstance(result, T) or isinstance(result, (Shuffle,)):
            if len(outs) == 1:
                self.env[outs[0]] = result
                return
        if isinstance(result, Parts) and len(outs) == result.count:
            for i, vid in enumerate(outs):
                self.env[vid] = result.get(i)
            return
        if isinstance(result, (tuple, list)) and len(result) == len(outs):
            for vid, r in zip(outs, result):
                self.env[vid] = r
            return
        raise NoRule()

    # the rank-generic rules ----------------------------------------------------------------------
    def graph_shape(self, vid: int) -> tuple[int, ...]:
        return (1,) + tuple(self.layout(vid).per)

    def generic(self, record, node: _Call, short: str, args, kwargs) -> None:
        outs = list(record.outputs)
        ins = [v for v in record.inputs if isinstance(self.env.get(v), T)]
        consts = [self.env[v] for v in record.inputs if isinstance(self.env.get(v), P)]
        for v in ins:
            if self.env[v].nhwc:
                self.channels_last(v)
        if any(self.layout(v).kind in ("unknown", "none") for v in outs):
            return self.not_counted(record, node)
        try:
            if short in ALIAS and len(ins) == 1 and len(outs) == 1 and \
                    self.graph_shape(outs[0]) == self.asm.shape(self.env[ins[0]].node):
                self.env[outs[0]] = self.env[ins[0]]
                return
            if short == "scaled_dot_product_attention":
                return self.attention(record, node)
            if short == "multi_head_attention_forward":
                return self.multihead(record, node)
            if short in CONTRACTIONS:
                return self.contraction(record, node, short, ins, consts)
            if short == "linear":
                return self.linear(record, node)
            if short == "conv2d":
                return self.conv_images(record, node)
            if short in LAYOUT or (short in ALIAS and len(ins) == 1):
                return self.layout_layer(record, node, ins, consts)
            if short in NORMS or short in POINTWISE:
                return self.pointwise(record, node, short, ins, consts)
            if short in REDUCE:
                fn = f"{short}_dim" if short in ("max", "min") and len(outs) == 2 else short
                return self.single(record, node, "reduction", ins, what=_what(record),
                                   shape=list(self.layout(outs[0]).per), fn=fn)
        except (NoRule, ShapeError):
            pass
        return self.not_counted(record, node)

    def channels_last(self, vid: int) -> None:
        """A value the shared rules keep as N x C x H x W inside a channels-last region, read by
        a rank-generic rule: a layout layer gives it torch's own N x H x W x C order."""
        source = self.env[vid]
        key = ("nhwc", source.node)
        made = self.meta_cache.get(key)
        if made is None:
            layer = self.asm.add("layout", [source.node],
                                 {"what": "channels-last (the model's layout)",
                                  "shape": list(self.layout(vid).per),
                                  "fn": "channels_last", "view": True},
                                 name=f"{source.node}.channels_last")
            made = self.meta_cache[key] = T(layer)
        self.env[vid] = made

    def held(self, consts: list[P]) -> tuple[tuple, int, int]:
        """The tensors of constant operands not yet counted: (tensors, parameters, buffers)."""
        fresh = {id(t): t for p in consts for t in p.tensors if id(t) not in self.owner}
        for name in [n for p in consts for n in p.names if n.endswith(".running_mean")]:
            # F.batch_norm reads the running statistics, not the module's step counter
            counter = self.state.get(name[:-len("running_mean")] + "num_batches_tracked")
            if counter is not None and id(counter) not in self.owner:
                fresh[id(counter)] = counter
        params = sum(t.numel() for t in fresh.values() if isinstance(t, nn.Parameter))
        buffers = sum(t.numel() for t in fresh.values() if not isinstance(t, nn.Parameter))
        return tuple(fresh.values()), params, buffers

    def single(self, record, node: _Call, op: str, inputs: list[int], *,
               name: str | None = None, value: int | None = None, tensors: tuple = (),
               **attrs: Any) -> T:
        """One layer of a rank-generic rule, checked against the forward's per-sample shape."""
        out = record.outputs[0] if value is None else value
        layer = self.asm.add(op, [self.env[v].node for v in inputs], attrs,
                             name=name or self.name_for(node))
        expected = self.graph_shape(out)
        if tuple(self.asm.shape(layer)) != expected:
            self.asm.nodes.pop()
            raise ShapeError(f"{op}: cnnstat's rule gives {self.asm.shapes.pop(layer)}, the "
                             f"forward {expected}")
        for t in tensors:
            self.owner.setdefault(id(t), layer)
        result = T(layer)
        self.env[out] = result
        return result

    @staticmethod
    def bound(record, names: list[str], defaults: dict) -> dict:
        """A call's arguments by name, tensors as Ref (a Python function's are bound by the
        capture; a builtin's are positional in its schema order, or keywords)."""
        if record.bound is not None:
            return {**defaults, **record.bound}
        found = dict(defaults)
        found.update(zip(names, record.args))
        found.update(record.kwargs)
        return found

    def is_activation(self, x: Any) -> bool:
        return isinstance(x, Ref) and isinstance(self.env.get(x.value), T)

    def attention(self, record, node: _Call) -> None:
        a = self.bound(record, ["query", "key", "value", "attn_mask", "dropout_p", "is_causal"],
                       {"attn_mask": None, "is_causal": False})
        q, k, v, mask = a["query"], a["key"], a["value"], a.get("attn_mask")
        if not all(self.is_activation(t) for t in (q, k, v)) or a.get("enable_gqa"):
            raise NoRule()
        masked = self.is_activation(mask)
        inputs = [q.value, k.value, v.value] + ([mask.value] if masked else [])
        # a mask computed from parameters (a relative position bias) holds them
        tensors, params, buffers = self.held([self.value(mask.value)]) \
            if isinstance(mask, Ref) and not masked else ((), 0, 0)
        self.single(record, node, "attention", inputs, tensors=tensors,
                    causal=bool(a.get("is_causal")), masked=masked, params=params,
                    buffers=buffers, constant_mask=isinstance(mask, Ref) and not masked)

    def multihead(self, record, node: _Call) -> None:
        a = self.bound(record, [], {})
        q, k, v = a.get("query"), a.get("key"), a.get("value")
        if a.get("bias_k") is not None or a.get("add_zero_attn") or \
                not all(self.is_activation(t) for t in (q, k, v)):
            raise NoRule()
        weights = [a.get(n) for n in ("in_proj_weight", "in_proj_bias", "q_proj_weight",
                                      "k_proj_weight", "v_proj_weight", "out_proj_weight",
                                      "out_proj_bias")]
        consts = [self.value(w.value) for w in weights if isinstance(w, Ref)]
        tensors, params, _ = self.held(consts)
        layer = self.single(record, node, "multihead_attention", [q.value, k.value, v.value],
                            name=record.module or self.name_for(node), tensors=tensors,
                            embed=int(a["embed_dim_to_check"]),
                            heads=int(a["num_heads"]), bias=a.get("in_proj_bias") is not None)
        if self.asm.evals[layer.node].params != params:
            raise ShapeError(f"multihead_attention counts {self.asm.evals[layer.node].params:,} "
                             f"parameters, the module holds {params:,}")
        for vid in record.outputs[1:]:
            self.env[vid] = P((), (), self.meta(vid))        # the attention weights

    def contraction(self, record, node: _Call, short: str, ins: list[int], consts: list[P]):
        if short == "einsum":
            return self.einsum(record, node, ins)
        operands = [x for x in flat_args(record.args, record.kwargs) if isinstance(x, Ref)]
        if short == "baddbmm" or len(operands) != 2:
            raise NoRule()
        x, y = operands
        if short == "__rmatmul__":
            x, y = y, x
        if self.is_activation(x) and self.is_activation(y):
            return self.single(record, node, "matmul", [x.value, y.value])
        w = self.value(y.value)
        if self.is_activation(x) and isinstance(w, P) and w.value.dim() == 2:
            # an activation times a weight matrix: a linear layer without bias
            tensors, params, buffers = self.held([w])
            extra = {} if params == w.value.numel() and not buffers else \
                {"held": [params, buffers]}
            return self.single(record, node, "linear", [x.value], tensors=tensors,
                               out=int(w.value.shape[1]), bias=False, **extra)
        raise NoRule()

    def linear(self, record, node: _Call) -> None:
        """``F.linear`` on a tensor of any layout (the last axis is never the batch)."""
        a = self.bound(record, ["input", "weight", "bias"], {"bias": None})
        x, w, b = a["input"], a["weight"], a.get("bias")
        if not self.is_activation(x) or not isinstance(w, Ref) or self.is_activation(w) or \
                self.is_activation(b):
            raise NoRule()
        weight = self.value(w.value)
        consts = [weight] + ([self.value(b.value)] if isinstance(b, Ref) else [])
        tensors, params, buffers = self.held(consts)
        out, n_in = weight.value.shape
        formula = out * n_in + (out if b is not None else 0)
        extra = {} if (params, buffers) == (formula, 0) else {"held": [params, buffers]}
        self.single(record, node, "linear", [x.value], tensors=tensors, out=int(out),
                    bias=b is not None, **extra)

    def conv_images(self, record, node: _Call) -> None:
        """``F.conv2d`` on windows or patches folded into the batch (B*windows x C x H x W)."""
        a = self.bound(record, ["input", "weight", "bias", "stride", "padding", "dilation",
                                "groups"], {"bias": None, "stride": 1, "padding": 0,
                                            "dilation": 1, "groups": 1})
        x, w, b = a["input"], a["weight"], a.get("bias")
        if not self.is_activation(x) or not isinstance(w, Ref) or self.is_activation(w) or \
                self.is_activation(b) or self.layout(x.value).kind != "folded" or \
                self.layout(x.value).axis != 0 or len(self.trace.values[x.value].shape) != 4:
            raise NoRule()
        weight = self.value(w.value)
        consts = [weight] + ([self.value(b.value)] if isinstance(b, Ref) else [])
        tensors, params, buffers = self.held(consts)
        shape = tuple(weight.value.shape)
        formula = weight.value.numel() + (shape[0] if b is not None else 0)
        extra = {} if (params, buffers) == (formula, 0) else {"held": [params, buffers]}
        padding = a["padding"] if isinstance(a["padding"], str) else _ints(a["padding"])
        self.single(record, node, "conv2d_images", [x.value], tensors=tensors,
                    name=_layer_name(weight) or self.name_for(node),
                    out=shape[0], kernel=list(shape[2:]), stride=_ints(a["stride"]),
                    padding=padding, dilation=_ints(a["dilation"]), groups=int(a["groups"]),
                    bias=b is not None, **extra)

    def einsum(self, record, node: _Call, ins: list[int]) -> None:
        args = list(record.args)
        equation = args[0] if args and isinstance(args[0], str) else None
        operands = args[1:]
        if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
            operands = list(operands[0])
        if equation is None or "..." in equation or "->" not in equation or \
                not all(isinstance(o, Ref) for o in operands) or len(record.outputs) != 1:
            raise NoRule()
        terms, result = equation.replace(" ", "").split("->")
        terms = terms.split(",")
        refs = [o.value for o in operands]
        active = [(t, r) for t, r in zip(terms, refs) if isinstance(self.env.get(r), T)]
        constant = [(t, r) for t, r in zip(terms, refs) if not isinstance(self.env.get(r), T)]
        if not active:
            raise NoRule()
        fresh = next(c for c in "ZYXWVUTSRQ" if c not in equation and c.lower() not in equation)
        new_terms = [self._einsum_term(t, self.layout(r)).replace("@", fresh) for t, r in active]
        new_terms += [t for t, _ in constant]                # constants keep their own shapes
        new_result = self._einsum_term(result, self.layout(record.outputs[0])).replace("@", fresh)
        consts = [self.value(r) for _, r in constant]
        tensors, params, buffers = self.held(consts)
        self.single(record, node, "einsum", [r for _, r in active], tensors=tensors,
                    equation=f"{','.join(new_terms)}->{new_result}",
                    constants=[list(p.value.shape) for p in consts], params=params,
                    buffers=buffers)

    @staticmethod
    def _einsum_term(term: str, lay: _Layout) -> str:
        if lay.kind == "lead":
            return term
        if lay.kind == "moved":
            return "@" + term[:lay.axis] + term[lay.axis + 1:]
        return "@" + term

    def layout_layer(self, record, node: _Call, ins: list[int], consts: list[P]) -> None:
        what = _what(record)
        base = self.name_for(node)
        outs = list(record.outputs)
        tensors, params, buffers = self.held(consts)    # a class token concatenated...
        fn = _short(record.op)
        if fn == "__getitem__" and len(record.inputs) > 1:
            fn = "index"                                 # by a tensor: saves the indices
        elif fn == "pad" and (record.bound or {}).get("mode", "constant") != "constant":
            fn = f"pad_{record.bound['mode']}"          # reflect/replicate: saves the input
        shares = record.shares or (False,) * len(outs)
        for j, vid in enumerate(outs):
            self.single(record, node, "layout", ins, value=vid, tensors=tensors if j == 0 else (),
                        name=base if len(outs) == 1 else f"{base}.{j}",
                        what=what, shape=list(self.layout(vid).per),
                        params=params if j == 0 else 0, buffers=buffers if j == 0 else 0,
                        fn=fn, view=bool(ins) and ins[0] == record.inputs[0] and shares[j])

    def pointwise(self, record, node: _Call, short: str, ins: list[int], consts: list[P]):
        if len(record.outputs) != 1:
            raise NoRule()
        out = record.outputs[0]
        if short in ("softmax", "log_softmax") and len(ins) == 1:
            a = self.bound(record, ["input", "dim"], {"dim": None})
            if a.get("dim") is not None:
                rank = len(self.trace.values[ins[0]].shape)
                dim = self.layout(ins[0]).dim(int(a["dim"]), rank)
                return self.single(record, node, short, ins, dim=dim)
        tensors, params, buffers = self.held(consts)
        others = [p.value for p in consts if p.value.dim() > 0]
        kind = "norm" if short in NORMS else ("elementwise" if consts or len(ins) > 1
                                              else "activation")
        if short in ("dropout", "dropout1d", "dropout2d", "dropout3d", "stochastic_depth",
                     "drop_path", "__setitem__", "copy_", "fill_", "zero_"):
            kind = "activation"
        attrs: dict[str, Any] = {"what": _what(record), "kind": kind, "params": params,
                                 "buffers": buffers, "fn": short,
                                 "view": bool(record.shares and record.shares[0]
                                              and record.inputs[0] == ins[0]),
                                 "operand": self.operand(record)}
        if short in ("dropout", "dropout1d", "dropout2d", "dropout3d") and \
                (record.bound or {}).get("p") != 0:
            attrs["fn"] = f"{short}(p>0)"      # its training mask, unseen in eval: no rule
        if short == "batch_norm" and len(self.trace.values[ins[0]].shape) >= 2:
            attrs["channels"] = self.trace.values[ins[0]].shape[1]       # torch's dim 1
        expected = self.graph_shape(out)
        other: tuple = ()
        if others and kind != "norm" and self.layout(ins[0]).kind == "lead":
            other = max((tuple(o.shape) for o in others), key=len)
            other = other[1:] if len(other) == len(expected) else other
        try:
            return self.single(record, node, "pointwise", ins, tensors=tensors,
                               other=list(other), **attrs)
        except ShapeError:
            if not other:
                raise
            return self.single(record, node, "pointwise", ins, tensors=tensors, **attrs)

    def operand(self, record) -> str:
        """What a call's constant tensor operand is, for the memory rules: '' (none: numbers
        only), 'parameter', 'buffer', 'computed' (from parameters: it needs a gradient),
        'constant' (no gradient, not a buffer: a tensor made by the forward) or 'several'."""
        consts = [v for v in record.inputs if isinstance(self.env.get(v), P)]
        if not consts:
            return ""
        if len(consts) > 1:
            return "several"
        value = self.trace.values[consts[0]]
        if value.source in ("parameter", "buffer"):
            return value.source
        names = self.env[consts[0]].names
        if any(isinstance(self.state.get(n), nn.Parameter) for n in names):
            return "computed"
        return "constant"

    def not_counted(self, record, node: _Call) -> None:
        """A call without a rule: a not_counted layer with the forward's per-sample shape."""
        ins = [v for v in record.inputs if isinstance(self.env.get(v), T)]
        consts = [self.env[v] for v in record.inputs if isinstance(self.env.get(v), P)]
        tensors, params, buffers = self.held(consts)
        base = self.name_for(node)
        outs = list(record.outputs)
        for j, vid in enumerate(outs):
            lay = self.layout(vid)
            if lay.kind == "none":
                self.env[vid] = P((), (), self.meta(vid))
                continue
            layer = self.asm.not_counted(
                _what(record), [self.env[v].node for v in ins], list(lay.per) or [1],
                name=base if len(outs) == 1 else f"{base}.{j}",
                params=params if j == 0 else 0, buffers=buffers if j == 0 else 0)
            if j == 0:
                for t in tensors:
                    self.owner.setdefault(id(t), layer)
            self.env[vid] = T(layer)

    # checks --------------------------------------------------------------------------------------
    def check_parameters(self) -> None:
        super().check_parameters()
        read = {v for r in self.trace.ops for v in r.inputs}
        # a batch norm's step counter is not an argument of F.batch_norm: its rule counts it
        unread = [t for t in self.trace.tensors if t.kind == "buffer" and t.value not in read
                  and not t.name.endswith("num_batches_tracked")]
        if unread:
            shown = ", ".join(t.name for t in unread[:3])
            more = f" and {len(unread) - 3} more" if len(unread) > 3 else ""
            self.asm.warnings.append(
                f"{sum(t.numel for t in unread):,} buffer values are never read by the forward "
                f"({shown}{more}: a cache it replaces, a table used at construction) and are "
                "not counted")

    def check(self, node: _Call, layer: str, nhwc: bool, value: Any = None) -> None:
        out = node.out if value is None else value
        if not isinstance(out, torch.Tensor):
            return
        shape = tuple(out.shape)
        if nhwc:
            shape = (shape[0], shape[3], shape[1], shape[2])
        what = _what(node.record) if node.record else node.target
        check_shape(self.asm, layer, shape, "torch", of=f"this layer ({what})", batch=BATCH)

    def add(self, node, op, inputs, nhwc=False, *, name=None, module=None, params=(),
            value=None, **kwargs):
        """The shared rules' ``add``; a functional layer whose weight is computed from other
        tensors or is a buffer holds what the model holds (``held``)."""
        if module is None and params and op in ("conv1d", "conv2d", "conv3d", "linear"):
            fresh = {id(t): t for t in params if id(t) not in self.owner}
            n_params = sum(t.numel() for t in fresh.values() if isinstance(t, nn.Parameter))
            n_buffers = sum(t.numel() for t in fresh.values()
                            if not isinstance(t, nn.Parameter))
            result = super().add(node, op, inputs, nhwc, name=name, params=params, value=value,
                                 **kwargs)
            ev = self.asm.evals[result.node]
            if (ev.params, ev.buffers) != (n_params, n_buffers) and \
                    self.asm.nodes[-1].shares is None:
                last = self.asm.nodes.pop()
                self.asm._taken.discard(last.name)
                del self.asm.shapes[last.name], self.asm.evals[last.name]
                return super().add(node, op, inputs, nhwc, name=last.name, params=params,
                                   value=value, held=[n_params, n_buffers], **kwargs)
            return result
        return super().add(node, op, inputs, nhwc, name=name, module=module, params=params,
                           value=value, **kwargs)


def _ints(value: Any) -> Any:
    return [int(v) for v in value] if isinstance(value, (list, tuple)) else int(value)


def _layer_name(p: P) -> str | None:
    from .fx_functions import _param_layer_name
    return _param_layer_name(p)


def _what(record) -> str:
    op = record.op
    for prefix in ("torch.nn.functional.", "torch."):
        if op.startswith(prefix):
            return ("F." if prefix == "torch.nn.functional." else "torch.") + op[len(prefix):]
    return op


# -- entry point -----------------------------------------------------------------------------------
def from_module(module: nn.Module, inputs: Any = (3, 224, 224), *, name: str | None = None,
                title: str | None = None, notes: list[str] | None = None,
                reference: str | None = None) -> Graph:
    """Import ``module`` by running its forward on ``inputs`` (a per-sample shape, a tensor, a
    tuple of tensors or shapes, a dict of keyword tensors), in eval mode; layers that run only
    when it is training are found by a second import in training mode and marked ``train_only``
    (torchvision's GoogLeNet and Inception v3 auxiliary heads). The module's training flags,
    tensors and device are as they were afterwards."""
    if not isinstance(module, nn.Module):
        raise UsageError(f"cnnstat imports a torch.nn.Module, not {type(module).__name__}")
    label = name or type(module).__name__
    reference = reference or label
    _check_depth(module, reference)
    specs = inputs_of(inputs)
    importer = _import(module, specs, label, reference, train=False)
    train_only: list[str] = []
    if importer.unused_parameters():
        trained = _training_import(module, specs, label, reference, importer)
        if trained is not None:
            importer, train_only = trained
    traced = "captured in eval mode"
    if train_only:
        traced += ("; the layers marked [train] run only when the module is training (found by "
                   "a second capture in training mode)")
    two = importer.trace
    meta = {"title": title or f"{label} (PyTorch)", "source": "capture",
            "reference": reference, "capture": two.mode, "traced": traced}
    if len(importer.arguments) > 1:      # several inputs: each graph input's forward parameter
        meta["input_arguments"] = dict(importer.arguments)
    importer.asm.warnings[:0] = list(notes or [])
    if two.fallback:
        importer.asm.warnings.append(f"ran on real tensors ({two.mode}): meta tensors were not "
                                     f"enough ({two.fallback})")
    if not importer.layouts:
        importer.asm.warnings.append("the forward made different calls at batch 1 and 2: "
                                     "tensors are taken as batch-first")
    importer.check_parameters()
    if train_only:
        marked = set(train_only)
        importer.asm.nodes = [replace(n, train_only=True) if n.name in marked else n
                              for n in importer.asm.nodes]
    return importer.asm.graph(importer.outputs, meta)


def _check_depth(module: nn.Module, reference: str) -> None:
    """Modules may nest at most the ``depth`` limit deep (cnnstat.limits): torch's own
    recursive walks (eval(), named_modules()) would hit Python's recursion limit on 3,000 nested
    Sequentials. Measured without recursion."""
    from .. import limits
    limit = limits.int_value("depth")
    stack, seen = [(module, 0)], set()
    while stack:
        m, depth = stack.pop()
        if depth > limit:
            raise limits.exceeded("depth", f"{reference} nests modules more than {limit} deep")
        if id(m) in seen:
            continue
        seen.add(id(m))
        stack.extend((child, depth + 1) for child in m._modules.values() if child is not None)


def _import(module: nn.Module, specs: list[_Input], label: str, reference: str,
            train: bool) -> _CaptureImporter:
    """Capture the forward at batch 2 and 1 in one mode and make the layers."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        two = capture(module, _batched(specs, BATCH), train=train)
        one = capture(module, _batched(specs, 1), train=train)
    importer = _CaptureImporter(module, two, _layouts(two, one), one, label, reference)
    importer.run()
    return importer


def _training_import(module: nn.Module, specs: list[_Input], label: str, reference: str,
                     eval_importer: _CaptureImporter
                     ) -> tuple[_CaptureImporter, list[str]] | None:
    """The training-mode import and its layers that the eval-mode one lacks, when it is the
    eval import plus those layers (same names, operators, inputs and arguments) and uses
    parameters the eval one left unused; else None (the eval import stands, the unused
    parameters are reported)."""
    try:
        trained = _import(module, specs, label, reference, train=True)
    except CnnstatError:
        return None
    mine = {n.name: n for n in eval_importer.asm.nodes}
    theirs = {n.name: n for n in trained.asm.nodes}
    for name, node in mine.items():
        other = theirs.get(name)
        if other is None or (other.op, other.inputs, dict(other.attrs), other.shares) != \
                (node.op, node.inputs, dict(node.attrs), node.shares):
            return None
    if not set(eval_importer.outputs) <= set(trained.outputs):
        return None
    if sum(trained.unused_parameters().values()) >= \
            sum(eval_importer.unused_parameters().values()):
        return None
    return trained, [n for n in theirs if n not in mine]
