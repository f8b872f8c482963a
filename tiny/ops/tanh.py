"""TANH (int8 in, int8 out), bit-exact with TFLite Micro (micro/kernels/tanh.cc ->
reference_integer_ops::Tanh).

Prepare is LOGISTIC's (tiny/reference/logistic.py): (x - zp) rescaled into Q4.27 by a multiplier
taken straight from frexp, inputs beyond CalculateInputRadius(4, shift) saturating to -128 / 127.
The value is gemmlowp::tanh: -|a| doubled (ExactMulByPot<1>: the raw value read as Q5.26) through
exp_on_negative_values, then (1 - e) / (1 + e) by Newton-Raphson, signed back; Q0.31 is rounded to
Q0.7 (RoundingDivideByPOT by 24). TFLM checks nothing about the int8 output quantization."""
from __future__ import annotations

from dataclasses import dataclass
import math
from typing import Any

import numpy as np

from tiny.emit.ctx import EmitCtx
from tiny.ir import Graph, Op
from tiny.ops.base import OpDef, Params, Variant, elementwise_rect, lut_variant, same_shape_input
from tiny.reference.fixedpoint import rounding_divide_by_pot, saturating_rounding_doubling_high_mul as srdhm
from tiny.reference.fixedpoint_ext import (INT32_MAX, calculate_input_radius, exp_on_negative_values, mbqm,
                                           op_error, per_tensor_int8, rescale, rounding_half_sum, wrap32)



@dataclass(eq=False)
class TanhParams(Params):
    op: str
    index: int
    input_zero_point: int
    input_range_radius: int
    input_multiplier: int
    input_left_shift: int
    out_shape: Any

INPUT_INTEGER_BITS = 4
PARAM_FIELDS = ("input_zero_point", "input_range_radius", "input_multiplier", "input_left_shift")


def prepare(g: Graph, op: Op) -> TanhParams:
    s_in, z_in = per_tensor_int8(g, op, op.inputs[0], "input")
    per_tensor_int8(g, op, op.outputs[0], "output")
    q, left_shift = math.frexp(float(s_in) * float(1 << (31 - INPUT_INTEGER_BITS)))
    multiplier = int(math.floor(q * (1 << 31) + 0.5))
    radius = calculate_input_radius(INPUT_INTEGER_BITS, left_shift, 31)
    if multiplier >= (1 << 31) or left_shift < -31 or radius > INT32_MAX:
        raise op_error(g, op, f"input scale {s_in:g} cannot be represented by TFLM's tanh multiplier")
    return TanhParams(op=op.type, index=op.index, input_zero_point=z_in, input_range_radius=radius,
                      input_multiplier=multiplier, input_left_shift=left_shift,
                      out_shape=tuple(g.tensors[op.outputs[0]].shape))


def one_minus_x_over_one_plus_x_for_x_in_0_1(a: np.ndarray) -> np.ndarray:
    """(1 - a) / (1 + a) for a in [0, 1), Q0.31 (gemmlowp: Newton-Raphson, 3 steps)."""
    half_denominator = rounding_half_sum(a, INT32_MAX)
    x = wrap32(1515870810 + srdhm(half_denominator, -1010580540))      # 48/17 - 32/17 * d, Q2.29
    for _ in range(3):
        one_minus = wrap32((1 << 29) - srdhm(half_denominator, x))
        x = wrap32(x + rescale(srdhm(x, one_minus), 4, 2))
    return rescale(wrap32(x - (1 << 29)), 2, 0)


def fx_tanh(a: np.ndarray, integer_bits: int) -> np.ndarray:
    """gemmlowp::tanh of FixedPoint<int32, integer_bits>; result Q0.31."""
    a = np.asarray(a, dtype=np.int64)
    n = np.where(a < 0, a, wrap32(-a))
    t = one_minus_x_over_one_plus_x_for_x_in_0_1(exp_on_negative_values(n, integer_bits + 1))
    return np.where(a == 0, 0, np.where(a < 0, wrap32(-t), t))


def table(p: TanhParams) -> np.ndarray:
    """Output for every int8 input value, indexed by value + 128."""
    x = np.arange(-128, 128, dtype=np.int64) - p.input_zero_point
    r = p.input_range_radius
    inside = (x > -r) & (x < r)
    q4 = mbqm(np.where(inside, x, 0), p.input_multiplier, min(p.input_left_shift, 31))
    y = np.clip(rounding_divide_by_pot(fx_tanh(q4, INPUT_INTEGER_BITS), 31 - 7), -128, 127)
    return np.where(x <= -r, -128, np.where(x >= r, 127, y)).astype(np.int8)


def run(p: TanhParams, inputs: list[np.ndarray | None]) -> np.ndarray:
    return table(p)[np.asarray(inputs[0], dtype=np.int64) + 128].reshape(p.out_shape)


def scratch_bytes(p: TanhParams) -> int:
    return 0


def emit(p: TanhParams, e: EmitCtx, fn: str) -> str:
    params = e.struct("tiny_logistic_params", "params", {k: int(getattr(p, k)) for k in PARAM_FIELDS})
    return f"{fn}({params}, {e.size(p.out_shape)}, {e.inp(0)}, {e.out()});"


TANH = OpDef(name="TANH", arity=(1, 1, (), None), prepare=prepare, run=run, emit=emit, scratch=scratch_bytes,
             variants=(lut_variant("TANH", table), Variant("tiny_tanh_s8")),
             input_rect=elementwise_rect, elementwise=True, local=True, inplace=same_shape_input,
             backward="tanh")
DEFS = [TANH]
