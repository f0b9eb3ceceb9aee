"""Reference data shipped with cnnstat (package data, ``cnnstat/data/*.yaml``), each figure with its
citation: ``accuracy.yaml`` holds published ImageNet top-1 accuracies for the comparison charts."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

DATA_DIR = Path(__file__).resolve().parent


@lru_cache(maxsize=None)
def load(name: str) -> Any:
    """The parsed YAML data file ``cnnstat/data/<name>.yaml``."""
    import yaml
    with open(DATA_DIR / f"{name}.yaml", encoding="utf-8") as handle:
        return yaml.safe_load(handle)
