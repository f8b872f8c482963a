/* classify [input.bin]: run the exported model once on the raw int8 input in input.bin
 * (TINY_MODEL_INPUT_BYTES bytes; default: every value at the zero point, i.e. 0.0) and print
 * each output as "q real", then the index of the largest. */
#include <stdio.h>
#include <string.h>
#include "tiny_model.h"

static int8_t input[TINY_MODEL_INPUT_BYTES];
static int8_t output[TINY_MODEL_OUTPUT_BYTES];

int main(int argc, char **argv) {
    unsigned i, best = 0;
    int rc;
    memset(input, TINY_MODEL_INPUT_ZERO_POINT, sizeof input);
    if (argc > 1) {
        FILE *f = fopen(argv[1], "rb");
        if (f == NULL || fread(input, 1, sizeof input, f) != sizeof input) {
            fprintf(stderr, "%s: cannot read %u bytes\n", argv[1], (unsigned)sizeof input);
            return 1;
        }
        fclose(f);
    }
    rc = tiny_model_invoke(input, output);
    if (rc != 0) {
        fprintf(stderr, "tiny_model_invoke failed: %d\n", rc);
        return 2;
    }
    for (i = 0; i < TINY_MODEL_OUTPUT_BYTES; i++) {
        printf("%d %.6f\n", output[i], TINY_MODEL_OUTPUT_SCALE * (float)(output[i] - TINY_MODEL_OUTPUT_ZERO_POINT));
        if (output[i] > output[best]) best = i;
    }
    printf("class %u\n", best);
    return 0;
}
