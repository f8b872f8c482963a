"""SLICE (int8, rank <= 4, constant begin / size), as TFLM (micro/kernels/slice.cc ->
reference_ops::Slice): a copy of the box begin .. begin + size (size -1: to the end), no
requantization. Shapes are extended to 4-D by leading 1s, begin by 0s."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tiny.emit.ctx import EmitCtx
from tiny.ir import Graph, Op
from tiny.ops.base import OpDef, Params, Variant
from tiny.ops.conv2d import op_error



@dataclass(eq=False)
class SliceParams(Params):
    op: str
    index: int
    in_dims: tuple[int, int, int, int]
    begin: tuple[int, int, int, int]
    out_dims: tuple[int, int, int, int]
    out_shape: tuple[int, ...]


def prepare(g: Graph, op: Op) -> SliceParams:
    if len(op.inputs) != 3 or len(op.outputs) != 1:
        raise op_error(g, op, "expected inputs (data, begin, size) and one output")
    x, tb, ts, y = (g.tensors[t] for t in (*op.inputs, op.outputs[0]))
    if x.dtype != "int8" or y.dtype != "int8":
        raise op_error(g, op, f"input '{x.name}' is {x.dtype}, output {y.dtype}; only int8 is supported")
    if not (tb.is_const and ts.is_const):
        raise op_error(g, op, f"begin '{tb.name}' and size '{ts.name}' must be constant")
    rank = len(x.shape)
    if rank > 4:
        raise op_error(g, op, f"input '{x.name}' has rank {rank}; at most 4 is supported")
    begin = [int(v) for v in np.asarray(tb.data).reshape(-1)]
    size = [int(v) for v in np.asarray(ts.data).reshape(-1)]
    if len(begin) != rank or len(size) != rank:
        raise op_error(g, op, f"begin {begin} / size {size} do not have one entry per axis of {x.shape}")
    size = [x.shape[i] - b if s == -1 else s for i, (b, s) in enumerate(zip(begin, size))]
    if any(b < 0 or s < 0 or b + s > d for b, s, d in zip(begin, size, x.shape)):
        raise op_error(g, op, f"begin {begin} size {size} is outside the input {x.shape}")
    if tuple(size) != tuple(y.shape):
        raise op_error(g, op, f"slice size {size} is not the output shape {y.shape}")
    lead = 4 - rank
    return SliceParams(op=op.type, index=op.index, in_dims=(1,) * lead + tuple(int(v) for v in x.shape),
                begin=(0,) * lead + tuple(begin), out_dims=(1,) * lead + tuple(size), out_shape=tuple(y.shape))


def run(p: dict[str, Any], inputs: list[np.ndarray | None]) -> np.ndarray:
    x = np.asarray(inputs[0], dtype=np.int8).reshape(p.in_dims)
    box = tuple(slice(b, b + s) for b, s in zip(p.begin, p.out_dims))
    return np.ascontiguousarray(x[box]).reshape(p.out_shape)


def scratch_bytes(p: dict[str, Any]) -> int:
    return 0


def emit(p: SliceParams, e: EmitCtx, fn: str) -> str:
    b = p.begin
    params = e.struct("tiny_slice_params", "params", {"begin": f"{{ {b[0]}, {b[1]}, {b[2]}, {b[3]} }}",
                                                      "stride": "{ 1, 1, 1, 1 }"})
    return f"{fn}({params}, {e.dims(p.in_dims)}, {e.inp(0)}, {e.dims(p.out_dims)}, {e.out()});"


SLICE = OpDef(name="SLICE", no_dsp_why="data movement, no MACs", arity=(3, 3, (None, 1, 1), None), prepare=prepare, run=run, emit=emit, scratch=scratch_bytes,
              variants=(Variant("tiny_slice_s8"),), data_inputs=lambda g, op: [0])
DEFS = [SLICE]
