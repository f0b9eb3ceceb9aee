"""Random layer graphs, written as cnnstat definitions (YAML text), for differential fuzzing.

A graph grows one step at a time from a random input (C, H, W) and batch size. A step is

- a layer: an operator drawn from ``tests/strategies.py``'s ``CASES`` (its random hyperparameters:
  kernel, stride, padding, dilation, groups, ceil_mode, output_padding, bias, ...) applied to the
  previous tensor or, with ``from``, to an earlier one. The case's arguments are *fitted* to the
  tensor the layer receives (groups that divide its channels, a softmax dim of its rank, a
  connection table within its channels ...); now and then they are left unfitted, or an operator
  is applied to a tensor of the wrong rank, so invalid layers occur too;
- a merge (add, multiply, concat, with crop='center' sometimes) of two or three tensors that
  usually fit together and sometimes do not;
- parallel branches over one tensor merged by add or concat (the definition's ``branches``);
- a squeeze-and-excitation gate: global pooling, 1x1 convolution, sigmoid, broadcast multiply.

The generator tracks shapes with cnnstat's own rules only to *steer* (to keep most graphs valid
and deep enough); the oracle never trusts them. When a layer is rejected (by the rule's argument
check or its shape check) the graph ends with that layer, so an invalid graph is invalid at its
last layer. Each layer is written in one of the definition format's spellings, chosen at random:
a call (``l3: conv2d(4, 3, stride=2)``), a call with ``from``, or the long form with the arguments
as keys (``{name: l3, op: conv2d, out: 4, kernel: 3}``), so the front end is fuzzed as well.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml
from hypothesis import strategies as st

from cnnstat.errors import CnnstatError
from cnnstat.ops import REGISTRY

from ..strategies import CASES

# Operators by the rank of tensor they take (batch included). Operators not listed take feature
# maps (rank 4). A new operator is fuzzed as soon as it has a case in tests/strategies.py.
ANY_RANK = {"relu", "relu6", "sigmoid", "tanh", "hardswish", "hardsigmoid", "silu", "mish", "gelu",
            "elu", "hardtanh", "leaky_relu", "prelu", "softmax", "log_softmax", "linear",
            "flatten", "reshape", "dropout", "identity", "slice", "chunk", "scale",
            "stochastic_depth", "layernorm"}
RANK_OPS = {"batchnorm1d": (2, 3), "rbf": (2,)}
ACTIVATIONS = ["relu", "relu6", "sigmoid", "tanh", "hardswish", "silu", "gelu", "leaky_relu"]
MAX_CHANNELS = 24
MAX_ELEMENTS = 60_000          # per sample: keeps a torch forward pass around a millisecond


@dataclass
class Entry:
    """One entry of the ``layers`` list (or of a branch)."""
    name: str
    op: str                                      # an operator, or "branches"
    args: dict[str, Any] = field(default_factory=dict)
    inputs: list[str] = field(default_factory=list)  # [] reads prev; merges name their inputs
    style: str = "call"                          # call | from | long
    output: bool = False                         # an extra model output (does not become prev)
    branches: list[tuple[str, list["Entry"]]] = field(default_factory=list)
    merge: str = "concat"
    merge_args: dict[str, Any] = field(default_factory=dict)


class Case:
    """A random definition: its YAML text and the batch size to analyse it with."""

    def __init__(self, text: str, batch: int, entries: list[Entry]):
        self.text, self.batch, self.entries = text, batch, entries

    def __repr__(self) -> str:  # hypothesis prints the falsifying example with this
        return f"Case(batch={self.batch}, text=\n{self.text})"


# -- writing entries as YAML ----------------------------------------------------------------------
def expr(value: Any) -> str:
    """A Python value as the definition format's expression syntax."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "none"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(expr(v) for v in value) + "]"
    return repr(value)


def _yaml_value(value: Any) -> Any:
    """An argument as a YAML value of the long form: strings are expressions, so text is quoted."""
    if isinstance(value, str):
        return expr(value)
    if isinstance(value, (list, tuple)):
        return [_yaml_value(v) for v in value]
    return value


def _call(entry: Entry) -> str:
    parts = list(entry.inputs) if REGISTRY[entry.op].arity is None else []
    parts += [f"{k}={expr(v)}" for k, v in entry.args.items()]
    return f"{entry.op}({', '.join(parts)})" if parts else entry.op


