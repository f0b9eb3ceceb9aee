"""``cnnstat report``, ``cnnstat compare`` and ``cnnstat sweep``: reports with plots, models side
by side, grids of totals. Heavy imports (matplotlib) happen inside the commands."""

from __future__ import annotations

import sys
from pathlib import Path

from ..render import escape
from .app import (ARG, BATCH, COLUMNS, COUNT, DTYPE, EXPLAIN, FORMAT, FORMAT_HTML, INPUT, MODEL,
                  MODELS, OUT, PLOT, SET, TRAIN, VARIANT, WIDTH, ModelOptions, Opt, command,
                  output_options)

ANALYSIS = (INPUT, BATCH, SET, ARG, COUNT, DTYPE, TRAIN)          # the same for every model compared
TABLE_OUTPUT = (FORMAT_HTML, OUT, COLUMNS, WIDTH, EXPLAIN)   # OUTPUT, with html


def _note(text: str) -> None:
    print(escape.terminal(text), file=sys.stderr)


def _plot_file(path: str | None, out: str | None = None, option: str = "--plot") -> str | None:
    """The --plot file (or ``option``'s), checked with --out before any work: a failing run
    writes neither."""
    from ..errors import UsageError
    from ..fileio import check_output
    if out:
        check_output(out)
    if path is None:
        return None
    if Path(path).suffix.lower() not in (".png", ".svg"):
        raise UsageError(f"{option} '{escape.error_line(path, 300)}': the file name must end "
                         "in .png or .svg")
    check_output(path, option)
    return path


def _write_plot(fig, path: str) -> None:
    from .. import plots
    from ..fileio import atomic_write
    out = plots.render_all(fig)
    atomic_write(path, out[Path(path).suffix.lower().lstrip(".")], what="--plot")
    _note(f"wrote {path}")


def _report_options(args):
    from ..report.build import Options
    return Options(**ModelOptions.of(args).kwargs("input", "batch", "set", "count", "dtype", "arg",
                                                      "train"))


@command("report",
         MODELS.but(help="Models: zoo names (cnnstat list) or definition files."),
         OUT.but(metavar="DIR", help="Folder to write the reports into (created if needed)."),
         FORMAT.but(choices=None, default="md,csv,json,html", metavar="FORMATS",
                    help="Comma list of md, csv, json, html."),
         ANALYSIS,
         Opt("compare", ("--compare",), default="auto", choices=("auto", "models", "zoo", "none"),
             help="Comparison report: auto (when several models), models, zoo (every zoo model), "
                  "none."))
def report(args) -> None:
    """Write reports: Markdown with plots, per-layer CSV, JSON, one-page HTML; a comparison.

    Per model, a folder with MODEL.md (summary, totals, counting convention, plots, receptive-field
    and per-layer tables), MODEL.csv (every layer), MODEL.json and MODEL.html (self-contained);
    with several models (or --compare zoo), a comparison; README.md indexes them. Nothing is
    written unless every model can be analysed."""
    from ..errors import UsageError
    from ..report.build import build, parse_formats, write
    out = args.out
    if not out:
        raise UsageError("cnnstat report needs --out DIR, the folder to write the reports into")
    if Path(out).exists() and not Path(out).is_dir():
        from ..fileio import kind_of
        raise UsageError(f"--out '{escape.error_line(out, 300)}' is "
                         f"{kind_of(Path(out).stat().st_mode)}, not a folder")
    formats = parse_formats(args.format)
    progress = (lambda name: _note(f"rendering {name} ...")) if sys.stderr.isatty() else None
    built = build(list(args.models or []), _report_options(args), formats, args.compare,
                  progress=progress, out_dir=out)
    paths = write(built, out)
    _note(f"wrote {len(paths)} files under {out}/ (index: {Path(out) / 'README.md'})")


@command("compare", MODELS.but(help="Models to compare; none: every zoo model."), ANALYSIS,
         TABLE_OUTPUT, PLOT)
