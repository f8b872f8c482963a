/* BATCH_MATMUL int8: the portable specification of tiny_batch_matmul_s8 (TFLM's
 * reference_ops::BatchMatMul): per output element an int32 sum over the depth of the
 * zero-point-corrected products, one requantization, a clamp to int8. Batch dims broadcast. */
#include "tiny/kernels.h"
#include "tiny/fixedpoint.h"

tiny_status tiny_batch_matmul_s8(const tiny_batch_matmul_params *params, const int8_t *lhs, const int8_t *rhs,
                                 int8_t *out) {
    if (!params || !lhs || !rhs || !out) return TINY_ERR_ARG;
    const tiny_batch_matmul_params *p = params;
    int32_t batch[3], ls[3], rs[3];
    const int32_t lmat = p->rows * p->depth, rmat = p->depth * p->cols;
    for (int k = 2, lstride = lmat, rstride = rmat; k >= 0; --k) {
        const int32_t a = p->lhs_batch[k], b = p->rhs_batch[k];
        if (a != b && a != 1 && b != 1) return TINY_ERR_ARG;
        batch[k] = a > b ? a : b;
        ls[k] = a == 1 ? 0 : lstride;
        rs[k] = b == 1 ? 0 : rstride;
        lstride *= a;
        rstride *= b;
    }
    /* element (i, k) of lhs as [rows, depth], and (k, j) of rhs as [depth, cols] */
    const int32_t li = p->adj_x ? 1 : p->depth, lk = p->adj_x ? p->rows : 1;
    const int32_t rk = p->adj_y ? 1 : p->cols, rj = p->adj_y ? p->depth : 1;
    for (int32_t b0 = 0; b0 < batch[0]; ++b0)
    for (int32_t b1 = 0; b1 < batch[1]; ++b1)
    for (int32_t b2 = 0; b2 < batch[2]; ++b2) {
        const int8_t *l = lhs + b0 * ls[0] + b1 * ls[1] + b2 * ls[2];
        const int8_t *r = rhs + b0 * rs[0] + b1 * rs[1] + b2 * rs[2];
        for (int32_t i = 0; i < p->rows; ++i)
            for (int32_t j = 0; j < p->cols; ++j) {
                uint32_t acc = 0;     /* int32 accumulation that wraps, as TFLM's */
                for (int32_t k = 0; k < p->depth; ++k)
                    acc += (uint32_t)(((int32_t)l[i * li + k * lk] + p->lhs_offset) *
                                      ((int32_t)r[k * rk + j * rj] + p->rhs_offset));
                const int32_t v = tiny_requantize((int32_t)acc, p->multiplier, p->shift) + p->out_offset;
                *out++ = (int8_t)tiny_clamp(v, -128, 127);
            }
    }
    return TINY_OK;
}
