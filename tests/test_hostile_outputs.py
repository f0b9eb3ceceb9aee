"""Hostile text that is accepted (issue 19): a model file from a stranger whose names, titles,
notes and operator types hold HTML, Markdown links, spreadsheet formulas, rich markup and
matplotlib mathtext. The real CLI must exit 0 and write it inert: these tests read the HTML,
Markdown, CSV and terminal output it produced.
"""

from __future__ import annotations

import csv
import io
import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

TITLE = ("Click [me](javascript:alert(1)) <script>alert(2)</script> ![pixel](http://t.example/p.png)"
         " [ok](https://example.org/paper)")
NOTES = ("<img src=x onerror=alert(3)> | a pipe [x](data:text/html,boo) [y]( javascript:alert(4))"
         " <https://auto.example> &lt;entity&gt; [ref]: javascript:alert(5)")
NAME = "=cmd|' /C calc'!A0 a[/]b [bold red]x[/] $\\undefinedmacro{$ :smile:"
HOSTILE = f"""\
name: {NAME!r}
title: {TITLE!r}
notes: {NOTES!r}
url: "javascript:alert(6)"
input: [3, 32, 32]
layers:
  - conv: conv2d(8, 3)
  - relu
  - pool: global_avgpool
  - flatten
  - fc: linear(10)
"""


def cli(*args: str, cwd: Path, stdout=subprocess.PIPE) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "120", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "cnnstat", *args], cwd=cwd, stdout=stdout,
                          stderr=subprocess.PIPE, text=True, env=env, timeout=300)


