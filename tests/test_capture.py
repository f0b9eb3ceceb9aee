"""cnnstat.importers.capture: the trace of one forward (issue 13, capture by execution)."""

from __future__ import annotations

import json
import threading
from dataclasses import fields, is_dataclass

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402

from cnnstat.errors import CnnstatError, UsageError  # noqa: E402
from cnnstat.importers.capture import (CaptureTimeout, Opaque, Ref, Trace,  # noqa: E402
                                       capture)

pytestmark = pytest.mark.torch


class Block(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(c)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)) + x)


class Small(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.block = Block(8)
        self.drop = nn.Dropout(0.5)
        self.fc = nn.Linear(8, 10)

    def forward(self, x):
        x = self.block(self.stem(x))
        return self.fc(self.drop(x.mean((2, 3))))


def _ops(trace: Trace) -> list[str]:
    return [r.op.rsplit(".", 1)[-1] for r in trace.ops]


def test_shapes_and_records_of_a_small_network():
    trace = capture(Small().eval(), (2, 3, 32, 32))
    assert trace.mode == "meta" and trace.fallback is None
    assert _ops(trace) == ["conv2d", "conv2d", "batch_norm", "add", "relu", "mean", "dropout",
                           "linear"]
    shapes = [trace.values[r.outputs[0]].shape for r in trace.ops]
    # stride-2 3x3 conv, padding 1: (32 + 2 - 3) // 2 + 1 = 16; the block keeps 16x16; the mean
    # over (2, 3) leaves (2, 8); the linear gives (2, 10)
    assert shapes == [(2, 8, 16, 16)] * 4 + [(2, 8, 16, 16), (2, 8), (2, 8), (2, 10)]
    assert [trace.values[v].shape for v in trace.output_values] == [(2, 10)]
    conv = trace.ops[0]
    # F.conv2d(input, weight, bias, stride, padding, dilation, groups) as nn.Conv2d calls it
    assert conv.args[3:] == ((2, 2), (1, 1), (1, 1), 1)
    assert isinstance(conv.args[0], Ref) and trace.values[conv.args[0].value].source == "input"
    weight, bias = (trace.values[a.value] for a in conv.args[1:3])
    assert (weight.source, weight.name, weight.shape) == ("parameter", "stem.weight", (8, 3, 3, 3))
    assert bias.name == "stem.bias"
    mean = trace.ops[5]
    assert mean.args[1:] == ((2, 3),)
    assert trace.ops[3].inputs[1] == trace.ops[0].outputs[0]      # the residual reads the stem
    assert trace.values[trace.ops[4].outputs[0]].producer == 4


def test_hierarchy_names_and_module_calls():
    trace = capture(Small().eval(), (1, 3, 16, 16))
    assert [(r.module, r.module_class.rsplit(".", 1)[-1]) for r in trace.ops][:4] == [
        ("stem", "Conv2d"), ("block.conv", "Conv2d"), ("block.bn", "BatchNorm2d"),
        ("block", "Block")]
    paths = [c.path for c in trace.calls]
    assert paths == ["", "stem", "block", "block.conv", "block.bn", "drop", "fc"]
    block = trace.calls[2]
    assert trace.calls[3].parent == block.index and trace.calls[block.parent].path == ""
    assert block.inputs == trace.ops[0].outputs and block.outputs == trace.ops[4].outputs
    assert [r.op.rsplit(".", 1)[-1] for r in trace.ops_of("block")] == [
        "conv2d", "batch_norm", "add", "relu"]
    assert trace.modules["block.bn"] == "torch.nn.modules.batchnorm.BatchNorm2d"
    assert trace.root_class.endswith("Small")


def test_parameter_table_each_tensor_once_with_owner():
    model = Small()
    trace = capture(model, (1, 3, 16, 16))
    assert trace.params == sum(p.numel() for p in model.parameters())
    assert trace.buffers == sum(b.numel() for b in model.buffers())
    bn = {t.name: t for t in trace.tensors if t.owner == "block.bn"}
    assert set(bn) == {"block.bn.weight", "block.bn.bias", "block.bn.running_mean",
                       "block.bn.running_var", "block.bn.num_batches_tracked"}
    assert bn["block.bn.running_mean"].kind == "buffer" and bn["block.bn.weight"].requires_grad
    assert bn["block.bn.num_batches_tracked"].dtype == "int64"


class Tied(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Linear(8, 8, bias=False)
        self.head = nn.Linear(8, 8, bias=False)
        self.head.weight = self.embed.weight

    def forward(self, x):
        return self.head(self.embed(x))


def test_tied_weights_are_one_tensor_with_an_alias():
    trace = capture(Tied(), (1, 8))
    (entry,) = trace.tensors
    assert (entry.name, entry.aliases, entry.owner) == ("embed.weight", ("head.weight",), "embed")
    assert trace.params == 64                      # one 8x8 matrix, used twice
    linears = [r for r in trace.ops if r.op.endswith("linear")]
    assert [r.args[1] for r in linears] == [Ref(entry.value)] * 2
    assert trace.tensor("head.weight") is entry


def test_weight_norm_parametrization_owns_its_originals():
    model = nn.Sequential(nn.utils.parametrizations.weight_norm(nn.Conv2d(3, 4, 3)))
    trace = capture(model, (1, 3, 8, 8))
    names = {t.name: t.owner for t in trace.tensors}
    assert names == {"0.bias": "0", "0.parametrizations.weight.original0":
                     "0.parametrizations.weight", "0.parametrizations.weight.original1":
                     "0.parametrizations.weight"}
    conv = next(r for r in trace.ops if r.op.endswith("conv2d"))
    weight = trace.values[conv.args[1].value]
    assert weight.source == "op"                   # computed by the parametrization: g * v / |v|
    assert trace.params == sum(p.numel() for p in model.parameters()) == 4 + 4 + 4 * 27


class BufferFilter(nn.Module):
    """A fixed blur applied with F.conv2d on a buffer (TResNet's and timm's BlurPool2d)."""

    def __init__(self, c: int):
        super().__init__()
        self.register_buffer("filt", torch.ones(c, 1, 3, 3) / 9)
        self.c = c

    def forward(self, x):
        return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), self.filt, stride=2,
                        groups=self.c)


