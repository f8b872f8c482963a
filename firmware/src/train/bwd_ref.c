/* Portable backward kernels of the training runtime: the specification the optimized kernels
 * (bwd_opt.c) must reproduce bit for bit. Every float operation mirrors tiny/reference/train.py
 * (sequential sums in loop order, no fused multiply-add); keep the loop orders in sync. */
#pragma GCC optimize("fp-contract=off")
#include <stddef.h>
#include <stdint.h>
#include "tiny/train.h"

static float x_real(const tiny_train_step_t *s, uint32_t i) {
    const int8_t *x = (const int8_t *)(tiny_train_model.saved + s->x_off);
    return s->x_scale * (float)((int32_t)x[i] - s->x_zp);
}

void tiny_conv2d_bwd_data_f32(const tiny_train_step_t *s, const float *g, float *ws) {
    const uint32_t H = s->in_h, W = s->in_w, IC = s->in_c, OH = s->out_h, OW = s->out_w, OC = s->out_c;
    const uint32_t KH = s->k_h, KW = s->k_w;
    if (s->g_in < 0) return;
    float *dx = ws + s->g_in;
    if (s->flags & TINY_TF_IN_FIRST)
        for (uint32_t i = 0; i < H * W * IC; i++) dx[i] = 0.0f;
    for (uint32_t c = 0; c < OC; c++) {
        const float wsc = s->wscale[c] * tiny_train_kfac(s, c);
        for (uint32_t kh = 0; kh < KH; kh++)
            for (uint32_t kw = 0; kw < KW; kw++) {
                const int8_t *wp = tiny_train_wrow(s, c, KH * KW * IC) + (kh * KW + kw) * IC;
                for (uint32_t oh = 0; oh < OH; oh++) {
                    int32_t ih = (int32_t)(oh * s->s_h + kh) - s->p_t;
                    if (ih < 0 || ih >= (int32_t)H) continue;
                    for (uint32_t ow = 0; ow < OW; ow++) {
                        int32_t iw = (int32_t)(ow * s->s_w + kw) - s->p_l;
                        if (iw < 0 || iw >= (int32_t)W) continue;
                        float gv = g[(oh * OW + ow) * OC + c];
                        float *d = dx + ((uint32_t)ih * W + (uint32_t)iw) * IC;
                        for (uint32_t ic = 0; ic < IC; ic++)
                            d[ic] = d[ic] + gv * (wsc * (float)wp[ic]);
                    }
                }
            }
    }
}

void tiny_conv2d_bwd_weights_f32(const tiny_train_step_t *s, const float *g) {
    const uint32_t H = s->in_h, W = s->in_w, IC = s->in_c, OH = s->out_h, OW = s->out_w, OC = s->out_c;
    const uint32_t KH = s->k_h, KW = s->k_w;
    tiny_train_bias_update(s, g, OH * OW);
    const uint32_t K = KH * KW * IC;
    for (uint32_t c = 0; c < s->n_upd; c++)
        for (uint32_t kh = 0; kh < KH; kh++)
            for (uint32_t kw = 0; kw < KW; kw++)
                for (uint32_t ic = 0; ic < IC; ic++) {
                    float acc = 0.0f;
                    for (uint32_t oh = 0; oh < OH; oh++) {
                        int32_t ih = (int32_t)(oh * s->s_h + kh) - s->p_t;
                        if (ih < 0 || ih >= (int32_t)H) continue;
                        for (uint32_t ow = 0; ow < OW; ow++) {
                            int32_t iw = (int32_t)(ow * s->s_w + kw) - s->p_l;
                            if (iw < 0 || iw >= (int32_t)W) continue;
                            acc = acc + g[(oh * OW + ow) * OC + c] *
                                        x_real(s, ((uint32_t)ih * W + (uint32_t)iw) * IC + ic);
                        }
                    }
                    uint32_t k = (kh * KW + kw) * IC + ic;
                    tiny_train_sgd_w(&s->w[c * K + k], &acc, 1u, s->wscale[c] * tiny_train_kfac(s, c),
                                     s->mom_w ? &s->mom_w[c * K + k] : NULL);
                }
    if (s->mult) tiny_train_scale_update(s, g, OH * OW);
}

void tiny_conv2d_bwd_f32(const tiny_train_step_t *s, float *g, float *ws) {
    tiny_conv2d_bwd_data_f32(s, g, ws);
    tiny_conv2d_bwd_weights_f32(s, g);
}

