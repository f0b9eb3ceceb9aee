"""Tables as people see them: fitted to a terminal's width, plain when piped, --columns.

The pseudo-terminal tests run the real CLI in a pty sized with ``stty cols N`` and read what a
user would see. At 80, 100, 120 and 200 columns: no line is wider than the terminal, the
command's main column is there, no number is split across lines, and every column of the piped
(unfitted) table is either shown or named in the "left out" line. The default run covers every
command on vgg16, resnet50 and googlenet, with ``check`` (which runs torch) sampled; ``-m slow``
runs ``check`` on all of them at every width.
"""

from __future__ import annotations

import functools
import os
import re
import subprocess
import sys

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from cnnstat.cli import main
from cnnstat.render.grid import FIXED, NAME, WRAP, Col, Grid
from cnnstat.render.terminal import (Screen, fit, fold, name_width, shorten, table_lines,
                                     width_of)

from .conftest import ROOT

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
BOX = re.compile(r"[\u2500-\u257f]")
GROUPED = re.compile(r"\d+(?:,\d+)+")           # 138,357,544 — or a piece of one, if split
WIDTHS = (80, 100, 120, 200)
MODELS = ("vgg16", "resnet50", "googlenet")


# -- the pieces, by hand ------------------------------------------------------------------------
def test_shorten_keeps_the_distinguishing_end():
    # 21 characters into 19: the middle components go first, the stage and the tail stay
    assert shorten("layer4.0.downsample.0", 19) == "layer4…downsample.0"
    assert shorten("layer4.2.conv2", 14) == "layer4.2.conv2"                 # fits: unchanged
    # 14 into 10: no whole components fit, so characters: 9 = 3 head + 6 tail, plus "…"
    assert shorten("layer4.2.conv2", 10) == "lay….conv2"
    assert width_of(shorten("a" * 50, 7)) == 7


def test_shortened_names_stay_distinct():
    names = ["layer3.0.conv1", "layer4.0.conv1", "layer4.1.conv1"]
    w = name_width(names, floor=4)
    assert len({shorten(n, w) for n in names}) == 3
    assert len({shorten(n, w - 1) for n in names}) < 3 or w == 4


def test_fold_breaks_at_spaces_and_never_inside_a_number():
    # "kernel_size=(3," is 15 wide: too long for 14, broken after "=", before "("
    assert fold("Conv2d(3, 64, kernel_size=(3, 3))", 14) == [
        "Conv2d(3, 64,", "kernel_size=", "(3, 3))"]
    assert fold("total 15,470,264,320 MACs", 16) == ["total", "15,470,264,320", "MACs"]
    # a number wider than the line is the only thing ever cut
    assert fold("123456789012345", 10) == ["1234567890", "12345"]


def test_a_table_that_fits_is_untouched_and_one_that_does_not_says_what_went():
    grid = Grid([Col("layer", "layer", fit=NAME), Col("op", "operation", fit=WRAP),
                 Col("shape", "output shape"), Col("params", "params", True)],
                [["features.0", "Conv2d(3, 64, kernel_size=(3, 3))", "[1, 64, 224, 224]", "1,792"]],
                keep=("layer", "params"), drop_first=("shape",))
    wide = table_lines(grid, Screen(None, False))
    assert wide[0].split() == ["layer", "operation", "output", "shape", "params"]
    # right-aligned under its header: "params" is one wider than "1,792"
    assert wide[2] == "features.0  Conv2d(3, 64, kernel_size=(3, 3))  [1, 64, 224, 224]   1,792"
    # at 50: layer 10 + operation 30 (folded) + params 6 + two gaps of 2; the shape goes
    narrow = table_lines(grid, Screen(50, False))
    assert narrow[:4] == [f"{'layer':10}  {'operation':30}  params",
                          "-" * 50,
                          f"{'features.0':10}  {'Conv2d(3, 64, kernel_size=(3,':30}  {'1,792':>6}",
                          f"{'':10}  3))"]
    assert " ".join(narrow[4:]) == ("(left out to fit 50 columns: output shape; --columns all "
                                    "shows every column)")
    # at 40 the operation goes too: the label and the main column stay
    assert table_lines(grid, Screen(40, False))[2] == "features.0   1,792"


