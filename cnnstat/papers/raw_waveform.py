"""Very deep CNNs for raw waveforms (Dai et al. 2017), Table 1: the five architectures M3, M5,
M11, M18 and M34-res layer by layer, and their parameter counts, from the zoo models m3 ... m34_res.

Each cell is rebuilt from the model: the first convolution as [kernel/stride, filters], a stage of
3-tap convolutions as [3, n] × count (or [3, n; 3, n] × count for residual blocks), the sizes
after each max pooling, the global average pooling and the softmax layer.
"""

from __future__ import annotations

from ..analyze import Analysis
from .common import analysis, data, explain, number_cell, text_cell, under
from .model import Column, PaperTable, Row

PAPER = "raw_waveform"


def _pool(a: Analysis, i: int) -> str | None:
    """'Maxpool: 4×1 (output: 2000×n)' for the i-th pooling (1-based), or None."""
    pools = [r for r in a.records if r.op == "maxpool1d"]
    if i > len(pools):
        return None
    r = pools[i - 1]
    return f"Maxpool: {r.attrs['kernel'][0]}×1 (output: {r.output_shape[2]}×n)"


def _stage(a: Analysis, s: int) -> str | None:
    """'[3, 64] × 2', '[3, 256]' or '[3, 48; 3, 48] × 3' for stage s (0-based), or None."""
    records = under(a, f"stage.{s}.block")
    if not records:
        return None
    blocks = sorted({int(r.name.split(".")[3]) for r in records})
    convs = [r for r in under(a, f"stage.{s}.block.0") if r.op == "conv1d"]
    body = "; ".join(f"{r.attrs['kernel'][0]}, {r.attrs['out']}" for r in convs)
    return f"[{body}]" + (f" × {len(blocks)}" if len(blocks) > 1 or len(convs) > 1 else "")


def _layer(a: Analysis, name: str) -> str | None:
    if name not in a.by_name:
        return None
    r = a.record(name)
    if r.op == "global_avgpool":
        return "Global average pooling (output: 1×n)"
    if r.op == "softmax":
        return "Softmax"
    return r.op


def _conv1(a: Analysis) -> str:
    r = a.record("conv1")
    return f"[{r.attrs['kernel'][0]}/{r.attrs['stride'][0]}, {r.attrs['out']}]"


def _input(a: Analysis) -> str:
    c, length = a.input_shape
    return f"{length}×{c} time-domain waveform"


def table1() -> PaperTable:
    d = data(PAPER)["table1"]
    models = d["models"]
    columns = [Column("name", "layer")] + [Column(label, label) for label in models]
    t = PaperTable("raw-waveform-table1", d["title"], d["source"], columns, [],
                   models=list(models.values()), caption=" ".join(d["caption"].split()))
    analyses = {label: analysis(name) for label, name in models.items()}
    for spec in d["rows"]:
        cells = {"name": text_cell(spec["name"], spec["name"])}
        for label, a in analyses.items():
            published = spec["all"] if "all" in spec else spec["cells"].get(label)
            if spec["name"] == "input":
                mine = _input(a)
            elif spec["name"] == "conv1":
                mine = _conv1(a)
            elif "pool" in spec:
                mine = _pool(a, spec["pool"])
            elif "stage" in spec:
                mine = _stage(a, spec["stage"])
            else:
                mine = _layer(a, spec["layer"])
            cells[label] = text_cell(published, mine)
        t.rows.append(Row(cells, label=spec["name"]))
    params = Row({"name": text_cell("parameters (millions)", "parameters (millions)")},
                 label="parameters", emphasis=True)
    for label, a in analyses.items():
        params.cells[label] = number_cell(d["params"][label], a.totals.params, 10**6)
    t.rows.append(params)
    for label, text in (d.get("params_notes") or {}).items():
        explain(t, params, f"{label}: {text}", [label])
    explain(t, params, d["m34_note"], ["M34-res"])
    return t


def tables() -> list[PaperTable]:
    return [table1()]
