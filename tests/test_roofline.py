"""The roofline model (cnnstat.roofline): hand-derived bytes, intensities and times; device
profiles (datasheet data file, GPU name matching, the measured-profile cache); the roofline
command, its formats and plot, and that it never imports torch."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import cnnstat
from cnnstat.cli import main
from cnnstat.errors import UsageError
from cnnstat.roofline import (COMPUTE, MEMORY, VIEW, DeviceProfile, builtin_profiles, get_profile,
                              match_gpu, predict, save_profile)
from cnnstat.roofline.profiles import cache_path, cached_profiles

from .conftest import ROOT

TINY = """\
name: tiny
input: [3, 8, 8]
layers:
  - conv: conv2d(4, 3, padding=1, bias=false)
  - bn: batchnorm2d
  - relu: relu
  - flat: flatten
  - fc: linear(10)
"""


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    """No test sees (or writes) the user's cached device profiles."""
    monkeypatch.setenv("CNNSTAT_CACHE_DIR", str(tmp_path / "cnnstat-cache"))


@pytest.fixture
def tiny(tmp_path) -> str:
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY)
    return str(path)


def toy_profile(**changes) -> DeviceProfile:
    base = dict(name="toy", title="a toy device", matrix={"fp32": 1e9, "fp16": 1e9},
                vector=1e8, bandwidth=1e8, launch_overhead=1e-3, source="made up for a test")
    base.update(changes)
    return DeviceProfile(**base)


def test_layer_bytes_flops_and_times_by_hand(tiny):
    a = cnnstat.analyze(tiny, batch=2, count="all", dtype="fp16")
    p = predict(a, toy_profile())
    conv, bn, relu, flat, fc = p.layers
    # conv: 4 filters of 3x3x3 = 108 weights; input 2x3x8x8 = 384, output 2x4x8x8 = 512 elements;
    # 2 bytes each (fp16): 216 + 768 + 1024 = 2008 bytes.
    # MACs 2·4·8·8 · 27 = 13,824 → 27,648 FLOPs; intensity 27,648 / 2,008 = 13.77 FLOP/B
    assert (conv.cost.weight_bytes, conv.cost.input_bytes, conv.cost.output_bytes) == (216, 768, 1024)
    assert conv.cost.matrix_flops == 27_648 and conv.cost.vector_flops == 0
    assert conv.cost.intensity == pytest.approx(27_648 / 2008)
    # compute 27,648 / 1e9 = 27.648 µs > memory 2,008 / 1e8 = 20.08 µs → compute-bound
    assert conv.compute_s == pytest.approx(27.648e-6) and conv.memory_s == pytest.approx(20.08e-6)
    assert conv.bound == COMPUTE and conv.time_s == pytest.approx(27.648e-6)
    # batch norm: 8 parameters + 9 buffers (mean, var, num_batches_tracked) = 17 → 34 bytes, in
    # and out 1,024 each: 2,082 bytes → 20.82 µs; 512 folded multiply-adds → 1,024 FLOPs at the
    # vector peak: 10.24 µs → memory-bound
    assert bn.cost.bytes == 2082 and bn.cost.vector_flops == 1024
    assert bn.bound == MEMORY and bn.time_s == pytest.approx(20.82e-6)
    assert relu.cost.bytes == 2048 and relu.time_s == pytest.approx(20.48e-6)
    # flatten is a view: nothing moved, no launch
    assert flat.cost.view and flat.cost.bytes == 0 and flat.bound == VIEW and flat.time_s == 0
    # fc: 2,570 parameters (5,140 B), input 2x256 (1,024 B), output 2x10 (40 B) = 6,204 B →
    # 62.04 µs; 5,120 MACs (10,240 FLOPs, 10.24 µs) + 20 bias adds (40 FLOPs, 0.4 µs)
    assert fc.cost.bytes == 6204 and fc.cost.matrix_flops == 10_240 and fc.cost.vector_flops == 40
    assert fc.compute_s == pytest.approx(10.64e-6) and fc.bound == MEMORY
    # whole model: Σ = 27.648 + 20.82 + 20.48 + 0 + 62.04 = 130.988 µs; 4 launches × 1 ms
    assert p.launches == 4
    assert p.layers_s == pytest.approx(130.988e-6)
    assert p.total_s == pytest.approx(130.988e-6 + 4e-3)
    assert p.flops == 27_648 + 1024 + 1024 + 10_240 + 40
    assert p.time_by_bound()[COMPUTE] == pytest.approx(27.648e-6)


def test_the_counting_convention_decides_the_flops(tiny):
    """With the default convention only conv/linear work counts: batch norm then has 0 FLOPs,
    but it still moves its bytes (never a silent zero time)."""
    a = cnnstat.analyze(tiny, batch=2, dtype="fp16")
    p = predict(a, toy_profile())
    bn = p.layers[1]
    assert bn.cost.flops == 0 and bn.cost.bytes == 2082 and bn.time_s == pytest.approx(20.82e-6)
    assert p.layers[4].cost.vector_flops == 0                   # the bias adds are not counted


