"""Capture speed (issue 13): cnnstat's capture against torchinfo and FlopCounterMode, on the same
module instance, as ratios measured in one run.

    .venv/bin/python benchmarks/capture_bench.py [--rounds N] [--out FILE.md]

Models: torchvision ResNet-50 and five timm models (a CNN, a same-padding EfficientNet, a
ViT, a Swin, a LeViT), random weights, eval mode, batch 1 at their default resolution, one CPU
thread. Each round times, in turn, on the same instance:

- ``capture``: :func:`cnnstat.importers.capture.capture` (meta tensors: no arithmetic);
- ``forward``: the module's own forward under ``no_grad``;
- ``torchinfo``: ``torchinfo.summary(model, input_data=x, verbose=0)`` (a forward with hooks);
- ``flopcounter``: a forward under ``torch.utils.flop_counter.FlopCounterMode``.

Rounds interleave the tools so that a change in load hits them alike; the figures are medians
over the rounds. The capture is only the first half of an import (the mapping onto cnnstat's
operators and the analysis come after it, issue 13's second half): the goal "no slower than
torchinfo" applies to the whole import, so the capture should be well under it.
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
TOOLS = ("capture", "forward", "torchinfo", "flopcounter")


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

    from cnnstat.importers.capture import capture

    x = torch.randn(1, *size)

    def forward():
        with torch.no_grad():
            model(x)

    def flopcounter():
        with torch.no_grad(), FlopCounterMode(display=False):
            model(x)

    tools = {"capture": lambda: capture(model, (1, *size)), "forward": forward,
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


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--out", type=Path)
    options = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    import torch

    torch.set_num_threads(1)
    lines = ["| model | capture ms | forward ms | torchinfo ms | FlopCounterMode ms | "
             "capture / forward | capture / torchinfo | capture / FlopCounterMode |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    ratios = []
    for source, name in MODELS:
        model, size = build(source, name)
        t = measure(model, size, options.rounds)
        ratios.append(t["capture"] / t["torchinfo"])
        lines.append(f"| {source}:{name} | {t['capture'] * 1e3:.0f} | {t['forward'] * 1e3:.0f} | "
                     f"{t['torchinfo'] * 1e3:.0f} | {t['flopcounter'] * 1e3:.0f} | "
                     f"{t['capture'] / t['forward']:.2f} | {t['capture'] / t['torchinfo']:.2f} | "
                     f"{t['capture'] / t['flopcounter']:.2f} |")
        print(lines[-1], flush=True)
    lines.append("")
    lines.append(f"Median capture / torchinfo: {statistics.median(ratios):.2f} "
                 f"({options.rounds} interleaved rounds, one thread, batch 1).")
    text = "\n".join(lines) + "\n"
    print(lines[-1])
    if options.out:
        options.out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
