/* ARM CMSDK APB UART (MPS2 FPGA images: AN385/AN386/AN500/AN505). Registers from the Cortex-M
 * System Design Kit TRM: DATA, STATE (bit0 TX full, bit1 RX full), CTRL (bit0 TX en, bit1 RX en),
 * BAUDDIV (>= 16; QEMU refuses to receive below that). */
#include "../cortexm/cortexm.h"
#if defined(TINY_CORTEXM) && defined(TINY_UART_CMSDK)

#define U_DATA TINY_REG(TINY_UART_BASE + 0x00u)
#define U_STATE TINY_REG(TINY_UART_BASE + 0x04u)
#define U_CTRL TINY_REG(TINY_UART_BASE + 0x08u)
#define U_BAUDDIV TINY_REG(TINY_UART_BASE + 0x10u)

void tiny_board_clock_init(void) {} /* QEMU: the modelled clock, no PLL */

void tiny_uart_init(void) {
    U_BAUDDIV = TINY_CLOCK_HZ / TINY_UART_BAUD;
    U_CTRL = 3u;
}

int tiny_uart_rx(void) {
    if (U_STATE & 2u) return (int)(U_DATA & 0xFFu);
    return -1;
}

void tiny_uart_tx(uint8_t c) {
    while (U_STATE & 1u) {}
    U_DATA = c;
}

void tiny_uart_flush(void) {
    while (U_STATE & 1u) {}
}
#endif
