/* RESIZE_BILINEAR int8 in 32-bit arithmetic: same arguments and results as tiny_resize_bilinear_s8.
 *
 * The portable kernel sums the four corner products with Q20 weights (1024 - dy)(1024 - dx)... in
 * int64 (as TFLM). The sum is the same as a vertical blend per column, t = p0 (1024 - dy) + p1 dy,
 * then a horizontal one, t0 (1024 - dx) + t1 dx (distributivity, exact in integers). When
 * |dy|, |dx| <= 1024 (always: the Q10 position is >= -512 and its offset from the lower index is
 * below 1024; checked anyway), |t| <= 128 * 2048 = 2^18 and |sum| <= 2^29: int32, MUL/MLA instead of
 * int64 multiplies. Rounding half away from zero of sum / 2^20 (C division of sum +- 2^19) is
 * (sum + 2^19 + (sum >> 31)) >> 20: for sum < 0 it is floor((sum + 2^19 - 1) / 2^20), which is
 * -floor((-sum + 2^19) / 2^20). Two channels per step: ~14 instructions per output (portable: ~74). */
#include "arm_common.h"
#include "tiny/kernels_arm.h"
#include "tiny/kernels_shape.h"

#ifdef TINY_ARM_DSP
/* scale10 / axis exactly as in the portable kernel (C division, TFLM's integer interpolation values). */
static int32_t rb_scale10(int32_t n_in, int32_t n_out, int align) {
    if (align && n_out > 1) return ((1 << 10) * (n_in - 1) + (n_out - 1) / 2) / (n_out - 1);
    return ((1 << 10) * n_in + n_out / 2) / n_out;
}
TINY_INLINE void rb_axis(int32_t v, int32_t s10, int half, int32_t n_in, int32_t *d, int32_t *lo, int32_t *hi) {
    const int32_t pos = half ? v * s10 + s10 / 2 - (1 << 9) : v * s10;
    const int32_t l = pos / (1 << 10), u = (pos + (1 << 10) - 1) / (1 << 10);
    *lo = l > 0 ? l : 0;
    *hi = u < n_in - 1 ? u : n_in - 1;
    *d = pos - (1 << 10) * *lo;
}
TINY_INLINE int8_t rb_round(int32_t s) { return (int8_t)((s + (1 << 19) + (s >> 31)) >> 20); }

tiny_status tiny_resize_bilinear_s8_dsp(const tiny_resize_params *params, const tiny_dims *in_dims, const int8_t *in,
                                        const tiny_dims *out_dims, int8_t *out) {
    if (!params || !in_dims || !in || !out_dims || !out || in_dims->n != out_dims->n || in_dims->c != out_dims->c ||
        out_dims->h <= 0 || out_dims->w <= 0 || out_dims->h > 32767 || out_dims->w > 32767 ||
        in_dims->h > 32767 || in_dims->w > 32767) {
        return tiny_resize_bilinear_s8(params, in_dims, in, out_dims, out);
    }
    const int half = params->half_pixel_centers;
    const int32_t sy = rb_scale10(in_dims->h, out_dims->h, params->align_corners);
    const int32_t sx = rb_scale10(in_dims->w, out_dims->w, params->align_corners);
    const int32_t c = in_dims->c, c2 = c & ~1, row = in_dims->w * c, batch = in_dims->h * row;
    /* the 32-bit bound: every |d| <= 1024 (the largest d of an axis is at one of its ends or near
     * the first index; checking all costs one pass per axis) */
    for (int32_t v = 0; v < out_dims->h; ++v) {
        int32_t d, l, u;
        rb_axis(v, sy, half, in_dims->h, &d, &l, &u);
        if (d > 1024 || d < -1024) return tiny_resize_bilinear_s8(params, in_dims, in, out_dims, out);
    }
    for (int32_t v = 0; v < out_dims->w; ++v) {
        int32_t d, l, u;
        rb_axis(v, sx, half, in_dims->w, &d, &l, &u);
        if (d > 1024 || d < -1024) return tiny_resize_bilinear_s8(params, in_dims, in, out_dims, out);
    }
    for (int32_t b = 0; b < out_dims->n; ++b) {
        const int8_t *img = in + b * batch;
        for (int32_t y = 0; y < out_dims->h; ++y) {
            int32_t dy, y0, y1;
            rb_axis(y, sy, half, in_dims->h, &dy, &y0, &y1);
            const int32_t wy0 = (1 << 10) - dy, wy1 = dy;
            const int8_t *r0 = img + y0 * row, *r1 = img + y1 * row;
            for (int32_t x = 0; x < out_dims->w; ++x) {
                int32_t dx, x0, x1;
                rb_axis(x, sx, half, in_dims->w, &dx, &x0, &x1);
                const int32_t wx0 = (1 << 10) - dx, wx1 = dx;
                const int8_t *p00 = r0 + x0 * c, *p10 = r1 + x0 * c, *p01 = r0 + x1 * c, *p11 = r1 + x1 * c;
                int32_t k = 0;
                for (; k < c2; k += 2) {   /* two channels per step: the loop overhead halved */
                    const int32_t a0 = p00[k] * wy0 + p10[k] * wy1, a1 = p01[k] * wy0 + p11[k] * wy1;
                    const int32_t b0 = p00[k + 1] * wy0 + p10[k + 1] * wy1, b1 = p01[k + 1] * wy0 + p11[k + 1] * wy1;
                    out[0] = rb_round(a0 * wx0 + a1 * wx1);
                    out[1] = rb_round(b0 * wx0 + b1 * wx1);
                    out += 2;
                }
                for (; k < c; ++k) {
                    const int32_t t0 = p00[k] * wy0 + p10[k] * wy1, t1 = p01[k] * wy0 + p11[k] * wy1;
                    *out++ = rb_round(t0 * wx0 + t1 * wx1);
                }
            }
        }
    }
    return TINY_OK;
}
#endif
