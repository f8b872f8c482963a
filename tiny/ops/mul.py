"""MUL (int8, broadcasting, fused activation), bit-exact with TFLite Micro.

One multiplier s1 * s2 / s_out (double from float32 scales, QuantizeMultiplier, may shift left)
applied to the product of the zero-point-corrected inputs. MobileNetV3's squeeze-excite multiplies
[1,H,W,C] by [1,1,1,C]; the hard-sigmoid's "* 1/6" arrives as a scalar constant operand.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from tiny.emit.ctx import EmitCtx
from tiny.ir import Graph, Op
from tiny.ops.add import BinaryParams, binary_common, binary_operands, binary_options, elementwise_macs
from tiny.ops.base import OpDef, Variant, elementwise_rect
from tiny.reference.fixedpoint_ext import mbqm, op_error, quantize_multiplier



@dataclass(eq=False)
class MulParams(BinaryParams):
    pass


def prepare(g: Graph, op: Op) -> MulParams:
    p = MulParams(**binary_common(g, op))
    s1, s2, so = p.scales
    z1, z2, zo = p.zero_points
    real = float(s1) * float(s2) / float(so)
    m, shift = quantize_multiplier(real)
    if shift > 30:
        # x << 31 and beyond is undefined in TFLM's C++; no sane model gets here.
        raise op_error(g, op, f"scales in1={s1:g}, in2={s2:g}, out={so:g} give a multiplier of "
                              f"{real:g}, too large to apply")
    return replace(p, in1_offset=-z1, in2_offset=-z2, out_offset=zo, out_multiplier=m, out_shift=shift)


def run(p: MulParams, inputs: list[np.ndarray | None]) -> np.ndarray:
    d1, d2, _ = p.dims
    a = np.asarray(inputs[0], dtype=np.int64).reshape(d1) + p.in1_offset
    b = np.asarray(inputs[1], dtype=np.int64).reshape(d2) + p.in2_offset
    raw = mbqm(a * b, p.out_multiplier, p.out_shift) + p.out_offset
    return np.clip(raw, p.act_min, p.act_max).astype(np.int8).reshape(p.out_shape)


def scratch_bytes(p: MulParams) -> int:
    return 0


# Field order of tiny_mul_params in kernels_elementwise.h (all int32).
PARAM_FIELDS = ("in1_offset", "in2_offset", "out_offset", "out_multiplier", "out_shift",
                "act_min", "act_max")


def emit(p: MulParams, e: EmitCtx, fn: str) -> str:
    params = e.struct("tiny_mul_params", "params", {k: int(getattr(p, k)) for k in PARAM_FIELDS})
    in1, in2 = binary_operands(p, e)
    d1, d2, do = p.dims
    return (f"{fn}({params}, {e.dims(d1)}, {in1}, {e.dims(d2)}, {in2}, "
            f"{e.dims(do)}, {e.out()});")


def _vector(d: tuple, out: tuple) -> bool:
    """[1,1,1,C] with the output's C, or a scalar."""
    return tuple(d[:3]) == (1, 1, 1) and d[3] in (out[3], 1)


def dsp_layout(p: MulParams) -> bool:
    """The layouts tiny_mul_s8_dsp runs itself: equal shapes, or one operand full and the other a
    per-channel vector or a scalar (== same()/vec() in mul_s8_dsp.c)."""
    try:
        d1, d2, do = (tuple(int(v) for v in d) for d in p.dims)
    except (TypeError, ValueError):
        return not p.broadcasts
    return (d1 == do and (d2 == do or _vector(d2, do))) or (d2 == do and _vector(d1, do))


def dsp_params(p: MulParams) -> bool:
    """The fast path's quantization (TFLite's usual: a multiplier below 1, no left shift)."""
    return (p.out_multiplier >= 0 and -22 <= p.out_shift <= -1 and -128 <= p.in1_offset <= 128
            and -128 <= p.in2_offset <= 128 and -128 <= p.out_offset <= 127)


def portable_why(p: MulParams) -> str:
    if not dsp_layout(p):
        return "broadcast other than a per-channel [1,1,1,C] or scalar operand"
    return f"output shift {p.out_shift} outside the DSP kernel's [-22, -1]"


MUL = OpDef(name="MUL", fb_options="MulOptions", arity=(2, 2, (), None), options=binary_options, prepare=prepare, run=run, emit=emit, scratch=scratch_bytes,
            variants=(Variant("tiny_mul_s8_dsp", lambda p, t: dsp_layout(p) and dsp_params(p), dsp=True),
                      Variant("tiny_mul_s8")),
            portable_why=portable_why, macs=elementwise_macs, input_rect=elementwise_rect,
            elementwise=True, local=True, color="#16a085", backward="mul")
DEFS = [MUL]
