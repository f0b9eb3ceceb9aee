"""The classic zoo models: LeNet-5, AlexNet, VGG, GoogLeNet, ResNet/ResNeXt/Wide ResNet, MobileNet V1.

Three kinds of checks:
- hand-derived figures (the arithmetic is in the comments) against cnnstat.analyze on the zoo;
- every torchvision-layout definition against the torchvision module built with random weights
  (hooks: parameters, buffers, conv + linear multiply-adds, output shapes) at its default input and
  at another size, and against torchvision's shipped metadata (num_params, _ops = GMACs);
- every other definition (the papers' layouts) built as a torch module by cnnstat's torch bridge
  and run: output shapes and parameter counts must agree with the static analysis.
"""

from __future__ import annotations

import pytest

import cnnstat
from cnnstat.errors import CnnstatError


def totals(name, **kwargs):
    return cnnstat.analyze(name, **kwargs).totals


def layer_sum(analysis, prefix, field="params"):
    return sum(getattr(r, field) for r in analysis.records
               if r.name == prefix or r.name.startswith(prefix + "."))


# --------------------------------------------------------------------------------------------
# VGG (Simonyan & Zisserman 2015, Table 1 and Table 2)
# --------------------------------------------------------------------------------------------
def conv_params(c_in, c_out, k=3):
    return k * k * c_in * c_out + c_out


def vgg_params(config, fc_in=512 * 7 * 7):
    """Parameters of a VGG configuration given as [[kernel, ...] per stage], widths 64..512."""
    widths = [64, 128, 256, 512, 512]
    total, c_in = 0, 3
    for kernels, c in zip(config, widths):
        for k in kernels:
            total += conv_params(c_in, c, k)
            c_in = c
    # FC-4096, FC-4096, FC-1000 with biases
    return total + fc_in * 4096 + 4096 + 4096 * 4096 + 4096 + 4096 * 1000 + 1000


VGG_CONFIGS = {
    "vgg-a": [[3], [3], [3, 3], [3, 3], [3, 3]],
    "vgg-b": [[3, 3], [3, 3], [3, 3], [3, 3], [3, 3]],
    "vgg-c": [[3, 3], [3, 3], [3, 3, 1], [3, 3, 1], [3, 3, 1]],
    "vgg-d": [[3, 3], [3, 3], [3, 3, 3], [3, 3, 3], [3, 3, 3]],
    "vgg-e": [[3, 3], [3, 3], [3, 3, 3, 3], [3, 3, 3, 3], [3, 3, 3, 3]],
}


@pytest.mark.parametrize("name", sorted(VGG_CONFIGS))
def test_vgg_paper_configurations_parameters(name):
    # e.g. D: 14,714,688 convolution parameters + 102,764,544 + 16,781,312 + 4,097,000 = 138,357,544
    assert totals(name).params == vgg_params(VGG_CONFIGS[name])


def test_vgg_table2_rounded_figures():
    # Table 2 (millions): A 133, B 133, C 134, D 138, E 144
    published = {"vgg-a": 133, "vgg-a-lrn": 133, "vgg-b": 133, "vgg-c": 134, "vgg-d": 138,
                 "vgg-e": 144}
    for name, millions in published.items():
        assert round(totals(name).params / 1e6) == millions, name


def test_vgg_c_uses_1x1_convolutions_and_a_lrn_adds_lrn():
    a = cnnstat.analyze("vgg-c")
    # stage 3's third convolution is conv1-256: 256*256*1*1 + 256 = 65,792 parameters
    r = a.record("stage.2.conv.2.conv")
    assert r.attrs["kernel"] == (1, 1) and r.params == 65_792
    # C - B = stage 3: conv1-256 (65,792) + stages 4, 5: 2 x conv1-512 (262,656)
    assert a.totals.params - totals("vgg-b").params == 65_792 + 2 * 262_656
    lrn = [r for r in cnnstat.analyze("vgg-a-lrn").records if r.op == "lrn"]
    assert [r.name for r in lrn] == ["stage.0.lrn"] and lrn[0].params == 0
    assert totals("vgg-a-lrn").params == totals("vgg-a").params


