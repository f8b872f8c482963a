/* The request loop: read a frame, check it, dispatch it over tiny_model, answer exactly once.
 * Every offset and length from the wire is checked before it touches memory. */
#include "tiny/protocol.h"
#include "tiny/model.h"
#include "tiny/port.h"

/* Received frame, COBS-decoded in place. */
static uint8_t s_rx[TINY_PROTO_MAX_WIRE];
/* Reply payload: header, body, CRC. */
static uint8_t s_tx[TINY_PROTO_MAX_PAYLOAD];
#define REPLY_BODY (s_tx + TINY_PROTO_REPLY_HEADER)

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static uint32_t rd32(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static void wr32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}

/* COBS-encode straight from s_tx to the port: no second buffer. */
static void send_cobs(const uint8_t *p, uint32_t n) {
    uint32_t i = 0;
    for (;;) {
        uint32_t run = 0;
        uint8_t code;
        while (run < 254u && i + run < n && p[i + run] != 0) run++;
        code = (uint8_t)(run + 1u);
        tiny_port_write(&code, 1);
        if (run) tiny_port_write(p + i, run);
        i += run;
        if (i >= n) break;
        if (run < 254u) i++;
    }
    {
        const uint8_t delim = 0;
        tiny_port_write(&delim, 1);
    }
}

static void send_reply(uint8_t cmd, uint16_t seq, uint8_t status, uint32_t body_len) {
    uint32_t n = TINY_PROTO_REPLY_HEADER + body_len;
    s_tx[0] = (uint8_t)TINY_PROTO_VERSION;
    s_tx[1] = (uint8_t)(cmd | 0x80u);
    s_tx[2] = (uint8_t)seq;
    s_tx[3] = (uint8_t)(seq >> 8);
    s_tx[4] = status;
    wr32(s_tx + n, tiny_crc32(0, s_tx, n));
    send_cobs(s_tx, n + TINY_PROTO_CRC_BYTES);
}

/* Bounded text building for INFO and error messages. */
typedef struct { uint8_t *p; uint32_t n, cap; } text;

static void t_str(text *t, const char *s) {
    while (s && *s && t->n < t->cap) t->p[t->n++] = (uint8_t)*s++;
}
static void t_u32(text *t, uint32_t v) {
    char d[11];
    int k = 10;
    d[k] = 0;
    do { d[--k] = (char)('0' + v % 10u); v /= 10u; } while (v);
    t_str(t, d + k);
}
static void t_kv(text *t, const char *key, uint32_t idx, int has_idx, const char *suffix,
                 uint32_t v) {
    t_str(t, key);
    if (has_idx) t_u32(t, idx);
    t_str(t, suffix);
    t_str(t, "=");
    t_u32(t, v);
    t_str(t, "\n");
}

/* Put an ASCII error message in the reply body. */
static void fail(const char *msg, uint32_t *len) {
    text t = {REPLY_BODY, 0, TINY_PROTO_MAX_BODY};
    t_str(&t, msg);
    *len = t.n;
}
#define ERR(st, msg) do { fail((msg), len); return (st); } while (0)

/* A model tensor is usable when it lies inside the arena. */
static int ref_ok(const tiny_tensor_ref *r) {
    return tiny_model.arena && r->offset <= tiny_model.arena_bytes &&
           r->bytes <= tiny_model.arena_bytes - r->offset;
}
/* [off, off+n) inside [0, size) without overflow. */
static int range_ok(uint32_t off, uint32_t n, uint32_t size) { return off <= size && n <= size - off; }

static uint8_t do_info(uint32_t *len) {
    const tiny_model_t *m = &tiny_model;
    text t = {REPLY_BODY, 0, TINY_PROTO_MAX_BODY};
    t_kv(&t, "proto", 0, 0, "", TINY_PROTO_VERSION);
    t_str(&t, "board="); t_str(&t, tiny_port_board); t_str(&t, "\n");
    t_str(&t, "model="); t_str(&t, m->name); t_str(&t, "\n");
    t_str(&t, "hash="); t_str(&t, m->hash); t_str(&t, "\n");
    t_kv(&t, "arena_bytes", 0, 0, "", m->arena_bytes);
    t_kv(&t, "n_inputs", 0, 0, "", m->n_inputs);
    t_kv(&t, "n_outputs", 0, 0, "", m->n_outputs);
    t_kv(&t, "n_tensors", 0, 0, "", m->n_tensors);
    t_kv(&t, "n_ops", 0, 0, "", m->n_ops);
    for (uint32_t i = 0; i < m->n_inputs; i++) t_kv(&t, "input", i, 1, "_bytes", m->inputs[i].bytes);
    for (uint32_t i = 0; i < m->n_outputs; i++) t_kv(&t, "output", i, 1, "_bytes", m->outputs[i].bytes);
    t_kv(&t, "stack_used", 0, 0, "", tiny_port_stack_used());
    t_kv(&t, "clock_hz", 0, 0, "", tiny_port_clock_hz());
    t_kv(&t, "max_body", 0, 0, "", TINY_PROTO_MAX_BODY);
    t_str(&t, "reset_cause="); t_str(&t, tiny_port_reset_cause()); t_str(&t, "\n");
    t_kv(&t, "watchdog_ms", 0, 0, "", tiny_port_watchdog_ms());
    t_kv(&t, "watchdog_resets", 0, 0, "", tiny_port_watchdog_resets());
    *len = t.n;
    if (t.n == t.cap) ERR(TINY_ST_MODEL_ERROR, "INFO does not fit max_body");
    return TINY_ST_OK;
}

