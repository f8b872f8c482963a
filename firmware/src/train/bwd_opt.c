/* Optimized backward kernels of the training runtime, for cores with a single-precision FPU.
 *
 * Same signatures and bit-identical results as the portable kernels in bwd_ref.c: every float
 * accumulator receives the same terms, computed by the same expressions, in the same order; only
 * the loop nest changes (register blocking, so a term costs a load, a multiply and an add instead
 * of a load/modify/store of its destination and recomputed operands). Partial sums that have to
 * leave registers go through float memory, which is exact. No fused multiply-add: the reference
 * rounds the product before the sum (fp-contract=off, and VMLA would cost more cycles than
 * VMUL + VADD on Cortex-M4). Calls outside a kernel's fast path go to the portable kernel. */
#pragma GCC optimize("fp-contract=off")
#include <stddef.h>
#include <stdint.h>
#include "tiny/train.h"


/* 4 x 4 register-blocked micro-kernels (Cortex-M4F/M7, 32 single-precision registers): 16
 * accumulators s0-s15, 4 + 4 operands s16-s23 loaded with one VLDM each (or one per row pointer),
 * products in s24-s31, each term a VMUL then a VADD (the reference's rounding: no fused
 * multiply-add). acc[i][j] (s(4i+j)) += u[i] * v[j], n >= 1 steps. Other targets (host, no FPU)
 * run the same loops in C. */
#if defined(__arm__) && defined(__ARM_FP) && (__ARM_FP & 4) && defined(__thumb2__)
#define TINY_BWD_ASM 1
#define MK_MAC16 \
    "vmul.f32 s24, s16, s20\n" "vmul.f32 s25, s16, s21\n" "vmul.f32 s26, s16, s22\n" "vmul.f32 s27, s16, s23\n" \
    "vadd.f32 s0, s0, s24\n" "vadd.f32 s1, s1, s25\n" "vadd.f32 s2, s2, s26\n" "vadd.f32 s3, s3, s27\n" \
    "vmul.f32 s28, s17, s20\n" "vmul.f32 s29, s17, s21\n" "vmul.f32 s30, s17, s22\n" "vmul.f32 s31, s17, s23\n" \
    "vadd.f32 s4, s4, s28\n" "vadd.f32 s5, s5, s29\n" "vadd.f32 s6, s6, s30\n" "vadd.f32 s7, s7, s31\n" \
    "vmul.f32 s24, s18, s20\n" "vmul.f32 s25, s18, s21\n" "vmul.f32 s26, s18, s22\n" "vmul.f32 s27, s18, s23\n" \
    "vadd.f32 s8, s8, s24\n" "vadd.f32 s9, s9, s25\n" "vadd.f32 s10, s10, s26\n" "vadd.f32 s11, s11, s27\n" \
    "vmul.f32 s28, s19, s20\n" "vmul.f32 s29, s19, s21\n" "vmul.f32 s30, s19, s22\n" "vmul.f32 s31, s19, s23\n" \
    "vadd.f32 s12, s12, s28\n" "vadd.f32 s13, s13, s29\n" "vadd.f32 s14, s14, s30\n" "vadd.f32 s15, s15, s31\n"

#define MK_CLOBBER "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11", "s12", "s13", \
    "s14", "s15", "s16", "s17", "s18", "s19", "s20", "s21", "s22", "s23", "s24", "s25", "s26", "s27", "s28", \
    "s29", "s30", "s31", "cc", "memory"
static const float ZERO16[16];
#endif

/* Input-gradient block: dx rows d, d + ds, .. (bytes) of 4 positions x 4 channels += g_i[c] wf[c][j]
 * for c < n: u[i] = g rows g0 + i gs (each advancing one float per step), v = wf (4 floats per step). */
