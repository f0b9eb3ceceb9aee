"""A report as a list of blocks, rendered two ways: Markdown (figures linked as files next to it)
and one self-contained HTML page (inline CSS, figures inlined as SVG data URIs). The same blocks
render as an HTML fragment for notebooks (:func:`to_html_fragment`: the page's styles scoped to
the fragment), which is how cnnstat's results display in Jupyter.

Text in blocks is plain, with two inline marks understood by both renderers: `code` and
[label](link). Everything else is escaped, by cnnstat.render.escape (the one escaper of every
writer): no raw HTML, and a link only where its target is an http(s) URL or a relative path in
the report folder — a ``javascript:`` link in a model's title or notes is shown as text.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from typing import Union

from ..render import escape


@dataclass
class Heading:
    text: str
    level: int = 2


@dataclass
class Para:
    text: str


@dataclass
class Facts:
    """Label/value pairs, read as a bulleted list."""
    items: list[tuple[str, str]]


@dataclass
class Table:
    headers: list[str]
    rows: list[list[str]]
    numeric: list[bool]
    total: list[str] | None = None     # a last, bold row (cells may already carry **bold**)


@dataclass
class Figure:
    """A plot written as ``<stem>.png`` and ``<stem>.svg`` next to the report."""
    stem: str
    alt: str
    caption: str = ""


@dataclass
class Details:
    """A collapsed section (HTML <details>, which GitHub's Markdown also renders)."""
    summary: str
    blocks: list["Block"] = field(default_factory=list)


@dataclass
class SideBySide:
    """Blocks shown next to each other where the page is wide enough (HTML); stacked in Markdown."""
    blocks: list["Block"]


@dataclass
class Embed:
    """A whole HTML page shown inside this one: an iframe whose ``srcdoc`` is the page, so nothing
    is fetched; sandboxed (``allow-scripts`` only), its script runs apart from the page around it.
    Markdown has no such thing: it gets a line naming the page."""
    title: str
    page: str
    height: int = 640


Block = Union[Heading, Para, Facts, Table, Figure, Details, SideBySide, Embed]


# -- Markdown ----------------------------------------------------------------------------------
def _md_cell(text: str) -> str:
    return escape.inline_md(text, cell=True)


def _md_alt(text: str) -> str:
    """Image alt text inside ![...]: no brackets, no HTML."""
    return escape.md_text(text.replace("[", "(").replace("]", ")"))


def _md_table(t: Table) -> str:
    lines = ["| " + " | ".join(_md_cell(h) for h in t.headers) + " |",
             "|" + "|".join("---:" if n else "---" for n in t.numeric) + "|"]
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in t.rows]
    if t.total:
        lines.append("| " + " | ".join(_md_cell(c) for c in t.total) + " |")
    return "\n".join(lines)


def _md_block(b: Block) -> str:
    if isinstance(b, Heading):
        return "#" * b.level + " " + escape.inline_md(b.text)
    if isinstance(b, Para):
        return escape.inline_md_lines(b.text)
    if isinstance(b, Facts):
        return "\n".join(f"- **{escape.inline_md(label)}**: {escape.inline_md(value)}"
                         for label, value in b.items)
    if isinstance(b, Table):
        return _md_table(b)
    if isinstance(b, Figure):
        # The PNG shows inline; clicking it opens the SVG (sharp at any zoom).
        stem = escape.safe_href(b.stem) or "figure"
        text = f"[![{_md_alt(b.alt)}]({stem}.png)]({stem}.svg)"
        return text + (f"\n\n*{escape.inline_md(b.caption)}*" if b.caption else "")
    if isinstance(b, Details):
        inner = "\n\n".join(_md_block(x) for x in b.blocks)
        return (f"<details>\n<summary>{escape.html_text(b.summary)}</summary>\n\n{inner}\n\n"
                "</details>")
    if isinstance(b, SideBySide):
        return "\n\n".join(_md_block(x) for x in b.blocks)
    if isinstance(b, Embed):
        return f"*{escape.md_text(b.title)}: an interactive page, shown in HTML output only.*"
    raise TypeError(f"not a report block: {b!r}")


def to_markdown(blocks: list[Block]) -> str:
    return "\n\n".join(_md_block(b) for b in blocks) + "\n"


# -- HTML --------------------------------------------------------------------------------------
_CSS = """
body { font: 15px/1.5 -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: #1f2328;
       max-width: 1280px; margin: 2em auto; padding: 0 1.5em; }
h1 { font-size: 1.7em; border-bottom: 1px solid #d0d7de; padding-bottom: .3em; }
h2 { font-size: 1.3em; border-bottom: 1px solid #d0d7de; padding-bottom: .2em; margin-top: 1.8em; }
code { background: #f6f8fa; padding: .1em .3em; border-radius: 4px; font-size: 90%; }
ul.facts { list-style: none; padding-left: 0; }
ul.facts li { margin: .15em 0; }
ul.facts b { display: inline-block; min-width: 9em; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: 13px; margin: .5em 0; }
th, td { border: 1px solid #d0d7de; padding: 3px 8px; white-space: nowrap; }
th { background: #f6f8fa; position: sticky; top: 0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.total td { font-weight: 600; background: #f6f8fa; }
tbody tr:nth-child(even) td { background: #fbfbfc; }
figure { margin: 1em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #eaeef2; }
figcaption { color: #59636e; font-size: 13px; }
details { margin: 1em 0; }
summary { cursor: pointer; font-weight: 600; }
.side { display: flex; flex-wrap: wrap; gap: 1.5em; align-items: flex-start; }
.side > * { flex: 1 1 480px; min-width: 0; }
"""


