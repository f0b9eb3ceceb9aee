"""YAML → plain Python values that remember their line numbers.

Mappings become :class:`LocDict` and sequences :class:`LocList`; both know the line of each key or
item, so every later error can point at the line the user wrote. Duplicate keys (which PyYAML
silently overwrites) are errors. The reader is bounded (cnnstat.limits): a file that is not a
regular file or is over the ``file_mb`` limit, binary data, or aliases that expand into more than
the ``values`` limit are rejected with one line.
"""

from __future__ import annotations

from typing import Any

from .. import limits
from ..errors import DefinitionError


def _yaml():
    """PyYAML, imported on first use (a zoo definition read from the cache never needs it)."""
    import yaml
    return yaml


def _loader():
    yaml = _yaml()
    # libyaml is ~10x faster; fall back to the pure-Python parser
    return getattr(yaml, "CSafeLoader", yaml.SafeLoader)


_PLAIN_TAGS = {"tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"}


class LocDict(dict):
    """A mapping with ``line`` (of the mapping) and ``lines[key]`` (of each key)."""
    __slots__ = ("line", "lines")

    def line_of(self, key: Any) -> int | None:
        return self.lines.get(key, self.line)


class LocList(list):
    """A sequence with ``line`` and ``lines[i]`` (of each item)."""
    __slots__ = ("line", "lines")

    def line_of(self, index: int) -> int | None:
        return self.lines[index] if 0 <= index < len(self.lines) else self.line


def read_text(path: str) -> str:
    """Read a definition file, refusing anything but a regular file, huge files and binary
    files before parsing them (cnnstat.fileio.read_input)."""
    from ..fileio import read_input
    data = read_input(path, "the definition")
    if b"\x00" in data:
        raise DefinitionError("this is a binary file, not a YAML definition", file=path)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise DefinitionError("the file is not UTF-8 text", file=path, line=line) from None


def load(text: str, filename: str | None = None) -> Any:
    """Parse YAML text into LocDict/LocList/scalars."""
    limit_mb = limits.value("file_mb")
    if len(text) > limit_mb * 1024 * 1024:
        raise limits.exceeded("file_mb", f"the definition is over {limit_mb:g} MB", file=filename)
    if not text.strip():
        raise DefinitionError("the definition is empty", file=filename)
    yaml = _yaml()
    try:
        node = yaml.compose(text, Loader=_loader())
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        raise DefinitionError(f"invalid YAML: {problem}", file=filename,
                              line=mark.line + 1 if mark else None) from None
    except yaml.YAMLError as exc:
        raise DefinitionError(f"invalid YAML: {exc}", file=filename) from None
    except RecursionError:
        raise DefinitionError("invalid YAML: nested too deeply", file=filename) from None
    if node is None:
        raise DefinitionError("the definition is empty", file=filename)
    return _Converter(filename).convert(node)


class _Converter:
    def __init__(self, filename: str | None):
        self.filename = filename
        self.count = 0
        self.max_values = limits.int_value("values")
        self.memo: dict[int, Any] = {}
        self.yaml = _yaml()
        self.scalars = self.yaml.constructor.SafeConstructor()

    def error(self, message: str, node: yaml.Node) -> DefinitionError:
        return DefinitionError(message, file=self.filename, line=node.start_mark.line + 1)

    def convert(self, root: yaml.Node) -> Any:
        # Iterative depth-first conversion: no recursion limit on deeply nested input.
        result_holder: list[Any] = []
        stack: list[tuple[yaml.Node, Any, Any]] = [(root, result_holder, None)]
        while stack:
            node, parent, key = stack.pop()
            value = self.memo.get(id(node))
            if value is None:
                self.count += 1
                if self.count > self.max_values:
                    raise limits.exceeded(
                        "values", f"the definition expands to more than {self.max_values:,} "
                        "values (aliases referring to aliases?)", file=self.filename,
                        line=node.start_mark.line + 1)
                value, children = self._shallow(node)
                self.memo[id(node)] = value
                stack.extend(reversed(children))
            if isinstance(parent, list):
                if key is None:
                    parent.append(value)
                else:
                    parent[key] = value
            else:
                parent[key] = value
        return result_holder[0]

    def _shallow(self, node: yaml.Node) -> tuple[Any, list]:
        yaml = self.yaml
        line = node.start_mark.line + 1
        if not isinstance(node, yaml.ScalarNode) and node.tag not in _PLAIN_TAGS:
            # e.g. !!python/object/apply on a list: a safe loader must not read it as a list
            raise self.error(f"unsupported YAML tag {node.tag}", node)
        if isinstance(node, yaml.MappingNode):
            out = LocDict()
            out.line, out.lines = line, {}
            children = []
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    raise self.error("mapping keys must be plain names", key_node)
                if key_node.tag == "tag:yaml.org,2002:merge":
                    raise self.error("YAML merge keys (<<) are not supported; use a block", key_node)
                key = self._scalar(key_node)
                if isinstance(key, list):
                    raise self.error("mapping keys must be plain names", key_node)
                if key in out.lines:
                    raise self.error(f"key '{key}' appears twice (first on line {out.lines[key]})",
                                     key_node)
                out.lines[key] = key_node.start_mark.line + 1
                out[key] = None
                children.append((value_node, out, key))
            return out, children
        if isinstance(node, yaml.SequenceNode):
            out_list = LocList([None] * len(node.value))
            out_list.line = line
            out_list.lines = [item.start_mark.line + 1 for item in node.value]
            return out_list, [(item, out_list, i) for i, item in enumerate(node.value)]
        return self._scalar(node), []

    def _scalar(self, node: yaml.Node) -> Any:
        if node.tag in ("tag:yaml.org,2002:binary", "tag:yaml.org,2002:timestamp",
                        "tag:yaml.org,2002:set", "tag:yaml.org,2002:omap",
                        "tag:yaml.org,2002:pairs"):
            if node.tag == "tag:yaml.org,2002:timestamp":
                return node.value
            raise self.error(f"unsupported YAML type {node.tag.rsplit(':', 1)[-1]}", node)
        try:
            return self.scalars.construct_object(node, deep=True)
        except self.yaml.YAMLError as exc:
            raise self.error(f"invalid YAML value: {exc}", node) from None


# -- the located tree as JSON (cnnstat.zoo caches its parsed definitions) -------------------------
def to_plain(value: Any) -> Any:
    """LocDict/LocList/scalars → JSON-able values that keep every line number. A mapping is
    ``{"m": line, "k": [[key, key line, value], ...]}`` (keys keep their YAML type), a sequence
    ``{"s": line, "l": [item lines], "v": [items]}``; scalars stay as they are."""
    if isinstance(value, LocDict):
        return {"m": value.line, "k": [[k, value.lines.get(k), to_plain(v)] for k, v in value.items()]}
    if isinstance(value, LocList):
        return {"s": value.line, "l": list(value.lines), "v": [to_plain(v) for v in value]}
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise TypeError(f"not a located YAML value: {type(value).__name__}")


def from_plain(value: Any) -> Any:
    """The inverse of :func:`to_plain`."""
    if isinstance(value, dict):
        if "m" in value:
            out = LocDict()
            out.line, out.lines = value["m"], {}
            for k, line, v in value["k"]:
                out.lines[k] = line
                out[k] = from_plain(v)
            return out
        items = LocList(from_plain(v) for v in value["v"])
        items.line, items.lines = value["s"], list(value["l"])
        return items
    return value
