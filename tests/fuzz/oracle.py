"""The differential oracle: what cnnstat must do with a definition, checked against torch.

``check_definition(text, batch)`` parses, builds and analyses the definition with cnnstat, then:

- **accepted**: the torch module built from the graph (``build_module``) runs, and for every layer
  its forward hook sees cnnstat's output shape; the layer's module holds cnnstat's parameters
  (all and trainable) and buffers; ``FlopCounterMode`` counts 2 x cnnstat's weight multiply-adds
  for the layer (it counts conv and matmul FLOPs only); with ``fvcore=True`` fvcore's per-module
  counts (one per multiply-add) equal cnnstat's weight MACs, and its upsampling counts equal
  cnnstat's resize work; the model's outputs have cnnstat's output shapes.
- **rejected**: the error is one line, ``FILE:LINE: layer NAME: ...``, for a layer of the graph, and
  torch rejects that layer too: the layers before it run in torch, then the rejected layer's module
  (built from the same arguments, with cnnstat's argument cross-checks switched off when the
  rejection was one of those) must raise on the tensors they produce. The real CLI prints the
  error as one ``error:`` line and exits with status 2.

Two documented exceptions, both by design of the definition format:
- an empty output: torch computes a tensor with a zero dimension, cnnstat rejects it (a layer
  whose output is empty is a mistake in a network);
- an operator of spatial rank r (conv1d, conv2d, conv3d, ...) given a tensor that is not
  N x C x (r sizes): torch runs some of them on unbatched (C, *spatial) input or pads whatever the
  last r dimensions are; cnnstat's tensors always carry the batch, so it rejects them. Likewise a
  merge (add, multiply, maximum) of tensors of different ranks: torch aligns trailing dimensions
  and may broadcast one input's batch against another's feature axis; cnnstat rejects it;
- a normalization over the batch dimension (``layernorm`` with ``dims`` = the tensor's rank):
  torch's LayerNorm built for that one batch size accepts it, but its parameters would then
  depend on ``--batch``; a definition describes one sample, so cnnstat rejects it.
Front-end rejections other than an argument cross-check or an argument outside its domain (a
zero size) are failures: the generator writes only well-formed definitions with well-typed
arguments.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import tempfile
import torch

from cnnstat.analyze import analyze_graph
from cnnstat.errors import CnnstatError
from cnnstat.graph import Graph
from cnnstat.ops import REGISTRY
from cnnstat.ops.base import ATTENTION, RESIZE, WEIGHT
from cnnstat.definition import build_graph, parse_definition
from cnnstat.torch_bridge.build import build_module
from cnnstat.torch_bridge.modules import MODULES

FILE = "fuzz.yaml"
def contraction_macs(record) -> int:
    """The multiply-adds FlopCounterMode and fvcore count for a layer: every contraction, of a
    weight (conv, linear: kind weight) or of two activations (matmul: kind attention)."""
    return record.macs_by_kind.get(WEIGHT, 0) + record.macs_by_kind.get(ATTENTION, 0)


FVCORE_WEIGHT_OPS = {"conv", "linear", "matmul", "addmm", "bmm", "mm", "einsum"}
# conv2d with padding='same' runs as aten::_convolution_mode, which fvcore does not count
FVCORE_UNSUPPORTED = {"aten::_convolution_mode"}
FVCORE_RESIZE_OPS = {"upsample_nearest2d": "nearest", "upsample_bilinear2d": "bilinear"}
# torch stand-ins whose output does not depend on their inputs' values (jit tracing then drops
# the layers that feed them)
DATA_INDEPENDENT = {"not_counted"}
#: rejections of a tensor of another rank than the operator's (torch may run an operator of
#: spatial rank r on an unbatched (C, *spatial) tensor of rank r + 1, or broadcast a merge's
#: batch against a feature axis)
RANK_MESSAGES = ("feature map, got", "needs a feature map (", "needs N x F or N x C x L",
                 "inputs of different ranks")
BATCH_MESSAGES = ("the batch is not normalized", "is the batch dimension",
                  "the batch cannot be sliced")


class Mismatch(AssertionError):
    """cnnstat and torch disagree about a definition."""


def check_definition(text: str, batch: int, *, fvcore: bool = False, cli: bool = True,
                     memory: bool = False, tally=None) -> str:
    """Check one definition; returns 'accepted' or 'rejected' (for statistics). ``memory``:
    also the saved-tensor rules of an accepted graph (:func:`check_saved`). ``tally`` (a
    Counter: tests/differential.py's ``compared.counts``) counts what was compared: "layers" (with
    torch and FlopCounterMode), "layers with fvcore", "graphs with saved tensors"."""
    definition = parse_definition(text, FILE)     # the generator writes valid YAML
    try:
        graph = build_graph(definition)
    except CnnstatError as exc:
        _check_error_line(exc)
        graph = _build_unvalidated(text, exc)
        how = _check_torch_rejects(graph, batch, exc) if graph is not None else "argument domain"
        if tally is not None:
            tally[f"rejected: {how}"] += 1
        if cli:
            _check_cli(text, batch, exc)
        return "rejected"
    try:
        analysis = analyze_graph(graph, batch=batch)
    except CnnstatError as exc:
        _check_error_line(exc)
        how = _check_torch_rejects(graph, batch, exc)
        if tally is not None:
            tally[f"rejected: {how}"] += 1
        if cli:
            _check_cli(text, batch, exc)
        return "rejected"
    layers, fvcore_layers = _check_accepted(graph, analysis, batch, fvcore)
    saved = check_saved(graph, analysis, batch) if memory else None
    if tally is not None:
        tally["layers"] += layers
        tally["layers with fvcore"] += fvcore_layers
        tally["graphs with saved tensors"] += saved == "compared"
    return "accepted"


# -- accepted graphs -----------------------------------------------------------------------------
def _check_accepted(graph: Graph, analysis, batch: int, fvcore: bool) -> tuple[int, int]:
    """The layers compared with torch, and with fvcore."""
    from torch.utils.flop_counter import FlopCounterMode

    try:
        module = build_module(graph, batch=batch)
    except CnnstatError as exc:
        raise Mismatch(f"cnnstat accepts the graph, torch cannot build it: {exc}") from None
    seen: dict[str, tuple[int, ...]] = {}
    hooks = [m.register_forward_hook(lambda mod, i, o, name=name: seen.__setitem__(
        name, tuple(o.shape))) for name, m in module.node_modules.items()]
    x = torch.rand((batch,) + tuple(graph.input_shape)) + 0.1
    counter = FlopCounterMode(display=False)
    try:
        with torch.no_grad(), counter:
            out = module(x)
    except Exception as exc:
        failed = next((r.name for r in analysis.records if r.name not in seen), "?")
        raise Mismatch(f"cnnstat accepts layer {failed}, torch rejects it: "
                       f"{type(exc).__name__}: {str(exc).splitlines()[0]}") from None
    finally:
        for h in hooks:
            h.remove()
    flops = {k.split(".", 1)[1]: sum(v.values()) for k, v in counter.get_flop_counts().items()
             if k.startswith("GraphModule.")}
    for r in analysis.records:
        m = module.node_modules[r.name]
        params = list(m.parameters())
        got = {
            "output shape": seen.get(r.name),
            "parameters": sum(p.numel() for p in params),
            "trainable parameters": sum(p.numel() for p in params if p.requires_grad),
            "buffers": sum(b.numel() for b in m.buffers()),
            "weight FLOPs (FlopCounterMode)": flops.get(r.name, 0),
        }
        want = {
            "output shape": r.output_shape,
            "parameters": r.params,
            "trainable parameters": r.trainable_params,
            "buffers": r.buffers,
            "weight FLOPs (FlopCounterMode)": 2 * contraction_macs(r),
        }
        for key in want:
            if got[key] != want[key]:
                raise Mismatch(f"layer {r.name} ({r.op}): {key}: cnnstat {want[key]}, "
                               f"torch {got[key]}")
    outs = out if isinstance(out, tuple) else (out,)
    if [tuple(o.shape) for o in outs] != list(analysis.output_shapes):
        raise Mismatch(f"model outputs: cnnstat {analysis.output_shapes}, "
                       f"torch {[tuple(o.shape) for o in outs]}")
    return len(analysis.records), _check_fvcore(module, x, analysis) if fvcore else 0


def check_saved(graph: Graph, analysis, batch: int) -> str:
    """The memory model's saved-activation bytes, per layer (each storage once, at the first
    layer that saves it) and in total, equal what autograd keeps in a float32 training step on
    CPU (the saved-tensor oracle, tests/oracles/saved_tensors.py); a graph the model refuses to
    train (batch norm over one value per channel) torch refuses too. The input requires a
    gradient (made by a product, as inside a network), so that a graph without weights has a
    backward too. Returns "compared", "not counted" or "both refuse training"."""
    from cnnstat.memory import MemoryOptions, estimate
    from cnnstat.memory.model import for_mode
    from tests.oracles.saved_tensors import measure
    analysis = for_mode(analysis, True)
    if any(r.op == "not_counted" for r in analysis.records):
        return "not counted"  # listed as not counted by the memory model: nothing to compare
    module = build_module(graph, batch=batch).train()
    leaf = (torch.rand((batch,) + tuple(graph.input_shape)) + 0.1).requires_grad_()
    x = leaf * 1.0
    try:
        report = estimate(analysis, MemoryOptions(train=True, device="cpu", optimizer="sgd",
                                                  input_requires_grad=True))
    except CnnstatError as exc:
        try:
            module(x)
        except (ValueError, RuntimeError):
            return "both refuse training"
        raise Mismatch(f"the memory model refuses to train the graph, torch trains it: "
                       f"{exc}") from None
    if report.not_counted:
        raise Mismatch(f"no saved-tensor rule for layers {report.not_counted}")
    result = measure(module, x, layers=[r.name for r in analysis.records])
    oracle = result.by_layer()
    model = {row.name: row.saved_bytes for row in report.layers if row.saved_bytes}
    for name in dict.fromkeys(list(oracle) + list(model)):
        if oracle.get(name, 0) != model.get(name, 0):
            op = analysis.by_name[name].op if name in analysis.by_name else "?"
            raise Mismatch(f"layer {name} ({op}): saved for backward: memory model "
                           f"{model.get(name, 0)} bytes, autograd {oracle.get(name, 0)}\n"
                           + "\n".join(result.describe()))
    if result.activation_bytes != report.saved_activations:
        raise Mismatch(f"saved for backward in all: memory model {report.saved_activations}, "
                       f"autograd {result.activation_bytes}")
    return "compared"


def _check_fvcore(module, x, analysis) -> int:
    """fvcore's per-layer counts against cnnstat's; returns how many layers were compared."""
    from fvcore.nn import FlopCountAnalysis

    counts = (FlopCountAnalysis(module, x).unsupported_ops_warnings(False)
              .uncalled_modules_warnings(False).tracer_warnings("none"))
    by_module = counts.by_module_and_operator()
    live = _ancestors(analysis.graph, analysis.graph.outputs)
    compared = 0
    for r in analysis.records:
        if r.name not in live:
            continue                 # jit tracing drops layers no output depends on
        ops = by_module.get(r.name, {})
        if FVCORE_UNSUPPORTED & set(counts.unsupported_ops(r.name)):
            continue                 # fvcore has no handle for this aten op: it counts nothing
        weight = sum(v for k, v in ops.items() if k in FVCORE_WEIGHT_OPS)
        if weight != contraction_macs(r):
            raise Mismatch(f"layer {r.name} ({r.op}): weight MACs: cnnstat "
                           f"{contraction_macs(r)}, fvcore {weight} ({dict(ops)})")
        for op_name, mode in FVCORE_RESIZE_OPS.items():
            if r.op == "upsample" and r.attrs["mode"] == mode and len(r.output_shape) == 4 and \
                    ops.get(op_name, 0) != r.macs_by_kind.get(RESIZE, 0):
                raise Mismatch(f"layer {r.name}: resize work: cnnstat "
                               f"{r.macs_by_kind.get(RESIZE, 0)}, fvcore {ops.get(op_name, 0)}")
        compared += 1
    return compared


def _ancestors(graph: Graph, names) -> set[str]:
    seen: set[str] = set()
    stack = list(names)
    while stack:
        name = stack.pop()
        if name not in seen:
            seen.add(name)
            if graph[name].op not in DATA_INDEPENDENT:
                stack.extend(graph[name].inputs)
    return seen


# -- rejected graphs -----------------------------------------------------------------------------
def _check_error_line(exc: CnnstatError) -> None:
    text = str(exc)
    if "\n" in text or not text.startswith(f"{FILE}:") or not exc.layer \
            or f"layer {exc.layer}: " not in text:
        raise Mismatch(f"the error is not one located line naming the layer: {text!r}")


@contextlib.contextmanager
def _no_cross_checks():
    """Switch off every rule's argument cross-checks (Op.validate) for a while."""
    for rule in REGISTRY.values():
        rule.validate = lambda attrs: None
    try:
        yield
    finally:
        for rule in REGISTRY.values():
            del rule.validate


