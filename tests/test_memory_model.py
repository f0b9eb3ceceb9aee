"""The memory model (cnnstat.memory) by hand and by its properties: per-layer saved bytes, the
schedule's peak, optimizers, precisions, checkpoint blocks, the largest batch, the command line.
No torch: tests/test_memory_oracle.py and tests/test_memory_rules.py compare with autograd."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import cnnstat
from cnnstat.errors import UsageError
from cnnstat.memory import CATEGORIES, MemoryOptions, checkpoint_segments, estimate
from cnnstat.memory.fit import device_memory, fits, largest_batch, parse_capacity
from cnnstat.render import memory as render
from cnnstat.render.numbers import human_bytes
from cnnstat.definition import build_graph, parse_definition

TINY = """
name: tiny
input: [3, 8, 8]
layers:
  - conv: conv2d(4, 3, padding=1, bias=false)
  - bn: batchnorm2d
  - relu: relu
  - pool: maxpool2d(2)
  - flat: flatten
  - fc: linear(10)
"""


def tiny(batch: int = 2):
    return cnnstat.analyze(build_graph(parse_definition(TINY)), batch=batch)


def train(**kw) -> MemoryOptions:
    return MemoryOptions(train=True, **{"optimizer": "sgd", **kw})


def test_tiny_saved_bytes_by_hand():
    report = estimate(tiny(), train())
    saved = {row.name: row.saved_bytes for row in report.layers}
    assert saved == {
        "conv": 2 * 3 * 8 * 8 * 4,             # its input, the image: 1536
        "bn": 2 * 4 * 8 * 8 * 4 + 2 * 4 * 4,   # its input 2048 + mean and invstd, 4 channels: 2080
        "relu": 2 * 4 * 8 * 8 * 4,             # its output: 2048
        "pool": 2 * 4 * 4 * 4 * 8,             # its input is relu's output (counted there);
                                               # int64 indices, one per output: 1024
        "flat": 0,                             # a view: nothing
        "fc": 2 * 64 * 4,                      # its input, the flattened pool output: 512
    }
    assert report.saved_activations == 7200 == sum(saved.values())
    assert report.parameters == (108 + 8 + 650) * 4 == 3064    # conv 4*3*9, bn 2*4, fc 64*10+10
    assert report.buffers == 2 * 4 * 4 + 8                      # running mean/var + int64 counter
    assert report.gradients == 3064
    assert report.optimizer_state == 0                          # plain SGD keeps nothing


def test_tiny_peak_by_hand():
    """Base: parameters 3064 + buffers 40 + input 1536 = 4640 bytes.
    Forward: conv out +2048 (6688); bn out and stats +2080 (8768); relu out +2048 (10816), bn's
    output freed (8768); pool out and indices +1536 (10304); fc out +80 (10384).
    Loss: output freed, scalar +4, root +4, output gradient +80 (10392).
    Backward: fc: flat's gradient +512, fc's weight gradients +2600 (13504); its saved pool
    output and dy freed (12912); flat: a view; pool: relu's gradient +2048 (14960), indices and
    dy freed (13424); relu: bn's gradient +2048 (15472) — the peak."""
    report = estimate(tiny(), train())
    assert report.peak == 15472
    assert (report.peak_point.phase, report.peak_point.layer) == ("backward", "relu")
    assert sum(report.peak_breakdown.values()) == report.peak
    forward = [p.bytes for p in report.timeline if p.phase == "forward"]
    assert forward == [6688, 8768, 10816, 10304, 10304, 10384]
    # after the backward: weights, buffers, input, gradients and the loss scalar and root
    assert [p.bytes for p in report.timeline if p.phase == "step"] == [4640 + 3064]


def test_tiny_optimizers_by_hand():
    sgd = estimate(tiny(), train())
    momentum = estimate(tiny(), train(optimizer="momentum"))
    adam = estimate(tiny(), train(optimizer="adam"))
    assert momentum.optimizer_state == 3064 and adam.optimizer_state == 2 * 3064
    assert momentum.peak == sgd.peak + 3064                   # state lives through the step
    # CUDA's foreach Adam: one parameter-sized temporary in the step
    assert adam.optimizer_workspace == 3064
    assert adam.phase_peak("step") == 4640 + 3064 + 2 * 3064 + 3064     # 16896 < backward's
    assert adam.peak == sgd.peak + 2 * 3064 == 21600
    # on CPU PyTorch loops over the parameters: the largest layer's is the temporary
    cpu = estimate(tiny(), train(optimizer="adam", device="cpu"))
    assert cpu.optimizer_workspace == 650 * 4


