"""Layer graph → runnable ``torch.nn.Module``.

Every node becomes the module given by ``cnnstat.torch_bridge.modules.MODULES``, placed at its
dotted name (``layer1.0.conv1``) so ``named_modules()`` matches the graph. The forward pass runs the
nodes in topological order and frees each activation after its last reader. Weights are random
and deterministic (``torch.manual_seed(seed)`` before construction); ``device="meta"`` builds
without allocating any storage, for shape and count checks of the largest models.

The module's mode decides which layers run, as in torchvision's GoogLeNet and Inception v3: in
eval mode (the default) the nodes marked ``train_only`` (auxiliary classifiers) are skipped and
their outputs are not returned; ``module.train()`` runs them (and puts batch norm and dropout in
training mode, as a training step would).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..analyze import analyze_graph
from ..errors import CnnstatError, UsageError
from ..graph import Graph
from .modules import MODULES


class GraphModule(nn.Module):
    """Runs a cnnstat graph. ``node_modules`` maps every node name to its module."""

    def __init__(self, graph: Graph, node_modules: dict[str, nn.Module]):
        super().__init__()
        self.graph = graph
        self.node_modules = node_modules
        self._order = [n for n in graph if n.op != "input"]
        self._inputs = list(graph.inputs)
        last_use: dict[str, int] = {}
        for i, node in enumerate(self._order):
            for src in node.inputs:
                last_use[src] = i
        keep = set(graph.outputs)
        # names whose tensor can be dropped after node i ran
        self._free_after: list[list[str]] = [[] for _ in self._order]
        for name, i in last_use.items():
            if name not in keep:
                self._free_after[i].append(name)
        for name, child in _tree(node_modules).items():
            self.add_module(name, child)

    def forward(self, *inputs: torch.Tensor):
        if len(inputs) != len(self._inputs):
            raise TypeError(f"the model takes {len(self._inputs)} input(s), got {len(inputs)}")
        env: dict[str, torch.Tensor] = dict(zip(self._inputs, inputs))
        for node, free in zip(self._order, self._free_after):
            if self.training or not node.train_only:     # auxiliary heads run in training only
                env[node.name] = self.node_modules[node.name](*(env[s] for s in node.inputs))
            for name in free:
                env.pop(name, None)
        outs = [env[o] for o in self.graph.outputs if self.training or not self.graph[o].train_only]
        return outs[0] if len(outs) == 1 else tuple(outs)


def _tree(node_modules: dict[str, nn.Module]) -> dict[str, nn.Module]:
    """Nest modules by their dotted names: {'layer1.0.conv1': m} → layer1 → 0 → conv1."""
    roots: dict[str, nn.Module] = {}
    for name, module in node_modules.items():
        parts = name.split(".")
        if len(parts) == 1:
            existing = roots.get(name)
            if existing is not None:  # a container made earlier for children: adopt them
                for child_name, child in existing.named_children():
                    module.add_module(child_name, child)
            roots[name] = module
            continue
        parent = roots.setdefault(parts[0], nn.Module())
        for part in parts[1:-1]:
            child = getattr(parent, part, None) if part in parent._modules else None
            if child is None:
                child = nn.Module()
                parent.add_module(part, child)
            parent = child
        parent.add_module(parts[-1], module)
    return roots


def build_module(graph: Graph, *, seed: int = 0, device: str | torch.device = "cpu",
                 batch: int = 1, train: bool = False) -> GraphModule:
    """Build the graph as a module, in eval mode (``train=True``: training mode). Shapes come from
    cnnstat's own analysis, which also validates the graph before anything is allocated."""
    analysis = analyze_graph(graph, batch=batch)
    shapes = {r.name: r.output_shape for r in analysis.records}
    for name in graph.inputs:
        shapes[name] = (batch,) + tuple(graph[name].attrs["shape"])
    modules: dict[str, nn.Module] = {}
    torch.manual_seed(seed)
    with torch.device(device):
        for node in graph:
            if node.op == "input":
                continue
            if node.shares:         # the same module (same weights) called again
                modules[node.name] = modules[node.shares]
                continue
            factory = MODULES.get(node.op)
            if factory is None:
                raise CnnstatError(f"no torch module for operator '{node.op}'", file=node.file,
                                   line=node.line, layer=node.name)
            try:
                modules[node.name] = factory(node.attrs, [shapes[s] for s in node.inputs])
            except (ValueError, TypeError, RuntimeError) as exc:
                raise CnnstatError(f"cannot build {node.op} in torch: {exc}", file=node.file,
                                   line=node.line, layer=node.name) from None
    return GraphModule(graph, modules).train(train)


def example_input(graph: Graph, batch: int = 1, device: str | torch.device = "cpu",
                  seed: int = 0) -> torch.Tensor:
    """A deterministic random input of the graph's input shape."""
    shape = (batch,) + tuple(graph.input_shape)
    if str(device) == "meta":
        return torch.empty(shape, device="meta")
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=generator).to(device)


def build(model: Any, *, input: Any = None, batch: int = 1, set: Any = None,
          variant: str | None = None, args: Any = None, seed: int = 0,
          device: str = "cpu", train: bool = False) -> GraphModule:
    """Build a zoo name, definition path or graph as a module: ``build("lenet5")`` (eval mode;
    ``train=True``: training mode, auxiliary heads included)."""
    from ..models import resolve_graph
    if batch <= 0:
        raise UsageError(f"batch size must be a positive integer, got {batch}")
    graph = resolve_graph(model, input=input, set=set, variant=variant, args=args)
    return build_module(graph, seed=seed, device=device, batch=batch, train=train)
