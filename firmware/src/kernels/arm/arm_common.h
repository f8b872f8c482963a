/* Private helpers of the Cortex-M DSP kernels (firmware/src/kernels/arm/).
 *
 * Only compiled into code when the target has the DSP extension (Armv7E-M, Armv8-M Mainline with
 * DSP): every kernel file is wrapped in TINY_ARM_DSP. SIMD through GCC's ACLE builtins
 * (__builtin_arm_smlad, __builtin_arm_sxtb16) - no vendor headers. The kernels in plain C
 * (lut_s8.c) are also compiled when TINY_ARM_PLAIN_C is defined, on any target (host unit tests).
 *
 * Exactness: tiny_arm_requant() is bit-identical to tiny_requantize() (fixedpoint.h) for any
 * multiplier >= 0 (all TFLite multipliers are in [2^30, 2^31) or 0):
 *   srdhm(a, b) = (a*b + nudge) / 2^31 with nudge = ab >= 0 ? 2^30 : 1 - 2^30, truncated,
 *   rounds ties towards +inf for both signs, which is exactly floor((a*b + 2^30) / 2^31), i.e.
 *   one SMLAL with a 2^30 accumulator and a 64-bit arithmetic shift by 31. The only input where
 *   they differ is a = b = INT32_MIN (saturation), impossible with b >= 0.
 *   rounding_divide_by_pot is kept as TFLite writes it (round half away from zero). */
#ifndef TINY_ARM_COMMON_H
#define TINY_ARM_COMMON_H
#include <stdint.h>
#include <string.h>
#include "tiny/kernels.h"
#include "tiny/fixedpoint.h"

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP == 1
#define TINY_ARM_DSP 1
#endif

#ifdef TINY_ARM_DSP
#define TINY_INLINE static inline __attribute__((always_inline))

