"""Fixed-size layers (issue 18): a linear layer whose weights fix its input size, the input sizes
a network therefore takes, the one-line refusal of the others, and VGG's dense evaluation.

- hand-derived ranges, with the arithmetic in the comments;
- properties: for every zoo model, the parameter count is the same at every input size it
  accepts, and every size it refuses is refused with one line (a systematic grid of sizes); for
  the fixed-size networks, hypothesis over (height, width): the analysis succeeds inside the
  range the refusal states, and outside it only where torch runs too;
- differential: torch runs the module built at the default size at exactly the sizes cnnstat
  analyses (meta device, so nothing is computed), at the range's ends and at random sizes; VGG's
  dense form computes the paper's test-time procedure (the FC classifier's scores averaged over
  the crops it slides over).
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

import cnnstat
from cnnstat import zoo
from cnnstat.errors import CnnstatError, DefinitionError, FixedSizeError, InputSizeError
from cnnstat.input_sizes import fixed_layers
from cnnstat.models import load_graph
from cnnstat.ops import REGISTRY

#: the networks whose fully connected layer reads a map of fixed size, and the input sizes (per
#: side) that give that map, derived by hand:
FIXED = {
    # five 2x2/2 max pools: pool5 = floor(H / 32) = 7  <=>  224 <= H <= 255
    "vgg-a": (224, 255), "vgg-a-lrn": (224, 255), "vgg-b": (224, 255), "vgg-c": (224, 255),
    "vgg-d": (224, 255), "vgg-e": (224, 255),
    # conv1 11x11/4: c = (H - 11) // 4 + 1; three 3x3/2 pools: p = (x - 3) // 2 + 1, three times,
    # must give 6: p2 in 13..14 <- p1 in 27..30 <- c in 55..62 <- H in 227..258
    "alexnet-paper": (227, 258),
    # C1 5x5: H - 4; S2 /2 (floor); C3 5x5: -4; S4 /2; C5 5x5: -4 must give 1:
    # S4 = 5 <- C3 in 10..11 <- S2 in 14..15 <- C1 in 28..31 <- H in 32..35
    "lenet5": (32, 35), "lenet5-modern": (32, 35),
    # stride-2 7x7 (pad 3) and 3x3 (pad 1) convolutions give ceil(x / 2), 2x2 pools floor(x / 2):
    # ceil(ceil(H/2) / 16 ... ) = 7 at the last stride-2 convolution <=> 415 <= H <= 478
    "yolov1": (415, 478),
    # Table 1 layout: 7x7/1 average pool on inception 5b's map must give 1x1 (a 7x7 map)
    "googlenet-paper": (223, 254),
}
#: 3-D networks with a fixed-size layer: the heights and widths (square, at the model's own
#: depth) they take. C3D: four floor-halving poolings of H then pool5 rounding up must give 4:
#: pool4 in 7..8 <- pool3 in 14..17 <- pool2 in 28..35 <- pool1 in 56..71 <- H in 112..143
FIXED_3D = {"c3d": (112, 143)}
GRID = (32, 64, 75, 96, 128, 160, 193, 224, 227, 256, 299, 320, 384, 448, 512, 572)


def one_line(exc: BaseException) -> str:
    text = str(exc)
    assert "\n" not in text and text.strip() == text and text, repr(text)
    return text


# -- the rule ----------------------------------------------------------------------------------
def test_linear_in_features_pins_the_input():
    rule = REGISTRY["linear"]
    attrs = rule.bind([10], {"in_features": 400})
    # 10 x 400 weights + 10 biases; 10 outputs x 400 multiply-adds
    ev = rule.evaluate(attrs, [(1, 400)])
    assert (ev.params, ev.macs["weight"]) == (4010, 4000)
    with pytest.raises(FixedSizeError) as info:
        rule.evaluate(attrs, [(1, 576)])
    assert (info.value.need, info.value.got) == (400, 576)
    assert "linear takes 400 input features (in_features=400), gets 576" in str(info.value)
    assert rule.describe(attrs, [(1, 400)]) == \
        "Linear(in_features=400, out_features=10, bias=True)"
    with pytest.raises(DefinitionError, match="'in_features' must be a positive integer"):
        rule.bind([10], {"in_features": 0})


def test_definition_whose_in_features_contradicts_its_own_input(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text("input: [3, 32, 32]\nlayers:\n  - conv: conv2d(8, 3)\n  - flatten\n"
                    "  - fc: linear(10, in_features=8 * 32 * 32)\n")
    # conv 3x3 without padding: 30x30x8 = 7,200 features where the weights take 8,192
    with pytest.raises(InputSizeError) as info:
        cnnstat.analyze(str(path))
    text = one_line(info.value)
    assert text.startswith(f"{path}:5: layer fc: linear takes 8,192 input features")
    assert "at the definition's own input 32x32 it gets 7,200 (8x30x30)" in text


# -- the refusal, by hand ----------------------------------------------------------------------
def test_vgg_d_at_256_is_refused_with_the_sizes_it_takes():
    with pytest.raises(InputSizeError) as info:
        cnnstat.analyze("vgg-d", input=256)
    assert one_line(info.value) == (
        "vgg-d's fixed-size layers take inputs of 224 to 255 pixels a side: layer classifier.fc1 "
        "needs 25,088 input features (512x7x7), gets 32,768 (512x8x8) at 256x256; for other "
        "sizes: --set dense=true, the paper's dense evaluation (section 3.2), for any input of "
        "at least 224x224")
    assert info.value.sizes == ((224, 255), (224, 255))


def test_refusal_of_a_too_small_input_names_the_range():
    # at 32x32 AlexNet's pool2 gets 2x2 (too small for a 3x3 window) before fc6 is reached: the
    # error still says which sizes the network takes
    with pytest.raises(InputSizeError, match=r"^alexnet-paper's fixed-size layers take inputs of "
                       r"227 to 258 pixels a side: at 32x32, layer pool2: maxpool2d: the window "
                       r"of 3"):
        cnnstat.analyze("alexnet-paper", input=32)
    # a network without a largest size (adaptive pooling before its pinned layer) keeps the
    # plain "too small" error
    with pytest.raises(CnnstatError) as info:
        cnnstat.analyze("vgg16", input=16)
    assert not isinstance(info.value, InputSizeError)
    assert "the input is too small for this layer" in str(info.value)


def test_non_square_inputs_are_ranged_per_side():
    # height 224..255 fits, width 300 gives floor(300 / 32) = 9 columns: 512x7x9
    with pytest.raises(InputSizeError, match=r"gets 32,256 \(512x7x9\) at 224x300"):
        cnnstat.analyze("vgg-d", input="224x300")
    a = cnnstat.analyze("vgg-d", input="224x255")
    assert a.totals.params == 138_357_544        # VGG-D = VGG-16: torchvision's model card


@pytest.mark.parametrize("name", sorted(FIXED))
def test_fixed_size_ranges(name):
    lo, hi = FIXED[name]
    params = {cnnstat.analyze(name, input=s).totals.params for s in (lo, hi, (lo + hi) // 2)}
    assert len(params) == 1
    for size in (lo - 1, hi + 1):
        with pytest.raises(InputSizeError) as info:
            cnnstat.analyze(name, input=size)
        one_line(info.value)
        assert info.value.sizes == ((lo, hi), (lo, hi)), name


def test_googlenet_paper_aux_heads_narrow_the_range():
    # with its auxiliary heads, the 5x5/3 average pool on inception 4a must give 4x4 for FC-1024
    # (2,048 weights per unit): a 14x14 map, from 223 ... 238 only
    with pytest.raises(InputSizeError) as info:
        cnnstat.analyze("googlenet-paper", input=239, set={"aux_logits": True})
    assert info.value.sizes == ((223, 238), (223, 238))
    assert "layer aux1.fc1 needs 2,048 input features (128x4x4)" in str(info.value)


# -- properties over the zoo ---------------------------------------------------------------------
def _sized(default, size: int):
    """``size`` as --input reads it for the model: a side (length); for a 3-D model a square
    height x width at its own depth."""
    return f"{default.input_shape[1]}x{size}x{size}" if default.rank == 3 else size


def _outcome(name, size):
    try:
        return cnnstat.analyze(name, input=size).totals.params
    except CnnstatError as exc:
        return exc


@pytest.mark.parametrize("name", sorted(zoo.names()))
def test_parameters_do_not_depend_on_the_input_size(name):
    """At every size of the grid a model accepts, the same parameters; every size it refuses,
    one line (and, for the fixed-size networks, a statement of the sizes it takes)."""
    default = cnnstat.analyze(name)
    counts, refused = set(), []
    own = default.input_shape[2:] if default.rank == 3 else default.input_shape[1:]
    for size in GRID + tuple(own):
        got = _outcome(name, _sized(default, size))
        if isinstance(got, CnnstatError):
            one_line(got)
            refused.append(size)
        else:
            counts.add(got)
    assert counts == {default.totals.params}, name
    if name in FIXED or name in FIXED_3D:
        lo, hi = FIXED.get(name) or FIXED_3D[name]
        assert refused == [s for s in GRID if not lo <= s <= hi], name
    else:
        assert not any(isinstance(_outcome(name, s), InputSizeError) for s in refused), name


def test_the_fixed_size_networks_are_the_ones_listed():
    """Every zoo network with a pinned layer either takes a bounded range (listed above) or
    pools adaptively before it (torchvision's layouts: any size above a minimum)."""
    bounded = set()
    for name in zoo.names():
        graph = load_graph(name)
        if not fixed_layers(graph):
            continue
        try:
            cnnstat.analyze(name, input=_sized(cnnstat.analyze(name), 1024))
        except InputSizeError:
            bounded.add(name)
    assert bounded == set(FIXED) | set(FIXED_3D)


@settings(max_examples=60, deadline=None)
@given(name=st.sampled_from(sorted(FIXED)), h=st.integers(1, 700), w=st.integers(1, 700))
def test_analysis_succeeds_inside_the_stated_range(name, h, w):
    """Inside the stated range (each side): the network, with its parameters. Outside: refused
    on one line stating the range — unless an odd aspect ratio brings the fixed layer the same
    number of features (AlexNet at 163x323: a 4x9 map where the weights take 6x6), which torch
    runs too; then still the same parameters."""
    lo, hi = FIXED[name]
    got = _outcome(name, f"{h}x{w}")
    if lo <= h <= hi and lo <= w <= hi:
        assert got == cnnstat.analyze(name).totals.params
    elif isinstance(got, CnnstatError):
        assert isinstance(got, InputSizeError), (name, h, w, got)
        one_line(got)
        assert got.sizes == ((lo, hi), (lo, hi))
    else:
        assert got == cnnstat.analyze(name).totals.params


def test_an_odd_aspect_ratio_with_the_same_features_runs():
    # AlexNet (paper) at 163x323: conv1 (163 - 11)//4 + 1 = 39 rows, pools 19, 9, 4; columns
    # (323 - 11)//4 + 1 = 79, pools 39, 19, 9: pool5 256x4x9 = 9,216 features, fc6's count
    a = cnnstat.analyze("alexnet-paper", input="163x323")
    assert a.record("pool5").output_shape == (1, 256, 4, 9)
    assert a.totals.params == 60_965_224       # summed by hand in tests/test_import_caffe.py


# -- VGG's dense evaluation (section 3.2) ----------------------------------------------------------
def test_vgg_dense_evaluation_at_256():
    a = cnnstat.analyze("vgg-d", input=256, set={"dense": True})
    assert a.totals.params == 138_357_544 == cnnstat.analyze("vgg-d").totals.params
    # pool5 8x8x512; fc1 as a 7x7 convolution: (8 - 7) + 1 = 2, a 2x2 class score map of 1000
    assert a.record("classifier.fc1").output_shape == (1, 4096, 2, 2)
    assert a.record("classifier.fc3").output_shape == (1, 1000, 2, 2)
    assert a.record("classifier.average").output_shape == (1, 1000)    # spatially averaged
    assert a.output_shapes == [(1, 1000)]
    # fc1 work: 2*2 positions x 4096 x 25,088 = 411,041,792 multiply-adds
    assert a.record("classifier.fc1").macs == 411_041_792
    # at 224 the dense form is the same network: same parameters, same multiply-adds
    dense, fc = cnnstat.analyze("vgg-d", set={"dense": True}), cnnstat.analyze("vgg-d")
    assert (dense.totals.params, dense.totals.macs) == (fc.totals.params, fc.totals.macs)
    assert [r.params for r in dense.records if r.params] == [r.params for r in fc.records
                                                           if r.params]
    # below 224 the 7x7 convolution has no room: pool5 gives 6x6
    with pytest.raises(CnnstatError, match="layer classifier.fc1: conv2d: the window of 7 is "
                                           "larger than the padded input height 6"):
        cnnstat.analyze("vgg-d", input=200, set={"dense": True})


def test_dense_evaluation_is_for_the_paper_networks():
    with pytest.raises(CnnstatError, match="dense evaluation is for the paper networks"):
        cnnstat.analyze("vgg16", set={"dense": True})


torch_only = pytest.mark.torch


@torch_only
@pytest.mark.parametrize("name", sorted(FIXED))
def test_torch_takes_exactly_the_stated_sizes(name):
    """The module built at the default size, run on meta tensors (shapes only): torch accepts the
    first and last size of the range and refuses the sizes just outside ("mat1 and mat2 shapes
    cannot be multiplied", or a window larger than its input)."""
    torch = pytest.importorskip("torch")
    from cnnstat.torch_bridge.build import build_module
    lo, hi = FIXED[name]
    graph = load_graph(name)
    module = build_module(graph, device="meta")
    channels = graph.input_shape[0]
    with torch.no_grad():
        for size in (lo, hi):
            module(torch.empty(1, channels, size, size, device="meta"))
        for size in (lo - 1, hi + 1):
            with pytest.raises(RuntimeError):
                module(torch.empty(1, channels, size, size, device="meta"))


@torch_only
def test_torch_and_cnnstat_accept_the_same_sizes(compared):
    """Any (height, width): the module built at the default size runs on it (meta tensors) exactly
    when cnnstat analyses the network at it. Each side is drawn uniformly or near the stated
    range (a uniform draw alone would hardly ever fall inside a fixed-size network's range):
    both sides of the comparison must be seen often (tests/differential.py counts them)."""
    torch = pytest.importorskip("torch")

    @settings(max_examples=60, deadline=None, derandomize=True)
    @given(data=st.data())
    def check(data):
        name = data.draw(st.sampled_from(["alexnet-paper", "lenet5", "vgg-a"]), "name")
        lo, hi = FIXED[name]
        side = st.one_of(st.integers(max(1, lo - 4), hi + 4), st.integers(1, 400))
        h, w = data.draw(side, "h"), data.draw(side, "w")
        module, channels = _meta_module(name)
        try:
            with torch.no_grad():
                module(torch.empty(1, channels, h, w, device="meta"))
            runs = True
        except RuntimeError:
            runs = False
        assert runs == (not isinstance(_outcome(name, f"{h}x{w}"), CnnstatError)), (name, h, w)
        compared.record("both run" if runs else "both refuse")

    check()
    compared.require(10, keys=["both run", "both refuse"])


_MODULES: dict = {}


def _meta_module(name):
    if name not in _MODULES:
        from cnnstat.torch_bridge.build import build_module
        graph = load_graph(name)
        _MODULES[name] = (build_module(graph, device="meta"), graph.input_shape[0])
    return _MODULES[name]


@torch_only
def test_dense_vgg_is_the_papers_test_procedure():
    """Section 3.2 with the trained FC weights: the dense form's fc1 is FC-4096's weights reshaped
    to 4096 x 512 x 7 x 7 (fc2, fc3 to 1x1 kernels). At 224 it gives the FC network's scores; at
    256 its 2x2 score map, averaged, is the FC classifier applied to the four 7x7 windows of the
    8x8 pool5 map, averaged. Narrow stages (and 10 classes) keep it fast on CPU."""
    torch = pytest.importorskip("torch")
    from cnnstat.models import parse_sets
    from cnnstat.torch_bridge.build import build_module
    small = {"widths": "[8, 8, 16, 16, 16]", "num_classes": "10"}
    fc = build_module(load_graph("vgg-d", overrides=parse_sets(small)), seed=1)
    dense_graph = load_graph("vgg-d", overrides=parse_sets({**small, "dense": "true"}),
                             input_shape=(None, 256, 256))
    dense = build_module(dense_graph, seed=2)
    with torch.no_grad():
        for name in ("fc1", "fc2", "fc3"):
            src = fc.node_modules[f"classifier.{name}"]
            dst = dense.node_modules[f"classifier.{name}"]
            dst.weight.copy_(src.weight.reshape(dst.weight.shape))
            dst.bias.copy_(src.bias)
        for name, module in fc.node_modules.items():          # the convolutions: the same
            if name.startswith("stage."):
                dense.node_modules[name].load_state_dict(module.state_dict())
        x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
        torch.testing.assert_close(dense(x), fc(x), rtol=1e-4, atol=1e-6)
        x = torch.randn(2, 3, 256, 256, generator=torch.Generator().manual_seed(1))
        features = dense_graph_features(dense, x)                    # pool5: 2 x 16 x 8 x 8
        assert features.shape == (2, 16, 8, 8)
        scores = []
        for i in range(2):
            for j in range(2):
                crop = features[:, :, i:i + 7, j:j + 7].flatten(1)
                h = fc.node_modules["classifier.relu1"](fc.node_modules["classifier.fc1"](crop))
                h = fc.node_modules["classifier.relu2"](fc.node_modules["classifier.fc2"](h))
                scores.append(fc.node_modules["classifier.fc3"](h))
        expected = torch.softmax(torch.stack(scores).mean(0), dim=1)
        torch.testing.assert_close(dense(x), expected, rtol=1e-4, atol=1e-6)


def dense_graph_features(module, x):
    """The output of pool5 (stage.4.pool) of a built VGG module."""
    seen = {}
    handle = module.node_modules["stage.4.pool"].register_forward_hook(
        lambda m, i, o: seen.setdefault("out", o))
    try:
        module(x)
    finally:
        handle.remove()
    return seen["out"]


@torch_only
def test_check_dense_vgg_against_torch():
    """cnnstat check: the dense network built and run at 256 (narrow stages), every layer's shape,
    parameters and multiply-adds agree with fvcore and FlopCounterMode."""
    pytest.importorskip("torch")
    from cnnstat.torch_bridge.check import check
    report = check("vgg-d", input=256, set={"dense": True, "widths": "[8, 8, 16, 16, 16]"})
    assert report.ok, [layer.name for layer in report.differing_layers]
    assert report.layers[-2].name == "classifier.average"
