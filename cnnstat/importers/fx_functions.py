"""torch.fx import rules for function and method calls (``F.relu``, ``torch.cat``, ``x + y``,
``x.view``...), with the patterns that span several calls (channel shuffle, channels-last regions).
A handler adds cnnstat layers through the importer or raises NoRule (a not_counted layer)."""

from __future__ import annotations

import operator
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from .common import Rules, distinct
from .fx_values import BATCH, P, Parts, Shuffle, T, NoRule, bind, ints, is_tensor, upsample

FunctionHandler = Callable[..., Any]
FUNCTIONS = Rules("torch function")
METHODS = Rules("Tensor method")


def on(*targets: Any):
    """Register a handler for functions (callables) and Tensor methods (names)."""
    def register(fn: FunctionHandler) -> FunctionHandler:
        for target in distinct(targets):
            (METHODS if isinstance(target, str) else FUNCTIONS).add(target, fn)
        return fn
    return register


def _activation(op: str, names: list[str] = (), defaults: dict | None = None,
                attrs: Callable[[dict], dict] = lambda a: {}) -> FunctionHandler:
    def handler(imp, node, args, kwargs, out):
        a = bind(args, kwargs, ["input"] + list(names), defaults or {})
        x = a["input"]
        if not isinstance(x, T):
            raise NoRule()
        return imp.add(node, op, [x], x.nhwc, **attrs(a))
    return handler


def _declared_functions() -> None:
    """F.<function>(input, *keywords) of every operator that declares it beside its rule
    (Op.torch.function): the keywords in the torch signature's order, their defaults the
    operator's."""
    from ..ops import REGISTRY
    for name, rule in REGISTRY.items():
        spec = rule.torch
        if spec is None or spec.function is None:
            continue
        defaults = {p.name: p.default for p in rule.params}
        keywords = [kw for kw, _ in spec.args]
        on(getattr(F, spec.function))(_activation(
            name, keywords, {kw: defaults[arg] for kw, arg in spec.args},
            lambda a, args=spec.args: {arg: a[kw] for kw, arg in args}))


_declared_functions()
# the other spellings of the same calls
on(torch.relu, F.relu_, "relu", "relu_")(_activation("relu"))
on(torch.sigmoid, "sigmoid", "sigmoid_")(_activation("sigmoid"))
on(torch.tanh, "tanh", "tanh_")(_activation("tanh"))
on(F.dropout, F.dropout2d, F.dropout1d, F.alpha_dropout, F.feature_alpha_dropout)(
    _activation("dropout", ["p"], {"p": 0.5}, lambda a: {"p": a["p"]}))


@on(F.softmax, torch.softmax, "softmax", F.log_softmax, torch.log_softmax, "log_softmax")
def _f_softmax(imp, node, args, kwargs, out):
    a = bind(args, kwargs, ["input", "dim"], {"dim": None})
    x = a["input"]
    if not isinstance(x, T) or x.nhwc or a["dim"] is None:
        raise NoRule()
    op = "log_softmax" if "log" in str(getattr(node.target, "__name__", node.target)) else "softmax"
    return imp.add(node, op, [x], dim=int(a["dim"]))


#: the spatial rank of each functional pooling and convolution
_RANK = {F.max_pool1d: 1, F.max_pool2d: 2, F.max_pool3d: 3, F.avg_pool1d: 1, F.avg_pool2d: 2,
         F.avg_pool3d: 3, F.adaptive_avg_pool1d: 1, F.adaptive_avg_pool2d: 2,
         F.adaptive_avg_pool3d: 3, F.adaptive_max_pool1d: 1, F.adaptive_max_pool2d: 2,
         F.adaptive_max_pool3d: 3, F.conv1d: 1, F.conv2d: 2, F.conv3d: 3}


