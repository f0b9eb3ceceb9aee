"""Issue 13's design decision, measured: torch.export versus a function-mode capture.

    .venv/bin/python benchmarks/capture_designs.py                 # every listed timm model
    .venv/bin/python benchmarks/capture_designs.py resnet50 vgg11  # some of them (printed)
    .venv/bin/python benchmarks/capture_designs.py --update NAME.. # re-measure rows in the file
    .venv/bin/python benchmarks/capture_designs.py --tricky        # ownership cases only
    .venv/bin/python benchmarks/capture_designs.py --vocabulary    # docs/capture-ops.md

For each model of tests/data/timm_models.yaml (built once, ``pretrained=False``, eval mode, one
CPU thread, batch 1 at ``pretrained_cfg['input_size']``) it measures, on the same instance:

- the model's own forward (``no_grad``) and ``torchinfo.summary`` — the references;
- (a) ``torch.export.export(model, (x,), strict=False)``: success, time, the ATen operators of
  the graph (pre-dispatch "training IR"), how many call nodes carry ``nn_module_stack``, the
  parameter/buffer table from the graph signature, the output shapes;
- (b) :func:`cnnstat.importers.capture.capture` (TorchFunctionMode + module hooks over meta
  tensors, real tensors only where the forward needs values): success, time, mode, the torch
  functions recorded, the parameter/buffer table, the output shapes;
- both against the oracle (tests/data/timm_oracle.json): parameters, buffers, output shapes;
  and whether each left the module's training flags and tensors as they were.

Forward, torchinfo and capture are timed in interleaved rounds (up to 3; medians), so a change
in the machine's load hits them alike; export runs once (it takes seconds). Writes benchmarks/results/capture_designs.json and prints the summary that
docs/capture.md quotes. ``--tricky`` checks parameter ownership on TResNet's blur filter (a
buffer as a convolution weight), NF-Net's ScaledStdConv2d (weight from a gain), tied weights and
weight norm. A full run takes ~20 minutes on two busy cores.
"""

from __future__ import annotations

import collections
import json
import statistics
import sys
import time
import traceback
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results" / "capture_designs.json"
ROUNDS = 3          # interleaved rounds of forward / torchinfo / capture per model
BUDGET_S = 3.0      # ... fewer when a model is slow


def snapshot(model) -> tuple:
    """What a capture must leave as it was: every module's flag, every tensor object, device."""
    return (tuple(m.training for m in model.modules()),
            tuple(id(t) for t in model.parameters()), tuple(id(t) for t in model.buffers()),
            tuple(str(t.device) for t in model.parameters()))


# ----------------------------------------------------------------------------------------------
# (a) torch.export


def export_summary(model, x) -> dict:
    import torch
    from torch.export.graph_signature import InputKind

    program = torch.export.export(model, (x,), strict=False)
    graph = program.graph
    calls = [n for n in graph.nodes if n.op == "call_function"]
    vocabulary = collections.Counter(str(n.target) for n in calls)
    with_stack = sum(1 for n in calls if n.meta.get("nn_module_stack"))
    state = dict(model.state_dict(keep_vars=True))
    named = dict(model.named_parameters(remove_duplicate=False))
    named.update(dict(model.named_buffers(remove_duplicate=False)))
    params = buffers = constants = 0
    unique: dict[int, int] = {}
    for spec in program.graph_signature.input_specs:
        if spec.kind == InputKind.PARAMETER:
            params += named[spec.target].numel()
            unique[id(named[spec.target])] = named[spec.target].numel()
        elif spec.kind == InputKind.BUFFER:
            buffers += named[spec.target].numel()
        elif spec.kind == InputKind.CONSTANT_TENSOR:
            constants += 1
    del state
    output = next(n for n in graph.nodes if n.op == "output")
    shapes = [list(a.meta["val"].shape) for a in output.args[0]
              if hasattr(a, "meta") and hasattr(a.meta.get("val"), "shape")]
    return {"ops": dict(vocabulary), "calls": len(calls), "with_module_stack": with_stack,
            "params": params, "buffers": buffers, "constant_tensors": constants,
            # a module shared under several paths (CoaT's convolutional position encodings)
            # has its parameters lifted once per path: an importer must de-duplicate them
            "params_unique": sum(unique.values()),
            "shapes": shapes}


