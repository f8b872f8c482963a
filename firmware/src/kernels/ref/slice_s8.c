/* SLICE / STRIDED_SLICE int8 (rank <= 4, extended to 4-D at compile time): the portable
 * specification of tiny_slice_s8. The output is written in order; element (i0..i3) comes from input
 * position begin[k] + i_k * stride[k] in each dim k (TFLM's reference Slice and StridedSlice walk
 * the same positions; begin/end masks and negative indices are resolved at compile time). */
#include "tiny/kernels.h"

tiny_status tiny_slice_s8(const tiny_slice_params *params, const tiny_dims *in_dims, const int8_t *in,
                          const tiny_dims *out_dims, int8_t *out) {
    if (!params || !in_dims || !in || !out_dims || !out) return TINY_ERR_ARG;
    const int32_t d[4] = {in_dims->n, in_dims->h, in_dims->w, in_dims->c};
    const int32_t od[4] = {out_dims->n, out_dims->h, out_dims->w, out_dims->c};
    const int32_t stride[4] = {in_dims->h * in_dims->w * in_dims->c, in_dims->w * in_dims->c, in_dims->c, 1};
    for (int k = 0; k < 4; ++k) {       /* first and last positions read must be inside the input */
        const int32_t b = params->begin[k], last = b + (od[k] - 1) * params->stride[k];
        if (od[k] <= 0 || b < 0 || b >= d[k] || last < 0 || last >= d[k]) return TINY_ERR_ARG;
    }
    for (int32_t i0 = 0; i0 < od[0]; ++i0)
    for (int32_t i1 = 0; i1 < od[1]; ++i1)
    for (int32_t i2 = 0; i2 < od[2]; ++i2) {
        const int8_t *src = in + (params->begin[0] + i0 * params->stride[0]) * stride[0]
                               + (params->begin[1] + i1 * params->stride[1]) * stride[1]
                               + (params->begin[2] + i2 * params->stride[2]) * stride[2] + params->begin[3];
        for (int32_t i3 = 0; i3 < od[3]; ++i3) *out++ = src[i3 * params->stride[3]];
    }
    return TINY_OK;
}
