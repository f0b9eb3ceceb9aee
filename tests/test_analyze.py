"""Records → totals: totals are the row sums, batch scaling, conventions, depth collapsing, the
JSON contract and the DataFrame."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import cnnstat
from cnnstat.convention import Convention, flops
from cnnstat.errors import UsageError
from cnnstat.ops.base import MAC_KINDS
from cnnstat.render.jsonout import analysis_to_dict
from cnnstat.render.rows import rows
from cnnstat.zoo import names

SMALL_ZOO = ["vgg16", "resnet18", "resnet50"]


@pytest.mark.parametrize("model", SMALL_ZOO)
def test_totals_are_row_sums(model):
    a = cnnstat.analyze(model, count="all")
    t = a.totals
    for field in ("params", "trainable_params", "buffers", "macs", "connections", "activations"):
        assert getattr(t, field) == sum(getattr(r, field) for r in a.records), field
    for kind in MAC_KINDS:
        assert t.macs_by_kind[kind] == sum(r.macs_by_kind.get(kind, 0) for r in a.records)
    assert t.macs == sum(t.macs_by_kind.values())        # 'all' counts every kind
    assert t.flops == 2 * t.macs == flops(t.macs)


@settings(max_examples=25, deadline=None)
@given(st.sampled_from(SMALL_ZOO), st.integers(1, 8), st.sampled_from([32, 64, 96, 224]))
def test_batch_scales_work_not_weights(model, batch, size):
    one = cnnstat.analyze(model, size)
    many = cnnstat.analyze(model, size, batch=batch)
    assert many.totals.params == one.totals.params
    assert many.totals.connections == one.totals.connections       # per sample, as LeCun counts
    assert many.totals.macs == batch * one.totals.macs
    assert many.totals.activations == batch * one.totals.activations
    assert many.totals.peak_activations == batch * one.totals.peak_activations
    assert one.totals.peak_activations <= one.totals.activations + one.totals.input_elements


@settings(max_examples=20, deadline=None)
@given(st.sampled_from(SMALL_ZOO), st.integers(1, 4))
def test_depth_collapsing_preserves_totals(model, depth):
    a = cnnstat.analyze(model)
    collapsed = rows(a, depth)
    assert sum(r.params for r in collapsed) == a.totals.params
    assert sum(r.macs for r in collapsed) == a.totals.macs
    assert sum(r.layers for r in collapsed) == len(a.records)
    assert len(collapsed) <= len(a.records)


def test_conventions():
    default = cnnstat.analyze("resnet50")
    with_bias_bn = cnnstat.analyze("resnet50", count="bias,norm")
    t = default.totals
    assert t.macs == t.macs_by_kind["weight"]
    assert with_bias_bn.totals.macs == t.macs + t.macs_by_kind["bias"] + t.macs_by_kind["norm"]
    assert "not counted: bias adds" in default.convention.describe()
    with pytest.raises(UsageError, match="unknown kind"):
        Convention.parse("bias,flops")


def test_peak_memory_of_a_chain():
    # In graph order, layer1.0's main path ends (bn3: 256x56x56) before its projection shortcut
    # runs, so while downsample.1 runs three 256x56x56 tensors are alive: bn3's output, the
    # shortcut conv's output and the shortcut bn's output = 3 * 802,816 elements. That beats the
    # stem (conv1 output + bn1 output = 2 * 64*112*112 = 1,605,632).
    a = cnnstat.analyze("resnet50")
    assert a.totals.peak_activations == 3 * 256 * 56 * 56


def test_dtype_sets_bytes():
    a = cnnstat.analyze("resnet18", dtype="fp16")
    assert a.totals.activation_bytes == 2 * a.totals.activations
    with pytest.raises(UsageError):
        cnnstat.analyze("resnet18", dtype="fp7")
    with pytest.raises(UsageError, match="batch"):
        cnnstat.analyze("resnet18", batch=0)


def test_json_contract():
    a = cnnstat.analyze("resnet18", 64, batch=2)
    d = json.loads(json.dumps(analysis_to_dict(a)))
    assert {"schema", "model", "input", "batch", "convention", "totals", "outputs",
            "layers"} <= set(d)
    assert d["input"] == [3, 64, 64] and d["batch"] == 2
    assert {"params", "trainable_params", "buffers", "macs", "flops", "connections",
            "activations"} <= set(d["totals"])
    layer = d["layers"][0]
    assert {"name", "op", "output_shape", "params", "macs", "flops", "connections", "rf"} <= set(layer)
    assert set(layer["rf"]) >= {"size", "stride", "padding"}
    assert layer["output_shape"] == [2, 64, 32, 32]
    assert sum(x["params"] for x in d["layers"]) == d["totals"]["params"]


def test_dataframe():
    a = cnnstat.analyze("vgg16")
    df = a.layers
    assert len(df) == len(a.records)
    # VGG-16: torchvision's model card, 138,357,544 parameters; fc1 25,088 x 4,096 + 4,096
    assert df["params"].sum() == 138_357_544
    assert df.loc["classifier.fc1", "params"] == 25_088 * 4_096 + 4_096 == 102_764_544


def test_zoo_names_are_unique_and_build():
    for name in names():
        a = cnnstat.analyze(name)
        assert a.totals.params >= 0 and a.records


def test_analysis_leaves_the_cycle_collector_as_it_found_it():
    # the analysis pauses Python's cycle collector while it builds records and receptive fields
    # (cnnstat.analyze.collector_paused): afterwards it is as it was, on success and on an error
    import gc

    from cnnstat.errors import CnnstatError
    assert gc.isenabled()
    a = cnnstat.analyze("resnet18")
    assert a.records[-1].rf is not None and gc.isenabled()
    with pytest.raises(CnnstatError):
        cnnstat.analyze("vgg-d", input=256)    # the paper's VGG-D takes 224-255 (fixed 7x7x512 FC)
    assert gc.isenabled()
    gc.disable()
    try:
        cnnstat.analyze("lenet5").records[-1].rf
        assert not gc.isenabled()                       # a caller's own pause is kept
    finally:
        gc.enable()
