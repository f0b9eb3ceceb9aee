"""ONNX import. Fixtures are exported from torch modules here (torch's TorchScript exporter,
``dynamo=False``: the dynamo exporter needs onnxscript) and compared with the same module imported
through torch.fx (which is itself checked against torch); a few graphs that exporters do not write
(SAME_UPPER padding, asymmetric pooling pads, opset-9 Upsample, an op without a rule, dynamic
sizes) are built with onnx.helper."""

from __future__ import annotations

import warnings

import pytest

import cnnstat
from cnnstat.importers import from_torch
from cnnstat.errors import CnnstatError, UsageError

onnx = pytest.importorskip("onnx")
torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from torch import nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402


def export(module: nn.Module, path, shape=(1, 3, 32, 32), opset=17, bn=True) -> str:
    """Export in eval mode; TrainingMode.PRESERVE keeps batch norm layers (the exporter folds
    them into the convolutions otherwise)."""
    module.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (torch.zeros(shape),), str(path), dynamo=False,
                          opset_version=opset,
                          training=torch.onnx.TrainingMode.PRESERVE if bn else
                          torch.onnx.TrainingMode.EVAL)
    return str(path)


class Every(nn.Module):
    """One of every operator the ONNX importer maps, in a 3x32x32 network."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3, stride=2, padding=1)
        self.bn = nn.BatchNorm2d(16)
        self.group = nn.Conv2d(16, 16, 3, padding=2, dilation=2, groups=4, bias=False)
        self.prelu = nn.PReLU(16)
        self.pool = nn.MaxPool2d(3, 2, padding=1, ceil_mode=True)
        self.avg = nn.AvgPool2d(3, 1, padding=1, count_include_pad=False)
        self.se = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(16, 4, 1), nn.ReLU(),
                                nn.Conv2d(4, 16, 1), nn.Hardsigmoid())
        self.up = nn.ConvTranspose2d(16, 8, 3, stride=2, padding=1, output_padding=1)
        self.norm = nn.LayerNorm(8, eps=1e-6)
        self.mlp = nn.Linear(8, 8)
        self.fc = nn.Linear(8 * 10 * 10, 10)
        self.head = nn.Linear(16, 5)

    def forward(self, x):
        x = F.relu(self.bn(self.conv(x)))                       # 16x16x16
        x = self.prelu(self.group(x))
        x = x * self.se(x)                                      # Mul by a squeeze-excitation gate
        a, b = x.chunk(2, dim=1)                                # Split / Slice
        x = torch.cat([F.hardswish(a), F.silu(b)], dim=1)       # HardSwish, x * Sigmoid(x)
        n, c, h, w = x.shape
        x = x.view(n, 2, c // 2, h, w).transpose(1, 2).reshape(n, c, h, w)   # channel shuffle
        x = torch.maximum(self.pool(x), F.relu6(self.avg(self.pool(x))))     # 9x9 (ceil)
        x = F.leaky_relu(x, 0.2) + F.elu(x)
        x = self.up(x)                                          # 8x18x18
        x = F.interpolate(x, scale_factor=0.5, mode="bilinear", align_corners=False)  # 8x9x9
        x = F.pad(x, (0, 1, 0, 1))                              # 8x10x10
        y = self.mlp(self.norm(x.permute(0, 2, 3, 1)))          # channels-last LayerNorm + Linear
        x = torch.sigmoid(F.gelu(y.permute(0, 3, 1, 2))) * torch.tanh(x)
        logits = self.fc(x.flatten(1))
        tokens = x.reshape(n, 8, 100)[:, :, :16].transpose(1, 2)  # Slice, then a 3-D tensor
        return F.softmax(logits, dim=1), self.head(tokens.transpose(1, 2))


@pytest.fixture(scope="module")
def every_onnx(tmp_path_factory):
    torch.manual_seed(0)
    return export(Every(), tmp_path_factory.mktemp("onnx") / "every.onnx")


def test_every_operator_imports_like_the_torch_module(every_onnx):
    torch.manual_seed(0)
    via_fx = cnnstat.analyze(from_torch(Every(), 32))
    via_onnx = cnnstat.analyze(every_onnx)
    assert via_onnx.totals.params == via_fx.totals.params == sum(
        p.numel() for p in Every().parameters())
    assert via_onnx.totals.macs == via_fx.totals.macs
    assert via_onnx.output_shapes == via_fx.output_shapes == [(1, 10), (1, 8, 5)]
    ops = [r.op for r in via_onnx.records]
    assert "not_counted" not in ops, [r.name for r in via_onnx.records if r.op == "not_counted"]
    for op in ("conv2d", "conv_transpose2d", "batchnorm2d", "prelu", "maxpool2d", "avgpool2d",
               "global_avgpool", "hardsigmoid", "multiply", "hardswish", "silu", "concat",
               "channel_shuffle", "maximum", "relu6", "leaky_relu", "elu", "add",
               "upsample", "zero_pad2d", "layernorm2d", "channel_linear", "gelu", "sigmoid",
               "tanh", "flatten", "linear", "softmax", "slice", "reshape"):
        assert op in ops, op


def test_every_operator_layer_by_layer(every_onnx):
    """Layers named after modules have the same numbers both ways."""
    torch.manual_seed(0)
    via_fx = cnnstat.analyze(from_torch(Every(), 32))
    via_onnx = cnnstat.analyze(every_onnx)
    for name in ("conv", "bn", "group", "prelu", "se.1", "se.3", "up", "norm", "mlp",
                 "fc", "head"):
        a, b = via_fx.record(name), via_onnx.record(name)
        assert (a.op, a.output_shape, a.params, a.macs) == (b.op, b.output_shape, b.params, b.macs)
        assert (a.rf.h.size, a.rf.h.stride, a.rf.h.padding) == (b.rf.h.size, b.rf.h.stride,
                                                                 b.rf.h.padding), name


@pytest.fixture(scope="module")
def resnet18_onnx(tmp_path_factory):
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    return export(torchvision.models.resnet18(weights=None), tmp_path_factory.mktemp("onnx")
                  / "resnet18.onnx", shape=(1, 3, 224, 224))


def test_resnet18_onnx_equals_fx_import_layer_by_layer(resnet18_onnx):
    via_onnx = cnnstat.analyze(resnet18_onnx)
    via_fx = cnnstat.analyze("torchvision:resnet18")
    # torchvision's model card: 11,689,512 parameters, 1.814 GFLOPS (its GFLOPS are MACs)
    assert (via_onnx.totals.params, via_onnx.totals.macs) == (11_689_512, 1_814_073_344)
    names = [r.name for r in via_fx.records]
    assert [r.name for r in via_onnx.records] == names
    same = {"adaptive_avgpool2d": "global_avgpool"}      # AdaptiveAvgPool2d(1) is exported as
    for a, b in zip(via_fx.records, via_onnx.records):   # GlobalAveragePool: the same numbers
        assert (same.get(a.op, a.op), a.output_shape, a.params, a.macs, a.macs_by_kind, a.rf) == \
            (b.op, b.output_shape, b.params, b.macs, b.macs_by_kind, b.rf), a.name


def test_resnet18_onnx_at_another_input(resnet18_onnx):
    a = cnnstat.analyze(resnet18_onnx, "128")
    assert a.record("layer4.1.conv2").output_shape == (1, 512, 4, 4)
    assert a.totals.macs == cnnstat.analyze("torchvision:resnet18", 128).totals.macs


def test_folded_batch_norm_is_what_the_file_holds(tmp_path):
    """Exported in eval mode the exporter folds batch norm into the convolution: the file holds a
    biased convolution, and cnnstat counts what the file holds."""
    torch.manual_seed(0)
    path = export(nn.Sequential(nn.Conv2d(3, 8, 3, bias=False), nn.BatchNorm2d(8)),
                  tmp_path / "folded.onnx", bn=False)
    a = cnnstat.analyze(path)
    assert [r.op for r in a.records] == ["conv2d"]
    assert a.totals.params == 8 * 3 * 9 + 8          # the bias the folding added


# -- graphs written with onnx.helper ------------------------------------------------------------------
def _model(nodes, inputs, outputs, inits=(), opset=13):
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _tensor(name, shape):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def _init(name, shape):
    import numpy as np
    return numpy_helper.from_array(np.ones(shape, dtype=np.float32), name)


def _save(model, path) -> str:
    onnx.save(model, str(path))
    return str(path)


def test_same_upper_padding_asymmetric_pooling_and_unknown_ops(tmp_path):
    nodes = [
        # SAME_UPPER with stride 2 on 15: out ceil(15/2) = 8, total pad (8-1)*2 + 3 - 15 = 2: (1, 1)
        helper.make_node("Conv", ["x", "w"], ["c"], name="conv", kernel_shape=[3, 3],
                         strides=[2, 2], auto_pad="SAME_UPPER"),
        # pads [top, left, bottom, right] = [0, 0, 1, 1]: asymmetric, imported as a pad first
        helper.make_node("MaxPool", ["c"], ["p"], name="pool", kernel_shape=[2, 2],
                         strides=[2, 2], pads=[0, 0, 1, 1]),
        helper.make_node("Softplus", ["p"], ["s"], name="softplus"),
        helper.make_node("CumSum", ["s", "axis"], ["q"], name="cumsum"),
        helper.make_node("Upsample", ["q", "scales"], ["u"], name="up", mode="nearest"),
        helper.make_node("Dropout", ["u"], ["d"], name="drop", ratio=0.25),
    ]
    import numpy as np
    inits = [_init("w", [4, 2, 3, 3]), numpy_helper.from_array(np.array(1, dtype=np.int64), "axis"),
             numpy_helper.from_array(np.array([1, 1, 2, 2], dtype=np.float32), "scales")]
    model = _model(nodes, [_tensor("x", [1, 2, 15, 15])], [_tensor("d", None)], inits, opset=9)
    a = cnnstat.analyze(_save(model, tmp_path / "m.onnx"))
    assert a.record("conv").attrs["padding"] == ((1, 1), (1, 1))
    assert a.record("conv").output_shape == (1, 4, 8, 8)
    assert a.record("pool.pad").op == "zero_pad2d"
    assert a.record("pool").output_shape == (1, 4, 4, 4)       # (8 + 1 - 2)//2 + 1 = 4
    # Softplus and CumSum have no rule: not counted, with ONNX shape inference's shapes
    assert {r.name for r in a.records if r.op == "not_counted"} == {"softplus", "cumsum"}
    assert a.record("up").output_shape == (1, 4, 8, 8)
    assert a.record("drop").attrs["p"] == 0.25
    assert "cumsum" in {x["name"] for x in a.to_dict()["not_counted"]}


def test_gemm_sum_and_clip_inputs(tmp_path):
    import numpy as np
    nodes = [
        helper.make_node("GlobalAveragePool", ["x"], ["g"], name="gap"),
        helper.make_node("Flatten", ["g"], ["f"], name="flat"),
        helper.make_node("Gemm", ["f", "w"], ["y"], name="fc", transB=0),      # w is (in, out)
        helper.make_node("Clip", ["y", "lo", "hi"], ["r"], name="clip"),
        helper.make_node("Sum", ["r", "y", "r"], ["s"], name="sum"),
    ]
    inits = [_init("w", [6, 4]), numpy_helper.from_array(np.array(0, dtype=np.float32), "lo"),
             numpy_helper.from_array(np.array(6, dtype=np.float32), "hi")]
    a = cnnstat.analyze(_save(_model(nodes, [_tensor("x", [1, 6, 5, 5])], [_tensor("s", None)],
                                     inits), tmp_path / "m.onnx"))
    assert a.record("fc").params == 6 * 4 and a.record("fc").attrs["bias"] is False
    assert a.record("clip").op == "relu6"
    assert a.record("sum").op == "add" and len(a.record("sum").inputs) == 3


def test_dynamic_input_needs_input_size(tmp_path):
    nodes = [helper.make_node("Relu", ["x"], ["y"], name="relu")]
    path = _save(_model(nodes, [_tensor("x", ["N", 3, "H", "W"])], [_tensor("y", None)]),
                 tmp_path / "dyn.onnx")
    with pytest.raises(UsageError, match="dynamic size.*--input"):
        cnnstat.analyze(path)
    assert cnnstat.analyze(path, "3x20x24").output_shapes == [(1, 3, 20, 24)]


def test_models_with_two_inputs_are_refused(tmp_path):
    nodes = [helper.make_node("Add", ["x", "z"], ["y"], name="add")]
    path = _save(_model(nodes, [_tensor("x", [1, 3, 4, 4]), _tensor("z", [1, 3, 4, 4])],
                        [_tensor("y", None)]), tmp_path / "two.onnx")
    with pytest.raises(CnnstatError, match="one image input"):
        cnnstat.analyze(path)


def test_cli_on_onnx(every_onnx, capsys, tmp_path):
    from cnnstat.cli import main
    for command in ("summary", "params", "shapes", "flops", "rf"):
        assert main([command, every_onnx]) == 0
    out = capsys.readouterr().out
    assert "channel_shuffle" in out and "NOT COUNTED" not in out
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    assert main(["summary", str(bad)]) == 2
    assert capsys.readouterr().err.startswith("error: ")
    assert main(["summary", every_onnx, "--set", "alpha=1"]) == 2
    assert "--set" in capsys.readouterr().err


def test_more_operators_from_the_onnx_specification(tmp_path):
    """LRN, Squeeze/Unsqueeze, ReduceMean, Split with sizes, Mish, Gelu (opset 20), Resize to
    sizes, MatMul of two activations, batch norm on vectors."""
    import numpy as np
    i64 = lambda name, values: numpy_helper.from_array(np.array(values, dtype=np.int64), name)
    nodes = [
        helper.make_node("LRN", ["x"], ["lrn"], name="lrn", size=5, alpha=1e-4, beta=0.75, bias=2.0),
        helper.make_node("Split", ["lrn", "sizes"], ["a", "b"], name="split", axis=1),
        helper.make_node("Mish", ["a"], ["mish"], name="mish"),
        helper.make_node("Gelu", ["b"], ["gelu"], name="gelu", approximate="tanh"),
        helper.make_node("Resize", ["mish", "", "", "hw"], ["big"], name="resize", mode="nearest",
                         coordinate_transformation_mode="asymmetric", nearest_mode="floor"),
        helper.make_node("ReduceMean", ["gelu", "axes"], ["mean"], name="mean", keepdims=1),
        helper.make_node("Squeeze", ["mean", "axes"], ["vec"], name="squeeze"),
        helper.make_node("BatchNormalization", ["vec", "s", "bias", "m", "v"], ["bn"], name="bn1d"),
        helper.make_node("Unsqueeze", ["bn", "last"], ["col"], name="unsqueeze"),
        helper.make_node("Transpose", ["col"], ["row"], name="transpose", perm=[0, 2, 1]),
        helper.make_node("MatMul", ["col", "row"], ["outer"], name="outer"),
    ]
    inits = [i64("sizes", [2, 4]), i64("hw", [1, 2, 16, 12]), i64("axes", [2, 3]), i64("last", [2]),
             _init("s", [4]), _init("bias", [4]), _init("m", [4]), _init("v", [4])]
    model = _model(nodes, [_tensor("x", [1, 6, 8, 6])],
                   [_tensor("big", None), _tensor("outer", None)], inits, opset=20)
    a = cnnstat.analyze(_save(model, tmp_path / "more.onnx"))
    ops = {r.name: r.op for r in a.records}
    assert ops["lrn"] == "lrn" and a.record("lrn").attrs["k"] == 2.0
    assert (ops["split.0"], ops["split.1"]) == ("slice", "slice")
    assert a.record("split.1").output_shape == (1, 4, 8, 6)
    assert ops["mish"] == "mish" and a.record("gelu").attrs["approximate"] == "tanh"
    assert a.record("resize").output_shape == (1, 2, 16, 12)
    assert ops["mean"] == "global_avgpool" and ops["bn1d"] == "batchnorm1d"
    assert a.record("squeeze").output_shape == (1, 4)
    # the transpose of a 3-D tensor is a layout change (issue 13: any rank); the outer product
    # (1, 4, 1) @ (1, 1, 4): 16 outputs x inner size 1 = 16 multiply-adds
    assert ops["transpose"] == "layout" and a.record("transpose").output_shape == (1, 1, 4)
    assert a.record("transpose").macs == 0
    assert ops["outer"] == "matmul" and a.record("outer").macs == 16
    assert a.output_shapes == [(1, 2, 16, 12), (1, 4, 4)]
