"""A benchmark sweep: models × dtypes × memory formats × batch sizes, one row each.

Each (model, dtype, memory format) is built once, then timed at every batch size (the batch only
changes the input). A row holds the latency statistics, throughput (images/s = batch / median
latency), achieved work rates from cnnstat's static count (FLOP/s = 2 × MACs / median, MAC/s), the
memory peak, and, with a device profile, the roofline prediction (cnnstat.roofline).

Faults stay in their row: out of memory (CUDA's OutOfMemoryError or the CPU allocator's) is
reported as such and the sweep goes on with the next row, after releasing what the row held; any
other failure of the model at one batch size (torch.compile failing, a kernel missing for a dtype)
is an ``error`` row with its first line. Ctrl-C stops the sweep and keeps the rows finished.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from ..convention import flops
from .stats import Summary, summarize

# Row status
OK, OOM, ERROR = "ok", "out of memory", "error"


@dataclass
class Settings:
    device: str = "cpu"
    dtypes: tuple[str, ...] = ("fp32",)
    batches: tuple[int, ...] = (1,)
    channels_last: tuple[bool, ...] = (False,)
    compile: bool = False
    threads: int | None = None            # None: torch's default
    warmup_s: float = 0.5
    min_time_s: float = 1.0
    min_iters: int = 5
    max_iters: int = 1_000_000
    cuda_timing: str = "events"
    impl: str = "graph"
    timer_check: bool = False             # also compare with torch.utils.benchmark.Timer
    timer_rounds: int = 3
    timer_attempts: int = 1               # repeat a comparison outside 10 % (benchmarks: 3)
    profile: str | None = None            # device profile of the prediction (name)
    overhead_s: float | None = None       # per-launch overhead override
    tf32: bool = True
    seed: int = 0

    def to_dict(self) -> dict:
        return {"device": self.device, "dtypes": list(self.dtypes), "batches": list(self.batches),
                "channels_last": list(self.channels_last), "compile": self.compile,
                "threads": self.threads, "warmup_s": self.warmup_s,
                "min_time_s": self.min_time_s, "min_iters": self.min_iters,
                "cuda_timing": self.cuda_timing, "impl": self.impl,
                "timer_check": self.timer_check, "timer_rounds": self.timer_rounds,
                "timer_attempts": self.timer_attempts, "profile": self.profile,
                "overhead_s": self.overhead_s, "tf32_convolutions": self.tf32, "seed": self.seed}


@dataclass
class Row:
    model: str
    impl: str
    device: str
    dtype: str
    channels_last: bool
    compile: bool
    batch: int
    threads: int
    macs: int                       # static: conv + linear multiply-adds of the batch
    input: tuple[int, ...] = ()     # (C, H, W), without the batch
    status: str = OK
    message: str = ""
    stats: Summary | None = None
    warmup_iters: int = 0
    warmup_s: float = 0.0
    rounds: int = 0
    clock: str = ""
    memory_peak: int | None = None
    memory_growth: int | None = None
    memory_method: str = ""
    predicted_s: float | None = None
    profile: str | None = None
    timer: Any = None               # cnnstat.timing.agreement.Agreement, with --timer

    @property
    def ok(self) -> bool:
        return self.status == OK and self.stats is not None

    @property
    def layout(self) -> str:
        return "channels_last" if self.channels_last else "contiguous"

    @property
    def series(self) -> str:
        """The line this row belongs to in the plots: everything but the batch."""
        parts = [self.model, self.dtype]
        if self.impl != "graph":
            parts.insert(1, self.impl)
        if self.channels_last:
            parts.append("channels-last")
        if self.compile:
            parts.append("compiled")
        return " ".join(parts)

    @property
    def throughput(self) -> float | None:
        """Images per second: batch / median latency."""
        return self.batch / self.stats.median if self.ok and self.stats.median > 0 else None

    @property
    def achieved_flops(self) -> float | None:
        """FLOP/s from the static count: 2 × MACs / median latency."""
        return flops(self.macs) / self.stats.median if self.ok and self.stats.median > 0 else None

    @property
    def macs_per_s(self) -> float | None:
        return self.macs / self.stats.median if self.ok and self.stats.median > 0 else None

    @property
    def predicted_ratio(self) -> float | None:
        """Measured median / predicted latency (1 = the roofline is reached; > 1 slower)."""
        if not self.ok or not self.predicted_s:
            return None
        return self.stats.median / self.predicted_s

    def to_dict(self) -> dict:
        return {
            "model": self.model, "impl": self.impl, "device": self.device, "dtype": self.dtype,
            "channels_last": self.channels_last, "compile": self.compile, "batch": self.batch,
            "input": list(self.input), "threads": self.threads, "status": self.status, "message": self.message,
            "latency": self.stats.to_dict() if self.stats else None,
            "warmup_iterations": self.warmup_iters, "warmup_s": self.warmup_s,
            "rounds": self.rounds, "clock": self.clock,
            "throughput_images_per_s": self.throughput,
            "macs": self.macs, "flops": flops(self.macs),
            "achieved_flops_per_s": self.achieved_flops, "achieved_macs_per_s": self.macs_per_s,
            "memory": {"peak_bytes": self.memory_peak, "growth_bytes": self.memory_growth,
                       "method": self.memory_method},
            "predicted_s": self.predicted_s, "profile": self.profile,
            "measured_over_predicted": self.predicted_ratio,
            "timer": self.timer.to_dict() if self.timer is not None else None,
        }


@dataclass
class SweepResult:
    rows: list[Row]
    settings: Settings
    machine: dict
    interrupted: bool = False
    planned: int = 0
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        from ..convention import Convention
        from ..roofline import BYTES_CONVENTION, TIME_CONVENTION
        return {
            "machine": self.machine, "settings": self.settings.to_dict(),
            "interrupted": self.interrupted, "rows_planned": self.planned,
            "rows_done": len(self.rows), "notes": self.notes,
            "conventions": {
                "latency": "per-iteration wall time of one forward pass of the batch, warm-up "
                           "excluded; median, p10, p90, IQR over the timed iterations",
                "macs": Convention().describe(),
                "roofline_bytes": BYTES_CONVENTION, "roofline_time": TIME_CONVENTION,
            },
            "rows": [r.to_dict() for r in self.rows],
        }


def plan(targets: list, settings: Settings) -> list[tuple[Any, str, bool]]:
    return [(t, dtype, cl) for t in targets for dtype in settings.dtypes
            for cl in settings.channels_last]


def run_sweep(targets: list, settings: Settings, *,
              on_start: Callable[[int, int, str], None] | None = None,
              on_done: Callable[[Row], None] | None = None,
              measure: Callable[..., None] | None = None) -> SweepResult:
    """Time every configuration (module docstring). ``targets``: cnnstat.timing.runner.Target.
    ``measure(row, step, clock, memory, settings)`` fills a row (tests replace it)."""
    import torch
    from . import runner
    from .machine import machine_info

    device = runner.resolve_device(settings.device)
    if settings.threads is not None:
        if settings.threads < 1:
            from ..errors import UsageError
            raise UsageError(f"--threads must be at least 1, got {settings.threads}")
        torch.set_num_threads(settings.threads)
    for dtype in settings.dtypes:
        runner.check_dtype(device, dtype)
    profile = _profile(settings, device)
    machine = machine_info(device)
    measure = measure or measure_row
    configs = plan(targets, settings)
    total = len(configs) * len(settings.batches)
    result = SweepResult([], settings, machine, planned=total)
    if profile is not None:
        result.notes.append(f"predictions: device profile '{profile.name}' ({profile.title})")
    else:
        result.notes.append("no roofline prediction: no device profile for this device (measure "
                            "one with cnnstat device-profile, or name one with --device-profile)")
    for t in targets:
        result.notes.extend(t.notes)
    index = 0
    try:
        for target, dtype, channels_last in configs:
            module, fn, failure = None, None, None
            try:
                module = runner.prepare(target.build(device), device, dtype, channels_last)
                fn = runner.compiled(module) if settings.compile else module
            except KeyboardInterrupt:
                raise
            except Exception as exc:        # a build failure fails every batch of the config
                failure = exc
            for batch in settings.batches:
                index += 1
                row = _new_row(target, settings, device, dtype, channels_last, batch, profile)
                if on_start:
                    on_start(index, total, f"{row.series} batch {batch}")
                if failure is not None:
                    _fail(row, failure, settings.compile)
                else:
                    _run_one(row, target, fn, device, dtype, channels_last, batch, settings,
                             measure)
                result.rows.append(row)
                if on_done:
                    on_done(row)
            del module, fn
            runner.release(device)
    except KeyboardInterrupt:
        result.interrupted = True
        runner.release(device)
    return result


def _profile(settings: Settings, device: str):
    """The profile of the predictions: the one named, else for CUDA the built-in profile matching
    the GPU's name, for the CPU the measured ``local`` profile if cached; else none."""
    from ..roofline import profiles as P
    if settings.profile:
        profile = P.get_profile(settings.profile)
    elif device.startswith("cuda"):
        import torch
        profile = P.match_gpu(torch.cuda.get_device_name(torch.device(device).index or 0))
        cached = P.cached_profiles().get(P.LOCAL_CUDA)
        profile = profile or cached
    else:
        profile = P.cached_profiles().get(P.LOCAL)
    return None if profile is None else profile.with_overhead(settings.overhead_s)