def _build_unvalidated(text: str, exc: CnnstatError) -> Graph | None:
    """The graph of a definition rejected by an argument cross-check, built without them: the
    rejected layer is then a node with the arguments as given. None when the rejection is an
    argument outside its domain (a zero size: the argument's own check, the schema-level
    rejection test_ops_torch leaves out too). Any other front-end rejection is a failure (see
    the module docstring)."""
    with _no_cross_checks():
        try:
            return build_graph(parse_definition(text, FILE))
        except CnnstatError as again:
            if _argument_domain(again.message):
                return None
            raise Mismatch(f"cnnstat rejects a well-formed definition: {exc}") from None


def _argument_domain(message: str) -> bool:
    """Is this the error of one argument's conversion (``op: 'name' must be ...``)?"""
    match = re.match(r"(\w+): '(\w+)' ", message)
    return bool(match) and match.group(1) in REGISTRY and \
        match.group(2) in {p.name for p in REGISTRY[match.group(1)].params}


# What torch raises when it refuses a layer (a module's constructor: ValueError; a kernel:
# RuntimeError; an index out of range: IndexError). Anything else fails the check.
TORCH_REFUSALS = (RuntimeError, ValueError, IndexError)


def _check_torch_rejects(graph: Graph, batch: int, exc: CnnstatError) -> str:
    """Torch rejects the layer cnnstat rejects; returns how: "torch rejects it too", or one of
    the documented exceptions ("rank by design", "batch by design", "empty in torch")."""
    if exc.layer not in graph:
        raise Mismatch(f"the error names layer {exc.layer!r}, which is not a layer: {exc}")
    node = graph[exc.layer]
    before = []
    for n in graph:
        if n.name == node.name:
            break
        before.append(n)
    needed = list(dict.fromkeys(node.inputs))
    prefix = Graph(before, needed, name="prefix")
    try:
        module = build_module(prefix, batch=batch)
        x = torch.rand((batch,) + tuple(prefix.input_shape)) + 0.1
        with torch.no_grad():
            outs = module(x)
    except Exception as err:
        raise Mismatch(f"cnnstat accepts the layers before {node.name}, torch does not: "
                       f"{type(err).__name__}: {str(err).splitlines()[0]}") from None
    outs = outs if isinstance(outs, tuple) else (outs,)
    tensors = dict(zip(needed, outs))
    inputs = [tensors[s] for s in node.inputs]
    if any(m in exc.message for m in RANK_MESSAGES) and (
            len({t.dim() for t in inputs}) > 1 or _wrong_rank(node.op, inputs[0].dim())):
        return "rank by design"      # an operator given a tensor of another rank
    if any(m in exc.message for m in BATCH_MESSAGES):
        return "batch by design"     # the batch dimension inside a layer's shape
    try:
        layer = MODULES[node.op](node.attrs, [tuple(t.shape) for t in inputs]).eval()
        with torch.no_grad():
            result = layer(*inputs)
    except TORCH_REFUSALS:
        return "torch rejects it too"
    if isinstance(result, torch.Tensor) and result.numel() == 0:
        return "empty in torch"      # torch computes an empty tensor: cnnstat rejects those
    raise Mismatch(f"cnnstat rejects layer {node.name} ({exc.message}), torch accepts it: "
                   f"{[tuple(t.shape) for t in inputs]} -> "
                   f"{tuple(result.shape) if isinstance(result, torch.Tensor) else type(result)}")


def _wrong_rank(op: str, dim: int) -> bool:
    from .graphs import op_ranks
    ranks = op_ranks(op)
    return ranks is not None and dim not in ranks


def _check_cli(text: str, batch: int, exc: CnnstatError) -> None:
    """The real CLI (in process) prints the error as one 'error:' line and exits with 2."""
    from cnnstat.cli import main

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, FILE)
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = main(["params", path, "--batch", str(batch)])
    lines = err.getvalue().splitlines()
    if status != 2 or len(lines) != 1 or not lines[0].startswith("error: ") \
            or f"layer {exc.layer}:" not in lines[0]:
        raise Mismatch(f"the CLI exits with {status} and prints {err.getvalue()!r} "
                       f"for: {exc}")
