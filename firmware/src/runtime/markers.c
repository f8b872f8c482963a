/* Per-layer markers called by generated code around each op. They must stay real, separate
 * functions: the QEMU instruction-counting plugin keys on their addresses. */
#include "tiny/model.h"

#ifndef TINY_LIBRARY
/* Firmware only (tiny export leaves this block out of a library): a board whose tiny_board.h has a
 * watchdog feeds it after every op, so a long INVOKE / TRAIN_STEP making progress is never reset.
 * The feed runs after the end marker's first instruction: per-layer instruction counts (begin to
 * end) do not include it. */
#if defined(__has_include)
#if __has_include("tiny_board.h")
#include "tiny_board.h"
#endif
#endif
#if defined(TINY_WATCHDOG_MS) && TINY_WATCHDOG_MS > 0
#include "tiny/port.h"
#define TINY_AFTER_OP() tiny_port_watchdog_feed()
#endif
#endif /* TINY_LIBRARY */
#ifndef TINY_AFTER_OP
#define TINY_AFTER_OP() ((void)0)
#endif

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
    TINY_AFTER_OP();
}