def _new_row(target, settings: Settings, device: str, dtype: str, channels_last: bool,
             batch: int, profile) -> Row:
    import torch
    from ..analyze import analyze_graph
    analysis = analyze_graph(target.graph, batch=batch)
    row = Row(target.label, settings.impl, device, dtype, channels_last, settings.compile, batch,
              torch.get_num_threads(), analysis.totals.macs, tuple(target.graph.input_shape))
    if profile is not None:
        from ..convention import Convention
        from ..roofline import predict
        full = analyze_graph(target.graph, batch=batch, convention=Convention.parse("all"),
                             dtype=dtype)
        row.predicted_s = predict(full, profile, tf32=settings.tf32).total_s
        row.profile = profile.name
    return row


def _fail(row: Row, exc: BaseException, compiling: bool) -> None:
    from .runner import CompileError, first_line, is_out_of_memory
    if is_out_of_memory(exc):
        row.status, row.message = OOM, first_line(exc)
        return
    row.status = ERROR
    text = first_line(exc)
    if compiling and not isinstance(exc, CompileError):
        row.message = f"torch.compile failed: {type(exc).__name__}: {text}"
    else:
        row.message = text if isinstance(exc, CompileError) else f"{type(exc).__name__}: {text}"


def _run_one(row: Row, target, fn, device: str, dtype: str, channels_last: bool, batch: int,
             settings: Settings, measure) -> None:
    import torch
    from .. import limits
    from . import runner
    x = None
    try:
        x = runner.example_input(target.graph, batch, device, dtype, channels_last, settings.seed)
        timeout = limits.active_timeout()          # on top of the time the row asks for
        seconds = None if timeout is None else timeout + settings.warmup_s + settings.min_time_s
        with torch.inference_mode(), limits.deadline(f"timing {row.series} batch {batch}",
                                                     seconds):
            def step(fn=fn, x=x):
                return fn(x)
            measure(row, step, runner.make_clock(device, settings.cuda_timing),
                    runner.make_memory(device), settings)
    except KeyboardInterrupt:
        raise
    except Exception as exc:
        row.stats = None
        _fail(row, exc, settings.compile)
    finally:
        del x
        if row.status != OK:
            runner.release(device)


def measure_row(row: Row, step: Callable[[], Any], clock, memory, settings: Settings) -> None:
    """Warm up and time ``step`` (cnnstat.timing.loop), with the memory probe around the timed
    iterations (after the warm-up, so first-call allocations and compilation are not counted);
    with ``settings.timer_check``, then compare with torch.utils.benchmark.Timer."""
    from .loop import time_iterations
    timing = time_iterations(step, clock, warmup_s=settings.warmup_s,
                             min_time_s=settings.min_time_s, min_iters=settings.min_iters,
                             max_iters=settings.max_iters, on_warm=memory.begin)
    use = memory.end()
    row.stats = summarize(timing.times)
    row.warmup_iters, row.warmup_s = timing.warmup_iters, timing.warmup_s
    row.rounds, row.clock = timing.rounds, timing.clock
    row.memory_peak, row.memory_growth, row.memory_method = (use.peak_bytes, use.growth_bytes,
                                                             use.method)
    if settings.timer_check:
        from .agreement import compare_with_timer
        row.timer = compare_with_timer(step, clock, threads=row.threads,
                                       rounds=settings.timer_rounds, warmup_s=0.0,
                                       min_time_s=settings.min_time_s,
                                       attempts=settings.timer_attempts)
