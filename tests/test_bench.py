"""cnnstat bench on the CPU: agreement with torch.utils.benchmark.Timer, the sweep's rows
(derived figures, memory), faults kept per row (simulated CUDA out-of-memory, torch.compile
failing, Ctrl-C), the one-line errors of a missing device or dtype, the report folder."""

from __future__ import annotations

import csv
import io
import json

import pytest

torch = pytest.importorskip("torch")

from cnnstat.cli import main  # noqa: E402
from cnnstat.errors import UsageError  # noqa: E402
from cnnstat.timing import runner, sweep  # noqa: E402
from cnnstat.timing.agreement import compare_with_timer  # noqa: E402
from cnnstat.timing.loop import HostClock  # noqa: E402
from cnnstat.timing.memory import CudaMemory, RssMemory  # noqa: E402
from cnnstat.timing.sweep import OK, OOM, Settings, run_sweep  # noqa: E402

pytestmark = pytest.mark.torch

# ~2 ms per image on one core: at batch 8 an iteration takes tens of milliseconds, so Timer's
# blocked_autorange times one call per block and both medians are over single calls
MID = """\
name: mid
input: [3, 64, 64]
layers:
  - conv1: conv2d(32, 3, padding=1)
  - relu1: relu
  - conv2: conv2d(64, 3, stride=2, padding=1)
  - relu2: relu
  - conv3: conv2d(64, 3, padding=1)
  - relu3: relu
  - pool: global_avgpool(keepdim=false)
  - fc: linear(10)
"""
TINY = """\
name: tiny
input: [3, 16, 16]
layers:
  - conv: conv2d(8, 3, padding=1)
  - bn: batchnorm2d
  - relu: relu
  - pool: global_avgpool(keepdim=false)
  - fc: linear(4)
"""


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    """No test sees (or writes) the user's cached device profiles."""
    monkeypatch.setenv("CNNSTAT_CACHE_DIR", str(tmp_path / "cnnstat-cache"))


@pytest.fixture
def mid(tmp_path) -> str:
    path = tmp_path / "mid.yaml"
    path.write_text(MID)
    return str(path)


@pytest.fixture
def tiny(tmp_path) -> str:
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY)
    return str(path)


@pytest.fixture
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield 1
    torch.set_num_threads(before)


FAST = dict(warmup_s=0.02, min_time_s=0.02, min_iters=3, threads=1)


@pytest.mark.serial
def test_median_agrees_with_torch_benchmark_timer_within_10_percent(mid, one_thread):
    """The issue's validation: same model, batch, device and thread count; cnnstat's rounds and
    Timer.blocked_autorange() interleaved, medians compared; a noisy attempt is retried (at most
    3), the 10 % bound is never loosened."""
    target = runner.resolve_target(mid)
    module = runner.prepare(target.build("cpu"), "cpu", "fp32", False)
    x = runner.example_input(target.graph, 8, "cpu", "fp32", False)
    with torch.inference_mode():
        result = compare_with_timer(lambda: module(x), HostClock(), threads=one_thread,
                                    rounds=3, warmup_s=0.2, min_time_s=0.3, tolerance=0.10,
                                    attempts=3)
    assert result.ok, (f"cnnstat {result.ours} vs Timer {result.timer}: ratios by attempt "
                       f"{result.history}")
    assert len(result.ours) == len(result.timer) == 3


def test_sweep_rows_derive_their_figures_from_the_median(tiny):
    target = runner.resolve_target(tiny)
    result = run_sweep([target], Settings(batches=(1, 4), **FAST))
    assert [r.batch for r in result.rows] == [1, 4] and all(r.ok for r in result.rows)
    assert not result.interrupted and result.planned == 2
    from cnnstat import analyze
    for r in result.rows:
        macs = analyze(tiny, batch=r.batch).totals.macs
        assert r.macs == macs                                  # the static count of the batch
        assert r.throughput == pytest.approx(r.batch / r.stats.median)
        assert r.achieved_flops == pytest.approx(2 * macs / r.stats.median)
        assert r.macs_per_s == pytest.approx(macs / r.stats.median)
        assert r.stats.n >= 3 and r.stats.total >= 0.02 and r.warmup_iters >= 1
        assert r.stats.p10 <= r.stats.median <= r.stats.p90
        assert r.threads == 1 and r.clock == "host"
        assert r.memory_growth is not None and r.memory_method.startswith("peak RSS")
    assert result.machine["torch_threads"] == 1 and result.machine["cpu"]


