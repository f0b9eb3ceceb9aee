"""Test oracles for imported torch models: what the running module says about itself.

For an ``nn.Module`` and its inputs, :func:`figures` gives

- ``params`` / ``buffers``: elements of ``module.parameters()`` / ``module.buffers()`` (torch lists
  each tensor once, so tied weights count once; a buffer used as a weight stays a buffer);
- ``outputs``: the output structure with every tensor replaced by its shape (a dict stays a dict,
  a tuple a list);
- ``macs``: contraction multiply-adds = (convolution + mm + addmm + bmm + baddbmm + scaled-dot-
  product attention FLOPs) / 2 as torch's ``FlopCounterMode`` counts them (1 MAC = 2 FLOPs; bias
  adds, norms, activations, softmax are not contractions and are not counted), with ``macs_by_op``
  per ATen operator.

Two traps, both handled here (issue 13):

1. ``FlopCounterMode`` has no formula for the CPU attention kernel
   ``aten._scaled_dot_product_flash_attention_for_cpu`` (nor for the "overrideable" fused kernel):
   ``SDPA_FORMULAS`` gives them torch's own ``sdpa_flop_count`` (Q·Kᵀ and A·V), passed as
   ``custom_mapping``.
2. Under ``torch.no_grad()``, ``nn.MultiheadAttention`` (and ``nn.TransformerEncoderLayer``) take a
   fused fast path, ``aten._native_multi_head_attention``, that nothing counts: the forward runs
   with gradients enabled and ``torch.backends.mha.set_fastpath_enabled(False)`` (either alone
   avoids it), so attention goes through the ops above; tests/test_oracle.py shows the ways agree
   and that the fast path undercounts.

A second, independent oracle, :func:`formula_macs`, counts the same contractions with its own
formulas in a ``TorchDispatchMode`` (it shares nothing with ``FlopCounterMode``), and
:func:`fvcore_macs` asks fvcore (a ``torch.jit`` trace: a third, unrelated mechanism). The tests
require all of them to agree, so the oracle itself is checked.

Everything runs on real CPU tensors (never meta): an oracle must not depend on the mechanism it
is used to check. This module lives under tests/: it is a test oracle, not part of cnnstat.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count

aten = torch.ops.aten


def _sdpa_flops(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
    """FLOPs of one attention call, ``(B, H, L, E)`` layout: 2·B·H·L·S·E (Q·Kᵀ) + 2·B·H·L·S·Ev
    (A·V) — torch's ``sdpa_flop_count``, the formula FlopCounterMode uses for the GPU kernels."""
    return sdpa_flop_count(query_shape, key_shape, value_shape)


#: the attention kernels FlopCounterMode (torch 2.x) has no formula for
SDPA_FORMULAS = {
    aten._scaled_dot_product_flash_attention_for_cpu: _sdpa_flops,
    aten._scaled_dot_product_fused_attention_overrideable: _sdpa_flops,
}

#: the ATen operators (packets) whose FLOPs are contraction work: FlopCounterMode's forward
#: formulas for convolution, matrix products and attention
CONTRACTIONS = {
    "convolution", "_convolution", "cudnn_convolution", "_slow_conv2d_forward",
    "convolution_overrideable", "mm", "addmm", "bmm", "baddbmm",
    "_scaled_dot_product_flash_attention_for_cpu", "_scaled_dot_product_fused_attention_overrideable",
    "_scaled_dot_product_flash_attention", "_scaled_dot_product_efficient_attention",
    "_scaled_dot_product_cudnn_attention", "_flash_attention_forward", "_efficient_attention_forward",
}


@dataclass
class Figures:
    """The oracle's numbers for one module and input."""
    params: int
    buffers: int
    outputs: Any                      # the output structure, tensors replaced by shape lists
    macs: int
    macs_by_op: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"params": self.params, "buffers": self.buffers, "outputs": self.outputs,
                "macs": self.macs, "macs_by_op": dict(sorted(self.macs_by_op.items()))}


def tensor_counts(module: nn.Module) -> tuple[int, int]:
    """Elements of the module's parameters and buffers, each tensor once (torch's own listing)."""
    return (sum(p.numel() for p in module.parameters()),
            sum(b.numel() for b in module.buffers()))


