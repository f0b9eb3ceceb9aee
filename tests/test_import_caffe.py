"""Caffe prototxt import: the text-format reader, every supported layer type with hand-derived
numbers (tests/fixtures/caffe/every_layer.prototxt), CaffeNet in the legacy V1 syntax, GoogLeNet's
naming and pooling, and the errors a user can act on."""

from __future__ import annotations

from pathlib import Path

import pytest

import cnnstat
from cnnstat.importers import from_prototxt
from cnnstat.errors import CnnstatError, DefinitionError
from cnnstat.importers.caffe import from_text
from cnnstat.importers.prototext import parse

FIXTURES = Path(__file__).parent / "fixtures" / "caffe"
EVERY = FIXTURES / "every_layer.prototxt"
CAFFENET = FIXTURES / "caffenet_v1.prototxt"


# -- the text format --------------------------------------------------------------------------------
def test_text_format_fields_messages_lists_strings_and_comments():
    msg = parse('''
        # a comment
        name: "net"  # trailing comment
        input_dim: 1 input_dim: 3
        layer { name: 'a' type: "Conv" "olution" param { lr_mult: 1 } param < lr_mult: 2 > }
        layer: { name: "b\\t\\"q\\"" kernel_size: [3, 5] alpha: 1e-4; beta: -.75, k: 2.5f }
        pool: MAX flag: true big: 0x1F neg: -inf
    ''')
    assert msg.get("name") == "net" and msg.all("input_dim") == [1, 3]
    a, b = msg.all("layer")
    assert a.get("type") == "Convolution"                   # adjacent strings concatenate
    assert [p.get("lr_mult") for p in a.all("param")] == [1, 2]
    assert b.get("name") == 'b\t"q"' and b.all("kernel_size") == [3, 5]
    assert (b.get("alpha"), b.get("beta"), b.get("k")) == (1e-4, -0.75, 2.5)
    assert (msg.get("pool"), msg.get("flag"), msg.get("big")) == ("MAX", "true", 31)
    assert msg.get("neg") == float("-inf")
    assert b.line == 6 and msg.line_of("pool") == 7


@pytest.mark.parametrize("text, line, match", [
    ("layer { name: 'a'\n  type: 'ReLU'\n", 1, "not closed"),
    ("layer { name: 'a' }\n}\n", 2, "field name"),
    ("name 'x'\n", 1, "expected ':'"),
    ("name: \"unterminated\n", 1, "unexpected character"),
    ("a: [1 2]\n", 1, "expected ',' or ']'"),
])
def test_text_format_errors_name_the_line(text, line, match):
    with pytest.raises(DefinitionError, match=match) as info:
        parse(text, file="net.prototxt")
    assert info.value.line == line and info.value.file == "net.prototxt"


# -- every layer type -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def every():
    return cnnstat.analyze(str(EVERY))


def test_every_layer_shapes(every):
    shapes = {r.name: r.output_shape[1:] for r in every.records}
    assert shapes["conv1"] == (16, 16, 16)   # 3x3/2 pad 1 on 32: floor((32 + 2 - 3)/2) + 1 = 16
    # Caffe rounds pooled sizes up: 3x3/2 on 16: ceil((16 - 3)/2) + 1 = ceil(6.5) + 1 = 8
    # (PyTorch's floor rule would give 7)
    assert shapes["pool1"] == (16, 8, 8)
    assert shapes["conv2a"] == (16, 8, 8)    # 3x1, pad (1, 0): (8 + 2 - 3) + 1 = 8, 8 - 1 + 1 = 8
    assert shapes["conv2b"] == (16, 8, 8)    # 3x3 dilation 2 (span 5), pad 2: 8 + 4 - 5 + 1 = 8
    assert shapes["cat"] == (48, 8, 8)       # sum, prod, max of 16 channels each
    assert shapes["slice.s0"] == shapes["slice.s1"] == shapes["slice.s2"] == (16, 8, 8)
    # AVE 3x3/2 pad 1 on 8: ceil((8 + 2 - 3)/2) + 1 = ceil(3.5) + 1 = 5; (5-1)*2 = 8 < 8 + 1: kept
    assert shapes["pool2"] == (48, 5, 5)
    assert shapes["deconv"] == (8, 10, 10)   # 2x2/2: (5 - 1)*2 + 2 = 10
    assert shapes["gpool"] == (8, 1, 1)
    assert shapes["fc1"] == (10,) and shapes["fc2"] == (5,) and shapes["fc2.flatten"] == (8,)
    assert every.output_shapes == [(1, 10), (1, 5)]      # prob and fc2


