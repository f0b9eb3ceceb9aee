"""Training and inference memory of one model, per layer and over time: pure integer arithmetic
on an analysis' per-layer records and each operator's saved-tensor rule (docs/memory.md).

The model replays one step of PyTorch's eager execution on *storages* (blocks of bytes that
tensors share: a view allocates nothing), each held by named holders and freed when the last
one lets go:

- **always alive** (the step's base): parameters, buffers, the input batch; in training also the
  optimizer state (momentum: 1 tensor per parameter, Adam/AdamW: 2, in the parameters' dtype or
  float32 with master weights), and float32 master weights when the parameters are low precision.
- **forward**, layer by layer in graph order: the output is allocated (unless it is a view of
  an input); autocast's copies of inputs and weights are made where the operator's autocast class
  needs them; in training the operator's saved tensors are held for backward (an input, the
  output, or a tensor it makes). Forward tensors are freed after their last reader unless saved.
  Autocast's cache of weight copies lives until the forward ends.
- **loss**: the mean of each output (saves nothing); its gradient is one output-sized tensor.
- **backward**, in reverse: a layer's backward allocates its inputs' gradients (or passes views
  of its output's gradient: additions, concatenations, views) and, the first time, its
  parameters' gradients, which stay; then it frees its saved tensors and its output's gradient.
  A gradient that reaches a tensor twice (a residual branch point) is accumulated in place.
- **optimizer step**: parameters, gradients and state, plus the step's workspace: PyTorch's
  default multi-tensor (foreach) Adam/AdamW on CUDA makes one parameter-sized temporary
  (``sqrt`` of the second moment); on CPU the single-tensor loop makes one of the largest layer's.
- **activation checkpointing** (per top-level block): a checkpointed segment saves only its
  inputs in forward; its backward first recomputes the segment's forward (saving as usual), at
  the cost of the segment's forward MACs again.

Measured live bytes are the sum over live storages at each step of that schedule; the peak is
their largest. Gradients are set to None before the step (``zero_grad()``'s default), so they
are allocated during backward. Not modelled, stated in every report: kernel workspaces (cuDNN,
cuBLAS, oneDNN scratch), temporaries inside one operator's forward or backward, the CUDA context,
and the caching allocator's rounding (512-byte blocks) and fragmentation.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Sequence

from ..errors import CnnstatError, InternalError, UsageError
from ..graph import name_prefix
from ..presenting import Displayable, shown
from .saved import (DTYPE_BYTES, FP32, INPUT, KEEP, LOWER, NEW, OUTPUT, VIEW, Context, NoRule,
                    OpMemory)

OPTIMIZERS = {"none": 0, "sgd": 0, "momentum": 1, "adam": 2, "adamw": 2}
DTYPES = ("fp32", "bf16", "fp16")
DEVICES = ("cuda", "cpu")
NOT_MODELLED = ("kernel workspaces (cuDNN/cuBLAS/oneDNN)", "temporaries inside one operator",
                "the CUDA context", "allocator rounding and fragmentation")

# categories of live bytes (the breakdown at any point of the schedule)
PARAMETERS, BUFFERS, MASTER, OPTIMIZER = "parameters", "buffers", "master weights", "optimizer state"
GRADIENTS, INPUT_BATCH, SAVED, LIVE = "gradients", "input", "saved activations", "activations"
ACT_GRADS, CASTS, WORKSPACE = "activation gradients", "weight casts", "optimizer workspace"
CATEGORIES = (PARAMETERS, BUFFERS, MASTER, OPTIMIZER, GRADIENTS, INPUT_BATCH, SAVED, LIVE,
              ACT_GRADS, CASTS, WORKSPACE)


@dataclass(frozen=True)
class MemoryOptions:
    """What is being run. ``dtype`` is the parameters' and activations' dtype without ``amp``;
    with ``amp`` the parameters stay float32 and ``torch.autocast`` runs each operator at
    ``dtype`` (bf16 or fp16) or float32 by its autocast class. ``master_weights``: low-precision
    parameters with a float32 master copy (and float32 optimizer state), as Apex O2 / DeepSpeed.
    ``checkpoint``: None, a depth (1 = top-level blocks: the first component of layer names) or
    the names of the blocks to checkpoint. ``device`` picks PyTorch's CUDA or CPU behaviour."""
    train: bool = False
    optimizer: str = "adamw"
    dtype: str = "fp32"
    amp: bool = False
    master_weights: bool = False
    checkpoint: int | tuple[str, ...] | None = None
    device: str = "cuda"
    foreach: bool | None = None        # default: True on CUDA, False on CPU (PyTorch's)
    input_requires_grad: bool = False  # the input batch needs a gradient (saliency, attacks)

    def validated(self) -> "MemoryOptions":
        if self.optimizer not in OPTIMIZERS:
            raise UsageError(f"unknown optimizer '{self.optimizer}'; choose from "
                             f"{', '.join(o for o in OPTIMIZERS if o != 'none')}")
        if self.dtype not in DTYPES:
            raise UsageError(f"unknown dtype '{self.dtype}'; choose from {', '.join(DTYPES)}")
        if self.device not in DEVICES:
            raise UsageError(f"unknown device kind '{self.device}'; choose cuda or cpu")
        if self.amp and self.dtype == "fp32":
            raise UsageError("--amp needs a low-precision --dtype (bf16 or fp16): autocast "
                             "runs eligible operators in that dtype")
        if self.master_weights and (self.amp or self.dtype == "fp32"):
            raise UsageError("master weights go with low-precision parameters (--dtype bf16 or "
                             "fp16 without --amp; under --amp the parameters are float32 already)")
        if isinstance(self.checkpoint, bool) or (
                isinstance(self.checkpoint, int) and self.checkpoint < 1):
            raise UsageError(f"checkpoint depth must be a positive integer, got "
                             f"{self.checkpoint!r}")
        return self

    @property
    def low(self) -> str:
        return self.dtype if self.dtype != "fp32" else "fp32"

    @property
    def param_dtype(self) -> str:
        return "fp32" if self.amp or self.dtype == "fp32" else self.dtype

    @property
    def act_dtype(self) -> str:
        """The input batch's dtype and that of every operator outside autocast."""
        return self.param_dtype

    @property
    def state_dtype(self) -> str:
        return "fp32" if self.master_weights else self.param_dtype

    @property
    def uses_foreach(self) -> bool:
        return self.device == "cuda" if self.foreach is None else self.foreach


