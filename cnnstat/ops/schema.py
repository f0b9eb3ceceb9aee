"""Argument schemas: ``Param`` and the converters that check and normalize a definition's
values (ints, per-axis values, padding, choices)."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Callable, Mapping, Sequence

from .axes import spatial_axes


# --------------------------------------------------------------------------------------------
# Argument schema
# --------------------------------------------------------------------------------------------
REQUIRED = object()


@dataclass(frozen=True)
class Param:
    name: str
    convert: Callable[[Any], Any]
    default: Any = REQUIRED
    doc: str = ""


class ArgumentError(ValueError):
    """A value cannot be converted to what a parameter needs (message says why)."""


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def as_int(value: Any, what: str = "an integer") -> int:
    if _is_int(value):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, Fraction) and value.denominator == 1:
        return int(value)
    raise ArgumentError(f"must be {what}, got {value!r}")


def positive_int(value: Any) -> int:
    v = as_int(value, "a positive integer")
    if v <= 0:
        raise ArgumentError(f"must be a positive integer, got {v}")
    return v


def nonneg_int(value: Any) -> int:
    v = as_int(value, "a non-negative integer")
    if v < 0:
        raise ArgumentError(f"must be a non-negative integer, got {v}")
    return v


def any_int(value: Any) -> int:
    return as_int(value)


def per_axis(convert: Callable[[Any], int], rank: int) -> Callable[[Any], tuple[int, ...]]:
    """An int for every spatial axis, or a list of one per axis ([h, w]; [d, h, w]; [l])."""
    names = spatial_axes(rank)

    def convert_per_axis(value: Any) -> tuple[int, ...]:
        if isinstance(value, (list, tuple)):
            if len(value) != rank:
                raise ArgumentError(f"must be one value or [{', '.join(names)}], got "
                                    f"{list(value)!r}")
            return tuple(convert(v) for v in value)
        return (convert(value),) * rank
    return convert_per_axis


def pair(convert: Callable[[Any], int]) -> Callable[[Any], tuple[int, int]]:
    """An int for both axes, or [h, w]."""
    return per_axis(convert, 2)  # type: ignore[return-value]


positive_pair = pair(positive_int)
nonneg_pair = pair(nonneg_int)


def optional(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def convert_optional(value: Any) -> Any:
        return None if value is None else convert(value)
    convert_optional.inner = convert         # type: ignore[attr-defined]  (read by tests' cases)
    return convert_optional


def boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise ArgumentError(f"must be true or false, got {value!r}")


def number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, Fraction)) or value != value:
        raise ArgumentError(f"must be a number, got {value!r}")   # (NaN is not one)
    return float(value)


def choice(*options: str) -> Callable[[Any], str]:
    def convert_choice(value: Any) -> str:
        if value not in options:
            from ..suggest import did_you_mean
            raise ArgumentError(f"must be one of {', '.join(repr(o) for o in options)}, got "
                                f"{value!r}{did_you_mean(value, options)}")
        return value
    convert_choice.options = options         # type: ignore[attr-defined]  (read by tests' cases)
    return convert_choice


def padding_nd(rank: int, same: bool = True) -> Callable[[Any], Any]:
    """Padding of a rank-``rank`` window: an int, one per axis ([h, w]), one [before, after] pair
    per axis ([[top, bottom], [left, right]]), 'valid', or (``same``) 'same'.

    Stored as ``((before, after), ...)`` per axis, or the string 'same' (resolved per layer from
    the kernel, as PyTorch does: the extra unit of an odd total goes after)."""
    names = spatial_axes(rank)
    pairs = ("[[top, bottom], [left, right]]" if rank == 2 else
             "[[before, after]] per axis (" + ", ".join(names) + ")")
    each = ", ".join(n[0] for n in names)
    forms = f"an int, [{each}], {pairs}, " + ("'same' or 'valid'" if same else "or 'valid'")
    single = per_axis(nonneg_int, rank)

    def convert_padding(value: Any):
        if value == "valid":
            return ((0, 0),) * rank
        if value == "same" and same:
            return "same"
        if isinstance(value, (list, tuple)) and len(value) == rank and all(
                isinstance(v, (list, tuple)) for v in value):
            return tuple(_two(v) for v in value)
        if isinstance(value, (list, tuple)) and len(value) == 2 * rank and rank > 1:
            raise ArgumentError(f"asymmetric padding is written {pairs}, got {list(value)!r}")
        try:
            return tuple((p, p) for p in single(value))
        except ArgumentError:
            raise ArgumentError(f"must be {forms}, got {value!r}") from None
    return convert_padding


def resolve_padding(padding, kernel: Sequence[int], dilation: Sequence[int]):
    """Per-axis (before, after) padding of a window: 'same' gives each axis d*(k - 1) units with
    the odd unit after (PyTorch's rule for nn.ConvNd(padding='same')); 'valid' none; pairs are
    returned unchanged. The one place 'same' and 'valid' are resolved."""
    if padding == "valid":
        return ((0, 0),) * len(kernel)
    if padding != "same":
        return padding
    out = []
    for k, d in zip(kernel, dilation):
        total = d * (k - 1)
        out.append((total // 2, total - total // 2))
    return tuple(out)


#: 2-D padding: an int, [h, w], [[top, bottom], [left, right]], 'same' or 'valid'
padding2d = padding_nd(2)


def _two(value: Any) -> tuple[int, int]:
    if len(value) != 2:
        raise ArgumentError(f"padding pairs are [before, after], got {list(value)!r}")
    return (nonneg_int(value[0]), nonneg_int(value[1]))


def int_list(value: Any) -> tuple[int, ...]:
    if not isinstance(value, (list, tuple)):
        raise ArgumentError(f"must be a list of integers, got {value!r}")
    return tuple(as_int(v) for v in value)


def _held(value: Any) -> tuple[int, int]:
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise ArgumentError(f"must be [parameters, buffers], got {value!r}")
    return (nonneg_int(value[0]), nonneg_int(value[1]))


#: An imported layer's weight may be computed from other tensors (a gain, weight
#: standardisation: NF-Nets' ScaledStdConv2d) or be a buffer (TResNet's blur filter): the layer
#: then holds what the model holds — each tensor counted once, buffers as buffers — not the size
#: of the weight it multiplies by. Default (None): its weight and bias.
HELD = Param("held", optional(_held), None,
             "imported layers: [parameters, buffers] the model holds for it when the weight is "
             "computed or a buffer")


def held(a: Mapping[str, Any], params: int) -> tuple[int, int]:
    """(parameters, buffers) of a layer whose weights are ``params`` unless ``held`` says."""
    return (params, 0) if a.get("held") is None else a["held"]


def _show(value: Any) -> str:
    if isinstance(value, str):
        return repr(value)
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple) and len(value) == 2 and value[0] == value[1] and not isinstance(value[0], tuple):
        return str(value[0])
    return str(value)
