"""PyTorch models → layer graph, by torch.fx symbolic tracing.

1. The module (in eval mode) is traced with torch.fx. Standard torch.nn modules are leaves, as in
   fx's default tracer, plus torchvision's LayerNorm2d and StochasticDepth; everything else
   (Sequential, blocks, torchvision's SqueezeExcitation, Permute...) is traced through.
2. The traced graph is run once on a batch of two (on the meta device when the module lives there,
   so nothing is computed): every node's concrete value is known — tensor shapes, and the Python
   values (``x.size(1) // 2``) that arguments are computed from.
3. Every node becomes cnnstat operators (tables below); each layer's shape from cnnstat's rule is
   checked against the shape torch produced, and each module's parameter count against the
   module's: a mapping that would give a wrong number is an error naming the layer.

Names: a module call is named by its module path (``layer1.0.conv1``), a function call by the
module whose forward made it plus the call (``layer1.0.add``), so ``--depth`` collapses blocks.

Patterns, recognized over several calls:
- channel shuffle: view (N, g, C/g, H, W) → transpose(1, 2) → [contiguous] → view (N, C, H, W);
- channels-last regions: permute(0, 2, 3, 1) ... permute(0, 3, 1, 2) around channel-wise calls
  (LayerNorm over C → layernorm2d, Linear → channel_linear, activations, dropout), as in
  ConvNeXt and Swin: cnnstat keeps the tensor N x C x H x W, so receptive fields stay right;
- a multiplication by a learned per-channel tensor (ConvNeXt's layer scale) → scale.

A module called twice shares its weights: the second call's layer ``shares`` the first's, and its
parameters count once. A call without a rule becomes a ``not_counted`` layer with the output shape
torch gave and the parameters it holds; parameters that the traced forward pass never uses
(e.g. auxiliary classifiers at inference) are reported in a warning.
"""

from __future__ import annotations

import operator
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
import torch.fx as fx
import torch.nn.functional as F
from torch import nn

from ..errors import CnnstatError, DefinitionError, ShapeError, UsageError
from ..graph import Graph
from .common import Assembler, input_override, no_definition_options


def load(reference: str, *, input_shape=None, overrides=None, variant=None, args=None,
         **options: Any) -> Graph:
    no_definition_options("an imported PyTorch model", overrides, variant)
    if options:
        raise UsageError(f"unknown option(s) for a PyTorch model: {', '.join(options)}")
    from .torch_models import resolve
    resolved = resolve(reference, dict(args or {}))
    shape = input_override(resolved.input_shape, input_shape)
    return from_module(resolved.module, shape, name=resolved.label, title=resolved.title,
                       notes=resolved.notes, reference=reference,
                       root_training=resolved.root_training)


def from_module(module: nn.Module, input_shape: tuple[int, int, int], *, name: str | None = None,
                title: str | None = None, notes: list[str] | None = None,
                reference: str | None = None, root_training: bool = False) -> Graph:
    """Trace ``module`` and import it at input (C, H, W). Every submodule is in eval mode;
    ``root_training`` puts the top-level module alone in training mode, which makes torchvision's
    GoogLeNet and Inception v3 run their auxiliary classifiers."""
    label = name or type(module).__name__
    reference = reference or label
    module = module.eval()
    module.training = root_training
    gm = _trace(module, reference)
    values = _run(gm, input_shape, reference)
    importer = _Importer(gm, module, values, label, reference)
    importer.run(input_shape)
    meta = {"title": title or f"{label} (PyTorch, torch.fx)", "source": "torch.fx",
            "reference": reference}
    importer.asm.warnings[:0] = list(notes or [])
    importer.check_parameters()
    return importer.asm.graph(importer.outputs, meta)


# -- tracing -----------------------------------------------------------------------------------------
def _torchvision_leaves() -> tuple[type, ...]:
    leaves: list[type] = []
    try:
        from torchvision.ops import StochasticDepth
        leaves.append(StochasticDepth)
        from torchvision.models.convnext import LayerNorm2d
        leaves.append(LayerNorm2d)
    except ImportError:                                  # pragma: no cover - torchvision absent
        pass
    return tuple(leaves)


class _Tracer(fx.Tracer):
    def __init__(self):
        super().__init__()
        self.extra_leaves = _torchvision_leaves()

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        if isinstance(m, self.extra_leaves):
            return True
        return super().is_leaf_module(m, qualname)


def _trace(module: nn.Module, reference: str) -> fx.GraphModule:
    import inspect
    concrete: dict[str, Any] = {}
    try:
        params = list(inspect.signature(module.forward).parameters.values())
    except (TypeError, ValueError):
        params = []
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    for p in positional[1:]:
        if p.default is inspect.Parameter.empty:
            raise UsageError(f"{reference}: forward() takes more than one input "
                             f"({', '.join(q.name for q in positional)}); cnnstat analyzes models "
                             "with one image input")
        concrete[p.name] = p.default
    tracer = _Tracer()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            graph = tracer.trace(module, concrete_args=concrete or None)
    except Exception as exc:
        raise CnnstatError(f"torch.fx cannot trace {reference}: {_reason(exc)}") from None
    return fx.GraphModule(tracer.root, graph)


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    if "control flow" in text:
        text += (" (the forward pass branches on a tensor's value or shape; fx cannot follow "
                 "data-dependent Python control flow)")
    return f"{type(exc).__name__}: {text[:400]}"


class _Recorder(fx.Interpreter):
    """Runs the traced graph and keeps every node's value."""

    def __init__(self, gm: fx.GraphModule):
        super().__init__(gm, garbage_collect_values=False)
        self.values: dict[fx.Node, Any] = {}

    def run_node(self, n: fx.Node) -> Any:
        value = super().run_node(n)
        self.values[n] = value
        return value


BATCH = 2   # traced with two samples, so a call that mixes the batch dimension shows


def _run(gm: fx.GraphModule, shape: tuple[int, int, int], reference: str) -> dict[fx.Node, Any]:
    device = _device(gm)
    recorder = _Recorder(gm)
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            recorder.run(torch.zeros((BATCH,) + tuple(shape), device=device))
    except Exception as exc:
        hint = ""
        if any(w in str(exc) for w in ("size", "shape", "Expected", "match")):
            hint = f" (at input {'x'.join(map(str, shape))}; --input sets another)"
        raise CnnstatError(f"running {reference} on a {BATCH}x{'x'.join(map(str, shape))} input "
                           f"failed{hint}: {_reason(exc)}") from None
    return recorder.values


def _device(module: nn.Module) -> torch.device:
    for t in list(module.parameters()) + list(module.buffers()):
        return t.device
    return torch.device("cpu")


