/* QEMU firmware: optimized backward kernels (firmware/src/train/bwd_opt.c) vs the portable ones
 * (bwd_ref.c) on seeded random training steps.
 *
 * Built by tests/train/test_bwd_kernels.py with -DSWEEP_SEED=.. -DSWEEP_CASES=.. (cases per kernel).
 * Every case draws a step (shape, padding, updated channels, first/accumulating input gradient,
 * momentum, MobileTL trained scale, learning rate, QAS), runs both kernels on separate copies of
 * every buffer they write (input gradient, weights, biases, momentum, multipliers/shifts) and
 * compares the copies bit for bit. Prints one line per kernel and "SWEEP OK" / "SWEEP FAIL"; main
 * returns the number of failing cases. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include "sweep_rng.h"
#include "tiny/model.h"
#include "tiny/train.h"

#ifndef SWEEP_CASES
#define SWEEP_CASES 40
#endif

void tiny_semihost_write0(const char *s);
uint8_t tiny_proto_train(uint8_t cmd, const uint8_t *b, uint32_t n, uint8_t *reply, uint32_t cap, uint32_t *len);

/* The runtime's model hooks: the kernels only read the training model's saved buffer. */
static uint8_t arena[16];
static int no_invoke(int32_t stop_after) { (void)stop_after; return 0; }
const tiny_model_t tiny_model = {.name = "sweep", .hash = "0000000000000000", .arena = arena, .invoke = no_invoke};
#define SAVED 16384   /* int8 input copy at 0, MobileTL output copy at 8192 */
static uint8_t saved[SAVED] __attribute__((aligned(4)));
const tiny_train_model_t tiny_train_model = {.hash = "sweep", .saved = saved, .lr = 0.1f};

static float rfloat(float scale) {
    uint32_t r = rnd() % 16u;
    if (r == 0) return 0.0f;
    if (r == 1) return -0.0f;
    return (float)rint_(-100000, 100000) * (scale / 100000.0f);
}

#define NW 6144
#define NF 4096
#define NC 160
/* Two copies (a: portable, b: optimized) of everything a kernel writes. */
static int8_t w_a[NW], w_b[NW];
static int32_t b_a[NC], b_b[NC], m_a[NC], m_b[NC], e_a[NC], e_b[NC], m0[NC], e0[NC];
static float ws_a[2 * NF], ws_b[2 * NF], mw_a[NW], mw_b[NW], mb_a[NC], mb_b[NC], ms_a[NC], ms_b[NC];
static float wscale[NC], bscale[NC];
static char line[160];
static int failures;

static void set_hparams(void) {
    union { float f; uint32_t u; } lr, mu;
    lr.f = (float)rint_(1, 4000) / 1000.0f;
    mu.f = (rnd() & 1) ? 0.9f : 0.0f;
    uint8_t b[9] = {(uint8_t)lr.u, (uint8_t)(lr.u >> 8), (uint8_t)(lr.u >> 16), (uint8_t)(lr.u >> 24),
                    (uint8_t)mu.u, (uint8_t)(mu.u >> 8), (uint8_t)(mu.u >> 16), (uint8_t)(mu.u >> 24),
                    (uint8_t)(rnd() & 1)};
    uint8_t reply[8];
    uint32_t len;
    tiny_proto_train(0x12, b, 9, reply, sizeof reply, &len);
}

