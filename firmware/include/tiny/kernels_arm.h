/* Cortex-M DSP kernels (firmware/src/kernels/arm/): drop-in replacements of portable kernels.
 *
 * Each has exactly the signature and the results of the portable kernel it replaces (tiny_lut_s8,
 * for HARD_SWISH and LOGISTIC, has its own: it is handed the op's 256 results, computed by the code
 * generator); tiny/emit/select.py picks them per op at compile time for boards with the DSP
 * extension (Armv7E-M, Armv8-M Mainline + DSP). They are only defined when __ARM_FEATURE_DSP is
 * set. A call whose arguments fall outside the fast path (geometry, grouping, broadcast...) is
 * handed to the portable kernel inside, so any call is correct. None needs planned scratch except
 * what the portable kernel they replace needs (in-place depthwise: one output channel); the
 * temporaries are bounded stack buffers (at most ~4.2 KiB: depthwise row buffer (2.6 KiB) + accumulators,
 * first-conv padded weights, FC pre-extended input chunk), independent of the model.
 *
 * Requantization: when a kernel can bound its accumulators by 2^30 (|bias| + 128 * sum |w|), it uses
 * SMMULR(2 acc, m) = SaturatingRoundingDoublingHighMul exactly, and folds the rounding constant and
 * the output offset into one add (firmware/src/kernels/arm/requant_strip.c); otherwise the
 * general exact form. */
#ifndef TINY_KERNELS_ARM_H
#define TINY_KERNELS_ARM_H
#include "tiny/types.h"
#include "tiny/kernels_conv.h"
#include "tiny/kernels_elementwise.h"
#include "tiny/kernels_shape.h"

#define TINY_CONV_ARGS                                                                              \
    const tiny_ctx *ctx, const tiny_conv_params *params, const tiny_per_channel_quant *quant,      \
        const tiny_dims *input_dims, const int8_t *input, const tiny_dims *filter_dims,             \
        const int8_t *filter, const tiny_dims *bias_dims, const int32_t *bias,                      \
        const tiny_dims *output_dims, int8_t *output
#define TINY_DW_ARGS                                                                                \
    const tiny_ctx *ctx, const tiny_dw_conv_params *params, const tiny_per_channel_quant *quant,   \
        const tiny_dims *input_dims, const int8_t *input, const tiny_dims *filter_dims,             \
        const int8_t *filter, const tiny_dims *bias_dims, const int32_t *bias,                      \
        const tiny_dims *output_dims, int8_t *output

/* 1x1 pointwise conv, stride 1, no padding (2 channels x 2 pixels SMLAD blocks). in_c a multiple of 4
 * up to 256 with the full int8 output range: pixel pairs widened once to int16 on the stack (1 KiB)
 * and shared by a chunk of 64 output channels (1 KiB of constants), requantization fused; otherwise
 * channel pairs over accumulator strips (in_c 8/16/32 fully unrolled, 8 and 32 fused). No scratch. */
tiny_status tiny_conv2d_s8_1x1(TINY_CONV_ARGS);
/* Conv with k_h * k_w * in_c <= 160 (first conv over RGB or gray): per-pixel im2col on the stack,
 * weights zero-padded to a multiple of 4 and split into SXTB16 pairs once per call, 3x3x1 and 3x3x3
 * fully unrolled, requantization constants hoisted. */
tiny_status tiny_conv2d_s8_rgb(TINY_CONV_ARGS);
tiny_status tiny_conv2d_s8_dsp(TINY_CONV_ARGS);
/* Any kernel size / stride / padding (groups 1, no dilation): two-pixel int8 im2col (taps outside
 * the input = the zero point), input offset folded into the bias, 2x2 SMLAD GEMM blocks, fused
 * requantization. Scratch: 5 * ceil4(k_h k_w in_c) + 16 out_c bytes, on the stack up to
 * TINY_GEMM_STACK (then _get_buffer_size is 0), otherwise planned (+ 4 for alignment). */
#define TINY_GEMM_STACK 2048
tiny_status tiny_conv2d_s8_gemm(TINY_CONV_ARGS);
int32_t tiny_conv2d_s8_gemm_get_buffer_size(const tiny_dims *input_dims, const tiny_dims *filter_dims,
                                            const tiny_dims *output_dims);
/* Depthwise, depth multiplier 1, any kernel size, any stride. 3x3: small images 4 channels at a time
 * (SXTB16-split planes, SMLABB/SMLATT), otherwise channel by channel through padded int16 row
 * buffers (SMLAD over tap pairs, borders = pad value -input_offset, no border code). */
tiny_status tiny_depthwise_conv2d_s8_3x3(TINY_DW_ARGS);
tiny_status tiny_depthwise_conv2d_s8_dsp(TINY_DW_ARGS);
/* Depthwise, depth multiplier 1, channels a multiple of 4, up to 64 taps (3x3, 5x5, 7x7), any stride /
 * padding: NHWC, 4 channels per load (SMLABB / SMLATT), weights split and constants hoisted per
 * channel group; the in-place one (input == output) writes results through a small delay ring. */
