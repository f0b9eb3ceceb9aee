"""The timing loop and its statistics, without torch: a fake clock and a fake asynchronous device
stand in for the CPU and CUDA, so the synchronization logic is tested exactly (no timing noise)."""

from __future__ import annotations

import math

import pytest

from cnnstat.timing.agreement import compare_with_timer
from cnnstat.timing.loop import EventClock, HostClock, SyncClock, time_iterations
from cnnstat.timing.stats import median, quantile, summarize


# -- statistics ----------------------------------------------------------------------------------
def test_quantiles_interpolate_linearly_like_numpy():
    xs = [float(v) for v in range(1, 11)]          # 1..10
    # h = q (n - 1): p10 → h = 0.9 → 1 + 0.9 (2 - 1) = 1.9; p90 → h = 8.1 → 9.1; median → 5.5
    assert quantile(xs, 0.1) == pytest.approx(1.9)
    assert quantile(xs, 0.9) == pytest.approx(9.1)
    assert quantile(xs, 0.5) == pytest.approx(5.5)
    assert quantile(list(reversed(xs)), 0.25) == pytest.approx(3.25)   # order does not matter
    assert quantile([7.0], 0.9) == 7.0
    with pytest.raises(ValueError):
        quantile([], 0.5)


def test_summary_iqr_and_robustness_to_an_outlier():
    times = [0.010] * 9 + [1.0]                    # one preempted iteration
    s = summarize(times)
    assert s.n == 10 and s.median == pytest.approx(0.010)
    assert s.iqr == pytest.approx(0.0) and s.relative_iqr == 0.0
    assert s.mean == pytest.approx((0.09 + 1.0) / 10)   # the mean is pulled, the median is not
    assert s.p90 == pytest.approx(0.010 + 0.1 * (1.0 - 0.010))   # h = 8.1
    assert s.total == pytest.approx(1.09)
    with pytest.raises(ValueError):
        summarize([0.1, -0.1])


# -- a fake host clock ----------------------------------------------------------------------------
class FakeTime:
    def __init__(self):
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_host_clock_warmup_excluded_and_adaptive_rounds():
    now = FakeTime()
    durations = iter([0.5, 0.2] + [0.01] * 1000)    # two slow warm-up calls, then 10 ms each
    calls = []

    def step():
        d = next(durations)
        calls.append(d)
        now.t += d

    warm = []
    timing = time_iterations(step, HostClock(now), warmup_s=0.6, min_time_s=0.1, min_iters=5,
                             wall=now, on_warm=lambda: warm.append(len(calls)))
    assert timing.warmup_iters == 2 and timing.warmup_s == pytest.approx(0.7)
    assert warm == [2]                              # called once, between warm-up and timing
    assert all(t == pytest.approx(0.01) for t in timing.times)      # warm-up not in the times
    assert sum(timing.times) >= 0.1 and len(timing.times) >= 5
    # rounds of 1, 2, 4, then what remains: 1 + 2 + 4 = 7 iterations (70 ms), 3 more needed
    assert timing.rounds == 4 and len(timing.times) == 10
    assert len(calls) == 12


def test_min_iters_when_one_iteration_exceeds_the_minimum_time():
    now = FakeTime()

    def step():
        now.t += 2.0

    timing = time_iterations(step, HostClock(now), warmup_s=0.0, min_time_s=1.0, min_iters=3,
                             wall=now)
    assert timing.warmup_iters == 1                 # at least one warm-up call, always
    assert len(timing.times) == 3 and timing.times == (2.0, 2.0, 2.0)


def test_max_iters_bounds_a_zero_time_step():
    now = FakeTime()
    timing = time_iterations(lambda: None, HostClock(now), warmup_s=0.0, min_time_s=1.0,
                             min_iters=1, max_iters=50, wall=now)
    assert len(timing.times) == 50


def test_arguments_are_checked():
    with pytest.raises(ValueError):
        time_iterations(lambda: None, HostClock(), warmup_s=-1)
    with pytest.raises(ValueError):
        time_iterations(lambda: None, HostClock(), min_iters=0)


# -- a fake asynchronous device (the CUDA model) -----------------------------------------------
class FakeDevice:
    """Kernels are queued by the host (each launch costs host time) and run in order on the
    device; an event completes when the device reaches it. Reading an event's time before the
    host has synchronized past it raises, as CUDA does."""

    def __init__(self, launch_s: float):
        self.host = 0.0
        self.busy_until = 0.0
        self.launch_s = launch_s
        self.syncs = 0

    def wall(self) -> float:
        return self.host

    def launch(self, work_s: float) -> None:
        self.host += self.launch_s
        start = max(self.busy_until, self.host)
        self.busy_until = start + work_s

    def synchronize(self) -> None:
        self.syncs += 1
        self.host = max(self.host, self.busy_until)

    def event(self) -> "FakeEvent":
        return FakeEvent(self)


class FakeEvent:
    def __init__(self, device: FakeDevice):
        self.device = device
        self.time: float | None = None

    def record(self) -> None:
        d = self.device
        self.time = max(d.busy_until, d.host)      # reached after the work queued before it
        d.busy_until = self.time

    def elapsed_time(self, end: "FakeEvent") -> float:
        for e in (self, end):
            if e.time is None or e.time > self.device.host:
                raise RuntimeError("Both events must be completed before calculating elapsed time.")
        return (end.time - self.time) * 1000.0     # milliseconds, like torch.cuda.Event


def _gpu_step(device: FakeDevice, kernels: list[float]):
    def step():
        for k in kernels:
            device.launch(k)
    return step


