"""The operator framework: argument schemas, the result of a rule, receptive-field transfers, registry.

An operator is a subclass of :class:`Op` registered once with :func:`register`. It declares its
arguments (:class:`Param`, in positional order) and implements :meth:`Op.evaluate`, a pure function
of its normalized attributes and input shapes that returns an :class:`Eval`: the output shape, the
parameter/buffer/connection counts, the multiply-accumulates by kind, and how the layer transforms
receptive fields. Nothing here imports torch.

Shapes always include the batch dimension: ``(N, C, H, W)`` for feature maps, ``(N, F)`` for vectors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from functools import lru_cache
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
AxisTransfer = Window | str


@dataclass(frozen=True, slots=True)
class Transfer:
    """Receptive-field transfer along H and W. ``None`` axes of a non-spatial tensor are ignored."""
    h: AxisTransfer = IDENTITY
    w: AxisTransfer = IDENTITY

    @staticmethod
    def window(kernel: Sequence[Number], stride: Sequence[Number], padding: Sequence[Number],
               exact: bool = True, dilation: Sequence[int] = (1, 1)) -> "Transfer":
        try:                 # immutable: layers with the same window share one (a hot path)
            return _window(kernel, stride, padding, exact, dilation)
        except TypeError:    # lists
            return _window.__wrapped__(kernel, stride, padding, exact, tuple(dilation))


@lru_cache(maxsize=4096)
def _window(kernel, stride, padding, exact: bool, dilation=(1, 1)) -> Transfer:
    return Transfer(Window(kernel[0], stride[0], padding[0], exact, dilation[0]),
                    Window(kernel[1], stride[1], padding[1], exact, dilation[1]))


POINTWISE = Transfer()
GLOBAL = Transfer(WHOLE, WHOLE)


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


def pair(convert: Callable[[Any], int]) -> Callable[[Any], tuple[int, int]]:
    """An int for both axes, or [h, w]."""
    def convert_pair(value: Any) -> tuple[int, int]:
        if isinstance(value, (list, tuple)):
            if len(value) != 2:
                raise ArgumentError(f"must be one value or [height, width], got {list(value)!r}")
            return (convert(value[0]), convert(value[1]))
        v = convert(value)
        return (v, v)
    return convert_pair


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


def padding2d(value: Any) -> tuple[tuple[int, int], tuple[int, int]] | str:
    """Padding: an int, [h, w], [[top, bottom], [left, right]], 'same' or 'valid'.

    Stored as ``((top, bottom), (left, right))``, or the string 'same' (resolved per layer from
    the kernel, as PyTorch does: the extra pixel of an even total goes to the bottom/right).
    """
    if value == "valid":
        return ((0, 0), (0, 0))
    if value == "same":
        return "same"
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(
            isinstance(v, (list, tuple)) for v in value):
        (t, b), (l, r) = (_two(v) for v in value)
        return ((t, b), (l, r))
    if isinstance(value, (list, tuple)) and len(value) == 4:
        raise ArgumentError("asymmetric padding is written [[top, bottom], [left, right]], "
                            f"got {list(value)!r}")
    try:
        ph, pw = nonneg_pair(value)
    except ArgumentError:
        raise ArgumentError("must be an int, [h, w], [[top, bottom], [left, right]], 'same' or "
                            f"'valid', got {value!r}") from None
    return ((ph, ph), (pw, pw))


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
        spatial ``axis``: 0 = H, 1 = W) read, as sorted disjoint spans (empty: they read only zero
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


# --------------------------------------------------------------------------------------------
# Shape helpers shared by rules
# --------------------------------------------------------------------------------------------
def numel(shape: Shape) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def fmt_shape(shape: Shape) -> str:
    """A shape without its batch dimension, as 64x56x56."""
    return "x".join(str(d) for d in shape[1:]) or "scalar"


def need_feature_map(op: str, shape: Shape) -> tuple[int, int, int, int]:
    if len(shape) != 4:
        raise ShapeError(f"{op} needs a (C, H, W) feature map, got "
                         + (f"a vector of {shape[1]} features" if len(shape) == 2
                            else f"shape {fmt_shape(shape)}"))
    return shape  # type: ignore[return-value]


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


def check_positive_size(op: str, out_hw: tuple[int, int], in_shape: Shape, why: str = "") -> None:
    if out_hw[0] <= 0 or out_hw[1] <= 0:
        raise ShapeError(f"{op} would produce an empty output ({out_hw[0]}x{out_hw[1]}) from input "
                         f"{fmt_shape(in_shape)}{why}: the input is too small for this layer")


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



def sliding_output(op: str, shape: Shape, kernel: tuple[int, int], stride: tuple[int, int],
                   padding: tuple[tuple[int, int], tuple[int, int]],
                   dilation: tuple[int, int] = (1, 1), ceil_mode: bool = False,
                   must_fit: bool = False) -> tuple[int, int]:
    """(H_out, W_out) of a 2-D sliding window over a feature map, or a ShapeError that says why.
    ``must_fit``: the dilated kernel must fit in the padded input (PyTorch's convolutions require
    it; pooling with ceil_mode accepts a single overhanging window)."""
    _, _, h, w = shape
    out = []
    for size, k, s, (lo, hi), d, axis in zip((h, w), kernel, stride, padding, dilation,
                                             ("height", "width")):
        n = window_out(size, k, s, lo, hi, d, ceil_mode)
        if n <= 0 or (must_fit and size + lo + hi < d * (k - 1) + 1):
            eff = d * (k - 1) + 1
            raise ShapeError(f"{op}: the {'dilated ' if d > 1 else ''}window of {eff} is larger than "
                             f"the padded input {axis} {size + lo + hi} (input {fmt_shape(shape)}): "
                             "the input is too small for this layer")
        out.append(n)
    return out[0], out[1]


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
