/* AVERAGE_POOL_2D int8: the portable specification of tiny_avg_pool_s8. Bit-exact with TFLM's
 * reference_integer_ops::AveragePool: the mean over the in-image part of the window, rounded half
 * away from zero with truncating division. Input and output share quantization. */
#include "tiny/kernels.h"
#include "tiny/fixedpoint.h"

tiny_status tiny_avg_pool_s8(const tiny_ctx *ctx, const tiny_pool_params *params,
                             const tiny_dims *input_dims, const int8_t *input,
                             const tiny_dims *filter_dims, const tiny_dims *output_dims, int8_t *output) {
    (void)ctx;
    if (!params || !input_dims || !input || !filter_dims || !output_dims || !output) return TINY_ERR_ARG;
    const int32_t in_h = input_dims->h, in_w = input_dims->w, ch = input_dims->c;
    const int32_t out_h = output_dims->h, out_w = output_dims->w;
    if (output_dims->c != ch) return TINY_ERR_ARG;
    for (int32_t b = 0; b < input_dims->n; ++b) {
        const int8_t *in_b = input + b * in_h * in_w * ch;
        for (int32_t oy = 0; oy < out_h; ++oy) {
            const int32_t y0 = oy * params->stride.h - params->padding.h;
            const int32_t ky0 = y0 < 0 ? -y0 : 0;
            const int32_t ky1 = filter_dims->h < in_h - y0 ? filter_dims->h : in_h - y0;
            for (int32_t ox = 0; ox < out_w; ++ox) {
                const int32_t x0 = ox * params->stride.w - params->padding.w;
                const int32_t kx0 = x0 < 0 ? -x0 : 0;
                const int32_t kx1 = filter_dims->w < in_w - x0 ? filter_dims->w : in_w - x0;
                if (ky1 <= ky0 || kx1 <= kx0) return TINY_ERR_ARG;  /* TFLM fails here too */
                const int32_t count = (ky1 - ky0) * (kx1 - kx0);
                int8_t *out_px = output + ((b * out_h + oy) * out_w + ox) * ch;
                for (int32_t c = 0; c < ch; ++c) {
                    int32_t acc = 0;
                    for (int32_t ky = ky0; ky < ky1; ++ky) {
                        for (int32_t kx = kx0; kx < kx1; ++kx) {
                            acc += in_b[((y0 + ky) * in_w + (x0 + kx)) * ch + c];
                        }
                    }
                    acc = acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count;
                    out_px[c] = (int8_t)tiny_clamp(acc, params->activation.min, params->activation.max);
                }
            }
        }
    }
    return TINY_OK;
}
