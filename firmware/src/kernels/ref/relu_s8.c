/* RELU, RELU6 and LEAKY_RELU int8: the portable specifications of tiny_relu_s8, tiny_relu6_s8 and
 * tiny_leaky_relu_s8 (TFLM's ReluQuantized, Relu6Quantized and QuantizeLeakyRelu). Element i is
 * read before it is written, so each may run in place. */
#include "tiny/kernels.h"
#include "tiny/fixedpoint.h"

tiny_status tiny_relu_s8(const tiny_relu_params *params, int32_t size, const int8_t *in, int8_t *out) {
    if (!params || size < 0 || (size > 0 && (!in || !out))) return TINY_ERR_ARG;
    for (int32_t i = 0; i < size; ++i) {
        const int32_t r = params->output_offset +
                          tiny_requantize((int32_t)in[i] - params->input_offset, params->multiplier, params->shift);
        out[i] = (int8_t)tiny_clamp(r, params->act_min, params->act_max);
    }
    return TINY_OK;
}

tiny_status tiny_relu6_s8(const tiny_relu6_params *params, int32_t size, const int8_t *in, int8_t *out) {
    if (!params || size < 0 || (size > 0 && (!in || !out))) return TINY_ERR_ARG;
    for (int32_t i = 0; i < size; ++i) out[i] = (int8_t)tiny_clamp(in[i], params->lower, params->upper);
    return TINY_OK;
}

tiny_status tiny_leaky_relu_s8(const tiny_leaky_relu_params *params, int32_t size, const int8_t *in,
                               int8_t *out) {
    if (!params || size < 0 || (size > 0 && (!in || !out))) return TINY_ERR_ARG;
    for (int32_t i = 0; i < size; ++i) {
        const int32_t d = (int32_t)in[i] - params->input_offset;
        const int32_t r = d >= 0 ? tiny_requantize(d, params->multiplier_identity, params->shift_identity)
                                 : tiny_requantize(d, params->multiplier_alpha, params->shift_alpha);
        out[i] = (int8_t)tiny_clamp(params->output_offset + r, -128, 127);
    }
    return TINY_OK;
}