def test_chosen_columns_are_all_shown_and_continue_below():
    grid = Grid([Col("layer", "layer", fit=NAME)] + [Col(f"c{i}", f"column {i}", True)
                                                     for i in range(8)],
                [["conv1"] + [f"{10 ** 6 * i:,}" for i in range(8)]])
    lines = table_lines(grid, Screen(40, False), chosen=True)
    assert all(width_of(line) <= 40 for line in lines)
    text = "\n".join(lines)
    assert all(f"{10 ** 6 * i:,}" in text for i in range(8)) and "(continued: " in text
    assert text.count("conv1") >= 2                      # the row label starts every part


# -- --columns ------------------------------------------------------------------------------------
def test_columns_choose_and_order_for_table_md_and_csv(capsys):
    assert main(["params", "resnet18", "--columns", "params,layer", "-f", "csv"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "params,layer" and out[1] == "9408,conv1"
    assert main(["flops", "resnet18", "--columns", "Layer,MACs", "-f", "md"]) == 0
    md = capsys.readouterr().out
    assert "| layer | MACs |" in md and "| **total** | 1,814,073,344 |" in md
    assert main(["rf", "resnet18", "--columns", "all", "-f", "csv"]) == 0
    header = capsys.readouterr().out.splitlines()[0].split(",")
    assert header[:3] == ["index", "layer", "op"] and "rf_note" in header and "macs_share" in header
    assert main(["params", "resnet18", "--columns", "layer,connections"]) == 0
    table = capsys.readouterr().out
    assert "connections" in table and "operation" not in table.split("layer", 2)[-1][:200]
    # torchinfo's column names are taken too (col_names: num_params, mult_adds, output_size);
    # LeNet-5 C1: 6 maps of 5x5x1 + bias = 156 params, 6 x 28 x 28 x 25 = 117,600 MACs
    assert main(["summary", "lenet5", "--columns", "name,num_params,mult_adds", "-f", "csv"]) == 0
    assert capsys.readouterr().out.splitlines()[:2] == ["layer,params,macs", "C1,156,117600"]
    # JSON keeps its contract whatever the columns
    assert main(["params", "resnet18", "--columns", "layer", "-f", "json"]) == 0
    assert '"layers"' in capsys.readouterr().out


@pytest.mark.parametrize("argv", [
    ["params", "vgg16"], ["list"], ["shapes", "--input", "64"], ["compare", "lenet5"],
    ["sweep", "lenet5", "--input", "32,64"], ["paper", "vgg"],
    ["roofline", "lenet5", "-p", "h100"], ["device-profile", "--list"],
])
def test_unknown_column_is_one_line_naming_the_valid_ones(capsys, argv):
    assert main(argv + ["--columns", "bogus"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--columns" in err and "'bogus'" in err
    assert ("this table has" in err or "the columns are" in err)


def test_columns_on_every_table_command(capsys):
    for argv, key in [(["list"], "names"), (["shapes", "--input", "64"], "stages"),
                      (["compare", "lenet5", "resnet18"], "macs"),
                      (["sweep", "lenet5", "--input", "32,64"], "macs"),
                      (["paper", "vgg"], "D"), (["roofline", "lenet5", "-p", "h100"], "predicted_us"),
                      (["device-profile", "--list"], "bandwidth")]:
        assert main(argv + ["--columns", key, "-f", "md"]) == 0, argv
        assert capsys.readouterr().out.count("|---") >= 1


# -- piped output -----------------------------------------------------------------------------------
PIPED = [
    ["summary", "resnet50", "--depth", "2"], ["params", "vgg16"], ["shapes", "googlenet"],
    ["flops", "resnet50"], ["rf", "googlenet"], ["rf", "unet", "--at", "out:0,0"], ["list"],
    ["shapes", "--input", "224"], ["compare", "vgg16", "resnet50", "googlenet"],
    ["sweep", "mobilenet_v1", "--set", "alpha=0.5,1.0", "--input", "128,224"], ["paper", "resnet"],
    ["roofline", "resnet50", "-p", "h100"], ["device-profile", "--list"],
]


def run_piped(argv: list[str]) -> subprocess.CompletedProcess:
    return _piped(tuple(argv))


@functools.lru_cache(maxsize=None)
def _piped(argv: tuple[str, ...]) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "NO_COLOR")}
    return subprocess.run([sys.executable, "-m", "cnnstat", *argv], capture_output=True,
                          text=True, cwd=ROOT, env=env, timeout=300)


@pytest.mark.parametrize("argv", PIPED, ids=lambda a: " ".join(a))
def test_piped_output_is_plain(argv):
    result = run_piped(argv)
    assert result.returncode == 0, result.stderr
    assert not ANSI.search(result.stdout + result.stderr), "colour codes in piped output"
    assert not BOX.search(result.stdout), "box-drawing characters in piped output"
    assert not any(line != line.rstrip() for line in result.stdout.splitlines()), \
        "trailing spaces (lines wider than needed)"
    assert result.stdout == run_piped(argv).stdout                  # stable for diffing


@pytest.mark.torch
def test_piped_check_and_bench_are_plain():
    for argv in (["check", "lenet5"],
                 ["bench", "lenet5", "--warmup", "0", "--min-time", "0.01", "--min-iters", "1"]):
        result = run_piped(argv)
        assert result.returncode == 0, result.stderr
        assert not ANSI.search(result.stdout) and not BOX.search(result.stdout)


# -- in a pseudo-terminal -------------------------------------------------------------------------
def in_terminal(argv: list[str], columns: int) -> str:
    """What the CLI shows in a pseudo-terminal of this width (``stty cols``), colour removed."""
    import pty
    import select
    command = " ".join(["stty", "cols", str(columns), "rows", "50;", "exec",
                        sys.executable, "-m", "cnnstat", *argv])
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "NO_COLOR")}
    env["TERM"] = "xterm"
    master, slave = pty.openpty()
    proc = subprocess.Popen(["sh", "-c", command], stdin=slave, stdout=slave, stderr=slave,
                            cwd=ROOT, env=env, close_fds=True)
    os.close(slave)
    chunks = []
    while True:
        ready, _, _ = select.select([master], [], [], 300)
        if not ready:
            proc.kill()
            break
        try:
            data = os.read(master, 1 << 16)
        except OSError:                       # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    assert proc.wait(timeout=60) in (0, 1), b"".join(chunks).decode(errors="replace")[-2000:]
    text = b"".join(chunks).decode("utf-8").replace("\r\n", "\n")
    assert ANSI.search(text), "no colour on a terminal: was it really one?"
    return ANSI.sub("", text)


