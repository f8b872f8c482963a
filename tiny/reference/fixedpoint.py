"""Integer arithmetic of TFLite Micro's quantized kernels, vectorised with numpy.

Every function mirrors the C helper of the same name in firmware/include/tiny/fixedpoint.h;
both follow gemmlowp/TFLite semantics (round half away from zero, truncating int64 division)."""
from __future__ import annotations

import math

import numpy as np

INT32_MIN = -(1 << 31)
INT32_MAX = (1 << 31) - 1


def quantize_multiplier(m: float) -> tuple[int, int]:
    """A real multiplier as (Q31 fixed-point multiplier, power-of-two shift), like TFLite's QuantizeMultiplier."""
    if m == 0.0:
        return 0, 0
    q, shift = math.frexp(m)
    q_fixed = int(_round_half_away(q * (1 << 31)))
    if q_fixed == (1 << 31):
        q_fixed //= 2
        shift += 1
    if shift < -31:
        shift, q_fixed = 0, 0
    # No cap at shift 30: that saturation only exists in TFLite's single-rounding build, and TFLM
    # is built with double rounding.
    return q_fixed, shift


def _round_half_away(x: float) -> float:
    return math.floor(x + 0.5) if x >= 0 else -math.floor(-x + 0.5)


def _trunc_div(a: np.ndarray, d: int) -> np.ndarray:
    """C-style integer division (toward zero) for int64 arrays."""
    q = np.abs(a) // d
    return np.where(a < 0, -q, q)


def saturating_rounding_doubling_high_mul(a: np.ndarray, b: np.ndarray | int) -> np.ndarray:
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    overflow = (a == INT32_MIN) & (b == INT32_MIN)
    ab = a * b
    nudge = np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    res = _trunc_div(ab + nudge, 1 << 31)
    return np.where(overflow, INT32_MAX, res).astype(np.int64)


def rounding_divide_by_pot(x: np.ndarray, exponent: np.ndarray | int) -> np.ndarray:
    x = np.asarray(x, dtype=np.int64)
    e = np.asarray(exponent, dtype=np.int64)
    mask = (np.int64(1) << e) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0)
    return (x >> e) + (remainder > threshold)


def multiply_by_quantized_multiplier(x: np.ndarray, multiplier: np.ndarray | int,
                                     shift: np.ndarray | int) -> np.ndarray:
    """TFLite's MultiplyByQuantizedMultiplier (double rounding, as TFLM builds it).

    `multiplier`/`shift` broadcast against `x` (per-channel: along the last axis)."""
    x = np.asarray(x, dtype=np.int64)
    shift = np.asarray(shift, dtype=np.int64)
    left = np.maximum(shift, 0)
    right = np.maximum(-shift, 0)
    # x * (1 << left) wraps in int32 in C (done there through uint32): wrap the same way here.
    shifted = ((x * (np.int64(1) << left)) + (1 << 31)) % (1 << 32) - (1 << 31)
    return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(shifted, multiplier), right)


def activation_range(activation: str, scale: float, zero_point: int, qmin: int = -128,
                     qmax: int = 127) -> tuple[int, int]:
    """Clamp bounds of a fused activation on a quantized output, as TFLite computes them
    (the division is done in float32, as TfLiteRound(f / scale) does on floats)."""
    def q(v: float) -> int:
        return zero_point + int(_round_half_away(float(np.float32(v) / np.float32(scale))))
    if activation == "NONE":
        return qmin, qmax
    if activation == "RELU":
        return max(qmin, q(0.0)), qmax
    if activation == "RELU6":
        return max(qmin, q(0.0)), min(qmax, q(6.0))
    if activation == "RELU_N1_TO_1":
        return max(qmin, q(-1.0)), min(qmax, q(1.0))
    raise ValueError(f"unsupported fused activation {activation}")
