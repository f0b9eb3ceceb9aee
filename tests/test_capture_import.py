"""The capture importer (cnnstat/importers/torch_capture.py), issue 13: every module that runs
imports; attention counted; parameters as the module holds them; inputs like torchinfo's.

Differential: MACs against FlopCounterMode (tests/oracle.py: conv + mm + addmm + bmm + sdpa
FLOPs / 2, the attention fast path off) on the same module instance; parameters and buffers
against the module's own tensors; shapes against the forward's output."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import cnnstat  # noqa: E402
from cnnstat.errors import CnnstatError, UsageError  # noqa: E402
from cnnstat.importers import from_torch  # noqa: E402
from tests import oracle  # noqa: E402


def contractions(a) -> int:
    """cnnstat's default MACs: convolution, linear and attention contractions."""
    k = a.totals.macs_by_kind
    return k["weight"] + k["attention"]


def held(module: nn.Module) -> tuple[int, int]:
    return oracle.tensor_counts(module)


def agree(module: nn.Module, input_size, inputs=None) -> "cnnstat.Analysis":
    """Import ``module``, and check MACs, parameters, buffers and output shapes against the
    oracles on the same instance."""
    a = cnnstat.analyze(from_torch(module, input_size if inputs is None else inputs))
    x = oracle.example_input(input_size) if inputs is None else inputs
    fig = oracle.figures(module, x)
    assert contractions(a) == fig.macs
    assert (a.totals.params, a.totals.buffers) == (fig.params, fig.buffers)
    assert [list(s) for s in a.output_shapes] == oracle.flat_shapes(fig.outputs)
    assert a.to_dict()["not_counted"] == []
    return a


# -- attention ------------------------------------------------------------------------------------

def test_vit_b_16_is_its_published_17_56_gflops():
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    model = torchvision.models.vit_b_16(weights=None).eval()
    a = agree(model, (3, 224, 224))
    # linear + patch embedding (see test_oracle): 16,732,895,232 + 115,605,504
    assert a.totals.macs_by_kind["weight"] == 16_848_500_736
    # 12 blocks x 12 heads x 197·197 x (64 + 64): Q·Kᵀ and A·V
    assert a.totals.macs_by_kind["attention"] == 12 * 12 * 197 * 197 * 128 == 715_327_488
    assert a.totals.macs == 17_563_828_224                 # torchvision's 17.56 GFLOPS
    mha = a.record("encoder.layers.encoder_layer_0.self_attention")
    assert mha.op == "multihead_attention" and mha.params == 4 * 768 * 768 + 4 * 768


@pytest.mark.parametrize("name", ["swin_t", "maxvit_t"])
def test_torchvision_attention_models_match_flopcountermode(name):
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    model = torchvision.models.get_model(name, weights=None).eval()
    a = agree(model, (3, 224, 224))
    assert a.totals.macs_by_kind["attention"] > 0


def test_the_same_attention_costs_the_same_written_either_way():
    class ByHand(nn.Module):
        def forward(self, q, k, v):
            return (q @ k.transpose(-2, -1) / 8).softmax(-1) @ v

    class Fused(nn.Module):
        def forward(self, q, k, v):
            return F.scaled_dot_product_attention(q, k, v)

    qkv = tuple(torch.randn(1, 4, 16, 8) for _ in range(3))
    by_hand = cnnstat.analyze(ByHand(), qkv)
    fused = cnnstat.analyze(Fused(), qkv)
    # 4 heads x 16·16 x (8 + 8) = 16,384 multiply-adds, either way
    assert contractions(by_hand) == contractions(fused) == 4 * 16 * 16 * 16
    assert fused.totals.macs_by_kind["attention"] == 16_384
    assert oracle.figures(Fused(), qkv).macs == 16_384


def test_count_weight_restricts_to_convolution_and_linear():
    torchvision = pytest.importorskip("torchvision")
    model = torchvision.models.vit_b_16(weights=None).eval()
    a = cnnstat.analyze(model, 224, count="weight")
    assert a.totals.macs == 16_848_500_736
    assert "attention" not in a.convention.describe().split("not counted")[0]


def test_heads_folded_into_the_batch_and_einsum():
    class Folded(nn.Module):
        def __init__(self):
            super().__init__()
            self.qkv = nn.Linear(32, 96)

        def forward(self, x):                       # x: B x L x 32, 4 heads of 8
            b, n, c = x.shape
            q, k, v = self.qkv(x).reshape(b, n, 3, 4, 8).permute(2, 0, 3, 1, 4).unbind(0)
            q, k, v = (t.reshape(b * 4, n, 8) for t in (q, k, v))
            attn = torch.bmm(q, k.transpose(1, 2)).softmax(-1)
            out = torch.einsum("bij,bjd->bid", attn, v)
            return out.reshape(b, 4, n, 8).transpose(1, 2).reshape(b, n, c)

    a = agree(Folded(), None, inputs=torch.randn(1, 10, 32))
    # qkv: 10·32·96 = 30,720; Q·Kᵀ and A·V: 4 heads x 10·10·8 each = 3,200 + 3,200
    assert a.totals.macs_by_kind["weight"] == 30_720
    assert a.totals.macs_by_kind["attention"] == 6_400


# -- parameters as the module holds them ----------------------------------------------------------

class BufferWeight(nn.Module):
    """TResNet's anti-aliasing: a fixed blur filter held as a buffer, used as a conv weight."""

    def __init__(self):
        super().__init__()
        self.register_buffer("filt", torch.ones(8, 1, 3, 3) / 9)
        self.conv = nn.Conv2d(3, 8, 1)

    def forward(self, x):
        return F.conv2d(self.conv(x), self.filt, stride=2, padding=1, groups=8)


