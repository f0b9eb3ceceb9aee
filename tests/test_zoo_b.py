"""Zoo part B: MobileNetV2/V3, ShuffleNet V1/V2, MnasNet, EfficientNet B0-B7 and V2, U-Net, YOLO v1.

Three kinds of checks:
- against torchvision's modules (random weights, no download): parameters, buffers, conv+linear
  multiply-adds and output shapes counted by forward hooks (tests/oracles/reference.py), at
  the default input and at another size, and layer by layer (every conv/linear layer's output
  shape, parameters and MACs, as a multiset); the full-size counts run on torch's meta device
  (shapes only, no arithmetic), the other size runs for real on the CPU;
- against torchvision's shipped metadata (num_params, _ops in GMACs rounded to 3 decimals);
- for the models torchvision lacks, against the papers' figures, and through torch by building
  the module from cnnstat's own definition (cnnstat.torch_bridge.build).
Hand-derived numbers carry their arithmetic in a comment.
"""

from __future__ import annotations

import collections
import math

import pytest

from cnnstat import zoo
from cnnstat.analyze import analyze_graph
from cnnstat.models import load_graph

from .conftest import assert_built_module_agrees

# zoo name -> (torchvision builder, builder kwargs, another input size for the CPU run)
TORCHVISION = {
    "mobilenet_v2": ("mobilenet_v2", {}, 160),
    "mobilenet_v2_140": ("mobilenet_v2", {"width_mult": 1.4}, 96),
    "mobilenet_v3_large": ("mobilenet_v3_large", {}, 96),
    "mobilenet_v3_small": ("mobilenet_v3_small", {}, 128),
    "shufflenet_v2_x0_5": ("shufflenet_v2_x0_5", {}, 160),
    "shufflenet_v2_x1_0": ("shufflenet_v2_x1_0", {}, 96),
    "shufflenet_v2_x1_5": ("shufflenet_v2_x1_5", {}, 96),
    "shufflenet_v2_x2_0": ("shufflenet_v2_x2_0", {}, 64),
    "mnasnet0_5": ("mnasnet0_5", {}, 100),
    "mnasnet0_75": ("mnasnet0_75", {}, 96),
    "mnasnet1_0": ("mnasnet1_0", {}, 128),
    "mnasnet1_3": ("mnasnet1_3", {}, 64),
    **{f"efficientnet_b{i}": (f"efficientnet_b{i}", {}, size)
       for i, size in enumerate([128, 96, 112, 64, 96, 64, 48, 64])},
    "efficientnet_v2_s": ("efficientnet_v2_s", {}, 96),
    "efficientnet_v2_m": ("efficientnet_v2_m", {}, 64),
    "efficientnet_v2_l": ("efficientnet_v2_l", {}, 64),
}
WEIGHTS = {name: tv for name, (tv, kwargs, _) in TORCHVISION.items() if not kwargs}

MY_FILES = ["mobilenet_v2.yaml", "mobilenet_v3.yaml", "shufflenet_v1.yaml", "shufflenet_v2.yaml",
            "mnasnet.yaml", "efficientnet.yaml", "efficientnet_v2.yaml", "unet.yaml", "yolo.yaml"]


def analysis(name: str, size: int | None = None, **sets):
    graph = load_graph(name, input_shape=None if size is None else (None, size, size),
                       overrides={k: str(v) for k, v in sets.items()})
    return analyze_graph(graph)


def weighted_layers_static(a) -> collections.Counter:
    """(output shape, params, weight MACs) of every conv / linear layer, as a multiset."""
    return collections.Counter((r.output_shape, r.params, r.macs_by_kind.get("weight", 0))
                               for r in a.records
                               if r.op in ("conv2d", "conv_transpose2d", "linear"))


def weighted_layers_torch(counts) -> collections.Counter:
    return collections.Counter((m.output_shape, m.params, m.macs) for m in counts.modules
                               if m.kind in ("Conv2d", "ConvTranspose2d", "Linear"))


# -- the zoo files: metadata that `cnnstat list` shows ------------------------------------------------
@pytest.mark.parametrize("filename", MY_FILES)
def test_zoo_file_metadata(filename):
    from cnnstat.definition import describe_variant
    d = zoo.definition(zoo.ZOO_DIR / filename)
    for key in ("title", "paper", "year", "family", "notes"):
        assert d.doc.get(key), f"{filename} has no {key}"
    for variant in d.variants:
        header = describe_variant(d, variant)
        assert header.get("reference"), f"{variant} has no reference"
        assert zoo.lookup(variant).path.name == filename