def test_every_layer_params_and_macs(every):
    r = every.record
    assert r("conv1").params == 16 * 3 * 9 + 16 == 448
    assert r("conv1").macs == 16 * 16 * 16 * 27 == 110_592
    assert r("conv2a").params == 16 * (16 // 4) * 3 * 1 == 192        # group 4, no bias
    assert r("conv2a").macs == 16 * 8 * 8 * 4 * 3 == 12_288
    assert r("conv2b").params == 16 * 16 * 9 + 16 == 2_320
    assert r("prelu").params == 16                                     # one slope per channel
    assert r("deconv").params == 48 * 8 * 4 + 8 == 1_544
    assert r("deconv").macs == 48 * 5 * 5 * 8 * 4 == 38_400            # every input x every tap
    assert r("fc1").params == 8 * 10 + 10 and r("fc2").params == 8 * 5
    # 448 + 32 (scale) + 192 + 2,320 + 16 + 1,544 + 90 + 40
    assert every.totals.params == 4_682
    assert every.totals.macs == 110_592 + 12_288 + 147_456 + 38_400 + 80 + 40 == 308_856


def test_every_layer_operators(every):
    ops = {r.name: r.op for r in every.records}
    assert ops["sum"] == "add" and ops["prod"] == "multiply" and ops["max"] == "maximum"
    assert ops["conv1.bn"] == "batchnorm2d" and ops["conv1.scale"] == "scale"
    assert ops["gpool"] == "global_avgpool" and ops["norm"] == "lrn" and ops["drop"] == "dropout"
    assert ops["pool1"] == "maxpool2d" and every.record("pool1").attrs["rounding"] == "caffe"
    assert "loss" not in ops                          # TRAIN phase only
    assert "split" not in ops                         # Split only aliases its bottom


def test_batchnorm_plus_scale_is_pytorch_batchnorm(every):
    bn, scale = every.record("conv1.bn"), every.record("conv1.scale")
    # BatchNorm: mean, variance (16 each) and the moving-average factor: 33 stored values;
    # Scale: gamma and beta, 32 learned values. PyTorch's BatchNorm2d(16): 32 params, 33 buffers.
    assert (bn.params, bn.buffers, scale.params) == (0, 33, 32)
    assert bn.attrs["affine"] is False


def test_in_place_layers_chain(every):
    # conv1 -> conv1/bn -> conv1/scale -> conv1/relu all read and write the blob "conv1"
    assert every.record("conv1.scale").inputs == ("conv1.bn",)
    assert every.record("conv1.relu").inputs == ("conv1.scale",)
    assert every.record("pool1").inputs == ("conv1.relu",)
    assert every.record("drop").inputs == ("fc1",) and every.record("prob").inputs == ("drop",)


def test_input_override():
    a = cnnstat.analyze(str(EVERY), "64")
    assert a.record("conv1").output_shape == (1, 16, 32, 32)
    # 3x3/2 on 32: ceil(29/2) + 1 = 16 (PyTorch: 15)
    assert a.record("pool1").output_shape == (1, 16, 16, 16)


@pytest.mark.torch
def test_imported_prototxt_runs_in_torch_with_the_same_shapes():
    """cnnstat's torch equivalents (ceil_mode for Caffe's rounding, count_include_pad...) run the
    imported net: every layer's torch output has the shape cnnstat computed."""
    pytest.importorskip("torch")
    from cnnstat.torch_bridge.build import build_module, example_input
    g = from_prototxt(EVERY)
    a = cnnstat.analyze(g)
    m = build_module(g)
    seen = {}

    def record(name):
        def hook(module, inputs, output):
            seen[name] = tuple(output.shape)
        return hook
    for name, mod in m.named_modules():
        if name in a.by_name:
            mod.register_forward_hook(record(name))
    m(example_input(g))
    assert seen and all(seen[n] == a.record(n).output_shape for n in seen)
    assert sum(p.numel() for p in m.parameters()) == a.totals.params


# -- CaffeNet, legacy syntax -----------------------------------------------------------------------------
def test_caffenet_in_legacy_v1_syntax():
    a = cnnstat.analyze(str(CAFFENET))
    # conv1 34,944 + conv2 307,456 + conv3 885,120 + conv4 663,936 + conv5 442,624
    # + fc6 37,752,832 + fc7 16,781,312 + fc8 4,097,000 = 60,965,224
    assert a.totals.params == 60_965_224
    # conv1 105,415,200 + conv2 223,948,800 + conv3 149,520,384 + conv4 112,140,288
    # + conv5 74,760,192 + fc6 37,748,736 + fc7 16,777,216 + fc8 4,096,000
    assert a.totals.macs == 724_406_816
    # 227 -> conv 11/4: 55 -> pool 3/2: 27 -> conv2 27 -> pool 13 -> ... -> pool5 6
    assert a.record("pool1").output_shape == (1, 96, 27, 27)
    assert a.record("pool5").output_shape == (1, 256, 6, 6)
    assert a.record("fc6.flatten").output_shape == (1, 9216)        # InnerProduct flattens
    assert a.record("conv2").attrs["groups"] == 2
    assert a.input_shape == (3, 227, 227)                            # input_dim, batch ignored


GOOGLENET_3A = '''
name: "GoogLeNet-3a"
input: "pool2/norm2"
input_shape { dim: 10 dim: 192 dim: 56 dim: 56 }
layer { name: "pool2/3x3_s2" type: "Pooling" bottom: "pool2/norm2" top: "pool2/3x3_s2"
        pooling_param { pool: MAX kernel_size: 3 stride: 2 } }
layer { name: "inception_3a/1x1" type: "Convolution" bottom: "pool2/3x3_s2" top: "inception_3a/1x1"
        convolution_param { num_output: 64 kernel_size: 1 } }
layer { name: "inception_3a/relu_1x1" type: "ReLU" bottom: "inception_3a/1x1" top: "inception_3a/1x1" }
layer { name: "inception_3a/3x3_reduce" type: "Convolution" bottom: "pool2/3x3_s2"
        top: "inception_3a/3x3_reduce" convolution_param { num_output: 96 kernel_size: 1 } }
layer { name: "inception_3a/3x3" type: "Convolution" bottom: "inception_3a/3x3_reduce"
        top: "inception_3a/3x3" convolution_param { num_output: 128 pad: 1 kernel_size: 3 } }
layer { name: "inception_3a/5x5_reduce" type: "Convolution" bottom: "pool2/3x3_s2"
        top: "inception_3a/5x5_reduce" convolution_param { num_output: 16 kernel_size: 1 } }
layer { name: "inception_3a/5x5" type: "Convolution" bottom: "inception_3a/5x5_reduce"
        top: "inception_3a/5x5" convolution_param { num_output: 32 pad: 2 kernel_size: 5 } }
layer { name: "inception_3a/pool" type: "Pooling" bottom: "pool2/3x3_s2" top: "inception_3a/pool"
        pooling_param { pool: MAX kernel_size: 3 stride: 1 pad: 1 } }
layer { name: "inception_3a/pool_proj" type: "Convolution" bottom: "inception_3a/pool"
        top: "inception_3a/pool_proj" convolution_param { num_output: 32 kernel_size: 1 } }
layer { name: "inception_3a/output" type: "Concat" bottom: "inception_3a/1x1"
        bottom: "inception_3a/3x3" bottom: "inception_3a/5x5" bottom: "inception_3a/pool_proj"
        top: "inception_3a/output" }
'''


def test_googlenet_names_become_groups_and_pool_rounds_up():
    a = cnnstat.analyze(from_text(GOOGLENET_3A))
    # 3x3/2 on 56: ceil(53/2) + 1 = 28 (Table 1 of the paper: 28x28x192; PyTorch's floor: 27)
    assert a.record("pool2.3x3_s2").output_shape == (1, 192, 28, 28)
    assert a.record("inception_3a.output").output_shape == (1, 256, 28, 28)
    from cnnstat.render.rows import rows
    block = next(r for r in rows(a, depth=1) if r.name == "inception_3a")
    # 1x1 12,352 + 3x3 reduce 18,528 + 3x3 110,720 + 5x5 reduce 3,088 + 5x5 12,832
    # + pool proj 6,176 = 163,696
    assert block.params == 163_696


# -- errors ---------------------------------------------------------------------------------------------
def _error(text: str) -> CnnstatError:
    with pytest.raises(CnnstatError) as info:
        from_text(text, file="net.prototxt")
    return info.value


def test_training_prototxt_is_refused_with_advice():
    e = _error('layer { name: "data" type: "Data" top: "data" top: "label" }\n')
    assert "train_val" in str(e) and e.layer == "data" and e.line == 1


def test_unknown_layer_type_names_layer_and_line():
    e = _error('input: "x"\ninput_shape { dim: 1 dim: 3 dim: 8 dim: 8 }\n'
               'layer { name: "roi" type: "ROIPooling" bottom: "x" top: "y" }\n')
    assert "ROIPooling" in str(e) and e.layer == "roi" and e.line == 3


def test_missing_bottom():
    e = _error('input: "x"\ninput_shape { dim: 1 dim: 3 dim: 8 dim: 8 }\n'
               'layer { name: "r" type: "ReLU" bottom: "nope" top: "r" }\n')
    assert "bottom 'nope'" in str(e)


def test_same_shape_layers_without_a_rule_are_not_counted():
    a = cnnstat.analyze(from_text('input: "x"\ninput_shape { dim: 1 dim: 3 dim: 8 dim: 8 }\n'
                                  'layer { name: "p" type: "Power" bottom: "x" top: "x" }\n'
                                  'layer { name: "c" type: "Convolution" bottom: "x" top: "c"\n'
                                  '  convolution_param { num_output: 2 kernel_size: 3 } }\n'))
    assert a.record("p").op == "not_counted" and a.record("p").output_shape == (1, 3, 8, 8)
    assert a.to_dict()["not_counted"] == [{"name": "p", "what": "Caffe Power"}]


def test_v0_format_and_missing_input():
    assert "V0" in str(_error('layers { layer { name: "conv1" type: "conv" } }\n'))
    assert "no input" in str(_error('layer { name: "r" type: "ReLU" bottom: "x" top: "x" }\n'))


def test_cli_error_is_one_line(tmp_path, capsys):
    from cnnstat.cli import main
    bad = tmp_path / "bad.prototxt"
    bad.write_text('input: "x"\ninput_shape { dim: 1 dim: 3 dim: 8 dim: 8 }\n'
                   'layer { name: "c" type: "Convolution" bottom: "x" top: "c"\n'
                   '  convolution_param { kernel_size: 3 } }\n')
    assert main(["summary", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("error: ") and "num_output" in err
    assert f"{bad}:3" in err and "layer c" in err


def test_crop_reshape_elu_and_scale_over_other_axes():
    a = cnnstat.analyze(from_text('''
        input: "x"  input_shape { dim: 1 dim: 4 dim: 10 dim: 10 }
        layer { name: "up" type: "Deconvolution" bottom: "x" top: "up"
                convolution_param { num_output: 4 kernel_size: 4 stride: 2 bias_term: false } }
        layer { name: "crop" type: "Crop" bottom: "up" bottom: "x" top: "crop"
                crop_param { axis: 2 offset: 3 } }
        layer { name: "elu" type: "ELU" bottom: "crop" top: "crop" elu_param { alpha: 0.5 } }
        layer { name: "s" type: "Scale" bottom: "crop" top: "s"
                scale_param { axis: 2 num_axes: 2 bias_term: true } }
        layer { name: "r" type: "Reshape" bottom: "s" top: "r"
                reshape_param { shape { dim: 0 dim: -1 dim: 25 } } }
    '''))
    # deconv 4x4/2 on 10: (10 - 1)*2 + 4 = 22; crop to 10x10 from offset 3 (FCN's score crop)
    assert a.record("up").output_shape == (1, 4, 22, 22)
    assert a.record("crop").output_shape == (1, 4, 10, 10) and a.record("crop").op == "slice"
    assert a.record("crop.axis2").attrs["start"] == 3
    assert a.record("elu").attrs["alpha"] == 0.5
    # a Scale over H and W holds 10*10 weights and 10*10 biases: kept, its work not counted
    assert a.record("s").op == "not_counted" and a.record("s").params == 200
    # reshape [0, -1, 25]: batch copied, 4*10*10/25 = 16 inferred
    assert a.record("r").output_shape == (1, 16, 25)
