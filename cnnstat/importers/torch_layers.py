"""Making cnnstat layers from an imported torch model's calls: what the rule tables
(fx_modules.py, fx_functions.py) call back into — ``add`` a layer checked against the shape
torch produced, each weight counted once (a second use shares the first layer's weights) — and
the parameter check at the end. The capture importer (torch_capture.py) drives it.

The rule tables were written for torch.fx, whose symbolic trace this package used until
issue 13; they read a call as fx does (``node.op``, ``node.target``), which the capture
importer provides for every call it records.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..errors import ShapeError
from .fx_values import T


def torchvision_leaves() -> tuple[type, ...]:
    """torchvision's modules imported as one layer each, where torchvision is imported (a model
    that holds them has imported it; see fx_functions.register_torchvision_functions)."""
    import sys
    leaves: list[type] = []
    if "torchvision" not in sys.modules:
        return ()
    try:
        from torchvision.ops import StochasticDepth
        leaves.append(StochasticDepth)
        from torchvision.models.convnext import LayerNorm2d
        leaves.append(LayerNorm2d)
    except ImportError:                                  # pragma: no cover - torchvision absent
        pass
    return tuple(leaves)


class LayerImporter:
    """The layer-making half of an importer: ``asm`` (an Assembler), ``owner`` (id of each
    weight tensor → the layer that counts it), ``module`` and ``reference`` are set by the
    subclass, which also provides ``name_for(node)`` and ``check(node, layer, nhwc, value)``."""

    def add(self, node: Any, op: str, inputs: list[T], nhwc: bool = False, *,
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
        """Parameters the forward never touches, by module (two name levels)."""
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
        forward never touches are reported."""
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
            self.asm.warnings.append(f"{total:,} parameters are not used by the forward (eval "
                                     f"mode, nor training mode) and are not counted: {parts}")

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