# -- values while importing ------------------------------------------------------------------------
@dataclass
class T:
    """An activation: the cnnstat node that holds it. ``nhwc``: torch holds the permutation
    (0, 2, 3, 1) of cnnstat's N x C x H x W tensor (inside a channels-last region)."""
    node: str
    nhwc: bool = False


@dataclass
class P:
    """A parameter or buffer of the model (or a tensor computed from them only)."""
    names: tuple[str, ...]
    tensors: tuple[torch.Tensor, ...]
    value: torch.Tensor


@dataclass
class Shuffle:
    """Inside a channel shuffle: the source tensor, its groups, and whether transposed."""
    src: T
    groups: int
    transposed: bool = False


@dataclass
class Parts:
    """The parts of a chunk / split: ``make(i)`` adds the layer of part i on first use."""
    make: Callable[[int], Any]
    count: int
    cache: dict[int, Any] = field(default_factory=dict)

    def get(self, i: int) -> Any:
        if i not in self.cache:
            self.cache[i] = self.make(i)
        return self.cache[i]


class NoRule(Exception):
    """This call (with these arguments) has no cnnstat rule: import it as not_counted."""


def _is_tensor(v: Any) -> bool:
    return isinstance(v, torch.Tensor)


class _Importer:
    def __init__(self, gm: fx.GraphModule, module: nn.Module, values: dict[fx.Node, Any],
                 label: str, reference: str):
        self.gm = gm
        self.module = module
        self.values = values
        self.reference = reference
        self.asm = Assembler(label)
        self.env: dict[fx.Node, Any] = {}
        self.modules = dict(gm.named_modules())
        self.owner: dict[int, str] = {}          # id(parameter) -> layer that counts it
        self.module_layer: dict[str, str] = {}    # module path -> its first layer
        self.outputs: list[str] = []
        self.current: fx.Node | None = None
        self.param_only: list[str] = []          # modules run on parameters, not on the input
        # --depth rows are labelled with the module's class (BasicBlock, InvertedResidual...)
        self.asm.groups.update({path: type(m).__name__ for path, m in module.named_modules()
                                if path and any(True for _ in m.children())})

    # -- driver ----------------------------------------------------------------------------------
    def run(self, input_shape) -> None:
        placeholders = [n for n in self.gm.graph.nodes if n.op == "placeholder"]
        for node in self.gm.graph.nodes:
            self.current = node
            try:
                if node.op == "placeholder":
                    if node is not placeholders[0]:
                        self.env[node] = self.values.get(node)
                        continue
                    self.env[node] = T(self.asm.input(input_shape, "input"))
                elif node.op == "get_attr":
                    value = self.values[node]
                    self.env[node] = P((node.target,), (value,), value) if _is_tensor(value) else value
                elif node.op == "output":
                    self._outputs(node.args[0])
                else:
                    self.env[node] = self._call(node)
            except CnnstatError as exc:
                raise exc.located(layer=self._scope(node) or None) from None
        if not self.outputs:
            raise DefinitionError(f"{self.reference} returns no tensor")
        if self.param_only:
            shown = ", ".join(self.param_only[:3])
            more = f" and {len(self.param_only) - 3} more" if len(self.param_only) > 3 else ""
            self.asm.warnings.append(
                f"{len(self.param_only)} module call(s) run on parameters only, not on the input "
                f"({shown}{more}): their work is not counted (their parameters are, at the layer "
                "that uses the result)")

    def _outputs(self, value: Any) -> None:
        v = self.arg(value)
        found: list[str] = []

        def walk(x: Any) -> None:
            if isinstance(x, T):
                found.append(x.node)
            elif isinstance(x, (list, tuple)):
                for y in x:
                    walk(y)
            elif isinstance(x, dict):
                for y in x.values():
                    walk(y)
            elif isinstance(x, (Shuffle, P)):
                raise DefinitionError("the model returns a tensor cnnstat cannot follow")
        walk(v)
        self.outputs = found

    # -- arguments ---------------------------------------------------------------------------------
    def arg(self, a: Any) -> Any:
        """fx arguments → importer values: activations (T), parameters (P), Python values."""
        if isinstance(a, fx.Node):
            return self.env[a]
        if isinstance(a, (list, tuple)):
            out = [self.arg(x) for x in a]
            return type(a)(out) if not hasattr(a, "_fields") else type(a)(*out)
        if isinstance(a, dict):
            return {k: self.arg(v) for k, v in a.items()}
        if isinstance(a, slice):
            return slice(self.arg(a.start), self.arg(a.stop), self.arg(a.step))
        return a

    def concrete(self, node: fx.Node) -> Any:
        return self.values.get(node)

    def _scope(self, node: fx.Node) -> str:
        stack = node.meta.get("nn_module_stack") or {}
        if not stack:
            return ""
        path = list(stack.values())[-1]
        return str(path[0] if isinstance(path, tuple) else path)

    def name_for(self, node: fx.Node, label: str | None = None) -> str:
        if node.op == "call_module":
            return str(node.target)
        base = label or _base_label(node.name)
        scope = self._scope(node)
        return f"{scope}.{base}" if scope else base

    # -- calls -------------------------------------------------------------------------------------
    def _call(self, node: fx.Node) -> Any:
        args = [self.arg(a) for a in node.args]
        kwargs = {k: self.arg(v) for k, v in node.kwargs.items()}
        out = self.concrete(node)
        if node.op == "call_function" and isinstance(node.target, type) \
                and issubclass(node.target, (tuple, list, dict)):
            return node.target(*args, **kwargs)   # a (named) tuple of outputs: no layer
        tensors = [v for v in _flatten(args, kwargs) if isinstance(v, (T, Shuffle, Parts))]
        if not _is_tensor(out) and not (isinstance(out, (tuple, list)) and out
                                        and any(_is_tensor(o) for o in out)):
            return out            # x.size(), x.dim(), x.shape: Python values, not layers
        if not tensors:
            # Python arithmetic on sizes, or a computation on parameters only: not a layer
            params = [v for v in _flatten(args, kwargs) if isinstance(v, P)]
            names = tuple(n for p in params for n in p.names)
            held = tuple(t for p in params for t in p.tensors)
            if node.op == "call_module":       # a module run on parameters (Swin V2's cpb_mlp)
                module = self.modules[node.target]
                names += (str(node.target),)
                held += tuple(module.parameters()) + tuple(module.buffers())
                if any(True for _ in module.parameters()):
                    self.param_only.append(str(node.target))
            if _is_tensor(out):   # made from parameters and constants only: not an activation
                return P(names, held, out)
            return out
        try:
            if node.op == "call_module":
                return self._module(node, self.modules[node.target], args, kwargs, out)
            handler = _FUNCTIONS.get(node.target) if node.op == "call_function" else \
                _METHODS.get(node.target)
            if handler is None:
                raise NoRule()
            return handler(self, node, args, kwargs, out)
        except NoRule:
            return self.unsupported(node, args, kwargs, out)

    def _module(self, node, module, args, kwargs, out):
        for cls, handler in _MODULES:
            if isinstance(module, cls):
                return handler(self, node, module, args, kwargs, out)
        raise NoRule()

    # -- adding layers -----------------------------------------------------------------------------
    def add(self, node: fx.Node, op: str, inputs: list[T], nhwc: bool = False, *,
            name: str | None = None, module: nn.Module | None = None,
            params: tuple[torch.Tensor, ...] = (), value: Any = None, **kwargs: Any) -> T:
        """Add a layer for ``node``; check its shape against torch's; count its weights once."""
        layer_name = name or self.name_for(node)
        shares = None
        weights = tuple(module.parameters()) if module is not None else tuple(params)
        if weights and all(id(w) in self.owner for w in weights):
            owner = self.owner[id(weights[0])]
            if self.asm.nodes and any(n.name == owner and n.op == op for n in self.asm.nodes):
                shares = owner
        elif any(id(w) in self.owner for w in weights):
            self.asm.warnings.append(f"{layer_name} shares some but not all weights with "
                                     f"{self.owner[next(id(w) for w in weights if id(w) in self.owner)]}: "
                                     "the shared ones are counted twice")
        result = self.asm.add(op, [t.node for t in inputs], kwargs, name=layer_name, shares=shares)
        for w in weights:
            self.owner.setdefault(id(w), result)
        self.check(node, result, nhwc, value)
        if module is not None and shares is None:
            self._check_module_params(result, module)
        return T(result, nhwc)

    def check_parameters(self) -> None:
        """The graph's parameter total must be what the layers it imported hold; parameters the
        traced forward pass never touches are reported."""
        counted = sum(self.asm.evals[n.name].params for n in self.asm.nodes
                      if n.op != "input" and not n.shares)
        unique = {id(p): p for p in self.module.parameters()}
        held = sum(p.numel() for i, p in unique.items() if i in self.owner)
        if counted != held:
            raise ShapeError(f"importing {self.reference}: cnnstat's rules count {counted:,} "
                             f"parameters, the imported layers hold {held:,}")
        unused: dict[str, int] = {}
        seen: set[int] = set()
        for name, p in self.module.named_parameters():
            if id(p) in self.owner or id(p) in seen:
                continue
            seen.add(id(p))
            owner = name.rsplit(".", 1)[0] if "." in name else name
            top = ".".join(owner.split(".")[:2])
            unused[top] = unused.get(top, 0) + p.numel()
        if unused:
            total = sum(unused.values())
            parts = ", ".join(f"{k} ({v:,})" for k, v in unused.items())
            self.asm.warnings.append(f"{total:,} parameters are not used by the traced forward "
                                     f"pass (eval mode) and are not counted: {parts}")

    def check(self, node: fx.Node, layer: str, nhwc: bool, value: Any = None) -> None:
        out = self.concrete(node) if value is None else value
        if not _is_tensor(out):
            return
        shape = tuple(out.shape)
        if not shape or shape[0] != BATCH:
            raise ShapeError(f"{_what(node)} changes the batch dimension "
                             f"({BATCH} samples in, {shape[0] if shape else 'a scalar'} out): "
                             "cnnstat cannot follow it", layer=layer)
        if nhwc:
            shape = (shape[0], shape[3], shape[1], shape[2])
        got = self.asm.shape(layer)
        if tuple(got[1:]) != shape[1:]:
            raise ShapeError(f"torch gives this layer ({_what(node)}) the output shape "
                             f"{'x'.join(map(str, shape[1:]))}, cnnstat's rule gives "
                             f"{'x'.join(map(str, got[1:]))}: cannot import it faithfully",
                             layer=layer)

    def _check_module_params(self, layer: str, module: nn.Module) -> None:
        ev = self.asm.evals[layer]
        held = sum(p.numel() for p in module.parameters())
        stored = sum(b.numel() for b in module.buffers())
        if ev.params != held:
            raise ShapeError(f"{type(module).__name__} holds {held:,} parameters, cnnstat's rule "
                             f"counts {ev.params:,}: cannot import it faithfully", layer=layer)
        if ev.buffers != stored and ev.buffers:
            raise ShapeError(f"{type(module).__name__} holds {stored:,} buffer values, cnnstat's "
                             f"rule counts {ev.buffers:,}", layer=layer)

    def unsupported(self, node: fx.Node, args, kwargs, out, what: str | None = None) -> Any:
        """A call without a rule: a not_counted layer with torch's output shape."""
        what = what or _what(node, self.modules)
        inputs = [v for v in _flatten(args, kwargs) if isinstance(v, T)]
        if any(isinstance(v, Shuffle) for v in _flatten(args, kwargs)):
            inputs += [self.materialize(v, node) for v in _flatten(args, kwargs)
                       if isinstance(v, Shuffle)]
        held = [p for p in _flatten(args, kwargs) if isinstance(p, P)]
        module = self.modules.get(node.target) if node.op == "call_module" else None
        tensors = list(module.parameters()) if module is not None else \
            [t for p in held for t in p.tensors if isinstance(t, nn.Parameter)]
        buffers = list(module.buffers()) if module is not None else \
            [t for p in held for t in p.tensors if not isinstance(t, nn.Parameter)]
        fresh = [t for t in dict.fromkeys(tensors) if id(t) not in self.owner]
        fresh_buffers = [t for t in dict.fromkeys(buffers) if id(t) not in self.owner]
        nhwc = bool(inputs) and all(t.nhwc for t in inputs)

        def make(value: torch.Tensor, name: str, count: bool) -> T:
            shape = tuple(value.shape)
            if not shape or shape[0] != BATCH:
                raise ShapeError(f"{what} changes the batch dimension ({BATCH} samples in, "
                                 f"{shape[0] if shape else 'a scalar'} out): cnnstat cannot follow "
                                 "it", layer=name)
            per = shape[1:]
            keep_nhwc = nhwc and len(per) == 3
            if keep_nhwc:
                per = (per[2], per[0], per[1])
            layer = self.asm.not_counted(
                what, [t.node for t in inputs], per, name=name,
                params=sum(t.numel() for t in fresh) if count else 0,
                buffers=sum(t.numel() for t in fresh_buffers) if count else 0)
            if count:
                for t in fresh + fresh_buffers:
                    self.owner[id(t)] = layer
            return T(layer, keep_nhwc)

        if not inputs:
            raise DefinitionError(f"{what} has no activation input cnnstat can follow")
        base = self.name_for(node)
        if _is_tensor(out):
            return make(out, base, True)
        if isinstance(out, (tuple, list)) and out and all(_is_tensor(o) or o is None for o in out):
            first = next(i for i, o in enumerate(out) if o is not None)
            return Parts(lambda i: make(out[i], f"{base}.{i}", i == first) if out[i] is not None
                         else None, len(out))
        raise DefinitionError(f"{what} returns {type(out).__name__}, which cnnstat cannot follow")

    def materialize(self, v: Any, node: fx.Node) -> T:
        """A pending channel shuffle that did not complete: a not_counted view."""
        if isinstance(v, Shuffle):
            return v.src
        return v


