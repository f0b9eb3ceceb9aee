"""VGG (Simonyan & Zisserman 2015): Table 1 (configurations A-E, layer by layer), Table 2
(parameters per configuration) and torchvision's VGG-16 parameters layer by layer.

Table 1 is rebuilt from the zoo definitions vgg-a ... vgg-e: each convolution is written as the
paper writes it, "conv<kernel>-<channels>", each LRN as "LRN", fully connected layers as
"FC-<units>"; the result is compared cell by cell with the printed table.
"""

from __future__ import annotations

from ..analyze import Analysis
from ..errors import CnnstatError
from ..render.numbers import grouped, shape as fmt_shape
from .common import (analysis, data, explain, number_cell, size_hw, text_cell, weight_count,
                     weight_layers, weights_arithmetic)
from .model import Column, PaperTable, Row

PAPER = "vgg"


def layer_text(r) -> str | None:
    """A layer as Table 1 writes it, or None for layers the table does not show (ReLU...)."""
    if r.op == "conv2d":
        return f"conv{r.attrs['kernel'][0]}-{r.attrs['out']}"
    if r.op == "lrn":
        return "LRN"
    if r.op == "linear":
        return f"FC-{r.attrs['out']}"
    if r.op == "softmax":
        return "soft-max"
    return None


def computed_stages(a: Analysis) -> list[list[str]]:
    """The layers of each stage (``stage.<s>``) as Table 1 writes them."""
    stages: list[list[str]] = []
    for r in a.records:
        parts = r.name.split(".")
        if parts[0] != "stage" or r.op == "maxpool2d":
            continue
        s = int(parts[1])
        while len(stages) <= s:
            stages.append([])
        text = layer_text(r)
        if text:
            stages[s].append(text)
    return stages


def image(a: Analysis) -> str:
    c, h, w = a.input_shape
    return f"{h} × {w} {'RGB' if c == 3 else f'{c}-channel'} image"


def table1() -> PaperTable:
    d = data(PAPER)["table1"]
    configs = list(d["models"])
    columns = [Column("part", "")] + [Column(c, c) for c in configs]
    t = PaperTable("vgg-table1", d["title"], d["source"], columns, [],
                   models=[d["models"][c] for c in configs], caption=d["caption"].strip())
    analyses = {c: analysis(d["models"][c]) for c in configs}
    computed = {c: computed_stages(a) for c, a in analyses.items()}

    def row(label: str, cells: dict, emphasis: bool = False, shown: str | None = None) -> None:
        text = label if shown is None else shown
        t.rows.append(Row({"part": text_cell(text, text), **cells}, label=label,
                          emphasis=emphasis))

    depth = {c: f"{len(weight_layers(a.records))} weight layers" for c, a in analyses.items()}
    row("weight layers", {c: text_cell(f"{d['weight_layers'][c]} weight layers", depth[c])
                          for c in configs}, emphasis=True, shown="")
    row("input", {c: text_cell(d["input"], image(analyses[c])) for c in configs})
    for s in range(len(d["stages"][configs[0]])):
        depth = max(max(len(d["stages"][c][s]) for c in configs),
                    max(len(computed[c][s]) if s < len(computed[c]) else 0 for c in configs))
        for i in range(depth):
            cells = {}
            for c in configs:
                pub = d["stages"][c][s]
                mine = computed[c][s] if s < len(computed[c]) else []
                cells[c] = text_cell(pub[i] if i < len(pub) else None,
                                     mine[i] if i < len(mine) else None)
            row(f"stage {s + 1}" if i == 0 else "", cells)
        pools = {c: text_cell("maxpool", "maxpool" if analyses[c].record(f"stage.{s}.pool").op
                              == "maxpool2d" else None) for c in configs}
        row("maxpool", {c: pools[c] for c in configs})
    classifier = {c: [x for x in (layer_text(r) for r in analyses[c].records
                                  if not r.name.startswith("stage.")) if x] for c in configs}
    for i, pub in enumerate(d["classifier"]):
        row(pub if i == 0 else "", {c: text_cell(pub, classifier[c][i] if i < len(classifier[c])
                                                  else None) for c in configs})
    for key, text in (d.get("notes") or {}).items():
        explain(t, t.rows[0], text)
    return t


def table2() -> PaperTable:
    d = data(PAPER)["table2"]
    columns = [Column("network", "Network")] + [Column(c, c, "number") for c in d["columns"]]
    t = PaperTable("vgg-table2", d["title"], d["source"], columns, [],
                   caption=d["caption"].strip())
    cells = {"network": text_cell("Number of parameters", "Number of parameters")}
    for c, spec in d["columns"].items():
        counts = {m: analysis(m).totals.params for m in spec["models"]}
        if len(set(counts.values())) != 1:
            raise CnnstatError(f"VGG Table 2, column {c}: the zoo models {', '.join(counts)} "
                               "should have the same parameters but do not")
        t.models.extend(spec["models"])
        cells[c] = number_cell(spec["published"], next(iter(counts.values())), d["scale"])
    row = Row(cells, label="Number of parameters")
    t.rows.append(row)
    for c, text in (d.get("notes") or {}).items():
        counts = ", ".join(f"{m} {grouped(analysis(m).totals.params)}"
                           for m in d["columns"][c]["models"])
        explain(t, row, f"{c}: {text} ({counts})", [c])
    return t


def vgg16_layers() -> PaperTable:
    """Each Conv2d/Linear of torchvision's vgg16, named as torchvision names it."""
    d = data(PAPER)["vgg16_layers"]
    a = analysis(d["model"])
    columns = [Column("module", "torchvision module"), Column("layer", "cnnstat layer"),
               Column("operation", "operation"), Column("output", "output"),
               Column("weights", "weights"), Column("biases", "biases", "number"),
               Column("params", "parameters", "number")]
    t = PaperTable("vgg16-layers", d["title"], d["source"], columns, [], models=[d["model"]],
                   caption=d["caption"].strip())
    for r in weight_layers(a.records):
        w = weight_count(r)
        t.rows.append(Row({
            "module": text_cell(None, torchvision_name(a, r.name)),
            "layer": text_cell(None, r.name),
            "operation": text_cell(None, r.description),
            "output": text_cell(None, fmt_shape(r.output_shape)),
            "weights": text_cell(None, weights_arithmetic(r)),
            "biases": number_cell(None, r.params - w),
            "params": number_cell(None, r.params),
        }, label=r.name))
    total = sum(r.params for r in weight_layers(a.records))
    t.rows.append(Row({"module": text_cell("total", "total"),
                       "params": number_cell(d["total"], total)}, label="total", emphasis=True))
    if total != a.totals.params:
        raise CnnstatError(f"{d['model']}: parameters outside its Conv2d/Linear layers")
    return t


def torchvision_name(a: Analysis, name: str) -> str:
    """torchvision's module name of a vgg16 layer: its index in ``features`` (every layer before
    the average pool, in order) or ``classifier`` (every layer after the flatten)."""
    names = [r.name for r in a.records]
    split = names.index("avgpool")
    i = names.index(name)
    if i < split:
        return f"features.{i}"
    start = names.index("flatten") + 1
    return f"classifier.{i - start}"


def tables() -> list[PaperTable]:
    return [table1(), table2(), vgg16_layers()]
