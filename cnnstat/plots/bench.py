"""The figure of ``cnnstat bench``: latency and throughput against batch size."""

from __future__ import annotations

from typing import Any, Sequence

from ..render.escape import mpl_label, mpl_text
from .base import LIVE_COLOR, SERIES_COLORS, _figure, _new, _plain_ticks, _plt, _wide_range


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
