/* TRANSPOSE_CONV (tiny/reference/transpose_conv.py): CMSIS-NN argument order, the convolution's
 * parameter structs (dilation unused: always 1). */
#ifndef TINY_KERNELS_CONV_EXT_H
#define TINY_KERNELS_CONV_EXT_H
#include "tiny/kernels_conv.h"

/* out[y][x][o] = clamp(output_offset + requantize_o(bias[o] + sum over (ky, kx, i) with
 * y = in_y * stride_h - pad_top + ky (same for x) of (in + input_offset) * filter[o][ky][kx][i])).
 * filter_dims = {O, KH, KW, I}; bias may be NULL. No scratch (ctx may be NULL). */
tiny_status tiny_transpose_conv_s8(const tiny_ctx *ctx, const tiny_conv_params *params,
                                   const tiny_per_channel_quant *quant, const tiny_dims *in_dims, const int8_t *in,
                                   const tiny_dims *filter_dims, const int8_t *filter, const tiny_dims *bias_dims,
                                   const int32_t *bias, const tiny_dims *out_dims, int8_t *out);
/* SVDF, int8 input / output with int16 time weights and activation state (TFLM's
 * EvalIntegerSvdfReference<int16_t>). `state` [batch][filters][memory] is updated in place and must
 * survive between calls. multiplier1/shift1 scale the feature dot products into the state,
 * multiplier2/shift2 the time dot products (plus bias) into the output; each unit sums `rank`
 * consecutive filters. No scratch: a unit's filters are reduced as they are computed. */
typedef struct {
    int32_t batch, input_size, filters, memory, rank;
    int32_t input_offset;       /* -input zero point */
    int32_t state_zp, output_zp;
    int32_t multiplier1, shift1, multiplier2, shift2;
} tiny_svdf_params;

tiny_status tiny_svdf_s8(const tiny_svdf_params *params, const int8_t *input, const int8_t *weights_feature,
                         const int16_t *weights_time, const int32_t *bias, int16_t *state, int8_t *output);
#endif
