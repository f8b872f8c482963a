/* What a board (or the host) provides to the runtime: a byte stream and a clock. */
#ifndef TINY_PORT_H
#define TINY_PORT_H
#include <stdint.h>

void tiny_port_init(void);
/* Read one byte; return -1 if none arrived within timeout_ms (0 = poll, <0 = forever). */
int tiny_port_getc(int32_t timeout_ms);
void tiny_port_write(const uint8_t *buf, uint32_t n);
/* A free-running counter: DWT CYCCNT on real boards, 0 where none exists (QEMU, host). */
uint32_t tiny_port_cycles(void);
/* The core clock the firmware runs at (after the board's PLL set-up, or its reset clock when
 * that timed out); 0 where unknown (host). */
uint32_t tiny_port_clock_hz(void);
/* Bytes of stack ever used (stack painting); 0 where not measured (host). */
uint32_t tiny_port_stack_used(void);
/* RAM the host filled before the firmware started (QEMU's loader device): inputs too large for
 * the UART. Returns NULL and *bytes = 0 where there is none (host, real boards). */
const uint8_t *tiny_port_preload(uint32_t *bytes);
/* Stop: exit the host process / QEMU (semihosting) / spin on a real board. */
void tiny_port_exit(int code);
/* The watchdog (README "Robustness"): started by tiny_port_init where the board has one, fed while
 * the request loop waits for bytes and after every op (runtime/markers.c), so a board that stops
 * answering resets itself TINY_WATCHDOG_MS after the last feed. No-ops / 0 where there is none
 * (host, qemu-f405). */
void tiny_port_watchdog_feed(void);
uint32_t tiny_port_watchdog_ms(void);
/* Watchdog resets since power-on (kept in RAM that survives a reset). */
uint32_t tiny_port_watchdog_resets(void);
/* Why the board last started: "power", "watchdog", "pin", "software" or "reset" (another reset,
 * RAM kept). */
const char *tiny_port_reset_cause(void);
/* Board name, as in boards/<name>.toml. */
extern const char *const tiny_port_board;
#endif
