"""One, two and three spatial axes (issue 14): the 1-D and 3-D operator rules with hand-derived
numbers, receptive fields and exact unit fields per named axis, how --input and a definition's
input are read against a model's rank, and the command line on 1-D and 3-D models."""

from __future__ import annotations

import json

import pytest

import cnnstat
from cnnstat.analyze import analyze_graph
from cnnstat.cli import main
from cnnstat.errors import DefinitionError, ShapeError, UsageError
from cnnstat.models import parse_input, resolve_input
from cnnstat.ops import REGISTRY
from cnnstat.ops.base import BIAS, POOL, RESIZE, WEIGHT, WHOLE, Window
from cnnstat.definition import build_graph, parse_definition


def run(op, shapes, *args, **kwargs):
    rule = REGISTRY[op]
    attrs = rule.bind(list(args), kwargs)
    return rule.evaluate(attrs, shapes)


def analyze(text: str, **kw):
    return analyze_graph(build_graph(parse_definition(text, "t.yaml")), **kw)


# -- 1-D rules -----------------------------------------------------------------------------------
def test_conv1d_counts():
    # M5's first layer: 128 filters of 80 taps, stride 4, padding 38 on 32000 samples:
    # L_out = (32000 + 76 - 80) // 4 + 1 = 8000; params 128 * (80 + 1) = 10,368;
    # MACs 128 * 8000 * 80 = 81,920,000
    ev = run("conv1d", [(1, 1, 32000)], 128, 80, stride=4, padding=38)
    assert ev.shape == (1, 128, 8000)
    assert ev.params == 10_368
    assert ev.macs[WEIGHT] == 81_920_000 and ev.macs[BIAS] == 128 * 8000
    # connections: taps inside the input per output position, summed: 8000*80 minus the 38 + 38
    # taps in the padding at both ends (units 0..9 and 7990..7999 reach into it)
    inside = sum(max(0, min(31999, u * 4 - 38 + 79) - max(0, u * 4 - 38) + 1)
                 for u in range(8000))
    assert ev.connections == 128 * inside + 128 * 8000
    assert ev.rf.axes == (Window(80, 4, 38),)
    assert REGISTRY["conv1d"].describe(REGISTRY["conv1d"].bind([128, 80], {"stride": 4}),
                                       [(1, 1, 32000)]) == \
        "Conv1d(1, 128, kernel_size=(80,), stride=(4,))"


def test_causal_dilated_conv1d():
    # a TCN's causal convolution: k = 7, d = 4, padding (k - 1) d = 24 before the sequence only:
    # the length is kept, and output t reads inputs t - 24 .. t (every 4th)
    ev = run("conv1d", [(2, 25, 784)], 25, 7, dilation=4, padding=[[24, 0]])
    assert ev.shape == (2, 25, 784)
    assert ev.rf.axes == (Window(25, 1, 24, True, 4),)        # extent 4 * 6 + 1 = 25
    assert ev.macs[WEIGHT] == 2 * 25 * 784 * 25 * 7


def test_pools_and_norm_1d():
    assert run("maxpool1d", [(1, 128, 8000)], 4).shape == (1, 128, 2000)
    # ceil_mode: 125 / 4 -> 32 (the last window starts at 124, inside the input)
    pool = run("maxpool1d", [(1, 512, 125)], 4, ceil_mode=True)
    assert pool.shape == (1, 512, 32) and pool.macs[POOL] == 512 * 32 * 4
    assert run("avgpool1d", [(1, 2, 10)], 3, stride=2, padding=1).shape == (1, 2, 5)
    bn = run("batchnorm1d", [(1, 64, 500)])
    assert (bn.params, bn.buffers) == (128, 129)
    # adaptive pooling of 10 to 3: windows [0,4), [3,7), [6,10): 4 + 4 + 4 elements
    ad = run("adaptive_avgpool1d", [(1, 2, 10)], 3)
    assert ad.shape == (1, 2, 3) and ad.macs[POOL] == 2 * 12
    with pytest.raises(DefinitionError, match="must be a length"):
        REGISTRY["adaptive_maxpool1d"].bind([None])          # PyTorch's 1-D pools take an int
    gp = run("global_avgpool", [(1, 512, 32)], keepdim=False)
    assert gp.shape == (1, 512) and gp.macs[POOL] == 512 * 32


