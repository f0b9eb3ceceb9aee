"""torch.fx import rules for module calls: one handler per torch.nn module class (the leaves of
the trace). A handler adds cnnstat layers through the importer or raises NoRule, which makes the
call a not_counted layer."""

from __future__ import annotations

from typing import Any, Callable

from torch import nn

from .fx_values import NoRule, ints, one_tensor, upsample

ModuleHandler = Callable[..., Any]
MODULES: list[tuple[type, ModuleHandler]] = []


def on_module(*classes: type):
    def register(fn: ModuleHandler) -> ModuleHandler:
        for cls in classes:
            MODULES.append((cls, fn))
        return fn
    return register


@on_module(nn.Conv2d)
def _m_conv(imp, node, m, args, kwargs, out):
    x = one_tensor(args)
    if x.nhwc or len(args) > 1 or kwargs:
        raise NoRule()
    padding = m.padding if isinstance(m.padding, str) else [[p, p] for p in m.padding]
    return imp.add(node, "conv2d", [x], module=m, out=m.out_channels, kernel=list(m.kernel_size),
                   stride=list(m.stride), padding=padding, dilation=list(m.dilation),
                   groups=m.groups, bias=m.bias is not None, padding_mode=m.padding_mode)


@on_module(nn.ConvTranspose2d)
def _m_deconv(imp, node, m, args, kwargs, out):
    x = one_tensor(args)
    if x.nhwc or len(args) > 1 or kwargs:       # output_size given at call time
        raise NoRule()
    return imp.add(node, "conv_transpose2d", [x], module=m, out=m.out_channels,
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


@on_module(nn.BatchNorm2d, nn.BatchNorm1d, nn.SyncBatchNorm)
def _m_bn(imp, node, m, args, kwargs, out):
    x = one_tensor(args)
    if x.nhwc or m.momentum is None:
        raise NoRule()
    op = "batchnorm1d" if isinstance(m, nn.BatchNorm1d) else "batchnorm2d"
    return imp.add(node, op, [x], module=m, eps=m.eps, momentum=m.momentum, affine=m.affine,
                   track_running_stats=m.track_running_stats)


@on_module(nn.MaxPool2d)
def _m_maxpool(imp, node, m, args, kwargs, out):
    x = one_tensor(args)
    if x.nhwc or m.return_indices:
        raise NoRule()
    return imp.add(node, "maxpool2d", [x], module=m, kernel=ints(m.kernel_size),
                   stride=ints(m.stride), padding=ints(m.padding), dilation=ints(m.dilation),
                   ceil_mode=m.ceil_mode)


@on_module(nn.AvgPool2d)
def _m_avgpool(imp, node, m, args, kwargs, out):
    x = one_tensor(args)
    if x.nhwc:
        raise NoRule()
    return imp.add(node, "avgpool2d", [x], module=m, kernel=ints(m.kernel_size),
                   stride=ints(m.stride), padding=ints(m.padding), ceil_mode=m.ceil_mode,
                   count_include_pad=m.count_include_pad)


@on_module(nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)
def _m_adaptive(imp, node, m, args, kwargs, out):
    x = one_tensor(args)
    if x.nhwc or getattr(m, "return_indices", False):
        raise NoRule()
    op = "adaptive_avgpool2d" if isinstance(m, nn.AdaptiveAvgPool2d) else "adaptive_maxpool2d"
    size = m.output_size
    size = list(size) if isinstance(size, (tuple, list)) else size
    return imp.add(node, op, [x], module=m, output=size)


# Elementwise modules (the shape kept, channels-last tensors too): the operator, and the module
# attributes that become its arguments. The first class that matches wins (ReLU6 is a Hardtanh).
_ELEMENTWISE_MODULES: dict[type, tuple[str, dict[str, str]]] = {
    nn.ReLU: ("relu", {}), nn.ReLU6: ("relu6", {}), nn.Sigmoid: ("sigmoid", {}),
    nn.Tanh: ("tanh", {}), nn.Hardswish: ("hardswish", {}), nn.Hardsigmoid: ("hardsigmoid", {}),
    nn.SiLU: ("silu", {}), nn.Mish: ("mish", {}), nn.Identity: ("identity", {}),
    nn.GELU: ("gelu", {"approximate": "approximate"}),
    nn.LeakyReLU: ("leaky_relu", {"negative_slope": "negative_slope"}),
    nn.ELU: ("elu", {"alpha": "alpha"}),
    nn.Hardtanh: ("hardtanh", {"min": "min_val", "max": "max_val"}),
    **{cls: ("dropout", {"p": "p"}) for cls in (nn.Dropout, nn.Dropout2d, nn.Dropout1d,
                                                  nn.AlphaDropout, nn.FeatureAlphaDropout)},
}


@on_module(*_ELEMENTWISE_MODULES)
def _m_elementwise(imp, node, m, args, kwargs, out):
    x = one_tensor(args)
    op, attrs = next(v for k, v in _ELEMENTWISE_MODULES.items() if isinstance(m, k))
    return imp.add(node, op, [x], x.nhwc, module=m,
                   **{arg: getattr(m, attr) for arg, attr in attrs.items()})


@on_module(nn.PReLU)
def _m_prelu(imp, node, m, args, kwargs, out):
    x = one_tensor(args)
    if x.nhwc:
        raise NoRule()
    return imp.add(node, "prelu", [x], module=m, num_parameters=m.num_parameters)


@on_module(nn.Softmax, nn.LogSoftmax)
def _m_softmax(imp, node, m, args, kwargs, out):
    x = one_tensor(args)
    if x.nhwc or m.dim is None:
        raise NoRule()
    op = "softmax" if isinstance(m, nn.Softmax) else "log_softmax"
    return imp.add(node, op, [x], module=m, dim=m.dim)


@on_module(nn.Flatten)
def _m_flatten(imp, node, m, args, kwargs, out):
    x = one_tensor(args)
    if x.nhwc:
        raise NoRule()
    return imp.add(node, "flatten", [x], module=m, start=m.start_dim, end=m.end_dim)


@on_module(nn.LocalResponseNorm)
def _m_lrn(imp, node, m, args, kwargs, out):
    x = one_tensor(args)
    if x.nhwc:
        raise NoRule()
    return imp.add(node, "lrn", [x], module=m, size=m.size, alpha=m.alpha, beta=m.beta, k=m.k)


@on_module(nn.Upsample)
def _m_upsample(imp, node, m, args, kwargs, out):
    x = one_tensor(args)
    if x.nhwc:
        raise NoRule()
    return upsample(imp, node, x, m.size, m.scale_factor, m.mode, m.align_corners, out, m)


@on_module(nn.ZeroPad2d, nn.ConstantPad2d)
def _m_pad(imp, node, m, args, kwargs, out):
    x = one_tensor(args)
    if x.nhwc or getattr(m, "value", 0) != 0:
        raise NoRule()
    l, r, t, b = m.padding
    return imp.add(node, "zero_pad2d", [x], module=m, padding=[[t, b], [l, r]])


@on_module(nn.ChannelShuffle)
def _m_shuffle(imp, node, m, args, kwargs, out):
    x = one_tensor(args)
    if x.nhwc:
        raise NoRule()
    return imp.add(node, "channel_shuffle", [x], module=m, groups=m.groups)


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


def _stochastic_depth_module(imp, node, m, args, kwargs, out):
    x = one_tensor(args)
    return imp.add(node, "stochastic_depth", [x], x.nhwc, module=m, p=m.p, mode=m.mode)


def _register_torchvision_modules() -> None:
    try:
        from torchvision.ops import StochasticDepth
    except ImportError:                                  # pragma: no cover
        return
    on_module(StochasticDepth)(_stochastic_depth_module)


_register_torchvision_modules()
