"""The largest batch that fits a memory capacity (``--fit 80GiB``, ``--device-profile h100``).

The peak of one step grows with the batch (every activation, saved tensor and activation
gradient has the batch as its first dimension; parameters, gradients and optimizer state do
not), so the largest batch whose predicted peak is at most the capacity is found by doubling
and then bisection, each candidate analysed afresh (shapes are exact at every batch). The answer
names the limiting term: the largest component of the peak at the first batch that does not fit
(or, when not even batch 1 fits, the weights, gradients and optimizer state that do not depend
on the batch).

Capacities are bytes: ``80GiB`` = 80 x 2^30, ``80GB`` = 80 x 10^9. A device profile's memory is
its datasheet capacity (cnnstat/data/devices.yaml); what the CUDA context and the caching
allocator's fragmentation take from it is not subtracted (docs/memory.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

from ..errors import ShapeError, UsageError
from .model import MemoryOptions, MemoryReport, estimate

UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
         "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}
MAX_BATCH = 1 << 24


def parse_capacity(text: str | int) -> int:
    """'80GiB', '80 GB', '81920MiB', '1.5TiB' or a number of bytes → bytes (a positive int)."""
    if isinstance(text, int) and not isinstance(text, bool):
        value, unit = float(text), ""
    else:
        match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][0-9]+)?)\s*([A-Za-z]*)\s*", str(text))
        if not match or match.group(2).lower() not in UNITS:
            raise UsageError(f"--fit '{text}': give a memory size such as 80GiB, 24GB or "
                             "16384MiB (GiB = 2^30 bytes, GB = 10^9)")
        value, unit = float(match.group(1)), match.group(2).lower()
    nbytes = int(value * UNITS[unit])
    if nbytes <= 0:
        raise UsageError(f"--fit '{text}': the memory size must be positive")
    return nbytes


def device_memory(name: str) -> tuple[int, str]:
    """(capacity in bytes, 'title (source)') of a built-in device profile."""
    from ..data import load
    devices = load("devices")["devices"]
    key = name.strip().lower()
    if key not in devices:
        from ..suggest import did_you_mean
        raise UsageError(f"unknown device profile '{name}'{did_you_mean(key, devices, 3)}; "
                         f"choose from {', '.join(devices)}")
    entry = devices[key]
    if "memory_gib" not in entry:
        raise UsageError(f"device profile '{name}' has no memory size; give --fit SIZE instead")
    gib = entry["memory_gib"]
    return int(gib * 2**30), f"{entry['title']}, {gib:g} GiB"


@dataclass
class Fit:
    """The answer: ``batch`` fits (0: not even one sample), ``batch + 1`` does not."""
    capacity: int
    batch: int
    report: MemoryReport | None          # at ``batch`` (None when batch is 0)
    over: MemoryReport                   # at ``batch + 1``: the first that does not fit
    limiting: str                        # the term that decides, in words

    @property
    def peak(self) -> int:
        return self.report.peak if self.report is not None else 0


def largest_batch(analysis: Any, capacity: int, options: MemoryOptions | None = None, *,
                  rules: Any = None, limit: int = MAX_BATCH) -> Fit:
    """The largest batch whose predicted peak is at most ``capacity`` bytes."""
    options = (options or MemoryOptions()).validated()
    if capacity <= 0:
        raise UsageError("the memory capacity must be positive")
    cache: dict[int, MemoryReport] = {}

    def at(batch: int) -> MemoryReport:
        if batch not in cache:
            cache[batch] = estimate(analysis.at(batch=batch, train=options.train), options,
                                    rules=rules)
        return cache[batch]

    low = 1
    try:
        at(1)
    except ShapeError:
        # batch norm over one value per channel cannot train at batch 1 (PyTorch refuses it):
        # the search starts at 2, and the error stands if that fails too
        low = 2
    if at(low).peak > capacity:
        return Fit(capacity, 0, None, at(low), _limiting(at(low), capacity, none_fit=True))
    high = low * 2
    while high <= limit and at(high).peak <= capacity:
        low, high = high, high * 2
    if high > limit:
        raise UsageError(f"more than {limit} samples fit in {capacity} bytes: is the size right?")
    while high - low > 1:              # at(low) fits, at(high) does not
        mid = (low + high) // 2
        if at(mid).peak <= capacity:
            low = mid
        else:
            high = mid
    return Fit(capacity, low, at(low), at(low + 1), _limiting(at(low + 1), capacity))


@dataclass
class Fits:
    """The largest batch for inference and for a training step (``--fit``, ``--device-profile``):
    ``device`` names the profile the capacity came from (else None)."""
    capacity: int
    inference: Fit
    training: Fit
    device: str | None = None

    def by_mode(self) -> list[tuple[str, Fit]]:
        return [("inference", self.inference), ("training", self.training)]


def fits(analysis: Any, capacity: int, options: MemoryOptions | None = None, *,
         device: str | None = None, rules: Any = None) -> Fits:
    """The largest batch for inference and for training at ``options``' precision; the training
    answer uses its optimizer, master weights and checkpointing, the inference one runs under
    ``torch.no_grad()`` with the same dtype and autocast."""
    options = (options or MemoryOptions()).validated()
    infer = replace(options, train=False, checkpoint=None)
    train = replace(options, train=True)
    return Fits(capacity, largest_batch(analysis, capacity, infer, rules=rules),
                largest_batch(analysis, capacity, train, rules=rules), device)


def _limiting(report: MemoryReport, capacity: int, none_fit: bool = False) -> str:
    if none_fit and report.persistent + report.gradients > capacity:
        return (f"weights, gradients and optimizer state alone ({_gib(report.persistent + report.gradients)}) "
                f"exceed {_gib(capacity)}")
    point = report.peak_point
    where = f"{point.phase} of {point.layer}" if point.layer else point.phase
    term = report.limiting
    share = report.peak_breakdown[term] / report.peak
    return f"{term} ({share:.0%} of the {_gib(report.peak)} peak, at the {where})"


def _gib(nbytes: int) -> str:
    return f"{nbytes / 2**30:.2f} GiB"
