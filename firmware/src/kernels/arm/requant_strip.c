/* Requantization of a strip of int32 accumulators (second pass of the two-pass DSP kernels).
 *
 * Fast form, used when the right shift e is in [1, 22] and there is no left shift (every channel
 * of a model whose effective scale is below 0.5):
 *   hi = (acc * m + 2^30) >> 31                      (SMLAL: exact srdhm for m >= 0)
 *   r  = QADD(hi, 2^(e-1)) + (hi >> 31)  >> e         (round half away from zero)
 * The saturating add only differs from the exact sum when hi > 2^31 - 2^(e-1); then both results
 * are >= 2^(31-e) - 1 >= 511, so after adding an output offset >= -128 both clamp to the same
 * activation maximum (<= 127): the output bytes are identical. Otherwise tiny_arm_requant. */
#include "arm_common.h"

#ifdef TINY_ARM_DSP
void tiny_arm_requant_strip(const int32_t *acc, int32_t n, int32_t multiplier, int32_t shift, int32_t out_off,
                            int32_t lo, int32_t hi, int8_t *dst, int32_t stride) {
    if (shift <= -1 && shift >= -22 && out_off >= -128 && hi <= 127) {
        const int32_t e = -shift, half = 1 << (e - 1);
        if (lo == -128 && hi == 127) {   /* full int8 range: one SSAT */
            for (int32_t i = 0; i < n; ++i) {
                const int32_t h = (int32_t)(((int64_t)acc[i] * multiplier + (1 << 30)) >> 31);
                *dst = (int8_t)__builtin_arm_ssat(((__builtin_arm_qadd(h, half) + (h >> 31)) >> e) + out_off, 8);
                dst += stride;
            }
            return;
        }
        for (int32_t i = 0; i < n; ++i) {
            const int32_t h = (int32_t)(((int64_t)acc[i] * multiplier + (1 << 30)) >> 31);
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
        *dst = tiny_arm_out(acc[i], r, out_off, lo, hi);
        dst += stride;
    }
}
#endif
