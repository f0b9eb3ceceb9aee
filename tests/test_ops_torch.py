"""Every operator rule against the matching torch module, on random hyperparameters and shapes.

For each case drawn from tests/strategies.py: if cnnstat accepts it, torch must run it and agree
on the output shape, parameters (all and trainable), buffers, and weight and attention
multiply-adds (torch's FlopCounterMode counts 2 FLOPs per multiply-add of conv/mm/bmm, nothing
else); if cnnstat rejects it, torch must reject it too, with a refusal (RuntimeError, ValueError,
IndexError). Each operator must have been compared on at least MIN_COMPARED accepted cases of its
40 drawn ones (tests/differential.py counts them).
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from cnnstat.errors import CnnstatError, DefinitionError
from cnnstat.ops import REGISTRY
from cnnstat.ops.base import ATTENTION, WEIGHT

from .strategies import CASES

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch


def test_every_operator_has_a_case_and_a_torch_module():
    from cnnstat.torch_bridge.modules import MODULES
    assert sorted(set(REGISTRY) - set(CASES)) == [], "add a strategy in tests/strategies.py"
    assert sorted(set(REGISTRY) - set(MODULES)) == [], "add a module in torch_bridge/modules.py"


def _static(op, args, shapes):
    rule = REGISTRY[op]
    attrs = rule.bind([], args)
    rule.check_arity(shapes)
    return attrs, rule.evaluate(attrs, shapes)


def _run_torch(op, attrs, shapes):
    from torch.utils.flop_counter import FlopCounterMode
    from cnnstat.torch_bridge.modules import MODULES
    from .oracle import SDPA_FORMULAS
    torch.manual_seed(0)
    module = MODULES[op](attrs, shapes).eval()
    inputs = [torch.rand(s) + 0.1 for s in shapes]
    # the attention stand-in calls F.scaled_dot_product_attention: its CPU kernel needs a formula
    counter = FlopCounterMode(display=False, custom_mapping=SDPA_FORMULAS)
    with torch.no_grad(), counter:
        out = module(*inputs)
    return module, out, counter.get_total_flops()


# What torch raises when it refuses a case (a module's constructor: ValueError; a kernel:
# RuntimeError; an index out of range: IndexError). Anything else is a bug in the test's torch
# construction, not a refusal, and fails the test.
TORCH_REFUSALS = (RuntimeError, ValueError, IndexError)
# Each operator compared (accepted by cnnstat, run by torch, every number checked) on at least
# this many of its drawn cases: a strategy that yields mostly rejected cases fails here.
MIN_COMPARED = 10


@pytest.mark.parametrize("op", sorted(CASES))
def test_rule_matches_torch(op, compared):
    if op not in REGISTRY:
        pytest.skip(f"{op} is not registered")

    @settings(max_examples=40, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
    @given(CASES[op])
    def check(case):
        args, shapes = case
        try:
            attrs, ev = _static(op, args, shapes)
        except DefinitionError:
            compared.record("rejected by the schema")   # its messages: tests/test_ops.py
            return
        except CnnstatError as exc:
            try:
                attrs = REGISTRY[op].bind([], args)
                _, out, _ = _run_torch(op, attrs, shapes)
            except TORCH_REFUSALS:
                compared.record("both reject")
                return
            if out.numel() == 0:         # torch computes an empty tensor: cnnstat rejects those
                compared.record("empty in torch, rejected")
                return
            raise AssertionError(f"cnnstat rejects {op}{args} on {shapes} ({exc}) but torch "
                                 "accepts it")
        try:
            module, out, flops = _run_torch(op, attrs, shapes)
        except TORCH_REFUSALS as exc:
            raise AssertionError(f"cnnstat accepts {op}{args} on {shapes} -> {ev.shape}, "
                                 f"torch rejects it: {exc}") from None
        assert tuple(out.shape) == ev.shape, (args, shapes)
        params = list(module.parameters())
        assert sum(p.numel() for p in params) == ev.params
        assert sum(p.numel() for p in params if p.requires_grad) == ev.trainable
        assert sum(b.numel() for b in module.buffers()) == ev.buffers
        assert flops == 2 * (ev.macs.get(WEIGHT, 0) + ev.macs.get(ATTENTION, 0)), \
            (args, shapes, flops, ev.macs)
        compared.record(op)

    check()
    compared.require(MIN_COMPARED, keys=[op])