@dataclass
class LayerMemory:
    """One layer's bytes. ``saved_bytes``: activations it saves for backward, each storage
    counted once, at the first layer (in forward order) that saves it. ``cast_bytes``: autocast's
    low-precision copies of its weights that it saves."""
    name: str
    op: str
    dtype: str                      # its output's dtype
    output_bytes: int               # its output's new storage (0 for a view)
    param_bytes: int
    buffer_bytes: int
    grad_bytes: int
    optimizer_bytes: int
    master_bytes: int
    saved_bytes: int = 0
    cast_bytes: int = 0
    saved: list[tuple[str, int]] = field(default_factory=list)   # (what, bytes), deduplicated
    counted: bool = True            # False: no saved-tensor rule for its operator
    why_not: str = ""               # when not counted: what is not known (NoRule.why)
    train_only: bool = False        # runs only in training (issue 18): at inference it only
                                    # holds its parameters
    checkpointed: bool = False      # its saved tensors are recomputed in backward
    recomputed_bytes: int = 0       # checkpointed: what it saves when its forward is recomputed


@dataclass(frozen=True)
class Point:
    """Live bytes at one moment of the step (after the named layer's allocations)."""
    phase: str                      # forward, loss, recompute, backward, step
    layer: str
    bytes: int
    parts: tuple[int, ...] = ()     # the bytes by category, in CATEGORIES' order

    def by_category(self) -> dict[str, int]:
        return dict(zip(CATEGORIES, self.parts))