def test_upsample_and_pad_1d():
    # linear upsampling reads 2 taps per output element (resize kind)
    up = run("upsample", [(1, 4, 10)], scale=2, mode="linear")
    assert up.shape == (1, 4, 20) and up.macs[RESIZE] == 4 * 20 * 2
    assert not up.rf.axes[0].exact                            # stride 1/2: an envelope
    with pytest.raises(ShapeError, match=r"mode 'bilinear' interpolates \(C, H, W\) feature maps"
                                         r".*\(a 1-D map takes 'linear'\)"):
        run("upsample", [(1, 4, 10)], scale=2, mode="bilinear")
    pad = run("zero_pad1d", [(1, 4, 10)], [[1, 2]])
    assert pad.shape == (1, 4, 13) and pad.rf.axes == (Window(1, 1, 1),)
    assert REGISTRY["zero_pad1d"].describe({"padding": ((1, 2),)}, [(1, 4, 10)]) == \
        "ZeroPad1d((1, 2))"


# -- 3-D rules -----------------------------------------------------------------------------------
def test_conv3d_counts():
    # C3D's conv1a: 64 filters 3x3x3, padding 1, on 3 x 16 x 112 x 112:
    # params 64 * (3 * 27 + 1) = 5,248; MACs 64 * 16*112*112 * 81 = 1,040,449,536
    ev = run("conv3d", [(1, 3, 16, 112, 112)], 64, 3, padding=1)
    assert ev.shape == (1, 64, 16, 112, 112)
    assert ev.params == 5_248
    assert ev.macs[WEIGHT] == 64 * 16 * 112 * 112 * 81 == 1_040_449_536
    # a (2+1)D factorization: 1x3x3 then 3x1x1, per-axis stride and padding
    sp = run("conv3d", [(1, 64, 8, 28, 28)], 144, [1, 3, 3], stride=[1, 2, 2], padding=[0, 1, 1])
    assert sp.shape == (1, 144, 8, 14, 14)
    assert sp.rf.axes == (Window(1, 1, 0), Window(3, 2, 1), Window(3, 2, 1))
    assert REGISTRY["conv3d"].describe(
        REGISTRY["conv3d"].bind([144, [1, 3, 3]], {"stride": [1, 2, 2], "padding": [0, 1, 1],
                                                    "bias": False}), [(1, 64, 8, 28, 28)]) == \
        ("Conv3d(64, 144, kernel_size=(1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1), "
         "bias=False)")


def test_conv_transpose3d_and_pools():
    # 3-D U-Net's up-convolution 2x2x2 stride 2: 512 x 7x9x9 -> 512 x 14x18x18;
    # MACs (fvcore's rule) 512 * 7*9*9 * 512 * 8
    up = run("conv_transpose3d", [(1, 512, 7, 9, 9)], 512, 2, stride=2, bias=False)
    assert up.shape == (1, 512, 14, 18, 18)
    assert up.params == 512 * 512 * 8
    assert up.macs[WEIGHT] == 512 * 7 * 9 * 9 * 512 * 8
    assert not any(w.exact for w in up.rf.axes)               # stride 1/2: an envelope
    # pool1 of C3D keeps the frames: 1x2x2
    assert run("maxpool3d", [(1, 64, 16, 112, 112)], [1, 2, 2]).shape == (1, 64, 16, 56, 56)
    # pool5: 2 x 7 x 7 -> 1 x 4 x 4 with ceil_mode (Caffe's rounding)
    assert run("maxpool3d", [(1, 512, 2, 7, 7)], 2, ceil_mode=True).shape == (1, 512, 1, 4, 4)
    # AvgPool3d needs each side to hold the kernel, whatever the padding (PyTorch's check)
    with pytest.raises(ShapeError, match="smaller than the kernel 2x7x7"):
        run("avgpool3d", [(1, 8, 2, 3, 3)], [2, 7, 7], stride=1)
    assert run("adaptive_avgpool3d", [(1, 8, 2, 7, 7)], 1).shape == (1, 8, 1, 1, 1)
    bn = run("batchnorm3d", [(2, 16, 4, 8, 8)])
    assert (bn.params, bn.buffers, bn.macs["norm"]) == (32, 33, 2 * 16 * 4 * 8 * 8)


