"""Replays every definition saved under tests/regressions/ through the fuzzing oracle.

Each file is a definition that once exposed a bug (most shrunk by hypothesis from
tests/test_fuzz_graphs.py); its header comment says what the bug was and, with ``# batch: N``,
the batch size to analyse it with (default 1); ``# oracle: receptive`` files go through the
receptive-field oracle of tests/test_receptive_oracle.py instead. The differential oracle
(tests/fuzz/oracle.py) decides from
cnnstat's own answer what to check: an accepted definition must agree with torch layer by layer,
a rejected one must be rejected by torch too, with one line naming the layer.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("fvcore")

from .fuzz.oracle import check_definition  # noqa: E402

pytestmark = pytest.mark.torch

FOLDER = Path(__file__).resolve().parent / "regressions"
FILES = sorted(FOLDER.glob("*.yaml"))


def header(text: str, key: str, default: str) -> str:
    match = re.search(rf"^# {key}: (\S+)", text, re.MULTILINE)
    return match.group(1) if match else default


def test_there_are_regressions():
    assert FILES, f"no saved definitions in {FOLDER}"


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_regression(path: Path):
    text = path.read_text(encoding="utf-8")
    if header(text, "oracle", "differential") == "receptive":
        from .test_receptive_oracle import check_network
        check_network(text)       # receptive fields against gradients of a linearised copy
        return
    expected = header(text, "expect", "")
    outcome = check_definition(text, int(header(text, "batch", "1")), fvcore=True,
                               memory=header(text, "memory", "false") == "true")
    if expected:
        assert outcome == expected, f"{path.name}: cnnstat {outcome} it, it should be {expected}"


def test_long_form_operator_arguments_named_like_entry_keys():
    # The builder fix behind long_form_op_argument_named_*.yaml, without torch: the operator gets
    # its own 'output'/'index'; on other operators 'output: true' still marks an extra output.
    from cnnstat.definition import build_graph, parse_definition
    graph = build_graph(parse_definition(
        "input: [6, 8, 8]\n"
        "layers:\n"
        "  - {name: pool, op: adaptive_avgpool2d, output: 3}\n"
        "  - {name: aux, op: relu, output: true}\n"
        "  - {name: part, op: chunk, chunks: 3, index: 2, from: pool}\n", "t.yaml"))
    assert graph["pool"].attrs["output"] == (3, 3)
    assert graph["part"].attrs["index"] == 2
    assert graph.outputs == ("part", "aux")
