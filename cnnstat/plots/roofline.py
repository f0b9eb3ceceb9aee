"""The figure of ``cnnstat roofline``: the roofline with each layer's intensity and time."""

from __future__ import annotations

from typing import Any

from ..render.escape import mpl_text
from .base import (BOUND_COLORS, OP_COLORS, _decimal_unit, _figure, _new, _op_family,
                   _plain_ticks, _plt, _wide_range)


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
