"""Tables and text for a terminal, fitted to its width; plain when the output is not a terminal.

The width is ``--width``, else ``$COLUMNS``, else the terminal's; output that goes to a pipe or a
file has no width (nothing is folded or left out) and no colour or box-drawing characters, so it
is stable for diffing. On a terminal:

- a table keeps its row label and the command's main columns (``Grid.keep``); layer names are
  shortened in the middle with an ellipsis (``layer4.0.downsample.0`` → ``layer4…downsample.0``),
  never so far that two names look alike; text columns fold onto more lines at spaces; a number
  or shape is never split. When that is not enough, lower-priority columns are left out (first
  ``Grid.drop_first``, then from the right), and one line after the table names them;
- columns chosen with ``--columns`` are all shown: a table too wide for the terminal continues
  below, the row label repeated;
- colour (bold headers, red rows that differ) unless ``NO_COLOR`` is set or ``TERM=dumb``.
"""

from __future__ import annotations

import os
import re
import sys
import unicodedata
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from .escape import terminal
from .grid import FIXED, NAME, WRAP, Col, Grid, from_cells

GAP = 2                 # spaces between columns
NAME_FLOOR = 10         # a shortened name keeps at least this many characters (if it can)
WRAP_FLOOR = 12         # a folded text column is at least this wide
WRAP_COMFORT = 30       # ... and columns are left out before it gets narrower than this
ELLIPSIS = "…"

_STYLES = {"bold": "1", "strong": "1", "dim": "2", "bad": "31", "warn": "33", "good": "32",
           "blue": "34", "label": "1;36"}
_NUMBER = re.compile(r"[0-9][0-9,.]*")


# -- where the output goes ------------------------------------------------------------------------
@dataclass(frozen=True)
class Screen:
    """The target: a width (None: unlimited) and whether it understands colour and box drawing."""
    width: int | None
    rich: bool

    @classmethod
    def detect(cls, width: int | None = None, stream=None) -> "Screen":
        stream = stream or sys.stdout
        try:
            tty = stream.isatty()
        except (AttributeError, ValueError):
            tty = False
        if width is None:
            width = _env_width()
        if width is None and tty:
            try:
                width = os.get_terminal_size(stream.fileno()).columns or None
            except (OSError, ValueError, AttributeError):
                width = None
        colour = tty and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"
        return cls(width, colour)


def _env_width() -> int | None:
    try:
        value = int(os.environ.get("COLUMNS", ""))
    except ValueError:
        return None
    return value if value > 0 else None


def width_of(text: str) -> int:
    """Terminal cells taken by text (wide East Asian characters count two, combining marks none)."""
    if text.isascii():
        return len(text)
    total = 0
    for ch in text:
        if unicodedata.combining(ch):
            continue
        total += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return total


def plain(text: Any) -> str:
    """A cell as a terminal may print it: control characters (escape sequences, BEL, CR, C1,
    bidirectional overrides) shown as visible escapes (``\\x1b``) by cnnstat.render.escape, so
    that no text can move the cursor or change colours; newlines kept. The one place cells are
    made safe for the terminal."""
    return terminal(text)


def _cut(text: str, width: int, from_end: bool = False) -> str:
    """The first (or last) characters of text that fit in width cells."""
    out, used = [], 0
    for ch in (reversed(text) if from_end else text):
        w = width_of(ch)
        if used + w > width:
            break
        out.append(ch)
        used += w
    return "".join(reversed(out) if from_end else out)


# -- shortening and folding -----------------------------------------------------------------------
def shorten(name: str, width: int) -> str:
    """A name in at most ``width`` cells, the middle elided: whole dotted components first
    (``layer4.0.downsample.0`` → ``layer4…downsample.0``), else characters, keeping more of the
    end (which tells a layer from its neighbours) than of the start."""
    if width_of(name) <= width:
        return name
    if width <= 1:
        return ELLIPSIS[:width]
    parts = name.split(".")
    if len(parts) > 2:
        head = parts[0]
        for k in range(2, len(parts)):
            candidate = head + ELLIPSIS + ".".join(parts[k:])
            if width_of(candidate) <= width and width_of(".".join(parts[k:])) >= width // 2:
                return candidate
    budget = width - 1
    head = budget * 2 // 5
    return _cut(name, head) + ELLIPSIS + _cut(name, budget - head, from_end=True)