def test_rank_errors_name_the_form_for_the_rank():
    with pytest.raises(ShapeError, match=r"conv3d needs a \(C, D, H, W\) feature map, got a 2-D "
                                         r"feature map 3x32x32 \(a 2-D feature map takes conv2d\)"):
        run("conv3d", [(1, 3, 32, 32)], 8, 3)
    with pytest.raises(ShapeError, match=r"maxpool2d needs a \(C, H, W\) feature map, got a 1-D "
                                         r"feature map 4x100 \(a 1-D feature map takes maxpool1d\)"):
        run("maxpool2d", [(1, 4, 100)], 2)
    with pytest.raises(ShapeError, match="inputs of different ranks"):
        run("add", [(1, 4, 100), (1, 4, 10, 10)])


def test_every_rank_specific_operator_has_three_forms():
    for family in ("conv", "conv_transpose", "maxpool", "avgpool", "adaptive_avgpool",
                   "adaptive_maxpool", "batchnorm", "zero_pad"):
        assert {f"{family}{r}d" for r in (1, 2, 3)} <= set(REGISTRY), family


# -- receptive fields per axis -------------------------------------------------------------------
def test_tcn_receptive_field_formula():
    """Bai et al. 2018, section 3.2: L blocks of two causal convolutions of kernel k with
    dilation 2^i see 1 + 2 (k - 1)(2^L - 1) steps, all of them in the past (padding = r - 1)."""
    for k, levels in ((2, 4), (3, 6), (7, 8), (5, 3)):
        a = cnnstat.analyze("tcn", set={"kernel": k, "levels": levels}, input=2048)
        rf = a.record(f"tcn.{levels - 1}.relu").rf
        r = 1 + 2 * (k - 1) * (2 ** levels - 1)
        assert (rf.length.size, rf.length.stride, rf.length.padding) == (r, 1, r - 1), (k, levels)
        assert rf.names == ("length",)
    # sequential MNIST's configuration: k = 7, 8 levels: 1 + 2 * 6 * 255 = 3,061 > 784
    assert cnnstat.analyze("tcn").record("tcn.7.relu").rf.length.size == 3061


def test_fields_are_per_named_axis():
    a = cnnstat.analyze("c3d")
    rf = a.record("conv5b.conv").rf
    assert rf.names == ("depth", "height", "width")
    # depth: convs add 2 * stride; pool1 has stride 1 along the depth, pool2..4 stride 2:
    # 1 + 2 (conv1a) + 2 (conv2a) + 1 (pool2) + 2*2*2 (conv3a,b) + 2 (pool3)
    #   + 2*4*2 (conv4a,b) + 4 (pool4) + 2*8*2 (conv5a,b) = 68, stride 8
    assert (rf.d.size, rf.d.stride) == (68, 8)
    assert (rf.h.size, rf.h.stride) == (134, 16)     # height: pool1 halves it too
    with pytest.raises(AttributeError, match="no axis 'length'"):
        rf.length
    m5 = cnnstat.analyze("m5").record("stage.2.block.0.conv").rf
    assert m5.names == ("length",) and m5.length.size == m5.axes[0].size
    with pytest.raises(AttributeError, match="no axis 'height'"):
        m5.h


