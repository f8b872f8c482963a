/* STM32 USART, register level (no HAL), from the reference manuals:
 *  - RM0090 (F405/F411, "v1" USART: SR/DR/BRR/CR1), RCC at 0x40023800, GPIO at 0x40020000;
 *  - RM0385 (F746, "v2" USART: CR1/BRR/ISR/ICR/RDR/TDR), same RCC/GPIO layout as the F4;
 *  - RM0433 (H743, "v2" USART), RCC at 0x58024400, GPIO at 0x58020000.
 * The USART kernel clock is its APB clock (the reset default of the kernel clock muxes), which
 * clock.c sets in tiny_uart_clk_hz (the reset HSI if the PLL set-up timed out). QEMU's netduinoplus2 models the USART but not RCC/GPIO,
 * which are skipped on emulated boards. */
#include "../cortexm/cortexm.h"
#if defined(TINY_CORTEXM) && (defined(TINY_UART_STM32_V1) || defined(TINY_UART_STM32_V2))

#if defined(TINY_FAMILY_STM32H7)
#define RCC_BASE 0x58024400u
#define GPIO_BASE 0x58020000u
#define RCC_GPIOEN TINY_REG(RCC_BASE + 0xE0u)  /* AHB4ENR */
#define RCC_APB1EN TINY_REG(RCC_BASE + 0xE8u)  /* APB1LENR */
#define RCC_APB2EN TINY_REG(RCC_BASE + 0xF0u)  /* APB2ENR */
#else
#define RCC_BASE 0x40023800u
#define GPIO_BASE 0x40020000u
#define RCC_GPIOEN TINY_REG(RCC_BASE + 0x30u)  /* AHB1ENR */
#define RCC_APB1EN TINY_REG(RCC_BASE + 0x40u)
#define RCC_APB2EN TINY_REG(RCC_BASE + 0x44u)
#endif
#define GPIO(port, off) TINY_REG(GPIO_BASE + 0x400u * (port) + (off))

#if defined(TINY_UART_STM32_V1)
#define U_SR TINY_REG(TINY_UART_BASE + 0x00u)
#define U_DR TINY_REG(TINY_UART_BASE + 0x04u)
#define U_BRR TINY_REG(TINY_UART_BASE + 0x08u)
#define U_CR1 TINY_REG(TINY_UART_BASE + 0x0Cu)
#define U_ISR U_SR
#define CR1_ENABLE ((1u << 13) | (1u << 3) | (1u << 2)) /* UE | TE | RE */
#else
#define U_CR1 TINY_REG(TINY_UART_BASE + 0x00u)
#define U_BRR TINY_REG(TINY_UART_BASE + 0x0Cu)
#define U_ISR TINY_REG(TINY_UART_BASE + 0x1Cu)
#define U_ICR TINY_REG(TINY_UART_BASE + 0x20u)
#define U_RDR TINY_REG(TINY_UART_BASE + 0x24u)
#define U_TDR TINY_REG(TINY_UART_BASE + 0x28u)
#define CR1_ENABLE ((1u << 0) | (1u << 3) | (1u << 2)) /* UE | TE | RE */
#endif
#define ST_RXNE (1u << 5)
#define ST_TC (1u << 6)
#define ST_TXE (1u << 7)
#define ST_ORE (1u << 3)

#if !TINY_EMULATED
static void pin_af(uint32_t port, uint32_t pin, uint32_t af, int pull_up) {
    RCC_GPIOEN |= 1u << port;
    (void)RCC_GPIOEN; /* read back: the clock must run before the GPIO is written */
    GPIO(port, 0x00u) = (GPIO(port, 0x00u) & ~(3u << (2 * pin))) | (2u << (2 * pin)); /* MODER=AF */
    GPIO(port, 0x08u) |= 2u << (2 * pin);                                             /* speed */
    GPIO(port, 0x0Cu) = (GPIO(port, 0x0Cu) & ~(3u << (2 * pin))) | ((pull_up ? 1u : 0u) << (2 * pin));
    uint32_t afr = pin < 8 ? 0x20u : 0x24u, sh = 4u * (pin & 7u);
    GPIO(port, afr) = (GPIO(port, afr) & ~(0xFu << sh)) | (af << sh);
}

static void usart_clock_on(void) {
    switch (TINY_UART_BASE) {
    case 0x40011000u: RCC_APB2EN |= 1u << 4; break;  /* USART1 */
    case 0x40011400u: RCC_APB2EN |= 1u << 5; break;  /* USART6 */
    case 0x40004400u: RCC_APB1EN |= 1u << 17; break; /* USART2 */
    case 0x40004800u: RCC_APB1EN |= 1u << 18; break; /* USART3 */
    default: break;
    }
    (void)RCC_APB1EN;
    (void)RCC_APB2EN;
}
#endif

void tiny_uart_init(void) {
#if !TINY_EMULATED
    usart_clock_on();
    pin_af(TINY_UART_TX_PORT, TINY_UART_TX_PIN, TINY_UART_AF, 0);
    pin_af(TINY_UART_RX_PORT, TINY_UART_RX_PIN, TINY_UART_AF, 1);
#endif
    U_CR1 = 0;
    U_BRR = (tiny_uart_clk_hz + TINY_UART_BAUD / 2u) / TINY_UART_BAUD; /* oversampling 16 */
    U_CR1 = CR1_ENABLE;
}

int tiny_uart_rx(void) {
    uint32_t st = U_ISR;
#if defined(TINY_UART_STM32_V1)
    if (st & (ST_RXNE | ST_ORE)) { /* reading DR after SR also clears ORE */
        uint32_t d = U_DR;
        if (st & ST_RXNE) return (int)(d & 0xFFu);
    }
#else
    if (st & ST_ORE) U_ICR = ST_ORE;
    if (st & ST_RXNE) return (int)(U_RDR & 0xFFu);
#endif
    return -1;
}

void tiny_uart_tx(uint8_t c) {
    while (!(U_ISR & ST_TXE)) {}
#if defined(TINY_UART_STM32_V1)
    U_DR = c;
#else
    U_TDR = c;
#endif
}

void tiny_uart_flush(void) {
    while (!(U_ISR & ST_TC)) {}
}
#endif
