/* SVDF (int8 with int16 state): see tiny/ops/svdf.py for the arithmetic and its TFLM origin. */
#include "tiny/fixedpoint.h"
#include "tiny/kernels.h"

tiny_status tiny_svdf_s8(const tiny_svdf_params *params, const int8_t *input, const int8_t *weights_feature,
                         const int16_t *weights_time, const int32_t *bias, int16_t *state, int8_t *output) {
    if (!params || !input || !weights_feature || !weights_time || !bias || !state || !output ||
        params->batch < 1 || params->filters < 1 || params->memory < 1 || params->rank < 1 ||
        params->filters % params->rank != 0) {
        return TINY_ERR_ARG;
    }
    const int32_t mem = params->memory, filters = params->filters, units = filters / params->rank;
    for (int32_t b = 0; b < params->batch; ++b) {
        const int8_t *x = input + b * params->input_size;
        int16_t *st = state + b * filters * mem;
        for (int32_t f = 0; f < filters; ++f) {
            int16_t *row = st + f * mem;
            /* The oldest activation leaves, the newest slot is rewritten below. */
            for (int32_t j = 0; j + 1 < mem; ++j) row[j] = row[j + 1];
            const int8_t *w = weights_feature + f * params->input_size;
            int32_t acc = 0;
            for (int32_t i = 0; i < params->input_size; ++i) acc += (int32_t)w[i] * ((int32_t)x[i] + params->input_offset);
            /* zero point before the clamp, as TFLM: the sum must saturate, not wrap, into int16 */
            acc = tiny_requantize(acc, params->multiplier1, params->shift1) + params->state_zp;
            row[mem - 1] = (int16_t)tiny_clamp(acc, INT16_MIN, INT16_MAX);
        }
        for (int32_t u = 0; u < units; ++u) {
            int32_t acc = bias[u];
            for (int32_t f = u * params->rank; f < (u + 1) * params->rank; ++f) {
                const int16_t *row = st + f * mem, *wt = weights_time + f * mem;
                for (int32_t j = 0; j < mem; ++j) acc += (int32_t)wt[j] * ((int32_t)row[j] - params->state_zp);
            }
            acc = tiny_requantize(acc, params->multiplier2, params->shift2) + params->output_zp;
            output[b * units + u] = (int8_t)tiny_clamp(acc, -128, 127);
        }
    }
    return TINY_OK;
}