# ----------------------------------------------------------------------------------------------
# (b) function-mode capture


def capture_summary(trace) -> dict:
    vocabulary = collections.Counter(r.op for r in trace.ops)
    return {"ops": dict(vocabulary), "calls": len(trace.ops), "torch_calls": trace.torch_calls,
            "module_calls": len(trace.calls), "params": trace.params, "buffers": trace.buffers,
            "shapes": [list(trace.values[v].shape) for v in trace.output_values],
            "mode": trace.mode, "fallback": trace.fallback}


# ----------------------------------------------------------------------------------------------


def measure(entry, oracle_figures: dict) -> dict:
    import torch
    from torchinfo import summary

    from cnnstat.importers.capture import capture
    from tests import oracle, timm_zoo

    row: dict = {"name": entry.name, "module": entry.module}
    model = timm_zoo.build(entry.name)
    x = oracle.example_input(entry.input_size)
    expect = oracle_figures.get(entry.name)

    def forward():
        with torch.no_grad():
            return model(x)

    # first the capture on the module as built (a forward may rewrite the module's own state:
    # ConViT caches its relative indices in a buffer), checked against the oracle and for
    # restoration
    before = snapshot(model)
    try:
        row["capture"] = capture_summary(capture(model, x))
    except Exception as exc:
        row["capture_error"] = f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
    row["capture_restored"] = snapshot(model) == before

    # then export, also on the module as built
    before = snapshot(model)
    try:
        start = time.perf_counter()
        row["export"] = export_summary(model, x)
        row["export_s"] = time.perf_counter() - start
    except Exception as exc:
        row["export_s"] = time.perf_counter() - start
        row["export_error"] = f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
    row["export_restored"] = snapshot(model) == before
    model.eval()

    # then the three cheap measurements interleaved, round by round, so that a change in the
    # load of the (shared) machine hits them alike; medians of the rounds (the capture is warm,
    # the forward is warmed by one untimed call)
    forward()
    tools = {"forward": forward, "torchinfo": lambda: summary(model, input_data=x, verbose=0),
             "capture": lambda: capture(model, x)}
    times: dict[str, list[float]] = {k: [] for k in tools}
    for _ in range(ROUNDS):
        for key, fn in tools.items():
            if f"{key}_error" in row:
                continue
            start = time.perf_counter()
            try:
                fn()
            except Exception as exc:
                row[f"{key}_error"] = f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
                continue
            times[key].append(time.perf_counter() - start)
        if sum(map(sum, times.values())) > BUDGET_S:
            break
    for key, values in times.items():
        if values:
            row[f"{key}_s"] = statistics.median(values)

    if expect:
        want = (expect["params"], expect["buffers"], oracle.flat_shapes(expect["outputs"]))
        for key in ("capture", "export"):
            if key in row:
                got = (row[key]["params"], row[key]["buffers"], row[key]["shapes"])
                row[f"{key}_exact"] = got == want
                if got != want:
                    row[f"{key}_mismatch"] = {"got": got, "want": want}
    return row


