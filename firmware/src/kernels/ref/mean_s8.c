/* MEAN int8 over any subset of the n, h, w, c dims: the portable specification of tiny_mean_s8.
 * As TFLM's QuantizedMeanOrSum: an int32 sum of raw values, minus in_zero_point * count, then one
 * requantization whose multiplier already folds 1/count (done at compile time). Each output is
 * summed in a register, so unlike TFLM no accumulator scratch is needed. */
#include "tiny/kernels.h"
#include "tiny/fixedpoint.h"

tiny_status tiny_mean_s8(const tiny_mean_params *params, const tiny_dims *in_dims, const int8_t *in,
                         int8_t *out) {
    if (!params || !in_dims || !in || !out) return TINY_ERR_ARG;
    const int32_t m = params->axis_mask;
    const int32_t d[4] = {in_dims->n, in_dims->h, in_dims->w, in_dims->c};
    const int32_t stride[4] = {in_dims->h * in_dims->w * in_dims->c, in_dims->w * in_dims->c, in_dims->c, 1};
    int32_t keep[4], red[4];    /* extents of the kept (outer) and reduced (inner) loops */
    for (int k = 0; k < 4; ++k) {
        const int reduced = (m >> k) & 1;
        keep[k] = reduced ? 1 : d[k];
        red[k] = reduced ? d[k] : 1;
    }
    const int64_t count = (int64_t)red[0] * red[1] * red[2] * red[3];
    for (int32_t i0 = 0; i0 < keep[0]; ++i0)
    for (int32_t i1 = 0; i1 < keep[1]; ++i1)
    for (int32_t i2 = 0; i2 < keep[2]; ++i2)
    for (int32_t i3 = 0; i3 < keep[3]; ++i3) {
        const int8_t *base = in + i0 * stride[0] + i1 * stride[1] + i2 * stride[2] + i3 * stride[3];
        uint32_t sum = 0;   /* int32 accumulation that wraps like TFLM's */
        for (int32_t j0 = 0; j0 < red[0]; ++j0)
        for (int32_t j1 = 0; j1 < red[1]; ++j1)
        for (int32_t j2 = 0; j2 < red[2]; ++j2)
        for (int32_t j3 = 0; j3 < red[3]; ++j3) {
            sum += (uint32_t)(int32_t)base[j0 * stride[0] + j1 * stride[1] + j2 * stride[2] + j3 * stride[3]];
        }
        const int32_t shifted = (int32_t)(uint32_t)((int64_t)(int32_t)sum - (int64_t)params->in_zero_point * count);
        const int32_t r = tiny_requantize(shifted, params->multiplier, params->shift) + params->out_zero_point;
        *out++ = (int8_t)tiny_clamp(r, -128, 127);
    }
    return TINY_OK;
}
