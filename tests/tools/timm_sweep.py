"""Build the timm model list and record the oracle's figures for every model in it.

    python -m tests.tools.timm_sweep list NAME...     # verify candidates, write timm_models.yaml
    python -m tests.tools.timm_sweep oracle           # recompute tests/data/timm_oracle.json
    python -m tests.tools.timm_sweep import           # cnnstat's import of every model vs the oracle

``list`` builds each candidate with ``pretrained=False`` (timing the build), runs it once at its
``pretrained_cfg['input_size']`` and keeps those that build and run; the models named in
``DEFAULT`` form the fixed default-run subset. ``oracle`` computes tests/oracle.py's figures for
every listed model and checks the independent formula oracle agrees on each (an error if not).
Progress goes to stderr; both are resumable only by re-running (a full sweep takes ~15 minutes
on two cores).
"""

from __future__ import annotations

import json
import sys
import time
import traceback

from .. import oracle, timm_zoo

#: the fixed 20-model subset of the default test run: cheap, and covering the traps of issue 13
#: (same padding, shape control flow, attention that folds heads into the batch, a buffer as a
#: convolution weight, weights computed from gains, functional batch norm, windowed attention)
DEFAULT = (
    "resnet50", "tf_efficientnet_b0", "mobilenetv3_small_050", "regnetx_002", "convnext_atto",
    "mobilevit_xxs", "efficientvit_b0", "efficientvit_m0", "botnet26t_256", "halonet26t",
    "levit_128s", "edgenext_xx_small", "tresnet_m", "nf_resnet26", "resnetv2_50x1_bit",
    "vit_tiny_patch16_224", "deit_tiny_distilled_patch16_224", "swin_tiny_patch4_window7_224",
    "coatnet_nano_rw_224", "poolformer_s12",
)


def _log(*parts) -> None:
    print(*parts, file=sys.stderr, flush=True)


def _module_of(name: str) -> str:
    from timm.models import _registry

    return _registry._model_to_module[name].rsplit(".", 1)[-1]


def dump_list(doc: dict) -> str:
    """YAML with one flow-style line per model (readable diffs)."""
    import yaml

    head = {k: v for k, v in doc.items() if k != "models"}
    lines = [yaml.safe_dump(head, sort_keys=False, width=100).rstrip(), "models:"]
    for row in doc["models"]:
        lines.append("- " + yaml.safe_dump(row, default_flow_style=True, sort_keys=False,
                                           width=1000).strip())
    return "\n".join(lines) + "\n"


def cmd_list(names: list[str]) -> int:
    import timm
    import torch

    rows = []
    for name in names:
        try:
            t0 = time.perf_counter()
            model = timm_zoo.build(name)
            build_s = time.perf_counter() - t0
            size = tuple(model.pretrained_cfg["input_size"])
            x = oracle.example_input(size)
            t0 = time.perf_counter()
            with oracle.no_fast_path():
                model(x)
            forward_s = time.perf_counter() - t0
        except Exception as exc:  # recorded and left out of the list
            _log(f"DROP {name}: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
            continue
        params = sum(p.numel() for p in model.parameters())
        rows.append({"name": name, "module": _module_of(name), "input_size": list(size),
                     "default": name in DEFAULT, "build_s": round(build_s, 3),
                     "forward_s": round(forward_s, 3), "params": params})
        _log(f"ok {name} {rows[-1]['module']} {size} build {build_s:.2f}s fwd {forward_s:.2f}s")
        del model
    missing = set(DEFAULT) - {r["name"] for r in rows}
    if missing:
        _log(f"default models missing: {sorted(missing)}")
        return 1
    doc = {"timm_version": timm.__version__, "torch_version": torch.__version__.split("+")[0],
           "note": "built with pretrained=False at pretrained_cfg['input_size'], batch 1; "
                   "build_s / forward_s measured on 2 shared CPU cores (indicative only)",
           "models": rows}
    header = ("# timm models imported by the tests (issue 13): CNN and hybrid families, the smallest\n"
              "# variant of each. default: true = the fixed subset of the default run; all under -m slow.\n"
              "# Written by: python -m tests.tools.timm_sweep list NAME...\n")
    timm_zoo.MODELS_FILE.write_text(header + dump_list(doc), encoding="utf-8")
    _log(f"{len(rows)} models from {len({r['module'] for r in rows})} modules")
    return 0


def cmd_oracle() -> int:
    import timm
    import torch

    out: dict[str, dict] = {}
    failures = 0
    for entry in timm_zoo.models():
        try:
            model = timm_zoo.build(entry.name)
            x = oracle.example_input(entry.input_size)
            t0 = time.perf_counter()
            fig = oracle.figures(model, x)
            seconds = time.perf_counter() - t0
            second, _ = oracle.formula_macs(model, x)
            if second != fig.macs:
                raise AssertionError(f"FlopCounterMode {fig.macs} != formula oracle {second}")
        except Exception:
            failures += 1
            _log(f"FAIL {entry.name}\n{traceback.format_exc()}")
            continue
        out[entry.name] = fig.to_dict()
        _log(f"ok {entry.name} macs {fig.macs:,} params {fig.params:,} ({seconds:.2f}s)")
        del model
    doc = {"torch_version": torch.__version__.split("+")[0], "timm_version": timm.__version__,
           "convention": "macs = (convolution + mm + addmm + bmm + baddbmm + sdpa FLOPs) / 2 "
                         "from FlopCounterMode (tests/oracle.py), batch 1, eval mode",
           "models": out}
    timm_zoo.ORACLE_FILE.write_text(json.dumps(doc, indent=1, sort_keys=False) + "\n",
                                    encoding="utf-8")
    return 1 if failures else 0


def cmd_import() -> int:
    """Import every listed model with cnnstat and compare with the recorded oracle figures:
    one line per model, then how many import and how many are exact (docs/capture.md)."""
    import cnnstat
    from cnnstat.importers import from_torch

    recorded = timm_zoo.oracle_figures()
    imported = exact = 0
    for entry in timm_zoo.models():
        try:
            model = timm_zoo.build(entry.name)
            t0 = time.perf_counter()
            a = cnnstat.analyze(from_torch(model, entry.input_size))
            seconds = time.perf_counter() - t0
        except Exception as exc:
            print(f"FAIL   {entry.name}: {type(exc).__name__}: {exc}"[:300], flush=True)
            continue
        imported += 1
        want = recorded[entry.name]
        kinds = a.totals.macs_by_kind
        macs = kinds["weight"] + kinds["attention"]
        missing = sorted({r.attrs["what"] for r in a.records if r.op == "not_counted"})
        same = (macs, a.totals.params, [list(s) for s in a.output_shapes]) == \
            (want["macs"], want["params"], oracle.flat_shapes(want["outputs"])) and not missing
        exact += same
        print(f"{'exact ' if same else 'differ'} {entry.name}: MACs {macs:,} (oracle "
              f"{want['macs']:,}), params {a.totals.params:,} ({want['params']:,}), buffers "
              f"{a.totals.buffers:,} ({want['buffers']:,}), not counted {missing or 'none'}, "
              f"{seconds:.2f} s", flush=True)
    total = len(timm_zoo.models())
    print(f"{imported} / {total} import; {exact} / {total} exact (MACs, parameters, output "
          "shapes, nothing not counted)")
    return 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["import"]:
        return cmd_import()
    if argv[:1] == ["list"]:
        return cmd_list(argv[1:])
    if argv[:1] == ["oracle"]:
        return cmd_oracle()
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
