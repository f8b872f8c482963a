/* TRANSPOSE_CONV int8, per-channel: the portable specification of tiny_transpose_conv_s8.
 * TFLM scatters every input pixel into an int32 image of the output; here each output element
 * gathers the same products (input rows with in_y * stride - pad + ky == y), which gives the same
 * int32 sum since wrapping addition is associative, without the scratch image. */
#include "tiny/kernels.h"
#include "tiny/fixedpoint.h"

tiny_status tiny_transpose_conv_s8(const tiny_ctx *ctx, const tiny_conv_params *params,
                                   const tiny_per_channel_quant *quant, const tiny_dims *in_dims, const int8_t *in,
                                   const tiny_dims *filter_dims, const int8_t *filter, const tiny_dims *bias_dims,
                                   const int32_t *bias, const tiny_dims *out_dims, int8_t *out) {
    (void)ctx;
    (void)bias_dims;
    if (!params || !quant || !in_dims || !in || !filter_dims || !filter || !out_dims || !out) return TINY_ERR_ARG;
    const int32_t sh = params->stride.h, sw = params->stride.w, pt = params->padding.h, pl = params->padding.w;
    const int32_t kh = filter_dims->h, kw = filter_dims->w, ic = filter_dims->c, oc = filter_dims->n;
    if (sh <= 0 || sw <= 0 || in_dims->c != ic || out_dims->c != oc || in_dims->n != out_dims->n) return TINY_ERR_ARG;
    for (int32_t b = 0; b < out_dims->n; ++b)
        for (int32_t y = 0; y < out_dims->h; ++y)
            for (int32_t x = 0; x < out_dims->w; ++x)
                for (int32_t o = 0; o < oc; ++o) {
                    uint32_t acc = 0;     /* int32 that wraps, as TFLM's scratch image */
                    for (int32_t ky = 0; ky < kh; ++ky) {
                        const int32_t ty = y + pt - ky;
                        if (ty < 0 || ty % sh) continue;
                        const int32_t iy = ty / sh;
                        if (iy >= in_dims->h) continue;
                        for (int32_t kx = 0; kx < kw; ++kx) {
                            const int32_t tx = x + pl - kx;
                            if (tx < 0 || tx % sw) continue;
                            const int32_t ix = tx / sw;
                            if (ix >= in_dims->w) continue;
                            const int8_t *src = in + ((b * in_dims->h + iy) * in_dims->w + ix) * ic;
                            const int8_t *w = filter + ((o * kh + ky) * kw + kx) * ic;
                            for (int32_t i = 0; i < ic; ++i)
                                acc += (uint32_t)(((int32_t)src[i] + params->input_offset) * (int32_t)w[i]);
                        }
                    }
                    int32_t v = (int32_t)acc + (bias ? bias[o] : 0);
                    v = tiny_requantize(v, quant->multiplier[o], quant->shift[o]) + params->output_offset;
                    *out++ = (int8_t)tiny_clamp(v, params->activation.min, params->activation.max);
                }
    return TINY_OK;
}
