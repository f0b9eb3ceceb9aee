"""Training-only layers and the mode of an analysis (issue 18).

An entry marked ``train_only: true`` (an auxiliary classifier) runs only when the model is
trained. At inference (the default) its layers are listed, marked, and hold parameters — torch
counts a module's parameters in any mode — but their work is in no total and their outputs are no
outputs; ``train=True`` (``--train``) counts them. ``check`` runs the torch module in the same
mode; the fx importer finds such layers by tracing in both modes.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings, strategies as st

import cnnstat
from cnnstat.cli import main
from cnnstat.errors import DefinitionError, UsageError
from cnnstat.ops.base import MAC_KINDS
from cnnstat.render.jsonout import analysis_to_dict
from cnnstat.render.rows import rows
from cnnstat.render.output import markdown as blocks_markdown
from cnnstat.render.views import csv_text
from cnnstat.render.views import layer_view


def markdown(a, view: str) -> str:
    """A view as ``cnnstat VIEW MODEL -f md`` writes it."""
    return blocks_markdown(layer_view(a, view).blocks)

#: a stem, a training-only head on it (with batch norm, so training needs batch statistics), and
#: the main path
HEADED = """\
name: headed
input: [3, 16, 16]
layers:
  - conv: conv2d(8, 3, padding=1)            # 8x16x16: 3*9*8 + 8 = 224 params, 16*16*8*27 MACs
  - aux:
      output: true
      train_only: true
      layers:
        - pool: adaptive_avgpool2d(2)          # 8x2x2
        - conv: conv2d(4, 1, bias=false)       # 32 params, 2*2*4*8 = 128 MACs
        - bn: batchnorm2d                      # 8 params, 8 buffers
        - flatten: flatten                     # 16
        - fc: linear(3, in_features=16)        # 51 params, 48 MACs
  - relu: relu
  - pool: global_avgpool(keepdim=false)
  - fc: linear(10)                             # 90 params, 80 MACs
