/* MUL int8: same arguments and results as tiny_mul_s8 for three layouts - equal shapes, one operand
 * a per-channel vector [1,1,1,C] repeated over the other's pixels (MobileNetV3's squeeze-excite gate),
 * or a scalar (the hard-sigmoid's "* 1/6"); other broadcasts and parameters go to tiny_mul_s8.
 *
 * Fast path (TFLite's multipliers: m >= 0, shift in [-22, -1], so no left shift): both operands are
 * widened to int16 lanes with their offsets (|x + off| <= 255) and one of them doubled, so SMULBB /
 * SMULTT give p2 = 2 * (x1 + off1) * (x2 + off2) exactly (|p2| < 2^17) two lanes per word. Then as
 * in add_s8_dsp.c: srdhm(prod, m) = SMMULR(p2, m) (the doubled operand fits), and
 * rdbp(h, e) + out_off = (SMMLAR(p2, m, ko) + (p2 < 0 ? -1 : 0)) >> e with ko = 2^(e-1) + out_off * 2^e
 * ((h < 0) may be replaced by (p2 < 0): they differ only when h == 0, where both round to out_off). */
#include "arm_common.h"
#include "tiny/kernels_arm.h"

#ifdef TINY_ARM_DSP
TINY_INLINE int32_t mul_smmlar(int32_t a, int32_t b, int32_t acc) {
    int32_t r;
    __asm__("smmlar %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
    return r;
}
/* Low / high int16 lanes multiplied (GCC emits SMULBB / SMULTT). */
TINY_INLINE int32_t mul_smulbb(int32_t a, int32_t b) { return (int32_t)(int16_t)a * (int16_t)b; }
TINY_INLINE int32_t mul_smultt(int32_t a, int32_t b) { return (a >> 16) * (b >> 16); }

typedef struct {
    int32_t m, ko, e, lo, hi;
} mul_q;

/* One output from p2 = 2 * product; lo_on / hi_on: activation bounds inside int8's own. */
TINY_INLINE int8_t mul_out(int32_t p2, const mul_q *q, const int lo_on, const int hi_on) {
    int32_t v = __builtin_arm_ssat((mul_smmlar(p2, q->m, q->ko) + (p2 >> 31)) >> q->e, 8);
    if (lo_on) v = v < q->lo ? q->lo : v;
    if (hi_on) v = v > q->hi ? q->hi : v;
    return (int8_t)v;
}

/* Four outputs from one word of x (offset o1x2 = off1 in both lanes) and the doubled other operand as
 * lanes (g02: elements 0 and 2, g13: elements 1 and 3). */
TINY_INLINE void mul4(int32_t xw, int32_t o1x2, int32_t g02, int32_t g13, int8_t *out, const mul_q *q, const int lo_on,
                      const int hi_on) {
    const int32_t x02 = tiny_sadd16(tiny_sxtb16(xw), o1x2), x13 = tiny_sadd16(tiny_sxtb16_ror8(xw), o1x2);
    out[0] = mul_out(mul_smulbb(x02, g02), q, lo_on, hi_on);
    out[1] = mul_out(mul_smulbb(x13, g13), q, lo_on, hi_on);
    out[2] = mul_out(mul_smultt(x02, g02), q, lo_on, hi_on);
    out[3] = mul_out(mul_smultt(x13, g13), q, lo_on, hi_on);
}

/* The doubled lanes 2 * (g + off2) of one word of the other operand. */
TINY_INLINE void gate_lanes(int32_t gw, int32_t o2x2, int32_t *g02, int32_t *g13) {
    const int32_t a = tiny_sadd16(tiny_sxtb16(gw), o2x2), b = tiny_sadd16(tiny_sxtb16_ror8(gw), o2x2);
    *g02 = tiny_sadd16(a, a);
    *g13 = tiny_sadd16(b, b);
}

/* x: `outer` rows of c elements; g: c elements shared by every row (c == 1 and outer == n: a scalar;
 * outer == 1: equal shapes, g is the second full operand). */
TINY_INLINE void mul_rows(const int8_t *x, const int8_t *g, int8_t *out, int32_t outer, int32_t c, int32_t o1,
                          int32_t o2, const mul_q *qp, const int lo_on, const int hi_on) {
    const mul_q ql = *qp, *q = &ql;   /* a local copy stays in registers (the byte stores may alias *qp) */
    const int32_t o1x2 = tiny_pack16(o1, o1), o2x2 = tiny_pack16(o2, o2);
    int32_t c0 = 0;
    if (outer == 1) {   /* equal shapes: both operands change every word */
        for (; c0 + 4 <= c; c0 += 4) {
            int32_t g02, g13;
            gate_lanes(tiny_ld32(g + c0), o2x2, &g02, &g13);
            mul4(tiny_ld32(x + c0), o1x2, g02, g13, out + c0, q, lo_on, hi_on);
        }
    } else {            /* per-channel gate: 4 channels' lanes stay in registers down the rows */
        for (; c0 + 4 <= c; c0 += 4) {
            int32_t g02, g13;
            gate_lanes(tiny_ld32(g + c0), o2x2, &g02, &g13);
            const int8_t *xp = x + c0;
            int8_t *op = out + c0;
            for (int32_t r = outer; r > 0; --r, xp += c, op += c) mul4(tiny_ld32(xp), o1x2, g02, g13, op, q, lo_on, hi_on);
        }
    }
    for (; c0 < c; ++c0) {   /* channels past the last multiple of 4 */
        const int32_t g2 = 2 * (g[c0] + o2);
        const int8_t *xp = x + c0;
        int8_t *op = out + c0;
        for (int32_t r = outer; r > 0; --r, xp += c, op += c) *op = mul_out((*xp + o1) * g2, q, lo_on, hi_on);
    }
}

/* A scalar other operand: x is n contiguous elements, 4 per step. */
TINY_INLINE void mul_scalar(const int8_t *x, int32_t g, int8_t *out, int32_t n, int32_t o1, int32_t o2, const mul_q *qp,
                            const int lo_on, const int hi_on) {
    const mul_q ql = *qp, *q = &ql;
    const int32_t o1x2 = tiny_pack16(o1, o1), g2 = 2 * (g + o2), gg = tiny_pack16(g2, g2);
    int32_t i = 0;
    for (; i + 4 <= n; i += 4) mul4(tiny_ld32(x + i), o1x2, gg, gg, out + i, q, lo_on, hi_on);
    for (; i < n; ++i) out[i] = mul_out((x[i] + o1) * g2, q, lo_on, hi_on);
}

static void mul_dispatch(const int8_t *x, const int8_t *g, int8_t *out, int32_t outer, int32_t c, int scalar, int32_t o1,
                         int32_t o2, const mul_q *q) {
    const int lo_on = q->lo > -128, hi_on = q->hi < 127;
    if (scalar) {
        if (!lo_on && !hi_on) mul_scalar(x, *g, out, outer, o1, o2, q, 0, 0);
        else mul_scalar(x, *g, out, outer, o1, o2, q, 1, 1);
    } else {
        if (!lo_on && !hi_on) mul_rows(x, g, out, outer, c, o1, o2, q, 0, 0);
        else mul_rows(x, g, out, outer, c, o1, o2, q, 1, 1);
    }
}

static int same(const tiny_dims *a, const tiny_dims *b) {
    return a->n == b->n && a->h == b->h && a->w == b->w && a->c == b->c;
}
/* [1,1,1,c] with c the output's channels, or a scalar. */
static int vec(const tiny_dims *g, const tiny_dims *o) {
    return g->n == 1 && g->h == 1 && g->w == 1 && (g->c == o->c || g->c == 1);
}

tiny_status tiny_mul_s8_dsp(const tiny_mul_params *params, const tiny_dims *in1_dims, const int8_t *in1,
                            const tiny_dims *in2_dims, const int8_t *in2, const tiny_dims *out_dims, int8_t *out) {
    if (!params || !in1_dims || !in1 || !in2_dims || !in2 || !out_dims || !out || params->out_multiplier < 0 ||
        params->out_shift > -1 || params->out_shift < -22 || params->in1_offset < -128 || params->in1_offset > 128 ||
        params->in2_offset < -128 || params->in2_offset > 128 || params->out_offset < -128 || params->out_offset > 127 ||
        params->act_min < -128 || params->act_max > 127 || params->act_min > params->act_max) {
        return tiny_mul_s8(params, in1_dims, in1, in2_dims, in2, out_dims, out);
    }
    const int32_t n = out_dims->n * out_dims->h * out_dims->w * out_dims->c;
    const int32_t e = -params->out_shift;
    const mul_q q = {params->out_multiplier, (1 << (e - 1)) + (int32_t)((uint32_t)params->out_offset << e), e,
                     params->act_min, params->act_max};
    const int32_t o1 = params->in1_offset, o2 = params->in2_offset;
    if (same(in1_dims, out_dims) && same(in2_dims, out_dims)) {
        mul_dispatch(in1, in2, out, 1, n, 0, o1, o2, &q);
    } else if (same(in1_dims, out_dims) && vec(in2_dims, out_dims)) {
        mul_dispatch(in1, in2, out, in2_dims->c == 1 ? n : n / out_dims->c, out_dims->c, in2_dims->c == 1, o1, o2, &q);
    } else if (same(in2_dims, out_dims) && vec(in1_dims, out_dims)) {   /* multiplication commutes */
        mul_dispatch(in2, in1, out, in1_dims->c == 1 ? n : n / out_dims->c, out_dims->c, in1_dims->c == 1, o2, o1, &q);
    } else {
        return tiny_mul_s8(params, in1_dims, in1, in2_dims, in2, out_dims, out);
    }
    return TINY_OK;
}
#endif
