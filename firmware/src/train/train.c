/* On-device training: captures during the int8 forward, the step loop of the float32 backward
 * (layer kernels in bwd_ref.c / bwd_opt.c, chosen per step by the generator), the rounded/saturated
 * SGD update (with QAS), and the training protocol commands 0x10-0x17.
 * Every float operation mirrors tiny/reference/train.py; keep the loop orders in sync. */
#pragma GCC optimize("fp-contract=off")
#include <stddef.h>
#include <stdint.h>
#include "tiny/model.h"
#include "tiny/protocol.h"
#include "tiny/port.h"
#include "tiny/train.h"

#define TINY_TRAIN_STEP_MARK 0xFFFFFFFFu
static int s_capture_on;        /* 0 off, 1 every capture (a step), CAPTURE_LOGITS the logits only (EVAL) */
#define CAPTURE_LOGITS 2
static uint32_t s_steps;
static float s_lr, s_mu;
static uint8_t s_qas, s_init;
static uint8_t s_sr = 1;            /* stochastic rounding of the updates (SET_HPARAMS; 0: nearest) */
/* The backward step being run and its stochastic-rounding keys (weights, bias): set by run_step. */
static const tiny_train_step_t *s_cur;
static uint32_t s_key_w, s_key_b;

static void init_once(void) {
    if (s_init) return;
    s_lr = tiny_train_model.lr;
    s_mu = tiny_train_model.momentum;
    s_qas = tiny_train_model.qas;
    s_init = 1;
}

void tiny_train_capture(int32_t op) {
    if (!s_capture_on) return;
    const tiny_train_model_t *m = &tiny_train_model;
    for (uint32_t i = 0; i < m->n_captures; i++) {
        const tiny_train_capture_t *c = &m->captures[i];
        if (c->op != op) continue;
        if (s_capture_on == CAPTURE_LOGITS && c->dst != (uint32_t)m->steps[0].x_off) continue;
        const int8_t *src = (const int8_t *)(tiny_model.arena + c->src);
        uint8_t *dst = m->saved + c->dst;
        if (c->kind == TINY_CAP_COPY) {
            for (uint32_t k = 0; k < c->n; k++) dst[k] = (uint8_t)src[k];
        } else {
            for (uint32_t k = 0; k < (c->n + 7u) / 8u; k++) dst[k] = 0;
            for (uint32_t k = 0; k < c->n; k++)
                if (src[k] > c->lo && src[k] < c->hi) dst[k >> 3] |= (uint8_t)(1u << (k & 7u));
        }
    }
}

static const float EXP_C[7] = {0x1.6c16c2p-10f, 0x1.111112p-7f, 0x1.555556p-5f, 0x1.555556p-3f,
                               0x1p-1f, 0x1p+0f, 0x1p+0f};

float tiny_train_exp(float x) {
    if (x < -87.0f) x = -87.0f;
    float t = x * 0x1.715476p+0f;                 /* log2(e) */
    int32_t k = (int32_t)(t - 0.5f);
    float kf = (float)k;
    float r = x - kf * 0x1.62e4p-1f;              /* ln2 hi */
    r = r - kf * 0x1.7f7d1cp-20f;                 /* ln2 lo */
    float p = EXP_C[0];
    for (int i = 1; i < 7; i++) p = p * r + EXP_C[i];
    union { uint32_t u; float f; } two;
    two.u = (uint32_t)(k + 127) << 23;
    return p * two.f;
}

static int32_t round_update(float step) {
    if (step > 1e9f) step = 1e9f;
    if (step < -1e9f) step = -1e9f;
    return (int32_t)(step >= 0.0f ? step + 0.5f : step - 0.5f);
}

/* MurmurHash3's 32-bit finalizer: the counter-based generator of the stochastic rounding
 * (tiny/reference/train.py fmix32). */
static inline __attribute__((always_inline)) uint32_t fmix32(uint32_t h) {
    h ^= h >> 16;
    h *= 0x85EBCA6Bu;
    h ^= h >> 13;
    h *= 0xC2B2AE35u;
    h ^= h >> 16;
    return h;
}

static uint32_t sr_key(uint32_t step, uint32_t bstep, uint32_t role) {
    return fmix32(step * 0x9E3779B9u + (2u * bstep + role) * 0x85EBCA6Bu);
}

/* floor(v + u), u = (fmix32(index ^ key) >> 8) 2^-24 in [0, 1): unbiased, so updates far below one
 * quantum still move the weight in expectation; nearest rounding when stochastic rounding is off. */
static inline __attribute__((always_inline)) int32_t round_sr_if(float v, uint32_t key, uint32_t index, int sr) {
    if (!sr) return round_update(v);
    if (v > 1e9f) v = 1e9f;
    if (v < -1e9f) v = -1e9f;
    float t = v + (float)(fmix32(index ^ key) >> 8) * 0x1p-24f;
    int32_t k = (int32_t)t;
    return (float)k > t ? k - 1 : k;
}

static inline __attribute__((always_inline)) int32_t round_sr(float v, uint32_t key, uint32_t index) {
    return round_sr_if(v, key, index, s_sr);
}

/* The one definition of a parameter step (tiny/reference/train.py _update), the scale folded into a
 * float32 factor once per call: without momentum step = g * c, c = lr / scale (QAS) or lr * scale;
 * with momentum m = mu m + g * r, r = 1 / scale (QAS) or scale, step = lr m. */
static inline __attribute__((always_inline)) float step_c(float scale) {
    return s_qas ? s_lr / scale : s_lr * scale;
}

static inline __attribute__((always_inline)) float step_mom(float g, float r, float *mom) {
    float v = s_mu * *mom + g * r;
    *mom = v;
    return s_lr * v;
}

static inline __attribute__((always_inline)) int8_t clamp_w(int32_t v) {
    return (int8_t)(v > 127 ? 127 : v < -127 ? -127 : v);
}

/* w[i] -= round(g[i] c) for the weights of rounding index idx..idx+n-1, the portable way. */
static void sgd_w_c(int8_t *w, const float *g, uint32_t n, float c, uint32_t key, uint32_t idx) {
    if (s_sr)
        for (uint32_t i = 0; i < n; i++) w[i] = clamp_w((int32_t)w[i] - round_sr_if(g[i] * c, key, idx + i, 1));
    else
        for (uint32_t i = 0; i < n; i++) w[i] = clamp_w((int32_t)w[i] - round_update(g[i] * c));
}

#if defined(__thumb2__) && defined(__ARM_FP) && (__ARM_FP & 4) && defined(__ARM_FEATURE_DSP) && \
    defined(__ARM_PCS_VFP)
#define TINY_SGD_ASM 1
/* The stochastically rounded weight step in assembly, the operations of sgd_w_c bit for bit, ~17
 * instructions a weight instead of ~40 (generated blocks; registers: r0 w, r1 g, r2 = 0, r3 scratch,
 * r4 rounding index, r5 key, r6/r7 the fmix32 multipliers, r8 the caller's FPSCR, r9 the same with
 * round-toward-minus-infinity, r10-r12/lr 4 lanes, s15 c):
 *  - fmix32((idx + j) ^ key) with idx a multiple of 8 (4 for a lone group) = fmix32((idx ^ key) ^ j):
 *    j only touches the low bits, so the first xorshift y = x ^ (x >> 16) is shared: y ^ j;
 *  - u = (h >> 8) 2^-24 by one exact fixed-point VCVT (#24);
 *  - t = v + u rounded to nearest as in C, then floor(t) by one VCVTR under round-toward-minus-infinity
 *    (FPSCR switched around the conversions only) instead of truncation and a float compare;
 *  - no +-1e9 clamp: VCVTR and QSUB saturate, and every step beyond +-254 quanta leaves the weight at
 *    the same bound either way;
 *  - clamp(w - k, -127, 127) = sat8(0 - ssat8(k - w)) with QSUB8 (SSAT alone gives -128..127; only
 *    the low byte is stored). */
/* Building blocks of the groups below. */
/* fmix32 steps 2-3 of lanes r10-r12/lr (each = (y ^ j) * m1), then u = (h >> 8) 2^-24 into s8-s11 */
#define SGD_MIX4 \
    "eor r10, r10, r10, lsr #13\n\t" \
    "eor r11, r11, r11, lsr #13\n\t" \
    "eor r12, r12, r12, lsr #13\n\t" \
    "eor lr, lr, lr, lsr #13\n\t" \
    "mul r10, r10, r7\n\t" \
    "mul r11, r11, r7\n\t" \
    "mul r12, r12, r7\n\t" \
    "mul lr, lr, r7\n\t" \
    "eor r10, r10, r10, lsr #16\n\t" \
    "eor r11, r11, r11, lsr #16\n\t" \
    "eor r12, r12, r12, lsr #16\n\t" \
    "eor lr, lr, lr, lsr #16\n\t" \
    "lsr r10, r10, #8\n\t" \
    "lsr r11, r11, #8\n\t" \
    "lsr r12, r12, #8\n\t" \
    "lsr lr, lr, #8\n\t" \
    "vmov s8, s9, r10, r11\n\t" \
    "vmov s10, s11, r12, lr\n\t" \
    "vcvt.f32.u32 s8, s8, #24\n\t" \
    "vcvt.f32.u32 s9, s9, #24\n\t" \
    "vcvt.f32.u32 s10, s10, #24\n\t" \
    "vcvt.f32.u32 s11, s11, #24\n\t"