def header_of(lines: list[str], rule: str) -> tuple[int, list[str]]:
    """The first table's header lines (above its rule line) and the rule's index."""
    index = next(i for i, line in enumerate(lines) if line and set(line) == {rule})
    start = index
    while start > 0 and lines[start - 1].strip():
        start -= 1
    return index, lines[start:index]


def piped_headers(argv: list[str]) -> list[str]:
    lines = run_piped(argv).stdout.splitlines()
    index, header = header_of(lines, "-")
    return [h for h in re.split(r"\s{2,}", header[-1].strip()) if h]


MAIN = {"params": ["params"], "flops": ["MACs"], "rf": ["RF", "size"], "shapes": ["output", "shape"],
        "summary": ["params", "MACs", "RF"], "check": ["agree"], "compare": ["params", "MACs"],
        "list": ["names"], "survey": ["feature-map"]}


def assert_fits(argv: list[str], columns: int, main_words: list[str]) -> None:
    shown = in_terminal(argv, columns)
    lines = shown.split("\n")
    too_wide = [line for line in lines if width_of(line) > columns]
    assert not too_wide, f"{argv} at {columns}: {too_wide[:3]}"
    index, header = header_of(lines, "─")
    words = " ".join(header).split()
    for word in main_words:
        assert word in words, f"{argv} at {columns}: main column '{word}' missing"
    # every number of the piped table is shown whole (or its column is announced as left out)
    piped = run_piped(argv).stdout
    assert set(GROUPED.findall(shown)) <= set(GROUPED.findall(piped)), \
        f"{argv} at {columns}: a number split across lines"
    # every column is shown or named as left out
    note = ""
    for i, line in enumerate(lines):
        if "(left out to fit" in line:
            j = i
            while not lines[j].rstrip().endswith(")"):
                j += 1
            note += " ".join(lines[i:j + 1]) + " "
    for head in piped_headers(argv):
        parts = head.split()
        if not all(p in words for p in parts):
            assert head in note, f"{argv} at {columns}: column '{head}' vanished silently"


