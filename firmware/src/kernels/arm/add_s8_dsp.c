/* ADD int8, inputs and output of the same shape (no broadcast): same arguments and results as
 * tiny_add_s8; broadcasting calls are handed to it. All parameters are hoisted into registers,
 * the three TFLite rescalings use the single-SMLAL form of SaturatingRoundingDoublingHighMul
 * (tiny_arm_requant, exact for TFLite's non-negative multipliers).
 *
 * Fast path (TFLite's usual parameters: left shift 20, input shifts <= 0, output shift < 0): every
 * SaturatingRoundingDoublingHighMul operand is known to be below 2^30 in magnitude
 * (|in + off| <= 256 and ls <= 20: |(in + off) << ls| <= 2^28, each rescaled input <= 2^28 + 1,
 * their sum doubled < 2^31), so
 * srdhm(x, m) = floor((x m + 2^30) / 2^31) = SMMULR(2x, m) (no 64-bit shift), and the rounding
 * divisions are (h + (h >> 31) + 2^(e-1)) >> e without overflow.
 *
 * Table path (the fast conditions, n >= TINY_ADD_LUT_MIN and a planned ctx buffer): an int8 input has
 * only 256 values, so each input's rescaled value (times 2, for the output SMMULR) is tabulated once
 * per call (2 x 256 int32, built with the fast form above, so bit-identical to it) and each element
 * costs two table loads, an add and the output rescale: ~12 instructions instead of ~31. The table
 * build (~5K instructions) pays from a few hundred elements. */
#include "arm_common.h"
#include "tiny/kernels_arm.h"

#ifdef TINY_ARM_DSP
/* rounding_divide_by_pot(h, e) for |h| < 2^30: e == 0 is the identity (z = 1), else
 * (h + 2^(e-1) - (h < 0)) >> e = round half away from zero. */
TINY_INLINE int32_t add_rdbp(int32_t h, int32_t half, int32_t e, const int z) {
    return z ? h : (h + (h >> 31) + half) >> e;
}

/* Fast form (see the file comment): x = (in + off) << (ls + 1) fits 31 bits, so SMMULR(x, m) is
 * srdhm((in + off) << ls, m) exactly; the input rescales are bounded by 2^29, so their sum doubled
 * also fits and the output rescale is one more SMMULR. out_off is folded into the rounding constant. */
TINY_INLINE void add_fast(const int8_t *in1, const int8_t *in2, int8_t *out, int32_t n, const tiny_add_params *p,
                          const int z1, const int z2) {
    const int32_t o1 = p->in1_offset, o2 = p->in2_offset, ls = p->left_shift + 1;
    const int32_t m1 = p->in1_multiplier, m2 = p->in2_multiplier, mo = p->out_multiplier;
    const int32_t e1 = -p->in1_shift, e2 = -p->in2_shift, eo = -p->out_shift;
    const int32_t h1 = e1 ? 1 << (e1 - 1) : 0, h2 = e2 ? 1 << (e2 - 1) : 0;
    const int32_t ko = (1 << (eo - 1)) + (int32_t)((uint32_t)p->out_offset << eo);
    const int32_t lo = p->act_min, hi = p->act_max;
#define ADD_ONE(A, B, DST)                                                                           \
    do {                                                                                             \
        const int32_t x1 = (int32_t)((uint32_t)((A) + o1) << ls), x2 = (int32_t)((uint32_t)((B) + o2) << ls); \
        const int32_t s = add_rdbp(tiny_smmulr(x1, m1), h1, e1, z1) + add_rdbp(tiny_smmulr(x2, m2), h2, e2, z2); \
        const int32_t ho = tiny_smmulr(s * 2, mo);                                                   \
        int32_t v = (ho + (ho >> 31) + ko) >> eo;                                                    \
        v = v < lo ? lo : v;                                                                         \
        v = v > hi ? hi : v;                                                                         \
        (DST) = (int8_t)v;                                                                           \
    } while (0)
    int32_t i = 0;
    for (; i + 4 <= n; i += 4) {   /* one word of each input: 4 elements */
        const int32_t a = tiny_ld32(in1 + i), b = tiny_ld32(in2 + i);
        ADD_ONE((int8_t)a, (int8_t)b, out[i]);
        ADD_ONE((int8_t)(a >> 8), (int8_t)(b >> 8), out[i + 1]);
        ADD_ONE((int8_t)(a >> 16), (int8_t)(b >> 16), out[i + 2]);
        ADD_ONE(a >> 24, b >> 24, out[i + 3]);
    }
#undef ADD_ONE
    for (; i < n; ++i) {
        const int32_t x1 = (int32_t)((uint32_t)(in1[i] + o1) << ls), x2 = (int32_t)((uint32_t)(in2[i] + o2) << ls);
        const int32_t s = add_rdbp(tiny_smmulr(x1, m1), h1, e1, z1) + add_rdbp(tiny_smmulr(x2, m2), h2, e2, z2);
        const int32_t ho = tiny_smmulr(s * 2, mo);
        int32_t v = (ho + (ho >> 31) + ko) >> eo;
        v = v < lo ? lo : v;
        v = v > hi ? hi : v;
        out[i] = (int8_t)v;
    }
}

