/* Element-wise, reduction and activation kernels: ADD, MUL, MEAN, SOFTMAX, LOGISTIC, HARD_SWISH.
 * Every constant is computed at compile time by tiny/reference/<op>.py exactly as TFLite Micro's
 * Prepare computes it; these kernels only do the run-time integer arithmetic. None needs scratch. */
#ifndef TINY_KERNELS_ELEMENTWISE_H
#define TINY_KERNELS_ELEMENTWISE_H
#include "tiny/types.h"

/* ADD: out = clamp(rescale(s1 * (in1 - zp1) + s2 * (in2 - zp2))), TFLite's left_shift = 20 scheme.
 * Broadcasting: every dim of in1/in2 equals the out dim or is 1 (numpy rules, right-aligned
 * to 4-D at compile time). */
typedef struct {
    int32_t in1_offset;       /* -zero_point of input 1 */
    int32_t in2_offset;       /* -zero_point of input 2 */
    int32_t left_shift;       /* 20 for int8 */
    int32_t in1_multiplier;
    int32_t in1_shift;        /* <= 0 */
    int32_t in2_multiplier;
    int32_t in2_shift;        /* <= 0 */
    int32_t out_multiplier;
    int32_t out_shift;        /* <= 0 */
    int32_t out_offset;       /* zero_point of the output */
    int32_t act_min;
    int32_t act_max;
} tiny_add_params;

tiny_status tiny_add_s8(const tiny_add_params *params, const tiny_dims *in1_dims, const int8_t *in1,
                        const tiny_dims *in2_dims, const int8_t *in2, const tiny_dims *out_dims,
                        int8_t *out);

/* MUL: out = clamp(requantize((in1 + in1_offset) * (in2 + in2_offset)) + out_offset). Broadcasts
 * like tiny_add_s8. */
typedef struct {
    int32_t in1_offset;
    int32_t in2_offset;
    int32_t out_offset;
    int32_t out_multiplier;
    int32_t out_shift;
    int32_t act_min;
    int32_t act_max;
} tiny_mul_params;

tiny_status tiny_mul_s8(const tiny_mul_params *params, const tiny_dims *in1_dims, const int8_t *in1,
                        const tiny_dims *in2_dims, const int8_t *in2, const tiny_dims *out_dims,
                        int8_t *out);

/* MEAN over the dims selected by axis_mask (bit 0 = n, 1 = h, 2 = w, 3 = c); the output holds the
 * remaining dims in order. multiplier/shift already include TFLM's 1/num_elements folding. */
#define TINY_AXIS_N 1
#define TINY_AXIS_H 2
#define TINY_AXIS_W 4
#define TINY_AXIS_C 8
typedef struct {
    int32_t axis_mask;
    int32_t in_zero_point;
    int32_t out_zero_point;
    int32_t multiplier;
    int32_t shift;
} tiny_mean_params;

tiny_status tiny_mean_s8(const tiny_mean_params *params, const tiny_dims *in_dims, const int8_t *in,
                         int8_t *out);

/* SOFTMAX over the innermost dim (int8 in, int8 out with scale 1/256 and zero point -128). */
typedef struct {
    int32_t input_multiplier;
    int32_t input_left_shift;
    int32_t diff_min;
} tiny_softmax_params;

tiny_status tiny_softmax_s8(const tiny_softmax_params *params, int32_t num_rows, int32_t row_size,
                            const int8_t *in, int8_t *out);

/* LOGISTIC (int8 in, int8 out with scale 1/256 and zero point -128). */
typedef struct {
    int32_t input_zero_point;
    int32_t input_range_radius;
    int32_t input_multiplier;
    int32_t input_left_shift;
} tiny_logistic_params;

tiny_status tiny_logistic_s8(const tiny_logistic_params *params, int32_t size, const int8_t *in,
                             int8_t *out);

/* HARD_SWISH: x * relu6(x + 3) / 6 with TFLite's int16 fixed-point pipeline. */
typedef struct {
    int32_t input_zero_point;
    int32_t output_zero_point;
    int32_t reluish_multiplier;   /* int16 fixed-point multiplier */
    int32_t reluish_exponent;
    int32_t output_multiplier;    /* int16 fixed-point multiplier */
    int32_t output_exponent;      /* <= 0 */
} tiny_hard_swish_params;

tiny_status tiny_hard_swish_s8(const tiny_hard_swish_params *params, int32_t size, const int8_t *in,
                               int8_t *out);
#endif
