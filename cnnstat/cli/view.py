"""``cnnstat view``: write the interactive, self-contained HTML view of a model's layer graph."""

from __future__ import annotations

import re
import sys
from enum import Enum
from typing import Annotated, Optional

import typer

from .app import (ArgOpt, BatchOpt, CountOpt, DtypeOpt, InputOpt, ModelArg, SetOpt, TrainOpt,
                  VariantOpt, app)


class Metric(str, Enum):
    macs = "macs"
    params = "params"
    memory = "memory"
    rf = "rf"


@app.command("view")
def view(
    model: ModelArg,
    input: InputOpt = None,
    batch: BatchOpt = 1,
    set_: SetOpt = None,
    variant: VariantOpt = None,
    arg: ArgOpt = None,
    count: CountOpt = None,
    dtype: DtypeOpt = "fp32",
    depth: Annotated[Optional[int], typer.Option(
        "--depth", "-d", min=1,
        help="Start with blocks of N name levels and deeper collapsed. Default: as deep as "
             "keeps the first drawing readable.")] = None,
    color: Annotated[Metric, typer.Option(
        "--color", "-c", help="Colour nodes by this metric at first (the page can switch).")] = Metric.macs,
    out: Annotated[Optional[str], typer.Option(
        "--out", "-o", help="The HTML file to write (atomically). Default: MODEL.html here.")] = None,
    open_: Annotated[bool, typer.Option(
        "--open", help="Open the written file in the web browser.")] = False,
    train: TrainOpt = False,
) -> None:
    """An interactive HTML view of the layer graph: one self-contained file, no network needed."""
    from .. import analyze
    from ..view import write_view
    a = analyze(model, input, batch=batch, set=set_, variant=variant, args=arg, count=count,
                dtype=dtype, train=train)
    path = out or default_path(a.name)
    written = write_view(a, path, depth=depth, metric=color.value)
    print(f"wrote {written}", file=sys.stderr)
    if open_:
        import webbrowser
        from pathlib import Path
        if not webbrowser.open(Path(written).resolve().as_uri()):
            print(f"note: no web browser could be started; open {written} yourself", file=sys.stderr)


def default_path(name: str) -> str:
    """MODEL.html in the current directory, the name made safe for a file name."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "model"
    return f"{safe}.html"
