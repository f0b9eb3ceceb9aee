"""The operator framework: argument schemas, the result of a rule, receptive-field transfers, registry.

An operator is a subclass of :class:`Op` registered once with :func:`register`. It declares its
arguments (:class:`Param`, in positional order) and implements :meth:`Op.evaluate`, a pure function
of its normalized attributes and input shapes that returns an :class:`Eval`: the output shape, the
parameter/buffer/connection counts, the multiply-accumulates by kind, and how the layer transforms
receptive fields. Nothing here imports torch.

Shapes always include the batch dimension: ``(N, C, L)``, ``(N, C, H, W)`` and ``(N, C, D, H, W)``
for feature maps of spatial rank 1, 2 and 3, ``(N, F)`` for vectors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from functools import lru_cache
from math import prod
from typing import Any, Callable, ClassVar, Mapping, Sequence

from ..errors import DefinitionError, ShapeError

Shape = tuple[int, ...]

# --------------------------------------------------------------------------------------------
# Kinds of multiply-accumulates. A rule reports its work split by kind; the counting convention
# (cnnstat.convention) decides which kinds a total includes. "weight" is the multiply-adds of
# convolutions and fully connected layers; "attention" the contractions of two activations
# (matmul, bmm, einsum, scaled-dot-product attention's Q·Kᵀ and A·V). Both count by default.
# --------------------------------------------------------------------------------------------
WEIGHT = "weight"          # conv / linear multiply-adds (always counted)
ATTENTION = "attention"    # activation x activation contractions (counted unless --count weight)
BIAS = "bias"              # one add per output element of a layer with a bias
NORM = "norm"              # batch norm (folded: one multiply-add per element), LRN
ACTIVATION = "activation"  # one operation per element
POOL = "pool"              # one operation per window element per output element
ELEMENTWISE = "elementwise"  # merges: (inputs - 1) operations per output element
RESIZE = "resize"          # upsampling: fvcore's weights (nearest 1, bilinear 4 per output element)
MAC_KINDS = (WEIGHT, ATTENTION, BIAS, NORM, ACTIVATION, POOL, ELEMENTWISE, RESIZE)


# --------------------------------------------------------------------------------------------
# Spatial axes. A feature map is (N, C, *spatial): (N, C, L), (N, C, H, W) or (N, C, D, H, W); its
# spatial rank is len(shape) - 2. Vectors are (N, F). Axes carry PyTorch's names for them (the
# letters of its shape docs: L, D, H, W), in tables, JSON, the view and the plots.
# --------------------------------------------------------------------------------------------
AXES = {1: ("length",), 2: ("height", "width"), 3: ("depth", "height", "width")}
#: the letters PyTorch's docs use for those axes
AXIS_LETTERS = {"length": "L", "depth": "D", "height": "H", "width": "W"}
#: what one input unit is called, per spatial rank (sizes of receptive fields are in these), in
#: full and short
UNIT_NOUNS = {1: "samples", 2: "pixels", 3: "voxels"}
UNIT_WORDS = {1: "samples", 2: "px", 3: "voxels"}
RANKS = tuple(AXES)


def spatial_axes(rank: int) -> tuple[str, ...]:
    """The names of the spatial axes of a feature map of that spatial rank."""
    try:
        return AXES[rank]
    except KeyError:
        return tuple(f"axis {i}" for i in range(rank))


def layout(rank: int) -> str:
    """'(C, L)', '(C, H, W)', '(C, D, H, W)': a sample of that spatial rank, as PyTorch writes it."""
    return "(C, " + ", ".join(AXIS_LETTERS.get(a, "?") for a in spatial_axes(rank)) + ")"


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


@dataclass(slots=True)
class Eval:
    """What one layer does, as integers. ``trainable`` defaults to ``params``."""
    shape: Shape
    params: int = 0
    buffers: int = 0
    connections: int = 0
    macs: dict[str, int] = field(default_factory=dict)
    rf: Transfer = POINTWISE
    trainable: int | None = None
    notes: tuple[str, ...] = ()

    def __post_init__(self):
        if self.trainable is None:
            self.trainable = self.params


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


# --------------------------------------------------------------------------------------------
# Operators
# --------------------------------------------------------------------------------------------
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


class Op:
    """Base class of operator rules. Subclasses set ``name``, ``params``, and implement evaluate."""

    name: ClassVar[str]
    params: ClassVar[tuple[Param, ...]] = ()
    #: number of tensor inputs: an int, or ``None`` for "one or more" (merges)
    arity: ClassVar[int | None] = 1
    #: smallest number of inputs when ``arity`` is None
    min_inputs: ClassVar[int] = 1
    #: a one-line summary for docs and ``--help``
    summary: ClassVar[str] = ""

    def bind(self, args: Sequence[Any] = (), kwargs: Mapping[str, Any] | None = None) -> dict:
        """Match positional and keyword arguments to the schema; convert and validate them."""
        kwargs = dict(kwargs or {})
        if len(args) > len(self.params):
            raise DefinitionError(f"{self.name} takes at most {len(self.params)} positional "
                                  f"argument(s) ({self.signature()}), got {len(args)}")
        attrs: dict[str, Any] = {}
        for param, value in zip(self.params, args):
            attrs[param.name] = value
        known = {p.name for p in self.params}
        for key, value in kwargs.items():
            if key not in known:
                from ..suggest import did_you_mean
                raise DefinitionError(f"{self.name} has no argument '{key}'"
                                      f"{did_you_mean(key, sorted(known))}; it takes "
                                      f"{self.signature()}")
            if key in attrs:
                raise DefinitionError(f"{self.name} got two values for '{key}'")
            attrs[key] = value
        out: dict[str, Any] = {}
        for param in self.params:
            if param.name in attrs:
                try:
                    out[param.name] = param.convert(attrs[param.name])
                except ArgumentError as exc:
                    raise DefinitionError(f"{self.name}: '{param.name}' {exc}") from None
            elif param.default is REQUIRED:
                raise DefinitionError(f"{self.name} needs '{param.name}' ({self.signature()})")
            else:
                out[param.name] = self._defaults()[param.name]
        self.validate(out)
        return out

    def _defaults(self) -> dict[str, Any]:
        """Defaults converted like given values (``stride=1`` becomes ``(1, 1)``), computed once."""
        cached = self.__dict__.get("_converted_defaults")
        if cached is None:
            cached = {p.name: (None if p.default is None else p.convert(p.default))
                      for p in self.params if p.default is not REQUIRED}
            self.__dict__["_converted_defaults"] = cached
        return cached

    def signature(self) -> str:
        parts = [p.name if p.default is REQUIRED else f"{p.name}={_show(p.default)}"
                 for p in self.params]
        return f"{self.name}({', '.join(parts)})"

    def validate(self, attrs: dict) -> None:
        """Cross-argument checks that do not depend on shapes (override where needed)."""

    def evaluate(self, attrs: Mapping[str, Any], inputs: Sequence[Shape]) -> Eval:
        raise NotImplementedError

    def describe(self, attrs: Mapping[str, Any], inputs: Sequence[Shape]) -> str:
        """The operation as PyTorch prints the matching module (for tables)."""
        return self.name

    def memory(self, attrs: Mapping[str, Any], inputs: Sequence[Shape], output: Shape,
               ctx: Any) -> Any:
        """What the operator keeps for its backward pass and how it allocates, as a
        :class:`cnnstat.memory.saved.OpMemory` (the vocabulary, docs/memory.md): the
        saved-tensor rule, beside the operator's other rules. ``ctx`` is a
        :class:`cnnstat.memory.saved.Context` (training mode, CUDA or CPU kernels, which inputs
        need a gradient, autocast). An operator without a rule raises NoRule: the memory model
        lists its layers as not counted, never guesses."""
        from ..memory.saved import NoRule
        raise NoRule(self.name)

    def unit_spans(self, attrs: Mapping[str, Any], inputs: Sequence[Shape], index: int,
                   axis: int, span: Span, window: AxisTransfer, out: Shape,
                   precision: str = "float32") -> tuple[Span, ...]:
        """Exactly which units of input ``index`` the output units ``span`` (inclusive, along
        spatial ``axis``: 0 = the first spatial axis, L, D or H) read, as sorted disjoint spans (empty: they read only zero
        padding). ``window`` is the layer's receptive-field transfer for that input and axis; the
        default rule reads the taps off it (``window_spans``). Operators whose transfer is an
        envelope (fractional strides) override this with their own index arithmetic; those
        without an exact rule raise NoExactRule. ``precision``: the float type of index
        arithmetic that PyTorch does in floating point (upsampling)."""
        return window_spans(window, inputs[index][2 + axis], span, self.name)

    def check_arity(self, inputs: Sequence[Shape]) -> None:
        if self.arity is None:
            if len(inputs) < self.min_inputs:
                raise ShapeError(f"{self.name} needs at least {self.min_inputs} inputs, "
                                 f"got {len(inputs)}")
        elif len(inputs) != self.arity:
            raise ShapeError(f"{self.name} takes {self.arity} input(s), got {len(inputs)}")


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


REGISTRY: dict[str, Op] = {}


def register(cls: type[Op]) -> type[Op]:
    """Register an operator rule. Registering a name twice is an error (one rule per operator)."""
    name = cls.name
    if name in REGISTRY:
        raise RuntimeError(f"operator '{name}' is registered twice "
                           f"({type(REGISTRY[name]).__module__} and {cls.__module__})")
    REGISTRY[name] = cls()
    return cls


class RankOp(Op):
    """A rule of one spatial rank (``conv2d``, ``maxpool3d``): a rank-generic class whose
    ``schema(rank)`` gives each rank's arguments, registered once per rank by register_ranks."""

    rank: ClassVar[int] = 2
    torch_name: ClassVar[str] = ""

    @classmethod
    def schema(cls, rank: int) -> tuple[Param, ...]:
        raise NotImplementedError


