"""The report of one model: its blocks (summary, totals, convention, plots, layer and
receptive-field tables) and its files (Markdown, CSV, JSON, HTML, plots).

Long models get their layer tables collapsed to blocks (``--depth``), chosen so that the table
has at most MAX_ROWS rows, with every layer under a collapsed section and in the CSV.
"""

from __future__ import annotations

import os
import re
from typing import Callable

from ..analyze import Analysis
from ..convention import KIND_LABELS
from ..memory.fit import MAX_BATCH
from ..ops.base import MAC_KINDS
from ..plots import series
from ..render import columns as col
from ..render import numbers as fmt
from ..render.facts import facts, model_title
from ..render.rows import rows
from ..render.text import _totals_cells, context
from .document import Block, Details, Facts, Figure, Heading, Para, Table

MAX_ROWS = 80
FORMATS = ("md", "csv", "json", "html")

LAYER_COLUMNS = [col.INDEX, col.LAYER, col.OPERATION, col.SHAPE, col.PARAMS, col.MACS,
                 col.MACS_SHARE, col.MEMORY, col.RF_SIZE]
RF_COLUMNS = [col.INDEX, col.LAYER, col.OP, col.SHAPE, col.RF_SIZE, col.RF_STRIDE, col.RF_PADDING,
              col.RF_NOTE]

#: the plots of a model report: file suffix, title (alt text), figure function name in cnnstat.plots
PLOTS = (("layers", "parameters and multiply-adds per layer", "layer_work_figure"),
         ("memory", "activation memory per layer", "memory_figure"),
         ("rf", "receptive-field growth with depth", "rf_figure"))


def slug(name: str) -> str:
    """A file-name-safe form of a model name: 'nets/my net.yaml' → 'my_net'."""
    base = os.path.basename(name)
    base = re.sub(r"\.(ya?ml)$", "", base)
    return re.sub(r"[^A-Za-z0-9_.+-]+", "_", base).strip("._") or "model"


def table_depth(a: Analysis, max_rows: int = MAX_ROWS) -> int | None:
    """None when every layer fits in one table, else the deepest --depth with at most max_rows."""
    if len(a.records) <= max_rows:
        return None
    deepest = max(r.name.count(".") + 1 for r in a.records)
    for depth in range(deepest, 0, -1):
        if len(rows(a, depth)) <= max_rows:
            return depth
    return 1


def layer_table(a: Analysis, columns: list[col.Column], depth: int | None) -> Table:
    ctx = context(a)
    row_list = rows(a, depth)
    summed = any(c.key in col.SUMMED for c in columns)
    return Table([c.title(ctx) for c in columns],
                 [[c.show(r, ctx) for c in columns] for r in row_list],
                 [c.numeric for c in columns],
                 _totals_cells(columns, row_list, ctx) if summed else None)


