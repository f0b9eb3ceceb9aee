"""cnnstat check: the static analysis against the running module, fvcore and FlopCounterMode.

Hand-derived figures on small definitions pin down each counter's convention and its conversion
(fvcore/nn/jit_handles.py, torch/utils/flop_counter.py); tests that break the builder or a rule on
purpose make sure a difference is caught; every zoo model is checked (tests/test_check_zoo.py).
"""

from __future__ import annotations

import textwrap

import pytest

pytestmark = pytest.mark.torch

torch = pytest.importorskip("torch")

from cnnstat.errors import UsageError  # noqa: E402
from cnnstat.graph import Graph, Node  # noqa: E402
from cnnstat.ops.base import NORM, POOL, RESIZE, WEIGHT  # noqa: E402
from cnnstat.torch_bridge import check as C  # noqa: E402

W, N, P, R = (C.KIND_QUANTITY[k] for k in (WEIGHT, NORM, POOL, RESIZE))


def _definition(tmp_path, body: str, name: str = "net.yaml") -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return str(path)


SMALL = """\
    input: [3, 8, 8]
    layers:
      - conv: conv2d(4, 3, padding=1)
      - bn: batchnorm2d
      - relu: relu
      - pool: global_avgpool
      - flat: flatten
      - fc: linear(10)
"""


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    path = _definition(tmp_path_factory.mktemp("check"), SMALL)
    return C.check(path)


def test_small_model_agrees_with_hand_derived_figures(small):
    assert small.ok, [(x.name, x.comparisons) for x in small.differing_layers]
    conv, bn, _, pool, _, fc = small.layers
    # conv 3→4, 3×3, padding 1 on 8×8: 4·8·8 outputs × 3·3·3 taps = 6,912 MACs.
    assert conv.get(W, C.FVCORE).measured == 6_912           # fvcore: 1 flop per multiply-add
    fcm = conv.get(W, C.FLOP_COUNTER)
    assert fcm.measured == 6_912 and fcm.raw == "13,824 FLOPs ÷ 2"   # 2 FLOPs per multiply-add
    # conv parameters 4·27 + 4 bias = 112; the bias adds are not counted by either counter.
    assert conv.get(C.PARAMETERS, C.TORCH).measured == 112
    assert conv.get(C.OUTPUT_SHAPE, C.TORCH).measured == (1, 4, 8, 8)
    # batch norm at inference: fvcore counts 2 per element (scale, shift): 2·4·8·8 = 512;
    # cnnstat folds it into 1 multiply-add per element: 256.
    norm = bn.get(N, C.FVCORE)
    assert (norm.static, norm.measured, norm.raw) == (256, 256, "512 fvcore flops ÷ 2")
    assert bn.get(C.BUFFERS, C.TORCH).measured == 2 * 4 + 1   # running mean, var, num_batches
    assert bn.get(W, C.FLOP_COUNTER).measured == 0            # FlopCounterMode: no BN
    # global average pooling as nn.AdaptiveAvgPool2d(1): fvcore 1 per input element = 4·8·8.
    assert pool.get(P, C.FVCORE).measured == 256
    # linear 4 → 10: 40 MACs; FlopCounterMode's addmm counts 2·4·10 = 80 FLOPs, bias excluded.
    assert fc.get(W, C.FLOP_COUNTER).raw == "80 FLOPs ÷ 2"
    assert fc.get(W, C.FVCORE).measured == 40


def test_small_model_totals(small):
    totals = {(c.quantity, c.source): c for c in small.totals}
    # parameters: conv 112 + bn 8 + fc 4·10 + 10 = 170
    assert totals[(C.PARAMETERS, C.TORCH)].measured == 170
    assert totals[(W, C.FVCORE)].measured == 6_912 + 40
    assert totals[(W, C.FLOP_COUNTER)].measured == 6_912 + 40
    assert totals[(C.OUTPUT_SHAPE, C.TORCH)].measured == [(1, 10)]
    assert all(c.ok for c in small.totals)


def test_batch_scales_every_count(tmp_path):
    report = C.check(_definition(tmp_path, SMALL), batch=3)
    assert report.ok
    assert report.layers[0].get(W, C.FVCORE).measured == 3 * 6_912