# -- torchvision: hooks on the real modules ----------------------------------------------------------
@pytest.fixture(scope="module", params=sorted(TORCHVISION))
def tv_reference(request):
    """One torchvision model per zoo name, counted at its default input on the meta device (shapes
    only) and at another size on the CPU (a real forward pass)."""
    import torch
    import torchvision
    from tests.oracles.reference import torch_counts
    name = request.param
    builder, kwargs, other = TORCHVISION[name]
    shape = load_graph(name).input_shape
    torch.manual_seed(0)
    model = torchvision.models.get_model(builder, weights=None, **kwargs)
    small = torch_counts(model, (shape[0], other, other))
    full = torch_counts(model, shape, device="meta")        # moves the module to meta: last use
    return name, full, small, other


@pytest.mark.torch
def test_matches_torchvision_at_default_input(tv_reference):
    name, full, _, _ = tv_reference
    a = analysis(name)
    assert a.totals.params == full.params
    assert a.totals.trainable_params == full.trainable_params
    assert a.totals.buffers == full.buffers
    assert a.totals.macs == full.macs
    assert a.output_shapes == full.output_shapes
    assert weighted_layers_static(a) == weighted_layers_torch(full)
    assert sum(weighted_layers_torch(full).values()) >= 8     # compared: not an empty multiset


@pytest.mark.torch
def test_matches_torchvision_at_another_size(tv_reference):
    name, _, small, size = tv_reference
    a = analysis(name, size)
    assert a.totals.params == small.params
    assert a.totals.macs == small.macs
    assert a.output_shapes == small.output_shapes
    assert weighted_layers_static(a) == weighted_layers_torch(small)


@pytest.mark.torch
@pytest.mark.parametrize("name", sorted(WEIGHTS))
def test_matches_torchvision_metadata(name):
    """torchvision's weight metadata: num_params exactly; _ops (GMACs at the weights' crop size,
    rounded to 3 decimals) within rounding."""
    import torchvision
    weights = torchvision.models.get_model_weights(WEIGHTS[name]).DEFAULT
    crop = weights.transforms().crop_size[0]
    a = analysis(name, crop)
    assert a.totals.params == weights.meta["num_params"]
    assert abs(a.totals.macs / 1e9 - weights.meta["_ops"]) <= 0.0005 + 1e-12


@pytest.mark.torch
@pytest.mark.parametrize("alpha", [0.35, 0.75, 1.3])
def test_mobilenet_v3_width_multiplier_matches_torchvision(alpha):
    """alpha = torchvision's width_mult, every channel count make_divisible(c * alpha, 8)."""
    import torch
    import torchvision
    from tests.oracles.reference import torch_counts
    for arch in ("mobilenet_v3_large", "mobilenet_v3_small"):
        with torch.device("meta"):
            model = torchvision.models.get_model(arch, weights=None, width_mult=alpha)
        ref = torch_counts(model, (3, 224, 224), device="meta")
        a = analysis(arch, alpha=alpha)
        assert (a.totals.params, a.totals.macs) == (ref.params, ref.macs)


# -- hand-derived numbers -------------------------------------------------------------------------------
def test_mobilenet_v2_hand_derived():
    a = analysis("mobilenet_v2")
    # conv1: 3x3x3 -> 32 at stride 2: 112 x 112 outputs; 32*27 = 864 weights;
    # MACs 32 * 112 * 112 * 27 = 10,838,016
    conv1 = a.record("conv1.conv")
    assert (conv1.output_shape, conv1.params, conv1.macs) == ((1, 32, 112, 112), 864, 10_838_016)
    # block2.0 (t=6, 16 -> 24, s=2): expand 16 -> 96 (1536), depthwise 3x3 of 96 (864),
    # project 96 -> 24 (2304); no residual (stride 2), the second repetition has one (24 -> 24)
    assert a.record("block2.0.expand.conv").params == 16 * 96
    assert a.record("block2.0.depthwise.conv").params == 96 * 9
    assert a.record("block2.0.project").params == 96 * 24
    assert "block2.0.add" not in a.by_name and "block2.1.add" in a.by_name
    # classifier: 1280 * 1000 + 1000 = 1,281,000
    assert a.record("classifier.fc").params == 1_281_000
    # Table 4: 300M multiply-adds (300.8M here), 3.4M parameters (3.50M; see the file's notes)
    assert round(a.totals.macs / 1e6) in (300, 301)


