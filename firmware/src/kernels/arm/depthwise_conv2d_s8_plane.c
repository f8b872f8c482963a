/* DEPTHWISE_CONV_2D through whole-channel int16 planes, square K x K kernels (K = 3, 5, 7), column
 * stride 1 or 2, any row stride (<= K) and padding, any depth multiplier:
 *  - tiny_depthwise_conv2d_s8_kxk / _inplace_kxk: depth multiplier 1 (5x5 / 7x7 of MobileNetV3 and
 *    MCUNet); calls outside the path go to tiny_depthwise_conv2d_s8_c4 / _inplace_c4;
 *  - tiny_depthwise_conv2d_s8_mult: depth multiplier >= 1 (output channel o = c * mult + m); each input
 *    channel is gathered once for its `mult` output channels; other calls go to the portable kernel.
 * Same arguments and results as tiny_depthwise_conv2d_s8 (and, in place, as the in-place kernel).
 *
 * The padded plane of input channel c (R rows of L int16, L = (out_w - 1) * s_w + K) is gathered
 * into a stack buffer; pad positions are never written and keep -input_offset, which with the
 * input offset folded into the bias (base = bias + in_off * sum w) contributes exactly 0, as the
 * portable kernel's skip. Four outputs of a row per step: per tap row, SMLAD over the (K - 1) / 2
 * weight pairs (unaligned word loads of input pairs, shared between outputs) and SMLABB / SMLATB for
 * the last tap; weights stay on the stack as packed pairs at compile-time offsets. Accumulators go
 * to tiny_arm_requant_strip (doubled when |acc| < 2^30 is proven). Channel c is gathered completely
 * before any output of it is written, so in place (mult 1) needs no scratch.
 *
 * Planes larger than the buffer (MCUNet's 7x7 s2 on 40x40: a 45x45 plane) go in bands of B output
 * rows, (B - 1) s_h + K plane rows each (the K - s_h rows shared by two bands are gathered twice).
 * In place, band b's rows are read after the bands before it wrote channel c, so banding is only
 * taken when each band's first input row starts at or past the pixels already written
 * (pl_bands_safe; downsampling strides, not stride-1 'same'); tiny/emit/cost.py dw_plane_fits mirrors
 * the rule. */
#include "arm_common.h"
#include "tiny/kernels_arm.h"

#ifdef TINY_ARM_DSP
#define PL_BUF 1296    /* int16 plane buffer (2.6 KiB of stack) */
#define PL_ACC 256     /* accumulators requantized together (whole output rows) */
#define PL_MIN_BAND 4  /* fewer output rows per band: the shared rows' second gather costs too much */

typedef struct {
    const int8_t *in;
    int32_t in_h, in_w, ch, out_c, mult, k, s_h, s_w, pad_h, pad_w, out_h, out_w;
    int32_t in_off, out_off, lo, hi, L, R;
    int32_t B, RB;     /* output rows per band, plane rows per band (B = out_h, RB = R: whole plane) */
    int32_t y_b, y_e;  /* the band being computed: output rows [y_b, y_e) */
} pl_geo;

TINY_INLINE int32_t pl_ld(const int16_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}
TINY_INLINE void pl_st(int16_t *p, int32_t v) { memcpy(p, &v, 4); }
TINY_INLINE int32_t pl_smlabb(int32_t a, int32_t b, int32_t acc) { return __builtin_arm_smlabb(a, b, acc); }
TINY_INLINE int32_t pl_smlatb(int32_t a, int32_t b, int32_t acc) { return __builtin_arm_smlatb(a, b, acc); }

