"""Cross-check cnnstat's static numbers against the running model (``cnnstat check MODEL``).

The graph is built as a torch module (``build.build_module``: every node a module at its dotted
name, deterministic random weights) and run once. Then, layer by layer and in total:

- output shape, parameters, trainable parameters and buffers of the running node module
  (forward hooks, ``Module.parameters()``/``buffers()``) against the static analysis;
- MACs against two third-party counters, each converted to cnnstat's convention (1 fused
  multiply-add = 1 MAC, bias adds excluded), kind by kind (``LayerRecord.macs_by_kind``):

  ===================  ============================================================================
  counter              what it counts, and the conversion (docs/check.md has the whole mapping)
  ===================  ============================================================================
  fvcore               ``FlopCountAnalysis`` (fvcore/nn/flop_count.py, jit_handles.py): one "flop"
                       per multiply-add of conv / linear / addmm / matmul / bmm / einsum, bias
                       ignored → kind ``weight`` as is. Batch norm at inference: 2 per element
                       with affine, 1 without (``batchnorm_flop_jit``); batch statistics and
                       layer norm: 5 per element with affine, 4 without (``norm_flop_counter``)
                       → kind ``norm`` ÷ that factor (cnnstat: one folded multiply-add per
                       element). Upsampling nearest 1 / bilinear 4 per output element (2-D maps
                       only) → ``resize`` as is. ``adaptive_avg_pool2d``: 1 per input element →
                       ``pool`` as is
                       where the windows tile the input (else the conventions differ: not
                       compared). No LRN, activations, max/avg pooling or element-wise work.
  FlopCounterMode      ``torch.utils.flop_counter``: 2 FLOPs per multiply-add of convolution /
                       mm / addmm / bmm / baddbmm (``conv_flop_count``, ``mm_flop``; ``addmm``
                       ignores its bias) → kind ``weight`` ÷ 2. Nothing else.
  ===================  ============================================================================

Per layer, the counters' per-module figures are used: ``FlopCountAnalysis.by_module_and_operator``
and FlopCounterMode's module hierarchy (``get_flop_counts``, keyed ``GraphModule.<node name>``).
A node module nested inside another node's module is subtracted from its parent; nodes that share
one module (``Node.shares``) are compared together, at the first of them.

The module runs in the analysis' mode: eval (the default), where layers marked ``train_only``
(auxiliary classifiers) do not run — their parameters are compared, their work is in neither
side's totals — or training (``train=True``, ``--train``), where they run, batch norm uses batch
statistics (so fvcore's norm figure is its 5-per-element estimate) and, since that needs more
than one value per channel, a batch of 1 becomes 2 (stated in the notes).

FlopCounterMode runs in the same forward pass as the hooks, on any device (meta included).
fvcore traces the model with ``torch.jit`` (a second forward pass); it cannot trace meta tensors,
so on ``--device meta`` it is skipped and the report says so. Neither counter monkey-patches torch
(FlopCounterMode is a dispatch mode active only inside its ``with``; fvcore adds hooks for the
trace and removes them), so both run in-process.

Library first: :func:`prepare` (resolve, analyse, build, make inputs — the "build + run" that
timing reuses), :func:`observe`, :func:`run_fvcore`, :func:`compare` and :func:`check`.
"""

from __future__ import annotations

import warnings
from collections import Counter
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Iterable, Sequence

import torch
from torch import nn

from ..analyze import Analysis, LayerRecord, analyze_graph
from ..errors import UsageError
from ..graph import Graph
from ..limits import LimitError
from ..ops.kinds import NORM, POOL, RESIZE, WEIGHT
from ..ops.pool import adaptive_windows
from ..presenting import Displayable, shown
from .build import GraphModule, build_module

FVCORE = "fvcore"
FLOP_COUNTER = "FlopCounterMode"
TORCH = "torch"
COUNTERS = (FVCORE, FLOP_COUNTER)

# What one comparison is about; the MAC quantities are named after cnnstat's kinds.
OUTPUT_SHAPE = "output shape"
PARAMETERS = "parameters"
TRAINABLE = "trainable parameters"
BUFFERS = "buffers"
KIND_QUANTITY = {WEIGHT: "conv+linear MACs", NORM: "normalization MACs", POOL: "pooling MACs",
                 RESIZE: "upsampling MACs"}

