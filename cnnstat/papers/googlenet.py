"""GoogLeNet (Szegedy et al. 2015), Table 1, every column, from the zoo model googlenet-paper.

Per row (one or more zoo layers): the type and patch size/stride of its main layer, the output size
of its last layer, its depth (the longest chain of convolution/linear layers through it), the
channels of each Inception branch (#1×1, #3×3 reduce, #3×3, #5×5 reduce, #5×5, pool proj), its
weights (the params column counts weights only: cnnstat's analysis with --set biases=false) and its
multiply-adds. A note gives cnnstat's arithmetic wherever a printed figure differs.
"""

from __future__ import annotations

from ..analyze import Analysis, LayerRecord
from ..render.numbers import grouped
from .common import (analysis, data, explain, number_cell, patch, scaled, size_hw, size_hwc,
                     text_cell, total, under, weight_layers)
from .model import Column, Published, PaperTable, Row

PAPER = "googlenet"
WEIGHT_OPS = ("conv2d", "linear", "partial_conv2d")

COLUMNS = [
    Column("type", "type"), Column("patch", "patch size/stride"), Column("output", "output size"),
    Column("depth", "depth"), Column("1x1", "#1×1"), Column("3x3_reduce", "#3×3 reduce"),
    Column("3x3", "#3×3"), Column("5x5_reduce", "#5×5 reduce"), Column("5x5", "#5×5"),
    Column("pool_proj", "pool proj"), Column("params", "params", "number"),
    Column("ops", "ops", "number"),
]
# Inception branches (Figure 2b) → Table 1's channel columns, with each convolution's kernel
BRANCHES = {"branch1": [("1x1", 1)], "branch2": [("3x3_reduce", 1), ("3x3", 3)],
            "branch3": [("5x5_reduce", 1), ("5x5", 5)], "branch4": [("pool_proj", 1)]}


def depth(records: list[LayerRecord]) -> int:
    """Longest chain of weight layers through the records (inputs from outside count as 0)."""
    longest: dict[str, int] = {}
    for r in records:
        d = max((longest.get(src, 0) for src in r.inputs), default=0)
        longest[r.name] = d + (1 if r.op in WEIGHT_OPS else 0)
    return max(longest.values(), default=0)


def kind(r: LayerRecord, prefix: str) -> str:
    if prefix.startswith("inception"):
        return f"inception ({prefix[len('inception'):]})"
    return {"conv2d": "convolution", "maxpool2d": "max pool", "avgpool2d": "avg pool",
            "linear": "linear", "softmax": "softmax"}.get(r.op) or (
        f"dropout ({r.attrs['p']:.0%})" if r.op == "dropout" else r.op)


def channels(records: list[LayerRecord], prefix: str) -> dict[str, str]:
    """The channel columns of a row: an Inception module's branches, or a convolution row's
    reduction (#3×3 reduce) and main convolution (#3×3)."""
    out: dict[str, str] = {}
    convs = [r for r in records if r.op == "conv2d"]
    if prefix.startswith("inception"):
        for branch, columns in BRANCHES.items():
            found = [r for r in convs if f".{branch}." in r.name]
            for (key, k), r in zip(columns, found):
                kh, kw = r.attrs["kernel"]
                out[key] = str(r.attrs["out"]) + ("" if (kh, kw) == (k, k) else f" ({kh}×{kw})")
    elif len(convs) == 2:
        out["3x3_reduce"] = str(convs[0].attrs["out"])
        out["3x3"] = str(convs[1].attrs["out"])
    return out


