"""Which ops may overwrite their input: in-place depthwise convolution, elementwise ADD and the
element-wise activations HARD_SWISH and LOGISTIC.

Depthwise (multiplier 1) runs channel by channel through a one-channel scratch buffer
(firmware/src/kernels/ref/depthwise_conv2d_inplace_s8.c); ADD of equal shapes reads element i
of each input before it writes element i, and so do the activations (portable kernels and the
tiny_lut_s8 table lookup alike). Each is legal only where the overwritten input is not needed
afterwards."""
from __future__ import annotations

from tiny.ir import Graph, Op


def _dies_at(g: Graph, tid: int, op_index: int) -> bool:
    if tid in g.outputs:
        return False
    later = [op for op in g.ops[op_index + 1:] if tid in op.inputs]
    return not later and g.ops[op_index].inputs.count(tid) == 1


def inplace_input(g: Graph, op: Op) -> int | None:
    """The input tensor id `op` may overwrite, or None."""
    out = g.tensors[op.outputs[0]]
    if out.dtype != "int8" or len(out.shape) != 4 or out.shape[0] != 1:
        return None
    if op.type == "DEPTHWISE_CONV_2D":
        x = g.tensors[op.inputs[0]]
        if x.shape[3] == out.shape[3] and _dies_at(g, x.id, op.index):
            return x.id
    if op.type in ("HARD_SWISH", "LOGISTIC"):
        x = g.tensors[op.inputs[0]]
        if x.dtype == "int8" and x.shape == out.shape and _dies_at(g, x.id, op.index):
            return x.id
    if op.type == "ADD":
        for tid in op.inputs[:2]:
            t = g.tensors[tid]
            if not t.is_const and t.shape == out.shape and _dies_at(g, tid, op.index):
                return tid
    return None


def inplace_aliases(g: Graph, ops: list[Op] | None = None) -> dict[int, int]:
    """{output tensor id: input tensor id it overwrites} for every op that can run in place."""
    out: dict[int, int] = {}
    for op in ops if ops is not None else g.ops:
        tid = inplace_input(g, op)
        if tid is not None:
            out[op.outputs[0]] = tid
    return out


def inplace_scratch(g: Graph, op: Op) -> int:
    """Extra scratch an in-place op needs: one output channel for depthwise."""
    if op.type == "DEPTHWISE_CONV_2D":
        s = g.tensors[op.outputs[0]].shape
        return int(s[1] * s[2])
    return 0
