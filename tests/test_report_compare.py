"""cnnstat compare and cnnstat sweep: rows of totals, grids, their renderings and the CLI."""

from __future__ import annotations

import csv
import io
import json

import pytest

import cnnstat
from cnnstat.cli import main
from cnnstat.errors import CnnstatError, ShapeError, UsageError
from cnnstat.report import sweep as sw
from cnnstat.report.compare import compare_row, csv_text, table

TINY = """\
input: [3, 8, 8]
vars:
  width: 8
layers:
  - conv: conv2d(width, 3, padding=1, bias=false)
"""


# -- compare -----------------------------------------------------------------------------------
def test_compare_row_vgg16():
    r = compare_row(cnnstat.analyze("vgg16"), "vgg16")
    assert (r.params, r.macs, r.flops) == (138_357_544, 15_470_264_320, 2 * 15_470_264_320)
    assert r.rf_local == "212" and r.rf_local_px == 212          # stage.4.pool (test_report_series)
    assert r.outputs == ((1, 1000),) and r.input == (3, 224, 224)
    assert r.top1 == 71.592 and r.top1_source == "torchvision"
    # analysed otherwise than published: no accuracy
    assert compare_row(cnnstat.analyze("vgg16", 160), "vgg16", published=False).top1 is None


def test_compare_table_and_csv_agree_with_the_analyses():
    names = ["lenet5", "resnet18"]
    rows = [compare_row(cnnstat.analyze(n), n) for n in names]
    t = table(rows)
    assert [r[0] for r in t.rows] == names
    assert t.rows[1][3:6] == ["11.69 M", "1.81 G", "3.63 G"]
    parsed = list(csv.DictReader(io.StringIO(csv_text(rows))))
    for row, name in zip(parsed, names):
        totals = cnnstat.analyze(name).totals
        assert int(row["params"]) == totals.params and int(row["macs"]) == totals.macs
        assert int(row["peak_activation_bytes"]) == totals.peak_activation_bytes
    assert parsed[0]["top1_percent"] == ""                       # LeNet-5: no ImageNet accuracy
    assert parsed[1]["top1_percent"] == "69.758"