static uint8_t do_write_input(const uint8_t *b, uint32_t n, uint32_t *len) {
    if (n < 5) ERR(TINY_ST_BAD_ARG, "WRITE_INPUT needs index:u8 offset:u32 data");
    uint32_t idx = b[0], off = rd32(b + 1), cnt = n - 5;
    if (idx >= tiny_model.n_inputs) ERR(TINY_ST_BAD_ARG, "input index out of range");
    const tiny_tensor_ref *r = &tiny_model.inputs[idx];
    if (!ref_ok(r)) ERR(TINY_ST_MODEL_ERROR, "input lies outside the arena");
    if (!range_ok(off, cnt, r->bytes)) ERR(TINY_ST_BAD_ARG, "offset+len past the end of the input");
    uint8_t *dst = tiny_model.arena + r->offset + off;
    for (uint32_t k = 0; k < cnt; k++) dst[k] = b[5 + k];
    return TINY_ST_OK;
}

static uint8_t do_load_input(const uint8_t *b, uint32_t n, uint32_t *len) {
    if (n != 9) ERR(TINY_ST_BAD_ARG, "LOAD_INPUT needs index:u8 src:u32 len:u32");
    uint32_t idx = b[0], src = rd32(b + 1), cnt = rd32(b + 5), have = 0;
    const uint8_t *pre = tiny_port_preload(&have);
    if (!pre) ERR(TINY_ST_BAD_ARG, "this board has no preloaded region");
    if (idx >= tiny_model.n_inputs) ERR(TINY_ST_BAD_ARG, "input index out of range");
    const tiny_tensor_ref *r = &tiny_model.inputs[idx];
    if (!ref_ok(r)) ERR(TINY_ST_MODEL_ERROR, "input lies outside the arena");
    if (cnt != r->bytes) ERR(TINY_ST_BAD_ARG, "len must equal the input's size");
    if (!range_ok(src, cnt, have)) ERR(TINY_ST_BAD_ARG, "src+len past the end of the preloaded region");
    uint8_t *dst = tiny_model.arena + r->offset;
    for (uint32_t k = 0; k < cnt; k++) dst[k] = pre[src + k];
    return TINY_ST_OK;
}

static uint8_t do_invoke(const uint8_t *b, uint32_t n, uint32_t *len) {
    if (n != 4) ERR(TINY_ST_BAD_ARG, "INVOKE needs stop_after:i32");
    int32_t stop = (int32_t)rd32(b);
    if (stop >= 0 && (uint32_t)stop >= tiny_model.n_ops) ERR(TINY_ST_BAD_ARG, "stop_after >= n_ops");
    if (!tiny_model.invoke) ERR(TINY_ST_MODEL_ERROR, "model has no invoke");
    uint32_t t0 = tiny_port_cycles();
    int rc = tiny_model.invoke(stop < 0 ? -1 : stop);
    uint32_t cycles = tiny_port_cycles() - t0; /* modular: survives one counter wrap */
    if (rc != 0) ERR(TINY_ST_MODEL_ERROR, "model invoke failed");
    wr32(REPLY_BODY, cycles);
    *len = 4;
    return TINY_ST_OK;
}

/* READ_OUTPUT and READ_TENSOR share everything after the tensor lookup. */
/* A stateful model (SVDF's activation state) starts the next INVOKE from its reset state; a
 * model without state has nothing to reset and answers OK too. */
