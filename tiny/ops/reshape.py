"""RESHAPE, SQUEEZE, EXPAND_DIMS: a byte copy (TFLM's reshape also just copies when input and
output buffers differ; its squeeze and expand_dims kernels do the same).

The optional second input (the new shape) is only read at compile time: the output tensor's shape
in the flatbuffer is already resolved. Any element type is accepted since no value changes.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tiny.emit.ctx import EmitCtx
from tiny.ir import DTYPES, Graph, Op
from tiny.ops.base import OpDef, Params, Variant
from tiny.ops.conv2d import op_error


@dataclass(eq=False)
class ReshapeParams(Params):
    op: str
    index: int
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    dtype: str
    nbytes: int


def prepare(g: Graph, op: Op) -> ReshapeParams:
    if len(op.inputs) not in (1, 2) or op.inputs[0] < 0:
        raise op_error(g, op, f"expects 1 or 2 inputs, got {len(op.inputs)}")
    x, y = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
    if x.dtype != y.dtype:
        raise op_error(g, op, f"input '{x.name}' is {x.dtype} but output is {y.dtype}")
    if x.size != y.size:
        raise op_error(g, op, f"cannot reshape {x.shape} ({x.size} values) to {y.shape} ({y.size} values)")
    if op.type == "RESHAPE" and len(op.inputs) == 2 and op.inputs[1] >= 0:
        s = g.tensors[op.inputs[1]]
        if s.is_const:
            want = [int(v) for v in np.asarray(s.data).reshape(-1)]
            if len(want) != len(y.shape) or any(w not in (-1, d) for w, d in zip(want, y.shape)):
                raise op_error(g, op, f"shape input {want} disagrees with the output shape {y.shape}")
    return ReshapeParams(op=op.type, index=op.index, in_shape=tuple(x.shape), out_shape=tuple(y.shape),
                dtype=y.dtype, nbytes=y.nbytes)


def run(p: ReshapeParams, inputs: list[np.ndarray | None]) -> np.ndarray:
    return np.array(inputs[0], dtype=DTYPES[p.dtype]).reshape(p.out_shape)


def scratch_bytes(p: ReshapeParams) -> int:
    return 0


def emit(p: ReshapeParams, e: EmitCtx, fn: str) -> str:
    # Byte copy whatever the element type, hence the casts.
    return (f"{fn}((const int8_t *)({e.inp(0)}), (int8_t *)({e.out()}), "
            f"{int(p['nbytes'])});")


def options(opt: Any) -> dict[str, Any]:
    if opt is not None and getattr(opt, "newShape", None) is not None:
        return {"new_shape": [int(v) for v in opt.newShape]}
    return {}


RESHAPE = OpDef(name="RESHAPE", no_dsp_why="data movement, no MACs", fb_options="ReshapeOptions", arity=(1, 2, (), None), options=options, prepare=prepare, run=run, emit=emit, scratch=scratch_bytes,
                variants=(Variant("tiny_reshape_s8"),), data_inputs=lambda g, op: [0], backward="copy")
SQUEEZE = OpDef(name="SQUEEZE", fb_options="SqueezeOptions", arity=(1, 1, (), None), prepare=prepare, run=run,
                emit=emit, scratch=scratch_bytes, variants=(Variant("tiny_reshape_s8"),),
                data_inputs=lambda g, op: [0], backward="copy")
EXPAND_DIMS = OpDef(name="EXPAND_DIMS", fb_options="ExpandDimsOptions", arity=(2, 2, (), None), prepare=prepare,
                    run=run, emit=emit, scratch=scratch_bytes, variants=(Variant("tiny_reshape_s8"),),
                    data_inputs=lambda g, op: [0], backward="copy")
DEFS = [RESHAPE, SQUEEZE, EXPAND_DIMS]
