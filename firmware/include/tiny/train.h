/* On-device training runtime (sparse update, TTE-style): the tables a generated train_model.c
 * provides and the entry points the generated model.c and the protocol loop call.
 * The backward pass is float32 and follows tiny/reference/train.py operation by operation
 * (sequential sums, no fused multiply-add), so device and oracle weights agree bit for bit. */
#ifndef TINY_TRAIN_H
#define TINY_TRAIN_H
#include <stdint.h>

enum { TINY_TS_CE = 0, TINY_TS_CONV = 1, TINY_TS_DW = 2, TINY_TS_FC = 3, TINY_TS_MEAN = 4,
       TINY_TS_ADD = 5, TINY_TS_COPY = 6, TINY_TS_MAXPOOL = 7, TINY_TS_AVGPOOL = 8, TINY_TS_TRANSPOSE = 9,
       TINY_TS_PAD = 10, TINY_TS_CONCAT = 11, TINY_TS_MUL = 12, TINY_TS_LOGISTIC = 13, TINY_TS_TANH = 14,
       TINY_TS_LEAKY = 15, TINY_TS_SUB = 16, TINY_TS_MAX = 17, TINY_TS_MIN = 18, TINY_TS_PRELU = 19,
       TINY_TS_RESIZE = 20, TINY_TS_REDUCE_MAX = 21,
       TINY_TS_BILINEAR = 22, TINY_TS_DTABLE = 23 };
enum { TINY_TF_MASK_BITS = 1, TINY_TF_MASK_COPY = 2, TINY_TF_IN_FIRST = 4, TINY_TF_IN2_FIRST = 8,
       TINY_TF_UPD_B = 16,
       /* mean: the input gradient is written as one float per channel; conv (1x1): the output
        * gradient is that vector (slabs of channels are materialized after it, train.c run_bcast) */
       TINY_TF_BCAST = 32,
       /* add: an input does not have the output's shape (its gradient is summed over bdims) */
       TINY_TF_BROADCAST = 64 };
enum { TINY_CAP_COPY = 0, TINY_CAP_MASK = 1 };

/* Copied into the saved buffer right after op `op` ran (-1: before the forward pass). */
typedef struct {
    int32_t op;
    uint8_t kind;           /* TINY_CAP_* */
    int8_t lo, hi;          /* mask: bit = lo < q < hi */
    uint32_t src;           /* arena byte offset of the tensor */
    uint32_t n;             /* elements */
    uint32_t dst;           /* byte offset in the saved buffer */
} tiny_train_capture_t;

struct tiny_train_step;
/* A backward kernel: consumes the output gradient g (masked already), writes/accumulates the input
 * gradient into the workspace ws and applies the step's parameter updates. */
typedef void (*tiny_train_bwd_fn)(const struct tiny_train_step *s, float *g, float *ws);

