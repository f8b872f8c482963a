/* QEMU firmware: instruction counts of single kernel calls (tests/kernels/kbench.py).
 *
 * kb_cases.h (generated) defines KB_CASES: one KB_DW(fn, h, w, c, mult, kh, kw, stride, pad, lo, inplace)
 * or KB_FC(fn, batches, in, out, lo) or KB_PW(fn, h, w, in_c, out_c, lo) (1x1 conv) per case. Every case runs once between the layer markers
 * (firmware/src/runtime/markers.c), so the counting plugin gives its instructions. */
#include <stdint.h>
#include <string.h>
#include "sweep_rng.h"
#include "tiny/kernels.h"
#include "tiny/kernels_arm.h"
#include "tiny/model.h"

void tiny_semihost_write0(const char *s);
#define KB_BUF 65536
static int8_t in_buf[KB_BUF], flt[KB_BUF], out_buf[KB_BUF];
static int8_t scratch[16384] __attribute__((aligned(4)));
static int32_t bias[1024], mult[1024], shift_[1024];
static uint32_t idx;

static void fill(void) {
    for (int32_t i = 0; i < KB_BUF; ++i) in_buf[i] = (int8_t)rnd(), flt[i] = (int8_t)rnd();
    for (int32_t i = 0; i < 1024; ++i) {
        mult[i] = (int32_t)((1u << 30) + (rnd() & 0x3FFFFFFFu));
        shift_[i] = -8;
        bias[i] = rint_(-2000, 2000);
    }
}

#define KB_DW(fn, H, W, C, M, KH, KW, S, PAD, LO, INPLACE)                                                 \
    do {                                                                                                 \
        tiny_dims in = {1, H, W, C}, f = {1, KH, KW, (C) * (M)}, bd = {(C) * (M), 1, 1, 1};              \
        const int32_t oh = ((H) + ((PAD) ? (S) - 1 : -(KH) + (S))) / (S);                                \
        const int32_t ow = ((W) + ((PAD) ? (S) - 1 : -(KW) + (S))) / (S);                                \
        tiny_dims out = {1, oh, ow, (C) * (M)};                                                          \
        const int32_t ph = (PAD) ? (((oh - 1) * (S) + (KH) - (H)) > 0 ? ((oh - 1) * (S) + (KH) - (H)) / 2 : 0) : 0; \
        const int32_t pw = (PAD) ? (((ow - 1) * (S) + (KW) - (W)) > 0 ? ((ow - 1) * (S) + (KW) - (W)) / 2 : 0) : 0; \
        tiny_dw_conv_params p = {5, (LO) == -128 ? -3 : (LO), M, {S, S}, {ph, pw}, {1, 1}, {LO, 127}};   \
        tiny_per_channel_quant q = {mult, shift_};                                                       \
        tiny_ctx ctx = {scratch, sizeof scratch};                                                        \
        tiny_layer_begin(idx);                                                                           \
        fn(&ctx, &p, &q, &in, in_buf, &f, flt, &bd, bias, &out, (INPLACE) ? in_buf : out_buf);          \
        tiny_layer_end(idx++);                                                                           \
    } while (0)

/* One counted call of a conv/FC-shaped kernel on the dims and params set up by the caller. */
#define KB_CALL(fn)                                                                                      \
    do {                                                                                                 \
        tiny_per_channel_quant q = {mult, shift_};                                                       \
        tiny_ctx ctx = {scratch, sizeof scratch};                                                        \
        tiny_layer_begin(idx);                                                                           \
        fn(&ctx, &p, &q, &in, in_buf, &f, flt, &bd, bias, &out, out_buf);                                \
        tiny_layer_end(idx++);                                                                           \
    } while (0)

#define KB_FC(fn, B, IN, OUT, LO)                                                                        \
    do {                                                                                                 \
        tiny_dims in = {B, 1, 1, IN}, f = {OUT, 1, 1, IN}, bd = {OUT, 1, 1, 1}, out = {B, 1, 1, OUT};    \
        tiny_fc_params p = {5, 0, (LO) == -128 ? -3 : (LO), {LO, 127}};                                  \
        KB_CALL(fn);                                                                                     \
    } while (0)

#define KB_PW(fn, H, W, IC, OC, LO)                                                                      \
    do {                                                                                                 \
        tiny_dims in = {1, H, W, IC}, f = {OC, 1, 1, IC}, bd = {OC, 1, 1, 1}, out = {1, H, W, OC};       \
        tiny_conv_params p = {5, (LO) == -128 ? -3 : (LO), {1, 1}, {0, 0}, {1, 1}, {LO, 127}};           \
        KB_CALL(fn);                                                                                     \
    } while (0)

/* KB_CONV(fn, H, W, IC, OC, KH, KW, S, PAD): a CONV_2D with padding PAD on both sides, full int8 range. */
#define KB_CONV(fn, H, W, IC, OC, KH, KW, S, PAD)                                                         \
    do {                                                                                                 \
        tiny_dims in = {1, H, W, IC}, f = {OC, KH, KW, IC}, bd = {OC, 1, 1, 1},                          \
                  out = {1, ((H) + 2 * (PAD) - (KH)) / (S) + 1, ((W) + 2 * (PAD) - (KW)) / (S) + 1, OC};     \
        tiny_conv_params p = {5, -3, {S, S}, {PAD, PAD}, {1, 1}, {-128, 127}};                            \
        KB_CALL(fn);                                                                                     \
    } while (0)

#include "kb_cases.h"

int main(void) {
    fill();
    KB_CASES
    tiny_semihost_write0("KB DONE\n");
    return 0;
}
