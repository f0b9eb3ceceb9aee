"""Every zoo network that torchvision also builds: the zoo's hand-written definition and the
torchvision module imported with torch.fx give identical per-layer numbers — output shape,
parameters, MACs and receptive field — for every weight and pooling layer, aligned in order (the
two name their layers differently), and identical totals."""

from __future__ import annotations

import pytest

import cnnstat

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")
pytestmark = pytest.mark.torch

#: the layers both descriptions must have, in the same order (of every spatial rank)
KEY_OPS = {"linear", "channel_linear", "partial_conv2d", "global_avgpool", "global_maxpool"} | {
    f"{family}{r}d" for r in (1, 2, 3) for family in (
        "conv", "conv_transpose", "maxpool", "avgpool", "adaptive_avgpool", "adaptive_maxpool")}

DEFAULT = ["vgg16", "resnet18", "resnet50", "googlenet", "inception_v3", "densenet121",
           "mobilenet_v3_large", "shufflenet_v2_x1_0", "squeezenet1_0", "efficientnet_b0",
           "r3d_18", "mc3_18", "r2plus1d_18", "s3d"]


def shared_names() -> list[str]:
    from cnnstat import zoo
    return sorted(set(zoo.names()) & (set(torchvision.models.list_models(module=torchvision.models))
                                      | set(torchvision.models.list_models(
                                          module=torchvision.models.video))))


def _shape(shape):
    """N x C x 1 x 1 and N x C are the same numbers (global pooling with or without keepdim)."""
    return tuple(shape[:2]) if len(shape) > 2 and set(shape[2:]) == {1} else tuple(shape)


def _numbers(r):
    rf = tuple((a.size, a.stride, a.padding, a.whole) for a in r.rf.axes)
    return (_shape(r.output_shape), r.params, r.macs, dict(r.macs_by_kind), rf)


def compare(name: str) -> None:
    zoo = cnnstat.analyze(name)
    imported = cnnstat.analyze(f"torchvision:{name}", "x".join(map(str, zoo.input_shape)))
    z = [r for r in zoo.records if r.op in KEY_OPS]
    i = [r for r in imported.records if r.op in KEY_OPS]
    assert len(z) == len(i), f"{name}: {len(z)} weight/pool layers in the zoo, {len(i)} imported"
    for a, b in zip(z, i):
        assert _numbers(a) == _numbers(b), f"{name}: zoo {a.name} vs torchvision {b.name}"
    assert (zoo.totals.params, zoo.totals.buffers, zoo.totals.macs) == \
        (imported.totals.params, imported.totals.buffers, imported.totals.macs), name
    assert [_shape(s) for s in zoo.output_shapes] == [_shape(s) for s in imported.output_shapes]


@pytest.mark.parametrize("name", DEFAULT)
def test_zoo_equals_imported_torchvision(name):
    compare(name)


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in shared_names() if n not in DEFAULT])
def test_every_shared_zoo_model_equals_its_import(name):
    compare(name)


def test_shared_set_is_not_empty():
    # the zoo grows; this comparison covers whatever it shares with torchvision
    assert {"vgg16", "resnet18", "resnet50"} <= set(shared_names())
