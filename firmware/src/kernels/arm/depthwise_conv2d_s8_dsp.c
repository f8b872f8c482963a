/* DEPTHWISE_CONV_2D (depth multiplier 1, no dilation), channel by channel: same arguments and
 * results as tiny_depthwise_conv2d_s8 / tiny_depthwise_conv2d_s8_inplace. Other cases are handed
 * to the portable kernels.
 *
 * One channel at a time, so its weights, bias and requantization constants live in registers.
 * Output pixels whose window lies fully inside the input (the interior) take the fast path: the
 * input offset is folded into the bias (bias + offset * sum w), 3x3 windows are fully unrolled,
 * pairs of taps packed (PKHBT) and accumulated with SMLAD (9 MACs in 4 SMLAD + 1 MLA). Border
 * pixels (including windows that start inside the buffer, i.e. negative padding of patch
 * windows) skip the taps outside the input exactly as the portable kernel does; no padded tensor
 * is materialised. Any stride. */
#include "arm_common.h"
#include "tiny/kernels_arm.h"

#ifdef TINY_ARM_DSP
#define TINY_DW_MAX_TAPS 64

typedef struct {
    const int8_t *in;
    int32_t in_h, in_w, ch;
    int32_t k_h, k_w, s_h, s_w, pad_h, pad_w;
    int32_t out_h, out_w;
    int32_t in_off, out_off, lo, hi;
} dw_geo;

/* Accumulator of one output pixel whose window sticks out of the input: only the taps inside
 * the input, with the input offset added per tap (as the portable kernel). */
static int32_t dw_border(const dw_geo *g, const int8_t *in_c, const int32_t *w, int32_t bias, int32_t y0,
                         int32_t x0) {
    const int32_t ky0 = y0 < 0 ? -y0 : 0, ky1 = g->in_h - y0 < g->k_h ? g->in_h - y0 : g->k_h;
    const int32_t kx0 = x0 < 0 ? -x0 : 0, kx1 = g->in_w - x0 < g->k_w ? g->in_w - x0 : g->k_w;
    const int32_t ch = g->ch, in_off = g->in_off;
    int32_t acc = bias;
    for (int32_t ky = ky0; ky < ky1; ++ky) {
        const int8_t *p = in_c + ((y0 + ky) * g->in_w + x0) * ch;
        const int32_t *wk = w + ky * g->k_w;
        for (int32_t kx = kx0; kx < kx1; ++kx) acc += wk[kx] * ((int32_t)p[kx * ch] + in_off);
    }
    return acc;
}

/* One channel c: writes out_h * out_w results to dst[i * dst_stride]. Two passes per strip of
 * up to TINY_STRIP output pixels of a row: accumulate into acc[], then requantize. */