def register_ranks(base: type[RankOp], name: str, torch_name: str, summaries: Mapping[int, str],
                   **extra: Any) -> tuple[type[Op], ...]:
    """One rank-generic rule registered once per spatial rank: ``name`` and ``torch_name`` with
    ``{r}`` for the rank (``conv{r}d``, ``Conv{r}d``), the schema from ``base.schema(rank)``,
    ``extra`` class attributes given per rank as {rank: value}. Returns the classes, by rank."""
    out = []
    for rank, summary in summaries.items():
        attrs = {"name": name.format(r=rank), "rank": rank,
                 "torch_name": torch_name.format(r=rank), "summary": summary,
                 "params": base.schema(rank), "__module__": base.__module__,
                 **{k: v[rank] for k, v in extra.items() if rank in v}}
        out.append(register(type(torch_name.format(r=rank), (base,), attrs)))
    return tuple(out)


# --------------------------------------------------------------------------------------------
# Shape helpers shared by rules
# --------------------------------------------------------------------------------------------
def numel(shape: Shape) -> int:
    return prod(shape)


def fmt_shape(shape: Shape) -> str:
    """A shape without its batch dimension, as 64x56x56."""
    return "x".join(str(d) for d in shape[1:]) or "scalar"


def need_feature_map(op: str, shape: Shape, rank: int = 2) -> Shape:
    """``shape`` itself when it is a feature map of spatial rank ``rank`` (N, C, *spatial), else
    a ShapeError that says what the layer takes and what it got."""
    if len(shape) != rank + 2:
        got = (f"a vector of {shape[1]} features" if len(shape) == 2 else
               f"a {len(shape) - 2}-D feature map {fmt_shape(shape)}" if len(shape) in (3, 4, 5)
               else f"shape {fmt_shape(shape)}")
        raise ShapeError(f"{op} needs a {layout(rank)} feature map, got {got}"
                         + _rank_hint(op, rank, len(shape) - 2))
    return shape