COMMANDS = [([command], command) for command in ("params", "shapes", "flops", "rf", "summary")]


def cases():
    """Every command at every width; by default on one model per width, turning, so that each
    command meets all three models; the rest of the grid with -m slow."""
    out = []
    for w, columns in enumerate(WIDTHS):
        for c, (argv, kind) in enumerate(COMMANDS):
            for m, model in enumerate(MODELS):
                marks = () if m == (w + c) % len(MODELS) else pytest.mark.slow
                out.append(pytest.param(argv + [model], kind, columns, marks=marks,
                                        id=f"{' '.join(argv)} {model} {columns}"))
        for argv, kind in ((["list"], "list"), (["shapes", "--input", "224"], "survey"),
                           (["compare", *MODELS], "compare")):
            out.append(pytest.param(argv, kind, columns, id=f"{' '.join(argv)} {columns}"))
    return out


@pytest.mark.parametrize("argv, kind, columns", cases())
def test_fits_the_terminal(argv, kind, columns):
    assert_fits(argv, columns, MAIN[kind])


CHECKS = [(model, columns) for model in MODELS for columns in WIDTHS]
SAMPLED = {("vgg16", 80), ("resnet50", 100), ("googlenet", 200)}


@pytest.mark.torch
@pytest.mark.parametrize("model, columns", [
    pytest.param(m, c, marks=() if (m, c) in SAMPLED else pytest.mark.slow) for m, c in CHECKS])
def test_check_fits_the_terminal(model, columns):
    assert_fits(["check", model, "--input", "64" if model != "googlenet" else "96"], columns,
                MAIN["check"])


# -- a tree (cnnstat history) ---------------------------------------------------------------------
def test_tree_guides_by_hand_and_labels_folded_under_their_guide():
    from cnnstat.render.blocks import Tree, TreeNode
    from cnnstat.render.terminal import render_blocks
    tree = Tree("family", [TreeNode("root net", "1 M params", [
        TreeNode("child one — a long idea that folds", "2 M params"),
        TreeNode("child two", "", [TreeNode("grandchild")])])])
    # piped: ASCII guides; a node's detail sits under its label, one guide deeper when it has
    # children ("|   ") so that the guide runs on to them, else four spaces
    assert render_blocks([tree], Screen(None, False)).splitlines() == [
        "family",
        "`-- root net",
        "    |   1 M params",
        "    |-- child one — a long idea that folds",
        "    |       2 M params",
        "    `-- child two",
        "        `-- grandchild"]
    # at 24 columns: the label's continuation lines start after the 12-wide inner guide
    # ("    |       "), so it folds at 24 - 12 = 12: "child one —" (11), "a long idea" (11),
    # "that folds" (10)
    narrow = render_blocks([tree], Screen(24, False)).splitlines()
    assert narrow[3:7] == ["    |-- child one —", "    |       a long idea",
                           "    |       that folds", "    |       2 M params"]
    assert all(width_of(line) <= 24 for line in narrow)
    # on a terminal the guides are box drawing, and nothing is wider than the screen
    shown = ANSI.sub("", render_blocks([tree], Screen(24, True)))
    assert "├── child one" in shown and "└── child two" in shown
    assert all(width_of(line) <= 24 for line in shown.splitlines())


