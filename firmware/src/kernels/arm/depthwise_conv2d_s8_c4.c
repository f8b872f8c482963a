/* DEPTHWISE_CONV_2D, depth multiplier 1, channels a multiple of 4, any kernel size up to
 * TINY_DW_MAX_TAPS taps (3x3, 5x5, 7x7...), any stride and padding: NHWC, 4 channels per 32-bit
 * load. Same arguments and results as tiny_depthwise_conv2d_s8 (and, with input == output, as the
 * in-place kernel); other calls go to tiny_depthwise_conv2d_s8_dsp / _inplace_dsp.
 *
 * Channel groups of 4 are the outer loop: their weights are split once into SXTB16 halves (E =
 * channels c, c+2, O = c+1, c+3; <= 2 x 64 words on the stack), the input offset is folded into
 * the bias (bias + input_offset * sum w) and the requantization constants are hoisted. Each tap is
 * then one LDR of 4 input channels, SXTB16 / SXTB16 ROR 8, and SMLABB / SMLATT per channel. Taps
 * outside the input read a word of zero points (-input_offset), which with the folded bias
 * contributes exactly 0, as the portable kernel's skip.
 *
 * In place (output == input): writing output pixel q overwrites input pixel q of the group's 4
 * channels, which output pixels up to q + D may still read (D = max over pixels q' of q' minus the
 * first input pixel q' reads). Results are held in a ring of D + 1 words and written D pixels
 * late; other channels are never touched. The ring is on the stack (<= TINY_DW4_RING words). */
#include "arm_common.h"
#include "tiny/kernels_arm.h"

#ifdef TINY_ARM_DSP
#define TINY_DW_MAX_TAPS 64
#define TINY_DW4_RING 512

TINY_INLINE int32_t smlabb(int32_t a, int32_t b, int32_t acc) { return __builtin_arm_smlabb(a, b, acc); }
TINY_INLINE int32_t smlatt(int32_t a, int32_t b, int32_t acc) { return __builtin_arm_smlatt(a, b, acc); }

/* Cheap exact requantization (requant_strip.c), clamped, as the low byte of the result. */
TINY_INLINE uint32_t dw4_q(int32_t acc, int32_t m, int32_t k, int32_t e, int32_t lo, int32_t hi) {
    const int32_t h = tiny_smmulr(acc * 2, m);
    int32_t r = (h + (h >> 31) + k) >> e;
    r = r < lo ? lo : r;
    r = r > hi ? hi : r;
    return (uint32_t)r & 0xFFu;
}

/* Largest q' - (first input pixel read by output pixel q') over all output pixels (>= 0). */
static int32_t dw4_delay(const tiny_dims *in, const tiny_dims *out, const tiny_dw_conv_params *p) {
    int32_t d = 0;
    for (int32_t oy = 0; oy < out->h; ++oy) {
        int32_t iy = oy * p->stride.h - p->padding.h;
        iy = iy < 0 ? 0 : iy;
        for (int32_t ox = 0; ox < out->w; ++ox) {
            int32_t ix = ox * p->stride.w - p->padding.w;
            ix = ix < 0 ? 0 : ix;
            const int32_t q = oy * out->w + ox, first = iy * in->w + ix;
            if (q - first > d) d = q - first;
        }
    }
    return d;
}

static int dw4_ok(const tiny_dw_conv_params *p, const tiny_per_channel_quant *quant, const tiny_dims *in,
                  const int8_t *input, const tiny_dims *f, const int8_t *filter, const tiny_dims *out,
                  const int8_t *output) {
    return p && quant && in && input && f && filter && out && output && p->ch_mult == 1 && p->dilation.h == 1 &&
           p->dilation.w == 1 && p->stride.h > 0 && p->stride.w > 0 && in->n == 1 && out->n == 1 &&
           out->c == in->c && f->c == in->c && in->c % 4 == 0 && f->h * f->w <= TINY_DW_MAX_TAPS &&
           p->input_offset >= -127 && p->input_offset <= 128;
}

