"""Hypothesis strategies: one random, mostly valid, case per operator.

``CASES[op]`` is a strategy of ``(args, input_shapes)``: keyword arguments for the operator (as a
definition would write them) and the shapes (batch included) of its inputs. Sizes are small so a
torch forward pass is cheap. Cases are *mostly* valid: some land outside what the operator
accepts (a window larger than the input, padding beyond the input for reflect mode...) on purpose,
so tests can check that cnnstat rejects exactly what torch rejects.

Every registered operator needs an entry here (tests/test_ops_torch.py checks it).
"""

from __future__ import annotations

from hypothesis import strategies as st

small = st.integers(1, 4)
size = st.integers(1, 14)
batch = st.integers(1, 2)


@st.composite
def feature_map(draw, channels=None, min_size=1):
    c = draw(channels if channels is not None else st.integers(1, 6))
    return (draw(batch), c, draw(st.integers(min_size, 14)), draw(st.integers(min_size, 14)))


@st.composite
def pair_or_int(draw, values):
    if draw(st.booleans()):
        return draw(values)
    return [draw(values), draw(values)]


@st.composite
def conv2d(draw):
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    c_in = groups * draw(st.integers(1, 3))
    out = groups * draw(st.integers(1, 3))
    if draw(st.booleans()) and groups == 1:       # depthwise
        groups = c_in
        out = c_in * draw(st.integers(1, 2))
    kernel = draw(pair_or_int(st.integers(1, 5)))
    stride = draw(pair_or_int(st.integers(1, 3)))
    dilation = draw(pair_or_int(st.integers(1, 2)))
    style = draw(st.sampled_from(["int", "pair", "asym", "same", "valid"]))
    if style == "int":
        padding = draw(st.integers(0, 3))
    elif style == "pair":
        padding = [draw(st.integers(0, 3)), draw(st.integers(0, 3))]
    elif style == "asym":
        padding = [[draw(st.integers(0, 3)), draw(st.integers(0, 3))],
                   [draw(st.integers(0, 3)), draw(st.integers(0, 3))]]
    else:
        padding = style
    if padding == "same":
        stride = 1
    args = {"out": out, "kernel": kernel, "stride": stride, "padding": padding,
            "dilation": dilation, "groups": groups, "bias": draw(st.booleans())}
    if style in ("int", "pair", "same") and draw(st.integers(0, 3)) == 0:
        args["padding_mode"] = draw(st.sampled_from(["reflect", "replicate", "circular"]))
    return args, [draw(feature_map(st.just(c_in)))]


