/* CONV_2D with a small receptive field (k_h * k_w * in_c <= TINY_CONV_IM2COL_MAX, e.g. the first
 * 3x3 stride-2 conv over 3 input channels), groups 1, no dilation: same arguments and results as
 * tiny_conv2d_s8; other cases are handed to it.
 *
 * Two output pixels at a time: their receptive fields are gathered (im2col) into a small buffer as
 * int16 with the input offset added, taps outside the input written as 0 (which contributes
 * nothing, exactly like the portable kernel skipping them: no padded tensor). The buffer is in
 * natural order and meets int16 weight pairs (w0, w1), (w2, w3) with two SMLAD per 4 taps. It lives on the stack:
 * 2 x TINY_CONV_IM2COL_MAX int16 = 640 bytes, a fixed bound independent of the model, so the
 * kernel needs no planned scratch (and runs inside patch stages). With out_c <= 64 the weights are
 * copied zero-padded to a multiple of 4 (no tail loop) and the requantization constants of the cheap
 * exact form (requant_strip.c) are hoisted per channel; the weight pairs are made once per call
 * (2 KiB + 768 B of stack); otherwise they are made from each weight word (SXTB16, PKHBT/PKHTB). */
#include "arm_common.h"
#include "tiny/kernels_arm.h"

#ifdef TINY_ARM_DSP
#define TINY_CONV_IM2COL_MAX 160
#define TINY_RGB_FAST_OC 64      /* fast path: out_c <= 64 and out_c * kpad <= TINY_RGB_FAST_W */
#define TINY_RGB_FAST_W 1024   /* 2 KiB of paired weights on the stack */

/* Two pixels' dot products with one output channel's paired weights: G groups of 4 taps, two SMLAD
 * per pixel and group. Returns the next channel's weights. */
__attribute__((always_inline)) static inline const int32_t *rgb_dot(const int32_t *w, const int16_t *col,
                                                                    const int16_t *colb, const int32_t G,
                                                                    int32_t *pa, int32_t *pc) {
    const int32_t *ca = (const int32_t *)col, *cb = (const int32_t *)colb;
    int32_t a = *pa, c = *pc;
#pragma GCC unroll 8
    for (int32_t g = 0; g < G; ++g) {
        const int32_t we = w[2 * g], wo = w[2 * g + 1];
        a = tiny_smlad(ca[2 * g], we, a);
        a = tiny_smlad(ca[2 * g + 1], wo, a);
        c = tiny_smlad(cb[2 * g], we, c);
        c = tiny_smlad(cb[2 * g + 1], wo, c);
    }
    *pa = a;
    *pc = c;
    return w + 2 * G;
}
/* Gather one output pixel's receptive field in natural order (element j at col[j]); window rows
 * inside the input are k_w * in_c contiguous bytes. */
static void gather(const int8_t *in, int32_t in_h, int32_t in_w, int32_t in_c, int32_t y0, int32_t x0,
                       int32_t k_h, int32_t k_w, int32_t in_off, int16_t *col) {
    const int32_t rowlen = k_w * in_c;
    const int cols_inside = x0 >= 0 && x0 + k_w <= in_w;
    for (int32_t ky = 0; ky < k_h; ++ky, col += rowlen) {
        const int32_t iy = y0 + ky;
        if (iy < 0 || iy >= in_h) {
            for (int32_t j = 0; j < rowlen; ++j) col[j] = 0;
            continue;
        }
        const int8_t *p = in + (iy * in_w + x0) * in_c;
        if (cols_inside) {
            for (int32_t j = 0; j < rowlen; ++j) col[j] = (int16_t)(p[j] + in_off);
            continue;
        }
        for (int32_t kx = 0, j = 0; kx < k_w; ++kx) {
            const int ok = x0 + kx >= 0 && x0 + kx < in_w;
            for (int32_t c = 0; c < in_c; ++c, ++j) col[j] = ok ? (int16_t)(p[j] + in_off) : 0;
        }
    }
}

/* Output pixels p and p + 1 (row-major) into col and colb; colb is zeroed when p is the last pixel.
 * Returns whether there is a second pixel. */
TINY_INLINE int gather_pair(const int8_t *in, const tiny_dims *input_dims, const tiny_dims *filter_dims,
                            const tiny_conv_params *params, int32_t out_w, int32_t npix, int32_t p, int32_t kpad,
                            int16_t *col, int16_t *colb) {
    const int32_t in_h = input_dims->h, in_w = input_dims->w, in_c = input_dims->c;
    const int32_t k_h = filter_dims->h, k_w = filter_dims->w, in_off = params->input_offset;
    const int32_t sh = params->stride.h, sw = params->stride.w, ph = params->padding.h, pw = params->padding.w;
    gather(in, in_h, in_w, in_c, (p / out_w) * sh - ph, (p % out_w) * sw - pw, k_h, k_w, in_off, col);
    if (p + 1 >= npix) {
        for (int32_t j = 0; j < kpad; ++j) colb[j] = 0;
        return 0;
    }
    gather(in, in_h, in_w, in_c, ((p + 1) / out_w) * sh - ph, ((p + 1) % out_w) * sw - pw, k_h, k_w, in_off, colb);
    return 1;
}