class StdConv(nn.Conv2d):
    """NF-Nets' ScaledStdConv2d: the weight standardized with F.batch_norm, scaled by a gain."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.gain = nn.Parameter(torch.ones(self.out_channels, 1, 1, 1))

    def forward(self, x):
        w = F.batch_norm(self.weight.reshape(1, self.out_channels, -1), None, None,
                         training=True, momentum=0.0).reshape_as(self.weight)
        return F.conv2d(x, w * self.gain, self.bias, self.stride, self.padding)


class FunctionalNorm(nn.Module):
    """timm's BatchNormAct2d: a BatchNorm2d whose forward calls F.batch_norm itself."""

    def __init__(self):
        super().__init__()
        self.conv = StdConv(3, 16, 3, padding=1)
        self.bn = nn.BatchNorm2d(16)
        self.blur = BufferWeight()

    def forward(self, x):
        x = self.conv(x)
        x = F.relu(F.batch_norm(x, self.bn.running_mean, self.bn.running_var, self.bn.weight,
                                self.bn.bias))
        return self.blur(x[:, :3])


def test_buffers_as_weights_and_computed_weights_keep_the_parameter_check():
    model = FunctionalNorm().eval()
    a = agree(model, (3, 16, 16))
    conv = a.record("conv")
    # StdConv: weight 16·3·3·3 = 432, bias 16, gain 16: the module's 464, not the 448 a
    # plain conv of that weight holds
    assert conv.params == 464 and conv.macs_by_kind["weight"] == 16 * 16 * 16 * 27
    bn = a.record("bn")
    assert bn.op == "batchnorm2d" and bn.params == 32 and bn.macs_by_kind["norm"] == 16 * 256
    blur = a.record("blur.filt")
    # the blur filter is a buffer: 72 buffer values, no parameter; 8·8·8 outputs x 9 taps
    assert (blur.params, blur.buffers) == (0, 72) and blur.macs_by_kind["weight"] == 8 * 64 * 9


def test_tied_weights_count_once():
    class Tied(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Linear(16, 16, bias=False)

        def forward(self, x):
            return self.embed(self.embed(x)) @ self.embed.weight

    a = agree(Tied(), None, inputs=torch.randn(1, 16))
    assert a.totals.params == 256


# -- inputs and the module's state ---------------------------------------------------------------

class TwoInputs(nn.Module):
    def __init__(self):
        super().__init__()
        self.image = nn.Conv2d(3, 4, 3)
        self.text = nn.Embedding(100, 4)

    def forward(self, x, tokens=None):
        pooled = self.image(x).mean((2, 3))
        return pooled + self.text(tokens).mean(1)


def test_several_inputs_a_dict_and_integer_tensors():
    model = TwoInputs()
    x, tokens = torch.randn(1, 3, 8, 8), torch.randint(0, 100, (1, 5))
    a = cnnstat.analyze(model, (x, tokens))
    assert a.output_shapes == [(1, 4)]
    assert a.totals.params == sum(p.numel() for p in model.parameters())
    b = cnnstat.analyze(model, {"x": x, "tokens": tokens})
    assert b.totals.macs == a.totals.macs == 4 * 6 * 6 * 27


def test_the_training_flag_and_the_tensors_are_restored():
    torchvision = pytest.importorskip("torchvision")
    model = torchvision.models.resnet18(weights=None)
    model.train()
    model.layer1.eval()
    weight = model.conv1.weight
    flags = {name: m.training for name, m in model.named_modules()}
    cnnstat.analyze(model, 64)
    assert {name: m.training for name, m in model.named_modules()} == flags
    assert model.conv1.weight is weight and weight.device.type == "cpu"
    assert not weight.isnan().any()


def test_dict_outputs_of_segmentation_models():
    torchvision = pytest.importorskip("torchvision")
    a = cnnstat.analyze("torchvision:fcn_resnet50", input=128)
    assert [tuple(s) for s in a.output_shapes] == [(1, 21, 128, 128)]
    model = torchvision.models.get_model("fcn_resnet50", weights=None,
                                         weights_backbone=None).eval()
    fig = oracle.figures(model, oracle.example_input((3, 128, 128)))
    assert contractions(a) == fig.macs and a.totals.params == fig.params


def test_timm_source():
    pytest.importorskip("timm")
    a = cnnstat.analyze("timm:resnet18", args={"num_classes": 10})
    assert a.output_shapes == [(1, 10)] and a.input_shape == (3, 224, 224)
    with pytest.raises(UsageError, match="did you mean"):
        cnnstat.analyze("timm:resnet_18")


# -- forwards that cannot be analyzed: one error ------------------------------------------------

class Raises(nn.Module):
    def forward(self, x):
        raise ValueError("this model is broken")


class NeedsTwo(nn.Module):
    def forward(self, x, mask):
        return x * mask


class ReturnsText(nn.Module):
    def forward(self, x):
        return "hello"


@pytest.mark.parametrize("module, message", [
    (Raises(), "raised ValueError: this model is broken"),
    (NeedsTwo(), "cannot take the given inputs"),
    (ReturnsText(), "returned str, not tensors"),
])
def test_a_forward_that_cannot_run_is_one_error(module, message):
    with pytest.raises(CnnstatError, match=message):
        from_torch(module, 8)


def test_a_forward_that_never_ends_is_stopped():
    from cnnstat.importers.capture import CaptureTimeout, capture

    class Forever(nn.Module):
        def forward(self, x):
            while True:
                x = x + 1

    with pytest.raises(CaptureTimeout, match="did not finish"):
        capture(Forever(), (1, 3), timeout=0.5)