@dataclass(repr=False)
class MemoryReport(Displayable):
    """One step's memory, per layer and over time (``estimate``; ``Analysis.memory``). In a
    notebook it shows its table (cnnstat.display); ``fit``: the largest batches when asked."""
    name: str
    batch: int
    options: MemoryOptions
    layers: list[LayerMemory]
    input_bytes: int
    optimizer_workspace: int
    timeline: list[Point]
    peak: int
    peak_point: Point
    peak_breakdown: dict[str, int]
    recompute_macs: int
    not_counted: list[str]
    fit: Any = None                 # cnnstat.memory.fit.Fits, when a capacity was given
    forward_macs: int = 0           # the forward's MACs (the layers that run), for the share

    # -- presented by the layers above (cnnstat.presenting) ----------------------------------------
    def __repr__(self) -> str:
        return shown("memory.line", self)

    def _display_blocks(self) -> list:
        return shown("memory.blocks", self)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (``cnnstat memory -f json``)."""
        return shown("memory.dict", self)

    def plot_layers(self):
        """Saved activations, parameters, gradients and optimizer state per layer (a Figure)."""
        return shown("memory.plot_layers", self)

    def plot_timeline(self):
        """Live bytes over the step: forward, loss, backward, optimizer step (a Figure)."""
        return shown("memory.plot_timeline", self)

    def _sum(self, attr: str) -> int:
        return sum(getattr(r, attr) for r in self.layers)

    @property
    def parameters(self) -> int:
        return self._sum("param_bytes")

    @property
    def buffers(self) -> int:
        return self._sum("buffer_bytes")

    @property
    def gradients(self) -> int:
        return self._sum("grad_bytes")

    @property
    def optimizer_state(self) -> int:
        return self._sum("optimizer_bytes")

    @property
    def master_weights(self) -> int:
        return self._sum("master_bytes")

    @property
    def saved_activations(self) -> int:
        return self._sum("saved_bytes")

    @property
    def weight_casts(self) -> int:
        return self._sum("cast_bytes")

    @property
    def persistent(self) -> int:
        """What lives through the whole step whatever the batch: weights, buffers, master
        weights, optimizer state."""
        return self.parameters + self.buffers + self.master_weights + self.optimizer_state

    def phase_peak(self, phase: str) -> int:
        return max((p.bytes for p in self.timeline if p.phase == phase), default=0)

    @property
    def limiting(self) -> str:
        """The largest term at the peak."""
        return max(self.peak_breakdown.items(), key=lambda kv: kv[1])[0]

    @property
    def not_modelled(self) -> tuple[str, ...]:
        return NOT_MODELLED


# -- the simulator ---------------------------------------------------------------------------------
class _Storages:
    """Storages with holders; running totals by category."""

    def __init__(self):
        self.size: dict[int, int] = {}
        self.kind: dict[int, str] = {}
        self.holders: dict[int, set[str]] = {}
        self.current: dict[int, str] = {}
        self.by_cat: dict[str, int] = dict.fromkeys(CATEGORIES, 0)
        self.total = 0
        self._next = 0

    def new(self, nbytes: int, kind: str, holder: str) -> int:
        sid = self._next
        self._next += 1
        self.size[sid], self.kind[sid], self.holders[sid] = nbytes, kind, {holder}
        self.total += nbytes
        self._recategorize(sid)
        return sid

    def hold(self, sid: int, holder: str) -> None:
        if sid in self.holders:
            self.holders[sid].add(holder)
            self._recategorize(sid)

    def release(self, sid: int, holder: str) -> None:
        holders = self.holders.get(sid)
        if holders is None or holder not in holders:
            return
        holders.discard(holder)
        if holders:
            self._recategorize(sid)
            return
        self.total -= self.size[sid]
        self.by_cat[self.current.pop(sid)] -= self.size[sid]
        del self.size[sid], self.kind[sid], self.holders[sid]

    def release_all(self, holder: str) -> None:
        for sid in [s for s, h in self.holders.items() if holder in h]:
            self.release(sid, holder)

    def alive(self, sid: int) -> bool:
        return sid in self.holders

    def _recategorize(self, sid: int) -> None:
        kind = self.kind[sid]
        if kind == LIVE and any(h.startswith(("saved:", "ckpt:")) for h in self.holders[sid]):
            kind = SAVED
        old = self.current.get(sid)
        if old != kind:
            if old is not None:
                self.by_cat[old] -= self.size[sid]
            self.by_cat[kind] += self.size[sid]
            self.current[sid] = kind


def _bytes(dtype: str) -> int:
    return DTYPE_BYTES[dtype]


def _widest(dtypes: Iterable[str]) -> str:
    ds = list(dtypes)
    return "fp32" if "fp32" in ds else ds[0]


def checkpoint_segments(records: Sequence[Any], checkpoint: int | Sequence[str] | None
                        ) -> list[tuple[str, int, int]]:
    """(block name, first index, last index) of each checkpointed segment: the runs of
    consecutive layers whose names share their first ``depth`` dotted components (or start with
    one of the given block names), of two layers or more (checkpointing a single layer saves
    nothing)."""
    if checkpoint is None:
        return []
    segments: list[list] = []
    for i, r in enumerate(records):
        if isinstance(checkpoint, int):
            key = name_prefix(r.name, checkpoint) if r.name.count(".") >= checkpoint else None
        else:
            key = next((b for b in checkpoint if r.name == b or r.name.startswith(b + ".")), None)
        if key is not None and segments and segments[-1][0] == key and segments[-1][2] == i - 1:
            segments[-1][2] = i
        elif key is not None:
            segments.append([key, i, i])
    if not isinstance(checkpoint, int):
        missing = [b for b in checkpoint if not any(s[0] == b for s in segments)]
        if missing:
            raise UsageError(f"no layer belongs to checkpoint block '{missing[0]}'")
    return [(k, a, b) for k, a, b in segments if b > a]


def estimate(analysis: Any, options: MemoryOptions | None = None, *,
             rules: Any = None) -> MemoryReport:
    """The memory of one step (training with ``options.train``, else inference) of ``analysis``
    (a cnnstat Analysis: its records, graph and batch). ``rules(record, ctx) -> OpMemory``
    gives each layer's saved-tensor rule (raising NoRule when there is none); default: each
    operator's own (``Op.memory``, cnnstat/ops)."""
    options = (options or MemoryOptions()).validated()
    rules = rules or op_rules
    return _Simulation(analysis, options, rules).run()


