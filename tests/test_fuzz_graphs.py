"""Differential fuzzing of whole layer graphs against torch and fvcore (issue 8).

Random definitions (tests/fuzz/graphs.py: chains and DAGs with add/multiply/concat merges,
branches and gates, every operator with random hyperparameters, random input and batch sizes)
go through the oracle of tests/fuzz/oracle.py: an accepted definition must agree with the torch
module built from it on every layer's output shape, parameters, buffers and multiply-adds (hooks,
FlopCounterMode, and fvcore on a quarter of them; on another quarter, the memory model's
saved-activation bytes per layer against what autograd keeps in a training step, issue 17); a
rejected one must be rejected by torch too,
with a one-line error naming the layer, and the CLI must exit with status 2.

Two profiles:
- quick (default suite): a few hundred derandomized examples, the same on every run;
- long (``scripts/test.sh -m slow``): 5,000 fresh random examples of larger graphs per run.
A failure shrinks to a minimal definition, saved as ``tests/regressions/shrunk_<test>.yaml``
(or under ``$CNNSTAT_FUZZ_SAVE``): review it, rename it after what it catches, and commit it with
the fix; tests/test_fuzz_regressions.py replays every file there.
"""

from __future__ import annotations

import datetime
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")
pytest.importorskip("fvcore")

from .fuzz.graphs import graphs  # noqa: E402
from .fuzz.oracle import check_definition  # noqa: E402

pytestmark = pytest.mark.torch

REGRESSIONS = Path(__file__).resolve().parent / "regressions"
QUICK_EXAMPLES = 200
LONG_EXAMPLES = 5000


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)          # tiny tensors: threads only add overhead on 2 cores
    yield
    torch.set_num_threads(threads)


def save_shrunk(case, test: str) -> Path:
    """Write the failing definition where tests/test_fuzz_regressions.py replays it. Hypothesis
    runs the minimal failing example last, so the file ends up holding the shrunk definition."""
    folder = Path(os.environ.get("CNNSTAT_FUZZ_SAVE", REGRESSIONS))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"shrunk_{test}.yaml"
    header = (f"# Shrunk by hypothesis from tests/test_fuzz_graphs.py::{test} on "
              f"{datetime.date.today().isoformat()}.\n"
              "# Review it, rename it after what it catches, say so here, commit it with the fix.\n"
              f"# batch: {case.batch}\n")
    path.write_text(header + case.text, encoding="utf-8")
    return path


def run_case(case, use_fvcore: bool, test: str, compared, memory: bool = False) -> None:
    """Check one case; count it (tests/differential.py) as "accepted" (compared with torch,
    FlopCounterMode, and fvcore or the saved-tensor oracle when asked) or "rejected" (torch
    rejects it too), and the layers and graphs each oracle compared."""
    try:
        outcome = check_definition(case.text, case.batch, fvcore=use_fvcore, memory=memory,
                                   tally=compared.counts)
    except Exception as exc:
        path = save_shrunk(case, test)
        raise AssertionError(f"{exc}\n(definition saved to {path})") from exc
    compared.record(outcome)


# The quick profile must exercise both sides of the oracle and both extra oracles, not only one:
# at least half the graphs accepted (compared layer by layer), 1 in 20 rejected where torch
# rejects the layer too (not by one of the oracle's documented exceptions), 1 in 20 compared
# with the saved-tensor oracle; as many layers compared with torch as there are graphs, and half
# as many with fvcore (a quarter of the graphs go to fvcore).
def _require(compared, examples: int) -> None:
    compared.require(examples // 2, keys=["accepted", "layers with fvcore"])
    compared.require(examples // 20, keys=["rejected: torch rejects it too",
                                           "graphs with saved tensors"])
    compared.require(examples, keys=["layers"])


def test_random_graphs_agree_with_torch_quick(compared):
    @settings(max_examples=QUICK_EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(graphs(), st.integers(0, 3))
    def check(case, coin):
        run_case(case, coin == 0, "quick", compared, memory=coin == 1)

    check()
    _require(compared, QUICK_EXAMPLES)


@pytest.mark.slow
def test_random_graphs_agree_with_torch_long(compared):
    @settings(max_examples=LONG_EXAMPLES, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(graphs(max_layers=14, max_size=64), st.integers(0, 3))
    def check(case, coin):
        run_case(case, coin == 0, "long", compared, memory=coin == 1)

    check()
    print(f"long profile: {dict(compared.counts)}")       # shown with -s
    _require(compared, LONG_EXAMPLES)