def test_tf32_for_convolutions_only_and_only_when_asked(tiny):
    prof = toy_profile(matrix={"fp32": 1e9, "tf32": 8e9})
    a = cnnstat.analyze(tiny, batch=2, count="all", dtype="fp32")
    p = predict(a, prof)
    assert p.layers[0].matrix_unit == "tf32" and p.layers[4].matrix_unit == "fp32"
    assert p.layers[0].compute_s == pytest.approx(27_648 / 8e9)
    q = predict(a, prof, tf32=False)
    assert q.layers[0].matrix_unit == "fp32" and q.layers[0].compute_s == pytest.approx(27_648 / 1e9)


def test_shared_weights_are_read_again_where_they_are_used():
    from cnnstat.analyze import analyze_graph
    from cnnstat.graph import Graph, Node
    conv = {"out": 3, "kernel": (1, 1), "stride": (1, 1), "padding": ((0, 0), (0, 0)),
            "dilation": (1, 1), "groups": 1, "bias": False, "padding_mode": "zeros"}
    graph = Graph([Node("x", "input", attrs={"shape": (3, 4, 4)}),
                   Node("a", "conv2d", ("x",), conv), Node("b", "conv2d", ("a",), conv, shares="a")])
    a = analyze_graph(graph, batch=1, dtype="fp32")
    p = predict(a, toy_profile())
    assert a.records[1].params == 0                            # counted once, at 'a' ...
    assert p.layers[1].cost.weight_bytes == p.layers[0].cost.weight_bytes == 9 * 4   # ... read twice


def test_a_dtype_the_device_lacks_is_one_clear_error(tiny):
    a = cnnstat.analyze(tiny, dtype="bf16")
    with pytest.raises(UsageError, match="no bf16 peak.*Turing"):
        predict(a, get_profile("t4"))
    with pytest.raises(UsageError, match="choose fp32, fp16 or bf16"):
        predict(cnnstat.analyze(tiny, dtype="int8"), get_profile("h100"))


@settings(max_examples=25, deadline=None)
@given(b1=st.integers(1, 64), b2=st.integers(1, 64), bw=st.floats(1e9, 1e13),
       peak=st.floats(1e11, 1e16))
def test_prediction_grows_with_the_batch_and_shrinks_with_faster_devices(b1, b2, bw, peak):
    small, large = sorted((b1, b2))
    prof = toy_profile(matrix={"fp32": peak}, vector=peak / 10, bandwidth=bw)
    t = {b: predict(cnnstat.analyze("lenet5", batch=b, count="all"), prof).layers_s
         for b in (small, large)}
    assert t[small] <= t[large] * (1 + 1e-12)
    faster = predict(cnnstat.analyze("lenet5", batch=small, count="all"),
                     toy_profile(matrix={"fp32": peak * 2}, vector=peak / 5, bandwidth=bw * 2))
    assert faster.layers_s == pytest.approx(t[small] / 2)


def test_totals_are_the_sum_of_the_layers_on_a_real_network():
    p = predict(cnnstat.analyze("resnet50", batch=8, count="all", dtype="bf16"), get_profile("h200"))
    assert p.layers_s == pytest.approx(sum(x.time_s for x in p.layers))
    assert p.bytes == sum(x.cost.bytes for x in p.layers)
    views = sum(1 for x in p.layers if x.cost.view)
    assert views == 1 and p.launches == len(p.layers) - 1     # resnet50's flatten
    ops = p.by_operator()
    assert sum(g["time_s"] for g in ops) == pytest.approx(p.layers_s)
    assert ops[0]["op"] == "conv2d"


# -- profiles --------------------------------------------------------------------------------------
def test_builtin_profiles_are_complete_and_cited():
    profiles = builtin_profiles()
    for name in ("a100", "h100", "h200", "l4", "t4"):
        assert name in profiles
    for p in profiles.values():
        assert "https://" in p.source and "nvidia" in p.source.lower()
        assert p.bandwidth > 1e11 and "fp32" in p.matrix and "fp16" in p.matrix
        # a ridge point between 1 and 1000 FLOP/byte for every dtype (sanity of the units)
        assert all(1 < v / p.bandwidth < 1000 for v in p.matrix.values())
    # dense figures: half the datasheet's "with sparsity" 1,979 TFLOPS for H100/H200 BF16
    assert profiles["h200"].matrix["bf16"] == pytest.approx(989.5e12)
    assert profiles["h200"].bandwidth == pytest.approx(4.8e12)
    assert profiles["a100"].matrix["tf32"] == pytest.approx(156e12)
    assert "bf16" not in profiles["t4"].matrix and "tf32" not in profiles["t4"].matrix


