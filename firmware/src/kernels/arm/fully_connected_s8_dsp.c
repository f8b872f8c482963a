/* FULLY_CONNECTED int8 with symmetric weights (filter_offset 0, as every int8 TFLite model has):
 * same arguments and results as tiny_fully_connected_s8; asymmetric weights are handed to it.
 *
 * out_c >= 3: fc_chunked, per block of up to 64 output channels - the input, split (SXTB16 / SXTB16
 * ROR 8) and offset (SADD16) once per chunk of 256 into a stack buffer, is shared by all channels of
 * the block (the MLPerf FC autoencoder's 128-wide layers: 2.0 -> 1.5 instructions/MAC); groups of 4
 * channels (rest as groups of 3) in inline-assembly loops (16 MACs in ~23.5 instructions: GCC
 * spills the row offsets of this loop), then the block requantized by fc_requant (SMMLAR with the
 * rounding and output offset folded in: ~17 instructions per output, was ~45). Otherwise four
 * output channels at a time (then two, then one), 4 inputs per step, the split input shared by
 * the channels' SMLADs. No planned scratch.
 */
#include "arm_common.h"
#include "tiny/kernels_arm.h"

#ifdef TINY_ARM_DSP
/* Input pre-extended once per chunk: x + in_off as int16 pairs in SXTB16 order (words (x0, x2),
 * (x1, x3) per 4 inputs), shared by all output channels, whose partial sums live in acc[]. Groups of
 * 4 channels (the rest as 3 + 3 or 3), 4 inputs per step: 2 loads of x, then per channel one weight
 * load, SXTB16 / SXTB16 ROR 8 and two SMLAD. */
