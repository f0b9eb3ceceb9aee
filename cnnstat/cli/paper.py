"""``cnnstat paper NAME``: a paper's published table beside cnnstat's figures. No torch."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from .app import Format, FormatOpt, OutOpt, app, console, emit


@app.command("paper")
def paper(
    name: Annotated[Optional[str], typer.Argument(
        help="The paper: lenet5, alexnet, vgg, googlenet, resnet or mobilenet. Without it, the "
             "list of papers.", show_default=False)] = None,
    format: FormatOpt = Format.table,
    out: OutOpt = None,
) -> None:
    """A paper's table in its own layout: each published figure, cnnstat's, the relative
    difference, and a note wherever they differ and why."""
    from .. import papers
    from ..papers import render
    if name is None:
        lines = [f"{p.name:<10} {p.summary}" for p in papers.PAPERS.values()]
        emit("\n".join(lines) + "\n", out)
        return
    tables = papers.tables(name)
    key = papers.get(name).name
    heading = papers.citation(key)
    if format is Format.json:
        emit(render.json_text(key, heading, tables), out)
    elif format is Format.csv:
        emit(render.csv_text(tables), out)
    elif format is Format.md or out:
        emit(render.markdown(tables, heading), out)
    else:
        console().print(render.rich(tables, heading))
