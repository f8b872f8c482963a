/* Requantization of a strip of int32 accumulators (second pass of the two-pass DSP kernels).
 *
 * Fast form, used when the right shift e is in [1, 22] and there is no left shift (every channel
 * of a model whose effective scale is below 0.5):
 *   hi = (acc * m + 2^30) >> 31                      (SMLAL: exact srdhm for m >= 0)
 *   r  = QADD(hi, 2^(e-1)) + (hi >> 31)  >> e         (round half away from zero)
 * The saturating add only differs from the exact sum when hi > 2^31 - 2^(e-1); then both results
 * are >= 2^(31-e) - 1 >= 511, so after adding an output offset >= -128 both clamp to the same
 * activation maximum (<= 127): the output bytes are identical. Otherwise tiny_arm_requant.
 * Cheaper form when the caller proves |acc| < 2^30 (`small`, from |bias| + 128 * sum |w|): see below. */
#include "arm_common.h"

#ifdef TINY_ARM_DSP

static inline __attribute__((always_inline)) void rq_full(const int32_t *acc, int32_t n, int32_t m, int32_t K,
                                                          int8_t *dst, int32_t stride, const int32_t e,
                                                          const int32_t dbl) {
    const int32_t sc = dbl ? 1 : 2;
    int32_t i = 0;
    for (; i + 2 <= n; i += 2) {
        const int32_t h0 = tiny_smmulr(acc[i] * sc, m), h1 = tiny_smmulr(acc[i + 1] * sc, m);
        dst[0] = (int8_t)__builtin_arm_ssat((h0 + (h0 >> 31) + K) >> e, 8);
        dst[stride] = (int8_t)__builtin_arm_ssat((h1 + (h1 >> 31) + K) >> e, 8);
        dst += 2 * stride;
    }
    if (i < n) {
        const int32_t h = tiny_smmulr(acc[i] * sc, m);
        *dst = (int8_t)__builtin_arm_ssat((h + (h >> 31) + K) >> e, 8);
    }
}

void tiny_arm_requant_strip(const int32_t *acc, int32_t n, int32_t multiplier, int32_t shift, int32_t out_off,
                            int32_t lo, int32_t hi, int8_t *dst, int32_t stride, int32_t small) {
    if (small && shift <= -1 && shift >= -22 && multiplier >= 0 && out_off >= -128 && out_off <= 127) {
        /* |acc| < 2^30 (the caller's bound): 2 * acc fits, and SMMULR(2 acc, m) = floor((2 acc m + 2^31)
         * / 2^32) = floor((acc m + 2^30) / 2^31) = srdhm exactly. |h| <= 2^30, so
         * h + (h >> 31) + 2^(e-1) + (out_off << e) cannot overflow; the out_off term is a multiple of
         * 2^e, so the shift result is rounding_divide_by_pot(h, e) + out_off. */
        const int32_t e = -shift;
        const int32_t K = (1 << (e - 1)) + (int32_t)((uint32_t)out_off << e);
        const int32_t sc = small == TINY_RQ_DOUBLED ? 1 : 2;
        int32_t i = 0;
        if (lo == -128 && hi == 127) {
            switch (e) {   /* constant shift: folded into SSAT's ASR operand */
#define RQ_CASE(E) \
    case E:                                                                                        \
        if (small == TINY_RQ_DOUBLED) rq_full(acc, n, multiplier, K, dst, stride, E, 1);           \
        else rq_full(acc, n, multiplier, K, dst, stride, E, 0);                                    \
        return;
                RQ_CASE(4) RQ_CASE(5) RQ_CASE(6) RQ_CASE(7) RQ_CASE(8) RQ_CASE(9) RQ_CASE(10) RQ_CASE(11)
                RQ_CASE(12) RQ_CASE(13) RQ_CASE(14) RQ_CASE(15) RQ_CASE(16) RQ_CASE(17) RQ_CASE(18)
#undef RQ_CASE
                default: break;
            }
            for (; i + 2 <= n; i += 2) {
                const int32_t h0 = tiny_smmulr(acc[i] * sc, multiplier), h1 = tiny_smmulr(acc[i + 1] * sc, multiplier);
                dst[0] = (int8_t)__builtin_arm_ssat((h0 + (h0 >> 31) + K) >> e, 8);
                dst[stride] = (int8_t)__builtin_arm_ssat((h1 + (h1 >> 31) + K) >> e, 8);
                dst += 2 * stride;
            }
        }
        for (; i < n; ++i) {
            const int32_t h = tiny_smmulr(acc[i] * sc, multiplier);
            int32_t v = (h + (h >> 31) + K) >> e;
            v = v < lo ? lo : v;
            v = v > hi ? hi : v;
            *dst = (int8_t)v;
            dst += stride;
        }
        return;
    }
    const int32_t dsh = small == TINY_RQ_DOUBLED;   /* 2 * acc is even: >> 1 is exact */
    if (shift <= -1 && shift >= -22 && out_off >= -128 && hi <= 127) {
        const int32_t e = -shift, half = 1 << (e - 1);
        if (lo == -128 && hi == 127) {   /* full int8 range: one SSAT */
            for (int32_t i = 0; i < n; ++i) {
                const int32_t h = (int32_t)(((int64_t)(acc[i] >> dsh) * multiplier + (1 << 30)) >> 31);
                *dst = (int8_t)__builtin_arm_ssat(((__builtin_arm_qadd(h, half) + (h >> 31)) >> e) + out_off, 8);
                dst += stride;
            }
            return;
        }
        for (int32_t i = 0; i < n; ++i) {
            const int32_t h = (int32_t)(((int64_t)(acc[i] >> dsh) * multiplier + (1 << 30)) >> 31);
            int32_t v = ((__builtin_arm_qadd(h, half) + (h >> 31)) >> e) + out_off;
            v = v < lo ? lo : v;
            v = v > hi ? hi : v;
            *dst = (int8_t)v;
            dst += stride;
        }
        return;
    }
    const tiny_rq r = tiny_rq_make(multiplier, shift);
    for (int32_t i = 0; i < n; ++i) {
        *dst = tiny_arm_out(acc[i] >> dsh, r, out_off, lo, hi);
        dst += stride;
    }
}
#endif
