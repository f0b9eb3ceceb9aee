"""The example notebook (examples/cnnstat_tour.ipynb), run top to bottom in a Jupyter kernel of
this project's Python (nbclient + ipykernel), and its outputs checked: the numbers in the cells
against cnnstat run here, HTML tables, PNG figures, the embedded pages, escaping.

The notebook is committed without outputs (checked below). A few test-only cells are appended
before the run (they are not in the file): a model named ``<script>`` shows as text, a summary
shows its table once, figures are not pyplot's and leave the inline backend alone.
"""

from __future__ import annotations

import base64
import html
import json
import re
import sys
import time
from pathlib import Path

import pytest

import cnnstat

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "examples" / "cnnstat_tour.ipynb"
KERNEL = "cnnstat-test-python"

EVIL = ('name: "<script>alert(1)</script>"\n'
        'title: "<img src=x onerror=alert(2)>"\n'
        'input: [3, 8, 8]\n'
        'layers:\n'
        '  - conv: "conv2d(4, 3)"\n')

# test-only cells, appended before the run: (tag, source)
EXTRA = [
    ("test-python", "import sys\nsys.executable"),
    ("test-evil", "import pathlib, tempfile\n"
                  "evil_path = pathlib.Path(tempfile.mkdtemp()) / 'evil.yaml'\n"
                  f"evil_path.write_text({EVIL!r})\n"
                  "evil = cnnstat.analyze(str(evil_path))\n"
                  "evil"),
    ("test-evil-view", "evil.view()"),
    ("test-summary-once", "cnnstat.summary('lenet5')"),
    ("test-pyplot", "import matplotlib, matplotlib.pyplot as plt\n"
                    "figures = [resnet50.plot_rf(), history.plot_tree()]\n"
                    "len(plt.get_fignums()), matplotlib.get_backend()"),
]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """The executed notebook: (cells by tag, seconds taken by the notebook's own cells)."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    # A kernel spec of this very interpreter (the project's .venv), found first on JUPYTER_PATH.
    tmp = tmp_path_factory.mktemp("notebook")
    spec = tmp / "jupyter" / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "cnnstat tests", "language": "python"}))
    mp = pytest.MonkeyPatch()
    mp.setenv("JUPYTER_PATH", str(tmp / "jupyter"))
    mp.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    own = len(nb.cells)
    for tag, source in EXTRA:
        cell = nbformat.v4.new_code_cell(source)
        cell.metadata["tags"] = [tag]
        nb.cells.append(cell)
    work = tmp / "work"
    work.mkdir()
    client = nbclient.NotebookClient(nb, kernel_name=KERNEL, timeout=240,
                                     resources={"metadata": {"path": str(work)}})
    times = []
    try:
        with client.setup_kernel():
            for i, cell in enumerate(nb.cells):
                start = time.monotonic()
                client.execute_cell(cell, i)
                times.append(time.monotonic() - start)
    finally:
        mp.undo()
    tagged = {c.metadata["tags"][0]: c for c in nb.cells if c.metadata.get("tags")}
    print(f"\nthe notebook's {own} cells ran in {sum(times[:own]):.1f} s")
    return tagged, sum(times[:own])


def outputs(cell, kind: str | None = None) -> list[dict]:
    return [o for o in cell.outputs if kind is None or o["output_type"] == kind]


def result(cell) -> dict:
    """The data of the cell's value (execute_result)."""
    found = outputs(cell, "execute_result")
    assert found, f"no value in {cell.source!r}: {cell.outputs}"
    return found[0]["data"]


def html_of(cell) -> str:
    shown = [o["data"]["text/html"] for o in cell.outputs
             if o["output_type"] in ("execute_result", "display_data")
             and "text/html" in o.get("data", {})]
    assert shown, f"no HTML output in {cell.source!r}"
    return "\n".join(shown)


def png_of(cell) -> bytes:
    data = result(cell)
    assert "image/png" in data, f"no PNG from {cell.source!r}: {list(data)}"
    png = base64.b64decode(data["image/png"])
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 20_000
    return png


def test_committed_without_outputs():
    notebook = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    code = [c for c in notebook["cells"] if c["cell_type"] == "code"]
    assert code
    for cell in code:
        assert cell["outputs"] == [] and cell["execution_count"] is None, \
            f"stored output in {''.join(cell['source'])[:60]!r}: clear the notebook's outputs"
    assert all("tags" in c["metadata"] for c in code), "every code cell is tagged for the tests"


def test_runs_in_this_projects_python(run):
    cells, _ = run
    assert not [c for c in cells.values() for o in c.outputs if o["output_type"] == "error"]
    assert result(cells["test-python"])["text/plain"] == repr(sys.executable)
    assert result(cells["setup"])["text/plain"] == repr(cnnstat.__version__)


