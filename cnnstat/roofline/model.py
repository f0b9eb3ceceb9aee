"""The roofline model of one analysed network on one device (Williams, Waterman & Patterson 2009,
"Roofline: an insightful visual performance model for multicore architectures", CACM 52(4)).

For every layer, from cnnstat's own records (nothing is measured here):

- work: FLOPs = 2 × MACs (cnnstat.convention.flops) of the kinds the analysis counts. The
  conv/linear multiply-adds ("weight" MACs) run at the device's matrix peak for the dtype; every
  other counted kind (bias, norm, activation, pool, element-wise, resize) at its vector peak:
  ``compute = matrix FLOPs / matrix peak + other FLOPs / vector peak``.
- traffic (:data:`BYTES_CONVENTION`): the layer reads each input and its weights once and writes
  its output once, at the dtype's element size; nothing stays in a cache between layers.
  ``memory = bytes / bandwidth``.
- arithmetic intensity = FLOPs / bytes; predicted time = max(compute, memory); the layer is
  compute-bound when the compute term is the larger.

Whole model: predicted latency = Σ layer times + launches × per-launch overhead, one launch per
layer that is not a view (eager PyTorch runs one kernel per layer; views run none).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..analyze import DTYPE_BYTES, LayerRecord
from ..convention import flops
from ..ops.base import WEIGHT, numel
from .profiles import DeviceProfile, canonical_dtype

if TYPE_CHECKING:  # pragma: no cover
    from ..analyze import Analysis

#: operators that move no data and launch no kernel in the running module (a contiguous input is
#: viewed, not copied): identity, dropout and stochastic depth at inference, flatten and reshape
#: of a contiguous tensor, slice and chunk (strided views)
VIEW_OPS = frozenset({"identity", "dropout", "stochastic_depth", "flatten", "reshape", "slice",
                      "chunk"})

BYTES_CONVENTION = ("bytes: each layer reads its inputs and its weights (parameters and buffers) "
                    "once and writes its output once, at the dtype, with no reuse through caches "
                    "between layers; views (identity, dropout, stochastic depth, flatten, reshape, "
                    "slice, chunk) move nothing and launch nothing")
TIME_CONVENTION = ("time per layer = max(FLOPs / peak FLOP/s, bytes / bandwidth) (Williams, "
                   "Waterman & Patterson 2009); conv/linear FLOPs at the matrix peak of the dtype, "
                   "other counted work at the vector peak; whole model = sum over layers + "
                   "launches × overhead, one launch per layer that is not a view")

COMPUTE, MEMORY, VIEW = "compute", "memory", "view"


def _is_convolution(op: str) -> bool:
    """Convolutions run through cuDNN (TF32 by default for fp32); linear layers through cuBLAS."""
    return "conv" in op


@dataclass(frozen=True, slots=True)
class LayerCost:
    """What one layer must compute and move, as integers."""
    name: str
    op: str
    matrix_flops: int       # 2 × conv/linear MACs
    vector_flops: int       # 2 × the other counted MACs
    weight_bytes: int       # parameters + buffers at the dtype (a shared layer reads its owner's)
    input_bytes: int
    output_bytes: int
    view: bool

    @property
    def flops(self) -> int:
        return self.matrix_flops + self.vector_flops

    @property
    def bytes(self) -> int:
        return self.weight_bytes + self.input_bytes + self.output_bytes

    @property
    def intensity(self) -> float | None:
        """FLOP per byte; None for a layer that moves nothing."""
        return self.flops / self.bytes if self.bytes else None


def layer_cost(record: LayerRecord, element_bytes: int, counted_kinds: tuple[str, ...],
               owner: LayerRecord | None = None) -> LayerCost:
    """The cost of one layer under :data:`BYTES_CONVENTION`."""
    view = record.op in VIEW_OPS
    weights = owner if owner is not None else record
    matrix = flops(record.macs_by_kind.get(WEIGHT, 0)) if WEIGHT in counted_kinds else 0
    vector = flops(sum(record.macs_by_kind.get(k, 0) for k in counted_kinds if k != WEIGHT))
    if view:
        return LayerCost(record.name, record.op, matrix, vector, 0, 0, 0, True)
    return LayerCost(
        record.name, record.op, matrix, vector,
        weight_bytes=(weights.params + weights.buffers) * element_bytes,
        input_bytes=sum(numel(s) for s in record.input_shapes) * element_bytes,
        output_bytes=record.activations * element_bytes,
        view=False,
    )


@dataclass(frozen=True, slots=True)
class LayerPrediction:
    cost: LayerCost
    compute_s: float
    memory_s: float
    matrix_unit: str           # which matrix peak applied: fp32, tf32, fp16, bf16

    @property
    def time_s(self) -> float:
        return max(self.compute_s, self.memory_s)

    @property
    def bound(self) -> str:
        if self.cost.view:
            return VIEW
        return COMPUTE if self.compute_s > self.memory_s else MEMORY

    @property
    def attained_flops(self) -> float | None:
        """FLOP/s the layer reaches at its predicted time (on the roof by construction)."""
        return self.cost.flops / self.time_s if self.time_s > 0 and self.cost.flops else None


@dataclass(frozen=True)
class Prediction:
    model: str
    profile: DeviceProfile
    dtype: str
    batch: int
    tf32: bool
    layers: tuple[LayerPrediction, ...]

    @property
    def launches(self) -> int:
        return sum(1 for p in self.layers if not p.cost.view)

    @property
    def overhead_s(self) -> float:
        return self.launches * self.profile.launch_overhead

    @property
    def layers_s(self) -> float:
        return sum(p.time_s for p in self.layers)

    @property
    def total_s(self) -> float:
        """Predicted latency of one forward pass of the batch."""
        return self.layers_s + self.overhead_s

    @property
    def flops(self) -> int:
        return sum(p.cost.flops for p in self.layers)

    @property
    def bytes(self) -> int:
        return sum(p.cost.bytes for p in self.layers)

    def time_by_bound(self) -> dict[str, float]:
        out = {COMPUTE: 0.0, MEMORY: 0.0}
        for p in self.layers:
            if p.bound in out:
                out[p.bound] += p.time_s
        return out

    def by_operator(self) -> list[dict]:
        """Predicted time per operator, largest first: where the time goes, and why."""
        groups: dict[str, dict] = {}
        for p in self.layers:
            g = groups.setdefault(p.cost.op, {"op": p.cost.op, "layers": 0, "flops": 0,
                                              "bytes": 0, "time_s": 0.0, COMPUTE: 0, MEMORY: 0,
                                              VIEW: 0})
            g["layers"] += 1
            g["flops"] += p.cost.flops
            g["bytes"] += p.cost.bytes
            g["time_s"] += p.time_s
            g[p.bound] += 1
        return sorted(groups.values(), key=lambda g: (-g["time_s"], g["op"]))

    def to_dict(self) -> dict:
        """JSON: base units (FLOPs, bytes, seconds); conventions stated."""
        return {
            "model": self.model, "profile": self.profile.to_dict(), "dtype": self.dtype,
            "batch": self.batch, "tf32_convolutions": self.tf32,
            "conventions": {"bytes": BYTES_CONVENTION, "time": TIME_CONVENTION},
            "totals": {"flops": self.flops, "bytes": self.bytes, "layers_s": self.layers_s,
                       "launches": self.launches, "overhead_s": self.overhead_s,
                       "predicted_s": self.total_s,
                       "compute_bound_s": self.time_by_bound()[COMPUTE],
                       "memory_bound_s": self.time_by_bound()[MEMORY]},
            "layers": [{"name": p.cost.name, "op": p.cost.op, "flops": p.cost.flops,
                        "matrix_flops": p.cost.matrix_flops, "vector_flops": p.cost.vector_flops,
                        "weight_bytes": p.cost.weight_bytes, "input_bytes": p.cost.input_bytes,
                        "output_bytes": p.cost.output_bytes, "bytes": p.cost.bytes,
                        "intensity": p.cost.intensity, "compute_s": p.compute_s,
                        "memory_s": p.memory_s, "predicted_s": p.time_s, "bound": p.bound,
                        "matrix_peak": p.matrix_unit}
                       for p in self.layers],
        }


def predict(analysis: "Analysis", profile: DeviceProfile, *, tf32: bool = True) -> Prediction:
    """The roofline prediction of every layer of ``analysis`` that runs in its mode (its batch,
    dtype and counting convention) on ``profile``."""
    dtype = canonical_dtype(analysis.dtype)
    element = DTYPE_BYTES[dtype]
    profile.matrix_peak(dtype, convolution=False, tf32=False)   # a dtype it lacks: one error
    kinds = analysis.convention.kinds
    by_name = analysis.by_name
    out = []
    for record in analysis.running:
        owner = by_name.get(record.shares) if record.shares else None
        cost = layer_cost(record, element, kinds, owner)
        conv = _is_convolution(record.op)
        if cost.matrix_flops:
            peak, unit = profile.matrix_peak(dtype, convolution=conv, tf32=tf32)
        else:
            peak, unit = 0.0, "-"
        compute = (cost.matrix_flops / peak if cost.matrix_flops else 0.0) \
            + (cost.vector_flops / profile.vector if cost.vector_flops else 0.0)
        memory = cost.bytes / profile.bandwidth
        out.append(LayerPrediction(cost, compute, memory, unit))
    return Prediction(analysis.name, profile, dtype, analysis.batch, tf32, tuple(out))
