"""`cnnstat view` without a browser: blocks and their labels, the size of the first drawing, the
numbers the page shows, the self-contained page text, the command line.

The page itself is driven in headless Chromium by tests/test_view_browser.py.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import cnnstat
from cnnstat.errors import UsageError
from cnnstat.graph import Graph, Node
from cnnstat.view import render_view, view_data, write_view
from cnnstat.view.data import NODE_BUDGET, blocks, collapsed_at, initial_collapsed, visible_count

ROOT = Path(__file__).resolve().parent.parent

# A small model with the structures the view must draw side by side: Inception-style branches, a
# residual block with a projection shortcut, a U-Net-style skip (upsample + crop-and-concat).
BRANCHY = textwrap.dedent("""\
    name: branchy
    title: "Branches, a residual block and a skip </script><!-- not markup"
    input: [3, 32, 32]
    layers:
      - stem: conv2d(16, 3, padding=1)
      - inc: "inception(8, 8)"
      - res: "residual(32, 2)"
      - up: upsample(scale=2)
      - skip: concat(up, inc, crop='center')
      - head: [global_avgpool(keepdim=false), linear(10)]
    blocks:
      inception(c1, c3):
        - branches:
            b1: conv2d(c1, 1)
            b2: ["conv2d(c3, 1)", relu, "conv2d(c3, 3, padding=1)"]
            b3: ["maxpool2d(3, stride=1, padding=1)", "conv2d(c1, 1)"]
          merge: concat
      residual(c, stride):
        - conv1: conv2d(c, 3, stride=stride, padding=1, bias=false)
        - bn1: batchnorm2d
        - relu: relu
        - conv2: conv2d(c, 3, padding=1, bias=false)
        - shortcut:
            from: input
            layers: ["conv2d(c, 1, stride=stride, bias=false)", batchnorm2d]
        - add: add(conv2, shortcut)
    """)


@pytest.fixture(scope="module")
def branchy(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("view") / "branchy.yaml"
    path.write_text(BRANCHY, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def resnet50():
    return cnnstat.analyze("resnet50")


def page_data(html: str) -> dict:
    """The JSON document embedded in a page, as the page's script reads it."""
    m = re.search(r'<script type="application/json" id="cnnstat-data">(.*?)</script>', html, re.S)
    assert m, "no data element in the page"
    return json.loads(m.group(1))


def by_name(data: dict) -> dict[str, dict]:
    return {n["name"]: n for n in data["nodes"]} | {g["path"]: g for g in data["groups"]}


def rows(entity: dict) -> dict[str, str]:
    return {k: v for s in entity["sections"] for k, v in s["rows"]}


# -- blocks ---------------------------------------------------------------------------------------
def test_blocks_of_the_fixture(branchy):
    a = cnnstat.analyze(str(branchy))
    found = blocks(a.graph)
    # 'inc.0' (the branches entry, the inception block's only entry) holds exactly the layers of
    # 'inc': merged into it, so expanding 'inc' shows the branches at once.
    assert list(found) == ["inc", "inc.0.b2", "inc.0.b3", "res", "res.shortcut", "head"]
    assert found["inc"].aliases == ["inc.0"]
    assert found["inc"].label == "inception"
    assert found["inc.0.b2"].parent == "inc"
    # unnamed groups of up to three layers are labelled by their operators
    assert found["inc.0.b2"].label == "conv2d → relu → conv2d"
    assert found["res.shortcut"].label == "conv2d → batchnorm2d"
    assert found["res.shortcut"].parent == "res"
    # b1 (one layer) is no block; the merge layer belongs to the inception block
    assert found["inc"].members == ["inc.0.b1", "inc.0.b2.0", "inc.0.b2.1", "inc.0.b2.2",
                                    "inc.0.b3.0", "inc.0.b3.1", "inc.0.concat"]
    assert len(found["res"].members) == 7


def test_short_names_drop_merged_prefixes(branchy):
    data = view_data(cnnstat.analyze(str(branchy)))
    ents = by_name(data)
    assert ents["inc.0.b2"]["short"] == "b2"
    assert ents["inc.0.concat"]["short"] == "concat"
    assert ents["res.shortcut.0"]["short"] == "0"
    assert ents["stem"]["short"] == "stem"