/* Fill a step's parameters and both copies; g at ws[0..ng), the input gradient at ws[NF..). */
static void setup(tiny_train_step_t *sa, tiny_train_step_t *sb, uint32_t nw, uint32_t oc, uint32_t ng,
                  uint32_t nx, uint32_t nsaved, int scale_ok) {
    set_hparams();
    for (uint32_t i = 0; i < nw; i++) w_a[i] = (int8_t)rint_(-127, 127);
    for (uint32_t i = 0; i < nw; i++) mw_a[i] = rfloat(0.5f);
    for (uint32_t c = 0; c < oc; c++) {
        wscale[c] = (float)rint_(1, 1000) / 20000.0f;
        bscale[c] = wscale[c] * 0.02f;
        b_a[c] = rint_(-100000, 100000);
        mb_a[c] = rfloat(0.5f);
        ms_a[c] = rfloat(0.01f);
        m0[c] = (int32_t)((1u << 30) + (rnd() & 0x3FFFFFFFu));
        e0[c] = rint_(-12, -2);
        m_a[c] = (int32_t)((1u << 30) + (rnd() & 0x3FFFFFFFu));
        e_a[c] = e0[c] + rint_(-1, 1);
    }
    for (uint32_t i = 0; i < ng; i++) ws_a[i] = (rnd() % 5u == 0) ? 0.0f : rfloat(0.2f);
    for (uint32_t i = 0; i < nx; i++) ws_a[NF + i] = rfloat(1.0f);
    for (uint32_t i = 0; i < nsaved; i++) saved[i] = (uint8_t)rnd();
    memcpy(w_b, w_a, sizeof w_a); memcpy(mw_b, mw_a, sizeof mw_a);
    memcpy(b_b, b_a, sizeof b_a); memcpy(mb_b, mb_a, sizeof mb_a); memcpy(ms_b, ms_a, sizeof ms_a);
    memcpy(m_b, m_a, sizeof m_a); memcpy(e_b, e_a, sizeof e_a); memcpy(ws_b, ws_a, sizeof ws_a);
    uint8_t fl = 0;
    if (rnd() & 1) fl |= TINY_TF_IN_FIRST;
    if (rnd() % 4u) fl |= TINY_TF_UPD_B;
    const int mom = rnd() & 1, sc = scale_ok && (rnd() % 3u == 0);
    memset(sa, 0, sizeof *sa);
    sa->flags = fl;
    sa->g_out = 0;
    sa->g_in = (rnd() % 6u) ? NF : -1;
    sa->g_in2 = -1;
    sa->x_scale = (float)rint_(1, 1000) / 10000.0f;
    sa->x_zp = rint_(-128, 127);
    sa->wscale = wscale;
    sa->bscale = bscale;
    sa->w = w_a; sa->b = b_a;
    sa->mom_w = mom ? mw_a : NULL; sa->mom_b = mom ? mb_a : NULL;
    if (sc) {
        sa->mult = m_a; sa->shift = e_a; sa->mult0 = m0; sa->shift0 = e0;
        sa->mom_s = mom ? ms_a : NULL;
        sa->y_off = 8192;
        sa->y_scale = (float)rint_(1, 1000) / 5000.0f;
        sa->y_zp = rint_(-128, 127);
    }
    *sb = *sa;
    sb->w = w_b; sb->b = b_b;
    sb->mom_w = mom ? mw_b : NULL; sb->mom_b = mom ? mb_b : NULL;
    if (sc) { sb->mult = m_b; sb->shift = e_b; sb->mom_s = mom ? ms_b : NULL; }
}

static int differs(const char *what, long k, const void *a, const void *b, uint32_t n) {
    if (memcmp(a, b, n) == 0) return 0;
    const uint8_t *x = a, *y = b;
    uint32_t i = 0;
    while (x[i] == y[i]) i++;
    snprintf(line, sizeof line, "MISMATCH %s case %ld at byte %lu\n", what, k, (unsigned long)i);
    tiny_semihost_write0(line);
    return 1;
}

static int compare(const char *what, long k, uint32_t nw, uint32_t oc, uint32_t nx) {
    int bad = differs(what, k, w_a, w_b, nw) | differs(what, k, b_a, b_b, 4 * oc) |
              differs(what, k, mw_a, mw_b, 4 * nw) | differs(what, k, mb_a, mb_b, 4 * oc) |
              differs(what, k, m_a, m_b, 4 * oc) | differs(what, k, e_a, e_b, 4 * oc) |
              differs(what, k, ms_a, ms_b, 4 * oc) | differs(what, k, ws_a, ws_b, 4 * NF) |
              differs(what, k, ws_a + NF, ws_b + NF, 4 * nx);
    return bad;
}