def test_cli_compare_formats(tmp_path, capsys):
    assert main(["compare", "lenet5", "resnet18", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [m["label"] for m in data["models"]] == ["lenet5", "resnet18"]
    assert data["models"][0]["params"] == 60_840 and data["convention"]["counted"] == ["weight", "attention"]
    assert main(["compare", "lenet5", "resnet18"]) == 0
    out = capsys.readouterr().out
    assert "Comparison of 2 models" in out and "60.84 K" in out and "MACs: conv + linear" in out
    assert main(["compare", "lenet5", "resnet18", "--explain"]) == 0
    assert "MACs: 1 fused multiply-add = 1 MAC" in capsys.readouterr().out


def test_cli_compare_plot_and_page(tmp_path, capsys):
    plot, page = tmp_path / "c.png", tmp_path / "c.html"
    assert main(["compare", "lenet5", "resnet18", "--plot", str(plot)]) == 0
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["compare", "lenet5", "resnet18", "--format", "html", "--out", str(page)]) == 0
    html = page.read_text()
    # the table and the chart side by side, then the cost/accuracy chart
    assert '<div class="side">' in html and html.count("data:image/svg+xml;base64,") == 2


def test_cli_compare_errors(capsys):
    assert main(["compare", "lenet5", "--plot", "chart.pdf"]) == 2
    assert "must end in .png or .svg" in capsys.readouterr().err


# -- sweep -------------------------------------------------------------------------------------
def test_split_top_level_commas():
    assert sw.split_top("0.25,0.5, 1.0") == ["0.25", "0.5", "1.0"]
    assert sw.split_top("[2, 2],[3, 4]") == ["[2, 2]", "[3, 4]"]
    assert sw.split_top("f(1, 2),'a,b'") == ["f(1, 2)", "'a,b'"]


@pytest.mark.parametrize("sets, message", [
    (["alpha"], "must be NAME=V1,V2"),
    (["alpha=0.5,,1"], "an empty value"),
    (["alpha=0.5", "alpha=1"], "given twice"),
])
def test_parse_axes_errors(sets, message):
    with pytest.raises(UsageError, match=message):
        sw.parse_axes(sets)


def test_sweep_by_hand(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY)
    s = sw.run(str(path), ["width=4,8"], "8,16")
    # MACs of a 3x3 convolution with padding 1: width * H * W * (3 * 3 * 3 input taps)
    # width 4: 4*8*8*27 = 6,912 and 4*16*16*27 = 27,648; width 8: 13,824 and 55,296.
    assert [(c.settings["width"], c.input, c.macs) for c in s.cells] == [
        ("4", "8", 6_912), ("4", "16", 27_648), ("8", "8", 13_824), ("8", "16", 55_296)]
    # parameters do not depend on the input: width * 27 weights
    assert [c.params for c in s.cells] == [108, 108, 216, 216]
    assert s.x_name == "input" and s.x_numeric and [c.x for c in s.cells] == [8, 16, 8, 16]
    lines = s.lines()
    assert [l.label for l in lines] == ["width=4 (108 params)", "width=8 (216 params)"]
    # one variable, one input: the variable is the x axis
    s = sw.run(str(path), ["width=4,8"], None)
    assert s.x_name == "width" and [c.x for c in s.cells] == [4.0, 8.0]
    assert [l.label for l in s.lines()] == [str(path)]      # a single line, named by the model


def test_sweep_agrees_with_single_analyses():
    s = sw.run("mobilenet_v1", ["alpha=0.5,1.0"], "128,224")
    for c in s.cells:
        a = cnnstat.analyze("mobilenet_v1", c.input, set={"alpha": c.settings["alpha"]})
        assert (c.params, c.macs, c.peak_activation_bytes) == (
            a.totals.params, a.totals.macs, a.totals.peak_activation_bytes)
    # Howard et al. 2017, Table 6: 1.0 MobileNet-224 569 M mult-adds, 0.5: 149 M
    by = {(c.settings["alpha"], c.input): c.macs for c in s.cells}
    assert round(by["1.0", "224"] / 1e6) == 569 and round(by["0.5", "224"] / 1e6) == 149


def test_sweep_cells_that_fail_say_why():
    s = sw.run("vgg16", None, "16,224")
    small, full = s.cells
    assert not small.ok and "too small" in small.error and small.macs is None
    assert full.ok and full.macs == 15_470_264_320
    rows = sw.table(s).rows
    assert rows[0][1].startswith("cannot: ") and rows[0][2] == "-"
    data = json.loads(sw.to_json(s))
    assert data["cells"][0]["error"] and data["cells"][0]["macs"] is None


def test_sweep_errors():
    with pytest.raises(ShapeError):                    # every combination fails: the error itself
        sw.run("vgg16", None, "8,16")
    with pytest.raises(UsageError, match="nothing to sweep"):
        sw.run("vgg16", ["num_classes=10"], "224")
    with pytest.raises(CnnstatError, match="alphaa"):  # a typo fails in every cell
        sw.run("mobilenet_v1", ["alphaa=0.5,1"], None)


def test_cli_sweep(tmp_path, capsys):
    plot = tmp_path / "sweep.svg"
    assert main(["sweep", "mobilenet_v1", "--set", "alpha=0.5,1.0", "--input", "128,224",
                 "--format", "csv", "--plot", str(plot)]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(r["alpha"], r["input"]) for r in rows] == [
        ("0.5", "3x128x128"), ("0.5", "3x224x224"), ("1.0", "3x128x128"), ("1.0", "3x224x224")]
    assert plot.read_text().startswith("<?xml")
    assert main(["sweep", "vgg16", "--input", "16,224"]) == 0
    captured = capsys.readouterr()
    assert "cannot:" in captured.out and "1 of 2 combinations cannot be analysed" in captured.err


def test_sweep_of_non_square_inputs_names_every_size():
    s = sw.run("resnet18", None, "160x224,224")
    assert [c.x for c in s.cells] == ["160×224", "224×224"] and not s.x_numeric
    assert s.x_label == "input size (H×W)"


def test_cli_sweep_page(tmp_path):
    page = tmp_path / "sweep.html"
    assert main(["sweep", "mobilenet_v1", "--set", "alpha=0.5,1.0", "--format", "html",
                 "--out", str(page)]) == 0
    html = page.read_text()
    assert "<h1>mobilenet_v1: totals against alpha</h1>" in html
    assert '<div class="side">' in html and html.count("data:image/svg+xml;base64,") == 1