"""


@pytest.fixture
def headed(tmp_path):
    path = tmp_path / "headed.yaml"
    path.write_text(HEADED)
    return str(path)


def test_marks_and_totals(headed):
    a = cnnstat.analyze(headed)
    t = cnnstat.analyze(headed, train=True)
    assert [r.name for r in a.train_only] == ["aux.pool", "aux.conv", "aux.bn", "aux.flatten",
                                             "aux.fc"]
    assert list(a.train_only_heads) == ["aux"] and a.mode == "inference" and t.mode == "training"
    # parameters in both modes: 224 + 32 + 8 + 51 + 90 = 405; buffers: bn's running mean and
    # variance (4 + 4) and its num_batches_tracked counter
    assert a.totals.params == t.totals.params == 405
    assert a.totals.buffers == t.totals.buffers == 9
    # MACs: inference 16*16*8*27 + 80 = 55,376; training adds the head's 128 + 48 = 176
    assert a.totals.macs == 55_296 + 80 == 55_376
    assert t.totals.macs == 55_376 + 176
    assert a.totals.activations == sum(r.activations for r in a.running)
    assert t.totals.activations == sum(r.activations for r in t.records)
    assert a.outputs == ("fc",) and t.outputs == ("fc", "aux.fc")
    assert a.output_shapes == [(1, 10)] and t.output_shapes == [(1, 10), (1, 3)]
    # the layers are the same records in both modes, with the same numbers
    assert [(r.name, r.macs) for r in a.records] == [(r.name, r.macs) for r in t.records]


def test_totals_rows_and_marks_in_every_rendering(headed):
    a = cnnstat.analyze(headed)
    table_rows = rows(a)
    marked = [r for r in table_rows if r.train_only]
    assert [r.runs for r in marked] == [False] * 5
    md = markdown(a, "summary")
    assert "| aux.fc [train] |" in md
    # the total row sums the work of the rows that run, the parameters of all rows
    total = md.strip().splitlines()[-1]
    assert "| 405 | 55,376 |" in total
    assert "training only" in md and "--train counts it" in md
    head = csv_text(a, "params").splitlines()
    assert head[0].endswith(",train_only") and head[-1].endswith(",false")
    assert any(line.startswith("3,aux.conv,") and line.endswith(",true") for line in head)
    data = analysis_to_dict(a)
    assert data["mode"] == "inference"
    assert data["train_only"] == {"counted": False, "heads": [
        {"name": "aux", "layers": 5, "params": 91, "macs": 176}], "params": 91, "macs": 176,
        "outputs": ["aux.fc"]}
    assert [layer["name"] for layer in data["layers"] if layer["train_only"]][0] == "aux.pool"
    assert data["outputs"] == [{"name": "fc", "shape": [1, 10]}]
    assert data["totals"]["macs"] == 55_376
    trained = analysis_to_dict(cnnstat.analyze(headed, train=True))
    assert trained["mode"] == "training" and trained["train_only"]["counted"] is True
    assert trained["totals"]["macs"] == 55_552 and len(trained["outputs"]) == 2
    # a model without training-only layers: no column, no fact line, train_only null
    plain = cnnstat.analyze("lenet5")
    assert "train_only" not in csv_text(plain, "params").splitlines()[0]
    assert analysis_to_dict(plain)["train_only"] is None
    assert "training only" not in markdown(plain, "summary")


def test_collapsed_rows(headed):
    a = cnnstat.analyze(headed)
    by_name = {r.name: r for r in rows(a, depth=1)}
    aux = by_name["aux"]
    # a block of training-only layers: what it does in training, out of the total at inference
    assert (aux.train_only, aux.runs, aux.params, aux.macs) == (True, False, 91, 176)
    assert cnnstat.analyze(headed, train=True).totals.macs == sum(r.macs for r in rows(a, 1))


def test_block_mixing_modes_sums_the_running_work(tmp_path):
    path = tmp_path / "mixed.yaml"
    path.write_text("input: [3, 8, 8]\nlayers:\n  - block:\n    - conv: conv2d(4, 1)\n"
                    "    - side: {output: true, train_only: true, call: \"conv2d(2, 1)\"}\n"
                    "  - out: conv2d(2, 1)\n")
    a = cnnstat.analyze(str(path))
    block = {r.name: r for r in rows(a, 1)}["block"]
    # conv 8*8*4*3 = 768 MACs, side 8*8*2*4 = 512 MACs (training only); params 16 + 10
    assert (block.train_only, block.runs, block.macs, block.params) == (False, True, 768, 26)
    assert a.totals.macs == 768 + 8 * 8 * 2 * 4


def test_definition_errors(tmp_path):
    def build(text):
        path = tmp_path / "bad.yaml"
        path.write_text(text)
        return cnnstat.analyze(str(path))
    with pytest.raises(DefinitionError, match="layer 'main' runs at inference but reads 'head', "
                                              "which runs only in training"):
        build("input: [3, 8, 8]\nlayers:\n  - head: {train_only: true, call: \"conv2d(4, 1)\"}\n"
              "  - main: conv2d(4, 1)\n")
    with pytest.raises(DefinitionError, match="'train_only' must be true or false, got 3"):
        build("input: [3, 8, 8]\nlayers:\n  - head: {train_only: 3, call: \"conv2d(4, 1)\"}\n")
    with pytest.raises(DefinitionError, match="has no output at inference"):
        build("input: [3, 8, 8]\nlayers:\n  - head: {train_only: true, call: \"conv2d(4, 1)\"}\n")
    with pytest.raises(UsageError, match="train must be True or False"):
        cnnstat.analyze("lenet5", train="yes")


def test_cli_train_flag(headed, capsys):
    assert main(["flops", headed, "-f", "json"]) == 0
    eval_json = json.loads(capsys.readouterr().out)
    assert main(["flops", headed, "-f", "json", "--train"]) == 0
    train_json = json.loads(capsys.readouterr().out)
    assert (eval_json["totals"]["macs"], train_json["totals"]["macs"]) == (55_376, 55_552)
    assert main(["summary", "inception_v3", "--depth", "1"]) == 0
    out = capsys.readouterr().out
    assert "5,713,216,096" in out and "AuxLogits [train]" in out
    assert main(["summary", "inception_v3", "--depth", "1", "--train"]) == 0
    out = capsys.readouterr().out
    assert "5,718,899,296" in out and "training (--train)" in out


def test_inception_v3_numbers():
    # torchvision's eval forward: 5,713,216,096 MACs (its published 5.71 GFLOPS); the head adds
    # 5,683,200 in training; parameters include the head's 3,326,696 in both (27,161,264)
    a, t = cnnstat.analyze("inception_v3"), cnnstat.analyze("inception_v3", train=True)
    assert (a.totals.params, a.totals.macs) == (27_161_264, 5_713_216_096)
    assert (t.totals.params, t.totals.macs) == (27_161_264, 5_718_899_296)


# -- torch: the module runs in the analysis' mode ---------------------------------------------
@pytest.mark.torch
def test_check_runs_the_module_in_the_analysis_mode(headed):
    pytest.importorskip("torch")
    from cnnstat.torch_bridge.check import check
    report = check(headed)
    assert report.ok and report.mode == "eval" and report.batch == 1
    heads = [layer for layer in report.layers if not layer.runs]
    assert [layer.name for layer in heads] == ["aux.pool", "aux.conv", "aux.bn", "aux.flatten",
                                               "aux.fc"]
    assert all("runs only in training" in " ".join(layer.notes) for layer in heads)
    assert all(layer.get("parameters", "torch").ok for layer in heads)
    totals = {(c.quantity, c.source): c for c in report.totals}
    assert totals[("conv+linear MACs", "FlopCounterMode")].measured == 55_296 + 80
    trained = check(headed, train=True)
    # training mode: the head runs; batch norm needs more than one value per channel: batch 2
    assert trained.ok and trained.mode == "training" and trained.batch == 2
    assert any("batch 2" in note for note in trained.notes)
    assert all(layer.runs for layer in trained.layers)
    totals = {(c.quantity, c.source): c for c in trained.totals}
    assert totals[("conv+linear MACs", "fvcore")].measured == 2 * 55_552
    assert totals[("output shape", "torch")].measured == [(2, 10), (2, 3)]


@pytest.mark.torch
def test_check_against_torchvision_in_both_modes():
    """GoogLeNet with its auxiliary heads: cnnstat's eval numbers against torchvision's eval-mode
    model (the heads' parameters on both sides, their work on neither), and training against
    training."""
    pytest.importorskip("torchvision")
    from cnnstat.torch_bridge.against import against_torchvision
    report = against_torchvision("googlenet", set={"aux_logits": True})
    assert report.ok and report.mode == "eval"
    got = {c.quantity: (c.static, c.measured) for c in report.totals}
    assert got["parameters"] == (13_004_888, 13_004_888)
    assert got["conv+linear MACs"] == (1_498_376_192, 1_498_376_192)
    assert got["output shape"] == ([(1, 1000)], [(1, 1000)])
    trained = against_torchvision("googlenet", set={"aux_logits": True}, train=True)
    assert trained.ok and trained.mode == "training" and trained.batch == 2
    got = {c.quantity: (c.static, c.measured) for c in trained.totals}
    assert got["conv+linear MACs"] == (2 * 1_506_748_416, 2 * 1_506_748_416)


@pytest.mark.torch
def test_fx_import_marks_what_runs_only_in_training():
    torch = pytest.importorskip("torch")
    from torch import nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(3, 8, 3, padding=1)
            self.aux = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 3))
            self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10))

        def forward(self, x):
            x = self.stem(x)
            if self.training:
                return self.head(x), self.aux(x)
            return self.head(x)

    net = Net()
    net.train()                                  # a fresh module is in training mode
    a = cnnstat.analyze(net, input=16)
    assert sorted(a.train_only_heads) == ["aux"]
    # parameters: stem 224, aux 27, head 90; eval MACs: stem 16*16*8*27 + head 80
    assert a.totals.params == 341 and a.totals.macs == 55_296 + 80
    assert cnnstat.analyze(net, input=16, train=True).totals.macs == 55_296 + 80 + 24
    assert "in eval mode" in a.graph.meta["traced"]
    assert net.training and all(m.training for m in net.modules())     # left as it was
    del torch


def test_the_zoo_marks_its_auxiliary_heads():
    """inception_v3's AuxLogits and GoogLeNet's aux1/aux2 (both layouts) are training-only; no
    other zoo model has training-only layers."""
    from cnnstat import zoo
    marked = {}
    for name in zoo.names():
        a = cnnstat.analyze(name, set={"aux_logits": True} if "googlenet" in name else None)
        if a.train_only:
            marked[name] = sorted(a.train_only_heads)
    assert marked == {"inception_v3": ["AuxLogits"], "googlenet": ["aux1", "aux2"],
                      "googlenet-paper": ["aux1", "aux2"]}


HEADED_ZOO = [("inception_v3", None), ("googlenet", {"aux_logits": True}),
              ("googlenet-paper", {"aux_logits": True})]


@settings(max_examples=30, deadline=None)
@given(st.sampled_from(HEADED_ZOO), st.booleans(), st.sampled_from([None, 1, 2, 3, 5]),
       st.integers(1, 3))
def test_totals_are_the_sums_of_the_rows_that_run(model, train, depth, batch):
    """In either mode and at any --depth: parameters and buffers sum every row; work, connections
    and activations sum the rows that run (all of them in training)."""
    name, settings_ = model
    a = cnnstat.analyze(name, set=settings_, train=train, batch=batch, count="all")
    t = a.totals
    row_list = rows(a, depth)
    for field in ("params", "trainable_params", "buffers"):
        assert getattr(t, field) == sum(getattr(r, field) for r in row_list), field
    running = [r for r in row_list if r.runs]
    assert train == (running == row_list)
    for field in ("macs", "connections", "activations"):
        assert getattr(t, field) == sum(getattr(r, field) for r in running), field
    for kind in MAC_KINDS:
        assert t.macs_by_kind[kind] == sum(r.macs_by_kind.get(kind, 0) for r in running)
    assert t.peak_activations <= t.activations + t.input_elements
