"""cnnstat check --against torchvision: layer extraction, alignment, and the known differences
between the papers' networks and torchvision's implementations."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.torch

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from cnnstat import zoo  # noqa: E402
from cnnstat.errors import CnnstatError, UsageError  # noqa: E402
from cnnstat.torch_bridge.against import against_torchvision, parse_against  # noqa: E402
from cnnstat.torch_bridge.structure import Layer, align, extract  # noqa: E402

NO_PAD = ((0, 0), (0, 0))


class Tiny(nn.Module):
    """Modules and functional calls mixed, as torchvision's Inception v3 does."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, stride=2, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(8)
        self.pool = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.dw = nn.Conv2d(8, 8, 3, groups=8, bias=False)
        self.fc = nn.Linear(8, 5)

    def forward(self, x):
        x = F.relu(self.bn(self.conv(x)))          # 3×16×16 → 8×8×8
        x = self.pool(x)                           # 8×4×4 (ceil: (8-3)/2 → 3.5 → 4)
        x = F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)
        x = self.dw(F.pad(x, (1, 0, 1, 0)))        # asymmetric zero padding folded into the conv
        return self.fc(x.mean((2, 3)))             # global average pooling as a mean


def test_extract_records_modules_functions_and_normalization():
    layers = extract(Tiny().eval(), torch.zeros(1, 3, 16, 16))
    assert [x.kind for x in layers] == ["conv", "maxpool", "avgpool", "conv", "global_avgpool",
                                        "linear"]
    conv, pool, avg, dw, gap, fc = layers
    assert (conv.name, conv.in_channels, conv.out_channels, conv.kernel, conv.stride,
            conv.padding, conv.groups, conv.bias, conv.norm) == (
        "conv", 3, 8, (3, 3), (2, 2), ((1, 1), (1, 1)), 1, False, "batchnorm")
    assert conv.output_shape == (1, 8, 8, 8)
    assert (pool.kernel, pool.stride, pool.ceil_mode, pool.output_shape) == (
        (3, 3), (2, 2), True, (1, 8, 4, 4))
    # a functional call in a container's forward is named after the container and the function
    # (here the root module, whose name is empty)
    assert avg.name == "avg_pool2d" and avg.count_include_pad is False
    # F.pad (left 1, right 0, top 1, bottom 0) + conv padding 0 → ((1, 0), (1, 0))
    assert (dw.padding, dw.groups, dw.in_channels, dw.norm) == (((1, 0), (1, 0)), 8, 8, "none")
    assert gap.name == "mean"
    assert (fc.in_channels, fc.out_channels, fc.bias) == (8, 5, True)


def test_extract_on_meta_and_describe():
    with torch.device("meta"):
        net = Tiny().eval()
    layers = extract(net, torch.empty(1, 3, 16, 16, device="meta"))
    assert layers[0].describe() == "conv 3→8 3×3/2 p1 +batchnorm"
    assert layers[3].describe() == "conv 8→8 3×3/1 p(1,0,1,0) g8"


def _conv(name, k=3, c_in=8, c_out=8, stride=1):
    return Layer(0, name, "conv", c_in, c_out, (k, k), (stride, stride), NO_PAD, (1, 1), 1, False)


def test_align_reports_changed_inserted_and_removed_layers():
    pool = Layer(0, "pool", "maxpool", kernel=(2, 2), stride=(2, 2), padding=NO_PAD,
                 dilation=(1, 1), ceil_mode=False)
    left = [_conv("a"), pool, _conv("b"), _conv("c")]
    right = [_conv("a", k=5), _conv("b"), _conv("x", k=1, c_out=16), _conv("c")]
    steps = align(left, right)
    assert [s.status for s in steps] == ["changed", "removed", "same", "inserted", "same"]
    assert steps[0].changes == (("kernel", (3, 3), (5, 5)),)
    # a convolution is never aligned with a pooling: leaving both out is cheaper
    assert [s.status for s in align([pool], [_conv("a")])] == ["removed", "inserted"]


def test_align_identical_lists():
    layers = [_conv(str(i), k=1 + 2 * (i % 3)) for i in range(30)]
    assert all(s.status == "same" for s in align(layers, list(layers)))
    assert align([], []) == []


def test_parse_against():
    assert parse_against("torchvision") is None
    assert parse_against("torchvision:resnet50") == "resnet50"
    for bad in ("tf", "torchvision:", "timm:resnet50"):
        with pytest.raises(UsageError):
            parse_against(bad)


# ------------------------------------------------------------------------------------------------
# The well-known differences
# ------------------------------------------------------------------------------------------------
def _changed(report) -> dict[str, list]:
    return {s.left.name: list(s.changes) for s in report.diff.differing if s.status == "changed"}


def test_googlenet_paper_against_torchvision():
    report = against_torchvision("googlenet-paper", device="meta")
    assert not report.ok
    summary = {what: names for what, _, names in report.diff.summary()}
    # the "5×5" branch of all nine inception modules has a 3×3 convolution in torchvision
    fives = summary["kernel 5×5 → 3×3"]
    assert len(fives) == 9 and all(".branch3." in n for n in fives)
    # batch norm after every convolution (the paper: LRN after conv3, none elsewhere)
    convs = [s for s in report.diff.steps if s.left and s.left.kind == "conv"]
    assert len(convs) == 57 and all(s.right.norm == "batchnorm" for s in convs)
    # a 2×2 max pool before inception 5a (the paper: 3×3/2)
    assert summary["kernel 3×3 → 2×2"] == ["maxpool4"]
    assert report.diff.steps[[s.left.name if s.left else "" for s in
                              report.diff.steps].index("maxpool4") + 1].left.name.startswith(
        "inception5a")
    assert all(s.status == "changed" for s in report.diff.differing)   # nothing unaligned


