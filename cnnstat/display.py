"""cnnstat's results in a notebook: HTML in Jupyter, Markdown elsewhere, one line as ``repr``.

Every result (an :class:`~cnnstat.analyze.Analysis`, a check, a comparison, a sweep, a paper's
tables, the history) is :class:`Displayable`: it lays itself out as report blocks
(cnnstat.report.document), which render as an HTML fragment with the report's columns,
convention line and escaping (``_repr_html_``) or as Markdown (``_repr_markdown_``). Figures come
from the plot methods (cnnstat.plots.for_display), the interactive graph from ``Analysis.view()``
(:class:`Page`, an iframe with the self-contained page as its ``srcdoc``).

:func:`summary` is the one call that analyses a model and shows its table, as torchinfo's
``summary(model, input_size)`` does.

Nothing here is imported by ``import cnnstat`` beyond this module's own few lines; IPython is
imported only inside a running kernel, pandas and matplotlib only by the methods that need them.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from .presenting import Displayable, cell, in_notebook, presents

if TYPE_CHECKING:  # pragma: no cover
    from .analyze import Analysis
    from .report.document import Block


# -- what results ask for by name (cnnstat.presenting: results live below this layer) ------------
@presents("blocks.html")
def _blocks_html(blocks: list["Block"]) -> str:
    from .report.document import to_html_fragment
    return to_html_fragment(blocks)


@presents("blocks.markdown")
def _blocks_markdown(blocks: list["Block"]) -> str:
    from .report.document import to_markdown
    return to_markdown(blocks)


@presents("analysis.frame")
def _analysis_frame(a: "Analysis"):
    from .render.frames import records_frame
    return records_frame(a)


@presents("analysis.dict")
def _analysis_dict(a: "Analysis") -> dict:
    from .render.jsonout import analysis_to_dict
    return analysis_to_dict(a)


def _figure(name: str):
    """A plot method: the figure ``name`` of cnnstat.plots for a notebook (plots.for_display)."""
    def draw(result):
        from . import plots
        return plots.for_display(getattr(plots, name), result)
    return draw


for _name, _figure_name in [("analysis.plot_layers", "layer_work_figure"),
                            ("analysis.plot_memory", "memory_figure"),
                            ("analysis.plot_rf", "rf_figure"),
                            ("memory.plot_layers", "memory_layers_figure"),
                            ("memory.plot_timeline", "memory_timeline_figure")]:
    presents(_name)(_figure(_figure_name))
del _name, _figure_name


@presents("memory.line")
def _memory_line(report) -> str:
    from .render.memory import summary_line
    return summary_line(report)


@presents("memory.blocks")
def _memory_blocks(report) -> list["Block"]:
    from .render.memory import blocks
    return blocks(report)


@presents("memory.dict")
def _memory_dict(report) -> dict:
    from .render.memory import to_dict
    return to_dict(report, report.fit)


# -- an analysis ---------------------------------------------------------------------------------
@presents("analysis.line")
def analysis_line(a: "Analysis") -> str:
    """One line: the model, its input and its headline totals."""
    from .render import numbers as fmt
    t = a.totals
    shape = "×".join(str(d) for d in a.input_shape)
    batch = f", batch {a.batch}" if a.batch != 1 else ""
    return (f"<cnnstat Analysis {a.name!r}: input {shape}{batch}; {fmt.human(t.params)} params, "
            f"{fmt.human(t.macs, 'MACs')}, {t.layers} layers>")


@presents("analysis.blocks")
def analysis_blocks(a: "Analysis") -> list["Block"]:
    """What the HTML report shows first: title, facts (with the counting convention) and the
    layer table of the report's columns, collapsed by block beyond 80 rows with every layer
    under a collapsed section."""
    from .render.facts import facts, model_title
    from .report.document import Facts, Heading
    from .report.model import LAYER_COLUMNS, table_depth, table_section
    return [Heading(model_title(a), 3), Facts(facts(a))] + \
        table_section(a, None, LAYER_COLUMNS, table_depth(a), level=4)


@presents("analysis.table")
class LayerTable(Displayable):
    """The layer table of an analysis with chosen columns and depth (``Analysis.table()``,
    :func:`summary`): the facts above it, the totals in its last row."""

    def __init__(self, analysis: "Analysis", columns: Any = None, depth: int | None = None):
        from .render.columns import select_columns
        self.analysis = analysis
        self.columns = select_columns(columns)
        self.depth = depth

    def _display_blocks(self) -> list["Block"]:
        from .render.facts import facts, model_title
        from .report.document import Facts, Heading
        from .report.model import layer_table
        a = self.analysis
        return [Heading(model_title(a), 3), Facts(facts(a)),
                layer_table(a, self.columns, self.depth)]

    def text(self, stream=None) -> str:
        """The facts, then the table, as the command line prints them: fitted to ``stream``'s
        terminal (cnnstat.render.terminal) or, for a file or a string, at full width."""
        from .render.facts import facts
        from .render.terminal import Screen, render_blocks
        from .render.views import layer_grid
        from .report.document import Facts
        a = self.analysis
        grid = layer_grid(a, "summary", self.depth).with_keys([c.key for c in self.columns])
        screen = Screen.detect(stream=stream) if stream is not None else Screen(None, False)
        return render_blocks([Facts(facts(a)), grid], screen)

    def __str__(self) -> str:
        return self.text()

    def __repr__(self) -> str:
        keys = ",".join(c.key for c in self.columns)
        depth = f", depth {self.depth}" if self.depth else ""
        return f"<cnnstat LayerTable {self.analysis.name!r}: columns {keys}{depth}>"


# -- a whole page inside the notebook ------------------------------------------------------------
class Page:
    """A self-contained HTML page (the interactive layer graph, the family tree) that shows inside
    a notebook as a sandboxed iframe holding the page as its ``srcdoc``: nothing is fetched."""

    def __init__(self, html: str, title: str, height: int = 640):
        self.html = html
        self.title = title
        self.height = height

    def _repr_html_(self) -> str:
        from .report.document import Embed, block_html
        return block_html(Embed(self.title, self.html, self.height))

    def save(self, path) -> str:
        """Write the page to a file (atomically); returns the path written."""
        from .fileio import atomic_write
        return str(atomic_write(path, self.html))

    def __repr__(self) -> str:
        return f"<cnnstat Page {self.title!r}: {len(self.html):,} characters, self-contained>"


@presents("analysis.view")
def view_page(a: "Analysis", depth: int | None = None, metric: str = "macs",
              height: int = 640) -> Page:
    from .view import render_view
    return Page(render_view(a, depth=depth, metric=metric), f"{a.name}: layer graph", height)


# -- one call: analyse and show ------------------------------------------------------------------
def _torchinfo_size(input_size: Any) -> tuple[Any, int | None]:
    """torchinfo's ``input_size`` includes the batch: a sequence of 4 is (batch, C, H, W), of 5
    (batch, C, D, H, W) for a 3-D model. Any other form is cnnstat's ``input`` (224, "160x224",
    "3x224x224", (3, 224, 224), "3x16x112x112"; a 1-D model's (C, L) as "1x16000")."""
    if isinstance(input_size, (tuple, list)) and len(input_size) in (4, 5):
        n, *shape = (int(v) for v in input_size)
        return tuple(shape), n
    if type(input_size).__name__ == "Size" and len(input_size) in (4, 5):     # torch.Size
        return _torchinfo_size(tuple(input_size))
    return input_size, None