def test_bf16_channels_last_and_torchvision_impl_run(tiny):
    result = run_sweep([runner.resolve_target(tiny)],
                       Settings(dtypes=("bf16",), channels_last=(True,), **FAST))
    row = result.rows[0]
    assert row.ok and row.dtype == "bf16" and row.channels_last
    tv = runner.resolve_target("resnet18", "torchvision", input=32)
    assert tv.reference == "torchvision:resnet18"
    result = run_sweep([tv], Settings(impl="torchvision", **FAST))
    from cnnstat import analyze
    assert result.rows[0].ok and result.rows[0].impl == "torchvision"
    assert result.rows[0].macs == analyze("resnet18", input=32).totals.macs   # cnnstat's count
    with pytest.raises(UsageError, match="torchvision has no model"):
        runner.resolve_target(tiny, "torchvision")


def _measure_failing_at(batch_sizes: set[int], exc_factory):
    """A measure function that fails for some batch sizes, else measures normally."""
    def measure(row, step, clock, memory, settings):
        if row.batch in batch_sizes:
            raise exc_factory()
        sweep.measure_row(row, step, clock, memory, settings)
    return measure


def test_cuda_out_of_memory_is_reported_for_its_row_and_the_sweep_goes_on(tiny, monkeypatch):
    released = []
    real_release = runner.release
    monkeypatch.setattr(runner, "release", lambda device: (released.append(device),
                                                           real_release(device)))
    measure = _measure_failing_at({8}, lambda: torch.cuda.OutOfMemoryError(
        "CUDA out of memory. Tried to allocate 2.00 GiB"))
    result = run_sweep([runner.resolve_target(tiny)], Settings(batches=(1, 8, 2), **FAST),
                       measure=measure)
    statuses = [(r.batch, r.status) for r in result.rows]
    assert statuses == [(1, OK), (8, OOM), (2, OK)]
    oom = result.rows[1]
    assert oom.stats is None and "Tried to allocate" in oom.message and "\n" not in oom.message
    assert released                                      # memory handed back after the fault
    assert oom.throughput is None and oom.achieved_flops is None


def test_cpu_allocator_failure_counts_as_out_of_memory():
    assert runner.is_out_of_memory(RuntimeError(
        "[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory"))
    assert runner.is_out_of_memory(MemoryError())
    assert not runner.is_out_of_memory(RuntimeError("mat1 and mat2 shapes cannot be multiplied"))


def test_compile_failure_is_one_line_per_row(tiny, monkeypatch):
    def broken(module):
        def call(x):
            raise RuntimeError("backend='inductor' raised:\nCppCompileError: C++ compile error\n...")
        return call
    monkeypatch.setattr(torch, "compile", broken)
    result = run_sweep([runner.resolve_target(tiny)], Settings(batches=(1, 2), compile=True,
                                                               **FAST))
    assert [r.status for r in result.rows] == ["error", "error"]
    for r in result.rows:
        assert r.message.startswith("torch.compile failed: RuntimeError: backend='inductor'")
        assert "\n" not in r.message


def test_ctrl_c_keeps_the_finished_rows(tiny):
    result = run_sweep([runner.resolve_target(tiny)], Settings(batches=(1, 2, 4), **FAST),
                       measure=_measure_failing_at({2}, KeyboardInterrupt))
    assert result.interrupted and [r.batch for r in result.rows] == [1]
    assert result.rows[0].ok and result.planned == 3