/* One output pixel's receptive field as int8 in natural order, taps outside the input set to pad
 * (= -input_offset: (pad + offset) contributes nothing, as the portable kernel skipping them). */
static TINY_NO_MEMCPY_LOOPS void gather8(const int8_t *in, int32_t in_h, int32_t in_w, int32_t in_c, int32_t y0,
                                         int32_t x0, int32_t k_h, int32_t k_w, int8_t pad, int8_t *col) {
    const int32_t rowlen = k_w * in_c;
    const int cols_inside = x0 >= 0 && x0 + k_w <= in_w;
    for (int32_t ky = 0; ky < k_h; ++ky, col += rowlen) {
        const int32_t iy = y0 + ky;
        if (iy < 0 || iy >= in_h) {
            for (int32_t j = 0; j < rowlen; ++j) col[j] = pad;
            continue;
        }
        const int8_t *p = in + (iy * in_w + x0) * in_c;
        if (cols_inside) {
            if (iy + 1 < in_h) {   /* whole words: up to 3 bytes past the row (still inside the input, and
                                    * into the next row of col or col's slack, rewritten or met by 0) */
                for (int32_t j = 0; j < rowlen; j += 4) {
                    const int32_t v = tiny_ld32(p + j);
                    memcpy(col + j, &v, 4);
                }
            } else {
                tiny_copy_bytes(col, p, rowlen);
            }
            continue;
        }
        for (int32_t kx = 0, j = 0; kx < k_w; ++kx) {
            const int ok = x0 + kx >= 0 && x0 + kx < in_w;
            for (int32_t c = 0; c < in_c; ++c, ++j) col[j] = ok ? p[j] : pad;
        }
    }
}

/* Receptive fields up to PWY_MAX_IN taps, full int8 output range, every channel on the cheap exact
 * requantization form: the pointwise pre-widened path of conv2d_s8_1x1.c over im2col'ed pixel pairs
 * (input offset folded into the bias, weights padded with zeros to a multiple of 4), 11 instructions per
 * 16 MACs (the 3x3x3 RGB conv: 2.8 -> ~1.2 instructions/MAC). 0 (nothing written) when a channel
 * is off the cheap form. */
__attribute__((noinline)) static int rgb_pwy(const tiny_conv_params *params, const tiny_per_channel_quant *quant, const tiny_dims *input_dims,
                   const int8_t *input, const tiny_dims *filter_dims, const int8_t *filter, const int32_t *bias,
                   const tiny_dims *output_dims, int8_t *output) {
    const int32_t in_h = input_dims->h, in_w = input_dims->w, in_c = input_dims->c;
    const int32_t k_h = filter_dims->h, k_w = filter_dims->w, K = k_h * k_w * in_c, kp = (K + 3) & ~3;
    const int32_t out_h = output_dims->h, out_w = output_dims->w, out_c = output_dims->c, npix = out_h * out_w;
    const int32_t sh = params->stride.h, sw = params->stride.w, ph = params->padding.h, pw = params->padding.w;
    const int8_t pad = (int8_t)-params->input_offset;
    const int32_t chunk = 2 * (PWY_WORDS / (kp + 8));
    int32_t blk[PWY_WORDS] __attribute__((aligned(8)));
    int32_t xs[PWY_MAX_IN], oddw[PWY_MAX_IN / 2];
    int8_t ga[PWY_MAX_IN + 4] __attribute__((aligned(4))), gb[PWY_MAX_IN + 4] __attribute__((aligned(4)));
    pwx_ch odd;
    for (int32_t j = K; j < kp; ++j) ga[j] = gb[j] = 0;   /* meets zero weights: any value would do */
    for (int32_t ob = 0; ob < out_c; ob += chunk) {
        const int32_t oe = ob + chunk < out_c ? ob + chunk : out_c, n = oe - ob;
        if (!tiny_arm_pwy_build(filter, K, kp, bias, quant, params->input_offset, params->output_offset, ob, oe, blk,
                                oddw, &odd)) {
            return 0;
        }
        for (int32_t b = 0; b < input_dims->n; ++b) {
            const int8_t *in_b = input + b * in_h * in_w * in_c;
            int8_t *out = output + b * npix * out_c + ob;
            int32_t y = 0, x = 0;   /* pixel a */
            for (int32_t p = 0; p < npix; p += 2, out += 2 * out_c) {
                gather8(in_b, in_h, in_w, in_c, y * sh - ph, x * sw - pw, k_h, k_w, pad, ga);
                if (++x == out_w) x = 0, ++y;
                const int two = p + 1 < npix;
                if (two) {
                    gather8(in_b, in_h, in_w, in_c, y * sh - ph, x * sw - pw, k_h, k_w, pad, gb);
                    if (++x == out_w) x = 0, ++y;
                }
                tiny_arm_pw_widen(ga, two ? gb : ga, kp, xs);
                int8_t *obp = two ? out + out_c : out;   /* odd pixel count: pixel b repeats pixel a */
                tiny_arm_pwy_pairs(xs, blk, out, obp, n >> 1, kp);
                if (n & 1) tiny_arm_pwy_odd(xs, oddw, kp, &odd, out + n - 1, obp + n - 1);
            }
        }
    }
    return 1;
}

