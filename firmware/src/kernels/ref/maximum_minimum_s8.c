/* MAXIMUM / MINIMUM int8 with broadcasting: the portable specification of tiny_maximum_minimum_s8,
 * TFLM's MaximumMinimumBroadcastSlow on raw values. */
#include "tiny/kernels.h"
#include "tiny/broadcast.h"

tiny_status tiny_maximum_minimum_s8(const tiny_maximum_minimum_params *params, const tiny_dims *in1_dims,
                                    const int8_t *in1, const tiny_dims *in2_dims, const int8_t *in2,
                                    const tiny_dims *out_dims, int8_t *out) {
    if (!params || !in1_dims || !in1 || !in2_dims || !in2 || !out_dims || !out) return TINY_ERR_ARG;
    tiny_strides sa, sb;
    if (!tiny_broadcast_strides(in1_dims, out_dims, &sa) || !tiny_broadcast_strides(in2_dims, out_dims, &sb))
        return TINY_ERR_ARG;
    const int is_min = params->is_min != 0;
    const tiny_dims *o = out_dims;
    for (int32_t n = 0; n < o->n; ++n)
        for (int32_t y = 0; y < o->h; ++y)
            for (int32_t x = 0; x < o->w; ++x) {
                const int8_t *pa = in1 + n * sa.n + y * sa.h + x * sa.w;
                const int8_t *pb = in2 + n * sb.n + y * sb.h + x * sb.w;
                for (int32_t c = 0; c < o->c; ++c) {
                    const int8_t a = pa[c * sa.c], b = pb[c * sb.c];
                    *out++ = is_min ? (a < b ? a : b) : (a > b ? a : b);
                }
            }
    return TINY_OK;
}
