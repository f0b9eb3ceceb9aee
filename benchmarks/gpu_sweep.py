"""The GPU sweep of issue 6, as one prepared script: run it once on a machine with a CUDA GPU.

    python benchmarks/gpu_sweep.py            # from the repository root; about 5-8 minutes on an H200

What it does, in this order, writing everything under ``reports/bench/<gpu>/`` (e.g.
``reports/bench/nvidia-h200/``):

1. ``device-profile.json``: the GPU's measured profile (matmul, copy and launch probes), beside
   the built-in datasheet profile the predictions use;
2. the sweep — resnet50, vgg16, mobilenet_v2, efficientnet_b0 × batch 1, 8, 64 × fp32, bf16 ×
   contiguous and channels-last (48 rows), CUDA events around every iteration, predictions from
   the built-in profile matching the GPU's name: ``README.md``, ``bench.csv``, ``bench.json``,
   ``bench.png|svg``;
3. ``timer/``: cnnstat's median against ``torch.utils.benchmark.Timer.blocked_autorange`` on the
   same calls (contiguous, batch 1 and 64, fp32 and bf16: 16 rows, interleaved rounds), with the
   ratio per row and whether it is within 10 %;
4. ``roofline-<model>.png|svg``: each model's roofline at bf16, batch 64, channels-last, with the
   measured whole-model point.

A deadline (``--deadline``, default 540 s) stops the sweep as Ctrl-C would: the rows finished are
written. An out-of-memory batch size is a row, not a failure. The script needs torch with CUDA,
torchvision, PyYAML, typer, rich and matplotlib; cnnstat is imported from this checkout.

``--device cpu --quick`` runs the same code on the CPU with small settings (a smoke test of the
script; its output is not a report to commit).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MODELS = ["resnet50", "vgg16", "mobilenet_v2", "efficientnet_b0"]
BATCHES = (1, 8, 64)
DTYPES = ("fp32", "bf16")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--out", default=None, help="default: reports/bench/<gpu>")
    parser.add_argument("--deadline", type=float, default=540.0,
                        help="seconds after which the sweep stops and writes what it has")
    parser.add_argument("--quick", action="store_true",
                        help="small settings (a smoke test of this script, e.g. on the CPU)")
    args = parser.parse_args()

    import os
    import tempfile
    # the measured profile goes to a private cache (not the user's), for the predictions below
    os.environ["CNNSTAT_CACHE_DIR"] = tempfile.mkdtemp(prefix="cnnstat-gpu-sweep-")
    from cnnstat.errors import CnnstatError
    from cnnstat.timing import report
    from cnnstat.timing.machine import machine_info, machine_slug
    from cnnstat.timing.runner import resolve_device, resolve_target
    from cnnstat.timing.sweep import Settings, run_sweep

    start = time.monotonic()
    try:
        device = resolve_device(args.device)
    except CnnstatError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    info = machine_info(device)
    out = Path(args.out) if args.out else ROOT / "reports" / "bench" / machine_slug(info)
    print(f"{info.get('gpu') or info['cpu']}: writing under {out}", flush=True)

    def on_deadline(*_):
        raise KeyboardInterrupt
    signal.signal(signal.SIGALRM, on_deadline)
    signal.alarm(int(args.deadline))

    models = ["resnet18", "mobilenet_v2"] if args.quick else MODELS
    batches = (1, 2) if args.quick else BATCHES
    timing = dict(warmup_s=0.05, min_time_s=0.05, min_iters=3) if args.quick else \
        dict(warmup_s=0.5, min_time_s=1.0, min_iters=10)
    if device == "cpu":                   # a smoke test on a shared CPU: one thread (docs/timing.md)
        timing["threads"] = 1
    input_size = 64 if args.quick else None
    targets = [resolve_target(m, input=input_size) for m in models]

    def progress(index, total, label):
        print(f"[{index}/{total}] {label} ({time.monotonic() - start:.0f} s)", flush=True)

    # 1. the measured profile (kept with the report; the predictions use the datasheet's)
    from cnnstat.roofline import match_gpu, save_profile
    from cnnstat.timing.probe import measure_profile
    files: dict[Path, str | bytes] = {}
    profile = None
    try:
        profile = measure_profile(device, DTYPES, min_time_s=0.05 if args.quick else 0.2,
                                  sizes=[128, 256] if args.quick else None,
                                  copy_size=2 ** 22 if args.quick else None)
        files[out / "device-profile.json"] = json.dumps(profile.to_dict(), indent=2) + "\n"
        save_profile(profile)
    except Exception as exc:              # the sweep is worth having without it
        print(f"note: the device profile could not be measured: {type(exc).__name__}: {exc}")
    # predictions: the datasheet profile of this GPU if cnnstat has one, else the measured one
    builtin = match_gpu(info["gpu"]) if info.get("gpu") else None
    predict_with = builtin.name if builtin else (profile.name if profile else None)

    # 2. the sweep
    settings = Settings(device=device, dtypes=DTYPES, batches=batches,
                        channels_last=(False, True), profile=predict_with, **timing)
    result = run_sweep(targets, settings, on_start=progress)
    command = "python benchmarks/gpu_sweep.py" + (" --quick" if args.quick else "") \
        + (f" --device {args.device}" if args.device != "cuda" else "")
    for name, data in report.report_files(result, command).items():
        files[out / name] = data

    # 3. agreement with torch.utils.benchmark.Timer (skipped if the deadline has passed)
    timer_result = None
    if not result.interrupted:
        check = Settings(device=device, dtypes=DTYPES, batches=(batches[0], batches[-1]),
                         channels_last=(False,), timer_check=True, timer_rounds=3,
                         timer_attempts=2, profile=predict_with, **(timing | {"min_time_s": 0.05 if args.quick else 0.3}))
        timer_result = run_sweep(targets, check, on_start=progress)
        for name, data in report.report_files(timer_result, command + "  # Timer pass").items():
            files[out / "timer" / name] = data

    # 4. rooflines with the measured point
    files.update(rooflines(result, {t.label: t.graph for t in targets}, out))
    signal.alarm(0)

    from cnnstat.fileio import atomic_write_many
    atomic_write_many(files)
    print(f"wrote {len(files)} files under {out} in {time.monotonic() - start:.0f} s")
    if timer_result is not None:
        rows = [r for r in timer_result.rows if r.timer is not None]
        bad = [r for r in rows if not r.timer.ok]
        print(f"Timer agreement: {len(rows) - len(bad)} of {len(rows)} rows within 10 %"
              + "".join(f"\n  outside: {r.series} batch {r.batch}: ratio {r.timer.ratio:.3f}"
                        for r in bad))
    if result.interrupted:
        print(f"stopped at the deadline: {len(result.rows)} of {result.planned} rows")
    return 0


def rooflines(result, graphs: dict, out: Path) -> dict:
    """Each model's roofline at bf16 (else fp32), the largest batch, channels-last, with the
    measured median as the whole-model point."""
    from cnnstat import plots
    from cnnstat.analyze import analyze_graph
    from cnnstat.convention import Convention
    from cnnstat.roofline import get_profile, predict
    files = {}
    for model in dict.fromkeys(r.model for r in result.rows):
        rows = [r for r in result.rows if r.model == model and r.ok and r.profile]
        if not rows:
            continue
        best = max(rows, key=lambda r: (r.dtype == "bf16", r.batch, r.channels_last))
        analysis = analyze_graph(graphs[model], batch=best.batch,
                                 convention=Convention.parse("all"), dtype=best.dtype)
        pred = predict(analysis, get_profile(best.profile))
        fig = plots.roofline_figure(pred, measured_s=best.stats.median,
                                    title=f"{model}, {best.dtype}, batch {best.batch}"
                                          f"{', channels-last' if best.channels_last else ''}: "
                                          "roofline and measurement")
        rendered = plots.render_all(fig)
        files[out / f"roofline-{model}.png"] = rendered["png"]
        files[out / f"roofline-{model}.svg"] = rendered["svg"]
    return files


if __name__ == "__main__":
    sys.exit(main())