def memory_rule(op: str, attrs: Any, inputs: Sequence[tuple[int, ...]],
                output: tuple[int, ...], ctx: Context) -> OpMemory:
    """The saved-tensor rule of operator ``op`` (registered with it: ``Op.memory``), or NoRule
    for an operator cnnstat does not know or that has none."""
    from ..ops import REGISTRY
    rule = REGISTRY.get(op)
    if rule is None:
        raise NoRule(op)
    return rule.memory(attrs, inputs, output, ctx)


def has_rule(op: str) -> bool:
    """Whether the registered operator ``op`` has a saved-tensor rule of its own."""
    from ..ops import REGISTRY
    from ..ops.base import Op
    return op in REGISTRY and type(REGISTRY[op]).memory is not Op.memory


def op_rules(record: Any, ctx: Context) -> OpMemory:
    return memory_rule(record.op, record.attrs, record.input_shapes, record.output_shape, ctx)


class _Simulation:
    def __init__(self, analysis, options: MemoryOptions, rules):
        self.a, self.o, self.rules = analysis, options, rules
        self.records = analysis.records
        # the layers that run in the analysis' mode (issue 18: training-only heads run only in
        # training; at inference they hold their parameters and do nothing)
        self.runs = analysis.runs
        self.outputs = tuple(analysis.outputs)
        self.graph = analysis.graph
        self.s = _Storages()
        self.timeline: list[Point] = []
        self.peak, self.peak_point, self.peak_breakdown = -1, Point("", "", 0), {}
        self.storage: dict[str, int] = {}        # graph tensor -> storage
        self.dtype: dict[str, str] = {}
        self.requires: dict[str, bool] = {}
        self.memo: dict[int, OpMemory | None] = {}
        self.casts: dict[int, int] = {}          # input index -> cast storage, this layer only
        self.cast_inputs: dict[int, str] = {}    # layer -> dtype autocast cast its inputs to
        self.cached: dict[str, tuple[int, int]] = {}   # owner layer -> (saved cast, other cast)
        self.seen_saved: set[int] = set()
        self.seen_recomputed: set[int] = set()
        self.rows: list[LayerMemory] = []
        last: dict[str, int] = {}
        for i, r in enumerate(self.records):
            if self.runs(r):
                for src in r.inputs:
                    last[src] = i
        self.last_use = last
        self.keep = set(self.outputs)
        self.segments = (checkpoint_segments(self.records, options.checkpoint)
                         if options.train else [])
        self.segment_of: dict[int, int] = {}
        for k, (_, first, end) in enumerate(self.segments):
            for i in range(first, end + 1):
                self.segment_of[i] = k

    # -- helpers ---------------------------------------------------------------------------------
    def mark(self, phase: str, layer: str) -> None:
        point = Point(phase, layer, self.s.total,
                      tuple(self.s.by_cat[c] for c in CATEGORIES))
        self.timeline.append(point)
        if self.s.total > self.peak:
            self.peak, self.peak_point = self.s.total, point
            self.peak_breakdown = {k: v for k, v in self.s.by_cat.items() if v}

    def rule(self, i: int, record) -> OpMemory | None:
        if i not in self.memo:
            ctx = Context(train=self.o.train, device=self.o.device,
                          requires_grad=tuple(self.requires.get(s, False) for s in record.inputs),
                          amp=self.o.amp, dtype=self.o.dtype)
            try:
                self.memo[i] = self.rules(record, ctx)
            except NoRule as exc:
                self.memo[i] = None
                self.rows[i].why_not = exc.why
            except CnnstatError as exc:
                raise exc.located(file=record.file, line=record.line, layer=record.name) from None
            except Exception as exc:       # a bug in the saved-tensor rule, not the user's
                raise InternalError.in_rule(f"{record.op} (saved tensors)", record.name, exc,
                                            file=record.file, line=record.line) from exc
        return self.memo[i]

    def compute_dtype(self, rule: OpMemory | None, in_dtypes: list[str]) -> str:
        o = self.o
        if not o.amp:
            return o.act_dtype
        policy = rule.autocast if rule is not None else KEEP
        if policy == LOWER:
            return o.dtype
        if policy == FP32:
            return "fp32"
        mixed = in_dtypes + ([o.param_dtype] if rule is not None and rule.mixes_params else [])
        return _widest(mixed) if mixed else o.act_dtype

    def resolve(self, dtype: str, compute: str) -> str:
        if dtype == "act":
            return compute
        if dtype == "stat":
            return "fp32" if self.o.device == "cuda" else self.o.param_dtype
        return dtype

    # -- the step ----------------------------------------------------------------------------------
    def run(self) -> MemoryReport:
        o, s = self.o, self.s
        pb = _bytes(o.param_dtype)
        n_state = OPTIMIZERS[o.optimizer] if o.train else 0
        for r in self.records:
            trainable = r.trainable_params if o.train else 0
            row = LayerMemory(
                r.name, r.op, o.act_dtype, 0, r.params * pb, _buffer_bytes(r, pb),
                trainable * pb, n_state * trainable * _bytes(o.state_dtype),
                trainable * 4 if o.master_weights and o.train else 0,
                checkpointed=any(a <= r.index <= b for _, a, b in self.segments),
                train_only=r.train_only)
            self.rows.append(row)
            for amount, kind in ((row.param_bytes, PARAMETERS), (row.buffer_bytes, BUFFERS),
                                 (row.optimizer_bytes, OPTIMIZER), (row.master_bytes, MASTER)):
                if amount:
                    s.new(amount, kind, "base")
        input_bytes = 0
        for name in self.graph.inputs:
            elements = self.a.batch * _numel(self.graph[name].attrs["shape"])
            nbytes = elements * _bytes(o.act_dtype)
            input_bytes += nbytes
            self.storage[name] = s.new(nbytes, INPUT_BATCH, "base")
            self.dtype[name], self.requires[name] = o.act_dtype, o.input_requires_grad and o.train
        self.forward()
        workspace = 0
        if o.train:
            self.backward()
            workspace = self.step()
        not_counted = [row.name for row in self.rows if not row.counted]
        recompute = sum(self.records[i].macs for _, a, b in self.segments for i in range(a, b + 1))
        forward = sum(r.macs for r in self.records if self.runs(r))
        return MemoryReport(self.graph.name, self.a.batch, o, self.rows, input_bytes, workspace,
                            self.timeline, self.peak, self.peak_point, self.peak_breakdown,
                            recompute, not_counted, forward_macs=forward)

    def forward(self) -> None:
        for i, r in enumerate(self.records):
            if not self.runs(r):
                continue
            seg = self.segment_of.get(i)
            if seg is not None:
                self.hold_segment_inputs(seg, i, r)
            self.forward_layer(i, r, phase="forward", save=self.o.train and seg is None)
            self.free_after(i, r)
        if self.o.amp:
            self.s.release_all("autocast-cache")

    def hold_segment_inputs(self, seg: int, i: int, r) -> None:
        """A checkpointed segment keeps the tensors it reads from outside until its backward
        (counted as saved by the segment's first layer)."""
        _, first, last = self.segments[seg]
        row = self.rows[first]
        for src in r.inputs:
            producer = self.a.by_name.get(src)
            if producer is not None and first <= producer.index <= last:
                continue
            sid = self.storage[src]
            self.s.hold(sid, f"ckpt:{seg}")
            if sid not in self.seen_saved:
                self.seen_saved.add(sid)
                row.saved_bytes += self.s.size[sid]
                row.saved.append(("checkpointed block input", self.s.size[sid]))

    def forward_layer(self, i: int, r, *, phase: str, save: bool, env: str = "env") -> None:
        o, s = self.o, self.s
        rule = self.rule(i, r)
        row = self.rows[i]
        row.counted = rule is not None
        in_dtypes = [self.dtype[src] for src in r.inputs]
        compute = self.compute_dtype(rule, in_dtypes)
        out_dtype = rule.output_dtype if rule is not None and rule.output_dtype else compute
        self.dtype[r.name] = row.dtype = out_dtype
        needs = any(self.requires[src] for src in r.inputs) or r.trainable_params > 0 \
            or bool(getattr(r, "shares", None))
        self.requires[r.name] = needs
        # the output
        if rule is not None and rule.view_of is not None:
            sid = self.storage[r.inputs[rule.view_of]]
            s.hold(sid, f"{env}:{r.name}")
            if phase == "forward":
                row.output_bytes = 0
        else:
            nbytes = r.activations * _bytes(out_dtype)
            sid = s.new(nbytes, LIVE, f"{env}:{r.name}")
            if phase == "forward":
                row.output_bytes = nbytes
        out_sid = sid
        self.storage[r.name] = sid
        # autocast's copies of inputs (lower / fp32 classes) and of weights
        self.casts = {}
        if o.amp and rule is not None and rule.autocast != KEEP:
            for k, src in enumerate(r.inputs):
                if self.dtype[src] != compute:
                    elements = _numel(r.input_shapes[k])
                    self.casts[k] = s.new(elements * _bytes(compute), LIVE, f"tmp:{i}")
            self.cast_inputs[i] = compute
        weight_cast = None
        if o.amp and rule is not None and (rule.cast_params or rule.cached_params):
            owner = getattr(r, "shares", None) or r.name
            if owner not in self.cached or not s.alive(self.cached[owner][0]):
                low = _bytes(o.dtype)
                pair = (s.new(rule.cast_params * low, CASTS, "autocast-cache"),
                        s.new(rule.cached_params * low, CASTS, "autocast-cache"))
                self.cached[owner] = pair
            weight_cast = self.cached[owner][0]
        # saved tensors
        if save and needs and rule is not None:
            holder = f"saved:{i}"
            for item in rule.saved:
                if item.what == INPUT:
                    sid = self.storage[r.inputs[item.index]]
                    if item.cast:
                        sid = self.casts.get(item.index, sid)
                elif item.what == OUTPUT:
                    sid = out_sid
                else:
                    nbytes = item.elements * _bytes(self.resolve(item.dtype, compute))
                    sid = s.new(nbytes, LIVE, holder)
                s.hold(sid, holder)
                if phase == "recompute" and sid not in self.seen_recomputed:
                    self.seen_recomputed.add(sid)
                    row.recomputed_bytes += s.size[sid]
                if phase == "forward" and sid not in self.seen_saved:
                    self.seen_saved.add(sid)
                    nbytes = s.size[sid]
                    row.saved_bytes += nbytes
                    row.saved.append((item.name or item.what, nbytes))
            if weight_cast is not None and rule.cast_params:
                s.hold(weight_cast, holder)
                if phase == "forward" and weight_cast not in self.seen_saved:
                    self.seen_saved.add(weight_cast)
                    row.cast_bytes += s.size[weight_cast]
        self.mark(phase, r.name)
        s.release_all(f"tmp:{i}")

    def free_after(self, i: int, r, env: str = "env", keep: set[str] | None = None) -> None:
        """Forward liveness: inputs read for the last time, outputs never read."""
        s = self.s
        keep = self.keep if keep is None else keep
        for src in set(r.inputs):
            if self.last_use.get(src) == i and src not in keep and src in self.storage:
                s.release(self.storage[src], f"{env}:{src}")
        if r.name not in self.last_use and r.name not in keep:
            s.release(self.storage[r.name], f"{env}:{r.name}")

    def backward(self) -> None:
        s, o = self.s, self.o
        grads: dict[str, int] = {}
        # the loss: the sum of the float32 means of the outputs (saves nothing). A low-precision
        # output is first copied to float32; the scalar loss lives until the step ends.
        for name in self.outputs:
            if self.dtype[name] != "fp32":
                copy = s.new(_output_elements(self, name) * 4, LIVE, "loss-copy")
                self.mark("loss", name)
                s.release(copy, "loss-copy")
            s.release(self.storage[name], f"env:{name}")
        s.new(4, LIVE, "loss")
        self.mark("loss", "")
        # backward starts from a gradient of ones (one element); the mean's backward spreads it
        # to a float32 tensor of the output's shape, cast back to a low-precision output's dtype
        root = s.new(4, ACT_GRADS, "root")
        for name in self.outputs:
            if not self.requires.get(name):
                continue
            elements = _output_elements(self, name)
            g32 = s.new(elements * 4, ACT_GRADS, f"grad:{name}")
            if self.dtype[name] != "fp32":
                low = s.new(elements * _bytes(self.dtype[name]), ACT_GRADS, f"grad:{name}")
                self.mark("loss", name)
                s.release(g32, f"grad:{name}")
                g32 = low
            grads[name] = g32
        self.mark("loss", "")
        # checkpointed segments hold their inputs from the forward
        done_params: set[str] = set()
        for i in range(len(self.records) - 1, -1, -1):
            r = self.records[i]
            if not self.runs(r):
                continue
            seg = self.segment_of.get(i)
            if seg is not None and self.segments[seg][2] == i:
                self.recompute(seg)
            if not self.requires[r.name] or r.name not in grads:
                s.release_all(f"saved:{i}")
                continue
            rule = self.memo.get(i)
            dy = grads.pop(r.name)
            new_grads: list[tuple[str, int, bool]] = []     # (input, storage, to cast back)
            for k, src in enumerate(r.inputs):
                if not self.requires.get(src):
                    continue
                if rule is not None and rule.input_grad(k) == VIEW:
                    s.hold(dy, f"tmpgrad:{i}")
                    new_grads.append((src, dy, False))
                else:
                    # an input autocast copied gets the copy's dtype first (see below)
                    dtype = self.dtype[src]
                    if i in self.cast_inputs and dtype != self.cast_inputs[i]:
                        dtype = self.cast_inputs[i]
                    nbytes = _numel(r.input_shapes[k]) * _bytes(dtype)
                    new_grads.append((src, s.new(nbytes, ACT_GRADS, f"tmpgrad:{i}"),
                                      dtype != self.dtype[src]))
            if rule is not None and rule.backward_temp:
                nbytes = rule.backward_temp * _bytes(self.dtype[r.name])
                s.new(nbytes, ACT_GRADS, f"bwdtmp:{i}")
            owner = getattr(r, "shares", None) or r.name
            row = self.rows[i] if not getattr(r, "shares", None) else self._row(owner)
            param_grads = row.grad_bytes and owner not in done_params
            cast_grads = None
            if param_grads:
                done_params.add(owner)
                if o.amp and rule and (rule.cast_params or rule.cached_params):
                    # gradients of autocast's low-precision weight and bias copies, cast to
                    # float32 by each copy's backward once this layer's backward is done
                    low = _bytes(o.dtype)
                    cast_grads = [(n, s.new(n * low, ACT_GRADS, f"castgrad:{i}"))
                                  for n in (rule.cast_params, rule.cached_params) if n]
                else:
                    s.new(row.grad_bytes, GRADIENTS, "param-grads")
            self.mark("backward", r.name)
            s.release_all(f"saved:{i}")
            s.release_all(f"bwdtmp:{i}")
            s.release(dy, f"grad:{r.name}")
            if cast_grads is not None:
                # each copy's backward (the weight's, then the bias's) makes its float32 gradient
                # and frees the low-precision one
                weight_bytes = rule.cast_params * _bytes(o.param_dtype)
                parts = [weight_bytes, row.grad_bytes - weight_bytes] if rule.cast_params \
                    else [row.grad_bytes]
                for nbytes, (_, sid) in zip(parts, cast_grads):
                    s.new(nbytes, GRADIENTS, "param-grads")
                    self.mark("backward", r.name)
                    s.release(sid, f"castgrad:{i}")
            for j, (src, sid, cast) in enumerate(new_grads):
                if cast:
                    # the copy's backward casts the gradient back to the input's dtype
                    k = r.inputs.index(src)
                    back = s.new(_numel(r.input_shapes[k]) * _bytes(self.dtype[src]), ACT_GRADS,
                                 f"tmpgrad:{i}")
                    self.mark("backward", r.name)
                    s.release(sid, f"tmpgrad:{i}")
                    new_grads[j] = (src, back, False)
            for src, sid, _ in new_grads:
                if src in grads:
                    # a second gradient for src: the engine adds them out of place (old + new),
                    # after this layer's saved tensors and output gradient are gone
                    k = r.inputs.index(src)
                    total = s.new(_numel(r.input_shapes[k]) * _bytes(self.dtype[src]), ACT_GRADS,
                                  f"grad:{src}")
                    self.mark("backward", r.name)
                    s.release(grads[src], f"grad:{src}")
                    grads[src] = total
                else:
                    grads[src] = sid
                    s.hold(sid, f"grad:{src}")
                s.release(sid, f"tmpgrad:{i}")
            if seg is not None and self.segments[seg][1] == i:
                s.release_all(f"ckpt:{seg}")
        # an input that requires a gradient keeps it (.grad), counted as a new tensor of its
        # shape (PyTorch steals the incoming gradient instead where its layout allows)
        for name in self.graph.inputs:
            if name in grads:
                sid = grads.pop(name)
                own = _output_elements_of_input(self, name) * _bytes(self.dtype[name])
                s.new(own, GRADIENTS, "input-grads")
                self.mark("backward", name)
                s.release(sid, f"grad:{name}")
        for name, sid in grads.items():
            s.release(sid, f"grad:{name}")
        s.release_all("loss")
        s.release(root, "root")

    def recompute(self, seg: int) -> None:
        """Non-reentrant checkpointing: the segment's forward runs again, saving as usual; its
        intermediate tensors are freed after their last reader inside the segment (its outputs,
        already computed in forward, are dropped at once)."""
        _, first, last = self.segments[seg]
        last_inside: dict[str, int] = {}
        for i in range(first, last + 1):
            for src in self.records[i].inputs:
                last_inside[src] = i
        for i in range(first, last + 1):
            r = self.records[i]
            self.forward_layer(i, r, phase="recompute", save=True, env="re")
            for src in set(r.inputs):
                if last_inside.get(src) == i:
                    self.s.release(self.storage[src], f"re:{src}")
            if r.name not in last_inside:
                self.s.release(self.storage[r.name], f"re:{r.name}")
        if self.o.amp:
            self.s.release_all("autocast-cache")

    def step(self) -> int:
        o, s = self.o, self.s
        trainable = sum(r.trainable_params for r in self.records)
        workspace = 0
        if o.optimizer in ("adam", "adamw") and trainable:
            if o.uses_foreach:
                workspace = trainable * _bytes(o.state_dtype)
            else:
                workspace = max(r.trainable_params for r in self.records) * _bytes(o.state_dtype)
        if workspace:
            s.new(workspace, WORKSPACE, "step")
        self.mark("step", "")
        s.release_all("step")
        return workspace

    def _row(self, name: str) -> LayerMemory:
        return next(row for row in self.rows if row.name == name)


