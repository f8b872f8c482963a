/* FULLY_CONNECTED int8: the portable specification of tiny_fully_connected_s8. Bit-exact with
 * TFLM's reference_integer_ops::FullyConnected(PerChannel); the per-tensor and per-channel TFLM
 * paths differ only in how the multipliers were computed (in Python) and in filter_offset. */
#include "tiny/kernels.h"
#include "tiny/fixedpoint.h"

tiny_status tiny_fully_connected_s8(const tiny_ctx *ctx, const tiny_fc_params *params,
                                    const tiny_per_channel_quant *quant, const tiny_dims *input_dims,
                                    const int8_t *input, const tiny_dims *filter_dims,
                                    const int8_t *filter, const tiny_dims *bias_dims,
                                    const int32_t *bias, const tiny_dims *output_dims, int8_t *output) {
    (void)ctx;
    (void)bias_dims;
    if (!params || !quant || !input_dims || !input || !filter_dims || !filter || !output_dims || !output) {
        return TINY_ERR_ARG;
    }
    const int32_t depth = filter_dims->c;
    const int32_t out_c = output_dims->c;
    const int32_t batches = output_dims->n * output_dims->h * output_dims->w;
    if (filter_dims->n != out_c || depth <= 0) return TINY_ERR_ARG;
    for (int32_t b = 0; b < batches; ++b) {
        const int8_t *in = input + b * depth;
        for (int32_t oc = 0; oc < out_c; ++oc) {
            const int8_t *w = filter + oc * depth;
            int32_t acc = 0;
            for (int32_t d = 0; d < depth; ++d) {
                acc += ((int32_t)w[d] + params->filter_offset) * ((int32_t)in[d] + params->input_offset);
            }
            if (bias) acc += bias[oc];
            acc = tiny_requantize(acc, quant->multiplier[oc], quant->shift[oc]) + params->output_offset;
            output[b * out_c + oc] = (int8_t)tiny_clamp(acc, params->activation.min, params->activation.max);
        }
    }
    return TINY_OK;
}
