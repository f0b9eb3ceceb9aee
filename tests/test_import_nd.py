"""Importing 1-D and 3-D networks (issue 14): torch.fx (Conv1d/Conv3d, their pools, norms,
upsampling and padding, functional calls), ONNX (Conv, ConvTranspose, pools, Pad, Resize with 1-D
and 3-D kernels) and Caffe (N-D Convolution). Each import is checked against the torch module's
forward hooks (shapes, parameters, buffers, conv+linear multiply-adds), and the importer names no
layer 'not counted'."""

from __future__ import annotations

import warnings

import pytest

import cnnstat
from cnnstat.errors import DefinitionError, UsageError

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

from torch import nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from cnnstat.importers import from_torch  # noqa: E402
from tests.oracles.reference import torch_counts  # noqa: E402


class Audio(nn.Module):
    """Every 1-D module and functional call the importers map."""

    def __init__(self, adaptive: bool = True):
        super().__init__()
        self.adaptive_pools = adaptive        # the ONNX exporter cannot write them on 1-D maps
        self.conv1 = nn.Conv1d(1, 16, 80, stride=4, padding=38)
        self.bn1 = nn.BatchNorm1d(16)
        self.pool = nn.MaxPool1d(4, ceil_mode=True)
        self.conv2 = nn.Conv1d(16, 32, 3, dilation=2, padding=2, bias=False)
        self.avg = nn.AvgPool1d(3, stride=1, padding=1, count_include_pad=False)
        self.up = nn.Upsample(scale_factor=2, mode="linear", align_corners=False)
        self.pad = nn.ConstantPad1d((1, 2), 0.0)
        self.deconv = nn.ConvTranspose1d(32, 8, 4, stride=2, padding=1)
        self.adaptive = nn.AdaptiveMaxPool1d(5)
        self.fc = nn.Linear(8 * 5, 10) if adaptive else nn.Linear(8 * 503, 10)

    def forward(self, x):
        x = self.pool(F.relu(self.bn1(self.conv1(x))))
        x = self.avg(F.relu(self.conv2(x)))
        x = self.pad(self.up(x))
        x = F.max_pool1d(self.deconv(x), 2)
        if self.adaptive_pools:
            x = self.adaptive(x) + F.adaptive_avg_pool1d(x, 5)
        return self.fc(x.flatten(1))


