/* STM32 full-speed clock, register level, in the order the reference manuals give:
 *  - F4 (RM0383 F411 §6.3, RM0090): regulator scale (PWR_CR.VOS, only while the PLL is off),
 *    PLL from HSI, wait PLLRDY, flash wait states (+ prefetch, I/D caches) *before* the faster
 *    clock, bus prescalers, switch SW to the PLL, wait SWS.
 *  - F7 (RM0385 §4.1.4 "Entering Over-drive mode", §3.3.2, §5.3): scale 1, PLL on and locked,
 *    ODEN -> ODRDY, ODSWEN -> ODSWRDY, flash latency (+ ART, prefetch), prescalers, switch;
 *    then the Cortex-M7 I/D caches.
 *  - H7 (RM0433 §6.8.4 supply / voltage scaling, §8.5 RCC, §4.3.8 flash latency): LDO supply
 *    (PWR_CR3, once after reset) -> ACTVOSRDY, VOS1 -> VOSRDY, then (revision V only) SYSCFG over-drive
 *    for VOS0 -> VOSRDY, PLL1 from HSI (DIVM1, range, DIVN1/DIVP1), PLL1RDY, flash latency +
 *    WRHIGHFREQ, D1/D2/D3 prescalers, switch, caches.
 * Every wait is bounded by TINY_CLOCK_TIMEOUT polls: a step that never becomes ready (no PLL
 * lock, a regulator that does not settle, an emulator without an RCC model such as QEMU's
 * netduinoplus2) undoes what was started and leaves the board on its reset clock (HSI), which the
 * UART divisor and SysTick then use. Emulated boards keep their modelled clock (no RCC access). */
#include "../cortexm/cortexm.h"
#if defined(TINY_CORTEXM) && (defined(TINY_FAMILY_STM32F4) || defined(TINY_FAMILY_STM32F7) || \
                              defined(TINY_FAMILY_STM32H7))

#if !TINY_CLOCK_PLL
void tiny_board_clock_init(void) {
#if TINY_CLOCK_CACHES && (defined(TINY_FAMILY_STM32H7) || defined(TINY_FAMILY_STM32F7))
    tiny_cm7_caches_on();
#endif
}
#else

/* Poll until (reg & mask) == want, at most TINY_CLOCK_TIMEOUT times. 1 when it got there. */
static int wait_bits(volatile uint32_t *reg, uint32_t mask, uint32_t want) {
    for (uint32_t i = 0; i < TINY_CLOCK_TIMEOUT; i++)
        if ((*reg & mask) == want) return 1;
    return 0;
}
#define WAIT(reg, mask, want) wait_bits(&(reg), (mask), (want))

/* AHB prescaler field (HPRE / D1CPRE): 0 = /1, 8 = /2, 9 = /4, ... 15 = /512 (no /32). */
static uint32_t hpre_bits(uint32_t div) {
    static const uint16_t d[8] = {2, 4, 8, 16, 64, 128, 256, 512};
    for (uint32_t i = 0; i < 8; i++)
        if (d[i] == div) return 8u + i;
    return 0;
}
/* APB prescaler field (PPREx / DxPPRE): 0 = /1, 4 = /2, 5 = /4, 6 = /8, 7 = /16. */
static uint32_t ppre_bits(uint32_t div) {
    switch (div) {
    case 2: return 4u;
    case 4: return 5u;
    case 8: return 6u;
    case 16: return 7u;
    default: return 0u;
    }
}
static uint32_t uart_clock(uint32_t hclk) {
    return hclk / (TINY_UART_APB == 2u ? TINY_APB2_DIV : TINY_APB1_DIV);
}

#if defined(TINY_FAMILY_STM32F4) || defined(TINY_FAMILY_STM32F7)
#define RCC_BASE 0x40023800u
#define RCC_CR TINY_REG(RCC_BASE + 0x00u)
#define RCC_PLLCFGR TINY_REG(RCC_BASE + 0x04u)
#define RCC_CFGR TINY_REG(RCC_BASE + 0x08u)
#define RCC_APB1ENR TINY_REG(RCC_BASE + 0x40u)
#define PWR_CR TINY_REG(0x40007000u)   /* F7: PWR_CR1 */
#define PWR_CSR TINY_REG(0x40007004u)  /* F7: PWR_CSR1 */
#define FLASH_ACR TINY_REG(0x40023C00u)
#define CR_HSIRDY (1u << 1)
#define CR_PLLON (1u << 24)
#define CR_PLLRDY (1u << 25)

static void back_to_hsi(void) {
    RCC_CFGR &= ~3u;                      /* SW = HSI */
    (void)WAIT(RCC_CFGR, 3u << 2, 0u);
    RCC_CR &= ~CR_PLLON;
#if defined(TINY_FAMILY_STM32F7)
    PWR_CR &= ~((1u << 17) | (1u << 16)); /* ODSWEN, ODEN */
#endif
}