static tiny_status dw4_run(const tiny_dw_conv_params *params, const tiny_per_channel_quant *quant,
                           const tiny_dims *input_dims, const int8_t *input, const tiny_dims *filter_dims,
                           const int8_t *filter, const int32_t *bias, const tiny_dims *output_dims, int8_t *output,
                           int32_t delay) {
    const int32_t in_h = input_dims->h, in_w = input_dims->w, ch = input_dims->c;
    const int32_t k_h = filter_dims->h, k_w = filter_dims->w, taps = k_h * k_w;
    const int32_t out_h = output_dims->h, out_w = output_dims->w;
    const int32_t sh = params->stride.h, sw = params->stride.w, ph = params->padding.h, pw = params->padding.w;
    const int32_t in_off = params->input_offset, out_off = params->output_offset;
    const int32_t lo = params->activation.min, hi = params->activation.max;
    const int8_t zp = (int8_t)(-in_off);
    const int32_t padword = (int32_t)(0x01010101u * (uint8_t)zp);
    int32_t we[TINY_DW_MAX_TAPS], wo[TINY_DW_MAX_TAPS];
    int32_t ring[TINY_DW4_RING];
    const int inplace = delay >= 0;
    for (int32_t c = 0; c < ch; c += 4) {
        int32_t fb[4], rk[4], m[4], e[4];
        int32_t s[4] = {0, 0, 0, 0}, sa[4] = {0, 0, 0, 0};
        for (int32_t t = 0; t < taps; ++t) {
            const int32_t v = tiny_ld32(filter + t * ch + c);
            we[t] = tiny_sxtb16(v);
            wo[t] = tiny_sxtb16_ror8(v);
            for (int32_t j = 0; j < 4; ++j) {
                const int32_t w = filter[t * ch + c + j];
                s[j] += w;
                sa[j] += w < 0 ? -w : w;
            }
        }
        int cheap = out_off >= -128 && out_off <= 127;
        for (int32_t j = 0; j < 4; ++j) {
            fb[j] = (bias ? bias[c + j] : 0) + in_off * s[j];
            m[j] = quant->multiplier[c + j];
            e[j] = -quant->shift[c + j];
            cheap &= tiny_acc_small(fb[j], sa[j]) && m[j] >= 0 && e[j] >= 1 && e[j] <= 22;
        }
        for (int32_t j = 0; j < 4; ++j) rk[j] = cheap ? (1 << (e[j] - 1)) + (int32_t)((uint32_t)out_off << e[j]) : 0;
        const int8_t *in_c = input + c;
        int32_t q = 0, wr = 0;
        for (int32_t oy = 0; oy < out_h; ++oy) {
            const int32_t y0 = oy * sh - ph;
            const int rows_in = y0 >= 0 && y0 + k_h <= in_h;
            for (int32_t ox = 0; ox < out_w; ++ox, ++q) {
                const int32_t x0 = ox * sw - pw;
                int32_t a0 = fb[0], a1 = fb[1], a2 = fb[2], a3 = fb[3];
                const int8_t *base = in_c + (y0 * in_w + x0) * ch;
                if (rows_in && x0 >= 0 && x0 + k_w <= in_w) {
                    const int32_t *pe = we, *po = wo;
                    for (int32_t ky = 0; ky < k_h; ++ky, base += in_w * ch) {
                        const int8_t *p = base;
                        for (int32_t kx = 0; kx < k_w; ++kx, p += ch, ++pe, ++po) {
                            const int32_t v = tiny_ld32(p);
                            const int32_t ve = tiny_sxtb16(v), vo = tiny_sxtb16_ror8(v);
                            a0 = smlabb(ve, *pe, a0);
                            a2 = smlatt(ve, *pe, a2);
                            a1 = smlabb(vo, *po, a1);
                            a3 = smlatt(vo, *po, a3);
                        }
                    }
                } else {
                    for (int32_t ky = 0, t = 0; ky < k_h; ++ky) {
                        const int32_t iy = y0 + ky;
                        for (int32_t kx = 0; kx < k_w; ++kx, ++t) {
                            const int32_t ix = x0 + kx;
                            const int32_t v = iy >= 0 && iy < in_h && ix >= 0 && ix < in_w
                                                  ? tiny_ld32(in_c + (iy * in_w + ix) * ch)
                                                  : padword;
                            const int32_t ve = tiny_sxtb16(v), vo = tiny_sxtb16_ror8(v);
                            a0 = smlabb(ve, we[t], a0);
                            a2 = smlatt(ve, we[t], a2);
                            a1 = smlabb(vo, wo[t], a1);
                            a3 = smlatt(vo, wo[t], a3);
                        }
                    }
                }
                uint32_t word;
                if (cheap) {
                    word = dw4_q(a0, m[0], rk[0], e[0], lo, hi) | dw4_q(a1, m[1], rk[1], e[1], lo, hi) << 8 |
                           dw4_q(a2, m[2], rk[2], e[2], lo, hi) << 16 | dw4_q(a3, m[3], rk[3], e[3], lo, hi) << 24;
                } else {
                    const int32_t acc[4] = {a0, a1, a2, a3};
                    word = 0;
                    for (int32_t j = 0; j < 4; ++j) {
                        const int32_t r = tiny_arm_out(acc[j], tiny_rq_make(m[j], -e[j]), out_off, lo, hi);
                        word |= ((uint32_t)r & 0xFFu) << (8 * j);
                    }
                }
                if (!inplace) {
                    memcpy(output + q * ch + c, &word, 4);
                    continue;
                }
                ring[wr] = (int32_t)word;          /* wr = q % (delay + 1) */
                wr = wr == delay ? 0 : wr + 1;     /* (q + 1) % (delay + 1): pixel q - delay's slot */
                if (q >= delay) memcpy(output + (q - delay) * ch + c, &ring[wr], 4);
            }
        }
        if (inplace) {   /* the last `delay` pixels */
            const int32_t n = out_h * out_w;
            for (int32_t r = n - delay < 0 ? 0 : n - delay; r < n; ++r) {
                memcpy(output + r * ch + c, &ring[r % (delay + 1)], 4);   /* once per channel group */
            }
        }
    }
    return TINY_OK;
}

