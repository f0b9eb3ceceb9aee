"""Plots (matplotlib, Agg backend). The only module that imports matplotlib, and only inside its
functions, so importing cnnstat never loads it.

Each ``*_figure`` function returns a matplotlib Figure; :func:`render` turns it into PNG or SVG
bytes, reproducibly: fixed fonts (matplotlib's bundled DejaVu Sans), no creation date or software
version in the file, a fixed SVG id salt, text kept as text in SVG. Running twice gives identical
bytes with the same matplotlib. Which numbers are plotted is decided in cnnstat.report.series.

Figures for notebooks (:func:`for_display`: ``Analysis.plot_layers()`` and the other plot methods)
are made apart from pyplot: no global backend or style is changed (a notebook's inline backend
keeps working), nothing is registered with pyplot (nothing to close, nothing shown twice), and
each figure shows inline as PNG. Report and command-line figures use pyplot on the Agg backend.

Units: parameters in M (10⁶), multiply-adds in GMACs or MMACs (1 MAC = one fused multiply-add),
memory in binary units (KiB, MiB, GiB), receptive fields and strides in input units: pixels
(images), samples (1-D inputs) or voxels (3-D inputs), the axes named where the input is not an
image.
"""

from __future__ import annotations

import contextvars
import functools
import io
from typing import TYPE_CHECKING, Any, Callable, Sequence

from .render.escape import mpl_label, mpl_text

if TYPE_CHECKING:  # pragma: no cover
    from .analyze import Analysis

PNG_DPI = 110
OP_COLORS = {"conv": "#3b6fb6", "linear": "#d1762f", "other": "#7f7f7f"}
LIVE_COLOR = "#c03d3e"
BAND_SHADE = "#eef1f6"

_STYLE = {
    "font.family": "DejaVu Sans",
    "font.size": 10,
    "axes.titlesize": 12,
    "axes.titleweight": "bold",
    "axes.labelsize": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.axisbelow": True,
    "grid.color": "#dddddd",
    "grid.linewidth": 0.6,
    "legend.fontsize": 9,
    "legend.frameon": False,
    "svg.fonttype": "none",          # text stays text: smaller, searchable, diffable
    "svg.hashsalt": "cnnstat",       # ids in the SVG are the same on every run
    "path.simplify": False,
    "figure.dpi": PNG_DPI,
}


#: set while a figure for display is made (for_display): figures are then made without pyplot
_DETACHED = contextvars.ContextVar("cnnstat_detached_figures", default=False)


def _plt():
    """pyplot on the Agg backend in cnnstat's style, or None while a figure for display is made
    (then nothing global is touched; ``for_display`` applies the style)."""
    if _DETACHED.get():
        return None
    import matplotlib
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    matplotlib.rcParams.update(_STYLE)
    return plt


def _new(plt, *args, **kwargs):
    if plt is None:                      # for display: a figure pyplot does not know about
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        fig = Figure(*args, **kwargs)
        FigureCanvasAgg(fig)
        return fig
    return plt.figure(*args, **kwargs)


def for_display(make: Callable[..., Any], *args: Any, **kwargs: Any):
    """``make(*args, **kwargs)`` (a ``*_figure`` function) as a figure to show in a notebook.

    Made in cnnstat's style without pyplot and drawn once (parts made at drawing time, such as
    tick labels, take the style too). It shows inline as PNG: through IPython's matplotlib
    formatter where the inline backend set one up, else through its own ``_repr_png_``. It is
    freed with its last reference, like any Python object: there is nothing to close."""
    import matplotlib
    token = _DETACHED.set(True)
    try:
        with matplotlib.rc_context(_STYLE):
            fig = make(*args, **kwargs)
            fig.canvas.draw()
    finally:
        _DETACHED.reset(token)
    fig._repr_png_ = functools.partial(render, fig, "png")
    return fig


def _close(fig) -> None:
    """Close a pyplot figure (figures for display are not pyplot's: nothing to do)."""
    if getattr(fig.canvas, "manager", None) is not None:
        import matplotlib.pyplot as plt
        plt.close(fig)


def _figure(make):
    """Every figure is drawn with mathtext off (text.parse_math): names, titles and labels come
    from model files, and "$\\undefinedmacro{$" in a name must be text, not abort the drawing.
    Text objects keep the setting they were made with, also when the figure is saved later;
    the user's own figures are not affected. (Control characters are shown visibly by
    cnnstat.render.escape.mpl_text where the text comes from a model.)"""
    @functools.wraps(make)
    def draw(*args, **kwargs):
        import matplotlib
        with matplotlib.rc_context({"text.parse_math": False}):
            return make(*args, **kwargs)
    return draw


#: PNG text chunk naming the SVG drawn from the same figure (see docs/reports.md: a PNG is current
#: when the SVG it records is current, which is checked byte for byte)
SVG_HASH_KEY = "cnnstat-svg-sha256"


def render(fig, fmt: str, svg_sha256: str | None = None) -> bytes:
    """PNG or SVG bytes of a figure. Reproducible: no date, no software version."""
    import matplotlib
    buffer = io.BytesIO()
    with matplotlib.rc_context(_STYLE):
        if fmt == "png":
            meta = {"Software": None}
            if svg_sha256:
                meta[SVG_HASH_KEY] = svg_sha256
            fig.savefig(buffer, format="png", dpi=PNG_DPI, metadata=meta)
        elif fmt == "svg":
            fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": "cnnstat"})
        else:
            raise ValueError(f"unknown plot format '{fmt}'")
    return buffer.getvalue()


def render_svg(fig) -> bytes:
    """SVG bytes of a figure, which is then closed."""
    try:
        return render(fig, "svg")
    finally:
        _close(fig)


def render_all(fig) -> dict[str, bytes]:
    """{"png": ..., "svg": ...} of one figure, which is then closed."""
    import hashlib
    try:
        svg = render(fig, "svg")
        return {"svg": svg, "png": render(fig, "png", hashlib.sha256(svg).hexdigest())}
    finally:
        _close(fig)


# -- units -------------------------------------------------------------------------------------
def _decimal_unit(values: Sequence[float], unit: str) -> tuple[float, str]:
    """Scale and label for counts: the largest prefix that keeps the maximum at or above 1."""
    top = max((abs(v) for v in values), default=0)
    for scale, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")):
        if top >= scale:
            return scale, prefix + unit
    return 1.0, unit