void tiny_depthwise_conv2d_bwd_data_f32(const tiny_train_step_t *s, const float *g, float *ws) {
    const uint32_t H = s->in_h, W = s->in_w, C = s->in_c, OH = s->out_h, OW = s->out_w;
    const uint32_t KH = s->k_h, KW = s->k_w;
    if (s->g_in < 0) return;
    float *dx = ws + s->g_in;
    if (s->flags & TINY_TF_IN_FIRST)
        for (uint32_t i = 0; i < H * W * C; i++) dx[i] = 0.0f;
    for (uint32_t kh = 0; kh < KH; kh++)
        for (uint32_t kw = 0; kw < KW; kw++) {
            const int8_t *wp = s->w + (kh * KW + kw) * C;
            for (uint32_t oh = 0; oh < OH; oh++) {
                int32_t ih = (int32_t)(oh * s->s_h + kh) - s->p_t;
                if (ih < 0 || ih >= (int32_t)H) continue;
                for (uint32_t ow = 0; ow < OW; ow++) {
                    int32_t iw = (int32_t)(ow * s->s_w + kw) - s->p_l;
                    if (iw < 0 || iw >= (int32_t)W) continue;
                    const float *gp = g + (oh * OW + ow) * C;
                    float *d = dx + ((uint32_t)ih * W + (uint32_t)iw) * C;
                    for (uint32_t c = 0; c < C; c++) d[c] = d[c] + gp[c] * (s->wscale[c] * (float)wp[c]);
                }
            }
        }
}

void tiny_depthwise_conv2d_bwd_weights_f32(const tiny_train_step_t *s, const float *g) {
    const uint32_t H = s->in_h, W = s->in_w, C = s->in_c, OH = s->out_h, OW = s->out_w;
    const uint32_t KH = s->k_h, KW = s->k_w;
    tiny_train_bias_update(s, g, OH * OW);
    const uint32_t K = KH * KW;
    for (uint32_t c = 0; c < s->n_upd; c++)
        for (uint32_t kh = 0; kh < KH; kh++)
            for (uint32_t kw = 0; kw < KW; kw++) {
                float acc = 0.0f;
                for (uint32_t oh = 0; oh < OH; oh++) {
                    int32_t ih = (int32_t)(oh * s->s_h + kh) - s->p_t;
                    if (ih < 0 || ih >= (int32_t)H) continue;
                    for (uint32_t ow = 0; ow < OW; ow++) {
                        int32_t iw = (int32_t)(ow * s->s_w + kw) - s->p_l;
                        if (iw < 0 || iw >= (int32_t)W) continue;
                        acc = acc + g[(oh * OW + ow) * C + c] * x_real(s, ((uint32_t)ih * W + (uint32_t)iw) * C + c);
                    }
                }
                uint32_t k = kh * KW + kw;
                tiny_train_sgd_w(&s->w[k * C + c], &acc, 1u, s->wscale[c], s->mom_w ? &s->mom_w[c * K + k] : NULL);
            }
}

void tiny_depthwise_conv2d_bwd_f32(const tiny_train_step_t *s, float *g, float *ws) {
    tiny_depthwise_conv2d_bwd_data_f32(s, g, ws);
    tiny_depthwise_conv2d_bwd_weights_f32(s, g);
}

void tiny_fully_connected_bwd_f32(const tiny_train_step_t *s, float *g, float *ws) {
    const uint32_t D = s->in_c, OC = s->out_c;
    if (s->g_in >= 0) {
        float *dx = ws + s->g_in;
        if (s->flags & TINY_TF_IN_FIRST)
            for (uint32_t i = 0; i < D; i++) dx[i] = 0.0f;
        for (uint32_t c = 0; c < OC; c++) {
            const int8_t *wp = tiny_train_wrow(s, c, D);
            for (uint32_t i = 0; i < D; i++)
                dx[i] = dx[i] + g[c] * (s->wscale[c] * (float)((int32_t)wp[i] + s->w_offset));
        }
    }
    tiny_train_bias_update(s, g, 1);
    for (uint32_t c = 0; c < s->n_upd; c++)
        for (uint32_t i = 0; i < D; i++) {
            float acc = 0.0f + g[c] * x_real(s, i);
            tiny_train_sgd_w(&s->w[c * D + i], &acc, 1u, s->wscale[c], s->mom_w ? &s->mom_w[c * D + i] : NULL);
        }
}
