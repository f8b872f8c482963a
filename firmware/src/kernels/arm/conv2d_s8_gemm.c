/* CONV_2D of any kernel size (3x3, 5x5, 7x7, 10x4, 1xN, Nx1...), any stride and padding, groups 1,
 * no dilation: a blocked im2col + SMLAD GEMM. Same arguments and results as tiny_conv2d_s8; other
 * calls (grouped, dilated, too little scratch) are handed to it.
 *
 * The receptive fields of two output pixels are copied (int8, window rows are k_w * in_c contiguous
 * bytes) into a column buffer; taps outside the input are filled with the input zero point
 * -input_offset, whose (x + input_offset) is 0, exactly as the portable kernel skipping them. The
 * input offset is then folded into the bias once per call (bias + input_offset * sum w), so the
 * GEMM reads raw int8 on both sides: 2 output channels x 2 pixels x 4 taps per step = 4 LDR,
 * 6 SXTB16, 8 SMLAD for 16 MACs; the filter is read in its stored order (one row of K bytes per
 * output channel, contiguous). Requantization is fused (per-channel constants of the cheap exact
 * form of requant_strip.c, precomputed once per call; channels off that form use tiny_arm_out).
 *
 * Scratch: an int16 column pair and one int8 column (5 x K rounded up to 4) + 16 bytes per output channel
 * (tiny_conv2d_s8_gemm_get_buffer_size); up to TINY_GEMM_STACK bytes it lives on the stack and the
 * planner gives none (the size is mirrored by tiny/emit/cost.py). */
#include "arm_common.h"
#include "tiny/kernels_arm.h"

#ifdef TINY_ARM_DSP

static int32_t gemm_need(const tiny_dims *filter_dims, const tiny_dims *output_dims) {
    const int32_t K = filter_dims->h * filter_dims->w * filter_dims->c;
    return 5 * ((K + 3) & ~3) + 16 * output_dims->c;
}

int32_t tiny_conv2d_s8_gemm_get_buffer_size(const tiny_dims *input_dims, const tiny_dims *filter_dims,
                                            const tiny_dims *output_dims) {
    (void)input_dims;
    const int32_t need = gemm_need(filter_dims, output_dims);
    return need <= TINY_GEMM_STACK ? 0 : need + 4;     /* + 4: room to align the planned buffer */
}

/* Sum and sum of magnitudes of n int8 weights (the folded bias and the accumulator bound), 4 at a
 * time by USADA8 on the bytes flipped to unsigned (u = w + 128): sum |u - 0| = sum w + 128 n and
 * sum |u - 128| = sum |w|. */
static int32_t wsum(const int8_t *w, int32_t n, int32_t *abs_sum) {
    uint32_t u = 0, a = 0;
    int32_t k = 0;
    for (; k + 4 <= n; k += 4) {
        const uint32_t v = (uint32_t)tiny_ld32(w + k) ^ 0x80808080u;
        u = __builtin_arm_usada8(v, 0, u);
        a = __builtin_arm_usada8(v, 0x80808080u, a);
    }
    int32_t s = (int32_t)u - 128 * k, sa = (int32_t)a;
    for (; k < n; ++k) {
        s += w[k];
        sa += w[k] < 0 ? -w[k] : w[k];
    }
    *abs_sum = sa;
    return s;
}

/* One output pixel's receptive field into col (K bytes, natural order ky, kx, c). */
static void gather8(const int8_t *in, int32_t in_h, int32_t in_w, int32_t in_c, int32_t y0, int32_t x0,
                    int32_t k_h, int32_t k_w, int8_t pad, int8_t *col) {
    const int32_t rowlen = k_w * in_c;
    const int inside = x0 >= 0 && x0 + k_w <= in_w;
    for (int32_t ky = 0; ky < k_h; ++ky, col += rowlen) {
        const int32_t iy = y0 + ky;
        if (iy < 0 || iy >= in_h) {
            memset(col, pad, (size_t)rowlen);
            continue;
        }
        const int8_t *p = in + (iy * in_w + x0) * in_c;
        if (inside) {
            memcpy(col, p, (size_t)rowlen);
            continue;
        }
        for (int32_t kx = 0; kx < k_w; ++kx) {
            const int32_t ix = x0 + kx;
            if (ix >= 0 && ix < in_w) memcpy(col + kx * in_c, p + kx * in_c, (size_t)in_c);
            else memset(col + kx * in_c, pad, (size_t)in_c);
        }
    }
}

/* Pixel p's int8 receptive field (col8, K bytes) into its slots of the int16 column pair: per 4 taps
 * [a(0,2) a(1,3) b(0,2) b(1,3)] as SXTB16 / SXTB16 ROR 8 give them, matching the weight halves. */
