"""TRANSPOSE (any permutation of a rank <= 4 tensor), as TFLM (micro/kernels/transpose.cc,
reference_ops::Transpose): a pure data movement, so the output keeps the input's values and TFLM
does not requantize (int8 input and output share scale and zero point in converted models).

Shapes of rank < 4 are extended to 4-D by leading 1s and the permutation by the identity on them;
the C kernel then walks the output in order and gathers from input strides."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tiny.emit.ctx import EmitCtx
from tiny.ir import Graph, Op
from tiny.ops.base import OpDef, Params, Variant
from tiny.ops.conv2d import op_error



@dataclass(eq=False)
class TransposeParams(Params):
    op: str
    index: int
    perm: tuple[int, ...]
    perm4: tuple[int, int, int, int]
    in_dims: tuple[int, int, int, int]
    out_shape: tuple[int, ...]


def prepare(g: Graph, op: Op) -> TransposeParams:
    if len(op.inputs) != 2 or len(op.outputs) != 1 or op.inputs[0] < 0:
        raise op_error(g, op, "expected inputs (data, perm) and one output")
    x, pt, y = g.tensors[op.inputs[0]], g.tensors[op.inputs[1]], g.tensors[op.outputs[0]]
    if x.dtype != y.dtype or x.dtype not in ("int8", "int16", "int32", "float32"):
        raise op_error(g, op, f"input '{x.name}' is {x.dtype}, output {y.dtype}; expected the same type")
    if x.dtype != "int8":
        raise op_error(g, op, f"input '{x.name}' is {x.dtype}; only int8 is supported")
    if not pt.is_const:
        raise op_error(g, op, f"perm '{pt.name}' must be a constant tensor")
    rank = len(x.shape)
    if rank > 4:
        raise op_error(g, op, f"input '{x.name}' has rank {rank}; at most 4 is supported")
    perm = [int(v) + (rank if int(v) < 0 else 0) for v in np.asarray(pt.data).reshape(-1)]
    if sorted(perm) != list(range(rank)):
        raise op_error(g, op, f"perm {perm} is not a permutation of {rank} axes")
    want = tuple(int(x.shape[a]) for a in perm)
    if want != tuple(y.shape):
        raise op_error(g, op, f"input {x.shape} permuted by {perm} is {want}, not the output {y.shape}")
    if x.quant is not None and y.quant is not None and \
            (x.quant.s() != y.quant.s() or x.quant.zp() != y.quant.zp()):
        raise op_error(g, op, "input and output are quantized differently; TRANSPOSE only moves values")
    lead = 4 - rank
    perm4 = list(range(lead)) + [a + lead for a in perm]
    in4 = (1,) * lead + tuple(int(v) for v in x.shape)
    return TransposeParams(op=op.type, index=op.index, perm=tuple(perm), perm4=tuple(perm4), in_dims=in4,
                           out_shape=tuple(y.shape))


def run(p: dict[str, Any], inputs: list[np.ndarray | None]) -> np.ndarray:
    return np.ascontiguousarray(np.transpose(np.asarray(inputs[0]), p.perm))


def scratch_bytes(p: dict[str, Any]) -> int:
    return 0


def emit(p: TransposeParams, e: EmitCtx, fn: str) -> str:
    q = p.perm4
    params = e.struct("tiny_transpose_params", "params", {"perm": f"{{ {q[0]}, {q[1]}, {q[2]}, {q[3]} }}"})
    return f"{fn}({params}, {e.dims(p.in_dims)}, {e.inp(0)}, {e.out()});"


TRANSPOSE = OpDef(name="TRANSPOSE", no_dsp_why="data movement, no MACs", arity=(2, 2, (None, 1), None), prepare=prepare, run=run, emit=emit,
                  scratch=scratch_bytes, variants=(Variant("tiny_transpose_s8"),), data_inputs=lambda g, op: [0],
                  backward="transpose")
DEFS = [TRANSPOSE]