def _binary_unit(values: Sequence[float]) -> tuple[float, str]:
    top = max((abs(v) for v in values), default=0)
    for scale, prefix in ((2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
        if top >= scale:
            return float(scale), prefix
    return 1.0, "B"


def _wide_range(values: Sequence[float], ratio: float = 100.0) -> bool:
    positive = [v for v in values if v > 0]
    return bool(positive) and max(positive) / min(positive) > ratio


def _plain_ticks(axis) -> None:
    """Log axes labelled 0.01, 1, 100 instead of 10^-2, 10^0, 10^2; on an axis spanning less
    than two decades, the 2s and 5s in between are labelled too."""
    import math
    from matplotlib.ticker import FuncFormatter

    def minor(v: float, _pos) -> str:
        lo, hi = sorted(axis.get_view_interval())
        if lo <= 0 or math.log10(hi / lo) >= 2:
            return ""
        lead = round(v / 10 ** math.floor(math.log10(v) + 1e-9), 6)
        return f"{v:g}" if lead in (2, 5) else ""
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(FuncFormatter(minor))


def _short(name: str, most: int = 28) -> str:
    name = mpl_text(name)
    return name if len(name) <= most else "…" + name[-(most - 1):]


def _x_layers(axes, names: list[str], bands, label_each: bool, xlabel: str) -> None:
    """Layer axis: every layer's name when there are few, else blocks of layers, shaded in turn,
    separated by lines and named under the last panel."""
    ax = axes[-1]
    for a in axes:
        a.set_xlim(-0.6, len(names) - 0.4)
        a.grid(axis="x", visible=False)
    if label_each:
        ax.set_xticks(range(len(names)), [_short(n) for n in names], rotation=90, fontsize=7)
    else:
        ax.set_xticks([])
    if bands and not label_each:
        # drop a first name part that most blocks share ("features." in torchvision's DenseNet)
        firsts = [b.label.split(".", 1) for b in bands]
        top = max(set(f[0] for f in firsts), key=lambda k: sum(f[0] == k for f in firsts))
        if sum(f[0] == top and len(f) == 2 for f in firsts) >= 0.75 * len(bands):
            bands = [type(b)(f[1] if f[0] == top and len(f) == 2 else b.label, b.start, b.stop)
                     for b, f in zip(bands, firsts)]
        trans = ax.get_xaxis_transform()
        width_px = ax.figure.get_figwidth() * ax.figure.dpi * 0.85
        pad = 22                                        # points below the axis for the names
        for i, b in enumerate(bands):
            for a in axes:
                if i % 2 == 0:
                    a.axvspan(b.start - 0.5, b.stop - 0.5, color=BAND_SHADE, zorder=0, lw=0)
                if i:
                    a.axvline(b.start - 0.5, color="#b8bec8", lw=0.7, zorder=0.5)
            span = (b.stop - b.start) / len(names) * width_px
            label = _short(b.label, 16)
            if span > 7 * len(label):                   # fits horizontally
                ax.text((b.start + b.stop - 1) / 2, -0.02, label, transform=trans,
                        ha="center", va="top", fontsize=8)
            elif span > 9:                              # room for vertical text
                ax.text((b.start + b.stop - 1) / 2, -0.02, label, transform=trans,
                        ha="center", va="top", fontsize=7, rotation=90)
                pad = max(pad, 8 + 4.4 * len(label))     # ~4.4 pt per character at 7 pt
    ax.set_xlabel(xlabel, labelpad=pad if bands and not label_each else 4)


def _op_family(op: str) -> str:
    if "conv" in op:
        return "conv"
    if op in ("linear", "rbf"):
        return "linear"
    return "other"


# -- per model ---------------------------------------------------------------------------------
@_figure
def layer_work_figure(a: "Analysis"):
    """Parameters and MACs of each conv/linear layer (two panels over the same layers)."""
    from .report.series import bands, weighted_layers
    from .render.numbers import human
    plt = _plt()
    layers = weighted_layers(a)
    if not layers:                    # pooling and activations only: nothing to draw as bars
        fig = _new(plt, figsize=(11, 3))
        ax = fig.subplots()
        ax.axis("off")
        ax.text(0.5, 0.5, "no convolution or fully connected layer: no layer multiplies by "
                "weights", ha="center", va="center", fontsize=11, color="#555555")
        fig.suptitle(f"{mpl_text(a.name)}: parameters and multiply-adds per layer",
                     fontweight="bold")
        return fig
    names = [r.name for r in layers]
    label_each = len(layers) <= 48
    fig = _new(plt, figsize=(11, 7.2 if label_each else 6.2))
    ax_p, ax_m = fig.subplots(2, 1, sharex=True)
    colors = [OP_COLORS[_op_family(r.op)] for r in layers]
    params = [r.params for r in layers]
    macs = [r.macs_by_kind.get("weight", 0) for r in layers]
    any_log = False
    for ax, values, unit, what, total in (
            (ax_p, params, "", "parameters", f"{human(a.totals.params)} parameters in all"),
            (ax_m, macs, "MACs", "multiply-adds",
             f"{human(a.totals.macs_by_kind['weight'], 'MACs')} (conv + linear) in all")):
        scale, label = _decimal_unit(values, unit)
        scaled = [v / scale for v in values]
        ax.bar(range(len(values)), scaled, color=colors, width=0.8, zorder=2)
        if _wide_range(values):
            any_log = True
            ax.set_yscale("log")
            _plain_ticks(ax.yaxis)
            ax.set_ylim(min(v for v in scaled if v > 0) / 2, max(scaled) * 2)
        else:
            ax.set_ylim(0, max(scaled) * 1.1)
        ax.set_ylabel(f"{what} ({label or 'count'})")
        ax.set_title(total, loc="right", fontsize=9, fontweight="normal")
    families = sorted({_op_family(r.op) for r in layers}, key=list(OP_COLORS).index)
    from matplotlib.patches import Patch
    ax_p.legend([Patch(color=OP_COLORS[f]) for f in families],
                [{"conv": "convolution", "linear": "fully connected", "other": "other"}[f]
                 for f in families], loc="lower left", bbox_to_anchor=(0, 1.0), ncol=len(families),
                borderaxespad=0.2)
    _x_layers([ax_p, ax_m], names, bands(names), label_each,
              f"convolution and fully connected layers, in order ({len(layers)})")
    fig.suptitle(f"{mpl_text(a.name)}: parameters and multiply-adds per layer", fontweight="bold")
    fig.text(0.5, 0.948, _input_text(a) + ("; log scale where values span more than 100×"
                                           if any_log else ""),
             ha="center", va="top", fontsize=9, color="#555555")
    fig.align_ylabels()
    fig.tight_layout(rect=(0, 0, 1, 0.955))
    return fig


def _input_text(a: "Analysis") -> str:
    return (f"input {'×'.join(map(str, a.input_shape))}"
            + (f", batch {a.batch}" if a.batch != 1 else ""))


@_figure
def memory_figure(a: "Analysis"):
    """Each layer's output memory (bars) and the memory alive while each layer runs (line)."""
    from .report.series import bands, memory_series
    from .render.numbers import human_bytes
    plt = _plt()
    s = memory_series(a)
    n = len(s.names)
    label_each = n <= 48
    fig = _new(plt, figsize=(11, 6.2 if label_each else 5.4))
    ax = fig.subplots()
    scale, unit = _binary_unit(s.live_bytes + s.output_bytes)
    xs = range(n)
    outputs = [v / scale for v in s.output_bytes]
    if n <= 120:
        ax.bar(xs, outputs, width=0.85, color=OP_COLORS["conv"], alpha=0.75, zorder=2,
               label="output of the layer")
    else:                                    # too many bars to draw one by one: an area
        ax.fill_between(xs, outputs, step="mid", color=OP_COLORS["conv"], alpha=0.6, lw=0,
                        zorder=2, label="output of the layer")
    ax.step(xs, [v / scale for v in s.live_bytes], where="mid", color=LIVE_COLOR, lw=1.4,
            zorder=3, label="alive while the layer runs (inputs, output, tensors still needed)")
    p = s.peak_index
    peak = s.live_bytes[p] / scale
    ax.plot([p], [peak], "o", color=LIVE_COLOR, ms=7, zorder=4)
    frac = (p + 0.6) / (n + 0.2)
    right = frac < 0.7
    ax.annotate(f"peak {human_bytes(s.live_bytes[p])} while {_short(s.names[p], 36)} runs",
                (p, peak), xytext=(frac + (0.03 if right else -0.03), 0.95),
                textcoords="axes fraction", ha="left" if right else "right", va="top",
                fontsize=9, color=LIVE_COLOR,
                bbox={"facecolor": "white", "edgecolor": LIVE_COLOR, "lw": 0.6, "pad": 3},
                arrowprops={"arrowstyle": "->", "color": LIVE_COLOR, "lw": 0.8}, zorder=5)
    ax.set_ylim(0, max(s.live_bytes + s.output_bytes) / scale * 1.25)
    ax.set_ylabel(f"activation memory ({unit}, {a.dtype})")
    ax.legend(loc="lower left", bbox_to_anchor=(0, 1.0), ncol=2, borderaxespad=0.2)
    _x_layers([ax], s.names, bands(s.names), label_each, f"layers, in execution order ({n})")
    fig.suptitle(f"{mpl_text(a.name)}: activation memory per layer ({_input_text(a)}, {a.dtype})",
                 fontweight="bold")
    fig.tight_layout()
    return fig


#: categories of a memory report grouped for the timeline (cnnstat.memory.model.CATEGORIES)
STEP_GROUPS = (
    ("weights, buffers, optimizer state", ("parameters", "buffers", "master weights",
                                           "optimizer state"), "#7f7f7f"),
    ("parameter gradients", ("gradients",), "#d1762f"),
    ("saved for backward", ("saved activations", "weight casts"), "#3b6fb6"),
    ("other activations and the input", ("activations", "input"), "#8fb3e0"),
    ("activation gradients", ("activation gradients",), "#c03d3e"),
    ("optimizer step workspace", ("optimizer workspace",), "#b07cc6"),
)


def _memory_title(report: Any) -> str:
    from .render.memory import mode_text
    checkpoint = ", checkpointed per block" if report.options.checkpoint is not None else ""
    return f"{mpl_text(report.name)}: {mode_text(report)}{checkpoint}"


@_figure
def memory_layers_figure(report: Any):
    """Per layer: the activations it saves for backward against its parameters, gradients and
    optimizer state (stacked bars over the same layers; inference: outputs and parameters)."""
    from .report.series import bands
    plt = _plt()
    rows = report.layers
    names = [r.name for r in rows]
    n = len(names)
    label_each = n <= 48
    train = report.options.train
    first = [r.saved_bytes + r.cast_bytes if train else r.output_bytes for r in rows]
    weights = [r.param_bytes + r.buffer_bytes for r in rows]
    grads = [r.grad_bytes for r in rows]
    state = [r.optimizer_bytes + r.master_bytes for r in rows]
    scale, unit = _binary_unit(first + [w + g + o for w, g, o in zip(weights, grads, state)])
    fig = _new(plt, figsize=(11, 6.6 if label_each else 5.8))
    top, bottom = fig.subplots(2, 1, sharex=True)
    xs = list(range(n))
    label = "saved for backward" if train else "output of the layer"
    top.bar(xs, [v / scale for v in first], width=0.85, color="#3b6fb6", label=label, zorder=2)
    top.set_ylabel(f"{label.split(' of')[0]} ({unit})")
    base = [0.0] * n
    for values, color, what in ((weights, "#7f7f7f", "parameters and buffers"),
                                (grads, "#d1762f", "gradients"),
                                (state, "#b07cc6", "optimizer state")):
        if any(values):
            ys = [v / scale for v in values]
            bottom.bar(xs, ys, width=0.85, bottom=base, color=color, label=what, zorder=2)
            base = [b + y for b, y in zip(base, ys)]
    bottom.set_ylabel(f"weights ({unit})")
    for ax in (top, bottom):
        ax.legend(loc="best", ncol=3)
    _x_layers([top, bottom], names, bands(names), label_each, f"layers, in execution order ({n})")
    total = report.saved_activations + report.weight_casts if train else \
        sum(r.output_bytes for r in rows)
    fig.suptitle(f"{_memory_title(report)}: {_human_bytes(total)} "
                 f"{'saved' if train else 'of outputs'}, {_human_bytes(report.parameters)} "
                 "of parameters", fontweight="bold")
    fig.tight_layout()
    return fig


@_figure
def memory_timeline_figure(report: Any):
    """Live bytes over one step, stacked by kind: forward, loss, (recompute,) backward, step."""
    plt = _plt()
    points = report.timeline
    fig = _new(plt, figsize=(11, 5.4))
    ax = fig.subplots()
    scale, unit = _binary_unit([p.bytes for p in points])
    xs = list(range(len(points) + 1))         # each point one step wide, the last one too
    base = [0.0] * len(xs)
    for label, cats, color in STEP_GROUPS:
        ys = [sum(p.by_category().get(c, 0) for c in cats) / scale for p in points]
        ys.append(ys[-1])
        if any(ys):
            top = [b + y for b, y in zip(base, ys)]
            ax.fill_between(xs, base, top, step="post", color=color, lw=0, label=label)
            base = top
    peak = points.index(report.peak_point) if report.peak_point in points else 0
    peak += 0.5                                # the middle of its step
    ax.plot([peak], [report.peak / scale], "o", color="black", ms=5, zorder=4)
    where = (f"{report.peak_point.phase} of {_short(report.peak_point.layer, 30)}"
             if report.peak_point.layer else report.peak_point.phase)
    frac = (peak + 0.5) / max(len(points), 1)
    right = frac < 0.6
    ax.annotate(f"peak {_human_bytes(report.peak)} at the {where}", (peak, report.peak / scale),
                xytext=(frac + (0.03 if right else -0.03), 1.0), textcoords="axes fraction",
                ha="left" if right else "right", va="top", fontsize=9,
                bbox={"facecolor": "white", "edgecolor": "black", "lw": 0.6, "pad": 3},
                arrowprops={"arrowstyle": "->", "lw": 0.8}, zorder=5)
    # phases: a line where each begins, its name above
    starts: list[tuple[int, str]] = []
    for i, p in enumerate(points):
        if not starts or starts[-1][1] != p.phase:
            starts.append((i, p.phase))
    longest: dict[str, tuple[int, int]] = {}        # each phase named once, at its longest run
    for k, (i, phase) in enumerate(starts):
        end = starts[k + 1][0] if k + 1 < len(starts) else len(points)
        if k:
            ax.axvline(i, color="#b8bec8", lw=0.6, zorder=0.5)
        if end - i > longest.get(phase, (0, 0))[1] - longest.get(phase, (0, 0))[0]:
            longest[phase] = (i, end)
    for phase, (i, end) in longest.items():
        if end - i >= 0.04 * len(points):
            ax.text((i + end) / 2, -0.02, phase, transform=ax.get_xaxis_transform(),
                    ha="center", va="top", fontsize=9)
    ax.set_xlim(0, len(points))
    ax.set_ylim(0, report.peak / scale * 1.22)
    ax.set_xticks([])
    ax.grid(axis="x", visible=False)
    ax.set_xlabel("the step, one point per layer and phase", labelpad=18)
    ax.set_ylabel(f"live bytes ({unit})")
    ax.legend(loc="lower left", bbox_to_anchor=(0, 1.0), ncol=3, borderaxespad=0.2)
    fig.suptitle(f"{_memory_title(report)}: live memory over the step", fontweight="bold")
    fig.tight_layout()
    return fig


def _human_bytes(n: int) -> str:
    from .render.numbers import human_bytes
    return human_bytes(n)


@_figure
def rf_figure(a: "Analysis"):
    """Receptive-field size and effective stride against depth."""
    from .report.series import rf_series
    plt = _plt()
    from .ops.base import UNIT_WORDS
    s = rf_series(a)
    unit = UNIT_WORDS.get(a.rank, "units")          # px, samples, voxels
    fig = _new(plt, figsize=(10, 5.4))
    ax = fig.subplots()
    depths = [p.depth for p in s.points]
    # one line per group of axes, labelled by name where the input is not an image: the larger
    # of height and width (2-D, and 3-D beside its depth), the length of a 1-D input
    named = "" if a.rank == 2 else ("" if a.rank == 1 else f", {s.label}")
    ax.plot(depths, [p.size for p in s.points], "o-", color=OP_COLORS["conv"], ms=4, lw=1.8,
            label=f"receptive field size{named} ({unit})")
    largest = max(p.size for line in (s, *s.others) for p in line.points)
    # an input far larger than every field (a 32,000-sample waveform) would flatten the curves:
    # it is then stated, not drawn
    scale = max(line.input_size for line in (s, *s.others)) <= 4 * largest
    off_scale = []
    for line in s.others:
        ax.plot([p.depth for p in line.points], [p.size for p in line.points], "s--",
                color=OP_COLORS["other"], ms=3.5, lw=1.5,
                label=f"receptive field size, {line.label} ({unit})")
        text = f"input {line.label} {line.input_size}"
        if scale:
            ax.axhline(line.input_size, color="#999999", ls=":", lw=1)
            ax.text(0.01, line.input_size, text, va="bottom", ha="left", fontsize=9,
                    color="#777777", transform=ax.get_yaxis_transform())
        else:
            off_scale.append(text)
    main = f"input size {s.input_size} {unit}" if a.rank != 3 else \
        f"input {s.label} {s.input_size}"
    if scale:
        ax.axhline(s.input_size, color="#555555", ls="--", lw=1)
        ax.text(0.01, s.input_size, main, va="bottom", ha="left",
                fontsize=9, color="#555555", transform=ax.get_yaxis_transform())
    else:
        ax.text(0.01, 0.97, "; ".join([main] + off_scale) + " (above the scale)", va="top",
                ha="left", fontsize=9, color="#555555", transform=ax.transAxes)
    last = s.points[-1]
    label = (f"{last.size:g} {unit} at {_short(last.name, 30)}", (last.depth, last.size))
    end = max(p.depth for p in s.points)
    if s.whole_at is not None:
        if not s.global_context:     # global pooling: the field is the whole input from there
            end = s.whole_at
        ax.axvline(s.whole_at, color="#999999", ls=":", lw=1)
        ax.text(s.whole_at, 0.62 if s.global_context else 0.5,
                f"whole input from {_short(s.whole_name or '', 26)} on"
                + ("\nvia global context (gates); the curve is the local field"
                   if s.global_context else ""),
                transform=ax.get_xaxis_transform(), fontsize=8, color="#555555", ha="center",
                va="center", rotation=90, zorder=6,
                bbox={"facecolor": "white", "edgecolor": "none", "pad": 1.5})
    top = max([largest] + ([line.input_size for line in (s, *s.others)] if scale else []))
    ax.set_ylim(0, top * 1.12)
    ax.set_xlim(-0.5, end + 0.5)
    from matplotlib.ticker import MaxNLocator
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("depth: layers that change the receptive field, along the longest path")
    ax.set_ylabel(f"receptive field size (input {s.unit})")
    ax2 = ax.twinx()
    ax2.step(depths + [end], [p.stride for p in s.points] + [s.points[-1].stride], where="post",
             color=OP_COLORS["linear"], lw=1.4,
             label=f"effective stride{named} ({unit}, right axis)")
    ax2.set_yscale("log", base=2)
    _plain_ticks(ax2.yaxis)
    ax2.set_ylabel(f"effective stride (input {s.unit}, log scale)")
    ax2.grid(False)
    # on the twin axes, which are drawn last, so that the stride line passes behind the label
    ax2.annotate(label[0], label[1], xycoords=ax.transData, xytext=(-8, 6),
                 textcoords="offset points", ha="right", va="bottom", fontsize=9,
                 bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.9, "pad": 1},
                 zorder=5)
    ax2.spines["right"].set_visible(True)
    lines = [l for l in ax.get_lines() if not l.get_label().startswith("_")] + ax2.get_lines()[:1]
    ax.legend(lines, [l.get_label() for l in lines], loc="lower right",
              bbox_to_anchor=(0.97, 0.02), frameon=True, facecolor="white", edgecolor="none")
    title = f"{mpl_text(a.name)}: receptive-field growth with depth ({_input_text(a)})"
    if not s.exact:
        title += "\napproximate after upsampling (fractional strides)"
    ax.set_title(title)
    fig.tight_layout()
    return fig


# -- across models -----------------------------------------------------------------------------
@_figure
def compare_figure(rows: Sequence[Any], title: str = "Models side by side"):
    """Horizontal bars per model: parameters, multiply-adds and peak activation memory.
    ``rows`` carry ``label``, ``params``, ``macs``, ``peak_activation_bytes``."""
    plt = _plt()
    n = len(rows)
    fig = _new(plt, figsize=(12, max(3.0, 0.9 + 0.3 * n)))
    axes = fig.subplots(1, 3, sharey=True)
    labels = [mpl_text(r.label) for r in rows]
    panels = (("params", "parameters", _decimal_unit([r.params for r in rows], "")),
              ("macs", "multiply-adds", _decimal_unit([r.macs for r in rows], "MACs")),
              ("peak_activation_bytes", "peak activation memory",
               _binary_unit([r.peak_activation_bytes for r in rows])))
    ys = range(n)
    for ax, (key, what, (scale, unit)), color in zip(
            axes, panels, (OP_COLORS["conv"], OP_COLORS["linear"], LIVE_COLOR)):
        values = [getattr(r, key) / scale for r in rows]
        ax.barh(ys, values, color=color, height=0.7)
        log = _wide_range(values)
        if log:
            ax.set_xscale("log")
            _plain_ticks(ax.xaxis)
        ax.set_xlabel(f"{what} ({unit or 'count'}{', log scale' if log else ''})")
        ax.grid(axis="y", visible=False)
        for y, v in zip(ys, values):
            ax.text(v, y, f" {v:.3g}", va="center", ha="left", fontsize=8)
        right = max(values) if values else 1
        if log:
            ax.set_xlim(min(v for v in values if v > 0) / 2, right * 8)
        else:
            ax.set_xlim(0, right * 1.25)
    axes[0].set_yticks(list(ys), labels)
    axes[0].set_ylim(n - 0.5, -0.5)             # first model on top, no empty margin
    fig.suptitle(mpl_text(title), fontweight="bold")
    fig.tight_layout()
    return fig


@_figure
def tradeoff_figure(rows: Sequence[Any], title: str):
    """Multiply-adds against parameters, colour = published ImageNet top-1 (Canziani, Paszke &
    Culurciello 2017, "An Analysis of Deep Neural Network Models for Practical Applications", plot
    accuracy against operations with size = parameters; here the two costs are the axes and
    accuracy is the colour). ``rows`` carry ``label``, ``params``, ``macs``, ``top1`` (or None)."""
    plt = _plt()
    from matplotlib import colormaps
    from matplotlib.colors import Normalize
    fig = _new(plt, figsize=(12, 8.5) if len(rows) < 30 else (15, 11))
    ax = fig.subplots()
    known = [r for r in rows if r.top1 is not None]
    unknown = [r for r in rows if r.top1 is None]
    cmap = colormaps["viridis"]
    if known:
        tops = [r.top1 for r in known]
        lo, hi = min(tops), max(tops)
        norm = Normalize(vmin=lo - 1 if lo == hi else lo, vmax=hi + 1 if lo == hi else hi)
        sc = ax.scatter([r.macs / 1e9 for r in known], [r.params / 1e6 for r in known],
                        c=tops, cmap=cmap, norm=norm, s=70, edgecolors="black", linewidths=0.5,
                        zorder=3)
        bar = fig.colorbar(sc, ax=ax, pad=0.02)
        bar.set_label("published ImageNet-1K top-1 accuracy (%)")
    if unknown:
        ax.scatter([r.macs / 1e9 for r in unknown], [r.params / 1e6 for r in unknown], s=55,
                   facecolors="white", edgecolors="#777777", linewidths=1.0, zorder=3,
                   label="no published ImageNet top-1 in cnnstat/data/accuracy.yaml")
        ax.legend(loc="lower right")
    ax.set_xscale("log")
    ax.set_yscale("log")
    _plain_ticks(ax.xaxis)
    _plain_ticks(ax.yaxis)
    images = all(len(getattr(r, "input", (0, 0, 0))) == 3 for r in rows)
    ax.set_xlabel(f"multiply-adds per {'image' if images else 'input (image, clip, volume, ...)'} "
                  "(GMACs, log scale)")
    ax.set_ylabel("parameters (M, log scale)")
    ax.set_title(mpl_text(title))
    xs = [r.macs / 1e9 for r in rows]
    ys = [r.params / 1e6 for r in rows]
    if xs:
        ax.set_xlim(min(xs) / 2.5, max(xs) * 2.5)
        ax.set_ylim(min(ys) / 2.5, max(ys) * 2.5)
    texts = [mpl_text(r.label if r.top1 is None else f"{r.label} {r.top1:.1f}%") for r in rows]
    fig.tight_layout()
    place_labels(ax, list(zip(xs, ys)), texts, fontsize=8 if len(rows) < 30 else 7.5,
                 first=[r.top1 is not None for r in rows])
    return fig


@_figure
def sweep_figure(grid: Any):
    """Totals over a grid: multiply-adds and peak activation memory against the swept axis, one
    line per combination of the other settings. ``grid`` is a cnnstat.report.sweep.Sweep."""
    plt = _plt()
    fig = _new(plt, figsize=(12, 5.2))
    ax_m, ax_a = fig.subplots(1, 2)
    lines = grid.lines()
    macs = [c.macs for line in lines for c in line.cells if c.ok]
    mems = [c.peak_activation_bytes for line in lines for c in line.cells if c.ok]
    m_scale, m_unit = _decimal_unit(macs, "MACs")
    a_scale, a_unit = _binary_unit(mems)
    cmap_colors = ["#3b6fb6", "#d1762f", "#2e8b57", "#c03d3e", "#7b52ab", "#8c6d31", "#1f9ea8",
                   "#d45fa0", "#555555"]
    for i, line in enumerate(lines):
        ok = [c for c in line.cells if c.ok]
        if not ok:
            continue
        color = cmap_colors[i % len(cmap_colors)]
        style = "-" if i < len(cmap_colors) else "--"
        xs = [c.x for c in ok]
        ax_m.plot(xs, [c.macs / m_scale for c in ok], "o" + style, color=color, label=mpl_label(line.label))
        ax_a.plot(xs, [c.peak_activation_bytes / a_scale for c in ok], "o" + style, color=color,
                  label=mpl_label(line.label))
    for ax, what, unit, values in ((ax_m, "multiply-adds", m_unit, macs),
                                   (ax_a, "peak activation memory", a_unit, mems)):
        ax.set_xlabel(grid.x_label)
        ax.set_ylabel(f"{what} ({unit})")
        if grid.x_numeric:
            ax.set_xticks(sorted({c.x for line in lines for c in line.cells}))
        if _wide_range(values):
            ax.set_yscale("log")
            _plain_ticks(ax.yaxis)
    if len(lines) > 1:
        # legend entries from the highest line at the right end down, as the lines lie
        handles, labels = ax_m.get_legend_handles_labels()
        ends = [h.get_ydata()[-1] for h in handles]
        order = sorted(range(len(handles)), key=lambda i: -ends[i])
        ax_m.legend([handles[i] for i in order], [labels[i] for i in order], loc="upper left",
                    fontsize=8)
    ax_m.set_title("multiply-adds")
    ax_a.set_title(f"peak activation memory ({grid.dtype}, batch {grid.batch})")
    fig.suptitle(grid.title, fontweight="bold")
    fig.tight_layout()
    return fig


# -- labels that do not overlap ----------------------------------------------------------------
def place_labels(ax, points: list[tuple[float, float]], texts: list[str], fontsize: float = 8,
                 first: list[bool] | None = None) -> None:
    """Label points without overlaps: for each point (``first`` ones, then the most crowded,
    first), try positions on rings of growing radius around it and take the first whose box
    overlaps no marker, no earlier label and stays inside the axes; a label placed away from its
    point gets a thin leader line. Boxes are computed arithmetically (one text measure each)."""
    import math
    fig = ax.figure
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    px_per_pt = fig.dpi / 72
    marks = [tuple(ax.transData.transform(p)) for p in points]
    frame = ax.get_window_extent(renderer)
    sizes = []
    for text in texts:
        probe = ax.text(0, 0, text, fontsize=fontsize)
        box = probe.get_window_extent(renderer)
        sizes.append((box.width + 4, box.height + 2))
        probe.remove()
    marker_r = 6
    occupied = [(x - marker_r, y - marker_r, x + marker_r, y + marker_r) for x, y in marks]

    def overlaps(b, others) -> int:
        return sum(1 for o in others if b[0] < o[2] and o[0] < b[2] and b[1] < o[3] and o[1] < b[3])

    def crowd(i: int) -> int:
        x, y = marks[i]
        return sum(1 for (u, v) in marks if abs(u - x) < 80 and abs(v - y) < 30)

    firsts = first or [False] * len(points)
    order = sorted(range(len(points)), key=lambda k: (not firsts[k], -crowd(k), k))
    angles = [0, 180, 90, 270, 30, 150, 210, 330, 60, 120, 240, 300]
    rings = [7, 14, 24, 36, 50, 66, 84, 104, 126, 150]
    for i in order:
        w, h = sizes[i]
        x, y = marks[i]
        best = None
        for r in rings:
            for a in angles:
                c, s_ = math.cos(math.radians(a)), math.sin(math.radians(a))
                ax_, ay = x + r * c, y + r * s_
                x0 = ax_ if c > 0.3 else ax_ - w if c < -0.3 else ax_ - w / 2
                y0 = ay if s_ > 0.3 else ay - h if s_ < -0.3 else ay - h / 2
                box = (x0, y0, x0 + w, y0 + h)
                inside = (frame.x0 <= box[0] and box[2] <= frame.x1 and frame.y0 <= box[1]
                          and box[3] <= frame.y1)
                cost = overlaps(box, occupied) + (0 if inside else 100)
                if best is None or cost < best[0]:
                    best = (cost, box, r)
                if cost == 0:
                    break
            if best[0] == 0:
                break
        _, box, r = best
        occupied.append(box)
        # the text's lower-left corner, as an offset in points from the data point
        dx, dy = (box[0] + 2 - x) / px_per_pt, (box[1] + 1 - y) / px_per_pt
        arrow = {"arrowstyle": "-", "color": "#888888", "lw": 0.6, "shrinkA": 0, "shrinkB": 4} \
            if r > 14 else None
        ax.annotate(texts[i], points[i], xytext=(dx, dy), textcoords="offset points", ha="left",
                    va="bottom", fontsize=fontsize, zorder=4, arrowprops=arrow)


# -- timing (cnnstat bench, cnnstat roofline) ----------------------------------------------------
BOUND_COLORS = {"compute": "#3b6fb6", "memory": "#c03d3e"}
SERIES_COLORS = ["#3b6fb6", "#d1762f", "#2e8b57", "#c03d3e", "#7b52ab", "#8c6d31", "#1f9ea8",
                 "#d45fa0", "#555555"]


@_figure
def bench_figure(rows: Sequence[Any], title: str = "Latency and throughput against batch size"):
    """Two panels over the batch sizes of a cnnstat bench sweep, one line per configuration
    (model, dtype, memory format, compile): median latency with its p10–p90 range as error bars,
    the roofline prediction dashed where there is one; throughput (images/s = batch / median).
    ``rows`` are cnnstat.timing.sweep.Row; rows that failed are listed under the plot."""
    plt = _plt()
    from matplotlib.ticker import NullLocator
    fig = _new(plt, figsize=(12, 5.4))
    ax_l, ax_t = fig.subplots(1, 2)
    series: dict[str, list] = {}
    for r in rows:
        if r.ok:
            series.setdefault(r.series, []).append(r)
    latencies = [r.stats.median * 1e3 for rs in series.values() for r in rs]
    latencies += [r.predicted_s * 1e3 for rs in series.values() for r in rs if r.predicted_s]
    throughputs = [r.throughput for rs in series.values() for r in rs]
    predicted_label = False
    for i, (label, rs) in enumerate(series.items()):
        rs = sorted(rs, key=lambda r: r.batch)
        color = SERIES_COLORS[i % len(SERIES_COLORS)]
        style = "-" if i < len(SERIES_COLORS) else "--"
        xs = [r.batch for r in rs]
        med = [r.stats.median * 1e3 for r in rs]
        err = [[m - r.stats.p10 * 1e3 for m, r in zip(med, rs)],
               [r.stats.p90 * 1e3 - m for m, r in zip(med, rs)]]
        ax_l.errorbar(xs, med, yerr=err, fmt="o" + style, color=color, capsize=3,
                      label=mpl_label(label))
        pred = [(r.batch, r.predicted_s * 1e3) for r in rs if r.predicted_s]
        if pred:
            ax_l.plot([p[0] for p in pred], [p[1] for p in pred], ":", marker="s", mfc="white",
                      color=color, lw=1.2, ms=5,
                      label=None if predicted_label else "roofline prediction (dotted)")
            predicted_label = True
        ax_t.plot(xs, [r.throughput for r in rs], "o" + style, color=color, label=mpl_label(label))
    batches = sorted({r.batch for rs in series.values() for r in rs})
    for ax, values, ylabel in ((ax_l, latencies, "latency per batch (ms), median, p10–p90"),
                               (ax_t, throughputs, "throughput (images/s)")):
        if len(batches) > 1 and batches[-1] / batches[0] >= 8:
            ax.set_xscale("log", base=2)
        if batches:
            ax.set_xticks(batches, [str(b) for b in batches])
            ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xlabel("batch size")
        ax.set_ylabel(ylabel)
        if _wide_range(values, 30):
            ax.set_yscale("log")
            _plain_ticks(ax.yaxis)
    ax_l.set_title("latency")
    ax_t.set_title("throughput")
    if series:
        handles, labels = ax_l.get_legend_handles_labels()
        order = sorted(range(len(labels)), key=lambda i: labels[i].startswith("roofline"))
        ax_l.legend([handles[i] for i in order], [labels[i] for i in order], loc="upper left",
                    fontsize=8)
    failed = [r for r in rows if not r.ok]
    if failed:
        shown = "; ".join(f"{r.series} batch {r.batch}: {r.status}" for r in failed[:4])
        more = f" (+{len(failed) - 4} more)" if len(failed) > 4 else ""
        fig.text(0.01, 0.01, f"not measured: {shown}{more}", fontsize=8, color=LIVE_COLOR)
    fig.suptitle(mpl_text(title), fontweight="bold")
    fig.tight_layout(rect=(0, 0.03 if failed else 0, 1, 1))
    return fig


@_figure
def roofline_figure(prediction: Any, measured_s: float | None = None, title: str | None = None):
    """The roofline model of one network on one device (Williams, Waterman & Patterson 2009).
    Left: attainable FLOP/s against arithmetic intensity (FLOP/byte), log–log: the bandwidth
    diagonal and the peaks the layers use; each layer at its intensity and predicted rate, marker
    area ∝ its predicted time, colour = operator family; the whole model's predicted point, and
    its measured point when ``measured_s`` (seconds per batch) is given. Right: predicted time
    of every layer in execution order, coloured by what bounds it. Marker area grows with the
    layer's predicted time (the slowest layer largest). ``prediction`` is a
    cnnstat.roofline.Prediction."""
    plt = _plt()
    profile = prediction.profile
    layers = [p for p in prediction.layers if not p.cost.view]
    fig = _new(plt, figsize=(13, 5.6))
    ax_r, ax_t = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.15, 1]})
    placed = [p for p in layers if p.cost.flops and p.cost.bytes and p.time_s > 0]
    peaks = {}
    for p in layers:
        if p.matrix_unit in profile.matrix:
            peaks[p.matrix_unit] = profile.matrix[p.matrix_unit]
    if not peaks:
        peaks[prediction.dtype] = profile.matrix.get(prediction.dtype, profile.vector)
    top = max(list(peaks.values()) + [profile.vector])
    scale, unit = _decimal_unit([top], "FLOP/s")
    intensities = [p.cost.intensity for p in placed] or [profile.ridge]
    lo = min(min(intensities), profile.vector / profile.bandwidth, min(peaks.values())
             / profile.bandwidth) / 4
    hi = max(max(intensities), top / profile.bandwidth) * 4
    xs = [lo * (hi / lo) ** (i / 200) for i in range(201)]
    ax_r.plot(xs, [x * profile.bandwidth / scale for x in xs], color="#444444", lw=1.2,
              label=f"memory: {profile.bandwidth / 1e9:.4g} GB/s")
    for i, (name, peak) in enumerate(sorted(peaks.items(), key=lambda kv: -kv[1])):
        ridge = peak / profile.bandwidth
        ax_r.plot([ridge, hi], [peak / scale] * 2, color="#444444", lw=1.6 - 0.4 * i,
                  ls="-" if i == 0 else "--",
                  label=f"{name} matrix peak: {peak / scale:.4g} {unit} (ridge {ridge:.3g} FLOP/B)")
    if all(abs(profile.vector - v) > 1e-9 * v for v in peaks.values()):
        ridge = profile.vector / profile.bandwidth
        ax_r.plot([ridge, hi], [profile.vector / scale] * 2, color="#888888", lw=1.0, ls=":",
                  label=f"vector peak (element-wise work): {profile.vector / scale:.4g} {unit}")
    slowest = max((p.time_s for p in placed), default=0.0) or 1.0
    for family in ("other", "linear", "conv"):
        group = [p for p in placed if _op_family(p.cost.op) == family]
        if not group:
            continue
        ax_r.scatter([p.cost.intensity for p in group],
                     [p.attained_flops / scale for p in group],
                     s=[10 + 240 * p.time_s / slowest for p in group], color=OP_COLORS[family],
                     alpha=0.55, edgecolors="white", linewidths=0.5, zorder=3,
                     label={"conv": "convolution layers", "linear": "linear layers",
                            "other": "other layers (norm, activation, pool, merge …)"}[family])
    if prediction.bytes and prediction.flops:
        model_x = prediction.flops / prediction.bytes
        ax_r.scatter([model_x], [prediction.flops / prediction.total_s / scale], marker="D", s=60,
                     color="black", zorder=4, label="whole model, predicted (with overhead)")
        if measured_s:
            ax_r.scatter([model_x], [prediction.flops / measured_s / scale], marker="*", s=180,
                         color="#e0a800", edgecolors="black", linewidths=0.6, zorder=5,
                         label="whole model, measured")
    ax_r.set_xscale("log")
    ax_r.set_yscale("log")
    _plain_ticks(ax_r.xaxis)
    _plain_ticks(ax_r.yaxis)
    ax_r.set_xlim(lo, hi)
    floor = min([p.attained_flops / scale for p in placed] + [top / scale / 1e3])
    ax_r.set_ylim(floor / 3, top / scale * 3)
    ax_r.set_xlabel("arithmetic intensity (FLOP per byte moved, log scale)")
    ax_r.set_ylabel(f"attainable performance ({unit}, log scale)")
    ax_r.set_title(f"roofline: {profile.title}, {prediction.dtype}")
    ax_r.legend(loc="best", fontsize=7.5)

    longest = max((p.time_s for p in prediction.layers), default=0.0)
    t_scale, t_unit = (1e3, "ms") if longest >= 5e-3 else (1e6, "µs")
    times = [p.time_s * t_scale for p in prediction.layers]
    colors = [BOUND_COLORS.get(p.bound, "#bbbbbb") for p in prediction.layers]
    ax_t.bar(range(len(times)), times, width=1.0 if len(times) > 60 else 0.8, color=colors)
    ax_t.set_xlim(-0.6, len(times) - 0.4)
    ax_t.set_xlabel(f"layers in execution order ({len(times)})")
    ax_t.set_ylabel(f"predicted time ({t_unit})")
    ax_t.grid(axis="x", visible=False)
    if _wide_range([t for t in times if t > 0], 1000):
        ax_t.set_yscale("log")
        _plain_ticks(ax_t.yaxis)
    share = prediction.time_by_bound()
    from matplotlib.patches import Patch
    ax_t.legend(handles=[Patch(color=BOUND_COLORS["compute"],
                               label=f"compute-bound: {share['compute'] * 1e3:.3g} ms"),
                         Patch(color=BOUND_COLORS["memory"],
                               label=f"memory-bound: {share['memory'] * 1e3:.3g} ms")],
                loc="upper right", fontsize=8)
    ax_t.set_title(f"Σ layers {prediction.layers_s * 1e3:.3g} ms + {prediction.launches} launches "
                   f"× {profile.launch_overhead * 1e6:.3g} µs = {prediction.total_s * 1e3:.3g} ms",
                   fontsize=10.5)
    fig.suptitle(mpl_text(title or f"{prediction.model}, batch {prediction.batch}: roofline "
                          "prediction"),
                 fontweight="bold")
    fig.tight_layout()
    return fig


