"""QUANTIZE (float32 -> int8, int8 -> int8, uint8 <-> int8) and DEQUANTIZE (int8 -> float32), as TFLM.

TFLM (tensorflow/lite/micro/kernels/quantize_common.cc, dequantize*.cc, reference/quantize.h,
reference/requantize.h):
- float -> int8: round(x / float(scale)) in float32, rounding half away from zero, + zero point,
  clamped. (The float -> int32 cast is undefined in C beyond +-2**31; tiny saturates, as Arm does,
  and maps NaN to the zero point.)
- int8 -> int8, uint8 -> int8, int8 -> uint8 (a model converted with inference_input_type /
  inference_output_type uint8): MultiplyByQuantizedMultiplier(x - in_zp, QuantizeMultiplier(
  double(in_scale) / double(out_scale))) + out_zp, clamped to the output type. Requantize's fast
  path for equal scales and zero points 128 apart (x ^ 0x80) gives the same values: x - in_zp + out_zp
  is then x -+ 128, in range, and the multiplier (1 << 30, shift 1) multiplies by exactly 1.
- int8 -> float: float(double(scale) * (x - zp)). The product of a float32 scale and a 9-bit integer
  is exact in double, so a single float32 multiply rounds to the same value (the C kernel uses it).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from tiny.emit.ctx import EmitCtx
from tiny.ir import Graph, Op
from tiny.ops.base import Local, OpDef, Params, Variant, elementwise_rect
from tiny.ops.conv2d import op_error
from tiny.reference.fixedpoint import multiply_by_quantized_multiplier, quantize_multiplier


# (op, input dtype, output dtype) -> kind. TFLM's QUANTIZE also takes int16/int32 pairs, which tiny's
# int8 runtime has no use for; uint8 appears only at a model's edges (uint8 inference I/O types).
_KINDS = {("QUANTIZE", "float32", "int8"): "quantize", ("QUANTIZE", "int8", "int8"): "requantize",
          ("QUANTIZE", "uint8", "int8"): "requantize_u8_s8", ("QUANTIZE", "int8", "uint8"): "requantize_s8_u8",
          ("DEQUANTIZE", "int8", "float32"): "dequantize"}
# Output range of each requantizing kind (Requantize clamps to the output type's limits).
_OUT_RANGE = {"requantize": (-128, 127, np.int8), "requantize_u8_s8": (-128, 127, np.int8),
              "requantize_s8_u8": (0, 255, np.uint8)}


@dataclass(eq=False)
class QuantizeParams(Params):
    op: str
    index: int
    kind: str                   # "quantize" (f32 -> s8) | "requantize" (s8 -> s8) | "requantize_u8_s8"
                                # | "requantize_s8_u8" | "dequantize" (s8 -> f32)
    size: Any                   # element count (a C expression inside a patch stage)
    out_shape: Any
    scale: np.float32 = np.float32(0)
    zero_point: int = 0
    input_offset: int = 0
    output_offset: int = 0
    multiplier: int = 0
    shift: int = 0

    def localize(self, loc: Local) -> "QuantizeParams":
        return replace(self, out_shape=loc.out_shape, size=loc.size if loc.size is not None else self.size)


def prepare(g: Graph, op: Op) -> QuantizeParams:
    if len(op.inputs) != 1 or op.inputs[0] < 0:
        raise op_error(g, op, f"expects 1 input, got {len(op.inputs)}")
    x, y = g.tensors[op.inputs[0]], g.tensors[op.outputs[0]]
    kind = _KINDS.get((op.type, x.dtype, y.dtype))
    if kind is None:
        supported = ", ".join(f"{a}->{b}" for (o, a, b) in _KINDS if o == op.type)
        raise op_error(g, op, f"{x.dtype} '{x.name}' -> {y.dtype} is not supported (only {supported})")
    for t in (x, y):
        if t.dtype in ("int8", "uint8") and (t.quant is None or t.quant.per_channel):
            raise op_error(g, op, f"tensor '{t.name}' must be per-tensor quantized")
    p = QuantizeParams(op=op.type, index=op.index, kind=kind, size=y.size, out_shape=tuple(y.shape))
    if kind == "quantize":
        return replace(p, scale=np.float32(y.quant.s()), zero_point=y.quant.zp())
    if kind == "dequantize":
        return replace(p, scale=np.float32(x.quant.s()), zero_point=x.quant.zp())
    m, s = quantize_multiplier(float(x.quant.s()) / float(y.quant.s()))
    return replace(p, input_offset=-x.quant.zp(), output_offset=y.quant.zp(), multiplier=m, shift=s)


def run(p: QuantizeParams, inputs: list[np.ndarray | None]) -> np.ndarray:
    x = np.asarray(inputs[0])
    if p.kind == "quantize":
        q = (x.astype(np.float32) / p.scale).astype(np.float64)  # float32 division, as TFLM
        q = np.nan_to_num(q, nan=0.0, posinf=2.0**31, neginf=-2.0**31)  # NaN -> zero point, as the C kernel
        r = np.sign(q) * np.floor(np.abs(q) + 0.5)
        return np.clip(np.clip(r, -2.0**31, 2.0**31 - 1) + p.zero_point, -128, 127).astype(np.int8)
    if p.kind == "dequantize":
        return (np.float64(p.scale) * (x.astype(np.float64) - p.zero_point)).astype(np.float32)
    lo, hi, dt = _OUT_RANGE[p.kind]
    v = multiply_by_quantized_multiplier(x.astype(np.int64) + p.input_offset, p.multiplier, p.shift)
    return np.clip(v + p.output_offset, lo, hi).astype(dt)


def scratch_bytes(p: QuantizeParams) -> int:
    return 0


def _f32(v: np.float32) -> str:
    """An exact C float literal (hex notation: no decimal round trip to reason about)."""
    return float(v).hex() + "f"


def emit(p: QuantizeParams, e: EmitCtx, fn: str) -> str:
    if p.kind in _OUT_RANGE:
        params = e.struct("tiny_requantize_params", "params", {
            "input_offset": int(p.input_offset), "output_offset": int(p.output_offset),
            "multiplier": int(p.multiplier), "shift": int(p.shift)})
        return f"{fn}({params}, {e.inp(0)}, {e.out()}, {p['size']});"
    params = e.struct("tiny_affine_params", "params", {"scale": _f32(p.scale),
                                                       "zero_point": int(p.zero_point)})
    # size may be a C expression when the op runs patch by patch.
    return f"{fn}({params}, {e.inp(0)}, {e.out()}, {p['size']});"


QUANTIZE = OpDef(name="QUANTIZE", no_dsp_why="one requantization per element, no MACs", arity=(1, 1, (), None), prepare=prepare, run=run, emit=emit, scratch=scratch_bytes,
                 variants=(Variant("tiny_quantize_f32_s8", lambda p, t: p.kind == "quantize"),
                           Variant("tiny_requantize_s8", lambda p, t: p.kind == "requantize"),
                           Variant("tiny_requantize_u8_s8", lambda p, t: p.kind == "requantize_u8_s8"),
                           Variant("tiny_requantize_s8_u8", lambda p, t: p.kind == "requantize_s8_u8")),
                 input_rect=elementwise_rect, elementwise=True, local=True, io_convert=True)
DEQUANTIZE = OpDef(name="DEQUANTIZE", no_dsp_why="float conversion per element", arity=(1, 1, (), None), prepare=prepare, run=run, emit=emit, scratch=scratch_bytes,
                   variants=(Variant("tiny_dequantize_s8_f32"),), io_convert=True)
DEFS = [QUANTIZE, DEQUANTIZE]