def arithmetic(records: list[LayerRecord], weights: int, macs: int) -> str:
    """cnnstat's weights and multiply-adds of a row, as sums of products."""
    parts = []
    for r in weight_layers(records):
        kh, kw = r.attrs["kernel"] if r.op == "conv2d" else (1, 1)
        c_in = r.input_shapes[0][1] // r.attrs.get("groups", 1) if r.op == "conv2d" \
            else r.input_shapes[0][-1]
        parts.append(f"{kh}×{kw}×{c_in}×{r.attrs['out']}" if (kh, kw) != (1, 1)
                     else f"{c_in}×{r.attrs['out']}")
    last = weight_layers(records)[-1]
    positions = size_hw(last.output_shape)
    return (f"cnnstat: {' + '.join(parts)} = {grouped(weights)} weights = "
            f"{scaled(weights, 1024, 1, 'K')}; × {positions} positions = {grouped(macs)} "
            f"multiply-adds = {scaled(macs, 1e6, 1, 'M')}.")


def table1() -> PaperTable:
    d = data(PAPER)["table1"]
    model = d["model"]
    a: Analysis = analysis(model)
    weights_only = analysis(model, biases=False)
    t = PaperTable("googlenet-table1", d["title"], d["source"], list(COLUMNS), [],
                   models=[model], caption=" ".join(d["caption"].split()))
    units = d["units"]
    for spec in d["rows"]:
        records = [r for prefix in spec["layers"] for r in under(a, prefix)]
        main = (weight_layers(records) or records)[-1]
        prefix = spec["layers"][0]
        cells = {
            "type": text_cell(spec.get("type"), kind(main, prefix)),
            "output": text_cell(spec.get("output"), size_hwc(records[-1].output_shape)),
            "depth": text_cell(str(spec.get("depth")), str(depth(records))),
        }
        if "kernel" in main.attrs and not prefix.startswith("inception"):
            cells["patch"] = text_cell(spec.get("patch"), patch(main))
        computed_channels = channels(records, prefix)
        for key in ("1x1", "3x3_reduce", "3x3", "5x5_reduce", "5x5", "pool_proj"):
            published = None if spec.get(key) is None else str(spec[key])
            if published is not None or key in computed_channels:
                cells[key] = text_cell(published, computed_channels.get(key))
        if weight_layers(records):
            weights = sum(total(under(weights_only, p)) for p in spec["layers"])
            macs = total(records, "macs")
            cells["params"] = number_cell(spec.get("params"), weights, 1, units["params"])
            cells["ops"] = number_cell(spec.get("ops"), macs, 1, units["ops"])
        label = cells["type"].computed if prefix.startswith("inception") else " + ".join(spec["layers"])
        row = Row(cells, label=label)
        t.rows.append(row)
        if spec.get("note"):
            text = spec["note"]
            if weight_layers(records):
                text += " " + arithmetic(records, cells["params"].computed, cells["ops"].computed)
            explain(t, row, f"{row.label}: {text}")
    t.rows.append(_total_row(t, d, a, weights_only))
    return t


def _total_row(t: PaperTable, d: dict, a: Analysis, weights_only: Analysis) -> Row:
    spec = d["total"]
    units = d["units"]
    ops = number_cell(spec["ops"], a.totals.macs, 1, {"billion": 10**9})
    # the published ops column read in its own unit, summed (the paper prints no total)
    printed = [Published.parse(s["ops"], 1, units["ops"]).value for s in d["rows"] if s.get("ops")]
    row = Row({
        "type": text_cell("total", "total"),
        "depth": text_cell(str(spec["depth"]), str(depth(a.records))),
        "params": number_cell(None, weights_only.totals.params),
        "ops": ops,
    }, label="total", emphasis=True)
    explain(t, row, f"total ({spec['ops_source']}: {spec['ops']} multiply-adds; depth from "
                    f"{spec['depth_source']}): {spec['note']} The printed ops column sums to "
                    f"{scaled(sum(printed), 1e6, 0, 'M')}; cnnstat: {grouped(a.totals.macs)} "
                    f"multiply-adds, {grouped(weights_only.totals.params)} weights "
                    f"({grouped(a.totals.params)} parameters with biases).", ["ops"])
    return row


def tables() -> list[PaperTable]:
    return [table1()]
