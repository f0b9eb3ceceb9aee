"""docs/memory-measured.md is the saved-tensor oracle's CPU measurement of every torch operator
cnnstat's zoo and torch bridge use (tests/oracles/op_table.py), current with the installed
PyTorch: regenerate with ``pytest tests/test_memory_table.py --regen-golden``."""

from __future__ import annotations

import pytest

from .conftest import ROOT, check_golden

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch


def test_measured_table_is_current(regen_golden):
    from .oracles.op_table import table
    check_golden(ROOT / "docs" / "memory-measured.md", table("cpu"), regen_golden)


@pytest.mark.slow
def test_torchinfo_comparison_is_current(regen_golden):
    """docs/memory-torchinfo.md: torchinfo's forward/backward size, cnnstat's and the oracle's
    saved bytes and peaks for the headline models (about half a minute: ``-m slow``)."""
    pytest.importorskip("torchinfo")
    from .oracles.torchinfo_table import table
    check_golden(ROOT / "docs" / "memory-torchinfo.md", table(), regen_golden)