static int pl_init(pl_geo *g, const tiny_dw_conv_params *p, const tiny_dims *in, const int8_t *input,
                   const tiny_dims *f, const tiny_dims *out) {
    if (!p || !in || !f || !out || p->ch_mult < 1 || p->dilation.h != 1 || p->dilation.w != 1 || in->n != 1 ||
        out->n != 1 || out->c != in->c * p->ch_mult || f->c != out->c || f->h != f->w ||
        (f->h != 3 && f->h != 5 && f->h != 7) || (p->stride.w != 1 && p->stride.w != 2) || p->stride.h < 1 ||
        p->stride.h > f->h || out->h < 1 || out->w < 1)
        return 0;
    g->in = input;
    g->in_h = in->h;
    g->in_w = in->w;
    g->ch = in->c;
    g->out_c = out->c;
    g->mult = p->ch_mult;
    g->k = f->h;
    g->s_h = p->stride.h;
    g->s_w = p->stride.w;
    g->pad_h = p->padding.h;
    g->pad_w = p->padding.w;
    g->out_h = out->h;
    g->out_w = out->w;
    g->in_off = p->input_offset;
    g->out_off = p->output_offset;
    g->lo = p->activation.min;
    g->hi = p->activation.max;
    g->L = (out->w - 1) * p->stride.w + f->h;
    g->R = (out->h - 1) * p->stride.h + f->h;
    if (out->w > PL_ACC || g->L > PL_BUF) return 0;
    if ((int64_t)g->L * g->R <= PL_BUF) {
        g->B = g->out_h;
        g->RB = g->R;
        return 1;
    }
    const int32_t rows = PL_BUF / g->L;   /* plane rows the buffer holds */
    g->B = rows < g->k ? 0 : (rows - g->k) / g->s_h + 1;
    g->RB = (g->B - 1) * g->s_h + g->k;
    if (g->B < PL_MIN_BAND) return 0;
    /* in-place safety: before band y0's gather, channel c holds outputs at pixels < y0 * out_w; its
     * first input row is y0 * s_h - pad_h (the pixels it reads start at that row times in_w) */
    for (int32_t y0 = g->B; y0 < g->out_h; y0 += g->B)
        if ((int64_t)y0 * g->out_w > (int64_t)(y0 * g->s_h - g->pad_h) * g->in_w) return 0;
    return 1;
}

/* Plane rows [pr, pr + nr) of input channel c into P (row stride L): the rows inside the input
 * gathered; pad columns untouched. Banded, a pad row's middle may hold an earlier band's data and is
 * set back to the pad value (the whole plane: P's pad rows are never written). */
TINY_INLINE void pl_gather_t(const pl_geo *g, int32_t c, int16_t *P, int32_t pr, int32_t nr, const int banded) {
    const int32_t L = g->L, ch = g->ch;
    int32_t ga = g->pad_w, gb = g->in_w + g->pad_w, r0 = g->pad_h, r1 = g->in_h + g->pad_h;
    if (ga < 0) ga = 0;
    if (gb > L) gb = L;
    if (ga > gb) ga = gb;
    if (r0 < pr) r0 = pr;
    if (r1 > pr + nr) r1 = pr + nr;
    if (r1 < r0) r1 = r0;
    if (banded) {
        const int16_t pad = (int16_t)(-g->in_off);
        for (int32_t r = pr; r < pr + nr; ++r) {
            if (r >= r0 && r < r1) continue;
            for (int32_t x = ga; x < gb; ++x) P[(r - pr) * L + x] = pad;
        }
    }
    const int32_t n = gb - ga, step = g->in_w * ch;
    const int8_t *src = g->in + ((r0 - g->pad_h) * g->in_w + ga - g->pad_w) * ch + c;
    int16_t *row = P + (r0 - pr) * L + ga;
    for (int32_t r = r0; r < r1; ++r, src += step, row += L) {
        const int8_t *q = src;
        int16_t *o = row;
        int32_t k = n;
        for (; k >= 4; k -= 4, o += 4, q += 4 * ch) {
            const int32_t v0 = q[0], v1 = q[ch], v2 = q[2 * ch], v3 = q[3 * ch];
            pl_st(o, tiny_pkhbt(v0, v1));
            pl_st(o + 2, tiny_pkhbt(v2, v3));
        }
        for (; k > 0; --k, ++o, q += ch) *o = *q;
    }
}

/* The whole plane (the channel loop's set-up as before banding) and one band. */
static void pl_gather(const pl_geo *g, int32_t c, int16_t *P) { pl_gather_t(g, c, P, 0, g->R, 0); }
__attribute__((noinline)) static void pl_gather_band(const pl_geo *g, int32_t c, int16_t *P, int32_t pr, int32_t nr) {
    pl_gather_t(g, c, P, pr, nr, 1);
}

/* Output rows [g->y_b, g->y_e) of channel o (filter column o) from the gathered band P (its row 0:
 * plane row y_b * s_h): K, SW compile-time. */
