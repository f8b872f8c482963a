"""Which ops may overwrite their input (the OpDef's `inplace` rule: in-place depthwise convolution,
equal-shaped ADD, the element-wise activations), legal only where the overwritten input is not
needed afterwards."""
from __future__ import annotations

from tiny import ops
from tiny.ir import Graph, Op


def _dies_at(g: Graph, tid: int, op_index: int) -> bool:
    if tid in g.outputs:
        return False
    later = [op for op in g.ops[op_index + 1:] if tid in op.inputs]
    return not later and g.ops[op_index].inputs.count(tid) == 1


def inplace_input(g: Graph, op: Op) -> int | None:
    """The input tensor id `op` may overwrite, or None."""
    d = ops.traits(op)
    if d.inplace is None:
        return None
    out = g.tensors[op.outputs[0]]
    if out.dtype != "int8" or len(out.shape) != 4 or out.shape[0] != 1:
        return None
    for pos in d.inplace(g, op):
        tid = op.inputs[pos]
        if tid >= 0 and not g.tensors[tid].is_const and _dies_at(g, tid, op.index):
            return tid
    return None


def inplace_aliases(g: Graph, ops_: list[Op] | None = None) -> dict[int, int]:
    """{output tensor id: input tensor id it overwrites} for every op that can run in place."""
    out: dict[int, int] = {}
    for op in ops_ if ops_ is not None else g.ops:
        tid = inplace_input(g, op)
        if tid is not None:
            out[op.outputs[0]] = tid
    return out


def inplace_scratch(g: Graph, op: Op) -> int:
    """Extra scratch an in-place op needs (one output channel for depthwise)."""
    return int(ops.traits(op).inplace_scratch(g, op))
