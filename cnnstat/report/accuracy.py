"""Published ImageNet-1K top-1 accuracies (cnnstat/data/accuracy.yaml), each with its source."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from ..errors import CnnstatError


@dataclass(frozen=True)
class Accuracy:
    top1: float          # % (from the published accuracy, or 100 - the published error)
    source: str          # key into the file's sources
    short: str           # the source, briefly
    citation: str        # the source, in full
    printed: str         # the figure as published: "top-1 76.13%" or "top-1 error 22.85%"
    weights: str = ""    # torchvision: the weights whose metadata holds the figure

    @property
    def where(self) -> str:
        """The figure and where it is published, in a few words."""
        if self.weights:
            return f"acc@1 {self.printed.split()[-1]} of {self.weights}, {self.short}"
        return f"{self.printed}, {self.short}"


@lru_cache(maxsize=1)
def table() -> dict[str, Accuracy]:
    """Zoo name → published accuracy."""
    from ..data import load
    data = load("accuracy")
    sources = data["sources"]
    out = {}
    for name, entry in data["models"].items():
        source = entry["source"]
        if source not in sources:
            raise CnnstatError(f"cnnstat/data/accuracy.yaml: {name}: unknown source '{source}'")
        if "top1" in entry:
            top1, printed = float(entry["top1"]), f"top-1 {entry['top1']}%"
        else:
            err = entry["top1_error"]
            top1, printed = round(100 - float(err), 6), f"top-1 error {err}%"
        cite = sources[source]
        out[str(name)] = Accuracy(top1, source, str(cite["short"]), " ".join(str(cite["cite"]).split()),
                                  printed, str(entry.get("weights", "")))
    return out


def lookup(name: str) -> Accuracy | None:
    return table().get(name)