def test_tiny_inference_by_hand():
    """No saved tensors, no gradients: conv out 2048 (6688); bn out 2048 (8736), conv's freed;
    relu out (8736), bn's freed; pool out 512 (7200), relu's freed; fc 80."""
    report = estimate(tiny(), MemoryOptions())
    assert report.saved_activations == report.gradients == report.optimizer_state == 0
    assert [p.bytes for p in report.timeline] == [6688, 8736, 8736, 7200, 5152, 5232]
    assert report.peak == 8736


def test_tiny_low_precision_by_hand():
    bf16 = estimate(tiny(), train(dtype="bf16"))
    # every saved tensor halves except the int64 indices (1024) and CUDA's float32 statistics
    assert bf16.saved_activations == (7200 - 1024 - 32) // 2 + 1024 + 32
    assert bf16.parameters == 3064 // 2
    amp = estimate(tiny(), train(dtype="fp16", amp=True))
    assert amp.parameters == 3064                              # float32 weights under autocast
    # autocast copies conv's and fc's weights to fp16 and saves them: (108 + 640) * 2
    assert amp.weight_casts == (108 + 640) * 2
    # conv saves a half copy of the image (768), bn its half input (1024) and float32 statistics
    assert {r.name: r.saved_bytes for r in amp.layers}["conv"] == 768
    assert {r.name: r.saved_bytes for r in amp.layers}["bn"] == 1024 + 32
    master = estimate(tiny(), train(dtype="bf16", master_weights=True, optimizer="adam"))
    assert master.master_weights == 3064 and master.optimizer_state == 2 * 3064


def test_checkpoint_segments():
    a = cnnstat.analyze("resnet18")
    top = checkpoint_segments(a.records, 1)
    assert [name for name, _, _ in top] == ["layer1", "layer2", "layer3", "layer4"]
    blocks = checkpoint_segments(a.records, 2)
    assert [name for name, _, _ in blocks][:3] == ["layer1.0", "layer1.1", "layer2.0"]
    assert checkpoint_segments(a.records, ("layer3",)) == [top[2]]
    with pytest.raises(UsageError):
        checkpoint_segments(a.records, ("layer9",))


def test_checkpointing_trades_saved_bytes_for_recomputation():
    a = cnnstat.analyze("resnet50", batch=8)
    full = estimate(a, train())
    ckpt = estimate(a, train(checkpoint=1))
    assert ckpt.saved_activations < full.saved_activations / 4
    assert ckpt.peak < full.peak
    stages = sum(r.macs for r in a.records if r.name.startswith("layer"))
    assert ckpt.recompute_macs == stages
    assert all(r.checkpointed == r.name.startswith("layer") for r in ckpt.layers)


def test_every_zoo_operator_has_a_rule():
    from cnnstat import zoo
    for name in zoo.names():
        # batch 2: with one sample, batch norm after global pooling (Inception v3's auxiliary
        # head) has one value per channel, which training refuses
        report = estimate(cnnstat.analyze(name, batch=2), train())
        assert report.not_counted == [], name


def test_not_counted_is_listed_never_guessed():
    a = cnnstat.analyze(build_graph(parse_definition(
        "input: [3, 8, 8]\nlayers:\n  - conv: conv2d(4, 3)\n"
        "  - odd: not_counted(conv, what='torch.roll', shape=[4, 6, 6])\n")))
    report = estimate(a, train())
    assert report.not_counted == ["odd"]
    assert "not counted" in render.to_markdown(report)
    assert render.not_counted_lines(report) == [("not counted",
                                                 "not_counted at 1 layer (odd): no saved-tensor rule")]


def test_option_errors():
    for options in (train(optimizer="lion"), train(dtype="fp8"), train(amp=True),
                    train(device="tpu"), train(dtype="fp32", master_weights=True),
                    train(checkpoint=0)):
        with pytest.raises(UsageError):
            estimate(tiny(), options)


