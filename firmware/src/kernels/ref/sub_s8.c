/* SUB int8 with broadcasting and fused activation: the portable specification of tiny_sub_s8.
 * As TFLM's SubElementwise: both zero-point-corrected inputs shifted left by 20, scaled down to a
 * common scale, subtracted, scaled to the output, clamped. */
#include "tiny/kernels.h"
#include "tiny/fixedpoint.h"
#include "tiny/broadcast.h"

static int8_t sub_one(const tiny_add_params *p, int32_t a, int32_t b) {
    const int32_t x1 = (a + p->in1_offset) * (1 << p->left_shift);
    const int32_t x2 = (b + p->in2_offset) * (1 << p->left_shift);
    const int32_t s1 = tiny_requantize(x1, p->in1_multiplier, p->in1_shift);
    const int32_t s2 = tiny_requantize(x2, p->in2_multiplier, p->in2_shift);
    const int32_t r = tiny_requantize(s1 - s2, p->out_multiplier, p->out_shift) + p->out_offset;
    return (int8_t)tiny_clamp(r, p->act_min, p->act_max);
}

tiny_status tiny_sub_s8(const tiny_add_params *params, const tiny_dims *in1_dims, const int8_t *in1,
                        const tiny_dims *in2_dims, const int8_t *in2, const tiny_dims *out_dims,
                        int8_t *out) {
    if (!params || !in1_dims || !in1 || !in2_dims || !in2 || !out_dims || !out) return TINY_ERR_ARG;
    tiny_strides sa, sb;
    if (!tiny_broadcast_strides(in1_dims, out_dims, &sa) || !tiny_broadcast_strides(in2_dims, out_dims, &sb))
        return TINY_ERR_ARG;
    const tiny_dims *o = out_dims;
    for (int32_t n = 0; n < o->n; ++n)
        for (int32_t y = 0; y < o->h; ++y)
            for (int32_t x = 0; x < o->w; ++x) {
                const int8_t *pa = in1 + n * sa.n + y * sa.h + x * sa.w;
                const int8_t *pb = in2 + n * sb.n + y * sb.h + x * sb.w;
                for (int32_t c = 0; c < o->c; ++c) *out++ = sub_one(params, pa[c * sa.c], pb[c * sb.c]);
            }
    return TINY_OK;
}
