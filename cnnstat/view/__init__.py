"""The interactive view: one self-contained HTML file with the layer graph of an analysis.

    >>> import cnnstat
    >>> from cnnstat.view import write_view
    >>> write_view(cnnstat.analyze("resnet50"), "resnet50.html")

The page (``page.html``, ``view.css``, ``view.js``) draws the graph top to bottom with the vendored
dagre layout library (``dagre.min.js``, MIT, ``LICENSE.dagre``): branches side by side, blocks
collapsible, nodes coloured by a metric, a side panel with each layer's full record and its
receptive field drawn on the input grid. See docs/view.md. Nothing here imports torch.
"""

from __future__ import annotations

import os

from ..analyze import Analysis
from .data import METRICS, NODE_BUDGET, view_data
from .page import render_page


def render_view(analysis: Analysis, *, depth: int | None = None, metric: str = "macs",
                budget: int = NODE_BUDGET) -> str:
    """The HTML text of the view of one analysis.

    depth: blocks of this many name levels and more start collapsed (as ``--depth``); None picks
    the deepest level that draws at most ``budget`` nodes. metric: the initial colouring, one of
    macs, params, memory, rf.
    """
    from ..version import __version__
    return render_page(view_data(analysis, depth=depth, metric=metric, budget=budget), __version__)


def write_view(analysis: Analysis, path: str | os.PathLike, *, depth: int | None = None,
               metric: str = "macs") -> str:
    """Write the view to ``path`` atomically (complete or absent, never half-written); returns
    the path written."""
    from ..fileio import atomic_write
    return str(atomic_write(path, render_view(analysis, depth=depth, metric=metric)))


__all__ = ["render_view", "write_view", "view_data", "METRICS", "NODE_BUDGET"]
