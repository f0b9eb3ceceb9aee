"""``cnnstat report``: every file of a set of reports, built in memory, then written together.

Layout under the output folder::

    README.md                     index: one line per model, links, the comparison
    <model>/<model>.md            the report (plots linked next to it)
    <model>/<model>.html          the same report, one self-contained page
    <model>/<model>.csv           every layer, raw integers (the `full` view)
    <model>/<model>.json          the JSON contract (docs/json.md)
    <model>/<model>-layers.png|svg, -memory.png|svg, -rf.png|svg   the plots
    <model>/<model>-graph.html    the interactive layer graph (cnnstat view), with md or html
    comparison/comparison.md|html|csv|json, -totals.png|svg, -tradeoff.png|svg
    comparison/comparison-timeline.png|svg, -tree.png|svg, history.html   with --compare zoo:
                                  the zoo's history (cnnstat history), as published only

Nothing is written until every model has been analysed and every file rendered; then all files
are written at once (cnnstat.fileio.write_tree: every target checked, the files assembled in a
temporary folder and moved into place): an error, a full disk or Ctrl-C leaves the folder as it
was, or, past that point, fully updated.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..analyze import Analysis
from ..convention import DEFAULT_EXTRA
from ..errors import UsageError
from ..render import numbers as fmt
from ..render.facts import model_title
from . import compare as cmp
from .document import Block, Facts, Heading, Para, Table, figures, to_html, to_markdown
from .model import FORMATS, MEMORY_PLOTS, PLOTS, model_blocks, slug, training_memory

COMPARE_CHOICES = ("auto", "models", "zoo", "none")


def parse_formats(text: str | None) -> tuple[str, ...]:
    if not text:
        return FORMATS
    items = tuple(dict.fromkeys(t.strip().lower() for t in text.split(",") if t.strip()))
    bad = [t for t in items if t not in FORMATS]
    if bad or not items:
        from ..suggest import did_you_mean
        word = bad[0] if bad else text
        raise UsageError(f"--format: unknown format '{word}'{did_you_mean(word, FORMATS)}; "
                         f"choose from {', '.join(FORMATS)} (comma-separated)")
    return items


@dataclass
class Options:
    """How the models are analysed (the same for all of them)."""
    input: str | None = None
    batch: int = 1
    set: list[str] | None = None
    count: str | None = None
    dtype: str = "fp32"
    args: list[str] | None = None       # --arg: an imported model's builder arguments
    train: bool = False                 # --train: training-only layers counted

    @property
    def as_published(self) -> bool:
        """Analysed as the model is published, so that a published accuracy applies."""
        return self.input is None and not self.set and not self.args and not self.train

    def command_args(self) -> str:
        parts = []
        if self.input:
            parts.append(f"--input {self.input}")
        if self.batch != 1:
            parts.append(f"--batch {self.batch}")
        for s in self.set or []:
            parts.append(f"--set {s}")
        for s in self.args or []:
            parts.append(f"--arg {s}")
        if self.count:
            parts.append(f"--count {self.count}")
        if self.dtype != "fp32":
            parts.append(f"--dtype {self.dtype}")
        if self.train:
            parts.append("--train")
        return " ".join(parts)


def analyse(model: str, opts: Options) -> Analysis:
    from ..analyze import analyze_model as analyze
    return analyze(model, opts.input, batch=opts.batch, set=opts.set, args=opts.args,
                   count=opts.count, dtype=opts.dtype, train=opts.train)


@dataclass
class Built:
    """Files by path relative to the output folder, plus what the index needs. Built with
    ``png=False``, PNGs are not rasterised: ``png_svg`` records, for each PNG path, the SHA-256
    of the SVG drawn from the same figure (which the PNG carries; see docs/reports.md)."""
    files: dict[str, str | bytes] = field(default_factory=dict)
    entries: list[tuple[str, Analysis, str]] = field(default_factory=list)  # (label, analysis, dir)
    comparison: str | None = None      # the comparison's folder, if any
    png: bool = True
    png_svg: dict[str, str] = field(default_factory=dict)

    def add(self, folder: str, name: str, data: str | bytes) -> None:
        path = f"{folder}/{name}" if folder else name
        if path in self.files:
            raise UsageError(f"two reports would write '{path}': give models different names")
        self.files[path] = data


def _render_figures(figs: dict[str, Callable[[], object]], stem: str, formats: tuple[str, ...],
                    built: Built, folder: str) -> dict[str, bytes]:
    """Draw and render each figure in turn (``figs``: suffix → function making the figure); PNG
    and SVG files when Markdown is asked (it links them), the SVGs returned for the HTML page
    (which inlines them)."""
    import hashlib
    from .. import plots
    svgs = {}
    for suffix, make in figs.items():
        fig = make()
        name = f"{stem}-{suffix}"
        if "md" in formats and built.png:
            out = plots.render_all(fig)
            built.add(folder, f"{name}.png", out["png"])
        else:
            out = {"svg": plots.render_svg(fig)}
        if "md" in formats:
            built.add(folder, f"{name}.svg", out["svg"])
            if not built.png:
                path = f"{folder}/{name}.png" if folder else f"{name}.png"
                built.png_svg[path] = hashlib.sha256(out["svg"]).hexdigest()
        svgs[name] = out["svg"]
    return svgs


def _graph_view(a: Analysis) -> str:
    """The interactive layer graph (cnnstat view) of the analysis, as one HTML page."""
    from ..view import render_view
    return render_view(a)


def model_files(a: Analysis, label: str, formats: tuple[str, ...], built: Built,
                folder: str, *, published: bool = True) -> None:
    stem = slug(label)
    view = _graph_view(a) if ("md" in formats or "html" in formats) else None
    from .paper import paper_blocks
    paper = paper_blocks(label, a.convention.extra <= DEFAULT_EXTRA) if published else []
    acc = None
    if published:
        from .accuracy import lookup
        acc = lookup(label)
    blocks = model_blocks(a, stem, formats, paper=paper, graph=view is not None, accuracy=acc)
    if "md" in formats or "html" in formats:
        from .. import plots
        figs = {suffix: (lambda fn=fn: getattr(plots, fn)(a)) for suffix, _, fn in PLOTS}
        train = training_memory(a)[1]
        if train is not None:
            figs.update({suffix: (lambda fn=fn: getattr(plots, fn)(train))
                         for suffix, _, fn in MEMORY_PLOTS})
        svgs = _render_figures(figs, stem, formats, built, folder)
        if view is not None:
            built.add(folder, f"{stem}-graph.html", view)
    if "md" in formats:
        built.add(folder, f"{stem}.md", to_markdown(blocks))
    if "csv" in formats:
        from ..render.views import csv_text
        built.add(folder, f"{stem}.csv", csv_text(a, "full"))
    if "json" in formats:
        from ..render.jsonout import to_json
        built.add(folder, f"{stem}.json", to_json(a))
    if "html" in formats:
        built.add(folder, f"{stem}.html", to_html(model_title(a), blocks, svgs))


def comparison_files(rows: list[cmp.CompareRow], convention, formats: tuple[str, ...],
                     built: Built, folder: str, title: str, history=None) -> None:
    """The comparison; ``history`` (cnnstat.report.history.History): its section, figures and
    the family tree page (history.html) too."""
    stem = "comparison"
    blocks = cmp.compare_blocks(rows, convention, stem, title)
    others = [f"[{stem}.{ext}]({stem}.{ext})" for ext in ("csv", "json", "html", "md")
              if ext in formats]
    pages = "md" in formats or "html" in formats
    if history is not None and pages:
        others.append("[history.html](history.html) (the family tree, interactive)")
    if others:
        blocks.insert(2, Para("Files: " + " · ".join(others) + "."))
    figs = cmp.figures(rows, title)
    if history is not None:
        blocks += history.blocks(stem, level=2, links="The tree as an interactive page: "
                                 "[history.html](history.html)." if pages else "")
        figs.update(history.figures())
    svgs = {}
    if pages:
        svgs = _render_figures(figs, stem, formats, built, folder)
        if history is not None:
            built.add(folder, "history.html", history.page())
    if "md" in formats:
        built.add(folder, f"{stem}.md", to_markdown(blocks))
    if "csv" in formats:
        built.add(folder, f"{stem}.csv", cmp.csv_text(rows))
    if "json" in formats:
        built.add(folder, f"{stem}.json", cmp.to_json(rows, convention))
    if "html" in formats:
        built.add(folder, f"{stem}.html", to_html(title, blocks, svgs))
    built.comparison = folder


def zoo_models() -> list[str]:
    """Every zoo name (cnnstat list), in the zoo's order."""
    from .. import zoo
    return zoo.names()


