"""Results in a notebook, without a kernel: HTML and Markdown representations (the report's
columns, convention and escaping), one-line reprs, columns and depth, summary() as torchinfo's,
figures made apart from pyplot, the embedded view. The kernel itself: tests/test_notebook.py."""

from __future__ import annotations

import html
import io
import re
import subprocess
import sys

import pytest

import cnnstat
from cnnstat.errors import UsageError
from cnnstat.render.columns import VIEWS, select_columns
from cnnstat.report.document import FRAGMENT_CLASS

EVIL = """\
name: "<script>alert(1)</script>"
title: "<img src=x onerror=alert(2)> & [click](javascript:alert(3))"
input: [3, 8, 8]
layers:
  - conv: "conv2d(4, 3)"
"""


@pytest.fixture(scope="module")
def evil(tmp_path_factory):
    path = tmp_path_factory.mktemp("display") / "evil.yaml"
    path.write_text(EVIL, encoding="utf-8")
    return cnnstat.analyze(str(path))


def test_import_stays_light():
    code = ("import sys, cnnstat; a = cnnstat.analyze('resnet18'); repr(a); a._repr_html_(); "
            "a._repr_markdown_(); str(a.table()); "
            "print(sorted(m for m in ('torch', 'matplotlib', 'pandas', 'IPython') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_analysis_html_has_the_reports_table_and_totals():
    a = cnnstat.analyze("lenet5")
    page = a._repr_html_()
    assert page.startswith(f'<div class="{FRAGMENT_CLASS}">')
    # styles scoped to the output: nothing outside it changes
    style = re.search(r"<style>(.*?)</style>", page, re.S).group(1)
    selectors = [s.strip() for rule in re.findall(r"([^{}]+)\{", style) for s in rule.split(",")]
    assert selectors and all(s.startswith(f".{FRAGMENT_CLASS}") for s in selectors)
    # the report's layer columns, one row per layer, and the totals row = sum of the rows
    for header in ("layer", "operation (as PyTorch prints it)", "params", "MACs", "% of MACs",
                   "activation memory", "RF size (px)"):
        assert f"<th>{html.escape(header)}</th>" in page
    assert page.count("<tr>") == 1 + len(a.records)
    total = re.search(r'<tr class="total">(.*?)</tr>', page).group(1)
    cells = re.findall(r"<td[^>]*>(.*?)</td>", total)
    assert cells[1] == "<b>total</b>"
    # LeNet-5: 60,840 = 156 + 12 + 1,516 + 32 + 48,120 + 10,164 + 840 (its fixed RBF prototypes)
    assert cells[4] == f"{a.totals.params:,}" == "60,840"
    assert cells[5] == f"{sum(r.macs for r in a.records):,}"
    assert "1 fused multiply-add = 1 MAC" in page             # the convention line


def test_long_models_collapse_with_every_layer_below():
    a = cnnstat.analyze("resnet152")
    page = a._repr_html_()
    assert "--depth" in page and f"All {len(a.records)} layers" in page
    assert page.count("<tr>") > len(a.records)


def test_markdown_and_repr(evil):
    a = cnnstat.analyze("resnet50")
    md = a._repr_markdown_()
    assert md.startswith("### resnet50 — ") and "| # | layer |" in md and "25,557,032" in md
    line = repr(a)
    assert "\n" not in line
    assert line == "<cnnstat Analysis 'resnet50': input 3×224×224; 25.56 M params, 4.09 GMACs, " \
                   f"{len(a.records)} layers>"
    assert repr(evil).startswith("<cnnstat Analysis '<script>")      # a repr is plain text


def test_names_are_escaped(evil):
    page = evil._repr_html_()
    assert "<script>alert" not in page and "<img src" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=alert(2)&gt; &amp;" in page


def test_columns_and_depth():
    assert select_columns(None) == VIEWS["summary"]
    assert select_columns("rf") == VIEWS["rf"]
    keys = [c.key for c in select_columns("params,macs")]
    assert keys == ["layer", "params", "macs"]                 # a row needs its name
    assert [c.key for c in select_columns(["output_size", "num_params", "mult_adds"])] == \
        ["layer", "output_shape", "params", "macs"]            # torchinfo's names
    with pytest.raises(UsageError, match="unknown column 'flopz'"):
        select_columns("layer,flopz")
    a = cnnstat.analyze("resnet50")
    table = a.table("layer,params", depth=1)
    page = table._repr_html_()
    assert "<th>params</th>" in page and "<th>MACs</th>" not in page
    # depth 1: conv1, bn1, relu, maxpool, layer1..layer4, avgpool, flatten, fc
    from cnnstat.render.rows import rows
    assert page.count("<tr>") == 1 + len(rows(a, 1)) == 1 + 11
    text = str(table)
    assert "layer1" in text and "25,557,032" in text and "<" not in text


def test_summary_prints_like_the_command_line_and_returns_the_analysis():
    out = io.StringIO()
    a = cnnstat.summary("lenet5", columns="layer,output_shape,params", file=out)
    assert isinstance(a, cnnstat.Analysis) and a.totals.params == 60840
    text = out.getvalue()
    assert "convention" in text and "output shape" in text and "60,840" in text
    assert "MACs  " not in text.split("output shape")[1]        # only the chosen columns


def test_summary_takes_torchinfo_input_size():
    out = io.StringIO()
    a = cnnstat.summary("resnet18", input_size=(8, 3, 64, 64), file=out)
    assert a.batch == 8 and a.input_shape == (3, 64, 64)
    b = cnnstat.summary("resnet18", input_size=64, batch=2, file=io.StringIO())
    assert (b.batch, b.input_shape) == (2, (3, 64, 64))
    with pytest.raises(UsageError, match="batch"):
        cnnstat.summary("resnet18", input_size=(8, 3, 64, 64), batch=2, file=io.StringIO())


def test_figures_are_not_pyplots_and_change_no_global_state():
    import matplotlib
    before = {k: v for k, v in matplotlib.rcParams.items() if k != "backend"}
    a = cnnstat.analyze("resnet18")
    for fig in (a.plot_layers(), a.plot_memory(), a.plot_rf(),
                cnnstat.compare(["lenet5", "alexnet"]).plot()):
        assert fig.canvas.manager is None                    # pyplot does not know it
        png = fig._repr_png_()
        assert png.startswith(b"\x89PNG") and len(png) > 10_000
    after = {k: v for k, v in matplotlib.rcParams.items() if k != "backend"}
    assert before == after
    assert fig.texts or fig.axes[0].get_xlabel()              # drawn in cnnstat's style
    assert fig.get_dpi() == 110


def test_view_is_an_iframe_with_the_page_as_srcdoc(evil):
    from cnnstat.view import render_view
    a = cnnstat.analyze("resnet18")
    page = a.view(height=500)
    frame = page._repr_html_()
    m = re.fullmatch(r'<iframe title="([^"]*)" srcdoc="([^"]*)" sandbox="allow-scripts[^"]*" '
                     r'style="[^"]*height: 500px;[^"]*"></iframe>', frame)
    assert m
    assert html.unescape(m.group(2)) == page.html == render_view(a)
    assert "src=" not in frame.replace("srcdoc=", "")          # nothing fetched
    assert "<script>alert" not in evil.view()._repr_html_()


def test_view_saves_the_page(tmp_path):
    page = cnnstat.analyze("lenet5").view()
    path = page.save(tmp_path / "lenet5.html")
    assert open(path, encoding="utf-8").read() == page.html
    assert "lenet5: layer graph" in repr(page)


def test_compare_and_sweep_results():
    c = cnnstat.compare(["vgg16", "resnet50", "mobilenet_v2"])
    assert len(c) == 3 and c["resnet50"].params == cnnstat.analyze("resnet50").totals.params
    page = c._repr_html_()
    assert page.count("<tr>") == 4 and "ImageNet top-1 (%)" in page and "convention" not in repr(c)
    assert "Top-1: published ImageNet-1K accuracy" in page
    frame = c.to_frame()
    assert list(frame.index) == ["vgg16", "resnet50", "mobilenet_v2"]
    assert repr(c) == "<cnnstat CompareResult: 3 models (vgg16, resnet50, mobilenet_v2)>"
    s = cnnstat.sweep("mobilenet_v1", set={"alpha": [0.5, 1.0]}, input=[128, 224])
    assert len(s.cells) == 4 and all(c.ok for c in s.cells)
    assert "mobilenet_v1: totals against input size" in s._repr_html_()
    assert repr(s) == "<cnnstat Sweep 'mobilenet_v1' over input: 4 combinations, 4 analysed>"
    assert s.plot().canvas.manager is None


def test_paper_result():
    p = cnnstat.paper("googlenet")
    assert len(p) == 1 and p["googlenet-table1"] is p[0]
    page = p._repr_html_()
    assert "inception (3a)" in page and "159K" in page and "Δ" in page
    assert cnnstat.paper("resnet50").name == "resnet"           # a zoo name finds its paper


@pytest.mark.torch
def test_check_result_displays_the_verdict_and_every_layer():
    report = cnnstat.check("lenet5")
    assert report.ok
    page = report._repr_html_()
    assert "verdict: agree" in page
    assert page.count("<tr>") == 1 + len(report.totals) + 1 + len(report.layers)
    assert repr(report) == "<cnnstat check 'lenet5': input 1×32×32, agree>"
