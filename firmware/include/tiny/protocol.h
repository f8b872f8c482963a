/* tiny device protocol v1 (docs/protocol.md): COBS framing, CRC-32, the request loop.
 * Portable C99, no malloc; all buffers are static and sized by TINY_PROTO_MAX_BODY. */
#ifndef TINY_PROTOCOL_H
#define TINY_PROTOCOL_H
#include <stdint.h>

#define TINY_PROTO_VERSION 1u

/* Largest request or reply body. Boards with little SRAM may lower it (-DTINY_PROTO_MAX_BODY=256);
 * the host learns the value from INFO (max_body). */
#ifndef TINY_PROTO_MAX_BODY
#define TINY_PROTO_MAX_BODY 1024u
#endif

/* A frame that stops arriving mid-way is dropped after this many ms without a byte. */
#ifndef TINY_PROTO_BYTE_TIMEOUT_MS
#define TINY_PROTO_BYTE_TIMEOUT_MS 1000
#endif

#define TINY_PROTO_REQ_HEADER 4u   /* version, cmd, seq:u16 */
#define TINY_PROTO_REPLY_HEADER 5u /* version, cmd|0x80, seq:u16, status */
#define TINY_PROTO_CRC_BYTES 4u
/* Largest decoded reply payload incl. CRC (requests are one byte smaller). */
#define TINY_PROTO_MAX_PAYLOAD (TINY_PROTO_REPLY_HEADER + TINY_PROTO_MAX_BODY + TINY_PROTO_CRC_BYTES)
/* Largest COBS-encoded frame without its 0x00 delimiter: one code byte per started 254 bytes. */
#define TINY_PROTO_MAX_WIRE (TINY_PROTO_MAX_PAYLOAD + TINY_PROTO_MAX_PAYLOAD / 254u + 1u)
#define TINY_PROTO_SEQ_UNTRUSTED 0xFFFFu

enum {
    TINY_CMD_INFO = 0x01,
    TINY_CMD_WRITE_INPUT = 0x02,
    TINY_CMD_INVOKE = 0x03,
    TINY_CMD_READ_OUTPUT = 0x04,
    TINY_CMD_READ_TENSOR = 0x05,
    TINY_CMD_PING = 0x06,
    TINY_CMD_QUIT = 0x07,
    TINY_CMD_LOAD_INPUT = 0x08, /* copy an input from the preloaded RAM region */
    TINY_CMD_WATCHDOG_TEST = 0x09, /* hang (now, or in the next request of a command) until the watchdog resets */
    TINY_CMD_RESET_STATE = 0x0A, /* variable (state) tensors back to their reset values */
    TINY_CMD_TRAIN_FIRST = 0x10, /* 0x10-0x2f: on-device training (tiny_proto_train) */
    TINY_CMD_TRAIN_LAST = 0x2f
};

enum {
    TINY_ST_OK = 0,
    TINY_ST_BAD_FRAME = 1,
    TINY_ST_BAD_CRC = 2,
    TINY_ST_BAD_VERSION = 3,
    TINY_ST_UNKNOWN_CMD = 4,
    TINY_ST_BAD_ARG = 5,
    TINY_ST_TOO_LARGE = 6,
    TINY_ST_MODEL_ERROR = 7,
    TINY_ST_RESET = 8 /* unsolicited notice after a watchdog reset (seq 0xFFFF, cmd byte 0x80) */
};

/* zlib-compatible CRC-32: crc = tiny_crc32(0, p, n); chainable: tiny_crc32(crc, more, m). */
uint32_t tiny_crc32(uint32_t crc, const uint8_t *p, uint32_t n);

#define TINY_COBS_ERROR 0xFFFFFFFFu
/* Decode n COBS bytes (no delimiter) into out (cap bytes). out may equal in (in-place).
 * Returns the decoded length or TINY_COBS_ERROR (bad code byte, truncated block, or overflow). */
uint32_t tiny_cobs_decode(const uint8_t *in, uint32_t n, uint8_t *out, uint32_t cap);
/* Encode n bytes into out (cap bytes, no delimiter). Returns the length or TINY_COBS_ERROR. */
uint32_t tiny_cobs_encode(const uint8_t *in, uint32_t n, uint8_t *out, uint32_t cap);

/* Handle one frame as received (COBS bytes between two 0x00, delimiter excluded; decoded in
 * place, so `frame` is clobbered) and send exactly one reply frame. */
void tiny_proto_handle_frame(uint8_t *frame, uint32_t n);
/* Read frames from tiny_port_getc and answer them, forever. QUIT calls tiny_port_exit(0). After a
 * watchdog reset it first sends the RESET notice. */
void tiny_proto_serve(void);

/* Training commands (0x10-0x2f) are passed here. Write at most `cap` reply bytes to `reply`,
 * set *reply_len and return a TINY_ST_* status. The default (a weak symbol) answers
 * UNKNOWN_CMD; the training runtime overrides it with a strong definition (link it as an
 * object, not from an archive, so the linker picks the strong one). */
uint8_t tiny_proto_train(uint8_t cmd, const uint8_t *body, uint32_t n, uint8_t *reply,
                         uint32_t cap, uint32_t *reply_len);
#endif
