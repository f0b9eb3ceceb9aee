"""``cnnstat view``: write the interactive, self-contained HTML view of a model's layer graph."""

from __future__ import annotations

import re
import sys

from .app import DEPTH, MODEL, MODEL_OPTIONS, OUT, ModelOptions, Opt, command


@command("view", MODEL, MODEL_OPTIONS,
         DEPTH.but(help="Start with blocks of N name levels and deeper collapsed. Default: as "
                        "deep as keeps the first drawing readable."),
         Opt("color", ("--color", "-c"), default="macs", choices=("macs", "params", "memory", "rf"),
             help="Colour nodes by this metric at first (the page can switch)."),
         OUT.but(help="The HTML file to write (atomically). Default: MODEL.html here."),
         Opt("open", ("--open",), action="flag",
             help="Open the written file in the web browser."))
def view(args) -> None:
    """An interactive HTML view of the layer graph: one self-contained file, no network needed."""
    from ..render.escape import terminal
    from ..view import write_view
    a = ModelOptions.of(args).analyze(args.model)
    path = args.out or default_path(a.name)
    written = write_view(a, path, depth=args.depth, metric=args.color)
    print(f"wrote {terminal(written)}", file=sys.stderr)
    if args.open:
        import webbrowser
        from pathlib import Path
        if not webbrowser.open(Path(written).resolve().as_uri()):
            print(f"note: no web browser could be started; open {terminal(written)} yourself",
                  file=sys.stderr)


def default_path(name: str) -> str:
    """MODEL.html in the current directory, the name made safe for a file name."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "model"
    return f"{safe}.html"
