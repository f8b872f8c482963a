/* gemmlowp fixed-point functions used by softmax, logistic and hard swish (gemmlowp/TFLite
 * semantics). Mirrors tiny/reference/fixedpoint_ext.py function by function.
 * Raw values are int32 (or int16) fixed-point numbers with a given number of integer bits;
 * plain gemmlowp additions wrap, so they are done in uint32 to stay defined in C. */
#ifndef TINY_FIXEDPOINT_EXT_H
#define TINY_FIXEDPOINT_EXT_H
#include <stdint.h>
#include "tiny/fixedpoint.h"

static inline int32_t tiny_wrap_add(int32_t a, int32_t b) { return (int32_t)((uint32_t)a + (uint32_t)b); }
static inline int32_t tiny_wrap_sub(int32_t a, int32_t b) { return (int32_t)((uint32_t)a - (uint32_t)b); }

/* MultiplyByQuantizedMultiplier (double rounding); x << left wraps as on the target. */
static inline int32_t tiny_mbqm(int32_t x, int32_t multiplier, int32_t shift) {
    return tiny_requantize(x, multiplier, shift);
}

/* SaturatingRoundingMultiplyByPOT<exponent>, exponent in [-31, 31]. */
static inline int32_t tiny_sat_rounding_mul_by_pot(int32_t x, int exponent) {
    if (exponent == 0) return x;
    if (exponent < 0) return tiny_rounding_divide_by_pot(x, -exponent);
    {
        const int32_t threshold = (int32_t)(((int64_t)1 << (31 - exponent)) - 1);
        if (x > threshold) return INT32_MAX;
        if (x < -threshold) return INT32_MIN;
        return (int32_t)((uint32_t)x << exponent);
    }
}

/* Rescale<dst_bits> of a FixedPoint<int32, src_bits>. */
static inline int32_t tiny_fx_rescale(int32_t x, int src_bits, int dst_bits) {
    return tiny_sat_rounding_mul_by_pot(x, src_bits - dst_bits);
}

static inline int32_t tiny_rounding_half_sum(int32_t a, int32_t b) {
    const int64_t sum = (int64_t)a + (int64_t)b;
    const int64_t sign = sum >= 0 ? 1 : -1;
    return (int32_t)((sum + sign) / 2);
}

/* exp(a) for a in [-1/4, 0), Q0.31 in and out. */
static inline int32_t tiny_exp_on_interval_between_negative_one_quarter_and_0_excl(int32_t a) {
    const int32_t constant_term = 1895147668;   /* exp(-1/8) */
    const int32_t constant_1_over_3 = 715827883;
    const int32_t x = tiny_wrap_add(a, 1 << 28);
    const int32_t x2 = tiny_srdhm(x, x);
    const int32_t x3 = tiny_srdhm(x2, x);
    const int32_t x4 = tiny_srdhm(x2, x2);
    const int32_t x4_over_4 = tiny_rounding_divide_by_pot(x4, 2);
    const int32_t poly = tiny_rounding_divide_by_pot(
        tiny_wrap_add(tiny_srdhm(tiny_wrap_add(x4_over_4, x3), constant_1_over_3), x2), 1);
    return tiny_wrap_add(constant_term, tiny_srdhm(constant_term, tiny_wrap_add(x, poly)));
}

/* exp(a) for a <= 0 given as FixedPoint<int32, integer_bits> (integer_bits in 1..30); Q0.31. */
static inline int32_t tiny_exp_on_negative_values(int32_t a, int integer_bits) {
    static const int32_t barrel[7] = {1672461947, 1302514674, 790015084, 290630308,
                                      39332535, 720401, 242};
    const int frac = 31 - integer_bits;
    const int32_t one_quarter = (int32_t)1 << (frac - 2);
    const int32_t a_mod_q_minus_q = tiny_wrap_sub(a & (one_quarter - 1), one_quarter);
    int32_t result = tiny_exp_on_interval_between_negative_one_quarter_and_0_excl(
        tiny_fx_rescale(a_mod_q_minus_q, integer_bits, 0));
    const int32_t remainder = tiny_wrap_sub(a_mod_q_minus_q, a);
    int k;
    for (k = 0; k < 7; ++k) {
        const int exponent = k - 2;
        if (integer_bits > exponent) {
            if ((uint32_t)remainder & ((uint32_t)1 << (frac + exponent))) {
                result = tiny_srdhm(result, barrel[k]);
            }
        }
    }
    if (integer_bits > 5) {
        const int32_t clamp = -((int32_t)1 << (36 - integer_bits));
        if (a < clamp) result = 0;
    }
    return a == 0 ? INT32_MAX : result;
}

