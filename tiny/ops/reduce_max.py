"""REDUCE_MAX (int8, any constant axis set, keep_dims or not), as TFLM's EvalMaxHelper
(micro/kernels/reduce_common.cc -> reference_ops::ReduceGeneric with std::max).

TFLM requires the input and output to share scale and zero point for int8 (TF_LITE_ENSURE_EQ in
Eval) and never requantizes: each output is the largest raw input value over the reduced axes.
Duplicate axes are dropped (ResolveAxis); an empty axis set copies the input."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tiny.emit.ctx import EmitCtx
from tiny.ir import Graph, Op
from tiny.reference.fixedpoint_ext import op_error, per_tensor_int8
from tiny.ops.base import OpDef, Params, Variant
from tiny.ops.mean import options, reduce_axes



@dataclass(eq=False)
class ReduceMaxParams(Params):
    axes: tuple[int, ...]
    in_dims: tuple[int, int, int, int]
    axis_mask: int
    out_shape: tuple[int, ...]


def prepare(g: Graph, op: Op) -> ReduceMaxParams:
    if len(op.inputs) != 2 or len(op.outputs) != 1:
        raise op_error(g, op, "expected inputs (data, axes) and one output")
    s_in, z_in = per_tensor_int8(g, op, op.inputs[0], "input")
    s_out, z_out = per_tensor_int8(g, op, op.outputs[0], "output")
    if float(s_in) != float(s_out) or z_in != z_out:
        raise op_error(g, op, f"input (scale {s_in:g}, zero point {z_in}) and output (scale {s_out:g}, "
                              f"zero point {z_out}) differ; TFLM requires them equal")
    r = reduce_axes(g, op)
    return ReduceMaxParams(axes=r.axes, in_dims=r.in_dims, axis_mask=r.axis_mask, out_shape=r.out_shape)


def run(p: dict[str, Any], inputs: list[np.ndarray | None]) -> np.ndarray:
    x = np.asarray(inputs[0], dtype=np.int8)
    out = x.max(axis=p.axes) if p.axes else x
    return np.asarray(out, dtype=np.int8).reshape(p.out_shape)


def scratch_bytes(p: dict[str, Any]) -> int:
    return 0


def emit(p: ReduceMaxParams, e: EmitCtx, fn: str) -> str:
    params = e.struct("tiny_reduce_max_params", "params", {"axis_mask": int(p.axis_mask)})
    return f"{fn}({params}, {e.dims(p.in_dims)}, {e.inp(0)}, {e.out()});"


REDUCE_MAX = OpDef(name="REDUCE_MAX", fb_options="ReducerOptions", arity=(2, 2, (), None), options=options,
                   prepare=prepare, run=run, emit=emit, scratch=scratch_bytes,
                   variants=(Variant("tiny_reduce_max_s8"),), data_inputs=lambda g, op: [0],
                   backward="reduce_max")
DEFS = [REDUCE_MAX]
