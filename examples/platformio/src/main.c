/* Runs the exported model once on an input at the zero point (0.0) and prints the outputs. */
#include <stdint.h>
#include <stdio.h>
#include "tiny_model.h"

/* Where the text goes: semihosting on QEMU (src/qemu/startup.c); override for your UART. */
__attribute__((weak)) void app_puts(const char *s) { (void)s; }

static int8_t input[TINY_MODEL_INPUT_BYTES];
static int8_t output[TINY_MODEL_OUTPUT_BYTES];

int main(void) {
    char line[48];
    unsigned i, best = 0;
    for (i = 0; i < TINY_MODEL_INPUT_BYTES; i++) input[i] = TINY_MODEL_INPUT_ZERO_POINT;
    if (tiny_model_invoke(input, output) != 0) {
        app_puts("tiny_model_invoke failed\n");
        return 1;
    }
    for (i = 0; i < TINY_MODEL_OUTPUT_BYTES; i++) {
        snprintf(line, sizeof line, "%d\n", output[i]);
        app_puts(line);
        if (output[i] > output[best]) best = i;
    }
    snprintf(line, sizeof line, "class %u\n", best);
    app_puts(line);
    return 0;
}
