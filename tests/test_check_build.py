"""The torch builder behind ``cnnstat check``: module layout, deterministic weights, the meta
device, and the numerics of cnnstat's own modules (LeNet-5's partial connections, subsampling and
RBF units, channel shuffle, U-Net's crop-and-concatenate, SE's broadcast multiply) against direct
formulas. Shapes and counts of every operator are tested in test_ops_torch.py."""

from __future__ import annotations

import textwrap

import pytest

pytestmark = pytest.mark.torch

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402

from cnnstat.models import load_graph  # noqa: E402
from cnnstat.torch_bridge.build import build, build_module  # noqa: E402
from cnnstat.torch_bridge.check import example_inputs  # noqa: E402


def _graph(tmp_path, body: str):
    path = tmp_path / "net.yaml"
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return load_graph(str(path))


def test_node_modules_sit_at_their_dotted_names():
    m = build("resnet18", input=32, device="meta")
    named = dict(m.named_modules())
    assert set(m.node_modules) <= set(named)
    assert named["layer2.0.downsample.0"] is m.node_modules["layer2.0.downsample.0"]
    assert isinstance(named["layer1.0.conv1"], torch.nn.Conv2d)


def test_weights_are_deterministic_per_seed():
    a, b, c = (build("lenet5", seed=s) for s in (0, 0, 1))
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert any(not torch.equal(sa[k], sc[k]) for k in sa)


def test_meta_device_allocates_nothing():
    m = build("vgg16", device="meta")
    assert all(p.is_meta for p in m.parameters())
    out = m(*example_inputs(m.graph, 2, "meta"))
    assert out.is_meta and tuple(out.shape) == (2, 1000)


def test_several_outputs_come_back_as_a_tuple():
    # the auxiliary heads run in training mode only, as in torchvision's GoogLeNet
    m = build("googlenet", input=224, set={"aux_logits": "true"}, device="meta", train=True)
    assert m.training
    outs = m(*example_inputs(m.graph, 2, "meta"))
    assert isinstance(outs, tuple) and [tuple(o.shape) for o in outs] == [(2, 1000)] * 3
    m.eval()
    out = m(*example_inputs(m.graph, 2, "meta"))
    assert tuple(out.shape) == (2, 1000)


def test_residual_graph_computes_what_it_says(tmp_path):
    graph = _graph(tmp_path, """\
        input: [2, 5, 5]
        layers:
          - a: conv2d(2, 3, padding=1, bias=false)
          - r: relu
          - b: conv2d(2, 1)
          - s: add(b, input)
          - gate: [global_avgpool, sigmoid]
          - se: multiply(s, gate)
    """)
    m = build_module(graph)
    (x,) = example_inputs(graph)
    wa, wb, bb = m.a.weight, m.b.weight, m.b.bias
    s = F.conv2d(F.relu(F.conv2d(x, wa, padding=1)), wb, bb) + x
    expected = s * torch.sigmoid(s.mean((2, 3), keepdim=True))   # N×C×1×1 gate broadcast
    with torch.no_grad():
        assert torch.allclose(m(x), expected, atol=1e-6)


def test_partial_connections_read_only_their_table():
    m = build("lenet5")
    c3 = m.node_modules["C3"]
    x = torch.randn(1, 6, 14, 14)
    table = c3.table
    with torch.no_grad():
        base = c3(x)
        for k in range(6):
            y = x.clone()
            y[:, k] += 1.0
            moved = (c3(y) - base).abs().amax(dim=(0, 2, 3)) > 0
            # output map j changes exactly when input map k is in its row of Table I
            assert moved.tolist() == [k in row for row in table]


def test_subsampling_is_window_sum_times_coefficient_plus_bias():
    m = build("lenet5")
    s2 = m.node_modules["S2"]
    x = torch.randn(2, 6, 28, 28)
    with torch.no_grad():
        expected = (F.avg_pool2d(x, 2) * 4 * s2.coefficient.view(1, 6, 1, 1)
                    + s2.bias.view(1, 6, 1, 1))
        assert torch.allclose(s2(x), expected, atol=1e-5)


def test_rbf_is_squared_euclidean_distance_to_prototypes():
    m = build("lenet5")
    rbf = m.node_modules["OUTPUT"]
    x = torch.randn(3, 84)
    w = rbf.prototypes
    with torch.no_grad():
        expected = ((x[:, None, :] - w[None]) ** 2).sum(-1)   # y_i = sum_j (x_j - w_ij)^2
        assert torch.allclose(rbf(x), expected, rtol=1e-4, atol=1e-3)


def test_channel_shuffle_matches_torchvision(tmp_path):
    from torchvision.models.shufflenetv2 import channel_shuffle
    graph = _graph(tmp_path, """\
        input: [12, 3, 3]
        layers:
          - shuffle: channel_shuffle(3)
    """)
    m = build_module(graph)
    x = torch.randn(2, 12, 3, 3)
    with torch.no_grad():
        assert torch.equal(m(x), channel_shuffle(x, 3))


def test_crop_and_concatenate(tmp_path):
    graph = _graph(tmp_path, """\
        input: [1, 9, 9]
        layers:
          - small: conv2d(2, 5)
          - cat: concat(input, small, crop='center')
    """)
    m = build_module(graph)
    (x,) = example_inputs(graph)
    with torch.no_grad():
        out = m(x)
        small = m.small(x)
    # 9×9 cropped to 5×5 from the center: rows and columns 2..6
    assert torch.equal(out[:, :1], x[:, :, 2:7, 2:7]) and torch.equal(out[:, 1:], small)