class Volume(nn.Module):
    """Every 3-D module and functional call the importers map."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv3d(2, 8, (3, 5, 5), stride=(1, 2, 2), padding=(1, 2, 2))
        self.bn = nn.BatchNorm3d(8)
        self.pool = nn.MaxPool3d((1, 2, 2))
        self.avg = nn.AvgPool3d(2, ceil_mode=True)
        self.deconv = nn.ConvTranspose3d(8, 4, 2, stride=2)
        self.up = nn.Upsample(scale_factor=(1, 2, 2), mode="trilinear", align_corners=True)
        self.pad = nn.ZeroPad3d((1, 0, 1, 0, 0, 1))
        self.head = nn.Conv3d(4, 3, 1)

    def forward(self, x):
        x = self.avg(self.pool(F.relu(self.bn(self.conv(x)))))
        x = self.pad(self.up(self.deconv(x)))
        x = F.conv3d(x, self.head.weight, self.head.bias)
        return torch.mean(x, dim=(2, 3, 4))


def _flop_counter_macs(module: nn.Module, shape) -> int:
    """Conv and matmul multiply-adds by FlopCounterMode (2 FLOPs each): it sees functional
    calls (F.conv3d on a module's weight) that forward hooks miss."""
    from torch.utils.flop_counter import FlopCounterMode
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        module(torch.zeros((1,) + tuple(shape)))
    return counter.get_total_flops() // 2


def _same_as_torch(module: nn.Module, shape) -> cnnstat.Analysis:
    a = cnnstat.analyze(from_torch(module, shape))
    counts = torch_counts(module, shape)
    assert [r.name for r in a.records if r.op == "not_counted"] == []
    assert (a.totals.params, a.totals.buffers) == (counts.params, counts.buffers)
    assert a.totals.macs == _flop_counter_macs(module, shape)
    assert a.output_shapes == counts.output_shapes
    return a


def test_fx_imports_a_1d_network():
    a = _same_as_torch(Audio().eval(), (1, 4000))
    ops = {r.op for r in a.records}
    assert {"conv1d", "batchnorm1d", "maxpool1d", "avgpool1d", "upsample", "zero_pad1d",
            "conv_transpose1d", "adaptive_maxpool1d", "adaptive_avgpool1d"} <= ops
    assert a.rank == 1 and a.record("conv1").rf.length.size == 80


def test_fx_imports_a_3d_network():
    a = _same_as_torch(Volume().eval(), (2, 8, 32, 32))
    ops = {r.op for r in a.records}
    assert {"conv3d", "batchnorm3d", "maxpool3d", "avgpool3d", "conv_transpose3d", "upsample",
            "zero_pad3d", "global_avgpool"} <= ops
    assert a.record("up").attrs["mode"] == "trilinear"
    assert a.record("conv").rf.axes[0].size == 3 and a.record("conv").rf.h.size == 5


def test_a_1d_or_3d_module_needs_its_input_size(tmp_path, capsys):
    from cnnstat.cli import main
    path = tmp_path / "nets.py"
    path.write_text("from torch import nn\n"
                    "class Net1d(nn.Module):\n"
                    "    def __init__(self):\n"
                    "        super().__init__()\n"
                    "        self.conv = nn.Conv1d(2, 8, 9, stride=4)\n"
                    "    def forward(self, x):\n"
                    "        return self.conv(x)\n")
    assert main(["params", f"{path}:Net1d"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and len(err.splitlines()) == 1
    assert "is a 1-D model (its first layer Conv1d(2, 8, kernel_size=(9,), stride=(4,)) takes " \
           "C×L input): give its input size, e.g. --input 2x16000" in err
    assert main(["params", f"{path}:Net1d", "--input", "1000", "--format", "json"]) == 0
    import json
    data = json.loads(capsys.readouterr().out)
    assert data["input"] == [2, 1000]            # the channels from the first convolution
    assert data["outputs"][0]["shape"] == [1, 8, 248]          # (1000 - 9) // 4 + 1
    with pytest.raises(UsageError, match="is a 3-D model"):
        from_torch(nn.Sequential(nn.Conv3d(3, 4, 3)))


def test_an_image_module_takes_its_channels_from_the_first_convolution():
    a = cnnstat.analyze(from_torch(nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU())))
    assert a.input_shape == (1, 224, 224)


# -- ONNX -------------------------------------------------------------------------------------------
def _export(module: nn.Module, path, shape) -> str:
    module.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (torch.zeros((1,) + shape),), str(path), dynamo=False,
                          opset_version=17, training=torch.onnx.TrainingMode.PRESERVE)
    return str(path)


@pytest.mark.parametrize("make,shape", [(lambda: Audio(adaptive=False), (1, 4000)),
                                        (Volume, (2, 8, 32, 32))], ids=["1-D", "3-D"])
def test_onnx_imports_1d_and_3d_networks(make, shape, tmp_path):
    pytest.importorskip("onnx")
    torch.manual_seed(0)
    m = make().eval()
    path = _export(m, tmp_path / "net.onnx", shape)
    a = cnnstat.analyze(path)
    counts = torch_counts(m, shape)
    assert a.input_shape == shape
    assert [r.attrs["what"] for r in a.records if r.op == "not_counted"] == []
    assert a.totals.params == counts.params
    assert a.totals.macs == _flop_counter_macs(m, shape)
    assert a.output_shapes == counts.output_shapes
    ops = {r.op for r in a.records}
    rank = len(shape) - 1
    assert {f"conv{rank}d", f"conv_transpose{rank}d", f"maxpool{rank}d", f"avgpool{rank}d",
            f"batchnorm{rank}d", f"zero_pad{rank}d", "upsample"} <= ops
    # --input is read against the ONNX model's rank too
    assert cnnstat.analyze(path, input="2x4x16x16" if rank == 3 else "4000").input_shape == \
        ((2, 4, 16, 16) if rank == 3 else (1, 4000))
    if rank == 1:
        # the 1-D net's Gemm holds a weight for 4,000 samples: another length is refused on one
        # line naming that weight (issue 19's initializer checks), not counted as another network
        with pytest.raises(DefinitionError, match="takes 4024 features, the input has 2024"):
            cnnstat.analyze(path, input="2000")


# -- Caffe ------------------------------------------------------------------------------------------
def test_caffe_nd_convolution():
    from cnnstat.importers.caffe import from_text
    text = """
name: "c3d-like"
layer { name: "data" type: "Input" top: "data"
        input_param { shape { dim: 1 dim: 3 dim: 16 dim: 112 dim: 112 } } }
layer { name: "conv1a" type: "Convolution" bottom: "data" top: "conv1a"
        convolution_param { num_output: 64 kernel_size: 3 pad: 1 } }
layer { name: "relu1a" type: "ReLU" bottom: "conv1a" top: "conv1a" }
layer { name: "conv2a" type: "Convolution" bottom: "conv1a" top: "conv2a"
        convolution_param { num_output: 128 kernel_size: 1 kernel_size: 3 kernel_size: 3
                            stride: 1 stride: 2 stride: 2 pad: 0 pad: 1 pad: 1 } }
layer { name: "up" type: "Deconvolution" bottom: "conv2a" top: "up"
        convolution_param { num_output: 8 kernel_size: 2 stride: 2 } }
"""
    a = cnnstat.analyze(from_text(text, file="c3d.prototxt"))
    assert a.input_shape == (3, 16, 112, 112)
    assert a.record("conv1a").op == "conv3d" and a.record("conv1a").params == 64 * (81 + 1)
    assert a.record("conv2a").output_shape == (1, 128, 16, 56, 56)
    assert a.record("up").op == "conv_transpose3d"
    assert a.record("up").output_shape == (1, 8, 32, 112, 112)
    one = from_text('layer { name: "x" type: "Input" top: "x" input_param { shape { dim: 1 '
                    'dim: 1 dim: 100 } } }\nlayer { name: "c" type: "Convolution" bottom: "x" '
                    'top: "c" convolution_param { num_output: 4 kernel_size: 5 } }\n')
    assert cnnstat.analyze(one).record("c").output_shape == (1, 4, 96)
