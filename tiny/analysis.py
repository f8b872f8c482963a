"""Per-layer counts: multiply-accumulates, weight bytes, shapes."""
from __future__ import annotations

import numpy as np

from tiny import ops
from tiny.ir import Graph, Op


def op_macs(g: Graph, op: Op) -> int:
    """Multiply-accumulates of one op (its OpDef's count; 0 for data movement)."""
    return int(ops.traits(op).macs(g, op))


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
