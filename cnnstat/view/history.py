"""The zoo's family tree as one self-contained HTML page in the view's style (``cnnstat history
--out history.html``, ``History.view()`` in a notebook).

The page (``history.html``, ``view.css`` + ``history.css``, ``history.js``) draws the layout that
cnnstat.report.history computes (the same as the figure): one row per architecture at its date,
elbows to what it built on, dashed arrows for what it also built on. A click shows the paper, the
ideas with their citations, and the zoo models' numbers as cnnstat formats them. Nothing is
fetched; the papers' links open only when clicked.
"""

from __future__ import annotations

from typing import Any

from ..render import numbers as fmt
from ..render.escape import safe_href
from .page import render_page

TEMPLATE = "history.html"
STYLES = ("view.css", "history.css")
SCRIPT = "history.js"
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December")


def _source(s) -> dict[str, Any] | None:
    """A paper for the page: its link only where it is an http(s) URL (escape.safe_href; the
    page's script makes it an <a href>), else none."""
    if s is None:
        return None
    url = safe_href(s.url) if s.url else None
    return {"short": s.short, "cite": s.cite,
            "url": url if url and url.lower().startswith(("http://", "https://")) else None}


def history_data(h) -> dict[str, Any]:
    """The document the page's script reads (every number formatted here)."""
    axis = h.axis
    rows = {name: i for i, name in enumerate(h.rows())}
    archs = []
    for a in h.architectures:
        primary = [s for s in h.steps_into(a.name) if s.primary]
        models = []
        for m in a.models:
            p = h.points.get(m)
            models.append({"name": m, "headline": m == a.headline,
                           "params": fmt.human(p.params) if p else "-",
                           "macs": fmt.human(p.macs, "MAC") if p else "-",
                           "top1": f"{p.top1:.2f}%" if p is not None and p.top1 is not None
                           else "-"})
        archs.append({"name": a.name, "x": axis.x(a.when), "row": rows[a.name],
                      "year": a.year, "date_text": f"{MONTHS[a.month - 1]} {a.year}",
                      "family": a.family, "color": h.color(a.family),
                      "idea": primary[0].idea if primary else "",
                      "source": _source(a.source), "models": models})
    first, last = h.architectures[0], h.architectures[-1]
    return {
        "title": "The zoo's family tree",
        "summary": [["architectures", str(len(h.architectures))],
                    ["families", str(len(h.families))], ["steps", str(len(h.steps))],
                    ["zoo models", str(len(h.points))], ["years", f"{first.year}–{last.year}"]],
        "convention": h.convention.describe(),
        "intro": ("Each architecture sits in the row of its date (when it was first made "
                  "public), under the one it built on, with the idea of that step; dashed arrows "
                  "show what it also built on. Click one for its paper, the ideas with their "
                  "citations and its zoo models; the lines of its ancestors and descendants "
                  "light up. Hatched: years without a zoo architecture, cut out."),
        "note": ("Parameters and MACs: cnnstat's analysis of each zoo model at its default "
                 "input. Top-1: published ImageNet-1K accuracy (cnnstat/data/accuracy.yaml), "
                 "not computed. Dates, papers and steps: cnnstat/data/history.yaml."),
        "axis": {"width": axis.width, "ticks": [[x, y] for x, y in axis.ticks()],
                 "year_starts": axis.year_starts(), "breaks": axis.breaks(),
                 "break_width": axis.gap},
        "families": [{"name": f, "color": h.color(f)} for f in h.families],
        "architectures": archs,
        "steps": [{"from": s.parent, "to": s.child, "idea": s.idea, "detail": s.detail,
                   "primary": s.primary, "source": _source(s.source),
                   "origin": _source(s.origin)} for s in h.steps],
    }


def render_history(h) -> str:
    """The HTML text of the page."""
    from ..version import __version__
    data = history_data(h)
    return render_page(data, __version__, title=data["title"], template=TEMPLATE,
                       styles=STYLES, script=SCRIPT)