def test_field_after_a_change_of_rank_is_an_envelope():
    # flatten(start=2) turns 2-D maps into 1-D ones; a conv1d on them cannot be laid on the
    # image's axes: the whole input, marked inexact, with a note
    a = analyze("input: [2, 8, 8]\nlayers:\n  - c: conv2d(4, 3, padding=1)\n"
                "  - f: flatten(2)\n  - d: conv1d(4, 3, padding=1)\n")
    rf = a.record("d").rf
    assert rf.whole and not rf.exact and "derived from the 2-D input" in rf.note
    assert a.record("c").rf.h.size == 3


def test_unit_fields_in_1d_and_3d():
    a = cnnstat.analyze("tcn", input=100)
    f = a.unit_field("tcn.1.conv2", (50,))
    # two levels, k = 7, d = 1 then 2: causal: 50 - 6 - 6 - 12 - 12 = 14 .. 50
    assert f.axes == ("length",) and f.ends == ((14, 50),) and f.size == (37,)
    from cnnstat.render.unit import describe
    assert describe(f) == "tcn.1.conv2[50] reads input positions 14-50 (37 samples)"
    u = cnnstat.analyze("unet3d").unit_field("out", (0, 0, 0))
    # valid convolutions: the output's first unit reads a 92-voxel cube from the corner (the
    # paper's 132 - 44 + ... the field is 88 + 4 wide at the up-convolutions' phase 0)
    assert u.axes == ("depth", "height", "width")
    assert u.ends == ((0, 91), (0, 91), (0, 91))
    assert describe(u) == ("out[0, 0, 0] reads input slices 0-91, rows 0-91 and columns 0-91 "
                           "(92x92x92 voxels)")
    with pytest.raises(UsageError, match=r"unit \(0, 0\) has 2 index\(es\), but layer 'out' is a "
                                         r"3-D map \(28x44x44\).*out:0,0,0"):
        cnnstat.analyze("unet3d").unit_field("out", (0, 0))


# -- --input and input: read against the model's rank --------------------------------------------
@pytest.mark.parametrize("size,shape,want", [
    ("16000", (1, 32000), (1, 16000)),                  # 1-D: one number is L
    ("2x16000", (1, 32000), (2, 16000)),                # C x L
    ("224", (3, 224, 224), (3, 224, 224)),              # image: a square
    ("160x224", (3, 224, 224), (3, 160, 224)),          # H x W
    ("1x64x64", (3, 224, 224), (1, 64, 64)),            # C x H x W
    ("16x112x112", (3, 16, 112, 112), (3, 16, 112, 112)),   # 3-D: D x H x W
    ("1x8x64x64", (3, 16, 112, 112), (1, 8, 64, 64)),       # C x D x H x W
    ((None, 64), (1, 32000), (1, 64)),                  # internal: spatial sizes only
])
def test_input_is_read_against_the_rank(size, shape, want):
    assert resolve_input(size, shape) == want


@pytest.mark.parametrize("size,shape,says", [
    ("3x224x224", (1, 32000), "reads as three sizes (C×H×W of an image, or D×H×W of a 3-D "
                              "input), but m is a 1-D model (C×L), default 1×32000: write L "
                              "(32000) or C×L (1×32000)"),
    ("112", (3, 16, 112, 112), "but m is a 3-D model (C×D×H×W), default 3×16×112×112: write "
                               "D×H×W (16×112×112) or C×D×H×W (3×16×112×112)"),
    ("160x224", (3, 16, 112, 112), "reads as two sizes"),
    ("3x16x112x112", (3, 224, 224), "four sizes (C×D×H×W of a 3-D input), but m is an image "
                                    "model (C×H×W)"),
])
def test_ambiguous_or_wrong_rank_sizes_are_one_line(size, shape, says):
    with pytest.raises(UsageError) as info:
        resolve_input(size, shape, "m")
    assert says in info.value.message and "\n" not in info.value.message