def test_mobilenet_v2_notes_arithmetic():
    """The notes say: 34,112 batch-norm parameters, 3,504,872 - 34,112 = 3,470,760."""
    a = analysis("mobilenet_v2")
    bn = sum(r.params for r in a.records if r.op == "batchnorm2d")
    assert bn == 34_112
    assert a.totals.params - bn == 3_470_760
    a14 = analysis("mobilenet_v2_140")
    assert a14.totals.params - sum(r.params for r in a14.records if r.op == "batchnorm2d") == 6_060_840


def test_mobilenet_v3_squeeze_excite_hand_derived():
    a = analysis("mobilenet_v3_large")
    # bneck row 4 (24 -> 40, exp 72, SE, k5, s2): squeeze to make_divisible(72 // 4, 8) = 24:
    # fc1 72*24 + 24 = 1,752, fc2 24*72 + 72 = 1,800; the gate is N x 72 x 1 x 1, broadcast to
    # the 28 x 28 map (224 / 2 / 2 / 2 = 28)
    assert a.record("bnecks.3.se.fc1").params == 72 * 24 + 24
    assert a.record("bnecks.3.se.fc2").params == 24 * 72 + 72
    assert a.record("bnecks.3.se.gate").output_shape == (1, 72, 1, 1)
    assert a.record("bnecks.3.se.scale").output_shape == (1, 72, 28, 28)
    # the last 1x1 convolution: 160 -> 960 on 7 x 7: 960 * 160 weights, 960*49*160 MACs
    last = a.record("conv_last.conv")
    assert (last.params, last.macs) == (153_600, 7_526_400)


def test_shufflenet_v2_hand_derived():
    a = analysis("shufflenet_v2_x1_0")
    # stage 2, unit 1 (Figure 3c): 116 channels split in 58 + 58; the right half: 1x1 58 -> 58
    # (3,364 weights), 3x3 depthwise (58 * 9 = 522), 1x1 (3,364), each followed by BN (116 each)
    assert a.record("stage2.1.paths.branch1.split").output_shape == (1, 58, 28, 28)
    unit = sum(r.params for r in a.records if r.name.startswith("stage2.1."))
    assert unit == 58 * 58 + 58 * 9 + 58 * 58 + 3 * 2 * 58
    # unit 0 (Figure 3d, stride 2): left 3x3 depthwise 24 (216) + BN (48), 1x1 24 -> 58 (1,392)
    # + BN (116); right 1x1 24 -> 58 (1,392) + BN, 3x3 depthwise 58 (522) + BN, 1x1 58 -> 58
    # (3,364) + BN
    unit0 = sum(r.params for r in a.records if r.name.startswith("stage2.0."))
    assert unit0 == 216 + 48 + 1392 + 116 + 1392 + 116 + 522 + 116 + 3364 + 116
    assert a.record("stage2.0.shuffle").output_shape == (1, 116, 28, 28)


# Papers' headline figures. (The exact counts of these architectures are torchvision's:
# test_matches_torchvision_metadata and test_matches_torchvision_at_default_input.)
SHUFFLENET_V2_PAPER = {  # Ma et al. 2018: (MFLOPs as multiply-adds, M params)
    "shufflenet_v2_x0_5": (41, 1.4),
    "shufflenet_v2_x1_0": (146, 2.3),
    "shufflenet_v2_x1_5": (299, 3.5),
    "shufflenet_v2_x2_0": (591, 7.4),
}


@pytest.mark.parametrize("name", sorted(SHUFFLENET_V2_PAPER))
def test_shufflenet_v2_against_paper(name):
    paper_mflops, paper_mparams = SHUFFLENET_V2_PAPER[name]
    a = analysis(name)
    # the paper's figures are within 1.5% (multiply-adds) and 0.1M (parameters)
    assert abs(a.totals.macs / 1e6 / paper_mflops - 1) < 0.015
    assert abs(a.totals.params / 1e6 - paper_mparams) <= 0.1


# Tan & Le 2019, Table 2: parameters (M) and FLOPs (B, multiply-adds) of B0-B7
EFFICIENTNET_TABLE2 = [(5.3, 0.39), (7.8, 0.70), (9.2, 1.0), (12, 1.8), (19, 4.2), (30, 9.9),
                       (43, 19), (66, 37)]