/* lanes 0-3 of a group: y = x ^ (x >> 16) of x = idx ^ key in r3, lane j = (y ^ j) * m1 */
#define SGD_KEY_LO \
    "eor r3, r4, r5\n\t" \
    "eor r3, r3, r3, lsr #16\n\t" \
    "mul r10, r3, r6\n\t" \
    "eor r11, r3, #1\n\t" \
    "eor r12, r3, #2\n\t" \
    "eor lr, r3, #3\n\t" \
    "mul r11, r11, r6\n\t" \
    "mul r12, r12, r6\n\t" \
    "mul lr, lr, r6\n\t"
/* lanes 4-7 of a group of 8 (y still in r3) */
#define SGD_KEY_HI \
    "eor r10, r3, #4\n\t" \
    "eor r11, r3, #5\n\t" \
    "eor r12, r3, #6\n\t" \
    "eor lr, r3, #7\n\t" \
    "mul r10, r10, r6\n\t" \
    "mul r11, r11, r6\n\t" \
    "mul r12, r12, r6\n\t" \
    "mul lr, lr, r6\n\t"
/* s[a..a+3] += u (s8-s11) */
#define SGD_ADD_U(a, b, c, d) \
    "vadd.f32 s" #a ", s" #a ", s8\n\t" \
    "vadd.f32 s" #b ", s" #b ", s9\n\t" \
    "vadd.f32 s" #c ", s" #c ", s10\n\t" \
    "vadd.f32 s" #d ", s" #d ", s11\n\t"
#define SGD_FLOOR(s) "vcvtr.s32.f32 s" #s ", s" #s "\n\t"
/* w[off] = clamp(w[off] - k, -127, 127) for the rounded step k in register r */
#define SGD_STORE(r, off) \
    "ldrsb r3, [r0, #" #off "]\n\t" \
    "qsub " #r ", " #r ", r3\n\t" \
    "ssat " #r ", #8, " #r "\n\t" \
    "qsub8 " #r ", r2, " #r "\n\t" \
    "strb " #r ", [r0, #" #off "]\n\t"
/* the rounded steps in s[a..a+3] into w[o..o+3] */
#define SGD_STORE4(a, b, c, d, o0, o1, o2, o3) \
    "vmov r10, r11, s" #a ", s" #b "\n\t" \
    "vmov r12, lr, s" #c ", s" #d "\n\t" \
    SGD_STORE(r10, o0) SGD_STORE(r11, o1) SGD_STORE(r12, o2) SGD_STORE(lr, o3)
#define SGD_SCALE(s) "vmul.f32 s" #s ", s" #s ", s15\n\t"

/* floor(s[i] + u_i) of 8 float steps in s0-s7 (rounding indices r4..r4+7), as int32 in place */
#define SGD_FLOOR8 \
    SGD_KEY_LO SGD_MIX4 SGD_ADD_U(0, 1, 2, 3) \
    SGD_KEY_HI SGD_MIX4 SGD_ADD_U(4, 5, 6, 7) \
    "adds r4, r4, #8\n\t" \
    "vmsr fpscr, r9\n\t" \
    SGD_FLOOR(0) SGD_FLOOR(1) SGD_FLOOR(2) SGD_FLOOR(3) \
    SGD_FLOOR(4) SGD_FLOOR(5) SGD_FLOOR(6) SGD_FLOOR(7) \
    "vmsr fpscr, r8\n\t"
/* the same for 4 steps in s0-s3 */
#define SGD_FLOOR4 \
    SGD_KEY_LO SGD_MIX4 SGD_ADD_U(0, 1, 2, 3) \
    "adds r4, r4, #4\n\t" \
    "vmsr fpscr, r9\n\t" \
    SGD_FLOOR(0) SGD_FLOOR(1) SGD_FLOOR(2) SGD_FLOOR(3) \
    "vmsr fpscr, r8\n\t"
/* 8 weights: g * c, rounded, subtracted */
#define SGD_G8 \
    "vldmia r1!, {s0-s7}\n\t" \
    SGD_SCALE(0) SGD_SCALE(1) SGD_SCALE(2) SGD_SCALE(3) \
    SGD_SCALE(4) SGD_SCALE(5) SGD_SCALE(6) SGD_SCALE(7) \
    SGD_FLOOR8 \
    SGD_STORE4(0, 1, 2, 3, 0, 1, 2, 3) \
    SGD_STORE4(4, 5, 6, 7, 4, 5, 6, 7) \
    "adds r0, r0, #8\n\t"
/* the noise, floor and store of 4 weights whose float steps are in s0-s3 */
#define SGD_ROUND4 \
    SGD_FLOOR4 \
    SGD_STORE4(0, 1, 2, 3, 0, 1, 2, 3) \
    "adds r0, r0, #4\n\t"
/* 4 weights */
#define SGD_G4 \
    "vldmia r1!, {s0-s3}\n\t" \
    SGD_SCALE(0) SGD_SCALE(1) SGD_SCALE(2) SGD_SCALE(3) \
    SGD_ROUND4
/* one momentum lane: m = mu m + g r, step = lr m */
#define SGD_MOM(m, g) \
    "vmul.f32 s" #m ", s" #m ", s17\n\t" \
    "vmul.f32 s" #g ", s" #g ", s16\n\t" \
    "vadd.f32 s" #m ", s" #m ", s" #g "\n\t" \
    "vmul.f32 s" #g ", s" #m ", s18\n\t"
/* the float steps of 4 weights with momentum into s0-s3: m = mu m + g r, step = lr m (s16-s18 = r,
 * mu, lr; s19 the momentum pointer) */
#define SGD_STEPS4M \
    "vmov r3, s19\n\t" \
    "vldmia r1!, {s0-s3}\n\t" \
    "vldmia r3, {s8-s11}\n\t" \
    SGD_MOM(8, 0) SGD_MOM(9, 1) SGD_MOM(10, 2) SGD_MOM(11, 3) \
    "vstmia r3!, {s8-s11}\n\t" \
    "vmov s19, r3\n\t"
/* 4 weights with momentum */
#define SGD_G4M \
    SGD_STEPS4M \
    SGD_ROUND4
/* r4 = idx, r5 = key (the 5th argument), constants */
#define SGD_SETUP \
    "push {r4-r11, lr}\n\t" \
    "mov r4, r3\n\t" \
    "ldr r5, [sp, #36]\n\t" \
    "movw r6, #0xCA6B\n\t" \
    "movt r6, #0x85EB\n\t" \
    "movw r7, #0xAE35\n\t" \
    "movt r7, #0xC2B2\n\t" \
    "vmrs r8, fpscr\n\t" \
    "bic r9, r8, #0xC00000\n\t" \
    "orr r9, r9, #0x800000\n\t"

/* The group loop after SGD_SETUP: one group of 4 first when idx is not a multiple of 8, pairs of
 * groups (G8), a last group of 4 (G4); s13 counts the groups left, s12 is the end of the pairs in g. */
#define SGD_LOOP(G4, G8) \
    "tst    r4, #4\n\t"                 /* one group first to align idx to 8 */ \
    "beq    1f\n\t" \
    G4 \
    "vmov   r3, s13\n\t" \
    "subs   r3, r3, #1\n\t" \
    "vmov   s13, r3\n\t" \
    "beq    4f\n\t" \
    "1:\n\t" \
    "vmov   r3, s13\n\t" \
    "lsrs   r3, r3, #1\n\t" \
    "beq    3f\n\t" \
    "add    r3, r1, r3, lsl #5\n\t" \
    "vmov   s12, r3\n\t"                /* end of the pairs of groups in g */ \
    "2:\n\t" \
    G8 \
    "vmov   r3, s12\n\t" \
    "cmp    r1, r3\n\t" \
    "bne    2b\n\t" \
    "3:\n\t" \
    "vmov   r3, s13\n\t" \
    "tst    r3, #1\n\t" \
    "beq    4f\n\t" \
    G4 \
    "4:\n\t" \
    "pop    {r4-r11, pc}\n\t"
/* The momentum loop after SGD_SETUP, 4 weights a pass: s16-s18 = *q, s19 = mom, s12 the end of g
 * (the stack offsets count the 9 + 4 words pushed). */
#define SGD_MOM_PROLOGUE \
    "vpush  {s16-s19}\n\t" \
    "ldr    r3, [sp, #56]\n\t"          /* q */ \
    "vldmia r3, {s16-s18}\n\t" \
    "ldr    r3, [sp, #60]\n\t"          /* mom */ \
    "vmov   s19, r3\n\t" \
    "add    r3, r1, r2, lsl #4\n\t" \
    "vmov   s12, r3\n\t"                /* end of g */
#define SGD_MOM_LOOP(G4M) \
    "1:\n\t" \
    G4M \
    "vmov   r3, s12\n\t" \
    "cmp    r1, r3\n\t" \
    "bne    1b\n\t" \
    "vpop   {s16-s19}\n\t" \
    "pop    {r4-r11, pc}\n\t"

/* w[i] -= floor(g[i] c + u_i) for 4 * n4 weights (n4 >= 1) whose first rounding index idx is a multiple
 * of 4; c arrives in s0 (hard-float ABI). */
