/* FULLY_CONNECTED int8 with symmetric weights (filter_offset 0, as every int8 TFLite model has):
 * same arguments and results as tiny_fully_connected_s8; asymmetric weights are handed to it.
 *
 * Two output channels at a time, 4 inputs per step: the input word is split once (SXTB16 /
 * SXTB16 ROR 8), the input offset added to both halves with SADD16, and the result shared by both
 * channels' SMLADs (8 MACs in ~11 instructions). No scratch.
 */
#include "arm_common.h"
#include "tiny/kernels_arm.h"

#ifdef TINY_ARM_DSP
tiny_status tiny_fully_connected_s8_dsp(const tiny_ctx *ctx, const tiny_fc_params *params,
                                        const tiny_per_channel_quant *quant, const tiny_dims *input_dims,
                                        const int8_t *input, const tiny_dims *filter_dims,
                                        const int8_t *filter, const tiny_dims *bias_dims,
                                        const int32_t *bias, const tiny_dims *output_dims, int8_t *output) {
    if (!params || !quant || !input_dims || !input || !filter_dims || !filter || !output_dims || !output ||
        params->filter_offset != 0 || filter_dims->n != output_dims->c || filter_dims->c <= 0 ||
        params->input_offset < -32768 || params->input_offset > 32767) {
        return tiny_fully_connected_s8(ctx, params, quant, input_dims, input, filter_dims, filter, bias_dims,
                                       bias, output_dims, output);
    }
    const int32_t depth = filter_dims->c, d4 = depth & ~3;
    const int32_t out_c = output_dims->c;
    const int32_t batches = output_dims->n * output_dims->h * output_dims->w;
    const int32_t in_off = params->input_offset, out_off = params->output_offset;
    const int32_t off2 = tiny_pack16(in_off, in_off);
    const int32_t lo = params->activation.min, hi = params->activation.max;
    for (int32_t b = 0; b < batches; ++b) {
        const int8_t *x = input + b * depth;
        int8_t *out = output + b * out_c;
        int32_t oc = 0;
        for (; oc + 2 <= out_c; oc += 2) {
            const int8_t *w0 = filter + oc * depth, *w1 = w0 + depth;
            int32_t a0 = bias ? bias[oc] : 0, a1 = bias ? bias[oc + 1] : 0;
            int32_t d = 0;
            for (; d < d4; d += 4) {
                const int32_t v = tiny_ld32(x + d);
                const int32_t xe = tiny_sadd16(tiny_sxtb16(v), off2), xo = tiny_sadd16(tiny_sxtb16_ror8(v), off2);
                const int32_t u0 = tiny_ld32(w0 + d), u1 = tiny_ld32(w1 + d);
                a0 = tiny_smlad(xe, tiny_sxtb16(u0), a0);
                a0 = tiny_smlad(xo, tiny_sxtb16_ror8(u0), a0);
                a1 = tiny_smlad(xe, tiny_sxtb16(u1), a1);
                a1 = tiny_smlad(xo, tiny_sxtb16_ror8(u1), a1);
            }
            for (; d < depth; ++d) {
                const int32_t xv = x[d] + in_off;
                a0 += w0[d] * xv;
                a1 += w1[d] * xv;
            }
            out[oc] = tiny_arm_out(a0, tiny_rq_make(quant->multiplier[oc], quant->shift[oc]), out_off, lo, hi);
            out[oc + 1] = tiny_arm_out(a1, tiny_rq_make(quant->multiplier[oc + 1], quant->shift[oc + 1]), out_off,
                                       lo, hi);
        }
        for (; oc < out_c; ++oc) {
            const int8_t *w0 = filter + oc * depth;
            int32_t a0 = bias ? bias[oc] : 0;
            for (int32_t d = 0; d < depth; ++d) a0 += w0[d] * (x[d] + in_off);
            out[oc] = tiny_arm_out(a0, tiny_rq_make(quant->multiplier[oc], quant->shift[oc]), out_off, lo, hi);
        }
    }
    return TINY_OK;
}
#endif
