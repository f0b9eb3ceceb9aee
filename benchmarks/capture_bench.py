"""Import speed (issue 13): cnnstat's import of a torch module against torchinfo and
FlopCounterMode, on the same module instance, as ratios measured in one run; and the cold CLI.

    .venv/bin/python benchmarks/capture_bench.py [--rounds N] [--out FILE.md]

``benchmarks/bench.py`` runs :func:`section` for reports/perf.md (section 6).

Models: torchvision ResNet-50 and five timm models (a CNN, a same-padding EfficientNet, a
ViT, a Swin, a LeViT), random weights, eval mode, batch 1 at their default resolution, one CPU
thread. Each round times, in turn, on the same instance:

- ``import``: ``cnnstat.analyze(model, input)``: the whole import (two captures on meta
  tensors, the mapping onto cnnstat's operators, the checks) and the analysis;
- ``capture``: :func:`cnnstat.importers.capture.capture` alone (meta tensors: no arithmetic);
- ``forward``: the module's own forward under ``no_grad``;
- ``torchinfo``: ``torchinfo.summary(model, input_data=x, verbose=0)`` (a forward with hooks);
- ``flopcounter``: a forward under ``torch.utils.flop_counter.FlopCounterMode``.

Rounds interleave the tools so that a change in load hits them alike; the figures are medians
over the rounds. Issue 13's goal: the whole import no slower than torchinfo's summary.

Cold: ``cnnstat summary timm:resnet50`` in a fresh process against a script that builds the
same timm model and prints ``torchinfo.summary`` (each run 3 times, median).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MODELS = [("torchvision", "resnet50"), ("timm", "resnet50"), ("timm", "tf_efficientnet_b0"),
          ("timm", "vit_tiny_patch16_224"), ("timm", "swin_tiny_patch4_window7_224"),
          ("timm", "levit_128s")]
TOOLS = ("import", "capture", "forward", "torchinfo", "flopcounter")
GOAL = 1.0                       # import / torchinfo


def build(source: str, name: str):
    import torch

    torch.manual_seed(0)
    if source == "torchvision":
        import torchvision
        return torchvision.models.get_model(name, weights=None).eval(), (3, 224, 224)
    from tests import timm_zoo
    model = timm_zoo.build(name)
    return model, tuple(model.pretrained_cfg["input_size"])


def measure(model, size, rounds: int) -> dict[str, float]:
    import torch
    from torch.utils.flop_counter import FlopCounterMode
    from torchinfo import summary

    import cnnstat
    from cnnstat.importers.capture import capture

    x = torch.randn(1, *size)

    def forward():
        with torch.no_grad():
            model(x)

    def flopcounter():
        with torch.no_grad(), FlopCounterMode(display=False):
            model(x)

    tools = {"import": lambda: cnnstat.analyze(model, size),
             "capture": lambda: capture(model, (1, *size)), "forward": forward,
             "torchinfo": lambda: summary(model, input_data=x, verbose=0),
             "flopcounter": flopcounter}
    for fn in tools.values():           # warm-up: lazy imports, first-call caches
        fn()
    times: dict[str, list[float]] = {k: [] for k in tools}
    for _ in range(rounds):
        for key, fn in tools.items():
            start = time.perf_counter()
            fn()
            times[key].append(time.perf_counter() - start)
    return {k: statistics.median(v) for k, v in times.items()}


TORCHINFO_SCRIPT = """
import timm, torch, torchinfo
model = timm.create_model("resnet50", pretrained=False).eval()
torchinfo.summary(model, input_size=(1, 3, 224, 224))
"""


def cold(repeats: int = 5) -> dict[str, float]:
    """Wall time of a fresh process: the cnnstat CLI and a torchinfo script, same timm model.
    Interleaved (cnnstat, torchinfo, cnnstat, ...) after one untimed run of each, so that neither
    pays alone for a cold file cache or a burst of load on a shared machine; medians."""
    import subprocess

    commands = {"cnnstat": [sys.executable, "-m", "cnnstat", "summary", "timm:resnet50"],
                "torchinfo": [sys.executable, "-c", TORCHINFO_SCRIPT]}
    times: dict[str, list[float]] = {key: [] for key in commands}
    for round_ in range(repeats + 1):
        for key, command in commands.items():
            start = time.perf_counter()
            subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
            if round_:                          # round 0 warms the file cache for both
                times[key].append(time.perf_counter() - start)
    return {key: statistics.median(values) for key, values in times.items()}


def section(rounds: int = 7, cold_repeats: int = 5) -> tuple[list[str], list[str]]:
    """The Markdown lines of the import benchmark, and the goals missed."""
    import torch

    warnings.filterwarnings("ignore")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        lines = ["| model | cnnstat import + analysis | capture alone | forward | torchinfo | "
                 "FlopCounterMode | import / torchinfo | import / FlopCounterMode |",
                 "|---|---:|---:|---:|---:|---:|---:|---:|"]
        ratios = []
        for source, name in MODELS:
            model, size = build(source, name)
            t = measure(model, size, rounds)
            ratios.append(t["import"] / t["torchinfo"])
            lines.append(f"| {source}:{name} | {t['import'] * 1e3:.0f} ms | "
                         f"{t['capture'] * 1e3:.0f} ms | {t['forward'] * 1e3:.0f} ms | "
                         f"{t['torchinfo'] * 1e3:.0f} ms | {t['flopcounter'] * 1e3:.0f} ms | "
                         f"{t['import'] / t['torchinfo']:.2f} | "
                         f"{t['import'] / t['flopcounter']:.2f} |")
            print(lines[-1], file=sys.stderr, flush=True)
    finally:
        torch.set_num_threads(threads)
    median = statistics.median(ratios)
    ok = median <= GOAL
    c = cold(cold_repeats)
    lines += ["", f"Goal: the import no slower than torchinfo on the same instance — median "
              f"import / torchinfo **{median:.2f}, {'met' if ok else 'MISSED'}** ({rounds} "
              "interleaved rounds, one thread, batch 1; *import*: `cnnstat.analyze(module, "
              "input)`, two captures on meta tensors, the mapping and the analysis).", "",
              f"| cold, fresh process (interleaved, median of {cold_repeats} after a warm-up run "
              "of each) | wall time |", "|---|---:|",
              f"| `cnnstat summary timm:resnet50` | {c['cnnstat']:.2f} s |",
              f"| torchinfo script (build timm resnet50, `summary`) | {c['torchinfo']:.2f} s |",
              "", f"Cold ratio cnnstat / torchinfo: **{c['cnnstat'] / c['torchinfo']:.2f}**.", ""]
    missed = [] if ok else [f"import / torchinfo {median:.2f} > {GOAL}"]
    return lines, missed


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--out", type=Path)
    options = parser.parse_args(argv)
    lines, _ = section(options.rounds)
    text = "\n".join(lines) + "\n"
    print(text)
    if options.out:
        options.out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