def need_spatial(op: str, shape: Shape) -> int:
    """The spatial rank of a feature map of any rank (1, 2 or 3), or a ShapeError."""
    rank = len(shape) - 2
    if rank not in AXES:
        got = f"a vector of {shape[1]} features" if len(shape) == 2 else f"shape {fmt_shape(shape)}"
        raise ShapeError(f"{op} needs a feature map ({', '.join(layout(r) for r in RANKS)}), "
                         f"got {got}")
    return rank


def _rank_hint(op: str, rank: int, got: int) -> str:
    """' (a 2-D feature map takes conv2d)' when the operator has a form for the rank it got."""
    suffix = f"{rank}d"
    if got in AXES and op.endswith(suffix):
        other = op[: -len(suffix)] + f"{got}d"
        if other in REGISTRY:
            return f" (a {got}-D feature map takes {other})"
    return ""


def window_out(size: int, kernel: int, stride: int, pad_lo: int, pad_hi: int, dilation: int = 1,
               ceil_mode: bool = False) -> int:
    """Output length of a sliding window (PyTorch's ``pooling_output_shape``).

    span = size + pad_lo + pad_hi - dilation*(kernel-1) - 1
    out  = floor(span / stride) + 1, or with ceil_mode floor((span + stride - 1) / stride) + 1,
    where the last window must start inside the input or the left padding:
    if (out - 1) * stride >= size + pad_lo, drop it. A result <= 0 means nothing fits.
    """
    span = size + pad_lo + pad_hi - dilation * (kernel - 1) - 1
    if not ceil_mode:
        return span // stride + 1
    out = (span + stride - 1) // stride + 1
    if (out - 1) * stride >= size + pad_lo:
        out -= 1
    return out


