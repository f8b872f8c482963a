/* DEPTHWISE_CONV_2D (depth multiplier 1, no dilation): same arguments and results as
 * tiny_depthwise_conv2d_s8 / tiny_depthwise_conv2d_s8_inplace. Other cases are handed to the
 * portable kernels.
 *
 * 3x3 kernels (any stride, any padding, including the negative padding of patch windows):
 *  - small images with rows of at most 8 outputs (every input row a channel needs fits 18 x 18):
 *    4 channels at a time (dw_small4);
 *  - column stride 1 and a padded channel plane that fits the row buffer (DS-CNN's 25x5, 24x24,
 *    28x20...): the whole plane of one channel gathered once, four outputs per step (dw_plane_3x3);
 *  - otherwise one channel at a time through a buffer of padded int16 input rows (dw_channel_3x3):
 *    pads hold -input_offset, which with the offset folded into the bias contributes exactly 0, so
 *    borders need no special code; two outputs per step, tap pairs with SMLAD.
 * Other kernel sizes (and rows wider than the row buffer) use the older channel-by-channel code
 * (dw_channel: interior fast path + per-pixel border loop).
 *
 * In place: the one-channel-scratch argument of depthwise_conv2d_inplace_s8.c still holds, and the
 * 3x3 paths usually need no scratch at all: they read a channel's input rows into the stack buffer
 * before writing the output rows that would overwrite them (dw_direct_ok; dw_small4 gathers
 * everything first); otherwise the channel goes through the planner's one-channel scratch. */
#include "arm_common.h"
#include "tiny/kernels_arm.h"

#ifdef TINY_ARM_DSP
#define TINY_DW_MAX_TAPS 64
#define DW_ACC 128   /* 3x3 path: accumulators requantized together (512 bytes of stack) */

typedef struct {
    const int8_t *in;
    int32_t in_h, in_w, ch;
    int32_t k_h, k_w, s_h, s_w, pad_h, pad_w;
    int32_t out_h, out_w;
    int32_t in_off, out_off, lo, hi;
} dw_geo;

/* Accumulator of one output pixel whose window sticks out of the input: only the taps inside
 * the input, with the input offset added per tap (as the portable kernel). */
static int32_t dw_border(const dw_geo *g, const int8_t *in_c, const int32_t *w, int32_t bias, int32_t y0,
                         int32_t x0) {
    const int32_t ky0 = y0 < 0 ? -y0 : 0, ky1 = g->in_h - y0 < g->k_h ? g->in_h - y0 : g->k_h;
    const int32_t kx0 = x0 < 0 ? -x0 : 0, kx1 = g->in_w - x0 < g->k_w ? g->in_w - x0 : g->k_w;
    const int32_t ch = g->ch, in_off = g->in_off;
    int32_t acc = bias;
    for (int32_t ky = ky0; ky < ky1; ++ky) {
        const int8_t *p = in_c + ((y0 + ky) * g->in_w + x0) * ch;
        const int32_t *wk = w + ky * g->k_w;
        for (int32_t kx = kx0; kx < kx1; ++kx) acc += wk[kx] * ((int32_t)p[kx * ch] + in_off);
    }
    return acc;
}


/* ---- 3x3 fast path: padded int16 row ring, one channel at a time --------------------------
 * The k_h = 3 input rows of the current output row are gathered (channel c only) into a ring of
 * int16 rows covering exactly the x range the output row reads; positions outside the input hold
 * -input_offset. With the input offset folded into the bias (base = bias + in_off * sum w), such a
 * tap contributes w * (-in_off) + in_off * w = 0, exactly what the portable kernel's skip gives, so
 * border and interior pixels share one loop and no border code is needed. Adjacent taps of a row
 * are one 32-bit word (SMLAD); the third tap is a halfword multiply (SMLABB/SMLATB...). */
