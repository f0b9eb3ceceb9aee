"""The numbers behind the plots (cnnstat.plots.series), derived by hand."""

from __future__ import annotations

import textwrap

import cnnstat
from cnnstat.analyze import live_elements
from cnnstat.plots.series import Band, bands, memory_series, rf_series, weighted_layers
from cnnstat.definition import build_graph, parse_definition

TINY = """
    input: [1, 4, 4]
    layers:
      - a: conv2d(2, 3, padding=1)
      - b: relu
      - c: add(b, a)
      - d: global_avgpool(keepdim=false)
    """


def tiny():
    return cnnstat.analyze(build_graph(parse_definition(textwrap.dedent(TINY), "tiny.yaml")))


def test_live_memory_by_hand():
    a = tiny()
    # input 1x4x4 = 16 elements; a, b, c are 2x4x4 = 32; d is 2.
    # a runs: input 16 + a 32 = 48, then the input is freed (last read by a)      -> 32
    # b runs: a 32 + b 32 = 64 (a is still needed by c)                          -> 64
    # c runs: a + b + c = 96, then a and b are freed (last read by c)            -> 32
    # d runs: c 32 + d 2 = 34, c freed, d kept (the output)
    assert live_elements(a.graph, a.records, 16) == [48, 64, 96, 34]
    s = memory_series(a)
    assert s.live_bytes == [4 * 48, 4 * 64, 4 * 96, 4 * 34]       # fp32: 4 bytes per element
    assert s.output_bytes == [4 * 32, 4 * 32, 4 * 32, 4 * 2]
    assert s.names == ["a", "b", "c", "d"] and s.peak_index == 2
    assert a.totals.peak_activation_bytes == max(s.live_bytes)


def test_live_memory_peak_agrees_with_totals_on_zoo_models():
    for name in ("vgg16", "resnet50", "googlenet"):
        a = cnnstat.analyze(name)
        s = memory_series(a)
        assert max(s.live_bytes) == a.totals.peak_activation_bytes
        assert sum(s.output_bytes) == a.totals.activation_bytes


def test_rf_series_tiny():
    s = rf_series(tiny())
    # depth 0: the input (1 px); a (3x3 conv) widens it to 3 at depth 1; relu and the add of two
    # 3-px fields change nothing; global pooling sees the whole input, at depth 2.
    assert [(p.depth, p.size, p.stride, p.name) for p in s.points] == [
        (0, 1, 1, "input"), (1, 3, 1, "a")]
    assert (s.whole_at, s.whole_name, s.input_size, s.exact) == (2, "d", 4, True)


def test_rf_series_vgg16_by_hand():
    s = rf_series(cnnstat.analyze("vgg16"))
    # r' = r + (k - 1) * S, S' = S * s (Araujo et al. 2019). Each stage: 3x3 convs add 2S each,
    # then the 2x2/2 pool adds S and doubles S.
    # stage 0 (S=1): 3, 5, pool 6 (S=2); stage 1: 10, 14, pool 16 (S=4);
    # stage 2: 24, 32, 40, pool 44 (S=8); stage 3: 60, 76, 92, pool 100 (S=16);
    # stage 4: 132, 164, 196, pool 212 (S=32).
    assert [p.size for p in s.points] == [1, 3, 5, 6, 10, 14, 16, 24, 32, 40, 44, 60, 76, 92, 100,
                                          132, 164, 196, 212]
    assert [p.depth for p in s.points] == list(range(19))
    assert s.points[-1].stride == 32 and s.points[-1].name == "stage.4.pool"
    # the adaptive 7x7 pool on a 7x7 map and the flatten change nothing; fc1 sees everything
    assert (s.whole_at, s.whole_name) == (19, "classifier.fc1")


def test_rf_series_resnet18_by_hand():
    s = rf_series(cnnstat.analyze("resnet18"))
    # conv1 7x7/2: r 7, S 2; maxpool 3x3/2: 7 + 2*2 = 11, S 4; layer1, four 3x3: 11 + 4*2*4 = 43;
    # layer2: 3x3/2 43 + 2*4 = 51 (S 8), three 3x3: 51 + 3*16 = 99; layer3: 99 + 2*8 = 115
    # (S 16), + 3*32 = 211; layer4: 211 + 2*16 = 243 (S 32), + 3*64 = 435.
    # Depth: conv1, maxpool, then 4 widening convs per stage along the longest path = 18.
    last = s.points[-1]
    assert (last.depth, last.size, last.stride) == (18, 435, 32)
    assert [p.size for p in s.points][:3] == [1, 7, 11]


def test_weighted_layers_are_conv_and_linear():
    a = cnnstat.analyze("vgg16")
    layers = weighted_layers(a)
    assert len(layers) == 13 + 3                                # 13 convs, 3 fully connected
    assert {r.op for r in layers} == {"conv2d", "linear"}
    assert sum(r.macs_by_kind["weight"] for r in layers) == a.totals.macs_by_kind["weight"]


def test_bands_choose_the_deepest_useful_grouping():
    names = ["conv1", "layer1.0.conv1", "layer1.0.conv2", "layer1.1.conv1", "layer2.0.conv1", "fc"]
    # depth 1: conv1 | layer1 x3 | layer2 | fc (4 runs); depth 2 splits layer1.0 / layer1.1 (5
    # runs); depth 3 would give 6 runs, more than most=5.
    assert bands(names, most=5) == [Band("conv1", 0, 1), Band("layer1.0", 1, 3),
                                    Band("layer1.1", 3, 4), Band("layer2.0", 4, 5),
                                    Band("fc", 5, 6)]
    # depth 2 gives no more runs than depth 1: stay at depth 1
    assert bands(["a.0.x", "a.0.y", "b.0.x"]) == [Band("a", 0, 2), Band("b", 2, 3)]
    assert bands(["stem"]) == []                                # one band labels nothing
