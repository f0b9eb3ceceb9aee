"""benchmarks/gpu_memory.py, the GPU check of issue 17, runs end to end on the CPU (--dry-run):
one command then does the real run on a machine with a GPU."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from .conftest import ROOT

pytest.importorskip("torch")
pytestmark = pytest.mark.torch


def test_dry_run_writes_the_report(tmp_path):
    out = tmp_path / "bench"
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "gpu_memory.py"), "--dry-run", "--out",
         str(out), "--models", "resnet20", "--batches", "2,3", "--cap-gib", "0.02"],
        capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    data = json.loads((out / "memory.json").read_text())
    assert data["stopped"] is None
    assert [(r["model"], r["batch"]) for r in data["peaks"]] == [("resnet20", 2), ("resnet20", 3)]
    for row in data["peaks"]:
        assert row["error"] is None
        # on the CPU the model follows PyTorch's CPU behaviour: forward and backward are exact;
        # the only difference is the optimizer step's per-parameter temporaries (CPU Adam)
        assert 0.99 <= row["ratio"] <= 1.01, row
    fit = data["fits"][0]
    assert fit["capacity"] == int(0.02 * 2**30) and fit["batch"] > 3
    assert fit["runs"] is True and fit["measured_peak"] <= fit["capacity"]
    assert fit["over_runs"] is False and fit["over_measured_peak"] > fit["capacity"]
    text = (out / "memory.md").read_text()
    assert "| resnet20 | 2 |" in text and "Largest batch in" in text