static void mk_data(float *d, uint32_t ds, const float *g0, uint32_t gs, const float *wf, uint32_t n) {
#ifdef TINY_BWD_ASM
    const float *g1 = (const float *)((const uint8_t *)g0 + gs), *g2 = (const float *)((const uint8_t *)g1 + gs);
    const float *g3 = (const float *)((const uint8_t *)g2 + gs);
    __asm__ volatile(
        "vldm %[d], {s0-s3}\n" "add %[d], %[d], %[ds]\n" "vldm %[d], {s4-s7}\n"
        "add %[d], %[d], %[ds]\n" "vldm %[d], {s8-s11}\n" "add %[d], %[d], %[ds]\n"
        "vldm %[d], {s12-s15}\n" "sub %[d], %[d], %[ds]\n" "sub %[d], %[d], %[ds]\n" "sub %[d], %[d], %[ds]\n"
        "1:\n"
        "vldmia %[g0]!, {s16}\n" "vldmia %[g1]!, {s17}\n" "vldmia %[g2]!, {s18}\n" "vldmia %[g3]!, {s19}\n"
        "vldmia %[wf]!, {s20-s23}\n"
        MK_MAC16
        "subs %[n], %[n], #1\n" "bne 1b\n"
        "vstm %[d], {s0-s3}\n" "add %[d], %[d], %[ds]\n" "vstm %[d], {s4-s7}\n"
        "add %[d], %[d], %[ds]\n" "vstm %[d], {s8-s11}\n" "add %[d], %[d], %[ds]\n"
        "vstm %[d], {s12-s15}\n"
        : [d] "+r"(d), [g0] "+r"(g0), [g1] "+r"(g1), [g2] "+r"(g2), [g3] "+r"(g3),
          [wf] "+r"(wf), [n] "+r"(n)
        : [ds] "r"(ds)
        : MK_CLOBBER);
#else
    float a[4][4];
    for (uint32_t i = 0; i < 4u; i++)
        for (uint32_t j = 0; j < 4u; j++) a[i][j] = ((const float *)((const uint8_t *)d + i * ds))[j];
    for (uint32_t c = 0; c < n; c++)
        for (uint32_t i = 0; i < 4u; i++) {
            const float u = ((const float *)((const uint8_t *)g0 + i * gs))[c];
            for (uint32_t j = 0; j < 4u; j++) a[i][j] = a[i][j] + u * wf[4u * c + j];
        }
    for (uint32_t i = 0; i < 4u; i++)
        for (uint32_t j = 0; j < 4u; j++) ((float *)((uint8_t *)d + i * ds))[j] = a[i][j];
#endif
}

/* 16 terms of one step: acc row 0 (s0-s7) += A * w, row 1 (s8-s15) += B * w, w in s20-s27, products
 * in s28-s31 (each VMUL's product is added before its temporary is reused: the reference's order). */
#define MK_ROW8(A, R0, R1, R2, R3, R4, R5, R6, R7) \
    "vmul.f32 s28, " A ", s20\n" "vmul.f32 s29, " A ", s21\n" "vmul.f32 s30, " A ", s22\n" \
    "vmul.f32 s31, " A ", s23\n" "vadd.f32 " R0 ", " R0 ", s28\n" "vadd.f32 " R1 ", " R1 ", s29\n" \
    "vadd.f32 " R2 ", " R2 ", s30\n" "vadd.f32 " R3 ", " R3 ", s31\n" \
    "vmul.f32 s28, " A ", s24\n" "vmul.f32 s29, " A ", s25\n" "vmul.f32 s30, " A ", s26\n" \
    "vmul.f32 s31, " A ", s27\n" "vadd.f32 " R4 ", " R4 ", s28\n" "vadd.f32 " R5 ", " R5 ", s29\n" \
    "vadd.f32 " R6 ", " R6 ", s30\n" "vadd.f32 " R7 ", " R7 ", s31\n"
#define MK_MAC2x8(A, B) \
    "vldmia %[wf]!, {s20-s27}\n" \
    MK_ROW8(A, "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7") \
    MK_ROW8(B, "s8", "s9", "s10", "s11", "s12", "s13", "s14", "s15")
/* One step (g0[k] in s16, g1[k] in s18); two steps with one load per g row (g0[k], g0[k + 1] in s16,
 * s17; g1 in s18, s19): 4 loads per 32 terms. */
#define MK_STEP1 "vldmia %[g0]!, {s16}\n" "vldmia %[g1]!, {s18}\n" MK_MAC2x8("s16", "s18")
#define MK_STEP2 "vldmia %[g0]!, {s16-s17}\n" "vldmia %[g1]!, {s18-s19}\n" MK_MAC2x8("s16", "s18") \
    MK_MAC2x8("s17", "s19")

/* The same for 2 positions x 8 channels (u[i] = g rows g0, g0 + gs; v = wf, 8 floats per step),
 * starting from 0 if zero: steps in ascending order, the odd one and a pair first, then 4 per loop
 * pass (so 2 + 1/8 instructions per term in the loop). */
