"""The seam between results and their presentation: dependencies point one way (issue 16).

Results are made below the presentation layer — an ``Analysis`` (cnnstat/analyze.py), a
``MemoryReport`` (cnnstat/memory), a ``CheckReport`` (cnnstat/torch_bridge) — yet present
themselves: in a notebook (``_repr_html_``), as a table (``Analysis.table()``), a figure
(``plot_layers()``), a DataFrame (``Analysis.layers``), the JSON contract (``to_dict()``). Their
methods call :func:`shown` with the name of what they ask for; the presentation layer's function
for that name is registered with :func:`presents` by cnnstat/display.py, which cnnstat/__init__.py
(the package's interface, above every layer) imports. Python imports a package's ``__init__``
before any of its modules, so the functions are registered whenever a result exists; the analysis
layer itself imports nothing of render, report, plots or view (tests/test_layering.py).

:class:`Displayable` (a result that shows itself in Jupyter) lives here for the same reason.
"""

from __future__ import annotations

import sys
from typing import Any, Callable

from .errors import CnnstatError

_PRESENTERS: dict[str, Callable[..., Any]] = {}


def presents(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register the presentation of ``name`` (e.g. ``"analysis.table"``); once per name."""
    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        if name in _PRESENTERS:
            raise CnnstatError(f"internal error: two presentations of '{name}'")
        _PRESENTERS[name] = fn
        return fn
    return register


def shown(name: str, *args: Any, **kwargs: Any) -> Any:
    """Call the presentation layer's function for ``name``."""
    fn = _PRESENTERS.get(name)
    if fn is None:      # only when cnnstat/__init__.py did not import cnnstat.display: a bug
        raise CnnstatError(f"internal error: no presentation of '{name}' is registered "
                           "(cnnstat.display registers them; `import cnnstat` imports it)")
    return fn(*args, **kwargs)


def _shell():
    """The running IPython shell, if any (IPython is never imported here: only looked up)."""
    ipython = sys.modules.get("IPython")
    get = getattr(ipython, "get_ipython", None)
    return get() if get is not None else None


def in_notebook() -> bool:
    """Whether this runs in a Jupyter kernel (which displays rich output)."""
    return hasattr(_shell(), "kernel")


def cell() -> int | None:
    """The notebook cell running now (its execution count), if any."""
    shell = _shell()
    return getattr(shell, "execution_count", None) if shell is not None else None


class Displayable:
    """Shows itself in notebooks: HTML in Jupyter, Markdown where HTML is not shown.

    Subclasses give ``_display_blocks()`` (report blocks) and a one-line ``__repr__``."""

    def _display_blocks(self) -> list:   # pragma: no cover - every subclass has one
        raise NotImplementedError

    def _shown_already(self) -> bool:
        """True in the notebook cell where :func:`cnnstat.summary` already displayed this result:
        the cell's value then shows as its one-line repr, not the table a second time."""
        shown_in = getattr(self, "_cnnstat_shown_in", None)
        return shown_in is not None and shown_in == cell()

    def _repr_html_(self) -> str | None:
        if self._shown_already():
            return None
        return shown("blocks.html", self._display_blocks())

    def _repr_markdown_(self) -> str | None:
        if self._shown_already():
            return None
        return shown("blocks.markdown", self._display_blocks())
