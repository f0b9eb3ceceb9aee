"""Layer graph → per-layer records → totals. Integers throughout; rendering happens elsewhere.

Every node of the graph (except the input) becomes one :class:`LayerRecord` computed by its
operator rule. Totals are sums of the records' columns, nothing else (a test checks it), with two
whole-graph figures that are not sums: the output shapes and the peak of live activation memory.

The mode: at inference (the default) layers marked ``train_only`` (auxiliary classifiers) do not
run — their records are listed, and their parameters and buffers count, as torch counts a model's
parameters in any mode, but their work (MACs, connections, activations) is in no total and their
outputs are no outputs; ``train=True`` (``--train``) counts them as well. Every other layer is
counted the same way in both modes.
"""

from __future__ import annotations

import gc
from contextlib import contextmanager
from dataclasses import dataclass, field, fields as dataclass_fields
from functools import cached_property
from typing import Any, Mapping

from . import receptive
from .convention import Convention, flops
from .errors import CnnstatError, ShapeError
from .graph import Graph, Node, block_path
from .ops import REGISTRY
from .ops.base import MAC_KINDS, Shape, evaluate, numel
from .presenting import Displayable, shown
from .receptive import RF

DTYPE_BYTES = {"fp32": 4, "float32": 4, "fp16": 2, "float16": 2, "bf16": 2, "bfloat16": 2,
               "fp64": 8, "float64": 8, "int8": 1, "uint8": 1}


@dataclass(slots=True)
class LayerRecord:
    """One layer's figures (integers) and receptive field, as the analysis computed them."""
    index: int
    name: str
    op: str
    inputs: tuple[str, ...]
    input_shapes: tuple[Shape, ...]
    output_shape: Shape
    params: int
    trainable_params: int
    buffers: int
    connections: int
    macs_by_kind: dict[str, int]
    macs: int
    activations: int          # elements of the output tensor, batch included
    attrs: Mapping[str, Any]
    file: str | None = None
    line: int | None = None
    shares: str | None = None     # weights reused from this layer (counted there)
    _rf: RF | None = field(default=None, repr=False, compare=False)
    _fields: "_ReceptiveFields | None" = field(default=None, repr=False, compare=False)
    train_only: bool = False      # runs only in training (graph.Node.train_only)

    @property
    def rf(self) -> RF:
        """The receptive field of the layer's output (computed for all layers on first use)."""
        if self._rf is None and self._fields is not None:
            self._fields.compute()
        return self._rf

    @property
    def flops(self) -> int:
        return flops(self.macs)

    @property
    def description(self) -> str:
        """The layer as PyTorch prints the equivalent module."""
        text = REGISTRY[self.op].describe(self.attrs, self.input_shapes)
        return f"{text} (weights shared with {self.shares})" if self.shares else text

    @property
    def transfer(self):
        """The layer's receptive-field transfer (one per input for merges): its rule's windows."""
        return self._fields.transfers[self.index]

    @property
    def group(self) -> tuple[str, ...]:
        """The enclosing block path (graph.block_path)."""
        return block_path(self.name)


@dataclass(slots=True)
class Totals:
    """The model's totals: sums of the layer records (tested), and the peak of live memory."""
    params: int
    trainable_params: int
    buffers: int
    macs: int
    connections: int
    activations: int
    activation_bytes: int
    peak_activations: int
    peak_activation_bytes: int
    input_elements: int
    layers: int
    macs_by_kind: dict[str, int] = field(default_factory=dict)

    @property
    def flops(self) -> int:
        return flops(self.macs)


