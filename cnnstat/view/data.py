"""An :class:`Analysis` → the JSON document the interactive page draws.

The page shows the layer graph with blocks that collapse to one node. Blocks are the dotted
prefixes of layer names (``layer1``, ``layer1.0``, ``layer1.0.downsample``), the same nesting that
``--depth`` collapses in the tables; ``graph.meta["groups"]`` (from the definition format) gives
them labels such as ``bottleneck`` or ``3 x block``. Imported models without labels get a block
per shared name prefix all the same. A prefix that holds a single layer is no block, and a block
with exactly the layers of its parent block is merged into the parent (one click, not two).

Every number shown is formatted here, by ``cnnstat.render.numbers``, exactly as the tables print
it: the page only lays out, colours and navigates. Totals of a block are sums of its layers'
records (integers); its output shape and receptive field are those of its last layer, as for a
``--depth`` row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from ..analyze import Analysis, LayerRecord
from ..convention import KIND_LABELS, flops
from ..errors import UsageError
from ..graph import block_path
from ..ops.base import MAC_KINDS, UNIT_NOUNS, UNIT_WORDS, spatial_axes
from ..receptive import RF, AxisRF, input_rf, local_view
from ..render import numbers as fmt
from ..render.facts import facts, model_title

#: the most nodes the page draws at first; deeper blocks start collapsed (see initial_depth)
NODE_BUDGET = 120

#: metrics the page can colour nodes by: key → (menu label, unit)
METRICS = {
    "macs": ("MACs", "MAC"),
    "params": ("parameters", ""),
    "memory": ("activation memory", "bytes"),
    "rf": ("receptive-field size", "px"),
}


@dataclass
class Block:
    """A collapsible block: every layer whose name starts with ``path + '.'``."""
    path: str
    label: str
    parent: str | None
    members: list[str] = field(default_factory=list)   # layer names, in graph order
    aliases: list[str] = field(default_factory=list)   # prefixes merged into this block

    @property
    def level(self) -> int:
        """Name levels of the path: ``layer1`` is 1, ``layer1.0`` is 2 (as ``--depth`` counts)."""
        return self.path.count(".") + 1


def blocks(graph) -> dict[str, Block]:
    """The blocks of a graph, outermost first, in the order their first layer appears."""
    labels: dict[str, str] = dict(graph.meta.get("groups") or {})
    counts: dict[str, int] = {}
    for node in graph:
        for p in block_path(node.name):
            counts[p] = counts.get(p, 0) + 1
    kept = [p for p in counts if counts[p] >= 2]          # dict order: first appearance
    kept_set = set(kept)

    def parent_of(path: str) -> str | None:
        for p in reversed(block_path(path)):
            if p in kept_set:
                return p
        return None

    # Merge a block into its parent when both hold the same layers (e.g. an Inception module
    # whose only entry is its branches): expanding the parent would show just the child.
    merged: dict[str, str] = {}
    for path in kept:
        parent = parent_of(path)
        while parent in merged:
            parent = merged[parent]
        if parent is not None and counts[path] == counts[parent]:
            merged[path] = parent
            if labels.get(parent, "group") == "group" and path in labels:
                labels[parent] = labels[path]
    out: dict[str, Block] = {}
    for path in kept:
        if path in merged:
            continue
        parent = parent_of(path)
        while parent in merged:
            parent = merged[parent]
        out[path] = Block(path, labels.get(path, "group"), parent)
    for path, into in merged.items():
        out[into].aliases.append(path)
    for node in graph:
        home = innermost(node.name, out)
        while home is not None:
            out[home].members.append(node.name)
            home = out[home].parent
    for b in out.values():
        b.label = _label(b, out, graph)
    return out


def innermost(name: str, found: dict[str, Block]) -> str | None:
    """The innermost block that contains a layer (a merged prefix's parent is a shorter prefix)."""
    for p in reversed(block_path(name)):
        if p in found:
            return p
    return None


def short_name(name: str, parent: Block | None) -> str:
    """A name relative to its enclosing block, without the prefixes merged into it:
    'inception3a.0.branch2' in block 'inception3a' (which absorbed 'inception3a.0') → 'branch2'."""
    if parent is None:
        return name
    for prefix in sorted([parent.path, *parent.aliases], key=len, reverse=True):
        if name.startswith(prefix + "."):
            return name[len(prefix) + 1:]
    return name


_REPEAT = re.compile(r"^(\d+) x (.+)$")


def _label(b: Block, found: dict[str, Block], graph) -> str:
    """'3 x block' (the repeated call names a variable) → '3 × bottleneck' when every repetition
    is a block of that name; an unnamed group of up to three layers → its operators."""
    if b.label == "group" and len(b.members) <= 3:
        return " → ".join(graph[m].op for m in b.members)
    m = _REPEAT.match(b.label)
    if not m:
        return b.label
    children = {c.label for c in found.values() if c.parent == b.path}
    name = children.pop() if len(children) == 1 else m.group(2)
    return f"{m.group(1)} × {name}"


def collapsed_at(found: dict[str, Block], depth: int | None, same_kind: bool = False) -> set[str]:
    """Blocks collapsed at first: those of ``depth`` name levels and more (as ``--depth``).
    With ``same_kind``, innermost blocks (no blocks inside) labelled like a collapsed innermost
    block collapse too, so that all of GoogLeNet's conv-bn-relu units start alike whatever their
    nesting. (Only innermost ones: a container label such as torch's 'Sequential' names blocks
    of every size.)"""
    if depth is None:
        return set()
    out = {p for p, b in found.items() if b.level >= depth}
    if same_kind:
        inner = set(found) - {b.parent for b in found.values()}
        kinds = {found[p].label for p in out & inner} - {"group"}
        out |= {p for p in inner if found[p].label in kinds}
    return out


def visible_count(graph, found: dict[str, Block], collapsed: set[str]) -> int:
    """Nodes drawn when the given blocks are collapsed: each layer is drawn as itself, or as its
    outermost collapsed block."""
    shown: set[str] = set()
    for node in graph:
        rep = node.name
        path = innermost(node.name, found)
        while path is not None:
            if path in collapsed:
                rep = "block:" + path
            path = found[path].parent
        shown.add(rep)
    return len(shown)


def initial_collapsed(graph, found: dict[str, Block], depth: int | None = None,
                      budget: int = NODE_BUDGET) -> tuple[int | None, set[str]]:
    """The depth and the blocks collapsed at first. A given depth collapses exactly as ``--depth``
    does; otherwise the deepest level (blocks of the same kind alike) whose drawing has at most
    ``budget`` nodes, or depth 1 when none has: the most the page can collapse."""
    if depth is not None:
        return depth, collapsed_at(found, depth)
    if not found or len(graph) <= budget:
        return None, set()
    deepest = max(b.level for b in found.values())
    for d in range(deepest, 0, -1):
        chosen = collapsed_at(found, d, same_kind=True)
        if visible_count(graph, found, chosen) <= budget:
            return d, chosen
    return 1, collapsed_at(found, 1, same_kind=True)


# ----------------------------------------------------------------------------------------------
# Formatting for the side panel (strings; the page never formats a count itself)
# ----------------------------------------------------------------------------------------------
def _count(n: int, unit: str = "") -> str:
    return f"{fmt.grouped(n)} ({fmt.human(n, unit)})" if abs(n) >= 1000 else fmt.grouped(n)


def _dims(shape) -> str:
    """Output shape without batch, for node labels: 64×112×112."""
    return "×".join(str(d) for d in shape[1:]) or "scalar"


def _attr_text(value: Any) -> str:
    if isinstance(value, (tuple, list)):
        return "(" + ", ".join(_attr_text(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "none"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, Fraction):
        return fmt.number(value)
    return str(value)


def _short_op(r: LayerRecord) -> str:
    """A compact operator label for a node: 'conv2d 7×7/2', 'maxpool2d 3×3/2', 'relu'."""
    a = r.attrs
    text = r.op
    kernel = a.get("kernel")
    if isinstance(kernel, tuple) and len(kernel) == 2 and all(isinstance(k, int) for k in kernel):
        text += f" {kernel[0]}×{kernel[1]}"
        stride = a.get("stride")
        if isinstance(stride, tuple) and stride != (1, 1):
            text += f"/{stride[0]}" if stride[0] == stride[1] else f"/{stride[0]}×{stride[1]}"
    groups = a.get("groups")
    if r.op.startswith("conv") and isinstance(groups, int) and groups > 1:
        depthwise = r.input_shapes and len(r.input_shapes[0]) == 4 and groups == r.input_shapes[0][1]
        text += " dw" if depthwise else f" g{groups}"
    return text


def _shown_path(file: str) -> str:
    """A zoo file as cnnstat/zoo/NAME.yaml (not this machine's install path); others as given."""
    from ..zoo import ZOO_DIR
    try:
        return "cnnstat/zoo/" + Path(file).resolve().relative_to(ZOO_DIR).as_posix()
    except (ValueError, OSError):
        return file


def _rf_axis(a: AxisRF) -> list:
    """[size, stride, padding, whole] as plain numbers for drawing (fractions as floats)."""
    return [fmt.rf_value(a.size), fmt.rf_value(a.stride), fmt.rf_value(a.padding), a.whole]


def _rf_draw(rf: RF) -> dict:
    """What the input-grid drawing shows: the local field where global context (SE gates) also
    reaches the unit, else the field itself. The drawing is a plane of rows (h) and columns (w):
    an image's; the height x width plane of a 3-D input, whose depth ``d`` the caption gives; a
    1-D input as one row of ``w`` positions."""
    rf = local_view(rf) or rf
    axes = dict(zip(rf.names, rf.axes))
    out = {"h": _rf_axis(axes.get("height", AxisRF())),
           "w": _rf_axis(axes.get("width", axes.get("length", AxisRF())))}
    if "depth" in axes:
        out["d"] = _rf_axis(axes["depth"])
    out["exact"] = rf.exact
    return out


def _rf_metric(rf: RF) -> float | None:
    """Colour value of a receptive field: its (local) largest side in input units; None for the
    whole input."""
    view = local_view(rf)
    if view is None:
        return None
    return float(view.largest.size)


def _rf_rows(rf: RF) -> list[list[str]]:
    unit = UNIT_WORDS.get(rf.rank, "units")
    rows = [[f"size ({unit})", fmt.rf_size(rf)], ["effective stride", fmt.rf_stride(rf)],
            ["effective padding", fmt.rf_padding(rf)]]
    note = fmt.rf_note(rf)
    rows.append(["paths", "aligned" if rf.aligned else "misaligned"])
    if note:
        rows.append(["note", note])
    return rows


def _exact_unit_rows(a: Analysis, r) -> list[list[str]]:
    """Where the layer's field is an envelope (fractional strides), the exact fields of its
    top-left and centre units (cnnstat rf --at), which the drawing cannot show."""
    first = "first unit" if a.rank == 1 else "top-left unit"
    rows = []
    for label, unit in ((f"exact, {first}", (0,) * a.rank),
                        ("exact, centre unit", tuple(n // 2 for n in r.output_shape[2:]))):
        field = a.exact_field(r.name, unit)
        if field is None:              # exact already, or no exact rule on the way
            return []
        from ..render.unit import reads
        rows.append([label, reads(field)])
    return rows


def _work_rows(a: Analysis, params: int, trainable: int, buffers: int, connections: int,
               macs: int, by_kind: dict[str, int], activations: int) -> list[list[str]]:
    rows = [["parameters", _count(params)]]
    if trainable != params:
        rows.append(["trainable", _count(trainable)])
    rows += [["buffers", _count(buffers)], ["connections", _count(connections)],
             ["MACs", _count(macs, "MAC")], ["FLOPs", _count(flops(macs), "FLOP")]]
    counted = set(a.convention.kinds)
    for kind in MAC_KINDS:
        n = by_kind.get(kind, 0)
        if n:
            state = "counted" if kind in counted else "not counted"
            rows.append([f"· {KIND_LABELS[kind]}", f"{_count(n, 'MAC')}, {state}"])
    rows += [["activations", f"{fmt.grouped(activations)} elements"],
             ["activation memory", f"{fmt.human_bytes(activations * a.dtype_bytes)} ({a.dtype})"]]
    return rows


def _metrics(a: Analysis, macs: int, params: int, activations: int, rf: RF) -> list:
    return [macs, params, activations * a.dtype_bytes, _rf_metric(rf)]


# ----------------------------------------------------------------------------------------------
# The document
# ----------------------------------------------------------------------------------------------
def view_data(a: Analysis, depth: int | None = None, metric: str = "macs",
              budget: int = NODE_BUDGET) -> dict[str, Any]:
    """The page's data: nodes (the input(s) and every layer), blocks, totals and convention.

    depth: collapse blocks of this many name levels and more at first (as ``--depth``);
    None chooses the deepest level that keeps the drawing within ``budget`` nodes.
    """
    if metric not in METRICS:
        raise UsageError(f"unknown metric '{metric}'; choose from {', '.join(METRICS)}")
    if depth is not None and (not isinstance(depth, int) or isinstance(depth, bool) or depth < 1):
        raise UsageError(f"depth must be a positive integer, got {depth!r}")
    graph = a.graph
    found = blocks(graph)
    depth, collapsed = initial_collapsed(graph, found, depth, budget)
    index = {node.name: i for i, node in enumerate(graph)}
    block_index = {path: i for i, path in enumerate(found)}
    consumers = graph.consumers()
    noun = UNIT_NOUNS.get(a.rank, "units")

    nodes = []
    for node in graph:
        home = innermost(node.name, found)
        base = {"name": node.name, "short": short_name(node.name, found.get(home) if home else None),
                "group": block_index.get(home) if home else None,
                "in": [index[s] for s in node.inputs],
                "out": [index[s] for s in consumers[node.name]]}
        if node.op == "input":
            shape = (a.batch,) + tuple(node.attrs["shape"])
            elements = a.batch
            for d in node.attrs["shape"]:
                elements *= d
            base.update(kind="input", op="input", label="input", shape=_dims(shape),
                        m=[0, 0, elements * a.dtype_bytes, 1.0],
                        rf=_rf_draw(input_rf(a.rank)), oshape=list(shape),
                        sections=[{"title": "Input", "rows": [
                            ["name", node.name], ["shape", fmt.shape(shape)],
                            ["elements", fmt.grouped(elements)],
                            ["memory", f"{fmt.human_bytes(elements * a.dtype_bytes)} ({a.dtype})"]]}])
            nodes.append(base)
            continue
        r = a.by_name[node.name]
        layer_rows = [["name", r.name], ["operator", r.op], ["as PyTorch", r.description]]
        if r.train_only:
            layer_rows.append(["runs", "in training only: "
                               + ("counted (--train)" if a.train else
                                  "its work is not in the inference totals (--train counts it)")])
        if r.file:
            where = _shown_path(r.file)
            layer_rows.append(["defined at", f"{where}:{r.line}" if r.line else where])
        sections = [{"title": "Layer", "rows": layer_rows}]
        if r.attrs:
            sections.append({"title": "Hyperparameters",
                             "rows": [[k, _attr_text(v)] for k, v in r.attrs.items()]})
        sections.append({"title": "Shapes", "rows": [
            *[[f"input {i + 1}" if len(r.input_shapes) > 1 else "input", fmt.shape(s)]
              for i, s in enumerate(r.input_shapes)],
            ["output", fmt.shape(r.output_shape)]]})
        sections.append({"title": "Counts", "rows": _work_rows(
            a, r.params, r.trainable_params, r.buffers, r.connections, r.macs, r.macs_by_kind,
            r.activations)})
        sections.append({"title": f"Receptive field (input {noun})",
                         "rows": _rf_rows(r.rf) + _exact_unit_rows(a, r)})
        base.update(kind="layer", op=r.op, label=_short_op(r), shape=_dims(r.output_shape),
                    oshape=list(r.output_shape), m=_metrics(a, r.macs, r.params, r.activations, r.rf),
                    rf=_rf_draw(r.rf), sections=sections)
        nodes.append(base)

    groups = []
    for path, b in found.items():
        members = [a.by_name[m] for m in b.members if m in a.by_name]
        last = members[-1] if members else None
        inside = set(b.members)
        ins = sorted({index[s] for m in b.members for s in graph[m].inputs if s not in inside})
        outs = sorted({index[u] for m in b.members for u in consumers[m] if u not in inside})
        by_kind = {k: sum(r.macs_by_kind.get(k, 0) for r in members) for k in MAC_KINDS}
        sums = dict(params=sum(r.params for r in members),
                    trainable=sum(r.trainable_params for r in members),
                    buffers=sum(r.buffers for r in members),
                    connections=sum(r.connections for r in members),
                    macs=sum(r.macs for r in members),
                    activations=sum(r.activations for r in members))
        rf = last.rf if last else input_rf(a.rank)
        sections = [
            {"title": "Block", "rows": [["name", path], ["block", b.label],
                                        ["layers", fmt.grouped(len(members))],
                                        ["output (its last layer)", last.name if last else "-"],
                                        ["output shape", fmt.shape(last.output_shape) if last else "-"]]},
            {"title": "Counts (sum of its layers)", "rows": _work_rows(
                a, sums["params"], sums["trainable"], sums["buffers"], sums["connections"],
                sums["macs"], by_kind, sums["activations"])},
            {"title": f"Receptive field of its output (input {noun})", "rows": _rf_rows(rf)},
        ]
        groups.append({
            "path": path, "short": short_name(path, found.get(b.parent) if b.parent else None),
            "label": b.label,
            "parent": block_index[b.parent] if b.parent is not None else None,
            "n": len(members), "level": b.level,
            "shape": _dims(last.output_shape) if last else "",
            "oshape": list(last.output_shape) if last else [],
            "last": index[last.name] if last else None,
            "in": ins, "out": outs,
            "m": _metrics(a, sums["macs"], sums["params"], sums["activations"], rf),
            "rf": _rf_draw(rf), "sections": sections,
        })

    return {
        "schema": 1,
        "model": a.name,
        "title": model_title(a),
        "facts": [list(f) for f in facts(a)],
        "convention": a.convention.describe(),
        "input": _input(a),
        "dtype": a.dtype,
        "metrics": [[k, label, UNIT_WORDS.get(a.rank, "units") if k == "rf" else unit]
                    for k, (label, unit) in METRICS.items()],
        "metric": metric,
        "depth": depth,
        "nodes": nodes,
        "groups": groups,
        "collapsed": [block_index[p] for p in found if p in collapsed],
        "outputs": [index[o] for o in a.outputs],
    }


def _input(a: Analysis) -> dict:
    """The input as the receptive-field drawing needs it: channels, the plane it draws (h rows x
    w columns: an image; one row of w positions for a 1-D input; the height x width plane of a
    3-D input, d deep), the axes' names and the unit of one input element."""
    sizes = dict(zip(a.axes, a.input_shape[1:]))
    return {"c": a.input_shape[0], "h": sizes.get("height", 1),
            "w": sizes.get("width", sizes.get("length", 1)), "d": sizes.get("depth", 1),
            "rank": a.rank, "axes": list(spatial_axes(a.rank)),
            "unit": UNIT_WORDS.get(a.rank, "units"), "spatial": a.rank in (1, 2, 3)}
