"""Plots (matplotlib, Agg backend). The only package that imports matplotlib, and only inside its
functions, so importing cnnstat never loads it. One module per kind of figure: ``model`` (a
model's layers, memory and receptive fields; models side by side; sweeps), ``bench``, ``roofline``,
``history``; ``base`` (style, notebook figures, reproducible bytes, units) and ``series`` (the
numbers each figure of a model plots, computed from the analysis it is given). Figures take what
they draw as arguments; nothing here imports the report builders (cnnstat.report imports this).

Each ``*_figure`` function returns a matplotlib Figure; :func:`render` turns it into PNG or SVG
bytes, reproducibly: fixed fonts (matplotlib's bundled DejaVu Sans), no creation date or software
version in the file, a fixed SVG id salt, text kept as text in SVG. Running twice gives identical
bytes with the same matplotlib. Which numbers are plotted is decided in cnnstat.plots.series.

Figures for notebooks (:func:`for_display`: ``Analysis.plot_layers()`` and the other plot methods)
are made apart from pyplot: no global backend or style is changed (a notebook's inline backend
keeps working), nothing is registered with pyplot (nothing to close, nothing shown twice), and
each figure shows inline as PNG. Report and command-line figures use pyplot on the Agg backend.

Units: parameters in M (10⁶), multiply-adds in GMACs or MMACs (1 MAC = one fused multiply-add),
memory in binary units (KiB, MiB, GiB), receptive fields and strides in input units: pixels
(images), samples (1-D inputs) or voxels (3-D inputs), the axes named where the input is not an
image.
"""

from .base import (SVG_HASH_KEY, _binary_unit, _decimal_unit, _plt, _wide_range,  # noqa: F401
                   for_display, render, render_all, render_svg)
from .bench import bench_figure  # noqa: F401
from .history import history_figure, tree_figure  # noqa: F401
from .model import (compare_figure, layer_work_figure, memory_figure,  # noqa: F401
                    memory_layers_figure, memory_timeline_figure, rf_figure, sweep_figure,
                    tradeoff_figure)
from .roofline import roofline_figure  # noqa: F401
