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
from cnnstat.errors import CnnstatError, InputSizeError


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
    # the paper's network: FC-4096 has weights for exactly 7x7x512, so another input size is
    # refused (pool5 gives floor(256 / 32) = 8: 8x8x512), not a network with other weights
    with pytest.raises(InputSizeError, match=r"layer classifier.fc1 needs 25,088 input features "
                       r"\(512x7x7\), gets 32,768 \(512x8x8\) at 256x256"):
        cnnstat.analyze("vgg-d", input=256)
    a = cnnstat.analyze("vgg-d")
    assert a.record("classifier.fc1").params == 7 * 7 * 512 * 4096 + 4096
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
    # Table 1: 3.8 x 10^9; exactly torchvision's 4,089,184,256 (its model card's 4.09 GFLOPS, in
    # MACs) less the 3 x 77,070,336 above
    assert b.totals.macs == 4_089_184_256 - 3 * 77_070_336 == 3_857_973_248


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
# LeNet-5 (LeCun et al. 1998, section II-B)
# --------------------------------------------------------------------------------------------
LENET5 = {
    # layer: (trainable parameters, connections), with the paper's arithmetic
    "C1": (156, 122_304),     # 6*(5*5+1) = 156; 6*28*28*(25+1) = 122,304
    "S2": (12, 5_880),        # 6*(1 coefficient + 1 bias); 6*14*14*(2*2+1) = 5,880
    "C3": (1_516, 151_600),   # 60 pairs*25 + 16 biases = 1,516; 1,516*10*10 = 151,600
    "S4": (32, 2_000),        # 16*2; 16*5*5*(4+1) = 2,000
    "C5": (48_120, 48_120),   # 120*(16*25+1) on a 1x1 output
    "F6": (10_164, 10_164),   # 84*(120+1)
}


def test_lenet5_reproduces_the_papers_six_figures():
    a = cnnstat.analyze("lenet5")
    got = {name: (a.record(name).trainable_params, a.record(name).connections) for name in LENET5}
    assert got == LENET5
    table = a.record("C3").attrs["table"]
    assert len(table) == 16 and sum(len(row) for row in table) == 60
    # RBF: 10 x 84 fixed prototypes, 840 connections; in all 60,000 trainable parameters and
    # 340,908 connections (section II-B)
    out = a.record("OUTPUT")
    assert (out.params, out.trainable_params, out.connections) == (840, 0, 840)
    assert (a.totals.trainable_params, a.totals.connections) == (60_000, 340_908)
    assert a.output_shapes == [(1, 10)]


def test_lenet5_modern():
    # 6*(25+1) + 16*(6*25+1) + 120*(400+1) + 84*(120+1) + 10*(84+1) = 61,706
    a = cnnstat.analyze("lenet5-modern")
    assert a.totals.params == 156 + 2_416 + 48_120 + 10_164 + 850 == 61_706
    assert not {"tanh", "subsample", "partial_conv2d", "rbf"} & {r.op for r in a.records}


# --------------------------------------------------------------------------------------------
# AlexNet (Krizhevsky et al. 2012)
# --------------------------------------------------------------------------------------------
def test_alexnet_paper_layers():
    a = cnnstat.analyze("alexnet-paper")
    assert a.input_shape == (3, 227, 227)
    params = {r.name: r.params for r in a.records if r.params}
    assert params == {
        "conv1": 11 * 11 * 3 * 96 + 96,             # 34,944
        "conv2": 5 * 5 * 48 * 256 + 256,            # two groups: 48 input maps each, 307,456
        "conv3": 3 * 3 * 256 * 384 + 384,           # reads both GPUs: 885,120
        "conv4": 3 * 3 * 192 * 384 + 384,           # 663,936
        "conv5": 3 * 3 * 192 * 256 + 256,           # 442,624
        "fc6": 6 * 6 * 256 * 4096 + 4096,           # 37,752,832
        "fc7": 4096 * 4096 + 4096,
        "fc8": 4096 * 1000 + 1000,
    }
    assert a.totals.params == 60_965_224            # "60 million parameters"
    neurons = [r.activations for r in a.records if r.op in ("conv2d", "linear")]
    # Figure 2: 55*55*96 (printed 253,440), 27*27*256, 13*13*384 twice, 13*13*256, 4096, 4096, 1000
    assert neurons == [290_400, 186_624, 64_896, 64_896, 43_264, 4096, 4096, 1000]
    assert sum(neurons) == 659_272                   # "650,000 neurons"
    assert [r.name for r in a.records if r.op == "lrn"] == ["norm1", "norm2"]


def test_alexnet_paper_needs_227():
    # at the paper's stated 224: conv1 gives floor((224 - 11)/4) + 1 = 54, pool5 a 5x5x256 map
    # where fc6 has weights for 6x6x256: refused, naming the sizes that give 6x6 (227 ... 258)
    with pytest.raises(InputSizeError, match=r"alexnet-paper's fixed-size layers take inputs of "
                       r"227 to 258 pixels a side: layer fc6 needs 9,216 input features "
                       r"\(256x6x6\), gets 6,400 \(256x5x5\) at 224x224"):
        cnnstat.analyze("alexnet-paper", input=224)


