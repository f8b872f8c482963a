/* RESIZE_NEAREST_NEIGHBOR with the source columns computed once per call and inline word copies:
 * same arguments and results as tiny_resize_nearest_neighbor_s8. The portable kernel evaluates the
 * float32 source index and calls memcpy for every output pixel (~60 instructions per 16-byte pixel
 * of the U-Net); here the column offsets are a stack table (widths up to RN_MAX_W, else the portable
 * kernel), and an output row whose source row is the previous row's (every other row of a 2x
 * upsampling) is one copy of that output row. */
#include "arm_common.h"
#include "tiny/kernels_arm.h"

#ifdef TINY_ARM_DSP
#define RN_MAX_W 256
/* The portable kernel's index, the same float32 arithmetic (TFLM's GetNearestNeighbor). */
static int32_t rn_nearest(int32_t x, int32_t n_in, int32_t n_out, int align, int half) {
    const float scale = (align && n_out > 1) ? (float)(n_in - 1) / (float)(n_out - 1) : (float)n_in / (float)n_out;
    const float v = ((float)x + (half ? 0.5f : 0.0f)) * scale;
    int32_t r = (int32_t)v;
    if (align && v - (float)r >= 0.5f) r += 1;
    if (r > n_in - 1) r = n_in - 1;
    if (half && r < 0) r = 0;
    return r;
}

TINY_NO_MEMCPY_LOOPS tiny_status tiny_resize_nearest_neighbor_s8_dsp(const tiny_resize_params *params,
                                                                     const tiny_dims *in_dims, const int8_t *in,
                                                                     const tiny_dims *out_dims, int8_t *out) {
    if (!params || !in_dims || !in || !out_dims || !out || in_dims->n != out_dims->n || in_dims->c != out_dims->c ||
        out_dims->h <= 0 || out_dims->w <= 0 || out_dims->w > RN_MAX_W) {
        return tiny_resize_nearest_neighbor_s8(params, in_dims, in, out_dims, out);
    }
    const int32_t c = in_dims->c, row = in_dims->w * c, batch = in_dims->h * row, out_row = out_dims->w * c;
    const int align = params->align_corners, half = params->half_pixel_centers;
    int32_t col[RN_MAX_W];
    for (int32_t x = 0; x < out_dims->w; ++x) col[x] = rn_nearest(x, in_dims->w, out_dims->w, align, half) * c;
    for (int32_t b = 0; b < out_dims->n; ++b) {
        int32_t prev = -1;
        for (int32_t y = 0; y < out_dims->h; ++y, out += out_row) {
            const int32_t sy = rn_nearest(y, in_dims->h, out_dims->h, align, half);
            if (sy == prev) {   /* same source row: the output row just written */
                memcpy(out, out - out_row, (size_t)out_row);
                continue;
            }
            prev = sy;
            const int8_t *src = in + b * batch + sy * row;
            int8_t *o = out;
            const int32_t w = out_dims->w;
            switch (c) {   /* the usual channel counts: each pixel's copy fully unrolled */
#define RN_CASE(N) \
    case N:                                                                                        \
        for (int32_t x = 0; x < w; ++x, o += N) tiny_copy_bytes(o, src + col[x], N);                \
        break;
                RN_CASE(4) RN_CASE(8) RN_CASE(16) RN_CASE(32) RN_CASE(64)
#undef RN_CASE
                default:
                    for (int32_t x = 0; x < w; ++x, o += c) tiny_copy_bytes(o, src + col[x], c);
            }
        }
    }
    return TINY_OK;
}
#endif
