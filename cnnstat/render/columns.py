"""The columns of each view. A column has a machine key (CSV), a header that names its unit, a
raw getter (ints stay ints) and a display formatter."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from . import numbers as fmt
from .rows import Row


@dataclass(frozen=True)
class Column:
    """A column of the layer views: key (CSV), header (with its unit), raw value, display."""
    key: str
    header: str
    raw: Callable[[Row, dict], Any]
    show: Callable[[Row, dict], str]
    numeric: bool = False

    def title(self, ctx: dict) -> str:
        """The header, its unit filled in (receptive fields: px, samples or voxels)."""
        return self.header.format(unit=ctx.get("unit", "px"))


def _int_col(key: str, header: str, attr: str) -> Column:
    return Column(key, header, lambda r, c: getattr(r, attr),
                  lambda r, c: fmt.grouped(getattr(r, attr)), numeric=True)


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.2f}%" if whole else "-"


INDEX = Column("index", "#", lambda r, c: r.index, lambda r, c: str(r.index), numeric=True)
TRAIN_MARK = " [train]"       # a layer that runs only in training (an auxiliary head's)
LAYER = Column("layer", "layer", lambda r, c: r.name,
               lambda r, c: r.name + TRAIN_MARK if r.train_only else r.name)
OP = Column("op", "op", lambda r, c: r.op, lambda r, c: r.op)
OPERATION = Column("operation", "operation (as PyTorch prints it)", lambda r, c: r.description,
                   lambda r, c: r.description)
SHAPE = Column("output_shape", "output shape", lambda r, c: "x".join(map(str, r.output_shape)),
               lambda r, c: fmt.shape(r.output_shape, c.get("layout", "nchw")))
PARAMS = _int_col("params", "params", "params")
BUFFERS = _int_col("buffers", "buffers", "buffers")
CONNECTIONS = _int_col("connections", "connections", "connections")
MACS = _int_col("macs", "MACs", "macs")
FLOPS = _int_col("flops", "FLOPs", "flops")
MACS_SHARE = Column("macs_share", "% of MACs", lambda r, c: r.macs / c["total_macs"] if c["total_macs"] else 0.0,
                    lambda r, c: _pct(r.macs, c["total_macs"]), numeric=True)
ACTIVATIONS = _int_col("activations", "activations (elements)", "activations")
MEMORY = Column("activation_bytes", "activation memory", lambda r, c: r.activations * c["dtype_bytes"],
                lambda r, c: fmt.human_bytes(r.activations * c["dtype_bytes"]), numeric=True)
RF_SIZE = Column("rf_size", "RF size ({unit})", lambda r, c: fmt.rf_size(r.rf),
                 lambda r, c: fmt.rf_size(r.rf))
RF_STRIDE = Column("rf_stride", "RF stride ({unit})", lambda r, c: fmt.rf_stride(r.rf),
                   lambda r, c: fmt.rf_stride(r.rf))
RF_PADDING = Column("rf_padding", "RF padding ({unit})", lambda r, c: fmt.rf_padding(r.rf),
                    lambda r, c: fmt.rf_padding(r.rf))
RF_NOTE = Column("rf_note", "note", lambda r, c: fmt.rf_note(r.rf), lambda r, c: fmt.rf_note(r.rf))

VIEWS: dict[str, list[Column]] = {
    "summary": [INDEX, LAYER, OPERATION, SHAPE, PARAMS, MACS, RF_SIZE],
    "params": [INDEX, LAYER, OPERATION, SHAPE, PARAMS],
    "shapes": [INDEX, LAYER, OP, SHAPE, ACTIVATIONS, MEMORY],
    "flops": [INDEX, LAYER, OPERATION, SHAPE, MACS, FLOPS, MACS_SHARE],
    "rf": [INDEX, LAYER, OP, SHAPE, RF_SIZE, RF_STRIDE, RF_PADDING, RF_NOTE],
    "full": [INDEX, LAYER, OP, OPERATION, SHAPE, PARAMS, BUFFERS, CONNECTIONS, MACS, FLOPS,
             ACTIVATIONS, MEMORY, RF_SIZE, RF_STRIDE, RF_PADDING, RF_NOTE],
}
#: columns whose total is shown in the last row of tables (sums of the rows)
SUMMED = {"params", "buffers", "connections", "macs", "flops", "activations", "activation_bytes",
          "macs_share"}
#: of those, the ones summed over every row: the weights a model holds in any mode (the others
#: sum the rows that run in the analysis' mode: training-only rows are left out at inference)
HELD = {"params", "buffers"}

#: every column by its key (the CSV names), for choosing columns: summary(columns=...)
COLUMNS: dict[str, Column] = {c.key: c for view in VIEWS.values() for c in view}
#: torchinfo's column names, for people who bring them (col_names=...)
ALIASES = {"output_size": "output_shape", "num_params": "params", "mult_adds": "macs",
           "name": "layer"}


def select_columns(spec=None, default: str = "summary") -> list[Column]:
    """Columns by view name (``"rf"``), by keys (``"layer,params,macs"`` or a list of keys), or
    None for the ``default`` view. The layer column comes first when it is not asked for: a
    row needs its name."""
    from ..errors import UsageError
    if spec is None:
        return list(VIEWS[default])
    if isinstance(spec, str) and spec in VIEWS:
        return list(VIEWS[spec])
    keys = [k.strip() for k in spec.split(",")] if isinstance(spec, str) else \
        [getattr(k, "key", k) for k in spec]
    chosen: list[Column] = []
    for key in keys:
        column = COLUMNS.get(ALIASES.get(key, key))
        if column is None:
            from ..suggest import did_you_mean
            hint = did_you_mean(key, list(COLUMNS) + list(ALIASES))
            raise UsageError(f"unknown column '{key}'{hint}; "
                             f"choose from {', '.join(COLUMNS)} or a view: {', '.join(VIEWS)}")
        if column not in chosen:
            chosen.append(column)
    if LAYER not in chosen:
        chosen.insert(0, LAYER)
    return chosen
