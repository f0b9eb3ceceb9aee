"""What the zoo holds, for ``cnnstat list``: one entry per definition file (a family of variants)."""

from __future__ import annotations

from dataclasses import dataclass

from . import zoo
from .spec import describe_variant


@dataclass(frozen=True)
class Family:
    file: str
    title: str
    year: str
    paper: str
    variants: tuple[str, ...]
    inputs: tuple[tuple[int, int, int], ...]   # default input of each variant
    references: tuple[str, ...]                # where each variant's reference numbers come from

    @property
    def input_text(self) -> str:
        sizes = sorted({(h, w) for _, h, w in self.inputs})
        c = self.inputs[0][0]
        if len(sizes) == 1:
            return f"{c}×{sizes[0][0]}×{sizes[0][1]}"
        return f"{c}×{sizes[0][0]}…{sizes[-1][0]}"

    @property
    def reference_text(self) -> str:
        return ", ".join(dict.fromkeys(r for r in self.references if r)) or "-"


def families() -> list[Family]:
    out = []
    for path in zoo.files():
        d = zoo.definition(path)
        names = d.variants or [None]
        headers = [describe_variant(d, v) for v in names]
        doc = d.doc
        out.append(Family(
            file=path.name,
            title=str(doc.get("title", doc.get("name", path.stem))),
            year=str(doc.get("year", "")),
            paper=str(doc.get("paper", "")),
            variants=tuple(v or str(doc.get("name", path.stem)) for v in names),
            inputs=tuple(h["input"] for h in headers),
            references=tuple(_reference(h.get("reference")) for h in headers),
        ))
    return sorted(out, key=lambda f: (f.year, f.title))


def _reference(value) -> str:
    if value is None:
        return ""
    if isinstance(value, dict):
        return str(value.get("source", ""))
    return str(value)
