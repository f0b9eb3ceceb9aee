"""The YAML definition format (docs/format.md): text → :class:`Definition` → layer graph."""

from __future__ import annotations

from ..errors import DefinitionError
from ..graph import Graph
from .builder import Definition, GraphBuilder
from .yamlsrc import LocDict, load, read_text


def parse_definition(text: str, filename: str | None = None) -> Definition:
    """Parse definition text (YAML) without building a graph yet."""
    doc = load(text, filename)
    if not isinstance(doc, LocDict):
        raise DefinitionError("a definition is a YAML mapping with 'input' and 'layers'",
                              file=filename, line=1)
    return Definition(doc, filename)


def load_definition(path: str) -> Definition:
    """Read and parse a definition file."""
    return parse_definition(read_text(path), path)


def build_graph(definition: Definition, variant: str | None = None,
                overrides: dict[str, str] | None = None,
                input_shape: tuple[int, ...] | None = None) -> Graph:
    """Build the layer graph of one variant, with ``--set`` overrides and an optional input shape
    (C, H, W) replacing the definition's."""
    return GraphBuilder(definition, variant, overrides, input_shape).build()


def describe_variant(definition: Definition, variant: str | None = None) -> dict:
    """Metadata and input shape of one variant (evaluates variables only, builds no layers)."""
    return GraphBuilder(definition, variant).header()


__all__ = ["Definition", "parse_definition", "load_definition", "build_graph", "describe_variant"]
