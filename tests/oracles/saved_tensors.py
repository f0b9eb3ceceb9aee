"""The CPU oracle of training memory: what autograd really keeps, and the live bytes over a step.

``measure(module, inputs)`` runs one real forward and backward of an ``nn.Module`` and records:

- **every tensor autograd saves for backward** (``torch.autograd.graph.saved_tensors_hooks``):
  its shape, dtype and bytes; the module that was running when it was saved (forward pre/post
  hooks on every submodule); the autograd node and field that hold it (``ConvolutionBackward0``
  ``_saved_input``: read back by walking the graph after the forward, each field's unpack hook
  naming its node); and the aten op that created its storage (a ``TorchDispatchMode`` watching
  every op's outputs).
- **deduplicated by storage**: ``(untyped_storage().data_ptr(), device)`` is a storage's key and
  ``untyped_storage().nbytes()`` its bytes. Views of one storage (``flatten``, ``weight.t()``, a
  slice) count once, and a tensor saved by two nodes (a ReLU's output, saved by the ReLU and by
  the next convolution) counts once. Each storage is attributed to the **first layer (in forward
  order) that saved it**. Storages are kept alive by the oracle until the forward ends, so a key
  is never reused by another tensor while it is recorded.
- **classified**: ``parameter`` (a storage of ``module.parameters()``: conv and linear weights
  saved by their op; not an activation), ``buffer`` (batch norm's running statistics), ``cast``
  (a copy of a parameter made by ``aten._to_copy`` under autocast: the low-precision weight a
  convolution saves), else ``activation`` (the input, layer outputs, masks, indices, statistics,
  copies made by reshape of non-contiguous tensors ...).
- **the live tensor bytes over forward + backward** (:class:`LiveBytes`): every storage returned
  by an aten op (seen by the dispatch mode) is added when it first appears and removed when it
  is freed (``StorageWeakRef.expired()``, polled at every op); the storages alive before the step
  (parameters, buffers, gradients, optimizer state, inputs) are the baseline. The peak is
  sampled at op boundaries, so it misses what a kernel allocates and frees inside one call
  (oneDNN scratch buffers, the intermediates of a fused kernel) and allocator rounding; it sees
  every tensor a Python or C++ caller holds between ops, including the autograd engine's
  gradient buffers. ``profiler_peak`` cross-checks it against the CPU allocator's own count
  (``torch.profiler`` with ``profile_memory=True``), which does see kernel temporaries.

The oracle lives in tests/ (not in the package): it is how cnnstat's memory model is checked,
never how it computes. Nothing here changes the module's mode: call ``module.train()`` first.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

import torch
from torch.multiprocessing.reductions import StorageWeakRef
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

ACTIVATION, PARAMETER, BUFFER, CAST = "activation", "parameter", "buffer", "cast"
_CAST_OPS = {"aten._to_copy.default"}
_COPY_OPS = {"aten.clone.default", "aten.contiguous.default", "aten._unsafe_view.default"}


def storage_key(t: torch.Tensor) -> tuple[int, str]:
    return (t.untyped_storage().data_ptr(), str(t.device))


def storage_bytes(t: torch.Tensor) -> int:
    return t.untyped_storage().nbytes()


@dataclass
class SavedTensor:
    """One tensor saved for backward, in the order autograd saved it."""
    seq: int
    module: str                  # the layer running when it was saved ('' outside any)
    node: str                    # the autograd node holding it, e.g. 'ConvolutionBackward0'
    field: str                   # that node's field, e.g. '_saved_input'
    shape: tuple[int, ...]
    dtype: str                   # 'float32', 'int64', 'bool', ...
    nbytes: int                  # numel * element size of this tensor (a view's own bytes)
    key: tuple[int, str]         # its storage
    storage_nbytes: int          # bytes of the whole storage
    kind: str                    # activation | parameter | buffer | cast
    made_by: str                 # aten op that created the storage ('' = before the step)


@dataclass
class Storage:
    """One deduplicated storage: bytes counted once, at the first layer that saved it."""
    key: tuple[int, str]
    nbytes: int
    kind: str
    layer: str
    node: str
    field: str
    dtype: str
    shape: tuple[int, ...]
    made_by: str
    savers: list[tuple[str, str]] = field(default_factory=list)   # (layer, node) of every save


@dataclass
class OracleResult:
    saved: list[SavedTensor]
    storages: list[Storage]          # in first-save order
    live: "LiveBytes | None" = None

    def bytes_of(self, kind: str = ACTIVATION) -> int:
        return sum(s.nbytes for s in self.storages if s.kind == kind)

    @property
    def activation_bytes(self) -> int:
        return self.bytes_of(ACTIVATION)

    def by_layer(self, kind: str = ACTIVATION) -> dict[str, int]:
        """Deduplicated bytes per layer (each storage at its first saver), in forward order."""
        out: dict[str, int] = {}
        for s in self.storages:
            if s.kind == kind:
                out[s.layer] = out.get(s.layer, 0) + s.nbytes
        return out

    def describe(self, kind: str | None = None) -> list[str]:
        return [f"{s.layer:30s} {s.node:28s} {s.field:18s} {s.dtype:9s} {str(list(s.shape)):22s} "
                f"{s.nbytes:>10d} {s.kind} (made by {s.made_by or 'caller'})"
                for s in self.storages if kind is None or s.kind == kind]


class _ModuleStack:
    """Forward pre/post hooks on every submodule: the layer running at any moment."""

    def __init__(self, module: torch.nn.Module, layers: Iterable[str] | None):
        self.names = {m: n for n, m in module.named_modules()}
        self.layers = set(layers) if layers is not None else None
        self.stack: list[str] = []
        self.handles = []
        for m in self.names:
            self.handles.append(m.register_forward_pre_hook(self._push))
            self.handles.append(m.register_forward_hook(self._pop, always_call=True))

    def _push(self, m, args):
        self.stack.append(self.names[m])

    def _pop(self, m, args, out):
        self.stack.pop()

    def current(self) -> str:
        """The innermost running module, or with ``layers`` the innermost one that is a layer."""
        for name in reversed(self.stack):
            if self.layers is None or name in self.layers:
                return name
        return ""

    def close(self):
        for h in self.handles:
            h.remove()


class LiveBytes(TorchDispatchMode):
    """Live tensor storages at aten-op granularity (see the module docstring).

    ``baseline`` tensors (weights, gradients, optimizer state, inputs) are live from the start;
    ``peak`` is the largest sum of live storage bytes seen at an op boundary, ``timeline`` the
    sum after every op (with the op's name) when ``keep_timeline``. ``made_by`` maps a storage
    key to the op that created it, and ``module_of`` to the layer running at the time."""

    def __init__(self, baseline: Iterable[torch.Tensor] = (), modules: _ModuleStack | None = None,
                 keep_timeline: bool = False):
        super().__init__()
        self.live: dict[tuple[int, str], tuple[StorageWeakRef, int]] = {}
        self.made_by: dict[tuple[int, str], str] = {}
        self.inputs_of: dict[tuple[int, str], list[tuple[int, str]]] = {}
        self.module_of: dict[tuple[int, str], str] = {}
        self.modules = modules
        self.total = 0
        self.peak = 0
        self.peak_at = ""
        self.timeline: list[tuple[str, int]] | None = [] if keep_timeline else None
        for t in baseline:
            self._add(t, "")
        self.baseline_bytes = self.total
        self.peak = self.total

    def _add(self, t: Any, op: str, inputs: list | None = None) -> None:
        if not isinstance(t, torch.Tensor) or t.device.type == "meta":
            return
        storage = t.untyped_storage()
        if storage.data_ptr() == 0 or storage.nbytes() == 0:
            return
        key = (storage.data_ptr(), str(t.device))
        known = self.live.get(key)
        if known is not None and not known[0].expired():
            return
        if known is not None:                       # the address was freed and reused
            self.total -= known[1]
        self.live[key] = (StorageWeakRef(storage), storage.nbytes())
        self.total += storage.nbytes()
        self.made_by[key] = op
        self.inputs_of[key] = inputs or []
        if self.modules is not None:
            self.module_of[key] = self.modules.current()

    def _collect(self) -> None:
        dead = [k for k, (ref, _) in self.live.items() if ref.expired()]
        for k in dead:
            self.total -= self.live.pop(k)[1]

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        self._collect()
        ins = [storage_key(a) for a in tree_flatten((args, kwargs))[0]
               if isinstance(a, torch.Tensor) and a.device.type != "meta"]
        name = str(func)
        for t in tree_flatten(out)[0]:
            self._add(t, name, ins)
        if self.total > self.peak:
            self.peak, self.peak_at = self.total, name
        if self.timeline is not None:
            self.timeline.append((name, self.total))
        return out

    def now(self) -> int:
        self._collect()
        return self.total


def measure(module: torch.nn.Module, inputs: Sequence[torch.Tensor] | torch.Tensor, *,
            loss: Callable[[Any], torch.Tensor] | None = None,
            layers: Iterable[str] | None = None,
            autocast: contextlib.AbstractContextManager | None = None,
            baseline: Iterable[torch.Tensor] = (),
            backward: bool = True, keep_timeline: bool = False) -> OracleResult:
    """Run forward (and backward) once, recording saved tensors and live bytes.

    loss: output → scalar; default: :func:`mean_loss` (saves nothing).
    layers: names of the modules to attribute saves to (the innermost running one of them);
        default: the innermost running module.
    autocast: a context manager entered around the forward (e.g. ``torch.autocast("cpu",
        dtype=torch.bfloat16)``).
    baseline: more tensors alive before the step (gradients, optimizer state) for the live bytes;
        parameters, buffers and inputs are always included."""
    inputs = (inputs,) if isinstance(inputs, torch.Tensor) else tuple(inputs)
    params = {storage_key(p): name for name, p in module.named_parameters()}
    buffers = {storage_key(b): name for name, b in module.named_buffers()}
    stack = _ModuleStack(module, layers)
    live = LiveBytes(list(module.parameters()) + list(module.buffers()) + list(inputs)
                     + list(baseline), stack, keep_timeline)
    packed: list[tuple[int, str, torch.Tensor]] = []   # (handle, module, tensor) in save order
    where: dict[int, tuple[str, str]] = {}   # handle -> (node, field), filled by the graph walk
    reading: list[tuple[str, str]] = [("", "")]

    def pack(t: torch.Tensor) -> "_Packed":
        # The graph holds the _Packed (and so the tensor) exactly as long as it would hold the
        # tensor: released with its node during backward, so the live bytes stay faithful.
        handle = len(packed)
        packed.append((handle, stack.current(), _Meta.of(t)))
        return _Packed(handle, t)

    def unpack(box: "_Packed") -> torch.Tensor:
        if box.handle not in where:
            where[box.handle] = reading[0]
        return box.tensor

    def forward() -> torch.Tensor:
        # the output is not held once the loss is computed (as in a training loop)
        with autocast or contextlib.nullcontext():
            out = module(*inputs)
        return loss(out) if loss is not None else mean_loss(out)

    try:
        with live, torch.autograd.graph.saved_tensors_hooks(pack, unpack):
            value = forward()
        _walk_graph(value.grad_fn, reading)
        saved = _saved_list(packed, where, params, buffers, live)
        storages = _dedup(saved)
        if backward:
            with live:
                value.backward()
    finally:
        stack.close()
    return OracleResult(saved, storages, live)


def mean_loss(out: Any) -> torch.Tensor:
    """The loss cnnstat's memory model assumes: the sum of the float32 means of the outputs
    (a mean saves nothing for backward)."""
    parts = [t.float().mean() for t in tree_flatten(out)[0] if isinstance(t, torch.Tensor)]
    total = parts[0]
    for p in parts[1:]:
        total = total + p
    return total


def _walk_graph(root, reading: list[tuple[str, str]]) -> None:
    """Read every ``_saved_*`` field of every autograd node once, so the unpack hook learns which
    node and field hold each packed tensor."""
    seen: set[int] = set()
    todo = [root]
    while todo:
        node = todo.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        for attr in dir(node):
            if attr.startswith("_saved_"):
                reading[0] = (node.name(), attr)
                try:
                    getattr(node, attr)
                except RuntimeError:         # a field already freed or not a tensor
                    pass
        todo.extend(fn for fn, _ in node.next_functions)
    reading[0] = ("", "")


class _Packed:
    __slots__ = ("handle", "tensor")

    def __init__(self, handle: int, tensor: torch.Tensor):
        self.handle, self.tensor = handle, tensor


@dataclass(frozen=True)
class _Meta:
    """What the oracle keeps of a saved tensor (not the tensor: the graph owns that)."""
    shape: tuple[int, ...]
    dtype: str
    nbytes: int
    key: tuple[int, str]
    storage_nbytes: int

    @staticmethod
    def of(t: torch.Tensor) -> "_Meta":
        has_storage = t.device.type != "meta" and t.untyped_storage().data_ptr() != 0
        return _Meta(tuple(t.shape), str(t.dtype).replace("torch.", ""),
                     t.numel() * t.element_size(), storage_key(t),
                     storage_bytes(t) if has_storage else 0)


def _saved_list(packed, where, params, buffers, live: LiveBytes) -> list[SavedTensor]:
    out = []
    for handle, module, m in packed:
        node, fld = where.get(handle, ("?", "?"))
        made = live.made_by.get(m.key, "")
        if m.key in params:
            kind = PARAMETER
        elif m.key in buffers:
            kind = BUFFER
        elif made in _CAST_OPS and any(k in params for k in live.inputs_of.get(m.key, ())):
            kind = CAST
        else:
            kind = ACTIVATION
        out.append(SavedTensor(handle, module, node, fld, m.shape, m.dtype, m.nbytes, m.key,
                               m.storage_nbytes, kind, made))
    return out


def _dedup(saved: list[SavedTensor]) -> list[Storage]:
    storages: dict[tuple[int, str], Storage] = {}
    for s in sorted(saved, key=lambda s: s.seq):
        if s.storage_nbytes == 0:
            continue
        known = storages.get(s.key)
        if known is None:
            known = storages[s.key] = Storage(s.key, s.storage_nbytes, s.kind, s.module, s.node,
                                              s.field, s.dtype, s.shape, s.made_by)
        known.savers.append((s.module, s.node))
    return list(storages.values())


def profiler_peak(step: Callable[[], Any]) -> int:
    """Peak bytes the CPU allocator held during ``step()`` beyond what it held before, from the
    profiler's memory events (every allocation and free, kernel temporaries included)."""
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        step()
    events = [e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]
    deltas = sorted((e.start_ns(), _event_bytes(e)) for e in events)
    live = peak = 0
    for _, delta in deltas:
        live += delta
        peak = max(peak, live)
    return peak


def _event_bytes(event) -> int:
    value = getattr(event, "nbytes", None)
    if callable(value):
        return int(value())
    return int(event.extra_meta().get("Bytes", 0)) if hasattr(event, "extra_meta") else 0


def per_layer_table(result: OracleResult) -> dict[str, dict[str, int]]:
    """{layer: {kind: deduplicated bytes}} in forward order."""
    table: dict[str, dict[str, int]] = defaultdict(dict)
    for s in result.storages:
        table[s.layer][s.kind] = table[s.layer].get(s.kind, 0) + s.nbytes
    return dict(table)


# -- one operator at a time ----------------------------------------------------------------------
@dataclass(frozen=True)
class OpSaved:
    """A deduplicated storage one operator saved, named by what it is to the operator."""
    role: str        # 'input0', 'input1', ..., 'output' (the op's result, or an in-place input),
                     # 'new' (a tensor made inside the op), 'cast(input0)' (an autocast copy of an
                     # input), 'param', 'cast(param)', 'buffer'
    dtype: str
    shape: tuple[int, ...]
    nbytes: int
    node: str
    field: str


def op_saved(module: torch.nn.Module, inputs: Sequence[torch.Tensor], *,
             autocast: contextlib.AbstractContextManager | None = None) -> tuple[list[OpSaved], Any]:
    """What one module (one operator) saves when its inputs require grad, and its output."""
    inputs = tuple(inputs)
    keys = [storage_key(t) for t in inputs]
    captured = {}

    def loss(out):
        captured["out"] = out
        return tree_flatten(out)[0][0].float().mean()

    result = measure(module, inputs, loss=loss, autocast=autocast, backward=False)
    out = tree_flatten(captured["out"])[0][0]
    out_key = storage_key(out)
    rows = []
    for s in result.storages:
        if s.kind == PARAMETER:
            role = "param"
        elif s.kind == BUFFER:
            role = "buffer"
        elif s.kind == CAST:
            role = "cast(param)"
        elif s.key == out_key:
            role = "output"
        elif s.key in keys:
            role = f"input{keys.index(s.key)}"
        else:
            sources = [keys.index(k) for k in result.live.inputs_of.get(s.key, ()) if k in keys]
            role = "new"
            if sources and s.made_by in _CAST_OPS:
                role = f"cast(input{sources[0]})"
            elif sources and s.made_by in _COPY_OPS:
                role = f"copy(input{sources[0]})"
        rows.append(OpSaved(role, s.dtype, s.shape, s.nbytes, s.node, s.field))
    return rows, captured["out"]