def output_structure(out: Any) -> Any:
    """The output with each tensor replaced by its shape: dict → dict, tuple/list → list,
    named tuples → dict, None and numbers as they are."""
    if isinstance(out, torch.Tensor):
        return list(out.shape)
    if hasattr(out, "_asdict"):
        return {k: output_structure(v) for k, v in out._asdict().items()}
    if isinstance(out, dict):
        return {str(k): output_structure(v) for k, v in out.items()}
    if isinstance(out, (tuple, list)):
        return [output_structure(v) for v in out]
    return out


def flat_shapes(structure: Any) -> list[list[int]]:
    """The shapes in an :func:`output_structure`, in order (a list of ints is one shape)."""
    if isinstance(structure, dict):
        return [s for v in structure.values() for s in flat_shapes(v)]
    if isinstance(structure, list) and all(isinstance(d, int) for d in structure):
        return [list(structure)]
    if isinstance(structure, list):
        return [s for v in structure for s in flat_shapes(v)]
    return []


def as_inputs(inputs: Any) -> tuple[tuple, dict]:
    """(args, kwargs) from a tensor, a tuple of tensors or a dict of keyword tensors."""
    if isinstance(inputs, torch.Tensor):
        return (inputs,), {}
    if isinstance(inputs, dict):
        return (), dict(inputs)
    return tuple(inputs), {}


