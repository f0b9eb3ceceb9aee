"""The header facts printed above every table and report: model, input, totals, convention."""

from __future__ import annotations

from ..analyze import Analysis
from ..receptive import local_view
from . import numbers as fmt
from .blocks import Brief


def model_title(a: Analysis) -> str:
    meta = a.graph.meta
    title = meta.get("title")
    return f"{a.name} — {title}" if title else a.name


def facts(a: Analysis, layout: str = "nchw") -> list[tuple[str, str]]:
    """(label, value) pairs, in the order people read them."""
    t = a.totals
    meta = a.graph.meta
    out: list[tuple[str, str]] = [("model", model_title(a))]
    if meta.get("paper"):
        out.append(("paper", str(meta["paper"])))
    names = a.graph.inputs
    arguments = meta.get("input_arguments", {})      # an imported forward's parameter names
    shown = fmt.dims(a.input_shape) if len(names) < 2 else ", ".join(   # several: each named
        f"{arguments.get(n, n)} {fmt.dims(tuple(a.graph[n].attrs['shape']))}" for n in names)
    out.append(("input", f"{shown}{_axes_note(a)}, batch {a.batch}, {a.dtype}"))
    if meta.get("traced"):
        out.append(("traced", str(meta["traced"])))
    outputs = ", ".join(fmt.shape(s, layout) for s in a.output_shapes)
    out.append(("output", outputs))
    mode = mode_fact(a)
    if mode:
        out.append(mode)
    out.append(("parameters", f"{fmt.grouped(t.params)} ({fmt.human(t.params)})"
                + (f", of which trainable {fmt.grouped(t.trainable_params)}"
                   if t.trainable_params != t.params else "")))
    out.append(("buffers", f"{fmt.grouped(t.buffers)} (batch-norm running statistics)"
                if t.buffers else "0"))
    out.append(("MACs", f"{fmt.grouped(t.macs)} ({fmt.human(t.macs, 'MAC')})"))
    out.append(("FLOPs", f"{fmt.grouped(t.flops)} ({fmt.human(t.flops, 'FLOP')})"))
    out.append(("connections", fmt.grouped(t.connections)))
    out.append(("activations", f"{fmt.grouped(t.activations)} elements, "
                f"{fmt.human_bytes(t.activation_bytes)} in all; peak live "
                f"{fmt.human_bytes(t.peak_activation_bytes)}"))
    if a.records:
        text = ", ".join(fmt.rf_size(a.by_name[o].rf) for o in a.outputs) + " at the output"
        views = [(r, local_view(r.rf)) for r in a.records]
        local = [(r, v) for r, v in views if v is not None]
        if local:
            widest, view = max(local, key=lambda rv: (rv[1].volume, -rv[0].index))
            text += f"; largest local field {fmt.rf_size(view)} {_unit(a)} ({widest.name})"
        out.append(("receptive field", text + _exact_centre(a)))
    missing = not_counted(a)
    if missing:
        calls = ", ".join(dict.fromkeys(r.attrs["what"] for r in missing))
        out.append(("not counted", f"{len(missing)} layer(s) without a cnnstat rule ({calls}): "
                    "their work is missing from the MACs and FLOPs"))
    for warning in meta.get("warnings", ()):
        out.append(("warning", str(warning)))
    # in full in files; the terminal prints the short form unless --explain (render.blocks.Brief)
    out.append(("convention", Brief(a.convention.describe(), a.convention.short())))
    return out


def mode_fact(a: Analysis) -> tuple[str, str] | None:
    """What the mode changes: at inference, the training-only heads (listed, marked [train],
    parameters counted, work not); in training, that they are counted. None for a model without
    training-only layers analysed at inference (nothing to say)."""
    heads = a.train_only_heads
    names = ", ".join(heads)
    params = sum(r.params for r in a.train_only)
    macs = sum(r.macs for r in a.train_only)
    held = (f"{names} ({len(a.train_only)} layers, marked [train]: {fmt.grouped(params)} "
            f"parameters, {fmt.grouped(macs)} MACs)")
    if a.train:
        if not heads:
            return ("mode", "training (--train): the model has no training-only layers; every "
                            "layer is counted as at inference")
        return ("mode", f"training (--train): the totals include the training-only {held}")
    if not heads:
        return None
    one = len(heads) == 1
    return ("training only", f"{held} {'runs' if one else 'run'} only in training: "
                             f"{'its' if one else 'their'} work is not in the totals here "
                             f"(--train counts it), {'its' if one else 'their'} parameters are, "
                             "as torch counts the model's")


def _exact_centre(a: Analysis) -> str:
    """Where the output's field is an envelope (fractional strides), what its centre unit reads
    exactly (cnnstat rf --at; traced by the analysis: ``Analysis.centre_field``)."""
    field = a.centre_field
    if field is None:
        return ""
    return f"; the centre output unit reads exactly {fmt.dims(field.size)} {_unit(a)} (rf --at)"


def _unit(a: Analysis) -> str:
    from ..ops.base import UNIT_WORDS
    return UNIT_WORDS.get(a.rank, "units")


def _axes_note(a: Analysis) -> str:
    """' (C×L)' or ' (C×D×H×W)': what the sizes are, where the input is not an image."""
    if a.rank == 2:
        return ""
    from ..ops.base import AXIS_LETTERS
    return " (" + "×".join(["C"] + [AXIS_LETTERS[n] for n in a.axes]) + ")"


def not_counted(a: Analysis) -> list:
    """The layers whose work cnnstat cannot count (imported calls without a rule)."""
    return [r for r in a.records if r.op == "not_counted"]
