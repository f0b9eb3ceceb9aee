"""Helpers shared by the paper tables: the data files, cached analyses of zoo models, the
paper's ways of writing sizes and numbers, and the arithmetic quoted in notes.

Every computed figure comes from :func:`cnnstat.analyze` on a zoo definition; the helpers here
only select records and format them.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

from ..analyze import Analysis, LayerRecord
from ..render.numbers import grouped
from .model import Cell, PaperTable, Published, Row

DATA_DIR = Path(__file__).resolve().parent


@lru_cache(maxsize=None)
def data(name: str) -> dict:
    """The published figures of one paper: ``cnnstat/papers/<name>.yaml``."""
    import yaml
    with open(DATA_DIR / f"{name}.yaml", encoding="utf-8") as handle:
        return yaml.safe_load(handle)


@lru_cache(maxsize=64)
def _analysis(model: str, overrides: tuple[tuple[str, Any], ...], input: Any) -> Analysis:
    from ..analyze import analyze_model as analyze
    return analyze(model, input=input, set=dict(overrides) or None)


def analysis(model: str, input: Any = None, **overrides: Any) -> Analysis:
    """cnnstat's analysis of a zoo model (default convention), cached per model and settings."""
    return _analysis(model, tuple(sorted(overrides.items())), input)


def under(a: Analysis, prefix: str) -> list[LayerRecord]:
    """The records of a layer and everything nested in it (``inception3a`` → its 20 layers)."""
    return [r for r in a.records if r.name == prefix or r.name.startswith(prefix + ".")]


def total(records: Iterable[LayerRecord], field: str = "params") -> int:
    return sum(getattr(r, field) for r in records)


def weight_layers(records: Iterable[LayerRecord]) -> list[LayerRecord]:
    """Convolutions and fully connected layers, the layers the papers count as 'weight layers'."""
    return [r for r in records if r.op in ("conv2d", "partial_conv2d", "linear")]


# --- how papers write things ---------------------------------------------------------------------
def size_hw(shape: tuple[int, ...]) -> str:
    """(1, 64, 112, 112) → '112×112'."""
    return f"{shape[2]}×{shape[3]}" if len(shape) == 4 else "1×1"


def size_hwc(shape: tuple[int, ...]) -> str:
    """(1, 64, 112, 112) → '112×112×64'; a vector (1, 1000) → '1×1×1000'."""
    if len(shape) == 4:
        return f"{shape[2]}×{shape[3]}×{shape[1]}"
    return f"1×1×{shape[-1]}"


def maps(shape: tuple[int, ...]) -> str:
    """LeNet's notation: (1, 6, 28, 28) → '6@28×28'; a vector → its units."""
    return f"{shape[1]}@{shape[2]}×{shape[3]}" if len(shape) == 4 else str(shape[-1])


def patch(r: LayerRecord) -> str:
    """Kernel/stride as GoogLeNet's Table 1 writes it: '7×7/2'."""
    kh, kw = r.attrs["kernel"]
    stride = r.attrs.get("stride") or r.attrs["kernel"]
    return f"{kh}×{kw}/{stride[0]}"


def weights_arithmetic(r: LayerRecord) -> str:
    """The weight count of a convolution or linear layer as a product: '7×7×3×64 = 9,408'."""
    if r.op == "conv2d":
        kh, kw = r.attrs["kernel"]
        c_in = r.input_shapes[0][1] // r.attrs["groups"]
        n = kh * kw * c_in * r.attrs["out"]
        return f"{kh}×{kw}×{c_in}×{r.attrs['out']} = {grouped(n)}"
    if r.op == "linear":
        n = r.input_shapes[0][-1] * r.attrs["out"]
        return f"{r.input_shapes[0][-1]}×{r.attrs['out']} = {grouped(n)}"
    raise ValueError(f"no weight arithmetic for {r.op}")


def weight_count(r: LayerRecord) -> int:
    """Weights of a convolution or linear layer, without biases: its MACs per output position."""
    positions = r.output_shape[2] * r.output_shape[3] if len(r.output_shape) == 4 else 1
    return r.macs // (r.output_shape[0] * positions)


# --- numbers ---------------------------------------------------------------------------------------
def scaled(value: float, multiplier: float, decimals: int, suffix: str = "") -> str:
    """A number in the paper's unit: scaled(9408, 1024, 1, "K") → '9.2K'; a word unit is spaced:
    scaled(60965224, 1e6, 1, "million") → '61.0 million'."""
    if multiplier == 1 and decimals == 0 and not suffix:
        return grouped(int(value))
    sep = " " if len(suffix) > 1 else ""
    return f"{value / multiplier:,.{decimals}f}{sep}{suffix}"


def number_cell(published: Any, computed: int | None, scale: float = 1,
                suffixes: dict[str, float] | None = None) -> Cell:
    """A number cell: the printed figure (``"159K"``, ``"3.8"``) read with the paper's units, and
    cnnstat's integer shown in the same unit with one more decimal than the paper prints."""
    pub = None if published is None else Published.parse(published, scale, suffixes)
    shown = None
    if computed is not None:
        if pub is None:
            shown = scaled(computed, scale, 0 if scale == 1 else 2)
        else:
            digits, suffix = _split(pub.text)
            decimals = len(digits.split(".")[1]) if "." in digits else 0
            multiplier = scale * ((suffixes or {}).get(suffix, 1) if suffix else 1)
            exact = multiplier == 1
            shown = grouped(int(computed)) if exact else scaled(computed, multiplier, decimals + 1,
                                                                 suffix)
    return Cell(published=pub, computed=computed, shown=shown)


def _split(text: str) -> tuple[str, str]:
    from .model import _NUMBER
    m = _NUMBER.match(text)
    assert m is not None
    return m.group(1).replace(",", ""), m.group(2)


def text_cell(published: str | None, computed: str | None) -> Cell:
    return Cell(published=published, computed=computed, shown=computed)


def explain(table: PaperTable, row: Row, text: str, keys: Iterable[str] | None = None) -> int:
    """Attach a note to the cells of ``row`` that differ (among ``keys``), or, when none does,
    to the row's first cell (an explanation that is not a difference)."""
    number = table.add_note(text)
    keys = list(keys) if keys is not None else list(row.cells)
    differing = [k for k in keys if k in row.cells and row.cells[k].status == "differs"]
    for k in differing or [table.columns[0].key]:
        cell = row.cells.setdefault(k, Cell())
        if cell.note is None:
            cell.note = number
    return number
