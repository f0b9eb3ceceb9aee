"""Receptive fields over the layer graph (Araujo, Norris & Sim, "Computing Receptive Fields of
Convolutional Neural Networks", Distill 2019).

For each tensor and each spatial axis, three numbers relative to the network input:
size r, effective stride S and effective padding P, such that output unit u sees input coordinates
``[u*S - P, u*S - P + r - 1]``. They are computed forward through the graph: a layer with effective
kernel k = d(k-1)+1, stride s and padding p applied to an input with (r, S, P) gives

    r' = r + (k - 1) * S        S' = S * s        P' = P + p * S

which unrolls to the paper's closed forms r_0 = 1 + sum_l (k_l - 1) prod_{i<l} s_i,
S_0 = prod_l s_l, P_0 = sum_l p_l prod_{i<l} s_i.

Where paths meet (add, multiply, concat), the receptive field of an output unit is the union of
what every input sees: with equal strides, from the smallest start to the largest end. This equals
the largest receptive field over the paths when the paths are aligned (same centre (r-1)/2 - P);
when they are not, the union is still reported and the tensor is marked misaligned, with the
offsets. Layers that mix all positions (global pooling, fully connected layers) see the whole input.
Where the whole input arrives only through a global-context path merged back into the feature map
(squeeze-and-excitation: ``multiply(x, gate(global_pool(x)))``), the field also keeps its *local*
part: the union over the spatial paths alone, which is what the unit sees in detail.
Upsampling gives fractional strides; such receptive fields are marked inexact: they are envelopes
that hold every input unit a unit reads, possibly more.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Sequence

from .ops.base import POINTWISE, WHOLE, Number, Transfer, Window


@dataclass(frozen=True, slots=True)
class AxisRF:
    size: Number = 1
    stride: Number = 1
    padding: Number = 0
    exact: bool = True
    whole: bool = False

    @property
    def center(self) -> Number:
        """Input coordinate of the centre of unit 0's receptive field: (r - 1)/2 - P."""
        return (Fraction(self.size) - 1) / 2 - Fraction(self.padding)


@dataclass(frozen=True, slots=True)
class RF:
    h: AxisRF = AxisRF()
    w: AxisRF = AxisRF()
    aligned: bool = True
    note: str = ""
    #: When a unit sees the whole input only through global-context paths (a squeeze-and-
    #: excitation gate: global pooling whose result rescales the feature map), the field of the
    #: spatial paths alone: what the unit sees locally. None otherwise.
    local: "RF | None" = None

    @property
    def whole(self) -> bool:
        return self.h.whole and self.w.whole

    @property
    def exact(self) -> bool:
        return self.h.exact and self.w.exact


INPUT_RF = RF()


def _apply_axis(rf: AxisRF, t: Window | str, input_size: int) -> AxisRF:
    if rf.whole:
        return rf
    if t.__class__ is str:                      # WHOLE
        return AxisRF(input_size, 1, 0, rf.exact, True)
    if t.kernel == 1 and t.stride == 1 and t.padding == 0 and (t.exact or not rf.exact):
        return rf
    return AxisRF(_norm(rf.size + (t.kernel - 1) * rf.stride), _norm(rf.stride * t.stride),
                  _norm(rf.padding + t.padding * rf.stride), rf.exact and t.exact)


def _norm(x: Number) -> Number:
    if x.__class__ is int:                      # the common case, without an ABC check
        return x
    if isinstance(x, Fraction) and x.denominator == 1:
        return int(x)
    return x


def _sees_whole(rf: RF) -> bool:
    return rf.h.whole or rf.w.whole


def local_view(rf: RF) -> RF | None:
    """What a unit sees through spatial paths: the field itself when it is local, its ``local``
    part when global context reaches it (SE gates), None after global pooling or a linear layer."""
    return rf.local if _sees_whole(rf) else rf


def apply(rf: RF, transfer: Transfer, input_hw: tuple[int, int]) -> RF:
    """The receptive field after one layer with the given transfer."""
    h = _apply_axis(rf.h, transfer.h, input_hw[0])
    w = _apply_axis(rf.w, transfer.w, input_hw[1])
    local = rf.local
    if local is not None:            # the local part goes on through local layers only
        local = apply(local, transfer, input_hw)
        if _sees_whole(local):
            local = None
    if h is rf.h and w is rf.w and local is rf.local:
        return rf
    return RF(h, w, rf.aligned, rf.note, local)


def _union_axis(axes: Sequence[AxisRF], label: str) -> tuple[AxisRF, str]:
    if any(a.whole for a in axes):
        whole = next(a for a in axes if a.whole)
        return AxisRF(whole.size, 1, 0, all(a.exact for a in axes), True), ""
    first = axes[0]
    if all(a == first for a in axes):
        return first, ""
    start = min(-a.padding for a in axes)
    end = max(a.size - 1 - a.padding for a in axes)
    # paths with different strides: (r, S, P) describes unit 0 only, so it is not exact
    exact = all(a.exact for a in axes) and len({a.stride for a in axes}) == 1
    strides = {a.stride for a in axes}
    note = ""
    if len(strides) > 1:
        note = (f"{label}: paths have different strides "
                f"({', '.join(str(s) for s in sorted(strides))}); union taken at unit 0")
    else:
        centers = sorted({a.center for a in axes}) if len(
            {2 * a.padding - a.size for a in axes}) > 1 else []    # 2*centre, without Fractions
        if len(centers) > 1:
            note = (f"{label}: paths are misaligned (receptive-field centres differ by "
                    f"{_fmt(centers[-1] - centers[0])} input pixels)")
    return AxisRF(_norm(end - start + 1), first.stride if len(strides) == 1 else max(strides),
                  _norm(-start), exact), note


def union(rfs: Sequence[RF]) -> RF:
    """The receptive field of a unit of a merge of several tensors."""
    if len(rfs) == 1:
        return rfs[0]
    h, note_h = _union_axis([r.h for r in rfs], "height")
    w, note_w = _union_axis([r.w for r in rfs], "width")
    notes = [n for n in (note_h, note_w) if n]
    inherited = [r.note for r in rfs if r.note]
    aligned = all(r.aligned for r in rfs) and not notes
    local = None
    if h.whole or w.whole:           # what the merged unit sees through its spatial paths
        parts = [r.local if _sees_whole(r) else r for r in rfs]
        parts = [p for p in parts if p is not None]
        if parts:
            local = union(parts)
    return RF(h, w, aligned, "; ".join(dict.fromkeys(notes + inherited)), local)


def _fmt(x: Number) -> str:
    if isinstance(x, Fraction):
        return str(int(x)) if x.denominator == 1 else f"{float(x):g}"
    return str(x)


def fmt_number(x: Number) -> str:
    """Receptive-field numbers for display: integers plain, fractions as decimals."""
    return _fmt(x)


def propagate(rf_in: Sequence[RF], transfer: Transfer | Sequence[Transfer],
              input_hw: tuple[int, int]) -> RF:
    """Receptive field of a layer's output from its inputs' fields and its transfer(s)."""
    if isinstance(transfer, Transfer):
        if transfer is POINTWISE and len(rf_in) == 1:   # most layers: activations, norms
            return rf_in[0]
        outs = [apply(r, transfer, input_hw) for r in rf_in]
    else:
        outs = [apply(r, t, input_hw) for r, t in zip(rf_in, transfer)]
    return union(outs)