# fvcore's operator names (handle names of FlopCountAnalysis's defaults) → cnnstat kind.
FVCORE_KINDS = {
    "conv": WEIGHT, "linear": WEIGHT, "addmm": WEIGHT, "matmul": WEIGHT, "mm": WEIGHT,
    "bmm": WEIGHT, "einsum": WEIGHT,
    "batch_norm": NORM, "group_norm": NORM, "layer_norm": NORM, "instance_norm": NORM,
    "upsample_nearest2d": RESIZE, "upsample_bilinear2d": RESIZE, "grid_sampler": RESIZE,
    "adaptive_avg_pool2d": POOL,
}
# FlopCounterMode's operators (torch/utils/flop_counter.py flop_registry) that are multiply-adds,
# counted as 2 FLOPs each.
FLOP_COUNTER_WEIGHT_OPS = {"convolution", "_convolution", "cudnn_convolution",
                           "convolution_overrideable", "_slow_conv2d_forward", "mm", "addmm",
                           "bmm", "baddbmm", "_scaled_mm"}
FLOPS_PER_MAC_FLOP_COUNTER = 2


# ------------------------------------------------------------------------------------------------
# Results
# ------------------------------------------------------------------------------------------------
@dataclass
class Comparison:
    """One figure of cnnstat's static analysis against the same figure measured on torch."""
    quantity: str             # OUTPUT_SHAPE, PARAMETERS, ..., KIND_QUANTITY[kind]
    source: str               # TORCH, FVCORE, FLOP_COUNTER
    static: Any
    measured: Any             # converted to cnnstat's convention
    raw: str = ""             # the counter's own figure and its conversion, when they differ

    @property
    def ok(self) -> bool:
        return self.static == self.measured


@dataclass
class LayerCheck:
    name: str
    op: str
    description: str
    comparisons: list[Comparison] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: str | None = None
    runs: bool = True             # runs in the check's mode (not a training-only layer in eval)

    @property
    def ok(self) -> bool:
        return self.error is None and all(c.ok for c in self.comparisons)

    def get(self, quantity: str, source: str) -> Comparison | None:
        for c in self.comparisons:
            if c.quantity == quantity and c.source == source:
                return c
        return None


@dataclass
class CounterRun:
    """What one counter measured: raw counts by its own operator names."""
    name: str
    groups: dict[str, dict[str, int]] = field(default_factory=dict)  # group owner → exclusive
    total: dict[str, int] = field(default_factory=dict)              # the whole model
    ignored: dict[str, int] = field(default_factory=dict)            # ops seen, not counted
    skipped: str | None = None


@dataclass(repr=False)
class CheckReport(Displayable):
    """Shows in a notebook as the command's verdict, totals and layer table (cnnstat.display)."""
    model: str
    input_shape: tuple[int, ...]
    batch: int
    device: str
    seed: int
    layers: list[LayerCheck]
    totals: list[Comparison]
    counters: list[CounterRun]
    notes: list[str] = field(default_factory=list)
    error: str | None = None       # torch could not run the model (where and why)
    mode: str = "eval"             # the module's mode: eval or training

    @property
    def ok(self) -> bool:
        return (self.error is None and all(layer.ok for layer in self.layers)
                and all(c.ok for c in self.totals))

    @property
    def differing_layers(self) -> list[LayerCheck]:
        return [layer for layer in self.layers if not layer.ok]

    @property
    def differing_totals(self) -> list[Comparison]:
        return [c for c in self.totals if not c.ok]

    def compared(self) -> dict[str, list[str]]:
        """Source → the quantities compared against it somewhere (for the verdict)."""
        out: dict[str, list[str]] = {}
        for layer in self.layers:
            for c in layer.comparisons:
                qs = out.setdefault(c.source, [])
                if c.quantity not in qs:
                    qs.append(c.quantity)
        return out

    def _display_blocks(self) -> list:
        return shown("check.blocks", self)

    def __repr__(self) -> str:
        return shown("check.line", self)

    def to_dict(self) -> dict:
        def comp(c: Comparison) -> dict:
            return {"quantity": c.quantity, "source": c.source, "static": _plain(c.static),
                    "measured": _plain(c.measured), "agree": c.ok, "raw": c.raw or None}
        return {
            "model": self.model, "input": list(self.input_shape), "batch": self.batch,
            "device": self.device, "seed": self.seed, "mode": self.mode, "agree": self.ok,
            "error": self.error,
            "totals": [comp(c) for c in self.totals],
            "layers": [{"name": layer.name, "op": layer.op, "description": layer.description,
                        "agree": layer.ok, "error": layer.error, "notes": layer.notes,
                        "runs": layer.runs,
                        "comparisons": [comp(c) for c in layer.comparisons]}
                       for layer in self.layers],
            "counters": [{"name": r.name, "skipped": r.skipped, "total": r.total,
                          "ignored": r.ignored} for r in self.counters],
            "notes": self.notes,
        }


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, Fraction):
        return float(value)
    return value