def test_cuda_events_time_the_device_not_the_launch():
    dev = FakeDevice(launch_s=1e-5)
    step = _gpu_step(dev, [1e-3, 2e-3])            # 3 ms of device work, 20 µs of launches
    clock = EventClock(dev.event, dev.synchronize)
    timing = time_iterations(step, clock, warmup_s=0.0, min_time_s=0.05, min_iters=5,
                             wall=dev.wall)
    assert timing.clock == "events"
    # back to back, each iteration is its 3 ms of device work; the first of each round starts
    # on an idle device and also includes its first kernel's launch (10 µs)
    assert median(timing.times) == pytest.approx(3e-3)
    assert all(3e-3 - 1e-12 <= t <= 3e-3 + 1e-5 + 1e-12 for t in timing.times)
    # one synchronization per round (plus the warm-up's), never one per iteration
    assert dev.syncs == timing.warmup_iters + timing.rounds < len(timing.times)


def test_host_timer_without_synchronization_measures_only_the_launches():
    """Why the CUDA path needs events or synchronization: a host clock alone reads 20 µs."""
    dev = FakeDevice(launch_s=1e-5)
    step = _gpu_step(dev, [1e-3, 2e-3])
    timing = time_iterations(step, HostClock(dev.wall), warmup_s=0.0, min_time_s=0.0,
                             min_iters=3, wall=dev.wall)
    assert all(t == pytest.approx(2e-5) for t in timing.times)


def test_sync_clock_times_each_iteration_from_an_idle_device():
    dev = FakeDevice(launch_s=1e-5)
    step = _gpu_step(dev, [1e-3, 2e-3])
    timing = time_iterations(step, SyncClock(dev.synchronize, dev.wall), warmup_s=0.0,
                             min_time_s=0.02, min_iters=5, wall=dev.wall)
    # the first kernel starts after its launch: latency = 10 µs + 3 ms
    assert all(t == pytest.approx(1e-5 + 3e-3) for t in timing.times)


def test_events_include_host_gaps_when_launches_are_the_bottleneck():
    dev = FakeDevice(launch_s=5e-4)                # 4 launches × 0.5 ms = 2 ms of host time
    step = _gpu_step(dev, [1e-4] * 4)              # only 0.4 ms of device work
    timing = time_iterations(step, EventClock(dev.event, dev.synchronize), warmup_s=0.0,
                             min_time_s=0.02, min_iters=5, wall=dev.wall)
    # the device waits for each kernel, so back to back an iteration lasts as long as the host
    # takes to launch it: 4 × 0.5 ms = 2 ms (not the 0.4 ms of device work); the first of a
    # round also holds its last kernel's 0.1 ms
    assert median(timing.times) == pytest.approx(2e-3)
    assert all(2e-3 - 1e-12 <= t <= 2.1e-3 + 1e-12 for t in timing.times)


def test_warmup_with_a_slow_first_call_is_excluded_on_the_device():
    dev = FakeDevice(launch_s=1e-5)
    first = [True]

    def step():
        dev.launch(0.5 if first[0] else 1e-3)      # e.g. cuDNN autotuning or compilation
        first[0] = False

    timing = time_iterations(step, EventClock(dev.event, dev.synchronize), warmup_s=0.0,
                             min_time_s=0.01, min_iters=5, wall=dev.wall)
    assert timing.warmup_iters == 1 and max(timing.times) <= 1e-3 + 1e-5 + 1e-12


def test_reading_events_before_synchronizing_is_an_error_the_clock_avoids():
    dev = FakeDevice(launch_s=1e-5)
    start, end = dev.event(), dev.event()
    start.record()
    dev.launch(1e-3)
    end.record()
    with pytest.raises(RuntimeError):
        start.elapsed_time(end)
    dev.synchronize()
    assert start.elapsed_time(end) == pytest.approx(1.01)    # 10 µs launch + 1 ms of work


# -- agreement with a reference timer ----------------------------------------------------------
class _RoundMarker(HostClock):
    """A host clock that notes in ``order`` each cnnstat round (its warm-up synchronization)."""

    def __init__(self, now, order):
        super().__init__(now)
        self.order = order
        self.in_round = False

    def synchronize(self):
        if not self.in_round:
            self.order.append("ours")
            self.in_round = True


def test_agreement_interleaves_and_retries_a_bounded_number_of_times():
    now = FakeTime()
    order: list[str] = []
    clock = _RoundMarker(now, order)

    def step():
        now.t += 0.002

    replies = iter([0.004, 0.004, 0.004,          # attempt 1: the reference says 2x slower
                    0.00205, 0.0021, 0.0019])     # attempt 2: within 10 %

    def reference(fn, threads, min_time):
        order.append("timer")
        clock.in_round = False
        return next(replies)

    result = compare_with_timer(step, clock, threads=1, rounds=3, warmup_s=0.0,
                                min_time_s=0.01, attempts=3, reference=reference)
    assert result.attempts == 2 and result.ok
    assert result.history[0] == pytest.approx(0.5) and len(result.history) == 2
    assert result.ratio == pytest.approx(0.002 / 0.00205)
    assert order == ["ours", "timer"] * 6                      # interleaved, 2 attempts x 3


def test_agreement_gives_up_after_the_attempts_and_says_so():
    now = FakeTime()

    def step():
        now.t += 0.001
    result = compare_with_timer(step, HostClock(now), threads=1, rounds=2, warmup_s=0.0,
                                min_time_s=0.005, attempts=2,
                                reference=lambda fn, threads, t: 0.002)
    assert not result.ok and result.attempts == 2 and len(result.history) == 2
    assert result.ratio == pytest.approx(0.5) and not math.isnan(result.ratio)
