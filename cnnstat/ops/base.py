"""The operator: the :class:`Op` class, the result of a rule (:class:`Eval`) and the registry.

An operator is a subclass of :class:`Op` registered once with :func:`register`. It declares its
arguments (:class:`Param`, in positional order; cnnstat/ops/schema.py) and implements
:meth:`Op.evaluate`, a pure function of its normalized attributes and input shapes that returns an
:class:`Eval`: the output shape, the parameter/buffer/connection counts, the multiply-accumulates
by kind (kinds.py), and how the layer transforms receptive fields (transfer.py). Nothing here
imports torch.

The framework is split by concern: ``kinds`` (kinds of MACs), ``axes`` (spatial axes),
``transfer`` (receptive-field windows), ``schema`` (``Param`` and its converters), ``shapes``
(shape helpers, sliding-window sizes), ``taps`` (window taps: exact unit spans, taps inside the
input). This module re-exports their names, so ``from cnnstat.ops.base import X`` keeps working.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Mapping, Sequence

from ..errors import CnnstatError, DefinitionError, InternalError, ShapeError
from .axes import AXES, AXIS_LETTERS, RANKS, UNIT_NOUNS, UNIT_WORDS, layout, spatial_axes  # noqa: F401
from .kinds import (ACTIVATION, ATTENTION, BIAS, ELEMENTWISE, MAC_KINDS, NORM, POOL,  # noqa: F401
                    RESIZE, WEIGHT)
from .registry import REGISTRY
from .schema import (HELD, REQUIRED, ArgumentError, Param, _show, any_int, as_int,  # noqa: F401
                     boolean, choice, held, int_list, nonneg_int, nonneg_pair, number, optional,
                     padding2d, padding_nd, pair, per_axis, positive_int, positive_pair)
from .shapes import (Shape, ceil_div, check_positive_size, fmt_shape, need_feature_map,  # noqa: F401
                     need_spatial, numel, sliding_output, window_out)
from .taps import (NoExactRule, Span, merge_spans, taps_inside,  # noqa: F401
                   taps_spans, window_spans)
from .transfer import (GLOBAL, IDENTITY, NOT_SPATIAL, POINTWISE, REARRANGED, WHOLE,  # noqa: F401
                       AxisTransfer, Number, Transfer, Window, frac, on_axis, sliding_transfer)


class TorchModule:
    """The torch.nn module an operator is, declared beside its rule (no torch import here):
    ``torch.nn.<name>`` built with keywords taken from the operator's arguments, ``args`` as
    torch keyword → argument name (``TorchModule("Hardtanh", min_val="min", max_val="max")``),
    in the order of the torch signature. From it, and nowhere else:

    - cnnstat.torch_bridge.modules builds the module (no factory to write);
    - ``Op.describe`` prints it as PyTorch does (``Hardtanh(min_val=-1.0, max_val=1.0)``);
    - the torch importer maps the module back (the module's attributes carry the keywords'
      names, as torch.nn's activations do) and, with ``function``, the call
      ``torch.nn.functional.<function>(input, *keywords)``; ``elementwise``: the module keeps
      its input's shape and works on any layout (channels-last tensors too)."""

    __slots__ = ("name", "args", "function", "elementwise")

    def __init__(self, name: str, *, function: str | None = None, elementwise: bool = False,
                 **args: str):
        self.name, self.function, self.elementwise = name, function, elementwise
        self.args: tuple[tuple[str, str], ...] = tuple(args.items())

    def kwargs(self, attrs: Mapping[str, Any]) -> dict[str, Any]:
        """The torch constructor's keywords for a layer's arguments."""
        return {keyword: attrs[arg] for keyword, arg in self.args}

    def describe(self, attrs: Mapping[str, Any]) -> str:
        return f"{self.name}({', '.join(f'{k}={v!r}' for k, v in self.kwargs(attrs).items())})"

    def __repr__(self) -> str:
        return f"TorchModule({self.name!r}, {dict(self.args)!r})"


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
    #: the torch.nn module it is, where one takes its arguments as keywords (TorchModule);
    #: otherwise cnnstat/torch_bridge/modules.py has a factory for it
    torch: ClassVar[TorchModule | None] = None

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
        return self.torch.describe(attrs) if self.torch is not None else self.name

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


def register(cls: type[Op]) -> type[Op]:
    """Register an operator rule. Registering a name twice is an error (one rule per operator)."""
    name = cls.name
    if name in REGISTRY:
        raise RuntimeError(f"operator '{name}' is registered twice "
                           f"({type(REGISTRY[name]).__module__} and {cls.__module__})")
    REGISTRY[name] = cls()
    return cls


#: what a rule may raise on a degenerate input (a size of zero, an overflowing product): the
#: user's input is at fault and gets a ShapeError; anything else a rule raises is a bug in it
DEGENERATE = (ArithmeticError, ValueError)


def evaluate(rule: Op, attrs: Mapping[str, Any], inputs: Sequence[Shape], *,
             file: str | None = None, line: int | None = None, layer: str | None = None) -> Eval:
    """``rule.evaluate`` after its arity check, with the errors a caller shows: a CnnstatError
    located at the layer, a degenerate input (DEGENERATE) as a ShapeError, and any other
    exception — a bug in the rule (KeyError, TypeError, AttributeError...) — as an
    InternalError that asks for a bug report. The one place rules are called from."""
    try:
        rule.check_arity(inputs)
        return rule.evaluate(attrs, inputs)
    except CnnstatError as exc:
        raise exc.located(file=file, line=line, layer=layer) from None
    except DEGENERATE as exc:
        raise ShapeError(f"{rule.name} cannot be applied to input "
                         f"{' and '.join(str(list(s)) for s in inputs)}: {exc}",
                         file=file, line=line, layer=layer) from None
    except Exception as exc:
        raise InternalError.in_rule(rule.name, layer, exc, file=file, line=line) from exc


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