def test_parse_input_syntax():
    assert parse_input("3x16x112x112").values == (3, 16, 112, 112)
    assert parse_input("1 × 16000").values == (1, 16000)
    for bad in ("1x2x3x4x5", "abc", "x3"):
        with pytest.raises(UsageError, match="is not a size"):
            parse_input(bad)


def test_definition_inputs_of_every_rank():
    one = analyze("input: [1, 100]\nlayers:\n  - conv1d(4, 5)\n")
    assert one.input_shape == (1, 100) and one.records[0].output_shape == (1, 4, 96)
    three = analyze("input: [2, 4, 8, 8]\nlayers:\n  - conv3d(4, 3)\n")
    assert three.records[0].output_shape == (1, 4, 2, 6, 6)
    assert three.axes == ("depth", "height", "width") and three.rank == 3
    with pytest.raises(DefinitionError, match=r"'input' must be \[channels, length\]"):
        analyze("input: [1, 2, 3, 4, 5]\nlayers:\n  - relu\n")


# -- the command line ----------------------------------------------------------------------------
def test_cli_rf_tables_name_their_units(capsys):
    assert main(["rf", "m5", "--format", "md"]) == 0
    out = capsys.readouterr().out
    assert "RF size (samples)" in out and "input | 1×32000 (C×L)" not in out
    assert "1×32000 (C×L), batch 1" in out
    assert main(["rf", "c3d", "--format", "md"]) == 0
    out = capsys.readouterr().out
    assert "RF size (voxels)" in out and "3×16×112×112 (C×D×H×W)" in out
    # 68 along the depth, 134 along height and width
    assert "| 68×134×134 |" in out


def test_cli_rf_at_in_3d(capsys):
    assert main(["rf", "unet3d", "--at", "out:0,0,0", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["axes"] == ["depth", "height", "width"]
    assert data["ends"] == [[0, 91], [0, 91], [0, 91]] and data["rows"] == [0, 91]
    assert main(["rf", "tcn", "--at", "tcn.7.relu:783", "--format", "csv"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == ("model,layer,pos,first_pos,last_pos,length_samples,positions_read")
    assert out[1].startswith("tcn,tcn.7.relu,783,0,783,784,784")


def test_cli_json_axes(capsys):
    assert main(["summary", "r3d_18", "--format", "json", "--depth", "1"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["input"] == [3, 16, 112, 112]
    assert data["input_axes"] == ["channels", "depth", "height", "width"]
    assert data["layers"][0]["rf"]["axes"] == ["depth", "height", "width"]
    assert len(data["layers"][0]["rf"]["size"]) == 3


def test_shapes_survey_groups_models_by_rank(capsys):
    from cnnstat.survey import survey
    rows = {r.model: r for r in survey("224")}
    assert rows["resnet18"].rank == 2 and rows["resnet18"].input == (3, 224, 224)
    assert rows["m5"].rank == 1 and rows["m5"].input == (1, 224)       # a length of 224
    # 224 / 4 (stride) / 4 (pool) = 14 ... with ceil_mode: 56 -> 14 -> 4 -> 1
    assert rows["m5"].stages == ((56,), (14,), (4,), (1,)) and rows["m5"].output == (1, 10)
    assert rows["tcn"].tried and rows["tcn"].output == (1, 10)
    # a 3-D model is not tried at a size it cannot read; it says what it takes
    assert not rows["r3d_18"].tried and "write D×H×W" in rows["r3d_18"].error
    ranks = [r.rank for r in survey("224")]
    assert ranks == sorted(ranks)
    assert main(["shapes", "--input", "16x112x112", "--format", "md"]) == 0
    out = capsys.readouterr().out
    assert "### 3-D models (C×D×H×W)" in out and "### image models (C×H×W)" in out
    assert "| r3d_18 | [1, 400] |" in out
