/* QUANTIZE: float32 -> int8, and int8 -> int8 / uint8 -> int8 / int8 -> uint8 (requantize), as
 * TFLM's AffineQuantize / Requantize. */
#include "tiny/kernels.h"
#include "tiny/fixedpoint.h"

tiny_status tiny_requantize_s8(const tiny_requantize_params *params, const int8_t *input,
                               int8_t *output, int32_t size) {
    if (!params || size < 0 || (size > 0 && (!input || !output))) return TINY_ERR_ARG;
    for (int32_t i = 0; i < size; ++i) {
        const int32_t v = tiny_requantize((int32_t)input[i] + params->input_offset, params->multiplier,
                                          params->shift) + params->output_offset;
        output[i] = (int8_t)tiny_clamp(v, -128, 127);
    }
    return TINY_OK;
}

/* uint8 <-> int8 at a model's edges (uint8 inference I/O). TFLM's fast path for equal scales and
 * zero points 128 apart (x ^ 0x80) is this same arithmetic's result, so there is one loop. */
tiny_status tiny_requantize_u8_s8(const tiny_requantize_params *params, const uint8_t *input,
                                  int8_t *output, int32_t size) {
    if (!params || size < 0 || (size > 0 && (!input || !output))) return TINY_ERR_ARG;
    for (int32_t i = 0; i < size; ++i) {
        const int32_t v = tiny_requantize((int32_t)input[i] + params->input_offset, params->multiplier,
                                          params->shift) + params->output_offset;
        output[i] = (int8_t)tiny_clamp(v, -128, 127);
    }
    return TINY_OK;
}

tiny_status tiny_requantize_s8_u8(const tiny_requantize_params *params, const int8_t *input,
                                  uint8_t *output, int32_t size) {
    if (!params || size < 0 || (size > 0 && (!input || !output))) return TINY_ERR_ARG;
    for (int32_t i = 0; i < size; ++i) {
        const int32_t v = tiny_requantize((int32_t)input[i] + params->input_offset, params->multiplier,
                                          params->shift) + params->output_offset;
        output[i] = (uint8_t)tiny_clamp(v, 0, 255);
    }
    return TINY_OK;
}

/* std::round on a float without libm: truncate, then step away from zero on a half or more.
 * x - trunc(x) is exact in float (Sterbenz), so this is exactly roundf(x) for |x| < 2**31. */
static int32_t round_half_away(float x) {
    const int32_t t = (int32_t)x;
    const float frac = x - (float)t;
    if (frac >= 0.5f) return t + 1;
    if (frac <= -0.5f) return t - 1;
    return t;
}

tiny_status tiny_quantize_f32_s8(const tiny_affine_params *params, const float *input, int8_t *output,
                                 int32_t size) {
    if (!params || size < 0 || (size > 0 && (!input || !output))) return TINY_ERR_ARG;
    for (int32_t i = 0; i < size; ++i) {
        float q = input[i] / params->scale;
        /* Saturate before converting: the result is clamped to int8 anyway, and an out-of-range
         * float -> int conversion is undefined in C. NaN compares false and lands on 0. */
        if (q > 1000.0f) q = 1000.0f;
        if (q < -1000.0f) q = -1000.0f;
        if (!(q == q)) q = 0.0f;
        output[i] = (int8_t)tiny_clamp(round_half_away(q) + params->zero_point, -128, 127);
    }
    return TINY_OK;
}
