/* REDUCE_MAX int8 over any subset of the n, h, w, c dims: the portable specification of
 * tiny_reduce_max_s8. As TFLM's ReduceGeneric with the max reducer, started from INT8_MIN; input and
 * output share their quantization, so no arithmetic happens. */
#include "tiny/kernels.h"

tiny_status tiny_reduce_max_s8(const tiny_reduce_max_params *params, const tiny_dims *in_dims,
                               const int8_t *in, int8_t *out) {
    if (!params || !in_dims || !in || !out) return TINY_ERR_ARG;
    const int32_t m = params->axis_mask;
    const int32_t d[4] = {in_dims->n, in_dims->h, in_dims->w, in_dims->c};
    const int32_t stride[4] = {in_dims->h * in_dims->w * in_dims->c, in_dims->w * in_dims->c, in_dims->c, 1};
    int32_t keep[4], red[4];
    for (int k = 0; k < 4; ++k) {
        const int reduced = (m >> k) & 1;
        keep[k] = reduced ? 1 : d[k];
        red[k] = reduced ? d[k] : 1;
    }
    for (int32_t i0 = 0; i0 < keep[0]; ++i0)
    for (int32_t i1 = 0; i1 < keep[1]; ++i1)
    for (int32_t i2 = 0; i2 < keep[2]; ++i2)
    for (int32_t i3 = 0; i3 < keep[3]; ++i3) {
        const int8_t *base = in + i0 * stride[0] + i1 * stride[1] + i2 * stride[2] + i3 * stride[3];
        int8_t best = INT8_MIN;
        for (int32_t j0 = 0; j0 < red[0]; ++j0)
        for (int32_t j1 = 0; j1 < red[1]; ++j1)
        for (int32_t j2 = 0; j2 < red[2]; ++j2)
        for (int32_t j3 = 0; j3 < red[3]; ++j3) {
            const int8_t v = base[j0 * stride[0] + j1 * stride[1] + j2 * stride[2] + j3 * stride[3]];
            if (v > best) best = v;
        }
        *out++ = best;
    }
    return TINY_OK;
}