def other_entries(out_dir: str | os.PathLike | None, own: set[str]) -> list[tuple[str, str]]:
    """What else the output folder holds, for the index: (link, title) of each sub-folder with a
    README.md and each Markdown file at the top, other than this command's own; the title is
    the file's first heading."""
    root = Path(out_dir) if out_dir is not None else None
    if root is None or not root.is_dir():
        return []
    out = []
    for path in sorted(root.iterdir(), key=lambda p: p.name):
        if path.name in own or path.name.startswith(".") or path.name == "README.md":
            continue
        page = path / "README.md" if path.is_dir() else path
        if not page.is_file() or page.suffix != ".md":
            continue
        title = path.name
        for line in page.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("# "):
                title = line[2:].strip()
                break
        out.append((f"{path.name}/README.md" if path.is_dir() else path.name, title))
    return out


def index_markdown(built: Built, opts: Options, models: list[str], compare: str,
                   formats: tuple[str, ...], out_dir: str | os.PathLike | None = None) -> str:
    """README.md of the output folder: what is there, with headline numbers and links."""
    blocks: list[Block] = [Heading("cnnstat reports", 1)]
    command = " ".join(["cnnstat report", *models, opts.command_args(),
                        f"--format {','.join(formats)}" if formats != FORMATS else "",
                        f"--compare {compare}" if compare != "auto" else "", "--out DIR"])
    blocks.append(Para(f"Made by `{' '.join(command.split())}`. Every number is computed "
                       "statically from the model's definition; published accuracies are cited "
                       "where shown."))
    rows = []
    for label, a, folder in built.entries:
        stem = slug(label)
        links = " · ".join(f"[{ext}]({folder}/{stem}.{ext})" for ext in formats)
        t = a.totals
        rows.append([f"[{label}]({folder}/{stem}.{'md' if 'md' in formats else formats[0]})",
                     model_title(a).split(" — ", 1)[-1], fmt.dims(a.input_shape),
                     fmt.human(t.params),
                     fmt.human(t.macs, "MAC"), fmt.human_bytes(t.peak_activation_bytes), links])
    blocks += [Heading("Models"),
               Table(["model", "title", "input", "params", "MACs", "peak activation memory",
                      "files"], rows, [False, False, False, True, True, True, False])]
    if built.comparison:
        ext = "md" if "md" in formats else formats[0]
        blocks += [Heading("Comparison"),
                   Para(f"[{built.comparison}/comparison.{ext}]({built.comparison}/comparison.{ext})"
                        ": every model's totals side by side, and multiply-adds against "
                        "parameters coloured by published ImageNet top-1 accuracy"
                        + ("; the zoo's history: a timeline and a family tree "
                           f"([interactive]({built.comparison}/history.html))"
                           if compare == "zoo" and opts.as_published
                           and ("md" in formats or "html" in formats) else "") + ".")]
    own = {folder for _, _, folder in built.entries} | ({built.comparison} if built.comparison
                                                         else set())
    others = other_entries(out_dir, own)
    if others:
        blocks += [Heading("Other reports in this folder"),
                   Para("Not made by this command (and not regenerated by it):"),
                   Facts([(f"[{link}]({link})", title) for link, title in others])]
    convention = built.entries[0][1].convention if built.entries else None
    if convention is not None:
        blocks += [Heading("Counting convention"), Para(convention.describe() + ".")]
    blocks += [Heading("Files of a report"),
               Facts([("MODEL.md", "summary, totals, convention, plots, receptive-field and "
                                   "per-layer tables"),
                      ("MODEL.html", "the same, as one self-contained page"),
                      ("MODEL.csv", "every layer, raw integers"),
                      ("MODEL.json", "the JSON contract (docs/json.md)"),
                      ("MODEL-*.png, .svg", "the plots (click a plot in the Markdown for the SVG)"),
                      ("MODEL-graph.html", "the interactive layer graph")])]
    return to_markdown(blocks)