# ------------------------------------------------------------------------------------------------
# Build and run
# ------------------------------------------------------------------------------------------------
def resolve_device(device: str | None) -> str:
    """'cpu', 'meta' or 'cuda' (with a one-line error where CUDA is missing)."""
    device = (device or "cpu").strip().lower()
    if device not in ("cpu", "cuda", "meta") and not device.startswith("cuda:"):
        from ..suggest import did_you_mean
        raise UsageError(f"--device '{device}'{did_you_mean(device, ('cpu', 'cuda', 'meta'))}: "
                         "choose cpu, cuda or meta")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError(f"--device {device}: CUDA is not available on this machine (torch "
                         f"{torch.__version__}); use --device cpu, or meta to check shapes and "
                         "counts without running the arithmetic")
    return device


def example_inputs(graph: Graph, batch: int = 1, device: str = "cpu",
                   seed: int = 0) -> tuple[torch.Tensor, ...]:
    """One deterministic random tensor per graph input (empty tensors on meta)."""
    tensors = []
    for i, name in enumerate(graph.inputs):
        shape = (batch,) + tuple(graph[name].attrs["shape"])
        if device == "meta":
            tensors.append(torch.empty(shape, device="meta"))
        else:
            gen = torch.Generator().manual_seed(seed + i)
            tensors.append(torch.randn(shape, generator=gen).to(device))
    return tuple(tensors)


@dataclass
class Prepared:
    """A model ready to run: its graph, static analysis, module and inputs."""
    graph: Graph
    analysis: Analysis
    module: GraphModule
    inputs: tuple[torch.Tensor, ...]
    device: str
    seed: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def batch(self) -> int:
        return self.analysis.batch

    @property
    def mode(self) -> str:
        return "training" if self.analysis.train else "eval"


#: operators whose training-mode statistics need more than one value per channel
BATCH_STATISTICS = {"batchnorm2d", "batchnorm1d"}


def available_memory() -> int | None:
    """Bytes this process may still allocate: the smaller of the memory the kernel reports
    available (MemAvailable) and what the address-space limit leaves; None if unknown."""
    import os
    import resource
    limits = []
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    limits.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        pass
    try:
        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        if soft != resource.RLIM_INFINITY:
            with open("/proc/self/statm", encoding="ascii") as fh:
                used = int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
            limits.append(max(soft - used, 0))
    except (OSError, ValueError, IndexError, AttributeError):
        pass
    return min(limits) if limits else None


def check_memory(analysis: Analysis, device: str) -> None:
    """Refuse, in one line, a run on the CPU that cannot fit: float32 weights and buffers plus
    the peak of live activations (cnnstat's own figures), against the memory available."""
    if device != "cpu":
        return
    t = analysis.totals
    weights = 4 * (t.params + t.buffers)
    need = weights + t.peak_activation_bytes * 4 // max(analysis.dtype_bytes, 1)
    free = available_memory()
    if free is not None and need > free:
        from ..render.numbers import human_bytes
        raise UsageError(f"running {analysis.name} in torch needs about {human_bytes(need)} "
                         f"(weights {human_bytes(weights)}, activations at batch {analysis.batch} "
                         f"{human_bytes(need - weights)}); {human_bytes(free)} is available: use "
                         "--device meta (shapes and counts without arithmetic), or a smaller "
                         "--input or --batch")


