"""The layer graph: a DAG of named nodes, each one operator applied to the outputs of earlier nodes.

Every front end produces this structure: the YAML definition format (``cnnstat.definition``), and the
importers for PyTorch, ONNX and Caffe. Everything after it (analysis, receptive fields, rendering,
the torch builder) reads only this structure.

Node names are dotted paths (``layer1.0.conv1``); the dots express the block nesting that
``--depth`` collapses. Graph inputs are nodes with ``op == "input"`` and an ``attrs["shape"]``
of ``(C, H, W)`` (no batch dimension).

A node whose ``shares`` names an earlier node reuses that node's weights (a module called twice,
tied weights in an imported model): it does its work again, but its parameters and buffers are
counted once, at the node it shares them with.

A node marked ``train_only`` runs only when the model is trained (an auxiliary classifier: Inception
v3's AuxLogits, GoogLeNet's aux1/aux2): it holds weights in every mode, but at inference it does no
work and its output is no output of the model. Nothing that runs at inference may read it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any, Iterable, Iterator, Mapping

from .errors import DefinitionError


@dataclass(frozen=True, slots=True)
class Node:
    """One layer: its name, operator, inputs (layer names), attributes and where it is defined."""
    name: str
    op: str
    inputs: tuple[str, ...] = ()
    attrs: Mapping[str, Any] = field(default_factory=dict)
    file: str | None = None
    line: int | None = None
    shares: str | None = None   # the node whose weights this one reuses (counted there, once)
    train_only: bool = False    # runs only in training (an auxiliary head): see the module doc

    @property
    def group(self) -> tuple[str, ...]:
        """The enclosing block path: ``layer1.0.conv1`` → ``("layer1", "layer1.0")``."""
        return block_path(self.name)


# -- block paths: the one place dotted names are read as blocks (rows, bands, the view, heads) -----
def block_path(name: str) -> tuple[str, ...]:
    """The blocks enclosing a layer, outermost first: ``layer1.0.conv1`` → ``("layer1",
    "layer1.0")``; none for a top-level name."""
    parts = name.split(".")
    return tuple(".".join(parts[: i + 1]) for i in range(len(parts) - 1))


def name_prefix(name: str, depth: int) -> str:
    """The first ``depth`` name levels (as ``--depth`` counts them): ``name_prefix("layer1.0.conv1",
    2)`` is ``layer1.0``; a name of ``depth`` levels or fewer is itself."""
    parts = name.split(".")
    return name if len(parts) <= depth else ".".join(parts[:depth])


class Graph:
    """An ordered DAG of nodes. Iteration yields nodes in a topological order."""

    def __init__(self, nodes: Iterable[Node], outputs: Iterable[str] | None = None, *,
                 name: str = "model", meta: Mapping[str, Any] | None = None):
        self.name = name
        self.meta: dict[str, Any] = dict(meta or {})
        self._nodes: dict[str, Node] = {}
        for node in nodes:
            if node.name in self._nodes:
                raise DefinitionError(f"two layers are named '{node.name}'",
                                      file=node.file, line=node.line, layer=node.name)
            self._nodes[node.name] = node
        self._order = _topological_order(self._nodes)
        for node in self._nodes.values():
            owner = self._nodes.get(node.shares) if node.shares else None
            if node.shares and (owner is None or owner.op != node.op or owner.shares):
                raise DefinitionError(f"layer '{node.name}' shares the weights of '{node.shares}', "
                                      "which is not a layer of the same operator",
                                      file=node.file, line=node.line, layer=node.name)
        consumed = {src for n in self._nodes.values() for src in n.inputs}
        if outputs is None:
            outputs = [n for n in self._order if n not in consumed and self._nodes[n].op != "input"]
        self.outputs: tuple[str, ...] = tuple(outputs)
        for out in self.outputs:
            if out not in self._nodes:
                raise DefinitionError(f"output '{out}' is not a layer of the model")
        if not any(n.op == "input" for n in self._nodes.values()):
            raise DefinitionError("the model has no input")
        self._check_train_only()

    def _check_train_only(self) -> None:
        """A layer that runs at inference cannot read a training-only layer, and the model must
        have an output at inference."""
        for node in self._nodes.values():
            if node.train_only:
                continue
            for src in node.inputs:
                if self._nodes[src].train_only:
                    raise DefinitionError(f"layer '{node.name}' runs at inference but reads "
                                          f"'{src}', which runs only in training (train_only)",
                                          file=node.file, line=node.line, layer=node.name)
        if self.outputs and all(self._nodes[o].train_only for o in self.outputs):
            raise DefinitionError("every output of the model runs only in training (train_only): "
                                  "it has no output at inference")

    @property
    def train_only(self) -> tuple[str, ...]:
        """The layers that run only in training, in graph order."""
        return tuple(n for n in self._order if self._nodes[n].train_only)

    # -- access -------------------------------------------------------------------------------
    def __iter__(self) -> Iterator[Node]:
        return (self._nodes[n] for n in self._order)

    def __len__(self) -> int:
        return len(self._nodes)

    def __getitem__(self, name: str) -> Node:
        return self._nodes[name]

    def __contains__(self, name: object) -> bool:
        return name in self._nodes

    @property
    def inputs(self) -> tuple[str, ...]:
        return tuple(n for n in self._order if self._nodes[n].op == "input")

    @property
    def input_shape(self) -> tuple[int, ...]:
        """The shape (C, H, W) of the first input, without batch."""
        return tuple(self._nodes[self.inputs[0]].attrs["shape"])

    @cached_property
    def layer_kinds(self) -> dict[str, int]:
        """Node name -> a small int, equal for nodes with the same operator and arguments (the
        layers of repeated blocks); cnnstat.analyze evaluates each kind once per input shape.
        A node whose arguments cannot be compared (unhashable values) gets a kind of its own."""
        kinds: dict[Any, int] = {}
        out: dict[str, int] = {}
        for node in self:
            try:
                out[node.name] = kinds.setdefault((node.op, tuple(node.attrs.items())), len(kinds))
            except TypeError:
                out[node.name] = kinds.setdefault(object(), len(kinds))
        return out

    def consumers(self) -> dict[str, list[str]]:
        users: dict[str, list[str]] = {n: [] for n in self._order}
        for node in self:
            for src in node.inputs:
                users[src].append(node.name)
        return users

    def with_input_shape(self, shape: tuple[int, ...], input_name: str | None = None) -> "Graph":
        """A copy of the graph whose (first, or named) input has another shape."""
        target = input_name or self.inputs[0]
        nodes = [replace(n, attrs={**n.attrs, "shape": tuple(shape)})
                 if n.name == target else n for n in self]
        return Graph(nodes, self.outputs, name=self.name, meta=self.meta)


def _topological_order(nodes: Mapping[str, Node]) -> list[str]:
    """Kahn's algorithm, stable with respect to insertion order; reports the first cycle found."""
    for node in nodes.values():
        for src in node.inputs:
            if src not in nodes:
                raise DefinitionError(f"input '{src}' is not a layer of the model",
                                      file=node.file, line=node.line, layer=node.name)
    # Fast path: insertion order is already topological (always true for the YAML front end).
    seen: set[str] = set()
    in_order = True
    for name, node in nodes.items():
        if any(src not in seen for src in node.inputs):
            in_order = False
            break
        seen.add(name)
    if in_order:
        return list(nodes)

    indegree = {name: len(node.inputs) for name, node in nodes.items()}
    users: dict[str, list[str]] = {name: [] for name in nodes}
    for name, node in nodes.items():
        for src in node.inputs:
            users[src].append(name)
    ready = [name for name, deg in indegree.items() if deg == 0]
    order: list[str] = []
    while ready:
        name = ready.pop(0)
        order.append(name)
        for user in users[name]:
            indegree[user] -= 1
            if indegree[user] == 0:
                ready.append(user)
    if len(order) < len(nodes):
        stuck = [name for name in nodes if indegree[name] > 0]
        cycle = _find_cycle(nodes, set(stuck))
        first = nodes[cycle[0]]
        raise DefinitionError("the layers form a cycle: " + " -> ".join(cycle + [cycle[0]]),
                              file=first.file, line=first.line, layer=first.name)
    return order


def _find_cycle(nodes: Mapping[str, Node], candidates: set[str]) -> list[str]:
    start = next(iter(candidates))
    path: list[str] = []
    position: dict[str, int] = {}
    current = start
    while current not in position:
        position[current] = len(path)
        path.append(current)
        current = next(src for src in nodes[current].inputs if src in candidates)
    return list(reversed(path[position[current]:]))
