/* Per-layer markers called by generated code around each op. They must stay real, separate
 * functions: the QEMU instruction-counting plugin keys on their addresses. */
#include "tiny/model.h"

#if defined(__clang__)
#define TINY_MARKER __attribute__((noinline, optnone, used))
#else
#define TINY_MARKER __attribute__((noinline, noipa, used))
#endif

TINY_MARKER void tiny_layer_begin(uint32_t op_index) {
    __asm__ __volatile__("" : : "r"(op_index) : "memory");
}

TINY_MARKER void tiny_layer_end(uint32_t op_index) {
    __asm__ __volatile__("" : : "r"(op_index) : "memory");
}
