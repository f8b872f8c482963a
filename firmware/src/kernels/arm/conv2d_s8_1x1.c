/* CONV_2D 1x1 (pointwise), stride 1, no padding, input and output of the same extent: a GEMM
 * out[p][oc] = sum_k w[oc][k] * (x[p][k] + input_offset). Same arguments and results as
 * tiny_conv2d_s8; any other geometry (or a grouped conv) is handed to tiny_conv2d_s8.
 *
 * Blocking: 2 output channels x 2 pixels, 4 input channels per step (one LDR per operand,
 * SXTB16 / SXTB16 ROR 8 to split even and odd bytes, 8 SMLAD = 16 MACs in ~20 instructions).
 * The input offset is folded into the bias per channel (sum_k w * x + offset * sum_k w), so no
 * per-element offset add and no scratch: output channels are the outer loop, their bias,
 * weight sum and requantization constants are computed once per call. in_c 8, 16, 32: the block is
 * fully unrolled with a constant K (pw_pairs_*); for 8 and 32 the requantization is fused into the
 * block (pw_fused_*, no accumulator strip). Weight sums by USADA8.
 *
 * Pixel-pair path first (pwx_*, below), when in_c is a multiple of 4 up to 256 and the output has the
 * full int8 range: pixels outer, each pair widened once to doubled int16 and shared by all output
 * channels of a 64-channel chunk, an assembly 2x2 block at 15 instructions per 16 MACs with the
 * requantization fused (MobileNetV2-0.5@112x80 pointwise: 1.78 -> 1.47 instructions/MAC). A chunk
 * with a channel off the exact cheap requantization form runs the strip path above.
 *
 * in_c <= PWY_MAX_IN takes the pre-widened path (pwy_*) before that: same pixel pairs, weights widened
 * once per call, the channel-pair loop in assembly (11 instructions per 16 MACs). */
#include "arm_common.h"
#include "tiny/kernels_arm.h"

#ifdef TINY_ARM_DSP
#define PW_STRIP 128   /* pixels per accumulator strip (2 x 512 bytes of stack) */
/* Sum of n int8 weights: bytes flipped to unsigned (b ^ 0x80 = b + 128) and summed 4 at a time by
 * USADA8 (|u - 0| = u), then 128 per byte taken back. */
static int32_t weight_sum(const int8_t *w, int32_t n) {
    uint32_t u = 0;
    int32_t k = 0;
    for (; k + 4 <= n; k += 4) u = __builtin_arm_usada8((uint32_t)tiny_ld32(w + k) ^ 0x80808080u, 0, u);
    int32_t s = (int32_t)u - 128 * k;
    for (; k < n; ++k) s += w[k];
    return s;
}


/* One step of the 2-channel x 2-pixel block on the accumulators a0/a1 (pixel a, channels 0/1) and
 * c0/c1 (pixel b) in scope: 4 input bytes of each pixel against 4 weights of each channel, 16 MACs
 * as 8 SMLAD. A macro, not a function: the compiler schedules the two loops that use it differently
 * through a call (+1.5 % instructions on the bounded-range path). */
#define PW_MAC4(VA, VB, V0, V1)                                                                     \
    do {                                                                                            \
        const int32_t va = (VA), vb = (VB);                                                         \
        const int32_t v0 = (V0), v1 = (V1);                                                         \
        const int32_t ae = tiny_sxtb16(va), ao = tiny_sxtb16_ror8(va);                              \
        const int32_t be = tiny_sxtb16(vb), bo = tiny_sxtb16_ror8(vb);                              \
        const int32_t we = tiny_sxtb16(v0), wo = tiny_sxtb16_ror8(v0);                              \
        a0 = tiny_smlad(ae, we, a0);                                                                \
        a0 = tiny_smlad(ao, wo, a0);                                                                \
        c0 = tiny_smlad(be, we, c0);                                                                \
        c0 = tiny_smlad(bo, wo, c0);                                                                \
        const int32_t ue = tiny_sxtb16(v1), uo = tiny_sxtb16_ror8(v1);                              \
        a1 = tiny_smlad(ae, ue, a1);                                                                \
        a1 = tiny_smlad(ao, uo, a1);                                                                \
        c1 = tiny_smlad(be, ue, c1);                                                                \
        c1 = tiny_smlad(bo, uo, c1);                                                                \
    } while (0)

/* 2 output channels x 2 pixels over K = in_c (a multiple of 4): four accumulators. Inlined with a
 * constant in_c for the common channel counts, so that small K loops unroll completely and the
 * second pixel is an immediate offset. */
TINY_INLINE void pw_block(const int8_t *xa, const int8_t *w0, const int8_t *w1, const int32_t in_c, int32_t *r) {
    const int8_t *xb = xa + in_c;
    int32_t a0 = r[0], a1 = r[1], c0 = r[2], c1 = r[3];
#pragma GCC unroll 4
    for (int32_t k = 0; k < in_c; k += 4) {
        PW_MAC4(tiny_ld32(xa + k), tiny_ld32(xb + k), tiny_ld32(w0 + k), tiny_ld32(w1 + k));
    }
    r[0] = a0;
    r[1] = a1;
    r[2] = c0;
    r[3] = c1;
}