static uint8_t do_reset_state(uint32_t n, uint32_t *len) {
    if (n != 0) ERR(TINY_ST_BAD_ARG, "RESET_STATE takes no body");
    if (tiny_model.reset && tiny_model.reset() != 0) ERR(TINY_ST_MODEL_ERROR, "model reset failed");
    *len = 0;
    return TINY_ST_OK;
}

static uint8_t read_ref(const tiny_tensor_ref *r, uint32_t off, uint32_t cnt, uint32_t *len) {
    if (cnt > TINY_PROTO_MAX_BODY) ERR(TINY_ST_BAD_ARG, "len > max_body");
    if (!ref_ok(r)) ERR(TINY_ST_MODEL_ERROR, "tensor lies outside the arena");
    if (!range_ok(off, cnt, r->bytes)) ERR(TINY_ST_BAD_ARG, "offset+len past the end of the tensor");
    const uint8_t *src = tiny_model.arena + r->offset + off;
    for (uint32_t k = 0; k < cnt; k++) REPLY_BODY[k] = src[k];
    *len = cnt;
    return TINY_ST_OK;
}

static uint8_t do_read_output(const uint8_t *b, uint32_t n, uint32_t *len) {
    if (n != 7) ERR(TINY_ST_BAD_ARG, "READ_OUTPUT needs index:u8 offset:u32 len:u16");
    if (b[0] >= tiny_model.n_outputs) ERR(TINY_ST_BAD_ARG, "output index out of range");
    return read_ref(&tiny_model.outputs[b[0]], rd32(b + 1), rd16(b + 5), len);
}

static uint8_t do_read_tensor(const uint8_t *b, uint32_t n, uint32_t *len) {
    if (n != 8) ERR(TINY_ST_BAD_ARG, "READ_TENSOR needs id:u16 offset:u32 len:u16");
    uint32_t id = rd16(b);
    if (id >= tiny_model.n_tensors || !tiny_model.tensors) ERR(TINY_ST_BAD_ARG, "tensor id out of range");
    if (tiny_model.tensors[id].bytes == 0) ERR(TINY_ST_BAD_ARG, "tensor is not in the arena");
    return read_ref(&tiny_model.tensors[id], rd32(b + 2), rd16(b + 6), len);
}

/* WATCHDOG_TEST: a board that stops answering, on purpose. The command armed (0 = none): the next
 * request of it hangs before it is served. */
static uint8_t s_hang_cmd;

static void hang(void) {
    volatile uint32_t spin = 0;
    for (;;) spin++; /* no feed: the watchdog resets the board */
}

static uint8_t do_watchdog_test(const uint8_t *b, uint32_t n, uint32_t *len) {
    if (n != 1) ERR(TINY_ST_BAD_ARG, "WATCHDOG_TEST needs cmd:u8 (0 = hang now)");
    if (tiny_port_watchdog_ms() == 0) ERR(TINY_ST_BAD_ARG, "this board has no watchdog: it would hang for good");
    if (b[0] == 0) hang();
    if ((b[0] & 0x80u) || b[0] == TINY_CMD_WATCHDOG_TEST) ERR(TINY_ST_BAD_ARG, "cannot arm that command");
    s_hang_cmd = b[0];
    return TINY_ST_OK;
}

__attribute__((weak)) uint8_t tiny_proto_train(uint8_t cmd, const uint8_t *body, uint32_t n,
                                               uint8_t *reply, uint32_t cap, uint32_t *reply_len) {
    (void)cmd; (void)body; (void)n;
    text t = {reply, 0, cap};
    t_str(&t, "no on-device training in this firmware");
    *reply_len = t.n;
    return TINY_ST_UNKNOWN_CMD;
}

static void reply_untrusted(uint8_t status, const char *msg) {
    uint32_t n;
    fail(msg, &n);
    send_reply(0, TINY_PROTO_SEQ_UNTRUSTED, status, n);
}

