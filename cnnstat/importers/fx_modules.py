"""torch.fx import rules for module calls: one handler per torch.nn module class (the leaves of
the trace). A handler adds cnnstat layers through the importer or raises NoRule, which makes the
call a not_counted layer."""

from __future__ import annotations

from typing import Any, Callable

from torch import nn

from .common import Rules
from .fx_values import NoRule, ints, one_tensor, upsample

ModuleHandler = Callable[..., Any]
#: module class → handler, in registration order (the first class a module is an instance of wins)
MODULES = Rules("torch module class")
on_module = MODULES.on


def _rank(m: nn.Module) -> int:
    """The spatial rank of a Conv{1,2,3}d-like module: the length of its kernel_size."""
    size = m.kernel_size if hasattr(m, "kernel_size") else m.output_size
    return len(size) if isinstance(size, (tuple, list)) else 1


@on_module(nn.Conv1d, nn.Conv2d, nn.Conv3d)
def _m_conv(imp, node, m, args, kwargs, out):
    x = one_tensor(args)
    if x.nhwc or len(args) > 1 or kwargs:
        raise NoRule()
    padding = m.padding if isinstance(m.padding, str) else [[p, p] for p in m.padding]
    return imp.add(node, f"conv{_rank(m)}d", [x], module=m, out=m.out_channels,
                   kernel=list(m.kernel_size), stride=list(m.stride), padding=padding,
                   dilation=list(m.dilation), groups=m.groups, bias=m.bias is not None,
                   padding_mode=m.padding_mode)


