"""Zoo models, part A: Inception v3, the CIFAR ResNets, SE-ResNet/SE-ResNeXt, DenseNet, SqueezeNet,
and the pad_shortcut operator (ResNet option A) the CIFAR ResNets need.

- hand-derived figures, with the arithmetic in the comments;
- the papers' printed figures, read from the definitions' ``reference`` metadata, against the
  computed counts (to the printed precision);
- torchvision-layout definitions against torchvision's modules with random weights (hooks:
  parameters, buffers, conv + linear multiply-adds, output shapes) at the default input and at
  another size, and against torchvision's shipped metadata (num_params, _ops in GMACs);
- definitions without a torchvision model against independent torch implementations written
  here from the papers / the authors' released models, and built from their own definitions with
  cnnstat's torch bridge and run.
"""

from __future__ import annotations

import re
import time
from fractions import Fraction

import pytest

import cnnstat
from cnnstat.errors import CnnstatError, ShapeError
from cnnstat.ops import REGISTRY
from cnnstat.ops.base import MAC_KINDS, Window
from cnnstat.definition import describe_variant, load_definition
from cnnstat.zoo import ZOO_DIR

FILES = {"inception_v3.yaml", "resnet_cifar.yaml", "se_resnet.yaml", "densenet.yaml",
         "squeezenet.yaml"}
TORCHVISION = {  # name: another input size than the default (odd sizes exercise the rounding)
    "inception_v3": None,            # tested separately (auxiliary head)
    "densenet121": 97, "densenet161": 97, "densenet169": 97, "densenet201": 97,
    "squeezenet1_0": 99, "squeezenet1_1": 99,
}
CIFAR = {"resnet20": 3, "resnet32": 5, "resnet44": 7, "resnet56": 9, "resnet110": 18,
         "resnet1202": 200}
SE = ["se_resnet50", "se_resnet101", "se_resnet152", "se_resnext50_32x4d", "se_resnext101_32x4d"]


def definition(file):
    return load_definition(str(ZOO_DIR / file))


def analyze(file, variant=None, **kwargs):
    """Analyse a variant of one of this module's definition files (by path, so these tests do not
    depend on the rest of the zoo)."""
    return cnnstat.analyze(str(ZOO_DIR / file), variant=variant, **kwargs)


def reference(file, variant):
    return describe_variant(definition(file), variant)["reference"]


def printed(text):
    """'0.27M' -> (Fraction(27, 100) * 10**6, 10**4): the value and the unit of its last digit."""
    m = re.fullmatch(r"(\d+)(?:\.(\d+))?([KMG]?)", str(text))
    assert m, f"cannot read printed figure {text!r}"
    digits = len(m.group(2) or "")
    scale = {"": 1, "K": 10**3, "M": 10**6, "G": 10**9}[m.group(3)]
    value = Fraction(m.group(1) + (m.group(2) or "")) / 10**digits * scale
    return value, Fraction(scale, 10**digits)


def matches_printed(count, text):
    """count rounds to the printed figure: |count - value| <= half a unit of the last digit."""
    value, unit = printed(text)
    return abs(count - value) <= unit / 2


def group_sum(a, prefix, field="params"):
    return sum(getattr(r, field) for r in a.records
               if r.name == prefix or r.name.startswith(prefix + "."))


# ==============================================================================================
# pad_shortcut: ResNet option A (He et al. 2016, section 4.2)
# ==============================================================================================
def run_op(op, shapes, *args, **kwargs):
    rule = REGISTRY[op]
    return rule.evaluate(rule.bind(list(args), kwargs), shapes)


def test_pad_shortcut_doubles_channels_and_halves_the_map():
    ev = run_op("pad_shortcut", [(2, 16, 32, 32)], 32, stride=2)
    assert ev.shape == (2, 32, 16, 16)               # 16 + 16 zero channels, 32 / 2
    assert (ev.params, ev.buffers, ev.connections) == (0, 0, 0)
    assert all(ev.macs.get(kind, 0) == 0 for kind in MAC_KINDS)   # data movement only
    assert ev.rf.h == ev.rf.w == Window(1, 2, 0)     # unit u reads input unit 2u