def prepare_graph(graph: Graph, *, batch: int = 1, device: str = "cpu",
                  seed: int = 0, train: bool = False) -> Prepared:
    """Analyse and build a graph in one mode (eval; ``train=True``: training, at a batch of at
    least 2 where the model has batch norm)."""
    device = resolve_device(device)
    notes = []
    if train and batch < 2 and any(n.op in BATCH_STATISTICS for n in graph):
        batch = 2
        notes.append("training mode: batch norm computes batch statistics, which need more than "
                     "one value per channel, so the model runs (and is analysed) at batch 2")
    analysis = analyze_graph(graph, batch=batch, train=train)
    check_memory(analysis, device)
    module = build_module(graph, seed=seed, device=device, batch=batch, train=train)
    return Prepared(graph, analysis, module, example_inputs(graph, batch, device, seed), device,
                    seed, notes)


def prepare(model: Any, *, input: Any = None, batch: int = 1, set: Any = None,
            variant: str | None = None, args: Any = None, device: str = "cpu",
            seed: int = 0, train: bool = False) -> Prepared:
    """Resolve a model (zoo name, definition file, importable model, Graph), analyse it and build
    it as a module with its inputs, in eval mode (``train=True``: training mode)."""
    from ..models import resolve_graph
    if not isinstance(batch, int) or isinstance(batch, bool) or batch <= 0:
        raise UsageError(f"batch size must be a positive integer, got {batch!r}")
    device = resolve_device(device)
    graph = resolve_graph(model, input=input, set=set, variant=variant, args=args)
    return prepare_graph(graph, batch=batch, device=device, seed=seed, train=train)


# ------------------------------------------------------------------------------------------------
# Which nodes share a module, and which node modules sit inside others
# ------------------------------------------------------------------------------------------------
@dataclass
class Groups:
    """Nodes grouped by module object (a shared module is one group, owned by its first node)."""
    owner: dict[str, str]                 # node → owner node of its group
    members: dict[str, list[str]]         # owner → nodes, graph order
    parent: dict[str, str | None]         # owner → owner of the nearest enclosing node module

    @classmethod
    def of(cls, module: GraphModule) -> "Groups":
        by_id: dict[int, str] = {}
        owner: dict[str, str] = {}
        members: dict[str, list[str]] = {}
        for name, mod in module.node_modules.items():
            first = by_id.setdefault(id(mod), name)
            owner[name] = first
            members.setdefault(first, []).append(name)
        names = set(owner)
        parent: dict[str, str | None] = {}
        for first, group in members.items():
            parent[first] = None
            for name in group:
                parts = name.split(".")
                for k in range(len(parts) - 1, 0, -1):
                    prefix = ".".join(parts[:k])
                    if prefix in names and owner[prefix] != first:
                        parent[first] = owner[prefix]
                        break
                if parent[first] is not None:
                    break
        return cls(owner, members, parent)

    def exclusive(self, inclusive: dict[str, Counter]) -> dict[str, dict[str, int]]:
        """Subtract each group's counts from the group whose module encloses it by name (fvcore
        attributes an operator to its module and all the module's ancestors by name)."""
        out = {g: Counter(c) for g, c in inclusive.items()}
        for g, p in self.parent.items():
            if p is not None and g in inclusive and p in out:
                out[p].subtract(inclusive[g])
        return {g: {k: v for k, v in c.items() if v} for g, c in out.items()}


# ------------------------------------------------------------------------------------------------
# Observation: one forward pass with hooks (and FlopCounterMode)
# ------------------------------------------------------------------------------------------------
@dataclass
class Observed:
    shapes: dict[str, tuple[int, ...]]
    params: dict[str, tuple[int, int, int]]      # node → (parameters, trainable, buffers)
    outputs: list[tuple[int, ...]]
    flop_counter: CounterRun | None
    error: str | None = None
    failed_at: str | None = None


def _own_tensors(module: nn.Module, stop: set[int]) -> tuple[int, int, int]:
    """Parameters, trainable parameters and buffers of a module, not descending into the modules
    of other nodes (``stop``)."""
    params: dict[int, torch.Tensor] = {}
    buffers: dict[int, torch.Tensor] = {}
    todo = [module]
    while todo:
        m = todo.pop()
        for p in m.parameters(recurse=False):
            params[id(p)] = p
        for b in m.buffers(recurse=False):
            buffers[id(b)] = b
        todo.extend(c for c in m.children() if id(c) not in stop)
    return (sum(p.numel() for p in params.values()),
            sum(p.numel() for p in params.values() if p.requires_grad),
            sum(b.numel() for b in buffers.values()))


