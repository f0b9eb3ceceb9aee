"""cnnstat's timing against ``torch.utils.benchmark.Timer(...).blocked_autorange()``.

The two are run on the same callable, in the same process and thread count, **interleaved**
(ours, Timer, ours, Timer, …) so that a change of machine load affects both alike, and their
medians compared: ratio = median of our per-round medians / median of Timer's per-round medians.

``Timer`` defaults to one thread (``num_threads=1``); it is given the thread count torch uses, so
both time the same thing. Timer's ``blocked_autorange`` times blocks of several calls and reports
per-call times (block time ÷ calls), synchronizing an accelerator around each block; its median
is over blocks. On a shared machine, a round can be disturbed: when the ratio falls outside the
tolerance, the comparison is repeated a bounded number of times (``attempts``), never loosened.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from .loop import Clock, time_iterations
from .stats import median


@dataclass(frozen=True)
class Agreement:
    ours: tuple[float, ...]      # median per-iteration seconds of each cnnstat round
    timer: tuple[float, ...]     # Timer.blocked_autorange().median of each round
    attempts: int
    tolerance: float
    history: tuple[float, ...] = field(default=())   # the ratio of every attempt

    @property
    def ours_median(self) -> float:
        return median(self.ours)

    @property
    def timer_median(self) -> float:
        return median(self.timer)

    @property
    def ratio(self) -> float:
        return self.ours_median / self.timer_median

    @property
    def ok(self) -> bool:
        return abs(self.ratio - 1.0) <= self.tolerance

    def to_dict(self) -> dict:
        return {"cnnstat_median_s": self.ours_median, "timer_median_s": self.timer_median,
                "ratio": self.ratio, "within_tolerance": self.ok, "tolerance": self.tolerance,
                "cnnstat_rounds_s": list(self.ours), "timer_rounds_s": list(self.timer),
                "attempts": self.attempts, "ratios_by_attempt": list(self.history)}


def timer_median(step: Callable[[], Any], threads: int, min_time_s: float) -> float:
    """One ``blocked_autorange`` of ``step``: its median per-call time in seconds."""
    import logging
    # importing the benchmark utilities loads torch.utils.cpp_extension, which warns on a
    # machine without a CUDA runtime; Python statements need no compiler
    logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)
    from torch.utils.benchmark import Timer
    timer = Timer(stmt="step()", globals={"step": step}, num_threads=threads,
                  label="cnnstat", description="step")
    return float(timer.blocked_autorange(min_run_time=min_time_s).median)


def compare_with_timer(step: Callable[[], Any], clock: Clock, *, threads: int, rounds: int = 3,
                       warmup_s: float = 0.2, min_time_s: float = 0.5, tolerance: float = 0.10,
                       attempts: int = 3,
                       reference: Callable[[Callable[[], Any], int, float], float] = timer_median
                       ) -> Agreement:
    """Interleave ``rounds`` cnnstat measurements with ``rounds`` Timer measurements; retry the
    whole comparison up to ``attempts`` times while the ratio is outside ``tolerance``."""
    if rounds < 1 or attempts < 1:
        raise ValueError("rounds and attempts must be at least 1")
    history: list[float] = []
    result: Agreement | None = None
    for attempt in range(1, attempts + 1):
        ours: list[float] = []
        theirs: list[float] = []
        for r in range(rounds):
            timing = time_iterations(step, clock, warmup_s=warmup_s if r == 0 else 0.0,
                                     min_time_s=min_time_s)
            ours.append(median(timing.times))
            theirs.append(reference(step, threads, min_time_s))
        result = Agreement(tuple(ours), tuple(theirs), attempt, tolerance)
        history.append(result.ratio)
        if result.ok:
            break
    assert result is not None
    return Agreement(result.ours, result.timer, result.attempts, tolerance, tuple(history))