def test_efficientnet_against_table2():
    """Parameters within 2% of Table 2 for every model; multiply-adds within 2.5% except B4
    (+4.6%) and B5 (+3.7%). The deviations are the architecture's, not cnnstat's: torchvision's
    weight metadata gives the same multiply-adds (_ops 4.394G for B4 at 380 px, 10.266G for B5
    at 456 px: 4.394 / 4.2 = 1.046, 10.266 / 9.9 = 1.037; test_matches_torchvision_metadata
    checks cnnstat against them)."""
    off = {}
    for phi, (mparams, gflops) in enumerate(EFFICIENTNET_TABLE2):
        a = analysis(f"efficientnet_b{phi}")
        assert a.graph.input_shape[1] == [224, 240, 260, 300, 380, 456, 528, 600][phi]
        assert abs(a.totals.params / 1e6 / mparams - 1) < 0.02
        rel = a.totals.macs / 1e9 / gflops - 1
        if abs(rel) >= 0.025:
            off[phi] = round(rel, 3)
    assert off == {4: 0.046, 5: 0.037}


def test_efficientnet_compound_scaling():
    """B0 -> B4 by the coefficients (width 1.4, depth 1.8): stage widths make_divisible(c * 1.4, 8),
    repeats ceil(L * 1.8)."""
    a = analysis("efficientnet_b4")
    # stage 6 of B0: 4 x MBConv6 k5, 192 channels -> ceil(4 * 1.8) = ceil(7.2) = 8 blocks of
    # make_divisible(192 * 1.4 = 268.8, 8) = int(272.8) // 8 * 8 = 272 channels
    blocks = {r.name.split(".")[1] for r in a.records if r.name.startswith("stage6.")}
    assert len(blocks) == 8
    assert a.record("stage6.7.project.conv").output_shape[1] == 272
    # the head: 4 x make_divisible(320 * 1.4 = 448, 8) = 1792 channels on 380/32 -> 12 x 12
    assert a.record("head.conv").output_shape == (1, 1792, 12, 12)
    # the coefficients alone make B4 out of B0's definition
    b0_as_b4 = analysis("efficientnet_b0", width_mult=1.4, depth_mult=1.8, resolution=380)
    assert (b0_as_b4.totals.params, b0_as_b4.totals.macs) == (a.totals.params, a.totals.macs)


def test_efficientnet_equation3():
    """Equation 3 with phi = 1: width 1.1^1 = 1.1, depth 1.2^1 = 1.2, resolution
    round(224 * 1.15) = round(257.6) = 258: B2's coefficients at 258 pixels instead of 260."""
    a = analysis("efficientnet_b0", phi=1)
    b2 = analysis("efficientnet_b2", 258)
    assert a.graph.input_shape == (3, 258, 258)
    assert (a.totals.params, a.totals.macs) == (b2.totals.params, b2.totals.macs)
    # phi = 0 is B0 itself; phi = 2 is deeper and wider than phi = 1
    assert analysis("efficientnet_b0", phi=0).totals.macs == analysis("efficientnet_b0").totals.macs
    assert analysis("efficientnet_b0", phi=2).totals.params > a.totals.params


def test_efficientnet_mbconv_hand_derived():
    a = analysis("efficientnet_b0")
    # stage 2, block 0 (MBConv6 k3, 16 -> 24, stride 2) on 112 x 112: expand 16 -> 96 (1,536),
    # depthwise 3x3 96 (864) at 56 x 56, SE 96 -> max(1, 16 // 4) = 4 -> 96 with biases
    # (96*4 + 4 = 388, 4*96 + 96 = 480), project 96 -> 24 (2,304); 4 batch norms 2*(96+96+24)...
    assert a.record("stage2.0.se.fc1").params == 96 * 4 + 4
    assert a.record("stage2.0.se.fc2").params == 4 * 96 + 96
    assert a.record("stage2.0.depthwise.conv").macs == 96 * 56 * 56 * 9
    assert a.record("stage2.0.project.conv").macs == 24 * 56 * 56 * 96
    assert "stage2.0.add" not in a.by_name and "stage2.1.add" in a.by_name


