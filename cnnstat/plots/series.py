"""The numbers behind each plot, chosen here (pure Python, tested) and drawn by cnnstat.plots.

- per-layer work: the layers that do convolution or fully connected multiply-adds, in graph order;
- activation memory: every layer's output, and the memory alive while each layer runs;
- receptive-field growth: the receptive field against depth, where depth counts the layers that
  change the receptive field along the longest path from the input (1×1 stride-1 convolutions,
  normalisations and activations do not);
- bands: consecutive runs of layers of the same block, to label the x axis of long models.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from ..analyze import Analysis, LayerRecord, live_elements
from ..graph import name_prefix
from ..ops.base import WEIGHT
from ..receptive import RF, input_rf, local_view


@dataclass(frozen=True)
class Band:
    label: str
    start: int          # first position (0-based) on the x axis
    stop: int           # one past the last


def weighted_layers(a: Analysis) -> list[LayerRecord]:
    """Layers with convolution or fully connected multiply-adds (the default convention's work),
    among those that run in the analysis' mode."""
    return [r for r in a.running if r.macs_by_kind.get(WEIGHT, 0) > 0]


def bands(names: list[str], most: int = 16) -> list[Band]:
    """Runs of consecutive names sharing their first d dotted parts. d = 1, or deeper while that
    splits the layers into more runs, at most ``most`` of them. Empty when there is only one run
    (a band that covers everything labels nothing)."""
    best: list[Band] = []
    for depth in range(1, 1 + max((n.count(".") + 1 for n in names), default=0)):
        runs: list[Band] = []
        for i, name in enumerate(names):
            key = name_prefix(name, depth)
            if runs and runs[-1].label == key:
                runs[-1] = Band(key, runs[-1].start, i + 1)
            else:
                runs.append(Band(key, i, i + 1))
        if depth > 1 and (len(runs) > most or len(runs) <= len(best)):
            break
        best = runs
    return best if len(best) >= 2 else []


@dataclass(frozen=True)
class MemorySeries:
    names: list[str]
    output_bytes: list[int]     # each layer's output tensor
    live_bytes: list[int]       # alive while the layer runs: its inputs, its output, kept tensors
    peak_index: int             # position of the (first) peak


def memory_series(a: Analysis) -> MemorySeries:
    size = a.dtype_bytes
    live = live_elements(a.graph, a.running, a.totals.input_elements, a.outputs)
    live_b = [n * size for n in live]
    peak = max(range(len(live_b)), key=lambda i: (live_b[i], -i)) if live_b else 0
    return MemorySeries([r.name for r in a.running], [r.activations * size for r in a.running],
                        live_b, peak)


@dataclass(frozen=True)
class RFPoint:
    depth: int
    size: float          # receptive-field size in input units (the largest axis of its group)
    stride: float        # effective stride along that axis
    name: str            # the layer where this depth's largest field is first reached


@dataclass(frozen=True)
class RFLine:
    """The growth of the field along a group of axes: height and width of an image (the larger
    of the two), length of a 1-D input, depth of a 3-D one."""
    label: str                 # 'height and width', 'length', 'depth'
    points: list[RFPoint]
    input_size: int            # the input along those axes (the larger), in input units


@dataclass(frozen=True)
class RFSeries:
    points: list[RFPoint]      # the main line: height and width (images, volumes), length (1-D)
    whole_at: int | None       # depth of the first layer that sees the whole input (global pooling)
    whole_name: str | None
    input_size: int            # the input along the main line's axes (the larger side)
    exact: bool                # False when upsampling made some fields fractional
    global_context: bool       # a feature map larger than 1x1 sees the whole input (SE gates)
    unit: str = "pixels"       # what an input unit is: pixels, samples, voxels
    label: str = "height and width"
    others: tuple[RFLine, ...] = ()   # further lines: the depth of a 3-D input


def _groups(names: tuple[str, ...]) -> list[tuple[str, tuple[int, ...]]]:
    """Axes drawn as one line: an image's height and width together (the larger), every other
    axis alone. The first group is the main line."""
    plane = tuple(i for i, n in enumerate(names) if n in ("height", "width"))
    groups = [("height and width", plane)] if plane else []
    groups += [(n, (i,)) for i, n in enumerate(names) if i not in plane]
    return groups


def global_context(a: Analysis) -> bool:
    """Whether a feature map larger than 1x1 sees the whole input: global context mixed back into
    the features (squeeze-and-excitation gates), after which local fields stop growing."""
    rank = a.rank
    return any(r.rf.whole and len(r.output_shape) == rank + 2 and numel_of(r.output_shape[2:]) > 1
               for r in a.records)


def numel_of(sizes) -> int:
    n = 1
    for d in sizes:
        n *= d
    return n


def _axis_size(rf: RF, axes: tuple[int, ...] = (0, 1)) -> tuple[Fraction, Fraction]:
    """(size, stride) of the largest field among ``axes`` (the first of equals)."""
    best = max((rf.axes[i] for i in axes), key=lambda a: Fraction(a.size))
    return Fraction(best.size), Fraction(best.stride)


def rf_series(a: Analysis) -> RFSeries:
    """Largest local receptive field at each depth (see the module docstring for depth), one line
    per group of axes."""
    from ..ops.base import UNIT_NOUNS
    depth: dict[str, int] = {name: 0 for name in a.graph.inputs}
    rf = {name: input_rf(a.rank) for name in a.graph.inputs}
    groups = _groups(a.axes)
    best: list[dict[int, RFPoint]] = [{} for _ in groups]
    whole_at = whole_name = None
    exact = True
    for r in a.records:
        changed = all(r.rf != rf[s] for s in r.inputs)
        depth[r.name] = d = max((depth[s] for s in r.inputs), default=0) + (1 if changed else 0)
        rf[r.name] = r.rf
        if any(x.whole for x in r.rf.axes):
            if whole_at is None or d < whole_at:
                whole_at, whole_name = d, r.name
        view = local_view(r.rf)         # SE gates: the field of the spatial paths goes on
        if view is None or len(r.output_shape) != a.rank + 2:
            continue
        exact = exact and view.exact
        for (_, axes), points in zip(groups, best):
            size, stride = _axis_size(view, axes)
            old = points.get(d)
            if old is None or size > old.size:
                points[d] = RFPoint(d, float(size), float(stride), r.name)
    lines = []
    for (label, axes), points in zip(groups, best):
        ordered = [points[k] for k in sorted(points)]
        # The input itself: a 1-unit field with stride 1, at depth 0.
        if 0 not in points:
            ordered.insert(0, RFPoint(0, 1.0, 1.0, "input"))
        lines.append(RFLine(label, ordered, max(a.input_rf_size[i] for i in axes)))
    main = lines[0]
    return RFSeries(main.points, whole_at, whole_name, main.input_size, exact, global_context(a),
                    UNIT_NOUNS.get(a.rank, "units"), main.label, tuple(lines[1:]))
