/* QEMU TCG plugin: exact, repeatable guest instruction counts between layer markers.
 *
 *   -plugin file=insn_count.so,begin=0x<tiny_layer_begin>,end=0x<tiny_layer_end> -d plugin -D LOG
 *
 * Every translated block adds its instruction count to a counter when it executes (inline op,
 * cheap), and, per instruction class, the number of its instructions of that class to one counter
 * per class (classes from the mnemonic qemu_plugin_insn_disas gives at translation time: load,
 * store, mul (MUL/MLA/SMULL/SMLAL...), dsp (SMLAD, SXTB16, SADD16, QADD, SSAT, PKHBT...), div,
 * branch, other). After every marker line comes "K <c_load> <c_store> <c_mul> <c_dsp> <c_div>
 * <c_branch> <c_other>": the class counters at that hit. A callback on the first instruction of each marker function records (marker, counter)
 * in order; at exit the log gets one line per hit ("B <count>" / "E <count>") and
 * "total <count>". Plugin API v1 cannot read registers, so the op index is not recorded: the
 * host knows the call order (begin(0), end(0), begin(1), ...).
 *
 * No qemu-plugin.h is packaged on Debian, so the few API declarations used are written out here
 * (QEMU 7.2, QEMU_PLUGIN_VERSION 1). Build: gcc -shared -fPIC -O2 insn_count.c -o insn_count.so
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef uint64_t qemu_plugin_id_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;
typedef struct qemu_info_t qemu_info_t;
enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_CB_R_REGS, QEMU_PLUGIN_CB_RW_REGS };
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int vcpu_index, void *userdata);
typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void *userdata);

void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *insn);
char *qemu_plugin_insn_disas(const struct qemu_plugin_insn *insn);
void qemu_plugin_register_vcpu_tb_exec_inline(struct qemu_plugin_tb *tb, enum qemu_plugin_op op,
                                              void *ptr, uint64_t imm);
void qemu_plugin_register_vcpu_insn_exec_cb(struct qemu_plugin_insn *insn,
                                            qemu_plugin_vcpu_udata_cb_t cb,
                                            enum qemu_plugin_cb_flags flags, void *userdata);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb,
                                    void *userdata);
void qemu_plugin_outs(const char *string);

__attribute__((visibility("default"))) int qemu_plugin_version = 1;

static uint64_t insn_count; /* single vCPU (Cortex-M): no atomics needed */
static uint64_t begin_addr = UINT64_MAX, end_addr = UINT64_MAX;
static uint64_t *hits;      /* count << 1 | is_end */
static size_t n_hits, cap_hits;
enum { K_LOAD, K_STORE, K_MUL, K_DSP, K_DIV, K_BRANCH, K_OTHER, N_KINDS };
static uint64_t kind_count[N_KINDS];
static uint64_t *kind_hits; /* N_KINDS counters per hit */

static int starts(const char *s, const char *p) { return strncmp(s, p, strlen(p)) == 0; }

static int in_list(const char *m, const char *const *list) {
    for (; *list; ++list)
        if (strcmp(m, *list) == 0) return 1;
    return 0;
}

/* Class of an instruction from its disassembly ("ldrsb r3, [r2]", "smlad r1, r3, r6, r7"). */
static int classify(const char *dis) {
    char m[16];
    size_t n = 0;
    while (*dis == ' ' || *dis == '\t') dis++;
    while (dis[n] && dis[n] != ' ' && dis[n] != '\t' && n + 1 < sizeof m) {
        m[n] = (char)(dis[n] >= 'A' && dis[n] <= 'Z' ? dis[n] + 32 : dis[n]);
        n++;
    }
    m[n] = 0;
    char *dot = strchr(m, '.');  /* .w / .n width suffixes */
    if (dot) *dot = 0;
    static const char *const conds[] = {"eq", "ne", "cs", "hs", "cc", "lo", "mi", "pl", "vs", "vc",
                                        "hi", "ls", "ge", "lt", "gt", "le", "al", 0};
    static const char *const branches[] = {"b", "bl", "bx", "blx", "cbz", "cbnz", "tbb", "tbh", 0};
    static const char *const muls[] = {"mul", "muls", "mla", "mls", "smull", "umull", "smlal", "umlal",
                                       "umaal", "smmul", "smmulr", "smmla", "smmlar", "smmls", "smulbb",
                                       "smulbt", "smultb", "smultt", "smulwb", "smulwt", "smlabb", "smlabt",
                                       "smlatb", "smlatt", "smlawb", "smlawt", 0};
    if (strcmp(m, "sdiv") == 0 || strcmp(m, "udiv") == 0) return K_DIV;
    if (in_list(m, branches)) return K_BRANCH;
    if (m[0] == 'b' && strlen(m) == 3 && in_list(m + 1, conds)) return K_BRANCH;
    if (starts(m, "ldr") || starts(m, "ldm") || starts(m, "pop") || starts(m, "vldr") || starts(m, "vldm") ||
        starts(m, "vpop") || starts(m, "lda"))
        return K_LOAD;
    if (starts(m, "str") || starts(m, "stm") || starts(m, "push") || starts(m, "vstr") || starts(m, "vstm") ||
        starts(m, "vpush") || starts(m, "stl"))
        return K_STORE;
    if (in_list(m, muls)) return K_MUL;
    if (starts(m, "smla") || starts(m, "smls") || starts(m, "smua") || starts(m, "smus") || strstr(m, "16") ||
        strstr(m, "8") || starts(m, "qadd") || starts(m, "qsub") || starts(m, "qdadd") || starts(m, "qdsub") ||
        starts(m, "ssat") || starts(m, "usat") || starts(m, "pkh") || starts(m, "sel") || starts(m, "usad"))
        return K_DSP;
    return K_OTHER;
}

