"""Which input sizes a network with fixed-size layers accepts, and the one-line refusal of the others.

A fully connected layer whose weights fix its input size (``linear(4096, in_features=25088)``,
VGG's fc6 reading a 512 x 7 x 7 map) accepts only the input sizes that bring exactly that many
features to it. Analysing another size must not build another network (VGG-D at 256 x 256 would
become a 170-million-parameter network): the rule raises :class:`FixedSizeError` and
:func:`refusal` turns it into an :class:`InputSizeError` naming the layer, the feature map it
takes and gets, and the input sizes that fit, plus what the definition declares for other sizes
(``other_inputs``, e.g. VGG's dense evaluation).

The accepted sizes are found by probing: the feature count reaching the layer grows with the
input size along each axis (convolutions and pooling are monotone per axis), so the first and
last fitting height are found by bisection around a size that fits (the definition's own input),
the width likewise. Each probe is a static analysis (well under a millisecond for these networks).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from .errors import CnnstatError, FixedSizeError, InputSizeError, ShapeError
from .limits import MAX_INPUT_SIZE as MAX_SIZE

if TYPE_CHECKING:  # pragma: no cover
    from .graph import Graph

OK, SMALL, LARGE = "ok", "small", "large"
#: operators that pass a tensor on unchanged in content: the feature map a linear layer reads
#: is found through them (flatten, then dropout, ...)
_PLUMBING = {"flatten", "reshape", "dropout", "identity"}


def fixed_layers(graph: "Graph") -> list[str]:
    """The layers whose weights fix the size of their input (``linear(..., in_features=N)``)."""
    return [n.name for n in graph if n.op == "linear" and n.attrs.get("in_features") is not None]


def refusal(graph: "Graph", exc: ShapeError, analyze: Callable) -> ShapeError:
    """The one-line error for an input size the network refuses, naming the sizes it takes, or
    ``exc`` itself where the network has no fixed-size layer (it takes any size above a minimum:
    the layer that is too small says so). ``analyze(graph)`` is the plain analysis."""
    fixed = isinstance(exc, FixedSizeError)
    if exc.layer in graph and graph[exc.layer].train_only and not fixed:
        _training_only_note(graph, exc)
    if not fixed and not fixed_layers(graph):
        return exc
    shape = tuple(graph.input_shape)
    layer = exc.layer or "?"
    reference = graph.meta.get("default_input")
    probe = _Probe(graph, analyze, shape[0])
    sizes = None
    if reference is not None and len(reference) == 3 == len(shape):
        reference = (shape[0],) + tuple(reference[1:])
        if probe(reference[1], reference[2]) == OK:
            sizes = (probe.range(0, reference), probe.range(1, reference))
            if not fixed and max(sizes[0][1], sizes[1][1]) >= MAX_SIZE:
                return exc           # no largest size (adaptive pooling): too small, it says so
        elif not fixed:
            return exc               # the definition's own input fails too: not about sizes
        elif probe.failure is not None and probe.failure.layer == layer:
            given = _feature_map(graph, layer, analyze, reference)
            return InputSizeError(
                f"linear takes {exc.need:,} input features (in_features={exc.need}), but at the "
                f"definition's own input {_hw(reference)} it gets "
                f"{_features(given, probe.failure.got)}: in_features does not match the layers "
                "before it", file=exc.file, line=exc.line, layer=exc.layer)
    if sizes is None and not fixed:
        return exc
    if fixed:
        need_map = _feature_map(graph, layer, analyze, _first(sizes, shape)) if sizes else None
        got_map = _feature_map(graph, layer, analyze, shape)
        why = (f"layer {layer} needs {exc.need:,} input features"
               + (f" ({_map(need_map)})" if need_map and _count(need_map) == exc.need else "")
               + f", gets {_features(got_map, exc.got)} at {_hw(shape)}")
    else:
        why = f"at {_hw(shape)}, layer {layer}: {exc.message}"
    takes = f"{graph.name}'s fixed-size layers take {_describe(sizes)}" if sizes else \
        f"{graph.name} does not take a {_hw(shape)} input"
    text = f"{takes}: {why}"
    hint = graph.meta.get("other_inputs")
    if hint:
        text += f"; for other sizes: {hint}"
    return InputSizeError(text, sizes=sizes)


def _training_only_note(graph: "Graph", exc: ShapeError) -> None:
    """A training-only layer that the input is too small for: the network holds it in every mode,
    so cnnstat cannot count it; say so, and how to leave the head out where the definition has
    the usual switch."""
    switch = "aux_logits" in (graph.meta.get("vars") or {})
    exc.message += ("; it runs only in training (torch's eval mode would skip it), but it is "
                    "part of the network cnnstat counts" + (": --set aux_logits=false leaves the "
                                                            "auxiliary heads out" if switch else ""))


class _Probe:
    """Analyses the graph at other input sizes and classifies each: fits, too small, too large."""

    def __init__(self, graph: "Graph", analyze: Callable, channels: int):
        self.graph, self.analyze, self.channels = graph, analyze, channels
        self.failure: FixedSizeError | None = None     # the last probe's, when a fixed layer
        self.cache: dict[tuple[int, int], str] = {}

    def __call__(self, h: int, w: int) -> str:
        key = (h, w)
        if key not in self.cache:
            self.cache[key] = self._classify(h, w)
        return self.cache[key]

    def _classify(self, h: int, w: int) -> str:
        self.failure = None
        try:
            self.analyze(self.graph.with_input_shape((self.channels, h, w)))
            return OK
        except FixedSizeError as exc:
            self.failure = exc
            return SMALL if exc.got < exc.need else LARGE
        except CnnstatError:           # a window larger than its input: too small
            return SMALL

    def range(self, axis: int, reference: tuple[int, int, int]) -> tuple[int, int]:
        """First and last size along ``axis`` (0: height, 1: width) that fits, the other axis at
        the reference size; the reference fits."""
        def fits(size: int) -> bool:
            hw = [reference[1], reference[2]]
            hw[axis] = size
            return self(hw[0], hw[1]) == OK
        start = reference[1 + axis]
        first = _bisect(fits, start, 0)        # 0: no size, so it does not fit
        good, step = start, 1                  # gallop up to a size that does not fit
        while good + step <= MAX_SIZE and fits(good + step):
            good, step = good + step, step * 2
        return first, _bisect(fits, good, min(good + step, MAX_SIZE + 1))


def _bisect(fits: Callable[[int], bool], good: int, bad: int) -> int:
    """The size nearest ``bad`` that fits, between ``good`` (fits) and ``bad`` (does not), where
    fitting sizes form one run."""
    while abs(bad - good) > 1:
        mid = (good + bad) // 2
        if fits(mid):
            good = mid
        else:
            bad = mid
    return good


def _feature_map(graph: "Graph", layer: str, analyze: Callable,
                 shape: tuple[int, ...]) -> tuple[int, ...] | None:
    """The per-sample shape of the feature map that reaches ``layer`` through plumbing (flatten,
    dropout), at input ``shape``; None where the network cannot be analysed that far."""
    if layer not in graph:
        return None
    source = graph[layer].inputs[0]
    while graph[source].op in _PLUMBING and graph[source].inputs:
        source = graph[source].inputs[0]
    if graph[source].op == "input":
        return tuple(shape)
    try:
        a = analyze(_upto(graph, source).with_input_shape(tuple(shape)))
    except CnnstatError:
        return None
    return tuple(a.by_name[source].output_shape[1:])


def _upto(graph: "Graph", last: str) -> "Graph":
    """The part of the graph ``last`` depends on, with ``last`` its output (every layer of it
    running, also a training-only head's: only its shapes are wanted)."""
    from dataclasses import replace
    from .graph import Graph
    needed, todo = set(), [last]
    while todo:
        name = todo.pop()
        if name not in needed:
            needed.add(name)
            todo.extend(graph[name].inputs)
    return Graph([replace(n, train_only=False) for n in graph if n.name in needed], [last],
                 name=graph.name, meta=graph.meta)


def _first(sizes, shape: tuple[int, ...]) -> tuple[int, int, int]:
    (h0, _), (w0, _) = sizes
    return (shape[0], h0, w0)


def _count(shape: tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def _map(shape: tuple[int, ...]) -> str:
    return "x".join(str(d) for d in shape)


def _features(shape: tuple[int, ...] | None, count: int) -> str:
    if shape is not None and len(shape) > 1 and _count(shape) == count:
        return f"{count:,} ({_map(shape)})"
    return f"{count:,}"


def _hw(shape: tuple[int, ...]) -> str:
    """The spatial sizes: 224x224 (a length, or D x H x W, for 1-D and 3-D inputs)."""
    return "x".join(str(d) for d in shape[1:])


def _describe(sizes) -> str:
    """'224x224 inputs', 'inputs of 224 to 255 pixels a side', ... (each side independently;
    an odd aspect ratio giving the same number of features, 4x9 for 6x6, also runs, as in torch)"""
    (h0, h1), (w0, w1) = sizes
    if (h0, h1) == (w0, w1):
        if h0 == h1:
            return f"{h0}x{h0} inputs"
        return f"inputs of {h0} to {h1} pixels a side"
    side = lambda lo, hi: str(lo) if lo == hi else f"{lo} to {hi}"
    return f"inputs of height {side(h0, h1)} and width {side(w0, w1)}"