class Analysis(Displayable):
    """The result of analysing one model at one input shape, batch size and convention.

    In a notebook it displays as the report's summary and layer table (cnnstat.display)."""

    def __init__(self, graph: Graph, records: list[LayerRecord], *, batch: int,
                 convention: Convention, dtype: str, input_shape: Shape,
                 input_rf_size: tuple[int, ...], train: bool = False):
        self.graph = graph
        self.records = records
        self.batch = batch
        self.convention = convention
        self.dtype = dtype
        self.input_shape = input_shape      # (C, *spatial): (C, L), (C, H, W), (C, D, H, W)
        self.input_rf_size = input_rf_size  # the spatial sizes: what receptive fields measure
        self.train = train                  # training mode: train_only layers run too

    @property
    def rank(self) -> int:
        """The input's spatial rank: 1 (C, L), 2 (C, H, W) or 3 (C, D, H, W)."""
        return len(self.input_shape) - 1

    @property
    def axes(self) -> tuple[str, ...]:
        """The names of the input's spatial axes (what receptive fields are measured along)."""
        from .ops.base import spatial_axes
        return spatial_axes(self.rank)

    @property
    def mode(self) -> str:
        return "training" if self.train else "inference"

    def runs(self, record: LayerRecord) -> bool:
        """Whether the layer runs in this analysis' mode (every layer but the training-only ones
        at inference)."""
        return self.train or not record.train_only

    @cached_property
    def running(self) -> list[LayerRecord]:
        """The records of the layers that run in this mode: the ones the work totals sum."""
        return [r for r in self.records if self.runs(r)]

    @cached_property
    def train_only(self) -> list[LayerRecord]:
        """The records of the layers that run only in training (whatever the mode)."""
        return [r for r in self.records if r.train_only]

    @cached_property
    def train_only_heads(self) -> dict[str, list[LayerRecord]]:
        """The training-only layers by head: the outermost block (name prefix) whose layers are
        all training-only (``AuxLogits``; ``aux1``, ``aux2``), in graph order."""
        total: dict[str, int] = {}
        marked: dict[str, int] = {}
        for r in self.records:
            for key in block_path(r.name) + (r.name,):
                total[key] = total.get(key, 0) + 1
                marked[key] = marked.get(key, 0) + r.train_only
        heads: dict[str, list[LayerRecord]] = {}
        for r in self.train_only:
            head = next(k for k in block_path(r.name) + (r.name,) if total[k] == marked[k])
            heads.setdefault(head, []).append(r)
        return heads

    @property
    def outputs(self) -> tuple[str, ...]:
        """The model's outputs in this mode (at inference, not those of training-only heads)."""
        return tuple(o for o in self.graph.outputs if self.runs(self.by_name[o]))

    @property
    def name(self) -> str:
        return self.graph.name

    @property
    def dtype_bytes(self) -> int:
        return DTYPE_BYTES[self.dtype]

    @cached_property
    def by_name(self) -> dict[str, LayerRecord]:
        return {r.name: r for r in self.records}

    def at(self, *, batch: int | None = None, train: bool | None = None) -> "Analysis":
        """The same model analysed at ``batch`` in the mode ``train`` (each default: this
        analysis'); the analysis itself when it is that."""
        batch = self.batch if batch is None else batch
        train = self.train if train is None else train
        if batch == self.batch and train == self.train:
            return self
        return analyze_graph(self.graph, batch=batch, convention=self.convention,
                             dtype=self.dtype, train=train)

    def record(self, name: str) -> LayerRecord:
        return self.by_name[name]

    def unit_field(self, layer: str, unit: tuple[int, ...] | None = None,
                   precision: str = "float32"):
        """The exact input units (rows and columns of an image; per axis) one unit of ``layer``
        depends on (default: its centre unit): see cnnstat.unit_field."""
        from .unit_field import unit_field
        return unit_field(self, layer, unit, precision)

    def exact_field(self, layer: str, unit: tuple[int, ...] | None = None):
        """Where ``layer``'s receptive field is an envelope (fractional strides), the exact field
        of one of its units (default: the centre one; :meth:`unit_field`, ``cnnstat rf --at``);
        None where the field is exact, the layer's output is not a feature map, or a layer on
        the way has no exact rule."""
        record = self.by_name[layer]
        if record.rf.exact or len(record.output_shape) != self.rank + 2:
            return None
        try:
            return self.unit_field(layer, unit)
        except CnnstatError:                   # a layer without an exact rule on the way
            return None

    @cached_property
    def centre_field(self):
        """The exact field of the first output's centre unit where its receptive field is an
        envelope (:meth:`exact_field`), else None: the facts above every table name it."""
        return self.exact_field(self.outputs[0])

    @property
    def output_shapes(self) -> list[Shape]:
        return [self.by_name[o].output_shape for o in self.outputs]

    @cached_property
    def totals(self) -> Totals:
        """Parameters and buffers: every layer's (the model holds them in any mode); work and
        activations: the layers that run in this mode."""
        everything, rows = self.records, self.running
        by_kind = {k: sum(r.macs_by_kind.get(k, 0) for r in rows) for k in MAC_KINDS}
        acts = sum(r.activations for r in rows)
        peak = peak_live_elements(self.graph, rows, self.batch * numel(self.input_shape),
                                  self.outputs)
        return Totals(
            params=sum(r.params for r in everything),
            trainable_params=sum(r.trainable_params for r in everything),
            buffers=sum(r.buffers for r in everything),
            macs=sum(r.macs for r in rows),
            connections=sum(r.connections for r in rows),
            activations=acts,
            activation_bytes=acts * self.dtype_bytes,
            peak_activations=peak,
            peak_activation_bytes=peak * self.dtype_bytes,
            input_elements=self.batch * numel(self.input_shape),
            layers=len(everything),
            macs_by_kind=by_kind,
        )

    # -- presented by the layers above (cnnstat.presenting; cnnstat.display, cnnstat.plots) -------
    @property
    def layers(self):
        """One row per layer as a pandas DataFrame (pandas is imported on first use)."""
        return shown("analysis.frame", self)

    def to_dict(self) -> dict:
        """The JSON contract (docs/json.md)."""
        return shown("analysis.dict", self)

    def __repr__(self) -> str:
        return shown("analysis.line", self)

    def _display_blocks(self) -> list:
        return shown("analysis.blocks", self)

    def table(self, columns=None, depth: int | None = None):
        """The layer table with chosen columns (``"layer,params,macs"``, a list of keys or a view
        name: summary, params, shapes, flops, rf, full) and ``depth`` (blocks collapsed)."""
        return shown("analysis.table", self, columns, depth)

    def plot_layers(self):
        """Parameters and multiply-adds per layer (a matplotlib Figure, shown inline)."""
        return shown("analysis.plot_layers", self)

    def plot_memory(self):
        """Activation memory per layer and the memory alive while each runs (a Figure)."""
        return shown("analysis.plot_memory", self)

    def plot_rf(self):
        """Receptive-field size and effective stride against depth (a Figure)."""
        return shown("analysis.plot_rf", self)

    def memory(self, train: bool = False, *, optimizer: str = "adamw", dtype: str = "fp32",
               amp: bool = False, master_weights: bool = False, checkpoint=None,
               device: str = "cuda", batch: int | None = None, fit=None,
               device_profile: str | None = None):
        """The memory of inference or of one training step (``train=True``): per layer and the
        peak, a :class:`cnnstat.memory.MemoryReport` (docs/memory.md; no torch). ``fit`` (bytes
        or "80GiB") or ``device_profile`` ("h100") adds the largest batch for inference and for
        training (``report.fit``). Same options as ``cnnstat memory``."""
        from .memory.api import memory
        return memory(self, train=train, optimizer=optimizer, dtype=dtype, amp=amp,
                      master_weights=master_weights, checkpoint=checkpoint, device=device,
                      batch=batch, fit=fit, device_profile=device_profile)

    def view(self, depth: int | None = None, metric: str = "macs", height: int = 640):
        """The interactive layer graph (cnnstat view), shown inside the notebook; ``.save(path)``
        writes it as a file."""
        return shown("analysis.view", self, depth, metric, height)


