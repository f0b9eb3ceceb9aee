"""``cnnstat check``: the static numbers against the running model, or a definition against
torchvision's implementation. torch is imported inside the command only."""

from __future__ import annotations

from typing import Annotated, Any, Optional

import typer

from ..errors import UsageError
from .app import (ArgOpt, BatchOpt, Format, FormatOpt, InputOpt, ModelArg, OutOpt, SetOpt,
                  TrainOpt, VariantOpt, app, console, emit)

DeviceOpt = Annotated[Optional[str], typer.Option(
    "--device", help="cpu, cuda or meta (shapes and counts without allocating activations). "
                     "Default: cpu; with --against: meta.")]
AgainstOpt = Annotated[Optional[str], typer.Option(
    "--against", help="Compare the definition with torchvision's implementation instead: "
                      "torchvision or torchvision:NAME (default NAME: the model's).")]
AgainstArgOpt = Annotated[Optional[list[str]], typer.Option(
    "--against-arg", help="Argument of torchvision's builder with --against: "
                          "--against-arg width_mult=0.5 (repeatable).")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Seed of the random weights and input.")]
DiffOnlyOpt = Annotated[bool, typer.Option(
    "--differences", help="List only the layers that differ.")]

OK, DIFFER = "✓", "✗"


@app.command("check")
def check_command(
    model: ModelArg,
    input: InputOpt = None,
    batch: BatchOpt = 1,
    set_: SetOpt = None,
    variant: VariantOpt = None,
    arg: ArgOpt = None,
    device: DeviceOpt = None,
    against: AgainstOpt = None,
    against_arg: AgainstArgOpt = None,
    seed: SeedOpt = 0,
    differences: DiffOnlyOpt = False,
    format: FormatOpt = Format.table,
    out: OutOpt = None,
    train: TrainOpt = False,
) -> int:
    """Run the model in torch and compare, layer by layer, output shapes and parameters with the
    static analysis and conv/linear MACs with fvcore and FlopCounterMode (converted to cnnstat's
    convention); or, with --against torchvision, compare the definition with torchvision's
    network: totals, then every differing layer. Both run in eval mode, as the analysis counts;
    --train runs both in training mode. Exit status 0: all agree; 1: something differs."""
    if against is not None:
        from ..torch_bridge.against import against_torchvision, parse_against
        name = parse_against(against)
        report = against_torchvision(model, name, input=input, batch=batch, set=set_,
                                     variant=variant, args=arg, against_args=against_arg,
                                     device=device or "meta", seed=seed, train=train)
        _show(report, format, out, differences, _against_text, _against_table)
    else:
        if against_arg:
            raise UsageError("--against-arg goes with --against torchvision")
        from ..torch_bridge.check import check
        report = check(model, input=input, batch=batch, set=set_, variant=variant, args=arg,
                       device=device or "cpu", seed=seed, train=train)
        _show(report, format, out, differences, _check_text, _check_table)
    return 0 if report.ok else 1


def _show(report, fmt: Format, out, differences: bool, text, table) -> None:
    """``text(report, differences)`` gives (headers, rows, paragraphs): the paragraphs go before
    the table, except the last (the verdict), which ends the output."""
    if fmt is Format.json:
        import json
        emit(json.dumps(report.to_dict(), indent=2) + "\n", out)
    elif fmt is Format.csv:
        import csv
        import io
        import re
        headers, rows, _ = text(report, differences)
        rows = [[c.replace(",", "") if re.fullmatch(r"[\d,]+", c) else c for c in row]
                for row in rows]                         # plain integers in CSV
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerows([headers] + rows)
        emit(buf.getvalue(), out)
    elif fmt is Format.md or out:
        headers, rows, head = text(report, differences)
        lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]
        parts = head[:-1] + (["\n".join(lines)] if rows else []) + head[-1:]
        emit("\n\n".join(parts) + "\n", out)
    else:
        table(report, differences)


# ------------------------------------------------------------------------------------------------
# cnnstat check MODEL
# ------------------------------------------------------------------------------------------------
def _n(value: Any) -> str:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, (tuple, list)) and value and isinstance(value[0], (tuple, list)):
        return ", ".join(_shape(s) for s in value)
    if isinstance(value, tuple):
        return _shape(value)
    if hasattr(value, "numerator") and not isinstance(value, int):
        return f"{float(value):,.1f}"
    return str(value)


def _shape(shape) -> str:
    return "×".join(str(d) for d in shape[1:]) if len(shape) > 1 else str(list(shape))


def _mark(c) -> str:
    """✓ when the comparison agrees, else ✗ and the measured figure."""
    if c is None:
        return "-"
    return OK if c.ok else f"{DIFFER} {_n(c.measured)}"


