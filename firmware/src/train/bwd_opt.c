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

#define WCHUNK 64u   /* output channels whose weight scales are staged on the stack per pass */

/* Bias update: the portable per-channel sums over positions, 4 channels per pass. */
static void bias_blk(const tiny_train_step_t *s, const float *g, uint32_t positions) {
    if (!(s->flags & TINY_TF_UPD_B)) return;
    const uint32_t oc = s->out_c;
    uint32_t c = 0;
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

/* dx[p][ic..ic+3] for 4 positions, channels [c0, c0 + n) of the output gradient. */
static void pw_data_4x4(const float *restrict g, uint32_t OC, const int8_t *restrict w, uint32_t IC,
                        const float *restrict wsc, uint32_t n, float *restrict d, int zero) {
    float a00, a01, a02, a03, a10, a11, a12, a13, a20, a21, a22, a23, a30, a31, a32, a33;
    if (zero) {
        a00 = a01 = a02 = a03 = a10 = a11 = a12 = a13 = 0.0f;
        a20 = a21 = a22 = a23 = a30 = a31 = a32 = a33 = 0.0f;
    } else {
        a00 = d[0]; a01 = d[1]; a02 = d[2]; a03 = d[3];
        a10 = d[IC]; a11 = d[IC + 1]; a12 = d[IC + 2]; a13 = d[IC + 3];
        a20 = d[2 * IC]; a21 = d[2 * IC + 1]; a22 = d[2 * IC + 2]; a23 = d[2 * IC + 3];
        a30 = d[3 * IC]; a31 = d[3 * IC + 1]; a32 = d[3 * IC + 2]; a33 = d[3 * IC + 3];
    }
    const float *g1 = g + OC, *g2 = g + 2 * OC, *g3 = g + 3 * OC;
    for (uint32_t c = 0; c < n; c++) {
        const float sc = wsc[c];
        const float w0 = sc * (float)w[0], w1 = sc * (float)w[1], w2 = sc * (float)w[2], w3 = sc * (float)w[3];
        w += IC;
        MAC4(a00, a01, a02, a03, g[c]);
        MAC4(a10, a11, a12, a13, g1[c]);
        MAC4(a20, a21, a22, a23, g2[c]);
        MAC4(a30, a31, a32, a33, g3[c]);
    }
    d[0] = a00; d[1] = a01; d[2] = a02; d[3] = a03;
    d[IC] = a10; d[IC + 1] = a11; d[IC + 2] = a12; d[IC + 3] = a13;
    d[2 * IC] = a20; d[2 * IC + 1] = a21; d[2 * IC + 2] = a22; d[2 * IC + 3] = a23;
    d[3 * IC] = a30; d[3 * IC + 1] = a31; d[3 * IC + 2] = a32; d[3 * IC + 3] = a33;
}

/* dx[p..p+7][ic, ic+1]: 8 positions x 2 input channels, each weight converted once per 16 terms. */
static void pw_data_8x2(const float *restrict g, uint32_t OC, const int8_t *restrict w, uint32_t IC,
                        const float *restrict wsc, uint32_t n, float *restrict d, int zero) {
    float a[8][2];
    for (uint32_t k = 0; k < 8u; k++) {
        a[k][0] = zero ? 0.0f : d[k * IC];
        a[k][1] = zero ? 0.0f : d[k * IC + 1];
    }
    float a00 = a[0][0], a01 = a[0][1], a10 = a[1][0], a11 = a[1][1], a20 = a[2][0], a21 = a[2][1];
    float a30 = a[3][0], a31 = a[3][1], a40 = a[4][0], a41 = a[4][1], a50 = a[5][0], a51 = a[5][1];
    float a60 = a[6][0], a61 = a[6][1], a70 = a[7][0], a71 = a[7][1];
    const float *g1 = g + OC, *g2 = g + 2 * OC, *g3 = g + 3 * OC, *g4 = g + 4 * OC, *g5 = g + 5 * OC;
    const float *g6 = g + 6 * OC, *g7 = g + 7 * OC;
    for (uint32_t c = 0; c < n; c++) {
        const float sc = wsc[c];
        const float w0 = sc * (float)w[0], w1 = sc * (float)w[1];
        w += IC;
        float v;
        v = g[c];  a00 = a00 + v * w0; a01 = a01 + v * w1;
        v = g1[c]; a10 = a10 + v * w0; a11 = a11 + v * w1;
        v = g2[c]; a20 = a20 + v * w0; a21 = a21 + v * w1;
        v = g3[c]; a30 = a30 + v * w0; a31 = a31 + v * w1;
        v = g4[c]; a40 = a40 + v * w0; a41 = a41 + v * w1;
        v = g5[c]; a50 = a50 + v * w0; a51 = a51 + v * w1;
        v = g6[c]; a60 = a60 + v * w0; a61 = a61 + v * w1;
        v = g7[c]; a70 = a70 + v * w0; a71 = a71 + v * w1;
    }
    d[0] = a00; d[1] = a01; d[IC] = a10; d[IC + 1] = a11; d[2 * IC] = a20; d[2 * IC + 1] = a21;
    d[3 * IC] = a30; d[3 * IC + 1] = a31; d[4 * IC] = a40; d[4 * IC + 1] = a41;
    d[5 * IC] = a50; d[5 * IC + 1] = a51; d[6 * IC] = a60; d[6 * IC + 1] = a61;
    d[7 * IC] = a70; d[7 * IC + 1] = a71;
}

/* One dx element (tails). */
static void pw_data_1x1(const float *restrict g, const int8_t *restrict w, uint32_t IC, const float *restrict wsc,
                        uint32_t n, float *restrict d, int zero) {
    float a = zero ? 0.0f : *d;
    for (uint32_t c = 0; c < n; c++, w += IC) a = a + g[c] * (wsc[c] * (float)w[0]);
    *d = a;
}

static void pw_data(const tiny_train_step_t *s, const float *g, float *dx) {
    const uint32_t P = (uint32_t)s->out_h * s->out_w, IC = s->in_c, OC = s->out_c;
    float wsc[WCHUNK];
    for (uint32_t c0 = 0; c0 < OC; c0 += WCHUNK) {
        const uint32_t n = OC - c0 < WCHUNK ? OC - c0 : WCHUNK;
        for (uint32_t j = 0; j < n; j++) wsc[j] = s->wscale[c0 + j] * tiny_train_kfac(s, c0 + j);
        const int zero = c0 == 0 && (s->flags & TINY_TF_IN_FIRST);
        const int8_t *wc = s->w + c0 * IC;
        uint32_t p = 0;
        for (; p + 8u <= P; p += 8u) {
            uint32_t ic = 0;
            for (; ic + 2u <= IC; ic += 2u)
                pw_data_8x2(g + p * OC + c0, OC, wc + ic, IC, wsc, n, dx + p * IC + ic, zero);
            for (; ic < IC; ic++)
                for (uint32_t k = 0; k < 8u; k++)
                    pw_data_1x1(g + (p + k) * OC + c0, wc + ic, IC, wsc, n, dx + (p + k) * IC + ic, zero);
        }
        for (; p + 4u <= P; p += 4u) {
            uint32_t ic = 0;
            for (; ic + 4u <= IC; ic += 4u)
                pw_data_4x4(g + p * OC + c0, OC, wc + ic, IC, wsc, n, dx + p * IC + ic, zero);
            for (; ic < IC; ic++)
                for (uint32_t k = 0; k < 4u; k++)
                    pw_data_1x1(g + (p + k) * OC + c0, wc + ic, IC, wsc, n, dx + (p + k) * IC + ic, zero);
        }
        for (; p < P; p++)
            for (uint32_t ic = 0; ic < IC; ic++)
                pw_data_1x1(g + p * OC + c0, wc + ic, IC, wsc, n, dx + p * IC + ic, zero);
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
static void pw_weights(const tiny_train_step_t *s, const float *g) {
    const uint32_t P = (uint32_t)s->out_h * s->out_w, IC = s->in_c, OC = s->out_c, NU = s->n_upd;
    bias_blk(s, g, P);
    if (NU == 0) return;
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
        uint32_t i = 0;
        for (; i + 4u <= D; i += 4u) {
            float a0 = zero ? 0.0f : dx[i], a1 = zero ? 0.0f : dx[i + 1];
            float a2 = zero ? 0.0f : dx[i + 2], a3 = zero ? 0.0f : dx[i + 3];
            const int8_t *wp = s->w + i;
            for (uint32_t c = 0; c < OC; c++, wp += D) {
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
            for (uint32_t c = 0; c < OC; c++) a = a + g[c] * (s->wscale[c] * (float)((int32_t)s->w[c * D + i] + off));
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
