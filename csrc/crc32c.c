/* CRC-32C: runtime dispatch between the SSE4.2 instruction (three interleaved chains) and a slice-by-8 table (see
 * crc32c.h). */
#include "crc32c.h"

#include <string.h>

#define CRC32C_POLY 0x82F63B78u

static uint32_t table[8][256];
static int table_ready;

static void build_table(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ CRC32C_POLY : c >> 1;
        table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++) table[t][i] = (table[t - 1][i] >> 8) ^ table[0][table[t - 1][i] & 0xff];
    __atomic_store_n(&table_ready, 1, __ATOMIC_RELEASE);
}

uint32_t crc32c_extend_sw(uint32_t crc, const void *data, size_t len) {
    /* Built on first use; two threads racing here write identical values, and the flag is published with release
     * semantics after the table is complete. */
    if (!__atomic_load_n(&table_ready, __ATOMIC_ACQUIRE)) build_table();
    const uint8_t *p = data;
    crc = ~crc;
    while (len >= 8) {
        uint32_t lo, hi;
        memcpy(&lo, p, 4);
        memcpy(&hi, p + 4, 4);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        lo = __builtin_bswap32(lo);
        hi = __builtin_bswap32(hi);
#endif
        lo ^= crc;
        crc = table[7][lo & 0xff] ^ table[6][(lo >> 8) & 0xff] ^ table[5][(lo >> 16) & 0xff] ^ table[4][lo >> 24] ^
              table[3][hi & 0xff] ^ table[2][(hi >> 8) & 0xff] ^ table[1][(hi >> 16) & 0xff] ^ table[0][hi >> 24];
        p += 8;
        len -= 8;
    }
    while (len--) crc = table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return ~crc;
}