def test_vgg16_parameters(run):
    cells, _ = run
    a = cnnstat.analyze("vgg16")
    # 138,357,544: Simonyan & Zisserman's 138 million; the first fully connected layer holds
    # 25088 × 4096 + 4096 = 102,764,544 of them
    assert result(cells["vgg16-params"])["text/plain"] == str(a.totals.params) == "138357544"
    summary = cells["vgg16-summary"]
    assert not outputs(summary, "execute_result")            # an assignment shows no value
    page = html_of(summary)
    assert "<table>" in page and "138,357,544" in page and "output shape" in page
    assert "MACs</th>" not in page                           # columns= chose the columns
    assert "102764544" in result(cells["vgg16-largest"])["text/html"]


def test_paper_tables(run):
    cells, _ = run
    table1 = html_of(cells["googlenet-table1"])
    assert "<table>" in table1 and "inception (3a)" in table1 and "159K" in table1
    macs = cnnstat.analyze("googlenet-paper").totals.macs          # "1.5 billion multiply-adds"
    assert result(cells["googlenet-macs"])["text/plain"] == str(macs)
    assert 1.5e9 <= macs < 1.6e9
    resnet = html_of(cells["resnet-table1"])
    assert "conv2_x" in resnet and "3.8" in resnet and "Architectures for ImageNet" in resnet


def test_resnet50(run):
    cells, _ = run
    a = cnnstat.analyze("resnet50")
    page = html_of(cells["resnet50"])
    assert "25,557,032" in page and "4,089,184,256" in page
    assert f"All {len(a.records)} layers" in page            # every layer, collapsed
    assert "1 fused multiply-add = 1 MAC" in page             # the convention line
    assert result(cells["resnet50-totals"])["text/plain"] == \
        f"({a.totals.params}, {a.totals.macs})"
    png_of(cells["resnet50-rf"])
    png_of(cells["resnet50-layers"])


def test_view_is_embedded_and_self_contained(run):
    cells, _ = run
    frame = html_of(cells["resnet50-view"])
    m = re.fullmatch(r'<iframe title="([^"]*)" srcdoc="([^"]*)" sandbox="([^"]*)" style="[^"]*">'
                     r"</iframe>", frame)
    assert m, frame[:300]
    assert m.group(3).split()[0] == "allow-scripts"
    from cnnstat.view import render_view
    assert html.unescape(m.group(2)) == render_view(cnnstat.analyze("resnet50"))
    tree = html_of(cells["history-view"])
    assert "<iframe" in tree and "family tree" in tree


def test_custom_definition(run):
    cells, _ = run
    source = cells["custom"].source
    definition = re.search(r'definition = """\n(.*?)"""', source, re.S).group(1)
    from cnnstat.definition import parse_definition
    a = cnnstat.analyze(parse_definition(definition, "small_cnn.yaml"))
    assert result(cells["custom-totals"])["text/plain"] == f"({a.totals.params}, {a.totals.macs})"
    page = html_of(cells["custom"])
    assert "small-cnn" in page and f"{a.totals.params:,}" in page and "RF size" in page


def test_imported_torchvision_model(run):
    cells, _ = run
    page = html_of(cells["torchvision"])
    assert "<table>" in page and "batch 1" in page
    ours, torch_count = eval(result(cells["torchvision-params"])["text/plain"])
    assert ours == torch_count > 1_000_000


def test_check_and_compare(run):
    cells, _ = run
    assert "verdict: agree" in html_of(cells["check"])
    assert result(cells["check-ok"])["text/plain"] == "True"
    page = html_of(cells["compare"])
    assert page.count("<tr>") == 7 and "efficientnet_b0" in page   # header + 6 models
    png_of(cells["compare-plot"])
    png_of(cells["sweep-plot"])


def test_history(run):
    cells, _ = run
    png_of(cells["history-plot"])
    png_of(cells["history-tree"])
    page = html_of(cells["history-table"])
    assert "EfficientNetV2" in page and "Sources" in page and "arXiv:1512.03385" in page


def test_names_are_shown_as_text(run):
    cells, _ = run
    page = html_of(cells["test-evil"])
    assert "<script>alert(1)" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    frame = html_of(cells["test-evil-view"])
    assert "<script>alert(1)" not in frame and "<img src=x" not in frame
    inner = html.unescape(re.search(r'srcdoc="([^"]*)"', frame).group(1))
    assert "<script>alert(1)" not in inner.split("<script", 1)[0]     # the page's own title


def test_summary_shows_its_table_once(run):
    cells, _ = run
    cell = cells["test-summary-once"]
    shown = outputs(cell, "display_data")
    assert len(shown) == 1 and "<table>" in shown[0]["data"]["text/html"]
    value = result(cell)
    assert "text/html" not in value and value["text/plain"].startswith("<cnnstat Analysis 'lenet5'")


def test_figures_leave_pyplot_and_the_backend_alone(run):
    cells, _ = run
    assert result(cells["test-pyplot"])["text/plain"] == \
        "(0, 'module://matplotlib_inline.backend_inline')"