static void dw_channel(const dw_geo *g, int32_t c, const int8_t *filter, int32_t f_stride, int32_t bias,
                       int32_t multiplier, int32_t shift, int8_t *dst, int32_t dst_stride) {
    const int32_t ch = g->ch, in_w = g->in_w, in_h = g->in_h, k_h = g->k_h, k_w = g->k_w;
    const int32_t taps = k_h * k_w;
    int32_t w[TINY_DW_MAX_TAPS];
    int32_t acc[TINY_STRIP];
    int32_t wsum = 0;
    for (int32_t t = 0; t < taps; ++t) {
        w[t] = filter[t * f_stride + c];
        wsum += w[t];
    }
    const int32_t base = bias + g->in_off * wsum;
    const int8_t *in_c = g->in + c;
    const int32_t row = in_w * ch;
    /* Interior output columns: x0 = ox * s_w - pad_w >= 0 and x0 + k_w <= in_w. */
    int32_t ox_lo = g->pad_w > 0 ? (g->pad_w + g->s_w - 1) / g->s_w : 0;
    int32_t ox_hi = in_w - k_w + g->pad_w >= 0 ? (in_w - k_w + g->pad_w) / g->s_w + 1 : 0;
    if (ox_hi > g->out_w) ox_hi = g->out_w;
    if (ox_lo > ox_hi) ox_lo = ox_hi;
    const int is3x3 = k_h == 3 && k_w == 3;
    int32_t w01 = 0, w23 = 0, w45 = 0, w67 = 0, w8 = 0;
    if (is3x3) {
        w01 = tiny_pack16(w[0], w[1]);
        w23 = tiny_pack16(w[2], w[3]);
        w45 = tiny_pack16(w[4], w[5]);
        w67 = tiny_pack16(w[6], w[7]);
        w8 = w[8];
    }
    const int32_t step = g->s_w * ch;
    int8_t *d = dst;

    for (int32_t oy = 0; oy < g->out_h; ++oy) {
        const int32_t y0 = oy * g->s_h - g->pad_h;
        const int row_inside = y0 >= 0 && y0 + k_h <= in_h;
        for (int32_t s0 = 0; s0 < g->out_w; s0 += TINY_STRIP) {
            const int32_t s1 = s0 + TINY_STRIP < g->out_w ? s0 + TINY_STRIP : g->out_w;
            int32_t *a = acc;
            int32_t ox = s0;
            const int32_t i_lo = row_inside ? (ox_lo > s0 ? ox_lo : s0) : s1;
            const int32_t i_hi = row_inside ? (ox_hi < s1 ? ox_hi : s1) : s1;
            for (; ox < i_lo; ++ox) *a++ = dw_border(g, in_c, w, bias, y0, ox * g->s_w - g->pad_w);
            if (ox < i_hi) {
                const int8_t *p = in_c + y0 * row + (ox * g->s_w - g->pad_w) * ch;
                if (is3x3) {
                    const int32_t ch2 = 2 * ch;
                    for (; ox < i_hi; ++ox, p += step) {
                        const int8_t *q = p;
                        int32_t v = base;
                        v = tiny_smlad(tiny_pkhbt(q[0], q[ch]), w01, v);
                        v = tiny_smlad(tiny_pkhbt(q[ch2], q[row]), w23, v);
                        q += row;
                        v = tiny_smlad(tiny_pkhbt(q[ch], q[ch2]), w45, v);
                        q += row;
                        v = tiny_smlad(tiny_pkhbt(q[0], q[ch]), w67, v);
                        v += q[ch2] * w8;
                        *a++ = v;
                    }
                } else {
                    for (; ox < i_hi; ++ox, p += step) {
                        int32_t v = base;
                        const int8_t *q = p;
                        for (int32_t ky = 0; ky < k_h; ++ky, q += row) {
                            const int32_t *wk = w + ky * k_w;
                            for (int32_t kx = 0; kx < k_w; ++kx) v += wk[kx] * q[kx * ch];
                        }
                        *a++ = v;
                    }
                }
            }
            for (; ox < s1; ++ox) *a++ = dw_border(g, in_c, w, bias, y0, ox * g->s_w - g->pad_w);
            tiny_arm_requant_strip(acc, s1 - s0, multiplier, shift, g->out_off, g->lo, g->hi, d, dst_stride);
            d += (s1 - s0) * dst_stride;
        }
    }
}

static int dw_supported(const tiny_dw_conv_params *params, const tiny_dims *input_dims,
                        const tiny_dims *filter_dims, const tiny_dims *output_dims) {
    return params && input_dims && filter_dims && output_dims && params->ch_mult == 1 &&
           params->dilation.h == 1 && params->dilation.w == 1 && params->stride.h > 0 &&
           params->stride.w > 0 && input_dims->n == 1 && output_dims->n == 1 &&
           output_dims->c == input_dims->c && filter_dims->c == input_dims->c &&
           filter_dims->h * filter_dims->w <= TINY_DW_MAX_TAPS;
}

static void dw_geo_init(dw_geo *g, const tiny_dw_conv_params *params, const tiny_dims *input_dims,
                        const int8_t *input, const tiny_dims *filter_dims, const tiny_dims *output_dims) {
    g->in = input;
    g->in_h = input_dims->h;
    g->in_w = input_dims->w;
    g->ch = input_dims->c;
    g->k_h = filter_dims->h;
    g->k_w = filter_dims->w;
    g->s_h = params->stride.h;
    g->s_w = params->stride.w;
    g->pad_h = params->padding.h;
    g->pad_w = params->padding.w;
    g->out_h = output_dims->h;
    g->out_w = output_dims->w;
    g->in_off = params->input_offset;
    g->out_off = params->output_offset;
    g->lo = params->activation.min;
    g->hi = params->activation.max;
}