def test_unavailable_device_and_dtype_are_one_line(capsys, tiny, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    code = main(["bench", tiny, "--device", "cuda"])
    out, err = capsys.readouterr()
    assert code == 2 and err.startswith("error: --device cuda: CUDA is not available")
    assert err.count("\n") == 1 and not out
    code = main(["bench", tiny, "--device", "tpu"])
    assert code == 2 and "choose cpu or cuda" in capsys.readouterr().err

    def no_half(self, x):
        raise RuntimeError('"slow_conv2d_cpu" not implemented for \'Half\'')
    monkeypatch.setattr(torch.nn.Conv2d, "forward", no_half)
    with pytest.raises(UsageError, match=r"--dtype fp16 is not supported on cpu by torch .*Half"):
        runner.check_dtype("cpu", "fp16")


def test_cuda_memory_probe_reads_the_allocator_peak():
    class FakeCuda:
        def __init__(self):
            self.allocated, self.peak = 100, 100

        def synchronize(self, device=None):
            pass

        def reset_peak_memory_stats(self, device=None):
            self.peak = self.allocated

        def memory_allocated(self, device=None):
            return self.allocated

        def max_memory_allocated(self, device=None):
            return self.peak

    class FakeTorch:
        cuda = FakeCuda()
    fake = FakeTorch()
    probe = CudaMemory(fake, "cuda:0")
    fake.cuda.peak = 10_000                    # an earlier, larger run
    probe.begin()
    fake.cuda.peak = 700                       # the run allocates 600 bytes at its highest
    use = probe.end()
    assert (use.peak_bytes, use.growth_bytes) == (700, 600)


def test_rss_probe_sees_a_large_allocation():
    probe = RssMemory()
    probe.begin()
    block = torch.ones(64 * 2 ** 20, dtype=torch.uint8)     # 64 MiB, touched
    use = probe.end()
    del block
    assert use.growth_bytes >= 60 * 2 ** 20
    assert use.method.startswith("peak RSS")


def test_bench_command_writes_a_report_folder(capsys, tiny, tmp_path):
    out = tmp_path / "bench"
    code = main(["bench", tiny, "--batch", "1,2", "--threads", "1", "--warmup", "0.02",
                 "--min-time", "0.02", "--min-iters", "3", "--device-profile", "h100",
                 "--out", str(out), "--format", "csv"])
    stdout, err = capsys.readouterr()
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "bench.csv", "bench.json",
                                                     "bench.png", "bench.svg"]
    rows = list(csv.DictReader(io.StringIO(stdout)))
    assert [int(r["batch"]) for r in rows] == [1, 2] and rows[0]["status"] == "ok"
    assert float(rows[0]["predicted_s"]) > 0 and rows[0]["profile"] == "h100"
    data = json.loads((out / "bench.json").read_text())
    assert data["machine"]["cpu"] and data["machine"]["torch"] == torch.__version__
    assert data["settings"]["threads"] == 1 and len(data["rows"]) == 2
    readme = (out / "README.md").read_text()
    assert "## Machine" in readme and "torch threads | 1" in readme
    assert "cnnstat bench" in readme and "--batch 1,2" in readme and "bench.png" in readme
    assert "[1/2]" in err and "[2/2]" in err                 # progress lines off a terminal


def test_ctrl_c_in_the_command_writes_the_finished_rows(capsys, tiny, tmp_path, monkeypatch):
    monkeypatch.setattr(sweep, "measure_row", _wrap_interrupt(sweep.measure_row, {4}))
    out = tmp_path / "partial"
    code = main(["bench", tiny, "--batch", "1,2,4,8", "--threads", "1", "--warmup", "0.02",
                 "--min-time", "0.02", "--min-iters", "3", "--out", str(out)])
    _, err = capsys.readouterr()
    assert code == 130 and "interrupted: kept the 2 of 4 rows finished" in err
    data = json.loads((out / "bench.json").read_text())
    assert data["interrupted"] and [r["batch"] for r in data["rows"]] == [1, 2]
    assert "Interrupted" in (out / "README.md").read_text()


