/* The firmware watchdog (README "Robustness", docs/protocol.md): a board that stops answering
 * resets itself TINY_WATCHDOG_MS after the last feed, and says so afterwards (INFO reset_cause,
 * watchdog_resets; an unsolicited RESET notice right after the reset).
 *
 * Feeds: tiny_port_getc's wait loop (the request loop is healthy), tiny_port_write, and after every
 * op (runtime/markers.c tiny_layer_end), so a long INVOKE or TRAIN_STEP is never reset while it
 * makes progress: the longest gap between two feeds is one op (one patch op, one backward step).
 *
 * Kinds (tiny_board.h TINY_WATCHDOG_<KIND>, from the board TOML's [watchdog]):
 *  - CMSDK: the CMSDK APB watchdog (ARM DDI0479) of the MPS2 FPGA images (QEMU mps2-an385/386/500
 *    at 0x40008000, mps2-an505's Secure one at 0x50081000). The counter runs down from LOAD at
 *    WDOGCLK; the first expiry raises its interrupt (wired to NMI) and reloads, the second asserts
 *    the reset (QEMU: a system reset). LOAD is the timeout; the NMI handler notes "watchdog" in
 *    .noinit RAM (nothing else tells the causes apart on MPS2) and resets the system at once
 *    (SYSRESETREQ), the second expiry being the fallback.
 *  - STM32_IWDG: the independent watchdog (RM0383 / RM0385 / RM0433): LSI clock, prescaler
 *    /4../256, 12-bit reload; the reset cause from RCC_CSR (F4/F7) or RCC_RSR (H7).
 *  - NRF52_WDT: the nRF52 WDT (32.768 kHz), cause from POWER.RESETREAS.
 * The count of watchdog resets lives in .noinit RAM (linker script), which a system reset keeps. */
#include "cortexm.h"
#ifdef TINY_CORTEXM
#include "tiny/port.h"

#ifndef TINY_WATCHDOG_MS
#define TINY_WATCHDOG_MS 0u
#endif

#define KEEP_MAGIC 0x7D06B007u  /* s_keep is valid: written at the first power-on boot */
#define KEEP_FIRED 0x0DDBA11Eu  /* the watchdog's early-warning NMI ran: the next boot is its reset */

/* Survives a system reset: neither loaded nor zeroed at start-up (.noinit, see link.ld). */
static struct { uint32_t magic, fired, resets; } s_keep __attribute__((section(".noinit"), used));
static const char *s_cause = "power";

#define WD(off) TINY_REG(TINY_WATCHDOG_BASE + (off))

#if TINY_WATCHDOG_MS > 0 && defined(TINY_WATCHDOG_CMSDK)
#define WD_LOAD WD(0x000u)
#define WD_CTRL WD(0x008u)
#define WD_INTCLR WD(0x00Cu)
#define WD_MIS WD(0x014u)
#define WD_LOCK WD(0xC00u)
#define WD_UNLOCK 0x1ACCE551u
#define WD_TICKS ((uint64_t)TINY_WATCHDOG_CLOCK_HZ * TINY_WATCHDOG_MS / 1000u)
#define WD_RELOAD (WD_TICKS > 0xFFFFFFFFu ? 0xFFFFFFFFu : (WD_TICKS ? (uint32_t)WD_TICKS : 1u))
static void wd_start(void) {
    WD_LOCK = WD_UNLOCK;
    WD_LOAD = WD_RELOAD;
    WD_CTRL = 3u;   /* INTEN (counter on) | RESEN */
    WD_LOCK = 0;    /* any other value locks the registers against stray writes */
}
/* Writing LOAD reloads the counter (TRM; so does INTCLR on hardware, but QEMU 7.2's INTCLR only
 * clears the interrupt). */
void tiny_port_watchdog_feed(void) {
    WD_LOCK = WD_UNLOCK;
    WD_LOAD = WD_RELOAD;
    WD_LOCK = 0;
}
/* NMI: the watchdog's first expiry, TINY_WATCHDOG_MS after the last feed. Note it for the next boot
 * and reset the system now (SYSRESETREQ); should that not happen, the second expiry resets. */
void tiny_nmi_handler(void) {
    if (WD_MIS & 1u) {
        s_keep.fired = KEEP_FIRED;
        __asm__ volatile("dsb" ::: "memory");
        SCB_AIRCR = 0x05FA0004u; /* VECTKEY | SYSRESETREQ */
        __asm__ volatile("dsb" ::: "memory");
        for (;;) __asm__ volatile("" ::: "memory");
    }
    tiny_fault();
}
static const char *wd_cause(void) {
    if (s_keep.fired == KEEP_FIRED) return "watchdog";
    return "reset";
}
static void wd_clear_cause(void) {}

