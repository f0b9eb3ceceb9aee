"""Resolving what the user names — a zoo model, a definition file, or an importable model — to a
layer graph.

The importers' sources (``*.onnx``, ``torchvision:NAME``...) are registered in
cnnstat.importers (``SOURCES``); the definition format and the zoo are built in. The option
parsing (``--input``, ``--set``, ``--arg``) is cnnstat.model_options; its names are here too, as
before. Nothing here imports torch.
"""

from __future__ import annotations

import os
from typing import Any

from .definition import Definition, build_graph, load_definition
from .errors import UsageError
from .graph import Graph
from .importers import SOURCES, Source, find_source, register_source  # noqa: F401 - as before
from .model_options import (InputList, InputSize, parse_args, parse_input,  # noqa: F401
                            parse_sets, resolve_input, several_inputs)


def load_graph(model: str | Graph | Definition, *, variant: str | None = None,
               overrides: dict[str, str] | None = None,
               input_shape: InputSize | tuple | None = None, **options) -> Graph:
    """A layer graph from a zoo name, a definition path, an importable model, a parsed Definition
    or a Graph (whose input shape is then replaced if asked). ``input_shape``: ``--input`` as
    parse_input gives it, read against the model's input rank (resolve_input). ``options`` go
    to an importer's loader (``args``: the model builder's arguments, from ``--arg``)."""
    input_shape = parse_input(input_shape)
    if options.get("args") and not (isinstance(model, str) and _has_importer(model)):
        raise UsageError("--arg passes arguments to an imported model's builder "
                         "(torchvision:NAME, file.py:Name, package.module:factory)")
    options = {k: v for k, v in options.items() if not (k == "args" and not v)}
    if isinstance(model, Graph):
        if overrides:
            raise UsageError("--set only applies to definition files and zoo models")
        if input_shape is None:
            return model
        return model.with_input_shape(resolve_input(input_shape, model.input_shape, model.name))
    if isinstance(model, Definition):
        return build_graph(model, variant, overrides, input_shape)
    if hasattr(model, "named_modules") and hasattr(model, "forward"):   # a torch.nn.Module
        from .importers import from_torch
        if overrides:
            raise UsageError("--set only applies to definition files and zoo models")
        if options.get("args"):
            raise UsageError("args apply to a model builder, not to a module instance")
        return from_torch(model, input_shape)
    if not isinstance(model, str) or not model.strip():
        raise UsageError("no model given: name a zoo model (cnnstat list) or a definition file")
    if model.endswith((".yaml", ".yml")) or (os.path.isfile(model) and not _has_importer(model)):
        if not os.path.lexists(model):
            raise UsageError(f"definition file '{model}' does not exist")
        return build_graph(load_definition(model), variant, overrides, input_shape)
    source = find_source(model)
    if source is not None:
        return source.load(model, input_shape=input_shape, overrides=overrides, variant=variant,
                           **options)
    from . import zoo
    entry = zoo.lookup(model)
    if entry is None:
        from .suggest import did_you_mean
        raise UsageError(f"unknown model '{model}'{did_you_mean(model, zoo.names(), 3)}; "
                         "'cnnstat list' shows the zoo, or give a definition file")
    if variant is not None and variant != entry.variant:
        raise UsageError(f"'{model}' is already a variant; --variant applies to definition files")
    return build_graph(zoo.definition(entry.path), entry.variant, overrides, input_shape)


def resolve_graph(model: Any, *, input: Any = None, set: Any = None, variant: str | None = None,
                  args: Any = None) -> Graph:
    """The graph of a model as the commands and the API name it: ``input`` as --input takes it
    (224, "160x224", "3x224x224", "1x16000", "3x16x112x112", a tuple: read against the model's
    input rank), ``set`` as --set (["alpha=0.5"] or a dict), ``args``
    as --arg (["num_classes=10"] or a dict) for an imported model's builder."""
    options = {"args": parse_args(args)} if args else {}
    if hasattr(model, "named_modules") and hasattr(model, "forward") and input is not None:
        from .importers import rich_input
        if several_inputs(input):   # ["3x224x224", "16:int64"]: as several --input
            input = parse_input(input)
        if rich_input(input):       # a tensor, several inputs, keyword inputs: the module runs them
            if set:
                raise UsageError("--set only applies to definition files and zoo models")
            from .importers import from_torch
            return from_torch(model, input)
    return load_graph(model, variant=variant, overrides=parse_sets(set),
                      input_shape=parse_input(input), **options)


def _has_importer(model: str) -> bool:
    return find_source(model) is not None


_find_source = find_source      # the name tests and scripts know