/* Pixel pairs of one strip for in_c a multiple of 4; returns the number of pixels done (even). */
TINY_INLINE int32_t pw_pairs(const int8_t *x, const int8_t *w0, const int8_t *w1, const int32_t in_c, int32_t n,
                             int32_t b0, int32_t b1, int32_t *acc0, int32_t *acc1) {
    int32_t j = 0;
    for (; j + 2 <= n; j += 2, x += 2 * in_c) {
        int32_t r[4] = {b0, b1, b0, b1};
        pw_block(x, w0, w1, in_c, r);
        acc0[j] = r[0];
        acc1[j] = r[1];
        acc0[j + 1] = r[2];
        acc1[j + 1] = r[3];
    }
    return j;
}

__attribute__((noinline)) static int32_t pw_pairs_8(const int8_t *x, const int8_t *w0, const int8_t *w1, int32_t n, int32_t b0, int32_t b1,
                          int32_t *acc0, int32_t *acc1) {
    return pw_pairs(x, w0, w1, 8, n, b0, b1, acc0, acc1);
}
__attribute__((noinline)) static int32_t pw_pairs_16(const int8_t *x, const int8_t *w0, const int8_t *w1, int32_t n, int32_t b0, int32_t b1,
                           int32_t *acc0, int32_t *acc1) {
    return pw_pairs(x, w0, w1, 16, n, b0, b1, acc0, acc1);
}
__attribute__((noinline)) static int32_t pw_pairs_32(const int8_t *x, const int8_t *w0, const int8_t *w1, int32_t n, int32_t b0, int32_t b1,
                           int32_t *acc0, int32_t *acc1) {
    return pw_pairs(x, w0, w1, 32, n, b0, b1, acc0, acc1);
}

/* Requantization fused into the small-K blocks (no accumulator strip): both channels on the cheap
 * exact form of requant_strip.c (|acc| < 2^30, right shift 1..22) with the full int8 range. */
typedef struct {
    int32_t m0, m1, k0, k1, e0, e1;
} pw_rq;

TINY_INLINE int8_t pw_q(int32_t acc, int32_t m, int32_t k, int32_t e) {
    const int32_t h = tiny_smmulr(acc * 2, m);
    return (int8_t)__builtin_arm_ssat((h + (h >> 31) + k) >> e, 8);
}

/* All pixel pairs of npix, outputs written directly; returns the number of pixels done (even). */
TINY_INLINE int32_t pw_fused(const int8_t *x, const int8_t *w0, const int8_t *w1, const int32_t in_c, int32_t npix,
                             int32_t b0, int32_t b1, const pw_rq *q, int8_t *out, int32_t out_c) {
    int32_t j = 0;
    for (; j + 2 <= npix; j += 2, x += 2 * in_c, out += 2 * out_c) {
        int32_t r[4] = {b0, b1, b0, b1};
        pw_block(x, w0, w1, in_c, r);
        out[0] = pw_q(r[0], q->m0, q->k0, q->e0);
        out[1] = pw_q(r[1], q->m1, q->k1, q->e1);
        out[out_c] = pw_q(r[2], q->m0, q->k0, q->e0);
        out[out_c + 1] = pw_q(r[3], q->m1, q->k1, q->e1);
    }
    return j;
}
__attribute__((noinline)) static int32_t pw_fused_8(const int8_t *x, const int8_t *w0, const int8_t *w1, int32_t npix,
                                                    int32_t b0, int32_t b1, const pw_rq *q, int8_t *out,
                                                    int32_t out_c) {
    return pw_fused(x, w0, w1, 8, npix, b0, b1, q, out, out_c);
}
__attribute__((noinline)) static int32_t pw_fused_32(const int8_t *x, const int8_t *w0, const int8_t *w1, int32_t npix,
                                                     int32_t b0, int32_t b1, const pw_rq *q, int8_t *out,
                                                     int32_t out_c) {
    return pw_fused(x, w0, w1, 32, npix, b0, b1, q, out, out_c);
}

static int pw_rq_ok(int32_t small, int32_t m, int32_t shift) { return small && m >= 0 && shift <= -1 && shift >= -22; }


/* ---- Pixel-pair path (in_c a multiple of 4, <= PWX_MAX_IN; full int8 output range; every channel of
 * a chunk on the exact cheap requantization form). Two pixels are widened once into a stack buffer
 * of int16 pairs, doubled (SADD16: |2x| <= 256), in the order the block reads them: per 4 input
 * channels {a even, a odd, b even, b odd}. Every output channel pair of the chunk then runs a
 * 2 channels x 2 pixels SMLAD block over it (one LDM-able 4-word read + 2 weight words + 4 SXTB16 +
 * 8 SMLAD per 16 MACs) with the requantization fused: the accumulators already hold 2 * acc (bias
 * doubled too), so SMMULR gives srdhm without a doubling step. Channel constants {2 * bias',
 * multiplier, rounding + offset, shift} per chunk of PWX_OC channels are built once per call. */
