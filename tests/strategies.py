"""Hypothesis strategies: one random, mostly valid, case per operator.

``CASES[op]`` is a strategy of ``(args, input_shapes)``: keyword arguments for the operator (as a
definition would write them) and the shapes (batch included) of its inputs. Sizes are small so a
torch forward pass is cheap. Cases are *mostly* valid: some land outside what the operator
accepts (a window larger than the input, padding beyond the input for reflect mode...) on purpose,
so tests can check that cnnstat rejects exactly what torch rejects.

Cases are derived from an operator's parameter schema (``from_schema``: each argument drawn from
what its converter accepts, the input any tensor) wherever it takes one input and every argument
has a known converter; the strategies below are the overrides, for operators whose arguments
depend on the input or on each other. Every registered operator needs a case
(tests/test_ops_torch.py checks it).
"""

from __future__ import annotations

import math

from hypothesis import strategies as st

from cnnstat.ops import REGISTRY, schema

small = st.integers(1, 4)
size = st.integers(1, 14)
batch = st.integers(1, 2)


#: largest side per spatial rank: a 3-D map stays small, a 1-D one may be long
SIDE = {1: 40, 2: 14, 3: 7}


@st.composite
def feature_map(draw, channels=None, min_size=1, rank=2):
    """(N, C, *spatial) of spatial rank ``rank`` (1: N x C x L, 2: N x C x H x W, 3: N x C x D x
    H x W); ``rank=None`` draws the rank too."""
    if rank is None:
        rank = draw(st.sampled_from([1, 2, 2, 3]))
    c = draw(channels if channels is not None else st.integers(1, 6))
    return (draw(batch), c) + tuple(draw(st.integers(min_size, SIDE[rank])) for _ in range(rank))


@st.composite
def pair_or_int(draw, values, rank=2):
    """One value for every axis, or one per axis."""
    if draw(st.booleans()):
        return draw(values)
    return [draw(values) for _ in range(rank)]


@st.composite
def conv(draw, rank=2):
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    c_in = groups * draw(st.integers(1, 3))
    out = groups * draw(st.integers(1, 3))
    if draw(st.booleans()) and groups == 1:       # depthwise
        groups = c_in
        out = c_in * draw(st.integers(1, 2))
    kernel = draw(pair_or_int(st.integers(1, 5 if rank < 3 else 3), rank))
    stride = draw(pair_or_int(st.integers(1, 3), rank))
    dilation = draw(pair_or_int(st.integers(1, 2), rank))
    style = draw(st.sampled_from(["int", "pair", "asym", "same", "valid"]))
    if style == "int":
        padding = draw(st.integers(0, 3))
    elif style == "pair":
        padding = [draw(st.integers(0, 3)) for _ in range(rank)]
    elif style == "asym":
        padding = [[draw(st.integers(0, 3)), draw(st.integers(0, 3))] for _ in range(rank)]
    else:
        padding = style
    if padding == "same":
        stride = 1
    args = {"out": out, "kernel": kernel, "stride": stride, "padding": padding,
            "dilation": dilation, "groups": groups, "bias": draw(st.booleans())}
    if style in ("int", "pair", "same") and draw(st.integers(0, 3)) == 0:
        args["padding_mode"] = draw(st.sampled_from(["reflect", "replicate", "circular"]))
    return args, [draw(feature_map(st.just(c_in), rank=rank))]


@st.composite
def conv_transpose(draw, rank=2):
    groups = draw(st.sampled_from([1, 1, 2]))
    c_in = groups * draw(st.integers(1, 3))
    out = groups * draw(st.integers(1, 3))
    stride = draw(st.integers(1, 3))
    dilation = draw(st.integers(1, 2))
    output_padding = draw(st.integers(0, max(stride, dilation) - 1))
    args = {"out": out, "kernel": draw(pair_or_int(st.integers(1, 4 if rank < 3 else 3), rank)),
            "stride": stride, "padding": draw(st.integers(0, 2)),
            "output_padding": output_padding, "groups": groups, "bias": draw(st.booleans()),
            "dilation": dilation}
    return args, [draw(feature_map(st.just(c_in), rank=rank))]