# -- history (cnnstat history) -------------------------------------------------------------------
def _time_axis(ax, axis, labels: bool = True) -> None:
    """Years on the x axis (labels in the middle of each year, lines at year starts) and a
    hatched band with '//' where empty years are cut out (cnnstat.report.history.TimeAxis)."""
    from matplotlib.ticker import FixedLocator, NullFormatter
    from .report.history import BREAK
    ticks = axis.ticks()
    ax.xaxis.set_major_locator(FixedLocator(axis.year_starts()))
    ax.xaxis.set_major_formatter(NullFormatter())
    ax.xaxis.set_minor_locator(FixedLocator([x for x, _ in ticks]))
    ax.tick_params(axis="x", which="minor", length=0)
    if labels:
        ax.set_xticks([x for x, _ in ticks], [str(y) for _, y in ticks], minor=True,
                      fontsize=8.5)
    ax.grid(axis="x", which="major", color="#e3e3e3", lw=0.6)
    ax.grid(axis="x", which="minor", visible=False)
    for b in axis.breaks():
        ax.axvspan(b - BREAK / 2, b + BREAK / 2, facecolor="#f4f4f4", edgecolor="#d6d6d6",
                   hatch="//", lw=0, zorder=0)
    ax.set_xlim(-0.25, axis.width + 0.25)