#define PWX_MAX_IN 256
#define PWX_OC 64

/* (h + (h >> 31) + k) >> e with h = SMMULR(2 acc, m) (requant_strip.c's cheap form), as
 * (SMMLAR(2 acc, m, k) + (acc >> 31)) >> e: the sign of h is the sign of acc (m >= 0) except when
 * h == 0 and acc < 0, where both give (k - 1) >> e == k >> e == offset (k = 2^(e-1) + offset 2^e). */
TINY_INLINE int8_t pwx_q(int32_t acc2, int32_t m, int32_t k, int32_t e) {
    int32_t t;
    __asm__("smmlar %0, %1, %2, %3" : "=r"(t) : "r"(acc2), "r"(m), "r"(k));
    return (int8_t)__builtin_arm_ssat((t + (acc2 >> 31)) >> e, 8);
}

/* One group of 4 input channels for 2 channels x 2 pixels: the 4 doubled int16 pairs of the two
 * pixels (LDM into r2-r5), the weight word of channel 0 (post-incremented) and of channel 1 (OFF
 * bytes further, OFF = in_c - 4), each split by SXTB16 / SXTB16 ROR 8 into r6 / r12: 15 instructions,
 * 16 MACs. A0, A1, C0, C1: the accumulators (channel 0 / 1 of pixel a, then of pixel b). */
#define PWX_G(OFF, A0, A1, C0, C1)                                                                        \
    "ldm %[x]!, {r2, r3, r4, r5}\n\t"                                                                     \
    "ldr r12, [%[w]], #4\n\t"                                                                            \
    "sxtb16 r6, r12\n\t"                                                                                  \
    "sxtb16 r12, r12, ror #8\n\t"                                                                         \
    "smlad " A0 ", r2, r6, " A0 "\n\t"                                                                    \
    "smlad " C0 ", r4, r6, " C0 "\n\t"                                                                    \
    "smlad " A0 ", r3, r12, " A0 "\n\t"                                                                   \
    "smlad " C0 ", r5, r12, " C0 "\n\t"                                                                   \
    "ldr r12, [%[w], " OFF "]\n\t"                                                                        \
    "sxtb16 r6, r12\n\t"                                                                                  \
    "sxtb16 r12, r12, ror #8\n\t"                                                                         \
    "smlad " A1 ", r2, r6, " A1 "\n\t"                                                                    \
    "smlad " C1 ", r4, r6, " C1 "\n\t"                                                                    \
    "smlad " A1 ", r3, r12, " A1 "\n\t"                                                                   \
    "smlad " C1 ", r5, r12, " C1 "\n\t"

/* Any in_c (a multiple of 4): the accumulators live in r8-r11 (a0, a1, c0, c1, from 0), pairs of
 * groups in a loop ending on a weight pointer kept in memory, then an odd group; the sums are stored
 * just past the widened pixels (4 spare words of xs) and returned there. */
__attribute__((noinline)) static const int32_t *pwx_mac_n(const int32_t *x, const int8_t *w, int32_t in_c) {
    const int32_t off = in_c - 4;
    const int8_t *wend = w + (in_c & ~7);
    __asm__ volatile("mov r8, #0\n\t"
                     "mov r9, #0\n\t"
                     "mov r10, #0\n\t"
                     "mov r11, #0\n\t"
                     "ldr r6, %[e]\n\t"
                     "cmp %[w], r6\n\t"
                     "beq 2f\n"
                     "1:\n\t" PWX_G("%[off]", "r8", "r9", "r10", "r11") PWX_G("%[off]", "r8", "r9", "r10", "r11")
                     "ldr r6, %[e]\n\t"
                     "cmp %[w], r6\n\t"
                     "bne 1b\n"
                     "2:\n\t"
                     "tst %[off], #4\n\t"
                     "bne 3f\n\t" PWX_G("%[off]", "r8", "r9", "r10", "r11")
                     "3:\n\t"
                     "stm %[x], {r8, r9, r10, r11}"
                     : [x] "+r"(x), [w] "+r"(w)
                     : [off] "r"(off), [e] "m"(wend)
                     : "r2", "r3", "r4", "r5", "r6", "r8", "r9", "r10", "r11", "r12", "cc", "memory");
    return x;
}

/* npair output channel pairs of one pixel pair: weights w (npair * 2 rows of in_c), constants ch,
 * outputs oa (pixel a) and ob (pixel b), channel-contiguous. K > 0: in_c == K, the groups unrolled
 * (.rept) with an immediate offset to channel 1; K == 0: any in_c (a multiple of 4), a loop. */
