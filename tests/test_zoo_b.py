"""Zoo part B: MobileNetV2/V3, ShuffleNet V1/V2, MnasNet, EfficientNet B0-B7 and V2, U-Net, YOLO v1.

Three kinds of checks:
- against torchvision's modules (random weights, no download): parameters, buffers, conv+linear
  multiply-adds and output shapes counted by forward hooks (cnnstat.torch_bridge.reference), at
  the default input and at another size, and layer by layer (every conv/linear layer's output
  shape, parameters and MACs, as a multiset); the full-size counts run on torch's meta device
  (shapes only, no arithmetic), the other size runs for real on the CPU;
- against torchvision's shipped metadata (num_params, _ops in GMACs rounded to 3 decimals);
- for the models torchvision lacks, against the papers' figures, and through torch by building
  the module from cnnstat's own definition (cnnstat.torch_bridge.build).
Hand-derived numbers carry their arithmetic in a comment.
"""

from __future__ import annotations

import collections
import math

import pytest

from cnnstat import zoo
from cnnstat.analyze import analyze_graph
from cnnstat.models import load_graph

# zoo name -> (torchvision builder, builder kwargs, another input size for the CPU run)
TORCHVISION = {
    "mobilenet_v2": ("mobilenet_v2", {}, 160),
    "mobilenet_v2_140": ("mobilenet_v2", {"width_mult": 1.4}, 96),
    "mobilenet_v3_large": ("mobilenet_v3_large", {}, 96),
    "mobilenet_v3_small": ("mobilenet_v3_small", {}, 128),
}
WEIGHTS = {name: tv for name, (tv, kwargs, _) in TORCHVISION.items() if not kwargs}

MY_FILES = ["mobilenet_v2.yaml", "mobilenet_v3.yaml"]


def analysis(name: str, size: int | None = None, **sets):
    graph = load_graph(name, input_shape=None if size is None else (None, size, size),
                       overrides={k: str(v) for k, v in sets.items()})
    return analyze_graph(graph)


def weighted_layers_static(a) -> collections.Counter:
    """(output shape, params, weight MACs) of every conv / linear layer, as a multiset."""
    return collections.Counter((r.output_shape, r.params, r.macs_by_kind.get("weight", 0))
                               for r in a.records
                               if r.op in ("conv2d", "conv_transpose2d", "linear"))


def weighted_layers_torch(counts) -> collections.Counter:
    return collections.Counter((m.output_shape, m.params, m.macs) for m in counts.modules
                               if m.kind in ("Conv2d", "ConvTranspose2d", "Linear"))


# -- the zoo files: metadata that `cnnstat list` shows ------------------------------------------------
@pytest.mark.parametrize("filename", MY_FILES)
def test_zoo_file_metadata(filename):
    from cnnstat.spec import describe_variant
    d = zoo.definition(zoo.ZOO_DIR / filename)
    for key in ("title", "paper", "year", "family", "notes"):
        assert d.doc.get(key), f"{filename} has no {key}"
    for variant in d.variants:
        header = describe_variant(d, variant)
        assert header.get("reference"), f"{variant} has no reference"
        assert zoo.lookup(variant).path.name == filename


# -- torchvision: hooks on the real modules ----------------------------------------------------------
@pytest.fixture(scope="module", params=sorted(TORCHVISION))
def tv_reference(request):
    """One torchvision model per zoo name, counted at its default input on the meta device (shapes
    only) and at another size on the CPU (a real forward pass)."""
    import torch
    import torchvision
    from cnnstat.torch_bridge.reference import torch_counts
    name = request.param
    builder, kwargs, other = TORCHVISION[name]
    shape = load_graph(name).input_shape
    with torch.device("meta"):
        meta_model = torchvision.models.get_model(builder, weights=None, **kwargs)
    full = torch_counts(meta_model, shape, device="meta")
    torch.manual_seed(0)
    model = torchvision.models.get_model(builder, weights=None, **kwargs)
    small = torch_counts(model, (shape[0], other, other))
    return name, full, small, other


@pytest.mark.torch
def test_matches_torchvision_at_default_input(tv_reference):
    name, full, _, _ = tv_reference
    a = analysis(name)
    assert a.totals.params == full.params
    assert a.totals.trainable_params == full.trainable_params
    assert a.totals.buffers == full.buffers
    assert a.totals.macs == full.macs
    assert a.output_shapes == full.output_shapes
    assert weighted_layers_static(a) == weighted_layers_torch(full)