def _base_label(name: str) -> str:
    """fx node name → the call's label: 'add_3' → 'add', 'getitem_5' → 'getitem'."""
    parts = name.rsplit("_", 1)
    return parts[0] if len(parts) == 2 and parts[1].isdigit() else name


def _what(node: fx.Node, modules: dict | None = None) -> str:
    if node.op == "call_module" and modules is not None:
        m = modules.get(node.target)
        return f"{type(m).__module__}.{type(m).__name__}" if m is not None else str(node.target)
    if node.op == "call_method":
        return f"Tensor.{node.target}"
    target = node.target
    mod = getattr(target, "__module__", None) or ""
    name = getattr(target, "__name__", str(target))
    if mod in ("_operator", "operator"):
        return f"operator.{name}"
    if mod.startswith("torch._C") or mod == "":
        return f"torch.{name}"
    return f"{mod}.{name}"


def _flatten(args, kwargs) -> list[Any]:
    out: list[Any] = []

    def walk(x: Any) -> None:
        if isinstance(x, (list, tuple)):
            for y in x:
                walk(y)
        elif isinstance(x, dict):
            for y in x.values():
                walk(y)
        else:
            out.append(x)
    walk(list(args))
    walk(kwargs)
    return out


def _bind(args: list, kwargs: dict, names: list[str], defaults: dict[str, Any]) -> dict[str, Any]:
    """Positional and keyword arguments of a function call by parameter name."""
    out = dict(defaults)
    for n, v in zip(names, args):
        out[n] = v
    out.update(kwargs)
    return out


