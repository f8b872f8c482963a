"""The numpy graph interpreter: runs a whole graph with the ops' reference kernels (tiny/ops/<op>.py,
bit-exact with TFLite Micro)."""
from __future__ import annotations

import numpy as np

from tiny.ir import Graph, IRError, Op
from tiny.ops import REGISTRY, OpDef, Params, opdef, prepare_all


def kernels() -> dict[str, OpDef]:
    """Every op type with a reference kernel -> its OpDef."""
    return {k: d for k, d in REGISTRY.items() if d.runnable}


def kernel_for(op: Op) -> OpDef:
    """The OpDef running `op` (prepare, run, scratch_bytes); IRError for an op tiny cannot run."""
    return opdef(op)


def run_graph(g: Graph, inputs: list[np.ndarray], params: list[Params] | None = None,
              ) -> dict[int, np.ndarray]:
    """Run the whole graph; return the value of every activation tensor by id."""
    params = params if params is not None else prepare_all(g)
    vals: dict[int, np.ndarray] = {}
    for tid, x in zip(g.inputs, inputs):
        t = g.tensors[tid]
        if tuple(x.shape) != tuple(t.shape):
            raise IRError(f"input '{t.name}': expected shape {t.shape}, got {tuple(x.shape)}")
        vals[tid] = np.asarray(x)
    for op, p in zip(g.ops, params):
        args = [None if tid < 0 else (g.tensors[tid].data if g.tensors[tid].is_const else vals[tid])
                for tid in op.inputs]
        out = opdef(op).run(p, args)
        t = g.tensors[op.outputs[0]]
        vals[op.outputs[0]] = np.asarray(out).reshape(t.shape)
    return vals


def run(g: Graph, inputs: list[np.ndarray]) -> list[np.ndarray]:
    vals = run_graph(g, inputs)
    return [vals[t] for t in g.outputs]


__all__ = ["kernel_for", "kernels", "prepare_all", "run", "run_graph"]
