/* A caller's program training an exported model on the device side (tiny export --train ...),
 * hand-written:   train_main LR IN.bin OUT.bin
 * LR: the learning rate (C99 strtof, e.g. a hex float); IN.bin: records of TINY_MODEL_INPUT_BYTES
 * input bytes + 1 label byte. OUT.bin: the parameters before training, one predicted class byte
 * per step, the parameters after training, and the parameters after restoring the first copy. */
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include "tiny_model.h"

static int8_t x[TINY_MODEL_INPUT_BYTES];
static uint8_t before[TINY_MODEL_PARAMS_BYTES], after[TINY_MODEL_PARAMS_BYTES];
static uint8_t preds[4096];

int main(int argc, char **argv) {
    FILE *fi, *fo;
    uint32_t n = 0;
    if (argc != 4) return 2;
    fi = fopen(argv[2], "rb");
    fo = fopen(argv[3], "wb");
    if (fi == NULL || fo == NULL) return 3;
    if (tiny_model_train_save(before, sizeof before) != TINY_MODEL_PARAMS_BYTES) return 4;
    if (tiny_model_train_save(before, sizeof before - 1) != 0) return 5;   /* too small: refused */
    tiny_model_train_set_lr(strtof(argv[1], NULL));
    for (;;) {
        int label = 0;
        uint32_t pred = 0;
        float p = 0.0f;
        if (fread(x, 1, sizeof x, fi) != sizeof x || (label = fgetc(fi)) == EOF || n >= sizeof preds) break;
        if (tiny_model_train_step(x, (uint32_t)label, &pred, &p) != 0) return 6;
        if (!(p >= 0.0f && p <= 1.0f)) return 7;
        preds[n++] = (uint8_t)pred;
    }
    if (tiny_model_train_step(x, TINY_MODEL_N_CLASSES, NULL, NULL) != TINY_MODEL_ERR_ARG) return 8;
    fwrite(before, 1, sizeof before, fo);
    fwrite(preds, 1, n, fo);
    tiny_model_train_save(after, sizeof after);
    fwrite(after, 1, sizeof after, fo);
    if (tiny_model_train_restore(before, sizeof before) != TINY_MODEL_PARAMS_BYTES) return 9;
    tiny_model_train_save(after, sizeof after);
    fwrite(after, 1, sizeof after, fo);
    fclose(fi);
    fclose(fo);
    printf("%u steps\n", (unsigned)n);
    return 0;
}
