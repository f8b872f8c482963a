/* LOGISTIC int8 -> int8: the portable specification of tiny_logistic_s8.
 * As TFLM: inputs beyond +-input_range_radius saturate; the others are rescaled into Q4.27,
 * passed through gemmlowp::logistic and rounded from Q0.31 to the output (zero point -128). */
#include "tiny/kernels.h"
#include "tiny/fixedpoint_ext.h"

tiny_status tiny_logistic_s8(const tiny_logistic_params *params, int32_t size, const int8_t *in,
                             int8_t *out) {
    if (!params || !in || !out || size < 0) return TINY_ERR_ARG;
    const int32_t radius = params->input_range_radius;
    for (int32_t i = 0; i < size; ++i) {
        const int32_t x = in[i] - params->input_zero_point;
        if (x <= -radius) {
            out[i] = -128;
        } else if (x >= radius) {
            out[i] = 127;
        } else {
            /* |x| < radius keeps x << shift inside int32, and radius 0 (shift > 30) never gets here. */
            const int32_t q4 = tiny_requantize(x, params->input_multiplier, params->input_left_shift);
            const int32_t q0 = tiny_fx_logistic(q4, 4);
            out[i] = (int8_t)tiny_clamp(tiny_rounding_divide_by_pot(q0, 31 - 8) - 128, -128, 127);
        }
    }
    return TINY_OK;
}
