"""SUB (int8, broadcasting, fused activation), bit-exact with TFLite Micro (micro/kernels/sub*.cc).

As ADD (tiny/reference/add.py: left_shift 20, three QuantizeMultiplierSmallerThanOneExp rescales,
numpy broadcasting) with the scaled inputs subtracted. One difference in Prepare: TFLM's SUB keeps
twice_max_input_scale in float32 and divides in float32 before widening to double (ADD divides in
double), so the multipliers are computed from float32 quotients here."""
from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from tiny.emit.ctx import EmitCtx
from tiny.ir import Graph, Op
from tiny.ops.add import (LEFT_SHIFT, PARAM_FIELDS, AddParams, _scale_down, binary_common, binary_inplace,
                          binary_operands, binary_options, elementwise_macs)
from tiny.ops.base import OpDef, Variant, elementwise_rect
from tiny.reference.fixedpoint_ext import op_error, quantize_multiplier_smaller_than_one_exp



def prepare(g: Graph, op: Op) -> AddParams:
    p = AddParams(**binary_common(g, op))
    s1, s2, so = (np.float32(s) for s in p.scales)
    z1, z2, zo = p.zero_points
    twice = np.float32(2) * max(s1, s2)
    m1 = quantize_multiplier_smaller_than_one_exp(float(s1 / twice))
    m2 = quantize_multiplier_smaller_than_one_exp(float(s2 / twice))
    mo = quantize_multiplier_smaller_than_one_exp(float(twice / (np.float32(1 << LEFT_SHIFT) * so)))
    if m1 is None or m2 is None or mo is None:
        raise op_error(g, op, f"scales in1={s1:g}, in2={s2:g}, out={so:g} give a rescale multiplier "
                              "outside (0, 1); TFLM rejects this quantization")
    return replace(p, in1_offset=-z1, in2_offset=-z2, left_shift=LEFT_SHIFT,
                   in1_multiplier=m1[0], in1_shift=m1[1], in2_multiplier=m2[0], in2_shift=m2[1],
                   out_multiplier=mo[0], out_shift=mo[1], out_offset=zo)


def run(p: AddParams, inputs: list[np.ndarray | None]) -> np.ndarray:
    d1, d2, _ = p.dims
    a = np.asarray(inputs[0], dtype=np.int64).reshape(d1)
    b = np.asarray(inputs[1], dtype=np.int64).reshape(d2)
    x1 = _scale_down((a + p.in1_offset) << p.left_shift, p.in1_multiplier, p.in1_shift)
    x2 = _scale_down((b + p.in2_offset) << p.left_shift, p.in2_multiplier, p.in2_shift)
    raw = _scale_down(x1 - x2, p.out_multiplier, p.out_shift) + p.out_offset
    return np.clip(raw, p.act_min, p.act_max).astype(np.int8).reshape(p.out_shape)


def scratch_bytes(p: AddParams) -> int:
    return 0


def emit(p: AddParams, e: EmitCtx, fn: str) -> str:
    params = e.struct("tiny_add_params", "params", {k: int(getattr(p, k)) for k in PARAM_FIELDS})
    in1, in2 = binary_operands(p, e)
    d1, d2, do = p.dims
    return f"{fn}({params}, {e.dims(d1)}, {in1}, {e.dims(d2)}, {in2}, {e.dims(do)}, {e.out()});"


SUB = OpDef(name="SUB", fb_options="SubOptions", arity=(2, 2, (), None), options=binary_options, prepare=prepare,
            run=run, emit=emit, scratch=scratch_bytes, variants=(Variant("tiny_sub_s8"),), macs=elementwise_macs,
            input_rect=elementwise_rect, elementwise=True, local=True, inplace=binary_inplace, backward="sub")
DEFS = [SUB]