def test_pad_shortcut_rounds_odd_sizes_up_and_keeps_identity():
    # x[:, :, ::2, ::2] of 7x5 keeps rows 0,2,4,6 and columns 0,2,4: ceil(7/2) x ceil(5/2) = 4x3
    assert run_op("pad_shortcut", [(1, 3, 7, 5)], 6, stride=2).shape == (1, 6, 4, 3)
    # stride 3 of 10: rows 0,3,6,9 -> 4
    assert run_op("pad_shortcut", [(1, 3, 10, 10)], 3, stride=3).shape == (1, 3, 4, 4)
    ev = run_op("pad_shortcut", [(1, 8, 5, 5)], 8)   # out = C, stride 1: the identity
    assert ev.shape == (1, 8, 5, 5) and ev.rf.h == Window(1, 1, 0)


def test_pad_shortcut_cannot_drop_channels():
    with pytest.raises(ShapeError, match="fewer than the 32 input channels"):
        run_op("pad_shortcut", [(1, 32, 8, 8)], 16, stride=2)


# ==============================================================================================
# CIFAR ResNets (He et al. 2016, section 4.2 and Table 6)
# ==============================================================================================
def cifar_params(n):
    """Parameters of the 6n+2-layer network, by hand:
    conv1 3*16*9 = 432, bn1 2*16 = 32, fc 64*10 + 10 = 650;
    stage 1: n blocks of 2 * (16*16*9) + 2 * 32          = 4,672
    stage 2: first 16*32*9 + 32*32*9 + 2*64 = 13,952; then 2 * 32*32*9 + 2*64 = 18,560 each
    stage 3: first 32*64*9 + 64*64*9 + 2*128 = 55,552; then 2 * 64*64*9 + 2*128 = 73,984 each
    total = 1,114 + 4,672n + 13,952 + 18,560(n-1) + 55,552 + 73,984(n-1) = 97,216n - 21,926."""
    return 97_216 * n - 21_926


def cifar_macs(n):
    """conv1 16*32*32*27 = 442,368; fc 640; every 3x3 conv of a block 2,359,296
    (16*32*32*144 = 32*16*16*288 = 64*8*8*576) except the two stride-2 ones, 1,179,648
    (32*16*16*144, 64*8*8*288): 442,368 + 640 + 6n * 2,359,296 - 2 * 1,179,648
    = 14,155,776n - 1,916,288."""
    return 14_155_776 * n - 1_916_288


@pytest.mark.parametrize("name", sorted(CIFAR))
def test_cifar_resnet_counts(name):
    n = CIFAR[name]
    a = analyze("resnet_cifar.yaml", name)
    assert a.totals.params == cifar_params(n)
    assert a.totals.macs == cifar_macs(n)
    assert a.output_shapes == [(1, 10)]
    convs = [r for r in a.records if r.op in ("conv2d", "linear")]
    assert len(convs) == 6 * n + 2                   # "6n+2 stacked weighted layers"
    assert sum(r.op == "pad_shortcut" for r in a.records) == 2   # option A at stages 2 and 3


@pytest.mark.parametrize("name", sorted(CIFAR))
def test_cifar_resnet_table6_parameters(name):
    # Table 6: 0.27M, 0.46M, 0.66M, 0.85M, 1.7M, 19.4M (resnet20: 269,722 -> 0.27M)
    ref = reference("resnet_cifar.yaml", name)
    assert ref["source"] == "He et al. 2016, Table 6"
    params = analyze("resnet_cifar.yaml", name).totals.params
    assert matches_printed(params, ref["params"]), (params, ref["params"])


def test_cifar_resnet_stage_shapes():
    a = analyze("resnet_cifar.yaml", "resnet20")
    # feature maps of sizes {32, 16, 8} with {16, 32, 64} filters
    assert a.record("layer1.2.relu2").output_shape == (1, 16, 32, 32)
    assert a.record("layer2.0.shortcut").output_shape == (1, 32, 16, 16)
    assert a.record("layer3.2.relu2").output_shape == (1, 64, 8, 8)
    assert a.record("layer2.0.shortcut").params == 0  # option A: no projection parameters
    # receptive fields: conv1 and six 3x3 convs of stage 1 give 1 + 7*2 = 15 px (padding 7);
    # the shortcut keeps 15 px at stride 2; the residual branch adds 2 + 2*2 = 6: 21 px, padding
    # 10. Both paths centre output unit u on input pixel 2u: aligned.
    short, add = a.record("layer2.0.shortcut").rf, a.record("layer2.0.add").rf
    assert (short.h.size, short.h.stride, short.h.padding) == (15, 2, 7)
    assert (add.h.size, add.h.stride, add.h.padding) == (21, 2, 10) and add.aligned


