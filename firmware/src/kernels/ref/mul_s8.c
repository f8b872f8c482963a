/* MUL int8 with broadcasting and fused activation: the portable specification of tiny_mul_s8.
 * Per element, as TFLM's MulElementwise: requantize((in1 - zp1) * (in2 - zp2)) + zp_out, clamped.
 * The multiplier may shift left; x << shift wraps like TFLM's int32 arithmetic on the target.
 * Broadcast: each dim of in1/in2 is either the output dim or 1. */
#include "tiny/kernels.h"
#include "tiny/fixedpoint.h"
#include "tiny/broadcast.h"

tiny_status tiny_mul_s8(const tiny_mul_params *params, const tiny_dims *in1_dims, const int8_t *in1,
                        const tiny_dims *in2_dims, const int8_t *in2, const tiny_dims *out_dims,
                        int8_t *out) {
    if (!params || !in1_dims || !in1 || !in2_dims || !in2 || !out_dims || !out) return TINY_ERR_ARG;
    tiny_strides sa, sb;
    if (!tiny_broadcast_strides(in1_dims, out_dims, &sa) || !tiny_broadcast_strides(in2_dims, out_dims, &sb)) {
        return TINY_ERR_ARG;
    }
    const tiny_mul_params *p = params;
    const tiny_dims *o = out_dims;
    for (int32_t n = 0; n < o->n; ++n) {
        for (int32_t y = 0; y < o->h; ++y) {
            for (int32_t x = 0; x < o->w; ++x) {
                const int8_t *pa = in1 + n * sa.n + y * sa.h + x * sa.w;
                const int8_t *pb = in2 + n * sb.n + y * sb.h + x * sb.w;
                for (int32_t c = 0; c < o->c; ++c) {
                    const int32_t prod = (pa[c * sa.c] + p->in1_offset) * (pb[c * sb.c] + p->in2_offset);
                    const int32_t r = tiny_requantize(prod, p->out_multiplier, p->out_shift) + p->out_offset;
                    *out++ = (int8_t)tiny_clamp(r, p->act_min, p->act_max);
                }
            }
        }
    }
    return TINY_OK;
}