#define FC_CHUNK 256
#define FC_MAX_OC 64
TINY_INLINE void fc_group(const int32_t *xs, const int32_t n4, const int8_t *q, int32_t depth, int32_t *acc,
                          const int g) {
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = g == 4 ? acc[3] : 0;
    const int32_t *xe_end = xs + 2 * n4;
    const int32_t *x2_end = xs + 2 * (n4 & ~1);   /* the asm loops take 2 steps (8 inputs) at a time */
#define FC_ROW(A, ROWADDR, POSTINC)                                                                  \
    "ldr %[u], " ROWADDR POSTINC "\n\t"                                                              \
    "sxtb16 %[t], %[u]\n\t"                                                                          \
    "smlad %[" A "], %[xe], %[t], %[" A "]\n\t"                                                      \
    "sxtb16 %[t], %[u], ror #8\n\t"                                                                  \
    "smlad %[" A "], %[xo], %[t], %[" A "]\n\t"
    if (g == 4 && xs < x2_end) {
        /* 16 MACs in 23.5 instructions; GCC spills the row offsets here (32). */
        const int8_t *q2 = q + 2 * depth;
        int32_t xe, xo, u, t;
        __asm__ volatile(
            "1:\n\t"
            "ldr %[xe], [%[xs]], #4\n\t"
            "ldr %[xo], [%[xs]], #4\n\t"
            FC_ROW("a1", "[%[q], %[dep]]", "")
            FC_ROW("a0", "[%[q]]", ", #4")
            FC_ROW("a3", "[%[q2], %[dep]]", "")
            FC_ROW("a2", "[%[q2]]", ", #4")
            "ldr %[xe], [%[xs]], #4\n\t"
            "ldr %[xo], [%[xs]], #4\n\t"
            FC_ROW("a1", "[%[q], %[dep]]", "")
            FC_ROW("a0", "[%[q]]", ", #4")
            FC_ROW("a3", "[%[q2], %[dep]]", "")
            FC_ROW("a2", "[%[q2]]", ", #4")
            "ldr %[t], %[end]\n\t"
            "cmp %[xs], %[t]\n\t"
            "blo 1b\n\t"
            : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [xs] "+r"(xs), [q] "+r"(q),
              [q2] "+r"(q2), [xe] "=&r"(xe), [xo] "=&r"(xo), [u] "=&r"(u), [t] "=&r"(t)
            : [dep] "r"(depth), [end] "m"(x2_end)
            : "cc", "memory");
    } else if (g == 3 && xs < x2_end) {
        int32_t xe, xo, u, t;
        __asm__ volatile(
            "1:\n\t"
            "ldr %[xe], [%[xs]], #4\n\t"
            "ldr %[xo], [%[xs]], #4\n\t"
            FC_ROW("a1", "[%[q], %[dep]]", "")
            FC_ROW("a2", "[%[q], %[dep2]]", "")
            FC_ROW("a0", "[%[q]]", ", #4")
            "ldr %[xe], [%[xs]], #4\n\t"
            "ldr %[xo], [%[xs]], #4\n\t"
            FC_ROW("a1", "[%[q], %[dep]]", "")
            FC_ROW("a2", "[%[q], %[dep2]]", "")
            FC_ROW("a0", "[%[q]]", ", #4")
            "ldr %[t], %[end]\n\t"
            "cmp %[xs], %[t]\n\t"
            "blo 1b\n\t"
            : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [xs] "+r"(xs), [q] "+r"(q), [xe] "=&r"(xe),
              [xo] "=&r"(xo), [u] "=&r"(u), [t] "=&r"(t)
            : [dep] "r"(depth), [dep2] "r"(2 * depth), [end] "m"(x2_end)
            : "cc", "memory");
    }
#undef FC_ROW
    for (; xs < xe_end; xs += 2, q += 4) {
        const int32_t xe = xs[0], xo = xs[1];
        int32_t u = tiny_ld32(q);
        a0 = tiny_smlad(xe, tiny_sxtb16(u), a0);
        a0 = tiny_smlad(xo, tiny_sxtb16_ror8(u), a0);
        u = tiny_ld32(q + depth);
        a1 = tiny_smlad(xe, tiny_sxtb16(u), a1);
        a1 = tiny_smlad(xo, tiny_sxtb16_ror8(u), a1);
        u = tiny_ld32(q + 2 * depth);
        a2 = tiny_smlad(xe, tiny_sxtb16(u), a2);
        a2 = tiny_smlad(xo, tiny_sxtb16_ror8(u), a2);
        if (g == 4) {
            u = tiny_ld32(q + 3 * depth);
            a3 = tiny_smlad(xe, tiny_sxtb16(u), a3);
            a3 = tiny_smlad(xo, tiny_sxtb16_ror8(u), a3);
        }
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    if (g == 4) acc[3] = a3;
}

/* One output of fc_requant: requant_strip.c's cheap exact form with the rounding and the output
 * offset folded into SMMLAR's accumuland (see pwx_q in conv2d_s8_1x1.c), valid for a right shift
 * e in [1, 22], m >= 0 and |acc| < 2^30 (2 acc fits: checked on the doubling itself, by the
 * overflow flag); anything else takes the general tiny_arm_requant. c = 2 out_off + 1, so
 * (c << e) >> 1 = 2^(e-1) + out_off 2^e. Returns the value before the [lo, hi] clamp, saturated to
 * int8 ([lo, hi] lies inside int8: checked by the caller). */
TINY_INLINE int32_t fc_q1(int32_t a, int32_t m, int32_t s, uint32_t c, int32_t out_off) {
    const int32_t e = -s;
    int32_t a2;
    if (__builtin_expect((uint32_t)(e - 1) <= 21u && m >= 0 && !__builtin_add_overflow(a, a, &a2), 1)) {
        int32_t t;
        __asm__("smmlar %0, %1, %2, %3" : "=r"(t) : "r"(a2), "r"(m), "r"((int32_t)(c << e) >> 1));
        return __builtin_arm_ssat((t + (a2 >> 31)) >> e, 8);
    }
    return __builtin_arm_ssat(tiny_arm_requant(a, tiny_rq_make(m, s)) + out_off, 8);
}

/* out[i] = clamp(requantize(acc[i]) + out_off, lo, hi), two outputs per step. */
static void fc_requant(const int32_t *acc, int32_t n, const int32_t *mult, const int32_t *shift, int32_t out_off,
                       int32_t lo, int32_t hi, int8_t *out) {
    if (out_off < -128 || out_off > 127 || lo < -128 || hi > 127) {
        for (int32_t i = 0; i < n; ++i) out[i] = tiny_arm_out(acc[i], tiny_rq_make(mult[i], shift[i]), out_off, lo, hi);
        return;
    }
    const uint32_t c = 2u * (uint32_t)out_off + 1u;
    int32_t i = 0;
    if (lo == -128 && hi == 127) {   /* the usual case (ReLU folded into a -128 zero point): SSAT only */
        for (; i + 2 <= n; i += 2) {
            out[i] = (int8_t)fc_q1(acc[i], mult[i], shift[i], c, out_off);
            out[i + 1] = (int8_t)fc_q1(acc[i + 1], mult[i + 1], shift[i + 1], c, out_off);
        }
    }
    for (; i < n; ++i) {
        int32_t v = fc_q1(acc[i], mult[i], shift[i], c, out_off);
        v = v < lo ? lo : v;
        v = v > hi ? hi : v;
        out[i] = (int8_t)v;
    }
}

static void fc_chunked(const int8_t *x, const int8_t *filter, const int32_t *bias, const tiny_per_channel_quant *quant,
                       int32_t depth, int32_t out_c, int32_t in_off, int32_t out_off, int32_t lo, int32_t hi,
                       int8_t *out) {
    int32_t acc[FC_MAX_OC];
    int32_t xs[FC_CHUNK / 2];
    const int32_t off2 = tiny_pack16(in_off, in_off);
    for (int32_t oc = 0; oc < out_c; ++oc) acc[oc] = bias ? bias[oc] : 0;
    const int32_t n4 = out_c % 4 == 2 && out_c >= 6 ? out_c - 6 : out_c & ~3;   /* 4-groups, then 3s */
    const int32_t d4 = depth & ~3;
    for (int32_t d0 = 0; d0 < d4; d0 += FC_CHUNK) {
        const int32_t len = d4 - d0 < FC_CHUNK ? d4 - d0 : FC_CHUNK, steps = len / 4;
        for (int32_t k = 0; k < steps; ++k) {
            const int32_t v = tiny_ld32(x + d0 + 4 * k);
            xs[2 * k] = tiny_sadd16(tiny_sxtb16(v), off2);
            xs[2 * k + 1] = tiny_sadd16(tiny_sxtb16_ror8(v), off2);
        }
        int32_t oc = 0;
        for (; oc < n4; oc += 4) fc_group(xs, steps, filter + oc * depth + d0, depth, acc + oc, 4);
        for (; oc + 3 <= out_c; oc += 3) fc_group(xs, steps, filter + oc * depth + d0, depth, acc + oc, 3);
        for (; oc < out_c; ++oc) {   /* 1 or 2 channels left */
            const int8_t *q = filter + oc * depth + d0;
            int32_t a = acc[oc];
            for (int32_t k = 0; k < steps; ++k) {
                const int32_t u = tiny_ld32(q + 4 * k);
                a = tiny_smlad(xs[2 * k], tiny_sxtb16(u), a);
                a = tiny_smlad(xs[2 * k + 1], tiny_sxtb16_ror8(u), a);
            }
            acc[oc] = a;
        }
    }
    if (d4 < depth) {
        for (int32_t oc = 0; oc < out_c; ++oc) {
            const int8_t *w = filter + oc * depth;
            for (int32_t d = d4; d < depth; ++d) acc[oc] += w[d] * (x[d] + in_off);
        }
    }
    fc_requant(acc, out_c, quant->multiplier, quant->shift, out_off, lo, hi, out);
}
tiny_status tiny_fully_connected_s8_dsp(const tiny_ctx *ctx, const tiny_fc_params *params,
                                        const tiny_per_channel_quant *quant, const tiny_dims *input_dims,
                                        const int8_t *input, const tiny_dims *filter_dims,
                                        const int8_t *filter, const tiny_dims *bias_dims,
                                        const int32_t *bias, const tiny_dims *output_dims, int8_t *output) {
    if (!params || !quant || !input_dims || !input || !filter_dims || !filter || !output_dims || !output ||
        params->filter_offset != 0 || filter_dims->n != output_dims->c || filter_dims->c <= 0 ||
        params->input_offset < -32768 || params->input_offset > 32767) {
        return tiny_fully_connected_s8(ctx, params, quant, input_dims, input, filter_dims, filter, bias_dims,
                                       bias, output_dims, output);
    }
    const int32_t depth = filter_dims->c, d4 = depth & ~3;
    const int32_t out_c = output_dims->c;
    const int32_t batches = output_dims->n * output_dims->h * output_dims->w;
    const int32_t in_off = params->input_offset, out_off = params->output_offset;
    const int32_t off2 = tiny_pack16(in_off, in_off);
    const int32_t lo = params->activation.min, hi = params->activation.max;
    if (out_c >= 3 && depth >= 8) {
        /* blocks of FC_MAX_OC channels (the input is split again per block: depth / 4 words, small
         * next to the block's FC_MAX_OC * depth MACs) */
        for (int32_t b = 0; b < batches; ++b) {
            for (int32_t o0 = 0; o0 < out_c; o0 += FC_MAX_OC) {
                int32_t n = out_c - o0 < FC_MAX_OC ? out_c - o0 : FC_MAX_OC;
                if (n < 3 && o0 > 0) {   /* 1-2 channels left: the last block gives them 3 */
                    o0 -= 3 - n;
                    n = 3;
                }
                const tiny_per_channel_quant qb = {quant->multiplier + o0, quant->shift + o0};
                fc_chunked(input + b * depth, filter + o0 * depth, bias ? bias + o0 : 0, &qb, depth, n, in_off,
                           out_off, lo, hi, output + b * out_c + o0);
            }
        }
        return TINY_OK;
    }
    for (int32_t b = 0; b < batches; ++b) {
        const int8_t *x = input + b * depth;
        int8_t *out = output + b * out_c;
        int32_t oc = 0;
        /* groups of 4, the rest as groups of 3 (4 + 2 -> 3 + 3: a 3-group costs less per MAC than a pair) */
        const int32_t n4 = (out_c % 4 == 2 && out_c >= 6) ? out_c - 6 : out_c & ~3;
        for (; oc + 4 <= n4; oc += 4) {   /* 4 channels share one split of the input word */
            const int8_t *w0 = filter + oc * depth;
            int32_t a0 = bias ? bias[oc] : 0, a1 = bias ? bias[oc + 1] : 0;
            int32_t a2 = bias ? bias[oc + 2] : 0, a3 = bias ? bias[oc + 3] : 0;
            const int8_t *xp = x, *xe_end = x + d4;
            const int8_t *q = w0;
            for (; xp < xe_end; xp += 4, q += 4) {
                const int32_t v = tiny_ld32(xp);
                const int32_t xe = tiny_sadd16(tiny_sxtb16(v), off2), xo = tiny_sadd16(tiny_sxtb16_ror8(v), off2);
                int32_t u = tiny_ld32(q);
                a0 = tiny_smlad(xe, tiny_sxtb16(u), a0);
                a0 = tiny_smlad(xo, tiny_sxtb16_ror8(u), a0);
                u = tiny_ld32(q + depth);
                a1 = tiny_smlad(xe, tiny_sxtb16(u), a1);
                a1 = tiny_smlad(xo, tiny_sxtb16_ror8(u), a1);
                u = tiny_ld32(q + 2 * depth);
                a2 = tiny_smlad(xe, tiny_sxtb16(u), a2);
                a2 = tiny_smlad(xo, tiny_sxtb16_ror8(u), a2);
                u = tiny_ld32(q + 3 * depth);
                a3 = tiny_smlad(xe, tiny_sxtb16(u), a3);
                a3 = tiny_smlad(xo, tiny_sxtb16_ror8(u), a3);
            }
            for (int32_t d = d4; d < depth; ++d) {
                const int32_t xv = x[d] + in_off;
                a0 += w0[d] * xv;
                a1 += w0[depth + d] * xv;
                a2 += w0[2 * depth + d] * xv;
                a3 += w0[3 * depth + d] * xv;
            }
            out[oc] = tiny_arm_out(a0, tiny_rq_make(quant->multiplier[oc], quant->shift[oc]), out_off, lo, hi);
            out[oc + 1] = tiny_arm_out(a1, tiny_rq_make(quant->multiplier[oc + 1], quant->shift[oc + 1]), out_off,
                                       lo, hi);
            out[oc + 2] = tiny_arm_out(a2, tiny_rq_make(quant->multiplier[oc + 2], quant->shift[oc + 2]), out_off,
                                       lo, hi);
            out[oc + 3] = tiny_arm_out(a3, tiny_rq_make(quant->multiplier[oc + 3], quant->shift[oc + 3]), out_off,
                                       lo, hi);
        }
        {
            const int32_t n3 = out_c - oc == 6 ? 2 : (out_c - oc == 3 ? 1 : 0);
            for (int32_t rep = 0; rep < n3; ++rep, oc += 3) {
                const int8_t *w0 = filter + oc * depth;
                int32_t a0 = bias ? bias[oc] : 0, a1 = bias ? bias[oc + 1] : 0, a2 = bias ? bias[oc + 2] : 0;
                const int8_t *xp = x, *xe_end = x + d4, *q = w0;
                for (; xp < xe_end; xp += 4, q += 4) {
                    const int32_t v = tiny_ld32(xp);
                    const int32_t xe = tiny_sadd16(tiny_sxtb16(v), off2), xo = tiny_sadd16(tiny_sxtb16_ror8(v), off2);
                    int32_t u = tiny_ld32(q);
                    a0 = tiny_smlad(xe, tiny_sxtb16(u), a0);
                    a0 = tiny_smlad(xo, tiny_sxtb16_ror8(u), a0);
                    u = tiny_ld32(q + depth);
                    a1 = tiny_smlad(xe, tiny_sxtb16(u), a1);
                    a1 = tiny_smlad(xo, tiny_sxtb16_ror8(u), a1);
                    u = tiny_ld32(q + 2 * depth);
                    a2 = tiny_smlad(xe, tiny_sxtb16(u), a2);
                    a2 = tiny_smlad(xo, tiny_sxtb16_ror8(u), a2);
                }
                for (int32_t d = d4; d < depth; ++d) {
                    const int32_t xv = x[d] + in_off;
                    a0 += w0[d] * xv;
                    a1 += w0[depth + d] * xv;
                    a2 += w0[2 * depth + d] * xv;
                }
                out[oc] = tiny_arm_out(a0, tiny_rq_make(quant->multiplier[oc], quant->shift[oc]), out_off, lo, hi);
                out[oc + 1] = tiny_arm_out(a1, tiny_rq_make(quant->multiplier[oc + 1], quant->shift[oc + 1]),
                                           out_off, lo, hi);
                out[oc + 2] = tiny_arm_out(a2, tiny_rq_make(quant->multiplier[oc + 2], quant->shift[oc + 2]),
                                           out_off, lo, hi);
            }
        }
        for (; oc + 2 <= out_c; oc += 2) {
            const int8_t *w0 = filter + oc * depth, *w1 = w0 + depth;
            int32_t a0 = bias ? bias[oc] : 0, a1 = bias ? bias[oc + 1] : 0;
            int32_t d = 0;
            for (; d < d4; d += 4) {
                const int32_t v = tiny_ld32(x + d);
                const int32_t xe = tiny_sadd16(tiny_sxtb16(v), off2), xo = tiny_sadd16(tiny_sxtb16_ror8(v), off2);
                const int32_t u0 = tiny_ld32(w0 + d), u1 = tiny_ld32(w1 + d);
                a0 = tiny_smlad(xe, tiny_sxtb16(u0), a0);
                a0 = tiny_smlad(xo, tiny_sxtb16_ror8(u0), a0);
                a1 = tiny_smlad(xe, tiny_sxtb16(u1), a1);
                a1 = tiny_smlad(xo, tiny_sxtb16_ror8(u1), a1);
            }
            for (; d < depth; ++d) {
                const int32_t xv = x[d] + in_off;
                a0 += w0[d] * xv;
                a1 += w1[d] * xv;
            }
            out[oc] = tiny_arm_out(a0, tiny_rq_make(quant->multiplier[oc], quant->shift[oc]), out_off, lo, hi);
            out[oc + 1] = tiny_arm_out(a1, tiny_rq_make(quant->multiplier[oc + 1], quant->shift[oc + 1]), out_off,
                                       lo, hi);
        }
        for (; oc < out_c; ++oc) {
            const int8_t *w0 = filter + oc * depth;
            int32_t a0 = bias ? bias[oc] : 0;
            for (int32_t d = 0; d < depth; ++d) a0 += w0[d] * (x[d] + in_off);
            out[oc] = tiny_arm_out(a0, tiny_rq_make(quant->multiplier[oc], quant->shift[oc]), out_off, lo, hi);
        }
    }
    return TINY_OK;
}
#endif
