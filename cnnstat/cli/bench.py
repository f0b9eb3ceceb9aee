"""``cnnstat bench`` (time real models), ``cnnstat roofline`` (predict from the static counts) and
``cnnstat device-profile`` (the device figures the prediction uses).

torch is imported inside ``bench`` and when ``device-profile`` measures; ``roofline`` with a
built-in or cached profile is static and never imports it."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from ..errors import UsageError
from .app import (ARG, BATCH, COUNT, DTYPE, INPUT, MODEL, MODELS, OUT, OUTPUT, PLOT, SET, VARIANT,
                  ModelOptions, Opt, but, command, integer, number, output_options)

DEVICE = Opt("device", ("--device",), default="cpu", metavar="DEVICE",
             help="cpu or cuda (cuda:N for another GPU).")
PROFILE = Opt("device_profile", ("--device-profile", "-p"), metavar="NAME", help=(
    "Device figures of the roofline: a built-in GPU (a100, h100, h200, l4, t4, …; see "
    "cnnstat device-profile --list) or a measured one (local, local-cuda)."))
OVERHEAD = Opt("overhead_us", ("--overhead-us",), type=number("--overhead-us", 0.0), metavar="US",
               help="Per-launch overhead in µs added per layer to the predicted latency "
                    "(default: the profile's).")
TF32 = Opt("tf32", ("--tf32",), action="bool", default=True, help=(
    "Predict fp32 convolutions at the TF32 Tensor Core peak where the device has one "
    "(PyTorch's default: cudnn.allow_tf32). Default: on."))
THREADS = Opt("threads", ("--threads",), type=integer("--threads", 1), metavar="N",
              help="torch.set_num_threads(N). Default: torch's.")


def _note(text: str) -> None:
    from ..render.escape import terminal
    print(terminal(text), file=sys.stderr)


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
@command("bench", MODELS.but(nargs="+", help="Models to time: zoo names, definition files, "
                                               "imported models."),
         DEVICE,
         BATCH.but(type=None, default="1", metavar="N,...",
                   help="Batch sizes, comma-separated: 1,8,32."),
         DTYPE.but(metavar="TYPES", help="Element types, comma-separated: fp32, fp16, bf16."),
         Opt("channels_last", ("--channels-last",), action="flag",
             help="Weights and input in channels-last memory format."),
         Opt("compile", ("--compile",), action="flag",
             help="Time torch.compile(model) (compiled during the warm-up)."),
         THREADS,
         Opt("warmup", ("--warmup",), default=0.5, type=number("--warmup", 0.0), metavar="S",
             help="Warm-up seconds before timing (at least one call)."),
         Opt("min_time", ("--min-time",), default=1.0, type=number("--min-time", 0.0),
             metavar="S", help="Time iterations until this many seconds are measured."),
         Opt("min_iters", ("--min-iters",), default=5, type=integer("--min-iters", 1),
             metavar="N", help="...and at least this many iterations."),
         Opt("impl", ("--impl",), default="graph", choices=("graph", "torchvision"), help=(
             "graph: the module cnnstat builds from the definition; torchvision: torchvision's "
             "implementation of the same network.")),
         Opt("cuda_timing", ("--cuda-timing",), default="events", choices=("events", "sync"),
             help="events: CUDA events around each iteration; sync: synchronize around each "
                  "iteration."),
         PROFILE, OVERHEAD, TF32,
         Opt("timer", ("--timer",), action="flag", help=(
             "Also time each row with torch.utils.benchmark.Timer.blocked_autorange "
             "(interleaved) and show the ratio.")),
         INPUT, SET, VARIANT, ARG,
         but(OUTPUT, OUT.but(metavar="DIR", help=(
             "Write a report folder here (README.md, bench.csv, bench.json, plot), e.g. "
             "reports/bench/MACHINE; the table goes to standard output too."))))
def bench(args) -> int:
    """Time models on the CPU or a GPU: latency (median, p10, p90, IQR), throughput, achieved
    FLOP/s from the static count, peak memory, and the roofline prediction beside it.

    Warm-up is excluded; iterations are timed until --min-time seconds (adaptive); on a GPU each
    iteration is timed with CUDA events. An out-of-memory batch size is reported in its row and
    the sweep goes on; Ctrl-C keeps (and writes) the rows finished so far."""
    from ..render.output import Output, show
    from ..timing import report as rep
    from ..timing.runner import parse_dtypes, resolve_target
    from ..timing.sweep import Settings, run_sweep
    settings = Settings(
        device=args.device, dtypes=tuple(parse_dtypes(args.dtype)),
        batches=parse_batches(args.batch), channels_last=(args.channels_last,),
        compile=args.compile, threads=args.threads, warmup_s=args.warmup,
        min_time_s=args.min_time, min_iters=args.min_iters, cuda_timing=args.cuda_timing,
        impl=args.impl, timer_check=args.timer, profile=args.device_profile,
        overhead_s=None if args.overhead_us is None else args.overhead_us * 1e-6, tf32=args.tf32)
    model = ModelOptions.of(args)
    targets = [resolve_target(m, args.impl, **model.kwargs("input", "set", "variant", "arg"))
               for m in dict.fromkeys(args.models)]
    with _Progress() as progress:
        result = run_sweep(targets, settings, on_start=progress.start, on_done=progress.done)
    command_line = _command_line(args.models, settings, args.device_profile, args.overhead_us,
                                 args.input, args.set, args.variant, args.arg)
    out = args.out
    if out and result.rows:
        paths = rep.write_report(result, out, command_line)
        _note(f"wrote {len(paths)} files under {out}/ (index: {Path(out) / 'README.md'})")
    show(Output(bench_blocks(result), json=lambda: rep.json_text(result),
                csv=lambda: rep.csv_text(result)), output_options(args, out=None))
    failed = [r for r in result.rows if not r.ok]
    if failed:
        _note(f"note: {len(failed)} of {len(result.rows)} rows were not measured (see the table)")
    if result.interrupted:
        _note(f"error: interrupted: kept the {len(result.rows)} of {result.planned} rows "
              "finished" + (f" (written under {out}/)" if out and result.rows else ""))
        return 130
    return 0


def bench_blocks(result) -> list:
    from ..render.grid import NAME, from_cells
    from ..report.document import Para
    from ..timing import report as rep
    from ..timing.machine import describe
    headers, cells, numeric = rep.table(result)
    grid = from_cells(headers, cells, numeric, title=f"cnnstat bench — {describe(result.machine)}",
                      fits={"model": NAME}, keep=("model", "batch", "median_ms"),
                      drop_first=("iqr_ms", "gmac_s", "p10_p90_ms", "layout", "n", "memory"),
                      styles=[None if r.ok else "bad" for r in result.rows])
    return [grid, Para("\n".join(f"- {n}" for n in rep.footnotes(result)))]


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
            from ..render.escape import rich_markup     # the bar's description is rich markup
            self._bar.update(self._task, description=rich_markup(f"timing {label}"),
                             completed=index - 1)

    def done(self, row) -> None:
        from ..render.escape import terminal
        from ..roofline.render import sig
        text = (f"{sig(row.stats.median * 1e3)} ms median over {row.stats.n} iterations"
                if row.ok else f"{row.status}: {row.message}")
        line = terminal(f"[{self._index}/{self._total}] {row.series} batch {row.batch}: {text}")
        if self._bar is not None:
            self._bar.update(self._task, completed=self._index)
            self._bar.console.print(line, markup=False)
        else:
            print(line, file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------------
# cnnstat roofline
# ------------------------------------------------------------------------------------------------
@command("roofline", MODEL.but(help="A zoo model, a definition file or an imported model."),
         PROFILE, BATCH,
         DTYPE.but(choices=None, help="fp32, fp16 or bf16."),
         COUNT.but(default="all", help=(
             "Kinds of work in the FLOPs: all (default: the device does all of it) or default "
             "(conv + linear only), or a comma list.")),
         OVERHEAD, TF32,
         Opt("top", ("--top",), type=integer("--top", 1), metavar="N",
             help="List only the N layers with the longest predicted time."),
         INPUT, SET, VARIANT, ARG, OUTPUT, PLOT.but(flags=("--plot",), help=(
             "Also write the roofline plot: a .png or .svg file.")))
def roofline(args) -> None:
    """Roofline prediction per layer: FLOPs, bytes moved, arithmetic intensity, predicted time
    and whether compute or memory bounds it, on a device profile; the whole model's latency.

    Static: computed from cnnstat's counts and the profile's peak FLOP/s and bandwidth."""
    from ..errors import UsageError
    from ..render.blocks import Brief
    from ..render.output import Output, show
    from ..roofline import predict, render
    from ..roofline.profiles import LOCAL, canonical_dtype, cached_profiles, get_profile
    plot = args.plot
    if plot and Path(plot).suffix.lower() not in (".png", ".svg"):
        raise UsageError(f"--plot '{plot}': the file name must end in .png or .svg")
    name = args.device_profile
    if name is None:
        if LOCAL not in cached_profiles():
            raise UsageError("name a device with --device-profile (a100, h100, h200, l4, t4, …: "
                             "cnnstat device-profile --list), or measure this machine first "
                             "with cnnstat device-profile")
        name = LOCAL
    profile = get_profile(name).with_overhead(
        None if args.overhead_us is None else args.overhead_us * 1e-6)
    a = ModelOptions.of(args, dtype=canonical_dtype(args.dtype)).analyze(args.model)
    pred = predict(a, profile, tf32=args.tf32)
    convention = Brief(a.convention.describe(), a.convention.short())
    if plot:
        from .. import plots
        from ..fileio import atomic_write
        data = plots.render_all(plots.roofline_figure(pred))
        atomic_write(plot, data[Path(plot).suffix.lower().lstrip(".")], what="--plot")
        _note(f"wrote {plot}")
    show(Output(render.blocks(pred, convention, args.top),
                json=lambda: render.json_text(pred, str(convention)),
                csv=lambda: render.csv_text(pred)), output_options(args))


# ------------------------------------------------------------------------------------------------
# cnnstat device-profile
# ------------------------------------------------------------------------------------------------
@command("device-profile", DEVICE,
         DTYPE.but(default="fp32,bf16,fp16", metavar="TYPES",
                   help="Element types to probe, comma-separated."),
         THREADS.but(help="torch.set_num_threads(N) while probing."),
         Opt("refresh", ("--refresh",), action="flag",
             help="Measure again even if a profile of this device is cached."),
         Opt("list", ("--list",), action="flag",
             help="List every profile: built in (datasheets) and measured (cached)."),
         OUTPUT)
def device_profile_command(args) -> None:
    """Measure this machine's device profile (matmul, copy and launch probes; a few seconds) and
    cache it for cnnstat roofline and bench; or --list every profile."""
    from ..roofline import profiles as P
    if args.list:
        _show_profiles(list(P.all_profiles().values()), args)
        return
    name = P.LOCAL_CUDA if args.device.strip().lower().startswith("cuda") else P.LOCAL
    cached = P.cached_profiles().get(name)
    if cached is not None and not args.refresh:
        _note(f"cached profile '{name}' (measured {cached.measured.get('date_utc', '?')}); "
              f"--refresh measures again ({P.cache_path()})")
        _show_profiles([cached], args)
        return
    import torch
    from ..timing.probe import measure_profile
    from ..timing.runner import parse_dtypes
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    profile = measure_profile(args.device, tuple(parse_dtypes(args.dtype)),
                              progress=lambda what: _note(f"probing {what} ..."))
    path = P.save_profile(profile)
    _note(f"saved profile '{profile.name}' to {path}")
    _show_profiles([profile], args)


def _show_profiles(profiles, args) -> None:
    import json

    from ..render.grid import from_cells
    from ..render.output import Output, show
    from ..report.document import Para
    from ..roofline.profiles import describe
    headers = ["name", "device", "matrix peaks (dense)", "vector peak", "bandwidth",
               "overhead/launch", "kind"]
    keys = ["name", "title", "matrix", "vector", "bandwidth", "overhead", "kind"]
    rows = [[describe(p)[k] for k in keys] for p in profiles]
    grid = from_cells(headers, rows, [False] * len(headers),
                      keys=["name", "device", "matrix_peaks", "vector_peak", "bandwidth",
                            "overhead", "kind"],
                      title="device profiles", keep=("name", "matrix_peaks", "bandwidth"),
                      drop_first=("kind", "overhead", "vector_peak", "device"))
    sources = Para("\n".join(f"- {p.name}: {p.source}" for p in profiles))
    show(Output([grid, sources], json=lambda: json.dumps([p.to_dict() for p in profiles],
                                                          indent=2) + "\n"),
         output_options(args))
