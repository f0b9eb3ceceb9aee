"""The built-in model zoo: definition files shipped as package data (``cnnstat/zoo/*.yaml``).

Each file defines one family; its variant names (or, without variants, its ``name``) are the zoo
names users type (``vgg16``, ``resnet50``, ``resnet50-paper``...). A name must be unique across the
zoo.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ..errors import DefinitionError
from ..spec import Definition, load_definition

ZOO_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class ZooEntry:
    name: str
    path: Path
    variant: str | None


def files() -> list[Path]:
    return sorted(p for p in ZOO_DIR.glob("*.yaml") if not p.name.startswith("_"))


@lru_cache(maxsize=None)
def definition(path: Path) -> Definition:
    return load_definition(str(path))


@lru_cache(maxsize=1)
def index() -> dict[str, ZooEntry]:
    """Zoo name → file and variant."""
    entries: dict[str, ZooEntry] = {}
    for path in files():
        d = definition(path)
        names = d.variants or [str(d.doc.get("name", path.stem))]
        for name in names:
            if name in entries:
                raise DefinitionError(f"zoo name '{name}' is defined twice "
                                      f"({entries[name].path.name} and {path.name})")
            entries[name] = ZooEntry(name, path, name if d.variants else None)
    return entries


def names() -> list[str]:
    return list(index())


def lookup(name: str) -> ZooEntry | None:
    return index().get(name)
