/* CONV_2D int8, per-channel requantization: the portable specification of tiny_conv2d_s8.
 * Bit-exact with TFLM's reference_integer_ops::ConvPerChannel: taps outside the input are
 * skipped, the accumulator is int32, bias is added before MultiplyByQuantizedMultiplier. */
#include "tiny/kernels.h"
#include "tiny/fixedpoint.h"

tiny_status tiny_conv2d_s8(const tiny_ctx *ctx, const tiny_conv_params *params,
                           const tiny_per_channel_quant *quant, const tiny_dims *input_dims,
                           const int8_t *input, const tiny_dims *filter_dims, const int8_t *filter,
                           const tiny_dims *bias_dims, const int32_t *bias,
                           const tiny_dims *output_dims, int8_t *output) {
    (void)ctx;
    (void)bias_dims;
    if (!params || !quant || !input_dims || !input || !filter_dims || !filter || !output_dims || !output) {
        return TINY_ERR_ARG;
    }
    const int32_t in_h = input_dims->h, in_w = input_dims->w, in_c = input_dims->c;
    const int32_t k_h = filter_dims->h, k_w = filter_dims->w, k_c = filter_dims->c;
    const int32_t out_h = output_dims->h, out_w = output_dims->w, out_c = output_dims->c;
    if (k_c <= 0 || in_c % k_c != 0 || filter_dims->n != out_c) return TINY_ERR_ARG;
    const int32_t groups = in_c / k_c;
    if (groups <= 0 || out_c % groups != 0) return TINY_ERR_ARG;
    const int32_t per_group = out_c / groups;
    const int32_t in_off = params->input_offset, out_off = params->output_offset;
    const int32_t act_min = params->activation.min, act_max = params->activation.max;

    for (int32_t b = 0; b < input_dims->n; ++b) {
        const int8_t *in_b = input + (int32_t)b * in_h * in_w * in_c;
        for (int32_t oy = 0; oy < out_h; ++oy) {
            const int32_t y0 = oy * params->stride.h - params->padding.h;
            for (int32_t ox = 0; ox < out_w; ++ox) {
                const int32_t x0 = ox * params->stride.w - params->padding.w;
                int8_t *out_px = output + ((b * out_h + oy) * out_w + ox) * out_c;
                for (int32_t oc = 0; oc < out_c; ++oc) {
                    const int32_t c0 = (oc / per_group) * k_c;
                    const int8_t *f = filter + oc * k_h * k_w * k_c;
                    int32_t acc = 0;
                    for (int32_t ky = 0; ky < k_h; ++ky) {
                        const int32_t iy = y0 + ky * params->dilation.h;
                        if (iy < 0 || iy >= in_h) continue;
                        for (int32_t kx = 0; kx < k_w; ++kx) {
                            const int32_t ix = x0 + kx * params->dilation.w;
                            if (ix < 0 || ix >= in_w) continue;
                            const int8_t *in_px = in_b + (iy * in_w + ix) * in_c + c0;
                            const int8_t *f_px = f + (ky * k_w + kx) * k_c;
                            for (int32_t ic = 0; ic < k_c; ++ic) {
                                acc += (int32_t)f_px[ic] * ((int32_t)in_px[ic] + in_off);
                            }
                        }
                    }
                    if (bias) acc += bias[oc];
                    acc = tiny_requantize(acc, quant->multiplier[oc], quant->shift[oc]) + out_off;
                    out_px[oc] = (int8_t)tiny_clamp(acc, act_min, act_max);
                }
            }
        }
    }
    return TINY_OK;
}