def test_resnet1202_analysis_is_fast():
    # CPU time of this process: the machine running the suite is shared (parallel workers)
    start = time.process_time()
    a = analyze("resnet_cifar.yaml", "resnet1202")
    elapsed = time.process_time() - start
    assert a.totals.params == 19_421_274             # 97,216 * 200 - 21,926
    assert elapsed < 1.0, f"resnet1202 took {elapsed:.2f} s"


# ==============================================================================================
# SqueezeNet (Iandola et al. 2016, Table 1)
# ==============================================================================================
def test_squeezenet_fire_module_and_shapes():
    a = analyze("squeezenet.yaml", "squeezenet1_0")
    # fire2(s1x1=16, e1x1=64, e3x3=64) on 96 channels:
    # squeeze 96*16 + 16 = 1,552; expand1x1 16*64 + 64 = 1,088; expand3x3 16*64*9 + 64 = 9,280
    assert group_sum(a, "trunk.fire2") == 1_552 + 1_088 + 9_280 == 11_920
    assert a.record("trunk.fire2.expand.concat").output_shape == (1, 128, 54, 54)
    # 224: conv1 7x7/2 -> (224 - 7) // 2 + 1 = 109; maxpool 3/2 rounding up: ceil(106/2) + 1 = 54
    assert a.record("trunk.conv1").output_shape == (1, 96, 109, 109)
    assert a.record("trunk.maxpool1").output_shape == (1, 96, 54, 54)
    # maxpool4: ceil((54 - 3) / 2) + 1 = 27; maxpool8: ceil((27 - 3) / 2) + 1 = 13
    assert a.record("trunk.fire9.expand.concat").output_shape == (1, 512, 13, 13)
    # conv10: 512*1000 + 1000; no fully connected layer
    assert a.record("classifier.conv10").params == 513_000
    assert not any(r.op == "linear" for r in a.records)


def test_squeezenet_1_1_differs_only_in_conv1_and_pooling():
    a = analyze("squeezenet.yaml", "squeezenet1_0")
    b = analyze("squeezenet.yaml", "squeezenet1_1")
    # conv1: 96 * 3*7*7 + 96 = 14,208 against 64 * 3*3*3 + 64 = 1,792; fire2's squeeze reads 96
    # instead of 64 channels: 32 * 16 = 512 more weights. The fire modules are the same.
    assert a.totals.params - b.totals.params == (14_208 - 1_792) + 512 == 12_928
    # 224: conv1 3x3/2 -> (224 - 3) // 2 + 1 = 111; pool: ceil((111 - 3) / 2) + 1 = 55;
    # pool after fire3: ceil(52 / 2) + 1 = 27; after fire5: ceil(24 / 2) + 1 = 13
    assert b.record("trunk.maxpool1").output_shape == (1, 64, 55, 55)
    assert b.record("trunk.maxpool5").output_shape == (1, 256, 13, 13)
    # release notes of v1.1: "2.4x less computation"; conv + linear multiply-adds at 224: 2.35x
    assert round(a.totals.macs / b.totals.macs, 2) == 2.35


