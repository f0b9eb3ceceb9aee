"""Spatial axes of feature maps and what their units are called."""

from __future__ import annotations

# --------------------------------------------------------------------------------------------
# Spatial axes. A feature map is (N, C, *spatial): (N, C, L), (N, C, H, W) or (N, C, D, H, W); its
# spatial rank is len(shape) - 2. Vectors are (N, F). Axes carry PyTorch's names for them (the
# letters of its shape docs: L, D, H, W), in tables, JSON, the view and the plots.
# --------------------------------------------------------------------------------------------
AXES = {1: ("length",), 2: ("height", "width"), 3: ("depth", "height", "width")}
#: the letters PyTorch's docs use for those axes
AXIS_LETTERS = {"length": "L", "depth": "D", "height": "H", "width": "W"}
#: what one input unit is called, per spatial rank (sizes of receptive fields are in these), in
#: full and short
UNIT_NOUNS = {1: "samples", 2: "pixels", 3: "voxels"}
UNIT_WORDS = {1: "samples", 2: "px", 3: "voxels"}
RANKS = tuple(AXES)


def spatial_axes(rank: int) -> tuple[str, ...]:
    """The names of the spatial axes of a feature map of that spatial rank."""
    try:
        return AXES[rank]
    except KeyError:
        return tuple(f"axis {i}" for i in range(rank))


def layout(rank: int) -> str:
    """'(C, L)', '(C, H, W)', '(C, D, H, W)': a sample of that spatial rank, as PyTorch writes it."""
    return "(C, " + ", ".join(AXIS_LETTERS.get(a, "?") for a in spatial_axes(rank)) + ")"
