"""cnnstat report: the files of a report, their content, all-or-nothing writing, the CLI."""

from __future__ import annotations

import json
import os
import re
import signal
from pathlib import Path

import pytest

import cnnstat
from cnnstat.cli import main
from cnnstat.errors import UsageError
from cnnstat.render.jsonout import to_json
from cnnstat.render.views import csv_text
from cnnstat.report import Options, build, write
from cnnstat.report.document import Details, Table, to_markdown
from cnnstat.report.model import model_blocks, slug, table_depth


def files_under(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


# -- content -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def lenet_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    write(build(["lenet5"], Options()), out)
    return out


def test_report_files(lenet_report):
    names = files_under(lenet_report)
    expected = {"README.md"} | {f"lenet5/lenet5.{ext}" for ext in ("md", "csv", "json", "html")}
    expected |= {f"lenet5/lenet5-{p}.{ext}" for p in ("layers", "memory", "rf", "memory-layers",
                                                      "memory-step")
                 for ext in ("png", "svg")}
    expected.add("lenet5/lenet5-graph.html")                     # the interactive view
    assert names == expected
    assert not any(n.startswith(".") or n.endswith(".tmp") for n in names)


def test_report_markdown_content(lenet_report):
    md = (lenet_report / "lenet5/lenet5.md").read_text()
    a = cnnstat.analyze("lenet5")
    assert md.startswith("# lenet5 — LeNet-5\n")
    # summary facts, totals (LeNet-5: 60,000 trainable parameters, 840 fixed RBF prototypes)
    assert "- **parameters**: 60,840 (60.84 K), of which trainable 60,000" in md
    assert "| parameters | 60,840 | 60.84 K |" in md
    assert f"| MACs (counted kinds, see the convention) | {a.totals.macs:,} |" in md
    assert "## Counting convention\n\n" + a.convention.describe() + "." in md
    # every plot is linked and exists next to the report
    for link in re.findall(r"\]\((lenet5-[a-z-]+\.(?:png|svg))\)", md):
        assert (lenet_report / "lenet5" / link).is_file()
    assert len(re.findall(r"\[!\[", md)) == 5      # 3 plots and the training-memory section's 2
    # the receptive-field table and the layer table: one row per layer (14 layers)
    rf = md.split("## Receptive field per layer")[1].split("## Layers")[0]
    assert len([l for l in rf.splitlines() if re.match(r"\| \d+ \|", l)]) == 14
    assert "| 9 | C5 | conv2d | [1, 120, 1, 1] | 32 |" in rf        # C5 sees the whole 32x32
    layers = md.split("## Layers")[1]
    assert len([l for l in layers.splitlines() if re.match(r"\| \d+ \|", l)]) == 14
    assert "| **total** |" in layers and "60,840" in layers


def test_report_csv_json_are_the_core_renderings(lenet_report):
    a = cnnstat.analyze("lenet5")
    assert (lenet_report / "lenet5/lenet5.csv").read_text() == csv_text(a, "full")
    assert (lenet_report / "lenet5/lenet5.json").read_text() == to_json(a)
    assert json.loads((lenet_report / "lenet5/lenet5.json").read_text())["totals"]["params"] == 60840


def test_report_html_is_one_page(lenet_report):
    page = (lenet_report / "lenet5/lenet5.html").read_text()
    assert page.count('src="data:image/svg+xml;base64,') == 5   # 3 plots, 2 of training memory
    assert not re.search(r'src="(?!data:)', page)                 # nothing loaded from elsewhere
    assert '<a href="lenet5.csv">lenet5.csv</a>' in page
    assert '<a href="lenet5-graph.html">lenet5-graph.html</a>' in page
    assert "<h2>Counting convention</h2>" in page


def test_index(lenet_report):
    index = (lenet_report / "README.md").read_text()
    assert "Made by `cnnstat report lenet5 --out DIR`" in index
    assert "| [lenet5](lenet5/lenet5.md) | LeNet-5 | 1×32×32 | 60.84 K |" in index
    assert "## Comparison" not in index                        # one model: no comparison


def test_published_accuracy_only_when_analysed_as_published():
    from cnnstat.report.accuracy import lookup
    # vgg16 at its default input: torchvision's IMAGENET1K_V1 acc@1 71.592 is shown
    text = to_markdown(model_blocks(cnnstat.analyze("vgg16"), "vgg16", ("md",),
                                    accuracy=lookup("vgg16")))
    assert ("- **published top-1**: 71.59% on ImageNet-1K, not computed by cnnstat: acc@1 71.592% "
            "of VGG16_Weights.IMAGENET1K_V1, torchvision 0.29.1 weights metadata") in text
    assert Options(input="160").as_published is False
    assert Options(set=["num_classes=10"]).as_published is False
    assert Options().as_published is True


def test_long_models_get_a_table_by_block():
    a = cnnstat.analyze("resnet152")
    # 515 layers; --depth 2 gives conv1, bn1, relu, maxpool, 3+8+36+3 blocks, avgpool, flatten,
    # fc = 57 rows, the deepest depth with at most 80 rows (depth 3 gives 511)
    assert len(a.records) == 515 and table_depth(a) == 2
    blocks = model_blocks(a, "resnet152", ("md",))
    tables = [b for b in blocks if isinstance(b, Table) and b.headers[0] == "#"]
    assert [len(t.rows) for t in tables] == [57, 57]              # receptive field, layers
    details = [b for b in blocks if isinstance(b, Details)]
    assert [len(d.blocks[0].rows) for d in details] == [515, 515]
    assert table_depth(cnnstat.analyze("resnet18")) is None        # 69 layers: one table


def test_slug():
    assert slug("vgg16") == "vgg16"
    assert slug("nets/my net.yaml") == "my_net"
    assert slug("resnet50-paper") == "resnet50-paper"


# -- all or nothing ----------------------------------------------------------------------------
def test_a_bad_model_writes_nothing(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(cnnstat.CnnstatError, match="unknown model 'nosuch'"):
        write(build(["lenet5", "nosuch"], Options(), ("csv", "json")), out)
    assert not out.exists()


def test_a_model_that_cannot_take_the_input_writes_nothing(tmp_path):
    (tmp_path / "lenet5").mkdir()
    (tmp_path / "lenet5" / "lenet5.csv").write_text("previous report\n")
    # vgg16 needs at least 32x32: at 16 its last pooling has nothing left to pool
    with pytest.raises(cnnstat.CnnstatError, match="too small"):
        write(build(["lenet5", "vgg16"], Options(input="16"), ("csv",)), tmp_path)
    assert files_under(tmp_path) == {"lenet5/lenet5.csv"}
    assert (tmp_path / "lenet5" / "lenet5.csv").read_text() == "previous report\n"


def test_ctrl_c_while_rendering_writes_nothing(tmp_path, monkeypatch):
    from cnnstat import plots
    calls = []

    def interrupted(a):
        calls.append(a.name)
        raise KeyboardInterrupt
    monkeypatch.setattr(plots, "layer_work_figure", interrupted)   # the first figure drawn
    with pytest.raises(KeyboardInterrupt):
        write(build(["lenet5"], Options(), ("md", "csv")), tmp_path / "out")
    assert calls == ["lenet5"] and not (tmp_path / "out").exists()


def test_ctrl_c_while_writing_files_leaves_targets_untouched(tmp_path, monkeypatch):
    built = build(["lenet5"], Options(), ("csv", "json"))
    (tmp_path / "lenet5").mkdir()
    (tmp_path / "lenet5" / "lenet5.csv").write_text("old\n")
    real_fsync, count = os.fsync, []

    def fsync(fd):                       # the second staged file is interrupted mid-write
        count.append(fd)
        if len(count) == 2:
            raise KeyboardInterrupt
        real_fsync(fd)
    monkeypatch.setattr(os, "fsync", fsync)
    with pytest.raises(KeyboardInterrupt):
        write(built, tmp_path)
    assert files_under(tmp_path) == {"lenet5/lenet5.csv"}       # no temporary file left behind
    assert (tmp_path / "lenet5" / "lenet5.csv").read_text() == "old\n"


def test_ctrl_c_during_the_renames_is_held_until_all_are_done(tmp_path, monkeypatch):
    built = build(["lenet5"], Options(), ("csv", "json"))
    real_replace, sent = os.replace, []

    def replace(src, dst):               # a real SIGINT arrives after the first rename starts
        if not sent:
            sent.append(1)
            os.kill(os.getpid(), signal.SIGINT)
        real_replace(src, dst)
    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(KeyboardInterrupt):
        write(built, tmp_path)
    assert sent
    # every file was renamed into place, complete, before the interrupt was raised
    assert files_under(tmp_path) == set(built.files)
    for rel, data in built.files.items():
        assert (tmp_path / rel).read_text() == data


def test_files_get_the_usual_mode(tmp_path):
    old = os.umask(0o022)
    try:
        write(build(["lenet5"], Options(), ("csv",)), tmp_path)
    finally:
        os.umask(old)
    assert (tmp_path / "lenet5" / "lenet5.csv").stat().st_mode & 0o777 == 0o644


def test_two_models_with_one_folder_are_refused(tmp_path):
    mine = tmp_path / "vgg16.yaml"
    mine.write_text("input: [3, 8, 8]\nlayers:\n  - conv2d(4, 3)\n")
    with pytest.raises(UsageError, match="folder 'vgg16/'"):
        build(["vgg16", str(mine)], Options(), ("csv",))


# -- command line ------------------------------------------------------------------------------
def test_cli_report(tmp_path, capsys):
    assert main(["report", "lenet5", "resnet18", "--format", "csv,json", "--out", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert f"wrote 7 files under {tmp_path}/" in err
    # two models: their files, a comparison of the two (no plots without md or html), the index
    assert files_under(tmp_path) == {"README.md", "lenet5/lenet5.csv", "lenet5/lenet5.json",
                                     "resnet18/resnet18.csv", "resnet18/resnet18.json",
                                     "comparison/comparison.csv", "comparison/comparison.json"}
    rows = (tmp_path / "comparison/comparison.csv").read_text().splitlines()
    assert rows[1].startswith("lenet5,1x32x32,1x10,60840,")


@pytest.mark.parametrize("args, message", [
    (["report", "lenet5"], "needs --out"),
    (["report", "lenet5", "--out", "X", "--format", "pdf"], "unknown format 'pdf'"),
    (["report", "lenet5", "--out", "X", "--compare", "all"], "--compare: unknown value 'all'; choose from auto"),
    (["report", "lenet5", "nosuch", "--out", "X"], "unknown model 'nosuch'"),
    (["report", "--out", "X"], "no model given"),
])
def test_cli_report_errors(args, message, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "X").exists()


def test_paper_section():
    from cnnstat.report.paper import paper_blocks
    # LeNet-5: section II-B's table, computed from lenet5 itself, every figure matching
    md = to_markdown(paper_blocks("lenet5"))
    assert md.startswith("## Compared with the paper\n\n### LeNet-5")
    assert "| **total** |  | **60,000** | **60,000** | **+0.0%** | **340,908** | **340,908** |" in md
    # GoogLeNet: Table 1 is computed from the paper layout, googlenet-paper: a pointer only
    md = to_markdown(paper_blocks("googlenet"))
    assert "`cnnstat paper googlenet`, models googlenet-paper" in md and "|" not in md
    assert paper_blocks("mobilenet_v2") == []                  # no paper table in cnnstat paper


def test_index_lists_what_else_the_folder_holds(tmp_path):
    from cnnstat.report.build import other_entries
    (tmp_path / "bench").mkdir()
    (tmp_path / "bench" / "README.md").write_text("intro\n# Benchmark reports\n")
    (tmp_path / "perf.md").write_text("# cnnstat performance\n")
    (tmp_path / "notes.txt").write_text("not Markdown\n")
    (tmp_path / "lenet5").mkdir()                                  # this command's own folder
    assert other_entries(tmp_path, {"lenet5"}) == [("bench/README.md", "Benchmark reports"),
                                                   ("perf.md", "cnnstat performance")]
    index = build(["lenet5"], Options(), ("csv",), out_dir=tmp_path).files["README.md"]
    assert "## Other reports in this folder" in index
    assert "- **[perf.md](perf.md)**: cnnstat performance" in index


def test_html_only_report_inlines_its_plots(tmp_path):
    assert main(["report", "lenet5", "--format", "html", "--out", str(tmp_path)]) == 0
    # no PNG/SVG files: the page carries its plots; the graph view sits next to it
    assert files_under(tmp_path) == {"README.md", "lenet5/lenet5.html", "lenet5/lenet5-graph.html"}
    assert (tmp_path / "lenet5/lenet5.html").read_text().count("data:image/svg+xml;base64,") == 5
