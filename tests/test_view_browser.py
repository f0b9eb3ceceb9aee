"""`cnnstat view` in a real browser: headless Chromium (Debian's `chromium`) driven by Playwright.

Each test opens a written page from file://, with a fresh profile and no network, and checks what
a reader sees: the number of nodes drawn, a node's record in the panel, a block expanding and
collapsing, the receptive field drawn on the input, search, colouring. Screenshots go to the
test's tmp_path, and also to $CNNSTAT_VIEW_SCREENSHOTS when set (to look at them).

Where Playwright or Chromium is missing, or Chromium cannot start, every test here skips and says
why; `.ci/run` installs Debian's chromium when it can.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

import cnnstat
from cnnstat.view import write_view
from cnnstat.view.data import blocks, visible_count

from .test_view import BRANCHY

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium_path() -> str | None:
    for candidate in (os.environ.get("CNNSTAT_CHROMIUM"), shutil.which("chromium"),
                      shutil.which("chromium-browser")):
        if candidate and os.path.exists(candidate):
            return candidate
    return None


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("browser tests need the 'playwright' package (pip install -e '.[test]')")
    exe = chromium_path()
    if exe is None:
        pytest.skip("browser tests need headless Chromium: install Debian's chromium "
                    "(apt-get install chromium) or set CNNSTAT_CHROMIUM")
    pw = sync_playwright().start()
    try:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=exe, headless=True,
            args=CHROMIUM_ARGS, viewport={"width": 1400, "height": 900}, timeout=60_000)
    except Exception as exc:  # an environment without what Chromium needs to run
        pw.stop()
        pytest.skip(f"Chromium ({exe}) could not start: {str(exc).splitlines()[0]}")
    yield context
    context.close()
    pw.stop()


class View:
    """One page of the view, with what it logged and requested."""

    def __init__(self, context, path: Path):
        self.page = context.new_page()
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("request", lambda r: self.requests.append(r.url))
        started = time.perf_counter()
        self.page.goto(path.resolve().as_uri())
        self.page.wait_for_selector("body[data-ready='1']", timeout=60_000)
        self.load_seconds = time.perf_counter() - started

    def nodes(self) -> int:
        return self.page.locator("#nodes g.node").count()

    def idle(self) -> None:
        self.page.wait_for_function("document.getElementById('busy').hidden", timeout=60_000)

    def click_node(self, name: str, part: str = "") -> None:
        """A real mouse click on a drawn node (brought to the middle of the view first)."""
        self.page.evaluate("name => cnnstatView.center(name)", name)
        self.page.click(f"#nodes g.node[data-name='{name}'] {part}".strip())
        self.idle()

    def panel(self) -> str:
        return self.page.inner_text("#panel")

    def screenshot(self, tmp_path: Path, name: str) -> Path:
        path = tmp_path / f"{name}.png"
        self.page.screenshot(path=str(path))
        keep = os.environ.get("CNNSTAT_VIEW_SCREENSHOTS")
        if keep:
            Path(keep).mkdir(parents=True, exist_ok=True)
            shutil.copy(path, Path(keep) / path.name)
        return path

    def check_clean(self) -> None:
        assert self.errors == []
        assert all(url.startswith(("file:", "data:", "blob:")) for url in self.requests), \
            self.requests


def write(tmp_path: Path, model: str, **kwargs) -> tuple[Path, cnnstat.Analysis]:
    a = cnnstat.analyze(model, **kwargs)
    path = tmp_path / f"{Path(model).stem}.html"
    write_view(a, path)
    return path, a


def first_drawing(a) -> int:
    """Nodes of the first drawing, counted by cnnstat (Python) to compare with the page (JS)."""
    from cnnstat.view.data import initial_collapsed
    found = blocks(a.graph)
    return visible_count(a.graph, found, initial_collapsed(a.graph, found)[1])


def not_blank(png: Path) -> bool:
    import matplotlib.image as mpimg
    import numpy as np
    pixels = mpimg.imread(str(png))[..., :3].reshape(-1, 3)
    return len(np.unique((pixels * 255).astype(int), axis=0)) > 50


def test_resnet50(browser, tmp_path):
    path, _ = write(tmp_path, "resnet50")
    view = View(browser, path)
    # input, conv1, bn1, relu, maxpool, 16 bottlenecks, avgpool, flatten, fc
    assert view.nodes() == 24
    assert view.page.inner_text("#totals").count("25,557,032") == 1
    assert "FLOPs = 2 x MACs" in view.page.inner_text("#convention")

    view.click_node("conv1")
    panel = view.panel()
    assert panel.splitlines()[0] == "conv1"
    # 64 x 3 x 7 x 7 weights; 64 x 112 x 112 x 147 multiply-adds; RF 7, stride 2, padding 3
    assert "9,408 (9.41 K)" in panel
    assert "118,013,952 (118.01 MMAC)" in panel
    assert "Conv2d(3, 64, kernel_size=(7, 7), stride=(2, 2), padding=(3, 3), bias=False)" in panel
    # the top-left output unit sees rows -3..3: 3 rows and 3 columns of zero padding
    assert "sees input rows -3 … 3 and columns -3 … 3: 7×7 px." in panel
    assert "3 of its rows and 3 of its columns lie in the padding" in panel
    assert view.page.locator("#nodes g.node.selected").count() == 1

    # expand a bottleneck: 1 node becomes conv1 bn1 relu1 conv2 bn2 relu2 conv3 bn3, the
    # projection (a block), add, relu3 = 11 nodes
    view.click_node("layer1.0", ".toggle")
    assert view.nodes() == 24 - 1 + 11
    assert view.page.locator("#clusters g.cluster[data-path='layer1.0']").count() == 1
    assert view.page.locator("#nodes g.node[data-name='layer1.0.downsample']").count() == 1
    shot = view.screenshot(tmp_path, "view-resnet50-expanded")
    assert not_blank(shot)
    # and collapse it again with the box's − button
    view.page.click("#clusters g.cluster[data-path='layer1.0'] .toggle")
    view.idle()
    assert view.nodes() == 24
    view.check_clean()


def test_receptive_field_drawing(browser, tmp_path):
    path, _ = write(tmp_path, "resnet50")
    view = View(browser, path)
    view.click_node("conv1")
    # a 7-pixel field on a 224-pixel input also gets a close-up; in it the field is 7 pixels wide
    # and the next unit's field starts 2 pixels (the stride) further: width / offset = 7 / 2
    close = view.page.locator("#rf svg[data-view='close-up']")
    assert close.count() == 1
    box = {k: float(close.locator("rect.rf-box").get_attribute(k)) for k in ("x", "width")}
    nxt = float(close.locator("rect.rf-next").get_attribute("x"))
    assert box["width"] / (nxt - box["x"]) == pytest.approx(7 / 2)
    # centre unit: (55, 55) of 112x112 sees rows 55*2-3 = 107 .. 113, inside the image
    view.page.click("#rf button[data-unit='centre']")
    panel = view.panel()
    assert "Output unit (row 55, col 55) of 112×112" in panel
    assert "sees input rows 107 … 113 and columns 107 … 113: 7×7 px." in panel
    assert "All of it lies inside the image." in panel
    # a layer after global pooling sees the whole input
    view.page.fill("#search", "fc")
    view.page.keyboard.press("Enter")
    view.idle()
    assert "sees the whole input" in view.panel()
    view.check_clean()


def test_receptive_fields_of_1d_and_3d_models(browser, tmp_path):
    # a 1-D input is drawn as one row of positions: M5's first convolution (80 taps, stride 4,
    # padding 38): its first unit sees positions -38 .. 41, 38 of them in the padding
    path, _ = write(tmp_path, "m5")
    view = View(browser, path)
    view.click_node("conv1")
    panel = view.panel()
    assert "Output unit (position 0) of 8000" in panel
    assert "sees input positions -38 … 41: 80 samples." in panel
    assert "Part of it lies in the padding" in panel
    assert view.page.locator("#rf svg[data-view='close-up'] rect.rf-box").count() == 1
    assert not_blank(view.screenshot(tmp_path, "view-m5-conv1"))
    view.check_clean()
    # a 3-D input: the height x width plane is drawn, the depth given in words
    path, _ = write(tmp_path, "c3d")
    view = View(browser, path)
    view.click_node("pool1")
    view.page.click("#rf button[data-unit='centre']")
    panel = view.panel()
    # pool1 (1x2x2) after a 3x3x3 conv: the centre unit (7, 27, 27) of 16x56x56 sees slices
    # 7 - 1 .. 7 + 1 and rows / columns 2*27 - 1 .. 2*27 + 2 = 53 .. 56
    assert "Output unit (depth 7, row 27, col 27) of 16×56×56" in panel
    assert "Along the depth: slices 6 … 8 of 16 (3 deep)" in panel
    assert "sees input rows 53 … 56 and columns 53 … 56: 4×4 voxels." in panel
    assert "All of it lies inside the input." in panel
    assert "receptive field (input voxels)" in panel.lower()
    assert not_blank(view.screenshot(tmp_path, "view-c3d-pool1"))
    view.check_clean()


def test_googlenet_branches_side_by_side(browser, tmp_path):
    path, a = write(tmp_path, "googlenet")
    view = View(browser, path)
    assert view.nodes() == first_drawing(a)
    data = view.page.evaluate("cnnstatView.data")
    groups = data["groups"]
    module = next(j for j, g in enumerate(groups) if g["path"] == "inception3a")
    assert module not in data["collapsed"]
    # the branches of the first Inception module: boxes (or collapsed nodes) in one row
    branches = [g["path"] for g in groups if g["parent"] == module]
    assert len(branches) >= 3
    rects = []
    for b in branches:
        loc = view.page.locator(f"#clusters g.cluster[data-path='{b}'] > rect, "
                                f"#nodes g.node[data-name='{b}'] rect.box")
        rects.append(loc.first.bounding_box())
    rects.sort(key=lambda r: r["x"])
    for left, right in zip(rects, rects[1:]):
        assert left["x"] + left["width"] <= right["x"] + 1          # side by side, no overlap
    tops = [r["y"] for r in rects]
    assert max(tops) - min(tops) < 200                             # in the same rows

    # expand one collapsed block: its layers replace it
    collapsed = [groups[j] for j in data["collapsed"]
                 if groups[j]["parent"] == module or (groups[j]["parent"] is not None and
                                                      groups[groups[j]["parent"]]["parent"] == module)]
    target = collapsed[0]
    before = view.nodes()
    view.click_node(target["path"], ".toggle")
    assert view.nodes() == before - 1 + target["n"]
    # now a box: clicking its label selects the block
    view.page.click(f"#clusters g.cluster[data-path='{target['path']}'] > text")
    assert view.panel().splitlines()[0] == target["path"]
    assert f"{target['n']} layers" in view.panel()
    view.screenshot(tmp_path, "view-googlenet")
    view.check_clean()


def test_unet_skips(browser, tmp_path):
    path, a = write(tmp_path, "unet")
    view = View(browser, path)
    assert view.nodes() == first_drawing(a)
    # every crop-and-concatenate merges two drawn edges: the decoder path and the skip
    concats = [r.name for r in a.records if r.op == "concat"]
    assert len(concats) == 4
    for name in concats:
        key = view.page.evaluate("name => cnnstatView.keyOf(name)", name)
        assert view.page.locator(f"#edges path.edge[data-b='{key}']").count() == 2
    view.click_node(concats[0])
    panel = view.panel()
    inputs = panel.split("INPUTS", 1)[1].split("READ BY", 1)[0]
    assert len([line for line in inputs.splitlines() if line.strip()]) == 2
    # collapse a block, then expand it again
    block = next(g for g in view.page.evaluate("cnnstatView.data.groups") if g["parent"] is None)
    before = view.nodes()
    view.page.evaluate("path => cnnstatView.center(path)", block["path"])
    view.page.click(f"#clusters g.cluster[data-path='{block['path']}'] .toggle")
    view.idle()
    assert view.nodes() == before - block["n"] + 1
    view.click_node(block["path"], ".toggle")
    assert view.nodes() == before
    view.screenshot(tmp_path, "view-unet")
    view.check_clean()


def test_search_colour_and_skip_in_a_small_model(browser, tmp_path):
    src = tmp_path / "branchy.yaml"
    src.write_text(BRANCHY, encoding="utf-8")
    path, a = write(tmp_path, str(src))
    view = View(browser, path)
    assert view.nodes() == 20
    assert view.page.title() == "branchy · cnnstat view"
    # search by name selects a block and shows its summed record
    view.page.fill("#search", "res.short")
    # the block first (shortest name), then its two layers
    assert view.page.locator("#results li[data-key] .nm").all_inner_texts() == [
        "res.shortcut", "res.shortcut.0", "res.shortcut.1"]
    view.page.keyboard.press("Enter")
    view.idle()
    panel = view.panel()
    assert panel.splitlines()[0] == "res.shortcut"
    assert "832" in panel                         # 24 x 32 (1x1 conv) + 64 (batch norm)
    # colour by parameters: a layer without parameters is grey, a convolution is not
    view.page.select_option("#metric", "params")
    assert "parameters" in view.page.inner_text("#legend")
    fill = lambda name: view.page.get_attribute(f"#nodes g.node[data-name='{name}'] rect.box", "fill")
    assert fill("up") == "#eef0f3" and fill("stem") != "#eef0f3"
    view.screenshot(tmp_path, "view-branchy")
    view.check_clean()


@pytest.mark.parametrize("model", ["resnet152", "densenet201", "efficientnet_b7"])
def test_large_models_stay_responsive(browser, tmp_path, model):
    path, a = write(tmp_path, model)
    view = View(browser, path)
    assert len(a.graph) > 500
    assert view.nodes() == first_drawing(a) <= 120
    assert view.load_seconds < 20
    # expanding a block relays out quickly (and the result is cached: collapsing is instant)
    block = next(g for g in view.page.evaluate("cnnstatView.data.groups")
                 if g["parent"] is None and g["n"] > 20)
    started = time.perf_counter()
    view.page.evaluate("path => cnnstatView.reveal(path)", block["path"])
    view.idle()
    assert time.perf_counter() - started < 10
    view.check_clean()


@pytest.mark.slow
def test_expand_all_of_the_largest(browser, tmp_path):
    path, a = write(tmp_path, "densenet201")
    view = View(browser, path)
    view.page.click("#expand-all")
    view.idle()
    assert view.nodes() == len(a.graph)
    view.screenshot(tmp_path, "view-densenet201-all")
    view.check_clean()