def entry_yaml(entry: Entry) -> Any:
    if entry.op == "branches":
        branches = {bname: [entry_yaml(e) for e in body] for bname, body in entry.branches}
        merge = entry.merge
        if entry.merge_args:
            merge += "(" + ", ".join(f"{k}={expr(v)}" for k, v in entry.merge_args.items()) + ")"
        out: dict[str, Any] = {"name": entry.name}
        if entry.inputs:
            out["from"] = entry.inputs[0]
        out.update({"branches": branches, "merge": merge})
        return out
    is_merge = REGISTRY[entry.op].arity is None
    if entry.style == "long":
        out = {"name": entry.name, "op": entry.op}
        if entry.inputs:
            out["from"] = entry.inputs[0] if len(entry.inputs) == 1 else list(entry.inputs)
        out.update({k: _yaml_value(v) for k, v in entry.args.items()})
    elif entry.inputs and not is_merge:
        out = {"name": entry.name, "call": _call(entry), "from": entry.inputs[0]}
    elif entry.output:
        out = {"name": entry.name, "call": _call(entry)}
    else:
        return {entry.name: _call(entry)}
    if entry.output:
        out["output"] = True
    return out


def definition_text(entries: list[Entry], input_chw: tuple[int, int, int], title: str = "fuzz") -> str:
    doc = {"name": title, "input": list(input_chw), "layers": [entry_yaml(e) for e in entries]}
    return yaml.safe_dump(doc, sort_keys=False, default_flow_style=None, width=100)


# -- steering: what cnnstat's rule says about a layer ---------------------------------------------
def try_rule(op: str, args: dict, shapes: list[tuple[int, ...]]) -> tuple[tuple | None, str | None]:
    """(output shape, None), or (None, 'bind') / (None, 'shape') when the rule rejects."""
    rule = REGISTRY[op]
    try:
        attrs = rule.bind([], args)
    except CnnstatError:
        return None, "bind"
    try:
        rule.check_arity(shapes)
        return rule.evaluate(attrs, shapes).shape, None
    except Exception:  # analyze_graph turns any rule failure into a one-line ShapeError
        return None, "shape"


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for d in shape[1:]:
        n *= d
    return n


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


