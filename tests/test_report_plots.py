"""Plots: reproducible bytes, titled and labelled with units, readable labels; matplotlib and torch
stay off the static path."""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys

import pytest

import cnnstat
from cnnstat import plots
from cnnstat.report.compare import compare_row


@pytest.fixture(scope="module")
def lenet():
    return cnnstat.analyze("lenet5")


def _texts(fig) -> list[str]:
    out = [t.get_text() for t in fig.texts]
    if fig._suptitle is not None:
        out.append(fig._suptitle.get_text())
    for ax in fig.axes:
        out += [ax.get_title(loc) for loc in ("left", "center", "right")]
    return [t for t in out if t]


@pytest.mark.parametrize("name", ["layer_work_figure", "memory_figure", "rf_figure"])
def test_model_plots_are_titled_and_labelled(lenet, name):
    fig = getattr(plots, name)(lenet)
    try:
        assert any("lenet5" in t for t in _texts(fig))
        for ax in fig.axes:
            if ax.get_visible() and ax.has_data():
                assert ax.get_ylabel(), f"{name}: an axis without a y label"
                assert "(" in ax.get_ylabel(), f"{name}: y label without a unit"
        assert fig.axes[-1].get_xlabel() or fig.axes[0].get_xlabel()
    finally:
        plots._plt().close(fig)


def test_units():
    assert plots._decimal_unit([138_357_544], "") == (1e6, "M")
    assert plots._decimal_unit([15_470_264_320], "MACs") == (1e9, "GMACs")
    assert plots._decimal_unit([999], "MACs") == (1.0, "MACs")
    assert plots._binary_unit([25_690_112]) == (2.0**20, "MiB")      # 24.5 MiB
    assert plots._wide_range([1_792, 102_764_544])                      # VGG16 conv1 vs fc1
    assert not plots._wide_range([51_380_224, 115_605_504])


def test_rendering_is_reproducible(lenet):
    first = plots.render_all(plots.rf_figure(lenet))
    second = plots.render_all(plots.rf_figure(lenet))
    assert first == second
    assert b"<dc:date>" not in first["svg"] and b"Matplotlib v" not in first["png"]
    from PIL import Image
    image = Image.open(io.BytesIO(first["png"]))
    # the PNG names the SVG drawn from the same figure (the committed-reports test relies on it)
    assert image.info[plots.SVG_HASH_KEY] == hashlib.sha256(first["svg"]).hexdigest()
    assert image.size == (1100, 594)                                  # 10 x 5.4 in at 110 dpi


def test_labels_do_not_overlap():
    plt = plots._plt()
    rows = [compare_row(cnnstat.analyze(n), n) for n in
            ("vgg11", "vgg13", "vgg16", "vgg19", "vgg11_bn", "vgg16_bn", "resnet18", "resnet34")]
    fig = plots.tradeoff_figure(rows, "test")
    try:
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        ax = fig.axes[0]
        boxes = [t.get_window_extent(renderer) for t in ax.texts]
        assert len(boxes) == len(rows)
        for i, a in enumerate(boxes):
            for b in boxes[i + 1:]:
                assert not a.overlaps(b), "two point labels overlap"
    finally:
        plt.close(fig)


def test_static_path_imports_neither_matplotlib_nor_torch():
    code = ("import sys, cnnstat, cnnstat.report, cnnstat.cli; "
            "from cnnstat.cli import main; main(['compare', 'lenet5', '--format', 'csv']); "
            "print(sorted(m for m in ('torch', 'matplotlib', 'pandas') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().endswith("[]")