@pytest.mark.parametrize("bn, factor", [
    ("batchnorm2d(affine=false)", 1),                 # inference, no affine: 1 per element
    ("batchnorm2d(track_running_stats=false)", 5),    # batch statistics, affine: 5 per element
    ("batchnorm2d(affine=false, track_running_stats=false)", 4),
])
def test_fvcore_batch_norm_factors(tmp_path, bn, factor):
    path = _definition(tmp_path, f"""\
        input: [2, 4, 4]
        layers:
          - bn: {bn}
    """)
    layer = C.check(path).layers[0]
    c = layer.get(N, C.FVCORE)
    # 2·4·4 = 32 elements; fvcore counts factor × 32
    assert (c.static, c.measured) == (32, 32)
    assert c.raw == ("" if factor == 1 else f"{32 * factor:,} fvcore flops ÷ {factor}")


@pytest.mark.parametrize("mode, per_output", [("nearest", 1), ("bilinear", 4)])
def test_fvcore_upsampling(tmp_path, mode, per_output):
    path = _definition(tmp_path, f"""\
        input: [2, 3, 3]
        layers:
          - up: upsample(scale=2, mode='{mode}')
    """)
    report = C.check(path)
    c = report.layers[0].get(R, C.FVCORE)
    # output 2·6·6 = 72 elements × per_output
    assert c.measured == c.static == 72 * per_output
    assert report.ok


def test_overlapping_adaptive_windows_are_not_compared(tmp_path):
    # adaptive 3×3 from 4×4: windows [0,2) [1,3) [2,4) overlap: cnnstat counts 2·3·... window
    # elements, fvcore the 2·4·4 input elements; the report says why, and does not fail.
    path = _definition(tmp_path, """\
        input: [2, 4, 4]
        layers:
          - pool: adaptive_avgpool2d(3)
    """)
    report = C.check(path)
    layer = report.layers[0]
    assert layer.get(P, C.FVCORE) is None
    assert any("windows overlap" in n for n in layer.notes)
    assert report.ok


def test_meta_device_skips_fvcore_and_checks_resnet50_at_224():
    report = C.check("resnet50", device="meta")
    assert report.ok
    assert any(n.startswith("fvcore: skipped on meta") for n in report.notes)
    totals = {(c.quantity, c.source): c for c in report.totals}
    # torchvision's ResNet-50: 4.09 GMACs (its _ops metadata: 4.09 GFLOPS in the MAC convention)
    assert totals[(W, C.FLOP_COUNTER)].measured == 4_089_184_256
    assert totals[(C.PARAMETERS, C.TORCH)].measured == 25_557_032
    assert (W, C.FVCORE) not in totals


def test_cuda_without_cuda_is_one_line():
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(UsageError) as err:
        C.resolve_device("cuda")
    assert "CUDA is not available" in str(err.value) and "\n" not in str(err.value)


def test_unknown_device_and_counter():
    with pytest.raises(UsageError):
        C.resolve_device("tpu")
    with pytest.raises(UsageError):
        C.check("lenet5", counters=("ptflops",))


def test_shared_module_is_compared_once():
    # b reuses a's module: two calls of conv 4→4 3×3 padding 1 on 8×8 = 2 · 4·8·8·4·9 = 18,432
    # MACs, attributed by both counters to the one module; parameters counted once (4·4·9 + 4).
    nodes = [Node("input", "input", attrs={"shape": (4, 8, 8)}),
             Node("a", "conv2d", ("input",), {"out": 4, "kernel": (3, 3), "stride": (1, 1),
                                              "padding": ((1, 1), (1, 1)), "dilation": (1, 1),
                                              "groups": 1, "bias": True,
                                              "padding_mode": "zeros"}),
             Node("b", "conv2d", ("a",), {"out": 4, "kernel": (3, 3), "stride": (1, 1),
                                          "padding": ((1, 1), (1, 1)), "dilation": (1, 1),
                                          "groups": 1, "bias": True, "padding_mode": "zeros"},
                  shares="a")]
    report = C.check_graph(Graph(nodes))
    assert report.ok
    a, b = report.layers
    assert a.get(W, C.FVCORE).measured == a.get(W, C.FLOP_COUNTER).measured == 18_432
    assert b.get(W, C.FVCORE) is None and "same module as a" in b.notes[0]
    assert a.get(C.PARAMETERS, C.TORCH).measured == 148
    assert b.get(C.PARAMETERS, C.TORCH).measured == 0


