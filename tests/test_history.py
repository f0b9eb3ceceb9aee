"""cnnstat history: the data (cnnstat/data/history.yaml) against the zoo, the layout of the tree
and the time axis, the numbers (cnnstat's analysis, not typed in), the command line, the
figures and the self-contained tree page. The page in a browser: tests/test_history_browser.py."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import cnnstat
from cnnstat import zoo
from cnnstat.data import load as load_data
from cnnstat.report.accuracy import lookup
from cnnstat.report.history import BREAK, TimeAxis, load, tree_rows

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def history():
    return cnnstat.history()


def zoo_families() -> dict[str, set[str]]:
    """Zoo family → its zoo names (from the definition files' ``family:``)."""
    out: dict[str, set[str]] = {}
    for name, entry in zoo.index().items():
        out.setdefault(str(zoo.definition(entry.path).doc["family"]), set()).add(name)
    return out


# -- the data ------------------------------------------------------------------------------------
def test_every_zoo_model_belongs_to_exactly_one_architecture():
    archs, _ = load()
    listed = [m for a in archs for m in a.models]
    assert len(listed) == len(set(listed)), "a zoo model is listed twice"
    assert set(listed) == set(zoo.names())


def test_every_node_is_a_zoo_family_and_every_family_appears_with_year_and_citation():
    archs, _ = load()
    families = zoo_families()
    assert {a.family for a in archs} == set(families)
    for a in archs:
        assert a.family in families and set(a.models) <= families[a.family]
        assert 1980 <= a.year <= 2030 and 1 <= a.month <= 12
        # the citation's year is the publication's: the preprint (the date) came up to 2 years
        # earlier ("He, Zhang, Ren & Sun 2016, ..." for arXiv:1512.03385)
        published = int(re.search(r"\b(19|20)\d\d\b", a.source.cite).group(0))
        assert a.year <= published <= a.year + 2, a.name


def test_each_zoo_file_is_dated_as_its_architecture():
    """The architecture a zoo file is named after (its first model) has the file's year."""
    archs, _ = load()
    by_model = {m: a for a in archs for m in a.models}
    for path in zoo.files():
        d = zoo.definition(path)
        first = (d.variants or [str(d.doc["name"])])[0]
        assert by_model[first].year == int(d.doc["year"]), (path.name, by_model[first].name)


def test_every_step_cites_a_paper_and_goes_forward_in_time():
    archs, steps = load()
    by_name = {a.name: a for a in archs}
    assert steps
    for s in steps:
        assert s.idea and s.detail and s.source.cite, (s.parent, s.child)
        assert by_name[s.parent].when <= by_name[s.child].when, (s.parent, s.child)
    # one first step ("built on") per architecture but the root; no architecture twice from one
    roots = [a.name for a in archs if not any(s.child == a.name for s in steps)]
    assert roots == ["LeNet-5"]
    for a in archs[1:]:
        into = [s for s in steps if s.child == a.name]
        assert sum(s.primary for s in into) == 1
        assert len({s.parent for s in into}) == len(into)


def test_sources_are_cited_and_used():
    data = load_data("history")
    sources = data["sources"]
    cited = set()
    for entry in data["architectures"].values():
        cited.add(entry["source"])
        for s in entry.get("built_on") or ():
            cited |= {s["source"]} | ({s["origin"]} if s.get("origin") else set())
    assert cited == set(sources), f"unused sources: {set(sources) - cited}"
    for key, source in sources.items():
        assert source["short"] and source["cite"]
        url = source.get("url", "")
        arxiv = re.search(r"arXiv:(\d{4}\.\d{4,5})", source["cite"])
        if arxiv:   # the link is the identifier's
            assert url == f"https://arxiv.org/abs/{arxiv.group(1)}", key


def test_dates_follow_the_arxiv_identifiers():
    """An architecture's date is its preprint's: arXiv:YYMM.NNNNN → 20YY-MM."""
    archs, _ = load()
    checked = 0
    for a in archs:
        m = re.search(r"arXiv:(\d{2})(\d{2})\.", a.source.cite)
        if m:
            assert (a.year, a.month) == (2000 + int(m.group(1)), int(m.group(2))), a.name
            checked += 1
    assert checked >= 17


# -- layout --------------------------------------------------------------------------------------
def test_time_axis_cuts_empty_years():
    axis = TimeAxis.of([1998.9, 2012.9, 2014.7, 2017.5, 2021.3])
    assert axis.segments == ((1998, 1999), (2012, 2022))
    # 1998 is [0, 1); the cut is BREAK wide; 2012 starts at 1 + BREAK
    assert axis.x(1998.5) == 0.5 and axis.x(2012.0) == 1 + BREAK
    assert axis.width == 1 + BREAK + 10
    assert axis.breaks() == [1 + BREAK / 2]
    assert [y for _, y in axis.ticks()] == [1998] + list(range(2012, 2022))
    xs = [axis.x(w) for w in (1998.1, 1998.9, 2012.1, 2015.5, 2021.9)]
    assert xs == sorted(xs)
    assert TimeAxis.of([2012.5, 2015.5]).segments == ((2012, 2016),)   # a gap under MAX_GAP stays


def test_every_family_has_its_own_colour(history):
    colours = [history.color(f) for f in history.families]
    assert len(set(colours)) == len(colours) == len(zoo_families())


def test_tree_rows_keep_subtrees_together(history):
    rows = history.rows()
    assert sorted(rows) == sorted(a.name for a in history.architectures)
    index = {n: i for i, n in enumerate(rows)}
    children: dict[str, list[str]] = {}
    for s in history.steps:
        if s.primary:
            assert index[s.parent] < index[s.child]
            children.setdefault(s.parent, []).append(s.child)

    def subtree(n):
        return [n] + [m for c in children.get(n, []) for m in subtree(c)]
    for name in rows:
        members = sorted(index[m] for m in subtree(name))
        assert members == list(range(index[name], index[name] + len(members))), name
    archs, steps = load()
    assert tree_rows(archs, steps) == rows


# -- the numbers ---------------------------------------------------------------------------------
def test_numbers_are_cnnstats_own(history):
    assert set(history.points) == set(zoo.names())
    for name in ("lenet5", "vgg16", "resnet50", "efficientnet_b0", "unet"):
        a = cnnstat.analyze(name)
        p = history.points[name]
        assert (p.params, p.macs) == (a.totals.params, a.totals.macs)
        acc = lookup(name)
        assert p.top1 == (acc.top1 if acc else None)
    assert history.points["vgg16"].params == 138_357_544    # torchvision's model card


def test_outputs(history):
    data = json.loads(history.to_json())
    assert len(data["architectures"]) == len(history.architectures)
    assert all(s["source"]["cite"] for s in data["steps"])
    assert len(data["models"]) == len(zoo.names())
    csv_lines = history.to_csv().splitlines()
    assert csv_lines[0].startswith("model,architecture,date,family,params,macs")
    assert len(csv_lines) == 1 + len(zoo.names())
    page = history._repr_html_()
    assert "Steps of the tree" in page and "arXiv:1512.03385" in page
    assert '<a href="https://arxiv.org/abs/1512.03385">link</a>' in page
    assert repr(history).startswith(f"<cnnstat History: {len(history.architectures)} "
                                    "architectures 1998–")


def test_figures(history):
    for make in (history.plot, history.plot_tree):
        fig = make()
        assert fig.canvas.manager is None and fig._repr_png_().startswith(b"\x89PNG")
    tree = history.plot_tree()
    texts = [t.get_text() for t in tree.axes[0].texts]
    for a in history.architectures:
        assert a.name in texts
    assert any("residual add" in t for t in texts)
    timeline = history.plot()
    assert [ax.get_yscale() for ax in timeline.axes[:3]] == ["log", "log", "linear"]


def test_tree_page_is_self_contained(history):
    page = history.page()
    assert page.startswith("<!DOCTYPE html>")
    m = re.search(r'<script type="application/json" id="cnnstat-data">(.*?)</script>', page, re.S)
    data = json.loads(m.group(1))
    assert [a["name"] for a in data["architectures"]] == \
        [a.name for a in history.architectures]
    assert {a["row"] for a in data["architectures"]} == set(range(len(history.architectures)))
    # nothing is fetched: no src= or href= attributes, no @import; the papers' links are data
    assert not re.search(r"\s(src|href)=", page) and "@import" not in page
    assert "https://arxiv.org" not in page.split('id="cnnstat-data"')[0]


# -- the command line ----------------------------------------------------------------------------
def run_cli(*args, cwd=None):
    return subprocess.run([str(Path(sys.executable).parent / "cnnstat"), *args],
                          capture_output=True, text=True, cwd=cwd)


def test_cli_text_and_formats():
    out = run_cli("history")
    assert out.returncode == 0, out.stderr
    assert "LeNet-5 1998-11" in out.stdout and "residual add" in out.stdout
    assert "resnet50: 25.56 M params" in out.stdout
    md = run_cli("history", "--format", "md")
    assert md.stdout.startswith("## History: a timeline and a family tree")
    csv = run_cli("history", "--format", "csv")
    assert len(csv.stdout.splitlines()) == 1 + len(zoo.names())


def test_cli_files(tmp_path):
    out = run_cli("history", "--out", "history.png", "--tree", "tree.svg", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "history.png").read_bytes().startswith(b"\x89PNG")
    assert b"<svg" in (tmp_path / "tree.svg").read_bytes()[:400]
    out = run_cli("history", "--out", "tree.html", cwd=tmp_path)
    assert out.returncode == 0 and "cnnstat-data" in (tmp_path / "tree.html").read_text()
    bad = run_cli("history", "--out", "history.pdf", cwd=tmp_path)
    assert bad.returncode == 2 and bad.stderr.startswith("error: --out 'history.pdf'")
    assert "Traceback" not in bad.stderr and not (tmp_path / "history.pdf").exists()
    bad = run_cli("history", "--tree", "tree.html", cwd=tmp_path)
    assert bad.returncode == 2 and "--tree" in bad.stderr


def test_cli_history_does_not_load_torch():
    code = ("import sys; from cnnstat.cli import main; main(['history', '--format', 'json']); "
            "print('torch' in sys.modules, file=sys.stderr)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stderr.strip().endswith("False")
