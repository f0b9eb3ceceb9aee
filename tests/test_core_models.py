"""The first zoo models against torchvision's modules: parameters, buffers, conv+linear MACs
(hooks and fvcore), output shapes, and per-layer output shapes, at 224 and another size."""

from __future__ import annotations

import pytest

import cnnstat

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

MODELS = ["vgg16", "resnet18", "resnet50"]


@pytest.fixture(scope="module")
def meta_models():
    """torchvision's modules on the meta device: real shapes and parameter counts, no storage."""
    from tests.oracles.reference import torchvision_model
    with torch.device("meta"):
        return {name: torchvision_model(name) for name in MODELS}


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("size", [224, 160])
def test_zoo_equals_torchvision(meta_models, name, size):
    from tests.oracles.reference import torch_counts
    a = cnnstat.analyze(name, size)
    ref = torch_counts(meta_models[name], (3, size, size), device="meta")
    assert a.totals.params == ref.params
    assert a.totals.buffers == ref.buffers
    assert a.totals.macs == ref.macs
    assert a.output_shapes == ref.output_shapes
    # per layer: the conv/linear layers, in order, have the same output shapes and params
    ours = [(r.output_shape, r.params) for r in a.records if r.op in ("conv2d", "linear")]
    theirs = [(m.output_shape, m.params) for m in ref.modules if m.kind in ("Conv2d", "Linear")]
    assert len(theirs) >= 8, "the hooks saw too few conv/linear layers to compare"
    if name.startswith("resnet"):  # torchvision runs each block's downsample after conv3/bn3 too
        assert sorted(ours) == sorted(theirs)
    else:
        assert ours == theirs


def test_headline_figures():
    # the figures: torchvision rounds these to 15.47 and 4.089 "GFLOPS" (GMACs)
    vgg, resnet = cnnstat.analyze("vgg16"), cnnstat.analyze("resnet50")
    assert (vgg.totals.params, vgg.totals.macs) == (138_357_544, 15_470_264_320)
    assert (resnet.totals.params, resnet.totals.macs) == (25_557_032, 4_089_184_256)


@pytest.mark.parametrize("name", MODELS)
def test_torchvision_metadata(name):
    import torchvision
    meta = torchvision.models.get_model_weights(name).DEFAULT.meta
    a = cnnstat.analyze(name)
    assert a.totals.params == meta["num_params"]
    assert round(a.totals.macs / 1e9, 3) == pytest.approx(meta["_ops"], abs=0.0015)


@pytest.mark.parametrize("name", ["resnet18", "resnet50"])
def test_fvcore_conv_and_linear(name):
    """fvcore counts one 'flop' per multiply-add; its conv and linear (addmm) parts are cnnstat's
    default MACs. (It also counts batch norm and adaptive pooling: excluded here.) fvcore traces
    on CPU tensors, so a small input keeps this quick; the count is exact at any size."""
    from fvcore.nn import FlopCountAnalysis
    from tests.oracles.reference import torchvision_model
    model = torchvision_model(name).eval()
    counts = FlopCountAnalysis(model, torch.zeros(1, 3, 64, 64))
    counts.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    by_op = counts.by_operator()
    weight = by_op.get("conv", 0) + by_op.get("addmm", 0) + by_op.get("linear", 0)
    assert cnnstat.analyze(name, 64).totals.macs == weight