def _window_pool(op: str, names: list[str], defaults: dict, refused: str,
                 extra: Callable[[dict], dict]) -> FunctionHandler:
    """F.<op>_pool{1,2,3}d(input, kernel_size, stride=kernel_size, padding=0, *names): the
    operator ``op{rank}d``; a call with ``refused`` set has no rule."""
    def handler(imp, node, args, kwargs, out):
        a = bind(args, kwargs, ["input", "kernel_size", "stride", "padding"] + names,
                 {"stride": None, "padding": 0, **defaults})
        x = a["input"]
        if not isinstance(x, T) or x.nhwc or a[refused]:
            raise NoRule()
        stride = a["stride"] if a["stride"] not in (None, [], ()) else a["kernel_size"]
        return imp.add(node, f"{op}{_RANK[node.target]}d", [x], kernel=ints(a["kernel_size"]),
                       stride=ints(stride), padding=ints(a["padding"]), **extra(a))
    return handler


on(F.max_pool1d, F.max_pool2d, F.max_pool3d)(_window_pool(
    "maxpool", ["dilation", "ceil_mode", "return_indices"],
    {"dilation": 1, "ceil_mode": False, "return_indices": False}, "return_indices",
    lambda a: {"dilation": ints(a["dilation"]), "ceil_mode": bool(a["ceil_mode"])}))
on(F.avg_pool1d, F.avg_pool2d, F.avg_pool3d)(_window_pool(
    "avgpool", ["ceil_mode", "count_include_pad", "divisor_override"],
    {"ceil_mode": False, "count_include_pad": True, "divisor_override": None}, "divisor_override",
    lambda a: {"ceil_mode": bool(a["ceil_mode"]),
               "count_include_pad": bool(a["count_include_pad"])}))


@on(F.adaptive_avg_pool1d, F.adaptive_avg_pool2d, F.adaptive_avg_pool3d, F.adaptive_max_pool1d,
    F.adaptive_max_pool2d, F.adaptive_max_pool3d)
def _f_adaptive(imp, node, args, kwargs, out):
    a = bind(args, kwargs, ["input", "output_size", "return_indices"], {"return_indices": False})
    x = a["input"]
    if not isinstance(x, T) or x.nhwc or a["return_indices"]:
        raise NoRule()
    kind = "max" if "max" in node.target.__name__ else "avg"
    op = f"adaptive_{kind}pool{_RANK[node.target]}d"
    size = a["output_size"]
    size = [None if s is None else int(s) for s in size] if isinstance(size, (list, tuple)) \
        else int(size)
    return imp.add(node, op, [x], output=size)


@on(torch.flatten, "flatten")
def _f_flatten(imp, node, args, kwargs, out):
    a = bind(args, kwargs, ["input", "start_dim", "end_dim"], {"start_dim": 0, "end_dim": -1})
    x = a["input"]
    if isinstance(x, Shuffle):
        return _finish_shuffle(imp, node, x, out)
    if not isinstance(x, T) or x.nhwc or int(a["start_dim"]) == 0:
        raise NoRule()
    return imp.add(node, "flatten", [x], start=int(a["start_dim"]), end=int(a["end_dim"]))


@on("view", "reshape", torch.reshape, "squeeze", "unsqueeze", torch.squeeze, torch.unsqueeze,
    "view_as", "reshape_as", "unflatten")
def _f_reshape(imp, node, args, kwargs, out):
    x = args[0] if args else kwargs.get("input")
    if not is_tensor(out):
        raise NoRule()
    if isinstance(x, Shuffle):
        return _finish_shuffle(imp, node, x, out)
    if not isinstance(x, T) or x.nhwc:
        raise NoRule()
    src = imp.asm.shape(x.node)
    shape = tuple(out.shape)
    if shape[0] != BATCH:
        raise NoRule()
    # view (N, g, C/g, H, W) of a feature map: the start of a channel shuffle
    if len(src) == 4 and len(shape) == 5 and shape[1] * shape[2] == src[1] \
            and shape[3:] == src[2:] and node.target in ("view", "reshape", torch.reshape):
        return Shuffle(x, shape[1])
    if len(shape) == 2 and len(src) > 2:          # x.view(N, -1): a flatten
        return imp.add(node, "flatten", [x])
    return imp.add(node, "reshape", [x], shape=list(shape[1:]))


