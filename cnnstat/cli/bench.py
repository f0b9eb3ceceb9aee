"""``cnnstat bench`` (time real models), ``cnnstat roofline`` (predict from the static counts) and
``cnnstat device-profile`` (the device figures the prediction uses).

torch is imported inside ``bench`` and when ``device-profile`` measures; ``roofline`` with a
built-in or cached profile is static and never imports it."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import UsageError
from .app import (ArgOpt, BatchOpt, Format, FormatOpt, InputOpt, SetOpt, VariantOpt, app, console,
                  emit)

DeviceOpt = Annotated[str, typer.Option(
    "--device", help="cpu or cuda (cuda:N for another GPU).")]
ProfileOpt = Annotated[Optional[str], typer.Option(
    "--device-profile", "-p",
    help="Device figures of the roofline: a built-in GPU (a100, h100, h200, l4, t4, …; see "
         "cnnstat device-profile --list) or a measured one (local, local-cuda).")]
OverheadOpt = Annotated[Optional[float], typer.Option(
    "--overhead-us", min=0.0, help="Per-launch overhead in µs added per layer to the predicted "
                                   "latency (default: the profile's).")]
Tf32Opt = Annotated[bool, typer.Option(
    "--tf32/--no-tf32", help="Predict fp32 convolutions at the TF32 Tensor Core peak where the "
                             "device has one (PyTorch's default: cudnn.allow_tf32).")]


def _note(text: str) -> None:
    print(text, file=sys.stderr)


def parse_batches(text: str) -> tuple[int, ...]:
    out = []
    for item in str(text).split(","):
        item = item.strip()
        if not item:
            continue
        if not item.isdigit() or int(item) <= 0:
            raise UsageError(f"--batch '{text}': batch sizes are positive integers, e.g. 1,8,32")
        out.append(int(item))
    if not out:
        raise UsageError("--batch: give at least one batch size, e.g. 1,8,32")
    return tuple(dict.fromkeys(out))


# ------------------------------------------------------------------------------------------------
# cnnstat bench
# ------------------------------------------------------------------------------------------------
@app.command("bench")
def bench(
    models: Annotated[list[str], typer.Argument(
        help="Models to time: zoo names, definition files, imported models.",
        show_default=False)],
    device: DeviceOpt = "cpu",
    batch: Annotated[str, typer.Option(
        "--batch", "-b", help="Batch sizes, comma-separated: 1,8,32.")] = "1",
    dtype: Annotated[str, typer.Option(
        "--dtype", help="Element types, comma-separated: fp32, fp16, bf16.")] = "fp32",
    channels_last: Annotated[bool, typer.Option(
        "--channels-last", help="Weights and input in channels-last memory format.")] = False,
    compile: Annotated[bool, typer.Option(
        "--compile", help="Time torch.compile(model) (compiled during the warm-up).")] = False,
    threads: Annotated[Optional[int], typer.Option(
        "--threads", min=1, help="torch.set_num_threads(N). Default: torch's.")] = None,
    warmup: Annotated[float, typer.Option(
        "--warmup", min=0.0, help="Warm-up seconds before timing (at least one call).")] = 0.5,
    min_time: Annotated[float, typer.Option(
        "--min-time", min=0.0, help="Time iterations until this many seconds are measured.")]
        = 1.0,
    min_iters: Annotated[int, typer.Option(
        "--min-iters", min=1, help="...and at least this many iterations.")] = 5,
    impl: Annotated[str, typer.Option(
        "--impl", help="graph: the module cnnstat builds from the definition; torchvision: "
                       "torchvision's implementation of the same network.")] = "graph",
    cuda_timing: Annotated[str, typer.Option(
        "--cuda-timing", help="events: CUDA events around each iteration; sync: synchronize "
                              "around each iteration.")] = "events",
    device_profile: ProfileOpt = None,
    overhead_us: OverheadOpt = None,
    tf32: Tf32Opt = True,
    timer: Annotated[bool, typer.Option(
        "--timer", help="Also time each row with torch.utils.benchmark.Timer.blocked_autorange "
                        "(interleaved) and show the ratio.")] = False,
    input: InputOpt = None,
    set_: SetOpt = None,
    variant: VariantOpt = None,
    arg: ArgOpt = None,
    format: FormatOpt = Format.table,
    out: Annotated[Optional[str], typer.Option(
        "--out", "-o", help="Write a report folder here (README.md, bench.csv, bench.json, "
                            "plot), e.g. reports/bench/MACHINE.")] = None,
) -> int:
    """Time models on the CPU or a GPU: latency (median, p10, p90, IQR), throughput, achieved
    FLOP/s from the static count, peak memory, and the roofline prediction beside it.

    Warm-up is excluded; iterations are timed until --min-time seconds (adaptive); on a GPU each
    iteration is timed with CUDA events. An out-of-memory batch size is reported in its row and
    the sweep goes on; Ctrl-C keeps (and writes) the rows finished so far."""
    from ..timing import report as rep
    from ..timing.runner import parse_dtypes, resolve_target
    from ..timing.sweep import Settings, run_sweep
    settings = Settings(
        device=device, dtypes=tuple(parse_dtypes(dtype)), batches=parse_batches(batch),
        channels_last=(channels_last,), compile=compile, threads=threads, warmup_s=warmup,
        min_time_s=min_time, min_iters=min_iters, cuda_timing=cuda_timing, impl=impl,
        timer_check=timer, profile=device_profile,
        overhead_s=None if overhead_us is None else overhead_us * 1e-6, tf32=tf32)
    if cuda_timing not in ("events", "sync"):
        raise UsageError(f"--cuda-timing '{cuda_timing}': choose events or sync")
    targets = [resolve_target(m, impl, input=input, set=set_, variant=variant, args=arg)
               for m in dict.fromkeys(models)]
    with _Progress() as progress:
        result = run_sweep(targets, settings, on_start=progress.start, on_done=progress.done)
    command = _command_line(models, settings, device_profile, overhead_us, input, set_, variant,
                            arg)
    if out and result.rows:
        paths = rep.write_report(result, out, command)
        _note(f"wrote {len(paths)} files under {out}/ (index: {Path(out) / 'README.md'})")
    if format is Format.json:
        emit(rep.json_text(result))
    elif format is Format.csv:
        emit(rep.csv_text(result))
    elif format is Format.md:
        emit(rep.markdown_table(result))
    else:
        _print_table(result)
    failed = [r for r in result.rows if not r.ok]
    if failed:
        _note(f"note: {len(failed)} of {len(result.rows)} rows were not measured (see the table)")
    if result.interrupted:
        _note(f"error: interrupted: kept the {len(result.rows)} of {result.planned} rows "
              "finished" + (f" (written under {out}/)" if out and result.rows else ""))
        return 130
    return 0


def _command_line(models, s, profile, overhead_us, input, set_, variant, args=None) -> str:
    """The command that reproduces the sweep (recorded in the report)."""
    parts = ["cnnstat", "bench", *models]
    if s.device != "cpu":
        parts += ["--device", s.device]
    parts += ["--batch", ",".join(map(str, s.batches)), "--dtype", ",".join(s.dtypes)]
    parts += [flag for flag, on in (("--channels-last", s.channels_last[0]),
                                    ("--compile", s.compile), ("--timer", s.timer_check),
                                    ("--no-tf32", not s.tf32)) if on]
    for flag, value, default in (("--threads", s.threads, None), ("--warmup", s.warmup_s, 0.5),
                                 ("--min-time", s.min_time_s, 1.0), ("--min-iters", s.min_iters, 5),
                                 ("--impl", s.impl, "graph"),
                                 ("--cuda-timing", s.cuda_timing, "events"),
                                 ("--device-profile", profile, None),
                                 ("--overhead-us", overhead_us, None), ("--input", input, None),
                                 ("--variant", variant, None)):
        if value is not None and value != default:
            parts += [flag, f"{value:g}" if isinstance(value, float) else str(value)]
    for item in set_ or []:
        parts += ["--set", item]
    for item in args or []:
        parts += ["--arg", item]
    return " ".join(shlex.quote(p) for p in parts)


def _print_table(result) -> None:
    from rich import box
    from rich.markup import escape
    from rich.table import Table
    from ..timing import report as rep
    from ..timing.machine import describe
    headers, cells, numeric = rep.table(result)
    table = Table(box=box.SIMPLE_HEAD, title=escape(f"cnnstat bench — {describe(result.machine)}"),
                  caption=escape("\n".join(rep.footnotes(result))), caption_justify="left")
    for header, num in zip(headers, numeric):
        table.add_column(header, justify="right" if num else "left", overflow="fold")
    for row, r in zip(cells, result.rows):
        table.add_row(*(escape(c) for c in row), style=None if r.ok else "red")
    console().print(table)


class _Progress:
    """A rich progress bar on a terminal; one line per finished row otherwise (logs)."""

    def __init__(self):
        from rich.console import Console
        self._console = Console(stderr=True, highlight=False)
        self._bar = None
        self._task = None
        self._index = 0
        self._total = 0

    def __enter__(self):
        if self._console.is_terminal:
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                       TimeElapsedColumn)
            self._bar = Progress(TextColumn("{task.description}"), BarColumn(),
                                 MofNCompleteColumn(), TimeElapsedColumn(),
                                 console=self._console, transient=True)
            self._bar.__enter__()
        return self

    def __exit__(self, *exc):
        if self._bar is not None:
            self._bar.__exit__(*exc)
        return False

    def start(self, index: int, total: int, label: str) -> None:
        self._index, self._total = index, total
        if self._bar is not None:
            if self._task is None:
                self._task = self._bar.add_task(label, total=total)
            self._bar.update(self._task, description=f"timing {label}", completed=index - 1)

    def done(self, row) -> None:
        from ..roofline.render import sig
        text = (f"{sig(row.stats.median * 1e3)} ms median over {row.stats.n} iterations"
                if row.ok else f"{row.status}: {row.message}")
        line = f"[{self._index}/{self._total}] {row.series} batch {row.batch}: {text}"
        if self._bar is not None:
            self._bar.update(self._task, completed=self._index)
            self._bar.console.print(line, markup=False)
        else:
            print(line, file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------------
# cnnstat roofline
# ------------------------------------------------------------------------------------------------
@app.command("roofline")
def roofline(
    model: Annotated[str, typer.Argument(
        help="A zoo model, a definition file or an imported model.", show_default=False)],
    device_profile: ProfileOpt = None,
    batch: BatchOpt = 1,
    dtype: Annotated[str, typer.Option("--dtype", help="fp32, fp16 or bf16.")] = "fp32",
    count: Annotated[str, typer.Option(
        "--count", help="Kinds of work in the FLOPs: all (default: the device does all of it) "
                        "or default (conv + linear only), or a comma list.")] = "all",
    overhead_us: OverheadOpt = None,
    tf32: Tf32Opt = True,
    top: Annotated[Optional[int], typer.Option(
        "--top", min=1, help="List only the N layers with the longest predicted time.")] = None,
    input: InputOpt = None,
    set_: SetOpt = None,
    variant: VariantOpt = None,
    arg: ArgOpt = None,
    format: FormatOpt = Format.table,
    out: Annotated[Optional[str], typer.Option(
        "--out", "-o", help="Write the table to this file (atomically).")] = None,
    plot: Annotated[Optional[str], typer.Option(
        "--plot", help="Also write the roofline plot: a .png or .svg file.")] = None,
) -> None:
    """Roofline prediction per layer: FLOPs, bytes moved, arithmetic intensity, predicted time
    and whether compute or memory bounds it, on a device profile; the whole model's latency.

    Static: computed from cnnstat's counts and the profile's peak FLOP/s and bandwidth."""
    from .. import analyze
    from ..roofline import predict, render
    from ..roofline.profiles import LOCAL, canonical_dtype, cached_profiles, get_profile
    if plot and Path(plot).suffix.lower() not in (".png", ".svg"):
        raise UsageError(f"--plot '{plot}': the file name must end in .png or .svg")
    if device_profile is None:
        if LOCAL not in cached_profiles():
            raise UsageError("name a device with --device-profile (a100, h100, h200, l4, t4, …: "
                             "cnnstat device-profile --list), or measure this machine first "
                             "with cnnstat device-profile")
        device_profile = LOCAL
    profile = get_profile(device_profile).with_overhead(
        None if overhead_us is None else overhead_us * 1e-6)
    a = analyze(model, input, batch=batch, set=set_, variant=variant, args=arg, count=count,
                dtype=canonical_dtype(dtype))
    pred = predict(a, profile, tf32=tf32)
    convention = a.convention.describe()
    if plot:
        from .. import plots
        from ..fileio import atomic_write
        data = plots.render_all(plots.roofline_figure(pred))
        atomic_write(plot, data[Path(plot).suffix.lower().lstrip(".")])
        _note(f"wrote {plot}")
    if format is Format.json:
        emit(render.json_text(pred, convention), out)
    elif format is Format.csv:
        emit(render.csv_text(pred), out)
    elif format is Format.md or out:
        emit(render.markdown(pred, convention), out)
    else:
        _print_roofline(pred, convention, top)


def _print_roofline(pred, convention: str, top: int | None) -> None:
    from rich import box
    from rich.markup import escape
    from rich.table import Table
    from ..roofline import render
    cells = render.layer_cells(pred)
    styles = {"compute": "blue", "memory": "red", "view": "dim"}
    rows = list(zip(cells, pred.layers))
    if top:
        rows = sorted(rows, key=lambda cp: -cp[1].time_s)[:top]
    title = (f"{pred.model}: roofline on {pred.profile.title}, {pred.dtype}, batch {pred.batch}"
             + (f" — the {len(rows)} slowest layers" if top else ""))
    table = Table(box=box.SIMPLE_HEAD, title=escape(title))
    for header, num in zip(render.LAYER_HEADERS, render.LAYER_NUMERIC):
        table.add_column(header, justify="right" if num else "left", overflow="fold")
    for cell, p in rows:
        table.add_row(*(escape(c) for c in cell), style=styles.get(p.bound))
    con = console()
    con.print(table)
    ops = Table(box=box.SIMPLE_HEAD, title="where the time goes, by operator",
                caption=escape("\n".join(render.summary_lines(pred, convention))),
                caption_justify="left")
    for i, header in enumerate(render.OP_HEADERS):
        ops.add_column(header, justify="left" if i in (0, len(render.OP_HEADERS) - 1) else "right")
    for row in render.operator_cells(pred):
        ops.add_row(*(escape(c) for c in row))
    con.print(ops)


# ------------------------------------------------------------------------------------------------
# cnnstat device-profile
# ------------------------------------------------------------------------------------------------
@app.command("device-profile")
def device_profile_command(
    device: DeviceOpt = "cpu",
    dtype: Annotated[str, typer.Option(
        "--dtype", help="Element types to probe, comma-separated.")] = "fp32,bf16,fp16",
    threads: Annotated[Optional[int], typer.Option(
        "--threads", min=1, help="torch.set_num_threads(N) while probing.")] = None,
    refresh: Annotated[bool, typer.Option(
        "--refresh", help="Measure again even if a profile of this device is cached.")] = False,
    list_: Annotated[bool, typer.Option(
        "--list", help="List every profile: built in (datasheets) and measured (cached).")]
        = False,
    format: FormatOpt = Format.table,
) -> None:
    """Measure this machine's device profile (matmul, copy and launch probes; a few seconds) and
    cache it for cnnstat roofline and bench; or --list every profile."""
    from ..roofline import profiles as P
    if list_:
        _show_profiles(list(P.all_profiles().values()), format)
        return
    name = P.LOCAL_CUDA if device.strip().lower().startswith("cuda") else P.LOCAL
    cached = P.cached_profiles().get(name)
    if cached is not None and not refresh:
        _note(f"cached profile '{name}' (measured {cached.measured.get('date_utc', '?')}); "
              f"--refresh measures again ({P.cache_path()})")
        _show_profiles([cached], format)
        return
    import torch
    from ..timing.probe import measure_profile
    from ..timing.runner import parse_dtypes
    if threads is not None:
        torch.set_num_threads(threads)
    profile = measure_profile(device, tuple(parse_dtypes(dtype)),
                              progress=lambda what: _note(f"probing {what} ..."))
    path = P.save_profile(profile)
    _note(f"saved profile '{profile.name}' to {path}")
    _show_profiles([profile], format)


def _show_profiles(profiles, format: Format) -> None:
    from ..roofline.profiles import describe
    if format is Format.json:
        import json
        emit(json.dumps([p.to_dict() for p in profiles], indent=2) + "\n")
        return
    headers = ["name", "device", "matrix peaks (dense)", "vector peak", "bandwidth",
               "overhead/launch", "kind"]
    keys = ["name", "title", "matrix", "vector", "bandwidth", "overhead", "kind"]
    rows = [[describe(p)[k] for k in keys] for p in profiles]
    if format is Format.csv:
        import csv
        import io
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerows([headers] + rows)
        emit(buf.getvalue())
    elif format is Format.md:
        lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        lines += [""] + [f"- {p.name}: {p.source}" for p in profiles]
        emit("\n".join(lines) + "\n")
    else:
        from rich import box
        from rich.table import Table
        from rich.markup import escape
        table = Table(box=box.SIMPLE_HEAD, title="device profiles",
                      caption=escape("\n".join(f"{p.name}: {p.source}" for p in profiles)),
                      caption_justify="left")
        for h in headers:
            table.add_column(h, overflow="fold")
        for r in rows:
            table.add_row(*(escape(c) for c in r))
        console().print(table)
