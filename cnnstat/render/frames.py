"""pandas DataFrames of the records (pandas is imported only here, on demand)."""

from __future__ import annotations

from ..analyze import Analysis
from ..ops.base import AXIS_LETTERS, MAC_KINDS
from . import numbers as fmt


def records_frame(a: Analysis):
    import pandas as pd
    data = []
    for r in a.records:
        row = {
            "name": r.name, "op": r.op, "description": r.description,
            "output_shape": tuple(r.output_shape), "params": r.params,
            "trainable_params": r.trainable_params, "buffers": r.buffers,
            "connections": r.connections, "macs": r.macs, "flops": r.flops,
            "activations": r.activations, "activation_bytes": r.activations * a.dtype_bytes,
        }
        # rf_size_h, rf_size_w (and _d of 3-D inputs, _l of 1-D ones); then strides, paddings
        for key in ("size", "stride", "padding"):
            for name, axis in zip(r.rf.names, r.rf.axes):
                row[f"rf_{key}_{AXIS_LETTERS[name].lower()}"] = fmt.rf_value(getattr(axis, key))
        row["rf_whole"] = r.rf.whole
        row["train_only"] = r.train_only
        for k in MAC_KINDS:
            row[f"macs_{k}"] = r.macs_by_kind.get(k, 0)
        data.append(row)
    return pd.DataFrame(data).set_index("name")
