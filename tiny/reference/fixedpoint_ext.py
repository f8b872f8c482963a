"""gemmlowp fixed-point functions and TFLite Prepare-time helpers used by the element-wise ops.

Mirrors firmware/include/tiny/fixedpoint_ext.h function by function. Values are carried in int64
numpy arrays holding int32 (or int16) quantities; wherever the C code relies on two's-complement
wrap-around (plain gemmlowp Add/Sub on raw values, int16 stores), the wrap is made explicit here.
"""
from __future__ import annotations

import math

import numpy as np

from tiny.ir import Graph, IRError, Op
from tiny.reference.fixedpoint import (INT32_MAX, INT32_MIN, _round_half_away,
                                       quantize_multiplier, rounding_divide_by_pot,
                                       saturating_rounding_doubling_high_mul as srdhm)

# --------------------------------------------------------------------------- Prepare-time helpers


def op_error(g: Graph, op: Op, msg: str) -> IRError:
    """An IRError naming the op index, its type and its output tensor."""
    out = g.tensors[op.outputs[0]].name if op.outputs else "?"
    return IRError(f"op #{op.index} {op.type} (output '{out}'): {msg}")


def quantize_multiplier_smaller_than_one_exp(m: float) -> tuple[int, int] | None:
    """QuantizeMultiplierSmallerThanOneExp; None where TFLM's CHECKs would abort."""
    if not (0.0 < m < 1.0):
        return None
    q, shift = quantize_multiplier(m)
    return (q, shift) if shift <= 0 else None


def quantize_multiplier_greater_than_one(m: float) -> tuple[int, int] | None:
    """QuantizeMultiplierGreaterThanOne; None where TFLM's CHECKs would abort."""
    if not m > 1.0:
        return None
    q, shift = quantize_multiplier(m)
    return (q, shift) if shift >= 0 else None


def calculate_input_radius(input_integer_bits: int, input_left_shift: int,
                           total_signed_bits: int = 31) -> int:
    """TFLite's CalculateInputRadius (double arithmetic, floored)."""
    v = (1.0 * ((1 << input_integer_bits) - 1) * float(1 << (total_signed_bits - input_integer_bits))
         / math.ldexp(1.0, input_left_shift))
    return int(math.floor(v))


def activation_range_f32(activation: str, scale: float, zero_point: int,
                         qmin: int = -128, qmax: int = 127) -> tuple[int, int] | None:
    """CalculateActivationRangeQuantized: f / scale is a float32 division in TFLite.

    Returns None for activations TFLite cannot fuse into a quantized op (TANH, SIGN_BIT)."""
    s = np.float32(scale)

    def q(v: float) -> int:
        return zero_point + int(_round_half_away(float(np.float32(v) / s)))
    if activation == "NONE":
        return qmin, qmax
    if activation == "RELU":
        return max(qmin, q(0.0)), qmax
    if activation == "RELU6":
        return max(qmin, q(0.0)), min(qmax, q(6.0))
    if activation == "RELU_N1_TO_1":
        return max(qmin, q(-1.0)), min(qmax, q(1.0))
    return None


def per_tensor_int8(g: Graph, op: Op, tid: int, what: str) -> tuple[float, int]:
    """(float32 scale, zero point) of an int8 per-tensor-quantized tensor, else IRError."""
    t = g.tensors[tid]
    if t.dtype != "int8":
        raise op_error(g, op, f"{what} '{t.name}' is {t.dtype}; only int8 is supported")
    if t.quant is None or t.quant.scale.size == 0:
        raise op_error(g, op, f"{what} '{t.name}' is not quantized")
    if t.quant.per_channel:
        raise op_error(g, op, f"{what} '{t.name}' is per-channel quantized; expected per-tensor")
    return t.quant.s(), t.quant.zp()


# --------------------------------------------------------------------------- integer helpers