void tiny_board_clock_init(void) {
    if (!WAIT(RCC_CR, CR_HSIRDY, CR_HSIRDY)) return;   /* HSI is the PLL input */
    RCC_APB1ENR |= 1u << 28;                           /* PWREN */
    (void)RCC_APB1ENR;
    /* VOS (bits 15:14): 3 = scale 1; writable only while the PLL is off (it is, after reset). */
    PWR_CR = (PWR_CR & ~(3u << 14)) | ((TINY_VOS == 1u ? 3u : TINY_VOS == 2u ? 2u : 1u) << 14);
    RCC_CR &= ~CR_PLLON;
    if (!WAIT(RCC_CR, CR_PLLRDY, 0u)) return;
    /* PLLM 5:0, PLLN 14:6, PLLP 17:16 (0 = /2), PLLSRC 22 (0 = HSI), PLLQ 27:24; reserved bits
     * keep their reset values. */
    RCC_PLLCFGR = (RCC_PLLCFGR & ~(0x3Fu | (0x1FFu << 6) | (3u << 16) | (1u << 22) | (0xFu << 24))) |
                  (TINY_PLL_M << 0) | (TINY_PLL_N << 6) | (((TINY_PLL_P / 2u) - 1u) << 16) |
                  (TINY_PLL_Q << 24);
    RCC_CR |= CR_PLLON;
    if (!WAIT(RCC_CR, CR_PLLRDY, CR_PLLRDY)) { RCC_CR &= ~CR_PLLON; return; }
#if defined(TINY_FAMILY_STM32F7)
    if (!WAIT(PWR_CSR, 1u << 14, 1u << 14)) { back_to_hsi(); return; }  /* VOSRDY */
#if TINY_OVERDRIVE
    PWR_CR |= 1u << 16;                                                   /* ODEN */
    if (!WAIT(PWR_CSR, 1u << 16, 1u << 16)) { back_to_hsi(); return; }  /* ODRDY */
    PWR_CR |= 1u << 17;                                                   /* ODSWEN */
    if (!WAIT(PWR_CSR, 1u << 17, 1u << 17)) { back_to_hsi(); return; }  /* ODSWRDY */
#endif
    /* LATENCY, PRFTEN (bit 8), ARTEN (bit 9). */
    uint32_t acr = TINY_FLASH_WS | (TINY_CLOCK_CACHES ? (1u << 8) | (1u << 9) : 0u);
#else
    if (!WAIT(PWR_CSR, 1u << 14, 1u << 14)) { back_to_hsi(); return; }  /* VOSRDY */
    /* LATENCY, PRFTEN (bit 8), ICEN (bit 9), DCEN (bit 10). */
    uint32_t acr = TINY_FLASH_WS | (TINY_CLOCK_CACHES ? (1u << 8) | (1u << 9) | (1u << 10) : 0u);
#endif
    FLASH_ACR = acr;
    if ((FLASH_ACR & 0xFu) != TINY_FLASH_WS) { back_to_hsi(); return; }   /* must read back */
    RCC_CFGR = (RCC_CFGR & ~((0xFu << 4) | (7u << 10) | (7u << 13))) |
               (hpre_bits(TINY_AHB_DIV) << 4) | (ppre_bits(TINY_APB1_DIV) << 10) |
               (ppre_bits(TINY_APB2_DIV) << 13);
    RCC_CFGR = (RCC_CFGR & ~3u) | 2u;                                     /* SW = PLL */
    if (!WAIT(RCC_CFGR, 3u << 2, 2u << 2)) {
        back_to_hsi();
        RCC_CFGR &= ~((0xFu << 4) | (7u << 10) | (7u << 13));
        return;
    }
    uint32_t hclk = TINY_CLOCK_SRC_HZ / TINY_PLL_M * TINY_PLL_N / TINY_PLL_P / TINY_AHB_DIV;
    tiny_core_hz = hclk;
    tiny_uart_clk_hz = uart_clock(hclk);
#if defined(TINY_FAMILY_STM32F7) && TINY_CLOCK_CACHES
    tiny_cm7_caches_on();
#endif
}

#else /* STM32H7 */
#define RCC_BASE 0x58024400u
#define RCC_CR TINY_REG(RCC_BASE + 0x00u)
#define RCC_CFGR TINY_REG(RCC_BASE + 0x10u)
#define RCC_D1CFGR TINY_REG(RCC_BASE + 0x18u)
#define RCC_D2CFGR TINY_REG(RCC_BASE + 0x1Cu)
#define RCC_D3CFGR TINY_REG(RCC_BASE + 0x20u)
#define RCC_PLLCKSELR TINY_REG(RCC_BASE + 0x28u)
#define RCC_PLLCFGR TINY_REG(RCC_BASE + 0x2Cu)
#define RCC_PLL1DIVR TINY_REG(RCC_BASE + 0x30u)
#define RCC_APB4ENR TINY_REG(RCC_BASE + 0xF4u)
#define PWR_CSR1 TINY_REG(0x58024804u)
#define PWR_CR3 TINY_REG(0x5802480Cu)
#define PWR_D3CR TINY_REG(0x58024818u)
#define SYSCFG_PWRCR TINY_REG(0x5800042Cu)
#define FLASH_ACR TINY_REG(0x52002000u)
#define DBGMCU_IDC TINY_REG(0x5C001000u)
#define CR_HSIRDY (1u << 2)
#define CR_PLL1ON (1u << 24)
#define CR_PLL1RDY (1u << 25)
#define D3CR_VOSRDY (1u << 13)
#define REV_V 0x2003u

