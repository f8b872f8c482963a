/* QEMU firmware: instruction counts of single backward-kernel calls (tests/train/bwd_kbench.py).
 *
 * kb_cases.h (generated) defines KB_CASES: one BK_PW(fn, h, w, ic, oc, n_upd, g_in) (1x1 conv),
 * BK_DW(fn, h, w, c, n_upd, g_in) (3x3 depthwise, stride 1, pad 1) or BK_FC(fn, d, oc, n_upd, g_in)
 * per case. Each runs once between the layer markers, so the counting plugin gives its instructions. */
#include <stdint.h>
#include <string.h>
#include "sweep_rng.h"
#include "tiny/model.h"
#include "tiny/train.h"

void tiny_semihost_write0(const char *s);
static uint8_t arena[16];
static int no_invoke(int32_t stop_after) { (void)stop_after; return 0; }
const tiny_model_t tiny_model = {.name = "kb", .hash = "0000000000000000", .arena = arena, .invoke = no_invoke};
static uint8_t saved[32768] __attribute__((aligned(4)));
const tiny_train_model_t tiny_train_model = {.hash = "kb", .saved = saved, .lr = 0.1f};
static int8_t w[16384];
static int32_t b[1024];
static float ws[2 * 16384], wscale[1024], bscale[1024];
static float mom[4096];             /* BK_FCM: momentum buffers of up to 4096 updated weights */
static uint32_t idx;

static void fill(void) {
    for (uint32_t i = 0; i < sizeof saved; i++) saved[i] = (uint8_t)rnd();
    for (uint32_t i = 0; i < sizeof w; i++) w[i] = (int8_t)rint_(-127, 127);
    for (uint32_t i = 0; i < 16384; i++) ws[i] = (float)rint_(-1000, 1000) * 1e-4f;
    for (uint32_t c = 0; c < 1024; c++) { wscale[c] = 0.01f; bscale[c] = 1e-4f; b[c] = 0; }
}

static void base(tiny_train_step_t *s, int32_t n_upd, int32_t g_in) {
    memset(s, 0, sizeof *s);
    s->flags = TINY_TF_UPD_B | TINY_TF_IN_FIRST;
    s->g_out = 0; s->g_in = g_in ? 16384 : -1; s->g_in2 = -1;
    s->x_scale = 0.02f; s->x_zp = -3; s->wscale = wscale; s->bscale = bscale;
    s->w = w; s->b = b; s->n_upd = (uint16_t)n_upd; s->x_off = 0;
}

#define BK_RUN(fn)                                  \
    tiny_train_begin_step(&s, idx);                 \
    tiny_layer_begin(idx);                          \
    fn(&s, ws, ws);                                 \
    tiny_layer_end(idx++)

#define BK_PW(fn, H, W, IC, OC, NU, GIN) do { tiny_train_step_t s; base(&s, NU, GIN); s.kind = TINY_TS_CONV; \
    s.in_h = s.out_h = H; s.in_w = s.out_w = W; s.in_c = IC; s.out_c = OC; s.k_h = s.k_w = 1; s.s_h = s.s_w = 1; \
    BK_RUN(fn); } while (0)
#define BK_DW(fn, H, W, C, NU, GIN) do { tiny_train_step_t s; base(&s, NU, GIN); s.kind = TINY_TS_DW; \
    s.in_h = s.out_h = H; s.in_w = s.out_w = W; s.in_c = s.out_c = C; s.k_h = s.k_w = 3; s.s_h = s.s_w = 1; \
    s.p_t = s.p_l = 1; BK_RUN(fn); } while (0)
#define BK_FC(fn, D, OC, NU, GIN) do { tiny_train_step_t s; base(&s, NU, GIN); s.kind = TINY_TS_FC; \
    s.in_h = s.in_w = s.out_h = s.out_w = 1; s.in_c = D; s.out_c = OC; BK_RUN(fn); } while (0)
#define BK_FCM(fn, D, OC, NU, GIN) do { tiny_train_step_t s; base(&s, NU, GIN); s.kind = TINY_TS_FC; \
    s.in_h = s.in_w = s.out_h = s.out_w = 1; s.in_c = D; s.out_c = OC; s.mom_w = mom; s.mom_b = mom; \
    BK_RUN(fn); } while (0)

#include "kb_cases.h"

int main(void) {
    fill();
    tiny_train_set_hparams(tiny_train_model.lr, 0.9f, 1u);   /* the common path: QAS on */
    KB_CASES
    tiny_semihost_write0("KB DONE\n");
    return 0;
}
