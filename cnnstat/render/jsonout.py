"""The JSON contract (docs/json.md). Stable keys; integers as integers; schema version 1."""

from __future__ import annotations

import json
from typing import Any

from ..analyze import Analysis
from ..convention import FLOPS_PER_MAC
from ..ops.base import MAC_KINDS
from .numbers import rf_value
from .rows import Row, rows

SCHEMA_VERSION = 1


def _rf_axes(rf) -> dict[str, Any]:
    """size, stride and padding: one value per spatial axis of the input (``axes``)."""
    return {key: [rf_value(getattr(a, key)) for a in rf.axes]
            for key in ("size", "stride", "padding")}


def _rf(rf) -> dict[str, Any]:
    if not rf.spatial and not rf.whole:     # past a layout change of the spatial axes
        return {"size": None, "stride": None, "padding": None,
                "whole_input": [False for _ in rf.axes], "not_spatial": True,
                "exact": rf.exact, "aligned": rf.aligned, "note": rf.note, "local": None,
                "axes": list(rf.names)}
    return {
        **_rf_axes(rf),
        "whole_input": [a.whole for a in rf.axes],
        "exact": rf.exact,
        "aligned": rf.aligned,
        "note": rf.note,
        # the spatial paths' field when the whole input arrives only through global context
        "local": None if rf.local is None else _rf_axes(rf.local),
        "axes": list(rf.names),
    }


def _attr(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_attr(v) for v in value]
    return value


def layer_dict(row: Row, a: Analysis) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": row.name,
        "op": row.op,
        "description": row.description,
        "output_shape": list(row.output_shape),
        "params": row.params,
        "trainable_params": row.trainable_params,
        "buffers": row.buffers,
        "macs": row.macs,
        "flops": row.flops,
        "macs_by_kind": {k: row.macs_by_kind.get(k, 0) for k in MAC_KINDS},
        "connections": row.connections,
        "activations": row.activations,
        "activation_bytes": row.activations * a.dtype_bytes,
        "rf": _rf(row.rf),
        "train_only": row.train_only,
    }
    if row.layers == 1:
        record = a.by_name.get(row.name)
        if record is not None:
            out["inputs"] = list(record.inputs)
            if record.shares:
                out["shares"] = record.shares
            out["attrs"] = {k: _attr(v) for k, v in record.attrs.items()}
            if record.line:
                out["line"] = record.line
    else:
        out["layers"] = row.layers
    return out


def train_only_dict(a: Analysis) -> dict[str, Any] | None:
    """The training-only heads: what they hold and do, and whether the totals count their work."""
    if not a.train_only:
        return None
    return {
        "counted": a.train,
        "heads": [{"name": head, "layers": len(rs), "params": sum(r.params for r in rs),
                   "macs": sum(r.macs for r in rs)} for head, rs in a.train_only_heads.items()],
        "params": sum(r.params for r in a.train_only),
        "macs": sum(r.macs for r in a.train_only),
        "outputs": [o for o in a.graph.outputs if a.by_name[o].train_only],
    }


def _inputs(a: Analysis) -> dict[str, Any]:
    """``inputs``, only for a model with several: each graph input's name, the forward's parameter
    it is (an imported module's), and its per-sample shape, in the forward's order (``input`` is
    the first, as for every model)."""
    nodes = [n for n in a.graph if n.op == "input"]
    if len(nodes) < 2:
        return {}
    arguments = a.graph.meta.get("input_arguments", {})
    return {"inputs": [{"name": n.name, **({"argument": arguments[n.name]}
                                           if n.name in arguments else {}),
                        "shape": list(n.attrs["shape"])} for n in nodes]}


def analysis_to_dict(a: Analysis, depth: int | None = None) -> dict[str, Any]:
    t = a.totals
    c = a.convention
    return {
        "schema": SCHEMA_VERSION,
        "model": a.name,
        "title": a.graph.meta.get("title"),
        "input": list(a.input_shape),
        "input_axes": ["channels", *a.axes],
        **_inputs(a),
        "batch": a.batch,
        "dtype": a.dtype,
        "mode": a.mode,
        "convention": {
            "unit": "MAC",
            "mac": "one fused multiply-add",
            "counted": list(c.kinds),
            "flops_per_mac": FLOPS_PER_MAC,
            "description": c.describe(),
        },
        "totals": {
            "params": t.params,
            "trainable_params": t.trainable_params,
            "buffers": t.buffers,
            "macs": t.macs,
            "flops": t.flops,
            "macs_by_kind": t.macs_by_kind,
            "connections": t.connections,
            "activations": t.activations,
            "activation_bytes": t.activation_bytes,
            "peak_activation_bytes": t.peak_activation_bytes,
            "layers": t.layers,
        },
        "outputs": [{"name": o, "shape": list(s)} for o, s in zip(a.outputs, a.output_shapes)],
        "train_only": train_only_dict(a),
        "not_counted": [{"name": r.name, "what": r.attrs["what"]}
                        for r in a.records if r.op == "not_counted"],
        "warnings": [str(w) for w in a.graph.meta.get("warnings", ())],
        "layers": [layer_dict(r, a) for r in rows(a, depth)],
    }


def to_json(a: Analysis, depth: int | None = None) -> str:
    return json.dumps(analysis_to_dict(a, depth), indent=2) + "\n"
