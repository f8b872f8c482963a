/* Convolution, fully connected, pooling and data-movement kernels (int8, TFLM bit-exact).
 *
 * Argument order follows CMSIS-NN: ctx, params, quant, then (dims, data) pairs, output last.
 * Windowed kernels take explicit top/left padding and arbitrary input/output dims, never a
 * "SAME" flag: bottom/right padding is whatever the output dims make the last window reach past
 * the input, so a kernel can run on any patch of a feature map.
 * Shapes are NHWC; filters of conv are {n = out_ch, h, w, c = in_ch per group}, depthwise filters
 * are {1, h, w, in_ch * ch_mult}, fully connected weights are {n = out_ch, 1, 1, c = accum depth}.
 * The reference kernels need no scratch memory (ctx may be NULL or empty). */
#ifndef TINY_KERNELS_CONV_H
#define TINY_KERNELS_CONV_H
#include <stdint.h>
#include "tiny/types.h"

typedef struct {
    int32_t h, w;
} tiny_tile;

/* Clamp bounds of the output (fused activation), in output quantized units. */
typedef struct {
    int32_t min, max;
} tiny_activation;

typedef struct {
    int32_t input_offset;   /* -input zero point */
    int32_t output_offset;  /* output zero point */
    tiny_tile stride;
    tiny_tile padding;      /* top (h) and left (w) padding */
    tiny_tile dilation;
    tiny_activation activation;
} tiny_conv_params;

typedef struct {
    int32_t input_offset;
    int32_t output_offset;
    int32_t ch_mult;        /* depth multiplier: output channel = in_ch * ch_mult + m */
    tiny_tile stride;
    tiny_tile padding;
    tiny_tile dilation;
    tiny_activation activation;
} tiny_dw_conv_params;

typedef struct {
    int32_t input_offset;
    int32_t filter_offset;  /* -weights zero point (0 for per-channel weights) */
    int32_t output_offset;
    tiny_activation activation;
} tiny_fc_params;

typedef struct {
    tiny_tile stride;
    tiny_tile padding;
    tiny_activation activation;
} tiny_pool_params;

typedef struct {
    tiny_dims before;       /* padding before each NHWC axis; after follows from output dims */
    int32_t pad_value;
} tiny_pad_params;

/* One input of a concatenation: `outer` chunks of `input_size` bytes, written to the output every
 * `output_size` bytes starting at byte `offset`. */
typedef struct {
    int32_t outer;
    int32_t input_size;
    int32_t output_size;
    int32_t offset;
} tiny_concat_params;

typedef struct {
    int32_t input_offset;
    int32_t output_offset;
    int32_t multiplier;
    int32_t shift;
} tiny_requantize_params;

typedef struct {
    float scale;
    int32_t zero_point;
} tiny_affine_params;

/* Grouped convolution when input_dims->c is a multiple of filter_dims->c. bias may be NULL. */
tiny_status tiny_conv2d_s8(const tiny_ctx *ctx, const tiny_conv_params *params,
                           const tiny_per_channel_quant *quant, const tiny_dims *input_dims,
                           const int8_t *input, const tiny_dims *filter_dims, const int8_t *filter,
                           const tiny_dims *bias_dims, const int32_t *bias,
                           const tiny_dims *output_dims, int8_t *output);

tiny_status tiny_depthwise_conv2d_s8(const tiny_ctx *ctx, const tiny_dw_conv_params *params,
                                     const tiny_per_channel_quant *quant, const tiny_dims *input_dims,
                                     const int8_t *input, const tiny_dims *filter_dims,
                                     const int8_t *filter, const tiny_dims *bias_dims,
                                     const int32_t *bias, const tiny_dims *output_dims, int8_t *output);

/* input {n = batches, c = accum depth}; output {n = batches, c = out_ch}. Per-tensor weights are
 * passed as per-channel tables holding the same value. */
tiny_status tiny_fully_connected_s8(const tiny_ctx *ctx, const tiny_fc_params *params,
                                    const tiny_per_channel_quant *quant, const tiny_dims *input_dims,
                                    const int8_t *input, const tiny_dims *filter_dims,
                                    const int8_t *filter, const tiny_dims *bias_dims,
                                    const int32_t *bias, const tiny_dims *output_dims, int8_t *output);

/* filter_dims: {1, window h, window w, 1}. Fails (TINY_ERR_ARG) on a window with no input pixel. */
tiny_status tiny_avg_pool_s8(const tiny_ctx *ctx, const tiny_pool_params *params,
                             const tiny_dims *input_dims, const int8_t *input,
                             const tiny_dims *filter_dims, const tiny_dims *output_dims, int8_t *output);

tiny_status tiny_max_pool_s8(const tiny_ctx *ctx, const tiny_pool_params *params,
                             const tiny_dims *input_dims, const int8_t *input,
                             const tiny_dims *filter_dims, const tiny_dims *output_dims, int8_t *output);

tiny_status tiny_pad_s8(const tiny_pad_params *params, const tiny_dims *input_dims, const int8_t *input,
                        const tiny_dims *output_dims, int8_t *output);

/* A byte copy of `size` bytes (any element type); input == output is allowed. */
tiny_status tiny_reshape_s8(const int8_t *input, int8_t *output, int32_t size);

/* Copies one input into its place in the output; called once per input. Byte based. */
tiny_status tiny_concatenation_s8(const tiny_concat_params *params, const int8_t *input, int8_t *output);

/* int8 -> int8 with new scale / zero point (QUANTIZE int8 -> int8). */
tiny_status tiny_requantize_s8(const tiny_requantize_params *params, const int8_t *input,
                               int8_t *output, int32_t size);

/* QUANTIZE uint8 -> int8 and int8 -> uint8 (a model's uint8 input / output): the same arithmetic,
 * clamped to the output type. */
tiny_status tiny_requantize_u8_s8(const tiny_requantize_params *params, const uint8_t *input,
                                  int8_t *output, int32_t size);
tiny_status tiny_requantize_s8_u8(const tiny_requantize_params *params, const int8_t *input,
                                  uint8_t *output, int32_t size);

/* QUANTIZE float32 -> int8: round(x / scale) half away from zero, + zero point, saturated. */
tiny_status tiny_quantize_f32_s8(const tiny_affine_params *params, const float *input, int8_t *output,
                                 int32_t size);

/* DEQUANTIZE int8 -> float32: scale * (x - zero point). */
tiny_status tiny_dequantize_s8_f32(const tiny_affine_params *params, const int8_t *input, float *output,
                                   int32_t size);
#endif
