"""The numpy graph interpreter: runs a whole graph with the ops' reference kernels (tiny/ops/<op>.py,
bit-exact with TFLite Micro)."""
from __future__ import annotations

import numpy as np

from tiny.ir import Graph, IRError, Op
from tiny.ops import REGISTRY, OpDef, Params, opdef, prepare_all, results


def kernels() -> dict[str, OpDef]:
    """Every op type with a reference kernel -> its OpDef."""
    return {k: d for k, d in REGISTRY.items() if d.runnable}


def kernel_for(op: Op) -> OpDef:
    """The OpDef running `op` (prepare, run, scratch_bytes); IRError for an op tiny cannot run."""
    return opdef(op)


def run_graph(g: Graph, inputs: list[np.ndarray], params: list[Params] | None = None,
              state: dict[int, np.ndarray] | None = None) -> dict[int, np.ndarray]:
    """Run the whole graph; return the value of every activation tensor by id.

    `state`: the variable tensors' values before this invocation (default: their reset values); the
    returned values hold them after it, so run_sequence can carry them to the next one."""
    params = params if params is not None else prepare_all(g)
    vals: dict[int, np.ndarray] = {}
    for tid in g.variables():
        vals[tid] = np.array(state[tid]) if state and tid in state else g.tensors[tid].reset_value()
    for tid, x in zip(g.inputs, inputs):
        t = g.tensors[tid]
        if tuple(x.shape) != tuple(t.shape):
            raise IRError(f"input '{t.name}': expected shape {t.shape}, got {tuple(x.shape)}")
        vals[tid] = np.asarray(x)
    for op, p in zip(g.ops, params):
        args = [None if tid < 0 else (g.tensors[tid].data if g.tensors[tid].is_const else vals[tid])
                for tid in op.inputs]
        vals.update(results(g, op, opdef(op).run(p, args)))
    return vals


def run_sequence(g: Graph, steps: list[list[np.ndarray]], resets: set[int] | frozenset[int] = frozenset(),
                 params: list[Params] | None = None) -> list[dict[int, np.ndarray]]:
    """Invoke the graph on each input set in turn, the state carried from one invocation to the next
    (reset to its initial value before step 0 and before every step listed in `resets`)."""
    params = params if params is not None else prepare_all(g)
    out: list[dict[int, np.ndarray]] = []
    state: dict[int, np.ndarray] = {}
    for k, xs in enumerate(steps):
        if k in resets:
            state = {}
        vals = run_graph(g, xs, params, state)
        state = {t: vals[t] for t in g.variables()}
        out.append(vals)
    return out


def run(g: Graph, inputs: list[np.ndarray]) -> list[np.ndarray]:
    vals = run_graph(g, inputs)
    return [vals[t] for t in g.outputs]


__all__ = ["kernel_for", "kernels", "prepare_all", "run", "run_graph", "run_sequence"]