/* 1 / (1 + a) for a in [0, 1), Q0.31 in and out. */
static inline int32_t tiny_one_over_one_plus_x_for_x_in_0_1(int32_t a) {
    const int32_t half_denominator = tiny_rounding_half_sum(a, INT32_MAX);
    const int32_t c48_17 = 1515870810;       /* 48/17 in Q2.29 */
    const int32_t c_neg32_17 = -1010580540;  /* -32/17 in Q2.29 */
    int32_t x = tiny_wrap_add(c48_17, tiny_srdhm(half_denominator, c_neg32_17));
    int i;
    for (i = 0; i < 3; ++i) {
        const int32_t half_denominator_times_x = tiny_srdhm(half_denominator, x);
        const int32_t one_minus = tiny_wrap_sub((int32_t)1 << 29, half_denominator_times_x);
        x = tiny_wrap_add(x, tiny_fx_rescale(tiny_srdhm(x, one_minus), 4, 2));
    }
    return tiny_fx_rescale(x, 1, 0);
}

/* gemmlowp::logistic of FixedPoint<int32, integer_bits>; Q0.31 result. */
static inline int32_t tiny_fx_logistic(int32_t a, int integer_bits) {
    const int32_t abs_input = a > 0 ? a : tiny_wrap_sub(0, a);
    const int32_t pos = tiny_one_over_one_plus_x_for_x_in_0_1(
        tiny_exp_on_negative_values(tiny_wrap_sub(0, abs_input), integer_bits));
    if (a == 0) return (int32_t)1 << 30;
    return a > 0 ? pos : tiny_wrap_sub(INT32_MAX, pos);
}

static inline int tiny_clz32(uint32_t x) {
    int n = 0;
    if (x == 0) return 32;
    while (!(x & 0x80000000u)) {
        x <<= 1;
        ++n;
    }
    return n;
}

/* TFLite's GetReciprocal: 1/x as a Q0.31 scale plus the number of bits x has above 1.0. */
static inline int32_t tiny_get_reciprocal(int32_t x, int x_integer_digits, int *num_bits_over_unit) {
    const int headroom_plus_one = tiny_clz32((uint32_t)x);
    const int32_t shifted_sum_minus_one =
        (int32_t)(((uint32_t)x << headroom_plus_one) - ((uint32_t)1 << 31));
    *num_bits_over_unit = x_integer_digits - headroom_plus_one;
    return tiny_one_over_one_plus_x_for_x_in_0_1(shifted_sum_minus_one);
}

/* ---- int16 helpers (hard swish). Conversions to int16_t wrap modulo 2^16 (GCC semantics). */

static inline int16_t tiny_srdhm16(int16_t a, int16_t b) {
    const int32_t ab = (int32_t)a * (int32_t)b;
    const int32_t nudge = ab >= 0 ? (1 << 14) : (1 - (1 << 14));
    if (a == b && a == INT16_MIN) return INT16_MAX;
    return (int16_t)((ab + nudge) / (1 << 15));
}

/* SaturatingDoublingHighMul: like tiny_srdhm16 but truncating. */
static inline int16_t tiny_sdhm16(int16_t a, int16_t b) {
    const int32_t ab = (int32_t)a * (int32_t)b;
    if (a == b && a == INT16_MIN) return INT16_MAX;
    return (int16_t)(ab / (1 << 15));
}

/* gemmlowp RoundingDivideByPOT<int16_t>, exponent in [0, 31]: the mask is truncated to 16 bits. */
static inline int16_t tiny_rounding_divide_by_pot16(int16_t x, int exponent) {
    const int16_t mask = (int16_t)(((int64_t)1 << exponent) - 1);
    const int16_t remainder = (int16_t)(x & mask);
    const int16_t threshold = (int16_t)((mask >> 1) + (x < 0 ? 1 : 0));
    return (int16_t)((x >> exponent) + (remainder > threshold ? 1 : 0));
}

static inline int16_t tiny_saturating_left_shift16(int16_t x, int amount) {
    const int64_t r = (int64_t)x * ((int64_t)1 << amount);
    return (int16_t)(r > INT16_MAX ? INT16_MAX : (r < INT16_MIN ? INT16_MIN : r));
}
#endif
