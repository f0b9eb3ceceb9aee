"""What a command prints, in pieces every format understands: the report's document blocks
(cnnstat.report.document: Heading, Para, Facts, Table …), tables (cnnstat.render.grid.Grid), and
the additions here — text with a short form for the terminal, a styled paragraph, and a tree."""

from __future__ import annotations

from dataclasses import dataclass, field

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


@dataclass
class TreeNode:
    """An item of a tree: its label, a second line of detail, the items under it."""
    label: str
    detail: str = ""
    children: list["TreeNode"] = field(default_factory=list)


@dataclass
class Tree:
    """A tree (the zoo's family tree), drawn with guides on a terminal; the root's title above."""
    title: str
    nodes: list[TreeNode] = field(default_factory=list)

    def markdown(self) -> str:
        """Nested bullets."""
        lines = [self.title, ""]

        def visit(node: TreeNode, depth: int) -> None:
            lines.append("  " * depth + f"- {node.label}" + (f" ({node.detail})" if node.detail
                                                            else ""))
            for child in node.children:
                visit(child, depth + 1)
        for node in self.nodes:
            visit(node, 0)
        return "\n".join(lines)
