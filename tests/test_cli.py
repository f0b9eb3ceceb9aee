"""The command line: every static command and format, errors as one line with exit status 2,
atomic --out, and no torch on the static path."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from cnnstat.cli import main

from .conftest import ROOT, check_golden

GOLDEN = Path(__file__).parent / "golden"


def cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_params_vgg16_is_the_tutorial_table(capsys):
    code, out, err = cli(capsys, "params", "vgg16")
    assert code == 0 and not err
    assert "Conv2d(3, 64, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))" in out
    assert "Linear(in_features=25088, out_features=4096, bias=True)" in out
    assert "138,357,544" in out
    assert "MACs: conv + linear + attention, 1 MAC = 1 multiply-add, bias excluded" in out   # the convention,
    assert "--explain for details" in out                  # always; short on a terminal
    code, out, _ = cli(capsys, "params", "vgg16", "--explain")
    assert "1 fused multiply-add = 1 MAC; counted: convolution and linear" in out


def test_convention_short_on_a_terminal_complete_in_files(capsys):
    from cnnstat import analyze
    convention = analyze("lenet5").convention
    full, short = convention.describe(), convention.short()
    # the default convention (conv + linear weights and attention, bias not counted) in one line
    # of 93 characters; the complete statement (222) names every kind left out
    assert short == "MACs: conv + linear + attention, 1 MAC = 1 multiply-add, bias excluded; --explain for details"
    assert len(short) == 93 and len(full) == 222
    _, out, _ = cli(capsys, "flops", "lenet5")
    assert short in out and full not in out
    _, md, _ = cli(capsys, "flops", "lenet5", "-f", "md")
    assert full in md and short not in md
    _, js, _ = cli(capsys, "flops", "lenet5", "-f", "json")
    assert json.loads(js)["convention"]["description"] == full and "--explain" not in js
    _, _, err = cli(capsys, "flops", "lenet5", "-f", "csv")
    assert err.strip() == f"# {short}"
    _, _, err = cli(capsys, "flops", "lenet5", "-f", "csv", "--explain")
    assert err.strip() == f"# {full}"


@pytest.mark.parametrize("command", ["summary", "params", "shapes", "flops", "rf"])
def test_every_view_in_every_format(capsys, command):
    code, out, _ = cli(capsys, command, "resnet18", "--format", "json")
    assert code == 0
    data = json.loads(out)
    # ResNet-18: 11,689,512 parameters (torchvision's model card)
    assert data["totals"]["params"] == 11_689_512 and data["convention"]["unit"] == "MAC"
    code, out, err = cli(capsys, command, "resnet18", "--format", "csv")
    table = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and len(table) == len(data["layers"])
    assert "MACs" in err                                   # convention on stderr for CSV
    code, out, _ = cli(capsys, command, "resnet18", "--format", "md")
    assert code == 0 and out.startswith("## resnet18") and "**convention**" in out
    code, out, _ = cli(capsys, command, "resnet18")
    assert code == 0 and "resnet18" in out


def test_options(capsys):
    code, out, _ = cli(capsys, "shapes", "resnet50", "--input", "3x64x96", "--format", "csv",
                       "--layout", "nhwc", "--batch", "4")
    first = next(csv.DictReader(io.StringIO(out)))
    assert first["output_shape"] == "4x64x32x48"           # CSV keeps NCHW numbers
    code, out, _ = cli(capsys, "shapes", "resnet50", "--input", "64x96", "--layout", "nhwc",
                       "--format", "md")
    assert "[1, 32, 48, 64]" in out                        # display permuted to NHWC
    code, out, _ = cli(capsys, "summary", "resnet50", "--depth", "1", "--format", "json")
    layers = json.loads(out)["layers"]
    assert [x["name"] for x in layers][4:8] == ["layer1", "layer2", "layer3", "layer4"]
    code, out, _ = cli(capsys, "flops", "resnet50", "--count", "all", "--format", "json")
    d = json.loads(out)
    assert d["totals"]["macs"] == sum(d["totals"]["macs_by_kind"].values())
    assert "bias" in d["convention"]["counted"]


def test_set_and_variant_on_a_file(capsys, tmp_path):
    path = tmp_path / "net.yaml"
    path.write_text("input: [3, 32, 32]\nvars: {w: 8}\nvariants: {small: {w: 4}, big: {w: 16}}\n"
                    "layers:\n  - conv: conv2d(w, 3)\n")
    _, out, _ = cli(capsys, "params", str(path), "--format", "json", "--variant", "big")
    assert json.loads(out)["totals"]["params"] == 16 * 27 + 16
    _, out, _ = cli(capsys, "params", str(path), "--format", "json", "--set", "w=2")
    assert json.loads(out)["totals"]["params"] == 2 * 27 + 2


def test_shapes_of_every_zoo_model(capsys):
    code, out, _ = cli(capsys, "shapes", "--input", "16", "--format", "json")
    rows = {r["model"]: r for r in json.loads(out)}
    assert code == 0 and {"vgg16", "resnet50"} <= set(rows)
    # VGG's five 2x2 pools need 32x32: at 16, the last pool sees 1x1
    assert rows["vgg16"]["error"] and rows["vgg16"]["smallest_input"] == 32
    _, out, _ = cli(capsys, "shapes", "--input", "224", "--format", "json")
    rows = {r["model"]: r for r in json.loads(out)}
    assert rows["resnet50"]["stages"][:5] == [[112, 112], [56, 56], [28, 28], [14, 14], [7, 7]]
    assert rows["resnet50"]["output_shape"] == [1, 1000]


def test_list(capsys):
    code, out, _ = cli(capsys, "list", "--format", "json")
    families = json.loads(out)
    assert code == 0
    vgg = next(f for f in families if "vgg16" in f["variants"])
    assert vgg["year"] == "2014" and "Simonyan" in vgg["paper"]


@pytest.mark.parametrize("argv, message", [
    (["params", "vgg17"], "unknown model 'vgg17' (did you mean"),
    (["params", "vgg16", "--input", "16"], "too small"),
    (["params", "vgg16", "--input", "abc"], "is not a size"),
    (["params", "vgg16", "--batch", "0"], "batch size must be a positive integer"),
    (["params", "vgg16", "--set", "nope=1"], "unknown variable 'nope'"),
    (["params", "vgg16", "--set", "novalue"], "NAME=VALUE"),
    (["params", "vgg16", "--count", "bogus"], "unknown kind"),
    (["params", "vgg16", "--bogus"], "no such option '--bogus'"),
    (["params", "vgg16", "--fromat", "md"], "no such option '--fromat' (did you mean '--format'?)"),
    (["params", "vgg16", "-f", "jsn"], "--format: unknown value 'jsn' (did you mean 'json'?)"),
    (["params", "vgg16", "--columns", "parms"], "unknown column 'parms' (did you mean 'params'?)"),
    (["params", "vgg16", "--batch", "two"], "--batch 'two' is not a whole number"),
    (["params", "vgg16", "vgg19"], "unexpected argument 'vgg19'"),
    (["params", "VGG16"], "unknown model 'VGG16' (did you mean 'vgg16'"),
    (["params"], "missing argument MODEL"),
    (["params", "/no/such/file.yaml"], "does not exist"),
    (["shapes"], "needs --input"),
    (["frobnicate"], "no such command 'frobnicate'"),
    (["parms", "vgg16"], "no such command 'parms' (did you mean 'params'"),
])
def test_errors_are_one_line_exit_2(capsys, argv, message):
    code, out, err = cli(capsys, *argv)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert message in lines[0] and "Traceback" not in err


def test_definition_error_points_to_file_and_line(capsys, tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("input: [3, 32, 32]\nlayers:\n  - conv2d(8, 3)\n  - x: conv2d(8, 3, groupz=2)\n")
    code, _, err = cli(capsys, "summary", str(path))
    assert code == 2
    assert err.strip() == (f"error: {path}:4: layer x: conv2d has no argument 'groupz' (did you "
                           "mean 'groups'?); it takes conv2d(out, kernel, stride=1, padding=0, "
                           "dilation=1, groups=1, bias=true, padding_mode='zeros', held=none)")


def test_operator_names_are_suggested_whatever_their_case(capsys, tmp_path):
    path = tmp_path / "net.yaml"
    path.write_text("input: [3, 32, 32]\nlayers:\n  - conv2d(8, 3)\n  - ReLU\n")
    code, _, err = cli(capsys, "summary", str(path))
    assert code == 2 and "unknown operator or block 'ReLU' (did you mean 'relu'?)" in err


def test_option_values_in_any_case(capsys):
    # --format JSON, --layout NHWC, --dtype FP16: the same as in lower case
    code, out, _ = cli(capsys, "params", "lenet5", "-f", "JSON", "--layout", "NHWC",
                       "--dtype", "FP16")
    data = json.loads(out)
    assert code == 0 and data["dtype"] == "fp16"
    code, _, err = cli(capsys, "params", "lenet5", "--dtype", "fp17")
    assert code == 2 and "unknown dtype 'fp17' (did you mean 'fp16'?)" in err


def test_out_is_atomic(capsys, tmp_path):
    target = tmp_path / "reports" / "vgg16.md"
    code, _, err = cli(capsys, "params", "vgg16", "--out", str(target))
    assert code == 0 and target.read_text().startswith("## vgg16") and "wrote" in err
    failed = tmp_path / "bad.md"
    code, _, _ = cli(capsys, "params", "vgg16", "--input", "8", "--out", str(failed))
    assert code == 2 and not failed.exists()
    assert [p.name for p in target.parent.iterdir()] == ["vgg16.md"]    # no temp files left


def test_static_path_does_not_import_torch():
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "cnnstat", "params", "vgg16"],
                            capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0
    imported = {line.split("|")[-1].strip() for line in result.stderr.splitlines()
                if line.startswith("import time:")}
    heavy = {m for m in imported if m.split(".")[0] in ("torch", "pandas", "matplotlib", "numpy")}
    assert not heavy, heavy


def test_golden_outputs(capsys, regen_golden):
    _, out, _ = cli(capsys, "params", "vgg16", "--format", "md")
    check_golden(GOLDEN / "vgg16_params.md", out, regen_golden)
    _, out, _ = cli(capsys, "summary", "resnet50", "--format", "md", "--depth", "2")
    check_golden(GOLDEN / "resnet50_summary_depth2.md", out, regen_golden)
    _, out, _ = cli(capsys, "rf", "resnet18", "--format", "csv")
    check_golden(GOLDEN / "resnet18_rf.csv", out, regen_golden)
