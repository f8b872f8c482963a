/* ADD int8, inputs and output of the same shape (no broadcast): same arguments and results as
 * tiny_add_s8; broadcasting calls are handed to it. All parameters are hoisted into registers,
 * the three TFLite rescalings use the single-SMLAL form of SaturatingRoundingDoublingHighMul
 * (tiny_arm_requant, exact for TFLite's non-negative multipliers), four elements per iteration. */
#include "arm_common.h"
#include "tiny/kernels_arm.h"

#ifdef TINY_ARM_DSP
static int same(const tiny_dims *a, const tiny_dims *b) {
    return a->n == b->n && a->h == b->h && a->w == b->w && a->c == b->c;
}

tiny_status tiny_add_s8_dsp(const tiny_add_params *params, const tiny_dims *in1_dims, const int8_t *in1,
                            const tiny_dims *in2_dims, const int8_t *in2, const tiny_dims *out_dims,
                            int8_t *out) {
    if (!params || !in1_dims || !in1 || !in2_dims || !in2 || !out_dims || !out || !same(in1_dims, out_dims) ||
        !same(in2_dims, out_dims) || params->left_shift < 0 || params->left_shift > 30) {
        return tiny_add_s8(params, in1_dims, in1, in2_dims, in2, out_dims, out);
    }
    const int32_t n = out_dims->n * out_dims->h * out_dims->w * out_dims->c;
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
