"""Table rows: one per layer, or one per block when collapsed with ``--depth N``.

A collapsed row sums its layers' integers; its output shape and receptive field are those of the
block's last layer (its output). Totals never come from rows here: they come from the records
(cnnstat.analyze.Totals), and tests check both agree.

A training-only row (an auxiliary head's layer; a block of them) is ``train_only`` and, at
inference, does not run (``runs`` false): it shows what the layer does in training, and the
tables' total rows leave its work out, as the totals do. A block mixing both sums the work of its
layers that run and the parameters of all of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..analyze import Analysis, LayerRecord
from ..convention import flops
from ..graph import name_prefix
from ..ops.base import MAC_KINDS, Shape
from ..receptive import RF


@dataclass(slots=True)
class Row:
    """A table row: one layer, or one block of layers summed (--depth)."""
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
    train_only: bool = False      # every layer of the row runs only in training
    runs: bool = True             # the row runs in the analysis' mode (its work is in the totals)

    @property
    def flops(self) -> int:
        return flops(self.macs)


def layer_row(index: int, r: LayerRecord, runs: bool = True) -> Row:
    return Row(index, r.name, r.op, r.description, r.output_shape, r.params, r.trainable_params,
               r.buffers, r.connections, r.macs, r.activations, r.rf, dict(r.macs_by_kind),
               train_only=r.train_only, runs=runs)


def rows(analysis: Analysis, depth: int | None = None) -> list[Row]:
    records = analysis.records
    if not depth:
        return [layer_row(i + 1, r, analysis.runs(r)) for i, r in enumerate(records)]
    groups: dict[str, list[LayerRecord]] = {}
    for r in records:
        groups.setdefault(name_prefix(r.name, depth), []).append(r)
    labels = analysis.graph.meta.get("groups", {})
    out = []
    for i, (key, members) in enumerate(groups.items(), start=1):
        if len(members) == 1 and members[0].name == key:
            out.append(layer_row(i, members[0], analysis.runs(members[0])))
            continue
        last = members[-1]
        label = labels.get(key, "group")
        train_only = all(m.train_only for m in members)
        # the work of a block: its layers that run, or all of them for a training-only block
        # (what it does in training; its row is then out of the totals at inference)
        working = members if train_only else [m for m in members if analysis.runs(m)]
        kinds = {k: sum(m.macs_by_kind.get(k, 0) for m in working) for k in MAC_KINDS}
        out.append(Row(
            index=i, name=key, op=label, description=f"{label} ({len(members)} layers)",
            output_shape=last.output_shape,
            params=sum(m.params for m in members),
            trainable_params=sum(m.trainable_params for m in members),
            buffers=sum(m.buffers for m in members),
            connections=sum(m.connections for m in working),
            macs=sum(m.macs for m in working),
            activations=sum(m.activations for m in working),
            rf=last.rf, macs_by_kind=kinds, layers=len(members), train_only=train_only,
            runs=analysis.train or not train_only))
    return out
