"""The ``cnnstat check`` command as a user meets it: tables, verdicts, exit statuses, errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from cnnstat.cli import main

ROOT_CMD = [sys.executable, "-m", "cnnstat"]


def test_importing_the_cli_does_not_import_torch():
    code = ("import sys, cnnstat.cli; "
            "print(sorted(m for m in ('torch', 'fvcore', 'torchvision') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("argv, message", [
    (["check", "resnet50", "--against", "tf"], "only torchvision is supported"),
    (["check", "resnet50", "--device", "tpu"], "choose cpu, cuda or meta"),
    (["check", "resnet50", "--batch", "0"], "batch size must be a positive integer"),
    (["check", "nosuchnet"], "unknown model 'nosuchnet'"),
    (["check", "lenet5", "--against", "torchvision"], "torchvision has no model 'lenet5'"),
    (["check", "mobilenet_v2", "--against-arg", "width_mult=0.5"],
     "--against-arg goes with --against torchvision"),
    (["check", "mobilenet_v2", "--against", "torchvision", "--against-arg", "width_mult"],
     "--against-arg 'width_mult' must be NAME=VALUE"),
    (["check", "mobilenet_v2", "--against", "torchvision", "--against-arg", "widthmult=0.5"],
     "torchvision:mobilenet_v2 cannot be built with widthmult=0.5: TypeError"),
])
@pytest.mark.torch
def test_bad_input_is_one_line_and_status_2(capsys, argv, message):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1


@pytest.mark.torch
def test_cuda_without_cuda(capsys):
    import torch
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert main(["check", "lenet5", "--device", "cuda"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --device cuda: CUDA is not available") and err.count("\n") == 1


@pytest.mark.torch
def test_check_agrees_exit_0(capsys):
    assert main(["check", "resnet18", "--input", "32"]) == 0
    out = capsys.readouterr().out
    assert "cnnstat check resnet18: input 3×32×32, batch 1, device cpu" in out
    # per-layer rows with marks, totals, the verdict
    assert "layer1.0.conv1" in out and "✗" not in out
    assert "FlopCounterMode (" in out and "FLOPs ÷ 2)" in out
    assert "verdict: agree" in out


@pytest.mark.torch
def test_check_on_meta_says_fvcore_was_skipped(capsys):
    assert main(["check", "vgg16", "--device", "meta", "--differences"]) == 0
    out = capsys.readouterr().out
    assert "note: fvcore: skipped on meta" in out
    assert "15,470,264,320" in out         # VGG-16 at 224: 15.47 G conv+linear MACs
    assert "verdict: agree" in out


@pytest.mark.torch
def test_check_json(capsys):
    assert main(["check", "lenet5", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["agree"] is True and data["model"] == "lenet5"
    assert len(data["layers"]) > 5 and all(layer["agree"] for layer in data["layers"])


@pytest.mark.torch
def test_check_markdown_to_file(tmp_path):
    out = tmp_path / "check.md"
    assert main(["check", "lenet5", "--out", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    assert text.startswith("**cnnstat check lenet5: input 1×32×32")
    assert "| layer | operator |" in text and text.rstrip().splitlines()[-1].startswith(
        "verdict: agree")


@pytest.mark.torch
def test_a_difference_exits_1(capsys, monkeypatch):
    from cnnstat.torch_bridge import modules
    real = modules.MODULES["linear"]

    def without_bias(a, shapes):        # the torch module drops the bias the definition has
        return real({**a, "bias": False}, shapes)
    monkeypatch.setitem(modules.MODULES, "linear", without_bias)
    assert main(["check", "lenet5", "--differences"]) == 1
    out = capsys.readouterr().out
    # F6: 120·84 + 84 = 10,164 parameters in the definition, 10,080 in the torch module
    assert "verdict: DIFFER — 1 of 14 layers differ (F6); totals differ: parameters (torch)" in out
    assert "10,164 ✗ torch 10,080; trainable 10,164 ✗ torch 10,080" in out
    assert "C1 " not in out                 # --differences: only the layer that differs


@pytest.mark.torch
def test_against_torchvision_differs_exit_1(capsys):
    assert main(["check", "resnet50-paper", "--against", "torchvision"]) == 1
    out = capsys.readouterr().out
    assert "--against torchvision:resnet50" in out
    assert "stride 2 → 1" in out and "stride 1 → 2" in out
    assert "layer2.0.conv1" in out
    assert "verdict: DIFFER" in out and "6 of 56 aligned layers differ" in out


@pytest.mark.torch
def test_against_torchvision_with_builder_arguments(capsys):
    """--against-arg goes to torchvision's builder: MobileNetV2 at alpha = 0.5 is torchvision's
    width_mult=0.5 (1,968,680 parameters); against the default width (3,504,872) it differs."""
    argv = ["check", "mobilenet_v2", "--set", "alpha=0.5", "--against", "torchvision",
            "-f", "json"]
    assert main(argv) == 1
    differ = json.loads(capsys.readouterr().out)
    assert differ["against_args"] == {}
    assert [t["torchvision"] for t in differ["totals"] if t["quantity"] == "parameters"] \
        == [3_504_872]
    assert main(argv + ["--against-arg", "width_mult=0.5"]) == 0
    agree = json.loads(capsys.readouterr().out)
    assert agree["against_args"] == {"width_mult": 0.5} and agree["agree"]
    assert [t["torchvision"] for t in agree["totals"] if t["quantity"] == "parameters"] \
        == [1_968_680]
    assert main(argv[:-1] + ["md", "--against-arg", "width_mult=0.5"]) == 0
    assert "--against torchvision:mobilenet_v2 --against-arg width_mult=0.5" \
        in capsys.readouterr().out


@pytest.mark.torch
def test_against_torchvision_agrees_exit_0(capsys):
    assert main(["check", "googlenet", "--against", "torchvision:googlenet", "-f", "md"]) == 0
    out = capsys.readouterr().out
    assert "verdict: agree — totals match and the 72 aligned layers" in out
