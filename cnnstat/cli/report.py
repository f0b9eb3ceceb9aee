"""``cnnstat report``, ``cnnstat compare`` and ``cnnstat sweep``: reports with plots, models side
by side, grids of totals. Heavy imports (matplotlib) happen inside the commands."""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import UsageError
from .app import (ArgOpt, BatchOpt, CountOpt, DtypeOpt, InputOpt, OutOpt, SetOpt, TrainOpt,
                  VariantOpt, app, console, emit)


class TableFormat(str, Enum):
    table = "table"
    md = "md"
    csv = "csv"
    json = "json"
    html = "html"


TableFormatOpt = Annotated[TableFormat, typer.Option(
    "--format", "-f", help="Output format; html is one self-contained page with the chart.")]
PlotOpt = Annotated[Optional[str], typer.Option(
    "--plot", "-p", help="Also write the chart to this file: .png or .svg (atomically).")]


def _note(text: str) -> None:
    print(text, file=sys.stderr)


def _plot_file(path: str | None) -> str | None:
    if path is None:
        return None
    if Path(path).suffix.lower() not in (".png", ".svg"):
        raise UsageError(f"--plot '{path}': the file name must end in .png or .svg")
    return path


def _write_plot(fig, path: str) -> None:
    from .. import plots
    from ..fileio import atomic_write
    out = plots.render_all(fig)
    atomic_write(path, out[Path(path).suffix.lower().lstrip(".")])
    _note(f"wrote {path}")


def _rich_table(t, title: str, caption: str):
    from rich import box
    from rich.table import Table
    table = Table(box=box.SIMPLE_HEAD, title=title, caption=caption, caption_justify="left")
    for header, numeric in zip(t.headers, t.numeric):
        table.add_column(header, justify="right" if numeric else "left", overflow="fold")
    for row in t.rows:
        table.add_row(*row)
    return table


@app.command("report")
def report(
    models: Annotated[Optional[list[str]], typer.Argument(
        help="Models: zoo names (cnnstat list) or definition files.", show_default=False)] = None,
    out: Annotated[Optional[str], typer.Option(
        "--out", "-o", help="Folder to write the reports into (created if needed).")] = None,
    format: Annotated[str, typer.Option(
        "--format", "-f", help="Comma list of md, csv, json, html.")] = "md,csv,json,html",
    input: InputOpt = None,
    batch: BatchOpt = 1,
    set_: SetOpt = None,
    arg: ArgOpt = None,
    count: CountOpt = None,
    dtype: DtypeOpt = "fp32",
    compare: Annotated[str, typer.Option(
        "--compare", help="Comparison report: auto (when several models), models, zoo (every "
                          "zoo model), none.")] = "auto",
    train: TrainOpt = False,
) -> None:
    """Write reports: Markdown with plots, per-layer CSV, JSON, one-page HTML; a comparison.

    Per model, a folder with MODEL.md (summary, totals, counting convention, plots, receptive-field
    and per-layer tables), MODEL.csv (every layer), MODEL.json and MODEL.html (self-contained);
    with several models (or --compare zoo), a comparison; README.md indexes them. Nothing is
    written unless every model can be analysed."""
    from ..report.build import Options, build, parse_formats, write
    if not out:
        raise UsageError("cnnstat report needs --out DIR, the folder to write the reports into")
    if Path(out).exists() and not Path(out).is_dir():
        raise UsageError(f"--out '{out}' is a file, not a folder")
    formats = parse_formats(format)
    opts = Options(input=input, batch=batch, set=set_, count=count, dtype=dtype, args=arg,
                   train=train)
    built = build(list(models or []), opts, formats, compare,
                  progress=lambda name: _note(f"rendering {name} ..."), out_dir=out)
    paths = write(built, out)
    _note(f"wrote {len(paths)} files under {out}/ (index: {Path(out) / 'README.md'})")


