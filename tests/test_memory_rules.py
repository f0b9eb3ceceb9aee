"""Every operator's saved-tensor rule against what autograd really saves, on random cases.

For each case of tests/strategies.py that cnnstat accepts, a one-layer graph (one input node per
operand, every operand requiring a gradient, as inside a network) is run by the memory model and
by the real module under the saved-tensor oracle (tests/oracles/saved_tensors.py), in training
mode on CPU: the layer's saved activation bytes (each storage once), autocast's saved weight
copies, and the peak of live tensor bytes over forward and backward must be equal to the byte.
Three precisions: float32; bfloat16 parameters and activations; autocast to bfloat16 with
float32 weights.

The rules are each operator's own (``Op.memory``, beside its shape, parameter, MAC and
receptive-field rules in cnnstat/ops): every registered operator has one, or is listed here.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from cnnstat.analyze import analyze_graph
from cnnstat.errors import CnnstatError
from cnnstat.graph import Graph, Node
from cnnstat.memory import MemoryOptions, estimate
from cnnstat.memory.model import has_rule
from cnnstat.ops import REGISTRY

from .strategies import CASES

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

# Operators without a saved-tensor rule: their layers are listed as "not counted" by the memory
# model (tests/test_memory_model.py), never guessed (docs/memory.md says why):
# - not_counted: a call cnnstat has no rule for at all;
# - multihead_attention: F.multi_head_attention_forward takes the math path (saving the
#   attention matrix) or scaled_dot_product_attention by need_weights and the module's
#   fast-path conditions, which the operator does not record, and its projections' saved
#   inputs depend on whether query, key and value are one tensor;
# - einsum: torch.einsum permutes and reshapes its operands for bmm; whether those reshapes copy
#   (a new saved tensor) or view depends on the equation's index order and the operands'
#   strides, which the operator does not record;
# - parameter_work: the parameter-only calls before its contraction (a relative-position MLP's
#   activations) are not layers, so what they save is not known.
# The rank-generic operators with a rule (attention, layout, pointwise, reduction) decline
# (NoRule) for the calls and kernels whose saved tensors they cannot know: such a drawn case is
# "not counted", not compared.
WITHOUT_RULE = {"not_counted", "multihead_attention", "einsum", "parameter_work"}
MODES = {
    "fp32": (MemoryOptions(train=True, device="cpu", optimizer="sgd", input_requires_grad=True),
             "float32", False),
    "bf16": (MemoryOptions(train=True, device="cpu", optimizer="sgd", dtype="bf16",
                           input_requires_grad=True), "bfloat16", False),
    "amp": (MemoryOptions(train=True, device="cpu", optimizer="sgd", dtype="bf16", amp=True,
                          input_requires_grad=True), "float32", True),
}
# each operator's saved tensors compared on at least this many of its 12 drawn cases per mode
MIN_COMPARED = 3
# bfloat16 kernels PyTorch's CPU build lacks (the operator itself, not cnnstat, fails)
NO_BF16_CPU = {"lrn", "avgpool3d"}


def test_every_operator_has_a_rule_or_is_listed():
    assert sorted(op for op in REGISTRY if not has_rule(op) and op not in WITHOUT_RULE) == []
    assert sorted(op for op in WITHOUT_RULE if has_rule(op)) == []
    # every operator with a rule is checked against autograd below
    assert sorted(op for op in REGISTRY if has_rule(op) and op not in CASES) == []


def one_layer_graph(op: str, args: dict, shapes: list[tuple[int, ...]]) -> Graph:
    rule = REGISTRY[op]
    attrs = rule.bind([], args)
    inputs = [f"x{k}" for k in range(len(shapes))]
    nodes = [Node(name, "input", (), {"shape": list(s[1:])}) for name, s in zip(inputs, shapes)]
    nodes.append(Node("layer", op, tuple(inputs), attrs))
    return Graph(nodes, ["layer"], name=op)


def compare(op: str, args: dict, shapes, mode: str) -> str:
    """Compare one case; says what was done with it: "compared", "rejected" (by cnnstat's
    rules) or "both refuse training"."""
    from cnnstat.torch_bridge.build import build_module
    from .oracles.saved_tensors import measure
    try:
        graph = one_layer_graph(op, args, shapes)
        analysis = analyze_graph(graph, batch=shapes[0][0])
    except CnnstatError:
        return "rejected"                        # tests/test_ops_torch.py's business
    options, dtype_name, amp = MODES[mode]
    dtype = getattr(torch, dtype_name)
    module = build_module(graph, batch=shapes[0][0]).train().to(dtype)
    try:
        report = estimate(analysis, options)
    except CnnstatError:                         # refused in training: torch must refuse too
        with pytest.raises((ValueError, RuntimeError)):
            module(*[torch.rand(s, dtype=dtype) for s in shapes])
        return "both refuse training"
    generator = torch.Generator().manual_seed(0)
    leaves = [(torch.rand(s, generator=generator) + 0.1).to(dtype).requires_grad_()
              for s in shapes]
    # inputs made by a product, as inside a network: their gradients are new tensors (the
    # model's convention for an input that requires a gradient), not stolen by the leaves
    xs = [leaf * 1.0 for leaf in leaves]
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if amp else None
    result = measure(module, xs, layers=["layer"], autocast=autocast)
    row = report.layers[0]
    if not row.counted:
        return "not counted"
    got = [row.saved_bytes, row.cast_bytes, report.peak]
    want = [result.activation_bytes, result.bytes_of("cast"), result.live.peak]
    if not peak_exact(op, args, shapes, mode):
        got.pop(), want.pop()
    assert got == want, (f"{op} {args} {shapes} [{mode}]: model (saved, casts, peak) {got} vs "
                         f"oracle {want}\n" + "\n".join(result.describe()))
    return "compared"


# Operators whose backward makes temporaries of their own besides the gradients it returns
# (composite formulas: masks, broadcast products reduced by sum_to_size, index_put into zeros,
# the inputs' reflect/circular padding copies), which the memory model does not count
# (docs/memory.md, "Not modelled"): their peak is not compared, their saved tensors are.
BACKWARD_TEMPORARIES = {"channel_linear", "concat", "global_maxpool", "lrn", "maximum", "multiply",
                        "partial_conv2d", "prelu", "rbf", "scale", "subsample", "pad_shortcut"}
# ... and under autocast, where the gradients of the low-precision copies meet float32 ones
CONVS = {f"conv{r}d" for r in (1, 2, 3)}
AMP_BACKWARD_TEMPORARIES = {"add", "linear", "matmul"} | CONVS | {
    f"conv_transpose{r}d" for r in (1, 2, 3)}


def peak_exact(op: str, args: dict, shapes, mode: str) -> bool:
    if op in BACKWARD_TEMPORARIES or (mode == "amp" and op in AMP_BACKWARD_TEMPORARIES):
        return False
    if op in CONVS | {"conv2d_images"} and (args.get("padding_mode", "zeros") != "zeros"
                           or args.get("padding") == "same" or isinstance(args.get("padding"), list)
                           and any(isinstance(p, list) for p in args["padding"])):
        return False                     # a padded copy of the input, and its gradient
    if op == "add" and len({tuple(s) for s in shapes}) > 1:      # broadcasting: sum_to_size
        return False
    if op == "pointwise" and (args.get("fn", "").strip("_").lstrip("r") in ("mul", "div", "truediv")
                              or args.get("operand")):
        return False           # products' and quotients' composite backward, sum_to_size
    if op == "attention" and (args.get("masked") or shapes[0][-1] != shapes[2][-1]):
        return False           # the math path's composite backward (softmax, two bmm)
    if op == "reduction" and args.get("fn") not in ("sum", "mean"):
        return False           # masks, broadcast quotients of their composite backward
    return True
    return True


@pytest.mark.parametrize("mode", sorted(MODES))
@pytest.mark.parametrize("op", sorted(set(CASES) - WITHOUT_RULE))
def test_saved_tensors_match_autograd(op, mode, compared):
    if op not in REGISTRY:
        pytest.skip(f"{op} is not registered")
    if mode == "bf16" and op in NO_BF16_CPU:
        pytest.skip(f"PyTorch's CPU build has no bfloat16 kernel for {op}")

    @settings(max_examples=12, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
    @given(CASES[op])
    def check(case):
        args, shapes = case
        outcome = compare(op, args, [tuple(s) for s in shapes], mode)
        compared.record(op if outcome == "compared" else outcome)

    check()
    compared.require(MIN_COMPARED, keys=[op])