typedef struct tiny_train_step {
    uint8_t kind, flags;
    int8_t mask_lo, mask_hi;
    uint16_t in_h, in_w, in_c, out_h, out_w, out_c, k_h, k_w, s_h, s_w, p_t, p_l;
    uint16_t n_upd;         /* output channels whose weights update (0: frozen weights) */
    int32_t g_out, g_in, g_in2;   /* float offsets into the workspace, -1: none */
    int32_t mask_off;       /* saved-buffer byte offset of the mask bits / int8 output copy */
    int32_t x_off;          /* saved-buffer byte offset of the int8 input (weight updates, max pool, ce logits) */
    float x_scale;          /* scale of the saved input (ce: of the logits) */
    int32_t x_zp;
    int32_t w_offset;       /* fully connected filter offset (-zero point) */
    int8_t *w;              /* weights (const data unless n_upd > 0; see w_frozen) */
    int32_t *b;             /* bias (written when TINY_TF_UPD_B) */
    const float *wscale;    /* per output channel s_w */
    const float *bscale;    /* per output channel s_x * s_w */
    /* The weights' learning-rate factor and its inverse, powers of two (1: none; a layer reading a
     * 0..255 input steps at lr / 2^16: tiny/train/layers.py weight_lr_factor). */
    float w_lr, w_lr_inv;
    float *mom_w, *mom_b;   /* momentum buffers or NULL */
    /* MobileTL: trained per-channel requantization scale (NULL: none). The int32 multiplier/shift
     * tables the forward reads are the parameters; k[c] = m 2^e / (m0 2^e0) scales s_w and s_x s_w. */
    int32_t *mult, *shift;
    const int32_t *mult0, *shift0;
    int32_t y_off;          /* saved-buffer byte offset of the int8 output copy (scale gradient) */
    float y_scale;
    int32_t y_zp;
    float *mom_s;
    tiny_train_bwd_fn bwd;  /* conv / dw / fc: the backward kernel chosen at generation time */
    /* Weight shadow (NULL: none): per filter element the fraction below the int8 weight, in 1/256
     * of a quantum, so updates far below a quantum accumulate instead of being rounded each step. */
    int8_t *frac;
    /* Frozen output channels kept in flash (conv / fully connected updated on n_upd < out_c channels):
     * channel c >= n_upd reads its weights at w_frozen + (c - n_upd) * K, w holds only the first
     * n_upd channels. NULL: w holds every channel. */
    const int8_t *w_frozen;
    /* TRANSPOSE: the output's axis a is the input's axis perm[a] (4-D, batch 1 first; the input is
     * 1 x in_h x in_w x in_c) */
    uint8_t perm[4];
    /* MEAN / REDUCE_MAX: the reduced axes of the 4-D view 1 x in_h x in_w x in_c (bit a: axis a;
     * 6 = the global average over H, W). REDUCE_MAX reads its int8 input at x_off. */
    uint8_t axes;
    /* ADD (broadcasting) / SUB / MUL / MAXIMUM / MINIMUM / PRELU: the 4-D dims of input 0, input 1
     * and the output, paired as numpy broadcasts them (a dim of 1 against a larger output dim is
     * broadcast). MUL, MAXIMUM, MINIMUM and PRELU read the inputs' real values: a constant's from
     * k0 / k1 (input 0 / 1; NULL: an activation, saved at x_off / y_off with x_scale, x_zp /
     * y_scale, y_zp). RESIZE_BILINEAR: k0 = the two weights of each of the out_h output rows (lower
     * input row, upper), k1 = those of each of the out_w output columns.
     * LOGISTIC / TANH read their int8 output at y_off; LEAKY_RELU its int8 input at x_off (slope 1
     * above x_zp, else alpha = y_scale). DTABLE (GELU): the derivative at each int8 input, k0[x + 128],
     * x the int8 input saved at x_off. */
    uint32_t bdims[3][4];
    const float *k0, *k1;
    /* A step's int32 table. CONCATENATION: per input (in_w of them), its gradient's workspace offset
     * (-1: none), its chunk of each of the in_h outer slices (elements) and 1 when it is the first
     * contribution. RESIZE_NEAREST_NEIGHBOR: the input row of each of the out_h output rows, then
     * the input column of each of the out_w output columns. RESIZE_BILINEAR: the lower and upper
     * input row of each output row, then the left and right input column of each output column. */
    const int32_t *table;
} tiny_train_step_t;

/* The K weights of output channel c (K = weights per output channel). */
static inline const int8_t *tiny_train_wrow(const tiny_train_step_t *s, uint32_t c, uint32_t K) {
    return (s->w_frozen && c >= s->n_upd) ? s->w_frozen + (c - s->n_upd) * K : s->w + c * K;
}

typedef struct {
    void *ptr;
    uint32_t bytes;
} tiny_train_param_t;

