"""Resolving what the user names — a zoo model, a definition file, or an importable model — to a
layer graph, and parsing ``--input``.

Importers register themselves in ``SOURCES`` (see cnnstat/importers); the definition format and
the zoo are built in. Nothing here imports torch.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any, Callable

from .errors import UsageError
from .graph import Graph
from .spec import Definition, build_graph, load_definition


@dataclass(frozen=True)
class Source:
    """A kind of model reference an importer understands (e.g. ``*.onnx``, ``torchvision:NAME``)."""
    name: str
    matches: Callable[[str], bool]
    load: Callable[..., Graph]   # load(model, input_shape=..., overrides=..., **options) -> Graph
    help: str = ""


SOURCES: list[Source] = []


def register_source(source: Source) -> None:
    if any(s.name == source.name for s in SOURCES):
        raise RuntimeError(f"model source '{source.name}' is registered twice")
    SOURCES.append(source)


def _load_importers() -> None:
    """Importers live in cnnstat.importers (registered lazily so the static path stays light)."""
    try:
        from . import importers  # noqa: F401
    except ImportError:  # pragma: no cover - no importers installed yet
        pass


_INPUT = re.compile(r"^\s*(\d+)\s*(?:[x×,]\s*(\d+)\s*(?:[x×,]\s*(\d+)\s*)?)?$")


def parse_input(text: str | int | tuple | list | None) -> tuple[int | None, int, int] | None:
    """``224`` → (None, 224, 224); ``160x224`` → (None, 160, 224) (H×W); ``3x224x224`` → (3, 224, 224).
    A channel count of None keeps the definition's."""
    if text is None:
        return None
    if isinstance(text, int) and not isinstance(text, bool):
        text = str(text)
    if isinstance(text, (tuple, list)):
        text = "x".join(str(v) for v in text)
    m = _INPUT.match(str(text))
    if not m:
        raise UsageError(f"--input '{text}' is not a size: write 224, 160x224 (HxW) or 3x224x224")
    values = [int(v) for v in m.groups() if v is not None]
    if any(v <= 0 for v in values):
        raise UsageError(f"--input '{text}': sizes must be positive")
    if any(v > 1_000_000 for v in values):
        raise UsageError(f"--input '{text}': a size over 1,000,000 is not a real input")
    if len(values) == 1:
        return (None, values[0], values[0])
    if len(values) == 2:
        return (None, values[0], values[1])
    return (values[0], values[1], values[2])


def parse_sets(items: list[str] | dict | None) -> dict[str, str]:
    """``--set alpha=0.5`` items → {name: expression source}."""
    if not items:
        return {}
    if isinstance(items, dict):
        return {str(k): (v if isinstance(v, str) else repr(v)) for k, v in items.items()}
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise UsageError(f"--set '{item}' must be NAME=VALUE, e.g. --set alpha=0.5")
        out[name.strip()] = value.strip()
    return out


def parse_args(items: list[str] | dict | None, option: str = "--arg") -> dict[str, object]:
    """``--arg num_classes=10`` items → {name: value} for an imported model's builder. Values are
    Python literals (10, 0.5, True, None, 'text', (1, 2)); true/false/none in any case too;
    anything else is kept as text."""
    if not items:
        return {}
    if isinstance(items, dict):
        return dict(items)
    import ast
    out: dict[str, object] = {}
    for item in items:
        name, sep, text = item.partition("=")
        name = name.strip()
        if not sep or not name.isidentifier():
            raise UsageError(f"{option} '{item}' must be NAME=VALUE, e.g. {option} num_classes=10")
        text = text.strip()
        words = {"true": True, "false": False, "none": None}
        if text.lower() in words:
            out[name] = words[text.lower()]
            continue
        try:
            out[name] = ast.literal_eval(text)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            out[name] = text
    return out


def load_graph(model: str | Graph | Definition, *, variant: str | None = None,
               overrides: dict[str, str] | None = None,
               input_shape: tuple[int | None, int, int] | None = None, **options) -> Graph:
    """A layer graph from a zoo name, a definition path, an importable model, a parsed Definition
    or a Graph (whose input shape is then replaced if asked). ``options`` go to an importer's
    loader (``args``: the model builder's arguments, from ``--arg``)."""
    if options.get("args") and not (isinstance(model, str) and _has_importer(model)):
        raise UsageError("--arg passes arguments to an imported model's builder "
                         "(torchvision:NAME, file.py:Name, package.module:factory)")
    options = {k: v for k, v in options.items() if not (k == "args" and not v)}
    if isinstance(model, Graph):
        if overrides:
            raise UsageError("--set only applies to definition files and zoo models")
        if input_shape is None:
            return model
        c = input_shape[0] if input_shape[0] is not None else model.input_shape[0]
        return model.with_input_shape((c, input_shape[1], input_shape[2]))
    if isinstance(model, Definition):
        return build_graph(model, variant, overrides, input_shape)
    if hasattr(model, "named_modules") and hasattr(model, "forward"):   # a torch.nn.Module
        from .importers import from_torch
        if overrides:
            raise UsageError("--set only applies to definition files and zoo models")
        if options.get("args"):
            raise UsageError("args apply to a model builder, not to a module instance")
        c, h, w = input_shape if input_shape is not None else (3, 224, 224)
        return from_torch(model, (c if c is not None else 3, h, w))
    if not isinstance(model, str) or not model.strip():
        raise UsageError("no model given: name a zoo model (cnnstat list) or a definition file")
    if model.endswith((".yaml", ".yml")) or (os.path.isfile(model) and not _has_importer(model)):
        if not os.path.lexists(model):
            raise UsageError(f"definition file '{model}' does not exist")
        return build_graph(load_definition(model), variant, overrides, input_shape)
    source = _find_source(model)
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
    (224, "160x224", "3x224x224", a tuple), ``set`` as --set (["alpha=0.5"] or a dict), ``args``
    as --arg (["num_classes=10"] or a dict) for an imported model's builder."""
    options = {"args": parse_args(args)} if args else {}
    if hasattr(model, "named_modules") and hasattr(model, "forward") and input is not None:
        from .importers import rich_input
        if rich_input(input):       # a tensor, several inputs, keyword inputs: the module runs them
            if set:
                raise UsageError("--set only applies to definition files and zoo models")
            from .importers import from_torch
            return from_torch(model, input)
    return load_graph(model, variant=variant, overrides=parse_sets(set),
                      input_shape=parse_input(input), **options)


def _has_importer(model: str) -> bool:
    return _find_source(model) is not None


def _find_source(model: str) -> Source | None:
    if not SOURCES:
        _load_importers()
    for source in SOURCES:
        if source.matches(model):
            return source
    return None