# --------------------------------------------------------------------------------------------
# GoogLeNet (Szegedy et al. 2015, Table 1)
# --------------------------------------------------------------------------------------------
def test_googlenet_paper_inception_3a():
    a = cnnstat.analyze("googlenet-paper", set={"aux_logits": False})
    # weights: 192*64 + 192*96 + 96*9*128 + 192*16 + 16*25*32 + 192*32 = 163,328 (Table 1: 159K,
    # K = 1024); biases 64 + 96 + 128 + 16 + 32 + 32 = 368
    assert layer_sum(a, "inception3a") == 163_328 + 368
    assert a.record("inception3a.0.concat").output_shape == (1, 256, 28, 28)
    # the paper's true 5x5 branch against torchvision's 3x3
    assert a.record("inception3a.0.branch3.1.conv").attrs["kernel"] == (5, 5)
    tv = cnnstat.analyze("googlenet")
    assert tv.record("inception3a.0.branch3.1.conv").attrs["kernel"] == (3, 3)
    # ops: 163,328 weights x 28*28 positions = 128,049,152 multiply-adds (Table 1: 128M)
    assert layer_sum(a, "inception3a", "macs") == 128_049_152
    assert [r.name for r in a.records if r.op == "lrn"] == ["norm1", "norm2"]
    assert a.record("maxpool4").attrs["kernel"] == (3, 3)
    assert tv.record("maxpool4").attrs["kernel"] == (2, 2)


def test_googlenet_aux_logits():
    plain, aux = cnnstat.analyze("googlenet"), cnnstat.analyze("googlenet", set={"aux_logits": True})
    training = cnnstat.analyze("googlenet", set={"aux_logits": True}, train=True)
    assert plain.totals.params == 6_624_904 and len(plain.output_shapes) == 1
    # each head: 1x1 conv 512→128 (or 528→128) without bias + BN (2*128), FC 2048→1024, FC 1024→1000
    head = lambda c: c * 128 + 256 + 2048 * 1024 + 1024 + 1024 * 1000 + 1000
    assert aux.totals.params - plain.totals.params == head(512) + head(528) == 6_379_984
    assert training.totals.params == aux.totals.params
    assert aux.graph.outputs == ("fc", "aux1.fc2", "aux2.fc2")
    assert list(aux.train_only_heads) == ["aux1", "aux2"]
    # the heads run in training only: at inference the totals are the head-less network's
    assert aux.output_shapes == [(1, 1000)] and aux.totals.macs == plain.totals.macs
    assert training.output_shapes == [(1, 1000)] * 3
    # each head's work: adaptive pool to 4x4, conv 1x1 c→128 on 4x4 (c*128*16), FC 2048*1024,
    # FC 1024*1000: 512*128*16 + 2,097,152 + 1,024,000 = 4,169,728; 528*... = 4,202,496
    work = lambda c: c * 128 * 16 + 2048 * 1024 + 1024 * 1000
    assert training.totals.macs - plain.totals.macs == work(512) + work(528) == 8_372_224


# --------------------------------------------------------------------------------------------
# MobileNet V1 (Howard et al. 2017, Tables 6 and 7)
# --------------------------------------------------------------------------------------------
def test_mobilenet_v1_tables_6_and_7():
    # (alpha, resolution): (million mult-adds, million parameters) as printed
    published = {(1.0, 224): (569, 4.2), (0.75, 224): (325, 2.6), (0.5, 224): (149, 1.3),
                 (0.25, 224): (41, 0.5), (1.0, 192): (418, 4.2), (1.0, 128): (186, 4.2)}
    for (alpha, res), (macs, params) in published.items():
        t = totals("mobilenet_v1", set={"alpha": alpha}, input=res)
        assert round(t.macs / 1e6) == macs and round(t.params / 1e6, 1) == params, (alpha, res)
    # 1.0 MobileNet-160: 290,675,200 multiply-adds, printed 290 (not 291): see cnnstat paper
    assert totals("mobilenet_v1", input=160).macs == 290_675_200


def test_mobilenet_v1_width_and_resolution():
    a = cnnstat.analyze("mobilenet_v1", set={"alpha": 0.5}, input=160)
    # conv0: 3x3x3x16 on 80x80; the last pointwise layer 512→512 channels on 5x5
    assert a.record("conv0.conv").output_shape == (1, 16, 80, 80)
    assert a.record("conv13.pointwise.conv").output_shape == (1, 512, 5, 5)
    assert a.totals.params == totals("mobilenet_v1_050").params == 1_331_592
    # depthwise: groups = channels, 3*3 weights per channel
    dw = a.record("conv1.depthwise.conv")
    assert dw.attrs["groups"] == 16 and dw.params == 16 * 9
    assert totals("mobilenet_v1", set={"resolution": 160}).macs == 290_675_200


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
    "alexnet": ({}, {}, 160),
    "googlenet": ({"aux_logits": False, "init_weights": True}, {}, 160),
}


