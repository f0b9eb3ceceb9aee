"""Every zoo model, built as a torch module and checked against its static analysis.

The list comes from ``cnnstat.zoo.names()``, so new definitions are checked as they land. Inputs
are reduced to 64×64 where the network allows it (else the smallest square input it takes), for
3-D models at the fewest frames (slices) from 8 up that the network takes; 1-D models run at their
own length (at most 32,000 samples); batch 1, on CPU. The running module is compared layer by layer (shapes, parameters, buffers) and
with fvcore (conv+linear, batch norm, pooling and upsampling MACs) for every model;
FlopCounterMode, which decomposes every batch norm in Python and so costs the most, also runs on
the representatives of each definition file (its first and its default variant) — the other
variants repeat their blocks with other numbers. Exceptions, to keep the run short:

- more than 60 M parameters, or more than 20 G multiply-adds at that input (the 3-D U-Net at its
  smallest tile, 92×92×92, and V-Net): on the meta device (building and initialising the weights
  dominates; FlopCounterMode measures every layer there, fvcore cannot trace meta tensors);
- more than 1,500 layers (ResNet-1202): shapes, parameters and buffers only — its blocks are
  ResNet-20's, checked with both counters.

``-m slow`` checks every model on CPU with both counters.
"""

from __future__ import annotations

from functools import lru_cache

import pytest

from cnnstat import zoo
from cnnstat.analyze import analyze_graph
from cnnstat.errors import CnnstatError
from cnnstat.definition import build_graph
from cnnstat.survey import smallest_input

pytestmark = pytest.mark.torch

REDUCED = 64
REDUCED_DEPTH = 8
HEAVY_PARAMS = 60_000_000
HEAVY_MACS = 20_000_000_000
HEAVY_LAYERS = 1_500


@lru_cache(maxsize=1)
def representatives() -> frozenset[str]:
    """The first and the default variant of every zoo file."""
    names: set[str] = set()
    seen: set = set()
    for name, entry in zoo.index().items():
        if entry.path not in seen:
            seen.add(entry.path)
            names.add(name)
            default = zoo.definition(entry.path).doc.get("default")
            if default:
                names.add(str(default))
    return frozenset(names)


def _works(definition, variant, spatial: tuple[int, ...]) -> bool:
    try:
        analyze_graph(build_graph(definition, variant, None, (None,) + spatial))
        return True
    except CnnstatError:
        return False


@lru_cache(maxsize=None)
def plan(name: str) -> tuple[tuple[int | None, ...] | None, bool, bool]:
    """(input size (None, *spatial), or None for the model's own; heavy in parameters or
    multiply-adds; heavy in layers)."""
    entry = zoo.lookup(name)
    definition = zoo.definition(entry.path)
    default = tuple(build_graph(definition, entry.variant).input_shape)
    spatial = default[1:]
    if len(spatial) >= 2 and min(spatial[-2:]) > REDUCED:     # images, and 3-D inputs' H×W
        smallest = smallest_input(definition, entry.variant, max(spatial[-2:]), 1, default)
        side = max(REDUCED, smallest or max(spatial[-2:]))
        spatial = spatial[:-2] + (side, side)
    if len(spatial) == 3:                                     # the fewest frames it takes
        spatial = (next(d for d in range(min(REDUCED_DEPTH, spatial[0]), spatial[0] + 1)
                        if _works(definition, entry.variant, (d,) + spatial[1:])),) + spatial[1:]
    size = None if spatial == default[1:] else (None,) + spatial   # channels: the model's
    a = analyze_graph(build_graph(definition, entry.variant, None, (None,) + spatial))
    heavy = a.totals.params > HEAVY_PARAMS or a.totals.macs > HEAVY_MACS
    return size, heavy, len(a.records) > HEAVY_LAYERS


def _explain(report) -> str:
    lines = [report.error or ""]
    for layer in report.differing_layers[:10]:
        bad = [f"{c.quantity} ({c.source}): cnnstat {c.static} vs {c.measured}"
               for c in layer.comparisons if not c.ok]
        lines.append(f"{layer.name} [{layer.op}]: {layer.error or '; '.join(bad)}")
    lines += [f"total {c.quantity} ({c.source}): {c.static} vs {c.measured}"
              for c in report.differing_totals]
    return "\n".join(lines)


def test_representatives_are_zoo_models():
    assert representatives() <= set(zoo.names())
    assert {"resnet18", "resnet50", "vgg16", "lenet5"} <= representatives()


@pytest.mark.parametrize("name", zoo.names())
def test_zoo_model_runs_and_agrees(name, compared):
    from cnnstat.torch_bridge.check import COUNTERS, FLOP_COUNTER, FVCORE, check
    size, heavy, many_layers = plan(name)
    if many_layers:
        device, counters = "cpu", ()
    elif heavy:
        device, counters = "meta", (FLOP_COUNTER,)
    else:
        device, counters = "cpu", COUNTERS if name in representatives() else (FVCORE,)
    report = check(name, input=size, device=device, counters=counters)
    assert report.ok, _explain(report)
    # what was compared was measured: every layer's shape (but the training-only layers', which
    # eval mode does not run), and the MACs of each counter in total
    assert all(layer.get("output shape", "torch") for layer in report.layers if layer.runs)
    assert all(layer.get("parameters", "torch") for layer in report.layers)
    assert {c.source for c in report.totals} - {"torch"} == set(counters), report.notes
    # counted (tests/differential.py): the layers whose shape torch measured, and each counter's
    # total; every model compares at least one layer and every counter it ran
    compared.record("layers", sum(1 for layer in report.layers
                                  if layer.get("output shape", "torch")))
    for c in report.totals:
        compared.record(f"{c.quantity} ({c.source})")
    compared.require(1, keys=["layers"] + sorted({f"{c.quantity} ({c.source})"
                                                  for c in report.totals if c.source in counters}))


@pytest.mark.slow
@pytest.mark.parametrize("name", zoo.names())
def test_zoo_model_on_cpu_with_both_counters(name):
    from cnnstat.torch_bridge.check import check
    size, heavy, many_layers = plan(name)
    if name in representatives() and not (heavy or many_layers):
        pytest.skip("checked on CPU with both counters in the default run")
    report = check(name, input=size, device="cpu")
    assert report.ok, _explain(report)