@pytest.fixture(scope="module")
def hostile(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("hostile")
    (folder / "hostile.yaml").write_text(HOSTILE, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def report(hostile) -> Path:
    done = cli("report", "hostile.yaml", "--out", "r", cwd=hostile)
    assert done.returncode == 0, done.stderr
    return hostile / "r"


class Tags(HTMLParser):
    """Every start tag with its attributes, and the text."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def html_is_inert(page: str, *, scripts_allowed: int = 0) -> Tags:
    parser = Tags()
    parser.feed(page)
    assert sum(tag == "script" for tag, _ in parser.tags) == scripts_allowed
    for tag, attrs in parser.tags:
        assert not [a for a in attrs if a.startswith("on")], (tag, attrs)
        for key in ("href", "src", "action", "formaction"):
            target = attrs.get(key)
            if target is None:
                continue
            assert re.match(r"(https?://|data:image/svg\+xml;base64,|[A-Za-z0-9_][^:]*$|#)",
                            target), (tag, key, target)
            assert "javascript" not in target.lower() and not target.startswith("data:text")
    return parser


def test_html_report_has_no_live_payload(report):
    page = (report / "hostile" / "hostile.html").read_text(encoding="utf-8")
    parser = html_is_inert(page)
    text = "".join(parser.text)
    assert "<script>alert(2)</script>" in text           # shown, as text
    assert "[me](javascript:alert(1))" in text
    links = [attrs["href"] for tag, attrs in parser.tags if tag == "a"]
    assert "https://example.org/paper" in links            # a real link stays a link
    assert not any("javascript" in link for link in links)


def test_markdown_report_has_no_raw_html_or_foreign_links(report):
    for path in (report / "hostile" / "hostile.md", report / "README.md"):
        md = path.read_text(encoding="utf-8")
        assert "<script" not in md and "<img" not in md and "<https://auto" not in md
        for target in re.findall(r"(?<!\\)\]\(([^)]*)\)", md):
            assert target.startswith(("http://", "https://")) or not re.match(r"\w+:", target), \
                (path.name, target)
        assert not re.search(r"(?<!\\)!\[pixel\]", md)        # no image from text
        assert not re.search(r"(?<!\\)\]\((data|javascript):", md)
        assert not re.search(r"(?<!\\)\]: javascript", md)
        # rendered as GitHub would: the payload is text
        assert "&lt;script>alert(2)&lt;/script>" in md or path.name == "README.md"


def test_markdown_tables_keep_their_rows(report):
    md = (report / "hostile" / "hostile.md").read_text(encoding="utf-8")
    for block in re.split(r"\n\s*\n", md):
        rows = [line for line in block.splitlines() if line.startswith("|")]
        if len(rows) < 2:
            continue
        cells = [len(re.findall(r"(?<!\\)\|", row)) for row in rows]
        assert len(set(cells)) == 1, block                  # no cell split a row


def test_index_markdown_escapes_the_title(report):
    index = (report / "README.md").read_text(encoding="utf-8")
    row = next(line for line in index.splitlines() if line.startswith("| [hostile.yaml]"))
    assert "&lt;script>alert(2)&lt;/script>" in row and "[me\\](javascript" in row


def test_csv_cells_do_not_start_formulas(hostile):
    done = cli("rf", "hostile.yaml", "--at", "conv", "--format", "csv", cwd=hostile)
    assert done.returncode == 0, done.stderr
    rows = list(csv.reader(io.StringIO(done.stdout)))
    assert rows[1][0] == "'" + NAME                      # the name, made inert for spreadsheets
    for row in rows:
        for cell in row:
            assert not cell.startswith(("=", "+", "@", "\t", "\r")) and \
                (not cell.startswith("-") or re.fullmatch(r"-[\d.]*", cell))


def test_terminal_output_is_text(hostile):
    for args in (["params", "hostile.yaml"], ["rf", "hostile.yaml", "--at", "conv"],
                 ["summary", "hostile.yaml", "--format", "md"]):
        done = cli(*args, cwd=hostile)
        assert done.returncode == 0, (args, done.stderr)
        assert "a[/]b" in done.stdout and "[bold red]x[/]" in done.stdout, args
        assert ":smile:" in done.stdout                     # no emoji codes either
        assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", done.stdout + done.stderr), args


def test_plots_take_mathtext_as_text(report):
    for suffix in ("layers", "memory", "rf"):
        svg = (report / "hostile" / f"hostile-{suffix}.svg").read_text(encoding="utf-8")
        assert "undefinedmacro" in svg
    assert (report / "hostile" / "hostile-layers.png").stat().st_size > 1000


def _onnx_with_op_type(path: Path, op_type: str) -> None:
    """A Conv, then an operator of another domain (shape given as value_info): imported as a
    not_counted layer named by its op type."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8, 6, 6])
    c = helper.make_tensor_value_info("c", TensorProto.FLOAT, [1, 8, 6, 6])
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="/conv/Conv"),
             helper.make_node(op_type, ["c"], ["y"], name="/evil/Op", domain="evil")]
    graph = helper.make_graph(nodes, "g", [x], [y], value_info=[c],
                              initializer=[numpy_helper.from_array(np.zeros((8, 3, 3, 3),
                                                                            np.float32), "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13),
                                                    helper.make_opsetid("evil", 1)])
    onnx.save(model, path)


def test_onnx_op_type_is_escaped_everywhere(tmp_path):
    payload = "<img src=x onerror=alert(7)>|[z](javascript:alert(8))"
    _onnx_with_op_type(tmp_path / "evil.onnx", payload)
    done = cli("report", "evil.onnx", "--out", "r", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    page = (tmp_path / "r" / "evil.onnx" / "evil.onnx.html").read_text(encoding="utf-8")
    assert payload in "".join(html_is_inert(page).text)
    md = (tmp_path / "r" / "evil.onnx" / "evil.onnx.md").read_text(encoding="utf-8")
    assert "<img" not in md and not re.search(r"(?<!\\)\]\(javascript", md)
    assert "&lt;img src=x onerror=alert(7)>\\|" in md
    table = cli("summary", "evil.onnx", cwd=tmp_path)
    assert table.returncode == 0 and "evil.<img src=x onerror=alert(7)>" in table.stdout


def test_a_255_byte_file_name_is_written(tmp_path):
    name = "n" * 252 + ".md"                              # NAME_MAX: 255 bytes
    done = cli("params", "lenet5", "--out", name, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert [p.name for p in tmp_path.iterdir()] == [name]
    assert (tmp_path / name).read_text().startswith("## lenet5")


def test_report_of_a_network_without_weights(tmp_path):
    (tmp_path / "pools.yaml").write_text("input: [3, 32, 32]\nlayers:\n  - relu\n"
                                         "  - maxpool2d(2)\n")
    done = cli("report", "pools.yaml", "--out", "r", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    md = (tmp_path / "r" / "pools" / "pools.md").read_text(encoding="utf-8")
    assert "No layer has parameters" in md


# -- notebook display (cnnstat.display) and the history's outputs: the same escaper ------------
def test_notebook_display_is_inert(hostile):
    """A hostile definition in a notebook: the HTML fragment, the Markdown and the embedded view
    (an iframe whose srcdoc is the page, escaped by escape.html_attr) carry no live payload."""
    import html as html_module
    import cnnstat
    from cnnstat.display import LayerTable
    a = cnnstat.analyze(str(hostile / "hostile.yaml"))
    fragment = a._repr_html_()
    text = "".join(html_is_inert(fragment).text)
    assert "<script>alert(2)</script>" in text and NAME in text
    md = a._repr_markdown_()
    assert "<script" not in md and "<img" not in md
    assert not re.search(r"(?<!\\)\]\((data|javascript):", md)
    assert NAME in str(LayerTable(a))                       # the terminal form: text
    page = a.view()
    frame = page._repr_html_()
    parser = html_is_inert(frame)                         # the page is inside the attribute
    (tag, attrs), = parser.tags
    assert tag == "iframe" and attrs["sandbox"] == "allow-scripts"
    assert attrs["srcdoc"] == page.html                     # exactly the page, every line kept
    assert html_module.unescape(frame.split('srcdoc="')[1].split('"')[0]) == page.html


def test_embed_title_and_page_cannot_leave_the_iframe():
    from cnnstat.display import Page
    from cnnstat.report.document import Embed, to_markdown
    evil = '"><script>alert(9)</script><iframe src="javascript:alert(10)'
    frame = Page(f"<p>{evil}</p>\n<p>line two</p>", evil)._repr_html_()
    (tag, attrs), = html_is_inert(frame).tags
    assert attrs["title"] == evil and attrs["srcdoc"] == f"<p>{evil}</p>\n<p>line two</p>"
    assert "<script" not in to_markdown([Embed(evil, "x")])


@pytest.fixture(scope="module")
def hostile_history():
    """The zoo's history with its texts (names, ideas, citations, links) replaced by payloads;
    every other output path is the real one."""
    import dataclasses
    import cnnstat
    from cnnstat.report import history as hist
    from cnnstat.report.compare import compare_row
    archs, steps = hist.load()
    archs, steps = archs[:3], [s for s in steps if s.child in {a.name for a in archs[:3]}
                               and s.parent in {a.name for a in archs[:3]}]
    source = hist.Source("evil", NAME, TITLE, "javascript:alert(11)")
    rename = {a.name: f"{NAME} {a.name}" for a in archs}
    archs = tuple(dataclasses.replace(a, name=rename[a.name], source=source,
                                      family="_" + NOTES) for a in archs)
    steps = tuple(dataclasses.replace(s, parent=rename[s.parent], child=rename[s.child],
                                      idea=TITLE, detail=NOTES, source=source, origin=source)
                  for s in steps)
    rows = [compare_row(cnnstat.analyze(m), m) for a in archs for m in a.models]
    return hist.History(archs, tuple(steps), {r.label: r for r in rows},
                        cnnstat.Convention.parse(None))


def test_history_outputs_are_inert(hostile_history):
    from cnnstat import plots
    from cnnstat.cli.history import family_tree
    from cnnstat.report.document import to_html, to_markdown
    from cnnstat.view.history import history_data
    h = hostile_history
    assert len(h.steps) >= 1
    # HTML and Markdown (report blocks), the notebook's fragment
    blocks = h.blocks(None, level=2)
    text = "".join(html_is_inert(to_html("history", blocks, {})).text)
    assert "<script>alert(2)</script>" in text
    html_is_inert(h._repr_html_())
    md = to_markdown(blocks)
    assert "<script" not in md and "<img" not in md
    assert not re.search(r"(?<!\\)\]\((data|javascript):", md)
    # CSV: no cell starts a formula
    for row in csv.reader(io.StringIO(h.to_csv())):
        assert not any(c.startswith(("=", "+", "@")) for c in row), row
    assert f"'{h.architectures[0].name}" in h.to_csv()
    # the terminal tree: rich markup and control characters are text
    from cnnstat.render.output import markdown
    from cnnstat.render.terminal import Screen, render_blocks
    text = render_blocks([family_tree(h)], Screen(None, False))
    assert "a[/]b [bold red]x[/]" in text and "<script>alert(2)</script>" in text
    tree_md = markdown([family_tree(h)])
    assert "<script" not in tree_md and not re.search(r"(?<!\\)\]\((data|javascript):", tree_md)
    # the interactive page: a paper's link only where it is http(s)
    data = history_data(h)
    assert all(a["source"]["url"] is None for a in data["architectures"])
    # the figures: mathtext off, the names drawn as text
    for draw in (plots.history_figure, plots.tree_figure):
        svg = plots.render_all(draw(h))["svg"].decode()
        assert "undefinedmacro" in svg
