"""Operator rules: one pure rule per operator, registered once.

``REGISTRY`` maps an operator name (as written in definitions) to its rule. Importing this package
loads every operator family. A new operator is one class in the family's module, a row in
docs/format.md and a test (the recipe: docs/architecture.md, "Adding an operator").
"""

from .base import (MAC_KINDS, REGISTRY, Eval, Op, Param, Shape, Transfer, Window,  # noqa: F401
                   WHOLE, register)
from . import activation, conv, linear, merge, norm, pool, spatial, tensor, unknown  # noqa: F401,E501


def get(name: str) -> Op:
    """The rule of an operator, or KeyError."""
    return REGISTRY[name]