static void mk_data8(float *d, uint32_t ds, const float *g0, uint32_t gs, const float *wf, uint32_t n,
                     int zero) {
#ifdef TINY_BWD_ASM
    const float *g1 = (const float *)((const uint8_t *)g0 + gs);
    float *d1 = (float *)((uint8_t *)d + ds);
    const float *z = ZERO16;
    __asm__ volatile(
        "cmp %[zero], #0\n" "beq 4f\n" "vldm %[z], {s0-s15}\n" "b 5f\n"
        "4:\n" "vldm %[d], {s0-s7}\n" "vldm %[d1], {s8-s15}\n"
        "5:\n" "tst %[n], #1\n" "beq 2f\n"
        MK_STEP1
        "2:\n" "tst %[n], #2\n" "beq 3f\n"
        MK_STEP2
        "3:\n" "lsrs %[n], %[n], #2\n" "beq 6f\n"
        "1:\n"
        MK_STEP2 MK_STEP2
        "subs %[n], %[n], #1\n" "bne 1b\n"
        "6:\n"
        "vstm %[d], {s0-s7}\n" "vstm %[d1], {s8-s15}\n"
        : [g0] "+r"(g0), [g1] "+r"(g1), [wf] "+r"(wf), [n] "+r"(n)
        : [d] "r"(d), [d1] "r"(d1), [z] "r"(z), [zero] "r"(zero)
        : MK_CLOBBER);
#else
    float a[2][8];
    for (uint32_t i = 0; i < 2u; i++)
        for (uint32_t j = 0; j < 8u; j++) a[i][j] = zero ? 0.0f : ((const float *)((const uint8_t *)d + i * ds))[j];
    for (uint32_t c = 0; c < n; c++)
        for (uint32_t i = 0; i < 2u; i++) {
            const float u = ((const float *)((const uint8_t *)g0 + i * gs))[c];
            for (uint32_t j = 0; j < 8u; j++) a[i][j] = a[i][j] + u * wf[8u * c + j];
        }
    for (uint32_t i = 0; i < 2u; i++)
        for (uint32_t j = 0; j < 8u; j++) ((float *)((uint8_t *)d + i * ds))[j] = a[i][j];
#endif
}

/* 16 terms: acc[i][j] (s(4i+j)) += u[i] (s16-s19) * v[j] (V0-V3), products in s28-s31. */
#define MK_ROW4(U, A0, A1, A2, A3, V0, V1, V2, V3) \
    "vmul.f32 s28, " U ", " V0 "\n" "vmul.f32 s29, " U ", " V1 "\n" "vmul.f32 s30, " U ", " V2 "\n" \
    "vmul.f32 s31, " U ", " V3 "\n" "vadd.f32 " A0 ", " A0 ", s28\n" "vadd.f32 " A1 ", " A1 ", s29\n" \
    "vadd.f32 " A2 ", " A2 ", s30\n" "vadd.f32 " A3 ", " A3 ", s31\n"
#define MK_MAC4x4(V0, V1, V2, V3) \
    MK_ROW4("s16", "s0", "s1", "s2", "s3", V0, V1, V2, V3) \
    MK_ROW4("s17", "s4", "s5", "s6", "s7", V0, V1, V2, V3) \
    MK_ROW4("s18", "s8", "s9", "s10", "s11", V0, V1, V2, V3) \
    MK_ROW4("s19", "s12", "s13", "s14", "s15", V0, V1, V2, V3)
#define MK_U "vldm %[g], {s16-s19}\n" "add %[g], %[g], %[gs]\n"
/* One position; two positions with one VLDM of their 8 inputs (5 loads/adds per 32 terms, was 6). */
#define MK_WSTEP1 MK_U "vldmia %[xf]!, {s20-s23}\n" MK_MAC4x4("s20", "s21", "s22", "s23")
#define MK_WSTEP2 MK_U "vldmia %[xf]!, {s20-s27}\n" MK_MAC4x4("s20", "s21", "s22", "s23") \
    MK_U MK_MAC4x4("s24", "s25", "s26", "s27")

/* Weight-gradient block: acc[i][j] = sum over n steps of u[i] v[j], from 0, u = 4 consecutive floats
 * at g (advancing gs bytes per step), v = xf (4 floats per step); acc stored as 16 floats. Steps in
 * ascending order: the odd one and a pair first, then 4 per loop pass. */
static void mk_weights(float *acc, const float *g, uint32_t gs, const float *xf, uint32_t n) {
#ifdef TINY_BWD_ASM
    const float *z = ZERO16;
    __asm__ volatile(
        "vldm %[z], {s0-s15}\n"
        "tst %[n], #1\n" "beq 2f\n"
        MK_WSTEP1
        "2:\n" "tst %[n], #2\n" "beq 3f\n"
        MK_WSTEP2
        "3:\n" "lsrs %[n], %[n], #2\n" "beq 4f\n"
        "1:\n"
        MK_WSTEP2 MK_WSTEP2
        "subs %[n], %[n], #1\n" "bne 1b\n"
        "4:\n"
        "vstm %[acc], {s0-s15}\n"
        : [g] "+r"(g), [xf] "+r"(xf), [n] "+r"(n)
        : [z] "r"(z), [acc] "r"(acc), [gs] "r"(gs)
        : MK_CLOBBER);
#else
    float a[16];
    for (uint32_t k = 0; k < 16u; k++) a[k] = 0.0f;
    for (uint32_t p = 0; p < n; p++, g = (const float *)((const uint8_t *)g + gs), xf += 4)
        for (uint32_t i = 0; i < 4u; i++)
            for (uint32_t j = 0; j < 4u; j++) a[4u * i + j] = a[4u * i + j] + g[i] * xf[j];
    for (uint32_t k = 0; k < 16u; k++) acc[k] = a[k];
#endif
}

/* acc[j] = sum over n >= 1 positions of q[j] (j < 16, q advancing qs bytes per position), from 0:
 * one VLDM and 16 VADDs per position (the C loop needs a load per term). */
