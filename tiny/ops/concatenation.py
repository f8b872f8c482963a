"""CONCATENATION along any axis, as TFLM (tensorflow/lite/micro/kernels/concatenation.cc).

TFLM never requantizes here: for int8 it *requires* every input to carry exactly the output's scale
and zero point (TF_LITE_ENSURE_EQ in Prepare) and fails the model otherwise. The converter keeps
that invariant by inserting int8->int8 QUANTIZE ops in front of the concatenation when needed
(see quantize.py), so a mismatch here is rejected just as TFLM rejects it. Data is copied as bytes:
for each of the `outer` slices before the axis, each input contributes one contiguous chunk.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tiny.emit.ctx import EmitCtx
from tiny.ir import DTYPES, Graph, Op
from tiny.ops.base import OpDef, Params, Variant, fused_activation
from tiny.ops.conv2d import op_error


@dataclass(eq=False)
class ConcatenationParams(Params):
    op: str
    index: int
    out_shape: tuple[int, ...]
    dtype: str
    axis: int
    outer: int
    inner: int                  # bytes of one input row after the axis, per unit of its axis extent
    sizes: list[int]
    consts: dict[int, np.ndarray]
_MAX_INPUTS = 10  # TFLM's kMaxInputNum


def prepare(g: Graph, op: Op) -> ConcatenationParams:
    y = g.tensors[op.outputs[0]]
    if op.attrs.get("activation", "NONE") != "NONE":
        raise op_error(g, op, f"fused activation {op.attrs['activation']} is not supported (TFLM requires NONE)")
    if not 1 <= len(op.inputs) <= _MAX_INPUTS or min(op.inputs) < 0:
        raise op_error(g, op, f"{len(op.inputs)} inputs; TFLM supports 1 to {_MAX_INPUTS}")
    if y.dtype not in ("int8", "int32", "float32"):
        raise op_error(g, op, f"output '{y.name}' is {y.dtype}; only int8 (or int32/float32) is supported")
    rank = len(y.shape)
    axis = int(op.attrs.get("axis", 0))
    axis = axis + rank if axis < 0 else axis
    if not 0 <= axis < rank:
        raise op_error(g, op, f"axis {op.attrs.get('axis')} is out of range for rank {rank}")
    itemsize = np.dtype(DTYPES[y.dtype]).itemsize
    inner = int(np.prod(y.shape[axis + 1:], dtype=np.int64)) * itemsize
    outer = int(np.prod(y.shape[:axis], dtype=np.int64))
    sizes, consts = [], {}
    for i, tid in enumerate(op.inputs):
        t = g.tensors[tid]
        if t.dtype != y.dtype or len(t.shape) != rank or \
                any(a != b for k, (a, b) in enumerate(zip(t.shape, y.shape)) if k != axis):
            raise op_error(g, op, f"input '{t.name}' {t.dtype}{t.shape} does not fit output {y.dtype}{y.shape}")
        if y.dtype == "int8":
            if t.quant is None or y.quant is None or t.quant.per_channel or \
                    float(t.quant.s()) != float(y.quant.s()) or t.quant.zp() != y.quant.zp():
                raise op_error(g, op, f"input '{t.name}' is quantized differently from the output; "
                                      "TFLM requires identical scale and zero point")
        sizes.append(int(t.shape[axis]))
        if t.is_const:
            consts[i] = np.ascontiguousarray(t.data.astype(DTYPES[y.dtype])).view(np.int8).reshape(-1)
    if sum(sizes) != y.shape[axis]:
        raise op_error(g, op, f"input sizes {sizes} along axis {axis} do not add up to {y.shape[axis]}")
    return ConcatenationParams(op=op.type, index=op.index, out_shape=tuple(y.shape), dtype=y.dtype, axis=axis,
                outer=outer, inner=inner, sizes=sizes, consts=consts)


def run(p: ConcatenationParams, inputs: list[np.ndarray | None]) -> np.ndarray:
    return np.concatenate([np.asarray(x, dtype=DTYPES[p.dtype]) for x in inputs], axis=p.axis)


def scratch_bytes(p: ConcatenationParams) -> int:
    return 0


def emit(p: ConcatenationParams, e: EmitCtx, fn: str) -> str:
    total = sum(p.sizes) * p.inner
    calls, offset = [], 0
    for i, size in enumerate(p.sizes):
        chunk = size * p.inner
        src = e.const(f"in{i}", p.consts[i], "int8_t") if i in p.consts else f"(const int8_t *)({e.inp(i)})"
        params = e.struct("tiny_concat_params", f"params{i}", {
            "outer": p.outer, "input_size": chunk, "output_size": total, "offset": offset})
        calls.append(f"{fn}({params}, {src}, (int8_t *)({e.out()}));")
        offset += chunk
    return "\n".join(calls)


def options(opt: Any) -> dict[str, Any]:
    a = fused_activation(opt)
    if opt is not None:
        a["axis"] = opt.axis
    return a


CONCATENATION = OpDef(name="CONCATENATION", fb_options="ConcatenationOptions", fb_options_required=True, arity=(1, 1 << 10, (), None), options=options, prepare=prepare, run=run, emit=emit,
                      scratch=scratch_bytes, variants=(Variant("tiny_concatenation_s8_dsp", lambda p, t: max(p.sizes) * p.inner <= 256, dsp=True),
                                Variant("tiny_concatenation_s8")),
                      portable_why=lambda p: "runs longer than 256 bytes (memcpy is as fast)", backward="concat")
DEFS = [CONCATENATION]
