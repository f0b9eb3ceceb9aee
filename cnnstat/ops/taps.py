"""Taps of sliding windows along one axis: which input units a span of output units reads
(exact fields of single units), and how many window taps fall inside the input (MACs of
padded convolutions)."""

from __future__ import annotations

from functools import lru_cache

from .shapes import ceil_div
from .transfer import AxisTransfer

# --------------------------------------------------------------------------------------------
# Exact fields of single units: which input units a span of output units reads
# --------------------------------------------------------------------------------------------
Span = tuple[int, int]          # inclusive [first, last] unit indices along one axis


class NoExactRule(Exception):
    """An operator's field is only known as an envelope (or not at all): no exact unit span."""


def merge_spans(spans) -> tuple[Span, ...]:
    """Sorted, disjoint, non-adjacent spans covering the same units."""
    out: list[list[int]] = []
    for lo, hi in sorted(spans):
        if out and lo <= out[-1][1] + 1:
            out[-1][1] = max(out[-1][1], hi)
        else:
            out.append([lo, hi])
    return tuple((lo, hi) for lo, hi in out)


def taps_spans(span: Span, stride: int, pad: int, kernel: int, dilation: int,
               size: int) -> tuple[Span, ...]:
    """The input indices i = u*stride - pad + j*dilation (u in ``span``, tap j in [0, kernel))
    that lie inside the input [0, size), as spans: a sliding window's exact reach, the zero
    padding excluded (its zeros depend on nothing). With dilation, or a stride larger than the
    window, the reach has gaps."""
    lo, hi = span
    pieces = []
    for j in range(kernel):
        offset = j * dilation - pad                   # input index = u*stride + offset
        if stride == 0:                               # a broadcast: every unit reads the same
            pieces.append((offset, offset))
        elif stride == 1:
            pieces.append((lo + offset, hi + offset))
        elif dilation == 1 and kernel >= stride:      # windows touch or overlap: one span
            pieces.append((lo * stride - pad, hi * stride - pad + kernel - 1))
            break
        else:                                         # every stride-th unit: one by one
            first = max(lo, ceil_div(-offset, stride))
            last = min(hi, (size - 1 - offset) // stride)
            pieces.extend((u * stride + offset,) * 2 for u in range(first, last + 1))
    return merge_spans((max(a, 0), min(b, size - 1)) for a, b in pieces
                       if a <= size - 1 and b >= 0)


def window_spans(window: AxisTransfer, size: int, span: Span, op: str = "") -> tuple[Span, ...]:
    """``taps_spans`` of a receptive-field window (``WHOLE``: the whole axis)."""
    if window.__class__ is str:
        return ((0, size - 1),)
    k, s, p, d = window.kernel, window.stride, window.padding, window.dilation
    if not window.exact or not all(isinstance(v, int) for v in (k, s, p)):
        raise NoExactRule(f"{op}: its receptive field is only known as an envelope")
    return taps_spans(span, s, p, (k - 1) // d + 1, d, size)


@lru_cache(maxsize=4096)     # a pure function of six ints, asked again by every similar layer
def taps_inside(positions: int, reach: int, kernel: int, stride: int, pad: int,
                dilation: int) -> int:
    """Number of (position p, tap j) pairs along one axis, p in [0, positions), whose target
    p*stride - pad + j*dilation lies inside [0, reach) (not in the zero padding). Closed form per
    tap, so it costs O(kernel); without padding this is positions * kernel.

    A convolution: p is an output position, the target an input unit (``taps_inside(n_out,
    size_in, ...)``). A transposed convolution scatters instead: p is an input position, the
    target an output unit (``taps_inside(size_in, n_out, ...)``)."""
    total = 0
    for j in range(kernel):
        offset = j * dilation - pad                        # target = p*stride + offset
        first = max(0, ceil_div(-offset, stride))          # p*stride + offset >= 0
        last = min(positions - 1, (reach - 1 - offset) // stride)  # ... <= reach - 1
        if last >= first:
            total += last - first + 1
    return total
