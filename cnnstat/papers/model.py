"""What a paper table is made of: published figures, cnnstat's computed ones, and the notes that
explain every difference.

A :class:`PaperTable` has the paper's columns and rows. A cell of a *number* column pairs the
figure as printed (:class:`Published`: its text, the value it stands for and the precision it was
printed with) with cnnstat's integer; a cell of a *text* column pairs two texts (a layer
description, an output size). A number matches when cnnstat's value lies within half a unit of
the printed figure's last digit (``133`` million covers 132.5-133.5 million); anything else is a
difference, and every difference carries a note (a test checks it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

MATCH = "match"                  # equal, or within the printed figure's rounding
DIFFERS = "differs"              # a real difference: a note explains it
PUBLISHED_ONLY = "published only"
COMPUTED_ONLY = "computed only"
EMPTY = "empty"

_NUMBER = re.compile(r"^\s*([0-9][0-9,]*(?:\.[0-9]+)?)\s*([A-Za-z%]*)\s*$")


@dataclass(frozen=True)
class Published:
    """A figure as the paper prints it: ``159K`` with K = 1024 stands for 162,816 ± 512."""
    text: str
    value: float
    half_unit: float

    @staticmethod
    def parse(text: Any, scale: float = 1, suffixes: dict[str, float] | None = None) -> "Published":
        """``"159K"`` with suffixes {"K": 1024} → 159 × 1024; ``"3.8"`` with scale 1e9 → 3.8e9.
        The precision is half a unit of the last printed digit, times the same multipliers."""
        raw = str(text)
        m = _NUMBER.match(raw)
        if not m:
            raise ValueError(f"cannot read the published figure {raw!r}")
        digits, suffix = m.groups()
        multiplier = scale
        if suffix:
            known = suffixes or {}
            if suffix not in known:
                raise ValueError(f"unknown unit '{suffix}' in published figure {raw!r}")
            multiplier *= known[suffix]
        number = digits.replace(",", "")
        decimals = len(number.split(".")[1]) if "." in number else 0
        return Published(raw, float(number) * multiplier, 0.5 * 10 ** -decimals * multiplier)


@dataclass
class Cell:
    """One cell: the paper's figure or text, cnnstat's, and the note that explains a difference."""
    published: Published | str | None = None
    computed: int | float | str | None = None
    shown: str | None = None          # cnnstat's value as displayed (in the paper's unit)
    note: int | None = None           # number of the note (1-based) that explains this cell

    @property
    def numeric(self) -> bool:
        return isinstance(self.published, Published) or (
            isinstance(self.computed, (int, float)) and not isinstance(self.computed, bool))

    @property
    def relative(self) -> float | None:
        """(cnnstat - paper) / paper, for number cells with both figures."""
        if isinstance(self.published, Published) and isinstance(self.computed, (int, float)) \
                and self.published.value:
            return (self.computed - self.published.value) / self.published.value
        return None

    @property
    def status(self) -> str:
        p, c = self.published, self.computed
        if p is None and c is None:
            return EMPTY
        if c is None:
            return PUBLISHED_ONLY
        if p is None:
            return COMPUTED_ONLY
        if isinstance(p, Published):
            # a tiny tolerance for binary floating point (3.8 * 1e9 is not exact)
            return MATCH if abs(c - p.value) <= p.half_unit * (1 + 1e-9) else DIFFERS
        return MATCH if str(p) == str(c) else DIFFERS


@dataclass(frozen=True)
class Column:
    """A column of the paper's table. ``kind`` is "text" (label or description) or "number"
    (published figure, cnnstat's figure and the relative difference)."""
    key: str
    header: str
    kind: str = "text"


@dataclass
class Row:
    cells: dict[str, Cell]
    label: str = ""                   # the row's name in notes (e.g. "inception (4c)")
    emphasis: bool = False            # a total or summary row


@dataclass
class PaperTable:
    key: str                          # "googlenet-table1"
    title: str                        # "GoogLeNet incarnation of the Inception architecture"
    source: str                       # "Szegedy et al. 2015, Table 1"
    columns: list[Column]
    rows: list[Row]
    notes: list[str] = field(default_factory=list)
    models: list[str] = field(default_factory=list)   # the zoo models the figures come from
    convention: str = ""              # the counting convention of the computed figures
    caption: str = ""                 # what the published figures count, from the data file

    def add_note(self, text: str) -> int:
        """Add a note (or reuse an identical one); returns its number."""
        if text in self.notes:
            return self.notes.index(text) + 1
        self.notes.append(text)
        return len(self.notes)

    def differences(self) -> list[tuple[Row, str, Cell]]:
        """Every cell whose published and computed figures differ."""
        return [(row, key, cell) for row in self.rows for key, cell in row.cells.items()
                if cell.status == DIFFERS]

    def unexplained(self) -> list[tuple[Row, str, Cell]]:
        """Differences without a note: there must be none (tests/test_papers.py)."""
        return [d for d in self.differences() if d[2].note is None]