def _inline_html(text: str) -> str:
    """Report text (with `code` and [label](link) marks) as HTML: cnnstat.render.escape."""
    return escape.inline_html(text)


def _cell_html(text: str) -> str:
    bold = text.startswith("**") and text.endswith("**") and len(text) > 4
    inner = _inline_html(text[2:-2] if bold else text)
    return f"<b>{inner}</b>" if bold else inner


def _html_table(t: Table) -> str:
    def row(cells: list[str], tag: str = "td") -> str:
        opens = [f'<{tag} class="num">' if n and tag == "td" else f"<{tag}>" for n in t.numeric]
        return "<tr>" + "".join(f"{o}{_cell_html(c)}</{tag}>"
                                for o, c in zip(opens, cells)) + "</tr>"
    parts = ['<div class="scroll"><table>', "<thead>" + row(t.headers, "th") + "</thead>", "<tbody>"]
    parts += [row(r) for r in t.rows]
    if t.total:
        parts.append(row(t.total).replace("<tr>", '<tr class="total">', 1))
    parts.append("</tbody></table></div>")
    return "\n".join(parts)


def _html_block(b: Block, images: dict[str, bytes]) -> str:
    if isinstance(b, Heading):
        return f"<h{b.level}>{_inline_html(b.text)}</h{b.level}>"
    if isinstance(b, Para):
        return f"<p>{_inline_html(b.text)}</p>"
    if isinstance(b, Facts):
        items = "".join(f"<li><b>{_inline_html(k)}</b> {_inline_html(v)}</li>" for k, v in b.items)
        return f'<ul class="facts">{items}</ul>'
    if isinstance(b, Table):
        return _html_table(b)
    if isinstance(b, Figure):
        # An <img> with a data URI keeps each SVG a separate document (no id clashes between plots).
        data = base64.b64encode(images[b.stem]).decode("ascii")
        cap = f"<figcaption>{_inline_html(b.caption)}</figcaption>" if b.caption else ""
        return (f'<figure><img alt="{escape.html_attr(b.alt)}" '
                f'src="data:image/svg+xml;base64,{data}">{cap}</figure>')
    if isinstance(b, Details):
        inner = "\n".join(_html_block(x, images) for x in b.blocks)
        return f"<details><summary>{escape.html_text(b.summary)}</summary>\n{inner}\n</details>"
    if isinstance(b, SideBySide):
        inner = "\n".join(f"<div>{_html_block(x, images)}</div>" for x in b.blocks)
        return f'<div class="side">\n{inner}\n</div>'
    if isinstance(b, Embed):
        return (f'<iframe title="{escape.html_attr(b.title)}" '
                f'srcdoc="{escape.html_attr(b.page, page=True)}" '
                f'sandbox="allow-scripts" style="width: 100%; height: {int(b.height)}px; '
                'border: 1px solid #d0d7de; border-radius: 6px;"></iframe>')
    raise TypeError(f"not a report block: {b!r}")


def block_html(block: Block, images: dict[str, bytes] | None = None) -> str:
    """One block as HTML, without the page or the fragment around it."""
    return _html_block(block, images or {})


def to_html(title: str, blocks: list[Block], images: dict[str, bytes]) -> str:
    """One self-contained page; ``images`` maps each figure's stem to its SVG bytes."""
    body = "\n".join(_html_block(b, images) for b in blocks)
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>{escape.html_text(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
            f"{body}\n</body>\n</html>\n")


#: the class of the element that holds an HTML fragment; the page's styles apply inside it only
FRAGMENT_CLASS = "cnnstat-output"


def _scoped_css(css: str, scope: str) -> str:
    """The page's style rules, each selector prefixed with ``scope`` (``body`` becomes the scope
    itself), so that a fragment shown inside another page (a notebook) styles nothing else."""
    rules = []
    for selectors, body in re.findall(r"([^{}]+)\{([^{}]*)\}", css):
        scoped = []
        for sel in selectors.split(","):
            sel = " ".join(sel.split())
            scoped.append(scope if sel == "body" else f"{scope} {sel}")
        rules.append(f"{', '.join(scoped)} {{{body}}}")
    return "\n".join(rules)


def to_html_fragment(blocks: list[Block], images: dict[str, bytes] | None = None) -> str:
    """The blocks as one HTML element with its own scoped styles, for a notebook output cell."""
    body = "\n".join(_html_block(b, images or {}) for b in blocks)
    # a light box of its own (notebooks may have dark themes), at the notebook's text size
    page = _CSS.replace("max-width: 1280px; margin: 2em auto; padding: 0 1.5em;",
                        "background: #fff; padding: .4em .8em; font-size: 14px;")
    # long tables scroll inside the output, under their sticky header
    page += ".scroll { max-height: 36em; overflow-y: auto; }\n"
    css = _scoped_css(page, f".{FRAGMENT_CLASS}")
    return f'<div class="{FRAGMENT_CLASS}">\n<style>{css}</style>\n{body}\n</div>'


def figures(blocks: list[Block]) -> list[Figure]:
    """Every figure in the blocks, nested ones included, in order."""
    out: list[Figure] = []
    for b in blocks:
        if isinstance(b, Figure):
            out.append(b)
        elif isinstance(b, (Details, SideBySide)):
            out += figures(b.blocks)
    return out
