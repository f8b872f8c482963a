"""Fold shape arithmetic on static shapes (SHAPE, STRIDED_SLICE, PACK) into constants.

Keras' Flatten/Reshape export a dynamic batch computation (SHAPE -> STRIDED_SLICE -> PACK ->
RESHAPE). All shapes are static on a microcontroller, so these ops are evaluated at compile time."""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from tiny.ir import Graph, IRError, Op, verify

FOLDABLE = {"SHAPE", "STRIDED_SLICE", "PACK"}


def _strided_slice(op: Op, x: np.ndarray, begin: np.ndarray, end: np.ndarray, strides: np.ndarray) -> np.ndarray:
    a = op.attrs
    if x.ndim != 1 or a.get("ellipsis_mask") or a.get("new_axis_mask"):
        raise IRError(f"op #{op.index} STRIDED_SLICE: only 1-D constant slices can be folded")
    b = None if a.get("begin_mask", 0) & 1 else int(begin[0])
    e = None if a.get("end_mask", 0) & 1 else int(end[0])
    if a.get("shrink_axis_mask", 0) & 1:
        return np.asarray(x[int(begin[0])])
    return x[b:e:int(strides[0])]


def fold_constants(g: Graph) -> Graph:
    """Evaluate foldable ops whose inputs are known; raise IRError for one that is not."""
    tensors = dict(g.tensors)
    ops: list[Op] = []
    for op in g.ops:
        if op.type not in FOLDABLE:
            ops.append(op)
            continue
        ins = [tensors[t] for t in op.inputs]
        if op.type == "SHAPE":
            val = np.asarray(ins[0].shape, dtype=np.int32)
        elif not all(t.is_const for t in ins):
            raise IRError(f"op #{op.index} {op.type}: its inputs are not known at compile time")
        elif op.type == "STRIDED_SLICE":
            val = _strided_slice(op, *(t.data for t in ins))
        else:
            val = np.stack([t.data for t in ins], axis=op.attrs.get("axis", 0))
        out = tensors[op.outputs[0]]
        val = val.astype(np.dtype(out.dtype)).reshape(out.shape)
        tensors[op.outputs[0]] = replace(out, data=val)
    ops = [replace(op, index=i) for i, op in enumerate(ops)]
    folded = Graph(tensors=tensors, ops=ops, inputs=g.inputs, outputs=g.outputs, name=g.name, meta=g.meta)
    verify(folded)
    return folded