@app.command("compare")
def compare(
    models: Annotated[Optional[list[str]], typer.Argument(
        help="Models to compare; none: every zoo model.", show_default=False)] = None,
    input: InputOpt = None,
    batch: BatchOpt = 1,
    set_: SetOpt = None,
    arg: ArgOpt = None,
    count: CountOpt = None,
    dtype: DtypeOpt = "fp32",
    format: TableFormatOpt = TableFormat.table,
    out: OutOpt = None,
    plot: PlotOpt = None,
    train: TrainOpt = False,
) -> None:
    """Models side by side: one table of totals and one chart.

    The table: parameters, MACs, FLOPs, peak activation memory, largest local receptive field,
    output, and the published ImageNet top-1 where known (cited). Without MODEL: every zoo model."""
    from ..report import compare as cmp
    from ..report.build import Options, analyse, zoo_models
    plot = _plot_file(plot)
    names = list(models or []) or zoo_models()
    opts = Options(input=input, batch=batch, set=set_, count=count, dtype=dtype, args=arg,
                   train=train)
    analyses = [analyse(n, opts) for n in dict.fromkeys(names)]
    rows = [cmp.compare_row(a, n, published=opts.as_published)
            for n, a in zip(dict.fromkeys(names), analyses)]
    convention = analyses[0].convention
    title = f"Comparison of {len(rows)} models" if models else \
        f"Comparison across the zoo ({len(rows)} models)"
    if plot:
        _write_plot(cmp.figures(rows, title, tradeoff=False)["totals"](), plot)
    table = cmp.table(rows)
    if format is TableFormat.json:
        emit(cmp.to_json(rows, convention), out)
    elif format is TableFormat.csv:
        emit(cmp.csv_text(rows), out)
    elif format is TableFormat.html:
        from .. import plots
        from ..report.document import to_html
        figs = cmp.figures(rows, title)
        svgs = {f"compare-{k}": plots.render_svg(make()) for k, make in figs.items()}
        emit(to_html(title, cmp.compare_blocks(rows, convention, "compare", title), svgs), out)
    elif format is TableFormat.md or out:
        from ..report.document import Para, to_markdown
        blocks = [table]
        if any(r.global_context for r in rows):
            blocks.append(Para(cmp.GLOBAL_NOTE))
        if plot and out:
            import os
            rel = os.path.relpath(os.path.abspath(plot), os.path.dirname(os.path.abspath(out)))
            blocks.append(Para(f"[![{title}]({rel})]({rel})"))
        blocks += [Para(convention.describe() + "."), Para(cmp.sources_text(rows))]
        emit(to_markdown(blocks), out)
    else:
        notes = [convention.describe(), cmp.sources_text(rows, full=False).replace("`", "")]
        if any(r.global_context for r in rows):
            notes.insert(0, cmp.GLOBAL_NOTE)
        console().print(_rich_table(table, title, "\n".join(notes)))
        if not plot:
            _note("(the chart: add --plot FILE.png or .svg; one page with both: --format html)")


@app.command("sweep")
def sweep(
    model: Annotated[str, typer.Argument(help="A zoo model or a definition file.",
                                         show_default=False)],
    set_: Annotated[Optional[list[str]], typer.Option(
        "--set", "-s", help="A variable and its values: --set alpha=0.25,0.5,1.0 (repeatable; "
                            "every combination is analysed).")] = None,
    input: Annotated[Optional[str], typer.Option(
        "--input", "-i", help="Input sizes: 128,160,192,224 (each 224, 160x224 or 3x224x224).")]
        = None,
    batch: BatchOpt = 1,
    variant: VariantOpt = None,
    count: CountOpt = None,
    dtype: DtypeOpt = "fp32",
    format: TableFormatOpt = TableFormat.table,
    out: OutOpt = None,
    plot: PlotOpt = None,
) -> None:
    """A grid of totals over variable values and input sizes, with a plot.

    Every combination of the --set value lists and the --input sizes is analysed; the plot shows
    MACs and peak activation memory against the input size, one line per setting."""
    from ..report import sweep as sw  # the module (cnnstat.report.sweep)
    plot = _plot_file(plot)
    s = sw.run(model, set_, input, batch=batch, count=count, dtype=dtype, variant=variant)
    if plot:
        from .. import plots
        _write_plot(plots.sweep_figure(s), plot)
    table = sw.table(s)
    if format is TableFormat.json:
        emit(sw.to_json(s), out)
    elif format is TableFormat.csv:
        emit(sw.csv_text(s), out)
    elif format is TableFormat.html:
        from .. import plots
        from ..report.document import Figure, Heading, Para, SideBySide, to_html
        svg = plots.render_svg(plots.sweep_figure(s))
        blocks = [Heading(s.title, 1), Para(s.convention.describe() + "."),
                  SideBySide([table, Figure("sweep", s.title)])]
        emit(to_html(s.title, blocks, {"sweep": svg}), out)
    elif format is TableFormat.md or out:
        from ..report.document import Heading, Para, to_markdown
        emit(to_markdown([Heading(s.title, 2), table, Para(s.convention.describe() + ".")]), out)
    else:
        console().print(_rich_table(table, s.title, s.convention.describe()))
        if not plot:
            _note("(the plot: add --plot FILE.png or .svg; one page with both: --format html)")
    failed = sum(1 for c in s.cells if not c.ok)
    if failed:
        _note(f"note: {failed} of {len(s.cells)} combinations cannot be analysed (see the table)")
