/* Integer arithmetic of TFLite Micro's quantized kernels (gemmlowp semantics).
 * Mirrors tiny/reference/fixedpoint.py function by function. */
#ifndef TINY_FIXEDPOINT_H
#define TINY_FIXEDPOINT_H
#include <stdint.h>

static inline int32_t tiny_srdhm(int32_t a, int32_t b) {
    if (a == INT32_MIN && b == INT32_MIN) return INT32_MAX;
    int64_t ab = (int64_t)a * (int64_t)b;
    int32_t nudge = ab >= 0 ? (1 << 30) : (1 - (1 << 30));
    return (int32_t)((ab + nudge) / ((int64_t)1 << 31));
}

static inline int32_t tiny_rounding_divide_by_pot(int32_t x, int exponent) {
    int32_t mask = (int32_t)(((int64_t)1 << exponent) - 1);
    int32_t remainder = x & mask;
    int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

/* TFLite's MultiplyByQuantizedMultiplier: double rounding, as TFLM is built by default. */
static inline int32_t tiny_requantize(int32_t x, int32_t multiplier, int32_t shift) {
    int left = shift > 0 ? shift : 0;
    int right = shift > 0 ? 0 : -shift;
    return tiny_rounding_divide_by_pot(tiny_srdhm((int32_t)((uint32_t)x << left), multiplier), right);
}

static inline int32_t tiny_clamp(int32_t x, int32_t lo, int32_t hi) {
    return x < lo ? lo : (x > hi ? hi : x);
}
#endif