# -- properties ------------------------------------------------------------------------------------
MODELS = ["resnet18", "mobilenet_v2", "googlenet", "squeezenet1_1", "shufflenet_v2_x1_0",
          "efficientnet_b0", "unet-padded", "densenet121"]
OPTIONS = st.builds(MemoryOptions, train=st.booleans(),
                    optimizer=st.sampled_from(["sgd", "momentum", "adam", "adamw"]),
                    dtype=st.sampled_from(["fp32", "bf16", "fp16"]), device=st.sampled_from(
                        ["cuda", "cpu"])).map(
    lambda o: o if o.dtype == "fp32" else MemoryOptions(**{**o.__dict__, "amp": o.train}))


@settings(max_examples=20, deadline=None)
@given(st.sampled_from(MODELS), st.integers(1, 6), OPTIONS)
def test_peak_properties(model, batch, options):
    a = cnnstat.analyze(model, 64, batch=batch)
    report = estimate(a, options)
    # the peak is a point of the timeline, and the sum of its breakdown
    assert report.peak == max(p.bytes for p in report.timeline)
    assert sum(report.peak_breakdown.values()) == report.peak
    assert set(report.peak_breakdown) <= set(CATEGORIES)
    # it holds everything that lives through the step
    assert report.peak >= report.persistent + report.input_bytes
    if options.train:
        # every saved activation is alive when the forward ends
        assert report.peak >= report.persistent + report.saved_activations
        assert report.peak >= report.persistent + report.gradients + report.optimizer_workspace
    # totals are the sums of the rows
    data = render.to_dict(report)
    for key, column in (("parameters", "param_bytes"), ("gradients", "grad_bytes"),
                        ("optimizer_state", "optimizer_bytes"), ("weight_casts", "cast_bytes"),
                        ("saved_activations", "saved_bytes"), ("buffers", "buffer_bytes")):
        assert data["totals"][key] == sum(row[column] for row in data["layers"]), key
    for row in report.layers:
        assert row.saved_bytes == sum(b for _, b in row.saved)


@settings(max_examples=10, deadline=None)
@given(st.sampled_from(MODELS), st.integers(1, 12), OPTIONS)
def test_monotone_in_batch(model, batch, options):
    small = estimate(cnnstat.analyze(model, 64, batch=batch), options)
    large = estimate(cnnstat.analyze(model, 64, batch=batch + 1), options)
    assert large.peak > small.peak
    assert large.saved_activations >= small.saved_activations
    assert large.parameters == small.parameters


# -- the largest batch -------------------------------------------------------------------------------
@pytest.mark.parametrize("text, expected", [
    ("80GiB", 80 * 2**30), ("80 GB", 80 * 10**9), ("16384MiB", 16 * 2**30),
    ("1.5TiB", 3 * 2**39), ("512", 512), (1024, 1024), ("0.5 gib", 2**29)])
def test_parse_capacity(text, expected):
    assert parse_capacity(text) == expected


@pytest.mark.parametrize("text", ["0", "0GiB", "-3GB", "lots", "80 GiBs", ""])
def test_parse_capacity_refuses(text):
    with pytest.raises(UsageError):
        parse_capacity(text)


def test_device_memory():
    assert device_memory("h100") == (80 * 2**30, "NVIDIA H100 SXM5 80GB, 80 GiB")
    assert device_memory("T4")[0] == 16 * 2**30
    with pytest.raises(UsageError, match="did you mean 'h100'"):
        device_memory("h1000")


@pytest.mark.parametrize("train_mode", [False, True])
def test_largest_batch_fits_and_the_next_does_not(train_mode):
    a = tiny()
    options = train(optimizer="adam") if train_mode else MemoryOptions()
    capacity = 1_000_000
    fit = largest_batch(a, capacity, options)
    assert fit.batch > 1
    assert fit.report.batch == fit.batch and fit.over.batch == fit.batch + 1
    assert fit.report.peak <= capacity < fit.over.peak
    assert fit.report.peak == estimate(cnnstat.analyze(a.graph, batch=fit.batch), options).peak
    assert fit.limiting.startswith(("saved activations", "activations", "activation gradients"))


def test_nothing_fits():
    fit = largest_batch(cnnstat.analyze("vgg16"), 100 * 2**20, train(optimizer="adam"))
    assert fit.batch == 0 and fit.report is None
    assert fit.limiting.startswith("weights, gradients and optimizer state alone")