def test_resnet_blocks_and_labels(resnet50):
    found = blocks(resnet50.graph)
    # 4 stages + 16 bottlenecks + 4 projection shortcuts
    assert len(found) == 24
    assert found["layer1"].label == "3 × bottleneck"      # the repeat calls the variable 'block'
    assert found["layer3"].label == "6 × bottleneck"
    assert found["layer1.0.downsample"].label == "conv2d → batchnorm2d"
    # bottleneck: conv1 bn1 relu1 conv2 bn2 relu2 conv3 bn3 add relu3 (10), + 2 in the projection
    assert len(found["layer1.0"].members) == 12
    assert len(found["layer1.1"].members) == 10
    assert len(found["layer1"].members) == 12 + 10 + 10


def test_imported_graph_without_block_labels():
    """Importers may give no labels: blocks still come from the dotted names."""
    nodes = [Node("input", "input", (), {"shape": (3, 8, 8)}),
             Node("a.conv", "conv2d", ("input",), cnnstat.ops.REGISTRY["conv2d"].bind([4, 3])),
             Node("a.relu", "relu", ("a.conv",), {}),
             Node("b.conv", "conv2d", ("a.relu",), cnnstat.ops.REGISTRY["conv2d"].bind([4, 3])),
             Node("b.relu", "relu", ("b.conv",), {})]
    a = cnnstat.analyze(Graph(nodes, name="imported"))
    found = blocks(a.graph)
    assert {p: b.label for p, b in found.items()} == {"a": "conv2d → relu", "b": "conv2d → relu"}
    data = view_data(a)
    assert len(data["nodes"]) == 5 and data["collapsed"] == []


@pytest.mark.torch
def test_imported_torchvision_model_starts_like_the_zoo():
    """torch.fx names layers by module path and labels blocks by module class; the first drawing
    of torchvision's ResNet-50 is the zoo's: 16 bottlenecks (the container class 'Sequential'
    of the stages and of the projections does not collapse the stages)."""
    a = cnnstat.analyze("torchvision:resnet50")
    found = blocks(a.graph)
    assert found["layer1.0"].label == "Bottleneck" and found["layer1"].label == "Sequential"
    depth, collapsed = initial_collapsed(a.graph, found)
    assert (depth, visible_count(a.graph, found, collapsed)) == (2, 24)
    assert page_data(render_view(a))["model"] == a.name


# -- the first drawing --------------------------------------------------------------------------
def test_first_drawing_of_resnets():
    # ResNet-50 at depth 2: input, conv1, bn1, relu, maxpool, 3+4+6+3 = 16 bottlenecks, avgpool,
    # flatten, fc = 24 nodes (depth 3 would draw 176 - 4 = 172 > 120).
    a = cnnstat.analyze("resnet50")
    depth, collapsed = initial_collapsed(a.graph, blocks(a.graph))
    assert depth == 2
    assert visible_count(a.graph, blocks(a.graph), collapsed) == 24
    # ResNet-152: 3 + 8 + 36 + 3 = 50 bottlenecks + the 8 other nodes = 58.
    a = cnnstat.analyze("resnet152")
    found = blocks(a.graph)
    depth, collapsed = initial_collapsed(a.graph, found)
    assert (depth, visible_count(a.graph, found, collapsed)) == (2, 58)


def test_explicit_depth_collapses_like_the_tables(resnet50):
    found = blocks(resnet50.graph)
    # depth 1: input conv1 bn1 relu maxpool layer1..4 avgpool flatten fc
    assert visible_count(resnet50.graph, found, collapsed_at(found, 1)) == 12
    # depth 3: only the four projection shortcuts (2 layers each) collapse
    assert visible_count(resnet50.graph, found, collapsed_at(found, 3)) == 176 - 4
    data = view_data(resnet50, depth=1)
    assert sorted(data["groups"][j]["path"] for j in data["collapsed"]) == sorted(
        p for p, b in found.items())          # every block is at level 1 or deeper


def test_small_models_start_expanded(branchy):
    data = view_data(cnnstat.analyze(str(branchy)))
    assert data["depth"] is None and data["collapsed"] == []
    assert len(data["nodes"]) == 20                  # 19 layers and the input


