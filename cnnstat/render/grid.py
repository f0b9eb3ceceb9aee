"""A table as every output format needs it: columns with a machine key (the CSV header and the name
``--columns`` takes), a header that names the unit, display cells, raw values for CSV, and what the
terminal needs to fit a width — which columns must stay (the row label and the command's main
figure), which give way first, and how each column may shrink.

One Grid renders as a terminal table (cnnstat.render.terminal), a Markdown table (through the
report's document model) and CSV; ``--columns`` chooses and orders its columns for all three.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Callable, Sequence

from ..errors import UsageError

#: how a column may shrink to fit a width: never ("fixed": numbers, shapes — a number is never
#: split), by eliding the middle of a name ("name": layer4.2.conv2 → lay…2.conv2), or by folding
#: its text onto more lines at spaces ("wrap")
FIXED, NAME, WRAP = "fixed", "name", "wrap"


@dataclass(frozen=True)
class Col:
    """A column: key (CSV header, --columns), header (with the unit), alignment, how it shrinks."""
    key: str
    header: str
    numeric: bool = False
    fit: str = FIXED
    summed: bool = False        # its total is in the total row (which goes when no such column is)
    comfort: int | None = None  # a folded column's width before other columns are left out


@dataclass
class Grid:
    """A table: columns, display cells, CSV values, and what to keep when the width is short."""
    cols: list[Col]
    rows: list[list[str]] | None              # None: made on demand, per column, by ``cells``
    raw: list[list[Any]] | None = None        # CSV values per row (None: the display cells)
    default: Sequence[str] | None = None      # keys shown unless --columns (None: every column)
    csv_default: Sequence[str] | None = None  # keys in CSV unless --columns (None: as default)
    keep: Sequence[str] = ()                  # never left out to fit a width
    drop_first: Sequence[str] = ()            # left out first (in this order), then from the right
    total: list[str] | None = None            # a last row, after a rule (bold)
    styles: list[str | None] | None = None    # per row: None, "bad", "warn", "dim", "strong"
    title: str = ""
    caption: Sequence[str] = ()               # lines after the table
    sections: frozenset[int] = field(default_factory=frozenset)   # rows preceded by a rule
    selectable: bool = True                   # --columns applies to this table
    aliases: dict[str, str] = field(default_factory=dict)   # other names --columns takes
    cells: Callable[[str], list[str]] | None = None     # key → display cells (when rows is None)
    values: Callable[[str], list[Any]] | None = None    # key → CSV values (when rows is None)

    @property
    def keys(self) -> list[str]:
        return [c.key for c in self.cols]

    def with_keys(self, keys: Sequence[str]) -> "Grid":
        """This table with only these columns, in this order."""
        index = {c.key: i for i, c in enumerate(self.cols)}
        picks = [index[k] for k in keys]

        def take(row):
            return [row[i] for i in picks]
        cols = [self.cols[i] for i in picks]
        summed = any(c.summed for c in self.cols)
        total = None if self.total is None or (summed and not any(c.summed for c in cols)) \
            else take(self.total)
        if self.rows is None:                     # only the chosen columns are computed
            shown = [self.cells(k) for k in keys]
            raw = [self.values(k) for k in keys] if self.values else shown
            return replace(self, cols=cols, rows=[list(r) for r in zip(*shown)] if keys else [],
                           raw=[list(r) for r in zip(*raw)] if keys else [], total=total,
                           default=None, csv_default=None, cells=None, values=None)
        return replace(self, cols=cols, rows=[take(r) for r in self.rows],
                       raw=None if self.raw is None else [take(r) for r in self.raw],
                       total=total, default=None, csv_default=None)

    def chosen(self, spec: str | None, for_csv: bool = False) -> "Grid":
        """The columns ``--columns`` asks for (``None``: this table's default)."""
        if not spec or not self.selectable:
            keys = (self.csv_default if for_csv else None) or self.default
            if keys is None:
                return self if self.rows is not None else self.with_keys(self.keys)
            return self.with_keys(list(keys))
        return self.with_keys(parse_columns(spec, self.cols, self.aliases))

    def csv_text(self) -> str:
        import io
        from .escape import csv_writer
        buffer = io.StringIO()
        writer = csv_writer(buffer)          # no cell starts a spreadsheet formula
        writer.writerow(self.keys)
        writer.writerows(self.raw if self.raw is not None else self.rows)
        return buffer.getvalue()

    def to_document(self):
        """The report's Markdown/HTML table block."""
        from ..report.document import Table
        styles = self.styles or [None] * len(self.rows)
        rows = [[f"**{c}**" if style == "strong" and c else c for c in row]
                for row, style in zip(self.rows, styles)]        # summary rows in bold
        return Table([c.header for c in self.cols], rows, [c.numeric for c in self.cols],
                     self.total)


def parse_columns(spec: str, cols: Sequence[Col], aliases: dict[str, str] | None = None
                  ) -> list[str]:
    """``--columns layer,params,macs`` → keys, in the order given; ``all`` → every column. A column
    is named by its key, its header or an alias (torchinfo's names), in any case; an unknown one
    is an error naming them all."""
    from ..suggest import did_you_mean
    by_name: dict[str, str] = {}
    for c in cols:
        by_name.setdefault(c.key.casefold(), c.key)
        by_name.setdefault(c.header.casefold(), c.key)
    for alias, key in (aliases or {}).items():
        by_name.setdefault(alias.casefold(), key)
    keys: list[str] = []
    for item in (part.strip() for part in spec.split(",")):
        if not item:
            continue
        if item.casefold() == "all":
            keys += [c.key for c in cols if c.key not in keys]
            continue
        key = by_name.get(item.casefold())
        if key is None:
            raise UsageError(f"--columns: unknown column '{item}'"
                             f"{did_you_mean(item, [c.key for c in cols])}; this table has "
                             f"{', '.join(c.key for c in cols)} (or all)")
        if key not in keys:
            keys.append(key)
    if not keys:
        raise UsageError("--columns: name at least one column, e.g. --columns layer,params, "
                         "or all")
    return keys


def from_cells(headers: Sequence[str], rows: Sequence[Sequence[str]], numeric: Sequence[bool],
               *, keys: Sequence[str] | None = None, fits: dict[str, str] | None = None,
               **options) -> Grid:
    """A Grid from plain headers and cells; keys default to the headers made into names
    (``peak activation memory`` → ``peak_activation_memory``)."""
    keys = list(keys) if keys is not None else [slug(h) for h in headers]
    fits = fits or {}
    cols = [Col(k, h, bool(n), fits.get(k, FIXED if n else WRAP))
            for k, h, n in zip(keys, headers, numeric)]
    return Grid(cols, [list(r) for r in rows], **options)


def slug(header: str) -> str:
    import re
    text = re.sub(r"[^0-9a-z]+", "_", header.casefold().replace("%", " pct ")).strip("_")
    return text or "column"
