"""cnnstat paper NAME: the published tables beside cnnstat's figures.

Golden markdown of every paper; every difference between a printed figure and cnnstat's carries a
note; hand-derived checks of the cells that matter (GoogLeNet's misprinted rows, ResNet's FLOPs,
LeNet-5's six figures); the published copies of torchvision's metadata checked against torchvision.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from cnnstat import papers
from cnnstat.cli import main
from cnnstat.errors import UsageError
from cnnstat.papers import render
from cnnstat.papers.model import DIFFERS, MATCH, Cell, Published

from .conftest import ROOT, check_golden

GOLDEN = ROOT / "tests" / "golden" / "papers"


@pytest.fixture(scope="module")
def all_tables():
    return {name: papers.tables(name) for name in papers.names()}


def cell(tables, key, label, column):
    table = next(t for t in tables if t.key == key)
    row = next(r for r in table.rows if r.label == label)
    return table, row.cells[column]


# --- the model ---------------------------------------------------------------------------------
def test_published_figures_are_read_with_their_precision():
    # "159K" with K = 1024: 159 x 1024 = 162,816, printed to ±0.5K = ±512
    p = Published.parse("159K", 1, {"K": 1024})
    assert (p.value, p.half_unit) == (162_816, 512)
    # "3.8" (x 10^9): ±0.05 x 10^9
    p = Published.parse("3.8", 10**9)
    assert p.value == pytest.approx(3.8e9) and p.half_unit == pytest.approx(5e7)
    assert Published.parse("122,304").value == 122_304
    with pytest.raises(ValueError):
        Published.parse("12X")


def test_cell_status():
    p = Published.parse("133", 10**6)
    assert Cell(p, 132_863_336).status == MATCH          # rounds to 133
    assert Cell(p, 133_638_952).status == DIFFERS        # rounds to 134
    assert Cell("conv3-64", "conv3-64").status == MATCH
    assert Cell("conv3-64", "conv1-64").status == DIFFERS
    assert Cell(p, 132_863_336).relative == pytest.approx((132_863_336 - 133e6) / 133e6)


# --- every paper -------------------------------------------------------------------------------
@pytest.mark.parametrize("name", papers.names())
def test_every_difference_is_explained(all_tables, name):
    for t in all_tables[name]:
        assert t.unexplained() == [], f"{t.key}: a printed figure differs without a note"
        used = {c.note for r in t.rows for c in r.cells.values() if c.note}
        assert used == set(range(1, len(t.notes) + 1)), f"{t.key}: a note no cell refers to"
        assert t.source and t.title and t.models


@pytest.mark.parametrize("name", papers.names())
def test_golden_markdown(all_tables, name, regen_golden):
    text = render.markdown(all_tables[name], papers.citation(name))
    check_golden(GOLDEN / f"{name}.md", text, regen_golden)


def test_unknown_paper_is_a_usage_error():
    with pytest.raises(UsageError, match="did you mean 'googlenet'"):
        papers.get("googlenett")
    with pytest.raises(UsageError, match="no paper table for 'densenet121'"):
        papers.get("densenet121")


def test_a_zoo_name_finds_its_paper():
    assert [papers.get(n).name for n in ("vgg16", "resnet50-paper", "mobilenet_v1_050",
                                         "googlenet", "lenet5", "alexnet-paper")] == [
        "vgg", "resnet", "mobilenet", "googlenet", "lenet5", "alexnet"]


# --- hand-derived cells --------------------------------------------------------------------------
def test_googlenet_conv1_and_misprinted_rows(all_tables):
    tables = all_tables["googlenet"]
    t, params = cell(tables, "googlenet-table1", "conv1", "params")
    # 7x7x3x64 = 9,408 weights (printed 2.7K); 9,408 x 112 x 112 = 118,013,952 multiply-adds
    assert params.computed == 9_408 and params.status == DIFFERS
    _, ops = cell(tables, "googlenet-table1", "conv1", "ops")
    assert ops.computed == 118_013_952 and ops.status == DIFFERS
    assert "7×7×3×64 = 9,408 weights" in t.notes[params.note - 1]
    # inception 4c: 512*128 + 512*128 + 9*128*256 + 512*24 + 25*24*64 + 512*64 = 509,440 weights
    # = 497.5K, printed 463K; its ops 509,440 * 14 * 14 = 99,850,240 agree with the printed 100M
    _, c4 = cell(tables, "googlenet-table1", "inception (4c)", "params")
    assert c4.computed == 509_440 and c4.status == DIFFERS
    _, o4 = cell(tables, "googlenet-table1", "inception (4c)", "ops")
    assert o4.computed == 99_850_240 and o4.status == MATCH
    # 5a: 832*256 + 832*160 + 9*160*320 + 832*32 + 25*32*128 + 832*128 = 1,042,432 (printed 1072K)
    _, c5 = cell(tables, "googlenet-table1", "inception (5a)", "params")
    assert c5.computed == 1_042_432 and c5.status == DIFFERS
    # the 3x3 row: 1x1x64x64 + 3x3x64x192 = 114,688 = 112K exactly
    row = next(r for r in tables[0].rows if r.label == "conv2 + conv3")
    assert (row.cells["3x3_reduce"].computed, row.cells["3x3"].computed) == ("64", "192")
    assert row.cells["params"].computed == 114_688 and row.cells["params"].relative == 0
    assert row.cells["depth"].computed == "2"
    total = tables[0].rows[-1]
    assert total.cells["depth"].computed == "22" and total.cells["depth"].status == MATCH


def test_googlenet_every_column_matches_the_structure(all_tables):
    t = all_tables["googlenet"][0]
    text_columns = [c.key for c in t.columns if c.kind == "text"]
    for row in t.rows:
        for key in text_columns:
            c = row.cells.get(key)
            if c is not None and c.published is not None:
                assert c.status == MATCH, (row.label, key, c.published, c.computed)


def test_resnet_flops(all_tables):
    tables = all_tables["resnet"]
    flops = {n: cell(tables, "resnet-table1", "FLOPs", str(n))[1] for n in (18, 34, 50, 101, 152)}
    assert flops[50].computed == 3_857_973_248                 # paper layout: 3.86 (printed 3.8)
    assert [flops[n].status for n in (18, 101, 152)] == [MATCH] * 3
    assert flops[50].status == DIFFERS and flops[50].note
    tv = {n: cell(tables, "resnet-table1", "torchvision FLOPs", str(n))[1]
          for n in (18, 34, 50, 101, 152)}
    # v1.5: + 3 * 77,070,336 for the bottleneck networks, nothing for the basic ones
    assert tv[50].computed - flops[50].computed == 231_211_008
    assert tv[18].computed == flops[18].computed
    assert all(c.status == MATCH for c in tv.values())
    blocks = cell(tables, "resnet-table1", "conv5_x", "152")[1]
    assert blocks.computed == "[1×1, 512; 3×3, 512; 1×1, 2048] ×3" and blocks.status == MATCH


def test_vgg_tables(all_tables):
    t1, t2, layers = all_tables["vgg"]
    assert t1.differences() == [] and t2.differences() == []
    # Table 2, C: 133,638,952 parameters, printed 134 (million)
    assert t2.rows[0].cells["C"].computed == 133_638_952
    total = layers.rows[-1].cells["params"]
    assert total.computed == 138_357_544 and total.status == MATCH
    assert sum(r.cells["params"].computed for r in layers.rows[:-1]) == 138_357_544
    assert [r.cells["module"].computed for r in layers.rows[:3]] == [
        "features.0", "features.2", "features.5"]
    assert layers.rows[-2].cells["module"].computed == "classifier.6"


def test_lenet5_table(all_tables):
    t = all_tables["lenet5"][0]
    assert t.differences() == []
    got = {r.label: (r.cells["params"].computed, r.cells["connections"].computed) for r in t.rows}
    assert got["C3"] == (1_516, 151_600)             # 60 pairs * 25 + 16; 1,516 * 10 * 10
    assert got["total"] == (60_000, 340_908)


def test_alexnet_and_mobilenet(all_tables):
    tables = all_tables["alexnet"]
    _, conv1 = cell(tables, "alexnet-neurons", "conv1", "neurons")
    assert conv1.computed == 55 * 55 * 96 and conv1.status == DIFFERS
    _, params = cell(tables, "alexnet-neurons", "total", "params")
    assert params.computed == 60_965_224
    m = all_tables["mobilenet"]
    _, c160 = cell(m, "mobilenet-table7", "1.0 MobileNet-160", "mult_adds")
    assert c160.computed == 290_675_200 and c160.status == DIFFERS
    _, c224 = cell(m, "mobilenet-table6", "1.0 MobileNet-224", "mult_adds")
    assert c224.computed == 568_740_352 and c224.status == MATCH


def test_raw_waveform_table1(all_tables):
    t = all_tables["raw_waveform"][0]
    # the architecture cells all match Table 1; the only difference is M5's parameter count
    assert [(row.label, key) for row, key, _ in t.differences()] == [("parameters", "M5")]
    _, m5 = cell(all_tables["raw_waveform"], "raw-waveform-table1", "parameters", "M5")
    assert m5.computed == 559_114 and m5.note is not None
    _, m3 = cell(all_tables["raw_waveform"], "raw-waveform-table1", "parameters", "M3")
    assert m3.computed == 221_194 and m3.status == MATCH       # 0.22M prints as 0.2M
    _, s4 = cell(all_tables["raw_waveform"], "raw-waveform-table1", "stage 4", "M34-res")
    assert s4.computed == "[3, 384; 3, 384] × 3" and s4.status == MATCH
    _, p4 = cell(all_tables["raw_waveform"], "raw-waveform-table1", "pool4", "M5")
    assert p4.computed == "Maxpool: 4×1 (output: 32×n)"        # 125 / 4, rounded up


# --- the command line ----------------------------------------------------------------------------
def test_cli_formats(capsys):
    assert main(["paper", "resnet", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["paper"] == "resnet" and [t["key"] for t in doc["tables"]] == [
        "resnet-table1", "resnet-text"]
    flops = next(r for r in doc["tables"][0]["rows"] if r["label"] == "FLOPs")["cells"]["50"]
    assert flops["cnnstat"] == 3_857_973_248 and flops["published"]["text"] == "3.8"
    assert main(["paper", "lenet5", "-f", "csv"]) == 0
    import csv
    rows = list(csv.DictReader(capsys.readouterr().out.splitlines()))
    c3 = next(r for r in rows if r["row"] == "C3" and r["column"] == "connections")
    assert (c3["published"], c3["cnnstat"], c3["status"]) == ("151,600", "151600", "match")
    assert main(["paper", "vgg"]) == 0
    out = capsys.readouterr().out
    assert "ConvNet configurations" in out and "138,357,544" in out


def test_cli_unknown_paper(capsys):
    assert main(["paper", "lenet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no paper table for 'lenet'") and len(err.splitlines()) == 1
    assert main(["paper"]) == 0
    assert any(line.startswith("lenet5 ") for line in capsys.readouterr().out.splitlines())


def test_static_path_does_not_import_torch():
    out = subprocess.run([sys.executable, "-X", "importtime", "-m", "cnnstat", "paper", "googlenet",
                          "-f", "md"], capture_output=True, text=True, cwd=ROOT, check=True)
    imported = {line.split("|")[-1].strip() for line in out.stderr.splitlines()}
    assert not {"torch", "pandas", "matplotlib"} & imported


# --- published copies of torchvision's metadata ---------------------------------------------------
@pytest.mark.torch
def test_torchvision_figures_in_the_data_files_are_torchvisions():
    torchvision = pytest.importorskip("torchvision")
    from cnnstat.papers.common import data
    d = data("resnet")["table1"]
    for n, name in d["torchvision"].items():
        meta = torchvision.models.get_model_weights(name).DEFAULT.meta
        assert Published.parse(d["torchvision_ops"][n]).value == pytest.approx(meta["_ops"])
        assert Published.parse(d["torchvision_params"][n]).value == meta["num_params"]
    vgg16 = torchvision.models.get_model_weights("vgg16").DEFAULT.meta
    assert Published.parse(data("vgg")["vgg16_layers"]["total"]).value == vgg16["num_params"]


@pytest.mark.torch
def test_vgg16_layer_names_are_torchvisions(all_tables):
    from tests.oracles.reference import torchvision_model
    module = torchvision_model("vgg16")
    params = {name: sum(p.numel() for p in m.parameters()) for name, m in module.named_modules()}
    layers = all_tables["vgg"][2]
    for row in layers.rows[:-1]:
        assert params[row.cells["module"].computed] == row.cells["params"].computed
