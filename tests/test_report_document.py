"""Report blocks rendered as Markdown and as one self-contained HTML page."""

from __future__ import annotations

import base64

from cnnstat.report.document import (Details, Facts, Figure, Heading, Para, SideBySide, Table,
                                     figures, to_html, to_markdown)

TABLE = Table(["layer", "params"], [["a|b", "1,234"], ["c", "5"]], [False, True],
              ["**total**", "1,239"])


def test_markdown_blocks():
    md = to_markdown([Heading("Title", 1), Para("see `x` and [y](y.csv)"),
                      Facts([("input", "3×224×224")]), TABLE,
                      Figure("m-rf", "rf plot", "caption text"),
                      Details("All layers", [Para("inside")])])
    assert md.startswith("# Title\n\nsee `x` and [y](y.csv)\n\n- **input**: 3×224×224\n")
    # a pipe inside a cell is escaped; numeric columns are right-aligned
    assert "| layer | params |\n|---|---:|\n| a\\|b | 1,234 |\n| c | 5 |\n| **total** | 1,239 |" in md
    # the PNG shows inline and links to the SVG next to it
    assert "[![rf plot](m-rf.png)](m-rf.svg)\n\n*caption text*" in md
    assert "<details>\n<summary>All layers</summary>\n\ninside\n\n</details>" in md
    assert md.endswith("\n") and not md.endswith("\n\n")


def test_html_is_self_contained_and_escaped():
    svg = b"<svg xmlns='http://www.w3.org/2000/svg'></svg>"
    page = to_html("a <b> model", [Heading("T & U", 1), Para("see `x<y` and [csv](m.csv)"),
                                   SideBySide([TABLE, Figure("m-rf", "rf \"plot\"")])],
                   {"m-rf": svg})
    assert page.startswith("<!DOCTYPE html>") and "<style>" in page
    assert "<title>a &lt;b&gt; model</title>" in page
    assert "<h1>T &amp; U</h1>" in page
    assert "<code>x&lt;y</code>" in page and '<a href="m.csv">csv</a>' in page
    assert "<td>a|b</td>" in page and '<td class="num">1,234</td>' in page
    assert '<tr class="total"><td><b>total</b></td>' in page
    data = base64.b64encode(svg).decode()
    assert f'<img alt="rf &quot;plot&quot;" src="data:image/svg+xml;base64,{data}">' in page
    assert '<div class="side">' in page
    assert "http" not in page.replace("http://www.w3.org", "")   # nothing fetched from elsewhere


def test_figures_found_in_nested_blocks():
    blocks = [Figure("a", ""), Details("x", [Figure("b", "")]), SideBySide([Figure("c", "")])]
    assert [f.stem for f in figures(blocks)] == ["a", "b", "c"]
