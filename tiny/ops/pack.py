"""PACK: folded at load time when every input is constant (Keras' dynamic-batch shape arithmetic);
on int8 activations a kernel, as TFLM (micro/kernels/pack.cc): the inputs stacked along a new
axis, copied byte for byte without requantization (TFLM copies raw values too).

Seen as [outer, inner] per input and [outer, n, inner] for the output, input i is the i-th
`inner`-byte chunk of every output row: exactly one CONCATENATION placement per input, so the
concatenation kernel runs it."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from tiny.emit.ctx import EmitCtx
from tiny.ir import Graph, Op
from tiny.ops.base import OpDef, Params, Variant
from tiny.ops.conv2d import op_error


def options(opt: Any) -> dict[str, Any]:
    return {"axis": opt.axis} if opt is not None else {}


def fold(op: Op, ins: list[Any]) -> np.ndarray:
    return np.stack([t.data for t in ins], axis=op.attrs.get("axis", 0))


@dataclass(eq=False)
class PackParams(Params):
    op: str
    index: int
    axis: int                   # non-negative axis of the output
    n: int
    outer: int
    inner: int
    out_shape: tuple[int, ...]


def prepare(g: Graph, op: Op) -> PackParams:
    if not op.inputs or len(op.outputs) != 1 or any(t < 0 for t in op.inputs):
        raise op_error(g, op, "expected at least one input and one output")
    xs, y = [g.tensors[t] for t in op.inputs], g.tensors[op.outputs[0]]
    for t in (*xs, y):
        if t.dtype != "int8":
            raise op_error(g, op, f"tensor '{t.name}' is {t.dtype}; only int8 activations are supported")
        if t.is_const:
            raise op_error(g, op, f"input '{t.name}' is constant while others are not; not supported")
    shape = tuple(int(d) for d in xs[0].shape)
    if any(tuple(t.shape) != shape for t in xs):
        raise op_error(g, op, f"inputs have different shapes {[tuple(t.shape) for t in xs]}")
    rank = len(shape) + 1
    axis = int(op.attrs.get("axis", 0))
    if not -rank <= axis < rank:
        raise op_error(g, op, f"axis {axis} is outside the rank-{rank} output")
    axis %= rank
    want = shape[:axis] + (len(xs),) + shape[axis:]
    if tuple(y.shape) != want:
        raise op_error(g, op, f"output shape {tuple(y.shape)}; expected {want}")
    return PackParams(op=op.type, index=op.index, axis=axis, n=len(xs), outer=math.prod(shape[:axis]),
                      inner=math.prod(shape[axis:]), out_shape=want)


def run(p: PackParams, inputs: list[np.ndarray | None]) -> np.ndarray:
    return np.stack([np.asarray(x, dtype=np.int8) for x in inputs], axis=p.axis)


def emit(p: PackParams, e: EmitCtx, fn: str) -> str:
    calls = []
    for i in range(p.n):
        params = e.struct("tiny_concat_params", f"params{i}", {
            "outer": p.outer, "input_size": p.inner, "output_size": p.n * p.inner, "offset": i * p.inner})
        calls.append(f"{fn}({params}, {e.inp(i)}, {e.out()});")
    return "\n".join(calls)


PACK = OpDef(name="PACK", no_dsp_why="data movement, no MACs", fb_options="PackOptions", options=options, fold=fold, prepare=prepare, run=run, emit=emit,
             variants=(Variant("tiny_concatenation_s8"),))
DEFS = [PACK]
