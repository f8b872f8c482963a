"""Per-layer counts: multiply-accumulates, weight bytes, shapes."""
from __future__ import annotations

import numpy as np

from tiny.ir import Graph, Op


def op_macs(g: Graph, op: Op) -> int:
    out = g.tensors[op.outputs[0]]
    if op.type == "CONV_2D":
        w = g.tensors[op.inputs[1]].shape  # O, KH, KW, I
        return out.size * w[1] * w[2] * w[3]
    if op.type == "DEPTHWISE_CONV_2D":
        w = g.tensors[op.inputs[1]].shape  # 1, KH, KW, O
        return out.size * w[1] * w[2]
    if op.type == "FULLY_CONNECTED":
        w = g.tensors[op.inputs[1]].shape  # O, I
        return out.size * w[1]
    if op.type in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
        return out.size * op.attrs.get("filter_h", 1) * op.attrs.get("filter_w", 1)
    if op.type == "MEAN":
        return g.tensors[op.inputs[0]].size
    if op.type in ("ADD", "MUL"):
        return out.size
    return 0


def op_const_bytes(g: Graph, op: Op) -> int:
    return int(sum(g.tensors[t].nbytes for t in op.inputs if t >= 0 and g.tensors[t].is_const))


def total_macs(g: Graph) -> int:
    return int(sum(op_macs(g, op) for op in g.ops))


def shape_str(shape: tuple[int, ...]) -> str:
    return "x".join(str(int(d)) for d in shape) if shape else "scalar"


def const_bytes(g: Graph) -> int:
    used = {t for op in g.ops for t in op.inputs if t >= 0 and g.tensors[t].is_const}
    return int(sum(g.tensors[t].nbytes for t in used))


def np_dtype(name: str) -> np.dtype:
    from tiny.ir import DTYPES
    return np.dtype(DTYPES[name])