@on(torch.transpose, "transpose", torch.permute, "permute")
def _f_permute(imp, node, args, kwargs, out):
    x = args[0] if args else kwargs.get("input")
    rest = list(args[1:]) or [v for k, v in kwargs.items() if k != "input"]
    if node.target in (torch.transpose, "transpose"):
        d0, d1 = (int(v) for v in rest[:2])
        dims = None
    else:
        dims = rest[0] if len(rest) == 1 and isinstance(rest[0], (list, tuple)) else rest
        dims = tuple(int(d) for d in dims)
    if isinstance(x, Shuffle) and not x.transposed:
        if (dims is None and {d0 % 5, d1 % 5} == {1, 2}) or dims == (0, 2, 1, 3, 4):
            return Shuffle(x.src, x.groups, True)
        raise NoRule()
    if not isinstance(x, T):
        raise NoRule()
    if dims is None:
        rank = len(imp.asm.shape(x.node))
        order = list(range(rank))
        order[d0 % rank], order[d1 % rank] = order[d1 % rank], order[d0 % rank]
        dims = tuple(order)
    dims = tuple(d % 4 for d in dims) if len(dims) == 4 else dims
    # entering / leaving a channels-last region: cnnstat keeps the tensor N x C x H x W
    if not x.nhwc and dims == (0, 2, 3, 1) and len(imp.asm.shape(x.node)) == 4:
        return T(x.node, True)
    if x.nhwc and dims == (0, 3, 1, 2):
        return T(x.node, False)
    raise NoRule()


def _finish_shuffle(imp, node, s: Shuffle, out) -> T:
    src_shape = imp.asm.shape(s.src.node)
    if not s.transposed or tuple(out.shape[1:]) != tuple(src_shape[1:]):
        raise NoRule()
    return imp.add(node, "channel_shuffle", [s.src], name=imp.name_for(node, "channel_shuffle"),
                   groups=s.groups)


@on("contiguous", "clone", "detach", "float", "to", "type_as", torch.clone)
def _f_alias(imp, node, args, kwargs, out):
    x = args[0] if args else kwargs.get("input")
    if isinstance(x, (T, Shuffle)):
        return x                                  # the same values: not a layer
    raise NoRule()


@on(operator.add, torch.add, "add", "add_", operator.iadd)
def _f_add(imp, node, args, kwargs, out):
    a = bind(args, kwargs, ["input", "other"], {})
    x, y = a.get("input"), a.get("other")
    if isinstance(x, T) and isinstance(y, T) and x.nhwc == y.nhwc and "alpha" not in a:
        return imp.add(node, "add", [x, y], x.nhwc)
    raise NoRule()


@on(operator.mul, torch.mul, "mul", "mul_", operator.imul)
def _f_mul(imp, node, args, kwargs, out):
    a = bind(args, kwargs, ["input", "other"], {})
    x, y = a.get("input"), a.get("other")
    if isinstance(x, T) and isinstance(y, T) and x.nhwc == y.nhwc:
        return imp.add(node, "multiply", [x, y], x.nhwc)
    if isinstance(y, T) and isinstance(x, P):
        x, y = y, x
    if isinstance(x, T) and isinstance(y, P) and len(y.names) == 1 \
            and isinstance(y.tensors[0], nn.Parameter) \
            and tuple(y.tensors[0].shape) == tuple(y.value.shape):   # the parameter, not a part
        c = imp.asm.shape(x.node)[1]
        per_channel = {(c,)} if x.nhwc else {(c, 1, 1), (1, c, 1, 1)}
        if len(imp.asm.shape(x.node)) == 4 and tuple(y.value.shape) in per_channel:
            return imp.add(node, "scale", [x], x.nhwc, name=y.names[0], params=y.tensors,
                           bias=False)
    raise NoRule()


@on(torch.maximum, torch.max)
def _f_maximum(imp, node, args, kwargs, out):
    tensors = [v for v in list(args) + list(kwargs.values()) if isinstance(v, T)]
    if len(tensors) == 2 and len(args) + len(kwargs) == 2 and tensors[0].nhwc == tensors[1].nhwc:
        return imp.add(node, "maximum", tensors, tensors[0].nhwc)
    raise NoRule()


