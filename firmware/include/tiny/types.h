/* Types shared by every kernel (CMSIS-NN style: ctx / params / quant / dims / data). */
#ifndef TINY_TYPES_H
#define TINY_TYPES_H
#include <stdint.h>
#include <stddef.h>

#ifndef TINY_ALIGNED
#define TINY_ALIGNED __attribute__((aligned(4)))
#endif

/* Scratch memory handed to a kernel; its size comes from the kernel's _get_buffer_size companion,
 * computed at compile time in Python and planned into the arena. */
typedef struct {
    void *buf;
    int32_t size;
} tiny_ctx;

/* NHWC shape. Kernels that see 2-D data use n = batches, c = features, h = w = 1. */
typedef struct {
    int32_t n, h, w, c;
} tiny_dims;

/* Per-output-channel requantization, precomputed in Python. */
typedef struct {
    const int32_t *multiplier;
    const int32_t *shift;
} tiny_per_channel_quant;

/* Per-tensor requantization. */
typedef struct {
    int32_t multiplier;
    int32_t shift;
} tiny_per_tensor_quant;

typedef enum { TINY_OK = 0, TINY_ERR_ARG = 1 } tiny_status;
#endif
