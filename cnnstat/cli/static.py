"""The static commands: list, summary, params, shapes, flops, rf. None of them imports torch."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from .app import (ArgOpt, BatchOpt, CountOpt, DepthOpt, DtypeOpt, Format, FormatOpt, InputOpt,
                  Layout, LayoutOpt, ModelArg, OutOpt, SetOpt, TrainOpt, VariantOpt, app, console,
                  emit)


def _analyze(model, input, batch, set_, variant, count, dtype, args=None, train=False):
    from .. import analyze
    from ..models import parse_args
    return analyze(model, input, batch=batch, set=set_, variant=variant, count=count, dtype=dtype,
                   args=parse_args(args), train=train)


def _show(view: str, model: str, input, batch, set_, variant, fmt: Format, depth, layout: Layout,
          count, dtype, out, args=None, train=False) -> None:
    a = _analyze(model, input, batch, set_, variant, count, dtype, args, train)
    lay = layout.value
    if fmt is Format.json:
        from ..render.jsonout import to_json
        emit(to_json(a, depth), out)
    elif fmt is Format.csv:
        from ..render.text import csv_text
        emit(csv_text(a, view, depth, lay), out)
        if not out:
            import sys
            print(f"# {a.convention.describe()}", file=sys.stderr)
    elif fmt is Format.md or out:
        from ..render.text import markdown
        emit(markdown(a, view, depth, lay), out)
    else:
        from ..render.table import render
        console().print(render(a, view, depth, lay))


def _view_command(view: str, doc: str):
    def command(
        model: ModelArg,
        input: InputOpt = None,
        batch: BatchOpt = 1,
        set_: SetOpt = None,
        variant: VariantOpt = None,
        format: FormatOpt = Format.table,
        depth: DepthOpt = None,
        layout: LayoutOpt = Layout.nchw,
        count: CountOpt = None,
        dtype: DtypeOpt = "fp32",
        out: OutOpt = None,
        arg: ArgOpt = None,
        train: TrainOpt = False,
    ) -> None:
        _show(view, model, input, batch, set_, variant, format, depth, layout, count, dtype, out,
              arg, train)
    command.__doc__ = doc
    command.__name__ = view
    return command


app.command("summary")(_view_command(
    "summary", "Per-layer output shape, parameters, MACs and receptive field, with totals."))
app.command("params")(_view_command(
    "params", "Parameters per layer, each layer printed as PyTorch prints its module."))
app.command("flops")(_view_command(
    "flops", "MACs and FLOPs per layer under the stated convention (--count adds kinds)."))
AtOpt = Annotated[Optional[str], typer.Option(
    "--at", help="LAYER or LAYER:ROW,COL — instead of the table, the exact input rows and "
                 "columns one unit of LAYER depends on (default: its centre unit), traced back "
                 "through every layer; exact also after upsampling and transposed convolutions, "
                 "where the per-layer field is an envelope.")]


@app.command("rf")
def rf(
    model: ModelArg,
    input: InputOpt = None,
    batch: BatchOpt = 1,
    set_: SetOpt = None,
    variant: VariantOpt = None,
    format: FormatOpt = Format.table,
    depth: DepthOpt = None,
    layout: LayoutOpt = Layout.nchw,
    count: CountOpt = None,
    dtype: DtypeOpt = "fp32",
    out: OutOpt = None,
    arg: ArgOpt = None,
    at: AtOpt = None,
    train: TrainOpt = False,
) -> None:
    """Receptive field per layer: size, effective stride and effective padding; or, with --at,
    the exact field of one unit."""
    if at is None:
        _show("rf", model, input, batch, set_, variant, format, depth, layout, count, dtype, out,
              arg, train)
        return
    from ..render import unit as render
    from ..unit_field import parse_at
    a = _analyze(model, input, batch, set_, variant, count, dtype, arg, train)
    layer, unit = parse_at(at)
    field = a.unit_field(layer, unit)
    if format is Format.json:
        emit(render.unit_json(a, field), out)
    elif format is Format.csv:
        emit(render.unit_csv(a, field), out)
    elif format is Format.md or out:
        emit(render.unit_markdown(a, field), out)
    else:
        lines = render.unit_lines(a, field)
        console().print(f"[bold]{lines[0]}[/bold]\n" + "\n".join(lines[1:]), markup=True,
                        highlight=False, soft_wrap=True)


@app.command("shapes")
def shapes(
    model: Annotated[Optional[str], typer.Argument(
        help="A model; without one, every zoo model is tabulated at --input.",
        show_default=False)] = None,
    input: InputOpt = None,
    batch: BatchOpt = 1,
    set_: SetOpt = None,
    variant: VariantOpt = None,
    format: FormatOpt = Format.table,
    depth: DepthOpt = None,
    layout: LayoutOpt = Layout.nchw,
    dtype: DtypeOpt = "fp32",
    out: OutOpt = None,
    arg: ArgOpt = None,
    train: TrainOpt = False,
) -> None:
    """Output shape and activation memory per layer; without MODEL, every zoo model at --input."""
    if model is not None:
        _show("shapes", model, input, batch, set_, variant, format, depth, layout, None, dtype, out,
              arg, train)
        return
    from ..errors import UsageError
    from ..models import parse_input
    if input is None:
        raise UsageError("without a MODEL, 'cnnstat shapes' needs --input (e.g. --input 224)")
    if set_ or variant:
        raise UsageError("--set and --variant need a MODEL")
    c, h, w = parse_input(input)
    from ..survey import survey
    _show_survey(survey(h, w, c), format, out, f"{h}×{w}")


def _survey_cells(r) -> list[str]:
    stages = " → ".join(str(s[0]) if s[0] == s[1] else f"{s[0]}×{s[1]}" for s in r.stages)
    if r.sizes:                 # fixed-size layers: the error names the sizes it takes
        return [r.model, "-", r.error]
    if r.error:
        need = f"smallest square input: {r.smallest}" if r.smallest else "no square input works"
        return [r.model, "-", f"cannot take this input: {r.error} ({need})"]
    return [r.model, "[" + ", ".join(str(d) for d in r.output) + "]", stages]


def _show_survey(rows, fmt: Format, out, size: str) -> None:
    headers = ["model", "output shape", "feature-map size after each stage (H or H×W)"]
    if fmt is Format.json:
        import json
        data = [{"model": r.model, "output_shape": list(r.output) if r.output else None,
                 "stages": [list(s) for s in r.stages], "error": r.error or None,
                 "smallest_input": r.smallest,
                 "sizes": [list(a) for a in r.sizes] if r.sizes else None} for r in rows]
        emit(json.dumps(data, indent=2) + "\n", out)
    elif fmt is Format.csv:
        import csv
        import io
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["model", "output_shape", "stages", "error", "smallest_input", "sizes"])
        for r in rows:
            sizes = "x".join(f"{a}-{b}" for a, b in r.sizes) if r.sizes else ""
            writer.writerow([r.model, "x".join(map(str, r.output)) if r.output else "",
                             " ".join(f"{h}x{w}" for h, w in r.stages), r.error, r.smallest or "",
                             sizes])
        emit(buf.getvalue(), out)
    elif fmt is Format.md or out:
        lines = [f"## Every zoo model at input {size}", "",
                 "| " + " | ".join(headers) + " |", "|---|---|---|"]
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in _survey_cells(r)) + " |"
                  for r in rows]
        emit("\n".join(lines) + "\n", out)
    else:
        from rich.table import Table
        from rich import box
        table = Table(box=box.SIMPLE_HEAD, title=f"Every zoo model at input {size}")
        for h in headers:
            table.add_column(h, overflow="fold")
        for r in rows:
            table.add_row(*_survey_cells(r), style="red" if r.error else None)
        console().print(table)


@app.command("list")
def list_models(format: FormatOpt = Format.table, out: OutOpt = None) -> None:
    """The zoo: every model family with its year, paper, variants, input and reference numbers."""
    from ..catalog import families
    fams = families()
    if format is Format.json:
        import json
        data = [{"family": f.title, "file": f.file, "year": f.year, "paper": f.paper,
                 "variants": list(f.variants), "inputs": [list(i) for i in f.inputs],
                 "references": list(f.references)} for f in fams]
        emit(json.dumps(data, indent=2) + "\n", out)
        return
    headers = ["family", "year", "paper", "names (variants)", "input", "reference numbers"]
    cells = [[f.title, f.year, f.paper, ", ".join(f.variants), f.input_text, f.reference_text]
             for f in fams]
    if format is Format.csv:
        import csv
        import io
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerows([headers] + cells)
        emit(buf.getvalue(), out)
    elif format is Format.md or out:
        lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in cells]
        emit("\n".join(lines) + "\n", out)
    else:
        from rich import box
        from rich.table import Table
        table = Table(box=box.SIMPLE_HEAD, title="cnnstat zoo")
        for h in headers:
            table.add_column(h, overflow="fold")
        for row in cells:
            table.add_row(*row)
        console().print(table)

