/* The `host` board: the firmware as a process on this machine, protocol bytes on stdin/stdout.
 * No clock (cycles 0) and no stack painting (stack_used 0), like QEMU. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include "tiny/port.h"

const char *const tiny_port_board = "host";

/* Read in chunks: one syscall per frame instead of one per byte. */
static unsigned char s_in[4096];
static size_t s_head, s_tail;

void tiny_port_init(void) {
    /* If the host side goes away mid-reply, die quietly instead of spinning on EPIPE. */
    signal(SIGPIPE, SIG_DFL);
}

int tiny_port_getc(int32_t timeout_ms) {
    if (s_head < s_tail) return s_in[s_head++];
    struct pollfd p;
    p.fd = STDIN_FILENO;
    p.events = POLLIN;
    p.revents = 0;
    int r = poll(&p, 1, timeout_ms < 0 ? -1 : (int)timeout_ms);
    if (r < 0) {
        if (errno == EINTR) return -1;
        exit(2);
    }
    if (r == 0) return -1;
    ssize_t n = read(STDIN_FILENO, s_in, sizeof s_in);
    if (n == 0) exit(0); /* the host closed the pipe: no more requests can come */
    if (n < 0) {
        if (errno == EINTR || errno == EAGAIN) return -1;
        exit(2);
    }
    s_head = 1;
    s_tail = (size_t)n;
    return s_in[0];
}

void tiny_port_write(const uint8_t *buf, uint32_t n) {
    while (n) {
        ssize_t w = write(STDOUT_FILENO, buf, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            exit(3);
        }
        buf += w;
        n -= (uint32_t)w;
    }
}

uint32_t tiny_port_cycles(void) { return 0; }
uint32_t tiny_port_clock_hz(void) { return 0; }
uint32_t tiny_port_stack_used(void) { return 0; }
const uint8_t *tiny_port_preload(uint32_t *bytes) { *bytes = 0; return 0; }
void tiny_port_exit(int code) { exit(code); }
/* No watchdog on the host: a hung process is the host side's to kill. */
void tiny_port_watchdog_feed(void) {}
uint32_t tiny_port_watchdog_ms(void) { return 0; }
uint32_t tiny_port_watchdog_resets(void) { return 0; }
const char *tiny_port_reset_cause(void) { return "power"; }
