/* CONV_2D 1x1 (pointwise), stride 1, no padding, input and output of the same extent: a GEMM
 * out[p][oc] = sum_k w[oc][k] * (x[p][k] + input_offset). Same arguments and results as
 * tiny_conv2d_s8; any other geometry (or a grouped conv) is handed to tiny_conv2d_s8.
 *
 * Blocking: 2 output channels x 2 pixels, 4 input channels per step (one LDR per operand,
 * SXTB16 / SXTB16 ROR 8 to split even and odd bytes, 8 SMLAD = 16 MACs in ~20 instructions).
 * The input offset is folded into the bias per channel (sum_k w * x + offset * sum_k w), so no
 * per-element offset add and no scratch: output channels are the outer loop, their bias,
 * weight sum and requantization constants are computed once per call. */
#include "arm_common.h"
#include "tiny/kernels_arm.h"

#ifdef TINY_ARM_DSP
static int32_t weight_sum(const int8_t *w, int32_t n) {
    int32_t s = 0, k = 0;
    for (; k + 4 <= n; k += 4) {
        const int32_t v = tiny_ld32(w + k);
        s = tiny_smlad(tiny_sxtb16(v), 0x00010001, s);
        s = tiny_smlad(tiny_sxtb16_ror8(v), 0x00010001, s);
    }
    for (; k < n; ++k) s += w[k];
    return s;
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
    for (; oc + 2 <= out_c; oc += 2) {
        const int8_t *w0 = filter + oc * in_c, *w1 = w0 + in_c;
        const int32_t b0 = (bias ? bias[oc] : 0) + in_off * weight_sum(w0, in_c);
        const int32_t b1 = (bias ? bias[oc + 1] : 0) + in_off * weight_sum(w1, in_c);
        const int8_t *x = input;
        int8_t *out = output + oc;
        int32_t acc0[TINY_STRIP], acc1[TINY_STRIP];
        for (int32_t s0 = 0; s0 < npix; s0 += TINY_STRIP) {
            const int32_t n = npix - s0 < TINY_STRIP ? npix - s0 : TINY_STRIP;
            int32_t j = 0;
            for (; j + 2 <= n; j += 2) {
                const int8_t *xa = x, *xb = x + in_c;
                int32_t a0 = b0, a1 = b1, c0 = b0, c1 = b1;
                int32_t k = 0;
                for (; k < kc4; k += 4) {
                    const int32_t va = tiny_ld32(xa + k), vb = tiny_ld32(xb + k);
                    const int32_t v0 = tiny_ld32(w0 + k), v1 = tiny_ld32(w1 + k);
                    const int32_t ae = tiny_sxtb16(va), ao = tiny_sxtb16_ror8(va);
                    const int32_t be = tiny_sxtb16(vb), bo = tiny_sxtb16_ror8(vb);
                    const int32_t we = tiny_sxtb16(v0), wo = tiny_sxtb16_ror8(v0);
                    a0 = tiny_smlad(ae, we, a0);
                    a0 = tiny_smlad(ao, wo, a0);
                    c0 = tiny_smlad(be, we, c0);
                    c0 = tiny_smlad(bo, wo, c0);
                    const int32_t ue = tiny_sxtb16(v1), uo = tiny_sxtb16_ror8(v1);
                    a1 = tiny_smlad(ae, ue, a1);
                    a1 = tiny_smlad(ao, uo, a1);
                    c1 = tiny_smlad(be, ue, c1);
                    c1 = tiny_smlad(bo, uo, c1);
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
            tiny_arm_requant_strip(acc0, n, quant->multiplier[oc], quant->shift[oc], out_off, lo, hi, out, out_c);
            tiny_arm_requant_strip(acc1, n, quant->multiplier[oc + 1], quant->shift[oc + 1], out_off, lo, hi,
                                   out + 1, out_c);
            out += n * out_c;
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