def _ints(v: Any) -> Any:
    if isinstance(v, (list, tuple, torch.Size)):
        return [int(x) for x in v]
    return int(v) if v is not None else None


# -- modules ---------------------------------------------------------------------------------------------
ModuleHandler = Callable[..., Any]
_MODULES: list[tuple[type, ModuleHandler]] = []


def on_module(*classes: type):
    def register(fn: ModuleHandler) -> ModuleHandler:
        for cls in classes:
            _MODULES.append((cls, fn))
        return fn
    return register


def _one(args: list) -> T:
    x = args[0] if args else None
    if not isinstance(x, T):
        raise NoRule()
    return x


@on_module(nn.Conv2d)
def _m_conv(imp, node, m, args, kwargs, out):
    x = _one(args)
    if x.nhwc or len(args) > 1 or kwargs:
        raise NoRule()
    padding = m.padding if isinstance(m.padding, str) else [[p, p] for p in m.padding]
    return imp.add(node, "conv2d", [x], module=m, out=m.out_channels, kernel=list(m.kernel_size),
                   stride=list(m.stride), padding=padding, dilation=list(m.dilation),
                   groups=m.groups, bias=m.bias is not None, padding_mode=m.padding_mode)


@on_module(nn.ConvTranspose2d)
def _m_deconv(imp, node, m, args, kwargs, out):
    x = _one(args)
    if x.nhwc or len(args) > 1 or kwargs:       # output_size given at call time
        raise NoRule()
    return imp.add(node, "conv_transpose2d", [x], module=m, out=m.out_channels,
                   kernel=list(m.kernel_size), stride=list(m.stride), padding=list(m.padding),
                   output_padding=list(m.output_padding), groups=m.groups,
                   bias=m.bias is not None, dilation=list(m.dilation))


@on_module(nn.Linear)
def _m_linear(imp, node, m, args, kwargs, out):
    x = _one(args)
    if x.nhwc:    # a channels-last Linear: over the channels at every position
        return imp.add(node, "channel_linear", [x], True, module=m, out=m.out_features,
                       bias=m.bias is not None)
    return imp.add(node, "linear", [x], module=m, out=m.out_features, bias=m.bias is not None)


@on_module(nn.BatchNorm2d, nn.BatchNorm1d, nn.SyncBatchNorm)
def _m_bn(imp, node, m, args, kwargs, out):
    x = _one(args)
    if x.nhwc or m.momentum is None:
        raise NoRule()
    op = "batchnorm1d" if isinstance(m, nn.BatchNorm1d) else "batchnorm2d"
    return imp.add(node, op, [x], module=m, eps=m.eps, momentum=m.momentum, affine=m.affine,
                   track_running_stats=m.track_running_stats)


@on_module(nn.MaxPool2d)
def _m_maxpool(imp, node, m, args, kwargs, out):
    x = _one(args)
    if x.nhwc or m.return_indices:
        raise NoRule()
    return imp.add(node, "maxpool2d", [x], module=m, kernel=_ints(m.kernel_size),
                   stride=_ints(m.stride), padding=_ints(m.padding), dilation=_ints(m.dilation),
                   ceil_mode=m.ceil_mode)


@on_module(nn.AvgPool2d)
def _m_avgpool(imp, node, m, args, kwargs, out):
    x = _one(args)
    if x.nhwc:
        raise NoRule()
    return imp.add(node, "avgpool2d", [x], module=m, kernel=_ints(m.kernel_size),
                   stride=_ints(m.stride), padding=_ints(m.padding), ceil_mode=m.ceil_mode,
                   count_include_pad=m.count_include_pad)


@on_module(nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)
def _m_adaptive(imp, node, m, args, kwargs, out):
    x = _one(args)
    if x.nhwc or getattr(m, "return_indices", False):
        raise NoRule()
    op = "adaptive_avgpool2d" if isinstance(m, nn.AdaptiveAvgPool2d) else "adaptive_maxpool2d"
    size = m.output_size
    size = list(size) if isinstance(size, (tuple, list)) else size
    return imp.add(node, op, [x], module=m, output=size)


_SIMPLE_MODULES: dict[type, str] = {
    nn.ReLU: "relu", nn.ReLU6: "relu6", nn.Sigmoid: "sigmoid", nn.Tanh: "tanh",
    nn.Hardswish: "hardswish", nn.Hardsigmoid: "hardsigmoid", nn.SiLU: "silu", nn.Mish: "mish",
    nn.Identity: "identity",
}


