"""Shared test configuration: the --regen-golden flag and common fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


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


@pytest.fixture(autouse=True)
def _quiet_torch_threads():
    # Two cores, two xdist workers: keep torch to one thread per worker.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    yield


def pytest_collection_modifyitems(config, items):
    """Tests marked slow (long profiles) run only on demand: scripts/test.sh -m slow."""
    if "slow" in (config.getoption("-m") or ""):
        return
    skip = pytest.mark.skip(reason="slow: run on demand with -m slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
