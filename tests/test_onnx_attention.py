"""ONNX import of attention (issue 13): MatMul of activations batched over heads (any rank,
broadcasting), Softmax, Reshape/Transpose/Split/Gather over heads, the heads folded into the batch.
Differential: small attention models exported with torch.onnx (the TorchScript exporter, offline)
and imported from the file against the capture import of the same module and FlopCounterMode
(conv + mm + addmm + bmm FLOPs / 2): parameters, MACs and output shape equal."""

from __future__ import annotations

import warnings

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")
nn = torch.nn

import cnnstat  # noqa: E402
from cnnstat.importers import from_onnx, from_torch  # noqa: E402
from tests import oracle  # noqa: E402

pytestmark = pytest.mark.torch


class QKV(nn.Module):
    """timm's ViT attention, written out: one qkv projection split into heads by reshape and
    permute (the q/k/v axis moved before the batch), q @ kᵀ * scale, softmax, @ v."""
    def __init__(self, e=16, h=2):
        super().__init__()
        self.qkv, self.proj, self.h = nn.Linear(e, 3 * e), nn.Linear(e, e), h

    def forward(self, x):
        n, l, e = x.shape
        q, k, v = self.qkv(x).reshape(n, l, 3, self.h, e // self.h).permute(2, 0, 3, 1, 4)
        a = ((q @ k.transpose(-2, -1)) * (e // self.h) ** -0.5).softmax(-1)
        return self.proj((a @ v).transpose(1, 2).reshape(n, l, e))


class SDPA(QKV):
    """The same through F.scaled_dot_product_attention (timm's fused attention): the exporter
    writes it out as MatMul, Mul, Softmax, MatMul."""
    def forward(self, x):
        n, l, e = x.shape
        q, k, v = self.qkv(x).reshape(n, l, 3, self.h, e // self.h).permute(2, 0, 3, 1, 4)
        out = nn.functional.scaled_dot_product_attention(q, k, v)
        return self.proj(out.transpose(1, 2).reshape(n, l, e))


class MHA(nn.Module):
    """nn.MultiheadAttention, batch first: the exporter folds the heads into the batch."""
    def __init__(self, e=16, h=2):
        super().__init__()
        self.attn = nn.MultiheadAttention(e, h, batch_first=True)

    def forward(self, x):
        return self.attn(x, x, x, need_weights=False)[0]


class ViTBlock(nn.Module):
    """A small ViT: a 4x4 patch embedding, one pre-norm block (attention, GELU MLP), a head."""
    def __init__(self, e=16, h=2):
        super().__init__()
        self.patch = nn.Conv2d(3, e, 4, stride=4)
        self.norm1, self.attn = nn.LayerNorm(e), QKV(e, h)
        self.norm2, self.fc1, self.act, self.fc2 = nn.LayerNorm(e), nn.Linear(e, 2 * e), \
            nn.GELU(), nn.Linear(2 * e, e)
        self.head = nn.Linear(e, 10)

    def forward(self, x):
        x = self.patch(x).flatten(2).transpose(1, 2)
        x = x + self.attn(self.norm1(x))
        x = x + self.fc2(self.act(self.fc1(self.norm2(x))))
        return self.head(x.mean(1))


def _export(module, shape, path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (torch.randn(1, *shape),), str(path), dynamo=False,
                          opset_version=17)


CASES = [
    # (module, per-sample input, hand-derived MACs: qkv 5*16*48 = 3,840, q@kᵀ and a@v
    #  2 heads * 5*5*8 = 400 each, proj 5*16*16 = 1,280)
    (QKV, (5, 16), 3840 + 400 + 400 + 1280),
    (SDPA, (5, 16), 3840 + 400 + 400 + 1280),
    (MHA, (5, 16), 3840 + 400 + 400 + 1280),
    # patch embedding: 16x16 / 4 = 4x4 = 16 patches, each 16 outputs x (3*4*4 = 48) weights;
    # attention on 16 tokens: qkv 16*16*48, q@kᵀ and a@v 2 * (2 heads * 16*16*8), proj 16*16*16;
    # MLP fc1 + fc2 2 * 16*16*32; head 16*10
    (ViTBlock, (3, 16, 16), 16 * 16 * 48 + 16 * 16 * 48 + 2 * 2 * 16 * 16 * 8 + 16 * 16 * 16
     + 2 * 16 * 16 * 32 + 16 * 10),
]


@pytest.mark.parametrize("cls, shape, macs", CASES, ids=[c[0].__name__ for c in CASES])
def test_onnx_attention_equals_the_capture_and_flop_counter(cls, shape, macs, tmp_path):
    torch.manual_seed(0)
    module = cls().eval()
    path = tmp_path / f"{cls.__name__}.onnx"
    _export(module, shape, path)
    onnx_a = cnnstat.analyze(from_onnx(path, "x".join(map(str, shape))))
    captured = cnnstat.analyze(from_torch(module, torch.randn(1, *shape)))
    assert onnx_a.totals.macs == captured.totals.macs == macs
    # FlopCounterMode with the CPU attention kernel's formula, without the fused fast path
    assert oracle.flop_counter_macs(module, torch.randn(1, *shape))[0] == macs
    assert onnx_a.totals.params == captured.totals.params == \
        sum(p.numel() for p in module.parameters())
    assert onnx_a.output_shapes == captured.output_shapes
    assert onnx_a.to_dict()["not_counted"] == []
    # attention is its own kind, equal in both imports
    by_kind = lambda a: a.totals.macs_by_kind["attention"]
    assert by_kind(onnx_a) == by_kind(captured) > 0
    # the batch scales every count (heads folded into the batch scale with it)
    onnx_4 = cnnstat.analyze(from_onnx(path, "x".join(map(str, shape))), batch=4)
    assert onnx_4.totals.macs == 4 * macs


def test_matmul_of_a_batch_first_and_a_folded_operand(tmp_path):
    """x (1, 4, 6) @ t (4, 6, 1), t the batch moved off the first axis (Transpose (1, 0, 2),
    then (0, 2, 1)): ONNX broadcasts to (4, 4, 1); 4*4*1 outputs x inner size 6 = 96 MACs."""
    from onnx import TensorProto, helper
    nodes = [helper.make_node("Transpose", ["x"], ["t1"], name="t1", perm=[1, 0, 2]),
             helper.make_node("Transpose", ["t1"], ["t2"], name="t2", perm=[0, 2, 1]),
             helper.make_node("MatMul", ["x", "t2"], ["y"], name="mm")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(
        "x", TensorProto.FLOAT, [1, 4, 6])], [helper.make_tensor_value_info(
            "y", TensorProto.FLOAT, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path = tmp_path / "mixed.onnx"
    path.write_bytes(model.SerializeToString())
    a = cnnstat.analyze(from_onnx(path))
    assert [r.op for r in a.records] == ["layout", "layout", "matmul"]
    assert a.record("t1").output_shape == (1, 4, 1, 6)        # folded: 1 x the ONNX shape
    assert a.record("mm").output_shape == (1, 4, 4, 1)
    assert a.totals.macs == a.totals.macs_by_kind["attention"] == 4 * 4 * 1 * 6
