"""The built-in model zoo: definition files shipped as package data (``cnnstat/zoo/*.yaml``).

Each file defines one family; its variant names (or, without variants, its ``name``) are the zoo
names users type (``vgg16``, ``resnet50``, ``resnet50-paper``...). A name must be unique across the
zoo.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .. import cache
from ..errors import DefinitionError
from ..definition import Definition, parse_definition

ZOO_DIR = Path(__file__).resolve().parent
#: bump when the cached form of a definition changes (cnnstat.definition.yamlsrc.to_plain)
CACHE_FORMAT = 1


@dataclass(frozen=True)
class ZooEntry:
    """A zoo name: the file that defines it and its variant there."""
    name: str
    path: Path
    variant: str | None


def files() -> list[Path]:
    return sorted(p for p in ZOO_DIR.glob("*.yaml") if not p.name.startswith("_"))


# -- the parsed definitions, cached in the user cache ---------------------------------------------
# Parsing all 21 files (for the name index) takes longer than the rest of ``cnnstat params vgg16``.
# The cache holds each file's located tree (JSON) under a key made of the file's SHA-256 and the
# parser's own source (and CACHE_FORMAT), so an edited file or parser never reads a stale entry.
@lru_cache(maxsize=1)
def _parser_key() -> str:
    from ..definition import yamlsrc
    source = Path(yamlsrc.__file__).read_bytes()
    return hashlib.sha256(source + f"/{CACHE_FORMAT}".encode()).hexdigest()[:16]


@lru_cache(maxsize=None)
def _read(path: Path) -> tuple[bytes, str]:
    data = path.read_bytes()
    return data, hashlib.sha256(data).hexdigest()[:32]


def _cache_name(digest: str) -> str:
    return f"zoo-{digest}-{_parser_key()}.json"


@lru_cache(maxsize=None)
def definition(path: Path) -> Definition:
    path = Path(path)
    data, digest = _read(path)
    name = _cache_name(digest)
    plain = cache.read(name)
    if plain is not None:
        from ..definition.yamlsrc import from_plain
        try:
            return Definition(from_plain(plain), str(path))
        except (KeyError, TypeError, ValueError, AttributeError):
            pass                                  # a damaged entry: parse the file again
    d = parse_definition(data.decode("utf-8"), str(path))
    from ..definition.yamlsrc import to_plain
    try:
        cache.write(name, to_plain(d.doc))
    except (TypeError, RecursionError):           # not a plain tree (aliases to itself)
        pass
    return d


@lru_cache(maxsize=1)
def index() -> dict[str, ZooEntry]:
    """Zoo name → file and variant (cached like the definitions, under the digest of them all)."""
    paths = files()
    key = hashlib.sha256("".join(f"{p.name}:{_read(p)[1]};" for p in paths).encode()
                         ).hexdigest()[:32]
    by_name = {p.name: p for p in paths}
    name = f"zoo-index-{key}-{_parser_key()}.json"
    cached = cache.read(name)
    if isinstance(cached, list):
        try:
            return {n: ZooEntry(n, by_name[f], v) for n, f, v in cached}
        except (KeyError, TypeError, ValueError):
            pass
    entries: dict[str, ZooEntry] = {}
    for path in paths:
        d = definition(path)
        names = d.variants or [str(d.doc.get("name", path.stem))]
        for name_ in names:
            if name_ in entries:
                raise DefinitionError(f"zoo name '{name_}' is defined twice "
                                      f"({entries[name_].path.name} and {path.name})")
            entries[name_] = ZooEntry(name_, path, name_ if d.variants else None)
    cache.write(name, [[e.name, e.path.name, e.variant] for e in entries.values()])
    cache.prune("zoo-", keep={name} | {_cache_name(_read(p)[1]) for p in paths})
    return entries


def names() -> list[str]:
    return list(index())


def lookup(name: str) -> ZooEntry | None:
    return index().get(name)
