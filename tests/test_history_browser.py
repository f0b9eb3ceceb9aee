"""Pages inside pages, in a real browser (headless Chromium, as tests/test_view_browser.py): the
family tree page (cnnstat history --out tree.html) and the layer graph embedded in a notebook
output (Analysis.view(): a sandboxed iframe whose srcdoc is the page). Skips without Chromium."""

from __future__ import annotations

from pathlib import Path

import pytest

import cnnstat

from .test_view_browser import browser  # noqa: F401  (the fixture)


def open_page(context, path: Path):
    page = context.new_page()
    errors, requests = [], []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("request", lambda r: requests.append(r.url))
    page.goto(path.resolve().as_uri())
    return page, errors, requests


@pytest.fixture(scope="module")
def history():
    return cnnstat.history()


def test_family_tree_page(browser, history, tmp_path):  # noqa: F811
    path = tmp_path / "tree.html"
    path.write_text(history.page(), encoding="utf-8")
    page, errors, requests = open_page(browser, path)
    page.wait_for_selector("body[data-ready='1']", timeout=30_000)
    assert page.locator("#nodes g.arch").count() == len(history.architectures) == 28
    assert page.locator("path.step").count() == len(history.steps)
    assert "architectures28" in page.inner_text("#totals").replace("\n", "").replace(" ", "")

    page.locator("#nodes g.arch", has_text="ResNet").first.click()
    panel = page.inner_text("#panel")
    assert panel.splitlines()[0] == "ResNet"
    assert "December 2015" in panel and "He, Zhang, Ren & Sun 2016" in panel
    assert "residual add (identity shortcuts)" in panel          # the step from VGG
    assert "resnet50" in panel and "25.56 M" in panel and "76.13%" in panel

    # MobileNet V3: its ancestors and descendants stay lit, the rest is dimmed
    page.locator("#nodes g.arch", has_text="MobileNet V3").first.click()
    name = "MobileNet V3"
    up, down = {name}, {name}
    for _ in history.steps:
        for s in history.steps:
            if s.child in up:
                up.add(s.parent)
            if s.parent in down:
                down.add(s.child)
    dimmed = page.locator("#nodes g.arch.dim").count()
    assert dimmed == len(history.architectures) - len(up | down) > 0
    page.keyboard.press("Escape")
    assert page.locator("#nodes g.arch.dim").count() == 0
    assert errors == []
    assert all(url.startswith(("file:", "data:")) for url in requests), requests


def test_view_inside_a_notebook_output(browser, tmp_path):  # noqa: F811
    """The HTML a notebook shows for resnet50.view(): the graph draws inside the iframe."""
    output = cnnstat.analyze("resnet50").view(height=600)._repr_html_()
    path = tmp_path / "notebook.html"
    path.write_text(f"<!DOCTYPE html><html><body><p>Out[1]:</p>{output}</body></html>",
                    encoding="utf-8")
    page, errors, requests = open_page(browser, path)
    frame = page.frame_locator("iframe")
    frame.locator("body[data-ready='1']").wait_for(timeout=60_000)
    # input, conv1, bn1, relu, maxpool, 16 bottlenecks, avgpool, flatten, fc (as test_view_browser)
    assert frame.locator("#nodes g.node").count() == 24
    assert "25,557,032" in frame.locator("#totals").inner_text()
    assert errors == []
    assert all(url.startswith(("file:", "data:", "about:")) for url in requests), requests
