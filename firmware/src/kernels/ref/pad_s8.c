/* PAD int8 (NHWC, any padding before/after each axis): the portable specification of tiny_pad_s8.
 * Every output element outside the copied input holds params->pad_value, as TFLM's Pad. */
#include "tiny/kernels.h"

tiny_status tiny_pad_s8(const tiny_pad_params *params, const tiny_dims *input_dims, const int8_t *input,
                        const tiny_dims *output_dims, int8_t *output) {
    if (!params || !input_dims || !input || !output_dims || !output) return TINY_ERR_ARG;
    const tiny_dims *in = input_dims, *out = output_dims, *pb = &params->before;
    if (pb->n < 0 || pb->h < 0 || pb->w < 0 || pb->c < 0 || pb->n + in->n > out->n ||
        pb->h + in->h > out->h || pb->w + in->w > out->w || pb->c + in->c > out->c) {
        return TINY_ERR_ARG;
    }
    const int8_t value = (int8_t)params->pad_value;
    const int32_t total = out->n * out->h * out->w * out->c;
    for (int32_t i = 0; i < total; ++i) output[i] = value;
    for (int32_t b = 0; b < in->n; ++b) {
        for (int32_t y = 0; y < in->h; ++y) {
            for (int32_t x = 0; x < in->w; ++x) {
                const int8_t *src = input + ((b * in->h + y) * in->w + x) * in->c;
                int8_t *dst = output + (((b + pb->n) * out->h + y + pb->h) * out->w + x + pb->w) * out->c + pb->c;
                for (int32_t c = 0; c < in->c; ++c) dst[c] = src[c];
            }
        }
    }
    return TINY_OK;
}