# -- fitting a case's arguments to the tensor a layer receives ------------------------------------
def fit(draw, op: str, args: dict, shape: tuple[int, ...]) -> dict:
    """The case's arguments adjusted so that they usually suit ``shape`` (batch included)."""
    args = dict(args)
    rank = len(shape)
    c = shape[1]
    if op in ("conv2d", "conv_transpose2d"):
        groups = args.get("groups", 1)
        per_group = max(1, args["out"] // groups)
        if c % groups:                  # another divisor of the channels; c itself is depthwise
            groups = draw(st.sampled_from(_divisors(c)))
        args["groups"] = groups
        args["out"] = groups * max(1, min(per_group, MAX_CHANNELS // groups))
    elif op == "partial_conv2d":
        table = [sorted({i % c for i in row}) for row in args["table"]]
        args["table"] = table
    elif op == "prelu":
        if args["num_parameters"] != 1:
            args["num_parameters"] = c
    elif op in ("softmax", "log_softmax"):
        args["dim"] = draw(st.sampled_from([d for d in range(-rank + 1, rank) if d != 0]))
    elif op == "flatten":
        start = draw(st.integers(1, rank - 1))
        args = {"start": start, "end": draw(st.sampled_from([-1, rank - 1, start]))}
    elif op == "reshape":
        total = _numel(shape)
        if rank == 4:
            _, c, h, w = shape
            args["shape"] = draw(st.sampled_from([[total], [c, h * w], [-1, w], [c * h, -1, 1],
                                                  [h, w, c]]))
        else:
            args["shape"] = draw(st.sampled_from([[total], [-1], [total, 1]]))
    elif op == "channel_shuffle":
        args["groups"] = draw(st.sampled_from(_divisors(c)))
    elif op in ("slice", "chunk"):
        args["dim"] = draw(st.integers(1, rank - 1))
    elif op == "layernorm":
        args["dims"] = min(args.get("dims", 1), rank - 1)
    elif op == "pad_shortcut":
        args["out"] = c + draw(st.integers(0, 6))
    elif op == "upsample" and rank == 4 and args.get("scale") is not None:
        scale = args["scale"]
        top = max(scale) if isinstance(scale, list) else scale
        if max(shape[2:]) * top > 48:
            args.pop("scale")
            args["size"] = draw(st.integers(1, 16))
    return args


def _rank_ok(op: str, rank: int) -> bool:
    if op in ANY_RANK:
        return True
    return rank in RANK_OPS.get(op, (4,))


# How often an operator is drawn relative to the others (default 1): the layers CNNs are made of
# more often than the rest.
WEIGHTS = {"conv2d": 8, "maxpool2d": 3, "avgpool2d": 2, "conv_transpose2d": 2, "batchnorm2d": 2,
           "relu": 2, "linear": 2, "upsample": 2, "adaptive_avgpool2d": 2, "add": 4, "concat": 4,
           "multiply": 2}


#: rules of imported models' tensors of any rank (cnnstat/ops/tensor.py): their shapes are stated
#: by the importer, not chained into CNNs; tests/test_ops_torch.py checks each against torch
IMPORTED_ONLY = {"attention", "multihead_attention", "einsum", "layout", "pointwise", "reduction",
                 "parameter_work", "conv2d_images"}


def _weighted(ops) -> list[str]:
    return [op for op in sorted(ops) if op not in IMPORTED_ONLY
            for _ in range(WEIGHTS.get(op, 1))]


def _single_input_ops() -> list[str]:
    return _weighted(op for op in CASES if op in REGISTRY and REGISTRY[op].arity == 1)


def _merge_ops() -> list[str]:
    return _weighted(op for op in CASES if op in REGISTRY and REGISTRY[op].arity is None)


# -- the graph strategy ---------------------------------------------------------------------------
class _Builder:
    """Grows the entry list while tracking (steering-only) shapes of the top-level tensors."""

    def __init__(self, draw, shape: tuple[int, ...]):
        self.draw = draw
        self.shapes: dict[str, tuple[int, ...]] = {"input": shape}
        self.entries: list[Entry] = []
        self.prev = "input"
        self.failed = False

    def add(self, entry: Entry, shape: tuple | None, becomes_prev: bool = True) -> None:
        self.entries.append(entry)
        if shape is None:
            self.failed = True
            return
        self.shapes[entry.name] = shape
        if becomes_prev and not entry.output:
            self.prev = entry.name

    def pick_input(self) -> str:
        if self.draw(st.integers(0, 3)) == 0:
            return self.draw(st.sampled_from(sorted(self.shapes)))
        return self.prev

    def style(self) -> str:
        return self.draw(st.sampled_from(["call", "call", "long"]))

    # a single-input layer ------------------------------------------------------------------------
    def layer(self, name: str) -> None:
        draw = self.draw
        source = self.pick_input()
        shape = self.shapes[source]
        ops = _single_input_ops()
        wrong_rank = draw(st.integers(0, 24)) == 0       # an operator given the wrong rank
        candidates = [op for op in ops if _rank_ok(op, len(shape)) != wrong_rank]
        if wrong_rank and len(shape) != 2:               # torch runs 2-D ops on rank 3 as
            candidates = [op for op in ops if _rank_ok(op, len(shape))]  # unbatched: not a reject
        op = draw(st.sampled_from(candidates or ops))
        args, _ = draw(CASES[op])
        if draw(st.integers(0, 11)):                     # mostly fitted, sometimes raw
            args = fit(draw, op, args, shape)
        out, _ = try_rule(op, args, [shape])
        if out is not None and _numel(out) > MAX_ELEMENTS:
            return                                       # too big to run quickly: skip it
        style = self.style()
        if style == "call" and source != self.prev:
            style = "from"
        entry = Entry(name, op, args, [] if source == self.prev else [source], style)
        if out is not None and self.entries and "output" not in args \
                and draw(st.integers(0, 14)) == 0:
            entry.output = True                          # an extra output; prev stays
        self.add(entry, out)

    # a merge of two or three tensors -----------------------------------------------------------
    def merge(self, name: str) -> None:
        draw = self.draw
        ops = _merge_ops()
        if not ops:
            return
        op = draw(st.sampled_from(ops))
        first = self.prev
        shape = self.shapes[first]
        mismatch = draw(st.integers(0, 9)) == 0
        args, case_shapes = draw(CASES[op])   # as many inputs as the case has (matmul: 2)
        args = {k: v for k, v in args.items() if k not in ("dim", "crop")}
        names = sorted(self.shapes)
        if op == "concat":
            crop = len(shape) == 4 and draw(st.integers(0, 3)) == 0
            if crop:
                args["crop"] = "center"
                fits = [n for n in names if len(self.shapes[n]) == 4]
            else:
                fits = [n for n in names if len(self.shapes[n]) == len(shape)
                        and self.shapes[n][:1] + self.shapes[n][2:] == shape[:1] + shape[2:]]
                if draw(st.booleans()):
                    args["dim"] = draw(st.sampled_from([1, 1 - len(shape)]))
        else:
            fits = [n for n in names if self.shapes[n] == shape
                    or (len(self.shapes[n]) == 4 and len(shape) == 4
                        and self.shapes[n][2:] == (1, 1) and self.shapes[n][:2] == shape[:2])]
        pool = names if mismatch else (fits or [first])
        count = max(len(case_shapes), REGISTRY[op].min_inputs) - 1
        others = [draw(st.sampled_from(pool)) for _ in range(count)]
        inputs = [first] + others
        if draw(st.booleans()):
            inputs = [draw(st.permutations(inputs))][0]
        shapes = [self.shapes[n] for n in inputs]
        out, _ = try_rule(op, args, shapes)
        if out is not None and _numel(out) > MAX_ELEMENTS:
            return
        inputs = ["prev" if n == self.prev and draw(st.booleans()) else n for n in inputs]
        # a merge of one tensor (concat(x)) is written as a call: 'from' with one name is not
        # a list of layers to merge
        self.add(Entry(name, op, args, inputs, self.style() if len(inputs) > 1 else "call"), out)

    # parallel branches over one tensor ---------------------------------------------------------
    def branches(self, name: str) -> None:
        draw = self.draw
        source = self.prev
        shape = self.shapes[source]
        if len(shape) != 4:
            return self.layer(name)
        merge = draw(st.sampled_from(["add", "concat", "concat"]))
        body_ops = ["conv2d", "maxpool2d", "avgpool2d", "batchnorm2d"] + ACTIVATIONS
        body_ops = [op for op in body_ops if op in CASES]
        branches: list[tuple[str, list[Entry]]] = []
        outs = []
        for bname in ["a", "b", "c"][: draw(st.integers(2, 3))]:
            body: list[Entry] = []
            current = shape
            for i in range(draw(st.integers(0, 2))):
                op = draw(st.sampled_from(body_ops))
                args, _ = draw(CASES[op])
                args = fit(draw, op, args, current)
                if op == "conv2d":          # keep H, W: stride 1, 'same' padding
                    args.update(stride=1, padding="same")
                    args.pop("padding_mode", None)
                    if merge == "add":
                        args.update(out=shape[1], groups=1)
                elif op in ("maxpool2d", "avgpool2d"):
                    args.update(kernel=3, stride=1, padding=1)
                    args.pop("dilation", None)
                out, stage = try_rule(op, args, [current])
                if stage == "bind":
                    continue                # keep the branch valid at the argument level
                body.append(Entry(f"{bname}{i}", op, args, [], self.style()))
                if out is None:
                    self.add(Entry(name, "branches", inputs=[] if source == self.prev else [source],
                                   branches=branches + [(bname, body)], merge=merge), None)
                    return
                current = out
            branches.append((bname, body))
            outs.append(current)
        merge_args: dict[str, Any] = {}
        if merge == "concat" and draw(st.integers(0, 3)) == 0:
            merge_args["crop"] = "center"
        out, _ = try_rule(merge, merge_args, outs)
        if out is not None and _numel(out) > MAX_ELEMENTS:
            return
        self.add(Entry(name, "branches", branches=branches, merge=merge, merge_args=merge_args),
                 out)

    # squeeze-and-excitation: x * sigmoid(conv1x1(global_avgpool(x))) -----------------------------
    def gate(self, name: str) -> None:
        shape = self.shapes[self.prev]
        if len(shape) != 4 or not {"global_avgpool", "conv2d", "sigmoid", "multiply"} <= set(REGISTRY):
            return self.layer(name)
        x = self.prev
        steps = [Entry(f"{name}_pool", "global_avgpool", {"keepdim": True}, [], self.style()),
                 Entry(f"{name}_fc", "conv2d", {"out": shape[1], "kernel": 1,
                                                "bias": self.draw(st.booleans())}, [], self.style()),
                 Entry(f"{name}_gate", "sigmoid", {}, [], self.style())]
        current = shape
        for step in steps:
            current, _ = try_rule(step.op, step.args, [current])
            self.add(step, current)
            if current is None:
                return
        out, _ = try_rule("multiply", {}, [shape, current])
        self.add(Entry(name, "multiply", {}, [x, steps[-1].name], self.style()), out)


@st.composite
def graphs(draw, max_layers: int = 8, max_size: int = 40) -> Case:
    """A random definition (mostly valid; invalid ones are invalid at their last layer)."""
    c = draw(st.integers(1, 8))
    h, w = draw(st.integers(1, max_size)), draw(st.integers(1, max_size))
    batch = draw(st.integers(1, 3))
    builder = _Builder(draw, (batch, c, h, w))
    steps = draw(st.integers(1, max_layers))
    for i in range(steps):
        kind = draw(st.sampled_from(["layer"] * 7 + ["merge", "merge", "branches", "gate"]))
        getattr(builder, kind)(f"l{i}")
        if builder.failed:
            break
    if not builder.entries:                             # every step was skipped: one layer
        builder.add(Entry("l0", "identity"), (batch, c, h, w))
    return Case(definition_text(builder.entries, (c, h, w)), batch, builder.entries)