static void colsum16(float *acc, const float *q, uint32_t qs, uint32_t n) {
#ifdef TINY_BWD_ASM
    const float *z = ZERO16;
    __asm__ volatile(
        "vldm %[z], {s0-s15}\n"
        "1:\n"
        "vldm %[q], {s16-s31}\n" "add %[q], %[q], %[qs]\n"
        "vadd.f32 s0, s0, s16\n" "vadd.f32 s1, s1, s17\n" "vadd.f32 s2, s2, s18\n" "vadd.f32 s3, s3, s19\n"
        "vadd.f32 s4, s4, s20\n" "vadd.f32 s5, s5, s21\n" "vadd.f32 s6, s6, s22\n" "vadd.f32 s7, s7, s23\n"
        "vadd.f32 s8, s8, s24\n" "vadd.f32 s9, s9, s25\n" "vadd.f32 s10, s10, s26\n" "vadd.f32 s11, s11, s27\n"
        "vadd.f32 s12, s12, s28\n" "vadd.f32 s13, s13, s29\n" "vadd.f32 s14, s14, s30\n" "vadd.f32 s15, s15, s31\n"
        "subs %[n], %[n], #1\n" "bne 1b\n"
        "vstm %[acc], {s0-s15}\n"
        : [q] "+r"(q), [n] "+r"(n)
        : [z] "r"(z), [acc] "r"(acc), [qs] "r"(qs)
        : MK_CLOBBER);
#else
    float a[16];
    for (uint32_t j = 0; j < 16u; j++) a[j] = 0.0f;
    for (uint32_t p = 0; p < n; p++, q = (const float *)((const uint8_t *)q + qs))
        for (uint32_t j = 0; j < 16u; j++) a[j] = a[j] + q[j];
    for (uint32_t j = 0; j < 16u; j++) acc[j] = a[j];
#endif
}

/* Bias update: the portable per-channel sums over positions, 16 (then 4) channels per pass. */
static void bias_blk(const tiny_train_step_t *s, const float *g, uint32_t positions) {
    if (!(s->flags & TINY_TF_UPD_B)) return;
    const uint32_t oc = s->out_c;
    uint32_t c = 0;
    if (positions > 0)
        for (; c + 16u <= oc; c += 16u) {
            float acc[16];
            colsum16(acc, g + c, 4u * oc, positions);
            for (uint32_t j = 0; j < 16u; j++)
                tiny_train_sgd_b(&s->b[c + j], acc[j], s->bscale[c + j] * tiny_train_kfac(s, c + j),
                                 s->mom_b ? &s->mom_b[c + j] : NULL);
        }
    for (; c + 4u <= oc; c += 4u) {
        float a0 = 0.0f, a1 = 0.0f, a2 = 0.0f, a3 = 0.0f;
        const float *q = g + c;
        for (uint32_t p = 0; p < positions; p++, q += oc) {
            a0 = a0 + q[0]; a1 = a1 + q[1]; a2 = a2 + q[2]; a3 = a3 + q[3];
        }
        const float acc[4] = {a0, a1, a2, a3};
        for (uint32_t j = 0; j < 4u; j++)
            tiny_train_sgd_b(&s->b[c + j], acc[j], s->bscale[c + j] * tiny_train_kfac(s, c + j),
                             s->mom_b ? &s->mom_b[c + j] : NULL);
    }
    for (; c < oc; c++) {
        float acc = 0.0f;
        for (uint32_t p = 0; p < positions; p++) acc = acc + g[p * oc + c];
        tiny_train_sgd_b(&s->b[c], acc, s->bscale[c] * tiny_train_kfac(s, c), s->mom_b ? &s->mom_b[c] : NULL);
    }
}

/* ------------------------------------------------------------------ 1x1 conv, stride 1, no padding */

#define MAC4(a0, a1, a2, a3, gv) \
    a0 = a0 + (gv) * w0; a1 = a1 + (gv) * w1; a2 = a2 + (gv) * w2; a3 = a3 + (gv) * w3

/* One dx element (tails). */
static void pw_data_1x1(const float *restrict g, const int8_t *restrict w, uint32_t IC, const float *restrict wsc,
                        uint32_t n, float *restrict d, int zero) {
    float a = zero ? 0.0f : *d;
    for (uint32_t c = 0; c < n; c++, w += IC) a = a + g[c] * (wsc[c] * (float)w[0]);
    *d = a;
}

/* dx = g W~ (W~[c][ic] = wsc[c] w[c][ic]): for each chunk of DCHUNK output channels and block of 8
 * (then 4) input channels, the scaled weights are staged once as floats (wf), then every pair (4-block)
 * of positions runs the 2 x 8 (4 x 4) micro-kernel over the chunk (partial sums leave registers
 * between chunks: exact). Tails: one element at a time, the same expression. */