def test_buffer_used_as_a_convolution_weight_stays_a_buffer():
    trace = capture(BufferFilter(4), (1, 4, 8, 8))
    conv = next(r for r in trace.ops if r.op.endswith("conv2d"))
    weight = trace.values[conv.args[1].value]
    assert (weight.source, weight.name) == ("buffer", "filt")
    assert conv.kwargs == {"stride": 2, "groups": 4}
    assert trace.params == 0 and trace.buffers == 36


def test_timm_tresnet_blur_and_nfnet_gain_ownership():
    timm = pytest.importorskip("timm")
    tresnet = timm.create_model("tresnet_m", pretrained=False).eval()
    trace = capture(tresnet, (1, 3, 224, 224))
    blur = [r for r in trace.ops if r.op.endswith("conv2d")
            and trace.values[r.args[1].value].source == "buffer"]
    assert len(blur) == 3 and all(trace.values[r.args[1].value].name.endswith(".filt")
                                  for r in blur)
    assert trace.params == sum(p.numel() for p in tresnet.parameters())
    assert trace.buffers == sum(b.numel() for b in tresnet.buffers())

    nf = timm.create_model("nf_resnet26", pretrained=False).eval()
    trace = capture(nf, (1, 3, 224, 224))
    conv = next(r for r in trace.ops if r.op.endswith("conv2d") and r.module == "stem.conv")
    ancestors, todo = set(), [conv.args[1].value]
    while todo:
        value = trace.values[todo.pop()]
        if value.producer is None:
            ancestors.add((value.source, value.name))
        else:
            todo.extend(trace.ops[value.producer].inputs)
    # ScaledStdConv2d: weight = batch_norm(weight.reshape(1, C, -1)) * gain * scale
    assert ancestors == {("parameter", "stem.conv.weight"), ("parameter", "stem.conv.gain")}
    assert trace.params == sum(p.numel() for p in nf.parameters())


def test_training_flags_tensors_and_device_restored():
    model = Small()
    model.train()
    model.block.bn.eval()                           # a frozen norm inside a training model
    flags = [m.training for m in model.modules()]
    before = [(id(t), t.device) for t in (*model.parameters(), *model.buffers())]
    weight = model.stem.weight.detach().clone()
    trace = capture(model, (1, 3, 16, 16))
    assert [m.training for m in model.modules()] == flags
    assert [(id(t), t.device) for t in (*model.parameters(), *model.buffers())] == before
    assert torch.equal(model.stem.weight, weight)
    dropout = next(r for r in trace.ops if r.op.endswith("dropout"))
    # nn.Dropout calls F.dropout(x, p, training, inplace); torch's wrapper passes all but x by
    # keyword, so the bound arguments are where a rule reads them
    assert dropout.args == (Ref(dropout.inputs[0]),) and dropout.kwargs["training"] is False
    assert dropout.bound == {"input": Ref(dropout.inputs[0]), "p": 0.5, "training": False,
                             "inplace": False}
    assert trace.training is False
    trained = capture(model, (1, 3, 16, 16), train=True)
    assert next(r for r in trained.ops if r.op.endswith("dropout")).bound["training"] is True
    assert [m.training for m in model.modules()] == flags
    assert int(model.block.bn.num_batches_tracked) == 0             # meta: nothing was updated