tiny_status tiny_depthwise_conv2d_s8_c4(const tiny_ctx *ctx, const tiny_dw_conv_params *params,
                                        const tiny_per_channel_quant *quant, const tiny_dims *input_dims,
                                        const int8_t *input, const tiny_dims *filter_dims, const int8_t *filter,
                                        const tiny_dims *bias_dims, const int32_t *bias,
                                        const tiny_dims *output_dims, int8_t *output) {
    if (dw4_ok(params, quant, input_dims, input, filter_dims, filter, output_dims, output)) {
        const int8_t *in_end = input + input_dims->h * input_dims->w * input_dims->c;
        const int8_t *out_end = output + output_dims->h * output_dims->w * output_dims->c;
        if (out_end <= input || (const int8_t *)output >= in_end) {   /* disjoint buffers */
            return dw4_run(params, quant, input_dims, input, filter_dims, filter, bias, output_dims, output, -1);
        }
    }
    return tiny_depthwise_conv2d_s8_dsp(ctx, params, quant, input_dims, input, filter_dims, filter, bias_dims, bias,
                                        output_dims, output);
}

tiny_status tiny_depthwise_conv2d_s8_inplace_c4(const tiny_ctx *ctx, const tiny_dw_conv_params *params,
                                                const tiny_per_channel_quant *quant, const tiny_dims *input_dims,
                                                const int8_t *input, const tiny_dims *filter_dims,
                                                const int8_t *filter, const tiny_dims *bias_dims,
                                                const int32_t *bias, const tiny_dims *output_dims, int8_t *output) {
    if (dw4_ok(params, quant, input_dims, input, filter_dims, filter, output_dims, output) &&
        (const int8_t *)output == input) {
        const int32_t d = dw4_delay(input_dims, output_dims, params);
        if (d < TINY_DW4_RING) {
            return dw4_run(params, quant, input_dims, input, filter_dims, filter, bias, output_dims, output, d);
        }
    }
    return tiny_depthwise_conv2d_s8_inplace_dsp(ctx, params, quant, input_dims, input, filter_dims, filter,
                                                bias_dims, bias, output_dims, output);
}
#endif
