"""Table rows: one per layer, or one per block when collapsed with ``--depth N``.

A collapsed row sums its layers' integers; its output shape and receptive field are those of the
block's last layer (its output). Totals never come from rows here: they come from the records
(cnnstat.analyze.Totals), and tests check both agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..analyze import Analysis, LayerRecord
from ..convention import flops
from ..ops.base import MAC_KINDS, Shape
from ..receptive import RF


@dataclass(slots=True)
class Row:
    index: int
    name: str
    op: str
    description: str
    output_shape: Shape
    params: int
    trainable_params: int
    buffers: int
    connections: int
    macs: int
    activations: int
    rf: RF
    macs_by_kind: dict[str, int] = field(default_factory=dict)
    layers: int = 1

    @property
    def flops(self) -> int:
        return flops(self.macs)


def layer_row(index: int, r: LayerRecord) -> Row:
    return Row(index, r.name, r.op, r.description, r.output_shape, r.params, r.trainable_params,
               r.buffers, r.connections, r.macs, r.activations, r.rf, dict(r.macs_by_kind))


def rows(analysis: Analysis, depth: int | None = None) -> list[Row]:
    records = analysis.records
    if not depth:
        return [layer_row(i + 1, r) for i, r in enumerate(records)]
    groups: dict[str, list[LayerRecord]] = {}
    for r in records:
        parts = r.name.split(".")
        key = ".".join(parts[:depth]) if len(parts) > depth else r.name
        groups.setdefault(key, []).append(r)
    labels = analysis.graph.meta.get("groups", {})
    out = []
    for i, (key, members) in enumerate(groups.items(), start=1):
        if len(members) == 1 and members[0].name == key:
            out.append(layer_row(i, members[0]))
            continue
        last = members[-1]
        label = labels.get(key, "group")
        kinds = {k: sum(m.macs_by_kind.get(k, 0) for m in members) for k in MAC_KINDS}
        out.append(Row(
            index=i, name=key, op=label, description=f"{label} ({len(members)} layers)",
            output_shape=last.output_shape,
            params=sum(m.params for m in members),
            trainable_params=sum(m.trainable_params for m in members),
            buffers=sum(m.buffers for m in members),
            connections=sum(m.connections for m in members),
            macs=sum(m.macs for m in members),
            activations=sum(m.activations for m in members),
            rf=last.rf, macs_by_kind=kinds, layers=len(members)))
    return out