def test_budget_holds_for_every_zoo_family():
    """The first drawing of each zoo file's default model is at most NODE_BUDGET nodes, or
    collapses everything it can (depth 1)."""
    from cnnstat import zoo
    for path in zoo.files():
        d = zoo.definition(path)
        name = d.default_variant or str(d.doc.get("name", path.stem))
        a = cnnstat.analyze(name)
        found = blocks(a.graph)
        depth, collapsed = initial_collapsed(a.graph, found)
        shown = visible_count(a.graph, found, collapsed)
        assert shown <= NODE_BUDGET or depth == 1, (name, depth, shown)
        view_data(a)                                  # and serializes


# -- what the panel and the totals show -------------------------------------------------------
def test_panel_numbers_are_the_tables(resnet50):
    data = view_data(resnet50)
    conv1 = rows(by_name(data)["conv1"])
    # conv1: 64 x 3 x 7 x 7 = 9,408 weights, no bias; MACs 64 x 112 x 112 x (3 x 7 x 7) = 118,013,952
    assert conv1["parameters"] == "9,408 (9.41 K)"
    assert conv1["MACs"] == "118,013,952 (118.01 MMAC)"
    assert conv1["FLOPs"] == "236,027,904 (236.03 MFLOP)"
    assert conv1["output"] == "[1, 64, 112, 112]"
    assert conv1["size (px)"] == "7" and conv1["effective stride"] == "2"
    assert conv1["effective padding"] == "3"
    assert conv1["defined at"].startswith("cnnstat/zoo/resnet.yaml:")
    bn1 = rows(by_name(data)["bn1"])
    assert bn1["buffers"] == "129"                     # running mean, var (64 each) + count
    assert data["convention"] == resnet50.convention.describe()
    facts = dict(data["facts"])
    assert facts["parameters"].startswith("25,557,032")


def test_block_counts_are_sums_of_their_layers(branchy):
    a = cnnstat.analyze(str(branchy))
    data = view_data(a)
    ents = by_name(data)
    # inc: 136 (b1) + 136 + 584 (b2) + 136 (b3) = 992; res: 6,912 + 64 + 9,216 + 768 + 64 = 17,024
    assert rows(ents["inc"])["parameters"] == "992"
    assert rows(ents["res"])["parameters"] == "17,024 (17.02 K)"
    # the top level partitions the model: blocks without a parent + layers in no block = totals
    top = [g for g in data["groups"] if g["parent"] is None] + \
          [n for n in data["nodes"] if n["group"] is None]
    assert sum(e["m"][1] for e in top) == a.totals.params == 19_034
    assert sum(e["m"][0] for e in top) == a.totals.macs
    # a block's output is its last layer's
    assert ents["res"]["shape"] == "32×16×16" and ents["res"]["last"] == data["nodes"].index(
        ents["res.add"])
    # edges across the block boundary
    names = [n["name"] for n in data["nodes"]]
    assert [names[i] for i in ents["inc"]["in"]] == ["stem"]
    assert sorted(names[i] for i in ents["inc"]["out"]) == ["res.conv1", "res.shortcut.0", "skip"]


def test_receptive_field_geometry_for_drawing(resnet50):
    data = view_data(resnet50)
    ents = by_name(data)
    # [size, stride, padding, whole input] per axis
    assert ents["conv1"]["rf"]["h"] == [7, 2, 3, False]
    # maxpool 3/2 pad 1 after conv1: 7 + 2*2 = 11, stride 4, padding 3 + 1*2 = 5
    assert ents["maxpool"]["rf"]["w"] == [11, 4, 5, False]
    assert ents["fc"]["rf"]["h"][3] is True
    assert data["input"] == {"c": 3, "h": 224, "w": 224, "d": 1, "rank": 2,
                             "axes": ["height", "width"], "unit": "px", "spatial": True}


def test_envelope_fields_list_exact_unit_fields():
    # U-Net's output field is an envelope (~215, after the up-convolutions); the panel adds the
    # exact fields of the top-left and centre units (cnnstat rf --at), which the drawing cannot
    # show; layers with exact fields do not get them.
    ents = by_name(view_data(cnnstat.analyze("unet")))
    out = rows(ents["out"])
    assert out["exact, top-left unit"] == "input rows 0-187 and columns 0-187 (188x188 px)"
    assert out["exact, centre unit"] == "input rows 192-379 and columns 192-379 (188x188 px)"
    assert "exact, centre unit" not in rows(ents["enc1.conv1"])


