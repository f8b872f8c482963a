/* RESIZE_NEAREST_NEIGHBOR int8: the portable specification of tiny_resize_nearest_neighbor_s8.
 * The source index is TFLM's GetNearestNeighbor in the same float32 arithmetic (IEEE single on every
 * target, hardware FPU or not): scale = in/out (or (in-1)/(out-1) with align_corners), position =
 * (x + 0.5 if half_pixel_centers) * scale, rounded half away (align_corners) or floored, clamped. */
#include <string.h>
#include "tiny/kernels.h"

static int32_t nearest(int32_t x, int32_t n_in, int32_t n_out, int align, int half) {
    const float scale = (align && n_out > 1) ? (float)(n_in - 1) / (float)(n_out - 1)
                                             : (float)n_in / (float)n_out;
    const float v = ((float)x + (half ? 0.5f : 0.0f)) * scale;
    int32_t r = (int32_t)v;                   /* v >= 0: truncation is floor */
    if (align && v - (float)r >= 0.5f) r += 1;  /* std::round: half away from zero (exact: v - floor(v)) */
    if (r > n_in - 1) r = n_in - 1;
    if (half && r < 0) r = 0;
    return r;
}

tiny_status tiny_resize_nearest_neighbor_s8(const tiny_resize_params *params, const tiny_dims *in_dims,
                                            const int8_t *in, const tiny_dims *out_dims, int8_t *out) {
    if (!params || !in_dims || !in || !out_dims || !out) return TINY_ERR_ARG;
    if (in_dims->n != out_dims->n || in_dims->c != out_dims->c || out_dims->h <= 0 || out_dims->w <= 0)
        return TINY_ERR_ARG;
    const int32_t c = in_dims->c, row = in_dims->w * c, batch = in_dims->h * row;
    for (int32_t b = 0; b < out_dims->n; ++b) {
        for (int32_t y = 0; y < out_dims->h; ++y) {
            const int8_t *src_row = in + b * batch +
                nearest(y, in_dims->h, out_dims->h, params->align_corners, params->half_pixel_centers) * row;
            for (int32_t x = 0; x < out_dims->w; ++x) {
                const int32_t ix = nearest(x, in_dims->w, out_dims->w, params->align_corners,
                                           params->half_pixel_centers);
                memcpy(out, src_row + ix * c, (size_t)c);
                out += c;
            }
        }
    }
    return TINY_OK;
}
