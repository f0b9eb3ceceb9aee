"""Operator rules with hand-derived numbers (the arithmetic beside each expectation)."""

from __future__ import annotations

from fractions import Fraction

import pytest

from cnnstat.errors import DefinitionError, ShapeError
from cnnstat.ops import REGISTRY
from cnnstat.ops.base import BIAS, POOL, WEIGHT, WHOLE, Window, taps_inside, window_out


def run(op, shapes, *args, **kwargs):
    rule = REGISTRY[op]
    attrs = rule.bind(list(args), kwargs)
    return rule.evaluate(attrs, shapes)


def test_lenet_c1_parameters_and_connections():
    ev = run("conv2d", [(1, 1, 32, 32)], 6, 5)
    assert ev.shape == (1, 6, 28, 28)              # 32 - 5 + 1 = 28
    assert ev.params == 156                        # 6 * (5*5*1 + 1)
    assert ev.connections == 122_304               # 6 * 28*28 * (5*5 + 1)
    assert ev.macs[WEIGHT] == 117_600              # 6 * 28*28 * 25


def test_lenet_s2_subsampling():
    ev = run("subsample", [(1, 6, 28, 28)], 2)
    assert ev.shape == (1, 6, 14, 14)
    assert ev.params == 12                         # 6 maps * (coefficient + bias)
    assert ev.connections == 5_880                 # 6 * 14*14 * (2*2 + 1)


def test_lenet_c3_partial_connections():
    # LeCun et al. 1998, Table I: maps 0-5 read 3 maps, 6-14 read 4, map 15 reads all 6
    table = ([[i % 6, (i + 1) % 6, (i + 2) % 6] for i in range(6)]
             + [[i % 6, (i + 1) % 6, (i + 2) % 6, (i + 3) % 6] for i in range(6)]
             + [[0, 1, 3, 4], [1, 2, 4, 5], [0, 2, 3, 5]]
             + [[0, 1, 2, 3, 4, 5]])
    ev = run("partial_conv2d", [(1, 6, 14, 14)], table, 5)
    assert sum(len(r) for r in table) == 60        # 6*3 + 9*4 + 6
    assert ev.shape == (1, 16, 10, 10)
    assert ev.params == 1_516                      # 60 * 25 + 16
    assert ev.connections == 151_600               # 10*10 * 1,516


def test_lenet_f6_and_rbf():
    ev = run("linear", [(1, 120)], 84)
    assert ev.params == 10_164                     # 84 * (120 + 1)
    assert ev.connections == 10_164
    rbf = run("rbf", [(1, 84)], 10)
    assert (rbf.params, rbf.trainable, rbf.connections) == (840, 0, 840)   # 10 * 84, fixed


def test_conv_padding_and_groups():
    # VGG conv3-64 on 224x224: 64 * 224*224 * 3*3*3 multiply-adds
    ev = run("conv2d", [(1, 3, 224, 224)], 64, 3, padding=1)
    assert ev.macs[WEIGHT] == 64 * 224 * 224 * 27 == 86_704_128
    assert ev.macs[BIAS] == 64 * 224 * 224
    # depthwise 3x3 on 32x112x112 (MobileNet): 32 * 112*112 * 9, params 32*9
    dw = run("conv2d", [(1, 32, 112, 112)], 32, 3, padding=1, groups=32, bias=False)
    assert dw.params == 288 and dw.macs[WEIGHT] == 32 * 112 * 112 * 9
    # ResNeXt grouped 3x3, 128 channels in 32 groups: params 128 * (128/32) * 9
    g = run("conv2d", [(2, 128, 56, 56)], 128, 3, padding=1, groups=32, bias=False)
    assert g.params == 4_608 and g.macs[WEIGHT] == 2 * 128 * 56 * 56 * 4 * 9