tiny_status tiny_conv2d_s8_rgb(const tiny_ctx *ctx, const tiny_conv_params *params,
                               const tiny_per_channel_quant *quant, const tiny_dims *input_dims,
                               const int8_t *input, const tiny_dims *filter_dims, const int8_t *filter,
                               const tiny_dims *bias_dims, const int32_t *bias,
                               const tiny_dims *output_dims, int8_t *output) {
    if (!params || !quant || !input_dims || !input || !filter_dims || !filter || !output_dims || !output ||
        filter_dims->c != input_dims->c || filter_dims->n != output_dims->c ||
        filter_dims->h * filter_dims->w * filter_dims->c > TINY_CONV_IM2COL_MAX ||
        params->dilation.h != 1 || params->dilation.w != 1 || input_dims->n != output_dims->n) {
        return tiny_conv2d_s8(ctx, params, quant, input_dims, input, filter_dims, filter, bias_dims, bias,
                              output_dims, output);
    }
    const int32_t in_h = input_dims->h, in_w = input_dims->w, in_c = input_dims->c;
    const int32_t k_h = filter_dims->h, k_w = filter_dims->w;
    const int32_t out_h = output_dims->h, out_w = output_dims->w, out_c = output_dims->c;
    const int32_t K = k_h * k_w * in_c, K4 = K & ~3, kpad = (K + 3) & ~3;
    const int32_t out_off = params->output_offset;
    const int32_t lo = params->activation.min, hi = params->activation.max;
    if (K <= PWY_MAX_IN && lo == -128 && hi == 127 && out_off >= -128 && out_off <= 127 &&
        params->input_offset >= -127 && params->input_offset <= 128 &&
        rgb_pwy(params, quant, input_dims, input, filter_dims, filter, bias, output_dims, output)) {
        return TINY_OK;
    }
    int16_t col[2 * TINY_CONV_IM2COL_MAX] __attribute__((aligned(4)));
    int16_t *colb = col + kpad;
    const int32_t npix = out_h * out_w;
    for (int32_t j = K; j < kpad; ++j) col[j] = colb[j] = 0;       /* padding to a multiple of 4 */

    if (out_c <= TINY_RGB_FAST_OC && out_c * kpad <= TINY_RGB_FAST_W) {
        /* Weights zero-padded to kpad and packed once into int16 pairs matching the natural-order
         * im2col buffer (the pixel loop only loads them), per-channel requantization constants of
         * the cheap exact form (see requant_strip.c) hoisted out of the pixel loop. */
        int32_t wsp[TINY_RGB_FAST_W / 2];
        int32_t rq_m[TINY_RGB_FAST_OC], rq_e[TINY_RGB_FAST_OC], rq_k[TINY_RGB_FAST_OC];
        for (int32_t oc = 0; oc < out_c; ++oc) {
            int32_t wabs = 0;
            for (int32_t j = 0; j < kpad; j += 4) {
                int8_t q[4];
                for (int32_t t = 0; t < 4; ++t) {
                    const int32_t v = j + t < K ? filter[oc * K + j + t] : 0;
                    q[t] = (int8_t)v;
                    wabs += v < 0 ? -v : v;
                }
                wsp[(oc * kpad + j) / 2] = tiny_pack16(q[0], q[1]);
                wsp[(oc * kpad + j) / 2 + 1] = tiny_pack16(q[2], q[3]);
            }
            const int32_t m = quant->multiplier[oc], sh = quant->shift[oc];
            const int32_t ok = tiny_acc_small(bias ? bias[oc] : 0, wabs) && m >= 0 && sh <= -1 && sh >= -22 &&
                               out_off >= -128 && out_off <= 127;
            rq_m[oc] = m;
            rq_e[oc] = ok ? -sh : 0;
            rq_k[oc] = ok ? (1 << (-sh - 1)) + (int32_t)((uint32_t)out_off << -sh) : 0;
        }
        const int full = lo == -128 && hi == 127;
        for (int32_t b = 0; b < input_dims->n; ++b) {
            const int8_t *in_b = input + b * in_h * in_w * in_c;
            int8_t *out_b = output + b * npix * out_c;
            for (int32_t p = 0; p < npix; p += 2) {
                const int two = gather_pair(in_b, input_dims, filter_dims, params, out_w, npix, p, kpad, col, colb);
                int8_t *out = out_b + p * out_c;
                const int32_t *w = wsp;
                for (int32_t oc = 0; oc < out_c; ++oc) {
                    const int32_t bias_v = bias ? bias[oc] : 0;
                    int32_t a = bias_v, c = bias_v;
                    /* the common receptive fields (3x3x1, 3x3x3) fully unrolled */
                    if (kpad == 12) w = rgb_dot(w, col, colb, 3, &a, &c);
                    else if (kpad == 28) w = rgb_dot(w, col, colb, 7, &a, &c);
                    else w = rgb_dot(w, col, colb, kpad / 4, &a, &c);
                    const int32_t e = rq_e[oc];
                    if (e) {
                        const int32_t m = rq_m[oc], kk = rq_k[oc];
                        const int32_t ha = tiny_smmulr(a * 2, m), hc = tiny_smmulr(c * 2, m);
                        int32_t va = (ha + (ha >> 31) + kk) >> e, vc = (hc + (hc >> 31) + kk) >> e;
                        if (full) {
                            va = __builtin_arm_ssat(va, 8);
                            vc = __builtin_arm_ssat(vc, 8);
                        } else {
                            va = va < lo ? lo : va;
                            va = va > hi ? hi : va;
                            vc = vc < lo ? lo : vc;
                            vc = vc > hi ? hi : vc;
                        }
                        out[oc] = (int8_t)va;
                        if (two) out[out_c + oc] = (int8_t)vc;
                    } else {
                        const tiny_rq r = tiny_rq_make(quant->multiplier[oc], quant->shift[oc]);
                        out[oc] = tiny_arm_out(a, r, out_off, lo, hi);
                        if (two) out[out_c + oc] = tiny_arm_out(c, r, out_off, lo, hi);
                    }
                }
            }
        }
        return TINY_OK;
    }
    for (int32_t b = 0; b < input_dims->n; ++b) {
        const int8_t *in_b = input + b * in_h * in_w * in_c;
        int8_t *out_b = output + b * npix * out_c;
        for (int32_t p = 0; p < npix; p += 2) {
            const int two = gather_pair(in_b, input_dims, filter_dims, params, out_w, npix, p, kpad, col, colb);
            int8_t *out = out_b + p * out_c;
            const int8_t *w = filter;
            for (int32_t oc = 0; oc < out_c; ++oc, w += K) {
                const int32_t bias_v = bias ? bias[oc] : 0;
                int32_t a = bias_v, c = bias_v;
                const int32_t *ca = (const int32_t *)col, *cb = (const int32_t *)colb;
                int32_t k = 0;
                for (; k < K4; k += 4, ca += 2, cb += 2) {
                    const int32_t v = tiny_ld32(w + k);
                    const int32_t we = tiny_sxtb16(v), wo = tiny_sxtb16_ror8(v);   /* (w0, w2), (w1, w3) */
                    const int32_t w01 = (int32_t)(((uint32_t)we & 0xFFFFu) | ((uint32_t)wo << 16));
                    const int32_t w23 = (int32_t)(((uint32_t)wo & 0xFFFF0000u) | ((uint32_t)we >> 16));
                    a = tiny_smlad(ca[0], w01, a);
                    a = tiny_smlad(ca[1], w23, a);
                    c = tiny_smlad(cb[0], w01, c);
                    c = tiny_smlad(cb[1], w23, c);
                }
                for (; k < K; ++k) {
                    a += w[k] * col[k];
                    c += w[k] * colb[k];
                }
                const tiny_rq r = tiny_rq_make(quant->multiplier[oc], quant->shift[oc]);
                out[oc] = tiny_arm_out(a, r, out_off, lo, hi);
                if (two) out[out_c + oc] = tiny_arm_out(c, r, out_off, lo, hi);
            }
        }
    }
    return TINY_OK;
}

tiny_status tiny_conv2d_s8_dsp(const tiny_ctx *ctx, const tiny_conv_params *params,
                               const tiny_per_channel_quant *quant, const tiny_dims *input_dims,
                               const int8_t *input, const tiny_dims *filter_dims, const int8_t *filter,
                               const tiny_dims *bias_dims, const int32_t *bias,
                               const tiny_dims *output_dims, int8_t *output) {
    return tiny_conv2d_s8_rgb(ctx, params, quant, input_dims, input, filter_dims, filter, bias_dims, bias,
                              output_dims, output);
}
#endif
