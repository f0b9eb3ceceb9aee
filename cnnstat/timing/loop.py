"""The timing loop: warm-up by time, then adaptive rounds until a minimum measured time.

No torch here: the loop calls ``step()`` and asks a :class:`Clock` how long each call took. A
clock hides where the work runs:

- :class:`HostClock` — ``time.perf_counter`` around each call (CPU: the call returns when the
  work is done).
- :class:`EventClock` — CUDA events (or anything with the same API: ``record()``,
  ``elapsed_time(end)`` in milliseconds). A start event is recorded before and an end event after
  each call, on the stream, so each interval is the time the device spent from the start of that
  iteration's first kernel to the end of its last, including any gap while it waited for the host
  to launch kernels (the event is reached only when the kernels queued before it have run). The
  host synchronizes once per round, never inside the timed region, then reads every interval.
- :class:`SyncClock` — synchronize the device, read the host clock, call, synchronize, read:
  the latency of one iteration with an idle queue before it. Simple and exact; costs one
  synchronization per iteration (microseconds) inside the timed interval.

Warm-up (excluded from the statistics): at least one call, then calls until ``warmup_s`` of wall
time has passed, each followed by a synchronization so that queued device work is really done.

Measurement: rounds of k iterations, k = 1, 2, 4, … (at most what the remaining time needs), until
the measured time reaches ``min_time_s`` and at least ``min_iters`` iterations were timed. Every
iteration's duration is kept; statistics are computed from them (cnnstat.timing.stats). With
events, the first iteration of a round starts on an idle device (the round before was
synchronized), so it also holds its first kernel's launch latency (microseconds); the others
start when the previous iteration ends. The median is not moved by these few.

On a machine shared with other processes, an iteration can be preempted. The median of
per-iteration times then stays at the time of an undisturbed iteration (for iterations shorter
than the scheduler's time slice, most are undisturbed), while the mean — reported too — includes
the waiting; p90 and the IQR show how disturbed the run was.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Callable, Protocol


class Clock(Protocol):
    name: str

    def synchronize(self) -> None:
        """Wait until all queued work is done."""

    def start(self) -> Any:
        """Mark the start of one iteration; returns a token for :meth:`stop`."""

    def stop(self, token: Any) -> None:
        """Mark the end of the iteration started with ``token``."""

    def collect(self) -> list[float]:
        """Durations (seconds) of the iterations stopped since the last collect, in order."""


class HostClock:
    """Host wall clock around each call; for work that is done when the call returns (CPU)."""
    name = "host"

    def __init__(self, now: Callable[[], float] = time.perf_counter):
        self._now = now
        self._done: list[float] = []

    def synchronize(self) -> None:
        pass

    def start(self) -> float:
        return self._now()

    def stop(self, token: float) -> None:
        self._done.append(self._now() - token)

    def collect(self) -> list[float]:
        done, self._done = self._done, []
        return done


class SyncClock(HostClock):
    """Synchronize, host clock, call, synchronize, host clock: each iteration from an idle device."""
    name = "sync"

    def __init__(self, synchronize: Callable[[], None],
                 now: Callable[[], float] = time.perf_counter):
        super().__init__(now)
        self._sync = synchronize

    def synchronize(self) -> None:
        self._sync()

    def start(self) -> float:
        self._sync()
        return self._now()

    def stop(self, token: float) -> None:
        self._sync()
        super().stop(token)


class EventClock:
    """Device events around each call; one host synchronization per round (in :meth:`collect`).

    ``new_event()`` returns an event with ``record()`` and ``elapsed_time(end) -> milliseconds``
    (``torch.cuda.Event(enable_timing=True)``); ``synchronize()`` waits for the device."""
    name = "events"

    def __init__(self, new_event: Callable[[], Any], synchronize: Callable[[], None]):
        self._new_event = new_event
        self._sync = synchronize
        self._pairs: list[tuple[Any, Any]] = []

    def synchronize(self) -> None:
        self._sync()

    def start(self) -> Any:
        event = self._new_event()
        event.record()
        return event

    def stop(self, token: Any) -> None:
        end = self._new_event()
        end.record()
        self._pairs.append((token, end))

    def collect(self) -> list[float]:
        # elapsed_time needs both events completed: wait for the device once, then read all
        self._sync()
        pairs, self._pairs = self._pairs, []
        return [start.elapsed_time(end) / 1000.0 for start, end in pairs]


@dataclass(frozen=True)
class Timing:
    """The timed iterations of one measurement, and how they were obtained."""
    times: tuple[float, ...]     # seconds per iteration, in order
    warmup_iters: int
    warmup_s: float              # wall time spent warming up
    rounds: int
    clock: str


def time_iterations(step: Callable[[], Any], clock: Clock, *, warmup_s: float = 0.5,
                    min_time_s: float = 1.0, min_iters: int = 5, max_iters: int = 1_000_000,
                    wall: Callable[[], float] = time.perf_counter,
                    on_warm: Callable[[], Any] | None = None) -> Timing:
    """Warm up, then time ``step`` in adaptive rounds (module docstring). ``on_warm`` is called
    once between the warm-up and the first timed round (a memory probe starts there)."""
    if warmup_s < 0 or min_time_s < 0:
        raise ValueError("warm-up and minimum time must not be negative")
    if min_iters < 1 or max_iters < min_iters:
        raise ValueError("need 1 <= min_iters <= max_iters")
    begin = wall()
    warmup_iters = 0
    while True:
        step()
        clock.synchronize()
        warmup_iters += 1
        if wall() - begin >= warmup_s:
            break
    warmup_spent = wall() - begin
    if on_warm is not None:
        on_warm()

    times: list[float] = []
    total = 0.0
    rounds = 0
    k = 1
    while True:
        for _ in range(k):
            token = clock.start()
            step()
            clock.stop(token)
        measured = clock.collect()
        rounds += 1
        times.extend(measured)
        total += sum(measured)
        if (total >= min_time_s and len(times) >= min_iters) or len(times) >= max_iters:
            break
        per = total / len(times)
        wanted = max(min_iters - len(times),
                     math.ceil((min_time_s - total) / per) if per > 0 else 2 * k, 1)
        k = min(2 * k, wanted, max_iters - len(times))
    return Timing(tuple(times), warmup_iters, warmup_spent, rounds, clock.name)