def test_vgg_paper_layout_has_no_adaptive_pool():
    # the paper's network: FC-4096 reads exactly 7x7x512, so another input size changes its weights
    a = cnnstat.analyze("vgg-d", input=256)
    assert a.record("classifier.fc1").params == 8 * 8 * 512 * 4096 + 4096
    assert a.records[-1].op == "softmax"
    # torchvision's pools to 7x7 first: same parameters at any size
    assert totals("vgg16", input=256).params == 138_357_544


def test_vgg16_macs():
    # convolutions: sum over layers of H*W*C_in*C_out*9 = 15,346,630,656; FC: 25088*4096 +
    # 4096*4096 + 4096*1000 = 123,633,664 → 15,470,264,320
    assert totals("vgg16").macs == 15_470_264_320 == totals("vgg-d").macs


# --------------------------------------------------------------------------------------------
# ResNet, ResNeXt, Wide ResNet
# --------------------------------------------------------------------------------------------
def test_resnet_paper_layout_moves_the_stride_to_the_first_1x1():
    a, b = cnnstat.analyze("resnet50"), cnnstat.analyze("resnet50-paper")
    assert b.record("layer2.0.conv1").attrs["stride"] == (2, 2)
    assert b.record("layer2.0.conv2").attrs["stride"] == (1, 1)
    assert a.record("layer2.0.conv1").attrs["stride"] == (1, 1)
    assert a.totals.params == b.totals.params == 25_557_032
    # The first 1x1 of conv3_1 reads 256 channels into 128 at 56x56 (v1.5) instead of 28x28:
    # 256*128*(56*56 - 28*28) = 77,070,336 more MACs; conv4_1 (512→256, 28² vs 14²) and conv5_1
    # (1024→512, 14² vs 7²) add the same. 3 * 77,070,336 = 231,211,008.
    assert a.totals.macs - b.totals.macs == 3 * 77_070_336
    assert b.totals.macs == 3_857_973_248          # Table 1: 3.8 x 10^9


def test_resnet_basic_block_paper_layout_is_torchvision():
    for depth in (18, 34):
        a, b = totals(f"resnet{depth}"), totals(f"resnet{depth}-paper")
        assert (a.params, a.macs) == (b.params, b.macs)
    # ResNet-18: conv1 7*7*3*64*112*112 = 118,013,952 MACs; total 1.81 x 10^9 (Table 1: 1.8)
    assert totals("resnet18").macs == 1_814_073_344


def test_resnext_grouped_width():
    a = cnnstat.analyze("resnext50_32x4d")
    # conv2_1's grouped 3x3: width = 4 per group x 32 groups = 128 channels; weights
    # 128 * (128/32) * 3*3 = 4,608
    r = a.record("layer1.0.conv2")
    assert r.attrs["groups"] == 32 and r.output_shape[1] == 128 and r.params == 4_608
    w = cnnstat.analyze("wide_resnet50_2")
    # Wide ResNet-50-2: the bottleneck's width doubles (128 in conv2_x), its output stays 256
    assert w.record("layer1.0.conv2").output_shape[1] == 128
    assert w.record("layer1.0.conv3").output_shape[1] == 256


# --------------------------------------------------------------------------------------------
# Differential tests against torchvision (random weights, no downloads)
# --------------------------------------------------------------------------------------------
TORCHVISION = {
    # zoo name: (torchvision builder kwargs, zoo --set overrides, another input size)
    "vgg11": ({}, {}, 160), "vgg11_bn": ({}, {}, 160), "vgg13": ({}, {}, 96),
    "vgg13_bn": ({}, {}, 96), "vgg16": ({}, {}, 160), "vgg16_bn": ({}, {}, 64),
    "vgg19": ({}, {}, 64), "vgg19_bn": ({}, {}, 64),
    "resnet18": ({}, {}, 160), "resnet34": ({}, {}, 97), "resnet50": ({}, {}, 160),
    "resnet101": ({}, {}, 128), "resnet152": ({}, {}, 96),
    "resnext50_32x4d": ({}, {}, 160), "resnext101_32x8d": ({}, {}, 96),
    "resnext101_64x4d": ({}, {}, 96), "wide_resnet50_2": ({}, {}, 128),
    "wide_resnet101_2": ({}, {}, 96),
}