static void report(const char *what, long cases, long fast, long bad) {
    snprintf(line, sizeof line, "%s cases %ld fast %ld fail %ld\n", what, cases, fast, bad);
    tiny_semihost_write0(line);
    failures += (int)bad;
}

/* In about half the cases with 0 < n_upd < oc, copy b reads its frozen channels from a separate table
 * (w_frozen, as a layer whose frozen channels stay in flash) while a reads the contiguous filter: the
 * results must not change. b's own frozen rows are poisoned meanwhile (they must not be read) and
 * must come back untouched (nothing writes them). */
static int8_t w_frozen[NW];

static void maybe_split(tiny_train_step_t *b, uint32_t K, uint32_t oc) {
    if (b->n_upd == 0 || b->n_upd >= oc || (rnd() & 1u)) return;
    const uint32_t cut = b->n_upd * K, nf = (oc - b->n_upd) * K;
    memcpy(w_frozen, w_b + cut, nf);
    memset(w_b + cut, 0x55, nf);
    b->w_frozen = w_frozen;
}

static long unsplit(const char *what, long k, tiny_train_step_t *b, uint32_t K, uint32_t oc) {
    if (!b->w_frozen) return 0;
    const uint32_t cut = b->n_upd * K, nf = (oc - b->n_upd) * K;
    long bad = 0;
    for (uint32_t i = 0; i < nf; i++) bad |= w_b[cut + i] != 0x55;
    if (bad) {
        snprintf(line, sizeof line, "MISMATCH %s case %ld: frozen rows written\n", what, k);
        tiny_semihost_write0(line);
    }
    memcpy(w_b + cut, w_frozen, nf);
    return bad;
}

static void sweep_conv1x1(void) {
    long fast = 0, bad = 0;
    for (long k = 0; k < SWEEP_CASES; k++) {
        tiny_train_step_t a, b;
        uint32_t h = (uint32_t)rint_(1, 8), w = (uint32_t)rint_(1, 8), ic = (uint32_t)rint_(1, 40);
        uint32_t oc = (uint32_t)rint_(1, 70);
        int strided = rnd() % 8u == 0;     /* off the fast path: must still agree (portable inside) */
        uint32_t in_px = strided ? (2 * h - 1) * (2 * w - 1) : h * w;
        while (in_px * ic > 4000 || h * w * oc > NF || oc * ic > NW) { ic = 1 + ic / 2; oc = 1 + oc / 2; }
        setup(&a, &b, oc * ic, oc, h * w * oc, in_px * ic, 8192, 1);
        a.kind = b.kind = TINY_TS_CONV;
        a.in_h = b.in_h = (uint16_t)(strided ? 2 * h - 1 : h); a.in_w = b.in_w = (uint16_t)(strided ? 2 * w - 1 : w);
        a.in_c = b.in_c = (uint16_t)ic; a.out_h = b.out_h = (uint16_t)h; a.out_w = b.out_w = (uint16_t)w;
        a.out_c = b.out_c = (uint16_t)oc;
        a.k_h = b.k_h = a.k_w = b.k_w = 1;
        a.s_h = b.s_h = a.s_w = b.s_w = (uint16_t)(strided ? 2 : 1);
        a.n_upd = b.n_upd = (uint16_t)(rnd() % 3u ? rint_(0, (int32_t)oc) : (int32_t)oc);
        a.x_off = b.x_off = 0;
        fast += !strided;
        tiny_train_begin_step(&a, (uint32_t)k);  /* same rounding keys for both */
        tiny_conv2d_bwd_f32(&a, ws_a, ws_a);
        maybe_split(&b, ic, oc);
        tiny_train_begin_step(&b, (uint32_t)k);
        tiny_conv2d_1x1_bwd_f32(&b, ws_b, ws_b);
        bad += unsplit("conv2d_1x1", k, &b, ic, oc);
        bad += compare("conv2d_1x1", k, oc * ic, oc, (uint32_t)a.in_h * a.in_w * ic);
    }
    report("conv2d_1x1", SWEEP_CASES, fast, bad);
}

