"""ResNet (He et al. 2016): Table 1 (architectures for ImageNet, FLOPs) for the paper layout
(resnetN-paper) and torchvision's "v1.5" layout (resnetN), and the complexity figures quoted in
the text.

Each block cell is rebuilt from the zoo model: the kernels and output channels of the first
block of a stage ("[1×1, 64; 3×3, 64; 1×1, 256]") and the number of blocks stacked ("×3").
"""

from __future__ import annotations

from ..analyze import Analysis
from ..errors import CnnstatError
from ..render.numbers import grouped
from .common import (analysis, data, explain, number_cell, scaled, size_hw, text_cell, total,
                     under)
from .model import Column, PaperTable, Row

PAPER = "resnet"


def block_text(a: Analysis, stage: str) -> str:
    """'[1×1, 64; 3×3, 64; 1×1, 256] ×3' for stage layer1 of a ResNet-50."""
    blocks = sorted({int(r.name.split(".")[1]) for r in under(a, stage)})
    convs = [r for r in under(a, f"{stage}.0") if r.op == "conv2d" and ".downsample" not in r.name]
    body = "; ".join(f"{r.attrs['kernel'][0]}×{r.attrs['kernel'][1]}, {r.attrs['out']}"
                     for r in convs)
    return f"[{body}] ×{len(blocks)}"


def layer_text(a: Analysis, names: list[str]) -> str:
    """conv1 → '7×7, 64, stride 2'; maxpool → '3×3 max pool, stride 2'; the head → 'average
    pool, 1000-d fc, softmax'."""
    parts = []
    for name in names:
        r = a.record(name)
        if r.op == "conv2d":
            k, s = r.attrs["kernel"], r.attrs["stride"]
            parts.append(f"{k[0]}×{k[1]}, {r.attrs['out']}, stride {s[0]}")
        elif r.op == "maxpool2d":
            k, s = r.attrs["kernel"], r.attrs["stride"]
            parts.append(f"{k[0]}×{k[1]} max pool, stride {s[0]}")
        elif r.op in ("adaptive_avgpool2d", "global_avgpool", "avgpool2d"):
            parts.append("average pool")
        elif r.op == "linear":
            parts.append(f"{r.attrs['out']}-d fc")
        elif r.op == "softmax":
            parts.append("softmax")
    return ", ".join(parts)


def stride_shift(paper: Analysis, v15: Analysis) -> tuple[int, list[str]]:
    """The multiply-adds torchvision's layout adds: the first 1×1 of each downsampling block,
    computed at the stage's input resolution instead of the output's."""
    extra, lines = 0, []
    for stage in ("layer2", "layer3", "layer4"):
        a, b = paper.record(f"{stage}.0.conv1"), v15.record(f"{stage}.0.conv1")
        if a.macs == b.macs:
            continue
        c_in, c_out = a.input_shapes[0][1], a.attrs["out"]
        extra += b.macs - a.macs
        lines.append(f"{stage}.0.conv1 {c_in}×{c_out} at {size_hw(b.output_shape)} instead of "
                     f"{size_hw(a.output_shape)}: +{grouped(b.macs - a.macs)}")
    return extra, lines


def macs_arithmetic(a: Analysis) -> str:
    """cnnstat's multiply-adds split into convolutions, projection shortcuts and the fc layer."""
    proj = sum(r.macs for r in a.records if r.op == "conv2d" and ".downsample" in r.name)
    convs = sum(r.macs for r in a.records if r.op == "conv2d") - proj
    fc = sum(r.macs for r in a.records if r.op == "linear")
    return (f"cnnstat ({a.name}): convolutions {grouped(convs)} + projection shortcuts "
            f"{grouped(proj)} + fc {grouped(fc)} = {grouped(a.totals.macs)} multiply-adds "
            f"({scaled(a.totals.macs, 1e9, 2)} ×10⁹); without the projection shortcuts "
            f"{grouped(a.totals.macs - proj)} ({scaled(a.totals.macs - proj, 1e9, 2)} ×10⁹).")


