"""The operators and core changes the importers need, with hand-derived numbers: Caffe's pooling
rounding, maximum, scale, layernorm/layernorm2d, stochastic_depth, matmul, not_counted, and
shared weights (Node.shares) counted once."""

from __future__ import annotations

import pytest

from cnnstat import analyze_graph
from cnnstat.errors import CnnstatError, DefinitionError, ShapeError
from cnnstat.graph import Graph, Node
from cnnstat.ops import REGISTRY
from cnnstat.ops.base import ATTENTION, NORM
from cnnstat.ops.pool import caffe_pool_out


def ev(op, shapes, **kwargs):
    rule = REGISTRY[op]
    attrs = rule.bind([], kwargs)
    rule.check_arity(shapes)
    return rule.evaluate(attrs, shapes)


# -- Caffe's pooling rounding ---------------------------------------------------------------------
@pytest.mark.parametrize("size, k, s, p, expected", [
    # GoogLeNet pool1 in Caffe: 3x3/2 on 112, no pad: ceil((112 - 3)/2) + 1 = ceil(54.5) + 1 = 56
    # (PyTorch's floor gives 55: torchvision's GoogLeNet sets ceil_mode=True for this reason)
    (112, 3, 2, 0, 56),
    # AlexNet pool1: 3x3/2 on 55: (55 - 3)/2 = 26 exactly, + 1 = 27 either way
    (55, 3, 2, 0, 27),
    # padded, last window would start in the padding: 3x3/2 pad 1 on 6:
    # ceil((6 + 2 - 3)/2) + 1 = ceil(2.5) + 1 = 4; (4 - 1)*2 = 6 >= 6 + 1? no -> 4
    (6, 3, 2, 1, 4),
    # 2x2/2 pad 1 on 4: ceil((4 + 2 - 2)/2) + 1 = 3; (3 - 1)*2 = 4 >= 4 + 1? no -> 3
    (4, 2, 2, 1, 3),
    # 3x3/3 pad 1 on 3: ceil((3 + 2 - 3)/3) + 1 = ceil(0.67) + 1 = 2; (2-1)*3 = 3 >= 3+1? no -> 2
    (3, 3, 3, 1, 2),
    # 2x2/2 pad 1 on 2: ceil((2+2-2)/2)+1 = 2; (2-1)*2 = 2 >= 2+1? no -> 2
    (2, 2, 2, 1, 2),
    # 1x1/4 pad 0 on 6: ceil(5/4) + 1 = 3, unpadded: no correction -> 3 (PyTorch: 2)
    (6, 1, 4, 0, 3),
])
def test_caffe_pool_rounding(size, k, s, p, expected):
    assert caffe_pool_out(size, k, s, p, p > 0) == expected


def test_caffe_correction_drops_a_window_starting_in_the_padding():
    # 2x2/2 pad 1 on 3: ceil((3 + 2 - 2)/2) + 1 = ceil(1.5) + 1 = 3; (3-1)*2 = 4 >= 3 + 1 -> 2
    assert caffe_pool_out(3, 2, 2, 1, True) == 2
    # the same without the padded flag (the other axis padded or not) keeps 3
    assert caffe_pool_out(3, 2, 2, 1, False) == 3


def test_maxpool_caffe_rounding_in_the_rule():
    # 192x56x56 (GoogLeNet after conv2) -> 3x3/2: Caffe ceil((56-3)/2)+1 = 28, torch floor 27
    e = ev("maxpool2d", [(1, 192, 56, 56)], kernel=3, stride=2, rounding="caffe")
    assert e.shape == (1, 192, 28, 28)
    assert ev("maxpool2d", [(1, 192, 56, 56)], kernel=3, stride=2).shape == (1, 192, 27, 27)
    # pool work: 192 * 28 * 28 * 9 = 1,354,752
    assert e.macs["pool"] == 192 * 28 * 28 * 9
    assert "ceil_mode=True" in REGISTRY["maxpool2d"].describe(
        REGISTRY["maxpool2d"].bind([], {"kernel": 3, "stride": 2, "rounding": "caffe"}),
        [(1, 192, 56, 56)])


