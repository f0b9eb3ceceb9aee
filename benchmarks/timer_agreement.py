"""cnnstat's median latency against torch.utils.benchmark.Timer on real models (issue 6's
validation beyond the unit test's small network).

    python benchmarks/timer_agreement.py                       # resnet18, mobilenet_v2, resnet50
    python benchmarks/timer_agreement.py --models vgg16 --batch 1,8 --threads 2 --out DIR

For every model and batch size the same call is timed by cnnstat (cnnstat.timing.loop) and by
``Timer(...).blocked_autorange()`` with the same thread count, in interleaved rounds; the ratio of
the medians must be within 10 %. A comparison outside is repeated (``--attempts``, default 3),
never loosened. Exit status 0 when every row agrees, 1 otherwise. With ``--out``, the rows are
written as a bench report (README.md, bench.csv, bench.json, plot) with the Timer columns.

On a machine shared with other work use ``--threads 1``: with more threads than free cores, OpenMP
workers wait for each other at every layer and both timers measure that waiting.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default="resnet18,mobilenet_v2,resnet50")
    parser.add_argument("--batch", default="1,8")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="fp32")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--min-time", type=float, default=0.5)
    parser.add_argument("--attempts", type=int, default=3)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()

    from cnnstat.cli.bench import parse_batches
    from cnnstat.errors import CnnstatError
    from cnnstat.roofline.render import sig
    from cnnstat.timing import report
    from cnnstat.timing.runner import parse_dtypes, resolve_target
    from cnnstat.timing.sweep import Settings, run_sweep
    try:
        settings = Settings(device=args.device, dtypes=tuple(parse_dtypes(args.dtype)),
                            batches=parse_batches(args.batch), threads=args.threads,
                            warmup_s=0.5, min_time_s=args.min_time, min_iters=5,
                            timer_check=True, timer_rounds=args.rounds,
                            timer_attempts=args.attempts)
        targets = [resolve_target(m.strip()) for m in args.models.split(",") if m.strip()]
        result = run_sweep(targets, settings, on_start=lambda i, n, label: print(
            f"[{i}/{n}] {label}", file=sys.stderr, flush=True))
    except CnnstatError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{'model':<16}{'batch':>6}{'cnnstat ms':>12}{'Timer ms':>12}{'ratio':>8}"
          f"{'attempts':>10}  within 10 %")
    bad = 0
    for r in result.rows:
        if r.timer is None:
            print(f"{r.model:<16}{r.batch:>6}  {r.status}: {r.message}")
            bad += 1
            continue
        t = r.timer
        bad += not t.ok
        print(f"{r.model:<16}{r.batch:>6}{sig(t.ours_median * 1e3):>12}"
              f"{sig(t.timer_median * 1e3):>12}{t.ratio:>8.3f}{t.attempts:>10}  "
              f"{'yes' if t.ok else 'NO (ratios ' + ', '.join(f'{x:.3f}' for x in t.history) + ')'}")
    if args.out:
        command = "python benchmarks/timer_agreement.py " + " ".join(sys.argv[1:])
        paths = report.write_report(result, args.out, command.strip())
        print(f"wrote {len(paths)} files under {args.out}", file=sys.stderr)
    print(f"{len(result.rows) - bad} of {len(result.rows)} rows agree within 10 % "
          f"(load average {result.machine.get('load_average_1_5_15min')})")
    return 0 if bad == 0 and not result.interrupted else 1


if __name__ == "__main__":
    sys.exit(main())