CHECK_HEADERS = ["layer", "operator", "output shape", "params", "conv+linear MACs", "fvcore",
                 "FlopCounterMode", "other kinds (fvcore)", "agree", "notes"]


def _check_row(layer) -> list[str]:
    from ..torch_bridge.check import (BUFFERS, FLOP_COUNTER, FVCORE, KIND_QUANTITY, OUTPUT_SHAPE,
                                      PARAMETERS, TORCH, TRAINABLE)
    from ..ops.base import WEIGHT
    if layer.error:
        return [layer.name, layer.op, layer.error, "", "", "", "", "", DIFFER,
                "; ".join(layer.notes)]
    shape = layer.get(OUTPUT_SHAPE, TORCH)
    shape_text = "-" if shape is None else _shape(shape.static) + (
        "" if shape.ok else f" {DIFFER} torch {_shape(shape.measured)}")
    params = layer.get(PARAMETERS, TORCH)
    params_text = "-" if params is None else _n(params.static) + (
        "" if params.ok else f" {DIFFER} torch {_n(params.measured)}")
    for word, q in (("trainable", TRAINABLE), ("buffers", BUFFERS)):
        c = layer.get(q, TORCH)
        if c is not None and not c.ok:
            params_text += f"; {word} {_n(c.static)} {DIFFER} torch {_n(c.measured)}"
    fv = layer.get(KIND_QUANTITY[WEIGHT], FVCORE)
    fcm = layer.get(KIND_QUANTITY[WEIGHT], FLOP_COUNTER)
    macs = fv or fcm
    other = [f"{c.quantity.split()[0]} {_n(c.static)} {_mark(c)}"
             + (f" ({c.raw})" if c.raw else "")
             for c in layer.comparisons
             if c.source == FVCORE and c.quantity != KIND_QUANTITY[WEIGHT]]
    return [layer.name, layer.op, shape_text, params_text,
            _n(macs.static) if macs else "-", _mark(fv), _mark(fcm), ", ".join(other),
            (OK if layer.comparisons else "-") if layer.ok else DIFFER, "; ".join(layer.notes)]


def _check_text(report, differences: bool):
    layers = report.differing_layers if differences else report.layers
    rows = [_check_row(layer) for layer in layers]
    return CHECK_HEADERS, rows, _check_tail(report)


def _title(report) -> str:
    c_h_w = "×".join(str(d) for d in report.input_shape)
    return (f"cnnstat check {report.model}: input {c_h_w}, batch {report.batch}, "
            f"device {report.device}, {report.mode} mode, random weights (seed {report.seed})")


def _totals_lines(report) -> list[str]:
    lines = []
    for c in report.totals:
        raw = f" ({c.raw})" if c.raw else ""
        lines.append(f"{c.quantity}: cnnstat {_n(c.static)}, {c.source} {_n(c.measured)}{raw} "
                     f"{OK if c.ok else DIFFER}")
    return lines


def _verdict(report) -> str:
    n = len(report.layers)
    if report.ok:
        covered = "; ".join(f"{', '.join(qs)} ({src})" for src, qs in report.compared().items())
        return (f"verdict: agree — {n} layers: {covered} match cnnstat's static analysis "
                "(MACs converted to cnnstat's convention: 1 multiply-add = 1 MAC, bias excluded)")
    parts = []
    if report.error:
        parts.append(report.error)
    bad = report.differing_layers
    if bad:
        names = ", ".join(layer.name for layer in bad[:5]) + (", …" if len(bad) > 5 else "")
        parts.append(f"{len(bad)} of {n} layers differ ({names})")
    if report.differing_totals:
        parts.append("totals differ: " + ", ".join(f"{c.quantity} ({c.source})"
                                                   for c in report.differing_totals))
    return "verdict: DIFFER — " + "; ".join(parts)


def _check_tail(report) -> list[str]:
    out = ["**" + _title(report) + "**", "Totals:\n\n" + "\n".join(f"- {t}" for t in
                                                                  _totals_lines(report))]
    if report.notes:
        out.append("Notes:\n\n" + "\n".join(f"- {n}" for n in report.notes))
    out.append(_verdict(report))
    return out


def _check_table(report, differences: bool) -> None:
    from rich import box
    from rich.table import Table
    headers, rows, _ = _check_text(report, differences)
    table = Table(box=box.SIMPLE_HEAD, title=_title(report))
    for h in headers:
        table.add_column(h, overflow="fold",
                         justify="right" if h in ("params", "conv+linear MACs") else "left")
    for row in rows:
        table.add_row(*row, style=None if row[-2] == OK else "red")
    con = console()
    if rows:
        con.print(table)
    else:
        con.print(_title(report))
    totals = Table(box=box.SIMPLE_HEAD, title="totals")
    for h in ("quantity", "cnnstat", "measured", "by", "agree"):
        totals.add_column(h, justify="right" if h in ("cnnstat", "measured") else "left")
    for c in report.totals:
        totals.add_row(c.quantity, _n(c.static), _n(c.measured),
                       c.source + (f" ({c.raw})" if c.raw else ""), OK if c.ok else DIFFER,
                       style=None if c.ok else "red")
    con.print(totals)
    for note in report.notes:
        con.print(f"note: {note}")
    con.print(_verdict(report), style="green" if report.ok else "bold red")


