/* HARD_SWISH int8: the portable specification of tiny_hard_swish_s8.
 * TFLM's int16 pipeline: x on a hi-res scale (x * 128), a saturating "reluish" factor in [0, 1]
 * from x, their truncating doubling high product, then the output shift and zero point.
 * Every intermediate is int16 as in TFLM (stores wrap modulo 2^16). */
#include "tiny/kernels.h"
#include "tiny/fixedpoint_ext.h"

tiny_status tiny_hard_swish_s8(const tiny_hard_swish_params *params, int32_t size, const int8_t *in,
                               int8_t *out) {
    if (!params || !in || !out || size < 0) return TINY_ERR_ARG;
    const tiny_hard_swish_params *p = params;
    const int16_t m_out = (int16_t)p->output_multiplier, m_rel = (int16_t)p->reluish_multiplier;
    const int e_rel = (int)p->reluish_exponent;
    for (int32_t i = 0; i < size; ++i) {
        const int16_t value = (int16_t)(in[i] - p->input_zero_point);
        const int16_t hires = (int16_t)(value * (1 << 7));
        const int16_t preshift_out = tiny_srdhm16(hires, m_out);
        int16_t reluish = hires;
        /* Saturate on the way up but keep the last bit of left shift for after the multiply. */
        if (e_rel > 0) reluish = tiny_saturating_left_shift16(reluish, e_rel - 1);
        reluish = tiny_srdhm16(reluish, m_rel);
        if (e_rel > 0) reluish = tiny_saturating_left_shift16(reluish, 1);
        if (e_rel < 0) reluish = tiny_rounding_divide_by_pot16(reluish, -e_rel);
        reluish = (int16_t)((reluish + (1 << 15)) >> 1);
        int16_t y = tiny_rounding_divide_by_pot16(tiny_sdhm16(reluish, preshift_out), -(int)p->output_exponent);
        y = (int16_t)(y + p->output_zero_point);
        out[i] = (int8_t)(y > 127 ? 127 : (y < -128 ? -128 : y));
    }
    return TINY_OK;
}
