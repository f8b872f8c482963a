/* Moving patch windows between a full NHWC tensor and a patch-local buffer (patch-based inference). */
#ifndef TINY_KERNELS_WINDOW_H
#define TINY_KERNELS_WINDOW_H
#include "tiny/types.h"

/* A rectangle of rows [r0, r0 + h) and columns [c0, c0 + w). */
typedef struct {
    int16_t r0, c0, h, w;
} tiny_window;

/* Copy `win` of the full tensor `src` ({n=1, h, w, c}, element size `elem` bytes) into `dst`, packed. */
tiny_status tiny_window_crop(const tiny_dims *src_dims, const int8_t *src, const tiny_window *win,
                             int32_t elem, int8_t *dst);
/* Copy the packed `src` into `win` of the full tensor `dst`. */
tiny_status tiny_window_place(const int8_t *src, const tiny_window *win, int32_t elem,
                              const tiny_dims *dst_dims, int8_t *dst);
#endif
