"""``cnnstat shapes --input N`` without a model: every zoo model at one input size.

For each model: the feature-map size after each change of resolution along the path to its main
output, and the output shape; or, when the model cannot take that input, the reason and the
smallest square input it can take — for a network whose fixed-size layers take a range of sizes
only (the paper's VGG, AlexNet, LeNet-5, YOLO v1), that range.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import zoo
from .analyze import Analysis, analyze_graph
from .errors import CnnstatError, InputSizeError
from .spec import build_graph


@dataclass(frozen=True)
class SurveyRow:
    model: str
    input: tuple[int, int, int] | None
    stages: tuple[tuple[int, int], ...]    # (H, W) after each change of resolution
    output: tuple[int, ...] | None
    error: str = ""
    smallest: int | None = None
    sizes: tuple[tuple[int, int], tuple[int, int]] | None = None   # fixed-size layers: the range


def stage_sizes(a: Analysis) -> tuple[tuple[int, int], ...]:
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
    sizes: list[tuple[int, int]] = []
    for r in reversed(path):
        if len(r.output_shape) == 4:
            hw = (r.output_shape[2], r.output_shape[3])
            if not sizes or sizes[-1] != hw:
                sizes.append(hw)
    return tuple(sizes)


def _works(definition, variant, size: int) -> bool:
    try:
        analyze_graph(build_graph(definition, variant, None, (None, size, size)))
        return True
    except CnnstatError:
        return False


def smallest_input(definition, variant, known_good: int, known_bad: int) -> int | None:
    """Smallest square size that works, by bisection between a failing and a working size."""
    if not _works(definition, variant, known_good):
        return None
    lo, hi = known_bad, known_good            # lo fails, hi works
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _works(definition, variant, mid):
            hi = mid
        else:
            lo = mid
    return hi


def survey(size_h: int, size_w: int, channels: int | None = None) -> list[SurveyRow]:
    rows = []
    for name, entry in zoo.index().items():
        definition = zoo.definition(entry.path)
        try:
            graph = build_graph(definition, entry.variant, None, (channels, size_h, size_w))
            a = analyze_graph(graph)
            rows.append(SurveyRow(name, a.input_shape, stage_sizes(a), a.output_shapes[0]))
        except InputSizeError as exc:
            if exc.sizes is None:
                raise
            message = exc.message.removeprefix(f"{name}'s ")
            rows.append(SurveyRow(name, None, (), None, message, exc.sizes[0][0], exc.sizes))
        except CnnstatError as exc:
            default = build_graph(definition, entry.variant).input_shape
            good = max(default[1], default[2], size_h, size_w)
            smallest = smallest_input(definition, entry.variant, good, min(size_h, size_w))
            rows.append(SurveyRow(name, None, (), None, exc.message, smallest))
    return rows
