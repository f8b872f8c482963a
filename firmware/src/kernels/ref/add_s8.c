/* ADD int8 with broadcasting and fused activation: the portable specification of tiny_add_s8.
 * Per element, as TFLM's AddFunc: both zero-point-corrected inputs are shifted left by
 * params->left_shift (20), scaled down to a common scale, summed, scaled to the output and clamped.
 * Broadcast: each dim of in1/in2 is either the output dim or 1. */
#include "tiny/kernels.h"
#include "tiny/fixedpoint.h"

static int8_t add_one(const tiny_add_params *p, int32_t a, int32_t b) {
    const int32_t x1 = (a + p->in1_offset) * (1 << p->left_shift);
    const int32_t x2 = (b + p->in2_offset) * (1 << p->left_shift);
    const int32_t s1 = tiny_requantize(x1, p->in1_multiplier, p->in1_shift);
    const int32_t s2 = tiny_requantize(x2, p->in2_multiplier, p->in2_shift);
    const int32_t r = tiny_requantize(s1 + s2, p->out_multiplier, p->out_shift) + p->out_offset;
    return (int8_t)tiny_clamp(r, p->act_min, p->act_max);
}

static int dims_broadcast(const tiny_dims *a, const tiny_dims *o) {
    return (a->n == 1 || a->n == o->n) && (a->h == 1 || a->h == o->h) && (a->w == 1 || a->w == o->w) &&
           (a->c == 1 || a->c == o->c);
}

tiny_status tiny_add_s8(const tiny_add_params *params, const tiny_dims *in1_dims, const int8_t *in1,
                        const tiny_dims *in2_dims, const int8_t *in2, const tiny_dims *out_dims,
                        int8_t *out) {
    if (!params || !in1_dims || !in1 || !in2_dims || !in2 || !out_dims || !out) return TINY_ERR_ARG;
    if (!dims_broadcast(in1_dims, out_dims) || !dims_broadcast(in2_dims, out_dims)) return TINY_ERR_ARG;
    const tiny_dims *a = in1_dims, *b = in2_dims, *o = out_dims;
    /* Element strides of each input along n, h, w, c; 0 where the input is broadcast. */
    const int32_t ac = a->c == 1 ? 0 : 1, aw = a->w == 1 ? 0 : a->c, ah = a->h == 1 ? 0 : a->w * a->c,
                  an = a->n == 1 ? 0 : a->h * a->w * a->c;
    const int32_t bc = b->c == 1 ? 0 : 1, bw = b->w == 1 ? 0 : b->c, bh = b->h == 1 ? 0 : b->w * b->c,
                  bn = b->n == 1 ? 0 : b->h * b->w * b->c;
    for (int32_t n = 0; n < o->n; ++n) {
        for (int32_t y = 0; y < o->h; ++y) {
            for (int32_t x = 0; x < o->w; ++x) {
                const int8_t *pa = in1 + n * an + y * ah + x * aw;
                const int8_t *pb = in2 + n * bn + y * bh + x * bw;
                for (int32_t c = 0; c < o->c; ++c) *out++ = add_one(params, pa[c * ac], pb[c * bc]);
            }
        }
    }
    return TINY_OK;
}