typedef struct {
    const char *hash;
    uint16_t n_captures, n_steps, n_params, n_classes;
    const tiny_train_capture_t *captures;
    const tiny_train_step_t *steps;
    const tiny_train_param_t *params;
    uint8_t *saved;
    float *workspace;       /* NULL: the forward arena (dead during the backward) is used */
    uint32_t saved_bytes, workspace_bytes, peak_bytes;
    float *logits_tmp;
    float lr, momentum;     /* defaults; SET_HPARAMS changes them at run time */
    uint8_t qas;
} tiny_train_model_t;

extern const tiny_train_model_t tiny_train_model;

/* Called by the generated model.c after each op whose output the backward needs. */
void tiny_train_capture(int32_t op);
/* exp(x) for x <= 0, float32, bit-identical to tiny.reference.train.exp32. */
float tiny_train_exp(float x);
/* One SGD step on the input already in the arena. Returns 0 or a non-zero error. */
int tiny_train_step(uint32_t label, uint32_t *pred, float *p_label);
/* Learning rate, momentum and QAS of the following steps (the defaults come from the tables). */
void tiny_train_set_hparams(float lr, float momentum, uint8_t qas);

/* ---- shared by the backward kernels (firmware/src/train/train.c) ---- */
/* A parameter step: g -> QAS-scaled -> momentum -> times the current learning rate -> rounded
 * (stochastically by default, keyed by the step number, the running backward step and the element's
 * offset in its array, so the loop order does not matter) -> subtracted with saturation.
 * Only valid inside the running step's backward kernel (w / b point into that step's arrays). */
/* Makes `s` (backward step number `index` of the plan) the running step: its arrays and keys. */
void tiny_train_begin_step(const struct tiny_train_step *s, uint32_t index);
/* w[i] -= step(g[i], scale, mom ? &mom[i] : NULL), saturated to [-127, 127], for i < n. */
void tiny_train_sgd_w(int8_t *w, const float *g, uint32_t n, float scale, float *mom);
/* *b -= step(g, scale, mom), saturated to int32. */
void tiny_train_sgd_b(int32_t *b, float g, float scale, float *mom);
void tiny_train_update_b(int32_t *b, int32_t d);    /* b -= d, saturated to int32 */
/* The trained scale factor k[c] of a MobileTL projection conv (1.0f when the step has none). */
float tiny_train_kfac(const struct tiny_train_step *s, uint32_t c);
/* Bias update from the output gradient summed over `positions` (sequential sum per channel). */
void tiny_train_bias_update(const struct tiny_train_step *s, const float *g, uint32_t positions);
/* MobileTL's last-norm scale update (after the weights: it changes kfac). */
void tiny_train_scale_update(const struct tiny_train_step *s, const float *g, uint32_t positions);

/* ---- backward kernels: portable (firmware/src/train/bwd_ref.c, the specification) ---- */
void tiny_conv2d_bwd_f32(const struct tiny_train_step *s, float *g, float *ws);
void tiny_depthwise_conv2d_bwd_f32(const struct tiny_train_step *s, float *g, float *ws);
void tiny_fully_connected_bwd_f32(const struct tiny_train_step *s, float *g, float *ws);
/* Their parts, so an optimized kernel can replace one part and reuse the others. */
void tiny_conv2d_bwd_data_f32(const struct tiny_train_step *s, const float *g, float *ws);
void tiny_conv2d_bwd_weights_f32(const struct tiny_train_step *s, const float *g);
void tiny_depthwise_conv2d_bwd_data_f32(const struct tiny_train_step *s, const float *g, float *ws);
void tiny_depthwise_conv2d_bwd_weights_f32(const struct tiny_train_step *s, const float *g);

/* ---- optimized (firmware/src/train/bwd_opt.c): same signature and bit-identical results, register
 * blocked for FPU cores; calls outside their fast path go to the portable kernel ---- */
void tiny_conv2d_1x1_bwd_f32(const struct tiny_train_step *s, float *g, float *ws);
void tiny_depthwise_conv2d_3x3_bwd_f32(const struct tiny_train_step *s, float *g, float *ws);
void tiny_fully_connected_blk_bwd_f32(const struct tiny_train_step *s, float *g, float *ws);
#endif