class TwoInputs(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(100, 16)
        self.proj = nn.Linear(16, 16)

    def forward(self, tokens, features, scale=None):
        x = self.embed(tokens) + self.proj(features)
        return x * scale if scale is not None else x


def test_several_inputs_tensors_shapes_and_keywords():
    model = TwoInputs()
    tokens = torch.randint(0, 100, (2, 5))
    trace = capture(model, (tokens, (2, 5, 16)))
    assert [(i.name, i.keyword) for i in trace.inputs] == [("tokens", False),
                                                          ("features", False)]
    values = [trace.values[i.value] for i in trace.inputs]
    assert [(v.shape, v.dtype) for v in values] == [((2, 5), "int64"), ((2, 5, 16), "float32")]
    assert [trace.values[v].shape for v in trace.output_values] == [(2, 5, 16)]

    trace = capture(model, {"tokens": tokens, "features": (2, 5, 16), "scale": (1,)})
    assert [(i.name, i.keyword) for i in trace.inputs] == [
        ("tokens", True), ("features", True), ("scale", True)]
    assert _ops(trace)[-1] == "mul"


def test_dict_outputs_of_torchvision_segmentation_models():
    torchvision = pytest.importorskip("torchvision")
    for name in ("fcn_resnet50", "deeplabv3_resnet50"):
        with torch.device("meta"):                  # no memory, no initialization
            model = torchvision.models.get_model(name, weights=None,
                                                 weights_backbone=None).eval()
        trace = capture(model, (1, 3, 224, 224))
        assert isinstance(trace.output, dict) and list(trace.output) == ["out"]
        assert trace.values[trace.output["out"].value].shape == (1, 21, 224, 224)
        assert trace.params == sum(p.numel() for p in model.parameters())
        assert any(r.op.endswith("interpolate") for r in trace.ops)


def test_multihead_attention_is_not_the_fused_fast_path():
    model = nn.TransformerEncoderLayer(32, 4, 64, batch_first=True).eval()
    trace = capture(model, (2, 7, 32))
    ops = {r.op for r in trace.ops}
    assert "torch.nn.functional.multi_head_attention_forward" in ops
    assert not any("native_multi_head" in op or "transformer_encoder_layer" in op for op in ops)


class NeedsValues(nn.Module):
    def forward(self, x):
        if x.abs().sum().item() > 0:                # a value: impossible on meta tensors
            return x * 2
        return x


def test_forward_that_needs_values_falls_back_to_real_tensors():
    trace = capture(NeedsValues(), (1, 4))
    assert trace.mode == "cpu" and "item" in trace.fallback
    assert _ops(trace)[-1] == "mul"


class Raises(nn.Module):
    def __init__(self):
        super().__init__()
        self.inner = nn.Sequential(nn.Identity(), BadLayer())

    def forward(self, x):
        return self.inner(x)


class BadLayer(nn.Module):
    def forward(self, x):
        raise ValueError("shape not supported")


class ReturnsNumber(nn.Module):
    def forward(self, x):
        return 3


class LoopsWithTorch(nn.Module):
    def forward(self, x):
        while True:
            x = x + 1


class LoopsInPython(nn.Module):
    def forward(self, x):
        n = 0
        while True:
            n += 1


def test_bad_forwards_give_one_line_errors():
    with pytest.raises(CnnstatError) as err:
        capture(Raises(), (1, 3))
    assert "raised ValueError: shape not supported" in str(err.value)
    assert err.value.layer == "inner.1"
    assert "\n" not in str(err.value)

    with pytest.raises(UsageError, match=r"forward\(tokens, features\) cannot take"):
        capture(TwoInputs(), (2, 5))

    with pytest.raises(CnnstatError, match="returned int, not tensors"):
        capture(ReturnsNumber(), (1, 3))

    with pytest.raises(CaptureTimeout, match="did not finish"):
        capture(LoopsWithTorch(), (1, 3), timeout=0.5)
    with pytest.raises(CaptureTimeout, match="more than 1,000 torch calls"):
        capture(LoopsWithTorch(), (1, 3), max_ops=1000)

    with pytest.raises(UsageError, match="must be a shape"):
        capture(Small(), "3x224x224")
    with pytest.raises(UsageError, match="nn.Module"):
        capture(lambda x: x, (1, 3))


@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(),
                    reason="SIGALRM only interrupts the main thread")
def test_a_python_loop_without_torch_calls_is_interrupted():
    with pytest.raises(CaptureTimeout, match="time budget"):
        capture(LoopsInPython(), (1, 3), timeout=0.3)


