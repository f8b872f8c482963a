"""LOGISTIC (int8 in, int8 out), bit-exact with TFLite Micro.

TFLM rescales (x - zp) into Q4.27 with a multiplier taken straight from frexp (no
QuantizeMultiplier fix-ups), saturates inputs beyond the radius CalculateInputRadius(4, shift)
to -128 / 127, evaluates gemmlowp::logistic and rounds Q0.31 to 8 bits. The output must have
zero point -128 (TFLM's Prepare checks only that, not the scale).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from tiny.emit.ctx import EmitCtx
from tiny.ir import Graph, Op
from tiny.reference.fixedpoint import rounding_divide_by_pot
from tiny.reference.fixedpoint_ext import (calculate_input_radius, logistic, mbqm, op_error,
                                           per_tensor_int8)

from tiny.ops.base import OpDef, Params, Variant, elementwise_rect, lut_variant, same_shape_input


@dataclass(eq=False)
class LogisticParams(Params):
    input_zero_point: int
    input_range_radius: int
    input_multiplier: int
    input_left_shift: int
    out_shape: Any

INPUT_INTEGER_BITS = 4


def prepare(g: Graph, op: Op) -> LogisticParams:
    s_in, z_in = per_tensor_int8(g, op, op.inputs[0], "input")
    _, z_out = per_tensor_int8(g, op, op.outputs[0], "output")
    if z_out != -128:
        raise op_error(g, op, f"int8 output must have zero point -128 (got {z_out}); TFLM rejects it")
    real = float(s_in) * float(1 << (31 - INPUT_INTEGER_BITS))
    q, left_shift = math.frexp(real)
    multiplier = int(math.floor(q * (1 << 31) + 0.5))
    if multiplier >= (1 << 31) or left_shift < -31:
        # TFLM casts 2^31 to int32 (undefined) or shifts right by more than 31: no defined result.
        raise op_error(g, op, f"input scale {s_in:g} cannot be represented by TFLM's logistic "
                              "multiplier")
    radius = calculate_input_radius(INPUT_INTEGER_BITS, left_shift, 31)
    if radius > (1 << 31) - 1:
        # TFLM converts the radius to int: out of range it is undefined (INT_MIN on x86, which
        # saturates every output to 127), so refuse scales this small (< 2^-28).
        raise op_error(g, op, f"input scale {s_in:g} is too small for TFLM's logistic")
    return LogisticParams(input_zero_point=z_in, input_range_radius=radius, input_multiplier=multiplier,
                          input_left_shift=left_shift, out_shape=tuple(g.tensors[op.outputs[0]].shape))


def table(p: LogisticParams) -> np.ndarray:
    """Output for every int8 input value, indexed by value + 128 (the op is element-wise)."""
    x = np.arange(-128, 128, dtype=np.int64) - p.input_zero_point
    r = p.input_range_radius
    inside = (x > -r) & (x < r)
    # Only in-range values are rescaled (as in TFLM): outside, x << shift could overflow.
    q4 = mbqm(np.where(inside, x, 0), p.input_multiplier, min(p.input_left_shift, 31))
    y = rounding_divide_by_pot(logistic(q4, INPUT_INTEGER_BITS), 31 - 8) - 128
    y = np.clip(y, -128, 127)
    return np.where(x <= -r, -128, np.where(x >= r, 127, y)).astype(np.int8)


def run(p: LogisticParams, inputs: list[np.ndarray | None]) -> np.ndarray:
    x = np.asarray(inputs[0], dtype=np.int64)
    return table(p)[x + 128].reshape(p.out_shape)


def scratch_bytes(p: LogisticParams) -> int:
    return 0


# Field order of tiny_logistic_params in kernels_elementwise.h (all int32).
PARAM_FIELDS = ("input_zero_point", "input_range_radius", "input_multiplier", "input_left_shift")


def emit(p: LogisticParams, e: EmitCtx, fn: str) -> str:
    params = e.struct("tiny_logistic_params", "params", {k: int(getattr(p, k)) for k in PARAM_FIELDS})
    size = e.size(p.out_shape)  # an expression for patch-local extents
    return f"{fn}({params}, {size}, {e.inp(0)}, {e.out()});"


LOGISTIC = OpDef(name="LOGISTIC", arity=(1, 1, (), None), prepare=prepare, run=run, emit=emit, scratch=scratch_bytes,
                 variants=(lut_variant("LOGISTIC", table), Variant("tiny_logistic_s8")),
                 input_rect=elementwise_rect, elementwise=True, local=True, inplace=same_shape_input,
                 backward="logistic")
DEFS = [LOGISTIC]
