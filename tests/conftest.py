"""Shared test configuration: the --regen-golden flag and common fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Two cores, two xdist workers: one torch thread per worker, so each worker keeps its own core and
# the timing tests are not slowed by the other worker's thread pool. Set before torch is imported
# (torch reads these when it creates its pool).
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

# Tables fit $COLUMNS when it is set (cnnstat.render.terminal): the tests read unfitted tables
# unless they ask for a width. And the user cache (parsed zoo definitions, device profiles) is
# a fresh folder per run, never the user's own.
for _var in ("COLUMNS", "LINES", "NO_COLOR"):
    os.environ.pop(_var, None)
if "CNNSTAT_CACHE_DIR" not in os.environ:       # (xdist workers inherit the run's folder)
    import atexit
    import shutil
    import tempfile
    os.environ["CNNSTAT_CACHE_DIR"] = tempfile.mkdtemp(prefix="cnnstat-test-cache-")
    atexit.register(shutil.rmtree, os.environ["CNNSTAT_CACHE_DIR"], True)


def pytest_addoption(parser):
    parser.addoption("--regen-golden", action="store_true", default=False,
                     help="rewrite golden files (tests/golden/, reports/) instead of comparing")


@pytest.fixture
def regen_golden(request) -> bool:
    return bool(request.config.getoption("--regen-golden"))


def check_golden(path: Path, text: str, regen: bool) -> None:
    """Compare text with a committed golden file, or rewrite it with --regen-golden."""
    if regen:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return
    assert path.exists(), f"{path} is missing: run pytest --regen-golden"
    expected = path.read_text(encoding="utf-8")
    assert text == expected, f"{path} is out of date: run pytest --regen-golden and review the diff"


def assert_built_module_agrees(graph, device: str = "cpu") -> None:
    """The torch module built from ``graph`` runs (on ``device``; "meta" computes nothing) and its
    hooks count the output shapes, parameters and MACs (buffers, on a real device) that cnnstat's
    static analysis counts."""
    from cnnstat.analyze import analyze_graph
    from cnnstat.torch_bridge.build import build_module
    from tests.oracles.reference import torch_counts
    a = analyze_graph(graph)
    counts = torch_counts(build_module(graph, device=device), graph.input_shape, device=device)
    assert counts.output_shapes == a.output_shapes
    assert (counts.params, counts.macs) == (a.totals.params, a.totals.macs)
    if device != "meta":
        assert counts.buffers == a.totals.buffers


@pytest.fixture
def compared(request):
    """Counts the cases a differential test compared (tests/differential.py)."""
    from .differential import Compared
    counter = Compared(request.node)
    yield counter
    call = getattr(request.node, "rep_call", None)
    if call is not None and call.passed and not counter.required:
        pytest.fail("the test took `compared` but never called compared.require(...)",
                    pytrace=False)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.rep_call = report               # the `compared` fixture's teardown reads it


def pytest_terminal_summary(terminalreporter):
    """The compared-case counts of the differential tests (tests/differential.py)."""
    from .differential import summary_lines
    reports = [r for r in terminalreporter.stats.get("passed", []) + terminalreporter.stats.get(
        "failed", []) if getattr(r, "when", None) == "call"]
    lines = summary_lines(reports)
    if lines:
        terminalreporter.section("compared cases (differential tests)")
        for line in lines:
            terminalreporter.write_line(line)


def pytest_collection_modifyitems(config, items):
    """Tests marked slow (long profiles) run only on demand: scripts/test.sh -m slow.
    Tests marked serial (timing comparisons) do not run inside xdist workers, where the other
    worker competes for the two cores: scripts/test.sh runs them alone after the parallel run."""
    markers = config.getoption("-m") or ""
    in_worker = hasattr(config, "workerinput")
    skip_slow = pytest.mark.skip(reason="slow: run on demand with -m slow")
    skip_serial = pytest.mark.skip(reason="serial: runs alone after the parallel run "
                                          "(scripts/test.sh)")
    for item in items:
        if "slow" in item.keywords and "slow" not in markers:
            item.add_marker(skip_slow)
        elif "serial" in item.keywords and in_worker:
            item.add_marker(skip_serial)
