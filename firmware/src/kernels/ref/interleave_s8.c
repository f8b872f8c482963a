/* In-place channel interleave after a split layer (training firmware: updated output channels use a
 * filter in SRAM, frozen ones a filter in flash, one kernel call each). */
#include <string.h>
#include "tiny/kernels.h"

tiny_status tiny_interleave_channels_s8(int8_t *data, int32_t rows, int32_t a, int32_t b, int8_t *scratch) {
    if (!data || rows < 0 || a < 0 || b < 0 || (rows > 1 && a > 0 && !scratch)) return TINY_ERR_ARG;
    const int32_t c = a + b;
    memcpy(scratch, data, (size_t)(rows * a));
    /* Row p of the second block moves from rows*a + p*b down to p*c + a: that destination ends at
     * (p+1)*c <= rows*a + (p+1)*b, before the rows not yet read, so going up in p is safe (memmove:
     * a row may overlap its own destination). */
    for (int32_t p = 0; p < rows; p++) memmove(data + p * c + a, data + rows * a + p * b, (size_t)b);
    for (int32_t p = 0; p < rows; p++) memcpy(data + p * c, scratch + p * a, (size_t)a);
    return TINY_OK;
}