void tiny_proto_handle_frame(uint8_t *frame, uint32_t n) {
    uint32_t m = tiny_cobs_decode(frame, n, frame, n);
    if (m == TINY_COBS_ERROR) { reply_untrusted(TINY_ST_BAD_FRAME, "bad COBS"); return; }
    if (m < TINY_PROTO_REQ_HEADER + TINY_PROTO_CRC_BYTES) {
        reply_untrusted(TINY_ST_BAD_FRAME, "frame too short");
        return;
    }
    m -= TINY_PROTO_CRC_BYTES;
    if (tiny_crc32(0, frame, m) != rd32(frame + m)) { reply_untrusted(TINY_ST_BAD_CRC, "bad CRC"); return; }
    if (m - TINY_PROTO_REQ_HEADER > TINY_PROTO_MAX_BODY) {
        reply_untrusted(TINY_ST_TOO_LARGE, "body exceeds max_body");
        return;
    }
    uint8_t cmd = frame[1] & 0x7Fu;
    uint16_t seq = rd16(frame + 2);
    const uint8_t *body = frame + TINY_PROTO_REQ_HEADER;
    uint32_t bn = m - TINY_PROTO_REQ_HEADER, rlen = 0, *len = &rlen;
    uint8_t st;
    if (frame[0] != TINY_PROTO_VERSION) {
        fail("unsupported protocol version (this firmware speaks 1)", len);
        st = TINY_ST_BAD_VERSION;
    } else if (frame[1] & 0x80u) {
        fail("request has the reply bit set", len);
        st = TINY_ST_UNKNOWN_CMD;
    } else {
        if (s_hang_cmd && cmd == s_hang_cmd) hang();
        switch (cmd) {
        case TINY_CMD_INFO: st = do_info(len); break;
        case TINY_CMD_WATCHDOG_TEST: st = do_watchdog_test(body, bn, len); break;
        case TINY_CMD_WRITE_INPUT: st = do_write_input(body, bn, len); break;
        case TINY_CMD_INVOKE: st = do_invoke(body, bn, len); break;
        case TINY_CMD_RESET_STATE: st = do_reset_state(bn, len); break;
        case TINY_CMD_LOAD_INPUT: st = do_load_input(body, bn, len); break;
        case TINY_CMD_READ_OUTPUT: st = do_read_output(body, bn, len); break;
        case TINY_CMD_READ_TENSOR: st = do_read_tensor(body, bn, len); break;
        case TINY_CMD_PING:
            for (uint32_t k = 0; k < bn; k++) REPLY_BODY[k] = body[k];
            rlen = bn;
            st = TINY_ST_OK;
            break;
        case TINY_CMD_QUIT:
            send_reply(cmd, seq, TINY_ST_OK, 0);
            tiny_port_exit(0);
            return;
        default:
            if (cmd >= TINY_CMD_TRAIN_FIRST && cmd <= TINY_CMD_TRAIN_LAST) {
                st = tiny_proto_train(cmd, body, bn, REPLY_BODY, TINY_PROTO_MAX_BODY, len);
                if (rlen > TINY_PROTO_MAX_BODY) rlen = TINY_PROTO_MAX_BODY;
            } else {
                fail("unknown command", len);
                st = TINY_ST_UNKNOWN_CMD;
            }
        }
    }
    send_reply(frame[1], seq, st, rlen);
}

/* After a watchdog reset, before anything else: 0x00 (ends whatever the reset cut off or the UART
 * glitched), then a RESET frame (seq 0xFFFF, cmd byte 0x80) with the reset's INFO lines. A host
 * still waiting for the reply to the request that hung learns at once what happened. */
static void reset_notice(void) {
    const char *cause = tiny_port_reset_cause();
    if (!(cause[0] == 'w' && cause[1] == 'a')) return; /* "watchdog" */
    text t = {REPLY_BODY, 0, TINY_PROTO_MAX_BODY};
    t_str(&t, "reset_cause="); t_str(&t, cause); t_str(&t, "\n");
    t_kv(&t, "watchdog_ms", 0, 0, "", tiny_port_watchdog_ms());
    t_kv(&t, "watchdog_resets", 0, 0, "", tiny_port_watchdog_resets());
    const uint8_t delim = 0;
    tiny_port_write(&delim, 1);
    send_reply(0, TINY_PROTO_SEQ_UNTRUSTED, TINY_ST_RESET, t.n);
}

void tiny_proto_serve(void) {
    reset_notice();
    for (;;) {
        uint32_t n = 0;
        int overflow = 0, c;
        /* Collect one frame up to its 0x00. Empty frames (0x00 0x00) are ignored, which lets the
         * host send a leading 0x00 to flush any garbage before a request. */
        for (;;) {
            c = tiny_port_getc((n || overflow) ? TINY_PROTO_BYTE_TIMEOUT_MS : -1);
            if (c < 0) {
                n = 0; /* idle: nothing pending, or a stalled partial frame to drop */
                overflow = 0;
                continue;
            }
            if (c == 0) break;
            if (n < sizeof s_rx) s_rx[n++] = (uint8_t)c;
            else overflow = 1; /* keep draining to the delimiter */
        }
        if (overflow) reply_untrusted(TINY_ST_TOO_LARGE, "frame exceeds max_body");
        else if (n) tiny_proto_handle_frame(s_rx, n);
    }
}
