"""Receptive fields past a layout change of the spatial axes (issue 13): "not spatial", a state of
its own — never a guessed window, never "whole input" with a note."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnstat.ops.base import GLOBAL, POINTWISE, REARRANGED, Transfer
from cnnstat.receptive import RF, AxisRF, apply, input_rf, local_view, union
from cnnstat.render.numbers import rf_note, rf_size

SIZES = (32, 32)


def test_a_layout_change_makes_the_field_not_spatial():
    conv = Transfer.window((3, 3), (2, 2), (1, 1))
    rf = apply(input_rf(2), conv, SIZES)              # 3 px, stride 2
    assert rf.spatial and rf.axes[0].size == 3
    moved = apply(rf, REARRANGED, SIZES)
    assert not moved.spatial and not moved.whole
    assert rf_size(moved) == "not spatial" and "not spatial" in rf_note(moved)
    assert local_view(moved) is None                  # no local field to report either
    # it stays so through any later layer: a window, the identity, a merge with a spatial path
    assert not apply(moved, conv, SIZES).spatial
    assert apply(moved, POINTWISE, SIZES) is moved
    assert not union([moved, rf]).spatial and not union([rf, moved]).spatial
    # a layer that mixes everything: the field stays not spatial (what it reads is no window)
    assert not apply(moved, GLOBAL, SIZES).spatial


def test_a_whole_field_stays_whole():
    # global pooling, then a reshape: the unit still sees the whole input
    whole = apply(input_rf(2), GLOBAL, SIZES)
    assert apply(whole, REARRANGED, SIZES) is whole and rf_size(whole) == "whole input"
    # a merge of a whole path and a not-spatial one sees the whole input
    moved = apply(input_rf(2), REARRANGED, SIZES)
    assert union([moved, whole]).whole


windows = st.builds(lambda k, s, p: Transfer.window((k, k), (s, s), (min(p, k // 2),) * 2),
                    st.integers(1, 7), st.integers(1, 3), st.integers(0, 3))
layers = st.one_of(windows, st.just(POINTWISE), st.just(GLOBAL), st.just(REARRANGED))


@settings(max_examples=200, deadline=None)
@given(st.lists(layers, max_size=6), st.lists(layers, max_size=6))
def test_not_spatial_is_never_a_window(before, after):
    """Property: past REARRANGED a field is not spatial, whatever follows, unless it already
    saw the whole input; a spatial field never has the not-spatial state on one axis only."""
    rf = input_rf(2)
    for t in before:
        rf = apply(rf, t, SIZES)
    was_whole = rf.whole
    rf = apply(rf, REARRANGED, SIZES)
    for t in after:
        rf = apply(rf, t, SIZES)
        assert len({a.spatial for a in rf.axes}) == 1
    assert rf.whole if was_whole else (not rf.spatial and rf_size(rf) == "not spatial")


@pytest.mark.torch
def test_a_patch_embedding_then_tokens(tmp_path, capsys):
    pytest.importorskip("torch")
    src = tmp_path / "tokens.py"
    src.write_text(
        "import torch.nn as nn\n"
        "class Net(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.patch = nn.Conv2d(3, 8, 4, stride=4)\n"
        "        self.fc = nn.Linear(8, 8)\n"
        "    def forward(self, x):\n"
        "        return self.fc(self.patch(x).flatten(2).transpose(1, 2))\n")
    from cnnstat.cli import main
    assert main(["rf", f"{src}:Net", "--input", "3x16x16", "-f", "json"]) == 0
    rows = {r["name"]: r["rf"] for r in json.loads(capsys.readouterr().out)["layers"]}
    # the patch embedding: a 4x4 window, stride 4 (kernel 4, stride 4 on the input)
    assert rows["patch"]["size"] == [4, 4] and rows["patch"]["stride"] == [4, 4]
    assert "not_spatial" not in rows["patch"]
    # transpose(1, 2) moves the positions to the token axis: not spatial, not the whole input
    for name in ("transpose", "fc"):
        assert rows[name]["not_spatial"] is True and rows[name]["size"] is None
        assert rows[name]["whole_input"] == [False, False]
    assert main(["summary", f"{src}:Net", "--input", "3x16x16"]) == 0
    out = capsys.readouterr().out
    assert "not spatial at the output" in out and "largest local field 4 px (patch)" in out
