"""The bad-input corpus (tests/bad_inputs/manifest.yaml) through the real CLI (issue 8).

Every case runs ``python -m cnnstat ...`` in a subprocess, with a wall-clock timeout and limits
on address space and CPU time (resource.setrlimit in preexec_fn), so a hang or a runaway
allocation fails the test instead of the machine. Each must:
- exit with status 2;
- print exactly one line on standard error, ``error: ...``, containing the expected text;
- print no traceback (on either stream);
- leave the --out folder empty: no report, no partial file, no temporary file.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

HERE = Path(__file__).resolve().parent / "bad_inputs"
CASES = yaml.safe_load((HERE / "manifest.yaml").read_text(encoding="utf-8"))
TIMEOUT_S = 60              # wall clock; a case takes well under a second on an idle machine
CPU_S = 30
MEMORY_BYTES = 2 * 1024 ** 3
HUGE_BYTES = 100 * 1024 * 1024
ROOT = HERE.parent.parent


def _limits():
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BYTES, MEMORY_BYTES))
    resource.setrlimit(resource.RLIMIT_CPU, (CPU_S, CPU_S))


def _generate(kind: str, tmp: Path) -> Path:
    """Inputs made at run time rather than committed."""
    if kind == "huge":                      # 100 MB of valid-looking YAML: refused by its size
        path = tmp / "huge.yaml"
        line = b"  - conv2d(64, 3, padding=1)  # padding padding padding padding padding\n"
        with open(path, "wb") as handle:
            handle.write(b"input: [3, 224, 224]\nlayers:\n")
            block = line * (1024 * 1024 // len(line))
            while handle.tell() < HUGE_BYTES:
                handle.write(block)
        return path
    if kind == "folder":                    # a directory whose name looks like a definition
        path = tmp / "folder.yaml"
        path.mkdir()
        return path
    if kind == "plain_file":
        path = tmp / "plain_file"
        path.write_text("not a folder\n")
        return path
    raise ValueError(kind)


def _argv(case: dict, file: Path | None, tmp: Path, out: Path) -> list[str]:
    argv = case.get("argv", ["params", "{file}"])
    argv = [a.format(file=file, tmp=tmp) for a in argv]
    if case.get("out", True):
        argv += ["--out", str(out / "report.md")]
    return argv


def test_corpus_is_complete():
    # one file per case, every file used, at least 40 failure kinds
    files = {c["file"] for c in CASES if "file" in c}
    on_disk = {p.name for p in HERE.glob("*.yaml")} - {"manifest.yaml"}
    assert on_disk == files, sorted(on_disk ^ files)
    assert len(CASES) >= 40 and len({c["name"] for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_bad_input_fails_cleanly(case, tmp_path):
    file = None
    if "file" in case:
        file = tmp_path / case["file"]
        shutil.copyfile(HERE / case["file"], file)
    if "generate" in case:
        made = _generate(case["generate"], tmp_path)
        file = file or made
    out = tmp_path / "out"
    out.mkdir()
    argv = [sys.executable, "-m", "cnnstat"] + _argv(case, file, tmp_path, out)
    env = {**os.environ, "COLUMNS": "120", "PYTHONPATH": str(ROOT)}
    try:
        proc = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, env=env,
                              timeout=TIMEOUT_S, preexec_fn=_limits)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{case['name']}: no answer within {TIMEOUT_S} s (a hang)")
    lines = proc.stderr.splitlines()
    shown = f"{case['name']}: exit {proc.returncode}, stderr {proc.stderr!r}"
    assert "Traceback" not in proc.stderr + proc.stdout, shown
    assert proc.returncode == 2, shown
    assert len(lines) == 1 and lines[0].startswith("error: "), shown
    assert case["expect"] in lines[0], shown
    assert list(out.iterdir()) == [], f"{case['name']}: wrote {list(out.iterdir())}"
    if case.get("generate") == "plain_file":
        assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "plain_file"]