TINY_INLINE void pl_channel_t(const pl_geo *g, int32_t o, const int8_t *filter, int32_t bias, int32_t multiplier,
                              int32_t shift, int8_t *dst, const int16_t *P, const int32_t K, const int32_t SW) {
    const int32_t y_b = g->y_b, y_e = g->y_e;
    enum { NW = 4 };    /* words per tap row: (K - 1) / 2 pairs + the last tap (K <= 7) */
    const int32_t NP = (K - 1) / 2, out_c = g->out_c, out_w = g->out_w, L = g->L;
    int32_t w[49], wsum = 0;
    const int8_t *fp = filter + o;
    for (int32_t t = 0; t < K * K; ++t, fp += out_c) {
        w[t] = *fp;
        wsum += w[t];
    }
    /* |acc| bound with the worst case sum |w| <= 128 K^2: valid, it only picks the requantization form
     * (both exact), for a fraction of the per-channel set-up */
    const int32_t small = tiny_acc_small(bias + g->in_off * wsum, 128 * K * K);
    const int32_t sh = small ? 1 : 0;
    const int32_t base = (bias + g->in_off * wsum) << sh;
    int32_t wp[7 * NW];
    for (int32_t ky = 0; ky < K; ++ky) {
        for (int32_t j = 0; j < NP; ++j)
            wp[ky * NW + j] = tiny_pkhbt(w[ky * K + 2 * j] << sh, w[ky * K + 2 * j + 1] << sh);
        wp[ky * NW + NP] = w[ky * K + K - 1] << sh;
    }
    int32_t acc[PL_ACC];
    const int32_t band = PL_ACC / out_w, blocks = out_w >> 2, rest = out_w & 3;
    const int32_t row_step = g->s_h * L;
    for (int32_t oy0 = y_b; oy0 < y_e; oy0 += band) {
        const int32_t oy1 = oy0 + band < y_e ? oy0 + band : y_e;
        int32_t *a_p = acc;
        const int16_t *rp = P + (oy0 - y_b) * row_step;
        for (int32_t oy = oy0; oy < oy1; ++oy, rp += row_step) {
            const int16_t *r = rp;
            for (int32_t k = blocks; k > 0; --k, r += 4 * SW, a_p += 4) {
                int32_t a = base, b = base, c = base, d = base;
                const int16_t *q = r;
#pragma GCC unroll 7
                for (int32_t ky = 0; ky < K; ++ky, q += L) {
                    for (int32_t j = 0; j < NP; ++j) {
                        const int32_t W = wp[ky * NW + j];
                        a = tiny_smlad(pl_ld(q + 2 * j), W, a);
                        b = tiny_smlad(pl_ld(q + SW + 2 * j), W, b);
                        c = tiny_smlad(pl_ld(q + 2 * SW + 2 * j), W, c);
                        d = tiny_smlad(pl_ld(q + 3 * SW + 2 * j), W, d);
                    }
                    const int32_t WL = wp[ky * NW + NP];
                    if (SW == 1) {
                        const int32_t X = pl_ld(q + K - 1), Y = pl_ld(q + K + 1);
                        a = pl_smlabb(X, WL, a);
                        b = pl_smlatb(X, WL, b);
                        c = pl_smlabb(Y, WL, c);
                        d = pl_smlatb(Y, WL, d);
                    } else {
                        a += q[K - 1] * WL;
                        b += q[K - 1 + SW] * WL;
                        c += q[K - 1 + 2 * SW] * WL;
                        d += q[K - 1 + 3 * SW] * WL;
                    }
                }
                a_p[0] = a;
                a_p[1] = b;
                a_p[2] = c;
                a_p[3] = d;
            }
            for (int32_t k = rest; k > 0; --k, r += SW) {
                int32_t a = base;
                const int16_t *q = r;
#pragma GCC unroll 7
                for (int32_t ky = 0; ky < K; ++ky, q += L) {
                    for (int32_t j = 0; j < NP; ++j) a = tiny_smlad(pl_ld(q + 2 * j), wp[ky * NW + j], a);
                    a += q[K - 1] * wp[ky * NW + NP];
                }
                *a_p++ = a;
            }
        }
        tiny_arm_requant_strip(acc, (oy1 - oy0) * out_w, multiplier, shift, g->out_off, g->lo, g->hi,
                               dst + oy0 * out_w * out_c, out_c, small ? TINY_RQ_DOUBLED : 0);
    }
}

typedef void (*pl_fn)(const pl_geo *, int32_t, const int8_t *, int32_t, int32_t, int32_t, int8_t *, const int16_t *);
#define PL_FN(K, SW)                                                                                           \
    __attribute__((noinline)) static void pl_channel_##K##_##SW(const pl_geo *g, int32_t o, const int8_t *f, \
                                                                int32_t b, int32_t m, int32_t s, int8_t *dst,  \
                                                                const int16_t *P) {                            \
        pl_channel_t(g, o, f, b, m, s, dst, P, K, SW);                                                         \
    }
PL_FN(3, 1)
PL_FN(3, 2)
PL_FN(5, 1)
PL_FN(5, 2)
PL_FN(7, 1)
PL_FN(7, 2)
#undef PL_FN

