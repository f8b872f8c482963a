/* Common Cortex-M board layer: vector table, reset (FPU, .data, .bss, stack painting), the
 * port.h functions built on a family UART driver, SysTick millisecond timeouts, DWT cycles,
 * semihosting exit on QEMU. Compiled only for boards whose tiny_board.h defines TINY_CORTEXM. */
#include "cortexm.h"
#ifdef TINY_CORTEXM
#include "tiny/port.h"

#define STACK_PAINT 0x5A17C0DEu

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, __stack_limit, __stack_top;
extern const uint32_t tiny_vectors[];
int main(void);
void Reset_Handler(void);
void tiny_reset_c(void);

const char *const tiny_port_board = TINY_BOARD_NAME;
uint32_t tiny_core_hz = TINY_RESET_CLOCK_HZ;
uint32_t tiny_uart_clk_hz = TINY_RESET_CLOCK_HZ;

/* Set SP and enable the FPU before any C runs: a bootloader may jump here with its own stack, and
 * compiled C may use FP registers for copies. */
__attribute__((naked, used)) void Reset_Handler(void) {
    __asm__ volatile(
        "ldr r0, =__stack_top\n"
        "mov sp, r0\n"
#if defined(__ARM_FP)
        "ldr r0, =0xE000ED88\n"     /* CPACR: full access to CP10/CP11 */
        "ldr r1, [r0]\n"
        "orr r1, r1, #(0xF << 20)\n"
        "str r1, [r0]\n"
        "dsb\n"
        "isb\n"
#endif
        "b tiny_reset_c\n");
}

__attribute__((used, noreturn)) void tiny_reset_c(void) {
    uint32_t *src = &_sidata, *dst = &_sdata;
    while (dst < &_edata) *dst++ = *src++;
    for (dst = &_sbss; dst < &_ebss; dst++) *dst = 0;
    /* Paint the stack below the current frame for the high-water mark. */
    uint32_t sp;
    __asm__ volatile("mov %0, sp" : "=r"(sp));
    for (dst = &__stack_limit; (uint32_t)(uintptr_t)dst < sp - 64u; dst++) *dst = STACK_PAINT;
    SCB_VTOR = (uint32_t)(uintptr_t)tiny_vectors;
    __asm__ volatile("dsb\n isb" ::: "memory");
    tiny_port_exit(main());
    for (;;) {}
}

void tiny_fault(void) {
#if TINY_EMULATED
    tiny_semihost_write0("tiny: hard fault\n");
    tiny_port_exit(3);
#endif
    for (;;) {}
}
static void default_handler(void) { tiny_fault(); }

__attribute__((section(".isr_vector"), used)) const uint32_t tiny_vectors[16] = {
    (uint32_t)(uintptr_t)&__stack_top,
    (uint32_t)(uintptr_t)Reset_Handler,
    (uint32_t)(uintptr_t)tiny_nmi_handler, /* NMI (the CMSDK watchdog's early warning) */
    (uint32_t)(uintptr_t)default_handler, /* HardFault */
    (uint32_t)(uintptr_t)default_handler, /* MemManage */
    (uint32_t)(uintptr_t)default_handler, /* BusFault */
    (uint32_t)(uintptr_t)default_handler, /* UsageFault */
    (uint32_t)(uintptr_t)default_handler, /* SecureFault (v8-M) */
    0, 0, 0,
    (uint32_t)(uintptr_t)default_handler, /* SVCall */
    (uint32_t)(uintptr_t)default_handler, /* DebugMonitor */
    0,
    (uint32_t)(uintptr_t)default_handler, /* PendSV */
    (uint32_t)(uintptr_t)default_handler, /* SysTick (not enabled as an interrupt) */
};

/* Armv7-M ARM B2.2 / Cortex-M7 TRM: invalidate each cache before enabling it (its contents are
 * unknown after reset); the data cache by set/way, geometry from CCSIDR. */