def check_positive_size(op: str, out: Sequence[int], in_shape: Shape, why: str = "") -> None:
    if min(out) <= 0:
        raise ShapeError(f"{op} would produce an empty output ({'x'.join(map(str, out))}) from "
                         f"input {fmt_shape(in_shape)}{why}: the input is too small for this layer")


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


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


def frac(a: int, b: int = 1) -> Number:
    """An exact rational that stays an int when it can."""
    f = Fraction(a, b)
    return int(f) if f.denominator == 1 else f



def sliding_output(op: str, shape: Shape, kernel: Sequence[int], stride: Sequence[int],
                   padding: Sequence[tuple[int, int]], dilation: Sequence[int] | None = None,
                   ceil_mode: bool = False, must_fit: bool = False) -> tuple[int, ...]:
    """The spatial output size of a sliding window over a feature map (one size per axis), or a
    ShapeError that says why. ``must_fit``: the dilated kernel must fit in the padded input
    (PyTorch's convolutions require it; pooling with ceil_mode accepts a single overhanging
    window)."""
    sizes = shape[2:]
    if dilation is None:
        dilation = (1,) * len(sizes)
    out = []
    for i, (size, k, s, (lo, hi), d) in enumerate(zip(sizes, kernel, stride, padding, dilation)):
        n = window_out(size, k, s, lo, hi, d, ceil_mode)
        if n <= 0 or (must_fit and size + lo + hi < d * (k - 1) + 1):
            axis = spatial_axes(len(sizes))[i]
            eff = d * (k - 1) + 1
            raise ShapeError(f"{op}: the {'dilated ' if d > 1 else ''}window of {eff} is larger than "
                             f"the padded input {axis} {size + lo + hi} (input {fmt_shape(shape)}): "
                             "the input is too small for this layer")
        out.append(n)
    return tuple(out)


@lru_cache(maxsize=4096)
def sliding_transfer(kernel: tuple[int, ...], stride: tuple[int, ...],
                     padding: tuple[tuple[int, int], ...], dilation: tuple[int, ...]) -> "Transfer":
    """The receptive-field transfer of a sliding window given as its layer's arguments (kernel
    taps, stride, (before, after) padding per axis, dilation): one Window per axis with the
    dilated extent d*(k - 1) + 1 and the padding before. Cached: the layers of a network share a
    few kinds of windows (a hot path)."""
    return Transfer(tuple(Window(d * (k - 1) + 1, s, lo, True, d)
                          for k, s, (lo, _), d in zip(kernel, stride, padding, dilation)))


@lru_cache(maxsize=4096)     # a pure function of six ints, asked again by every similar layer
def taps_inside(n_out: int, size: int, kernel: int, stride: int, pad: int, dilation: int) -> int:
    """Number of (output position, kernel tap) pairs of a convolution along one axis whose input
    position o*stride - pad + j*dilation lies inside the input (not in the zero padding).
    Without padding this is n_out * kernel. Closed form per tap, so it costs O(kernel)."""
    total = 0
    for j in range(kernel):
        offset = j * dilation - pad                       # input index = o*stride + offset
        first = max(0, ceil_div(-offset, stride))          # o*stride + offset >= 0
        last = min(n_out - 1, (size - 1 - offset) // stride)  # o*stride + offset <= size-1
        if last >= first:
            total += last - first + 1
    return total


def taps_inside_transposed(size_in: int, n_out: int, kernel: int, stride: int, pad: int,
                           dilation: int) -> int:
    """Like taps_inside for a transposed convolution: pairs (input i, tap j) whose output position
    i*stride - pad + j*dilation lies inside the output."""
    total = 0
    for j in range(kernel):
        offset = j * dilation - pad
        first = max(0, ceil_div(-offset, stride))
        last = min(size_in - 1, (n_out - 1 - offset) // stride)
        if last >= first:
            total += last - first + 1
    return total