def _family_legend(fig_or_ax, h, **kwargs) -> None:
    from matplotlib.lines import Line2D
    handles = [Line2D([], [], marker="o", ls="", color=h.color(f), markeredgecolor="black",
                      markeredgewidth=0.5, ms=7, label=mpl_label(f)) for f in h.families]
    fig_or_ax.legend(handles=handles, title="zoo family", **kwargs)


@_figure
def history_figure(h: Any):
    """The zoo on a timeline: one panel each for parameters (log), multiply-adds (log) and
    published ImageNet-1K top-1 (%), against the date of each architecture. Every zoo model is a
    dot in its family's colour; the architecture's labelled model is ringed, and a line spans its
    variants. ``h`` is a cnnstat.report.history.History."""
    plt = _plt()
    axis = h.axis
    fig = _new(plt, figsize=(13, 12))
    axes = fig.subplots(3, 1, sharex=True, gridspec_kw={"height_ratios": [1, 1, 0.9]})
    macs_label = "multiply-adds" if list(h.convention.kinds) == ["weight"] else \
        "MACs (counted kinds)"
    panels = (("params", "parameters (M, log scale)", 1e6, True),
              ("macs", f"{macs_label} (GMACs, log scale)", 1e9, True),
              ("top1", "published ImageNet-1K top-1 (%)", 1.0, False))
    missing: list[str] = []
    for ax, (key, ylabel, scale, log) in zip(axes, panels):
        marks, texts = [], []
        for a in h.architectures:
            x = axis.x(a.when)
            color = h.color(a.family)
            values = [(m, getattr(h.points[m], key)) for m in a.models
                      if m in h.points and getattr(h.points[m], key) is not None]
            if not values:
                if key == "top1":
                    missing.append(a.name)
                continue
            ys = [v / scale for _, v in values]
            if len(ys) > 1 and max(ys) > min(ys):
                ax.plot([x, x], [min(ys), max(ys)], color=color, lw=3, alpha=0.3,
                        solid_capstyle="round", zorder=2)
            ax.scatter([x] * len(ys), ys, s=16, color=color, alpha=0.75, lw=0, zorder=3)
            shown = dict(values).get(a.headline)
            y = (shown if shown is not None else values[0][1]) / scale
            ax.scatter([x], [y], s=64, color=color, edgecolors="black", linewidths=0.7,
                       zorder=4)
            marks.append((x, y))
            texts.append(mpl_text(a.name))
        ys = [y for _, y in marks]
        if log:
            ax.set_yscale("log")
            _plain_ticks(ax.yaxis)
            lows = [getattr(h.points[m], key) / scale for m in h.points
                    if getattr(h.points[m], key)]
            ax.set_ylim(min(lows) / 3, max(lows) * 4)
        elif ys:
            lows = [p.top1 for p in h.points.values() if p.top1 is not None]
            ax.set_ylim(min(lows) - 4, max(lows) + 3)
        ax.set_ylabel(ylabel)
        _time_axis(ax, axis, labels=ax is axes[-1])
        ax.grid(axis="y", which="major")
        place_labels(ax, marks, texts, fontsize=8)
    if missing:
        axes[2].text(0.005, 0.03, "no published ImageNet-1K top-1 in cnnstat/data/accuracy.yaml: "
                     + ", ".join(missing), transform=axes[2].transAxes, fontsize=8,
                     color="#555555", va="bottom")
    axes[-1].set_xlabel("date the architecture was first made public (arXiv preprint or "
                        "paper); hatched: years without a zoo architecture, cut out")
    _family_legend(fig, h, loc="upper center", bbox_to_anchor=(0.5, 0.952), ncol=7,
                   fontsize=8.5, title_fontsize=9, frameon=False)
    fig.suptitle(f"The zoo through time: {len(h.points)} models of {len(h.architectures)} "
                 "architectures, as cnnstat counts them", fontweight="bold", y=0.995)
    fig.text(0.5, 0.968, "each dot a zoo model at its default input, at its architecture's "
             "date; ringed and named: the architecture's main model; "
             + h.convention.describe().split(";")[0], ha="center", va="top", fontsize=8.5,
             color="#555555")
    fig.align_ylabels()
    fig.tight_layout(rect=(0, 0, 1, 0.885))
    return fig


