"""Differential tests count the cases they actually compared (issue 16).

A differential test draws cases (hypothesis, or a list) and compares cnnstat's numbers with an
independent oracle (torch, FlopCounterMode, fvcore, autograd's saved tensors, gradients). Cases
that are rejected or out of scope are passed over; if a strategy yielded only those, the test
would pass having compared nothing. So each such test takes the ``compared`` fixture
(tests/conftest.py), calls ``compared.record(key)`` once per case it compared (``key``: the
operator, or "cases"), and ends with ``compared.require(minimum, keys)``: every key compared at
least ``minimum`` times, or the test fails naming the short ones. The fixture errors when a test
that took it never called ``require``. Counters belong to one test (one parametrized instance),
so pytest-xdist workers need nothing shared; the counts travel in the test's report
(``user_properties``) and the session's summary prints them per test function ("compared
cases").
"""

from __future__ import annotations

import collections

import pytest

PROPERTY = "compared"


class Compared:
    """The cases one test compared, counted per key."""

    def __init__(self, node):
        self.node = node
        self.counts: collections.Counter = collections.Counter()
        self.required = False

    def record(self, key: str = "cases", n: int = 1) -> None:
        self.counts[key] += n

    def __getitem__(self, key: str) -> int:
        return self.counts[key]

    def require(self, minimum: int, keys=("cases",)) -> None:
        """Each of ``keys`` compared at least ``minimum`` times; the counts go to the report."""
        self.required = True
        self.node.user_properties.append((PROPERTY, (dict(self.counts), tuple(keys))))
        short = {key: self.counts[key] for key in keys if self.counts[key] < minimum}
        if short:
            pytest.fail(f"too few compared cases (each needs >= {minimum}): {short}; all counts: "
                        f"{dict(self.counts)}", pytrace=False)


def summary_lines(reports) -> list[str]:
    """Per test function: instances, the smallest count of a required key, the total compared."""
    by_test: dict[str, list[tuple[int, str]]] = collections.defaultdict(list)
    totals: collections.Counter = collections.Counter()
    for report in reports:
        for name, value in report.user_properties:
            if name != PROPERTY:
                continue
            counts, keys = value
            test = report.nodeid.split("[", 1)[0]
            by_test[test] += [(counts.get(key, 0), key) for key in keys]
            totals[test] += sum(counts.get(key, 0) for key in keys)
    return [f"{test}: " + (", ".join(f"{key} {n}" for n, key in mins) if len(mins) <= 6 else
                           f"{len(mins)} required counts, min {min(mins)[0]} ({min(mins)[1]})")
            + f", total {totals[test]}" for test, mins in sorted(by_test.items())]
