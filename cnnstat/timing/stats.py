"""Robust statistics of per-iteration latencies (pure Python, no numpy).

Percentiles interpolate linearly between order statistics — numpy's default ("linear", Hyndman &
Fan 1996 definition 7): the q-quantile of sorted x[0..n-1] is x[h] interpolated at h = q·(n−1).
With few samples (a slow model), p10 and p90 are interpolations between the fastest and slowest
runs, not tail estimates; ``n`` is always reported beside them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence


def quantile(values: Sequence[float], q: float) -> float:
    """The q-quantile (0 ≤ q ≤ 1) by linear interpolation of the order statistics."""
    if not values:
        raise ValueError("quantile of no values")
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"quantile q must be in [0, 1], got {q}")
    xs = sorted(values)
    h = q * (len(xs) - 1)
    lo = math.floor(h)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (h - lo) * (xs[hi] - xs[lo])


@dataclass(frozen=True, slots=True)
class Summary:
    """Per-iteration latency statistics, in seconds."""
    n: int
    median: float
    p10: float
    p90: float
    q25: float
    q75: float
    mean: float
    min: float
    max: float
    total: float

    @property
    def iqr(self) -> float:
        """Interquartile range q75 − q25: the spread of the middle half of the iterations."""
        return self.q75 - self.q25

    @property
    def relative_iqr(self) -> float:
        """IQR / median: how noisy the measurement was (0.02 = 2 %)."""
        return self.iqr / self.median if self.median > 0 else math.inf

    def to_dict(self) -> dict:
        return {"n": self.n, "median_s": self.median, "p10_s": self.p10, "p90_s": self.p90,
                "q25_s": self.q25, "q75_s": self.q75, "iqr_s": self.iqr, "mean_s": self.mean,
                "min_s": self.min, "max_s": self.max, "total_s": self.total}


def summarize(times: Sequence[float]) -> Summary:
    if not times:
        raise ValueError("no timed iterations to summarize")
    if any(t < 0 or math.isnan(t) for t in times):
        raise ValueError("a timed iteration has a negative or NaN duration")
    return Summary(n=len(times), median=quantile(times, 0.5), p10=quantile(times, 0.1),
                   p90=quantile(times, 0.9), q25=quantile(times, 0.25), q75=quantile(times, 0.75),
                   mean=sum(times) / len(times), min=min(times), max=max(times),
                   total=sum(times))


def median(values: Sequence[float]) -> float:
    return quantile(values, 0.5)