static void pl_run(pl_geo *g, const int8_t *filter, const int32_t *bias, const tiny_per_channel_quant *quant,
                   int8_t *output) {
    int16_t P[PL_BUF] __attribute__((aligned(4)));
    const int16_t pad = (int16_t)(-g->in_off);
    for (int32_t i = 0; i < g->L * g->RB; ++i) P[i] = pad;
    const pl_fn fns[3][2] = {{pl_channel_3_1, pl_channel_3_2}, {pl_channel_5_1, pl_channel_5_2},
                             {pl_channel_7_1, pl_channel_7_2}};
    const pl_fn fn = fns[(g->k - 3) / 2][g->s_w - 1];
    g->y_b = 0;
    g->y_e = g->out_h;
    if (g->B == g->out_h) {   /* the whole plane: the gather's set-up hoisted out of the channel loop */
        for (int32_t c = 0; c < g->ch; ++c) {
            pl_gather(g, c, P);
            for (int32_t m = 0, o = c * g->mult; m < g->mult; ++m, ++o)
                fn(g, o, filter, bias ? bias[o] : 0, quant->multiplier[o], quant->shift[o], output + o, P);
        }
        return;
    }
    for (int32_t c = 0; c < g->ch; ++c) {
        for (int32_t y0 = 0; y0 < g->out_h; y0 += g->B) {
            const int32_t y1 = y0 + g->B < g->out_h ? y0 + g->B : g->out_h;
            pl_gather_band(g, c, P, y0 * g->s_h, (y1 - 1 - y0) * g->s_h + g->k);
            g->y_b = y0;
            g->y_e = y1;
            for (int32_t m = 0, o = c * g->mult; m < g->mult; ++m, ++o)
                fn(g, o, filter, bias ? bias[o] : 0, quant->multiplier[o], quant->shift[o], output + o, P);
        }
    }
}

tiny_status tiny_depthwise_conv2d_s8_kxk(const tiny_ctx *ctx, const tiny_dw_conv_params *params,
                                         const tiny_per_channel_quant *quant, const tiny_dims *input_dims,
                                         const int8_t *input, const tiny_dims *filter_dims, const int8_t *filter,
                                         const tiny_dims *bias_dims, const int32_t *bias,
                                         const tiny_dims *output_dims, int8_t *output) {
    pl_geo g;
    if (!quant || !input || !filter || !output || !pl_init(&g, params, input_dims, input, filter_dims, output_dims) ||
        g.mult != 1)
        return tiny_depthwise_conv2d_s8_c4(ctx, params, quant, input_dims, input, filter_dims, filter, bias_dims, bias,
                                           output_dims, output);
    pl_run(&g, filter, bias, quant, output);
    return TINY_OK;
}

tiny_status tiny_depthwise_conv2d_s8_inplace_kxk(const tiny_ctx *ctx, const tiny_dw_conv_params *params,
                                                 const tiny_per_channel_quant *quant, const tiny_dims *input_dims,
                                                 const int8_t *input, const tiny_dims *filter_dims,
                                                 const int8_t *filter, const tiny_dims *bias_dims,
                                                 const int32_t *bias, const tiny_dims *output_dims, int8_t *output) {
    pl_geo g;
    if (!quant || !input || !filter || !output || !pl_init(&g, params, input_dims, input, filter_dims, output_dims) ||
        g.mult != 1)
        return tiny_depthwise_conv2d_s8_inplace_c4(ctx, params, quant, input_dims, input, filter_dims, filter,
                                                   bias_dims, bias, output_dims, output);
    pl_run(&g, filter, bias, quant, output);
    return TINY_OK;
}

tiny_status tiny_depthwise_conv2d_s8_mult(const tiny_ctx *ctx, const tiny_dw_conv_params *params,
                                          const tiny_per_channel_quant *quant, const tiny_dims *input_dims,
                                          const int8_t *input, const tiny_dims *filter_dims, const int8_t *filter,
                                          const tiny_dims *bias_dims, const int32_t *bias,
                                          const tiny_dims *output_dims, int8_t *output) {
    pl_geo g;
    if (!quant || !input || !filter || !output || !pl_init(&g, params, input_dims, input, filter_dims, output_dims))
        return tiny_depthwise_conv2d_s8(ctx, params, quant, input_dims, input, filter_dims, filter, bias_dims, bias,
                                        output_dims, output);
    pl_run(&g, filter, bias, quant, output);
    return TINY_OK;
}
#endif
