"""The structure of a running torch module as a list of comparable layers, and the alignment of two
such lists (``cnnstat check MODEL --against torchvision``).

Extraction runs one forward pass under a ``TorchFunctionMode`` that records every call of the
functions that carry a network's structure — ``conv1d``/``conv2d``/``conv3d``, the transposed
convolutions, ``linear``, the pooling functions of every rank, ``batch_norm``,
``local_response_norm``, ``interpolate`` — with their
arguments, whether a module or a functional call in some ``forward`` made it (torchvision's
Inception v3 pools with ``F.avg_pool2d``). Forward hooks on every submodule name each call after
the innermost module running. The mode sees only the outermost call (nested calls run with the
mode disabled), so ``F.batch_norm`` is recorded once, not the ``torch.batch_norm`` inside it.

Comparable layers: convolutions, fully connected layers, pooling and upsampling. Normalization is
not a layer of its own here but an attribute of the layer it follows in execution order
(``conv → BatchNorm2d`` is a convolution with ``norm = batchnorm``), so "the same network with
BatchNorm" differs in one attribute per convolution instead of by dozens of inserted layers. A
``F.pad`` with zeros right before a convolution or pooling becomes that layer's padding.

Alignment is a global sequence alignment (Needleman & Wunsch 1970) over the two lists: matching two
layers of the same family costs a little per differing attribute, leaving a layer out costs more
than any such match, and layers of different families (a convolution and a pooling) never match.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Sequence

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from ..ops.schema import resolve_padding

# Attributes compared between aligned layers, with the words a report uses for them.
ATTRIBUTES = (
    ("kind", "kind"),
    ("in_channels", "input channels"),
    ("out_channels", "output channels"),
    ("kernel", "kernel"),
    ("stride", "stride"),
    ("padding", "padding"),
    ("dilation", "dilation"),
    ("groups", "groups"),
    ("bias", "bias"),
    ("norm", "normalization"),
    ("ceil_mode", "ceil_mode"),
    ("count_include_pad", "count_include_pad"),
    ("output_size", "output size"),
    ("mode", "mode"),
)
LABELS = dict(ATTRIBUTES)

# Families: layers of one family may be aligned with each other (and then differ in kind).
FAMILY = {"conv": "conv", "conv_transpose": "conv", "linear": "linear",
          "maxpool": "pool", "avgpool": "pool", "adaptive_avgpool": "pool",
          "adaptive_maxpool": "pool", "global_avgpool": "pool", "global_maxpool": "pool",
          "upsample": "resize", "norm": "norm"}


@dataclass(frozen=True)
class Layer:
    """One comparable layer of a running module, in execution order."""
    index: int
    name: str                      # the innermost module that ran it; inline calls: module.function
    kind: str                      # conv, conv_transpose, linear, maxpool, ..., upsample, norm
    in_channels: int | None = None
    out_channels: int | None = None
    kernel: tuple[int, ...] | None = None            # one size per spatial axis
    stride: tuple[int, ...] | None = None
    padding: tuple[tuple[int, int], ...] | None = None   # (before, after) per axis
    dilation: tuple[int, ...] | None = None
    groups: int | None = None
    bias: bool | None = None
    norm: str = "none"             # normalization applied after it: none, batchnorm, lrn(5), ...
    ceil_mode: bool | None = None
    count_include_pad: bool | None = None
    output_size: tuple[int, ...] | None = None
    mode: str | None = None
    output_shape: tuple[int, ...] = ()

    @property
    def family(self) -> str:
        return FAMILY.get(self.kind, self.kind)

    def describe(self) -> str:
        """A compact text: ``conv 3→64 7×7/2 p3 bias +batchnorm``."""
        parts = [self.kind]
        if self.in_channels is not None:
            parts.append(f"{self.in_channels}→{self.out_channels}")
        if self.kernel is not None:
            parts.append(f"{_hw(self.kernel)}/{_hw(self.stride, True)}")
        if self.padding is not None and any(v for p in self.padding for v in p):
            parts.append(f"p{_pad(self.padding)}")
        if self.dilation is not None and set(self.dilation) != {1}:
            parts.append(f"d{_hw(self.dilation, True)}")
        if self.groups not in (None, 1):
            parts.append(f"g{self.groups}")
        if self.bias:
            parts.append("bias")
        if self.ceil_mode:
            parts.append("ceil")
        if self.count_include_pad is False:
            parts.append("exclude-pad")
        if self.output_size is not None:
            parts.append(f"→{_hw(self.output_size)}")
        if self.mode is not None:
            parts.append(self.mode)
        if self.norm != "none":
            parts.append(f"+{self.norm}")
        return " ".join(parts)


def _hw(v, square_as_one: bool = False) -> str:
    """Sizes per axis as ``h×w`` (``d×h×w``, ``l``), or one when all equal and ``square_as_one``."""
    if v is None:
        return "?"
    return str(v[0]) if square_as_one and len(set(v)) == 1 else "×".join(map(str, v))


def _pad(p) -> str:
    if all(lo == hi for lo, hi in p):
        return _hw(tuple(lo for lo, _ in p), True)
    return "(" + ",".join(str(v) for pair in p for v in pair) + ")"


def _pair(v, default=None, rank: int = 2) -> tuple[int, ...] | None:
    """One value per axis of a rank-``rank`` layer (torch's int-or-tuple arguments)."""
    if v is None:
        return default
    if isinstance(v, (list, tuple, torch.Size)):
        if not len(v):
            return default
        return tuple(int(x) for x in v) if len(v) == rank else (int(v[0]),) * rank
    return (int(v),) * rank


def _sym(p, rank: int = 2) -> tuple[tuple[int, int], ...]:
    return tuple((v, v) for v in _pair(p, (0,) * rank, rank))


def _rank(fname: str) -> int:
    """conv3d → 3; the spatial rank of a recorded function."""
    return int(fname[-2]) if fname[-2:] in ("1d", "2d", "3d") else 2


# Positional parameter names of the recorded functions (torch.nn.functional's signatures).
_PARAMS = {
    **{f"conv{r}d": ("input", "weight", "bias", "stride", "padding", "dilation", "groups")
       for r in (1, 2, 3)},
    **{f"conv_transpose{r}d": ("input", "weight", "bias", "stride", "padding", "output_padding",
                               "groups", "dilation") for r in (1, 2, 3)},
    "linear": ("input", "weight", "bias"),
    **{f"max_pool{r}d": ("input", "kernel_size", "stride", "padding", "dilation", "ceil_mode",
                         "return_indices") for r in (1, 2, 3)},
    "avg_pool1d": ("input", "kernel_size", "stride", "padding", "ceil_mode", "count_include_pad"),
    **{f"avg_pool{r}d": ("input", "kernel_size", "stride", "padding", "ceil_mode",
                         "count_include_pad", "divisor_override") for r in (2, 3)},
    **{f"adaptive_avg_pool{r}d": ("input", "output_size") for r in (1, 2, 3)},
    **{f"adaptive_max_pool{r}d": ("input", "output_size", "return_indices") for r in (1, 2, 3)},
    "batch_norm": ("input", "running_mean", "running_var", "weight", "bias", "training",
                   "momentum", "eps"),
    "local_response_norm": ("input", "size", "alpha", "beta", "k"),
    "interpolate": ("input", "size", "scale_factor", "mode", "align_corners"),
    "pad": ("input", "pad", "mode", "value"),
    "mean": ("input", "dim", "keepdim"),
    "amax": ("input", "dim", "keepdim"),
}
_ALIASES = {**{f"_max_pool{r}d": f"max_pool{r}d" for r in (1, 2, 3)},
            **{f"max_pool{r}d_with_indices": f"max_pool{r}d" for r in (1, 2, 3)},
            **{f"_adaptive_max_pool{r}d": f"adaptive_max_pool{r}d" for r in (1, 2, 3)},
            **{f"adaptive_max_pool{r}d_with_indices": f"adaptive_max_pool{r}d"
               for r in (1, 2, 3)}}
_CONVS = {f"conv{r}d" for r in (1, 2, 3)} | {f"conv_transpose{r}d" for r in (1, 2, 3)}
_POOLS = {f"{kind}_pool{r}d" for kind in ("max", "avg") for r in (1, 2, 3)}
_ADAPTIVE = {f"adaptive_{kind}_pool{r}d" for kind in ("max", "avg") for r in (1, 2, 3)}


def _bind(fname: str, args: tuple, kwargs: dict) -> dict[str, Any]:
    bound = dict(zip(_PARAMS[fname], args))
    bound.update(kwargs)
    return bound


def _layer_of(fname: str, a: dict, out: Any, index: int, name: str) -> Layer | str | None:
    """The comparable layer a recorded call is, a normalization name (str), or None (not one)."""
    shape = tuple(out.shape) if isinstance(out, torch.Tensor) else ()
    rank = _rank(fname)
    ones = (1,) * rank
    if fname in _CONVS:
        w, groups = a["weight"], int(a.get("groups", 1) or 1)
        if w.dim() != rank + 2:
            return None
        kernel = tuple(int(k) for k in w.shape[2:])
        dilation = _pair(a.get("dilation"), ones, rank)
        padding = a.get("padding", 0)
        if isinstance(padding, str):          # 'same' / 'valid', resolved as PyTorch does
            padding = resolve_padding(padding, kernel, dilation)
        else:
            padding = _sym(padding, rank)
        if fname.startswith("conv_transpose"):  # weight: (C_in, C_out / groups, *kernel)
            c_in, c_out, kind = int(w.shape[0]), int(w.shape[1]) * groups, "conv_transpose"
        else:                                   # weight: (C_out, C_in / groups, *kernel)
            c_in, c_out, kind = int(w.shape[1]) * groups, int(w.shape[0]), "conv"
        return Layer(index, name, kind, c_in, c_out, kernel, _pair(a.get("stride"), ones, rank),
                     padding, dilation, groups, a.get("bias") is not None, output_shape=shape)
    if fname == "linear":
        w = a["weight"]
        return Layer(index, name, "linear", int(w.shape[1]), int(w.shape[0]),
                     bias=a.get("bias") is not None, output_shape=shape)
    if fname in _POOLS:
        kernel = _pair(a["kernel_size"], None, rank)
        stride = _pair(a.get("stride"), None, rank) or kernel   # stride None or []: the kernel
        padding = _sym(a.get("padding", 0), rank)
        x = a["input"]
        if (not any(v for p in padding for v in p) and isinstance(x, torch.Tensor)
                and x.dim() == rank + 2 and kernel == tuple(x.shape[2:])):
            # one window over the whole map: global
            kind = "global_maxpool" if fname.startswith("max") else "global_avgpool"
            return Layer(index, name, kind, output_shape=shape)
        common = dict(kernel=kernel, stride=stride, padding=padding,
                      ceil_mode=bool(a.get("ceil_mode", False)), output_shape=shape)
        if fname.startswith("max"):
            return Layer(index, name, "maxpool", dilation=_pair(a.get("dilation"), ones, rank),
                         **common)
        return Layer(index, name, "avgpool",
                     count_include_pad=bool(a.get("count_include_pad", True)), **common)
    if fname in _ADAPTIVE:
        size = a["output_size"]
        x = a["input"]
        size = tuple(int(x.shape[2 + i]) if s is None else int(s)
                     for i, s in enumerate(_pair_none(size, rank)))
        kind = "avg" if "avg" in fname else "max"
        if set(size) == {1}:
            return Layer(index, name, f"global_{kind}pool", output_shape=shape)
        return Layer(index, name, f"adaptive_{kind}pool", output_size=size, output_shape=shape)
    if fname in ("mean", "amax"):
        x = a["input"]
        dims = a.get("dim")
        if not isinstance(x, torch.Tensor) or not 3 <= x.dim() <= 5 or dims is None:
            return None
        dims = sorted(d % x.dim() for d in (dims if isinstance(dims, (list, tuple)) else [dims]))
        if dims != list(range(2, x.dim())):
            return None
        return Layer(index, name, "global_avgpool" if fname == "mean" else "global_maxpool",
                     output_shape=shape)
    if fname == "interpolate":
        x = a["input"]
        size = tuple(shape[2:]) if len(shape) >= 3 else None
        return Layer(index, name, "upsample", output_size=size,
                     mode=str(a.get("mode", "nearest")), output_shape=shape)
    if fname == "batch_norm":
        return "batchnorm"
    if fname == "local_response_norm":
        return f"lrn({int(a['size'])})"
    return None


def _pair_none(v, rank: int = 2):
    if isinstance(v, (list, tuple)):
        return tuple(v) if len(v) == rank else (v[0],) * rank
    return (v,) * rank


class _Recorder(TorchFunctionMode):
    def __init__(self, stack: list[str]):
        super().__init__()
        self.stack = stack
        self.calls: list[tuple[str, dict, Any, str]] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        fname = getattr(func, "__name__", "")
        fname = _ALIASES.get(fname, fname)
        if fname in _PARAMS:
            if isinstance(out, tuple) and out and isinstance(out[0], torch.Tensor):
                out = out[0]                          # (values, indices) of pooling
            self.calls.append((fname, _bind(fname, args, kwargs), out,
                               self.stack[-1] if self.stack else ""))
        return out


def extract(module: nn.Module, inputs: Sequence[torch.Tensor] | torch.Tensor) -> list[Layer]:
    """Run ``module`` once (no grad, its current mode) and return its comparable layers in
    execution order."""
    return run_recorded(module, inputs)[0]


def run_recorded(module: nn.Module, inputs: Sequence[torch.Tensor] | torch.Tensor,
                 inside: Any = None) -> tuple[list[Layer], Any]:
    """Like :func:`extract`, also returning the module's output; ``inside`` is an optional
    context manager (e.g. a FlopCounterMode) active during the same forward pass."""
    import contextlib
    if isinstance(inputs, torch.Tensor):
        inputs = (inputs,)
    stack: list[str] = []
    leaves = {name for name, m in module.named_modules() if not any(True for _ in m.children())}
    handles = []

    def enter(name):
        def hook(mod, args):
            stack.append(name)          # returns None: the input is left alone
        return hook

    def leave(mod, args, out):
        if stack:
            stack.pop()                 # returns None: the output is left alone

    for name, sub in module.named_modules():
        if name:
            handles.append(sub.register_forward_pre_hook(enter(name)))
            handles.append(sub.register_forward_hook(leave))
    recorder = _Recorder(stack)
    try:
        with torch.no_grad(), inside or contextlib.nullcontext(), recorder:
            out = module(*inputs)
    finally:
        for h in handles:
            h.remove()
    return _layers(recorder.calls, leaves), out


def _layers(calls: Iterable[tuple[str, dict, Any, str]], leaves: set[str]) -> list[Layer]:
    layers: list[Layer] = []
    pending_pad: tuple[tuple[int, int], ...] | None = None
    for fname, a, out, owner in calls:
        name = owner if owner in leaves else f"{owner}.{fname}" if owner else fname
        if fname == "pad":
            pad = tuple(int(p) for p in a["pad"])
            if a.get("mode", "constant") == "constant" and not a.get("value") and len(pad) % 2 \
                    == 0:                                # F.pad's order: last dim first
                pending_pad = tuple((pad[i], pad[i + 1]) for i in range(0, len(pad), 2))[::-1]
            continue
        item = _layer_of(fname, a, out, len(layers), name)
        if item is None:
            continue
        if isinstance(item, str):                      # a normalization: attach to the last layer
            if layers:
                last = layers[-1]
                norm = item if last.norm == "none" else f"{last.norm}+{item}"
                layers[-1] = replace(last, norm=norm)
            else:
                layers.append(Layer(0, name, "norm", norm=item))
            continue
        if pending_pad is not None and item.padding is not None \
                and len(pending_pad) == len(item.padding):
            item = replace(item, padding=tuple((lo + plo, hi + phi) for (lo, hi), (plo, phi)
                                               in zip(item.padding, pending_pad)))
        pending_pad = None
        layers.append(item)
    return layers


# ------------------------------------------------------------------------------------------------
# Alignment
# ------------------------------------------------------------------------------------------------
GAP = 1.0          # leaving one layer unmatched
MATCH = 0.2        # matching two layers of one family that differ
PER_ATTRIBUTE = 0.1


def differences(a: Layer, b: Layer) -> list[tuple[str, Any, Any]]:
    """(attribute, value in a, value in b) for every compared attribute that differs. Between
    layers of different kinds (a max and an average pooling) only the attributes both have."""
    out = []
    for attr, _ in ATTRIBUTES:
        x, y = getattr(a, attr), getattr(b, attr)
        if x != y and (a.kind == b.kind or attr == "kind" or (x is not None and y is not None)):
            out.append((attr, x, y))
    return out


def _key(layer: Layer) -> tuple:
    """The compared attributes of a layer (equal keys: the same layer)."""
    return (layer.family,) + tuple(getattr(layer, attr) for attr, _ in ATTRIBUTES)


def _cost(a: Layer, b: Layer) -> float:
    if a.family != b.family:
        return 3 * GAP                     # never cheaper than leaving both out
    diff = differences(a, b)
    if not diff:
        return 0.0
    return min(MATCH + PER_ATTRIBUTE * len(diff), 2 * GAP - 0.01)


@dataclass(frozen=True)
class Step:
    """One line of an alignment: both layers (same or changed), or one of them only."""
    left: Layer | None
    right: Layer | None
    changes: tuple[tuple[str, Any, Any], ...] = ()

    @property
    def status(self) -> str:
        if self.left is None:
            return "inserted"
        if self.right is None:
            return "removed"
        return "changed" if self.changes else "same"


def align(left: Sequence[Layer], right: Sequence[Layer]) -> list[Step]:
    """Global alignment of two layer lists (Needleman–Wunsch); ties prefer matching."""
    n, m = len(left), len(right)
    lkeys = [_key(x) for x in left]
    rkeys = [_key(x) for x in right]
    if lkeys == rkeys:                                 # the same structure: nothing to align
        return [Step(a, b) for a, b in zip(left, right)]
    costs: dict[tuple, float] = {}                     # layers repeat: cost once per key pair

    def cost_of(i: int, j: int) -> float:
        pair = (lkeys[i], rkeys[j])
        c = costs.get(pair)
        if c is None:
            c = costs[pair] = _cost(left[i], right[j])
        return c
    inf = float("inf")
    cost = [[inf] * (m + 1) for _ in range(n + 1)]
    move = [[0] * (m + 1) for _ in range(n + 1)]     # 0 match, 1 left only, 2 right only
    cost[0][0] = 0.0
    for i in range(n + 1):
        row, prev = cost[i], cost[i - 1] if i else None
        for j in range(m + 1):
            if i == 0 and j == 0:
                continue
            best, how = inf, 0
            if i and j:
                best = prev[j - 1] + cost_of(i - 1, j - 1)
            # on ties: match, then "right only" (traced back first, so it prints after the
            # "left only" steps next to it)
            if j and row[j - 1] + GAP < best - 1e-12:
                best, how = row[j - 1] + GAP, 2
            if i and prev[j] + GAP < best - 1e-12:
                best, how = prev[j] + GAP, 1
            row[j], move[i][j] = best, how
    steps: list[Step] = []
    i, j = n, m
    while i or j:
        how = move[i][j]
        if i and j and how == 0:
            a, b = left[i - 1], right[j - 1]
            steps.append(Step(a, b, tuple(differences(a, b))))
            i, j = i - 1, j - 1
        elif i and (how == 1 or not j):
            steps.append(Step(left[i - 1], None))
            i -= 1
        else:
            steps.append(Step(None, right[j - 1]))
            j -= 1
    steps.reverse()
    return steps


@dataclass
class StructureDiff:
    """The alignment of two layer lists and what differs."""
    left_name: str
    right_name: str
    steps: list[Step] = field(default_factory=list)

    @property
    def differing(self) -> list[Step]:
        return [s for s in self.steps if s.status != "same"]

    @property
    def same(self) -> bool:
        return not self.differing

    def summary(self) -> list[tuple[str, int, list[str]]]:
        """Differences grouped: (description, number of layers, layer names), most frequent first.
        A description is ``kernel 5×5 → 3×3`` for a change, ``only in <side>: <layer>`` else."""
        groups: dict[str, list[str]] = {}
        for s in self.differing:
            if s.status == "changed":
                for attr, x, y in s.changes:
                    key = f"{LABELS[attr]} {show(attr, x)} → {show(attr, y)}"
                    groups.setdefault(key, []).append(s.left.name)
            elif s.status == "removed":
                groups.setdefault(f"only in {self.left_name}: {s.left.kind}", []).append(
                    s.left.name)
            else:
                groups.setdefault(f"only in {self.right_name}: {s.right.kind}", []).append(
                    s.right.name)
        return sorted(((k, len(v), v) for k, v in groups.items()), key=lambda g: -g[1])


def show(attr: str, value: Any) -> str:
    """An attribute value as a report prints it."""
    if value is None:
        return "-"
    if attr in ("kernel", "output_size"):
        return _hw(value)
    if attr in ("stride", "dilation"):
        return _hw(value, True)
    if attr == "padding":
        return _pad(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def diff_structures(left: Sequence[Layer], right: Sequence[Layer], left_name: str = "left",
                    right_name: str = "right") -> StructureDiff:
    return StructureDiff(left_name, right_name, align(left, right))
