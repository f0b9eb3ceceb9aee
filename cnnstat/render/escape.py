"""Escaping for every place cnnstat writes text it did not write itself: one function per output
context, and every writer calls the one for its context (docs/limits.md lists the rules).

Model files come from strangers (an ONNX file from a model hub, a colleague's prototxt): a layer
name, a title, an operator type or an error message can hold HTML, Markdown, spreadsheet
formulas, rich markup, matplotlib mathtext or terminal escape sequences. The boundary refuses
control characters in names (cnnstat.definition, cnnstat.importers); these functions make every other
text inert where it is written:

==================  ==========================================================================
context             function, and what it does
==================  ==========================================================================
HTML text           :func:`html_text`: ``& < > " '`` as entities; control characters visible
HTML attribute      :func:`html_attr`: the same (always quoted by the writer); a whole page
                    as an iframe's ``srcdoc`` with ``page``: entities only, the page unchanged
link target         :func:`safe_href`: http(s) URLs, or a relative path inside the report
                    folder; anything else (``javascript:``, ``data:``, ``//host``) is no link
report inline text  :func:`inline_html` / :func:`inline_md`: cnnstat's two inline marks
                    (```code``` and ``[label](link)``), everything else escaped; a link whose
                    target :func:`safe_href` refuses is shown as text
Markdown            :func:`md_text` (paragraphs, headings), :func:`md_cell` (table cells):
                    HTML-escaped (no raw tags), ``|`` and newlines escaped in cells, no
                    reference definitions or images from text
CSV                 :func:`csv_cell`, :func:`csv_text`: a text cell starting with
                    ``= + - @ TAB CR`` gets a leading ``'`` (OWASP "CSV injection"), unless it
                    is a plain number or a lone "-"
terminal            :func:`terminal`: control characters (ESC, BEL, CR, C1 ...) shown as
                    ``\\x1b``-style escapes; :func:`rich_markup`: also rich's ``[tag]`` markup
error line          :func:`error_line`: one line, control characters escaped, long text
                    elided to a few hundred characters
plot text           :func:`mpl_text`: control characters visible (mathtext is off in every
                    figure, cnnstat.plots); :func:`mpl_label` keeps a legend label from starting
                    with "_" (matplotlib hides those)
a value in a        :func:`show`: a bounded ``repr`` (bounded in time too: an alias bomb of
message             10⁹ nested items prints in microseconds)
==================  ==========================================================================

Nothing here imports anything heavy: the static path imports this module.
"""

from __future__ import annotations

import re
from typing import Any, Iterable

# -- control characters ----------------------------------------------------------------------------
#: control characters: C0 (TAB and LF are decided per context), DEL, C1, and the Unicode
#: line/paragraph separators and bidirectional overrides (which reorder what is shown)
_OTHERS = "\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069"
_CONTROL_KEEP_NL = re.compile(f"[{_OTHERS}]")           # TAB and LF kept
_CONTROL_ONE_LINE = re.compile(f"[\n{_OTHERS}]")       # TAB kept
_CONTROL_ALL = re.compile(f"[\t\n{_OTHERS}]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\x1b": "\\x1b", "\x07": "\\a", "\x00": "\\0"}


def _visible_char(m: re.Match) -> str:
    ch = m.group(0)
    if ch in _NAMED:
        return _NAMED[ch]
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def has_control(text: str, *, newlines: bool = False) -> bool:
    """True when ``text`` holds a control character. With ``newlines``, TAB and LF are allowed
    (free text such as notes); without, any control character counts (names)."""
    return (_CONTROL_KEEP_NL if newlines else _CONTROL_ALL).search(text) is not None


def visible(text: str, *, keep_newlines: bool = False) -> str:
    """Control characters as visible escapes (``\\x1b``, ``\\n`` ...); TAB kept, and LF with
    ``keep_newlines``."""
    text = str(text)
    pattern = _CONTROL_KEEP_NL if keep_newlines else _CONTROL_ONE_LINE
    return pattern.sub(_visible_char, text) if pattern.search(text) else text


