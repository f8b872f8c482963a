/* Seeded xorshift32 for the QEMU sweep firmwares (SWEEP_SEED picks the sequence). */
#ifndef SWEEP_RNG_H
#define SWEEP_RNG_H
#include <stdint.h>

#ifndef SWEEP_SEED
#define SWEEP_SEED 1
#endif

static uint32_t rng_state = 0x9E3779B9u ^ (uint32_t)SWEEP_SEED;
static uint32_t rnd(void) {
    uint32_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return rng_state = x;
}
static int32_t rint_(int32_t lo, int32_t hi) { return lo + (int32_t)(rnd() % (uint32_t)(hi - lo + 1)); }
#endif
