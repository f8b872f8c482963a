/* QUANTIZE: float32 -> int8, and int8 -> int8 / uint8 -> int8 / int8 -> uint8 (requantize), as
 * TFLM's AffineQuantize / Requantize. */
#include "tiny/kernels.h"
#include "tiny/fixedpoint.h"

/* One element of TFLM's Requantize, before the clamp to the output type. */
static inline int32_t requantize_one(const tiny_requantize_params *p, int32_t x) {
    return tiny_requantize(x + p->input_offset, p->multiplier, p->shift) + p->output_offset;
}

#define TINY_REQUANTIZE_ARGS_OK (params && size >= 0 && (size == 0 || (input && output)))

tiny_status tiny_requantize_s8(const tiny_requantize_params *params, const int8_t *input,
                               int8_t *output, int32_t size) {
    if (!TINY_REQUANTIZE_ARGS_OK) return TINY_ERR_ARG;
    for (int32_t i = 0; i < size; ++i) output[i] = (int8_t)tiny_clamp(requantize_one(params, input[i]), -128, 127);
    return TINY_OK;
}

/* uint8 <-> int8 at a model's edges (uint8 inference I/O). TFLM's fast path for equal scales and
 * zero points 128 apart (x ^ 0x80) is this same arithmetic's result, so there is one loop. */
tiny_status tiny_requantize_u8_s8(const tiny_requantize_params *params, const uint8_t *input,
                                  int8_t *output, int32_t size) {
    if (!TINY_REQUANTIZE_ARGS_OK) return TINY_ERR_ARG;
    for (int32_t i = 0; i < size; ++i) output[i] = (int8_t)tiny_clamp(requantize_one(params, input[i]), -128, 127);
    return TINY_OK;
}

tiny_status tiny_requantize_s8_u8(const tiny_requantize_params *params, const int8_t *input,
                                  uint8_t *output, int32_t size) {
    if (!TINY_REQUANTIZE_ARGS_OK) return TINY_ERR_ARG;
    for (int32_t i = 0; i < size; ++i) output[i] = (uint8_t)tiny_clamp(requantize_one(params, input[i]), 0, 255);
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
