/* More element-wise kernels: SUB, MAXIMUM / MINIMUM, PRELU (broadcasting binary ops) and the
 * activations RELU, RELU6, LEAKY_RELU, TANH; BATCH_MATMUL. Every constant is computed at compile time by
 * tiny/reference/<op>.py as TFLite Micro's Prepare computes it. None needs scratch. */
#ifndef TINY_KERNELS_ELEMENTWISE_EXT_H
#define TINY_KERNELS_ELEMENTWISE_EXT_H
#include "tiny/types.h"
#include "tiny/kernels_elementwise.h"

/* SUB: as ADD (same parameters, tiny_add_params) with the rescaled inputs subtracted. */
tiny_status tiny_sub_s8(const tiny_add_params *params, const tiny_dims *in1_dims, const int8_t *in1,
                        const tiny_dims *in2_dims, const int8_t *in2, const tiny_dims *out_dims,
                        int8_t *out);

/* MAXIMUM (is_min = 0) / MINIMUM (is_min = 1) of raw int8 values, broadcasting. */
typedef struct {
    int32_t is_min;
} tiny_maximum_minimum_params;

tiny_status tiny_maximum_minimum_s8(const tiny_maximum_minimum_params *params, const tiny_dims *in1_dims,
                                    const int8_t *in1, const tiny_dims *in2_dims, const int8_t *in2,
                                    const tiny_dims *out_dims, int8_t *out);

/* PRELU: x' = x + input_offset; x' >= 0 -> requantize(x', m1, s1), else
 * requantize(x' * (alpha + alpha_offset), m2, s2); + output_offset, clamped. alpha broadcasts. */
typedef struct {
    int32_t input_offset;
    int32_t alpha_offset;
    int32_t output_offset;
    int32_t multiplier_1;
    int32_t shift_1;
    int32_t multiplier_2;
    int32_t shift_2;
} tiny_prelu_params;

tiny_status tiny_prelu_s8(const tiny_prelu_params *params, const tiny_dims *in_dims, const int8_t *in,
                          const tiny_dims *alpha_dims, const int8_t *alpha, const tiny_dims *out_dims,
                          int8_t *out);

/* RELU: clamp(output_offset + requantize(x - input_offset), act_min, act_max). */
typedef struct {
    int32_t input_offset;     /* zero point of the input (subtracted) */
    int32_t output_offset;
    int32_t multiplier;
    int32_t shift;
    int32_t act_min;
    int32_t act_max;
} tiny_relu_params;

tiny_status tiny_relu_s8(const tiny_relu_params *params, int32_t size, const int8_t *in, int8_t *out);

/* RELU6: the raw input clamped to [lower, upper] (no requantization, as TFLM). */
typedef struct {
    int32_t lower;
    int32_t upper;
} tiny_relu6_params;

tiny_status tiny_relu6_s8(const tiny_relu6_params *params, int32_t size, const int8_t *in, int8_t *out);

/* LEAKY_RELU: d = x - input_offset; output_offset + requantize(d, identity or alpha), clamped. */
typedef struct {
    int32_t input_offset;
    int32_t output_offset;
    int32_t multiplier_identity;
    int32_t shift_identity;
    int32_t multiplier_alpha;
    int32_t shift_alpha;
} tiny_leaky_relu_params;

tiny_status tiny_leaky_relu_s8(const tiny_leaky_relu_params *params, int32_t size, const int8_t *in,
                               int8_t *out);

/* BATCH_MATMUL: out[b][a][c] = clamp(out_offset + requantize(sum_k (lhs + lhs_offset) *
 * (rhs + rhs_offset))), lhs [..., rows, depth] ([..., depth, rows] with adj_x), rhs [..., depth, cols]
 * ([..., cols, depth] with adj_y); the three batch dims broadcast (1 or the output's). */
typedef struct {
    int32_t lhs_offset;
    int32_t rhs_offset;
    int32_t out_offset;
    int32_t multiplier;
    int32_t shift;
    int32_t adj_x;
    int32_t adj_y;
    int32_t rows;
    int32_t depth;
    int32_t cols;
    int32_t lhs_batch[3];
    int32_t rhs_batch[3];
} tiny_batch_matmul_params;

tiny_status tiny_batch_matmul_s8(const tiny_batch_matmul_params *params, const int8_t *lhs, const int8_t *rhs,
                                 int8_t *out);

/* TANH: as LOGISTIC (same parameters) with gemmlowp::tanh, rounded to Q0.7. */
tiny_status tiny_tanh_s8(const tiny_logistic_params *params, int32_t size, const int8_t *in, int8_t *out);

/* GELU, ELU: a lookup of each input's raw byte in the 256-entry table the code generator computed
 * (tiny/ops/gelu.py, elu.py: TFLite's LUTPopulate, TFLM's PopulateLookupTable); tiny_lut_s8's layout. */
tiny_status tiny_lookup_s8(const int8_t *table, int32_t size, const int8_t *in, int8_t *out);
#endif
