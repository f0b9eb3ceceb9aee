"""Rendering of a memory report (cnnstat.memory): rich table, Markdown, CSV and JSON.

Numbers stay integers (bytes) in JSON and CSV; tables show binary prefixes (MiB, GiB). Every
output states what the figures assume and what is not modelled.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from ..memory.model import CATEGORIES, LayerMemory, MemoryReport
from .numbers import human_bytes

COLUMNS = (("layer", "name"), ("op", "op"), ("dtype", "dtype"), ("output", "output_bytes"),
           ("saved for backward", "saved_bytes"), ("weight casts", "cast_bytes"),
           ("params", "param_bytes"), ("gradients", "grad_bytes"),
           ("optimizer state", "optimizer_bytes"))


def convention(report: MemoryReport) -> str:
    """One line: what the figures assume."""
    o = report.options
    mode = "training step" if o.train else "inference (no gradients)"
    precision = f"autocast {o.dtype} (float32 weights)" if o.amp else o.dtype
    if o.master_weights:
        precision += " + float32 master weights"
    parts = [f"{mode}, batch {report.batch}, {precision}, PyTorch {o.device.upper()} behaviour"]
    if o.train:
        parts.append(f"optimizer {o.optimizer}" + (" (foreach)" if o.uses_foreach and
                                                     o.optimizer in ("adam", "adamw") else ""))
        parts.append("gradients set to None before the step; loss = mean of the outputs")
        if o.checkpoint is not None:
            parts.append(f"activation checkpointing per block (depth {o.checkpoint})"
                         if isinstance(o.checkpoint, int) else
                         f"activation checkpointing of {', '.join(o.checkpoint)}")
    parts.append("not modelled: " + ", ".join(report.not_modelled))
    return "; ".join(parts)


def _columns(report: MemoryReport) -> list[tuple[str, str]]:
    cols = list(COLUMNS)
    if not report.options.train:
        cols = [c for c in cols if c[1] not in ("saved_bytes", "cast_bytes", "grad_bytes",
                                                "optimizer_bytes")]
    elif not report.options.amp:
        cols = [c for c in cols if c[1] != "cast_bytes"]
    return cols


def summary_rows(report: MemoryReport, fit: Any = None) -> list[tuple[str, int | str]]:
    """(label, bytes or text) lines under the table."""
    rows: list[tuple[str, int | str]] = [("parameters", report.parameters),
                                         ("buffers", report.buffers)]
    if report.options.train:
        rows += [("gradients", report.gradients), ("optimizer state", report.optimizer_state)]
        if report.master_weights:
            rows.append(("master weights", report.master_weights))
        rows.append(("saved activations", report.saved_activations))
        if report.options.amp:
            rows.append(("weight casts (saved)", report.weight_casts))
        if report.optimizer_workspace:
            rows.append(("optimizer step workspace", report.optimizer_workspace))
    rows.append(("input batch", report.input_bytes))
    point = report.peak_point
    where = f"{point.phase} of {point.layer}" if point.layer else point.phase
    rows.append(("peak", report.peak))
    rows.append(("peak at", where))
    for name in CATEGORIES:
        if report.peak_breakdown.get(name):
            rows.append((f"  of which {name}", report.peak_breakdown[name]))
    if report.recompute_macs:
        share = report.recompute_macs / report.forward_macs if report.forward_macs else 0
        rows.append(("recomputed MACs (checkpointing)", f"{report.recompute_macs:,} (+{share:.0%} "
                     f"of the forward's {report.forward_macs:,})"))
    rows += not_counted_lines(report)
    if fit is not None:
        rows += fit_rows(fit)
    return rows


def fit_rows(fits: Any) -> list[tuple[str, int | str]]:
    """The largest batch for inference and for training, each with its limiting term."""
    capacity = human_bytes(fits.capacity) + (f" ({fits.device})" if fits.device else "")
    rows: list[tuple[str, int | str]] = [("capacity", capacity)]
    for mode, fit in fits.by_mode():
        peaks = (f"peak {human_bytes(fit.peak)} at batch {fit.batch}, "
                 if fit.report is not None else "")
        rows.append((f"largest batch, {mode}", f"{fit.batch} ({peaks}{human_bytes(fit.over.peak)} "
                                               f"at {fit.over.batch})"))
        rows.append((f"  limited by ({mode})", fit.limiting))
    return rows


def fit_dict(fits: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"capacity": fits.capacity, "device": fits.device}
    for mode, fit in fits.by_mode():
        data[mode] = {"batch": fit.batch, "peak": fit.peak, "next_peak": fit.over.peak,
                      "limiting": fit.limiting}
    return data


def row_cells(row: Any, cols: list[tuple[str, str]]) -> list[str]:
    """One layer's cells: bytes with binary prefixes, the name marked [train] (runs only in
    training) or (not counted) (no saved-tensor rule)."""
    cells = [human_bytes(getattr(row, k)) if k.endswith("bytes") else str(getattr(row, k))
             for _, k in cols]
    if row.train_only:
        cells[0] += " [train]"
    if not row.counted:
        cells[0] += " (not counted)"
    return cells


def _cell(value: int | str) -> str:
    return human_bytes(value) if isinstance(value, int) else value


def to_dict(report: MemoryReport, fit: Any = None) -> dict[str, Any]:
    o = report.options
    data: dict[str, Any] = {
        "model": report.name, "batch": report.batch,
        "options": {"train": o.train, "optimizer": o.optimizer if o.train else None,
                    "dtype": o.dtype, "amp": o.amp, "master_weights": o.master_weights,
                    "checkpoint": list(o.checkpoint) if isinstance(o.checkpoint, tuple)
                    else o.checkpoint, "device": o.device},
        "convention": convention(report),
        "unit": "bytes",
        "layers": [{key: getattr(row, key) for _, key in COLUMNS}
                   | {"saved": [{"what": w, "bytes": b} for w, b in row.saved],
                      "counted": row.counted,
                      **({"why_not": row.why_not} if not row.counted else {}),
                      "checkpointed": row.checkpointed,
                      "train_only": row.train_only,
                      "recomputed_bytes": row.recomputed_bytes, "master_bytes": row.master_bytes,
                      "buffer_bytes": row.buffer_bytes}
                   for row in report.layers],
        "totals": {"parameters": report.parameters, "buffers": report.buffers,
                   "gradients": report.gradients, "optimizer_state": report.optimizer_state,
                   "master_weights": report.master_weights,
                   "saved_activations": report.saved_activations,
                   "weight_casts": report.weight_casts, "input": report.input_bytes,
                   "optimizer_workspace": report.optimizer_workspace},
        "peak": {"bytes": report.peak, "phase": report.peak_point.phase,
                 "layer": report.peak_point.layer, "breakdown": report.peak_breakdown,
                 "limiting": report.limiting},
        "recompute_macs": report.recompute_macs, "forward_macs": report.forward_macs,
        "not_counted": report.not_counted,
        "not_modelled": list(report.not_modelled),
        "timeline": [{"phase": p.phase, "layer": p.layer, "bytes": p.bytes}
                     for p in report.timeline],
    }
    if fit is not None:
        data["fit"] = fit_dict(fit)
    return data


def to_json(report: MemoryReport, fit: Any = None) -> str:
    return json.dumps(to_dict(report, fit), indent=2) + "\n"


def to_csv(report: MemoryReport) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    cols = _columns(report)
    writer.writerow([f"{title} (bytes)" if key.endswith("bytes") else title
                     for title, key in cols])
    for row in report.layers:
        writer.writerow([getattr(row, key) for _, key in cols])
    return buf.getvalue()


def to_markdown(report: MemoryReport, fit: Any = None) -> str:
    cols = _columns(report)
    lines = [f"# Memory: {report.name}", "", convention(report), "",
             "| " + " | ".join(t for t, _ in cols) + " |",
             "|" + "|".join("---" if not k.endswith("bytes") else "---:" for _, k in cols) + "|"]
    for row in report.layers:
        lines.append("| " + " | ".join(_md(c) for c in row_cells(row, cols)) + " |")
    lines += ["", "| total | bytes |", "|---|---:|"]
    lines += [f"| {_md(label)} | {_md(_cell(value))} |" for label, value in summary_rows(report, fit)]
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    return str(text).replace("|", "\\|")


def layer_grid(report: MemoryReport):
    """The per-layer bytes as the command's main table (``--columns`` chooses among its keys),
    the totals in its last row; checkpointed layers dimmed."""
    from .grid import FIXED, NAME, WRAP, Col, Grid
    cols = _columns(report)
    fits = {"name": NAME, "op": WRAP, "dtype": FIXED}
    grid_cols = [Col("layer" if k == "name" else k, title + (" (bytes)" if k.endswith("bytes")
                                                             else ""),
                     numeric=k.endswith("bytes"), fit=fits.get(k, FIXED),
                     summed=k.endswith("bytes")) for title, k in cols]
    main = "saved_bytes" if report.options.train else "output_bytes"
    total = ["total"] + ["" for _ in cols[1:3]] + [
        human_bytes(sum(getattr(r, k) for r in report.layers)) for _, k in cols[3:]]
    return Grid(grid_cols, [row_cells(r, cols) for r in report.layers],
                raw=[[getattr(r, k) for _, k in cols] for r in report.layers],
                keep=("layer", main), drop_first=("dtype", "op"), total=total,
                styles=["dim" if r.checkpointed else None for r in report.layers],
                title=f"memory: {report.name}")


def output(report: MemoryReport):
    """What ``cnnstat memory`` shows: the layers, the totals (the peak, its terms, the largest
    batches) and the convention; JSON, CSV and Markdown as above."""
    from ..report.document import Para, Table
    from .output import Output
    totals = Table(["", "bytes"], [[label, _cell(value)] for label, value in
                                   summary_rows(report, report.fit)], [False, True])
    return Output([layer_grid(report), totals, Para(convention(report) + ".")],
                  json=lambda: to_json(report, report.fit), csv=lambda: to_csv(report),
                  markdown=lambda: to_markdown(report, report.fit))


# -- a notebook's and a report's blocks (cnnstat.report.document) ------------------------------------
MAX_ROWS = 80


def mode_text(report: MemoryReport) -> str:
    """'training step (adamw), batch 8, fp32' / 'inference, batch 1, bf16 autocast'."""
    o = report.options
    mode = f"training step ({o.optimizer})" if o.train else "inference"
    return f"{mode}, batch {report.batch}, {o.dtype}{' autocast' if o.amp else ''}"


def summary_line(report: MemoryReport) -> str:
    """One line: the model, the mode and the peak (``repr``)."""
    o = report.options
    mode = f"training ({o.optimizer})" if o.train else "inference"
    point = report.peak_point
    where = f"{point.phase} of {point.layer}" if point.layer else point.phase
    return (f"<cnnstat MemoryReport {report.name!r}: {mode}, batch {report.batch}, {o.dtype}"
            f"{' amp' if o.amp else ''}; peak {human_bytes(report.peak)} at the {where}>")


def layer_table(report: MemoryReport):
    """The per-layer bytes as a report table, its totals in the last row."""
    from ..report.document import Table
    cols = _columns(report)
    rows = []
    for row in report.layers:
        cells = row_cells(row, cols)
        if row.checkpointed:
            cells[0] += " (checkpointed)"
        rows.append(cells)
    total = ["**total**", "", ""] + [
        f"**{human_bytes(sum(getattr(r, k) for r in report.layers))}**" for _, k in cols[3:]]
    return Table([t for t, _ in cols], rows, [k.endswith("bytes") for _, k in cols], total)


def totals_table(report: MemoryReport):
    from ..report.document import Table
    rows = [[label, _cell(value)] for label, value in summary_rows(report, report.fit)]
    return Table(["", "bytes"], rows, [False, True])


def blocks(report: MemoryReport, level: int = 3) -> list:
    """The report as blocks: the convention, the totals (the peak, its parts, the largest
    batches), then every layer (collapsed beyond MAX_ROWS rows)."""
    from ..report.document import Details, Heading, Para
    mode = "training step" if report.options.train else "inference"
    out = [Heading(f"Memory: {report.name} ({mode}, batch {report.batch})", level),
           Para(convention(report) + "."), totals_table(report)]
    table = layer_table(report)
    if len(report.layers) > MAX_ROWS:
        out.append(Details(f"All {len(report.layers)} layers", [table]))
    else:
        out.append(table)
    return out


def not_counted_lines(report: MemoryReport) -> list[tuple[str, str]]:
    """The layers whose saved tensors are not counted, one line per operator and reason: "attention
    at 12 layers (blocks.0.attn.sdpa … blocks.11.attn.sdpa): the attention kernel torch picks on
    cuda … is not known here; --device cpu counts it" — a long list names its first and last
    layer, so the line stays readable whatever the model's depth."""
    groups: dict[tuple[str, str], list[LayerMemory]] = {}
    for row in report.layers:
        if not row.counted:
            groups.setdefault((row.op, row.why_not), []).append(row)
    lines = []
    for (op, why), rows in groups.items():
        names = [r.name for r in rows]
        shown = ", ".join(names) if len(names) <= 2 else f"{names[0]} … {names[-1]}"
        where = f"{op} at {len(names)} layer{'s' if len(names) > 1 else ''} ({shown})"
        lines.append(("not counted", f"{where}: {why}"))
    return lines