TINY_INLINE void pwx_pairs(const int32_t *xs, const int8_t *w, const int32_t in_c, const pwx_ch *ch,
                           int32_t npair, int8_t *oa, int8_t *ob, const int K) {
    for (; npair > 0; --npair, w += in_c, ch += 2, oa += 2, ob += 2) {
        int32_t a0 = ch[0].b, a1 = ch[1].b, c0 = a0, c1 = a1;
        const int32_t *x = xs;
        if (K == 8) {
            __asm__ volatile(".rept 2\n\t" PWX_G("#4", "%[a0]", "%[a1]", "%[c0]", "%[c1]") ".endr"
                             : [a0] "+r"(a0), [a1] "+r"(a1), [c0] "+r"(c0), [c1] "+r"(c1), [x] "+r"(x), [w] "+r"(w)
                             : : "r2", "r3", "r4", "r5", "r6", "r12", "memory");
        } else if (K == 16) {
            __asm__ volatile(".rept 4\n\t" PWX_G("#12", "%[a0]", "%[a1]", "%[c0]", "%[c1]") ".endr"
                             : [a0] "+r"(a0), [a1] "+r"(a1), [c0] "+r"(c0), [c1] "+r"(c1), [x] "+r"(x), [w] "+r"(w)
                             : : "r2", "r3", "r4", "r5", "r6", "r12", "memory");
        } else if (K == 32) {
            __asm__ volatile(".rept 8\n\t" PWX_G("#28", "%[a0]", "%[a1]", "%[c0]", "%[c1]") ".endr"
                             : [a0] "+r"(a0), [a1] "+r"(a1), [c0] "+r"(c0), [c1] "+r"(c1), [x] "+r"(x), [w] "+r"(w)
                             : : "r2", "r3", "r4", "r5", "r6", "r12", "memory");
        } else if (K == 48) {
            __asm__ volatile(".rept 12\n\t" PWX_G("#44", "%[a0]", "%[a1]", "%[c0]", "%[c1]") ".endr"
                             : [a0] "+r"(a0), [a1] "+r"(a1), [c0] "+r"(c0), [c1] "+r"(c1), [x] "+r"(x), [w] "+r"(w)
                             : : "r2", "r3", "r4", "r5", "r6", "r12", "memory");
        } else {
            const int32_t *r = pwx_mac_n(x, w, in_c);
            w += in_c;
            a0 += r[0], a1 += r[1], c0 += r[2], c1 += r[3];
        }
        const int32_t m0 = ch[0].m, k0 = ch[0].k, e0 = ch[0].e, m1 = ch[1].m, k1 = ch[1].k, e1 = ch[1].e;
        oa[0] = pwx_q(a0, m0, k0, e0);
        ob[0] = pwx_q(c0, m0, k0, e0);
        oa[1] = pwx_q(a1, m1, k1, e1);
        ob[1] = pwx_q(c1, m1, k1, e1);
    }
}
#define PWX_K(K)                                                                                          \
    __attribute__((noinline)) static void pwx_pairs_##K(const int32_t *xs, const int8_t *w, const pwx_ch *ch, \
                                                        int32_t npair, int8_t *oa, int8_t *ob) {          \
        pwx_pairs(xs, w, K, ch, npair, oa, ob, K);                                                        \
    }
PWX_K(8)
PWX_K(16)
PWX_K(32)
PWX_K(48)
#undef PWX_K
__attribute__((noinline)) static void pwx_pairs_n(const int32_t *xs, const int8_t *w, int32_t in_c, const pwx_ch *ch,
                                                  int32_t npair, int8_t *oa, int8_t *ob) {
    pwx_pairs(xs, w, in_c, ch, npair, oa, ob, 0);
}

/* Widens pixels xa and xb (in_c a multiple of 4) into xs, doubled (also for conv2d_s8_rgb.c). */
void tiny_arm_pw_widen(const int8_t *xa, const int8_t *xb, int32_t in_c, int32_t *xs) {
    for (int32_t k = 0; k < in_c; k += 4, xs += 4) {
        const int32_t va = tiny_ld32(xa + k), vb = tiny_ld32(xb + k);
        const int32_t ae = tiny_sxtb16(va), ao = tiny_sxtb16_ror8(va);
        const int32_t be = tiny_sxtb16(vb), bo = tiny_sxtb16_ror8(vb);
        xs[0] = tiny_sadd16(ae, ae);
        xs[1] = tiny_sadd16(ao, ao);
        xs[2] = tiny_sadd16(be, be);
        xs[3] = tiny_sadd16(bo, bo);
    }
}

/* Output channels [ob, oe) (oe - ob <= PWX_OC) of every pixel on the pixel-pair path; 0 (nothing
 * written) when a channel of the range is off the cheap requantization form. */
