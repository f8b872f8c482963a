/* MAX_POOL_2D int8, 4 channels per word: same arguments and results as tiny_max_pool_s8.
 *
 * The running maximum of 4 int8 lanes is SSUB8 (GE bit per lane where a >= b) + SEL, so a window
 * tap costs one load and two instructions for 4 channels (the portable kernel: ~70 instructions
 * per output of a 2x2 window). The window is clipped to the image exactly as in the portable
 * kernel (taps outside count as -128, where TFLM's running max starts); the activation clamp is the
 * same max against the packed lower bound and a min against the upper one, skipped for the full
 * int8 range. Channels past the last multiple of 4 go byte by byte. In place (output == input) is as
 * safe as in the portable kernel: a group's 4 bytes are written after all of its window's reads. */
#include "arm_common.h"
#include "tiny/kernels_arm.h"

#ifdef TINY_ARM_DSP
/* Lane-wise signed max of 4 int8 lanes. SSUB8 and SEL in one asm: GCC does not model GE flags. */
TINY_INLINE int32_t mp_max4(int32_t a, int32_t b) {
    int32_t r;
    __asm__("ssub8 %0, %1, %2\n\tsel %0, %1, %2" : "=&r"(r) : "r"(a), "r"(b) : "cc");
    return r;
}
TINY_INLINE int32_t mp_min4(int32_t a, int32_t b) {
    int32_t r;
    __asm__("ssub8 %0, %1, %2\n\tsel %0, %2, %1" : "=&r"(r) : "r"(a), "r"(b) : "cc");
    return r;
}
TINY_INLINE void mp_st32(int8_t *p, int32_t v) { memcpy(p, &v, 4); }
TINY_INLINE int32_t mp_splat(int32_t v) { return (int32_t)(((uint32_t)v & 0xFFu) * 0x01010101u); }

tiny_status tiny_max_pool_s8_dsp(const tiny_ctx *ctx, const tiny_pool_params *params, const tiny_dims *input_dims,
                                 const int8_t *input, const tiny_dims *filter_dims, const tiny_dims *output_dims,
                                 int8_t *output) {
    if (!params || !input_dims || !input || !filter_dims || !output_dims || !output ||
        output_dims->c != input_dims->c || input_dims->c < 4 || params->activation.min < -128 ||
        params->activation.max > 127 || params->activation.min > params->activation.max) {
        return tiny_max_pool_s8(ctx, params, input_dims, input, filter_dims, output_dims, output);
    }
    const int32_t in_h = input_dims->h, in_w = input_dims->w, ch = input_dims->c;
    const int32_t out_h = output_dims->h, out_w = output_dims->w, c4 = ch & ~3;
    const int32_t fh = filter_dims->h, fw = filter_dims->w, row = in_w * ch;
    const int32_t lo = params->activation.min, hi = params->activation.max;
    const int32_t clamp = lo > -128 || hi < 127, lo4 = mp_splat(lo), hi4 = mp_splat(hi);
    for (int32_t b = 0; b < input_dims->n; ++b) {
        const int8_t *in_b = input + b * in_h * row;
        for (int32_t oy = 0; oy < out_h; ++oy) {
            const int32_t y0 = oy * params->stride.h - params->padding.h;
            const int32_t ky0 = y0 < 0 ? -y0 : 0;
            const int32_t ky1 = fh < in_h - y0 ? fh : in_h - y0;
            for (int32_t ox = 0; ox < out_w; ++ox) {
                const int32_t x0 = ox * params->stride.w - params->padding.w;
                const int32_t kx0 = x0 < 0 ? -x0 : 0;
                const int32_t kx1 = fw < in_w - x0 ? fw : in_w - x0;
                int8_t *o = output + ((b * out_h + oy) * out_w + ox) * ch;
                const int32_t nky = ky1 - ky0, nkx = kx1 - kx0;
                const int8_t *p = in_b + ((y0 + ky0) * in_w + x0 + kx0) * ch;   /* first in-image tap */
                int32_t c = 0;
                if (nky == 2 && nkx == 2 && !clamp) {   /* 2x2 (U-Net, VGG-style): no loop over taps */
                    const int32_t rc = row + ch;
                    for (; c < c4; c += 4, p += 4, o += 4) {
                        const int32_t m0 = mp_max4(tiny_ld32(p), tiny_ld32(p + ch));
                        const int32_t m1 = mp_max4(tiny_ld32(p + row), tiny_ld32(p + rc));
                        mp_st32(o, mp_max4(m0, m1));
                    }
                } else if (nky > 0 && nkx > 0) {
                    for (; c < c4; c += 4, p += 4, o += 4) {
                        int32_t m = (int32_t)0x80808080u;
                        const int8_t *r = p;
                        for (int32_t ky = 0; ky < nky; ++ky, r += row) {
                            for (int32_t kx = 0; kx < nkx; ++kx) m = mp_max4(tiny_ld32(r + kx * ch), m);
                        }
                        if (clamp) m = mp_min4(mp_max4(m, lo4), hi4);
                        mp_st32(o, m);
                    }
                }
                for (; c < ch; ++c, ++p, ++o) {   /* channels past c4, or an empty window */
                    int32_t m = -128;
                    for (int32_t ky = 0; ky < nky; ++ky) {
                        for (int32_t kx = 0; kx < nkx; ++kx) {
                            const int32_t v = p[ky * row + kx * ch];
                            if (v > m) m = v;
                        }
                    }
                    *o = (int8_t)(m < lo ? lo : (m > hi ? hi : m));
                }
            }
        }
    }
    return TINY_OK;
}
#endif
