"""The figures of one model (layers, memory, receptive fields; ``Analysis.plot_*``, ``cnnstat
report``) and across models (``cnnstat compare``, ``cnnstat sweep``). The numbers plotted are
cnnstat.plots.series'."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

from ..render.escape import mpl_label, mpl_text
from .base import (LIVE_COLOR, OP_COLORS, _binary_unit, _decimal_unit, _figure, _new, _op_family,
                   _plain_ticks, _plt, _short, _wide_range, _x_layers, place_labels)

if TYPE_CHECKING:  # pragma: no cover
    from ..analyze import Analysis


# -- per model ---------------------------------------------------------------------------------
@_figure
def layer_work_figure(a: "Analysis"):
    """Parameters and MACs of each conv/linear layer (two panels over the same layers)."""
    from .series import bands, weighted_layers
    from ..render.numbers import human
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
    from .series import bands, memory_series
    from ..render.numbers import human_bytes
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
    from ..render.memory import mode_text
    checkpoint = ", checkpointed per block" if report.options.checkpoint is not None else ""
    return f"{mpl_text(report.name)}: {mode_text(report)}{checkpoint}"


@_figure
def memory_layers_figure(report: Any):
    """Per layer: the activations it saves for backward against its parameters, gradients and
    optimizer state (stacked bars over the same layers; inference: outputs and parameters)."""
    from .series import bands
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
    from ..render.numbers import human_bytes
    return human_bytes(n)


@_figure
def rf_figure(a: "Analysis"):
    """Receptive-field size and effective stride against depth."""
    from .series import rf_series
    plt = _plt()
    from ..ops.base import UNIT_WORDS
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