__attribute__((naked, noinline)) static void sgd_sr4_asm(int8_t *w, const float *g, uint32_t n4, uint32_t idx,
                                                         float c, uint32_t key) {
    __asm__ volatile(
        SGD_SETUP
        "vmov.f32 s15, s0\n\t"
        "vmov   s13, r2\n\t"                /* groups left */
        "movs   r2, #0\n\t"
        SGD_LOOP(SGD_G4, SGD_G8));
}

/* The same with momentum (step_mom), q = {r, mu, lr}, 4 weights a pass. */
__attribute__((naked, noinline)) static void sgd_sr4_mom_asm(int8_t *w, const float *g, uint32_t n4, uint32_t idx,
                                                             uint32_t key, const float *q, float *mom) {
    __asm__ volatile(
        SGD_SETUP
        SGD_MOM_PROLOGUE
        "movs   r2, #0\n\t"
        SGD_MOM_LOOP(SGD_G4M));
}

/* The weight-shadow step (sgd_w_shadow_c) on the same blocks: the float steps times 256 (a separate
 * exact multiply, as in C: folding 256 into c would round differently where g c is subnormal), the
 * same noise and floor, then the 4 weights and fractions of a group as one word each, the lanes as
 * x = v + 128 = 256 w + (frac ^ 0x80) in 16-bit halves (bytes of w and frac ^ 0x80 interleaved):
 *  - e = ssat16(qsub(x, k)) per lane in 32 bits (k needs 17: QSUB16 on a 16-bit k would be wrong;
 *    no +-1e9 clamp: a step beyond it leaves v at the same bound either way);
 *  - x' = min(max(e - 256, -32768) + 256, 32767) = max(e, -32512) by QSUB16 then QADD16 on the packed
 *    pair (r3 = 256 in both halves): the two clamps of the C loop, clamp(v, -127 256 - 128,
 *    127 256 + 127) + 128, an interval no single saturation gives;
 *  - the new w = x' >> 8 = floor((v + 128) / 256) is byte 1 of the halves and frac = v - 256 w = the
 *    low byte of v = byte 0 ^ 0x80: the bytes interleaved back.
 * The arrays need not be word-aligned: LDR/STR take unaligned addresses on v7-M (a little slower).
 * Registers as above, but r2 the frac pointer and r3 = 0x01000100 in the store stage, s14 = 256.0f. */
/* the halves of X (low: lane of s[ka], high: lane of s[kb]) minus their rounded steps, clamped */
#define SGD_SH_PAIR(X, ka, kb) \
    "vmov r10, s" #ka "\n\t" \
    "sxth lr, " #X "\n\t" \
    "qsub r10, lr, r10\n\t" \
    "ssat r10, #16, r10\n\t" \
    "vmov lr, s" #kb "\n\t" \
    "asr " #X ", " #X ", #16\n\t" \
    "qsub lr, " #X ", lr\n\t" \
    "ssat lr, #16, lr\n\t" \
    "pkhbt " #X ", r10, lr, lsl #16\n\t" \
    "qsub16 " #X ", " #X ", r3\n\t" \
    "qadd16 " #X ", " #X ", r3\n\t"
/* the rounded steps in s[a..a+3] into w[o..o+3] and frac[o..o+3] (r12: lanes 0 and 2, r11: 1 and 3) */
#define SGD_SH_STORE4(a, b, c, d, o) \
    "ldr r10, [r0, #" #o "]\n\t" \
    "ldr r11, [r2, #" #o "]\n\t" \
    "eor r11, r11, #0x80808080\n\t" \
    "uxtb16 r12, r11\n\t" \
    "and lr, r10, #0x00FF00FF\n\t" \
    "orr r12, r12, lr, lsl #8\n\t" \
    "uxtb16 r11, r11, ror #8\n\t" \
    "and r10, r10, #0xFF00FF00\n\t" \
    "orr r11, r11, r10\n\t" \
    SGD_SH_PAIR(r12, a, c) \
    SGD_SH_PAIR(r11, b, d) \
    "and r10, r11, #0xFF00FF00\n\t" \
    "and lr, r12, #0xFF00FF00\n\t" \
    "orr r10, r10, lr, lsr #8\n\t" \
    "str r10, [r0, #" #o "]\n\t" \
    "uxtb16 r12, r12\n\t" \
    "uxtb16 r11, r11\n\t" \
    "orr r12, r12, r11, lsl #8\n\t" \
    "eor r12, r12, #0x80808080\n\t" \
    "str r12, [r2, #" #o "]\n\t"
#define SGD_X256(s) "vmul.f32 s" #s ", s" #s ", s14\n\t"
/* 8 shadowed weights: (g * c) * 256, rounded, applied */
#define SGD_SH_G8 \
    "vldmia r1!, {s0-s7}\n\t" \
    SGD_SCALE(0) SGD_SCALE(1) SGD_SCALE(2) SGD_SCALE(3) \
    SGD_SCALE(4) SGD_SCALE(5) SGD_SCALE(6) SGD_SCALE(7) \
    SGD_X256(0) SGD_X256(1) SGD_X256(2) SGD_X256(3) \
    SGD_X256(4) SGD_X256(5) SGD_X256(6) SGD_X256(7) \
    SGD_FLOOR8 \
    "mov r3, #0x01000100\n\t" \
    SGD_SH_STORE4(0, 1, 2, 3, 0) \
    SGD_SH_STORE4(4, 5, 6, 7, 4) \
    "adds r0, r0, #8\n\t" \
    "adds r2, r2, #8\n\t"
/* the 256-fold steps of 4 shadowed weights in s0-s3: noise, floor, applied */
#define SGD_SH_ROUND4 \
    SGD_X256(0) SGD_X256(1) SGD_X256(2) SGD_X256(3) \
    SGD_FLOOR4 \
    "mov r3, #0x01000100\n\t" \
    SGD_SH_STORE4(0, 1, 2, 3, 0) \
    "adds r0, r0, #4\n\t" \
    "adds r2, r2, #4\n\t"
#define SGD_SH_G4 \
    "vldmia r1!, {s0-s3}\n\t" \
    SGD_SCALE(0) SGD_SCALE(1) SGD_SCALE(2) SGD_SCALE(3) \
    SGD_SH_ROUND4
#define SGD_SH_G4M \
    SGD_STEPS4M \
    SGD_SH_ROUND4
/* s14 = 256.0f (0x43800000, an encodable immediate) */
#define SGD_SH_256 \
    "mov    r3, #0x43800000\n\t" \
    "vmov   s14, r3\n\t"

/* sgd_w_shadow_c for 4 * n4 weights (n4 >= 1) whose first rounding index idx is a multiple of 4. */
__attribute__((naked, noinline)) static void sgd_sh4_asm(int8_t *w, const float *g, uint32_t n4, uint32_t idx,
                                                         float c, uint32_t key, int8_t *frac) {
    __asm__ volatile(
        SGD_SETUP
        "vmov.f32 s15, s0\n\t"
        "vmov   s13, r2\n\t"                /* groups left */
        "ldr    r2, [sp, #40]\n\t"          /* frac (after 9 words pushed) */
        SGD_SH_256
        SGD_LOOP(SGD_SH_G4, SGD_SH_G8));
}

/* The same with momentum, q = {r, mu, lr}. */
__attribute__((naked, noinline)) static void sgd_sh4_mom_asm(int8_t *w, const float *g, uint32_t n4, uint32_t idx,
                                                             uint32_t key, const float *q, float *mom,
                                                             int8_t *frac) {
    __asm__ volatile(
        SGD_SETUP
        SGD_MOM_PROLOGUE
        "ldr    r2, [sp, #64]\n\t"          /* frac */
        SGD_SH_256
        SGD_MOM_LOOP(SGD_SH_G4M));
}
#else
#define TINY_SGD_ASM 0
#endif

/* w[i] -= round(g[i] c), rounding indices idx.., the groups of 4 aligned indices through the
 * assembly when rounding stochastically. */
static inline __attribute__((always_inline)) void sgd_w_run(int8_t *w, const float *g, uint32_t n, float c,
                                                            uint32_t key, uint32_t idx) {
#if TINY_SGD_ASM
    if (s_sr) {
        uint32_t h = (0u - idx) & 3u;
        if (h) {
            if (h > n) h = n;
            sgd_w_c(w, g, h, c, key, idx);
            w += h; g += h; n -= h; idx += h;
        }
        if (n >= 4u) {
            sgd_sr4_asm(w, g, n >> 2, idx, c, key);
            const uint32_t m = n & ~3u;
            w += m; g += m; n -= m; idx += m;
        }
        if (!n) return;
    }
#endif
    sgd_w_c(w, g, n, c, key, idx);
}

/* With momentum, r = 1 / scale (QAS) or scale: the steps of up to 32 weights, then the rounding with
 * c = 1 (exact); the aligned groups of 4 in one assembly pass. */