__attribute__((noinline)) static int pwx_chunk(const int8_t *input, const int8_t *filter, const int32_t *bias, const tiny_per_channel_quant *quant,
                     int32_t in_c, int32_t out_c, int32_t npix, int32_t in_off, int32_t out_off, int32_t ob, int32_t oe,
                     int8_t *output) {
    pwx_ch ch[PWX_OC];
    int32_t xs[PWX_MAX_IN + 4];   /* + the sums of pwx_mac_n */
    for (int32_t c = ob; c < oe; ++c) {
        const int32_t b = (bias ? bias[c] : 0) + in_off * weight_sum(filter + c * in_c, in_c);
        const int32_t m = quant->multiplier[c], sh = quant->shift[c];
        if (!pw_rq_ok(tiny_acc_small(b, 128 * in_c), m, sh)) return 0;
        const int32_t e = -sh;
        ch[c - ob] = (pwx_ch){2 * b, m, (1 << (e - 1)) + (int32_t)((uint32_t)out_off << e), e};
    }
    const int32_t n = oe - ob, npair = n >> 1;
    const int8_t *w = filter + ob * in_c;
    const int8_t *x = input;
    int8_t *out = output + ob;
    for (int32_t p = 0; p < npix; p += 2, x += 2 * in_c, out += 2 * out_c) {
        const int last = p + 1 == npix;   /* odd pixel count: pixel b repeats pixel a, not written */
        tiny_arm_pw_widen(x, last ? x : x + in_c, in_c, xs);
        int8_t *oa = out, *obp = last ? out : out + out_c;
        switch (in_c) {
            case 8: pwx_pairs_8(xs, w, ch, npair, oa, obp); break;
            case 16: pwx_pairs_16(xs, w, ch, npair, oa, obp); break;
            case 32: pwx_pairs_32(xs, w, ch, npair, oa, obp); break;
            case 48: pwx_pairs_48(xs, w, ch, npair, oa, obp); break;
            default: pwx_pairs_n(xs, w, in_c, ch, npair, oa, obp); break;
        }
        if (n & 1) {   /* odd channel count: the last channel alone */
            const int8_t *w0 = w + (n - 1) * in_c;
            const pwx_ch *c = &ch[n - 1];
            int32_t a0 = c->b, c0 = c->b;
            for (int32_t k = 0; k < in_c; k += 4) {
                const int32_t v0 = tiny_ld32(w0 + k);
                const int32_t we = tiny_sxtb16(v0), wo = tiny_sxtb16_ror8(v0);
                a0 = tiny_smlad(xs[k], we, a0);
                a0 = tiny_smlad(xs[k + 1], wo, a0);
                c0 = tiny_smlad(xs[k + 2], we, c0);
                c0 = tiny_smlad(xs[k + 3], wo, c0);
            }
            obp[n - 1] = pwx_q(c0, c->m, c->k, c->e);
            oa[n - 1] = pwx_q(a0, c->m, c->k, c->e);
        }
    }
    return 1;
}

/* ---- Pre-widened weight path (in_c a multiple of 4 up to PWY_MAX_IN; same conditions as pwx). Small
 * in_c leaves pwx's per-channel-pair overhead (SXTB16 of every weight word, spills of a C loop) a large
 * share, so here the weights of a chunk are widened once per call into a stack block and the whole
 * channel-pair loop is assembly: per pair {2 b0, 2 b1, in_c words of widened weights (per 4 inputs:
 * w0 even, w0 odd, w1 even, w1 odd), m0, k0, e0, m1, k1, e1}; per 16 MACs one LDM of the widened
 * pixels, two LDRD of weights and 8 SMLAD (11 instructions, was 15). in_c / 4 groups are run by
 * jumping into a run of PWY_MAX_IN / 4 fixed-size (44-byte) groups. */

/* tiny_arm_pwy_pairs(xs, blk, oa, ob, npair, in_c): npair channel pairs of one pixel pair (widened pixels xs,
 * outputs oa / ob), requantized as pwx_q. r0 x, r1 block, r2-r6 r12 scratch, r7 ob, r8-r11 a0 a1 c0 c1,
 * lr oa; the stack holds xs, the entry address and the end of oa. */
#define PWY_G                                                                                             \
    "ldmia.w r0!, {r2, r3, r4, r5}\n\t"                                                                   \
    "ldrd r6, r12, [r1], #8\n\t"                                                                          \
    "smlad r8, r2, r6, r8\n\t"                                                                            \
    "smlad r10, r4, r6, r10\n\t"                                                                          \
    "smlad r8, r3, r12, r8\n\t"                                                                           \
    "smlad r10, r5, r12, r10\n\t"                                                                         \
    "ldrd r6, r12, [r1], #8\n\t"                                                                          \
    "smlad r9, r2, r6, r9\n\t"                                                                            \
    "smlad r11, r4, r6, r11\n\t"                                                                          \
    "smlad r9, r3, r12, r9\n\t"                                                                           \
    "smlad r11, r5, r12, r11\n\t"
#define PWY_Q(ACC, DST)                                                                                   \
    "smmlar r5, " ACC ", r2, r3\n\t"                                                                      \
    "add.w r5, r5, " ACC ", asr #31\n\t"                                                                  \
    "asr.w r5, r5, r4\n\t"                                                                                \
    "ssat r5, #8, r5\n\t"                                                                                 \
    "strb.w r5, [" DST "], #1\n\t"
