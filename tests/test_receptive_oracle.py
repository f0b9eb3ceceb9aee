"""Receptive fields checked by gradients, independently of cnnstat's arithmetic (issue 8).

For a random network (chains, and branches merged by add, multiply or concat) on an input of
spatial rank 1, 2 or 3 (length; height and width; depth, height and width) cnnstat reports, per
layer and axis, a size r, an effective stride S and an effective padding P: output unit u sees
input coordinates [u*S - P, u*S - P + r - 1]. The oracle is a *linearised copy* of the network
built from torch's layers by tests/oracles/linearised.py (not by cnnstat's torch bridge, the code
under test): positive weights (uniform in [0.5, 1.5]), no biases, identity activations and
normalizations, max pooling replaced by the sum over the same windows, products by sums, and
every other operator kept (they are linear with non-negative weights). On an all-ones input
every activation is positive, so nothing cancels: the gradient of one output unit (summed over
channels) with respect to the input is non-zero exactly on the input pixels that unit depends on;
its projection on each axis gives the units read along that axis.

Checks, for every layer of every network, at a unit in the centre and at both corners:

1. **Soundness on the real input.** The support lies inside the reported interval clipped to
   the input, for exact and inexact fields alike: an inexact field (upsampling, transposed
   convolution with stride > 1, adaptive pooling with unequal windows: fractional strides) is an
   envelope, possibly larger than what any unit reads, never smaller.
2. **Tightness in padded coordinates.** Zero padding hides what a unit would read outside the
   input, and a layer may drop the last input rows; so the exact claim is checked on a *canvas*:
   the same network on the input enlarged by a margin M (a multiple of every stride product) on
   each side. Unit u then corresponds to canvas unit u + M/S (measured by torch from the two
   output sizes, not taken from cnnstat), everything it reads is real input, and for an exact
   field the support's first and last pixels are exactly u*S - P and u*S - P + r - 1. Only
   translation-equivariant networks are drawn on a canvas (no adaptive or global pooling,
   resizing, centre crops or size-relative slices).
3. **No holes.** When no layer can skip input pixels (dilation 1, every window at least as
   large as its stride, no strided slicing, no merges) the support is the whole interval. With
   dilation or strides larger than kernels the field has holes; then only its ends are claimed.
4. **The left border.** For such hole-free chains without crops on the real input, the first
   pixel a unit sees is max(0, u*S - P): the padding arithmetic at the border.

Documented limits: a convolution with reflect, replicate or circular padding reads real pixels
through its padding, so at the border its field is not the clipped interval (cnnstat reports the
field of the padded coordinates; the canvas check covers those networks). Merges of paths with
different strides (a broadcast size-1 axis has stride 0) have no single (r, S, P); cnnstat
reports the union at unit 0, marks it inexact and says so in the note; only unit 0 of such a
merge is checked, and the layers after it not at all.
"""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")

from cnnstat.analyze import analyze_graph  # noqa: E402
from cnnstat.ops import REGISTRY  # noqa: E402
from cnnstat.definition import build_graph, parse_definition  # noqa: E402

from .fuzz.graphs import Entry, definition_text, fit, try_rule  # noqa: E402
from .oracles.linearised import linearised  # noqa: E402
from .strategies import CASES  # noqa: E402

pytestmark = pytest.mark.torch

# -- the networks ------------------------------------------------------------------------------
RANKS = (1, 2, 3)


def windowed(r: int) -> list[str]:
    return [f"conv{r}d"] * 3 + [f"maxpool{r}d", f"avgpool{r}d", f"conv_transpose{r}d"] + (
        ["subsample", "partial_conv2d"] if r == 2 else [])


def shape_keeping(r: int) -> list[str]:
    return ["relu", f"batchnorm{r}d", "sigmoid", "channel_shuffle", "lrn", "identity"]


def reshaping(r: int) -> list[str]:
    return [f"zero_pad{r}d", "slice", "pad_shortcut", "upsample", f"adaptive_avgpool{r}d",
            f"adaptive_maxpool{r}d", "chunk"]


# operators whose output at unit u depends on the input around u*S only (not on its size)
EQUIVARIANT = ({"subsample", "partial_conv2d", "pad_shortcut", "add", "multiply", "concat",
                "input"} | {op for r in RANKS for op in shape_keeping(r)}
               | {f"{kind}{r}d" for r in RANKS for kind in ("conv", "maxpool", "avgpool",
                                                               "zero_pad")})
