/* AVERAGE_POOL_2D int8: same arguments and results as tiny_avg_pool_s8 for windows of at most 256
 * pixels and 4 or more channels (else the portable kernel).
 *
 * The window sum of 4 channels is built in two int16 lane pairs with SXTAB16 (bytes 0/2 and, rotated,
 * 1/3 of one word): 3 instructions per pixel and 4 channels. A lane holds at most 256 int8 values
 * (-32768 <= sum <= 32512), so it is exact; the rounding division and clamp are the portable
 * kernel's. Outputs are written after their window's channels are read, in the portable kernel's
 * pixel order, so in place (stride = window, no padding) behaves the same. */
#include "arm_common.h"
#include "tiny/kernels_arm.h"

#ifdef TINY_ARM_DSP
/* The portable kernel's division: round half away from zero, truncating C division. */
TINY_INLINE int8_t ap_out(int32_t acc, int32_t count, int32_t lo, int32_t hi) {
    acc = acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count;
    return (int8_t)(acc < lo ? lo : acc > hi ? hi : acc);
}

tiny_status tiny_avg_pool_s8_dsp(const tiny_ctx *ctx, const tiny_pool_params *params, const tiny_dims *input_dims,
                                 const int8_t *input, const tiny_dims *filter_dims, const tiny_dims *output_dims,
                                 int8_t *output) {
    if (!params || !input_dims || !input || !filter_dims || !output_dims || !output || input_dims->c < 4 ||
        output_dims->c != input_dims->c || filter_dims->h * filter_dims->w > 256 || filter_dims->h < 1 ||
        filter_dims->w < 1) {
        return tiny_avg_pool_s8(ctx, params, input_dims, input, filter_dims, output_dims, output);
    }
    const int32_t in_h = input_dims->h, in_w = input_dims->w, ch = input_dims->c;
    const int32_t out_h = output_dims->h, out_w = output_dims->w;
    const int32_t lo = params->activation.min, hi = params->activation.max;
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
                if (ky1 <= ky0 || kx1 <= kx0) {   /* an empty window: the portable kernel's error */
                    return tiny_avg_pool_s8(ctx, params, input_dims, input, filter_dims, output_dims, output);
                }
                const int32_t count = (ky1 - ky0) * (kx1 - kx0), cols = kx1 - kx0, row_step = in_w * ch;
                const int8_t *win = in_b + ((y0 + ky0) * in_w + (x0 + kx0)) * ch;
                int8_t *out_px = output + ((b * out_h + oy) * out_w + ox) * ch;
                int32_t c = 0;
                for (; c + 4 <= ch; c += 4) {
                    int32_t a02 = 0, a13 = 0;
                    const int8_t *row = win + c;
                    for (int32_t ky = ky0; ky < ky1; ++ky, row += row_step) {
                        const int8_t *px = row;
                        for (int32_t k = cols; k > 0; --k, px += ch) {
                            const int32_t w = tiny_ld32(px);
                            a02 = tiny_sxtab16(a02, w);
                            a13 = tiny_sxtab16_ror8(a13, w);
                        }
                    }
                    out_px[c] = ap_out((int16_t)a02, count, lo, hi);
                    out_px[c + 1] = ap_out((int16_t)a13, count, lo, hi);
                    out_px[c + 2] = ap_out(a02 >> 16, count, lo, hi);
                    out_px[c + 3] = ap_out(a13 >> 16, count, lo, hi);
                }
                for (; c < ch; ++c) {   /* channels past the last multiple of 4 */
                    int32_t acc = 0;
                    const int8_t *row = win + c;
                    for (int32_t ky = ky0; ky < ky1; ++ky, row += row_step) {
                        for (int32_t k = 0; k < cols; ++k) acc += row[k * ch];
                    }
                    out_px[c] = ap_out(acc, count, lo, hi);
                }
            }
        }
    }
    return TINY_OK;
}
#endif