tiny_status tiny_depthwise_conv2d_s8_dsp(const tiny_ctx *ctx, const tiny_dw_conv_params *params,
                                         const tiny_per_channel_quant *quant, const tiny_dims *input_dims,
                                         const int8_t *input, const tiny_dims *filter_dims,
                                         const int8_t *filter, const tiny_dims *bias_dims,
                                         const int32_t *bias, const tiny_dims *output_dims, int8_t *output) {
    if (!quant || !input || !filter || !output || !dw_supported(params, input_dims, filter_dims, output_dims)) {
        return tiny_depthwise_conv2d_s8(ctx, params, quant, input_dims, input, filter_dims, filter, bias_dims,
                                        bias, output_dims, output);
    }
    dw_geo g;
    dw_geo_init(&g, params, input_dims, input, filter_dims, output_dims);
    for (int32_t c = 0; c < g.ch; ++c) {
        dw_channel(&g, c, filter, g.ch, bias ? bias[c] : 0, quant->multiplier[c], quant->shift[c],
                   output + c, g.ch);
    }
    return TINY_OK;
}

tiny_status tiny_depthwise_conv2d_s8_3x3(const tiny_ctx *ctx, const tiny_dw_conv_params *params,
                                         const tiny_per_channel_quant *quant, const tiny_dims *input_dims,
                                         const int8_t *input, const tiny_dims *filter_dims,
                                         const int8_t *filter, const tiny_dims *bias_dims,
                                         const int32_t *bias, const tiny_dims *output_dims, int8_t *output) {
    return tiny_depthwise_conv2d_s8_dsp(ctx, params, quant, input_dims, input, filter_dims, filter, bias_dims,
                                        bias, output_dims, output);
}

/* In place: channel c goes to the one-channel scratch, then to its NHWC slots (see
 * depthwise_conv2d_inplace_s8.c for why this is safe). Same scratch as the portable kernel. */
tiny_status tiny_depthwise_conv2d_s8_inplace_dsp(const tiny_ctx *ctx, const tiny_dw_conv_params *params,
                                                 const tiny_per_channel_quant *quant,
                                                 const tiny_dims *input_dims, const int8_t *input,
                                                 const tiny_dims *filter_dims, const int8_t *filter,
                                                 const tiny_dims *bias_dims, const int32_t *bias,
                                                 const tiny_dims *output_dims, int8_t *output) {
    if (!ctx || !ctx->buf || !quant || !input || !filter || !output ||
        !dw_supported(params, input_dims, filter_dims, output_dims) ||
        ctx->size < output_dims->h * output_dims->w) {
        return tiny_depthwise_conv2d_s8_inplace(ctx, params, quant, input_dims, input, filter_dims, filter,
                                                bias_dims, bias, output_dims, output);
    }
    dw_geo g;
    dw_geo_init(&g, params, input_dims, input, filter_dims, output_dims);
    int8_t *col = (int8_t *)ctx->buf;
    const int32_t n = g.out_h * g.out_w, ch = g.ch;
    for (int32_t c = 0; c < ch; ++c) {
        dw_channel(&g, c, filter, ch, bias ? bias[c] : 0, quant->multiplier[c], quant->shift[c],
                   col, 1);
        int8_t *o = output + c;
        int32_t i = 0;
        for (; i + 4 <= n; i += 4, o += 4 * ch) {
            o[0] = col[i];
            o[ch] = col[i + 1];
            o[2 * ch] = col[i + 2];
            o[3 * ch] = col[i + 3];
        }
        for (; i < n; ++i, o += ch) *o = col[i];
    }
    return TINY_OK;
}

tiny_status tiny_depthwise_conv2d_s8_inplace_3x3(const tiny_ctx *ctx, const tiny_dw_conv_params *params,
                                                 const tiny_per_channel_quant *quant,
                                                 const tiny_dims *input_dims, const int8_t *input,
                                                 const tiny_dims *filter_dims, const int8_t *filter,
                                                 const tiny_dims *bias_dims, const int32_t *bias,
                                                 const tiny_dims *output_dims, int8_t *output) {
    return tiny_depthwise_conv2d_s8_inplace_dsp(ctx, params, quant, input_dims, input, filter_dims, filter,
                                                bias_dims, bias, output_dims, output);
}
#endif
