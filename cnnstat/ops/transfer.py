"""Receptive-field transfers: how one layer maps a field, one window per spatial axis."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from typing import Sequence


# --------------------------------------------------------------------------------------------
# Receptive-field transfer of one layer, per spatial axis (Araujo, Norris & Sim, Distill 2019).
# A layer whose output unit u reads input units [u*stride - padding, u*stride - padding + kernel - 1]
# is a Window. kernel is the *effective* kernel: dilation*(k-1)+1. Upsampling layers have fractional
# strides (1/scale); their windows are then exact only on average and the result is marked inexact.
# --------------------------------------------------------------------------------------------
Number = int | Fraction


@dataclass(frozen=True, slots=True)
class Window:
    """Output unit u reads input units [u*stride - padding, u*stride - padding + kernel - 1]
    (``kernel`` is the dilated extent d*(k - 1) + 1; with ``dilation`` d only every d-th of them:
    what a single unit's exact field needs, see ``window_spans``)."""
    kernel: Number = 1
    stride: Number = 1
    padding: Number = 0
    exact: bool = True
    dilation: int = 1


IDENTITY = Window()
WHOLE = "whole"  # the output unit sees the whole input along this axis (global pooling, linear)
#: positions moved into non-spatial axes (a reshape, permute or flatten of spatial axes: tokens,
#: heads): from here a unit's field is not a window of the input's axes (cnnstat.receptive)
NOT_SPATIAL = "not spatial"
AxisTransfer = Window | str


@dataclass(frozen=True, slots=True)
class Transfer:
    """Receptive-field transfer of a layer: one window per spatial axis of its input (``axes``,
    in the tensor's order: length; height, width; depth, height, width). A transfer without
    ``axes`` applies ``every`` to each axis whatever the rank: POINTWISE (the identity), GLOBAL
    (the whole input) or an unknown layer's inexact identity."""
    axes: tuple[AxisTransfer, ...] = ()
    every: AxisTransfer = IDENTITY

    def for_rank(self, rank: int) -> tuple[AxisTransfer, ...]:
        """The window of each of ``rank`` axes (``axes`` itself when it has that many)."""
        return self.axes or (self.every,) * rank

    @property
    def h(self) -> AxisTransfer:
        """The height axis' window (the last but one) of a transfer with two or three axes."""
        return self.axes[-2] if len(self.axes) >= 2 else self.every

    @property
    def w(self) -> AxisTransfer:
        """The width axis' window (the last) of a transfer with two or three axes."""
        return self.axes[-1] if len(self.axes) >= 2 else self.every

    @staticmethod
    def window(kernel: Sequence[Number], stride: Sequence[Number], padding: Sequence[Number],
               exact: bool = True, dilation: Sequence[int] | None = None) -> "Transfer":
        """One sliding window per axis (kernel is the dilated extent)."""
        if dilation is None:
            dilation = (1,) * len(kernel)
        try:                 # immutable: layers with the same window share one (a hot path)
            return _window(kernel, stride, padding, exact, dilation)
        except TypeError:    # lists
            return _window.__wrapped__(tuple(kernel), tuple(stride), tuple(padding), exact,
                                       tuple(dilation))


@lru_cache(maxsize=4096)
def _window(kernel, stride, padding, exact: bool, dilation) -> Transfer:
    return Transfer(tuple(map(Window, kernel, stride, padding, (exact,) * len(kernel), dilation)))


POINTWISE = Transfer()
GLOBAL = Transfer(every=WHOLE)
REARRANGED = Transfer(every=NOT_SPATIAL)


def on_axis(rank: int, axis: int, window: AxisTransfer) -> Transfer:
    """A transfer that applies ``window`` along spatial ``axis`` of a rank-``rank`` map and is
    the identity along the others."""
    return Transfer(tuple(window if i == axis else IDENTITY for i in range(rank)))



def frac(a: int, b: int = 1) -> Number:
    """An exact rational that stays an int when it can."""
    f = Fraction(a, b)
    return int(f) if f.denominator == 1 else f



@lru_cache(maxsize=4096)
def sliding_transfer(kernel: tuple[int, ...], stride: tuple[int, ...],
                     padding: tuple[tuple[int, int], ...], dilation: tuple[int, ...]) -> "Transfer":
    """The receptive-field transfer of a sliding window given as its layer's arguments (kernel
    taps, stride, (before, after) padding per axis, dilation): one Window per axis with the
    dilated extent d*(k - 1) + 1 and the padding before. Cached: the layers of a network share a
    few kinds of windows (a hot path)."""
    return Transfer(tuple(Window(d * (k - 1) + 1, s, lo, True, d)
                          for k, s, (lo, _), d in zip(kernel, stride, padding, dilation)))
