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

#define TINY_REG(addr) (*(volatile uint32_t *)(uintptr_t)(addr))

#define SCB_VTOR TINY_REG(0xE000ED08u)
#define SCB_CPACR TINY_REG(0xE000ED88u)
#define SYST_CSR TINY_REG(0xE000E010u)
#define SYST_RVR TINY_REG(0xE000E014u)
#define SYST_CVR TINY_REG(0xE000E018u)
#define DEMCR TINY_REG(0xE000EDFCu)
#define DWT_CTRL TINY_REG(0xE0001000u)
#define DWT_CYCCNT TINY_REG(0xE0001004u)
#define DWT_LAR TINY_REG(0xE0001FB0u)

/* Provided by the family's UART driver. */
void tiny_board_clock_init(void);   /* clocks the firmware needs (may do nothing) */
void tiny_uart_init(void);
int tiny_uart_rx(void);             /* one byte, or -1 if none is waiting (never blocks) */
void tiny_uart_tx(uint8_t c);       /* blocks until the byte is accepted */
void tiny_uart_flush(void);         /* blocks until everything is on the wire */

/* Semihosting (QEMU boards): SYS_WRITE0 a string to QEMU's stderr. */
void tiny_semihost_write0(const char *s);
#endif
