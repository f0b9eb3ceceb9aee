"""A roofline prediction as document blocks (terminal, Markdown), CSV (base units) and JSON.
No torch."""

from __future__ import annotations

import io
import json

from ..render.escape import csv_writer
from ..render.numbers import human, human_bytes
from .model import BYTES_CONVENTION, COMPUTE, MEMORY, TIME_CONVENTION, VIEW, Prediction

LAYER_HEADERS = ["layer", "operator", "FLOPs", "weights", "input", "output", "FLOP/B",
                 "predicted µs", "bound", "peak", "share"]
LAYER_NUMERIC = [False, False, True, True, True, True, True, True, False, False, True]
OP_HEADERS = ["operator", "layers", "FLOPs", "bytes", "predicted µs", "share", "bound by"]


def sig(x: float | None, digits: int = 3) -> str:
    """A number with ``digits`` significant figures, never in exponent form: 1,234, 123, 12.3,
    0.0123 (times, rates and ratios in tables)."""
    if x is None:
        return "-"
    if x == 0:
        return "0"
    magnitude = len(str(int(abs(x)))) if abs(x) >= 1 else 0
    if magnitude >= digits:
        return f"{x:,.0f}"
    if abs(x) >= 1:
        return f"{x:.{digits - magnitude}f}"
    return f"{float(f'{x:.{digits}g}'):.12f}".rstrip("0").rstrip(".")


def _share(t: float, total: float) -> str:
    return f"{100 * t / total:.1f}%" if total > 0 else "-"


def layer_cells(pred: Prediction) -> list[list[str]]:
    total = pred.layers_s
    out = []
    for p in pred.layers:
        c = p.cost
        if c.view:
            out.append([c.name, c.op, human(c.flops) if c.flops else "0", "-", "-", "-", "-", "0",
                        "view (no data moved)", "-", "-"])
            continue
        out.append([c.name, c.op, human(c.flops), human_bytes(c.weight_bytes),
                    human_bytes(c.input_bytes), human_bytes(c.output_bytes),
                    sig(c.intensity) if c.intensity is not None else "-", sig(p.time_s * 1e6),
                    p.bound, p.matrix_unit, _share(p.time_s, total)])
    return out


def operator_cells(pred: Prediction) -> list[list[str]]:
    total = pred.layers_s
    def bound(g: dict) -> str:
        parts = [(g[COMPUTE], "compute"), (g[MEMORY], "memory"), (g[VIEW], "view")]
        return ", ".join(f"{n} {what}" for n, what in parts if n)
    return [[g["op"], str(g["layers"]), human(g["flops"]), human_bytes(g["bytes"]),
             sig(g["time_s"] * 1e6), _share(g["time_s"], total), bound(g)]
            for g in pred.by_operator()]


def summary_lines(pred: Prediction, convention: str, source: bool = False) -> list[str]:
    prof = pred.profile
    bound = pred.time_by_bound()
    origin = ("built in: " + (prof.source if source else
                              "datasheet figures, cited by cnnstat device-profile --list")
              if prof.builtin else prof.source)
    return [
        f"device profile: {prof.name} — {prof.title} ({origin})",
        f"predicted latency of batch {pred.batch} at {pred.dtype}: {sig(pred.total_s * 1e3)} ms "
        f"= Σ layers {sig(pred.layers_s * 1e3)} ms (compute-bound {sig(bound[COMPUTE] * 1e3)} ms, "
        f"memory-bound {sig(bound[MEMORY] * 1e3)} ms) + {pred.launches} launches × "
        f"{sig(prof.launch_overhead * 1e6)} µs overhead; {human(pred.flops)}FLOPs, "
        f"{human_bytes(pred.bytes)} moved"
        + (f"; {pred.batch / pred.total_s:,.0f} images/s" if pred.total_s > 0 else ""),
        f"work: {convention}",
        BYTES_CONVENTION,
        TIME_CONVENTION + ("; fp32 convolutions at the TF32 peak where the device has one "
                           "(PyTorch's default cudnn.allow_tf32)" if pred.tf32 else ""),
    ]


LAYER_KEYS = ["layer", "operator", "flops", "weight_bytes", "input_bytes", "output_bytes",
              "intensity", "predicted_us", "bound", "peak", "share"]
OP_KEYS = ["operator", "layers", "flops", "bytes", "predicted_us", "share", "bound_by"]
BOUND_STYLES = {COMPUTE: "blue", MEMORY: "bad", VIEW: "dim"}


def blocks(pred: Prediction, convention, top: int | None = None) -> list:
    """The prediction as document blocks: the summary, the time by operator, and every layer
    (or the ``top`` slowest). ``convention`` may be a cnnstat.render.blocks.Brief."""
    from ..render.blocks import Brief
    from ..render.grid import NAME, WRAP, Col, Grid
    from ..report.document import Heading, Para
    cells = layer_cells(pred)
    rows = list(zip(cells, pred.layers))
    if top:
        rows = sorted(rows, key=lambda cp: -cp[1].time_s)[:top]
    summary = summary_lines(pred, str(convention), source=True)
    short = summary_lines(pred, getattr(convention, "short", str(convention)))
    layer_fits = {"layer": NAME, "operator": WRAP, "bound": WRAP}
    layers = Grid([Col(k, h, n, layer_fits.get(k, "fixed"))
                   for k, h, n in zip(LAYER_KEYS, LAYER_HEADERS, LAYER_NUMERIC)],
                  [c for c, _ in rows], keep=("layer", "predicted_us"),
                  drop_first=("weight_bytes", "input_bytes", "output_bytes", "peak", "operator",
                              "intensity", "share"),
                  styles=[BOUND_STYLES.get(p.bound) for _, p in rows])
    ops = Grid([Col(k, h, 0 < i < len(OP_KEYS) - 1, WRAP if k == "bound_by" else "fixed")
                for i, (k, h) in enumerate(zip(OP_KEYS, OP_HEADERS))],
               operator_cells(pred), keep=("operator", "predicted_us"), selectable=False)
    every = f"The {len(rows)} slowest layers" if top else "Every layer"
    return [Heading(f"{pred.model}: roofline on {pred.profile.title}, {pred.dtype}, "
                    f"batch {pred.batch}", 2),
            Para(Brief("\n".join(f"- {s}" for s in summary),
                       "\n".join(f"- {s}" for s in short))),
            Heading("Where the time goes, by operator", 3), ops, Heading(every, 3), layers]


def markdown(pred: Prediction, convention: str) -> str:
    from ..render.output import markdown as to_markdown
    return to_markdown(blocks(pred, convention))


def csv_text(pred: Prediction) -> str:
    buf = io.StringIO()
    writer = csv_writer(buf)
    rows = pred.to_dict()["layers"]
    columns = list(rows[0]) if rows else ["name"]
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if row[c] is None else row[c] for c in columns])
    return buf.getvalue()


def json_text(pred: Prediction, convention: str) -> str:
    data = pred.to_dict()
    data["conventions"]["work"] = convention
    return json.dumps(data, indent=2) + "\n"