@on(torch.cat, torch.concat, torch.concatenate)
def _f_cat(imp, node, args, kwargs, out):
    a = bind(args, kwargs, ["tensors", "dim"], {"dim": 0})
    tensors = list(a["tensors"])
    if not tensors or not all(isinstance(t, T) for t in tensors):
        raise NoRule()
    nhwc = tensors[0].nhwc
    if any(t.nhwc != nhwc for t in tensors):
        raise NoRule()
    dim = int(a["dim"])
    rank = len(imp.asm.shape(tensors[0].node))
    if nhwc:
        dim = {3: 1, 1: 2, 2: 3, -1: 1}.get(dim if dim >= 0 else dim + 4, 0)
    if dim % rank == 0:
        raise NoRule()
    return imp.add(node, "concat", tensors, nhwc, dim=dim)


@on(torch.matmul, operator.matmul, torch.bmm, "matmul", "bmm")
def _f_matmul(imp, node, args, kwargs, out):
    x, y = (list(args) + list(kwargs.values()))[:2]
    if isinstance(x, T) and isinstance(y, T) and not x.nhwc and not y.nhwc:
        return imp.add(node, "matmul", [x, y])
    raise NoRule()


@on(torch.mean, "mean", torch.amax, "amax")
def _f_mean(imp, node, args, kwargs, out):
    a = bind(args, kwargs, ["input", "dim", "keepdim"], {"dim": None, "keepdim": False})
    x = a["input"]
    if not isinstance(x, T) or a["dim"] is None:
        raise NoRule()
    dims = a["dim"] if isinstance(a["dim"], (list, tuple)) else [a["dim"]]
    rank = len(imp.asm.shape(x.node))           # every spatial axis of a feature map
    spatial = {1, 2} if x.nhwc else set(range(2, rank))
    if rank < 3 or (x.nhwc and rank != 4) or {int(d) % rank for d in dims} != spatial:
        raise NoRule()
    if x.nhwc and a["keepdim"]:
        raise NoRule()
    name = node.target if isinstance(node.target, str) else node.target.__name__
    op = "global_maxpool" if name == "amax" else "global_avgpool"
    return imp.add(node, op, [x], keepdim=bool(a["keepdim"]))


@on(F.interpolate, F.upsample, F.upsample_bilinear, F.upsample_nearest)
def _f_interpolate(imp, node, args, kwargs, out):
    a = bind(args, kwargs, ["input", "size", "scale_factor", "mode", "align_corners"],
              {"size": None, "scale_factor": None, "mode": "nearest", "align_corners": None})
    if node.target is F.upsample_bilinear:
        a["mode"], a["align_corners"] = "bilinear", True
    x = a["input"]
    if not isinstance(x, T) or x.nhwc:
        raise NoRule()
    return upsample(imp, node, x, a["size"], a["scale_factor"], a["mode"], a["align_corners"], out)


@on(F.pad)
def _f_pad(imp, node, args, kwargs, out):
    a = bind(args, kwargs, ["input", "pad", "mode", "value"], {"mode": "constant", "value": None})
    x = a["input"]
    pad = list(a["pad"])
    rank = len(pad) // 2                          # (before, after) of the last axis first
    if not isinstance(x, T) or x.nhwc or a["mode"] != "constant" or a["value"] not in (None, 0) \
            or len(pad) % 2 or len(imp.asm.shape(x.node)) != rank + 2 or rank not in (1, 2, 3) \
            or any(int(p) < 0 for p in pad):
        raise NoRule()
    pairs = [[int(pad[i]), int(pad[i + 1])] for i in range(0, len(pad), 2)][::-1]
    return imp.add(node, f"zero_pad{rank}d", [x], padding=pairs)


@on(torch.chunk, "chunk")
def _f_chunk(imp, node, args, kwargs, out):
    a = bind(args, kwargs, ["input", "chunks", "dim"], {"dim": 0})
    x = a["input"]
    if not isinstance(x, T) or x.nhwc or int(a["dim"]) % len(imp.asm.shape(x.node)) == 0:
        raise NoRule()
    chunks, dim = int(a["chunks"]), int(a["dim"])
    base = imp.name_for(node)

    def part(i: int) -> T:
        return imp.add(node, "chunk", [x], name=f"{base}.{i}", chunks=chunks, index=i, dim=dim,
                       value=out[i])
    return Parts(part, len(out))