/* wf[j][k] = wsc[j] * (float)w[j * IC + k], k < 8, j < n (n >= 1): 8 weights per two word loads. */
static void stage8(float *wf, const int8_t *w, uint32_t IC, const float *wsc, uint32_t n) {
#ifdef TINY_BWD_ASM
    uint32_t t0, t1, t2, t3;
    __asm__ volatile(
        "1:\n"
        "ldr %[t0], [%[w]]\n" "ldr %[t1], [%[w], #4]\n" "add %[w], %[w], %[ic]\n"
        "sxtb %[t2], %[t0]\n" "sxtb %[t3], %[t0], ror #8\n" "vmov s0, s1, %[t2], %[t3]\n"
        "sxtb %[t2], %[t0], ror #16\n" "asr %[t3], %[t0], #24\n" "vmov s2, s3, %[t2], %[t3]\n"
        "sxtb %[t2], %[t1]\n" "sxtb %[t3], %[t1], ror #8\n" "vmov s4, s5, %[t2], %[t3]\n"
        "sxtb %[t2], %[t1], ror #16\n" "asr %[t3], %[t1], #24\n" "vmov s6, s7, %[t2], %[t3]\n"
        "vldmia %[sc]!, {s8}\n"
        "vcvt.f32.s32 s0, s0\n" "vcvt.f32.s32 s1, s1\n" "vcvt.f32.s32 s2, s2\n" "vcvt.f32.s32 s3, s3\n"
        "vcvt.f32.s32 s4, s4\n" "vcvt.f32.s32 s5, s5\n" "vcvt.f32.s32 s6, s6\n" "vcvt.f32.s32 s7, s7\n"
        "vmul.f32 s0, s8, s0\n" "vmul.f32 s1, s8, s1\n" "vmul.f32 s2, s8, s2\n" "vmul.f32 s3, s8, s3\n"
        "vmul.f32 s4, s8, s4\n" "vmul.f32 s5, s8, s5\n" "vmul.f32 s6, s8, s6\n" "vmul.f32 s7, s8, s7\n"
        "vstmia %[wf]!, {s0-s7}\n"
        "subs %[n], %[n], #1\n" "bne 1b\n"
        : [wf] "+r"(wf), [w] "+r"(w), [sc] "+r"(wsc), [n] "+r"(n), [t0] "=&r"(t0), [t1] "=&r"(t1),
          [t2] "=&r"(t2), [t3] "=&r"(t3)
        : [ic] "r"(IC)
        : "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "cc", "memory");
#else
    for (uint32_t j = 0; j < n; j++, w += IC) {
        const float sc = wsc[j];
        for (uint32_t k = 0; k < 8u; k++) wf[8u * j + k] = sc * (float)w[k];
    }
#endif
}

#define DCHUNK 64u  /* output channels per pass of the input gradient: 64 x 8 staged weights (2 KiB) */

static void pw_data(const tiny_train_step_t *s, const float *g, float *dx) {
    const uint32_t P = (uint32_t)s->out_h * s->out_w, IC = s->in_c, OC = s->out_c;
    float wsc[DCHUNK], wf[8u * DCHUNK];
    /* with frozen channels in flash a chunk also ends at n_upd, so its rows are one table (dx
     * leaves registers between chunks, so where a chunk ends does not change a sum) */
    const uint32_t cut = s->w_frozen ? s->n_upd : OC;
    uint32_t n;
    for (uint32_t c0 = 0; c0 < OC; c0 += n) {
        const uint32_t end = c0 < cut ? cut : OC;
        n = end - c0 < DCHUNK ? end - c0 : DCHUNK;
        for (uint32_t j = 0; j < n; j++) wsc[j] = s->wscale[c0 + j] * tiny_train_kfac(s, c0 + j);
        const int zero = c0 == 0 && (s->flags & TINY_TF_IN_FIRST);
        const int8_t *wc = tiny_train_wrow(s, c0, IC);
        const float *gc = g + c0;
        uint32_t ic = 0;
        for (; ic + 8u <= IC; ic += 8u) {
            stage8(wf, wc + ic, IC, wsc, n);
            uint32_t p = 0;
            for (; p + 2u <= P; p += 2u) {
                mk_data8(dx + p * IC + ic, 4u * IC, gc + p * OC, 4u * OC, wf, n, zero);
            }
            for (; p < P; p++)
                for (uint32_t k = 0; k < 8u; k++)
                    pw_data_1x1(gc + p * OC, wc + ic + k, IC, wsc, n, dx + p * IC + ic + k, zero);
        }
        for (; ic + 4u <= IC; ic += 4u) {
            const int8_t *wp = wc + ic;
            for (uint32_t j = 0; j < n; j++, wp += IC) {
                const float sc = wsc[j];
                wf[4u * j] = sc * (float)wp[0]; wf[4u * j + 1u] = sc * (float)wp[1];
                wf[4u * j + 2u] = sc * (float)wp[2]; wf[4u * j + 3u] = sc * (float)wp[3];
            }
            uint32_t p = 0;
            for (; p + 4u <= P; p += 4u) {
                float *d = dx + p * IC + ic;
                if (zero)
                    for (uint32_t k = 0; k < 4u; k++) d[k * IC] = d[k * IC + 1u] = d[k * IC + 2u] = d[k * IC + 3u] = 0.0f;
                mk_data(d, 4u * IC, gc + p * OC, 4u * OC, wf, n);
            }
            for (; p < P; p++)
                for (uint32_t k = 0; k < 4u; k++)
                    pw_data_1x1(gc + p * OC, wc + ic + k, IC, wsc, n, dx + p * IC + ic + k, zero);
        }
        for (; ic < IC; ic++)
            for (uint32_t p = 0; p < P; p++)
                pw_data_1x1(gc + p * OC, wc + ic, IC, wsc, n, dx + p * IC + ic, zero);
    }
}

/* Update n consecutive weights of output channel c from input channel ic. */
static void pw_update(const tiny_train_step_t *s, uint32_t c, uint32_t ic, const float *acc, uint32_t n) {
    const uint32_t k = c * s->in_c + ic;
    tiny_train_sgd_w(&s->w[k], acc, n, s->wscale[c] * tiny_train_kfac(s, c), s->mom_w ? &s->mom_w[k] : NULL);
}

/* Weight gradient and update of the first n_upd output channels: acc[c][ic] = sum_p g[p][c] x[p][ic],
 * p ascending, 4 x 4 accumulators per block; x dequantized through a 256-entry table holding the
 * portable kernel's expression for every int8 value. */
static void pw_weights_lut(const tiny_train_step_t *s, const float *g) {
    const uint32_t P = (uint32_t)s->out_h * s->out_w, IC = s->in_c, OC = s->out_c, NU = s->n_upd;
    float lut[256];
    for (int32_t v = -128; v < 128; v++) lut[v + 128] = s->x_scale * (float)(v - s->x_zp);
    const float *xr = lut + 128;
    const int8_t *x = (const int8_t *)(tiny_train_model.saved + s->x_off);
    uint32_t c = 0;
    for (; c + 4u <= NU; c += 4u) {
        uint32_t ic = 0;
        for (; ic + 4u <= IC; ic += 4u) {
            float a00 = 0.0f, a01 = 0.0f, a02 = 0.0f, a03 = 0.0f, a10 = 0.0f, a11 = 0.0f, a12 = 0.0f, a13 = 0.0f;
            float a20 = 0.0f, a21 = 0.0f, a22 = 0.0f, a23 = 0.0f, a30 = 0.0f, a31 = 0.0f, a32 = 0.0f, a33 = 0.0f;
            const float *gp = g + c;
            const int8_t *xp = x + ic;
            for (uint32_t p = 0; p < P; p++, gp += OC, xp += IC) {
                const float w0 = xr[xp[0]], w1 = xr[xp[1]], w2 = xr[xp[2]], w3 = xr[xp[3]];
                MAC4(a00, a01, a02, a03, gp[0]);
                MAC4(a10, a11, a12, a13, gp[1]);
                MAC4(a20, a21, a22, a23, gp[2]);
                MAC4(a30, a31, a32, a33, gp[3]);
            }
            const float acc[16] = {a00, a01, a02, a03, a10, a11, a12, a13, a20, a21, a22, a23, a30, a31, a32, a33};
            for (uint32_t j = 0; j < 4u; j++) pw_update(s, c + j, ic, acc + 4u * j, 4u);
        }
        for (; ic < IC; ic++)
            for (uint32_t j = 0; j < 4u; j++) {
                float a = 0.0f;
                for (uint32_t p = 0; p < P; p++) a = a + g[p * OC + c + j] * xr[x[p * IC + ic]];
                pw_update(s, c + j, ic, &a, 1u);
            }
    }
    for (; c < NU; c++)
        for (uint32_t ic = 0; ic < IC; ic++) {
            float a = 0.0f;
            for (uint32_t p = 0; p < P; p++) a = a + g[p * OC + c] * xr[x[p * IC + ic]];
            pw_update(s, c, ic, &a, 1u);
        }
}

#define XP 64u   /* positions whose dequantized inputs (4 channels) are staged for the weight gradient */

/* Weight gradient and update of the first n_upd output channels, acc[c][ic] = sum_p g[p][c] x[p][ic]
 * (p ascending, from 0): for each block of 4 input channels the P x 4 inputs are dequantized once
 * (the portable kernel's expression) into xf, then each block of 4 channels runs the 4 x 4
 * micro-kernel over all positions and updates its 16 weights. More than XP positions: the
 * table-driven C loop above. */
static void pw_weights(const tiny_train_step_t *s, const float *g) {
    const uint32_t P = (uint32_t)s->out_h * s->out_w, IC = s->in_c, OC = s->out_c, NU = s->n_upd;
    bias_blk(s, g, P);
    if (NU == 0) return;
    if (P > XP) {
        pw_weights_lut(s, g);
        return;
    }
    const int8_t *x = (const int8_t *)(tiny_train_model.saved + s->x_off);
    const float xs = s->x_scale;
    const int32_t xz = s->x_zp;
    float xf[4u * XP], acc[16];
    uint32_t ic = 0;
    for (; ic + 4u <= IC; ic += 4u) {
        const int8_t *xp = x + ic;
        for (uint32_t p = 0; p < P; p++, xp += IC) {
            xf[4u * p] = xs * (float)((int32_t)xp[0] - xz); xf[4u * p + 1u] = xs * (float)((int32_t)xp[1] - xz);
            xf[4u * p + 2u] = xs * (float)((int32_t)xp[2] - xz); xf[4u * p + 3u] = xs * (float)((int32_t)xp[3] - xz);
        }
        uint32_t c = 0;
        for (; c + 4u <= NU; c += 4u) {
            mk_weights(acc, g + c, 4u * OC, xf, P);
            for (uint32_t j = 0; j < 4u; j++) pw_update(s, c + j, ic, acc + 4u * j, 4u);
        }
        for (; c < NU; c++) {
            float a0 = 0.0f, a1 = 0.0f, a2 = 0.0f, a3 = 0.0f;
            for (uint32_t p = 0; p < P; p++) {
                const float gv = g[p * OC + c];
                a0 = a0 + gv * xf[4u * p]; a1 = a1 + gv * xf[4u * p + 1u];
                a2 = a2 + gv * xf[4u * p + 2u]; a3 = a3 + gv * xf[4u * p + 3u];
            }
            const float a[4] = {a0, a1, a2, a3};
            pw_update(s, c, ic, a, 4u);
        }
    }
    for (; ic < IC; ic++)
        for (uint32_t c = 0; c < NU; c++) {
            float a = 0.0f;
            for (uint32_t p = 0; p < P; p++) a = a + g[p * OC + c] * (xs * (float)((int32_t)x[p * IC + ic] - xz));
            pw_update(s, c, ic, &a, 1u);
        }
}

void tiny_conv2d_1x1_bwd_f32(const tiny_train_step_t *s, float *g, float *ws) {
    if (s->k_h != 1 || s->k_w != 1 || s->s_h != 1 || s->s_w != 1 || s->p_t != 0 || s->p_l != 0 ||
        s->in_h != s->out_h || s->in_w != s->out_w) {
        tiny_conv2d_bwd_f32(s, g, ws);
        return;
    }
    if (s->g_in >= 0) pw_data(s, g, ws + s->g_in);
    pw_weights(s, g);
    if (s->mult) tiny_train_scale_update(s, g, (uint32_t)s->out_h * s->out_w);
}

/* ------------------------------------------------------------------ depthwise 3x3, stride 1 */

#define DWCH 32u    /* channels per pass: their 9 scaled weights are staged on the stack (1152 B) */

/* Input gradient by gathering: an input pixel receives at most one term per tap, in tap order
 * (kh, kw) -- the order in which the portable kernel scatters them. The pixel's valid taps are
 * listed once for all channels of a pass; 8 channels accumulate in registers. */
static void dw3_data(const tiny_train_step_t *s, const float *g, float *dx) {
    const int32_t H = s->in_h, W = s->in_w, C = s->in_c, OH = s->out_h, OW = s->out_w;
    const int32_t pt = s->p_t, pl = s->p_l;
    const int zero = (s->flags & TINY_TF_IN_FIRST) != 0;
    float wf[9 * DWCH];
    for (int32_t c0 = 0; c0 < C; c0 += (int32_t)DWCH) {
        const int32_t n = C - c0 < (int32_t)DWCH ? C - c0 : (int32_t)DWCH;
        for (int32_t t = 0; t < 9; t++)
            for (int32_t j = 0; j < n; j++) wf[t * (int32_t)DWCH + j] = s->wscale[c0 + j] * (float)s->w[t * C + c0 + j];
        for (int32_t ih = 0; ih < H; ih++)
            for (int32_t iw = 0; iw < W; iw++) {
                const float *gq[9], *wq[9];
                int32_t nt = 0;
                for (int32_t kh = 0; kh < 3; kh++) {
                    const int32_t oh = ih + pt - kh;
                    if (oh < 0 || oh >= OH) continue;
                    for (int32_t kw = 0; kw < 3; kw++) {
                        const int32_t ow = iw + pl - kw;
                        if (ow < 0 || ow >= OW) continue;
                        gq[nt] = g + (oh * OW + ow) * C + c0;
                        wq[nt] = wf + (kh * 3 + kw) * (int32_t)DWCH;
                        nt++;
                    }
                }
                float *d = dx + (ih * W + iw) * C + c0;
                int32_t j = 0;
                for (; j + 8 <= n; j += 8) {
                    float a0, a1, a2, a3, a4, a5, a6, a7;
                    if (zero) {
                        a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = 0.0f;
                    } else {
                        a0 = d[j]; a1 = d[j + 1]; a2 = d[j + 2]; a3 = d[j + 3];
                        a4 = d[j + 4]; a5 = d[j + 5]; a6 = d[j + 6]; a7 = d[j + 7];
                    }
                    for (int32_t k = 0; k < nt; k++) {
                        const float *q = gq[k] + j, *v = wq[k] + j;
                        a0 = a0 + q[0] * v[0]; a1 = a1 + q[1] * v[1]; a2 = a2 + q[2] * v[2]; a3 = a3 + q[3] * v[3];
                        a4 = a4 + q[4] * v[4]; a5 = a5 + q[5] * v[5]; a6 = a6 + q[6] * v[6]; a7 = a7 + q[7] * v[7];
                    }
                    d[j] = a0; d[j + 1] = a1; d[j + 2] = a2; d[j + 3] = a3;
                    d[j + 4] = a4; d[j + 5] = a5; d[j + 6] = a6; d[j + 7] = a7;
                }
                for (; j < n; j++) {
                    float a = zero ? 0.0f : d[j];
                    for (int32_t k = 0; k < nt; k++) a = a + gq[k][j] * wq[k][j];
                    d[j] = a;
                }
            }
    }
}

void tiny_depthwise_conv2d_3x3_bwd_f32(const tiny_train_step_t *s, float *g, float *ws) {
    if (s->k_h != 3 || s->k_w != 3 || s->s_h != 1 || s->s_w != 1) {
        tiny_depthwise_conv2d_bwd_f32(s, g, ws);
        return;
    }
    if (s->g_in >= 0) dw3_data(s, g, ws + s->g_in);
    if (s->n_upd) {
        tiny_depthwise_conv2d_bwd_weights_f32(s, g);
    } else {
        bias_blk(s, g, (uint32_t)s->out_h * s->out_w);
    }
}

/* ------------------------------------------------------------------ fully connected */

/* dx[i..i+3] accumulated over output channels in registers (the portable kernel adds one output
 * channel at a time into dx: same terms, same order). */
void tiny_fully_connected_blk_bwd_f32(const tiny_train_step_t *s, float *g, float *ws) {
    const uint32_t D = s->in_c, OC = s->out_c;
    const int32_t off = s->w_offset;
    if (s->g_in >= 0) {
        float *dx = ws + s->g_in;
        const int zero = (s->flags & TINY_TF_IN_FIRST) != 0;
        const uint32_t cut = s->w_frozen ? s->n_upd : OC;
        uint32_t i = 0;
        for (; i + 4u <= D; i += 4u) {
            float a0 = zero ? 0.0f : dx[i], a1 = zero ? 0.0f : dx[i + 1];
            float a2 = zero ? 0.0f : dx[i + 2], a3 = zero ? 0.0f : dx[i + 3];
            const int8_t *wp = s->w + i;
            for (uint32_t c = 0; c < OC; c++, wp += D) {
                if (c == cut) wp = s->w_frozen + i;    /* frozen channels: the flash table */
                const float sc = s->wscale[c], gv = g[c];
                a0 = a0 + gv * (sc * (float)((int32_t)wp[0] + off));
                a1 = a1 + gv * (sc * (float)((int32_t)wp[1] + off));
                a2 = a2 + gv * (sc * (float)((int32_t)wp[2] + off));
                a3 = a3 + gv * (sc * (float)((int32_t)wp[3] + off));
            }
            dx[i] = a0; dx[i + 1] = a1; dx[i + 2] = a2; dx[i + 3] = a3;
        }
        for (; i < D; i++) {
            float a = zero ? 0.0f : dx[i];
            for (uint32_t c = 0; c < OC; c++) a = a + g[c] * (s->wscale[c] * (float)((int32_t)tiny_train_wrow(s, c, D)[i] + off));
            dx[i] = a;
        }
    }
    bias_blk(s, g, 1);
    if (s->n_upd == 0) return;
    const int8_t *x = (const int8_t *)(tiny_train_model.saved + s->x_off);
    const float xs = s->x_scale;
    const int32_t xz = s->x_zp;
    float acc[32];
    for (uint32_t c = 0; c < s->n_upd; c++) {
        const float gv = g[c];
        for (uint32_t i0 = 0; i0 < D; i0 += 32u) {
            const uint32_t n = D - i0 < 32u ? D - i0 : 32u;
            for (uint32_t i = 0; i < n; i++) acc[i] = 0.0f + gv * (xs * (float)((int32_t)x[i0 + i] - xz));
            tiny_train_sgd_w(s->w + c * D + i0, acc, n, s->wscale[c], s->mom_w ? s->mom_w + c * D + i0 : NULL);
        }
    }
}
