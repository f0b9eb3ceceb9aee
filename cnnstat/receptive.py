"""Receptive fields over the layer graph (Araujo, Norris & Sim, "Computing Receptive Fields of
Convolutional Neural Networks", Distill 2019).

For each tensor and each spatial axis of the network input (length for 1-D inputs; height and
width for images; depth, height and width for 3-D inputs), three numbers relative to that input:
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

Past a layout change that moves positions into non-spatial axes (an imported model's reshape,
permute or flatten of the spatial axes into tokens or heads: ``REARRANGED``), a unit's field is
**not spatial**: a state of its own (``AxisRF.spatial`` False), never a window guessed for it.
It stays so through every later layer (what a layer on tokens reads is no window of the input's
axes either); a merge with a not-spatial path is not spatial. A field that already covers the
whole input stays whole: rearranged, it still sees everything.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from typing import Sequence

from .ops.base import (IDENTITY, NOT_SPATIAL, POINTWISE, UNIT_NOUNS, WHOLE, Number, Transfer,
                       Window, spatial_axes)


@dataclass(frozen=True, slots=True)
class AxisRF:
    size: Number = 1
    stride: Number = 1
    padding: Number = 0
    exact: bool = True
    whole: bool = False
    #: False past a layout change of the spatial axes: no field along this axis (size, stride
    #: and padding then mean nothing; see the module docstring)
    spatial: bool = True

    @property
    def center(self) -> Number:
        """Input coordinate of the centre of unit 0's receptive field: (r - 1)/2 - P."""
        return (Fraction(self.size) - 1) / 2 - Fraction(self.padding)


@dataclass(frozen=True, slots=True)
class RF:
    """The receptive field of a tensor's units: one AxisRF per spatial axis of the network input
    (length; height, width; depth, height, width — ``names``)."""
    axes: tuple[AxisRF, ...] = (AxisRF(), AxisRF())
    aligned: bool = True
    note: str = ""
    #: When a unit sees the whole input only through global-context paths (a squeeze-and-
    #: excitation gate: global pooling whose result rescales the feature map), the field of the
    #: spatial paths alone: what the unit sees locally. None otherwise.
    local: "RF | None" = None

    @property
    def rank(self) -> int:
        return len(self.axes)

    @property
    def names(self) -> tuple[str, ...]:
        """The axes' names: ('length',), ('height', 'width'), ('depth', 'height', 'width')."""
        return spatial_axes(len(self.axes))

    def axis(self, name: str) -> AxisRF:
        """The field along the axis of that name ('height'), or KeyError."""
        try:
            return self.axes[self.names.index(name)]
        except ValueError:
            raise KeyError(f"a field of a {len(self.axes)}-D input has no axis '{name}' "
                           f"(axes: {', '.join(self.names)})") from None

    @property
    def h(self) -> AxisRF:
        """Along the height (2-D and 3-D inputs)."""
        return self._named("height")

    @property
    def w(self) -> AxisRF:
        """Along the width (2-D and 3-D inputs)."""
        return self._named("width")

    @property
    def d(self) -> AxisRF:
        """Along the depth (3-D inputs)."""
        return self._named("depth")

    @property
    def length(self) -> AxisRF:
        """Along the length (1-D inputs)."""
        return self._named("length")

    def _named(self, name: str) -> AxisRF:
        try:
            return self.axis(name)
        except KeyError as exc:
            raise AttributeError(exc.args[0]) from None

    @property
    def whole(self) -> bool:
        return all(a.whole for a in self.axes)

    @property
    def spatial(self) -> bool:
        """False past a layout change that moved positions into non-spatial axes: the field
        is "not spatial" (no window of the input)."""
        return all(a.spatial for a in self.axes)

    @property
    def exact(self) -> bool:
        return all(a.exact for a in self.axes)

    @property
    def largest(self) -> AxisRF:
        """The axis with the largest field (the first of equals)."""
        return max(self.axes, key=lambda a: a.size)

    @property
    def volume(self) -> Number:
        """The product of the sizes: the field's area (2-D) or volume (3-D) in input units."""
        out: Number = 1
        for a in self.axes:
            out *= a.size
        return out


@lru_cache(maxsize=None)
def input_rf(rank: int) -> RF:
    """The field of the network input's own units: one unit along each of ``rank`` axes."""
    return RF((AxisRF(),) * rank)


INPUT_RF = input_rf(2)


#: the field past a layout change of the spatial axes
NOT_SPATIAL_AXIS = AxisRF(spatial=False)


def _apply_axis(rf: AxisRF, t: Window | str, input_size: int) -> AxisRF:
    if rf.whole or not rf.spatial:
        return rf
    if t.__class__ is str:                      # WHOLE or NOT_SPATIAL
        if t == NOT_SPATIAL:
            return NOT_SPATIAL_AXIS
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
    return True in [a.whole for a in rf.axes]


def local_view(rf: RF) -> RF | None:
    """What a unit sees through spatial paths: the field itself when it is local, its ``local``
    part when global context reaches it (SE gates), None after global pooling or a linear layer,
    and past a layout change of the spatial axes (not spatial)."""
    if _sees_whole(rf):
        return rf.local
    return rf if rf.spatial else None


def _other_rank(rf: RF, windows: tuple, sizes: Sequence[int]) -> RF:
    """A layer whose input tensor has another spatial rank than the network input (after a
    reshape or flatten that merged or split axes): its windows cannot be laid on the input's
    axes. A layer that mixes everything still sees the whole input; any other is an envelope:
    the whole input, marked inexact."""
    if not rf.spatial:
        return rf
    if NOT_SPATIAL in windows:
        return RF(tuple(NOT_SPATIAL_AXIS for _ in sizes), rf.aligned, rf.note, None)
    exact = all(t == WHOLE for t in windows) and rf.exact
    note = "" if exact else (f"a {len(windows)}-D layer on a tensor derived from the "
                             f"{rf.rank}-D input: field not traced (the whole input, an envelope)")
    axes = tuple(AxisRF(size, 1, 0, exact, True) for size in sizes)
    return RF(axes, rf.aligned, _join_notes([rf.note, note]), None)