def _torch_free(obj, seen=None) -> bool:
    """No torch object anywhere in the trace: it is plain data."""
    if type(obj).__module__.split(".")[0] == "torch":
        return False
    if is_dataclass(obj):
        return all(_torch_free(getattr(obj, f.name)) for f in fields(obj))
    if isinstance(obj, dict):
        return all(_torch_free(k) and _torch_free(v) for k, v in obj.items())
    if isinstance(obj, (list, tuple)):
        return all(_torch_free(v) for v in obj)
    if isinstance(obj, slice):
        return all(_torch_free(v) for v in (obj.start, obj.stop, obj.step))
    return isinstance(obj, (str, int, float, bool, Opaque)) or obj is None or obj is Ellipsis


def test_trace_is_plain_data_and_serializes_to_json():
    timm = pytest.importorskip("timm")
    model = timm.create_model("levit_128s", pretrained=False).eval()
    trace = capture(model, (1, 3, 224, 224))
    assert _torch_free(trace)
    text = json.dumps(trace.to_dict())
    data = json.loads(text)
    assert len(data["ops"]) == len(trace.ops) and data["mode"] == "meta"
    getitem = next(r for r in trace.ops if r.op == "torch.Tensor.__getitem__")
    assert any(isinstance(a, (slice, tuple)) for a in getitem.args[1:])


class Writes(nn.Module):
    def forward(self, x):
        y = F.relu(x * 2, inplace=True)
        y[:, :2] = 0
        y += 1
        return F.dropout(y, 0.1, training=False)


def test_in_place_writes_make_new_versions():
    trace = capture(Writes(), (1, 4))
    kinds = [(r.op.rsplit(".", 1)[-1], r.inplace) for r in trace.ops]
    assert kinds == [("mul", False), ("relu", True), ("__setitem__", True), ("add_", True),
                     ("dropout", False)]
    for previous, record in zip(trace.ops[1:], trace.ops[2:]):
        # each write reads the value the previous call produced and makes its next version
        assert record.inputs[0] == previous.outputs[0]
        assert trace.values[record.outputs[0]].version_of == previous.outputs[0]
    assert trace.output_values == list(trace.ops[-1].outputs)


def test_meta_shortcuts_give_the_shapes_torch_gives():
    """The shape shortcuts on meta (capture.SHORTCUTS) against torch's own meta functions and
    against a real run, on models that use every shortcut."""
    from cnnstat.importers import capture as module

    timm = pytest.importorskip("timm")
    for name, shape in (("levit_128s", (1, 3, 224, 224)), ("mobilevit_xxs", (1, 3, 256, 256)),
                        ("efficientformerv2_s0", (1, 3, 224, 224))):
        model = timm.create_model(name, pretrained=False).eval()
        fast = capture(model, shape)
        real = capture(model, shape, meta=False)
        saved = dict(module.SHORTCUTS)
        module.SHORTCUTS.clear()
        try:
            slow = capture(model, shape)
        finally:
            module.SHORTCUTS.update(saved)
        def outline(trace):
            return [(r.op, r.inplace, [trace.values[v].shape for v in r.outputs],
                     [trace.values[v].dtype for v in r.outputs]) for r in trace.ops]
        assert outline(fast) == outline(slow) == outline(real), name
        assert fast.mode == "meta" and real.mode == "cpu"
        used = {r.op for r in fast.ops} & set(saved)
        assert len(used) >= 4, used


class Caches(nn.Module):
    """A forward that replaces a buffer and adds a tensor attribute (ConViT's rel_indices)."""

    def __init__(self):
        super().__init__()
        self.register_buffer("table", torch.zeros(1), persistent=False)

    def forward(self, x):
        if self.table.shape[0] != x.shape[-1]:
            self.table = torch.arange(x.shape[-1], device=x.device, dtype=x.dtype)
            self.cache = self.table * 2
        return x + self.table


def test_a_forward_that_rewrites_its_state_leaves_the_module_as_it_was():
    model = Caches()
    table = model.table
    trace = capture(model, (2, 5))
    assert model.table is table and "cache" not in model.__dict__
    assert trace.buffers == 1                      # the state the module had, not its cache
    assert model(torch.ones(2, 5)).shape == (2, 5)    # still runs on real tensors


def test_convit_caches_and_comes_back_unchanged():
    timm = pytest.importorskip("timm")
    model = timm.create_model("convit_tiny", pretrained=False).eval()
    before = [id(b) for b in model.buffers()]
    trace = capture(model, (1, 3, 224, 224))
    assert trace.buffers == sum(b.numel() for b in model.buffers()) == 30
    assert [id(b) for b in model.buffers()] == before
