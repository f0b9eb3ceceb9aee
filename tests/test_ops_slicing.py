"""The slicing operators: slice (x[:, start:end:step] along a dim) and chunk (one part of
torch.chunk). Hand-derived shapes and receptive fields, errors, and a differential test against
torch on random hyperparameters."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnstat.analyze import analyze_graph
from cnnstat.errors import CnnstatError, DefinitionError, ShapeError
from cnnstat.ops import REGISTRY
from cnnstat.definition import build_graph, parse_definition


def evaluate(op: str, shape, *args, **kwargs):
    rule = REGISTRY[op]
    return rule.evaluate(rule.bind(args, kwargs), [shape])


# -- slice ------------------------------------------------------------------------------------------
def test_slice_channels_hand_derived():
    # 116 channels, [58:]: channels 58..115 -> 116 - 58 = 58 channels; spatial dims unchanged
    ev = evaluate("slice", (1, 116, 28, 28), 58)
    assert ev.shape == (1, 58, 28, 28)
    assert ev.params == ev.buffers == ev.connections == 0
    assert sum(ev.macs.values()) == 0


def test_slice_python_semantics():
    # [-10:] of 64 -> 54..63 -> 10;  [2:100] clamps end to 64 -> 62;  [0:64:3] -> ceil(64/3) = 22
    assert evaluate("slice", (2, 64, 8, 8), -10).shape == (2, 10, 8, 8)
    assert evaluate("slice", (2, 64, 8, 8), 2, 100).shape == (2, 62, 8, 8)
    assert evaluate("slice", (2, 64, 8, 8), 0, 64, step=3).shape == (2, 22, 8, 8)
    # on a vector: features [10:20] of 100 -> 10
    assert evaluate("slice", (4, 100), 10, 20).shape == (4, 10)


def test_slice_spatial_receptive_field():
    # rows 3, 5, 7, ... of 32: len(range(3, 32, 2)) = 15; output row u reads input row 2u + 3:
    # a window of 1, stride 2, padding -3
    ev = evaluate("slice", (1, 8, 32, 32), 3, None, dim=2, step=2)
    assert ev.shape == (1, 8, 15, 32)
    assert (ev.rf.h.kernel, ev.rf.h.stride, ev.rf.h.padding) == (1, 2, -3)
    assert (ev.rf.w.kernel, ev.rf.w.stride, ev.rf.w.padding) == (1, 1, 0)


def test_slice_errors():
    with pytest.raises(ShapeError, match="empty"):
        evaluate("slice", (1, 16, 4, 4), 16)            # [16:] of 16 channels
    with pytest.raises(ShapeError, match="batch cannot be sliced"):
        evaluate("slice", (1, 16, 4, 4), 0, 1, dim=0)
    with pytest.raises(ShapeError, match="out of range"):
        evaluate("slice", (1, 16), 0, 1, dim=2)
    with pytest.raises(DefinitionError, match="positive"):
        REGISTRY["slice"].bind([0, 4], {"step": 0})


# -- chunk ------------------------------------------------------------------------------------------
def test_chunk_hand_derived():
    # ShuffleNet V2 1.0x stage 2: 116 channels in 2 chunks of ceil(116/2) = 58
    assert evaluate("chunk", (1, 116, 28, 28), 2, 0).shape == (1, 58, 28, 28)
    assert evaluate("chunk", (1, 116, 28, 28), 2, 1).shape == (1, 58, 28, 28)
    # 10 channels in 4 chunks: ceil(10/4) = 3 -> parts 3, 3, 3, 1
    assert [evaluate("chunk", (1, 10, 2, 2), 4, i).shape[1] for i in range(4)] == [3, 3, 3, 1]
    ev = evaluate("chunk", (1, 10, 2, 2), 4, 3)
    assert ev.params == 0 and sum(ev.macs.values()) == 0


def test_chunk_missing_part_is_an_error():
    # 6 channels in 4 chunks: ceil(6/4) = 2 -> parts 2, 2, 2: there is no part 3 (as torch.chunk)
    with pytest.raises(ShapeError, match="part 3 does not exist"):
        evaluate("chunk", (1, 6, 2, 2), 4, 3)


def test_chunk_spatial_receptive_field():
    # width 9 in 2 chunks: ceil(9/2) = 5 -> part 1 is columns 5..8 (4 wide); unit u reads u + 5
    ev = evaluate("chunk", (1, 3, 4, 9), 2, 1, dim=3)
    assert ev.shape == (1, 3, 4, 4)
    assert (ev.rf.w.kernel, ev.rf.w.stride, ev.rf.w.padding) == (1, 1, -5)


def test_channel_split_in_a_definition():
    # ShuffleNet V2's stride-1 unit: split 32 channels in halves, convolve one half, concatenate
    text = """
