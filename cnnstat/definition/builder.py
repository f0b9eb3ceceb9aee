"""Definition (located YAML values) → layer graph.

The format is documented in docs/format.md. In short, a model is a list of *entries*; each entry
is a layer (an operator call), a block call, a group of entries, a set of parallel branches with a
merge, or a repeated body. Entries run in order; each one reads the output of the previous entry
(``prev``) unless ``from`` names other layers. Names in expressions resolve, innermost first, to
block parameters / the repeat index, then layer names, then the file's variables.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field, replace
from typing import Any

from .. import limits
from ..errors import CnnstatError, DefinitionError
from ..limits import MAX_INPUT_SIZE
from ..graph import Graph, Node
from ..ops import REGISTRY
from ..render.escape import has_control, show
from .expr import Budget, ExprError, Evaluator, parse
from .yamlsrc import LocDict, LocList

# The layers, repeats, list values (after YAML alias expansion), block nesting and expression
# work of one model are bounded by cnnstat.limits ("layers", "values", "depth", "expr_steps").
#: top-level keys that are one line of text (shown as titles, table cells, file names)
ONE_LINE_KEYS = ("name", "title", "paper", "year", "url", "family")
#: top-level keys of free text (a newline is fine; other control characters are not)
TEXT_KEYS = ("description", "notes")

#: the definition's own description, copied into the graph's metadata (in this order)
META_KEYS = ("name", "title", "description", "paper", "year", "url", "notes", "family", "reference")

TOP_KEYS = {"name", "title", "description", "paper", "year", "url", "notes", "reference", "family",
            "default", "input", "vars", "variants", "blocks", "layers", "outputs", "other_inputs"}
VARIANT_META_KEYS = {"input", "title", "notes", "reference", "paper", "year", "description",
                     "other_inputs"}
ENTRY_KEYS = {"op", "call", "from", "repeat", "index", "if", "layers", "branches", "merge",
              "name", "output", "train_only"}
RESERVED_NAMES = {"input", "prev", "true", "false", "none", "True", "False", "None"}
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Ref:
    """A tensor of the graph under construction (the output of a node or the model input)."""
    node: str

    def describe_value(self) -> str:
        return f"layer '{self.node}'"


@dataclass(frozen=True)
class OpValue:
    """An operator named as a value (a block argument), called later."""
    name: str

    def describe_value(self) -> str:
        return f"operator '{self.name}'"


@dataclass
class Block:
    """A block definition: its parameters (with defaults) and its entries."""
    name: str
    params: list[tuple[str, str | None]]       # (name, default expression source or None)
    body: Any
    line: int | None

    def describe_value(self) -> str:
        return f"block '{self.name}'"


@dataclass
class Frame:
    """Names in scope: block parameters and the repeat index, then the enclosing frame."""
    vars: dict[str, Any] = field(default_factory=dict)
    parent: "Frame | None" = None
    nodes: dict[str, Ref] = field(default_factory=dict)


@dataclass
class Definition:
    """A parsed definition file, before a variant is chosen."""
    doc: LocDict
    file: str | None

    @property
    def variants(self) -> list[str]:
        v = self.doc.get("variants")
        return list(v) if isinstance(v, dict) else []

    @property
    def default_variant(self) -> str | None:
        default = self.doc.get("default")
        if default is not None:
            return str(default)
        return self.variants[0] if self.variants else None


def _err(message: str, file: str | None, line: int | None, layer: str | None = None) -> DefinitionError:
    return DefinitionError(message, file=file, line=line, layer=layer)


class GraphBuilder:
    def __init__(self, definition: Definition, variant: str | None = None,
                 overrides: dict[str, str] | None = None,
                 input_shape: tuple[int, ...] | None = None):
        self.file = definition.file
        self.doc = definition.doc
        self.definition = definition
        self.variant = variant
        self.overrides = dict(overrides or {})
        self.input_override = input_shape
        self.nodes: list[Node] = []
        self.names: set[str] = set()
        self.block_stack: list[str] = []
        self.extra_outputs: list[str] = []
        self.blocks: dict[str, Block] = {}
        self.global_frame = Frame()
        self._entry_has_from = False
        self.max_nodes = limits.int_value("layers")
        self.max_values = limits.int_value("values")
        self.max_depth = limits.int_value("depth")
        self._budget = self.max_values
        self.expr_budget = Budget()
        self.group_labels: dict[str, str] = {}
        self._variant_lines: LocDict = LocDict()
        self._train_only = 0            # > 0 while building inside a train_only entry

    # -- entry point ------------------------------------------------------------------------
    def build(self) -> Graph:
        doc = self.doc
        if not isinstance(doc, LocDict):
            raise _err("a definition is a mapping with at least 'input' and 'layers'", self.file, 1)
        for key in doc:
            if key not in TOP_KEYS:
                raise _err(f"unknown top-level key '{key}'{_hint(key, TOP_KEYS)}; "
                           f"known keys: {', '.join(sorted(TOP_KEYS))}", self.file, doc.line_of(key))
        for key in ("input", "layers"):
            if key not in doc:
                raise _err(f"the definition has no '{key}'", self.file, doc.line)
        variant_values, variant_meta = self._select_variant()
        self._check_text(doc, variant_meta)
        self._read_blocks()
        self._read_vars(variant_values)
        shape = self._input_shape(variant_meta)
        self._add(Node("input", "input", (), {"shape": shape}, self.file, doc.line_of("input")))
        top = Frame(parent=self.global_frame)
        out = self.run_sequence(doc["layers"], top, "", Ref("input"), doc.line_of("layers"))
        outputs = self._outputs(top, out)
        meta = {k: doc[k] for k in META_KEYS + ("other_inputs",) if k in doc}
        meta.update({k: v for k, v in variant_meta.items() if k != "input"})
        meta["variant"] = self.variant
        meta["vars"] = {k: v for k, v in self.global_frame.vars.items()
                        if isinstance(v, (int, float, str, bool, list)) or v is None}
        meta["file"] = self.file
        meta["groups"] = self.group_labels
        meta["default_input"] = self.default_input     # the definition's own input size
        name = self.variant or str(doc.get("name", "model"))
        return Graph(self.nodes, outputs, name=name, meta=meta)

    def header(self) -> dict:
        """Variables, input shape and metadata of the chosen variant, without building layers."""
        variant_values, variant_meta = self._select_variant()
        self._check_text(self.doc, variant_meta)
        self._read_blocks()
        self._read_vars(variant_values)
        meta = {k: self.doc[k] for k in META_KEYS if k in self.doc}
        meta.update({k: v for k, v in variant_meta.items() if k != "input"})
        meta["input"] = self._input_shape(variant_meta)
        meta["variant"] = self.variant
        return meta

    # -- header: text, variants, blocks, vars, input -----------------------------------------
    def _check_text(self, doc: LocDict, variant_meta: dict) -> None:
        """Names and titles are one line of text, notes free text, neither with control
        characters: they are printed in terminals, tables, reports and file names."""
        if self.variant is not None and has_control(str(self.variant)):
            raise _err(f"variant name {show(self.variant, 80)} holds control characters",
                       self.file, doc.line_of("variants"))
        for source, lines in ((doc, doc), (variant_meta, self._variant_lines)):
            for key in ONE_LINE_KEYS + TEXT_KEYS:
                value = source.get(key)
                if value is None:
                    continue
                if not isinstance(value, (str, int, float)) or isinstance(value, bool):
                    raise _err(f"'{key}' must be text, got {show(value, 80)}", self.file,
                               lines.line_of(key))
                if not isinstance(value, str):
                    continue
                if has_control(str(value), newlines=key in TEXT_KEYS):
                    kind = "control characters" if key in TEXT_KEYS else \
                        "a newline or control characters"
                    raise _err(f"'{key}' holds {kind}: {show(str(value), 80)}", self.file,
                               lines.line_of(key))

    # -- header: variants, blocks, vars, input -----------------------------------------------
    def _select_variant(self) -> tuple[dict, dict]:
        variants = self.doc.get("variants")
        if variants is None:
            if self.variant is not None:
                raise _err(f"this definition has no variants (asked for '{self.variant}')",
                           self.file, self.doc.line)
            return {}, {}
        if not isinstance(variants, LocDict):
            raise _err("'variants' must map variant names to their settings", self.file,
                       self.doc.line_of("variants"))
        if self.variant is None:
            self.variant = self.definition.default_variant
        if self.variant not in variants:
            raise _err(f"unknown variant '{self.variant}'{_hint(self.variant, variants)}; "
                       f"variants: {', '.join(variants)}", self.file, self.doc.line_of("variants"))
        settings = variants[self.variant] or LocDict()
        if not isinstance(settings, dict):
            raise _err(f"variant '{self.variant}' must be a mapping of variable values", self.file,
                       variants.line_of(self.variant))
        values = {k: v for k, v in settings.items() if k not in VARIANT_META_KEYS}
        meta = {k: v for k, v in settings.items() if k in VARIANT_META_KEYS}
        if isinstance(settings, LocDict):
            self._variant_lines = settings
        return values, meta

    def _read_blocks(self) -> None:
        blocks = self.doc.get("blocks") or {}
        if not isinstance(blocks, dict):
            raise _err("'blocks' must map block signatures to lists of layers", self.file,
                       self.doc.line_of("blocks"))
        for header, body in blocks.items():
            line = blocks.line_of(header)
            name, params = _parse_signature(str(header), self.file, line)
            if name in REGISTRY:
                raise _err(f"block '{name}' has the name of an operator", self.file, line)
            if name in self.blocks:
                raise _err(f"block '{name}' is defined twice", self.file, line)
            self.blocks[name] = Block(name, params, body, line)

    def _read_vars(self, variant_values: dict) -> None:
        declared = self.doc.get("vars") or LocDict()
        if not isinstance(declared, dict):
            raise _err("'vars' must map names to values", self.file, self.doc.line_of("vars"))
        for source, values in (("variant", variant_values), ("--set", self.overrides)):
            for key in values:
                if key not in declared:
                    line = self._variant_lines.line_of(key) if source == "variant" else None
                    raise _err(f"{source} sets unknown variable '{key}'{_hint(key, declared)}; "
                               f"variables: {', '.join(declared) or 'none'}",
                               self.file if source == "variant" else None, line)
        frame = self.global_frame
        for name, raw in declared.items():
            line = declared.line_of(name)
            if not isinstance(name, str) or not _IDENT.match(name) or name in RESERVED_NAMES:
                raise _err(f"'{name}' cannot be a variable name", self.file, line)
            if name in self.overrides:
                raw, line = self.overrides[name], None
                try:
                    frame.vars[name] = self.value(raw, frame)
                except CnnstatError as exc:
                    raise DefinitionError(f"--set {name}={raw}: {exc.message}") from None
                continue
            if name in variant_values:
                raw, line = variant_values[name], self._variant_lines.line_of(name)
            try:
                frame.vars[name] = self.value(raw, frame)
            except CnnstatError as exc:
                raise exc.located(file=self.file, line=line) from None

    def _input_shape(self, variant_meta: dict) -> tuple[int, ...]:
        raw = variant_meta.get("input", self.doc["input"])
        line = self.doc.line_of("input")
        try:
            value = self.value(raw, self.global_frame)
        except CnnstatError as exc:
            raise exc.located(file=self.file, line=line) from None
        if not isinstance(value, list) or not 2 <= len(value) <= 4:
            raise _err("'input' must be [channels, length], [channels, height, width] or "
                       f"[channels, depth, height, width], got {show(value, 100)}", self.file, line)
        shape = []
        for v in value:
            if isinstance(v, float) and v.is_integer():
                v = int(v)
            if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
                raise _err(f"'input' sizes must be positive integers, got {show(value, 100)}",
                           self.file, line)
            if v > MAX_INPUT_SIZE:
                raise _err(f"'input' size {v:,} is not a real input (over {MAX_INPUT_SIZE:,})",
                           self.file, line)
            shape.append(v)
        self.default_input = tuple(shape)
        if self.input_override is not None:  # --input, read against the definition's rank
            from ..model_options import resolve_input
            shape = list(resolve_input(self.input_override, tuple(shape),
                                       self.variant or str(self.doc.get("name", self.file))))
        return tuple(shape)

    def _outputs(self, top: Frame, last: Ref) -> list[str]:
        declared = self.doc.get("outputs")
        if declared is None:
            outs = [last.node] + [o for o in self.extra_outputs if o != last.node]
        else:
            if not isinstance(declared, list):
                declared = [declared]
            outs = []
            for name in declared:
                ref = top.nodes.get(str(name))
                if ref is None:
                    raise _err(f"output '{name}' is not a top-level layer name", self.file,
                               self.doc.line_of("outputs"))
                outs.append(ref.node)
        if "input" in outs:
            raise _err("the model has no layers: its output is its input", self.file,
                       self.doc.line_of("layers"))
        return outs

    # -- values -------------------------------------------------------------------------------
    def lookup(self, frame: Frame):
        def find(name: str) -> Any:
            f: Frame | None = frame
            while f is not None:
                if name in f.vars:
                    return f.vars[name]
                if name in f.nodes:
                    return f.nodes[name]
                f = f.parent
            if name in self.blocks:
                return self.blocks[name]
            if name in REGISTRY:
                return OpValue(name)
            raise KeyError(name)
        return find

    def value(self, raw: Any, frame: Frame) -> Any:
        """A YAML value with its strings evaluated as expressions (recursively in lists)."""
        if isinstance(raw, str):
            return Evaluator(self.lookup(frame), raw, self.expr_budget)(parse(raw))
        if isinstance(raw, list):
            self._budget -= len(raw)
            if self._budget < 0:  # YAML aliases can nest lists into billions of elements
                raise limits.exceeded("values", f"the definition's lists expand to more than "
                                      f"{self.max_values:,} values (aliases of aliases?)")
            return [self.value(v, frame) for v in raw]
        if isinstance(raw, dict):
            raise DefinitionError("a mapping is not a value here")
        return raw

    # -- sequences and entries -------------------------------------------------------------------
    def run_sequence(self, entries: Any, frame: Frame, prefix: str, input_ref: Ref,
                     line: int | None) -> Ref:
        if entries is None:
            return input_ref
        if not isinstance(entries, list):
            entries = LocList([entries])
            entries.line, entries.lines = line, [line]
        frame.nodes["input"] = input_ref
        frame.nodes["prev"] = input_ref
        local: set[str] = set()
        for index, entry in enumerate(entries):
            entry_line = entries.line_of(index) if isinstance(entries, LocList) else line
            name, spec, spec_line = self._split_entry(entry, entry_line)
            full = prefix + (name if name is not None else str(index))
            try:
                if name is not None:
                    self._check_layer_name(name, local, frame)
                out, side = self.run_entry(spec, frame, full, spec_line)
            except CnnstatError as exc:
                raise exc.located(file=self.file, line=spec_line, layer=full) from None
            if name is not None:
                local.add(name)
                frame.nodes[name] = out
            if side:
                self.extra_outputs.append(out.node)
            else:
                frame.nodes["prev"] = out
        return frame.nodes["prev"]

    def _split_entry(self, entry: Any, line: int | None) -> tuple[str | None, dict, int | None]:
        if isinstance(entry, str):
            return None, {"call": entry}, line
        if isinstance(entry, dict):
            if any(k in ENTRY_KEYS for k in entry):
                name = entry.get("name")
                if name is not None and not isinstance(name, str):
                    raise _err(f"layer name {show(name, 80)} must be text", self.file, line)
                return name, entry, line
            if len(entry) == 1:
                name, value = next(iter(entry.items()))
                if not isinstance(name, str):
                    raise _err(f"layer name {show(name, 80)} must be text", self.file, line)
                if isinstance(value, str):
                    return name, {"call": value}, line
                if isinstance(value, list):
                    return name, {"layers": value}, line
                if isinstance(value, dict):
                    unknown = [k for k in value if k not in ENTRY_KEYS]
                    if unknown and "op" not in value:
                        raise _err(f"unknown key '{unknown[0]}' in layer '{name}'"
                                   f"{_hint(unknown[0], ENTRY_KEYS)}; an entry uses "
                                   f"{', '.join(sorted(ENTRY_KEYS))}",
                                   self.file, value.line_of(unknown[0]) if isinstance(value, LocDict) else line)
                    return name, value, line
                raise _err(f"layer '{name}' has no operator (write '{name}: relu', "
                           f"'{name}: conv2d(64, 3)' or a list of layers)", self.file, line)
            keys = ", ".join(map(str, entry))
            raise _err(f"cannot read this entry ({keys}): an entry is 'op(args)', 'name: op(args)', "
                       "'name: [entries]' or a mapping with op/call/layers/branches/repeat",
                       self.file, line)
        raise _err(f"cannot read entry {show(entry, 100)}: expected an operator call such as "
                   "'conv2d(64, 3)' or 'name: relu'", self.file, line)

    def _check_layer_name(self, name: str, local: set[str], frame: Frame) -> None:
        if not _IDENT.match(name):
            raise DefinitionError(f"'{name}' is not a valid layer name (letters, digits, _)")
        if name in RESERVED_NAMES:
            raise DefinitionError(f"'{name}' is reserved and cannot name a layer")
        if name in local:
            raise DefinitionError(f"the name '{name}' is used twice in this sequence")
        f: Frame | None = frame
        while f is not None:
            if name in f.vars:
                raise DefinitionError(f"layer name '{name}' is also a variable; rename one of them")
            f = f.parent

    def run_entry(self, spec: dict, frame: Frame, full: str, line: int | None) -> tuple[Ref, bool]:
        """Build one entry; every layer of an entry marked ``train_only: true`` runs only in
        training (it is marked on the nodes, which keep their weights in every mode)."""
        own = _op_arguments(spec)
        train_only = "train_only" not in own and "train_only" in spec
        if train_only:
            flag = self.value(spec["train_only"], frame)
            if not isinstance(flag, bool):
                raise DefinitionError(f"'train_only' must be true or false, got {flag!r}")
            train_only = flag
        self._train_only += train_only
        try:
            return self._run_entry(spec, frame, full, line)
        finally:
            self._train_only -= train_only

    def _run_entry(self, spec: dict, frame: Frame, full: str, line: int | None) -> tuple[Ref, bool]:
        bodies = [k for k in ("call", "op", "layers", "branches") if k in spec]
        if len(bodies) != 1:
            raise DefinitionError("an entry needs exactly one of call, op, layers, branches"
                                  + (f" (it has {', '.join(bodies)})" if bodies else ""))
        if "merge" in spec and "branches" not in spec:
            raise DefinitionError("'merge' only goes with 'branches'")
        if "op" not in spec:
            unknown = [k for k in spec if k not in ENTRY_KEYS]
            if unknown:
                raise DefinitionError(f"unknown key '{unknown[0]}'{_hint(unknown[0], ENTRY_KEYS)}")
        own = _op_arguments(spec)
        side = "output" not in own and bool(self.value(spec.get("output", False), frame))
        inputs = self._inputs(spec, frame)
        self._entry_has_from = "from" in spec
        if "if" in spec:
            condition = self.value(spec["if"], frame)
            if not isinstance(condition, (bool, int)):
                raise DefinitionError(f"'if' must be true or false, got {show(condition, 80)}")
            if not condition:
                if len(inputs) != 1:
                    raise DefinitionError("a skipped entry ('if' false) must have one input")
                # A skipped extra output (an optional auxiliary head) is no output at all: its
                # input must not become one of the model's outputs.
                return inputs[0], False
        if "repeat" in spec:
            count = self.value(spec["repeat"], frame)
            if isinstance(count, float) and count.is_integer():
                count = int(count)
            if not isinstance(count, int) or isinstance(count, bool) or count < 0:
                raise DefinitionError(f"'repeat' must be a non-negative integer, got "
                                      f"{show(count, 80)}")
            if count > self.max_nodes:
                raise limits.exceeded("layers", f"'repeat: {count}' is more than "
                                      f"{self.max_nodes:,}")
            index = "i" if "index" in own else spec.get("index", "i")
            if not isinstance(index, str) or not _IDENT.match(index):
                raise DefinitionError(f"'index' must be a name, got {show(index, 80)}")
            if len(inputs) != 1:
                raise DefinitionError("a repeated entry takes one input")
            current = inputs[0]
            self.group_labels[full] = f"{count} x {_body_label(spec)}"
            for r in range(count):
                child = Frame(vars={index: r}, parent=frame)
                current = self.run_body(spec, child, f"{full}.{r}", [current], line)
            return current, side
        return self.run_body(spec, frame, full, inputs, line), side

    def _inputs(self, spec: dict, frame: Frame) -> list[Ref]:
        if "from" not in spec:
            return [frame.nodes["prev"]]
        value = self.value(spec["from"], frame)
        refs = value if isinstance(value, list) else [value]
        for ref in refs:
            if not isinstance(ref, Ref):
                raise DefinitionError(f"'from' must name earlier layers, got {_show(ref)}")
        if not refs:
            raise DefinitionError("'from' is empty")
        return refs

    def run_body(self, spec: dict, frame: Frame, full: str, inputs: list[Ref],
                 line: int | None) -> Ref:
        if "layers" in spec:
            if len(inputs) != 1:
                raise DefinitionError("a group of layers takes one input")
            body = spec["layers"]
            self.group_labels.setdefault(full, "group")
            return self.run_sequence(body, Frame(parent=frame), full + ".", inputs[0],
                                     body.line if isinstance(body, LocList) else line)
        if "branches" in spec:
            return self._run_branches(spec, frame, full, inputs, line)
        if "op" in spec:
            op = spec["op"]
            if not isinstance(op, str):
                raise DefinitionError(f"'op' must be an operator name, got {show(op, 80)}")
            own = _op_arguments(spec)
            kwargs = {k: self.value(v, frame) for k, v in spec.items()
                      if k not in ENTRY_KEYS or k in own}
            return self._call(self._callee(op, frame), [], kwargs, frame, full, inputs, line)
        call = spec["call"]
        if not isinstance(call, str):
            raise DefinitionError(f"'call' must be text such as 'conv2d(64, 3)', got "
                                  f"{show(call, 80)}")
        return self._call_source(call, frame, full, inputs, line)

    def _run_branches(self, spec: dict, frame: Frame, full: str, inputs: list[Ref],
                      line: int | None) -> Ref:
        branches = spec["branches"]
        if not isinstance(branches, dict) or not branches:
            raise DefinitionError("'branches' must map branch names to their layers")
        if len(inputs) != 1:
            raise DefinitionError("branches take one input")
        outs: list[Ref] = []
        self.group_labels.setdefault(full, f"{len(branches)} branches")
        for bname, body in branches.items():
            bline = branches.line_of(bname) if isinstance(branches, LocDict) else line
            if not isinstance(bname, str) or not _IDENT.match(bname):
                raise _err(f"'{bname}' is not a valid branch name", self.file, bline)
            bfull = f"{full}.{bname}"
            try:
                child = Frame(parent=frame, nodes={"input": inputs[0], "prev": inputs[0]})
                if body is None or body == [] or body == "identity()":
                    outs.append(inputs[0])
                elif isinstance(body, str):
                    outs.append(self._call_source(body, child, bfull, inputs, bline))
                elif isinstance(body, list):
                    outs.append(self.run_sequence(body, child, bfull + ".", inputs[0], bline))
                elif isinstance(body, dict):
                    name, bspec, _ = self._split_entry(body, bline)
                    outs.append(self.run_entry(bspec, child, bfull, bline)[0])
                else:
                    raise DefinitionError(f"branch '{bname}' must be a call, a list of layers or "
                                          "empty (identity)")
            except CnnstatError as exc:
                raise exc.located(file=self.file, line=bline, layer=bfull) from None
        merge = spec.get("merge", "concat")
        if not isinstance(merge, str):
            raise DefinitionError(f"'merge' must be concat, add or multiply, got {show(merge, 80)}")
        tree = parse(merge)
        callee_node = tree.func if isinstance(tree, ast.Call) else tree
        if not isinstance(callee_node, ast.Name) or callee_node.id not in REGISTRY \
                or REGISTRY[callee_node.id].arity is not None:
            raise DefinitionError(f"'merge' must be a merge operator (concat, add, multiply), "
                                  f"got '{merge}'")
        kwargs = {}
        if isinstance(tree, ast.Call):
            if tree.args:
                raise DefinitionError("'merge' takes options only (e.g. concat(crop='center')); "
                                      "its inputs are the branches")
            ev = Evaluator(self.lookup(frame), merge, self.expr_budget)
            kwargs = {k.arg: ev(k.value) for k in tree.keywords}
        op = callee_node.id
        return self._make_node(op, outs, kwargs, f"{full}.{op}", line)

    # -- calls --------------------------------------------------------------------------------
    def _callee(self, name: str, frame: Frame) -> Any:
        f: Frame | None = frame
        while f is not None:
            value = f.vars.get(name)
            if isinstance(value, (Block, OpValue)):
                return value
            f = f.parent
        if name in self.blocks:
            return self.blocks[name]
        if name in REGISTRY:
            return OpValue(name)
        known = list(REGISTRY) + list(self.blocks)
        raise DefinitionError(f"unknown operator or block '{name}'{_hint(name, known)}")

    def _call_source(self, source: str, frame: Frame, full: str, inputs: list[Ref],
                     line: int | None) -> Ref:
        tree = parse(source)
        if isinstance(tree, ast.Name):
            return self._call(self._callee(tree.id, frame), [], {}, frame, full, inputs, line)
        if not isinstance(tree, ast.Call) or not isinstance(tree.func, ast.Name):
            raise DefinitionError(f"'{source}' is not a layer: write an operator or block call "
                                  "such as conv2d(64, 3)")
        callee = self._callee(tree.func.id, frame)
        ev = Evaluator(self.lookup(frame), source, self.expr_budget)
        if any(isinstance(a, ast.Starred) for a in tree.args) or any(k.arg is None for k in tree.keywords):
            raise DefinitionError(f"* and ** arguments are not allowed (in '{source}')")
        args = [ev(a) for a in tree.args]
        kwargs = {}
        for k in tree.keywords:
            if k.arg in kwargs:
                raise DefinitionError(f"argument '{k.arg}' is given twice (in '{source}')")
            kwargs[k.arg] = ev(k.value)
        return self._call(callee, args, kwargs, frame, full, inputs, line)

    def _call(self, callee: Any, args: list, kwargs: dict, frame: Frame, full: str,
              inputs: list[Ref], line: int | None) -> Ref:
        if isinstance(callee, Block):
            if len(inputs) != 1:
                raise DefinitionError(f"block '{callee.name}' takes one input; pass other layers "
                                      "as arguments")
            return self._run_block(callee, args, kwargs, full, inputs[0])
        rule = REGISTRY[callee.name]
        if rule.arity is None:  # a merge: its inputs are the layers given as positional arguments
            if args:
                refs = args
                if any(not isinstance(r, Ref) for r in refs):
                    bad = next(r for r in refs if not isinstance(r, Ref))
                    raise DefinitionError(f"{rule.name}: its positional arguments are the layers "
                                          f"to merge, got {_show(bad)}")
                if self._entry_has_from:
                    raise DefinitionError(f"{rule.name}: give the inputs either as arguments or "
                                          "with 'from', not both")
            elif len(inputs) >= 2:
                refs = inputs
            else:
                raise DefinitionError(f"{rule.name} needs the layers to merge, e.g. "
                                      f"{rule.name}(prev, shortcut)")
            return self._make_node(rule.name, refs, kwargs, full, line)
        if len(inputs) != 1:
            raise DefinitionError(f"{rule.name} takes one input, 'from' gives {len(inputs)}")
        return self._make_node(rule.name, inputs, kwargs, full, line, args)

    def _make_node(self, op: str, inputs: list[Ref], kwargs: dict, full: str, line: int | None,
                   args: list | None = None) -> Ref:
        rule = REGISTRY[op]
        for value in list(args or []) + list(kwargs.values()):
            if _contains_ref(value):
                raise DefinitionError(f"{op}: {_show(_first_ref(value))} is a layer, not a value "
                                      "(only merges take layers as arguments)")
            if isinstance(value, (Block, OpValue)):
                raise DefinitionError(f"{op}: {value.describe_value()} is not a value")
        attrs = rule.bind(args or [], kwargs)
        self._add(Node(full, op, tuple(r.node for r in inputs), attrs, self.file, line))
        return Ref(full)

    def _run_block(self, block: Block, args: list, kwargs: dict, full: str, input_ref: Ref) -> Ref:
        if block.name in self.block_stack:
            chain = " -> ".join(self.block_stack + [block.name])
            raise DefinitionError(f"block '{block.name}' calls itself ({chain})")
        if len(self.block_stack) >= self.max_depth:
            raise limits.exceeded("depth", f"blocks are nested more than {self.max_depth} deep")
        names = [p for p, _ in block.params]
        if len(args) > len(names):
            raise DefinitionError(f"block '{block.name}' takes {len(names)} argument(s) "
                                  f"({', '.join(names)}), got {len(args)}")
        bound: dict[str, Any] = dict(zip(names, args))
        for key, value in kwargs.items():
            if key not in names:
                raise DefinitionError(f"block '{block.name}' has no parameter '{key}'"
                                      f"{_hint(key, names)}; it takes {', '.join(names) or 'none'}")
            if key in bound:
                raise DefinitionError(f"block '{block.name}' got two values for '{key}'")
            bound[key] = value
        frame = Frame(vars={}, parent=self.global_frame)
        for pname, default in block.params:
            if pname in bound:
                frame.vars[pname] = bound[pname]
            elif default is None:
                raise DefinitionError(f"block '{block.name}' needs '{pname}'")
            else:  # defaults may use the file's variables and the parameters before them
                try:
                    frame.vars[pname] = Evaluator(self.lookup(frame), default,
                                                  self.expr_budget)(parse(default))
                except CnnstatError as exc:
                    raise exc.located(line=block.line) from None
        self.group_labels.setdefault(full, block.name)
        self.block_stack.append(block.name)
        try:
            return self.run_sequence(block.body, frame, full + ".", input_ref, block.line)
        finally:
            self.block_stack.pop()

    def _add(self, node: Node) -> None:
        if node.name in self.names:
            raise DefinitionError(f"two layers would be named '{node.name}'")
        if len(self.nodes) >= self.max_nodes:
            raise limits.exceeded("layers", f"the model has more than {self.max_nodes:,} layers")
        if self._train_only and node.op != "input":
            node = replace(node, train_only=True)
        self.names.add(node.name)
        self.nodes.append(node)


def _parse_signature(header: str, file: str | None, line: int | None) -> tuple[str, list]:
    """'bottleneck(planes, stride=1)' → ('bottleneck', [('planes', None), ('stride', '1')])."""
    source = header if "(" in header else header + "()"
    try:
        fn = ast.parse(f"def {source}: pass").body[0]
    except SyntaxError:
        raise _err(f"cannot read block header '{header}': write name(param, param=default)",
                   file, line) from None
    assert isinstance(fn, ast.FunctionDef)
    a = fn.args
    if a.vararg or a.kwarg or a.kwonlyargs or a.posonlyargs:
        raise _err(f"block '{fn.name}': only plain parameters with defaults are allowed", file, line)
    names = [p.arg for p in a.args]
    for p in names:
        if p in RESERVED_NAMES:
            raise _err(f"block '{fn.name}': '{p}' is reserved", file, line)
    defaults: list[str | None] = [None] * (len(names) - len(a.defaults)) + [
        ast.unparse(d) for d in a.defaults]
    return fn.name, list(zip(names, defaults))


def _op_arguments(spec: dict) -> set[str]:
    """Keys of a long-form ``op`` entry that are entry keys by name but the operator's own
    arguments (adaptive pooling's ``output``, chunk's ``index``): there they go to the operator."""
    op = spec.get("op")
    rule = REGISTRY.get(op) if isinstance(op, str) else None
    return {p.name for p in rule.params} & ENTRY_KEYS if rule is not None else set()


def _body_label(spec: dict) -> str:
    if "call" in spec and isinstance(spec["call"], str):
        return spec["call"].split("(", 1)[0].strip()
    if "op" in spec:
        return str(spec["op"])
    return "branches" if "branches" in spec else "group"


def _contains_ref(value: Any) -> bool:
    if isinstance(value, Ref):
        return True
    if isinstance(value, list):
        return any(_contains_ref(v) for v in value)
    return False


def _first_ref(value: Any) -> Any:
    if isinstance(value, list):
        return next(_first_ref(v) for v in value if _contains_ref(v))
    return value


def _show(value: Any) -> str:
    describe = getattr(value, "describe_value", None)
    return describe() if describe else repr(value)


def _hint(word: Any, options: Any) -> str:
    from ..suggest import did_you_mean
    return did_you_mean(word, options)


__all__ = ["Definition", "GraphBuilder", "Ref", "Block", "ExprError"]
