"""A test oracle (under tests/: nothing in cnnstat imports it). Ground truth from a real torch
module: per-leaf-module output shapes, parameter counts and the conv/linear multiply-adds it
actually performs, measured with forward hooks.

MACs are counted from the shapes the hooks see (not from cnnstat's rules), with the textbook
formulas stated where they are used:
- Conv1d/2d/3d:           N * C_out * prod(out) * (C_in / groups) * prod(k)
                          (2-D: N * C_out * H_out * W_out * (C_in / groups) * k_h * k_w)
- ConvTranspose1d/2d/3d:  N * C_in * prod(in) * (C_out / groups) * prod(k)
- Linear:                 elements of the output * in_features
Bias adds are not counted (cnnstat's default convention, torchvision's metadata, fvcore).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn


@dataclass
class ModuleCount:
    name: str
    kind: str
    output_shape: tuple[int, ...]
    params: int
    macs: int


@dataclass
class TorchCounts:
    params: int                       # sum over module.parameters() (shared tensors once)
    trainable_params: int
    buffers: int                      # sum over module.buffers()
    macs: int                         # conv + linear multiply-adds seen by the hooks
    output_shapes: list[tuple[int, ...]]
    modules: list[ModuleCount] = field(default_factory=list)


CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
TRANSPOSED = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)


def _prod(values) -> int:
    out = 1
    for v in values:
        out *= int(v)
    return out


def _macs(module: nn.Module, inputs, output) -> int:
    x = inputs[0]
    if isinstance(module, CONVS):
        return (output.numel() * (module.in_channels // module.groups)
                * _prod(module.kernel_size))
    if isinstance(module, TRANSPOSED):
        return x.numel() * (module.out_channels // module.groups) * _prod(module.kernel_size)
    if isinstance(module, nn.Linear):
        return output.numel() * module.in_features
    return 0


def _shapes(output) -> list[tuple[int, ...]]:
    if isinstance(output, torch.Tensor):
        return [tuple(output.shape)]
    if isinstance(output, (tuple, list)):
        return [s for o in output for s in _shapes(o)]
    if hasattr(output, "_asdict"):                      # torchvision's namedtuple outputs
        return [s for o in output._asdict().values() if o is not None for s in _shapes(o)]
    if isinstance(output, dict):
        return [s for o in output.values() for s in _shapes(o)]
    return []


@torch.no_grad()
def torch_counts(module: nn.Module, input_shape: tuple[int, ...], batch: int = 1,
                 device: str = "cpu", train: bool = False) -> TorchCounts:
    """Run ``module`` in eval mode (``train=True``: training mode) on zeros of shape
    (batch, *input_shape) and count."""
    module = module.train(train).to(device)
    records: list[ModuleCount] = []
    hooks = []
    for name, sub in module.named_modules():
        if len(list(sub.children())) == 0:
            def hook(mod, inputs, output, name=name):
                shape = tuple(output.shape) if isinstance(output, torch.Tensor) else ()
                records.append(ModuleCount(name, type(mod).__name__, shape,
                                           sum(p.numel() for p in mod.parameters(recurse=False)),
                                           _macs(mod, inputs, output)))
            hooks.append(sub.register_forward_hook(hook))
    try:
        out = module(torch.zeros((batch,) + tuple(input_shape), device=device))
    finally:
        for h in hooks:
            h.remove()
    params = {id(p): p for p in module.parameters()}
    return TorchCounts(
        params=sum(p.numel() for p in params.values()),
        trainable_params=sum(p.numel() for p in params.values() if p.requires_grad),
        buffers=sum(b.numel() for b in module.buffers()),
        macs=sum(r.macs for r in records),
        output_shapes=_shapes(out),
        modules=records,
    )


def torchvision_model(name: str, **kwargs) -> nn.Module:
    """A torchvision classification/segmentation model with random weights (no download)."""
    import torchvision
    torch.manual_seed(0)
    return torchvision.models.get_model(name, weights=None, **kwargs)
