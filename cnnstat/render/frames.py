"""pandas DataFrames of the records (pandas is imported only here, on demand)."""

from __future__ import annotations

from ..analyze import Analysis
from ..ops.base import MAC_KINDS
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
            "rf_size_h": fmt.rf_value(r.rf.h.size), "rf_size_w": fmt.rf_value(r.rf.w.size),
            "rf_stride_h": fmt.rf_value(r.rf.h.stride), "rf_stride_w": fmt.rf_value(r.rf.w.stride),
            "rf_padding_h": fmt.rf_value(r.rf.h.padding),
            "rf_padding_w": fmt.rf_value(r.rf.w.padding),
            "rf_whole": r.rf.whole,
            "train_only": r.train_only,
        }
        for k in MAC_KINDS:
            row[f"macs_{k}"] = r.macs_by_kind.get(k, 0)
        data.append(row)
    return pd.DataFrame(data).set_index("name")
