"""The timm models the tests import (tests/data/timm_models.yaml) and their oracle figures
(tests/data/timm_oracle.json).

The list covers CNN and hybrid families, the smallest variant of each, built with
``pretrained=False`` at ``pretrained_cfg['input_size']``. ``default: true`` marks the fixed
20-model subset the default test run imports; the whole list runs under ``-m slow``.
The figures are recomputed by ``python -m tests.tools.timm_sweep`` (see its docstring).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"
MODELS_FILE = DATA / "timm_models.yaml"
ORACLE_FILE = DATA / "timm_oracle.json"


@dataclass(frozen=True)
class TimmModel:
    name: str
    module: str                      # the timm.models module that registers it
    input_size: tuple[int, ...]      # pretrained_cfg['input_size'], (C, H, W)
    default: bool                    # in the fixed default-run subset
    build_s: float                   # seconds to build with pretrained=False (when recorded)


@functools.cache
def models() -> tuple[TimmModel, ...]:
    import yaml

    data = yaml.safe_load(MODELS_FILE.read_text(encoding="utf-8"))
    return tuple(TimmModel(m["name"], m["module"], tuple(m["input_size"]), bool(m["default"]),
                           float(m["build_s"])) for m in data["models"])


def default_models() -> tuple[TimmModel, ...]:
    return tuple(m for m in models() if m.default)


@functools.cache
def oracle_figures() -> dict[str, dict]:
    """name → the oracle's figures (tests/oracle.py ``Figures.to_dict``) as recorded."""
    return json.loads(ORACLE_FILE.read_text(encoding="utf-8"))["models"]


def build(name: str):
    """The timm model, random weights (nothing downloaded), in eval mode."""
    import warnings

    import timm
    import torch

    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return timm.create_model(name, pretrained=False).eval()
