"""What every importer shares: an assembler that adds nodes to a layer graph while computing their
shapes with cnnstat's own rules, layer names, and the checks on options.

Computing shapes while importing serves two ends: attributes that depend on the input size (ONNX
SAME_UPPER padding with a stride, a Caffe Crop, an ONNX Reshape with 0 and -1) are resolved from
cnnstat's shapes, and an importer that also knows the source framework's shapes (torch.fx, ONNX
shape inference) can check that every layer agrees — a mapping mistake is then an error that names
the layer, never a silently wrong number.
"""

from __future__ import annotations

import os
import re
from typing import Any, Callable, Iterable, Mapping, Sequence

from ..errors import CnnstatError, DefinitionError, ShapeError, UsageError
from ..limits import MAX_INPUT_SIZE
from ..graph import Graph, Node
from ..ops import REGISTRY
from ..ops.base import Eval, Shape, evaluate, fmt_shape

_BAD = re.compile(r"[^A-Za-z0-9_.\-]+")


def clean_name(text: str) -> str:
    """A layer name from a source name: '/' and ':' become '.', so that a framework's scopes
    (``inception_3a/1x1``, ``/layer1/layer1.0/conv1/Conv``) become cnnstat's dotted groups that
    ``--depth`` collapses; other odd characters become '_'; empty parts are dropped."""
    text = text.replace("/", ".").replace(":", ".").replace("\\", ".")
    text = _BAD.sub("_", text)
    parts = [p for p in text.split(".") if p]
    return ".".join(parts) or "layer"


class Assembler:
    """Builds a graph node by node. Shapes include a batch of 1."""

    def __init__(self, name: str, *, file: str | None = None):
        self.name = name
        self.file = file
        self.nodes: list[Node] = []
        self.shapes: dict[str, Shape] = {}
        self.evals: dict[str, Eval] = {}
        self.warnings: list[str] = []
        self.groups: dict[str, str] = {}
        self._taken: set[str] = set()

    # -- names ----------------------------------------------------------------------------------
    def unique(self, base: str) -> str:
        """``base`` cleaned, or ``base_1``, ``base_2``... if taken."""
        base = clean_name(base)
        name, i = base, 0
        while name in self._taken:
            i += 1
            name = f"{base}_{i}"
        self._taken.add(name)
        return name

    # -- nodes ----------------------------------------------------------------------------------
    def input(self, shape: Sequence[int], name: str = "input", line: int | None = None) -> str:
        if not 2 <= len(shape) <= 4 or any(not isinstance(d, int) or d <= 0 for d in shape):
            raise DefinitionError(f"the input must be a batch of feature maps N x C x L, "
                                  f"N x C x H x W or N x C x D x H x W, got "
                                  f"{'x'.join(str(d) for d in shape) or 'a scalar'} (per sample)",
                                  file=self.file, line=line)
        if any(d > MAX_INPUT_SIZE for d in shape):
            raise DefinitionError(f"the input {'x'.join(map(str, shape))} is not a real input "
                                  f"(a size over {MAX_INPUT_SIZE:,})", file=self.file, line=line)
        name = self.unique(name)
        self.nodes.append(Node(name, "input", (), {"shape": tuple(shape)}, self.file, line))
        self.shapes[name] = (1,) + tuple(shape)
        return name

    def add(self, op: str, inputs: Sequence[str], kwargs: Mapping[str, Any] | None = None, *,
            name: str, line: int | None = None, shares: str | None = None,
            exact_name: bool = False) -> str:
        """Add a node (the arguments are checked by the operator's schema) and compute its shape.
        Returns the node's name, made unique unless ``exact_name``."""
        rule = REGISTRY[op]
        node_name = name if exact_name else self.unique(name)
        try:
            attrs = rule.bind([], dict(kwargs or {}))
        except CnnstatError as exc:
            raise exc.located(file=self.file, line=line, layer=node_name) from None
        ev = evaluate(rule, attrs, tuple(self.shapes[i] for i in inputs), file=self.file,
                      line=line, layer=node_name)
        self.nodes.append(Node(node_name, op, tuple(inputs), attrs, self.file, line, shares))
        self.shapes[node_name] = ev.shape
        self.evals[node_name] = ev
        return node_name

    def not_counted(self, what: str, inputs: Sequence[str], shape: Sequence[int], *, name: str,
                    params: int = 0, buffers: int = 0, line: int | None = None) -> str:
        """A call without a rule: output ``shape`` (without the batch) as the source reports it.
        ``what`` names the call as the source does (an ONNX op type, a Python class): control
        characters in it are made visible here, since it is shown wherever the layer is."""
        from ..render.escape import visible
        return self.add("not_counted", inputs, {"what": visible(what), "shape": list(shape),
                                                "params": params, "buffers": buffers},
                        name=name, line=line)

    def shape(self, name: str) -> Shape:
        return self.shapes[name]

    def graph(self, outputs: Iterable[str] | None = None, meta: Mapping[str, Any] | None = None
              ) -> Graph:
        info = dict(meta or {})
        if self.warnings:
            info["warnings"] = list(dict.fromkeys(self.warnings))
        info.setdefault("groups", self.groups)
        outs = list(dict.fromkeys(outputs)) if outputs is not None else None
        if outs is not None and any(self.shapes.get(o) is None for o in outs):
            raise DefinitionError("an output of the model is not a layer")
        if outs is not None and any(o in {n.name for n in self.nodes if n.op == "input"}
                                    for o in outs):
            raise DefinitionError("the model returns its input unchanged: nothing to analyze")
        return Graph(self.nodes, outs, name=self.name, meta=info)


