"""Assemble the self-contained HTML page: template + style + vendored dagre + script + data.

Everything is inlined, so the file opens from ``file://`` with no network: the only external
reference in it is the SVG namespace name, which browsers never fetch. The data is JSON inside a
``<script type="application/json">`` element, with ``<`` escaped so no layer name can end the
element early.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

ASSETS = Path(__file__).resolve().parent
TEMPLATE = "page.html"
STYLE = "view.css"
SCRIPT = "view.js"
DOM = "dom.js"                       # element helpers shared by the pages' scripts
LAYOUT_LIBRARY = "dagre.min.js"      # @dagrejs/dagre 3.1.3, MIT (LICENSE.dagre)


@lru_cache(maxsize=None)
def asset(name: str) -> str:
    return (ASSETS / name).read_text(encoding="utf-8")


def _script_safe(js: str) -> str:
    """Inline script text may not contain '</script' (it would close the element)."""
    return js.replace("</script", "<\\/script")


def _json_for_html(data: Any) -> str:
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    # '<' as \u003c keeps '</script>' and '<!--' out of the element; U+2028/9 are fine in JSON
    # but not in older JavaScript string literals, escape them too.
    return (text.replace("<", "\\u003c").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def _html_text(text: str) -> str:
    from ..render.escape import html_text
    return html_text(text)


def render_page(data: dict[str, Any], version: str, *, title: str | None = None,
                template: str = TEMPLATE, styles: tuple[str, ...] = (STYLE,),
                script: str = SCRIPT) -> str:
    """The HTML text of the page for a view document (cnnstat.view.data.view_data); another
    page in the same style (cnnstat.view.history) names its title, template, styles and script."""
    out = asset(template)
    parts = {
        "__VERSION__": _html_text(version),
        "__TITLE__": _html_text(title if title is not None else str(data.get("model", "model"))),
        "__STYLE__": "\n".join(asset(s) for s in styles),
        "__DATA__": _json_for_html(data),
        "__APP__": _script_safe(asset(DOM) + "\n" + asset(script)),
    }
    if "__DAGRE__" in out:
        parts["__DAGRE__"] = _script_safe(asset(LAYOUT_LIBRARY))
    # Substitute in one pass so a placeholder-like text inside the data is never replaced.
    pattern = re.compile("|".join(re.escape(k) for k in parts))
    return pattern.sub(lambda m: parts[m.group(0)], out)
