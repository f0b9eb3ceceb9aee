"""The figures of ``cnnstat history``: the zoo on a timeline, and its family tree."""

from __future__ import annotations

from typing import Any

from ..render.escape import mpl_label, mpl_text
from .base import _figure, _new, _plain_ticks, _plt, place_labels


# -- history (cnnstat history) -------------------------------------------------------------------
def _time_axis(ax, axis, labels: bool = True) -> None:
    """Years on the x axis (labels in the middle of each year, lines at year starts) and a
    hatched band with '//' where empty years are cut out (cnnstat.report.history.TimeAxis)."""
    from matplotlib.ticker import FixedLocator, NullFormatter
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
        ax.axvspan(b - axis.gap / 2, b + axis.gap / 2, facecolor="#f4f4f4", edgecolor="#d6d6d6",
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