def summarize(rows: list[dict]) -> dict:
    def med(values):
        values = [v for v in values if v is not None]
        return round(statistics.median(values), 4) if values else None

    def ratio(a, b):
        return [r[a] / r[b] for r in rows if r.get(a) and r.get(b)]

    out: dict = {"models": len(rows), "modules": len({r["module"] for r in rows})}
    for key in ("capture", "export"):
        ok = [r for r in rows if key in r]
        out[key] = {
            "imported": len(ok),
            "exact": sum(1 for r in ok if r.get(f"{key}_exact")),
            "median_s": med([r.get(f"{key}_s") for r in ok]),
            "median_vs_forward": med(ratio(f"{key}_s", "forward_s")),
            "median_vs_torchinfo": med(ratio(f"{key}_s", "torchinfo_s")),
            "restored": sum(1 for r in rows if r.get(f"{key}_restored")),
            "failures": {r["name"]: r[f"{key}_error"] for r in rows if f"{key}_error" in r},
            "vocabulary": dict(sum((collections.Counter(r[key]["ops"]) for r in ok),
                                   collections.Counter()).most_common()),
            "models_per_op": dict(collections.Counter(
                op for r in ok for op in r[key]["ops"]).most_common()),
        }
    out["capture"]["fallbacks"] = {r["name"]: r["capture"]["fallback"] for r in rows
                                   if "capture" in r and r["capture"]["fallback"]}
    out["export"]["module_stack_coverage"] = round(
        sum(r["export"]["with_module_stack"] for r in rows if "export" in r)
        / max(1, sum(r["export"]["calls"] for r in rows if "export" in r)), 4)
    out["forward_median_s"] = med([r.get("forward_s") for r in rows])
    out["torchinfo_median_s"] = med([r.get("torchinfo_s") for r in rows])
    return out


# ----------------------------------------------------------------------------------------------
# Ownership cases