/* Unaligned 32-bit load (LDR on Armv7-M allows unaligned addresses). */
TINY_INLINE int32_t tiny_ld32(const int8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}
/* Bytes 0 and 2, sign-extended to two halfwords. */
TINY_INLINE int32_t tiny_sxtb16(int32_t v) { return (int32_t)__builtin_arm_sxtb16((uint32_t)v); }
/* Bytes 1 and 3, sign-extended to two halfwords (SXTB16 with ROR #8). */
TINY_INLINE int32_t tiny_sxtb16_ror8(int32_t v) {
    int32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(v));
    return r;
}
/* acc + the sign-extended bytes 0 and 2 of v as two int16 lanes (SXTAB16); _ror8: bytes 1 and 3. */
TINY_INLINE int32_t tiny_sxtab16(int32_t acc, int32_t v) {
    return (int32_t)__builtin_arm_sxtab16((uint32_t)acc, (uint32_t)v);
}
TINY_INLINE int32_t tiny_sxtab16_ror8(int32_t acc, int32_t v) {
    int32_t r;
    __asm__("sxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(acc), "r"(v));
    return r;
}
TINY_INLINE int32_t tiny_smlad(int32_t a, int32_t b, int32_t acc) {
    return __builtin_arm_smlad(a, b, acc);
}
TINY_INLINE int32_t tiny_sadd16(int32_t a, int32_t b) { return (int32_t)__builtin_arm_sadd16(a, b); }
/* Two int16 (low halves of a and b) packed: a | b << 16 (PKHBT). */
TINY_INLINE int32_t tiny_pack16(int32_t a, int32_t b) {
    return (int32_t)(((uint32_t)a & 0xFFFFu) | ((uint32_t)b << 16));
}

/* Requantization constants of one channel, hoisted out of the pixel loops. */
typedef struct {
    int32_t mult;
    int32_t left;      /* left shift (>= 0) */
    int32_t right;     /* right shift (>= 0) */
    int32_t mask;      /* (1 << right) - 1 */
    int32_t half;      /* mask >> 1 */
} tiny_rq;

TINY_INLINE tiny_rq tiny_rq_make(int32_t multiplier, int32_t shift) {
    tiny_rq r;
    r.mult = multiplier;
    r.left = shift > 0 ? shift : 0;
    r.right = shift > 0 ? 0 : -shift;
    r.mask = (int32_t)(((int64_t)1 << r.right) - 1);
    r.half = r.mask >> 1;
    return r;
}

/* == tiny_requantize(x, multiplier, shift) for multiplier >= 0 (see the file comment). */
TINY_INLINE int32_t tiny_arm_requant(int32_t x, tiny_rq r) {
    const int32_t xs = (int32_t)((uint32_t)x << r.left);
    const int32_t hi = (int32_t)(((int64_t)xs * r.mult + (1 << 30)) >> 31);
    const int32_t thr = r.half - (hi >> 31);           /* + 1 when negative */
    return (hi >> r.right) + ((hi & r.mask) > thr ? 1 : 0);
}

TINY_INLINE int8_t tiny_arm_out(int32_t acc, tiny_rq r, int32_t out_off, int32_t lo, int32_t hi) {
    int32_t v = tiny_arm_requant(acc, r) + out_off;
    v = v < lo ? lo : v;
    v = v > hi ? hi : v;
    return (int8_t)v;
}
/* PKHBT: low halfword of a, low halfword of b in the top half (one instruction). */
TINY_INLINE int32_t tiny_pkhbt(int32_t a, int32_t b) {
    int32_t r;
    __asm__("pkhbt %0, %1, %2, lsl #16" : "=r"(r) : "r"(a), "r"(b));
    return r;
}

/* dst[i * stride] = clamp(requantize(acc[i]) + out_off, lo, hi) for i < n: the second pass of the
 * two-pass kernels (accumulate a strip of outputs, then requantize it), so that neither loop
 * runs out of registers. Bit-exact with tiny_requantize (see requant_strip.c). */
void tiny_arm_requant_strip(const int32_t *acc, int32_t n, int32_t multiplier, int32_t shift, int32_t out_off,
                            int32_t lo, int32_t hi, int8_t *dst, int32_t stride, int32_t small);
/* `small` for tiny_arm_requant_strip: 0 = no bound known, 1 = |acc| < 2^30, TINY_RQ_DOUBLED = the
 * strip holds 2 * acc with |acc| < 2^30 (the kernel accumulated with doubled weights). */
#define TINY_RQ_DOUBLED 2
TINY_INLINE int32_t tiny_smmulr(int32_t a, int32_t b) {
    int32_t r;
    __asm__("smmulr %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
    return r;
}
/* 1 when |b| + 128 * sum_abs < 2^30: then every accumulator b + sum w * x with int8-range x (|x| <= 128)
 * fits the `small` requantization form. */
TINY_INLINE int32_t tiny_acc_small(int32_t b, int32_t sum_abs) {
    const int64_t ab = b < 0 ? -(int64_t)b : (int64_t)b;
    return ab + 128 * (int64_t)sum_abs < ((int64_t)1 << 30);
}
#define TINY_STRIP 64

/* n bytes from src to dst (not overlapping), 16 then 4 bytes per step through unaligned LDR/STR
 * (Armv7E-M allows them): for the short per-pixel runs of concatenation and resizing, where a
 * memcpy call costs more than the copy. Callers are compiled without loop-to-memcpy rewriting. */
TINY_INLINE void tiny_copy_bytes(int8_t *dst, const int8_t *src, int32_t n) {
    for (; n >= 16; n -= 16, src += 16, dst += 16) {
        const int32_t a = tiny_ld32(src), b = tiny_ld32(src + 4), c = tiny_ld32(src + 8), d = tiny_ld32(src + 12);
        memcpy(dst, &a, 4);
        memcpy(dst + 4, &b, 4);
        memcpy(dst + 8, &c, 4);
        memcpy(dst + 12, &d, 4);
    }
    for (; n >= 4; n -= 4, src += 4, dst += 4) {
        const int32_t a = tiny_ld32(src);
        memcpy(dst, &a, 4);
    }
    if (n & 2) {
        dst[0] = src[0];
        dst[1] = src[1];
        src += 2;
        dst += 2;
    }
    if (n & 1) dst[0] = src[0];
}
#define TINY_NO_MEMCPY_LOOPS __attribute__((optimize("no-tree-loop-distribute-patterns")))

/* Pointwise GEMM machinery of conv2d_s8_1x1.c (pixel pairs widened to doubled int16, output channel
 * pairs with pre-widened weights, requantization of the cheap exact form fused), also run by
 * conv2d_s8_rgb.c on im2col'ed pixels. Per channel: {2 * bias', multiplier, rounding + offset, shift}. */
typedef struct {
    int32_t b, m, k, e;
} pwx_ch;
#define PWY_MAX_IN 64    /* longest (padded) dot product of the pre-widened path */
#define PWY_WORDS 640    /* 2560 bytes of stack for a chunk's block */
void tiny_arm_pw_widen(const int8_t *xa, const int8_t *xb, int32_t in_c, int32_t *xs);
int tiny_arm_pwy_build(const int8_t *filter, int32_t K, int32_t kp, const int32_t *bias, const tiny_per_channel_quant *quant,
                       int32_t in_off, int32_t out_off, int32_t ob, int32_t oe, int32_t *blk, int32_t *oddw,
                       pwx_ch *odd);
void tiny_arm_pwy_pairs(const int32_t *xs, const int32_t *blk, int8_t *oa, int8_t *ob, int32_t npair, int32_t in_c);
void tiny_arm_pwy_odd(const int32_t *xs, const int32_t *oddw, int32_t kp, const pwx_ch *q, int8_t *oa, int8_t *ob);
#endif /* TINY_ARM_DSP */
#endif