static void sgd_w_mom(int8_t *w, const float *g, uint32_t n, float r, float *mom, uint32_t key, uint32_t idx) {
#if TINY_SGD_ASM
    if (s_sr && n >= 4u) {
        const uint32_t h = (0u - idx) & 3u;
        if (h) {
            sgd_w_mom(w, g, h, r, mom, key, idx);
            w += h; g += h; mom += h; n -= h; idx += h;
        }
        if (n >= 4u) {
            const float q[3] = {r, s_mu, s_lr};
            sgd_sr4_mom_asm(w, g, n >> 2, idx, key, q, mom);
            const uint32_t m = n & ~3u;
            w += m; g += m; mom += m; n -= m; idx += m;
        }
    }
#endif
    float st[32];
    for (uint32_t i0 = 0; i0 < n; i0 += 32u) {
        const uint32_t m = n - i0 < 32u ? n - i0 : 32u;
        for (uint32_t i = 0; i < m; i++) st[i] = step_mom(g[i0 + i], r, &mom[i0 + i]);
        sgd_w_c(w + i0, st, m, 1.0f, key, idx + i0);
    }
}

/* The same step on the weight shadow: v = 256 w + frac (w = v rounded to the nearest quantum, frac
 * in [-128, 127]); the update is rounded to 1/256 of a quantum. c, r as in sgd_w_run / sgd_w_mom. */
static void sgd_w_shadow_c(int8_t *w, int8_t *frac, const float *g, uint32_t n, float c, float r, float *mom,
                           uint32_t key, uint32_t idx) {
    for (uint32_t i = 0; i < n; i++) {
        float step = (mom ? step_mom(g[i], r, &mom[i]) : g[i] * c) * 256.0f;
        int32_t v = (int32_t)w[i] * 256 + frac[i] - round_sr_if(step, key, idx + i, s_sr);
        if (v > 127 * 256 + 127) v = 127 * 256 + 127;
        if (v < -127 * 256 - 128) v = -127 * 256 - 128;
        int32_t q = (v + 128) >> 8;      /* arithmetic shift: floor */
        w[i] = (int8_t)q;
        frac[i] = (int8_t)(v - q * 256);
    }
}

/* The shadow step, the groups of 4 aligned rounding indices through the assembly when rounding
 * stochastically (the head and tail in C, as in sgd_w_run). */
static inline __attribute__((always_inline)) void sgd_w_shadow_run(int8_t *w, int8_t *frac, const float *g,
                                                                   uint32_t n, float scale, float *mom,
                                                                   uint32_t key, uint32_t idx) {
    const float c = step_c(scale), r = s_qas ? 1.0f / scale : scale;
#if TINY_SGD_ASM
    if (s_sr) {
        uint32_t h = (0u - idx) & 3u;
        if (h) {
            if (h > n) h = n;
            sgd_w_shadow_c(w, frac, g, h, c, r, mom, key, idx);
            w += h; frac += h; g += h; n -= h; idx += h;
            if (mom) mom += h;
        }
        if (n >= 4u) {
            if (mom) {
                const float q[3] = {r, s_mu, s_lr};
                sgd_sh4_mom_asm(w, g, n >> 2, idx, key, q, mom, frac);
            } else {
                sgd_sh4_asm(w, g, n >> 2, idx, c, key, frac);
            }
            const uint32_t m = n & ~3u;
            w += m; frac += m; g += m; n -= m; idx += m;
            if (mom) mom += m;
        }
    }
#endif
    sgd_w_shadow_c(w, frac, g, n, c, r, mom, key, idx);
}

/* Out of line with the arguments of tiny_train_sgd_w, so that one reaches it by a tail call and keeps
 * the small frame the other paths want (inlined, its frame grew every call's prologue). */
static __attribute__((noinline)) void sgd_w_shadow(int8_t *w, const float *g, uint32_t n, float scale, float *mom) {
    const uint32_t base = (uint32_t)(w - s_cur->w);
    sgd_w_shadow_run(w, s_cur->frac + base, g, n, scale, mom, s_key_w, base);
}

void tiny_train_sgd_w(int8_t *w, const float *g, uint32_t n, float scale, float *mom) {
    scale = scale * (s_qas ? s_cur->w_lr_inv : s_cur->w_lr);   /* exact: a power of two */
    if (s_cur->frac) {
        sgd_w_shadow(w, g, n, scale, mom);
        return;
    }
    const uint32_t key = s_key_w, base = (uint32_t)(w - s_cur->w);
    if (!mom) sgd_w_run(w, g, n, step_c(scale), key, base);
    else sgd_w_mom(w, g, n, s_qas ? 1.0f / scale : scale, mom, key, base);
}

void tiny_train_begin_step(const tiny_train_step_t *s, uint32_t index) {
    s_cur = s;
    s_key_w = sr_key(s_steps, index, 0u);
    s_key_b = sr_key(s_steps, index, 1u);
}

void tiny_train_update_b(int32_t *b, int32_t d) {
    int64_t v = (int64_t)*b - (int64_t)d;
    if (v > 2147483647LL) v = 2147483647LL;
    if (v < -2147483648LL) v = -2147483648LL;
    *b = (int32_t)v;
}

void tiny_train_sgd_b(int32_t *b, float g, float scale, float *mom) {
    float v = mom ? step_mom(g, s_qas ? 1.0f / scale : scale, mom) : g * step_c(scale);
    tiny_train_update_b(b, round_sr(v, s_key_b, (uint32_t)(b - s_cur->b)));
}

static float *ws_base(void) {
    return tiny_train_model.workspace ? tiny_train_model.workspace : (float *)tiny_model.arena;
}

/* Zero the gradient elements g[0..n) (tensor elements at..at+n) whose output was clamped. */
static void mask_range(const tiny_train_step_t *s, float *g, uint32_t at, uint32_t n) {
    const uint8_t *m = tiny_train_model.saved + s->mask_off;
    if (s->flags & TINY_TF_MASK_BITS) {
        for (uint32_t i = 0; i < n; i++)
            if (!((m[(at + i) >> 3] >> ((at + i) & 7u)) & 1u)) g[i] = 0.0f;
    } else if (s->flags & TINY_TF_MASK_COPY) {
        const int8_t *q = (const int8_t *)m + at;
        for (uint32_t i = 0; i < n; i++)
            if (!(q[i] > s->mask_lo && q[i] < s->mask_hi)) g[i] = 0.0f;
    }
}

static void apply_mask(const tiny_train_step_t *s, float *g, uint32_t n) { mask_range(s, g, 0u, n); }

/* A 1x1 conv whose output gradient is a global mean's (TINY_TF_BCAST): one float per channel at
 * g_out, the same at every position before the mask. Slabs of TINY_BCAST_SLAB output channels are
 * materialized after that vector (every position, masked) and the step's kernel runs on each as a
 * conv with those output channels only: the input gradient adds the slabs' terms in ascending
 * output channel as the whole-tensor kernel does (it leaves dx between its own channel chunks too),
 * each bias and weight sums its channel's positions in order, and every weight is staged once. The
 * sub-step's arrays point into the step's (updated channels in SRAM, frozen ones in flash), so the
 * SGD's rounding keys, momentum and shadow are indexed as for the whole tensor. */
#define TINY_BCAST_SLAB 64u     /* = BCAST_SLAB of tiny/passes/sparse_update.py */
static int run_bcast(const tiny_train_step_t *s, float *ws) {
    const uint32_t OC = s->out_c, P = (uint32_t)s->out_h * s->out_w;
    const float *gb = ws + s->g_out;
    float *slab = ws + s->g_out + ((OC + 3u) & ~3u);
    const uint32_t NU = s->n_upd, K = s->in_c;
    if (!s->bwd || s->mult) return 3;   /* the plan keeps a trained scale's step whole */
    tiny_train_step_t sub = *s;
    for (uint32_t c0 = 0; c0 < OC; c0 += TINY_BCAST_SLAB) {
        const uint32_t n = OC - c0 < TINY_BCAST_SLAB ? OC - c0 : TINY_BCAST_SLAB;
        const uint32_t lo = c0 < NU ? c0 : NU;       /* updated channels before the slab */
        for (uint32_t p = 0; p < P; p++) {
            float *r = slab + p * n;
            for (uint32_t j = 0; j < n; j++) r[j] = gb[c0 + j];
            mask_range(s, r, p * OC + c0, n);
        }
        sub.out_c = (uint16_t)n;
        sub.flags = (uint8_t)(s->flags & ~(TINY_TF_BCAST | (c0 ? TINY_TF_IN_FIRST : 0)));
        sub.n_upd = (uint16_t)(c0 < NU ? (NU - c0 < n ? NU - c0 : n) : 0);
        sub.w = s->w + (s->w_frozen ? lo : c0) * K;
        sub.w_frozen = s->w_frozen ? s->w_frozen + (c0 - lo) * K : NULL;
        sub.mom_w = s->mom_w ? s->mom_w + lo * K : NULL;
        sub.wscale = s->wscale + c0;
        sub.bscale = s->bscale + c0;
        sub.b = s->b ? s->b + c0 : NULL;
        sub.mom_b = s->mom_b ? s->mom_b + c0 : NULL;
        sub.bwd(&sub, slab, ws);
    }
    return 0;
}

/* 2^n as a float, exact for -126 <= n <= 127. */
static float pow2f(int32_t n) {
    union { uint32_t u; float f; } v;
    v.u = (uint32_t)(n + 127) << 23;
    return v.f;
}