@pytest.mark.parametrize("depth", [50, 101, 152])
def test_resnet_paper_downsamples_on_the_1x1(depth):
    report = against_torchvision(f"resnet{depth}-paper", device="meta")
    changed = _changed(report)
    # exactly the first block of stages 2-4: stride 2 on conv1 (1×1) instead of conv2 (3×3)
    assert changed == {f"layer{s}.0.conv{c}": [("stride", (2, 2) if c == 1 else (1, 1),
                                                (1, 1) if c == 1 else (2, 2))]
                       for s in (2, 3, 4) for c in (1, 2)}
    assert len(report.diff.differing) == 6
    totals = {c.quantity: c for c in report.totals}
    assert totals["parameters"].ok and totals["output shape"].ok
    if depth == 50:
        # conv1 of those blocks runs at H² instead of (H/2)²: c_in·p·¾H² more MACs per stage,
        # 256·128·¾·56² = 512·256·¾·28² = 1024·512·¾·14² = 77,070,336; × 3 = 231,211,008
        macs = totals["conv+linear MACs"]
        assert macs.measured - macs.static == 3 * 77_070_336
        assert macs.measured == 4_089_184_256


def test_alexnet_paper_against_torchvision():
    report = against_torchvision("alexnet-paper", device="meta")
    steps = [s for s in report.diff.steps if s.left and s.left.kind == "conv"]
    # filters 96-256-384-384-256 (paper) vs 64-192-384-256-256 (torchvision)
    assert [s.left.out_channels for s in steps] == [96, 256, 384, 384, 256]
    assert [s.right.out_channels for s in steps] == [64, 192, 384, 256, 256]
    # the paper's two GPU towers (groups 2 on conv2, 4, 5) and LRN after conv1 and conv2
    assert [s.left.groups for s in steps] == [1, 2, 1, 2, 2]
    assert all(s.right.groups == 1 and s.right.norm == "none" for s in steps)
    assert [s.left.norm for s in steps] == ["lrn(5)", "lrn(5)", "none", "none", "none"]
    assert [s.status for s in report.diff.differing].count("inserted") == 1   # adaptive pool


def _torchvision_layout() -> tuple[list[str], list[str]]:
    """Zoo models whose reference is torchvision (their names are torchvision's): the first and
    default variant of each file in the default run, the others under -m slow."""
    from cnnstat.definition import describe_variant
    from .test_check_zoo import representatives
    fast, slow = [], []
    for name, entry in zoo.index().items():
        header = describe_variant(zoo.definition(entry.path), entry.variant)
        if header.get("reference") == "torchvision":
            (fast if name in representatives() else slow).append(name)
    return fast, slow


FAST, SLOW = _torchvision_layout()


def _assert_same(report):
    assert report.ok, ([(c.quantity, c.static, c.measured) for c in report.totals if not c.ok],
                       report.diff.summary()[:5])


@pytest.mark.parametrize("name", FAST)
def test_torchvision_layout_definitions_match_torchvision(name):
    report = against_torchvision(name, device="meta")
    _assert_same(report)
    assert len(report.left) == len(report.right) == len(report.diff.steps) > 0


@pytest.mark.slow
@pytest.mark.parametrize("name", SLOW)
def test_large_torchvision_layout_definitions_match_torchvision(name):
    _assert_same(against_torchvision(name, device="meta"))


def test_a_deliberately_wrong_definition_is_caught(tmp_path):
    # ResNet-50 with a 5×5 stem (padding 2) instead of torchvision's 7×7 (padding 3)
    text = (zoo.ZOO_DIR / "resnet.yaml").read_text(encoding="utf-8")
    stem = "conv2d(64, 7, stride=2, padding=3, bias=false)"
    assert stem in text
    path = tmp_path / "wrong.yaml"
    path.write_text(text.replace(stem, "conv2d(64, 5, stride=2, padding=2, bias=false)"),
                    encoding="utf-8")
    report = against_torchvision(str(path), "resnet50", variant="resnet50", device="meta")
    assert not report.ok
    assert _changed(report) == {"conv1": [("kernel", (5, 5), (7, 7)),
                                          ("padding", ((2, 2), (2, 2)), ((3, 3), (3, 3)))]}
    # parameters: 64·3·(49 − 25) = 4,608 fewer weights
    params = report.totals[0]
    assert (params.quantity, params.measured - params.static) == ("parameters", 4_608)


def test_a_model_torchvision_cannot_run_is_one_error():
    with pytest.raises(UsageError, match="cannot run on the input of lenet5"):
        against_torchvision("lenet5", "alexnet", device="meta")
    with pytest.raises(UsageError, match="torchvision has no model 'lenet5'"):
        against_torchvision("lenet5", device="meta")


def test_report_to_dict():
    import json
    data = json.loads(json.dumps(against_torchvision("resnet50-paper", device="meta").to_dict()))
    assert data["agree"] is False and data["against"] == "torchvision:resnet50"
    assert {d["difference"] for d in data["summary"]} == {"stride 2 → 1", "stride 1 → 2"}
    assert len(data["differences"]) == 6


def test_errors_are_cnnstat_errors():
    assert issubclass(UsageError, CnnstatError)
    with pytest.raises(UsageError):
        against_torchvision("resnet50", device="tpu")
