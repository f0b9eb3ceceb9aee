"""The counting convention: which kinds of work a MAC total includes, and how FLOPs derive from MACs.

cnnstat stores multiply-accumulates (MACs) as integers: one fused multiply-add is 1 MAC. By
default the contractions count: the multiply-adds of convolutions and fully connected layers
("weight") and those of products of two activations — matmul, bmm, einsum, scaled-dot-product
attention's Q·Kᵀ and A·V ("attention") — bias adds excluded. For a pure CNN this is the
convention of torchvision's published GFLOPS metadata and of fvcore, and the "FLOPs
(multiply-adds)" of the ResNet paper; for attention it is FlopCounterMode's (conv + mm + addmm +
bmm + sdpa FLOPs / 2), which gives torchvision ViT-B/16 its published 17.56 GFLOPS.
``--count weight`` restricts the total to convolutions and linear layers. Other kinds of work can be included on request; each
counted operation then weighs one MAC (see the rule modules in cnnstat.ops for each kind's formula).

FLOPs are derived here and nowhere else: FLOPs = 2 x MACs.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from .errors import UsageError
from .ops.base import ACTIVATION, ATTENTION, BIAS, ELEMENTWISE, MAC_KINDS, NORM, POOL, RESIZE, WEIGHT

FLOPS_PER_MAC = 2

KIND_LABELS = {
    WEIGHT: "convolution and linear multiply-adds",
    ATTENTION: "attention (matmul, sdpa)",
    BIAS: "bias adds",
    NORM: "batch norm / LRN",
    ACTIVATION: "activations",
    POOL: "pooling",
    ELEMENTWISE: "element-wise merges",
    RESIZE: "upsampling",
}
OPTIONAL_KINDS = tuple(k for k in MAC_KINDS if k != WEIGHT)
#: the kinds in a few words, for the one-line convention a terminal shows (Convention.short)
SHORT_LABELS = {
    WEIGHT: "conv + linear",
    ATTENTION: "attention",
    BIAS: "bias",
    NORM: "norm",
    ACTIVATION: "activations",
    POOL: "pooling",
    ELEMENTWISE: "element-wise",
    RESIZE: "upsampling",
}
#: the kinds counted by default beside ``weight``
DEFAULT_EXTRA = frozenset({ATTENTION})


def flops(macs: int) -> int:
    """FLOPs from MACs: one multiply-add is two floating-point operations."""
    return FLOPS_PER_MAC * macs


@dataclass(frozen=True)
class Convention:
    """Which kinds of work count in ``macs``. ``weight`` (conv + linear) always counts;
    ``attention`` does unless the convention is ``weight`` alone."""
    extra: frozenset[str] = DEFAULT_EXTRA

    @classmethod
    def parse(cls, spec: str | None) -> "Convention":
        """``--count``: a comma list of bias, norm, activation, pool, elementwise, resize, or 'all'
        (each added to the default: contractions); ``weight`` alone: convolutions and linear
        layers only."""
        if not spec or spec.strip().lower() in ("", "default", "none"):
            return cls()
        if spec.strip().lower() == WEIGHT:
            return cls(frozenset())
        kinds: set[str] = set(DEFAULT_EXTRA)
        for item in spec.split(","):
            item = item.strip().lower()
            if item == "all":
                kinds.update(OPTIONAL_KINDS)
            elif item in OPTIONAL_KINDS:
                kinds.add(item)
            elif item and item != WEIGHT:
                from .suggest import did_you_mean
                raise UsageError(f"--count: unknown kind '{item}'"
                                 f"{did_you_mean(item, OPTIONAL_KINDS + ('all',))}; choose from "
                                 f"{', '.join(OPTIONAL_KINDS)} or all")
        return cls(frozenset(kinds))

    @cached_property
    def kinds(self) -> tuple[str, ...]:
        return tuple(k for k in MAC_KINDS if k == WEIGHT or k in self.extra)

    def macs(self, by_kind: dict[str, int]) -> int:
        return sum(by_kind.get(k, 0) for k in self.kinds)

    @property
    def name(self) -> str:
        if self.extra == DEFAULT_EXTRA:
            return "default"
        if not self.extra:
            return WEIGHT
        return "+".join(k for k in OPTIONAL_KINDS if k in self.extra)

    def short(self) -> str:
        """The convention in one terminal line; describe() is the complete statement (reports,
        JSON, --explain)."""
        counted = " + ".join(SHORT_LABELS[k] for k in self.kinds)
        if len(self.kinds) == len(MAC_KINDS):
            counted = "every kind (" + ", ".join(SHORT_LABELS[k] for k in self.kinds) + ")"
        bias = "" if BIAS in self.extra else ", bias excluded"
        return f"MACs: {counted}, 1 MAC = 1 multiply-add{bias}; --explain for details"

    def describe(self) -> str:
        counted = ", ".join(KIND_LABELS[k] for k in self.kinds)
        left_out = [KIND_LABELS[k] for k in OPTIONAL_KINDS if k not in self.extra]
        text = f"MACs: 1 fused multiply-add = 1 MAC; counted: {counted}"
        if left_out:
            text += f"; not counted: {', '.join(left_out)}"
        return text + f"; FLOPs = {FLOPS_PER_MAC} x MACs"
