/* Kernels that overwrite their input (planned by tiny/memory/inplace.py). */
#ifndef TINY_KERNELS_INPLACE_H
#define TINY_KERNELS_INPLACE_H
#include "tiny/types.h"
#include "tiny/kernels_conv.h"

/* Same arguments as tiny_depthwise_conv2d_s8; input and output point into one buffer of
 * max(input, output) bytes; ctx->buf holds one output channel (see _get_buffer_size). */
tiny_status tiny_depthwise_conv2d_s8_inplace(const tiny_ctx *ctx, const tiny_dw_conv_params *params,
                                             const tiny_per_channel_quant *quant,
                                             const tiny_dims *input_dims, const int8_t *input,
                                             const tiny_dims *filter_dims, const int8_t *filter,
                                             const tiny_dims *bias_dims, const int32_t *bias,
                                             const tiny_dims *output_dims, int8_t *output);
int32_t tiny_depthwise_conv2d_s8_inplace_get_buffer_size(const tiny_dims *output_dims);
#endif