# -- HTML ------------------------------------------------------------------------------------------
_HTML = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#x27;"}
_HTML_RE = re.compile("[&<>\"']")


def html_text(text: Any) -> str:
    """Text inside an HTML element: entities for ``& < > " '``, control characters visible."""
    return _HTML_RE.sub(lambda m: _HTML[m.group(0)], visible(str(text), keep_newlines=True))


def html_attr(text: Any, *, page: bool = False) -> str:
    """A value inside a double-quoted HTML attribute: ``& < > " '`` as entities, control
    characters (newlines too) visible. With ``page`` (a whole HTML page as an iframe's
    ``srcdoc``: cnnstat's own page, its model texts escaped where it was written), only the five
    characters become entities and every other character is kept, so the page inside the
    attribute is exactly the page (its script's bytes included) and nothing can end the
    attribute."""
    text = str(text)
    return _HTML_RE.sub(lambda m: _HTML[m.group(0)], text if page else visible(text))


_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):")
_RELATIVE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+\-/#]*$")


def safe_href(url: str) -> str | None:
    """A link target fit to be written, or None: an absolute ``http://`` / ``https://`` URL, or
    a relative path inside the folder (``vgg16/vgg16.md``, ``#layers``; no ``..``, no leading
    ``/``). Everything else — ``javascript:``, ``data:``, ``file:``, ``//host`` — is refused."""
    url = str(url).strip()
    if not url or has_control(url) or any(c in url for c in " <>\"'`\\"):
        return None
    m = _SCHEME.match(url)
    if m:
        return url if m.group(1).lower() in ("http", "https") and url[m.end():].startswith("//") \
            else None
    if url.startswith("#"):
        return url if re.fullmatch(r"#[A-Za-z0-9_.\-]+", url) else None
    if not _RELATIVE.match(url) or ".." in url.split("/") or "//" in url:
        return None
    return url


# -- inline marks of report text (`code` and [label](link)) -------------------------------------
_INLINE = re.compile(r"`([^`]+)`|\[([^\]\n]+)\]\(([^)\s]+)\)")


def inline_html(text: str) -> str:
    """Report text as HTML: ```code``` → <code>, ``[label](link)`` → <a> where the target is
    safe (:func:`safe_href`), everything else escaped."""
    out, last = [], 0
    for m in _INLINE.finditer(text):
        out.append(html_text(text[last:m.start()]))
        if m.group(1) is not None:
            out.append(f"<code>{html_text(m.group(1))}</code>")
        else:
            href = safe_href(m.group(3))
            if href is None:
                out.append(html_text(m.group(0)))
            else:
                out.append(f'<a href="{html_attr(href)}">{html_text(m.group(2))}</a>')
        last = m.end()
    out.append(html_text(text[last:]))
    return "".join(out)


# -- Markdown --------------------------------------------------------------------------------------
_MD_HTML = {"&": "&amp;", "<": "&lt;"}
#: "<" where it would open a tag, a comment or an autolink (<a, </, <!, <?), "&" where it would
#: start an entity (&lt; &#60;): "alpha < 1" and "A & B" stay as written
_MD_HTML_RE = re.compile("&(?=#?[A-Za-z0-9]+;)|<(?=[A-Za-z/!?])")
_MD_LINK_RE = re.compile(r"\](?=[(:])")


def _md_plain(text: str, cell: bool) -> str:
    text = _MD_HTML_RE.sub(lambda m: _MD_HTML[m.group(0)], visible(text, keep_newlines=True))
    # no link, image or link reference definition of its own: "](" and "]:" are escaped
    # (without a definition, [a][b] is no link; shapes such as [1, 64, 112, 112] stay as written)
    text = _MD_LINK_RE.sub("\\\\]", text)
    if cell:
        text = text.replace("|", "\\|")
    return text.replace("\n", " ")


