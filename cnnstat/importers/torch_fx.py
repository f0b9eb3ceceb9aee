"""PyTorch models → layer graph, by torch.fx symbolic tracing.

1. The module (in eval mode) is traced with torch.fx. Standard torch.nn modules are leaves, as in
   fx's default tracer, plus torchvision's LayerNorm2d and StochasticDepth; everything else
   (Sequential, blocks, torchvision's SqueezeExcitation, Permute...) is traced through.
2. The traced graph is run once on a batch of two (on the meta device when the module lives there,
   so nothing is computed): every node's concrete value is known — tensor shapes, and the Python
   values (``x.size(1) // 2``) that arguments are computed from.
3. Every node becomes cnnstat operators (the rules: fx_modules.py for module calls,
   fx_functions.py for functions and methods; docs/importers.md has the table). Each layer's
   shape from cnnstat's rule is checked against the shape torch produced, and each module's
   parameter count against the module's: a mapping that would give a wrong number is an error
   naming the layer.

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
torch gave and the parameters it holds; parameters that the traced forward pass never uses are
reported in a warning.

The mode: the module is traced in eval mode (``module.eval()``), as it runs at inference. Where
that leaves parameters unused, it is traced again in training mode (``module.train()``); if that
trace is the eval one plus layers (torchvision's GoogLeNet and Inception v3 run their auxiliary
classifiers only ``if self.training``), the graph is the training trace with those layers marked
``train_only``: listed, their parameters counted, their work counted only with ``--train``, as for
the zoo's definitions. The module's own modes are restored afterwards.
"""

from __future__ import annotations

import warnings
from dataclasses import replace
from typing import Any

import torch
import torch.fx as fx
from torch import nn

from ..errors import CnnstatError, DefinitionError, ShapeError, UsageError
from ..graph import Graph
from .common import Assembler, input_override, no_definition_options
from .fx_functions import FUNCTIONS, METHODS
from .fx_modules import MODULES
from .fx_values import (BATCH, P, Parts, Shuffle, T, NoRule, base_label, describe_call, flat_args,
                        is_tensor)


def load(reference: str, *, input_shape=None, overrides=None, variant=None, args=None,
         **options: Any) -> Graph:
    no_definition_options("an imported PyTorch model", overrides, variant)
    if options:
        raise UsageError(f"unknown option(s) for a PyTorch model: {', '.join(options)}")
    from .torch_models import resolve
    resolved = resolve(reference, dict(args or {}))
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


def from_module(module: nn.Module, input_shape: tuple[int, ...], *, name: str | None = None,
                title: str | None = None, notes: list[str] | None = None,
                reference: str | None = None) -> Graph:
    """Trace ``module`` in eval mode and import it at input (C, *spatial); layers that run only
    when it is training are found by a second trace and marked ``train_only`` (see the module
    doc). The module's modes are left as they were."""
    label = name or type(module).__name__
    reference = reference or label
    _check_depth(module, reference)
    modes = [(m, m.training) for m in module.modules()]
    try:
        importer = _import(module.eval(), input_shape, label, reference)
        train_only: list[str] = []
        if importer.unused_parameters():
            trained = _training_trace(module, input_shape, label, reference, importer)
            if trained is not None:
                importer, train_only = trained
    finally:
        for m, training in modes:
            m.training = training
    traced = "torch.fx, in eval mode"
    if train_only:
        traced += ("; the layers marked [train] run only when the module is training (found by "
                   "a second trace in training mode)")
    meta = {"title": title or f"{label} (PyTorch, torch.fx)", "source": "torch.fx",
            "reference": reference, "traced": traced}
    importer.asm.warnings[:0] = list(notes or [])
    importer.check_parameters()
    if train_only:
        marked = set(train_only)
        importer.asm.nodes = [replace(n, train_only=True) if n.name in marked else n
                              for n in importer.asm.nodes]
    return importer.asm.graph(importer.outputs, meta)


def _import(module: nn.Module, input_shape, label: str, reference: str) -> "_Importer":
    """Trace the module in its current mode, run the trace once and convert every node."""
    gm = _trace(module, reference)
    values = _run(gm, input_shape, reference)
    importer = _Importer(gm, module, values, label, reference)
    importer.run(input_shape)
    return importer


def _training_trace(module: nn.Module, input_shape, label: str, reference: str,
                    eval_importer: "_Importer") -> tuple["_Importer", list[str]] | None:
    """The training-mode import and its layers that the eval-mode one lacks, when the training
    trace is the eval trace plus those layers (same names, operators, inputs and arguments) and
    uses parameters the eval trace left unused; else None (the eval trace stands, and the unused
    parameters are reported)."""
    try:
        trained = _import(module.train(), input_shape, label, reference)
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


def _check_depth(module: nn.Module, reference: str) -> None:
    """Modules may nest at most the ``depth`` limit deep (cnnstat.limits): torch's own
    recursive walks (eval(), named_modules()) and the trace would hit Python's recursion limit
    on 3,000 nested Sequentials. Measured without recursion."""
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
    except (Exception, SystemExit) as exc:          # the model's forward may call sys.exit
        raise CnnstatError(f"torch.fx cannot trace {reference}: {_reason(exc)}") from None
    return fx.GraphModule(tracer.root, graph)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, SystemExit):
        return f"its code called sys.exit({exc.code!r})"
    text = str(exc).split("While executing")[0]       # fx appends the node and a traceback
    text = " ".join(text.split()) or type(exc).__name__
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


