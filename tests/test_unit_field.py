"""The exact field of one unit (cnnstat.unit_field): hand-derived cases, the CLI, and the
gradients of linearised zoo networks (the receptive-field oracle of test_receptive_oracle.py)."""

from __future__ import annotations

import json

import pytest

from cnnstat import analyze
from cnnstat.analyze import analyze_graph
from cnnstat.cli import main
from cnnstat.errors import UsageError
from cnnstat.ops.spatial import upsample_taps
from cnnstat.definition import build_graph, parse_definition
from cnnstat.cli.static import parse_at
from cnnstat.render.unit import describe


def field(text: str, layer: str, unit, precision="float32"):
    graph = build_graph(parse_definition(text, "t.yaml"))
    return analyze_graph(graph).unit_field(layer, unit, precision)


# -- hand-derived ------------------------------------------------------------------------------
def test_window_clipped_at_the_border():
    # conv 3x3 pad 1 then maxpool 2: unit u reads conv units 2u, 2u+1, which read [2u-1, 2u+2]:
    # unit 0 -> [-1, 2] -> rows 0..2 (row -1 is padding); unit 3 of 4 -> [5, 8] -> 5..7 (8 wide)
    text = "input: [1, 8, 8]\nlayers:\n  - c: conv2d(1, 3, padding=1)\n  - p: maxpool2d(2)\n"
    f = field(text, "p", (0, 0))
    assert (f.rows, f.cols, f.size, f.read) == ((0, 2), (0, 2), (3, 3), (3, 3))
    assert field(text, "p", (3, 3)).rows == (5, 7)


def test_dilation_leaves_gaps_and_the_ends_are_exact():
    # l0: maxpool k2 d2 pad1 stride1 on 4 rows: unit u reads {u-1, u+1} inside [0, 3];
    # l1: maxpool k2 d2 stride2: unit 0 reads l0 units {0, 2} -> {1} | {1, 3} = {1, 3}.
    # (Hulls propagated layer by layer would say 0..3: l0 units 0..2 include unit 1 -> row 0.)
    text = ("input: [1, 4, 4]\nlayers:\n  - l0: maxpool2d(2, stride=1, padding=1, dilation=2)\n"
            "  - l1: maxpool2d(2, dilation=2)\n")
    f = field(text, "l1", (0, 0))
    assert f.row_spans == ((1, 1), (3, 3)) and f.rows == (1, 3)
    assert f.size == (3, 3) and f.read == (2, 2)
    assert "with gaps: 2 of the 3 rows" in describe(f)


def test_paths_are_boxes_not_projections():
    # 7x4 input. a: 1x1 conv, stride 2, right padding 1 -> 4x3; unit (y, x) reads (2y, 2x), and
    # x = 2 reads column 4: padding. b: 3x3 subsampling of a -> 1x1, broadcast-added back.
    # Unit (3, 2) of the sum: through a, input (6, 4) -> padding, nothing; through b, a's rows
    # 0..2 x columns 0..2 -> input rows {0, 2, 4} x columns {0, 2}. Row 6 is not read, although
    # the row and column sets of both paths together would contain (6, 0).
    text = ("input: [1, 7, 4]\nlayers:\n"
            "  - a: conv2d(1, 1, stride=2, padding=[[0, 0], [0, 1]], bias=false)\n"
            "  - b: subsample(3, bias=false)\n  - s: add(b, a)\n")
    f = field(text, "s", (3, 2))
    assert f.row_spans == ((0, 0), (2, 2), (4, 4)) and f.col_spans == ((0, 0), (2, 2))