@on_module(nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
def _m_deconv(imp, node, m, args, kwargs, out):
    x = one_tensor(args)
    if x.nhwc or len(args) > 1 or kwargs:       # output_size given at call time
        raise NoRule()
    return imp.add(node, f"conv_transpose{_rank(m)}d", [x], module=m, out=m.out_channels,
                   kernel=list(m.kernel_size), stride=list(m.stride), padding=list(m.padding),
                   output_padding=list(m.output_padding), groups=m.groups,
                   bias=m.bias is not None, dilation=list(m.dilation))


@on_module(nn.Linear)
def _m_linear(imp, node, m, args, kwargs, out):
    x = one_tensor(args)
    if x.nhwc:    # a channels-last Linear: over the channels at every position
        return imp.add(node, "channel_linear", [x], True, module=m, out=m.out_features,
                       bias=m.bias is not None)
    return imp.add(node, "linear", [x], module=m, out=m.out_features, bias=m.bias is not None,
                   in_features=m.in_features)


@on_module(nn.BatchNorm2d, nn.BatchNorm1d, nn.BatchNorm3d, nn.SyncBatchNorm)
def _m_bn(imp, node, m, args, kwargs, out):
    x = one_tensor(args)
    if x.nhwc or m.momentum is None:
        raise NoRule()
    rank = len(imp.asm.shape(x.node)) - 2       # SyncBatchNorm: any rank
    op = "batchnorm1d" if isinstance(m, nn.BatchNorm1d) or rank < 2 else f"batchnorm{rank}d"
    return imp.add(node, op, [x], module=m, eps=m.eps, momentum=m.momentum, affine=m.affine,
                   track_running_stats=m.track_running_stats)


_POOL_RANK = {nn.MaxPool1d: 1, nn.MaxPool2d: 2, nn.MaxPool3d: 3, nn.AvgPool1d: 1,
              nn.AvgPool2d: 2, nn.AvgPool3d: 3, nn.AdaptiveAvgPool1d: 1, nn.AdaptiveAvgPool2d: 2,
              nn.AdaptiveAvgPool3d: 3, nn.AdaptiveMaxPool1d: 1, nn.AdaptiveMaxPool2d: 2,
              nn.AdaptiveMaxPool3d: 3}


@on_module(nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d)
def _m_maxpool(imp, node, m, args, kwargs, out):
    x = one_tensor(args)
    if x.nhwc or m.return_indices:
        raise NoRule()
    return imp.add(node, f"maxpool{_POOL_RANK[type(m)]}d", [x], module=m,
                   kernel=ints(m.kernel_size), stride=ints(m.stride), padding=ints(m.padding),
                   dilation=ints(m.dilation), ceil_mode=m.ceil_mode)


@on_module(nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d)
def _m_avgpool(imp, node, m, args, kwargs, out):
    x = one_tensor(args)
    if x.nhwc or getattr(m, "divisor_override", None):
        raise NoRule()
    return imp.add(node, f"avgpool{_POOL_RANK[type(m)]}d", [x], module=m,
                   kernel=ints(m.kernel_size), stride=ints(m.stride), padding=ints(m.padding),
                   ceil_mode=m.ceil_mode, count_include_pad=m.count_include_pad)


@on_module(nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d,
           nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d)
def _m_adaptive(imp, node, m, args, kwargs, out):
    x = one_tensor(args)
    if x.nhwc or getattr(m, "return_indices", False):
        raise NoRule()
    kind = "avg" if "Avg" in type(m).__name__ else "max"
    size = m.output_size
    size = list(size) if isinstance(size, (tuple, list)) else size
    return imp.add(node, f"adaptive_{kind}pool{_POOL_RANK[type(m)]}d", [x], module=m, output=size)


def _declared_elementwise() -> dict[type, tuple[str, dict[str, str]]]:
    """The element-wise modules operators declare beside their rules (Op.torch, elementwise):
    module class → (operator, {argument: the module attribute of that torch keyword}), in
    registration order."""
    from ..ops import REGISTRY
    return {getattr(nn, rule.torch.name): (name, {arg: kw for kw, arg in rule.torch.args})
            for name, rule in REGISTRY.items() if rule.torch is not None and rule.torch.elementwise}


# Elementwise modules (the shape kept, channels-last tensors too): the operator, and the module
# attributes that become its arguments. The first class that matches wins (ReLU6 is a Hardtanh,
# and registered first).
_ELEMENTWISE_MODULES: dict[type, tuple[str, dict[str, str]]] = {
    **_declared_elementwise(),
    **{cls: ("dropout", {"p": "p"}) for cls in (nn.Dropout, nn.Dropout1d, nn.Dropout2d,
                                                  nn.Dropout3d, nn.AlphaDropout,
                                                  nn.FeatureAlphaDropout)},
}


@on_module(*_ELEMENTWISE_MODULES)
def _m_elementwise(imp, node, m, args, kwargs, out):
    x = one_tensor(args)
    op, attrs = next(v for k, v in _ELEMENTWISE_MODULES.items() if isinstance(m, k))
    return imp.add(node, op, [x], x.nhwc, module=m,
                   **{arg: getattr(m, attr) for arg, attr in attrs.items()})


@on_module(nn.Softmax, nn.LogSoftmax)
def _m_softmax(imp, node, m, args, kwargs, out):
    x = one_tensor(args)
    if x.nhwc or m.dim is None:
        raise NoRule()
    op = "softmax" if isinstance(m, nn.Softmax) else "log_softmax"
    return imp.add(node, op, [x], module=m, dim=m.dim)


@on_module(nn.Upsample)
def _m_upsample(imp, node, m, args, kwargs, out):
    x = one_tensor(args)
    if x.nhwc:
        raise NoRule()
    return upsample(imp, node, x, m.size, m.scale_factor, m.mode, m.align_corners, out, m)


@on_module(nn.ZeroPad1d, nn.ZeroPad2d, nn.ZeroPad3d, nn.ConstantPad1d, nn.ConstantPad2d,
           nn.ConstantPad3d)
def _m_pad(imp, node, m, args, kwargs, out):
    x = one_tensor(args)
    rank = len(m.padding) // 2
    if x.nhwc or getattr(m, "value", 0) != 0 or len(imp.asm.shape(x.node)) != rank + 2:
        raise NoRule()
    # torch's padding: (before, after) of the last axis first
    pairs = [list(m.padding[i:i + 2]) for i in range(0, len(m.padding), 2)][::-1]
    return imp.add(node, f"zero_pad{rank}d", [x], module=m, padding=pairs)


@on_module(nn.LayerNorm)
def _m_layernorm(imp, node, m, args, kwargs, out):
    x = one_tensor(args)
    affine = m.elementwise_affine
    bias = getattr(m, "bias", None) is not None
    if _is_layernorm2d(m) and not x.nhwc:        # torchvision's LayerNorm2d: over the channels
        return imp.add(node, "layernorm2d", [x], module=m, eps=m.eps, affine=affine,
                       bias=bias or not affine)
    dims = len(m.normalized_shape)
    if x.nhwc:
        if dims != 1:
            raise NoRule()
        return imp.add(node, "layernorm2d", [x], True, module=m, eps=m.eps, affine=affine,
                       bias=bias or not affine)
    return imp.add(node, "layernorm", [x], module=m, dims=dims, eps=m.eps, affine=affine,
                   bias=bias or not affine)


def _is_layernorm2d(m: nn.Module) -> bool:
    return type(m).__name__ == "LayerNorm2d"


# Modules on channels-first tensors whose attributes are the operator's arguments: those the
# operators declare beside their rules (Op.torch) that no handler above takes, and these.
_CHANNELS_FIRST_MODULES: dict[type, tuple[str, dict[str, str]]] = {
    nn.LocalResponseNorm: ("lrn", {"size": "size", "alpha": "alpha", "beta": "beta", "k": "k"}),
    nn.ChannelShuffle: ("channel_shuffle", {"groups": "groups"}),
}


def _m_channels_first(imp, node, m, args, kwargs, out):
    x = one_tensor(args)
    if x.nhwc:
        raise NoRule()
    op, attrs = next(v for k, v in _CHANNELS_FIRST_MODULES.items() if isinstance(m, k))
    return imp.add(node, op, [x], module=m,
                   **{arg: getattr(m, attr) for arg, attr in attrs.items()})


def _register_declared_modules() -> None:
    from ..ops import REGISTRY
    for name, rule in REGISTRY.items():
        spec = rule.torch
        if spec is not None and not spec.elementwise and getattr(nn, spec.name) not in MODULES:
            _CHANNELS_FIRST_MODULES[getattr(nn, spec.name)] = (
                name, {arg: kw for kw, arg in spec.args})
    on_module(*_CHANNELS_FIRST_MODULES)(_m_channels_first)


_register_declared_modules()


def _stochastic_depth_module(imp, node, m, args, kwargs, out):
    x = one_tensor(args)
    return imp.add(node, "stochastic_depth", [x], x.nhwc, module=m, p=m.p, mode=m.mode)


def register_torchvision_modules() -> None:
    """The rule for torchvision's StochasticDepth module, once torchvision is imported (as
    fx_functions.register_torchvision_functions: called after the model is built)."""
    import sys
    if "torchvision" not in sys.modules or _TORCHVISION_DONE:
        return
    _TORCHVISION_DONE.append(True)
    try:
        from torchvision.ops import StochasticDepth
    except ImportError:                                  # pragma: no cover
        return
    on_module(StochasticDepth)(_stochastic_depth_module)


_TORCHVISION_DONE: list[bool] = []