def _compare_with_torchvision(name, builder_kwargs, overrides, sizes):
    from cnnstat.torch_bridge.reference import torch_counts, torchvision_model
    module = torchvision_model(name, **builder_kwargs)
    for size in sizes:
        ref = torch_counts(module, (3, size, size))
        a = cnnstat.analyze(name, input=size, set=overrides)
        got = (a.totals.params, a.totals.trainable_params, a.totals.buffers, a.totals.macs,
               a.output_shapes)
        want = (ref.params, ref.trainable_params, ref.buffers, ref.macs, ref.output_shapes)
        assert got == want, f"{name} at {size}x{size}"
        # layer by layer: the conv/linear modules in execution order
        ours = [(r.params, r.macs) for r in a.records if r.op in ("conv2d", "linear")]
        theirs = [(m.params, m.macs) for m in ref.modules if m.kind in ("Conv2d", "Linear")]
        assert ours == theirs, f"{name} at {size}x{size}: per-layer counts differ"


@pytest.mark.torch
@pytest.mark.parametrize("name", sorted(TORCHVISION))
def test_matches_torchvision(name):
    builder_kwargs, overrides, other = TORCHVISION[name]
    default = cnnstat.analyze(name).input_shape[1]
    _compare_with_torchvision(name, builder_kwargs, overrides, (default, other))


@pytest.mark.torch
@pytest.mark.parametrize("name", sorted(TORCHVISION))
def test_matches_torchvision_metadata(name):
    torchvision = pytest.importorskip("torchvision")
    meta = torchvision.models.get_model_weights(name).DEFAULT.meta
    t = totals(name)
    assert t.params == meta["num_params"]
    # torchvision's "_ops" is GFLOPS counted as conv + linear multiply-adds, 3 decimals
    assert round(t.macs / 1e9, 3) == pytest.approx(meta["_ops"], abs=1e-9)


# --------------------------------------------------------------------------------------------
# The papers' layouts through torch (cnnstat's torch bridge): shapes and parameters agree
# --------------------------------------------------------------------------------------------
PAPER_LAYOUTS = {
    # zoo name: (--set overrides, input size or None for the default)
    "vgg-a": ({}, None), "vgg-a-lrn": ({}, None), "vgg-c": ({}, None),
    "resnet50-paper": ({}, None), "resnet18-paper": ({}, 160),
}


@pytest.mark.torch
@pytest.mark.parametrize("name", sorted(PAPER_LAYOUTS))
def test_paper_layout_runs_in_torch(name):
    from cnnstat.torch_bridge.build import build_module
    from cnnstat.torch_bridge.reference import torch_counts
    from cnnstat.models import load_graph, parse_input, parse_sets
    overrides, size = PAPER_LAYOUTS[name]
    graph = load_graph(name, overrides=parse_sets(overrides), input_shape=parse_input(size))
    a = cnnstat.analyze_graph(graph)
    ref = torch_counts(build_module(graph), graph.input_shape)
    assert ref.output_shapes == a.output_shapes
    assert (ref.params, ref.trainable_params, ref.buffers) == (
        a.totals.params, a.totals.trainable_params, a.totals.buffers)
    # the hooks count the multiply-adds of nn.Conv2d / nn.Linear modules
    counted = sum(r.macs for r in a.records if r.op in ("conv2d", "linear"))
    assert ref.macs == counted


def test_bad_override_is_a_one_line_error():
    with pytest.raises(CnnstatError, match="unknown variable"):
        cnnstat.analyze("vgg16", set={"widht": 2})
