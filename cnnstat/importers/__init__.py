"""Importers: analyze an existing model by importing it into cnnstat's layer graph.

Each kind of model reference is a :class:`Source`, registered here in ``SOURCES`` (the source
registry; cnnstat.models looks a reference up with :func:`find_source`):

=========================  ===================================================================
reference                  importer
=========================  ===================================================================
``torchvision:resnet50``   a torchvision model builder, captured by running it (``--arg k=v``)
``timm:resnet50d``         a timm model (``timm.create_model(NAME, pretrained=False)``), captured
``path/to/file.py:MyNet``  a class or factory in a Python file, captured by running it
``package.module:factory`` a class or factory in an importable module, captured by running it
``model.onnx``             an ONNX model, read with the ``onnx`` package
``deploy.prototxt``        a Caffe network definition, read with cnnstat's own text-format reader
=========================  ===================================================================

This package imports neither torch nor onnx: each loader imports what it needs when it runs, so
``cnnstat params vgg16`` stays light. See docs/importers.md for what each importer maps to which
operator, and what it cannot count.
"""

from __future__ import annotations

import importlib
import os
import re
from dataclasses import dataclass
from typing import Any, Callable

from ..graph import Graph


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


def find_source(model: str) -> Source | None:
    """The registered source whose references ``model`` is one of, if any."""
    for source in SOURCES:
        if source.matches(model):
            return source
    return None

# ``module.path:attr`` or ``some/file.py:attr``; a Windows drive (C:\...) is not a module path
_PY_FILE = re.compile(r"^(?P<file>.+\.py):(?P<attr>[A-Za-z_][A-Za-z0-9_.]*)$")
_PY_MODULE = re.compile(r"^(?P<module>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)"
                        r":(?P<attr>[A-Za-z_][A-Za-z0-9_.]*)$")


def _lazy(module: str, function: str) -> Callable[..., Graph]:
    """A loader that imports ``cnnstat.importers.<module>`` only when it is called."""
    def load(model: str, **kwargs: Any) -> Graph:
        mod = importlib.import_module(f"{__name__}.{module}")
        return getattr(mod, function)(model, **kwargs)
    load.__name__ = f"{module}.{function}"
    return load


def _python_model(model: str, **kwargs: Any) -> Graph:
    """A file.py:Name or module:factory model. Its code runs in a child process, on the clock,
    when the CLI asks for it (cnnstat.importers.contained); in the API, in this process."""
    from .. import limits
    from .references import check_reference
    check_reference(model)                 # a refused reference runs nothing, imports nothing
    if limits.contain_user_code():
        from .contained import load as load_contained
        return load_contained(model, **kwargs)
    return _lazy("torch_capture", "load")(model, **kwargs)


def is_torchvision(model: str) -> bool:
    return model.startswith("torchvision:")


def is_timm(model: str) -> bool:
    return model.startswith("timm:")


def is_python(model: str) -> bool:
    if is_torchvision(model) or is_timm(model):
        return False
    return bool(_PY_FILE.match(model) or _PY_MODULE.match(model))


def is_onnx(model: str) -> bool:
    return model.lower().endswith(".onnx")


def is_prototxt(model: str) -> bool:
    return model.lower().endswith((".prototxt", ".pbtxt"))


_BUILTIN = [
    Source("torchvision", is_torchvision, _lazy("torch_capture", "load"),
           "torchvision:NAME — a torchvision model builder (random weights), captured by running "
           "its forward; --arg key=value for builder arguments"),
    Source("timm", is_timm, _lazy("torch_capture", "load"),
           "timm:NAME — a timm model (timm.create_model(NAME, pretrained=False)) at its "
           "pretrained_cfg input size, captured by running its forward; --arg key=value"),
    Source("python", is_python, _python_model,
           "path/to/file.py:Name or package.module:factory — a torch.nn.Module class or factory, "
           "captured by running its forward; --arg key=value for its arguments"),
    Source("onnx", is_onnx, _lazy("onnx_import", "load"), "model.onnx — an ONNX model"),
    Source("caffe", is_prototxt, _lazy("caffe", "load"),
           "deploy.prototxt — a Caffe network definition (layer {} or legacy layers {} syntax)"),
]

for _source in _BUILTIN:
    register_source(_source)


def rich_input(input: Any) -> bool:
    """Inputs only a torch module takes (as torchinfo's ``input_data``): a tensor, a dict of
    keyword inputs, several inputs (a tuple or list of tensors or shapes), several --input
    sizes (cnnstat.model_options.InputList)."""
    from ..model_options import InputList
    if isinstance(input, InputList):
        return True
    if hasattr(input, "shape") and hasattr(input, "dtype") or isinstance(input, dict):
        return True
    return isinstance(input, (tuple, list)) and any(not isinstance(v, int) for v in input)


def from_torch(module: Any, input: Any = None, *, name: str | None = None) -> Graph:
    """The graph of a ``torch.nn.Module`` instance, captured by running its forward.

    ``input``: ``224``, ``"3x224x224"``, ``(1, 16000)``, ``"3x16x112x112"``... read against the
    module's first convolution (1-D, 2-D or 3-D); default C x 224 x 224 for image models. Or, as
    torchinfo's ``input_data``: a tensor (batch first), a tuple of tensors or per-sample shapes
    (several inputs), a dict of keyword tensors. The module's training flags, tensors and device
    are as they were afterwards."""
    from .torch_capture import from_module
    if rich_input(input):
        return from_module(module, input, name=name)
    from ..errors import UsageError
    from ..model_options import resolve_input
    from .torch_capture import needs_input
    from .torch_models import default_input
    label = name or type(module).__name__
    shape = resolve_input(input, default_input(module), label)
    if not all(shape):
        raise UsageError(needs_input(label, module, shape))
    return from_module(module, shape, name=name)


def from_onnx(path: str | os.PathLike, input: Any = None) -> Graph:
    """The graph of an ONNX file."""
    from ..model_options import parse_input
    from .onnx_import import load
    return load(os.fspath(path), input_shape=parse_input(input))


def from_prototxt(path: str | os.PathLike, input: Any = None) -> Graph:
    """The graph of a Caffe deploy prototxt."""
    from ..model_options import parse_input
    from .caffe import load
    return load(os.fspath(path), input_shape=parse_input(input))


__all__ = ["Source", "SOURCES", "register_source", "find_source", "from_torch", "from_onnx", "from_prototxt", "is_torchvision", "is_timm", "is_python",
           "is_onnx", "is_prototxt", "rich_input"]