def test_bad_arguments(resnet50):
    with pytest.raises(UsageError, match="unknown metric"):
        view_data(resnet50, metric="speed")
    with pytest.raises(UsageError, match="positive"):
        view_data(resnet50, depth=0)


# -- the page -------------------------------------------------------------------------------------
def test_page_is_self_contained(resnet50):
    html = render_view(resnet50)
    # nothing to fetch: no external scripts, styles, images, fonts or imports
    assert not re.search(r"""<(script|link|img|iframe)\b[^>]*\b(src|href)\s*=""", html, re.I)
    assert not re.search(r"""url\(\s*['"]?(https?:)?//""", html, re.I)
    assert "@import" not in html
    for call in ("fetch(", "XMLHttpRequest", "import(", "importScripts"):
        assert call not in html
    # the layout library is inlined with its licence notice
    assert "@dagrejs/dagre 3.1.3" in html and "Permission is hereby granted" in html
    assert html.count("<script") == 3 and html.count("</script>") == 3


def test_text_in_the_data_cannot_end_the_script(branchy):
    html = render_view(cnnstat.analyze(str(branchy)))
    assert html.count("</script>") == 3                # the title's '</script>' is escaped
    data = page_data(html)
    assert data["title"].endswith("</script><!-- not markup")
    assert "<title>branchy · cnnstat view</title>" in html


def test_write_view_is_atomic(resnet50, tmp_path, monkeypatch):
    out = tmp_path / "sub" / "r50.html"
    assert write_view(resnet50, out) == str(out)
    assert page_data(out.read_text(encoding="utf-8"))["model"] == "resnet50"
    # a failure while rendering leaves the previous file as it was, and no temporary file
    before = out.read_bytes()

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr("cnnstat.view.render_page", broken)
    with pytest.raises(RuntimeError):
        write_view(resnet50, out)
    assert out.read_bytes() == before
    assert sorted(p.name for p in out.parent.iterdir()) == ["r50.html"]


# -- the command ----------------------------------------------------------------------------------
def run_cli(*args: str) -> tuple[int, str, str]:
    proc = subprocess.run([sys.executable, "-m", "cnnstat", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    return proc.returncode, proc.stdout, proc.stderr


def test_cli_writes_the_page(tmp_path, branchy):
    out = tmp_path / "b.html"
    rc, stdout, stderr = run_cli("view", str(branchy), "--out", str(out), "--color", "params",
                                 "--input", "64")
    assert rc == 0, stderr
    assert stderr.strip() == f"wrote {out}"
    data = page_data(out.read_text(encoding="utf-8"))
    assert data["metric"] == "params"
    assert data["input"]["h"] == 64


def test_cli_default_file_name(tmp_path, branchy):
    proc = subprocess.run([sys.executable, "-m", "cnnstat", "view", str(branchy)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "branchy.html").is_file()


@pytest.mark.parametrize("args, message", [
    (("view", "resnet5000"), "error: unknown model 'resnet5000'"),
    (("view", "vgg16", "--color", "speed"), "error: "),
    (("view", "vgg16", "--depth", "0"), "error: "),
    (("view", "vgg16", "--input", "8"), "error: "),            # too small for VGG's pools
])
def test_cli_errors_are_one_line(tmp_path, args, message):
    out = tmp_path / "x.html"
    rc, stdout, stderr = run_cli(*args, "--out", str(out))
    assert rc == 2
    assert stderr.startswith(message) and stderr.count("\n") == 1, stderr
    assert "Traceback" not in stderr
    assert not out.exists()


def test_open_starts_a_browser(monkeypatch, tmp_path, capsys, branchy):
    from cnnstat.cli import main
    opened = []
    monkeypatch.setattr("webbrowser.open", lambda url: opened.append(url) or True)
    out = tmp_path / "o.html"
    assert main(["view", str(branchy), "--out", str(out), "--open"]) == 0
    assert opened == [out.resolve().as_uri()]


def test_view_does_not_import_torch(tmp_path):
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "cnnstat", "view", "vgg16",
                           "--out", str(tmp_path / "v.html")], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    modules = {line.split("|")[-1].strip().split(".")[0]
               for line in proc.stderr.splitlines() if line.startswith("import time:")}
    assert "cnnstat" in modules
    assert not modules & {"torch", "pandas", "matplotlib"}