# -- the command line ----------------------------------------------------------------------------
def _cli(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cnnstat", *argv], capture_output=True,
                          text=True, timeout=120)


def test_cli_json_and_fit():
    done = _cli("memory", "resnet18", "--train", "--batch", "4", "--optimizer", "adam",
                "--fit", "8GiB", "-f", "json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    a = cnnstat.analyze("resnet18", batch=4)
    report = estimate(a, train(optimizer="adam"))
    assert data["peak"]["bytes"] == report.peak
    assert data["totals"]["saved_activations"] == report.saved_activations
    assert data["fit"]["capacity"] == 8 * 2**30 and data["fit"]["device"] is None
    fit = largest_batch(a, 8 * 2**30, train(optimizer="adam"))
    assert data["fit"]["training"]["batch"] == fit.batch
    assert data["fit"]["training"]["limiting"] == fit.limiting
    # the inference answer runs at the same precision under no_grad: no optimizer, no saved
    fit = largest_batch(a, 8 * 2**30, MemoryOptions())
    assert data["fit"]["inference"]["batch"] == fit.batch > data["fit"]["training"]["batch"]


def test_fit_answers_both_modes_each_with_its_limit():
    a = tiny()
    answer = fits(a, 1_000_000, train(optimizer="momentum"), device="tiny card")
    assert answer.device == "tiny card" and answer.capacity == 1_000_000
    assert [mode for mode, _ in answer.by_mode()] == ["inference", "training"]
    for fit, options in ((answer.inference, MemoryOptions(optimizer="momentum")),
                         (answer.training, train(optimizer="momentum"))):
        assert fit.report.options == options
        assert fit.report.peak <= 1_000_000 < fit.over.peak
    assert answer.inference.batch > answer.training.batch


def test_analysis_memory_is_the_command():
    """Analysis.memory(...) and `cnnstat memory` are one computation (same bytes, same fit)."""
    a = cnnstat.analyze("resnet18", batch=4)
    report = a.memory(train=True, optimizer="adam", fit="8GiB")
    assert report.peak == estimate(a, train(optimizer="adam")).peak
    assert report.fit.training.batch == largest_batch(a, 8 * 2**30, train(optimizer="adam")).batch
    assert report.to_dict()["fit"]["inference"]["batch"] == report.fit.inference.batch
    other = a.memory(batch=8)
    assert other.batch == 8 and not other.options.train and other.fit is None
    assert repr(other).startswith("<cnnstat MemoryReport 'resnet18': inference, batch 8, fp32")
    with pytest.raises(UsageError, match="needs --train"):
        a.memory(checkpoint=1)
    with pytest.raises(UsageError, match="unknown optimizer 'lion'"):
        a.memory(train=True, optimizer="lion")
    with pytest.raises(UsageError, match="must be positive"):
        a.memory(fit=0)


def test_memory_report_shows_itself_in_a_notebook():
    report = cnnstat.analyze("resnet18", batch=2).memory(train=True, device_profile="h100")
    html = report._repr_html_()
    for phrase in ("Memory: resnet18 (training step, batch 2)", "saved for backward",
                   "largest batch, training", "limited by", "NVIDIA H100", "not modelled"):
        assert phrase in html, phrase
    markdown = report._repr_markdown_()
    assert "| layer1.0.conv1 | conv2d |" in markdown


def test_cli_markdown_states_its_conventions(tmp_path):
    out = tmp_path / "m.md"
    done = _cli("memory", "mobilenet_v2", "--train", "--dtype", "bf16", "--amp",
                "--checkpoint", "1", "--device-profile", "t4", "-o", str(out))
    assert done.returncode == 0, done.stderr
    text = out.read_text()
    for phrase in ("autocast bf16", "activation checkpointing per block", "not modelled",
                   "largest batch, inference", "largest batch, training", "limited by",
                   "recomputed MACs"):
        assert phrase in text, phrase


def test_cli_memory_does_not_import_torch():
    code = ("import sys; from cnnstat.cli import main; "
            "main(['memory', 'resnet18', '--train', '--fit', '16GiB', '-f', 'json']); "
            "assert 'torch' not in sys.modules, 'torch imported'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr


def test_timeline_parts_sum_to_the_live_bytes():
    """Every point of the step splits its live bytes by kind exactly (the timeline plot stacks
    them); the peak's parts are the breakdown the report names."""
    for options in (train(optimizer="adam"), train(dtype="bf16", amp=True, checkpoint=1),
                    MemoryOptions()):
        report = estimate(cnnstat.analyze("mobilenet_v2", batch=2), options)
        assert all(sum(p.parts) == p.bytes for p in report.timeline)
        assert {k: v for k, v in report.peak_point.by_category().items() if v} == \
            report.peak_breakdown


def test_memory_plots_and_cli_files(tmp_path):
    from cnnstat import plots
    report = cnnstat.analyze("resnet18", batch=2).memory(train=True, checkpoint="layer3")
    fig = plots.memory_layers_figure(report)
    top, bottom = fig.axes[:2]
    # one bar per layer in each stack; the top panel's bars are the saved bytes (in MiB)
    bars = top.containers[0]
    assert len(bars) == len(report.layers)
    assert len(bottom.containers) == 3      # parameters and buffers, gradients, optimizer state
    assert max(p.get_height() for p in bars) * 2**20 == pytest.approx(
        max(r.saved_bytes + r.cast_bytes for r in report.layers))
    fig = plots.memory_timeline_figure(report)
    assert "recompute" in [t.get_text() for t in fig.axes[0].texts]
    done = _cli("memory", "lenet5", "--train", "--batch", "2", "--plot", str(tmp_path / "l.png"),
                "--timeline", str(tmp_path / "t.svg"), "-f", "json")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "l.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "t.svg").read_text().lstrip().startswith("<?xml")
    done = _cli("memory", "lenet5", "--timeline", str(tmp_path / "t.pdf"))
    assert done.returncode == 2 and done.stderr.strip() == (
        f"error: --timeline '{tmp_path / 't.pdf'}': the file name must end in .png or .svg")


def test_report_has_a_training_memory_section(tmp_path):
    from cnnstat.report.model import memory_blocks
    from cnnstat.report.document import to_markdown
    a = cnnstat.analyze("resnet18", batch=2)
    text = to_markdown(memory_blocks(a, "resnet18"))
    step = a.memory(train=True)
    infer = a.memory(device_profile="h100")
    assert "## Training memory" in text
    assert f"| peak | {human_bytes(infer.peak)} | {human_bytes(step.peak)} |" in text
    assert (f"| largest batch on an NVIDIA H100 SXM5 80GB, 80 GiB | "
            f"{infer.fit.inference.batch:,} | {infer.fit.training.batch:,} |") in text
    assert "resnet18-memory-step.png" in text and "resnet18-memory-layers.png" in text
    # a model that cannot train at its batch says why instead
    one = cnnstat.analyze("resnet18", "32")
    assert "No training step at batch 1: " in to_markdown(memory_blocks(one, "r"))


def test_training_only_heads_run_only_in_a_training_step():
    """Issue 18's train_only layers (Inception v3's AuxLogits): at inference they hold their
    parameters and allocate nothing; a training step runs them (saved tensors, gradients), also
    when asked of an inference-mode analysis."""
    a = cnnstat.analyze("inception_v3", batch=2)
    assert not a.train
    infer, step = a.memory(), a.memory(train=True)
    aux_infer = [r for r in infer.layers if r.name.startswith("AuxLogits")]
    aux_step = [r for r in step.layers if r.name.startswith("AuxLogits")]
    assert aux_infer and all(r.train_only for r in aux_infer + aux_step)
    assert sum(r.output_bytes for r in aux_infer) == 0
    assert sum(r.param_bytes for r in aux_infer) == sum(r.param_bytes for r in aux_step) > 0
    assert sum(r.saved_bytes for r in aux_step) > 0 and sum(r.grad_bytes for r in aux_step) > 0
    # the inference timeline never names them; parameters count in both modes, whole model
    assert not any(p.layer.startswith("AuxLogits") for p in infer.timeline)
    assert infer.parameters == step.parameters == a.totals.params * 4
    assert step.peak == estimate(cnnstat.analyze("inception_v3", batch=2, train=True),
                                 train(optimizer="adamw")).peak
    assert "AuxLogits.fc [train]" in render.to_markdown(infer)
