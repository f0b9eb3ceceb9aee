"""cnnstat's performance, measured side by side in one run as ratios, written to reports/perf.md.

    .venv/bin/python benchmarks/bench.py            # everything (a few minutes)
    .venv/bin/python benchmarks/bench.py --quick    # fewer repeats, EfficientNet-B7 left out
    .venv/bin/python benchmarks/bench.py --check    # exit 1 when a target is missed

1. Static analysis of ResNet-50, VGG16 and EfficientNet-B7 against the third-party counters on
   the same torchvision models, at the same input: fvcore FlopCountAnalysis, torch
   FlopCounterMode on CPU and on the meta device, torchinfo summary. Each third-party tool runs
   in its own subprocess (they trace or patch torch), counting an already-built model; cnnstat
   analyses an already-built layer graph (the YAML definition is already parsed, as torchvision's
   Python code is already imported). Target: at least 100x faster than the fastest of them on
   ResNet-50. Also reported: cnnstat with receptive fields, and from the model's name.
2. CLI wall time of ``cnnstat params vgg16`` against ``python -c "import torch"``: under 1/10.
   As installed: bytecode compiled (pip compiles it; this checkout's is compiled first) and the
   parsed zoo in the user cache (written by the first run, which is timed apart: "empty cache").
3. Analysis time against depth (ResNet-110, ResNet-1202, generated 10,000-layer networks):
   linear (time per layer within 2x across depths) and under 1 s for ResNet-1202.
4. Analysis time against input resolution (ResNet-50 from 224 to 4096): flat (within 1.5x).
5. Analysis time against spatial rank: 3-D U-Net (Çiçek et al. 2016) against the 2-D U-Net, and a
   1-D network (M18), per layer: a 3-D layer costs about what a 2-D one does (within 1.5x).
6. Importing a torch module by capture (benchmarks/capture_bench.py): ``cnnstat.analyze`` of
   ResNet-50 and five timm models against torchinfo's summary and FlopCounterMode on the same
   instance (goal: no slower than torchinfo), and ``cnnstat summary timm:resnet50`` cold.

Times are medians of repeats (wall clock, perf_counter); torch runs on one thread, as cnnstat
does. The report states the machine, its load and the date: compare ratios, not seconds.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import cnnstat  # noqa: E402
from cnnstat.analyze import analyze_graph  # noqa: E402
from cnnstat.models import load_graph, parse_input  # noqa: E402

MODELS = [("resnet50", "resnet50"), ("vgg16", "vgg16"), ("efficientnet_b7", "efficientnet_b7")]
TOOLS = ["flopcounter_meta", "flopcounter_cpu", "torchinfo", "fvcore"]
TOOL_NAMES = {"flopcounter_meta": "torch FlopCounterMode (meta)",
              "flopcounter_cpu": "torch FlopCounterMode (CPU)",
              "torchinfo": "torchinfo summary", "fvcore": "fvcore FlopCountAnalysis"}
TARGETS = {"speedup": 100.0, "cli": 0.1, "linear": 2.0, "resnet1202_s": 1.0, "flat": 1.5,
           "rank": 1.5}
#: (label, zoo model) per spatial rank: U-Net in 2-D and 3-D, a raw-waveform network in 1-D
RANK_MODELS = [("U-Net (2-D)", "unet"), ("3-D U-Net", "unet3d"), ("M18 (1-D)", "m18"),
               ("V-Net (3-D)", "vnet")]


def times_of(fn, repeats: int) -> list[float]:
    fn()                                            # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def median_time(fn, repeats: int) -> float:
    return statistics.median(times_of(fn, repeats))


def with_fields(graph) -> None:
    """An analysis that also computes every receptive field."""
    analysis = analyze_graph(graph)
    analysis.records[-1].rf


def third_party(tool: str, model: str, hw: tuple[int, int], repeats: int) -> dict:
    cmd = [sys.executable, str(Path(__file__).with_name("third_party.py")), tool, model,
           str(hw[0]), str(hw[1]), str(repeats)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=3600)
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


# -- 1. against third-party counters --------------------------------------------------------------
def bench_models(quick: bool) -> list[dict]:
    rows = []
    for zoo_name, tv_name in MODELS[:2] if quick else MODELS:
        graph = load_graph(zoo_name)
        hw = graph.input_shape[1:]
        n = 50 if quick else 200
        samples = times_of(lambda: analyze_graph(graph), n)
        results = {}
        for tool in TOOLS:
            heavy = tool in ("flopcounter_cpu", "fvcore", "torchinfo") and zoo_name != "resnet50"
            results[tool] = third_party(tool, tv_name, hw, 2 if quick or heavy else 5)
            time.sleep(1)                           # let the machine settle after the subprocess
            samples += times_of(lambda: analyze_graph(graph), n)           # interleaved
        rows.append({
            "model": zoo_name, "input": f"{hw[0]}x{hw[1]}", "layers": len(graph) - 1,
            "macs": analyze_graph(graph).totals.macs,
            "cnnstat_s": statistics.median(samples),
            "cnnstat_rf_s": median_time(lambda: with_fields(graph), n),
            "cnnstat_name_s": median_time(lambda: cnnstat.analyze(zoo_name).records[-1].rf, n),
            "tools": results,
        })
    return rows


def first_analysis_in_a_fresh_process(model: str) -> float:
    code = ("import time; t = time.perf_counter(); import cnnstat; "
            f"cnnstat.analyze({model!r}).records[-1].rf; print(time.perf_counter() - t)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, check=True)
    return float(proc.stdout.strip())


# -- 2. the CLI against importing torch ------------------------------------------------------------
def bench_cli(repeats: int) -> dict:
    """``cnnstat params vgg16`` piped, in a terminal-sized table (COLUMNS=100), and with an empty
    cache (each run parses every zoo file), against ``import torch``, alternating."""
    import compileall
    compileall.compile_dir(str(ROOT / "cnnstat"), quiet=1)    # as pip install leaves it
    cnnstat_cmd = [str(Path(sys.executable).with_name("cnnstat")), "params", "vgg16"]
    if not Path(cnnstat_cmd[0]).exists():
        cnnstat_cmd = [sys.executable, "-m", "cnnstat", "params", "vgg16"]
    torch_cmd = [sys.executable, "-c", "import torch"]
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "CNNSTAT_CACHE_DIR": cache}
        env.pop("COLUMNS", None)
        runs = {"cnnstat": (cnnstat_cmd, env), "table": (cnnstat_cmd, {**env, "COLUMNS": "100"}),
                "cold": (cnnstat_cmd, {**env, "CNNSTAT_NO_CACHE": "1"}),
                "torch": (torch_cmd, env)}
        subprocess.run(cnnstat_cmd, env=env, stdout=subprocess.DEVNULL, check=True)  # the cache
        times: dict[str, list[float]] = {k: [] for k in runs}
        for _ in range(repeats):                    # alternate, so load drifts hit all
            for key, (cmd, cmd_env) in runs.items():
                start = time.perf_counter()
                subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env=cmd_env, check=True)
                times[key].append(time.perf_counter() - start)
    return {k: statistics.median(v) for k, v in times.items()}


# -- 3. depth --------------------------------------------------------------------------------------
def generated(layers: int, distinct: bool) -> str:
    """A 10,000-layer definition: residual units of 4 layers, all alike (the memo's best case)
    or a plain chain whose widths change at every layer (its worst case)."""
    if distinct:
        return ("input: [3, 32, 32]\nlayers:\n  - body: {repeat: %d, call: "
                "\"conv2d(8 + (i * 7) %% 61, 3, padding=1)\"}\n" % layers)
    return ("input: [3, 32, 32]\nblocks:\n  unit(c):\n    - conv: conv2d(c, 3, padding=1, "
            "bias=false)\n    - bn: batchnorm2d\n    - relu: relu\n    - add: add(relu, input)\n"
            "layers:\n  - stem: conv2d(16, 3, padding=1)\n"
            "  - body: {repeat: %d, call: unit(16)}\n" % ((layers - 1) // 4))


def bench_depth(quick: bool) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        cases = [("ResNet-110 (zoo)", "resnet110"), ("ResNet-1202 (zoo)", "resnet1202")]
        for label, distinct in (("generated, repeated units", False),
                                ("generated, all layers distinct", True)):
            path = Path(tmp) / f"deep_{distinct}.yaml"
            path.write_text(generated(10_000, distinct))
            cases.append((f"10,000 layers, {label}", str(path)))
        for label, model in cases:
            n = 3 if quick else 7
            graph = load_graph(model)
            build = median_time(lambda: load_graph(model), n)
            analyse = median_time(lambda: with_fields(graph), n)
            rows.append({"model": label, "layers": len(graph) - 1, "build_s": build,
                         "analyse_s": analyse})
    return rows


# -- 4. resolution ---------------------------------------------------------------------------------
def bench_resolution(quick: bool) -> list[dict]:
    rows = []
    for size in (224, 512, 1024, 2048, 4096):
        n = 10 if quick else 30
        shape = parse_input(size)
        rows.append({"input": size,
                     "s": median_time(lambda: with_fields(load_graph("resnet50",
                                                                      input_shape=shape)), n)})
    return rows


# -- 5. spatial rank -------------------------------------------------------------------------------
def bench_rank(quick: bool) -> list[dict]:
    """Build + analyse with receptive fields, per model and per layer, interleaved."""
    n = 10 if quick else 40
    rows = {label: [] for label, _ in RANK_MODELS}
    graphs = {label: load_graph(model) for label, model in RANK_MODELS}
    for _ in range(3):                              # alternate, so load drifts hit every model
        for label, model in RANK_MODELS:
            rows[label] += times_of(lambda: with_fields(load_graph(model)), n)
    return [{"model": label, "layers": len(graphs[label]) - 1,
             "input": "×".join(map(str, graphs[label].input_shape)),
             "s": statistics.median(rows[label])} for label, _ in RANK_MODELS]


# -- the report -------------------------------------------------------------------------------------
def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import torch
    versions = f"Python {platform.python_version()}, torch {torch.__version__}"
    for name in ("torchvision", "fvcore", "torchinfo"):
        try:
            versions += f", {name} {__import__(name).__version__}"
        except Exception:
            pass
    return (f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}; "
            f"{versions}")


def fmt_s(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def report(models, fresh, cli, depth, resolution, load_before, load_after, quick,
           rank=(), imports=None) -> tuple[str, list]:
    missed = []
    out = ["# cnnstat performance", "",
           f"Generated by `benchmarks/bench.py{' --quick' if quick else ''}` on "
           f"{datetime.datetime.now().strftime('%Y-%m-%d %H:%M')}.", "",
           f"Machine: {machine()}. Load average {load_before:.1f} before, {load_after:.1f} after "
           "(a shared machine: the seconds vary from run to run, the ratios much less).", "",
           "All times are medians of repeats, wall clock; torch runs on one thread, like cnnstat.",
           "", "## 1. Static analysis against third-party counters", "",
           "cnnstat analyses a built layer graph; each tool counts a built torchvision model "
           "(its construction excluded) in its own process. *with RF*: every receptive field "
           "computed too; *from the name*: the graph built from the (parsed) zoo definition, "
           "then analysed.", ""]
    out += ["| model | input | layers | cnnstat | with RF | from the name | "
            + " | ".join(TOOL_NAMES[t] for t in TOOLS) + " | fastest / cnnstat |",
            "|---|---|---:|---:|---:|---:|" + "---:|" * len(TOOLS) + "---:|"]
    target = float("nan")
    for row in models:
        cells = []
        times = []
        for tool in TOOLS:
            res = row["tools"][tool]
            if "error" in res:
                cells.append(f"failed: {res['error'][:60]}")
                continue
            times.append(res["median_s"])
            cells.append(f"{fmt_s(res['median_s'])} ({res['median_s'] / row['cnnstat_s']:,.0f}x)")
        ratio = min(times) / row["cnnstat_s"] if times else float("nan")
        out.append(f"| {row['model']} | {row['input']} | {row['layers']} | "
                   f"{fmt_s(row['cnnstat_s'])} | {fmt_s(row['cnnstat_rf_s'])} | "
                   f"{fmt_s(row['cnnstat_name_s'])} | " + " | ".join(cells) + f" | **{ratio:,.0f}x** |")
        if row["model"] == "resnet50":
            target = ratio
    ok = target >= TARGETS["speedup"]
    out += ["", f"Target: at least {TARGETS['speedup']:.0f}x faster than the fastest tool on "
            f"ResNet-50: **{target:,.0f}x, {'met' if ok else 'MISSED'}**."]
    if not ok:
        missed.append(f"ResNet-50 speed-up {target:.0f}x < {TARGETS['speedup']:.0f}x")
    out += ["", "Multiply-adds found (a sanity check that all count the same network):", "",
            "| model | cnnstat | " + " | ".join(TOOL_NAMES[t] for t in TOOLS) + " |",
            "|---|---:|" + "---:|" * len(TOOLS)]
    for row in models:
        counts = [f"{row['tools'][t].get('count', 0) or 0:,}" if "error" not in row["tools"][t]
                  else "-" for t in TOOLS]
        out.append(f"| {row['model']} | {row['macs']:,} | " + " | ".join(counts) + " |")
    out += ["", "(fvcore also counts batch norm and adaptive pooling; torchinfo counts bias adds "
            "and batch norm; FlopCounterMode counts convolutions and matrix products only, as "
            "cnnstat's default convention does.)", "",
            f"First analysis in a fresh process (import cnnstat, parse the YAML, build, analyse, "
            f"receptive fields): ResNet-50 {fmt_s(fresh['resnet50'])}, "
            f"VGG16 {fmt_s(fresh['vgg16'])}.", ""]
    ratio = cli["cnnstat"] / cli["torch"]
    ok = ratio < TARGETS["cli"]
    if not ok:
        missed.append(f"CLI ratio {ratio:.2f} >= {TARGETS['cli']}")
    out += ["## 2. Command line", "",
            "As installed: bytecode compiled, the parsed zoo definitions in the user cache.", "",
            "| command | wall time | / import torch |", "|---|---:|---:|",
            f"| `cnnstat params vgg16` (piped) | {fmt_s(cli['cnnstat'])} | {ratio:.3f} |",
            f"| `cnnstat params vgg16`, table fitted to 100 columns | {fmt_s(cli['table'])} | "
            f"{cli['table'] / cli['torch']:.3f} |",
            f"| `cnnstat params vgg16`, empty cache (parses all 21 zoo files) | "
            f"{fmt_s(cli['cold'])} | {cli['cold'] / cli['torch']:.3f} |",
            f"| `python -c \"import torch\"` | {fmt_s(cli['torch'])} | 1 |", "",
            f"Target: under a tenth of importing torch: **{ratio:.3f}, "
            f"{'met' if ok else 'MISSED'}**.", ""]
    per_layer = [r["analyse_s"] / r["layers"] for r in depth]
    spread = max(per_layer) / min(per_layer)
    r1202 = next(r for r in depth if r["model"].startswith("ResNet-1202"))
    total_1202 = r1202["build_s"] + r1202["analyse_s"]
    ok_linear, ok_1202 = spread <= TARGETS["linear"], total_1202 < TARGETS["resnet1202_s"]
    missed += [] if ok_linear else [f"depth: per-layer time spread {spread:.2f}"]
    missed += [] if ok_1202 else [f"ResNet-1202 {total_1202:.2f} s"]
    out += ["## 3. Depth", "",
            "*build*: definition → layer graph; *analyse*: graph → every count and receptive "
            "field.", "",
            "| network | layers | build | analyse | analyse per layer |", "|---|---:|---:|---:|---:|"]
    for r, p in zip(depth, per_layer):
        out.append(f"| {r['model']} | {r['layers']:,} | {fmt_s(r['build_s'])} | "
                   f"{fmt_s(r['analyse_s'])} | {fmt_s(p)} |")
    out += ["", f"Targets: linear — per-layer analysis time within {TARGETS['linear']:.0f}x across "
            f"depths: **{spread:.2f}x, {'met' if ok_linear else 'MISSED'}**; ResNet-1202 (build + "
            f"analyse) under 1 s: **{fmt_s(total_1202)}, {'met' if ok_1202 else 'MISSED'}**.", ""]
    times = [r["s"] for r in resolution]
    flat = max(times) / min(times)
    ok = flat <= TARGETS["flat"]
    missed += [] if ok else [f"resolution spread {flat:.2f}"]
    out += ["## 4. Input resolution", "", "ResNet-50, build + analyse with receptive fields.", "",
            "| input | time |", "|---:|---:|"]
    out += [f"| {r['input']}×{r['input']} | {fmt_s(r['s'])} |" for r in resolution]
    out += ["", f"Target: flat — slowest / fastest within {TARGETS['flat']}x: **{flat:.2f}x, "
            f"{'met' if ok else 'MISSED'}**.", ""]
    if rank:
        per = {r["model"]: r["s"] / r["layers"] for r in rank}
        ratio = per["3-D U-Net"] / per["U-Net (2-D)"]
        ok = ratio <= TARGETS["rank"]
        missed += [] if ok else [f"3-D U-Net per-layer time {ratio:.2f}x the 2-D U-Net's"]
        out += ["## 5. Spatial rank", "",
                "Build + analyse with receptive fields (each field has one axis per spatial "
                "axis of the input), per model and per layer.", "",
                "| network | input | layers | time | per layer |", "|---|---|---:|---:|---:|"]
        out += [f"| {r['model']} | {r['input']} | {r['layers']} | {fmt_s(r['s'])} | "
                f"{fmt_s(per[r['model']])} |" for r in rank]
        out += ["", f"Target: a 3-D layer costs what a 2-D one does — 3-D U-Net / U-Net per layer "
                f"within {TARGETS['rank']}x: **{ratio:.2f}x, {'met' if ok else 'MISSED'}**.", ""]
    if imports is not None:
        lines, import_missed = imports
        missed += import_missed
        out += ["## 6. Importing a torch module", "",
                "Capture by execution (issue 13): the module's forward on meta tensors, mapped "
                "onto cnnstat's operators, checked, analysed — against torchinfo's summary and "
                "FlopCounterMode on the same instance.", ""] + lines
    if missed:
        out += ["## Missed", ""] + [f"- {m}" for m in missed] + [""]
    return "\n".join(out), missed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats, no EfficientNet-B7")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--out", default=str(ROOT / "reports" / "perf.md"))
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    models = bench_models(args.quick)
    fresh = {m: first_analysis_in_a_fresh_process(m) for m in ("resnet50", "vgg16")}
    cli = bench_cli(3 if args.quick else 7)
    depth = bench_depth(args.quick)
    resolution = bench_resolution(args.quick)
    rank = bench_rank(args.quick)
    from benchmarks.capture_bench import section
    imports = section(3 if args.quick else 7, 1 if args.quick else 5)
    text, missed = report(models, fresh, cli, depth, resolution, load_before, os.getloadavg()[0],
                          args.quick, rank, imports)
    from cnnstat.fileio import atomic_write
    atomic_write(args.out, text)
    print(text)
    return 1 if (args.check and missed) else 0


if __name__ == "__main__":
    sys.exit(main())
