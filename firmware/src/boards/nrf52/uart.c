/* nRF52840 UART0 in its non-DMA UART mode (nRF52840 Product Specification, UART chapter; the
 * instance at 0x40002000 is UARTE0/UART0). The EasyDMA UARTE loses bytes between RX buffers
 * unless interrupts re-arm it; the legacy UART's RXD register and 6-byte FIFO suit a polled
 * protocol loop. */
#include "../cortexm/cortexm.h"
#if defined(TINY_CORTEXM) && defined(TINY_UART_NRF52)

#define CLOCK_BASE 0x40000000u
#define HFCLKSTART TINY_REG(CLOCK_BASE + 0x000u)
#define HFCLKSTARTED TINY_REG(CLOCK_BASE + 0x100u)
#define GPIO_PORT(port) (0x50000000u + 0x300u * (port))
#define U(off) TINY_REG(TINY_UART_BASE + (off))
#define STARTRX 0x000u
#define STARTTX 0x008u
#define RXDRDY 0x108u
#define TXDRDY 0x11Cu
#define ERRORSRC 0x480u
#define ENABLE 0x500u
#define PSEL_RTS 0x508u
#define PSEL_TXD 0x50Cu
#define PSEL_CTS 0x510u
#define PSEL_RXD 0x514u
#define RXD 0x518u
#define TXD 0x51Cu
#define BAUDRATE 0x524u
#define CONFIG 0x56Cu

static uint32_t tx_pending;

/* The CPU runs at 64 MHz from reset; start HFXO (nRF52840 PS, CLOCK: HFCLKSTART, wait for
 * HFCLKSTARTED) so the UART's 16 MHz reference is crystal-accurate. Without a crystal the event
 * never comes: stop waiting after TINY_CLOCK_TIMEOUT polls and run on HFINT. The NVMC
 * instruction cache (ICACHECNF.CACHEEN) takes wait states off flash fetches. */
void tiny_board_clock_init(void) {
#if !TINY_EMULATED
    HFCLKSTARTED = 0;
    HFCLKSTART = 1;
    for (uint32_t i = 0; i < TINY_CLOCK_TIMEOUT && !HFCLKSTARTED; i++) {}
#if TINY_CLOCK_CACHES
    TINY_REG(0x4001E540u) |= 1u; /* NVMC ICACHECNF.CACHEEN */
#endif
#endif
    tiny_core_hz = 64000000u;
    tiny_uart_clk_hz = 16000000u;
}

/* BAUDRATE = baud * 2^32 / 16 MHz, rounded to the register's 4096 steps (reproduces the PS table:
 * 115200 -> 0x01D7E000, 9600 -> 0x00275000, 1000000 -> 0x10000000). */
#define NRF_BAUDRATE ((uint32_t)((((uint64_t)TINY_UART_BAUD << 32) / 16000000u + 0x800u) & ~0xFFFull))

void tiny_uart_init(void) {
    /* TX: output, idle high. RX: input with pull-up (PS table "GPIO configuration"). */
    TINY_REG(GPIO_PORT(TINY_UART_TX_PORT) + 0x508u) = 1u << TINY_UART_TX_PIN; /* OUTSET */
    TINY_REG(GPIO_PORT(TINY_UART_TX_PORT) + 0x518u) = 1u << TINY_UART_TX_PIN; /* DIRSET */
    TINY_REG(GPIO_PORT(TINY_UART_RX_PORT) + 0x700u + 4u * TINY_UART_RX_PIN) = 3u << 2; /* PIN_CNF */
    U(PSEL_TXD) = (TINY_UART_TX_PORT << 5) | TINY_UART_TX_PIN;
    U(PSEL_RXD) = (TINY_UART_RX_PORT << 5) | TINY_UART_RX_PIN;
    U(PSEL_RTS) = 0xFFFFFFFFu;
    U(PSEL_CTS) = 0xFFFFFFFFu;
    U(BAUDRATE) = NRF_BAUDRATE;
    U(CONFIG) = 0;
    U(ENABLE) = 4u;
    U(RXDRDY) = 0;
    U(TXDRDY) = 0;
    U(STARTRX) = 1;
    U(STARTTX) = 1;
    tx_pending = 0;
}

int tiny_uart_rx(void) {
    if (U(ERRORSRC)) U(ERRORSRC) = U(ERRORSRC); /* write-1-to-clear overrun/framing errors */
    if (!U(RXDRDY)) return -1;
    U(RXDRDY) = 0; /* clear before reading RXD: the next FIFO byte raises the event again */
    return (int)(U(RXD) & 0xFFu);
}

void tiny_uart_tx(uint8_t c) {
    tiny_uart_flush();
    U(TXDRDY) = 0;
    U(TXD) = c;
    tx_pending = 1;
}

void tiny_uart_flush(void) {
    if (tx_pending) {
        while (!U(TXDRDY)) {}
        tx_pending = 0;
    }
}
#endif