def example_input(input_size, batch: int = 1, seed: int = 0) -> torch.Tensor:
    """A reproducible random input of shape (batch, *input_size)."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randn((batch, *input_size), generator=generator)


@contextlib.contextmanager
def no_fast_path():
    """Inference without the fused attention fast path (see the module docstring, trap 2)."""
    was = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with torch.no_grad():
            yield
    finally:
        torch.backends.mha.set_fastpath_enabled(was)


def _packet_name(op: Any) -> str:
    return getattr(op, "__name__", str(op)).split(".")[0]


def flop_counter_macs(module: nn.Module, inputs: Any, *,
                      how: str = "grad") -> tuple[int, dict[str, int], Any]:
    """(MACs, MACs by ATen operator, output) from FlopCounterMode with :data:`SDPA_FORMULAS`.

    ``how``: 'grad' (the default) runs with gradients enabled and the attention fast path off —
    FlopCounterMode's module tracker fails under ``no_grad`` when a module is called on a
    parameter (CaiT's class-attention blocks: "Expected gradient function to be set");
    'no_grad' runs under ``no_grad`` with the fast path off; 'fast_path' runs plain
    ``no_grad`` — trap 2, for the tests that show it."""
    args, kwargs = as_inputs(inputs)
    counter = FlopCounterMode(display=False, custom_mapping=SDPA_FORMULAS)
    contexts = {"grad": _grad_no_fast_path, "no_grad": no_fast_path, "fast_path": torch.no_grad}
    with contexts[how](), counter:
        out = module(*args, **kwargs)
    by_op: dict[str, int] = {}
    for op, flops in counter.get_flop_counts().get("Global", {}).items():
        name = _packet_name(op)
        if name not in CONTRACTIONS:
            raise AssertionError(f"FlopCounterMode counted {name}, which is not a contraction")
        if flops % 2:
            raise AssertionError(f"{name}: an odd FLOP count {flops} is not whole MACs")
        by_op[name] = by_op.get(name, 0) + flops // 2
    return sum(by_op.values()), by_op, out


@contextlib.contextmanager
def _grad_no_fast_path():
    with no_fast_path(), torch.enable_grad():
        yield


def figures(module: nn.Module, inputs: Any) -> Figures:
    """The oracle's :class:`Figures` for ``module`` (in the mode it is in) on ``inputs``."""
    params, buffers = tensor_counts(module)
    macs, by_op, out = flop_counter_macs(module, inputs)
    out = output_structure(out)
    return Figures(params, buffers, out, macs, by_op)


# ----------------------------------------------------------------------------------------------
# The second oracle: contractions counted with formulas of our own in a dispatch mode


def _conv_macs(x, w, out, transposed: bool) -> int:
    """Convolution MACs. Direct: every output element is a dot product over C_in/groups · ∏k
    inputs, so N·C_out·∏out_spatial · (C_in/g)·∏k = out.numel() · w[1:].numel(). Transposed:
    every input element is multiplied by C_out/g · ∏k weights: x.numel() · w[1:].numel()
    (the weight of a transposed convolution is (C_in, C_out/g, *k))."""
    per_element = math.prod(w.shape[1:])
    return (x.numel() if transposed else out.numel()) * per_element


def _mm_macs(a, b) -> int:
    """(m, k) @ (k, n): m·k·n; batched (b, m, k) @ (b, k, n): b·m·k·n."""
    return math.prod(a.shape) * b.shape[-1]


def _sdpa_macs(q, k, v) -> int:
    """Attention Q (..., L, E), K (..., S, E), V (..., S, Ev): Q·Kᵀ is L·S·E and A·V is L·S·Ev
    per batch-head; key/value heads may be fewer than query heads (grouped queries)."""
    *lead, length, e = q.shape
    s, ev = k.shape[-2], v.shape[-1]
    return math.prod(lead) * length * s * (e + ev)


class _FormulaCounter(TorchDispatchMode):
    """Counts contraction MACs of every ATen call that reaches the dispatcher."""

    def __init__(self):
        super().__init__()
        self.by_op: dict[str, int] = {}

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        name = _packet_name(func._overloadpacket)
        macs = 0
        if name in ("convolution", "_convolution"):
            macs = _conv_macs(args[0], args[1], out, bool(args[6]))
        elif name in ("mm", "bmm"):
            macs = _mm_macs(args[0], args[1])
        elif name in ("addmm", "baddbmm"):
            macs = _mm_macs(args[1], args[2])
        elif name.startswith("_scaled_dot_product"):
            macs = _sdpa_macs(args[0], args[1], args[2])
        elif name in ("_native_multi_head_attention", "_transformer_encoder_layer_fwd"):
            raise AssertionError(f"{name}: the fused attention fast path ran")
        if macs:
            self.by_op[name] = self.by_op.get(name, 0) + macs
        return out


def formula_macs(module: nn.Module, inputs: Any) -> tuple[int, dict[str, int]]:
    """(MACs, MACs by ATen operator) from :class:`_FormulaCounter` — independent formulas."""
    args, kwargs = as_inputs(inputs)
    counter = _FormulaCounter()
    with no_fast_path(), counter:
        module(*args, **kwargs)
    return sum(counter.by_op.values()), dict(counter.by_op)


# ----------------------------------------------------------------------------------------------
# The third oracle: fvcore (a torch.jit trace), contractions only


#: fvcore handle names that are contractions (fvcore counts one "flop" per multiply-add)
FVCORE_CONTRACTIONS = ("conv", "linear", "addmm", "matmul", "bmm", "einsum", "baddbmm", "mm",
                       "scaled_dot_product_attention", "_convolution")


def _fvcore_sdpa(inputs, outputs) -> int:
    """fvcore handle for ``aten::scaled_dot_product_attention`` (fvcore 0.1.5 has none)."""
    from fvcore.nn.jit_handles import get_shape

    q, k, v = (get_shape(i) for i in inputs[:3])
    *lead, length, e = q
    return math.prod(lead) * length * k[-2] * (e + v[-1])


def fvcore_macs(module: nn.Module, inputs: Any) -> tuple[int, dict[str, int]]:
    """(MACs, by fvcore operator) — fvcore's FlopCountAnalysis restricted to contractions."""
    import warnings

    from fvcore.nn import FlopCountAnalysis

    args, kwargs = as_inputs(inputs)
    if kwargs:
        raise ValueError("fvcore traces positional inputs only")
    with no_fast_path(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        analysis = FlopCountAnalysis(module, args if len(args) > 1 else args[0])
        analysis.set_op_handle("aten::scaled_dot_product_attention", _fvcore_sdpa)
        analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        by_op = analysis.by_operator()
    kept = {op: n for op, n in by_op.items() if op in FVCORE_CONTRACTIONS}
    return sum(kept.values()), kept