def _shapes_of(output: Any) -> list[tuple[int, ...]]:
    if isinstance(output, torch.Tensor):
        return [tuple(output.shape)]
    if isinstance(output, (tuple, list)):
        return [s for o in output for s in _shapes_of(o)]
    return []


def observe(p: Prepared, flop_counter: bool = True) -> Observed:
    """Run the module once with forward hooks on every node module (and FlopCounterMode)."""
    module, groups = p.module, Groups.of(p.module)
    node_ids = {id(m) for m in module.node_modules.values()}
    calls: dict[int, list[tuple[int, ...]]] = {}
    running: list[str] = []
    handles = []
    seen: set[int] = set()
    for owner, names in groups.members.items():
        mod = module.node_modules[owner]
        if id(mod) in seen:
            continue
        seen.add(id(mod))

        def pre(m, args, names=names):
            running.append(names[len(calls.get(id(m), [])) % len(names)])

        def post(m, args, out):
            calls.setdefault(id(m), []).append(tuple(out.shape) if isinstance(out, torch.Tensor)
                                               else ())
            if running:
                running.pop()
        handles.append(mod.register_forward_pre_hook(pre))
        handles.append(mod.register_forward_hook(post))

    counter_mode = None
    error = failed_at = None
    outputs: list[tuple[int, ...]] = []
    try:
        with torch.no_grad():
            if flop_counter:
                from torch.utils.flop_counter import FlopCounterMode
                counter_mode = FlopCounterMode(display=False)
                with counter_mode:
                    out = module(*p.inputs)
            else:
                out = module(*p.inputs)
        outputs = _shapes_of(out)
    except LimitError:        # --timeout: not a difference, the check did not finish
        raise
    except Exception as exc:  # torch rejected what cnnstat accepted: that is a difference
        failed_at = running[-1] if running else None
        error = f"{type(exc).__name__}: {_first_line(exc)}"
    finally:
        for h in handles:
            h.remove()

    shapes: dict[str, tuple[int, ...]] = {}
    for owner, names in groups.members.items():
        got = calls.get(id(module.node_modules[owner]), [])
        for name, shape in zip(names, got):
            shapes[name] = shape
    params: dict[str, tuple[int, int, int]] = {}
    for name, mod in module.node_modules.items():
        if groups.owner[name] != name:
            params[name] = (0, 0, 0)          # the weights are counted at the owner
        else:
            params[name] = _own_tensors(mod, node_ids - {id(mod)})

    run = None
    if counter_mode is not None and error is None:
        run = _flop_counter_run(counter_mode, module, groups)
    return Observed(shapes, params, outputs, run, error, failed_at)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _flop_counter_run(mode, module: GraphModule, groups: Groups) -> CounterRun:
    counts = mode.get_flop_counts()
    root = type(module).__name__
    inclusive: dict[str, Counter] = {}
    for first, names in groups.members.items():
        c: Counter = Counter()
        for name in names:       # ModuleTracker names a shared module after one of its places
            for op, n in counts.get(f"{root}.{name}", {}).items():
                c[_packet_name(op)] += n
        inclusive[first] = c
    total: Counter = Counter()
    for op, n in counts.get("Global", {}).items():
        total[_packet_name(op)] += n
    # ModuleTracker attributes by call nesting: GraphModule.forward calls every node module
    # itself, so a node's count never includes another node's (no subtraction, unlike fvcore).
    return CounterRun(FLOP_COUNTER, {g: {k: v for k, v in c.items() if v}
                                     for g, c in inclusive.items()}, dict(total))


def _packet_name(op: Any) -> str:
    """'aten.convolution' for the OpOverloadPacket aten.convolution."""
    name = getattr(op, "__name__", None) or str(op)
    return name.split(".")[-1] if "." in name else name


