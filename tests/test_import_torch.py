"""PyTorch models imported by capture (running the forward): torchvision's parameter counts, the conv + linear
multiply-adds of the running module (forward hooks, fvcore) and output shapes, exactly; tied
weights counted once; calls without a rule listed as not counted; clear errors."""

from __future__ import annotations

import json
import textwrap
import warnings

import pytest

import cnnstat
from cnnstat.importers import from_torch
from cnnstat.errors import CnnstatError, UsageError

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")
pytestmark = pytest.mark.torch

from torch import nn  # noqa: E402

# A representative set: residual, inception, depthwise + SE + hard-swish, MBConv + stochastic
# depth, dense concatenation, channel split + shuffle, fire modules, RegNet's SE, ConvNeXt's
# channels-last MLP with layer scale and LayerNorm2d, MNASNet's mean pooling, AlexNet's LRN-free
# classic.
DEFAULT = ["resnet50", "googlenet", "inception_v3", "mobilenet_v3_large", "efficientnet_b0",
           "densenet121", "shufflenet_v2_x1_0", "squeezenet1_0", "regnet_y_400mf",
           "convnext_tiny", "mnasnet0_5", "alexnet"]


def reference(name: str, shape, train: bool = False, **kwargs):
    """torchvision's module on the meta device, measured with forward hooks (conv + linear MACs
    from the shapes the hooks see), in eval mode (``train``: training mode, batch 2). Inception
    v3 keeps its AuxLogits (torchvision's published configuration), which run in training only."""
    from tests.oracles.reference import torch_counts
    import inspect
    if name == "googlenet":
        kwargs.setdefault("aux_logits", False)
        kwargs.setdefault("init_weights", False)
    if "weights_backbone" in inspect.signature(torchvision.models.get_model_builder(name)).parameters:
        kwargs["weights_backbone"] = None         # no download
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            with torch.device("meta"):
                module = torchvision.models.get_model(name, weights=None, **kwargs)
        except (RuntimeError, NotImplementedError):   # RegNet computes its widths with tensors
            from cnnstat.importers.torch_models import meta_parameters
            with meta_parameters():
                module = torchvision.models.get_model(name, weights=None, **kwargs)
    return torch_counts(module, shape, device="meta", train=train, batch=2 if train else 1)


def check_against_torchvision(name: str) -> None:
    a = cnnstat.analyze(f"torchvision:{name}")
    ref = reference(name, a.input_shape)
    assert a.totals.params == ref.params, name
    if any("on parameters only" in w for w in a.graph.meta.get("warnings", ())):
        # Swin V2 computes its position bias with an MLP on a parameter table: that work is
        # stated as not counted, so cnnstat's total is below the hooks'
        assert a.totals.macs < ref.macs, name
    else:
        assert a.totals.macs == ref.macs, name
    assert [tuple(s) for s in a.output_shapes] == [tuple(s) for s in ref.output_shapes], name


@pytest.mark.parametrize("name", DEFAULT)
def test_torchvision_params_macs_and_output_shape(name):
    check_against_torchvision(name)


def classification_models() -> list[str]:
    return sorted(torchvision.models.list_models(module=torchvision.models))


@pytest.mark.slow
@pytest.mark.parametrize("name", classification_models())
def test_every_torchvision_classification_model(name):
    check_against_torchvision(name)


def test_published_numbers():
    # torchvision's model cards: ResNet-50 25,557,032 params, 4.09 GFLOPS (their GFLOPS are MACs)
    a = cnnstat.analyze("torchvision:resnet50")
    assert (a.totals.params, a.totals.macs) == (25_557_032, 4_089_184_256)
    # Inception v3 (published with its AuxLogits): 27,161,264 params, 5.71 GFLOPS in eval mode
    # (the head runs in training only: 5,683,200 more MACs with --train)
    a = cnnstat.analyze("torchvision:inception_v3")
    assert (a.totals.params, a.totals.macs) == (27_161_264, 5_713_216_096)
    assert cnnstat.analyze("torchvision:inception_v3", train=True).totals.macs == \
        5_713_216_096 + 5_683_200


