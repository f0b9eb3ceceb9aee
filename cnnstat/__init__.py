"""cnnstat: static analysis of convolutional neural network architectures.

    >>> import cnnstat
    >>> a = cnnstat.analyze("vgg16", input=224)
    >>> a.totals.params
    138357544

The static path (definitions, rules, analysis, rendering as text) never imports torch.
"""

from __future__ import annotations

from typing import Any

from .analyze import Analysis, LayerRecord, Totals, analyze_graph
from .convention import Convention
from .errors import CnnstatError
from .graph import Graph, Node

__version__ = "0.1.0"


def analyze(model: Any, input: Any = None, *, batch: int = 1, set: Any = None,
            variant: str | None = None, count: str | Convention | None = None,
            dtype: str = "fp32", args: Any = None) -> Analysis:
    """Analyse a model statically.

    model: a zoo name (``"resnet50"``), a definition file path, an importable model reference,
        a :class:`Graph` or a parsed definition.
    input: ``224``, ``"160x224"`` (H x W), ``"3x224x224"`` or ``(3, 224, 224)``; default: the model's.
    set: variable overrides, ``{"alpha": 0.5}`` or ``["alpha=0.5"]``.
    count: extra kinds of work to count in MACs (``"bias,norm"`` or ``"all"``); see Convention.
    args: for imported models, the builder's arguments: ``{"num_classes": 10}`` or
        ``["num_classes=10"]`` (as --arg).
    """
    from .models import resolve_graph
    convention = count if isinstance(count, Convention) else Convention.parse(count)
    graph = resolve_graph(model, input=input, set=set, variant=variant, args=args)
    return analyze_graph(graph, batch=batch, convention=convention, dtype=dtype)


__all__ = ["analyze", "analyze_graph", "Analysis", "LayerRecord", "Totals", "Convention", "Graph",
           "Node", "CnnstatError", "__version__"]