@on_module(*_SIMPLE_MODULES)
def _m_simple(imp, node, m, args, kwargs, out):
    x = _one(args)
    op = next(v for k, v in _SIMPLE_MODULES.items() if isinstance(m, k))
    return imp.add(node, op, [x], x.nhwc, module=m)


@on_module(nn.GELU)
def _m_gelu(imp, node, m, args, kwargs, out):
    x = _one(args)
    return imp.add(node, "gelu", [x], x.nhwc, module=m, approximate=m.approximate)


@on_module(nn.LeakyReLU)
def _m_leaky(imp, node, m, args, kwargs, out):
    x = _one(args)
    return imp.add(node, "leaky_relu", [x], x.nhwc, module=m, negative_slope=m.negative_slope)


@on_module(nn.ELU)
def _m_elu(imp, node, m, args, kwargs, out):
    x = _one(args)
    return imp.add(node, "elu", [x], x.nhwc, module=m, alpha=m.alpha)


@on_module(nn.Hardtanh)
def _m_hardtanh(imp, node, m, args, kwargs, out):
    x = _one(args)
    return imp.add(node, "hardtanh", [x], x.nhwc, module=m, min=m.min_val, max=m.max_val)


@on_module(nn.PReLU)
def _m_prelu(imp, node, m, args, kwargs, out):
    x = _one(args)
    if x.nhwc:
        raise NoRule()
    return imp.add(node, "prelu", [x], module=m, num_parameters=m.num_parameters)


@on_module(nn.Softmax, nn.LogSoftmax)
def _m_softmax(imp, node, m, args, kwargs, out):
    x = _one(args)
    if x.nhwc or m.dim is None:
        raise NoRule()
    op = "softmax" if isinstance(m, nn.Softmax) else "log_softmax"
    return imp.add(node, op, [x], module=m, dim=m.dim)


@on_module(nn.Dropout, nn.Dropout2d, nn.Dropout1d, nn.AlphaDropout, nn.FeatureAlphaDropout)
def _m_dropout(imp, node, m, args, kwargs, out):
    x = _one(args)
    return imp.add(node, "dropout", [x], x.nhwc, module=m, p=m.p)


@on_module(nn.Flatten)
def _m_flatten(imp, node, m, args, kwargs, out):
    x = _one(args)
    if x.nhwc:
        raise NoRule()
    return imp.add(node, "flatten", [x], module=m, start=m.start_dim, end=m.end_dim)


@on_module(nn.LocalResponseNorm)
def _m_lrn(imp, node, m, args, kwargs, out):
    x = _one(args)
    if x.nhwc:
        raise NoRule()
    return imp.add(node, "lrn", [x], module=m, size=m.size, alpha=m.alpha, beta=m.beta, k=m.k)


@on_module(nn.Upsample)
def _m_upsample(imp, node, m, args, kwargs, out):
    x = _one(args)
    if x.nhwc:
        raise NoRule()
    return _upsample(imp, node, x, m.size, m.scale_factor, m.mode, m.align_corners, out, m)


@on_module(nn.ZeroPad2d, nn.ConstantPad2d)
def _m_pad(imp, node, m, args, kwargs, out):
    x = _one(args)
    if x.nhwc or getattr(m, "value", 0) != 0:
        raise NoRule()
    l, r, t, b = m.padding
    return imp.add(node, "zero_pad2d", [x], module=m, padding=[[t, b], [l, r]])


@on_module(nn.ChannelShuffle)
def _m_shuffle(imp, node, m, args, kwargs, out):
    x = _one(args)
    if x.nhwc:
        raise NoRule()
    return imp.add(node, "channel_shuffle", [x], module=m, groups=m.groups)


@on_module(nn.LayerNorm)
def _m_layernorm(imp, node, m, args, kwargs, out):
    x = _one(args)
    affine = m.elementwise_affine
    bias = getattr(m, "bias", None) is not None
    if _is_layernorm2d(m) and not x.nhwc:        # torchvision's LayerNorm2d: over the channels
        return imp.add(node, "layernorm2d", [x], module=m, eps=m.eps, affine=affine,
                       bias=bias or not affine)
    dims = len(m.normalized_shape)
    if x.nhwc:
        if dims != 1:
            raise NoRule()
        return imp.add(node, "layernorm2d", [x], True, module=m, eps=m.eps, affine=affine,
                       bias=bias or not affine)
    return imp.add(node, "layernorm", [x], module=m, dims=dims, eps=m.eps, affine=affine,
                   bias=bias or not affine)


def _is_layernorm2d(m: nn.Module) -> bool:
    return type(m).__name__ == "LayerNorm2d"


def _stochastic_depth_module(imp, node, m, args, kwargs, out):
    x = _one(args)
    return imp.add(node, "stochastic_depth", [x], x.nhwc, module=m, p=m.p, mode=m.mode)


def _register_torchvision_modules() -> None:
    try:
        from torchvision.ops import StochasticDepth
    except ImportError:                                  # pragma: no cover
        return
    on_module(StochasticDepth)(_stochastic_depth_module)


_register_torchvision_modules()


# -- functions and methods ------------------------------------------------------------------------------
FunctionHandler = Callable[..., Any]
_FUNCTIONS: dict[Any, FunctionHandler] = {}
_METHODS: dict[str, FunctionHandler] = {}


def on(*targets: Any):
    """Register a handler for functions (callables) and Tensor methods (names)."""
    def register(fn: FunctionHandler) -> FunctionHandler:
        for target in targets:
            if isinstance(target, str):
                _METHODS[target] = fn
            else:
                _FUNCTIONS[target] = fn
        return fn
    return register


def _activation(op: str, names: list[str] = (), defaults: dict | None = None,
                attrs: Callable[[dict], dict] = lambda a: {}) -> FunctionHandler:
    def handler(imp, node, args, kwargs, out):
        a = _bind(args, kwargs, ["input"] + list(names), defaults or {})
        x = a["input"]
        if not isinstance(x, T):
            raise NoRule()
        return imp.add(node, op, [x], x.nhwc, **attrs(a))
    return handler


on(F.relu, torch.relu, torch.relu_, F.relu_, "relu", "relu_")(_activation("relu"))
on(F.relu6)(_activation("relu6"))
on(torch.sigmoid, F.sigmoid, "sigmoid", "sigmoid_")(_activation("sigmoid"))
on(torch.tanh, F.tanh, "tanh", "tanh_")(_activation("tanh"))
on(F.hardswish)(_activation("hardswish"))
on(F.hardsigmoid)(_activation("hardsigmoid"))
on(F.silu)(_activation("silu"))
on(F.mish)(_activation("mish"))
on(F.gelu)(_activation("gelu", ["approximate"], {"approximate": "none"},
                       lambda a: {"approximate": a["approximate"]}))