float tiny_train_kfac(const tiny_train_step_t *s, uint32_t c) {
    if (!s->mult) return 1.0f;
    float k = (float)s->mult[c] / (float)s->mult0[c];
    return k * pow2f(s->shift[c] - s->shift0[c]);
}

void tiny_train_bias_update(const tiny_train_step_t *s, const float *g, uint32_t positions) {
    if (!(s->flags & TINY_TF_UPD_B)) return;
    uint32_t oc = s->out_c;
    for (uint32_t c = 0; c < oc; c++) {
        float acc = 0.0f;
        for (uint32_t p = 0; p < positions; p++) acc = acc + g[p * oc + c];
        tiny_train_sgd_b(&s->b[c], acc, s->bscale[c] * tiny_train_kfac(s, c), s->mom_b ? &s->mom_b[c] : NULL);
    }
}

/* SGD on log k[c] applied to the int32 multiplier (see train.py _scale). */
void tiny_train_scale_update(const tiny_train_step_t *s, const float *g, uint32_t positions) {
    const uint32_t oc = s->out_c;
    const int8_t *y = (const int8_t *)(tiny_train_model.saved + s->y_off);
    for (uint32_t c = 0; c < oc; c++) {
        float acc = 0.0f;
        for (uint32_t p = 0; p < positions; p++)
            acc = acc + g[p * oc + c] * (s->y_scale * (float)((int32_t)y[p * oc + c] - s->y_zp));
        float v = acc;
        if (s->mom_s) {
            v = s_mu * s->mom_s[c] + acc;
            s->mom_s[c] = v;
        }
        float step = s_lr * v;
        if (step > 0.25f) step = 0.25f;
        if (step < -0.25f) step = -0.25f;
        int32_t m = s->mult[c], e = s->shift[c];
        if (m == 0) continue;
        int64_t nv = (int64_t)m - (int64_t)round_update(step * (float)m);
        if (nv > 2147483647LL && e < 30) { nv >>= 1; e += 1; }
        else if (nv < 1073741824LL && e > -31) { nv <<= 1; e -= 1; }
        if (nv < 1073741824LL) nv = 1073741824LL;
        if (nv > 2147483647LL) nv = 2147483647LL;
        s->mult[c] = (int32_t)nv;
        s->shift[c] = e;
    }
}

static void give(float *dst, const float *src, uint32_t n, int first, float div) {
    for (uint32_t i = 0; i < n; i++) {
        float v = div != 0.0f ? src[i] / div : src[i];
        dst[i] = first ? v : dst[i] + v;
    }
}

static void step_ce(const tiny_train_step_t *s, float *ws, uint32_t label, uint32_t *pred, float *p_label) {
    const uint32_t n = s->out_c;
    const int8_t *q = (const int8_t *)(tiny_train_model.saved + s->x_off);
    if (n == 1) {
        /* A one-logit head (Dense(1) + sigmoid): binary cross-entropy on the logit z. p = sigmoid(z)
         * and 1 - p both from e = exp(-|z|) <= 1 (no overflow), the gradient p - label as p or -(1 - p):
         * no cancellation when p is near the label. */
        const float z = s->x_scale * (float)((int32_t)q[0] - s->x_zp);
        const float e = tiny_train_exp(z >= 0.0f ? -z : z);
        const float a = 1.0f / (1.0f + e), b = e / (1.0f + e);
        const float p = z >= 0.0f ? a : b, not_p = z >= 0.0f ? b : a;
        ws[s->g_in] = label ? -not_p : p;
        *p_label = label ? p : not_p;
        *pred = (int32_t)q[0] > s->x_zp ? 1u : 0u;
        return;
    }
    float *l = tiny_train_model.logits_tmp;
    float m = 0.0f;
    uint32_t best = 0;
    for (uint32_t i = 0; i < n; i++) {
        l[i] = s->x_scale * (float)((int32_t)q[i] - s->x_zp);
        if (i == 0 || l[i] > m) m = l[i];
        if (q[i] > q[best]) best = i;
    }
    float tot = 0.0f;
    for (uint32_t i = 0; i < n; i++) {
        l[i] = tiny_train_exp(l[i] - m);
        tot = tot + l[i];
    }
    float *g = ws + s->g_in;
    for (uint32_t i = 0; i < n; i++) {
        float p = l[i] / tot;
        g[i] = p - (i == label ? 1.0f : 0.0f);
        if (i == label) *p_label = p;
    }
    *pred = best;
}

/* A pool's window over the input: the in-image rows [*y0, *y1) and columns [*x0, *x1) of output
 * (oy, ox), as input coordinates (TFLM counts only those). */
static void pool_window(const tiny_train_step_t *s, uint32_t oy, uint32_t ox, int32_t *y0, int32_t *y1,
                        int32_t *x0, int32_t *x1) {
    const int32_t iy = (int32_t)(oy * s->s_h) - (int32_t)s->p_t, ix = (int32_t)(ox * s->s_w) - (int32_t)s->p_l;
    *y0 = iy < 0 ? 0 : iy;
    *x0 = ix < 0 ? 0 : ix;
    *y1 = iy + s->k_h > s->in_h ? s->in_h : iy + s->k_h;
    *x1 = ix + s->k_w > s->in_w ? s->in_w : ix + s->k_w;
}

/* Pooling backward (train.py _maxpool / _avgpool), in output order: a max pool's output gradient goes
 * to the first maximum of its window (row-major, found again in the saved int8 input), an average
 * pool's is divided by the window's in-image count and added to each of those inputs. */
static void pool_bwd(const tiny_train_step_t *s, const float *g, float *dx) {
    const uint32_t C = s->in_c, W = s->in_w;
    if (s->flags & TINY_TF_IN_FIRST)
        for (uint32_t i = 0; i < (uint32_t)s->in_h * W * C; i++) dx[i] = 0.0f;
    const int8_t *x = s->kind == TINY_TS_MAXPOOL ? (const int8_t *)(tiny_train_model.saved + s->x_off) : NULL;
    for (uint32_t oy = 0; oy < s->out_h; oy++)
        for (uint32_t ox = 0; ox < s->out_w; ox++) {
            const float *go = g + (oy * s->out_w + ox) * C;
            int32_t y0, y1, x0, x1;
            pool_window(s, oy, ox, &y0, &y1, &x0, &x1);
            if (s->kind == TINY_TS_MAXPOOL) {
                for (uint32_t c = 0; c < C; c++) {
                    int32_t best = -129;
                    uint32_t at = 0;
                    for (int32_t y = y0; y < y1; y++)
                        for (int32_t xx = x0; xx < x1; xx++) {
                            const uint32_t i = ((uint32_t)y * W + (uint32_t)xx) * C + c;
                            if (x[i] > best) { best = x[i]; at = i; }
                        }
                    dx[at] = dx[at] + go[c];
                }
                continue;
            }
            const float cnt = (float)((y1 - y0) * (x1 - x0));
            for (int32_t y = y0; y < y1; y++)
                for (int32_t xx = x0; xx < x1; xx++) {
                    float *d = dx + ((uint32_t)y * W + (uint32_t)xx) * C;
                    for (uint32_t c = 0; c < C; c++) d[c] = d[c] + go[c] / cnt;
                }
        }
}

/* TRANSPOSE backward (train.py _transpose): the output gradient, walked in output order, back to
 * the input position it came from; assigned (first contribution) or added. */
static void transpose_bwd(const tiny_train_step_t *s, const float *g, float *dx) {
    const uint32_t in[4] = { 1u, s->in_h, s->in_w, s->in_c };
    const uint32_t stride[4] = { (uint32_t)s->in_h * s->in_w * s->in_c, (uint32_t)s->in_w * s->in_c, s->in_c, 1u };
    uint32_t od[4], os[4];
    for (uint32_t a = 0; a < 4; a++) { od[a] = in[s->perm[a]]; os[a] = stride[s->perm[a]]; }
    const int first = s->flags & TINY_TF_IN_FIRST;
    uint32_t o = 0;
    for (uint32_t i0 = 0; i0 < od[0]; i0++)
        for (uint32_t i1 = 0; i1 < od[1]; i1++)
            for (uint32_t i2 = 0; i2 < od[2]; i2++)
                for (uint32_t i3 = 0; i3 < od[3]; i3++, o++) {
                    const uint32_t i = i0 * os[0] + i1 * os[1] + i2 * os[2] + i3 * os[3];
                    dx[i] = first ? g[o] : dx[i] + g[o];
                }
}

/* MEAN backward over any axes (train.py _mean): each output's gradient / its count, to every input
 * it averaged; assigned (first contribution) or added. (The global average over H, W has its own
 * loop in run_step, and its per-channel form for TINY_TF_BCAST.) */
static void mean_bwd(const tiny_train_step_t *s, const float *g, float *dx) {
    const uint32_t d[4] = { 1u, s->in_h, s->in_w, s->in_c };
    uint32_t k[4], cnt = 1u;
    for (uint32_t a = 0; a < 4; a++) {
        const uint32_t r = (s->axes >> a) & 1u;
        k[a] = r ? 1u : d[a];
        if (r) cnt *= d[a];
    }
    const float div = (float)cnt;
    const int first = s->flags & TINY_TF_IN_FIRST;
    uint32_t i = 0;
    for (uint32_t i1 = 0; i1 < d[1]; i1++)
        for (uint32_t i2 = 0; i2 < d[2]; i2++)
            for (uint32_t i3 = 0; i3 < d[3]; i3++, i++) {
                const uint32_t o = (k[1] > 1u ? i1 : 0u) * k[2] * k[3] + (k[2] > 1u ? i2 : 0u) * k[3] +
                                   (k[3] > 1u ? i3 : 0u);
                const float v = g[o] / div;
                dx[i] = first ? v : dx[i] + v;
            }
}