def test_transposed_convolution_reads_one_unit_per_output():
    # k = 2, s = 2: output v = 2i + j reads input i = v // 2 only (the envelope says 2 units)
    text = ("input: [1, 4, 4]\nlayers:\n  - up: conv_transpose2d(1, 2, stride=2)\n"
            "  - up2: conv_transpose2d(1, 2, stride=2)\n")
    assert field(text, "up", (5, 0)).rows == (2, 2)
    assert field(text, "up2", (13, 15)).rows == (3, 3)          # 13 // 4 = 3
    assert field(text, "up2", (13, 15)).cols == (3, 3)          # 15 // 4 = 3
    rf = analyze_graph(build_graph(parse_definition(text, "t.yaml"))).record("up").rf
    assert not rf.exact and rf.h.size > 1                       # the per-layer envelope


def test_upsample_indices_as_pytorch_computes_them():
    # nearest, x2: v >> 1. bilinear x2 without align_corners from 4: x = (v + 0.5)/2 - 0.5;
    # v = 0: x = -0.25 -> 0, weight of the second tap 0 -> {0}; v = 1: x = 0.25 -> {0, 1};
    # v = 7: x = 3.25 -> tap 3, the last row (no second tap) -> {3}
    assert upsample_taps("nearest", 4, 8, 5, None, 2.0) == (2,)
    assert upsample_taps("bilinear", 4, 8, 0, None, 2.0) == (0,)
    assert upsample_taps("bilinear", 4, 8, 1, None, 2.0) == (0, 1)
    assert upsample_taps("bilinear", 4, 8, 7, None, 2.0) == (3,)
    # align_corners: x = v * 3/7; v = 7 -> 3 exactly: one tap
    assert upsample_taps("bilinear", 4, 8, 7, True, None) == (3,)
    # float32 rounding: nearest 14 -> 46 rows, ratio 14/46 = 0.30434781 in float32 (below
    # 7/23), so unit 23 reads floor(23 * 0.30434781) = floor(6.9999995) = 6, not 23 * 14/46 = 7
    # (PyTorch's nearest_idx computes in float32 whatever the tensor's type)
    assert upsample_taps("nearest", 14, 46, 23, None, None) == (6,)
    # bilinear, align_corners, 2 -> 42: x = 41 * (1/41) = 1 exactly, but 0.99999994 in float32:
    # taps 0 (weight 6e-8) and 1; in float64 it is 1.0: tap 1 alone
    assert upsample_taps("bilinear", 2, 42, 41, True, None) == (0, 1)
    assert upsample_taps("bilinear", 2, 42, 41, True, None, precision="float64") == (1,)


def test_adaptive_pooling_windows():
    # 5 -> 3: windows [floor(5o/3), ceil(5(o+1)/3) - 1] = [0, 1], [1, 3], [3, 4]
    text = "input: [1, 5, 5]\nlayers:\n  - p: adaptive_avgpool2d(3)\n"
    assert [field(text, "p", (o, o)).rows for o in range(3)] == [(0, 1), (1, 3), (3, 4)]


@pytest.mark.parametrize("mode, spans", [
    ("zeros", ((0, 1),)),           # rows -1, 0, 1: the padding row reads nothing
    ("reflect", ((0, 1),)),         # row -1 copies row 1
    ("replicate", ((0, 1),)),       # row -1 copies row 0
    ("circular", ((0, 1), (4, 4))),  # row -1 copies row 4 (of 5)
])
def test_padding_modes(mode, spans):
    text = f"input: [1, 5, 5]\nlayers:\n  - c: conv2d(1, 3, padding=1, padding_mode='{mode}')\n"
    assert field(text, "c", (0, 0)).row_spans == spans


def test_se_gate_sees_everything_and_the_local_field_is_kept():
    # x: conv 3x3 pad 1 (unit 0 reads rows 0..1); the gate pools x globally: every unit of the
    # product depends on the whole 6x6 input, locally on rows and columns 0..1
    text = ("input: [2, 6, 6]\nlayers:\n  - x: conv2d(4, 3, padding=1)\n"
            "  - g: global_avgpool()\n  - s: conv2d(4, 1)\n  - sig: sigmoid()\n"
            "  - y: multiply(x, sig)\n")
    f = field(text, "y", (0, 0))
    assert f.whole and (f.rows, f.cols) == ((0, 5), (0, 5))
    assert (f.local.rows, f.local.cols) == ((0, 1), (0, 1))
    assert f.to_dict()["local"]["size"] == [2, 2]