void tiny_cm7_caches_on(void) {
    __asm__ volatile("dsb\n isb" ::: "memory");
    SCB_ICIALLU = 0;
    __asm__ volatile("dsb\n isb" ::: "memory");
    SCB_CCR |= 1u << 17; /* IC */
    __asm__ volatile("dsb\n isb" ::: "memory");
    SCB_CSSELR = 0;      /* level 1 data cache */
    __asm__ volatile("dsb" ::: "memory");
    uint32_t ccsidr = SCB_CCSIDR;
    uint32_t sets = ((ccsidr >> 13) & 0x7FFFu) + 1u, ways = ((ccsidr >> 3) & 0x3FFu) + 1u;
    uint32_t set_shift = (ccsidr & 7u) + 4u;                       /* log2(line bytes) */
    uint32_t way_shift = ways > 1u ? (uint32_t)__builtin_clz(ways - 1u) : 0u;
    for (uint32_t s = 0; s < sets; s++)
        for (uint32_t w = 0; w < ways; w++) SCB_DCISW = (s << set_shift) | (w << way_shift);
    __asm__ volatile("dsb" ::: "memory");
    SCB_CCR |= 1u << 16; /* DC */
    __asm__ volatile("dsb\n isb" ::: "memory");
}

uint32_t tiny_port_clock_hz(void) { return tiny_core_hz; }

void tiny_port_init(void) {
    tiny_watchdog_init();   /* first: the reset cause before anything clears it; a hung clock set-up resets */
    tiny_board_clock_init();
    /* SysTick from the core clock, 1 ms period, polled through COUNTFLAG (no interrupt). */
    SYST_CSR = 0;
    SYST_RVR = (tiny_core_hz / 1000u) - 1u;
    SYST_CVR = 0;
    SYST_CSR = 5u; /* ENABLE | CLKSOURCE=core */
#if !TINY_EMULATED
    DEMCR |= 1u << 24;  /* TRCENA */
    DWT_LAR = 0xC5ACCE55u; /* Cortex-M7 locks the DWT until this is written; ignored elsewhere */
    DWT_CYCCNT = 0;
    DWT_CTRL |= 1u;
#endif
    tiny_uart_init();
}

/* 1 if a millisecond boundary passed since the last call (reading CSR clears COUNTFLAG). */
static int ms_tick(void) { return (SYST_CSR >> 16) & 1u; }

int tiny_port_getc(int32_t timeout_ms) {
    int32_t left = timeout_ms;
    (void)ms_tick();
    for (;;) {
        tiny_port_watchdog_feed(); /* the request loop is waiting for bytes: healthy */
        int c = tiny_uart_rx();
        if (c >= 0) return c;
        if (timeout_ms >= 0) {
            if (left <= 0) return -1;
            if (ms_tick()) left--;
        }
    }
}

void tiny_port_write(const uint8_t *buf, uint32_t n) {
    tiny_port_watchdog_feed();
    for (uint32_t i = 0; i < n; i++) tiny_uart_tx(buf[i]);
}

uint32_t tiny_port_cycles(void) {
#if TINY_EMULATED
    return 0; /* QEMU has no DWT; instruction counts come from the TCG plugin */
#else
    return DWT_CYCCNT;
#endif
}

const uint8_t *tiny_port_preload(uint32_t *bytes) {
#ifdef TINY_PRELOAD_ORIGIN
    *bytes = TINY_PRELOAD_BYTES;
    return (const uint8_t *)TINY_PRELOAD_ORIGIN;
#else
    *bytes = 0;
    return 0;
#endif
}

uint32_t tiny_port_stack_used(void) {
    const uint32_t *p = &__stack_limit;
    while (p < &__stack_top && *p == STACK_PAINT) p++;
    return (uint32_t)((uintptr_t)&__stack_top - (uintptr_t)p);
}

__attribute__((unused)) static int semihost(int op, const void *arg) {
    register int r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

void tiny_semihost_write0(const char *s) {
#if TINY_EMULATED
    (void)semihost(0x04, s); /* SYS_WRITE0 */
#else
    (void)s;
#endif
}

void tiny_port_exit(int code) {
    tiny_uart_flush();
#if TINY_EMULATED
    uint32_t block[2] = {0x20026u /* ADP_Stopped_ApplicationExit */, (uint32_t)code};
    (void)semihost(0x20, block); /* SYS_EXIT_EXTENDED: QEMU exits with `code` */
#else
    (void)code;
#endif
    for (;;) {}
}
#endif /* TINY_CORTEXM */
