/* TANH int8 -> int8: the portable specification of tiny_tanh_s8 (TFLM's reference_integer_ops::Tanh).
 * Inputs beyond +-input_range_radius saturate; the others are rescaled into Q4.27 and passed through
 * gemmlowp::tanh, whose Q0.31 result is rounded to Q0.7. Parameters as LOGISTIC's. */
#include "tiny/kernels.h"
#include "tiny/fixedpoint_ext.h"

/* (1 - a) / (1 + a) for a in [0, 1), Q0.31: gemmlowp's Newton-Raphson division. */
static int32_t one_minus_x_over_one_plus_x_for_x_in_0_1(int32_t a) {
    const int32_t half_denominator = tiny_rounding_half_sum(a, INT32_MAX);
    int32_t x = tiny_wrap_add(1515870810, tiny_srdhm(half_denominator, -1010580540));
    for (int i = 0; i < 3; ++i) {
        const int32_t one_minus = tiny_wrap_sub((int32_t)1 << 29, tiny_srdhm(half_denominator, x));
        x = tiny_wrap_add(x, tiny_fx_rescale(tiny_srdhm(x, one_minus), 4, 2));
    }
    return tiny_fx_rescale(tiny_wrap_sub(x, (int32_t)1 << 29), 2, 0);
}

/* gemmlowp::tanh of FixedPoint<int32, integer_bits>: -|a| doubled (read as integer_bits + 1). */
static int32_t fx_tanh(int32_t a, int integer_bits) {
    const int32_t n = a < 0 ? a : tiny_wrap_sub(0, a);
    const int32_t t = one_minus_x_over_one_plus_x_for_x_in_0_1(tiny_exp_on_negative_values(n, integer_bits + 1));
    if (a == 0) return 0;
    return a < 0 ? tiny_wrap_sub(0, t) : t;
}

tiny_status tiny_tanh_s8(const tiny_logistic_params *params, int32_t size, const int8_t *in, int8_t *out) {
    if (!params || size < 0 || (size > 0 && (!in || !out))) return TINY_ERR_ARG;
    const int32_t radius = params->input_range_radius;
    for (int32_t i = 0; i < size; ++i) {
        const int32_t x = in[i] - params->input_zero_point;
        if (x <= -radius) {
            out[i] = -128;
        } else if (x >= radius) {
            out[i] = 127;
        } else {
            const int32_t q4 = tiny_requantize(x, params->input_multiplier, params->input_left_shift);
            out[i] = (int8_t)tiny_clamp(tiny_rounding_divide_by_pot(fx_tanh(q4, 4), 31 - 7), -128, 127);
        }
    }
    return TINY_OK;
}
