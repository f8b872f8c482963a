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
#endif