def name_width(names: Sequence[str], floor: int = NAME_FLOOR) -> int:
    """The narrowest width (at least ``floor``) at and above which the shortened names stay
    distinct (tried from the full width down, so every width above the answer was checked)."""
    distinct = list(dict.fromkeys(names))
    natural = max((width_of(n) for n in distinct), default=0)
    for w in range(natural - 1, min(floor, natural) - 1, -1):
        long = [n for n in distinct if width_of(n) > w]
        if len({shorten(n, w) for n in long} | (set(distinct) - set(long))) < len(distinct):
            return w + 1
    return min(floor, natural)


def fold(text: str, width: int) -> list[str]:
    """Text in lines of at most ``width`` cells, broken at spaces; a word longer than the line is
    broken after punctuation, never inside a number unless the number alone is wider."""
    lines: list[str] = []
    for paragraph in str(text).split("\n"):
        line = ""
        for word in paragraph.split(" "):
            if not line:
                candidate = word
            else:
                candidate = line + " " + word
            if width_of(candidate) <= width:
                line = candidate
                continue
            if line:
                lines.append(line)
            line = ""
            while width_of(word) > width:
                cut = _break_at(word, width)
                lines.append(word[:cut])
                word = word[cut:]
            line = word
        lines.append(line)
    return lines


def _break_at(word: str, width: int) -> int:
    limit = len(_cut(word, width))
    for i in range(limit, 0, -1):                  # after punctuation, or before an opening one
        if word[i - 1] in ",;=/)]|-_:." or (i < len(word) and word[i] in "([{"):
            if i > 0 and not (word[i - 1].isdigit() and i < len(word) and word[i].isdigit()):
                return i
    cut = limit
    while cut > 1 and word[cut - 1].isdigit() and word[cut].isdigit():
        cut -= 1                                   # keep a number whole
    return cut if cut > 1 else limit


def _wrap_floor(cells: Iterable[str]) -> int:
    """A folded column is at least as wide as its longest number (numbers are never split)."""
    longest = max((len(m) for c in cells for m in _NUMBER.findall(c)), default=0)
    return max(WRAP_FLOOR, longest)


# -- fitting a table to a width -------------------------------------------------------------------
@dataclass
class _Column:
    """A column measured: natural width, the narrowest it may be, the width it folds to first."""
    col: Col
    cells: list[str]
    natural: int
    header_min: int
    hard_min: int
    comfort: int


def _measure(col: Col, cells: list[str]) -> _Column:
    header_words = max((width_of(w) for w in col.header.split()), default=0)
    widest = max((width_of(line) for c in cells for line in c.split("\n")), default=0)
    natural = max(widest, width_of(col.header))
    if col.fit == NAME:
        hard = max(name_width(cells), header_words)
        comfort = hard
    elif col.fit == WRAP:
        hard = max(min(widest, _wrap_floor(cells)), header_words)
        comfort = max(min(widest, col.comfort or WRAP_COMFORT), hard)
    else:
        hard = comfort = max(widest, header_words)
    return _Column(col, cells, natural, header_words, min(hard, natural), min(comfort, natural))


def _span(widths: Iterable[int]) -> int:
    widths = list(widths)
    return sum(widths) + GAP * max(len(widths) - 1, 0)


def _drop_order(grid: Grid, keys: list[str]) -> list[str]:
    keep = set(grid.keep) or {keys[0]}
    first = [k for k in grid.drop_first if k in keys and k not in keep]
    rest = [k for k in reversed(keys) if k not in keep and k not in first]
    return first + rest


