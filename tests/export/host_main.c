/* A caller's own program linking an exported model (tiny export ... --board host), hand-written:
 *     host_main IN.bin OUT.bin
 * IN.bin holds samples back to back (each: every input, in order); OUT.bin receives each sample's
 * outputs back to back. One-input/one-output models go through tiny_model_invoke, others through
 * tiny_model_invoke_n. With -DTINY_MODEL_EXTERNAL_ARENA this file provides the arena. */
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include "tiny_model.h"

#ifdef TINY_MODEL_EXTERNAL_ARENA
uint8_t tiny_model_arena[TINY_MODEL_ARENA_BYTES] __attribute__((aligned(TINY_MODEL_ARENA_ALIGN)));
#endif

#define MAX_IO 8
#define MAX_BYTES 65536

static int8_t in_buf[MAX_IO][MAX_BYTES];
static int8_t out_buf[MAX_IO][MAX_BYTES];

int main(int argc, char **argv) {
    static const uint32_t in_bytes[] = {
        TINY_MODEL_INPUT0_BYTES,
#if TINY_MODEL_N_INPUTS > 1
        TINY_MODEL_INPUT1_BYTES,
#endif
    };
    static const uint32_t out_bytes[] = {
        TINY_MODEL_OUTPUT0_BYTES,
#if TINY_MODEL_N_OUTPUTS > 1
        TINY_MODEL_OUTPUT1_BYTES,
#endif
    };
    FILE *fi, *fo;
    int samples = 0;
    if (argc != 3) {
        fprintf(stderr, "usage: %s IN.bin OUT.bin\n", argv[0]);
        return 2;
    }
    fi = fopen(argv[1], "rb");
    fo = fopen(argv[2], "wb");
    if (fi == NULL || fo == NULL) return 3;
    for (;;) {
        const int8_t *ins[MAX_IO];
        int8_t *outs[MAX_IO];
        int i, rc;
        for (i = 0; i < TINY_MODEL_N_INPUTS; i++) {
            if (fread(in_buf[i], 1, in_bytes[i], fi) != in_bytes[i]) goto done;
            ins[i] = in_buf[i];
        }
        for (i = 0; i < TINY_MODEL_N_OUTPUTS; i++) outs[i] = out_buf[i];
#if TINY_MODEL_N_INPUTS == 1 && TINY_MODEL_N_OUTPUTS == 1
        rc = tiny_model_invoke((const void *)ins[0], (void *)outs[0]);   /* int8_t, uint8_t or float I/O */
#else
        rc = tiny_model_invoke_n(ins, outs);
#endif
        if (rc != 0) {
            fprintf(stderr, "invoke failed: %d\n", rc);
            return 4;
        }
        for (i = 0; i < TINY_MODEL_N_OUTPUTS; i++) fwrite(out_buf[i], 1, out_bytes[i], fo);
        samples++;
    }
done:
    fclose(fi);
    fclose(fo);
    printf("%d samples\n", samples);
    return samples > 0 ? 0 : 5;
}
