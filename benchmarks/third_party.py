"""One third-party counter on one torchvision model, timed in this process (run by bench.py in a
subprocess, so fvcore's tracing and torch's dispatch modes cannot disturb anything else).

    python benchmarks/third_party.py TOOL MODEL H W REPEATS

TOOL: fvcore | flopcounter_cpu | flopcounter_meta | torchinfo. Prints one JSON object: the
median and all times of the counting call (the model is built once, before timing, and its
construction time is reported separately), and the count it found (a sanity check).
"""

from __future__ import annotations

import json
import statistics
import sys
import time
import warnings


def main() -> None:
    tool, name, h, w, repeats = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), \
        int(sys.argv[5])
    warnings.filterwarnings("ignore")
    import torch
    import torchvision

    torch.set_num_threads(1)          # cnnstat is single-threaded: compare the same resources
    device = "meta" if tool == "flopcounter_meta" else "cpu"
    start = time.perf_counter()
    with torch.device(device):
        model = torchvision.models.get_model(name, weights=None).eval()
    x = torch.randn(1, 3, h, w, device=device) if device == "cpu" else \
        torch.empty(1, 3, h, w, device="meta")
    build_s = time.perf_counter() - start
    count = None

    def run():
        nonlocal count
        if tool == "fvcore":
            from fvcore.nn import FlopCountAnalysis
            count = int(FlopCountAnalysis(model, x).unsupported_ops_warnings(False)
                        .uncalled_modules_warnings(False).total())
        elif tool.startswith("flopcounter"):
            from torch.utils.flop_counter import FlopCounterMode
            counter = FlopCounterMode(display=False)
            with torch.no_grad(), counter:
                model(x)
            count = counter.get_total_flops() // 2
        elif tool == "torchinfo":
            from torchinfo import summary
            count = summary(model, input_data=x, verbose=0).total_mult_adds
        else:
            raise SystemExit(f"unknown tool {tool}")

    run()                                   # warm-up: imports, first-call caches
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        run()
        times.append(time.perf_counter() - t)
    print(json.dumps({"tool": tool, "model": name, "median_s": statistics.median(times),
                      "times_s": times, "build_s": build_s, "count": count}))


if __name__ == "__main__":
    main()
