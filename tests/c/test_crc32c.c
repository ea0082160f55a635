/* CRC-32C: known vectors, the dispatched implementation against the table one, incremental extension, the three-lane
 * path of long buffers (12 KiB and more: every lane boundary and remainder) and the three-buffer crc32c_extend3(). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "crc32c.h"


int main(void) {
    CHECK(crc32c_extend(0, "123456789", 9) == 0xE3069283u);
    CHECK(crc32c_extend_sw(0, "123456789", 9) == 0xE3069283u);
    CHECK(crc32c_extend(0, "", 0) == 0);
    uint8_t zeros[32] = {0};
    CHECK(crc32c_extend(0, zeros, 32) == 0x8A9136AAu); /* RFC 3720 B.4: 32 bytes of zeros */
    uint8_t ones[32];
    memset(ones, 0xff, sizeof ones);
    CHECK(crc32c_extend(0, ones, 32) == 0x62A8AB43u); /* RFC 3720 B.4: 32 bytes of 0xff */
    uint8_t buf[4099];
    srand(7);
    for (size_t i = 0; i < sizeof buf; i++) buf[i] = (uint8_t)rand();
    for (size_t off = 0; off < 9; off++) {
        for (size_t len = 0; len < 300; len += 7) {
            uint32_t a = crc32c_extend(0, buf + off, len), b = crc32c_extend_sw(0, buf + off, len);
            CHECK(a == b);
            for (size_t cut = 0; cut <= len; cut += 13) {
                uint32_t c = crc32c_extend(crc32c_extend(0, buf + off, cut), buf + off + cut, len - cut);
                CHECK(c == a);
            }
        }
    }
    CHECK(crc32c_extend(0, buf, sizeof buf) == crc32c_extend_sw(0, buf, sizeof buf));

    /* Long buffers: one and several rounds of three 4 KiB lanes, each with remainders of every size class, from a
     * non-zero starting CRC and at unaligned offsets. */
    size_t big_len = 3 * 3 * 4096 + 64;
    uint8_t *big = malloc(big_len + 8);
    CHECK(big != NULL);
    if (big) {
        for (size_t i = 0; i < big_len + 8; i++) big[i] = (uint8_t)rand();
        size_t lens[] = {3 * 4096 - 1, 3 * 4096, 3 * 4096 + 1, 3 * 4096 + 7, 3 * 4096 + 12, 6 * 4096, 6 * 4096 + 33,
                         big_len};
        for (size_t k = 0; k < sizeof lens / sizeof lens[0]; k++)
            for (size_t off = 0; off < 8; off += 3) {
                uint32_t a = crc32c_extend(0x12345678u, big + off, lens[k]);
                CHECK(a == crc32c_extend_sw(0x12345678u, big + off, lens[k]));
                size_t cut = lens[k] / 3 + 5;
                CHECK(crc32c_extend(crc32c_extend(0x12345678u, big + off, cut), big + off + cut, lens[k] - cut) == a);
            }
        free(big);
    }

    /* crc32c_extend3: three independent CRCs of equal lengths, every length class up to a few words. */
    for (size_t len = 0; len < 100; len++) {
        const void *p[3] = {buf + 1, buf + 500, buf + 1003};
        uint32_t c[3] = {0, 0xdeadbeefu, 7};
        uint32_t want[3];
        for (int k = 0; k < 3; k++) want[k] = crc32c_extend_sw(c[k], p[k], len);
        crc32c_extend3(c, p, len);
        for (int k = 0; k < 3; k++) CHECK(c[k] == want[k]);
    }
    printf("crc32c: hardware %s, %d failures\n", crc32c_hw_available() ? "yes" : "no", failures);
    return failures ? 1 : 0;
}
