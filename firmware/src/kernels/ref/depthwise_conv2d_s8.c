/* DEPTHWISE_CONV_2D int8, per-channel requantization: the portable specification of
 * tiny_depthwise_conv2d_s8. Bit-exact with TFLM's reference_integer_ops::DepthwiseConvPerChannel:
 * output channel c * ch_mult + m reads input channel c; taps outside the input are skipped. */
#include "tiny/kernels.h"
#include "tiny/fixedpoint.h"

tiny_status tiny_depthwise_conv2d_s8(const tiny_ctx *ctx, const tiny_dw_conv_params *params,
                                     const tiny_per_channel_quant *quant, const tiny_dims *input_dims,
                                     const int8_t *input, const tiny_dims *filter_dims,
                                     const int8_t *filter, const tiny_dims *bias_dims,
                                     const int32_t *bias, const tiny_dims *output_dims, int8_t *output) {
    (void)ctx;
    (void)bias_dims;
    if (!params || !quant || !input_dims || !input || !filter_dims || !filter || !output_dims || !output) {
        return TINY_ERR_ARG;
    }
    const int32_t in_h = input_dims->h, in_w = input_dims->w, in_c = input_dims->c;
    const int32_t k_h = filter_dims->h, k_w = filter_dims->w;
    const int32_t out_h = output_dims->h, out_w = output_dims->w, out_c = output_dims->c;
    const int32_t mult = params->ch_mult;
    if (mult <= 0 || out_c != in_c * mult || filter_dims->c != out_c) return TINY_ERR_ARG;
    const int32_t in_off = params->input_offset, out_off = params->output_offset;
    const int32_t act_min = params->activation.min, act_max = params->activation.max;

    for (int32_t b = 0; b < input_dims->n; ++b) {
        const int8_t *in_b = input + b * in_h * in_w * in_c;
        for (int32_t oy = 0; oy < out_h; ++oy) {
            const int32_t y0 = oy * params->stride.h - params->padding.h;
            for (int32_t ox = 0; ox < out_w; ++ox) {
                const int32_t x0 = ox * params->stride.w - params->padding.w;
                int8_t *out_px = output + ((b * out_h + oy) * out_w + ox) * out_c;
                for (int32_t ic = 0; ic < in_c; ++ic) {
                    for (int32_t m = 0; m < mult; ++m) {
                        const int32_t oc = ic * mult + m;
                        int32_t acc = 0;
                        for (int32_t ky = 0; ky < k_h; ++ky) {
                            const int32_t iy = y0 + ky * params->dilation.h;
                            if (iy < 0 || iy >= in_h) continue;
                            for (int32_t kx = 0; kx < k_w; ++kx) {
                                const int32_t ix = x0 + kx * params->dilation.w;
                                if (ix < 0 || ix >= in_w) continue;
                                const int32_t v = (int32_t)in_b[(iy * in_w + ix) * in_c + ic] + in_off;
                                acc += (int32_t)filter[(ky * k_w + kx) * out_c + oc] * v;
                            }
                        }
                        if (bias) acc += bias[oc];
                        acc = tiny_requantize(acc, quant->multiplier[oc], quant->shift[oc]) + out_off;
                        out_px[oc] = (int8_t)tiny_clamp(acc, act_min, act_max);
                    }
                }
            }
        }
    }
    return TINY_OK;
}