# ------------------------------------------------------------------------------------------------
# cnnstat check MODEL --against torchvision
# ------------------------------------------------------------------------------------------------
AGAINST_HEADERS = ["", "cnnstat layer", "cnnstat", "torchvision layer", "torchvision",
                   "differences"]


def _against_rows(report, differences: bool) -> list[list[str]]:
    from ..torch_bridge.structure import LABELS, show
    steps = report.diff.differing if differences else report.diff.steps
    rows = []
    for s in steps:
        changes = "; ".join(f"{LABELS[a]} {show(a, x)} → {show(a, y)}" for a, x, y in s.changes)
        if s.status == "removed":
            changes = f"only in {report.model}"
        elif s.status == "inserted":
            changes = f"only in {report.reference}"
        rows.append([OK if s.status == "same" else DIFFER,
                     s.left.name if s.left else "", s.left.describe() if s.left else "",
                     s.right.name if s.right else "", s.right.describe() if s.right else "",
                     changes])
    return rows


def _against_title(report) -> str:
    c_h_w = "×".join(str(d) for d in report.input_shape)
    args = "".join(f" --against-arg {k}={v!r}" for k, v in report.reference_args.items())
    return (f"cnnstat check {report.model} --against {report.reference}{args}: input {c_h_w}, "
            f"batch {report.batch}, device {report.device}, {report.mode} mode")


def _against_verdict(report) -> str:
    n = len(report.diff.steps)
    if report.ok:
        return (f"verdict: agree — totals match and the {n} aligned layers (convolutions, "
                "linear, pooling, upsampling, with their normalization) are the same")
    parts = [f"{c.quantity} {_n(c.static)} vs {_n(c.measured)}" for c in report.totals
             if not c.ok]
    k = len(report.diff.differing)
    if k:
        parts.append(f"{k} of {n} aligned layers differ")
    return "verdict: DIFFER — " + "; ".join(parts)


def _summary_lines(report) -> list[str]:
    lines = []
    for what, count, names in report.diff.summary():
        where = ", ".join(names[:4]) + (", …" if len(names) > 4 else "")
        lines.append(f"{what}: {count} layer{'s' if count > 1 else ''} ({where})")
    return lines


def _against_text(report, differences: bool):
    totals = [f"{c.quantity}: cnnstat {_n(c.static)}, {c.source} {_n(c.measured)} "
              f"{OK if c.ok else DIFFER}" for c in report.totals]
    tail = ["**" + _against_title(report) + "**",
            "Totals:\n\n" + "\n".join(f"- {t}" for t in totals)]
    summary = _summary_lines(report)
    if summary:
        tail.append("Differences:\n\n" + "\n".join(f"- {s}" for s in summary))
    if report.notes:
        tail.append("Notes:\n\n" + "\n".join(f"- {n}" for n in report.notes))
    tail.append(_against_verdict(report))
    return AGAINST_HEADERS, _against_rows(report, differences), tail


def _against_table(report, differences: bool) -> None:
    from rich import box
    from rich.table import Table
    con = console()
    totals = Table(box=box.SIMPLE_HEAD, title=_against_title(report))
    for h in ("quantity", "cnnstat", report.reference, "agree"):
        totals.add_column(h, justify="right" if h != "quantity" and h != "agree" else "left")
    for c in report.totals:
        totals.add_row(c.quantity, _n(c.static), _n(c.measured), OK if c.ok else DIFFER,
                       style=None if c.ok else "red")
    con.print(totals)
    summary = report.diff.summary()
    if summary:
        table = Table(box=box.SIMPLE_HEAD, title="structural differences, grouped")
        for h in ("difference", "layers", "where"):
            table.add_column(h, overflow="fold")
        for what, count, names in summary:
            table.add_row(what, str(count), ", ".join(names[:4]) + (", …" if len(names) > 4
                                                                     else ""))
        con.print(table)
    rows = _against_rows(report, differences or not report.diff.same)
    if rows:
        table = Table(box=box.SIMPLE_HEAD, title="aligned layers" + (
            " that differ" if differences or not report.diff.same else ""))
        for h in AGAINST_HEADERS:
            table.add_column(h, overflow="fold")
        for row in rows:
            table.add_row(*row, style=None if row[0] == OK else "red")
        con.print(table)
    for note in report.notes:
        con.print(f"note: {note}")
    con.print(_against_verdict(report), style="green" if report.ok else "bold red")