on(F.leaky_relu)(_activation("leaky_relu", ["negative_slope"], {"negative_slope": 0.01},
                             lambda a: {"negative_slope": a["negative_slope"]}))
on(F.elu)(_activation("elu", ["alpha"], {"alpha": 1.0}, lambda a: {"alpha": a["alpha"]}))
on(F.hardtanh)(_activation("hardtanh", ["min_val", "max_val"], {"min_val": -1.0, "max_val": 1.0},
                           lambda a: {"min": a["min_val"], "max": a["max_val"]}))
on(F.dropout, F.dropout2d, F.dropout1d, F.alpha_dropout, F.feature_alpha_dropout)(
    _activation("dropout", ["p"], {"p": 0.5}, lambda a: {"p": a["p"]}))


@on(F.softmax, torch.softmax, "softmax", F.log_softmax, torch.log_softmax, "log_softmax")
def _f_softmax(imp, node, args, kwargs, out):
    a = _bind(args, kwargs, ["input", "dim"], {"dim": None})
    x = a["input"]
    if not isinstance(x, T) or x.nhwc or a["dim"] is None:
        raise NoRule()
    op = "log_softmax" if "log" in str(getattr(node.target, "__name__", node.target)) else "softmax"
    return imp.add(node, op, [x], dim=int(a["dim"]))


@on(F.max_pool2d)
def _f_maxpool(imp, node, args, kwargs, out):
    a = _bind(args, kwargs, ["input", "kernel_size", "stride", "padding", "dilation", "ceil_mode",
                             "return_indices"],
              {"stride": None, "padding": 0, "dilation": 1, "ceil_mode": False,
               "return_indices": False})
    x = a["input"]
    if not isinstance(x, T) or x.nhwc or a["return_indices"]:
        raise NoRule()
    stride = a["stride"] if a["stride"] not in (None, [], ()) else a["kernel_size"]
    return imp.add(node, "maxpool2d", [x], kernel=_ints(a["kernel_size"]), stride=_ints(stride),
                   padding=_ints(a["padding"]), dilation=_ints(a["dilation"]),
                   ceil_mode=bool(a["ceil_mode"]))


@on(F.avg_pool2d)
def _f_avgpool(imp, node, args, kwargs, out):
    a = _bind(args, kwargs, ["input", "kernel_size", "stride", "padding", "ceil_mode",
                             "count_include_pad", "divisor_override"],
              {"stride": None, "padding": 0, "ceil_mode": False, "count_include_pad": True})
    x = a["input"]
    if not isinstance(x, T) or x.nhwc:
        raise NoRule()
    stride = a["stride"] if a["stride"] not in (None, [], ()) else a["kernel_size"]
    return imp.add(node, "avgpool2d", [x], kernel=_ints(a["kernel_size"]), stride=_ints(stride),
                   padding=_ints(a["padding"]), ceil_mode=bool(a["ceil_mode"]),
                   count_include_pad=bool(a["count_include_pad"]))


@on(F.adaptive_avg_pool2d, F.adaptive_max_pool2d)
def _f_adaptive(imp, node, args, kwargs, out):
    a = _bind(args, kwargs, ["input", "output_size", "return_indices"], {"return_indices": False})
    x = a["input"]
    if not isinstance(x, T) or x.nhwc or a["return_indices"]:
        raise NoRule()
    op = "adaptive_avgpool2d" if node.target is F.adaptive_avg_pool2d else "adaptive_maxpool2d"
    size = a["output_size"]
    size = [None if s is None else int(s) for s in size] if isinstance(size, (list, tuple)) \
        else int(size)
    return imp.add(node, op, [x], output=size)


@on(torch.flatten, "flatten")
def _f_flatten(imp, node, args, kwargs, out):
    a = _bind(args, kwargs, ["input", "start_dim", "end_dim"], {"start_dim": 0, "end_dim": -1})
    x = a["input"]
    if isinstance(x, Shuffle):
        return _finish_shuffle(imp, node, x, out)
    if not isinstance(x, T) or x.nhwc or int(a["start_dim"]) == 0:
        raise NoRule()
    return imp.add(node, "flatten", [x], start=int(a["start_dim"]), end=int(a["end_dim"]))


@on("view", "reshape", torch.reshape, "squeeze", "unsqueeze", torch.squeeze, torch.unsqueeze,
    "view_as", "reshape_as", "unflatten")
def _f_reshape(imp, node, args, kwargs, out):
    x = args[0] if args else kwargs.get("input")
    if not _is_tensor(out):
        raise NoRule()
    if isinstance(x, Shuffle):
        return _finish_shuffle(imp, node, x, out)
    if not isinstance(x, T) or x.nhwc:
        raise NoRule()
    src = imp.asm.shape(x.node)
    shape = tuple(out.shape)
    if shape[0] != BATCH:
        raise NoRule()
    # view (N, g, C/g, H, W) of a feature map: the start of a channel shuffle
    if len(src) == 4 and len(shape) == 5 and shape[1] * shape[2] == src[1] \
            and shape[3:] == src[2:] and node.target in ("view", "reshape", torch.reshape):
        return Shuffle(x, shape[1])
    if len(shape) == 2 and len(src) > 2:          # x.view(N, -1): a flatten
        return imp.add(node, "flatten", [x])
    return imp.add(node, "reshape", [x], shape=list(shape[1:]))


@on(torch.transpose, "transpose", torch.permute, "permute")
def _f_permute(imp, node, args, kwargs, out):
    x = args[0] if args else kwargs.get("input")
    rest = list(args[1:]) or [v for k, v in kwargs.items() if k != "input"]
    if node.target in (torch.transpose, "transpose"):
        d0, d1 = (int(v) for v in rest[:2])
        dims = None
    else:
        dims = rest[0] if len(rest) == 1 and isinstance(rest[0], (list, tuple)) else rest
        dims = tuple(int(d) for d in dims)
    if isinstance(x, Shuffle) and not x.transposed:
        if (dims is None and {d0 % 5, d1 % 5} == {1, 2}) or dims == (0, 2, 1, 3, 4):
            return Shuffle(x.src, x.groups, True)
        raise NoRule()
    if not isinstance(x, T):
        raise NoRule()
    if dims is None:
        rank = len(imp.asm.shape(x.node))
        order = list(range(rank))
        order[d0 % rank], order[d1 % rank] = order[d1 % rank], order[d0 % rank]
        dims = tuple(order)
    dims = tuple(d % 4 for d in dims) if len(dims) == 4 else dims
    # entering / leaving a channels-last region: cnnstat keeps the tensor N x C x H x W
    if not x.nhwc and dims == (0, 2, 3, 1) and len(imp.asm.shape(x.node)) == 4:
        return T(x.node, True)
    if x.nhwc and dims == (0, 3, 1, 2):
        return T(x.node, False)
    raise NoRule()


