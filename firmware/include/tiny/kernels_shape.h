/* Data-movement and reduction kernels that never requantize: TRANSPOSE, REDUCE_MAX, SPLIT,
 * RESIZE_NEAREST_NEIGHBOR, RESIZE_BILINEAR, SLICE / STRIDED_SLICE. Shapes are NHWC (lower ranks extended by leading 1s at
 * compile time, as TFLM's ExtendedShape). Every constant comes from tiny/reference/<op>.py. */
#ifndef TINY_KERNELS_SHAPE_H
#define TINY_KERNELS_SHAPE_H
#include "tiny/types.h"

/* TRANSPOSE: out[i0][i1][i2][i3] = in[...] with output axis k taken from input axis perm[k]. */
typedef struct {
    int32_t perm[4];
} tiny_transpose_params;

tiny_status tiny_transpose_s8(const tiny_transpose_params *params, const tiny_dims *in_dims,
                              const int8_t *in, int8_t *out);

/* REDUCE_MAX over the dims selected by axis_mask (bit 0 = n, 1 = h, 2 = w, 3 = c); input and output
 * share their quantization (TFLM requires it), so the result is the largest raw value. */
typedef struct {
    int32_t axis_mask;
} tiny_reduce_max_params;

tiny_status tiny_reduce_max_s8(const tiny_reduce_max_params *params, const tiny_dims *in_dims,
                               const int8_t *in, int8_t *out);

/* RESIZE_NEAREST_NEIGHBOR / RESIZE_BILINEAR over h and w (n and c match the output). */
typedef struct {
    int32_t align_corners;
    int32_t half_pixel_centers;
} tiny_resize_params;

tiny_status tiny_resize_nearest_neighbor_s8(const tiny_resize_params *params, const tiny_dims *in_dims,
                                            const int8_t *in, const tiny_dims *out_dims, int8_t *out);
tiny_status tiny_resize_bilinear_s8(const tiny_resize_params *params, const tiny_dims *in_dims,
                                    const int8_t *in, const tiny_dims *out_dims, int8_t *out);

/* SLICE / STRIDED_SLICE: out[i] = in[begin + i * stride] per dim (strides may be negative); the
 * output dims give the extent. */
typedef struct {
    int32_t begin[4];
    int32_t stride[4];
} tiny_slice_params;

tiny_status tiny_slice_s8(const tiny_slice_params *params, const tiny_dims *in_dims, const int8_t *in,
                          const tiny_dims *out_dims, int8_t *out);

/* SPLIT / SPLIT_V / UNPACK, one call per output: the input is `outer` rows of `input_size` bytes;
 * this output takes `output_size` bytes of each row starting at byte `offset` (the mirror image
 * of tiny_concat_params). A byte copy: TFLM never requantizes these ops. */
typedef struct {
    int32_t outer;
    int32_t input_size;
    int32_t output_size;
    int32_t offset;
} tiny_split_params;

tiny_status tiny_split_s8(const tiny_split_params *params, const int8_t *input, int8_t *output);

/* Training firmware, a layer whose frozen output channels stay in flash: it runs as two kernel
 * calls writing [rows x a] then [rows x b] contiguously into `data`; this interleaves them in place
 * into NHWC [rows x (a + b)]. `scratch` holds rows * a bytes (planned in the arena). */
tiny_status tiny_interleave_channels_s8(int8_t *data, int32_t rows, int32_t a, int32_t b, int8_t *scratch);
#endif
