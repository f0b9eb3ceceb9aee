"""Every zoo model, built as a torch module and checked against its static analysis.

The list comes from ``cnnstat.zoo.names()``, so new definitions are checked as they land. Inputs
are reduced to 64×64 where the network allows it (else the smallest square input it takes),
batch 1, on CPU with fvcore and FlopCounterMode. Models with more than 60 M parameters check on
the meta device in the default run (building and initialising the weights dominates; on meta
FlopCounterMode still measures every layer, fvcore cannot trace), and networks of more than 1,500
layers (ResNet-1202: the counters take ~20 s, tracing or decomposing 3,600 layers in Python) check
shapes, parameters and buffers only; their blocks are those of the smaller networks of their
family, checked with both counters. ``-m slow`` checks the heavy ones on CPU with both counters.
"""

from __future__ import annotations

from functools import lru_cache

import pytest

from cnnstat import zoo
from cnnstat.analyze import analyze_graph
from cnnstat.spec import build_graph
from cnnstat.survey import smallest_input

pytestmark = pytest.mark.torch

REDUCED = 64
HEAVY_PARAMS = 60_000_000
HEAVY_LAYERS = 1_500


@lru_cache(maxsize=None)
def plan(name: str) -> tuple[int | None, bool, bool]:
    """(input size or None for the model's own, heavy in parameters, heavy in layers)."""
    entry = zoo.lookup(name)
    definition = zoo.definition(entry.path)
    graph = build_graph(definition, entry.variant)
    _, h, w = graph.input_shape
    size = None
    if min(h, w) > REDUCED:
        smallest = smallest_input(definition, entry.variant, max(h, w), 1)
        size = max(REDUCED, smallest or max(h, w))
    a = analyze_graph(build_graph(definition, entry.variant, None,
                                  None if size is None else (None, size, size)))
    return size, a.totals.params > HEAVY_PARAMS, len(a.records) > HEAVY_LAYERS


def _explain(report) -> str:
    lines = [report.error or ""]
    for layer in report.differing_layers[:10]:
        bad = [f"{c.quantity} ({c.source}): cnnstat {c.static} vs {c.measured}"
               for c in layer.comparisons if not c.ok]
        lines.append(f"{layer.name} [{layer.op}]: {layer.error or '; '.join(bad)}")
    lines += [f"total {c.quantity} ({c.source}): {c.static} vs {c.measured}"
              for c in report.differing_totals]
    return "\n".join(lines)


@pytest.mark.parametrize("name", zoo.names())
def test_zoo_model_runs_and_agrees(name):
    from cnnstat.torch_bridge.check import COUNTERS, FLOP_COUNTER, FVCORE, check
    size, many_params, many_layers = plan(name)
    device = "meta" if many_params else "cpu"
    counters = () if many_layers else COUNTERS
    report = check(name, input=size, device=device, counters=counters)
    assert report.ok, _explain(report)
    # what was compared really was measured: every layer's shape, and the MACs in total
    assert all(layer.get("output shape", "torch") for layer in report.layers)
    sources = {c.source for c in report.totals}
    assert bool(sources & {FVCORE, FLOP_COUNTER}) == bool(counters), report.notes


@pytest.mark.slow
@pytest.mark.parametrize("name", zoo.names())
def test_heavy_zoo_model_on_cpu_with_both_counters(name):
    from cnnstat.torch_bridge.check import check
    size, many_params, many_layers = plan(name)
    if not (many_params or many_layers):
        pytest.skip("checked on CPU with both counters in the default run")
    report = check(name, input=size, device="cpu")
    assert report.ok, _explain(report)
