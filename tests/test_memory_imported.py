"""The memory model on imported models (the capture importer, issue 13) against autograd.

A timm model is imported by running its forward (cnnstat.importers.torch_capture); its
attention, layout changes, element-wise calls and reductions become the rank-generic operators
of cnnstat/ops/tensor.py, whose saved-tensor rules follow the torch call each stands for. The
saved activation bytes of one training step (batch 2, CPU, reduced input) are compared with the
saved-tensor oracle (tests/oracles/saved_tensors.py) on the real timm module:

- ViT-Tiny (``F.scaled_dot_product_attention``: the CPU flash kernel; permute, unbind,
  transpose, the class token's concatenation, the position embedding's sum): saved bytes and
  the peak of live tensor bytes exact in float32 and bfloat16; under autocast the saved bytes
  and the weight copies exact (the peak is not compared: the float32 gradients of linear's
  low-precision copies, tests/test_memory_rules.py AMP_BACKWARD_TEMPORARIES).
- BoTNet-26t (a ResNet with 2-D relative-position self-attention: matmul, reshape, pad,
  expand, slicing) and LeViT-128S (F.batch_norm on a folded batch, attention as matmul and
  softmax, a mean over tokens): every module's saved bytes exact except where a product with a
  weight runs on a non-contiguous view (BoTNet's relative-position logits ``q @ rel_k.T`` on a
  permuted q; LeViT's downsampling query projection on ``x[:, ::2, ::2]``): torch copies the
  operand for the matrix product, and the copies, made by ``aten.clone`` and saved by
  ``MmBackward0``, are the whole difference (the linear rule saves its input as a view:
  operators do not record strides).
"""

from __future__ import annotations

import pytest

from cnnstat.memory import MemoryOptions, estimate

torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")
pytestmark = pytest.mark.torch

BATCH = 2


def _setup(name: str, size: int):
    import cnnstat
    torch.manual_seed(0)
    module = timm.create_model(name, pretrained=False, img_size=size)
    analysis = cnnstat.analyze(module, (3, size, size), batch=BATCH)
    return module, analysis


def _measure(module, size: int, dtype=torch.float32, autocast=None):
    from .oracles.saved_tensors import measure
    module = module.to(dtype).train()
    x = torch.rand(BATCH, 3, size, size, dtype=dtype)
    layers = [name for name, _ in module.named_modules() if name]
    return measure(module, x, layers=layers, autocast=autocast)


@pytest.mark.parametrize("mode", ["fp32", "bf16", "amp"])
def test_vit_tiny_saved_bytes_match_autograd(mode):
    module, analysis = _setup("vit_tiny_patch16_224", 32)
    assert {r.op for r in analysis.records} >= {"attention", "layout", "pointwise"}
    options = MemoryOptions(train=True, device="cpu", optimizer="sgd",
                            dtype="fp32" if mode == "fp32" else "bf16", amp=mode == "amp")
    report = estimate(analysis, options)
    assert report.not_counted == []
    if mode == "amp":
        result = _measure(module, 32, autocast=torch.autocast("cpu", dtype=torch.bfloat16))
        assert report.weight_casts == result.bytes_of("cast") > 0
    else:
        result = _measure(module, 32, torch.bfloat16 if mode == "bf16" else torch.float32)
        assert report.peak == result.live.peak, (report.peak_point, result.live.peak_at)
    assert report.saved_activations == result.activation_bytes > 0
    # each attention block saves q, k, v, the output (4 x 2 x 3 heads x 5 tokens x 64) and the
    # log-sum-exp (2 x 3 x 5 float32): 4 x 1,920 x b + 120 bytes
    b = 4 if mode == "fp32" else 2
    attention = [row for row in report.layers if row.op == "attention"]
    assert len(attention) == 12
    assert all(sum(n for _, n in row.saved) == 4 * 1920 * b + 120 for row in attention)


def _owner(name: str, modules: list[str]) -> str:
    """The innermost module whose path prefixes a layer's name (the oracle's attribution)."""
    found = [m for m in modules if name == m or name.startswith(m + ".")]
    return max(found, key=len, default="")


# model, input side, the modules (name suffix) where a linear product copies a non-contiguous
# view of its input (BoTNet: q @ rel_k.T on a permuted q; LeViT: the linear query projection
# of attention-downsampling on a strided subsample x[:, ::2, ::2])
COPIES = [("botnet26t_256", 64, "self_attn.pos_embed"),
          ("levit_128s", 64, "attn_downsample.q.ln.linear")]


@pytest.mark.parametrize("name,size,where", COPIES)
def test_hybrid_saved_bytes_match_autograd_but_for_named_copies(name, size, where):
    module, analysis = _setup(name, size)
    report = estimate(analysis, MemoryOptions(train=True, device="cpu", optimizer="sgd"))
    assert report.not_counted == []
    result = _measure(module, size)
    modules = [name for name, _ in module.named_modules() if name]
    model: dict[str, int] = {}
    for row in report.layers:
        owner = _owner(row.name, modules)
        model[owner] = model.get(owner, 0) + row.saved_bytes
    oracle = result.by_layer()
    differ = {m for m in set(model) | set(oracle) if model.get(m, 0) != oracle.get(m, 0)}
    assert differ and all(m.endswith(where) for m in differ), sorted(differ)
    copies = sum(s.nbytes for s in result.storages if s.layer in differ and s.kind ==
                 "activation" and s.made_by.startswith("aten.clone") and s.node == "MmBackward0")
    assert sum(oracle.get(m, 0) - model.get(m, 0) for m in differ) == copies > 0
    assert result.activation_bytes - report.saved_activations == copies


def test_attention_on_cuda_is_not_counted_and_says_why():
    # the kernel torch picks on CUDA is unknown without a GPU: the 12 attention layers of ViT-Tiny
    # are listed on one line naming the first and last and what to do, never guessed
    import json

    from cnnstat.render import memory as render
    _, analysis = _setup("vit_tiny_patch16_224", 32)
    report = estimate(analysis, MemoryOptions(train=True, device="cuda", optimizer="sgd"))
    attention = [r.name for r in analysis.records if r.op == "attention"]
    assert len(attention) == 12 and report.not_counted == attention
    (label, text), = render.not_counted_lines(report)
    assert label == "not counted" and text.startswith(
        f"attention at 12 layers ({attention[0]} … {attention[-1]}): the attention kernel")
    assert text.endswith("--device cpu counts it")
    layers = json.loads(render.to_json(report))["layers"]
    assert sum("why_not" in row for row in layers) == 12