input: [32, 8, 8]
layers:
  - branches:
      left: chunk(2, 0)
      right: ["chunk(2, 1)", "conv2d(16, 1, bias=false)"]
    merge: concat
  - channel_shuffle(2)
"""
    analysis = analyze_graph(build_graph(parse_definition(text, "split.yaml")))
    # the 1x1 conv: 16 x 8 x 8 outputs x 16 inputs = 16,384 MACs, 16 x 16 = 256 weights
    assert analysis.totals.macs == 16 * 8 * 8 * 16
    assert analysis.totals.params == 16 * 16
    assert analysis.output_shapes == [(1, 32, 8, 8)]


def test_chunk_error_names_the_layer():
    text = "input: [5, 4, 4]\nlayers:\n  - part: chunk(3, 2)\n"
    # 5 channels in chunks of ceil(5/3) = 2 -> parts 2, 2, 1: part 2 exists (1 channel)
    assert analyze_graph(build_graph(parse_definition(text, "c.yaml"))).output_shapes == [(1, 1, 4, 4)]
    text = "input: [4, 4, 4]\nlayers:\n  - part: chunk(3, 2)\n"
    # 4 channels in chunks of 2 -> 2 parts: part 2 does not exist
    with pytest.raises(CnnstatError) as info:
        analyze_graph(build_graph(parse_definition(text, "c.yaml")))
    assert info.value.layer == "part" and info.value.line == 3


# -- differential: against torch on random hyperparameters ------------------------------------------
# Of the 80 drawn cases (derandomized: the same cases every run), at least MIN_COMPARED must be
# accepted by both and compared (a draw cnnstat rejects is compared only on the rejection);
# tests/differential.py counts them.
MIN_COMPARED = 20
SHAPES = st.tuples(st.integers(1, 2), st.integers(1, 12), st.integers(1, 9), st.integers(1, 9))


@pytest.mark.torch
def test_slice_matches_torch(compared):
    import torch
    from cnnstat.torch_bridge.modules import MODULES

    @settings(max_examples=80, deadline=None, derandomize=True)
    @given(shape=SHAPES, dim=st.integers(1, 3), start=st.integers(-12, 12),
           end=st.one_of(st.none(), st.integers(-12, 12)), step=st.integers(1, 4))
    def check(shape, dim, start, end, step):
        attrs = REGISTRY["slice"].bind([start, end], {"dim": dim, "step": step})
        expected = torch.zeros(shape)[(slice(None),) * dim + (slice(start, end, step),)].shape
        if 0 in expected:
            with pytest.raises(ShapeError):
                REGISTRY["slice"].evaluate(attrs, [shape])
            compared.record("empty in torch, rejected")
            return
        ev = REGISTRY["slice"].evaluate(attrs, [shape])
        assert ev.shape == tuple(expected)
        x = torch.arange(float(torch.Size(shape).numel())).view(shape)
        out = MODULES["slice"](attrs, [shape])(x)
        assert tuple(out.shape) == ev.shape
        compared.record("slice")

    check()
    compared.require(MIN_COMPARED, keys=["slice"])


@pytest.mark.torch
def test_chunk_matches_torch(compared):
    import torch
    from cnnstat.torch_bridge.modules import MODULES

    @settings(max_examples=80, deadline=None, derandomize=True)
    @given(shape=SHAPES, dim=st.integers(1, 3), chunks=st.integers(1, 6), index=st.integers(0, 5))
    def check(shape, dim, chunks, index):
        x = torch.arange(float(torch.Size(shape).numel())).view(shape)
        parts = x.chunk(chunks, dim=dim)
        attrs = REGISTRY["chunk"].bind([chunks, index], {"dim": dim})
        if index >= len(parts):
            with pytest.raises(ShapeError):
                REGISTRY["chunk"].evaluate(attrs, [shape])
            compared.record("no such part in torch, rejected")
            return
        ev = REGISTRY["chunk"].evaluate(attrs, [shape])
        assert ev.shape == tuple(parts[index].shape)
        out = MODULES["chunk"](attrs, [shape])(x)
        assert torch.equal(out, parts[index])
        # the receptive-field window says which input unit each output unit reads
        if dim in (2, 3):
            window = ev.rf.h if dim == 2 else ev.rf.w
            first = -window.padding
            assert torch.equal(out.narrow(dim, 0, 1), x.narrow(dim, first, 1))
        compared.record("chunk")

    check()
    compared.require(MIN_COMPARED, keys=["chunk"])