def test_caffe_rounding_allows_padding_up_to_kernel_minus_one():
    # Caffe only needs pad < kernel: 3x3/1 pad 2 on 5: ceil((5+4-3)/1)+1 = 7; (7-1)*1 = 6 >= 5+2? no
    assert ev("avgpool2d", [(1, 1, 5, 5)], kernel=3, stride=1, padding=2,
              rounding="caffe").shape == (1, 1, 7, 7)
    with pytest.raises(DefinitionError, match="smaller than the kernel"):
        REGISTRY["avgpool2d"].bind([], {"kernel": 3, "padding": 3, "rounding": "caffe"})
    with pytest.raises(DefinitionError, match="already rounds up"):
        REGISTRY["maxpool2d"].bind([], {"kernel": 3, "ceil_mode": True, "rounding": "caffe"})


@pytest.mark.torch
def test_caffe_rounding_equals_torch_ceil_mode_where_torch_can_express_it():
    torch = pytest.importorskip("torch")
    checked = 0
    for size in range(1, 12):
        for k in range(1, 5):
            for s in range(1, 4):
                for p in range(0, k // 2 + 1):
                    if size + 2 * p < k:
                        continue
                    caffe = caffe_pool_out(size, k, s, p, p > 0)
                    pool = torch.nn.MaxPool2d(k, s, p, ceil_mode=True)
                    torch_out = pool(torch.zeros(1, 1, size, size)).shape[-1]
                    if p > 0 or k >= s:       # padded, or no window can start outside
                        assert caffe == torch_out, (size, k, s, p)
                        checked += 1
                    else:                     # the documented difference: Caffe keeps one more
                        assert caffe in (torch_out, torch_out + 1)
    assert checked > 200


# -- maximum, scale, layer norms, stochastic depth, matmul ----------------------------------------
def test_maximum_counts_like_add():
    # 3 inputs of 2x4x4 (batch 1): (3 - 1) * 32 = 64 elementwise operations
    e = ev("maximum", [(1, 2, 4, 4)] * 3)
    assert e.shape == (1, 2, 4, 4) and e.macs["elementwise"] == 64 and e.params == 0


def test_scale_is_caffes_affine_half_of_batch_norm():
    # 64 channels with bias: 64 + 64 = 128 params; 1x64x8x8 -> 4,096 norm multiply-adds
    e = ev("scale", [(1, 64, 8, 8)], bias=True)
    assert (e.params, e.macs[NORM]) == (128, 4096)
    # Caffe's BatchNorm (no affine) + Scale(bias) = PyTorch's BatchNorm2d: 2C params, 2C+1 buffers
    bn = ev("batchnorm2d", [(1, 64, 8, 8)], affine=False)
    torch_bn = ev("batchnorm2d", [(1, 64, 8, 8)])
    assert (bn.params + e.params, bn.buffers) == (torch_bn.params, torch_bn.buffers) == (128, 129)
    assert ev("scale", [(2, 10)]).params == 10


def test_layernorm_params_and_receptive_field():
    # ViT-B: LayerNorm((768,)) on 1x197x768: 2 * 768 = 1,536 params
    assert ev("layernorm", [(1, 197, 768)]).params == 1536
    # over the last 2 dims of a 1x4x5x6 map: 5*6 = 30 elements, weight and bias: 60
    e = ev("layernorm", [(1, 4, 5, 6)], dims=2)
    assert e.params == 60 and e.rf.h == "whole" and e.rf.w == "whole"
    assert ev("layernorm", [(1, 4, 5, 6)], affine=False).params == 0
    assert ev("layernorm", [(1, 4, 5, 6)], bias=False).params == 6
    with pytest.raises(ShapeError, match="batch"):
        ev("layernorm", [(1, 4)], dims=2)


def test_layernorm2d_is_per_position():
    # ConvNeXt-T stem norm: 96 channels -> 2 * 96 = 192 params, receptive field unchanged
    e = ev("layernorm2d", [(1, 96, 56, 56)], eps=1e-6)
    assert e.params == 192 and e.rf.h.kernel == 1 and e.macs[NORM] == 96 * 56 * 56


def test_stochastic_depth_is_free_at_inference():
    e = ev("stochastic_depth", [(1, 8, 4, 4)], p=0.2)
    assert e.shape == (1, 8, 4, 4) and e.params == 0 and not any(e.macs.values())


def test_matmul_macs():
    # attention scores for ViT-B/16: 12 heads, 197 tokens, 64 dims:
    # (1, 12, 197, 64) @ (1, 12, 64, 197): 12 * 197 * 197 * 64 = 29,805,312 MACs
    e = ev("matmul", [(1, 12, 197, 64), (1, 12, 64, 197)])
    assert e.shape == (1, 12, 197, 197) and e.macs[ATTENTION] == 29_805_312
    with pytest.raises(ShapeError, match="inner sizes"):
        ev("matmul", [(1, 3, 4), (1, 5, 2)])


# -- not_counted ------------------------------------------------------------------------------------
def _graph(*nodes, outputs=None):
    return Graph([Node("x", "input", (), {"shape": (3, 8, 8)}), *nodes], outputs)


def test_not_counted_keeps_shape_and_params_but_claims_no_work():
    nc = REGISTRY["not_counted"].bind([], {"what": "torch.roll", "shape": [3, 8, 8], "params": 7})
    conv = REGISTRY["conv2d"].bind([4, 3], {"padding": 1})
    from cnnstat.convention import Convention
    a = analyze_graph(_graph(Node("roll", "not_counted", ("x",), nc),
                             Node("conv", "conv2d", ("roll",), conv)),
                      convention=Convention.parse("all"))
    roll = a.record("roll")
    # even counting every kind, nothing is claimed for it
    assert roll.output_shape == (1, 3, 8, 8) and roll.params == 7 and roll.macs == 0
    assert "NOT COUNTED: torch.roll" in roll.description
    # the receptive field after an unknown call is marked inexact
    assert not a.record("conv").rf.exact and a.record("conv").rf.h.size == 3
    from cnnstat.render.facts import facts
    from cnnstat.render.jsonout import analysis_to_dict
    labels = dict(facts(a))
    assert "torch.roll" in labels["not counted"]
    assert analysis_to_dict(a)["not_counted"] == [{"name": "roll", "what": "torch.roll"}]


# -- shared weights -----------------------------------------------------------------------------------
def test_shared_weights_are_counted_once():
    conv = REGISTRY["conv2d"].bind([3, 3], {"padding": 1})
    a = analyze_graph(_graph(Node("conv", "conv2d", ("x",), conv),
                             Node("conv_1", "conv2d", ("conv",), conv, shares="conv")))
    # conv 3->3, 3x3, bias: 3*3*9 + 3 = 84 params, once; MACs twice: 2 * 3*8*8*27 = 10,368
    assert a.totals.params == 84
    assert a.totals.macs == 2 * 3 * 8 * 8 * 27
    assert "shared with conv" in a.record("conv_1").description
    from cnnstat.render.jsonout import analysis_to_dict
    assert analysis_to_dict(a)["layers"][1]["shares"] == "conv"


def test_sharing_must_name_a_layer_of_the_same_operator():
    conv = REGISTRY["conv2d"].bind([3, 3], {"padding": 1})
    with pytest.raises(CnnstatError, match="shares the weights"):
        _graph(Node("conv", "conv2d", ("x",), conv),
               Node("relu", "relu", ("conv",), {}, shares="conv"))


@pytest.mark.torch
def test_shared_module_is_built_once():
    pytest.importorskip("torch")
    from cnnstat.torch_bridge.build import build_module
    conv = REGISTRY["conv2d"].bind([3, 3], {"padding": 1})
    g = _graph(Node("conv", "conv2d", ("x",), conv),
               Node("conv_1", "conv2d", ("conv",), conv, shares="conv"))
    m = build_module(g)
    assert sum(p.numel() for p in m.parameters()) == analyze_graph(g).totals.params == 84
    assert m.conv is m.conv_1
