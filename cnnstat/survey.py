"""``cnnstat shapes --input SIZE`` without a model: every zoo model at one input size.

The size is read against each model's input rank, as ``--input`` always is
(cnnstat.model_options.resolve_input): ``224`` is 224×224 for an image model and a length of 224 for a
1-D one; a 3-D model takes D×H×W (``16x112x112``) and is not tried at a size it cannot read. Rows
come grouped by input rank. For each model: the feature-map size after each change of resolution
along the path to its main output, and the output shape; or, when the model cannot take that
input, the reason and the smallest input it can take (a square for images, a length for 1-D
models, a square H×W at the asked depth for 3-D models) — for a network whose fixed-size layers
take a range of sizes only (the paper's VGG, AlexNet, LeNet-5, YOLO v1), that range.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import zoo
from .analyze import Analysis, analyze_graph
from .errors import CnnstatError, InputSizeError
from .model_options import InputSize, parse_input, resolve_input
from .definition import build_graph


@dataclass(frozen=True)
class SurveyRow:
    model: str
    input: tuple[int, ...] | None          # the input it was analysed at (None: not analysed)
    stages: tuple[tuple[int, ...], ...]    # the spatial sizes after each change of resolution
    output: tuple[int, ...] | None
    error: str = ""
    smallest: int | None = None            # smallest side (length) that works, where it failed
    sizes: tuple[tuple[int, int], tuple[int, int]] | None = None   # fixed-size layers: the range
    rank: int = 2                          # the model's input rank
    tried: bool = True                     # False: the size does not read for its rank


def stage_sizes(a: Analysis) -> tuple[tuple[int, ...], ...]:
    """Distinct consecutive spatial sizes along the main path to the first output.

    The main path is traced back from the output: at a merge it follows an input of the merge's
    own size (not a broadcast squeeze-and-excitation gate, not a U-Net skip cropped to fit) and,
    among those, the deepest one (the residual branch, not its shortcut; U-Net's decoder)."""
    by_name = a.by_name
    depth: dict[str, int] = {}
    for r in a.records:
        depth[r.name] = 1 + max((depth.get(i, 0) for i in r.inputs), default=0)
    path = []
    name = a.graph.outputs[0]
    while name in by_name:
        record = by_name[name]
        path.append(record)
        inputs = [i for i in record.inputs if i in by_name]
        if not inputs:
            break
        same = [i for i in inputs if by_name[i].output_shape[2:] == record.output_shape[2:]]
        name = max(same or inputs, key=lambda i: depth[i])
    sizes: list[tuple[int, ...]] = []
    for r in reversed(path):
        if len(r.output_shape) == a.rank + 2:
            spatial = tuple(r.output_shape[2:])
            if not sizes or sizes[-1] != spatial:
                sizes.append(spatial)
    return tuple(sizes)


def _scaled(default: tuple[int, ...], size: int, depth: int | None) -> InputSize:
    """The spatial sizes of a model of ``default``'s rank at side (length) ``size``: a square
    image, a length, or a square H×W at ``depth`` frames (slices) for a 3-D model."""
    rank = len(default) - 1
    spatial = (size,) * rank if rank != 3 else (depth or default[1], size, size)
    return parse_input((None,) + spatial)


def _works(definition, variant, default, size: int, depth: int | None) -> bool:
    try:
        analyze_graph(build_graph(definition, variant, None, _scaled(default, size, depth)))
        return True
    except CnnstatError:
        return False


def smallest_input(definition, variant, known_good: int, known_bad: int,
                   default: tuple[int, ...] = (3, 0, 0), depth: int | None = None) -> int | None:
    """Smallest side (square image; length; square H×W at ``depth``) that works, by bisection
    between a failing and a working size."""
    if not _works(definition, variant, default, known_good, depth):
        return None
    lo, hi = known_bad, known_good            # lo fails, hi works
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _works(definition, variant, default, mid, depth):
            hi = mid
        else:
            lo = mid
    return hi


def survey(size: InputSize | str | int) -> list[SurveyRow]:
    """Every zoo model at ``size`` (as --input gives it), grouped by input rank (1, 2, 3)."""
    size = parse_input(size)
    rows = []
    for name, entry in zoo.index().items():
        definition = zoo.definition(entry.path)
        default = tuple(build_graph(definition, entry.variant).input_shape)
        rank = len(default) - 1
        try:
            shape = resolve_input(size, default, name)
        except CnnstatError as exc:
            rows.append(SurveyRow(name, None, (), None, exc.message, rank=rank, tried=False))
            continue
        try:
            a = analyze_graph(build_graph(definition, entry.variant, None, size))
            rows.append(SurveyRow(name, tuple(a.input_shape), stage_sizes(a), a.output_shapes[0],
                                  rank=rank))
        except CnnstatError as exc:
            if isinstance(exc, InputSizeError) and exc.sizes is not None:   # fixed-size layers
                message = exc.message.removeprefix(f"{name}'s ")
                rows.append(SurveyRow(name, None, (), None, message, exc.sizes[0][0], exc.sizes,
                                      rank=rank))
                continue
            depth = shape[1] if rank == 3 else None
            plane = shape[2:] if rank == 3 else shape[1:]
            good = max(max(default[1:]), max(plane))
            smallest = smallest_input(definition, entry.variant, good, min(plane), default, depth)
            rows.append(SurveyRow(name, tuple(shape), (), None, exc.message, smallest,
                                  rank=rank))
    return sorted(rows, key=lambda r: r.rank)          # stable: zoo order within a rank