# ------------------------------------------------------------------------------------------------
# fvcore
# ------------------------------------------------------------------------------------------------
def run_fvcore(p: Prepared) -> CounterRun:
    """fvcore's FlopCountAnalysis per node (exclusive) and in total; skipped on meta."""
    if p.device == "meta":
        return CounterRun(FVCORE, skipped="skipped on meta (its JIT trace needs real tensors)")
    module, groups = p.module, Groups.of(p.module)
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")      # torch.jit's deprecation warnings
            from fvcore.nn import FlopCountAnalysis
            analysis = FlopCountAnalysis(module, p.inputs if len(p.inputs) > 1 else p.inputs[0])
            analysis.unsupported_ops_warnings(False)
            analysis.uncalled_modules_warnings(False)
            by_module = analysis.by_module_and_operator()
            total = dict(analysis.by_operator(""))
            ignored = dict(analysis.unsupported_ops(""))
    except LimitError:
        raise
    except Exception as exc:  # a model fvcore's tracer cannot handle: say so, compare the rest
        return CounterRun(FVCORE, skipped=f"could not trace the model ({type(exc).__name__}: "
                                          f"{_first_line(exc)})")
    inclusive = {first: Counter(by_module.get(analysis.canonical_module_name(first), {}))
                 for first in groups.members}
    return CounterRun(FVCORE, groups.exclusive(inclusive), {k: int(v) for k, v in total.items()},
                      {k: int(v) for k, v in ignored.items()})


def fvcore_norm_factor(record: LayerRecord, train: bool = False) -> int | None:
    """fvcore's figure per element of a normalization layer, or None where fvcore has no handle.

    fvcore/nn/jit_handles.py: ``batchnorm_flop_jit`` at inference (running statistics) counts
    2 per element with affine (scale and shift), 1 without; with batch statistics (training or
    track_running_stats=False) it uses ``norm_flop_counter``: 5 per element with affine, 4
    without ("a rough estimate") — as for layer, group and instance norm. cnnstat's rules count 1
    (one folded multiply-add per element), so fvcore's figure ÷ this factor is cnnstat's."""
    a = record.attrs
    affine = bool(a.get("affine", True))
    if record.op in ("batchnorm1d", "batchnorm2d", "batchnorm3d"):
        if a.get("track_running_stats", True) and not train:
            return 2 if affine else 1
        return 5 if affine else 4
    if record.op in ("layernorm", "layernorm2d"):
        return 5 if affine else 4
    return None


def _tiles(record: LayerRecord) -> bool:
    """Whether adaptive average pooling's windows tile the input (no overlap): then fvcore's
    1 per input element equals cnnstat's 1 per window element per output element."""
    sizes = record.input_shapes[0][2:]
    outs = record.output_shape[2:] if len(record.output_shape) > 2 else (1,) * len(sizes)
    return all(adaptive_windows(n, o)[0] == n for n, o in zip(sizes, outs))


def _fvcore_expected(record: LayerRecord, train: bool = False) -> dict[str, int | str]:
    """Kinds fvcore counts at this layer besides ``weight``: kind → conversion factor, or the
    reason the two conventions cannot be compared here."""
    out: dict[str, int | str] = {}
    factor = fvcore_norm_factor(record, train)
    if factor is not None:
        out[NORM] = factor
    image = len(record.input_shapes[0]) == 4     # fvcore's handles are the 2-D ones
    if record.op == "upsample":
        mode = record.attrs.get("mode")
        out[RESIZE] = 1 if mode in ("nearest", "bilinear") and image else \
            f"fvcore has no handle for {mode} upsampling of {len(record.input_shapes[0]) - 2}-D maps"
    if record.op == "adaptive_avgpool2d" or (record.op == "global_avgpool" and image
                                             and record.attrs.get("keepdim", True)):
        out[POOL] = 1 if _tiles(record) else (
            "fvcore counts adaptive average pooling as 1 per input element, cnnstat 1 per window "
            "element per output element: they differ where the windows overlap")
    return out


# ------------------------------------------------------------------------------------------------
# Comparison
# ------------------------------------------------------------------------------------------------
def _convert(raw: int, factor: int) -> int | Fraction:
    return raw // factor if raw % factor == 0 else Fraction(raw, factor)


def _fvcore_comparisons(records: Sequence[LayerRecord], counts: dict[str, int],
                        notes: list[str], train: bool = False) -> list[Comparison]:
    by_kind: dict[str, int] = Counter()
    unknown: dict[str, int] = {}
    for op, n in counts.items():
        kind = FVCORE_KINDS.get(op)
        if kind is None:
            unknown[op] = n
        else:
            by_kind[kind] += n
    static = Counter()
    for r in records:
        static.update(r.macs_by_kind)
    expected = _fvcore_expected(records[0], train)
    out = [Comparison(KIND_QUANTITY[WEIGHT], FVCORE, static[WEIGHT], by_kind.get(WEIGHT, 0))]
    for kind in (NORM, POOL, RESIZE):
        how = expected.get(kind)
        raw = by_kind.get(kind, 0)
        if isinstance(how, str):
            if raw:
                notes.append(f"fvcore {kind} not compared: {how}")
            continue
        if how is None and not raw:
            continue
        factor = how or 1
        measured = _convert(raw, factor)
        text = f"{raw:,} fvcore flops ÷ {factor}" if factor != 1 else ""
        out.append(Comparison(KIND_QUANTITY[kind], FVCORE, static[kind], measured, text))
    for op, n in unknown.items():
        notes.append(f"fvcore counted {n:,} for '{op}', which cnnstat has no kind for")
    return out