@_figure
def tree_figure(h: Any):
    """The family tree against time: one row per architecture at its date, below the one it
    built on (elbow lines), each labelled with the idea of that step; what it also built on as
    dashed arrows. ``h`` is a cnnstat.report.history.History (its ``rows()`` give the order)."""
    plt = _plt()
    axis = h.axis
    rows = h.rows()
    n = len(rows)
    fig = _new(plt, figsize=(13, 1.5 + 0.34 * n))
    ax = fig.subplots()
    row = {name: i for i, name in enumerate(rows)}
    pos = {a.name: axis.x(a.when) for a in h.architectures}
    for s in h.steps:
        (xp, yp), (xc, yc) = (pos[s.parent], row[s.parent]), (pos[s.child], row[s.child])
        if s.primary:
            ax.plot([xp, xp, xc], [yp, yc, yc], color="#8a93a6", lw=1.3, zorder=1,
                    solid_joinstyle="round")
        else:
            ax.annotate("", xy=(xc, yc), xytext=(xp, yp),
                        arrowprops={"arrowstyle": "-|>", "ls": (0, (3, 2)), "color": "#b3b9c6",
                                    "lw": 0.9, "shrinkA": 5, "shrinkB": 6,
                                    "connectionstyle": "arc3,rad=-0.15"}, zorder=1)
    _time_axis(ax, axis)
    ax.set_ylim(n - 0.4, -0.8)
    ax.set_yticks([])
    ax.spines["left"].set_visible(False)
    ax.grid(axis="y", visible=False)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    pt = 72 / fig.dpi                                  # points per pixel
    ends = []                                          # (x of the node, pixels of its labels)
    from matplotlib.colors import to_rgba
    for a in h.architectures:
        x, y, color = pos[a.name], row[a.name], h.color(a.family)
        ax.scatter([x], [y], s=46, color=color, edgecolors="black", linewidths=0.6, zorder=3)
        name = ax.annotate(mpl_text(a.name), (x, y), xytext=(8, 0), textcoords="offset points",
                           va="center", fontsize=9, fontweight="bold", zorder=4,
                           bbox={"boxstyle": "round,pad=0.25", "facecolor": to_rgba(color, 0.16),
                                 "edgecolor": color, "lw": 0.8})
        width = name.get_window_extent(renderer).width * pt + 8
        into = [s for s in h.steps_into(a.name) if s.primary]
        text = f"{a.year}" + (f" · {mpl_text(into[0].idea)}" if into else "")
        idea = ax.annotate(text, (x, y), xytext=(width + 7, 0), textcoords="offset points",
                           va="center", fontsize=8.5, color="#4a5160", zorder=4)
        ends.append((x, (width + 7) / pt + idea.get_window_extent(renderer).width + 6))
    # widen the axis to the right until every label fits (labels keep their size in pixels)
    x0, x1 = ax.get_xlim()
    w_px = ax.get_window_extent(renderer).width
    need = max([x1] + [x0 + (x - x0) * w_px / (w_px - w) for x, w in ends if w < w_px])
    ax.set_xlim(x0, need)
    _family_legend(ax, h, loc="lower left", fontsize=8, title_fontsize=8.5, frameon=True,
                   facecolor="white", edgecolor="#dddddd", framealpha=0.95)
    ax.set_title(f"The zoo's family tree: {n} architectures, which built on which, and the idea "
                 "of each step", fontweight="bold")
    ax.set_xlabel("date first made public; dashed arrows: what an architecture also built on; "
                  "hatched: years without a zoo architecture, cut out")
    fig.tight_layout()
    return fig