/* REDUCE_MAX backward over any axes (train.py _reduce_max), TF's rule: each output's gradient / the
 * number of its inputs equal to the max (found again in the saved int8 input: ties split it), to
 * each of those, 0 to the others; assigned (first contribution) or added. */
static void reduce_max_bwd(const tiny_train_step_t *s, const float *g, float *dx) {
    const uint32_t d[4] = { 1u, s->in_h, s->in_w, s->in_c };
    const uint32_t st[4] = { 0u, (uint32_t)s->in_w * s->in_c, s->in_c, 1u };
    const int8_t *x = (const int8_t *)(tiny_train_model.saved + s->x_off);
    uint32_t k[4], r[4];            /* kept and reduced extent of each axis */
    for (uint32_t a = 0; a < 4; a++) {
        const uint32_t red = (s->axes >> a) & 1u;
        k[a] = red ? 1u : d[a];
        r[a] = red ? d[a] : 1u;
    }
    const int first = s->flags & TINY_TF_IN_FIRST;
    uint32_t o = 0;
    for (uint32_t i1 = 0; i1 < k[1]; i1++)
        for (uint32_t i2 = 0; i2 < k[2]; i2++)
            for (uint32_t i3 = 0; i3 < k[3]; i3++, o++) {
                const uint32_t base = i1 * st[1] + i2 * st[2] + i3 * st[3];
                int32_t best = -129;
                uint32_t n = 0;
                for (uint32_t j1 = 0; j1 < r[1]; j1++)
                    for (uint32_t j2 = 0; j2 < r[2]; j2++)
                        for (uint32_t j3 = 0; j3 < r[3]; j3++) {
                            const int32_t v = x[base + j1 * st[1] + j2 * st[2] + j3 * st[3]];
                            if (v > best) { best = v; n = 1u; }
                            else if (v == best) n++;
                        }
                const float v = g[o] / (float)n;
                for (uint32_t j1 = 0; j1 < r[1]; j1++)
                    for (uint32_t j2 = 0; j2 < r[2]; j2++)
                        for (uint32_t j3 = 0; j3 < r[3]; j3++) {
                            const uint32_t i = base + j1 * st[1] + j2 * st[2] + j3 * st[3];
                            const float e = x[i] == best ? v : 0.0f;
                            dx[i] = first ? e : dx[i] + e;
                        }
            }
}

/* CONCATENATION backward (train.py _concat): each of the in_h outer slices of the output gradient
 * holds input 0's chunk, then input 1's, ... (s->table: offset, chunk, first per input); each chunk
 * goes to its input's gradient, assigned (first contribution) or added, input 0 first. */
static void concat_bwd(const tiny_train_step_t *s, const float *g, float *ws) {
    uint32_t row = 0;
    for (uint32_t k = 0; k < s->in_w; k++) row += (uint32_t)s->table[3 * k + 1];
    uint32_t skip = 0;
    for (uint32_t k = 0; k < s->in_w; k++) {
        const int32_t off = s->table[3 * k];
        const uint32_t n = (uint32_t)s->table[3 * k + 1];
        const int first = s->table[3 * k + 2];
        if (off >= 0) {
            float *dx = ws + off;
            for (uint32_t o = 0; o < s->in_h; o++) {
                const float *src = g + o * row + skip;
                float *d = dx + o * n;
                for (uint32_t i = 0; i < n; i++) d[i] = first ? src[i] : d[i] + src[i];
            }
        }
        skip += n;
    }
}

/* PAD backward (train.py _pad): the output gradient without its padded rows and columns (the input
 * sits at row p_t, column p_l of the output); assigned (first contribution) or added. */
static void pad_bwd(const tiny_train_step_t *s, const float *g, float *dx) {
    const uint32_t C = s->in_c;
    const int first = s->flags & TINY_TF_IN_FIRST;
    for (uint32_t y = 0; y < s->in_h; y++)
        for (uint32_t x = 0; x < s->in_w; x++) {
            const float *src = g + (((uint32_t)y + s->p_t) * s->out_w + x + s->p_l) * C;
            float *d = dx + (y * s->in_w + x) * C;
            for (uint32_t c = 0; c < C; c++) d[c] = first ? src[c] : d[c] + src[c];
        }
}

/* float32 s (q - zp) of element i of a binary step's input k: a constant's table or the saved copy. */
static inline float binary_real(const tiny_train_step_t *s, uint32_t k, uint32_t i) {
    const float *kc = k ? s->k1 : s->k0;
    if (kc) return kc[i];
    const int8_t *q = (const int8_t *)(tiny_train_model.saved + (k ? s->y_off : s->x_off));
    return (k ? s->y_scale : s->x_scale) * (float)((int32_t)q[i] - (k ? s->y_zp : s->x_zp));
}

/* ADD (broadcasting) / SUB / MUL / MAXIMUM / MINIMUM / PRELU backward (train.py _binary): each input's
 * gradient, per output element: the output's (ADD), negated for input 1 (SUB), times the other
 * input's real value (MUL), where this input was the one chosen (MAXIMUM: x0 >= x1 picks input 0,
 * MINIMUM: x0 <= x1, TF's rule for ties), times 1 or alpha by the sign of x (PRELU, input 0 only).
 * Summed over the positions it was broadcast to; zeroed when it is the first contribution, then
 * added in output order, input 0 first. */
static void binary_bwd(const tiny_train_step_t *s, const float *g, float *ws) {
    const uint32_t *d = s->bdims[2];
    uint32_t st[2][4];
    for (uint32_t k = 0; k < 2; k++) {   /* strides of each input over the output's dims (0: broadcast) */
        uint32_t m = 1u;
        for (int32_t a = 3; a >= 0; a--) {
            st[k][a] = s->bdims[k][a] == 1u ? 0u : m;
            m *= s->bdims[k][a];
        }
    }
    for (uint32_t k = 0; k < 2; k++) {
        const int32_t off = k ? s->g_in2 : s->g_in;
        if (off < 0) continue;
        float *dx = ws + off;
        if (s->flags & (k ? TINY_TF_IN2_FIRST : TINY_TF_IN_FIRST)) {
            const uint32_t n = s->bdims[k][0] * s->bdims[k][1] * s->bdims[k][2] * s->bdims[k][3];
            for (uint32_t i = 0; i < n; i++) dx[i] = 0.0f;
        }
        const uint32_t *sk = st[k], *so = st[1u - k];
        uint32_t o = 0;
        for (uint32_t i0 = 0; i0 < d[0]; i0++)
            for (uint32_t i1 = 0; i1 < d[1]; i1++)
                for (uint32_t i2 = 0; i2 < d[2]; i2++)
                    for (uint32_t i3 = 0; i3 < d[3]; i3++, o++) {
                        float v = g[o];
                        const uint32_t i = i0 * sk[0] + i1 * sk[1] + i2 * sk[2] + i3 * sk[3];
                        const uint32_t j = i0 * so[0] + i1 * so[1] + i2 * so[2] + i3 * so[3];
                        switch (s->kind) {
                        case TINY_TS_SUB:
                            if (k) v = -v;
                            break;
                        case TINY_TS_MUL:
                            v = v * binary_real(s, 1u - k, j);
                            break;
                        case TINY_TS_MAX:
                        case TINY_TS_MIN: {
                            const float a = binary_real(s, 0u, k ? j : i), b = binary_real(s, 1u, k ? i : j);
                            const int pick0 = s->kind == TINY_TS_MAX ? a >= b : a <= b;
                            if (pick0 == (int)k) v = 0.0f;
                            break;
                        }
                        case TINY_TS_PRELU:
                            if (binary_real(s, 0u, i) < 0.0f) v = v * binary_real(s, 1u, j);
                            break;
                        default:
                            break;
                        }
                        dx[i] = dx[i] + v;
                    }
    }
}

/* LOGISTIC / TANH backward (train.py _logistic / _tanh): the derivative read off the saved int8
 * output y: y (1 - y), 1 - y^2; assigned (first contribution) or added. */
static void logistic_tanh_bwd(const tiny_train_step_t *s, const float *g, float *dx, uint32_t n) {
    const int8_t *q = (const int8_t *)(tiny_train_model.saved + s->y_off);
    const int first = s->flags & TINY_TF_IN_FIRST;
    for (uint32_t i = 0; i < n; i++) {
        const float y = s->y_scale * (float)((int32_t)q[i] - s->y_zp);
        const float v = g[i] * (s->kind == TINY_TS_LOGISTIC ? y * (1.0f - y) : 1.0f - y * y);
        dx[i] = first ? v : dx[i] + v;
    }
}

/* Tabulated derivative (train.py _dtable; GELU): k0[x + 128] at the saved int8 input x; assigned
 * (first contribution) or added. */