def _flop_counter_comparison(records: Sequence[LayerRecord], counts: dict[str, int],
                             notes: list[str]) -> Comparison:
    flops = sum(n for op, n in counts.items() if op in FLOP_COUNTER_WEIGHT_OPS)
    for op, n in counts.items():
        if op not in FLOP_COUNTER_WEIGHT_OPS:
            notes.append(f"FlopCounterMode counted {n:,} FLOPs for aten.{op}, which cnnstat has "
                         "no kind for")
    static = sum(r.macs_by_kind.get(WEIGHT, 0) for r in records)
    return Comparison(KIND_QUANTITY[WEIGHT], FLOP_COUNTER, static,
                      _convert(flops, FLOPS_PER_MAC_FLOP_COUNTER),
                      f"{flops:,} FLOPs ÷ {FLOPS_PER_MAC_FLOP_COUNTER}" if flops else "")


def compare(p: Prepared, observed: Observed, counters: Iterable[CounterRun]) -> CheckReport:
    """Put the static analysis and the observations side by side, layer by layer and in total."""
    counters = [c for c in counters if c is not None]
    groups = Groups.of(p.module)
    layers: list[LayerCheck] = []
    reached = True
    for r in p.analysis.records:
        layer = LayerCheck(r.name, r.op, r.description)
        layers.append(layer)
        if observed.error is not None and (not reached or r.name == observed.failed_at):
            if r.name == observed.failed_at:
                layer.error = f"torch failed here: {observed.error}"
            else:
                layer.notes.append("not run: torch failed at an earlier layer")
            reached = False
            continue
        runs = layer.runs = p.analysis.runs(r)
        if r.name in observed.shapes:
            layer.comparisons.append(Comparison(OUTPUT_SHAPE, TORCH, tuple(r.output_shape),
                                                observed.shapes[r.name]))
            if not runs:
                layer.error = "a training-only layer ran in eval mode"
        elif observed.error is None and runs:
            layer.error = "the node module was never called"
        n_params, n_trainable, n_buffers = observed.params.get(r.name, (0, 0, 0))
        layer.comparisons += [Comparison(PARAMETERS, TORCH, r.params, n_params),
                              Comparison(TRAINABLE, TORCH, r.trainable_params, n_trainable),
                              Comparison(BUFFERS, TORCH, r.buffers, n_buffers)]
        if not runs:
            layer.notes.append("runs only in training: not run in eval mode, its work is in "
                               "neither total (--train runs it)")
            continue
        if r.op == "not_counted":
            layer.notes.append("no cnnstat rule: its work is not counted, so MACs are not compared")
            continue
        owner = groups.owner.get(r.name, r.name)
        if owner != r.name:
            layer.notes.append(f"same module as {owner}: its MACs are compared there")
            continue
        records = [p.analysis.by_name[n] for n in groups.members.get(r.name, [r.name])]
        if len(records) > 1:
            layer.notes.append("MACs of " + ", ".join(x.name for x in records)
                               + " (one module) compared together")
        for run in counters:
            if run.skipped:
                continue
            counts = run.groups.get(r.name, {})
            if run.name == FVCORE:
                layer.comparisons += _fvcore_comparisons(records, counts, layer.notes,
                                                         p.analysis.train)
            else:
                layer.comparisons.append(_flop_counter_comparison(records, counts, layer.notes))
    totals = _totals(p, observed, counters, layers)
    notes = list(p.notes)
    for run in counters:
        if run.skipped:
            notes.append(f"{run.name}: {run.skipped}")
        if run.ignored:
            ops = ", ".join(f"{op} ×{n}" for op, n in sorted(run.ignored.items()))
            notes.append(f"{run.name} saw and did not count: {ops}")
    return CheckReport(p.graph.name, tuple(p.graph.input_shape), p.batch, p.device, p.seed,
                       layers, totals, counters, notes,
                       None if observed.error is None else
                       f"torch failed at layer {observed.failed_at}: {observed.error}", p.mode)


