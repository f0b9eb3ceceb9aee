"""cnnstat: static analysis of convolutional neural network architectures.

    >>> import cnnstat
    >>> a = cnnstat.analyze("vgg16", input=224)
    >>> a.totals.params
    138357544

The static path (definitions, rules, analysis, rendering as text) never imports torch.
"""

from __future__ import annotations

from typing import Any

from . import display as _display  # noqa: F401 - registers how results present themselves
from .analyze import Analysis, LayerRecord, Totals, analyze_graph, analyze_model
from .convention import Convention
from .errors import CnnstatError
from .graph import Graph, Node
from .version import __version__


def analyze(model: Any, input: Any = None, *, batch: int = 1, set: Any = None,
            variant: str | None = None, count: str | Convention | None = None,
            dtype: str = "fp32", args: Any = None, train: bool = False) -> Analysis:
    """Analyse a model statically.

    model: a zoo name (``"resnet50"``), a definition file path, an importable model reference,
        a :class:`Graph` or a parsed definition.
    input: ``224``, ``"160x224"`` (H x W), ``"3x224x224"`` or ``(3, 224, 224)``; default: the model's.
    set: variable overrides, ``{"alpha": 0.5}`` or ``["alpha=0.5"]``.
    count: extra kinds of work to count in MACs (``"bias,norm"`` or ``"all"``); see Convention.
    args: for imported models, the builder's arguments: ``{"num_classes": 10}`` or
        ``["num_classes=10"]`` (as --arg).
    train: the training mode (--train): layers that run only in training (auxiliary heads,
        ``train_only``) count in the totals. Default: inference, where they are listed and their
        parameters count but their work does not (as torch's eval mode runs the model).
    """
    return analyze_model(model, input, batch=batch, set=set, variant=variant, count=count,
                         dtype=dtype, args=args, train=train)


def summary(model: Any, input_size: Any = None, *, depth: int | None = None, columns: Any = None,
            batch: int | None = None, set: Any = None, variant: str | None = None,
            count: Any = None, dtype: str = "fp32", args: Any = None, file: Any = None) -> Analysis:
    """Analyse a model and show its layer table in one call, as torchinfo's
    ``summary(model, input_size)`` does; returns the :class:`Analysis`.

    model: anything :func:`analyze` reads (zoo name, definition file, ``torchvision:NAME``,
        ``file.py:Name``, an ``nn.Module`` instance, ONNX, Caffe).
    input_size: as ``analyze``'s ``input``; a sequence of four is torchinfo's
        (batch, C, H, W).
    depth: collapse blocks deeper than this many name levels into one row.
    columns: ``"layer,params,macs"``, a list of column keys, or a view name (summary, params,
        shapes, flops, rf, full); torchinfo's output_size, num_params and mult_adds are understood.
    In Jupyter the table displays as HTML; elsewhere it is printed (to ``file``, default stdout).
    """
    from .display import summary as show
    return show(model, input_size, depth=depth, columns=columns, batch=batch, set=set,
                variant=variant, count=count, dtype=dtype, args=args, file=file)


def compare(models: Any, input: Any = None, *, batch: int = 1, set: Any = None, args: Any = None,
            count: str | Convention | None = None, dtype: str = "fp32"):
    """Models side by side (as ``cnnstat compare``): a table of totals in a notebook, ``.plot()``
    and ``.plot_tradeoff()`` for the charts, ``.rows`` for the numbers, ``.to_frame()``."""
    from .report.compare import compare_models
    return compare_models(models, input=input, batch=batch, set=set, args=args, count=count,
                          dtype=dtype)


def sweep(model: Any, set: Any = None, input: Any = None, *, batch: int = 1, count: Any = None,
          dtype: str = "fp32", variant: str | None = None):
    """A grid of totals (as ``cnnstat sweep``): ``set={"alpha": [0.5, 1.0]}`` (or
    ``["alpha=0.5,1.0"]``), ``input=[128, 160, 224]`` (or ``"128,160,224"``); ``.plot()``."""
    from .report.sweep import run
    if isinstance(set, dict):
        set = [f"{k}=" + (",".join(map(str, v)) if isinstance(v, (list, tuple)) else str(v))
               for k, v in set.items()]
    if isinstance(input, (list, tuple)):
        input = ",".join(str(i) for i in input)
    return run(model, set, None if input is None else str(input), batch=batch, count=count,
               dtype=dtype, variant=variant)


def check(model: Any, input: Any = None, *, batch: int = 1, set: Any = None,
          variant: str | None = None, args: Any = None, device: str | None = None,
          seed: int = 0, against: str | None = None, against_args: Any = None):
    """Run the model in torch and compare it with the static analysis, layer by layer (as
    ``cnnstat check``; imports torch). ``against="torchvision"``: compare the definition with
    torchvision's network instead. ``device``: cpu (default), cuda, or meta (the default with
    ``against``). The result's ``.ok`` is the verdict."""
    if against is not None:
        from .torch_bridge.against import against_torchvision, parse_against
        return against_torchvision(model, parse_against(against), input=input, batch=batch,
                                   set=set, variant=variant, args=args, against_args=against_args,
                                   device=device or "meta", seed=seed)
    from .torch_bridge.check import check as run_check
    return run_check(model, input=input, batch=batch, set=set, variant=variant, args=args,
                     device=device or "cpu", seed=seed)


def paper(name: str):
    """A paper's published tables beside cnnstat's figures (as ``cnnstat paper``): lenet5,
    alexnet, vgg, googlenet, resnet, mobilenet, or a zoo name of one of their models."""
    from .report.paper import PaperResult
    return PaperResult(name)


def history(count: str | Convention | None = None):
    """The zoo's history (as ``cnnstat history``): every architecture by date with its paper,
    the family tree of which built on which (the idea each step introduced, cited), and every zoo
    model's numbers from cnnstat's own analysis. ``.plot()`` draws the timeline, ``.plot_tree()``
    the tree, ``.view()`` shows the interactive tree."""
    from .report.history import build_history
    return build_history(count=count)


__all__ = ["analyze", "analyze_graph", "summary", "compare", "sweep", "check", "paper", "history",
           "Analysis", "LayerRecord", "Totals", "Convention", "Graph", "Node", "CnnstatError",
           "__version__"]
