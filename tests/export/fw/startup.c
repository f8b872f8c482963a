/* Minimal Cortex-M start-up for a caller's firmware that links an exported model (tests only,
 * hand-written, independent of tiny's own board layer): vector table, reset handler that copies
 * .data, zeroes .bss and enables the FPU, then calls main(); semihosting for output and exit. */
#include <stdint.h>

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _estack;
int main(void);
void app_reset(void);
void app_fault(void);

__attribute__((section(".vectors"), used)) const void *const app_vectors[16] = {
    &_estack, (const void *)app_reset, (const void *)app_fault, (const void *)app_fault,
    (const void *)app_fault, (const void *)app_fault, (const void *)app_fault, 0, 0, 0, 0,
    (const void *)app_fault, (const void *)app_fault, 0, (const void *)app_fault, (const void *)app_fault,
};

static int semihost(int op, const void *arg) {
    register int r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

void app_puts(const char *s) { semihost(0x04, s); }        /* SYS_WRITE0 */

void app_exit(int code) {
    uint32_t args[2] = {0x20026u, (uint32_t)code};           /* ADP_Stopped_ApplicationExit */
    semihost(0x20, args);                                      /* SYS_EXIT_EXTENDED */
    for (;;) {
    }
}

void app_fault(void) {
    app_puts("FAULT\n");
    app_exit(99);
}

void app_reset(void) {
    uint32_t *src = &_sidata, *dst = &_sdata;
    while (dst < &_edata) *dst++ = *src++;
    for (dst = &_sbss; dst < &_ebss; dst++) *dst = 0;
#if defined(__ARM_FP)
    *(volatile uint32_t *)0xE000ED88u |= (0xFu << 20);      /* CPACR: CP10/CP11 full access */
    __asm__ volatile("dsb\n isb");
#endif
    app_exit(main());
}