/* Three independent CRCs over `len` bytes each, in the portable code: what crc32c_extend3() falls back to. */
static void crc32c_extend3_sw(uint32_t crc[3], const uint8_t *const p[3], size_t len) {
    for (int k = 0; k < 3; k++) crc[k] = crc32c_extend_sw(crc[k], p[k], len);
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define CRC32C_HAVE_HW 1

/* The crc32 instruction has a latency of 3 cycles and a throughput of 1 per cycle, so one dependency chain uses a
 * third of the unit. Long buffers are therefore cut into three lanes whose raw CRC registers are computed at once and
 * joined afterwards: for lanes A and B of LANE bytes, reg(s, A||B) = shift(reg(s, A)) ^ reg(0, B), where shift (the
 * register after LANE zero bytes) is linear over GF(2) and applied as four byte-indexed tables built on first use. */
#define CRC32C_LANE 4096

static uint32_t lane_shift[4][256];
static int lane_shift_ready;

__attribute__((target("sse4.2"))) static uint64_t hw_run(uint64_t c, const uint8_t *p, size_t len) {
    while (len >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        c = __builtin_ia32_crc32di(c, v);
        p += 8;
        len -= 8;
    }
    if (len >= 4) {
        uint32_t v;
        memcpy(&v, p, 4);
        c = __builtin_ia32_crc32si((uint32_t)c, v);
        p += 4;
        len -= 4;
    }
    while (len--) c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
    return c;
}

__attribute__((target("sse4.2"))) static void build_lane_shift(void) {
    /* The operator's image of each of the 32 register bits (CRC_LANE zero bytes from that bit alone), then every
     * byte value of every byte position as the XOR of its bits' images. Racing builders write identical values. */
    static const uint8_t zeros[CRC32C_LANE];
    uint32_t basis[32];
    for (int b = 0; b < 32; b++) basis[b] = (uint32_t)hw_run(1u << b, zeros, CRC32C_LANE);
    for (int j = 0; j < 4; j++)
        for (uint32_t v = 0; v < 256; v++) {
            uint32_t x = 0;
            for (int b = 0; b < 8; b++)
                if (v >> b & 1) x ^= basis[8 * j + b];
            lane_shift[j][v] = x;
        }
    __atomic_store_n(&lane_shift_ready, 1, __ATOMIC_RELEASE);
}

static inline uint32_t shift_lane(uint32_t x) {
    return lane_shift[0][x & 0xff] ^ lane_shift[1][(x >> 8) & 0xff] ^ lane_shift[2][(x >> 16) & 0xff] ^
           lane_shift[3][x >> 24];
}

__attribute__((target("sse4.2"))) static uint32_t crc32c_extend_hw(uint32_t crc, const void *data, size_t len) {
    const uint8_t *p = data;
    uint64_t c = ~crc;
    if (len >= 3 * CRC32C_LANE) {
        if (!__atomic_load_n(&lane_shift_ready, __ATOMIC_ACQUIRE)) build_lane_shift();
        do {
            uint64_t c1 = 0, c2 = 0;
            for (size_t i = 0; i < CRC32C_LANE; i += 8) {
                uint64_t v0, v1, v2;
                memcpy(&v0, p + i, 8);
                memcpy(&v1, p + CRC32C_LANE + i, 8);
                memcpy(&v2, p + 2 * CRC32C_LANE + i, 8);
                c = __builtin_ia32_crc32di(c, v0);
                c1 = __builtin_ia32_crc32di(c1, v1);
                c2 = __builtin_ia32_crc32di(c2, v2);
            }
            c = shift_lane(shift_lane((uint32_t)c) ^ (uint32_t)c1) ^ (uint32_t)c2;
            p += 3 * CRC32C_LANE;
            len -= 3 * CRC32C_LANE;
        } while (len >= 3 * CRC32C_LANE);
    }
    return ~(uint32_t)hw_run(c, p, len);
}

__attribute__((target("sse4.2"))) static void crc32c_extend3_hw(uint32_t crc[3], const uint8_t *const p[3],
                                                                size_t len) {
    /* Three unrelated buffers (e.g. three entry frames): their chains interleave with no joining step. */
    uint64_t c0 = ~crc[0], c1 = ~crc[1], c2 = ~crc[2];
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t v0, v1, v2;
        memcpy(&v0, p[0] + i, 8);
        memcpy(&v1, p[1] + i, 8);
        memcpy(&v2, p[2] + i, 8);
        c0 = __builtin_ia32_crc32di(c0, v0);
        c1 = __builtin_ia32_crc32di(c1, v1);
        c2 = __builtin_ia32_crc32di(c2, v2);
    }
    crc[0] = ~(uint32_t)hw_run(c0, p[0] + i, len - i);
    crc[1] = ~(uint32_t)hw_run(c1, p[1] + i, len - i);
    crc[2] = ~(uint32_t)hw_run(c2, p[2] + i, len - i);
}
#endif

typedef uint32_t (*crc_fn)(uint32_t, const void *, size_t);
static crc_fn chosen;

static crc_fn choose(void) {
#ifdef CRC32C_HAVE_HW
    __builtin_cpu_init();
    if (__builtin_cpu_supports("sse4.2")) return crc32c_extend_hw;
#endif
    return crc32c_extend_sw;
}

static crc_fn get_chosen(void) {
    /* Every thread computes the same choice; the pointer is published atomically. */
    crc_fn f = __atomic_load_n(&chosen, __ATOMIC_ACQUIRE);
    if (!f) {
        f = choose();
        __atomic_store_n(&chosen, f, __ATOMIC_RELEASE);
    }
    return f;
}

uint32_t crc32c_extend(uint32_t crc, const void *data, size_t len) { return get_chosen()(crc, data, len); }

void crc32c_extend3(uint32_t crc[3], const void *const data[3], size_t len) {
    const uint8_t *const p[3] = {data[0], data[1], data[2]};
#ifdef CRC32C_HAVE_HW
    if (get_chosen() == crc32c_extend_hw) {
        crc32c_extend3_hw(crc, p, len);
        return;
    }
#endif
    crc32c_extend3_sw(crc, p, len);
}

int crc32c_hw_available(void) {
#ifdef CRC32C_HAVE_HW
    return get_chosen() == crc32c_extend_hw;
#else
    return 0;
#endif
}
