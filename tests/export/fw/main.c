/* The caller's firmware: runs the exported model on the samples of samples.h (written by the test)
 * and prints every output byte as hex through semihosting, one line per sample. */
#include <stdint.h>
#include "tiny_model.h"
#include "samples.h"

void app_puts(const char *s);

#ifdef TINY_MODEL_EXTERNAL_ARENA
uint8_t tiny_model_arena[TINY_MODEL_ARENA_BYTES] __attribute__((aligned(TINY_MODEL_ARENA_ALIGN)));
#endif

static int8_t out[TINY_MODEL_OUTPUT_BYTES];
static char line[2 * TINY_MODEL_OUTPUT_BYTES + 2];

int main(void) {
    static const char hex[] = "0123456789abcdef";
    uint32_t s, i;
    for (s = 0; s < APP_SAMPLES; s++) {
        int rc = tiny_model_invoke(app_samples[s], out);
        if (rc != 0) {
            app_puts("invoke failed\n");
            return 10 + rc;
        }
        for (i = 0; i < TINY_MODEL_OUTPUT_BYTES; i++) {
            line[2 * i] = hex[((uint8_t)out[i]) >> 4];
            line[2 * i + 1] = hex[((uint8_t)out[i]) & 15];
        }
        line[2 * i] = '\n';
        line[2 * i + 1] = 0;
        app_puts(line);
    }
    return 0;
}
