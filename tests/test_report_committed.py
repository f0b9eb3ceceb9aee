"""The committed reports (reports/) are what scripts/main.sh makes from the current code.

Each part — one model's folder, the comparison, the index — is rebuilt in memory and compared
with the committed files: text files (Markdown, CSV, JSON, HTML, SVG) byte for byte; PNGs are not
rasterised again (slow, and bytes may vary with zlib/libpng builds): each committed PNG must carry
the SHA-256 of the SVG drawn from the same figure, and that SVG must be current (see
docs/reports.md). ``pytest --regen-golden tests/test_report_committed.py`` rewrites reports/ (as
scripts/main.sh does). The slow test re-rasterises the PNGs and compares pixels.
"""

from __future__ import annotations

import io
import re
import shlex
from pathlib import Path

import pytest

from cnnstat import plots
from cnnstat.report.build import Options, build, parse_formats, write

ROOT = Path(__file__).resolve().parent.parent
REPORTS = ROOT / "reports"
MAIN = ROOT / "scripts" / "main.sh"


def main_command() -> list[str]:
    """The arguments of the `cnnstat report` command in scripts/main.sh."""
    text = MAIN.read_text().replace("\\\n", " ")
    for line in text.splitlines():
        if "cnnstat report " in line:
            return shlex.split(line.split("cnnstat report ", 1)[1])
    raise AssertionError("scripts/main.sh does not run cnnstat report")


def parse(args: list[str]):
    models, opts, formats, compare, out = [], Options(), None, "auto", None
    it = iter(args)
    for arg in it:
        if not arg.startswith("-"):
            models.append(arg)
        elif arg == "--input":
            opts.input = next(it)
        elif arg == "--batch":
            opts.batch = int(next(it))
        elif arg == "--set":
            opts.set = (opts.set or []) + [next(it)]
        elif arg == "--count":
            opts.count = next(it)
        elif arg == "--dtype":
            opts.dtype = next(it)
        elif arg == "--format":
            formats = next(it)
        elif arg == "--compare":
            compare = next(it)
        elif arg == "--out":
            out = next(it)
        else:
            raise AssertionError(f"scripts/main.sh: option {arg} not understood by this test")
    assert out == "reports", "scripts/main.sh must write the committed reports/"
    return models, opts, parse_formats(formats), compare


MODELS, OPTS, FORMATS, COMPARE = parse(main_command())
PARTS = MODELS + (["comparison"] if COMPARE == "zoo" or len(MODELS) > 1 else []) + ["index"]


def _folder(part: str) -> str:
    from cnnstat.report.model import slug
    return "" if part == "index" else "comparison" if part == "comparison" else slug(part)


@pytest.mark.parametrize("part", PARTS)
def test_committed_report_is_current(part, regen_golden):
    built = build(MODELS, OPTS, FORMATS, COMPARE, png=regen_golden, only={part},
                  out_dir=REPORTS)
    folder = _folder(part)
    if regen_golden:
        if folder:
            stale = [p for p in (REPORTS / folder).glob("*")
                     if p.is_file() and f"{folder}/{p.name}" not in built.files]
            for path in stale:
                path.unlink()
        write(built, REPORTS)
        return
    assert REPORTS.is_dir(), "reports/ is missing: run scripts/main.sh"
    for rel, data in built.files.items():
        path = REPORTS / rel
        assert path.is_file(), f"{rel} is missing: run scripts/main.sh"
        committed = path.read_bytes()
        fresh = data.encode("utf-8") if isinstance(data, str) else data
        assert committed == fresh, f"reports/{rel} is out of date: run scripts/main.sh"
    from PIL import Image
    for rel, svg_hash in built.png_svg.items():
        path = REPORTS / rel
        assert path.is_file(), f"{rel} is missing: run scripts/main.sh"
        image = Image.open(path)
        assert image.info.get(plots.SVG_HASH_KEY) == svg_hash, \
            f"reports/{rel} was not drawn from the current figure: run scripts/main.sh"
        assert min(image.size) >= 300
    if folder:
        expected = set(built.files) | set(built.png_svg)
        present = {f"{folder}/{p.name}" for p in (REPORTS / folder).iterdir()}
        assert present == expected, f"stray or missing files in reports/{folder}/: " \
                                    f"{sorted(present ^ expected)}"


def test_every_committed_folder_is_indexed():
    if not REPORTS.is_dir():
        pytest.skip("reports/ not generated yet")
    # a folder that looks like a cnnstat report (FOLDER/FOLDER.md) must be one of main.sh's;
    # other folders (reports/bench/, made by cnnstat bench) are listed in the index as others
    reports = {p.name for p in REPORTS.iterdir() if (p / f"{p.name}.md").is_file()}
    assert reports == {_folder(p) for p in PARTS if p != "index"}
    index = (REPORTS / "README.md").read_text()
    made_by = re.search(r"Made by `cnnstat report (.*?) --out DIR`", index).group(1)
    assert shlex.split(made_by) == [a for a in main_command() if a not in ("--out", "reports")]


@pytest.mark.slow
@pytest.mark.parametrize("part", [p for p in PARTS if p != "index"])
def test_committed_pngs_match_fresh_pixels(part):
    """Rasterise again and compare pixels: same size, at most 0.5% of the pixels differing."""
    import numpy as np
    from PIL import Image
    built = build(MODELS, OPTS, FORMATS, COMPARE, png=True, only={part})
    for rel, data in built.files.items():
        if rel.endswith(".png"):
            fresh = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.int16)
            committed = np.asarray(Image.open(REPORTS / rel).convert("RGB"), dtype=np.int16)
            assert fresh.shape == committed.shape, rel
            differing = (np.abs(fresh - committed).max(axis=2) > 16).mean()
            assert differing <= 0.005, f"{rel}: {differing:.2%} of the pixels differ"