# ==============================================================================================
# DenseNet (Huang et al. 2017, Table 1)
# ==============================================================================================
@pytest.mark.parametrize("name,k,blocks,init,final", [
    # final channels: DenseNet-121: ((64 + 6*32)/2 + 12*32)/2 = 256; (256 + 24*32)/2 = 512;
    # 512 + 16*32 = 1024
    ("densenet121", 32, (6, 12, 24, 16), 64, 1024),
    # DenseNet-161: 96 + 6*48 = 384 -> 192; 192 + 12*48 = 768 -> 384; 384 + 36*48 = 2112 -> 1056;
    # 1056 + 24*48 = 2208
    ("densenet161", 48, (6, 12, 36, 24), 96, 2208),
    # DenseNet-169: 128, 256 -> (256 + 32*32)/2 = 640; 640 + 32*32 = 1664
    ("densenet169", 32, (6, 12, 32, 32), 64, 1664),
    # DenseNet-201: 128, 256 -> (256 + 48*32)/2 = 896; 896 + 32*32 = 1920
    ("densenet201", 32, (6, 12, 48, 32), 64, 1920),
])
def test_densenet_channels(name, k, blocks, init, final):
    a = analyze("densenet.yaml", name)
    assert a.record("features.conv0").output_shape == (1, init, 112, 112)
    assert a.record("features.norm5").output_shape == (1, final, 7, 7)
    assert a.record("classifier").params == final * 1000 + 1000
    layers = [r for r in a.records if r.name.endswith(".conv2") and ".denseblock" in "." + r.name]
    assert len(layers) == sum(blocks)
    assert {r.output_shape[1] for r in layers} == {k}          # each layer adds k maps
    # every bottleneck 1x1 convolution has 4k outputs (bn_size = 4)
    assert {r.output_shape[1] for r in a.records if r.name.endswith(".conv1")} == {4 * k}


def test_densenet_layer_sees_all_previous_maps():
    a = analyze("densenet.yaml", "densenet121")
    # layer l of block 1 reads 64 + 32*l channels; its 1x1 convolution: (64 + 32l) * 128 weights
    for l in range(6):
        r = a.record(f"features.denseblock1.{l}.conv1")
        assert r.input_shapes[0][1] == 64 + 32 * l
        assert r.params == (64 + 32 * l) * 128
    assert a.record("features.denseblock1.5.cat").output_shape == (1, 256, 56, 56)
    assert a.record("features.transition1.pool").output_shape == (1, 128, 28, 28)


# ==============================================================================================
# Inception v3 (Szegedy et al. 2016; torchvision layout)
# ==============================================================================================
def test_inception_v3_grid_sizes():
    a = analyze("inception_v3.yaml")
    # torchvision's comments: 149, 147, 147, 73, 73, 71, 35 / 35x256, 288, 288 / 17x768 / 8x2048
    expected = {
        "Conv2d_1a_3x3.relu": (32, 149), "Conv2d_2a_3x3.relu": (32, 147),
        "Conv2d_2b_3x3.relu": (64, 147), "maxpool1": (64, 73), "Conv2d_3b_1x1.relu": (80, 73),
        "Conv2d_4a_3x3.relu": (192, 71), "maxpool2": (192, 35),
        "Mixed_5b.0.concat": (256, 35), "Mixed_5c.0.concat": (288, 35),
        "Mixed_5d.0.concat": (288, 35), "Mixed_6a.0.concat": (768, 17),
        "Mixed_6e.0.concat": (768, 17), "Mixed_7a.0.concat": (1280, 8),
        "Mixed_7b.0.concat": (2048, 8), "Mixed_7c.0.concat": (2048, 8),
    }
    for name, (c, s) in expected.items():
        assert a.record(name).output_shape == (1, c, s, s), name
    assert a.output_shapes == [(1, 1000)]                      # logits (inference)
    assert analyze("inception_v3.yaml", train=True).output_shapes == \
        [(1, 1000), (1, 1000)]                                  # and the auxiliary logits
    assert a.record("Mixed_6b.0.branch7x7.1.conv").attrs["kernel"] == (1, 7)