def _numel(shape: Sequence[int]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def _output_elements(sim: _Simulation, name: str) -> int:
    return sim.a.by_name[name].activations


def _output_elements_of_input(sim: _Simulation, name: str) -> int:
    return sim.a.batch * _numel(sim.graph[name].attrs["shape"])


def _buffer_bytes(record: Any, param_bytes: int) -> int:
    """Buffers follow the parameters' dtype, except batch norm's num_batches_tracked (int64)."""
    if not record.buffers:
        return 0
    if record.op.startswith("batchnorm"):
        return (record.buffers - 1) * param_bytes + 8
    return record.buffers * param_bytes


def with_batch(analysis: Any, batch: int) -> Any:
    """The same model analysed at another batch size (in the same mode: Analysis.at)."""
    return analysis.at(batch=batch)


def for_mode(analysis: Any, train: bool) -> Any:
    """The analysis in training or inference mode (``Analysis.train``, issue 18: whether the
    training-only layers run; Analysis.at)."""
    return analysis.at(train=train)


__all__ = ["MemoryOptions", "MemoryReport", "LayerMemory", "Point", "estimate",
           "checkpoint_segments", "with_batch", "for_mode", "memory_rule", "has_rule",
           "OPTIMIZERS", "DTYPES", "CATEGORIES", "NOT_MODELLED", "replace"]
