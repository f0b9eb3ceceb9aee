"""Benchmark results as tables, CSV, JSON and a report folder (``cnnstat bench --out DIR``).

Machine-readable outputs (CSV, JSON) hold base units: seconds, bytes, FLOP/s. Tables and the
Markdown report show milliseconds, images/s, GFLOP/s and binary memory units.

The report folder (``reports/bench/<machine>/`` by convention)::

    README.md           machine, settings, results, plot, notes, how it was measured
    bench.csv           one row per (model, impl, dtype, memory format, compile, batch)
    bench.json          the same with the machine, settings and conventions
    bench.png, .svg     latency and throughput against batch size (cnnstat.plots.bench_figure)

All files are written together (cnnstat.fileio.write_tree): complete, or not at all.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from ..convention import flops
from ..render.escape import csv_writer, md_cell, md_code, md_text
from ..render.numbers import human_bytes
from ..roofline.render import sig
from .machine import describe
from .machine import title as machine_title
from .sweep import Row, SweepResult

CSV_COLUMNS = [
    "model", "impl", "device", "dtype", "channels_last", "compile", "batch", "input", "threads",
    "status",
    "message", "iterations", "warmup_iterations", "median_s", "p10_s", "p90_s", "q25_s", "q75_s",
    "iqr_s", "mean_s", "min_s", "max_s", "throughput_images_per_s", "macs", "flops",
    "achieved_flops_per_s", "achieved_macs_per_s", "memory_peak_bytes", "memory_growth_bytes",
    "memory_method", "predicted_s", "profile", "measured_over_predicted", "timer_median_s",
    "timer_ratio",
]


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else sig(seconds * 1e3)


def _csv_row(r: Row) -> list[Any]:
    s = r.stats
    timer = r.timer
    values = {
        "model": r.model, "impl": r.impl, "device": r.device, "dtype": r.dtype,
        "channels_last": r.channels_last, "compile": r.compile, "batch": r.batch,
        "input": "x".join(map(str, r.input)), "threads": r.threads, "status": r.status, "message": r.message,
        "iterations": s.n if s else "", "warmup_iterations": r.warmup_iters if s else "",
        "median_s": s.median if s else "", "p10_s": s.p10 if s else "",
        "p90_s": s.p90 if s else "", "q25_s": s.q25 if s else "", "q75_s": s.q75 if s else "",
        "iqr_s": s.iqr if s else "", "mean_s": s.mean if s else "", "min_s": s.min if s else "",
        "max_s": s.max if s else "", "throughput_images_per_s": r.throughput or "",
        "macs": r.macs, "flops": flops(r.macs),
        "achieved_flops_per_s": r.achieved_flops or "", "achieved_macs_per_s": r.macs_per_s or "",
        "memory_peak_bytes": r.memory_peak if r.memory_peak is not None else "",
        "memory_growth_bytes": r.memory_growth if r.memory_growth is not None else "",
        "memory_method": r.memory_method, "predicted_s": r.predicted_s or "",
        "profile": r.profile or "", "measured_over_predicted": r.predicted_ratio or "",
        "timer_median_s": timer.timer_median if timer else "",
        "timer_ratio": timer.ratio if timer else "",
    }
    return [values[c] for c in CSV_COLUMNS]


def csv_text(result: SweepResult) -> str:
    buf = io.StringIO()
    writer = csv_writer(buf)
    writer.writerow(CSV_COLUMNS)
    for r in result.rows:
        writer.writerow(_csv_row(r))
    return buf.getvalue()


def json_text(result: SweepResult) -> str:
    return json.dumps(result.to_dict(), indent=2) + "\n"


# -- human tables --------------------------------------------------------------------------------
def table(result: SweepResult) -> tuple[list[str], list[list[str]], list[bool]]:
    """Headers, cells and which columns are numeric (for right alignment)."""
    rows = result.rows
    timer = any(r.timer is not None for r in rows)
    predicted = any(r.predicted_s for r in rows)
    several_impls = len({r.impl for r in rows}) > 1 or any(r.impl != "graph" for r in rows)
    headers = ["model"] + (["impl"] if several_impls else []) + [
        "input", "dtype", "layout", "batch", "median ms", "p10–p90 ms", "IQR ms", "n", "images/s",
        "GFLOP/s", "GMAC/s", "memory"]
    if predicted:
        headers += ["predicted ms", "measured ÷ predicted"]
    if timer:
        headers += ["cnnstat ms, interleaved", "Timer ms", "cnnstat ÷ Timer"]
    numeric = [h not in ("model", "impl", "input", "dtype", "layout") for h in headers]
    cells = []
    for r in rows:
        head = [r.model] + ([r.impl] if several_impls else []) + [
            "×".join(map(str, r.input)), r.dtype + (" compiled" if r.compile else ""),
            "channels-last" if r.channels_last else "contiguous", str(r.batch)]
        if not r.ok:
            rest = [f"{r.status}: {r.message}"] + [""] * (len(headers) - len(head) - 1)
            cells.append(head + rest)
            continue
        s = r.stats
        mem = "-" if r.memory_growth is None else human_bytes(r.memory_growth)
        line = head + [_ms(s.median), f"{_ms(s.p10)}–{_ms(s.p90)}", _ms(s.iqr), str(s.n),
                       sig(r.throughput), sig(r.achieved_flops / 1e9),
                       sig(r.macs_per_s / 1e9), mem]
        if predicted:
            line += [_ms(r.predicted_s), sig(r.predicted_ratio) if r.predicted_ratio else "-"]
        if timer:
            line += ([_ms(r.timer.ours_median), _ms(r.timer.timer_median), f"{r.timer.ratio:.3f}"]
                     if r.timer else ["-", "-", "-"])
        cells.append(line)
    return headers, cells, numeric


def footnotes(result: SweepResult) -> list[str]:
    s = result.settings
    rows = result.rows
    notes = []
    method = rows[0].memory_method if rows and rows[0].memory_method else None
    notes.append(
        f"latency: one forward pass of the batch, warm-up ≥ {s.warmup_s:g} s excluded, then "
        f"timed until ≥ {s.min_time_s:g} s and ≥ {s.min_iters} iterations; median, p10–p90 and "
        "IQR over the timed iterations (n)"
        + ("; CUDA: " + ("events around each iteration" if s.cuda_timing == "events"
                         else "synchronization around each iteration")
           if s.device.startswith("cuda") else ""))
    notes.append("images/s = batch ÷ median; GFLOP/s and GMAC/s from cnnstat's static count "
                 "(conv + linear multiply-adds, FLOPs = 2 × MACs) ÷ median")
    notes.append("memory: " + (
        "the CUDA allocator's peak during the timed iterations, less what was allocated before "
        "them (weights, input): activations and workspaces" if s.device.startswith("cuda") else
        "the process's peak resident set during the timed iterations, less its size before "
        "them: activations and workspaces (weights were resident already)")
        + "; the warm-up (first-call allocations, compilation) is not counted"
        + (f" [{method}]" if method else ""))
    if any(r.predicted_s for r in rows):
        notes.append("predicted: roofline of every layer, Σ max(FLOPs ÷ peak, bytes ÷ bandwidth) "
                     "+ launches × overhead (docs/timing.md); measured ÷ predicted > 1: slower "
                     "than the roofline")
    if any(r.timer is not None for r in rows):
        notes.append("Timer: torch.utils.benchmark.Timer(...).blocked_autorange() on the same "
                     "call and thread count, in rounds interleaved with rounds of cnnstat's loop "
                     "(after the row's own measurement); the medians of the rounds compared")
    notes.extend(result.notes)
    if result.interrupted:
        notes.append(f"interrupted (Ctrl-C): {len(rows)} of {result.planned} rows finished; "
                     "they are kept")
    return notes


def _md_table(headers: list[str], cells: list[list[str]], numeric: list[bool]) -> list[str]:
    lines = ["| " + " | ".join(md_cell(h) for h in headers) + " |",
             "|" + "|".join("---:" if n else "---" for n in numeric) + "|"]
    lines += ["| " + " | ".join(md_cell(c) for c in row) + " |" for row in cells]
    return lines


MACHINE_FIELDS = [
    ("gpu", "GPU"), ("gpu_memory_bytes", "GPU memory"), ("gpu_capability", "compute capability"),
    ("cuda", "CUDA"), ("cudnn", "cuDNN"), ("cpu", "CPU"), ("logical_cores", "logical cores"),
    ("physical_cores", "physical cores"), ("usable_cores", "cores usable by this process"),
    ("torch_threads", "torch threads"), ("load_average_1_5_15min", "load average (1, 5, 15 min)"),
    ("torch", "torch"), ("torchvision", "torchvision"), ("python", "Python"),
    ("platform", "platform"), ("cnnstat", "cnnstat"), ("date_utc", "measured (UTC)"),
]


def machine_lines(info: dict) -> list[str]:
    lines = ["| | |", "|---|---|"]
    for key, label in MACHINE_FIELDS:
        if info.get(key) is None:
            continue
        value = info[key]
        if key == "gpu_memory_bytes":
            value = human_bytes(int(value))
        elif isinstance(value, list):
            value = ", ".join(str(v) for v in value)
        lines.append(f"| {label} | {md_cell(value)} |")
    return lines


def report_markdown(result: SweepResult, command: str | None, plot: str | None) -> str:
    info = result.machine
    lines = [f"# cnnstat bench: {md_text(describe(info))}", ""]
    if command:
        lines += [f"Made by {md_code(command)}.", ""]
    if result.interrupted:
        lines += [f"**Interrupted**: {len(result.rows)} of {result.planned} rows finished.", ""]
    lines += ["## Machine", ""] + machine_lines(info) + [""]
    lines += ["## Results", ""]
    headers, cells, numeric = table(result)
    lines += _md_table(headers, cells, numeric) + [""]
    if plot:
        lines += [f"[![latency and throughput against batch size]({plot}.png)]({plot}.svg)", ""]
    lines += ["## How it was measured", ""] + [f"- {md_text(n)}" for n in footnotes(result)] + [""]
    lines += ["Files: [bench.csv](bench.csv) (base units: seconds, bytes, FLOP/s), "
              "[bench.json](bench.json) (the same, with the machine, settings and conventions). "
              "Method and conventions: docs/timing.md.", ""]
    return "\n".join(lines)


def report_files(result: SweepResult, command: str | None = None) -> dict[str, str | bytes]:
    """Every file of the report folder, in memory (nothing written)."""
    files: dict[str, str | bytes] = {"bench.csv": csv_text(result), "bench.json": json_text(result)}
    plot = None
    if any(r.ok for r in result.rows):
        from .. import plots
        title = f"{machine_title(result.machine)}: latency and throughput"
        out = plots.render_all(plots.bench_figure(result.rows, title))
        files["bench.png"], files["bench.svg"] = out["png"], out["svg"]
        plot = "bench"
    files["README.md"] = report_markdown(result, command, plot)
    return files


def write_report(result: SweepResult, out: str | Path, command: str | None = None) -> list[Path]:
    from ..fileio import write_tree
    return write_tree(out, report_files(result, command))