__asm__(".syntax unified\n\t"
        ".thumb\n\t"
        ".text\n\t"
        ".align 2\n\t"
        ".global tiny_arm_pwy_pairs\n\t"
        ".thumb_func\n\t"
        ".type tiny_arm_pwy_pairs, %function\n"
        "tiny_arm_pwy_pairs:\n\t"
        "push {r4, r5, r6, r7, r8, r9, r10, r11, lr}\n\t"
        "ldr r4, [sp, #36]\n\t"        /* npair */
        "ldr r5, [sp, #40]\n\t"        /* in_c */
        "sub sp, sp, #12\n\t"
        "cmp r4, #0\n\t"
        "ble 9f\n\t"
        "mov r7, r3\n\t"
        "mov lr, r2\n\t"
        "add.w r4, r2, r4, lsl #1\n\t"
        "str r4, [sp, #8]\n\t"         /* end of oa */
        "str r0, [sp, #0]\n\t"         /* xs */
        "lsr.w r5, r5, #2\n\t"
        "mov.w r6, #44\n\t"
        "adr.w r12, 2f\n\t"
        "mls r12, r5, r6, r12\n\t"
        "orr.w r12, r12, #1\n\t"
        "str r12, [sp, #4]\n"          /* entry: in_c / 4 groups before 2: */
        "1:\n\t"
        "ldrd r8, r9, [r1], #8\n\t"
        "mov r10, r8\n\t"
        "mov r11, r9\n\t"
        "ldr r0, [sp, #0]\n\t"
        "ldr r12, [sp, #4]\n\t"
        "bx r12\n\t"
        ".rept 16\n\t" PWY_G ".endr\n"
        "2:\n\t"
        "ldmia.w r1!, {r2, r3, r4}\n\t" PWY_Q("r8", "lr") PWY_Q("r10", "r7")
        "ldmia.w r1!, {r2, r3, r4}\n\t" PWY_Q("r9", "lr") PWY_Q("r11", "r7")
        "ldr r12, [sp, #8]\n\t"
        "cmp lr, r12\n\t"
        "bne 1b\n"
        "9:\n\t"
        "add sp, sp, #12\n\t"
        "pop {r4, r5, r6, r7, r8, r9, r10, r11, pc}\n\t"
        ".size tiny_arm_pwy_pairs, .-tiny_arm_pwy_pairs\n\t");
#undef PWY_G
#undef PWY_Q

/* The block of output channels [ob, oe) for tiny_arm_pwy_pairs (layout above), weight rows of K bytes
 * zero-padded to kp (a multiple of 4, <= PWY_MAX_IN); an odd last channel goes to oddw (kp / 2 words:
 * even, odd per 4 inputs) and *odd. The input offset is folded into the bias. 0 when a channel is off
 * the cheap requantization form (nothing usable written). Shared with conv2d_s8_rgb.c. */
int tiny_arm_pwy_build(const int8_t *filter, int32_t K, int32_t kp, const int32_t *bias, const tiny_per_channel_quant *quant,
                       int32_t in_off, int32_t out_off, int32_t ob, int32_t oe, int32_t *blk, int32_t *oddw,
                       pwx_ch *odd) {
    const int32_t npair = (oe - ob) >> 1;
    int32_t *d = blk;
    for (int32_t c = ob; c < oe; ++c) {
        const int8_t *wc = filter + c * K;
        const int32_t b = (bias ? bias[c] : 0) + in_off * weight_sum(wc, K);
        int32_t *g = (c - ob) == 2 * npair ? oddw : d + 2 + ((c - ob) & 1) * 2;
        const int32_t step = (c - ob) == 2 * npair ? 2 : 4;
        int32_t k = 0;
        for (; k + 4 <= K; k += 4, g += step) {
            const int32_t v = tiny_ld32(wc + k);
            g[0] = tiny_sxtb16(v);
            g[1] = tiny_sxtb16_ror8(v);
        }
        if (k < kp) {   /* the tail, zero-padded */
            uint32_t u = 0;
            for (int32_t t = 0; k + t < K; ++t) u |= (uint32_t)(uint8_t)wc[k + t] << (8 * t);
            g[0] = tiny_sxtb16((int32_t)u);
            g[1] = tiny_sxtb16_ror8((int32_t)u);
        }
        const int32_t m = quant->multiplier[c], sh = quant->shift[c];
        if (!pw_rq_ok(tiny_acc_small(b, 128 * K), m, sh)) return 0;
        const int32_t e = -sh;
        const pwx_ch q = {2 * b, m, (1 << (e - 1)) + (int32_t)((uint32_t)out_off << e), e};
        if ((c - ob) == 2 * npair) {
            *odd = q;
        } else if (((c - ob) & 1) == 0) {
            d[0] = q.b;
            d[2 + kp] = q.m, d[3 + kp] = q.k, d[4 + kp] = q.e;
        } else {
            d[1] = q.b;
            d[5 + kp] = q.m, d[6 + kp] = q.k, d[7 + kp] = q.e;
            d += kp + 8;
        }
    }
    return 1;
}

/* The odd last channel of a chunk for one widened pixel pair (oddw from tiny_arm_pwy_build). */
void tiny_arm_pwy_odd(const int32_t *xs, const int32_t *oddw, int32_t kp, const pwx_ch *q, int8_t *oa, int8_t *ob) {
    int32_t a0 = q->b, c0 = q->b;
    for (int32_t k = 0; k < kp; k += 4, oddw += 2) {
        a0 = tiny_smlad(xs[k], oddw[0], a0);
        a0 = tiny_smlad(xs[k + 1], oddw[1], a0);
        c0 = tiny_smlad(xs[k + 2], oddw[0], c0);
        c0 = tiny_smlad(xs[k + 3], oddw[1], c0);
    }
    *ob = pwx_q(c0, q->m, q->k, q->e);
    *oa = pwx_q(a0, q->m, q->k, q->e);
}