def _finish_shuffle(imp, node, s: Shuffle, out) -> T:
    src_shape = imp.asm.shape(s.src.node)
    if not s.transposed or tuple(out.shape[1:]) != tuple(src_shape[1:]):
        raise NoRule()
    return imp.add(node, "channel_shuffle", [s.src], name=imp.name_for(node, "channel_shuffle"),
                   groups=s.groups)


@on("contiguous", "clone", "detach", "float", "to", "type_as", torch.clone)
def _f_alias(imp, node, args, kwargs, out):
    x = args[0] if args else kwargs.get("input")
    if isinstance(x, (T, Shuffle)):
        return x                                  # the same values: not a layer
    raise NoRule()


def _tensor_or_param(v: Any) -> bool:
    return isinstance(v, (T, P))


@on(operator.add, torch.add, "add", "add_", operator.iadd)
def _f_add(imp, node, args, kwargs, out):
    a = _bind(args, kwargs, ["input", "other"], {})
    x, y = a.get("input"), a.get("other")
    if isinstance(x, T) and isinstance(y, T) and x.nhwc == y.nhwc and "alpha" not in a:
        return imp.add(node, "add", [x, y], x.nhwc)
    raise NoRule()


@on(operator.mul, torch.mul, "mul", "mul_", operator.imul)
def _f_mul(imp, node, args, kwargs, out):
    a = _bind(args, kwargs, ["input", "other"], {})
    x, y = a.get("input"), a.get("other")
    if isinstance(x, T) and isinstance(y, T) and x.nhwc == y.nhwc:
        return imp.add(node, "multiply", [x, y], x.nhwc)
    if isinstance(y, T) and isinstance(x, P):
        x, y = y, x
    if isinstance(x, T) and isinstance(y, P) and len(y.names) == 1 \
            and isinstance(y.tensors[0], nn.Parameter):
        c = imp.asm.shape(x.node)[1]
        per_channel = {(c,)} if x.nhwc else {(c, 1, 1), (1, c, 1, 1)}
        if len(imp.asm.shape(x.node)) == 4 and tuple(y.value.shape) in per_channel:
            return imp.add(node, "scale", [x], x.nhwc, name=y.names[0], params=y.tensors,
                           bias=False)
    raise NoRule()


@on(torch.maximum, torch.max)
def _f_maximum(imp, node, args, kwargs, out):
    tensors = [v for v in list(args) + list(kwargs.values()) if isinstance(v, T)]
    if len(tensors) == 2 and len(args) + len(kwargs) == 2 and tensors[0].nhwc == tensors[1].nhwc:
        return imp.add(node, "maximum", tensors, tensors[0].nhwc)
    raise NoRule()


@on(torch.cat, torch.concat, torch.concatenate)
def _f_cat(imp, node, args, kwargs, out):
    a = _bind(args, kwargs, ["tensors", "dim"], {"dim": 0})
    tensors = list(a["tensors"])
    if not tensors or not all(isinstance(t, T) for t in tensors):
        raise NoRule()
    nhwc = tensors[0].nhwc
    if any(t.nhwc != nhwc for t in tensors):
        raise NoRule()
    dim = int(a["dim"])
    rank = len(imp.asm.shape(tensors[0].node))
    if nhwc:
        dim = {3: 1, 1: 2, 2: 3, -1: 1}.get(dim if dim >= 0 else dim + 4, 0)
    if dim % rank == 0:
        raise NoRule()
    return imp.add(node, "concat", tensors, nhwc, dim=dim)


@on(torch.matmul, operator.matmul, torch.bmm, "matmul", "bmm")
def _f_matmul(imp, node, args, kwargs, out):
    x, y = (list(args) + list(kwargs.values()))[:2]
    if isinstance(x, T) and isinstance(y, T) and not x.nhwc and not y.nhwc:
        return imp.add(node, "matmul", [x, y])
    raise NoRule()


@on(torch.mean, "mean", torch.amax, "amax")
def _f_mean(imp, node, args, kwargs, out):
    a = _bind(args, kwargs, ["input", "dim", "keepdim"], {"dim": None, "keepdim": False})
    x = a["input"]
    if not isinstance(x, T) or a["dim"] is None:
        raise NoRule()
    dims = a["dim"] if isinstance(a["dim"], (list, tuple)) else [a["dim"]]
    spatial = {1, 2} if x.nhwc else {2, 3}
    if len(imp.asm.shape(x.node)) != 4 or {int(d) % 4 for d in dims} != spatial:
        raise NoRule()
    if x.nhwc and a["keepdim"]:
        raise NoRule()
    name = node.target if isinstance(node.target, str) else node.target.__name__
    op = "global_maxpool" if name == "amax" else "global_avgpool"
    return imp.add(node, op, [x], keepdim=bool(a["keepdim"]))


@on(F.interpolate, F.upsample, F.upsample_bilinear, F.upsample_nearest)
def _f_interpolate(imp, node, args, kwargs, out):
    a = _bind(args, kwargs, ["input", "size", "scale_factor", "mode", "align_corners"],
              {"size": None, "scale_factor": None, "mode": "nearest", "align_corners": None})
    if node.target is F.upsample_bilinear:
        a["mode"], a["align_corners"] = "bilinear", True
    x = a["input"]
    if not isinstance(x, T) or x.nhwc:
        raise NoRule()
    return _upsample(imp, node, x, a["size"], a["scale_factor"], a["mode"], a["align_corners"], out)


def _upsample(imp, node, x, size, scale, mode, align_corners, out, module=None):
    if mode not in ("nearest", "nearest-exact", "bilinear", "bicubic"):
        raise NoRule()
    kwargs: dict[str, Any] = {"mode": mode}
    if mode in ("bilinear", "bicubic"):
        kwargs["align_corners"] = bool(align_corners) if align_corners is not None else None
    if size is not None or _is_tensor(out) and scale is None:
        kwargs["size"] = list(out.shape[2:])
    else:
        s = list(scale) if isinstance(scale, (list, tuple)) else scale
        kwargs["scale"] = s
    try:
        return imp.add(node, "upsample", [x], module=module, **kwargs)
    except ShapeError:
        if "scale" not in kwargs:
            raise
        # torch recomputed the size another way: state the size it produced
        imp.asm.nodes.pop()
        kwargs.pop("scale")
        kwargs["size"] = list(out.shape[2:])
        return imp.add(node, "upsample", [x], module=module, **kwargs)