TINY_INLINE void expand(const int8_t *col8, int32_t K4, int32_t *col16) {
    for (int32_t j = 0; j < K4; j += 4, col16 += 4) {
        const int32_t v = tiny_ld32(col8 + j);
        col16[0] = tiny_sxtb16(v);
        col16[1] = tiny_sxtb16_ror8(v);
    }
}

#define GEMM_STEP(X)                                                                                   \
    "ldrd %[t0], %[t1], [%[x], #" #X "]\n\t"                                                       \
    "ldr %[t4], [%[w]], #4\n\t"                                                                    \
    "ldrd %[t2], %[t3], [%[x], #" #X "+8]\n\t"                                                     \
    "sxtb16 %[t5], %[t4]\n\t"                                                                      \
    "sxtb16 %[t4], %[t4], ror #8\n\t"                                                              \
    "smlad %[a0], %[t0], %[t5], %[a0]\n\t"                                                         \
    "smlad %[a0], %[t1], %[t4], %[a0]\n\t"                                                         \
    "smlad %[c0], %[t2], %[t5], %[c0]\n\t"                                                         \
    "smlad %[c0], %[t3], %[t4], %[c0]\n\t"                                                         \
    "ldr %[t4], [%[w], %[k]]\n\t"                                                                  \
    "sxtb16 %[t5], %[t4]\n\t"                                                                      \
    "sxtb16 %[t4], %[t4], ror #8\n\t"                                                              \
    "smlad %[a1], %[t0], %[t5], %[a1]\n\t"                                                         \
    "smlad %[a1], %[t1], %[t4], %[a1]\n\t"                                                         \
    "smlad %[c1], %[t2], %[t5], %[c1]\n\t"                                                         \
    "smlad %[c1], %[t3], %[t4], %[c1]\n\t"
#define GEMM_OPERANDS                                                                                  \
    : [a0] "+r"(a0), [a1] "+r"(a1), [c0] "+r"(c0), [c1] "+r"(c1), [x] "+r"(x), [w] "+r"(w0),           \
      [t0] "=&r"(t0), [t1] "=&r"(t1), [t2] "=&r"(t2), [t3] "=&r"(t3), [t4] "=&r"(t4), [t5] "=&r"(t5)   \
    : [k] "r"(km4), [e] "r"(end)                                                                       \
    : "cc", "memory"

/* 2 channels x 2 pixels over the K4 taps of the int16 column pair x (x < end); channel 1's weights at
 * w0 + K. Two groups of 4 taps per loop turn: 17 instructions per 16 MACs (LDRD x2, LDR x2, 4 SXTB16,
 * 8 SMLAD, + the loop's half). In assembly because it needs 14 registers and GCC spills the loop
 * bound otherwise. r = {a0, a1, c0, c1}. */
TINY_INLINE void gemm_core(const int32_t *x, const int32_t *end, const int8_t *w0, int32_t K, int32_t *pa0,
                           int32_t *pa1, int32_t *pc0, int32_t *pc1) {
    int32_t a0 = *pa0, a1 = *pa1, c0 = *pc0, c1 = *pc1;
    int32_t t0, t1, t2, t3, t4, t5;
    const int32_t km4 = K - 4;
    if ((end - x) & 4) {   /* an odd number of 4-tap groups: one first */
        __asm__ volatile(GEMM_STEP(0) "add %[x], %[x], #16\n\t" GEMM_OPERANDS);
    }
    if (x < end) {
        __asm__ volatile("1:\n\t" GEMM_STEP(0) GEMM_STEP(16) "add %[x], %[x], #32\n\t"
                         "cmp %[x], %[e]\n\t"
                         "bne 1b\n\t" GEMM_OPERANDS);
    }
    *pa0 = a0;
    *pa1 = a1;
    *pc0 = c0;
    *pc1 = c1;
}

__attribute__((noinline)) static void gemm_block(const int32_t *x, const int32_t *end, const int8_t *w0,
                                                 int32_t K, int32_t *r) {
    gemm_core(x, end, w0, K, &r[0], &r[1], &r[2], &r[3]);
}

/* Per-channel constants: folded bias, multiplier, cheap-form constant (0 = general form), shift. */
typedef struct {
    int32_t fb, m, k, e;
} gemm_ch;

TINY_INLINE int8_t gemm_q(int32_t acc, const gemm_ch *c, int32_t lo, int32_t hi) {
    const int32_t h = tiny_smmulr(acc * 2, c->m);
    int32_t v = (h + (h >> 31) + c->k) >> c->e;
    v = v < lo ? lo : v;
    v = v > hi ? hi : v;
    return (int8_t)v;
}

/* The common case in one call per pixel pair: both pixels, all channel pairs [0, n2 * 2) on the cheap
 * form, no tap tail. */