static void on_marker(unsigned int vcpu, void *is_end) {
    (void)vcpu;
    if (n_hits == cap_hits) {
        cap_hits = cap_hits ? cap_hits * 2 : 4096;
        hits = realloc(hits, cap_hits * sizeof *hits);
        kind_hits = realloc(kind_hits, cap_hits * N_KINDS * sizeof *kind_hits);
        if (!hits || !kind_hits) abort();
    }
    memcpy(kind_hits + n_hits * N_KINDS, kind_count, sizeof kind_count);
    hits[n_hits++] = (insn_count << 1) | (uintptr_t)is_end;
}

static void on_tb_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb) {
    (void)id;
    size_t n = qemu_plugin_tb_n_insns(tb);
    qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &insn_count, n);
    uint64_t per_kind[N_KINDS] = {0};
    for (size_t i = 0; i < n; i++) {
        char *dis = qemu_plugin_insn_disas(qemu_plugin_tb_get_insn(tb, i));
        per_kind[dis ? classify(dis) : K_OTHER]++;
        free(dis);
    }
    for (int k = 0; k < N_KINDS; k++)
        if (per_kind[k])
            qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &kind_count[k], per_kind[k]);
    for (size_t i = 0; i < n; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        uint64_t pc = qemu_plugin_insn_vaddr(insn) & ~(uint64_t)1;
        if (pc == begin_addr || pc == end_addr)
            qemu_plugin_register_vcpu_insn_exec_cb(insn, on_marker, QEMU_PLUGIN_CB_NO_REGS,
                                                   (void *)(uintptr_t)(pc == end_addr));
    }
}

static void on_plugin_exit(qemu_plugin_id_t id, void *p) {
    (void)id;
    (void)p;
    char line[256];
    qemu_plugin_outs("tiny-insn-count 2\n");
    for (size_t i = 0; i < n_hits; i++) {
        snprintf(line, sizeof line, "%c %" PRIu64 "\n", (hits[i] & 1) ? 'E' : 'B', hits[i] >> 1);
        qemu_plugin_outs(line);
        const uint64_t *k = kind_hits + i * N_KINDS;
        snprintf(line, sizeof line, "K %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64
                 " %" PRIu64 "\n", k[0], k[1], k[2], k[3], k[4], k[5], k[6]);
        qemu_plugin_outs(line);
    }
    snprintf(line, sizeof line, "total %" PRIu64 "\n", insn_count);
    qemu_plugin_outs(line);
    free(hits);
    free(kind_hits);
}

__attribute__((visibility("default"))) int qemu_plugin_install(qemu_plugin_id_t id,
                                                               const qemu_info_t *info,
                                                               int argc, char **argv) {
    (void)info;
    for (int i = 0; i < argc; i++) {
        if (strncmp(argv[i], "begin=", 6) == 0) begin_addr = strtoull(argv[i] + 6, NULL, 0) & ~1ull;
        else if (strncmp(argv[i], "end=", 4) == 0) end_addr = strtoull(argv[i] + 4, NULL, 0) & ~1ull;
        else {
            fprintf(stderr, "insn_count: unknown argument %s\n", argv[i]);
            return -1;
        }
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_tb_trans);
    qemu_plugin_register_atexit_cb(id, on_plugin_exit, NULL);
    return 0;
}