@st.composite
def conv_transpose2d(draw):
    groups = draw(st.sampled_from([1, 1, 2]))
    c_in = groups * draw(st.integers(1, 3))
    out = groups * draw(st.integers(1, 3))
    stride = draw(st.integers(1, 3))
    dilation = draw(st.integers(1, 2))
    output_padding = draw(st.integers(0, max(stride, dilation) - 1))
    args = {"out": out, "kernel": draw(pair_or_int(st.integers(1, 4))), "stride": stride,
            "padding": draw(st.integers(0, 2)), "output_padding": output_padding,
            "groups": groups, "bias": draw(st.booleans()), "dilation": dilation}
    return args, [draw(feature_map(st.just(c_in)))]


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
def maxpool2d(draw):
    k = draw(st.integers(1, 4))
    d = draw(st.integers(1, 2))
    args = {"kernel": k, "stride": draw(st.one_of(st.none(), st.integers(1, 3))),
            "padding": draw(st.integers(0, k // 2 + 1)), "dilation": d,
            "ceil_mode": draw(st.booleans())}
    return args, [draw(feature_map())]


@st.composite
def avgpool2d(draw):
    k = draw(pair_or_int(st.integers(1, 4)))
    kmin = min(k) if isinstance(k, list) else k
    args = {"kernel": k, "stride": draw(st.one_of(st.none(), st.integers(1, 3))),
            "padding": draw(st.integers(0, kmin // 2)), "ceil_mode": draw(st.booleans()),
            "count_include_pad": draw(st.booleans())}
    return args, [draw(feature_map())]


@st.composite
def adaptive_pool(draw):
    out = draw(st.one_of(st.integers(1, 6),
                         st.lists(st.one_of(st.none(), st.integers(1, 6)), min_size=2, max_size=2)))
    return {"output": out}, [draw(feature_map())]


@st.composite
def global_pool(draw):
    return {"keepdim": draw(st.booleans())}, [draw(feature_map())]


@st.composite
def subsample(draw):
    k = draw(st.integers(1, 3))
    return ({"kernel": k, "stride": draw(st.one_of(st.none(), st.integers(1, 3))),
             "bias": draw(st.booleans())}, [draw(feature_map())])


@st.composite
def batchnorm2d(draw):
    return ({"affine": draw(st.booleans()), "track_running_stats": draw(st.booleans()),
             "eps": 1e-3}, [draw(feature_map())])


@st.composite
def batchnorm1d(draw):
    shape = draw(st.one_of(st.tuples(batch, st.integers(1, 8)),
                           st.tuples(batch, st.integers(1, 8), st.integers(1, 6))))
    return ({"affine": draw(st.booleans()), "track_running_stats": draw(st.booleans())}, [shape])


@st.composite
def lrn(draw):
    return {"size": draw(st.integers(1, 5))}, [draw(feature_map())]


@st.composite
def any_tensor(draw):
    if draw(st.booleans()):
        return draw(feature_map())
    return (draw(batch), draw(st.integers(1, 12)))


@st.composite
def no_args(draw):
    return {}, [draw(any_tensor())]


@st.composite
def leaky_relu(draw):
    return {"negative_slope": draw(st.sampled_from([0.01, 0.2]))}, [draw(any_tensor())]


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
    shape = draw(feature_map())
    start = draw(st.integers(1, 3))
    end = draw(st.sampled_from([-1, 3, start]))
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
    shape = draw(feature_map())
    k = draw(st.integers(2, 3))
    shapes = []
    for _ in range(k):
        # some inputs broadcast: a dimension of 1 (as squeeze-and-excitation's N x C x 1 x 1)
        shapes.append(tuple(1 if (i >= 2 and draw(st.integers(0, 3)) == 0) else d
                            for i, d in enumerate(shape)))
    return {}, shapes


@st.composite
def concat(draw):
    n, c, h, w = draw(feature_map())
    k = draw(st.integers(1, 3))
    if draw(st.booleans()):
        shapes = [(n, draw(st.integers(1, 4)), draw(st.integers(1, 12)), draw(st.integers(1, 12)))
                  for _ in range(k)]
        return {"crop": "center"}, shapes
    return {"dim": 1}, [(n, draw(st.integers(1, 4)), h, w) for _ in range(k)]


@st.composite
def layernorm(draw):
    shape = draw(st.one_of(feature_map(), st.tuples(batch, st.integers(1, 6), st.integers(1, 8))))
    affine = draw(st.booleans())
    # the batch is never normalized (cnnstat rejects it by design, torch would allow it)
    return ({"dims": draw(st.integers(1, len(shape) - 1)), "affine": affine,
             "bias": draw(st.booleans()), "eps": 1e-6}, [shape])


@st.composite
def layernorm2d(draw):
    return {"affine": draw(st.booleans()), "bias": draw(st.booleans())}, [draw(feature_map())]


@st.composite
def scale(draw):
    return {"bias": draw(st.booleans())}, [draw(any_tensor())]


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
    args, shapes = draw(conv2d())
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
    return {"masked": masked, "params": draw(st.integers(0, 5))}, shapes


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


@st.composite
def layout(draw):
    shape = draw(any_tensor())
    out = draw(st.lists(st.integers(1, 6), min_size=1, max_size=3))
    return ({"what": "torch.Tensor.permute", "shape": out, "params": draw(st.integers(0, 4))},
            [shape])


@st.composite
def pointwise(draw):
    shape = draw(any_tensor())
    other = draw(st.sampled_from([(), shape[-1:], (1,) * (len(shape) - 1)]))
    return ({"what": "torch.exp", "kind": draw(st.sampled_from(["activation", "elementwise",
                                                               "norm"])),
             "other": list(other), "params": draw(st.integers(0, 4))}, [shape])


@st.composite
def reduction(draw):
    shape = draw(any_tensor())
    return {"what": "torch.sum", "shape": list(shape[2:]) or [1]}, [shape]


@st.composite
def parameter_work(draw):
    return ({"what": "F.linear", "shape": [draw(small), draw(small)],
             "macs": draw(st.integers(0, 50)),
             "kind": draw(st.sampled_from(["weight", "attention"]))}, [draw(any_tensor())])


@st.composite
def channel_shuffle(draw):
    g = draw(st.integers(1, 4))
    return {"groups": g}, [draw(feature_map(st.sampled_from([g, 2 * g, 3 * g])))]


@st.composite
def upsample(draw):
    mode = draw(st.sampled_from(["nearest", "nearest-exact", "bilinear", "bicubic"]))
    if draw(st.booleans()):
        args = {"scale": draw(st.sampled_from([2, 3, 1.5, [2, 1]]))}
    else:
        args = {"size": draw(pair_or_int(st.integers(1, 16)))}
    args["mode"] = mode
    if mode in ("bilinear", "bicubic") and draw(st.booleans()):
        args["align_corners"] = draw(st.booleans())
    return args, [draw(feature_map())]


@st.composite
def zero_pad2d(draw):
    padding = draw(st.one_of(st.integers(0, 3),
                             st.lists(st.lists(st.integers(0, 3), min_size=2, max_size=2),
                                      min_size=2, max_size=2)))
    return {"padding": padding}, [draw(feature_map())]


@st.composite
def pad_shortcut(draw):
    shape = draw(feature_map())
    return {"out": shape[1] + draw(st.integers(-1, 5)), "stride": draw(st.integers(1, 3))}, [shape]


@st.composite
def slice_(draw):
    shape = draw(st.one_of(feature_map(), st.tuples(batch, st.integers(1, 12))))
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
    shape = draw(feature_map())
    return ({"chunks": draw(st.integers(1, 5)), "index": draw(st.integers(0, 4)),
             "dim": draw(st.integers(1, 3))}, [shape])


CASES = {
    "conv2d": conv2d(),
    "conv_transpose2d": conv_transpose2d(),
    "partial_conv2d": partial_conv2d(),
    "maxpool2d": maxpool2d(),
    "avgpool2d": avgpool2d(),
    "adaptive_avgpool2d": adaptive_pool(),
    "adaptive_maxpool2d": adaptive_pool(),
    "global_avgpool": global_pool(),
    "global_maxpool": global_pool(),
    "subsample": subsample(),
    "batchnorm2d": batchnorm2d(),
    "batchnorm1d": batchnorm1d(),
    "lrn": lrn(),
    "relu": no_args(), "relu6": no_args(), "sigmoid": no_args(), "tanh": no_args(),
    "hardswish": no_args(), "hardsigmoid": no_args(), "silu": no_args(), "mish": no_args(),
    "gelu": no_args(), "elu": no_args(), "hardtanh": no_args(), "identity": no_args(),
    "leaky_relu": leaky_relu(),
    "prelu": prelu(),
    "softmax": softmax(), "log_softmax": softmax(),
    "linear": linear(),
    "rbf": rbf(),
    "flatten": flatten(),
    "reshape": reshape(),
    "dropout": dropout(),
    "add": merge(), "multiply": merge(), "maximum": merge(),
    "layernorm": layernorm(), "layernorm2d": layernorm2d(), "scale": scale(),
    "stochastic_depth": stochastic_depth(), "matmul": matmul(), "not_counted": not_counted(),
    "attention": attention(), "multihead_attention": multihead_attention(), "einsum": einsum(),
    "layout": layout(), "pointwise": pointwise(), "reduction": reduction(),
    "parameter_work": parameter_work(), "conv2d_images": conv2d_images(),
    "channel_linear": channel_linear(),
    "concat": concat(),
    "channel_shuffle": channel_shuffle(),
    "upsample": upsample(),
    "zero_pad2d": zero_pad2d(),
    "pad_shortcut": pad_shortcut(),
    "slice": slice_(),
    "chunk": chunk(),
}