WINDOW_OPS = {f"{kind}{r}d" for r in RANKS for kind in ("conv", "maxpool", "avgpool")} | {
    "subsample", "partial_conv2d"}
TRANSPOSED = {f"conv_transpose{r}d" for r in RANKS}
MAX_STRIDES = 16          # product of all strides along an axis (the canvas margin's unit)
SIDES = {1: (4, 120), 2: (4, 40), 3: (4, 12)}     # input sides per spatial rank
MAX_UNITS = {1: 4096, 2: 4096, 3: 1728}           # largest layer output (spatial units)


def _available(ops):
    return [op for op in ops if op in REGISTRY and op in CASES]


@st.composite
def rf_networks(draw, max_layers: int = 7, ranks=(1, 2, 2, 3), include: str | None = None):
    """A random network; with ``include``, one of its first three layers is that operator."""
    if include is not None:
        ranks = [r for r in RANKS if include in windowed(r) + shape_keeping(r) + reshaping(r)]
    rank = draw(st.sampled_from(ranks))
    c = draw(st.integers(1, 3))
    spatial = tuple(draw(st.integers(*SIDES[rank])) for _ in range(rank))
    shapes = {"input": (1, c) + spatial}
    WINDOWED, SHAPE_KEEPING, RESHAPING = windowed(rank), shape_keeping(rank), reshaping(rank)
    prev = "input"
    entries: list[Entry] = []
    strides = 1

    def layer(name, source, ops):
        nonlocal strides
        op = draw(st.sampled_from(_available(ops)))
        args, _ = draw(CASES[op])
        args = fit(draw, op, args, shapes[source])
        args.pop("padding_mode", None) if draw(st.integers(0, 3)) else None
        if op in ("slice", "chunk"):
            args["dim"] = draw(st.sampled_from(list(range(1, rank + 2))))
        if op.startswith("conv") and not op.startswith("conv_t"):
            args["out"] = args["groups"] * max(1, min(args["out"] // args["groups"], 3))
        step = _stride_product(op, args)
        if strides * step > MAX_STRIDES:
            return None
        out, _ = try_rule(op, args, [shapes[source]])
        if out is None or len(out) != rank + 2 or math.prod(out[2:]) > MAX_UNITS[rank]:
            return None
        strides *= step
        entry = Entry(name, op, args, [] if source == prev else [source], "call" if
                      source == prev else "from")
        return entry, out

    layers = draw(st.integers(1, max_layers))
    forced = draw(st.integers(0, min(2, layers - 1))) if include is not None else None
    for i in range(layers):
        name = f"l{i}"
        if i == forced:
            made = layer(name, prev, [include])
            assume(made is not None)
            entries.append(made[0])
            shapes[name], prev = made[1], name
            continue
        kind = draw(st.sampled_from(["window"] * 4 + ["keep", "reshape", "branch"]))
        if kind == "branch":                     # two paths from one tensor, merged
            source = prev
            made = layer(f"{name}a", source, WINDOWED + SHAPE_KEEPING)
            if made is None:
                continue
            a, a_shape = made
            entries.append(a)
            shapes[a.name] = a_shape
            other = draw(st.sampled_from([source, source, a.name]))
            made = layer(f"{name}b", source, WINDOWED + SHAPE_KEEPING) \
                if draw(st.booleans()) else None
            if made is not None:
                b, b_shape = made
                b.inputs, b.style = [source], "from"
                entries.append(b)
                shapes[b.name] = b_shape
                other = b.name
            merge = draw(st.sampled_from(["add", "multiply", "concat"]))
            args = {"crop": "center"} if merge == "concat" and draw(st.booleans()) else {}
            out, _ = try_rule(merge, args, [shapes[a.name], shapes[other]])
            if out is None:
                prev = entries[-1].name          # what the next entry reads as prev
                continue
            entries.append(Entry(name, merge, args, [a.name, other]))
            shapes[name], prev = out, name
            continue
        ops = {"window": WINDOWED, "keep": SHAPE_KEEPING, "reshape": RESHAPING}[kind]
        made = layer(name, prev, ops)
        if made is None:
            continue
        entry, out = made
        entries.append(entry)
        shapes[name], prev = out, name
    if not entries:
        entries.append(Entry("l0", "identity"))
    return definition_text(entries, (c,) + spatial, "rf")


def _stride_product(op: str, a: dict) -> int:
    """How much a layer can multiply effective strides (bounds the canvas margin)."""
    if op in WINDOW_OPS:
        s = a.get("stride") or a.get("kernel")
        return math.lcm(*s) if isinstance(s, (list, tuple)) else s
    if op == "pad_shortcut":
        return a.get("stride", 1)
    if op == "slice":
        return a.get("step", 1)
    return 1


# -- the linearised copy: tests/oracles/linearised.py (torch layers built there, not by cnnstat) --
# -- measuring a unit's support ----------------------------------------------------------------
def supports(module, graph, shape, names, units_of):
    """{(layer, unit): per axis the input units the unit's gradient touches} (rows and columns
    of an image)."""
    x = torch.ones((1,) + tuple(shape), dtype=torch.float64, requires_grad=True)
    outs = {}
    hooks = [module.node_modules[n].register_forward_hook(
        lambda m, i, o, n=n: outs.__setitem__(n, o)) for n in names]
    module(x)
    for hook in hooks:
        hook.remove()
    found = {}
    for n in names:
        t = outs[n]
        for unit in units_of(n, tuple(t.shape)):
            (g,) = torch.autograd.grad(t[(0, slice(None)) + tuple(unit)].sum(), x,
                                       retain_graph=True, allow_unused=True)
            g = torch.zeros_like(x) if g is None else g
            mask = g[0].abs().sum(0) > 0
            rank = mask.dim()
            found[(n, unit)] = tuple(
                torch.nonzero(mask.any(dim=tuple(j for j in range(rank) if j != i)) if rank > 1
                              else mask).flatten().tolist() for i in range(rank))
    return found


def output_shapes(module, shape, names) -> dict[str, tuple[int, ...]]:
    """The output shape of each named layer when torch runs the module on one input."""
    shapes = {}
    hooks = [module.node_modules[n].register_forward_hook(
        lambda m, i, o, n=n: shapes.__setitem__(n, tuple(o.shape))) for n in names]
    with torch.no_grad():
        module(torch.ones((1,) + tuple(shape), dtype=torch.float64))
    for hook in hooks:
        hook.remove()
    return shapes


def corner_units(shape):
    sizes = shape[2:]
    return sorted({(0,) * len(sizes), tuple(n // 2 for n in sizes), tuple(n - 1 for n in sizes)})


def interval(axis, u: int) -> tuple[int, int]:
    """The input pixels inside cnnstat's field of unit u along one axis (fractional ends of an
    inexact field rounded inwards)."""
    start = Fraction(u) * Fraction(axis.stride) - Fraction(axis.padding)
    end = start + Fraction(axis.size) - 1
    return math.ceil(start), math.floor(end)


def _ends(pixels: list[int]) -> tuple[int, int] | None:
    return (pixels[0], pixels[-1]) if pixels else None


# -- network properties read from the graph (not from cnnstat's receptive fields) --------------
def padding_modes(graph) -> bool:
    return any(n.attrs.get("padding_mode", "zeros") != "zeros" for n in graph)


def canvas_ok(graph) -> bool:
    for n in graph:
        if n.op not in EQUIVARIANT:
            if n.op == "slice" and (_channel_dim(n, graph) or (
                    n.attrs["start"] >= 0 and n.attrs["end"] is None)):
                continue
            if n.op == "chunk" and _channel_dim(n, graph):
                continue
            if n.op in TRANSPOSED and set(n.attrs["stride"]) == {1}:
                continue
            return False
        if n.op == "concat" and n.attrs.get("crop"):
            return False
    return True


def hole_free(graph) -> bool:
    """No layer can skip input pixels: windows at least as large as their stride, dilation 1, no
    strided subsampling, no merges (whose paths may be misaligned)."""
    for n in graph:
        a = n.attrs
        if n.op in ("add", "multiply", "concat", "pad_shortcut") or len(n.inputs) > 1:
            return False
        if n.op in WINDOW_OPS | TRANSPOSED:
            stride = a.get("stride") or a["kernel"]
            if any(d != 1 for d in a.get("dilation", (1,))) or \
                    any(s > k for s, k in zip(stride, a["kernel"])):
                return False
        if n.op == "slice" and a["step"] != 1 and not _channel_dim(n, graph):
            return False
        if n.op not in EQUIVARIANT | {"slice", "chunk"} | TRANSPOSED:
            return False
    return True


def _channel_dim(n, graph) -> bool:
    """Does this slice or chunk cut the channels (dim 1, or -rank + 1)?"""
    rank = len(graph.input_shape) + 1
    return n.attrs["dim"] in (1, 1 - rank)


def no_crops(graph) -> bool:
    """No layer has a negative effective padding (a crop): spatial slices, centre crops, and
    transposed convolutions padded by more than d*(k - 1) (they drop output rows)."""
    for n in graph:
        a = n.attrs
        if n.op in ("slice", "chunk") and not _channel_dim(n, graph) or \
                (n.op == "concat" and a.get("crop")):
            return False
        if n.op in TRANSPOSED and any(
                p > d * (k - 1) for p, d, k in zip(a["padding"], a["dilation"], a["kernel"])):
            return False
    return True


def channel_selective(analysis) -> bool:
    """Can a layer read only some channels of its input (so some paths into it go unread)?"""
    rank = len(analysis.input_shape) + 1
    for r in analysis.records:
        if r.op in ("slice", "chunk") and r.attrs["dim"] in (1, 1 - rank):
            return True
        if r.op == "partial_conv2d" and \
                len({i for row in r.attrs["table"] for i in row}) < r.input_shapes[0][1]:
            return True
    return False


def stride_product(graph) -> int:
    total = 1
    for n in graph:
        total *= _stride_product(n.op, {k: list(v) if isinstance(v, tuple) else v
                                        for k, v in n.attrs.items()})
    return total


# -- the test ----------------------------------------------------------------------------------
def check_network(text: str) -> list[str]:
    """Check one network; returns what was compared (for the counts of tests/differential.py):
    "network" (soundness on the real input), "unit field" (the exact field of single units),
    "canvas" (tightness in padded coordinates), and each operator of the network."""
    graph = build_graph(parse_definition(text, "rf.yaml"))
    done = ["network"] + sorted({n.op for n in graph if n.op != "input"})
    analysis = analyze_graph(graph)
    shape = graph.input_shape
    sizes = shape[1:]                        # the input's spatial sizes
    rank = len(sizes)
    records = [r for r in analysis.records if len(r.output_shape) == rank + 2]
    names = [r.name for r in records]
    module = linearised(graph)
    real = supports(module, graph, shape, names, lambda n, s: corner_units(s))
    sound_only_unit0 = lambda r: "different strides" in r.rf.note  # noqa: E731
    fields = {r.name: r.rf for r in analysis.records}
    origin = (0,) * rank
    for r in records:
        # After paths with different strides meet, (r, S, P) is their union at unit 0: a claim
        # about unit 0 of that merge only, not about the layers after it.
        inherited = any(sound_only_unit0(analysis.record(s)) for s in r.inputs if s in fields)
        for unit in corner_units(r.output_shape):
            if sound_only_unit0(r) and (unit != origin or inherited):
                continue
            for axis, got, u, size in zip(r.rf.axes, real[(r.name, unit)], unit, sizes):
                lo, hi = (0, size - 1) if axis.whole else interval(axis, u)
                if padding_modes(graph):
                    continue
                assert all(max(lo, 0) <= p <= min(hi, size - 1) for p in got), (
                    f"{r.name} unit {unit}: input {got} outside cnnstat's field "
                    f"[{lo}, {hi}] (r={axis.size}, S={axis.stride}, P={axis.padding})\n{text}")
                if hole_free(graph) and no_crops(graph) and axis.exact and not axis.whole \
                        and got:
                    assert got[0] == max(lo, 0), (f"{r.name} unit {unit}: first input pixel "
                                                  f"{got[0]}, cnnstat {max(lo, 0)}\n{text}")
    # 5. The exact field of single units (cnnstat.unit_field), for every network and layer:
    # the first and last input unit of the support along each axis, nothing more, nothing less.
    # Fields are per position, over all channels: where a layer reads only some channels of a
    # concatenation (a channel slice, a connection table leaving maps unread) a path may not
    # reach the unit at all; those networks are checked for soundness only.
    if not channel_selective(analysis):
        done.append("unit field")
    for r in records if not channel_selective(analysis) else []:
        for unit in corner_units(r.output_shape):
            want = tuple(_ends(got) for got in real[(r.name, unit)])
            exact = analysis.unit_field(r.name, unit, precision="float64")
            assert exact.ends == want, (
                f"{r.name} unit {unit}: reads input units {want} along {exact.axes}, "
                f"unit_field says {exact.ends}\n{text}")
    broadcasts = any(len(set(r.input_shapes)) > 1 for r in analysis.records
                     if r.op in ("add", "multiply"))
    # a 1x1 map broadcast is not 1x1 on the canvas, and paths with different strides grow by
    # different amounts there
    if not canvas_ok(graph) or broadcasts or any(sound_only_unit0(r) for r in records):
        return done
    done.append("canvas")
    # The margin: a multiple of every stride product, beyond every field's reach. It is sized
    # from cnnstat's own numbers, so a field that reaches further than cnnstat says touches the
    # canvas border, which fails below.
    step = stride_product(graph)
    reach = [1]
    for r in records:
        for a, n, size in zip(r.rf.axes, r.output_shape[2:], sizes):
            if not a.whole:       # how far the fields of units 0 and n - 1 reach beyond the input
                first, last = interval(a, 0)[0], interval(a, n - 1)[1]
                reach += [-first, last - (size - 1)]
    margin = step * math.ceil((max(reach) + 4) / step)
    big = graph.with_input_shape((shape[0],) + tuple(n + 2 * margin for n in sizes))
    on_canvas = linearised(big)
    # how much each layer's output grew on the canvas, measured by torch (not cnnstat's shapes)
    small_shapes = output_shapes(module, shape, names)
    big_shapes = output_shapes(on_canvas, big.input_shape, names)
    offsets = {}
    for n in names:
        grown = [b - a for a, b in zip(small_shapes[n][2:], big_shapes[n][2:])]
        assert all(g % 2 == 0 for g in grown), (n, grown)
        offsets[n] = tuple(g // 2 for g in grown)
    canvas = supports(on_canvas, big, big.input_shape, names,
                      lambda n, s: [tuple(u + o for u, o in zip(unit, offsets[n]))
                                    for unit in corner_units(analysis.record(n).output_shape)])
    dense = hole_free(graph)
    for r in records:
        if not r.rf.exact or sound_only_unit0(r):
            continue
        for unit in corner_units(r.output_shape):
            moved = tuple(u + o for u, o in zip(unit, offsets[r.name]))
            for axis, got, u, size in zip(r.rf.axes, canvas[(r.name, moved)], unit, sizes):
                if axis.whole:
                    continue
                size += 2 * margin
                got = [p - margin for p in got]
                lo, hi = interval(axis, u)
                assert got, f"{r.name} unit {unit}: sees nothing on the canvas\n{text}"
                assert 0 < got[0] + margin and got[-1] + margin < size - 1, "margin too small"
                assert (got[0], got[-1]) == (lo, hi), (
                    f"{r.name} unit {unit}: sees input [{got[0]}, {got[-1]}] (padded coordinates),"
                    f" cnnstat says [{lo}, {hi}] (r={axis.size}, S={axis.stride}, "
                    f"P={axis.padding})\n{text}")
                if dense:
                    assert got == list(range(lo, hi + 1)), (
                        f"{r.name} unit {unit}: holes in {got}\n{text}")
    return done


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# Of the 150 random networks (derandomized): every one compared for soundness, at least a third
# also on the canvas and for exact unit fields (tests/differential.py counts them). Random
# networks draw some operators rarely (none of zero_pad2d, zero_pad3d, adaptive_avgpool1d in 300
# of them): the test after this one gives every operator the generator knows networks of its own.
NETWORKS = 150
DRAWN_OPS = sorted({op for r in RANKS for op in _available(windowed(r) + shape_keeping(r)
                                                            + reshaping(r))})
NETWORKS_PER_OP = 6


def test_receptive_fields_match_gradients(compared):
    @settings(max_examples=NETWORKS, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(rf_networks())
    def check(text):
        for what in check_network(text):
            compared.record(what)

    check()
    compared.require(NETWORKS, keys=["network"])
    compared.require(NETWORKS // 3, keys=["canvas", "unit field"])
    compared.require(5, keys=["add", "multiply", "concat"])


@pytest.mark.parametrize("op", DRAWN_OPS)
def test_receptive_fields_of_every_operator_match_gradients(op, compared):
    @settings(max_examples=NETWORKS_PER_OP, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(rf_networks(max_layers=4, include=op))
    def check(text):
        for what in check_network(text):
            compared.record(what)

    check()
    compared.require(NETWORKS_PER_OP, keys=[op])


@pytest.mark.slow
def test_receptive_fields_match_gradients_long(compared):
    @settings(max_examples=3000, deadline=None, suppress_health_check=list(HealthCheck))
    @given(rf_networks(max_layers=10))
    def check(text):
        for what in check_network(text):
            compared.record(what)

    check()
    print(f"long profile: {dict(compared.counts)}")       # shown with -s
    compared.require(3000, keys=["network"])


def test_oracle_sees_a_known_field():
    # The oracle itself, on a hand-derived case: conv 3x3 pad 1 then maxpool 2 stride 2:
    # r = 1 + 2 + (2-1)*1 = 4, S = 2, P = 1; unit 0 reads [-1, 2] -> clipped [0, 2].
    text = ("input: [1, 8, 8]\nlayers:\n  - conv2d(1, 3, padding=1)\n  - maxpool2d(2)\n")
    graph = build_graph(parse_definition(text, "t.yaml"))
    rf = analyze_graph(graph).records[-1].rf
    assert (rf.h.size, rf.h.stride, rf.h.padding) == (4, 2, 1)
    found = supports(linearised(graph), graph, graph.input_shape, ["1"],
                     lambda n, s: [(0, 0), (3, 3)])
    assert found[("1", (0, 0))] == ([0, 1, 2], [0, 1, 2])
    assert found[("1", (3, 3))] == ([5, 6, 7], [5, 6, 7])     # [3*2-1, 3*2-1+3] = [5, 8] clipped
    check_network(text)


def test_paths_with_different_strides_are_not_exact():
    # Two paths to an 8-wide map of a 16-wide input: a 1x1 convolution with stride 2 (unit u reads
    # column 2u) and a 1x9 convolution with stride 1 (columns u .. u + 8). Unit 0 of the sum reads
    # [0, 8], but unit 7 reads [7, 15], not [14, 22] as one (r = 9, S = 2, P = 0) would say: no
    # (r, S, P) describes every unit, so cnnstat marks the field inexact (it was marked exact).
    text = ("input: [1, 1, 16]\nlayers:\n  - a: conv2d(1, [1, 1], stride=[1, 2])\n"
            "  - b: {call: 'conv2d(1, [1, 9])', from: input}\n  - add: add(a, b)\n")
    graph = build_graph(parse_definition(text, "t.yaml"))
    rf = analyze_graph(graph).record("add").rf
    assert (rf.w.size, rf.w.stride, rf.w.padding) == (9, 2, 0)
    assert not rf.exact and "different strides" in rf.note
    found = supports(linearised(graph), graph, graph.input_shape, ["add"],
                     lambda n, s: [(0, 0), (0, 7)])
    assert found[("add", (0, 0))][1] == list(range(0, 9))
    assert found[("add", (0, 7))][1] == list(range(7, 16))
    check_network(text)


def test_broadcast_merge_reads_unit_zero_of_the_broadcast_input():
    # A 4x1 map (each row summed by a 1x8 convolution) added to the 4x8 input: output column u
    # reads input column u and, through the broadcast, all 8 columns: stride 0 on that path, so
    # the paths' strides differ (0 and 1) and the field is not exact; unit 0 reads [0, 7].
    text = ("input: [1, 4, 8]\nlayers:\n  - rows: conv2d(1, [1, 8])\n"
            "  - add: add(rows, input)\n")
    graph = build_graph(parse_definition(text, "t.yaml"))
    rf = analyze_graph(graph).record("add").rf
    assert (rf.w.size, rf.w.padding) == (8, 0) and not rf.exact
    assert "different strides (0, 1)" in rf.note
    found = supports(linearised(graph), graph, graph.input_shape, ["add"],
                     lambda n, s: [(0, 0), (0, 5)])
    assert found[("add", (0, 5))][1] == list(range(8))
    check_network(text)
