/* The interface between a generated model (model.c, written by tiny's code generator) and the
 * runtime (protocol loop, boards). Exactly one model is linked into a firmware image. */
#ifndef TINY_MODEL_H
#define TINY_MODEL_H
#include <stdint.h>
#include "tiny/types.h"

enum { TINY_DTYPE_INT8 = 0, TINY_DTYPE_INT32 = 1, TINY_DTYPE_FLOAT32 = 2, TINY_DTYPE_UINT8 = 3,
       TINY_DTYPE_INT16 = 4 };

/* A tensor placed in the arena. bytes == 0: not readable (a constant, or never in the arena). */
typedef struct {
    uint32_t offset;  /* byte offset into tiny_model.arena */
    uint32_t bytes;
    uint8_t dtype;    /* TINY_DTYPE_* */
} tiny_tensor_ref;

typedef struct {
    const char *name;              /* model name */
    const char *hash;              /* 16 hex chars identifying model + codegen options */
    uint32_t arena_bytes;
    uint8_t *arena;
    uint16_t n_inputs, n_outputs, n_tensors, n_ops;
    const tiny_tensor_ref *inputs;
    const tiny_tensor_ref *outputs;
    const tiny_tensor_ref *tensors;  /* indexed by IR tensor id (the .tflite tensor index) */
    /* Run ops 0..stop_after (every op if stop_after < 0). Returns 0 on success. The output of
     * op `stop_after` is live in the arena afterwards, which is how per-layer bisection works. */
    int (*invoke)(int32_t stop_after);
    /* Variable (state) tensors back to their reset values (TFLM's ResetVariableTensors); NULL for a
     * model without state. invoke() resets once by itself before its first run. */
    int (*reset)(void);
} tiny_model_t;

extern const tiny_model_t tiny_model;

/* Per-layer markers, called by generated code around each op. The runtime defines them as
 * noinline, noipa functions: the QEMU instruction-counting plugin keys on their addresses. */
void tiny_layer_begin(uint32_t op_index);
void tiny_layer_end(uint32_t op_index);
#endif
