"""The operator registry: name → rule. Filled by ``ops.base.register``; a module of its own so that
the shape helpers (``ops.shapes``: the "a 2-D feature map takes conv2d" hint) can read it without
importing ``ops.base``, which imports them (tests/test_layering.py: no import cycle)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from .base import Op

REGISTRY: dict[str, "Op"] = {}