static void back_to_hsi(void) {
    RCC_CFGR &= ~7u;
    (void)WAIT(RCC_CFGR, 7u << 3, 0u);
    RCC_CR &= ~CR_PLL1ON;
    RCC_D1CFGR = 0;
    RCC_D2CFGR = 0;
    RCC_D3CFGR = 0;
}

void tiny_board_clock_init(void) {
    if (!WAIT(RCC_CR, CR_HSIRDY, CR_HSIRDY)) return;
    /* Supply: LDO (the Nucleo-H743ZI's wiring). Writable once after reset while SCUEN is set. */
    if (PWR_CR3 & (1u << 2))
        PWR_CR3 = (PWR_CR3 & ~((1u << 2) | (1u << 1) | (1u << 0))) | (1u << 1);
    if (!WAIT(PWR_CSR1, 1u << 13, 1u << 13)) return;                     /* ACTVOSRDY */
    int rev_v = (DBGMCU_IDC >> 16) == REV_V;                             /* VOS0 needs rev V */
    PWR_D3CR = (PWR_D3CR & ~(3u << 14)) | (3u << 14);                     /* VOS1 */
    if (!WAIT(PWR_D3CR, D3CR_VOSRDY, D3CR_VOSRDY)) return;
    uint32_t n = TINY_PLL_N;
    if (TINY_VOS == 0u && rev_v) {
        RCC_APB4ENR |= 1u << 1;                                          /* SYSCFGEN */
        (void)RCC_APB4ENR;
        SYSCFG_PWRCR |= 1u;                                              /* ODEN: VOS0 */
        if (!WAIT(PWR_D3CR, D3CR_VOSRDY, D3CR_VOSRDY)) return;
    } else if (TINY_VOS == 0u) {
        n = TINY_PLL_N_REV_Y;                                            /* rev Y: 400 MHz at VOS1 */
    }
    RCC_CR &= ~CR_PLL1ON;
    if (!WAIT(RCC_CR, CR_PLL1RDY, 0u)) return;
    /* PLLSRC = HSI (0), DIVM1 (bits 9:4). */
    RCC_PLLCKSELR = (RCC_PLLCKSELR & ~((0x3Fu << 4) | 3u)) | (TINY_PLL_M << 4);
    uint32_t ref = TINY_CLOCK_SRC_HZ / TINY_PLL_M;
    uint32_t rge = ref > 8000000u ? 3u : ref > 4000000u ? 2u : ref > 2000000u ? 1u : 0u;
    /* PLL1 wide VCO (VCOSEL 0), input range, integer mode; P, Q, R outputs enabled. */
    RCC_PLLCFGR = (RCC_PLLCFGR & ~0xFu & ~(7u << 16)) | (rge << 2) | (7u << 16);
    RCC_PLL1DIVR = (n - 1u) | ((TINY_PLL_P - 1u) << 9) | ((TINY_PLL_Q - 1u) << 16) | (1u << 24);
    RCC_CR |= CR_PLL1ON;
    if (!WAIT(RCC_CR, CR_PLL1RDY, CR_PLL1RDY)) { RCC_CR &= ~CR_PLL1ON; return; }
    /* LATENCY (3:0) and WRHIGHFREQ (5:4) for the AXI clock, before it gets faster. */
    FLASH_ACR = (FLASH_ACR & ~0x3Fu) | TINY_FLASH_WS | (2u << 4);
    if ((FLASH_ACR & 0xFu) != TINY_FLASH_WS) { back_to_hsi(); return; }
    RCC_D1CFGR = (hpre_bits(TINY_AHB_DIV) << 0) | (ppre_bits(TINY_APB1_DIV) << 4);  /* HPRE, D1PPRE; D1CPRE /1 */
    RCC_D2CFGR = (ppre_bits(TINY_APB1_DIV) << 4) | (ppre_bits(TINY_APB2_DIV) << 8); /* D2PPRE1, D2PPRE2 */
    RCC_D3CFGR = ppre_bits(TINY_APB1_DIV) << 4;                                     /* D3PPRE */
    RCC_CFGR = (RCC_CFGR & ~7u) | 3u;                                     /* SW = PLL1 */
    if (!WAIT(RCC_CFGR, 7u << 3, 3u << 3)) { back_to_hsi(); return; }
    uint32_t sysclk = TINY_CLOCK_SRC_HZ / TINY_PLL_M * n / TINY_PLL_P;
    tiny_core_hz = sysclk;                              /* the core runs at sys_ck (D1CPRE /1) */
    tiny_uart_clk_hz = uart_clock(sysclk / TINY_AHB_DIV);
#if TINY_CLOCK_CACHES
    tiny_cm7_caches_on();
#endif
}
#endif
#endif /* TINY_CLOCK_PLL */
#endif
