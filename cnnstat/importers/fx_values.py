"""The values the torch.fx importer passes between calls: activations (T), parameters (P),
pending patterns (Shuffle, Parts), and small helpers shared by the rules. Imports torch."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import torch
import torch.fx as fx

from ..errors import ShapeError

BATCH = 2   # traced with two samples, so a call that mixes the batch dimension shows


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


def is_tensor(v: Any) -> bool:
    return isinstance(v, torch.Tensor)


def base_label(name: str) -> str:
    """fx node name → the call's label: 'add_3' → 'add', 'getitem_5' → 'getitem'."""
    parts = name.rsplit("_", 1)
    return parts[0] if len(parts) == 2 and parts[1].isdigit() else name


def describe_call(node: fx.Node, modules: dict | None = None) -> str:
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


def flat_args(args, kwargs) -> list[Any]:
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


def bind(args: list, kwargs: dict, names: list[str], defaults: dict[str, Any]) -> dict[str, Any]:
    """Positional and keyword arguments of a function call by parameter name."""
    out = dict(defaults)
    for n, v in zip(names, args):
        out[n] = v
    out.update(kwargs)
    return out


def ints(v: Any) -> Any:
    if isinstance(v, (list, tuple, torch.Size)):
        return [int(x) for x in v]
    return int(v) if v is not None else None


def one_tensor(args: list) -> T:
    x = args[0] if args else None
    if not isinstance(x, T):
        raise NoRule()
    return x


def upsample(imp, node, x, size, scale, mode, align_corners, out, module=None):
    if mode not in ("nearest", "nearest-exact", "linear", "bilinear", "bicubic", "trilinear"):
        raise NoRule()
    kwargs: dict[str, Any] = {"mode": mode}
    if mode in ("linear", "bilinear", "bicubic", "trilinear"):
        kwargs["align_corners"] = bool(align_corners) if align_corners is not None else None
    if size is not None or is_tensor(out) and scale is None:
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