def _md_code(code: str, cell: bool) -> str:
    code = visible(code).replace("\n", " ")
    return f"`{code.replace('|', chr(92) + '|')}`" if cell else f"`{code}`"


def inline_md(text: str, *, cell: bool = False) -> str:
    """Report text as Markdown: cnnstat's ```code``` kept, ``[label](link)`` kept where the
    target is safe (else shown as text), everything else escaped: no raw HTML (``<`` ``>``
    ``&`` as entities), no links or images of its own, one line; in a table cell (``cell``)
    ``|`` escaped too."""
    out, last = [], 0
    for m in _INLINE.finditer(text):
        out.append(_md_plain(text[last:m.start()], cell))
        if m.group(1) is not None:
            out.append(_md_code(m.group(1), cell))
        else:
            href = safe_href(m.group(3))
            if href is None:
                out.append(_md_plain(m.group(0), cell))
            else:
                if out[-1].endswith("!"):          # a link, never an image, from text
                    out[-1] = out[-1][:-1] + "\\!"
                out.append(f"[{_md_plain(m.group(2), cell)}]({href})")
        last = m.end()
    out.append(_md_plain(text[last:], cell))
    return "".join(out)


def inline_md_lines(text: str) -> str:
    """Report text of several lines (a paragraph, notes, a list cnnstat composed): each line as
    :func:`inline_md`, the lines and their indentation kept."""
    return "\n".join(inline_md(line) for line in str(text).split("\n"))


def md_text(text: Any) -> str:
    """Plain text (no marks of its own) in a Markdown paragraph, heading or list item."""
    return _md_plain(str(text), False)


def md_code(text: Any) -> str:
    """Text shown as a Markdown code span (a command line): one line, no backtick inside."""
    return "`" + visible(str(text)).replace("`", "'") + "`"


def md_lines(text: Any) -> str:
    """Markdown cnnstat composed (``**bold**``, ``- item`` lines) around text it did not
    write: each line as :func:`md_text`, the line structure kept."""
    return "\n".join(md_text(line) for line in str(text).split("\n"))


def md_cell(text: Any) -> str:
    """Plain text in a Markdown table cell: as :func:`md_text`, with ``|`` and newlines escaped."""
    return _md_plain(str(text), True)


# -- CSV -------------------------------------------------------------------------------------------
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"^[-+]?(\d[\d,]*)?(\.\d+)?([eE][-+]?\d+)?%?$")


def csv_cell(value: Any) -> Any:
    """A CSV cell spreadsheets will not run: text starting with ``= + - @`` TAB or CR gets a
    leading ``'`` (a plain number such as -5 or -0.5, and a lone "-", stay as they are).
    Non-text values (ints, floats) are returned unchanged."""
    if not isinstance(value, str) or not value.startswith(_FORMULA_START):
        return value
    if value == "-" or (_NUMBER.match(value) and any(c.isdigit() for c in value)):
        return value
    return "'" + value


