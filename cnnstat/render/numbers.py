"""Formatting integers, shapes and receptive fields for people. Only rendering code calls this."""

from __future__ import annotations

from fractions import Fraction
from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:  # pragma: no cover - annotations only: this module imports nothing of cnnstat
    from ..receptive import RF, AxisRF

_SI = ((10**12, "T"), (10**9, "G"), (10**6, "M"), (10**3, "K"))


def grouped(n: int) -> str:
    """138357544 → '138,357,544'."""
    return f"{n:,}"


def _hundredths(n: int, scale: int) -> str:
    """n / scale to two decimals, from the exact integers (never through a float, which loses
    digits past 2**53): rounded half to even, as Python's format does for exact halves."""
    q, r = divmod(abs(n) * 100, scale)
    if 2 * r > scale or (2 * r == scale and q % 2):
        q += 1
    return f"{'-' if n < 0 and q else ''}{q // 100}.{q % 100:02d}"


def human(n: int, unit: str = "") -> str:
    """138357544 → '138.36 M' (decimal prefixes, as torchvision and papers quote counts)."""
    for scale, prefix in _SI:
        if abs(n) >= scale:
            return f"{_hundredths(n, scale)} {prefix}{unit}"
    return f"{n} {unit}".strip()


def human_bytes(n: int) -> str:
    """Binary prefixes for memory: 6.42 MiB."""
    for scale, prefix in ((2**40, "TiB"), (2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
        if n >= scale:
            return f"{_hundredths(n, scale)} {prefix}"
    return f"{n} B"


def shape(shape: Sequence[int], layout: str = "nchw") -> str:
    """[1, 64, 112, 112]; NHWC (channels last) permutes feature maps of any spatial rank to
    [1, 112, 112, 64] (and (N, C, D, H, W) to [N, D, H, W, C])."""
    dims = list(shape)
    if layout == "nhwc" and len(dims) >= 3:
        dims = [dims[0]] + dims[2:] + [dims[1]]
    return "[" + ", ".join(str(d) for d in dims) + "]"


def number(x) -> str:
    if isinstance(x, Fraction):
        return str(int(x)) if x.denominator == 1 else f"{float(x):.4g}"
    return str(x)


def _per_axis(values: Sequence[str]) -> str:
    """One value when every axis has it, else one per axis: '211', '7×3', '3×7×7'."""
    return values[0] if len(set(values)) == 1 else "×".join(values)


def dims(sizes: Sequence[int]) -> str:
    """Spatial or input sizes for people: 3×224×224."""
    return "×".join(str(n) for n in sizes)


def rf_size(rf: RF) -> str:
    """'211', '~215' (inexact), 'whole input', or 'whole input (local 851)' when global context
    (an SE gate) reaches units that otherwise see a local field."""
    if rf.whole:
        return f"whole input (local {rf_size(rf.local)})" if rf.local is not None else "whole input"
    if not rf.spatial:
        return "not spatial"
    text = _per_axis([_axis(a, "size") for a in rf.axes])
    return text if rf.exact else "~" + text


def _axis(a: AxisRF, field: str) -> str:
    if a.whole:
        return "all"
    if not a.spatial:
        return "-"
    return number(getattr(a, field))


def rf_stride(rf: RF) -> str:
    if rf.whole:
        return f"({rf_stride(rf.local)})" if rf.local is not None else "-"
    return _per_axis([_axis(a, "stride") for a in rf.axes])


def rf_padding(rf: RF) -> str:
    if rf.whole:
        return f"({rf_padding(rf.local)})" if rf.local is not None else "-"
    return _per_axis([_axis(a, "padding") for a in rf.axes])


def rf_note(rf: RF) -> str:
    notes = []
    if not rf.spatial and not rf.whole:
        notes.append("not spatial: positions moved into other axes (tokens, heads)")
    if not rf.exact:
        # after fractional strides (upsampling) or a layer without a rule: a bound on every unit
        notes.append("inexact: an envelope of all units (exact for one: rf --at)")
    if rf.note:
        notes.append(rf.note)
    if rf.local is not None:
        notes.append("whole input via global context (gates); local field in brackets")
    return "; ".join(notes)


def rf_value(x):
    """A receptive-field number for JSON: int, or float for fractional values."""
    if isinstance(x, Fraction):
        return int(x) if x.denominator == 1 else float(x)
    return x