static void sweep_dw3x3(void) {
    long fast = 0, bad = 0;
    for (long k = 0; k < SWEEP_CASES; k++) {
        tiny_train_step_t a, b;
        int32_t h = rint_(1, 9), w = rint_(1, 9), c = rint_(1, 90);
        int32_t pt = rint_(0, 2), pb = rint_(0, 2), pl = rint_(0, 2), pr = rint_(0, 2);
        int32_t oh = h + pt + pb - 2, ow = w + pl + pr - 2;
        if (oh < 1) { pb += 1 - oh; oh = 1; }
        if (ow < 1) { pr += 1 - ow; ow = 1; }
        while (h * w * c > NF || oh * ow * c > NF) c = 1 + c / 2;
        setup(&a, &b, 9 * (uint32_t)c, (uint32_t)c, (uint32_t)(oh * ow * c), (uint32_t)(h * w * c), 4096, 0);
        a.kind = b.kind = TINY_TS_DW;
        a.in_h = b.in_h = (uint16_t)h; a.in_w = b.in_w = (uint16_t)w; a.in_c = b.in_c = (uint16_t)c;
        a.out_h = b.out_h = (uint16_t)oh; a.out_w = b.out_w = (uint16_t)ow; a.out_c = b.out_c = (uint16_t)c;
        a.k_h = b.k_h = a.k_w = b.k_w = 3;
        a.s_h = b.s_h = a.s_w = b.s_w = 1;
        a.p_t = b.p_t = (uint16_t)pt; a.p_l = b.p_l = (uint16_t)pl;
        a.n_upd = b.n_upd = (uint16_t)(rnd() % 3u ? 0 : rint_(1, c));
        a.x_off = b.x_off = 0;
        fast++;
        tiny_train_begin_step(&a, (uint32_t)k);  /* same rounding keys for both */
        tiny_depthwise_conv2d_bwd_f32(&a, ws_a, ws_a);
        tiny_train_begin_step(&b, (uint32_t)k);
        tiny_depthwise_conv2d_3x3_bwd_f32(&b, ws_b, ws_b);
        bad += compare("depthwise_conv2d_3x3", k, 9 * (uint32_t)c, (uint32_t)c, (uint32_t)(h * w * c));
    }
    report("depthwise_conv2d_3x3", SWEEP_CASES, fast, bad);
}

static void sweep_fc(void) {
    long bad = 0;
    for (long k = 0; k < SWEEP_CASES; k++) {
        tiny_train_step_t a, b;
        uint32_t d = (uint32_t)rint_(1, 300), oc = (uint32_t)rint_(1, 20);
        setup(&a, &b, oc * d, oc, oc, d, 4096, 0);
        a.kind = b.kind = TINY_TS_FC;
        a.in_c = b.in_c = (uint16_t)d; a.out_c = b.out_c = (uint16_t)oc;
        a.in_h = a.in_w = a.out_h = a.out_w = b.in_h = b.in_w = b.out_h = b.out_w = 1;
        a.w_offset = b.w_offset = (rnd() & 1) ? 0 : rint_(-127, 127);
        a.n_upd = b.n_upd = (uint16_t)rint_(0, (int32_t)oc);
        a.x_off = b.x_off = 0;
        tiny_train_begin_step(&a, (uint32_t)k);  /* same rounding keys for both */
        tiny_fully_connected_bwd_f32(&a, ws_a, ws_a);
        maybe_split(&b, d, oc);
        tiny_train_begin_step(&b, (uint32_t)k);
        tiny_fully_connected_blk_bwd_f32(&b, ws_b, ws_b);
        bad += unsplit("fully_connected", k, &b, d, oc);
        bad += compare("fully_connected", k, oc * d, oc, d);
    }
    report("fully_connected", SWEEP_CASES, SWEEP_CASES, bad);
}

int main(void) {
    sweep_conv1x1();
    sweep_dw3x3();
    sweep_fc();
    tiny_semihost_write0(failures ? "SWEEP FAIL\n" : "SWEEP OK\n");
    return failures;
}