__attribute__((noinline)) static void gemm_pairs_q(const int32_t *x, const int32_t *end, const int8_t *w0,
                                                   int32_t K, const gemm_ch *c, int8_t *out, int32_t out_c,
                                                   int32_t n2, int32_t lo, int32_t hi) {
    for (int32_t j = 0; j < n2; ++j, w0 += 2 * K, c += 2, out += 2) {
        int32_t a0 = c[0].fb, a1 = c[1].fb, c0 = a0, c1 = a1;
        gemm_core(x, end, w0, K, &a0, &a1, &c0, &c1);
        out[0] = gemm_q(a0, &c[0], lo, hi);
        out[1] = gemm_q(a1, &c[1], lo, hi);
        out[out_c] = gemm_q(c0, &c[0], lo, hi);
        out[out_c + 1] = gemm_q(c1, &c[1], lo, hi);
    }
}

/* 1 channel x 2 pixels (the odd last channel). */
static void gemm_one(const int32_t *x, const int32_t *end, const int8_t *w0, int32_t *pa, int32_t *pc) {
    int32_t a = *pa, c = *pc;
    for (; x < end; x += 4, w0 += 4) {
        const int32_t v = tiny_ld32(w0), we = tiny_sxtb16(v), wo = tiny_sxtb16_ror8(v);
        a = tiny_smlad(x[0], we, a);
        a = tiny_smlad(x[1], wo, a);
        c = tiny_smlad(x[2], we, c);
        c = tiny_smlad(x[3], wo, c);
    }
    *pa = a;
    *pc = c;
}

/* Requantize one accumulator of channel oc: cheap exact form when rk != 0 (see requant_strip.c). */
TINY_INLINE int8_t gemm_out(int32_t acc, int32_t rk, int32_t m, int32_t sh, int32_t out_off, int32_t lo,
                            int32_t hi, int full) {
    if (rk) {
        const int32_t h = tiny_smmulr(acc * 2, m);
        int32_t v = (h + (h >> 31) + rk) >> -sh;
        if (full) return (int8_t)__builtin_arm_ssat(v, 8);
        v = v < lo ? lo : v;
        v = v > hi ? hi : v;
        return (int8_t)v;
    }
    return tiny_arm_out(acc, tiny_rq_make(m, sh), out_off, lo, hi);
}

