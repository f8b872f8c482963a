/* TRANSPOSE int8, rank <= 4 (extended to 4-D at compile time): the portable specification of
 * tiny_transpose_s8. As TFLM's reference Transpose: the output is written in order, each element
 * gathered from the input through the permuted strides. No arithmetic, so exact by construction. */
#include "tiny/kernels.h"

tiny_status tiny_transpose_s8(const tiny_transpose_params *params, const tiny_dims *in_dims,
                              const int8_t *in, int8_t *out) {
    if (!params || !in_dims || !in || !out) return TINY_ERR_ARG;
    const int32_t d[4] = {in_dims->n, in_dims->h, in_dims->w, in_dims->c};
    const int32_t stride[4] = {in_dims->h * in_dims->w * in_dims->c, in_dims->w * in_dims->c, in_dims->c, 1};
    int32_t od[4], os[4];
    int seen = 0;
    for (int k = 0; k < 4; ++k) {
        const int32_t a = params->perm[k];
        if (a < 0 || a > 3 || (seen >> a) & 1) return TINY_ERR_ARG;
        seen |= 1 << a;
        od[k] = d[a];
        os[k] = stride[a];
    }
    for (int32_t i0 = 0; i0 < od[0]; ++i0)
    for (int32_t i1 = 0; i1 < od[1]; ++i1)
    for (int32_t i2 = 0; i2 < od[2]; ++i2) {
        const int8_t *src = in + i0 * os[0] + i1 * os[1] + i2 * os[2];
        for (int32_t i3 = 0; i3 < od[3]; ++i3) *out++ = src[i3 * os[3]];
    }
    return TINY_OK;
}
