"""What the zoo holds, for ``cnnstat list``: one entry per definition file (a family of variants)."""

from __future__ import annotations

from dataclasses import dataclass

from . import zoo
from .definition import describe_variant


@dataclass(frozen=True)
class Family:
    file: str
    title: str
    year: str
    paper: str
    variants: tuple[str, ...]
    inputs: tuple[tuple[int, ...], ...]        # default input of each variant: (C, *spatial)
    references: tuple[str, ...]                # where each variant's reference numbers come from

    @property
    def input_text(self) -> str:
        """3×224×224; the range of the first spatial size where variants differ (3×224…600);
        1×32000 for a 1-D model, 3×16×112×112 for a 3-D one."""
        sizes = sorted({tuple(i[1:]) for i in self.inputs})
        c = self.inputs[0][0]
        if len(sizes) == 1:
            return "×".join(map(str, (c,) + sizes[0]))
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