def _widths(columns: list[_Column], width: int | None, floor: str = "comfort") -> list[int] | None:
    """Column widths that fit ``width``, none narrower than its ``floor`` ("comfort" or
    "hard_min"); None if those do not fit."""
    if width is None or _span(c.natural for c in columns) <= width:
        return [c.natural for c in columns]
    widths = [getattr(c, floor) for c in columns]
    if _span(widths) > width:
        return None
    spare = width - _span(widths)
    # spare cells: names first (whole names read best), then headers on one line, then text
    for kind in (NAME, FIXED):
        for i, c in enumerate(columns):
            if c.col.fit == kind and spare > 0:
                add = min(spare, c.natural - widths[i])
                widths[i] += add
                spare -= add
    folding = [i for i, c in enumerate(columns) if widths[i] < c.natural]
    while spare > 0 and folding:
        share = max(spare // len(folding), 1)
        for i in list(folding):
            add = min(share, columns[i].natural - widths[i], spare)
            widths[i] += add
            spare -= add
            if widths[i] >= columns[i].natural:
                folding.remove(i)
            if spare <= 0:
                break
    return widths


@dataclass
class Fitted:
    """What will be printed: one table, or several when chosen columns continue below."""
    panels: list[tuple[list[_Column], list[int]]]
    dropped: list[Col]


def fit(grid: Grid, width: int | None, chosen: bool = False) -> Fitted:
    """Which columns, how wide. Text columns fold to a comfortable width before any column is
    left out; below that, columns are left out in the grid's order; only when the columns that
    must stay do not fit even so are text columns folded narrower."""
    cells = [[row[i] for row in grid.rows] + ([grid.total[i]] if grid.total else [])
             for i in range(len(grid.cols))]
    if width is None:                        # no limit: every column as wide as it needs
        columns = [_Column(c, v, n, n, n, n) for c, v in zip(grid.cols, cells)
                   for n in [max([width_of(line) for x in v for line in x.split("\n")]
                                 + [width_of(c.header)])]]
        return Fitted([(columns, [c.natural for c in columns])], [])
    columns = [_measure(c, v) for c, v in zip(grid.cols, cells)]
    widths = _widths(columns, width)
    if widths is not None:
        return Fitted([(columns, widths)], [])
    if chosen:
        return Fitted(_panels(columns, width, grid.keep), [])
    order = _drop_order(grid, [c.col.key for c in columns])
    for floor in ("comfort", "hard_min"):
        active, dropped = list(columns), []
        for key in order:
            widths = _widths(active, width, floor)
            if widths is not None:
                break
            dropped.append(next(c for c in active if c.col.key == key))
            active = [c for c in active if c.col.key != key]
        else:
            widths = _widths(active, width, floor)
        if widths is not None:
            break
    if widths is None:                       # the columns that must stay do not fit: squeeze
        widths = _squeezed(active, width)
    dropped.sort(key=lambda c: columns.index(c))
    return Fitted([(active, widths)], [c.col for c in dropped])


def _panels(columns: list[_Column], width: int, keep: Sequence[str]):
    """Columns chosen with --columns, in as many tables as the width needs, each column at a
    comfortable width where it can be; the row label (the first name column that must stay, else
    the first column) starts each table after the first."""
    label = next((c for c in columns if c.col.key in keep and c.col.fit == NAME), columns[0])
    panels: list[list[_Column]] = []
    current: list[_Column] = []
    for c in columns:
        if c is label and panels:
            continue
        if any(x is not label for x in current) and _widths(current + [c], width) is None:
            panels.append(current)
            current = [label]
        current.append(c)
    panels.append(current)
    return [(cols, _widths(cols, width) or _widths(cols, width, "hard_min")
             or _squeezed(cols, width)) for cols in panels]


def _squeezed(columns: list[_Column], width: int) -> list[int]:
    """Widths for columns that do not fit even at their hard minimum: names are shortened in
    the middle to a quarter of the width (at least 4 cells), the rest keep their hard minimum
    (a number is never split)."""
    return [min(c.hard_min, max(width // 4, 4)) if c.col.fit == NAME else c.hard_min
            for c in columns]


# -- drawing --------------------------------------------------------------------------------------
class Painter:
    def __init__(self, screen: Screen):
        self.screen = screen

    def style(self, text: str, style: str | None) -> str:
        if not style or not self.screen.rich or not text:
            return text
        code = _STYLES.get(style)
        return f"\x1b[{code}m{text}\x1b[0m" if code else text

    def rule(self, width: int) -> str:
        return ("─" if self.screen.rich else "-") * width


def _cell_lines(c: _Column, text: str, width: int) -> list[str]:
    lines = []
    for line in text.split("\n"):
        if width_of(line) <= width:
            lines.append(line)
        elif c.col.fit == NAME:
            lines.append(shorten(line, width))
        else:
            lines += fold(line, width)
    return lines


def _pad(text: str, width: int, right: bool) -> str:
    space = " " * max(width - width_of(text), 0)
    return space + text if right else text + space


def table_lines(grid: Grid, screen: Screen, chosen: bool = False) -> list[str]:
    """The table as lines (no line wider than the screen, if it has a width)."""
    paint = Painter(screen)
    safe = _safe_grid(grid)
    fitted = fit(safe, screen.width, chosen)
    out: list[str] = []
    if safe.title:
        out += [paint.style(line, "bold") for line in _wrap_text(safe.title, screen.width)]
    for n, (columns, widths) in enumerate(fitted.panels):
        if n:
            keys = ", ".join(c.col.key for c in columns[1:])      # after the row label
            out += ["", f"(continued: {keys})"]
        out += _draw(safe, columns, widths, paint)
    if fitted.dropped:
        names = ", ".join(c.header for c in fitted.dropped)
        how = ("--columns all shows every column" if grid.selectable
               else "a wider terminal or --width shows them")
        out += _wrap_text(f"(left out to fit {screen.width} columns: {names}; {how})",
                          screen.width)
    for line in safe.caption:
        out += _wrap_text(line, screen.width)
    return out


def _draw(grid: Grid, columns: list[_Column], widths: list[int], paint: Painter) -> list[str]:
    index = {c.key: i for i, c in enumerate(grid.cols)}
    picks = [index[c.col.key] for c in columns]
    total_width = _span(widths)
    lines: list[str] = []
    heads = [fold(c.col.header, w) for c, w in zip(columns, widths)]
    for i in range(max(len(h) for h in heads)):
        cells = [_pad(h[i] if i < len(h) else "", w, c.col.numeric)
                 for h, w, c in zip(heads, widths, columns)]
        lines.append(paint.style((" " * GAP).join(cells).rstrip(), "bold"))
    lines.append(paint.rule(total_width))
    styles = grid.styles or [None] * len(grid.rows)
    for r, (row, style) in enumerate(zip(grid.rows, styles)):
        if r in grid.sections and r:
            lines.append(paint.rule(total_width))
        lines += _row_lines([row[i] for i in picks], columns, widths, paint, style)
    total = [grid.total[i] for i in picks] if grid.total else []
    if any(cell and cell != "total" for cell in total):     # more than the word "total"
        lines.append(paint.rule(total_width))
        lines += _row_lines(total, columns, widths, paint, "strong")
    return lines


def _row_lines(cells: list[str], columns: list[_Column], widths: list[int], paint: Painter,
               style: str | None) -> list[str]:
    parts = [_cell_lines(c, text, w) for text, c, w in zip(cells, columns, widths)]
    out = []
    for i in range(max(len(p) for p in parts)):
        line = (" " * GAP).join(_pad(p[i] if i < len(p) else "", w, c.col.numeric)
                                for p, w, c in zip(parts, widths, columns)).rstrip()
        out.append(paint.style(line, style))
    return out


def _safe_grid(grid: Grid) -> Grid:
    from dataclasses import replace
    return replace(grid, rows=[[_cell(c) for c in row] for row in grid.rows],
                   total=None if grid.total is None else [_unmark(_cell(c)) for c in grid.total],
                   title=plain(grid.title), caption=[plain(c) for c in grid.caption])


def _cell(text: Any) -> str:
    """A cell's text, safe for the terminal; newlines separate its lines."""
    return "\n".join(plain(line) for line in str(text).split("\n"))


def _wrap_text(text: str, width: int | None, indent: int = 0) -> list[str]:
    text = plain(text)
    if width is None:
        return text.split("\n")
    lines = fold(text, max(width - indent, 8))
    return [lines[0]] + [" " * indent + line for line in lines[1:]]


# -- documents ------------------------------------------------------------------------------------
def _unmark(text: str) -> str:
    """Markdown marks the terminal does not need: **bold**, `code`, [label](link) → label."""
    text = re.sub(r"\*\*(.+?)\*\*", r"\1", text)
    text = re.sub(r"(?<![\w*])\*([^*\s][^*\n]*?)\*(?![\w*])", r"\1", text)     # *emphasis*
    text = re.sub(r"`([^`]+)`", r"\1", text)
    text = re.sub(r"\[([^\]]+)\]\(([^)\s]+)\)", r"\1", text)
    return text.replace("\\|", "|")


def brief(value: Any, explain: bool) -> str:
    """The text of a value that may have a short form for the terminal (cnnstat.render.blocks)."""
    short = getattr(value, "short", None)
    return str(value) if explain or short is None else short


def render_blocks(blocks: Sequence[Any], screen: Screen, *, explain: bool = False,
                  chosen: bool = False) -> str:
    """Document blocks (cnnstat.report.document, Grid, Note) as terminal text."""
    from ..report.document import Details, Facts, Figure, Heading, Para, SideBySide, Table
    from .blocks import Tree
    paint = Painter(screen)
    out: list[list[str]] = []

    def add(block: Any) -> None:
        if isinstance(block, Grid):
            out.append(table_lines(block, screen, chosen and block.selectable))
        elif isinstance(block, Table):
            grid = from_cells(block.headers, block.rows, block.numeric, total=block.total,
                              selectable=False)
            if grid.total:
                grid.total = [_unmark(c) for c in grid.total]
            out.append(table_lines(grid, screen))
        elif isinstance(block, Heading):
            out.append([paint.style(line, "bold")
                        for line in _wrap_text(_unmark(brief(block.text, explain)), screen.width)])
        elif isinstance(block, Facts):
            out.append(_facts_lines(block.items, screen, paint, explain))
        elif isinstance(block, Para):
            out.append(_para_lines(brief(block.text, explain), screen, paint,
                                   getattr(block, "style", None)))
        elif isinstance(block, (Details, SideBySide)):
            if isinstance(block, Details):
                add(Heading(block.summary, 3))
            for inner in block.blocks:
                add(inner)
        elif isinstance(block, Tree):
            out.append(_tree_lines(block, screen, paint, explain))
        elif isinstance(block, Figure):
            return
        else:
            raise TypeError(f"not a block: {block!r}")

    for b in blocks:
        add(b)
    return "\n\n".join("\n".join(lines) for lines in out if lines) + "\n"


def _facts_lines(items, screen: Screen, paint: Painter, explain: bool) -> list[str]:
    labels = [plain(label) for label, _ in items]
    pad = max((width_of(label) for label in labels), default=0) + 2
    lines = []
    for label, (_, value) in zip(labels, items):
        text = _wrap_text(_unmark(brief(value, explain)), screen.width, pad)
        lines.append(paint.style(label.ljust(pad), "label") + text[0])
        lines += text[1:]
    return lines


def _para_lines(text: str, screen: Screen, paint: Painter, style: str | None) -> list[str]:
    lines = []
    for line in _unmark(text).split("\n"):
        indent = 2 if line.startswith("- ") else 0
        lines += [paint.style(x, style) for x in _wrap_text(line, screen.width, indent)]
    return lines


def _tree_lines(tree, screen: Screen, paint: Painter, explain: bool) -> list[str]:
    """A tree with guides (box drawing on a terminal, ASCII when piped); long labels wrap under
    their own guide."""
    branch, last, down = ("├── ", "└── ", "│   ") if screen.rich else ("|-- ", "`-- ", "|   ")
    lines = [paint.style(line, "bold")
             for line in _wrap_text(_unmark(brief(tree.title, explain)), screen.width)]

    def visit(node, prefix: str, is_last: bool) -> None:
        lead = prefix + (last if is_last else branch)
        more = prefix + ("    " if is_last else down)
        inner = more + ("│   " if screen.rich and node.children else
                        "|   " if node.children else "    ")
        width = None if screen.width is None else max(screen.width - width_of(inner), 12)
        label = _wrap_text(node.label, width)
        lines.append(lead + paint.style(label[0], "bold"))
        lines.extend(inner + x for x in label[1:])
        if node.detail:
            lines.extend(inner + paint.style(x, "dim") for x in _wrap_text(node.detail, width))
        for i, child in enumerate(node.children):
            visit(child, more, i == len(node.children) - 1)

    for i, node in enumerate(tree.nodes):
        visit(node, "", i == len(tree.nodes) - 1)
    return lines
