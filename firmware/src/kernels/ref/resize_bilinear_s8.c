/* RESIZE_BILINEAR int8: the portable specification of tiny_resize_bilinear_s8, TFLM's
 * ResizeBilinearInteger: scales in 1/1024 units, Q10 weights per axis, the four weighted corners
 * summed in int64 and divided by 2**20 rounding half away from zero (TFLM's double-rounding build). */
#include "tiny/kernels.h"

static int32_t scale10(int32_t n_in, int32_t n_out, int align) {
    if (align && n_out > 1) return ((1 << 10) * (n_in - 1) + (n_out - 1) / 2) / (n_out - 1);
    return ((1 << 10) * n_in + n_out / 2) / n_out;
}

static void axis(int32_t v, int32_t s10, int half, int32_t n_in, int32_t *pos, int32_t *lo, int32_t *hi) {
    *pos = half ? v * s10 + s10 / 2 - (1 << 9) : v * s10;
    const int32_t l = *pos / (1 << 10), u = (*pos + (1 << 10) - 1) / (1 << 10);   /* C division, as TFLM */
    *lo = l > 0 ? l : 0;
    *hi = u < n_in - 1 ? u : n_in - 1;
}

tiny_status tiny_resize_bilinear_s8(const tiny_resize_params *params, const tiny_dims *in_dims,
                                    const int8_t *in, const tiny_dims *out_dims, int8_t *out) {
    if (!params || !in_dims || !in || !out_dims || !out) return TINY_ERR_ARG;
    if (in_dims->n != out_dims->n || in_dims->c != out_dims->c || out_dims->h <= 0 || out_dims->w <= 0)
        return TINY_ERR_ARG;
    const int half = params->half_pixel_centers;
    const int32_t sy = scale10(in_dims->h, out_dims->h, params->align_corners);
    const int32_t sx = scale10(in_dims->w, out_dims->w, params->align_corners);
    const int32_t c = in_dims->c, row = in_dims->w * c, batch = in_dims->h * row;
    for (int32_t b = 0; b < out_dims->n; ++b) {
        const int8_t *img = in + b * batch;
        for (int32_t y = 0; y < out_dims->h; ++y) {
            int32_t py, y0, y1;
            axis(y, sy, half, in_dims->h, &py, &y0, &y1);
            const int64_t dy = py - (1 << 10) * y0;
            for (int32_t x = 0; x < out_dims->w; ++x) {
                int32_t px, x0, x1;
                axis(x, sx, half, in_dims->w, &px, &x0, &x1);
                const int64_t dx = px - (1 << 10) * x0;
                const int8_t *p00 = img + y0 * row + x0 * c, *p10 = img + y1 * row + x0 * c;
                const int8_t *p01 = img + y0 * row + x1 * c, *p11 = img + y1 * row + x1 * c;
                for (int32_t k = 0; k < c; ++k) {
                    const int64_t acc = (int64_t)p00[k] * ((1 << 10) - dy) * ((1 << 10) - dx)
                                      + (int64_t)p10[k] * dy * ((1 << 10) - dx)
                                      + (int64_t)p01[k] * ((1 << 10) - dy) * dx
                                      + (int64_t)p11[k] * dy * dx;
                    const int64_t round = acc > 0 ? (1 << 19) : -(1 << 19);
                    *out++ = (int8_t)((acc + round) / (1 << 20));
                }
            }
        }
    }
    return TINY_OK;
}
