"""What a command prints, in pieces every format understands: the report's document blocks
(cnnstat.report.document: Heading, Para, Facts, Table …), tables (cnnstat.render.grid.Grid), and
the two additions here — text with a short form for the terminal, and a styled paragraph."""

from __future__ import annotations

from dataclasses import dataclass

from ..report.document import Para


class Brief(str):
    """Text whose full form goes to files (Markdown, JSON, HTML) and ``--explain``, and whose
    short form goes to the terminal: ``Brief(convention.describe(), convention.short())``."""
    short: str

    def __new__(cls, full: str, short: str) -> "Brief":
        text = super().__new__(cls, full)
        text.short = short
        return text


@dataclass
class Note(Para):
    """A paragraph with a terminal style ("good", "bad", "warn", "dim", "strong")."""
    style: str | None = None