def check_shape(assembler: Assembler, layer: str, expected: Sequence[int], source: str, *,
                of: str = "this layer", batch: int | None = None) -> None:
    """The shape cnnstat's rule computed for ``layer`` must be the one the source framework
    reports: ``expected`` is that shape, batch first; the batches are not compared unless
    ``batch`` says what the source's must be. Every importer that knows its source's shapes
    (ONNX shape inference, the torch capture) checks each layer here."""
    got = assembler.shapes[layer]
    if not expected or (batch is not None and expected[0] != batch) or \
            tuple(got[1:]) != tuple(expected[1:]):
        raise ShapeError(f"{source} gives {of} the output shape "
                         f"{'x'.join(map(str, expected[1:]))}, cnnstat's rule gives "
                         f"{fmt_shape(got)}: cannot import it faithfully",
                         file=assembler.file, layer=layer)


def distinct(keys: Iterable[Any]) -> list[Any]:
    out: list[Any] = []
    for key in keys:
        if not any(key is k for k in out):
            out.append(key)
    return out


class Rules(dict):
    """An importer's rule table: what the source calls an operation (an ONNX op type, a Caffe
    layer type, a torch function, module class or method name) → the function that imports it.
    ``on(*keys)`` is the registration decorator; a key registered twice is an error (one rule per
    source operation). ``what`` names the keys in that error."""

    def __init__(self, what: str):
        super().__init__()
        self.what = what

    def add(self, key: Any, fn: Callable) -> None:
        if key in self:
            raise RuntimeError(f"{self.what} {key!r} has two import rules "
                               f"({self[key].__name__} and {fn.__name__})")
        self[key] = fn

    def on(self, *keys: Any) -> Callable[[Callable], Callable]:
        def register(fn: Callable) -> Callable:
            for key in distinct(keys):   # aliases of one object (torch.relu_ is F.relu_) once
                self.add(key, fn)
            return fn
        return register


def no_definition_options(kind: str, overrides, variant) -> None:
    if overrides:
        raise UsageError(f"--set applies to definition files and zoo models, not to {kind}")
    if variant:
        raise UsageError(f"--variant applies to definition files, not to {kind}")


def no_builder_args(kind: str, args) -> None:
    if args:
        raise UsageError(f"--arg passes arguments to a Python model builder; {kind} takes none")


def model_file(kind: str, path: str, overrides, variant, args, options) -> None:
    """What a model file (``kind``: "an ONNX model", "a Caffe prototxt") refuses: definition
    options, builder arguments, unknown options; and a path that is not a file."""
    no_definition_options(kind, overrides, variant)
    no_builder_args(kind, args)
    if options:
        raise UsageError(f"unknown option(s) for {kind}: {', '.join(options)}")
    if not os.path.lexists(path):
        raise UsageError(f"{kind.split(' ', 1)[1]} '{path}' does not exist")
    from ..fileio import check_input
    check_input(path, f"the {kind.split(' ', 1)[1]}")     # a FIFO, a device, a folder: refused


def input_override(shape: Sequence[int], override, model: str | None = None) -> tuple[int, ...]:
    """Apply ``--input`` to a model's (C, *spatial), read against its spatial rank
    (cnnstat.model_options.resolve_input)."""
    from ..model_options import resolve_input
    return resolve_input(override, tuple(shape), model)
