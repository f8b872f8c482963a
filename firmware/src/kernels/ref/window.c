/* Patch window copies for patch-based inference (see tiny/passes/patch.py). */
#include <string.h>
#include "tiny/kernels.h"

static int window_ok(const tiny_dims *d, const tiny_window *w) {
    return w->r0 >= 0 && w->c0 >= 0 && w->h > 0 && w->w > 0 && w->r0 + w->h <= d->h && w->c0 + w->w <= d->w;
}

tiny_status tiny_window_crop(const tiny_dims *src_dims, const int8_t *src, const tiny_window *win,
                             int32_t elem, int8_t *dst) {
    if (!src_dims || !src || !win || !dst || elem <= 0 || !window_ok(src_dims, win)) return TINY_ERR_ARG;
    const int32_t row = win->w * src_dims->c * elem;
    for (int32_t r = 0; r < win->h; ++r) {
        const int8_t *from = src + ((int32_t)(win->r0 + r) * src_dims->w + win->c0) * src_dims->c * elem;
        memmove(dst + r * row, from, (size_t)row);
    }
    return TINY_OK;
}

tiny_status tiny_window_place(const int8_t *src, const tiny_window *win, int32_t elem,
                              const tiny_dims *dst_dims, int8_t *dst) {
    if (!dst_dims || !src || !win || !dst || elem <= 0 || !window_ok(dst_dims, win)) return TINY_ERR_ARG;
    const int32_t row = win->w * dst_dims->c * elem;
    for (int32_t r = 0; r < win->h; ++r) {
        int8_t *to = dst + ((int32_t)(win->r0 + r) * dst_dims->w + win->c0) * dst_dims->c * elem;
        memmove(to, src + r * row, (size_t)row);
    }
    return TINY_OK;
}
