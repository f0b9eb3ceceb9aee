"""Several --input sizes for a PyTorch model whose forward takes several inputs (issue 13): in
order, by keyword (NAME=SIZE), with an element type (SIZE:DTYPE); one-line errors elsewhere.
The bad command lines are in tests/bad_inputs/manifest.yaml."""

from __future__ import annotations

import json

import pytest

from cnnstat.errors import UsageError
from cnnstat.models import InputList, parse_input, resolve_input

TWO_TOWER = '''
import torch.nn as nn


class TwoTower(nn.Module):
    """An image tower and a vector tower, summed."""
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.fc = nn.Linear(16, 4)

    def forward(self, image, vec):
        return self.conv(image).mean((2, 3)) + self.fc(vec)


class Tokens(nn.Module):
    """Token ids (integers) through an embedding, then a linear layer."""
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(100, 8)
        self.fc = nn.Linear(8, 2)

    def forward(self, tokens):
        return self.fc(self.emb(tokens))
'''
# conv 3->4, 3x3 on 3x8x8: output 4x6x6, 4*6*6*(3*3*3) = 3,888 MACs; fc 16->4: 64 MACs
MACS = 4 * 6 * 6 * 27 + 16 * 4
PARAMS = (4 * 27 + 4) + (16 * 4 + 4)        # 112 + 68 = 180


def test_parse_several_inputs():
    assert parse_input(["3x8x8", "16"]) == InputList(((None, (3, 8, 8), None),
                                                      (None, (16,), None)), "3x8x8, 16")
    named = parse_input(("image = 3x8x8", "vec=16:float16"))
    assert named.items == (("image", (3, 8, 8), None), ("vec", (16,), "float16"))
    assert parse_input("tokens=1x2x3x4x5:int64").items == (("tokens", (1, 2, 3, 4, 5), "int64"),)
    assert parse_input("3x224x224").values == (3, 224, 224)     # one, unnamed: as before
    with pytest.raises(UsageError, match="sizes must be positive"):
        parse_input(["3x8x8", "0"])
    with pytest.raises(UsageError, match="the input 'x' is given twice"):
        parse_input(["x=3", "x=4"])
    with pytest.raises(UsageError, match="resnet18 takes one input"):
        resolve_input(parse_input(["3x8x8", "16"]), (3, 224, 224), "resnet18")


@pytest.fixture
def module_file(tmp_path):
    pytest.importorskip("torch")
    path = tmp_path / "towers.py"
    path.write_text(TWO_TOWER)
    return path


@pytest.mark.torch
def test_two_inputs_in_order_and_by_keyword(module_file, capsys):
    from cnnstat.cli import main
    assert main(["summary", f"{module_file}:TwoTower", "--input", "3x8x8", "--input", "16",
                 "-f", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["totals"]["macs"] == MACS and data["totals"]["params"] == PARAMS
    assert data["not_counted"] == []
    # every input listed, in the forward's order; "input" keeps the first (compatibility)
    # each with the forward's parameter it is (forward(self, image, vec))
    assert data["inputs"] == [{"name": "input", "argument": "image", "shape": [3, 8, 8]},
                              {"name": "input.vec", "argument": "vec", "shape": [16]}]
    assert data["input"] == [3, 8, 8]
    assert {i for layer in data["layers"] for i in layer["inputs"]} >= {"input", "input.vec"}
    # the same by keyword, in the other order
    assert main(["summary", f"{module_file}:TwoTower", "--input", "vec=16",
                 "--input", "image=3x8x8", "-f", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["totals"]["macs"] == MACS
    # the table names both inputs
    assert main(["summary", f"{module_file}:TwoTower", "-i", "3x8x8", "-i", "16",
                 "--batch", "2"]) == 0
    out = capsys.readouterr().out
    assert "3×8×8" in out and "16" in out and f"{2 * MACS:,}" in out
    # by the forward's parameter names, not the graph's node names
    assert "image 3×8×8, vec 16, batch 2" in out


@pytest.mark.torch
def test_an_element_type(module_file, capsys):
    from cnnstat.cli import main
    # token ids must be integers (an embedding refuses floats): 4 tokens, fc 8->2 each: 64 MACs
    assert main(["flops", f"{module_file}:Tokens", "--input", "tokens=4:int64", "-f",
                 "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["totals"]["params"] == 100 * 8 + 8 * 2 + 2
    assert data["totals"]["macs"] == 4 * 8 * 2
    assert "inputs" not in data                   # one input: "input" says it all


@pytest.mark.torch
def test_the_api_takes_the_same_texts(module_file):
    import cnnstat
    a = cnnstat.analyze(f"{module_file}:TwoTower", ["3x8x8", "16"])
    assert (a.totals.macs, a.totals.params) == (MACS, PARAMS)
    # peak live activations: each input at its own size — while conv runs, image 192 + vec 16
    # + its output 4*6*6 = 144 are alive: 352 (then the image is freed: 160, 164, 20, 24, 12)
    assert [r.name for r in a.records] == ["conv", "mean", "fc", "add"]
    assert a.totals.peak_activations == 3 * 8 * 8 + 16 + 4 * 6 * 6
    import importlib.util      # a module instance takes them too
    spec = importlib.util.spec_from_file_location("towers", module_file)
    towers = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(towers)
    b = cnnstat.analyze(towers.TwoTower(), ("image=3x8x8", "vec=16"))
    assert b.totals.macs == MACS


@pytest.mark.torch
def test_a_model_without_torchvision_does_not_import_it():
    """Cold start (issue 13): torchvision's rules register once the model has imported it, so
    capturing a plain module does not import torchvision (whose ops import torch._dynamo)."""
    import subprocess
    import sys
    code = ("import sys, torch, cnnstat\n"
            "a = cnnstat.analyze(torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3)), 8)\n"
            "assert a.totals.macs == 4 * 6 * 6 * 27, a.totals.macs\n"
            "assert 'torchvision' not in sys.modules\n"
            "import torchvision\n"
            "m = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3),\n"
            "                        torchvision.ops.StochasticDepth(0.1, 'row'))\n"
            "b = cnnstat.analyze(m, (3, 8, 8))\n"
            "assert [r.op for r in b.records] == ['conv2d', 'stochastic_depth'], b.records\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
