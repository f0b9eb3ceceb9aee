"""The oracle itself (tests/oracle.py) is checked: hand-derived attention and ViT figures, the two
traps of issue 13, and agreement between three unrelated counting mechanisms."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from tests import oracle  # noqa: E402

pytestmark = pytest.mark.torch


class Attention(nn.Module):
    def forward(self, q, k, v):
        return F.scaled_dot_product_attention(q, k, v)


def test_cpu_flash_attention_needs_the_custom_formula():
    q, k, v = torch.randn(2, 3, 5, 8), torch.randn(2, 3, 7, 8), torch.randn(2, 3, 7, 8)
    plain = FlopCounterMode(display=False)
    with plain:
        F.scaled_dot_product_attention(q, k, v)
    assert plain.get_total_flops() == 0             # the trap: torch has no CPU formula
    macs, by_op, out = oracle.flop_counter_macs(Attention(), (q, k, v))
    # Q·Kᵀ: B·H·L·S·E = 2·3·5·7·8 = 1,680; A·V: B·H·L·S·Ev = 2·3·5·7·8 = 1,680
    assert macs == 1680 + 1680 == 3360
    assert by_op == {"_scaled_dot_product_flash_attention_for_cpu": 3360}
    assert out.shape == (2, 3, 5, 8)
    assert oracle.formula_macs(Attention(), (q, k, v))[0] == 3360


def test_attention_on_the_math_path_counts_the_same():
    # a value width other than the query's sends CPU attention down the math path (two bmm),
    # which FlopCounterMode counts by itself: the custom formula must agree with it
    q, k, v = torch.randn(2, 3, 5, 8), torch.randn(2, 3, 7, 8), torch.randn(2, 3, 7, 4)
    macs, by_op, _ = oracle.flop_counter_macs(Attention(), (q, k, v))
    # 2·3·5·7·8 = 1,680 (Q·Kᵀ) + 2·3·5·7·4 = 840 (A·V)
    assert (macs, by_op) == (2520, {"bmm": 2520})
    assert oracle.formula_macs(Attention(), (q, k, v))[0] == 2520


def test_grouped_query_attention():
    q, k, v = torch.randn(1, 4, 6, 8), torch.randn(1, 2, 6, 8), torch.randn(1, 2, 6, 8)

    class Gqa(nn.Module):
        def forward(self, q, k, v):
            return F.scaled_dot_product_attention(q, k, v, enable_gqa=True)
    # 4 query heads over 2 key/value heads: 1·4·6·6·(8 + 8) = 2,304
    assert oracle.flop_counter_macs(Gqa(), (q, k, v))[0] == 2304
    assert oracle.formula_macs(Gqa(), (q, k, v))[0] == 2304


@pytest.fixture(scope="module")
def vit_b_16():
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    return torchvision.models.vit_b_16(weights=None).eval()


def test_vit_b_16_is_its_published_17_56_gflops(vit_b_16):
    x = oracle.example_input((3, 224, 224))
    fig = oracle.figures(vit_b_16, x)
    # patch embedding: 768 · 14·14 · (3·16·16)                       =    115,605,504
    # per block, linear layers over 197 tokens of 768:
    #   197·768·(2304 qkv + 768 proj + 3072 + 3072 MLP) = 1,394,343,936; x 12 = 16,732,127,232
    # head: 768 · 1000 = 768,000                  → addmm total              16,732,895,232
    # attention: 12 heads · 197·197 · (64 + 64) = 59,610,624 per block; x 12 =   715,327,488
    assert fig.macs_by_op == {"convolution": 115_605_504, "addmm": 16_732_895_232,
                              "_scaled_dot_product_flash_attention_for_cpu": 715_327_488}
    assert fig.macs == 17_563_828_224
    assert (fig.params, fig.buffers, fig.outputs) == (86_567_656, 0, [1, 1000])


def test_the_fused_fast_path_is_not_counted_and_is_avoided(vit_b_16):
    x = oracle.example_input((3, 224, 224))
    trapped = oracle.flop_counter_macs(vit_b_16, x, how="fast_path")[0]
    # under no_grad nn.MultiheadAttention runs aten._native_multi_head_attention, which nothing
    # counts: only the MLPs, the patch embedding and the head remain (issue 13's 11.27 G)
    assert trapped == 11_271_124_992
    assert oracle.flop_counter_macs(vit_b_16, x, how="no_grad")[0] == 17_563_828_224
    assert oracle.flop_counter_macs(vit_b_16, x, how="grad")[0] == 17_563_828_224


def test_three_oracles_agree_on_vit_b_16(vit_b_16):
    x = oracle.example_input((3, 224, 224))
    assert oracle.formula_macs(vit_b_16, x)[0] == 17_563_828_224
    total, by_op = oracle.fvcore_macs(vit_b_16, x)
    assert total == 17_563_828_224
    assert by_op["scaled_dot_product_attention"] == 715_327_488


# torchvision models of issue 13, measured by FlopCounterMode (fast path off) and required to
# agree with the formula oracle: the figures are recorded here to catch a change in either
# (torchvision's model cards: swin_t 4.491 GFLOPS, 28,288,354 parameters; maxvit_t 5.558 GFLOPS,
# 30,919,624 parameters; their GFLOPS are MACs)
SWIN_T_MACS = 4_490_566_656
MAXVIT_T_MACS = 5_558_046_720


@pytest.mark.parametrize("name, macs, params", [("swin_t", SWIN_T_MACS, 28_288_354),
                                                ("maxvit_t", MAXVIT_T_MACS, 30_919_624)])
def test_swin_t_and_maxvit_t(name, macs, params):
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    model = torchvision.models.get_model(name, weights=None).eval()
    x = oracle.example_input((3, 224, 224))
    fig = oracle.figures(model, x)
    assert (fig.macs, fig.params, fig.outputs) == (macs, params, [1, 1000])
    assert oracle.formula_macs(model, x)[0] == macs
    # swin_t: attention is q @ k.transpose (bmm, with the relative position bias added) and
    # attn @ v; maxvit_t: einsum-free matmuls, also bmm
    assert fig.macs_by_op["bmm"] > 0


def test_timm_vit_tiny_and_fvcore_on_cnns():
    timm = pytest.importorskip("timm")
    torch.manual_seed(0)
    vit = timm.create_model("vit_tiny_patch16_224", pretrained=False).eval()
    x = oracle.example_input((3, 224, 224))
    fig = oracle.figures(vit, x)
    # patch embedding 192·14·14·768 = 28,901,376; blocks 12 · 197·192·(576 + 192 + 768 + 768)
    # = 1,045,757,952, head 192·1000 = 192,000; attention 12 · 3 heads · 197² · (64 + 64)
    # = 178,831,872
    assert fig.macs == 28_901_376 + 1_045_757_952 + 192_000 + 178_831_872 == 1_253_683_200
    assert oracle.fvcore_macs(vit, x)[0] == fig.macs
    for name in ("resnet50", "convnext_atto", "mobilevit_xxs"):
        model = timm.create_model(name, pretrained=False).eval()
        size = model.pretrained_cfg["input_size"]
        x = oracle.example_input(size)
        assert oracle.fvcore_macs(model, x)[0] == oracle.figures(model, x).macs, name


class TiedAndBuffered(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(4, 4)
        self.b = nn.Linear(4, 4)
        self.b.weight = self.a.weight
        self.register_buffer("filt", torch.ones(4, 1, 3))

    def forward(self, x):
        y = self.b(self.a(x)).unsqueeze(-1).expand(-1, -1, 5)
        return {"y": F.conv1d(y, self.filt, groups=4), "pair": (x, None)}


def test_params_buffers_and_output_structure():
    fig = oracle.figures(TiedAndBuffered(), torch.randn(2, 4))
    assert fig.params == 16 + 4 + 4                 # the tied 4x4 weight once, two biases
    assert fig.buffers == 12
    assert fig.outputs == {"y": [2, 4, 3], "pair": [[2, 4], None]}
    # linear a and b: 2·4·4 each; conv1d: 2·4·3 outputs · 1·3 taps
    assert fig.macs == 32 + 32 + 72