#elif TINY_WATCHDOG_MS > 0 && defined(TINY_WATCHDOG_STM32_IWDG)
#define IWDG_KR WD(0x00u)
#define IWDG_PR WD(0x04u)
#define IWDG_RLR WD(0x08u)
#define IWDG_SR WD(0x0Cu)
#if defined(TINY_FAMILY_STM32H7)
#define RCC_RESET_FLAGS TINY_REG(0x580244D0u) /* RCC_RSR */
#define RF_RMVF (1u << 16)
#define RF_IWDG (1u << 26)
#define RF_WWDG (1u << 28)
#define RF_POR ((1u << 23) | (1u << 21)) /* POR, BOR */
#define RF_PIN (1u << 22)
#define RF_SFT (1u << 24)
#else
#define RCC_RESET_FLAGS TINY_REG(0x40023874u) /* RCC_CSR (F4, F7) */
#define RF_RMVF (1u << 24)
#define RF_IWDG (1u << 29)
#define RF_WWDG (1u << 30)
#define RF_POR ((1u << 27) | (1u << 25)) /* POR/PDR, BOR */
#define RF_PIN (1u << 26)
#define RF_SFT (1u << 28)
#endif
static void wd_start(void) {
    /* ticks of the LSI in the timeout; the smallest prescaler (/4 << pr) whose reload fits 12 bits */
    uint32_t ticks = (uint32_t)((uint64_t)TINY_WATCHDOG_CLOCK_HZ * TINY_WATCHDOG_MS / 1000u);
    uint32_t pr = 0;
    while (pr < 6u && ticks / (4u << pr) > 0x1000u) pr++;
    uint32_t rl = ticks / (4u << pr);
    rl = rl == 0 ? 0 : rl - 1u;
    if (rl > 0xFFFu) rl = 0xFFFu;
    IWDG_KR = 0xCCCCu; /* start (also starts the LSI) */
    IWDG_KR = 0x5555u; /* unlock PR / RLR */
    IWDG_PR = pr;
    IWDG_RLR = rl;
    for (uint32_t n = 0; (IWDG_SR & 3u) && n < TINY_CLOCK_TIMEOUT; n++) {}
    IWDG_KR = 0xAAAAu; /* reload */
}
void tiny_port_watchdog_feed(void) { IWDG_KR = 0xAAAAu; }
void tiny_nmi_handler(void) { tiny_fault(); }
static const char *wd_cause(void) {
    uint32_t f = RCC_RESET_FLAGS;
    if (f & (RF_IWDG | RF_WWDG)) return "watchdog";
    if (f & RF_POR) return "power";
    if (f & RF_SFT) return "software";
    if (f & RF_PIN) return "pin";
    return "reset";
}
static void wd_clear_cause(void) { RCC_RESET_FLAGS |= RF_RMVF; }

#elif TINY_WATCHDOG_MS > 0 && defined(TINY_WATCHDOG_NRF52_WDT)
#define WDT_START WD(0x000u)
#define WDT_CRV WD(0x504u)
#define WDT_RREN WD(0x508u)
#define WDT_CONFIG WD(0x50Cu)
#define WDT_RR0 WD(0x600u)
#define RESETREAS TINY_REG(0x40000400u)
static void wd_start(void) {
    uint64_t ticks = (uint64_t)TINY_WATCHDOG_CLOCK_HZ * TINY_WATCHDOG_MS / 1000u;
    WDT_CRV = ticks < 16u ? 15u : (uint32_t)(ticks - 1u);
    WDT_RREN = 1u;   /* RR[0] only */
    WDT_CONFIG = 1u; /* keep counting while the CPU sleeps, pause while halted by a debugger */
    WDT_START = 1u;
}
void tiny_port_watchdog_feed(void) { WDT_RR0 = 0x6E524635u; }
void tiny_nmi_handler(void) { tiny_fault(); }
static const char *wd_cause(void) {
    uint32_t r = RESETREAS;
    if (r & (1u << 1)) return "watchdog";
    if (r & (1u << 0)) return "pin";
    if (r & (1u << 2)) return "software";
    if (r == 0) return "power";
    return "reset";
}
static void wd_clear_cause(void) { RESETREAS = 0xFFFFFFFFu; } /* write 1 to clear */

#else /* no watchdog on this board (or TINY_WATCHDOG_MS 0) */
static void wd_start(void) {}
void tiny_port_watchdog_feed(void) {}
void tiny_nmi_handler(void) { tiny_fault(); }
static const char *wd_cause(void) { return "reset"; }
static void wd_clear_cause(void) {}
#endif

uint32_t tiny_port_watchdog_ms(void) { return TINY_WATCHDOG_MS; }
uint32_t tiny_port_watchdog_resets(void) { return s_keep.resets; }
const char *tiny_port_reset_cause(void) { return s_cause; }

void tiny_watchdog_init(void) {
    const char *cause = wd_cause();
    wd_clear_cause();
    if (s_keep.magic != KEEP_MAGIC || cause[0] == 'p') {
        /* power-on (RAM not ours yet): start the record; a watchdog cause the board itself reports
         * (RCC / RESETREAS) with RAM lost still counts */
        if (cause[0] != 'w') cause = "power";
        s_keep.magic = KEEP_MAGIC;
        s_keep.resets = 0;
    }
    if (cause[0] == 'w') s_keep.resets++;
    s_keep.fired = 0;
    s_cause = cause;
    wd_start();
}
#endif /* TINY_CORTEXM */