static void dtable_bwd(const tiny_train_step_t *s, const float *g, float *dx, uint32_t n) {
    const int8_t *q = (const int8_t *)(tiny_train_model.saved + s->x_off);
    const int first = s->flags & TINY_TF_IN_FIRST;
    for (uint32_t i = 0; i < n; i++) {
        const float v = g[i] * s->k0[(int32_t)q[i] + 128];
        dx[i] = first ? v : dx[i] + v;
    }
}

/* LEAKY_RELU backward (train.py _leaky): slope 1 where the saved int8 input is above its zero point
 * (x > 0), else alpha (y_scale); assigned (first contribution) or added. */
static void leaky_bwd(const tiny_train_step_t *s, const float *g, float *dx, uint32_t n) {
    const int8_t *q = (const int8_t *)(tiny_train_model.saved + s->x_off);
    const int first = s->flags & TINY_TF_IN_FIRST;
    for (uint32_t i = 0; i < n; i++) {
        const float v = (int32_t)q[i] > s->x_zp ? g[i] : g[i] * s->y_scale;
        dx[i] = first ? v : dx[i] + v;
    }
}

/* RESIZE_NEAREST_NEIGHBOR backward (train.py _resize): each output position's gradient goes to the
 * input position it copied (s->table: input row per output row, then input column per output
 * column), zeroed first when it is the first contribution, then added in output order. */
static void resize_bwd(const tiny_train_step_t *s, const float *g, float *dx) {
    const uint32_t C = s->in_c;
    if (s->flags & TINY_TF_IN_FIRST)
        for (uint32_t i = 0; i < (uint32_t)s->in_h * s->in_w * C; i++) dx[i] = 0.0f;
    for (uint32_t y = 0; y < s->out_h; y++)
        for (uint32_t x = 0; x < s->out_w; x++) {
            float *d = dx + ((uint32_t)s->table[y] * s->in_w + (uint32_t)s->table[s->out_h + x]) * C;
            const float *src = g + (y * s->out_w + x) * C;
            for (uint32_t c = 0; c < C; c++) d[c] = d[c] + src[c];
        }
}

/* RESIZE_BILINEAR backward (train.py _bilinear): each output position's gradient goes to its four
 * source pixels, corners in the order (y0, x0), (y0, x1), (y1, x0), (y1, x1), times (g * wy) * wx
 * with the int8 kernel's weights (s->table: y0, y1 per output row, then x0, x1 per output column;
 * s->k0 / s->k1: their weights); zeroed first when it is the first contribution, then added in
 * output order. */
static void bilinear_bwd(const tiny_train_step_t *s, const float *g, float *dx) {
    const uint32_t C = s->in_c;
    const int32_t *ry = s->table, *rx = s->table + 2u * s->out_h;
    if (s->flags & TINY_TF_IN_FIRST)
        for (uint32_t i = 0; i < (uint32_t)s->in_h * s->in_w * C; i++) dx[i] = 0.0f;
    for (uint32_t y = 0; y < s->out_h; y++)
        for (uint32_t x = 0; x < s->out_w; x++) {
            const float *src = g + (y * s->out_w + x) * C;
            for (uint32_t k = 0; k < 4u; k++) {
                const uint32_t a = 2u * y + (k >> 1), b = 2u * x + (k & 1u);
                float *d = dx + ((uint32_t)ry[a] * s->in_w + (uint32_t)rx[b]) * C;
                const float wy = s->k0[a], wx = s->k1[b];
                for (uint32_t c = 0; c < C; c++) d[c] = d[c] + (src[c] * wy) * wx;
            }
        }
}

/* One backward step: mask the output gradient, then the layer kernel or the data movement. */
static int run_step(const tiny_train_step_t *s, float *ws, uint32_t label, uint32_t *pred, float *p_label) {
    if (s->kind == TINY_TS_CE) {
        step_ce(s, ws, label, pred, p_label);
        return 0;
    }
    if (s->kind == TINY_TS_CONV && (s->flags & TINY_TF_BCAST)) return run_bcast(s, ws);
    float *g = ws + s->g_out;
    uint32_t nout = (uint32_t)s->out_h * s->out_w * s->out_c;
    apply_mask(s, g, nout);
    switch (s->kind) {
    case TINY_TS_CONV:
    case TINY_TS_DW:
    case TINY_TS_FC:
        if (!s->bwd) return 3;
        s->bwd(s, g, ws);
        return 0;
    case TINY_TS_MEAN: {
        float *dx = ws + s->g_in;
        if (s->axes != 6u) {                     /* not the global average over H, W */
            if (s->g_in >= 0) mean_bwd(s, g, dx);
            return 0;
        }
        float div = (float)((uint32_t)s->in_h * s->in_w);
        if (s->flags & TINY_TF_BCAST) {          /* one float per channel (run_bcast reads it) */
            give(dx, g, s->in_c, 1, div);
            return 0;
        }
        for (uint32_t p = 0; p < (uint32_t)s->in_h * s->in_w; p++)
            give(dx + p * s->in_c, g, s->in_c, s->flags & TINY_TF_IN_FIRST, div);
        return 0;
    }
    case TINY_TS_ADD:
        if (s->flags & TINY_TF_BROADCAST) {
            binary_bwd(s, g, ws);
            return 0;
        }
        if (s->g_in >= 0) give(ws + s->g_in, g, nout, s->flags & TINY_TF_IN_FIRST, 0.0f);
        if (s->g_in2 >= 0) give(ws + s->g_in2, g, nout, s->flags & TINY_TF_IN2_FIRST, 0.0f);
        return 0;
    case TINY_TS_COPY:
        if (s->g_in >= 0) give(ws + s->g_in, g, nout, s->flags & TINY_TF_IN_FIRST, 0.0f);
        return 0;
    case TINY_TS_CONCAT:
        concat_bwd(s, g, ws);
        return 0;
    case TINY_TS_REDUCE_MAX:
        if (s->g_in >= 0) reduce_max_bwd(s, g, ws + s->g_in);
        return 0;
    case TINY_TS_RESIZE:
        if (s->g_in >= 0) resize_bwd(s, g, ws + s->g_in);
        return 0;
    case TINY_TS_BILINEAR:
        if (s->g_in >= 0) bilinear_bwd(s, g, ws + s->g_in);
        return 0;
    case TINY_TS_SUB:
    case TINY_TS_MUL:
    case TINY_TS_MAX:
    case TINY_TS_MIN:
    case TINY_TS_PRELU:
        binary_bwd(s, g, ws);
        return 0;
    case TINY_TS_LEAKY:
        if (s->g_in >= 0) leaky_bwd(s, g, ws + s->g_in, nout);
        return 0;
    case TINY_TS_LOGISTIC:
    case TINY_TS_TANH:
        if (s->g_in >= 0) logistic_tanh_bwd(s, g, ws + s->g_in, nout);
        return 0;
    case TINY_TS_DTABLE:
        if (s->g_in >= 0) dtable_bwd(s, g, ws + s->g_in, nout);
        return 0;
    case TINY_TS_PAD:
        if (s->g_in >= 0) pad_bwd(s, g, ws + s->g_in);
        return 0;
    case TINY_TS_TRANSPOSE:
        if (s->g_in >= 0) transpose_bwd(s, g, ws + s->g_in);
        return 0;
    case TINY_TS_MAXPOOL:
    case TINY_TS_AVGPOOL:
        if (s->g_in >= 0) pool_bwd(s, g, ws + s->g_in);
        return 0;
    default: return 3;
    }
}

/* Labels a model's logits tell apart: a one-logit (sigmoid) head is a binary classifier. */
static uint32_t n_labels(const tiny_train_model_t *m) { return m->n_classes == 1 ? 2u : m->n_classes; }

int tiny_train_step(uint32_t label, uint32_t *pred, float *p_label) {
    const tiny_train_model_t *m = &tiny_train_model;
    init_once();
    if (label >= n_labels(m)) return 1;
    /* Whole-step marker pair around the per-layer pairs of the forward: the QEMU counting plugin
     * gives the instructions of a training step (tiny/train/insn.py). */
    tiny_layer_begin(TINY_TRAIN_STEP_MARK);
    s_capture_on = 1;
    tiny_train_capture(-1);
    int rc = tiny_model.invoke(-1);
    s_capture_on = 0;
    if (rc != 0) {
        tiny_layer_end(TINY_TRAIN_STEP_MARK);
        return 2;
    }
    float *ws = ws_base();
    for (uint32_t i = 0; i < m->n_steps; i++) {
        const tiny_train_step_t *s = &m->steps[i];
        tiny_train_begin_step(s, i);
        /* one marker pair per backward step, after the forward's per-layer pairs (tiny/train/insn.py) */
        tiny_layer_begin(TINY_TRAIN_STEP_MARK - 1u - i);
        int rs = run_step(s, ws, label, pred, p_label);
        tiny_layer_end(TINY_TRAIN_STEP_MARK - 1u - i);
        if (rs) {
            tiny_layer_end(TINY_TRAIN_STEP_MARK);
            return rs;
        }
    }
    s_steps++;
    tiny_layer_end(TINY_TRAIN_STEP_MARK);
    return 0;
}