def test_inception_v3_auxiliary_head():
    inference = analyze("inception_v3.yaml")
    training = analyze("inception_v3.yaml", train=True)
    without = analyze("inception_v3.yaml", set={"aux_logits": "false"})
    # head: conv0 768*128 + bn 2*128 = 98,560; conv1 128*768*5*5 + bn 2*768 = 2,459,136;
    # fc 768*1000 + 1000 = 769,000: 3,326,696 — held (and counted) in both modes
    assert inference.totals.params == training.totals.params == 27_161_264
    assert inference.totals.params - without.totals.params == 3_326_696
    assert group_sum(inference, "AuxLogits") == 3_326_696
    assert [r.name for r in inference.train_only] == [r.name for r in inference.records
                                                      if r.name.startswith("AuxLogits.")]
    assert list(inference.train_only_heads) == ["AuxLogits"]
    # 17x17 -> avgpool 5/3 -> (17 - 5) // 3 + 1 = 5; conv0 128*5*5*768 = 2,457,600;
    # conv1 768*1*1*128*25 = 2,457,600; fc 768,000: 5,683,200 MACs, in training only:
    # torchvision's eval forward (and its published 5.71 GFLOPS) does 5,713,216,096
    assert inference.totals.macs == without.totals.macs == 5_713_216_096
    assert training.totals.macs == 5_713_216_096 + 5_683_200 == 5_718_899_296
    assert training.totals.activations - inference.totals.activations == \
        group_sum(inference, "AuxLogits", "activations")
    assert inference.graph.outputs == ("fc", "AuxLogits.fc") and inference.outputs == ("fc",)
    assert without.output_shapes == [(1, 1000)]
    assert without.graph.outputs == ("fc",)   # a skipped auxiliary head is no output
    # the 5x5 convolution needs a 17x17 Mixed_6e: below 299 only the head-less network runs
    with pytest.raises(CnnstatError, match="AuxLogits"):
        analyze("inception_v3.yaml", input=224)
    assert analyze("inception_v3.yaml", input=75, set={"aux_logits": "false"}).output_shapes \
        == [(1, 1000)]


def test_inception_v3_paper_budget():
    # abstract: "a computational cost of 5 billion multiply-adds per inference and ... less
    # than 25 million parameters" (the network without its training-only auxiliary head); the
    # released layout has 5.71 billion (see the file's notes), its inference count
    assert analyze("inception_v3.yaml").totals.macs // 10**9 == 5
    assert analyze("inception_v3.yaml", set={"aux_logits": "false"}).totals.params < 25_000_000


# ==============================================================================================
# SE-ResNet / SE-ResNeXt (Hu et al. 2018, Table 1, Table 2, Eq. 5)
# ==============================================================================================
def test_se_parameters_eq5():
    se = analyze("se_resnet.yaml", "se_resnet50")
    base = analyze("se_resnet.yaml", "se_resnet50", set={"se": "false"})
    # Eq. 5: 2/r * sum_s N_s C_s^2 = 2/16 * (3*256^2 + 4*512^2 + 6*1024^2 + 3*2048^2)
    #      = 2/16 * 20,119,552 = 2,514,944 weights;
    # biases: 3*(16+256) + 4*(32+512) + 6*(64+1024) + 3*(128+2048) = 16,048
    assert se.totals.params - base.totals.params == 2_514_944 + 16_048
    # section 4: "~2.5 million additional parameters beyond the ~25 million"
    ref = reference("se_resnet.yaml", "se_resnet50")
    assert matches_printed(se.totals.params - base.totals.params, ref["added_params"])
    # the FC layers are the only new work: 2,514,944 multiply-adds (1x1 inputs)
    assert se.totals.macs - base.totals.macs == 2_514_944
    # Table 1: fc, [16, 256] in conv2_x ... fc, [128, 2048] in conv5_x
    assert se.record("layer1.0.se_module.fc1").output_shape == (1, 16, 1, 1)
    assert se.record("layer4.2.se_module.fc2").output_shape == (1, 2048, 1, 1)


def test_se_resnet_stride_placement():
    # SE-ResNet (original ResNet): the stride is on the first 1x1; SE-ResNeXt: on the 3x3
    a = analyze("se_resnet.yaml", "se_resnet50")
    assert a.record("layer2.0.conv1").attrs["stride"] == (2, 2)
    assert a.record("layer2.0.conv2").attrs["stride"] == (1, 1)
    b = analyze("se_resnet.yaml", "se_resnext50_32x4d")
    assert b.record("layer2.0.conv1").attrs["stride"] == (1, 1)
    assert b.record("layer2.0.conv2").attrs["stride"] == (2, 2)
    # 32x4d: width 4 * 32 = 128 in conv2_x (Table 1: conv, 3x3, 128, C = 32)
    assert b.record("layer1.0.conv2").attrs["groups"] == 32
    assert b.record("layer1.0.conv2").output_shape == (1, 128, 56, 56)


