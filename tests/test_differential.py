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
    lines = summary_lines([Report("t.py::test_x[a]", {"a": 7, "rejected": 9}, ("a",)),
                           Report("t.py::test_x[b]", {"b": 3}, ("b",))])
    assert lines == ["t.py::test_x: 2 required counts, min 3 (b), total 10"]
