"""The importers from the command line: which references go to which importer, --arg, the
static path staying free of torch and onnx, and one-line errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cnnstat.errors import UsageError
from cnnstat.models import SOURCES, _find_source, parse_args

ROOT = Path(__file__).resolve().parent.parent
EVERY = ROOT / "tests" / "fixtures" / "caffe" / "every_layer.prototxt"


@pytest.mark.parametrize("reference, source", [
    ("torchvision:resnet50", "torchvision"),
    ("models/net.py:MyNet", "python"),
    ("my_package.models:build", "python"),
    ("model.onnx", "onnx"),
    ("deploy.prototxt", "caffe"),
    ("resnet50", None),                      # a zoo name
    ("net.yaml", None),                      # a definition file
])
def test_references_choose_their_importer(reference, source):
    found = _find_source(reference)
    assert (found.name if found else None) == source
    assert {"torchvision", "python", "onnx", "caffe"} <= {s.name for s in SOURCES}


def test_parse_args():
    assert parse_args(["num_classes=10", "aux_logits=false", "dropout=0.2", "norm=None",
                       "name=wide", "sizes=(1, 2)", "flag=True"]) == {
        "num_classes": 10, "aux_logits": False, "dropout": 0.2, "norm": None, "name": "wide",
        "sizes": (1, 2), "flag": True}
    with pytest.raises(UsageError, match="NAME=VALUE"):
        parse_args(["10"])
    with pytest.raises(UsageError, match="NAME=VALUE"):
        parse_args(["bad name=1"])


def _imported_modules(*args: str) -> set[str]:
    result = subprocess.run([sys.executable, "-X", "importtime", *args], capture_output=True,
                            text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-2000:]
    return {line.split("|")[-1].strip() for line in result.stderr.splitlines() if "|" in line}


def test_importers_package_and_caffe_path_do_not_load_torch_or_onnx():
    mods = _imported_modules("-c", "import cnnstat.importers")
    assert "torch" not in mods and "onnx" not in mods
    mods = _imported_modules("-m", "cnnstat", "params", str(EVERY))
    assert "torch" not in mods and "onnx" not in mods


def test_static_zoo_path_still_torch_free():
    mods = _imported_modules("-m", "cnnstat", "params", "vgg16")
    assert "torch" not in mods


def test_arg_on_a_zoo_model_is_a_usage_error(capsys):
    from cnnstat.cli import main
    assert main(["params", "vgg16", "--arg", "num_classes=10"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --arg passes arguments") and err.count("\n") == 1


def test_missing_files_are_one_line_errors(capsys):
    from cnnstat.cli import main
    for ref in ("missing.prototxt", "missing.onnx"):
        assert main(["summary", ref]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and "does not exist" in err and err.count("\n") == 1


@pytest.mark.torch
def test_data_dependent_model_from_the_cli(tmp_path, capsys):
    # torch.fx could not trace this (control flow on a value); the capture runs it on real
    # tensors when meta ones are not enough, and the report says so
    pytest.importorskip("torch")
    src = tmp_path / "branchy.py"
    src.write_text("import torch.nn as nn\n"
                   "class Net(nn.Module):\n"
                   "    def forward(self, x):\n"
                   "        return x if x.sum() > 0 else -x\n")
    from cnnstat.cli import main
    assert main(["summary", f"{src}:Net", "--input", "3x8x8"]) == 0
    out = capsys.readouterr().out
    assert "ran on real tensors" in out and "Tensor.item() cannot be called on meta" in out


@pytest.mark.torch
def test_a_forward_that_raises_from_the_cli(tmp_path, capsys):
    pytest.importorskip("torch")
    src = tmp_path / "broken.py"
    src.write_text("import torch.nn as nn\n"
                   "class Net(nn.Module):\n"
                   "    def forward(self, x):\n"
                   "        raise KeyError('no such head')\n")
    from cnnstat.cli import main
    assert main(["summary", f"{src}:Net"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "the forward of Net raised KeyError" in err
    assert "Traceback" not in err


@pytest.mark.torch
@pytest.mark.parametrize("command", ["summary", "params", "shapes", "flops", "rf"])
def test_every_static_command_on_an_imported_model(command, capsys):
    pytest.importorskip("torch")
    from cnnstat.cli import main
    assert main([command, "torchvision:mobilenet_v3_small", "--input", "96", "--depth", "2",
                 "--arg", "num_classes=10"]) == 0
    out = capsys.readouterr().out
    assert "features.1" in out and "mobilenet_v3_small" in out


@pytest.mark.torch
def test_check_runs_an_imported_prototxt_in_torch(capsys):
    """`cnnstat check` rebuilds the imported graph in torch (Caffe's pooling as ceil_mode, BatchNorm +
    Scale, Eltwise MAX...) and measures it: everything agrees."""
    pytest.importorskip("torch")
    from cnnstat.cli import main
    assert main(["check", str(EVERY)]) == 0
    assert "verdict: agree" in capsys.readouterr().out


@pytest.mark.torch
def test_arg_reaches_the_builder_in_every_command(tmp_path, capsys):
    """--arg goes to an imported model's builder in the torch commands and the writers too:
    resnet18 with num_classes=10 has 512*10 + 10 fc parameters instead of 512*1000 + 1000."""
    import json
    from cnnstat.cli import main
    expected = 11_689_512 - (512 * 1000 + 1000) + (512 * 10 + 10)
    assert main(["check", "torchvision:resnet18", "--arg", "num_classes=10", "--input", "32",
                 "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["agree"] is True
    assert main(["roofline", "torchvision:resnet18", "--arg", "num_classes=10",
                 "--device-profile", "t4", "--format", "json"]) == 0
    capsys.readouterr()
    page = tmp_path / "view.html"
    assert main(["view", "torchvision:resnet18", "--arg", "num_classes=10", "-o", str(page)]) == 0
    assert page.exists()
    assert main(["compare", "torchvision:resnet18", "--arg", "num_classes=10",
                 "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["models"][0]["params"] == expected
