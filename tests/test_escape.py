"""cnnstat.render.escape: one function per output context (issue 19), each checked against the
payloads a hostile model file carries."""

from __future__ import annotations

import csv
import io
import re
import time

import pytest

from cnnstat.render import escape as e


@pytest.mark.parametrize("url, ok", [
    ("https://example.org/a?b=c#d", True), ("http://x.y", True), ("HTTPS://X.Y/", True),
    ("vgg16/vgg16.md", True), ("#layers", True), ("comparison.csv", True),
    ("javascript:alert(1)", False), ("JaVaScRiPt:alert(1)", False), (" javascript:x", False),
    ("data:text/html,<b>", False), ("file:///etc/passwd", False), ("//evil.example", False),
    ("../../etc/passwd", False), ("/etc/passwd", False), ("http:x", False), ("", False),
    ("https://a b", False), ("vbscript:x", False), ("a\nb.md", False), ("x.md\x1b", False),
])
def test_safe_href_keeps_only_http_and_relative_links(url, ok):
    assert (e.safe_href(url) is not None) is ok


def test_html_text_and_attribute():
    payload = "<script>alert('x')</script> & \"q\"\x1b[2J"
    text = e.html_text(payload)
    assert "<" not in text and ">" not in text and "\x1b" not in text
    assert text == ("&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; &quot;q&quot;"
                    "\\x1b[2J")
    assert e.html_attr("a\"b\nc") == "a&quot;b\\nc"


def test_inline_html_links_only_where_safe():
    out = e.inline_html("see [paper](https://arxiv.org/abs/1) and [x](javascript:alert(1)) "
                        "and `code <b>`")
    assert '<a href="https://arxiv.org/abs/1">paper</a>' in out
    assert "javascript" not in re.findall(r'href="([^"]*)"', out)[0]
    assert "[x](javascript:alert(1))" in out and "<code>code &lt;b&gt;</code>" in out


def test_inline_md_neutralises_html_links_and_images():
    out = e.inline_md("<script>x</script> [a](javascript:y) ![i](https://t/p.png) "
                      "[ok](https://o.k) [r]: javascript:z [s]( javascript:w) A & B, alpha < 1")
    assert "<script" not in out and "&lt;script>" in out
    assert "[a\\](javascript:y)" in out                  # shown, not linked
    assert "\\![i](https://t/p.png)" in out              # a link, never an image
    assert "[ok](https://o.k)" in out
    assert "[r\\]: javascript" in out and "[s\\]( javascript" in out
    assert "A & B, alpha < 1" in out                     # harmless text stays readable


def test_md_cell_escapes_pipes_and_newlines():
    assert e.md_cell("a|b\nc") == "a\\|b c"
    assert e.inline_md("`x|y`", cell=True) == "`x\\|y`"
    assert e.md_cell("[1, 64, 112, 112]") == "[1, 64, 112, 112]"   # shapes stay as they are


@pytest.mark.parametrize("cell, out", [
    ("=cmd|' /C calc'!A0", "'=cmd|' /C calc'!A0"), ("+SUM(A1)", "'+SUM(A1)"),
    ("-2+3+cmd|x", "'-2+3+cmd|x"), ("@SUM(A1)", "'@SUM(A1)"), ("\tx", "'\tx"), ("\rx", "'\rx"),
    ("-5", "-5"), ("-0.5", "-0.5"), ("-", "-"), ("+1,000", "+1,000"), ("a=b", "a=b"),
    (12, 12), (-3, -3), (0.5, 0.5),
])
def test_csv_cells_that_would_be_formulas_are_prefixed(cell, out):
    assert e.csv_cell(cell) == out


def test_csv_text_round_trips():
    text = e.csv_text([["name", "n"], ["=1+1", 3], ["a,b", -4]])
    assert list(csv.reader(io.StringIO(text))) == [["name", "n"], ["'=1+1", "3"], ["a,b", "-4"]]


def test_terminal_shows_control_characters():
    assert e.terminal("a\x1b]0;t\x07b\rc\x9bd\u202ee\nf") == "a\\x1b]0;t\\ab\\rc\\x9bd\\u202ee\nf"
    assert e.rich_markup("a[/]b [bold]x[/bold]") == "a\\[/]b \\[bold]x\\[/bold]"


def test_error_line_is_one_bounded_line():
    line = e.error_line("first\nsecond\x1b[2J" + "z" * 5000)
    assert "\n" not in line and "\x1b" not in line and "\\x1b[2J" in line
    assert len(line) < 700 and "characters elided" in line
    start = time.perf_counter()
    e.error_line("y" * 50_000_000)                       # a 50 MB message: cut before scanning
    assert time.perf_counter() - start < 1


def test_show_is_bounded_for_alias_bombs():
    leaf = [1] * 10
    value = leaf
    for _ in range(9):                                    # 10^10 values if expanded
        value = [value] * 10
    start = time.perf_counter()
    text = e.show(value)
    assert time.perf_counter() - start < 0.1 and len(text) <= 260
    assert e.show("x" * 1000, 50).endswith("…'") or "elided" in e.show("x" * 1000, 50)
    assert e.show({"a": [1, 2]}) == "{'a': [1, 2]}"
    assert e.show("\x1b") == "'\\x1b'"


def test_plot_text():
    assert e.mpl_text("a\x1bb $x$") == "a\\x1bb $x$"       # mathtext is off while drawing
    assert e.mpl_label("_hidden").startswith("\u200b")


def test_has_control():
    assert e.has_control("a\nb") and e.has_control("a\tb") and e.has_control("a\u202eb")
    assert not e.has_control("a\nb\tc", newlines=True) and e.has_control("a\x1b", newlines=True)
    assert not e.has_control("naïve — ×")


def test_escaping_imports_nothing_heavy():
    import subprocess
    import sys
    code = ("import sys, cnnstat.render.escape; "
            "print(sorted(m for m in ('rich', 'torch', 'pandas', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
