/* CONCATENATION: places one input into the output (byte copy; called once per input). TFLM
 * requires int8 inputs to share the output quantization, so no value changes. */
#include <string.h>
#include "tiny/kernels.h"

tiny_status tiny_concatenation_s8(const tiny_concat_params *params, const int8_t *input, int8_t *output) {
    if (!params || !input || !output || params->outer < 0 || params->input_size < 0 ||
        params->offset < 0 || params->offset + params->input_size > params->output_size) {
        return TINY_ERR_ARG;
    }
    for (int32_t i = 0; i < params->outer; ++i) {
        memcpy(output + i * params->output_size + params->offset, input + i * params->input_size,
               (size_t)params->input_size);
    }
    return TINY_OK;
}