def test_fvcore_agrees_on_an_imported_model():
    """fvcore counts one 'flop' per multiply-add; its conv + linear part is cnnstat's MACs."""
    from fvcore.nn import FlopCountAnalysis
    torch.manual_seed(0)
    model = torchvision.models.mobilenet_v3_small(weights=None).eval()
    counts = FlopCountAnalysis(model, torch.zeros(1, 3, 96, 96))
    counts.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    by_op = counts.by_operator()
    weight = by_op.get("conv", 0) + by_op.get("addmm", 0) + by_op.get("linear", 0)
    assert cnnstat.analyze(from_torch(model, 96)).totals.macs == weight


def test_names_are_module_paths_and_depth_collapses_blocks():
    a = cnnstat.analyze("torchvision:resnet18")
    names = [r.name for r in a.records]
    assert names[:4] == ["conv1", "bn1", "relu", "maxpool"]
    assert "layer1.0.conv1" in names and "layer1.0.add" in names
    # BasicBlock calls its ReLU module twice: two layers, no parameters either way
    assert "layer1.0.relu" in names and "layer1.0.relu_1" in names
    from cnnstat.render.rows import rows
    collapsed = rows(a, depth=2)
    block = next(r for r in collapsed if r.name == "layer2.0")
    # layer2.0: conv 64->128 3x3 (73,728) + bn (256) + conv 128->128 3x3 (147,456) + bn (256)
    #           + downsample conv 1x1 (8,192) + bn (256) = 230,144
    assert block.params == 230_144 and block.op == "BasicBlock"


def test_channel_shuffle_and_chunk_patterns():
    a = cnnstat.analyze("torchvision:shufflenet_v2_x0_5")
    ops = {r.name: r.op for r in a.records}
    assert ops["stage2.0.channel_shuffle"] == "channel_shuffle"
    assert ops["stage2.1.chunk.0"] == ops["stage2.1.chunk.1"] == "chunk"
    assert not [r for r in a.records if r.op == "not_counted"]
    assert a.record("stage2.0.channel_shuffle").attrs["groups"] == 2


def test_convnext_channels_last_region_keeps_receptive_fields():
    a = cnnstat.analyze("torchvision:convnext_tiny")
    ops = {r.name: r.op for r in a.records}
    # Permute -> LayerNorm -> Linear -> GELU -> Linear -> Permute stays N x C x H x W
    assert ops["features.1.0.block.2"] == "layernorm2d"
    assert ops["features.1.0.block.3"] == "channel_linear"
    assert ops["features.1.0.layer_scale"] == "scale"
    assert ops["features.1.0.stochastic_depth"] == "stochastic_depth"
    # stem 4x4/4 then the 7x7 depthwise conv: RF 4 + 6*4 = 28, the MLP is pointwise
    assert a.record("features.1.0.block.0").rf.h.size == 28
    assert a.record("features.1.0.block.5").rf.h.size == 28
    assert a.record("features.1.0.block.3").output_shape == (1, 384, 56, 56)