def test_conv_connections_skip_zero_padding():
    # 3x3 conv, padding 1, on a 4x4 map: per axis, taps inside = 4*3 - 2 (the two border taps
    # that read padding) = 10, so links = 10 * 10 per (in, out) channel pair, plus 16 bias links
    ev = run("conv2d", [(1, 1, 4, 4)], 1, 3, padding=1)
    assert taps_inside(4, 4, 3, 1, 1, 1) == 10
    assert ev.connections == 100 + 16


def test_padding_forms():
    same = run("conv2d", [(1, 3, 10, 10)], 8, 4, padding="same")       # even kernel: 1 + 2
    assert same.shape == (1, 8, 10, 10) and same.rf.h.padding == 1
    asym = run("conv2d", [(1, 3, 10, 10)], 8, 3, padding=[[0, 1], [2, 0]])
    assert asym.shape == (1, 8, 9, 10)                                  # 10+1-3+1, 10+2-3+1
    assert run("conv2d", [(1, 3, 10, 10)], 8, 3, padding="valid").shape == (1, 8, 8, 8)
    with pytest.raises(DefinitionError, match="stride 1"):
        REGISTRY["conv2d"].bind([8, 3], {"padding": "same", "stride": 2})


def test_conv_transpose_shape_and_macs():
    # U-Net up-convolution 2x2 stride 2: 1024x28x28 -> 512x56x56
    ev = run("conv_transpose2d", [(1, 1024, 28, 28)], 512, 2, stride=2)
    assert ev.shape == (1, 512, 56, 56)
    assert ev.params == 1024 * 512 * 4 + 512
    assert ev.macs[WEIGHT] == 1024 * 28 * 28 * 512 * 4      # every input times every tap
    assert ev.rf.h == Window(Fraction(3, 2), Fraction(1, 2), Fraction(1, 2), exact=False)
    # (H-1)*s - 2p + d(k-1) + output_padding + 1 = 4*2 - 2 + 2 + 1 + 1 = 10
    assert run("conv_transpose2d", [(1, 4, 5, 5)], 4, 3, stride=2, padding=1,
               output_padding=1).shape == (1, 4, 10, 10)


def test_pool_output_sizes_follow_pytorch():
    # ResNet's stem pool: floor((112 + 2 - 3)/2) + 1 = 56
    assert run("maxpool2d", [(1, 64, 112, 112)], 3, stride=2, padding=1).shape == (1, 64, 56, 56)
    # GoogLeNet (torchvision) ceil_mode: ceil((112 - 3)/2) + 1 = 56; floor would give 55
    assert window_out(112, 3, 2, 0, 0, 1, ceil_mode=True) == 56
    assert window_out(112, 3, 2, 0, 0, 1, ceil_mode=False) == 55
    # the last window must start inside the input: 5 wide, k=2, s=2, pad 1, ceil:
    # ceil((5 + 2 - 2)/2) + 1 = 4, but (4 - 1)*2 = 6 >= 5 + 1, so 3
    assert window_out(5, 2, 2, 1, 1, 1, ceil_mode=True) == 3
    ev = run("maxpool2d", [(1, 8, 6, 6)], 2)
    assert ev.macs[POOL] == 8 * 3 * 3 * 4 and ev.params == 0


def test_adaptive_and_global_pooling():
    ev = run("adaptive_avgpool2d", [(1, 512, 14, 14)], 7)
    assert ev.shape == (1, 512, 7, 7) and ev.rf.h == Window(2, 2, 0)
    uneven = run("adaptive_avgpool2d", [(1, 1, 10, 10)], 3)   # windows [0,4) [3,7) [6,10)
    assert uneven.macs[POOL] == 12 * 12 and not uneven.rf.h.exact
    g = run("global_avgpool", [(2, 8, 7, 7)], keepdim=False)
    assert g.shape == (2, 8) and g.rf.h == WHOLE


def test_batchnorm_counts_parameters_and_buffers():
    ev = run("batchnorm2d", [(1, 64, 56, 56)])
    assert (ev.params, ev.buffers) == (128, 129)    # gamma, beta; mean, var, num_batches_tracked
    assert run("batchnorm2d", [(1, 64, 8, 8)], affine=False).params == 0