def build(models: list[str], opts: Options, formats: tuple[str, ...] = FORMATS,
          compare: str = "auto", progress: Callable[[str], None] | None = None, *,
          png: bool = True, only: set[str] | None = None,
          out_dir: str | os.PathLike | None = None) -> Built:
    """Analyse every model and render every file, in memory. Raises before anything is written.
    ``only``: render just these parts — model names, "comparison", "index" (the freshness test
    checks the committed reports part by part). ``out_dir``: where the files will go; the index
    lists what else is there."""
    if compare not in COMPARE_CHOICES:
        raise UsageError(f"--compare: choose from {', '.join(COMPARE_CHOICES)}, got '{compare}'")
    if not models and compare != "zoo":
        raise UsageError("no model given: name models (cnnstat list), or --compare zoo")
    built = Built(png=png)
    wanted = (lambda part: True) if only is None else (lambda part: part in only)
    analyses: dict[str, Analysis] = {}
    for model in models:                      # every analysis first: a bad model fails early
        if model in analyses:
            continue
        analyses[model] = analyse(model, opts)
    folders: dict[str, str] = {}
    for model, a in analyses.items():
        folder = slug(model)
        if folder in folders.values() or folder == "comparison":
            raise UsageError(f"two reports would be written to the folder '{folder}/': "
                             "give models different names")
        folders[model] = folder
    for model, a in analyses.items():
        if wanted(model):
            if progress:
                progress(model)
            model_files(a, model, formats, built, folders[model], published=opts.as_published)
        built.entries.append((model, a, folders[model]))
    comparing = compare == "zoo" or (compare == "auto" and len(analyses) > 1) or \
        (compare == "models" and analyses)
    if comparing and not wanted("comparison"):
        built.comparison = "comparison"
    elif comparing:
        if compare == "zoo":
            names = zoo_models()
            title = f"Comparison across the zoo ({len(names)} models)"
        else:
            names = list(analyses)
            title = f"Comparison of {len(names)} models"
        if progress:
            progress("comparison")
        rows = [cmp.compare_row(analyses.get(n) or analyse(n, opts), n,
                                published=opts.as_published) for n in names]
        convention = (next(iter(analyses.values())) if analyses else analyse(names[0], opts)).convention
        history = None
        if compare == "zoo" and opts.as_published:      # the zoo as published: its history
            from .history import build_history
            history = build_history(rows, count=convention)
        comparison_files(rows, convention, formats, built, "comparison", title, history)
    if wanted("index"):
        built.files["README.md"] = index_markdown(built, opts, models, compare, formats,
                                                  out_dir)
    return built


def write(built: Built, out_dir: str | os.PathLike) -> list[Path]:
    """Write every built file under out_dir, all together (see the module docstring)."""
    from ..fileio import write_tree
    return write_tree(out_dir, built.files)