@on(F.pad)
def _f_pad(imp, node, args, kwargs, out):
    a = _bind(args, kwargs, ["input", "pad", "mode", "value"], {"mode": "constant", "value": None})
    x = a["input"]
    pad = list(a["pad"])
    if not isinstance(x, T) or x.nhwc or a["mode"] != "constant" or a["value"] not in (None, 0) \
            or len(pad) != 4 or any(int(p) < 0 for p in pad):
        raise NoRule()
    l, r, t, b = (int(p) for p in pad)
    return imp.add(node, "zero_pad2d", [x], padding=[[t, b], [l, r]])


@on(torch.chunk, "chunk")
def _f_chunk(imp, node, args, kwargs, out):
    a = _bind(args, kwargs, ["input", "chunks", "dim"], {"dim": 0})
    x = a["input"]
    if not isinstance(x, T) or x.nhwc or int(a["dim"]) % len(imp.asm.shape(x.node)) == 0:
        raise NoRule()
    chunks, dim = int(a["chunks"]), int(a["dim"])
    base = imp.name_for(node)

    def part(i: int) -> T:
        return imp.add(node, "chunk", [x], name=f"{base}.{i}", chunks=chunks, index=i, dim=dim,
                       value=out[i])
    return Parts(part, len(out))


@on(torch.split, "split")
def _f_split(imp, node, args, kwargs, out):
    a = _bind(args, kwargs, ["input", "split_size_or_sections", "dim"], {"dim": 0})
    x = a["input"]
    if not isinstance(x, T) or x.nhwc or not isinstance(out, (tuple, list)):
        raise NoRule()
    dim = int(a["dim"])
    if dim % len(imp.asm.shape(x.node)) == 0:
        raise NoRule()
    sizes = [int(o.shape[dim]) for o in out]
    starts = [sum(sizes[:i]) for i in range(len(sizes))]
    base = imp.name_for(node)

    def part(i: int) -> T:
        return imp.add(node, "slice", [x], name=f"{base}.{i}", start=starts[i],
                       end=starts[i] + sizes[i], dim=dim, value=out[i])
    return Parts(part, len(out))


@on(operator.getitem)
def _f_getitem(imp, node, args, kwargs, out):
    x, index = args[0], args[1]
    if isinstance(x, Parts):
        if not isinstance(index, int):
            raise NoRule()
        return x.get(index % x.count)
    if isinstance(x, (list, tuple)):
        return x[index]
    if not isinstance(x, T) or x.nhwc:
        raise NoRule()
    # x[:, a:b] (one slice along one dimension after the batch): a slice layer
    items = index if isinstance(index, tuple) else (index,)
    if not items or items[0] != slice(None) or not all(isinstance(i, slice) for i in items):
        raise NoRule()
    cut = [(d, s) for d, s in enumerate(items) if s != slice(None)]
    if len(cut) != 1:
        raise NoRule()
    d, s = cut[0]
    if s.step not in (None, 1) and (not isinstance(s.step, int) or s.step < 1):
        raise NoRule()
    return imp.add(node, "slice", [x], start=s.start if s.start is not None else 0, end=s.stop,
                   dim=d, step=s.step or 1)


@on(F.layer_norm)
def _f_layernorm(imp, node, args, kwargs, out):
    a = _bind(args, kwargs, ["input", "normalized_shape", "weight", "bias", "eps"],
              {"weight": None, "bias": None, "eps": 1e-5})
    x = a["input"]
    if not isinstance(x, T):
        raise NoRule()
    held = tuple(t for p in (a["weight"], a["bias"]) if isinstance(p, P) for t in p.tensors)
    affine, bias = a["weight"] is not None, a["bias"] is not None
    if affine and not bias:
        pass
    dims = len(a["normalized_shape"])
    kw = dict(eps=float(a["eps"]), affine=affine, bias=bias or not affine, params=held)
    name = _param_layer_name(a["weight"]) or None
    if x.nhwc:
        if dims != 1:
            raise NoRule()
        return imp.add(node, "layernorm2d", [x], True, name=name, **kw)
    return imp.add(node, "layernorm", [x], name=name, dims=dims, **kw)


def _param_layer_name(p: Any) -> str | None:
    if not isinstance(p, P) or len(p.names) != 1:
        return None
    name = p.names[0]
    for suffix in (".weight", ".bias"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


@on(F.conv2d)
def _f_conv2d(imp, node, args, kwargs, out):
    a = _bind(args, kwargs, ["input", "weight", "bias", "stride", "padding", "dilation", "groups"],
              {"bias": None, "stride": 1, "padding": 0, "dilation": 1, "groups": 1})
    x, w = a["input"], a["weight"]
    if not isinstance(x, T) or x.nhwc or not isinstance(w, P) or w.value.dim() != 4:
        raise NoRule()
    padding = a["padding"] if isinstance(a["padding"], str) else _ints(a["padding"])
    held = w.tensors + (a["bias"].tensors if isinstance(a["bias"], P) else ())
    return imp.add(node, "conv2d", [x], name=_param_layer_name(w), params=held,
                   out=int(w.value.shape[0]), kernel=list(w.value.shape[2:]),
                   stride=_ints(a["stride"]), padding=padding, dilation=_ints(a["dilation"]),
                   groups=int(a["groups"]), bias=a["bias"] is not None)


@on(F.linear)
def _f_linear(imp, node, args, kwargs, out):
    a = _bind(args, kwargs, ["input", "weight", "bias"], {"bias": None})
    x, w = a["input"], a["weight"]
    if not isinstance(x, T) or not isinstance(w, P) or w.value.dim() != 2:
        raise NoRule()
    held = w.tensors + (a["bias"].tensors if isinstance(a["bias"], P) else ())
    op = "channel_linear" if x.nhwc else "linear"
    return imp.add(node, op, [x], x.nhwc, name=_param_layer_name(w), params=held,
                   out=int(w.value.shape[0]), bias=a["bias"] is not None)


@on(*{torch.channel_shuffle, getattr(F, "channel_shuffle", torch.channel_shuffle)})
def _f_channel_shuffle(imp, node, args, kwargs, out):
    a = _bind(args, kwargs, ["input", "groups"], {})
    x = a["input"]
    if not isinstance(x, T) or x.nhwc:
        raise NoRule()
    return imp.add(node, "channel_shuffle", [x], groups=int(a["groups"]))


def _register_torchvision_functions() -> None:
    try:
        from torchvision.ops import stochastic_depth
    except ImportError:                                  # pragma: no cover
        return

    @on(stochastic_depth)
    def _f_stochastic_depth(imp, node, args, kwargs, out):
        a = _bind(args, kwargs, ["input", "p", "mode", "training"], {"training": True})
        x = a["input"]
        if not isinstance(x, T):
            raise NoRule()
        return imp.add(node, "stochastic_depth", [x], x.nhwc, p=float(a["p"]), mode=a["mode"])


_register_torchvision_functions()
