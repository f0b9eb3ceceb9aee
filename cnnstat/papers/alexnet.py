"""AlexNet (Krizhevsky et al. 2012): neurons per layer (Figure 2's caption) and the abstract's
totals, from the zoo model alexnet-paper. A layer's neurons are its output elements."""

from __future__ import annotations

from ..render.numbers import grouped
from .common import analysis, data, explain, number_cell, size_hwc, text_cell
from .model import Column, PaperTable, Published, Row

PAPER = "alexnet"


def neurons() -> PaperTable:
    d = data(PAPER)["neurons"]
    a = analysis(d["model"])
    columns = [Column("layer", "layer"), Column("output", "output"),
               Column("neurons", "neurons", "number"), Column("params", "parameters", "number")]
    t = PaperTable("alexnet-neurons", d["title"], d["source"], columns, [], models=[d["model"]],
                   caption=" ".join(d["caption"].split()))
    c, h, w = a.input_shape
    row = Row({"layer": text_cell("input", "input"), "output": text_cell(None, f"{h}×{w}×{c}"),
               "neurons": number_cell(d["input"]["published"], c * h * w)}, label="input")
    t.rows.append(row)
    explain(t, row, f"input: {d['input']['note']} cnnstat: {h} × {w} × {c} = {grouped(c * h * w)}.")
    for spec in d["rows"]:
        r = a.record(spec["layer"])
        row = Row({"layer": text_cell(spec["layer"], r.name),
                   "output": text_cell(None, size_hwc(r.output_shape)),
                   "neurons": number_cell(spec["published"], r.activations),
                   "params": number_cell(None, r.params)}, label=spec["layer"])
        t.rows.append(row)
        if spec.get("note"):
            shape = size_hwc(r.output_shape).replace("×", " × ")
            explain(t, row, f"{spec['layer']}: {spec['note']} cnnstat: {shape} = "
                            f"{grouped(r.activations)}.")
    layers = [a.record(s["layer"]) for s in d["rows"]]
    n_total, p_total = d["neurons_total"], d["params_total"]
    neurons_sum = sum(r.activations for r in layers)
    printed_sum = sum(Published.parse(s["published"]).value for s in d["rows"])
    total = Row({"layer": text_cell("total", "total"),
                 "neurons": number_cell(f"{n_total['published']} {n_total['unit']}", neurons_sum,
                                        1, {"thousand": 10**3}),
                 "params": number_cell(f"{p_total['published']} {p_total['unit']}",
                                       a.totals.params, 1, {"million": 10**6})},
                label="total", emphasis=True)
    t.rows.append(total)
    explain(t, total, f"total neurons: {n_total['note']} Figure 2's figures sum to "
                      f"{grouped(int(printed_sum))}; cnnstat's layers sum to {grouped(neurons_sum)}.",
            ["neurons"])
    convs = sum(r.params for r in layers if r.op == "conv2d")
    explain(t, total, f"total parameters: {p_total['note']} cnnstat: convolutions "
                      f"{grouped(convs)} + fully connected {grouped(a.totals.params - convs)} = "
                      f"{grouped(a.totals.params)}.", ["params"])
    return t


def tables() -> list[PaperTable]:
    return [neurons()]
