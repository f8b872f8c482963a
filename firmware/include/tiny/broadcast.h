/* NHWC broadcasting for elementwise kernels (ADD, MUL): each input dim is the output's or 1. */
#ifndef TINY_BROADCAST_H
#define TINY_BROADCAST_H
#include "tiny/types.h"

/* Element strides of an input along n, h, w, c; 0 where it is broadcast. */
typedef struct {
    int32_t n, h, w, c;
} tiny_strides;

/* Fill *s for input dims `a` against output dims `o`; 0 if `a` does not broadcast to `o`. */
static inline int tiny_broadcast_strides(const tiny_dims *a, const tiny_dims *o, tiny_strides *s) {
    if (!((a->n == 1 || a->n == o->n) && (a->h == 1 || a->h == o->h) && (a->w == 1 || a->w == o->w) &&
          (a->c == 1 || a->c == o->c))) {
        return 0;
    }
    s->c = a->c == 1 ? 0 : 1;
    s->w = a->w == 1 ? 0 : a->c;
    s->h = a->h == 1 ? 0 : a->w * a->c;
    s->n = a->n == 1 ? 0 : a->h * a->w * a->c;
    return 1;
}
#endif