def test_merges():
    assert run("add", [(1, 64, 8, 8), (1, 64, 8, 8)]).shape == (1, 64, 8, 8)
    se = run("multiply", [(1, 64, 8, 8), (1, 64, 1, 1)])        # squeeze-and-excitation
    assert se.shape == (1, 64, 8, 8)
    with pytest.raises(ShapeError, match="do not match"):
        run("add", [(1, 64, 8, 8), (1, 32, 8, 8)])
    cat = run("concat", [(1, 64, 28, 28), (1, 128, 28, 28), (1, 32, 28, 28)])
    assert cat.shape == (1, 224, 28, 28)
    unet = run("concat", [(1, 512, 64, 64), (1, 512, 56, 56)], crop="center")
    assert unet.shape == (1, 1024, 56, 56)
    assert unet.rf[0].h.padding == -4                           # (64 - 56) / 2 cropped away
    with pytest.raises(ShapeError, match="crop='center'"):
        run("concat", [(1, 8, 64, 64), (1, 8, 56, 56)])


def test_upsample_and_shuffle():
    ev = run("upsample", [(1, 8, 7, 7)], scale=2, mode="bilinear")
    assert ev.shape == (1, 8, 14, 14) and not ev.rf.h.exact
    assert run("upsample", [(1, 8, 7, 7)], size=[10, 20]).shape == (1, 8, 10, 20)
    with pytest.raises(ShapeError, match="divisible"):
        run("channel_shuffle", [(1, 10, 4, 4)], 3)


def test_flatten_reshape_linear():
    assert run("flatten", [(1, 512, 7, 7)]).shape == (1, 25_088)
    assert run("reshape", [(1, 1470)], [30, 7, 7]).shape == (1, 30, 7, 7)   # YOLO: 7*7*30
    with pytest.raises(ShapeError, match="1470"):
        run("reshape", [(1, 1470)], [30, 7, 8])
    ev = run("linear", [(1, 25_088)], 4096)
    assert ev.params == 102_764_544                 # 4096 * 25,088 + 4096
    assert ev.rf.h == WHOLE


def test_argument_errors_name_the_problem():
    conv = REGISTRY["conv2d"]
    with pytest.raises(DefinitionError, match="did you mean 'groups'"):
        conv.bind([8, 3], {"groupz": 2})
    with pytest.raises(DefinitionError, match="needs 'kernel'"):
        conv.bind([8], {})
    with pytest.raises(DefinitionError, match="positive integer"):
        conv.bind([0, 3], {})
    with pytest.raises(DefinitionError, match="true or false"):
        conv.bind([8, 3], {"bias": "yes"})
    with pytest.raises(ShapeError, match="not divisible by groups"):
        run("conv2d", [(1, 6, 8, 8)], 8, 3, groups=4)
    with pytest.raises(ShapeError, match="too small"):
        run("conv2d", [(1, 3, 2, 2)], 8, 3)


def test_every_operator_documents_itself():
    for name, rule in REGISTRY.items():
        assert rule.summary, f"{name} has no summary"
        assert rule.signature().startswith(name + "(")


def test_duplicate_registration_is_an_error():
    from cnnstat.ops.base import Op, register

    class Again(Op):
        name = "conv2d"
    with pytest.raises(RuntimeError, match="registered twice"):
        register(Again)


def test_softplus_one_operation_per_element():
    ev = run("softplus", [(2, 3, 4, 5)], beta=2.0)
    assert ev.shape == (2, 3, 4, 5) and ev.params == 0
    assert ev.macs == {"activation": 120}              # 2 * 3 * 4 * 5 elements, one each
    rule = REGISTRY["softplus"]
    attrs = rule.bind([], {"beta": 2, "threshold": 10})
    assert attrs == {"beta": 2.0, "threshold": 10.0}
    assert rule.describe(attrs, [(1, 3)]) == "Softplus(beta=2.0, threshold=10.0)"
    with pytest.raises(DefinitionError, match="'beta' must be a number"):
        rule.bind([], {"beta": "big"})
