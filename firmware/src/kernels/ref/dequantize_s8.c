/* DEQUANTIZE int8 -> float32. TFLM computes (float)(double(scale) * (x - zp)); the double product
 * of a float and a 9-bit integer is exact, so one correctly rounded float multiply is identical
 * and avoids software double arithmetic on single-precision FPUs. */
#include "tiny/kernels.h"

tiny_status tiny_dequantize_s8_f32(const tiny_affine_params *params, const int8_t *input, float *output,
                                   int32_t size) {
    if (!params || size < 0 || (size > 0 && (!input || !output))) return TINY_ERR_ARG;
    for (int32_t i = 0; i < size; ++i) {
        output[i] = params->scale * (float)((int32_t)input[i] - params->zero_point);
    }
    return TINY_OK;
}
