"""BATCH_MATMUL (int8 x int8 -> int8, adj_x / adj_y, broadcast batch dims, rank 2..5), as TFLM
(micro/kernels/batch_matmul.cc -> reference_ops::BatchMatMul).

out[..., a, c] = clamp(zp_out + MBQM(sum_k (lhs[..., a, k] - zp_lhs) * (rhs[..., k, c] - zp_rhs)))
with the multiplier of GetQuantizedConvolutionMultipler: double(float(s_lhs * s_rhs)) / s_out
(the product in float32), the int32 sum over k in order, no fused activation (TFLM clamps to int8).
The batch dims (up to three, leading ones padded with 1) broadcast as numpy's."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tiny.emit.ctx import EmitCtx
from tiny.ir import Graph, Op
from tiny.ops.base import OpDef, Params, Variant
from tiny.reference.fixedpoint import quantize_multiplier
from tiny.reference.fixedpoint_ext import mbqm, op_error, per_tensor_int8, wrap32

PARAM_FIELDS = ("lhs_offset", "rhs_offset", "out_offset", "multiplier", "shift", "adj_x", "adj_y",
                "rows", "depth", "cols")


@dataclass(eq=False)
class BatchMatmulParams(Params):
    op: str
    index: int
    lhs_offset: int
    rhs_offset: int
    out_offset: int
    multiplier: int
    shift: int
    adj_x: int
    adj_y: int
    rows: int
    depth: int
    cols: int
    lhs_batch: tuple[int, int, int]
    rhs_batch: tuple[int, int, int]
    out_shape: tuple[int, ...]
    rhs_const: np.ndarray | None


def prepare(g: Graph, op: Op) -> BatchMatmulParams:
    if len(op.inputs) != 2 or len(op.outputs) != 1:
        raise op_error(g, op, "expected inputs (lhs, rhs) and one output")
    sl, zl = per_tensor_int8(g, op, op.inputs[0], "lhs")
    sr, zr = per_tensor_int8(g, op, op.inputs[1], "rhs")
    so, zo = per_tensor_int8(g, op, op.outputs[0], "output")
    lhs, rhs, out = (g.tensors[t] for t in (*op.inputs, op.outputs[0]))
    if not (2 <= len(lhs.shape) <= 5 and 2 <= len(rhs.shape) <= 5):
        raise op_error(g, op, f"lhs {lhs.shape} and rhs {rhs.shape} must have rank 2 to 5")
    adj_x, adj_y = bool(op.attrs.get("adj_x", False)), bool(op.attrs.get("adj_y", False))
    rows, depth = (lhs.shape[-1], lhs.shape[-2]) if adj_x else (lhs.shape[-2], lhs.shape[-1])
    depth_r, cols = (rhs.shape[-1], rhs.shape[-2]) if adj_y else (rhs.shape[-2], rhs.shape[-1])
    if depth != depth_r:
        raise op_error(g, op, f"lhs {lhs.shape} and rhs {rhs.shape} (adj_x={adj_x}, adj_y={adj_y}) "
                              f"disagree on the accumulation depth ({depth} vs {depth_r})")
    bl = (1,) * (3 - (len(lhs.shape) - 2)) + tuple(lhs.shape[:-2])
    br = (1,) * (3 - (len(rhs.shape) - 2)) + tuple(rhs.shape[:-2])
    if any(a != b and 1 not in (a, b) for a, b in zip(bl, br)):
        raise op_error(g, op, f"batch dims of lhs {lhs.shape} and rhs {rhs.shape} do not broadcast")
    batch = tuple(max(a, b) for a, b in zip(bl, br))
    if int(np.prod(batch)) * rows * cols != out.size:
        raise op_error(g, op, f"output {out.shape} is not batch {batch} x {rows} x {cols}")
    m, s = quantize_multiplier(float(np.float32(sl) * np.float32(sr)) / float(so))
    return BatchMatmulParams(op=op.type, index=op.index, lhs_offset=-zl, rhs_offset=-zr, out_offset=zo, multiplier=m,
                shift=s, adj_x=int(adj_x), adj_y=int(adj_y), rows=int(rows), depth=int(depth), cols=int(cols),
                lhs_batch=bl, rhs_batch=br, out_shape=tuple(out.shape),
                rhs_const=rhs.data if rhs.is_const else None)


def run(p: BatchMatmulParams, inputs: list[np.ndarray | None]) -> np.ndarray:
    a = np.asarray(inputs[0], dtype=np.int64)
    b = np.asarray(inputs[1], dtype=np.int64)
    a = a.reshape(p.lhs_batch + a.shape[-2:]) + p.lhs_offset
    b = b.reshape(p.rhs_batch + b.shape[-2:]) + p.rhs_offset
    if p.adj_x:
        a = np.swapaxes(a, -1, -2)
    if p.adj_y:
        b = np.swapaxes(b, -1, -2)
    acc = wrap32(np.matmul(a, b))
    out = np.clip(mbqm(acc, p.multiplier, p.shift) + p.out_offset, -128, 127)
    return out.astype(np.int8).reshape(p.out_shape)


def scratch_bytes(p: BatchMatmulParams) -> int:
    return 0


def emit(p: BatchMatmulParams, e: EmitCtx, fn: str) -> str:
    fields = {k: int(getattr(p, k)) for k in PARAM_FIELDS}
    lb, rb = p.lhs_batch, p.rhs_batch
    fields["lhs_batch"] = f"{{ {lb[0]}, {lb[1]}, {lb[2]} }}"
    fields["rhs_batch"] = f"{{ {rb[0]}, {rb[1]}, {rb[2]} }}"
    params = e.struct("tiny_batch_matmul_params", "params", fields)
    rhs = e.inp(1) if p.rhs_const is None else e.const(
        "rhs", np.asarray(p.rhs_const, dtype=np.int8).reshape(-1), comment="constant rhs")
    return f"{fn}({params}, {e.inp(0)}, {rhs}, {e.out()});"


def options(opt: Any) -> dict[str, Any]:
    return {"adj_x": bool(opt.adjX), "adj_y": bool(opt.adjY)} if opt is not None else {}


def macs(g: Graph, op: Op) -> int:
    p = prepare(g, op)
    return g.tensors[op.outputs[0]].size * p.depth


BATCH_MATMUL = OpDef(name="BATCH_MATMUL", fb_options="BatchMatMulOptions", arity=(2, 2, (), None), options=options,
                     prepare=prepare, run=run, emit=emit, scratch=scratch_bytes,
                     variants=(Variant("tiny_batch_matmul_s8"),), macs=macs)
DEFS = [BATCH_MATMUL]
