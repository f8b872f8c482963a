/* SOFTMAX int8 -> int8 over rows of row_size: the portable specification of tiny_softmax_s8.
 * TFLM's fixed-point algorithm: differences to the row maximum are scaled into Q5.26 (dropped
 * below diff_min), exp() values summed in Q12.19, the sum inverted with GetReciprocal, and each
 * exp * reciprocal rounded to the output (scale 1/256, zero point -128). */
#include "tiny/kernels.h"
#include "tiny/fixedpoint_ext.h"

#define SCALED_DIFF_INTEGER_BITS 5
#define ACCUMULATION_INTEGER_BITS 12

static int32_t scaled_exp(const tiny_softmax_params *p, int32_t diff) {
    /* MultiplyByQuantizedMultiplierGreaterThanOne; diff >= diff_min keeps diff << shift in range. */
    const int32_t x = (int32_t)((uint32_t)diff << p->input_left_shift);
    return tiny_exp_on_negative_values(tiny_srdhm(x, p->input_multiplier), SCALED_DIFF_INTEGER_BITS);
}

tiny_status tiny_softmax_s8(const tiny_softmax_params *params, int32_t num_rows, int32_t row_size,
                            const int8_t *in, int8_t *out) {
    if (!params || !in || !out || num_rows < 0 || row_size < 0) return TINY_ERR_ARG;
    if (params->input_left_shift < 0 || params->input_left_shift > 31) return TINY_ERR_ARG;
    for (int32_t r = 0; r < num_rows; ++r, in += row_size, out += row_size) {
        int32_t max = -128;
        for (int32_t i = 0; i < row_size; ++i) max = in[i] > max ? in[i] : max;
        int32_t sum = 0;
        for (int32_t i = 0; i < row_size; ++i) {
            const int32_t diff = in[i] - max;
            if (diff >= params->diff_min) {
                sum = tiny_wrap_add(sum, tiny_rounding_divide_by_pot(scaled_exp(params, diff),
                                                                     ACCUMULATION_INTEGER_BITS));
            }
        }
        int bits_over_unit;
        const int32_t recip = tiny_get_reciprocal(sum, ACCUMULATION_INTEGER_BITS, &bits_over_unit);
        const int exponent = bits_over_unit + 31 - 8;
        for (int32_t i = 0; i < row_size; ++i) {
            const int32_t diff = in[i] - max;
            if (diff >= params->diff_min) {
                /* TFLM aborts when exponent > 31 (>= 512 entries at the maximum); the quotient of
                 * a value below 2^31 by 2^32 or more rounds to 0. */
                const int32_t unsat = exponent > 31 ? 0 :
                    tiny_rounding_divide_by_pot(tiny_srdhm(recip, scaled_exp(params, diff)), exponent);
                out[i] = (int8_t)tiny_clamp(unsat - 128, -128, 127);
            } else {
                out[i] = -128;
            }
        }
    }
    return TINY_OK;
}