class CsvWriter:
    """csv.writer (``\\n`` line ends) with every cell through :func:`csv_cell`."""

    def __init__(self, buffer: Any):
        import csv
        self._writer = csv.writer(buffer, lineterminator="\n")

    def writerow(self, row: Iterable[Any]) -> Any:
        return self._writer.writerow([csv_cell(c) for c in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def csv_writer(buffer: Any) -> CsvWriter:
    """The CSV writer every CSV output uses (cells through :func:`csv_cell`)."""
    return CsvWriter(buffer)


def csv_text(rows: Iterable[Iterable[Any]]) -> str:
    """Rows (the first usually the header) as CSV text, every cell through :func:`csv_cell`."""
    import io
    buffer = io.StringIO()
    csv_writer(buffer).writerows(rows)
    return buffer.getvalue()


# -- terminal --------------------------------------------------------------------------------------
_RICH_TAG = re.compile(r"(\\*)(\[[a-zA-Z#/@][^[]*?\])")


def terminal(text: Any) -> str:
    """Text for a terminal: control characters (escape sequences, BEL, CR, ...) shown as
    visible escapes instead of being obeyed; newlines kept."""
    return visible(str(text), keep_newlines=True)


def rich_markup(text: Any) -> str:
    """Text inside a string that rich parses as markup: :func:`terminal`, and every ``[tag]``
    escaped (as rich.markup.escape does), so ``[/]`` in a model name is text."""
    text = terminal(text)

    def escape_tag(m: re.Match) -> str:
        backslashes, tag = m.groups()
        return f"{backslashes}{backslashes}\\{tag}"

    text = _RICH_TAG.sub(escape_tag, text)
    return text + "\\" if text.endswith("\\") and not text.endswith("\\\\") else text


# -- error lines -----------------------------------------------------------------------------------
ERROR_LIMIT = 600          # characters of one error line's message, before eliding


def elide(text: str, limit: int) -> str:
    """``text`` cut to about ``limit`` characters: head … (N characters) … tail."""
    if len(text) <= limit:
        return text
    head, tail = text[: limit * 2 // 3], text[-(limit // 4):]
    return f"{head} … ({len(text) - len(head) - len(tail):,} characters elided) … {tail}"


def error_line(text: Any, limit: int = ERROR_LIMIT) -> str:
    """One line for ``error: ...``: whitespace runs (newlines included) as one space, control
    characters as visible escapes, long text elided."""
    text = str(text)
    if len(text) > 20 * limit:                # do not even scan a 4 GB message
        text = text[: 10 * limit] + " " + text[-2 * limit:]
    text = " ".join(visible(text, keep_newlines=True).split())
    return elide(text, limit)


# -- values in messages ----------------------------------------------------------------------------
def show(value: Any, limit: int = 200) -> str:
    """A bounded ``repr`` for messages: at most 2 levels and 6 items of nested lists, tuples,
    dicts and sets (subclasses too: the YAML reader's located lists), long strings cut, the
    whole cut to ``limit`` characters — cheap whatever the value (a YAML alias bomb of 10⁹
    nested items prints in microseconds)."""
    return elide(visible(_bounded_repr(value, 2, limit)), limit)


def _bounded_repr(value: Any, level: int, limit: int) -> str:
    if isinstance(value, str):
        return repr(value if len(value) <= limit else value[:limit] + "…")
    if isinstance(value, (bool, int, float, type(None))):
        text = repr(value)
        return text if len(text) <= 60 else text[:28] + "…" + text[-28:]
    for kind, open_, close in ((list, "[", "]"), (tuple, "(", ")"), (set, "{", "}"),
                               (frozenset, "frozenset({", "})"), (dict, "{", "}")):
        if isinstance(value, kind):
            if not value:
                return open_ + close
            if level <= 0:
                return open_ + "..." + close
            items = [kv for _, kv in zip(range(6), value.items())] if isinstance(value, dict) \
                else [v for _, v in zip(range(6), value)]
            if isinstance(value, dict):
                parts = [f"{_bounded_repr(k, level - 1, 60)}: {_bounded_repr(v, level - 1, 60)}"
                         for k, v in items]
            else:
                parts = [_bounded_repr(v, level - 1, 60) for v in items]
            if len(value) > 6:
                parts.append("...")
            return open_ + ", ".join(parts) + close
    name = getattr(value, "describe_value", None)
    if callable(name):
        return str(name())
    return f"<{type(value).__name__}>"


# -- plots -----------------------------------------------------------------------------------------
def mpl_text(text: Any) -> str:
    """Text from a model for a matplotlib title, label or annotation: control characters shown
    visibly. Mathtext is off while cnnstat draws (cnnstat.plots: text.parse_math False), so a
    "$" is a dollar sign and "$\\undefinedmacro{$" cannot abort the drawing."""
    return visible(str(text))


def mpl_label(text: Any) -> str:
    """A legend label: :func:`mpl_text`, and never starting with "_" (matplotlib hides those)."""
    text = mpl_text(text)
    return "\u200b" + text if text.startswith("_") else text
