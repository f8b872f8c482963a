"""PAD on int8, as TFLM's reference_ops::Pad (tensorflow/lite/micro/kernels/pad*.cc).

The pad value is the output zero point, or the constant_values input when there is one (TFLM then
requires it to share the output's quantization). Shapes of rank < 4 are extended to NHWC by
prepending 1s, which is what TFLM's ExtendedShape does too.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tiny.emit.ctx import EmitCtx
from tiny.ir import Graph, Op
from tiny.ops.base import OpDef, Params, Rect, Variant
from tiny.ops.conv2d import int8_tensor, op_error


@dataclass(eq=False)
class PadParams(Params):
    op: str
    index: int
    in_shape: tuple[int, int, int, int]
    out_shape: tuple[int, int, int, int]
    out_shape_orig: tuple[int, ...]
    before: tuple[int, int, int, int]
    pad_value: int


def _nhwc(shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    s = (1,) * (4 - len(shape)) + tuple(int(v) for v in shape)
    return s[0], s[1], s[2], s[3]


def prepare(g: Graph, op: Op) -> PadParams:
    if len(op.inputs) not in (2, 3):
        raise op_error(g, op, f"expects 2 or 3 inputs, got {len(op.inputs)}")
    x = int8_tensor(g, op, op.inputs[0], "input")
    y = int8_tensor(g, op, op.outputs[0], "output")
    pads_t = g.tensors[op.inputs[1]]
    if not pads_t.is_const or pads_t.dtype not in ("int32", "int64"):
        raise op_error(g, op, f"paddings '{pads_t.name}' must be a constant int32 tensor")
    if len(x.shape) > 4 or len(y.shape) != len(x.shape):
        raise op_error(g, op, f"only tensors of rank <= 4 are supported (input {x.shape}, output {y.shape})")
    pads = np.asarray(pads_t.data, dtype=np.int64).reshape(-1, 2)
    if pads.shape[0] != len(x.shape) or (pads < 0).any():
        raise op_error(g, op, f"paddings {pads.tolist()} do not fit input {x.shape} (or are negative)")
    if tuple(int(v) for v in np.asarray(x.shape) + pads.sum(axis=1)) != tuple(y.shape):
        raise op_error(g, op, f"input {x.shape} padded by {pads.tolist()} is not the output {y.shape}")
    value = y.quant.zp()
    if len(op.inputs) == 3 and op.inputs[2] >= 0:
        cv = g.tensors[op.inputs[2]]
        if not cv.is_const or cv.dtype != "int8" or cv.size != 1:
            raise op_error(g, op, f"constant_values '{cv.name}' must be one constant int8 value")
        if cv.quant is None or cv.quant.zp() != y.quant.zp() or cv.quant.s() != y.quant.s():
            raise op_error(g, op, "constant_values must share the output quantization (TFLM requires it)")
        value = int(cv.data.reshape(-1)[0])
    before = (0,) * (4 - len(x.shape)) + tuple(int(v) for v in pads[:, 0])
    return PadParams(op=op.type, index=op.index, in_shape=_nhwc(x.shape), out_shape=_nhwc(y.shape),
                out_shape_orig=tuple(y.shape), before=before, pad_value=int(np.int8(np.uint8(value & 0xFF))))


def run(p: PadParams, inputs: list[np.ndarray | None]) -> np.ndarray:
    x = np.asarray(inputs[0]).reshape(p.in_shape)
    out = np.full(p.out_shape, p.pad_value, dtype=np.int8)
    b = p.before
    n, h, w, c = x.shape
    out[b[0]:b[0] + n, b[1]:b[1] + h, b[2]:b[2] + w, b[3]:b[3] + c] = x
    return out.reshape(p.out_shape_orig)


def scratch_bytes(p: PadParams) -> int:
    return 0


def emit(p: PadParams, e: EmitCtx, fn: str) -> str:
    b = p.before
    params = e.struct("tiny_pad_params", "params", {
        "before": f"{{ {b[0]}, {b[1]}, {b[2]}, {b[3]} }}", "pad_value": int(p.pad_value)})
    return f"{fn}({params}, {e.dims(p['in_shape'])}, {e.inp(0)}, {e.dims(p['out_shape'])}, {e.out()});"


def pad_amounts(g: Graph, op: Op) -> tuple[int, int]:
    """(top, left) padding of a PAD op (NHWC)."""
    p = g.tensors[op.inputs[1]].data
    return int(p[1][0]), int(p[2][0])


def pad_rect(g: Graph, op: Op, out: Rect, which: int = 0) -> Rect:
    s = g.tensors[op.inputs[which]].shape
    pt, pl = pad_amounts(g, op)
    return Rect(max(out.r0 - pt, 0), min(out.r1 - pt, int(s[1])), max(out.c0 - pl, 0), min(out.c1 - pl, int(s[2])))


# Spatially local, but not re-targetable per patch yet (local=False keeps it out of patch stages).
PAD = OpDef(name="PAD", no_dsp_why="data movement, no MACs", fb_options="PadOptions", arity=(2, 2, (None, 2), None), prepare=prepare, run=run, emit=emit, scratch=scratch_bytes,
            variants=(Variant("tiny_pad_s8"),), input_rect=pad_rect, data_inputs=lambda g, op: [0], backward="pad")
DEFS = [PAD]
