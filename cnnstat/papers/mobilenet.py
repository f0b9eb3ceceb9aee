"""MobileNet V1 (Howard et al. 2017), Tables 6 and 7: mult-adds and parameters for width
multipliers α and input resolutions, from the zoo model mobilenet_v1 (--set alpha, --input)."""

from __future__ import annotations

from ..render.numbers import grouped
from .common import analysis, data, explain, number_cell, text_cell
from .model import Column, PaperTable, Row

PAPER = "mobilenet"


def _table(key: str) -> PaperTable:
    doc = data(PAPER)
    d = doc[key]
    model = doc["model"]
    columns = [Column("model", d["header"]), Column("accuracy", "ImageNet Accuracy"),
               Column("mult_adds", "Million Mult-Adds", "number"),
               Column("params", "Million Parameters", "number")]
    t = PaperTable(f"mobilenet-{key}", d["title"], d["source"], columns, [], models=[model],
                   caption=" ".join(doc["caption"].split()))
    for spec in d["rows"]:
        a = analysis(model, input=spec["resolution"], alpha=spec["alpha"])
        row = Row({"model": text_cell(spec["label"], spec["label"]),
                   "accuracy": text_cell(spec["accuracy"], None),
                   "mult_adds": number_cell(spec["mult_adds"], a.totals.macs, 10**6),
                   "params": number_cell(spec["params"], a.totals.params, 10**6)},
                  label=spec["label"])
        t.rows.append(row)
        if spec.get("note"):
            explain(t, row, f"{spec['label']}: {spec['note']} cnnstat (--set alpha={spec['alpha']} "
                            f"--input {spec['resolution']}): {grouped(a.totals.macs)} "
                            "multiply-adds.")
    return t


def tables() -> list[PaperTable]:
    return [_table("table6"), _table("table7")]