tiny_status tiny_depthwise_conv2d_s8_c4(TINY_DW_ARGS);
tiny_status tiny_depthwise_conv2d_s8_inplace_c4(TINY_DW_ARGS);
/* Depthwise through whole-channel int16 planes (the padded plane of one input channel fits 1296 int16),
 * square 3x3 / 5x5 / 7x7 kernels, column stride 1 or 2: 4 outputs per step, SMLAD over weight pairs.
 * _kxk / _inplace_kxk: depth multiplier 1 (else the c4 kernels); _mult: any depth multiplier, each
 * input channel gathered once for its output channels (else the portable kernel). No scratch. */
tiny_status tiny_depthwise_conv2d_s8_kxk(TINY_DW_ARGS);
tiny_status tiny_depthwise_conv2d_s8_inplace_kxk(TINY_DW_ARGS);
tiny_status tiny_depthwise_conv2d_s8_mult(TINY_DW_ARGS);
/* In-place variants (arguments and scratch of tiny_depthwise_conv2d_s8_inplace). */
tiny_status tiny_depthwise_conv2d_s8_inplace_3x3(TINY_DW_ARGS);
tiny_status tiny_depthwise_conv2d_s8_inplace_dsp(TINY_DW_ARGS);

tiny_status tiny_fully_connected_s8_dsp(const tiny_ctx *ctx, const tiny_fc_params *params,
                                        const tiny_per_channel_quant *quant, const tiny_dims *input_dims,
                                        const int8_t *input, const tiny_dims *filter_dims,
                                        const int8_t *filter, const tiny_dims *bias_dims,
                                        const int32_t *bias, const tiny_dims *output_dims, int8_t *output);

/* MAX_POOL_2D, 4 channels per word (SSUB8 + SEL per tap), 2x2 windows unrolled; fewer than 4 channels:
 * the portable kernel. No scratch. */
tiny_status tiny_max_pool_s8_dsp(const tiny_ctx *ctx, const tiny_pool_params *params, const tiny_dims *input_dims,
                                 const int8_t *input, const tiny_dims *filter_dims, const tiny_dims *output_dims,
                                 int8_t *output);

/* RESIZE_BILINEAR with the four-corner sum in int32 (vertical then horizontal blend, MUL/MLA; the
 * portable kernel sums int64 products). No scratch. */
tiny_status tiny_resize_bilinear_s8_dsp(const tiny_resize_params *params, const tiny_dims *in_dims, const int8_t *in,
                                        const tiny_dims *out_dims, int8_t *out);

/* RESIZE_NEAREST_NEIGHBOR (column offsets once per call, output widths up to 256) and CONCATENATION
 * (runs up to 256 bytes) with inline word copies instead of a memcpy call per pixel. No scratch. */
tiny_status tiny_resize_nearest_neighbor_s8_dsp(const tiny_resize_params *params, const tiny_dims *in_dims,
                                                const int8_t *in, const tiny_dims *out_dims, int8_t *out);
tiny_status tiny_concatenation_s8_dsp(const tiny_concat_params *params, const int8_t *input, int8_t *output);

/* HARD_SWISH / LOGISTIC (any element-wise int8 -> int8 op): output[i] = table[(uint8_t)input[i]], the
 * op's 256 results computed at compile time; in place allowed (input == output). */
tiny_status tiny_lut_s8(const int8_t *table, int32_t size, const int8_t *input, int8_t *output);

/* Elements from which tiny_add_s8_dsp tabulates the input rescales in ctx (2 x 256 int32, + 4 for
 * alignment); smaller calls, or a smaller buffer, take the direct path. */
#define TINY_ADD_LUT_MIN 256
#define TINY_ADD_LUT_BYTES (2 * 256 * 4 + 4)
int32_t tiny_add_s8_dsp_get_buffer_size(const tiny_dims *out_dims);
tiny_status tiny_add_s8_dsp(const tiny_ctx *ctx, const tiny_add_params *params, const tiny_dims *in1_dims,
                            const int8_t *in1, const tiny_dims *in2_dims, const int8_t *in2,
                            const tiny_dims *out_dims, int8_t *out);

/* MUL: equal shapes, a per-channel [1,1,1,C] or scalar operand (either side); else tiny_mul_s8. */
tiny_status tiny_mul_s8_dsp(const tiny_mul_params *params, const tiny_dims *in1_dims, const int8_t *in1,
                            const tiny_dims *in2_dims, const int8_t *in2, const tiny_dims *out_dims, int8_t *out);

/* MEAN / SUM over H and W (C kept, N either way); other axis sets: tiny_mean_s8. */
tiny_status tiny_mean_s8_dsp(const tiny_mean_params *params, const tiny_dims *in_dims, const int8_t *in,
                             int8_t *out);

/* AVERAGE_POOL_2D: windows of <= 256 pixels, >= 4 channels; else tiny_avg_pool_s8. */
tiny_status tiny_avg_pool_s8_dsp(const tiny_ctx *ctx, const tiny_pool_params *params, const tiny_dims *input_dims,
                                 const int8_t *input, const tiny_dims *filter_dims, const tiny_dims *output_dims,
                                 int8_t *output);

#undef TINY_CONV_ARGS
#undef TINY_DW_ARGS
#endif
