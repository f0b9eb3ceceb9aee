"""The compared-case counter of the differential tests (tests/differential.py) fails when a test
compared too few cases, and counts per key."""

from __future__ import annotations

import pytest

from .differential import Compared, summary_lines


class _Node:
    def __init__(self):
        self.user_properties = []


def test_require_fails_when_a_key_is_short():
    counter = Compared(_Node())
    counter.record("conv2d")
    counter.record("conv2d")
    counter.record("both reject", 5)
    counter.require(2, keys=["conv2d"])
    with pytest.raises(pytest.fail.Exception, match=r"'relu': 0"):
        counter.require(1, keys=["conv2d", "relu"])


def test_summary_reports_min_and_total():
    class Report:
        def __init__(self, nodeid, counts, keys):
            self.nodeid, self.user_properties = nodeid, [("compared", (counts, keys))]
    reports = [Report(f"t.py::test_x[{k}]", {k: n, "rejected": 9}, (k,))
               for k, n in zip("abcdefg", (7, 3, 8, 9, 10, 1, 1))]
    assert summary_lines(reports) == ["t.py::test_x: 7 required counts, min 1 (f), total 39"]
    assert summary_lines(reports[:2]) == ["t.py::test_x: a 7, b 3, total 10"]
