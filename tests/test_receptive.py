"""Receptive fields: hand-derived values, the closed forms of Araujo et al. (2019), DAG merges."""

from __future__ import annotations

import textwrap
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

import cnnstat
from cnnstat.ops.base import Transfer, Window
from cnnstat.receptive import INPUT_RF, RF, AxisRF, apply, union
from cnnstat.definition import build_graph, parse_definition


def analyze(text, **kw):
    return cnnstat.analyze(build_graph(parse_definition(textwrap.dedent(text), "rf.yaml")), **kw)


def test_alexnet_receptive_field_is_195():
    # conv11/4: 11; pool3/2: 11 + 2*4 = 19; conv5: 19 + 4*8 = 51; pool3/2: 51 + 2*8 = 67;
    # three conv3: 67 + 3 * 2*16 = 163; pool3/2: 163 + 2*16 = 195 (stride 32)
    a = analyze("""
        input: [3, 227, 227]
        layers:
          - conv2d(96, 11, stride=4)
          - maxpool2d(3, stride=2)
          - conv2d(256, 5, padding=2)
          - maxpool2d(3, stride=2)
          - conv2d(384, 3, padding=1)
          - conv2d(384, 3, padding=1)
          - conv2d(256, 3, padding=1)
          - maxpool2d(3, stride=2)
        """)
    rf = a.records[-1].rf
    assert (rf.h.size, rf.h.stride) == (195, 32)
    # padding: 0 + 0*4 + 2*8 + 0 + 1*16*3 = 64
    assert rf.h.padding == 64


def test_vgg16_receptive_fields():
    a = cnnstat.analyze("vgg16")
    # 13 conv3 layers and 4 pools before conv5_3: each conv adds 2 * stride; pools add stride
    assert a.record("stage.4.conv.2.conv").rf.h.size == 196
    assert a.record("stage.4.pool").rf.h.size == 212
    assert a.record("classifier.fc1").rf.whole


def test_resnet_receptive_fields():
    assert cnnstat.analyze("resnet18").record("layer4.1.conv2").rf.h.size == 435
    assert cnnstat.analyze("resnet50").record("layer4.2.conv2").rf.h.size == 427


def test_dilation_enlarges_the_kernel():
    a = analyze("""
        input: [1, 32, 32]
        layers:
          - conv2d(1, 3, dilation=2, padding=2)    # effective kernel 5
          - conv2d(1, 3, dilation=4, padding=4)    # effective kernel 9: 5 + 8 = 13
        """)
    assert [r.rf.h.size for r in a.records] == [5, 13]


def test_aligned_branches_take_the_largest_field():
    a = analyze("""
        input: [4, 16, 16]
        layers:
          - inc:
              branches:
                b1: conv2d(2, 1)
                b3: conv2d(2, 3, padding=1)
                b5: conv2d(2, 5, padding=2)
        """)
    rf = a.record("inc.concat").rf
    assert (rf.h.size, rf.h.padding, rf.aligned) == (5, 2, True)


def test_misaligned_branches_are_reported():
    # a: 3x3 padding 1 (centre 0); b: pad bottom/right then 3x3 (centre +1): union [-1, 2]
    a = analyze("""
        input: [1, 16, 16]
        layers:
          - m:
              branches:
                a: conv2d(1, 3, padding=1)
                b: ["zero_pad2d([[0, 2], [0, 2]])", "conv2d(1, 3)"]
              merge: add
        """)
    rf = a.record("m.add").rf
    assert not rf.aligned and "misaligned" in rf.note
    assert (rf.h.size, rf.h.padding) == (4, 1)


def test_global_and_se_gates_see_everything():
    a = analyze("""
        input: [8, 16, 16]
        layers:
          - conv: conv2d(8, 3, padding=1)
          - se:
              branches:
                x: []
                gate: [global_avgpool, "conv2d(8, 1)", sigmoid]
              merge: multiply
        """)
    assert a.record("se.gate.0").rf.whole
    assert a.record("se.multiply").rf.whole          # each unit depends on the global mean
    assert a.record("conv").rf.h.size == 3
    # ...but through its spatial path it sees the conv's 3x3 field: that is its local field
    assert a.record("se.multiply").rf.local == a.record("conv").rf
    assert a.record("se.gate.0").rf.local is None    # global pooling has no local part


def test_local_field_continues_through_se_blocks():
    """Squeeze-and-excitation changes how much of the input a unit depends on (all of it) but not
    its local field: SE-ResNet-50's local fields equal those of the same network without gates."""
    with_se = cnnstat.analyze("se_resnet50")
    without = cnnstat.analyze("se_resnet50", set=["se=false"])
    last = "layer4.2.conv2"
    assert with_se.record(last).rf.whole
    assert with_se.record(last).rf.local == without.record(last).rf
    assert without.record(last).rf.h.size == 483      # paper layout: stride on the first 1x1
    from cnnstat.render import numbers
    assert numbers.rf_size(with_se.record(last).rf) == "whole input (local 483)"


def test_upsampling_is_marked_inexact():
    a = analyze("""
        input: [1, 16, 16]
        layers:
          - conv2d(1, 3, stride=2, padding=1)
          - upsample(scale=2)
          - conv2d(1, 3, padding=1)
        """)
    assert a.records[0].rf.exact and not a.records[-1].rf.exact


windows = st.tuples(st.integers(1, 7), st.integers(1, 3), st.integers(0, 3))


@settings(max_examples=200, deadline=None)
@given(st.lists(windows, min_size=1, max_size=8))
def test_forward_recursion_equals_closed_forms(layers):
    """r0 = 1 + sum (k_l - 1) prod_{i<l} s_i;  S0 = prod s_l;  P0 = sum p_l prod_{i<l} s_i."""
    rf = INPUT_RF
    for k, s, p in layers:
        rf = apply(rf, Transfer.window((k, k), (s, s), (p, p)), (10**6, 10**6))
    r, S, P, prod = 1, 1, 0, 1
    for k, s, p in layers:
        r += (k - 1) * prod
        P += p * prod
        prod *= s
    S = prod
    assert (rf.h.size, rf.h.stride, rf.h.padding) == (r, S, P)


@given(st.lists(st.tuples(st.integers(1, 9), st.integers(-3, 3)), min_size=1, max_size=4))
def test_union_covers_every_path(fields):
    rfs = [RF((AxisRF(r, 2, p), AxisRF(r, 2, p))) for r, p in fields]
    u = union(rfs)
    for rf in rfs:   # every path's interval [-P, r - 1 - P] lies inside the union's
        assert -u.h.padding <= -rf.h.padding
        assert rf.h.size - 1 - rf.h.padding <= u.h.size - 1 - u.h.padding
    assert u.h.size == max(r - 1 - p for r, p in fields) - min(-p for _, p in fields) + 1


def test_fractional_strides_stay_exact_rationals():
    rf = apply(INPUT_RF, Transfer.window((4, 4), (2, 2), (1, 1)), (64, 64))
    up = apply(rf, Transfer((Window(Fraction(3, 2), Fraction(1, 2), Fraction(1, 2), False),
                             Window())), (64, 64))
    assert up.h.stride == 1 and isinstance(up.h.stride, int) and not up.h.exact