/* The library API's setter (tiny export --train: tiny_model_train_set_hparams). */
void tiny_train_set_hparams(float lr, float momentum, uint8_t qas) {
    init_once();
    s_lr = lr;
    s_mu = momentum;
    s_qas = qas ? 1u : 0u;
}

/* A library export (tiny export --train) builds with TINY_TRAIN_NO_PROTOCOL: no protocol, no port. */
#ifndef TINY_TRAIN_NO_PROTOCOL
/* ------------------------------------------------------------------ protocol (docs/protocol.md) */
/* The last step's reply, resent when the host repeats the same step (idempotent resend). */
static uint8_t s_last_reply[16];
static uint32_t s_last_label = 0xFFFFFFFFu;
static uint32_t rd32(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static void wr32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}
static uint32_t f2u(float f) { union { float f; uint32_t u; } x; x.f = f; return x.u; }
static float u2f(uint32_t u) { union { float f; uint32_t u; } x; x.u = u; return x.f; }

static uint32_t put_str(uint8_t *r, uint32_t n, uint32_t cap, const char *s) {
    while (*s && n < cap) r[n++] = (uint8_t)*s++;
    return n;
}
static uint32_t put_kv(uint8_t *r, uint32_t n, uint32_t cap, const char *k, uint32_t v) {
    char d[12];
    int i = 11;
    d[i] = 0;
    do { d[--i] = (char)('0' + v % 10u); v /= 10u; } while (v);
    n = put_str(r, n, cap, k);
    n = put_str(r, n, cap, "=");
    n = put_str(r, n, cap, d + i);
    return put_str(r, n, cap, "\n");
}

#define FAIL(msg) do { *len = put_str(reply, 0, cap, (msg)); return TINY_ST_BAD_ARG; } while (0)

uint8_t tiny_proto_train(uint8_t cmd, const uint8_t *b, uint32_t n, uint8_t *reply, uint32_t cap,
                         uint32_t *len) {
    const tiny_train_model_t *m = &tiny_train_model;
    init_once();
    *len = 0;
    switch (cmd) {
    case 0x10: { /* TRAIN_INFO */
        uint32_t k = 0;
        k = put_str(reply, k, cap, "train_hash=");
        k = put_str(reply, k, cap, m->hash);
        k = put_str(reply, k, cap, "\n");
        k = put_kv(reply, k, cap, "steps", s_steps);
        k = put_kv(reply, k, cap, "lr_bits", f2u(s_lr));
        k = put_kv(reply, k, cap, "momentum_bits", f2u(s_mu));
        k = put_kv(reply, k, cap, "qas", s_qas);
        k = put_kv(reply, k, cap, "stochastic_rounding", s_sr);
        k = put_kv(reply, k, cap, "n_classes", m->n_classes);
        k = put_kv(reply, k, cap, "saved_bytes", m->saved_bytes);
        k = put_kv(reply, k, cap, "workspace_bytes", m->workspace_bytes);
        k = put_kv(reply, k, cap, "train_peak_bytes", m->peak_bytes);
        k = put_kv(reply, k, cap, "n_params", m->n_params);
        for (uint32_t i = 0; i < m->n_params && k + 32u < cap; i++) {  /* 0x17 gives them all */
            k = put_str(reply, k, cap, "param");
            char d[6];
            int j = 5;
            uint32_t v = i;
            d[j] = 0;
            do { d[--j] = (char)('0' + v % 10u); v /= 10u; } while (v);
            k = put_str(reply, k, cap, d + j);
            k = put_kv(reply, k, cap, "_bytes", m->params[i].bytes);
        }
        *len = k;
        return k >= cap ? TINY_ST_MODEL_ERROR : TINY_ST_OK;
    }
    case 0x11: { /* TRAIN_STEP label:u16 step:u32 [lr:f32] -> steps:u32 pred:u16 p_label:f32 cycles:u32 */
        if (n != 6 && n != 10) FAIL("TRAIN_STEP needs label:u16 step:u32 [lr:f32]");
        uint32_t label = (uint32_t)b[0] | ((uint32_t)b[1] << 8), step = rd32(b + 2);
        if (label >= n_labels(m)) FAIL("label out of range");
        if (step + 1u == s_steps && label == s_last_label) { /* a resend of the step just done */
            for (uint32_t i = 0; i < 14; i++) reply[i] = s_last_reply[i];
            *len = 14;
            return TINY_ST_OK;
        }
        if (step != s_steps) FAIL("step number does not match the board's step counter");
        if (n == 10) s_lr = u2f(rd32(b + 6));   /* the schedule's rate from this step on */
        uint32_t pred = 0;
        float p = 0.0f;
        uint32_t t0 = tiny_port_cycles();
        int rc = tiny_train_step(label, &pred, &p);
        uint32_t cyc = tiny_port_cycles() - t0;
        if (rc) { *len = put_str(reply, 0, cap, "training step failed"); return TINY_ST_MODEL_ERROR; }
        wr32(reply, s_steps);
        reply[4] = (uint8_t)pred; reply[5] = (uint8_t)(pred >> 8);
        wr32(reply + 6, f2u(p));
        wr32(reply + 10, cyc);
        for (uint32_t i = 0; i < 14; i++) s_last_reply[i] = reply[i];
        s_last_label = label;
        *len = 14;
        return TINY_ST_OK;
    }
    case 0x12: /* SET_HPARAMS lr:f32 momentum:f32 qas:u8 [stochastic_rounding:u8] */
        if (n != 9 && n != 10) FAIL("SET_HPARAMS needs lr:f32 momentum:f32 qas:u8 [stochastic_rounding:u8]");
        s_lr = u2f(rd32(b));
        s_mu = u2f(rd32(b + 4));
        s_qas = b[8] ? 1u : 0u;
        if (n == 10) s_sr = b[9] ? 1u : 0u;
        return TINY_ST_OK;
    case 0x13: { /* READ_PARAM index:u16 offset:u32 len:u16 */
        if (n != 8) FAIL("READ_PARAM needs index:u16 offset:u32 len:u16");
        uint32_t i = (uint32_t)b[0] | ((uint32_t)b[1] << 8), off = rd32(b + 2);
        uint32_t cnt = (uint32_t)b[6] | ((uint32_t)b[7] << 8);
        if (i >= m->n_params) FAIL("parameter index out of range");
        if (cnt > cap || off > m->params[i].bytes || cnt > m->params[i].bytes - off) FAIL("range outside the parameter");
        const uint8_t *src = (const uint8_t *)m->params[i].ptr + off;
        for (uint32_t k = 0; k < cnt; k++) reply[k] = src[k];
        *len = cnt;
        return TINY_ST_OK;
    }
    case 0x14: { /* WRITE_PARAM index:u16 offset:u32 data */
        if (n < 6) FAIL("WRITE_PARAM needs index:u16 offset:u32 data");
        uint32_t i = (uint32_t)b[0] | ((uint32_t)b[1] << 8), off = rd32(b + 2), cnt = n - 6;
        if (i >= m->n_params) FAIL("parameter index out of range");
        if (off > m->params[i].bytes || cnt > m->params[i].bytes - off) FAIL("range outside the parameter");
        uint8_t *dst = (uint8_t *)m->params[i].ptr + off;
        for (uint32_t k = 0; k < cnt; k++) dst[k] = b[6 + k];
        return TINY_ST_OK;
    }
    case 0x15: /* SET_STEPS count:u32 */
        if (n != 4) FAIL("SET_STEPS needs count:u32");
        s_steps = rd32(b);
        s_last_label = 0xFFFFFFFFu;
        return TINY_ST_OK;
    case 0x16: { /* EVAL -> pred:u16 (input already written with WRITE_INPUT) */
        if (n != 0) FAIL("EVAL takes no arguments");
        /* The logits are captured when their op writes them, as in a step: after the whole invoke
         * their arena bytes may hold a later op's output (a SOFTMAX's, a DEQUANTIZE's). */
        s_capture_on = CAPTURE_LOGITS;
        int rc = tiny_model.invoke(-1);
        s_capture_on = 0;
        if (rc != 0) { *len = put_str(reply, 0, cap, "invoke failed"); return TINY_ST_MODEL_ERROR; }
        const int8_t *q = (const int8_t *)(m->saved + m->steps[0].x_off);
        uint32_t best = 0;
        if (m->n_classes == 1) best = (int32_t)q[0] > m->steps[0].x_zp ? 1u : 0u;   /* real logit > 0 */
        for (uint32_t i = 1; i < m->n_classes; i++) if (q[i] > q[best]) best = i;
        reply[0] = (uint8_t)best; reply[1] = (uint8_t)(best >> 8);
        *len = 2;
        return TINY_ST_OK;
    }
    case 0x17: { /* PARAM_SIZE index:u16 -> bytes:u32 */
        if (n != 2) FAIL("PARAM_SIZE needs index:u16");
        uint32_t i = (uint32_t)b[0] | ((uint32_t)b[1] << 8);
        if (i >= m->n_params) FAIL("parameter index out of range");
        wr32(reply, m->params[i].bytes);
        *len = 4;
        return TINY_ST_OK;
    }
    default:
        *len = put_str(reply, 0, cap, "unknown training command");
        return TINY_ST_UNKNOWN_CMD;
    }
}
#endif /* TINY_TRAIN_NO_PROTOCOL */