def test_history_tree_fits_every_width_and_piped_is_plain():
    from cnnstat.cli.history import family_tree
    from cnnstat import history
    from cnnstat.render.terminal import render_blocks
    tree = family_tree(history())
    for columns in WIDTHS:
        lines = ANSI.sub("", render_blocks([tree], Screen(columns, True))).splitlines()
        assert all(width_of(line) <= columns for line in lines), columns
    piped = render_blocks([tree], Screen(None, False))
    assert not BOX.search(piped) and not ANSI.search(piped)
    assert len(re.findall(r"(?<!\w)resnet50: ", piped)) == 1 and "LeNet-5 1998-11" in piped


# -- properties: any table, any width --------------------------------------------------------------
_words = st.text("abcdefghij(),=", min_size=1, max_size=12)
_numbers = st.integers(0, 10 ** 11).map(lambda n: f"{n:,}")        # at most 15 characters
_names = st.lists(st.sampled_from(["layer1", "layer4", "conv", "0", "1", "downsample", "bn2"]),
                  min_size=1, max_size=5).map(".".join)


@st.composite
def grids(draw):
    """A layer table: a name column and a main number (they must stay), then up to seven others
    — numbers, shapes or text — with short headers."""
    rows = draw(st.integers(1, 8))
    cols = [Col("layer", "layer", fit=NAME), Col("main", "main", True)]
    cells = [draw(st.lists(_names, min_size=rows, max_size=rows)),
             draw(st.lists(_numbers, min_size=rows, max_size=rows))]
    for i in range(draw(st.integers(0, 7))):
        kind = draw(st.sampled_from(["number", "text"]))
        cols.append(Col(f"c{i}", f"col {i}", kind == "number", FIXED if kind == "number" else WRAP))
        values = _numbers if kind == "number" else \
            st.lists(_words, min_size=1, max_size=6).map(" ".join)
        cells.append(draw(st.lists(values, min_size=rows, max_size=rows)))
    drop = draw(st.permutations([c.key for c in cols[2:]]))
    return Grid(cols, [list(r) for r in zip(*cells)], keep=("layer", "main"),
                drop_first=drop[:draw(st.integers(0, len(drop)))])


# found by the property below: a long name beside a 13-character number at 40 columns; the
# label and main column do not fit even at their hard minimum, and --columns' panels printed
# them 42 wide (the name squeezed only on the unchosen path)
_SQUEEZE = Grid([Col("layer", "layer", fit=NAME), Col("main", "main", True)],
                [["layer1", "0"]] * 5 + [["layer1.layer1.layer1.layer1", "0"],
                                         ["layer1.layer1.layer1.layer1.layer1", "1,000,000,000"]],
                keep=("layer", "main"))


@settings(max_examples=150, deadline=None)
@given(grids(), st.integers(40, 200))
@example(_SQUEEZE, 40)
def test_any_table_fits_any_width_and_no_column_is_lost(grid, width):
    lines = table_lines(grid, Screen(width, False))
    assert all(width_of(line) <= width for line in lines)
    fitted = fit(grid, width)
    shown = [c.col.key for cols, _ in fitted.panels for c in cols]
    left_out = [c.key for c in fitted.dropped]
    # every column is shown or left out, none both; the label and the main column always stay
    assert sorted(shown + left_out) == sorted(grid.keys) and {"layer", "main"} <= set(shown)
    # ... and what was left out is said, by header
    note = " ".join(lines[lines.index(next(x for x in lines if x.startswith("(left out"))):]) \
        if left_out else ""
    assert all(c.header in note for c in fitted.dropped)
    # no number is split: every run of digits and commas printed is one of the cells' numbers
    # (or a piece of a word's text, where text columns hold no commas)
    numbers = {n for row in grid.rows for n in row if GROUPED.fullmatch(n)}
    assert set(GROUPED.findall("\n".join(lines))) <= numbers
    # chosen columns are all shown (the table continues below), still within the width
    chosen = table_lines(grid, Screen(width, False), chosen=True)
    assert all(width_of(line) <= width for line in chosen)
    assert not any(line.startswith("(left out") for line in chosen)
    assert numbers <= set(GROUPED.findall("\n".join(chosen)))