def test_unet_unit_fields():
    # U-Net's output units depend on 188 or 204 input rows, by their position against the
    # bottleneck's stride of 16 (the per-layer field, an envelope over the up-convolutions'
    # phases, says ~215): unit 0 reads rows 0..187, unit 7 rows 0..203, unit 16 rows 16..203.
    # Checked against gradients for units 0..39 of a narrow copy (test below, and by hand).
    a = analyze("unet")
    assert a.unit_field("out", (0, 0)).rows == (0, 187)
    assert a.unit_field("out", (194, 194)).rows == (192, 379)
    assert a.unit_field("out", (387, 387)).rows == (384, 571)
    assert a.unit_field("out", (7, 0)).rows == (0, 203)
    assert a.unit_field("out", (16, 0)).rows == (16, 203)
    assert {a.unit_field("out", (u, 0)).size[0] for u in range(0, 388, 3)} == {188, 204}
    assert a.record("out").rf.h.size == 215 and not a.record("out").rf.exact


def test_errors_are_usage_errors():
    a = analyze("resnet18", 64)
    with pytest.raises(UsageError, match="has no layer 'nope'"):
        a.unit_field("nope")
    with pytest.raises(UsageError, match="no spatial units"):
        a.unit_field("fc")
    with pytest.raises(UsageError, match=r"unit \(99, 0\) is outside layer 'conv1' \(32x32"):
        a.unit_field("conv1", (99, 0))
    # one index per spatial axis: an image's unit has two
    with pytest.raises(UsageError, match=r"unit \(1\) has 1 index\(es\), but layer 'conv1' is a "
                                         r"2-D map \(32x32\).*conv1:0,0"):
        a.unit_field("conv1", (1,))
    text = ("input: [1, 8, 8]\nlayers:\n"
            "  - odd: not_counted(input, what='torch.roll', shape=[1, 8, 8])\n"
            "  - c: conv2d(1, 3)\n")
    with pytest.raises(UsageError, match="layer odd: not_counted: its receptive field is only "
                                         "known as an envelope"):
        field(text, "c", (0, 0))


def test_parse_at():
    assert parse_at("out") == ("out", None)
    assert parse_at("layer4.2.conv2:3,4") == ("layer4.2.conv2", (3, 4))
    assert parse_at("out:7") == ("out", (7,))                 # a unit of a 1-D map
    assert parse_at("conv3:1,2,3") == ("conv3", (1, 2, 3))    # ... and of a 3-D one
    with pytest.raises(UsageError, match="write LAYER or LAYER:ROW,COL"):
        parse_at("out:1,x")


