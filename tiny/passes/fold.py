"""Fold ops that compute on static values (SHAPE arithmetic and the like) into constants.

Keras' Flatten/Reshape export a dynamic batch computation (SHAPE -> STRIDED_SLICE -> PACK ->
RESHAPE). All shapes are static on a microcontroller, so ops whose OpDef has a `fold` are
evaluated at compile time when their inputs are known (tiny/ops/)."""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from tiny import ops
from tiny.ir import Graph, IRError, Op, verify


def fold_constants(g: Graph) -> Graph:
    """Evaluate foldable ops whose inputs are known; raise IRError for one that is not and has no kernel."""
    tensors = dict(g.tensors)
    kept: list[Op] = []
    for op in g.ops:
        d = ops.traits(op)
        if d.fold is None:
            kept.append(op)
            continue
        ins = [tensors[t] for t in op.inputs]
        if d.fold_needs_values and not all(t.is_const for t in ins):
            if d.runnable:
                kept.append(op)
                continue
            raise IRError(f"op #{op.index} {op.type}: its inputs are not known at compile time")
        val = d.fold(op, ins)
        out = tensors[op.outputs[0]]
        val = np.asarray(val).astype(np.dtype(out.dtype)).reshape(out.shape)
        tensors[op.outputs[0]] = replace(out, data=val)
    kept = [replace(op, index=i) for i, op in enumerate(kept)]
    folded = Graph(tensors=tensors, ops=kept, inputs=g.inputs, outputs=g.outputs, name=g.name, meta=g.meta)
    verify(folded)
    return folded