@on(torch.split, "split")
def _f_split(imp, node, args, kwargs, out):
    a = bind(args, kwargs, ["input", "split_size_or_sections", "dim"], {"dim": 0})
    x = a["input"]
    if not isinstance(x, T) or x.nhwc or not isinstance(out, (tuple, list)):
        raise NoRule()
    dim = int(a["dim"])
    if dim % len(imp.asm.shape(x.node)) == 0:
        raise NoRule()
    sizes = [int(o.shape[dim]) for o in out]
    starts = [sum(sizes[:i]) for i in range(len(sizes))]
    base = imp.name_for(node)

    def part(i: int) -> T:
        return imp.add(node, "slice", [x], name=f"{base}.{i}", start=starts[i],
                       end=starts[i] + sizes[i], dim=dim, value=out[i])
    return Parts(part, len(out))


@on(operator.getitem)
def _f_getitem(imp, node, args, kwargs, out):
    x, index = args[0], args[1]
    if isinstance(x, Parts):
        if not isinstance(index, int):
            raise NoRule()
        return x.get(index % x.count)
    if isinstance(x, (list, tuple)):
        return x[index]
    if not isinstance(x, T) or x.nhwc:
        raise NoRule()
    # x[:, a:b] (one slice along one dimension after the batch): a slice layer
    items = index if isinstance(index, tuple) else (index,)
    if not items or items[0] != slice(None) or not all(isinstance(i, slice) for i in items):
        raise NoRule()
    cut = [(d, s) for d, s in enumerate(items) if s != slice(None)]
    if len(cut) != 1:
        raise NoRule()
    d, s = cut[0]
    if s.step not in (None, 1) and (not isinstance(s.step, int) or s.step < 1):
        raise NoRule()
    return imp.add(node, "slice", [x], start=s.start if s.start is not None else 0, end=s.stop,
                   dim=d, step=s.step or 1)


@on(F.layer_norm)
def _f_layernorm(imp, node, args, kwargs, out):
    a = bind(args, kwargs, ["input", "normalized_shape", "weight", "bias", "eps"],
              {"weight": None, "bias": None, "eps": 1e-5})
    x = a["input"]
    if not isinstance(x, T):
        raise NoRule()
    held = tuple(t for p in (a["weight"], a["bias"]) if isinstance(p, P) for t in p.tensors)
    affine, bias = a["weight"] is not None, a["bias"] is not None
    if affine and not bias:
        pass
    dims = len(a["normalized_shape"])
    kw = dict(eps=float(a["eps"]), affine=affine, bias=bias or not affine, params=held)
    name = _param_layer_name(a["weight"]) or None
    if x.nhwc:
        if dims != 1:
            raise NoRule()
        return imp.add(node, "layernorm2d", [x], True, name=name, **kw)
    return imp.add(node, "layernorm", [x], name=name, dims=dims, **kw)


