"""A definition against torchvision's implementation of the same network
(``cnnstat check MODEL --against torchvision[:NAME]``).

Two parts:

1. totals — parameters, buffers, conv+linear MACs and output shape of cnnstat's static analysis
   against torchvision's module (parameters and buffers from the module, MACs from
   FlopCounterMode's FLOPs ÷ 2, output shapes from a forward pass);
2. structure — both modules are run and reduced to their comparable layers
   (``structure.extract``), aligned, and every difference in kind, channels, kernel, stride,
   padding, dilation, groups, bias or normalization is listed.

Nothing numeric is needed, so the default device is ``meta``: the largest networks compare in a
second. Both sides run in the same mode: eval by default — cnnstat's eval-mode numbers against
torchvision's eval-mode model — or training with ``train=True`` (``--train``, at batch ≥ 2, which
batch norm needs in training). torchvision's GoogLeNet and Inception v3 compute their auxiliary
classifiers only in training; when the definition has training-only heads, torchvision's model is
built with ``aux_logits=True``, so that both hold the heads' parameters, and in eval mode neither
runs them.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..errors import CnnstatError, UsageError
from ..ops.kinds import WEIGHT
from ..presenting import Displayable, shown
from .check import (BUFFERS, FLOP_COUNTER, FLOP_COUNTER_WEIGHT_OPS, FLOPS_PER_MAC_FLOP_COUNTER,
                    KIND_QUANTITY, OUTPUT_SHAPE, PARAMETERS, Comparison, Prepared, _convert,
                    _first_line, _packet_name, _shapes_of, prepare)
from .structure import Layer, StructureDiff, diff_structures, extract, run_recorded

TORCHVISION = "torchvision"
# torchvision's models with auxiliary classifiers (``aux_logits``; run in training mode only)
AUX_MODELS = {"googlenet", "inception_v3"}


@dataclass(repr=False)
class AgainstReport(Displayable):
    """Shows in a notebook as the command's verdict, totals and differences (cnnstat.display)."""
    model: str
    reference: str                 # torchvision:NAME
    input_shape: tuple[int, ...]
    batch: int
    device: str
    totals: list[Comparison]
    diff: StructureDiff
    left: list[Layer] = field(default_factory=list)
    right: list[Layer] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    reference_args: dict[str, Any] = field(default_factory=dict)   # --against-arg
    mode: str = "eval"                                             # both sides' mode

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.totals) and self.diff.same

    def _display_blocks(self) -> list:
        return shown("against.blocks", self)

    def __repr__(self) -> str:
        return shown("check.line", self, f"check --against {self.reference}")

    def to_dict(self) -> dict:
        def layer(x: Layer | None):
            return None if x is None else {"name": x.name, "layer": x.describe()}
        return {
            "model": self.model, "against": self.reference,
            "against_args": {k: _plain(v) for k, v in self.reference_args.items()},
            "input": list(self.input_shape),
            "batch": self.batch, "device": self.device, "mode": self.mode, "agree": self.ok,
            "totals": [{"quantity": c.quantity, "cnnstat": _plain(c.static),
                        "torchvision": _plain(c.measured), "agree": c.ok} for c in self.totals],
            "summary": [{"difference": d, "layers": n, "names": names}
                        for d, n, names in self.diff.summary()],
            "differences": [{"status": s.status, "cnnstat": layer(s.left),
                             "torchvision": layer(s.right),
                             "changes": [{"attribute": a, "cnnstat": _plain(x),
                                          "torchvision": _plain(y)} for a, x, y in s.changes]}
                            for s in self.diff.differing],
            "layers": {"cnnstat": len(self.left), "torchvision": len(self.right)},
            "notes": self.notes,
        }


def _plain(v: Any) -> Any:
    if isinstance(v, (tuple, list)):
        return [_plain(x) for x in v]
    return v


def parse_against(spec: str) -> str | None:
    """``torchvision`` → None (the name follows the model), ``torchvision:NAME`` → NAME."""
    kind, _, name = spec.strip().partition(":")
    if kind != TORCHVISION:
        raise UsageError(f"--against '{spec}': only torchvision is supported: write "
                         "--against torchvision or --against torchvision:NAME")
    if _ and not name.strip():
        raise UsageError(f"--against '{spec}': name the torchvision model after the colon")
    return name.strip() or None


def torchvision_name(model_name: str, name: str | None = None) -> str:
    """The torchvision model to compare with: ``name``, else the model's own name, else the name
    without a layout suffix (``resnet50-paper`` → ``resnet50``)."""
    import torchvision
    available = set(torchvision.models.list_models())
    candidates = [name] if name else [model_name, model_name.split("-")[0]]
    for c in candidates:
        if c in available:
            return c
    wanted = candidates[0]
    from ..suggest import did_you_mean
    hint = did_you_mean(wanted, sorted(available), 3, cutoff=0.8)
    raise UsageError(f"torchvision has no model '{wanted}'{hint}; name one with "
                     "--against torchvision:NAME")