def _share(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def _top(a: Analysis, key: Callable, what: str, unit: str = "", n: int = 3,
         held: bool = False) -> str:
    """The n largest layers by ``key``: among all layers for what a model holds (``held``:
    parameters), else among the layers that run in the analysis' mode."""
    records = a.records if held else a.running
    total = sum(key(r) for r in records)
    ranked = sorted((r for r in records if key(r) > 0), key=lambda r: (-key(r), r.index))[:n]
    if not ranked:
        return f"No layer has {what}."
    parts = [f"`{r.name}` {fmt.human(key(r), unit)} ({_share(key(r), total)})" for r in ranked]
    return f"Largest by {what}: " + ", ".join(parts) + "."


def totals_table(a: Analysis) -> Table:
    t = a.totals
    rows_: list[list[str]] = [
        ["parameters", fmt.grouped(t.params), fmt.human(t.params)],
        ["of which trainable", fmt.grouped(t.trainable_params), fmt.human(t.trainable_params)],
        ["buffers (batch-norm running statistics)", fmt.grouped(t.buffers), fmt.human(t.buffers)],
        ["MACs (counted kinds, see the convention)", fmt.grouped(t.macs), fmt.human(t.macs, "MAC")],
        ["FLOPs = 2 × MACs", fmt.grouped(t.flops), fmt.human(t.flops, "FLOP")],
        ["connections (LeCun et al.)", fmt.grouped(t.connections), fmt.human(t.connections)],
        ["activations, all layer outputs (elements)", fmt.grouped(t.activations),
         fmt.human(t.activations)],
        [f"activation memory, all layer outputs ({a.dtype})", fmt.grouped(t.activation_bytes) + " B",
         fmt.human_bytes(t.activation_bytes)],
        ["peak live activation memory", fmt.grouped(t.peak_activation_bytes) + " B",
         fmt.human_bytes(t.peak_activation_bytes)],
        ["layers", fmt.grouped(t.layers), ""],
    ]
    return Table(["quantity", "value", "in short"], rows_, [False, True, True])


def kinds_table(a: Analysis) -> Table:
    """Every kind of work, counted in the MACs or not, so the convention's effect is visible."""
    by_kind = a.totals.macs_by_kind
    counted = set(a.convention.kinds)
    body = [[KIND_LABELS[k], f"`{k}`", fmt.grouped(by_kind.get(k, 0)),
             "yes" if k in counted else "no"] for k in MAC_KINDS]
    return Table(["kind of work", "--count name", "operations (1 MAC each)", "in the MACs"], body,
                 [False, False, True, False],
                 ["**total counted**", "", fmt.grouped(a.totals.macs), ""])


def _source_text(a: Analysis) -> str:
    meta = a.graph.meta
    path = meta.get("file")
    if not path:
        return ""
    where = f"zoo definition `{os.path.basename(path)}`" if _in_zoo(path) else \
        f"definition `{os.path.basename(path)}`"
    if meta.get("variant"):
        where += f", variant `{meta['variant']}`"
    return where


def _in_zoo(path: str) -> bool:
    from ..zoo import ZOO_DIR
    return os.path.dirname(os.path.abspath(path)) == str(ZOO_DIR)


def _variables(a: Analysis) -> str:
    values = a.graph.meta.get("vars") or {}
    return ", ".join(f"{k}={v}" for k, v in values.items())


def model_blocks(a: Analysis, stem: str, formats: tuple[str, ...], *,
                 paper: list[Block] | None = None, graph: bool = False,
                 accuracy=None) -> list[Block]:
    """The report of one model, as blocks. ``stem`` names the files next to it; ``paper``: the
    section comparing with the paper (cnnstat.report.paper); ``graph``: the interactive view
    ``<stem>-graph.html`` is written too; ``accuracy`` (cnnstat.report.accuracy.Accuracy): the
    published top-1, when it applies."""
    t = a.totals
    blocks: list[Block] = [Heading(model_title(a), 1)]
    notes = " ".join(str(a.graph.meta.get("notes", "")).split())
    if notes:
        blocks.append(Para(notes))
    items = facts(a)
    source = _source_text(a)
    if source:
        items.insert(1, ("definition", source))
    if a.graph.meta.get("url"):
        items.insert(2 if source else 1, ("link", str(a.graph.meta["url"])))
    variables = _variables(a)
    if variables:
        items.append(("variables", variables))
    if accuracy is not None:
        items.append(("published top-1", f"{accuracy.top1:.2f}% on ImageNet-1K, not computed by "
                      f"cnnstat: {accuracy.where}"))
    blocks.append(Facts(items))
    others = [f"[{stem}.{ext}]({stem}.{ext}) ({what})" for ext, what in
              (("csv", "every layer, raw integers"), ("json", "the JSON contract, docs/json.md"),
               ("html", "this report as one self-contained page"), ("md", "this report in Markdown"))
              if ext in formats]
    if graph:
        others.insert(0, f"[{stem}-graph.html]({stem}-graph.html) (the interactive layer graph: "
                         "blocks collapsible, coloured by MACs, parameters, memory or receptive "
                         "field; `cnnstat view`)")
    if others:
        blocks.append(Para("Files: " + " · ".join(others) + "."))

    blocks += [Heading("Totals"), totals_table(a),
               Heading("Counting convention"),
               Para(a.convention.describe() + "."),
               Para("Every kind of work the layers do, whether the convention counts it or not "
                    "(`cnnstat flops MODEL --count KIND,...` adds kinds):"),
               kinds_table(a)]

    blocks += [Heading("Where the parameters and the multiply-adds are"),
               Para(_top(a, lambda r: r.params, "parameters", held=True) + " "
                    + _top(a, lambda r: r.macs, "MACs", "MAC")),
               Figure(f"{stem}-layers", f"{a.name}: {PLOTS[0][1]}",
                      "One bar per layer that multiplies by weights (convolution, fully "
                      "connected, LeNet's subsampling and RBF units), in graph order; other "
                      "layers' parameters (batch norm, PReLU, …) are in the tables.")]
    mem = series.memory_series(a)
    peak_at = mem.names[mem.peak_index] if mem.names else "-"
    blocks += [Heading("Activation memory"),
               Para(f"{fmt.human_bytes(t.activation_bytes)} of layer outputs in all ({a.dtype}, "
                    f"batch {a.batch}); at most {fmt.human_bytes(t.peak_activation_bytes)} alive at "
                    f"once, while `{peak_at}` runs, when each tensor is freed after its last "
                    "reader."),
               Figure(f"{stem}-memory", f"{a.name}: {PLOTS[1][1]}")]
    blocks += memory_blocks(a, stem)
    rf = series.rf_series(a)
    last = rf.points[-1]
    whole = (f"; from `{rf.whole_name}` on, every unit sees the whole input"
             if rf.whole_name else "")
    if rf.global_context:
        whole += (" through global context (a squeeze-and-excitation gate, say) mixed back into "
                  "the feature maps; the sizes here are the local fields of the spatial paths")
    blocks += [Heading("Receptive field"),
               Para(f"The receptive field grows to {last.size:g} px (effective stride "
                    f"{last.stride:g} px) at `{last.name}`, after {last.depth} layers that widen "
                    f"it{whole}. Sizes, strides and paddings per Araujo, Norris & Sim (Distill "
                    "2019), over every branch."),
               Figure(f"{stem}-rf", f"{a.name}: {PLOTS[2][1]}")]
    blocks += paper or []
    depth = table_depth(a)
    blocks += table_section(a, "Receptive field per layer" if depth is None else
                             "Receptive field per block", RF_COLUMNS, depth, level=2)
    blocks += table_section(a, "Layers", LAYER_COLUMNS, depth, level=2)
    return blocks


#: the device whose memory the report's "largest batch" answers for (devices.yaml)
FIT_DEVICE = "h100"
#: the memory plots of a model report: file suffix, title, figure function (of a training step)
MEMORY_PLOTS = (("memory-layers", "saved activations and weights per layer (training step)",
                 "memory_layers_figure"),
                ("memory-step", "live memory over a training step", "memory_timeline_figure"))


def training_memory(a: Analysis):
    """The inference and training (AdamW, fp32, PyTorch CUDA) memory reports of the analysis,
    with the largest batches on FIT_DEVICE; the training one is None with the reason when the
    model cannot train at this batch (batch norm over one value per channel)."""
    from ..errors import CnnstatError, UsageError
    from ..memory.api import memory
    try:
        inference = memory(a, device_profile=FIT_DEVICE)
    except UsageError:                  # no answer (more than 2^24 samples of a tiny model fit)
        inference = memory(a)
    try:
        return inference, memory(a, train=True), ""
    except CnnstatError as exc:
        return inference, None, str(exc)


def memory_blocks(a: Analysis, stem: str) -> list[Block]:
    """The report's training-memory section: the step's peak and its parts, inference beside
    it, the largest batch on an H100, and the two memory plots."""
    from ..render.memory import convention
    inference, train, why = training_memory(a)
    out: list[Block] = [Heading("Training memory")]
    if train is None:
        return out + [Para(f"No training step at batch {a.batch}: {why}.")]
    fit = inference.fit
    point = train.peak_point
    where = f"the {point.phase} of `{point.layer}`" if point.layer else f"the {point.phase}"
    out.append(Para(
        f"One training step (batch {a.batch}, fp32, AdamW, gradients set to None before the step, "
        f"PyTorch's CUDA behaviour) peaks at {fmt.human_bytes(train.peak)}, at {where}: "
        f"{fmt.human_bytes(train.saved_activations)} of activations saved for backward, "
        f"{fmt.human_bytes(train.persistent + train.gradients)} of weights, gradients and "
        f"optimizer state. Not modelled: {', '.join(train.not_modelled)}. Every layer, other "
        f"optimizers, precisions and checkpointing: `cnnstat memory {a.name} --train` "
        "(docs/memory.md); the rules are checked against autograd's saved tensors."))

    def row(label: str, get) -> list[str]:
        return [label] + [get(r) for r in (inference, train)]
    b = fmt.human_bytes
    rows = [row("peak", lambda r: b(r.peak)),
            row("saved for backward", lambda r: b(r.saved_activations + r.weight_casts)),
            row("parameters and buffers", lambda r: b(r.parameters + r.buffers)),
            row("gradients", lambda r: b(r.gradients)),
            row("optimizer state (AdamW: 2 per parameter)", lambda r: b(r.optimizer_state)),
            row("largest term at the peak", lambda r: r.limiting)]
    if fit is not None:
        rows.append([f"largest batch on an {fit.device}", f"{fit.inference.batch:,}",
                     f"{fit.training.batch:,}"])
    out.append(Table(["", f"inference (batch {a.batch})", f"training step (batch {a.batch})"],
                     rows, [False, True, True]))
    if fit is not None:
        out.append(Para("What limits the largest batch: inference — " + fit.inference.limiting +
                        "; training — " + fit.training.limiting + "."))
    else:
        out.append(Para(f"Largest batch on an H100: more than {MAX_BATCH:,} samples fit; not "
                        "searched further."))
    for suffix, title, _ in MEMORY_PLOTS:
        out.append(Figure(f"{stem}-{suffix}", f"{a.name}: {title}"))
    return out


def table_section(a: Analysis, title: str | None, columns, depth: int | None,
                  level: int) -> list[Block]:
    """A layer table under ``title`` (none: no heading); by block at ``depth``, with every
    layer in a collapsed section below (the report's long models, a notebook's analysis)."""
    out: list[Block] = [Heading(title, level)] if title else []
    if depth is None:
        return out + [layer_table(a, columns, None)]
    out.append(Para(f"{len(a.records)} layers, shown by block (`--depth {depth}`: rows sum the "
                    "layers of a block; output shape and receptive field are the block's last "
                    "layer's). Every layer is in the section below and in the CSV."))
    out.append(layer_table(a, columns, depth))
    out.append(Details(f"All {len(a.records)} layers", [layer_table(a, columns, None)]))
    return out