def wrap32(x: np.ndarray) -> np.ndarray:
    """Two's-complement wrap of int64 values to int32 (what a C int32 store does)."""
    x = np.asarray(x, dtype=np.int64)
    return ((x + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


def wrap16(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.int64)
    return ((x + (1 << 15)) & 0xFFFF) - (1 << 15)


def mbqm(x: np.ndarray, multiplier: int, shift: int) -> np.ndarray:
    """MultiplyByQuantizedMultiplier (int32 overload, double rounding) with the C wrap of x << left."""
    x = np.asarray(x, dtype=np.int64)
    left = max(shift, 0)
    right = max(-shift, 0)
    return rounding_divide_by_pot(srdhm(wrap32(x << left), multiplier), right)


def sat_rounding_mul_by_pot(x: np.ndarray, exponent: int) -> np.ndarray:
    """gemmlowp SaturatingRoundingMultiplyByPOT<exponent> on int32 raw values."""
    x = np.asarray(x, dtype=np.int64)
    if exponent == 0:
        return x
    if exponent < 0:
        return rounding_divide_by_pot(x, -exponent)
    threshold = (1 << (31 - exponent)) - 1
    return np.where(x > threshold, INT32_MAX, np.where(x < -threshold, INT32_MIN, x << exponent))


def rescale(x: np.ndarray, src_bits: int, dst_bits: int) -> np.ndarray:
    """gemmlowp Rescale<dst_bits> of a FixedPoint<int32, src_bits>."""
    return sat_rounding_mul_by_pot(x, src_bits - dst_bits)


def rounding_half_sum(a: np.ndarray, b: np.ndarray | int) -> np.ndarray:
    s = np.asarray(a, dtype=np.int64) + np.asarray(b, dtype=np.int64)
    sign = np.where(s >= 0, 1, -1)
    t = s + sign
    q = np.abs(t) // 2          # C division truncates toward zero
    return np.where(t < 0, -q, q)


# --------------------------------------------------------------------------- gemmlowp transcendental

_EXP_BARREL = ((-2, 1672461947), (-1, 1302514674), (0, 790015084), (1, 290630308),
               (2, 39332535), (3, 720401), (4, 242))


def exp_on_interval_between_negative_one_quarter_and_0_excl(a: np.ndarray) -> np.ndarray:
    """exp(a) for a in [-1/4, 0), Q0.31 in and out."""
    constant_term = 1895147668          # exp(-1/8)
    constant_1_over_3 = 715827883
    x = wrap32(np.asarray(a, dtype=np.int64) + (1 << 28))
    x2 = srdhm(x, x)
    x3 = srdhm(x2, x)
    x4 = srdhm(x2, x2)
    x4_over_4 = rounding_divide_by_pot(x4, 2)
    poly = rounding_divide_by_pot(wrap32(srdhm(wrap32(x4_over_4 + x3), constant_1_over_3) + x2), 1)
    return wrap32(constant_term + srdhm(constant_term, wrap32(x + poly)))


def exp_on_negative_values(a: np.ndarray, integer_bits: int) -> np.ndarray:
    """exp(a) for a <= 0 given as FixedPoint<int32, integer_bits>; result Q0.31."""
    a = np.asarray(a, dtype=np.int64)
    frac = 31 - integer_bits
    one_quarter = 1 << (frac - 2)
    a_mod_q_minus_q = wrap32((a & (one_quarter - 1)) - one_quarter)
    result = exp_on_interval_between_negative_one_quarter_and_0_excl(
        rescale(a_mod_q_minus_q, integer_bits, 0))
    remainder = wrap32(a_mod_q_minus_q - a)
    for exponent, multiplier in _EXP_BARREL:
        if integer_bits > exponent:
            bit = 1 << (frac + exponent)
            result = np.where((remainder & bit) != 0, srdhm(result, multiplier), result)
    if integer_bits > 5:
        clamp = -(1 << (36 - integer_bits))
        result = np.where(a < clamp, 0, result)
    return np.where(a == 0, INT32_MAX, result)


def one_over_one_plus_x_for_x_in_0_1(a: np.ndarray) -> np.ndarray:
    """1 / (1 + a) for a in [0, 1), Q0.31 in and out (Newton-Raphson, 3 steps)."""
    half_denominator = rounding_half_sum(a, INT32_MAX)
    c48_17 = 1515870810                 # 48/17 in Q2.29
    c_neg32_17 = -1010580540            # -32/17 in Q2.29
    one_q2 = 1 << 29
    x = wrap32(c48_17 + srdhm(half_denominator, c_neg32_17))
    for _ in range(3):
        half_denominator_times_x = srdhm(half_denominator, x)
        one_minus = wrap32(one_q2 - half_denominator_times_x)
        x = wrap32(x + rescale(srdhm(x, one_minus), 4, 2))
    return rescale(x, 1, 0)


def logistic(a: np.ndarray, integer_bits: int) -> np.ndarray:
    """gemmlowp::logistic of FixedPoint<int32, integer_bits>; result Q0.31."""
    a = np.asarray(a, dtype=np.int64)
    positive = a > 0
    abs_input = np.where(positive, a, wrap32(-a))
    pos = one_over_one_plus_x_for_x_in_0_1(exp_on_negative_values(wrap32(-abs_input), integer_bits))
    neg = wrap32(INT32_MAX - pos)
    return np.where(a == 0, 1 << 30, np.where(positive, pos, neg))


def get_reciprocal(x: np.ndarray, x_integer_digits: int) -> tuple[np.ndarray, np.ndarray]:
    """TFLite's GetReciprocal for positive x: (Q0.31 reciprocal scale, num_bits_over_unit)."""
    x = np.asarray(x, dtype=np.int64)
    ux = x & 0xFFFFFFFF
    # frexp is exact on integers below 2^53: its exponent is the bit length.
    clz = 32 - np.frexp(ux.astype(np.float64))[1].astype(np.int64)
    num_bits_over_unit = x_integer_digits - clz
    shifted_sum_minus_one = wrap32(((ux << clz) & 0xFFFFFFFF) - (1 << 31))
    return one_over_one_plus_x_for_x_in_0_1(shifted_sum_minus_one), num_bits_over_unit


# --------------------------------------------------------------------------- int16 helpers (hard swish)

def srdhm16(a: np.ndarray, b: np.ndarray | int) -> np.ndarray:
    """gemmlowp SaturatingRoundingDoublingHighMul for int16."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    overflow = (a == b) & (a == -32768)
    ab = a * b
    nudge = np.where(ab >= 0, 1 << 14, 1 - (1 << 14))
    t = ab + nudge
    q = np.abs(t) // (1 << 15)
    res = wrap16(np.where(t < 0, -q, q))
    return np.where(overflow, 32767, res)


def sdhm16(a: np.ndarray, b: np.ndarray | int) -> np.ndarray:
    """TFLite's SaturatingDoublingHighMul for int16 (truncates instead of rounding)."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    overflow = (a == b) & (a == -32768)
    ab = a * b
    q = np.abs(ab) // (1 << 15)
    res = wrap16(np.where(ab < 0, -q, q))
    return np.where(overflow, 32767, res)


def rounding_divide_by_pot16(x: np.ndarray, exponent: int) -> np.ndarray:
    """gemmlowp RoundingDivideByPOT<int16_t>: the mask is truncated to 16 bits, so exponents of
    16 and more behave differently from the int32 version (mask becomes -1)."""
    x = np.asarray(x, dtype=np.int64)
    mask = int(wrap16(np.int64((1 << exponent) - 1)))
    remainder = x & mask
    threshold = wrap16((mask >> 1) + (x < 0).astype(np.int64))
    return wrap16((x >> exponent) + (remainder > threshold).astype(np.int64))


def saturating_left_shift16(x: np.ndarray, amount: int) -> np.ndarray:
    return np.clip(np.asarray(x, dtype=np.int64) * (1 << amount), -32768, 32767)
