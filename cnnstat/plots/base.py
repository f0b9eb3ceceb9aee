"""What every figure shares: matplotlib on the Agg backend in cnnstat's style (imported inside the
functions), figures for notebooks apart from pyplot (:func:`for_display`), reproducible bytes
(:func:`render`), units, layer axes and labels that do not overlap."""

from __future__ import annotations

import contextvars
import functools
import io
from typing import Any, Callable, Sequence

from ..render.escape import mpl_text

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


BOUND_COLORS = {"compute": "#3b6fb6", "memory": "#c03d3e"}
SERIES_COLORS = ["#3b6fb6", "#d1762f", "#2e8b57", "#c03d3e", "#7b52ab", "#8c6d31", "#1f9ea8",
                 "#d45fa0", "#555555"]
