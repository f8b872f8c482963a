/* SPLIT / SPLIT_V / UNPACK: copies one output's share of every input row (called once per
 * output). TFLM's split kernels copy raw values, so no value changes. */
#include <string.h>
#include "tiny/kernels.h"

tiny_status tiny_split_s8(const tiny_split_params *params, const int8_t *input, int8_t *output) {
    if (!params || !input || !output || params->outer < 0 || params->output_size < 0 ||
        params->offset < 0 || params->offset + params->output_size > params->input_size) {
        return TINY_ERR_ARG;
    }
    for (int32_t i = 0; i < params->outer; ++i) {
        memcpy(output + i * params->output_size, input + i * params->input_size + params->offset,
               (size_t)params->output_size);
    }
    return TINY_OK;
}