def test_lenet5_custom_operators_agree():
    # partial connections (one small conv per C3 map), trainable subsampling, RBF units
    report = C.check("lenet5")
    assert report.ok
    c3 = next(x for x in report.layers if x.op == "partial_conv2d")
    # LeNet-5 C3: 60 map pairs · 5·5 taps · 10·10 positions = 150,000 MACs, 1,516 parameters
    assert c3.get(W, C.FVCORE).measured == 150_000
    assert c3.get(C.PARAMETERS, C.TORCH).measured == 1_516


# ------------------------------------------------------------------------------------------------
# A difference must be caught: break the builder or a rule on purpose.
# ------------------------------------------------------------------------------------------------
def test_a_wrong_torch_module_is_caught(tmp_path, monkeypatch):
    from cnnstat.torch_bridge import modules
    real = modules.MODULES["conv2d"]

    def padded_too_much(a, shapes):          # one pixel more padding than the definition says
        conv = real(a, shapes)
        conv.padding = (conv.padding[0] + 1, conv.padding[1] + 1)
        return conv
    monkeypatch.setitem(modules.MODULES, "conv2d", padded_too_much)
    report = C.check(_definition(tmp_path, SMALL))
    assert not report.ok
    conv = report.layers[0]
    assert conv.get(C.OUTPUT_SHAPE, C.TORCH).measured == (1, 4, 10, 10)
    # 4·10·10·27 = 10,800 MACs measured by both counters against the static 6,912
    assert conv.get(W, C.FVCORE).measured == conv.get(W, C.FLOP_COUNTER).measured == 10_800
    assert not conv.ok


def test_a_wrong_rule_is_caught(tmp_path, monkeypatch):
    from cnnstat.ops import REGISTRY
    rule = REGISTRY["conv2d"]
    real = rule.evaluate

    def overcounts(a, inputs):
        ev = real(a, inputs)
        ev.macs = {**ev.macs, WEIGHT: ev.macs[WEIGHT] + 1}
        return ev
    monkeypatch.setattr(rule, "evaluate", overcounts)
    report = C.check(_definition(tmp_path, SMALL))
    assert [x.name for x in report.differing_layers] == ["conv"]
    bad = [c for c in report.layers[0].comparisons if not c.ok]
    assert {(c.source, c.static, c.measured) for c in bad} == {
        (C.FVCORE, 6_913, 6_912), (C.FLOP_COUNTER, 6_913, 6_912)}
    assert not report.ok


def test_torch_failing_is_a_difference_located_at_the_layer(tmp_path, monkeypatch):
    from torch import nn
    from cnnstat.torch_bridge import modules
    monkeypatch.setitem(modules.MODULES, "linear",
                        lambda a, shapes: nn.Linear(shapes[0][-1] + 1, a["out"]))
    report = C.check(_definition(tmp_path, SMALL))
    assert not report.ok
    assert report.error.startswith("torch failed at layer fc: RuntimeError")
    assert report.layers[-1].error.startswith("torch failed here")
    assert all(r.skipped for r in report.counters)


def test_report_to_dict_is_json(small):
    import json
    data = json.loads(json.dumps(small.to_dict()))
    assert data["agree"] is True and data["layers"][0]["name"] == "conv"
    assert {c["source"] for c in data["totals"]} == {"torch", "fvcore", "FlopCounterMode"}


def test_an_imported_model_checks_like_a_definition():
    # check builds the module from the graph: an importer's graph needs nothing special
    from cnnstat.models import _find_source
    if _find_source("torchvision:resnet18") is None:
        pytest.skip("the torchvision importer is not installed")
    report = C.check("torchvision:resnet18", input=32)
    assert report.ok
    totals = {(c.quantity, c.source): c for c in report.totals}
    assert totals[(C.PARAMETERS, C.TORCH)].measured == 11_689_512    # torchvision's ResNet-18
