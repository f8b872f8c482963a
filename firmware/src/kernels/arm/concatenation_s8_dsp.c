/* CONCATENATION with inline word copies: same arguments and results as tiny_concatenation_s8. Along
 * the channel axis every pixel is one short run (16-64 bytes in the U-Net), where the portable
 * kernel's memcpy call per run costs ~30 instructions beside the copy itself. */
#include "arm_common.h"
#include "tiny/kernels_arm.h"

#ifdef TINY_ARM_DSP
TINY_NO_MEMCPY_LOOPS tiny_status tiny_concatenation_s8_dsp(const tiny_concat_params *params, const int8_t *input,
                                                           int8_t *output) {
    if (!params || !input || !output || params->outer < 0 || params->input_size < 0 || params->offset < 0 ||
        params->offset + params->input_size > params->output_size || params->input_size > 256) {
        return tiny_concatenation_s8(params, input, output);   /* long runs: memcpy is as good */
    }
    const int32_t n = params->input_size, step = params->output_size;
    int8_t *dst = output + params->offset;
    const int32_t outer = params->outer;
    switch (n) {   /* the usual channel counts: the copy fully unrolled (a constant length) */
#define CC_CASE(N) \
    case N:                                                                                        \
        for (int32_t i = 0; i < outer; ++i, input += N, dst += step) tiny_copy_bytes(dst, input, N); \
        return TINY_OK;
        CC_CASE(4) CC_CASE(8) CC_CASE(12) CC_CASE(16) CC_CASE(24) CC_CASE(32) CC_CASE(48) CC_CASE(64)
#undef CC_CASE
        default: break;
    }
    for (int32_t i = 0; i < outer; ++i, input += n, dst += step) tiny_copy_bytes(dst, input, n);
    return TINY_OK;
}
#endif