def _totals(p: Prepared, observed: Observed, counters: list[CounterRun],
            layers: list[LayerCheck]) -> list[Comparison]:
    t = p.analysis.totals
    out: list[Comparison] = []
    if observed.error is None:
        out.append(Comparison(OUTPUT_SHAPE, TORCH, [tuple(s) for s in p.analysis.output_shapes],
                              observed.outputs))
    params = {id(x): x for x in p.module.parameters()}
    out += [
        Comparison(PARAMETERS, TORCH, t.params, sum(x.numel() for x in params.values())),
        Comparison(TRAINABLE, TORCH, t.trainable_params,
                   sum(x.numel() for x in params.values() if x.requires_grad)),
        Comparison(BUFFERS, TORCH, t.buffers, sum(b.numel() for b in p.module.buffers())),
    ]
    weight = t.macs_by_kind.get(WEIGHT, 0)
    for run in counters:
        if run.skipped or (run.name == FLOP_COUNTER and observed.error is not None):
            continue
        if run.name == FVCORE:
            raw = sum(n for op, n in run.total.items() if FVCORE_KINDS.get(op) == WEIGHT)
            out.append(Comparison(KIND_QUANTITY[WEIGHT], FVCORE, weight, raw))
            # other kinds: the sums of the per-layer comparisons (conversions are per layer)
            for kind in (NORM, POOL, RESIZE):
                cs = [c for layer in layers for c in layer.comparisons
                      if c.source == FVCORE and c.quantity == KIND_QUANTITY[kind]]
                if cs:
                    out.append(Comparison(KIND_QUANTITY[kind], FVCORE,
                                          sum(c.static for c in cs), sum(c.measured for c in cs),
                                          "sum over the layers compared"))
        else:
            flops = sum(n for op, n in run.total.items() if op in FLOP_COUNTER_WEIGHT_OPS)
            out.append(Comparison(KIND_QUANTITY[WEIGHT], FLOP_COUNTER, weight,
                                  _convert(flops, FLOPS_PER_MAC_FLOP_COUNTER),
                                  f"{flops:,} FLOPs ÷ {FLOPS_PER_MAC_FLOP_COUNTER}"))
    return out


# ------------------------------------------------------------------------------------------------
# Entry points
# ------------------------------------------------------------------------------------------------
def check_prepared(p: Prepared, counters: Iterable[str] = COUNTERS) -> CheckReport:
    counters = tuple(counters)
    unknown = [c for c in counters if c not in COUNTERS]
    if unknown:
        raise UsageError(f"unknown counter(s) {', '.join(unknown)}; choose from "
                         f"{', '.join(COUNTERS)}")
    observed = observe(p, flop_counter=FLOP_COUNTER in counters)
    runs: list[CounterRun] = []
    if observed.flop_counter is not None:
        runs.append(observed.flop_counter)
    elif FLOP_COUNTER in counters:
        runs.append(CounterRun(FLOP_COUNTER, skipped="not run: the forward pass failed"))
    if FVCORE in counters:
        runs.append(run_fvcore(p) if observed.error is None else
                    CounterRun(FVCORE, skipped="not run: the forward pass failed"))
    return compare(p, observed, runs)


def check_graph(graph: Graph, *, batch: int = 1, device: str = "cpu", seed: int = 0,
                counters: Iterable[str] = COUNTERS, train: bool = False) -> CheckReport:
    return check_prepared(prepare_graph(graph, batch=batch, device=device, seed=seed,
                                        train=train), counters)


def check(model: Any, *, input: Any = None, batch: int = 1, set: Any = None,
          variant: str | None = None, args: Any = None, device: str = "cpu", seed: int = 0,
          counters: Iterable[str] = COUNTERS, train: bool = False) -> CheckReport:
    """Build and run a model and compare it with its static analysis, layer by layer:
    ``check("resnet50", input=64).ok``. The module runs in eval mode, as the analysis counts
    by default; ``train=True`` runs both in training mode (auxiliary heads included)."""
    return check_prepared(prepare(model, input=input, batch=batch, set=set, variant=variant,
                                  args=args, device=device, seed=seed, train=train), counters)