# -- the command line --------------------------------------------------------------------------
def test_cli_at(capsys):
    assert main(["rf", "unet", "--at", "out:0,0"]) == 0
    out = capsys.readouterr().out
    assert "out[0, 0] reads input rows 0-187 and columns 0-187 (188x188 px)" in out
    assert "envelope" in out and "size ~215" in out
    assert main(["rf", "unet", "--at", "out:0,0", "-f", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["rows"] == [0, 187] and data["size"] == [188, 188]
    assert data["rf"]["size"] == [215, 215] and data["rf"]["exact"] is False
    assert main(["rf", "unet", "--at", "out:0,0", "-f", "csv"]) == 0
    assert capsys.readouterr().out.splitlines()[1] == "unet,out,0,0,0,187,0,187,188,188,188,188"
    assert main(["rf", "resnet18", "--at", "fc"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "no spatial units" in err


# -- against gradients -------------------------------------------------------------------------
ZOO = [("unet", None, {"base": 2}), ("resnet18", 64, {}), ("googlenet", 64, {}),
       ("efficientnet_b0", 64, {}), ("mobilenet_v3_small", 64, {}), ("squeezenet1_1", 64, {}),
       ("torchvision:lraspp_mobilenet_v3_large", 64, {})]


@pytest.mark.torch
@pytest.mark.parametrize("name, size, sets", ZOO, ids=[z[0] for z in ZOO])
def test_zoo_unit_fields_match_gradients(name, size, sets):
    """Every feature-map layer, at its corners and centre: the input rows and columns where the
    gradient of a linearised copy is non-zero are exactly the unit field (float64, as the copy)."""
    pytest.importorskip("torch")
    from cnnstat.models import resolve_graph

    from .test_receptive_oracle import corner_units, linearised, supports
    graph = resolve_graph(name, input=size, set=sets)
    a = analyze_graph(graph)
    names = [r.name for r in a.records if len(r.output_shape) == 4]
    def units(layer, shape):      # U-Net's output: also a run of units (188 or 204 rows)
        extra = [(u, u) for u in range(1, 20)] if layer == "out" and name == "unet" else []
        return corner_units(shape) + extra
    found = supports(linearised(graph), graph, graph.input_shape, names, units)
    for (layer, unit), (rows, cols) in found.items():
        f = a.unit_field(layer, unit, precision="float64")
        ends = [(p[0], p[-1]) if p else None for p in (rows, cols)]
        assert [f.rows, f.cols] == ends, (layer, unit, ends, f.rows, f.cols)


RESIZES = [("nearest", 14, 20, None), ("nearest", 14, 46, None), ("nearest-exact", 14, 20, None),
           ("bilinear", 14, 20, None), ("bilinear", 2, 42, None), ("bilinear", 14, None, 1.7),
           ("nearest", 14, None, 2.5), ("bicubic", 14, 31, None)]
# align_corners: bilinear and bicubic only
RESIZES_ALIGN = [case + (None,) for case in RESIZES] + \
    [case + (True,) for case in RESIZES if not case[0].startswith("nearest")]


@pytest.mark.torch
@pytest.mark.parametrize("mode, rows_in, size, scale, align", RESIZES_ALIGN)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_upsample_taps_match_pytorch(mode, rows_in, size, scale, align, dtype):
    """Each output unit's gradient lands exactly on upsample_taps at the tensor's precision,
    float rounding included (14 -> 46 nearest, 2 -> 42 bilinear with align_corners: see above)."""
    torch = pytest.importorskip("torch")
    kwargs = {"size": (size, 3)} if size else {"scale_factor": (scale, 1.0)}
    up = torch.nn.Upsample(mode=mode, align_corners=align, **kwargs)
    x = torch.ones(1, 1, rows_in, 3, requires_grad=True, dtype=getattr(torch, dtype))
    y = up(x)
    for v in range(y.shape[2]):
        (g,) = torch.autograd.grad(y[0, 0, v, 1], x, retain_graph=True)
        rows = tuple(torch.nonzero(g[0, 0].abs().sum(1)).flatten().tolist())
        taps = tuple(sorted(set(upsample_taps(mode, rows_in, y.shape[2], v, align, scale,
                                              dtype))))
        if mode == "bicubic":            # negative weights: clamped taps can cancel; reads <= taps
            assert set(rows) <= set(taps), (v, rows, taps)
        else:
            assert rows == taps, (v, rows, taps)


def test_summary_states_the_exact_centre_unit_where_the_field_is_an_envelope(capsys):
    # U-Net's centre output unit (194, 194) reads rows and columns 192..379: 188 px
    assert main(["params", "unet", "-f", "md"]) == 0
    out = capsys.readouterr().out
    assert "~215 at the output" in out and "the centre output unit reads exactly 188×188 px" in out
    assert main(["params", "resnet18", "-f", "md"]) == 0      # exact fields: nothing added
    assert "centre output unit" not in capsys.readouterr().out
