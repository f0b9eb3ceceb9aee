"""Published accuracies (cnnstat/data/accuracy.yaml): every entry sourced, torchvision's copied
exactly from torchvision's own metadata."""

from __future__ import annotations

import pytest

from cnnstat import zoo
from cnnstat.data import load
from cnnstat.report.accuracy import lookup, table


def test_every_entry_has_a_known_source_and_a_sane_value():
    data = load("accuracy")
    for name, entry in data["models"].items():
        assert entry["source"] in data["sources"], name
        assert ("top1" in entry) != ("top1_error" in entry), f"{name}: top1 or top1_error"
    for acc in table().values():
        assert 40 < acc.top1 < 100 and acc.citation and acc.short


def test_paper_figures_are_for_zoo_names():
    # torchvision's entries may name models the zoo does not have yet; the papers' must not (a
    # typo would silently drop the figure)
    data = load("accuracy")["models"]
    names = set(zoo.names())
    assert {n for n, e in data.items() if e["source"] != "torchvision"} <= names


def test_errors_become_accuracies():
    # He et al. 2016, Table 3: ResNet-50 top-1 error 22.85% (10-crop) -> 77.15%
    acc = lookup("resnet50-paper")
    assert acc.top1 == pytest.approx(77.15) and acc.printed == "top-1 error 22.85%"
    assert lookup("lenet5") is None


@pytest.mark.torch
def test_torchvision_entries_match_torchvision_metadata():
    from torchvision.models import get_model_weights
    data = load("accuracy")["models"]
    checked = 0
    for name, entry in data.items():
        if entry["source"] != "torchvision":
            continue
        enum_name, member = entry["weights"].split(".")
        weights = get_model_weights(name)
        assert weights.__name__ == enum_name
        assert entry["top1"] == weights[member].meta["_metrics"]["ImageNet-1K"]["acc@1"], name
        checked += 1
    assert checked >= 60
