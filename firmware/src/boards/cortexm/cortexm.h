/* Cortex-M system registers and the interface between the common Cortex-M layer (startup, SysTick
 * millisecond ticks, DWT, semihosting, stack painting) and one UART driver per board family.
 * Board specifics come from the generated tiny_board.h (see codegen/tiny_board.h.j2). */
#ifndef TINY_CORTEXM_H
#define TINY_CORTEXM_H
#include <stdint.h>
#if defined(__has_include)
#if __has_include("tiny_board.h")
#include "tiny_board.h"
#endif
#endif

#ifndef TINY_REG  /* tests redirect register accesses to a model of the peripherals */
#define TINY_REG(addr) (*(volatile uint32_t *)(uintptr_t)(addr))
#endif

#define SCB_VTOR TINY_REG(0xE000ED08u)
#define SCB_CPACR TINY_REG(0xE000ED88u)
#define SYST_CSR TINY_REG(0xE000E010u)
#define SYST_RVR TINY_REG(0xE000E014u)
#define SYST_CVR TINY_REG(0xE000E018u)
#define DEMCR TINY_REG(0xE000EDFCu)
#define DWT_CTRL TINY_REG(0xE0001000u)
#define DWT_CYCCNT TINY_REG(0xE0001004u)
#define DWT_LAR TINY_REG(0xE0001FB0u)

#define SCB_AIRCR TINY_REG(0xE000ED0Cu)
#define SCB_CCR TINY_REG(0xE000ED14u)
#define SCB_CCSIDR TINY_REG(0xE000ED80u)
#define SCB_CSSELR TINY_REG(0xE000ED84u)
#define SCB_ICIALLU TINY_REG(0xE000EF50u)
#define SCB_DCISW TINY_REG(0xE000EF60u)

/* The clocks the firmware really runs at, set by tiny_board_clock_init() (the reset clock until
 * then, and for good when a PLL step times out): SysTick, DWT -> ms, and the UART divisor use them. */
extern uint32_t tiny_core_hz;
extern uint32_t tiny_uart_clk_hz;

/* Provided by the family's clock / UART drivers. */
void tiny_board_clock_init(void);   /* full speed where the board TOML says how (may do nothing) */
void tiny_cm7_caches_on(void);      /* Cortex-M7 L1 instruction + data caches */
void tiny_uart_init(void);
int tiny_uart_rx(void);             /* one byte, or -1 if none is waiting (never blocks) */
void tiny_uart_tx(uint8_t c);       /* blocks until the byte is accepted */
void tiny_uart_flush(void);         /* blocks until everything is on the wire */

/* The watchdog (watchdog.c): read the reset cause and start it (tiny_port_init); its NMI entry. */
void tiny_watchdog_init(void);
void tiny_nmi_handler(void);
/* A fault: "tiny: hard fault" and exit on QEMU, spin on a real board (until its watchdog resets it). */
void tiny_fault(void);

/* Semihosting (QEMU boards): SYS_WRITE0 a string to QEMU's stderr. */
void tiny_semihost_write0(const char *s);
#endif