def build_torchvision(name: str, *, device: str = "meta", seed: int = 0,
                      aux_logits: bool | None = None,
                      builder_args: dict[str, Any] | None = None) -> nn.Module:
    """torchvision's model ``name`` with random weights (no download), built on ``device``;
    ``builder_args`` go to its builder (``width_mult=0.5`` for mobilenet_v2)."""
    import torchvision
    builder = torchvision.models.get_model_builder(name)
    kwargs: dict[str, Any] = {"weights": None}
    if aux_logits is not None and name in AUX_MODELS:
        kwargs["aux_logits"] = aux_logits
    kwargs.update(builder_args or {})
    torch.manual_seed(seed)
    try:
        with warnings.catch_warnings(), torch.device(device):
            warnings.simplefilter("ignore")  # GoogLeNet/Inception's init_weights FutureWarning
            return builder(**kwargs).eval()
    except Exception as exc:          # a builder argument it does not take, or a bad value
        given = ", ".join(f"{k}={v!r}" for k, v in (builder_args or {}).items())
        raise UsageError(f"torchvision:{name} cannot be built with {given or 'its defaults'}: "
                         f"{type(exc).__name__}: {_first_line(exc)}") from None


def _measure(module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> tuple[list[Layer], int, list]:
    """Layers, conv+linear MACs (FlopCounterMode FLOPs ÷ 2) and output shapes, in one forward
    pass."""
    from torch.utils.flop_counter import FlopCounterMode
    mode = FlopCounterMode(display=False)
    layers, out = run_recorded(module, inputs, inside=mode)
    if hasattr(out, "_asdict"):                       # GoogLeNetOutputs / InceptionOutputs
        out = tuple(v for v in out._asdict().values() if v is not None)
    elif isinstance(out, dict):
        out = tuple(out.values())
    flops = sum(n for op, n in mode.get_flop_counts().get("Global", {}).items()
                if _packet_name(op) in FLOP_COUNTER_WEIGHT_OPS)
    return layers, _convert(flops, FLOPS_PER_MAC_FLOP_COUNTER), _shapes_of(out)


def against_torchvision(model: Any, name: str | None = None, *, input: Any = None,
                        batch: int = 1, set: Any = None, variant: str | None = None,
                        args: Any = None, against_args: Any = None, device: str = "meta",
                        seed: int = 0, train: bool = False) -> AgainstReport:
    """Compare a definition (zoo name, file, graph) with torchvision's model ``name``, built with
    ``against_args`` (``--against-arg width_mult=0.5``: items NAME=VALUE or a dict), both in eval
    mode (``train=True``: both in training mode)."""
    from ..model_options import parse_args
    builder_args = parse_args(against_args, option="--against-arg")
    p = prepare(model, input=input, batch=batch, set=set, variant=variant, args=args,
                device=device, seed=seed, train=train)
    notes = list(p.notes)
    aux = bool(p.graph.train_only)      # training-only heads: torchvision's aux_logits
    if aux and not train:
        notes.append("training-only heads: both models hold their parameters; in eval mode "
                     "neither runs them (--train compares the training-mode models)")
    tv_name = torchvision_name(p.graph.name, name)
    tv = build_torchvision(tv_name, device=p.device, seed=seed, aux_logits=aux,
                           builder_args=builder_args)
    tv.train(train)
    report = compare_with(p, tv, f"{TORCHVISION}:{tv_name}", notes)
    report.reference_args = builder_args
    report.mode = p.mode
    return report


def compare_with(p: Prepared, reference: nn.Module, reference_name: str,
                 notes: list[str] | None = None) -> AgainstReport:
    """Totals and structural diff of a prepared definition against any reference module."""
    notes = list(notes or [])
    t = p.analysis.totals
    shape = "×".join(str(d) for d in p.graph.input_shape)
    try:
        right, macs, shapes = _measure(reference, p.inputs)
    except Exception as exc:  # e.g. a 1-channel definition against a 3-channel network
        raise UsageError(f"{reference_name} cannot run on the input of {p.graph.name} ({shape}): "
                         f"{type(exc).__name__}: {_first_line(exc)}") from None
    try:
        left = extract(p.module, p.inputs)
    except Exception as exc:
        raise CnnstatError(f"torch cannot run {p.graph.name} on {shape} (try cnnstat check "
                           f"{p.graph.name}): {type(exc).__name__}: {_first_line(exc)}") from None
    params = {id(x): x for x in reference.parameters()}
    totals = [
        Comparison(PARAMETERS, reference_name, t.params, sum(x.numel() for x in params.values())),
        Comparison(BUFFERS, reference_name, t.buffers,
                   sum(b.numel() for b in reference.buffers())),
        Comparison(KIND_QUANTITY[WEIGHT], reference_name, t.macs_by_kind.get(WEIGHT, 0), macs,
                   f"{FLOP_COUNTER} FLOPs ÷ {FLOPS_PER_MAC_FLOP_COUNTER}"),
        Comparison(OUTPUT_SHAPE, reference_name,
                   sorted(tuple(s) for s in p.analysis.output_shapes), sorted(shapes)),
    ]
    diff = diff_structures(left, right, p.graph.name, reference_name)
    return AgainstReport(p.graph.name, reference_name, tuple(p.graph.input_shape), p.batch,
                         p.device, totals, diff, left, right, notes)