tiny_status tiny_conv2d_s8_gemm(const tiny_ctx *ctx, const tiny_conv_params *params,
                                const tiny_per_channel_quant *quant, const tiny_dims *input_dims,
                                const int8_t *input, const tiny_dims *filter_dims, const int8_t *filter,
                                const tiny_dims *bias_dims, const int32_t *bias,
                                const tiny_dims *output_dims, int8_t *output) {
    int32_t stack_buf[TINY_GEMM_STACK / 4];
    int32_t need = 0;
    int8_t *buf = NULL;
    if (params && quant && input_dims && input && filter_dims && filter && output_dims && output &&
        filter_dims->c == input_dims->c && filter_dims->n == output_dims->c && params->dilation.h == 1 &&
        params->dilation.w == 1 && input_dims->n == output_dims->n && params->input_offset >= -127 &&
        params->input_offset <= 128) {
        need = gemm_need(filter_dims, output_dims);
        if (need <= TINY_GEMM_STACK) {
            buf = (int8_t *)stack_buf;
        } else if (ctx && ctx->buf && ctx->size >= need + 4) {
            buf = (int8_t *)(((uintptr_t)ctx->buf + 3) & ~(uintptr_t)3);
        }
    }
    if (!buf) {
        return tiny_conv2d_s8(ctx, params, quant, input_dims, input, filter_dims, filter, bias_dims, bias,
                              output_dims, output);
    }
    const int32_t in_h = input_dims->h, in_w = input_dims->w, in_c = input_dims->c;
    const int32_t k_h = filter_dims->h, k_w = filter_dims->w;
    const int32_t out_h = output_dims->h, out_w = output_dims->w, out_c = output_dims->c;
    const int32_t K = k_h * k_w * in_c, K4 = K & ~3, kpad = (K + 3) & ~3;
    const int32_t in_off = params->input_offset, out_off = params->output_offset;
    const int32_t lo = params->activation.min, hi = params->activation.max;
    const int32_t sh_h = params->stride.h, sh_w = params->stride.w, ph = params->padding.h, pw = params->padding.w;
    const int8_t pad = (int8_t)(-in_off);
    const int full = lo == -128 && hi == 127;
    gemm_ch *ch = (gemm_ch *)buf;
    int32_t *col16 = (int32_t *)(ch + out_c);   /* int16 column pair, 4 * kpad bytes */
    int8_t *col8 = (int8_t *)(col16 + kpad); /* one pixel's int8 receptive field, kpad bytes */
    const int32_t *c16_end = col16 + K4;
    static const int8_t perm[4] = {0, 2, 1, 3};   /* tap t of a 4-group -> its int16 slot */
    const int16_t *tail16 = (const int16_t *)(col16 + K4);
    int all_cheap = K4 == K;
    for (int32_t oc = 0; oc < out_c; ++oc) {
        int32_t wabs;
        const int32_t s = wsum(filter + oc * K, K, &wabs);
        const int32_t b = (bias ? bias[oc] : 0) + in_off * s;
        const int32_t m = quant->multiplier[oc], sh = quant->shift[oc];
        const int cheap = tiny_acc_small(b, wabs) && m >= 0 && sh <= -1 && sh >= -22 && out_off >= -128 &&
                          out_off <= 127;
        ch[oc] = (gemm_ch){b, m, cheap ? (1 << (-sh - 1)) + (int32_t)((uint32_t)out_off << -sh) : 0, -sh};
        all_cheap &= cheap;
    }
    const int32_t npix = out_h * out_w, rowlen = k_w * in_c, direct = rowlen % 4 == 0;
    for (int32_t bt = 0; bt < input_dims->n; ++bt) {
        const int8_t *in_b = input + bt * in_h * in_w * in_c;
        int8_t *out_b = output + bt * npix * out_c;
        for (int32_t p = 0; p < npix; p += 2) {
            const int two = p + 1 < npix;
            for (int32_t i = 0; i < 2; ++i) {
                const int32_t q = two ? p + i : p;
                const int32_t y0 = (q / out_w) * sh_h - ph, x0 = (q % out_w) * sh_w - pw;
                if (direct && y0 >= 0 && y0 + k_h <= in_h && x0 >= 0 && x0 + k_w <= in_w) {
                    /* window inside the input, rows a multiple of 4 taps: expand straight from it */
                    const int8_t *src = in_b + (y0 * in_w + x0) * in_c;
                    int32_t *dst = col16 + 2 * i;
                    for (int32_t ky = 0; ky < k_h; ++ky, src += in_w * in_c, dst += 4 * (rowlen / 4)) {
                        expand(src, rowlen, dst);
                    }
                    continue;
                }
                gather8(in_b, in_h, in_w, in_c, y0, x0, k_h, k_w, pad, col8);
                for (int32_t k = K; k < kpad; ++k) col8[k] = 0;
                expand(col8, kpad, col16 + 2 * i);
            }
            int8_t *out = out_b + p * out_c;
            int32_t oc = 0;
            if (all_cheap && two) {
                gemm_pairs_q(col16, c16_end, filter, K, ch, out, out_c, out_c / 2, lo, hi);
                oc = out_c & ~1;
            }
            for (; oc + 2 <= out_c; oc += 2) {
                const int8_t *w0 = filter + oc * K, *w1 = w0 + K;
                int32_t r[4] = {ch[oc].fb, ch[oc + 1].fb, ch[oc].fb, ch[oc + 1].fb};
                if (K4) gemm_block(col16, c16_end, w0, K, r);
                for (int32_t k = K4; k < K; ++k) {
                    const int32_t xa = tail16[perm[k - K4]], xb = tail16[4 + perm[k - K4]];
                    r[0] += w0[k] * xa;
                    r[1] += w1[k] * xa;
                    r[2] += w0[k] * xb;
                    r[3] += w1[k] * xb;
                }
                const int32_t m0 = quant->multiplier[oc], m1 = quant->multiplier[oc + 1];
                const int32_t s0 = quant->shift[oc], s1 = quant->shift[oc + 1];
                out[oc] = gemm_out(r[0], ch[oc].k, m0, s0, out_off, lo, hi, full);
                out[oc + 1] = gemm_out(r[1], ch[oc + 1].k, m1, s1, out_off, lo, hi, full);
                if (two) {
                    out[out_c + oc] = gemm_out(r[2], ch[oc].k, m0, s0, out_off, lo, hi, full);
                    out[out_c + oc + 1] = gemm_out(r[3], ch[oc + 1].k, m1, s1, out_off, lo, hi, full);
                }
            }
            if (oc < out_c) {   /* odd channel count: the last channel */
                const int8_t *w0 = filter + oc * K;
                int32_t a = ch[oc].fb, c = ch[oc].fb;
                gemm_one(col16, c16_end, w0, &a, &c);
                for (int32_t k = K4; k < K; ++k) {
                    a += w0[k] * tail16[perm[k - K4]];
                    c += w0[k] * tail16[4 + perm[k - K4]];
                }
                out[oc] = gemm_out(a, ch[oc].k, quant->multiplier[oc], quant->shift[oc], out_off, lo, hi, full);
                if (two) {
                    out[out_c + oc] = gemm_out(c, ch[oc].k, quant->multiplier[oc], quant->shift[oc], out_off, lo, hi,
                                               full);
                }
            }
        }
    }
    return TINY_OK;
}
#endif