def compare(args) -> None:
    """Models side by side: one table of totals and one chart.

    The table: parameters, MACs, FLOPs, peak activation memory, largest local receptive field,
    output, and the published ImageNet top-1 where known (cited). Without MODEL: every zoo model."""
    from ..render.blocks import Brief
    from ..render.output import Output, show
    from ..report import compare as cmp
    from ..report.build import analyse, zoo_models
    from ..report.document import Para
    plot = _plot_file(args.plot, args.out)
    names = list(dict.fromkeys(args.models or [])) or zoo_models()
    opts = _report_options(args)
    analyses = [analyse(n, opts) for n in names]
    rows = [cmp.compare_row(a, n, published=opts.as_published) for n, a in zip(names, analyses)]
    convention = analyses[0].convention
    title = f"Comparison of {len(rows)} models" if args.models else \
        f"Comparison across the zoo ({len(rows)} models)"
    if plot:
        _write_plot(cmp.figures(rows, title, tradeoff=False)["totals"](), plot)
    grid = cmp.grid(rows)
    grid.title = title
    blocks = [grid]
    if any(r.global_context for r in rows):
        blocks.append(Para(cmp.GLOBAL_NOTE))
    if plot and args.out:
        import os
        rel = os.path.relpath(os.path.abspath(plot), os.path.dirname(os.path.abspath(args.out)))
        blocks.append(Para(f"[![{title}]({rel})]({rel})"))
    blocks += [Para(Brief(convention.describe() + ".", convention.short())),
               Para(Brief(cmp.sources_text(rows), cmp.sources_text(rows, full=False)))]

    def html() -> str:
        from .. import plots
        from ..report.document import to_html
        svgs = {f"compare-{k}": plots.render_svg(make())
                for k, make in cmp.figures(rows, title).items()}
        return to_html(title, cmp.compare_blocks(rows, convention, "compare", title), svgs)

    after = [] if plot else ["(the chart: add --plot FILE.png or .svg; one page with both: "
                             "--format html)"]
    show(Output(blocks, json=lambda: cmp.to_json(rows, convention), html=html, after=after),
         output_options(args))


@command("sweep", MODEL.but(help="A zoo model or a definition file."),
         SET.but(metavar="NAME=V1,V2,...", help=(
             "A variable and its values: --set alpha=0.25,0.5,1.0 (repeatable; every "
             "combination is analysed).")),
         INPUT.but(metavar="SIZES", action=None, help=(
             "Input sizes: 128,160,192,224 (each 224, 160x224 or 3x224x224).")),
         BATCH, VARIANT, COUNT, DTYPE, TABLE_OUTPUT, PLOT)
def sweep(args) -> None:
    """A grid of totals over variable values and input sizes, with a plot.

    Every combination of the --set value lists and the --input sizes is analysed; the plot shows
    MACs and peak activation memory against the input size, one line per setting."""
    from ..render.blocks import Brief
    from ..render.output import Output, show
    from ..report import sweep as sw  # the module (cnnstat.report.sweep)
    from ..report.document import Heading, Para
    plot = _plot_file(args.plot, args.out)
    s = sw.run(args.model, args.set, args.input, batch=args.batch, count=args.count,
               dtype=args.dtype, variant=args.variant)
    if plot:
        from .. import plots
        _write_plot(plots.sweep_figure(s), plot)
    convention = Para(Brief(s.convention.describe() + ".", s.convention.short()))

    def html() -> str:
        from .. import plots
        from ..report.document import Figure, SideBySide, to_html
        svg = plots.render_svg(plots.sweep_figure(s))
        blocks = [Heading(s.title, 1), convention,
                  SideBySide([sw.table(s), Figure("sweep", s.title)])]
        return to_html(s.title, blocks, {"sweep": svg})

    after = [] if plot else ["(the plot: add --plot FILE.png or .svg; one page with both: "
                             "--format html)"]
    show(Output([Heading(s.title, 2), sw.grid(s), convention], json=lambda: sw.to_json(s),
                html=html, after=after), output_options(args))
    failed = sum(1 for c in s.cells if not c.ok)
    if failed:
        _note(f"note: {failed} of {len(s.cells)} combinations cannot be analysed (see the table)")