def _run(gm: fx.GraphModule, shape: tuple[int, int, int], reference: str) -> dict[fx.Node, Any]:
    """Every node's value on a batch of two zeros. A module on the meta device runs on meta
    tensors; any other runs under FakeTensorMode (shapes without arithmetic), or, if a call has no
    fake implementation, for real."""
    device = _device(gm)
    size = (BATCH,) + tuple(shape)
    attempts = ["meta"] if device.type == "meta" else ["fake", "real"]
    for attempt in attempts:
        recorder = _Recorder(gm)
        try:
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if attempt == "fake":
                    from torch._subclasses.fake_tensor import FakeTensorMode
                    with FakeTensorMode(allow_non_fake_inputs=True):
                        recorder.run(torch.zeros(size, device=device))
                else:
                    recorder.run(torch.zeros(size, device=device))
            return recorder.values
        except (Exception, SystemExit) as exc:
            if attempt != attempts[-1]:
                continue
            hint = ""
            if any(w in str(exc) for w in ("size", "shape", "Expected", "match")):
                hint = f" (at input {'x'.join(map(str, shape))}; --input sets another)"
            raise CnnstatError(f"running {reference} on a {'x'.join(map(str, size))} input "
                               f"failed{hint}: {_reason(exc)}") from None
    raise AssertionError("unreachable")                 # pragma: no cover


def _device(module: nn.Module) -> torch.device:
    for t in list(module.parameters()) + list(module.buffers()):
        return t.device
    return torch.device("cpu")


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
                    self.env[node] = P((node.target,), (value,), value) if is_tensor(value) else value
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
        base = label or base_label(node.name)
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
        tensors = [v for v in flat_args(args, kwargs) if isinstance(v, (T, Shuffle, Parts))]
        if not is_tensor(out) and not (isinstance(out, (tuple, list)) and out
                                        and any(is_tensor(o) for o in out)):
            return out            # x.size(), x.dim(), x.shape: Python values, not layers
        if not tensors:
            # Python arithmetic on sizes, or a computation on parameters only: not a layer
            params = [v for v in flat_args(args, kwargs) if isinstance(v, P)]
            names = tuple(n for p in params for n in p.names)
            held = tuple(t for p in params for t in p.tensors)
            if node.op == "call_module":       # a module run on parameters (Swin V2's cpb_mlp)
                module = self.modules[node.target]
                names += (str(node.target),)
                held += tuple(module.parameters()) + tuple(module.buffers())
                if any(True for _ in module.parameters()):
                    self.param_only.append(str(node.target))
            if is_tensor(out):   # made from parameters and constants only: not an activation
                return P(names, held, out)
            return out
        try:
            if node.op == "call_module":
                return self._module(node, self.modules[node.target], args, kwargs, out)
            handler = FUNCTIONS.get(node.target) if node.op == "call_function" else \
                METHODS.get(node.target)
            if handler is None:
                raise NoRule()
            return handler(self, node, args, kwargs, out)
        except NoRule:
            return self.unsupported(node, args, kwargs, out)

    def _module(self, node, module, args, kwargs, out):
        for cls, handler in MODULES:
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

    def unused_parameters(self) -> dict[str, int]:
        """Parameters the traced forward pass never touches, by module (two name levels)."""
        unused: dict[str, int] = {}
        seen: set[int] = set()
        for name, p in self.module.named_parameters():
            if id(p) in self.owner or id(p) in seen:
                continue
            seen.add(id(p))
            owner = name.rsplit(".", 1)[0] if "." in name else name
            top = ".".join(owner.split(".")[:2])
            unused[top] = unused.get(top, 0) + p.numel()
        return unused

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
        unused = self.unused_parameters()
        if unused:
            total = sum(unused.values())
            parts = ", ".join(f"{k} ({v:,})" for k, v in unused.items())
            self.asm.warnings.append(f"{total:,} parameters are not used by the traced forward "
                                     f"pass (eval mode, nor training mode) and are not counted: "
                                     f"{parts}")

    def check(self, node: fx.Node, layer: str, nhwc: bool, value: Any = None) -> None:
        out = self.concrete(node) if value is None else value
        if not is_tensor(out):
            return
        shape = tuple(out.shape)
        if not shape or shape[0] != BATCH:
            raise ShapeError(f"{describe_call(node)} changes the batch dimension "
                             f"({BATCH} samples in, {shape[0] if shape else 'a scalar'} out): "
                             "cnnstat cannot follow it", layer=layer)
        if nhwc:
            shape = (shape[0], shape[3], shape[1], shape[2])
        got = self.asm.shape(layer)
        if tuple(got[1:]) != shape[1:]:
            raise ShapeError(f"torch gives this layer ({describe_call(node)}) the output shape "
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
        what = what or describe_call(node, self.modules)
        inputs = [v for v in flat_args(args, kwargs) if isinstance(v, T)]
        # a channel shuffle that did not complete (view to 5-D, then something else): the calls so
        # far had no layer, so this one reads their source and gives torch's shape
        inputs += [v.src for v in flat_args(args, kwargs) if isinstance(v, Shuffle)]
        held = [p for p in flat_args(args, kwargs) if isinstance(p, P)]
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
        if is_tensor(out):
            return make(out, base, True)
        if isinstance(out, (tuple, list)) and out and all(is_tensor(o) or o is None for o in out):
            first = next(i for i, o in enumerate(out) if o is not None)
            return Parts(lambda i: make(out[i], f"{base}.{i}", i == first) if out[i] is not None
                         else None, len(out))
        raise DefinitionError(f"{what} returns {type(out).__name__}, which cnnstat cannot follow")