/* Output channels [ob, oe) of every pixel on the pre-widened path; 0 (nothing written) when a channel
 * is off the cheap form. */
__attribute__((noinline)) static int pwy_chunk(const int8_t *input, const int8_t *filter, const int32_t *bias, const tiny_per_channel_quant *quant,
                     int32_t in_c, int32_t out_c, int32_t npix, int32_t in_off, int32_t out_off, int32_t ob, int32_t oe,
                     int8_t *output) {
    int32_t blk[PWY_WORDS] __attribute__((aligned(8)));
    int32_t xs[PWY_MAX_IN], oddw[PWY_MAX_IN / 2];
    pwx_ch odd;
    const int32_t n = oe - ob;
    if (!tiny_arm_pwy_build(filter, in_c, in_c, bias, quant, in_off, out_off, ob, oe, blk, oddw, &odd)) return 0;
    const int8_t *x = input;
    int8_t *out = output + ob;
    for (int32_t p = 0; p < npix; p += 2, x += 2 * in_c, out += 2 * out_c) {
        const int last = p + 1 == npix;   /* odd pixel count: pixel b repeats pixel a, written to a */
        tiny_arm_pw_widen(x, last ? x : x + in_c, in_c, xs);
        int8_t *obp = last ? out : out + out_c;
        tiny_arm_pwy_pairs(xs, blk, out, obp, n >> 1, in_c);
        if (n & 1) tiny_arm_pwy_odd(xs, oddw, in_c, &odd, out + n - 1, obp + n - 1);
    }
    return 1;
}

