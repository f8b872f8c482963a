/* Moving patch windows between a full NHWC tensor and a patch-local buffer (patch-based inference). */
#ifndef TINY_KERNELS_WINDOW_H
#define TINY_KERNELS_WINDOW_H
#include "tiny/types.h"

/* A rectangle of rows [r0, r0 + h) and columns [c0, c0 + w). */
typedef struct {
    int16_t r0, c0, h, w;
} tiny_window;

/* What a stage op sees of one patch: its input and output extents and the top/left padding of
 * its window relative to the patch-local input (negative: the window starts inside the buffer). */
typedef struct {
    int16_t in_h, in_w, out_h, out_w, pad_top, pad_left;
} tiny_patch_geo;

/* Copy `win` of the full tensor `src` ({n=1, h, w, c}, element size `elem` bytes) into `dst`, packed. */
tiny_status tiny_window_crop(const tiny_dims *src_dims, const int8_t *src, const tiny_window *win,
                             int32_t elem, int8_t *dst);
/* Copy the packed `src` into `win` of the full tensor `dst`. */
tiny_status tiny_window_place(const int8_t *src, const tiny_window *win, int32_t elem,
                              const tiny_dims *dst_dims, int8_t *dst);
#endif
