/* MEAN / SUM int8 over H and W (global average pooling; N reduced or kept, C kept): same arguments and
 * results as tiny_mean_s8, other axis sets go to it.
 *
 * Four channels of a pixel are one word: SXTAB16 adds bytes 0 and 2 (and, rotated, 1 and 3) to two
 * int16 lanes, so a pixel costs 3 instructions per 4 channels instead of a load and an add per
 * element. A lane holds at most 256 int8 values (-32768 <= sum <= 32512), so the lanes are flushed to
 * int32 every 256 pixels; the int32 sum is exact, and the final expression (minus zero point * count,
 * one requantization, clamp) is the portable kernel's, with the requantization constants hoisted. */
#include "arm_common.h"
#include "tiny/kernels_arm.h"

#ifdef TINY_ARM_DSP
/* The portable kernel's (int32)(sum - in_zero_point * count), requantized (tiny_arm_requant: exact
 * for multipliers >= 0), + out_zero_point, clamped to int8. zpc = in_zero_point * count, truncated to
 * int32 like the portable kernel's result. */
TINY_INLINE int8_t mean_out(int32_t sum, int32_t zpc, tiny_rq rq, int32_t ozp) {
    const int32_t shifted = (int32_t)((uint32_t)sum - (uint32_t)zpc);
    return (int8_t)__builtin_arm_ssat(tiny_arm_requant(shifted, rq) + ozp, 8);
}

/* out[c] for `pixels` pixels of c channels starting at in. */
static void mean_pixels(const int8_t *in, int32_t pixels, int32_t ch, int8_t *out, const tiny_mean_params *p) {
    const int32_t zpc = (int32_t)(uint32_t)((int64_t)p->in_zero_point * pixels), ozp = p->out_zero_point;
    const tiny_rq rq = tiny_rq_make(p->multiplier, p->shift);
    int32_t c0 = 0;
    for (; c0 + 4 <= ch; c0 += 4) {
        int32_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        const int8_t *px = in + c0;
        for (int32_t left = pixels; left > 0;) {
            const int32_t run = left < 256 ? left : 256;
            int32_t a02 = 0, a13 = 0;
            int32_t k = run;
            for (; k >= 2; k -= 2, px += 2 * ch) {
                const int32_t w0 = tiny_ld32(px), w1 = tiny_ld32(px + ch);
                a02 = tiny_sxtab16(a02, w0);
                a13 = tiny_sxtab16_ror8(a13, w0);
                a02 = tiny_sxtab16(a02, w1);
                a13 = tiny_sxtab16_ror8(a13, w1);
            }
            if (k) {
                const int32_t w0 = tiny_ld32(px);
                a02 = tiny_sxtab16(a02, w0);
                a13 = tiny_sxtab16_ror8(a13, w0);
                px += ch;
            }
            s0 += (int16_t)a02;
            s2 += a02 >> 16;
            s1 += (int16_t)a13;
            s3 += a13 >> 16;
            left -= run;
        }
        out[c0] = mean_out(s0, zpc, rq, ozp);
        out[c0 + 1] = mean_out(s1, zpc, rq, ozp);
        out[c0 + 2] = mean_out(s2, zpc, rq, ozp);
        out[c0 + 3] = mean_out(s3, zpc, rq, ozp);
    }
    for (; c0 < ch; ++c0) {   /* channels past the last multiple of 4 */
        int32_t s = 0;
        const int8_t *px = in + c0;
        for (int32_t k = 0; k < pixels; ++k, px += ch) s += *px;
        out[c0] = mean_out(s, zpc, rq, ozp);
    }
}

tiny_status tiny_mean_s8_dsp(const tiny_mean_params *params, const tiny_dims *in_dims, const int8_t *in,
                             int8_t *out) {
    /* H and W reduced, C kept (N either way); int32 sums exact while pixels * 128 < 2^31. */
    if (!params || !in_dims || !in || !out || (params->axis_mask & 0xE) != 0x6 || params->multiplier < 0 ||
        (int64_t)in_dims->n * in_dims->h * in_dims->w > (1 << 23)) {
        return tiny_mean_s8(params, in_dims, in, out);
    }
    const int32_t ch = in_dims->c, plane = in_dims->h * in_dims->w;
    if (params->axis_mask & 1) {
        mean_pixels(in, in_dims->n * plane, ch, out, params);
    } else {
        for (int32_t b = 0; b < in_dims->n; ++b) mean_pixels(in + b * plane * ch, plane, ch, out + b * ch, params);
    }
    return TINY_OK;
}
#endif