@pytest.mark.torch
def test_matches_torchvision_at_another_size(tv_reference):
    name, _, small, size = tv_reference
    a = analysis(name, size)
    assert a.totals.params == small.params
    assert a.totals.macs == small.macs
    assert a.output_shapes == small.output_shapes
    assert weighted_layers_static(a) == weighted_layers_torch(small)


@pytest.mark.torch
@pytest.mark.parametrize("name", sorted(WEIGHTS))
def test_matches_torchvision_metadata(name):
    """torchvision's weight metadata: num_params exactly; _ops (GMACs at the weights' crop size,
    rounded to 3 decimals) within rounding."""
    import torchvision
    weights = torchvision.models.get_model_weights(WEIGHTS[name]).DEFAULT
    crop = weights.transforms().crop_size[0]
    a = analysis(name, crop)
    assert a.totals.params == weights.meta["num_params"]
    assert abs(a.totals.macs / 1e9 - weights.meta["_ops"]) <= 0.0005 + 1e-12


@pytest.mark.torch
@pytest.mark.parametrize("alpha", [0.35, 0.75, 1.3])
def test_mobilenet_v3_width_multiplier_matches_torchvision(alpha):
    """alpha = torchvision's width_mult, every channel count make_divisible(c * alpha, 8)."""
    import torch
    import torchvision
    from cnnstat.torch_bridge.reference import torch_counts
    for arch in ("mobilenet_v3_large", "mobilenet_v3_small"):
        with torch.device("meta"):
            model = torchvision.models.get_model(arch, weights=None, width_mult=alpha)
        ref = torch_counts(model, (3, 224, 224), device="meta")
        a = analysis(arch, alpha=alpha)
        assert (a.totals.params, a.totals.macs) == (ref.params, ref.macs)


# -- hand-derived numbers -------------------------------------------------------------------------------
def test_mobilenet_v2_hand_derived():
    a = analysis("mobilenet_v2")
    # conv1: 3x3x3 -> 32 at stride 2: 112 x 112 outputs; 32*27 = 864 weights;
    # MACs 32 * 112 * 112 * 27 = 10,838,016
    conv1 = a.record("conv1.conv")
    assert (conv1.output_shape, conv1.params, conv1.macs) == ((1, 32, 112, 112), 864, 10_838_016)
    # block2.0 (t=6, 16 -> 24, s=2): expand 16 -> 96 (1536), depthwise 3x3 of 96 (864),
    # project 96 -> 24 (2304); no residual (stride 2), the second repetition has one (24 -> 24)
    assert a.record("block2.0.expand.conv").params == 16 * 96
    assert a.record("block2.0.depthwise.conv").params == 96 * 9
    assert a.record("block2.0.project").params == 96 * 24
    assert "block2.0.add" not in a.by_name and "block2.1.add" in a.by_name
    # classifier: 1280 * 1000 + 1000 = 1,281,000
    assert a.record("classifier.fc").params == 1_281_000
    # Table 4: 300M multiply-adds (300.8M here), 3.4M parameters (3.50M; see the file's notes)
    assert round(a.totals.macs / 1e6) in (300, 301)


def test_mobilenet_v2_notes_arithmetic():
    """The notes say: 34,112 batch-norm parameters, 3,504,872 - 34,112 = 3,470,760."""
    a = analysis("mobilenet_v2")
    bn = sum(r.params for r in a.records if r.op == "batchnorm2d")
    assert bn == 34_112
    assert a.totals.params - bn == 3_470_760
    a14 = analysis("mobilenet_v2_140")
    assert a14.totals.params - sum(r.params for r in a14.records if r.op == "batchnorm2d") == 6_060_840


def test_mobilenet_v3_squeeze_excite_hand_derived():
    a = analysis("mobilenet_v3_large")
    # bneck row 4 (24 -> 40, exp 72, SE, k5, s2): squeeze to make_divisible(72 // 4, 8) = 24:
    # fc1 72*24 + 24 = 1,752, fc2 24*72 + 72 = 1,800; the gate is N x 72 x 1 x 1, broadcast to
    # the 28 x 28 map (224 / 2 / 2 / 2 = 28)
    assert a.record("bnecks.3.se.fc1").params == 72 * 24 + 24
    assert a.record("bnecks.3.se.fc2").params == 24 * 72 + 72
    assert a.record("bnecks.3.se.gate").output_shape == (1, 72, 1, 1)
    assert a.record("bnecks.3.se.scale").output_shape == (1, 72, 28, 28)
    # the last 1x1 convolution: 160 -> 960 on 7 x 7: 960 * 160 weights, 960*49*160 MACs
    last = a.record("conv_last.conv")
    assert (last.params, last.macs) == (153_600, 7_526_400)
