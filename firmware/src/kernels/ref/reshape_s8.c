/* RESHAPE: a byte copy (any element type); nothing to do when input and output alias. */
#include <string.h>
#include "tiny/kernels.h"

tiny_status tiny_reshape_s8(const int8_t *input, int8_t *output, int32_t size) {
    if (size < 0 || (size > 0 && (!input || !output))) return TINY_ERR_ARG;
    if (input != output && size > 0) memmove(output, input, (size_t)size);
    return TINY_OK;
}
