"""Model references → ``torch.nn.Module`` instances, with random weights (nothing is downloaded).

- ``torchvision:NAME``: ``torchvision.models.get_model(NAME, weights=None, **args)``; a builder
  that takes ``weights_backbone`` gets ``None`` too (segmentation models would download their
  backbone otherwise). GoogLeNet and Inception v3 are built as torchvision builds them for its
  published weights and parameter counts: GoogLeNet without its auxiliary classifiers, Inception
  v3 with its AuxLogits (``--arg aux_logits=...`` changes either). Auxiliary classifiers only run
  in training: the importer (torch_capture) finds them by capturing in training mode too and marks them
  training-only, as the zoo's definitions do. torchvision models are built on the meta device: no
  memory, no initialization time, and tracing needs no real weights.
- ``path/to/file.py:Name`` and ``package.module:attr``: ``attr`` is an ``nn.Module`` instance, a
  module class or a factory function, called with ``args``.

The default input is the resolution torchvision's weights were evaluated at (the crop size of the
default weights' transforms: 224 for most, 299 for Inception v3, 600 for EfficientNet-B7, 520 for
segmentation models), and 3 x 224 x 224 for other models.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import importlib.util
import inspect
import os
import sys
import warnings
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..errors import UsageError
from ..suggest import did_you_mean

DEFAULT_INPUT = (3, 224, 224)
#: torchvision builders whose auxiliary classifiers are off in the published configuration
AUX_LOGITS_OFF = {"googlenet"}


@dataclass
class Resolved:
    module: nn.Module
    input_shape: tuple[int, int, int]
    label: str
    title: str
    notes: list[str] = field(default_factory=list)


def resolve(reference: str, args: dict[str, Any]) -> Resolved:
    if reference.startswith("torchvision:"):
        return _torchvision(reference.split(":", 1)[1], dict(args))
    if reference.startswith("timm:"):
        return _timm(reference.split(":", 1)[1], dict(args))
    from .references import check_reference
    check_reference(reference)
    target, _, attr = reference.rpartition(":")
    if target.endswith(".py"):
        namespace = _import_file(target)
        where = target
    else:
        try:
            namespace = importlib.import_module(target)
        except ImportError as exc:
            raise UsageError(f"cannot import module '{target}': {exc}") from None
        except (Exception, SystemExit) as exc:  # the module's own code failed, or exited
            raise UsageError(f"importing '{target}' failed: {_failure(exc)}") from None
        where = f"module '{target}'"
    obj: Any = namespace
    for part in attr.split("."):
        if not hasattr(obj, part):
            names = [n for n in dir(obj) if not n.startswith("_")]
            raise UsageError(f"{where} has no '{part}'{did_you_mean(part, names, 3)}")
        obj = getattr(obj, part)
    module = _instantiate(obj, args, reference)
    label, title = _names(target, attr, args, module)
    return Resolved(module, DEFAULT_INPUT, label, title)


#: builder arguments that name the network a generic factory builds (timm.create_model's
#: model_name; name and arch in other model registries)
NAME_ARGS = ("model_name", "name", "arch", "architecture")


def _names(target: str, attr: str, args: dict[str, Any], module: nn.Module) -> tuple[str, str]:
    """The label and title of an imported module. A generic factory called with the network's
    name (``timm:create_model --arg model_name=resnet18``) is titled by that name and the call
    (``resnet18 — timm.create_model(model_name='resnet18')``), not by the factory's name; any other
    class or builder by its name and where it came from (``MyNet — from mynet.py``)."""
    where = os.path.basename(target) if target.endswith(".py") else target
    for key in NAME_ARGS:
        value = args.get(key)
        if isinstance(value, str) and value.strip():
            sep = ":" if target.endswith(".py") else "."
            return value, f"{where}{sep}{attr}({key}={value!r})"
    label = attr.split(".")[-1]
    built = type(module).__name__
    return label, (f"{built} from {where}" if built != label else f"from {where}")


def _import_file(path: str):
    if not os.path.lexists(path):
        raise UsageError(f"Python file '{path}' does not exist")
    from ..fileio import check_input
    check_input(path, "the Python file")               # a FIFO, a device, a folder: refused
    digest = hashlib.sha1(os.path.abspath(path).encode()).hexdigest()[:10]
    name = f"cnnstat_user_{os.path.splitext(os.path.basename(path))[0]}_{digest}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise UsageError(f"cannot load '{path}' as Python")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod                  # dataclasses and pickling look modules up by name
    folder = os.path.dirname(os.path.abspath(path))
    sys.path.insert(0, folder)               # so the file can import its neighbours
    try:
        spec.loader.exec_module(mod)
    except (Exception, SystemExit) as exc:
        sys.modules.pop(name, None)
        raise UsageError(f"running '{path}' failed: {_failure(exc)}") from None
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(folder)
    return mod


def _failure(exc: BaseException) -> str:
    """What went wrong in the model's own code, in words."""
    if isinstance(exc, SystemExit):
        return f"its code called sys.exit({exc.code!r})"
    return f"{type(exc).__name__}: {exc}"