def test_efficientnet_v2_fused_mbconv_hand_derived():
    a = analysis("efficientnet_v2_s")
    # stage 1 (Fused-MBConv1, k3, 24 -> 24): one 3x3 conv with SiLU, residual: 24*24*9 = 5,184
    assert a.record("stages.stage1.0.conv.conv").params == 5184
    assert "stages.stage1.0.expand" not in {r.name.rsplit(".", 1)[0] for r in a.records}
    # stage 2 block 0 (Fused-MBConv4, k3, s2, 24 -> 48): fused 3x3 24 -> 96 at 96 x 96
    # (384 / 2 / 2), then 1x1 96 -> 48 without activation
    expand = a.record("stages.stage2.0.expand.conv")
    assert (expand.params, expand.output_shape) == (24 * 96 * 9, (1, 96, 96, 96))
    assert a.record("stages.stage2.0.project.conv").params == 96 * 48
    assert "stages.stage2.0.project.silu" not in a.by_name


def test_mnasnet_hand_derived():
    a = analysis("mnasnet0_5")
    # alpha 0.5: widths make_divisible(w * 0.5, 8) of [32, 16, 24, 40, 80, 96, 192, 320]
    # = [16, 8, 16, 24, 40, 48, 96, 160] (16*0.5 = 8; 24*0.5 = 12 -> 16; 40*0.5 = 20 -> 24)
    assert a.record("stem.conv1.conv").output_shape[1] == 16
    assert a.record("stem.project.conv").output_shape[1] == 8
    assert a.record("stack1.0.project.conv").output_shape[1] == 16
    assert a.record("stack2.0.project.conv").output_shape[1] == 24
    # stack 1, block 0: expansion 3 of 8 input channels = 24 (no rounding), k3, stride 2
    assert a.record("stack1.0.expand.conv").output_shape == (1, 24, 112, 112)
    assert a.record("stack1.0.depthwise.conv").output_shape == (1, 24, 56, 56)
    # the head is not scaled: 1280 channels
    assert a.record("head.conv").output_shape == (1, 1280, 7, 7)


# -- models without torchvision: papers' figures ---------------------------------------------------------
# Zhang et al. 2018, Table 1: complexity (MFLOPs = multiply-adds) of ShuffleNet 1x for g = 1, 2, 3, 4, 8
SHUFFLENET_V1_TABLE1 = {1: 143, 2: 140, 3: 137, 4: 133, 8: 137}


@pytest.mark.parametrize("groups", sorted(SHUFFLENET_V1_TABLE1))
def test_shufflenet_v1_against_table1(groups):
    """Table 1's complexities are this architecture's multiply-adds without the classifier,
    rounded to millions (the notes give 142.50 / 140.04 / 136.50 / 133.25 / 136.83M)."""
    name = "shufflenet_v1" if groups == 3 else f"shufflenet_v1_g{groups}"
    a = analysis(name)
    fc = a.record("fc")
    # the classifier: (width of stage 4) x 1000 multiply-adds, e.g. 960 x 1000 for g = 3
    assert fc.macs == a.record("stage4.3.relu").output_shape[1] * 1000
    assert round((a.totals.macs - fc.macs) / 1e6) == SHUFFLENET_V1_TABLE1[groups]
    assert a.output_shapes == [(1, 1000)]


