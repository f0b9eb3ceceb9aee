"""The 1-D and 3-D zoo (issue 14), each model against its source.

- torchvision's video models (r3d_18, mc3_18, r2plus1d_18, s3d): parameters, buffers, conv+linear
  multiply-adds, output shapes and every weighted layer (a multiset) against the torchvision
  module's forward hooks at the default input (meta device) and at a smaller clip (CPU), and
  against torchvision's shipped metadata (num_params, _ops);
- the models torchvision lacks (Dai et al.'s M3-M34-res, the TCN, C3D, 3-D U-Net, V-Net): the
  papers' figures and shapes, hand-derived, and the module cnnstat builds from the definition
  counted by torch's hooks.
"""

from __future__ import annotations

import collections

import pytest

from cnnstat import zoo
from cnnstat.analyze import analyze_graph
from cnnstat.models import load_graph

from .conftest import assert_built_module_agrees

# zoo name -> a smaller clip (C, D, H, W) for the CPU run
VIDEO = {"r3d_18": (3, 8, 56, 56), "mc3_18": (3, 8, 48, 48), "r2plus1d_18": (3, 4, 32, 32),
         "s3d": (3, 14, 224, 224)}
# zoo name -> a small input for the CPU run (None: the meta device only; 3-D U-Net's valid
# convolutions need 92 voxels along each axis at least, 70 G multiply-adds)
OWN = {"m3": (1, 4000), "m5": (1, 4000), "m11": (1, 4000), "m18": (1, 4000),
       "m34_res": (1, 4000), "tcn": (1, 300), "c3d": (3, 8, 112, 112), "unet3d": None,
       "vnet": (1, 16, 32, 32)}
ND_FILES = ["raw_waveform.yaml", "tcn.yaml", "c3d.yaml", "video_resnet.yaml", "s3d.yaml",
            "unet3d.yaml", "vnet.yaml"]
WEIGHTED = ("conv1d", "conv3d", "conv_transpose3d", "linear")


def analysis(name: str, shape=None):
    return analyze_graph(load_graph(name, input_shape=shape))


def weighted_static(a) -> collections.Counter:
    return collections.Counter((r.output_shape, r.params, r.macs_by_kind.get("weight", 0))
                               for r in a.records if r.op in WEIGHTED)


def weighted_torch(counts) -> collections.Counter:
    """Every module that multiplies by weights (torchvision's Conv3DSimple and
    Conv3DNoTemporal are Conv3d subclasses)."""
    return collections.Counter((m.output_shape, m.params, m.macs) for m in counts.modules
                               if m.macs)


@pytest.mark.parametrize("filename", ND_FILES)
def test_zoo_file_metadata(filename):
    from cnnstat.definition import describe_variant
    d = zoo.definition(zoo.ZOO_DIR / filename)
    for key in ("title", "paper", "year", "family", "notes", "url"):
        assert d.doc.get(key), f"{filename} has no {key}"
    for variant in d.variants:
        assert describe_variant(d, variant).get("reference"), f"{variant} has no reference"


# -- torchvision's video models ---------------------------------------------------------------------
@pytest.fixture(scope="module", params=sorted(VIDEO))
def tv_video(request):
    import torch
    import torchvision
    from tests.oracles.reference import torch_counts
    name = request.param
    torch.manual_seed(0)
    model = torchvision.models.get_model(name, weights=None)
    small = torch_counts(model, VIDEO[name])
    full = torch_counts(model, load_graph(name).input_shape, device="meta")
    return name, full, small


@pytest.mark.torch
def test_video_models_match_torchvision(tv_video):
    name, full, small = tv_video
    a = analysis(name)
    assert a.input_shape == ((3, 16, 224, 224) if name == "s3d" else (3, 16, 112, 112))
    assert (a.totals.params, a.totals.trainable_params, a.totals.buffers) == \
        (full.params, full.trainable_params, full.buffers)
    assert a.totals.macs == full.macs and a.output_shapes == full.output_shapes
    assert weighted_static(a) == weighted_torch(full)
    b = analysis(name, VIDEO[name])
    assert (b.totals.params, b.totals.macs, b.output_shapes) == \
        (small.params, small.macs, small.output_shapes)
    assert weighted_static(b) == weighted_torch(small)