def tricky() -> dict:
    """How each mechanism reports the parameters of the hard cases."""
    import torch
    from torch import nn

    from cnnstat.importers.capture import capture
    from tests import timm_zoo
    from tests.test_capture import Tied

    class Normed(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.utils.parametrizations.weight_norm(nn.Conv2d(3, 4, 3))

        def forward(self, x):
            return self.conv(x)

    cases = {"tresnet_m": (timm_zoo.build("tresnet_m"), (1, 3, 224, 224)),
             "nf_resnet26": (timm_zoo.build("nf_resnet26"), (1, 3, 224, 224)),
             "tied": (Tied().eval(), (1, 8)), "weight_norm": (Normed().eval(), (1, 3, 8, 8))}
    report = {}
    for name, (model, shape) in cases.items():
        x = torch.randn(shape)
        trace = capture(model, x)
        producers = {r.index: r for r in trace.ops}

        def sources(vid, seen=None):
            """The parameters/buffers a value is computed from."""
            value = trace.values[vid]
            if value.source in ("parameter", "buffer"):
                return {f"{value.source} {value.name}"}
            if value.producer is None:
                return {value.source}
            return set().union(*(sources(i) for i in producers[value.producer].inputs)) or {"-"}

        weights = collections.Counter()
        for r in trace.ops:
            if r.op in ("torch.nn.functional.conv2d", "torch.nn.functional.linear"):
                weights[" + ".join(sorted(sources(r.args[1].value)))
                        .replace(r.module + ".", "<module>.")] += 1
        entry = {"capture_params": trace.params, "capture_buffers": trace.buffers,
                 "capture_tied": {t.name: list(t.aliases) for t in trace.tensors if t.aliases},
                 "capture_weight_sources": dict(weights.most_common(4))}
        try:
            from torch.export.graph_signature import InputKind
            program = torch.export.export(model, (x,), strict=False)
            kinds = {s.arg.name: f"{s.kind.name.lower()} {s.target}"
                     for s in program.graph_signature.input_specs
                     if s.kind != InputKind.USER_INPUT}

            def ex_sources(node):
                if node.op == "placeholder":
                    return {kinds.get(node.name, "input")}
                found = set()
                for arg in node.all_input_nodes:
                    found |= ex_sources(arg)
                return found

            weights = collections.Counter()
            for node in program.graph.nodes:
                if node.op == "call_function" and str(node.target) in (
                        "aten.conv2d.default", "aten.linear.default"):
                    stack = list((node.meta.get("nn_module_stack") or {}).values())
                    owner = stack[-1][0] if stack else ""
                    weights[" + ".join(sorted(ex_sources(node.args[1])))
                            .replace(owner + ".", "<module>.")] += 1
            entry["export_placeholders"] = len(kinds)
            entry["export_weight_sources"] = dict(weights.most_common(4))
        except Exception as exc:
            entry["export_error"] = f"{type(exc).__name__}: {str(exc)[:200]}"
        report[name] = entry
    return report


# ----------------------------------------------------------------------------------------------
# The op vocabulary the importer needs rules for (docs/capture-ops.md)

VOCABULARY_DOC = ROOT / "docs" / "capture-ops.md"

#: function name (last part) → family, for the vocabulary table
FAMILIES = {
    "contraction": {"conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                    "conv_transpose3d", "linear", "matmul", "__matmul__", "__rmatmul__", "bmm",
                    "mm", "einsum", "baddbmm", "addmm", "scaled_dot_product_attention",
                    "multi_head_attention_forward", "bilinear", "lstm", "gru", "rnn_tanh"},
    "normalization": {"batch_norm", "layer_norm", "group_norm", "instance_norm", "rms_norm",
                      "local_response_norm", "normalize"},
    "pooling": {"max_pool1d", "max_pool2d", "max_pool3d", "avg_pool1d", "avg_pool2d",
                "avg_pool3d", "adaptive_avg_pool1d", "adaptive_avg_pool2d",
                "adaptive_max_pool2d", "adaptive_avg_pool3d", "lp_pool2d"},
    "resampling": {"interpolate", "pixel_shuffle", "pixel_unshuffle", "unfold", "fold",
                   "grid_sample", "upsample"},
    "layout (no arithmetic)": {
        "view", "reshape", "permute", "transpose", "flatten", "unflatten", "squeeze",
        "unsqueeze", "expand", "expand_as", "contiguous", "__getitem__", "split", "chunk",
        "unbind", "cat", "stack", "roll", "pad", "repeat", "narrow", "select", "t", "view_as",
        "reshape_as", "movedim", "swapaxes", "tile", "flip", "index_select", "gather",
        "__setitem__", "clone", "to", "type_as", "float", "half", "detach", "split_with_sizes",
        "masked_fill", "masked_fill_", "repeat_interleave", "tensor_split", "concat",
        "concatenate", "hstack", "vstack", "flatten_", "mT", "T", "copy_", "zero_", "fill_",
        "new_zeros", "new_ones", "new_empty", "new_full", "expand_copy", "broadcast_to",
        "long", "int", "bool", "double"},
    "reduction": {"mean", "sum", "amax", "amin", "max", "min", "std", "var", "norm",
                  "logsumexp", "prod", "argmax", "cumsum", "var_mean", "std_mean"},
    "creation (no input)": {"arange", "zeros", "ones", "empty", "full", "linspace", "meshgrid",
                            "tensor", "zeros_like", "ones_like", "empty_like", "full_like",
                            "eye", "rand", "randn", "as_tensor", "tril", "triu"},
}


def family(op: str) -> str:
    short = op.rsplit(".", 1)[-1]
    for name, members in FAMILIES.items():
        if short in members:
            return name
    if short.endswith("_") and short[:-1] in FAMILIES["layout (no arithmetic)"]:
        return "layout (no arithmetic)"
    return "elementwise"


def fx_handled() -> set[str]:
    """Public names of the calls today's torch.fx importer has a rule for."""
    from torch.overrides import resolve_name

    from cnnstat.importers import fx_functions
    operators = {"add": "add", "iadd": "add_", "mul": "mul", "imul": "mul_",
                 "matmul": "matmul", "getitem": "__getitem__", "sub": "sub",
                 "truediv": "div"}                     # x + y in fx is operator.add
    names = set()
    for function in fx_functions.FUNCTIONS:
        if getattr(function, "__module__", None) in ("_operator", "operator"):
            names.add(f"torch.Tensor.{operators.get(function.__name__, function.__name__)}")
        else:
            names.add(resolve_name(function) or "")
    names |= {f"torch.Tensor.{m}" for m in fx_functions.METHODS}
    return names


def write_vocabulary(results: dict) -> str:
    rows = results["models"]
    calls, models, example = collections.Counter(), collections.Counter(), {}
    for row in rows:
        for op, n in row.get("capture", {}).get("ops", {}).items():
            calls[op] += n
            models[op] += 1
            example.setdefault(op, row["name"])
    handled = fx_handled()
    by_family: dict[str, list[str]] = collections.defaultdict(list)
    for op in calls:
        by_family[family(op)].append(op)
    total = len([r for r in rows if "capture" in r])
    lines = ["# The calls a capture records (timm sweep)", "",
             "<!-- generated: do not edit by hand -->", "",
             "Written by `benchmarks/capture_designs.py --vocabulary` from "
             "benchmarks/results/capture_designs.json: every distinct torch function the "
             f"function-mode capture (cnnstat/importers/capture.py) recorded over {total} timm "
             "models, with how often and in how many models, grouped by what a rule has to do. "
             "*fx rule today*: the torch.fx importer has a handler for that call (a rule for it, "
             "or something close, already exists). docs/capture.md explains the capture; the "
             "importer that maps these calls onto cnnstat's operators is "
             "cnnstat/importers/torch_capture.py.",
             "",
             f"{len(calls)} distinct calls; {sum(calls.values()):,} records.", ""]
    order = ["contraction", "normalization", "pooling", "resampling", "elementwise",
             "reduction", "layout (no arithmetic)", "creation (no input)"]
    for name in order:
        ops = sorted(by_family.get(name, []), key=lambda o: (-calls[o], o))
        if not ops:
            continue
        lines += [f"## {name} ({len(ops)})", "",
                  "| call | records | models | e.g. | fx rule today |", "|---|---:|---:|---|---|"]
        for op in ops:
            lines.append(f"| `{op}` | {calls[op]:,} | {models[op]} | {example[op]} | "
                         f"{'yes' if op in handled else ''} |")
        lines.append("")
    text = "\n".join(lines)
    VOCABULARY_DOC.write_text(text, encoding="utf-8")
    return text


def main(argv: list[str]) -> int:
    warnings.filterwarnings("ignore")
    import torch

    torch.set_num_threads(1)
    from tests import timm_zoo

    if argv[:1] == ["--tricky"]:
        print(json.dumps(tricky(), indent=1))
        return 0
    if argv[:1] == ["--vocabulary"]:
        write_vocabulary(json.loads(RESULTS.read_text(encoding="utf-8")))
        return 0
    update = argv[:1] == ["--update"]
    wanted = set(argv[1:] if update else argv)
    entries = [m for m in timm_zoo.models() if not wanted or m.name in wanted]
    figures = timm_zoo.oracle_figures()
    rows = []
    for entry in entries:
        try:
            row = measure(entry, figures)
        except Exception:
            row = {"name": entry.name, "module": entry.module,
                   "error": traceback.format_exc(limit=3)}
        rows.append(row)
        print(json.dumps({k: row.get(k) for k in ("name", "forward_s", "torchinfo_s",
                                                   "capture_s", "export_s", "capture_exact",
                                                   "export_exact", "capture_error",
                                                   "export_error")}), file=sys.stderr,
              flush=True)
    if update:                          # re-measure some models, keep the other rows
        kept = json.loads(RESULTS.read_text(encoding="utf-8"))["models"]
        fresh = {r["name"]: r for r in rows}
        rows = [fresh.get(r["name"], r) for r in kept]
    summary = summarize([r for r in rows if "error" not in r])
    if not wanted or update:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps({"summary": summary, "models": rows}, indent=1) + "\n",
                           encoding="utf-8")
    print(json.dumps({k: v for k, v in summary.items()}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