@pytest.mark.parametrize("name", SE)
def test_se_table2_gflops_between_counting_conventions(name):
    """Table 2 does not say what its GFLOPs count: each figure lies between cnnstat's default
    count (conv + linear multiply-adds) and the count that adds pooling and element-wise work
    (--count pool,elementwise), to the printed precision."""
    ref = reference("se_resnet.yaml", name)
    printed_gflops = Fraction(str(ref["gflops"]))
    half = Fraction(1, 200)                                  # printed to 0.01
    low = analyze("se_resnet.yaml", name).totals.macs
    high = analyze("se_resnet.yaml", name, count="pool,elementwise").totals.macs
    assert low < high
    assert Fraction(low, 10**9) <= printed_gflops + half
    assert printed_gflops - half <= Fraction(high, 10**9)


# ==============================================================================================
# metadata shown by `cnnstat list`
# ==============================================================================================
@pytest.mark.parametrize("file", sorted(FILES))
def test_zoo_file_metadata(file):
    d = definition(file)
    for key in ("title", "paper", "year", "family", "notes"):
        assert d.doc.get(key), (file, key)
    assert d.variants
    for v in d.variants:
        ref = reference(file, v)
        source = ref if isinstance(ref, str) else ref["source"]
        assert source == "torchvision" or re.search(r"(Table|section) ", source), (file, v)


def test_zoo_names():
    names = {v for f in FILES for v in definition(f).variants}
    assert {"inception_v3", "densenet121", "densenet161", "densenet169", "densenet201",
            "squeezenet1_0", "squeezenet1_1", "se_resnet50", "se_resnext50_32x4d", "resnet20",
            "resnet32", "resnet44", "resnet56", "resnet110", "resnet1202"} <= names


# ==============================================================================================
# torch: torchvision modules, independent implementations, and the definitions run in torch
# ==============================================================================================
@pytest.fixture(scope="module")
def tv_models():
    """torchvision models, each built once for this module (random weights, no download)."""
    pytest.importorskip("torchvision")
    import warnings
    from tests.oracles.reference import torchvision_model
    cache = {}

    def get(name, **kwargs):
        key = (name, tuple(sorted(kwargs.items())))
        if key not in cache:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")        # inception's init_weights FutureWarning
                cache[key] = torchvision_model(name, **kwargs)
        return cache[key]
    return get


def same_counts(a, ref):
    assert a.totals.params == ref.params
    assert a.totals.trainable_params == ref.trainable_params
    assert a.totals.buffers == ref.buffers
    assert a.totals.macs == ref.macs
    assert a.output_shapes == ref.output_shapes


FILE_OF = {**{n: "densenet.yaml" for n in TORCHVISION if n.startswith("densenet")},
           **{n: "squeezenet.yaml" for n in TORCHVISION if n.startswith("squeezenet")},
           "inception_v3": "inception_v3.yaml"}


@pytest.mark.torch
@pytest.mark.parametrize("name", sorted(n for n in TORCHVISION if TORCHVISION[n]))
def test_matches_torchvision(name, tv_models):
    from tests.oracles.reference import torch_counts
    module = tv_models(name)
    default = analyze(FILE_OF[name], name)
    for size in (default.input_shape[1], TORCHVISION[name]):
        a = analyze(FILE_OF[name], name, input=size)
        same_counts(a, torch_counts(module, (3, size, size)))


@pytest.mark.torch
def test_inception_v3_matches_torchvision(tv_models):
    from tests.oracles.reference import torch_counts
    full = tv_models("inception_v3")                         # aux_logits=True, the default
    bare = tv_models("inception_v3", aux_logits=False)
    # without the head: everything equal, at 299 and at 224
    for size in (299, 224):
        a = analyze("inception_v3.yaml", input=size, set={"aux_logits": "false"})
        same_counts(a, torch_counts(bare, (3, size, size)))
    # with it: eval mode (the default) never runs the head, but holds its parameters; training
    # mode runs it (batch 2: batch norm's statistics need more than one value per channel)
    for size in (299, 342):
        same_counts(analyze("inception_v3.yaml", input=size), torch_counts(full, (3, size, size)))
        a = analyze("inception_v3.yaml", input=size, train=True, batch=2)
        ref = torch_counts(full, (3, size, size), batch=2, train=True)
        same_counts(a, ref)
        assert len(ref.output_shapes) == 2