@pytest.mark.torch
@pytest.mark.parametrize("name", sorted(VIDEO))
def test_video_models_match_torchvision_metadata(name):
    """num_params exactly, _ops (GMACs of a 16-frame clip at the crop size, 3 decimals) within
    rounding: r3d_18 33,371,472 and 40.697; mc3_18 11,695,440 and 43.343; r2plus1d_18
    31,505,325 and 40.519; s3d 8,320,048 and 17.979."""
    import torchvision
    meta = torchvision.models.get_model_weights(name).DEFAULT.meta
    a = analysis(name)
    assert a.totals.params == meta["num_params"]
    assert abs(a.totals.macs / 1e9 - meta["_ops"]) <= 0.0005 + 1e-12


def test_r2plus1d_midplanes():
    # Tran et al. 2018: M_i = floor(t d^2 N_{i-1} N_i / (d^2 N_{i-1} + t N_i)), t = d = 3:
    # layer1: 27 * 64 * 64 / (9 * 64 + 3 * 64) = 110592 / 768 = 144;
    # layer2.0: 27 * 64 * 128 / (9 * 64 + 3 * 128) = 221184 / 960 = 230 (230.4)
    a = analysis("r2plus1d_18")
    assert a.record("layer1.0.conv1.spatial").output_shape[1] == 144
    assert a.record("layer2.0.conv1.spatial").output_shape[1] == 230
    assert a.record("layer2.0.conv2.spatial").output_shape[1] == 230   # the block's M, again
    # the stem: 1x7x7 to 45 channels, then 3x1x1 to 64: 3*45*49 + 45*64*3 = 6,615 + 8,640
    assert a.record("stem.spatial").params + a.record("stem.temporal").params == 15_255


def test_mc3_keeps_time_after_the_first_stage():
    a = analysis("mc3_18")
    # 16 frames: the stem and layer1 (3x3x3) keep them, layer2 downsamples D by 2 only where the
    # convolution is 3-D: MC3's stages 2-4 are 1x3x3, so the depth stays 16
    assert a.record("layer1.1.relu2").output_shape == (1, 64, 16, 56, 56)
    assert a.record("layer4.1.relu2").output_shape == (1, 512, 16, 7, 7)
    assert analysis("r3d_18").record("layer4.1.relu2").output_shape == (1, 512, 2, 7, 7)


# -- models torchvision lacks: the papers ---------------------------------------------------------
def test_raw_waveform_table1():
    """Dai et al. 2017, Table 1: the parameters printed as 0.2M, 0.5M, 1.8M, 3.7M, 4M; the sizes
    after each pooling 2000, 500, 125, 32 (of 32,000 samples)."""
    printed = {"m3": 0.2, "m5": 0.5, "m11": 1.8, "m18": 3.7, "m34_res": 4}
    for name, millions in printed.items():
        a = analysis(name)
        digits = 0 if name == "m34_res" else 1
        # M5: 559,114 (557,066 without batch norm) is 0.56M: the printed 0.5M is below the
        # network of the table (the difference is explained in `cnnstat paper raw_waveform`)
        want = 0.6 if name == "m5" else millions
        assert round(a.totals.params / 1e6, digits) == want, name
        pools = [r.output_shape[2] for r in a.records if r.op == "maxpool1d"]
        assert pools == [2000, 500, 125, 32][:len(pools)] and len(pools) == (2 if name == "m3"
                                                                              else 4)
        assert a.output_shapes == [(1, 10)]
    # M3 by hand: conv1 1*80*256 + 256 = 20,736; [3, 256]: 256*3*256 + 256 = 196,864;
    # two batch norms 2 * 2 * 256 = 1,024; softmax layer 256*10 + 10 = 2,570: 221,194
    assert analysis("m3").totals.params == 20_736 + 196_864 + 1_024 + 2_570 == 221_194
    # weight layers: 3, 5, 11, 18, 34 (convolutions + the softmax layer)
    for name, n in (("m3", 3), ("m5", 5), ("m11", 11), ("m18", 18), ("m34_res", 34)):
        assert sum(r.op in ("conv1d", "linear") for r in analysis(name).records) == n, name