def summary(model: Any, input_size: Any = None, *, depth: int | None = None, columns: Any = None,
            batch: int | None = None, set: Any = None, variant: str | None = None,
            count: Any = None, dtype: str = "fp32", args: Any = None, file: Any = None):
    """Analyse a model and show its layer table; return the :class:`~cnnstat.analyze.Analysis`.

    In a Jupyter notebook the table displays as HTML (the cell's value then shows as one line,
    not the table twice); elsewhere it is printed as the command line prints it (to ``file``,
    default standard output). See :func:`cnnstat.summary`."""
    from .analyze import analyze_model as analyze
    size, size_batch = _torchinfo_size(input_size)
    if batch is not None and size_batch is not None and batch != size_batch:
        from .errors import UsageError
        raise UsageError(f"input_size {tuple(input_size)} says batch {size_batch}, "
                         f"batch= says {batch}")
    a = analyze(model, size, batch=batch or size_batch or 1, set=set, variant=variant,
                count=count, dtype=dtype, args=args)
    table = LayerTable(a, columns, depth)
    if file is None and in_notebook():
        from IPython.display import display
        display(table)
        a._cnnstat_shown_in = cell()
    else:
        out = file if file is not None else sys.stdout
        out.write(table.text(out))
    return a


# -- check results -------------------------------------------------------------------------------
@presents("check.blocks")
def check_blocks(report) -> list["Block"]:
    """``cnnstat check MODEL`` in blocks: verdict, totals, notes, every layer. The tables and the
    wording are the command's (cnnstat.render.checks), so the notebook and the terminal say the
    same."""
    from .render import checks
    return _in_notebook_order(checks.check_view(report), checks.check_title(report))


@presents("against.blocks")
def against_blocks(report) -> list["Block"]:
    """``cnnstat check MODEL --against torchvision`` in blocks, in the command's words."""
    from .render import checks
    return _in_notebook_order(checks.against_view(report), checks.against_title(report))


def _in_notebook_order(output, title: str) -> list["Block"]:
    """The command's blocks with the title as a heading and the verdict right under it, then the
    small tables and notes, the per-layer table last."""
    from .render.blocks import Note
    from .render.grid import Grid
    from .report.document import Heading, Para
    blocks = [b.to_document() if isinstance(b, Grid) else b for b in output.blocks[1:]]
    verdict, rest = blocks[-1], blocks[:-1]
    main = output.main_grid()
    layers = [b for b, g in zip(rest, output.blocks[1:-1]) if g is main]
    others = [b for b, g in zip(rest, output.blocks[1:-1]) if g is not main]
    others = [Para(b.text) if isinstance(b, Note) else b for b in others]
    return [Heading(title, 3), Para(verdict.text)] + others + layers


@presents("check.line")
def check_line(report, what: str = "check") -> str:
    verdict = "agree" if report.ok else "DIFFER"
    shape = "×".join(str(d) for d in report.input_shape)
    return f"<cnnstat {what} {report.model!r}: input {shape}, {verdict}>"