tiny_status tiny_conv2d_s8_1x1(const tiny_ctx *ctx, const tiny_conv_params *params,
                               const tiny_per_channel_quant *quant, const tiny_dims *input_dims,
                               const int8_t *input, const tiny_dims *filter_dims, const int8_t *filter,
                               const tiny_dims *bias_dims, const int32_t *bias,
                               const tiny_dims *output_dims, int8_t *output) {
    if (!params || !quant || !input_dims || !input || !filter_dims || !filter || !output_dims || !output ||
        filter_dims->h != 1 || filter_dims->w != 1 || filter_dims->c != input_dims->c ||
        filter_dims->n != output_dims->c || params->stride.h != 1 || params->stride.w != 1 ||
        params->padding.h != 0 || params->padding.w != 0 || input_dims->h != output_dims->h ||
        input_dims->w != output_dims->w || input_dims->n != output_dims->n) {
        return tiny_conv2d_s8(ctx, params, quant, input_dims, input, filter_dims, filter, bias_dims, bias,
                              output_dims, output);
    }
    const int32_t in_c = input_dims->c, out_c = output_dims->c;
    const int32_t npix = output_dims->n * output_dims->h * output_dims->w;
    const int32_t in_off = params->input_offset, out_off = params->output_offset;
    const int32_t lo = params->activation.min, hi = params->activation.max;
    const int32_t kc4 = in_c & ~3;

    int32_t oc = 0;
    const int fast = (in_c & 3) == 0 && in_c <= PWX_MAX_IN && lo == -128 && hi == 127 && out_off >= -128 &&
                     out_off <= 127;
    const int wide = fast && in_c <= PWY_MAX_IN;
    const int32_t chunk = wide ? 2 * (PWY_WORDS / (in_c + 8)) : PWX_OC;
    for (int32_t cb = 0; cb < out_c; cb += chunk) {
        const int32_t ce = cb + chunk < out_c ? cb + chunk : out_c;
        if (wide && pwy_chunk(input, filter, bias, quant, in_c, out_c, npix, in_off, out_off, cb, ce, output)) {
            oc = ce;
            continue;
        }
        if (fast && ce - cb <= PWX_OC &&
            pwx_chunk(input, filter, bias, quant, in_c, out_c, npix, in_off, out_off, cb, ce, output)) {
            oc = ce;
            continue;
        }
        for (oc = cb; oc + 2 <= ce; oc += 2) {
            const int8_t *w0 = filter + oc * in_c, *w1 = w0 + in_c;
            const int32_t b0 = (bias ? bias[oc] : 0) + in_off * weight_sum(w0, in_c);
            const int32_t b1 = (bias ? bias[oc + 1] : 0) + in_off * weight_sum(w1, in_c);
            /* |w| <= 128: sum |w| <= 128 * in_c bounds every accumulator (see tiny_acc_small). */
            const int32_t sm0 = in_c <= 32768 && tiny_acc_small(b0, 128 * in_c);
            const int32_t sm1 = in_c <= 32768 && tiny_acc_small(b1, 128 * in_c);
            if ((in_c == 8 || in_c == 32) && lo == -128 && hi == 127 && out_off >= -128 &&
                out_off <= 127 && pw_rq_ok(sm0, quant->multiplier[oc], quant->shift[oc]) &&
                pw_rq_ok(sm1, quant->multiplier[oc + 1], quant->shift[oc + 1])) {
                const int32_t e0 = -quant->shift[oc], e1 = -quant->shift[oc + 1];
                const pw_rq q = {quant->multiplier[oc], quant->multiplier[oc + 1],
                                 (1 << (e0 - 1)) + (int32_t)((uint32_t)out_off << e0),
                                 (1 << (e1 - 1)) + (int32_t)((uint32_t)out_off << e1), e0, e1};
                const int32_t j = in_c == 8 ? pw_fused_8(input, w0, w1, npix, b0, b1, &q, output + oc, out_c)
                                              : pw_fused_32(input, w0, w1, npix, b0, b1, &q, output + oc, out_c);
                if (j < npix) {   /* odd pixel count: the last pixel */
                    const int8_t *x = input + j * in_c;
                    int32_t a0 = b0, a1 = b1;
                    for (int32_t k = 0; k < in_c; ++k) {
                        a0 += w0[k] * x[k];
                        a1 += w1[k] * x[k];
                    }
                    output[j * out_c + oc] = pw_q(a0, q.m0, q.k0, q.e0);
                    output[j * out_c + oc + 1] = pw_q(a1, q.m1, q.k1, q.e1);
                }
                continue;
            }
            const int8_t *x = input;
            int8_t *out = output + oc;
            int32_t acc0[PW_STRIP], acc1[PW_STRIP];
            for (int32_t s0 = 0; s0 < npix; s0 += PW_STRIP) {
                const int32_t n = npix - s0 < PW_STRIP ? npix - s0 : PW_STRIP;
                int32_t j = 0;
                if (in_c == 8 || in_c == 16 || in_c == 32) {   /* small K: fully unrolled blocks */
                    j = in_c == 8 ? pw_pairs_8(x, w0, w1, n, b0, b1, acc0, acc1)
                        : in_c == 16 ? pw_pairs_16(x, w0, w1, n, b0, b1, acc0, acc1)
                                     : pw_pairs_32(x, w0, w1, n, b0, b1, acc0, acc1);
                    x += j * in_c;
                }
                for (; j + 2 <= n; j += 2) {
                    const int8_t *xa = x, *xb = x + in_c;
                    int32_t a0 = b0, a1 = b1, c0 = b0, c1 = b1;
                    int32_t k = kc4;
                    const int8_t *pa = xa, *pb = xb, *q0 = w0, *q1 = w1;
                    for (const int8_t *pe = xa + kc4; pa < pe; pa += 4, pb += 4, q0 += 4, q1 += 4) {
                        PW_MAC4(tiny_ld32(pa), tiny_ld32(pb), tiny_ld32(q0), tiny_ld32(q1));
                    }
                    for (; k < in_c; ++k) {
                        const int32_t xa_k = xa[k], xb_k = xb[k];
                        a0 += w0[k] * xa_k;
                        a1 += w1[k] * xa_k;
                        c0 += w0[k] * xb_k;
                        c1 += w1[k] * xb_k;
                    }
                    acc0[j] = a0;
                    acc1[j] = a1;
                    acc0[j + 1] = c0;
                    acc1[j + 1] = c1;
                    x += 2 * in_c;
                }
                if (j < n) {
                    int32_t a0 = b0, a1 = b1;
                    for (int32_t k = 0; k < in_c; ++k) {
                        a0 += w0[k] * x[k];
                        a1 += w1[k] * x[k];
                    }
                    acc0[j] = a0;
                    acc1[j] = a1;
                    x += in_c;
                }
                tiny_arm_requant_strip(acc0, n, quant->multiplier[oc], quant->shift[oc], out_off, lo, hi, out, out_c,
                                       sm0);
                tiny_arm_requant_strip(acc1, n, quant->multiplier[oc + 1], quant->shift[oc + 1], out_off, lo, hi,
                                       out + 1, out_c, sm1);
                out += n * out_c;
            }
        }
    }
    if (oc < out_c) {   /* odd channel count: the last channel alone */
        const int8_t *w0 = filter + oc * in_c;
        const int32_t b0 = (bias ? bias[oc] : 0) + in_off * weight_sum(w0, in_c);
        const tiny_rq r0 = tiny_rq_make(quant->multiplier[oc], quant->shift[oc]);
        const int8_t *x = input;
        int8_t *out = output + oc;
        for (int32_t p = 0; p < npix; ++p) {
            int32_t a0 = b0, k = 0;
            for (; k < kc4; k += 4) {
                const int32_t va = tiny_ld32(x + k), v0 = tiny_ld32(w0 + k);
                a0 = tiny_smlad(tiny_sxtb16(va), tiny_sxtb16(v0), a0);
                a0 = tiny_smlad(tiny_sxtb16_ror8(va), tiny_sxtb16_ror8(v0), a0);
            }
            for (; k < in_c; ++k) a0 += w0[k] * x[k];
            out[0] = tiny_arm_out(a0, r0, out_off, lo, hi);
            x += in_c;
            out += out_c;
        }
    }
    return TINY_OK;
}
#endif
