/* Consistent Overhead Byte Stuffing: frames never contain 0x00, so 0x00 delimits them. */
#include "tiny/protocol.h"

uint32_t tiny_cobs_decode(const uint8_t *in, uint32_t n, uint8_t *out, uint32_t cap) {
    uint32_t r = 0, w = 0;
    while (r < n) {
        uint32_t code = in[r++];
        if (code == 0) return TINY_COBS_ERROR;
        uint32_t len = code - 1u;
        if (len > n - r) return TINY_COBS_ERROR; /* block runs past the frame */
        if (len > cap - w) return TINY_COBS_ERROR;
        for (uint32_t k = 0; k < len; k++) {
            uint8_t b = in[r++];
            if (b == 0) return TINY_COBS_ERROR;
            out[w++] = b; /* w < r always, so decoding in place is safe */
        }
        /* A block shorter than 254 bytes stands for "data, then a zero", except at the end. */
        if (code != 0xFFu && r < n) {
            if (w >= cap) return TINY_COBS_ERROR;
            out[w++] = 0;
        }
    }
    return w;
}

uint32_t tiny_cobs_encode(const uint8_t *in, uint32_t n, uint8_t *out, uint32_t cap) {
    uint32_t i = 0, w = 0;
    for (;;) {
        uint32_t run = 0;
        while (run < 254u && i + run < n && in[i + run] != 0) run++;
        if (run + 1u > cap - w) return TINY_COBS_ERROR;
        out[w++] = (uint8_t)(run + 1u);
        for (uint32_t k = 0; k < run; k++) out[w++] = in[i + k];
        i += run;
        if (i >= n) break;
        if (run < 254u) i++; /* skip the zero this block stands for */
    }
    return w;
}