def _compare_with_torchvision(name, builder_kwargs, overrides, sizes):
    """The module is built with random weights; the hooks only need shapes, so it runs on the
    meta device (no arithmetic): the same modules, shapes and counts, in a fraction of the time."""
    from tests.oracles.reference import torch_counts, torchvision_model
    module = torchvision_model(name, **builder_kwargs)
    for size in sizes:
        ref = torch_counts(module, (3, size, size), device="meta")
        a = cnnstat.analyze(name, input=size, set=overrides)
        got = (a.totals.params, a.totals.trainable_params, a.totals.buffers, a.totals.macs,
               a.output_shapes)
        want = (ref.params, ref.trainable_params, ref.buffers, ref.macs, ref.output_shapes)
        assert got == want, f"{name} at {size}x{size}"
        # layer by layer: the conv/linear modules in execution order
        ours = [(r.params, r.macs) for r in a.records if r.op in ("conv2d", "linear")]
        theirs = [(m.params, m.macs) for m in ref.modules if m.kind in ("Conv2d", "Linear")]
        assert len(theirs) >= 8, f"{name}: the hooks saw too few conv/linear layers to compare"
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
    "lenet5": ({}, None), "lenet5-modern": ({}, None),
    "alexnet-paper": ({}, None),
    "googlenet-paper": ({"aux_logits": True}, None), "googlenet-paper@no-aux": ({}, None),
    "mobilenet_v1": ({"alpha": 0.5}, 160), "mobilenet_v1_075": ({}, None),
    "mobilenet_v1_050": ({}, 128), "mobilenet_v1_025": ({}, None),
    # the paper's VGGs take 224 to 255 only (fixed FC-4096): narrower stages keep B, D, E fast
    "vgg-a": ({}, None), "vgg-a-lrn": ({}, None), "vgg-c": ({}, None),
    "vgg-b": ({"widths": "[16, 32, 64, 128, 128]"}, None),
    "vgg-d": ({"widths": "[16, 32, 64, 128, 128]"}, None),
    "vgg-e": ({"widths": "[16, 32, 64, 128, 128]"}, None),
    "resnet50-paper": ({}, None), "resnet18-paper": ({}, 160), "resnet34-paper": ({}, 96),
    "resnet101-paper": ({}, 96), "resnet152-paper": ({}, 64),
}


@pytest.mark.torch
@pytest.mark.parametrize("name", sorted(PAPER_LAYOUTS))
def test_paper_layout_runs_in_torch(name):
    from cnnstat.torch_bridge.build import build_module
    from tests.oracles.reference import torch_counts
    from cnnstat.models import load_graph, parse_input, parse_sets
    overrides, size = PAPER_LAYOUTS[name]
    graph = load_graph(name.split("@")[0], overrides=parse_sets(overrides),
                       input_shape=parse_input(size))
    a = cnnstat.analyze_graph(graph)
    ref = torch_counts(build_module(graph), graph.input_shape)
    assert ref.output_shapes == a.output_shapes
    assert (ref.params, ref.trainable_params, ref.buffers) == (
        a.totals.params, a.totals.trainable_params, a.totals.buffers)
    # the hooks count the multiply-adds of nn.Conv2d / nn.Linear modules (a partial convolution
    # is one nn.Conv2d per output map) that run in eval mode (not the auxiliary heads)
    counted = sum(r.macs for r in a.running if r.op in ("conv2d", "linear", "partial_conv2d"))
    assert ref.macs == counted


@pytest.mark.torch
def test_googlenet_aux_logits_matches_torchvision_class_default():
    """torchvision's GoogLeNet class defaults to aux_logits=True (13,004,888 parameters); its heads
    only run in training, so their multiply-adds are measured by running them directly."""
    import torch
    from tests.oracles.reference import torch_counts, torchvision_model
    module = torchvision_model("googlenet", init_weights=True)
    assert module.aux_logits
    a = cnnstat.analyze("googlenet", set={"aux_logits": True})
    ref = torch_counts(module, (3, 224, 224))                  # eval mode: the heads do not run
    assert (a.totals.params, a.totals.buffers, a.totals.macs) == \
        (ref.params, ref.buffers, ref.macs)
    assert a.output_shapes == ref.output_shapes == [(1, 1000)]
    for head, feature in (("aux1", "inception4a.0.concat"), ("aux2", "inception4d.0.concat")):
        shape = a.record(feature).output_shape[1:]
        head_ref = torch_counts(getattr(module, head), shape)
        assert layer_sum(a, head, "macs") == head_ref.macs
        assert [a.record(o).output_shape for o in a.graph.outputs if o.startswith(head)] == \
            head_ref.output_shapes
    # training mode runs them (at batch 2, for batch norm's statistics)
    training = cnnstat.analyze("googlenet", set={"aux_logits": True}, train=True, batch=2)
    ref = torch_counts(module, (3, 224, 224), batch=2, train=True)
    assert (training.totals.macs, training.output_shapes) == (ref.macs, ref.output_shapes)
    del torch


def test_bad_override_is_a_one_line_error():
    with pytest.raises(CnnstatError, match="unknown variable"):
        cnnstat.analyze("vgg16", set={"widht": 2})
