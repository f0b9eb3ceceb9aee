"""``cnnstat paper NAME``: a paper's published table beside cnnstat's figures. No torch."""

from __future__ import annotations

from .app import OUTPUT, Opt, command, output_options


@command("paper", Opt("name", nargs="?", metavar="NAME", help=(
             "The paper: lenet5, alexnet, vgg, googlenet, resnet or mobilenet. Without it, the "
             "list of papers.")),
         OUTPUT)
def paper(args) -> None:
    """A paper's table in its own layout: each published figure, cnnstat's, the relative
    difference, and a note wherever they differ and why.

    --columns names the paper's columns (e.g. --columns D for VGG's configuration D): each with
    its published figure, cnnstat's and the difference."""
    import json

    from .. import papers
    from ..papers import render
    from ..render.grid import NAME, WRAP, Col, Grid
    from ..render.output import Output, show
    if args.name is None:
        listed = [[p.name, p.summary] for p in papers.PAPERS.values()]
        grid = Grid([Col("paper", "paper", fit=NAME), Col("summary", "summary", fit=WRAP)],
                    listed, keep=("paper", "summary"))
        data = [{"paper": name, "summary": summary} for name, summary in listed]
        show(Output([grid], json=lambda: json.dumps(data, indent=2) + "\n"),
             output_options(args))
        return
    tables = papers.tables(args.name)
    key = papers.get(args.name).name
    heading = papers.citation(key)
    output = Output(render.blocks(tables, heading, args.columns),
                    json=lambda: render.json_text(key, heading, tables),
                    csv=lambda: render.csv_text(tables, args.columns))
    show(output, output_options(args, columns=None))     # the paper's columns are chosen above
