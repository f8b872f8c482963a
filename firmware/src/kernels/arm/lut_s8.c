/* Element-wise int8 -> int8 through a 256-entry table: the optimized HARD_SWISH and LOGISTIC.
 *
 * The code generator evaluates the op's reference for all 256 inputs at compile time
 * (tiny/reference/<op>.py table(), bit-exact with TFLM) and stores it rotated so that the input's
 * raw byte is the index: table[(uint8_t)x] = op(x). Exact by construction, and under 4
 * instructions per element on Cortex-M4 where the portable kernels' int16 fixed-point pipeline
 * takes ~90.
 *
 * Plain C, no DSP instruction: it is only selected for DSP boards like the other arm kernels and
 * compiled under the same guard; TINY_ARM_PLAIN_C also builds it elsewhere (host unit tests). */
#include <string.h>
#include "arm_common.h"
#include "tiny/kernels_arm.h"

#if defined(TINY_ARM_DSP) || defined(TINY_ARM_PLAIN_C)
/* Four results for the four bytes of w, at the same byte positions (so independent of endianness). */
static inline uint32_t lut4(const uint8_t *t, uint32_t w) {
    return (uint32_t)t[w & 0xFF] | (uint32_t)t[(w >> 8) & 0xFF] << 8 | (uint32_t)t[(w >> 16) & 0xFF] << 16 |
           (uint32_t)t[w >> 24] << 24;
}

tiny_status tiny_lut_s8(const int8_t *table, int32_t size, const int8_t *input, int8_t *output) {
    if (!table || !input || !output || size < 0) return TINY_ERR_ARG;
    const uint8_t *t = (const uint8_t *)table, *in = (const uint8_t *)input;
    const uint8_t *const end4 = in + (size & ~3), *const end = in + size;
    uint8_t *out = (uint8_t *)output;
    /* Four elements per (unaligned) word load and store: 15 instructions per 4 on Cortex-M4, where
     * byte stores merged by GCC took 18. The word is read before it is written: in place works. */
    while (in != end4) {
        uint32_t w;
        memcpy(&w, in, 4);
        w = lut4(t, w);
        memcpy(out, &w, 4);
        in += 4;
        out += 4;
    }
    while (in != end) *out++ = t[*in++];
    return TINY_OK;
}
#endif
