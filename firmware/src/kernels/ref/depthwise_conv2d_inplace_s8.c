/* In-place DEPTHWISE_CONV_2D (depth multiplier 1): the output overwrites the input buffer.
 *
 * Channel by channel: output channel c is computed into a one-channel scratch buffer, then
 * scattered to its NHWC slots (y * out_w + x) * C + c. Those slots only ever held channel c of
 * the input, which is fully consumed by then, so later channels still read intact inputs. This
 * is why the output may be larger or smaller than the input (any stride), as long as the shared
 * buffer holds the larger of the two. Same signature and results as tiny_depthwise_conv2d_s8. */
#include "tiny/kernels.h"
#include "tiny/fixedpoint.h"

int32_t tiny_depthwise_conv2d_s8_inplace_get_buffer_size(const tiny_dims *output_dims) {
    return output_dims->h * output_dims->w;
}

tiny_status tiny_depthwise_conv2d_s8_inplace(const tiny_ctx *ctx, const tiny_dw_conv_params *params,
                                             const tiny_per_channel_quant *quant,
                                             const tiny_dims *input_dims, const int8_t *input,
                                             const tiny_dims *filter_dims, const int8_t *filter,
                                             const tiny_dims *bias_dims, const int32_t *bias,
                                             const tiny_dims *output_dims, int8_t *output) {
    (void)bias_dims;
    if (!ctx || !ctx->buf || !params || !quant || !input_dims || !input || !filter_dims || !filter ||
        !output_dims || !output || params->ch_mult != 1 || input_dims->n != 1 ||
        output_dims->c != input_dims->c || filter_dims->c != input_dims->c ||
        ctx->size < output_dims->h * output_dims->w) {
        return TINY_ERR_ARG;
    }
    int8_t *col = (int8_t *)ctx->buf;
    const int32_t in_h = input_dims->h, in_w = input_dims->w, ch = input_dims->c;
    const int32_t k_h = filter_dims->h, k_w = filter_dims->w;
    const int32_t out_h = output_dims->h, out_w = output_dims->w;
    const int32_t in_off = params->input_offset, out_off = params->output_offset;
    for (int32_t c = 0; c < ch; ++c) {
        for (int32_t oy = 0; oy < out_h; ++oy) {
            const int32_t y0 = oy * params->stride.h - params->padding.h;
            for (int32_t ox = 0; ox < out_w; ++ox) {
                const int32_t x0 = ox * params->stride.w - params->padding.w;
                int32_t acc = 0;
                for (int32_t ky = 0; ky < k_h; ++ky) {
                    const int32_t iy = y0 + ky * params->dilation.h;
                    if (iy < 0 || iy >= in_h) continue;
                    for (int32_t kx = 0; kx < k_w; ++kx) {
                        const int32_t ix = x0 + kx * params->dilation.w;
                        if (ix < 0 || ix >= in_w) continue;
                        acc += (int32_t)filter[(ky * k_w + kx) * ch + c] *
                               ((int32_t)input[(iy * in_w + ix) * ch + c] + in_off);
                    }
                }
                if (bias) acc += bias[c];
                acc = tiny_requantize(acc, quant->multiplier[c], quant->shift[c]) + out_off;
                col[oy * out_w + ox] = (int8_t)tiny_clamp(acc, params->activation.min, params->activation.max);
            }
        }
        for (int32_t i = 0; i < out_h * out_w; ++i) output[i * ch + c] = col[i];
    }
    return TINY_OK;
}