def table1() -> PaperTable:
    d = data(PAPER)["table1"]
    depths = d["depths"]
    columns = [Column("name", "layer name"), Column("output", "output size")] + [
        Column(str(n), f"{n}-layer") for n in depths]
    t = PaperTable("resnet-table1", d["title"], d["source"], columns, [],
                   models=[d["models"][n] for n in depths] + [d["torchvision"][n] for n in depths],
                   caption=" ".join(d["caption"].split()))
    paper = {n: analysis(d["models"][n]) for n in depths}
    v15 = {n: analysis(d["torchvision"][n]) for n in depths}
    for spec in d["rows"]:
        cells = {"name": text_cell(spec["name"], spec["name"])}
        first = paper[depths[0]]
        if spec.get("stage"):
            computed_out = size_hw(first.record(under(first, spec["stage"])[-1].name).output_shape)
        else:
            computed_out = size_hw(first.record(spec["layers"][-1]).output_shape)
        cells["output"] = text_cell(spec["output"] or None,
                                    computed_out if spec["output"] else None)
        for n in depths:
            published = spec["blocks"][n] if spec.get("blocks") else spec["all"]
            mine = block_text(paper[n], spec["stage"]) if spec.get("stage") else \
                layer_text(paper[n], spec["layers"])
            cells[str(n)] = text_cell(published, mine)
        t.rows.append(Row(cells, label=spec["name"] or spec.get("stage", "head")))

    flops = Row({"name": text_cell("FLOPs", "FLOPs")}, label="FLOPs", emphasis=True)
    for n in depths:
        flops.cells[str(n)] = number_cell(d["flops"][n], paper[n].totals.macs, 10**9)
    t.rows.append(flops)
    for n, text in (d.get("flops_notes") or {}).items():
        explain(t, flops, f"FLOPs, {n}-layer: {text} {macs_arithmetic(paper[n])}", [str(n)])

    label = "torchvision (v1.5): multiply-adds ×10⁹"
    tv = Row({"name": text_cell(label, label)}, label="torchvision FLOPs", emphasis=True)
    params = Row({"name": text_cell("torchvision: parameters", "torchvision: parameters")},
                 label="torchvision parameters", emphasis=True)
    for n in depths:
        tv.cells[str(n)] = number_cell(d["torchvision_ops"][n], v15[n].totals.macs, 10**9)
        params.cells[str(n)] = number_cell(d["torchvision_params"][n], v15[n].totals.params)
    t.rows += [tv, params]
    shifts = []
    for n in depths:
        extra, lines = stride_shift(paper[n], v15[n])
        if extra:
            shifts.append(f"{n}-layer: {'; '.join(lines)}; in all +{grouped(extra)} = "
                          f"{grouped(v15[n].totals.macs)} − {grouped(paper[n].totals.macs)}")
        elif (paper[n].totals.params, paper[n].totals.macs) != (v15[n].totals.params,
                                                                v15[n].totals.macs):
            raise CnnstatError(f"resnet{n}: the paper and torchvision layouts differ beyond the "
                               "position of the stride")
    explain(t, tv, f"{d['v15_note']} {d['basic_note']} {'. '.join(shifts)}.")
    return t


def text_flops() -> PaperTable:
    d = data(PAPER)["text_flops"]
    columns = [Column("network", "network"), Column("flops", "FLOPs ×10⁹", "number")]
    t = PaperTable("resnet-text", d["title"], d["source"], columns, [],
                   models=[r["model"] for r in d["rows"]], caption=" ".join(d["caption"].split()))
    for spec in d["rows"]:
        a = analysis(spec["model"])
        row = Row({"network": text_cell(spec["label"], spec["label"]),
                   "flops": number_cell(spec["published"], a.totals.macs, d["scale"])},
                  label=spec["label"])
        t.rows.append(row)
        if spec.get("note") and spec["model"].startswith("resnet"):
            explain(t, row, f"{spec['label']}: {spec['note']} {macs_arithmetic(a)}")
        elif spec.get("note"):
            convs = sum(r.macs for r in a.records if r.op == "conv2d")
            explain(t, row, f"{spec['label']}: {spec['note']} cnnstat ({spec['model']}): "
                            f"convolutions {grouped(convs)} ({scaled(convs, 1e9, 2)} ×10⁹) + fully "
                            f"connected {grouped(a.totals.macs - convs)} = "
                            f"{grouped(a.totals.macs)}.")
    return t


def tables() -> list[PaperTable]:
    return [table1(), text_flops()]
