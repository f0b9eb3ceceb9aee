"""LeNet-5 (LeCun et al. 1998, section II-B): trainable parameters and connections per layer, from
the zoo model lenet5. Connections follow the paper: weighted links to input units plus one bias
link per output unit (cnnstat.ops.conv, cnnstat.ops.pool)."""

from __future__ import annotations

from ..render.numbers import grouped
from .common import analysis, data, explain, maps, number_cell, text_cell
from .model import Column, PaperTable, Published, Row

PAPER = "lenet"


def layers() -> PaperTable:
    d = data(PAPER)["layers"]
    a = analysis(d["model"])
    columns = [Column("layer", "layer"), Column("output", "output"),
               Column("params", "trainable parameters", "number"),
               Column("connections", "connections", "number")]
    t = PaperTable("lenet5-layers", d["title"], d["source"], columns, [], models=[d["model"]],
                   caption=" ".join(d["caption"].split()))
    for spec in d["rows"]:
        r = a.record(spec["layer"])
        row = Row({"layer": text_cell(spec["layer"], r.name),
                   "output": text_cell(spec["output"], maps(r.output_shape)),
                   "params": number_cell(spec.get("params"), r.trainable_params),
                   "connections": number_cell(spec.get("connections"), r.connections)},
                  label=spec["layer"])
        t.rows.append(row)
        if spec.get("note"):
            extra = (f" cnnstat: {grouped(r.params)} parameters, {grouped(r.trainable_params)} "
                     "trainable." if r.params != r.trainable_params else "")
            explain(t, row, f"{spec['layer']}: {spec['note']}{extra}")
    # the total of the printed figures, against cnnstat's totals
    printed = {key: sum(Published.parse(s[key]).value for s in d["rows"] if s.get(key))
               for key in ("params", "connections")}
    t.rows.append(Row({
        "layer": text_cell("total", "total"),
        "params": number_cell(grouped(int(printed["params"])), a.totals.trainable_params),
        "connections": number_cell(grouped(int(printed["connections"])), a.totals.connections),
    }, label="total", emphasis=True))
    return t


def tables() -> list[PaperTable]:
    return [layers()]