def test_c3d_architecture():
    """Tran et al. 2015: 8 convolutions 3x3x3, 5 max poolings, 2 fully connected layers of 4096
    and a softmax; 3 x 16 x 112 x 112 clips; pool5 gives 512 x 1 x 4 x 4 = 8,192 features."""
    a = analysis("c3d")
    ops = collections.Counter(r.op for r in a.records)
    assert (ops["conv3d"], ops["maxpool3d"], ops["linear"], ops["softmax"]) == (8, 5, 3, 1)
    assert all(r.attrs["kernel"] == (3, 3, 3) and r.attrs["stride"] == (1, 1, 1)
               for r in a.records if r.op == "conv3d")
    assert a.record("pool1").output_shape == (1, 64, 16, 56, 56)
    assert a.record("flatten").output_shape == (1, 8192)
    assert a.record("fc6").params == 8192 * 4096 + 4096
    # convolutions 3x3x3 with biases: 3->64, 64->128, 128->256, 256->256, 256->512, then three
    # 512->512: sum of 27*a*b + b = 27,655,936; fc6 8,192*4,096 + 4,096, fc7 4,096*4,096 + 4,096
    # (50,339,840); fc8 to Sports-1M's 487 classes 4,096*487 + 487 = 1,995,239
    assert a.totals.params == 27_655_936 + 50_339_840 + 1_995_239 == 79_991_015


def test_unet3d_paper_shapes_and_parameters():
    """Çiçek et al. 2016: a 132 x 132 x 116 tile of 3 channels gives a 44 x 44 x 28 output of 3
    labels; "the architecture has 19069955 parameters in total": convolutions with biases,
    up-convolutions without, batch norm not counted (4,672 scales and shifts come on top)."""
    a = analysis("unet3d")
    assert a.input_shape == (3, 116, 132, 132)
    assert a.output_shapes == [(1, 3, 28, 44, 44)]
    norm = sum(r.params for r in a.records if r.op == "batchnorm3d")
    # two per channel after each of the 14 convolutions 3x3x3
    assert norm == 2 * (32 + 64 + 64 + 128 + 128 + 256 + 256 + 512
                        + 256 + 256 + 128 + 128 + 64 + 64) == 4_672
    assert a.totals.params - norm == 19_069_955
    assert a.record("bottom.conv2.relu").output_shape == (1, 512, 7, 9, 9)


def test_vnet_shapes():
    """Milletari et al. 2016: 128 x 128 x 64 volumes, four 2x2x2 stride-2 down-convolutions to
    8 x 8 x 4 with 256 channels, back up to the input's size, two output channels."""
    a = analysis("vnet")
    assert a.record("left5.add").output_shape == (1, 256, 4, 8, 8)
    assert a.record("right1.stage.add").output_shape == (1, 32, 64, 128, 128)
    assert a.output_shapes == [(1, 2, 64, 128, 128)]
    # the first stage's residual adds the 1-channel input to 16 channels (broadcast)
    assert a.record("left1.add").input_shapes == ((1, 16, 64, 128, 128), (1, 1, 64, 128, 128))


def test_tcn_parameters():
    """Bai et al. 2018, Table 1 (Seq. MNIST, "70K"): 8 levels of 25 channels, k = 7:
    block 0: 1*7*25 + 25 = 200, 25*7*25 + 25 = 4,400, 1x1 shortcut 1*25 + 25 = 50;
    blocks 1-7: 2 * 4,400 each; linear 25*10 + 10 = 260: 66,510."""
    assert analysis("tcn").totals.params == 200 + 4_400 + 50 + 7 * 2 * 4_400 + 260 == 66_510


# -- every own definition runs in torch, counted by hooks ------------------------------------------
@pytest.mark.torch
@pytest.mark.parametrize("name", sorted(n for n, shape in OWN.items() if shape))
def test_own_definition_runs_in_torch(name):
    assert_built_module_agrees(load_graph(name, input_shape=OWN[name]))


@pytest.mark.torch
@pytest.mark.parametrize("name", sorted(OWN))
def test_own_definition_at_default_input_on_meta(name):
    assert_built_module_agrees(load_graph(name), device="meta")