@pytest.mark.parametrize("name, expected", [
    ("NVIDIA H200", "h200"), ("NVIDIA H100 80GB HBM3", "h100"), ("NVIDIA H100 PCIe", "h100-pcie"),
    ("NVIDIA A100-SXM4-80GB", "a100"), ("NVIDIA A100-SXM4-40GB", "a100-40gb"),
    ("NVIDIA A100 80GB PCIe", "a100"), ("Tesla T4", "t4"), ("NVIDIA L4", "l4"),
    ("NVIDIA L40S", None), ("NVIDIA GeForce RTX 4090", None)])
def test_gpu_names_select_their_profile(name, expected):
    found = match_gpu(name)
    assert (found.name if found else None) == expected


def test_measured_profiles_are_cached_where_the_environment_says(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNSTAT_CACHE_DIR", str(tmp_path / "cache"))
    assert cache_path() == tmp_path / "cache" / "device-profiles.json"
    with pytest.raises(UsageError, match="cnnstat device-profile --device cpu"):
        get_profile("local")
    mine = toy_profile(name="local", measured={"date_utc": "2026-01-01T00:00:00Z"})
    save_profile(mine)
    again = get_profile("local")
    assert again == mine and not again.builtin
    assert set(cached_profiles()) == {"local"}
    (tmp_path / "cache" / "device-profiles.json").write_text("{not json")
    with pytest.raises(UsageError, match="delete the file"):
        get_profile("local")


def test_unknown_profile_names_the_choices():
    with pytest.raises(UsageError, match="unknown device profile 'h300'.*h100"):
        get_profile("h300")


# -- the command -----------------------------------------------------------------------------------
def cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_roofline_command_table_and_formats(capsys, tiny):
    code, out, err = cli(capsys, "roofline", "resnet18", "--device-profile", "h100", "--top", "3")
    assert code == 0 and "3 slowest layers" in out and "Where the time goes" in out
    assert "Williams, Waterman & Patterson" in out and "launches" in out
    code, out, _ = cli(capsys, "roofline", tiny, "-p", "t4", "--batch", "2", "--format", "json",
                       "--overhead-us", "7")
    data = json.loads(out)
    t = data["totals"]
    assert code == 0 and t["launches"] == 4 and t["overhead_s"] == pytest.approx(4 * 7e-6)
    assert t["predicted_s"] == pytest.approx(sum(x["predicted_s"] for x in data["layers"])
                                             + t["overhead_s"])
    assert data["layers"][0]["bytes"] == (108 + 384 + 512) * 4      # elements × 4 bytes (fp32)
    assert data["layers"][0]["matrix_peak"] == "fp32"
    code, out, _ = cli(capsys, "roofline", tiny, "-p", "h100", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["name"] for r in rows] == ["conv", "bn", "relu", "flat", "fc"]
    assert rows[3]["bound"] == "view" and rows[0]["matrix_peak"] == "tf32"
    code, out, _ = cli(capsys, "roofline", tiny, "-p", "h100", "--format", "md")
    assert out.startswith("## tiny: roofline on NVIDIA H100") and "https://" in out


def test_roofline_errors_are_one_line(capsys, tiny):
    for argv, message in (
            (["roofline", tiny], "name a device with --device-profile"),
            (["roofline", tiny, "-p", "t4", "--dtype", "bf16"], "no bf16 peak"),
            (["roofline", tiny, "-p", "h100", "--dtype", "fp64"], "choose fp32, fp16 or bf16"),
            (["roofline", tiny, "-p", "h100", "--plot", "x.pdf"], ".png or .svg")):
        code, out, err = cli(capsys, *argv)
        assert code == 2 and err.startswith("error: ") and message in err
        assert err.count("\n") == 1 and "Traceback" not in err


def test_roofline_plot(capsys, tmp_path):
    png = tmp_path / "rl.png"
    code, _, err = cli(capsys, "roofline", "mobilenet_v2", "-p", "l4", "--dtype", "fp16",
                       "--batch", "8", "--plot", str(png), "--format", "json")
    assert code == 0 and f"wrote {png}" in err
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = tmp_path / "rl.svg"
    cli(capsys, "roofline", "mobilenet_v2", "-p", "l4", "--plot", str(svg), "--format", "json")
    text = svg.read_text()
    assert "roofline" in text and "memory-bound" in text and "fp32 matrix peak" in text


def test_roofline_with_a_builtin_profile_never_imports_torch():
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "cnnstat", "roofline",
                             "resnet50", "--device-profile", "h200", "--format", "json"],
                            capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    imported = {line.split("|")[-1].strip() for line in result.stderr.splitlines()
                if line.startswith("import time:")}
    assert not {m for m in imported if m.split(".")[0] == "torch"}
    assert json.loads(result.stdout)["profile"]["name"] == "h200"


def test_device_profile_list_is_static(capsys):
    code, out, _ = cli(capsys, "device-profile", "--list", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and {"a100", "h100", "h200", "l4", "t4"} <= {r["name"] for r in rows}
    assert Path(ROOT / "cnnstat" / "data" / "devices.yaml").exists()
