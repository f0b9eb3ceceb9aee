"""Layers cnnstat cannot count: calls of an imported model that have no rule.

An importer (torch.fx, ONNX, Caffe) that meets a call cnnstat has no rule for does not drop it and
does not count it as zero work: it records a ``not_counted`` layer. Its output shape is the one
the source framework reports (the importer measured it), and its parameters and buffers are the
ones the source model holds for it (a fact read from the model, not an estimate), so shapes,
parameter totals and memory stay right. What it computes is unknown: its MACs of every kind are
not counted, the tables name it, the totals say how many such layers there are, and the
receptive fields after it are marked inexact (~).
"""

from __future__ import annotations

from typing import Any, Sequence

from .base import Eval, Op, register
from .schema import ArgumentError, Param, nonneg_int, positive_int
from .shapes import Shape
from .transfer import Transfer, Window


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ArgumentError(f"must be a non-empty text, got {value!r}")
    return value


def _shape(value: Any) -> tuple[int, ...]:
    if not isinstance(value, (list, tuple)):
        raise ArgumentError(f"must be a list of sizes (without the batch), got {value!r}")
    return tuple(positive_int(v) for v in value)


#: Identity, but inexact: downstream receptive fields are shown with ~.
UNKNOWN_AXIS = Window(1, 1, 0, exact=False)
UNKNOWN = Transfer(every=UNKNOWN_AXIS)


@register
class NotCounted(Op):
    """A call without a rule, kept in the graph so that its output shape and parameters are
    known: ``what`` names the call (``torch.roll``, ``ONNX Einsum``), ``shape`` is its output
    shape without the batch, ``params``/``buffers`` what the source model holds for it. Zero
    operations are *recorded*, but none is claimed: its work is reported as not counted."""

    name = "not_counted"
    arity = None
    min_inputs = 1
    summary = "an imported call cnnstat has no rule for: shape and parameters known, work not counted"
    params = (
        Param("what", _text, doc="the call, as the source names it"),
        Param("shape", _shape, doc="output shape without the batch"),
        Param("params", nonneg_int, 0, "parameters the source model holds for it"),
        Param("buffers", nonneg_int, 0, "buffers the source model holds for it"),
    )

    def evaluate(self, a, inputs: Sequence[Shape]) -> Eval:
        return Eval(shape=(inputs[0][0],) + a["shape"], params=a["params"], buffers=a["buffers"],
                    rf=tuple(UNKNOWN for _ in inputs),
                    notes=(f"not counted: {a['what']}",))

    def describe(self, a, inputs) -> str:
        return f"NOT COUNTED: {a['what']} (no cnnstat rule)"