def _wrap_interrupt(real, batches):
    def measure(row, step, clock, memory, settings):
        if row.batch in batches:
            raise KeyboardInterrupt
        real(row, step, clock, memory, settings)
    return measure


def test_timer_column(capsys, tiny):
    code = main(["bench", tiny, "--threads", "1", "--warmup", "0.02", "--min-time", "0.05",
                 "--timer", "--format", "json"])
    out, _ = capsys.readouterr()
    row = json.loads(out)["rows"][0]
    assert code == 0 and row["timer"]["timer_median_s"] > 0
    assert row["timer"]["ratio"] == pytest.approx(row["timer"]["cnnstat_median_s"]
                                                  / row["timer"]["timer_median_s"])


def test_device_profile_probe_and_cache(capsys, tiny, monkeypatch):
    from cnnstat.timing import probe
    profile = probe.measure_profile("cpu", ("fp32", "bf16"), min_time_s=0.01, sizes=[64, 128],
                                    copy_size=4 * 2 ** 20)
    assert profile.name == "local" and not profile.builtin
    assert set(profile.matrix) == {"fp32", "bf16"} and profile.vector == profile.matrix["fp32"]
    assert 1e8 < profile.matrix["fp32"] < 1e13          # 0.1 GFLOP/s … 10 TFLOP/s: a CPU
    assert 1e8 < profile.bandwidth < 1e12 and 0 < profile.launch_overhead < 1e-2
    assert profile.measured["matmul_sizes"]["fp32"] in (64, 128)
    assert profile.measured["machine"]["cpu"]

    real = probe.measure_profile
    monkeypatch.setattr(probe, "measure_profile", lambda device, dtypes, **kw: real(
        device, dtypes, min_time_s=0.01, sizes=[64], copy_size=2 ** 20, **kw))
    code = main(["device-profile", "--dtype", "fp32", "--format", "json"])
    out, err = capsys.readouterr()
    assert code == 0 and "saved profile 'local'" in err
    assert json.loads(out)[0]["name"] == "local"
    code = main(["device-profile", "--format", "json"])        # cached now: not measured again
    out, err = capsys.readouterr()
    assert code == 0 and "cached profile 'local'" in err and "--refresh" in err
    # the cached profile is what roofline and bench use on this machine by default
    code = main(["roofline", tiny, "--format", "json"])
    assert code == 0 and json.loads(capsys.readouterr().out)["profile"]["name"] == "local"
    code = main(["bench", tiny, "--threads", "1", "--warmup", "0.01", "--min-time", "0.01",
                 "--min-iters", "3", "--format", "json"])
    row = json.loads(capsys.readouterr().out)["rows"][0]
    assert code == 0 and row["profile"] == "local" and row["predicted_s"] > 0


@pytest.mark.slow
def test_gpu_sweep_script_runs_on_the_cpu(tmp_path):
    """The prepared GPU script, with --device cpu --quick: the same code path end to end (profile,
    sweep, Timer pass, rooflines, one all-or-nothing write). On demand: -m slow."""
    import subprocess
    import sys
    from .conftest import ROOT
    out = tmp_path / "smoke"
    result = subprocess.run([sys.executable, "benchmarks/gpu_sweep.py", "--device", "cpu",
                             "--quick", "--out", str(out), "--deadline", "900"], cwd=ROOT,
                            capture_output=True, text=True, timeout=1200)
    assert result.returncode == 0, result.stderr[-3000:]
    names = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert {"README.md", "bench.csv", "bench.json", "bench.png", "device-profile.json",
            "timer/bench.json", "roofline-resnet18.png"} <= names
    data = json.loads((out / "bench.json").read_text())
    assert len(data["rows"]) == 16 and all(r["status"] == "ok" for r in data["rows"])
    timer = json.loads((out / "timer" / "bench.json").read_text())
    assert all(r["timer"] is not None for r in timer["rows"])