def _param_layer_name(p: Any) -> str | None:
    if not isinstance(p, P) or not p.names:
        return None
    owners = {n.rpartition(".")[0] for n in p.names}
    if len(p.names) > 1:        # a weight computed from several tensors of one module (a gain)
        return owners.pop() or None if len(owners) == 1 else None
    name = p.names[0]
    for suffix in (".weight", ".bias", ".running_mean"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


@on(F.conv1d, F.conv2d, F.conv3d)
def _f_conv(imp, node, args, kwargs, out):
    a = bind(args, kwargs, ["input", "weight", "bias", "stride", "padding", "dilation", "groups"],
              {"bias": None, "stride": 1, "padding": 0, "dilation": 1, "groups": 1})
    x, w = a["input"], a["weight"]
    rank = _RANK[node.target]
    if not isinstance(x, T) or x.nhwc or not isinstance(w, P) or w.value.dim() != rank + 2:
        raise NoRule()
    padding = a["padding"] if isinstance(a["padding"], str) else ints(a["padding"])
    held = w.tensors + (a["bias"].tensors if isinstance(a["bias"], P) else ())
    return imp.add(node, f"conv{rank}d", [x], name=_param_layer_name(w), params=held,
                   out=int(w.value.shape[0]), kernel=list(w.value.shape[2:]),
                   stride=ints(a["stride"]), padding=padding, dilation=ints(a["dilation"]),
                   groups=int(a["groups"]), bias=a["bias"] is not None)


@on(F.linear)
def _f_linear(imp, node, args, kwargs, out):
    a = bind(args, kwargs, ["input", "weight", "bias"], {"bias": None})
    x, w = a["input"], a["weight"]
    if not isinstance(x, T) or not isinstance(w, P) or w.value.dim() != 2:
        raise NoRule()
    held = w.tensors + (a["bias"].tensors if isinstance(a["bias"], P) else ())
    op = "channel_linear" if x.nhwc else "linear"
    return imp.add(node, op, [x], x.nhwc, name=_param_layer_name(w), params=held,
                   out=int(w.value.shape[0]), bias=a["bias"] is not None)


@on(*{torch.channel_shuffle, getattr(F, "channel_shuffle", torch.channel_shuffle)})
def _f_channel_shuffle(imp, node, args, kwargs, out):
    a = bind(args, kwargs, ["input", "groups"], {})
    x = a["input"]
    if not isinstance(x, T) or x.nhwc:
        raise NoRule()
    return imp.add(node, "channel_shuffle", [x], groups=int(a["groups"]))


def register_torchvision_functions() -> None:
    """The rules for torchvision's functions, once torchvision is imported: called by the
    capture importer after the model is built (a model that calls them has imported torchvision;
    importing it for a model that does not would cost a cold start seconds: torchvision.ops
    imports torch._dynamo)."""
    import sys
    if "torchvision" not in sys.modules or _TORCHVISION_DONE:
        return
    _TORCHVISION_DONE.append(True)
    try:
        from torchvision.ops import stochastic_depth
    except ImportError:                                  # pragma: no cover
        return

    @on(stochastic_depth)
    def _f_stochastic_depth(imp, node, args, kwargs, out):
        a = bind(args, kwargs, ["input", "p", "mode", "training"], {"training": True})
        x = a["input"]
        if not isinstance(x, T):
            raise NoRule()
        return imp.add(node, "stochastic_depth", [x], x.nhwc, p=float(a["p"]), mode=a["mode"])


_TORCHVISION_DONE: list[bool] = []


@on(F.batch_norm)
def _f_batchnorm(imp, node, args, kwargs, out):
    """``F.batch_norm`` on an activation with running statistics (timm's BatchNormAct2d, any
    module that calls it): the rule of BatchNorm2d / BatchNorm1d. In training mode, or without
    running statistics, it normalizes with the batch's own statistics: the same arithmetic."""
    a = bind(args, kwargs, ["input", "running_mean", "running_var", "weight", "bias", "training",
                             "momentum", "eps"],
              {"running_mean": None, "running_var": None, "weight": None, "bias": None,
               "training": False, "momentum": 0.1, "eps": 1e-5})
    x = a["input"]
    stats = a["running_mean"], a["running_var"]
    if not isinstance(x, T) or x.nhwc or (a["weight"] is None) != (a["bias"] is None) \
            or any(s is not None and not isinstance(s, P) for s in stats) \
            or (stats[0] is None) != (stats[1] is None) or a["momentum"] is None:
        raise NoRule()
    rank = len(imp.asm.shape(x.node))
    if rank not in (2, 3, 4, 5):
        raise NoRule()
    held = tuple(t for p in (a["weight"], a["bias"], *stats) if isinstance(p, P)
                 for t in p.tensors)
    return imp.add(node, {4: "batchnorm2d", 5: "batchnorm3d"}.get(rank, "batchnorm1d"), [x],
                   params=held,
                   name=_param_layer_name(a["weight"]) or _param_layer_name(stats[0]),
                   eps=float(a["eps"]), momentum=float(a["momentum"]),
                   affine=a["weight"] is not None, track_running_stats=stats[0] is not None)
