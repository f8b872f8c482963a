/* An element-wise int8 op whose reference is itself a 256-entry table (GELU, ELU: TFLite fills it
 * once at prepare in float32; tiny/ops/<op>.py computes it in Python and emits it as a constant):
 * the portable kernel looks each input up, table[(uint8_t)x], the raw byte as index (the layout of
 * tiny_lut_s8, which DSP boards call instead). In place works. */
#include "tiny/kernels.h"

tiny_status tiny_lookup_s8(const int8_t *table, int32_t size, const int8_t *in, int8_t *out) {
    if (!table || size < 0 || (size > 0 && (!in || !out))) return TINY_ERR_ARG;
    const uint8_t *t = (const uint8_t *)table, *x = (const uint8_t *)in;
    for (int32_t i = 0; i < size; ++i) out[i] = (int8_t)t[x[i]];
    return TINY_OK;
}