TINY_INLINE int32_t dw_smlabb(int32_t a, int32_t b, int32_t acc) {
    int32_t r;
    __asm__("smlabb %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
    return r;
}
TINY_INLINE int32_t dw_smlatb(int32_t a, int32_t b, int32_t acc) {
    int32_t r;
    __asm__("smlatb %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
    return r;
}
TINY_INLINE int32_t dw_ld32h(const int16_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}
TINY_INLINE void dw_st32h(int16_t *p, int32_t v) { memcpy(p, &v, 4); }

/* Row iy of channel c into R[a, b) (the part of the row inside the input): R[i] = input x = i +
 * x_first. The pad columns R[0, a) and R[b, L) hold -in_off for every row and channel: the caller
 * fills the whole buffer once per call (dw_prefill) and nothing else writes them. Rows outside the
 * input get -in_off in [a, b) too in the wide path, which reuses buffer rows (`clean` = 0); in the
 * small-image path (all rows of a channel, buffer row = iy + pad_h for every channel) those rows are
 * never written, so they still hold the prefill (`clean` = 1). */
TINY_INLINE void dw_gather(const int8_t *in_c, int32_t iy, int32_t in_h, int32_t in_w, int32_t ch, int32_t x0a,
                           int32_t a, int32_t b, int16_t pad, int16_t *R, const int clean) {
    if (iy < 0 || iy >= in_h) {
        if (!clean)
            for (int32_t i = a; i < b; ++i) R[i] = pad;
        return;
    }
    const int8_t *p = in_c + (iy * in_w + x0a) * ch;
    int16_t *r = R + a, *e = R + b;
    for (; r + 4 <= e; r += 4, p += 4 * ch) {
        const int32_t v0 = p[0], v1 = p[ch], v2 = p[2 * ch], v3 = p[3 * ch];
        r[0] = (int16_t)v0;
        r[1] = (int16_t)v1;
        r[2] = (int16_t)v2;
        r[3] = (int16_t)v3;
    }
    for (; r < e; ++r, p += ch) *r = *p;
}

static void dw_prefill(int16_t *buf, int32_t n, int32_t in_off) {
    const int16_t pad = (int16_t)(-in_off);
    for (int32_t i = 0; i < n; ++i) buf[i] = pad;
}

TINY_INLINE int32_t dw_smlabt(int32_t a, int32_t b, int32_t acc) {
    int32_t r;
    __asm__("smlabt %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
    return r;
}
TINY_INLINE int32_t dw_smlatt(int32_t a, int32_t b, int32_t acc) {
    int32_t r;
    __asm__("smlatt %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
    return r;
}

/* One channel, 3x3: results to dst[i * dst_stride] in output order. In place, the caller makes sure
 * writing output row r only clobbers input rows already gathered or never needed (dw_direct_ok).
 * The gathered rows live in a buffer of TINY_DW_NR rows of TINY_DW_ROW int16 (a compile-time
 * stride, so the three taps rows are immediate offsets of one pointer); consecutive input rows
 * are consecutive buffer rows, and rows still needed are moved to the top when the buffer is full. */
TINY_INLINE void dw_channel_3x3_t(const dw_geo *g, int32_t c, const int8_t *filter, int32_t f_stride, int32_t bias,
                                  int32_t multiplier, int32_t shift, int8_t *dst, int32_t dst_stride, int16_t *buf,
                                  const int32_t TINY_DW_ROW, const int32_t TINY_DW_NR) {
    int32_t w[9], wsum = 0, wabs = 0;
    for (int32_t t = 0; t < 9; ++t) {
        w[t] = filter[t * f_stride + c];
        wsum += w[t];
        wabs += w[t] < 0 ? -w[t] : w[t];
    }
    const int32_t small = tiny_acc_small(bias + g->in_off * wsum, wabs);
    /* small: accumulate 2 * acc (weights and base doubled; 2w fits the int16 halves), which the
     * requantization wants as SMMULR operand (TINY_RQ_DOUBLED) - one instruction less per output. */
    if (small)
        for (int32_t t = 0; t < 9; ++t) w[t] *= 2;
    const int32_t base = (bias + g->in_off * wsum) * (small ? 2 : 1);
    const int32_t W0 = tiny_pack16(w[0], w[1]), W1 = tiny_pack16(w[3], w[4]), W2 = tiny_pack16(w[6], w[7]);
    const int32_t c01 = tiny_pack16(w[2], w[5]), c2 = w[8];
    const int32_t rq_mode = small ? TINY_RQ_DOUBLED : 0;
    const int8_t *in_c = g->in + c;
    const int32_t s_w = g->s_w, out_w = g->out_w, x_first = -g->pad_w;
    const int32_t L = (out_w - 1) * s_w + 3;
    int32_t ga = -x_first, gb = g->in_w - x_first;    /* buffer columns inside the input: [ga, gb) */
    if (ga < 0) ga = 0;
    if (gb > L) gb = L;
    if (ga > gb) ga = gb;
    const int32_t x0a = x_first + ga, in_h = g->in_h, in_w = g->in_w, ch = g->ch;
    const int16_t pad = (int16_t)(-g->in_off);
    int32_t top = 0, cnt = 0;         /* buffer rows 0 .. cnt-1 hold input rows top .. top+cnt-1 */
    int32_t acc[DW_ACC];
    int32_t fill = 0;                 /* accumulators waiting for requantization (output order) */
    int8_t *d = dst;
    for (int32_t oy = 0; oy < g->out_h; ++oy) {
        const int32_t y0 = oy * g->s_h - g->pad_h;
        if (cnt == 0 || y0 < top || y0 > top + cnt) {
            top = y0;
            cnt = 0;
        } else if (y0 + 3 - top > TINY_DW_NR) {
            const int32_t keep = top + cnt - y0;
            for (int32_t k = 0; k < keep; ++k)
                memcpy(buf + k * TINY_DW_ROW, buf + (y0 - top + k) * TINY_DW_ROW, (size_t)L * 2);
            top = y0;
            cnt = keep;
        }
        for (int32_t iy = top + cnt; iy < y0 + 3; ++iy)
            dw_gather(in_c, iy, in_h, in_w, ch, x0a, ga, gb, pad, buf + (iy - top) * TINY_DW_ROW, TINY_DW_NR == 16);
        if (cnt < y0 + 3 - top) cnt = y0 + 3 - top;
        const int16_t *rowp = buf + (y0 - top) * TINY_DW_ROW;
        for (int32_t s0 = 0; s0 < out_w; s0 += TINY_STRIP) {
            const int32_t n = out_w - s0 < TINY_STRIP ? out_w - s0 : TINY_STRIP;
            const int16_t *r = rowp + s0 * s_w;
            if (fill + n > DW_ACC) {
                tiny_arm_requant_strip(acc, fill, multiplier, shift, g->out_off, g->lo, g->hi, d, dst_stride, rq_mode);
                d += fill * dst_stride;
                fill = 0;
            }
            int32_t *a_p = acc + fill, *a_end = a_p + (n & ~1);
            if (s_w == 1) {
                for (; a_p < a_end; a_p += 2, r += 2) {
                    int32_t a = base, b = base, B;
                    B = dw_ld32h(r + 2);
                    a = tiny_smlad(dw_ld32h(r), W0, a); a = dw_smlabb(B, c01, a);
                    b = tiny_smlad(dw_ld32h(r + 1), W0, b); b = dw_smlatb(B, c01, b);
                    B = dw_ld32h(r + TINY_DW_ROW + 2);
                    a = tiny_smlad(dw_ld32h(r + TINY_DW_ROW), W1, a); a = dw_smlabt(B, c01, a);
                    b = tiny_smlad(dw_ld32h(r + TINY_DW_ROW + 1), W1, b); b = dw_smlatt(B, c01, b);
                    B = dw_ld32h(r + 2 * TINY_DW_ROW + 2);
                    a = tiny_smlad(dw_ld32h(r + 2 * TINY_DW_ROW), W2, a); a = dw_smlabb(B, c2, a);
                    b = tiny_smlad(dw_ld32h(r + 2 * TINY_DW_ROW + 1), W2, b); b = dw_smlatb(B, c2, b);
                    a_p[0] = a;
                    a_p[1] = b;
                }
            } else if (s_w == 2) {
                for (; a_p < a_end; a_p += 2, r += 4) {
                    int32_t a = base, b = base, B, C;
                    B = dw_ld32h(r + 2); C = dw_ld32h(r + 4);
                    a = tiny_smlad(dw_ld32h(r), W0, a); a = dw_smlabb(B, c01, a);
                    b = tiny_smlad(B, W0, b); b = dw_smlabb(C, c01, b);
                    B = dw_ld32h(r + TINY_DW_ROW + 2); C = dw_ld32h(r + TINY_DW_ROW + 4);
                    a = tiny_smlad(dw_ld32h(r + TINY_DW_ROW), W1, a); a = dw_smlabt(B, c01, a);
                    b = tiny_smlad(B, W1, b); b = dw_smlabt(C, c01, b);
                    B = dw_ld32h(r + 2 * TINY_DW_ROW + 2); C = dw_ld32h(r + 2 * TINY_DW_ROW + 4);
                    a = tiny_smlad(dw_ld32h(r + 2 * TINY_DW_ROW), W2, a); a = dw_smlabb(B, c2, a);
                    b = tiny_smlad(B, W2, b); b = dw_smlabb(C, c2, b);
                    a_p[0] = a;
                    a_p[1] = b;
                }
            }
            for (a_end = acc + fill + n; a_p < a_end; ++a_p, r += s_w) {
                int32_t a = base;
                a = tiny_smlad(dw_ld32h(r), W0, a) + r[2] * w[2];
                a = tiny_smlad(dw_ld32h(r + TINY_DW_ROW), W1, a) + r[TINY_DW_ROW + 2] * w[5];
                a = tiny_smlad(dw_ld32h(r + 2 * TINY_DW_ROW), W2, a) + r[2 * TINY_DW_ROW + 2] * c2;
                *a_p = a;
            }
            fill += n;
        }
    }
    if (fill) tiny_arm_requant_strip(acc, fill, multiplier, shift, g->out_off, g->lo, g->hi, d, dst_stride, rq_mode);
}

/* Wide rows: 6 buffer rows of 128; small images: 16 rows of 16 (all rows of a channel, no moves). */
#define TINY_DW_BUF 1296   /* int16: the 3x3 row ring, or the two 4-channel planes (2 x 18 x 18 words) */
__attribute__((noinline)) static void dw_channel_3x3(const dw_geo *g, int32_t c, const int8_t *filter,
                                                     int32_t f_stride, int32_t bias, int32_t multiplier,
                                                     int32_t shift, int8_t *dst, int32_t dst_stride, int16_t *buf) {
    dw_channel_3x3_t(g, c, filter, f_stride, bias, multiplier, shift, dst, dst_stride, buf, 128, 6);
}
__attribute__((noinline)) static void dw_channel_3x3_small(const dw_geo *g, int32_t c, const int8_t *filter,
                                                           int32_t f_stride, int32_t bias, int32_t multiplier,
                                                           int32_t shift, int8_t *dst, int32_t dst_stride,
                                                           int16_t *buf) {
    dw_channel_3x3_t(g, c, filter, f_stride, bias, multiplier, shift, dst, dst_stride, buf, 16, 16);
}

/* ---- 3x3, small images, 4 channels at a time ----------------------------------------------
 * When all input rows a channel needs fit SM4_DIM x SM4_DIM and its outputs fit SM4_OUT, channels
 * c..c+3 are gathered together: one 32-bit load takes the 4 channels of a pixel, SXTB16 / SXTB16
 * ROR 8 split them into planes E = (c, c+2) and O = (c+1, c+3) of int16 pairs, pads hold
 * -in_off (as in the row path: with the offset folded into the bias they contribute 0). Each
 * tap is then one load per plane and SMLABB / SMLATT per channel, with the taps at compile-time
 * offsets of one pointer. All rows are gathered before anything is written, so in place it only
 * overwrites channels c..c+3, already copied: no scratch. */
#define SM4_DIM 18     /* covers the tiles of patch-based stages (e.g. 14x14 outputs, stride 1) */
typedef int32_t __attribute__((may_alias)) dw_w32;   /* the planes live in the int16 row buffer */
_Static_assert(TINY_DW_BUF * 2 >= 2 * SM4_DIM * SM4_DIM * 4, "the row buffer also holds dw_small4's planes");
#define SM4_OUT 96     /* accumulators per channel, requantized together (whole rows) */
TINY_INLINE int32_t dw_smlatt4(int32_t a, int32_t b, int32_t acc) {
    int32_t r;
    __asm__("smlatt %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
    return r;
}

static int dw_small4_ok(const dw_geo *g) {
    if (g->k_h != 3 || g->k_w != 3 || g->ch < 4 || g->s_h > 3) return 0;
    const int32_t L = (g->out_w - 1) * g->s_w + 3, R = (g->out_h - 1) * g->s_h + 3;
    return L <= SM4_DIM && R <= SM4_DIM;
}

/* One plane (channel pair lo = c, hi = c+2, or c+1, c+3) over `rows` output rows: SMLABB / SMLATT
 * per tap, the tap offsets compile-time constants of one pointer. */
__attribute__((always_inline)) static inline void sm4_plane(const dw_w32 *P, const int32_t *w, int32_t b_lo,
                                                            int32_t b_hi, int32_t *acc_lo, int32_t *acc_hi,
                                                            int32_t rows, int32_t out_w, int32_t s_h, int32_t s_w) {
    const int32_t w0 = w[0], w1 = w[1], w2 = w[2], w3 = w[3], w4 = w[4], w5 = w[5], w6 = w[6], w7 = w[7], w8 = w[8];
    for (int32_t oy = 0; oy < rows; ++oy) {
        const dw_w32 *p = P + oy * s_h * SM4_DIM;
        for (int32_t ox = 0; ox < out_w; ++ox, p += s_w) {
            int32_t lo = b_lo, hi = b_hi, x;
#define SM4_TAP(W, OFF) x = p[OFF]; lo = dw_smlabb(x, W, lo); hi = dw_smlatt4(x, W, hi)
            SM4_TAP(w0, 0); SM4_TAP(w1, 1); SM4_TAP(w2, 2);
            SM4_TAP(w3, SM4_DIM); SM4_TAP(w4, SM4_DIM + 1); SM4_TAP(w5, SM4_DIM + 2);
            SM4_TAP(w6, 2 * SM4_DIM); SM4_TAP(w7, 2 * SM4_DIM + 1); SM4_TAP(w8, 2 * SM4_DIM + 2);
#undef SM4_TAP
            *acc_lo++ = lo;
            *acc_hi++ = hi;
        }
    }
}

/* The same for a compile-time column stride SW, two output pixels per iteration: each
 * weight pair is loaded once for both (the nine of them do not stay in the 13 core registers). */
__attribute__((always_inline)) static inline void sm4_plane2(const dw_w32 *P, const int32_t *W, int32_t b_lo,
                                                             int32_t b_hi, int32_t *acc_lo, int32_t *acc_hi,
                                                             int32_t rows, int32_t out_w, int32_t s_h, const int32_t SW) {
    for (int32_t oy = 0; oy < rows; ++oy) {
        const dw_w32 *p = P + oy * s_h * SM4_DIM;
        int32_t ox = 0;
        for (; ox + 2 <= out_w; ox += 2, p += 2 * SW) {
            int32_t lo0 = b_lo, hi0 = b_hi, lo1 = b_lo, hi1 = b_hi, w, x, y;
#define SM4_TAP2(T, OFF)                                                                             \
    w = W[T]; x = p[OFF]; y = p[(OFF) + SW];                                                       \
    lo0 = dw_smlabb(x, w, lo0); hi0 = dw_smlatt4(x, w, hi0); lo1 = dw_smlabb(y, w, lo1); hi1 = dw_smlatt4(y, w, hi1)
            SM4_TAP2(0, 0); SM4_TAP2(1, 1); SM4_TAP2(2, 2);
            SM4_TAP2(3, SM4_DIM); SM4_TAP2(4, SM4_DIM + 1); SM4_TAP2(5, SM4_DIM + 2);
            SM4_TAP2(6, 2 * SM4_DIM); SM4_TAP2(7, 2 * SM4_DIM + 1); SM4_TAP2(8, 2 * SM4_DIM + 2);
#undef SM4_TAP2
            acc_lo[0] = lo0; acc_lo[1] = lo1; acc_lo += 2;
            acc_hi[0] = hi0; acc_hi[1] = hi1; acc_hi += 2;
        }
        if (ox < out_w) {
            int32_t lo = b_lo, hi = b_hi, x;
#define SM4_TAP(T, OFF) x = p[OFF]; lo = dw_smlabb(x, W[T], lo); hi = dw_smlatt4(x, W[T], hi)
            SM4_TAP(0, 0); SM4_TAP(1, 1); SM4_TAP(2, 2);
            SM4_TAP(3, SM4_DIM); SM4_TAP(4, SM4_DIM + 1); SM4_TAP(5, SM4_DIM + 2);
            SM4_TAP(6, 2 * SM4_DIM); SM4_TAP(7, 2 * SM4_DIM + 1); SM4_TAP(8, 2 * SM4_DIM + 2);
#undef SM4_TAP
            *acc_lo++ = lo;
            *acc_hi++ = hi;
        }
    }
}

/* Channels c .. c+3; E, O: SM4_DIM * SM4_DIM words, prefilled with the pad pair. */
__attribute__((noinline)) static void dw_small4(const dw_geo *g, int32_t c, const int8_t *filter,
                                                const int32_t *bias, const tiny_per_channel_quant *quant,
                                                int8_t *output, dw_w32 *E, dw_w32 *O) {
    const int32_t ch = g->ch, in_w = g->in_w, out_w = g->out_w, out_h = g->out_h;
    const int32_t s_w = g->s_w, s_h = g->s_h, x_first = -g->pad_w, y_first = -g->pad_h;
    const int32_t L = (out_w - 1) * s_w + 3, R = (out_h - 1) * s_h + 3;
    int32_t ga = -x_first, gb = in_w - x_first;
    if (ga < 0) ga = 0;
    if (gb > L) gb = L;
    if (ga > gb) ga = gb;
    /* gather */
    for (int32_t r = 0; r < R; ++r) {
        const int32_t iy = y_first + r;
        if (iy < 0 || iy >= g->in_h) continue;      /* stays pad (never written) */
        const int8_t *p = g->in + (iy * in_w + x_first + ga) * ch + c;
        dw_w32 *e = E + r * SM4_DIM + ga, *o = O + r * SM4_DIM + ga;
        for (int32_t i = ga; i < gb; ++i, p += ch) {
            const int32_t v = tiny_ld32(p);
            *e++ = tiny_sxtb16(v);
            *o++ = tiny_sxtb16_ror8(v);
        }
    }
    /* weights: per tap, (w_c, w_c+2) and (w_c+1, w_c+3); offset folded into the bias */
    /* One word per tap holds the 4 channels' weights: SXTB16 splits the pairs, SADD16 sums them
     * (9 int8 fit int16). The accumulator bound uses the worst case sum |w| <= 9 * 128: a valid bound
     * that only picks the requantization form (both are exact), for a fraction of the setup. */
    int32_t wE[9], wO[9], base[4], small[4], sE = 0, sO = 0;
    for (int32_t t = 0; t < 9; ++t) {
        const int32_t v = tiny_ld32(filter + t * ch + c);
        wE[t] = tiny_sxtb16(v);
        wO[t] = tiny_sxtb16_ror8(v);
        sE = tiny_sadd16(sE, wE[t]);
        sO = tiny_sadd16(sO, wO[t]);
    }
    const int32_t wsum[4] = {(int16_t)sE, (int16_t)sO, sE >> 16, sO >> 16};
    for (int32_t k = 0; k < 4; ++k) {
        base[k] = (bias ? bias[c + k] : 0) + g->in_off * wsum[k];
        small[k] = tiny_acc_small(base[k], 9 * 128);
    }
    /* The gather above copied every input byte of channels c..c+3, so their outputs can be written
     * in bands of whole rows (as many as fit SM4_OUT accumulators), in place or not. Each plane is
     * one pass with its nine weight pairs in registers. */
    int32_t acc[4][SM4_OUT];
    const int32_t band = SM4_OUT / out_w;
    for (int32_t oy0 = 0; oy0 < out_h; oy0 += band) {
        const int32_t oy1 = oy0 + band < out_h ? oy0 + band : out_h;
        const dw_w32 *pe = E + oy0 * s_h * SM4_DIM, *po = O + oy0 * s_h * SM4_DIM;
        if (s_w == 1) {
            sm4_plane2(pe, wE, base[0], base[2], acc[0], acc[2], oy1 - oy0, out_w, s_h, 1);
            sm4_plane2(po, wO, base[1], base[3], acc[1], acc[3], oy1 - oy0, out_w, s_h, 1);
        } else {   /* stride 2: the pair form is no faster (measured) */
            sm4_plane(pe, wE, base[0], base[2], acc[0], acc[2], oy1 - oy0, out_w, s_h, s_w);
            sm4_plane(po, wO, base[1], base[3], acc[1], acc[3], oy1 - oy0, out_w, s_h, s_w);
        }
        for (int32_t k = 0; k < 4; ++k)
            tiny_arm_requant_strip(acc[k], (oy1 - oy0) * out_w, quant->multiplier[c + k], quant->shift[c + k],
                                   g->out_off, g->lo, g->hi, output + oy0 * out_w * ch + c + k, ch, small[k]);
    }
}

/* Channels [0, ch & ~3) by dw_small4; returns the first channel left for the one-channel path. */
static int32_t dw_small4_all(const dw_geo *g, const int8_t *filter, const int32_t *bias,
                             const tiny_per_channel_quant *quant, int8_t *output, dw_w32 *buf) {
    const int32_t pad = tiny_pack16(-g->in_off, -g->in_off);
    const int32_t used = ((g->out_h - 1) * g->s_h + 3) * SM4_DIM;     /* rows the taps can reach */
    for (int32_t i = 0; i < used; ++i) buf[i] = buf[SM4_DIM * SM4_DIM + i] = pad;
    int32_t c = 0;
    for (; c + 4 <= g->ch; c += 4) dw_small4(g, c, filter, bias, quant, output, buf, buf + SM4_DIM * SM4_DIM);
    return c;
}

/* ---- 3x3, stride-1 columns, whole channel plane ------------------------------------------
 * When the padded plane of one channel (R rows of L int16, L = out_w + 2) fits the row buffer, the
 * channel is gathered once (pads are never written: they keep the prefill -in_off, which the folded
 * bias cancels) and every output row is computed straight from it, four outputs per step: one row
 * of taps is five unaligned word loads (pairs x..x+5) and eight multiplies (SMLAD on the pairs,
 * SMLABB / SMLATB for the third tap), so narrow planes (DS-CNN's 25x5) pay no per-row set-up. The
 * whole plane is read before channel c is written, so in place it needs no scratch. */
#define DW_PLANE_ACC 256   /* accumulators requantized together (whole output rows) */
static int32_t dw_plane_stride(const dw_geo *g) {
    if (g->k_h != 3 || g->k_w != 3 || g->s_w != 1 || g->out_w <= 0 || g->out_h <= 0 || g->s_h > 3) return 0;
    const int32_t L = g->out_w + 2, R = (g->out_h - 1) * g->s_h + 3;
    for (int32_t ps = 16; ps <= 64; ps *= 2)
        if (L <= ps && R * ps <= TINY_DW_BUF) return ps;
    return 0;
}

/* Plane rows are PS int16 apart (a compile-time stride: the taps of the three rows are immediate
 * offsets of one pointer); columns [0, out_w + 2) are used. */
TINY_INLINE void dw_plane_3x3_t(const dw_geo *g, int32_t c, const int8_t *filter, int32_t bias, int32_t multiplier,
                                int32_t shift, int8_t *dst, int16_t *P, const int32_t PS) {
    const int32_t ch = g->ch, out_w = g->out_w, out_h = g->out_h, in_w = g->in_w, s_h = g->s_h;
    const int32_t L = out_w + 2, R = (out_h - 1) * s_h + 3;
    int32_t w[9], wsum = 0, wabs = 0;
    for (int32_t t = 0; t < 9; ++t) {
        w[t] = filter[t * ch + c];
        wsum += w[t];
        wabs += w[t] < 0 ? -w[t] : w[t];
    }
    const int32_t small = tiny_acc_small(bias + g->in_off * wsum, wabs);
    if (small)
        for (int32_t t = 0; t < 9; ++t) w[t] *= 2;
    const int32_t base = (bias + g->in_off * wsum) * (small ? 2 : 1);
    const int32_t rq_mode = small ? TINY_RQ_DOUBLED : 0;
    /* gather the rows inside the input; columns [ga, gb) of the plane */
    int32_t ga = g->pad_w, gb = in_w + g->pad_w;
    if (ga < 0) ga = 0;
    if (gb > L) gb = L;
    if (ga > gb) ga = gb;
    const int32_t n = gb - ga;
    int32_t r0 = g->pad_h, r1 = g->in_h + g->pad_h;
    if (r0 < 0) r0 = 0;
    if (r1 > R) r1 = R;
    {
        const int8_t *src = g->in + ((r0 - g->pad_h) * in_w + ga - g->pad_w) * ch + c;
        const int32_t src_step = in_w * ch;
        int16_t *row = P + r0 * PS + ga;
        for (int32_t r = r0; r < r1; ++r, src += src_step, row += PS) {
            const int8_t *q = src;
            int16_t *o = row;
            int32_t k = n;
            for (; k >= 4; k -= 4, o += 4, q += 4 * ch) {
                const int32_t v0 = q[0], v1 = q[ch], v2 = q[2 * ch], v3 = q[3 * ch];
                dw_st32h(o, tiny_pkhbt(v0, v1));
                dw_st32h(o + 2, tiny_pkhbt(v2, v3));
            }
            if (k & 2) {
                const int32_t v0 = q[0], v1 = q[ch];
                dw_st32h(o, tiny_pkhbt(v0, v1));
                o += 2;
                q += 2 * ch;
            }
            if (k & 1) *o = *q;
        }
    }
    const int32_t W0 = tiny_pack16(w[0], w[1]), W1 = tiny_pack16(w[3], w[4]), W2 = tiny_pack16(w[6], w[7]);
    const int32_t c01 = tiny_pack16(w[2], w[5]), c2 = w[8];
    int32_t acc[DW_PLANE_ACC];
    const int32_t band = DW_PLANE_ACC / out_w;
    for (int32_t oy0 = 0; oy0 < out_h; oy0 += band) {
        const int32_t oy1 = oy0 + band < out_h ? oy0 + band : out_h;
        int32_t *a_p = acc;
        const int16_t *rp = P + oy0 * s_h * PS;
        const int32_t blocks = out_w >> 2, rest = out_w & 3;
        for (int32_t oy = oy0; oy < oy1; ++oy, rp += s_h * PS) {
            const int16_t *r = rp;
            for (int32_t k = blocks; k > 0; --k, r += 4, a_p += 4) {
                int32_t a = base, b = base, cc = base, d = base, X;
#define DW_PL_ROW(OFF, WP, TAP3, MB, MT)                                                             \
    a = tiny_smlad(dw_ld32h(r + (OFF)), WP, a);                                                    \
    b = tiny_smlad(dw_ld32h(r + (OFF) + 1), WP, b);                                                \
    X = dw_ld32h(r + (OFF) + 2);                                                                   \
    cc = tiny_smlad(X, WP, cc);                                                                    \
    a = MB(X, TAP3, a);                                                                            \
    b = MT(X, TAP3, b);                                                                            \
    d = tiny_smlad(dw_ld32h(r + (OFF) + 3), WP, d);                                                \
    X = dw_ld32h(r + (OFF) + 4);                                                                   \
    cc = MB(X, TAP3, cc);                                                                          \
    d = MT(X, TAP3, d)
                DW_PL_ROW(0, W0, c01, dw_smlabb, dw_smlatb);
                DW_PL_ROW(PS, W1, c01, dw_smlabt, dw_smlatt);
                DW_PL_ROW(2 * PS, W2, c2, dw_smlabb, dw_smlatb);
#undef DW_PL_ROW
                a_p[0] = a;
                a_p[1] = b;
                a_p[2] = cc;
                a_p[3] = d;
            }
            if (rest >= 2) {   /* two outputs: the pairs at x, x+1 and the third taps at x+2, x+3 */
                int32_t a = base, b = base, X;
                a = tiny_smlad(dw_ld32h(r), W0, a);
                b = tiny_smlad(dw_ld32h(r + 1), W0, b);
                X = dw_ld32h(r + 2);
                a = dw_smlabb(X, c01, a);
                b = dw_smlatb(X, c01, b);
                a = tiny_smlad(dw_ld32h(r + PS), W1, a);
                b = tiny_smlad(dw_ld32h(r + PS + 1), W1, b);
                X = dw_ld32h(r + PS + 2);
                a = dw_smlabt(X, c01, a);
                b = dw_smlatt(X, c01, b);
                a = tiny_smlad(dw_ld32h(r + 2 * PS), W2, a);
                b = tiny_smlad(dw_ld32h(r + 2 * PS + 1), W2, b);
                X = dw_ld32h(r + 2 * PS + 2);
                a = dw_smlabb(X, c2, a);
                b = dw_smlatb(X, c2, b);
                a_p[0] = a;
                a_p[1] = b;
                a_p += 2;
                r += 2;
            }
            if (rest & 1) {
                int32_t a = base;
                a = tiny_smlad(dw_ld32h(r), W0, a);
                a = dw_smlabb(dw_ld32h(r + 2), c01, a);
                a = tiny_smlad(dw_ld32h(r + PS), W1, a);
                a = dw_smlabt(dw_ld32h(r + PS + 2), c01, a);
                a = tiny_smlad(dw_ld32h(r + 2 * PS), W2, a);
                a = dw_smlabb(dw_ld32h(r + 2 * PS + 2), c2, a);
                *a_p++ = a;
            }
        }
        tiny_arm_requant_strip(acc, (oy1 - oy0) * out_w, multiplier, shift, g->out_off, g->lo, g->hi,
                               dst + oy0 * out_w * ch, ch, rq_mode);
    }
}
#define DW_PLANE_FN(PS)                                                                                     \
    __attribute__((noinline)) static void dw_plane_3x3_##PS(const dw_geo *g, int32_t c, const int8_t *filter, \
                                                           int32_t bias, int32_t multiplier, int32_t shift,   \
                                                           int8_t *dst, int16_t *P) {                         \
        dw_plane_3x3_t(g, c, filter, bias, multiplier, shift, dst, P, PS);                                    \
    }
DW_PLANE_FN(16)
DW_PLANE_FN(32)
DW_PLANE_FN(64)
#undef DW_PLANE_FN

/* The plane path unless the 4-channel small-image path applies to rows of at most 8 outputs, where it
 * is faster (QEMU counts, tests/kernels/kbench.py: 6x6 4.6 vs 5.0 instructions/MAC, 12x12 3.6 vs 4.0
 * the other way). */
static int dw_plane_first(const dw_geo *g) { return !(dw_small4_ok(g) && g->out_w <= 8); }

/* Channels [0, ch) by dw_plane_3x3 (buf: the row buffer, prefilled here; ps: dw_plane_stride). */
static void dw_plane_all(const dw_geo *g, int32_t ps, const int8_t *filter, const int32_t *bias,
                         const tiny_per_channel_quant *quant, int8_t *output, int16_t *buf) {
    const int32_t R = (g->out_h - 1) * g->s_h + 3;
    dw_prefill(buf, ps * R, g->in_off);
    void (*fn)(const dw_geo *, int32_t, const int8_t *, int32_t, int32_t, int32_t, int8_t *, int16_t *) =
        ps == 16 ? dw_plane_3x3_16 : ps == 32 ? dw_plane_3x3_32 : dw_plane_3x3_64;
    for (int32_t c = 0; c < g->ch; ++c)
        fn(g, c, filter, bias ? bias[c] : 0, quant->multiplier[c], quant->shift[c], output + c, buf);
}

/* Which 3x3 path: 0 none (row too wide), 1 wide rows, 2 small image. */
static int32_t dw_ring_len(const dw_geo *g) {
    if (g->k_h != 3 || g->k_w != 3 || g->out_w <= 0 || g->out_h <= 0) return 0;
    const int32_t L = (g->out_w - 1) * g->s_w + 3;
    /* small: every row of the channel fits, rows are never moved or reset (s_h <= 3) */
    if (L + 4 <= 16 && (g->out_h - 1) * g->s_h + 3 <= 16 && g->s_h <= 3) return 2;
    return L + 4 <= 128 ? 1 : 0;
}

/* In place, writing output row r (flat pixels [r*out_w, (r+1)*out_w) of channel c) right after
 * computing it is safe when every input row a later output row still needs is either in the
 * ring already (rows y0(r) .. y0(r)+2) or starts at or after flat pixel (r+1)*out_w. */
static int dw_direct_ok(const dw_geo *g) {
    for (int32_t r = 0; r + 1 < g->out_h; ++r) {
        const int32_t next = r * g->s_h - g->pad_h + 3;    /* first row not gathered yet */
        if (next >= g->in_h) continue;
        const int32_t first = next > 0 ? next : 0;
        if ((int64_t)first * g->in_w < (int64_t)(r + 1) * g->out_w) return 0;
    }
    return 1;
}

/* One channel c: writes out_h * out_w results to dst[i * dst_stride]. Two passes per strip of
 * up to TINY_STRIP output pixels of a row: accumulate into acc[], then requantize. */
static void dw_channel(const dw_geo *g, int32_t c, const int8_t *filter, int32_t f_stride, int32_t bias,
                       int32_t multiplier, int32_t shift, int8_t *dst, int32_t dst_stride) {
    const int32_t ch = g->ch, in_w = g->in_w, in_h = g->in_h, k_h = g->k_h, k_w = g->k_w;
    const int32_t taps = k_h * k_w;
    int32_t w[TINY_DW_MAX_TAPS];
    int32_t acc[TINY_STRIP];
    int32_t wsum = 0;
    for (int32_t t = 0; t < taps; ++t) {
        w[t] = filter[t * f_stride + c];
        wsum += w[t];
    }
    const int32_t base = bias + g->in_off * wsum;
    const int8_t *in_c = g->in + c;
    const int32_t row = in_w * ch;
    /* Interior output columns: x0 = ox * s_w - pad_w >= 0 and x0 + k_w <= in_w. */
    int32_t ox_lo = g->pad_w > 0 ? (g->pad_w + g->s_w - 1) / g->s_w : 0;
    int32_t ox_hi = in_w - k_w + g->pad_w >= 0 ? (in_w - k_w + g->pad_w) / g->s_w + 1 : 0;
    if (ox_hi > g->out_w) ox_hi = g->out_w;
    if (ox_lo > ox_hi) ox_lo = ox_hi;
    const int is3x3 = k_h == 3 && k_w == 3;
    int32_t w01 = 0, w23 = 0, w45 = 0, w67 = 0, w8 = 0;
    if (is3x3) {
        w01 = tiny_pack16(w[0], w[1]);
        w23 = tiny_pack16(w[2], w[3]);
        w45 = tiny_pack16(w[4], w[5]);
        w67 = tiny_pack16(w[6], w[7]);
        w8 = w[8];
    }
    const int32_t step = g->s_w * ch;
    int8_t *d = dst;

    for (int32_t oy = 0; oy < g->out_h; ++oy) {
        const int32_t y0 = oy * g->s_h - g->pad_h;
        const int row_inside = y0 >= 0 && y0 + k_h <= in_h;
        for (int32_t s0 = 0; s0 < g->out_w; s0 += TINY_STRIP) {
            const int32_t s1 = s0 + TINY_STRIP < g->out_w ? s0 + TINY_STRIP : g->out_w;
            int32_t *a = acc;
            int32_t ox = s0;
            const int32_t i_lo = row_inside ? (ox_lo > s0 ? ox_lo : s0) : s1;
            const int32_t i_hi = row_inside ? (ox_hi < s1 ? ox_hi : s1) : s1;
            for (; ox < i_lo; ++ox) *a++ = dw_border(g, in_c, w, bias, y0, ox * g->s_w - g->pad_w);
            if (ox < i_hi) {
                const int8_t *p = in_c + y0 * row + (ox * g->s_w - g->pad_w) * ch;
                if (is3x3) {
                    const int32_t ch2 = 2 * ch;
                    for (; ox < i_hi; ++ox, p += step) {
                        const int8_t *q = p;
                        int32_t v = base;
                        v = tiny_smlad(tiny_pkhbt(q[0], q[ch]), w01, v);
                        v = tiny_smlad(tiny_pkhbt(q[ch2], q[row]), w23, v);
                        q += row;
                        v = tiny_smlad(tiny_pkhbt(q[ch], q[ch2]), w45, v);
                        q += row;
                        v = tiny_smlad(tiny_pkhbt(q[0], q[ch]), w67, v);
                        v += q[ch2] * w8;
                        *a++ = v;
                    }
                } else {
                    for (; ox < i_hi; ++ox, p += step) {
                        int32_t v = base;
                        const int8_t *q = p;
                        for (int32_t ky = 0; ky < k_h; ++ky, q += row) {
                            const int32_t *wk = w + ky * k_w;
                            for (int32_t kx = 0; kx < k_w; ++kx) v += wk[kx] * q[kx * ch];
                        }
                        *a++ = v;
                    }
                }
            }
            for (; ox < s1; ++ox) *a++ = dw_border(g, in_c, w, bias, y0, ox * g->s_w - g->pad_w);
            tiny_arm_requant_strip(acc, s1 - s0, multiplier, shift, g->out_off, g->lo, g->hi, d, dst_stride, 0);
            d += (s1 - s0) * dst_stride;
        }
    }
}

static int dw_supported(const tiny_dw_conv_params *params, const tiny_dims *input_dims,
                        const tiny_dims *filter_dims, const tiny_dims *output_dims) {
    return params && input_dims && filter_dims && output_dims && params->ch_mult == 1 &&
           params->dilation.h == 1 && params->dilation.w == 1 && params->stride.h > 0 &&
           params->stride.w > 0 && input_dims->n == 1 && output_dims->n == 1 &&
           output_dims->c == input_dims->c && filter_dims->c == input_dims->c &&
           filter_dims->h * filter_dims->w <= TINY_DW_MAX_TAPS;
}

static void dw_geo_init(dw_geo *g, const tiny_dw_conv_params *params, const tiny_dims *input_dims,
                        const int8_t *input, const tiny_dims *filter_dims, const tiny_dims *output_dims) {
    g->in = input;
    g->in_h = input_dims->h;
    g->in_w = input_dims->w;
    g->ch = input_dims->c;
    g->k_h = filter_dims->h;
    g->k_w = filter_dims->w;
    g->s_h = params->stride.h;
    g->s_w = params->stride.w;
    g->pad_h = params->padding.h;
    g->pad_w = params->padding.w;
    g->out_h = output_dims->h;
    g->out_w = output_dims->w;
    g->in_off = params->input_offset;
    g->out_off = params->output_offset;
    g->lo = params->activation.min;
    g->hi = params->activation.max;
}

tiny_status tiny_depthwise_conv2d_s8_dsp(const tiny_ctx *ctx, const tiny_dw_conv_params *params,
                                         const tiny_per_channel_quant *quant, const tiny_dims *input_dims,
                                         const int8_t *input, const tiny_dims *filter_dims,
                                         const int8_t *filter, const tiny_dims *bias_dims,
                                         const int32_t *bias, const tiny_dims *output_dims, int8_t *output) {
    if (!quant || !input || !filter || !output || !dw_supported(params, input_dims, filter_dims, output_dims)) {
        return tiny_depthwise_conv2d_s8(ctx, params, quant, input_dims, input, filter_dims, filter, bias_dims,
                                        bias, output_dims, output);
    }
    dw_geo g;
    dw_geo_init(&g, params, input_dims, input, filter_dims, output_dims);
    const int32_t RS = dw_ring_len(&g);
    const int32_t PS = dw_plane_first(&g) ? dw_plane_stride(&g) : 0;
    if (PS > 0) {
        int16_t plane[TINY_DW_BUF] __attribute__((aligned(4)));
        dw_plane_all(&g, PS, filter, bias, quant, output, plane);
        return TINY_OK;
    }
    if (RS > 0) {
        int16_t ring[TINY_DW_BUF] __attribute__((aligned(4)));
        /* the row buffer doubles as the 4-channel planes (the stack holds one of them at a time) */
        const int32_t c0 = dw_small4_ok(&g) ? dw_small4_all(&g, filter, bias, quant, output, (dw_w32 *)ring) : 0;
        if (c0 < g.ch) dw_prefill(ring, RS == 2 ? 16 * 16 : 6 * 128, g.in_off);   /* rows for the rest */
        for (int32_t c = c0; c < g.ch; ++c) {
            (RS == 2 ? dw_channel_3x3_small : dw_channel_3x3)(&g, c, filter, g.ch, bias ? bias[c] : 0,
                                                              quant->multiplier[c], quant->shift[c], output + c,
                                                              g.ch, ring);
        }
        return TINY_OK;
    }
    for (int32_t c = 0; c < g.ch; ++c) {
        dw_channel(&g, c, filter, g.ch, bias ? bias[c] : 0, quant->multiplier[c], quant->shift[c],
                   output + c, g.ch);
    }
    return TINY_OK;
}

tiny_status tiny_depthwise_conv2d_s8_3x3(const tiny_ctx *ctx, const tiny_dw_conv_params *params,
                                         const tiny_per_channel_quant *quant, const tiny_dims *input_dims,
                                         const int8_t *input, const tiny_dims *filter_dims,
                                         const int8_t *filter, const tiny_dims *bias_dims,
                                         const int32_t *bias, const tiny_dims *output_dims, int8_t *output) {
    return tiny_depthwise_conv2d_s8_dsp(ctx, params, quant, input_dims, input, filter_dims, filter, bias_dims,
                                        bias, output_dims, output);
}

/* In place: channel c goes to the one-channel scratch, then to its NHWC slots (see
 * depthwise_conv2d_inplace_s8.c for why this is safe). Same scratch as the portable kernel. */
tiny_status tiny_depthwise_conv2d_s8_inplace_dsp(const tiny_ctx *ctx, const tiny_dw_conv_params *params,
                                                 const tiny_per_channel_quant *quant,
                                                 const tiny_dims *input_dims, const int8_t *input,
                                                 const tiny_dims *filter_dims, const int8_t *filter,
                                                 const tiny_dims *bias_dims, const int32_t *bias,
                                                 const tiny_dims *output_dims, int8_t *output) {
    if (!ctx || !ctx->buf || !quant || !input || !filter || !output ||
        !dw_supported(params, input_dims, filter_dims, output_dims) ||
        ctx->size < output_dims->h * output_dims->w) {
        return tiny_depthwise_conv2d_s8_inplace(ctx, params, quant, input_dims, input, filter_dims, filter,
                                                bias_dims, bias, output_dims, output);
    }
    dw_geo g;
    dw_geo_init(&g, params, input_dims, input, filter_dims, output_dims);
    int8_t *col = (int8_t *)ctx->buf;
    const int32_t n = g.out_h * g.out_w, ch = g.ch;
    const int32_t RS = dw_ring_len(&g);
    const int32_t PS = dw_plane_first(&g) ? dw_plane_stride(&g) : 0;
    if (PS > 0) {   /* gathers each channel before writing it */
        int16_t plane[TINY_DW_BUF] __attribute__((aligned(4)));
        dw_plane_all(&g, PS, filter, bias, quant, output, plane);
        return TINY_OK;
    }
    if (RS > 0) {
        int16_t ring[TINY_DW_BUF] __attribute__((aligned(4)));
        const int direct = dw_direct_ok(&g);
        const int32_t c0 = dw_small4_ok(&g) ? dw_small4_all(&g, filter, bias, quant, output, (dw_w32 *)ring) : 0;
        if (c0 < g.ch) dw_prefill(ring, RS == 2 ? 16 * 16 : 6 * 128, g.in_off);   /* rows for the rest */
        for (int32_t c = c0; c < ch; ++c) {
            if (direct) {
                (RS == 2 ? dw_channel_3x3_small : dw_channel_3x3)(&g, c, filter, ch, bias ? bias[c] : 0,
                                                                  quant->multiplier[c], quant->shift[c], output + c,
                                                                  ch, ring);
                continue;
            }
            (RS == 2 ? dw_channel_3x3_small : dw_channel_3x3)(&g, c, filter, ch, bias ? bias[c] : 0,
                                                              quant->multiplier[c], quant->shift[c], col, 1, ring);
            int8_t *o = output + c;
            for (int32_t i = 0; i < n; ++i, o += ch) *o = col[i];
        }
        return TINY_OK;
    }
    for (int32_t c = 0; c < ch; ++c) {
        dw_channel(&g, c, filter, ch, bias ? bias[c] : 0, quant->multiplier[c], quant->shift[c],
                   col, 1);
        int8_t *o = output + c;
        int32_t i = 0;
        for (; i + 4 <= n; i += 4, o += 4 * ch) {
            o[0] = col[i];
            o[ch] = col[i + 1];
            o[2 * ch] = col[i + 2];
            o[3 * ch] = col[i + 3];
        }
        for (; i < n; ++i, o += ch) *o = col[i];
    }
    return TINY_OK;
}

tiny_status tiny_depthwise_conv2d_s8_inplace_3x3(const tiny_ctx *ctx, const tiny_dw_conv_params *params,
                                                 const tiny_per_channel_quant *quant,
                                                 const tiny_dims *input_dims, const int8_t *input,
                                                 const tiny_dims *filter_dims, const int8_t *filter,
                                                 const tiny_dims *bias_dims, const int32_t *bias,
                                                 const tiny_dims *output_dims, int8_t *output) {
    return tiny_depthwise_conv2d_s8_inplace_dsp(ctx, params, quant, input_dims, input, filter_dims, filter,
                                                bias_dims, bias, output_dims, output);
}
#endif
