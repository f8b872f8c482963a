/* QEMU firmware: the assembly SGD weight step (train.c sgd_sr4_asm / sgd_sr4_mom_asm) and the weight-
 * shadow step (sgd_w_shadow_run: sgd_sh4_asm / sgd_sh4_mom_asm between C heads and tails) against the
 * portable C ones on random and extreme steps (tests/train/test_sgd_asm.py); prints KB DONE when every
 * weight, fraction and momentum agrees bit for bit. train.c is included for its static functions. */
#define TINY_TRAIN_NO_PROTOCOL 1
#include "train.c"
#include "sweep_rng.h"

void tiny_semihost_write0(const char *s);
static uint8_t arena[16];
static int no_invoke(int32_t stop_after) { (void)stop_after; return 0; }
const tiny_model_t tiny_model = {.name = "sc", .hash = "0000000000000000", .arena = arena, .invoke = no_invoke};
const tiny_train_model_t tiny_train_model = {.hash = "sc", .lr = 0.1f};

static float rnd_f(void) {
    union { uint32_t u; float f; } v;
    switch (rnd() % 16u) {
    case 0: return (rnd() & 1u) ? 1e30f : -3e12f;                      /* beyond the +-1e9 clamp */
    case 1: return (float)rint_(-300, 300) - 0x1p-20f * (float)rint_(0, 3);   /* near integers */
    case 2: v.u = (rnd() & 0x807FFFFFu) | ((uint32_t)rint_(90, 160) << 23); return v.f;
    case 3: return (float)rint_(-2000000000, 2000000000);
    default: v.u = (rnd() & 0x807FFFFFu) | ((uint32_t)rint_(100, 133) << 23); return v.f;
    }
}

static int8_t w1[256], w2[256], f1[256], f2[256];
static float g[256], m1[256], m2[256], st[256];

/* weights piled up at and next to both clamps (-128 too, which the clamp maps back), else anywhere */
static int8_t rnd_w(void) {
    static const int8_t edge[] = {-128, -127, -126, 126, 127};
    return (rnd() & 1u) ? edge[rnd() % 5u] : (int8_t)rint_(-127, 127);
}

static int same_f(const float *a, const float *b, uint32_t n) {
    for (uint32_t i = 0; i < n; i++) {
        union { float f; uint32_t u; } x = {a[i]}, y = {b[i]};
        if (x.u != y.u) return 0;
    }
    return 1;
}

/* sgd_w_shadow_run (assembly for the aligned groups) against sgd_w_shadow_c alone, at unaligned rounding
 * indices, any count, with and without momentum, QAS on and off. */
static int shadow_trials(void) {
    for (uint32_t t = 0; t < 3000u; t++) {
        const uint32_t n = 1u + rnd() % 200u, idx = rnd() % 5000u, key = rnd(), off = rnd() % 8u;
        const int use_mom = (int)(t & 1u);
        const float scale = (t & 2u) ? 1.0f : (float)rint_(1, 1000) * 0.003f;
        s_qas = (uint8_t)((t >> 2) & 1u);
        s_lr = (float)rint_(1, 100) * 0.01f;
        const float c = step_c(scale), r = s_qas ? 1.0f / scale : scale;
        for (uint32_t i = 0; i < n; i++) {
            w1[off + i] = w2[off + i] = rnd_w();
            f1[off + i] = f2[off + i] = (int8_t)rint_(-128, 127);
            switch (rnd() % 8u) {
            case 0: g[i] = use_mom ? rnd_f() : ((rnd() & 1u) ? 1.0f / 0.0f : -1.0f / 0.0f); break;
            case 1: g[i] = (float)rint_(-70000, 70000) * 0x1p-8f / c; break;   /* steps up to +-2 ranges */
            default: g[i] = rnd_f() * 1e-4f; break;
            }
            m1[i] = m2[i] = rnd_f() * 1e-3f;
        }
        sgd_w_shadow_c(w1 + off, f1 + off, g, n, c, r, use_mom ? m1 : NULL, key, idx);
        sgd_w_shadow_run(w2 + off, f2 + off, g, n, scale, use_mom ? m2 : NULL, key, idx);
        for (uint32_t i = 0; i < n; i++)
            if (w1[off + i] != w2[off + i] || f1[off + i] != f2[off + i]) return 0;
        if (use_mom && !same_f(m1, m2, n)) return 0;
    }
    s_qas = 0;
    return 1;
}

int main(void) {
    s_sr = 1;
    s_mu = 0.9f;
    for (uint32_t t = 0; t < 3000u; t++) {
        const uint32_t n4 = 1u + rnd() % 40u, n = 4u * n4, idx = 4u * (rnd() % 1000u), key = rnd();
        const float c = (t & 1u) ? 1.0f : (float)rint_(1, 1000) * 0.01f, r = (float)rint_(1, 1000) * 0.003f;
        s_lr = (float)rint_(1, 100) * 0.01f;
        for (uint32_t i = 0; i < n; i++) {
            w1[i] = w2[i] = (int8_t)rint_(-127, 127);
            g[i] = rnd_f();
            m1[i] = m2[i] = rnd_f() * 1e-3f;
        }
        sgd_w_c(w1, g, n, c, key, idx);
        sgd_sr4_asm(w2, g, n4, idx, c, key);
        for (uint32_t i = 0; i < n; i++)
            if (w1[i] != w2[i]) { tiny_semihost_write0("SGD MISMATCH\n"); return 1; }
        for (uint32_t i = 0; i < n; i++) st[i] = step_mom(g[i], r, &m1[i]);
        sgd_w_c(w1, st, n, 1.0f, key, idx);
        const float q[3] = {r, s_mu, s_lr};
        sgd_sr4_mom_asm(w2, g, n4, idx, key, q, m2);
        for (uint32_t i = 0; i < n; i++) {
            union { float f; uint32_t u; } a = {m1[i]}, b = {m2[i]};
            if (w1[i] != w2[i] || a.u != b.u) { tiny_semihost_write0("SGD MOM MISMATCH\n"); return 1; }
        }
    }
    if (!shadow_trials()) { tiny_semihost_write0("SGD SHADOW MISMATCH\n"); return 1; }
    tiny_layer_begin(0);
    tiny_layer_end(0);
    tiny_semihost_write0("KB DONE\n");
    return 0;
}