@pytest.mark.parametrize("groups", [0, 5, 6, 7, 9])
def test_shufflenet_v1_refuses_group_counts_the_paper_does_not_define(capsys, groups):
    from cnnstat.cli import main
    code = main(["params", "shufflenet_v1", "--set", f"groups={groups}"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "shufflenet_v1.yaml:" in err and "groups = 1, 2, 3, 4 or 8" in err


def test_shufflenet_v1_unit_hand_derived():
    a = analysis("shufflenet_v1")                        # g = 3, 1x: widths 240, 480, 960
    # stage 2 unit 0 (stride 2): 24 -> 240. The first 1x1 is not grouped (the paper's exception):
    # 24 -> 60 (240 / 4), 1,440 weights; 3x3 depthwise 60 (540); 1x1 group conv g = 3 to
    # 240 - 24 = 216 channels: 60/3 * 216 = 4,320 weights; shortcut 3x3 avg pool of the 24 input
    # channels, concatenated: 24 + 216 = 240
    assert a.record("stage2.0.gconv1").params == 24 * 60
    assert a.record("stage2.0.dwconv").params == 60 * 9
    assert a.record("stage2.0.gconv2").params == 60 // 3 * 216
    assert a.record("stage2.0.concat").output_shape == (1, 240, 28, 28)
    # stage 3 unit 1 (stride 1): 480 -> 120 grouped (480/3 * 120 = 19,200), 3x3 dw 120 (1,080),
    # 120 -> 480 grouped (120/3 * 480 = 19,200); added to the input
    assert a.record("stage3.1.gconv1").params == 480 // 3 * 120
    assert a.record("stage3.1.gconv2").params == 120 // 3 * 480
    assert a.record("stage3.1.add").output_shape == (1, 480, 14, 14)
    assert a.record("stage3.1.shuffle").op == "channel_shuffle"
    # g = 1 has no channel shuffle at all
    assert not any(r.op == "channel_shuffle" for r in analysis("shufflenet_v1_g1").records)


# megvii-model/ShuffleNet-Series README (g = 3): (MFLOPs, M params)
SHUFFLENET_V1_OFFICIAL = {
    "shufflenet_v1_x0_5": (38, 0.7),
    "shufflenet_v1": (138, 1.9),
    "shufflenet_v1_x1_5": (292, 3.4),
    "shufflenet_v1_x2_0": (524, 5.4),
}


@pytest.mark.parametrize("name", sorted(SHUFFLENET_V1_OFFICIAL))
def test_shufflenet_v1_scales_against_official_code(name):
    mflops, mparams = SHUFFLENET_V1_OFFICIAL[name]
    a = analysis(name)
    assert abs(a.totals.macs / 1e6 - mflops) < 1              # within rounding to 1M
    assert abs(a.totals.params / 1e6 - mparams) < 0.06         # 0.1M rounding (+ 1,000 biases)


def test_shufflenet_v1_scaled_widths():
    # 0.5x, g = 8: stage widths make_divisible(192, 32) = 192 ...; the stem make_divisible(12, 8)
    # = 16 (12 + 4 -> 16: a multiple of g, so 192 - 16 = 176 splits into 8 groups of 22)
    a = analysis("shufflenet_v1", alpha=0.5, groups=8)
    assert a.record("conv1").output_shape[1] == 16
    assert a.record("stage2.0.gconv2").output_shape[1] == 192 - 16
    # a group count Table 1 does not have is an error, not a guess
    from cnnstat.errors import CnnstatError
    with pytest.raises(CnnstatError):
        analysis("shufflenet_v1", groups=5)


def test_unet_paper_shapes():
    """Figure 1: a 572 x 572 tile gives a 388 x 388 x 2 segmentation map; 23 convolutions."""
    a = analysis("unet")
    assert a.output_shapes == [(1, 2, 388, 388)]
    convs = [r for r in a.records if r.op in ("conv2d", "conv_transpose2d")]
    assert len(convs) == 23                 # 18 3x3 convs, 4 up-convs, the final 1x1
    # contracting path: 572 - 2 - 2 = 568; the bottom: 28 x 28 x 1024
    assert a.record("enc1.relu2").output_shape == (1, 64, 568, 568)
    assert a.record("enc5.relu2").output_shape == (1, 1024, 28, 28)
    # the first up-convolution: 28 -> 56, 1024 -> 512; its skip, 64 x 64 x 512, is cropped to 56
    assert a.record("dec4.upconv").output_shape == (1, 512, 56, 56)
    assert a.record("dec4.concat").output_shape == (1, 1024, 56, 56)
    # up-conv parameters: 2 x 2 x 1024 x 512 + 512 = 2,097,664
    assert a.record("dec4.upconv").params == 2 * 2 * 1024 * 512 + 512
    # Parameters by hand (the paper gives no count), biases included; a double 3x3 block
    # a -> b holds 9ab + b + 9b^2 + b:
    #   contracting path 1->64: 37,568; 64->128: 221,440; 128->256: 885,248; 256->512: 3,539,968;
    #   512->1024: 14,157,824 (sum 18,842,048);
    #   expansive path, up-conv 2x2 b -> a (4ba + a) then the double block 2a -> a:
    #   1024->512: 2,097,664 + 4,719,104 + 2,359,808 = 9,176,576; 512->256: 2,294,528;
    #   256->128: 573,824; 128->64: 143,552 (sum 12,188,480); the final 1x1 64->2: 130.
    #   18,842,048 + 12,188,480 + 130 = 31,030,658 (paper_unet below counts the same in torch)
    assert a.totals.params == 18_842_048 + 12_188_480 + 130
    # 150.4G multiply-adds: FlopCounterMode on paper_unet (test_unet_against_a_plain_torch_unet)


def paper_unet(c_in: int = 1, classes: int = 2, base: int = 64):
    """U-Net as section 2 of Ronneberger et al. 2015 describes it, written with plain torch
    layers (not cnnstat's torch bridge): two unpadded 3x3 convolutions + ReLU per level, 2x2 max
    pooling, channels doubled per level from 64 to 1024; up-convolution = 2x2 transposed
    convolution with stride 2 halving the channels; the skip centre-cropped and concatenated
    before the up-convolved map (Figure 1); a final 1x1 convolution to the classes. (torch is
    imported here: the rest of this file runs without it.)"""
    import torch
    from torch import nn

    def double(a, b):
        return nn.Sequential(nn.Conv2d(a, b, 3), nn.ReLU(), nn.Conv2d(b, b, 3), nn.ReLU())

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            widths = [base * 2 ** i for i in range(5)]
            self.down = nn.ModuleList(double(a, b) for a, b in zip([c_in] + widths[:-1], widths))
            self.up = nn.ModuleList(nn.ConvTranspose2d(b, a, 2, stride=2)
                                    for a, b in zip(widths[:-1], widths[1:]))
            self.fuse = nn.ModuleList(double(b, a) for a, b in zip(widths[:-1], widths[1:]))
            self.out = nn.Conv2d(base, classes, 1)

        def forward(self, x):
            skips = []
            for i, block in enumerate(self.down):
                x = block(x)
                if i < 4:
                    skips.append(x)
                    x = nn.functional.max_pool2d(x, 2)
            for up, fuse, skip in zip(reversed(self.up), reversed(self.fuse), reversed(skips)):
                x = up(x)
                top = (skip.shape[2] - x.shape[2]) // 2
                left = (skip.shape[3] - x.shape[3]) // 2
                skip = skip[:, :, top:top + x.shape[2], left:left + x.shape[3]]
                x = fuse(torch.cat([skip, x], 1))
            return self.out(x)

    return Net()


@pytest.mark.torch
def test_unet_against_a_plain_torch_unet():
    """cnnstat's U-Net (its zoo definition) against paper_unet() at the paper's 572 x 572 tile, on
    torch's meta device: parameters, output shape, and FlopCounterMode's multiply-adds (2 FLOPs
    each; conv and transposed conv only, as cnnstat's weight MACs)."""
    torch = pytest.importorskip("torch")
    from torch.utils.flop_counter import FlopCounterMode
    with torch.device("meta"):
        net = paper_unet()
        x = torch.empty(1, 1, 572, 572)
    counter = FlopCounterMode(display=False)
    with counter:
        out = net(x)
    a = analysis("unet")
    assert sum(p.numel() for p in net.parameters()) == a.totals.params == 31_030_658
    assert [tuple(out.shape)] == a.output_shapes == [(1, 2, 388, 388)]
    assert counter.get_total_flops() == 2 * a.totals.macs
    assert round(a.totals.macs / 1e8) / 10 == 150.4       # the figure in unet.yaml's notes


def test_unet_padded_keeps_the_size():
    assert analysis("unet-padded").output_shapes == [(1, 2, 512, 512)]
    assert analysis("unet-padded", 256).output_shapes == [(1, 2, 256, 256)]
    # same parameters as the paper's U-Net: padding adds none
    assert analysis("unet-padded").totals.params == analysis("unet").totals.params


def test_yolov1_paper_shapes():
    """Figure 3: 448 x 448 x 3 in, 24 convolutional and 2 fully connected layers, 7 x 7 x 30 out
    (S x S x (B * 5 + C) with S = 7, B = 2, C = 20), written channels first."""
    a = analysis("yolov1")
    assert a.output_shapes == [(1, 2 * 5 + 20, 7, 7)]
    assert sum(r.op == "conv2d" for r in a.records) == 24
    assert sum(r.op == "linear" for r in a.records) == 2
    # after the convolutions: 448 / 64 = 7 -> 7 x 7 x 1024; fc1: 50,176 x 4,096 + 4,096
    assert a.record("group6.1.leaky").output_shape == (1, 1024, 7, 7)
    assert a.record("fc1").params == 7 * 7 * 1024 * 4096 + 4096
    assert a.record("fc2").params == 4096 * 1470 + 1470
    # The whole network from Figure 3, by hand: (output side, C_in, C_out, kernel) of the 24
    # convolutions (biases, no batch norm), 448 -> 224 (7x7/2) -> 112 (pool) -> 56 (pool) -> 28
    # (pool) -> 14 (pool) -> 7 (the 3x3/2 convolution); then fc1 and fc2.
    convs = ([(224, 3, 64, 7), (112, 64, 192, 3), (56, 192, 128, 1), (56, 128, 256, 3),
              (56, 256, 256, 1), (56, 256, 512, 3)] + [(28, 512, 256, 1), (28, 256, 512, 3)] * 4
             + [(28, 512, 512, 1), (28, 512, 1024, 3)]
             + [(14, 1024, 512, 1), (14, 512, 1024, 3)] * 2
             + [(14, 1024, 1024, 3)] + [(7, 1024, 1024, 3)] * 3)
    assert len(convs) == 24
    conv_params = sum(k * k * c_in * c_out + c_out for _, c_in, c_out, k in convs)   # 60,155,968
    conv_macs = sum(n * n * k * k * c_in * c_out for n, c_in, c_out, k in convs)
    fc_params = 7 * 7 * 1024 * 4096 + 4096 + 4096 * 1470 + 1470                   # 211,547,582
    assert a.totals.params == conv_params + fc_params                  # 271,703,550 (271.7M)
    assert a.totals.macs == conv_macs + 7 * 7 * 1024 * 4096 + 4096 * 1470         # 20.29G
    # the first layer: 7x7x3 -> 64, stride 2, padding 3: 224 x 224; 64*147 + 64 = 9,472
    first = a.record("group1.0.conv")
    assert (first.output_shape, first.params) == ((1, 64, 224, 224), 9472)


# -- every model through torch, built from cnnstat's own definition ----------------------------------------
# (zoo name, input size for the CPU run): small inputs keep it fast; sizes the models accept
# (YOLO v1 takes 415 to 478 only, its fully connected layer being fixed: it runs on meta below)
OWN_BUILDS = [("shufflenet_v1", 96), ("shufflenet_v1_g8", 64), ("shufflenet_v1_x1_5", 64),
              ("unet", 220), ("unet-padded", 96), ("shufflenet_v2_x1_0", 96),
              ("mobilenet_v2", 64), ("mobilenet_v3_small", 64), ("mnasnet0_5", 64),
              ("efficientnet_b0", 64), ("efficientnet_v2_s", 64)]


@pytest.mark.torch
@pytest.mark.parametrize("name,size", OWN_BUILDS)
def test_own_definition_runs_in_torch(name, size):
    """The module built from the definition runs; its hooks count what cnnstat counts."""
    assert_built_module_agrees(load_graph(name, input_shape=(None, size, size)))


@pytest.mark.torch
@pytest.mark.parametrize("name", ["shufflenet_v1", "shufflenet_v1_g2", "shufflenet_v1_g4",
                                  "shufflenet_v1_x0_5", "shufflenet_v1_x2_0", "unet",
                                  "unet-padded", "yolov1"])
def test_own_definition_at_default_input_on_meta(name):
    """The models without torchvision at their default input, built on torch's meta device."""
    assert_built_module_agrees(load_graph(name), device="meta")


# -- on demand (-m slow): real CPU forward passes at full resolution -------------------------------------
@pytest.mark.slow
@pytest.mark.torch
@pytest.mark.parametrize("name", sorted(TORCHVISION))
def test_torchvision_full_resolution_on_cpu(name):
    """The meta-device comparison above, repeated with real arithmetic (the big EfficientNets take
    tens of seconds each)."""
    import torch
    import torchvision
    from tests.oracles.reference import torch_counts
    builder, kwargs, _ = TORCHVISION[name]
    torch.manual_seed(0)
    model = torchvision.models.get_model(builder, weights=None, **kwargs)
    a = analysis(name)
    counts = torch_counts(model, a.input_shape)
    assert (counts.params, counts.buffers, counts.macs) == (a.totals.params, a.totals.buffers,
                                                            a.totals.macs)
    assert counts.output_shapes == a.output_shapes


@pytest.mark.slow
@pytest.mark.torch
@pytest.mark.parametrize("name", ["unet", "unet-padded", "yolov1", "shufflenet_v1_x2_0"])
def test_own_definition_full_resolution_on_cpu(name):
    assert_built_module_agrees(load_graph(name))