@st.composite
def partial_conv2d(draw):
    c_in = draw(st.integers(1, 6))
    rows = draw(st.lists(st.lists(st.integers(0, c_in - 1), min_size=1, max_size=c_in, unique=True),
                         min_size=1, max_size=5))
    args = {"table": rows, "kernel": draw(pair_or_int(st.integers(1, 4))),
            "stride": draw(st.integers(1, 2)), "padding": draw(st.integers(0, 2)),
            "bias": draw(st.booleans())}
    return args, [draw(feature_map(st.just(c_in)))]


@st.composite
def maxpool(draw, rank=2):
    k = draw(st.integers(1, 4))
    d = draw(st.integers(1, 2))
    args = {"kernel": k, "stride": draw(st.one_of(st.none(), st.integers(1, 3))),
            "padding": draw(st.integers(0, k // 2 + 1)), "dilation": d,
            "ceil_mode": draw(st.booleans())}
    return args, [draw(feature_map(rank=rank))]


@st.composite
def avgpool(draw, rank=2):
    k = draw(pair_or_int(st.integers(1, 4), rank))
    kmin = min(k) if isinstance(k, list) else k
    args = {"kernel": k, "stride": draw(st.one_of(st.none(), st.integers(1, 3))),
            "padding": draw(st.integers(0, kmin // 2)), "ceil_mode": draw(st.booleans()),
            "count_include_pad": draw(st.booleans())}
    return args, [draw(feature_map(rank=rank))]


@st.composite
def adaptive_pool(draw, rank=2):
    # none keeps an axis' size (2-D and 3-D pools; now and then on 1-D, which both reject)
    none = st.none() if rank > 1 or draw(st.integers(0, 7)) == 7 else st.integers(1, 6)
    out = draw(st.one_of(st.integers(1, 6),
                         st.lists(st.one_of(none, st.integers(1, 6)), min_size=rank,
                                  max_size=rank)))
    return {"output": out}, [draw(feature_map(rank=rank))]


@st.composite
def global_pool(draw):
    return {"keepdim": draw(st.booleans())}, [draw(feature_map(rank=None))]


@st.composite
def subsample(draw):
    k = draw(st.integers(1, 3))
    return ({"kernel": k, "stride": draw(st.one_of(st.none(), st.integers(1, 3))),
             "bias": draw(st.booleans())}, [draw(feature_map())])


@st.composite
def batchnorm(draw, rank=2):
    return ({"affine": draw(st.booleans()), "track_running_stats": draw(st.booleans()),
             "eps": 1e-3}, [draw(feature_map(rank=rank))])


@st.composite
def batchnorm1d(draw):
    shape = draw(st.one_of(st.tuples(batch, st.integers(1, 8)),
                           st.tuples(batch, st.integers(1, 8), st.integers(1, 6))))
    return ({"affine": draw(st.booleans()), "track_running_stats": draw(st.booleans())}, [shape])


@st.composite
def lrn(draw):
    return {"size": draw(st.integers(1, 5))}, [draw(feature_map(rank=None))]


@st.composite
def any_tensor(draw):
    if draw(st.booleans()):
        return draw(feature_map(rank=None))
    return (draw(batch), draw(st.integers(1, 12)))


@st.composite
def no_args(draw):
    return {}, [draw(any_tensor())]


@st.composite
def prelu(draw):
    shape = draw(any_tensor())
    return {"num_parameters": draw(st.sampled_from([1, shape[1], shape[1] + 1]))}, [shape]


@st.composite
def softmax(draw):
    shape = draw(any_tensor())
    dim = draw(st.integers(-len(shape) + 1, len(shape) - 1).filter(lambda d: d != 0))
    return {"dim": dim}, [shape]


@st.composite
def linear(draw):
    return {"out": draw(st.integers(1, 10)), "bias": draw(st.booleans())}, [draw(any_tensor())]


@st.composite
def rbf(draw):
    return {"out": draw(st.integers(1, 10))}, [(draw(batch), draw(st.integers(1, 12)))]


@st.composite
def flatten(draw):
    shape = draw(feature_map(rank=None))
    start = draw(st.integers(1, len(shape) - 1))
    end = draw(st.sampled_from([-1, len(shape) - 1, start]))
    return {"start": start, "end": end}, [shape]


@st.composite
def reshape(draw):
    n, c, h, w = draw(feature_map())
    target = draw(st.sampled_from([[c * h * w], [c, h * w], [-1, w], [c * h, -1, 1], [h, w, c]]))
    return {"shape": target}, [(n, c, h, w)]


@st.composite
def dropout(draw):
    return {"p": draw(st.sampled_from([0.0, 0.2, 0.5]))}, [draw(any_tensor())]


@st.composite
def merge(draw):
    shape = draw(feature_map(rank=None))
    k = draw(st.integers(2, 3))
    shapes = []
    for _ in range(k):
        # some inputs broadcast: a dimension of 1 (as squeeze-and-excitation's N x C x 1 x 1)
        shapes.append(tuple(1 if (i >= 2 and draw(st.integers(0, 3)) == 0) else d
                            for i, d in enumerate(shape)))
    return {}, shapes


@st.composite
def concat(draw):
    shape = draw(feature_map(rank=None))
    n, rank = shape[0], len(shape) - 2
    k = draw(st.integers(1, 3))
    if draw(st.booleans()):
        shapes = [(n, draw(st.integers(1, 4)))
                  + tuple(draw(st.integers(1, 12 if rank < 3 else 6)) for _ in range(rank))
                  for _ in range(k)]
        return {"crop": "center"}, shapes
    return {"dim": 1}, [(n, draw(st.integers(1, 4))) + shape[2:] for _ in range(k)]


@st.composite
def layernorm(draw):
    shape = draw(st.one_of(feature_map(rank=None), st.tuples(batch, st.integers(1, 8))))
    affine = draw(st.booleans())
    # the batch is never normalized (cnnstat rejects it by design, torch would allow it)
    return ({"dims": draw(st.integers(1, len(shape) - 1)), "affine": affine,
             "bias": draw(st.booleans()), "eps": 1e-6}, [shape])


@st.composite
def layernorm2d(draw):
    return {"affine": draw(st.booleans()), "bias": draw(st.booleans())}, [draw(feature_map())]


@st.composite
def channel_linear(draw):
    return {"out": draw(st.integers(1, 10)), "bias": draw(st.booleans())}, [draw(feature_map())]


@st.composite
def stochastic_depth(draw):
    return ({"p": draw(st.sampled_from([0.0, 0.1, 0.5])),
             "mode": draw(st.sampled_from(["row", "batch"]))}, [draw(any_tensor())])


@st.composite
def matmul(draw):
    n, m, k, p = draw(batch), draw(small), draw(small), draw(small)
    heads = draw(st.sampled_from([(), (1,), (3,)]))
    inner = draw(st.sampled_from([k, k, k + 1]))        # a mismatch both must reject
    return {}, [(n,) + heads + (m, k), (n,) + heads + (inner, p)]


@st.composite
def not_counted(draw):
    shape = draw(any_tensor())
    out = draw(st.lists(st.integers(1, 6), min_size=1, max_size=3))
    return ({"what": "torch.roll", "shape": out, "params": draw(st.integers(0, 20)),
             "buffers": draw(st.integers(0, 3))}, [shape] * draw(st.integers(1, 2)))


@st.composite
def conv2d_images(draw):
    args, shapes = draw(conv(rank=2))
    n, *rest = shapes[0]
    return args, [(n, draw(st.integers(1, 3)), *rest)]


@st.composite
def attention(draw):
    n, heads, big_l, s, e, ev = (draw(batch), draw(st.sampled_from([(), (2,)])), draw(small),
                                 draw(small), draw(small), draw(small))
    k_e = draw(st.sampled_from([e, e, e + 1]))          # a mismatch both must reject
    masked = draw(st.booleans())
    shapes = [(n,) + heads + (big_l, e), (n,) + heads + (s, k_e), (n,) + heads + (s, ev)]
    if masked:
        shapes.append((n,) + heads + (big_l, s))
    return {"masked": masked, "params": draw(st.sampled_from([0, 0, 0, 5]))}, shapes


@st.composite
def multihead_attention(draw):
    heads = draw(st.integers(1, 3))
    e = heads * draw(small)
    n, big_l, s = draw(batch), draw(small), draw(small)
    kdim, vdim = draw(st.sampled_from([e, e + 1])), draw(st.sampled_from([e, e + 2]))
    return ({"embed": e, "heads": heads, "bias": draw(st.booleans())},
            [(n, big_l, e), (n, s, kdim), (n, s, vdim)])


@st.composite
def einsum(draw):
    # sizes of 2 or more: with a contracted size of 1 torch.einsum multiplies element-wise
    # (no bmm), and FlopCounterMode counts nothing where cnnstat counts the products
    n, i, j, k = draw(batch), *(draw(st.integers(2, 4)) for _ in range(3))
    equation, shapes = draw(st.sampled_from([
        ("bij,bjk->bik", [(n, i, j), (n, j, k)]),
        ("bhqd,bhkd->bhqk", [(n, 2, i, j), (n, 2, k, j)]),
        ("bij->bji", [(n, i, j)]),
    ]))
    return {"equation": equation}, shapes


#: layout calls the torch stand-in makes (cnnstat.torch_bridge.modules.Layout), with how each
#: changes a per-sample shape and whether its output is a view of the input
LAYOUT_CALLS = {
    "permute": (lambda s: s[::-1], True), "transpose": (lambda s: s[:-2] + s[-2:][::-1], True),
    "view": (lambda s: (math.prod(s),), True), "flatten": (lambda s: (math.prod(s),), True),
    "reshape": (lambda s: s[:-1] + (1, s[-1]), True), "unsqueeze": (lambda s: (1,) + s, True),
    "cat": (lambda s: s[:-1] + (2 * s[-1],), False), "roll": (lambda s: s, False),
    "flip": (lambda s: s, False), "repeat": (lambda s: s[:-1] + (3 * s[-1],), False),
    "pad": (lambda s: s[:-1] + (s[-1] + 2,), False)}


@st.composite
def layout(draw):
    shape = draw(any_tensor())
    fn = draw(st.sampled_from(sorted(LAYOUT_CALLS) + [""]))
    if not fn:          # an ONNX layout change (no call recorded): any shape, a constant
        out = draw(st.lists(st.integers(1, 6), min_size=1, max_size=3))
        return ({"what": "ONNX Transpose", "shape": out, "params": draw(st.integers(0, 4))},
                [shape])
    change, view = LAYOUT_CALLS[fn]
    return ({"what": f"torch.Tensor.{fn}", "shape": list(change(tuple(shape[1:]))), "fn": fn,
             "view": view}, [shape] * (2 if fn == "cat" else 1))


#: element-wise calls of one activation, and binary ones (two activations or a constant)
UNARY_CALLS = ["gelu", "silu", "relu", "sigmoid", "tanh", "exp", "sqrt", "log", "pow", "clamp",
               "hardswish", "abs", "neg", "erf", "softplus", "dropout"]
BINARY_CALLS = ["mul", "__mul__", "div", "__truediv__", "add", "__radd__", "sub"]


@st.composite
def pointwise(draw):
    shape = draw(any_tensor())
    form = draw(st.sampled_from(["unary", "binary", "constant", "onnx", "batch_norm"]))
    if form == "batch_norm":    # F.batch_norm with its module's weight, bias, running stats
        c = shape[1]
        return ({"what": "F.batch_norm", "fn": "batch_norm", "kind": "norm", "channels": c,
                 "operand": "several", "params": 2 * c, "buffers": 2 * c + 1}, [shape])
    if form == "onnx":          # no call recorded (an ONNX import): the stand-in's own sum
        other = draw(st.sampled_from([(), shape[-1:], (1,) * (len(shape) - 1)]))
        return ({"what": "ONNX Exp", "kind": draw(st.sampled_from(["activation", "elementwise",
                                                                   "norm"])),
                 "other": list(other), "params": draw(st.integers(0, 4))}, [shape])
    if form == "unary":
        fn = draw(st.sampled_from(UNARY_CALLS))
        return {"what": f"torch.{fn}", "fn": fn}, [shape]
    fn = draw(st.sampled_from(BINARY_CALLS))
    if form == "binary":
        return {"what": f"torch.{fn}", "fn": fn, "kind": "elementwise"}, [shape, shape]
    other = draw(st.sampled_from([shape[-1:], (1,) * (len(shape) - 2) + shape[-1:]]))
    operand = draw(st.sampled_from(["parameter", "buffer", "computed"]))
    size = math.prod(other)
    return ({"what": f"torch.{fn}", "fn": fn, "kind": "elementwise", "other": list(other),
             "operand": operand, "params": 0 if operand == "buffer" else size,
             "buffers": size if operand == "buffer" else 0}, [shape])


REDUCE_CALLS = ["sum", "mean", "amax", "amin", "var", "std", "norm", "logsumexp", "max_dim"]


@st.composite
def reduction(draw):
    shape = draw(any_tensor())
    return ({"what": "torch.sum", "shape": list(shape[2:]) or [1],
             "fn": draw(st.sampled_from(REDUCE_CALLS))}, [shape])


@st.composite
def parameter_work(draw):
    return ({"what": "F.linear", "shape": [draw(small), draw(small)],
             "macs": draw(st.integers(0, 50)),
             "kind": draw(st.sampled_from(["weight", "attention"]))}, [draw(any_tensor())])


@st.composite
def channel_shuffle(draw):
    g = draw(st.integers(1, 4))
    return {"groups": g}, [draw(feature_map(st.sampled_from([g, 2 * g, 3 * g]), rank=None))]


#: the interpolating modes of each spatial rank (nearest and nearest-exact take any)
LINEAR_MODES = {1: ["linear"], 2: ["bilinear", "bicubic"], 3: ["trilinear"]}


@st.composite
def upsample(draw):
    shape = draw(feature_map(rank=None))
    rank = len(shape) - 2
    # now and then a linear mode of another rank, which both must reject
    modes = ["nearest", "nearest-exact"] + LINEAR_MODES[rank] * 2 + ["bilinear"]
    mode = draw(st.sampled_from(modes))
    if draw(st.booleans()):
        args = {"scale": draw(st.sampled_from([2, 3, 1.5, [2] + [1] * (rank - 1)]))}
    else:
        args = {"size": draw(pair_or_int(st.integers(1, 16 if rank < 3 else 8), rank))}
    args["mode"] = mode
    if mode not in ("nearest", "nearest-exact") and draw(st.booleans()):
        args["align_corners"] = draw(st.booleans())
    return args, [shape]


@st.composite
def zero_pad(draw, rank=2):
    padding = draw(st.one_of(st.integers(0, 3),
                             st.lists(st.integers(0, 3), min_size=rank, max_size=rank),
                             st.lists(st.lists(st.integers(0, 3), min_size=2, max_size=2),
                                      min_size=rank, max_size=rank)))
    return {"padding": padding}, [draw(feature_map(rank=rank))]


@st.composite
def pad_shortcut(draw):
    shape = draw(feature_map(rank=None))
    return {"out": shape[1] + draw(st.integers(-1, 5)), "stride": draw(st.integers(1, 3))}, [shape]


@st.composite
def slice_(draw):
    shape = draw(st.one_of(feature_map(rank=None), st.tuples(batch, st.integers(1, 12))))
    # any dimension but the batch (which cnnstat, unlike torch, does not slice), negative or not
    rank = len(shape)
    dim = draw(st.integers(1, rank - 1)) * draw(st.sampled_from([1, -1]))
    args = {"start": draw(st.integers(-8, 8)), "dim": dim}
    if draw(st.booleans()):
        args["end"] = draw(st.one_of(st.none(), st.integers(-8, 12)))
    if draw(st.booleans()):
        args["step"] = draw(st.integers(1, 3))
    return args, [shape]


@st.composite
def chunk(draw):
    shape = draw(feature_map(rank=None))
    return ({"chunks": draw(st.integers(1, 5)), "index": draw(st.integers(0, 4)),
             "dim": draw(st.integers(1, len(shape) - 1))}, [shape])


def _values(convert, default):
    """A strategy of the values a converter accepts, or None when it is not one cases know."""
    if convert is schema.positive_int:
        return st.integers(1, 4)
    if convert is schema.nonneg_int:
        return st.integers(0, 3)
    if convert is schema.any_int:
        return st.integers(-2, 2)
    if convert is schema.boolean:
        return st.booleans()
    if convert is schema.number:      # the default and a value either side of 1
        return st.sampled_from(sorted({float(default) if default is not None else 1.0, 0.5, 2.0}))
    if hasattr(convert, "options"):
        return st.sampled_from(convert.options)
    if hasattr(convert, "inner"):
        inner = _values(convert.inner, default)
        return None if inner is None else st.one_of(st.none(), inner)
    return None


def from_schema(rule):
    """A case drawn from a one-input operator's schema: every argument (given or left to its
    default) from what its converter accepts, the input any tensor; None when an argument's
    converter is not one ``_values`` knows."""
    if rule.arity != 1:
        return None
    args, optional = {}, set()
    for p in rule.params:
        values = _values(p.convert, None if p.default is schema.REQUIRED else p.default)
        if values is None:
            return None
        args[p.name] = values
        if p.default is not schema.REQUIRED:
            optional.add(p.name)

    @st.composite
    def case(draw):        # an argument with a default is given or left out
        given = {k: draw(v) for k, v in args.items() if k not in optional or draw(st.booleans())}
        return given, [draw(any_tensor())]
    return case()


#: the operators whose cases are their schemas'
DERIVED = {name: case for name, rule in REGISTRY.items()
           if (case := from_schema(rule)) is not None}

CASES = {
    **DERIVED,
    **{f"conv{r}d": conv(r) for r in (1, 2, 3)},
    **{f"conv_transpose{r}d": conv_transpose(r) for r in (1, 2, 3)},
    "partial_conv2d": partial_conv2d(),
    **{f"maxpool{r}d": maxpool(r) for r in (1, 2, 3)},
    **{f"avgpool{r}d": avgpool(r) for r in (1, 2, 3)},
    **{f"adaptive_avgpool{r}d": adaptive_pool(r) for r in (1, 2, 3)},
    **{f"adaptive_maxpool{r}d": adaptive_pool(r) for r in (1, 2, 3)},
    "global_avgpool": global_pool(),
    "global_maxpool": global_pool(),
    "subsample": subsample(),
    "batchnorm2d": batchnorm(2),
    "batchnorm3d": batchnorm(3),
    "batchnorm1d": batchnorm1d(),
    "lrn": lrn(),
    "hardtanh": no_args(),            # min < max (torch refuses the others, cnnstat does not)
    "prelu": prelu(),
    "softmax": softmax(), "log_softmax": softmax(),
    "linear": linear(),
    "rbf": rbf(),
    "flatten": flatten(),
    "reshape": reshape(),
    "dropout": dropout(),
    "add": merge(), "multiply": merge(), "maximum": merge(),
    "layernorm": layernorm(), "layernorm2d": layernorm2d(),
    "stochastic_depth": stochastic_depth(), "matmul": matmul(), "not_counted": not_counted(),
    "attention": attention(), "multihead_attention": multihead_attention(), "einsum": einsum(),
    "layout": layout(), "pointwise": pointwise(), "reduction": reduction(),
    "parameter_work": parameter_work(), "conv2d_images": conv2d_images(),
    "channel_linear": channel_linear(),
    "concat": concat(),
    "channel_shuffle": channel_shuffle(),
    "upsample": upsample(),
    **{f"zero_pad{r}d": zero_pad(r) for r in (1, 2, 3)},
    "pad_shortcut": pad_shortcut(),
    "slice": slice_(),
    "chunk": chunk(),
}