def _instantiate(obj: Any, args: dict[str, Any], reference: str) -> nn.Module:
    """The module ``obj`` is or builds: an nn.Module instance, an nn.Module subclass, or a
    function that returns one (cnnstat.importers.references says what is refused)."""
    from .references import refused_callable
    if isinstance(obj, nn.Module):
        if args:
            raise UsageError(f"'{reference}' is a module instance: --arg needs a class or factory")
        return obj
    if not callable(obj):
        raise UsageError(f"'{reference}' is a {type(obj).__name__}, not an nn.Module, a module "
                         "class or a factory")
    if isinstance(obj, type) and not issubclass(obj, nn.Module):
        raise UsageError(f"'{reference}' is the class {obj.__module__}.{obj.__qualname__}, not "
                         "an nn.Module subclass: nothing was called")
    why = refused_callable(obj)
    if why:
        raise UsageError(f"'{reference}' is {why}: not a model factory, nothing was called")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            module = obj(**args)
    except TypeError as exc:
        raise UsageError(f"cannot build '{reference}' with arguments {args}: {exc}") from None
    except (Exception, SystemExit) as exc:
        raise UsageError(f"building '{reference}' failed: {_failure(exc)}") from None
    if not isinstance(module, nn.Module):
        raise UsageError(f"'{reference}' returned a {type(module).__name__}, not an nn.Module")
    return module


@contextlib.contextmanager
def meta_parameters():
    """Build modules whose parameters and buffers live on the meta device (no memory, no
    initialization cost), while the builder's own tensor arithmetic runs on the CPU."""
    register_parameter = nn.Module.register_parameter
    register_buffer = nn.Module.register_buffer

    def on_meta_parameter(module, name, param):
        if param is not None and param.device.type != "meta":
            param = nn.Parameter(param.to("meta"), requires_grad=param.requires_grad)
        register_parameter(module, name, param)

    def on_meta_buffer(module, name, tensor, persistent=True):
        if tensor is not None and tensor.device.type != "meta":
            tensor = tensor.to("meta")
        register_buffer(module, name, tensor, persistent)

    nn.Module.register_parameter = on_meta_parameter
    nn.Module.register_buffer = on_meta_buffer
    try:
        yield
    finally:
        nn.Module.register_parameter = register_parameter
        nn.Module.register_buffer = register_buffer


def torchvision_names() -> list[str]:
    import torchvision
    return sorted(torchvision.models.list_models())


def _torchvision(name: str, args: dict[str, Any]) -> Resolved:
    import torchvision
    names = torchvision_names()
    if name not in names:
        raise UsageError(f"torchvision has no model '{name}'{did_you_mean(name, names, 3)}")
    if args.get("weights") is not None or args.get("weights_backbone") is not None:
        raise UsageError("cnnstat builds models with random weights: it does not download "
                         "weights (architecture numbers do not depend on them)")
    builder = torchvision.models.get_model_builder(name)
    kwargs: dict[str, Any] = {"weights": None}
    if "weights_backbone" in inspect.signature(builder).parameters:
        kwargs["weights_backbone"] = None
    notes: list[str] = []
    if name in AUX_LOGITS_OFF and "aux_logits" not in args:
        kwargs["aux_logits"] = False
        notes.append("built with aux_logits=False, as for torchvision's published weights and "
                     "parameter count (--arg aux_logits=True adds the auxiliary classifiers)")
    if name == "googlenet":
        kwargs["init_weights"] = False          # silences the init warning; weights are random
    kwargs.update(args)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                with torch.device("meta"):
                    module = builder(**kwargs)
            except (RuntimeError, NotImplementedError):
                # a builder that computes with tensors (RegNet's widths) cannot run with meta as
                # the default device: build on CPU, moving each parameter to meta as it is made
                with meta_parameters():
                    module = builder(**kwargs)
    except TypeError as exc:
        raise UsageError(f"torchvision:{name}: {exc}") from None
    except (ValueError, AssertionError, RuntimeError) as exc:
        raise UsageError(f"torchvision:{name} cannot be built with {args}: {exc}") from None
    return Resolved(module, _torchvision_input(name, args), name, f"torchvision {name}", notes)


def _timm(name: str, args: dict[str, Any]) -> Resolved:
    """``timm.create_model(name, pretrained=False, **args)`` (random weights, nothing
    downloaded), analyzed at its ``pretrained_cfg['input_size']``."""
    try:
        import timm
    except ImportError:
        raise UsageError("timm:NAME needs the timm package (pip install timm)") from None
    if args.get("pretrained"):
        raise UsageError("cnnstat builds models with random weights: it does not download "
                         "weights (architecture numbers do not depend on them)")
    args.pop("pretrained", None)
    names = timm.list_models()
    if name not in names:
        raise UsageError(f"timm has no model '{name}'{did_you_mean(name, names, 3)}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            module = timm.create_model(name, pretrained=False, **args)
    except TypeError as exc:
        raise UsageError(f"timm:{name} cannot be built with {args}: {exc}") from None
    except Exception as exc:
        raise UsageError(f"building timm:{name} failed: {type(exc).__name__}: {exc}") from None
    size = tuple(getattr(module, "pretrained_cfg", {}).get("input_size") or DEFAULT_INPUT)
    shape = size if len(size) == 3 else DEFAULT_INPUT
    return Resolved(module.eval(), tuple(int(d) for d in shape), name, f"timm {name}")


def _torchvision_input(name: str, args: dict[str, Any]) -> tuple[int, int, int]:
    """The resolution of torchvision's default weights (crop size, or resize size for
    segmentation); ViTs have a fixed image size (224 unless --arg image_size)."""
    if name.startswith("vit_"):
        size = int(args.get("image_size", 224))
        return (3, size, size)
    import torchvision
    try:
        weights = torchvision.models.get_model_weights(name).DEFAULT
        keywords = getattr(weights.transforms, "keywords", {})
    except (ValueError, AttributeError, KeyError):
        return DEFAULT_INPUT
    size = keywords.get("crop_size", keywords.get("resize_size"))
    if isinstance(size, (list, tuple)):
        size = size[0] if len(size) == 1 else None
    if isinstance(size, int) and size > 0:
        return (3, size, size)
    return DEFAULT_INPUT