/* One input's table: t[u] = 2 * rescale(input byte u), u the raw byte (so LDRB indexes it), stepping
 * x = (a + off) << (ls + 1) by 1 << (ls + 1) instead of shifting per entry; same values as add_fast. */
TINY_INLINE void add_table_e(int32_t *t, int32_t off, int32_t ls, int32_t m, int32_t e, const int z) {
    const int32_t step = (int32_t)(1u << ls), h = z ? 0 : 1 << (e - 1);
    int32_t x = (int32_t)((uint32_t)(off - 128) << ls);
    for (int32_t half = 0; half < 2; ++half) {      /* a = -128..-1 -> t[128..255], then 0..127 -> t[0..127] */
        int32_t *p = half ? t : t + 128;
        for (int32_t k = 0; k < 128; ++k, x += step) {
            const int32_t r = tiny_smmulr(x, m);
            *p++ = 2 * (z ? r : (r + (r >> 31) + h) >> e);
        }
    }
}

static void add_table(int32_t *t, int32_t off, int32_t ls, int32_t m, int32_t shift) {
    if (shift == 0) add_table_e(t, off, ls, m, 0, 1);
    else add_table_e(t, off, ls, m, -shift, 0);
}

TINY_INLINE int32_t tiny_smmlar(int32_t a, int32_t b, int32_t acc) {
    int32_t r;
    __asm__("smmlar %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
    return r;
}

/* Output of s2 = 2 * (rescaled in1 + rescaled in2) (|.| < 2^30, so SMMULR is srdhm exactly):
 * rdbp(ho, eo) + out_off = (ho + ko - (ho < 0)) >> eo with ko = 2^(eo-1) + out_off * 2^eo, and
 * ho + ko = SMMLAR(s2, mo, ko). (ho < 0) may be replaced by (s2 < 0): they differ only when ho == 0
 * and s2 < 0, where both give (ko or ko - 1) >> eo == out_off (eo >= 1). Then SSAT to int8 and
 * the activation bounds that are not int8's own (lo_on / hi_on). */
TINY_INLINE int8_t add_out(int32_t s2, int32_t mo, int32_t ko, int32_t eo, int32_t lo, int32_t hi, const int lo_on,
                           const int hi_on) {
    int32_t v = __builtin_arm_ssat((tiny_smmlar(s2, mo, ko) + (s2 >> 31)) >> eo, 8);
    if (lo_on) v = v < lo ? lo : v;
    if (hi_on) v = v > hi ? hi : v;
    return (int8_t)v;
}

/* Byte loads (LDRB with post-increment: cheaper than extracting bytes of a word); in place is fine,
 * element i of both inputs is read before out[i] is written. */
TINY_INLINE void add_lut(const int8_t *in1, const int8_t *in2, int8_t *out, int32_t n, const tiny_add_params *p,
                         const int32_t *t1, const int32_t *t2, const int lo_on, const int hi_on) {
    const int32_t mo = p->out_multiplier, eo = -p->out_shift;
    const int32_t ko = (1 << (eo - 1)) + (int32_t)((uint32_t)p->out_offset << eo);
    const int32_t lo = p->act_min, hi = p->act_max;
    const uint8_t *a = (const uint8_t *)in1, *b = (const uint8_t *)in2;
#define ADD_LUT_ONE()                                                                     \
    do {                                                                                  \
        const int32_t s2 = t1[*a++] + t2[*b++];                                           \
        *out++ = add_out(s2, mo, ko, eo, lo, hi, lo_on, hi_on);                           \
    } while (0)
    for (int32_t k = n >> 2; k > 0; --k) {
        ADD_LUT_ONE();
        ADD_LUT_ONE();
        ADD_LUT_ONE();
        ADD_LUT_ONE();
    }
    for (int32_t k = n & 3; k > 0; --k) ADD_LUT_ONE();
#undef ADD_LUT_ONE
}

int32_t tiny_add_s8_dsp_get_buffer_size(const tiny_dims *out_dims) {
    const int32_t n = out_dims->n * out_dims->h * out_dims->w * out_dims->c;
    return n >= TINY_ADD_LUT_MIN ? TINY_ADD_LUT_BYTES : 0;
}

static int same(const tiny_dims *a, const tiny_dims *b) {
    return a->n == b->n && a->h == b->h && a->w == b->w && a->c == b->c;
}

tiny_status tiny_add_s8_dsp(const tiny_ctx *ctx, const tiny_add_params *params, const tiny_dims *in1_dims,
                            const int8_t *in1, const tiny_dims *in2_dims, const int8_t *in2,
                            const tiny_dims *out_dims, int8_t *out) {
    if (!params || !in1_dims || !in1 || !in2_dims || !in2 || !out_dims || !out || !same(in1_dims, out_dims) ||
        !same(in2_dims, out_dims) || params->left_shift < 0 || params->left_shift > 30) {
        return tiny_add_s8(params, in1_dims, in1, in2_dims, in2, out_dims, out);
    }
    const int32_t n = out_dims->n * out_dims->h * out_dims->w * out_dims->c;
    if (params->left_shift >= 0 && params->left_shift <= 20 && params->in1_multiplier >= 0 && params->in2_multiplier >= 0 &&
        params->out_multiplier >= 0 && params->in1_shift <= 0 && params->in1_shift >= -22 &&
        params->in2_shift <= 0 && params->in2_shift >= -22 && params->out_shift <= -1 && params->out_shift >= -22 &&
        params->in1_offset >= -128 && params->in1_offset <= 128 && params->in2_offset >= -128 &&
        params->in2_offset <= 128 && params->out_offset >= -128 && params->out_offset <= 127) {
        if (n >= TINY_ADD_LUT_MIN && ctx && ctx->buf && ctx->size >= TINY_ADD_LUT_BYTES) {
            int32_t *t1 = (int32_t *)(((uintptr_t)ctx->buf + 3u) & ~(uintptr_t)3u);   /* word-aligned */
            add_table(t1, params->in1_offset, params->left_shift + 1, params->in1_multiplier, params->in1_shift);
            add_table(t1 + 256, params->in2_offset, params->left_shift + 1, params->in2_multiplier, params->in2_shift);
            const int lo_on = params->act_min > -128, hi_on = params->act_max < 127;
            if (!lo_on && !hi_on) add_lut(in1, in2, out, n, params, t1, t1 + 256, 0, 0);
            else if (!hi_on) add_lut(in1, in2, out, n, params, t1, t1 + 256, 1, 0);
            else add_lut(in1, in2, out, n, params, t1, t1 + 256, 1, 1);
            return TINY_OK;
        }
        const int z1 = params->in1_shift == 0, z2 = params->in2_shift == 0;
        if (z1 && z2) add_fast(in1, in2, out, n, params, 1, 1);
        else if (z1) add_fast(in1, in2, out, n, params, 1, 0);
        else if (z2) add_fast(in1, in2, out, n, params, 0, 1);
        else add_fast(in1, in2, out, n, params, 0, 0);
        return TINY_OK;
    }
    const int32_t o1 = params->in1_offset, o2 = params->in2_offset, ls = params->left_shift;
    const tiny_rq r1 = tiny_rq_make(params->in1_multiplier, params->in1_shift);
    const tiny_rq r2 = tiny_rq_make(params->in2_multiplier, params->in2_shift);
    const tiny_rq ro = tiny_rq_make(params->out_multiplier, params->out_shift);
    const int32_t oo = params->out_offset, lo = params->act_min, hi = params->act_max;
    for (int32_t i = 0; i < n; ++i) {
        const int32_t x1 = (int32_t)((uint32_t)(in1[i] + o1) << ls);
        const int32_t x2 = (int32_t)((uint32_t)(in2[i] + o2) << ls);
        const int32_t s = tiny_arm_requant(x1, r1) + tiny_arm_requant(x2, r2);
        out[i] = tiny_arm_out(s, ro, oo, lo, hi);
    }
    return TINY_OK;
}
#endif