def peak_live_elements(graph: Graph, records: list[LayerRecord], input_elements: int,
                       outputs=None) -> int:
    """Largest number of activation elements alive at once when the layers run in graph order and
    each tensor is freed after its last reader (outputs stay alive). The input counts."""
    return max([sum(_input_elements(graph, input_elements).values())]
               + live_elements(graph, records, input_elements, outputs))


def _input_elements(graph: Graph, first: int) -> dict[str, int]:
    """Elements of each input, ``first`` the first input's (batch included): a model with several
    inputs (an imported module's image and tokens) holds each at its own size."""
    per = numel(graph.input_shape)
    return {name: first * numel(graph[name].attrs["shape"]) // per for name in graph.inputs}


def live_elements(graph: Graph, records: list[LayerRecord], input_elements: int,
                  outputs=None) -> list[int]:
    """Activation elements alive while each of ``records`` runs (its inputs and its output), in
    graph order, when each tensor is freed after its last reader; ``outputs`` (default: the
    graph's) stay alive. Pass the records and outputs of the mode (Analysis.running, .outputs)."""
    last_use: dict[str, int] = {}
    for i, r in enumerate(records):
        for src in r.inputs:
            last_use[src] = i
    keep = set(graph.outputs if outputs is None else outputs)
    sizes = _input_elements(graph, input_elements)
    live = sum(sizes.values())
    profile = []
    for i, r in enumerate(records):
        sizes[r.name] = r.activations
        live += r.activations
        profile.append(live)
        for src in set(r.inputs):
            if last_use.get(src) == i and src not in keep:
                live -= sizes[src]
        if r.name not in last_use and r.name not in keep:
            live -= r.activations
    return profile


def analyze_graph(graph: Graph, *, batch: int = 1, convention: Convention | None = None,
                  dtype: str = "fp32", train: bool = False) -> Analysis:
    """Run every layer's rule in topological order. An input size that a network with
    fixed-size layers refuses is one error naming the sizes it takes (cnnstat.input_sizes)."""
    from .errors import UsageError
    if not isinstance(batch, int) or isinstance(batch, bool) or batch <= 0:
        raise UsageError(f"batch size must be a positive integer, got {batch!r}")
    if dtype not in DTYPE_BYTES:
        from .suggest import did_you_mean
        raise UsageError(f"unknown dtype '{dtype}'{did_you_mean(dtype, DTYPE_BYTES)}; choose from "
                         f"{', '.join(DTYPE_BYTES)}")
    convention = convention or Convention()
    if not isinstance(train, bool):
        raise UsageError(f"train must be True or False, got {train!r}")
    try:
        with collector_paused():
            return _analyze(graph, batch, convention, dtype, train)
    except ShapeError as exc:
        from .input_sizes import refusal
        raise refusal(graph, exc, lambda g: _analyze(g, batch, convention, dtype, train)) from None


def analyze_model(model: Any, input: Any = None, *, batch: int = 1, set: Any = None,
                  variant: str | None = None, count: Any = None, dtype: str = "fp32",
                  args: Any = None, train: bool = False) -> Analysis:
    """A model by name, file, reference, module or graph → its analysis (:func:`cnnstat.analyze`,
    which documents the arguments; the report, compare and sweep builders call this)."""
    from .models import resolve_graph
    convention = count if isinstance(count, Convention) else Convention.parse(count)
    graph = resolve_graph(model, input=input, set=set, variant=variant, args=args)
    return analyze_graph(graph, batch=batch, convention=convention, dtype=dtype, train=train)


def _analyze(graph: Graph, batch: int, convention: Convention, dtype: str,
             train: bool = False) -> Analysis:
    shapes: dict[str, Shape] = {}
    records: list[LayerRecord] = []
    transfers: list[Any] = []
    # Rules are pure: a layer repeated with the same arguments on the same shapes (the blocks of
    # a stage) is evaluated once per analysis.
    memo: dict[tuple, tuple] = {}
    kinds = graph.layer_kinds
    inputs: list[str] = []
    fields = _ReceptiveFields(inputs, records, transfers, ())
    shape_of, add_record, add_transfer = shapes.__getitem__, records.append, transfers.append
    for node in graph:
        if node.op == "input":
            shape = tuple(node.attrs["shape"])
            shapes[node.name] = (batch,) + shape
            if not inputs:           # receptive fields are measured on the first input
                fields.input_sizes = tuple(shape[1:])
            inputs.append(node.name)
            continue
        in_shapes = tuple(map(shape_of, node.inputs))
        key = (kinds[node.name], in_shapes)
        known = memo.get(key)
        if known is None:
            known = memo[key] = _counts(node, in_shapes, convention)
        counts, transfer = known
        if node.shares:   # the weights are counted once, at the layer that owns them
            counts = tuple(0 if name in _HELD else value for name, value in zip(_COUNTED, counts))
        # positional, in the order _RECORD_FIELDS checks (keywords cost 3x on this hot path)
        add_record(LayerRecord(len(records), node.name, node.op, node.inputs, in_shapes, *counts,
                               node.attrs, node.file, node.line, node.shares, None, fields,
                               node.train_only))
        shapes[node.name] = counts[0]
        add_transfer(transfer)
    return Analysis(graph, records, batch=batch, convention=convention, dtype=dtype,
                    input_shape=shapes[inputs[0]][1:], input_rf_size=fields.input_sizes,
                    train=train)


class _ReceptiveFields:
    """The receptive fields of an analysis' records, propagated through the whole graph on the
    first request of any of them: analyses that only count (shapes, parameters, MACs) skip it."""

    __slots__ = ("inputs", "records", "transfers", "input_sizes")

    def __init__(self, inputs, records, transfers, input_sizes):
        self.inputs, self.records, self.transfers, self.input_sizes = \
            inputs, records, transfers, input_sizes

    def compute(self) -> None:
        start = receptive.input_rf(len(self.input_sizes))
        rfs: dict[str, RF] = {name: start for name in self.inputs}
        with collector_paused():
            for record, transfer in zip(self.records, self.transfers):
                rf = receptive.propagate([rfs[src] for src in record.inputs], transfer,
                                         self.input_sizes)
                rfs[record.name] = record._rf = rf


@contextmanager
def collector_paused():
    """Python's cycle collector paused while an analysis builds its records and fields, and
    restored as it was afterwards (also on an error). What these loops allocate is acyclic and
    lives as long as the analysis, so the collector's passes over it free nothing, yet they cost
    more per layer the larger the heap grows: with them, the time per layer of a 30,000-layer
    network was about twice a 1,000-layer one's (benchmarks/bench.py, depth); without, within
    1.2x. Nested use is harmless: only the outermost pause re-enables."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


#: LayerRecord's fields a rule fills (_counts, by name), and those a layer that shares another's
#: weights leaves at zero
_COUNTED = ("output_shape", "params", "trainable_params", "buffers", "connections",
            "macs_by_kind", "macs", "activations")
_HELD = frozenset({"params", "trainable_params", "buffers"})
#: LayerRecord's fields in the order _analyze passes them: checked once, at import
_RECORD_FIELDS = ("index", "name", "op", "inputs", "input_shapes", *_COUNTED, "attrs", "file",
                  "line", "shares", "_rf", "_fields", "train_only")
if tuple(f.name for f in dataclass_fields(LayerRecord)) != _RECORD_FIELDS:     # pragma: no cover
    raise ImportError("LayerRecord's fields changed: update _RECORD_FIELDS and _analyze")


def _counts(node: Node, in_shapes: tuple[Shape, ...], convention: Convention
            ) -> tuple[tuple, Any]:
    """(a layer's counted LayerRecord fields, named in _COUNTED and given in that order; its
    receptive-field transfer), or its one-line error. Records that share these share the
    macs_by_kind mapping: records are read-only."""
    rule = REGISTRY.get(node.op)
    if rule is None:
        raise CnnstatError(f"no rule for operator '{node.op}': cnnstat cannot count this layer",
                           file=node.file, line=node.line, layer=node.name)
    ev = evaluate(rule, node.attrs, in_shapes, file=node.file, line=node.line, layer=node.name)
    counted = dict(output_shape=ev.shape, params=ev.params, trainable_params=ev.trainable or 0,
                   buffers=ev.buffers, connections=ev.connections, macs_by_kind=ev.macs,
                   macs=convention.macs(ev.macs), activations=numel(ev.shape))
    return tuple(counted[name] for name in _COUNTED), ev.rf