def apply(rf: RF, transfer: Transfer, input_sizes: Sequence[int]) -> RF:
    """The receptive field after one layer with the given transfer (``input_sizes``: the
    network input's spatial sizes)."""
    windows = transfer.axes
    old = rf.axes
    local = rf.local
    if len(windows) == 2 == len(old):          # images, the hot path: unrolled
        h = _apply_axis(old[0], windows[0], input_sizes[0])
        w = _apply_axis(old[1], windows[1], input_sizes[1])
        if local is None:
            if h is old[0] and w is old[1]:
                return rf
            return RF((h, w), rf.aligned, rf.note, None)
        axes = (h, w)
    elif not windows:
        every = transfer.every
        if every is IDENTITY:
            return rf
        axes = tuple([_apply_axis(a, every, n) for a, n in zip(old, input_sizes)])
    elif len(windows) != len(old):
        return _other_rank(rf, windows, input_sizes)
    else:
        axes = tuple(map(_apply_axis, old, windows, input_sizes))
    if local is not None:            # the local part goes on through local layers only
        local = apply(local, transfer, input_sizes)
        if _sees_whole(local):
            local = None
    if local is rf.local:
        for new, was in zip(axes, old):
            if new is not was:
                break
        else:                                  # nothing changed: the same field
            return rf
    return RF(axes, rf.aligned, rf.note, local)


def _union_axis(axes: Sequence[AxisRF]) -> tuple[AxisRF, str]:
    """The union of the paths' fields along one axis, and a note when they differ in stride or
    centre."""
    first = axes[0]
    whole = [a for a in axes if a.whole]
    if whole:
        return AxisRF(whole[0].size, 1, 0, all(a.exact for a in axes), True), ""
    if not all(a.spatial for a in axes):           # a not-spatial path: no window to unite
        return NOT_SPATIAL_AXIS, ""
    if all(a is first or a == first for a in axes):
        return first, ""
    start = min(-a.padding for a in axes)
    end = max(a.size - 1 - a.padding for a in axes)
    # paths with different strides: (r, S, P) describes unit 0 only, so it is not exact
    exact = all(a.exact for a in axes) and len({a.stride for a in axes}) == 1
    strides = {a.stride for a in axes}
    note = ""                         # {axis} and {noun} are filled in by union()
    if len(strides) > 1:
        note = ("{axis}: paths have different strides "
                f"({', '.join(str(s) for s in sorted(strides))}); union taken at unit 0")
    else:
        centers = sorted({a.center for a in axes}) if len(
            {2 * a.padding - a.size for a in axes}) > 1 else []    # 2*centre, without Fractions
        if len(centers) > 1:
            note = ("{axis}: paths are misaligned (receptive-field centres differ by "
                    f"{_fmt(centers[-1] - centers[0])} input {{noun}})")
    return AxisRF(_norm(end - start + 1), first.stride if len(strides) == 1 else max(strides),
                  _norm(-start), exact), note


def union(rfs: Sequence[RF]) -> RF:
    """The receptive field of a unit of a merge of several tensors."""
    first = rfs[0]
    if len(rfs) == 1 or all(r is first for r in rfs):
        return first
    merged = [_union_axis([r.axes[i] for r in rfs]) for i in range(len(first.axes))]
    axes = tuple([a for a, _ in merged])
    notes = [n for _, n in merged if n]
    if notes:                        # axis names and units, for the notes only
        names, noun = first.names, UNIT_NOUNS.get(first.rank, "units")
        notes = [n.replace("{axis}", names[i]).replace("{noun}", noun)
                 for i, (_, n) in enumerate(merged) if n]
    inherited = [r.note for r in rfs if r.note]
    aligned = all(r.aligned for r in rfs) and not notes
    local = None
    if True in [a.whole for a in axes]:   # what the merged unit sees through its spatial paths
        parts = [r.local if _sees_whole(r) else r for r in rfs]
        parts = [p for p in parts if p is not None]
        if parts:
            local = union(parts)
    return RF(axes, aligned, _join_notes(notes + inherited), local)


def _join_notes(notes: Sequence[str]) -> str:
    """Notes joined with '; ', each once: a note inherited along both branches of every merge
    (a residual network of attention blocks) would otherwise double at each one."""
    parts = [part for note in notes if note for part in note.split("; ")]
    return "; ".join(dict.fromkeys(parts))


def _fmt(x: Number) -> str:
    if isinstance(x, Fraction):
        return str(int(x)) if x.denominator == 1 else f"{float(x):g}"
    return str(x)


def fmt_number(x: Number) -> str:
    """Receptive-field numbers for display: integers plain, fractions as decimals."""
    return _fmt(x)


def propagate(rf_in: Sequence[RF], transfer: Transfer | Sequence[Transfer],
              input_sizes: Sequence[int]) -> RF:
    """Receptive field of a layer's output from its inputs' fields and its transfer(s)."""
    if transfer is POINTWISE and len(rf_in) == 1:     # most layers: activations, norms
        return rf_in[0]
    if transfer.__class__ is Transfer:
        outs = [apply(r, transfer, input_sizes) for r in rf_in]
    else:
        outs = [apply(r, t, input_sizes) for r, t in zip(rf_in, transfer)]
    return union(outs)