# -- user models --------------------------------------------------------------------------------
class Tied(nn.Module):
    """One convolution applied twice (shared weights) and a tied linear layer."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)
        self.head = nn.Linear(3, 3)
        self.tail = nn.Linear(3, 3)
        self.tail.weight = self.head.weight           # tied, as a language model's embeddings
        self.tail.bias = self.head.bias

    def forward(self, x):
        x = self.conv(self.conv(x))
        x = x.mean((2, 3))
        return self.tail(self.head(x))


def test_tied_weights_count_once():
    g = from_torch(Tied(), 8)
    a = cnnstat.analyze(g)
    # conv 3->3 3x3 with bias: 84 params; linear 3->3: 12; torch.nn's own count
    assert a.totals.params == sum(p.numel() for p in Tied().parameters()) == 84 + 12
    assert a.record("conv_1").shares == "conv" and a.record("tail").shares == "head"
    # the work is done twice: 2 * (3*8*8*27) conv MACs + 2 * 9 linear MACs
    assert a.totals.macs == 2 * 3 * 8 * 8 * 27 + 2 * 9


class Scaled(nn.Module):
    """A module whose forward multiplies by a learned tensor in a way no rule covers."""
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(8, 16, 16))

    def forward(self, x):
        return torch.cummax(x * 1.0, dim=3).values * self.weight.sum()


class Unruly(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.norm = nn.GroupNorm(2, 8)          # F.group_norm: a norm rule, one op per element
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        x = torch.cumprod(self.conv(x), dim=2)   # no rule
        x = self.norm(x)
        return self.fc(x.mean((2, 3)))


def test_calls_without_a_rule_are_listed_as_not_counted():
    a = cnnstat.analyze(from_torch(Unruly(), 16))
    missing = {r.name: r for r in a.records if r.op == "not_counted"}
    assert set(missing) == {"cumprod"}
    assert missing["cumprod"].output_shape == (1, 8, 16, 16) and missing["cumprod"].macs == 0
    # GroupNorm (F.group_norm) holds its 16 parameters; one "norm" operation per element
    norm = next(r for r in a.records if r.name == "norm")
    assert norm.op == "pointwise" and norm.params == 16
    assert norm.macs_by_kind["norm"] == 8 * 16 * 16
    assert a.totals.params == sum(p.numel() for p in Unruly().parameters())
    d = a.to_dict()
    assert [x["name"] for x in d["not_counted"]] == ["cumprod"]
    from cnnstat.render.facts import facts
    line = dict(facts(a))["not counted"]
    assert "torch.cumprod" in line
    # fields after an unknown call are marked inexact
    assert not a.record("fc").rf.exact or a.record("fc").rf.whole


class Branchy(nn.Module):
    def forward(self, x):
        if x.sum() > 0:                           # data-dependent control flow
            return x
        return -x


def test_data_dependent_control_flow_imports_on_real_tensors():
    # torch.fx refused this ("control flow"); the capture runs it: meta tensors have no values,
    # so it runs again on real ones, and says so
    graph = from_torch(Branchy(), 8)
    assert graph.meta["capture"] == "cpu"
    assert any("real tensors" in w for w in graph.meta["warnings"])
    a = cnnstat.analyze(graph)
    assert [r.op for r in a.records] == ["pointwise"] and a.output_shapes == [(1, 3, 8, 8)]


def test_training_only_heads_are_found_by_a_training_trace():
    """GoogLeNet runs aux1/aux2 only ``if self.training``: traced in eval mode they are unused,
    so the importer traces again in training mode and marks their layers training-only."""
    a = cnnstat.analyze("torchvision:googlenet", args={"aux_logits": True})
    net = cnnstat.analyze("torchvision:googlenet")
    # 6,624,904: torchvision's model card (GoogLeNet, published without its auxiliary heads)
    assert net.totals.params == 6_624_904 and not net.train_only
    assert a.totals.params == 13_004_888                 # torchvision's class default
    assert sorted(a.train_only_heads) == ["aux1", "aux2"]
    assert len(a.output_shapes) == 1 and a.totals.macs == net.totals.macs
    assert not a.graph.meta.get("warnings")              # no parameter left unused
    assert "second capture in training mode" in a.graph.meta["traced"]
    training = cnnstat.analyze("torchvision:googlenet", args={"aux_logits": True}, train=True,
                               batch=2)
    ref = reference("googlenet", (3, 224, 224), train=True, aux_logits=True)
    assert (training.totals.params, training.totals.macs) == (ref.params, ref.macs)
    assert sorted(training.output_shapes) == sorted(ref.output_shapes)   # logits, aux2, aux1
    # the module's own modes are left as they were
    module = torchvision.models.googlenet(weights=None, aux_logits=True, init_weights=False)
    module.train()
    cnnstat.analyze(module)
    assert all(m.training for m in module.modules())


def test_parameters_no_trace_uses_are_reported():
    class Spare(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 4, 3)
            self.spare = torch.nn.Linear(4, 4)           # never called, in either mode

        def forward(self, x):
            return self.conv(x)
    a = cnnstat.analyze(Spare(), input=8)
    assert a.totals.params == 3 * 4 * 9 + 4 and not a.train_only
    assert any("20 parameters are not used by the forward" in w
               for w in a.graph.meta["warnings"])


def test_python_file_and_module_references(tmp_path, monkeypatch):
    src = tmp_path / "mynet.py"
    src.write_text(textwrap.dedent("""
        import torch.nn as nn

        class MyNet(nn.Module):
            def __init__(self, width=8, classes=10):
                super().__init__()
                self.body = nn.Sequential(nn.Conv2d(1, width, 3), nn.ReLU(),
                                          nn.AdaptiveAvgPool2d(1), nn.Flatten())
                self.fc = nn.Linear(width, classes)

            def forward(self, x):
                return self.fc(self.body(x))

        def factory(width=4):
            return MyNet(width, 3)

        def create_model(model_name, **kwargs):      # a registry's factory, as timm's
            return {"tiny": factory}[model_name](**kwargs)
    """))
    # conv 1->16 3x3 + bias: 160; linear 16->10: 170
    a = cnnstat.analyze(f"{src}:MyNet", "1x28x28", args={"width": 16})
    assert a.totals.params == 160 + 170 and a.output_shapes == [(1, 10)]
    monkeypatch.syspath_prepend(str(tmp_path))
    b = cnnstat.analyze("mynet:factory", "1x28x28")
    assert b.totals.params == 4 * 9 + 4 + 4 * 3 + 3
    # titles: a class by where it came from; a registry's factory by the network it was asked
    # for (not "create_model — create_model from timm")
    assert (a.name, a.graph.meta["title"]) == ("MyNet", "from mynet.py")
    assert (b.name, b.graph.meta["title"]) == ("factory", "MyNet from mynet")
    c = cnnstat.analyze("mynet:create_model", "1x28x28", args={"model_name": "tiny", "width": 2})
    assert (c.name, c.graph.meta["title"]) == ("tiny", "mynet.create_model(model_name='tiny')")
    assert c.totals.params == 2 * 9 + 2 + 2 * 3 + 3
    with pytest.raises(UsageError, match="has no 'MyNot'.*MyNet"):
        cnnstat.analyze(f"{src}:MyNot")
    with pytest.raises(UsageError, match="cannot build"):
        cnnstat.analyze(f"{src}:MyNet", args={"depth": 3})


def test_builder_arguments_and_bad_names():
    a = cnnstat.analyze("torchvision:resnet18", 64, args={"num_classes": 10})
    assert a.output_shapes == [(1, 10)]
    with pytest.raises(UsageError, match="did you mean 'resnet50'"):
        cnnstat.analyze("torchvision:resnet5O")
    with pytest.raises(UsageError, match="does not download"):
        cnnstat.analyze("torchvision:resnet18", args={"weights": "DEFAULT"})
    with pytest.raises(UsageError, match="--arg passes arguments"):
        cnnstat.analyze("resnet18", args={"num_classes": 10})


def test_segmentation_model_with_interpolate_and_dict_output():
    a = cnnstat.analyze("torchvision:lraspp_mobilenet_v3_large", 128)
    assert a.output_shapes == [(1, 21, 128, 128)]
    ref = reference("lraspp_mobilenet_v3_large", (3, 128, 128))
    assert (a.totals.params, a.totals.macs) == (ref.params, ref.macs)
    assert any(r.op == "upsample" for r in a.records)


def test_input_size_follows_torchvision_weights():
    assert cnnstat.analyze("torchvision:inception_v3").input_shape == (3, 299, 299)
    assert cnnstat.analyze("torchvision:resnet18").input_shape == (3, 224, 224)
    assert cnnstat.analyze("torchvision:resnet18", 96).input_shape == (3, 96, 96)


def test_imported_graph_rebuilds_and_runs():
    """The imported graph is an ordinary cnnstat graph: the torch builder makes a module with the
    same parameters, which runs to the same output shape."""
    from cnnstat.torch_bridge.build import build_module, example_input
    g = from_torch(Tied(), 8)
    m = build_module(g)
    assert sum(p.numel() for p in m.parameters()) == cnnstat.analyze(g).totals.params
    assert tuple(m(example_input(g)).shape) == (1, 3)


def test_json_of_an_imported_model(capsys):
    from cnnstat.cli import main
    assert main(["params", "torchvision:squeezenet1_1", "--input", "64", "--format", "json",
                 "--arg", "num_classes=7"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["outputs"][0]["shape"] == [1, 7] and d["not_counted"] == []


def test_analyze_accepts_a_module_instance():
    torch.manual_seed(0)
    model = Tied()
    a = cnnstat.analyze(model, 8)
    assert a.input_shape == (3, 8, 8) and a.totals.params == 96


class HalfShuffle(nn.Module):
    """Starts like a channel shuffle (view to groups) but sums the groups instead."""

    def forward(self, x):
        n, c, h, w = x.shape
        return x.view(n, 2, c // 2, h, w).sum(1)


def test_a_pattern_that_does_not_complete_gets_rank_generic_rules():
    a = cnnstat.analyze(HalfShuffle(), "4x6x6")
    view, total = a.records
    assert (view.op, view.output_shape) == ("layout", (1, 2, 2, 6, 6))
    assert (total.op, total.output_shape) == ("reduction", (1, 2, 6, 6))
    assert total.macs_by_kind["pool"] == 4 * 6 * 6 and not a.to_dict()["not_counted"]
