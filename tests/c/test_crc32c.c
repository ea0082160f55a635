/* CRC-32C: known vectors, the dispatched implementation against the table one, and incremental extension. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crc32c.h"

static int failures;
#define CHECK(cond)                                                           \
    do {                                                                      \
        if (!(cond)) {                                                        \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                                       \
        }                                                                     \
    } while (0)

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
    printf("crc32c: hardware %s, %d failures\n", crc32c_hw_available() ? "yes" : "no", failures);
    return failures ? 1 : 0;
}
