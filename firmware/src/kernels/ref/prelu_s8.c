/* PRELU int8 with a broadcast alpha: the portable specification of tiny_prelu_s8, TFLM's
 * BroadcastPrelu4DSlow. */
#include "tiny/kernels.h"
#include "tiny/fixedpoint.h"
#include "tiny/broadcast.h"

static int8_t prelu_one(const tiny_prelu_params *p, int32_t v, int32_t a) {
    const int32_t x = p->input_offset + v;
    const int32_t r = x >= 0 ? tiny_requantize(x, p->multiplier_1, p->shift_1)
                             : tiny_requantize(x * (p->alpha_offset + a), p->multiplier_2, p->shift_2);
    return (int8_t)tiny_clamp(r + p->output_offset, -128, 127);
}

tiny_status tiny_prelu_s8(const tiny_prelu_params *params, const tiny_dims *in_dims, const int8_t *in,
                          const tiny_dims *alpha_dims, const int8_t *alpha, const tiny_dims *out_dims,
                          int8_t *out) {
    if (!params || !in_dims || !in || !alpha_dims || !alpha || !out_dims || !out) return TINY_ERR_ARG;
    tiny_strides sa, sb;
    if (!tiny_broadcast_strides(in_dims, out_dims, &sa) || !tiny_broadcast_strides(alpha_dims, out_dims, &sb))
        return TINY_ERR_ARG;
    const tiny_dims *o = out_dims;
    for (int32_t n = 0; n < o->n; ++n)
        for (int32_t y = 0; y < o->h; ++y)
            for (int32_t x = 0; x < o->w; ++x) {
                const int8_t *pa = in + n * sa.n + y * sa.h + x * sa.w;
                const int8_t *pb = alpha + n * sb.n + y * sb.h + x * sb.w;
                for (int32_t c = 0; c < o->c; ++c) *out++ = prelu_one(params, pa[c * sa.c], pb[c * sb.c]);
            }
    return TINY_OK;
}