@pytest.mark.torch
@pytest.mark.parametrize("name", sorted(TORCHVISION))
def test_matches_torchvision_metadata(name):
    torchvision = pytest.importorskip("torchvision")
    meta = torchvision.models.get_model_weights(name).DEFAULT.meta
    t = analyze(FILE_OF[name], name).totals   # inference: as published (Inception v3: no head)
    assert t.params == meta["num_params"]
    assert abs(Fraction(t.macs, 10**9) - Fraction(str(meta["_ops"]))) <= Fraction(1, 2000)


# -- independent torch implementations -------------------------------------------------------
def cifar_reference(n):
    """He et al. 2016, section 4.2, written directly in torch (option A as in the common CIFAR
    reference code: F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, planes // 4, planes // 4)))."""
    import torch.nn.functional as F
    from torch import nn

    class Block(nn.Module):
        def __init__(self, c_in, planes, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(c_in, planes, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(planes)
            self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(planes)
            self.pad = planes // 4 if stride != 1 else 0

        def forward(self, x):
            out = F.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            short = x if not self.pad else F.pad(x[:, :, ::2, ::2],
                                                 (0, 0, 0, 0, self.pad, self.pad))
            return F.relu(out + short)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(16)
            blocks, c = [], 16
            for planes, stride in ((16, 1), (32, 2), (64, 2)):
                for i in range(n):
                    blocks.append(Block(c, planes, stride if i == 0 else 1))
                    c = planes
            self.blocks = nn.Sequential(*blocks)
            self.fc = nn.Linear(64, 10)

        def forward(self, x):
            x = self.blocks(F.relu(self.bn1(self.conv1(x))))
            return self.fc(x.mean((2, 3)))
    return Net()


def se_reference(layers, groups, width_per_group, stride_in_1x1):
    """SE-ResNet / SE-ResNeXt as in the authors' released Caffe models and their PyTorch port
    (pretrainedmodels' senet.py: SEModule, SEResNetBottleneck, SEResNeXtBottleneck, layer0 with a
    ceil_mode max pool), written directly in torch."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    class SEModule(nn.Module):
        def __init__(self, c, r=16):
            super().__init__()
            self.fc1 = nn.Conv2d(c, c // r, 1)
            self.fc2 = nn.Conv2d(c // r, c, 1)

        def forward(self, x):
            s = F.adaptive_avg_pool2d(x, 1)
            return x * torch.sigmoid(self.fc2(F.relu(self.fc1(s))))

    class Bottleneck(nn.Module):
        def __init__(self, c_in, planes, stride):
            super().__init__()
            width = planes * width_per_group // 64 * groups
            s1, s3 = (stride, 1) if stride_in_1x1 else (1, stride)
            self.conv1 = nn.Conv2d(c_in, width, 1, s1, bias=False)
            self.bn1 = nn.BatchNorm2d(width)
            self.conv2 = nn.Conv2d(width, width, 3, s3, 1, groups=groups, bias=False)
            self.bn2 = nn.BatchNorm2d(width)
            self.conv3 = nn.Conv2d(width, planes * 4, 1, bias=False)
            self.bn3 = nn.BatchNorm2d(planes * 4)
            self.se_module = SEModule(planes * 4)
            self.downsample = None
            if stride != 1 or c_in != planes * 4:
                self.downsample = nn.Sequential(
                    nn.Conv2d(c_in, planes * 4, 1, stride, bias=False), nn.BatchNorm2d(planes * 4))

        def forward(self, x):
            out = F.relu(self.bn1(self.conv1(x)))
            out = F.relu(self.bn2(self.conv2(out)))
            out = self.se_module(self.bn3(self.conv3(out)))
            short = x if self.downsample is None else self.downsample(x)
            return F.relu(out + short)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
            self.bn1 = nn.BatchNorm2d(64)
            self.pool = nn.MaxPool2d(3, 2, ceil_mode=True)
            blocks, c = [], 64
            for s, (planes, count) in enumerate(zip((64, 128, 256, 512), layers)):
                for i in range(count):
                    blocks.append(Bottleneck(c, planes, 2 if (i == 0 and s > 0) else 1))
                    c = planes * 4
            self.blocks = nn.Sequential(*blocks)
            self.last_linear = nn.Linear(2048, 1000)

        def forward(self, x):
            x = self.pool(F.relu(self.bn1(self.conv1(x))))
            x = F.adaptive_avg_pool2d(self.blocks(x), 1).flatten(1)
            return self.last_linear(x)
    return Net()


def copy_weights(src, dst):
    """Copy parameters and buffers in registration order (the shapes must agree one by one)."""
    import torch
    pairs = list(zip(src.state_dict().values(), dst.state_dict().values()))
    assert len(src.state_dict()) == len(dst.state_dict())
    with torch.no_grad():
        for s, d in pairs:
            assert s.shape == d.shape
            d.copy_(s)


def same_function(graph, reference_module, seed=1):
    """The definition built by cnnstat's torch bridge computes what the reference module
    computes, given the same weights (random BN statistics make a wrong layout show)."""
    import torch
    from cnnstat.torch_bridge.build import build_module, example_input
    torch.manual_seed(seed)
    ref = reference_module.eval()
    with torch.no_grad():
        for m in ref.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    ours = build_module(graph)
    copy_weights(ref, ours)
    x = example_input(graph)
    with torch.no_grad():
        expected, got = ref(x), ours(x)
    assert got.shape == expected.shape
    assert torch.allclose(got, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.torch
@pytest.mark.parametrize("name", ["resnet20", "resnet56"])
def test_cifar_resnet_matches_reference_implementation(name):
    pytest.importorskip("torch")
    from tests.oracles.reference import torch_counts
    n = CIFAR[name]
    a = analyze("resnet_cifar.yaml", name)
    ref = cifar_reference(n)
    same_counts(a, torch_counts(ref, (3, 32, 32)))
    same_function(a.graph, ref)


@pytest.mark.torch
@pytest.mark.parametrize("name,layers,groups,width,in_1x1", [
    ("se_resnet50", (3, 4, 6, 3), 1, 64, True),
    ("se_resnext50_32x4d", (3, 4, 6, 3), 32, 4, False),
])
def test_se_matches_reference_implementation(name, layers, groups, width, in_1x1):
    pytest.importorskip("torch")
    from tests.oracles.reference import torch_counts
    ref = se_reference(layers, groups, width, in_1x1)
    for size in (224, 256):
        same_counts(analyze("se_resnet.yaml", name, input=size),
                    torch_counts(ref, (3, size, size)))
    same_function(analyze("se_resnet.yaml", name).graph, ref)


@pytest.mark.torch
def test_se_baselines_are_torchvision_resnet50_and_resnext50(tv_models):
    from tests.oracles.reference import torch_counts
    # parameters do not depend on where the stride is: the baseline of SE-ResNet-50 has
    # torchvision's ResNet-50 parameter count
    base = analyze("se_resnet.yaml", "se_resnet50", set={"se": "false"})
    assert base.totals.params == sum(p.numel() for p in tv_models("resnet50").parameters())
    # ResNeXt keeps its stride on the 3x3 like torchvision; the stems' max pools (Caffe's rounding
    # up vs padding 1) agree on even sizes, so every count agrees
    for size in (224, 320):
        a = analyze("se_resnet.yaml", "se_resnext50_32x4d", input=size, set={"se": "false"})
        same_counts(a, torch_counts(tv_models("resnext50_32x4d"), (3, size, size)))


ALL_VARIANTS = sorted((f, v) for f in FILES for v in definition(f).variants)


@pytest.mark.torch
@pytest.mark.parametrize("file,variant", ALL_VARIANTS)
def test_definition_runs_in_torch(file, variant):
    """Every variant built from its own definition by cnnstat's torch bridge and run: output
    shapes, parameters, buffers and multiply-adds (hooks) as analysed. Models over 4 GMACs run on
    the meta device (shapes without arithmetic); on small inputs the CPU is faster."""
    pytest.importorskip("torch")
    from cnnstat.torch_bridge.build import build_module
    from tests.oracles.reference import torch_counts
    a = analyze(file, variant)
    device = "cpu"
    ref = torch_counts(build_module(a.graph, device=device), a.graph.input_shape, device=device)
    assert (ref.params, ref.buffers, ref.macs) == (a.totals.params, a.totals.buffers, a.totals.macs)
    assert ref.output_shapes == a.output_shapes
